//! Listeners: CreateListener, ModifyListener, DescribeListeners,
//! DeleteListener.
//!
//! A listener on port P is bound by the data plane on the server's load
//! balancer address (`--lb-address`) at port P, whatever load balancer it
//! belongs to: the port is the listener's address on this host. So a port
//! can carry one listener across all load balancers; a second is refused
//! with `DuplicateListener`, naming the load balancer that has it. A
//! [`PortCheck`] lets the server refuse ports something else holds.
//!
//! The data plane serves HTTP (Application) and TCP (Network) listeners:
//! HTTPS and TLS need a certificate Dockyard has no store for
//! (`CertificateNotFound`), UDP and TCP_UDP get `UnsupportedProtocol`.

use dockyard_aws::CallContext;
use dockyard_aws::query::{QueryParams, XmlWriter};

use crate::ElbService;
use crate::actions;
use crate::arn;
use crate::error::{ElbError, Quota};
use crate::input::{self, required};
use crate::model::{
    Action, ListenerRecord, LoadBalancerRecord, LoadBalancerType, Protocol, listener_key, rule_key,
};
use crate::render;
use crate::state::{Change, State, write};

/// Listeners per load balancer.
const MAX_LISTENERS: usize = 50;
/// AWS: certificates per ALB listener, the default included.
const MAX_CERTIFICATES: usize = 25;

/// Asked before a listener takes a port no other listener has: whether
/// the host can give it. The server implements it (it knows its own API
/// port and what else is bound on the load balancer address).
pub trait PortCheck: Send + Sync {
    /// `Ok` when a listener may bind `port` for `protocol`; otherwise why
    /// not (for the error message).
    fn check(&self, port: u16, protocol: Protocol) -> Result<(), String>;
}

fn check_protocol(lb: &LoadBalancerRecord, protocol: Protocol) -> Result<(), ElbError> {
    let allowed: &[Protocol] = match lb.kind {
        LoadBalancerType::Application => &[Protocol::Https, Protocol::Http],
        LoadBalancerType::Network => &[
            Protocol::Tls,
            Protocol::Tcp,
            Protocol::TcpUdp,
            Protocol::Udp,
        ],
    };
    if !allowed.contains(&protocol) {
        let names: Vec<&str> = allowed.iter().map(|p| p.as_str()).collect();
        return Err(ElbError::Validation(format!(
            "Listener protocol '{}' must be one of '{}'",
            protocol.as_str(),
            names.join(", ")
        )));
    }
    if matches!(protocol, Protocol::Udp | Protocol::TcpUdp | Protocol::Tls) {
        return Err(ElbError::UnsupportedProtocol(format!(
            "Listener protocol '{}' is not supported by Dockyard: Network Load Balancer \
             listeners serve TCP (terminate TLS on an Application Load Balancer's HTTPS \
             listener)",
            protocol.as_str()
        )));
    }
    Ok(())
}

/// The security policies an HTTPS listener may name. The data plane
/// serves TLS 1.2 and 1.3 with rustls' safe defaults whichever is named.
const SSL_POLICIES: &[&str] = &[
    "ELBSecurityPolicy-2016-08",
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS-1-2-2017-01",
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
    "ELBSecurityPolicy-FS-1-2-2019-08",
    "ELBSecurityPolicy-FS-1-2-Res-2019-08",
    "ELBSecurityPolicy-FS-1-2-Res-2020-10",
    "ELBSecurityPolicy-2015-05",
];

/// AWS's default security policy for HTTPS listeners.
const DEFAULT_SSL_POLICY: &str = "ELBSecurityPolicy-2016-08";

/// An HTTPS listener's certificates (default first) and policy.
#[derive(Debug, Default)]
struct Secure {
    certificates: Vec<String>,
    ssl_policy: Option<String>,
}

/// The `Certificates` members' ARNs; at least one.
fn certificate_arns(p: &QueryParams) -> Result<Vec<String>, ElbError> {
    let given: Vec<String> = p
        .member_structs("Certificates")
        .iter()
        .filter_map(|c| c.get("CertificateArn").map(str::to_string))
        .collect();
    if given.is_empty() {
        return Err(ElbError::missing("certificates"));
    }
    Ok(given)
}

