//! Applying one layer tar to an empty snapshot directory, in the form an
//! overlayfs lower directory needs.
//!
//! Whiteouts become overlayfs ones: `.wh.NAME` is a character device 0:0
//! named `NAME`, `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its
//! directory. Modes (with setuid/setgid), owners, modification times,
//! extended attributes, hard links and symlinks are kept.
//!
//! Nothing a layer contains can make us write outside the snapshot: every
//! entry is resolved component by component from the snapshot's directory
//! descriptor with `O_NOFOLLOW`, so a symlink (absolute, relative, or
//! pointing up) is never traversed; an entry whose path goes through one is
//! refused, as are `..` components, absolute paths and device nodes other
//! than whiteouts. Hard links are made with `linkat` without following, to
//! a target resolved the same way; a target that lives in a lower layer is
//! copied from that layer's snapshot instead. Layer xattrs in the
//! `trusted.overlay.` namespace are dropped, so a layer cannot forge
//! overlayfs metadata (redirects, metacopy) beyond the whiteouts we make.

mod compression;
mod fsops;
#[cfg(test)]
pub(crate) mod tests;

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use thiserror::Error;
use xattr::FileExt;

use crate::digest::{Digest, HashingReader};
use crate::error::ErrorKind;
pub use compression::Compression;
use compression::decide;
use fsops::{Dir, Kind, kind_of, timespec};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

#[derive(Debug, Error)]
pub enum UnpackError {
    /// A tar entry we refuse; names the entry as the tar spells it.
    #[error("layer entry {entry:?}: {reason}")]
    Entry { entry: String, reason: String },
    #[error("layer diff id mismatch: expected {expected}, got {actual}")]
    DiffIdMismatch { expected: Digest, actual: Digest },
    #[error("layer of media type {media_type:?}: {reason}")]
    Compression { media_type: String, reason: String },
    /// The stream could not be read as a (compressed) tar.
    #[error("reading layer: {source}")]
    Corrupt {
        #[source]
        source: io::Error,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl UnpackError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Entry { .. }
            | Self::DiffIdMismatch { .. }
            | Self::Compression { .. }
            | Self::Corrupt { .. } => ErrorKind::InvalidArgument,
            Self::Io { .. } => ErrorKind::Internal,
        }
    }
}

/// Unpacks one layer blob into `dest`, an existing empty directory.
/// `lowers` are the unpacked directories of the layers below, topmost
/// first, where hard link targets not in this layer are looked up. The
/// uncompressed stream's digest is checked against `diff_id` when given
/// and returned. On error `dest` holds a partial tree: unpack into a
/// temporary directory and publish it only on success.
pub fn unpack_layer(
    blob: &mut dyn Read,
    media_type: &str,
    diff_id: Option<&Digest>,
    dest: &Path,
    lowers: &[PathBuf],
) -> Result<Digest, UnpackError> {
    let mut buffered = BufReader::with_capacity(128 * 1024, blob);
    let magic = buffered
        .fill_buf()
        .map_err(|source| UnpackError::Corrupt { source })?;
    let plain: Box<dyn Read + '_> = match decide(media_type, magic)? {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(buffered)
                .map_err(|source| UnpackError::Corrupt { source })?,
        ),
    };
    let root = Dir::open(dest).map_err(io_err(format!("opening {}", dest.display())))?;
    let lowers = lowers
        .iter()
        .map(|p| Dir::open(p).map_err(io_err(format!("opening lower snapshot {}", p.display()))))
        .collect::<Result<Vec<_>, _>>()?;
    let mut archive = tar::Archive::new(HashingReader::new(plain));
    let mut u = Unpacker {
        root,
        lowers,
        dirs: Vec::new(),
        is_root: nix::unistd::geteuid().is_root(),
    };
    for entry in archive
        .entries()
        .map_err(|source| UnpackError::Corrupt { source })?
    {
        let entry = entry.map_err(|source| UnpackError::Corrupt { source })?;
        u.apply(entry)?;
    }
    u.finish_dirs()?;
    let (actual, _) = archive
        .into_inner()
        .finish()
        .map_err(|source| UnpackError::Corrupt { source })?;
    if let Some(want) = diff_id
        && *want != actual
    {
        return Err(UnpackError::DiffIdMismatch {
            expected: want.clone(),
            actual,
        });
    }
    Ok(actual)
}

