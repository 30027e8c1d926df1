//! The directory-backed content store: blobs at `root/blobs/sha256/<hex>`,
//! unfinished ingests at `root/ingest/<id>`. Publishing is a rename within
//! one file system, so a blob appears whole or not at all.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::{BlobWriter, ContentError, ContentStore, ReadSeek};
use crate::digest::{Digest, Hasher};

/// A [`ContentStore`] in a local directory.
#[derive(Debug, Clone)]
pub struct FsContentStore {
    root: PathBuf,
}

impl FsContentStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, ContentError> {
        let root = root.into();
        let s = Self { root };
        for d in [s.blobs_dir(), s.ingest_dir()] {
            fs::create_dir_all(&d)
                .map_err(ContentError::io(format!("creating {}", d.display())))?;
        }
        Ok(s)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a committed blob's file is (whether or not it exists), for
    /// callers that want to hand the file itself to the kernel.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blobs_dir().join(d.hex())
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs/sha256")
    }

    fn ingest_dir(&self) -> PathBuf {
        self.root.join("ingest")
    }

    fn ingest_path(&self, id: &str) -> Result<PathBuf, ContentError> {
        // The id comes from HTTP requests; it must never name a path.
        let ok = !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(ContentError::InvalidIngestId(id.to_owned()));
        }
        Ok(self.ingest_dir().join(id))
    }

    fn lock(id: &str, f: File) -> Result<Flock<File>, ContentError> {
        Flock::lock(f, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| match e {
            Errno::EWOULDBLOCK => ContentError::IngestBusy(id.to_owned()),
            e => ContentError::Io {
                context: format!("locking ingest {id}"),
                source: e.into(),
            },
        })
    }
}

fn random_id() -> Result<String, ContentError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| ContentError::Io {
        context: "reading random bytes for an ingest id".into(),
        source: io::Error::other(e.to_string()),
    })?;
    Ok(hex::encode(b))
}

fn not_found_or(e: io::Error, nf: ContentError, context: String) -> ContentError {
    if e.kind() == io::ErrorKind::NotFound {
        nf
    } else {
        ContentError::Io { context, source: e }
    }
}

impl ContentStore for FsContentStore {
    fn writer(&self) -> Result<Box<dyn BlobWriter>, ContentError> {
        let id = random_id()?;
        let path = self.ingest_path(&id)?;
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(ContentError::io(format!(
                "creating ingest {}",
                path.display()
            )))?;
        let file = Self::lock(&id, f)?;
        Ok(Box::new(FsWriter {
            store: self.clone(),
            id,
            path,
            file,
            hasher: Hasher::new(),
            written: 0,
        }))
    }

