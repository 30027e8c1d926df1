//! What ECS derives from a definition at registration: the launch types it
//! is compatible with and the container instance attributes it requires.

use std::collections::BTreeSet;

use crate::ValidationError;
use crate::model::{ContainerDefinition, RequiredAttribute, TaskDefinition};
use crate::size::is_fargate_size;
use crate::{parse_cpu, parse_memory};

const FARGATE_LOG_DRIVERS: [&str; 3] = ["awslogs", "splunk", "awsfirelens"];

/// ECS's answer to a task size outside the Fargate table.
pub(crate) fn no_fargate_size(cpu: u32, memory: u32) -> String {
    format!(
        "No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. See the Amazon ECS documentation for the valid values."
    )
}

fn unsupported(what: &str) -> String {
    format!("Fargate compatible task definitions do not support {what}")
}

/// Why `def` cannot run on Fargate, worded as ECS's `ClientException`, or
/// `None` when it can.
pub fn fargate_problem(def: &TaskDefinition) -> Option<String> {
    if def.network_mode() != "awsvpc" {
        return Some("Fargate only supports network mode \u{2018}awsvpc\u{2019}.".into());
    }
    let Some(cpu) = def.cpu.as_deref().and_then(parse_cpu) else {
        return Some("Fargate requires that 'cpu' be defined at the task level.".into());
    };
    let Some(memory) = def.memory.as_deref().and_then(parse_memory) else {
        return Some("Fargate requires that 'memory' be defined at the task level.".into());
    };
    if !is_fargate_size(cpu, memory) {
        return Some(no_fargate_size(cpu, memory));
    }
    if let Some(p) = def.pid_mode.as_deref()
        && p != "task"
    {
        return Some(format!(
            "Tasks using the Fargate launch type do not support pidMode '{p}'. The supported value for pidMode is 'task'."
        ));
    }
    if def.ipc_mode.is_some() {
        return Some("Tasks using the Fargate launch type do not support ipcMode.".into());
    }
    if !def.placement_constraints.is_empty() {
        return Some(unsupported("placementConstraints"));
    }
    if def
        .inference_accelerators
        .as_ref()
        .is_some_and(|a| !a.is_empty())
    {
        return Some(unsupported("inferenceAccelerators"));
    }
    for v in &def.volumes {
        if v.source_path().is_some() {
            return Some(unsupported("sourcePath"));
        }
        if v.docker_volume_configuration.is_some() {
            return Some(unsupported("dockerVolumeConfiguration"));
        }
        if v.fsx_windows_file_server_volume_configuration.is_some() {
            return Some(unsupported("fsxWindowsFileServerVolumeConfiguration"));
        }
    }
    def.container_definitions.iter().find_map(fargate_container)
}

fn fargate_container(c: &ContainerDefinition) -> Option<String> {
    if c.privileged == Some(true) {
        return Some(unsupported("privileged"));
    }
    if c.links.as_ref().is_some_and(|l| !l.is_empty()) {
        return Some(unsupported("links"));
    }
    if c.docker_security_options
        .as_ref()
        .is_some_and(|o| !o.is_empty())
    {
        return Some(unsupported("dockerSecurityOptions"));
    }
    if let Some(lp) = &c.linux_parameters {
        for (what, used) in [
            (
                "devices",
                lp.devices.as_ref().is_some_and(|d| !d.is_empty()),
            ),
            ("sharedMemorySize", lp.shared_memory_size.is_some()),
            ("tmpfs", lp.tmpfs.as_ref().is_some_and(|t| !t.is_empty())),
            ("maxSwap", lp.max_swap.is_some()),
            ("swappiness", lp.swappiness.is_some()),
        ] {
            if used {
                return Some(unsupported(what));
            }
        }
        let adds = lp.capabilities.as_ref().and_then(|c| c.add.as_ref());
        if adds.is_some_and(|a| a.iter().any(|x| x != "SYS_PTRACE")) {
            return Some(
                "Tasks using the Fargate launch type only support adding the 'SYS_PTRACE' kernel capability."
                    .into(),
            );
        }
    }
    if let Some(l) = &c.log_configuration
        && !FARGATE_LOG_DRIVERS.contains(&l.log_driver.as_str())
    {
        return Some(format!(
            "Fargate only supports the awslogs, splunk and awsfirelens log drivers, not '{}'.",
            l.log_driver
        ));
    }
    for (what, v) in [
        ("startTimeout", c.start_timeout),
        ("stopTimeout", c.stop_timeout),
    ] {
        // AWS documents 2-120 seconds; only the maximum is enforced, since
        // clients (Dockyard's own tests among them) stop tasks after 1.
        if v.is_some_and(|t| t > 120) {
            return Some(format!(
                "Invalid '{what}' setting for container '{}'. The maximum value for Fargate is 120 seconds.",
                c.name
            ));
        }
    }
    if c.resource_requirements
        .iter()
        .flatten()
        .any(|r| r.kind == "GPU")
    {
        return Some(unsupported("GPU resource requirements"));
    }
    None
}

