//! Listener and rule actions: read from `DefaultActions.member.N.*` or
//! `Actions.member.N.*`, checked as ELB checks them, and checked against
//! the target groups they forward to.
//!
//! Every listener and rule has exactly one action, its routing action
//! (`forward`, `redirect`, `fixed-response`). AWS allows authentication
//! actions before it on HTTPS listeners only, and Dockyard has no HTTPS
//! listeners (no certificate store), so they are refused.

use std::collections::BTreeSet;

use dockyard_aws::query::QueryParams;

use crate::error::{ElbError, Quota};
use crate::input::{field, length, uint};
use crate::model::{
    Action, ActionKind, FixedResponse, Forward, LoadBalancerRecord, LoadBalancerType, Protocol,
    Redirect, RedirectStatus, WeightedTargetGroup,
};
use crate::state::State;

const ACTION_TYPES: &[&str] = &[
    "forward",
    "authenticate-oidc",
    "authenticate-cognito",
    "redirect",
    "fixed-response",
    "jwt-validation",
];

const CONTENT_TYPES: &[&str] = &[
    "text/plain",
    "text/css",
    "text/html",
    "application/javascript",
    "application/json",
];

/// Target groups per forward action on an Application Load Balancer.
const MAX_GROUPS_PER_ACTION: usize = 5;
/// Target groups one Application Load Balancer may forward to.
const MAX_GROUPS_PER_LB: usize = 100;

/// The actions under `name` (`Actions` or `DefaultActions`); `None` when
/// the request has none.
pub(crate) fn parse(
    p: &QueryParams,
    name: &str,
    lb: LoadBalancerType,
) -> Result<Option<Vec<Action>>, ElbError> {
    let items = p.member_structs(name);
    if items.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for (i, a) in items.iter().enumerate() {
        let at = format!("{}.{}.member", field(name), i + 1);
        out.push(parse_one(a, &at, lb)?);
    }
    if out.len() > 1 {
        return Err(ElbError::InvalidLoadBalancerAction(
            "Each rule must include exactly one of the following routing actions: forward, \
             fixed-response, or redirect"
                .into(),
        ));
    }
    Ok(Some(out))
}

fn parse_one(a: &QueryParams, at: &str, lb: LoadBalancerType) -> Result<Action, ElbError> {
    let kind = a
        .get("Type")
        .ok_or_else(|| ElbError::missing(&format!("{at}.type")))?;
    if !ACTION_TYPES.contains(&kind) {
        return Err(ElbError::not_in_enum(
            &format!("{at}.type"),
            kind,
            ACTION_TYPES,
        ));
    }
    let order = uint(a, "Order", 1, 50_000).map_err(|e| prefixed(e, at))?;
    let kind = match kind {
        "forward" => ActionKind::Forward(forward(a, at, lb)?),
        "redirect" => ActionKind::Redirect(redirect(&a.nested("RedirectConfig"), at)?),
        "fixed-response" => {
            ActionKind::FixedResponse(fixed_response(&a.nested("FixedResponseConfig"), at)?)
        }
        other => {
            return Err(ElbError::InvalidLoadBalancerAction(format!(
                "Action type '{other}' is supported only on HTTPS listeners, and Dockyard has \
                 no HTTPS listeners"
            )));
        }
    };
    if lb == LoadBalancerType::Network && !matches!(kind, ActionKind::Forward(_)) {
        return Err(ElbError::InvalidLoadBalancerAction(format!(
            "Action type '{}' is not supported for Network Load Balancers",
            kind.type_name()
        )));
    }
    Ok(Action { order, kind })
}

/// Puts a nested member's path in front of the field a validation message
/// names (`order` becomes `actions.1.member.order`).
fn prefixed(e: ElbError, at: &str) -> ElbError {
    match e {
        ElbError::Validation(m) => {
            ElbError::Validation(m.replacen(" at '", &format!(" at '{at}."), 1))
        }
        other => other,
    }
}

