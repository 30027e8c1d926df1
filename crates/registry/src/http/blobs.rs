//! Blob and upload endpoints: `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<d>`,
//! `POST /v2/<name>/blobs/uploads/` (session, monolithic or mount) and
//! `GET`/`PATCH`/`PUT`/`DELETE` on an upload session.

use bytes::Bytes;
use http::header;
use http::request::Parts;
use http::{Method, Response, StatusCode};
use hyper::body::Body;

use super::body::{self, BoxError, pump};
use super::range::{self, ReadRange};
use super::{BoxBody, CONTENT_DIGEST, Query, Reply, UPLOAD_SESSION, UPLOAD_UUID, header_str};
use crate::Registry;
use crate::auth::Action;
use crate::error::RegistryError;
use crate::names::{is_valid_name, parse_digest};
use crate::parked_uploads::IDLE;
use dockyard_image::{BlobWriter, Digest};

fn blob_created(name: &str, d: &Digest) -> Response<BoxBody> {
    Reply::new(StatusCode::CREATED)
        .header(header::LOCATION, format!("/v2/{name}/blobs/{d}"))
        .header(CONTENT_DIGEST, d.as_str())
        .header(header::CONTENT_LENGTH, "0")
        .done()
}

fn upload_reply(status: StatusCode, name: &str, id: &str, size: u64) -> Response<BoxBody> {
    let mut r = Reply::new(status)
        .header(header::LOCATION, format!("/v2/{name}/blobs/uploads/{id}"))
        .header(header::RANGE, range::upload_range(size))
        .header(UPLOAD_UUID, id)
        .header(UPLOAD_SESSION, id);
    if status != StatusCode::NO_CONTENT {
        r = r.header(header::CONTENT_LENGTH, "0");
    }
    r.done()
}

fn content_length(parts: &Parts) -> Option<u64> {
    header_str(parts, &header::CONTENT_LENGTH).and_then(|v| v.trim().parse().ok())
}

impl Registry {
    pub(super) async fn http_get_blob(
        &self,
        parts: &Parts,
        name: String,
        digest: &str,
    ) -> Result<Response<BoxBody>, RegistryError> {
        let d = parse_digest(digest)?;
        let headers = |status, d: &Digest| {
            Reply::new(status)
                .header(CONTENT_DIGEST, d.as_str())
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .header(header::ACCEPT_RANGES, "bytes")
                .header(header::ETAG, format!("\"{d}\""))
                .header(header::CACHE_CONTROL, "max-age=31536000")
        };
        if parts.method == Method::HEAD {
            let d2 = d.clone();
            let size = self.blocking(move |r| r.stat_blob(&name, &d2)).await?;
            return Ok(headers(StatusCode::OK, &d)
                .header(header::CONTENT_LENGTH, size.to_string())
                .done());
        }
        let requested = header_str(parts, &header::RANGE).map(str::to_owned);
        let d2 = d.clone();
        let (reader, size) = self.blocking(move |r| r.open_blob(&name, &d2)).await?;
        Ok(match range::read_range(requested.as_deref(), size) {
            ReadRange::Full => headers(StatusCode::OK, &d)
                .header(header::CONTENT_LENGTH, size.to_string())
                .body(body::stream_reader(reader, 0, size))
                .done(),
            ReadRange::Partial { start, end } => headers(StatusCode::PARTIAL_CONTENT, &d)
                .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}"))
                .header(header::CONTENT_LENGTH, (end - start + 1).to_string())
                .body(body::stream_reader(reader, start, end - start + 1))
                .done(),
            ReadRange::Unsatisfiable => Reply::new(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{size}"))
                .header(header::CONTENT_LENGTH, "0")
                .done(),
        })
    }

    pub(super) async fn http_delete_blob(
        &self,
        name: String,
        digest: &str,
    ) -> Result<Response<BoxBody>, RegistryError> {
        let d = parse_digest(digest)?;
        self.blocking(move |r| r.delete_blob(&name, &d)).await?;
        Ok(Reply::new(StatusCode::ACCEPTED)
            .header(header::CONTENT_LENGTH, "0")
            .done())
    }

