//! Elastic Load Balancing v2 for Dockyard: the API (Query protocol, XML
//! replies, version 2015-12-01, signing name `elasticloadbalancing`) of
//! Application and Network Load Balancers, over the state store.
//!
//! This crate is the control plane: it checks requests as ELB does and
//! records load balancers, listeners, rules, target groups and targets
//! (see [`model`] for the store layout). The data plane (another crate)
//! reads them through [`snapshot`], binds each listener's port on the
//! server's load balancer address and proxies to the targets; its health
//! checker reports back through [`TargetHealthSource`]. The ECS service
//! scheduler registers tasks with [`register_targets`] and
//! [`deregister_targets`].
//!
//! Where Dockyard differs from AWS, and why:
//! - A listener on port P is bound at the server's `--lb-address`:P, so
//!   one port has one listener across all load balancers (a second gets
//!   `DuplicateListener`, naming the load balancer that has it).
//! - `DNSName` is `NAME-ID.elb.localhost`; every load balancer is in VPC
//!   `vpc-dockyard`; subnet ids are recorded as given and the Nth stands
//!   for zone `REGIONa`, `REGIONb`...; one subnet is enough.
//! - Only what the data plane does is accepted; the rest is refused,
//!   never accepted and ignored: HTTP and TCP listeners and target groups
//!   (HTTPS/TLS need a certificate store Dockyard lacks, so a certificate
//!   gets `CertificateNotFound`; UDP gets `UnsupportedProtocol`), HTTP/1.1
//!   to targets, HTTP or TCP health checks, wildcard (not regex) rule
//!   conditions, forward/redirect/fixed-response actions, round-robin or
//!   least-outstanding-requests, `lb_cookie` stickiness. Attributes the
//!   data plane does not implement keep their AWS defaults. No Gateway
//!   Load Balancers, Lambda or ALB targets, QUIC, or rule transforms.
//! - Instance targets are registered by instance id; whoever feeds the
//!   data plane resolves ids to node addresses.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod actions;
mod arn;
mod attrs;
mod conditions;
mod error;
mod health;
mod health_check;
mod input;
mod lbs;
mod listeners;
pub mod model;
mod render;
mod rules;
mod snapshot;
mod state;
mod tags;
mod targets;
mod tgs;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use dockyard_aws::query::{QueryParams, XmlWriter};
use dockyard_aws::{ApiError, CallContext, QueryService};
use dockyard_store::Store;

pub use arn::{IdSource, RandomIds, SequentialIds};
pub use error::{ElbError, Quota};
pub use health::{
    NoHealthReports, TargetHealth, TargetHealthDescription, TargetHealthReason, TargetHealthSource,
    TargetHealthState,
};
pub use listeners::PortCheck;
pub use model::PREFIX as WATCH_PREFIX;
pub use render::{VPC_ID, dns_name};
pub use snapshot::{
    Algorithm, ListenerView, LoadBalancerView, RuleView, Snapshot, Stickiness, TargetGroupView,
    TargetView, purge_drained_targets, snapshot,
};
pub use targets::{TargetSpec, deregister_targets, describe_target_health, register_targets};

pub const SIGNING_NAME: &str = "elasticloadbalancing";
pub const VERSION: &str = "2015-12-01";
pub const XMLNS: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

/// The ELBv2 Query service.
pub struct ElbService {
    store: Arc<dyn Store>,
    ids: Arc<dyn IdSource>,
    health: Arc<dyn TargetHealthSource>,
    ports: Option<Arc<dyn PortCheck>>,
    listener_address: Option<std::net::IpAddr>,
    certificates: Option<Arc<dyn CertificateCheck>>,
}

/// Whether a certificate exists for an account (ACM, in the server).
pub trait CertificateCheck: Send + Sync {
    fn exists(&self, account: &str, certificate_arn: &str) -> bool;
}

/// The listeners (ARNs) serving a certificate, for ACM's `InUseBy`.
pub fn listeners_using_certificate(
    store: &dyn Store,
    certificate_arn: &str,
) -> Result<Vec<String>, String> {
    let snap = snapshot(store).map_err(|e| e.to_string())?;
    Ok(snap
        .load_balancers
        .iter()
        .flat_map(|lb| lb.listeners.iter())
        .filter(|l| l.certificates.iter().any(|c| c == certificate_arn))
        .map(|l| l.arn.clone())
        .collect())
}

impl ElbService {
    /// A service over `store`, naming new resources with ids from `ids`
    /// and reporting target health from `health`. Times come from each
    /// call's [`CallContext::now`].
    pub fn new(
        store: Arc<dyn Store>,
        ids: Arc<dyn IdSource>,
        health: Arc<dyn TargetHealthSource>,
    ) -> Self {
        Self {
            store,
            ids,
            health,
            ports: None,
            listener_address: None,
            certificates: None,
        }
    }

