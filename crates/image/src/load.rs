//! Importing images from an OCI image layout (a directory or a tar of one)
//! or a `docker save` archive (including Docker 25+'s, which is also an
//! OCI layout), and the import step shared with pull.
//!
//! Names: an index entry's `io.containerd.image.name` annotation wins (it
//! is the full name Docker and containerd write). Otherwise
//! `org.opencontainers.image.ref.name` is used when it is a whole
//! reference (has a `/`, `:` or `@`); a bare word is read as a repository
//! (`busybox` -> `busybox:latest`) unless it looks like a version tag
//! (`latest`, `1.36`, `v2`), which alone names no repository, so such an
//! image is loaded untagged (reachable by id). `docker save`'s `RepoTags`
//! are added for the image with the same config.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::content::{ContentStore, copy_blob, read_blob, write_blob};
use crate::digest::Digest;
use crate::error::ImageError;
use crate::manifest::{
    ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, Descriptor, Document, MAX_DOCUMENT, Manifest,
    OCI_CONFIG, OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_MANIFEST, select_platform,
};
use crate::meta::{ImageRecord, record_from_manifest};
use crate::reference::Reference;
use crate::store::ImageStore;
use crate::unpack::Compression;

impl ImageStore {
    /// Imports every image of an OCI layout directory, an OCI layout tar
    /// or a `docker save` tar (optionally gzip-compressed), verifying every
    /// blob, and returns their records.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<Vec<ImageRecord>, ImageError> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path)
            .map_err(ImageError::io(format!("reading {}", path.display())))?;
        let mut added = BTreeSet::new();
        let result = if meta.is_dir() {
            let src = DirSource {
                root: path.to_path_buf(),
                content: self.content().as_ref(),
            };
            self.load_from(&src, &mut added)
        } else {
            TarSource::read(path, self.content().as_ref(), &mut added)
                .and_then(|src| self.load_from(&src, &mut added))
        };
        // Archive files that are not part of any image (`repositories`,
        // legacy `json` files) and blobs of a failed import go again.
        let cleanup = self.drop_unused_blobs(&added);
        let records = result?;
        cleanup?;
        Ok(records)
    }

    fn load_from(
        &self,
        src: &dyn Source,
        added: &mut BTreeSet<Digest>,
    ) -> Result<Vec<ImageRecord>, ImageError> {
        let docker = match src.read("manifest.json")? {
            Some(b) => Some(
                serde_json::from_slice::<Vec<DockerEntry>>(&b)
                    .map_err(|e| ImageError::invalid("archive manifest.json", e.to_string()))?,
            ),
            None => None,
        };
        // manifest digest -> names, in archive order.
        let mut images: Vec<(Digest, Vec<Reference>)> = Vec::new();
        if let Some(index) = src.read("index.json")? {
            let index = match Document::parse(&index, "index.json")? {
                Document::Index(i) => i,
                Document::Manifest(_) => {
                    return Err(ImageError::invalid("index.json", "expected an image index"));
                }
            };
            for desc in &index.manifests {
                let names = names_from_annotations(desc);
                let manifest = self.image_manifest_of(src, desc, added)?;
                push_names(&mut images, manifest, names);
            }
        } else if let Some(entries) = &docker {
            for e in entries {
                let manifest = self.synthesize_manifest(src, e, added)?;
                push_names(&mut images, manifest, Vec::new());
            }
        } else {
            return Err(ImageError::invalid(
                "archive",
                "neither an OCI image layout (index.json) nor a docker save archive (manifest.json)",
            ));
        }
        let mut out: Vec<ImageRecord> = Vec::new();
        for (manifest_digest, mut names) in images {
            let (record, manifest) =
                record_from_manifest(self.content().as_ref(), &manifest_digest)?;
            if let Some(entries) = &docker {
                names.extend(docker_tags(src, entries, &record.id));
            }
            let record = self.import(record, &manifest, &names)?;
            out.retain(|r| r.id != record.id);
            out.push(record);
        }
        Ok(out)
    }

    /// Brings the manifest `desc` points to into the store, descending into
    /// a nested index for the linux/amd64 image; returns its digest.
    fn image_manifest_of(
        &self,
        src: &dyn Source,
        desc: &Descriptor,
        added: &mut BTreeSet<Digest>,
    ) -> Result<Digest, ImageError> {
        let content = self.content().as_ref();
        note(
            added,
            src.blob(&blob_path(&desc.digest), Some(&desc.digest))?,
        );
        let bytes = read_blob(content, &desc.digest, MAX_DOCUMENT)?;
        match Document::parse(&bytes, &format!("manifest {}", desc.digest))? {
            Document::Manifest(m) => {
                for d in std::iter::once(&m.config).chain(&m.layers) {
                    note(added, src.blob(&blob_path(&d.digest), Some(&d.digest))?);
                }
                Ok(desc.digest.clone())
            }
            Document::Index(nested) => {
                // A multi-platform index usually ships only our platform's blobs.
                let chosen = select_platform(&nested, |d| src.has(&blob_path(&d.digest)))
                    .ok_or_else(|| {
                        ImageError::invalid(
                            format!("index {}", desc.digest),
                            "no linux/amd64 image in the archive",
                        )
                    })?;
                self.image_manifest_of(src, chosen, added)
            }
        }
    }

    /// Writes an OCI manifest for a legacy `docker save` entry, which has
    /// only a config and layer files.
    fn synthesize_manifest(
        &self,
        src: &dyn Source,
        e: &DockerEntry,
        added: &mut BTreeSet<Digest>,
    ) -> Result<Digest, ImageError> {
        let content = self.content().as_ref();
        let config = src.blob(&e.config, None)?;
        note(added, config.clone());
        let config_size = content.size(&config)?.unwrap_or_default();
        let mut layers = Vec::new();
        for path in &e.layers {
            let d = src.blob(path, None)?;
            note(added, d.clone());
            let size = content.size(&d)?.unwrap_or_default();
            let mut magic = [0u8; 4];
            let n = content
                .open(&d)?
                .read(&mut magic)
                .map_err(ImageError::io(format!("reading layer {path}")))?;
            let media_type = match Compression::sniff(&magic[..n]) {
                Compression::None => OCI_LAYER,
                Compression::Gzip => OCI_LAYER_GZIP,
                Compression::Zstd => OCI_LAYER_ZSTD,
            };
            layers.push(serde_json::json!({"mediaType": media_type, "digest": d, "size": size}));
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config, "size": config_size},
            "layers": layers,
        });
        let bytes = serde_json::to_vec(&manifest).map_err(|err| ImageError::Io {
            context: "encoding a manifest".into(),
            source: err.into(),
        })?;
        let d = write_blob(content, &bytes, None)?;
        note(added, d.clone());
        Ok(d)
    }

    /// The last step of load and pull: with every blob of the image in the
    /// content store, checks the layers, unpacks them and records the image.
    pub(crate) fn import(
        &self,
        record: ImageRecord,
        manifest: &Manifest,
        names: &[Reference],
    ) -> Result<ImageRecord, ImageError> {
        for l in &manifest.layers {
            match self.content().size(&l.digest)? {
                Some(s) if s == l.size => {}
                Some(s) => {
                    return Err(ImageError::invalid(
                        format!("layer {}", l.digest),
                        format!("the manifest says {} bytes, the blob has {s}", l.size),
                    ));
                }
                None => return Err(crate::content::ContentError::NotFound(l.digest.clone()).into()),
            }
        }
        self.ensure_snapshots(&record)?;
        self.commit_image(record, names)
    }
}

