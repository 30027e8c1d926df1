use dockyard_image::manifest::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST,
};
use dockyard_store::StoreExt;
use serde_json::json;

use super::*;
use crate::testutil::{Fixture, descriptor, image_manifest, push_blob, push_image};

fn tag(t: &str) -> ManifestRef {
    ManifestRef::Tag(t.into())
}

/// Everything a failed push could have left behind.
fn footprint(r: &Registry, name: &str) -> (usize, usize, usize) {
    (
        r.content().list().unwrap().len(),
        r.store().list(&keys::manifests_prefix(name)).unwrap().len(),
        r.store().list(&keys::tags_prefix(name)).unwrap().len(),
    )
}

#[test]
fn push_then_pull_by_tag_and_digest() {
    let f = Fixture::new();
    let r = &f.registry;
    let (d, bytes) = push_image(r, "team/app", "v1", b"1");
    for reference in [tag("v1"), ManifestRef::Digest(d.clone())] {
        let m = r.get_manifest("team/app", &reference, &[]).unwrap();
        assert_eq!(m.bytes, bytes, "stored byte for byte");
        assert_eq!(m.info.digest, d);
        assert_eq!(m.info.media_type, OCI_MANIFEST);
        assert_eq!(m.info.size, bytes.len() as u64);
        assert_eq!(m.info.pushed_at, r.now());
    }
    assert!(matches!(
        r.get_manifest("team/app", &tag("v2"), &[]),
        Err(RegistryError::ManifestUnknown { .. })
    ));
    assert!(matches!(
        r.get_manifest("team/other", &tag("v1"), &[]),
        Err(RegistryError::NameUnknown(_))
    ));
}

#[test]
fn content_negotiation() {
    let f = Fixture::new();
    let r = &f.registry;
    push_image(r, "a", "v1", b"1");
    let ok = |accept: &[&str]| {
        let a: Vec<String> = accept.iter().map(|s| s.to_string()).collect();
        r.stat_manifest("a", &tag("v1"), &a)
    };
    assert!(ok(&[]).is_ok());
    assert!(ok(&[&format!("{DOCKER_MANIFEST}, {OCI_MANIFEST};q=0.5")]).is_ok());
    assert!(ok(&[DOCKER_MANIFEST, OCI_MANIFEST]).is_ok());
    assert!(ok(&["*/*"]).is_ok());
    let e = ok(&[DOCKER_MANIFEST, DOCKER_MANIFEST_LIST]).unwrap_err();
    assert!(matches!(e, RegistryError::NotAcceptable { .. }), "{e}");
    assert_eq!(e.code().as_str(), "MANIFEST_UNKNOWN");
}