/// Why `def` cannot run on ECS Anywhere (`EXTERNAL`), or `None`.
fn external_problem(def: &TaskDefinition) -> Option<String> {
    if def.network_mode() == "awsvpc" {
        return Some(
            "Task definitions for the EXTERNAL launch type do not support network mode awsvpc."
                .into(),
        );
    }
    if def.volumes.iter().any(|v| {
        v.efs_volume_configuration.is_some()
            || v.fsx_windows_file_server_volume_configuration.is_some()
    }) {
        return Some(
            "Task definitions for the EXTERNAL launch type do not support EFS or FSx volumes."
                .into(),
        );
    }
    if def.proxy_configuration.is_some() {
        return Some(
            "Task definitions for the EXTERNAL launch type do not support proxyConfiguration."
                .into(),
        );
    }
    None
}

/// The launch types `def` validated against, in ECS's order: `EC2`
/// always, `FARGATE` when the definition can run there, `EXTERNAL` and
/// `MANAGED_INSTANCES` when asked for. A launch type in `requested` the
/// definition does not satisfy is a `ClientException`.
pub(crate) fn compatibilities(
    def: &TaskDefinition,
    requested: &[String],
) -> Result<Vec<String>, ValidationError> {
    let asked = |k: &str| requested.iter().any(|r| r == k);
    let mut out = Vec::new();
    if asked("EXTERNAL") {
        if let Some(p) = external_problem(def) {
            return Err(ValidationError::client(p));
        }
        out.push("EXTERNAL".to_string());
    }
    out.push("EC2".to_string());
    match fargate_problem(def) {
        None => out.push("FARGATE".into()),
        Some(p) if asked("FARGATE") => return Err(ValidationError::client(p)),
        Some(_) => {}
    }
    if asked("MANAGED_INSTANCES") {
        out.push("MANAGED_INSTANCES".into());
    }
    Ok(out)
}

fn is_ecr_image(image: &str) -> bool {
    let host = image.split('/').next().unwrap_or_default();
    image.contains('/')
        && host.contains(".dkr.ecr")
        && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"))
}

