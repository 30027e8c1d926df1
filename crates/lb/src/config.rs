//! What the data plane is told to serve. The ELBv2 API's stored model is
//! translated into these types by the caller; nothing here knows about the
//! API or the state store.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use crate::error::ConfigError;

/// Everything every load balancer should be serving, as one whole: an
/// [`crate::DataPlane::apply`] replaces the previous configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LbConfig {
    pub listeners: Vec<ListenerConfig>,
    /// Keyed by target group ARN.
    pub target_groups: BTreeMap<String, TargetGroupConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoadBalancerKind {
    Application,
    Network,
}

/// Listener, target group and health check protocols. Listeners serve
/// `Http` (ALB) and `Tcp` (NLB); the others are refused per listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Http,
    Https,
    Tcp,
    Tls,
    Udp,
    TcpUdp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "HTTP",
            Self::Https => "HTTPS",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
            Self::Udp => "UDP",
            Self::TcpUdp => "TCP_UDP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    pub arn: String,
    pub load_balancer_arn: String,
    pub kind: LoadBalancerKind,
    /// Port 0 binds an ephemeral port; see [`crate::ApplyReport`].
    pub bind: SocketAddr,
    pub protocol: Protocol,
    /// Any order; evaluated by ascending priority.
    pub rules: Vec<Rule>,
    pub default_actions: Vec<Action>,
    /// A connection with no bytes either way for this long is closed (and a
    /// request whose target has not answered by then gets a 504).
    pub idle_timeout: Duration,
    /// HTTPS listeners: the certificates, the default one first; the
    /// others are chosen by SNI.
    pub certificates: Vec<ListenerCertificate>,
}

/// A certificate an HTTPS listener serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerCertificate {
    /// Names it in errors (the ACM ARN).
    pub arn: String,
    /// The certificate, then its chain, PEM.
    pub chain_pem: String,
    pub key_pem: String,
}

impl ListenerConfig {
    /// AWS's `idle_timeout.timeout_seconds` default for ALBs.
    pub const ALB_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    /// The fixed TCP idle timeout of NLBs.
    pub const NLB_IDLE_TIMEOUT: Duration = Duration::from_secs(350);

    /// An ALB HTTP listener forwarding everything to one target group.
    pub fn http(arn: &str, bind: SocketAddr, target_group_arn: &str) -> Self {
        Self {
            arn: arn.to_owned(),
            load_balancer_arn: String::new(),
            kind: LoadBalancerKind::Application,
            bind,
            protocol: Protocol::Http,
            rules: Vec::new(),
            default_actions: vec![Action::Forward(ForwardConfig::single(target_group_arn))],
            idle_timeout: Self::ALB_IDLE_TIMEOUT,
            certificates: Vec::new(),
        }
    }

    /// An ALB HTTPS listener forwarding everything to one target group.
    pub fn https(
        arn: &str,
        bind: SocketAddr,
        target_group_arn: &str,
        certificates: Vec<ListenerCertificate>,
    ) -> Self {
        Self {
            protocol: Protocol::Https,
            certificates,
            ..Self::http(arn, bind, target_group_arn)
        }
    }

