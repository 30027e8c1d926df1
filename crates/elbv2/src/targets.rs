//! Targets: RegisterTargets, DeregisterTargets, DescribeTargetHealth, and
//! the same operations as Rust functions for the ECS service scheduler,
//! which registers its tasks without going through the API.
//!
//! A registration is (target id, port). Deregistering keeps the record,
//! marked with the time, until the group's deregistration delay has
//! passed: it reads as `draining` meanwhile, and the data plane stops
//! sending it new requests but lets open ones finish.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use dockyard_aws::CallContext;
use dockyard_aws::query::{QueryParams, XmlWriter};
use dockyard_store::Store;

use crate::ElbService;
use crate::error::{ElbError, Quota};
use crate::health::{self, TargetHealthDescription, TargetHealthSource};
use crate::input::{self, required};
use crate::model::{TargetGroupRecord, TargetRecord, TargetType, target_key};
use crate::state::{Change, State, write};

/// Registered (not draining) targets per target group.
pub(crate) const MAX_TARGETS: usize = 1000;

/// A target to register or deregister: an instance id (`i-...`) or an IP
/// address, with the port it listens on (the group's port when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    pub id: String,
    pub port: Option<u16>,
    /// For `ip` targets only: a zone of the region, or `all`.
    pub availability_zone: Option<String>,
}

impl TargetSpec {
    pub fn new(id: impl Into<String>, port: Option<u16>) -> Self {
        Self {
            id: id.into(),
            port,
            availability_zone: None,
        }
    }
}

