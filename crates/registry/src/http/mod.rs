//! The HTTP face: decode a request into one of the typed operations of
//! [`Registry`], run it (on the blocking pool, since the stores block;
//! manifest pulls excepted, see `manifests.rs`), encode the result.
//! Errors become the spec's JSON here and only here.

mod blobs;
mod body;
mod manifests;
mod range;
mod route;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Body;

pub use body::BoxBody;
use body::BoxError;
use route::Route;

use crate::Registry;
use crate::auth::{Action, AuthFailure};
use crate::error::RegistryError;
use crate::names::check_name;

pub(crate) const API_VERSION: HeaderName =
    HeaderName::from_static("docker-distribution-api-version");
pub(crate) const CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");
pub(crate) const UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");
pub(crate) const UPLOAD_SESSION: HeaderName = HeaderName::from_static("blob-upload-session-id");
pub(crate) const OCI_SUBJECT: HeaderName = HeaderName::from_static("oci-subject");
pub(crate) const OCI_TAG: HeaderName = HeaderName::from_static("oci-tag");
pub(crate) const OCI_FILTERS: HeaderName = HeaderName::from_static("oci-filters-applied");

/// A response under construction; header values that are not valid
/// (which ours never are: names, digests and tags are ASCII) are dropped.
pub(crate) struct Reply(Response<BoxBody>);

impl Reply {
    pub fn new(status: StatusCode) -> Self {
        let mut r = Response::new(body::empty());
        *r.status_mut() = status;
        Self(r)
    }

    pub fn header(mut self, name: HeaderName, value: impl AsRef<str>) -> Self {
        if let Ok(v) = HeaderValue::from_str(value.as_ref()) {
            self.0.headers_mut().append(name, v);
        }
        self
    }

    pub fn header_value(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.0.headers_mut().append(name, value);
        self
    }

    pub fn body(mut self, b: BoxBody) -> Self {
        *self.0.body_mut() = b;
        self
    }

    /// A JSON body with its type and length.
    pub fn json(self, content_type: &str, v: &serde_json::Value) -> Self {
        let bytes = serde_json::to_vec(v).unwrap_or_default();
        self.header(header::CONTENT_TYPE, content_type)
            .header(header::CONTENT_LENGTH, bytes.len().to_string())
            .body(body::full(bytes))
    }

    pub fn done(self) -> Response<BoxBody> {
        self.0
    }
}

/// The query string's pairs, decoded.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    fn parse(parts: &Parts) -> Self {
        let q = parts.uri.query().unwrap_or_default();
        Self(
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The `n` of a listing; a non-number is a bad request.
    pub fn n(&self) -> Result<Option<usize>, RegistryError> {
        match self.get("n") {
            None => Ok(None),
            Some(n) => n
                .parse()
                .map(Some)
                .map_err(|_| RegistryError::BadRequest(format!("invalid page size n={n:?}"))),
        }
    }
}

pub(crate) fn header_str<'a>(parts: &'a Parts, name: &HeaderName) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

