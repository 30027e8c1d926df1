//! End-to-end: real registry clients against `dockyard server`: skopeo
//! (copies compared byte for byte), podman push and pull, oras pushing an
//! artifact with a subject and finding it through the referrers API, and
//! scan on push with the `aws` CLI.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{Server, run};

fn manifest_digest(layout: &Path) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"].as_str().unwrap().to_owned()
}

#[test]
fn skopeo_podman_and_oras_round_trip() {
    dockyard_testkit::require_root!();
    let s = Server::start();
    let home = s.data.parent().unwrap().to_path_buf();
    let creds = s.credentials();
    let (ok, out) = s.aws(
        &creds,
        &[
            "ecr",
            "create-repository",
            "--repository-name",
            "clients/bb",
            "--image-scanning-configuration",
            "scanOnPush=true",
        ],
    );
    assert!(ok, "{out}");
    let (ok, password) = s.aws(&creds, &["ecr", "get-login-password"]);
    assert!(ok, "{password}");
    let password = password.trim().to_owned();
    let login = format!("AWS:{password}");
    let host = format!("127.0.0.1:{}", s.port);

    // skopeo there and back: the same manifest and blobs, byte for byte.
    let src = home.join("src");
    dockyard_testkit::busybox_oci_layout(&src, "busybox:latest").unwrap();
    let (ok, out) = run(
        "skopeo",
        &[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &login,
            &format!("oci:{}:busybox:latest", src.display()),
            &format!("docker://{host}/clients/bb:v1"),
        ],
        &home,
    );
    assert!(ok, "{out}");
    let back = home.join("back");
    let (ok, out) = run(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            &login,
            &format!("docker://{host}/clients/bb:v1"),
            &format!("oci:{}:busybox:latest", back.display()),
        ],
        &home,
    );
    assert!(ok, "{out}");
    let digest = manifest_digest(&src);
    assert_eq!(manifest_digest(&back), digest);
    for entry in std::fs::read_dir(src.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let copy = back.join("blobs/sha256").join(entry.file_name());
        assert_eq!(
            std::fs::read(entry.path()).unwrap(),
            std::fs::read(&copy).unwrap(),
            "{}",
            entry.path().display()
        );
    }

    // podman, with storage of its own so the host's is left alone.
    let root = home.join("podman-root");
    let runroot = home.join("podman-run");
    let podman = |args: &[&str]| {
        let mut all = vec![
            "--root",
            root.to_str().unwrap(),
            "--runroot",
            runroot.to_str().unwrap(),
            "--storage-driver",
            "vfs",
        ];
        all.extend_from_slice(args);
        run("podman", &all, &home)
    };
    let (ok, out) = podman(&["pull", &format!("oci:{}:busybox:latest", src.display())]);
    assert!(ok, "{out}");
    let (ok, out) = podman(&["images", "-q"]);
    assert!(ok, "{out}");
    let image = out.lines().next().unwrap().trim().to_owned();
    let (ok, out) = podman(&[
        "push",
        "--tls-verify=false",
        "--creds",
        &login,
        &image,
        &format!("docker://{host}/clients/bb:podman"),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = podman(&["rmi", "-a", "-f"]);
    assert!(ok, "{out}");
    let (ok, out) = podman(&[
        "pull",
        "--tls-verify=false",
        "--creds",
        &login,
        &format!("{host}/clients/bb:podman"),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = podman(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        ok && out.contains(&format!("{host}/clients/bb:podman")),
        "{out}"
    );
    let _ = podman(&["rmi", "-a", "-f"]);
    let _ = std::process::Command::new("umount").arg(&runroot).output();

    // oras: an artifact about the image, found through the referrers API.
    let size = std::fs::metadata(
        src.join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap()),
    )
    .unwrap()
    .len();
    let work = home.join("oras");
    std::fs::create_dir_all(&work).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oras_referrers.py");
    let (ok, out) = run(
        "python3",
        &[
            script,
            &host,
            "clients/bb",
            &digest,
            &size.to_string(),
            &password,
            work.to_str().unwrap(),
        ],
        &home,
    );
    assert!(ok, "{out}");
    let referrers: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let found = referrers["manifests"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{referrers}");
    assert_eq!(found[0]["artifactType"], "application/vnd.example.sbom");

    // Scan on push ran: busybox has no package database to scan.
    let (ok, out) = s.aws(
        &creds,
        &[
            "ecr",
            "describe-images",
            "--repository-name",
            "clients/bb",
            "--image-ids",
            "imageTag=v1",
        ],
    );
    assert!(ok && out.contains("imageScanStatus"), "{out}");
}
