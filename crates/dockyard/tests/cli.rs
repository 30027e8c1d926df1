//! End-to-end tests of the `dockyard` binary, driven as a user drives it:
//! real processes, real containers, a real bridge and published ports.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

use dockyard_testkit::{TempDir, require_root, unique};

struct Node {
    tmp: TempDir,
    bridge: String,
    subnet: String,
}

impl Node {
    /// A fresh data directory, bridge and subnet, with the busybox image
    /// loaded as `busybox:latest`.
    fn new() -> Self {
        let tmp = TempDir::new("cli").unwrap();
        let bridge = unique("dyc");
        let subnet = dockyard_testkit::free_subnet("172.28");
        let node = Self {
            tmp,
            bridge,
            subnet,
        };
        let layout = node.tmp.path().join("busybox");
        dockyard_testkit::busybox_oci_layout(&layout, "busybox:latest").unwrap();
        let out = node.ok(&["image", "load", layout.to_str().unwrap()]);
        assert!(out.contains("Loaded image: busybox:latest"), "{out}");
        node
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_dockyard"))
            .arg("--data-dir")
            .arg(self.tmp.path().join("data"))
            .args(["--bridge", &self.bridge, "--subnet", &self.subnet])
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.cmd(args);
        assert!(
            o.status.success(),
            "dockyard {args:?} failed: {}{}",
            text(&o.stdout),
            text(&o.stderr)
        );
        text(&o.stdout)
    }

