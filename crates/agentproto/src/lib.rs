//! The agent protocol: the messages a node agent and the server exchange.
//!
//! Modelled on ECS's own agent session, carried over plain HTTP so the
//! built-in agent and remote ones speak it the same way:
//!
//! - `POST /_dockyard/agent/v1/register` ([`RegisterRequest`] ->
//!   [`RegisterResponse`]): the agent announces its node (an EC2-style
//!   container instance of a cluster, or the managed FARGATE capacity)
//!   with its resources and attributes; re-registering with the id it was
//!   given keeps the same instance.
//! - `POST /_dockyard/agent/v1/poll` ([`PollRequest`] -> [`PollResponse`]),
//!   a long poll that is the session: each request is a heartbeat, carries
//!   the agent's unacknowledged state changes (numbered by the agent, in
//!   order) and its resource usage, and is answered with the desired state
//!   of every task assigned to the node and the highest change sequence the
//!   server has applied. The server answers at once when it has applied
//!   changes or the desired state differs from the version the agent last
//!   saw, else when either happens or the poll times out.
//!
//! Delivery is at least once in both directions and both sides are
//! idempotent: the agent keeps changes until acknowledged (across its own
//! restarts) and the server ignores sequences it has applied; the desired
//! state is always sent whole, so a lost reply costs nothing.
//!
//! Requests are SigV4-signed for service `ecs` like any ECS call.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use dockyard_taskdef::TaskDefinition;

pub const REGISTER_PATH: &str = "/_dockyard/agent/v1/register";
pub const POLL_PATH: &str = "/_dockyard/agent/v1/poll";

/// What kind of capacity a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// A container instance of one cluster (EC2 launch type).
    Instance,
    /// Managed capacity serving FARGATE tasks of every cluster.
    Fargate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterRequest {
    pub kind: NodeKind,
    /// The cluster (instances only; `default` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The node id from an earlier registration, to keep the same instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// CPU units (1024 per core) and memory in MiB the node offers.
    pub cpu: u32,
    pub memory: u32,
    /// Host ports tasks may not use (the node's own services).
    #[serde(default)]
    pub reserved_ports: Vec<u16>,
    /// Attributes besides the ones the server derives.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The address tasks' published ports are reached at.
    pub address: String,
    pub hostname: String,
    pub agent_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub node_id: String,
    /// The container instance's ARN (instances only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_instance_arn: Option<String>,
    /// How long the server waits before answering an idle poll; an agent
    /// silent for several of these is marked disconnected.
    pub poll_seconds: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PollRequest {
    pub node_id: String,
    /// The desired-state version the agent last received.
    pub seen_version: u64,
    /// State changes not yet acknowledged, in sequence order.
    #[serde(default)]
    pub changes: Vec<TaskChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Answer at once instead of waiting for news.
    #[serde(default)]
    pub no_wait: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollResponse {
    /// The version of `tasks`; send it back as `seen_version`.
    pub version: u64,
    /// Every task assigned to the node that the agent still has to act on.
    pub tasks: Vec<DesiredTask>,
    /// Changes up to this sequence are applied and may be forgotten.
    pub applied_seq: u64,
}

/// Resource usage a node reports with each poll.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// CPU time used by tasks since the agent started, in nanoseconds.
    pub cpu_nanos: u64,
    pub memory_bytes: u64,
    pub running_containers: u32,
    /// The same, task by task (the server turns it into utilisation
    /// metrics).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskUsage>,
}

/// One task's usage: the sum over its running containers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskUsage {
    pub task_arn: String,
    /// CPU time its containers have used, in nanoseconds (cumulative, so
    /// the server takes differences between reports).
    pub cpu_nanos: u64,
    pub memory_bytes: u64,
}

/// A task as the server wants it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesiredTask {
    pub task_arn: String,
    pub task_id: String,
    pub cluster: String,
    pub cluster_arn: String,
    /// `RUNNING` or `STOPPED`.
    pub desired_status: String,
    /// The definition with the task's overrides applied.
    pub definition: TaskDefinition,
    pub launch_type: String,
    /// Why the task is to stop, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<TaskCredentials>,
    /// The store revision of the task record; changes with every update.
    pub revision: u64,
    pub availability_zone: String,
    /// The account and region the task's credentials and logs belong to.
    pub region: String,
}

/// Temporary credentials for the task role, served to the task's
/// containers at `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskCredentials {
    /// The id in `/v2/credentials/<id>`: unguessable, one per task.
    pub id: String,
    pub role_arn: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// RFC 3339.
    pub expiration: String,
}

/// One state change of a task, as the agent observed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskChange {
    /// The agent's sequence number, 1, 2, 3... per node.
    pub seq: u64,
    pub task_arn: String,
    /// The task's known status: one of ECS's lifecycle states.
    pub status: String,
    /// Milliseconds since the epoch at which the agent saw the change.
    pub at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_started_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_stopped_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_stopped_ms: Option<i64>,
    /// Set when the agent stops a task on its own (an essential container
    /// exited, an image could not be pulled...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<String>,
    /// The task's own network (awsvpc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<TaskNetwork>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_status: Option<String>,
    pub containers: Vec<ContainerChange>,
}

impl TaskChange {
    /// A change to `status` seen at `at_ms`, with nothing else known yet;
    /// the agent numbers it when it queues it.
    pub fn new(task_arn: &str, status: &str, at_ms: i64) -> Self {
        Self {
            seq: 0,
            task_arn: task_arn.to_string(),
            status: status.to_string(),
            at_ms,
            pull_started_ms: None,
            pull_stopped_ms: None,
            started_ms: None,
            execution_stopped_ms: None,
            stopped_reason: None,
            stop_code: None,
            network: None,
            health_status: None,
            containers: vec![],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskNetwork {
    pub ipv4: String,
    pub mac: String,
    pub subnet_cidr: String,
    pub gateway: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerChange {
    pub name: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default)]
    pub network_bindings: Vec<NetworkBinding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_status: Option<String>,
}

/// A published port, in ECS's `networkBindings` shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkBinding {
    #[serde(rename = "bindIP")]
    pub bind_ip: String,
    pub container_port: u16,
    pub host_port: u16,
    pub protocol: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_poll_round_trips_and_defaults_are_lenient() {
        let p: PollRequest = serde_json::from_str(r#"{"node_id":"n","seen_version":3}"#).unwrap();
        assert_eq!(p.node_id, "n");
        assert!(p.changes.is_empty() && !p.no_wait);
        let c = TaskChange {
            seq: 1,
            task_arn: "arn".into(),
            status: "RUNNING".into(),
            at_ms: 5,
            pull_started_ms: None,
            pull_stopped_ms: None,
            started_ms: Some(5),
            execution_stopped_ms: None,
            stopped_reason: None,
            stop_code: None,
            network: None,
            health_status: None,
            containers: vec![ContainerChange {
                name: "web".into(),
                status: "RUNNING".into(),
                runtime_id: Some("abc".into()),
                image_digest: None,
                exit_code: None,
                reason: None,
                network_bindings: vec![NetworkBinding {
                    bind_ip: "0.0.0.0".into(),
                    container_port: 80,
                    host_port: 32768,
                    protocol: "tcp".into(),
                }],
                health_status: None,
            }],
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v["containers"][0]["network_bindings"][0]["bindIP"],
            "0.0.0.0"
        );
        assert_eq!(serde_json::from_value::<TaskChange>(v).unwrap(), c);
    }
}
