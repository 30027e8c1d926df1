//! A task's volumes as the ECS agent provides them: bind mounts of host
//! paths, task-scoped volumes (a bind mount with no `sourcePath`, or a
//! Docker volume of scope `task`) that live as long as the task, shared
//! Docker volumes that outlive it, and `volumesFrom`. File systems this
//! platform does not have (EFS, FSx, S3 Files, EBS at launch) fail the
//! task when it starts, with the reason.

use std::collections::BTreeSet;

use dockyard_agentproto::DesiredTask;
use dockyard_engine::VolumeSpec;
use dockyard_taskdef::{ContainerDefinition, Volume};

/// How one task volume is provided on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// A host path bound in.
    Host(String),
    /// A named engine volume the task owns and removes when it ends.
    TaskScoped(String),
    /// A named engine volume shared by tasks and kept.
    Shared(String),
}

/// The engine volume name of a task-scoped volume.
fn task_volume_name(task: &DesiredTask, volume: &str) -> String {
    let id: String = task.task_id.chars().take(32).collect();
    let clean: String = volume
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("ecs-{id}-{clean}")
}

/// Where a task volume comes from, or why it cannot be provided.
pub(crate) fn source(task: &DesiredTask, v: &Volume) -> Result<Source, String> {
    let unsupported = |what: &str| {
        Err(format!(
            "ResourceInitializationError: volume {}: {what} volumes are not available on this platform",
            v.name
        ))
    };
    if v.efs_volume_configuration.is_some() {
        return unsupported("EFS");
    }
    if v.fsx_windows_file_server_volume_configuration.is_some() {
        return unsupported("FSx for Windows File Server");
    }
    if v.s3files_volume_configuration.is_some() {
        return unsupported("S3 Files");
    }
    if v.configured_at_launch == Some(true) {
        return unsupported("EBS");
    }
    if let Some(d) = &v.docker_volume_configuration {
        if let Some(driver) = d.driver.as_deref().filter(|d| *d != "local") {
            return Err(format!(
                "ResourceInitializationError: volume {}: the volume driver {driver} is not available; only local is",
                v.name
            ));
        }
        if d.scope.as_deref() == Some("shared") {
            return Ok(Source::Shared(v.name.clone()));
        }
        return Ok(Source::TaskScoped(task_volume_name(task, &v.name)));
    }
    match v.source_path() {
        Some(p) => Ok(Source::Host(p.to_string())),
        None => Ok(Source::TaskScoped(task_volume_name(task, &v.name))),
    }
}

/// The mounts of one container: its own `mountPoints`, then those it gets
/// through `volumesFrom` (followed transitively, as Docker does).
pub(crate) fn mounts(
    task: &DesiredTask,
    c: &ContainerDefinition,
) -> Result<Vec<VolumeSpec>, String> {
    let mut out: Vec<VolumeSpec> = Vec::new();
    let mut seen = BTreeSet::new();
    collect(task, c, false, &mut seen, &mut out)?;
    Ok(out)
}

fn collect(
    task: &DesiredTask,
    c: &ContainerDefinition,
    force_read_only: bool,
    seen: &mut BTreeSet<String>,
    out: &mut Vec<VolumeSpec>,
) -> Result<(), String> {
    if !seen.insert(c.name.clone()) {
        return Ok(());
    }
    let def = &task.definition;
    for m in &c.mount_points {
        let (Some(vol), Some(path)) = (m.source_volume.as_deref(), m.container_path.as_deref())
        else {
            continue;
        };
        let Some(v) = def.volumes.iter().find(|v| v.name == vol) else {
            return Err(format!(
                "CannotCreateContainerError: container {}: no volume named {vol}",
                c.name
            ));
        };
        let source = match source(task, v)? {
            Source::Host(p) => p,
            Source::TaskScoped(n) | Source::Shared(n) => n,
        };
        if out.iter().any(|o| o.destination == path) {
            continue;
        }
        out.push(VolumeSpec {
            source,
            destination: path.to_string(),
            read_only: force_read_only || m.read_only.unwrap_or(false),
        });
    }
    for from in &c.volumes_from {
        let Some(name) = from.source_container.as_deref() else {
            continue;
        };
        let Some(src) = def.container_definitions.iter().find(|d| d.name == name) else {
            return Err(format!(
                "CannotCreateContainerError: container {}: volumesFrom names no container {name}",
                c.name
            ));
        };
        // `readOnly` makes everything taken read-only; otherwise each
        // mount keeps its own mode, as with Docker's `--volumes-from`.
        let ro = force_read_only || from.read_only.unwrap_or(false);
        collect(task, src, ro, seen, out)?;
    }
    Ok(())
}

