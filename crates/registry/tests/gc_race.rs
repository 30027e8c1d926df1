//! Garbage collection running concurrently with pushes (blob uploads, then
//! the manifest) must never leave a pushed manifest with a missing blob,
//! and must not collect the blobs of a push in progress.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use dockyard_image::{ContentStore, Digest, FsContentStore};
use dockyard_registry::{
    AllowAll, Clock, ManifestRef, Registry, RegistryConfig, RegistryError, SystemClock,
};
use dockyard_store::MemStore;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += chrono::Duration::from_std(d).unwrap();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

struct Setup {
    registry: Registry,
    content: Arc<FsContentStore>,
    _dir: tempfile::TempDir,
}

fn setup(clock: Arc<dyn Clock>, grace: Duration) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let content = Arc::new(FsContentStore::open(dir.path().join("content")).unwrap());
    let registry = Registry::new(
        content.clone(),
        Arc::new(MemStore::new()),
        Arc::new(AllowAll),
        RegistryConfig {
            gc_grace: grace,
            clock,
            ..Default::default()
        },
    );
    Setup {
        registry,
        content,
        _dir: dir,
    }
}

fn descriptor(media_type: &str, data: &[u8]) -> serde_json::Value {
    serde_json::json!({"mediaType": media_type, "digest": Digest::of(data).to_string(), "size": data.len()})
}

fn manifest(config: &[u8], layer: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer)],
    }))
    .unwrap()
}

/// Retries while the registry says "busy" (a deletion of the same blob in
/// progress), a bounded number of times so a livelock fails the test.
fn retry_busy<T>(mut f: impl FnMut() -> Result<T, RegistryError>) -> Result<T, RegistryError> {
    let mut last = None;
    for _ in 0..10 {
        match f() {
            Err(e @ RegistryError::Busy(_)) => {
                last = Some(e);
                std::thread::yield_now();
            }
            other => return other,
        }
    }
    Err(last.expect("the loop ran"))
}

/// Uploads the blobs the client does not see in the repository (checking
/// with a stat, like `HEAD`), then pushes the manifest.
fn push(
    r: &Registry,
    repo: &str,
    tag: &str,
    config: &[u8],
    layer: &[u8],
) -> Result<Digest, RegistryError> {
    for b in [config, layer] {
        let d = Digest::of(b);
        if r.stat_blob(repo, &d).is_err() {
            retry_busy(|| r.upload_blob(repo, &mut &b[..], &d))?;
        }
    }
    let m = manifest(config, layer);
    retry_busy(|| {
        r.put_manifest(
            repo,
            &ManifestRef::Tag(tag.into()),
            Some(OCI_MANIFEST),
            &m,
            &[],
        )
    })
    .map(|p| p.digest)
}

/// Pulls `repo:tag` completely, checking every digest; returns the
/// digests involved.
fn pull(r: &Registry, repo: &str, tag: &str) -> Vec<Digest> {
    let m = r
        .get_manifest(repo, &ManifestRef::Tag(tag.into()), &[])
        .unwrap_or_else(|e| panic!("{repo}:{tag}: {e}"));
    assert_eq!(Digest::of(&m.bytes), m.info.digest);
    let v: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap();
    let mut out = vec![m.info.digest.clone()];
    let descs = std::iter::once(&v["config"]).chain(v["layers"].as_array().unwrap());
    for desc in descs {
        let d = Digest::parse(desc["digest"].as_str().unwrap()).unwrap();
        let (mut f, size) = r
            .open_blob(repo, &d)
            .unwrap_or_else(|e| panic!("{repo}:{tag} blob {d}: {e}"));
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        assert_eq!((Digest::of(&data), data.len() as u64), (d.clone(), size));
        out.push(d);
    }
    out
}

fn stored(content: &FsContentStore) -> BTreeSet<Digest> {
    content
        .list()
        .unwrap()
        .into_iter()
        .map(|(d, _)| d)
        .collect()
}

const PUSHERS: usize = 3;
const IMAGES: usize = 40;
const SHARED: usize = 12;

