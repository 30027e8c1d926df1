//! The AWS JSON 1.0/1.1 protocol: `POST /` with `X-Amz-Target:
//! Prefix.Operation`, a JSON object body, and JSON replies; errors are
//! `{"__type": CODE, "message": MESSAGE}`.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use serde_json::Value;

use crate::error::ApiError;
use crate::request::RequestView;
use crate::response::Response;

pub const CONTENT_TYPE_1_0: &str = "application/x-amz-json-1.0";
pub const CONTENT_TYPE_1_1: &str = "application/x-amz-json-1.1";
/// The Smithy header that names the error type; the AWS SDK for Rust
/// reads it before the body's `__type`.
pub const ERROR_TYPE_HEADER: &str = "x-amzn-errortype";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JsonVersion {
    V1_0,
    V1_1,
}

impl JsonVersion {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::V1_0 => CONTENT_TYPE_1_0,
            Self::V1_1 => CONTENT_TYPE_1_1,
        }
    }
}

/// `X-Amz-Target` split into the service's target prefix and the
/// operation name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    pub prefix: &'a str,
    pub operation: &'a str,
}

pub fn parse_target<'a>(req: &RequestView<'a>) -> Result<Target<'a>, ApiError> {
    let raw = req.header("x-amz-target").ok_or_else(|| {
        ApiError::client("UnknownOperationException", "missing X-Amz-Target header")
    })?;
    match raw.rsplit_once('.') {
        Some((prefix, operation)) if !prefix.is_empty() && !operation.is_empty() => {
            Ok(Target { prefix, operation })
        }
        _ => Err(ApiError::client(
            "UnknownOperationException",
            format!("X-Amz-Target '{raw}' is not of the form Prefix.Operation"),
        )),
    }
}

/// The protocol version from `Content-Type`; anything else is refused the
/// way Smithy servers refuse it (415).
pub fn json_version(req: &RequestView<'_>) -> Result<JsonVersion, ApiError> {
    let raw = req.header("content-type").unwrap_or_default();
    let media = raw.split(';').next().unwrap_or_default().trim();
    if media.eq_ignore_ascii_case(CONTENT_TYPE_1_1) {
        Ok(JsonVersion::V1_1)
    } else if media.eq_ignore_ascii_case(CONTENT_TYPE_1_0) {
        Ok(JsonVersion::V1_0)
    } else {
        Err(ApiError::new(
            "UnsupportedMediaTypeException",
            format!(
                "content type '{raw}' is not supported; expected {CONTENT_TYPE_1_1} or \
                 {CONTENT_TYPE_1_0}"
            ),
            415,
        ))
    }
}

/// The request body as a JSON object; an empty body counts as `{}`.
pub fn decode_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::client(
            "SerializationException",
            format!("malformed JSON request body: {e}"),
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::client(
            "SerializationException",
            "the request body must be a JSON object",
        ));
    }
    Ok(value)
}

pub fn success(request_id: &str, version: JsonVersion, output: &Value) -> Response {
    // Serialising a `Value` cannot fail: its map keys are strings.
    let body = serde_json::to_vec(output).unwrap_or_else(|_| b"{}".to_vec());
    Response::new(200, version.content_type(), request_id, Bytes::from(body))
}

/// A success whose body the service serialised itself.
pub fn success_text(request_id: &str, version: JsonVersion, body: Vec<u8>) -> Response {
    Response::new(200, version.content_type(), request_id, Bytes::from(body))
}

pub fn error(request_id: &str, version: JsonVersion, err: &ApiError) -> Response {
    let body = serde_json::json!({ "__type": err.code, "message": err.message });
    let mut response = Response::new(
        err.status,
        version.content_type(),
        request_id,
        Bytes::from(body.to_string()),
    );
    if let Ok(value) = HeaderValue::from_str(&err.code) {
        response
            .headers
            .insert(HeaderName::from_static(ERROR_TYPE_HEADER), value);
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http::{HeaderMap, Method, Uri};

    fn view_with<'a>(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap) -> RequestView<'a> {
        RequestView::new(method, uri, headers)
    }

    #[test]
    fn targets() {
        let (m, u) = (Method::POST, Uri::from_static("/"));
        let mut h = HeaderMap::new();
        h.insert(
            "x-amz-target",
            "AmazonEC2ContainerServiceV20141113.ListClusters"
                .parse()
                .unwrap(),
        );
        let t = parse_target(&view_with(&m, &u, &h)).unwrap();
        assert_eq!(t.prefix, "AmazonEC2ContainerServiceV20141113");
        assert_eq!(t.operation, "ListClusters");

        for bad in ["NoDot", ".Op", "Prefix."] {
            h.insert("x-amz-target", bad.parse().unwrap());
            let e = parse_target(&view_with(&m, &u, &h)).unwrap_err();
            assert_eq!(e.code, "UnknownOperationException", "{bad}");
        }
        let e = parse_target(&view_with(&m, &u, &HeaderMap::new())).unwrap_err();
        assert_eq!(e.code, "UnknownOperationException");
    }

    #[test]
    fn content_types() {
        let (m, u) = (Method::POST, Uri::from_static("/"));
        let mut h = HeaderMap::new();
        for (ct, want) in [
            ("application/x-amz-json-1.1", JsonVersion::V1_1),
            ("application/x-amz-json-1.0", JsonVersion::V1_0),
            (
                "Application/X-Amz-Json-1.1; charset=utf-8",
                JsonVersion::V1_1,
            ),
        ] {
            h.insert("content-type", ct.parse().unwrap());
            assert_eq!(json_version(&view_with(&m, &u, &h)).unwrap(), want);
        }
        h.insert("content-type", "application/json".parse().unwrap());
        let e = json_version(&view_with(&m, &u, &h)).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.status),
            ("UnsupportedMediaTypeException", 415)
        );
        let e = json_version(&view_with(&m, &u, &HeaderMap::new())).unwrap_err();
        assert_eq!(e.status, 415);
    }

    #[test]
    fn bodies() {
        assert_eq!(decode_body(b"").unwrap(), serde_json::json!({}));
        assert_eq!(decode_body(b" \n").unwrap(), serde_json::json!({}));
        assert_eq!(
            decode_body(br#"{"cluster":"a","n":[1]}"#).unwrap(),
            serde_json::json!({"cluster":"a","n":[1]})
        );
        for bad in [&b"{"[..], b"[1]", b"\"s\"", b"{\"a\":1}x", b"\xff"] {
            let e = decode_body(bad).unwrap_err();
            assert_eq!((e.code.as_str(), e.status), ("SerializationException", 400));
        }
    }

    #[test]
    fn replies() {
        let r = success(
            "rid-1",
            JsonVersion::V1_1,
            &serde_json::json!({"clusterArns": []}),
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.content_type(), Some(CONTENT_TYPE_1_1));
        assert_eq!(r.request_id(), Some("rid-1"));
        assert_eq!(r.body.as_ref(), br#"{"clusterArns":[]}"#);

        let r = error(
            "rid-2",
            JsonVersion::V1_0,
            &ApiError::client("ClusterNotFoundException", "Cluster not found."),
        );
        assert_eq!(r.status, 400);
        assert_eq!(r.content_type(), Some(CONTENT_TYPE_1_0));
        assert_eq!(r.headers[ERROR_TYPE_HEADER], "ClusterNotFoundException");
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"__type": "ClusterNotFoundException", "message": "Cluster not found."})
        );
        let r = error(
            "x",
            JsonVersion::V1_1,
            &ApiError::server("ServerException", "boom"),
        );
        assert_eq!(r.status, 500);
    }
}
