//! What `RegisterTaskDefinition` checks, with ECS's exception names and
//! wording where known.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{
    ContainerDefinition, HealthCheck, PlacementConstraint, RequiredAttribute, TaskDefinition,
    Volume,
};
use crate::{ValidationError, fargate_memory_for, parse_cpu, parse_memory};

type R<T> = Result<T, ValidationError>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// The request as botocore sends it; unknown members are ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterIn {
    family: Option<String>,
    task_role_arn: Option<String>,
    execution_role_arn: Option<String>,
    network_mode: Option<String>,
    container_definitions: Option<Vec<ContainerDefinition>>,
    #[serde(default)]
    volumes: Vec<Volume>,
    #[serde(default)]
    placement_constraints: Vec<PlacementConstraint>,
    #[serde(default)]
    requires_compatibilities: Vec<String>,
    cpu: Option<String>,
    memory: Option<String>,
    #[serde(default)]
    tags: Vec<TagIn>,
    pid_mode: Option<String>,
    ipc_mode: Option<String>,
    proxy_configuration: Option<Value>,
    ephemeral_storage: Option<Value>,
    runtime_platform: Option<Value>,
    enable_fault_injection: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
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
        // The wire form carries milliseconds; keep what a reader gets back.
        d.registered_at =
            chrono::TimeZone::timestamp_millis_opt(&Utc, registered_at.timestamp_millis()).single();
        d.registered_by = registered_by;
        d
    }
}

