//! Services, their deployments and service deployments in ECS's shapes.
//! Counts are read from the task index at the time of the call: they are
//! what the agents last reported.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use dockyard_reconciler::{Deployment, DeploymentStatus, Rollout, Scheduling};

use crate::EcsService;
use crate::model::{ServiceRecord, epoch};

pub(crate) fn scheduling_name(s: Scheduling) -> &'static str {
    match s {
        Scheduling::Replica => "REPLICA",
        Scheduling::Daemon => "DAEMON",
    }
}

/// Running, pending and present (not yet STOPPED) tasks of one deployment.
#[derive(Default, Clone, Copy)]
pub(crate) struct Counts {
    pub running: usize,
    pub pending: usize,
    pub present: usize,
}

/// The deployment number in ARNs (`ecs-svc/123` -> `123`).
pub(crate) fn deployment_number(id: &str) -> &str {
    id.strip_prefix("ecs-svc/").unwrap_or(id)
}

pub(crate) fn service_deployment_arn(rec: &ServiceRecord, id: &str) -> String {
    format!(
        "arn:aws:ecs:{}:{}:service-deployment/{}/{}/{}",
        rec.region,
        rec.account,
        rec.cluster,
        rec.name,
        deployment_number(id)
    )
}

pub(crate) fn service_revision_arn(rec: &ServiceRecord, id: &str) -> String {
    format!(
        "arn:aws:ecs:{}:{}:service-revision/{}/{}/{}",
        rec.region,
        rec.account,
        rec.cluster,
        rec.name,
        deployment_number(id)
    )
}

/// The deployment a rollback deployment belongs to. As on ECS, a rollback
/// is not a service deployment of its own: it is the `rollback` of the
/// service deployment that failed (or was stopped), whose status follows
/// the rollback's progress. `None` for other deployments, and for a
/// rollback whose failed deployment was dropped from the history (it is
/// then shown on its own).
pub(crate) fn rolled_back_from<'a>(
    rec: &'a ServiceRecord,
    d: &Deployment,
) -> Option<&'a Deployment> {
    let from = d.rollback_from.as_deref()?;
    rec.sched.deployments.iter().find(|x| x.id == from)
}

/// The rollback deployment started after `d` failed, if any.
fn rollback_of<'a>(rec: &'a ServiceRecord, d: &Deployment) -> Option<&'a Deployment> {
    rec.sched
        .deployments
        .iter()
        .find(|x| x.rollback_from.as_deref() == Some(d.id.as_str()))
}

/// The deployments that are service deployments, newest first.
pub(crate) fn service_deployments(rec: &ServiceRecord) -> impl Iterator<Item = &Deployment> {
    rec.sched
        .deployments
        .iter()
        .filter(|d| rolled_back_from(rec, d).is_none())
}

/// `ServiceDeployment.status` and its reason, from a deployment and the
/// service's others (a failed deployment reports its rollback's progress).
pub(crate) fn service_deployment_status(rec: &ServiceRecord, d: &Deployment) -> (String, String) {
    let status = match (d.rollout, d.status) {
        (Rollout::InProgress, DeploymentStatus::Primary) => "IN_PROGRESS",
        (Rollout::InProgress, _) => "STOPPED",
        (Rollout::Completed, _) => "SUCCESSFUL",
        (Rollout::Failed, _) => match rollback_of(rec, d).map(|r| (r.rollout, r.status)) {
            Some((Rollout::InProgress, DeploymentStatus::Primary)) => "ROLLBACK_IN_PROGRESS",
            // Superseded by a newer UpdateService before it finished.
            Some((Rollout::InProgress, _)) => "STOPPED",
            Some((Rollout::Completed, _)) => "ROLLBACK_SUCCESSFUL",
            Some((Rollout::Failed, _)) => "ROLLBACK_FAILED",
            None => "STOPPED",
        },
    };
    let reason = if status == "STOPPED" && d.rollout == Rollout::InProgress {
        "Superseded by a newer deployment.".to_string()
    } else {
        d.rollout_reason.clone()
    };
    (status.to_string(), reason)
}

impl EcsService {
    /// Task counts per deployment id of a service.
    pub(crate) fn deployment_counts(&self, rec: &ServiceRecord) -> BTreeMap<String, Counts> {
        let group = format!("service:{}", rec.name);
        let mut out: BTreeMap<String, Counts> = BTreeMap::new();
        for t in self.index.cluster(&rec.cluster) {
            if t.group.as_deref() != Some(group.as_str()) || !t.holds_resources() {
                continue;
            }
            let c = out
                .entry(t.started_by.clone().unwrap_or_default())
                .or_default();
            c.present += 1;
            if t.last_status == "RUNNING" {
                c.running += 1;
            } else if t.is_pending() {
                c.pending += 1;
            }
        }
        out
    }

