//! Rule conditions: read from `Conditions.member.N.*` (the legacy
//! `Field` + `Values` form and the `*Config` forms), checked as ELB checks
//! them: the characters each field allows, at most one host-header,
//! path-pattern, http-request-method and source-ip condition per rule,
//! and at most 5 values and 5 wildcards per rule. Regular expression
//! values (`RegexValues`) are refused: the data plane matches AWS's
//! wildcards only.

use std::net::IpAddr;

use dockyard_aws::query::QueryParams;

use crate::error::ElbError;
use crate::input::field;
use crate::model::{Condition, QueryPair};

const FIELDS: &[&str] = &[
    "http-header",
    "http-request-method",
    "host-header",
    "path-pattern",
    "query-string",
    "source-ip",
];

/// Condition values per rule.
pub(crate) const MAX_VALUES: usize = 5;
/// `*` and `?` wildcards per rule.
pub(crate) const MAX_WILDCARDS: usize = 5;
const MAX_VALUE_LEN: usize = 128;

/// The conditions of a rule; `None` when the request has none.
pub(crate) fn parse(p: &QueryParams) -> Result<Option<Vec<Condition>>, ElbError> {
    let items = p.member_structs("Conditions");
    if items.is_empty() {
        return Ok(None);
    }
    let mut out: Vec<Condition> = Vec::new();
    for (i, c) in items.iter().enumerate() {
        let cond = parse_one(c, &format!("conditions.{}.member", i + 1))?;
        let once = matches!(
            cond,
            Condition::HostHeader { .. }
                | Condition::PathPattern { .. }
                | Condition::HttpRequestMethod { .. }
                | Condition::SourceIp { .. }
        );
        if once && out.iter().any(|o| o.field() == cond.field()) {
            return Err(ElbError::Validation(format!(
                "A rule can only have one '{}' condition",
                cond.field()
            )));
        }
        out.push(cond);
    }
    let values: Vec<&str> = out.iter().flat_map(Condition::counted_values).collect();
    if values.len() > MAX_VALUES {
        return Err(ElbError::Validation(format!(
            "A rule can only have '{MAX_VALUES}' condition values"
        )));
    }
    let wildcards: usize = out
        .iter()
        .filter(|c| !matches!(c, Condition::SourceIp { .. }))
        .flat_map(wildcard_values)
        .map(|v| v.chars().filter(|c| matches!(c, '*' | '?')).count())
        .sum();
    if wildcards > MAX_WILDCARDS {
        return Err(ElbError::Validation(format!(
            "A rule can only have '{MAX_WILDCARDS}' wildcards in its condition values"
        )));
    }
    Ok(Some(out))
}

/// The values where `*` and `?` are wildcards.
fn wildcard_values(c: &Condition) -> Vec<&str> {
    match c {
        Condition::HostHeader { values, .. }
        | Condition::PathPattern { values, .. }
        | Condition::HttpHeader { values, .. } => values.iter().map(String::as_str).collect(),
        Condition::QueryString { values } => values
            .iter()
            .flat_map(|p| p.key.as_deref().into_iter().chain([p.value.as_str()]))
            .collect(),
        Condition::HttpRequestMethod { .. } | Condition::SourceIp { .. } => Vec::new(),
    }
}