/// With the normal grace period: old garbage, some with the very content
/// the pushers are uploading, is collected while they push; every push
/// succeeds and stays whole.
#[test]
fn concurrent_pushes_and_gc_with_a_grace_period() {
    let clock = Arc::new(ManualClock(Mutex::new(
        DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap(),
    )));
    let grace = Duration::from_secs(3600);
    let s = setup(clock.clone(), grace);
    let r = &s.registry;

    // Garbage from long ago: images pushed then deleted, whose layers are
    // the shared layers the pushers will use, and blobs never referenced.
    for k in 0..SHARED {
        let layer = format!("shared layer {k}").into_bytes();
        let config = format!("old config {k}").into_bytes();
        let d = push(r, "old", &format!("gone{k}"), &config, &layer).unwrap();
        r.delete_manifest("old", &ManifestRef::Digest(d)).unwrap();
        let orphan = format!("orphan {k}").into_bytes();
        r.upload_blob("old", &mut &orphan[..], &Digest::of(&orphan))
            .unwrap();
    }
    clock.advance(2 * grace);

    let stop = Arc::new(AtomicBool::new(false));
    let deleted = Arc::new(AtomicUsize::new(0));
    let runs = Arc::new(AtomicUsize::new(0));
    let pushed = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        let gc = {
            let (stop, deleted, runs, clock) =
                (stop.clone(), deleted.clone(), runs.clone(), clock.clone());
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) || runs.load(Ordering::Relaxed) < 3 {
                    let report = r.gc().unwrap();
                    deleted.fetch_add(report.deleted.len(), Ordering::Relaxed);
                    runs.fetch_add(1, Ordering::Relaxed);
                    // Time moves, but far less than the grace period over
                    // the whole test.
                    clock.advance(Duration::from_secs(1));
                }
            })
        };
        let pushers: Vec<_> = (0..PUSHERS)
            .map(|t| {
                let pushed = pushed.clone();
                scope.spawn(move || {
                    for i in 0..IMAGES {
                        let repo = if i % 2 == 0 {
                            "old".to_owned()
                        } else {
                            format!("new/{t}")
                        };
                        let tag = format!("t{t}-{i}");
                        let config = format!("config {t} {i}").into_bytes();
                        let layer = format!("shared layer {}", (t * 5 + i) % SHARED).into_bytes();
                        let d = push(r, &repo, &tag, &config, &layer)
                            .unwrap_or_else(|e| panic!("push {repo}:{tag}: {e}"));
                        pushed.lock().unwrap().push((repo, tag, d));
                    }
                })
            })
            .collect();
        // Stop the collector even when a pusher failed, else the scope
        // would wait for it forever.
        let results: Vec<_> = pushers.into_iter().map(|p| p.join()).collect();
        stop.store(true, Ordering::Relaxed);
        gc.join().unwrap();
        for r in results {
            if let Err(panic) = r {
                std::panic::resume_unwind(panic);
            }
        }
    });

    assert!(
        deleted.load(Ordering::Relaxed) >= SHARED,
        "the old garbage went while pushing"
    );
    let pushed = pushed.lock().unwrap();
    assert_eq!(pushed.len(), PUSHERS * IMAGES);
    let mut needed = BTreeSet::new();
    for (repo, tag, d) in pushed.iter() {
        let digests = pull(r, repo, tag);
        assert_eq!(&digests[0], d);
        needed.extend(digests);
    }
    // Long after: exactly what the pushed images need remains.
    clock.advance(2 * grace);
    r.gc().unwrap();
    assert_eq!(stored(&s.content), needed);
    for (repo, tag, _) in pushed.iter() {
        pull(r, repo, tag);
    }
}

/// With no grace period at all the collector takes every unreferenced
/// blob at once, so pushes fail often; but a push that succeeded is never
/// left with a missing blob, and nothing leaks.
#[test]
fn concurrent_pushes_and_gc_without_grace_never_dangle() {
    let s = setup(Arc::new(SystemClock), Duration::ZERO);
    let r = &s.registry;
    let stop = AtomicBool::new(false);
    let failures = AtomicUsize::new(0);
    let collected = AtomicUsize::new(0);
    let pushed = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        let gc = scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                collected.fetch_add(r.gc().unwrap().deleted.len(), Ordering::Relaxed);
                std::thread::yield_now();
            }
        });
        let pushers: Vec<_> = (0..PUSHERS)
            .map(|t| {
                let (pushed, failures) = (&pushed, &failures);
                scope.spawn(move || {
                    for i in 0..IMAGES {
                        let repo = format!("r{}", i % 2);
                        let tag = format!("t{t}-{i}");
                        let config = format!("config {t} {i}").into_bytes();
                        let layer = format!("layer {}", (t + i) % SHARED).into_bytes();
                        let mut digest = None;
                        for _ in 0..200 {
                            match push(r, &repo, &tag, &config, &layer) {
                                Ok(d) => {
                                    digest = Some(d);
                                    break;
                                }
                                // The collector took a blob before the
                                // manifest referenced it: push again.
                                Err(
                                    RegistryError::ManifestBlobUnknown { .. }
                                    | RegistryError::BlobUnknown { .. }
                                    | RegistryError::Busy(_),
                                ) => {
                                    failures.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(e) => panic!("push {repo}:{tag}: {e}"),
                            }
                        }
                        let Some(d) = digest else { continue };
                        // Some images are deleted again, making garbage.
                        let delete = i % 3 == 0;
                        if delete {
                            r.delete_manifest(&repo, &ManifestRef::Digest(d.clone()))
                                .unwrap();
                        }
                        pushed.lock().unwrap().push((repo, tag, d, delete));
                    }
                })
            })
            .collect();
        // Stop the collector even when a pusher failed, else the scope
        // would wait for it forever.
        let results: Vec<_> = pushers.into_iter().map(|p| p.join()).collect();
        stop.store(true, Ordering::Relaxed);
        gc.join().unwrap();
        for r in results {
            if let Err(panic) = r {
                std::panic::resume_unwind(panic);
            }
        }
    });
    let pushed = pushed.lock().unwrap();
    eprintln!(
        "pushed {}, failed attempts {}, collected {}",
        pushed.len(),
        failures.load(Ordering::Relaxed),
        collected.load(Ordering::Relaxed)
    );
    assert!(!pushed.is_empty());
    let mut needed = BTreeSet::new();
    for (repo, tag, d, deleted) in pushed.iter() {
        let reference = ManifestRef::Tag(tag.clone());
        if *deleted {
            assert!(r.stat_manifest(repo, &reference, &[]).is_err());
            continue;
        }
        assert_eq!(&r.stat_manifest(repo, &reference, &[]).unwrap().digest, d);
        needed.extend(pull(r, repo, tag));
    }
    r.gc().unwrap();
    assert_eq!(stored(&s.content), needed, "no leak, nothing missing");
}
