//! Service deployments: ListServiceDeployments, DescribeServiceDeployments,
//! StopServiceDeployment. Each deployment of a service (what UpdateService
//! or a rollback starts) is one service deployment.

use serde::Deserialize;
use serde_json::{Value, json};

use dockyard_aws::{ApiError, CallContext};
use dockyard_reconciler::{DeploymentStatus, Rollout};

use super::render::{
    deployment_number, rolled_back_from, service_deployment_status, service_deployments,
};
use super::{new_deployment_id, push_events, service_name, service_not_found};
use crate::EcsService;
use crate::db;
use crate::error::invalid;
use crate::ids::{cluster_name, resource_of};
use crate::input::{decode, max_results, next_token, with_token};
use crate::model::{ServiceRecord, service_key};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreatedAtIn {
    before: Option<f64>,
    after: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListIn {
    service: Option<String>,
    cluster: Option<String>,
    status: Option<Vec<String>>,
    created_at: Option<CreatedAtIn>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeIn {
    service_deployment_arns: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StopIn {
    service_deployment_arn: Option<String>,
    stop_type: Option<String>,
}

const STATUSES: [&str; 9] = [
    "PENDING",
    "SUCCESSFUL",
    "STOPPED",
    "STOP_REQUESTED",
    "IN_PROGRESS",
    "ROLLBACK_REQUESTED",
    "ROLLBACK_IN_PROGRESS",
    "ROLLBACK_SUCCESSFUL",
    "ROLLBACK_FAILED",
];

/// `rollback.reason` of a deployment rolled back by StopServiceDeployment.
pub(crate) const STOP_ROLLBACK_REASON: &str =
    "The service deployment was rolled back by a StopServiceDeployment request.";

fn deployment_not_found() -> ApiError {
    ApiError::client(
        "ServiceDeploymentNotFoundException",
        "The service deployment does not exist.",
    )
}

/// (cluster, service, deployment id) of a service deployment ARN.
fn parse_arn(ctx: &CallContext, arn: &str) -> Option<(String, String, String)> {
    let rest = resource_of(ctx, arn)?.strip_prefix("service-deployment/")?;
    let mut parts = rest.splitn(3, '/');
    let (c, s, n) = (parts.next()?, parts.next()?, parts.next()?);
    Some((c.into(), s.into(), format!("ecs-svc/{n}")))
}

impl EcsService {
    pub(crate) fn list_service_deployments(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: ListIn = decode(input)?;
        let cluster = cluster_name(ctx, i.cluster.as_deref())?;
        self.active_cluster(&cluster)?;
        let given = i
            .service
            .ok_or_else(|| invalid("service must be specified."))?;
        let name = service_name(ctx, &cluster, &given)?;
        let rec = db::get::<ServiceRecord>(self.store.as_ref(), &service_key(&cluster, &name))?
            .ok_or_else(service_not_found)?
            .value;
        let statuses = i.status.unwrap_or_default();
        for s in &statuses {
            if !STATUSES.contains(&s.as_str()) {
                return Err(invalid(format!("Invalid service deployment status: {s}")));
            }
        }
        let n = max_results(i.max_results, 20)?;
        let after = next_token(i.next_token.as_deref())?;
        let (before_ms, after_ms) = match &i.created_at {
            Some(c) => (
                c.before.map(|s| (s * 1000.0) as i64),
                c.after.map(|s| (s * 1000.0) as i64),
            ),
            None => (None, None),
        };
        // Newest first, as the service keeps them.
        let chosen: Vec<_> = service_deployments(&rec)
            .filter(|d| {
                statuses.is_empty() || statuses.contains(&service_deployment_status(&rec, d).0)
            })
            .filter(|d| before_ms.is_none_or(|b| d.created_ms < b))
            .filter(|d| after_ms.is_none_or(|a| d.created_ms > a))
            .collect();
        let start = match &after {
            Some(a) => chosen
                .iter()
                .position(|d| deployment_number(&d.id) == a)
                .map(|p| p + 1)
                .unwrap_or(chosen.len()),
            None => 0,
        };
        let page: Vec<_> = chosen.iter().skip(start).take(n).collect();
        let token = (start + page.len() < chosen.len())
            .then(|| {
                page.last()
                    .map(|d| dockyard_aws::input::encode_token(deployment_number(&d.id)))
            })
            .flatten();
        let briefs: Vec<Value> = page
            .iter()
            .map(|d| self.render_deployment_brief(&rec, d))
            .collect();
        Ok(with_token(json!({"serviceDeployments": briefs}), token))
    }

    pub(crate) fn describe_service_deployments(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: DescribeIn = decode(input)?;
        let arns = i
            .service_deployment_arns
            .ok_or_else(|| invalid("serviceDeploymentArns must be specified."))?;
        if arns.is_empty() || arns.len() > 20 {
            return Err(invalid(
                "serviceDeploymentArns must have between 1 and 20 items.",
            ));
        }
        let mut out = Vec::new();
        let mut failures = Vec::new();
        for arn in arns {
            let found = match parse_arn(ctx, &arn) {
                Some((c, s, id)) => {
                    db::get::<ServiceRecord>(self.store.as_ref(), &service_key(&c, &s))?
                        .map(|r| r.value)
                        .and_then(|rec| {
                            // A rollback is part of the service deployment
                            // it rolled back, not one of its own.
                            let d = service_deployments(&rec).find(|d| d.id == id)?.clone();
                            Some((rec, d))
                        })
                }
                None => None,
            };
            match found {
                Some((rec, d)) => out.push(self.render_service_deployment(&rec, &d)),
                None => failures.push(json!({"arn": arn, "reason": "MISSING"})),
            }
        }
        Ok(json!({"serviceDeployments": out, "failures": failures}))
    }

    /// Stops the service's deployment in progress: ROLLBACK (the default)
    /// goes back to the last completed deployment, ABORT leaves the service
    /// as it is and launches nothing more for it.
    pub(crate) fn stop_service_deployment(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: StopIn = decode(input)?;
        let arn = i
            .service_deployment_arn
            .ok_or_else(|| invalid("serviceDeploymentArn must be specified."))?;
        let rollback = match i.stop_type.as_deref() {
            None | Some("ROLLBACK") => true,
            Some("ABORT") => false,
            Some(t) => return Err(invalid(format!("Invalid stopType: {t}"))),
        };
        let (cluster, name, id) = parse_arn(ctx, &arn).ok_or_else(deployment_not_found)?;
        let now_ms = ctx.now.timestamp_millis();
        let new_id = new_deployment_id();
        db::update(
            self.store.as_ref(),
            &service_key(&cluster, &name),
            deployment_not_found,
            |rec: &mut ServiceRecord, _| {
                let Some(pos) = rec.sched.deployments.iter().position(|d| d.id == id) else {
                    return Err(deployment_not_found());
                };
                let d = &rec.sched.deployments[pos];
                if rolled_back_from(rec, d).is_some() {
                    return Err(deployment_not_found());
                }
                if pos != 0
                    || d.status != DeploymentStatus::Primary
                    || d.rollout != Rollout::InProgress
                {
                    return Err(ApiError::client(
                        "ConflictException",
                        "The service deployment is not in progress; only a deployment in progress can be stopped.",
                    ));
                }
                let p = &mut rec.sched.deployments[0];
                p.rollout = Rollout::Failed;
                p.updated_ms = now_ms;
                let name = rec.name.clone();
                let message = if rollback {
                    p.rollout_reason = "Service deployment stopped by user; rolling back.".into();
                    match dockyard_reconciler::roll_back(
                        &mut rec.sched,
                        &new_id,
                        STOP_ROLLBACK_REASON,
                        now_ms,
                    ) {
                        Some(good) => format!(
                            "(service {name}) (deployment {new_id}) rolling back to deployment {good} after deployment {id} was stopped."
                        ),
                        None => {
                            return Err(ApiError::client(
                                "ConflictException",
                                "The service has no completed deployment to roll back to.",
                            ));
                        }
                    }
                } else {
                    p.rollout_reason = "Service deployment stopped by user.".into();
                    format!("(service {name}) (deployment {id}) deployment stopped.")
                };
                rec.sched.steady = false;
                push_events(rec, &[message], now_ms);
                Ok(())
            },
        )?;
        Ok(json!({"serviceDeploymentArn": arn}))
    }
}
