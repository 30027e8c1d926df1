use std::fs;
use std::os::unix::fs::MetadataExt;

use super::*;
use crate::error::ErrorKind;
use crate::testutil::{Fixture, dup, layer};

fn never(_: &Digest) -> bool {
    false
}

#[test]
fn load_records_and_resolves() {
    let f = Fixture::new();
    let l = layer(&[("bin/hello", b"hi")]);
    let img = f.load("busybox:latest", std::slice::from_ref(&l));
    assert_eq!(img.references, vec!["docker.io/library/busybox:latest"]);
    assert_eq!(img.familiar_references(), vec!["busybox:latest"]);
    assert_eq!(img.config.cmd, Some(vec!["sh".to_owned()]));
    assert_eq!(img.config.env, vec!["A=b"]);
    assert_eq!(img.size, l.blob.len() as u64);
    assert_eq!(
        (img.os.as_str(), img.architecture.as_str()),
        ("linux", "amd64")
    );
    assert_eq!(img.layers.len(), 1);
    assert_eq!(img.layers[0].digest.as_str(), l.digest);
    assert_eq!(img.layers[0].diff_id.as_str(), l.diff_id);

    assert_eq!(f.store.list().expect("list"), vec![img.clone()]);
    for name in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        img.id.as_str(),
        img.id.hex(),
        img.short_id(),
        &img.id.hex()[..4],
        &format!("sha256:{}", &img.id.hex()[..8]),
        &format!("busybox@{}", img.manifest_digest),
    ] {
        assert_eq!(f.store.resolve(name).expect(name).id, img.id, "{name}");
    }
    for missing in ["nope", "busybox:other", "ffffffffffff", "Bad Name"] {
        let e = f.store.resolve(missing).expect_err(missing);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.to_string(), format!("image not found: {missing}"));
    }
}

#[test]
fn snapshots_are_shared_and_ordered() {
    let f = Fixture::new();
    let base = layer(&[("etc/base", b"base")]);
    let top = layer(&[("etc/top", b"top")]);
    let a = f.load("a", std::slice::from_ref(&base));
    let b = f.load("b", &[dup(&base), top]);
    assert_eq!(f.snapshot_count(), 2, "the base layer is unpacked once");

    let la = f.store.rootfs_layers(&a).expect("layers a");
    let lb = f.store.rootfs_layers(&b).expect("layers b");
    assert_eq!(la.len(), 1);
    assert_eq!(lb.len(), 2);
    assert_eq!(
        lb[1], la[0],
        "lowerdir order: topmost first, shared base last"
    );
    assert_eq!(fs::read(lb[0].join("etc/top")).expect("top"), b"top");
    assert_eq!(fs::read(lb[1].join("etc/base")).expect("base"), b"base");
    let chain = b.chain_ids();
    assert_eq!(
        lb[0],
        f.store
            .root()
            .join("snapshots")
            .join(chain[1].hex())
            .join("fs")
    );

    // A missing snapshot is unpacked again on demand; present ones are kept.
    let ino = fs::metadata(&lb[1]).expect("stat").ino();
    fs::remove_dir_all(lb[0].parent().expect("parent")).expect("rm");
    let again = f.store.rootfs_layers(&b).expect("layers again");
    assert_eq!(again, lb);
    assert_eq!(fs::read(again[0].join("etc/top")).expect("top"), b"top");
    assert_eq!(fs::metadata(&again[1]).expect("stat").ino(), ino);
}

#[test]
fn tag_and_remove_like_docker_rmi() {
    let f = Fixture::new();
    let img = f.load("app:1", &[layer(&[("x", b"x")])]);
    let tagged = f.store.tag("app:1", "127.0.0.1:4566/app:v1").expect("tag");
    assert_eq!(
        tagged.references,
        vec!["127.0.0.1:4566/app:v1", "docker.io/library/app:1"]
    );
    assert_eq!(
        f.store
            .resolve("127.0.0.1:4566/app:v1")
            .expect("resolve")
            .id,
        img.id
    );
    assert_eq!(
        f.store
            .tag(
                "app:1",
                "x@sha256:0000000000000000000000000000000000000000000000000000000000000000"
            )
            .err()
            .map(|e| e.kind()),
        Some(ErrorKind::InvalidArgument)
    );
    assert_eq!(
        f.store.tag("missing", "x").err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );

    // One of several references: only untagged.
    let out = f
        .store
        .remove("127.0.0.1:4566/app:v1", false, &never)
        .expect("untag");
    assert_eq!(out, vec!["Untagged: 127.0.0.1:4566/app:v1"]);
    assert_eq!(
        f.store
            .resolve(img.id.as_str())
            .expect("still there")
            .references,
        vec!["docker.io/library/app:1"]
    );

    // By id with several references: needs force.
    f.store.tag("app:1", "other").expect("tag");
    let e = f
        .store
        .remove(img.short_id(), false, &never)
        .expect_err("must be forced");
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("multiple repositories"), "{e}");
    let out = f
        .store
        .remove(img.short_id(), true, &never)
        .expect("forced");
    assert_eq!(
        out,
        vec![
            "Untagged: app:1".to_owned(),
            "Untagged: other:latest".into(),
            format!("Deleted: {}", img.id)
        ]
    );
    assert!(f.store.list().expect("list").is_empty());
    assert!(
        f.store.content().list().expect("blobs").is_empty(),
        "every blob of the image is gone"
    );
    assert_eq!(f.snapshot_count(), 0);
    assert_eq!(
        f.store
            .remove("app:1", false, &never)
            .err()
            .map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
}

