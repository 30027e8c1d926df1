//! Small images for tests: layers from file lists, OCI layouts of them.

use std::path::{Path, PathBuf};

use dockyard_testkit::Layer;

use crate::store::ImageStore;

/// A gzip layer holding regular files (mode 0644, parents implied).
pub(crate) fn layer(files: &[(&str, &[u8])]) -> Layer {
    dockyard_testkit::layer_from_tar(raw_tar(files)).expect("gzip a layer")
}

/// An uncompressed layer tar of regular files.
pub(crate) fn raw_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        b.append_data(&mut h, path, *data).expect("append");
    }
    b.into_inner().expect("finish tar")
}

/// An OCI layout at `dir` with one image named `name`; returns the
/// manifest digest.
pub(crate) fn layout(dir: &Path, name: &str, layers: &[Layer]) -> String {
    dockyard_testkit::write_oci_layout(
        dir,
        name,
        layers,
        serde_json::json!({"Cmd": ["sh"], "Env": ["A=b"]}),
    )
    .expect("write layout")
}

/// A fresh store in a temporary directory, with a scratch directory.
pub(crate) struct Fixture {
    pub tmp: tempfile::TempDir,
    pub store: ImageStore,
}

impl Fixture {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = ImageStore::open(tmp.path().join("images")).expect("open store");
        Self { tmp, store }
    }

    /// A new empty directory under the fixture's temporary directory.
    pub fn dir(&self, name: &str) -> PathBuf {
        let p = self.tmp.path().join(name);
        std::fs::create_dir_all(&p).expect("mkdir");
        p
    }

    /// Loads a one-image layout built from `layers`.
    pub fn load(&self, name: &str, layers: &[Layer]) -> crate::ImageRecord {
        let dir = self.dir(&dockyard_testkit::unique("layout-"));
        layout(&dir, name, layers);
        let mut v = self.store.load(&dir).expect("load");
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    pub fn snapshot_count(&self) -> usize {
        std::fs::read_dir(self.store.root().join("snapshots"))
            .expect("read snapshots")
            .filter(|e| {
                !e.as_ref()
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .starts_with('.')
            })
            .count()
    }
}

/// A copy of a layer (the testkit's type is not `Clone`).
pub(crate) fn dup(l: &Layer) -> Layer {
    Layer {
        blob: l.blob.clone(),
        digest: l.digest.clone(),
        diff_id: l.diff_id.clone(),
    }
}