impl ElbService {
    /// Checks the certificate and policy members against the protocol.
    /// `current` is the listener being modified: an HTTPS listener keeps its
    /// certificates and policy unless new ones are given.
    fn check_certificates(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
        protocol: Protocol,
        current: Option<&ListenerRecord>,
    ) -> Result<Secure, ElbError> {
        let certs = p.member_structs("Certificates");
        let policy = p.get("SslPolicy");
        if !p.members("AlpnPolicy").is_empty() {
            return Err(ElbError::Validation(
                "An ALPN policy can only be specified for TLS listeners".into(),
            ));
        }
        if protocol != Protocol::Https {
            if !certs.is_empty() || policy.is_some() {
                return Err(ElbError::Validation(format!(
                    "Certificates and SSL policies cannot be specified for {} listeners",
                    protocol.as_str()
                )));
            }
            return Ok(Secure::default());
        }
        let kept = current.filter(|l| l.protocol == Protocol::Https);
        let certificates = match certs.as_slice() {
            [] => match kept {
                Some(l) if !l.certificates.is_empty() => l.certificates.clone(),
                _ => {
                    return Err(ElbError::Validation(
                        "A certificate must be specified for HTTPS listeners".into(),
                    ));
                }
            },
            [one] => {
                let arn = one.get("CertificateArn").ok_or_else(|| {
                    ElbError::Validation("A certificate must have a CertificateArn".into())
                })?;
                self.check_certificate(ctx, arn)?;
                let mut list = vec![arn.to_string()];
                // The listener's other (SNI) certificates stay.
                if let Some(l) = kept {
                    list.extend(l.certificates.iter().skip(1).filter(|c| *c != arn).cloned());
                }
                list
            }
            _ => {
                return Err(ElbError::Validation(
                    "Only one certificate can be specified here, the default; add others with \
                 AddListenerCertificates"
                        .into(),
                ));
            }
        };
        let ssl_policy = match policy {
            Some(name) if SSL_POLICIES.contains(&name) => name.to_string(),
            Some(name) => {
                return Err(ElbError::SslPolicyNotFound(format!(
                    "SSL policy '{name}' not found"
                )));
            }
            None => kept
                .and_then(|l| l.ssl_policy.clone())
                .unwrap_or_else(|| DEFAULT_SSL_POLICY.to_string()),
        };
        Ok(Secure {
            certificates,
            ssl_policy: Some(ssl_policy),
        })
    }

    fn check_certificate(&self, ctx: &CallContext, arn: &str) -> Result<(), ElbError> {
        let found = self
            .certificates
            .as_ref()
            .is_some_and(|c| c.exists(&ctx.account, arn));
        if found {
            Ok(())
        } else {
            Err(ElbError::CertificateNotFound(format!(
                "Certificate '{arn}' not found"
            )))
        }
    }
}

/// The listener of a caller's account.
pub(crate) fn own_listener<'a>(
    state: &'a State,
    ctx: &CallContext,
    arn: &str,
) -> Result<(&'a ListenerRecord, &'a LoadBalancerRecord), ElbError> {
    let l = state.listener(arn)?;
    let lb = state.lb_of(l)?;
    if lb.account != ctx.account {
        return Err(ElbError::ListenerNotFound(format!(
            "Listener '{arn}' not found"
        )));
    }
    Ok((l, lb))
}

impl ElbService {
    /// Refuses `port` for a listener of `lb` when another listener (other
    /// than `except`) has it, or the host cannot give it.
    fn check_port(
        &self,
        state: &State,
        lb: &LoadBalancerRecord,
        port: u16,
        protocol: Protocol,
        except: Option<&str>,
    ) -> Result<(), ElbError> {
        let taken = state
            .listeners
            .values()
            .find(|l| l.port == port && Some(l.id.as_str()) != except);
        match taken {
            Some(l) if l.lb_id == lb.id => Err(ElbError::DuplicateListener(format!(
                "A listener already exists on port {port} for load balancer '{}'",
                lb.arn
            ))),
            Some(l) => {
                // Another account's load balancer is not named to this one.
                let holder = match state.lbs.get(&l.lb_id) {
                    Some(other) if other.account == lb.account => {
                        format!("load balancer '{}'", other.arn)
                    }
                    _ => "another load balancer".to_string(),
                };
                Err(ElbError::DuplicateListener(format!(
                    "Port {port} is already used by a listener of {holder}: listeners bind \
                     their port on this host, so one port has one listener across all load \
                     balancers"
                )))
            }
            None => match &self.ports {
                Some(check) => check.check(port, protocol).map_err(|why| {
                    ElbError::InvalidConfiguration(format!(
                        "Port {port} is not available on this host: {why}"
                    ))
                }),
                None => Ok(()),
            },
        }
    }

