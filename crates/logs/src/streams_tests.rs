//! Log stream operations through `call()`.

use serde_json::json;

use crate::testutil::{Fx, ms};

fn names(v: &serde_json::Value) -> Vec<String> {
    v["logStreams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["logStreamName"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn create_describe_delete() {
    let fx = Fx::new();
    fx.group("g");
    fx.stream("g", "web/1");
    let m = fx.fail(
        "CreateLogStream",
        json!({"logGroupName": "g", "logStreamName": "web/1"}),
        "ResourceAlreadyExistsException",
    );
    assert_eq!(m, "The specified log stream already exists");
    let m = fx.fail(
        "CreateLogStream",
        json!({"logGroupName": "nope", "logStreamName": "s"}),
        "ResourceNotFoundException",
    );
    assert_eq!(m, "The specified log group does not exist.");
    let m = fx.fail(
        "CreateLogStream",
        json!({"logGroupName": "g", "logStreamName": "a:b"}),
        "InvalidParameterException",
    );
    assert!(
        m.ends_with("Member must satisfy regular expression pattern: [^:*]*"),
        "{m}"
    );

    let v = fx.ok("DescribeLogStreams", json!({"logGroupName": "g"}));
    assert_eq!(
        v,
        json!({"logStreams": [{
            "logStreamName": "web/1",
            "creationTime": ms(fx.now),
            "arn": "arn:aws:logs:us-east-1:000000000000:log-group:g:log-stream:web/1",
            "storedBytes": 0,
            "uploadSequenceToken": format!("{:056}", 1),
        }]})
    );
    let t = ms(fx.now);
    fx.put("g", "web/1", &[(t - 5000, "a"), (t - 1000, "b")]);
    let v = fx.ok("DescribeLogStreams", json!({"logGroupName": "g"}));
    let s = &v["logStreams"][0];
    assert_eq!(s["firstEventTimestamp"], t - 5000);
    assert_eq!(s["lastEventTimestamp"], t - 1000);
    assert_eq!(s["lastIngestionTime"], t);
    assert_eq!(s["uploadSequenceToken"], format!("{:056}", 3));
    assert!(s["storedBytes"].as_u64().unwrap() > 0);
    let gv = fx.ok("DescribeLogGroups", json!({}));
    assert_eq!(gv["logGroups"][0]["storedBytes"], s["storedBytes"]);

    let files = fx.dir.path().join("logs");
    let count_dirs = || {
        std::fs::read_dir(&files)
            .unwrap()
            .flat_map(|g| std::fs::read_dir(g.unwrap().path()).unwrap())
            .count()
    };
    assert_eq!(count_dirs(), 1);
    fx.ok(
        "DeleteLogStream",
        json!({"logGroupName": "g", "logStreamName": "web/1"}),
    );
    assert_eq!(count_dirs(), 0, "the stream's files are gone");
    let m = fx.fail(
        "DeleteLogStream",
        json!({"logGroupName": "g", "logStreamName": "web/1"}),
        "ResourceNotFoundException",
    );
    assert_eq!(m, "The specified log stream does not exist.");
    assert_eq!(
        fx.ok("DescribeLogStreams", json!({"logGroupName": "g"})),
        json!({"logStreams": []})
    );
}

#[test]
fn describe_orders_filters_and_pages() {
    let fx = Fx::new();
    fx.group("g");
    let t = ms(fx.now);
    for (name, last) in [("c", 3), ("a", 1), ("b", 2), ("x/1", 0)] {
        fx.stream("g", name);
        if last > 0 {
            fx.put("g", name, &[(t - 10_000 + last, "m")]);
        }
    }
    let v = fx.ok("DescribeLogStreams", json!({"logGroupName": "g"}));
    assert_eq!(names(&v), ["a", "b", "c", "x/1"]);
    let v = fx.ok(
        "DescribeLogStreams",
        json!({"logGroupName": "g", "descending": true}),
    );
    assert_eq!(names(&v), ["x/1", "c", "b", "a"]);
    let v = fx.ok(
        "DescribeLogStreams",
        json!({"logGroupName": "g", "logStreamNamePrefix": "x/"}),
    );
    assert_eq!(names(&v), ["x/1"]);
    let v = fx.ok(
        "DescribeLogStreams",
        json!({"logGroupName": "g", "orderBy": "LastEventTime", "descending": true}),
    );
    assert_eq!(names(&v), ["c", "b", "a", "x/1"]);
    fx.fail(
        "DescribeLogStreams",
        json!({"logGroupName": "g", "orderBy": "LastEventTime", "logStreamNamePrefix": "a"}),
        "InvalidParameterException",
    );
    fx.fail(
        "DescribeLogStreams",
        json!({"logGroupName": "g", "orderBy": "Size"}),
        "InvalidParameterException",
    );
    fx.fail("DescribeLogStreams", json!({}), "InvalidParameterException");
    fx.fail(
        "DescribeLogStreams",
        json!({"logGroupName": "g", "logGroupIdentifier": "g"}),
        "InvalidParameterException",
    );
    fx.fail(
        "DescribeLogStreams",
        json!({"logGroupName": "nope"}),
        "ResourceNotFoundException",
    );
    let v = fx.ok(
        "DescribeLogStreams",
        json!({"logGroupIdentifier": "arn:aws:logs:us-east-1:000000000000:log-group:g:*"}),
    );
    assert_eq!(names(&v).len(), 4);

    for order in [json!("LogStreamName"), json!("LastEventTime")] {
        for descending in [false, true] {
            let mut seen = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut req = json!({"logGroupName": "g", "limit": 3, "orderBy": order, "descending": descending});
                if let Some(tk) = &token {
                    req["nextToken"] = json!(tk);
                }
                let v = fx.ok("DescribeLogStreams", req);
                seen.extend(names(&v));
                match v.get("nextToken") {
                    Some(tk) => token = Some(tk.as_str().unwrap().to_string()),
                    None => break,
                }
            }
            let full = fx.ok(
                "DescribeLogStreams",
                json!({"logGroupName": "g", "orderBy": order, "descending": descending}),
            );
            assert_eq!(seen, names(&full), "{order} descending={descending}");
        }
    }
}
