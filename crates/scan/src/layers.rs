//! Reading an image's layers into the few files a scan needs.
//!
//! Layers are applied in order onto an in-memory tree that holds only
//! what we may read later: the package databases, os-release files, and
//! every symlink (they are small, and a database or os-release may be
//! reached through one). Everything else is skipped, but its path still
//! matters: a later layer's whiteout (`.wh.NAME`), opaque marker
//! (`.wh..wh..opq`), file, or symlink at a path hides what lower layers
//! had there, exactly as overlayfs would show it.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io::{self, Cursor, Read};

use tar::EntryType;

use crate::ScanError;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// Package databases of very large images run to a few megabytes; this
/// bounds the memory a hostile layer can make us spend.
const MAX_DATABASE_BYTES: u64 = 64 << 20;
const MAX_RELEASE_FILE_BYTES: u64 = 64 << 10;
/// As Linux's limit on symlinks followed in one path lookup.
const MAX_SYMLINK_HOPS: usize = 40;

pub(crate) const DPKG_STATUS: &str = "var/lib/dpkg/status";
pub(crate) const DPKG_STATUS_DIR: &str = "var/lib/dpkg/status.d";
pub(crate) const APK_INSTALLED: &str = "lib/apk/db/installed";

#[derive(Debug, Clone)]
enum Node {
    File(Vec<u8>),
    Symlink(String),
}

/// The merged view of the layers applied so far, restricted to the
/// paths we keep (see the module documentation). Paths are relative to
/// the image root, without leading `/` or `./`.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    nodes: BTreeMap<String, Node>,
}

/// How many bytes of a regular file at `path` we keep, if we keep it.
fn keep_limit(path: &str) -> Option<u64> {
    let (parent, name) = split_last(path);
    if path == DPKG_STATUS || path == APK_INSTALLED || parent == DPKG_STATUS_DIR {
        Some(MAX_DATABASE_BYTES)
    } else if name == "os-release" || name == "alpine-release" {
        Some(MAX_RELEASE_FILE_BYTES)
    } else {
        None
    }
}

/// Lexically normalises a tar path: no leading `/` or `./`, no empty or
/// `.` components; `..` drops the previous component.
pub(crate) fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

fn split_last(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// Wraps a layer blob in the decompressor its first bytes call for.
fn decompress<'a, R: Read + 'a>(mut blob: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < magic.len() {
        match blob.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let whole = Cursor::new(magic[..n].to_vec()).chain(blob);
    let head = &magic[..n];
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(whole))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::new(whole)?)
    } else {
        Box::new(whole)
    })
}

/// What one layer changes, gathered before it is applied so that its
/// whiteouts hide only lower layers' paths, whatever the entry order.
#[derive(Default)]
struct LayerChanges {
    added: BTreeMap<String, Node>,
    /// Lower paths hidden by this layer, and whether their descendants
    /// go too (a directory entry replaces only a non-directory).
    hidden: Vec<(String, bool)>,
    opaque: Vec<String>,
}

