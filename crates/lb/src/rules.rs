//! Listener rules compiled for the request path: patterns parsed, rules
//! sorted by priority, target groups resolved to their runtimes, so that
//! routing a request allocates nothing unless a query-string condition has
//! to decode a value.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use percent_encoding::percent_decode_str;

use crate::config::{Action, Cidr, Condition, ListenerConfig, RedirectConfig, RedirectStatus};
use crate::error::ListenerError;
use crate::pattern::{Case, Pattern};
use crate::response::{self, FixedResponse, LbBody};
use crate::target::TgRuntime;

pub(crate) struct CompiledListener {
    pub(crate) rules: Box<[CompiledRule]>,
    pub(crate) default: CompiledAction,
    pub(crate) idle_timeout: Duration,
    /// HTTPS listeners' TLS; swapped with the rules, so certificate
    /// changes apply to the next connection.
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
}

pub(crate) struct CompiledRule {
    conditions: Box<[Cond]>,
    action: CompiledAction,
}

enum Cond {
    Host(Box<[Pattern]>),
    Path(Box<[Pattern]>),
    Header {
        name: HeaderName,
        values: Box<[Pattern]>,
    },
    Method(Box<[Method]>),
    Query(Box<[(Option<Pattern>, Pattern)]>),
    SourceIp(Box<[Cidr]>),
}

pub(crate) enum CompiledAction {
    Forward(Forward),
    Redirect(Redirect),
    Fixed(FixedResponse),
}

pub(crate) struct Forward {
    pub(crate) groups: Box<[(Arc<TgRuntime>, u32)]>,
    total_weight: u64,
    /// Target group stickiness duration (`AWSALBTG`).
    pub(crate) stickiness: Option<Duration>,
}

impl Forward {
    /// A weighted random group, or the one a group-stickiness cookie names
    /// when it is still part of this action.
    pub(crate) fn choose(&self, random: u64, sticky_group: Option<u64>) -> Option<&Arc<TgRuntime>> {
        if let (Some(_), Some(token)) = (self.stickiness, sticky_group)
            && let Some((tg, _)) = self
                .groups
                .iter()
                .find(|(tg, w)| *w > 0 && tg.sticky_token == token)
        {
            return Some(tg);
        }
        if self.groups.len() == 1 {
            return self.groups.first().map(|(tg, _)| tg);
        }
        if self.total_weight == 0 {
            return None;
        }
        let mut point = random % self.total_weight;
        for (tg, weight) in self.groups.iter() {
            let w = u64::from(*weight);
            if point < w {
                return Some(tg);
            }
            point -= w;
        }
        None
    }
}

/// What a request looks like to the rules.
pub(crate) struct RequestView<'a> {
    pub(crate) method: &'a Method,
    /// Without the port.
    pub(crate) host: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) source: IpAddr,
}

impl CompiledListener {
    pub(crate) fn route(&self, req: &RequestView<'_>) -> &CompiledAction {
        self.rules
            .iter()
            .find(|rule| rule.conditions.iter().all(|c| c.matches(req)))
            .map_or(&self.default, |rule| &rule.action)
    }

    /// The forward action of an NLB listener.
    pub(crate) fn forward(&self) -> Option<&Forward> {
        match &self.default {
            CompiledAction::Forward(f) => Some(f),
            _ => None,
        }
    }
}

impl Cond {
    fn matches(&self, req: &RequestView<'_>) -> bool {
        match self {
            Self::Host(patterns) => patterns.iter().any(|p| p.matches(req.host.as_bytes())),
            Self::Path(patterns) => patterns.iter().any(|p| p.matches(req.path.as_bytes())),
            Self::Header { name, values } => req
                .headers
                .get_all(name)
                .iter()
                .any(|v| values.iter().any(|p| p.matches(v.as_bytes()))),
            Self::Method(methods) => methods.iter().any(|m| m == req.method),
            Self::Query(pairs) => {
                let Some(query) = req.query else {
                    return false;
                };
                query.split('&').filter(|s| !s.is_empty()).any(|param| {
                    let (key, value) = param.split_once('=').unwrap_or((param, ""));
                    let key = decode(key);
                    let value = decode(value);
                    pairs.iter().any(|(k, v)| {
                        k.as_ref().is_none_or(|k| k.matches(key.as_bytes()))
                            && v.matches(value.as_bytes())
                    })
                })
            }
            Self::SourceIp(cidrs) => cidrs.iter().any(|c| c.contains(req.source)),
        }
    }
}

fn decode(s: &str) -> Cow<'_, str> {
    if s.contains('%') {
        percent_decode_str(s).decode_utf8_lossy()
    } else {
        Cow::Borrowed(s)
    }
}

pub(crate) fn compile(
    listener: &ListenerConfig,
    groups: &BTreeMap<String, Arc<TgRuntime>>,
) -> Result<CompiledListener, ListenerError> {
    let mut rules: Vec<_> = listener.rules.iter().collect();
    rules.sort_by_key(|r| r.priority);
    let rules = rules
        .into_iter()
        .map(|rule| {
            Ok(CompiledRule {
                conditions: rule.conditions.iter().map(compile_condition).collect(),
                action: compile_actions(&listener.arn, &rule.actions, groups)?,
            })
        })
        .collect::<Result<Box<[_]>, ListenerError>>()?;
    let tls = match listener.protocol {
        crate::config::Protocol::Https => Some(
            crate::tls::server_config(&listener.certificates).map_err(|message| {
                ListenerError::Tls {
                    listener: listener.arn.clone(),
                    message,
                }
            })?,
        ),
        _ => None,
    };
    Ok(CompiledListener {
        rules,
        default: compile_actions(&listener.arn, &listener.default_actions, groups)?,
        idle_timeout: listener.idle_timeout,
        tls,
    })
}

