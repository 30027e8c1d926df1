//! The registry's one error type and its mapping to the spec's error codes
//! and HTTP statuses (the only place that mapping is made).

use dockyard_image::{ContentError, Digest};
use dockyard_store::StoreError;
use http::StatusCode;
use thiserror::Error;

use crate::auth::AuthFailure;

pub use dockyard_types::ErrorKind;

/// The error codes of the Distribution Spec, plus `UNKNOWN` for server
/// failures (5xx bodies are free-form; distribution uses `UNKNOWN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    /// Distribution's code for a tag that may not be (re)written; ECR
    /// answers it for pushes to immutable tags.
    TagInvalid,
    TooManyRequests,
    Unknown,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BlobUnknown => "BLOB_UNKNOWN",
            Self::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Self::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Self::DigestInvalid => "DIGEST_INVALID",
            Self::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Self::ManifestInvalid => "MANIFEST_INVALID",
            Self::ManifestUnknown => "MANIFEST_UNKNOWN",
            Self::NameInvalid => "NAME_INVALID",
            Self::NameUnknown => "NAME_UNKNOWN",
            Self::SizeInvalid => "SIZE_INVALID",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Denied => "DENIED",
            Self::Unsupported => "UNSUPPORTED",
            Self::TagInvalid => "TAG_INVALID",
            Self::TooManyRequests => "TOOMANYREQUESTS",
            Self::Unknown => "UNKNOWN",
        }
    }
}

#[derive(Debug, Error)]
pub enum RegistryError {
    #[error("invalid repository name {0:?}")]
    NameInvalid(String),
    #[error("repository {0} not found")]
    NameUnknown(String),
    #[error("invalid tag {0:?}")]
    TagInvalid(String),
    #[error(
        "the image tag '{tag}' already exists in the '{name}' repository and cannot be overwritten because the tag is immutable"
    )]
    TagImmutable { name: String, tag: String },
    #[error("invalid digest {value:?}: {reason}")]
    DigestInvalid { value: String, reason: String },
    #[error("content does not match digest {expected}: got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeInvalid {
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    #[error("blob {digest} not found in repository {name}")]
    BlobUnknown { name: String, digest: Digest },
    #[error("upload {0} not found")]
    UploadUnknown(String),
    #[error("invalid upload {id}: {reason}")]
    UploadInvalid { id: String, reason: String },
    /// A chunk that does not start where the upload ends (416).
    #[error("upload {id} holds {size} bytes; the next chunk must start there")]
    RangeInvalid { name: String, id: String, size: u64 },
    #[error("manifest {reference} not found in repository {name}")]
    ManifestUnknown { name: String, reference: String },
    #[error("manifest {reference} in {name} is {media_type}, which the request does not accept")]
    NotAcceptable {
        name: String,
        reference: String,
        media_type: String,
    },
    #[error("invalid manifest: {0}")]
    ManifestInvalid(String),
    #[error("manifest of {size} bytes is over the limit of {limit} bytes")]
    ManifestTooLarge { size: u64, limit: u64 },
    #[error("manifest references content unknown to repository {name}: {}", list(.digests))]
    ManifestBlobUnknown { name: String, digests: Vec<Digest> },
    /// A malformed query parameter or header.
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("no such endpoint: {0}")]
    NoRoute(String),
    #[error("method {method} is not supported on {path}")]
    MethodNotAllowed { method: String, path: String },
    /// A transient conflict (garbage collection deleting the same blob,
    /// too many concurrent changes): the client should retry.
    #[error("{0}, retry later")]
    Busy(String),
    #[error(transparent)]
    Auth(#[from] AuthFailure),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Content(ContentError),
    #[error("corrupt registry record {key}: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("{0}")]
    Internal(String),
}

fn list(d: &[Digest]) -> String {
    d.iter().map(Digest::as_str).collect::<Vec<_>>().join(", ")
}