fn forward(a: &QueryParams, at: &str, lb: LoadBalancerType) -> Result<Forward, ElbError> {
    let single = a.get("TargetGroupArn");
    let config = a.nested("ForwardConfig");
    let mut groups = Vec::new();
    for (i, t) in config.member_structs("TargetGroups").iter().enumerate() {
        let arn = t.get("TargetGroupArn").ok_or_else(|| {
            ElbError::missing(&format!(
                "{at}.forwardConfig.targetGroups.{}.member.targetGroupArn",
                i + 1
            ))
        })?;
        let weight = uint(t, "Weight", 0, 999)
            .map_err(|e| {
                prefixed(
                    e,
                    &format!("{at}.forwardConfig.targetGroups.{}.member", i + 1),
                )
            })?
            .unwrap_or(1);
        if groups
            .iter()
            .any(|g: &WeightedTargetGroup| g.target_group_arn == arn)
        {
            return Err(ElbError::Validation(format!(
                "Target group '{arn}' is specified more than once in the forward action"
            )));
        }
        groups.push(WeightedTargetGroup {
            target_group_arn: arn.to_string(),
            weight,
        });
    }
    match (single, groups.len()) {
        (None, 0) => {
            return Err(ElbError::Validation(
                "A target group ARN must be specified for a forward action".into(),
            ));
        }
        (Some(arn), 0) => groups.push(WeightedTargetGroup {
            target_group_arn: arn.to_string(),
            weight: 1,
        }),
        (Some(arn), 1) if groups[0].target_group_arn == arn => {}
        (Some(_), _) => {
            return Err(ElbError::Validation(
                "When both TargetGroupArn and ForwardConfig are specified, ForwardConfig must \
                 name only the target group given in TargetGroupArn"
                    .into(),
            ));
        }
        (None, _) => {}
    }
    let max = match lb {
        LoadBalancerType::Application => MAX_GROUPS_PER_ACTION,
        LoadBalancerType::Network => 1,
    };
    if groups.len() > max {
        return Err(ElbError::Validation(format!(
            "A forward action can have at most {max} target groups on this load balancer"
        )));
    }
    let sticky = config.nested("TargetGroupStickinessConfig");
    let enabled = crate::input::boolean(&sticky, "Enabled")?.unwrap_or(false);
    let duration = uint(&sticky, "DurationSeconds", 1, 604_800).map_err(|e| {
        prefixed(
            e,
            &format!("{at}.forwardConfig.targetGroupStickinessConfig"),
        )
    })?;
    let stickiness_seconds = match (enabled, duration) {
        (false, _) => None,
        (true, None) => {
            return Err(ElbError::Validation(
                "The target group stickiness duration must be specified when stickiness is \
                 enabled"
                    .into(),
            ));
        }
        (true, Some(_)) if lb == LoadBalancerType::Network => {
            return Err(ElbError::InvalidLoadBalancerAction(
                "Target group stickiness is not supported for Network Load Balancers".into(),
            ));
        }
        (true, Some(d)) => Some(d),
    };
    Ok(Forward {
        target_groups: groups,
        stickiness_seconds,
    })
}

fn redirect(r: &QueryParams, at: &str) -> Result<Redirect, ElbError> {
    let at = format!("{at}.redirectConfig");
    let status = r
        .get("StatusCode")
        .ok_or_else(|| ElbError::missing(&format!("{at}.statusCode")))?;
    let status_code = RedirectStatus::parse(status).ok_or_else(|| {
        ElbError::not_in_enum(&format!("{at}.statusCode"), status, RedirectStatus::WIRE)
    })?;
    let protocol = r.get("Protocol").unwrap_or("#{protocol}");
    if !matches!(protocol, "HTTP" | "HTTPS" | "#{protocol}") {
        return Err(ElbError::constraint(
            &format!("{at}.protocol"),
            protocol,
            "Member must satisfy regular expression pattern: ^(HTTPS?|#\\{protocol\\})$",
        ));
    }
    let port = r.get("Port").unwrap_or("#{port}");
    if port != "#{port}" && !port.parse::<u16>().is_ok_and(|p| p >= 1) {
        return Err(ElbError::Validation(format!(
            "The redirect port '{port}' must be between 1 and 65535, or #{{port}}"
        )));
    }
    let host = r.get("Host").unwrap_or("#{host}");
    let path = r.get("Path").unwrap_or("/#{path}");
    let query = r.get("Query").unwrap_or("#{query}");
    length(&format!("{at}.Host"), host, 1, 128)?;
    length(&format!("{at}.Path"), path, 1, 128)?;
    length(&format!("{at}.Query"), query, 0, 128)?;
    if !path.starts_with('/') {
        return Err(ElbError::Validation(format!(
            "The redirect path '{path}' must start with a '/' character"
        )));
    }
    if protocol == "#{protocol}" && port == "#{port}" && host == "#{host}" && path == "/#{path}" {
        return Err(ElbError::InvalidLoadBalancerAction(
            "The redirect configuration is not valid because it creates a loop: change at \
             least one of protocol, host, port or path"
                .into(),
        ));
    }
    Ok(Redirect {
        protocol: protocol.to_string(),
        port: port.to_string(),
        host: host.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        status_code,
    })
}