fn io_err(context: String) -> impl FnOnce(Errno) -> UnpackError {
    move |e| UnpackError::Io {
        context,
        source: e.into(),
    }
}

/// Metadata from a tar header and its PAX records.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

struct Unpacker {
    root: Dir,
    lowers: Vec<Dir>,
    /// Directories whose mode and mtime are set last, once nothing more is
    /// created inside them.
    dirs: Vec<(Vec<OsString>, u32, i64)>,
    is_root: bool,
}

/// Splits a tar path into components, dropping `.` and empty ones.
fn components<'a>(entry: &str, raw: &'a [u8]) -> Result<Vec<&'a OsStr>, UnpackError> {
    if raw.first() == Some(&b'/') {
        return Err(refuse(entry, "absolute paths are not allowed in a layer"));
    }
    let mut out = Vec::new();
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err(refuse(entry, "'..' components are not allowed in a layer")),
            p => out.push(OsStr::from_bytes(p)),
        }
    }
    Ok(out)
}

fn refuse(entry: &str, reason: impl Into<String>) -> UnpackError {
    UnpackError::Entry {
        entry: entry.to_owned(),
        reason: reason.into(),
    }
}

fn display(comps: &[&OsStr]) -> String {
    comps
        .iter()
        .map(|c| c.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Walks `comps` down from `from`, never through a symlink. Missing
/// directories are created (mode 0755, as Docker does) when `create`;
/// otherwise a missing one gives `Ok(None)`.
fn walk(
    from: &Dir,
    comps: &[&OsStr],
    entry: &str,
    create: bool,
) -> Result<Option<Dir>, UnpackError> {
    let mut cur = from.try_clone().map_err(|source| UnpackError::Io {
        context: "duplicating a directory".into(),
        source,
    })?;
    for (i, c) in comps.iter().enumerate() {
        let next = match cur.open_dir(c) {
            Ok(d) => d,
            Err(Errno::ENOENT) if create => {
                match cur.mkdir(c, 0o755) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(io_err(format!("creating directory for {entry:?}"))(e)),
                }
                cur.open_dir(c)
                    .map_err(io_err(format!("opening directory for {entry:?}")))?
            }
            Err(Errno::ENOENT) => return Ok(None),
            Err(e @ (Errno::ELOOP | Errno::ENOTDIR)) => {
                let so_far = display(&comps[..=i]);
                let st = cur
                    .stat(c)
                    .map_err(io_err(format!("inspecting {so_far:?}")))?;
                return Err(match st.map(|s| kind_of(&s)) {
                    Some(Kind::Symlink) => refuse(
                        entry,
                        format!("its path goes through the symlink {so_far:?}"),
                    ),
                    Some(_) => refuse(entry, format!("{so_far:?} is not a directory")),
                    None => io_err(format!("opening {so_far:?}"))(e),
                });
            }
            Err(e) => return Err(io_err(format!("opening directory for {entry:?}"))(e)),
        };
        cur = next;
    }
    Ok(Some(cur))
}

impl Unpacker {
    fn apply<R: Read>(&mut self, mut e: tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let raw_path = e.path_bytes().into_owned();
        let entry = String::from_utf8_lossy(&raw_path).into_owned();
        let kind = e.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            return Ok(());
        }
        let comps = components(&entry, &raw_path)?;
        let meta = self.meta(&mut e, &entry)?;

        let Some((name, parents)) = comps.split_last() else {
            if kind.is_dir() {
                self.set_owner_xattrs(self.root.file(), &meta, &entry)?;
                self.dirs.push((Vec::new(), meta.mode, meta.mtime));
                return Ok(());
            }
            return Err(refuse(
                &entry,
                "only a directory may stand for the layer root",
            ));
        };
        let name_str = name.to_string_lossy();
        if let Some(hidden) = name_str.strip_prefix(WHITEOUT_PREFIX) {
            return self.whiteout(&entry, parents, name, hidden);
        }
        let parent = walk(&self.root, parents, &entry, true)?
            .ok_or_else(|| refuse(&entry, "parent vanished"))?;

        if kind.is_dir() {
            match parent
                .stat(name)
                .map_err(io_err(format!("inspecting {entry:?}")))?
            {
                Some(st) if kind_of(&st) == Kind::Dir => {}
                Some(_) => {
                    parent
                        .remove_all(name)
                        .map_err(io_err(format!("replacing {entry:?}")))?;
                    parent
                        .mkdir(name, 0o700)
                        .map_err(io_err(format!("creating {entry:?}")))?;
                }
                None => parent
                    .mkdir(name, 0o700)
                    .map_err(io_err(format!("creating {entry:?}")))?,
            }
            let d = parent
                .open_dir(name)
                .map_err(io_err(format!("opening {entry:?}")))?;
            self.set_owner_xattrs(d.file(), &meta, &entry)?;
            self.dirs.push((
                comps.iter().map(|c| c.to_os_string()).collect(),
                meta.mode,
                meta.mtime,
            ));
            return Ok(());
        }

        if kind.is_hard_link() {
            return self.hard_link(&mut e, &entry, &parent, name, &comps);
        }
        parent
            .remove_all(name)
            .map_err(io_err(format!("replacing {entry:?}")))?;
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let mut f = parent
                    .create_file(name)
                    .map_err(io_err(format!("creating {entry:?}")))?;
                io::copy(&mut e, &mut f).map_err(|source| UnpackError::Corrupt { source })?;
                self.set_owner_xattrs(&f, &meta, &entry)?;
                fchmod(&f, meta.mode, &entry)?;
            }
            tar::EntryType::Symlink => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| refuse(&entry, "symlink without a target"))?;
                parent
                    .symlink(OsStr::from_bytes(&target), name)
                    .map_err(io_err(format!("creating symlink {entry:?}")))?;
                self.chown(&parent, name, &meta, &entry)?;
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                let major = e.header().device_major().ok().flatten().unwrap_or(0);
                let minor = e.header().device_minor().ok().flatten().unwrap_or(0);
                if kind != tar::EntryType::Char || major != 0 || minor != 0 {
                    return Err(refuse(&entry, "device nodes are not allowed in a layer"));
                }
                parent
                    .whiteout(name)
                    .map_err(io_err(format!("creating whiteout {entry:?}")))?;
                self.chown(&parent, name, &meta, &entry)?;
            }
            tar::EntryType::Fifo => {
                parent
                    .mkfifo(name)
                    .map_err(io_err(format!("creating fifo {entry:?}")))?;
                self.chown(&parent, name, &meta, &entry)?;
                parent
                    .chmod_not_symlink(name, meta.mode)
                    .map_err(io_err(format!("setting the mode of {entry:?}")))?;
            }
            other => {
                return Err(refuse(
                    &entry,
                    format!("unsupported tar entry type {other:?}"),
                ));
            }
        }
        parent
            .set_mtime(name, timespec(meta.mtime, 0))
            .map_err(io_err(format!("setting the mtime of {entry:?}")))
    }

    fn meta<R: Read>(&self, e: &mut tar::Entry<'_, R>, entry: &str) -> Result<Meta, UnpackError> {
        let h = e.header();
        let bad =
            |what: &str, err: io::Error| refuse(entry, format!("bad {what} in tar header: {err}"));
        // Some writers leave numeric fields blank; Go's archive/tar (and
        // so Docker) reads that as 0.
        let blank = |f: &[u8]| f.iter().all(|&b| b == 0 || b == b' ');
        let old = h.as_old();
        let num = |what: &str, field: &[u8], v: io::Result<u64>| match v {
            Ok(v) => Ok(v),
            Err(_) if blank(field) => Ok(0),
            Err(x) => Err(bad(what, x)),
        };
        let mut m = Meta {
            mode: num("mode", &old.mode, h.mode().map(u64::from))? as u32 & 0o7777,
            uid: num("uid", &old.uid, h.uid())? as u32,
            gid: num("gid", &old.gid, h.gid())? as u32,
            mtime: num("mtime", &old.mtime, h.mtime())? as i64,
            xattrs: Vec::new(),
        };
        if let Some(exts) = e
            .pax_extensions()
            .map_err(|source| UnpackError::Corrupt { source })?
        {
            for ext in exts {
                let ext = ext.map_err(|source| UnpackError::Corrupt { source })?;
                let Ok(key) = ext.key() else { continue };
                let value = ext.value_bytes();
                let num = || {
                    std::str::from_utf8(value)
                        .ok()
                        .and_then(|v| v.split('.').next()?.parse::<i64>().ok())
                };
                if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
                    m.xattrs.push((OsString::from(x), value.to_vec()));
                } else if key == "uid" {
                    m.uid = num().ok_or_else(|| refuse(entry, "bad pax uid"))? as u32;
                } else if key == "gid" {
                    m.gid = num().ok_or_else(|| refuse(entry, "bad pax gid"))? as u32;
                } else if key == "mtime" {
                    m.mtime = num().ok_or_else(|| refuse(entry, "bad pax mtime"))?;
                }
            }
        }
        Ok(m)
    }

    fn chown(
        &self,
        parent: &Dir,
        name: &OsStr,
        meta: &Meta,
        entry: &str,
    ) -> Result<(), UnpackError> {
        match parent.lchown(name, meta.uid, meta.gid) {
            // Without root we cannot give files away; keep ours.
            Err(Errno::EPERM) if !self.is_root => Ok(()),
            r => r.map_err(io_err(format!("setting the owner of {entry:?}"))),
        }
    }

    /// Owner and xattrs of a directory or regular file, through its fd.
    fn set_owner_xattrs(&self, f: &File, meta: &Meta, entry: &str) -> Result<(), UnpackError> {
        match nix::unistd::fchown(f.as_raw_fd(), Some(meta.uid.into()), Some(meta.gid.into())) {
            Err(Errno::EPERM) if !self.is_root => {}
            r => r.map_err(io_err(format!("setting the owner of {entry:?}")))?,
        }
        for (k, v) in &meta.xattrs {
            if k.as_bytes().starts_with(b"trusted.overlay.") {
                tracing::warn!(entry, xattr = ?k, "dropping overlayfs xattr from layer");
                continue;
            }
            if let Err(err) = f.set_xattr(k, v) {
                match Errno::from_raw(err.raw_os_error().unwrap_or(0)) {
                    // Not every file system or privilege allows every
                    // namespace (security.*, trusted.*); the file still works.
                    Errno::EPERM | Errno::ENOTSUP | Errno::EACCES => {
                        tracing::warn!(entry, xattr = ?k, error = %err, "skipping xattr");
                    }
                    _ => {
                        return Err(UnpackError::Io {
                            context: format!("setting xattr {k:?} on {entry:?}"),
                            source: err,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn whiteout(
        &mut self,
        entry: &str,
        parents: &[&OsStr],
        name: &OsStr,
        hidden: &str,
    ) -> Result<(), UnpackError> {
        let parent = walk(&self.root, parents, entry, true)?
            .ok_or_else(|| refuse(entry, "parent vanished"))?;
        if name == OPAQUE_MARKER {
            return parent
                .file()
                .set_xattr(OPAQUE_XATTR, b"y")
                .map_err(|source| UnpackError::Io {
                    context: format!("marking {:?} opaque", display(parents)),
                    source,
                });
        }
        if hidden.starts_with(WHITEOUT_PREFIX) {
            // Other `.wh..wh.` names are aufs bookkeeping with no meaning here.
            return Ok(());
        }
        if hidden.is_empty() || hidden == "." || hidden == ".." {
            return Err(refuse(entry, "whiteout of an invalid name"));
        }
        let hidden = OsStr::from_bytes(&name.as_bytes()[WHITEOUT_PREFIX.len()..]);
        parent
            .remove_all(hidden)
            .map_err(io_err(format!("replacing {entry:?}")))?;
        parent
            .whiteout(hidden)
            .map_err(io_err(format!("creating whiteout for {entry:?}")))
    }

    fn hard_link<R: Read>(
        &mut self,
        e: &mut tar::Entry<'_, R>,
        entry: &str,
        parent: &Dir,
        name: &OsStr,
        comps: &[&OsStr],
    ) -> Result<(), UnpackError> {
        let raw = e
            .link_name_bytes()
            .ok_or_else(|| refuse(entry, "hard link without a target"))?
            .into_owned();
        let target_str = String::from_utf8_lossy(&raw).into_owned();
        let target = components(entry, &raw).map_err(|_| {
            refuse(
                entry,
                format!("hard link target {target_str:?} is outside the layer"),
            )
        })?;
        let Some((tname, tparents)) = target.split_last() else {
            return Err(refuse(entry, "hard link to the layer root"));
        };
        if target == comps {
            return Ok(());
        }
        // Resolve the target in this layer without following symlinks; an
        // escaping symlink on the way is refused by `walk`.
        if let Some(tdir) = walk(&self.root, tparents, entry, false)?
            && let Some(st) = tdir
                .stat(tname)
                .map_err(io_err(format!("inspecting link target of {entry:?}")))?
        {
            if kind_of(&st) == Kind::Dir {
                return Err(refuse(
                    entry,
                    format!("hard link to the directory {target_str:?}"),
                ));
            }
            parent
                .remove_all(name)
                .map_err(io_err(format!("replacing {entry:?}")))?;
            return parent
                .hardlink(&tdir, tname, name)
                .map_err(io_err(format!("linking {entry:?}")));
        }
        self.copy_from_lower(entry, &target_str, tparents, tname, parent, name)
    }

    /// A hard link to a file of a lower layer: overlayfs cannot link across
    /// layers, so the file is copied up into this one.
    fn copy_from_lower(
        &self,
        entry: &str,
        target_str: &str,
        tparents: &[&OsStr],
        tname: &OsStr,
        parent: &Dir,
        name: &OsStr,
    ) -> Result<(), UnpackError> {
        let not_found = || {
            refuse(
                entry,
                format!("hard link target {target_str:?} not found in this or a lower layer"),
            )
        };
        for lower in &self.lowers {
            let (dir, opaque) = match walk_lower(lower, tparents, entry)? {
                LowerWalk::Found(d, opaque) => (d, opaque),
                LowerWalk::Missing { stop: true } => return Err(not_found()),
                LowerWalk::Missing { stop: false } => continue,
            };
            let Some(st) = dir
                .stat(tname)
                .map_err(io_err(format!("inspecting link target of {entry:?}")))?
            else {
                if opaque {
                    return Err(not_found());
                }
                continue;
            };
            parent
                .remove_all(name)
                .map_err(io_err(format!("replacing {entry:?}")))?;
            let mtime = timespec(st.st_mtime, st.st_mtime_nsec);
            match kind_of(&st) {
                Kind::File => {
                    let mut src = dir
                        .open_file(tname)
                        .map_err(io_err(format!("opening link target of {entry:?}")))?;
                    let mut dst = parent
                        .create_file(name)
                        .map_err(io_err(format!("creating {entry:?}")))?;
                    io::copy(&mut src, &mut dst).map_err(|source| UnpackError::Io {
                        context: format!("copying link target of {entry:?}"),
                        source,
                    })?;
                    let xattrs = src
                        .list_xattr()
                        .map(|names| {
                            names
                                .filter_map(|n| src.get_xattr(&n).ok().flatten().map(|v| (n, v)))
                                .collect()
                        })
                        .unwrap_or_default();
                    let meta = Meta {
                        mode: st.st_mode & 0o7777,
                        uid: st.st_uid,
                        gid: st.st_gid,
                        mtime: st.st_mtime,
                        xattrs,
                    };
                    self.set_owner_xattrs(&dst, &meta, entry)?;
                    fchmod(&dst, meta.mode, entry)?;
                }
                Kind::Symlink => {
                    let t = dir
                        .readlink(tname)
                        .map_err(io_err(format!("reading link target of {entry:?}")))?;
                    parent
                        .symlink(&t, name)
                        .map_err(io_err(format!("creating {entry:?}")))?;
                    let meta = Meta {
                        mode: 0,
                        uid: st.st_uid,
                        gid: st.st_gid,
                        mtime: st.st_mtime,
                        xattrs: Vec::new(),
                    };
                    self.chown(parent, name, &meta, entry)?;
                }
                Kind::Whiteout => return Err(not_found()),
                Kind::Dir => {
                    return Err(refuse(
                        entry,
                        format!("hard link to the directory {target_str:?}"),
                    ));
                }
                Kind::Other => {
                    return Err(refuse(
                        entry,
                        format!("hard link to the special file {target_str:?}"),
                    ));
                }
            }
            return parent
                .set_mtime(name, mtime)
                .map_err(io_err(format!("setting the mtime of {entry:?}")));
        }
        Err(not_found())
    }

    fn finish_dirs(&mut self) -> Result<(), UnpackError> {
        for (comps, mode, mtime) in self.dirs.drain(..).rev() {
            let refs: Vec<&OsStr> = comps.iter().map(|c| c.as_os_str()).collect();
            let path = display(&refs);
            // A later entry may have replaced the directory; then its
            // metadata no longer applies.
            let d = match walk(&self.root, &refs, &path, false) {
                Ok(Some(d)) => d,
                Ok(None) | Err(UnpackError::Entry { .. }) => continue,
                Err(e) => return Err(e),
            };
            fchmod(d.file(), mode, &path)?;
            let t = timespec(mtime, 0);
            nix::sys::stat::futimens(d.fd(), &t, &t)
                .map_err(io_err(format!("setting the mtime of {path:?}")))?;
        }
        Ok(())
    }
}

enum LowerWalk {
    /// The directory, and whether it or one above it was opaque there.
    Found(Dir, bool),
    /// Not there; `stop` when a whiteout or opaque directory hides
    /// everything further down.
    Missing { stop: bool },
}

/// Walks `comps` in a lower snapshot the way overlayfs looks them up.
fn walk_lower(lower: &Dir, comps: &[&OsStr], entry: &str) -> Result<LowerWalk, UnpackError> {
    let mut cur = lower.try_clone().map_err(dup_err)?;
    let mut opaque = is_opaque(&cur);
    for c in comps {
        match cur
            .stat(c)
            .map_err(io_err(format!("inspecting a lower layer for {entry:?}")))?
            .map(|s| kind_of(&s))
        {
            Some(Kind::Dir) => {}
            Some(Kind::Whiteout) => return Ok(LowerWalk::Missing { stop: true }),
            Some(_) => return Ok(LowerWalk::Missing { stop: true }),
            None => return Ok(LowerWalk::Missing { stop: opaque }),
        }
        cur = cur
            .open_dir(c)
            .map_err(io_err(format!("opening a lower layer for {entry:?}")))?;
        opaque = is_opaque(&cur);
    }
    Ok(LowerWalk::Found(cur, opaque))
}

fn is_opaque(d: &Dir) -> bool {
    matches!(d.file().get_xattr(OPAQUE_XATTR), Ok(Some(v)) if v == b"y")
}

fn dup_err(source: io::Error) -> UnpackError {
    UnpackError::Io {
        context: "duplicating a directory descriptor".into(),
        source,
    }
}

fn fchmod(f: &File, mode: u32, entry: &str) -> Result<(), UnpackError> {
    nix::sys::stat::fchmod(
        f.as_raw_fd(),
        nix::sys::stat::Mode::from_bits_truncate(mode),
    )
    .map_err(io_err(format!("setting the mode of {entry:?}")))
}
