//! AWS Signature Version 4 verification, for both the `Authorization`
//! header form and presigned URLs, computed the way AWS computes it for
//! every service but S3.
//!
//! Order of checks (each failure is AWS's error for it): the signature's
//! parts are present and well formed; the credential scope date matches
//! the request date; the request date is within 15 minutes of `now` (or,
//! presigned, within its `X-Amz-Expires` window); the key is known; its
//! session token matches and has not expired; the body matches a signed
//! `x-amz-content-sha256`; the signature matches.

mod canonical;
mod error;
mod parse;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;

use chrono::{DateTime, Duration, Utc};

pub use error::{AuthError, AuthErrorKind};

use crate::identity::{CredentialSource, Principal, Secret};
use crate::request::RequestView;
use canonical::{CanonicalRequest, UNSIGNED_PAYLOAD};
use parse::{AMZ_DATE_FORMAT, SignatureInput};

/// How far a header-signed request's date may be from the server clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(15);

/// The request body, or its SHA-256 when the caller already has it (for
/// instance because it streamed the body to disk).
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    Bytes(&'a [u8]),
    /// Lower- or upper-case hex SHA-256 of the body.
    Sha256Hex(&'a str),
}

impl Payload<'_> {
    fn sha256_hex(&self) -> String {
        match self {
            Payload::Bytes(b) => canonical::sha256_hex(b),
            Payload::Sha256Hex(h) => h.to_ascii_lowercase(),
        }
    }
}

/// A request whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub principal: Principal,
    pub access_key_id: String,
    /// The region and service named in the credential scope; the caller
    /// checks they are the ones it serves.
    pub region: String,
    pub service: String,
    pub presigned: bool,
    /// The time the client signed at.
    pub signed_at: DateTime<Utc>,
}

/// Verifies the request's SigV4 signature against `creds` at time `now`.
pub fn verify(
    req: RequestView<'_>,
    payload: Payload<'_>,
    creds: &dyn CredentialSource,
    now: DateTime<Utc>,
) -> Result<Verified, AuthError> {
    let mut input = parse::parse(&req)?;
    if input.security_token.is_none() {
        input.security_token = req.header("x-amz-security-token").map(str::to_string);
    }
    check_scope_date(&input)?;
    check_time(&input, now)?;
    let secret = creds
        .secret_for(&input.access_key_id)
        .ok_or_else(AuthError::invalid_client_token)?;
    check_session(&input, &secret, now)?;

    let presigned = input.presign_expires.is_some();
    let uri = canonical::canonical_uri(req.uri.path());
    let query = canonical::canonical_query(req.raw_query(), presigned);
    let headers = canonical::canonical_headers(&req, &input.signed_headers);
    let signed_headers = input.signed_headers.join(";");
    let key = canonical::signing_key(
        &secret.secret_access_key,
        &input.scope_date,
        &input.region,
        &input.service,
    );
    let scope = input.scope();
    for payload_hash in payload_hashes(&req, payload, presigned)? {
        let creq = CanonicalRequest {
            method: req.method.as_str(),
            uri: &uri,
            query: &query,
            headers: &headers,
            signed_headers: &signed_headers,
            payload_hash: &payload_hash,
        }
        .render();
        let expected = canonical::signature(
            &key,
            &canonical::string_to_sign(&input.amz_date, &scope, &creq),
        );
        if canonical::constant_time_eq(expected.as_bytes(), input.signature.as_bytes()) {
            return Ok(Verified {
                principal: secret.principal,
                access_key_id: input.access_key_id,
                region: input.region,
                service: input.service,
                presigned,
                signed_at: input.date,
            });
        }
    }
    Err(AuthError::mismatch())
}

fn check_scope_date(input: &SignatureInput) -> Result<(), AuthError> {
    let day = input.amz_date.get(..8).unwrap_or_default();
    if input.scope_date != day {
        return Err(AuthError::new(
            AuthErrorKind::SignatureMismatch,
            format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
                 from HTTP: '{}' != '{}', from '{}'.",
                input.scope_date, day, input.amz_date
            ),
        ));
    }
    Ok(())
}

fn fmt(t: DateTime<Utc>) -> String {
    t.format(AMZ_DATE_FORMAT).to_string()
}

fn check_time(input: &SignatureInput, now: DateTime<Utc>) -> Result<(), AuthError> {
    // A date in the future is refused for both forms, so a presigned URL
    // cannot be made to last longer than its window by post-dating it.
    if input.date > now + MAX_CLOCK_SKEW {
        return Err(AuthError::new(
            AuthErrorKind::SignatureExpired,
            format!(
                "Signature not yet current: {} is still later than {} ({} + 15 min.)",
                input.amz_date,
                fmt(now + MAX_CLOCK_SKEW),
                fmt(now)
            ),
        ));
    }
    match input.presign_expires {
        Some(expires) => {
            if now > input.date + Duration::seconds(expires) {
                return Err(AuthError::new(
                    AuthErrorKind::RequestExpired,
                    format!(
                        "Request has expired. X-Amz-Date {} plus X-Amz-Expires {expires} is \
                         earlier than {}",
                        input.amz_date,
                        fmt(now)
                    ),
                ));
            }
        }
        None => {
            if input.date < now - MAX_CLOCK_SKEW {
                return Err(AuthError::new(
                    AuthErrorKind::SignatureExpired,
                    format!(
                        "Signature expired: {} is now earlier than {} ({} - 15 min.)",
                        input.amz_date,
                        fmt(now - MAX_CLOCK_SKEW),
                        fmt(now)
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn check_session(
    input: &SignatureInput,
    secret: &Secret,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    match (&secret.session_token, &input.security_token) {
        (None, None) => {}
        (Some(want), Some(got)) if canonical::constant_time_eq(want.as_bytes(), got.as_bytes()) => {
        }
        _ => return Err(AuthError::invalid_client_token()),
    }
    if secret.expires.is_some_and(|expires| now >= expires) {
        return Err(AuthError::expired_token());
    }
    Ok(())
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The payload hashes the client may have signed with. Header-signed
/// requests say which in `x-amz-content-sha256` or mean the body's hash;
/// presigned URLs cannot say, and SDKs use either the body's hash (the
/// non-S3 signers) or `UNSIGNED-PAYLOAD` (S3-style presigners), so both
/// are tried.
fn payload_hashes(
    req: &RequestView<'_>,
    payload: Payload<'_>,
    presigned: bool,
) -> Result<Vec<String>, AuthError> {
    match req.headers.get("x-amz-content-sha256") {
        Some(value) => {
            let value = value.to_str().unwrap_or_default();
            if value == UNSIGNED_PAYLOAD {
                Ok(vec![value.to_string()])
            } else if is_sha256_hex(value) {
                if value.eq_ignore_ascii_case(&payload.sha256_hex()) {
                    Ok(vec![value.to_string()])
                } else {
                    Err(AuthError::new(
                        AuthErrorKind::SignatureMismatch,
                        "The provided 'x-amz-content-sha256' header does not match what was \
                         computed.",
                    ))
                }
            } else {
                Err(AuthError::incomplete(format!(
                    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a SHA-256 in hex, got \
                     '{value}'"
                )))
            }
        }
        None if presigned => Ok(vec![payload.sha256_hex(), UNSIGNED_PAYLOAD.to_string()]),
        None => Ok(vec![payload.sha256_hex()]),
    }
}
