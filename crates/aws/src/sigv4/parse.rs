//! Reads the signature's parts out of the `Authorization` header or out
//! of a presigned URL's `X-Amz-*` query parameters.

use chrono::{DateTime, NaiveDateTime, Utc};
use http::header::{AUTHORIZATION, DATE};
use percent_encoding::percent_decode_str;

use super::canonical::ALGORITHM;
use super::error::AuthError;
use crate::request::RequestView;

pub(crate) const AMZ_DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";
/// The longest a presigned URL may live: seven days.
pub(crate) const MAX_PRESIGN_EXPIRES_SECS: i64 = 604_800;

/// Everything the client claims about its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignatureInput {
    pub access_key_id: String,
    pub scope_date: String,
    pub region: String,
    pub service: String,
    /// Lower-cased, in the order the client listed them.
    pub signed_headers: Vec<String>,
    pub signature: String,
    /// The request time in ISO 8601 basic form, as it enters the string
    /// to sign.
    pub amz_date: String,
    pub date: DateTime<Utc>,
    pub security_token: Option<String>,
    /// `Some(seconds)` for a presigned URL.
    pub presign_expires: Option<i64>,
}

impl SignatureInput {
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.scope_date, self.region, self.service
        )
    }
}

pub(crate) fn parse(req: &RequestView<'_>) -> Result<SignatureInput, AuthError> {
    let query = decoded_query(req.raw_query());
    let has_query_auth = query
        .iter()
        .any(|(k, _)| k == "X-Amz-Algorithm" || k == "X-Amz-Credential" || k == "X-Amz-Signature");
    match (req.headers.get(AUTHORIZATION), has_query_auth) {
        (Some(_), true) => Err(AuthError::incomplete(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
             Signature query string parameter or the Authorization header should be specified",
        )),
        (Some(header), false) => {
            let header = header.to_str().map_err(|_| {
                AuthError::incomplete("Authorization header contains characters that are not ASCII")
            })?;
            parse_header(req, header)
        }
        (None, true) => parse_presigned(&query),
        (None, false) => Err(AuthError::missing()),
    }
}

fn decoded_query(raw: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn parse_header(req: &RequestView<'_>, header: &str) -> Result<SignatureInput, AuthError> {
    let (algorithm, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if algorithm != ALGORITHM {
        return Err(AuthError::incomplete(format!(
            "Unsupported Authorization Type '{algorithm}'; only {ALGORITHM} is accepted"
        )));
    }
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for component in rest.split(',') {
        let component = component.trim();
        let Some((key, value)) = component.split_once('=') else {
            if component.is_empty() {
                continue;
            }
            return Err(AuthError::incomplete(format!(
                "Authorization header requires each component to be of the form key=value. \
                 Authorization={header}"
            )));
        };
        match key.trim() {
            "Credential" => credential = Some(value.trim()),
            "SignedHeaders" => signed_headers = Some(value.trim()),
            "Signature" => signature = Some(value.trim()),
            _ => {}
        }
    }
    let amz_date = req.header("x-amz-date");
    let http_date = req.headers.get(DATE).and_then(|v| v.to_str().ok());

    let mut missing = String::new();
    for (name, value) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed_headers),
    ] {
        if value.is_none() {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    if amz_date.is_none() && http_date.is_none() {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    let (Some(credential), Some(signed_headers), Some(signature), true) =
        (credential, signed_headers, signature, missing.is_empty())
    else {
        return Err(AuthError::incomplete(format!(
            "{missing}Authorization={header}"
        )));
    };

    let (amz_date, date) = match amz_date {
        Some(d) => (d.to_string(), parse_amz_date(d)?),
        None => {
            let raw = http_date.unwrap_or_default();
            let date = DateTime::parse_from_rfc2822(raw)
                .map_err(|_| {
                    AuthError::incomplete(format!("Date must be in RFC 1123 format. Got '{raw}'."))
                })?
                .with_timezone(&Utc);
            (date.format(AMZ_DATE_FORMAT).to_string(), date)
        }
    };
    build(
        credential,
        signed_headers,
        signature,
        amz_date,
        date,
        req.header("x-amz-security-token").map(str::to_string),
        None,
    )
}

fn parse_presigned(query: &[(String, String)]) -> Result<SignatureInput, AuthError> {
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (
        Some(algorithm),
        Some(credential),
        Some(signature),
        Some(amz_date),
        Some(signed_headers),
        Some(expires),
    ) = (
        get("X-Amz-Algorithm"),
        get("X-Amz-Credential"),
        get("X-Amz-Signature"),
        get("X-Amz-Date"),
        get("X-Amz-SignedHeaders"),
        get("X-Amz-Expires"),
    )
    else {
        return Err(AuthError::incomplete(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, \
             X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and \
             X-Amz-Expires parameters.",
        ));
    };
    if algorithm != ALGORITHM {
        return Err(AuthError::incomplete(format!(
            "X-Amz-Algorithm only supports \"{ALGORITHM}\""
        )));
    }
    let expires: i64 =
        expires.parse().ok().filter(|e| *e >= 0).ok_or_else(|| {
            AuthError::incomplete("X-Amz-Expires should be a non-negative number")
        })?;
    if expires > MAX_PRESIGN_EXPIRES_SECS {
        return Err(AuthError::incomplete(format!(
            "X-Amz-Expires must be less than a week (in seconds) that is \
             {MAX_PRESIGN_EXPIRES_SECS}"
        )));
    }
    build(
        credential,
        signed_headers,
        signature,
        amz_date.to_string(),
        parse_amz_date(amz_date)?,
        get("X-Amz-Security-Token").map(str::to_string),
        Some(expires),
    )
}

fn parse_amz_date(s: &str) -> Result<DateTime<Utc>, AuthError> {
    NaiveDateTime::parse_from_str(s, AMZ_DATE_FORMAT)
        .map(|d| d.and_utc())
        .map_err(|_| {
            AuthError::incomplete(format!(
                "Date must be in ISO-8601 'basic format'. Got '{s}'. See \
                 http://en.wikipedia.org/wiki/ISO_8601"
            ))
        })
}

fn build(
    credential: &str,
    signed_headers: &str,
    signature: &str,
    amz_date: String,
    date: DateTime<Utc>,
    security_token: Option<String>,
    presign_expires: Option<i64>,
) -> Result<SignatureInput, AuthError> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, scope_date, region, service, terminator] = parts[..] else {
        return Err(AuthError::incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/term, got '{credential}'"
        )));
    };
    if terminator != "aws4_request" {
        return Err(AuthError::incomplete(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not \
             '{terminator}'. "
        )));
    }
    let signed_headers: Vec<String> = signed_headers
        .split(';')
        .filter(|h| !h.is_empty())
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(AuthError::incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    Ok(SignatureInput {
        access_key_id: access_key_id.to_string(),
        scope_date: scope_date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers,
        signature: signature.to_ascii_lowercase(),
        amz_date,
        date,
        security_token,
        presign_expires,
    })
}
