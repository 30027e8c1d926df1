//! Dockyard's load balancer data plane, with AWS ALB and NLB semantics.
//!
//! The caller (the ELBv2 API glue) describes every listener and target
//! group in an [`LbConfig`] and hands it to [`DataPlane::apply`], as often
//! as the configuration changes; the data plane binds and releases ports,
//! swaps rules and targets under live traffic, health-checks targets and
//! reports their health with AWS's states and reason codes.
//!
//! - ALB listeners speak HTTP/1.1 and h2c to clients and HTTP/1.1 to
//!   targets over pooled keep-alive connections; bodies stream, WebSocket
//!   upgrades become tunnels. HTTP/1.x requests without a body take a
//!   hand-written fast path; everything else is served by hyper. Rules: host-header, path-pattern,
//!   http-header, http-request-method, query-string and source-ip
//!   conditions; forward (weighted, sticky), redirect and fixed-response
//!   actions.
//! - NLB listeners pass TCP connections through to a target chosen by the
//!   flow's 5-tuple hash: forwarded by the kernel (nftables DNAT, given
//!   a [`FlowSteering`]) where it can, else relayed with splice(2).

mod alb;
mod config;
mod connect_hook;
mod error;
mod h1client;
mod h1server;
mod h1wire;
mod health;
mod io;
mod listener;
mod nlb;
mod pattern;
mod plane;
mod response;
mod rules;
mod steer;
mod steer_nft;
mod sticky;
mod target;
mod tls;
mod trace;
mod upstream;

pub use config::{
    Action, Algorithm, Cidr, Condition, FixedResponseConfig, ForwardConfig, HealthCheck,
    HealthCheckPort, LbConfig, ListenerCertificate, ListenerConfig, LoadBalancerKind, Matcher,
    Protocol, QueryStringPair, RedirectConfig, RedirectStatus, Rule, Target, TargetGroupConfig,
    WeightedTargetGroup,
};
pub use error::{ConfigError, ListenerError};
pub use health::{HealthMap, TargetHealth, TargetHealthReason, TargetHealthState, TargetKey};
pub use plane::{ApplyReport, DataPlane, DataPlaneOptions};
pub use steer::{FlowSteering, SteeredListener};
pub use steer_nft::KernelSteering;
pub use tls::{certificate_names, certified_key};
