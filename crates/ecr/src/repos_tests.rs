use serde_json::json;

use crate::testutil::{ACCOUNT, Fx, push_image};

#[test]
fn create_describe_delete() {
    let fx = Fx::new();
    let r = fx.create("team/app");
    let repo = &r["repository"];
    assert_eq!(repo["repositoryName"], "team/app");
    assert_eq!(repo["registryId"], ACCOUNT);
    assert_eq!(
        repo["repositoryArn"],
        format!("arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/app")
    );
    assert_eq!(repo["repositoryUri"], "127.0.0.1:4566/team/app");
    assert_eq!(repo["imageTagMutability"], "MUTABLE");
    assert_eq!(repo["imageScanningConfiguration"]["scanOnPush"], false);
    assert_eq!(repo["encryptionConfiguration"]["encryptionType"], "AES256");
    assert!(repo["createdAt"].as_f64().unwrap() > 1.7e9);

    let msg = fx.fail(
        "CreateRepository",
        json!({"repositoryName": "team/app"}),
        "RepositoryAlreadyExistsException",
    );
    assert!(msg.contains("'team/app'"), "{msg}");
    for bad in ["A", "x", "a//b", "-a", "a_", &"a".repeat(257)] {
        fx.fail(
            "CreateRepository",
            json!({"repositoryName": bad}),
            "InvalidParameterException",
        );
    }
    fx.fail(
        "CreateRepository",
        json!({"repositoryName": 5}),
        "SerializationException",
    );
    fx.fail("CreateRepository", json!({}), "SerializationException");

    let d = fx
        .call(
            "DescribeRepositories",
            json!({"repositoryNames": ["team/app"]}),
        )
        .unwrap();
    assert_eq!(d["repositories"][0], *repo);
    fx.fail(
        "DescribeRepositories",
        json!({"repositoryNames": ["team/app", "nope"]}),
        "RepositoryNotFoundException",
    );

    // Not empty: refused without force, nothing lost.
    push_image(&fx.registry, "team/app", "v1", b"1");
    let msg = fx.fail(
        "DeleteRepository",
        json!({"repositoryName": "team/app"}),
        "RepositoryNotEmptyException",
    );
    assert!(msg.contains("still contains images"), "{msg}");
    assert_eq!(fx.registry.list_images("team/app").unwrap().len(), 1);
    let del = fx
        .call(
            "DeleteRepository",
            json!({"repositoryName": "team/app", "force": true}),
        )
        .unwrap();
    assert_eq!(del["repository"]["repositoryName"], "team/app");
    fx.fail(
        "DescribeRepositories",
        json!({"repositoryNames": ["team/app"]}),
        "RepositoryNotFoundException",
    );
    fx.fail(
        "DeleteRepository",
        json!({"repositoryName": "team/app"}),
        "RepositoryNotFoundException",
    );
    // A new repository of the same name starts from the defaults.
    let again = fx.call(
        "CreateRepository",
        json!({"repositoryName": "team/app", "imageTagMutability": "IMMUTABLE"}),
    );
    assert_eq!(
        again.unwrap()["repository"]["imageTagMutability"],
        "IMMUTABLE"
    );
}

