//! Privileged tests: real containers from a busybox root filesystem,
//! checked from the inside.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use dockyard_runtime::{
    ContainerConfig, ExecConfig, LinuxDriver, NetworkNamespace, Resources, RuntimeDriver,
    ShimCommand, Status, logs,
};
use dockyard_testkit::{TempDir, require_root, unique};

struct Harness {
    _tmp: TempDir,
    layer: PathBuf,
    driver: LinuxDriver,
    ids: std::cell::RefCell<Vec<String>>,
}

impl Harness {
    fn new() -> Self {
        let tmp = TempDir::new("rt").unwrap();
        let layer = tmp.path().join("layer");
        dockyard_testkit::busybox_rootfs(&layer).unwrap();
        let shim = ShimCommand {
            program: env!("CARGO_BIN_EXE_dockyard-shim").into(),
            args: vec![],
        };
        let driver = LinuxDriver::new(tmp.path().join("containers"), shim).unwrap();
        Self {
            _tmp: tmp,
            layer,
            driver,
            ids: Default::default(),
        }
    }

    fn config(&self, args: &[&str]) -> ContainerConfig {
        let id = unique("t");
        self.ids.borrow_mut().push(id.clone());
        ContainerConfig::new(
            id,
            vec![self.layer.clone()],
            args.iter().map(|s| s.to_string()).collect(),
        )
    }

    /// Runs to completion; returns exit code and stdout+stderr text.
    fn run(&self, cfg: &ContainerConfig) -> (i32, String) {
        self.driver.create(cfg).unwrap();
        self.driver.start(&cfg.id).unwrap();
        let exit = self.driver.wait(&cfg.id).unwrap();
        (exit.exit_code, self.output(&cfg.id))
    }

    fn output(&self, id: &str) -> String {
        let (entries, _) = logs::read_from(&self.driver.log_path(id).unwrap(), 0).unwrap();
        entries.iter().map(|e| e.log.as_str()).collect()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.driver.delete(id, true);
        }
    }
}

fn mounted(path: &std::path::Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = path.to_string_lossy();
    info.lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&*p)))
}

#[test]
fn runs_a_command_and_captures_output_and_exit_code() {
    require_root!();
    let h = Harness::new();
    let (code, out) = h.run(&h.config(&["sh", "-c", "echo hello; echo oops >&2; exit 3"]));
    assert_eq!(code, 3);
    assert!(out.contains("hello\n"), "{out}");
    assert!(out.contains("oops\n"), "{out}");
    let (entries, _) = logs::read_from(&h.driver.log_path(&h.ids.borrow()[0]).unwrap(), 0).unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.stream == logs::Stream::Stderr && e.log == "oops\n")
    );
    assert!(
        entries
            .iter()
            .all(|e| chrono::DateTime::parse_from_rfc3339(&e.time).is_ok())
    );
}

#[test]
fn namespaces_hostname_env_and_cwd() {
    require_root!();
    let h = Harness::new();
    let mut cfg = h.config(&[
        "sh",
        "-c",
        "echo pid=$$; hostname; echo env=$FOO; pwd; readlink /proc/1/ns/net; cat /etc/hostname",
    ]);
    cfg.hostname = "box1".into();
    cfg.env.push("FOO=bar baz".into());
    cfg.cwd = Some("/tmp".into());
    let (code, out) = h.run(&cfg);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("pid=1\n"), "{out}");
    assert!(out.contains("box1\n"), "{out}");
    assert!(out.contains("env=bar baz\n"), "{out}");
    assert!(out.contains("/tmp\n"), "{out}");
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert!(
        !out.contains(&*host_net.to_string_lossy()),
        "container must have its own netns: {out}"
    );
    for ns in ["mnt", "pid", "uts", "ipc", "cgroup"] {
        let host = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        let mut c = h.config(&["readlink", &format!("/proc/self/ns/{ns}")]);
        c.hostname = "x".into();
        let (_, o) = h.run(&c);
        assert_ne!(
            o.trim(),
            host.to_string_lossy(),
            "{ns} namespace is shared with the host"
        );
    }
}

