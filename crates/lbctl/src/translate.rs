//! The ELBv2 API's read model ([`dockyard_elbv2::Snapshot`]) as the data
//! plane's configuration ([`dockyard_lb::LbConfig`]).
//!
//! Pure: the caller passes the address listeners bind on and the node
//! addresses instance targets resolve to.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use dockyard_elbv2::model::{self as api, ActionKind, LoadBalancerType, TargetType};
use dockyard_elbv2::{Algorithm as ApiAlgorithm, Snapshot, TargetGroupView};
use dockyard_lb::{
    Action, Algorithm, Condition, FixedResponseConfig, ForwardConfig, HealthCheck, HealthCheckPort,
    LbConfig, ListenerCertificate, ListenerConfig, LoadBalancerKind, Matcher, Protocol,
    QueryStringPair, RedirectConfig, RedirectStatus, Rule, Target, TargetGroupConfig,
    WeightedTargetGroup,
};

/// Where each registered target's traffic goes: `(target group ARN,
/// target id, port)` to the address the data plane sends it to.
pub type TargetAddresses = BTreeMap<(String, String, u16), IpAddr>;

/// A snapshot translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    pub config: LbConfig,
    pub targets: TargetAddresses,
    /// What could not be served and why (an instance target on an unknown
    /// instance, a value the data plane refuses); each is logged, the rest
    /// is served.
    pub skipped: Vec<String>,
}

/// Translates `snap`: listeners bind on `bind_ip` at their port; instance
/// targets go to `instances[id]` (the node's address), IP targets to
/// their own address; HTTPS listeners serve `certificates[arn]` for their
/// certificate ARNs (a listener whose default certificate is missing is
/// not served).
pub fn translate(
    snap: &Snapshot,
    bind_ip: IpAddr,
    instances: &BTreeMap<String, IpAddr>,
    certificates: &BTreeMap<String, ListenerCertificate>,
) -> Translation {
    let mut skipped = Vec::new();
    let mut targets = TargetAddresses::new();
    let mut target_groups = BTreeMap::new();
    for tg in &snap.target_groups {
        let cfg = target_group(tg, instances, &mut targets, &mut skipped);
        target_groups.insert(tg.arn.clone(), cfg);
    }
    let mut listeners = Vec::new();
    for lb in &snap.load_balancers {
        let kind = match lb.kind {
            LoadBalancerType::Application => LoadBalancerKind::Application,
            LoadBalancerType::Network => LoadBalancerKind::Network,
        };
        let idle_timeout = match kind {
            LoadBalancerKind::Application => lb
                .idle_timeout_seconds
                .map_or(ListenerConfig::ALB_IDLE_TIMEOUT, |s| {
                    Duration::from_secs(u64::from(s))
                }),
            LoadBalancerKind::Network => ListenerConfig::NLB_IDLE_TIMEOUT,
        };
        for l in &lb.listeners {
            let rules = l
                .rules
                .iter()
                .filter_map(|r| {
                    let conditions: Result<Vec<Condition>, String> =
                        r.conditions.iter().map(condition).collect();
                    match conditions {
                        Ok(conditions) => Some(Rule {
                            priority: r.priority,
                            conditions,
                            actions: r.actions.iter().map(action).collect(),
                        }),
                        Err(why) => {
                            skipped.push(format!("rule {}: {why}", r.arn));
                            None
                        }
                    }
                })
                .collect();
            let mut served = Vec::new();
            for (i, arn) in l.certificates.iter().enumerate() {
                match certificates.get(arn) {
                    Some(c) => served.push(c.clone()),
                    None if i == 0 => {
                        skipped.push(format!(
                            "listener {}: its default certificate {arn} does not exist",
                            l.arn
                        ));
                    }
                    None => skipped.push(format!(
                        "listener {}: certificate {arn} does not exist",
                        l.arn
                    )),
                }
            }
            if l.protocol == api::Protocol::Https
                && l.certificates
                    .first()
                    .is_none_or(|d| !certificates.contains_key(d))
            {
                continue;
            }
            listeners.push(ListenerConfig {
                arn: l.arn.clone(),
                load_balancer_arn: lb.arn.clone(),
                kind,
                bind: SocketAddr::new(bind_ip, l.port),
                protocol: protocol(l.protocol),
                rules,
                default_actions: l.default_actions.iter().map(action).collect(),
                idle_timeout,
                certificates: served,
            });
        }
    }
    Translation {
        config: LbConfig {
            listeners,
            target_groups,
        },
        targets,
        skipped,
    }
}

fn protocol(p: api::Protocol) -> Protocol {
    match p {
        api::Protocol::Http => Protocol::Http,
        api::Protocol::Https => Protocol::Https,
        api::Protocol::Tcp => Protocol::Tcp,
        api::Protocol::Tls => Protocol::Tls,
        api::Protocol::Udp => Protocol::Udp,
        api::Protocol::TcpUdp => Protocol::TcpUdp,
    }
}

fn system_time(t: chrono::DateTime<chrono::Utc>) -> SystemTime {
    SystemTime::from(t)
}