#[test]
fn describe_pages_through_repositories() {
    let fx = Fx::new();
    for n in ["r1", "r2", "r3", "r4", "r5"] {
        fx.create(n);
    }
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({"maxResults": 2});
        if let Some(t) = &token {
            input["nextToken"] = json!(t);
        }
        let page = fx.call("DescribeRepositories", input).unwrap();
        let repos = page["repositories"].as_array().unwrap();
        assert!(repos.len() <= 2);
        names.extend(
            repos
                .iter()
                .map(|r| r["repositoryName"].as_str().unwrap().to_owned()),
        );
        match page.get("nextToken").and_then(|t| t.as_str()) {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(names, ["r1", "r2", "r3", "r4", "r5"]);
    fx.fail(
        "DescribeRepositories",
        json!({"maxResults": 0}),
        "InvalidParameterException",
    );
    fx.fail(
        "DescribeRepositories",
        json!({"nextToken": "nope"}),
        "InvalidParameterException",
    );
    fx.fail(
        "DescribeRepositories",
        json!({"registryId": "111111111111", "repositoryNames": ["r1"]}),
        "RepositoryNotFoundException",
    );
}

#[test]
fn settings_and_tags() {
    let fx = Fx::new();
    fx.call(
        "CreateRepository",
        json!({"repositoryName": "app", "tags": [{"Key": "team", "Value": "a"}],
               "imageScanningConfiguration": {"scanOnPush": true}}),
    )
    .unwrap();
    let out = fx
        .call(
            "PutImageTagMutability",
            json!({"repositoryName": "app", "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
                   "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "dev-*"}]}),
        )
        .unwrap();
    assert_eq!(out["imageTagMutability"], "IMMUTABLE_WITH_EXCLUSION");
    assert_eq!(
        out["imageTagMutabilityExclusionFilters"][0]["filter"],
        "dev-*"
    );
    fx.fail(
        "PutImageTagMutability",
        json!({"repositoryName": "app", "imageTagMutability": "SOMETIMES"}),
        "InvalidParameterException",
    );
    fx.fail(
        "PutImageTagMutability",
        json!({"repositoryName": "nope", "imageTagMutability": "MUTABLE"}),
        "RepositoryNotFoundException",
    );
    let out = fx
        .call(
            "PutImageScanningConfiguration",
            json!({"repositoryName": "app", "imageScanningConfiguration": {"scanOnPush": false}}),
        )
        .unwrap();
    assert_eq!(out["imageScanningConfiguration"]["scanOnPush"], false);
    let d = fx
        .call("DescribeRepositories", json!({"repositoryNames": ["app"]}))
        .unwrap();
    assert_eq!(
        d["repositories"][0]["imageScanningConfiguration"]["scanOnPush"],
        false
    );
    assert_eq!(
        d["repositories"][0]["imageTagMutability"],
        "IMMUTABLE_WITH_EXCLUSION"
    );

    let arn = d["repositories"][0]["repositoryArn"]
        .as_str()
        .unwrap()
        .to_owned();
    fx.call(
        "TagResource",
        json!({"resourceArn": arn, "tags": [{"Key": "team", "Value": "b"}, {"Key": "env", "Value": "prod"}]}),
    )
    .unwrap();
    let t = fx
        .call("ListTagsForResource", json!({"resourceArn": arn}))
        .unwrap();
    assert_eq!(
        t["tags"],
        json!([{"Key": "team", "Value": "b"}, {"Key": "env", "Value": "prod"}])
    );
    fx.call(
        "UntagResource",
        json!({"resourceArn": arn, "tagKeys": ["team"]}),
    )
    .unwrap();
    let t = fx
        .call("ListTagsForResource", json!({"resourceArn": arn}))
        .unwrap();
    assert_eq!(t["tags"], json!([{"Key": "env", "Value": "prod"}]));
    fx.fail(
        "TagResource",
        json!({"resourceArn": arn, "tags": [{"Key": "aws:x", "Value": "1"}]}),
        "InvalidTagParameterException",
    );
    let many: Vec<_> = (0..51)
        .map(|i| json!({"Key": format!("k{i}"), "Value": "v"}))
        .collect();
    fx.fail(
        "TagResource",
        json!({"resourceArn": arn, "tags": many}),
        "TooManyTagsException",
    );
    fx.fail(
        "ListTagsForResource",
        json!({"resourceArn": "arn:aws:ecr:us-east-1:000000000000:repository/nope"}),
        "RepositoryNotFoundException",
    );
    fx.fail(
        "ListTagsForResource",
        json!({"resourceArn": "not-an-arn"}),
        "InvalidParameterException",
    );
    fx.fail(
        "CreateRepository",
        json!({"repositoryName": "kms", "encryptionConfiguration": {"encryptionType": "KMS"}}),
        "KmsException",
    );
}
