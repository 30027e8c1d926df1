//! Who may use the registry: ECR tokens as Basic credentials on `/v2/`
//! ([`EcrTokenAuth`]), presigned blob URLs ([`UrlSigner`], what
//! GetDownloadUrlForLayer hands out), and the repository rules ECR adds to
//! pushes ([`EcrHooks`]: tag immutability, scan on push).

use std::sync::Arc;

use base64::Engine;
use hmac::{Hmac, Mac};
use http::request::Parts;
use sha2::Sha256;

use dockyard_aws::keys::KeyStore;
use dockyard_aws::{CredentialSource, Principal};
use dockyard_registry::auth::{Action, AuthFailure, Challenge, RegistryAuth};
use dockyard_registry::{ManifestRef, PushHooks, PushedManifest, Registry, RegistryError};
use dockyard_store::Store;

use crate::auth_cache::{RepoCache, Tracked};
use crate::scanning::Scanner;
use crate::{meta, policy};

/// Registry authentication with ECR tokens (Basic `AWS:<token>`).
pub struct EcrTokenAuth {
    keys: Arc<KeyStore>,
    signer: Arc<UrlSigner>,
    store: Arc<dyn Store>,
    region: String,
    repos: Arc<RepoCache>,
}

impl EcrTokenAuth {
    /// The hook over `store`. ECR and the registry should write through
    /// [`EcrTokenAuth::store`], so that their writes are in force for the
    /// very next request (see `auth_cache`).
    pub fn new(
        keys: Arc<KeyStore>,
        signer: Arc<UrlSigner>,
        store: Arc<dyn Store>,
        region: impl Into<String>,
    ) -> Self {
        let repos = RepoCache::start(&store);
        Self {
            keys,
            signer,
            store: Tracked::wrap(store, &repos),
            repos,
            region: region.into(),
        }
    }

    /// The store, noting writes for the cache's read-your-writes.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}

/// Signs and checks download URLs: `X-Dockyard-Expires` (Unix seconds) and
/// `X-Dockyard-Signature` (HMAC-SHA256 over method class, path and expiry)
/// in the query. The key is random per process: URLs stop working when the
/// server restarts, as well as when their hour is over.
pub struct UrlSigner {
    key: [u8; 32],
}

const EXPIRES: &str = "X-Dockyard-Expires";
const SIGNATURE: &str = "X-Dockyard-Signature";

impl UrlSigner {
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)?;
        Ok(Self { key })
    }

    fn mac(&self, path: &str, expires: i64) -> String {
        // HMAC takes keys of any length.
        let mut m = Hmac::<Sha256>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        m.update(format!("read\n{path}\n{expires}").as_bytes());
        hex::encode(m.finalize().into_bytes())
    }

    /// The query string that lets a GET or HEAD of `path` through until
    /// `expires`.
    pub fn sign(&self, path: &str, expires: i64) -> String {
        format!(
            "{EXPIRES}={expires}&{SIGNATURE}={}",
            self.mac(path, expires)
        )
    }

    /// Whether `req` carries a valid, unexpired signature for its path.
    pub fn verify(&self, req: &Parts, now: i64) -> bool {
        if req.method != http::Method::GET && req.method != http::Method::HEAD {
            return false;
        }
        let Some(q) = req.uri.query() else {
            return false;
        };
        let (mut expires, mut sig) = (None, None);
        for pair in q.split('&') {
            match pair.split_once('=') {
                Some((EXPIRES, v)) => expires = v.parse::<i64>().ok(),
                Some((SIGNATURE, v)) => sig = Some(v),
                _ => {}
            }
        }
        let (Some(expires), Some(sig)) = (expires, sig) else {
            return false;
        };
        expires > now && same(&self.mac(req.uri.path(), expires), sig)
    }
}

fn unauthorized(message: &str) -> AuthFailure {
    AuthFailure::Unauthorized {
        challenge: Challenge::Basic {
            realm: "dockyard".into(),
        },
        message: message.into(),
    }
}

