//! What the end-to-end tests share: a `dockyard server` of their own on
//! a free port, and running the real clients against it.
#![allow(dead_code, clippy::unwrap_used)]

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use dockyard_testkit::TempDir;

pub struct Server {
    pub child: Child,
    pub port: u16,
    _dir: TempDir,
    pub data: std::path::PathBuf,
    /// `--bridge`/`--subnet` of a server running tasks, reset on drop.
    pub net: Option<(String, String)>,
    extra: Vec<String>,
    /// The address the server listens on (with `port`).
    pub ip: String,
}

impl Server {
    /// A server without the built-in agent (no containers).
    pub fn start() -> Self {
        Self::start_with(&["--no-local-agent"], None)
    }

    /// A server whose built-in agent runs tasks on a bridge and subnet of
    /// the test's own; agents poll every `poll` seconds.
    pub fn start_with_agent(poll: u32) -> Self {
        Self::start_with_agent_on(poll, "127.0.0.1")
    }

    /// Like [`start_with_agent`](Self::start_with_agent), listening on
    /// `ip` (`0.0.0.0` lets tasks reach the API through their gateway).
    pub fn start_with_agent_on(poll: u32, ip: &str) -> Self {
        let bridge = dockyard_testkit::unique("dys");
        let subnet = dockyard_testkit::free_subnet("172.27");
        let poll = poll.to_string();
        Self::start_on(ip, &["--agent-poll-seconds", &poll], Some((bridge, subnet)))
    }

    /// The first address of the server's bridge subnet: the tasks' gateway.
    pub fn gateway(&self) -> String {
        let (_, subnet) = self.net.as_ref().unwrap();
        let base = subnet.split('/').next().unwrap();
        let (head, _) = base.rsplit_once('.').unwrap();
        format!("{head}.1")
    }

    /// The global flags selecting this server's data directory and network.
    pub fn global_args(&self) -> Vec<String> {
        let mut a = vec![
            "--data-dir".to_string(),
            self.data.to_str().unwrap().to_string(),
        ];
        if let Some((b, s)) = &self.net {
            a.extend(["--bridge".into(), b.clone(), "--subnet".into(), s.clone()]);
        }
        a
    }

