//! Fixtures for the unit tests: an ECR service over a [`MemStore`] and a
//! content store in a temporary directory.

use std::sync::Arc;

use serde_json::{Value, json};

use dockyard_aws::keys::KeyStore;
use dockyard_aws::router::{CallContext, JsonService};
use dockyard_aws::{ApiError, Principal};
use dockyard_image::{Digest, FsContentStore};
use dockyard_registry::{ManifestRef, Registry, RegistryConfig};
use dockyard_store::MemStore;

use crate::EcrService;

pub(crate) const ACCOUNT: &str = "000000000000";

pub(crate) fn ctx() -> CallContext {
    CallContext {
        principal: Principal::root(ACCOUNT),
        access_key_id: "AKIAEXAMPLE".into(),
        account: ACCOUNT.into(),
        region: "us-east-1".into(),
        request_id: "r".into(),
        now: chrono::Utc::now(),
    }
}

pub(crate) struct Fx {
    pub svc: EcrService,
    pub registry: Registry,
    pub keys: Arc<KeyStore>,
    pub store: Arc<MemStore>,
    pub dir: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Fx {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(KeyStore::open(dir.path().join("k.json"), ACCOUNT).unwrap());
        let content = Arc::new(FsContentStore::open(dir.path().join("content")).unwrap());
        let store = Arc::new(MemStore::new());
        let (registry, svc) = EcrService::open(
            keys.clone(),
            store.clone(),
            content,
            RegistryConfig::default(),
            crate::EcrOptions {
                host: "127.0.0.1:4566".into(),
                region: "us-east-1".into(),
                feed_path: dir.path().join("vulns.json"),
            },
        )
        .unwrap();
        Self {
            svc,
            registry,
            keys,
            store,
            dir: dir.path().to_path_buf(),
            _dir: dir,
        }
    }

    /// The registry's token authentication (over this fixture's keys,
    /// store and signer), which sees the service's writes at once.
    pub fn auth(&self) -> Arc<crate::EcrTokenAuth> {
        self.svc.auth.clone()
    }

    pub fn call(&self, op: &str, input: Value) -> Result<Value, ApiError> {
        self.svc.call(&ctx(), op, input)
    }

    /// Calls `op`, expecting it to fail with `code`; returns the message.
    pub fn fail(&self, op: &str, input: Value, code: &str) -> String {
        match self.call(op, input) {
            Ok(v) => panic!("{op} succeeded with {v}, expected {code}"),
            Err(e) => {
                assert_eq!(e.code, code, "{op}: {}", e.message);
                e.message
            }
        }
    }

    pub fn create(&self, name: &str) -> Value {
        self.call("CreateRepository", json!({"repositoryName": name}))
            .unwrap()
    }
}

pub(crate) fn descriptor(media_type: &str, data: &[u8]) -> Value {
    json!({
        "mediaType": media_type,
        "digest": Digest::of(data).to_string(),
        "size": data.len(),
    })
}

/// An OCI image manifest over a config and one layer derived from `seed`,
/// with its blobs uploaded to `name`.
pub(crate) fn upload_image(r: &Registry, name: &str, seed: &[u8]) -> Vec<u8> {
    let config = [b"config-".as_slice(), seed].concat();
    let layer = [b"layer-".as_slice(), seed].concat();
    for b in [&config, &layer] {
        r.upload_blob(name, &mut &b[..], &Digest::of(b)).unwrap();
    }
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", &layer)],
    }))
    .unwrap()
}

/// Pushes an image as `name:tag` through the registry (as a client would).
pub(crate) fn push_image(r: &Registry, name: &str, tag: &str, seed: &[u8]) -> Digest {
    let m = upload_image(r, name, seed);
    r.put_manifest(name, &ManifestRef::Tag(tag.into()), None, &m, &[])
        .unwrap()
        .digest
}