fn note(added: &mut BTreeSet<Digest>, d: Digest) {
    added.insert(d);
}

fn push_names(images: &mut Vec<(Digest, Vec<Reference>)>, manifest: Digest, names: Vec<Reference>) {
    match images.iter_mut().find(|(d, _)| *d == manifest) {
        Some((_, existing)) => existing.extend(names),
        None => images.push((manifest, names)),
    }
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm(), d.hex())
}

/// See the module docs for the rules.
fn names_from_annotations(desc: &Descriptor) -> Vec<Reference> {
    let parse = |s: &str| match Reference::parse(s) {
        Ok(r) => Some(r.with_default_tag()),
        Err(e) => {
            tracing::warn!(name = s, error = %e, "ignoring an invalid image name in the archive");
            None
        }
    };
    if let Some(n) = desc.annotation(ANNOTATION_IMAGE_NAME) {
        return parse(n).into_iter().collect();
    }
    let Some(n) = desc.annotation(ANNOTATION_REF_NAME) else {
        return Vec::new();
    };
    if n.contains(['/', ':', '@']) || !looks_like_version(n) {
        return parse(n).into_iter().collect();
    }
    Vec::new()
}

fn looks_like_version(n: &str) -> bool {
    let b = n.as_bytes();
    n == "latest"
        || b.first().is_some_and(u8::is_ascii_digit)
        || (b.len() > 1 && b[0] == b'v' && b[1].is_ascii_digit())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

/// The `RepoTags` of the `docker save` entries whose config is `id`.
fn docker_tags(src: &dyn Source, entries: &[DockerEntry], id: &Digest) -> Vec<Reference> {
    entries
        .iter()
        .filter(|e| src.digest_of(&e.config).as_ref() == Some(id))
        .flat_map(|e| e.repo_tags.iter().flatten())
        .filter_map(|t| Reference::parse(t).ok().map(Reference::with_default_tag))
        .collect()
}

/// Where an archive's files come from.
trait Source {
    /// A small file (index.json, manifest.json), `None` when absent.
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, ImageError>;
    /// Makes sure the file at `path` is in the content store (checked
    /// against `expected`) and returns its digest.
    fn blob(&self, path: &str, expected: Option<&Digest>) -> Result<Digest, ImageError>;
    fn has(&self, path: &str) -> bool;
    /// The digest of a file already known to be in the store, if cheap.
    fn digest_of(&self, path: &str) -> Option<Digest>;
}

/// Normalises an archive path: no leading `/` or `./`, no `.`; `None` when
/// `..` would leave the archive.
fn clean(path: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            p => out.push(p),
        }
    }
    Some(out.join("/"))
}

