//! The `Principal` / `NotPrincipal` element of resource-based policies.

use serde_json::Value;

use crate::Request;

/// Who a statement is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principals {
    /// `"Principal": "*"`: everyone, anonymous callers included.
    Everyone,
    Listed {
        aws: Vec<AwsPrincipal>,
        /// Service principals, lower-cased (AWS treats them
        /// case-insensitively).
        services: Vec<String>,
        /// Web-identity/SAML providers and S3 canonical users: accepted so
        /// that such policies parse, but no Dockyard caller is one.
        federated: Vec<String>,
        canonical_users: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AwsPrincipal {
    /// `{"AWS": "*"}`.
    Everyone,
    /// `123456789012` (any partition) or `arn:PARTITION:iam::123456789012:root`.
    Account {
        partition: Option<String>,
        account: String,
    },
    /// A user, role, assumed-role session or federated-user ARN.
    Arn(String),
}

/// The six colon-separated fields of an ARN; the resource keeps its colons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    pub(crate) fn parse(s: &'a str) -> Option<Self> {
        let mut parts = s.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let arn = Self {
            partition: parts.next()?,
            service: parts.next()?,
            region: parts.next()?,
            account: parts.next()?,
            resource: parts.next()?,
        };
        Some(arn)
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

impl Principals {
    /// Parses the element's JSON value; errors are phrased to follow the
    /// element name (`Principal` or `NotPrincipal`).
    pub(crate) fn parse(value: &Value, element: &str) -> Result<Self, String> {
        let map = match value {
            Value::String(s) if s == "*" => return Ok(Self::Everyone),
            Value::String(s) => {
                return Err(format!(
                    "{element} must be \"*\" or an object such as {{\"AWS\": ...}}, got {s:?}"
                ));
            }
            Value::Object(map) if map.is_empty() => {
                return Err(format!("{element} must not be empty"));
            }
            Value::Object(map) => map,
            _ => {
                return Err(format!(
                    "{element} must be \"*\" or an object such as {{\"AWS\": ...}}"
                ));
            }
        };
        let mut aws = Vec::new();
        let mut services = Vec::new();
        let mut federated = Vec::new();
        let mut canonical_users = Vec::new();
        for (kind, values) in map {
            let field = format!("{element}.{kind}");
            let values = crate::parse::string_list(values, &field)?;
            match kind.as_str() {
                "AWS" => {
                    for v in values {
                        aws.push(parse_aws(&v).ok_or_else(|| {
                            format!(
                                "{field}: {v:?} is not \"*\", an account id or an iam/sts principal arn (wildcards are not allowed)"
                            )
                        })?);
                    }
                }
                "Service" => services.extend(values.into_iter().map(|s| s.to_ascii_lowercase())),
                "Federated" => federated.extend(values),
                "CanonicalUser" => canonical_users.extend(values),
                other => {
                    return Err(format!(
                        "{element} has unknown principal type {other:?} (expected AWS, Service, Federated or CanonicalUser)"
                    ));
                }
            }
        }
        Ok(Self::Listed {
            aws,
            services,
            federated,
            canonical_users,
        })
    }

    pub(crate) fn matches(&self, req: &Request<'_>) -> bool {
        let (aws, services) = match self {
            Self::Everyone => return true,
            Self::Listed { aws, services, .. } => (aws, services),
        };
        if let Some(service) = req.service
            && services.iter().any(|s| s.eq_ignore_ascii_case(service))
        {
            return true;
        }
        aws.iter().any(|p| match p {
            // AWS documents {"AWS": "*"} as the same as "*": anonymous
            // callers included.
            AwsPrincipal::Everyone => true,
            AwsPrincipal::Account { partition, account } => {
                req.principal.and_then(Arn::parse).is_some_and(|caller| {
                    caller.account == account
                        && partition.as_deref().is_none_or(|p| p == caller.partition)
                })
            }
            AwsPrincipal::Arn(arn) => req.principal.is_some_and(|caller| arn_matches(arn, caller)),
        })
    }
}

fn parse_aws(v: &str) -> Option<AwsPrincipal> {
    if v == "*" {
        return Some(AwsPrincipal::Everyone);
    }
    if is_account_id(v) {
        return Some(AwsPrincipal::Account {
            partition: None,
            account: v.to_string(),
        });
    }
    if v.contains(['*', '?']) {
        return None;
    }
    let arn = Arn::parse(v)?;
    let valid = !arn.partition.is_empty()
        && matches!(arn.service, "iam" | "sts")
        && arn.region.is_empty()
        && is_account_id(arn.account)
        && !arn.resource.is_empty();
    if !valid {
        return None;
    }
    if arn.service == "iam" && arn.resource == "root" {
        return Some(AwsPrincipal::Account {
            partition: Some(arn.partition.to_string()),
            account: arn.account.to_string(),
        });
    }
    Some(AwsPrincipal::Arn(v.to_string()))
}

/// Whether the caller is the principal named by `arn`: the same ARN, or a
/// session of the named role (`arn:aws:sts::A:assumed-role/R/S` is a
/// session of `arn:aws:iam::A:role/PATH/R`).
fn arn_matches(arn: &str, caller: &str) -> bool {
    if arn == caller {
        return true;
    }
    let (Some(named), Some(caller)) = (Arn::parse(arn), Arn::parse(caller)) else {
        return false;
    };
    let Some(role_path) = named.resource.strip_prefix("role/") else {
        return false;
    };
    let Some(session) = caller.resource.strip_prefix("assumed-role/") else {
        return false;
    };
    let role_name = role_path.rsplit('/').next().unwrap_or(role_path);
    let session_role = session.split('/').next().unwrap_or(session);
    named.service == "iam"
        && caller.service == "sts"
        && named.partition == caller.partition
        && named.account == caller.account
        && role_name == session_role
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn caller(principal: Option<&str>, service: Option<&str>, f: impl FnOnce(&Request<'_>)) {
        let context = BTreeMap::new();
        let req = Request {
            principal,
            service,
            action: "ecr:BatchGetImage",
            resource: "arn:aws:ecr:us-east-1:000000000000:repository/app",
            context: &context,
        };
        f(&req);
    }

    fn principals(v: Value) -> Principals {
        Principals::parse(&v, "Principal").unwrap()
    }

    #[test]
    fn everyone_matches_anonymous_users_and_services() {
        for p in [principals(json!("*")), principals(json!({"AWS": "*"}))] {
            caller(None, None, |r| assert!(p.matches(r)));
            caller(Some("arn:aws:iam::111122223333:user/bob"), None, |r| {
                assert!(p.matches(r))
            });
            caller(None, Some("ecs-tasks.amazonaws.com"), |r| {
                assert!(p.matches(r))
            });
        }
    }

    #[test]
    fn account_matches_every_principal_of_the_account() {
        for p in [
            principals(json!({"AWS": "111122223333"})),
            principals(json!({"AWS": ["arn:aws:iam::111122223333:root"]})),
        ] {
            for who in [
                "arn:aws:iam::111122223333:root",
                "arn:aws:iam::111122223333:user/alice",
                "arn:aws:iam::111122223333:role/deploy",
                "arn:aws:sts::111122223333:assumed-role/deploy/s1",
            ] {
                caller(Some(who), None, |r| assert!(p.matches(r), "{who}"));
            }
            caller(Some("arn:aws:iam::444455556666:user/alice"), None, |r| {
                assert!(!p.matches(r))
            });
            caller(None, None, |r| assert!(!p.matches(r)));
        }
        let cn = principals(json!({"AWS": "arn:aws-cn:iam::111122223333:root"}));
        caller(Some("arn:aws:iam::111122223333:user/alice"), None, |r| {
            assert!(!cn.matches(r))
        });
    }

    #[test]
    fn user_and_role_arns() {
        let user = principals(json!({"AWS": "arn:aws:iam::111122223333:user/alice"}));
        caller(Some("arn:aws:iam::111122223333:user/alice"), None, |r| {
            assert!(user.matches(r))
        });
        caller(Some("arn:aws:iam::111122223333:user/bob"), None, |r| {
            assert!(!user.matches(r))
        });
        caller(Some("arn:aws:iam::111122223333:root"), None, |r| {
            assert!(!user.matches(r))
        });

        let role = principals(json!({"AWS": "arn:aws:iam::111122223333:role/ci/deploy"}));
        for (who, expected) in [
            ("arn:aws:iam::111122223333:role/ci/deploy", true),
            (
                "arn:aws:sts::111122223333:assumed-role/deploy/build-42",
                true,
            ),
            ("arn:aws:sts::111122223333:assumed-role/other/deploy", false),
            (
                "arn:aws:sts::444455556666:assumed-role/deploy/build-42",
                false,
            ),
            ("arn:aws:iam::111122223333:user/deploy", false),
        ] {
            caller(Some(who), None, |r| {
                assert_eq!(role.matches(r), expected, "{who}")
            });
        }

        let session =
            principals(json!({"AWS": "arn:aws:sts::111122223333:assumed-role/deploy/s1"}));
        caller(
            Some("arn:aws:sts::111122223333:assumed-role/deploy/s1"),
            None,
            |r| assert!(session.matches(r)),
        );
        caller(
            Some("arn:aws:sts::111122223333:assumed-role/deploy/s2"),
            None,
            |r| assert!(!session.matches(r)),
        );
    }

    #[test]
    fn services_federated_and_canonical_users() {
        let p = principals(json!({
            "Service": ["ECS-tasks.amazonaws.com"],
            "Federated": "cognito-identity.amazonaws.com",
            "CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
        }));
        caller(None, Some("ecs-tasks.amazonaws.com"), |r| {
            assert!(p.matches(r))
        });
        caller(None, Some("lambda.amazonaws.com"), |r| {
            assert!(!p.matches(r))
        });
        caller(None, None, |r| assert!(!p.matches(r)));
        caller(Some("arn:aws:iam::111122223333:user/alice"), None, |r| {
            assert!(!p.matches(r))
        });
    }

    #[test]
    fn invalid_principals() {
        let err = |v: Value| Principals::parse(&v, "Principal").unwrap_err();
        assert_eq!(
            err(json!("alice")),
            "Principal must be \"*\" or an object such as {\"AWS\": ...}, got \"alice\""
        );
        assert_eq!(err(json!({})), "Principal must not be empty");
        assert_eq!(
            err(json!(["*"])),
            "Principal must be \"*\" or an object such as {\"AWS\": ...}"
        );
        assert_eq!(
            err(json!({"Users": "x"})),
            "Principal has unknown principal type \"Users\" (expected AWS, Service, Federated or CanonicalUser)"
        );
        assert_eq!(
            err(json!({"AWS": []})),
            "Principal.AWS must not be an empty array"
        );
        for bad in [
            "arn:aws:iam::111122223333:user/*",
            "1111",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::abc:user/alice",
            "arn:aws:iam:us-east-1:111122223333:user/alice",
            "arn:aws:iam::111122223333:",
            "alice",
        ] {
            assert_eq!(
                err(json!({"AWS": bad})),
                format!(
                    "Principal.AWS: {bad:?} is not \"*\", an account id or an iam/sts principal arn (wildcards are not allowed)"
                )
            );
        }
    }
}
