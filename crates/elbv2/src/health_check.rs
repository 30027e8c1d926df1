//! Target group health checks: AWS's defaults, which differ by the
//! group's protocol and the check's, and the ranges AWS accepts.
//!
//! Defaults: an HTTP/HTTPS group (Application Load Balancer) checks with
//! its own protocol on `/`, every 30 s, timing out after 5 s, healthy
//! after 5 successes, unhealthy after 2 failures, expecting `200`. A
//! TCP/TLS/UDP/TCP_UDP group (Network Load Balancer) checks with TCP, 30 s
//! apart, timing out after 10 s (6 s for an HTTP check, which expects
//! `200-399`), 5 and 2. Checks speak HTTP or TCP, as the data plane
//! does (no HTTPS, no gRPC).

use dockyard_aws::query::QueryParams;

use crate::error::ElbError;
use crate::input::{self, length};
use crate::model::{HealthCheck, Matcher, Protocol, TargetType};

fn defaults(group: Protocol, check: Protocol) -> HealthCheck {
    let timeout = if group.is_http() {
        5
    } else if check == Protocol::Http {
        6
    } else {
        10
    };
    let http = check.is_http();
    let matcher = http.then(|| Matcher {
        http_code: Some(if group.is_http() { "200" } else { "200-399" }.to_string()),
        grpc_code: None,
    });
    HealthCheck {
        enabled: true,
        protocol: check,
        port: "traffic-port".into(),
        path: http.then(|| "/".to_string()),
        interval_seconds: 30,
        timeout_seconds: timeout,
        healthy_threshold_count: 5,
        unhealthy_threshold_count: 2,
        matcher,
    }
}

/// Checks a matcher's codes: single codes and ranges, comma separated,
/// within `lo..=hi`.
fn check_codes(member: &str, codes: &str, lo: u32, hi: u32) -> Result<(), ElbError> {
    let in_range = |s: &str| {
        s.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (lo..=hi).contains(n))
    };
    let ok = !codes.is_empty()
        && codes.split(',').all(|part| match part.split_once('-') {
            Some((a, b)) => matches!((in_range(a), in_range(b)), (Some(a), Some(b)) if a <= b),
            None => in_range(part).is_some(),
        });
    if ok {
        return Ok(());
    }
    Err(ElbError::Validation(format!(
        "Health check matcher {member} '{codes}' must be one or more codes or ranges between \
         {lo} and {hi}, such as '{lo}', '{lo},{}' or '{lo}-{}'",
        lo + 2,
        lo + 99
    )))
}

