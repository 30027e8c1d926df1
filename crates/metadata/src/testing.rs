//! An in-memory [`MetadataSource`] for this crate's tests.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{TimeZone, Utc};

use crate::credentials::{AllowedCallers, Credentials, CredentialsLookup, CredentialsTable};
use crate::meta::{ContainerLimits, ContainerMeta, NetworkMeta, TaskLimits, TaskMeta, ecs_labels};
use crate::source::{MetadataSource, SourceError};
use crate::stats::{ContainerStats, CpuStats, MemoryStats, PidsStats};

/// Two tasks: `web` (containers `app` and `sidecar`, at 10.0.0.5 and
/// 127.0.0.1) and `batch` (container `job`, at 10.0.0.9). Tokens are
/// `tok-<container>`; credentials ids `cred-web` and `cred-batch`. The
/// sidecar has no stats; `tok-job`'s stats fail to read.
pub(crate) struct Fake {
    tasks: Vec<TaskMeta>,
    /// token -> (task index, container index)
    tokens: HashMap<String, (usize, usize)>,
    pub creds: CredentialsTable,
    /// Calls made, to show the server consulted the source.
    pub calls: AtomicUsize,
}

pub(crate) const WEB_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:task/dev/web1";

pub(crate) fn creds(key: &str) -> Credentials {
    Credentials {
        role_arn: format!("arn:aws:iam::123456789012:role/{key}"),
        access_key_id: format!("ASIA{key}"),
        secret_access_key: format!("secret-{key}"),
        session_token: format!("token-{key}"),
        expiration: Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap(),
    }
}

fn container(task: &str, family: &str, name: &str, ip: &str) -> ContainerMeta {
    ContainerMeta {
        docker_id: format!("id-{name}"),
        name: name.into(),
        docker_name: format!("dockyard-{family}-1-{name}"),
        image: format!("{name}:latest"),
        image_id: "sha256:00".into(),
        labels: ecs_labels("dev", name, task, family, "1"),
        desired_status: "RUNNING".into(),
        known_status: "RUNNING".into(),
        limits: ContainerLimits {
            cpu: Some(128.0),
            memory_mib: Some(256),
        },
        networks: vec![NetworkMeta {
            mode: "bridge".into(),
            ipv4_addresses: vec![ip.parse().unwrap()],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn task(arn: &str, family: &str, containers: Vec<ContainerMeta>) -> TaskMeta {
    TaskMeta {
        cluster: "dev".into(),
        task_arn: arn.into(),
        family: family.into(),
        revision: "1".into(),
        desired_status: "RUNNING".into(),
        known_status: "RUNNING".into(),
        limits: TaskLimits {
            vcpu: Some(0.5),
            memory_mib: Some(1024),
        },
        launch_type: Some("EC2".into()),
        containers,
        ..Default::default()
    }
}

pub(crate) fn stats_of(id: &str) -> ContainerStats {
    ContainerStats {
        id: id.into(),
        name: format!("/{id}"),
        read: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 1).unwrap(),
        preread: Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()),
        cpu: CpuStats {
            total_usage: 1_000,
            online_cpus: 2,
            system_cpu_usage: 9_000,
            ..Default::default()
        },
        precpu: None,
        memory: MemoryStats {
            usage: 4096,
            limit: 268_435_456,
            ..Default::default()
        },
        pids: PidsStats {
            current: 2,
            limit: 0,
        },
        blkio: vec![],
        networks: Default::default(),
        network_rate: None,
    }
}

impl Fake {
    pub(crate) fn new() -> Self {
        let batch_arn = "arn:aws:ecs:us-east-1:123456789012:task/dev/batch1";
        let tasks = vec![
            task(
                WEB_ARN,
                "web",
                vec![
                    container(WEB_ARN, "web", "app", "10.0.0.5"),
                    container(WEB_ARN, "web", "sidecar", "127.0.0.1"),
                ],
            ),
            task(
                batch_arn,
                "batch",
                vec![container(batch_arn, "batch", "job", "10.0.0.9")],
            ),
        ];
        let mut tokens = HashMap::new();
        for (ti, t) in tasks.iter().enumerate() {
            for (ci, c) in t.containers.iter().enumerate() {
                tokens.insert(format!("tok-{}", c.name), (ti, ci));
            }
        }
        let creds_table = CredentialsTable::new();
        creds_table.insert(
            "cred-web",
            creds("web"),
            AllowedCallers::Only(vec![
                "10.0.0.5".parse().unwrap(),
                "127.0.0.1".parse().unwrap(),
            ]),
        );
        creds_table.insert(
            "cred-batch",
            creds("batch"),
            AllowedCallers::Only(vec!["10.0.0.9".parse().unwrap()]),
        );
        creds_table.insert("cred-host", creds("host"), AllowedCallers::Any);
        creds_table.expect("cred-pending");
        Self {
            tasks,
            tokens,
            creds: creds_table,
            calls: AtomicUsize::new(0),
        }
    }

    fn find(&self, token: &str) -> Option<(&TaskMeta, &ContainerMeta)> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let (ti, ci) = *self.tokens.get(token)?;
        let t = &self.tasks[ti];
        Some((t, &t.containers[ci]))
    }
}

impl MetadataSource for Fake {
    fn container(&self, token: &str) -> Option<ContainerMeta> {
        self.find(token).map(|(_, c)| c.clone())
    }

    fn task(&self, token: &str) -> Option<TaskMeta> {
        self.find(token).map(|(t, _)| t.clone())
    }

    fn container_stats(&self, token: &str) -> Result<ContainerStats, SourceError> {
        let (_, c) = self
            .find(token)
            .ok_or_else(|| SourceError::UnknownToken(token.into()))?;
        if c.name == "job" {
            return Err(SourceError::Stats {
                target: c.docker_id.clone(),
                reason: "cgroup gone".into(),
            });
        }
        Ok(stats_of(&c.docker_id))
    }

    fn task_stats(
        &self,
        token: &str,
    ) -> Result<Vec<(String, Option<ContainerStats>)>, SourceError> {
        let (t, _) = self
            .find(token)
            .ok_or_else(|| SourceError::UnknownToken(token.into()))?;
        if t.family == "batch" {
            return Err(SourceError::Stats {
                target: t.task_arn.clone(),
                reason: "cgroup gone".into(),
            });
        }
        Ok(t.containers
            .iter()
            .map(|c| {
                let s = (c.name != "sidecar").then(|| stats_of(&c.docker_id));
                (c.docker_id.clone(), s)
            })
            .collect())
    }

    fn credentials(&self, id: &str, peer: IpAddr) -> CredentialsLookup {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.creds.lookup(id, peer)
    }
}
