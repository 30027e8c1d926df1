//! The XML shapes of replies, member by member as botocore's model names
//! them (`LoadBalancer`, `TargetGroup`, `Listener`, `Rule`, `Action`,
//! `RuleCondition`...). Records hold facts; what AWS derives (DNS names,
//! state, the load balancers a target group serves) is computed here.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat, Utc};
use dockyard_aws::query::XmlWriter;

use crate::model::{
    Action, ActionKind, Condition, ListenerRecord, LoadBalancerRecord, LoadBalancerType,
    RuleRecord, Tag, TargetGroupRecord,
};

/// The VPC every load balancer reports: VPCs are not modelled, and target
/// groups record the id they were given.
pub const VPC_ID: &str = "vpc-dockyard";

/// `NAME-ID.elb.localhost`, lower case: names under `.localhost` resolve
/// to the loopback address without any DNS set-up.
pub fn dns_name(name: &str, id: &str) -> String {
    format!("{name}-{id}.elb.localhost").to_lowercase()
}

/// The hosted zone AWS gives load balancers in us-east-1 (there is no
/// Route 53 zone behind ours).
fn hosted_zone(kind: LoadBalancerType) -> &'static str {
    match kind {
        LoadBalancerType::Application => "Z35SXDOTRQ7X7K",
        LoadBalancerType::Network => "Z26RNL4JYFTOTI",
    }
}

