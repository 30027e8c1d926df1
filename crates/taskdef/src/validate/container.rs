//! The checks on one container definition, and the defaults ECS fills in
//! (cpu 0, essential, port protocol and host port, health check timings).

use std::collections::BTreeSet;

use super::task::name_chars_ok;
use super::{Ctx, R};
use crate::ValidationError;
use crate::model::{ContainerDefinition, HealthCheck, LinuxParameters, PortMapping};

pub(crate) const LOG_DRIVERS: [&str; 9] = [
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

use dockyard_types::ULIMIT_NAMES as ULIMITS;

const CAPABILITIES: [&str; 39] = [
    "ALL",
    "AUDIT_CONTROL",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "SYSLOG",
    "WAKE_ALARM",
    "CHECKPOINT_RESTORE",
];

const TMPFS_OPTIONS: [&str; 39] = [
    "defaults",
    "ro",
    "rw",
    "suid",
    "nosuid",
    "dev",
    "nodev",
    "exec",
    "noexec",
    "sync",
    "async",
    "dirsync",
    "remount",
    "mand",
    "nomand",
    "atime",
    "noatime",
    "diratime",
    "nodiratime",
    "bind",
    "rbind",
    "unbindable",
    "runbindable",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "nr_blocks",
    "mpol",
];

/// ECS's wording for a bad container setting:
/// "Invalid 'containerPort' setting for container 'web'." plus why.
pub(crate) fn setting(container: &str, field: &str, why: &str) -> ValidationError {
    let mut m = format!("Invalid '{field}' setting for container '{container}'.");
    if !why.is_empty() {
        m.push(' ');
        m.push_str(why);
    }
    ValidationError::client(m)
}

fn absolute(p: &str) -> bool {
    p.starts_with('/')
}

pub(super) fn check(c: &mut ContainerDefinition, ctx: &Ctx<'_>) -> R<()> {
    name(&c.name)?;
    image(&c.image)?;
    let n = c.name.clone();
    let set = |field: &str, why: &str| setting(&n, field, why);
    sizes(c, ctx)?;
    c.cpu.get_or_insert(0);
    c.essential.get_or_insert(true);
    c.system_controls.get_or_insert_with(Vec::new);
    ports(&n, &mut c.port_mappings, ctx.mode)?;
    if let Some(hc) = c.health_check.as_mut() {
        health(&n, hc)?;
    }
    for kv in &c.environment {
        match kv.name.as_deref() {
            None | Some("") => {
                return Err(set(
                    "environment",
                    "Environment variable names must not be empty.",
                ));
            }
            Some(k) if k.contains('=') => {
                return Err(set(
                    "environment",
                    &format!("Environment variable name '{k}' must not contain '='."),
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(files) = &c.environment_files {
        if files.len() > 10 {
            return Err(set(
                "environmentFiles",
                "At most 10 environment files are allowed.",
            ));
        }
        for f in files {
            environment_file(&n, &f.kind, &f.value)?;
        }
    }
    for s in c.secrets.iter().flatten() {
        if s.name.is_empty() || s.value_from.is_empty() {
            return Err(set("secrets", "Each secret needs a name and a valueFrom."));
        }
    }
    if let Some(lc) = &c.log_configuration {
        if !LOG_DRIVERS.contains(&lc.log_driver.as_str()) {
            return Err(set(
                "logConfiguration",
                &format!("Log driver '{}' is not supported.", lc.log_driver),
            ));
        }
        // AWS also requires awslogs-region; Dockyard's agent ships to its
        // own log service, which has one region, so none is needed.
        if lc.log_driver == "awslogs" && lc.option("awslogs-group").is_none_or(str::is_empty) {
            return Err(ValidationError::client(
                "Log driver awslogs requires options: awslogs-group",
            ));
        }
        for s in lc.secret_options.iter().flatten() {
            if s.name.is_empty() || s.value_from.is_empty() {
                return Err(set(
                    "logConfiguration",
                    "Each secret option needs a name and a valueFrom.",
                ));
            }
        }
    }
    if let Some(lp) = &c.linux_parameters {
        linux(&n, lp)?;
    }
    let mut ulimit_names = BTreeSet::new();
    for u in c.ulimits.iter().flatten() {
        if !ULIMITS.contains(&u.name.as_str()) {
            return Err(set(
                "ulimits",
                &format!("'{}' is not a valid ulimit name.", u.name),
            ));
        }
        if !ulimit_names.insert(u.name.as_str()) {
            return Err(set(
                "ulimits",
                &format!("The ulimit '{}' is given twice.", u.name),
            ));
        }
        let (Some(soft), Some(hard)) = (u.soft_limit, u.hard_limit) else {
            return Err(set(
                "ulimits",
                "Each ulimit needs a softLimit and a hardLimit.",
            ));
        };
        // -1 is unlimited.
        let lim = |v: i32| if v == -1 { i64::MAX } else { i64::from(v) };
        if soft < -1 || hard < -1 || lim(soft) > lim(hard) {
            return Err(set(
                "ulimits",
                &format!(
                    "The softLimit of '{}' must not be greater than its hardLimit.",
                    u.name
                ),
            ));
        }
    }
    let mut paths = BTreeSet::new();
    for m in &c.mount_points {
        let vol = m.source_volume.as_deref().unwrap_or_default();
        if !ctx.volumes.contains(vol) {
            return Err(set(
                "mountPoints",
                &format!("The source volume '{vol}' is not a volume of the task definition."),
            ));
        }
        let path = m.container_path.as_deref().unwrap_or_default();
        if !absolute(path) {
            return Err(set(
                "mountPoints",
                "containerPath must be an absolute path.",
            ));
        }
        if !paths.insert(path) {
            return Err(set(
                "mountPoints",
                &format!("Duplicate mount point '{path}'."),
            ));
        }
    }
    for t in [
        ("startTimeout", c.start_timeout),
        ("stopTimeout", c.stop_timeout),
    ] {
        if let (field, Some(v)) = t
            && v < 0
        {
            return Err(set(field, "The value must not be negative."));
        }
    }
    if let Some(v) = &c.version_consistency
        && !["enabled", "disabled"].contains(&v.as_str())
    {
        return Err(set(
            "versionConsistency",
            "The value must be enabled or disabled.",
        ));
    }
    if c.hostname.is_some() && ctx.mode == "awsvpc" {
        return Err(ValidationError::client(
            "hostname is not supported on container when networkMode=awsvpc.",
        ));
    }
    if let Some(hosts) = &c.extra_hosts {
        if ctx.mode == "awsvpc" {
            return Err(ValidationError::client(
                "extraHosts is not supported on container when networkMode=awsvpc.",
            ));
        }
        if hosts
            .iter()
            .any(|h| h.hostname.is_empty() || h.ip_address.is_empty())
        {
            return Err(set(
                "extraHosts",
                "Each entry needs a hostname and an ipAddress.",
            ));
        }
    }
    if c.links.as_ref().is_some_and(|l| !l.is_empty()) && ctx.mode != "bridge" {
        return Err(ValidationError::client(format!(
            "Links are not supported when networkMode={}.",
            ctx.mode
        )));
    }
    if c.user
        .as_deref()
        .is_some_and(|u| u.is_empty() || u.contains(char::is_whitespace))
    {
        return Err(set("user", "The user must not be empty or contain spaces."));
    }
    if c.working_directory.as_deref().is_some_and(|w| !absolute(w)) {
        return Err(set(
            "workingDirectory",
            "The working directory must be an absolute path.",
        ));
    }
    for o in c.docker_security_options.iter().flatten() {
        let ok = o == "no-new-privileges"
            || ["apparmor:", "label:", "credentialspec:"]
                .iter()
                .any(|p| o.starts_with(p) && o.len() > p.len());
        if !ok {
            return Err(set(
                "dockerSecurityOptions",
                &format!("'{o}' is not a valid security option."),
            ));
        }
    }
    for s in c.system_controls.iter().flatten() {
        if s.namespace.as_deref().is_none_or(str::is_empty) {
            return Err(set(
                "systemControls",
                "Each system control needs a namespace.",
            ));
        }
    }
    let mut kinds = BTreeSet::new();
    for r in c.resource_requirements.iter().flatten() {
        if !["GPU", "InferenceAccelerator"].contains(&r.kind.as_str()) {
            return Err(set(
                "resourceRequirements",
                &format!("Invalid type '{}'.", r.kind),
            ));
        }
        if !kinds.insert(r.kind.as_str()) {
            return Err(set(
                "resourceRequirements",
                &format!("The type '{}' is given twice.", r.kind),
            ));
        }
        if r.kind == "GPU" && r.value.parse::<u32>().map_or(true, |g| g == 0) {
            return Err(set(
                "resourceRequirements",
                "A GPU requirement must be a positive number.",
            ));
        }
    }
    if let Some(f) = &c.firelens_configuration
        && !["fluentd", "fluentbit"].contains(&f.kind.as_str())
    {
        return Err(set(
            "firelensConfiguration",
            "The type must be fluentd or fluentbit.",
        ));
    }
    if c.repository_credentials
        .as_ref()
        .is_some_and(|r| r.credentials_parameter.is_empty())
    {
        return Err(set(
            "repositoryCredentials",
            "credentialsParameter should not be null or empty.",
        ));
    }
    if let Some(r) = &c.restart_policy {
        if r.enabled.is_none() {
            return Err(set("restartPolicy", "'enabled' must be specified."));
        }
        if r.ignored_exit_codes.as_ref().is_some_and(|e| e.len() > 50) {
            return Err(set(
                "restartPolicy",
                "At most 50 ignoredExitCodes are allowed.",
            ));
        }
        if r.restart_attempt_period
            .is_some_and(|p| !(60..=1800).contains(&p))
        {
            return Err(set(
                "restartPolicy",
                "restartAttemptPeriod must be between 60 and 1800.",
            ));
        }
    }
    Ok(())
}

fn name(n: &str) -> R<()> {
    if n.is_empty() {
        return Err(ValidationError::client(
            "Container.name should not be null or empty.",
        ));
    }
    if !name_chars_ok(n) {
        return Err(ValidationError::client(
            "Container.name contains invalid characters.",
        ));
    }
    if n.len() > 255 {
        return Err(ValidationError::client(
            "Container.name must be at most 255 characters.",
        ));
    }
    Ok(())
}

/// `repository-url/image:tag` or `repository-url/image@sha256:<64 hex>`;
/// the 255-character limit applies to what comes before the digest.
fn image(i: &str) -> R<()> {
    if i.trim().is_empty() {
        return Err(ValidationError::client(
            "Container.image should not be null or empty.",
        ));
    }
    let (name, digest) = match i.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (i, None),
    };
    let ok = |b: u8| b.is_ascii_alphanumeric() || b"-_:./#".contains(&b);
    if name.is_empty() || !name.bytes().all(ok) {
        return Err(ValidationError::client(
            "Container.image contains invalid characters.",
        ));
    }
    if name.len() > 255 {
        return Err(ValidationError::client(
            "Container.image must be at most 255 characters.",
        ));
    }
    if let Some(d) = digest {
        let hex_ok = d
            .strip_prefix("sha256:")
            .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if !hex_ok {
            return Err(ValidationError::client(
                "Container.image has an invalid digest: only sha256 with 64 hexadecimal characters is supported.",
            ));
        }
    }
    Ok(())
}

fn sizes(c: &ContainerDefinition, ctx: &Ctx<'_>) -> R<()> {
    let set = |field: &str, why: &str| setting(&c.name, field, why);
    if c.cpu.is_some_and(|v| v < 0) {
        return Err(set("cpu", "The value must not be negative."));
    }
    if c.memory.is_none() && c.memory_reservation.is_none() && ctx.task_memory.is_none() {
        return Err(ValidationError::client(format!(
            "Invalid setting for container '{}'. At least one of 'memory' or 'memoryReservation' must be specified.",
            c.name
        )));
    }
    // Docker 20.10 refuses less than 6 MiB for either limit.
    if c.memory.is_some_and(|m| m < 6) {
        return Err(set("memory", "The minimum is 6 MiB."));
    }
    if c.memory_reservation.is_some_and(|m| m < 6) {
        return Err(set("memoryReservation", "The minimum is 6 MiB."));
    }
    if let (Some(m), Some(r)) = (c.memory, c.memory_reservation)
        && r > m
    {
        return Err(set(
            "memory",
            "'memory' must be greater than or equal to 'memoryReservation'.",
        ));
    }
    Ok(())
}

/// Checks the port mappings and fills `protocol` (tcp) and `hostPort`
/// (the container port in awsvpc and host mode, 0 for a dynamic port in
/// bridge mode).
fn ports(n: &str, maps: &mut [PortMapping], mode: &str) -> R<()> {
    let set = |field: &str, why: &str| setting(n, field, why);
    if !maps.is_empty() && mode == "none" {
        return Err(ValidationError::client(
            "Port mappings are not supported when networkMode=none.",
        ));
    }
    let mut taken: Vec<(i32, i32, String)> = Vec::new();
    let mut ranges = 0;
    let mut names = BTreeSet::new();
    for p in maps.iter_mut() {
        let proto = p.protocol.get_or_insert_with(|| "tcp".into()).clone();
        if !["tcp", "udp"].contains(&proto.as_str()) {
            return Err(set("protocol", &format!("'{proto}' is not tcp or udp.")));
        }
        if let Some(a) = &p.app_protocol
            && !["http", "http2", "grpc"].contains(&a.as_str())
        {
            return Err(set(
                "appProtocol",
                &format!("'{a}' is not http, http2 or grpc."),
            ));
        }
        if let Some(name) = &p.name {
            let ok = (1..=64).contains(&name.len())
                && !name.starts_with('-')
                && name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            if !ok {
                return Err(set(
                    "portMappings",
                    &format!(
                        "The port mapping name '{name}' must be 1-64 lowercase letters, numbers, underscores or hyphens, not starting with a hyphen."
                    ),
                ));
            }
            if !names.insert(name.clone()) {
                return Err(set(
                    "portMappings",
                    &format!("The port mapping name '{name}' is used twice."),
                ));
            }
        }
        if let Some(h) = p.host_port
            && !(0..=65535).contains(&h)
        {
            return Err(set("hostPort", "The value must be between 0 and 65535."));
        }
        let (first, last) = match (p.container_port, &p.container_port_range) {
            (Some(_), Some(_)) => {
                return Err(set(
                    "portMappings",
                    "Specify either containerPort or containerPortRange, not both.",
                ));
            }
            (None, None) => {
                return Err(set(
                    "containerPort",
                    "A port mapping needs a containerPort or a containerPortRange.",
                ));
            }
            (Some(cp), None) => {
                if !(1..=65535).contains(&cp) {
                    return Err(set(
                        "containerPort",
                        "The value must be between 1 and 65535.",
                    ));
                }
                match (mode, p.host_port) {
                    ("awsvpc" | "host", Some(h)) if h != cp => {
                        return Err(ValidationError::client(format!(
                            "When networkMode={mode}, the host ports and container ports in port mappings must match."
                        )));
                    }
                    ("awsvpc" | "host", _) => p.host_port = Some(cp),
                    (_, None) => p.host_port = Some(0),
                    _ => {}
                }
                (cp, cp)
            }
            (None, Some(r)) => {
                if !["bridge", "awsvpc"].contains(&mode) {
                    return Err(set(
                        "containerPortRange",
                        "Port ranges are only supported when networkMode is bridge or awsvpc.",
                    ));
                }
                if p.host_port.is_some() {
                    return Err(set(
                        "hostPort",
                        "Leave hostPort out when containerPortRange is given.",
                    ));
                }
                ranges += 1;
                if ranges > 100 {
                    return Err(set(
                        "containerPortRange",
                        "At most 100 port ranges are allowed.",
                    ));
                }
                port_range(r).ok_or_else(|| {
                    set(
                        "containerPortRange",
                        "The range must be first-last with 1 <= first < last <= 65535.",
                    )
                })?
            }
        };
        if taken
            .iter()
            .any(|(a, b, pr)| *pr == proto && first <= *b && *a <= last)
        {
            return Err(set(
                "portMappings",
                &format!("Container port {first} ({proto}) is in more than one port mapping."),
            ));
        }
        taken.push((first, last, proto));
    }
    Ok(())
}

fn port_range(r: &str) -> Option<(i32, i32)> {
    let (a, b) = r.split_once('-')?;
    let (a, b): (i32, i32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (1 <= a && a < b && b <= 65535).then_some((a, b))
}

/// Docker's health check bounds as ECS documents them; fills ECS's
/// defaults for the interval (30 s), timeout (5 s) and retries (3).
fn health(n: &str, hc: &mut HealthCheck) -> R<()> {
    let bad = |why: &str| setting(n, "healthCheck", why);
    match hc.command.first().map(String::as_str) {
        None => return Err(bad("The command must not be empty.")),
        Some("CMD" | "CMD-SHELL") if hc.command.len() < 2 => {
            return Err(bad(
                "CMD and CMD-SHELL must be followed by the command to run.",
            ));
        }
        Some("CMD" | "CMD-SHELL" | "NONE") => {}
        Some(_) => return Err(bad("The command must start with CMD, CMD-SHELL or NONE.")),
    }
    for (field, v, lo, hi) in [
        ("interval", hc.interval, 5, 300),
        ("timeout", hc.timeout, 2, 60),
        ("retries", hc.retries, 1, 10),
        ("startPeriod", hc.start_period, 0, 300),
    ] {
        if let Some(v) = v
            && !(lo..=hi).contains(&v)
        {
            return Err(bad(&format!("'{field}' must be between {lo} and {hi}.")));
        }
    }
    hc.interval.get_or_insert(30);
    hc.timeout.get_or_insert(5);
    hc.retries.get_or_insert(3);
    Ok(())
}

pub(crate) fn environment_file(n: &str, kind: &str, value: &str) -> R<()> {
    let set = |why: &str| setting(n, "environmentFiles", why);
    if kind != "s3" {
        return Err(set("The type must be s3."));
    }
    let is_s3_arn = value.starts_with("arn:") && value.contains(":s3:::") && value.contains('/');
    if !is_s3_arn {
        return Err(set(&format!("'{value}' is not the ARN of an S3 object.")));
    }
    if !value.ends_with(".env") {
        return Err(set("The file must have a .env extension."));
    }
    Ok(())
}

fn linux(n: &str, lp: &LinuxParameters) -> R<()> {
    let set = |why: &str| setting(n, "linuxParameters", why);
    if let Some(caps) = &lp.capabilities {
        for cap in caps.add.iter().flatten().chain(caps.drop.iter().flatten()) {
            if !CAPABILITIES.contains(&cap.as_str()) {
                return Err(set(&format!("'{cap}' is not a valid capability.")));
            }
        }
    }
    for d in lp.devices.iter().flatten() {
        if !absolute(&d.host_path) || d.container_path.as_deref().is_some_and(|p| !absolute(p)) {
            return Err(set("Device paths must be absolute."));
        }
        for p in d.permissions.iter().flatten() {
            if !["read", "write", "mknod"].contains(&p.as_str()) {
                return Err(set(&format!(
                    "'{p}' is not a device permission (read, write, mknod)."
                )));
            }
        }
    }
    if lp.shared_memory_size.is_some_and(|s| s <= 0) {
        return Err(set("sharedMemorySize must be greater than 0."));
    }
    for t in lp.tmpfs.iter().flatten() {
        if !absolute(&t.container_path) {
            return Err(set("A tmpfs containerPath must be an absolute path."));
        }
        if t.size <= 0 {
            return Err(set("A tmpfs size must be greater than 0."));
        }
        for o in t.mount_options.iter().flatten() {
            let key = o.split('=').next().unwrap_or_default();
            if !TMPFS_OPTIONS.contains(&key) {
                return Err(set(&format!("'{o}' is not a valid tmpfs mount option.")));
            }
        }
    }
    if lp.max_swap.is_some_and(|s| s < 0) {
        return Err(set("maxSwap must not be negative."));
    }
    if lp.swappiness.is_some_and(|s| !(0..=100).contains(&s)) {
        return Err(set("swappiness must be between 0 and 100."));
    }
    Ok(())
}
