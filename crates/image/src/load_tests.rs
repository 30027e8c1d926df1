use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use serde_json::{Value, json};

use super::*;
use crate::error::ErrorKind;
use crate::testutil::{Fixture, layer, layout, raw_tar};

/// The files of a tar, by path (links as `-> target`).
fn tar_files(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut a = tar::Archive::new(bytes);
    for e in a.entries().expect("entries") {
        let mut e = e.expect("entry");
        let p = e.path().expect("path").to_string_lossy().into_owned();
        let mut v = Vec::new();
        e.read_to_end(&mut v).expect("read");
        out.insert(p, v);
    }
    out
}

struct TarBuilder(tar::Builder<Vec<u8>>);

impl TarBuilder {
    fn new() -> Self {
        Self(tar::Builder::new(Vec::new()))
    }
    fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        self.0.append_data(&mut h, path, data).expect("append");
        self
    }
    fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        self.0
            .append_link(&mut h, path, target)
            .expect("append link");
        self
    }
    fn dir_all(&mut self, dir: &Path) -> &mut Self {
        self.0.append_dir_all(".", dir).expect("append dir");
        self
    }
    fn finish(&mut self) -> Vec<u8> {
        let b = std::mem::replace(&mut self.0, tar::Builder::new(Vec::new()));
        b.into_inner().expect("finish")
    }
}

fn config_json(diff_ids: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/app"], "Env": ["X=1"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .expect("json")
}

#[test]
fn oci_layout_save_load_round_trip() {
    let f = Fixture::new();
    let dir = f.dir("busybox-layout");
    dockyard_testkit::busybox_oci_layout(&dir, "busybox:latest").expect("busybox layout");
    let loaded = f.store.load(&dir).expect("load dir");
    assert_eq!(loaded.len(), 1);
    let img = &loaded[0];
    assert_eq!(img.references, vec!["docker.io/library/busybox:latest"]);
    let layers = f.store.rootfs_layers(img).expect("layers");
    assert_eq!(
        fs::read_link(layers[0].join("bin/sh")).expect("sh"),
        Path::new("busybox")
    );

    let mut out = Vec::new();
    f.store
        .save(&["busybox".to_owned()], &mut out)
        .expect("save");
    let files = tar_files(&out);
    let index: Value = serde_json::from_slice(&files["index.json"]).expect("index");
    let ann = &index["manifests"][0]["annotations"];
    assert_eq!(
        ann[crate::manifest::ANNOTATION_IMAGE_NAME],
        "docker.io/library/busybox:latest"
    );
    assert_eq!(ann[crate::manifest::ANNOTATION_REF_NAME], "latest");
    assert_eq!(
        index["manifests"][0]["digest"],
        img.manifest_digest.as_str()
    );
    let docker: Value = serde_json::from_slice(&files["manifest.json"]).expect("manifest.json");
    assert_eq!(docker[0]["RepoTags"], json!(["busybox:latest"]));
    assert_eq!(
        docker[0]["Config"],
        format!("blobs/sha256/{}", img.id.hex())
    );
    assert!(files.contains_key("oci-layout"));
    for (path, data) in &files {
        if let Some(hex) = path.strip_prefix("blobs/sha256/").filter(|h| !h.is_empty()) {
            assert_eq!(
                Digest::of(data).hex(),
                hex,
                "every blob is stored under its digest"
            );
        }
    }

    let archive = f.tmp.path().join("busybox.tar");
    fs::write(&archive, &out).expect("write archive");
    let other = Fixture::new();
    let again = other.store.load(&archive).expect("load the saved archive");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, img.id);
    assert_eq!(again[0].manifest_digest, img.manifest_digest);
    assert_eq!(again[0].references, img.references);
    assert_eq!(again[0].layers, img.layers);
    let mut b1 = f.store.content().list().expect("list");
    let mut b2 = other.store.content().list().expect("list");
    b1.sort();
    b2.sort();
    assert_eq!(
        b1, b2,
        "the archive carries exactly the image's blobs and nothing else stays"
    );

    // Saved by id: no name in the archive; loaded untagged.
    let mut by_id = Vec::new();
    f.store
        .save(&[img.short_id().to_owned()], &mut by_id)
        .expect("save by id");
    let idx: Value = serde_json::from_slice(&tar_files(&by_id)["index.json"]).expect("index");
    assert!(idx["manifests"][0].get("annotations").is_none());
    let third = Fixture::new();
    let p = third.tmp.path().join("by-id.tar");
    fs::write(&p, &by_id).expect("write");
    let l = third.store.load(&p).expect("load");
    assert!(l[0].references.is_empty());
    assert_eq!(
        third.store.resolve(img.id.as_str()).expect("by id").id,
        img.id
    );
}