#[test]
fn mounts_devices_and_readonly_sys() {
    require_root!();
    let h = Harness::new();
    let (code, out) = h.run(&h.config(&[
        "sh",
        "-c",
        "ls /dev; cat /proc/mounts; touch /sys/x 2>&1; echo done",
    ]));
    assert_eq!(code, 0, "{out}");
    for dev in ["null", "zero", "urandom", "tty", "shm", "pts"] {
        assert!(out.lines().any(|l| l == dev), "missing /dev/{dev}: {out}");
    }
    assert!(
        !out.lines().any(|l| l == "sda" || l == "vda"),
        "host devices leaked: {out}"
    );
    assert!(out.contains("sysfs /sys sysfs ro"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
}

#[test]
fn bind_mounts_tmpfs_shm_size_and_ulimits() {
    require_root!();
    let h = Harness::new();
    let shared = h._tmp.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("in"), "from the host\n").unwrap();
    let mut cfg = h.config(&[
        "sh",
        "-c",
        "cat /data/in; echo out > /data/out; touch /ro/x 2>&1; \
         echo t > /scratch/t && grep -E ' /(scratch|dev/shm) ' /proc/mounts; \
         ulimit -n; ulimit -s",
    ]);
    // Mount points the image lacks, under a read-only root.
    cfg.readonly_rootfs = true;
    cfg.mounts = vec![
        dockyard_runtime::Mount {
            source: shared.clone(),
            destination: "/data".into(),
            read_only: false,
        },
        dockyard_runtime::Mount {
            source: shared.clone(),
            destination: "/ro".into(),
            read_only: true,
        },
    ];
    cfg.tmpfs = vec![dockyard_runtime::Tmpfs {
        destination: "/scratch".into(),
        options: vec!["size=1m".into()],
    }];
    cfg.shm_size = Some(8 << 20);
    cfg.rlimits = vec![
        dockyard_runtime::Rlimit {
            kind: "RLIMIT_NOFILE".into(),
            soft: 321,
            hard: 654,
        },
        dockyard_runtime::Rlimit {
            kind: "RLIMIT_STACK".into(),
            soft: 4096 << 10,
            hard: 4096 << 10,
        },
    ];
    let (code, out) = h.run(&cfg);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("from the host\n"), "{out}");
    assert_eq!(
        std::fs::read_to_string(shared.join("out")).unwrap(),
        "out\n"
    );
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(
        out.contains("tmpfs /scratch tmpfs rw,nosuid,nodev"),
        "{out}"
    );
    assert!(out.contains("size=1024k"), "{out}");
    assert!(out.contains("size=8192k"), "{out}");
    assert!(out.ends_with("321\n4096\n"), "{out}");
}