    fn deployment_json(&self, rec: &ServiceRecord, d: &Deployment, counts: Counts) -> Value {
        let desired = if d.status == DeploymentStatus::Primary {
            rec.sched.desired_count as usize
        } else {
            counts.present
        };
        let mut v = json!({
            "id": d.id,
            "status": d.status.as_str(),
            "taskDefinition": d.task_definition,
            "desiredCount": desired,
            "pendingCount": counts.pending,
            "runningCount": counts.running,
            "failedTasks": d.failed_tasks,
            "createdAt": epoch(d.created_ms),
            "updatedAt": epoch(d.updated_ms),
            "rolloutState": d.rollout.as_str(),
            "rolloutStateReason": d.rollout_reason,
        });
        if let Some(lt) = &rec.launch_type {
            v["launchType"] = json!(lt);
        }
        if !rec.capacity_provider_strategy.is_empty() {
            v["capacityProviderStrategy"] = json!(rec.capacity_provider_strategy);
        }
        if let Some(nc) = &rec.network_configuration {
            v["networkConfiguration"] = nc.clone();
        }
        if self.is_fargate(rec) {
            v["platformVersion"] = json!(rec.platform_version.as_deref().unwrap_or("1.4.0"));
            v["platformFamily"] = json!("Linux");
        }
        v
    }

    fn is_fargate(&self, rec: &ServiceRecord) -> bool {
        rec.launch_type.as_deref() == Some("FARGATE")
            || (rec.launch_type.is_none() && !rec.capacity_provider_strategy.is_empty())
    }

    pub(crate) fn render_service(&self, rec: &ServiceRecord, with_tags: bool) -> Value {
        let counts = self.deployment_counts(rec);
        let total = counts.values().fold(Counts::default(), |a, c| Counts {
            running: a.running + c.running,
            pending: a.pending + c.pending,
            present: a.present + c.present,
        });
        let deployments: Vec<Value> = rec
            .sched
            .deployments
            .iter()
            .filter(|d| d.status != DeploymentStatus::Inactive)
            .map(|d| self.deployment_json(rec, d, counts.get(&d.id).copied().unwrap_or_default()))
            .collect();
        let mut v = json!({
            "serviceArn": rec.arn,
            "serviceName": rec.name,
            "clusterArn": rec.cluster_arn,
            "loadBalancers": rec.load_balancers,
            "serviceRegistries": rec.service_registries,
            "status": rec.status,
            "desiredCount": rec.sched.desired_count,
            "runningCount": total.running,
            "pendingCount": total.pending,
            "taskDefinition": rec.task_definition,
            "deploymentConfiguration": {
                "deploymentCircuitBreaker": {
                    "enable": rec.sched.circuit_breaker.enable,
                    "rollback": rec.sched.circuit_breaker.rollback,
                },
                "maximumPercent": rec.sched.maximum_percent,
                "minimumHealthyPercent": rec.sched.minimum_healthy_percent,
                "strategy": "ROLLING",
            },
            "deployments": deployments,
            "events": rec.events.iter().map(|e| json!({
                "id": e.id,
                "createdAt": epoch(e.created_ms),
                "message": e.message,
            })).collect::<Vec<_>>(),
            "createdAt": epoch(rec.created_ms),
            "placementConstraints": rec.placement_constraints,
            "placementStrategy": rec.placement_strategy,
            "schedulingStrategy": scheduling_name(rec.sched.scheduling),
            "deploymentController": {"type": "ECS"},
            "createdBy": rec.created_by,
            "enableECSManagedTags": rec.enable_ecs_managed_tags,
            "propagateTags": rec.propagate_tags.as_deref().unwrap_or("NONE"),
            "enableExecuteCommand": rec.enable_execute_command,
            "healthCheckGracePeriodSeconds": rec.sched.health_check_grace_ms / 1000,
        });
        if let Some(p) = rec.sched.deployments.first() {
            let current = rolled_back_from(rec, p).unwrap_or(p);
            v["currentServiceDeployment"] = json!(service_deployment_arn(rec, &current.id));
        }
        if let Some(lt) = &rec.launch_type {
            v["launchType"] = json!(lt);
        }
        if !rec.capacity_provider_strategy.is_empty() {
            v["capacityProviderStrategy"] = json!(rec.capacity_provider_strategy);
        }
        if self.is_fargate(rec) {
            v["platformVersion"] = json!(rec.platform_version.as_deref().unwrap_or("LATEST"));
            v["platformFamily"] = json!("Linux");
        }
        if let Some(nc) = &rec.network_configuration {
            v["networkConfiguration"] = nc.clone();
        }
        if let Some(r) = &rec.role_arn {
            v["roleArn"] = json!(r);
        }
        if let Some(a) = &rec.alarms {
            v["deploymentConfiguration"]["alarms"] = a.clone();
        }
        if with_tags {
            v["tags"] = json!(rec.tags);
        }
        v
    }

