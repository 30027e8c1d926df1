//! The read model for the data plane: every load balancer with its
//! listeners and rules, every target group with its settings and
//! targets, as plain values read at one store revision. The data plane
//! rebuilds it when anything under [`crate::WATCH_PREFIX`] changes (watch
//! from [`Snapshot::revision`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use dockyard_store::{Revision, Store};

use crate::attrs;
use crate::error::ElbError;
use crate::model::{
    Action, Condition, HealthCheck, LoadBalancerType, Protocol, Scheme, TargetGroupRecord,
    TargetType, Zone,
};
use crate::render::dns_name;
use crate::state::{Change, State, write};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// The store revision this was read at.
    pub revision: Revision,
    /// By name.
    pub load_balancers: Vec<LoadBalancerView>,
    /// By name.
    pub target_groups: Vec<TargetGroupView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadBalancerView {
    pub arn: String,
    pub name: String,
    pub account: String,
    pub kind: LoadBalancerType,
    pub scheme: Scheme,
    pub dns_name: String,
    pub zones: Vec<Zone>,
    /// `idle_timeout.timeout_seconds` (Application Load Balancers).
    pub idle_timeout_seconds: Option<u32>,
    /// Every attribute, as DescribeLoadBalancerAttributes shows them.
    pub attributes: BTreeMap<String, String>,
    /// By port.
    pub listeners: Vec<ListenerView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListenerView {
    pub arn: String,
    /// Bound on the server's load balancer address.
    pub port: u16,
    pub protocol: Protocol,
    /// What the default rule does (when no rule matches).
    pub default_actions: Vec<Action>,
    /// By priority, lowest (evaluated first) first.
    pub rules: Vec<RuleView>,
    /// HTTPS: ACM certificate ARNs, the default one first.
    pub certificates: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleView {
    pub arn: String,
    pub priority: u32,
    /// All must match.
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    RoundRobin,
    LeastOutstandingRequests,
    WeightedRandom,
}

/// Target stickiness when enabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stickiness {
    /// `lb_cookie`, `app_cookie` or `source_ip`.
    pub kind: String,
    /// Cookie lifetime (cookie kinds).
    pub duration_seconds: Option<u32>,
    /// The application's cookie (`app_cookie`).
    pub cookie_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetGroupView {
    pub arn: String,
    pub name: String,
    pub protocol: Protocol,
    pub protocol_version: Option<String>,
    pub port: u16,
    pub target_type: TargetType,
    pub health_check: HealthCheck,
    pub deregistration_delay_seconds: u32,
    /// 0 when off.
    pub slow_start_seconds: u32,
    pub algorithm: Algorithm,
    pub stickiness: Option<Stickiness>,
    /// Every attribute, as DescribeTargetGroupAttributes shows them.
    pub attributes: BTreeMap<String, String>,
    /// The load balancers forwarding to the group.
    pub load_balancer_arns: Vec<String>,
    /// Registered and draining targets, by id then port.
    pub targets: Vec<TargetView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetView {
    /// An IP address (`ip` groups), or an instance id (`instance` groups)
    /// that whoever feeds the data plane resolves to its node's address.
    pub id: String,
    pub port: u16,
    pub availability_zone: Option<String>,
    pub registered_at: DateTime<Utc>,
    /// When deregistration began: send no new requests, let open ones
    /// finish until `drain_until`.
    pub draining_since: Option<DateTime<Utc>>,
    pub drain_until: Option<DateTime<Utc>>,
}

fn number(attrs: &BTreeMap<String, String>, key: &str) -> Option<u32> {
    attrs.get(key).and_then(|v| v.parse().ok())
}

fn group_view(state: &State, tg: &TargetGroupRecord) -> TargetGroupView {
    let a = &tg.attributes;
    let get = |k: &str| a.get(k).map(String::as_str);
    let algorithm = match get(attrs::ALGORITHM) {
        Some("least_outstanding_requests") => Algorithm::LeastOutstandingRequests,
        Some("weighted_random") => Algorithm::WeightedRandom,
        _ => Algorithm::RoundRobin,
    };
    let stickiness = (get(attrs::STICKINESS_ENABLED) == Some("true")).then(|| {
        let kind = get(attrs::STICKINESS_TYPE)
            .unwrap_or("lb_cookie")
            .to_string();
        let (duration_seconds, cookie_name) = match kind.as_str() {
            "lb_cookie" => (number(a, attrs::LB_COOKIE_DURATION), None),
            "app_cookie" => (
                number(a, attrs::APP_COOKIE_DURATION),
                get(attrs::APP_COOKIE_NAME).map(str::to_string),
            ),
            _ => (None, None),
        };
        Stickiness {
            kind,
            duration_seconds,
            cookie_name,
        }
    });
    TargetGroupView {
        arn: tg.arn.clone(),
        name: tg.name.clone(),
        protocol: tg.protocol,
        protocol_version: tg.protocol_version.clone(),
        port: tg.port,
        target_type: tg.target_type,
        health_check: tg.health_check.clone(),
        deregistration_delay_seconds: number(a, attrs::DEREGISTRATION_DELAY).unwrap_or(300),
        slow_start_seconds: number(a, attrs::SLOW_START).unwrap_or(0),
        algorithm,
        stickiness,
        attributes: a.clone(),
        load_balancer_arns: state.users_of(&tg.arn).into_iter().collect(),
        targets: state
            .targets_of(&tg.id)
            .map(|t| TargetView {
                id: t.id.clone(),
                port: t.port,
                availability_zone: t.availability_zone.clone(),
                registered_at: t.registered_at,
                draining_since: t.deregistered_at,
                drain_until: state.drain_until(t),
            })
            .collect(),
    }
}

/// Everything the data plane needs, read at one revision.
pub fn snapshot(store: &dyn Store) -> Result<Snapshot, ElbError> {
    let state = State::load(store)?;
    let mut load_balancers: Vec<LoadBalancerView> = state
        .lbs
        .values()
        .map(|lb| LoadBalancerView {
            arn: lb.arn.clone(),
            name: lb.name.clone(),
            account: lb.account.clone(),
            kind: lb.kind,
            scheme: lb.scheme,
            dns_name: dns_name(&lb.name, &lb.id),
            zones: lb.zones.clone(),
            idle_timeout_seconds: number(&lb.attributes, attrs::IDLE_TIMEOUT),
            attributes: lb.attributes.clone(),
            listeners: state
                .listeners_of(&lb.id)
                .into_iter()
                .map(|l| ListenerView {
                    arn: l.arn.clone(),
                    port: l.port,
                    protocol: l.protocol,
                    certificates: l.certificates.clone(),
                    default_actions: l.default_actions.clone(),
                    rules: state
                        .rules_of(&l.id)
                        .into_iter()
                        .map(|r| RuleView {
                            arn: r.arn.clone(),
                            priority: r.priority,
                            conditions: r.conditions.clone(),
                            actions: r.actions.clone(),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    load_balancers.sort_by(|a, b| (&a.account, &a.name).cmp(&(&b.account, &b.name)));
    let mut target_groups: Vec<TargetGroupView> = state
        .tgs
        .values()
        .map(|tg| group_view(&state, tg))
        .collect();
    target_groups.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.arn.cmp(&b.arn)));
    Ok(Snapshot {
        revision: state.revision,
        load_balancers,
        target_groups,
    })
}

/// Forgets registrations whose draining ended before `now` (every write
/// does this too; a server calls it now and then so they go even when
/// nothing else is written).
pub fn purge_drained_targets(store: &dyn Store, now: DateTime<Utc>) -> Result<(), ElbError> {
    write(store, now, |_| Ok((Change::default(), ())))
}