/// The container instance attributes ECS requires for what `def` uses
/// (`requiresAttributes`), sorted by name. ECS's rules are not published
/// in full; these are the ones its documentation and its answers show:
/// Docker API versions for the features that need them, log drivers,
/// task roles and ENIs, health checks, container ordering, secrets and
/// environment files, private registries and volume plugins.
pub fn required_attributes(def: &TaskDefinition) -> Vec<RequiredAttribute> {
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut add = |n: &str| {
        names.insert(n.to_string());
    };
    let api = |v: u32| format!("com.amazonaws.ecs.capability.docker-remote-api.1.{v}");
    let execution_role = def.execution_role_arn.is_some();
    if def.task_role_arn.is_some() {
        add("com.amazonaws.ecs.capability.task-iam-role");
        if def.network_mode() == "host" {
            add("com.amazonaws.ecs.capability.task-iam-role-network-host");
        }
    }
    if def.network_mode() == "awsvpc" {
        add("ecs.capability.task-eni");
    }
    if def.pid_mode.as_deref() == Some("task") || def.ipc_mode.as_deref() == Some("task") {
        add("ecs.capability.pid-ipc-namespace-sharing");
    }
    if def.proxy_configuration.is_some() {
        add("ecs.capability.aws-appmesh");
    }
    for v in &def.volumes {
        if let Some(d) = &v.docker_volume_configuration {
            add(&format!(
                "ecs.capability.docker-plugin.{}",
                d.driver.as_deref().unwrap_or("local")
            ));
            add(&api(25));
        }
        if let Some(e) = &v.efs_volume_configuration {
            add("ecs.capability.efs");
            add(&api(25));
            if e.authorization_config.is_some() {
                add("ecs.capability.efsAuth");
            }
        }
    }
    for c in &def.container_definitions {
        if is_ecr_image(&c.image) {
            add("com.amazonaws.ecs.capability.ecr-auth");
            if execution_role {
                add("ecs.capability.execution-role-ecr-pull");
            }
        }
        if c.repository_credentials.is_some() {
            add("com.amazonaws.ecs.capability.private-registry-authentication.secretsmanager");
        }
        if c.privileged == Some(true) {
            add("com.amazonaws.ecs.capability.privileged-container");
        }
        if c.docker_labels.as_ref().is_some_and(|l| !l.is_empty())
            || c.ulimits.as_ref().is_some_and(|u| !u.is_empty())
        {
            add(&api(18));
        }
        for o in c.docker_security_options.iter().flatten() {
            if o.starts_with("label:") {
                add("com.amazonaws.ecs.capability.selinux");
            }
            if o.starts_with("apparmor:") {
                add("com.amazonaws.ecs.capability.apparmor");
            }
        }
        if let Some(l) = &c.log_configuration {
            add(&api(18));
            add(&format!(
                "com.amazonaws.ecs.capability.logging-driver.{}",
                l.log_driver
            ));
            if l.log_driver == "awslogs" || l.options.as_ref().is_some_and(|o| !o.is_empty()) {
                add(&api(19));
            }
            // Log options Docker added later: non-blocking mode (17.04),
            // awslogs-create-group (17.05), awslogs multi-line (17.06).
            for (option, v) in [
                ("mode", 28),
                ("max-buffer-size", 28),
                ("awslogs-create-group", 29),
                ("awslogs-datetime-format", 30),
                ("awslogs-multiline-pattern", 30),
            ] {
                if l.option(option).is_some() {
                    add(&api(v));
                }
            }
            if l.log_driver == "awslogs" && execution_role {
                add("ecs.capability.execution-role-awslogs");
            }
            for s in l.secret_options.iter().flatten() {
                add(&format!(
                    "ecs.capability.secrets.{}.bootstrap.log-driver",
                    secret_store(&s.value_from)
                ));
            }
        }
        if let Some(h) = &c.health_check {
            // Docker added health checks in API 1.24 and their start
            // period in 1.29; ECS asks for the one version the check needs.
            add("ecs.capability.container-health-check");
            add(&api(if h.start_period.is_some() { 29 } else { 24 }));
        }
        if c.linux_parameters
            .as_ref()
            .is_some_and(|l| l.init_process_enabled == Some(true))
        {
            add(&api(25));
        }
        if !c.depends_on.is_empty() {
            add("ecs.capability.container-ordering");
        }
        for s in c.secrets.iter().flatten() {
            add(&format!(
                "ecs.capability.secrets.{}.environment-variables",
                secret_store(&s.value_from)
            ));
        }
        if c.environment_files.as_ref().is_some_and(|f| !f.is_empty()) {
            add("ecs.capability.env-files.s3");
        }
        if let Some(f) = &c.firelens_configuration {
            add(&format!("ecs.capability.firelens.{}", f.kind));
        }
    }
    names
        .into_iter()
        .map(|name| RequiredAttribute {
            name,
            ..RequiredAttribute::default()
        })
        .collect()
}

/// `asm` for a Secrets Manager ARN, else `ssm` (a parameter name or ARN).
fn secret_store(value_from: &str) -> &'static str {
    if value_from.starts_with("arn:") && value_from.contains(":secretsmanager:") {
        "asm"
    } else {
        "ssm"
    }
}
