//! A borrowed view of an HTTP request's head, so the front door works
//! with any server framework that can hand out `http` types.

use http::{HeaderMap, Method, Uri};

#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub method: &'a Method,
    /// As received: the path and query are still percent-encoded.
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
}

impl<'a> RequestView<'a> {
    pub fn new(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        Self {
            method,
            uri,
            headers,
        }
    }

    /// The first value of a header, if it is present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The raw (still encoded) query string, empty when there is none.
    pub fn raw_query(&self) -> &'a str {
        self.uri.query().unwrap_or("")
    }
}

impl<'a> From<&'a http::request::Parts> for RequestView<'a> {
    fn from(parts: &'a http::request::Parts) -> Self {
        Self::new(&parts.method, &parts.uri, &parts.headers)
    }
}

impl<'a, B> From<&'a http::Request<B>> for RequestView<'a> {
    fn from(req: &'a http::Request<B>) -> Self {
        Self::new(req.method(), req.uri(), req.headers())
    }
}
