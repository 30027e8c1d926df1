//! Who a request is from: the principal behind an access key, and the
//! trait the signature verifier uses to find a key's secret.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What sort of identity a principal is, as IAM distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrincipalKind {
    /// The account's root identity (`arn:aws:iam::ACCOUNT:root`).
    Root,
    /// An IAM user (`arn:aws:iam::ACCOUNT:user/NAME`).
    User,
    /// A role session (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`).
    AssumedRole,
}

/// The identity a verified request acts as.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Principal {
    pub arn: String,
    pub account: String,
    pub kind: PrincipalKind,
}

impl Principal {
    pub fn root(account: &str) -> Self {
        Self {
            arn: format!("arn:aws:iam::{account}:root"),
            account: account.to_string(),
            kind: PrincipalKind::Root,
        }
    }

    pub fn user(account: &str, name: &str) -> Self {
        Self {
            arn: format!("arn:aws:iam::{account}:user/{name}"),
            account: account.to_string(),
            kind: PrincipalKind::User,
        }
    }

    pub fn assumed_role(account: &str, role: &str, session: &str) -> Self {
        Self {
            arn: format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
            account: account.to_string(),
            kind: PrincipalKind::AssumedRole,
        }
    }
}

/// What the verifier needs to know about one access key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    pub secret_access_key: String,
    /// Set for temporary credentials: requests must carry this exact
    /// `X-Amz-Security-Token`.
    pub session_token: Option<String>,
    /// Set for temporary credentials; at and after this instant requests
    /// fail with an expired-token error.
    pub expires: Option<DateTime<Utc>>,
    pub principal: Principal,
}

// Secrets never reach logs through `{:?}`.
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires", &self.expires)
            .field("principal", &self.principal)
            .finish()
    }
}

/// Looks up access keys. Implemented by [`crate::keys::KeyStore`] and by
/// test fakes.
pub trait CredentialSource: Send + Sync {
    /// The secret and principal for `access_key_id`, or `None` when the key
    /// is unknown (or deleted). Expired temporary keys are still returned,
    /// so the caller can tell "expired" from "unknown".
    fn secret_for(&self, access_key_id: &str) -> Option<Secret>;
}

/// A fixed set of keys, for tests and embedding.
impl CredentialSource for std::collections::HashMap<String, Secret> {
    fn secret_for(&self, access_key_id: &str) -> Option<Secret> {
        self.get(access_key_id).cloned()
    }
}