fn fixed_response(f: &QueryParams, at: &str) -> Result<FixedResponse, ElbError> {
    let at = format!("{at}.fixedResponseConfig");
    let status = f
        .get("StatusCode")
        .ok_or_else(|| ElbError::missing(&format!("{at}.statusCode")))?;
    let b = status.as_bytes();
    if !(b.len() == 3
        && matches!(b[0], b'2' | b'4' | b'5')
        && b[1..].iter().all(u8::is_ascii_digit))
    {
        return Err(ElbError::constraint(
            &format!("{at}.statusCode"),
            status,
            "Member must satisfy regular expression pattern: ^(2|4|5)\\d\\d$",
        ));
    }
    let content_type = f.get("ContentType");
    if let Some(ct) = content_type {
        length(&format!("{at}.ContentType"), ct, 0, 32)?;
        if !CONTENT_TYPES.contains(&ct) {
            return Err(ElbError::InvalidLoadBalancerAction(format!(
                "The content type '{ct}' is not valid; it must be one of: {}",
                CONTENT_TYPES.join(", ")
            )));
        }
    }
    let body = f.get("MessageBody");
    if let Some(m) = body {
        length(&format!("{at}.MessageBody"), m, 0, 1024)?;
    }
    Ok(FixedResponse {
        status_code: status.to_string(),
        content_type: content_type.map(str::to_string),
        message_body: body.map(str::to_string),
    })
}

/// Whether a listener speaking `listener` may forward to a group speaking
/// `group`.
fn compatible(listener: Protocol, group: Protocol) -> bool {
    use Protocol::*;
    match listener {
        Http | Https => matches!(group, Http | Https),
        Tcp => matches!(group, Tcp | TcpUdp),
        Tls => matches!(group, Tcp | Tls),
        Udp => matches!(group, Udp | TcpUdp),
        TcpUdp => group == TcpUdp,
    }
}