    pub(super) async fn http_post_upload<B>(
        &self,
        parts: &Parts,
        q: &Query,
        name: String,
        body: B,
    ) -> Result<Response<BoxBody>, RegistryError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        if let (Some(mount), Some(from)) = (q.get("mount"), q.get("from")) {
            // Any failure to mount (bad arguments, no read access to the
            // source, blob not there) falls back to an ordinary upload.
            let readable =
                is_valid_name(from) && self.authorize(parts, Some(from), Action::Pull).is_ok();
            if let (Ok(d), true) = (parse_digest(mount), readable) {
                let (n, d2, from) = (name.clone(), d.clone(), from.to_owned());
                if self.blocking(move |r| r.mount_blob(&n, &d2, &from)).await? {
                    return Ok(blob_created(&name, &d));
                }
            }
        } else if let Some(digest) = q.get("digest") {
            let d = parse_digest(digest)?;
            return self.monolithic(parts, name, d, body).await;
        }
        let n = name.clone();
        let id = self.blocking(move |r| r.start_upload(&n)).await?;
        Ok(upload_reply(StatusCode::ACCEPTED, &name, &id, 0))
    }

    /// `POST ?digest=`: the whole blob in the request.
    async fn monolithic<B>(
        &self,
        parts: &Parts,
        name: String,
        d: Digest,
        body: B,
    ) -> Result<Response<BoxBody>, RegistryError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let expected = content_length(parts);
        let n = name.clone();
        let (id, w) = self
            .blocking(move |r| {
                let id = r.start_upload(&n)?;
                let w = r.resume_upload(&n, &id, Some(0))?;
                Ok((id, w))
            })
            .await?;
        let result = match pump(body, w).await {
            Ok((w, _)) => {
                let (n, id, d) = (name.clone(), id.clone(), d.clone());
                self.blocking(move |r| r.complete_upload(&n, &id, Some(w), &d, expected))
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            // The client never saw this session: end it.
            let n = name.clone();
            let _ = self.blocking(move |r| r.cancel_upload(&n, &id)).await;
            return Err(e);
        }
        Ok(blob_created(&name, &d))
    }

    pub(super) async fn http_upload_status(
        &self,
        name: String,
        id: String,
    ) -> Result<Response<BoxBody>, RegistryError> {
        let (n, i) = (name.clone(), id.clone());
        let size = self.blocking(move |r| r.upload_status(&n, &i)).await?;
        Ok(upload_reply(StatusCode::NO_CONTENT, &name, &id, size))
    }

    pub(super) async fn http_cancel_upload(
        &self,
        name: String,
        id: String,
    ) -> Result<Response<BoxBody>, RegistryError> {
        // Closes the file before the ingest goes.
        drop(self.inner.parked.take(&id));
        self.blocking(move |r| r.cancel_upload(&name, &id)).await?;
        Ok(Reply::new(StatusCode::NO_CONTENT).done())
    }

    /// Parses `Content-Range` (416 with the upload's size when malformed)
    /// and checks it against `Content-Length`.
    async fn chunk_range(
        &self,
        parts: &Parts,
        name: &str,
        id: &str,
    ) -> Result<Option<(u64, u64)>, RegistryError> {
        let Some(h) = header_str(parts, &header::CONTENT_RANGE) else {
            return Ok(None);
        };
        let Some((start, end)) = range::chunk_range(h) else {
            let (n, i) = (name.to_owned(), id.to_owned());
            let size = self.blocking(move |r| r.upload_status(&n, &i)).await?;
            return Err(RegistryError::RangeInvalid {
                name: name.to_owned(),
                id: id.to_owned(),
                size,
            });
        };
        if let Some(len) = content_length(parts)
            && len != end - start + 1
        {
            return Err(RegistryError::UploadInvalid {
                id: id.to_owned(),
                reason: format!("Content-Length {len} does not match Content-Range {start}-{end}"),
            });
        }
        Ok(Some((start, end)))
    }

    /// The writer of upload `id`: the one the session's last request
    /// parked, else the ingest reopened (which re-reads it to rebuild the
    /// hash). With `start`, the chunk must begin where the upload ends.
    async fn open_upload(
        &self,
        name: &str,
        id: &str,
        start: Option<u64>,
    ) -> Result<Box<dyn BlobWriter>, RegistryError> {
        if let Some(w) = self.inner.parked.take(id) {
            // The session may have been cancelled or expired (its ingest
            // removed) while the writer waited: the writer is good only if
            // the session is still this repository's and its ingest is the
            // size the writer wrote.
            let (n, i) = (name.to_owned(), id.to_owned());
            match self.blocking(move |r| r.upload_status(&n, &i)).await {
                Ok(size) if size == w.written() => {
                    if start.is_some_and(|s| s != size) {
                        self.park_upload(id, w);
                        return Err(RegistryError::RangeInvalid {
                            name: name.to_owned(),
                            id: id.to_owned(),
                            size,
                        });
                    }
                    return Ok(w);
                }
                _ => drop(w),
            }
        }
        let (n, i) = (name.to_owned(), id.to_owned());
        self.blocking(move |r| r.resume_upload(&n, &i, start)).await
    }

    /// Keeps the writer of upload `id` for the session's next request, for
    /// [`IDLE`] at most.
    fn park_upload(&self, id: &str, w: Box<dyn BlobWriter>) {
        let n = self.inner.parked.park(id, w);
        let (r, id) = (self.clone(), id.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(IDLE).await;
            r.inner.parked.expire(&id, n);
        });
    }

    /// Appends the request body to the upload, after checking where it
    /// starts; returns the writer still open.
    async fn append<B>(
        &self,
        parts: &Parts,
        name: &str,
        id: &str,
        body: B,
    ) -> Result<Box<dyn BlobWriter>, RegistryError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let range = self.chunk_range(parts, name, id).await?;
        let w = self.open_upload(name, id, range.map(|(s, _)| s)).await?;
        let (w, added) = pump(body, w).await?;
        if let Some((start, end)) = range
            && added != end - start + 1
        {
            return Err(RegistryError::UploadInvalid {
                id: id.to_owned(),
                reason: format!("got {added} bytes for Content-Range {start}-{end}"),
            });
        }
        Ok(w)
    }

    pub(super) async fn http_patch_upload<B>(
        &self,
        parts: &Parts,
        name: String,
        id: String,
        body: B,
    ) -> Result<Response<BoxBody>, RegistryError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let w = self.append(parts, &name, &id, body).await?;
        let size = w.written();
        self.park_upload(&id, w);
        let (n, i) = (name.clone(), id.clone());
        self.blocking(move |r| r.touch_upload(&n, &i)).await?;
        Ok(upload_reply(StatusCode::ACCEPTED, &name, &id, size))
    }

    pub(super) async fn http_put_upload<B>(
        &self,
        parts: &Parts,
        q: &Query,
        name: String,
        id: String,
        body: B,
    ) -> Result<Response<BoxBody>, RegistryError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let d = match q.get("digest") {
            Some(d) => parse_digest(d)?,
            None => {
                return Err(RegistryError::DigestInvalid {
                    value: String::new(),
                    reason: "the closing PUT of an upload needs a digest parameter".into(),
                });
            }
        };
        let w = self.append(parts, &name, &id, body).await?;
        let (n, d2) = (name.clone(), d.clone());
        self.blocking(move |r| r.complete_upload(&n, &id, Some(w), &d2, None))
            .await?;
        Ok(blob_created(&name, &d))
    }
}

