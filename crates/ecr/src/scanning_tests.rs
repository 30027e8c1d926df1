use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use dockyard_image::Digest;
use dockyard_registry::{ManifestRef, Registry};

use crate::install_feed;
use crate::testutil::{Fx, descriptor};

const STATUS: &str = "Package: libfoo1\nStatus: install ok installed\nSource: foo\nVersion: 1.0-1\nArchitecture: amd64\n\nPackage: bar\nStatus: install ok installed\nVersion: 2.0-1\nArchitecture: amd64\n";
const OS_RELEASE: &str =
    "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";

fn layer(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, body) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, body.as_bytes()).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

/// Pushes an image of the given layers as `name:tag`.
fn push(r: &Registry, name: &str, tag: &str, layers: &[Vec<u8>]) -> Digest {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","tag":"{tag}"}}"#).into_bytes();
    for b in layers.iter().chain([&config]) {
        r.upload_blob(name, &mut &b[..], &Digest::of(b)).unwrap();
    }
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
        "layers": layers.iter().map(|l| descriptor("application/vnd.oci.image.layer.v1.tar+gzip", l)).collect::<Vec<_>>(),
    }))
    .unwrap();
    r.put_manifest(name, &ManifestRef::Tag(tag.into()), None, &m, &[])
        .unwrap()
        .digest
}

const FEED: &str = r#"[
 {"id": "DEBIAN-CVE-2024-0001", "modified": "2024-05-01T00:00:00Z", "aliases": ["CVE-2024-0001"],
  "summary": "foo overflows",
  "affected": [{"package": {"ecosystem": "Debian:12", "name": "foo"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-2"}]}]}],
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]},
 {"id": "DEBIAN-CVE-2024-0002", "modified": "2024-05-02T00:00:00Z",
  "affected": [{"package": {"ecosystem": "Debian:12", "name": "bar"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.5-1"}]}]}]}
]"#;

/// Waits for the scan of `tag` to leave IN_PROGRESS; returns the findings.
fn finished(fx: &Fx, tag: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = fx.call(
            "DescribeImageScanFindings",
            json!({"repositoryName": "app", "imageId": {"imageTag": tag}}),
        );
        if let Ok(v) = &out
            && v["imageScanStatus"]["status"] != "IN_PROGRESS"
        {
            return v.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the scan of {tag} did not finish: {out:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn scans_report_findings_or_say_why_not() {
    let fx = Fx::new();
    fx.create("app");
    let r = &fx.registry;
    let base = layer(&[
        ("etc/os-release", OS_RELEASE),
        ("var/lib/dpkg/status", STATUS),
    ]);
    push(r, "app", "debian", std::slice::from_ref(&base));
    fx.fail(
        "DescribeImageScanFindings",
        json!({"repositoryName": "app", "imageId": {"imageTag": "debian"}}),
        "ScanNotFoundException",
    );

    // No feed: the scan says findings are unknown.
    let start = fx
        .call(
            "StartImageScan",
            json!({"repositoryName": "app", "imageId": {"imageTag": "debian"}}),
        )
        .unwrap();
    assert_eq!(start["imageScanStatus"]["status"], "IN_PROGRESS");
    let v = finished(&fx, "debian");
    assert_eq!(
        v["imageScanStatus"]["status"], "FINDINGS_UNAVAILABLE",
        "{v}"
    );
    assert!(
        v["imageScanStatus"]["description"]
            .as_str()
            .unwrap()
            .contains("load-vulns")
    );
    assert!(v.get("imageScanFindings").is_none());

    // With a feed: foo 1.0-1 is affected (fixed in 1.0-2), bar 2.0-1 not.
    let n = install_feed(FEED.as_bytes(), &fx.dir.join("vulns.json")).unwrap();
    assert_eq!(n, 2);
    assert!(install_feed(b"[{\"id\": 5}]", &fx.dir.join("vulns.json")).is_err());
    fx.call(
        "StartImageScan",
        json!({"repositoryName": "app", "imageId": {"imageTag": "debian"}}),
    )
    .unwrap();
    let v = finished(&fx, "debian");
    assert_eq!(v["imageScanStatus"]["status"], "COMPLETE", "{v}");
    let f = &v["imageScanFindings"];
    assert_eq!(f["findingSeverityCounts"], json!({"CRITICAL": 1}));
    assert_eq!(f["findings"].as_array().unwrap().len(), 1);
    let finding = &f["findings"][0];
    assert_eq!(finding["name"], "DEBIAN-CVE-2024-0001");
    assert_eq!(finding["severity"], "CRITICAL");
    assert!(
        finding["attributes"]
            .as_array()
            .unwrap()
            .contains(&json!({"key": "package_name", "value": "libfoo1"}))
    );
    assert!(f["vulnerabilitySourceUpdatedAt"].as_f64().is_some());
    let d = fx
        .call(
            "DescribeImages",
            json!({"repositoryName": "app", "imageIds": [{"imageTag": "debian"}]}),
        )
        .unwrap();
    let detail = &d["imageDetails"][0];
    assert_eq!(detail["imageScanStatus"]["status"], "COMPLETE");
    assert_eq!(
        detail["imageScanFindingsSummary"]["findingSeverityCounts"]["CRITICAL"],
        1
    );

    // Scan on push; a later layer that deletes the database leaves an
    // image with no packages to scan.
    fx.call(
        "PutImageScanningConfiguration",
        json!({"repositoryName": "app", "imageScanningConfiguration": {"scanOnPush": true}}),
    )
    .unwrap();
    let whiteout = layer(&[("var/lib/dpkg/.wh.status", "")]);
    push(r, "app", "stripped", &[base, whiteout]);
    let v = finished(&fx, "stripped");
    assert_eq!(v["imageScanStatus"]["status"], "UNSUPPORTED_IMAGE", "{v}");
    fx.fail(
        "StartImageScan",
        json!({"repositoryName": "app", "imageId": {"imageTag": "nope"}}),
        "ImageNotFoundException",
    );
}
