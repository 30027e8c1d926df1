//! Load balancer and target group attributes: AWS's defaults for each
//! kind, and the values AWS accepts. A key the kind does not have is
//! refused as AWS refuses it.
//!
//! Every attribute is listed with AWS's default, but only those the data
//! plane (or this crate) acts on may be changed ([`HONOURED`]); setting
//! another to anything but its default is refused, rather than accepted
//! and ignored. Dockyard's Network Load Balancers proxy connections, so
//! `preserve_client_ip.enabled` is `false` (targets see the load
//! balancer's address).

use std::collections::BTreeMap;

use crate::error::ElbError;
use crate::model::{LoadBalancerType, Protocol, Scheme, TargetType};

pub(crate) const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";
pub(crate) const SLOW_START: &str = "slow_start.duration_seconds";
pub(crate) const ALGORITHM: &str = "load_balancing.algorithm.type";
pub(crate) const ANOMALY_MITIGATION: &str = "load_balancing.algorithm.anomaly_mitigation";
pub(crate) const STICKINESS_ENABLED: &str = "stickiness.enabled";
pub(crate) const STICKINESS_TYPE: &str = "stickiness.type";
pub(crate) const LB_COOKIE_DURATION: &str = "stickiness.lb_cookie.duration_seconds";
pub(crate) const APP_COOKIE_NAME: &str = "stickiness.app_cookie.cookie_name";
pub(crate) const APP_COOKIE_DURATION: &str = "stickiness.app_cookie.duration_seconds";
pub(crate) const IDLE_TIMEOUT: &str = "idle_timeout.timeout_seconds";
pub(crate) const DELETION_PROTECTION: &str = "deletion_protection.enabled";
const CROSS_ZONE: &str = "load_balancing.cross_zone.enabled";

/// The attributes that may differ from their defaults: the ones the data
/// plane implements, deletion protection (checked here), and those that
/// hold trivially with every zone on one machine.
const HONOURED: &[&str] = &[
    DELETION_PROTECTION,
    IDLE_TIMEOUT,
    CROSS_ZONE,
    "dns_record.client_routing_policy",
    DEREGISTRATION_DELAY,
    SLOW_START,
    ALGORITHM,
    ANOMALY_MITIGATION,
    STICKINESS_ENABLED,
    STICKINESS_TYPE,
    LB_COOKIE_DURATION,
    APP_COOKIE_NAME,
    APP_COOKIE_DURATION,
];

/// Refuses a change of an attribute Dockyard does not implement.
fn check_honoured(
    key: &str,
    value: &str,
    defaults: &BTreeMap<String, String>,
) -> Result<(), ElbError> {
    let default = defaults.get(key).map(String::as_str).unwrap_or_default();
    if HONOURED.contains(&key) || value == default {
        return Ok(());
    }
    Err(ElbError::InvalidConfiguration(format!(
        "Attribute '{key}' cannot be set to '{value}': Dockyard's load balancers do not \
         implement it (only its default, '{default}', is accepted)"
    )))
}

/// The values an attribute takes.
#[derive(Clone, Copy)]
enum Values {
    Bool,
    Range(i64, i64),
    Enum(&'static [&'static str]),
    /// `off` or an integer in range.
    OffOr(i64, i64),
    /// 0 (off) or an integer in range.
    ZeroOr(i64, i64),
    Text,
}

fn values_of(key: &str) -> Values {
    match key {
        IDLE_TIMEOUT => Values::Range(1, 4000),
        "client_keep_alive.seconds" => Values::Range(60, 604_800),
        "routing.http.desync_mitigation_mode" => {
            Values::Enum(&["monitor", "defensive", "strictest"])
        }
        "routing.http.xff_header_processing.mode" => {
            Values::Enum(&["append", "preserve", "remove"])
        }
        "dns_record.client_routing_policy" => Values::Enum(&[
            "availability_zone_affinity",
            "partial_availability_zone_affinity",
            "any_availability_zone",
        ]),
        DEREGISTRATION_DELAY => Values::Range(0, 3600),
        SLOW_START => Values::ZeroOr(30, 900),
        ALGORITHM => Values::Enum(&[
            "round_robin",
            "least_outstanding_requests",
            "weighted_random",
        ]),
        ANOMALY_MITIGATION => Values::Enum(&["on", "off"]),
        STICKINESS_TYPE => Values::Enum(&["lb_cookie", "app_cookie", "source_ip"]),
        LB_COOKIE_DURATION | APP_COOKIE_DURATION => Values::Range(1, 604_800),
        "target_group_health.dns_failover.minimum_healthy_targets.count"
        | "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count" => {
            Values::OffOr(1, 1000)
        }
        "target_group_health.dns_failover.minimum_healthy_targets.percentage"
        | "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage" => {
            Values::OffOr(1, 100)
        }
        "target_health_state.unhealthy.draining_interval_seconds" => Values::Range(0, 360_000),
        k if k.ends_with(".enabled") && k != CROSS_ZONE => Values::Bool,
        _ => Values::Text,
    }
}

