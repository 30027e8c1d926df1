//! What a caller asks of a container: a runtime-neutral description that
//! the Linux driver turns into an OCI runtime spec.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How the container's network namespace is provided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkNamespace {
    /// Share the host's network namespace.
    Host,
    /// Join a namespace prepared by the network driver (bind-mounted file).
    Path(PathBuf),
    /// A fresh namespace with only its loopback, which is brought up.
    New,
}

/// CPU and memory limits, in the units the kernel takes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Hard memory limit in bytes.
    pub memory_limit: Option<u64>,
    /// Relative CPU weight (Docker's `--cpu-shares`, 2..=262144).
    pub cpu_shares: Option<u64>,
    /// CFS quota in microseconds per `cpu_period`.
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds (default 100000).
    pub cpu_period: Option<u64>,
    /// Maximum number of processes.
    pub pids_limit: Option<i64>,
}

/// A resource limit for the container's processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    /// Name as in the OCI spec, e.g. `RLIMIT_NOFILE`.
    pub kind: String,
    pub soft: u64,
    pub hard: u64,
}

/// An extra bind mount into the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub source: PathBuf,
    pub destination: String,
    pub read_only: bool,
}

/// A host device node made available inside (Docker's `--device`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub host_path: PathBuf,
    pub container_path: String,
    /// Device cgroup access: a non-empty subset of `rwm`.
    pub access: String,
}

/// A tmpfs mounted into the container (Docker's `--tmpfs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tmpfs {
    pub destination: String,
    /// Mount options as `mount -o` takes them (`size=64m`, `noexec`...).
    pub options: Vec<String>,
}

/// Everything needed to create one container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// Unique id (64 hex characters by convention).
    pub id: String,
    /// Read-only lower layers of the root filesystem, topmost first.
    pub rootfs_layers: Vec<PathBuf>,
    /// The process to run: the final argv (entrypoint + cmd already joined).
    pub args: Vec<String>,
    /// `KEY=VALUE` pairs.
    pub env: Vec<String>,
    /// Working directory inside the container (default `/`).
    pub cwd: Option<String>,
    /// `user`, `uid`, `user:group` or `uid:gid`, resolved inside the image.
    pub user: Option<String>,
    pub hostname: String,
    /// Contents of `/etc/hosts`; `None` leaves the image's file.
    pub hosts: Option<String>,
    /// Contents of `/etc/resolv.conf`; `None` leaves the image's file.
    pub resolv_conf: Option<String>,
    pub network: NetworkNamespace,
    pub readonly_rootfs: bool,
    pub resources: Resources,
    /// Extra limits; NOFILE defaults to the host's hard limit when absent.
    pub rlimits: Vec<Rlimit>,
    pub mounts: Vec<Mount>,
    #[serde(default)]
    pub tmpfs: Vec<Tmpfs>,
    /// Size of `/dev/shm` in bytes (Docker's `--shm-size`, default 64 MiB).
    #[serde(default)]
    pub shm_size: Option<u64>,
    /// Namespaced kernel parameters set inside the container (Docker's
    /// `--sysctl`), as `net.ipv4.ip_forward` -> `1`.
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
    /// Host device nodes made available inside.
    #[serde(default)]
    pub devices: Vec<Device>,
    /// Turn the seccomp filter off (Docker's `seccomp=unconfined`).
    pub seccomp_unconfined: bool,
    /// Capabilities beyond Docker's default set (`CAP_NET_ADMIN`...).
    pub cap_add: Vec<String>,
    /// Capabilities removed from the default set.
    pub cap_drop: Vec<String>,
    /// Copy the container's output to the shim's own stdout/stderr too
    /// (foreground `run`), besides the log file.
    pub attach: bool,
    /// Remove the container (as `delete` does) as soon as it exits.
    pub auto_remove: bool,
    /// A command the shim runs after the container exits and, with
    /// `auto_remove`, after it is removed: how the layers above release
    /// what they hold for it (network, names) when nobody is waiting.
    pub exit_hook: Option<Vec<String>>,
}

impl ContainerConfig {
    /// A config with Docker's defaults for everything but id, layers and argv.
    pub fn new(id: impl Into<String>, rootfs_layers: Vec<PathBuf>, args: Vec<String>) -> Self {
        let id = id.into();
        Self {
            hostname: id.chars().take(12).collect(),
            id,
            rootfs_layers,
            args,
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            cwd: None,
            user: None,
            hosts: None,
            resolv_conf: None,
            network: NetworkNamespace::New,
            readonly_rootfs: false,
            resources: Resources::default(),
            rlimits: Vec::new(),
            mounts: Vec::new(),
            tmpfs: Vec::new(),
            shm_size: None,
            sysctls: BTreeMap::new(),
            devices: Vec::new(),
            seccomp_unconfined: false,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            attach: false,
            auto_remove: false,
            exit_hook: None,
        }
    }
}

/// A process to run inside an existing container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecConfig {
    pub args: Vec<String>,
    /// Added to (and overriding) the container's environment.
    pub env: Vec<String>,
    pub cwd: Option<String>,
    pub user: Option<String>,
}