fn parse_one(c: &QueryParams, at: &str) -> Result<Condition, ElbError> {
    let name = c
        .get("Field")
        .ok_or_else(|| ElbError::missing(&format!("{at}.field")))?;
    if !FIELDS.contains(&name) {
        return Err(ElbError::Validation(format!(
            "Condition field '{name}' must be one of '[{}]'",
            FIELDS.join(",")
        )));
    }
    let legacy: Vec<String> = strings(c, "Values");
    let config_name = match name {
        "host-header" => "HostHeaderConfig",
        "path-pattern" => "PathPatternConfig",
        "http-header" => "HttpHeaderConfig",
        "http-request-method" => "HttpRequestMethodConfig",
        "query-string" => "QueryStringConfig",
        _ => "SourceIpConfig",
    };
    let config = c.nested(config_name);
    if !legacy.is_empty() && !matches!(name, "host-header" | "path-pattern") {
        return Err(ElbError::Validation(format!(
            "The 'Values' field is not compatible with '{name}'"
        )));
    }
    if !legacy.is_empty() && !config.is_empty() {
        return Err(ElbError::Validation(format!(
            "You cannot provide both Values and '{config_name}' for a condition of type '{name}'"
        )));
    }
    if legacy.len() > 1 {
        return Err(ElbError::Validation(format!(
            "The '{name}' field contains too many values; the limit is '1'"
        )));
    }
    if !c.members("RegexValues").is_empty() || !config.members("RegexValues").is_empty() {
        return Err(ElbError::Validation(
            "Regular expression condition values (RegexValues) are not supported by Dockyard; \
             use Values with the * and ? wildcards"
                .into(),
        ));
    }
    let mut values = if legacy.is_empty() {
        strings(&config, "Values")
    } else {
        legacy
    };
    for v in &values {
        if v.chars().count() > MAX_VALUE_LEN {
            return Err(ElbError::Validation(format!(
                "The '{name}' value is too long; the limit is '{MAX_VALUE_LEN}'"
            )));
        }
    }
    let cond = match name {
        "host-header" => {
            values.iter().try_for_each(|v| host_value(v))?;
            Condition::HostHeader {
                values: std::mem::take(&mut values),
            }
        }
        "path-pattern" => {
            values.iter().try_for_each(|v| path_value(v))?;
            Condition::PathPattern {
                values: std::mem::take(&mut values),
            }
        }
        "http-header" => {
            let header = config.get("HttpHeaderName").ok_or_else(|| {
                ElbError::Validation(
                    "A 'HttpHeaderConfig' with an 'HttpHeaderName' must be specified with \
                     'http-header'"
                        .into(),
                )
            })?;
            header_name(header)?;
            Condition::HttpHeader {
                name: header.to_string(),
                values: std::mem::take(&mut values),
            }
        }
        "http-request-method" => {
            for v in &values {
                if v.len() > 40
                    || !v
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
                {
                    return Err(ElbError::Validation(format!(
                        "The 'http-request-method' value '{v}' is invalid; the allowed \
                         characters are A-Z, hyphen and underscore, up to 40"
                    )));
                }
            }
            Condition::HttpRequestMethod {
                values: std::mem::take(&mut values),
            }
        }
        "query-string" => Condition::QueryString {
            values: query_pairs(&config)?,
        },
        _ => {
            values.iter().try_for_each(|v| cidr(v))?;
            Condition::SourceIp {
                values: std::mem::take(&mut values),
            }
        }
    };
    if cond.counted_values().is_empty() {
        return Err(ElbError::Validation(format!(
            "A condition value must be specified for '{name}' (at '{}')",
            field(at)
        )));
    }
    Ok(cond)
}

fn strings(p: &QueryParams, name: &str) -> Vec<String> {
    p.members(name).into_iter().map(str::to_string).collect()
}

fn query_pairs(config: &QueryParams) -> Result<Vec<QueryPair>, ElbError> {
    config
        .member_structs("Values")
        .iter()
        .map(|kv| {
            let value = kv.get("Value").ok_or_else(|| {
                ElbError::Validation(
                    "A 'Value' must be specified in 'QueryStringKeyValuePair'".into(),
                )
            })?;
            let key = kv.get("Key").filter(|k| !k.is_empty());
            if key.is_some_and(|k| k.chars().count() > MAX_VALUE_LEN)
                || value.chars().count() > MAX_VALUE_LEN
            {
                return Err(ElbError::Validation(format!(
                    "The 'query-string' value is too long; the limit is '{MAX_VALUE_LEN}'"
                )));
            }
            Ok(QueryPair {
                key: key.map(str::to_string),
                value: value.to_string(),
            })
        })
        .collect()
}

