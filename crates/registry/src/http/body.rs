//! Bodies: request bodies streamed into a blob writer, blobs streamed out
//! of the content store, never held whole in memory. The blocking file
//! I/O runs on tokio's blocking pool; a bounded channel between it and the
//! connection gives backpressure both ways.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use dockyard_image::{BlobWriter, ReadSeek};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use crate::error::RegistryError;

/// The response body type of [`Registry::handle`](crate::Registry::handle).
pub type BoxBody = http_body_util::combinators::BoxBody<Bytes, io::Error>;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

const CHUNK: usize = 256 * 1024;
/// Chunks in flight between the connection and the file.
const DEPTH: usize = 8;

pub(crate) fn empty() -> BoxBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub(crate) fn full(b: impl Into<Bytes>) -> BoxBody {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// Streams `len` bytes of `r` from `start` as a response body.
pub(crate) fn stream_reader(mut r: Box<dyn ReadSeek>, start: u64, len: u64) -> BoxBody {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(DEPTH);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = r.seek(SeekFrom::Start(start)) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        let mut left = len;
        while left > 0 {
            let want = CHUNK.min(usize::try_from(left).unwrap_or(CHUNK));
            // Filled by `read_to_end`, which reads into the spare capacity
            // without zeroing it first, and fills whole chunks.
            let mut buf = Vec::with_capacity(want);
            match r.by_ref().take(want as u64).read_to_end(&mut buf) {
                Ok(0) => {
                    let _ = tx.blocking_send(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "blob is shorter than its recorded size",
                    )));
                    return;
                }
                Ok(n) => {
                    left -= n as u64;
                    // The client went away: stop reading.
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    ChannelBody { rx, remaining: len }.boxed()
}

struct ChannelBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    remaining: u64,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(b))) => {
                self.remaining = self.remaining.saturating_sub(b.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "blob reader stopped early",
            )))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Streams a request body into `writer`; returns the writer and how many
/// bytes this body added. On failure the writer is dropped: what arrived
/// stays in the ingest, as the upload's status then reports.
pub(crate) async fn pump<B>(
    body: B,
    writer: Box<dyn BlobWriter>,
) -> Result<(Box<dyn BlobWriter>, u64), RegistryError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let id = writer.id().to_owned();
    let (tx, mut rx) = mpsc::channel::<Bytes>(DEPTH);
    let task = tokio::task::spawn_blocking(move || {
        let mut w = writer;
        let mut n = 0u64;
        while let Some(chunk) = rx.blocking_recv() {
            w.write_all(&chunk)?;
            n += chunk.len() as u64;
        }
        Ok::<_, io::Error>((w, n))
    });
    let mut body = std::pin::pin!(body);
    let mut read_error: Option<BoxError> = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Ok(data) = f.into_data() {
                    // A send fails only when the writer stopped on an error,
                    // which the join below reports.
                    if !data.is_empty() && tx.send(data).await.is_err() {
                        break;
                    }
                }
            }
            Err(e) => {
                read_error = Some(e.into());
                break;
            }
        }
    }
    drop(tx);
    let written = task
        .await
        .map_err(|e| RegistryError::Internal(format!("upload writer task: {e}")))?;
    if let Some(e) = read_error {
        return Err(RegistryError::UploadInvalid {
            id,
            reason: format!("reading the request body: {e}"),
        });
    }
    written.map_err(|e| {
        RegistryError::Content(dockyard_image::ContentError::Io {
            context: format!("writing ingest {id}"),
            source: e,
        })
    })
}

/// Reads a whole (small) request body, refusing more than `limit` bytes.
pub(crate) async fn collect_limited<B>(body: B, limit: u64) -> Result<Vec<u8>, RegistryError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut body = std::pin::pin!(body);
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            let e: BoxError = e.into();
            RegistryError::ManifestInvalid(format!("reading the request body: {e}"))
        })?;
        if let Ok(data) = frame.into_data() {
            if (out.len() + data.len()) as u64 > limit {
                return Err(RegistryError::ManifestTooLarge {
                    size: (out.len() + data.len()) as u64,
                    limit,
                });
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}
