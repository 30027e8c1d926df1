//! From a task's container definitions to engine run specs, and the
//! dependency order they start in.

use std::collections::BTreeMap;

use dockyard_agentproto::DesiredTask;
use dockyard_engine::{RunSpec, SharedNetwork};
use dockyard_net::{NetworkMode, PortMapping, Protocol};
use dockyard_taskdef::ContainerDefinition;

/// Docker's names allow `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The engine name of a task's container, as the ECS agent names them:
/// `ecs-FAMILY-REVISION-NAME-ID`.
pub(crate) fn container_name(task: &DesiredTask, c: &ContainerDefinition) -> String {
    let id: String = task.task_id.chars().take(20).collect();
    format!(
        "ecs-{}-{}-{}-{id}",
        clean(&task.definition.family),
        task.definition.revision,
        clean(&c.name)
    )
}

/// The run spec of one container; `Err` (a stop reason) when the node
/// cannot provide what it asks for.
pub(crate) fn run_spec(
    task: &DesiredTask,
    c: &ContainerDefinition,
    shared: Option<&SharedNetwork>,
    extra_env: &[(String, String)],
) -> Result<RunSpec, String> {
    let def = &task.definition;
    let mode = def.network_mode.as_deref().unwrap_or("bridge");
    let mut env: Vec<String> = c
        .environment
        .iter()
        .filter_map(|kv| {
            Some(format!(
                "{}={}",
                kv.name.as_deref()?,
                kv.value.as_deref().unwrap_or("")
            ))
        })
        .collect();
    env.extend(extra_env.iter().map(|(k, v)| format!("{k}={v}")));
    let ports = if mode == "bridge" {
        c.port_mappings
            .iter()
            .filter_map(|p| {
                Some(PortMapping {
                    host_ip: None,
                    host_port: p.host_port.unwrap_or(0) as u16,
                    container_port: p.container_port? as u16,
                    protocol: if p.protocol.as_deref() == Some("udp") {
                        Protocol::Udp
                    } else {
                        Protocol::Tcp
                    },
                })
            })
            .collect()
    } else {
        vec![]
    };
    // Memory: the hard limit, else the task's (Fargate-style definitions
    // size the task, not the container).
    let memory = c.memory.map(|m| u64::from(m as u32) << 20).or_else(|| {
        def.memory
            .as_deref()
            .and_then(|m| m.parse::<u64>().ok())
            .map(|m| m << 20)
    });
    let cpus = def
        .cpu
        .as_deref()
        .and_then(|c| c.parse::<f64>().ok())
        .map(|units| units / 1024.0);
    let (cap_add, cap_drop) = c
        .linux_parameters
        .as_ref()
        .and_then(|l| l.capabilities.as_ref())
        .map(|caps| {
            (
                caps.add.clone().unwrap_or_default(),
                caps.drop.clone().unwrap_or_default(),
            )
        })
        .unwrap_or_default();
    let ulimits = c
        .ulimits
        .iter()
        .flatten()
        .map(|u| {
            // Negative limits mean unlimited, as Docker takes -1.
            let lim = |v: Option<i32>| v.and_then(|v| u64::try_from(v).ok()).unwrap_or(u64::MAX);
            dockyard_engine::spec::ulimit(&u.name, lim(u.soft_limit), lim(u.hard_limit))
                .map_err(|e| format!("CannotCreateContainerError: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let lp = c.linux_parameters.as_ref();
    let tmpfs = lp
        .and_then(|l| l.tmpfs.as_ref())
        .into_iter()
        .flatten()
        .map(|t| dockyard_runtime::Tmpfs {
            destination: t.container_path.clone(),
            options: std::iter::once(format!("size={}m", t.size))
                .chain(t.mount_options.iter().flatten().cloned())
                .collect(),
        })
        .collect();
    let bad = |e: dockyard_engine::EngineError| format!("CannotCreateContainerError: {e}");
    let extra_hosts = c
        .extra_hosts
        .iter()
        .flatten()
        .map(|h| dockyard_engine::spec::parse_add_host(&format!("{}={}", h.hostname, h.ip_address)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    let dns = c
        .dns_servers
        .iter()
        .flatten()
        .map(|d| dockyard_engine::spec::parse_dns(d))
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    let sysctls = c
        .system_controls
        .iter()
        .flatten()
        .filter_map(|s| Some((s.namespace.clone()?, s.value.clone().unwrap_or_default())))
        .collect();
    let shm_size = lp
        .and_then(|l| l.shared_memory_size)
        .and_then(|m| u64::try_from(m).ok())
        .map(|m| m << 20);
    Ok(RunSpec {
        image: c.image.clone(),
        name: Some(container_name(task, c)),
        // The engine takes an entrypoint as one whitespace-split string
        // (Docker's `--entrypoint`); ECS gives a list, so a given
        // entrypoint is cleared and put in front of the command instead,
        // which runs the same argv.
        cmd: match &c.entry_point {
            Some(ep) => ep
                .iter()
                .chain(c.command.iter().flatten())
                .cloned()
                .collect(),
            None => c.command.clone().unwrap_or_default(),
        },
        entrypoint: c.entry_point.as_ref().map(|_| String::new()),
        env,
        ports,
        network: match (shared, mode) {
            (Some(_), _) => None,
            (None, "host") => Some(NetworkMode::Host),
            (None, "none") => Some(NetworkMode::None),
            (None, _) => Some(NetworkMode::Bridge),
        },
        memory,
        cpus,
        cpu_shares: c.cpu.filter(|c| *c > 1).map(|c| c as u64),
        user: c.user.clone(),
        workdir: c.working_directory.clone(),
        hostname: c.hostname.clone(),
        read_only: c.readonly_root_filesystem.unwrap_or(false),
        auto_remove: false,
        cap_add,
        cap_drop,
        seccomp_unconfined: false,
        stop_signal: None,
        stop_timeout: c.stop_timeout.map(|t| t as u64),
        join_network: shared.cloned(),
        volumes: crate::volumes::mounts(task, c)?,
        tmpfs,
        shm_size,
        ulimits,
        extra_hosts,
        dns,
        dns_search: c.dns_search_domains.clone().unwrap_or_default(),
        dns_options: vec![],
        sysctls,
        labels: {
            let mut l = c.docker_labels.clone().unwrap_or_default();
            l.extend(dockyard_metadata::ecs_labels(
                &task.cluster,
                &c.name,
                &task.task_arn,
                &task.definition.family,
                &task.definition.revision.to_string(),
            ));
            l
        },
        devices: lp
            .and_then(|l| l.devices.as_ref())
            .into_iter()
            .flatten()
            .map(|d| dockyard_runtime::Device {
                host_path: d.host_path.clone().into(),
                container_path: d
                    .container_path
                    .clone()
                    .unwrap_or_else(|| d.host_path.clone()),
                access: match &d.permissions {
                    Some(p) if !p.is_empty() => {
                        let has = |w: &str| p.iter().any(|x| x == w);
                        [("read", 'r'), ("write", 'w'), ("mknod", 'm')]
                            .iter()
                            .filter(|(w, _)| has(w))
                            .map(|(_, c)| *c)
                            .collect()
                    }
                    _ => "rwm".into(),
                },
            })
            .collect(),
    })
}

/// Refuses, before anything starts, what a task asks for from services
/// this platform does not have yet: secrets (SSM Parameter Store, Secrets
/// Manager) and environment files (S3). AWS fails such a task with a
/// ResourceInitializationError when it cannot fetch them; so does this.
pub(crate) fn check_inputs(task: &DesiredTask) -> Result<(), String> {
    for c in &task.definition.container_definitions {
        let secrets = c.secrets.iter().flatten().chain(
            c.log_configuration
                .iter()
                .flat_map(|l| l.secret_options.iter().flatten()),
        );
        if let Some(s) = secrets.into_iter().next() {
            return Err(format!(
                "ResourceInitializationError: unable to pull secrets or registry auth: container {}: secret {} from {}: there is no parameter store or secrets manager on this platform yet",
                c.name, s.name, s.value_from
            ));
        }
        if let Some(f) = c.environment_files.iter().flatten().next() {
            return Err(format!(
                "ResourceInitializationError: failed to download env files: container {}: {}: there is no S3 on this platform yet",
                c.name, f.value
            ));
        }
    }
    Ok(())
}

/// Container names in an order where every container comes after those it
/// depends on (the definition was checked for cycles at registration).
pub(crate) fn start_order(defs: &[ContainerDefinition]) -> Vec<String> {
    let mut deps: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in defs {
        deps.insert(
            &c.name,
            c.depends_on
                .iter()
                .map(|d| d.container_name.as_str())
                .collect(),
        );
    }
    let mut out: Vec<String> = Vec::new();
    while out.len() < defs.len() {
        let before = out.len();
        for c in defs {
            if out.contains(&c.name) {
                continue;
            }
            if deps[c.name.as_str()]
                .iter()
                .all(|d| out.iter().any(|o| o == d))
            {
                out.push(c.name.clone());
            }
        }
        if out.len() == before {
            // A cycle slipped through: start the rest in definition order.
            out.extend(
                defs.iter()
                    .filter(|c| !out.contains(&c.name))
                    .map(|c| c.name.clone())
                    .collect::<Vec<_>>(),
            );
        }
    }
    out
}
