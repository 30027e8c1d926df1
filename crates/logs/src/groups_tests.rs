//! Log group operations through `call()`.

use serde_json::json;

use dockyard_store::StoreExt;

use crate::testutil::{Fx, ms};

#[test]
fn create_describe_delete() {
    let fx = Fx::new();
    fx.group("/ecs/web");
    let v = fx.ok("DescribeLogGroups", json!({}));
    assert_eq!(
        v,
        json!({"logGroups": [{
            "logGroupName": "/ecs/web",
            "creationTime": ms(fx.now),
            "metricFilterCount": 0,
            "arn": "arn:aws:logs:us-east-1:000000000000:log-group:/ecs/web:*",
            "logGroupArn": "arn:aws:logs:us-east-1:000000000000:log-group:/ecs/web",
            "storedBytes": 0,
            "logGroupClass": "STANDARD",
        }]})
    );
    assert_eq!(fx.store.list("logs/groups/").unwrap().len(), 1);
    let m = fx.fail(
        "CreateLogGroup",
        json!({"logGroupName": "/ecs/web"}),
        "ResourceAlreadyExistsException",
    );
    assert_eq!(m, "The specified log group already exists");
    fx.ok("DeleteLogGroup", json!({"logGroupName": "/ecs/web"}));
    let m = fx.fail(
        "DeleteLogGroup",
        json!({"logGroupName": "/ecs/web"}),
        "ResourceNotFoundException",
    );
    assert_eq!(m, "The specified log group does not exist.");
    assert_eq!(
        fx.ok("DescribeLogGroups", json!({})),
        json!({"logGroups": []})
    );
    assert!(fx.store.list("logs/").unwrap().is_empty());
}

#[test]
fn bad_input_gets_aws_wording() {
    let fx = Fx::new();
    let m = fx.fail(
        "CreateLogGroup",
        json!({"logGroupName": "a b"}),
        "InvalidParameterException",
    );
    assert_eq!(
        m,
        r"1 validation error detected: Value 'a b' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+"
    );
    let m = fx.fail("CreateLogGroup", json!({}), "InvalidParameterException");
    assert!(m.contains("Value null at 'logGroupName'"), "{m}");
    fx.fail(
        "CreateLogGroup",
        json!({"logGroupName": 5}),
        "SerializationException",
    );
    fx.fail(
        "CreateLogGroup",
        json!({"logGroupName": "g", "kmsKeyId": "k"}),
        "InvalidParameterException",
    );
    fx.fail(
        "CreateLogGroup",
        json!({"logGroupName": "g", "logGroupClass": "CHEAP"}),
        "InvalidParameterException",
    );
    fx.fail(
        "DescribeLogGroups",
        json!({"limit": 51}),
        "InvalidParameterException",
    );
    fx.fail(
        "DescribeLogGroups",
        json!({"logGroupNamePrefix": "a", "logGroupNamePattern": "b"}),
        "InvalidParameterException",
    );
    fx.fail(
        "DescribeLogGroups",
        json!({"nextToken": "not-a-token"}),
        "InvalidParameterException",
    );
    fx.fail("NoSuchThing", json!({}), "UnknownOperationException");
}

