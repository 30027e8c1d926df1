//! The authorization hook: every request asks a [`RegistryAuth`] whether
//! its credentials may do an [`Action`] on a repository. The server plugs
//! in its ECR token scheme; tests use [`AllowAll`].

use http::request::Parts;
use thiserror::Error;

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read manifests, blobs, tags and referrers. `GET /v2/` asks for
    /// `Pull` with no repository: "is this client authenticated at all".
    Pull,
    /// Upload blobs, mount them, push manifests, cancel uploads.
    Push,
    /// Delete manifests, tags and blob links.
    Delete,
    /// List repositories (`/v2/_catalog`; no repository).
    Catalog,
}

impl Action {
    /// The action's name in a token scope (`repository:NAME:pull`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pull => "pull",
            Self::Push => "push",
            Self::Delete => "delete",
            Self::Catalog => "*",
        }
    }
}

/// The scope a Bearer challenge names for an action:
/// `repository:team/app:push`, or `registry:catalog:*`; none for the
/// repository-less check of `GET /v2/`.
pub fn scope(repo: Option<&str>, action: Action) -> Option<String> {
    match (repo, action) {
        (_, Action::Catalog) => Some("registry:catalog:*".to_owned()),
        (Some(r), a) => Some(format!("repository:{r}:{}", a.as_str())),
        (None, _) => None,
    }
}

/// How a 401 tells the client to authenticate (`WWW-Authenticate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic {
        realm: String,
    },
    Bearer {
        realm: String,
        service: String,
        scope: Option<String>,
    },
}

impl Challenge {
    /// The `WWW-Authenticate` header value.
    pub fn header_value(&self) -> String {
        match self {
            Self::Basic { realm } => format!("Basic realm={}", quote(realm)),
            Self::Bearer {
                realm,
                service,
                scope,
            } => {
                let mut v = format!("Bearer realm={},service={}", quote(realm), quote(service));
                if let Some(s) = scope {
                    v.push_str(",scope=");
                    v.push_str(&quote(s));
                }
                v
            }
        }
    }
}

/// An RFC 9110 quoted string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Why a request was refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum AuthFailure {
    /// No or bad credentials: 401 `UNAUTHORIZED` with the challenge.
    #[error("authentication required: {message}")]
    Unauthorized {
        challenge: Challenge,
        message: String,
    },
    /// Valid credentials without the permission: 403 `DENIED`.
    #[error("access denied: {message}")]
    Denied { message: String },
}

/// Decides whether a request may act. Called once per request before any
/// work (twice for a cross-repository mount: push on the target, pull on
/// the source; a refused pull there falls back to an upload so as not to
/// reveal the source's content).
pub trait RegistryAuth: Send + Sync {
    /// `req` is the request without its body: its headers carry
    /// credentials, its URI may carry a signature (presigned URLs).
    fn authorize(&self, req: &Parts, repo: Option<&str>, action: Action)
    -> Result<(), AuthFailure>;
}

/// Lets everyone do everything (tests, and a loopback-only server whose
/// operator chose no authentication).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl RegistryAuth for AllowAll {
    fn authorize(&self, _: &Parts, _: Option<&str>, _: Action) -> Result<(), AuthFailure> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_render() {
        let b = Challenge::Basic {
            realm: "dockyard".into(),
        };
        assert_eq!(b.header_value(), r#"Basic realm="dockyard""#);
        let t = Challenge::Bearer {
            realm: "http://127.0.0.1:4566/token".into(),
            service: "dock\"yard".into(),
            scope: scope(Some("team/app"), Action::Push),
        };
        assert_eq!(
            t.header_value(),
            r#"Bearer realm="http://127.0.0.1:4566/token",service="dock\"yard",scope="repository:team/app:push""#
        );
    }

    #[test]
    fn scopes() {
        assert_eq!(
            scope(Some("a/b"), Action::Pull).as_deref(),
            Some("repository:a/b:pull")
        );
        assert_eq!(
            scope(Some("a"), Action::Delete).as_deref(),
            Some("repository:a:delete")
        );
        assert_eq!(
            scope(None, Action::Catalog).as_deref(),
            Some("registry:catalog:*")
        );
        assert_eq!(scope(None, Action::Pull), None);
        let bare = Challenge::Bearer {
            realm: "r".into(),
            service: "s".into(),
            scope: None,
        };
        assert_eq!(bare.header_value(), r#"Bearer realm="r",service="s""#);
        assert!(
            AllowAll
                .authorize(
                    &http::Request::new(()).into_parts().0,
                    None,
                    Action::Catalog
                )
                .is_ok()
        );
    }
}