fn check_value(key: &str, value: &str) -> Result<(), ElbError> {
    let bad = |rule: String| ElbError::Validation(format!("'{key}' value '{value}' {rule}"));
    let int = || value.parse::<i64>().ok();
    match values_of(key) {
        Values::Bool if !matches!(value, "true" | "false") => {
            Err(bad("must be one of [true, false]".into()))
        }
        Values::Range(lo, hi) if !int().is_some_and(|n| (lo..=hi).contains(&n)) => {
            Err(bad(format!("must be between '{lo}-{hi}' inclusive")))
        }
        Values::OffOr(lo, hi)
            if value != "off" && !int().is_some_and(|n| (lo..=hi).contains(&n)) =>
        {
            Err(bad(format!(
                "must be 'off' or between '{lo}-{hi}' inclusive"
            )))
        }
        Values::ZeroOr(lo, hi) if !int().is_some_and(|n| n == 0 || (lo..=hi).contains(&n)) => {
            Err(bad(format!("must be '0' or between '{lo}-{hi}' inclusive")))
        }
        Values::Enum(set) if !set.contains(&value) => {
            Err(bad(format!("must be one of [{}]", set.join(", "))))
        }
        _ => Ok(()),
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A new load balancer's attributes.
pub(crate) fn lb_defaults(kind: LoadBalancerType, scheme: Scheme) -> BTreeMap<String, String> {
    let deny_igw = if scheme == Scheme::Internal {
        "true"
    } else {
        "false"
    };
    let mut m = map(&[
        ("access_logs.s3.enabled", "false"),
        ("access_logs.s3.bucket", ""),
        ("access_logs.s3.prefix", ""),
        (DELETION_PROTECTION, "false"),
        ("ipv6.deny_all_igw_traffic", deny_igw),
        ("zonal_shift.config.enabled", "false"),
    ]);
    match kind {
        LoadBalancerType::Application => m.extend(map(&[
            (IDLE_TIMEOUT, "60"),
            ("client_keep_alive.seconds", "3600"),
            ("connection_logs.s3.enabled", "false"),
            ("connection_logs.s3.bucket", ""),
            ("connection_logs.s3.prefix", ""),
            (CROSS_ZONE, "true"),
            ("routing.http.desync_mitigation_mode", "defensive"),
            ("routing.http.drop_invalid_header_fields.enabled", "false"),
            ("routing.http.preserve_host_header.enabled", "false"),
            (
                "routing.http.x_amzn_tls_version_and_cipher_suite.enabled",
                "false",
            ),
            ("routing.http.xff_client_port.enabled", "false"),
            ("routing.http.xff_header_processing.mode", "append"),
            ("routing.http2.enabled", "true"),
            ("waf.fail_open.enabled", "false"),
        ])),
        LoadBalancerType::Network => m.extend(map(&[
            (CROSS_ZONE, "false"),
            ("dns_record.client_routing_policy", "any_availability_zone"),
        ])),
    }
    m
}

/// `current` with `changes` applied, or the error AWS gives for the
/// first change it refuses.
pub(crate) fn modify_lb(
    kind: LoadBalancerType,
    scheme: Scheme,
    current: &BTreeMap<String, String>,
    changes: &[(String, String)],
) -> Result<BTreeMap<String, String>, ElbError> {
    let defaults = lb_defaults(kind, scheme);
    let mut next = current.clone();
    for (key, value) in changes {
        if !current.contains_key(key) {
            return Err(ElbError::Validation(format!(
                "Load balancer attribute key '{key}' is not recognized"
            )));
        }
        if key == CROSS_ZONE {
            // A plain flag on load balancers (target groups add a third
            // value), and always on for Application Load Balancers.
            if !matches!(value.as_str(), "true" | "false") {
                return Err(ElbError::Validation(format!(
                    "'{key}' value '{value}' must be one of [true, false]"
                )));
            }
            if kind == LoadBalancerType::Application && value == "false" {
                return Err(ElbError::InvalidConfiguration(
                    "Cross-zone load balancing cannot be disabled for Application Load Balancers"
                        .into(),
                ));
            }
        } else {
            check_value(key, value)?;
        }
        next.insert(key.clone(), value.clone());
    }
    for logs in ["access_logs", "connection_logs"] {
        if next.get(&format!("{logs}.s3.enabled")).map(String::as_str) == Some("true") {
            return Err(ElbError::InvalidConfiguration(format!(
                "{logs}.s3.enabled cannot be true: Dockyard does not write load balancer logs \
                 to S3"
            )));
        }
    }
    for (key, value) in changes {
        check_honoured(key, value, &defaults)?;
    }
    Ok(next)
}

/// A new target group's attributes.
pub(crate) fn tg_defaults(
    protocol: Protocol,
    _target_type: TargetType,
) -> BTreeMap<String, String> {
    let mut m = map(&[
        (DEREGISTRATION_DELAY, "300"),
        (CROSS_ZONE, "use_load_balancer_configuration"),
        (STICKINESS_ENABLED, "false"),
        (
            "target_group_health.dns_failover.minimum_healthy_targets.count",
            "1",
        ),
        (
            "target_group_health.dns_failover.minimum_healthy_targets.percentage",
            "off",
        ),
        (
            "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count",
            "1",
        ),
        (
            "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage",
            "off",
        ),
    ]);
    if protocol.is_http() {
        m.extend(map(&[
            (ALGORITHM, "round_robin"),
            (ANOMALY_MITIGATION, "off"),
            (SLOW_START, "0"),
            (STICKINESS_TYPE, "lb_cookie"),
            (LB_COOKIE_DURATION, "86400"),
            (APP_COOKIE_NAME, ""),
            (APP_COOKIE_DURATION, "86400"),
        ]));
    } else {
        let udp = matches!(protocol, Protocol::Udp | Protocol::TcpUdp);
        let flag = |b: bool| if b { "true" } else { "false" };
        m.extend(map(&[
            (STICKINESS_TYPE, "source_ip"),
            (
                "deregistration_delay.connection_termination.enabled",
                flag(udp),
            ),
            ("preserve_client_ip.enabled", "false"),
            ("proxy_protocol_v2.enabled", "false"),
            (
                "target_health_state.unhealthy.connection_termination.enabled",
                flag(!udp),
            ),
            (
                "target_health_state.unhealthy.draining_interval_seconds",
                "0",
            ),
        ]));
    }
    m
}

/// `current` with `changes` applied, checked as a whole.
pub(crate) fn modify_tg(
    protocol: Protocol,
    target_type: TargetType,
    current: &BTreeMap<String, String>,
    changes: &[(String, String)],
) -> Result<BTreeMap<String, String>, ElbError> {
    let defaults = tg_defaults(protocol, target_type);
    let mut next = current.clone();
    for (key, value) in changes {
        if !current.contains_key(key) {
            return Err(ElbError::Validation(format!(
                "Target group attribute key '{key}' is not recognized"
            )));
        }
        if key != CROSS_ZONE {
            check_value(key, value)?;
        } else if !matches!(
            value.as_str(),
            "true" | "false" | "use_load_balancer_configuration"
        ) {
            return Err(ElbError::Validation(format!(
                "'{key}' value '{value}' must be one of [true, false, \
                 use_load_balancer_configuration]"
            )));
        }
        next.insert(key.clone(), value.clone());
    }
    let get = |k: &str| next.get(k).map(String::as_str).unwrap_or_default();
    let stickiness = get(STICKINESS_TYPE);
    let allowed: &[&str] = if protocol.is_http() {
        &["lb_cookie", "app_cookie"]
    } else {
        &["source_ip"]
    };
    if !allowed.contains(&stickiness) {
        return Err(ElbError::InvalidConfiguration(format!(
            "Stickiness type '{stickiness}' is not supported for target groups with the {} \
             protocol",
            protocol.as_str()
        )));
    }
    if protocol.is_http() {
        let cookie = get(APP_COOKIE_NAME);
        if ["AWSALB", "AWSALBAPP", "AWSALBTG"]
            .iter()
            .any(|p| cookie.starts_with(p))
        {
            return Err(ElbError::Validation(format!(
                "Application cookie name '{cookie}' is reserved: names starting with AWSALB, \
                 AWSALBAPP or AWSALBTG are used by the load balancer"
            )));
        }
        if get(STICKINESS_ENABLED) == "true" && stickiness == "app_cookie" && cookie.is_empty() {
            return Err(ElbError::InvalidConfiguration(
                "You must set an application cookie name to enable stickiness of type \
                 'app_cookie'"
                    .into(),
            ));
        }
        if get(ANOMALY_MITIGATION) == "on" && get(ALGORITHM) != "weighted_random" {
            return Err(ElbError::InvalidConfiguration(
                "Anomaly mitigation can only be enabled with the weighted_random load \
                 balancing algorithm"
                    .into(),
            ));
        }
    }
    // What AWS accepts but the data plane does not do.
    if get(ALGORITHM) == "weighted_random" {
        return Err(ElbError::InvalidConfiguration(
            "The weighted_random load balancing algorithm is not supported by Dockyard; use \
             round_robin or least_outstanding_requests"
                .into(),
        ));
    }
    if get(STICKINESS_ENABLED) == "true" && stickiness != "lb_cookie" {
        return Err(ElbError::InvalidConfiguration(format!(
            "Stickiness of type '{stickiness}' is not supported by Dockyard; use lb_cookie on \
             HTTP target groups"
        )));
    }
    for (key, value) in changes {
        check_honoured(key, value, &defaults)?;
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn lb_attributes() {
        let alb = lb_defaults(LoadBalancerType::Application, Scheme::InternetFacing);
        assert_eq!(alb[IDLE_TIMEOUT], "60");
        assert!(alb.len() <= 20, "the model's list holds at most 20");
        let nlb = lb_defaults(LoadBalancerType::Network, Scheme::Internal);
        assert_eq!(nlb[CROSS_ZONE], "false");
        assert_eq!(nlb["ipv6.deny_all_igw_traffic"], "true");
        assert!(!nlb.contains_key(IDLE_TIMEOUT));

        let ok = modify_lb(
            LoadBalancerType::Application,
            Scheme::InternetFacing,
            &alb,
            &[kv(IDLE_TIMEOUT, "120")],
        );
        assert_eq!(
            ok.ok().map(|m| m[IDLE_TIMEOUT].clone()).as_deref(),
            Some("120")
        );
        let e = |kind, m: &BTreeMap<String, String>, c: (String, String)| {
            let scheme = if kind == LoadBalancerType::Network {
                Scheme::Internal
            } else {
                Scheme::InternetFacing
            };
            modify_lb(kind, scheme, m, &[c])
                .err()
                .map(|e| (e.code(), e.to_string()))
        };
        let app = LoadBalancerType::Application;
        assert_eq!(
            e(app, &alb, kv(IDLE_TIMEOUT, "0")),
            Some((
                "ValidationError",
                "'idle_timeout.timeout_seconds' value '0' must be between '1-4000' inclusive"
                    .into()
            ))
        );
        assert_eq!(
            e(app, &alb, kv("nope", "1")).map(|e| e.0),
            Some("ValidationError")
        );
        assert_eq!(
            e(LoadBalancerType::Network, &nlb, kv(IDLE_TIMEOUT, "60")).map(|e| e.0),
            Some("ValidationError")
        );
        assert_eq!(
            e(app, &alb, kv(DELETION_PROTECTION, "yes")).map(|e| e.0),
            Some("ValidationError")
        );
        assert_eq!(
            e(app, &alb, kv(CROSS_ZONE, "false")).map(|e| e.0),
            Some("InvalidConfigurationRequest")
        );
        assert!(
            modify_lb(
                LoadBalancerType::Network,
                Scheme::Internal,
                &nlb,
                &[kv(CROSS_ZONE, "true")]
            )
            .is_ok()
        );
        // Attributes the data plane does not implement keep their defaults.
        assert_eq!(
            e(app, &alb, kv("routing.http2.enabled", "false")).map(|e| e.0),
            Some("InvalidConfigurationRequest")
        );
        assert!(
            modify_lb(
                app,
                Scheme::InternetFacing,
                &alb,
                &[kv("routing.http2.enabled", "true")]
            )
            .is_ok(),
            "setting a default is fine"
        );
        assert_eq!(
            e(LoadBalancerType::Network, &nlb, kv(CROSS_ZONE, "maybe")).map(|e| e.0),
            Some("ValidationError")
        );
        assert_eq!(
            e(app, &alb, kv("access_logs.s3.enabled", "true")).map(|e| e.0),
            Some("InvalidConfigurationRequest")
        );
        assert_eq!(
            e(
                app,
                &alb,
                kv("routing.http.xff_header_processing.mode", "drop")
            )
            .map(|e| e.0),
            Some("ValidationError")
        );
    }

    #[test]
    fn tg_attributes() {
        let http = tg_defaults(Protocol::Http, TargetType::Ip);
        assert_eq!(http[DEREGISTRATION_DELAY], "300");
        assert_eq!(http[STICKINESS_TYPE], "lb_cookie");
        assert_eq!(http[ALGORITHM], "round_robin");
        let tcp = tg_defaults(Protocol::Tcp, TargetType::Ip);
        assert_eq!(tcp["preserve_client_ip.enabled"], "false");
        assert_eq!(
            tg_defaults(Protocol::Udp, TargetType::Ip)["deregistration_delay.connection_termination.enabled"],
            "true"
        );
        assert!(!tcp.contains_key(SLOW_START));

        let m = |p, cur: &BTreeMap<String, String>, c: &[(String, String)]| {
            modify_tg(p, TargetType::Ip, cur, c).map_err(|e| e.code())
        };
        let done = m(
            Protocol::Http,
            &http,
            &[
                kv(DEREGISTRATION_DELAY, "0"),
                kv(SLOW_START, "30"),
                kv(ALGORITHM, "least_outstanding_requests"),
                kv(STICKINESS_ENABLED, "true"),
                kv(LB_COOKIE_DURATION, "60"),
            ],
        );
        assert_eq!(
            done.map(|d| d[ALGORITHM].clone()).as_deref(),
            Ok("least_outstanding_requests")
        );
        for bad in [
            kv(DEREGISTRATION_DELAY, "3601"),
            kv(SLOW_START, "10"),
            kv(ALGORITHM, "random"),
            kv(LB_COOKIE_DURATION, "0"),
            kv("proxy_protocol_v2.enabled", "false"),
            kv(APP_COOKIE_NAME, "AWSALBmine"),
        ] {
            assert_eq!(
                m(Protocol::Http, &http, std::slice::from_ref(&bad)).err(),
                Some("ValidationError"),
                "{bad:?}"
            );
        }
        assert_eq!(
            m(Protocol::Http, &http, &[kv(STICKINESS_TYPE, "source_ip")]).err(),
            Some("InvalidConfigurationRequest")
        );
        assert_eq!(
            m(Protocol::Tcp, &tcp, &[kv(STICKINESS_TYPE, "lb_cookie")]).err(),
            Some("InvalidConfigurationRequest")
        );
        assert_eq!(
            m(
                Protocol::Http,
                &http,
                &[
                    kv(STICKINESS_ENABLED, "true"),
                    kv(STICKINESS_TYPE, "app_cookie")
                ]
            )
            .err(),
            Some("InvalidConfigurationRequest")
        );
        assert_eq!(
            m(Protocol::Http, &http, &[kv(ANOMALY_MITIGATION, "on")]).err(),
            Some("InvalidConfigurationRequest")
        );
        assert!(
            m(
                Protocol::Tcp,
                &tcp,
                &[kv("proxy_protocol_v2.enabled", "false")]
            )
            .is_ok()
        );
        assert_eq!(
            m(
                Protocol::Tcp,
                &tcp,
                &[kv("proxy_protocol_v2.enabled", "true")]
            )
            .err(),
            Some("InvalidConfigurationRequest")
        );
        for unsupported in [
            vec![kv(ALGORITHM, "weighted_random")],
            vec![
                kv(STICKINESS_ENABLED, "true"),
                kv(STICKINESS_TYPE, "app_cookie"),
                kv(APP_COOKIE_NAME, "session"),
            ],
        ] {
            assert_eq!(
                m(Protocol::Http, &http, &unsupported).err(),
                Some("InvalidConfigurationRequest")
            );
        }
        assert_eq!(
            m(Protocol::Tcp, &tcp, &[kv(STICKINESS_ENABLED, "true")]).err(),
            Some("InvalidConfigurationRequest")
        );
        assert!(m(Protocol::Http, &http, &[kv(SLOW_START, "0")]).is_ok());
    }
}
