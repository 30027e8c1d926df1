//! Services behind load balancers: each task of a service with
//! `loadBalancers` is registered in their target groups once it runs (its
//! own IP and the container port for `ip` groups in awsvpc mode; its
//! instance's `ec2InstanceId` and the host port bound to the container
//! port for `instance` groups), counts as healthy only when every one of
//! its targets is, and when the scheduler stops it, it is first
//! deregistered and left running (DEACTIVATING) until its targets have
//! drained, as ECS does. A task reads ACTIVATING from the time it runs
//! until it is registered in every group.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use dockyard_elbv2::model::TargetType;
use dockyard_elbv2::{TargetGroupView, TargetHealthState, TargetSpec};
use dockyard_reconciler::Health;

use crate::EcsService;
use crate::db;
use crate::model::{Deactivation, Instance, ServiceRecord, Task, instance_key, task_key};
use dockyard_aws::ApiError;

/// One registration of a task: target group, target id, port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Registration {
    pub tg: String,
    pub id: String,
    pub port: u16,
}

/// What the target groups hold, read once per round of a service.
pub(crate) struct Groups {
    by_arn: BTreeMap<String, TargetGroupView>,
}

impl Groups {
    /// Registered and not draining.
    fn is_live(&self, r: &Registration) -> bool {
        self.by_arn.get(&r.tg).is_some_and(|g| {
            g.targets
                .iter()
                .any(|t| t.id == r.id && t.port == r.port && t.draining_since.is_none())
        })
    }

    fn delay_seconds(&self, tg: &str) -> u32 {
        self.by_arn
            .get(tg)
            .map_or(0, |g| g.deregistration_delay_seconds)
    }
}

/// A task's health as its load balancers and containers see it, and the
/// target group that found it unhealthy.
pub(crate) struct Verdict {
    pub health: Health,
    pub unhealthy_in: Option<String>,
}

/// Running, wanted, and not on its way out.
fn in_service(t: &Task) -> bool {
    t.last_status == "RUNNING" && t.desired_status == "RUNNING" && t.deactivating.is_none()
}

impl EcsService {
    pub(crate) fn target_groups_now(&self) -> Result<Groups, ApiError> {
        let snap = dockyard_elbv2::snapshot(self.store.as_ref())
            .map_err(|e| crate::error::server(e.to_string()))?;
        Ok(Groups {
            by_arn: snap
                .target_groups
                .into_iter()
                .map(|g| (g.arn.clone(), g))
                .collect(),
        })
    }

