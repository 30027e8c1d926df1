//! The container runtime driver: creates, runs, watches and removes Linux
//! containers on one node.
//!
//! [`RuntimeDriver`] is the boundary the engine and the agent talk to. The
//! Linux implementation ([`LinuxDriver`]) runs every container under a small
//! helper process (the "shim", the same binary re-executed) that builds the
//! container with youki's `libcontainer` from a single thread, is its parent,
//! writes its logs and exit status into the container's state directory, and
//! outlives the process that asked for the container. [`FakeDriver`] is an
//! in-memory stand-in for unit tests of the layers above.

mod cgroup;
mod config;
mod devices;
mod error;
pub mod fake;
mod linux;
pub mod logs;
mod loopback;
mod rootfs;
mod seccomp;
pub mod shim;
mod spec;
mod state;
mod user;

pub use config::{
    ContainerConfig, Device, ExecConfig, Mount, NetworkNamespace, Resources, Rlimit, Tmpfs,
};
pub use devices::{check as check_device, resolve as resolve_device};
pub use error::{ErrorKind, RuntimeError};
pub use fake::FakeDriver;
pub use linux::{LinuxDriver, ShimCommand};
pub use state::{ContainerState, ExitInfo, Status};

/// CPU and memory usage of one container, read from its cgroup.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// Total CPU time consumed, in nanoseconds.
    pub cpu_usage_ns: u64,
    /// Memory in use now, in bytes.
    pub memory_usage: u64,
    /// The memory limit in force, if any, in bytes.
    pub memory_limit: Option<u64>,
    /// Peak memory use, in bytes, where the kernel reports it.
    pub memory_max_usage: Option<u64>,
    /// Number of processes (tasks) in the container.
    pub pids: u64,
}

/// What a node's container runtime can do.
///
/// Lifecycle of one container: [`create`](Self::create) (state `Created`,
/// the process exists but has not run the workload) -> [`start`](Self::start)
/// (`Running`) -> it exits on its own or by [`signal`](Self::signal) /
/// [`stop`](Self::stop) (`Exited`, with [`ExitInfo`]) -> [`delete`](Self::delete)
/// (every mount, cgroup and file gone). [`wait`](Self::wait) blocks until
/// exit. A driver created again over the same state directory finds its
/// containers with [`recover`](Self::recover); they keep running meanwhile.
pub trait RuntimeDriver: Send + Sync {
    /// A hint that [`create`](Self::create) is coming: a driver may start
    /// slow, stateless kernel work now so that it overlaps with the
    /// caller's own preparation. Never fails; the default does nothing.
    fn will_create(&self) {}
    /// Prepares a container; its process waits to be started.
    fn create(&self, config: &ContainerConfig) -> Result<ContainerState, RuntimeError>;
    /// Starts the workload of a created container.
    fn start(&self, id: &str) -> Result<ContainerState, RuntimeError>;
    /// Blocks until the container has exited and returns how it ended.
    fn wait(&self, id: &str) -> Result<ExitInfo, RuntimeError>;
    /// Sends a signal to the container's init process.
    fn signal(&self, id: &str, signal: i32) -> Result<(), RuntimeError>;
    /// Sends `signal`, waits up to `grace`, then SIGKILL; returns the exit.
    fn stop(
        &self,
        id: &str,
        signal: i32,
        grace: std::time::Duration,
    ) -> Result<ExitInfo, RuntimeError>;
    /// Removes a container; a running one only with `force` (killed first).
    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError>;
    /// Runs another process inside a running container; returns its exit code.
    fn exec(&self, id: &str, exec: &ExecConfig) -> Result<i32, RuntimeError>;
    /// Current resource usage.
    fn stats(&self, id: &str) -> Result<Stats, RuntimeError>;
    /// The current state of one container.
    fn state(&self, id: &str) -> Result<ContainerState, RuntimeError>;
    /// Every container this driver knows of, found again from disk.
    fn recover(&self) -> Result<Vec<ContainerState>, RuntimeError>;
    /// The container's log file (see [`logs`] for its format).
    fn log_path(&self, id: &str) -> Result<std::path::PathBuf, RuntimeError>;
}
