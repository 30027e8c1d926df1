//! The node's image store: records, references, removal and garbage
//! collection, safe for several processes at once.
//!
//! Layout under the root (`<data-dir>/images`):
//! - `content/`: the [`FsContentStore`] (`blobs/sha256/<hex>`, `ingest/<id>`);
//! - `snapshots/<chain-id-hex>/fs`: unpacked layers (see `snapshot.rs`);
//! - `meta/images/<id-hex>.json`: one [`ImageRecord`] per image;
//! - `meta/references.json`: normalised reference -> image id, the one
//!   place tags live, so moving a tag is one atomic file replacement;
//! - `meta/removed/<id-hex>.json`: images removed by force while in use,
//!   kept until no container uses them so their layers stay on disk;
//! - `meta/lock`: an `flock` taken exclusively around every change and
//!   shared around reads.
//!
//! Every metadata file is written to a temporary file, fsync'd, renamed
//! into place and its directory fsync'd.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::fcntl::{Flock, FlockArg};

use crate::content::{ContentStore, FsContentStore};
use crate::digest::{Digest, is_lower_hex};
use crate::error::ImageError;
use crate::meta::{ImageRecord, familiar};
use crate::reference::Reference;

/// Local images of one node.
///
/// Lifecycle of an image: it arrives by [`pull`](Self::pull) or
/// [`load`](Self::load), which store and verify every blob, unpack its
/// layers into snapshots and only then record it under its references
/// (an image that fails anywhere leaves nothing behind) -> it is found
/// with [`resolve`](Self::resolve) / [`list`](Self::list), gains names
/// with [`tag`](Self::tag), and a container gets its root filesystem as
/// overlayfs lower directories from [`rootfs_layers`](Self::rootfs_layers)
/// -> [`remove`](Self::remove) untags it and, with its last reference,
/// deletes it and whatever blobs and snapshots no other image needs.
///
/// Several processes may use one store at once; an `ImageStore` is also
/// `Send + Sync` for sharing between threads.
pub struct ImageStore {
    root: PathBuf,
    content: Arc<dyn ContentStore>,
}

/// How a name given by a user matched an image.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Match {
    /// By id, full or short, or by a digest reference we hold no tag for.
    Id,
    /// By one of its references (normalised).
    Reference(String),
}

