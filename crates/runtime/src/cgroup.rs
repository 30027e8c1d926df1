//! Reads a container's cgroup: usage statistics and OOM kills, on cgroup v1
//! and v2 hosts alike. libcontainer creates and removes the cgroup; this
//! only reads it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Stats;

/// The cgroup parent all containers live under.
pub const PARENT: &str = "dockyard";

/// The cgroup path given to the OCI spec for container `id`.
pub fn path_for(id: &str) -> String {
    format!("/{PARENT}/{id}")
}

/// Starts, on a short-lived thread, a move of this process into the cgroup
/// it is already in, and returns at once.
///
/// Moving a process between cgroups (which the shim's libcontainer does for
/// every container) takes the kernel's global `cgroup_threadgroup_rwsem` for
/// writing. When no writer has held it lately, taking it waits for an RCU
/// grace period: about 10 ms on this kind of host, half of a whole
/// container start. The wait is per lock, not per caller: a writer that
/// arrives while the grace period is already under way, or within a grace
/// period after the last writer, does not start a new one. This no-op move
/// starts the grace period while the caller still resolves the image,
/// attaches the network and spawns the shim, so the shim's own move finds
/// it done or nearly so. Harmless: the process stays where it is, and
/// errors (no cgroup file system, no permission) are ignored.
pub fn prime_attach() {
    let _ = std::thread::Builder::new()
        .name("cgroup-prime".into())
        .spawn(|| {
            let Ok(own) = fs::read_to_string("/proc/self/cgroup") else {
                return;
            };
            let pid = std::process::id().to_string();
            for file in procs_files(&own) {
                // Never created: on a v1 host `/sys/fs/cgroup` is a tmpfs.
                let opened = fs::OpenOptions::new().write(true).open(&file);
                if opened.and_then(|mut f| f.write_all(pid.as_bytes())).is_ok() {
                    return;
                }
            }
        });
}

/// The `cgroup.procs` files of this process's own cgroups, from
/// `/proc/self/cgroup`: the v2 one first (unified, or the hybrid layout's
/// `unified` mount), then each v1 hierarchy's.
fn procs_files(own: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut files = Vec::new();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if ctrls.is_empty() {
            files.insert(0, root.join("unified").join(rel).join("cgroup.procs"));
            files.insert(0, root.join(rel).join("cgroup.procs"));
        } else if !ctrls.starts_with("name=") {
            files.push(root.join(ctrls).join(rel).join("cgroup.procs"));
        }
    }
    files
}

/// How this host mounts cgroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// One unified v2 hierarchy at this path.
    V2(PathBuf),
    /// v1 controllers mounted under this path (`cpu`, `memory`...).
    V1(PathBuf),
}

impl Layout {
    pub fn detect() -> Self {
        let root = Path::new("/sys/fs/cgroup");
        if root.join("cgroup.controllers").exists() {
            Layout::V2(root.into())
        } else {
            Layout::V1(root.into())
        }
    }
}

fn read_u64(p: &Path) -> Option<u64> {
    fs::read_to_string(p).ok()?.trim().parse().ok()
}

