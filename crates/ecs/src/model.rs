//! The records ECS keeps in the state store, and their keys.
//!
//! Records hold facts; the AWS shapes clients see are rendered from them in
//! `render`, together with what is computed at read time (counts,
//! remaining resources).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use dockyard_agentproto::{NetworkBinding, TaskCredentials, TaskDefinition, TaskNetwork};

pub const CLUSTERS: &str = "ecs/clusters/";
pub const FAMILIES: &str = "ecs/families/";
pub const TASKDEFS: &str = "ecs/taskdefs/";
pub const TASKS: &str = "ecs/tasks/";
pub const TASK_SPECS: &str = "ecs/taskspecs/";
pub const TOKENS: &str = "ecs/tokens/";
pub const INSTANCES: &str = "ecs/instances/";
pub const FARGATE_NODES: &str = "ecs/fargate/";
pub const NODES: &str = "ecs/nodes/";
pub const SESSIONS: &str = "ecs/sessions/";
pub const PLACEMENT: &str = "ecs/placement/";

pub fn cluster_key(name: &str) -> String {
    format!("{CLUSTERS}{name}")
}

pub fn family_key(family: &str) -> String {
    format!("{FAMILIES}{family}")
}

/// Revisions are zero-padded so the store's order is numeric order.
pub fn taskdef_key(family: &str, revision: u32) -> String {
    format!("{TASKDEFS}{family}/{revision:010}")
}

pub fn task_key(cluster: &str, id: &str) -> String {
    format!("{TASKS}{cluster}/{id}")
}

/// What a task runs: its definition with the overrides applied. Kept
/// apart from the task record, which is read far more often and changes
/// with every state change while this never does.
pub fn task_spec_key(cluster: &str, id: &str) -> String {
    format!("{TASK_SPECS}{cluster}/{id}")
}

/// A RunTask/StartTask `clientToken`, naming the tasks it created.
pub fn token_key(operation: &str, token: &str) -> String {
    format!("{TOKENS}{operation}/{token}")
}

pub fn instance_key(cluster: &str, id: &str) -> String {
    format!("{INSTANCES}{cluster}/{id}")
}

pub fn fargate_key(id: &str) -> String {
    format!("{FARGATE_NODES}{id}")
}

/// The index entry of a task assigned to a node (a [`NodeTask`]).
pub fn node_task_key(node: &str, task_id: &str) -> String {
    format!("{NODES}{node}/tasks/{task_id}")
}

pub fn node_tasks_prefix(node: &str) -> String {
    format!("{NODES}{node}/tasks/")
}

pub fn session_key(node: &str) -> String {
    format!("{SESSIONS}{node}")
}

/// Bumped by every placement in a pool (a cluster's instances, or the
/// managed capacity) and compared by the next, so two placements never
/// both spend the same capacity.
pub fn placement_key(pool: &str) -> String {
    format!("{PLACEMENT}{pool}")
}

pub const FARGATE_POOL: &str = "_fargate";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StrategyItem {
    pub capacity_provider: String,
    #[serde(default)]
    pub weight: u32,
    #[serde(default)]
    pub base: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    pub name: String,
    pub arn: String,
    pub status: String,
    pub created_ms: i64,
    #[serde(default)]
    pub settings: Vec<Setting>,
    #[serde(default)]
    pub configuration: Option<Value>,
    #[serde(default)]
    pub service_connect_defaults: Option<Value>,
    #[serde(default)]
    pub capacity_providers: Vec<String>,
    #[serde(default)]
    pub default_strategy: Vec<StrategyItem>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// The last revision given out per family; revisions are never reused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Family {
    pub last_revision: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredTaskDefinition {
    pub definition: TaskDefinition,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
}

/// A container instance (an EC2-style node of one cluster).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub id: String,
    pub arn: String,
    pub cluster: String,
    pub ec2_instance_id: String,
    pub status: String,
    #[serde(default)]
    pub status_reason: Option<String>,
    pub agent_connected: bool,
    pub cpu: u32,
    pub memory: u32,
    #[serde(default)]
    pub reserved_ports: Vec<u16>,
    #[serde(default)]
    pub attributes: Vec<Attribute>,
    pub registered_ms: i64,
    /// Counts every change of the record, as ECS's `version`.
    pub version: u64,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub agent_version: String,
}