#[test]
fn describe_filters_and_pages() {
    let fx = Fx::new();
    for n in ["/a/one", "/a/two", "/b/three", "/b/DataLogs", "c"] {
        fx.group(n);
    }
    fx.ok(
        "CreateLogGroup",
        json!({"logGroupName": "d", "logGroupClass": "INFREQUENT_ACCESS"}),
    );
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["logGroups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["logGroupName"].as_str().unwrap().to_string())
            .collect()
    };
    let v = fx.ok("DescribeLogGroups", json!({"logGroupNamePrefix": "/a/"}));
    assert_eq!(names(&v), ["/a/one", "/a/two"]);
    let v = fx.ok("DescribeLogGroups", json!({"logGroupNamePattern": "Data"}));
    assert_eq!(names(&v), ["/b/DataLogs"]);
    // With a pattern AWS reports only the name, ARN and creation time.
    assert_eq!(v["logGroups"][0].as_object().unwrap().len(), 3);
    let v = fx.ok(
        "DescribeLogGroups",
        json!({"logGroupClass": "INFREQUENT_ACCESS"}),
    );
    assert_eq!(names(&v), ["d"]);
    let v = fx.ok(
        "DescribeLogGroups",
        json!({"logGroupIdentifiers": ["c", "arn:aws:logs:us-east-1:000000000000:log-group:/a/two"]}),
    );
    assert_eq!(names(&v), ["/a/two", "c"]);

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = json!({"limit": 2});
        if let Some(t) = &token {
            req["nextToken"] = json!(t);
        }
        let v = fx.ok("DescribeLogGroups", req);
        seen.extend(names(&v));
        match v.get("nextToken") {
            Some(t) => token = Some(t.as_str().unwrap().to_string()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["/a/one", "/a/two", "/b/DataLogs", "/b/three", "c", "d"]
    );
}

#[test]
fn retention_policies() {
    let fx = Fx::new();
    fx.group("g");
    fx.ok(
        "PutRetentionPolicy",
        json!({"logGroupName": "g", "retentionInDays": 30}),
    );
    let v = fx.ok("DescribeLogGroups", json!({}));
    assert_eq!(v["logGroups"][0]["retentionInDays"], 30);
    let m = fx.fail(
        "PutRetentionPolicy",
        json!({"logGroupName": "g", "retentionInDays": 2}),
        "InvalidParameterException",
    );
    assert!(
        m.ends_with("Member must satisfy enum value set: [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]"),
        "{m}"
    );
    fx.fail(
        "PutRetentionPolicy",
        json!({"logGroupName": "nope", "retentionInDays": 1}),
        "ResourceNotFoundException",
    );
    fx.ok("DeleteRetentionPolicy", json!({"logGroupName": "g"}));
    let v = fx.ok("DescribeLogGroups", json!({}));
    assert!(v["logGroups"][0].get("retentionInDays").is_none());
    fx.fail(
        "DeleteRetentionPolicy",
        json!({"logGroupName": "nope"}),
        "ResourceNotFoundException",
    );
    // The policy is in the store, so it survives a restart.
    fx.ok(
        "PutRetentionPolicy",
        json!({"logGroupName": "g", "retentionInDays": 7}),
    );
    let fx = fx.reopen();
    let v = fx.ok("DescribeLogGroups", json!({}));
    assert_eq!(v["logGroups"][0]["retentionInDays"], 7);
}

#[test]
fn tags_by_arn_and_by_name() {
    let fx = Fx::new();
    fx.ok(
        "CreateLogGroup",
        json!({"logGroupName": "/app", "tags": {"team": "web"}}),
    );
    let arn = "arn:aws:logs:us-east-1:000000000000:log-group:/app";
    assert_eq!(
        fx.ok("ListTagsForResource", json!({"resourceArn": arn})),
        json!({"tags": {"team": "web"}})
    );
    fx.ok(
        "TagResource",
        json!({"resourceArn": format!("{arn}:*"), "tags": {"env": "prod", "team": "ops"}}),
    );
    assert_eq!(
        fx.ok("ListTagsLogGroup", json!({"logGroupName": "/app"})),
        json!({"tags": {"env": "prod", "team": "ops"}})
    );
    fx.ok(
        "UntagResource",
        json!({"resourceArn": arn, "tagKeys": ["team"]}),
    );
    fx.ok(
        "TagLogGroup",
        json!({"logGroupName": "/app", "tags": {"a": "1"}}),
    );
    fx.ok(
        "UntagLogGroup",
        json!({"logGroupName": "/app", "tags": ["env"]}),
    );
    assert_eq!(
        fx.ok("ListTagsForResource", json!({"resourceArn": arn})),
        json!({"tags": {"a": "1"}})
    );
    for other in [
        "arn:aws:logs:us-east-1:111111111111:log-group:/app",
        "arn:aws:logs:eu-west-1:000000000000:log-group:/app",
        "arn:aws:logs:us-east-1:000000000000:log-group:/missing",
        "arn:aws:logs:us-east-1:000000000000:destination:d",
    ] {
        fx.fail(
            "ListTagsForResource",
            json!({"resourceArn": other}),
            "ResourceNotFoundException",
        );
    }
    fx.fail(
        "TagResource",
        json!({"resourceArn": "not-an-arn", "tags": {"a": "b"}}),
        "InvalidParameterException",
    );
    let many: serde_json::Map<String, serde_json::Value> =
        (0..50).map(|i| (format!("k{i}"), json!("v"))).collect();
    fx.fail(
        "TagResource",
        json!({"resourceArn": arn, "tags": many}),
        "TooManyTagsException",
    );
    fx.fail(
        "TagResource",
        json!({"resourceArn": arn, "tags": {"aws:x": "1"}}),
        "InvalidParameterException",
    );
}