#[test]
fn invalid_pushes_store_nothing() {
    let f = Fixture::with_config(|c| c.max_manifest_size = 4096);
    let r = &f.registry;
    let (m, config, layer) = image_manifest(b"1");
    // Only the config is in the repository; the layer is elsewhere.
    push_blob(r, "a", &config);
    push_blob(r, "other", &layer);
    let before = footprint(r, "a");
    let digest = Digest::of(&m);

    let e = r
        .put_manifest("a", &tag("v1"), Some(OCI_MANIFEST), &m, &[])
        .unwrap_err();
    match &e {
        RegistryError::ManifestBlobUnknown { digests, .. } => {
            assert_eq!(digests, &[Digest::of(&layer)]);
        }
        other => panic!("{other}"),
    }

    let wrong_size = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": Digest::of(&config).to_string(), "size": 999},
        "layers": [],
    });
    let huge = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &config), "layers": [],
        "annotations": {"pad": "x".repeat(5000)},
    });
    let cases: Vec<(Vec<u8>, ManifestRef, Option<&str>, &str)> = vec![
        (
            serde_json::to_vec(&wrong_size).unwrap(),
            tag("v1"),
            None,
            "MANIFEST_INVALID",
        ),
        (
            serde_json::to_vec(&huge).unwrap(),
            tag("v1"),
            None,
            "MANIFEST_INVALID",
        ),
        (
            m.clone(),
            ManifestRef::Digest(Digest::of(b"nope")),
            None,
            "DIGEST_INVALID",
        ),
        (
            m.clone(),
            tag("v1"),
            Some("application/vnd.acme.thing+json"),
            "MANIFEST_INVALID",
        ),
        (
            b"{}".to_vec(),
            tag("v1"),
            Some(OCI_MANIFEST),
            "MANIFEST_INVALID",
        ),
    ];
    for (bytes, reference, ct, code) in cases {
        let e = r
            .put_manifest("a", &reference, ct, &bytes, &[])
            .unwrap_err();
        assert_eq!(e.code().as_str(), code, "{e}");
    }
    let e = r
        .put_manifest(
            "a",
            &tag("v1"),
            None,
            &serde_json::to_vec(&huge).unwrap(),
            &[],
        )
        .unwrap_err();
    assert_eq!(e.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
    assert!(matches!(
        r.put_manifest("A", &tag("v1"), None, &m, &[]),
        Err(RegistryError::NameInvalid(_))
    ));
    assert!(matches!(
        r.put_manifest("a", &tag("v1"), None, &m, &["bad tag".into()]),
        Err(RegistryError::TagInvalid(_))
    ));
    assert_eq!(footprint(r, "a"), before);
    assert!(r.content().size(&digest).unwrap().is_none());

    // Once the layer is mounted the same push goes through.
    assert!(r.mount_blob("a", &Digest::of(&layer), "other").unwrap());
    let p = r
        .put_manifest(
            "a",
            &ManifestRef::Digest(digest.clone()),
            Some(OCI_MANIFEST),
            &m,
            &["x".into()],
        )
        .unwrap();
    assert_eq!(
        (p.digest, p.subject, p.tags),
        (digest, None, vec!["x".to_owned()])
    );
}

#[test]
fn indexes_need_their_children() {
    let f = Fixture::new();
    let r = &f.registry;
    let (_, child_bytes) = push_image(r, "a", "amd64", b"1");
    let (m2, config2, layer2) = image_manifest(b"2");
    let index = |entries: Vec<serde_json::Value>| {
        serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}),
        )
        .unwrap()
    };
    let i = index(vec![
        descriptor(OCI_MANIFEST, &child_bytes),
        descriptor(OCI_MANIFEST, &m2),
    ]);
    match r.put_manifest("a", &tag("multi"), Some(OCI_INDEX), &i, &[]) {
        Err(RegistryError::ManifestBlobUnknown { digests, .. }) => {
            assert_eq!(digests, [Digest::of(&m2)]);
        }
        other => panic!("{:?}", other.map(|p| p.digest)),
    }
    push_blob(r, "a", &config2);
    push_blob(r, "a", &layer2);
    r.put_manifest("a", &ManifestRef::Digest(Digest::of(&m2)), None, &m2, &[])
        .unwrap();
    let p = r
        .put_manifest("a", &tag("multi"), Some(OCI_INDEX), &i, &[])
        .unwrap();
    let got = r.get_manifest("a", &tag("multi"), &[]).unwrap();
    assert_eq!(
        (got.info.digest, got.info.media_type.as_str()),
        (p.digest, OCI_INDEX)
    );

    // A child that is a manifest elsewhere does not count.
    let e = r
        .put_manifest("b", &tag("multi"), Some(OCI_INDEX), &i, &[])
        .unwrap_err();
    assert_eq!(e.code().as_str(), "MANIFEST_BLOB_UNKNOWN");
}

#[test]
fn docker_schema2_types() {
    let f = Fixture::new();
    let r = &f.registry;
    let config = b"{\"architecture\":\"amd64\"}";
    let layer = b"docker-layer";
    push_blob(r, "d", config);
    push_blob(r, "d", layer);
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": descriptor("application/vnd.docker.container.image.v1+json", config),
        "layers": [descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", layer)],
    }))
    .unwrap();
    r.put_manifest("d", &tag("v1"), Some(DOCKER_MANIFEST), &m, &[])
        .unwrap();
    let list = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST,
        "manifests": [{"mediaType": DOCKER_MANIFEST, "digest": Digest::of(&m).to_string(),
            "size": m.len(), "platform": {"architecture": "amd64", "os": "linux"}}],
    }))
    .unwrap();
    r.put_manifest("d", &tag("list"), Some(DOCKER_MANIFEST_LIST), &list, &[])
        .unwrap();
    let info = r
        .stat_manifest("d", &tag("list"), &[DOCKER_MANIFEST_LIST.into()])
        .unwrap();
    assert_eq!(info.media_type, DOCKER_MANIFEST_LIST);
    assert!(
        r.stat_manifest("d", &tag("v1"), &[OCI_MANIFEST.into()])
            .is_err()
    );
}