/// The engine volumes a task owns, removed when it ends.
pub(crate) fn task_scoped(task: &DesiredTask) -> Vec<String> {
    task.definition
        .volumes
        .iter()
        .filter_map(|v| match source(task, v) {
            Ok(Source::TaskScoped(n)) => Some(n),
            _ => None,
        })
        .collect()
}

/// Checks every volume of the task before anything starts, so a task
/// whose volumes cannot be provided fails at once.
pub(crate) fn check(task: &DesiredTask) -> Result<(), String> {
    for v in &task.definition.volumes {
        source(task, v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(def: serde_json::Value) -> DesiredTask {
        let mut t: DesiredTask = serde_json::from_value(json!({
            "task_arn": "arn:aws:ecs:us-east-1:000000000000:task/c/0123456789abcdef",
            "task_id": "0123456789abcdef",
            "cluster": "c",
            "cluster_arn": "arn:aws:ecs:us-east-1:000000000000:cluster/c",
            "desired_status": "RUNNING",
            "definition": {},
            "launch_type": "EC2",
            "revision": 1,
            "availability_zone": "us-east-1a",
            "region": "us-east-1"
        }))
        .expect("task");
        t.definition = serde_json::from_value(def).expect("definition");
        t
    }

    #[test]
    fn mounts_follow_volumes_and_volumes_from() {
        let t = task(json!({
            "family": "f", "revision": 1,
            "volumes": [
                {"name": "host", "host": {"sourcePath": "/srv/www"}},
                {"name": "scratch", "host": {}},
                {"name": "cache", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": true}},
                {"name": "tmp", "dockerVolumeConfiguration": {"scope": "task"}}
            ],
            "containerDefinitions": [
                {"name": "a", "image": "i", "mountPoints": [
                    {"sourceVolume": "host", "containerPath": "/www", "readOnly": true},
                    {"sourceVolume": "scratch", "containerPath": "/scratch"}
                ]},
                {"name": "b", "image": "i",
                 "mountPoints": [{"sourceVolume": "cache", "containerPath": "/cache"}],
                 "volumesFrom": [{"sourceContainer": "a", "readOnly": true}]},
                {"name": "c", "image": "i", "volumesFrom": [{"sourceContainer": "b"}],
                 "mountPoints": [{"sourceVolume": "tmp", "containerPath": "/tmp"}]}
            ]
        }));
        let defs = &t.definition.container_definitions;
        let a = mounts(&t, &defs[0]).expect("a");
        assert_eq!(a[0].source, "/srv/www");
        assert!(a[0].read_only);
        assert_eq!(a[1].source, "ecs-0123456789abcdef-scratch");
        assert!(!a[1].read_only);
        let b = mounts(&t, &defs[1]).expect("b");
        let dests: Vec<_> = b
            .iter()
            .map(|m| (m.destination.as_str(), m.read_only))
            .collect();
        assert_eq!(
            dests,
            [("/cache", false), ("/www", true), ("/scratch", true)]
        );
        assert_eq!(b[0].source, "cache");
        // c gets b's own mounts read-write and a's through b read-only.
        let c = mounts(&t, &defs[2]).expect("c");
        let dests: Vec<_> = c
            .iter()
            .map(|m| (m.destination.as_str(), m.read_only))
            .collect();
        assert_eq!(
            dests,
            [
                ("/tmp", false),
                ("/cache", false),
                ("/www", true),
                ("/scratch", true)
            ]
        );
        assert_eq!(
            task_scoped(&t),
            ["ecs-0123456789abcdef-scratch", "ecs-0123456789abcdef-tmp"]
        );
        assert!(check(&t).is_ok());
    }

    #[test]
    fn volumes_this_platform_lacks_fail_the_task() {
        let t = task(json!({
            "family": "f", "revision": 1,
            "volumes": [{"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}],
            "containerDefinitions": []
        }));
        let err = check(&t).expect_err("efs");
        assert!(
            err.starts_with("ResourceInitializationError: volume efs: EFS"),
            "{err}"
        );
        let t = task(json!({
            "family": "f", "revision": 1,
            "volumes": [{"name": "v", "dockerVolumeConfiguration": {"driver": "rexray/ebs"}}],
            "containerDefinitions": []
        }));
        assert!(check(&t).expect_err("driver").contains("rexray/ebs"));
    }
}
