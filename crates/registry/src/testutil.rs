//! Fixtures for the unit tests: a registry over a [`MemStore`] and a
//! content store in a temporary directory, with a clock the test moves.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use dockyard_image::manifest::{OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST};
use dockyard_image::{Digest, FsContentStore};
use dockyard_store::MemStore;

use crate::names::ManifestRef;
use crate::{AllowAll, Clock, Registry, RegistryConfig};

pub(crate) struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn advance(&self, d: Duration) {
        let mut t = self.0.lock().unwrap();
        *t += chrono::Duration::from_std(d).unwrap();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

pub(crate) struct Fixture {
    pub registry: Registry,
    pub clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        Self::with_config(|_| {})
    }

    pub fn with_config(f: impl FnOnce(&mut RegistryConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let content = FsContentStore::open(dir.path().join("content")).unwrap();
        let clock = Arc::new(ManualClock(Mutex::new(
            DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap(),
        )));
        let mut config = RegistryConfig {
            clock: clock.clone(),
            ..Default::default()
        };
        f(&mut config);
        let registry = Registry::new(
            Arc::new(content),
            Arc::new(MemStore::new()),
            Arc::new(AllowAll),
            config,
        );
        Self {
            registry,
            clock,
            _dir: dir,
        }
    }
}

/// Uploads `data` to `name` in one go.
pub(crate) fn push_blob(r: &Registry, name: &str, data: &[u8]) -> Digest {
    let d = Digest::of(data);
    r.upload_blob(name, &mut &data[..], &d).unwrap();
    d
}

pub(crate) fn descriptor(media_type: &str, data: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "mediaType": media_type,
        "digest": Digest::of(data).to_string(),
        "size": data.len(),
    })
}

/// An OCI image manifest over a config and one layer derived from `seed`.
pub(crate) fn image_manifest(seed: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let config = [b"config-".as_slice(), seed].concat();
    let layer = [b"layer-".as_slice(), seed].concat();
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &config),
        "layers": [descriptor(OCI_LAYER_GZIP, &layer)],
    });
    (serde_json::to_vec(&m).unwrap(), config, layer)
}

/// Pushes the blobs and manifest of [`image_manifest`] as `name:tag`.
pub(crate) fn push_image(r: &Registry, name: &str, tag: &str, seed: &[u8]) -> (Digest, Vec<u8>) {
    let (m, config, layer) = image_manifest(seed);
    push_blob(r, name, &config);
    push_blob(r, name, &layer);
    let p = r
        .put_manifest(
            name,
            &ManifestRef::Tag(tag.into()),
            Some(OCI_MANIFEST),
            &m,
            &[],
        )
        .unwrap();
    (p.digest, m)
}
