//! Test helpers: sign requests with AWS's own Rust signer (`aws-sigv4`),
//! the way an SDK would, and hand them over the way a server sees them.
#![allow(clippy::unwrap_used)]

use std::time::{Duration as StdDuration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use http::header::{HOST, HeaderValue};

pub(crate) const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
pub(crate) const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 17, 10, 30, 0).unwrap()
}

#[derive(Clone)]
pub(crate) struct Signer {
    pub akid: String,
    pub secret: String,
    pub token: Option<String>,
    pub region: String,
    pub service: String,
    pub time: DateTime<Utc>,
    pub settings: SigningSettings,
    /// Sign as if the body were this instead (for precomputed or unsigned
    /// payload modes).
    pub body: Option<SignableBody<'static>>,
}

impl Default for Signer {
    fn default() -> Self {
        Self {
            akid: AKID.into(),
            secret: SECRET.into(),
            token: None,
            region: "us-east-1".into(),
            service: "ecs".into(),
            time: t0(),
            settings: SigningSettings::default(),
            body: None,
        }
    }
}

impl Signer {
    pub(crate) fn new(akid: &str, secret: &str, service: &str) -> Self {
        Self {
            akid: akid.into(),
            secret: secret.into(),
            service: service.into(),
            ..Self::default()
        }
    }

    pub(crate) fn presigned(expires: u64) -> Self {
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(StdDuration::from_secs(expires));
        Self {
            settings,
            ..Self::default()
        }
    }

    /// Signs `req` (whose URI must be absolute), then turns it into what a
    /// server sees: an origin-form URI and a `Host` header.
    pub(crate) fn sign(&self, mut req: http::Request<Bytes>) -> http::Request<Bytes> {
        let identity = Credentials::new(
            self.akid.clone(),
            self.secret.clone(),
            self.token.clone(),
            None,
            "test",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(SystemTime::from(self.time))
            .settings(self.settings.clone())
            .build()
            .unwrap()
            .into();
        let uri = req.uri().to_string();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
            .collect();
        let body = req.body().clone();
        let signable_body = match &self.body {
            Some(b) => b.clone(),
            None => SignableBody::Bytes(&body),
        };
        let signable = SignableRequest::new(
            req.method().as_str(),
            uri,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            signable_body,
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        instructions.apply_to_request_http1x(&mut req);
        to_server_form(req)
    }
}

/// An absolute-URI request as a server receives it: origin-form URI plus
/// a `Host` header.
pub(crate) fn to_server_form(mut req: http::Request<Bytes>) -> http::Request<Bytes> {
    let authority = req.uri().authority().unwrap().to_string();
    if !req.headers().contains_key(HOST) {
        req.headers_mut()
            .insert(HOST, HeaderValue::from_str(&authority).unwrap());
    }
    let pq = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    *req.uri_mut() = pq.parse().unwrap();
    req
}
