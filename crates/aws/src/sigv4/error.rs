//! Authentication failures, with the codes and messages AWS sends for
//! them. The Display text is AWS's wire message (not lower case, unlike
//! our internal errors) because SDKs and people compare against it.

use crate::error::{ApiError, Protocol};

/// What went wrong, independent of the wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthErrorKind {
    /// No signature at all: no `Authorization` header, no `X-Amz-*`
    /// query parameters.
    MissingToken,
    /// A signature is there but malformed or lacks a required part.
    IncompleteSignature,
    /// The access key id is unknown, or the session token does not belong
    /// to it.
    InvalidClientToken,
    /// The signature (or the credential scope, or the body hash) does not
    /// match what we computed.
    SignatureMismatch,
    /// The header-form request date is more than 15 minutes from now.
    SignatureExpired,
    /// A presigned URL's `X-Amz-Expires` window has passed.
    RequestExpired,
    /// The temporary credentials have expired.
    ExpiredToken,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AuthError {
    kind: AuthErrorKind,
    message: String,
}

pub(crate) const MSG_MISMATCH: &str = "The request signature we calculated does not match the \
     signature you provided. Check your AWS Secret Access Key and signing method. Consult the \
     service documentation for details.";
pub(crate) const MSG_INVALID_TOKEN: &str = "The security token included in the request is invalid.";
pub(crate) const MSG_EXPIRED_TOKEN: &str = "The security token included in the request is expired";

impl AuthError {
    pub fn new(kind: AuthErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn kind(&self) -> AuthErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The wire message differs by protocol only for a missing signature.
    fn wire_message(&self, protocol: Protocol) -> &str {
        match (self.kind, protocol) {
            (AuthErrorKind::MissingToken, Protocol::Json | Protocol::Cbor) => {
                "Missing Authentication Token"
            }
            (AuthErrorKind::MissingToken, Protocol::Query) => {
                "Request is missing Authentication Token"
            }
            _ => &self.message,
        }
    }

    pub(crate) fn missing() -> Self {
        Self::new(
            AuthErrorKind::MissingToken,
            "Request is missing Authentication Token",
        )
    }

    pub(crate) fn incomplete(message: impl Into<String>) -> Self {
        Self::new(AuthErrorKind::IncompleteSignature, message)
    }

    pub(crate) fn invalid_client_token() -> Self {
        Self::new(AuthErrorKind::InvalidClientToken, MSG_INVALID_TOKEN)
    }

    pub(crate) fn mismatch() -> Self {
        Self::new(AuthErrorKind::SignatureMismatch, MSG_MISMATCH)
    }

    /// The credential scope names another service than the one the request
    /// was routed to.
    pub fn wrong_service(expected: &str) -> Self {
        Self::new(
            AuthErrorKind::SignatureMismatch,
            format!("Credential should be scoped to correct service: '{expected}'. "),
        )
    }

    /// The credential scope names a region this endpoint does not serve.
    pub fn wrong_region(got: &str) -> Self {
        Self::new(
            AuthErrorKind::SignatureMismatch,
            format!("Credential should be scoped to a valid region, not '{got}'. "),
        )
    }

    pub(crate) fn expired_token() -> Self {
        Self::new(AuthErrorKind::ExpiredToken, MSG_EXPIRED_TOKEN)
    }

    /// AWS's code for this failure in `protocol`.
    pub fn code(&self, protocol: Protocol) -> &'static str {
        use AuthErrorKind as K;
        match (protocol, self.kind) {
            (Protocol::Json | Protocol::Cbor, K::MissingToken) => {
                "MissingAuthenticationTokenException"
            }
            (Protocol::Json | Protocol::Cbor, K::IncompleteSignature) => {
                "IncompleteSignatureException"
            }
            (Protocol::Json | Protocol::Cbor, K::InvalidClientToken) => {
                "UnrecognizedClientException"
            }
            (
                Protocol::Json | Protocol::Cbor,
                K::SignatureMismatch | K::SignatureExpired | K::RequestExpired,
            ) => "InvalidSignatureException",
            (Protocol::Json | Protocol::Cbor, K::ExpiredToken) => "ExpiredTokenException",
            (Protocol::Query, K::MissingToken) => "MissingAuthenticationToken",
            (Protocol::Query, K::IncompleteSignature) => "IncompleteSignature",
            (Protocol::Query, K::InvalidClientToken) => "InvalidClientTokenId",
            (Protocol::Query, K::SignatureMismatch | K::SignatureExpired) => {
                "SignatureDoesNotMatch"
            }
            (Protocol::Query, K::RequestExpired) => "RequestExpired",
            (Protocol::Query, K::ExpiredToken) => "ExpiredToken",
        }
    }

    /// AWS's HTTP status: JSON services answer every authentication failure
    /// with 400; Query services use 403 except for malformed or expired
    /// requests.
    pub fn status(&self, protocol: Protocol) -> u16 {
        match (protocol, self.kind) {
            (Protocol::Json | Protocol::Cbor, _) => 400,
            (
                Protocol::Query,
                AuthErrorKind::IncompleteSignature | AuthErrorKind::RequestExpired,
            ) => 400,
            (Protocol::Query, _) => 403,
        }
    }

    pub fn to_api_error(&self, protocol: Protocol) -> ApiError {
        ApiError::new(
            self.code(protocol),
            self.wire_message(protocol),
            self.status(protocol),
        )
    }

    /// The shared error kind, for callers outside the AWS edge.
    pub fn error_kind(&self) -> dockyard_types::ErrorKind {
        match self.kind {
            AuthErrorKind::IncompleteSignature => dockyard_types::ErrorKind::InvalidArgument,
            _ => dockyard_types::ErrorKind::Unauthorized,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_per_protocol() {
        let cases = [
            (
                AuthError::missing(),
                ("MissingAuthenticationTokenException", 400),
                ("MissingAuthenticationToken", 403),
            ),
            (
                AuthError::incomplete("x"),
                ("IncompleteSignatureException", 400),
                ("IncompleteSignature", 400),
            ),
            (
                AuthError::invalid_client_token(),
                ("UnrecognizedClientException", 400),
                ("InvalidClientTokenId", 403),
            ),
            (
                AuthError::mismatch(),
                ("InvalidSignatureException", 400),
                ("SignatureDoesNotMatch", 403),
            ),
            (
                AuthError::new(AuthErrorKind::SignatureExpired, "Signature expired: x"),
                ("InvalidSignatureException", 400),
                ("SignatureDoesNotMatch", 403),
            ),
            (
                AuthError::new(AuthErrorKind::RequestExpired, "Request has expired."),
                ("InvalidSignatureException", 400),
                ("RequestExpired", 400),
            ),
            (
                AuthError::expired_token(),
                ("ExpiredTokenException", 400),
                ("ExpiredToken", 403),
            ),
        ];
        for (err, json, query) in cases {
            let j = err.to_api_error(Protocol::Json);
            assert_eq!((j.code.as_str(), j.status), json, "{err:?}");
            let q = err.to_api_error(Protocol::Query);
            assert_eq!((q.code.as_str(), q.status), query, "{err:?}");
        }
    }

    #[test]
    fn missing_token_message_follows_protocol() {
        let e = AuthError::missing();
        assert_eq!(
            e.to_api_error(Protocol::Json).message,
            "Missing Authentication Token"
        );
        assert_eq!(
            e.to_api_error(Protocol::Query).message,
            "Request is missing Authentication Token"
        );
        assert_eq!(
            AuthError::mismatch().to_api_error(Protocol::Json).message,
            MSG_MISMATCH
        );
    }
}
