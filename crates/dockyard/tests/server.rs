//! End-to-end: `dockyard server` answering the real `aws` CLI.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::Server;

#[test]
fn server_serves_health_checks_signatures_and_shuts_down_gracefully() {
    let mut s = Server::start();
    let health = s.get("/_dockyard/health").unwrap();
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with(r#"{"status":"ok"}"#),
        "{health}"
    );

    let creds = s.credentials();
    let keys: Vec<&str> = creds.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL"
        ]
    );
    assert_eq!(
        s.credentials(),
        creds,
        "the administrator key is created once"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(s.data.join("credentials.json"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // A signed request reaches the front door.
    let (ok, out) = s.aws(&creds, &["ecr", "describe-repositories"]);
    assert!(ok && out.contains(r#""repositories": []"#), "{out}");
    // A wrong secret, an unknown key.
    let mut bad = creds.clone();
    bad[1].1 = "x".repeat(40);
    let (ok, out) = s.aws(&bad, &["ecr", "describe-repositories"]);
    assert!(!ok && out.contains("InvalidSignatureException"), "{out}");
    let mut unknown = creds.clone();
    unknown[0].1 = "AKIAAAAAAAAAAAAAAAAA".into();
    let (ok, out) = s.aws(&unknown, &["ecs", "list-clusters"]);
    assert!(!ok && out.contains("UnrecognizedClientException"), "{out}");
    // Unsigned.
    let unsigned = s.get("/").unwrap();
    assert!(
        unsigned.contains("MissingAuthenticationToken"),
        "{unsigned}"
    );

    // SIGTERM: stops listening and exits cleanly.
    // SAFETY: signalling our own child by pid.
    unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(s.get("/_dockyard/health").is_none());
}

#[test]
fn push_with_skopeo_using_an_ecr_token_then_pull_and_run() {
    dockyard_testkit::require_root!();
    let s = Server::start();
    let creds = s.credentials();
    let (ok, password) = s.aws(&creds, &["ecr", "get-login-password"]);
    assert!(ok, "{password}");
    let password = password.trim().to_string();
    let layout = s.data.parent().unwrap().join("bb");
    dockyard_testkit::busybox_oci_layout(&layout, "busybox:latest").unwrap();
    let dest = format!("docker://127.0.0.1:{}/team/bb:v1", s.port);
    let skopeo = |args: &[&str]| {
        let o = Command::new("skopeo")
            .args(args)
            .env("HOME", s.data.parent().unwrap())
            .output()
            .unwrap();
        (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    };
    let login = format!("AWS:{password}");
    let src = format!("oci:{}:busybox:latest", layout.display());
    let push = || {
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &login,
            &src,
            &dest,
        ])
    };
    // As on ECR, pushes go to repositories that exist.
    let (ok, out) = push();
    assert!(!ok && out.contains("name unknown"), "{out}");
    let (ok, out) = s.aws(
        &creds,
        &["ecr", "create-repository", "--repository-name", "team/bb"],
    );
    assert!(ok, "{out}");
    let uri = format!("127.0.0.1:{}/team/bb", s.port);
    assert!(
        out.contains(&format!(r#""repositoryUri": "{uri}""#)),
        "{out}"
    );
    let (ok, out) = push();
    assert!(ok, "{out}");
    let (ok, out) = s.aws(
        &creds,
        &["ecr", "describe-images", "--repository-name", "team/bb"],
    );
    assert!(ok && out.contains(r#""v1""#), "{out}");
    // Without the token: refused.
    let (ok, out) = skopeo(&["inspect", "--tls-verify=false", "--no-creds", &dest]);
    assert!(!ok && out.contains("unauthorized"), "{out}");
    let (ok, out) = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "AWS:not-a-token",
        &src,
        &dest,
    ]);
    assert!(!ok && out.contains("unauthorized"), "{out}");

    // The node pulls it with the same token and runs it.
    let node = s.data.parent().unwrap().join("node");
    let bridge = dockyard_testkit::unique("dyc");
    let subnet = dockyard_testkit::free_subnet("172.27");
    let dy = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dockyard"))
            .args([
                "--data-dir",
                node.to_str().unwrap(),
                "--bridge",
                &bridge,
                "--subnet",
                &subnet,
            ])
            .args(args)
            .output()
            .unwrap()
    };
    let image = format!("127.0.0.1:{}/team/bb:v1", s.port);
    let o = dy(&["pull", "--username", "AWS", "--password", &password, &image]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = dy(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "echo",
        "pulled-and-ran",
    ]);
    let _ = dy(&["system", "reset"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "pulled-and-ran\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
