//! What ELBv2 keeps in the state store, and the types the data plane reads
//! in a [`crate::Snapshot`].
//!
//! Layout, all under [`PREFIX`]:
//! - `elbv2/gen`: the generation; every write compares and bumps it, so a
//!   change spanning several records commits whole or not at all, and
//!   checks across records (a port in use on any load balancer, a
//!   priority in use, a target group still referenced) hold at commit.
//! - `elbv2/lbs/ID`, `elbv2/tgs/ID`, `elbv2/listeners/ID`,
//!   `elbv2/rules/ID`: one record each (ID is the last part of the ARN).
//! - `elbv2/targets/TGID/TARGET/PORT`: one per registration, kept after
//!   deregistration until the target group's deregistration delay passes
//!   so the data plane can drain it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Everything ELBv2 stores is under this prefix; watch it to follow
/// changes.
pub const PREFIX: &str = "elbv2/";
pub(crate) const GEN_KEY: &str = "elbv2/gen";
pub(crate) const LBS: &str = "elbv2/lbs/";
pub(crate) const TGS: &str = "elbv2/tgs/";
pub(crate) const LISTENERS: &str = "elbv2/listeners/";
pub(crate) const RULES: &str = "elbv2/rules/";
pub(crate) const TARGETS: &str = "elbv2/targets/";

pub(crate) fn lb_key(id: &str) -> String {
    format!("{LBS}{id}")
}

pub(crate) fn tg_key(id: &str) -> String {
    format!("{TGS}{id}")
}

pub(crate) fn listener_key(id: &str) -> String {
    format!("{LISTENERS}{id}")
}

pub(crate) fn rule_key(id: &str) -> String {
    format!("{RULES}{id}")
}

pub(crate) fn targets_prefix(tg_id: &str) -> String {
    format!("{TARGETS}{tg_id}/")
}

/// Ports are zero-padded so a target's registrations list in port order.
pub(crate) fn target_key(tg_id: &str, id: &str, port: u16) -> String {
    format!("{TARGETS}{tg_id}/{id}/{port:05}")
}

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant),+
        }

        impl $name {
            /// Every value, as the wire spells it.
            pub const WIRE: &'static [&'static str] = &[$($wire),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire),+
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($wire => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

wire_enum!(
    /// `Type` of a load balancer. Gateway Load Balancers are not served.
    LoadBalancerType {
        Application = "application",
        Network = "network",
    }
);

impl LoadBalancerType {
    /// The ARN's type segment: `app` or `net`.
    pub fn arn_segment(self) -> &'static str {
        match self {
            Self::Application => "app",
            Self::Network => "net",
        }
    }
}

wire_enum!(Scheme {
    InternetFacing = "internet-facing",
    Internal = "internal",
});

wire_enum!(
    /// Listener, target group and health check protocols.
    Protocol {
        Http = "HTTP",
        Https = "HTTPS",
        Tcp = "TCP",
        Tls = "TLS",
        Udp = "UDP",
        TcpUdp = "TCP_UDP",
    }
);

impl Protocol {
    pub fn is_http(self) -> bool {
        matches!(self, Self::Http | Self::Https)
    }
}

wire_enum!(
    /// How targets are named: instance ids or IP addresses. Lambda and ALB
    /// targets are not served.
    TargetType {
        Instance = "instance",
        Ip = "ip",
    }
);

wire_enum!(RedirectStatus {
    Http301 = "HTTP_301",
    Http302 = "HTTP_302",
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// One subnet a load balancer was created in, and the zone it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zone {
    pub subnet_id: String,
    pub zone_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancerRecord {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub account: String,
    pub region: String,
    pub kind: LoadBalancerType,
    pub scheme: Scheme,
    pub ip_address_type: String,
    pub zones: Vec<Zone>,
    pub security_groups: Vec<String>,
    pub created: DateTime<Utc>,
    pub attributes: BTreeMap<String, String>,
    pub tags: Vec<Tag>,
}

/// A target group's health check, with AWS's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// Always true for instance and ip targets (AWS refuses to disable
    /// it); kept for the wire shape.
    pub enabled: bool,
    pub protocol: Protocol,
    /// `traffic-port` (the target's own port) or a port number.
    pub port: String,
    /// Only for HTTP and HTTPS checks.
    pub path: Option<String>,
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    pub healthy_threshold_count: u32,
    pub unhealthy_threshold_count: u32,
    /// Only for HTTP and HTTPS checks.
    pub matcher: Option<Matcher>,
}

impl HealthCheck {
    /// The port to probe for a target listening on `target_port`.
    pub fn port_for(&self, target_port: u16) -> u16 {
        self.port.parse().unwrap_or(target_port)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matcher {
    /// e.g. `200`, `200,202`, `200-299`.
    pub http_code: Option<String>,
    /// For gRPC target groups.
    pub grpc_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroupRecord {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub account: String,
    pub region: String,
    pub protocol: Protocol,
    /// `HTTP1`, `HTTP2` or `GRPC` for HTTP and HTTPS groups.
    pub protocol_version: Option<String>,
    pub port: u16,
    pub vpc_id: String,
    pub target_type: TargetType,
    pub ip_address_type: String,
    pub health_check: HealthCheck,
    pub created: DateTime<Utc>,
    pub attributes: BTreeMap<String, String>,
    pub tags: Vec<Tag>,
}

/// A forward target and its share of the traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightedTargetGroup {
    pub target_group_arn: String,
    /// 0 to 999; 1 when not given.
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forward {
    /// One or more (ALB: at most 5; NLB: exactly 1).
    pub target_groups: Vec<WeightedTargetGroup>,
    /// Target group stickiness: `Some(duration in seconds)` when enabled.
    pub stickiness_seconds: Option<u32>,
}

/// A redirect with AWS's defaults filled in: components not given keep
/// the request's own (`#{protocol}`, `#{host}`, `#{port}`, `/#{path}`,
/// `#{query}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    pub protocol: String,
    pub port: String,
    pub host: String,
    pub path: String,
    pub query: String,
    pub status_code: RedirectStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedResponse {
    /// `2XX`, `4XX` or `5XX`.
    pub status_code: String,
    pub content_type: Option<String>,
    pub message_body: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ActionKind {
    Forward(Forward),
    Redirect(Redirect),
    FixedResponse(FixedResponse),
}

impl ActionKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Forward(_) => "forward",
            Self::Redirect(_) => "redirect",
            Self::FixedResponse(_) => "fixed-response",
        }
    }
}

/// A listener's or rule's action. Each has exactly one, the routing
/// action (authentication actions need HTTPS listeners, which need
/// certificates Dockyard has no store for).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// As given (AWS echoes it only when it was given).
    pub order: Option<u32>,
    pub kind: ActionKind,
}

impl Action {
    /// The target groups this action forwards to.
    pub fn target_group_arns(&self) -> impl Iterator<Item = &str> {
        let groups = match &self.kind {
            ActionKind::Forward(f) => f.target_groups.as_slice(),
            _ => &[],
        };
        groups.iter().map(|t| t.target_group_arn.as_str())
    }
}

/// A key/value (or bare value) a query-string condition looks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryPair {
    pub key: Option<String>,
    pub value: String,
}