#[cfg(test)]
mod tests {
    use http::{Method, StatusCode};

    use super::super::call;
    use crate::testutil::Fixture;
    use dockyard_image::Digest;

    async fn start(r: &crate::Registry) -> String {
        let (status, h, _) = call(r, Method::POST, "/v2/a/blobs/uploads/", &[], b"").await;
        assert_eq!(status, StatusCode::ACCEPTED);
        h["location"].to_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn the_closing_put_continues_with_the_parked_writer() {
        let f = Fixture::new();
        let r = &f.registry;
        let loc = start(r).await;
        let (status, _, _) = call(r, Method::PATCH, &loc, &[], b"hello").await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(r.inner.parked.len(), 1);
        let d = Digest::of(b"hello world");
        let put = format!("{loc}?digest={d}");
        let range = [("content-range", "5-10")];
        let (status, _, _) = call(r, Method::PUT, &put, &range, b" world").await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(r.inner.parked.len(), 0);
        let (status, _, body) = call(r, Method::GET, &format!("/v2/a/blobs/{d}"), &[], b"").await;
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"hello world"[..]));
    }

    #[tokio::test]
    async fn a_parked_writer_of_an_ended_session_is_not_used() {
        let f = Fixture::new();
        let r = &f.registry;
        let loc = start(r).await;
        let id = loc.rsplit('/').next().unwrap().to_owned();
        call(r, Method::PATCH, &loc, &[], b"abc").await;
        // Ended behind the HTTP layer's back (as expiry does).
        r.cancel_upload("a", &id).unwrap();
        let d = Digest::of(b"abc");
        let (status, _, body) = call(r, Method::PUT, &format!("{loc}?digest={d}"), &[], b"").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(String::from_utf8_lossy(&body).contains("BLOB_UPLOAD_UNKNOWN"));
        assert_eq!(r.inner.parked.len(), 0);
        assert!(r.stat_blob("a", &d).is_err());

        // Cancelling over HTTP closes the parked writer.
        let loc = start(r).await;
        call(r, Method::PATCH, &loc, &[], b"abc").await;
        assert_eq!(r.inner.parked.len(), 1);
        let (status, _, _) = call(r, Method::DELETE, &loc, &[], b"").await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(r.inner.parked.len(), 0);
    }
}
