//! What the agent answers at `http://169.254.170.2`: task metadata (v4,
//! v3) and task role credentials, read from the agent's own state.
//!
//! The address is put on the node's loopback interface, so containers
//! reach it through their default route with their own source address
//! (which the credentials check needs) and host-network tasks reach it
//! directly.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use dockyard_metadata::{
    AllowedCallers, ContainerLimits, ContainerMeta, ContainerStats, CpuStats, Credentials,
    CredentialsLookup, MemoryStats, MetadataSource, NetworkMeta, PidsStats, PortBinding, Protocol,
    SourceError, TaskLimits, TaskMeta, ecs_labels,
};

use crate::Shared;
use crate::state::{LocalContainer, LocalTask};

/// The link-local address ECS tasks expect their agent at.
pub const METADATA_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 2);

/// The base URL containers are given.
pub(crate) fn base_url() -> String {
    format!("http://{METADATA_IP}")
}

pub(crate) struct AgentMetadata {
    pub shared: Arc<Shared>,
}

fn ms(t: Option<i64>) -> Option<DateTime<Utc>> {
    t.and_then(DateTime::from_timestamp_millis)
}

impl AgentMetadata {
    /// The task and container a token names.
    fn find(&self, token: &str) -> Option<(LocalTask, String)> {
        let s = self.shared.state.lock().ok()?;
        s.tasks.values().find_map(|t| {
            t.containers
                .iter()
                .find(|(_, c)| !c.metadata_token.is_empty() && c.metadata_token == token)
                .map(|(name, _)| (t.clone(), name.clone()))
        })
    }