/// Checks `actions` of a listener speaking `protocol` on `lb` against the
/// target groups they forward to: they exist, speak a compatible
/// protocol, and serve no other load balancer.
pub(crate) fn check_targets(
    state: &State,
    lb: &LoadBalancerRecord,
    protocol: Protocol,
    actions: &[Action],
) -> Result<(), ElbError> {
    let mut used = state.groups_used_by(&lb.id);
    for a in actions {
        for arn in a.target_group_arns() {
            let tg = state.tg(arn).map_err(|e| match e {
                ElbError::Validation(_) => e,
                _ => ElbError::TargetGroupNotFound(format!("Target group '{arn}' not found")),
            })?;
            if tg.account != lb.account {
                return Err(ElbError::TargetGroupNotFound(format!(
                    "Target group '{arn}' not found"
                )));
            }
            if !compatible(protocol, tg.protocol) {
                return Err(ElbError::IncompatibleProtocols(format!(
                    "The listener protocol '{}' and the protocol '{}' of its target group \
                     '{arn}' are incompatible",
                    protocol.as_str(),
                    tg.protocol.as_str()
                )));
            }
            let users: BTreeSet<String> = state.users_of(arn);
            if users.iter().any(|u| *u != lb.arn) {
                return Err(ElbError::TargetGroupAssociationLimit(format!(
                    "The following target groups cannot be associated with more than one load \
                     balancer: {arn}"
                )));
            }
            used.insert(arn.to_string());
        }
    }
    if lb.kind == LoadBalancerType::Application && used.len() > MAX_GROUPS_PER_LB {
        return Err(ElbError::quota(
            Quota::UniqueTargetGroupsPerLoadBalancer,
            format!(
                "An Application Load Balancer can forward to at most {MAX_GROUPS_PER_LB} target \
                 groups"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_pairs(pairs: &[(&str, &str)], lb: LoadBalancerType) -> Result<Vec<Action>, ElbError> {
        parse(
            &QueryParams::from_pairs(pairs.iter().copied()),
            "Actions",
            lb,
        )
        .map(Option::unwrap_or_default)
    }

    fn code(r: Result<Vec<Action>, ElbError>) -> &'static str {
        match r {
            Ok(a) => panic!("expected an error, got {a:?}"),
            Err(e) => e.code(),
        }
    }

    const APP: LoadBalancerType = LoadBalancerType::Application;

    #[test]
    fn forward_forms() {
        let a = parse_pairs(
            &[
                ("Actions.member.1.Type", "forward"),
                ("Actions.member.1.TargetGroupArn", "tg1"),
            ],
            APP,
        )
        .unwrap_or_default();
        let ActionKind::Forward(f) = &a[0].kind else {
            panic!("not a forward: {a:?}")
        };
        assert_eq!(
            f.target_groups,
            [WeightedTargetGroup {
                target_group_arn: "tg1".into(),
                weight: 1
            }]
        );
        assert_eq!(a[0].order, None);
        let w = parse_pairs(
            &[
                ("Actions.member.1.Type", "forward"),
                ("Actions.member.1.Order", "1"),
                (
                    "Actions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn",
                    "a",
                ),
                (
                    "Actions.member.1.ForwardConfig.TargetGroups.member.1.Weight",
                    "3",
                ),
                (
                    "Actions.member.1.ForwardConfig.TargetGroups.member.2.TargetGroupArn",
                    "b",
                ),
                (
                    "Actions.member.1.ForwardConfig.TargetGroupStickinessConfig.Enabled",
                    "true",
                ),
                (
                    "Actions.member.1.ForwardConfig.TargetGroupStickinessConfig.DurationSeconds",
                    "60",
                ),
            ],
            APP,
        )
        .unwrap_or_default();
        let ActionKind::Forward(f) = &w[0].kind else {
            panic!("not a forward: {w:?}")
        };
        assert_eq!(
            (
                f.target_groups.len(),
                f.target_groups[0].weight,
                f.stickiness_seconds
            ),
            (2, 3, Some(60))
        );
        assert_eq!(
            code(parse_pairs(&[("Actions.member.1.Type", "forward")], APP)),
            "ValidationError"
        );
        assert_eq!(
            code(parse_pairs(
                &[
                    ("Actions.member.1.Type", "forward"),
                    (
                        "Actions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn",
                        "a"
                    ),
                    (
                        "Actions.member.1.ForwardConfig.TargetGroups.member.2.TargetGroupArn",
                        "b"
                    ),
                ],
                LoadBalancerType::Network,
            )),
            "ValidationError"
        );
        assert_eq!(
            code(parse_pairs(
                &[
                    ("Actions.member.1.Type", "forward"),
                    (
                        "Actions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn",
                        "a"
                    ),
                    (
                        "Actions.member.1.ForwardConfig.TargetGroups.member.1.Weight",
                        "1000"
                    ),
                ],
                APP,
            )),
            "ValidationError"
        );
        assert_eq!(
            code(parse_pairs(
                &[
                    ("Actions.member.1.Type", "forward"),
                    ("Actions.member.1.TargetGroupArn", "a"),
                    ("Actions.member.2.Type", "forward"),
                    ("Actions.member.2.TargetGroupArn", "b"),
                ],
                APP,
            )),
            "InvalidLoadBalancerAction"
        );
    }

    #[test]
    fn redirects_and_fixed_responses() {
        let r = parse_pairs(
            &[
                ("Actions.member.1.Type", "redirect"),
                ("Actions.member.1.RedirectConfig.Protocol", "HTTPS"),
                ("Actions.member.1.RedirectConfig.StatusCode", "HTTP_301"),
            ],
            APP,
        )
        .unwrap_or_default();
        let ActionKind::Redirect(r) = &r[0].kind else {
            panic!("not a redirect")
        };
        assert_eq!(
            (r.host.as_str(), r.path.as_str(), r.port.as_str()),
            ("#{host}", "/#{path}", "#{port}")
        );
        let looped = [
            ("Actions.member.1.Type", "redirect"),
            ("Actions.member.1.RedirectConfig.StatusCode", "HTTP_302"),
        ];
        assert_eq!(code(parse_pairs(&looped, APP)), "InvalidLoadBalancerAction");
        let f = parse_pairs(
            &[
                ("Actions.member.1.Type", "fixed-response"),
                ("Actions.member.1.FixedResponseConfig.StatusCode", "503"),
                (
                    "Actions.member.1.FixedResponseConfig.ContentType",
                    "text/plain",
                ),
                ("Actions.member.1.FixedResponseConfig.MessageBody", "down"),
            ],
            APP,
        );
        assert!(f.is_ok());
        for (k, v, want) in [
            ("StatusCode", "302", "ValidationError"),
            ("ContentType", "text/xml", "InvalidLoadBalancerAction"),
        ] {
            let mut pairs = vec![
                ("Actions.member.1.Type", "fixed-response"),
                ("Actions.member.1.FixedResponseConfig.StatusCode", "200"),
            ];
            let key = format!("Actions.member.1.FixedResponseConfig.{k}");
            pairs.retain(|(pk, _)| *pk != key);
            pairs.push((&key, v));
            assert_eq!(code(parse_pairs(&pairs, APP)), want);
        }
        assert_eq!(
            code(parse_pairs(
                &[
                    ("Actions.member.1.Type", "fixed-response"),
                    ("Actions.member.1.FixedResponseConfig.StatusCode", "200"),
                ],
                LoadBalancerType::Network
            )),
            "InvalidLoadBalancerAction"
        );
        assert_eq!(
            code(parse_pairs(
                &[("Actions.member.1.Type", "authenticate-oidc")],
                APP
            )),
            "InvalidLoadBalancerAction"
        );
        assert_eq!(
            code(parse_pairs(&[("Actions.member.1.Type", "drop")], APP)),
            "ValidationError"
        );
    }

    #[test]
    fn protocol_pairs() {
        use Protocol::*;
        assert!(compatible(Http, Https));
        assert!(!compatible(Http, Tcp));
        assert!(compatible(Tcp, TcpUdp));
        assert!(!compatible(TcpUdp, Tcp));
        assert!(compatible(Udp, Udp));
    }
}
