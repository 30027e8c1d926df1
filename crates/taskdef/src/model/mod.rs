//! The task definition in ECS's JSON shape: camelCase, members ECS leaves
//! out skipped, timestamps as epoch seconds.

mod container;
mod volume;

pub use container::*;
pub use volume::*;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// JSON 1.1 timestamps: epoch seconds, fractional allowed.
pub mod epoch_seconds {
    use chrono::{DateTime, TimeZone, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_f64(t.timestamp_millis() as f64 / 1000.0),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let v: Option<f64> = Option::deserialize(d)?;
        Ok(v.and_then(|secs| {
            Utc.timestamp_millis_opt((secs * 1000.0).round() as i64)
                .single()
        }))
    }
}

/// `ACTIVE` after registration.
pub const STATUS_ACTIVE: &str = "ACTIVE";
/// After `DeregisterTaskDefinition`.
pub const STATUS_INACTIVE: &str = "INACTIVE";
/// After `DeleteTaskDefinitions`.
pub const STATUS_DELETE_IN_PROGRESS: &str = "DELETE_IN_PROGRESS";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TaskDefinition {
    pub task_definition_arn: String,
    pub container_definitions: Vec<ContainerDefinition>,
    pub family: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// Absent when not registered; it then means `bridge`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    pub revision: u32,
    pub volumes: Vec<Volume>,
    /// `ACTIVE`, `INACTIVE` or `DELETE_IN_PROGRESS`.
    pub status: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requires_attributes: Vec<RequiredAttribute>,
    pub placement_constraints: Vec<PlacementConstraint>,
    /// The launch types the definition validated against.
    pub compatibilities: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_platform: Option<RuntimePlatform>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requires_compatibilities: Option<Vec<String>>,
    /// CPU units as a decimal string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// MiB as a decimal string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_accelerators: Option<Vec<InferenceAccelerator>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_configuration: Option<ProxyConfiguration>,
    #[serde(with = "epoch_seconds", skip_serializing_if = "Option::is_none")]
    pub registered_at: Option<DateTime<Utc>>,
    #[serde(with = "epoch_seconds", skip_serializing_if = "Option::is_none")]
    pub deregistered_at: Option<DateTime<Utc>>,
    #[serde(with = "epoch_seconds", skip_serializing_if = "Option::is_none")]
    pub delete_requested_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<EphemeralStorage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_fault_injection: Option<bool>,
}

/// A container instance attribute the task needs (`Attribute` in ECS).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RequiredAttribute {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PlacementConstraint {
    /// Only `memberOf` in a task definition.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RuntimePlatform {
    /// `X86_64` or `ARM64`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_architecture: Option<String>,
    /// `LINUX` or a `WINDOWS_SERVER_*` family.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operating_system_family: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct InferenceAccelerator {
    pub device_name: String,
    pub device_type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProxyConfiguration {
    /// Only `APPMESH`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub container_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<Vec<KeyValuePair>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EphemeralStorage {
    /// Required; an `Option` only so that a missing one is told apart from
    /// 0 when checking.
    #[serde(rename = "sizeInGiB", skip_serializing_if = "Option::is_none")]
    pub size_in_gib: Option<i32>,
}

/// What placement reserves for a task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskResources {
    /// CPU units, 1024 per vCPU.
    pub cpu: u32,
    /// MiB.
    pub memory: u32,
}

impl TaskDefinition {
    /// `bridge` when none was registered, as ECS defaults it on Linux.
    pub fn network_mode(&self) -> &str {
        self.network_mode.as_deref().unwrap_or("bridge")
    }

    pub fn container(&self, name: &str) -> Option<&ContainerDefinition> {
        self.container_definitions.iter().find(|c| c.name == name)
    }

    /// What placement reserves: the task-level cpu and memory when set,
    /// else the sum over containers. A container's memory counts its
    /// `memoryReservation` when it has one, else its hard limit, as ECS
    /// subtracts from an instance.
    pub fn resources(&self) -> TaskResources {
        let sum = |f: &dyn Fn(&ContainerDefinition) -> Option<i32>| -> u32 {
            self.container_definitions
                .iter()
                .map(|c| f(c).unwrap_or(0).max(0) as u32)
                .fold(0u32, u32::saturating_add)
        };
        TaskResources {
            cpu: self
                .cpu
                .as_deref()
                .and_then(crate::parse_cpu)
                .unwrap_or_else(|| sum(&|c| c.cpu)),
            memory: self
                .memory
                .as_deref()
                .and_then(crate::parse_memory)
                .unwrap_or_else(|| sum(&|c| c.memory_reservation.or(c.memory))),
        }
    }
}