fn compile_condition(c: &Condition) -> Cond {
    let patterns = |values: &[String], case: Case, escapes: bool| {
        values
            .iter()
            .map(|v| Pattern::new(v, case, escapes))
            .collect()
    };
    match c {
        Condition::HostHeader(v) => Cond::Host(patterns(v, Case::Insensitive, false)),
        Condition::PathPattern(v) => Cond::Path(patterns(v, Case::Sensitive, false)),
        Condition::HttpHeader { name, values } => match HeaderName::from_bytes(name.as_bytes()) {
            Ok(name) => Cond::Header {
                name,
                values: patterns(values, Case::Insensitive, false),
            },
            // A name no request can carry matches nothing.
            Err(_) => Cond::Method(Box::new([])),
        },
        Condition::HttpRequestMethod(v) => Cond::Method(
            v.iter()
                .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                .collect(),
        ),
        Condition::QueryString(pairs) => Cond::Query(
            pairs
                .iter()
                .map(|p| {
                    (
                        p.key
                            .as_deref()
                            .map(|k| Pattern::new(k, Case::Insensitive, true)),
                        Pattern::new(&p.value, Case::Insensitive, true),
                    )
                })
                .collect(),
        ),
        Condition::SourceIp(cidrs) => Cond::SourceIp(cidrs.clone().into_boxed_slice()),
    }
}

fn compile_actions(
    listener: &str,
    actions: &[Action],
    groups: &BTreeMap<String, Arc<TgRuntime>>,
) -> Result<CompiledAction, ListenerError> {
    let action = actions.first().ok_or_else(|| ListenerError::NoAction {
        listener: listener.to_owned(),
    })?;
    Ok(match action {
        Action::Forward(forward) => {
            let resolved = forward
                .target_groups
                .iter()
                .map(|wtg| {
                    groups
                        .get(&wtg.arn)
                        .map(|tg| (tg.clone(), wtg.weight))
                        .ok_or_else(|| ListenerError::UnknownTargetGroup {
                            listener: listener.to_owned(),
                            target_group: wtg.arn.clone(),
                        })
                })
                .collect::<Result<Box<[_]>, _>>()?;
            if resolved.is_empty() {
                return Err(ListenerError::NoAction {
                    listener: listener.to_owned(),
                });
            }
            CompiledAction::Forward(Forward {
                total_weight: resolved.iter().map(|(_, w)| u64::from(*w)).sum(),
                groups: resolved,
                stickiness: forward.stickiness,
            })
        }
        Action::Redirect(redirect) => CompiledAction::Redirect(Redirect::new(redirect)),
        Action::FixedResponse(fixed) => CompiledAction::Fixed(FixedResponse::new(
            fixed.status,
            fixed.content_type.as_deref(),
            fixed.body.as_deref(),
        )),
    })
}

/// A redirect action with AWS's defaults filled in: every component
/// left out keeps the original.
pub(crate) struct Redirect {
    protocol: String,
    host: String,
    port: String,
    path: String,
    query: String,
    status: StatusCode,
}

/// The parts of the original request a redirect can reuse.
pub(crate) struct UrlParts<'a> {
    /// `HTTP` or `HTTPS`.
    pub(crate) protocol: &'a str,
    pub(crate) host: &'a str,
    pub(crate) port: u16,
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
}

impl Redirect {
    fn new(c: &RedirectConfig) -> Self {
        let or =
            |v: &Option<String>, default: &str| v.clone().unwrap_or_else(|| default.to_owned());
        Self {
            protocol: or(&c.protocol, "#{protocol}"),
            host: or(&c.host, "#{host}"),
            port: or(&c.port, "#{port}"),
            path: or(&c.path, "/#{path}"),
            query: or(&c.query, "#{query}"),
            status: match c.status {
                RedirectStatus::Permanent => StatusCode::MOVED_PERMANENTLY,
                RedirectStatus::Found => StatusCode::FOUND,
            },
        }
    }

    /// `protocol://host:port/path?query`, the port always written out as
    /// ALB does.
    pub(crate) fn location(&self, orig: &UrlParts<'_>) -> String {
        let protocol = expand(&self.protocol, orig).to_ascii_lowercase();
        let host = expand(&self.host, orig);
        let port = expand(&self.port, orig);
        let mut path = expand(&self.path, orig);
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        let query = expand(&self.query, orig);
        let mut url = format!("{protocol}://{host}:{port}{path}");
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query);
        }
        url
    }

    pub(crate) fn respond(&self, orig: &UrlParts<'_>) -> http::Response<LbBody> {
        match HeaderValue::from_str(&self.location(orig)) {
            Ok(location) => response::redirect(self.status, location),
            Err(_) => response::error_page(StatusCode::BAD_REQUEST),
        }
    }
}

/// Replaces `#{protocol}`, `#{host}`, `#{port}`, `#{path}` (without its
/// leading slash) and `#{query}`; anything else is kept verbatim.
fn expand(template: &str, orig: &UrlParts<'_>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(at) = rest.find("#{") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[at..]);
            return out;
        };
        match &after[..end] {
            "protocol" => out.push_str(orig.protocol),
            "host" => out.push_str(orig.host),
            "port" => out.push_str(&orig.port.to_string()),
            "path" => out.push_str(orig.path.strip_prefix('/').unwrap_or(orig.path)),
            "query" => out.push_str(orig.query),
            _ => out.push_str(&rest[at..at + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Splits `host:port` (or `[v6]:port`) and drops the port.
pub(crate) fn host_without_port(authority: &str) -> &str {
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split_once(']').map_or(authority, |(h, _)| h);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => authority,
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