/// The health check a CreateTargetGroup or ModifyTargetGroup asks for:
/// `current` (when modifying) or the defaults, with the request's
/// members applied and checked.
pub(crate) fn from_request(
    p: &QueryParams,
    group: Protocol,
    target_type: TargetType,
    current: Option<&HealthCheck>,
) -> Result<HealthCheck, ElbError> {
    let given = input::one_of(
        p,
        "HealthCheckProtocol",
        crate::tgs::PROTOCOLS,
        Protocol::parse,
    )?;
    let check = given
        .or(current.map(|c| c.protocol))
        .unwrap_or(if group.is_http() {
            group
        } else {
            Protocol::Tcp
        });
    match check {
        Protocol::Http | Protocol::Tcp => {}
        Protocol::Https => {
            return Err(ElbError::InvalidConfiguration(
                "HTTPS health checks are not supported by Dockyard; use HTTP or TCP".into(),
            ));
        }
        other => {
            return Err(ElbError::Validation(format!(
                "Health check protocol '{}' is not supported; use HTTP, HTTPS or TCP",
                other.as_str()
            )));
        }
    }
    if group.is_http() && check == Protocol::Tcp {
        return Err(ElbError::Validation(format!(
            "Health check protocol 'TCP' is not supported for target groups with the '{}' protocol",
            group.as_str()
        )));
    }
    let mut hc = match current {
        Some(c) if c.protocol.is_http() == check.is_http() => c.clone(),
        // Switching between TCP and HTTP checks keeps the timings but
        // takes the new kind's path and matcher.
        Some(c) => HealthCheck {
            port: c.port.clone(),
            interval_seconds: c.interval_seconds,
            timeout_seconds: c.timeout_seconds,
            healthy_threshold_count: c.healthy_threshold_count,
            unhealthy_threshold_count: c.unhealthy_threshold_count,
            ..defaults(group, check)
        },
        None => defaults(group, check),
    };
    hc.protocol = check;

    if let Some(port) = p.get("HealthCheckPort") {
        if port != "traffic-port" && !port.parse::<u16>().is_ok_and(|n| n >= 1) {
            return Err(ElbError::Validation(format!(
                "Health check port '{port}' must be 'traffic-port' or a port between 1 and 65535"
            )));
        }
        hc.port = port.to_string();
    }
    if input::boolean(p, "HealthCheckEnabled")? == Some(false) {
        return Err(ElbError::InvalidConfiguration(format!(
            "Health checks cannot be disabled for target groups with target type '{}'",
            target_type.as_str()
        )));
    }
    if let Some(path) = p.get("HealthCheckPath") {
        length("HealthCheckPath", path, 1, 1024)?;
        if !check.is_http() {
            return Err(ElbError::Validation(
                "A health check path can only be specified with HTTP or HTTPS health checks".into(),
            ));
        }
        if !path.starts_with('/') {
            return Err(ElbError::Validation(format!(
                "Health check path '{path}' must begin with a '/' character"
            )));
        }
        hc.path = Some(path.to_string());
    }
    if let Some(v) = input::uint(p, "HealthCheckIntervalSeconds", 5, 300)? {
        hc.interval_seconds = v;
    }
    if let Some(v) = input::uint(p, "HealthCheckTimeoutSeconds", 2, 120)? {
        hc.timeout_seconds = v;
    }
    if let Some(v) = input::uint(p, "HealthyThresholdCount", 2, 10)? {
        hc.healthy_threshold_count = v;
    }
    if let Some(v) = input::uint(p, "UnhealthyThresholdCount", 2, 10)? {
        hc.unhealthy_threshold_count = v;
    }

    let m = p.nested("Matcher");
    if !m.is_empty() {
        if !check.is_http() {
            return Err(ElbError::Validation(
                "A health check matcher can only be specified with HTTP or HTTPS health checks"
                    .into(),
            ));
        }
        if m.get("GrpcCode").is_some() {
            return Err(ElbError::Validation(
                "GrpcCode can only be specified for target groups with protocol version GRPC"
                    .into(),
            ));
        }
        if let Some(codes) = m.get("HttpCode") {
            let hi = if group.is_http() { 499 } else { 599 };
            check_codes("HttpCode", codes, 200, hi)?;
            hc.matcher = Some(Matcher {
                http_code: Some(codes.to_string()),
                grpc_code: None,
            });
        }
    }

    // An HTTP check needs its answer before the next one starts; a TCP
    // check may use the whole interval.
    let (timeout, interval) = (hc.timeout_seconds, hc.interval_seconds);
    if check.is_http() && timeout >= interval {
        return Err(ElbError::Validation(format!(
            "Health check timeout '{timeout}' must be smaller than the interval '{interval}'"
        )));
    }
    if timeout > interval {
        return Err(ElbError::Validation(format!(
            "Health check timeout '{timeout}' must be smaller than or equal to the interval \
             '{interval}'"
        )));
    }
    Ok(hc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hc(pairs: &[(&str, &str)], group: Protocol) -> Result<HealthCheck, ElbError> {
        let p = QueryParams::from_pairs(pairs.iter().copied());
        from_request(&p, group, TargetType::Ip, None)
    }

    fn code(r: Result<HealthCheck, ElbError>) -> &'static str {
        match r {
            Ok(h) => panic!("expected an error, got {h:?}"),
            Err(e) => e.code(),
        }
    }

    #[test]
    fn defaults_by_protocol() {
        let alb = hc(&[], Protocol::Http).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (
                alb.protocol,
                alb.interval_seconds,
                alb.timeout_seconds,
                alb.healthy_threshold_count
            ),
            (Protocol::Http, 30, 5, 5)
        );
        assert_eq!(alb.unhealthy_threshold_count, 2);
        assert_eq!(alb.path.as_deref(), Some("/"));
        assert_eq!(
            alb.matcher.and_then(|m| m.http_code).as_deref(),
            Some("200")
        );
        let nlb = hc(&[], Protocol::Tcp).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (nlb.protocol, nlb.timeout_seconds, nlb.path, nlb.matcher),
            (Protocol::Tcp, 10, None, None)
        );
        let nlb_http =
            hc(&[("HealthCheckProtocol", "HTTP")], Protocol::Tcp).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(nlb_http.timeout_seconds, 6);
        assert_eq!(
            nlb_http.matcher.and_then(|m| m.http_code).as_deref(),
            Some("200-399")
        );
    }

    #[test]
    fn ranges_and_rules() {
        for (pairs, group, want) in [
            (
                vec![("HealthCheckIntervalSeconds", "4")],
                Protocol::Http,
                "ValidationError",
            ),
            (
                vec![("HealthCheckIntervalSeconds", "301")],
                Protocol::Http,
                "ValidationError",
            ),
            (
                vec![("HealthCheckTimeoutSeconds", "1")],
                Protocol::Http,
                "ValidationError",
            ),
            (
                vec![("HealthyThresholdCount", "11")],
                Protocol::Http,
                "ValidationError",
            ),
            (
                vec![("UnhealthyThresholdCount", "1")],
                Protocol::Tcp,
                "ValidationError",
            ),
            (
                vec![("HealthCheckTimeoutSeconds", "30")],
                Protocol::Http,
                "ValidationError",
            ),
            (
                vec![("HealthCheckTimeoutSeconds", "31")],
                Protocol::Tcp,
                "ValidationError",
            ),
            (
                vec![("HealthCheckProtocol", "TCP")],
                Protocol::Http,
                "ValidationError",
            ),
            (
                vec![("HealthCheckProtocol", "UDP")],
                Protocol::Udp,
                "ValidationError",
            ),
            (
                vec![("HealthCheckPath", "/x")],
                Protocol::Tcp,
                "ValidationError",
            ),
            (
                vec![("HealthCheckPath", "x")],
                Protocol::Http,
                "ValidationError",
            ),
            (
                vec![("HealthCheckPort", "0")],
                Protocol::Http,
                "ValidationError",
            ),
            (
                vec![("Matcher.HttpCode", "200-600")],
                Protocol::Http,
                "ValidationError",
            ),
            (
                vec![("Matcher.HttpCode", "abc")],
                Protocol::Http,
                "ValidationError",
            ),
            (
                vec![("Matcher.HttpCode", "200")],
                Protocol::Tcp,
                "ValidationError",
            ),
            (
                vec![("Matcher.GrpcCode", "1")],
                Protocol::Http,
                "ValidationError",
            ),
            (
                vec![("HealthCheckProtocol", "HTTPS")],
                Protocol::Http,
                "InvalidConfigurationRequest",
            ),
            (
                vec![("HealthCheckEnabled", "false")],
                Protocol::Http,
                "InvalidConfigurationRequest",
            ),
        ] {
            assert_eq!(code(hc(&pairs, group)), want, "{pairs:?}");
        }
        let ok = hc(
            &[
                ("HealthCheckTimeoutSeconds", "30"),
                ("HealthCheckPort", "8081"),
                ("Matcher.HttpCode", "200,202,300-399"),
                ("HealthCheckProtocol", "HTTP"),
                ("HealthCheckIntervalSeconds", "31"),
            ],
            Protocol::Tcp,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((ok.port_for(80), ok.timeout_seconds), (8081, 30));
        assert!(hc(&[("HealthCheckTimeoutSeconds", "30")], Protocol::Tcp).is_ok());
    }

    #[test]
    fn switching_kinds() {
        let tcp = hc(&[("HealthCheckIntervalSeconds", "20")], Protocol::Tcp)
            .unwrap_or_else(|e| panic!("{e}"));
        let p = QueryParams::from_pairs([("HealthCheckProtocol", "HTTP")]);
        let http = from_request(&p, Protocol::Tcp, TargetType::Ip, Some(&tcp))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (http.interval_seconds, http.path.as_deref()),
            (20, Some("/"))
        );
        let back = QueryParams::from_pairs([("HealthCheckProtocol", "TCP")]);
        let tcp2 = from_request(&back, Protocol::Tcp, TargetType::Ip, Some(&http))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((tcp2.path, tcp2.matcher), (None, None));
    }
}
