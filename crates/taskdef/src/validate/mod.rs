//! What `RegisterTaskDefinition` checks, and the defaults ECS fills in.
//! The order is: the request's shape, the task-level settings, volumes,
//! each container, then what spans containers (names, dependencies,
//! sizes), then what the launch types require.

mod across;
mod container;
mod task;

use std::collections::BTreeSet;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::attributes::{compatibilities, required_attributes};
use crate::decode::decode;
use crate::model::{
    ContainerDefinition, EphemeralStorage, InferenceAccelerator, PlacementConstraint,
    ProxyConfiguration, RuntimePlatform, STATUS_ACTIVE, TaskDefinition, Volume,
};
use crate::{ValidationError, parse_cpu, parse_memory};

pub(crate) use across::sums as container_sums;
pub(crate) use container::environment_file;
pub(crate) use task::ephemeral_storage;

pub(crate) type R<T> = Result<T, ValidationError>;

/// A resource tag; ECS spells the members in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// The request as botocore sends it; unknown members are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RegisterIn {
    family: Option<String>,
    task_role_arn: Option<String>,
    execution_role_arn: Option<String>,
    network_mode: Option<String>,
    container_definitions: Option<Vec<ContainerDefinition>>,
    volumes: Vec<Volume>,
    placement_constraints: Vec<PlacementConstraint>,
    requires_compatibilities: Option<Vec<String>>,
    cpu: Option<String>,
    memory: Option<String>,
    tags: Vec<TagIn>,
    pid_mode: Option<String>,
    ipc_mode: Option<String>,
    proxy_configuration: Option<ProxyConfiguration>,
    inference_accelerators: Option<Vec<InferenceAccelerator>>,
    ephemeral_storage: Option<EphemeralStorage>,
    runtime_platform: Option<RuntimePlatform>,
    enable_fault_injection: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TagIn {
    key: Option<String>,
    value: Option<String>,
}

/// A checked registration, ready to become a revision.
#[derive(Debug, Clone)]
pub struct Registration {
    def: TaskDefinition,
    tags: Vec<Tag>,
}

impl Registration {
    pub fn family(&self) -> &str {
        &self.def.family
    }

    pub fn tags(&self) -> &[Tag] {
        &self.tags
    }

    /// The definition as ECS stores and returns it: `ACTIVE`, with its
    /// revision, ARN and registration time and principal.
    pub fn into_definition(
        self,
        revision: u32,
        arn: String,
        registered_at: DateTime<Utc>,
        registered_by: Option<String>,
    ) -> TaskDefinition {
        let mut d = self.def;
        d.revision = revision;
        d.task_definition_arn = arn;
        // The wire carries milliseconds; store what a reader gets back.
        d.registered_at = Utc
            .timestamp_millis_opt(registered_at.timestamp_millis())
            .single();
        d.registered_by = registered_by;
        d.status = STATUS_ACTIVE.into();
        d
    }
}

/// What the containers are checked against.
pub(crate) struct Ctx<'a> {
    /// The network mode, `bridge` when none was given.
    pub mode: &'a str,
    pub task_memory: Option<u32>,
    pub volumes: BTreeSet<&'a str>,
}