fn keyed(p: &Path, key: &str) -> Option<u64> {
    let s = fs::read_to_string(p).ok()?;
    s.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Usage statistics of container `id`'s cgroup.
pub fn stats(layout: &Layout, id: &str) -> Stats {
    let rel = path_for(id);
    let rel = rel.trim_start_matches('/');
    match layout {
        Layout::V2(root) => {
            let d = root.join(rel);
            let limit = fs::read_to_string(d.join("memory.max"))
                .ok()
                .and_then(|s| s.trim().parse().ok());
            Stats {
                cpu_usage_ns: keyed(&d.join("cpu.stat"), "usage_usec").unwrap_or(0) * 1000,
                memory_usage: read_u64(&d.join("memory.current")).unwrap_or(0),
                memory_limit: limit,
                memory_max_usage: read_u64(&d.join("memory.peak")),
                pids: read_u64(&d.join("pids.current")).unwrap_or(0),
            }
        }
        Layout::V1(root) => {
            let mem = root.join("memory").join(rel);
            // v1 reports "no limit" as a huge page-aligned number.
            let limit = read_u64(&mem.join("memory.limit_in_bytes")).filter(|l| *l < (1 << 62));
            Stats {
                cpu_usage_ns: read_u64(&root.join("cpuacct").join(rel).join("cpuacct.usage"))
                    .unwrap_or(0),
                memory_usage: read_u64(&mem.join("memory.usage_in_bytes")).unwrap_or(0),
                memory_limit: limit,
                memory_max_usage: read_u64(&mem.join("memory.max_usage_in_bytes")),
                pids: read_u64(&root.join("pids").join(rel).join("pids.current")).unwrap_or(0),
            }
        }
    }
}

/// How many processes of the container the OOM killer has killed.
pub fn oom_kills(layout: &Layout, id: &str) -> u64 {
    let rel = path_for(id);
    let rel = rel.trim_start_matches('/');
    match layout {
        Layout::V2(root) => keyed(&root.join(rel).join("memory.events"), "oom_kill").unwrap_or(0),
        Layout::V1(root) => keyed(
            &root.join("memory").join(rel).join("memory.oom_control"),
            "oom_kill",
        )
        .unwrap_or(0),
    }
}

/// The container's cgroup directories, one per hierarchy.
fn dirs(layout: &Layout, id: &str) -> Vec<PathBuf> {
    let rel = path_for(id);
    let rel = rel.trim_start_matches('/').to_string();
    match layout {
        Layout::V2(root) => vec![root.join(rel)],
        Layout::V1(root) => fs::read_dir(root)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path().join(&rel))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Removes the cgroup of a container whose processes are all gone.
/// Returns false if some directory could not be removed (still busy).
pub fn remove(layout: &Layout, id: &str) -> bool {
    let mut ok = true;
    for d in dirs(layout, id) {
        match fs::remove_dir(&d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => ok = false,
        }
    }
    ok
}

/// Whether any cgroup directory of the container is left.
#[cfg(test)]
pub fn exists(layout: &Layout, id: &str) -> bool {
    let rel = path_for(id);
    let rel = rel.trim_start_matches('/');
    match layout {
        Layout::V2(root) => root.join(rel).exists(),
        Layout::V1(root) => ["memory", "cpu", "cpuacct", "pids", "devices", "freezer"]
            .iter()
            .any(|c| root.join(c).join(rel).exists()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_v2_files() {
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path().join("dockyard/c1");
        fs::create_dir_all(&d).expect("mkdir");
        fs::write(d.join("cpu.stat"), "usage_usec 1500\nuser_usec 1000\n").expect("write");
        fs::write(d.join("memory.current"), "4096\n").expect("write");
        fs::write(d.join("memory.max"), "max\n").expect("write");
        fs::write(d.join("memory.events"), "low 0\noom 2\noom_kill 1\n").expect("write");
        let l = Layout::V2(t.path().into());
        let s = stats(&l, "c1");
        assert_eq!(s.cpu_usage_ns, 1_500_000);
        assert_eq!(s.memory_usage, 4096);
        assert_eq!(s.memory_limit, None);
        assert_eq!(oom_kills(&l, "c1"), 1);
        assert!(exists(&l, "c1"));
        assert!(!exists(&l, "c2"));
    }

    #[test]
    fn reads_v1_files() {
        let t = tempfile::tempdir().expect("tempdir");
        let mem = t.path().join("memory/dockyard/c1");
        fs::create_dir_all(&mem).expect("mkdir");
        fs::write(mem.join("memory.limit_in_bytes"), "9223372036854771712\n").expect("write");
        fs::write(mem.join("memory.usage_in_bytes"), "100\n").expect("write");
        fs::write(
            mem.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        )
        .expect("write");
        let l = Layout::V1(t.path().into());
        let s = stats(&l, "c1");
        assert_eq!(s.memory_limit, None);
        assert_eq!(s.memory_usage, 100);
        assert_eq!(oom_kills(&l, "c1"), 3);
    }

    #[test]
    fn own_procs_files_put_v2_first_and_skip_named_hierarchies() {
        let own = "9:name=systemd:/\n4:memory:/a/b\n1:cpu,cpuacct:/\n0::/user.slice\n";
        let files: Vec<String> = procs_files(own)
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            files,
            [
                "/sys/fs/cgroup/user.slice/cgroup.procs",
                "/sys/fs/cgroup/unified/user.slice/cgroup.procs",
                "/sys/fs/cgroup/memory/a/b/cgroup.procs",
                "/sys/fs/cgroup/cpu,cpuacct/cgroup.procs",
            ]
        );
    }
}
