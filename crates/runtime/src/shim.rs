//! The helper process that owns one container.
//!
//! `libcontainer` forks, so it must run in a single-threaded process: the
//! driver re-executes the binary as `shim run ROOT ID` (or `shim exec ...`)
//! and this module is all that process does. The shim holds `shim.lock` for
//! its whole life, mounts the root filesystem, writes the OCI bundle,
//! creates the container (its init process is the shim's child), reports
//! `ok PID` or `err MESSAGE` on fd 3, then copies the container's output
//! into the log until init exits, and records the exit in `exit.json`.
//!
//! It keeps running when the process that started it exits, so containers
//! outlive the CLI and agent restarts; it uses no threads and little memory.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::cgroup;
use crate::config::{ContainerConfig, ExecConfig};
use crate::error::RuntimeError;
use crate::logs::{LineSplitter, Stream};
use crate::rootfs;
use crate::spec::{self, HostFacts};
use crate::state::{self, ContainerDir, ContainerState, ExitInfo, Status, now_rfc3339};
use crate::user;

/// The fd on which a shim reports readiness to its starter.
pub const READY_FD: RawFd = 3;

/// Where libcontainer keeps its own state, under the runtime root.
pub fn libcontainer_root(runtime_root: &Path) -> PathBuf {
    runtime_root.join(".libcontainer")
}

/// Entry point of the shim process; `args` are the words after `shim`.
/// Returns the process exit code.
pub fn main(args: &[String]) -> i32 {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["run", root, id] => run(Path::new(root), id),
        ["exec", root, id, exec_json] => match exec(Path::new(root), id, exec_json) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("dockyard: exec in {id}: {e}");
                126
            }
        },
        _ => {
            eprintln!("usage: shim run ROOT ID | shim exec ROOT ID EXEC_JSON");
            2
        }
    }
}

fn report(ready: &mut Option<File>, msg: &str) {
    if let Some(mut f) = ready.take() {
        let _ = f.write_all(msg.as_bytes());
    }
}

fn run(root: &Path, id: &str) -> i32 {
    // SAFETY: fd 3 is handed to us by the driver for this purpose only; if it
    // is not open, writes fail harmlessly.
    let mut ready = Some(unsafe { File::from_raw_fd(READY_FD) });
    let dir = ContainerDir::new(root, id);
    let lock = match state::open_lock(&dir.lock()) {
        Ok(l) => l,
        Err(e) => {
            report(&mut ready, &format!("err {e}\n"));
            return 1;
        }
    };
    // SAFETY: flock on an fd we own. Held until this process exits.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        report(
            &mut ready,
            &format!("err container {id} already has a shim\n"),
        );
        return 1;
    }
    let cfg: ContainerConfig = match state::read_json(&dir.config()) {
        Ok(Some(c)) => c,
        Ok(None) => {
            report(&mut ready, &format!("err no config for container {id}\n"));
            return 1;
        }
        Err(e) => {
            report(&mut ready, &format!("err {e}\n"));
            return 1;
        }
    };
    let (pid, out_r, err_r) = match create(root, &dir, &cfg) {
        Ok(v) => v,
        Err(e) => {
            let _ = rootfs::unmount(&dir);
            let msg = match e {
                RuntimeError::Create { message, .. } => message,
                other => other.to_string(),
            };
            report(&mut ready, &format!("err {}\n", msg.replace('\n', " ")));
            return 1;
        }
    };
    let st = ContainerState {
        id: id.to_string(),
        status: Status::Created,
        pid: Some(pid.as_raw()),
        shim_pid: Some(std::process::id() as i32),
        created_at: now_rfc3339(),
        started_at: None,
        exit: None,
    };
    if let Err(e) = state::write_json(&dir.state(), &st) {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        report(&mut ready, &format!("err {e}\n"));
        return 1;
    }
    report(&mut ready, &format!("ok {}\n", pid.as_raw()));

    let exit = supervise(&dir, &cfg, pid, out_r, err_r);
    let _ = state::write_json(&dir.exit(), &exit);
    if cfg.auto_remove {
        let _ = remove_stopped(root, &dir, id);
    }
    if let Some(hook) = cfg.exit_hook.as_ref().filter(|h| !h.is_empty()) {
        let _ = std::process::Command::new(&hook[0])
            .args(&hook[1..])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
    drop(lock);
    0
}