/// Compares secrets without an early exit that would leak their prefix.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl EcrTokenAuth {
    /// The caller's principal from Basic `AWS:<token>` credentials; `None`
    /// when the request carries none.
    fn caller(&self, req: &Parts) -> Result<Option<Principal>, AuthFailure> {
        let Some(value) = req.headers.get(http::header::AUTHORIZATION) else {
            return Ok(None);
        };
        let value = value
            .to_str()
            .map_err(|_| unauthorized("malformed Authorization header"))?;
        let b64 = value.strip_prefix("Basic ").ok_or_else(|| {
            unauthorized("only Basic credentials (user AWS, an ECR token) are accepted")
        })?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| unauthorized("malformed Basic credentials"))?;
        let (user, token) = decoded
            .split_once(':')
            .ok_or_else(|| unauthorized("malformed Basic credentials"))?;
        if user != "AWS" {
            return Err(unauthorized("the user name must be AWS"));
        }
        let (key_id, secret) = token
            .split_once('.')
            .ok_or_else(|| unauthorized("invalid authorization token"))?;
        let stored = self
            .keys
            .secret_for(key_id)
            .ok_or_else(|| unauthorized("invalid authorization token"))?;
        if !same(&stored.secret_access_key, secret) {
            return Err(unauthorized("invalid authorization token"));
        }
        if stored.expires.is_some_and(|e| e <= chrono::Utc::now()) {
            return Err(unauthorized(
                "your authorization token has expired; reauthenticate and try again",
            ));
        }
        Ok(Some(stored.principal))
    }
}

impl RegistryAuth for EcrTokenAuth {
    fn authorize(
        &self,
        req: &Parts,
        repo: Option<&str>,
        action: Action,
    ) -> Result<(), AuthFailure> {
        if action == Action::Pull && self.signer.verify(req, chrono::Utc::now().timestamp()) {
            return Ok(());
        }
        let caller = self.caller(req)?;
        let login =
            || unauthorized("authentication required: log in with `aws ecr get-login-password`");
        let Some(repo) = repo else {
            return caller.map(|_| ()).ok_or_else(login);
        };
        let loaded = self
            .repos
            .get(&*self.store, repo)
            .map_err(|e| AuthFailure::Denied { message: e.message })?;
        let Some(repo_policy) = loaded else {
            // An unknown repository: the registry says so to those who may
            // know, and strangers learn nothing.
            return caller.map(|_| ()).ok_or_else(login);
        };
        let ecr_action = policy::v2_action(&req.method, req.uri.path(), action);
        let arn = format!(
            "arn:aws:ecr:{}:{}:repository/{repo}",
            self.region,
            self.keys.account()
        );
        if repo_policy.permits(caller.as_ref(), ecr_action, &arn) {
            return Ok(());
        }
        match caller {
            None => Err(login()),
            Some(p) => Err(AuthFailure::Denied {
                message: format!(
                    "User: {} is not authorized to perform: {ecr_action} on resource: {arn} with an explicit deny in a resource-based policy",
                    p.arn
                ),
            }),
        }
    }
}

/// ECR's push rules over the registry: tag immutability from each
/// repository's settings.
pub struct EcrHooks {
    store: Arc<dyn Store>,
    scanner: Arc<Scanner>,
}

impl EcrHooks {
    pub fn new(store: Arc<dyn Store>, scanner: Arc<Scanner>) -> Self {
        Self { store, scanner }
    }
}

impl PushHooks for EcrHooks {
    fn tag_mutable(&self, repo: &str, tag: &str) -> Result<bool, RegistryError> {
        let loaded =
            meta::load(&*self.store, repo).map_err(|e| RegistryError::Internal(e.message))?;
        Ok(loaded.is_none_or(|(m, _)| m.tag_mutable(tag)))
    }

    /// Scan on push: image manifests of repositories that ask for it.
    fn pushed(&self, registry: &Registry, repo: &str, manifest: &PushedManifest) {
        let Ok(Some((m, _))) = meta::load(&*self.store, repo) else {
            return;
        };
        if !m.scan_on_push {
            return;
        }
        let is_image = registry
            .stat_manifest(repo, &ManifestRef::Digest(manifest.digest.clone()), &[])
            .is_ok_and(|i| !i.media_type.contains("index") && !i.media_type.contains("list"));
        if is_image {
            self.scanner.enqueue(registry, repo, &manifest.digest);
        }
    }
}