    /// Where HTTPS listeners' certificates are looked up; without it,
    /// every certificate is not found.
    pub fn with_certificates(mut self, certificates: Arc<dyn CertificateCheck>) -> Self {
        self.certificates = Some(certificates);
        self
    }

    /// Where the data plane binds listeners (a listener on port P is
    /// served at `ip`:P); DescribeLoadBalancers shows it as each zone's
    /// `LoadBalancerAddresses`.
    pub fn with_listener_address(mut self, ip: std::net::IpAddr) -> Self {
        self.listener_address = Some(ip);
        self
    }

    /// Asks `ports` before a listener takes a port no listener has yet.
    pub fn with_port_check(mut self, ports: Arc<dyn PortCheck>) -> Self {
        self.ports = Some(ports);
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn dispatch(
        &self,
        ctx: &CallContext,
        action: &str,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Option<Result<(), ElbError>> {
        Some(match action {
            "CreateLoadBalancer" => self.create_load_balancer(ctx, p, out),
            "DescribeLoadBalancers" => self.describe_load_balancers(ctx, p, out),
            "DeleteLoadBalancer" => self.delete_load_balancer(ctx, p),
            "DescribeLoadBalancerAttributes" => self.describe_load_balancer_attributes(ctx, p, out),
            "ModifyLoadBalancerAttributes" => self.modify_load_balancer_attributes(ctx, p, out),
            "CreateTargetGroup" => self.create_target_group(ctx, p, out),
            "ModifyTargetGroup" => self.modify_target_group(ctx, p, out),
            "DescribeTargetGroups" => self.describe_target_groups(ctx, p, out),
            "DeleteTargetGroup" => self.delete_target_group(ctx, p),
            "DescribeTargetGroupAttributes" => self.describe_target_group_attributes(ctx, p, out),
            "ModifyTargetGroupAttributes" => self.modify_target_group_attributes(ctx, p, out),
            "RegisterTargets" => self.register_targets(ctx, p),
            "DeregisterTargets" => self.deregister_targets(ctx, p),
            "DescribeTargetHealth" => self.describe_target_health(ctx, p, out),
            "CreateListener" => self.create_listener(ctx, p, out),
            "ModifyListener" => self.modify_listener(ctx, p, out),
            "DescribeListeners" => self.describe_listeners(ctx, p, out),
            "DeleteListener" => self.delete_listener(ctx, p),
            "AddListenerCertificates" => self.add_listener_certificates(ctx, p, out),
            "RemoveListenerCertificates" => self.remove_listener_certificates(ctx, p),
            "DescribeListenerCertificates" => self.describe_listener_certificates(ctx, p, out),
            "CreateRule" => self.create_rule(ctx, p, out),
            "ModifyRule" => self.modify_rule(ctx, p, out),
            "DescribeRules" => self.describe_rules(ctx, p, out),
            "DeleteRule" => self.delete_rule(ctx, p),
            "SetRulePriorities" => self.set_rule_priorities(ctx, p, out),
            "AddTags" => self.add_tags(ctx, p),
            "RemoveTags" => self.remove_tags(ctx, p),
            "DescribeTags" => self.describe_tags(ctx, p, out),
            "DescribeAccountLimits" => self.describe_account_limits(p, out),
            _ => return None,
        })
    }

    fn describe_account_limits(
        &self,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ElbError> {
        let page = input::page(p)?;
        let limits: Vec<(&str, usize)> = vec![
            ("application-load-balancers", 50),
            ("condition-values-per-alb-rule", conditions::MAX_VALUES),
            (
                "condition-wildcards-per-alb-rule",
                conditions::MAX_WILDCARDS,
            ),
            ("listeners-per-application-load-balancer", 50),
            ("listeners-per-network-load-balancer", 50),
            ("network-load-balancers", 50),
            ("rules-per-application-load-balancer", 100),
            ("target-groups", 3000),
            ("target-groups-per-action-on-application-load-balancer", 5),
            ("target-groups-per-action-on-network-load-balancer", 1),
            ("target-groups-per-application-load-balancer", 100),
            ("targets-per-target-group", targets::MAX_TARGETS),
        ];
        let (items, next) = page.apply(limits, |(name, _)| name.to_string());
        out.members("Limits", items, |w, (name, max)| {
            w.element("Name", name).element("Max", &max.to_string());
        });
        out.opt_element("NextMarker", next.as_deref());
        Ok(())
    }
}

impl QueryService for ElbService {
    fn signing_name(&self) -> &str {
        SIGNING_NAME
    }

    fn version(&self) -> &str {
        VERSION
    }

    fn xmlns(&self) -> &str {
        XMLNS
    }

    fn call(
        &self,
        ctx: &CallContext,
        action: &str,
        params: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ApiError> {
        match self.dispatch(ctx, action, params, out) {
            Some(r) => r.map_err(ApiError::from),
            None => Err(ApiError::invalid_action(action, VERSION)),
        }
    }
}
