//! Named network namespaces: bind mounts of `/proc/thread-self/ns/net`, as
//! `ip netns` makes them. Every namespace switch happens on a short-lived
//! thread of its own, so no caller's thread ever changes namespace.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};

use crate::NetError;

/// Makes `dir` a shared mount point (bind-mounting it onto itself first if
/// it is not one), like `ip netns` does with /run/netns. Namespace mounts
/// made below it then propagate to mount namespaces cloned later, and so do
/// their unmounts: a container's copy of the tree does not keep a detached
/// namespace alive.
pub(crate) fn prepare_dir(dir: &Path) -> Result<(), NetError> {
    fs::create_dir_all(dir).map_err(NetError::io(format!("creating {}", dir.display())))?;
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    match mount(None::<&str>, dir, None::<&str>, shared, None::<&str>) {
        Ok(()) => return Ok(()),
        Err(Errno::EINVAL) => {}
        Err(e) => {
            return Err(NetError::errno(format!(
                "making {} a shared mount",
                dir.display()
            ))(e));
        }
    }
    mount(
        Some(dir),
        dir,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(NetError::errno(format!(
        "bind-mounting {} onto itself",
        dir.display()
    )))?;
    mount(None::<&str>, dir, None::<&str>, shared, None::<&str>).map_err(NetError::errno(format!(
        "making {} a shared mount",
        dir.display()
    )))
}

/// Whether `dir` is itself a mount point, per /proc/self/mountinfo.
pub(crate) fn is_mount_point(dir: &Path) -> Result<bool, NetError> {
    let Ok(dir) = dir.canonicalize() else {
        return Ok(false);
    };
    let info = fs::read_to_string("/proc/self/mountinfo")
        .map_err(NetError::io("reading /proc/self/mountinfo"))?;
    Ok(info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| Path::new(&unescape_mount_path(mp)) == dir))
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_mount_path(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Creates a new network namespace bind-mounted at `path`, then runs
/// `setup` inside it (on the same short-lived thread). On any failure
/// nothing is left at `path`.
pub(crate) fn create<F>(path: &Path, setup: F) -> Result<(), NetError>
where
    F: FnOnce() -> Result<(), NetError> + Send,
{
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(path)
        .map_err(NetError::io(format!(
            "creating network namespace file {}",
            path.display()
        )))?;
    let made = std::thread::scope(|s| {
        let worker = s.spawn(|| -> Result<(), NetError> {
            // Only this thread enters the new namespace, and it ends here.
            unshare(CloneFlags::CLONE_NEWNET)
                .map_err(NetError::errno("creating a network namespace"))?;
            mount(
                Some("/proc/thread-self/ns/net"),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(NetError::errno(format!(
                "bind-mounting network namespace at {}",
                path.display()
            )))?;
            setup()
        });
        worker.join().unwrap_or_else(|_| {
            Err(NetError::Internal(
                "network namespace thread panicked".into(),
            ))
        })
    });
    if made.is_err() {
        let _ = remove(path);
    }
    made
}

/// Runs `f` on a short-lived thread that has joined the network namespace
/// bind-mounted at `path`. The calling thread's namespaces never change.
pub fn run_in<T, F>(path: &Path, f: F) -> Result<T, NetError>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    let ns = File::open(path).map_err(NetError::io(format!(
        "opening network namespace {}",
        path.display()
    )))?;
    std::thread::scope(|s| {
        let worker = s.spawn(move || -> Result<T, NetError> {
            setns(&ns, CloneFlags::CLONE_NEWNET).map_err(NetError::errno(format!(
                "joining network namespace {}",
                path.display()
            )))?;
            drop(ns);
            Ok(f())
        });
        worker.join().unwrap_or_else(|_| {
            Err(NetError::Internal(
                "network namespace thread panicked".into(),
            ))
        })
    })
}

/// Unmounts and deletes a namespace file; missing or unmounted is fine.
/// The namespace itself lives on while a process is still inside it.
pub(crate) fn remove(path: &Path) -> Result<(), NetError> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(NetError::errno(format!("unmounting {}", path.display()))(e)),
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetError::io(format!("removing {}", path.display()))(e)),
    }
}

/// Undoes [`prepare_dir`] once nothing is left in `dir`, so tests leave
/// no mounts behind. A directory still holding namespaces is left alone.
pub(crate) fn release_dir(dir: &Path) -> Result<(), NetError> {
    let _guard = lock_dir(dir)?;
    let empty = match fs::read_dir(dir) {
        Ok(mut d) => d.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(NetError::io(format!("listing {}", dir.display()))(e)),
    };
    if empty && is_mount_point(dir)? {
        umount2(dir, MntFlags::MNT_DETACH)
            .map_err(NetError::errno(format!("unmounting {}", dir.display())))?;
    }
    Ok(())
}

/// Serialises making a namespace in `dir` with [`release_dir`] across
/// processes: otherwise one engine could unmount the (empty) shared
/// directory just as another prepares it and creates a namespace in it.
pub(crate) fn lock_dir(dir: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, NetError> {
    let mut name = dir.as_os_str().to_owned();
    name.push(".lock");
    crate::state::lock_file(Path::new(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_unescaping() {
        assert_eq!(unescape_mount_path("/run/a\\040b"), "/run/a b");
        assert_eq!(unescape_mount_path("/x\\134y"), "/x\\y");
        assert_eq!(unescape_mount_path("/plain"), "/plain");
        assert_eq!(unescape_mount_path("/end\\04"), "/end\\04");
    }
}
