//! What the reconciler reads (a service, its deployments, its tasks) and
//! what it decides (a [`Plan`]).

use serde::{Deserialize, Serialize};

/// ECS's `schedulingStrategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Scheduling {
    /// Keep `desiredCount` tasks.
    #[default]
    Replica,
    /// One task on every eligible container instance.
    Daemon,
}

/// A deployment's place in the service (`Deployment.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentStatus {
    /// The newest: the one the service converges to.
    Primary,
    /// Older, with tasks still to drain.
    Active,
    /// Drained; kept only as history.
    Inactive,
}

impl DeploymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Primary => "PRIMARY",
            Self::Active => "ACTIVE",
            Self::Inactive => "INACTIVE",
        }
    }
}

/// `Deployment.rolloutState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rollout {
    InProgress,
    Completed,
    Failed,
}

impl Rollout {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
        }
    }
}

/// One deployment of a service: a task definition the service runs (or
/// ran), with its own progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// `ecs-svc/` and 19 digits; service tasks carry it as `startedBy`.
    pub id: String,
    pub status: DeploymentStatus,
    pub task_definition: String,
    /// Whether the task definition has container health checks: then a
    /// task is healthy only once ECS reports it `HEALTHY`.
    pub health_checked: bool,
    pub rollout: Rollout,
    pub rollout_reason: String,
    /// Tasks of this deployment that failed (stopped without being asked,
    /// or stopped by the scheduler for failing health checks), since the
    /// last task that became healthy.
    pub failed_tasks: u32,
    /// The most tasks of this deployment seen healthy at once; a task
    /// rising above it "reached a healthy state" and resets
    /// `failed_tasks`, as `resetOnHealthyTask` does.
    pub healthy_high: u32,
    pub created_ms: i64,
    pub updated_ms: i64,
    #[serde(default)]
    pub finished_ms: Option<i64>,
    /// Set on the deployment a circuit breaker rollback created: the
    /// deployment it rolled back from.
    #[serde(default)]
    pub rollback_from: Option<String>,
    /// Set with `rollback_from`: the completed deployment whose task
    /// definition the rollback runs again.
    #[serde(default)]
    pub rollback_to: Option<String>,
    /// Set with `rollback_from`: why the rollback happened (ECS's
    /// `ServiceDeployment.rollback.reason`).
    #[serde(default)]
    pub rollback_reason: Option<String>,
}

impl Deployment {
    pub fn new(id: &str, task_definition: &str, health_checked: bool, now_ms: i64) -> Self {
        Self {
            id: id.to_string(),
            status: DeploymentStatus::Primary,
            task_definition: task_definition.to_string(),
            health_checked,
            rollout: Rollout::InProgress,
            rollout_reason: "ECS deployment ecs-svc in progress.".into(),
            failed_tasks: 0,
            healthy_high: 0,
            created_ms: now_ms,
            updated_ms: now_ms,
            finished_ms: None,
            rollback_from: None,
            rollback_to: None,
            rollback_reason: None,
        }
    }
}

/// The deployment circuit breaker (`deploymentCircuitBreaker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CircuitBreaker {
    pub enable: bool,
    pub rollback: bool,
}

/// A service as the reconciler sees it: its settings, its deployments
/// (the primary first) and the little state the scheduler keeps between
/// rounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub scheduling: Scheduling,
    /// `desiredCount` (REPLICA; a DAEMON's is the eligible instances).
    pub desired_count: u32,
    pub minimum_healthy_percent: u32,
    pub maximum_percent: u32,
    pub circuit_breaker: CircuitBreaker,
    /// `healthCheckGracePeriodSeconds`, in milliseconds.
    pub health_check_grace_ms: i64,
    pub deployments: Vec<Deployment>,
    /// Tasks that stopped before reaching RUNNING, in a row: they slow
    /// launches down (ECS's service throttle).
    pub launch_failures: u32,
    /// No task is launched before this time.
    pub launch_after_ms: i64,
    /// When the last launch failure happened.
    pub last_launch_failure_ms: i64,
    /// Whether "has reached a steady state" was said since the last change.
    pub steady: bool,
}