/// The managed capacity behind FARGATE: an agent serving every cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FargateNode {
    pub id: String,
    pub cpu: u32,
    pub memory: u32,
    pub agent_connected: bool,
    pub address: String,
    pub availability_zone: String,
    pub registered_ms: i64,
}

/// The index entry of a task on a node: what placement needs to know
/// without reading the task. Present from placement until the task is
/// STOPPED, so a node's entries are exactly what it must run and the
/// resources it has given out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeTask {
    pub cluster: String,
    pub task_arn: String,
    pub task_definition_arn: String,
    pub family: String,
    #[serde(default)]
    pub group: String,
    pub cpu: u32,
    pub memory: u32,
    /// Fixed TCP host ports.
    #[serde(default)]
    pub host_ports: Vec<u16>,
    /// Fixed UDP host ports.
    #[serde(default)]
    pub host_ports_udp: Vec<u16>,
    #[serde(default)]
    pub desired_stopped: bool,
}

/// What the server has applied of a node's session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub applied_seq: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Container {
    pub name: String,
    pub arn: String,
    pub image: String,
    #[serde(default)]
    pub image_digest: Option<String>,
    #[serde(default)]
    pub runtime_id: Option<String>,
    pub last_status: String,
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub network_bindings: Vec<NetworkBinding>,
    #[serde(default)]
    pub health_status: Option<String>,
    #[serde(default)]
    pub cpu: Option<String>,
    #[serde(default)]
    pub memory: Option<String>,
    #[serde(default)]
    pub memory_reservation: Option<String>,
}

/// Times in milliseconds since the epoch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskTimes {
    pub created: i64,
    #[serde(default)]
    pub pull_started: Option<i64>,
    #[serde(default)]
    pub pull_stopped: Option<i64>,
    #[serde(default)]
    pub started: Option<i64>,
    #[serde(default)]
    pub stopping: Option<i64>,
    #[serde(default)]
    pub execution_stopped: Option<i64>,
    #[serde(default)]
    pub stopped: Option<i64>,
    #[serde(default)]
    pub connectivity: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub arn: String,
    pub cluster: String,
    pub cluster_arn: String,
    pub task_definition_arn: String,
    /// The overrides as RunTask received them (rendered back as given).
    #[serde(default)]
    pub overrides: Value,
    pub last_status: String,
    pub desired_status: String,
    pub launch_type: String,
    #[serde(default)]
    pub capacity_provider_name: Option<String>,
    /// The agent node running it.
    pub node_id: String,
    #[serde(default)]
    pub container_instance_arn: Option<String>,
    #[serde(default)]
    pub cpu: Option<String>,
    #[serde(default)]
    pub memory: Option<String>,
    pub containers: Vec<Container>,
    pub times: TaskTimes,
    #[serde(default)]
    pub connectivity: Option<String>,
    #[serde(default)]
    pub stop_code: Option<String>,
    #[serde(default)]
    pub stopped_reason: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub started_by: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    pub version: u64,
    #[serde(default)]
    pub network: Option<TaskNetwork>,
    /// awsvpc: the subnets and groups RunTask named, recorded.
    #[serde(default)]
    pub awsvpc: Option<Value>,
    #[serde(default)]
    pub attachment_id: Option<String>,
    #[serde(default)]
    pub health_status: Option<String>,
    pub availability_zone: String,
    #[serde(default)]
    pub enable_execute_command: bool,
    #[serde(default)]
    pub credentials: Option<TaskCredentials>,
    /// Host ports the task holds on its node (fixed and dynamic).
    #[serde(default)]
    pub host_ports: Vec<u16>,
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
    /// A service task leaving its load balancers: deregistered, RUNNING
    /// until its targets have drained, then stopped with this reason
    /// (`lastStatus` reads DEACTIVATING meanwhile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivating: Option<Deactivation>,
    /// A service task behind load balancers that runs but is not yet
    /// registered in all its target groups (`lastStatus` reads ACTIVATING
    /// meanwhile, as on ECS).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub activating: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deactivation {
    pub until_ms: i64,
    pub reason: String,
}