impl RegistryError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NameInvalid(_)
            | Self::TagInvalid(_)
            | Self::DigestInvalid { .. }
            | Self::DigestMismatch { .. }
            | Self::SizeInvalid { .. }
            | Self::UploadInvalid { .. }
            | Self::RangeInvalid { .. }
            | Self::ManifestInvalid(_)
            | Self::ManifestTooLarge { .. }
            | Self::ManifestBlobUnknown { .. }
            | Self::BadRequest(_)
            | Self::MethodNotAllowed { .. } => ErrorKind::InvalidArgument,
            Self::NameUnknown(_)
            | Self::BlobUnknown { .. }
            | Self::UploadUnknown(_)
            | Self::ManifestUnknown { .. }
            | Self::NotAcceptable { .. }
            | Self::NoRoute(_) => ErrorKind::NotFound,
            Self::TagImmutable { .. } => ErrorKind::AlreadyExists,
            Self::Busy(_) => ErrorKind::Conflict,
            Self::Auth(_) => ErrorKind::Unauthorized,
            Self::Store(e) => e.kind(),
            Self::Content(e) => e.kind(),
            Self::Corrupt { .. } | Self::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The spec's error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NameInvalid(_) => ErrorCode::NameInvalid,
            Self::NameUnknown(_) => ErrorCode::NameUnknown,
            // The spec has no TAG_INVALID; a reference that is neither a tag
            // nor a digest makes the manifest request invalid.
            Self::TagInvalid(_) | Self::ManifestInvalid(_) | Self::ManifestTooLarge { .. } => {
                ErrorCode::ManifestInvalid
            }
            Self::DigestInvalid { .. } | Self::DigestMismatch { .. } => ErrorCode::DigestInvalid,
            Self::SizeInvalid { .. } => ErrorCode::SizeInvalid,
            Self::TagImmutable { .. } => ErrorCode::TagInvalid,
            Self::BlobUnknown { .. } => ErrorCode::BlobUnknown,
            Self::UploadUnknown(_) => ErrorCode::BlobUploadUnknown,
            Self::UploadInvalid { .. } | Self::RangeInvalid { .. } => ErrorCode::BlobUploadInvalid,
            Self::ManifestUnknown { .. } | Self::NotAcceptable { .. } => ErrorCode::ManifestUnknown,
            Self::ManifestBlobUnknown { .. } => ErrorCode::ManifestBlobUnknown,
            Self::BadRequest(_) | Self::NoRoute(_) | Self::MethodNotAllowed { .. } => {
                ErrorCode::Unsupported
            }
            Self::Busy(_) => ErrorCode::TooManyRequests,
            Self::Auth(AuthFailure::Unauthorized { .. }) => ErrorCode::Unauthorized,
            Self::Auth(AuthFailure::Denied { .. }) => ErrorCode::Denied,
            Self::Store(_) | Self::Content(_) | Self::Corrupt { .. } | Self::Internal(_) => {
                ErrorCode::Unknown
            }
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::NameInvalid(_)
            | Self::TagInvalid(_)
            | Self::DigestInvalid { .. }
            | Self::DigestMismatch { .. }
            | Self::SizeInvalid { .. }
            | Self::UploadInvalid { .. }
            | Self::ManifestInvalid(_)
            | Self::BadRequest(_)
            | Self::TagImmutable { .. }
            | Self::ManifestBlobUnknown { .. } => StatusCode::BAD_REQUEST,
            Self::NameUnknown(_)
            | Self::BlobUnknown { .. }
            | Self::UploadUnknown(_)
            | Self::ManifestUnknown { .. }
            | Self::NotAcceptable { .. }
            | Self::NoRoute(_) => StatusCode::NOT_FOUND,
            Self::RangeInvalid { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::ManifestTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Auth(AuthFailure::Unauthorized { .. }) => StatusCode::UNAUTHORIZED,
            Self::Auth(AuthFailure::Denied { .. }) => StatusCode::FORBIDDEN,
            Self::Store(e) if e.kind() == ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(_) | Self::Content(_) | Self::Corrupt { .. } | Self::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The spec's `errors` array: one entry per problem (a manifest with
    /// several unknown blobs gets one `MANIFEST_BLOB_UNKNOWN` each).
    pub fn to_json(&self) -> serde_json::Value {
        let code = self.code().as_str();
        let entries: Vec<serde_json::Value> = match self {
            Self::ManifestBlobUnknown { digests, .. } => digests
                .iter()
                .map(|d| {
                    serde_json::json!({
                        "code": code,
                        "message": format!("manifest references {d}, unknown to the repository"),
                        "detail": {"digest": d},
                    })
                })
                .collect(),
            _ => vec![serde_json::json!({
                "code": code,
                "message": self.to_string(),
                "detail": self.detail(),
            })],
        };
        serde_json::json!({ "errors": entries })
    }

    fn detail(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Self::NameInvalid(n) | Self::NameUnknown(n) => json!({"name": n}),
            Self::TagInvalid(t) => json!({"tag": t}),
            Self::TagImmutable { name, tag } => json!({"name": name, "tag": tag}),
            Self::DigestInvalid { value, .. } => json!({"digest": value}),
            Self::DigestMismatch { expected, actual } => {
                json!({"digest": expected, "actual": actual})
            }
            Self::SizeInvalid {
                digest,
                expected,
                actual,
            } => json!({"digest": digest, "expected": expected, "actual": actual}),
            Self::BlobUnknown { digest, .. } => json!({"digest": digest}),
            Self::UploadUnknown(id) | Self::UploadInvalid { id, .. } => json!({"upload": id}),
            Self::RangeInvalid { id, size, .. } => json!({"upload": id, "size": size}),
            Self::ManifestUnknown { name, reference }
            | Self::NotAcceptable {
                name, reference, ..
            } => json!({"name": name, "reference": reference}),
            Self::ManifestTooLarge { size, limit } => json!({"size": size, "limit": limit}),
            _ => serde_json::Value::Null,
        }
    }

    /// Maps a content store failure met while reading `digest` in `name`.
    pub(crate) fn from_blob_read(e: ContentError, name: &str, digest: &Digest) -> Self {
        match e {
            ContentError::NotFound(_) => Self::BlobUnknown {
                name: name.to_owned(),
                digest: digest.clone(),
            },
            e => Self::Content(e),
        }
    }

    /// Maps a content store failure met while committing an upload.
    pub(crate) fn from_commit(e: ContentError, upload: &str) -> Self {
        match e {
            ContentError::DigestMismatch { expected, actual } => {
                Self::DigestMismatch { expected, actual }
            }
            ContentError::SizeMismatch {
                digest,
                expected,
                actual,
            } => Self::SizeInvalid {
                digest,
                expected,
                actual,
            },
            ContentError::IngestNotFound(_) => Self::UploadUnknown(upload.to_owned()),
            e => Self::Content(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Challenge;

    #[test]
    fn codes_and_statuses() {
        let d = Digest::of(b"x");
        let cases: Vec<(RegistryError, &str, u16)> = vec![
            (
                RegistryError::BlobUnknown {
                    name: "a".into(),
                    digest: d.clone(),
                },
                "BLOB_UNKNOWN",
                404,
            ),
            (
                RegistryError::RangeInvalid {
                    name: "a".into(),
                    id: "u".into(),
                    size: 3,
                },
                "BLOB_UPLOAD_INVALID",
                416,
            ),
            (
                RegistryError::ManifestTooLarge { size: 9, limit: 1 },
                "MANIFEST_INVALID",
                413,
            ),
            (RegistryError::NameInvalid("A".into()), "NAME_INVALID", 400),
            (RegistryError::Busy("x".into()), "TOOMANYREQUESTS", 429),
            (
                RegistryError::Auth(AuthFailure::Unauthorized {
                    challenge: Challenge::Basic { realm: "r".into() },
                    message: "m".into(),
                }),
                "UNAUTHORIZED",
                401,
            ),
            (
                RegistryError::Auth(AuthFailure::Denied {
                    message: "no".into(),
                }),
                "DENIED",
                403,
            ),
            (RegistryError::Internal("boom".into()), "UNKNOWN", 500),
        ];
        for (e, code, status) in cases {
            assert_eq!(e.code().as_str(), code, "{e}");
            assert_eq!(e.status().as_u16(), status, "{e}");
            let j = e.to_json();
            assert_eq!(j["errors"][0]["code"], code);
            assert_eq!(j["errors"][0]["message"], e.to_string());
        }
    }

    #[test]
    fn one_entry_per_unknown_blob() {
        let e = RegistryError::ManifestBlobUnknown {
            name: "a".into(),
            digests: vec![Digest::of(b"1"), Digest::of(b"2")],
        };
        let j = e.to_json();
        let errs = j["errors"].as_array().unwrap();
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[1]["code"], "MANIFEST_BLOB_UNKNOWN");
        assert_eq!(errs[1]["detail"]["digest"], Digest::of(b"2").as_str());
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }
}
