//! Content-addressed blob storage, in containerd's shape.
//!
//! Lifecycle of a blob: [`ContentStore::writer`] starts an *ingest* (an
//! unfinished, invisible upload with an id) -> bytes are written through the
//! [`BlobWriter`] (possibly across several processes or HTTP requests: drop
//! the writer and [`ContentStore::resume`] the ingest by id later) ->
//! [`BlobWriter::commit`] with the expected size and digest checks the
//! content, makes it durable and publishes it under its digest -> from then
//! on it is readable with [`ContentStore::open`] until
//! [`ContentStore::delete`]. An ingest that is never committed is discarded
//! with [`ContentStore::abort`]. A blob is never readable before its digest
//! has been checked, so a half-written or corrupt blob is never served.
//!
//! [`FsContentStore`] keeps blobs in a directory; an S3 implementation can
//! come later behind the same trait, and both must pass
//! [`conformance::run`].

pub mod conformance;
mod fs;

use std::io::{self, Read, Seek, Write};

use thiserror::Error;

use crate::digest::Digest;
use crate::error::ErrorKind;

pub use fs::FsContentStore;

/// A readable, seekable blob.
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// Where blobs live. Implementations are shared between threads (the
/// registry serves many requests at once) and between processes (several
/// CLI commands may pull at the same time), so every method must be safe
/// to call concurrently; two writers committing the same content both
/// succeed.
pub trait ContentStore: Send + Sync {
    /// Starts a new ingest; its id (from [`BlobWriter::id`]) names it for
    /// [`resume`](Self::resume) and [`abort`](Self::abort).
    fn writer(&self) -> Result<Box<dyn BlobWriter>, ContentError>;
    /// Reopens an unfinished ingest to append to it, e.g. for the next
    /// chunk of a chunked upload; what was written before is hashed again.
    /// An ingest has at most one writer at a time: resuming one that is
    /// open elsewhere is a [`ErrorKind::Conflict`].
    fn resume(&self, ingest_id: &str) -> Result<Box<dyn BlobWriter>, ContentError>;
    /// How many bytes an unfinished ingest holds, without opening it for
    /// writing (for upload status requests).
    fn ingest_size(&self, ingest_id: &str) -> Result<u64, ContentError>;
    /// Discards an unfinished ingest.
    fn abort(&self, ingest_id: &str) -> Result<(), ContentError>;
    /// The size of a committed blob, or `None` when it is absent.
    fn size(&self, d: &Digest) -> Result<Option<u64>, ContentError>;
    /// Opens a committed blob; [`ErrorKind::NotFound`] when absent.
    fn open(&self, d: &Digest) -> Result<Box<dyn ReadSeek>, ContentError>;
    /// Removes a committed blob; [`ErrorKind::NotFound`] when absent.
    fn delete(&self, d: &Digest) -> Result<(), ContentError>;
    /// Every committed blob with its size.
    fn list(&self) -> Result<Vec<(Digest, u64)>, ContentError>;
}

/// The writing end of one ingest. Dropping it without committing leaves
/// the ingest in place to be resumed or aborted.
pub trait BlobWriter: Write + Send {
    /// The ingest id.
    fn id(&self) -> &str;
    /// Bytes written so far, including those written before a resume.
    fn written(&self) -> u64;
    /// Checks the content against `expected` and `expected_size` (when
    /// given), makes it durable and publishes it under its digest, which is
    /// returned. Committing content that is already stored succeeds. On a
    /// mismatch the ingest is discarded and nothing becomes visible.
    fn commit(
        self: Box<Self>,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
    ) -> Result<Digest, ContentError>;
}

#[derive(Debug, Error)]
pub enum ContentError {
    #[error("blob not found: {0}")]
    NotFound(Digest),
    #[error("ingest not found: {0}")]
    IngestNotFound(String),
    #[error("invalid ingest id {0:?}")]
    InvalidIngestId(String),
    #[error("ingest {0} is being written by another writer")]
    IngestBusy(String),
    #[error("blob digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("blob size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    #[error("blob {digest} is {size} bytes, more than the {limit} allowed here")]
    TooLarge {
        digest: Digest,
        size: u64,
        limit: u64,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl ContentError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound(_) | Self::IngestNotFound(_) => ErrorKind::NotFound,
            Self::InvalidIngestId(_)
            | Self::DigestMismatch { .. }
            | Self::SizeMismatch { .. }
            | Self::TooLarge { .. } => ErrorKind::InvalidArgument,
            Self::IngestBusy(_) => ErrorKind::Conflict,
            Self::Io { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }
}

/// Streams `r` into the store as one blob, checking it against the
/// expectations; skips the copy when `expected` is already stored. The
/// ingest is aborted when anything fails.
pub fn copy_blob(
    store: &dyn ContentStore,
    r: &mut dyn Read,
    expected: Option<&Digest>,
    expected_size: Option<u64>,
) -> Result<Digest, ContentError> {
    if let Some(d) = expected
        && let Some(size) = store.size(d)?
        && expected_size.is_none_or(|s| s == size)
    {
        return Ok(d.clone());
    }
    let mut w = store.writer()?;
    let id = w.id().to_owned();
    if let Err(e) = io::copy(r, &mut w) {
        drop(w);
        let _ = store.abort(&id);
        return Err(ContentError::Io {
            context: format!("writing ingest {id}"),
            source: e,
        });
    }
    // A failed commit discards the ingest itself.
    w.commit(expected, expected_size)
}

/// Stores some bytes as a blob.
pub fn write_blob(
    store: &dyn ContentStore,
    data: &[u8],
    expected: Option<&Digest>,
) -> Result<Digest, ContentError> {
    let mut r = data;
    copy_blob(store, &mut r, expected, Some(data.len() as u64))
}

/// Reads a whole blob, refusing ones larger than `limit` (manifests and
/// configs are small; a huge one is an attack or a mistake).
pub fn read_blob(
    store: &dyn ContentStore,
    d: &Digest,
    limit: u64,
) -> Result<Vec<u8>, ContentError> {
    let size = store
        .size(d)?
        .ok_or_else(|| ContentError::NotFound(d.clone()))?;
    if size > limit {
        return Err(ContentError::TooLarge {
            digest: d.clone(),
            size,
            limit,
        });
    }
    let mut f = store.open(d)?;
    let mut buf = Vec::with_capacity(size as usize);
    f.read_to_end(&mut buf)
        .map_err(ContentError::io(format!("reading blob {d}")))?;
    Ok(buf)
}
