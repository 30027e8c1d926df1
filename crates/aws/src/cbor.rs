//! Smithy RPC v2 CBOR (`smithy-protocol: rpc-v2-cbor`), the protocol newer
//! SDKs pick for services that offer it (CloudWatch): `POST
//! /service/{ServiceName}/operation/{Operation}` with a CBOR body.
//!
//! Its data model is JSON's plus byte strings and tagged timestamps, so a
//! body is translated to the `serde_json::Value` a [`JsonService`] takes
//! (timestamps become epoch seconds and blobs base64 text, as the JSON
//! protocol writes them) and the service's reply is translated back. Going
//! back, the members a service names as timestamps are tagged (tag 1).
//!
//! [`JsonService`]: crate::JsonService

use base64::Engine;
use bytes::Bytes;
use ciborium::value::Value as Cbor;
use http::header::{HeaderName, HeaderValue};
use serde_json::{Map, Number, Value};

use crate::error::ApiError;
use crate::request::RequestView;
use crate::response::Response;

pub const CONTENT_TYPE: &str = "application/cbor";
pub const PROTOCOL_HEADER: &str = "smithy-protocol";
pub const PROTOCOL: &str = "rpc-v2-cbor";
/// The header awsQueryCompatible services put the Query error code in.
pub const QUERY_ERROR_HEADER: &str = "x-amzn-query-error";
/// Deeper nesting than this is refused rather than recursed into.
const MAX_DEPTH: usize = 64;

/// Whether a request says it speaks RPC v2 CBOR.
pub fn is_cbor(req: &RequestView<'_>) -> bool {
    req.header(PROTOCOL_HEADER)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(PROTOCOL))
}

/// The service and operation a request's path names.
pub fn parse_path<'a>(req: &RequestView<'a>) -> Result<(&'a str, &'a str), ApiError> {
    let path = req.uri.path();
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["", "service", service, "operation", op] if !service.is_empty() && !op.is_empty() => {
            Ok((service, op))
        }
        _ => Err(ApiError::client(
            "UnknownOperationException",
            format!("path '{path}' is not of the form /service/NAME/operation/NAME"),
        )),
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::client("SerializationException", message)
}

/// The request body as the JSON value a service takes; an empty body is `{}`.
pub fn decode_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let item: Cbor = ciborium::de::from_reader(body)
        .map_err(|e| bad(format!("the body is not valid CBOR: {e}")))?;
    let v = to_json(item, 0)?;
    if !v.is_object() {
        return Err(bad("the body must be a CBOR map"));
    }
    Ok(v)
}