fn bad_path(path: &str) -> ImageError {
    ImageError::invalid("archive", format!("path {path:?} leaves the archive"))
}

struct DirSource<'a> {
    root: PathBuf,
    content: &'a dyn ContentStore,
}

impl DirSource<'_> {
    fn path(&self, path: &str) -> Result<PathBuf, ImageError> {
        Ok(self.root.join(clean(path).ok_or_else(|| bad_path(path))?))
    }
}

impl Source for DirSource<'_> {
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, ImageError> {
        let p = self.path(path)?;
        let f = match File::open(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(ImageError::Io {
                    context: format!("opening {}", p.display()),
                    source: e,
                });
            }
        };
        let mut buf = Vec::new();
        f.take(MAX_DOCUMENT)
            .read_to_end(&mut buf)
            .map_err(ImageError::io(format!("reading {}", p.display())))?;
        Ok(Some(buf))
    }

    fn blob(&self, path: &str, expected: Option<&Digest>) -> Result<Digest, ImageError> {
        let p = self.path(path)?;
        let mut f = File::open(&p).map_err(ImageError::io(format!("opening {}", p.display())))?;
        Ok(copy_blob(self.content, &mut f, expected, None)?)
    }

    fn has(&self, path: &str) -> bool {
        self.path(path).is_ok_and(|p| p.is_file())
    }

    fn digest_of(&self, path: &str) -> Option<Digest> {
        let mut f = File::open(self.path(path).ok()?).ok()?;
        let h = crate::digest::HashingReader::new(&mut f);
        h.finish().ok().map(|(d, _)| d)
    }
}

/// A tar archive, read once from start to end: every regular file goes
/// into the content store as it streams by (so no layer is held in
/// memory or extracted to disk), links are remembered by name.
struct TarSource<'a> {
    content: &'a dyn ContentStore,
    files: HashMap<String, Digest>,
    links: HashMap<String, String>,
}

impl<'a> TarSource<'a> {
    fn read(
        path: &Path,
        content: &'a dyn ContentStore,
        added: &mut BTreeSet<Digest>,
    ) -> Result<Self, ImageError> {
        let f = File::open(path).map_err(ImageError::io(format!("opening {}", path.display())))?;
        let mut r = BufReader::new(f);
        let magic = r
            .fill_buf()
            .map_err(ImageError::io(format!("reading {}", path.display())))?;
        let plain: Box<dyn Read> = match Compression::sniff(magic) {
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
            Compression::Zstd => Box::new(
                zstd::stream::read::Decoder::with_buffer(r)
                    .map_err(ImageError::io(format!("reading {}", path.display())))?,
            ),
            Compression::None => Box::new(r),
        };
        let corrupt = |e: std::io::Error| {
            ImageError::invalid(format!("archive {}", path.display()), e.to_string())
        };
        let mut src = Self {
            content,
            files: HashMap::new(),
            links: HashMap::new(),
        };
        let mut archive = tar::Archive::new(plain);
        for entry in archive.entries().map_err(corrupt)? {
            let mut entry = entry.map_err(corrupt)?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(name) = clean(&name) else { continue };
            let kind = entry.header().entry_type();
            if kind.is_file() {
                let size = entry.size();
                let d = copy_blob(content, &mut entry, None, Some(size))?;
                added.insert(d.clone());
                src.files.insert(name, d);
            } else if kind.is_symlink() || kind.is_hard_link() {
                let Some(target) = entry.link_name_bytes() else {
                    continue;
                };
                let target = String::from_utf8_lossy(&target).into_owned();
                // Symlinks are relative to their directory, hard links to the archive root.
                let joined = match (
                    kind.is_symlink(),
                    target.starts_with('/'),
                    name.rsplit_once('/'),
                ) {
                    (true, false, Some((dir, _))) => format!("{dir}/{target}"),
                    _ => target,
                };
                if let Some(t) = clean(&joined) {
                    src.links.insert(name, t);
                }
            }
        }
        Ok(src)
    }

    fn lookup(&self, path: &str) -> Option<&Digest> {
        let mut p = clean(path)?;
        for _ in 0..16 {
            if let Some(d) = self.files.get(&p) {
                return Some(d);
            }
            p = self.links.get(&p)?.clone();
        }
        None
    }
}

impl Source for TarSource<'_> {
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, ImageError> {
        match self.lookup(path) {
            Some(d) => Ok(Some(read_blob(self.content, d, MAX_DOCUMENT)?)),
            None => Ok(None),
        }
    }

    fn blob(&self, path: &str, expected: Option<&Digest>) -> Result<Digest, ImageError> {
        let d = self
            .lookup(path)
            .ok_or_else(|| ImageError::invalid("archive", format!("{path} is missing")))?
            .clone();
        match expected {
            Some(want) if *want != d => Err(crate::content::ContentError::DigestMismatch {
                expected: want.clone(),
                actual: d,
            }
            .into()),
            _ => Ok(d),
        }
    }

    fn has(&self, path: &str) -> bool {
        self.lookup(path).is_some()
    }

    fn digest_of(&self, path: &str) -> Option<Digest> {
        self.lookup(path).cloned()
    }
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
