use serde_json::json;

use dockyard_aws::router::JsonService;

use crate::testutil::{Fx, ctx, push_image};

/// Keep the two newest images tagged `v`, expire untagged ones.
const POLICY: &str = r#"{"rules": [
  {"rulePriority": 1, "description": "keep two releases",
   "selection": {"tagStatus": "tagged", "tagPrefixList": ["v"], "countType": "imageCountMoreThan", "countNumber": 2},
   "action": {"type": "expire"}}
]}"#;

#[test]
fn put_get_delete_preview_and_enforce() {
    let fx = Fx::new();
    fx.create("app");
    fx.fail(
        "GetLifecyclePolicy",
        json!({"repositoryName": "app"}),
        "LifecyclePolicyNotFoundException",
    );
    fx.fail(
        "StartLifecyclePolicyPreview",
        json!({"repositoryName": "app"}),
        "LifecyclePolicyNotFoundException",
    );
    fx.fail(
        "GetLifecyclePolicyPreview",
        json!({"repositoryName": "app"}),
        "LifecyclePolicyPreviewNotFoundException",
    );
    let bad = POLICY.replace("imageCountMoreThan", "imageCountLessThan");
    let msg = fx.fail(
        "PutLifecyclePolicy",
        json!({"repositoryName": "app", "lifecyclePolicyText": bad}),
        "InvalidParameterException",
    );
    assert!(msg.contains("Lifecycle policy validation failure"), "{msg}");
    fx.fail(
        "PutLifecyclePolicy",
        json!({"repositoryName": "app", "lifecyclePolicyText": "{}"}),
        "InvalidParameterException",
    );

    let r = &fx.registry;
    let mut digests = Vec::new();
    for (i, tag) in ["v1", "v2", "v3", "latest"].iter().enumerate() {
        digests.push(push_image(r, "app", tag, format!("{i}").as_bytes()));
        // Distinct push times, oldest first.
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let out = fx
        .call(
            "PutLifecyclePolicy",
            json!({"repositoryName": "app", "lifecyclePolicyText": POLICY}),
        )
        .unwrap();
    assert_eq!(out["lifecyclePolicyText"], POLICY);
    let got = fx
        .call("GetLifecyclePolicy", json!({"repositoryName": "app"}))
        .unwrap();
    assert_eq!(got["lifecyclePolicyText"], POLICY);
    assert!(got.get("lastEvaluatedAt").is_none());

    let start = fx
        .call(
            "StartLifecyclePolicyPreview",
            json!({"repositoryName": "app"}),
        )
        .unwrap();
    assert_eq!(start["status"], "COMPLETE");
    let preview = fx
        .call(
            "GetLifecyclePolicyPreview",
            json!({"repositoryName": "app"}),
        )
        .unwrap();
    assert_eq!(preview["summary"]["expiringImageTotalCount"], 1);
    let res = &preview["previewResults"][0];
    assert_eq!(res["imageDigest"], digests[0].to_string());
    assert_eq!(res["imageTags"], json!(["v1"]));
    assert_eq!(res["action"]["type"], "EXPIRE");
    assert_eq!(res["appliedRulePriority"], 1);
    // A preview deletes nothing.
    assert_eq!(r.list_images("app").unwrap().len(), 4);

    // A preview of other text does not change the stored policy.
    let keep_one = POLICY.replace("\"countNumber\": 2", "\"countNumber\": 1");
    fx.call(
        "StartLifecyclePolicyPreview",
        json!({"repositoryName": "app", "lifecyclePolicyText": keep_one}),
    )
    .unwrap();
    let preview = fx
        .call(
            "GetLifecyclePolicyPreview",
            json!({"repositoryName": "app", "maxResults": 1}),
        )
        .unwrap();
    assert_eq!(preview["summary"]["expiringImageTotalCount"], 2);
    assert_eq!(preview["previewResults"].as_array().unwrap().len(), 1);
    assert!(preview["nextToken"].is_string());
    let got = fx
        .call("GetLifecyclePolicy", json!({"repositoryName": "app"}))
        .unwrap();
    assert_eq!(got["lifecyclePolicyText"], POLICY);

    // Enforcement deletes what the stored policy expires.
    let report = fx
        .svc
        .enforce_lifecycle_policies(chrono::Utc::now())
        .unwrap();
    assert_eq!((report.repositories, report.expired), (1, 1));
    let left: Vec<_> = r
        .list_images("app")
        .unwrap()
        .into_iter()
        .map(|i| i.digest)
        .collect();
    assert_eq!(left.len(), 3);
    assert!(!left.contains(&digests[0]));
    let got = fx
        .call("GetLifecyclePolicy", json!({"repositoryName": "app"}))
        .unwrap();
    assert!(got["lastEvaluatedAt"].as_f64().is_some());
    let again = fx
        .svc
        .enforce_lifecycle_policies(chrono::Utc::now())
        .unwrap();
    assert_eq!(again.expired, 0);

    let del = fx
        .svc
        .call(
            &ctx(),
            "DeleteLifecyclePolicy",
            json!({"repositoryName": "app"}),
        )
        .unwrap();
    assert_eq!(del["lifecyclePolicyText"], POLICY);
    fx.fail(
        "DeleteLifecyclePolicy",
        json!({"repositoryName": "app"}),
        "LifecyclePolicyNotFoundException",
    );
}