/// Task lifecycle states in order; a task only ever moves forward.
pub const LIFECYCLE: [&str; 8] = [
    "PROVISIONING",
    "PENDING",
    "ACTIVATING",
    "RUNNING",
    "DEACTIVATING",
    "STOPPING",
    "DEPROVISIONING",
    "STOPPED",
];

pub fn lifecycle_rank(status: &str) -> Option<usize> {
    LIFECYCLE.iter().position(|s| *s == status)
}

impl Task {
    /// Whether the task still holds resources on its node.
    pub fn holds_resources(&self) -> bool {
        self.last_status != "STOPPED"
    }

    pub fn is_pending(&self) -> bool {
        matches!(
            self.last_status.as_str(),
            "PROVISIONING" | "PENDING" | "ACTIVATING"
        )
    }
}

/// Milliseconds to the JSON 1.1 timestamp form: epoch seconds.
pub fn epoch(ms: i64) -> Value {
    serde_json::json!(ms as f64 / 1000.0)
}

pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], key: &str) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("record {key} is unreadable: {e}"))
}

pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("records serialize")
}

pub const SERVICES: &str = "ecs/services/";

pub fn service_key(cluster: &str, name: &str) -> String {
    format!("{SERVICES}{cluster}/{name}")
}

pub fn services_prefix(cluster: &str) -> String {
    format!("{SERVICES}{cluster}/")
}

/// One entry of a service's `events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceEvent {
    pub id: String,
    pub created_ms: i64,
    pub message: String,
}

/// How many events a service keeps (ECS shows the latest 100).
pub const SERVICE_EVENTS: usize = 100;

/// An ECS service: what the user asked for, and the scheduler's state
/// (deployments, launch delay) that the reconciler reads and rewrites.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub name: String,
    pub arn: String,
    pub cluster: String,
    pub cluster_arn: String,
    /// The account and region the service was created in: the scheduler
    /// acts for them.
    pub account: String,
    pub region: String,
    /// ACTIVE, DRAINING or INACTIVE.
    pub status: String,
    pub task_definition: String,
    #[serde(default)]
    pub launch_type: Option<String>,
    #[serde(default)]
    pub capacity_provider_strategy: Vec<StrategyItem>,
    #[serde(default)]
    pub platform_version: Option<String>,
    #[serde(default)]
    pub network_configuration: Option<Value>,
    #[serde(default)]
    pub placement_constraints: Vec<Value>,
    #[serde(default)]
    pub placement_strategy: Vec<Value>,
    #[serde(default)]
    pub load_balancers: Vec<Value>,
    #[serde(default)]
    pub service_registries: Vec<Value>,
    /// `deploymentConfiguration.alarms` as given (recorded, not acted on).
    #[serde(default)]
    pub alarms: Option<Value>,
    #[serde(default)]
    pub role_arn: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub enable_ecs_managed_tags: bool,
    #[serde(default)]
    pub propagate_tags: Option<String>,
    #[serde(default)]
    pub enable_execute_command: bool,
    pub created_ms: i64,
    pub created_by: String,
    #[serde(default)]
    pub client_token: Option<String>,
    pub sched: dockyard_reconciler::Service,
    /// Newest first, at most [`SERVICE_EVENTS`].
    #[serde(default)]
    pub events: Vec<ServiceEvent>,
    /// Stopped tasks the scheduler has counted.
    #[serde(default)]
    pub accounted: Vec<String>,
    /// When a deleted service's tasks were all gone.
    #[serde(default)]
    pub inactive_ms: Option<i64>,
    /// `serviceConnectConfiguration` as given (recorded; its namespace is
    /// what ListServicesByNamespace matches).
    #[serde(default)]
    pub service_connect: Option<Value>,
}
