//! The ECS service scheduler's decisions as a pure function, in the shape
//! of Nomad's `Process(eval, state, planner)`: one round reads a service,
//! its deployments and its tasks (plus, for a DAEMON, the instances it
//! should cover) and returns a [`Plan`]: tasks to launch per deployment,
//! tasks to stop with their reasons, the service's updated deployments and
//! the events to add. No I/O, no clock (the time comes in [`Round`]), no
//! randomness; placing the launched tasks is `dockyard_scheduler::place`,
//! also pure. The control plane applies plans; the simulator in the tests
//! drives both through crashes, node loss, scaling and deployments.
//!
//! # Rules (from the ECS Developer Guide: "Service scheduler concepts",
//! "Deploy Amazon ECS services by replacing tasks", "How the Amazon ECS
//! deployment circuit breaker detects failures")
//!
//! - A REPLICA service keeps `desiredCount` tasks of its PRIMARY
//!   deployment; a DAEMON service one task on each eligible instance.
//! - A rolling deployment launches new tasks while the service has fewer
//!   than `maximumPercent` of the desired count (rounded down), and stops
//!   old ones while it keeps at least `minimumHealthyPercent` (rounded up)
//!   healthy. A task counts against the maximum until it is STOPPED, even
//!   while it is being stopped, so the bound holds at every instant.
//! - Healthy means RUNNING, and `HEALTHY` when the task definition has
//!   container health checks. An UNHEALTHY task is replaced once
//!   `healthCheckGracePeriodSeconds` after its start have passed.
//! - The circuit breaker fails the deployment when `failedTasks` reaches
//!   half the desired count clamped to [3, 200]; a task becoming healthy
//!   resets the count (`resetOnHealthyTask`, true by default). With
//!   `rollback`, a new deployment of the last completed task definition
//!   takes over. A failed deployment without rollback launches nothing.
//! - Tasks that stop before reaching RUNNING delay the next launch: one
//!   second, doubling with each failure in a row, at most 15 minutes.
//!   A task reaching RUNNING, a rollback or a new task definition ends
//!   the delay.
//!
//! # Choices where the guide is silent
//!
//! - Scale-in stops pending tasks first, then unhealthy ones, then those on
//!   the instances with the most tasks of the service.
//! - A DAEMON's new task goes to an instance only once no older task of
//!   the service is left there; old ones drain under
//!   `minimumHealthyPercent` (ECS requires `maximumPercent` 100).
//! - A task the scheduler did not ask to stop (crash, failed pull, lost
//!   node) is a failure and is named in an event with its reason.

mod model;
mod reconcile;

pub use model::{
    CircuitBreaker, DaemonHost, Deployment, DeploymentStatus, Health, Phase, Plan, Rollout, Round,
    Scheduling, Service, Start, Stop, StopCause, TaskView,
};
pub use reconcile::{
    DEPLOYMENT_HISTORY, INELIGIBLE_REASON, MAX_LAUNCH_DELAY_MS, SETTLE_MS, UNHEALTHY_REASON,
    failure_threshold, launch_delay_ms, max_tasks, min_healthy, reconcile, scaling_reason,
};

/// Starts a new deployment (`UpdateService` with a new task definition or
/// `forceNewDeployment`): it becomes PRIMARY, the others drain, and the
/// launch delay is lifted.
pub fn deploy(
    service: &mut Service,
    id: &str,
    task_definition: &str,
    health_checked: bool,
    now_ms: i64,
) {
    for d in &mut service.deployments {
        if d.status == DeploymentStatus::Primary {
            d.status = DeploymentStatus::Active;
            d.updated_ms = now_ms;
        }
    }
    service.deployments.insert(
        0,
        Deployment::new(id, task_definition, health_checked, now_ms),
    );
    service.launch_failures = 0;
    service.launch_after_ms = 0;
    service.steady = false;
}

#[cfg(test)]
mod sim;
/// Why the circuit breaker rolled a deployment back.
pub const CIRCUIT_BREAKER_ROLLBACK_REASON: &str =
    "ECS deployment circuit breaker: tasks failed to start.";

/// Rolls a service back to its last completed deployment: a new PRIMARY
/// deployment `id` of that task definition, the current primary left to
/// drain; `reason` says why (ECS's `rollback.reason`). Returns the id of
/// the deployment rolled back to, or `None` (and changes nothing) when
/// none ever completed.
pub fn roll_back(service: &mut Service, id: &str, reason: &str, now_ms: i64) -> Option<String> {
    let good = service
        .deployments
        .iter()
        .skip(1)
        .filter(|d| d.rollout == Rollout::Completed)
        .max_by_key(|d| d.created_ms)
        .cloned()?;
    let from = service.deployments.first().map(|d| d.id.clone());
    deploy(
        service,
        id,
        &good.task_definition,
        good.health_checked,
        now_ms,
    );
    let back = &mut service.deployments[0];
    back.rollback_from = from;
    back.rollback_to = Some(good.id.clone());
    back.rollback_reason = Some(reason.to_string());
    back.rollout_reason = format!(
        "ECS deployment circuit breaker: rolling back to deployment {}.",
        good.id
    );
    Some(good.id)
}

#[cfg(test)]
mod tests;
