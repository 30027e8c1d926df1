//! The registry driven by a real client: skopeo pushes a busybox OCI
//! layout, pulls it back, inspects it, lists tags, copies between
//! repositories and deletes.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{HttpClient, Server};
use dockyard_image::Digest;
use http::StatusCode;

const SKOPEO: &str = "/usr/bin/skopeo";

/// Runs skopeo off the async runtime (the registry serves it there).
async fn skopeo(args: Vec<String>) -> String {
    let shown = args.join(" ");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(SKOPEO)
            .arg("--insecure-policy")
            .args(&args)
            .output()
            .expect("skopeo runs")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "skopeo {shown} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn index_manifest(layout: &Path) -> (Digest, String) {
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let m = &index["manifests"][0];
    (
        Digest::parse(m["digest"].as_str().unwrap()).unwrap(),
        m["mediaType"].as_str().unwrap().to_owned(),
    )
}

fn blob(layout: &Path, d: &Digest) -> Vec<u8> {
    fs::read(layout.join("blobs/sha256").join(d.hex())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_push_pull_inspect_copy_delete() {
    assert!(
        Path::new(SKOPEO).exists(),
        "skopeo is installed at {SKOPEO}"
    );
    let s = Server::start().await;
    let c = HttpClient::new(&s);
    let tmp = dockyard_testkit::TempDir::new("registry-skopeo").unwrap();
    let src = tmp.path().join("src");
    let pushed = dockyard_testkit::busybox_oci_layout(&src, "busybox:latest").unwrap();
    let pushed = Digest::parse(&pushed).unwrap();
    let host = s.host();
    let image = format!("docker://{host}/team/bb:v1");

    skopeo(vec![
        "copy".into(),
        "--dest-tls-verify=false".into(),
        format!("oci:{}:busybox:latest", src.display()),
        image.clone(),
    ])
    .await;

    let out = tmp.path().join("out");
    skopeo(vec![
        "copy".into(),
        "--src-tls-verify=false".into(),
        image.clone(),
        format!("oci:{}:x", out.display()),
    ])
    .await;
    let (pulled, media_type) = index_manifest(&out);
    assert_eq!(
        pulled, pushed,
        "the manifest digest survives the round trip"
    );
    assert_eq!(media_type, "application/vnd.oci.image.manifest.v1+json");
    let manifest_bytes = blob(&out, &pulled);
    assert_eq!(
        manifest_bytes,
        blob(&src, &pushed),
        "manifest byte for byte"
    );
    let manifest: serde_json::Value = serde_json::from_slice(&manifest_bytes).unwrap();
    let mut digests = vec![Digest::parse(manifest["config"]["digest"].as_str().unwrap()).unwrap()];
    for l in manifest["layers"].as_array().unwrap() {
        digests.push(Digest::parse(l["digest"].as_str().unwrap()).unwrap());
    }
    for d in &digests {
        let b = blob(&out, d);
        assert_eq!(b, blob(&src, d), "blob {d} byte for byte");
        assert_eq!(Digest::of(&b), *d);
    }

    let inspect: serde_json::Value = serde_json::from_str(
        &skopeo(vec![
            "inspect".into(),
            "--tls-verify=false".into(),
            image.clone(),
        ])
        .await,
    )
    .unwrap();
    assert_eq!(inspect["Digest"], pushed.as_str());
    assert_eq!(inspect["Os"], "linux");
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(inspect["Layers"], serde_json::json!([digests[1].as_str()]));
    let raw = skopeo(vec![
        "inspect".into(),
        "--raw".into(),
        "--tls-verify=false".into(),
        image.clone(),
    ])
    .await;
    assert_eq!(raw.as_bytes(), &manifest_bytes[..]);

    // Registry to registry: the blobs are mounted from team/bb; and as a
    // Docker schema 2 manifest.
    skopeo(vec![
        "copy".into(),
        "--src-tls-verify=false".into(),
        "--dest-tls-verify=false".into(),
        "--format".into(),
        "v2s2".into(),
        image.clone(),
        format!("docker://{host}/other/bb:docker"),
    ])
    .await;
    let raw = skopeo(vec![
        "inspect".into(),
        "--raw".into(),
        "--tls-verify=false".into(),
        format!("docker://{host}/other/bb:docker"),
    ])
    .await;
    let docker: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        docker["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    let r = c.head("/v2/other/bb/manifests/docker").await;
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.docker.distribution.manifest.v2+json")
    );
    assert_eq!(
        r.header("docker-content-digest"),
        Some(Digest::of(raw.as_bytes()).as_str())
    );

    let tags: serde_json::Value = serde_json::from_str(
        &skopeo(vec![
            "list-tags".into(),
            "--tls-verify=false".into(),
            format!("docker://{host}/team/bb"),
        ])
        .await,
    )
    .unwrap();
    assert_eq!(tags["Tags"], serde_json::json!(["v1"]));
    let catalog = c.get("/v2/_catalog").await.json();
    assert_eq!(
        catalog["repositories"],
        serde_json::json!(["other/bb", "team/bb"])
    );

    skopeo(vec![
        "delete".into(),
        "--tls-verify=false".into(),
        image.clone(),
    ])
    .await;
    assert_eq!(
        c.get("/v2/team/bb/manifests/v1").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.get(&format!("/v2/team/bb/manifests/{pushed}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // The other repository is untouched.
    assert_eq!(
        c.get("/v2/other/bb/manifests/docker").await.status,
        StatusCode::OK
    );
}
