//! The cluster state placement reads and the request it answers.

use std::collections::{BTreeMap, BTreeSet};

use crate::constraint::Constraint;
use crate::error::Invalid;
use crate::strategy::{MAX_STRATEGIES, Strategy};

/// ECS's limit on constraints per task, the task definition's and the
/// request's together.
pub const MAX_CONSTRAINTS: usize = 10;

/// A container instance's registration status, as `DescribeContainerInstances`
/// reports it. Only `Active` instances take new tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum InstanceStatus {
    #[default]
    Active,
    Draining,
    Registering,
    RegistrationFailed,
    Deregistering,
    Inactive,
}

impl InstanceStatus {
    /// ECS's spelling (`ACTIVE`, `DRAINING`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Draining => "DRAINING",
            Self::Registering => "REGISTERING",
            Self::RegistrationFailed => "REGISTRATION_FAILED",
            Self::Deregistering => "DEREGISTERING",
            Self::Inactive => "INACTIVE",
        }
    }

    /// Still a member of the cluster. A deregistered (`INACTIVE`) instance
    /// no longer counts: a cluster holding only those has no container
    /// instances as far as `RunTask` is concerned.
    pub fn is_registered(self) -> bool {
        self != Self::Inactive
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

/// A fixed host port a task binds (`hostPort` of a port mapping, or the
/// container port in `host`/`awsvpc`-less host networking).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    pub port: u16,
    pub protocol: Protocol,
}

impl HostPort {
    pub fn tcp(port: u16) -> Self {
        Self {
            port,
            protocol: Protocol::Tcp,
        }
    }

    pub fn udp(port: u16) -> Self {
        Self {
            port,
            protocol: Protocol::Udp,
        }
    }
}

/// What an instance registered with (`registeredResources`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resources {
    /// CPU units, 1024 per vCPU.
    pub cpu: u32,
    /// MiB.
    pub memory: u32,
    /// Host ports no task may take: the agent's reserved ports (22, 2375,
    /// 2376, 51678, 51679 by default) and any the operator adds.
    pub ports_tcp: BTreeSet<u16>,
    pub ports_udp: BTreeSet<u16>,
}

/// A task already assigned to an instance (pending or running).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlacedTask {
    pub arn: String,
    /// `family:NAME`, `service:NAME` or a custom group.
    pub group: String,
    pub family: String,
    pub task_definition_arn: String,
    pub cpu: u32,
    pub memory: u32,
    pub ports: Vec<HostPort>,
    /// Asked to stop but not yet stopped: it still holds its CPU, memory
    /// and ports, but no longer counts as a member of its group (spread,
    /// `distinctInstance`, `task:group`) or in `runningTasksCount`.
    pub desired_stopped: bool,
}

/// One container instance as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InstanceState {
    /// Container instance ARN; failures and plans name instances by it.
    pub arn: String,
    /// Container instance id (the ARN's last part).
    pub id: String,
    /// The `ec2InstanceId` subject of the cluster query language.
    pub ec2_instance_id: String,
    pub status: InstanceStatus,
    pub agent_connected: bool,
    /// The `agentVersion` subject, e.g. `1.14.5`.
    pub agent_version: String,
    /// The `registeredAt` subject, in seconds since the Unix epoch.
    pub registered_at: i64,
    pub registered: Resources,
    /// Attribute name to optional value: `ecs.instance-type`,
    /// `ecs.availability-zone`, `ecs.os-type`, `ecs.ami-id`, capabilities,
    /// custom ones.
    pub attributes: BTreeMap<String, Option<String>>,
    pub tasks: Vec<PlacedTask>,
}

impl InstanceState {
    /// Tasks that still count as running here (not asked to stop).
    pub fn live_tasks(&self) -> impl Iterator<Item = &PlacedTask> {
        self.tasks.iter().filter(|t| !t.desired_stopped)
    }

    /// CPU units not taken by any task, stopping ones included.
    pub fn remaining_cpu(&self) -> u64 {
        let used: u64 = self.tasks.iter().map(|t| u64::from(t.cpu)).sum();
        u64::from(self.registered.cpu).saturating_sub(used)
    }

    /// MiB not taken by any task, stopping ones included.
    pub fn remaining_memory(&self) -> u64 {
        let used: u64 = self.tasks.iter().map(|t| u64::from(t.memory)).sum();
        u64::from(self.registered.memory).saturating_sub(used)
    }

    /// Whether `port` is reserved or bound by a task here.
    pub fn port_taken(&self, port: HostPort) -> bool {
        let reserved = match port.protocol {
            Protocol::Tcp => &self.registered.ports_tcp,
            Protocol::Udp => &self.registered.ports_udp,
        };
        reserved.contains(&port.port) || self.tasks.iter().any(|t| t.ports.contains(&port))
    }
}

/// An attribute a task definition needs on its instance
/// (`requiresAttributes`): the name, and the value when one is required.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequiredAttribute {
    pub name: String,
    pub value: Option<String>,
}

impl RequiredAttribute {
    pub fn is_met_by(&self, instance: &InstanceState) -> bool {
        match (instance.attributes.get(&self.name), &self.value) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(have), Some(want)) => have.as_deref() == Some(want.as_str()),
        }
    }
}

/// What one `RunTask` (or one reconciler step) asks to place; every task
/// of the call is the same.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskRequest {
    /// CPU units the task reserves (task-level `cpu`, or the sum of its
    /// containers').
    pub cpu: u32,
    /// MiB the task reserves.
    pub memory: u32,
    /// Fixed host ports; dynamic ones (hostPort 0) do not constrain
    /// placement.
    pub host_ports: Vec<HostPort>,
    /// The task group; empty means ECS's default, `family:FAMILY`.
    pub group: String,
    pub family: String,
    /// `placementConstraints` of the request (or service).
    pub constraints: Vec<Constraint>,
    /// `placementStrategy`, applied in order; empty means `RunTask`'s
    /// default, random placement.
    pub strategies: Vec<Strategy>,
    /// The task definition's `placementConstraints` (only `memberOf`).
    pub task_definition_constraints: Vec<Constraint>,
    /// The task definition's `requiresAttributes`.
    pub required_attributes: Vec<RequiredAttribute>,
}

impl TaskRequest {
    /// The group the tasks join: [`group`](Self::group) or, when it is
    /// empty, `family:FAMILY` as ECS defaults it.
    pub fn effective_group(&self) -> String {
        if self.group.is_empty() {
            format!("family:{}", self.family)
        } else {
            self.group.clone()
        }
    }

    /// ECS's limits on the request as a whole: at most five strategies, at
    /// most ten constraints counting the task definition's, and no
    /// `distinctInstance` in the task definition.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.strategies.len() > MAX_STRATEGIES {
            return Err(Invalid::new(format!(
                "Too many placement strategies: {} given, at most {MAX_STRATEGIES} are allowed.",
                self.strategies.len()
            )));
        }
        let total = self.constraints.len() + self.task_definition_constraints.len();
        if total > MAX_CONSTRAINTS {
            return Err(Invalid::new(format!(
                "Too many placement constraints: {total} given (task definition and request \
                 combined), at most {MAX_CONSTRAINTS} are allowed."
            )));
        }
        if self
            .task_definition_constraints
            .iter()
            .any(|c| matches!(c, Constraint::DistinctInstance))
        {
            return Err(Invalid::new(
                "constraint.type 'distinctInstance' is not supported.",
            ));
        }
        Ok(())
    }
}
