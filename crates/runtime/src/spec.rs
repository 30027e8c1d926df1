//! Turns a [`ContainerConfig`] into an OCI runtime spec (`config.json`).
//!
//! Pure: everything it needs from the host (the resolved user, the host's
//! rlimits, the cgroup parent) is passed in, so the exact spec is tested
//! without a kernel.

use serde_json::{Value, json};

use crate::config::{ContainerConfig, NetworkNamespace};
use crate::seccomp;
use crate::state::ContainerDir;
use crate::user::ResolvedUser;

/// Docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Host facts the spec depends on.
#[derive(Debug, Clone)]
pub struct HostFacts {
    /// The host's hard RLIMIT_NOFILE; a container may not exceed it since
    /// this host lacks CAP_SYS_RESOURCE to raise it.
    pub nofile_hard: u64,
    /// The cgroup path for the container, e.g. `/dockyard/ID`.
    pub cgroup_path: String,
    /// The container's extra devices, read from the host's nodes.
    pub devices: Vec<crate::devices::DeviceNode>,
}

fn normalize_cap(c: &str) -> String {
    let up = c.to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// The effective capability set after `--cap-add` / `--cap-drop`.
pub fn capabilities(cfg: &ContainerConfig) -> Vec<String> {
    let drop: Vec<String> = cfg.cap_drop.iter().map(|c| normalize_cap(c)).collect();
    let drop_all = drop.iter().any(|c| c == "CAP_ALL");
    let mut caps: Vec<String> = if drop_all {
        Vec::new()
    } else {
        DEFAULT_CAPS
            .iter()
            .map(|c| c.to_string())
            .filter(|c| !drop.contains(c))
            .collect()
    };
    for c in &cfg.cap_add {
        let c = normalize_cap(c);
        if !caps.contains(&c) {
            caps.push(c);
        }
    }
    caps
}

/// Builds the OCI runtime spec for a container.
pub fn build(
    cfg: &ContainerConfig,
    dir: &ContainerDir,
    user: &ResolvedUser,
    host: &HostFacts,
) -> Value {
    let caps = capabilities(cfg);
    let mut env = cfg.env.clone();
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!("HOSTNAME={}", cfg.hostname));
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }

    let mut rlimits: Vec<Value> = cfg
        .rlimits
        .iter()
        .map(|r| json!({"type": r.kind, "soft": r.soft, "hard": r.hard}))
        .collect();
    if !cfg.rlimits.iter().any(|r| r.kind == "RLIMIT_NOFILE") {
        let n = host.nofile_hard.min(1_048_576);
        rlimits.push(json!({"type": "RLIMIT_NOFILE", "soft": n, "hard": n}));
    }

    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={}k", cfg.shm_size.unwrap_or(64 << 20).div_ceil(1024))]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
    ];
    if cfg.network == NetworkNamespace::Host {
        // A sysfs mount needs a network namespace of our own; with the
        // host's, bind the host's /sys read-only as runc does.
        mounts.push(json!({"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}));
    } else {
        mounts.push(json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}));
    }
    mounts.push(json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}));
    let etc = dir.etc();
    mounts.push(json!({"destination": "/etc/hostname", "type": "bind", "source": etc.join("hostname"), "options": ["rbind", "rprivate", "ro"]}));
    if cfg.hosts.is_some() {
        mounts.push(json!({"destination": "/etc/hosts", "type": "bind", "source": etc.join("hosts"), "options": ["rbind", "rprivate", "ro"]}));
    }
    if cfg.resolv_conf.is_some() {
        mounts.push(json!({"destination": "/etc/resolv.conf", "type": "bind", "source": etc.join("resolv.conf"), "options": ["rbind", "rprivate", "ro"]}));
    }
    for m in &cfg.mounts {
        let mut opts = vec!["rbind", "rprivate"];
        if m.read_only {
            opts.push("ro");
        }
        mounts.push(json!({"destination": m.destination, "type": "bind", "source": m.source, "options": opts}));
    }
    for t in &cfg.tmpfs {
        let mut opts: Vec<&str> = vec!["nosuid", "nodev"];
        opts.extend(t.options.iter().map(String::as_str));
        mounts.push(json!({"destination": t.destination, "type": "tmpfs", "source": "tmpfs", "options": opts}));
    }

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    match &cfg.network {
        NetworkNamespace::Host => {}
        NetworkNamespace::New => namespaces.push(json!({"type": "network"})),
        NetworkNamespace::Path(p) => namespaces.push(json!({"type": "network", "path": p})),
    }

    let mut device_rules = vec![json!({"allow": false, "access": "rwm"})];
    for d in &host.devices {
        device_rules.push(json!({"allow": true, "type": d.kind.to_string(), "major": d.major, "minor": d.minor, "access": d.access}));
    }
    let mut resources = json!({
        "devices": device_rules,
    });
    let r = &cfg.resources;
    if let Some(limit) = r.memory_limit {
        // No swap beyond the limit, as Docker does for --memory alone.
        resources["memory"] = json!({"limit": limit, "swap": limit});
    }
    let mut cpu = serde_json::Map::new();
    if let Some(s) = r.cpu_shares {
        cpu.insert("shares".into(), json!(s));
    }
    if let Some(q) = r.cpu_quota {
        cpu.insert("quota".into(), json!(q));
        cpu.insert("period".into(), json!(r.cpu_period.unwrap_or(100_000)));
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    if let Some(p) = r.pids_limit {
        resources["pids"] = json!({"limit": p});
    }

    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": host.cgroup_path,
        "resources": resources,
        "maskedPaths": [
            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
            "/sys/firmware", "/sys/devices/virtual/powercap",
        ],
        "readonlyPaths": [
            "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
        ],
    });
    if !cfg.seccomp_unconfined {
        linux["seccomp"] = seccomp::default_profile();
    }
    if !cfg.sysctls.is_empty() {
        linux["sysctl"] = json!(cfg.sysctls);
    }
    if !host.devices.is_empty() {
        linux["devices"] = host
            .devices
            .iter()
            .map(|d| json!({"path": d.container_path, "type": d.kind.to_string(), "major": d.major, "minor": d.minor, "fileMode": d.mode, "uid": d.uid, "gid": d.gid}))
            .collect();
    }

    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
            "args": cfg.args,
            "env": env,
            "cwd": cfg.cwd.clone().filter(|c| !c.is_empty()).unwrap_or_else(|| "/".into()),
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps,
            },
            "rlimits": rlimits,
            "noNewPrivileges": true,
        },
        "root": {"path": dir.rootfs(), "readonly": cfg.readonly_rootfs},
        "hostname": cfg.hostname,
        "mounts": mounts,
        "linux": linux,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Mount, Resources, Rlimit, Tmpfs};

    fn facts() -> HostFacts {
        HostFacts {
            nofile_hard: 4096,
            cgroup_path: "/dockyard/abc".into(),
            devices: Vec::new(),
        }
    }

    fn user() -> ResolvedUser {
        ResolvedUser {
            uid: 1000,
            gid: 1000,
            additional_gids: vec![27],
            home: "/home/u".into(),
        }
    }

    fn spec_of(cfg: &ContainerConfig) -> oci_spec::runtime::Spec {
        let dir = ContainerDir::new(std::path::Path::new("/run/x"), &cfg.id);
        serde_json::from_value(build(cfg, &dir, &user(), &facts())).expect("a valid OCI spec")
    }

    #[test]
    fn defaults_follow_docker() {
        let cfg = ContainerConfig::new("abc", vec![], vec!["sh".into()]);
        let s = spec_of(&cfg);
        let p = s.process().as_ref().expect("process");
        assert_eq!(p.args().as_ref().expect("args"), &["sh"]);
        assert_eq!(p.no_new_privileges(), Some(true));
        assert_eq!(p.user().uid(), 1000);
        assert_eq!(p.user().additional_gids().as_ref().expect("gids"), &[27]);
        let caps = p.capabilities().as_ref().expect("caps");
        assert_eq!(
            caps.bounding().as_ref().expect("bounding").len(),
            DEFAULT_CAPS.len()
        );
        let nofile = p.rlimits().as_ref().expect("rlimits");
        assert_eq!(nofile[0].hard(), 4096);
        let env = p.env().as_ref().expect("env");
        assert!(env.contains(&"HOME=/home/u".to_string()));
        let linux = s.linux().as_ref().expect("linux");
        assert!(linux.seccomp().is_some());
        let ns: Vec<_> = linux
            .namespaces()
            .as_ref()
            .expect("ns")
            .iter()
            .map(|n| n.typ())
            .collect();
        assert_eq!(ns.len(), 6);
        assert_eq!(
            linux
                .cgroups_path()
                .as_ref()
                .expect("cgroups path")
                .to_str(),
            Some("/dockyard/abc")
        );
        let dests: Vec<_> = s
            .mounts()
            .as_ref()
            .expect("mounts")
            .iter()
            .map(|m| m.destination().clone())
            .collect();
        assert!(dests.contains(&"/dev/shm".into()));
        assert!(!dests.contains(&"/etc/hosts".into()));
    }

    #[test]
    fn devices_are_created_and_allowed_in_the_device_cgroup() {
        let cfg = ContainerConfig::new("abc", vec![], vec!["sh".into()]);
        let dir = ContainerDir::new(std::path::Path::new("/run/x"), &cfg.id);
        let mut host = facts();
        host.devices.push(crate::devices::DeviceNode {
            container_path: "/dev/fuse".into(),
            kind: 'c',
            major: 10,
            minor: 229,
            mode: 0o666,
            uid: 0,
            gid: 0,
            access: "rw".into(),
        });
        let s: oci_spec::runtime::Spec =
            serde_json::from_value(build(&cfg, &dir, &user(), &host)).expect("a valid OCI spec");
        let linux = s.linux().as_ref().expect("linux");
        let dev = &linux.devices().as_ref().expect("devices")[0];
        assert_eq!(dev.path().to_str(), Some("/dev/fuse"));
        assert_eq!((dev.major(), dev.minor()), (10, 229));
        assert_eq!(dev.file_mode(), Some(0o666));
        let rules = linux
            .resources()
            .as_ref()
            .and_then(|r| r.devices().clone())
            .expect("device rules");
        assert!(!rules[0].allow());
        assert!(rules[1].allow());
        assert_eq!((rules[1].major(), rules[1].minor()), (Some(10), Some(229)));
        assert_eq!(rules[1].access().as_deref(), Some("rw"));
    }

    #[test]
    fn overrides_apply() {
        let mut cfg = ContainerConfig::new("abc", vec![], vec!["sh".into()]);
        cfg.network = NetworkNamespace::Path("/run/netns/x".into());
        cfg.resources = Resources {
            memory_limit: Some(64 << 20),
            cpu_shares: Some(512),
            cpu_quota: Some(50_000),
            ..Default::default()
        };
        cfg.rlimits = vec![Rlimit {
            kind: "RLIMIT_NOFILE".into(),
            soft: 10,
            hard: 20,
        }];
        cfg.cap_drop = vec!["net_raw".into()];
        cfg.cap_add = vec!["NET_ADMIN".into()];
        cfg.seccomp_unconfined = true;
        cfg.readonly_rootfs = true;
        cfg.hosts = Some("127.0.0.1 localhost\n".into());
        let s = spec_of(&cfg);
        let linux = s.linux().as_ref().expect("linux");
        assert!(linux.seccomp().is_none());
        let r = linux.resources().as_ref().expect("resources");
        assert_eq!(r.memory().as_ref().expect("memory").limit(), Some(64 << 20));
        assert_eq!(r.cpu().as_ref().expect("cpu").quota(), Some(50_000));
        assert_eq!(r.cpu().as_ref().expect("cpu").period(), Some(100_000));
        let net = linux
            .namespaces()
            .as_ref()
            .expect("ns")
            .iter()
            .find(|n| n.path().is_some());
        assert!(net.is_some());
        assert_eq!(s.root().as_ref().expect("root").readonly(), Some(true));
        let caps = capabilities(&cfg);
        assert!(caps.contains(&"CAP_NET_ADMIN".into()));
        assert!(!caps.contains(&"CAP_NET_RAW".into()));
        let p = s.process().as_ref().expect("process");
        assert_eq!(p.rlimits().as_ref().expect("rlimits")[0].soft(), 10);
        let dests: Vec<_> = s
            .mounts()
            .as_ref()
            .expect("mounts")
            .iter()
            .map(|m| m.destination().clone())
            .collect();
        assert!(dests.contains(&"/etc/hosts".into()));
    }

    #[test]
    fn host_network_binds_sys() {
        let mut cfg = ContainerConfig::new("abc", vec![], vec!["sh".into()]);
        cfg.network = NetworkNamespace::Host;
        let s = spec_of(&cfg);
        let sys = s
            .mounts()
            .as_ref()
            .expect("mounts")
            .iter()
            .find(|m| m.destination().to_str() == Some("/sys"))
            .cloned();
        assert_eq!(sys.expect("sys mount").typ().as_deref(), Some("bind"));
        let ns = s
            .linux()
            .as_ref()
            .expect("linux")
            .namespaces()
            .as_ref()
            .expect("ns")
            .len();
        assert_eq!(ns, 5);
    }

    #[test]
    fn sysctls_reach_the_spec() {
        let mut cfg = ContainerConfig::new("abc", vec![], vec!["sh".into()]);
        assert!(
            spec_of(&cfg)
                .linux()
                .as_ref()
                .expect("linux")
                .sysctl()
                .is_none()
        );
        cfg.sysctls
            .insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
        let s = spec_of(&cfg);
        let sysctl = s.linux().as_ref().expect("linux").sysctl().clone();
        assert_eq!(
            sysctl.expect("sysctl")["net.ipv4.ip_unprivileged_port_start"],
            "0"
        );
    }

    #[test]
    fn volumes_tmpfs_and_shm_size() {
        let mut cfg = ContainerConfig::new("abc", vec![], vec!["sh".into()]);
        cfg.mounts = vec![Mount {
            source: "/srv/data".into(),
            destination: "/data".into(),
            read_only: true,
        }];
        cfg.tmpfs = vec![Tmpfs {
            destination: "/run/cache".into(),
            options: vec!["size=1m".into(), "noexec".into()],
        }];
        cfg.shm_size = Some(128 << 20);
        let s = spec_of(&cfg);
        let mounts = s.mounts().as_ref().expect("mounts");
        let find = |d: &str| {
            mounts
                .iter()
                .find(|m| m.destination().to_str() == Some(d))
                .unwrap_or_else(|| panic!("no mount at {d}"))
        };
        let data = find("/data");
        assert_eq!(data.typ().as_deref(), Some("bind"));
        assert!(
            data.options()
                .as_ref()
                .expect("opts")
                .contains(&"ro".into())
        );
        let cache = find("/run/cache");
        assert_eq!(cache.typ().as_deref(), Some("tmpfs"));
        assert!(
            cache
                .options()
                .as_ref()
                .expect("opts")
                .contains(&"size=1m".into())
        );
        let shm = find("/dev/shm");
        assert!(
            shm.options()
                .as_ref()
                .expect("opts")
                .contains(&"size=131072k".into())
        );
    }

    #[test]
    fn cap_drop_all_then_add() {
        let mut cfg = ContainerConfig::new("abc", vec![], vec!["sh".into()]);
        cfg.cap_drop = vec!["ALL".into()];
        cfg.cap_add = vec!["chown".into()];
        assert_eq!(capabilities(&cfg), vec!["CAP_CHOWN".to_string()]);
    }
}