/// Mounts the root filesystem, writes the bundle and creates the container.
fn create(
    root: &Path,
    dir: &ContainerDir,
    cfg: &ContainerConfig,
) -> Result<(Pid, OwnedFd, OwnedFd), RuntimeError> {
    rootfs::mount_overlay(dir, &cfg.rootfs_layers)?;
    let etc = dir.etc();
    fs::create_dir_all(&etc).map_err(RuntimeError::io(format!("creating {}", etc.display())))?;
    let write = |name: &str, body: &str| {
        fs::write(etc.join(name), body).map_err(RuntimeError::io(format!("writing {name}")))
    };
    write("hostname", &format!("{}\n", cfg.hostname))?;
    if let Some(h) = &cfg.hosts {
        write("hosts", h)?;
    }
    if let Some(r) = &cfg.resolv_conf {
        write("resolv.conf", r)?;
    }
    let user = user::resolve(&dir.rootfs(), cfg.user.as_deref())?;
    let (_, nofile_hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map_err(|e| RuntimeError::Internal(format!("getrlimit: {e}")))?;
    let facts = HostFacts {
        nofile_hard,
        cgroup_path: cgroup::path_for(&cfg.id),
        devices: cfg
            .devices
            .iter()
            .map(crate::devices::resolve)
            .collect::<Result<_, _>>()?,
    };
    let spec = spec::build(cfg, dir, &user, &facts);
    let bundle = dir.bundle();
    fs::create_dir_all(&bundle)
        .map_err(RuntimeError::io(format!("creating {}", bundle.display())))?;
    state::write_json(&bundle.join("config.json"), &spec)?;

    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let devnull = File::open("/dev/null").map_err(RuntimeError::io("opening /dev/null"))?;
    let lc_root = libcontainer_root(root);
    fs::create_dir_all(&lc_root)
        .map_err(RuntimeError::io(format!("creating {}", lc_root.display())))?;
    // The container's processes start with default signal dispositions.
    let _defaults = DefaultSignals::set();
    let container = ContainerBuilder::new(cfg.id.clone(), SyscallType::Linux)
        .with_root_path(lc_root)
        .and_then(|b| {
            b.with_stdin(OwnedFd::from(devnull))
                .with_stdout(out_w)
                .with_stderr(err_w)
                .as_init(&bundle)
                .with_systemd(false)
                .with_detach(true)
                .build()
        })
        .map_err(|e| RuntimeError::Create {
            id: cfg.id.clone(),
            message: creation_message(&e),
        })?;
    let pid = container.pid().ok_or_else(|| RuntimeError::Create {
        id: cfg.id.clone(),
        message: "no init process".into(),
    })?;
    if cfg.network == crate::NetworkNamespace::New
        && let Err(e) = crate::loopback::up_in(pid.as_raw())
    {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
        return Err(e);
    }
    Ok((pid, out_r, err_r))
}

/// Restores the default disposition of every ignored signal while alive,
/// so processes cloned meanwhile inherit defaults (an ignored signal stays
/// ignored across exec, and Rust ignores SIGPIPE; whoever started us may
/// have ignored others); ignores SIGPIPE again on drop, for the shim.
struct DefaultSignals;

/// The kernel's `struct sigaction` on x86_64. glibc's wrapper refuses the
/// signals it reserves for itself (32, 33), which an ancestor may still
/// have ignored, so the raw system call is used.
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

impl DefaultSignals {
    fn set() -> Self {
        for sig in 1..=64 {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            let mut old = KernelSigaction {
                handler: 0,
                flags: 0,
                restorer: 0,
                mask: 0,
            };
            let dfl = KernelSigaction {
                handler: libc::SIG_DFL,
                flags: 0,
                restorer: 0,
                mask: 0,
            };
            // SAFETY: rt_sigaction reads `dfl` and writes `old`, both valid
            // for the call; the process is single-threaded.
            unsafe {
                let r = libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    std::ptr::null::<KernelSigaction>(),
                    &mut old as *mut KernelSigaction,
                    8usize,
                );
                if r == 0 && old.handler == libc::SIG_IGN {
                    libc::syscall(
                        libc::SYS_rt_sigaction,
                        sig,
                        &dfl as *const KernelSigaction,
                        std::ptr::null_mut::<KernelSigaction>(),
                        8usize,
                    );
                }
            }
        }
        Self
    }
}