fn target_group(
    tg: &TargetGroupView,
    instances: &BTreeMap<String, IpAddr>,
    addresses: &mut TargetAddresses,
    skipped: &mut Vec<String>,
) -> TargetGroupConfig {
    let mut cfg = TargetGroupConfig::new(&tg.arn, protocol(tg.protocol));
    cfg.health_check = health_check(&tg.health_check, skipped, &tg.arn);
    cfg.deregistration_delay = Duration::from_secs(u64::from(tg.deregistration_delay_seconds));
    cfg.slow_start = Duration::from_secs(u64::from(tg.slow_start_seconds));
    cfg.algorithm = match tg.algorithm {
        ApiAlgorithm::LeastOutstandingRequests => Algorithm::LeastOutstandingRequests,
        // The data plane has no weighted random; round robin is its
        // nearest (the API accepts the value, as AWS does).
        ApiAlgorithm::RoundRobin | ApiAlgorithm::WeightedRandom => Algorithm::RoundRobin,
    };
    cfg.stickiness = tg
        .stickiness
        .as_ref()
        .filter(|s| s.kind == "lb_cookie")
        .map(|s| Duration::from_secs(u64::from(s.duration_seconds.unwrap_or(86_400))));
    for t in &tg.targets {
        let ip = match tg.target_type {
            TargetType::Ip => t.id.parse::<IpAddr>().ok(),
            TargetType::Instance => instances.get(&t.id).copied(),
        };
        let Some(ip) = ip else {
            skipped.push(format!(
                "target {}:{} of {}: no address known for it",
                t.id, t.port, tg.arn
            ));
            continue;
        };
        addresses.insert((tg.arn.clone(), t.id.clone(), t.port), ip);
        cfg.targets.push(Target {
            ip,
            port: t.port,
            draining_since: t.draining_since.map(system_time),
        });
    }
    cfg
}

fn health_check(hc: &api::HealthCheck, skipped: &mut Vec<String>, arn: &str) -> HealthCheck {
    let mut out = HealthCheck::defaults_for(protocol(hc.protocol));
    out.enabled = hc.enabled;
    out.protocol = protocol(hc.protocol);
    match hc.port.parse::<HealthCheckPort>() {
        Ok(p) => out.port = p,
        Err(e) => skipped.push(format!("health check port of {arn}: {e}")),
    }
    if let Some(path) = &hc.path {
        out.path = path.clone();
    }
    out.interval = Duration::from_secs(u64::from(hc.interval_seconds));
    out.timeout = Duration::from_secs(u64::from(hc.timeout_seconds));
    out.healthy_threshold = hc.healthy_threshold_count;
    out.unhealthy_threshold = hc.unhealthy_threshold_count;
    if let Some(code) = hc.matcher.as_ref().and_then(|m| m.http_code.as_deref()) {
        match code.parse::<Matcher>() {
            Ok(m) => out.matcher = m,
            Err(e) => skipped.push(format!("health check matcher of {arn}: {e}")),
        }
    }
    out
}

fn action(a: &api::Action) -> Action {
    match &a.kind {
        ActionKind::Forward(f) => Action::Forward(ForwardConfig {
            target_groups: f
                .target_groups
                .iter()
                .map(|w| WeightedTargetGroup {
                    arn: w.target_group_arn.clone(),
                    weight: w.weight,
                })
                .collect(),
            stickiness: f
                .stickiness_seconds
                .map(|s| Duration::from_secs(u64::from(s))),
        }),
        ActionKind::Redirect(r) => Action::Redirect(RedirectConfig {
            protocol: Some(r.protocol.clone()),
            host: Some(r.host.clone()),
            port: Some(r.port.clone()),
            path: Some(r.path.clone()),
            query: Some(r.query.clone()),
            status: match r.status_code {
                api::RedirectStatus::Http301 => RedirectStatus::Permanent,
                api::RedirectStatus::Http302 => RedirectStatus::Found,
            },
        }),
        ActionKind::FixedResponse(f) => Action::FixedResponse(FixedResponseConfig {
            status: f.status_code.parse().unwrap_or(500),
            content_type: f.content_type.clone(),
            body: f.message_body.clone(),
        }),
    }
}

fn condition(c: &api::Condition) -> Result<Condition, String> {
    Ok(match c {
        api::Condition::HostHeader { values } => Condition::HostHeader(values.clone()),
        api::Condition::PathPattern { values } => Condition::PathPattern(values.clone()),
        api::Condition::HttpHeader { name, values } => Condition::HttpHeader {
            name: name.clone(),
            values: values.clone(),
        },
        api::Condition::HttpRequestMethod { values } => {
            Condition::HttpRequestMethod(values.clone())
        }
        api::Condition::QueryString { values } => Condition::QueryString(
            values
                .iter()
                .map(|p| QueryStringPair {
                    key: p.key.clone(),
                    value: p.value.clone(),
                })
                .collect(),
        ),
        api::Condition::SourceIp { values } => Condition::SourceIp(
            values
                .iter()
                .map(|v| v.parse().map_err(|e| format!("source-ip {v}: {e}")))
                .collect::<Result<_, _>>()?,
        ),
    })
}
