//! The Linux driver: each container is run by a shim process (see
//! [`crate::shim`]); this side spawns shims, signals containers, reads
//! their state from disk and removes them.

use std::fs::{self, File};
use std::io::{BufRead, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::cgroup::{self, Layout};
use crate::config::{ContainerConfig, ExecConfig};
use crate::error::RuntimeError;
use crate::shim::{self, READY_FD};
use crate::state::{self, ContainerDir, ContainerState, ExitInfo, Status, now_rfc3339};
use crate::{RuntimeDriver, Stats};

/// How to start a shim: a program and the words before `run ROOT ID`.
#[derive(Debug, Clone)]
pub struct ShimCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl ShimCommand {
    /// The running binary itself, re-executed as `EXE shim ...`.
    pub fn current_exe() -> Result<Self, RuntimeError> {
        let program =
            std::env::current_exe().map_err(RuntimeError::io("finding the current executable"))?;
        Ok(Self {
            program,
            args: vec!["shim".into()],
        })
    }
}

/// Runs containers under shims, with state under one root directory.
pub struct LinuxDriver {
    root: PathBuf,
    shim: ShimCommand,
    layout: Layout,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !id.starts_with('.')
}

impl LinuxDriver {
    /// A driver keeping container state under `root`.
    pub fn new(root: impl Into<PathBuf>, shim: ShimCommand) -> Result<Self, RuntimeError> {
        let root = root.into();
        fs::create_dir_all(&root)
            .map_err(RuntimeError::io(format!("creating {}", root.display())))?;
        Ok(Self {
            root,
            shim,
            layout: Layout::detect(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, id: &str) -> Result<ContainerDir, RuntimeError> {
        if !valid_id(id) {
            return Err(RuntimeError::NotFound(id.to_string()));
        }
        let d = ContainerDir::new(&self.root, id);
        if !d.exists() {
            return Err(RuntimeError::NotFound(id.to_string()));
        }
        Ok(d)
    }

    /// The config a container was created with.
    pub fn config(&self, id: &str) -> Result<ContainerConfig, RuntimeError> {
        state::read_json(&self.dir(id)?.config())?
            .ok_or_else(|| RuntimeError::NotFound(id.to_string()))
    }

    fn spawn_shim(
        &self,
        id: &str,
        attach: bool,
    ) -> Result<(std::process::Child, File), RuntimeError> {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| RuntimeError::Internal(format!("pipe: {e}")))?;
        let w_raw = w.as_raw_fd();
        let mut cmd = Command::new(&self.shim.program);
        cmd.args(&self.shim.args)
            .arg("run")
            .arg(&self.root)
            .arg(id)
            .current_dir("/")
            .stdin(Stdio::null());
        if !attach {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
        // SAFETY: only async-signal-safe calls between fork and exec: dup2
        // of the report pipe onto fd 3, setsid, and a second fork whose
        // parent exits at once. The shim thus leaves the caller's session
        // and is re-parented away from the caller, which never has to reap
        // it and may exit or restart while the container runs.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(w_raw, READY_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::setsid();
                match libc::fork() {
                    -1 => Err(std::io::Error::last_os_error()),
                    0 => Ok(()),
                    _ => libc::_exit(0),
                }
            });
        }
        let child = cmd.spawn().map_err(RuntimeError::io(format!(
            "starting shim {}",
            self.shim.program.display()
        )))?;
        drop(w);
        Ok((child, File::from(r)))
    }

    /// Waits for a process that is not our child to exit, up to `timeout`.
    fn wait_pid(pid: i32, timeout: Duration) -> bool {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return true; // already gone
        }
        // SAFETY: a fresh fd from the kernel that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&fd),
            PollFlags::POLLIN,
        )];
        matches!(poll(&mut fds, PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)), Ok(n) if n > 0)
    }

    fn exit_of(&self, dir: &ContainerDir) -> Result<Option<ExitInfo>, RuntimeError> {
        state::read_json(&dir.exit())
    }

    fn read_state(&self, id: &str, dir: &ContainerDir) -> Result<ContainerState, RuntimeError> {
        let mut st: ContainerState = match state::read_json(&dir.state())? {
            Some(s) => s,
            None => {
                // Created but the shim has not reported yet, or it failed.
                let cfg_time = fs::metadata(dir.config())
                    .and_then(|m| m.modified())
                    .map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339())
                    .unwrap_or_default();
                ContainerState {
                    id: id.to_string(),
                    status: Status::Created,
                    pid: None,
                    shim_pid: None,
                    created_at: cfg_time,
                    started_at: None,
                    exit: None,
                }
            }
        };
        if let Some(exit) = self.exit_of(dir)? {
            st.status = Status::Exited;
            st.exit = Some(exit);
        } else if !state::shim_alive(&dir.lock()) {
            // The shim is gone without recording an exit (killed, or the
            // machine rebooted): the container is either orphaned and still
            // running, or dead with its status lost.
            let alive = st.pid.is_some_and(|p| {
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_ok()
            });
            if !alive {
                st.status = Status::Exited;
                st.exit = Some(ExitInfo {
                    exit_code: 255,
                    signal: None,
                    oom_killed: false,
                    finished_at: now_rfc3339(),
                    error: Some(
                        "the container's shim exited without recording its exit status".into(),
                    ),
                });
            }
        }
        Ok(st)
    }

    fn write_lost_exit(dir: &ContainerDir) -> Result<ExitInfo, RuntimeError> {
        let e = ExitInfo {
            exit_code: 255,
            signal: None,
            oom_killed: false,
            finished_at: now_rfc3339(),
            error: Some("the container's shim exited without recording its exit status".into()),
        };
        state::write_json(&dir.exit(), &e)?;
        Ok(e)
    }
}