#[test]
fn tags_move_between_images() {
    let f = Fixture::new();
    let old = f.load("app:latest", &[layer(&[("v", b"1")])]);
    let new = f.load("app:latest", &[layer(&[("v", b"2")])]);
    assert_ne!(old.id, new.id);
    assert_eq!(f.store.resolve("app").expect("resolve").id, new.id);
    let dangling = f
        .store
        .resolve(old.id.as_str())
        .expect("old image stays, untagged");
    assert!(dangling.references.is_empty());
    let out = f
        .store
        .remove(old.short_id(), false, &never)
        .expect("remove dangling");
    assert_eq!(out, vec![format!("Deleted: {}", old.id)]);
    assert_eq!(f.store.resolve("app").expect("new one stays").id, new.id);
}

#[test]
fn in_use_images_need_force_and_keep_their_snapshots() {
    let f = Fixture::new();
    let img = f.load("busy", &[layer(&[("f", b"f")])]);
    let dirs = f.store.rootfs_layers(&img).expect("layers");
    let used = |d: &Digest| *d == img.id;
    let e = f.store.remove("busy", false, &used).expect_err("in use");
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("in use"), "{e}");
    assert_eq!(f.store.list().expect("list").len(), 1);

    let out = f.store.remove("busy", true, &used).expect("forced");
    assert_eq!(
        out,
        vec![
            "Untagged: busy:latest".to_owned(),
            format!("Deleted: {}", img.id)
        ]
    );
    assert!(f.store.list().expect("list").is_empty());
    assert!(
        dirs[0].join("f").exists(),
        "a running container's layers stay"
    );
    f.store.gc(&used).expect("gc while in use");
    assert!(dirs[0].join("f").exists());
    f.store.gc(&never).expect("gc once unused");
    assert!(!dirs[0].exists());
    assert!(f.store.content().list().expect("blobs").is_empty());
}

#[test]
fn removal_keeps_what_other_images_share() {
    let f = Fixture::new();
    let base = layer(&[("base", b"b")]);
    let a = f.load("a", std::slice::from_ref(&base));
    let b = f.load("b", &[dup(&base), layer(&[("top", b"t")])]);
    f.store.remove("b", false, &never).expect("remove b");
    assert_eq!(f.snapshot_count(), 1);
    let blobs: Vec<Digest> = f
        .store
        .content()
        .list()
        .expect("list")
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    assert!(blobs.contains(&a.layers[0].digest));
    assert!(!blobs.contains(&b.layers[1].digest));
    assert!(!blobs.contains(&b.id));
    let dirs = f.store.rootfs_layers(&a).expect("a still works");
    assert!(dirs[0].join("base").exists());
}

#[test]
fn concurrent_writers_do_not_lose_tags() {
    let f = Fixture::new();
    f.load("app", &[layer(&[("x", b"x")])]);
    let root = f.store.root().to_path_buf();
    std::thread::scope(|s| {
        for t in 0..4 {
            let root = root.clone();
            s.spawn(move || {
                // Each thread opens the store itself, as separate CLI
                // processes would, so the flock is what keeps them apart.
                let store = ImageStore::open(&root).expect("open");
                for i in 0..10 {
                    store.tag("app", &format!("app:t{t}-{i}")).expect("tag");
                }
            });
        }
    });
    let img = f.store.resolve("app").expect("resolve");
    assert_eq!(img.references.len(), 41);
}

#[test]
fn a_hostile_layer_leaves_nothing_behind() {
    let f = Fixture::new();
    let mut t = crate::unpack::tests::RawTar::default();
    let evil = t.symlink("a", "/").file("a/etc/evil", b"x").finish();
    let l = dockyard_testkit::layer_from_tar(evil).expect("gzip");
    let dir = f.dir("evil");
    crate::testutil::layout(&dir, "evil", &[l]);
    let e = f.store.load(&dir).expect_err("refused");
    assert!(e.to_string().contains("a/etc/evil"), "{e}");
    assert!(!std::path::Path::new("/etc/evil").exists());
    assert!(f.store.list().expect("list").is_empty());
    assert!(f.store.content().list().expect("blobs").is_empty());
    assert_eq!(f.snapshot_count(), 0);
    let leftovers: Vec<_> = fs::read_dir(f.store.root().join("snapshots"))
        .expect("read")
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary snapshot is left: {leftovers:?}"
    );
}
