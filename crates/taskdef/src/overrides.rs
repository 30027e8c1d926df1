//! RunTask and StartTask `overrides`: checked against the definition, and
//! applied to give the definition the agent runs.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::decode::decode;
use crate::model::{
    EnvironmentFile, EphemeralStorage, KeyValuePair, ResourceRequirement, TaskDefinition,
};
use crate::validate::{container_sums, environment_file};
use crate::{ValidationError, is_fargate_size, parse_cpu, parse_memory};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerOverride {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Vec<KeyValuePair>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_files: Option<Vec<EnvironmentFile>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_requirements: Option<Vec<ResourceRequirement>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct InferenceAcceleratorOverride {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TaskOverride {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub container_overrides: Vec<ContainerOverride>,
    /// CPU units or vCPUs, as in a task definition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_accelerator_overrides: Option<Vec<InferenceAcceleratorOverride>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// MiB or GB, as in a task definition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<EphemeralStorage>,
}

fn invalid(m: impl Into<String>) -> ValidationError {
    ValidationError::invalid(m)
}

/// ECS's limit on the JSON of `containerOverrides`.
const MAX_CONTAINER_OVERRIDES_LEN: usize = 8192;

/// Checks `overrides` (`null` or absent means none) against `def`:
/// containers named must be the definition's, sizes in range, and the
/// task's memory and cpu (overridden or not) must still cover the
/// containers'. Errors are `InvalidParameterException`s, as RunTask's are.
pub fn validate_overrides(
    def: &TaskDefinition,
    overrides: &Value,
) -> Result<TaskOverride, ValidationError> {
    if overrides.is_null() {
        return Ok(TaskOverride::default());
    }
    let o: TaskOverride = decode(overrides)?;
    if let Some(list) = overrides.get("containerOverrides")
        && list.to_string().len() > MAX_CONTAINER_OVERRIDES_LEN
    {
        return Err(invalid(format!(
            "Container Overrides length must be at most {MAX_CONTAINER_OVERRIDES_LEN}"
        )));
    }
    for c in &o.container_overrides {
        container(def, c)?;
    }
    let cpu = o
        .cpu
        .as_deref()
        .map(|s| {
            parse_cpu(s)
                .filter(|c| (128..=196_608).contains(c))
                .ok_or_else(|| invalid(format!("Invalid 'cpu' override for task: {s}")))
        })
        .transpose()?;
    let memory = o
        .memory
        .as_deref()
        .map(|s| {
            parse_memory(s)
                .filter(|m| *m >= 6)
                .ok_or_else(|| invalid(format!("Invalid 'memory' override for task: {s}")))
        })
        .transpose()?;
    if let Some(e) = &o.ephemeral_storage {
        crate::validate::ephemeral_storage(e).map_err(|e| invalid(e.message))?;
    }
    for a in o.inference_accelerator_overrides.iter().flatten() {
        let known = def
            .inference_accelerators
            .iter()
            .flatten()
            .any(|d| Some(&d.device_name) == a.device_name.as_ref());
        if !known {
            return Err(invalid(format!(
                "Inference accelerator override for device {} is not an inference accelerator of the TaskDefinition.",
                a.device_name.as_deref().unwrap_or_default()
            )));
        }
    }
    let eff = effective(def, &o);
    let task_cpu = eff.cpu.as_deref().and_then(parse_cpu);
    let task_memory = eff.memory.as_deref().and_then(parse_memory);
    let fargate = def
        .requires_compatibilities
        .iter()
        .flatten()
        .any(|c| c == "FARGATE");
    if fargate
        && (cpu.is_some() || memory.is_some())
        && let (Some(c), Some(m)) = (task_cpu, task_memory)
        && !is_fargate_size(c, m)
    {
        return Err(invalid(crate::attributes::no_fargate_size(c, m)));
    }
    for c in &eff.container_definitions {
        if c.memory.is_none() && c.memory_reservation.is_none() && task_memory.is_none() {
            return Err(invalid(format!(
                "Invalid setting for container '{}'. At least one of 'memory' or 'memoryReservation' must be specified.",
                c.name
            )));
        }
        if let (Some(m), Some(r)) = (c.memory, c.memory_reservation)
            && r > m
        {
            return Err(invalid(format!(
                "Invalid memory override for container {}: 'memory' must be greater than or equal to 'memoryReservation'.",
                c.name
            )));
        }
    }
    container_sums(&eff.container_definitions, task_cpu, task_memory)
        .map_err(|e| invalid(e.message))?;
    Ok(o)
}

fn container(def: &TaskDefinition, c: &ContainerOverride) -> Result<(), ValidationError> {
    let Some(name) = c.name.as_deref().filter(|n| !n.is_empty()) else {
        return Err(invalid("Container override name must be specified."));
    };
    if def.container(name).is_none() {
        return Err(invalid(format!(
            "Override for container named {name} is not a container in the TaskDefinition."
        )));
    }
    if c.cpu.is_some_and(|v| v < 0) {
        return Err(invalid(format!(
            "Invalid cpu override for container {name}: the value must not be negative."
        )));
    }
    if c.memory.is_some_and(|m| m < 6) || c.memory_reservation.is_some_and(|m| m < 6) {
        return Err(invalid(format!(
            "Invalid memory override for container {name}: the minimum is 6 MiB."
        )));
    }
    if c.environment
        .iter()
        .flatten()
        .any(|kv| kv.name.as_deref().is_none_or(str::is_empty))
    {
        return Err(invalid(format!(
            "Invalid environment override for container {name}: environment variable names must not be empty."
        )));
    }
    for f in c.environment_files.iter().flatten() {
        environment_file(name, &f.kind, &f.value).map_err(|e| invalid(e.message))?;
    }
    for r in c.resource_requirements.iter().flatten() {
        if !["GPU", "InferenceAccelerator"].contains(&r.kind.as_str()) {
            return Err(invalid(format!(
                "Invalid resource requirement type '{}' for container {name}.",
                r.kind
            )));
        }
    }
    Ok(())
}

/// The definition with `o` applied: commands replaced, environment
/// variables added or replaced by name, environment files added, resource
/// requirements replaced by type, sizes and roles overridden.
pub fn effective(def: &TaskDefinition, o: &TaskOverride) -> TaskDefinition {
    let mut d = def.clone();
    if let Some(c) = o.cpu.as_deref().and_then(parse_cpu) {
        d.cpu = Some(c.to_string());
    }
    if let Some(m) = o.memory.as_deref().and_then(parse_memory) {
        d.memory = Some(m.to_string());
    }
    if o.task_role_arn.is_some() {
        d.task_role_arn = o.task_role_arn.clone();
    }
    if o.execution_role_arn.is_some() {
        d.execution_role_arn = o.execution_role_arn.clone();
    }
    if o.ephemeral_storage.is_some() {
        d.ephemeral_storage = o.ephemeral_storage.clone();
    }
    for co in &o.container_overrides {
        let Some(c) = d
            .container_definitions
            .iter_mut()
            .find(|c| Some(&c.name) == co.name.as_ref())
        else {
            continue;
        };
        if let Some(cmd) = &co.command {
            c.command = Some(cmd.clone());
        }
        for kv in co.environment.iter().flatten() {
            match c.environment.iter_mut().find(|e| e.name == kv.name) {
                Some(e) => e.value = kv.value.clone(),
                None => c.environment.push(kv.clone()),
            }
        }
        if let Some(files) = &co.environment_files {
            c.environment_files
                .get_or_insert_with(Vec::new)
                .extend(files.iter().cloned());
        }
        if co.cpu.is_some() {
            c.cpu = co.cpu;
        }
        if co.memory.is_some() {
            c.memory = co.memory;
        }
        if co.memory_reservation.is_some() {
            c.memory_reservation = co.memory_reservation;
        }
        for r in co.resource_requirements.iter().flatten() {
            let list = c.resource_requirements.get_or_insert_with(Vec::new);
            list.retain(|x| x.kind != r.kind);
            list.push(r.clone());
        }
    }
    d
}
