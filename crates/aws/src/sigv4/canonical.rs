//! The canonical request and the signing key, as AWS defines them for
//! every service but S3: the path is normalised and encoded once more on
//! top of its wire encoding ("double encoding"), query parameters are
//! decoded, strictly re-encoded and sorted, header values are trimmed and
//! their runs of spaces folded.

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

use crate::request::RequestView;

pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
pub(crate) const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// RFC 3986 unreserved characters stay; everything else is `%XX`.
const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
const PATH: &AsciiSet = &STRICT.remove(b'/');

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The canonical URI from the path exactly as it came on the wire.
pub(crate) fn canonical_uri(raw_path: &str) -> String {
    utf8_percent_encode(&normalize_path(raw_path), PATH).to_string()
}

/// Removes `.` and `..` segments and empty segments (`//`), keeping a
/// trailing slash, as the SDKs do before signing.
fn normalize_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_string();
    }
    if !path.contains('.') && !path.contains("//") && path.starts_with('/') {
        return path.to_string();
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    let trailing = ["/", "/.", "/..", "/./", "/../"]
        .iter()
        .any(|end| path.ends_with(end));
    if out.is_empty() || trailing {
        out.push('/');
    }
    out
}

fn form_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// The canonical query string from the raw query. For presigned requests
/// `X-Amz-Signature` is left out, since it cannot sign itself.
pub(crate) fn canonical_query(raw_query: &str, drop_signature: bool) -> String {
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = form_decode(k);
            if drop_signature && k == "X-Amz-Signature" {
                return None;
            }
            let v = form_decode(v);
            Some((
                utf8_percent_encode(&k, STRICT).to_string(),
                utf8_percent_encode(&v, STRICT).to_string(),
            ))
        })
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Trims spaces at both ends and folds runs of spaces into one (only the
/// space character, as the AWS SDKs do).
fn trim_all(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut last_space = false;
    for c in value.trim_matches(' ').chars() {
        if c == ' ' {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    out
}

/// The canonical headers block: one `name:values\n` line per signed
/// header, values of repeated headers joined by commas in received order.
pub(crate) fn canonical_headers(req: &RequestView<'_>, signed: &[String]) -> String {
    let mut out = String::new();
    for name in signed {
        let mut values: Vec<String> = req
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| trim_all(&String::from_utf8_lossy(v.as_bytes())))
            .collect();
        if values.is_empty() && name == "host" {
            // HTTP/2 carries the host as `:authority`, which ends up in
            // the URI rather than in the header map.
            if let Some(authority) = req.uri.authority() {
                values.push(authority.as_str().to_string());
            }
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out
}

pub(crate) struct CanonicalRequest<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub query: &'a str,
    pub headers: &'a str,
    pub signed_headers: &'a str,
    pub payload_hash: &'a str,
}

impl CanonicalRequest<'_> {
    pub fn render(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            self.method, self.uri, self.query, self.headers, self.signed_headers, self.payload_hash
        )
    }
}

pub(crate) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key).expect("HMAC-SHA256 accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

pub(crate) fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

pub(crate) fn signature(key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac_sha256(key, string_to_sign.as_bytes()))
}

/// Compares without an early exit, so timing does not reveal how much of
/// a guessed signature or token was right.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_then_encoded_again() {
        let cases = [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("/./", "/"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/./example", "/example"),
            ("//example//", "/example/"),
            ("/a/b/.", "/a/b/"),
            ("/a/../../b", "/b"),
            ("/example%20space/", "/example%2520space/"),
            (
                "/functions/arn%3Aaws%3Alambda/invocations",
                "/functions/arn%253Aaws%253Alambda/invocations",
            ),
            ("/-._~AZaz09", "/-._~AZaz09"),
            ("/a:b@c", "/a%3Ab%40c"),
        ];
        for (raw, want) in cases {
            assert_eq!(canonical_uri(raw), want, "path {raw:?}");
        }
    }

    #[test]
    fn query_is_decoded_reencoded_and_sorted() {
        assert_eq!(canonical_query("", false), "");
        assert_eq!(
            canonical_query("Param2=value2&Param1=value1", false),
            "Param1=value1&Param2=value2"
        );
        assert_eq!(canonical_query("b=2&a=2&a=1&c", false), "a=1&a=2&b=2&c=");
        assert_eq!(
            canonical_query("k=a+b&s=a%20b&t=%7e&u=a/b", false),
            "k=a%20b&s=a%20b&t=~&u=a%2Fb"
        );
        // Sorting happens on the encoded form: `%E1...` sorts before `P`.
        assert_eq!(
            canonical_query("Param-3=Value3&Param=Value2&%E1%88%B4=Value1", false),
            "%E1%88%B4=Value1&Param=Value2&Param-3=Value3"
        );
        assert_eq!(
            canonical_query("X-Amz-Signature=abc&X-Amz-Date=1", true),
            "X-Amz-Date=1"
        );
        assert_eq!(
            canonical_query("X-Amz-Signature=abc&X-Amz-Date=1", false),
            "X-Amz-Date=1&X-Amz-Signature=abc"
        );
    }

    #[test]
    fn header_values_are_trimmed_and_folded() {
        assert_eq!(trim_all("  a   b  c "), "a b c");
        assert_eq!(trim_all("\"a   b   c\""), "\"a b c\"");
        assert_eq!(trim_all("a\tb"), "a\tb");
        assert_eq!(trim_all(""), "");
    }

    #[test]
    fn signing_key_matches_aws_documentation_example() {
        // From AWS's "Examples of how to derive a signing key" page.
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