impl Registry {
    /// Serves one request whose path starts with `/v2`. Never fails: errors
    /// are answered in the spec's JSON shape.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<BoxBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let is_head = req.method() == Method::HEAD;
        let mut resp = match self.dispatch(req).await {
            Ok(r) => r,
            Err(e) => error_response(&e, is_head),
        };
        resp.headers_mut()
            .insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
        resp
    }

    async fn dispatch<B>(&self, req: Request<B>) -> Result<Response<BoxBody>, RegistryError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_owned();
        let route = Route::parse(&path).ok_or_else(|| RegistryError::NoRoute(path.clone()))?;
        let q = Query::parse(&parts);
        let not_allowed = || RegistryError::MethodNotAllowed {
            method: parts.method.to_string(),
            path: path.clone(),
        };
        let m = parts.method.clone();
        match route {
            Route::Base => {
                if m != Method::GET && m != Method::HEAD {
                    return Err(not_allowed());
                }
                self.authorize(&parts, None, Action::Pull)?;
                Ok(Reply::new(StatusCode::OK)
                    .json("application/json", &serde_json::json!({}))
                    .done())
            }
            Route::Catalog if m == Method::GET => {
                self.authorize(&parts, None, Action::Catalog)?;
                self.http_catalog(&q).await
            }
            Route::Tags { name } if m == Method::GET => {
                self.check(&parts, &name, Action::Pull)?;
                self.http_tags(name, &q).await
            }
            Route::Referrers { name, digest } if m == Method::GET => {
                self.check(&parts, &name, Action::Pull)?;
                self.http_referrers(name, &digest, &q).await
            }
            Route::Manifest { name, reference } => match m {
                Method::GET | Method::HEAD => {
                    self.check(&parts, &name, Action::Pull)?;
                    self.http_get_manifest(&parts, name, &reference).await
                }
                Method::PUT => {
                    self.check(&parts, &name, Action::Push)?;
                    self.http_put_manifest(&parts, &q, name, &reference, body)
                        .await
                }
                Method::DELETE => {
                    self.check(&parts, &name, Action::Delete)?;
                    self.http_delete_manifest(name, &reference).await
                }
                _ => Err(not_allowed()),
            },
            Route::Blob { name, digest } => match m {
                Method::GET | Method::HEAD => {
                    self.check(&parts, &name, Action::Pull)?;
                    self.http_get_blob(&parts, name, &digest).await
                }
                Method::DELETE => {
                    self.check(&parts, &name, Action::Delete)?;
                    self.http_delete_blob(name, &digest).await
                }
                _ => Err(not_allowed()),
            },
            Route::Uploads { name } if m == Method::POST => {
                self.check(&parts, &name, Action::Push)?;
                self.http_post_upload(&parts, &q, name, body).await
            }
            Route::Upload { name, id } => {
                self.check(&parts, &name, Action::Push)?;
                match m {
                    Method::GET => self.http_upload_status(name, id).await,
                    Method::PATCH => self.http_patch_upload(&parts, name, id, body).await,
                    Method::PUT => self.http_put_upload(&parts, &q, name, id, body).await,
                    Method::DELETE => self.http_cancel_upload(name, id).await,
                    _ => Err(not_allowed()),
                }
            }
            _ => Err(not_allowed()),
        }
    }

    fn authorize(
        &self,
        parts: &Parts,
        repo: Option<&str>,
        action: Action,
    ) -> Result<(), AuthFailure> {
        self.inner.auth.authorize(parts, repo, action)
    }

    /// A valid name first (a 400 reveals nothing), then permission.
    fn check(&self, parts: &Parts, name: &str, action: Action) -> Result<(), RegistryError> {
        check_name(name)?;
        Ok(self.authorize(parts, Some(name), action)?)
    }

    /// Runs a blocking operation on the blocking pool.
    pub(crate) async fn blocking<T, F>(&self, f: F) -> Result<T, RegistryError>
    where
        T: Send + 'static,
        F: FnOnce(&Registry) -> Result<T, RegistryError> + Send + 'static,
    {
        let r = self.clone();
        tokio::task::spawn_blocking(move || f(&r))
            .await
            .map_err(|e| RegistryError::Internal(format!("registry task: {e}")))?
    }
}

/// Runs one request through [`Registry::handle`] in process; returns the
/// status, headers and body.
#[cfg(test)]
pub(crate) async fn call(
    r: &Registry,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (StatusCode, http::HeaderMap, Bytes) {
    use http_body_util::{BodyExt, Full};
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::copy_from_slice(body)))
        .expect("a valid request");
    let (parts, body) = r.handle(req).await.into_parts();
    let body = body.collect().await.expect("a body").to_bytes();
    (parts.status, parts.headers, body)
}

/// The one place errors become responses.
pub(crate) fn error_response(e: &RegistryError, is_head: bool) -> Response<BoxBody> {
    let status = e.status();
    if status.is_server_error() {
        tracing::error!("registry: {e}");
    } else {
        tracing::debug!("registry: {e}");
    }
    let mut reply = Reply::new(status);
    match e {
        RegistryError::RangeInvalid { name, id, size } => {
            reply = reply
                .header(header::LOCATION, format!("/v2/{name}/blobs/uploads/{id}"))
                .header(header::RANGE, range::upload_range(*size))
                .header(UPLOAD_UUID, id)
                .header(UPLOAD_SESSION, id);
        }
        RegistryError::Auth(AuthFailure::Unauthorized { challenge, .. }) => {
            reply = reply.header(header::WWW_AUTHENTICATE, challenge.header_value());
        }
        RegistryError::Busy(_) => reply = reply.header(header::RETRY_AFTER, "1"),
        _ => {}
    }
    if is_head {
        return reply.done();
    }
    reply.json("application/json", &e.to_json()).done()
}