/// Host names: letters, digits, `-`, `.`, wildcards; at least one dot,
/// and only letters (or wildcards) after the last.
fn host_value(v: &str) -> Result<(), ElbError> {
    let chars_ok = v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'*' | b'?'));
    let tld_ok = v.rsplit_once('.').is_some_and(|(_, tld)| {
        !tld.is_empty()
            && tld
                .bytes()
                .all(|b| b.is_ascii_alphabetic() || matches!(b, b'*' | b'?'))
    });
    if chars_ok && tld_ok {
        return Ok(());
    }
    Err(ElbError::Validation(format!(
        "The host header value '{v}' is not valid: use letters, digits, '-', '.', '*' and '?', \
         with at least one '.' and only letters after the last"
    )))
}

fn path_value(v: &str) -> Result<(), ElbError> {
    let ok = v.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'_' | b'-'
                    | b'.'
                    | b'$'
                    | b'/'
                    | b'~'
                    | b'"'
                    | b'\''
                    | b'@'
                    | b':'
                    | b'+'
                    | b'&'
                    | b'*'
                    | b'?'
            )
    });
    if ok {
        return Ok(());
    }
    Err(ElbError::Validation(format!(
        "The path pattern '{v}' contains characters that are not allowed"
    )))
}

fn header_name(h: &str) -> Result<(), ElbError> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if h.is_empty() || h.len() > 40 || !h.bytes().all(token) {
        return Err(ElbError::Validation(format!(
            "The HTTP header name '{h}' is not valid: up to 40 characters allowed in an RFC 7230 \
             token, without wildcards"
        )));
    }
    if h.eq_ignore_ascii_case("host") {
        return Err(ElbError::Validation(
            "An HTTP header condition cannot match the Host header; use a host-header condition"
                .into(),
        ));
    }
    Ok(())
}