    fn spawn(
        dir: &std::path::Path,
        ip: &str,
        port: u16,
        net: &Option<(String, String)>,
        extra: &[String],
    ) -> Child {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dockyard"));
        cmd.args(["--data-dir", dir.join("data").to_str().unwrap()]);
        if let Some((b, s)) = net {
            cmd.args(["--bridge", b, "--subnet", s]);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .unwrap();
        cmd.args(["server", "--listen", &format!("{ip}:{port}")])
            .args(extra)
            .env("RUST_LOG", "info")
            .stderr(log)
            .spawn()
            .unwrap()
    }

    fn start_with(extra: &[&str], net: Option<(String, String)>) -> Self {
        Self::start_on("127.0.0.1", extra, net)
    }

    fn start_on(ip: &str, extra: &[&str], net: Option<(String, String)>) -> Self {
        let dir = TempDir::new("srv").unwrap();
        let data = dir.path().join("data");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let child = Self::spawn(dir.path(), ip, port, &net, &extra);
        let s = Self {
            child,
            port,
            _dir: dir,
            data,
            net,
            extra,
            ip: ip.to_string(),
        };
        s.wait_ready();
        s
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.get("/_dockyard/health").is_none() {
            assert!(Instant::now() < deadline, "server did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `kill -9` of the server process (its tasks' containers live on).
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) {
        self.child = Self::spawn(
            self.data.parent().unwrap(),
            &self.ip,
            self.port,
            &self.net,
            &self.extra,
        );
        self.wait_ready();
    }

    pub fn get(&self, path: &str) -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    }

    /// `dockyard credentials` as `KEY=VALUE` pairs.
    pub fn credentials(&self) -> Vec<(String, String)> {
        let out = Command::new(env!("CARGO_BIN_EXE_dockyard"))
            .args([
                "--data-dir",
                self.data.to_str().unwrap(),
                "credentials",
                "--listen",
                &format!("127.0.0.1:{}", self.port),
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let (k, v) = l.strip_prefix("export ").unwrap().split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    pub fn aws(&self, env: &[(String, String)], args: &[&str]) -> (bool, String) {
        let out = Command::new("aws")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .env("HOME", self.data.parent().unwrap())
            .envs(env.iter().cloned())
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

impl Server {
    /// The server's log so far (for failure messages).
    /// Every log file in the test's directory (the server's and agents').
    pub fn log(&self) -> String {
        let mut out = String::new();
        for e in std::fs::read_dir(self.data.parent().unwrap())
            .unwrap()
            .flatten()
        {
            if e.path().extension().is_some_and(|x| x == "log") {
                out += &format!("--- {}\n", e.path().display());
                out += &std::fs::read_to_string(e.path()).unwrap_or_default();
            }
        }
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A server stopped by SIGTERM removes its load balancer rules
        // itself; one that takes too long is killed, and `system reset`
        // (below, for servers with a network) removes them.
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.net.is_some() {
            // Tasks outlive their agent: remove them, the bridge and its rules.
            let _ = Command::new(env!("CARGO_BIN_EXE_dockyard"))
                .args(self.global_args())
                .args(["system", "reset"])
                .output();
        }
    }
}

/// Runs a client program with `HOME` in the test's directory; its success
/// and its output (stdout then stderr).
pub fn run(program: &str, args: &[&str], home: &std::path::Path) -> (bool, String) {
    let t = Instant::now();
    let o = Command::new(program)
        .args(args)
        .env("HOME", home)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    eprintln!("{program} {:?}: {:?}", args.first(), t.elapsed());
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// Starts a server with no built-in agent and extra `server` flags.
pub fn server_without_agent(extra: &[&str]) -> Server {
    let mut args = vec!["--no-local-agent"];
    args.extend_from_slice(extra);
    Server::start_with(&args, None)
}

/// Runs the `aws` CLI against the server; its JSON answer (null when it
/// printed none).
/// `aws elbv2 create-load-balancer` of `kind` (application or network);
/// its ARN.
pub fn create_load_balancer(s: &Server, name: &str, kind: &str) -> String {
    let lb = aws_json(
        s,
        &[
            "elbv2",
            "create-load-balancer",
            "--name",
            name,
            "--type",
            kind,
            "--subnets",
            "subnet-1",
        ],
    );
    lb["LoadBalancers"][0]["LoadBalancerArn"]
        .as_str()
        .unwrap()
        .to_string()
}

pub fn aws_json(s: &Server, args: &[&str]) -> serde_json::Value {
    let (ok, out) = s.aws(&s.credentials(), args);
    assert!(ok, "aws {args:?}: {out}");
    serde_json::from_str(&out).unwrap_or(serde_json::Value::Null)
}

pub fn env(s: &Server, k: &str) -> String {
    s.credentials().into_iter().find(|(n, _)| n == k).unwrap().1
}

/// An AWS SDK for Rust ECS client pointed at the server.
pub fn client(s: &Server) -> aws_sdk_ecs::Client {
    use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_ecs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(env(s, "AWS_ENDPOINT_URL"))
        .credentials_provider(Credentials::new(
            env(s, "AWS_ACCESS_KEY_ID"),
            env(s, "AWS_SECRET_ACCESS_KEY"),
            None,
            None,
            "dockyard",
        ))
        .build();
    aws_sdk_ecs::Client::from_conf(conf)
}

/// Pushes the busybox image to the server's registry as `REPO:latest`.
pub fn push_busybox(s: &Server, repo: &str) -> String {
    let src = s.data.parent().unwrap().join("busybox-layout");
    if !src.exists() {
        dockyard_testkit::busybox_oci_layout(&src, "busybox:latest").unwrap();
    }
    push_layout(s, repo, &src, "busybox:latest")
}

/// Creates repository `repo` and copies `tag` of the OCI layout at
/// `layout` into it as `REPO:latest` with skopeo; the image reference.
pub fn push_layout(s: &Server, repo: &str, layout: &std::path::Path, tag: &str) -> String {
    let home = s.data.parent().unwrap().to_path_buf();
    let creds = s.credentials();
    let (ok, out) = s.aws(
        &creds,
        &["ecr", "create-repository", "--repository-name", repo],
    );
    assert!(ok, "{out}");
    let (ok, password) = s.aws(&creds, &["ecr", "get-login-password"]);
    assert!(ok, "{password}");
    let image = format!("127.0.0.1:{}/{repo}:latest", s.port);
    let (ok, out) = run(
        "skopeo",
        &[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &format!("AWS:{}", password.trim()),
            &format!("oci:{}:{tag}", layout.display()),
            &format!("docker://{image}"),
        ],
        &home,
    );
    assert!(ok, "{out}");
    image
}

/// A `dockyard agent` process joined to a cluster.
pub struct AgentProc {
    pub child: Child,
    /// `--data-dir`, `--bridge` and `--subnet` of an agent with an engine
    /// of its own (several on one machine), reset on drop.
    own: Option<Vec<String>>,
}

impl AgentProc {
    /// An agent sharing the server's engine (its data dir and bridge).
    pub fn start(s: &Server, cluster: &str, state: &std::path::Path) -> Self {
        Self::spawn(
            s,
            s.global_args(),
            None,
            &[
                "--cluster",
                cluster,
                "--availability-zone",
                "us-east-1b",
                "--attribute",
                "stack=blue",
                "--state-dir",
                state.to_str().unwrap(),
            ],
            &state.with_extension("log"),
        )
    }

    /// One of several "instances" on this machine: its own engine data
    /// directory, bridge and subnet, zone and resources.
    pub fn instance(s: &Server, cluster: &str, name: &str, zone: &str, cpu: u32, mem: u32) -> Self {
        let dir = s.data.parent().unwrap().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let global = vec![
            "--data-dir".to_string(),
            dir.join("data").to_str().unwrap().to_string(),
            "--bridge".to_string(),
            dockyard_testkit::unique("dya"),
            "--subnet".to_string(),
            dockyard_testkit::free_subnet("172.26"),
        ];
        let (cpu, mem) = (cpu.to_string(), mem.to_string());
        Self::spawn(
            s,
            global.clone(),
            Some(global),
            &[
                "--cluster",
                cluster,
                "--availability-zone",
                zone,
                "--attribute",
                &format!("node={name}"),
                "--cpu",
                &cpu,
                "--memory",
                &mem,
                "--state-dir",
                dir.join("state").to_str().unwrap(),
                "--name",
                name,
            ],
            &dir.join("agent.log"),
        )
    }

    fn spawn(
        s: &Server,
        global: Vec<String>,
        own: Option<Vec<String>>,
        args: &[&str],
        log: &std::path::Path,
    ) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_dockyard"))
            .args(global)
            .arg("agent")
            .args(args)
            .env("AWS_ENDPOINT_URL", env(s, "AWS_ENDPOINT_URL"))
            .env("AWS_ACCESS_KEY_ID", env(s, "AWS_ACCESS_KEY_ID"))
            .env("AWS_SECRET_ACCESS_KEY", env(s, "AWS_SECRET_ACCESS_KEY"))
            .env("RUST_LOG", "info")
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        Self { child, own }
    }

    /// Kills the agent at once (its tasks keep running, as on a host
    /// whose agent died).
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        self.kill9();
        if let Some(global) = &self.own {
            // Its tasks outlive it: remove them, the bridge and its rules.
            let _ = Command::new(env!("CARGO_BIN_EXE_dockyard"))
                .args(global)
                .args(["system", "reset"])
                .output();
        }
    }
}