/// Tells a created container's init to exec its workload, as libcontainer's
/// `Container::start` does, but without its `chdir` dance, which changes the
/// working directory of every thread in the calling process. The socket is
/// reached through the directory's fd so the path stays under the 108-byte
/// limit of socket addresses.
fn notify_start(lc_dir: &Path) -> std::io::Result<()> {
    let dir = File::open(lc_dir)?;
    let path = format!("/proc/self/fd/{}/notify.sock", dir.as_raw_fd());
    let mut s = std::os::unix::net::UnixStream::connect(path)?;
    s.write_all(b"start container")
}

impl RuntimeDriver for LinuxDriver {
    fn will_create(&self) {
        cgroup::prime_attach();
    }

    fn create(&self, cfg: &ContainerConfig) -> Result<ContainerState, RuntimeError> {
        if !valid_id(&cfg.id) {
            return Err(RuntimeError::InvalidConfig(format!(
                "invalid container id {:?}",
                cfg.id
            )));
        }
        if cfg.args.is_empty() {
            return Err(RuntimeError::InvalidConfig("no command specified".into()));
        }
        let dir = ContainerDir::new(&self.root, &cfg.id);
        match fs::create_dir(&dir.root) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(RuntimeError::AlreadyExists(cfg.id.clone()));
            }
            Err(e) => {
                return Err(RuntimeError::Io {
                    context: format!("creating {}", dir.root.display()),
                    source: e,
                });
            }
        }
        let result = state::write_json(&dir.config(), cfg).and_then(|_| {
            let (mut child, mut ready) = self.spawn_shim(&cfg.id, cfg.attach)?;
            // Reaps the intermediate process of the double fork.
            let _ = child.wait();
            // One line, not EOF: the container's init inherits the pipe and
            // holds it open until it is started.
            let mut msg = String::new();
            let _ = std::io::BufReader::new(&mut ready).read_line(&mut msg);
            if msg.starts_with("ok ") {
                self.read_state(&cfg.id, &dir)
            } else {
                let m = msg.strip_prefix("err ").unwrap_or(&msg).trim().to_string();
                Err(RuntimeError::Create {
                    id: cfg.id.clone(),
                    message: if m.is_empty() {
                        "the shim exited without reporting".into()
                    } else {
                        m
                    },
                })
            }
        });
        if result.is_err() {
            let _ = shim::remove_stopped(&self.root, &dir, &cfg.id);
        }
        result
    }

    fn start(&self, id: &str) -> Result<ContainerState, RuntimeError> {
        let dir = self.dir(id)?;
        let st = self.read_state(id, &dir)?;
        if st.status != Status::Created || st.pid.is_none() {
            return Err(RuntimeError::WrongState {
                id: id.into(),
                state: st.status.to_string(),
                what: "only a created container can be started".into(),
            });
        }
        let lc_dir = shim::libcontainer_root(&self.root).join(id);
        // libcontainer checks its own record before an exec. Mark it running
        // before the workload starts: loading it reads /proc/PID, and a
        // short workload may be gone right after the notification.
        let mut c = libcontainer::container::Container::load(lc_dir.clone())
            .map_err(|e| RuntimeError::Internal(format!("loading container {id}: {e}")))?;
        c.set_status(libcontainer::container::ContainerStatus::Running)
            .save()
            .map_err(|e| RuntimeError::Internal(format!("saving container {id}: {e}")))?;
        notify_start(&lc_dir)
            .map_err(|e| RuntimeError::Internal(format!("starting container {id}: {e}")))?;
        let mut st = st;
        st.status = Status::Running;
        st.started_at = Some(now_rfc3339());
        state::write_json(&dir.state(), &st)?;
        self.read_state(id, &dir)
    }

    fn wait(&self, id: &str) -> Result<ExitInfo, RuntimeError> {
        let dir = self.dir(id)?;
        state::wait_shim(&dir.lock())?;
        if let Some(e) = self.exit_of(&dir)? {
            return Ok(e);
        }
        // No shim and no exit record: wait for an orphaned init, if any.
        let st = self.read_state(id, &dir)?;
        if let Some(pid) = st.pid {
            while !Self::wait_pid(pid, Duration::from_secs(3600)) {}
        }
        Self::write_lost_exit(&dir)
    }

    fn signal(&self, id: &str, signal: i32) -> Result<(), RuntimeError> {
        let dir = self.dir(id)?;
        let st = self.read_state(id, &dir)?;
        let (Status::Running | Status::Created, Some(pid)) = (st.status, st.pid) else {
            return Err(RuntimeError::WrongState {
                id: id.into(),
                state: st.status.to_string(),
                what: "it is not running".into(),
            });
        };
        let sig = nix::sys::signal::Signal::try_from(signal)
            .map_err(|_| RuntimeError::InvalidConfig(format!("invalid signal {signal}")))?;
        match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
            Err(e) => Err(RuntimeError::Internal(format!(
                "signalling container {id}: {e}"
            ))),
        }
    }

    fn stop(&self, id: &str, signal: i32, grace: Duration) -> Result<ExitInfo, RuntimeError> {
        let dir = self.dir(id)?;
        let st = self.read_state(id, &dir)?;
        if st.status == Status::Exited {
            return self.wait(id);
        }
        if let Some(pid) = st.pid {
            self.signal(id, signal)?;
            if !Self::wait_pid(pid, grace) {
                let _ = self.signal(id, libc::SIGKILL);
            }
        }
        self.wait(id)
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let dir = self.dir(id)?;
        let st = self.read_state(id, &dir)?;
        if st.status != Status::Exited {
            if !force {
                return Err(RuntimeError::WrongState {
                    id: id.into(),
                    state: st.status.to_string(),
                    what: "stop it first or force the removal".into(),
                });
            }
            self.stop(id, libc::SIGKILL, Duration::from_secs(10))?;
        }
        state::wait_shim(&dir.lock())?;
        shim::remove_stopped(&self.root, &dir, id)
    }

    fn exec(&self, id: &str, exec: &ExecConfig) -> Result<i32, RuntimeError> {
        let dir = self.dir(id)?;
        let st = self.read_state(id, &dir)?;
        if st.status != Status::Running {
            return Err(RuntimeError::WrongState {
                id: id.into(),
                state: st.status.to_string(),
                what: "exec needs a running container".into(),
            });
        }
        if exec.args.is_empty() {
            return Err(RuntimeError::InvalidConfig("no command specified".into()));
        }
        let req = serde_json::to_string(exec).map_err(|e| RuntimeError::Internal(e.to_string()))?;
        let status = Command::new(&self.shim.program)
            .args(&self.shim.args)
            .arg("exec")
            .arg(&self.root)
            .arg(id)
            .arg(req)
            .status()
            .map_err(RuntimeError::io("starting exec shim"))?;
        Ok(status.code().unwrap_or(255))
    }

    fn stats(&self, id: &str) -> Result<Stats, RuntimeError> {
        self.dir(id)?;
        Ok(cgroup::stats(&self.layout, id))
    }

    fn state(&self, id: &str) -> Result<ContainerState, RuntimeError> {
        let dir = self.dir(id)?;
        self.read_state(id, &dir)
    }

    fn log_path(&self, id: &str) -> Result<PathBuf, RuntimeError> {
        Ok(self.dir(id)?.log())
    }

    fn recover(&self) -> Result<Vec<ContainerState>, RuntimeError> {
        let mut out = Vec::new();
        let entries = fs::read_dir(&self.root)
            .map_err(RuntimeError::io(format!("listing {}", self.root.display())))?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !valid_id(&name) {
                continue;
            }
            let dir = ContainerDir::new(&self.root, &name);
            if dir.exists() {
                out.push(self.read_state(&name, &dir)?);
            }
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::valid_id;

    #[test]
    fn ids_are_checked() {
        assert!(valid_id("abc-1_2.x"));
        assert!(!valid_id(""));
        assert!(!valid_id("../x"));
        assert!(!valid_id(".libcontainer"));
        assert!(!valid_id("a/b"));
    }
}
