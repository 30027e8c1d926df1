//! The on-disk state of one container: its directory, records written
//! atomically, and the shim's liveness lock.
//!
//! Directory `ROOT/ID/`: `config.json` (what was asked), `state.json`
//! (created/started, pids), `exit.json` (how it ended, written once by the
//! shim), `bundle/config.json` (the OCI spec), `rootfs/` with `upper/` and
//! `work/` (the overlay), `container.log`, `etc/` (hosts, resolv.conf,
//! hostname) and `shim.lock`, which the shim holds locked for as long as it
//! lives, so anyone can tell a live shim from a dead one and wait for it.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::RuntimeError;

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being set up; the workload has not started.
    Created,
    Running,
    Exited,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
        })
    }
}

/// How a container's init process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// The exit code, or 128 + signal number when killed by a signal.
    pub exit_code: i32,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// Killed by the kernel's OOM killer for exceeding its memory limit.
    pub oom_killed: bool,
    /// RFC 3339 time of exit.
    pub finished_at: String,
    /// Why it ended when the runtime knows better than the exit code
    /// (a start failure, a lost shim).
    pub error: Option<String>,
}

/// The recorded state of one container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerState {
    pub id: String,
    pub status: Status,
    /// The init process, once created.
    pub pid: Option<i32>,
    /// The shim process supervising the container.
    pub shim_pid: Option<i32>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub exit: Option<ExitInfo>,
}

/// Paths of one container's state directory.
#[derive(Debug, Clone)]
pub struct ContainerDir {
    pub root: PathBuf,
}

impl ContainerDir {
    pub fn new(runtime_root: &Path, id: &str) -> Self {
        Self {
            root: runtime_root.join(id),
        }
    }
    pub fn config(&self) -> PathBuf {
        self.root.join("config.json")
    }
    pub fn state(&self) -> PathBuf {
        self.root.join("state.json")
    }
    pub fn exit(&self) -> PathBuf {
        self.root.join("exit.json")
    }
    pub fn bundle(&self) -> PathBuf {
        self.root.join("bundle")
    }
    pub fn rootfs(&self) -> PathBuf {
        self.root.join("rootfs")
    }
    pub fn upper(&self) -> PathBuf {
        self.root.join("upper")
    }
    pub fn work(&self) -> PathBuf {
        self.root.join("work")
    }
    pub fn etc(&self) -> PathBuf {
        self.root.join("etc")
    }
    pub fn log(&self) -> PathBuf {
        self.root.join("container.log")
    }
    pub fn lock(&self) -> PathBuf {
        self.root.join("shim.lock")
    }
    pub fn exists(&self) -> bool {
        self.config().exists()
    }
}

/// Writes JSON to `path` through a temporary file and a rename, so readers
/// see the old or the new record, never half of one. Not fsynced: a
/// container does not outlive a machine crash, and a crash of the process
/// leaves the page cache intact.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), RuntimeError> {
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec(value)
        .map_err(|e| RuntimeError::Internal(format!("encoding {}: {e}", path.display())))?;
    let mut f =
        File::create(&tmp).map_err(RuntimeError::io(format!("writing {}", tmp.display())))?;
    f.write_all(&bytes)
        .map_err(RuntimeError::io(format!("writing {}", tmp.display())))?;
    fs::rename(&tmp, path).map_err(RuntimeError::io(format!("renaming {}", path.display())))
}

/// Reads a JSON record; `Ok(None)` when the file does not exist.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, RuntimeError> {
    match fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| RuntimeError::Internal(format!("corrupt record {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RuntimeError::Io {
            context: format!("reading {}", path.display()),
            source: e,
        }),
    }
}

/// The shim's lock file, opened for locking.
pub fn open_lock(path: &Path) -> Result<File, RuntimeError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(RuntimeError::io(format!("opening {}", path.display())))
}

/// Whether a live shim holds the lock at `path`.
pub fn shim_alive(path: &Path) -> bool {
    let Ok(f) = OpenOptions::new().read(true).open(path) else {
        return false;
    };
    // SAFETY: flock on an fd we own; LOCK_NB never blocks.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    r != 0
}

/// Blocks until no shim holds the lock at `path`.
pub fn wait_shim(path: &Path) -> Result<(), RuntimeError> {
    let f = match OpenOptions::new().read(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(RuntimeError::Io {
                context: format!("opening {}", path.display()),
                source: e,
            });
        }
    };
    loop {
        // SAFETY: flock on an fd we own.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH) };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(RuntimeError::Io {
                context: format!("waiting on {}", path.display()),
                source: e,
            });
        }
    }
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