fn to_json(item: Cbor, depth: usize) -> Result<Value, ApiError> {
    if depth > MAX_DEPTH {
        return Err(bad("the body nests too deeply"));
    }
    Ok(match item {
        Cbor::Null => Value::Null,
        Cbor::Bool(b) => Value::Bool(b),
        Cbor::Integer(i) => {
            let i = i128::from(i);
            if let Ok(n) = i64::try_from(i) {
                Value::Number(n.into())
            } else if let Ok(n) = u64::try_from(i) {
                Value::Number(n.into())
            } else {
                return Err(bad(format!("integer {i} is out of range")));
            }
        }
        Cbor::Float(f) => Value::Number(
            Number::from_f64(f).ok_or_else(|| bad(format!("the number {f} is not finite")))?,
        ),
        Cbor::Text(s) => Value::String(s),
        Cbor::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Cbor::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|i| to_json(i, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Cbor::Map(pairs) => {
            let mut m = Map::with_capacity(pairs.len());
            for (k, v) in pairs {
                let Cbor::Text(k) = k else {
                    return Err(bad("map keys must be text"));
                };
                // Smithy: a null member is an absent one.
                if !v.is_null() {
                    m.insert(k, to_json(v, depth + 1)?);
                }
            }
            Value::Object(m)
        }
        // Tag 1: epoch seconds, which is how the JSON protocol writes a
        // timestamp too.
        Cbor::Tag(1, inner) => match *inner {
            v @ (Cbor::Integer(_) | Cbor::Float(_)) => to_json(v, depth + 1)?,
            _ => return Err(bad("a timestamp (tag 1) must be a number")),
        },
        Cbor::Tag(t, _) => return Err(bad(format!("CBOR tag {t} is not supported"))),
        _ => return Err(bad("unsupported CBOR item")),
    })
}

/// A reply value as CBOR; members named in `timestamps` (and the items of
/// such members that are arrays) are written as tag-1 timestamps.
pub fn from_json(v: &Value, timestamps: &[&str]) -> Cbor {
    match v {
        Value::Null => Cbor::Null,
        Value::Bool(b) => Cbor::Bool(*b),
        Value::Number(n) => number(n),
        Value::String(s) => Cbor::Text(s.clone()),
        Value::Array(items) => {
            Cbor::Array(items.iter().map(|i| from_json(i, timestamps)).collect())
        }
        Value::Object(m) => Cbor::Map(
            m.iter()
                .map(|(k, v)| {
                    let value = if timestamps.contains(&k.as_str()) {
                        timestamp(v)
                    } else {
                        from_json(v, timestamps)
                    };
                    (Cbor::Text(k.clone()), value)
                })
                .collect(),
        ),
    }
}

fn number(n: &Number) -> Cbor {
    if let Some(i) = n.as_i64() {
        Cbor::Integer(i.into())
    } else if let Some(u) = n.as_u64() {
        Cbor::Integer(u.into())
    } else {
        Cbor::Float(n.as_f64().unwrap_or(0.0))
    }
}

fn timestamp(v: &Value) -> Cbor {
    match v {
        Value::Number(n) => Cbor::Tag(1, Box::new(Cbor::Float(n.as_f64().unwrap_or(0.0)))),
        Value::Array(items) => Cbor::Array(items.iter().map(timestamp).collect()),
        other => from_json(other, &[]),
    }
}

fn encode(item: &Cbor) -> Bytes {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = ciborium::ser::into_writer(item, &mut out);
    Bytes::from(out)
}

fn with_protocol(mut r: Response) -> Response {
    r.headers.insert(
        HeaderName::from_static(PROTOCOL_HEADER),
        HeaderValue::from_static(PROTOCOL),
    );
    r
}

pub fn success(request_id: &str, output: &Value, timestamps: &[&str]) -> Response {
    let body = encode(&from_json(output, timestamps));
    with_protocol(Response::new(200, CONTENT_TYPE, request_id, body))
}

/// An error: `{"__type", "message"}`, plus the Query code header when the
/// service is awsQueryCompatible (`query_code`).
pub fn error(request_id: &str, err: &ApiError, query_code: Option<&str>) -> Response {
    let body = Cbor::Map(vec![
        (Cbor::Text("__type".into()), Cbor::Text(err.code.clone())),
        (
            Cbor::Text("message".into()),
            Cbor::Text(err.message.clone()),
        ),
    ]);
    let mut r = with_protocol(Response::new(
        err.status,
        CONTENT_TYPE,
        request_id,
        encode(&body),
    ));
    if let Some(code) = query_code {
        add_query_error(&mut r, code, err);
    }
    r
}

/// `x-amzn-query-error: CODE;Sender|Receiver`, which awsQueryCompatible
/// services add to JSON and CBOR errors so SDKs report the Query code.
pub fn add_query_error(r: &mut Response, code: &str, err: &ApiError) {
    let fault = match err.fault() {
        crate::error::Fault::Sender => "Sender",
        crate::error::Fault::Receiver => "Receiver",
    };
    if let Ok(v) = HeaderValue::from_str(&format!("{code};{fault}")) {
        r.headers
            .insert(HeaderName::from_static(QUERY_ERROR_HEADER), v);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cbor(item: &Cbor) -> Vec<u8> {
        encode(item).to_vec()
    }

    #[test]
    fn decodes_maps_timestamps_blobs_and_drops_nulls() {
        let body = cbor(&Cbor::Map(vec![
            (Cbor::Text("Namespace".into()), Cbor::Text("App".into())),
            (
                Cbor::Text("StartTime".into()),
                Cbor::Tag(1, Box::new(Cbor::Float(1_700_000_000.5))),
            ),
            (Cbor::Text("N".into()), Cbor::Integer((-3).into())),
            (Cbor::Text("B".into()), Cbor::Bytes(b"hi".to_vec())),
            (Cbor::Text("Gone".into()), Cbor::Null),
            (
                Cbor::Text("L".into()),
                Cbor::Array(vec![Cbor::Bool(true), Cbor::Float(0.25)]),
            ),
        ]));
        let v = decode_body(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"Namespace": "App", "StartTime": 1_700_000_000.5, "N": -3,
                               "B": "aGk=", "L": [true, 0.25]})
        );
        assert_eq!(decode_body(b"").unwrap(), serde_json::json!({}));
    }

    #[test]
    fn refuses_what_is_not_a_cbor_map() {
        for body in [
            cbor(&Cbor::Array(vec![])),
            vec![0xff, 0x00],
            cbor(&Cbor::Map(vec![(Cbor::Integer(1.into()), Cbor::Null)])),
            cbor(&Cbor::Map(vec![(
                Cbor::Text("T".into()),
                Cbor::Tag(1, Box::new(Cbor::Text("x".into()))),
            )])),
        ] {
            let e = decode_body(&body).unwrap_err();
            assert_eq!(e.code, "SerializationException", "{e}");
        }
    }

    #[test]
    fn replies_tag_named_timestamps_only() {
        let v = serde_json::json!({"Datapoints": [{"Timestamp": 60.0, "Sum": 2}],
                                   "Timestamps": [60, 120], "Label": "x"});
        let c = from_json(&v, &["Timestamp", "Timestamps"]);
        let Cbor::Map(m) = c else { panic!() };
        let get = |k: &str| {
            m.iter()
                .find(|(n, _)| n.as_text() == Some(k))
                .unwrap()
                .1
                .clone()
        };
        assert_eq!(
            get("Timestamps"),
            Cbor::Array(vec![
                Cbor::Tag(1, Box::new(Cbor::Float(60.0))),
                Cbor::Tag(1, Box::new(Cbor::Float(120.0)))
            ])
        );
        let Cbor::Array(points) = get("Datapoints") else {
            panic!()
        };
        let Cbor::Map(p) = &points[0] else { panic!() };
        let member = |k: &str| {
            p.iter()
                .find(|(n, _)| n.as_text() == Some(k))
                .unwrap()
                .1
                .clone()
        };
        assert_eq!(
            member("Timestamp"),
            Cbor::Tag(1, Box::new(Cbor::Float(60.0)))
        );
        assert_eq!(member("Sum"), Cbor::Integer(2.into()));
        assert_eq!(get("Label"), Cbor::Text("x".into()));
    }

    #[test]
    fn errors_carry_the_type_and_the_query_code() {
        let e = ApiError::client("InvalidParameterValueException", "bad");
        let r = error("rid", &e, Some("InvalidParameterValue"));
        assert_eq!(r.status, 400);
        assert_eq!(
            r.headers[QUERY_ERROR_HEADER],
            "InvalidParameterValue;Sender"
        );
        assert_eq!(r.headers[PROTOCOL_HEADER], PROTOCOL);
        let body: Cbor = ciborium::de::from_reader(&r.body[..]).unwrap();
        let v = to_json(body, 0).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"__type": "InvalidParameterValueException", "message": "bad"})
        );
    }
}