pub(crate) fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn flag(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// `address`: where this platform binds the load balancer's listeners (a
/// listener on port P is served at `address`:P), shown as each zone's
/// `LoadBalancerAddresses` entry, the field AWS uses for an NLB's per-zone
/// address, so the CLI and SDKs parse it for both types.
pub(crate) fn load_balancer(
    w: &mut XmlWriter,
    lb: &LoadBalancerRecord,
    address: Option<std::net::IpAddr>,
) {
    w.element("LoadBalancerArn", &lb.arn)
        .element("DNSName", &dns_name(&lb.name, &lb.id))
        .element("CanonicalHostedZoneId", hosted_zone(lb.kind))
        .element("CreatedTime", &timestamp(lb.created))
        .element("LoadBalancerName", &lb.name)
        .element("Scheme", lb.scheme.as_str())
        .element("VpcId", VPC_ID)
        .nested("State", |w| {
            w.element("Code", "active");
        })
        .element("Type", lb.kind.as_str())
        .members("AvailabilityZones", &lb.zones, |w, z| {
            w.element("ZoneName", &z.zone_name)
                .element("SubnetId", &z.subnet_id)
                .members("LoadBalancerAddresses", address, |w, ip| {
                    w.element("IpAddress", &ip.to_string());
                });
        });
    if lb.kind == LoadBalancerType::Application || !lb.security_groups.is_empty() {
        w.members("SecurityGroups", &lb.security_groups, |w, g| {
            w.text(g);
        });
    }
    w.element("IpAddressType", &lb.ip_address_type);
}

/// `users`: the load balancers forwarding to the group.
pub(crate) fn target_group(w: &mut XmlWriter, tg: &TargetGroupRecord, users: &BTreeSet<String>) {
    let hc = &tg.health_check;
    w.element("TargetGroupArn", &tg.arn)
        .element("TargetGroupName", &tg.name)
        .element("Protocol", tg.protocol.as_str())
        .element("Port", &tg.port.to_string())
        .element("VpcId", &tg.vpc_id)
        .element("HealthCheckProtocol", hc.protocol.as_str())
        .element("HealthCheckPort", &hc.port)
        .element("HealthCheckEnabled", flag(hc.enabled))
        .element(
            "HealthCheckIntervalSeconds",
            &hc.interval_seconds.to_string(),
        )
        .element("HealthCheckTimeoutSeconds", &hc.timeout_seconds.to_string())
        .element(
            "HealthyThresholdCount",
            &hc.healthy_threshold_count.to_string(),
        )
        .element(
            "UnhealthyThresholdCount",
            &hc.unhealthy_threshold_count.to_string(),
        )
        .opt_element("HealthCheckPath", hc.path.as_deref());
    if let Some(m) = &hc.matcher {
        w.nested("Matcher", |w| {
            w.opt_element("HttpCode", m.http_code.as_deref())
                .opt_element("GrpcCode", m.grpc_code.as_deref());
        });
    }
    w.members("LoadBalancerArns", users, |w, arn| {
        w.text(arn);
    })
    .element("TargetType", tg.target_type.as_str())
    .opt_element("ProtocolVersion", tg.protocol_version.as_deref())
    .element("IpAddressType", &tg.ip_address_type);
}

pub(crate) fn listener(w: &mut XmlWriter, l: &ListenerRecord) {
    w.element("ListenerArn", &l.arn)
        .element("LoadBalancerArn", &l.lb_arn)
        .element("Port", &l.port.to_string())
        .element("Protocol", l.protocol.as_str());
    if let Some(default) = l.certificates.first() {
        // As AWS: DescribeListeners shows the default certificate only.
        w.members("Certificates", [default], |w, arn| {
            w.element("CertificateArn", arn);
        });
    }
    if let Some(policy) = &l.ssl_policy {
        w.element("SslPolicy", policy);
    }
    actions(w, "DefaultActions", &l.default_actions);
}

pub(crate) fn rule(w: &mut XmlWriter, r: &RuleRecord) {
    rule_parts(
        w,
        &r.arn,
        &r.priority.to_string(),
        &r.conditions,
        &r.actions,
        false,
    );
}

pub(crate) fn default_rule(w: &mut XmlWriter, l: &ListenerRecord) {
    rule_parts(
        w,
        &l.default_rule_arn(),
        "default",
        &[],
        &l.default_actions,
        true,
    );
}

fn rule_parts(
    w: &mut XmlWriter,
    arn: &str,
    priority: &str,
    conditions: &[Condition],
    acts: &[Action],
    is_default: bool,
) {
    w.element("RuleArn", arn).element("Priority", priority);
    w.members("Conditions", conditions, condition);
    actions(w, "Actions", acts);
    w.element("IsDefault", flag(is_default));
}

fn actions(w: &mut XmlWriter, name: &str, acts: &[Action]) {
    w.members(name, acts, action);
}

fn action(w: &mut XmlWriter, a: &Action) {
    w.element("Type", a.kind.type_name());
    match &a.kind {
        ActionKind::Forward(f) => {
            if let [only] = f.target_groups.as_slice() {
                w.element("TargetGroupArn", &only.target_group_arn);
            }
        }
        ActionKind::Redirect(_) | ActionKind::FixedResponse(_) => {}
    }
    if let Some(order) = a.order {
        w.element("Order", &order.to_string());
    }
    match &a.kind {
        ActionKind::Forward(f) => {
            w.nested("ForwardConfig", |w| {
                w.members("TargetGroups", &f.target_groups, |w, t| {
                    w.element("TargetGroupArn", &t.target_group_arn)
                        .element("Weight", &t.weight.to_string());
                })
                .nested("TargetGroupStickinessConfig", |w| {
                    w.element("Enabled", flag(f.stickiness_seconds.is_some()));
                    if let Some(d) = f.stickiness_seconds {
                        w.element("DurationSeconds", &d.to_string());
                    }
                });
            });
        }
        ActionKind::Redirect(r) => {
            w.nested("RedirectConfig", |w| {
                w.element("Protocol", &r.protocol)
                    .element("Port", &r.port)
                    .element("Host", &r.host)
                    .element("Path", &r.path)
                    .element("Query", &r.query)
                    .element("StatusCode", r.status_code.as_str());
            });
        }
        ActionKind::FixedResponse(f) => {
            w.nested("FixedResponseConfig", |w| {
                w.opt_element("MessageBody", f.message_body.as_deref())
                    .element("StatusCode", &f.status_code)
                    .opt_element("ContentType", f.content_type.as_deref());
            });
        }
    }
}

fn strings(w: &mut XmlWriter, name: &str, values: &[String]) {
    w.members(name, values, |w, v| {
        w.text(v);
    });
}

fn condition(w: &mut XmlWriter, c: &Condition) {
    w.element("Field", c.field());
    match c {
        // AWS repeats host and path values in the legacy `Values`.
        Condition::HostHeader { values } => {
            strings(w, "Values", values);
            w.nested("HostHeaderConfig", |w| strings(w, "Values", values));
        }
        Condition::PathPattern { values } => {
            strings(w, "Values", values);
            w.nested("PathPatternConfig", |w| strings(w, "Values", values));
        }
        Condition::HttpHeader { name, values } => {
            w.nested("HttpHeaderConfig", |w| {
                w.element("HttpHeaderName", name);
                strings(w, "Values", values);
            });
        }
        Condition::HttpRequestMethod { values } => {
            w.nested("HttpRequestMethodConfig", |w| strings(w, "Values", values));
        }
        Condition::QueryString { values } => {
            w.nested("QueryStringConfig", |w| {
                w.members("Values", values, |w, p| {
                    w.opt_element("Key", p.key.as_deref())
                        .element("Value", &p.value);
                });
            });
        }
        Condition::SourceIp { values } => {
            w.nested("SourceIpConfig", |w| strings(w, "Values", values));
        }
    }
}

pub(crate) fn attributes(w: &mut XmlWriter, attrs: &BTreeMap<String, String>) {
    w.members("Attributes", attrs, |w, (k, v)| {
        w.element("Key", k).element("Value", v);
    });
}

pub(crate) fn tags(w: &mut XmlWriter, tags: &[Tag]) {
    w.members("Tags", tags, |w, t| {
        w.element("Key", &t.key).element("Value", &t.value);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_times() {
        assert_eq!(dns_name("My-LB", "00AB"), "my-lb-00ab.elb.localhost");
        let t = DateTime::parse_from_rfc3339("2024-05-17T10:30:00.5Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(timestamp(t), "2024-05-17T10:30:00.500Z");
    }
}
