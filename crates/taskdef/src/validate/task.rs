//! Task-level settings: family, modes, sizes, volumes, constraints, tags.

use std::collections::BTreeSet;

use super::{R, Tag, TagIn};
use crate::ValidationError;
use crate::attributes::no_fargate_size;
use crate::model::{
    EphemeralStorage, HostVolumeProperties, InferenceAccelerator, PlacementConstraint,
    ProxyConfiguration, RuntimePlatform, Volume,
};
use crate::size::is_fargate_size;

fn client(m: impl Into<String>) -> ValidationError {
    ValidationError::client(m)
}

/// Up to 255 letters, numbers, underscores and hyphens: families,
/// container and volume names.
pub(crate) fn name_chars_ok(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub(super) fn family(f: Option<String>) -> R<String> {
    let f = f.unwrap_or_default();
    if f.is_empty() {
        return Err(client("Family should not be null or empty."));
    }
    if f.len() > 255 || !name_chars_ok(&f) {
        return Err(client(
            "Family contains invalid characters or is too long. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.",
        ));
    }
    Ok(f)
}

/// The mode containers are checked against; ECS's Linux default is
/// `bridge`.
pub(super) fn network_mode(m: Option<&str>) -> R<&'static str> {
    match m.unwrap_or("bridge") {
        "bridge" => Ok("bridge"),
        "host" => Ok("host"),
        "awsvpc" => Ok("awsvpc"),
        "none" => Ok("none"),
        other => Err(client(format!(
            "Invalid network mode '{other}'. Valid values are bridge, host, awsvpc and none."
        ))),
    }
}

pub(super) fn compatibilities(given: Option<&[String]>) -> R<Vec<String>> {
    let given = given.unwrap_or_default();
    for c in given {
        if !["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"].contains(&c.as_str()) {
            return Err(client(format!(
                "Invalid compatibility '{c}'. Valid values are EC2, FARGATE, EXTERNAL and MANAGED_INSTANCES."
            )));
        }
    }
    Ok(given.to_vec())
}

pub(super) fn pid_ipc(pid: Option<&str>, ipc: Option<&str>) -> R<()> {
    if let Some(p) = pid
        && !["host", "task"].contains(&p)
    {
        return Err(client(format!(
            "Invalid pidMode '{p}'. Valid values are host and task."
        )));
    }
    if let Some(p) = ipc
        && !["host", "task", "none"].contains(&p)
    {
        return Err(client(format!(
            "Invalid ipcMode '{p}'. Valid values are host, task and none."
        )));
    }
    Ok(())
}

/// What Fargate requires of the task as a whole; checked before the
/// containers so that a missing task size is reported as such rather than
/// as containers without memory.
pub(super) fn fargate_task_level(
    mode: &str,
    cpu: Option<u32>,
    memory: Option<u32>,
    pid: Option<&str>,
    ipc: Option<&str>,
) -> R<()> {
    if mode != "awsvpc" {
        return Err(client(
            "Fargate only supports network mode \u{2018}awsvpc\u{2019}.",
        ));
    }
    let Some(cpu) = cpu else {
        return Err(client(
            "Fargate requires that 'cpu' be defined at the task level.",
        ));
    };
    let Some(memory) = memory else {
        return Err(client(
            "Fargate requires that 'memory' be defined at the task level.",
        ));
    };
    if !is_fargate_size(cpu, memory) {
        return Err(client(no_fargate_size(cpu, memory)));
    }
    if let Some(p) = pid
        && p != "task"
    {
        return Err(client(format!(
            "Tasks using the Fargate launch type do not support pidMode '{p}'. The supported value for pidMode is 'task'."
        )));
    }
    if ipc.is_some() {
        return Err(client(
            "Tasks using the Fargate launch type do not support ipcMode.",
        ));
    }
    Ok(())
}

pub(crate) fn ephemeral_storage(e: &EphemeralStorage) -> R<()> {
    match e.size_in_gib {
        Some(21..=200) => Ok(()),
        _ => Err(client(
            "Invalid 'ephemeralStorage' setting for task. 'sizeInGiB' must be between 21 and 200.",
        )),
    }
}

pub(super) fn runtime_platform(p: &RuntimePlatform) -> R<()> {
    if let Some(a) = &p.cpu_architecture
        && !["X86_64", "ARM64"].contains(&a.as_str())
    {
        return Err(client(format!(
            "Invalid 'runtimePlatform' setting for task. Invalid cpuArchitecture '{a}'."
        )));
    }
    if let Some(f) = &p.operating_system_family
        && f != "LINUX"
        && !f.starts_with("WINDOWS_SERVER_")
    {
        return Err(client(format!(
            "Invalid 'runtimePlatform' setting for task. Invalid operatingSystemFamily '{f}'."
        )));
    }
    Ok(())
}

pub(super) fn placement_constraints(p: &[PlacementConstraint]) -> R<()> {
    if p.len() > 10 {
        return Err(client(
            "A task definition can have at most 10 placement constraints.",
        ));
    }
    for c in p {
        if c.kind != "memberOf" {
            return Err(client(format!(
                "Invalid placement constraint type '{}'. A task definition only supports memberOf.",
                c.kind
            )));
        }
        if c.expression.as_deref().is_none_or(|e| e.trim().is_empty()) {
            return Err(client(
                "A memberOf placement constraint requires an expression.",
            ));
        }
    }
    Ok(())
}

pub(super) fn inference_accelerators(a: &[InferenceAccelerator]) -> R<()> {
    let mut names = BTreeSet::new();
    for x in a {
        if x.device_name.is_empty() || x.device_type.is_empty() {
            return Err(client(
                "InferenceAccelerator.deviceName and deviceType should not be null or empty.",
            ));
        }
        if !names.insert(&x.device_name) {
            return Err(client(format!(
                "Inference accelerator device names must be unique: {}",
                x.device_name
            )));
        }
    }
    Ok(())
}