    fn data(&self) -> PathBuf {
        self.tmp.path().join("data")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.cmd(&["system", "reset"]);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn run_passes_output_and_exit_codes_through() {
    require_root!();
    let n = Node::new();
    let o = n.cmd(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 42",
    ]);
    assert_eq!(o.status.code(), Some(42));
    assert_eq!(text(&o.stdout), "out\n");
    assert_eq!(text(&o.stderr), "err\n");
    assert_eq!(n.ok(&["ps", "-a", "-q"]), "", "--rm left a container");
    // The image's Cmd (sh) with no stdin exits 0.
    assert_eq!(n.cmd(&["run", "--rm", "busybox"]).status.code(), Some(0));
    let o = n.cmd(&[
        "run",
        "--rm",
        "-e",
        "GREETING=hi there",
        "-w",
        "/tmp",
        "--user",
        "65534",
        "--hostname",
        "h1",
        "busybox",
        "sh",
        "-c",
        "echo $GREETING; pwd; id -u; hostname",
    ]);
    assert_eq!(text(&o.stdout), "hi there\n/tmp\n65534\nh1\n");
}

#[test]
fn errors_are_clear_and_leave_nothing_behind() {
    require_root!();
    let n = Node::new();
    let cases: &[(&[&str], i32, &str)] = &[
        (&["run", "--rm", "nosuchimage"], 125, "image not found"),
        (&["run", "--rm", "busybox", "/bin/nope"], 127, "not found"),
        (
            &["run", "--rm", "-m", "1m", "busybox", "true"],
            125,
            "minimum memory limit allowed is 6MB",
        ),
        (
            &["run", "--rm", "--cpus", "64", "busybox", "true"],
            125,
            "range of CPUs",
        ),
        (&["run", "--bogus-flag", "busybox"], 125, "--bogus-flag"),
        (
            &["run", "--rm", "--network", "nope", "busybox", "true"],
            125,
            "network nope not found",
        ),
        (
            &["run", "--rm", "--entrypoint", "", "busybox"],
            125,
            "no command specified",
        ),
        (&["stop", "nosuch"], 1, "no such container"),
        (&["logs", "nosuch"], 125, "no such container"),
    ];
    for (args, code, msg) in cases {
        let o = n.cmd(args);
        assert_eq!(
            o.status.code(),
            Some(*code),
            "{args:?}: {}",
            text(&o.stderr)
        );
        assert!(
            text(&o.stderr).contains(msg),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
    // A port already in use: the second container fails whole.
    n.ok(&[
        "run", "-d", "--name", "first", "-p", "18931:80", "busybox", "sleep", "60",
    ]);
    let o = n.cmd(&[
        "run", "-d", "--name", "second", "-p", "18931:80", "busybox", "sleep", "60",
    ]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        text(&o.stderr).contains("already in use"),
        "{}",
        text(&o.stderr)
    );
    let ps = n.ok(&["ps", "-a"]);
    assert!(!ps.lines().any(|l| l.ends_with(" second")), "{ps}");
    n.ok(&["rm", "-f", "first"]);
    assert_eq!(n.ok(&["ps", "-a", "-q"]), "");
    // The kernel deletes a detached container's veth pair with its
    // namespace, moments after the detach: wait for it, within bounds.
    let veths = || {
        text(
            &Command::new("ip")
                .args(["-o", "link", "show", "master", &n.bridge])
                .output()
                .unwrap()
                .stdout,
        )
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !veths().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(veths(), "", "veths left on the bridge");
    let netns: Vec<_> = std::fs::read_dir(n.data().join("net"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        !netns
            .iter()
            .any(|f| f.to_string_lossy().ends_with(".json") && f != "lock"),
        "{netns:?}"
    );
}

#[test]
fn detached_containers_publish_ports_log_exec_and_stop() {
    require_root!();
    let n = Node::new();
    let id = n.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "18932:80",
        "busybox",
        "sh",
        "-c",
        "echo started; echo hello-web > /tmp/index.html; exec httpd -f -p 80 -h /tmp",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    // The CLI that started it is gone: it runs on its own (daemonless).
    let ps = n.ok(&["ps"]);
    assert!(
        ps.contains("web") && ps.contains("Up") && ps.contains("0.0.0.0:18932->80/tcp"),
        "{ps}"
    );
    let mut body = String::new();
    for _ in 0..50 {
        let o = Command::new("busybox")
            .args(["wget", "-q", "-O", "-", "http://127.0.0.1:18932/"])
            .output()
            .unwrap();
        body = text(&o.stdout);
        if !body.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(body, "hello-web\n");
    assert_eq!(n.ok(&["logs", "web"]), "started\n");
    let ts = n.ok(&["logs", "-t", "web"]);
    assert!(ts.starts_with("20") && ts.contains("Z started"), "{ts}");
    let o = n.cmd(&["exec", "web", "sh", "-c", "cat /tmp/index.html; exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(text(&o.stdout), "hello-web\n");
    let inspect: serde_json::Value = serde_json::from_str(&n.ok(&["inspect", "web"])).unwrap();
    assert_eq!(inspect[0]["Id"], id);
    assert_eq!(inspect[0]["State"]["Running"], true);
    assert!(
        inspect[0]["NetworkSettings"]["IPAddress"]
            .as_str()
            .unwrap()
            .starts_with("172.28.")
    );
    let o = n.cmd(&["rm", "web"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "removing a running container needs -f"
    );
    n.ok(&["stop", "-t", "1", "web"]);
    let inspect: serde_json::Value = serde_json::from_str(&n.ok(&["inspect", "web"])).unwrap();
    assert_eq!(inspect[0]["State"]["Status"], "exited");
    assert_eq!(
        inspect[0]["State"]["ExitCode"], 137,
        "httpd as PID 1 ignores SIGTERM"
    );
    assert!(n.ok(&["ps", "-a"]).contains("Exited (137)"));
    n.ok(&["rm", "web"]);
    assert_eq!(n.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn memory_limit_oom_reports_137() {
    require_root!();
    let n = Node::new();
    let o = n.cmd(&[
        "run",
        "--name",
        "hog",
        "-m",
        "24m",
        "busybox",
        "tail",
        "/dev/zero",
    ]);
    assert_eq!(o.status.code(), Some(137));
    let inspect: serde_json::Value = serde_json::from_str(&n.ok(&["inspect", "hog"])).unwrap();
    assert_eq!(inspect[0]["State"]["OOMKilled"], true);
    assert_eq!(inspect[0]["HostConfig"]["Memory"], 24 << 20);
    n.ok(&["rm", "hog"]);
}

#[test]
fn network_modes() {
    require_root!();
    let n = Node::new();
    let none = n.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert!(none.contains("lo:") && !none.contains("eth0"), "{none}");
    // Its loopback is up, as in Docker's `none` mode.
    let lo = none
        .lines()
        .find(|l| l.contains(" lo:"))
        .unwrap_or_default();
    assert!(lo.contains(",UP"), "{none}");
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let host = n.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "readlink",
        "/proc/self/ns/net",
    ]);
    assert_eq!(host.trim(), host_ns.to_string_lossy());
    let bridge = n.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ip -4 -o addr show eth0; ip route; cat /etc/hosts",
    ]);
    assert!(bridge.contains("inet 172.28."), "{bridge}");
    assert!(bridge.contains("default via 172.28."), "{bridge}");
}

#[test]
fn detached_rm_removes_itself_and_images_in_use_are_kept() {
    require_root!();
    let n = Node::new();
    n.ok(&["run", "-d", "--rm", "--name", "brief", "busybox", "true"]);
    let mut gone = false;
    for _ in 0..100 {
        if n.ok(&["ps", "-a", "-q"]).is_empty() {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(gone, "a detached --rm container must remove itself");
    n.ok(&["run", "--name", "keeper", "busybox", "true"]);
    let o = n.cmd(&["rmi", "busybox"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        text(&o.stderr).contains("in use") || text(&o.stderr).contains("being used"),
        "{}",
        text(&o.stderr)
    );
    let saved = n.tmp.path().join("saved.tar");
    n.ok(&["image", "save", "-o", saved.to_str().unwrap(), "busybox"]);
    n.ok(&["rm", "keeper"]);
    n.ok(&["rmi", "busybox"]);
    assert!(!n.ok(&["images"]).contains("busybox"));
    assert!(
        n.ok(&["load", "-i", saved.to_str().unwrap()])
            .contains("Loaded image: busybox:latest")
    );
    assert_eq!(
        n.cmd(&["run", "--rm", "busybox", "true"]).status.code(),
        Some(0)
    );
}

#[test]
fn volumes_bind_mounts_tmpfs_and_ulimits() {
    require_root!();
    let n = Node::new();
    let host = n.tmp.path().join("host");
    let bind = format!("{}:/host", host.display());
    // A named volume outlives the container that wrote it.
    n.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "echo saved > /data/f; echo to-host > /host/f",
    ]);
    assert_eq!(
        std::fs::read_to_string(host.join("f")).unwrap(),
        "to-host\n"
    );
    let out = n.ok(&[
        "run",
        "--rm",
        "--read-only",
        "-v",
        "data:/data:ro",
        "--tmpfs",
        "/scratch:size=2m",
        "--shm-size",
        "32m",
        "--ulimit",
        "nofile=100:200",
        "busybox",
        "sh",
        "-c",
        "cat /data/f; touch /data/g 2>&1; echo x > /scratch/x && echo tmpfs; ulimit -n; \
         grep ' /dev/shm ' /proc/mounts",
    ]);
    assert!(out.starts_with("saved\n"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("tmpfs\n100\n"), "{out}");
    assert!(out.contains("size=32768k"), "{out}");
    assert_eq!(n.ok(&["volume", "ls", "-q"]), "data\n");
    // In use: refused; then removed with its data.
    let id = n.ok(&["run", "-d", "-v", "data:/data", "busybox", "sleep", "60"]);
    let o = n.cmd(&["volume", "rm", "data"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("volume is in use"),
        "{}",
        text(&o.stderr)
    );
    n.ok(&["rm", "-f", id.trim()]);
    n.ok(&["volume", "rm", "data"]);
    assert_eq!(n.ok(&["volume", "ls", "-q"]), "");
    assert!(!n.data().join("volumes/data").exists());
    // Bad specifications are refused before anything is created.
    for bad in [
        &["run", "--rm", "-v", "/a:relative", "busybox", "true"][..],
        &["run", "--rm", "-v", "bad/name:/x", "busybox", "true"],
        &["run", "--rm", "--ulimit", "files=1", "busybox", "true"],
    ] {
        let o = n.cmd(bad);
        assert_eq!(o.status.code(), Some(125), "{bad:?}: {}", text(&o.stderr));
    }
    assert_eq!(n.ok(&["ps", "-aq"]), "");
}

#[test]
fn hosts_dns_and_sysctls() {
    require_root!();
    let n = Node::new();
    let out = n.ok(&[
        "run",
        "--rm",
        "--add-host",
        "db.internal:10.1.2.3",
        "--dns",
        "10.0.0.53",
        "--dns-search",
        "corp.example",
        "--dns-option",
        "ndots:1",
        "--sysctl",
        "net.ipv4.ip_unprivileged_port_start=0",
        "busybox",
        "sh",
        "-c",
        "cat /etc/hosts /etc/resolv.conf /proc/sys/net/ipv4/ip_unprivileged_port_start",
    ]);
    assert!(out.contains("10.1.2.3\tdb.internal\n"), "{out}");
    assert!(out.contains("nameserver 10.0.0.53\n"), "{out}");
    assert_eq!(out.matches("nameserver").count(), 1, "{out}");
    assert!(
        out.contains("search corp.example\noptions ndots:1\n"),
        "{out}"
    );
    assert!(out.ends_with("\n0\n"), "{out}");
    // The host's own value is untouched.
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    assert_ne!(host.trim(), "0");
    for bad in [
        &[
            "run",
            "--rm",
            "--add-host",
            "db:not-an-ip",
            "busybox",
            "true",
        ][..],
        &["run", "--rm", "--dns", "x", "busybox", "true"],
        &[
            "run",
            "--rm",
            "--sysctl",
            "kernel.panic=1",
            "busybox",
            "true",
        ],
        &[
            "run",
            "--rm",
            "--network",
            "host",
            "--sysctl",
            "net.core.somaxconn=1",
            "busybox",
            "true",
        ],
        &[
            "run",
            "--rm",
            "--network",
            "host",
            "--dns",
            "10.0.0.1",
            "busybox",
            "true",
        ],
    ] {
        let o = n.cmd(bad);
        assert_eq!(o.status.code(), Some(125), "{bad:?}: {}", text(&o.stderr));
    }
    assert_eq!(n.ok(&["ps", "-aq"]), "");
}

#[test]
fn labels_and_devices() {
    require_root!();
    let n = Node::new();
    // The FUSE device (not among the default devices) under another name:
    // with `r` the device cgroup lets it be opened for reading only, with
    // `rw` for writing too.
    let probe = "(exec 3</dev/myfuse) 2>/dev/null && echo read-ok; \
                 (exec 4>/dev/myfuse) 2>/dev/null && echo write-ok || echo write-refused";
    let read_only = n.ok(&[
        "run",
        "--rm",
        "--device",
        "/dev/fuse:/dev/myfuse:r",
        "busybox",
        "sh",
        "-c",
        probe,
    ]);
    assert_eq!(read_only, "read-ok\nwrite-refused\n");
    let read_write = n.ok(&[
        "run",
        "--rm",
        "--device",
        "/dev/fuse:/dev/myfuse:rw",
        "busybox",
        "sh",
        "-c",
        probe,
    ]);
    assert_eq!(read_write, "read-ok\nwrite-ok\n");
    // Without --device the node is not there.
    let out = n.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ls /dev/myfuse || echo absent",
    ]);
    assert!(out.contains("absent"), "{out}");
    n.ok(&[
        "run", "-d", "--name", "labelled", "--label", "team=web", "-l", "tier", "busybox", "sleep",
        "60",
    ]);
    let inspect: serde_json::Value = serde_json::from_str(&n.ok(&["inspect", "labelled"])).unwrap();
    assert_eq!(
        inspect[0]["Config"]["Labels"],
        serde_json::json!({"team": "web", "tier": ""})
    );
    n.ok(&["rm", "-f", "labelled"]);
    for bad in [
        &[
            "run",
            "--rm",
            "--device",
            "/etc/hostname",
            "busybox",
            "true",
        ][..],
        &[
            "run",
            "--rm",
            "--device",
            "/dev/null:/dev/x:rwx",
            "busybox",
            "true",
        ],
        &[
            "run",
            "--rm",
            "--device",
            "/dev/nope-nope",
            "busybox",
            "true",
        ],
        &["run", "--rm", "--label", "=v", "busybox", "true"],
    ] {
        let o = n.cmd(bad);
        assert_eq!(o.status.code(), Some(125), "{bad:?}: {}", text(&o.stderr));
    }
    assert_eq!(n.ok(&["ps", "-aq"]), "");
}
