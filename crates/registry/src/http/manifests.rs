//! Manifest endpoints and listings: manifests by tag or digest, tags,
//! referrers and the catalog.

use bytes::Bytes;
use dockyard_image::manifest::OCI_INDEX;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Method, Response, StatusCode};
use hyper::body::Body;

use super::body::{self, BoxError, collect_limited};
use super::{BoxBody, CONTENT_DIGEST, OCI_FILTERS, OCI_SUBJECT, OCI_TAG, Query, Reply, header_str};
use crate::Registry;
use crate::error::RegistryError;
use crate::manifest_pull::ManifestHead;
use crate::manifests::Page;
use crate::names::{ManifestRef, parse_digest};

fn manifest_headers(head: &ManifestHead) -> Reply {
    Reply::new(StatusCode::OK)
        .header(header::CONTENT_TYPE, &head.media_type)
        .header(CONTENT_DIGEST, head.digest.as_str())
        .header_value(header::CONTENT_LENGTH, HeaderValue::from(head.size))
        .header(header::ETAG, format!("\"{}\"", head.digest))
}

/// The `Link` to the next page, as RFC 5988 wants it.
fn next_link(path: &str, n: usize, last: &str) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("n", &n.to_string())
        .append_pair("last", last)
        .finish();
    format!("<{path}?{q}>; rel=\"next\"")
}

impl Registry {
    fn paged(&self, path: &str, n: Option<usize>, page: &Page<String>, body: Reply) -> Reply {
        match page.items.last() {
            Some(last) if page.more => {
                let n = n
                    .unwrap_or(self.config().page_size)
                    .min(self.config().page_size);
                body.header(header::LINK, next_link(path, n, last))
            }
            _ => body,
        }
    }

    pub(super) async fn http_get_manifest(
        &self,
        parts: &Parts,
        name: String,
        reference: &str,
    ) -> Result<Response<BoxBody>, RegistryError> {
        let reference = ManifestRef::parse(reference)?;
        let accept: Vec<String> = parts
            .headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        // Inline, not on the blocking pool: two lookups in the state store,
        // whose pages redb keeps in memory, take a few microseconds, less
        // than the hand-off to a blocking thread and back (which, measured,
        // was a third of the request's CPU). Only the file read of a
        // manifest not yet in memory goes to the pool.
        let head = self.manifest_head(&name, &reference, &accept)?;
        let reply = manifest_headers(&head);
        if parts.method == Method::HEAD {
            return Ok(reply.done());
        }
        let bytes = match self.cached_manifest(&head.digest) {
            Some(b) => b,
            None => {
                let (n, h) = (name.clone(), head.clone());
                self.blocking(move |r| r.manifest_bytes(&n, &reference, &h))
                    .await?
            }
        };
        if self.note_pull_deferred(&name, &head.digest) {
            // Writing the batch commits to the state store: not on an I/O
            // thread, and not in this request's way.
            let r = self.clone();
            tokio::task::spawn_blocking(move || {
                if let Err(e) = r.flush_pull_times() {
                    tracing::warn!("recording pull times: {e}");
                }
            });
        }
        Ok(reply.body(body::full(bytes)).done())
    }