#[test]
fn user_and_capabilities() {
    require_root!();
    let h = Harness::new();
    let mut cfg = h.config(&["sh", "-c", "id -u; id -g; grep -E '^Cap(Eff|Bnd)' /proc/self/status; grep NoNewPrivs /proc/self/status"]);
    cfg.user = Some("65534:65534".into());
    let (code, out) = h.run(&cfg);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("65534\n65534\n"), "{out}");
    // Docker's default set as a mask.
    assert!(out.contains("CapBnd:\t00000000a80425fb"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    let (_, out) = h.run(&h.config(&["grep", "CapEff", "/proc/self/status"]));
    assert!(
        out.contains("00000000a80425fb"),
        "root gets the default set: {out}"
    );
    let (_, out) = h.run(&h.config(&["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"]));
    assert_eq!(
        out, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n",
        "no signal may start ignored or blocked"
    );
}

#[test]
fn seccomp_blocks_syscalls_unless_unconfined() {
    require_root!();
    let h = Harness::new();
    let (code, out) = h.run(&h.config(&["unshare", "-U", "true"]));
    assert_ne!(code, 0, "unshare must be refused: {out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    let mut cfg = h.config(&["unshare", "-U", "true"]);
    cfg.seccomp_unconfined = true;
    let (code, out) = h.run(&cfg);
    assert_eq!(code, 0, "without the filter the same call works: {out}");
}

#[test]
fn readonly_rootfs() {
    require_root!();
    let h = Harness::new();
    let mut cfg = h.config(&["sh", "-c", "touch /x 2>&1; touch /tmp/y 2>&1; echo end"]);
    cfg.readonly_rootfs = true;
    let (_, out) = h.run(&cfg);
    assert_eq!(out.matches("Read-only file system").count(), 2, "{out}");
    let (code, _) = h.run(&h.config(&["touch", "/x"]));
    assert_eq!(code, 0);
}

#[test]
fn writes_stay_in_the_container_layer() {
    require_root!();
    let h = Harness::new();
    let (code, _) = h.run(&h.config(&["sh", "-c", "echo x > /bin/new; rm /bin/true"]));
    assert_eq!(code, 0);
    assert!(!h.layer.join("bin/new").exists());
    assert!(h.layer.join("bin/true").exists());
}

#[test]
fn memory_limit_oom_kill_reports_137() {
    require_root!();
    let h = Harness::new();
    let mut cfg = h.config(&[
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null; tail /dev/zero",
    ]);
    cfg.resources = Resources {
        memory_limit: Some(32 << 20),
        ..Default::default()
    };
    h.driver.create(&cfg).unwrap();
    h.driver.start(&cfg.id).unwrap();
    let exit = h.driver.wait(&cfg.id).unwrap();
    assert_eq!(exit.exit_code, 137, "{exit:?}");
    assert!(exit.oom_killed, "{exit:?}");
}

#[test]
fn stats_read_cpu_and_memory() {
    require_root!();
    let h = Harness::new();
    let mut cfg = h.config(&[
        "sh",
        "-c",
        "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 30",
    ]);
    cfg.resources = Resources {
        memory_limit: Some(64 << 20),
        cpu_shares: Some(512),
        ..Default::default()
    };
    h.driver.create(&cfg).unwrap();
    h.driver.start(&cfg.id).unwrap();
    let mut stats = h.driver.stats(&cfg.id).unwrap();
    for _ in 0..100 {
        if stats.cpu_usage_ns > 0 && stats.memory_usage > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        stats = h.driver.stats(&cfg.id).unwrap();
    }
    assert!(stats.cpu_usage_ns > 0, "{stats:?}");
    assert!(stats.memory_usage > 0, "{stats:?}");
    assert_eq!(stats.memory_limit, Some(64 << 20));
    assert!(stats.pids >= 1, "{stats:?}");
    h.driver
        .stop(&cfg.id, libc::SIGKILL, Duration::from_secs(1))
        .unwrap();
}

#[test]
fn stop_escalates_to_sigkill_after_grace() {
    require_root!();
    let h = Harness::new();
    // As PID 1, sleep has no handler for SIGTERM, so the kernel ignores it.
    let cfg = h.config(&["sleep", "300"]);
    h.driver.create(&cfg).unwrap();
    h.driver.start(&cfg.id).unwrap();
    let exit = h
        .driver
        .stop(&cfg.id, libc::SIGTERM, Duration::from_millis(300))
        .unwrap();
    assert_eq!(exit.exit_code, 137);
    assert_eq!(exit.signal, Some(libc::SIGKILL));
    assert!(!exit.oom_killed);

    let cfg = h.config(&[
        "sh",
        "-c",
        "trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    h.driver.create(&cfg).unwrap();
    h.driver.start(&cfg.id).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let exit = h
        .driver
        .stop(&cfg.id, libc::SIGTERM, Duration::from_secs(10))
        .unwrap();
    assert_eq!(exit.exit_code, 0, "a handled SIGTERM ends it cleanly");
    assert!(h.output(&cfg.id).contains("bye"));
}

#[test]
fn logs_are_readable_while_running() {
    require_root!();
    let h = Harness::new();
    let cfg = h.config(&["sh", "-c", "echo first; sleep 30"]);
    h.driver.create(&cfg).unwrap();
    h.driver.start(&cfg.id).unwrap();
    let mut out = String::new();
    for _ in 0..200 {
        out = h.output(&cfg.id);
        if !out.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(out, "first\n");
    assert_eq!(h.driver.state(&cfg.id).unwrap().status, Status::Running);
    h.driver
        .stop(&cfg.id, libc::SIGKILL, Duration::from_secs(1))
        .unwrap();
}

#[test]
fn exec_runs_inside_the_container() {
    require_root!();
    let h = Harness::new();
    let mut cfg = h.config(&["sleep", "60"]);
    cfg.hostname = "execbox".into();
    h.driver.create(&cfg).unwrap();
    h.driver.start(&cfg.id).unwrap();
    let code = h
        .driver
        .exec(
            &cfg.id,
            &ExecConfig {
                args: vec![
                    "sh".into(),
                    "-c".into(),
                    "[ $(hostname) = execbox ] && exit 7".into(),
                ],
                env: vec![],
                cwd: None,
                user: None,
            },
        )
        .unwrap();
    assert_eq!(code, 7);
    h.driver
        .stop(&cfg.id, libc::SIGKILL, Duration::from_secs(1))
        .unwrap();
    let err = h.driver.exec(
        &cfg.id,
        &ExecConfig {
            args: vec!["true".into()],
            env: vec![],
            cwd: None,
            user: None,
        },
    );
    assert!(err.is_err());
}

#[test]
fn containers_survive_a_new_driver_and_are_recovered() {
    require_root!();
    let h = Harness::new();
    let cfg = h.config(&["sh", "-c", "echo up; sleep 60"]);
    h.driver.create(&cfg).unwrap();
    h.driver.start(&cfg.id).unwrap();
    // A second driver over the same directory, as after a manager restart.
    let shim = ShimCommand {
        program: env!("CARGO_BIN_EXE_dockyard-shim").into(),
        args: vec![],
    };
    let again = LinuxDriver::new(h.driver.root(), shim).unwrap();
    let found = again.recover().unwrap();
    let st = found.iter().find(|s| s.id == cfg.id).expect("recovered");
    assert_eq!(st.status, Status::Running);
    let exit = again
        .stop(&cfg.id, libc::SIGKILL, Duration::from_secs(1))
        .unwrap();
    assert_eq!(exit.exit_code, 137);
    assert_eq!(h.driver.state(&cfg.id).unwrap().status, Status::Exited);
}

#[test]
fn delete_removes_mounts_cgroups_and_files() {
    require_root!();
    let h = Harness::new();
    let mut cfg = h.config(&["sleep", "60"]);
    cfg.resources.memory_limit = Some(64 << 20);
    h.driver.create(&cfg).unwrap();
    h.driver.start(&cfg.id).unwrap();
    let dir = h.driver.root().join(&cfg.id);
    assert!(mounted(&dir));
    let cg = PathBuf::from("/sys/fs/cgroup/memory/dockyard").join(&cfg.id);
    let cg2 = PathBuf::from("/sys/fs/cgroup/dockyard").join(&cfg.id);
    assert!(cg.exists() || cg2.exists(), "cgroup missing");
    let err = h.driver.delete(&cfg.id, false).unwrap_err();
    assert!(err.to_string().contains("running"), "{err}");
    h.driver.delete(&cfg.id, true).unwrap();
    assert!(!mounted(&dir));
    assert!(!dir.exists());
    assert!(!cg.exists() && !cg2.exists(), "cgroup left behind");
    assert!(h.driver.state(&cfg.id).is_err());
}

#[test]
fn bad_configs_leave_nothing_behind() {
    require_root!();
    let h = Harness::new();
    let cfg = h.config(&["/no/such/binary"]);
    let err = h.driver.create(&cfg).unwrap_err();
    assert!(
        err.to_string().contains("'/no/such/binary' not found"),
        "{err}"
    );
    assert!(
        !h.driver.root().join(&cfg.id).exists(),
        "failed create left files"
    );
    let mut cfg = h.config(&["true"]);
    cfg.user = Some("nosuchuser".into());
    let err = h.driver.create(&cfg).unwrap_err();
    assert!(
        err.to_string().contains("unable to find user nosuchuser"),
        "{err}"
    );
    assert!(
        !h.driver.root().join(&cfg.id).exists(),
        "failed create left files"
    );
    assert!(!mounted(&h.driver.root().join(&cfg.id)));
    let cfg = h.config(&[]);
    assert!(h.driver.create(&cfg).is_err());
}

#[test]
fn host_network_shares_the_host_namespace() {
    require_root!();
    let h = Harness::new();
    let mut cfg = h.config(&["readlink", "/proc/self/ns/net"]);
    cfg.network = NetworkNamespace::Host;
    let (code, out) = h.run(&cfg);
    assert_eq!(code, 0, "{out}");
    let host = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_eq!(out.trim(), host.to_string_lossy());
}