#[test]
fn referrers_and_subjects() {
    let f = Fixture::new();
    let r = &f.registry;
    let (subject, subject_bytes) = push_image(r, "a", "v1", b"1");
    let empty = b"{}";
    push_blob(r, "a", empty);
    let sbom_layer = b"sbom contents";
    push_blob(r, "a", sbom_layer);
    let artifact = |artifact_type: &str, subject: serde_json::Value| {
        serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": descriptor("application/vnd.oci.empty.v1+json", empty),
            "layers": [descriptor("text/spdx", sbom_layer)],
            "subject": subject,
            "annotations": {"org.example": artifact_type},
        }))
        .unwrap()
    };
    let sbom = artifact(
        "application/vnd.example.sbom",
        descriptor(OCI_MANIFEST, &subject_bytes),
    );
    let sig = artifact(
        "application/vnd.example.sig",
        descriptor(OCI_MANIFEST, &subject_bytes),
    );
    let p = r
        .put_manifest(
            "a",
            &ManifestRef::Digest(Digest::of(&sbom)),
            None,
            &sbom,
            &[],
        )
        .unwrap();
    assert_eq!(p.subject.as_ref(), Some(&subject));
    r.put_manifest("a", &ManifestRef::Digest(Digest::of(&sig)), None, &sig, &[])
        .unwrap();
    // A subject that does not exist (yet) is fine.
    let dangling = artifact(
        "application/vnd.example.sig",
        json!({"mediaType": OCI_MANIFEST, "digest": Digest::of(b"later").to_string(), "size": 5}),
    );
    r.put_manifest(
        "a",
        &ManifestRef::Digest(Digest::of(&dangling)),
        None,
        &dangling,
        &[],
    )
    .unwrap();

    let all = r.referrers("a", &subject, None).unwrap();
    assert_eq!(all.len(), 2);
    let s = all.iter().find(|x| x.digest == Digest::of(&sbom)).unwrap();
    assert_eq!(
        s.artifact_type.as_deref(),
        Some("application/vnd.example.sbom")
    );
    assert_eq!(s.size, sbom.len() as u64);
    assert_eq!(
        s.annotations.as_ref().unwrap()["org.example"],
        "application/vnd.example.sbom"
    );
    let sigs = r
        .referrers("a", &subject, Some("application/vnd.example.sig"))
        .unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].digest, Digest::of(&sig));
    assert_eq!(
        r.referrers("a", &Digest::of(b"later"), None).unwrap().len(),
        1
    );
    assert!(
        r.referrers("a", &Digest::of(b"none"), None)
            .unwrap()
            .is_empty()
    );

    r.delete_manifest("a", &ManifestRef::Digest(Digest::of(&sig)))
        .unwrap();
    assert_eq!(r.referrers("a", &subject, None).unwrap().len(), 1);
    // An image manifest without artifactType is listed with its config type.
    let (m, config, layer) = image_manifest(b"2");
    let mut v: serde_json::Value = serde_json::from_slice(&m).unwrap();
    v["subject"] = descriptor(OCI_MANIFEST, &subject_bytes);
    let m = serde_json::to_vec(&v).unwrap();
    push_blob(r, "a", &config);
    push_blob(r, "a", &layer);
    r.put_manifest("a", &tag("signed"), None, &m, &[]).unwrap();
    let by_config = r.referrers("a", &subject, Some(OCI_CONFIG)).unwrap();
    assert_eq!(by_config.len(), 1);
    assert_eq!(by_config[0].media_type, OCI_MANIFEST);
}