pub(super) fn proxy(p: &ProxyConfiguration, mode: &str) -> R<()> {
    if p.kind.as_deref().is_some_and(|k| k != "APPMESH") {
        return Err(client(
            "Invalid 'proxyConfiguration' setting for task. The only supported type is APPMESH.",
        ));
    }
    if mode != "awsvpc" {
        return Err(client(
            "Invalid 'proxyConfiguration' setting for task. A proxy configuration requires networkMode=awsvpc.",
        ));
    }
    Ok(())
}

/// Names, uniqueness and one configuration per volume; a volume naming no
/// configuration gets an empty `host`, as ECS returns it.
pub(super) fn volumes(vols: &mut [Volume]) -> R<()> {
    let mut names = BTreeSet::new();
    for v in vols.iter_mut() {
        if v.name.is_empty() {
            return Err(client("Volume.name should not be null or empty."));
        }
        if v.name.len() > 255 || !name_chars_ok(&v.name) {
            return Err(client(format!(
                "Volume name '{}' contains invalid characters or is too long. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.",
                v.name
            )));
        }
        if !names.insert(v.name.clone()) {
            return Err(client(format!(
                "Volume names must be unique within a Task Definition. Duplicate volume name: {}",
                v.name
            )));
        }
        let kinds = [
            v.host.is_some(),
            v.docker_volume_configuration.is_some(),
            v.efs_volume_configuration.is_some(),
            v.s3files_volume_configuration.is_some(),
            v.fsx_windows_file_server_volume_configuration.is_some(),
        ]
        .iter()
        .filter(|k| **k)
        .count();
        if kinds > 1 {
            return Err(client(format!(
                "Invalid volume '{}': specify only one of host, dockerVolumeConfiguration, efsVolumeConfiguration, s3filesVolumeConfiguration and fsxWindowsFileServerVolumeConfiguration.",
                v.name
            )));
        }
        volume_config(v)?;
        if kinds == 0 && v.configured_at_launch != Some(true) {
            v.host = Some(HostVolumeProperties::default());
        }
    }
    Ok(())
}

fn volume_config(v: &Volume) -> R<()> {
    let bad = |why: &str| client(format!("Invalid volume '{}': {why}", v.name));
    if let Some(p) = v.source_path()
        && !p.starts_with('/')
    {
        return Err(bad("host.sourcePath must be an absolute path."));
    }
    if let Some(d) = &v.docker_volume_configuration {
        if let Some(s) = &d.scope
            && !["task", "shared"].contains(&s.as_str())
        {
            return Err(bad(
                "dockerVolumeConfiguration.scope must be task or shared.",
            ));
        }
        if d.driver.as_deref().is_some_and(str::is_empty) {
            return Err(bad("dockerVolumeConfiguration.driver must not be empty."));
        }
    }
    if let Some(e) = &v.efs_volume_configuration {
        if e.file_system_id.is_empty() {
            return Err(bad(
                "efsVolumeConfiguration.fileSystemId should not be null or empty.",
            ));
        }
        let enabled = |x: Option<&str>| -> R<bool> {
            match x {
                None | Some("DISABLED") => Ok(false),
                Some("ENABLED") => Ok(true),
                Some(o) => Err(bad(&format!("'{o}' is not ENABLED or DISABLED."))),
            }
        };
        let transit = enabled(e.transit_encryption.as_deref())?;
        if let Some(p) = e.transit_encryption_port
            && !(1..=65535).contains(&p)
        {
            return Err(bad(
                "efsVolumeConfiguration.transitEncryptionPort must be between 1 and 65535.",
            ));
        }
        if let Some(a) = &e.authorization_config {
            let iam = enabled(a.iam.as_deref())?;
            if (iam || a.access_point_id.is_some()) && !transit {
                return Err(bad(
                    "Transit encryption must be enabled to use IAM authorization or an access point.",
                ));
            }
            if a.access_point_id.is_some() && e.root_directory.as_deref().is_some_and(|r| r != "/")
            {
                return Err(bad(
                    "The root directory must be omitted or / when an access point is used.",
                ));
            }
        }
    }
    if let Some(s) = &v.s3files_volume_configuration
        && s.file_system_arn.is_empty()
    {
        return Err(bad(
            "s3filesVolumeConfiguration.fileSystemArn should not be null or empty.",
        ));
    }
    if let Some(f) = &v.fsx_windows_file_server_volume_configuration
        && (f.file_system_id.is_empty()
            || f.root_directory.is_empty()
            || f.authorization_config.credentials_parameter.is_empty()
            || f.authorization_config.domain.is_empty())
    {
        return Err(bad(
            "fsxWindowsFileServerVolumeConfiguration needs fileSystemId, rootDirectory and authorizationConfig.",
        ));
    }
    Ok(())
}

/// At most 50 tags, keys 1..=128 characters and values up to 256 from
/// AWS's tag alphabet, the `aws:` prefix reserved; a repeated key keeps
/// its last value.
pub(super) fn tags(given: Vec<TagIn>) -> R<Vec<Tag>> {
    if given.len() > 50 {
        return Err(ValidationError::invalid(
            "Tags cannot exceed 50 per resource.",
        ));
    }
    let mut out: Vec<Tag> = Vec::with_capacity(given.len());
    for t in given {
        let t = t.into_tag()?;
        out.retain(|o| o.key != t.key);
        out.push(t);
    }
    Ok(out)
}