/// A rule condition. Values may use `*` and `?` wildcards where AWS
/// allows them (regular expression values are not served).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "field", rename_all = "kebab-case")]
pub enum Condition {
    /// Host names, case-insensitive.
    HostHeader {
        values: Vec<String>,
    },
    /// Path patterns, case-sensitive, on the path only.
    PathPattern {
        values: Vec<String>,
    },
    /// A header's value patterns, case-insensitive.
    HttpHeader {
        name: String,
        values: Vec<String>,
    },
    /// Exact method names.
    HttpRequestMethod {
        values: Vec<String>,
    },
    QueryString {
        values: Vec<QueryPair>,
    },
    /// CIDR blocks the client's address must be in.
    SourceIp {
        values: Vec<String>,
    },
}

impl Condition {
    pub fn field(&self) -> &'static str {
        match self {
            Self::HostHeader { .. } => "host-header",
            Self::PathPattern { .. } => "path-pattern",
            Self::HttpHeader { .. } => "http-header",
            Self::HttpRequestMethod { .. } => "http-request-method",
            Self::QueryString { .. } => "query-string",
            Self::SourceIp { .. } => "source-ip",
        }
    }

    /// Every value the rule quota counts.
    pub(crate) fn counted_values(&self) -> Vec<&str> {
        match self {
            Self::HostHeader { values }
            | Self::PathPattern { values }
            | Self::HttpHeader { values, .. }
            | Self::HttpRequestMethod { values }
            | Self::SourceIp { values } => values.iter().map(String::as_str).collect(),
            Self::QueryString { values } => values.iter().map(|p| p.value.as_str()).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerRecord {
    pub id: String,
    pub arn: String,
    pub lb_id: String,
    pub lb_arn: String,
    pub port: u16,
    pub protocol: Protocol,
    pub default_actions: Vec<Action>,
    /// The id of the listener's default rule, whose actions are the
    /// default actions (it has no record of its own).
    pub default_rule_id: String,
    pub default_rule_tags: Vec<Tag>,
    pub created: DateTime<Utc>,
    pub tags: Vec<Tag>,
    /// HTTPS: ACM certificate ARNs, the default one first.
    #[serde(default)]
    pub certificates: Vec<String>,
    /// HTTPS: the security policy's name.
    #[serde(default)]
    pub ssl_policy: Option<String>,
}

impl ListenerRecord {
    pub(crate) fn default_rule_arn(&self) -> String {
        rule_arn_of(&self.arn, &self.default_rule_id)
    }
}

/// A rule ARN from its listener's: `listener/app/N/LB/L` becomes
/// `listener-rule/app/N/LB/L/ID`.
pub(crate) fn rule_arn_of(listener_arn: &str, id: &str) -> String {
    format!(
        "{}/{id}",
        listener_arn.replacen(":listener/", ":listener-rule/", 1)
    )
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRecord {
    pub id: String,
    pub arn: String,
    pub listener_id: String,
    pub lb_id: String,
    /// 1 to 50000, unique within the listener.
    pub priority: u32,
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
    pub created: DateTime<Utc>,
    pub tags: Vec<Tag>,
}

/// A registration of a target in a target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRecord {
    pub tg_id: String,
    /// An instance id or an IP address.
    pub id: String,
    pub port: u16,
    pub availability_zone: Option<String>,
    pub registered_at: DateTime<Utc>,
    /// Set by deregistration; the record goes once the group's
    /// deregistration delay has passed since.
    pub deregistered_at: Option<DateTime<Utc>>,
}

impl TargetRecord {
    pub(crate) fn key(&self) -> String {
        target_key(&self.tg_id, &self.id, self.port)
    }
}

pub(crate) fn encode(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("elbv2 records always serialise")
}