impl Tree {
    /// Applies the layer at `index` (for error messages) on top.
    pub(crate) fn apply_layer(&mut self, index: usize, blob: impl Read) -> Result<(), ScanError> {
        let layer_err = |source: io::Error| ScanError::Layer { index, source };
        let mut archive = tar::Archive::new(decompress(blob).map_err(layer_err)?);
        let mut changes = LayerChanges::default();
        for entry in archive.entries().map_err(layer_err)? {
            let mut entry = entry.map_err(layer_err)?;
            let path = normalize(&entry.path().map_err(layer_err)?.to_string_lossy());
            if path.is_empty() {
                continue;
            }
            let (parent, name) = split_last(&path);
            if name == OPAQUE_MARKER {
                changes.opaque.push(parent.to_string());
                continue;
            }
            if let Some(target) = name.strip_prefix(WHITEOUT_PREFIX) {
                changes.hidden.push((join(parent, target), true));
                continue;
            }
            let kind = entry.header().entry_type();
            if matches!(
                kind,
                EntryType::XGlobalHeader
                    | EntryType::XHeader
                    | EntryType::GNULongName
                    | EntryType::GNULongLink
            ) {
                continue;
            }
            if self.has_at_or_under(&path) {
                changes
                    .hidden
                    .push((path.clone(), kind != EntryType::Directory));
            }
            match kind {
                EntryType::Directory => {}
                EntryType::Symlink => {
                    let target = entry
                        .link_name()
                        .map_err(layer_err)?
                        .map(|t| t.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    changes.added.insert(path, Node::Symlink(target));
                }
                EntryType::Link => {
                    let Some(limit) = keep_limit(&path) else {
                        continue;
                    };
                    let target = entry
                        .link_name()
                        .map_err(layer_err)?
                        .map(|t| normalize(&t.to_string_lossy()))
                        .unwrap_or_default();
                    // A hard link's target is in this layer or, as some
                    // tools write them, in a lower one.
                    let data = match changes.added.get(&target).or(self.nodes.get(&target)) {
                        Some(Node::File(data)) if data.len() as u64 <= limit => data.clone(),
                        _ => continue,
                    };
                    changes.added.insert(path, Node::File(data));
                }
                EntryType::Regular | EntryType::Continuous => {
                    let Some(limit) = keep_limit(&path) else {
                        continue;
                    };
                    if entry.size() > limit {
                        if limit == MAX_DATABASE_BYTES {
                            return Err(ScanError::LayerEntry {
                                index,
                                path,
                                reason: format!(
                                    "{} bytes, more than the {limit} a package database may have",
                                    entry.size()
                                ),
                            });
                        }
                        continue;
                    }
                    let mut data = Vec::with_capacity(entry.size() as usize);
                    entry.read_to_end(&mut data).map_err(layer_err)?;
                    changes.added.insert(path, Node::File(data));
                }
                // Devices and fifos hold nothing we read, but still hide
                // what was below them.
                _ => {}
            }
        }
        self.apply(changes);
        Ok(())
    }

    fn apply(&mut self, changes: LayerChanges) {
        for dir in &changes.opaque {
            self.remove_under(dir);
        }
        for (path, deep) in &changes.hidden {
            self.nodes.remove(path);
            if *deep {
                self.remove_under(path);
            }
        }
        self.nodes.extend(changes.added);
    }

    fn descendants<'a>(&'a self, dir: &str) -> impl Iterator<Item = (&'a String, &'a Node)> + 'a {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.nodes
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
    }

    fn has_at_or_under(&self, path: &str) -> bool {
        self.nodes.contains_key(path) || self.descendants(path).next().is_some()
    }

    fn remove_under(&mut self, dir: &str) {
        let doomed: Vec<String> = self.descendants(dir).map(|(k, _)| k.clone()).collect();
        for k in doomed {
            self.nodes.remove(&k);
        }
    }

    /// Resolves symlinks along `path` within the image, the way the
    /// kernel would with the image as root: absolute targets start from
    /// the image root and `..` never climbs above it. `None` on a loop.
    fn resolve(&self, path: &str) -> Option<String> {
        let mut pending: Vec<String> = path.split('/').rev().map(str::to_string).collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = pending.pop() {
            match c.as_str() {
                "" | "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => {}
            }
            done.push(c);
            if let Some(Node::Symlink(target)) = self.nodes.get(&done.join("/")) {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return None;
                }
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                pending.extend(target.split('/').rev().map(str::to_string));
            }
        }
        Some(done.join("/"))
    }

    /// The contents of the regular file at `path`, following symlinks.
    pub(crate) fn read(&self, path: &str) -> Option<&[u8]> {
        match self.nodes.get(&self.resolve(path)?)? {
            Node::File(data) => Some(data),
            Node::Symlink(_) => None,
        }
    }

    /// The regular files directly in `dir` (following symlinks), by name.
    pub(crate) fn files_in(&self, dir: &str) -> Vec<(String, &[u8])> {
        let Some(dir) = self.resolve(dir) else {
            return Vec::new();
        };
        let prefix_len = if dir.is_empty() { 0 } else { dir.len() + 1 };
        let children: Vec<String> = self
            .descendants(&dir)
            .map(|(k, _)| k[prefix_len..].to_string())
            .filter(|name| !name.contains('/'))
            .collect();
        children
            .into_iter()
            .filter_map(|name| {
                let data = self.read(&join(&dir, &name))?;
                Some((name, data))
            })
            .collect()
    }
}