fn cidr(v: &str) -> Result<(), ElbError> {
    let bad = || {
        ElbError::Validation(format!(
            "The source IP value '{v}' is not a valid CIDR block"
        ))
    };
    let (ip, len) = v.split_once('/').ok_or_else(bad)?;
    let ip: IpAddr = ip.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if len > max {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_pairs(pairs: &[(&str, &str)]) -> Result<Vec<Condition>, ElbError> {
        parse(&QueryParams::from_pairs(pairs.iter().copied())).map(Option::unwrap_or_default)
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        match parse_pairs(pairs) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => format!("{}: {e}", e.code()),
        }
    }

    #[test]
    fn forms() {
        let legacy = parse_pairs(&[
            ("Conditions.member.1.Field", "path-pattern"),
            ("Conditions.member.1.Values.member.1", "/img/*"),
        ]);
        assert_eq!(
            legacy.ok(),
            Some(vec![Condition::PathPattern {
                values: vec!["/img/*".into()],
            }])
        );
        let all = parse_pairs(&[
            ("Conditions.member.1.Field", "host-header"),
            (
                "Conditions.member.1.HostHeaderConfig.Values.member.1",
                "*.example.com",
            ),
            ("Conditions.member.2.Field", "http-header"),
            (
                "Conditions.member.2.HttpHeaderConfig.HttpHeaderName",
                "X-Env",
            ),
            (
                "Conditions.member.2.HttpHeaderConfig.Values.member.1",
                "blue",
            ),
            ("Conditions.member.3.Field", "query-string"),
            (
                "Conditions.member.3.QueryStringConfig.Values.member.1.Key",
                "v",
            ),
            (
                "Conditions.member.3.QueryStringConfig.Values.member.1.Value",
                "2",
            ),
            ("Conditions.member.4.Field", "source-ip"),
            (
                "Conditions.member.4.SourceIpConfig.Values.member.1",
                "10.0.0.0/8",
            ),
            ("Conditions.member.5.Field", "http-request-method"),
            (
                "Conditions.member.5.HttpRequestMethodConfig.Values.member.1",
                "GET",
            ),
        ]);
        assert_eq!(all.map(|c| c.len()).ok(), Some(5));
    }

    #[test]
    fn limits() {
        let mut six = vec![(
            "Conditions.member.1.Field".to_string(),
            "path-pattern".to_string(),
        )];
        for i in 1..=6 {
            six.push((
                format!("Conditions.member.1.PathPatternConfig.Values.member.{i}"),
                format!("/p{i}"),
            ));
        }
        let six: Vec<(&str, &str)> = six.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            err(&six),
            "ValidationError: A rule can only have '5' condition values"
        );
        assert!(
            err(&[
                ("Conditions.member.1.Field", "path-pattern"),
                (
                    "Conditions.member.1.PathPatternConfig.Values.member.1",
                    "/a/*/*/*"
                ),
                ("Conditions.member.2.Field", "host-header"),
                (
                    "Conditions.member.2.HostHeaderConfig.Values.member.1",
                    "*.*.*.com"
                ),
            ])
            .contains("wildcards")
        );
        assert!(
            err(&[
                ("Conditions.member.1.Field", "path-pattern"),
                ("Conditions.member.1.Values.member.1", "/a"),
                ("Conditions.member.2.Field", "path-pattern"),
                ("Conditions.member.2.Values.member.1", "/b"),
            ])
            .contains("only have one 'path-pattern'")
        );
        // http-header conditions may repeat.
        assert!(
            parse_pairs(&[
                ("Conditions.member.1.Field", "http-header"),
                ("Conditions.member.1.HttpHeaderConfig.HttpHeaderName", "A"),
                ("Conditions.member.1.HttpHeaderConfig.Values.member.1", "1"),
                ("Conditions.member.2.Field", "http-header"),
                ("Conditions.member.2.HttpHeaderConfig.HttpHeaderName", "B"),
                ("Conditions.member.2.HttpHeaderConfig.Values.member.1", "2"),
            ])
            .is_ok()
        );
    }

    #[test]
    fn bad_values() {
        for pairs in [
            vec![("Conditions.member.1.Field", "cookie")],
            vec![("Conditions.member.1.Field", "path-pattern")],
            vec![
                ("Conditions.member.1.Field", "path-pattern"),
                ("Conditions.member.1.Values.member.1", "/a"),
                ("Conditions.member.1.Values.member.2", "/b"),
            ],
            vec![
                ("Conditions.member.1.Field", "source-ip"),
                ("Conditions.member.1.Values.member.1", "10.0.0.0/8"),
            ],
            vec![
                ("Conditions.member.1.Field", "source-ip"),
                (
                    "Conditions.member.1.SourceIpConfig.Values.member.1",
                    "10.0.0.0/33",
                ),
            ],
            vec![
                ("Conditions.member.1.Field", "host-header"),
                (
                    "Conditions.member.1.HostHeaderConfig.Values.member.1",
                    "localhost",
                ),
            ],
            vec![
                ("Conditions.member.1.Field", "http-request-method"),
                (
                    "Conditions.member.1.HttpRequestMethodConfig.Values.member.1",
                    "get",
                ),
            ],
            vec![
                ("Conditions.member.1.Field", "http-header"),
                (
                    "Conditions.member.1.HttpHeaderConfig.HttpHeaderName",
                    "Host",
                ),
                ("Conditions.member.1.HttpHeaderConfig.Values.member.1", "x"),
            ],
            vec![
                ("Conditions.member.1.Field", "path-pattern"),
                (
                    "Conditions.member.1.PathPatternConfig.RegexValues.member.1",
                    "^/api/",
                ),
            ],
            vec![
                ("Conditions.member.1.Field", "host-header"),
                ("Conditions.member.1.RegexValues.member.1", "^a"),
            ],
            vec![
                ("Conditions.member.1.Field", "path-pattern"),
                ("Conditions.member.1.Values.member.1", "/a"),
                (
                    "Conditions.member.1.PathPatternConfig.Values.member.1",
                    "/b",
                ),
            ],
        ] {
            assert!(err(&pairs).starts_with("ValidationError"), "{pairs:?}");
        }
    }
}