/// Held while reading or changing metadata.
pub(crate) struct MetaLock(#[allow(dead_code)] Flock<File>);

impl ImageStore {
    /// Opens (creating if needed) the store at `root`, with its blobs in
    /// `root/content`.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, ImageError> {
        let root = root.as_ref();
        let content = FsContentStore::open(root.join("content"))?;
        Self::with_content_store(root, Arc::new(content))
    }

    /// Opens the store at `root` over another content store. Removal
    /// deletes blobs no local image needs, so the content store must not
    /// hold blobs someone else relies on.
    pub fn with_content_store(
        root: impl AsRef<Path>,
        content: Arc<dyn ContentStore>,
    ) -> Result<Self, ImageError> {
        let root = root.as_ref().to_path_buf();
        for d in ["meta/images", "meta/removed", "snapshots"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(ImageError::io(format!("creating {}", p.display())))?;
        }
        Ok(Self { root, content })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The content store holding this store's blobs.
    pub fn content(&self) -> &Arc<dyn ContentStore> {
        &self.content
    }

    pub(crate) fn lock(&self, exclusive: bool) -> Result<MetaLock, ImageError> {
        let path = self.root.join("meta/lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(ImageError::io(format!("opening {}", path.display())))?;
        let arg = if exclusive {
            FlockArg::LockExclusive
        } else {
            FlockArg::LockShared
        };
        Flock::lock(f, arg)
            .map(MetaLock)
            .map_err(|(_, e)| ImageError::Io {
                context: format!("locking {}", path.display()),
                source: e.into(),
            })
    }

    /// Every image, with its references, sorted by id.
    pub fn list(&self) -> Result<Vec<ImageRecord>, ImageError> {
        let _l = self.lock(false)?;
        self.list_locked()
    }

    /// Finds an image by id (`sha256:...`), short id (a unique hex prefix)
    /// or reference (`busybox`, `127.0.0.1:4566/app:v1`, `name@sha256:...`).
    pub fn resolve(&self, name_or_id: &str) -> Result<ImageRecord, ImageError> {
        let _l = self.lock(false)?;
        let images = self.list_locked()?;
        let refs = self.read_refs()?;
        resolve_in(&images, &refs, name_or_id).map(|(r, _)| r)
    }

    /// Gives the image `src` resolves to another reference, moving that
    /// reference away from any image that had it.
    pub fn tag(&self, src: &str, new_ref: &str) -> Result<ImageRecord, ImageError> {
        let target = Reference::parse(new_ref)?.with_default_tag();
        if target.digest().is_some() {
            return Err(ImageError::InvalidArgument(format!(
                "cannot tag with a digest reference: {new_ref}"
            )));
        }
        let _l = self.lock(true)?;
        let images = self.list_locked()?;
        let mut refs = self.read_refs()?;
        let (mut img, _) = resolve_in(&images, &refs, src)?;
        refs.insert(target.to_string(), img.id.clone());
        self.write_refs(&refs)?;
        img.references = refs_of(&refs, &img.id);
        Ok(img)
    }

    /// Removes a reference or an image, as `docker rmi` does: a reference
    /// of an image that has others is only untagged; otherwise the image
    /// goes, with whatever blobs and snapshots no other image needs. An
    /// image in use (per `in_use`), or asked for by id while it has
    /// several references, is only removed with `force`; an image removed
    /// by force while in use keeps its snapshots until a later removal or
    /// [`gc`](Self::gc) finds it unused. Returns Docker's lines
    /// (`Untagged: busybox:latest`, `Deleted: sha256:...`).
    pub fn remove(
        &self,
        name_or_id: &str,
        force: bool,
        in_use: &dyn Fn(&Digest) -> bool,
    ) -> Result<Vec<String>, ImageError> {
        let _l = self.lock(true)?;
        let images = self.list_locked()?;
        let mut refs = self.read_refs()?;
        let (img, how) = resolve_in(&images, &refs, name_or_id)?;
        let mut out = Vec::new();
        if let Match::Reference(r) = &how
            && img.references.len() > 1
        {
            refs.remove(r);
            self.write_refs(&refs)?;
            out.push(format!("Untagged: {}", familiar(r)));
            return Ok(out);
        }
        if how == Match::Id && img.references.len() > 1 && !force {
            return Err(ImageError::Conflict(format!(
                "unable to delete {} (must be forced): image is referenced in multiple repositories",
                img.short_id()
            )));
        }
        let used = in_use(&img.id);
        if used && !force {
            return Err(ImageError::Conflict(format!(
                "unable to delete {name_or_id} (must be forced): image {} is in use by a container",
                img.short_id()
            )));
        }
        for r in &img.references {
            refs.remove(r);
            out.push(format!("Untagged: {}", familiar(r)));
        }
        self.write_refs(&refs)?;
        let record = self.record_path("images", &img.id);
        if used {
            let tomb = self.record_path("removed", &img.id);
            fs::rename(&record, &tomb)
                .map_err(ImageError::io(format!("moving {}", record.display())))?;
            sync_dir(&self.root.join("meta/removed"))?;
        } else {
            remove_file_if_exists(&record)?;
        }
        sync_dir(&self.root.join("meta/images"))?;
        out.push(format!("Deleted: {}", img.id));
        let removed = if used { Vec::new() } else { vec![img] };
        self.collect_locked(in_use, removed)?;
        Ok(out)
    }

    /// Deletes what images removed by force while in use left behind, once
    /// `in_use` says no container uses them any more.
    pub fn gc(&self, in_use: &dyn Fn(&Digest) -> bool) -> Result<(), ImageError> {
        let _l = self.lock(true)?;
        self.collect_locked(in_use, Vec::new())
    }

    /// Deletes the blobs and snapshots of `removed` (and of tombstones no
    /// longer in use) that no remaining image needs. Only candidates are
    /// looked at, never the whole store, so content someone is importing
    /// right now (not yet recorded) is left alone.
    fn collect_locked(
        &self,
        in_use: &dyn Fn(&Digest) -> bool,
        mut removed: Vec<ImageRecord>,
    ) -> Result<(), ImageError> {
        let mut live = self.list_locked()?;
        for t in self.read_records("removed")? {
            if in_use(&t.id) {
                live.push(t);
            } else {
                remove_file_if_exists(&self.record_path("removed", &t.id))?;
                removed.push(t);
            }
        }
        let mut live_blobs = BTreeSet::new();
        let mut live_chains = BTreeSet::new();
        for r in &live {
            live_blobs.insert(r.manifest_digest.clone());
            live_blobs.insert(r.id.clone());
            live_blobs.extend(r.layers.iter().map(|l| l.digest.clone()));
            live_chains.extend(r.chain_ids());
        }
        for r in &removed {
            let blobs = [r.manifest_digest.clone(), r.id.clone()]
                .into_iter()
                .chain(r.layers.iter().map(|l| l.digest.clone()));
            for b in blobs {
                if !live_blobs.contains(&b) {
                    self.delete_blob(&b)?;
                }
            }
            for c in r.chain_ids() {
                if !live_chains.contains(&c) {
                    self.delete_snapshot(&c)?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn delete_blob(&self, d: &Digest) -> Result<(), ImageError> {
        match self.content.delete(d) {
            Err(e) if e.kind() != crate::error::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Deletes blobs that an import brought in but no image ended up using.
    pub(crate) fn drop_unused_blobs(
        &self,
        candidates: &BTreeSet<Digest>,
    ) -> Result<(), ImageError> {
        let _l = self.lock(true)?;
        let mut live = BTreeSet::new();
        for r in self
            .list_locked()?
            .into_iter()
            .chain(self.read_records("removed")?)
        {
            live.insert(r.manifest_digest);
            live.insert(r.id);
            live.extend(r.layers.into_iter().map(|l| l.digest));
        }
        for d in candidates.difference(&live) {
            self.delete_blob(d)?;
        }
        Ok(())
    }

    /// Records an imported image under `names` (moving them from other
    /// images), after checking that every blob it needs is present.
    pub(crate) fn commit_image(
        &self,
        mut record: ImageRecord,
        names: &[Reference],
    ) -> Result<ImageRecord, ImageError> {
        let _l = self.lock(true)?;
        let needed = [&record.manifest_digest, &record.id]
            .into_iter()
            .chain(record.layers.iter().map(|l| &l.digest));
        for d in needed {
            if self.content.size(d)?.is_none() {
                return Err(ImageError::Conflict(format!(
                    "blob {d} of image {} was removed while importing it; try again",
                    record.short_id()
                )));
            }
        }
        record.references = Vec::new();
        let body = serde_json::to_vec_pretty(&record).map_err(|e| ImageError::Io {
            context: format!("encoding image {}", record.id),
            source: e.into(),
        })?;
        write_atomic(&self.record_path("images", &record.id), &body)?;
        let mut refs = self.read_refs()?;
        for n in names {
            refs.insert(n.to_string(), record.id.clone());
        }
        self.write_refs(&refs)?;
        record.references = refs_of(&refs, &record.id);
        Ok(record)
    }

    pub(crate) fn list_locked(&self) -> Result<Vec<ImageRecord>, ImageError> {
        let refs = self.read_refs()?;
        let mut out = self.read_records("images")?;
        for r in &mut out {
            r.references = refs_of(&refs, &r.id);
        }
        Ok(out)
    }

    fn record_path(&self, dir: &str, id: &Digest) -> PathBuf {
        self.root
            .join("meta")
            .join(dir)
            .join(format!("{}.json", id.hex()))
    }

    fn read_records(&self, dir: &str) -> Result<Vec<ImageRecord>, ImageError> {
        let d = self.root.join("meta").join(dir);
        let mut out = Vec::new();
        for e in fs::read_dir(&d).map_err(ImageError::io(format!("listing {}", d.display())))? {
            let e = e.map_err(ImageError::io(format!("listing {}", d.display())))?;
            let name = e.file_name();
            let Some(hex) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if Digest::from_hex(hex).is_err() {
                continue;
            }
            let body = match fs::read(e.path()) {
                Ok(b) => b,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => {
                    return Err(ImageError::Io {
                        context: format!("reading {}", e.path().display()),
                        source: err,
                    });
                }
            };
            let r: ImageRecord = serde_json::from_slice(&body).map_err(|err| {
                ImageError::invalid(format!("record {}", e.path().display()), err.to_string())
            })?;
            out.push(r);
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    fn read_refs(&self) -> Result<BTreeMap<String, Digest>, ImageError> {
        let p = self.root.join("meta/references.json");
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| ImageError::invalid(p.display().to_string(), e.to_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(ImageError::Io {
                context: format!("reading {}", p.display()),
                source: e,
            }),
        }
    }

    fn write_refs(&self, refs: &BTreeMap<String, Digest>) -> Result<(), ImageError> {
        let body = serde_json::to_vec_pretty(refs).map_err(|e| ImageError::Io {
            context: "encoding references".into(),
            source: e.into(),
        })?;
        write_atomic(&self.root.join("meta/references.json"), &body)
    }
}

fn refs_of(refs: &BTreeMap<String, Digest>, id: &Digest) -> Vec<String> {
    refs.iter()
        .filter(|(_, v)| *v == id)
        .map(|(k, _)| k.clone())
        .collect()
}

/// Docker's lookup order: full id, then reference, then short id.
fn resolve_in(
    images: &[ImageRecord],
    refs: &BTreeMap<String, Digest>,
    s: &str,
) -> Result<(ImageRecord, Match), ImageError> {
    let not_found = || ImageError::NotFound(s.to_owned());
    let by_id = |id: &Digest| images.iter().find(|i| i.id == *id).cloned();
    if let Ok(d) = Digest::parse(s) {
        return by_id(&d).map(|i| (i, Match::Id)).ok_or_else(not_found);
    }
    if let Ok(r) = Reference::parse(s) {
        let r = r.with_default_tag();
        let key = r.to_string();
        if let Some(img) = refs.get(&key).and_then(by_id) {
            return Ok((img, Match::Reference(key)));
        }
        if let Some(d) = r.digest() {
            // `name@digest` of an image we hold under another reference
            // of the same repository.
            let name = r.name();
            let hit = images.iter().find(|i| {
                i.manifest_digest == *d
                    && i.references
                        .iter()
                        .any(|x| Reference::parse(x).is_ok_and(|x| x.name() == name))
            });
            if let Some(img) = hit {
                return Ok((img.clone(), Match::Id));
            }
        }
    }
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    if is_lower_hex(hex) && hex.len() <= 64 {
        let hits: Vec<_> = images
            .iter()
            .filter(|i| i.id.hex().starts_with(hex))
            .collect();
        match hits.as_slice() {
            [one] => return Ok(((*one).clone(), Match::Id)),
            [] => {}
            many => {
                return Err(ImageError::Conflict(format!(
                    "short id {s} is ambiguous: it matches {} images",
                    many.len()
                )));
            }
        }
    }
    Err(not_found())
}

fn remove_file_if_exists(p: &Path) -> Result<(), ImageError> {
    match fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ImageError::Io {
            context: format!("removing {}", p.display()),
            source: e,
        }),
        _ => Ok(()),
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), ImageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(ImageError::io(format!("syncing {}", dir.display())))
}

/// Replaces `path` with `body` so that readers see the old or the new
/// content, never a mix, and the new one survives a crash.
pub(crate) fn write_atomic(path: &Path, body: &[u8]) -> Result<(), ImageError> {
    let dir = path
        .parent()
        .ok_or_else(|| ImageError::InvalidArgument(format!("no parent: {}", path.display())))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(ImageError::io(format!(
            "creating a temporary file in {}",
            dir.display()
        )))?;
    tmp.write_all(body)
        .map_err(ImageError::io(format!("writing {}", path.display())))?;
    tmp.as_file()
        .sync_all()
        .map_err(ImageError::io(format!("syncing {}", path.display())))?;
    tmp.persist(path).map_err(|e| ImageError::Io {
        context: format!("replacing {}", path.display()),
        source: e.error,
    })?;
    sync_dir(dir)
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