    /// An NLB TCP listener forwarding to one target group.
    pub fn tcp(arn: &str, bind: SocketAddr, target_group_arn: &str) -> Self {
        Self {
            kind: LoadBalancerKind::Network,
            protocol: Protocol::Tcp,
            idle_timeout: Self::NLB_IDLE_TIMEOUT,
            ..Self::http(arn, bind, target_group_arn)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Lower is evaluated first.
    pub priority: u32,
    /// All must match (each condition matches if any of its values does).
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
}

/// A rule condition. Patterns use AWS's wildcards: `*` (any run of
/// characters) and `?` (exactly one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Host names, case-insensitive, matched without the port.
    HostHeader(Vec<String>),
    /// Case-sensitive patterns on the path (never the query).
    PathPattern(Vec<String>),
    /// A header name and case-insensitive value patterns.
    HttpHeader { name: String, values: Vec<String> },
    /// Exact, case-sensitive method names.
    HttpRequestMethod(Vec<String>),
    /// Matches if any query parameter matches any pair; case-insensitive,
    /// `\*` and `\?` stand for literal characters.
    QueryString(Vec<QueryStringPair>),
    /// The connection's peer address (never `X-Forwarded-For`).
    SourceIp(Vec<Cidr>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryStringPair {
    /// Without a key, any parameter whose value matches.
    pub key: Option<String>,
    pub value: String,
}

/// Rule actions. Authentication actions are the API's business; the data
/// plane performs the first action of the list, which the API guarantees
/// is the terminal one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Forward(ForwardConfig),
    Redirect(RedirectConfig),
    FixedResponse(FixedResponseConfig),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardConfig {
    pub target_groups: Vec<WeightedTargetGroup>,
    /// Target group stickiness (`AWSALBTG` cookie) for weighted forwards.
    pub stickiness: Option<Duration>,
}

impl ForwardConfig {
    pub fn single(target_group_arn: &str) -> Self {
        Self {
            target_groups: vec![WeightedTargetGroup {
                arn: target_group_arn.to_owned(),
                weight: 1,
            }],
            stickiness: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedTargetGroup {
    pub arn: String,
    /// 0..=999; 0 takes no traffic.
    pub weight: u32,
}

/// Each component may use `#{protocol}`, `#{host}`, `#{port}`, `#{path}`
/// (without its leading `/`) and `#{query}`; `None` keeps the original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectConfig {
    /// `HTTP`, `HTTPS` or `#{protocol}`.
    pub protocol: Option<String>,
    pub host: Option<String>,
    pub port: Option<String>,
    pub path: Option<String>,
    /// Without the leading `?`.
    pub query: Option<String>,
    pub status: RedirectStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectStatus {
    /// `HTTP_301`
    Permanent,
    /// `HTTP_302`
    Found,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedResponseConfig {
    /// 2XX, 4XX or 5XX.
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    RoundRobin,
    LeastOutstandingRequests,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupConfig {
    pub arn: String,
    /// HTTP for ALB target groups (requests go out as HTTP/1.1), TCP for
    /// NLB ones.
    pub protocol: Protocol,
    pub targets: Vec<Target>,
    pub health_check: HealthCheck,
    /// How long a draining target keeps its in-flight requests.
    pub deregistration_delay: Duration,
    /// Zero is off; otherwise a newly healthy target's share of round-robin
    /// traffic grows linearly over this long.
    pub slow_start: Duration,
    pub algorithm: Algorithm,
    /// Duration-based (`lb_cookie`) stickiness.
    pub stickiness: Option<Duration>,
}

impl TargetGroupConfig {
    /// AWS's defaults for a target group of `protocol`.
    pub fn new(arn: &str, protocol: Protocol) -> Self {
        Self {
            arn: arn.to_owned(),
            protocol,
            targets: Vec::new(),
            health_check: HealthCheck::defaults_for(protocol),
            deregistration_delay: Duration::from_secs(300),
            slow_start: Duration::ZERO,
            algorithm: Algorithm::RoundRobin,
            stickiness: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub ip: IpAddr,
    pub port: u16,
    /// Set when the target was deregistered: it gets no new requests and
    /// leaves once its in-flight ones finish or the target group's
    /// deregistration delay passes, whichever comes first.
    pub draining_since: Option<SystemTime>,
}

impl Target {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            ip: addr.ip(),
            port: addr.port(),
            draining_since: None,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// When false, targets are `unavailable` and always take traffic.
    pub enabled: bool,
    /// HTTP checks send `GET path`; TCP (and, lacking TLS, HTTPS and TLS)
    /// checks only connect.
    pub protocol: Protocol,
    pub port: HealthCheckPort,
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub matcher: Matcher,
}

impl HealthCheck {
    /// AWS's defaults: HTTP `/` every 30 s with a 5 s timeout, 5 healthy,
    /// 2 unhealthy, code 200; TCP every 30 s with a 10 s timeout and 5/2.
    pub fn defaults_for(protocol: Protocol) -> Self {
        let http = matches!(protocol, Protocol::Http | Protocol::Https);
        Self {
            enabled: true,
            protocol: if http { Protocol::Http } else { Protocol::Tcp },
            port: HealthCheckPort::TrafficPort,
            path: "/".to_owned(),
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(if http { 5 } else { 10 }),
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            matcher: Matcher::ok_200(),
        }
    }

    pub(crate) fn port_for(&self, target_port: u16) -> u16 {
        match self.port {
            HealthCheckPort::TrafficPort => target_port,
            HealthCheckPort::Port(p) => p,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthCheckPort {
    /// The port the target receives traffic on.
    TrafficPort,
    Port(u16),
}

impl FromStr for HealthCheckPort {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "traffic-port" {
            return Ok(Self::TrafficPort);
        }
        match s.parse::<u16>() {
            Ok(p) if p > 0 => Ok(Self::Port(p)),
            _ => Err(ConfigError::InvalidHealthCheckPort(s.to_owned())),
        }
    }
}

/// HTTP codes a health check accepts: `200`, `200-299`, `200,302`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    ranges: Vec<(u16, u16)>,
}

impl Matcher {
    pub fn ok_200() -> Self {
        Self {
            ranges: vec![(200, 200)],
        }
    }

    pub fn matches(&self, code: u16) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= code && code <= hi)
    }
}

impl FromStr for Matcher {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ConfigError::InvalidMatcher(s.to_owned());
        let code = |c: &str| -> Result<u16, ConfigError> {
            match c.trim().parse::<u16>() {
                Ok(v) if (100..=599).contains(&v) => Ok(v),
                _ => Err(bad()),
            }
        };
        let mut ranges = Vec::new();
        for part in s.split(',') {
            let range = match part.split_once('-') {
                Some((lo, hi)) => (code(lo)?, code(hi)?),
                None => {
                    let c = code(part)?;
                    (c, c)
                }
            };
            if range.0 > range.1 {
                return Err(bad());
            }
            ranges.push(range);
        }
        Ok(Self { ranges })
    }
}

/// An IPv4 or IPv6 network, as `source-ip` conditions name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Clients reaching a dual-stack socket over IPv4 show up as
/// `::ffff:a.b.c.d`; rules and headers want the IPv4 form.
pub(crate) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

impl FromStr for Cidr {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ConfigError::InvalidCidr(s.to_owned());
        let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(bad());
        }
        Ok(Self { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matcher_forms() -> Result<(), ConfigError> {
        let m: Matcher = "200".parse()?;
        assert!(m.matches(200) && !m.matches(201));
        let m: Matcher = "200-299".parse()?;
        assert!(m.matches(200) && m.matches(299) && !m.matches(300));
        let m: Matcher = "200,302".parse()?;
        assert!(m.matches(302) && !m.matches(301));
        assert!("abc".parse::<Matcher>().is_err());
        assert!("300-200".parse::<Matcher>().is_err());
        assert!("".parse::<Matcher>().is_err());
        Ok(())
    }

    #[test]
    fn cidr_contains() -> Result<(), ConfigError> {
        let c: Cidr = "10.1.0.0/16".parse()?;
        assert!(
            c.contains(
                "10.1.200.3"
                    .parse()
                    .map_err(|_| ConfigError::InvalidCidr(String::new()))?
            )
        );
        assert!(!c.contains(IpAddr::from([10, 2, 0, 1])));
        assert!(
            c.contains(
                "::ffff:10.1.2.3"
                    .parse()
                    .map_err(|_| ConfigError::InvalidCidr(String::new()))?
            )
        );
        let all: Cidr = "0.0.0.0/0".parse()?;
        assert!(all.contains(IpAddr::from([1, 2, 3, 4])));
        let host: Cidr = "192.0.2.7/32".parse()?;
        assert!(host.contains(IpAddr::from([192, 0, 2, 7])));
        assert!(!host.contains(IpAddr::from([192, 0, 2, 8])));
        let v6: Cidr = "2001:db8::/32".parse()?;
        assert!(
            v6.contains(
                "2001:db8::1"
                    .parse()
                    .map_err(|_| ConfigError::InvalidCidr(String::new()))?
            )
        );
        assert!(!v6.contains(IpAddr::from([10, 0, 0, 1])));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("10.0.0.0".parse::<Cidr>().is_err());
        Ok(())
    }

    #[test]
    fn health_check_port() {
        assert_eq!(
            "traffic-port".parse::<HealthCheckPort>().ok(),
            Some(HealthCheckPort::TrafficPort)
        );
        assert_eq!(
            "8080".parse::<HealthCheckPort>().ok(),
            Some(HealthCheckPort::Port(8080))
        );
        assert!("0".parse::<HealthCheckPort>().is_err());
    }
}
