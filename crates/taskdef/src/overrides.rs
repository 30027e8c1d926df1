//! RunTask and StartTask `overrides`: checked against the definition, and
//! applied to give what the agent runs.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{KeyValuePair, TaskDefinition};
use crate::{ValidationError, parse_cpu, parse_memory};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerOverride {
    pub name: Option<String>,
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub environment: Vec<KeyValuePair>,
    #[serde(default)]
    pub environment_files: Vec<Value>,
    pub cpu: Option<i32>,
    pub memory: Option<i32>,
    pub memory_reservation: Option<i32>,
    #[serde(default)]
    pub resource_requirements: Vec<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskOverride {
    #[serde(default)]
    pub container_overrides: Vec<ContainerOverride>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub task_role_arn: Option<String>,
    pub execution_role_arn: Option<String>,
    pub ephemeral_storage: Option<Value>,
}

/// Checks `overrides` (`null` or absent means none) against `def`.
pub fn validate_overrides(
    def: &TaskDefinition,
    overrides: &Value,
) -> Result<TaskOverride, ValidationError> {
    if overrides.is_null() {
        return Ok(TaskOverride::default());
    }
    let o: TaskOverride =
        serde_json::from_value(overrides.clone()).map_err(|e| ValidationError {
            code: "SerializationException",
            message: format!("overrides do not match the TaskOverride shape: {e}"),
        })?;
    for c in &o.container_overrides {
        let Some(name) = &c.name else {
            return Err(ValidationError::invalid(
                "Container override name must be specified.",
            ));
        };
        if !def.container_definitions.iter().any(|d| &d.name == name) {
            return Err(ValidationError::invalid(format!(
                "Override for container named {name} is not a container in the TaskDefinition."
            )));
        }
        if c.memory.is_some_and(|m| m < 6) || c.memory_reservation.is_some_and(|m| m < 6) {
            return Err(ValidationError::invalid(format!(
                "Invalid memory override for container {name}: at least 6 MiB."
            )));
        }
        if c.cpu.is_some_and(|v| v < 0) {
            return Err(ValidationError::invalid(format!(
                "Invalid cpu override for container {name}."
            )));
        }
    }
    if let Some(cpu) = &o.cpu
        && parse_cpu(cpu).is_none()
    {
        return Err(ValidationError::invalid("Invalid 'cpu' override for task."));
    }
    if let Some(mem) = &o.memory
        && parse_memory(mem).is_none()
    {
        return Err(ValidationError::invalid(
            "Invalid 'memory' override for task.",
        ));
    }
    let eff = effective(def, &o);
    if let Some(m) = eff.memory.as_deref().and_then(parse_memory) {
        let hard: i64 = eff
            .container_definitions
            .iter()
            .map(|c| i64::from(c.memory.unwrap_or(0)))
            .sum();
        if hard > i64::from(m) {
            return Err(ValidationError::invalid(format!(
                "The sum of container memory ({hard} MiB) exceeds the task memory override ({m} MiB)."
            )));
        }
    }
    Ok(o)
}

/// The definition with `o` applied: commands replaced, environment
/// variables added or replaced by name, sizes overridden.
pub fn effective(def: &TaskDefinition, o: &TaskOverride) -> TaskDefinition {
    let mut d = def.clone();
    if let Some(c) = &o.cpu {
        d.cpu = parse_cpu(c).map(|v| v.to_string());
    }
    if let Some(m) = &o.memory {
        d.memory = parse_memory(m).map(|v| v.to_string());
    }
    if o.task_role_arn.is_some() {
        d.task_role_arn = o.task_role_arn.clone();
    }
    if o.execution_role_arn.is_some() {
        d.execution_role_arn = o.execution_role_arn.clone();
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
        for kv in &co.environment {
            c.environment.retain(|e| e.name != kv.name);
            c.environment.push(kv.clone());
        }
        c.environment_files
            .extend(co.environment_files.iter().cloned());
        if co.cpu.is_some() {
            c.cpu = co.cpu;
        }
        if co.memory.is_some() {
            c.memory = co.memory;
        }
        if co.memory_reservation.is_some() {
            c.memory_reservation = co.memory_reservation;
        }
    }
    d
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;
    use crate::validate_registration;

    fn def() -> TaskDefinition {
        validate_registration(&json!({"family": "f", "memory": "256", "containerDefinitions": [
            {"name": "app", "image": "x", "memory": 64, "command": ["a"], "environment": [{"name": "A", "value": "1"}]}
        ]}))
        .unwrap()
        .into_definition(1, "arn".into(), chrono::Utc::now(), None)
    }

    #[test]
    fn overrides_apply_and_are_checked() {
        let d = def();
        let o = validate_overrides(&d, &json!({"containerOverrides": [{"name": "app", "command": ["b"], "environment": [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}]}], "memory": "512"})).unwrap();
        let e = effective(&d, &o);
        let c = &e.container_definitions[0];
        assert_eq!(c.command, Some(vec!["b".to_string()]));
        assert_eq!(c.environment.len(), 2);
        assert!(
            c.environment
                .iter()
                .any(|kv| kv.name.as_deref() == Some("A") && kv.value.as_deref() == Some("2"))
        );
        assert_eq!(e.memory.as_deref(), Some("512"));
        assert_eq!(e.resources().memory, 512);
        let err =
            validate_overrides(&d, &json!({"containerOverrides": [{"name": "nope"}]})).unwrap_err();
        assert_eq!(err.code, "InvalidParameterException");
        assert!(validate_overrides(&d, &json!({"memory": "32"})).is_err());
        assert!(validate_overrides(&d, &json!({"containerOverrides": "x"})).is_err());
        assert_eq!(
            validate_overrides(&d, &Value::Null).unwrap(),
            TaskOverride::default()
        );
    }
}