#[test]
fn legacy_docker_save_archive() {
    let l1 = raw_tar(&[("app", b"binary")]);
    let l2 = raw_tar(&[("etc/conf", b"conf")]);
    let d1 = Digest::of(&l1).to_string();
    let d2 = Digest::of(&l2).to_string();
    let config = config_json(&[&d1, &d2, &d1]);
    let config_name = format!("{}.json", Digest::of(&config).hex());
    let manifest = json!([{
        "Config": config_name,
        "RepoTags": ["app:1", "127.0.0.1:4566/app:2"],
        "Layers": ["aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar"],
    }]);
    let tar = TarBuilder::new()
        .file("aaa/VERSION", b"1.0")
        .file("aaa/json", b"{}")
        .file("aaa/layer.tar", &l1)
        .file("bbb/layer.tar", &l2)
        .symlink("ccc/layer.tar", "../aaa/layer.tar")
        .file(&config_name, &config)
        .file("repositories", br#"{"app":{"1":"aaa"}}"#)
        .file(
            "manifest.json",
            &serde_json::to_vec(&manifest).expect("json"),
        )
        .finish();

    let f = Fixture::new();
    let path = f.tmp.path().join("docker.tar");
    fs::write(&path, &tar).expect("write");
    let loaded = f.store.load(&path).expect("load docker save");
    assert_eq!(loaded.len(), 1);
    let img = &loaded[0];
    assert_eq!(img.id, Digest::of(&config));
    assert_eq!(
        img.references,
        vec!["127.0.0.1:4566/app:2", "docker.io/library/app:1"]
    );
    assert_eq!(img.config.cmd, Some(vec!["/app".to_owned()]));
    assert_eq!(img.layers.len(), 3);
    assert_eq!(img.layers[0].media_type, crate::manifest::OCI_LAYER);
    assert_eq!(img.layers[2].digest.to_string(), d1);
    let dirs = f.store.rootfs_layers(img).expect("layers");
    assert_eq!(fs::read(dirs[1].join("etc/conf")).expect("conf"), b"conf");
    assert_eq!(fs::read(dirs[0].join("app")).expect("app"), b"binary");

    let blobs: Vec<Digest> = f
        .store
        .content()
        .list()
        .expect("list")
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    assert!(
        !blobs.contains(&Digest::of(br#"{"app":{"1":"aaa"}}"#)),
        "archive bookkeeping is not kept"
    );
    assert!(!blobs.contains(&Digest::of(b"1.0")));
    assert_eq!(blobs.len(), 4, "manifest, config and two layers: {blobs:?}");

    // The same archive gzip-compressed loads the same.
    let gz_path = f.tmp.path().join("docker.tar.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&tar).expect("gzip");
    fs::write(&gz_path, e.finish().expect("gzip")).expect("write");
    let other = Fixture::new();
    assert_eq!(other.store.load(&gz_path).expect("load gz")[0].id, img.id);
}

/// A layout like Docker 25+ writes: OCI index with containerd names,
/// plus `manifest.json`.
#[test]
fn docker_25_archive_and_ref_name_rules() {
    let f = Fixture::new();
    let dir = f.dir("d25");
    let l = layer(&[("hello", b"world")]);
    layout(&dir, "latest", std::slice::from_ref(&l));
    let mut index: Value =
        serde_json::from_slice(&fs::read(dir.join("index.json")).expect("read")).expect("json");
    let m = index["manifests"][0].clone();
    let mut named = m.clone();
    named["annotations"][crate::manifest::ANNOTATION_IMAGE_NAME] =
        json!("docker.io/library/web:latest");
    index["manifests"] = json!([named]);
    fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .expect("write");
    let manifest: Value = {
        let hex = m["digest"]
            .as_str()
            .expect("digest")
            .trim_start_matches("sha256:")
            .to_owned();
        serde_json::from_slice(&fs::read(dir.join("blobs/sha256").join(hex)).expect("read"))
            .expect("json")
    };
    let cfg = manifest["config"]["digest"]
        .as_str()
        .expect("config")
        .trim_start_matches("sha256:")
        .to_owned();
    let docker =
        json!([{"Config": format!("blobs/sha256/{cfg}"), "RepoTags": ["web:extra"], "Layers": []}]);
    fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec(&docker).expect("json"),
    )
    .expect("write");
    let tar = TarBuilder::new().dir_all(&dir).finish();
    let p = f.tmp.path().join("d25.tar");
    fs::write(&p, tar).expect("write");
    let img = f.store.load(&p).expect("load")[0].clone();
    assert_eq!(
        img.references,
        vec![
            "docker.io/library/web:extra",
            "docker.io/library/web:latest"
        ]
    );

    for (ref_name, want) in [
        ("v1.2", vec![]),
        ("latest", vec![]),
        ("3", vec![]),
        ("busybox", vec!["docker.io/library/busybox:latest"]),
        ("127.0.0.1:4566/app:v1", vec!["127.0.0.1:4566/app:v1"]),
        ("team/app", vec!["docker.io/team/app:latest"]),
    ] {
        let f = Fixture::new();
        let dir = f.dir("ref");
        layout(&dir, ref_name, &[layer(&[("x", b"x")])]);
        let got = f.store.load(&dir).expect("load")[0].references.clone();
        assert_eq!(got, want, "ref.name {ref_name:?}");
    }
}

#[test]
fn nested_index_picks_linux_amd64() {
    let f = Fixture::new();
    let dir = f.dir("multi");
    let amd = layout(&dir, "ignored", &[layer(&[("arch", b"amd64")])]);
    let size = fs::metadata(dir.join("blobs/sha256").join(&amd[7..]))
        .expect("stat")
        .len();
    let nested = json!({
        "schemaVersion": 2,
        "mediaType": crate::manifest::OCI_INDEX,
        "manifests": [
            {"mediaType": crate::manifest::OCI_MANIFEST, "digest": Digest::of(b"arm").to_string(), "size": 3,
             "platform": {"os": "linux", "architecture": "arm64"}},
            {"mediaType": crate::manifest::OCI_MANIFEST, "digest": amd, "size": size,
             "platform": {"os": "linux", "architecture": "amd64"}},
        ],
    });
    let nested_bytes = serde_json::to_vec(&nested).expect("json");
    let nd = Digest::of(&nested_bytes);
    fs::write(dir.join("blobs/sha256").join(nd.hex()), &nested_bytes).expect("write");
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": crate::manifest::OCI_INDEX, "digest": nd, "size": nested_bytes.len(),
        "annotations": {crate::manifest::ANNOTATION_REF_NAME: "multi:1"},
    }]});
    fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .expect("write");
    let img = f.store.load(&dir).expect("load")[0].clone();
    assert_eq!(img.manifest_digest.as_str(), amd);
    assert_eq!(img.references, vec!["docker.io/library/multi:1"]);
}

