//! What the end-to-end tests share: a `dockyard server` of their own on
//! a free port, and running the real clients against it.
#![allow(dead_code, clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dockyard_testkit::TempDir;

pub struct Server {
    pub child: Child,
    pub port: u16,
    _dir: TempDir,
    pub data: std::path::PathBuf,
}

impl Server {
    pub fn start() -> Self {
        let dir = TempDir::new("srv").unwrap();
        let data = dir.path().join("data");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_dockyard"))
            .args([
                "--data-dir",
                data.to_str().unwrap(),
                "server",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let s = Self {
            child,
            port,
            _dir: dir,
            data,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while s.get("/_dockyard/health").is_none() {
            assert!(Instant::now() < deadline, "server did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        s
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

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
