//! `GetAuthorizationToken`: a 12-hour session of the caller (an `ASIA...`
//! key in the key store) as `AWS:<key>.<secret>` base64-encoded, as
//! `aws ecr get-login-password` and `docker login` expect. The token stops
//! working when its session expires or is deleted ([`crate::EcrTokenAuth`]).

use base64::Engine;
use serde_json::{Value, json};

use dockyard_aws::ApiError;
use dockyard_aws::router::CallContext;

use crate::EcrService;

/// How long a registry token lives, as on AWS.
pub const TOKEN_TTL_HOURS: i64 = 12;

impl EcrService {
    pub(crate) fn get_authorization_token(
        &self,
        ctx: &CallContext,
        input: &Value,
    ) -> Result<Value, ApiError> {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use dockyard_aws::router::JsonService;
    use dockyard_registry::auth::{Action, AuthFailure, RegistryAuth};

    use super::*;
    use crate::testutil::{Fx, ctx};

    fn basic(token_b64: &str) -> http::request::Parts {
        http::Request::get("/v2/")
            .header(http::header::AUTHORIZATION, format!("Basic {token_b64}"))
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    fn anonymous(uri: &str) -> http::request::Parts {
        http::Request::get(uri).body(()).unwrap().into_parts().0
    }

    #[test]
    fn tokens_authenticate_until_revoked_and_nothing_else_does() {
        let fx = Fx::new();
        let (svc, keys) = (&fx.svc, fx.keys.clone());
        let out = svc
            .call(&ctx(), "GetAuthorizationToken", json!({}))
            .unwrap();
        let data = &out["authorizationData"][0];
        assert_eq!(data["proxyEndpoint"], "http://127.0.0.1:4566");
        let expires = data["expiresAt"].as_f64().unwrap();
        let in_12h = (chrono::Utc::now() + chrono::Duration::hours(12)).timestamp() as f64;
        assert!((expires - in_12h).abs() < 5.0);
        let token = data["authorizationToken"].as_str().unwrap();
        let auth = fx.auth();
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
            auth.authorize(&anonymous("/v2/"), None, Action::Pull)
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
