//! The AWS Query protocol (ELBv2, IAM, STS, CloudWatch): parameters as
//! `application/x-www-form-urlencoded` (in the body, or in the query
//! string), flattened with dots (`Names.member.1`, `Tags.member.2.Key`);
//! XML replies and `<ErrorResponse>` errors.

mod xml;

use std::collections::BTreeMap;

use bytes::Bytes;
use percent_encoding::percent_decode_str;

pub use xml::{XmlWriter, escape};

use crate::error::{ApiError, Fault};
use crate::request::RequestView;
use crate::response::Response;

pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
pub const XML_CONTENT_TYPE: &str = "text/xml";

/// Whether the request's body is form-encoded.
pub fn is_form(req: &RequestView<'_>) -> bool {
    req.header("content-type")
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(FORM_CONTENT_TYPE))
}

/// Flat Query parameters, by full dotted name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams {
    params: BTreeMap<String, String>,
}

impl QueryParams {
    /// The query string's parameters, then the form body's (which win on
    /// a clash). The body is read only when it is form-encoded.
    pub fn parse(req: &RequestView<'_>, body: &[u8]) -> Self {
        let mut params = BTreeMap::new();
        decode_into(&mut params, req.raw_query());
        if is_form(req) {
            decode_into(&mut params, &String::from_utf8_lossy(body));
        }
        Self { params }
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            params: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    pub fn action(&self) -> Option<&str> {
        self.get("Action")
    }

    pub fn version(&self) -> Option<&str> {
        self.get("Version")
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// A required parameter, or AWS's validation error naming it.
    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| {
            ApiError::client(
                "ValidationError",
                format!(
                    "1 validation error detected: Value null at '{name}' failed to satisfy \
                     constraint: Member must not be null"
                ),
            )
        })
    }

    pub fn get_i64(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::client(
                        "ValidationError",
                        format!("value '{v}' for parameter {name} is not an integer"),
                    )
                })
            })
            .transpose()
    }

    pub fn get_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.get(name)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::client(
                    "ValidationError",
                    format!("value '{v}' for parameter {name} is not a boolean"),
                )),
            })
            .transpose()
    }

    /// Scalars at `PREFIX.N`, ordered by N.
    pub fn list(&self, prefix: &str) -> Vec<&str> {
        let mut items: Vec<(u32, &str)> = self
            .params
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix(prefix)?.strip_prefix('.')?.parse().ok()?;
                Some((n, v.as_str()))
            })
            .collect();
        items.sort_by_key(|(n, _)| *n);
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// Scalars at `PREFIX.member.N`, the common list shape.
    pub fn members(&self, prefix: &str) -> Vec<&str> {
        self.list(&format!("{prefix}.member"))
    }

    /// Structures at `PREFIX.N.*`, ordered by N, each with the
    /// `PREFIX.N.` part taken off its keys.
    pub fn struct_list(&self, prefix: &str) -> Vec<QueryParams> {
        let mut items: BTreeMap<u32, QueryParams> = BTreeMap::new();
        for (k, v) in &self.params {
            let Some(rest) = k.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
                continue;
            };
            let Some((n, field)) = rest.split_once('.') else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else {
                continue;
            };
            items
                .entry(n)
                .or_default()
                .params
                .insert(field.to_string(), v.clone());
        }
        items.into_values().collect()
    }

    /// Structures at `PREFIX.member.N.*` (`Tags.member.1.Key`...).
    pub fn member_structs(&self, prefix: &str) -> Vec<QueryParams> {
        self.struct_list(&format!("{prefix}.member"))
    }

    /// The nested structure under `PREFIX.` (`HealthCheck.Matcher.HttpCode`
    /// under `HealthCheck` is `Matcher.HttpCode`); empty when absent.
    pub fn nested(&self, prefix: &str) -> QueryParams {
        let params = self
            .params
            .iter()
            .filter_map(|(k, v)| {
                let field = k.strip_prefix(prefix)?.strip_prefix('.')?;
                Some((field.to_string(), v.clone()))
            })
            .collect();
        QueryParams { params }
    }

    /// A map at `PREFIX.entry.N.key` / `PREFIX.entry.N.value`, in N order.
    pub fn map_entries(&self, prefix: &str) -> Vec<(String, String)> {
        self.struct_list(&format!("{prefix}.entry"))
            .into_iter()
            .filter_map(|e| Some((e.get("key")?.to_string(), e.get("value")?.to_string())))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

fn decode_into(params: &mut BTreeMap<String, String>, raw: &str) {
    let decode = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert(decode(k), decode(v));
    }
}

/// `<ActionResponse xmlns><ActionResult>result</ActionResult>
/// <ResponseMetadata><RequestId>` as AWS Query services reply; `result`
/// is the inner XML a service wrote with an [`XmlWriter`].
pub fn success(action: &str, xmlns: &str, request_id: &str, result: &str) -> Response {
    let mut w = XmlWriter::new();
    w.start_ns(&format!("{action}Response"), xmlns);
    w.start(&format!("{action}Result")).raw(result).end();
    w.nested("ResponseMetadata", |w| {
        w.element("RequestId", request_id);
    });
    Response::new(200, XML_CONTENT_TYPE, request_id, Bytes::from(w.finish()))
}

/// `<ErrorResponse><Error><Type><Code><Message></Error><RequestId>`.
pub fn error(xmlns: Option<&str>, request_id: &str, err: &ApiError) -> Response {
    let mut w = XmlWriter::new();
    match xmlns {
        Some(ns) => w.start_ns("ErrorResponse", ns),
        None => w.start("ErrorResponse"),
    };
    w.nested("Error", |w| {
        let fault = match err.fault() {
            Fault::Sender => "Sender",
            Fault::Receiver => "Receiver",
        };
        w.element("Type", fault)
            .element("Code", &err.code)
            .element("Message", &err.message);
    });
    w.element("RequestId", request_id);
    Response::new(
        err.status,
        XML_CONTENT_TYPE,
        request_id,
        Bytes::from(w.finish()),
    )
}

#[cfg(test)]
mod tests;