    pub(super) async fn http_put_manifest<B>(
        &self,
        parts: &Parts,
        q: &Query,
        name: String,
        reference: &str,
        body: B,
    ) -> Result<Response<BoxBody>, RegistryError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let reference = ManifestRef::parse(reference)?;
        let limit = self.config().max_manifest_size;
        let declared = header_str(parts, &header::CONTENT_LENGTH).and_then(|v| v.parse().ok());
        if let Some(size) = declared.filter(|&s| s > limit) {
            return Err(RegistryError::ManifestTooLarge { size, limit });
        }
        let bytes = collect_limited(body, limit).await?;
        let content_type = header_str(parts, &header::CONTENT_TYPE).map(str::to_owned);
        let query_tags = q.all("tag");
        let n = name.clone();
        let tags = query_tags.clone();
        let pushed = self
            .blocking(move |r| {
                r.put_manifest(&n, &reference, content_type.as_deref(), &bytes, &tags)
            })
            .await?;
        let mut reply = Reply::new(StatusCode::CREATED)
            .header(
                header::LOCATION,
                format!("/v2/{name}/manifests/{}", pushed.digest),
            )
            .header(CONTENT_DIGEST, pushed.digest.as_str())
            .header(header::CONTENT_LENGTH, "0");
        if let Some(s) = &pushed.subject {
            reply = reply.header(OCI_SUBJECT, s.as_str());
        }
        for t in pushed.tags.iter().filter(|t| query_tags.contains(t)) {
            reply = reply.header(OCI_TAG, t);
        }
        Ok(reply.done())
    }

    pub(super) async fn http_delete_manifest(
        &self,
        name: String,
        reference: &str,
    ) -> Result<Response<BoxBody>, RegistryError> {
        let reference = ManifestRef::parse(reference)?;
        self.blocking(move |r| r.delete_manifest(&name, &reference))
            .await?;
        Ok(Reply::new(StatusCode::ACCEPTED)
            .header(header::CONTENT_LENGTH, "0")
            .done())
    }

    pub(super) async fn http_tags(
        &self,
        name: String,
        q: &Query,
    ) -> Result<Response<BoxBody>, RegistryError> {
        let n = q.n()?;
        let last = q.get("last").map(str::to_owned);
        let n2 = name.clone();
        let page = self
            .blocking(move |r| r.tags(&n2, n, last.as_deref()))
            .await?;
        let body = serde_json::json!({"name": name, "tags": page.items});
        let reply = Reply::new(StatusCode::OK).json("application/json", &body);
        Ok(self
            .paged(&format!("/v2/{name}/tags/list"), n, &page, reply)
            .done())
    }

    pub(super) async fn http_catalog(&self, q: &Query) -> Result<Response<BoxBody>, RegistryError> {
        let n = q.n()?;
        let last = q.get("last").map(str::to_owned);
        let page = self
            .blocking(move |r| r.repositories(n, last.as_deref()))
            .await?;
        let body = serde_json::json!({"repositories": page.items});
        let reply = Reply::new(StatusCode::OK).json("application/json", &body);
        Ok(self.paged("/v2/_catalog", n, &page, reply).done())
    }

    pub(super) async fn http_referrers(
        &self,
        name: String,
        digest: &str,
        q: &Query,
    ) -> Result<Response<BoxBody>, RegistryError> {
        let subject = parse_digest(digest)?;
        let artifact_type = q.get("artifactType").map(str::to_owned);
        let filter = artifact_type.clone();
        let list = self
            .blocking(move |r| r.referrers(&name, &subject, filter.as_deref()))
            .await?;
        let body = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": list,
        });
        let mut reply = Reply::new(StatusCode::OK).json(OCI_INDEX, &body);
        if artifact_type.is_some() {
            reply = reply.header(OCI_FILTERS, "artifactType");
        }
        Ok(reply.done())
    }
}

#[cfg(test)]
mod tests {
    use dockyard_image::manifest::{DOCKER_MANIFEST, OCI_MANIFEST};
    use http::Method;

    use super::super::call;
    use super::*;
    use crate::ManifestRef;
    use crate::testutil::{Fixture, push_image};

    #[tokio::test]
    async fn get_and_head_by_tag_and_digest() {
        let f = Fixture::new();
        let r = &f.registry;
        let (d, bytes) = push_image(r, "team/app", "v1", b"1");
        let len = bytes.len().to_string();
        for path in [
            "/v2/team/app/manifests/v1",
            &format!("/v2/team/app/manifests/{d}"),
        ] {
            // Twice: the second GET is served from memory.
            for _ in 0..2 {
                let (status, h, body) = call(r, Method::GET, path, &[], b"").await;
                assert_eq!(status, StatusCode::OK);
                assert_eq!(body, bytes);
                assert_eq!(h["content-type"], OCI_MANIFEST);
                assert_eq!(h["docker-content-digest"], d.as_str());
                assert_eq!(h["content-length"], len.as_str());
                assert_eq!(h["etag"], format!("\"{d}\"").as_str());
                let (status, hh, body) = call(r, Method::HEAD, path, &[], b"").await;
                assert_eq!((status, body.len()), (StatusCode::OK, 0));
                for k in [
                    "content-type",
                    "docker-content-digest",
                    "content-length",
                    "etag",
                ] {
                    assert_eq!(hh[k], h[k], "{k}");
                }
            }
        }
        let accept = [("accept", DOCKER_MANIFEST)];
        let (status, _, body) =
            call(r, Method::GET, "/v2/team/app/manifests/v1", &accept, b"").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(String::from_utf8_lossy(&body).contains("MANIFEST_UNKNOWN"));
        let (status, _, body) = call(r, Method::GET, "/v2/team/x/manifests/v1", &[], b"").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(String::from_utf8_lossy(&body).contains("NAME_UNKNOWN"));
    }

    #[tokio::test]
    async fn a_get_records_the_pull_and_a_head_does_not() {
        let f = Fixture::new();
        let r = &f.registry;
        let (d, _) = push_image(r, "a", "v1", b"1");
        call(r, Method::HEAD, "/v2/a/manifests/v1", &[], b"").await;
        assert_eq!(r.flush_pull_times().unwrap(), 0);
        call(r, Method::GET, "/v2/a/manifests/v1", &[], b"").await;
        assert_eq!(r.flush_pull_times().unwrap(), 1);
        let info = r.stat_manifest("a", &ManifestRef::Digest(d), &[]).unwrap();
        assert_eq!(info.last_pull, Some(r.now()));
    }

    #[test]
    fn links() {
        assert_eq!(
            next_link("/v2/a/b/tags/list", 2, "v1.0"),
            "</v2/a/b/tags/list?n=2&last=v1.0>; rel=\"next\""
        );
        assert_eq!(
            next_link("/v2/_catalog", 1, "team/app"),
            "</v2/_catalog?n=1&last=team%2Fapp>; rel=\"next\""
        );
    }
}