fn is_instance_id(id: &str) -> bool {
    id.strip_prefix("i-").is_some_and(|h| {
        matches!(h.len(), 8 | 17)
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Checks a target's id and zone against its group.
fn check_target(tg: &TargetGroupRecord, t: &TargetSpec) -> Result<(), ElbError> {
    match tg.target_type {
        TargetType::Instance => {
            if !is_instance_id(&t.id) {
                return Err(ElbError::InvalidTarget(format!(
                    "The target '{}' is not a valid instance ID; target group '{}' has targets \
                     of type 'instance'",
                    t.id, tg.arn
                )));
            }
            if t.availability_zone.is_some() {
                return Err(ElbError::Validation(
                    "An Availability Zone cannot be specified for targets of type 'instance'"
                        .into(),
                ));
            }
        }
        TargetType::Ip => {
            let ip: IpAddr = t.id.parse().map_err(|_| {
                ElbError::InvalidTarget(format!(
                    "The target '{}' is not a valid IP address; target group '{}' has targets \
                     of type 'ip'",
                    t.id, tg.arn
                ))
            })?;
            let family_ok = (tg.ip_address_type == "ipv6") == ip.is_ipv6();
            let unusable = ip.is_unspecified()
                || ip.is_multicast()
                || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
            if !family_ok || unusable {
                return Err(ElbError::InvalidTarget(format!(
                    "The IP address '{}' cannot be registered with target group '{}' (IP \
                     address type {})",
                    t.id, tg.arn, tg.ip_address_type
                )));
            }
            if let Some(z) = &t.availability_zone {
                let in_region = z
                    .strip_prefix(tg.region.as_str())
                    .is_some_and(|l| l.len() == 1 && l.bytes().all(|b| b.is_ascii_lowercase()));
                if z != "all" && !in_region {
                    return Err(ElbError::Validation(format!(
                        "Availability Zone '{z}' is not valid: use 'all' or a zone of {}",
                        tg.region
                    )));
                }
            }
        }
    }
    Ok(())
}

/// `Targets.member.N.*` of a request.
fn specs(p: &QueryParams, required_list: bool) -> Result<Vec<TargetSpec>, ElbError> {
    let items = p.member_structs("Targets");
    if items.is_empty() && required_list {
        return Err(ElbError::missing("targets"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let id = t
                .get("Id")
                .ok_or_else(|| ElbError::missing(&format!("targets.{}.member.id", i + 1)))?;
            if t.get("QuicServerId").is_some() {
                return Err(ElbError::Validation(
                    "QuicServerId can only be specified for QUIC target groups".into(),
                ));
            }
            Ok(TargetSpec {
                id: id.to_string(),
                port: input::port(t, "Port")?,
                availability_zone: t.get("AvailabilityZone").map(str::to_string),
            })
        })
        .collect()
}

/// Finds a target group by ARN; within `account` when given.
fn group<'a>(
    state: &'a State,
    arn: &str,
    account: Option<&str>,
) -> Result<&'a TargetGroupRecord, ElbError> {
    let tg = state.tg(arn)?;
    if account.is_some_and(|a| a != tg.account) {
        return Err(ElbError::TargetGroupNotFound(format!(
            "Target group '{arn}' not found"
        )));
    }
    Ok(tg)
}

fn register(
    store: &dyn Store,
    arn: &str,
    account: Option<&str>,
    targets: &[TargetSpec],
    now: DateTime<Utc>,
) -> Result<(), ElbError> {
    write(store, now, |state| {
        let tg = group(state, arn, account)?;
        let mut change = Change::default();
        let mut active = state
            .targets_of(&tg.id)
            .filter(|t| t.deregistered_at.is_none())
            .count();
        let mut added = std::collections::BTreeSet::new();
        for spec in targets {
            check_target(tg, spec)?;
            let port = spec.port.unwrap_or(tg.port);
            let key = target_key(&tg.id, &spec.id, port);
            let current = state.targets.get(&key).filter(|t| state.is_live(t, now));
            if current.is_some_and(|t| t.deregistered_at.is_none()) || !added.insert(key.clone()) {
                continue;
            }
            active += 1;
            change.put(
                key,
                &TargetRecord {
                    tg_id: tg.id.clone(),
                    id: spec.id.clone(),
                    port,
                    availability_zone: spec.availability_zone.clone(),
                    registered_at: now,
                    deregistered_at: None,
                },
            );
        }
        if active > MAX_TARGETS {
            return Err(ElbError::quota(
                Quota::Targets,
                format!(
                    "You've reached the limit of {MAX_TARGETS} targets per target group \
                     '{arn}'"
                ),
            ));
        }
        Ok((change, ()))
    })
}

fn deregister(
    store: &dyn Store,
    arn: &str,
    account: Option<&str>,
    targets: &[TargetSpec],
    now: DateTime<Utc>,
) -> Result<(), ElbError> {
    write(store, now, |state| {
        let tg = group(state, arn, account)?;
        let delay = state.deregistration_delay(&tg.id);
        let mut change = Change::default();
        for spec in targets {
            check_target(tg, spec)?;
            let key = target_key(&tg.id, &spec.id, spec.port.unwrap_or(tg.port));
            // Deregistering a target that is not registered succeeds.
            let Some(t) = state
                .targets
                .get(&key)
                .filter(|t| t.deregistered_at.is_none())
            else {
                continue;
            };
            if delay <= 0 {
                change.delete(key);
            } else {
                let mut t = t.clone();
                t.deregistered_at = Some(now);
                change.put(key, &t);
            }
        }
        Ok((change, ()))
    })
}

/// Registers targets with a target group, as RegisterTargets does.
/// Registering a registered target again changes nothing; registering a
/// draining one makes it registered again.
pub fn register_targets(
    store: &dyn Store,
    target_group_arn: &str,
    targets: &[TargetSpec],
    now: DateTime<Utc>,
) -> Result<(), ElbError> {
    register(store, target_group_arn, None, targets, now)
}

/// Deregisters targets, as DeregisterTargets does: each drains for the
/// group's deregistration delay, then goes. Targets that are not
/// registered are ignored.
pub fn deregister_targets(
    store: &dyn Store,
    target_group_arn: &str,
    targets: &[TargetSpec],
    now: DateTime<Utc>,
) -> Result<(), ElbError> {
    deregister(store, target_group_arn, None, targets, now)
}

/// The health of every target of a group (draining ones included), as
/// DescribeTargetHealth reports it.
pub fn describe_target_health(
    store: &dyn Store,
    source: &dyn TargetHealthSource,
    target_group_arn: &str,
    now: DateTime<Utc>,
) -> Result<Vec<TargetHealthDescription>, ElbError> {
    let state = State::load(store)?;
    let tg = group(&state, target_group_arn, None)?;
    Ok(health_of(&state, tg, source, None, now))
}

/// Health of the group's live registrations, or of the `asked` targets.
fn health_of(
    state: &State,
    tg: &TargetGroupRecord,
    source: &dyn TargetHealthSource,
    asked: Option<&[TargetSpec]>,
    now: DateTime<Utc>,
) -> Vec<TargetHealthDescription> {
    let live: Vec<&TargetRecord> = state
        .targets_of(&tg.id)
        .filter(|t| state.is_live(t, now))
        .collect();
    let Some(asked) = asked else {
        return live
            .into_iter()
            .map(|t| health::describe(state, tg, t, source, now))
            .collect();
    };
    let mut out = Vec::new();
    for spec in asked {
        let matching: Vec<&&TargetRecord> = live
            .iter()
            .filter(|t| t.id == spec.id && spec.port.is_none_or(|p| p == t.port))
            .collect();
        if matching.is_empty() {
            out.push(health::not_registered(
                &spec.id,
                spec.port.unwrap_or(tg.port),
            ));
        }
        out.extend(
            matching
                .into_iter()
                .map(|t| health::describe(state, tg, t, source, now)),
        );
    }
    out
}

const INCLUDE: &[&str] = &["AnomalyDetection", "All"];

impl ElbService {
    pub(crate) fn register_targets(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
    ) -> Result<(), ElbError> {
        let arn = required(p, "TargetGroupArn")?;
        let targets = specs(p, true)?;
        register(
            self.store.as_ref(),
            arn,
            Some(&ctx.account),
            &targets,
            ctx.now,
        )
    }

    pub(crate) fn deregister_targets(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
    ) -> Result<(), ElbError> {
        let arn = required(p, "TargetGroupArn")?;
        let targets = specs(p, true)?;
        deregister(
            self.store.as_ref(),
            arn,
            Some(&ctx.account),
            &targets,
            ctx.now,
        )
    }

    pub(crate) fn describe_target_health(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ElbError> {
        let arn = required(p, "TargetGroupArn")?;
        for (i, v) in p.members("Include").iter().enumerate() {
            if !INCLUDE.contains(v) {
                return Err(ElbError::not_in_enum(
                    &format!("include.{}.member", i + 1),
                    v,
                    INCLUDE,
                ));
            }
        }
        let asked = specs(p, false)?;
        let state = State::load(self.store.as_ref())?;
        let tg = group(&state, arn, Some(&ctx.account))?;
        for spec in &asked {
            check_target(tg, spec)?;
        }
        let asked = (!asked.is_empty()).then_some(asked.as_slice());
        let descriptions = health_of(&state, tg, self.health.as_ref(), asked, ctx.now);
        out.members("TargetHealthDescriptions", descriptions, |w, d| {
            w.nested("Target", |w| {
                w.element("Id", &d.id)
                    .element("Port", &d.port.to_string())
                    .opt_element("AvailabilityZone", d.availability_zone.as_deref());
            });
            if let Some(port) = d.health_check_port {
                w.element("HealthCheckPort", &port.to_string());
            }
            w.nested("TargetHealth", |w| {
                w.element("State", d.health.state.as_str())
                    .opt_element("Reason", d.health.reason.map(|r| r.as_str()))
                    .opt_element("Description", d.health.description.as_deref());
            });
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids() {
        assert!(is_instance_id("i-0123456789abcdef0"));
        assert!(is_instance_id("i-0f76fade"));
        assert!(!is_instance_id("i-0F76FADE"));
        assert!(!is_instance_id("10.0.0.1"));
        assert!(!is_instance_id("i-123"));
    }
}