    fn container_meta(&self, t: &LocalTask, name: &str, c: &LocalContainer) -> ContainerMeta {
        let d = &t.desired;
        let def = d
            .definition
            .container_definitions
            .iter()
            .find(|x| x.name == name);
        let change = c.change.as_ref();
        let record = c
            .runtime_id
            .as_deref()
            .and_then(|id| self.shared.engine.resolve(id).ok());
        let mode = d
            .definition
            .network_mode
            .clone()
            .unwrap_or_else(|| "bridge".into());
        let ip: Option<Ipv4Addr> = match &t.network {
            Some(n) => n.ipv4.parse().ok(),
            None => record
                .as_ref()
                .and_then(|r| r.attachment.as_ref())
                .and_then(|a| a.ip),
        };
        let state = c
            .runtime_id
            .as_deref()
            .and_then(|id| self.shared.engine.state(id).ok());
        ContainerMeta {
            docker_id: c.runtime_id.clone().unwrap_or_default(),
            name: name.to_string(),
            docker_name: record.as_ref().map(|r| r.name.clone()).unwrap_or_default(),
            image: def.map(|x| x.image.clone()).unwrap_or_default(),
            image_id: change
                .and_then(|x| x.image_digest.clone())
                .unwrap_or_default(),
            labels: def
                .and_then(|x| x.docker_labels.clone())
                .unwrap_or_default()
                .into_iter()
                .chain(ecs_labels(
                    &d.cluster,
                    name,
                    &d.task_arn,
                    &d.definition.family,
                    &d.definition.revision.to_string(),
                ))
                .collect(),
            desired_status: d.desired_status.clone(),
            known_status: change
                .map(|x| x.status.clone())
                .unwrap_or_else(|| "PENDING".into()),
            exit_code: change.and_then(|x| x.exit_code),
            limits: ContainerLimits {
                cpu: def.and_then(|x| x.cpu).map(f64::from),
                memory_mib: def.and_then(|x| x.memory).map(i64::from),
            },
            created_at: state
                .as_ref()
                .and_then(|s| DateTime::parse_from_rfc3339(&s.created_at).ok())
                .map(|t| t.with_timezone(&Utc)),
            started_at: state
                .as_ref()
                .and_then(|s| s.started_at.as_deref())
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc)),
            log_driver: def
                .and_then(|x| x.log_configuration.as_ref())
                .map(|l| l.log_driver.clone()),
            log_options: def
                .and_then(|x| x.log_configuration.as_ref())
                .and_then(|l| l.options.clone())
                .unwrap_or_default(),
            networks: vec![NetworkMeta {
                mode,
                ipv4_addresses: ip.into_iter().collect(),
                ..NetworkMeta::default()
            }],
            ports: change
                .map(|x| {
                    x.network_bindings
                        .iter()
                        .map(|b| PortBinding {
                            container_port: b.container_port,
                            host_port: b.host_port,
                            protocol: if b.protocol == "udp" {
                                Protocol::Udp
                            } else {
                                Protocol::Tcp
                            },
                            host_ip: b.bind_ip.parse().ok(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            ..ContainerMeta::default()
        }
    }

    fn task_meta(&self, t: &LocalTask) -> TaskMeta {
        let d = &t.desired;
        let res = d.definition.resources();
        TaskMeta {
            cluster: d.cluster_arn.clone(),
            task_arn: d.task_arn.clone(),
            family: d.definition.family.clone(),
            revision: d.definition.revision.to_string(),
            desired_status: d.desired_status.clone(),
            known_status: t.status.clone(),
            limits: TaskLimits {
                vcpu: d
                    .definition
                    .cpu
                    .as_ref()
                    .map(|_| f64::from(res.cpu) / 1024.0),
                memory_mib: d.definition.memory.as_ref().map(|_| i64::from(res.memory)),
            },
            availability_zone: Some(d.availability_zone.clone()),
            launch_type: Some(d.launch_type.clone()),
            containers: t
                .containers
                .iter()
                .filter(|(_, c)| c.runtime_id.is_some())
                .map(|(n, c)| self.container_meta(t, n, c))
                .collect(),
            pull_started_at: ms(None),
            ..TaskMeta::default()
        }
    }

    fn stats_of(&self, name: &str, c: &LocalContainer) -> Result<ContainerStats, SourceError> {
        let id = c.runtime_id.clone().unwrap_or_default();
        let st = self
            .shared
            .engine
            .stats(&id)
            .map_err(|e| SourceError::Stats {
                target: id.clone(),
                reason: e.to_string(),
            })?;
        Ok(ContainerStats {
            id: id.clone(),
            name: name.to_string(),
            read: Utc::now(),
            preread: None,
            cpu: CpuStats {
                total_usage: st.cpu_usage_ns,
                online_cpus: std::thread::available_parallelism()
                    .map(|n| n.get() as u32)
                    .unwrap_or(1),
                ..CpuStats::default()
            },
            precpu: None,
            memory: MemoryStats {
                usage: st.memory_usage,
                max_usage: st.memory_max_usage.unwrap_or(0),
                limit: st.memory_limit.unwrap_or(0),
                ..MemoryStats::default()
            },
            pids: PidsStats {
                current: st.pids,
                limit: 0,
            },
            blkio: vec![],
            networks: Default::default(),
            network_rate: None,
        })
    }

    /// The addresses a task's containers call from.
    fn task_addresses(&self, t: &LocalTask) -> AllowedCallers {
        if t.desired.definition.network_mode.as_deref() == Some("host") {
            return AllowedCallers::Any;
        }
        if let Some(ip) = t
            .network
            .as_ref()
            .and_then(|n| n.ipv4.parse::<IpAddr>().ok())
        {
            return AllowedCallers::Only(vec![ip]);
        }
        AllowedCallers::Only(
            t.containers
                .values()
                .filter_map(|c| c.runtime_id.as_deref())
                .filter_map(|id| self.shared.engine.resolve(id).ok())
                .filter_map(|r| r.attachment.and_then(|a| a.ip))
                .map(IpAddr::V4)
                .collect(),
        )
    }
}

impl MetadataSource for AgentMetadata {
    fn container(&self, token: &str) -> Option<ContainerMeta> {
        let (t, name) = self.find(token)?;
        let c = t.containers.get(&name)?;
        Some(self.container_meta(&t, &name, c))
    }

    fn task(&self, token: &str) -> Option<TaskMeta> {
        let (t, _) = self.find(token)?;
        Some(self.task_meta(&t))
    }

    fn container_stats(&self, token: &str) -> Result<ContainerStats, SourceError> {
        let (t, name) = self
            .find(token)
            .ok_or_else(|| SourceError::UnknownToken(token.to_string()))?;
        let c = t
            .containers
            .get(&name)
            .ok_or_else(|| SourceError::UnknownToken(token.to_string()))?;
        self.stats_of(&name, c)
    }

    fn task_stats(
        &self,
        token: &str,
    ) -> Result<Vec<(String, Option<ContainerStats>)>, SourceError> {
        let (t, _) = self
            .find(token)
            .ok_or_else(|| SourceError::UnknownToken(token.to_string()))?;
        Ok(t.containers
            .iter()
            .filter_map(|(n, c)| {
                let id = c.runtime_id.clone()?;
                Some((id, self.stats_of(n, c).ok()))
            })
            .collect())
    }

    fn credentials(&self, id: &str, peer: IpAddr) -> CredentialsLookup {
        let task = self.shared.state.lock().ok().and_then(|s| {
            s.tasks
                .values()
                .find(|t| t.desired.credentials.as_ref().is_some_and(|c| c.id == id))
                .cloned()
        });
        let Some(t) = task else {
            return CredentialsLookup::NotFound;
        };
        let Some(c) = t.desired.credentials.clone() else {
            return CredentialsLookup::NotFound;
        };
        if !self.task_addresses(&t).admits(peer) {
            return CredentialsLookup::Forbidden;
        }
        let Ok(expiration) = DateTime::parse_from_rfc3339(&c.expiration) else {
            return CredentialsLookup::Pending;
        };
        CredentialsLookup::Found(Credentials {
            role_arn: c.role_arn,
            access_key_id: c.access_key_id,
            secret_access_key: c.secret_access_key,
            session_token: c.session_token,
            expiration: expiration.with_timezone(&Utc),
        })
    }
}

/// Puts the metadata address on the loopback interface (idempotent).
pub(crate) fn ensure_address() -> Result<(), String> {
    let out = std::process::Command::new("ip")
        .args(["addr", "replace", &format!("{METADATA_IP}/32"), "dev", "lo"])
        .output()
        .map_err(|e| format!("running ip: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(())
}