fn name_ok(s: &str) -> bool {
    (1..=255).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

const LOG_DRIVERS: [&str; 9] = [
    "json-file",
    "syslog",
    "journald",
    "gelf",
    "fluentd",
    "awslogs",
    "splunk",
    "awsfirelens",
    "none",
];

const ULIMITS: [&str; 15] = [
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

pub fn validate_registration(input: &Value) -> R<Registration> {
    let i: RegisterIn = serde_json::from_value(input.clone()).map_err(|e| ValidationError {
        code: "SerializationException",
        message: format!("the request does not match RegisterTaskDefinition's input shape: {e}"),
    })?;
    let family = i
        .family
        .ok_or_else(|| ValidationError::client("Family must be specified."))?;
    if !name_ok(&family) {
        return Err(ValidationError::client(
            "Family contains invalid characters or is too long. Up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed.",
        ));
    }
    let mut containers = i
        .container_definitions
        .ok_or_else(|| ValidationError::client("Container list cannot be empty."))?;
    if containers.is_empty() {
        return Err(ValidationError::client("Container list cannot be empty."));
    }
    if containers.len() > 10 {
        return Err(ValidationError::client(
            "Too many containers: a task definition can have at most 10.",
        ));
    }
    let mode = i.network_mode.clone().unwrap_or_else(|| "bridge".into());
    if !["bridge", "host", "awsvpc", "none"].contains(&mode.as_str()) {
        return Err(ValidationError::client(format!(
            "Network mode '{mode}' is not valid. Valid values are bridge, host, awsvpc and none."
        )));
    }
    for c in &i.requires_compatibilities {
        if !["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"].contains(&c.as_str()) {
            return Err(ValidationError::client(format!(
                "Invalid compatibility '{c}'. Valid values are EC2, FARGATE, EXTERNAL and MANAGED_INSTANCES."
            )));
        }
    }
    let fargate = i.requires_compatibilities.iter().any(|c| c == "FARGATE");
    let cpu = match &i.cpu {
        Some(s) => Some(
            parse_cpu(s)
                .filter(|c| *c >= 128)
                .ok_or_else(|| ValidationError::client("Invalid 'cpu' setting for task."))?,
        ),
        None => None,
    };
    let memory = match &i.memory {
        Some(s) => Some(
            parse_memory(s)
                .filter(|m| *m >= 6)
                .ok_or_else(|| ValidationError::client("Invalid 'memory' setting for task."))?,
        ),
        None => None,
    };
    let fargate_size_ok = match (cpu, memory) {
        (Some(c), Some(m)) => fargate_memory_for(c).contains(&m),
        _ => false,
    };
    if fargate {
        if mode != "awsvpc" {
            return Err(ValidationError::client(
                "Fargate only supports network mode 'awsvpc'.",
            ));
        }
        let (Some(c), Some(m)) = (cpu, memory) else {
            return Err(ValidationError::client(
                "Fargate requires that 'cpu' be defined at the task level.",
            ));
        };
        if !fargate_size_ok {
            return Err(ValidationError::client(format!(
                "No Fargate configuration exists for given values: {c} CPU, {m} memory. See the Amazon ECS documentation for the valid values."
            )));
        }
    }
    let volume_names: BTreeSet<&str> = i.volumes.iter().map(|v| v.name.as_str()).collect();
    if volume_names.len() != i.volumes.len() {
        return Err(ValidationError::client("Volume names must be unique."));
    }
    let mut names = BTreeSet::new();
    for c in &containers {
        if !names.insert(c.name.clone()) {
            return Err(ValidationError::client(format!(
                "Container names must be unique. Duplicate container name: {}",
                c.name
            )));
        }
    }
    for c in containers.iter_mut() {
        check_container(c, &mode, memory, &names, &volume_names, fargate)?;
    }
    if !containers.iter().any(|c| c.essential.unwrap_or(true)) {
        return Err(ValidationError::client(
            "A task definition must have at least one essential container.",
        ));
    }
    if let Some(m) = memory {
        let hard: i64 = containers
            .iter()
            .map(|c| i64::from(c.memory.unwrap_or(0)))
            .sum();
        if hard > i64::from(m) {
            return Err(ValidationError::client(format!(
                "Invalid setting for task memory: the sum of container memory ({hard} MiB) exceeds the task's memory ({m} MiB)."
            )));
        }
    }
    if let Some(c) = cpu {
        let sum: i64 = containers
            .iter()
            .map(|k| i64::from(k.cpu.unwrap_or(0)))
            .sum();
        if sum > i64::from(c) {
            return Err(ValidationError::client(format!(
                "Invalid setting for task cpu: the sum of container cpu ({sum}) exceeds the task's cpu ({c})."
            )));
        }
    }
    check_cycles(&containers)?;
    for p in &i.placement_constraints {
        if p.kind != "memberOf" {
            return Err(ValidationError::client(format!(
                "Invalid placement constraint type '{}' for a task definition: only memberOf is supported.",
                p.kind
            )));
        }
    }
    if i.placement_constraints.len() > 10 {
        return Err(ValidationError::client(
            "A task definition can have at most 10 placement constraints.",
        ));
    }
    let tags = tags(i.tags)?;
    let uses_host_volumes = i.volumes.iter().any(|v| v.other.contains_key("host"));
    let mut compatibilities = vec!["EC2".to_string()];
    if mode == "awsvpc" && fargate_size_ok && !uses_host_volumes {
        compatibilities.push("FARGATE".into());
    }
    let requires_attributes = required_attributes(
        &containers,
        &mode,
        i.task_role_arn.is_some(),
        i.execution_role_arn.is_some(),
    );
    let def = TaskDefinition {
        task_definition_arn: String::new(),
        container_definitions: containers,
        family,
        task_role_arn: i.task_role_arn,
        execution_role_arn: i.execution_role_arn,
        network_mode: Some(mode),
        revision: 0,
        volumes: i.volumes,
        status: "ACTIVE".into(),
        requires_attributes,
        placement_constraints: i.placement_constraints,
        compatibilities,
        runtime_platform: i.runtime_platform,
        requires_compatibilities: i.requires_compatibilities,
        cpu: cpu.map(|c| c.to_string()),
        memory: memory.map(|m| m.to_string()),
        pid_mode: i.pid_mode,
        ipc_mode: i.ipc_mode,
        proxy_configuration: i.proxy_configuration,
        ephemeral_storage: i.ephemeral_storage,
        registered_at: None,
        deregistered_at: None,
        registered_by: None,
        enable_fault_injection: i.enable_fault_injection,
    };
    Ok(Registration { def, tags })
}

fn tags(given: Vec<TagIn>) -> R<Vec<Tag>> {
    if given.len() > 50 {
        return Err(ValidationError::invalid(
            "Tags cannot exceed 50 per resource.",
        ));
    }
    given
        .into_iter()
        .map(|t| {
            let key = t.key.unwrap_or_default();
            let value = t.value.unwrap_or_default();
            if key.is_empty() || key.chars().count() > 128 || value.chars().count() > 256 {
                return Err(ValidationError::invalid(
                    "Tag keys must be 1-128 characters and values at most 256.",
                ));
            }
            if key.to_ascii_lowercase().starts_with("aws:") {
                return Err(ValidationError::invalid(
                    "Tag keys with the 'aws:' prefix are reserved for use by AWS.",
                ));
            }
            Ok(Tag { key, value })
        })
        .collect()
}

fn check_container(
    c: &mut ContainerDefinition,
    mode: &str,
    task_memory: Option<u32>,
    names: &BTreeSet<String>,
    volumes: &BTreeSet<&str>,
    fargate: bool,
) -> R<()> {
    let bad = |m: String| {
        ValidationError::client(format!("Invalid setting for container '{}'. {m}", c.name))
    };
    if !name_ok(&c.name) {
        return Err(ValidationError::client(format!(
            "Container name '{}' is invalid: up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed.",
            c.name
        )));
    }
    if c.image.trim().is_empty() {
        return Err(ValidationError::client(
            "Container.image should not be null or empty.",
        ));
    }
    if c.image.len() > 255 {
        return Err(bad("The image name is longer than 255 characters.".into()));
    }
    if c.memory.is_none() && c.memory_reservation.is_none() && task_memory.is_none() {
        return Err(bad(
            "At least one of 'memory' or 'memoryReservation' must be specified.".into(),
        ));
    }
    if let Some(m) = c.memory
        && m < 6
    {
        return Err(bad("The 'memory' setting must be at least 6 MiB.".into()));
    }
    if let (Some(m), Some(r)) = (c.memory, c.memory_reservation)
        && r > m
    {
        return Err(bad(
            "'memoryReservation' must be less than or equal to 'memory'.".into(),
        ));
    }
    if c.cpu.is_some_and(|v| v < 0) {
        return Err(bad("'cpu' must not be negative.".into()));
    }
    let mut seen = BTreeSet::new();
    for p in &c.port_mappings {
        let proto = p.protocol.clone().unwrap_or_else(|| "tcp".into());
        if !["tcp", "udp"].contains(&proto.as_str()) {
            return Err(bad(format!(
                "Invalid protocol '{proto}' in a port mapping."
            )));
        }
        let cp = match (p.container_port, &p.container_port_range) {
            (Some(cp), None) => cp,
            (None, Some(_)) => continue,
            (Some(_), Some(_)) => {
                return Err(bad(
                    "Specify either containerPort or containerPortRange, not both.".into(),
                ));
            }
            (None, None) => return Err(bad("A port mapping needs a containerPort.".into())),
        };
        if !(0..=65535).contains(&cp) || p.host_port.is_some_and(|h| !(0..=65535).contains(&h)) {
            return Err(bad("Port numbers must be between 0 and 65535.".into()));
        }
        if (mode == "awsvpc" || mode == "host") && p.host_port.is_some_and(|h| h != cp) {
            return Err(ValidationError::client(format!(
                "When networkMode={mode}, the containerPort and hostPort values must match."
            )));
        }
        if !seen.insert((cp, proto)) {
            return Err(bad(format!("Duplicate containerPort {cp}.")));
        }
    }
    if let Some(hc) = c.health_check.as_mut() {
        check_health(hc).map_err(&bad)?;
    }
    for d in &c.depends_on {
        if !names.contains(&d.container_name) {
            return Err(bad(format!(
                "The container '{}' in dependsOn does not exist in the task definition.",
                d.container_name
            )));
        }
        if d.container_name == c.name {
            return Err(bad("A container cannot depend on itself.".into()));
        }
        if !["START", "COMPLETE", "SUCCESS", "HEALTHY"].contains(&d.condition.as_str()) {
            return Err(bad(format!(
                "Invalid dependsOn condition '{}'.",
                d.condition
            )));
        }
    }
    for kv in &c.environment {
        if kv.name.as_deref().is_none_or(str::is_empty) {
            return Err(bad("Environment variables need a name.".into()));
        }
    }
    for s in &c.secrets {
        if s.name.is_empty() || s.value_from.is_empty() {
            return Err(bad("Secrets need a name and a valueFrom.".into()));
        }
    }
    for f in &c.environment_files {
        if f["type"].as_str() != Some("s3")
            || f["value"].as_str().is_none_or(|v| !v.starts_with("arn:"))
        {
            return Err(bad(
                "environmentFiles need type s3 and an S3 object ARN as value.".into(),
            ));
        }
    }
    if let Some(lc) = &c.log_configuration
        && !LOG_DRIVERS.contains(&lc.log_driver.as_str())
    {
        return Err(bad(format!(
            "Log driver '{}' is not supported.",
            lc.log_driver
        )));
    }
    if let Some(lc) = &c.log_configuration
        && lc.log_driver == "awslogs"
        && lc
            .options
            .as_ref()
            .is_none_or(|o| !o.contains_key("awslogs-group"))
    {
        return Err(bad(
            "The awslogs log driver requires the awslogs-group option.".into(),
        ));
    }
    for m in &c.mount_points {
        if let Some(v) = &m.source_volume
            && !volumes.contains(v.as_str())
        {
            return Err(bad(format!("Unknown volume '{v}' in mountPoints.")));
        }
    }
    for u in &c.ulimits {
        if !ULIMITS.contains(&u.name.as_str()) {
            return Err(bad(format!("Invalid ulimit name '{}'.", u.name)));
        }
        if u.soft_limit > u.hard_limit {
            return Err(bad(format!(
                "The soft limit of ulimit '{}' exceeds its hard limit.",
                u.name
            )));
        }
    }
    if let Some(lp) = &c.linux_parameters
        && lp.shared_memory_size.is_some_and(|s| s <= 0)
    {
        return Err(bad("sharedMemorySize must be greater than 0.".into()));
    }
    let max_stop = if fargate { 120 } else { i32::MAX };
    if c.stop_timeout.is_some_and(|t| t < 0 || t > max_stop) {
        return Err(bad(format!(
            "stopTimeout must be between 0 and {max_stop} seconds."
        )));
    }
    if c.start_timeout.is_some_and(|t| t < 0) {
        return Err(bad("startTimeout must not be negative.".into()));
    }
    if c.working_directory
        .as_deref()
        .is_some_and(|w| !w.starts_with('/'))
    {
        return Err(bad("workingDirectory must be an absolute path.".into()));
    }
    if c.cpu.is_none() {
        c.cpu = Some(0);
    }
    Ok(())
}

/// Health check ranges, filling ECS's defaults.
fn check_health(hc: &mut HealthCheck) -> Result<(), String> {
    match hc.command.first().map(String::as_str) {
        Some("CMD") | Some("CMD-SHELL") if hc.command.len() > 1 => {}
        Some("NONE") => {}
        _ => {
            return Err(
                "The healthCheck command must start with CMD or CMD-SHELL (or be NONE).".into(),
            );
        }
    }
    let range = |v: &mut Option<i32>, name: &str, lo: i32, hi: i32, default: i32| {
        let x = v.unwrap_or(default);
        if !(lo..=hi).contains(&x) {
            return Err(format!("healthCheck.{name} must be between {lo} and {hi}."));
        }
        *v = Some(x);
        Ok(())
    };
    range(&mut hc.interval, "interval", 5, 300, 30)?;
    range(&mut hc.timeout, "timeout", 2, 120, 5)?;
    range(&mut hc.retries, "retries", 1, 10, 3)?;
    range(&mut hc.start_period, "startPeriod", 0, 300, 0)?;
    Ok(())
}

fn check_cycles(containers: &[ContainerDefinition]) -> R<()> {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    while done.len() < containers.len() {
        let before = done.len();
        for c in containers {
            if !done.contains(c.name.as_str())
                && c.depends_on
                    .iter()
                    .all(|d| done.contains(d.container_name.as_str()))
            {
                done.insert(&c.name);
            }
        }
        if done.len() == before {
            return Err(ValidationError::client(
                "The container dependencies (dependsOn) form a cycle.",
            ));
        }
    }
    for c in containers {
        for d in &c.depends_on {
            let target = containers.iter().find(|t| t.name == d.container_name);
            if d.condition == "HEALTHY" && target.is_some_and(|t| t.health_check.is_none()) {
                return Err(ValidationError::client(format!(
                    "Invalid setting for container '{}'. The dependency condition HEALTHY needs a healthCheck on container '{}'.",
                    c.name, d.container_name
                )));
            }
        }
    }
    Ok(())
}

/// The agent capabilities a definition needs, named as ECS names them.
fn required_attributes(
    containers: &[ContainerDefinition],
    mode: &str,
    task_role: bool,
    execution_role: bool,
) -> Vec<RequiredAttribute> {
    let mut names: BTreeSet<&str> = BTreeSet::new();
    names.insert("com.amazonaws.ecs.capability.docker-remote-api.1.18");
    if mode == "awsvpc" {
        names.insert("ecs.capability.task-eni");
        names.insert("com.amazonaws.ecs.capability.docker-remote-api.1.18");
    }
    if task_role {
        names.insert("com.amazonaws.ecs.capability.task-iam-role");
    }
    for c in containers {
        if c.health_check.is_some() {
            names.insert("ecs.capability.container-health-check");
            names.insert("com.amazonaws.ecs.capability.docker-remote-api.1.24");
        }
        if !c.depends_on.is_empty() {
            names.insert("ecs.capability.container-ordering");
        }
        if let Some(lc) = &c.log_configuration {
            match lc.log_driver.as_str() {
                "awslogs" => {
                    names.insert("com.amazonaws.ecs.capability.logging-driver.awslogs");
                    names.insert("com.amazonaws.ecs.capability.docker-remote-api.1.19");
                    if execution_role {
                        names.insert("ecs.capability.execution-role-awslogs");
                    }
                }
                "json-file" => {
                    names.insert("com.amazonaws.ecs.capability.logging-driver.json-file");
                }
                "none" => {
                    names.insert("com.amazonaws.ecs.capability.logging-driver.none");
                }
                _ => {}
            }
        }
        if c.image.contains(".dkr.ecr.") && execution_role {
            names.insert("ecs.capability.execution-role-ecr-pull");
        }
        if c.privileged == Some(true) {
            names.insert("com.amazonaws.ecs.capability.privileged-container");
        }
        if !c.environment_files.is_empty() {
            names.insert("ecs.capability.env-files.s3");
        }
    }
    names
        .into_iter()
        .map(|n| RequiredAttribute {
            name: n.to_string(),
            value: None,
            target_type: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn web(extra: Value) -> Value {
        let mut v = json!({
            "family": "web",
            "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 128}]
        });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    fn code(v: Value) -> (&'static str, String) {
        let e = validate_registration(&v).unwrap_err();
        (e.code, e.message)
    }

    #[test]
    fn a_minimal_definition_gets_ecs_defaults() {
        let r = validate_registration(&web(json!({}))).unwrap();
        let d = r.into_definition(1, "arn:x".into(), Utc::now(), None);
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["networkMode"], "bridge");
        assert_eq!(v["status"], "ACTIVE");
        assert_eq!(v["compatibilities"], json!(["EC2"]));
        assert_eq!(v["containerDefinitions"][0]["cpu"], 0);
        assert!(v["registeredAt"].is_number());
        let back: TaskDefinition = serde_json::from_value(v).unwrap();
        assert_eq!(back, d);
        assert_eq!(
            d.resources(),
            crate::TaskResources {
                cpu: 0,
                memory: 128
            }
        );
    }

    #[test]
    fn fargate_sizes_and_requirements() {
        let fargate = |cpu: &str, mem: &str| {
            web(
                json!({"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": cpu, "memory": mem}),
            )
        };
        let r = validate_registration(&fargate("1 vCPU", "2 GB")).unwrap();
        let d = r.into_definition(1, "a".into(), Utc::now(), None);
        assert_eq!(
            (d.cpu.as_deref(), d.memory.as_deref()),
            (Some("1024"), Some("2048"))
        );
        assert!(d.compatibilities.contains(&"FARGATE".to_string()));
        assert!(
            d.requires_attributes
                .iter()
                .any(|a| a.name == "ecs.capability.task-eni")
        );
        let (c, m) = code(fargate("1024", "512"));
        assert_eq!(c, "ClientException");
        assert!(
            m.contains("No Fargate configuration exists for given values: 1024 CPU, 512 memory"),
            "{m}"
        );
        let (_, m) = code(web(
            json!({"requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512"}),
        ));
        assert!(m.contains("awsvpc"), "{m}");
        let (_, m) = code(web(
            json!({"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc"}),
        ));
        assert!(m.contains("cpu"), "{m}");
    }

    #[test]
    fn container_rules() {
        let one = |c: Value| code(json!({"family": "f", "containerDefinitions": [c]}));
        assert_eq!(
            one(json!({"name": "a", "image": "", "memory": 64})).1,
            "Container.image should not be null or empty."
        );
        assert!(
            one(json!({"name": "a", "image": "x"}))
                .1
                .contains("memoryReservation")
        );
        assert!(
            one(json!({"name": "a", "image": "x", "memory": 64, "memoryReservation": 128}))
                .1
                .contains("memoryReservation")
        );
        assert!(
            one(json!({"name": "a", "image": "x", "memory": 64, "essential": false}))
                .1
                .contains("essential")
        );
        assert!(
            one(json!({"name": "a b", "image": "x", "memory": 64}))
                .1
                .contains("invalid")
        );
        assert!(one(json!({"name": "a", "image": "x", "memory": 64, "portMappings": [{"containerPort": 70000}]})).1.contains("65535"));
        assert!(one(json!({"name": "a", "image": "x", "memory": 64, "healthCheck": {"command": ["true"]}})).1.contains("CMD"));
        assert!(one(json!({"name": "a", "image": "x", "memory": 64, "healthCheck": {"command": ["CMD", "true"], "interval": 1}})).1.contains("interval"));
        assert!(one(json!({"name": "a", "image": "x", "memory": 64, "logConfiguration": {"logDriver": "nope"}})).1.contains("nope"));
        assert!(one(json!({"name": "a", "image": "x", "memory": 64, "ulimits": [{"name": "nofile", "softLimit": 10, "hardLimit": 5}]})).1.contains("soft"));
        assert!(one(json!({"name": "a", "image": "x", "memory": 64, "mountPoints": [{"sourceVolume": "v", "containerPath": "/d"}]})).1.contains("volume"));
        assert!(
            one(json!({"name": "a", "image": "x", "memory": 64, "workingDirectory": "rel"}))
                .1
                .contains("absolute")
        );
        let awsvpc = json!({"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "a", "image": "x", "memory": 64, "portMappings": [{"containerPort": 80, "hostPort": 81}]}]});
        assert!(code(awsvpc).1.contains("must match"));
        assert_eq!(
            code(json!({"family": "f", "containerDefinitions": [{"name": 1}]})).0,
            "SerializationException"
        );
        assert_eq!(
            code(json!({"containerDefinitions": []})).0,
            "ClientException"
        );
    }

    #[test]
    fn health_defaults_and_dependencies() {
        let v = json!({"family": "f", "containerDefinitions": [
            {"name": "db", "image": "x", "memory": 64, "healthCheck": {"command": ["CMD-SHELL", "true"]}},
            {"name": "app", "image": "x", "memory": 64, "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}]}
        ]});
        let d = validate_registration(&v)
            .unwrap()
            .into_definition(1, "a".into(), Utc::now(), None);
        let hc = d.container_definitions[0].health_check.clone().unwrap();
        assert_eq!(
            (hc.interval, hc.timeout, hc.retries, hc.start_period),
            (Some(30), Some(5), Some(3), Some(0))
        );
        assert!(
            d.requires_attributes
                .iter()
                .any(|a| a.name == "ecs.capability.container-ordering")
        );
        let cycle = json!({"family": "f", "containerDefinitions": [
            {"name": "a", "image": "x", "memory": 64, "dependsOn": [{"containerName": "b", "condition": "START"}]},
            {"name": "b", "image": "x", "memory": 64, "dependsOn": [{"containerName": "a", "condition": "START"}]}
        ]});
        assert!(code(cycle).1.contains("cycle"));
        let unhealthy = json!({"family": "f", "containerDefinitions": [
            {"name": "a", "image": "x", "memory": 64},
            {"name": "b", "image": "x", "memory": 64, "dependsOn": [{"containerName": "a", "condition": "HEALTHY"}]}
        ]});
        assert!(code(unhealthy).1.contains("healthCheck"));
        let missing = json!({"family": "f", "containerDefinitions": [
            {"name": "b", "image": "x", "memory": 64, "dependsOn": [{"containerName": "zz", "condition": "START"}]}
        ]});
        assert!(code(missing).1.contains("zz"));
    }

    #[test]
    fn task_level_limits_and_tags() {
        assert!(code(web(json!({"memory": "64"}))).1.contains("exceeds"));
        assert!(code(web(json!({"cpu": "x"}))).1.contains("cpu"));
        assert_eq!(
            code(web(json!({"tags": [{"key": "aws:x", "value": "1"}]}))).0,
            "InvalidParameterException"
        );
        let r =
            validate_registration(&web(json!({"tags": [{"key": "team", "value": "a"}]}))).unwrap();
        assert_eq!(r.tags()[0].key, "team");
        assert!(
            code(web(json!({"family": "bad name"})))
                .1
                .contains("Family")
        );
        // Unknown members are passed through, not lost.
        let v = json!({"family": "f", "containerDefinitions": [{"name": "a", "image": "x", "memory": 64, "dockerLabels": {"k": "v"}}]});
        let d = validate_registration(&v)
            .unwrap()
            .into_definition(1, "a".into(), Utc::now(), None);
        assert_eq!(
            serde_json::to_value(&d).unwrap()["containerDefinitions"][0]["dockerLabels"]["k"],
            "v"
        );
    }
}