/// Decodes a `RegisterTaskDefinition` request and applies ECS's checks,
/// returning the definition with ECS's defaults filled in.
///
/// Decisions where Dockyard and AWS part: `awslogs-region` may be left out
/// of an `awslogs` configuration (Dockyard's log service has one region);
/// Fargate does not require an execution role for `awslogs` or private
/// images (Dockyard's agent pulls and ships logs with its own credentials).
pub fn validate_registration(input: &Value) -> R<Registration> {
    let i: RegisterIn = decode(input)?;
    let family = task::family(i.family)?;
    let mut containers = match i.container_definitions {
        Some(c) if !c.is_empty() => c,
        _ => return Err(ValidationError::client("Container list cannot be empty.")),
    };
    if containers.len() > 10 {
        return Err(ValidationError::client("Too many containers."));
    }
    let mode = task::network_mode(i.network_mode.as_deref())?;
    let requested = task::compatibilities(i.requires_compatibilities.as_deref())?;
    let fargate = requested.iter().any(|c| c == "FARGATE");
    task::pid_ipc(i.pid_mode.as_deref(), i.ipc_mode.as_deref())?;
    let cpu = i
        .cpu
        .as_deref()
        .map(|s| {
            parse_cpu(s)
                .filter(|c| (128..=196_608).contains(c))
                .ok_or_else(|| ValidationError::client("Invalid 'cpu' setting for task."))
        })
        .transpose()?;
    let memory = i
        .memory
        .as_deref()
        .map(|s| {
            parse_memory(s)
                .filter(|m| *m >= 6)
                .ok_or_else(|| ValidationError::client("Invalid 'memory' setting for task."))
        })
        .transpose()?;
    if fargate {
        task::fargate_task_level(
            mode,
            cpu,
            memory,
            i.pid_mode.as_deref(),
            i.ipc_mode.as_deref(),
        )?;
    }
    if let Some(e) = &i.ephemeral_storage {
        task::ephemeral_storage(e)?;
    }
    if let Some(p) = &i.runtime_platform {
        task::runtime_platform(p)?;
    }
    task::placement_constraints(&i.placement_constraints)?;
    if let Some(a) = &i.inference_accelerators {
        task::inference_accelerators(a)?;
    }
    let mut volumes = i.volumes;
    task::volumes(&mut volumes)?;
    let ctx = Ctx {
        mode,
        task_memory: memory,
        volumes: volumes.iter().map(|v| v.name.as_str()).collect(),
    };
    for c in containers.iter_mut() {
        container::check(c, &ctx)?;
    }
    across::check(
        &containers,
        cpu,
        memory,
        i.proxy_configuration.as_ref(),
        i.inference_accelerators.as_deref(),
    )?;
    if let Some(p) = &i.proxy_configuration {
        task::proxy(p, mode)?;
    }
    let tags = task::tags(i.tags)?;
    let mut def = TaskDefinition {
        container_definitions: containers,
        family,
        task_role_arn: i.task_role_arn,
        execution_role_arn: i.execution_role_arn,
        network_mode: i.network_mode,
        volumes,
        status: STATUS_ACTIVE.into(),
        placement_constraints: i.placement_constraints,
        runtime_platform: i.runtime_platform,
        requires_compatibilities: i.requires_compatibilities,
        cpu: cpu.map(|c| c.to_string()),
        memory: memory.map(|m| m.to_string()),
        inference_accelerators: i.inference_accelerators,
        pid_mode: i.pid_mode,
        ipc_mode: i.ipc_mode,
        proxy_configuration: i.proxy_configuration,
        ephemeral_storage: i.ephemeral_storage,
        enable_fault_injection: i.enable_fault_injection,
        ..TaskDefinition::default()
    };
    def.compatibilities = compatibilities(&def, &requested)?;
    def.requires_attributes = required_attributes(&def);
    Ok(Registration { def, tags })
}

impl TagIn {
    fn into_tag(self) -> R<Tag> {
        let key = self.key.unwrap_or_default();
        let value = self.value.unwrap_or_default();
        if key.is_empty() || key.chars().count() > 128 {
            return Err(ValidationError::invalid(
                "Tag keys must be between 1 and 128 characters.",
            ));
        }
        if value.chars().count() > 256 {
            return Err(ValidationError::invalid(
                "Tag values must be at most 256 characters.",
            ));
        }
        let allowed =
            |c: char| c.is_alphanumeric() || c == ' ' || (c.is_whitespace() && !c.is_control());
        if !key
            .chars()
            .chain(value.chars())
            .all(|c| allowed(c) || "_.:/=+-@".contains(c))
        {
            return Err(ValidationError::invalid(
                "Tag keys and values may only contain letters, numbers, spaces and the characters _ . : / = + - @.",
            ));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(ValidationError::invalid(
                "Tag keys with the 'aws:' prefix are reserved for use by AWS.",
            ));
        }
        Ok(Tag { key, value })
    }
}
