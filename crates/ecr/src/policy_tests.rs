use base64::Engine;
use serde_json::json;

use dockyard_aws::router::JsonService;
use dockyard_registry::auth::{Action, AuthFailure, RegistryAuth};

use crate::testutil::{Fx, ctx};

const PUBLIC_PULL: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "public pull",
    "Effect": "Allow",
    "Principal": "*",
    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
  }]
}"#;

fn req(method: &str, uri: &str, auth: Option<&str>) -> http::request::Parts {
    let mut b = http::Request::builder().method(method).uri(uri);
    if let Some(a) = auth {
        b = b.header(http::header::AUTHORIZATION, a);
    }
    b.body(()).unwrap().into_parts().0
}

fn token(fx: &Fx) -> String {
    let out = fx.call("GetAuthorizationToken", json!({})).unwrap();
    let t = out["authorizationData"][0]["authorizationToken"]
        .as_str()
        .unwrap()
        .to_owned();
    format!("Basic {t}")
}

#[test]
fn set_get_delete_and_validation() {
    let fx = Fx::new();
    fx.create("app");
    fx.fail(
        "GetRepositoryPolicy",
        json!({"repositoryName": "app"}),
        "RepositoryPolicyNotFoundException",
    );
    let out = fx
        .call(
            "SetRepositoryPolicy",
            json!({"repositoryName": "app", "policyText": PUBLIC_PULL}),
        )
        .unwrap();
    assert_eq!(out["policyText"], PUBLIC_PULL);
    let got = fx
        .call("GetRepositoryPolicy", json!({"repositoryName": "app"}))
        .unwrap();
    assert_eq!(got["policyText"], PUBLIC_PULL);
    for bad in [
        "{",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*"}]}"#,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}]}"#,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"allow","Principal":"*","Action":"ecr:*"}]}"#,
    ] {
        let msg = fx.fail(
            "SetRepositoryPolicy",
            json!({"repositoryName": "app", "policyText": bad}),
            "InvalidParameterException",
        );
        assert!(msg.contains("Invalid repository policy provided"), "{msg}");
    }
    // The refused policies changed nothing.
    let got = fx
        .call("GetRepositoryPolicy", json!({"repositoryName": "app"}))
        .unwrap();
    assert_eq!(got["policyText"], PUBLIC_PULL);
    let del = fx
        .call("DeleteRepositoryPolicy", json!({"repositoryName": "app"}))
        .unwrap();
    assert_eq!(del["policyText"], PUBLIC_PULL);
    fx.fail(
        "DeleteRepositoryPolicy",
        json!({"repositoryName": "app"}),
        "RepositoryPolicyNotFoundException",
    );
    fx.fail(
        "SetRepositoryPolicy",
        json!({"repositoryName": "nope", "policyText": PUBLIC_PULL}),
        "RepositoryNotFoundException",
    );
}

#[test]
fn anonymous_pulls_need_a_public_policy() {
    let fx = Fx::new();
    fx.create("app");
    fx.create("private");
    let auth = fx.auth();
    let manifest = req("GET", "/v2/app/manifests/v1", None);
    assert!(matches!(
        auth.authorize(&manifest, Some("app"), Action::Pull),
        Err(AuthFailure::Unauthorized { .. })
    ));
    fx.call(
        "SetRepositoryPolicy",
        json!({"repositoryName": "app", "policyText": PUBLIC_PULL}),
    )
    .unwrap();
    assert!(auth.authorize(&manifest, Some("app"), Action::Pull).is_ok());
    let blob = req("GET", "/v2/app/blobs/sha256:00", None);
    assert!(auth.authorize(&blob, Some("app"), Action::Pull).is_ok());
    // Not pushes, not other repositories, not the catalog.
    let push = req("PUT", "/v2/app/manifests/v1", None);
    assert!(matches!(
        auth.authorize(&push, Some("app"), Action::Push),
        Err(AuthFailure::Unauthorized { .. })
    ));
    let other = req("GET", "/v2/private/manifests/v1", None);
    assert!(
        auth.authorize(&other, Some("private"), Action::Pull)
            .is_err()
    );
    let tags = req("GET", "/v2/app/tags/list", None);
    assert!(
        auth.authorize(&tags, Some("app"), Action::Pull).is_err(),
        "the policy allows no ecr:ListImages"
    );
    let catalog = req("GET", "/v2/_catalog", None);
    assert!(auth.authorize(&catalog, None, Action::Catalog).is_err());
    // Bad credentials are refused even where anonymous access would do.
    let bad = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("AWS:nope.nope")
    );
    let with_bad = req("GET", "/v2/app/manifests/v1", Some(&bad));
    assert!(
        auth.authorize(&with_bad, Some("app"), Action::Pull)
            .is_err()
    );
}

#[test]
fn explicit_denies_bind_both_doors() {
    let fx = Fx::new();
    fx.create("app");
    let root = ctx().principal.arn;
    let deny = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Deny",
            "Principal": {"AWS": root},
            "Action": ["ecr:BatchGetImage", "ecr:DeleteRepository"]
        }]
    })
    .to_string();
    fx.call(
        "SetRepositoryPolicy",
        json!({"repositoryName": "app", "policyText": deny}),
    )
    .unwrap();
    let msg = fx.fail(
        "DeleteRepository",
        json!({"repositoryName": "app"}),
        "AccessDeniedException",
    );
    assert!(
        msg.contains("ecr:DeleteRepository") && msg.contains(&root),
        "{msg}"
    );
    assert!(fx.registry.repository_exists("app").unwrap());
    // Other operations still work.
    fx.call("ListImages", json!({"repositoryName": "app"}))
        .unwrap();

    let auth = fx.auth();
    let t = token(&fx);
    let pull = req("GET", "/v2/app/manifests/v1", Some(&t));
    assert!(matches!(
        auth.authorize(&pull, Some("app"), Action::Pull),
        Err(AuthFailure::Denied { .. })
    ));
    let push = req("PUT", "/v2/app/manifests/v1", Some(&t));
    assert!(auth.authorize(&push, Some("app"), Action::Push).is_ok());
}

#[test]
fn a_policy_that_locks_its_setter_out_needs_force() {
    let fx = Fx::new();
    fx.create("app");
    let lockout = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "ecr:SetRepositoryPolicy"}]
    })
    .to_string();
    fx.fail(
        "SetRepositoryPolicy",
        json!({"repositoryName": "app", "policyText": lockout}),
        "InvalidParameterException",
    );
    fx.call(
        "SetRepositoryPolicy",
        json!({"repositoryName": "app", "policyText": lockout, "force": true}),
    )
    .unwrap();
    fx.fail(
        "SetRepositoryPolicy",
        json!({"repositoryName": "app", "policyText": PUBLIC_PULL}),
        "AccessDeniedException",
    );
    // Deleting the policy is still allowed; then anything goes again.
    fx.svc
        .call(
            &ctx(),
            "DeleteRepositoryPolicy",
            json!({"repositoryName": "app"}),
        )
        .unwrap();
    fx.call(
        "SetRepositoryPolicy",
        json!({"repositoryName": "app", "policyText": PUBLIC_PULL}),
    )
    .unwrap();
}
