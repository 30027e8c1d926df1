//! The ECR API (JSON 1.1, `AmazonEC2ContainerRegistry_V20150921`) and the
//! registry authentication it issues tokens for.
//!
//! `GetAuthorizationToken` hands out a 12-hour session of the caller
//! (an `ASIA...` key in the key store); the token is `AWS:<key>.<secret>`
//! base64-encoded, as `aws ecr get-login-password` and `docker login`
//! expect. [`EcrTokenAuth`] accepts exactly those tokens as Basic
//! credentials on `/v2/`, so a token stops working when its session
//! expires or is deleted.

use std::sync::Arc;

use base64::Engine;
use serde_json::{Value, json};

use dockyard_aws::keys::KeyStore;
use dockyard_aws::router::{CallContext, JsonService};
use dockyard_aws::{ApiError, CredentialSource};
use dockyard_registry::auth::{Action, AuthFailure, Challenge, RegistryAuth};

/// ECR's target prefix.
pub const TARGET_PREFIX: &str = "AmazonEC2ContainerRegistry_V20150921";

/// How long a registry token lives, as on AWS.
pub const TOKEN_TTL_HOURS: i64 = 12;

/// The ECR JSON service.
pub struct EcrService {
    keys: Arc<KeyStore>,
    /// Where clients push and pull (`http://HOST:PORT`), for `proxyEndpoint`.
    endpoint: String,
}

impl EcrService {
    pub fn new(keys: Arc<KeyStore>, endpoint: impl Into<String>) -> Self {
        Self {
            keys,
            endpoint: endpoint.into(),
        }
    }

    fn get_authorization_token(&self, ctx: &CallContext, input: &Value) -> Result<Value, ApiError> {
        // `registryIds` is deprecated; AWS ignores it for the token itself.
        if let Some(ids) = input.get("registryIds") {
            let ok = ids.as_array().is_some_and(|a| {
                a.iter().all(|v| {
                    v.as_str()
                        .is_some_and(|s| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()))
                })
            });
            if !ok {
                return Err(ApiError::client(
                    "InvalidParameterException",
                    "registryIds must be a list of 12-digit account ids",
                ));
            }
        }
        let session = self
            .keys
            .issue_session(
                ctx.principal.clone(),
                chrono::Duration::hours(TOKEN_TTL_HOURS),
                ctx.now,
            )
            .map_err(|e| ApiError::server("ServerException", e.to_string()))?;
        let token = base64::engine::general_purpose::STANDARD.encode(format!(
            "AWS:{}.{}",
            session.access_key_id, session.secret_access_key
        ));
        Ok(json!({
            "authorizationData": [{
                "authorizationToken": token,
                "expiresAt": session.expiration.timestamp() as f64,
                "proxyEndpoint": self.endpoint,
            }]
        }))
    }
}

impl JsonService for EcrService {
    fn target_prefix(&self) -> &str {
        TARGET_PREFIX
    }

    fn signing_name(&self) -> &str {
        "ecr"
    }

    fn call(&self, ctx: &CallContext, operation: &str, input: Value) -> Result<Value, ApiError> {
        match operation {
            "GetAuthorizationToken" => self.get_authorization_token(ctx, &input),
            other => Err(ApiError::unknown_operation(other)),
        }
    }
}

/// Registry authentication with ECR tokens (Basic `AWS:<token>`).
pub struct EcrTokenAuth {
    keys: Arc<KeyStore>,
}

impl EcrTokenAuth {
    pub fn new(keys: Arc<KeyStore>) -> Self {
        Self { keys }
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

impl RegistryAuth for EcrTokenAuth {
    fn authorize(
        &self,
        headers: &http::HeaderMap,
        _repo: Option<&str>,
        _action: Action,
    ) -> Result<(), AuthFailure> {
        let value = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                unauthorized("authentication required: log in with `aws ecr get-login-password`")
            })?;
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
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use dockyard_aws::Principal;

    fn ctx() -> CallContext {
        CallContext {
            principal: Principal::root("000000000000"),
            access_key_id: "AKIAEXAMPLE".into(),
            account: "000000000000".into(),
            region: "us-east-1".into(),
            request_id: "r".into(),
            now: chrono::Utc::now(),
        }
    }

    fn basic(token_b64: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            format!("Basic {token_b64}").parse().unwrap(),
        );
        h
    }

    #[test]
    fn tokens_authenticate_until_revoked_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(KeyStore::open(dir.path().join("k.json"), "000000000000").unwrap());
        let svc = EcrService::new(keys.clone(), "http://127.0.0.1:4566");
        let out = svc
            .call(&ctx(), "GetAuthorizationToken", json!({}))
            .unwrap();
        let data = &out["authorizationData"][0];
        assert_eq!(data["proxyEndpoint"], "http://127.0.0.1:4566");
        let expires = data["expiresAt"].as_f64().unwrap();
        let in_12h = (chrono::Utc::now() + chrono::Duration::hours(12)).timestamp() as f64;
        assert!((expires - in_12h).abs() < 5.0);
        let token = data["authorizationToken"].as_str().unwrap();
        let auth = EcrTokenAuth::new(keys.clone());
        assert!(
            auth.authorize(&basic(token), Some("a"), Action::Push)
                .is_ok()
        );

        let decoded = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(token)
                .unwrap(),
        )
        .unwrap();
        let (_, pass) = decoded.split_once(':').unwrap();
        let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        for bad in [
            enc(&format!("root:{pass}")),
            enc("AWS:nope"),
            enc(&format!("AWS:{pass}x")),
            "!!".into(),
        ] {
            assert!(
                matches!(
                    auth.authorize(&basic(&bad), None, Action::Pull),
                    Err(AuthFailure::Unauthorized { .. })
                ),
                "{bad}"
            );
        }
        assert!(
            auth.authorize(&http::HeaderMap::new(), None, Action::Pull)
                .is_err()
        );
        let (key_id, _) = pass.split_once('.').unwrap();
        keys.delete(key_id).unwrap();
        assert!(
            auth.authorize(&basic(token), Some("a"), Action::Pull)
                .is_err(),
            "a deleted session's token is dead"
        );
        let err = svc
            .call(
                &ctx(),
                "GetAuthorizationToken",
                json!({"registryIds": ["12"]}),
            )
            .unwrap_err();
        assert_eq!(err.code, "InvalidParameterException");
        assert_eq!(
            svc.call(&ctx(), "Nope", json!({})).unwrap_err().code,
            "UnknownOperationException"
        );
    }
}