#[test]
fn tampered_archives_are_refused_and_leave_nothing() {
    let f = Fixture::new();
    let dir = f.dir("tampered");
    let l = layer(&[("file", b"original")]);
    layout(&dir, "t", std::slice::from_ref(&l));
    // Replace the layer blob with other content under the same name.
    let other = layer(&[("file", b"tampered")]);
    fs::write(dir.join("blobs/sha256").join(&l.digest[7..]), &other.blob).expect("write");

    let e = f.store.load(&dir).expect_err("tampered directory");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains(&l.digest), "{e}");
    let tar = TarBuilder::new().dir_all(&dir).finish();
    let p = f.tmp.path().join("tampered.tar");
    fs::write(&p, tar).expect("write");
    let e = f.store.load(&p).expect_err("tampered tar");
    assert!(e.to_string().contains(&l.digest), "{e}");
    assert!(f.store.list().expect("list").is_empty());
    assert!(f.store.content().list().expect("blobs").is_empty());

    let junk = f.tmp.path().join("junk.tar");
    fs::write(&junk, TarBuilder::new().file("hello", b"x").finish()).expect("write");
    let e = f.store.load(&junk).expect_err("not an image archive");
    assert!(e.to_string().contains("neither an OCI image layout"), "{e}");
    assert!(f.store.content().list().expect("blobs").is_empty());
}