    pub(crate) fn create_listener(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ElbError> {
        let lb_arn = required(p, "LoadBalancerArn")?;
        let protocol = crate::tgs::protocol(p, "Protocol")?;
        let port = input::port(p, "Port")?;
        let tags = input::tags(p, "Tags").map_err(input::duplicates_invalid)?;
        let listener = write(self.store.as_ref(), ctx.now, |state| {
            let lb = crate::lbs::own_lb(state, ctx, lb_arn)?;
            let protocol = protocol.ok_or_else(|| {
                ElbError::Validation("A listener protocol must be specified".into())
            })?;
            let port = port
                .ok_or_else(|| ElbError::Validation("A listener port must be specified".into()))?;
            check_protocol(lb, protocol)?;
            let secure = self.check_certificates(ctx, p, protocol, None)?;
            let default_actions = actions::parse(p, "DefaultActions", lb.kind)?
                .ok_or_else(|| ElbError::missing("defaultActions"))?;
            if let Some(same) = state.listeners_of(&lb.id).into_iter().find(|l| {
                l.port == port && l.protocol == protocol && l.default_actions == default_actions
            }) {
                return Ok((Change::default(), same.clone()));
            }
            self.check_port(state, lb, port, protocol, None)?;
            if state.listeners_of(&lb.id).len() >= MAX_LISTENERS {
                return Err(ElbError::quota(
                    Quota::Listeners,
                    format!(
                        "You've reached the limit of {MAX_LISTENERS} listeners for load balancer \
                         '{lb_arn}'"
                    ),
                ));
            }
            actions::check_targets(state, lb, protocol, &default_actions)?;
            let id = self.ids.next_id();
            let record = ListenerRecord {
                arn: arn::listener(&lb.arn, &id),
                id: id.clone(),
                lb_id: lb.id.clone(),
                lb_arn: lb.arn.clone(),
                port,
                protocol,
                default_actions,
                default_rule_id: self.ids.next_id(),
                default_rule_tags: Vec::new(),
                created: ctx.now,
                tags: tags.clone(),
                certificates: secure.certificates,
                ssl_policy: secure.ssl_policy,
            };
            let mut change = Change::default();
            change.put(listener_key(&id), &record);
            Ok((change, record))
        })?;
        out.members("Listeners", [&listener], render::listener);
        Ok(())
    }

    pub(crate) fn modify_listener(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ElbError> {
        let arn = required(p, "ListenerArn")?;
        let protocol = crate::tgs::protocol(p, "Protocol")?;
        let port = input::port(p, "Port")?;
        let listener = write(self.store.as_ref(), ctx.now, |state| {
            let (l, lb) = own_listener(state, ctx, arn)?;
            let protocol = protocol.unwrap_or(l.protocol);
            let port = port.unwrap_or(l.port);
            check_protocol(lb, protocol)?;
            let secure = self.check_certificates(ctx, p, protocol, Some(l))?;
            let default_actions: Vec<Action> = actions::parse(p, "DefaultActions", lb.kind)?
                .unwrap_or_else(|| l.default_actions.clone());
            if port != l.port {
                self.check_port(state, lb, port, protocol, Some(&l.id))?;
            }
            actions::check_targets(state, lb, protocol, &default_actions)?;
            let mut record = l.clone();
            record.port = port;
            record.protocol = protocol;
            record.default_actions = default_actions;
            record.certificates = secure.certificates;
            record.ssl_policy = secure.ssl_policy;
            let mut change = Change::default();
            if record != *l {
                change.put(listener_key(&l.id), &record);
            }
            Ok((change, record))
        })?;
        out.members("Listeners", [&listener], render::listener);
        Ok(())
    }

    pub(crate) fn describe_listeners(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ElbError> {
        let lb_arn = p.get("LoadBalancerArn");
        let arns = p.members("ListenerArns");
        match (lb_arn, arns.is_empty()) {
            (None, true) => {
                return Err(ElbError::Validation(
                    "You must specify either listener ARNs or a load balancer ARN".into(),
                ));
            }
            (Some(_), false) => {
                return Err(ElbError::Validation(
                    "Listener ARNs and a load balancer ARN cannot be specified at the same time"
                        .into(),
                ));
            }
            _ => {}
        }
        let page = input::page(p)?;
        let state = State::load(self.store.as_ref())?;
        let mut found: Vec<&ListenerRecord> = match lb_arn {
            Some(a) => state.listeners_of(&crate::lbs::own_lb(&state, ctx, a)?.id),
            None => arns
                .iter()
                .map(|a| {
                    own_listener(&state, ctx, a)
                        .map(|(l, _)| l)
                        .map_err(|e| match e {
                            ElbError::Validation(_) => e,
                            _ => {
                                ElbError::ListenerNotFound("One or more listeners not found".into())
                            }
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        found.sort_by_key(|l| l.port);
        found.dedup_by(|a, b| a.id == b.id);
        let (items, next) = page.apply(found, |l| format!("{:05}", l.port));
        out.members("Listeners", items, render::listener);
        out.opt_element("NextMarker", next.as_deref());
        Ok(())
    }

    pub(crate) fn delete_listener(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
    ) -> Result<(), ElbError> {
        let arn = required(p, "ListenerArn")?;
        write(self.store.as_ref(), ctx.now, |state| {
            let (l, _) = own_listener(state, ctx, arn)?;
            let mut change = Change::default();
            for r in state.rules_of(&l.id) {
                change.delete(rule_key(&r.id));
            }
            change.delete(listener_key(&l.id));
            Ok((change, ()))
        })
    }

    pub(crate) fn add_listener_certificates(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ElbError> {
        let arn = required(p, "ListenerArn")?;
        let given = certificate_arns(p)?;
        for c in &given {
            self.check_certificate(ctx, c)?;
        }
        write(self.store.as_ref(), ctx.now, |state| {
            let (l, _) = own_listener(state, ctx, arn)?;
            if l.protocol != Protocol::Https {
                return Err(ElbError::Validation(format!(
                    "Certificates can only be added to HTTPS listeners, not {}",
                    l.protocol.as_str()
                )));
            }
            let mut record = l.clone();
            for c in &given {
                if !record.certificates.contains(c) {
                    record.certificates.push(c.clone());
                }
            }
            if record.certificates.len() > MAX_CERTIFICATES {
                return Err(ElbError::quota(
                    Quota::Certificates,
                    format!("A listener can have at most {MAX_CERTIFICATES} certificates"),
                ));
            }
            let mut change = Change::default();
            if record != *l {
                change.put(listener_key(&l.id), &record);
            }
            Ok((change, ()))
        })?;
        out.members("Certificates", &given, |w, c| {
            w.element("CertificateArn", c);
        });
        Ok(())
    }

    pub(crate) fn remove_listener_certificates(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
    ) -> Result<(), ElbError> {
        let arn = required(p, "ListenerArn")?;
        let given = certificate_arns(p)?;
        write(self.store.as_ref(), ctx.now, |state| {
            let (l, _) = own_listener(state, ctx, arn)?;
            if l.certificates.first().is_some_and(|d| given.contains(d)) {
                return Err(ElbError::OperationNotPermitted(
                    "The default certificate cannot be removed; set another with \
                     ModifyListener first"
                        .into(),
                ));
            }
            let mut record = l.clone();
            record.certificates.retain(|c| !given.contains(c));
            let mut change = Change::default();
            if record != *l {
                change.put(listener_key(&l.id), &record);
            }
            Ok((change, ()))
        })
    }

    pub(crate) fn describe_listener_certificates(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ElbError> {
        let arn = required(p, "ListenerArn")?;
        let state = State::load(self.store.as_ref())?;
        let (l, _) = own_listener(&state, ctx, arn)?;
        let certs: Vec<(usize, &String)> = l.certificates.iter().enumerate().collect();
        out.members("Certificates", certs, |w, (i, c)| {
            w.element("CertificateArn", c)
                .element("IsDefault", if i == 0 { "true" } else { "false" });
        });
        Ok(())
    }
}