    /// One `ServiceDeployment` (DescribeServiceDeployments).
    pub(crate) fn render_service_deployment(&self, rec: &ServiceRecord, d: &Deployment) -> Value {
        let counts = self.deployment_counts(rec);
        let (status, reason) = service_deployment_status(rec, d);
        let revision = |x: &Deployment| {
            let c = counts.get(&x.id).copied().unwrap_or_default();
            json!({
                "arn": service_revision_arn(rec, &x.id),
                "requestedTaskCount": if x.status == DeploymentStatus::Primary { rec.sched.desired_count as usize } else { c.present },
                "runningTaskCount": c.running,
                "pendingTaskCount": c.pending,
            })
        };
        // The deployments this one replaced: those older and still
        // running when it started (all older ones, as far as we know).
        let sources: Vec<Value> = rec
            .sched
            .deployments
            .iter()
            .filter(|x| x.created_ms < d.created_ms && x.status != DeploymentStatus::Inactive)
            .map(revision)
            .collect();
        let mut v = json!({
            "serviceDeploymentArn": service_deployment_arn(rec, &d.id),
            "serviceArn": rec.arn,
            "clusterArn": rec.cluster_arn,
            "createdAt": epoch(d.created_ms),
            "startedAt": epoch(d.created_ms),
            "updatedAt": epoch(d.updated_ms),
            "sourceServiceRevisions": sources,
            "targetServiceRevision": revision(d),
            "status": status,
            "statusReason": reason,
            "deploymentConfiguration": {
                "deploymentCircuitBreaker": {
                    "enable": rec.sched.circuit_breaker.enable,
                    "rollback": rec.sched.circuit_breaker.rollback,
                },
                "maximumPercent": rec.sched.maximum_percent,
                "minimumHealthyPercent": rec.sched.minimum_healthy_percent,
            },
            "deploymentCircuitBreaker": {
                "status": if !rec.sched.circuit_breaker.enable {
                    "DISABLED"
                } else if d.rollout == Rollout::Failed {
                    "TRIGGERED"
                } else if d.rollout == Rollout::Completed {
                    "MONITORING_COMPLETE"
                } else {
                    "MONITORING"
                },
                "failureCount": d.failed_tasks,
                "threshold": dockyard_reconciler::failure_threshold(rec.sched.desired_count),
            },
        });
        if let Some(f) = finished_ms(rec, d) {
            v["finishedAt"] = epoch(f);
        }
        if let Some(r) = rollback_of(rec, d) {
            // The revision rolled back to is the completed deployment's
            // (the rollback deployment runs its task definition again).
            let to = r.rollback_to.as_deref().unwrap_or(r.id.as_str());
            v["rollback"] = json!({
                "reason": r.rollback_reason.as_deref()
                    .unwrap_or(dockyard_reconciler::CIRCUIT_BREAKER_ROLLBACK_REASON),
                "startedAt": epoch(r.created_ms),
                "serviceRevisionArn": service_revision_arn(rec, to),
            });
        }
        v
    }

    /// `ServiceDeploymentBrief` (ListServiceDeployments).
    pub(crate) fn render_deployment_brief(&self, rec: &ServiceRecord, d: &Deployment) -> Value {
        let (status, reason) = service_deployment_status(rec, d);
        let mut v = json!({
            "serviceDeploymentArn": service_deployment_arn(rec, &d.id),
            "serviceArn": rec.arn,
            "clusterArn": rec.cluster_arn,
            "createdAt": epoch(d.created_ms),
            "startedAt": epoch(d.created_ms),
            "targetServiceRevisionArn": service_revision_arn(rec, &d.id),
            "status": status,
            "statusReason": reason,
        });
        if let Some(f) = finished_ms(rec, d) {
            v["finishedAt"] = epoch(f);
        }
        v
    }
}

/// When a service deployment finished: its deployment completing, or,
/// for one rolled back, its rollback completing or failing.
fn finished_ms(rec: &ServiceRecord, d: &Deployment) -> Option<i64> {
    match rollback_of(rec, d) {
        Some(r) if r.rollout != Rollout::InProgress => r.finished_ms.or(Some(r.updated_ms)),
        Some(_) => None,
        None => d.finished_ms,
    }
}