#[test]
fn delete_by_tag_and_by_digest() {
    let f = Fixture::new();
    let r = &f.registry;
    let (d, bytes) = push_image(r, "a", "v1", b"1");
    r.put_manifest("a", &tag("v2"), None, &bytes, &[]).unwrap();
    r.delete_manifest("a", &tag("v1")).unwrap();
    assert!(r.stat_manifest("a", &tag("v1"), &[]).is_err());
    assert!(r.stat_manifest("a", &tag("v2"), &[]).is_ok());
    assert!(matches!(
        r.delete_manifest("a", &tag("v1")),
        Err(RegistryError::ManifestUnknown { .. })
    ));
    r.delete_manifest("a", &ManifestRef::Digest(d.clone()))
        .unwrap();
    assert!(r.stat_manifest("a", &tag("v2"), &[]).is_err());
    assert!(
        r.stat_manifest("a", &ManifestRef::Digest(d.clone()), &[])
            .is_err()
    );
    assert!(r.tags("a", None, None).unwrap().items.is_empty());
    assert!(matches!(
        r.delete_manifest("a", &ManifestRef::Digest(d)),
        Err(RegistryError::ManifestUnknown { .. })
    ));
    assert!(matches!(
        r.delete_manifest("zz", &tag("v1")),
        Err(RegistryError::NameUnknown(_))
    ));
    // The blobs are still there until garbage collection.
    let (_, config, _) = image_manifest(b"1");
    assert!(r.stat_blob("a", &Digest::of(&config)).is_ok());
}

/// Tags starting with `v` are immutable; every push is recorded.
#[derive(Default)]
struct Immutable(std::sync::Mutex<Vec<(String, Digest, Vec<String>)>>);

impl crate::PushHooks for Immutable {
    fn tag_mutable(&self, _: &str, tag: &str) -> Result<bool, RegistryError> {
        Ok(!tag.starts_with('v'))
    }

    fn pushed(&self, _: &Registry, repo: &str, m: &PushedManifest) {
        self.0
            .lock()
            .unwrap()
            .push((repo.to_owned(), m.digest.clone(), m.tags.clone()));
    }
}

#[test]
fn immutable_tags_refuse_to_move_and_pushes_are_told() {
    let hooks = std::sync::Arc::new(Immutable::default());
    let h = hooks.clone();
    let f = Fixture::with_config(|c| c.hooks = h);
    let r = &f.registry;
    let (d1, m1) = push_image(r, "a", "v1", b"1");
    // The same manifest again under the immutable tag is fine.
    r.put_manifest("a", &tag("v1"), None, &m1, &[]).unwrap();
    let (m2, config, layer) = image_manifest(b"2");
    push_blob(r, "a", &config);
    push_blob(r, "a", &layer);
    let e = r.put_manifest("a", &tag("v1"), None, &m2, &[]).unwrap_err();
    assert!(matches!(e, RegistryError::TagImmutable { .. }), "{e}");
    assert_eq!(e.code().as_str(), "TAG_INVALID");
    assert_eq!(e.status(), http::StatusCode::BAD_REQUEST);
    assert!(e.to_string().contains("'v1'"), "{e}");
    // Nothing of the refused push was stored: not even the manifest.
    assert_eq!(r.list_images("a").unwrap().len(), 1);
    assert_eq!(
        r.get_manifest("a", &tag("v1"), &[]).unwrap().info.digest,
        d1
    );
    // Mutable tags move.
    r.put_manifest("a", &tag("latest"), None, &m1, &[]).unwrap();
    let d2 = r
        .put_manifest("a", &tag("latest"), None, &m2, &[])
        .unwrap()
        .digest;
    assert_eq!(
        r.get_manifest("a", &tag("latest"), &[])
            .unwrap()
            .info
            .digest,
        d2
    );
    let seen = hooks.0.lock().unwrap();
    assert_eq!(seen.len(), 4, "one notice per stored push: {seen:?}");
    assert_eq!(seen[3], ("a".to_owned(), d2, vec!["latest".to_owned()]));
}