    fn resume(&self, ingest_id: &str) -> Result<Box<dyn BlobWriter>, ContentError> {
        let path = self.ingest_path(ingest_id)?;
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| {
                not_found_or(
                    e,
                    ContentError::IngestNotFound(ingest_id.into()),
                    format!("opening ingest {ingest_id}"),
                )
            })?;
        let mut file = Self::lock(ingest_id, f)?;
        let mut hasher = Hasher::new();
        let mut written = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        file.seek(SeekFrom::Start(0))
            .map_err(ContentError::io(format!("rewinding ingest {ingest_id}")))?;
        loop {
            let n = file
                .read(&mut buf)
                .map_err(ContentError::io(format!("reading ingest {ingest_id}")))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            written += n as u64;
        }
        Ok(Box::new(FsWriter {
            store: self.clone(),
            id: ingest_id.to_owned(),
            path,
            file,
            hasher,
            written,
        }))
    }

    fn ingest_size(&self, ingest_id: &str) -> Result<u64, ContentError> {
        let path = self.ingest_path(ingest_id)?;
        fs::symlink_metadata(&path).map(|m| m.len()).map_err(|e| {
            not_found_or(
                e,
                ContentError::IngestNotFound(ingest_id.into()),
                format!("reading ingest {ingest_id}"),
            )
        })
    }

    fn abort(&self, ingest_id: &str) -> Result<(), ContentError> {
        let path = self.ingest_path(ingest_id)?;
        fs::remove_file(&path).map_err(|e| {
            not_found_or(
                e,
                ContentError::IngestNotFound(ingest_id.into()),
                format!("removing ingest {ingest_id}"),
            )
        })
    }

    fn size(&self, d: &Digest) -> Result<Option<u64>, ContentError> {
        match fs::symlink_metadata(self.blob_path(d)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ContentError::Io {
                context: format!("reading blob {d}"),
                source: e,
            }),
        }
    }

    fn open(&self, d: &Digest) -> Result<Box<dyn ReadSeek>, ContentError> {
        let f = File::open(self.blob_path(d)).map_err(|e| {
            not_found_or(
                e,
                ContentError::NotFound(d.clone()),
                format!("opening blob {d}"),
            )
        })?;
        Ok(Box::new(f))
    }

    fn delete(&self, d: &Digest) -> Result<(), ContentError> {
        fs::remove_file(self.blob_path(d)).map_err(|e| {
            not_found_or(
                e,
                ContentError::NotFound(d.clone()),
                format!("deleting blob {d}"),
            )
        })
    }

    fn list(&self) -> Result<Vec<(Digest, u64)>, ContentError> {
        let dir = self.blobs_dir();
        let mut out = Vec::new();
        let rd =
            fs::read_dir(&dir).map_err(ContentError::io(format!("listing {}", dir.display())))?;
        for e in rd {
            let e = e.map_err(ContentError::io(format!("listing {}", dir.display())))?;
            let Some(name) = e.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Ok(d) = Digest::from_hex(&name) else {
                continue;
            };
            match e.metadata() {
                Ok(m) => out.push((d, m.len())),
                // Deleted while we listed.
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => {
                    return Err(ContentError::Io {
                        context: format!("reading blob {d}"),
                        source: err,
                    });
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

struct FsWriter {
    store: FsContentStore,
    id: String,
    path: PathBuf,
    file: Flock<File>,
    hasher: Hasher,
    written: u64,
}

impl Write for FsWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl BlobWriter for FsWriter {
    fn id(&self) -> &str {
        &self.id
    }

    fn written(&self) -> u64 {
        self.written
    }

    fn commit(
        self: Box<Self>,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
    ) -> Result<Digest, ContentError> {
        let FsWriter {
            store,
            id,
            path,
            file,
            hasher,
            written,
        } = *self;
        let actual = hasher.finish();
        let discard = |e: ContentError| {
            let _ = fs::remove_file(&path);
            e
        };
        if let Some(want) = expected_size
            && want != written
        {
            let digest = expected.cloned().unwrap_or(actual);
            return Err(discard(ContentError::SizeMismatch {
                digest,
                expected: want,
                actual: written,
            }));
        }
        if let Some(want) = expected
            && *want != actual
        {
            return Err(discard(ContentError::DigestMismatch {
                expected: want.clone(),
                actual,
            }));
        }
        let target = store.blob_path(&actual);
        if target.exists() {
            let _ = fs::remove_file(&path);
            return Ok(actual);
        }
        file.sync_all()
            .map_err(ContentError::io(format!("syncing ingest {id}")))?;
        fs::rename(&path, &target)
            .map_err(ContentError::io(format!("publishing blob {actual}")))?;
        drop(file);
        let dir = store.blobs_dir();
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(ContentError::io(format!("syncing {}", dir.display())))?;
        Ok(actual)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn store() -> (tempfile::TempDir, FsContentStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = FsContentStore::open(dir.path().join("content")).expect("open");
        (dir, s)
    }

    #[test]
    fn conformance() {
        let (_dir, s) = store();
        super::super::conformance::run(&s);
    }

    #[test]
    fn layout_on_disk() {
        let (_dir, s) = store();
        let mut w = s.writer().expect("writer");
        let ingest = s.root().join("ingest").join(w.id());
        assert!(ingest.exists(), "an ingest is a file under ingest/");
        w.write_all(b"hello").expect("write");
        let d = w.commit(None, None).expect("commit");
        assert!(!ingest.exists());
        assert_eq!(
            fs::read(s.root().join("blobs/sha256").join(d.hex())).expect("read"),
            b"hello"
        );
    }

    #[test]
    fn ingest_ids_cannot_name_paths() {
        let (_dir, s) = store();
        for bad in ["../x", "a/b", "", ".", "..", "a b"] {
            let e = s.resume(bad).err().expect(bad);
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}: {e}");
            assert!(s.abort(bad).is_err());
        }
    }

    #[test]
    fn stray_files_are_not_listed() {
        let (_dir, s) = store();
        fs::write(s.root().join("blobs/sha256/not-a-digest"), b"x").expect("write");
        assert!(s.list().expect("list").is_empty());
    }
}
