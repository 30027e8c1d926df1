//! Checks that span containers: unique names, an essential container,
//! dependencies (targets, conditions, cycles), links and `volumesFrom`,
//! FireLens, and the containers' sizes against the task's.

use std::collections::{BTreeMap, BTreeSet};

use super::R;
use super::container::setting;
use crate::ValidationError;
use crate::model::{ContainerDefinition, InferenceAccelerator, ProxyConfiguration};

fn client(m: impl Into<String>) -> ValidationError {
    ValidationError::client(m)
}

pub(super) fn check(
    containers: &[ContainerDefinition],
    task_cpu: Option<u32>,
    task_memory: Option<u32>,
    proxy: Option<&ProxyConfiguration>,
    accelerators: Option<&[InferenceAccelerator]>,
) -> R<()> {
    let mut names = BTreeSet::new();
    for c in containers {
        if !names.insert(c.name.as_str()) {
            return Err(client(
                "Container names must be unique within a Task Definition.",
            ));
        }
    }
    if !containers.iter().any(ContainerDefinition::is_essential) {
        return Err(client(
            "Task definition doesn't have any essential container.",
        ));
    }
    let by_name: BTreeMap<&str, &ContainerDefinition> =
        containers.iter().map(|c| (c.name.as_str(), c)).collect();
    for c in containers {
        dependencies(c, &by_name)?;
        references(c, &by_name)?;
    }
    cycles(containers)?;
    firelens(containers)?;
    let devices: BTreeSet<&str> = accelerators
        .unwrap_or_default()
        .iter()
        .map(|a| a.device_name.as_str())
        .collect();
    for c in containers {
        for r in c.resource_requirements.iter().flatten() {
            if r.kind == "InferenceAccelerator" && !devices.contains(r.value.as_str()) {
                return Err(setting(
                    &c.name,
                    "resourceRequirements",
                    &format!(
                        "'{}' is not the deviceName of an inference accelerator of the task.",
                        r.value
                    ),
                ));
            }
        }
    }
    if let Some(p) = proxy
        && !by_name.contains_key(p.container_name.as_str())
    {
        return Err(client(format!(
            "Invalid 'proxyConfiguration' setting for task. The container '{}' is not in the task definition.",
            p.container_name
        )));
    }
    sums(containers, task_cpu, task_memory)
}

fn dependencies(c: &ContainerDefinition, by_name: &BTreeMap<&str, &ContainerDefinition>) -> R<()> {
    let set = |why: &str| setting(&c.name, "dependsOn", why);
    for d in &c.depends_on {
        if !["START", "COMPLETE", "SUCCESS", "HEALTHY"].contains(&d.condition.as_str()) {
            return Err(set(&format!(
                "'{}' is not a condition: use START, COMPLETE, SUCCESS or HEALTHY.",
                d.condition
            )));
        }
        if d.container_name == c.name {
            return Err(set("A container cannot depend on itself."));
        }
        let Some(target) = by_name.get(d.container_name.as_str()) else {
            return Err(set(&format!(
                "The container '{}' is not in the task definition.",
                d.container_name
            )));
        };
        match d.condition.as_str() {
            "SUCCESS" | "COMPLETE" if target.is_essential() => {
                return Err(client(
                    "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container",
                ));
            }
            "HEALTHY" if target.health_check.is_none() => {
                return Err(set(&format!(
                    "The container '{}' has no healthCheck, so it can never be HEALTHY.",
                    d.container_name
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

/// `links` and `volumesFrom` name other containers of the task.
fn references(c: &ContainerDefinition, by_name: &BTreeMap<&str, &ContainerDefinition>) -> R<()> {
    for l in c.links.iter().flatten() {
        let (target, alias) = l.split_once(':').unwrap_or((l, l));
        let valid = |s: &str| {
            !s.is_empty()
                && s.len() <= 255
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !valid(target) || !valid(alias) {
            return Err(setting(
                &c.name,
                "links",
                &format!("'{l}' is not name or name:alias."),
            ));
        }
        if target == c.name || !by_name.contains_key(target) {
            return Err(setting(
                &c.name,
                "links",
                &format!(
                    "The container '{target}' is not another container of the task definition."
                ),
            ));
        }
    }
    for v in &c.volumes_from {
        let src = v.source_container.as_deref().unwrap_or_default();
        if src == c.name || !by_name.contains_key(src) {
            return Err(setting(
                &c.name,
                "volumesFrom",
                &format!(
                    "The source container '{src}' is not another container of the task definition."
                ),
            ));
        }
    }
    Ok(())
}

/// Dependencies must be acyclic for the containers to have a start order.
fn cycles(containers: &[ContainerDefinition]) -> R<()> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let index: BTreeMap<&str, usize> = containers
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let edges: Vec<Vec<usize>> = containers
        .iter()
        .map(|c| {
            c.depends_on
                .iter()
                .filter_map(|d| index.get(d.container_name.as_str()).copied())
                .collect()
        })
        .collect();
    let mut mark = vec![Mark::New; containers.len()];
    for start in 0..containers.len() {
        if mark[start] != Mark::New {
            continue;
        }
        // Iterative depth-first search; `path` is the chain being explored.
        let mut path: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = Mark::Open;
        while let Some(&mut (node, ref mut next)) = path.last_mut() {
            if let Some(&to) = edges[node].get(*next) {
                *next += 1;
                match mark[to] {
                    Mark::New => {
                        mark[to] = Mark::Open;
                        path.push((to, 0));
                    }
                    Mark::Open => {
                        let from = path.iter().position(|(n, _)| *n == to).unwrap_or(0);
                        let mut chain: Vec<&str> = path[from..]
                            .iter()
                            .map(|(n, _)| containers[*n].name.as_str())
                            .collect();
                        chain.push(containers[to].name.as_str());
                        return Err(client(format!(
                            "Container dependencies must not form a cycle: {}.",
                            chain.join(" -> ")
                        )));
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                path.pop();
            }
        }
    }
    Ok(())
}

fn firelens(containers: &[ContainerDefinition]) -> R<()> {
    let routers = containers
        .iter()
        .filter(|c| c.firelens_configuration.is_some())
        .count();
    if routers > 1 {
        return Err(client(
            "A task definition can have at most one container with a firelensConfiguration.",
        ));
    }
    for c in containers {
        if c.log_configuration
            .as_ref()
            .is_some_and(|l| l.log_driver == "awsfirelens")
            && routers == 0
        {
            return Err(setting(
                &c.name,
                "logConfiguration",
                "The awsfirelens log driver needs a container with a firelensConfiguration in the task definition.",
            ));
        }
    }
    Ok(())
}

/// The containers' cpu, hard and soft memory limits each add up to no
/// more than the task's, when the task has them.
pub(crate) fn sums(
    containers: &[ContainerDefinition],
    task_cpu: Option<u32>,
    task_memory: Option<u32>,
) -> R<()> {
    let total = |f: &dyn Fn(&ContainerDefinition) -> Option<i32>| -> i64 {
        containers
            .iter()
            .map(|c| i64::from(f(c).unwrap_or(0)))
            .sum()
    };
    if let Some(cpu) = task_cpu
        && total(&|c| c.cpu) > i64::from(cpu)
    {
        return Err(client(
            "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'.",
        ));
    }
    if let Some(mem) = task_memory {
        if total(&|c| c.memory) > i64::from(mem) {
            return Err(client(
                "The sum of all container 'memory' values cannot be greater than the value of the task 'memory'.",
            ));
        }
        if total(&|c| c.memory_reservation) > i64::from(mem) {
            return Err(client(
                "The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'.",
            ));
        }
    }
    Ok(())
}
