//! The facts a node agent knows about a task and its containers, as plain
//! values. Rendering them to AWS's JSON is in `render`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use dockyard_types::ErrorKind;

/// One container as its task metadata describes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerMeta {
    /// The runtime's container id (`DockerId`).
    pub docker_id: String,
    /// The name in the task definition.
    pub name: String,
    /// The name given to the runtime, unique on the node.
    pub docker_name: String,
    /// The image as the task definition names it.
    pub image: String,
    /// The image's config digest, `sha256:...`; empty when not yet pulled.
    pub image_id: String,
    /// Container labels; see [`ecs_labels`] for the ones ECS sets.
    pub labels: BTreeMap<String, String>,
    /// `RUNNING`, `STOPPED`, ...
    pub desired_status: String,
    pub known_status: String,
    /// Present once the container has exited.
    pub exit_code: Option<i32>,
    pub limits: ContainerLimits,
    pub created_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub kind: ContainerKind,
    pub log_driver: Option<String>,
    pub log_options: BTreeMap<String, String>,
    pub container_arn: Option<String>,
    pub networks: Vec<NetworkMeta>,
    /// Port bindings; for `bridge` the host port is the one given out.
    pub ports: Vec<PortBinding>,
    /// Present only when the task definition has a health check.
    pub health: Option<Health>,
    pub volumes: Vec<VolumeMeta>,
    /// Present when the container has a restart policy.
    pub restart_count: Option<u32>,
    /// The snapshotter the rootfs came from (`overlayfs`).
    pub snapshotter: Option<String>,
}

/// The container-level `Limits`. ECS always sends the object, with what
/// the task definition set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerLimits {
    /// CPU units (1024 = one vCPU).
    pub cpu: Option<f64>,
    /// Hard memory limit in MiB.
    pub memory_mib: Option<i64>,
}

/// `Type` of a container. Task definitions only give `NORMAL` ones; the
/// others are the agent's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ContainerKind {
    #[default]
    Normal,
    /// The container holding an awsvpc task's network namespace.
    CniPause,
}

impl ContainerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "NORMAL",
            Self::CniPause => "CNI_PAUSE",
        }
    }
}

/// One network a container is attached to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkMeta {
    /// `awsvpc`, `bridge`, `host` or `none`.
    pub mode: String,
    pub ipv4_addresses: Vec<Ipv4Addr>,
    pub ipv6_addresses: Vec<Ipv6Addr>,
    /// The task's interface; ECS gives it for `awsvpc` only.
    pub interface: Option<InterfaceMeta>,
}

/// The properties of an `awsvpc` task's network interface.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InterfaceMeta {
    pub attachment_index: u32,
    /// `0e:9e:32:c7:48:85`.
    pub mac_address: String,
    pub ipv4_subnet: Option<Cidr>,
    pub ipv6_subnet: Option<Cidr>,
    pub dns_servers: Vec<IpAddr>,
    pub dns_search: Vec<String>,
    pub private_dns_name: Option<String>,
    /// The gateway with the subnet's prefix length (`10.0.2.1/24`), as
    /// AWS writes it.
    pub subnet_gateway_ipv4: Option<Cidr>,
    pub subnet_gateway_ipv6: Option<Cidr>,
}

/// An address with a prefix length, `10.0.2.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid cidr {0:?}: want address/prefix-length")]
pub struct CidrError(String);

impl CidrError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CidrError(s.to_owned());
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix_len: u8 = len.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix_len > max {
            return Err(bad());
        }
        Ok(Self { addr, prefix_len })
    }
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortBinding {
    pub container_port: u16,
    pub host_port: u16,
    pub protocol: Protocol,
    /// The host address bound, `0.0.0.0` for all.
    pub host_ip: Option<IpAddr>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}

/// The outcome of a container's health checks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    pub status: HealthStatus,
    /// When `status` last changed.
    pub since: Option<DateTime<Utc>>,
    /// Exit code of the last failed check.
    pub exit_code: i32,
    /// Output of the last check.
    pub output: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HealthStatus {
    /// No check has finished yet; ECS then leaves `status` out.
    #[default]
    Unknown,
    Healthy,
    Unhealthy,
}

/// A volume mounted into the container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeMeta {
    /// Set for named (runtime-managed) volumes.
    pub docker_name: Option<String>,
    pub source: String,
    pub destination: String,
}

/// A task, with every container in it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskMeta {
    /// The cluster's short name or ARN.
    pub cluster: String,
    pub task_arn: String,
    pub family: String,
    pub revision: String,
    pub desired_status: String,
    pub known_status: String,
    pub limits: TaskLimits,
    pub pull_started_at: Option<DateTime<Utc>>,
    pub pull_stopped_at: Option<DateTime<Utc>>,
    /// When the task's desired status moved to `STOPPED`.
    pub execution_stopped_at: Option<DateTime<Utc>>,
    pub availability_zone: Option<String>,
    pub availability_zone_id: Option<String>,
    /// `EC2` or `FARGATE`.
    pub launch_type: Option<String>,
    pub containers: Vec<ContainerMeta>,
    pub vpc_id: Option<String>,
    pub service_name: Option<String>,
    pub clock_drift: Option<ClockDrift>,
    pub ephemeral_storage: Option<EphemeralStorage>,
    /// Shown by `/taskWithTags` only.
    pub task_tags: BTreeMap<String, String>,
    /// Shown by `/taskWithTags` only.
    pub container_instance_tags: BTreeMap<String, String>,
}

/// Task-level limits; the whole object is left out when neither is set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskLimits {
    /// vCPUs (0.25, 1, ...), not CPU units.
    pub vcpu: Option<f64>,
    pub memory_mib: Option<i64>,
}

/// How far the node's clock may be off, as chrony reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClockDrift {
    /// Milliseconds.
    pub error_bound_ms: f64,
    pub reference: DateTime<Utc>,
    pub synchronized: bool,
}

/// Use of the task's writable layer, in MiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EphemeralStorage {
    pub utilized_mib: i64,
    pub reserved_mib: i64,
}

/// The labels ECS puts on every container of a task.
pub fn ecs_labels(
    cluster: &str,
    container_name: &str,
    task_arn: &str,
    family: &str,
    revision: &str,
) -> BTreeMap<String, String> {
    [
        ("com.amazonaws.ecs.cluster", cluster),
        ("com.amazonaws.ecs.container-name", container_name),
        ("com.amazonaws.ecs.task-arn", task_arn),
        ("com.amazonaws.ecs.task-definition-family", family),
        ("com.amazonaws.ecs.task-definition-version", revision),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn cidr_round_trips_and_rejects_nonsense() {
        for s in ["10.0.2.0/24", "10.0.2.1/24", "2001:db8::/64", "0.0.0.0/0"] {
            assert_eq!(s.parse::<Cidr>().unwrap().to_string(), s);
        }
        for s in ["10.0.2.0", "10.0.2.0/33", "x/24", "::/129", "10.0.0.0/-1"] {
            let e = s.parse::<Cidr>().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(e.to_string().contains(s));
        }
    }

    #[test]
    fn ecs_labels_are_the_five_ecs_sets() {
        let l = ecs_labels("default", "curl", "arn:t", "curltest", "24");
        assert_eq!(l.len(), 5);
        assert_eq!(l["com.amazonaws.ecs.task-definition-version"], "24");
        assert_eq!(l["com.amazonaws.ecs.container-name"], "curl");
    }
}