/// The coarse phase of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// PROVISIONING, PENDING or ACTIVATING.
    Pending,
    Running,
    /// DEACTIVATING, STOPPING or DEPROVISIONING: on its way out.
    Stopping,
    Stopped,
}

/// A task's health as ECS aggregates it from its containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Healthy,
    Unhealthy,
}

/// Why a stopped task stopped, as far as the service is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// Asked to: by the scheduler or a user (`StopTask`). Not a failure.
    Requested,
    /// Anything else: an essential container exited, the image could not
    /// be pulled, the node was lost. A failure.
    Failed,
}

/// One task of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    pub arn: String,
    /// The deployment id (the task's `startedBy`).
    pub deployment: String,
    /// The container instance ARN (EC2), if any.
    pub instance: Option<String>,
    pub phase: Phase,
    /// `desiredStatus` is STOPPED.
    pub desired_stopped: bool,
    pub health: Health,
    /// Unhealthy because of this load balancer target group's health
    /// checks (the stop reason and event name it), rather than the
    /// containers' own.
    pub unhealthy_in: Option<String>,
    /// When it reached RUNNING.
    pub started_ms: Option<i64>,
    /// For stopped tasks: why.
    pub cause: StopCause,
    pub stopped_reason: String,
    /// A stopped task the reconciler has already counted (the caller
    /// remembers [`Plan::account`]).
    pub accounted: bool,
}

impl TaskView {
    /// Not stopped yet: it occupies a slot under `maximumPercent`, even
    /// when asked to stop, until it is really gone.
    pub fn present(&self) -> bool {
        self.phase != Phase::Stopped
    }

    /// Present, not asked to stop and not on its way out: it counts toward
    /// a desired count.
    pub fn live(&self) -> bool {
        self.present() && !self.desired_stopped && self.phase != Phase::Stopping
    }

    /// Counts toward `minimumHealthyPercent`: live, RUNNING, and healthy
    /// when its task definition has health checks (otherwise RUNNING is
    /// enough, as ECS counts it).
    pub fn healthy(&self, health_checked: bool) -> bool {
        self.live()
            && self.phase == Phase::Running
            && match self.health {
                Health::Healthy => true,
                Health::Unknown => !health_checked,
                Health::Unhealthy => false,
            }
    }

    pub fn short_id(&self) -> &str {
        self.arn.rsplit('/').next().unwrap_or(&self.arn)
    }
}

/// A container instance a DAEMON service should run on: ACTIVE, its agent
/// connected, meeting the service's constraints (the caller decides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonHost {
    pub instance: String,
}

/// What the round is given besides the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    pub now_ms: i64,
    /// The id a deployment created this round (a rollback) gets.
    pub new_deployment_id: String,
}

/// Tasks to launch for a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    pub deployment: String,
    pub count: u32,
    /// DAEMON: the instance the task must go to.
    pub instance: Option<String>,
}

/// A task to stop, with the `stoppedReason` it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub task: String,
    pub reason: String,
}

/// The round's decisions. The caller applies them: launches through
/// placement, stops, writes [`service`](Self::service) back, appends the
/// events and remembers the accounted tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub service: Service,
    pub start: Vec<Start>,
    pub stop: Vec<Stop>,
    /// Stopped tasks counted this round.
    pub account: Vec<String>,
    pub events: Vec<String>,
    /// When to run again even if nothing changes (a launch delay or a
    /// grace period ending).
    pub wake_at_ms: Option<i64>,
}

impl Plan {
    /// Whether the round changed anything that must be written.
    pub fn is_noop(&self, before: &Service) -> bool {
        self.start.is_empty()
            && self.stop.is_empty()
            && self.account.is_empty()
            && self.events.is_empty()
            && self.service == *before
    }
}