impl Drop for DefaultSignals {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    }
}

/// libcontainer's errors nest; the innermost cause is what a person needs.
fn creation_message(e: &libcontainer::error::LibcontainerError) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}

fn pipe() -> Result<(OwnedFd, OwnedFd), RuntimeError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| RuntimeError::Internal(format!("pipe: {e}")))
}

fn pidfd_open(pid: Pid) -> Result<OwnedFd, RuntimeError> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(RuntimeError::Internal(format!(
            "pidfd_open({pid}): {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: a fresh fd from the kernel that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Copies output into the log until init exits and its pipes close, then
/// says how it ended.
fn supervise(
    dir: &ContainerDir,
    cfg: &ContainerConfig,
    pid: Pid,
    out_r: OwnedFd,
    err_r: OwnedFd,
) -> ExitInfo {
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.log())
        .ok();
    let pidfd = pidfd_open(pid).ok();
    let mut streams = [
        (
            Some(File::from(out_r)),
            LineSplitter::new(Stream::Stdout),
            Stream::Stdout,
        ),
        (
            Some(File::from(err_r)),
            LineSplitter::new(Stream::Stderr),
            Stream::Stderr,
        ),
    ];
    let mut status: Option<WaitStatus> = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let open: Vec<usize> = (0..streams.len())
            .filter(|i| streams[*i].0.is_some())
            .collect();
        let watch_pid = status.is_none() && pidfd.is_some();
        if open.is_empty() {
            if status.is_none() {
                status = reap(pid);
            }
            break;
        }
        let mut fds: Vec<PollFd> = open
            .iter()
            .filter_map(|i| {
                streams[*i]
                    .0
                    .as_ref()
                    .map(|f| PollFd::new(f.as_fd(), PollFlags::POLLIN))
            })
            .collect();
        if let (true, Some(p)) = (watch_pid, pidfd.as_ref()) {
            fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
        }
        // Once init is gone, the pipes close when the rest of its PID
        // namespace dies; do not wait forever for a writer that escaped.
        let timeout = if status.is_some() {
            PollTimeout::from(2000u16)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(0) => break,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
        let revents: Vec<PollFlags> = fds
            .iter()
            .map(|f| f.revents().unwrap_or(PollFlags::empty()))
            .collect();
        drop(fds);
        if watch_pid && !revents[open.len()].is_empty() {
            status = reap(pid);
        }
        for (k, i) in open.iter().enumerate() {
            if revents[k].is_empty() {
                continue;
            }
            let (file, splitter, stream) = &mut streams[*i];
            let Some(f) = file.as_mut() else { continue };
            let now = now_rfc3339();
            match f.read(&mut buf) {
                Ok(0) | Err(_) => {
                    if let Some(l) = log.as_mut() {
                        let _ = splitter.finish(l, &now);
                    }
                    *file = None;
                }
                Ok(n) => {
                    if let Some(l) = log.as_mut() {
                        let _ = splitter.feed(&buf[..n], l, &now);
                    }
                    if cfg.attach {
                        let _ = match stream {
                            Stream::Stdout => std::io::stdout().write_all(&buf[..n]),
                            Stream::Stderr => std::io::stderr().write_all(&buf[..n]),
                        };
                    }
                }
            }
        }
    }
    let status = status.or_else(|| reap(pid));
    let oom = cgroup::oom_kills(&cgroup::Layout::detect(), &cfg.id) > 0;
    let (exit_code, signal) = match status {
        Some(WaitStatus::Exited(_, c)) => (c, None),
        Some(WaitStatus::Signaled(_, s, _)) => (128 + s as i32, Some(s as i32)),
        _ => (255, None),
    };
    ExitInfo {
        exit_code,
        signal,
        oom_killed: oom && signal == Some(libc::SIGKILL),
        finished_at: now_rfc3339(),
        error: status
            .is_none()
            .then(|| "exit status of the container process was lost".to_string()),
    }
}

/// Waits for init to exit and returns its status.
fn reap(pid: Pid) -> Option<WaitStatus> {
    loop {
        match waitpid(pid, None) {
            Ok(s @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => return Some(s),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
}

/// Removes a container that has exited: its cgroup, libcontainer's state,
/// the root filesystem mount, and the directory.
pub(crate) fn remove_stopped(
    root: &Path,
    dir: &ContainerDir,
    id: &str,
) -> Result<(), RuntimeError> {
    let lc = libcontainer_root(root).join(id);
    // With every process gone, removing the cgroup directories is all that
    // libcontainer's delete would do; it is also several times faster. If a
    // process is somehow left (busy cgroup), libcontainer kills and removes.
    if cgroup::remove(&cgroup::Layout::detect(), id) {
        match fs::remove_dir_all(&lc) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(RuntimeError::Io {
                    context: format!("removing {}", lc.display()),
                    source: e,
                });
            }
        }
    } else if lc.exists() {
        let mut c = libcontainer::container::Container::load(lc.clone())
            .map_err(|e| RuntimeError::Internal(format!("loading container {id}: {e}")))?;
        c.delete(true)
            .map_err(|e| RuntimeError::Internal(format!("deleting container {id}: {e}")))?;
    }
    rootfs::unmount(dir)?;
    fs::remove_dir_all(&dir.root)
        .or_else(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Ok(())
            } else {
                Err(e)
            }
        })
        .map_err(RuntimeError::io(format!("removing {}", dir.root.display())))
}

/// Runs a process inside a running container with the caller's stdio;
/// returns its exit code.
fn exec(root: &Path, id: &str, exec_json: &str) -> Result<i32, RuntimeError> {
    let ex: ExecConfig = serde_json::from_str(exec_json)
        .map_err(|e| RuntimeError::InvalidConfig(format!("exec request: {e}")))?;
    let dir = ContainerDir::new(root, id);
    let cfg: ContainerConfig =
        state::read_json(&dir.config())?.ok_or_else(|| RuntimeError::NotFound(id.to_string()))?;
    let user = user::resolve(&dir.rootfs(), ex.user.as_deref().or(cfg.user.as_deref()))?;
    let mut env: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for kv in cfg.env.iter().chain(ex.env.iter()) {
        if let Some((k, v)) = kv.split_once('=') {
            env.insert(k.to_string(), v.to_string());
        }
    }
    let _defaults = DefaultSignals::set();
    let pid = ContainerBuilder::new(id.to_string(), SyscallType::Linux)
        .with_root_path(libcontainer_root(root))
        .map(|b| {
            b.as_tenant()
                .with_container_args(ex.args.clone())
                .with_env(env)
                .with_cwd(ex.cwd.clone().or(cfg.cwd.clone()))
                .with_user(Some(user.uid))
                .with_group(Some(user.gid))
                .with_additional_gids(user.additional_gids.clone())
                .with_no_new_privs(true)
                .with_detach(false)
        })
        .and_then(|b| b.build())
        .map_err(|e| RuntimeError::Create {
            id: id.to_string(),
            message: creation_message(&e),
        })?;
    Ok(match reap(pid) {
        Some(WaitStatus::Exited(_, c)) => c,
        Some(WaitStatus::Signaled(_, s, _)) => 128 + s as i32,
        _ => 255,
    })
}