    /// The targets `t` has in `rec`'s target groups, as far as they are
    /// known yet (an address comes with RUNNING, a host port with the
    /// container's bindings).
    fn registrations(
        &self,
        rec: &ServiceRecord,
        t: &Task,
        groups: &Groups,
        ec2_ids: &mut BTreeMap<String, Option<String>>,
    ) -> Result<Vec<Registration>, ApiError> {
        let mut out = Vec::new();
        for lb in &rec.load_balancers {
            let (Some(tg), Some(container), Some(port)) = (
                lb["targetGroupArn"].as_str(),
                lb["containerName"].as_str(),
                lb["containerPort"]
                    .as_u64()
                    .and_then(|p| u16::try_from(p).ok()),
            ) else {
                continue;
            };
            let Some(group) = groups.by_arn.get(tg) else {
                continue;
            };
            match group.target_type {
                TargetType::Ip => {
                    if let Some(n) = &t.network {
                        out.push(Registration {
                            tg: tg.to_string(),
                            id: n.ipv4.clone(),
                            port,
                        });
                    }
                }
                TargetType::Instance => {
                    let Some(ci) = &t.container_instance_arn else {
                        continue;
                    };
                    if !ec2_ids.contains_key(ci) {
                        let id = ci.rsplit('/').next().unwrap_or_default();
                        let i = db::get::<Instance>(
                            self.store.as_ref(),
                            &instance_key(&t.cluster, id),
                        )?;
                        ec2_ids.insert(ci.clone(), i.map(|i| i.value.ec2_instance_id));
                    }
                    let Some(Some(ec2)) = ec2_ids.get(ci) else {
                        continue;
                    };
                    let host_port = t
                        .containers
                        .iter()
                        .filter(|c| c.name == container)
                        .flat_map(|c| &c.network_bindings)
                        .find(|b| b.container_port == port && b.protocol != "udp")
                        .map(|b| b.host_port);
                    if let Some(hp) = host_port {
                        out.push(Registration {
                            tg: tg.to_string(),
                            id: ec2.clone(),
                            port: hp,
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// Registers the service's running tasks and deregisters the ones
    /// that stopped or are leaving; returns each running task's health
    /// verdict, by task ARN.
    pub(crate) fn balance(
        &self,
        rec: &ServiceRecord,
        tasks: &[&Task],
        groups: &Groups,
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<String, Verdict>, ApiError> {
        let mut ec2_ids = BTreeMap::new();
        let mut register: BTreeMap<String, Vec<TargetSpec>> = BTreeMap::new();
        let mut deregister: BTreeMap<String, Vec<TargetSpec>> = BTreeMap::new();
        let mut verdicts = BTreeMap::new();
        // Tasks whose every registration is made (or being made now).
        let mut activated: Vec<(&Task, Vec<String>)> = Vec::new();
        for t in tasks {
            let regs = self.registrations(rec, t, groups, &mut ec2_ids)?;
            if !in_service(t) {
                for r in regs.into_iter().filter(|r| groups.is_live(r)) {
                    deregister
                        .entry(r.tg)
                        .or_default()
                        .push(TargetSpec::new(r.id, Some(r.port)));
                }
                continue;
            }
            let wanted = rec
                .load_balancers
                .iter()
                .filter(|lb| lb["targetGroupArn"].is_string())
                .count();
            if t.activating && regs.len() == wanted {
                activated.push((t, regs.iter().map(|r| r.tg.clone()).collect()));
            }
            let mut all_healthy = regs.len() == wanted && wanted > 0;
            let mut unhealthy_in = None;
            for r in &regs {
                match self.elb_health.health(&r.tg, &r.id, r.port) {
                    Some(h) if h.state == TargetHealthState::Healthy => {}
                    Some(h) if h.state == TargetHealthState::Unhealthy => {
                        all_healthy = false;
                        unhealthy_in.get_or_insert_with(|| r.tg.clone());
                    }
                    _ => all_healthy = false,
                }
                if !groups.is_live(r) {
                    register
                        .entry(r.tg.clone())
                        .or_default()
                        .push(TargetSpec::new(r.id.clone(), Some(r.port)));
                }
            }
            // Containers with health checks report their own; the task's
            // reads UNKNOWN when none has any.
            let containers = t.health_status.as_deref();
            let checked = t.containers.iter().any(|c| c.health_status.is_some());
            let containers_ok = containers == Some("HEALTHY") || !checked;
            let verdict = if containers == Some("UNHEALTHY") {
                Verdict {
                    health: Health::Unhealthy,
                    unhealthy_in: None,
                }
            } else if unhealthy_in.is_some() {
                Verdict {
                    health: Health::Unhealthy,
                    unhealthy_in,
                }
            } else if all_healthy && containers_ok {
                Verdict {
                    health: Health::Healthy,
                    unhealthy_in: None,
                }
            } else {
                Verdict {
                    health: Health::Unknown,
                    unhealthy_in: None,
                }
            };
            verdicts.insert(t.arn.clone(), verdict);
        }
        let mut failed = Vec::new();
        for (tg, specs) in register {
            if let Err(e) = dockyard_elbv2::register_targets(self.store.as_ref(), &tg, &specs, now)
            {
                tracing::warn!("service {}: registering targets in {tg}: {e}", rec.name);
                failed.push(tg);
            }
        }
        for (t, tgs) in activated {
            if !tgs.iter().any(|tg| failed.contains(tg)) {
                self.activated(t)?;
            }
        }
        for (tg, specs) in deregister {
            if let Err(e) =
                dockyard_elbv2::deregister_targets(self.store.as_ref(), &tg, &specs, now)
            {
                tracing::warn!("service {}: deregistering targets in {tg}: {e}", rec.name);
            }
        }
        Ok(verdicts)
    }

    /// Ends `t`'s ACTIVATING: it reads RUNNING from now on.
    pub(crate) fn activated(&self, t: &Task) -> Result<(), ApiError> {
        let key = task_key(&t.cluster, &t.id);
        let missing = || crate::error::invalid("The referenced task was not found.");
        let w = db::update_at(self.store.as_ref(), &key, missing, |t: &mut Task, _| {
            if t.activating {
                t.activating = false;
                t.version += 1;
            }
            Ok(())
        })?;
        self.index.wrote(w.mod_revision);
        Ok(())
    }

    /// Starts taking `t` out of its load balancers instead of stopping it:
    /// deregisters its targets and marks it DEACTIVATING until the
    /// longest deregistration delay of its groups has passed. Returns
    /// false when it has no live target (stop it at once).
    pub(crate) fn deactivate(
        &self,
        rec: &ServiceRecord,
        t: &Task,
        groups: &Groups,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, ApiError> {
        let regs: Vec<Registration> = self
            .registrations(rec, t, groups, &mut BTreeMap::new())?
            .into_iter()
            .filter(|r| groups.is_live(r))
            .collect();
        if regs.is_empty() || !in_service(t) {
            return Ok(false);
        }
        let delay = regs
            .iter()
            .map(|r| groups.delay_seconds(&r.tg))
            .max()
            .unwrap_or(0);
        let now_ms = now.timestamp_millis();
        let key = task_key(&t.cluster, &t.id);
        let missing = || crate::error::invalid("The referenced task was not found.");
        let w = db::update_at(self.store.as_ref(), &key, missing, |t: &mut Task, _| {
            if t.deactivating.is_none() && t.desired_status == "RUNNING" {
                t.deactivating = Some(Deactivation {
                    until_ms: now_ms + i64::from(delay) * 1000,
                    reason: reason.to_string(),
                });
                t.version += 1;
            }
            Ok(())
        })?;
        self.index.wrote(w.mod_revision);
        for r in regs {
            if let Err(e) = dockyard_elbv2::deregister_targets(
                self.store.as_ref(),
                &r.tg,
                &[TargetSpec::new(r.id, Some(r.port))],
                now,
            ) {
                tracing::warn!(
                    "service {}: deregistering targets in {}: {e}",
                    rec.name,
                    r.tg
                );
            }
        }
        Ok(true)
    }
}
