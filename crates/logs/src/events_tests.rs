//! `PutLogEvents` and `GetLogEvents` through `call()`.

use serde_json::{Value, json};

use crate::events::{MAX_AGE_MS, MAX_FUTURE_MS};
use crate::testutil::{Fx, messages, ms};

const HOUR: i64 = 3_600_000;

fn get(fx: &Fx, extra: Value) -> Value {
    let mut req = json!({"logGroupName": "g", "logStreamName": "s"});
    for (k, v) in extra.as_object().unwrap() {
        req[k] = v.clone();
    }
    fx.ok("GetLogEvents", req)
}

fn setup() -> Fx {
    let fx = Fx::new();
    fx.group("g");
    fx.stream("g", "s");
    fx
}

#[test]
fn put_then_get_latest_and_from_head() {
    let fx = setup();
    let t = ms(fx.now);
    let r = fx.put(
        "g",
        "s",
        &[(t - 3000, "one"), (t - 2000, "two"), (t - 2000, "three")],
    );
    assert_eq!(r, json!({"nextSequenceToken": format!("{:056}", 4)}));
    let v = get(&fx, json!({}));
    assert_eq!(messages(&v), ["one", "two", "three"]);
    assert_eq!(
        v["events"][0],
        json!({"timestamp": t - 3000, "message": "one", "ingestionTime": t})
    );
    // The default reads the latest events; startFromHead the earliest.
    assert_eq!(messages(&get(&fx, json!({"limit": 2}))), ["two", "three"]);
    assert_eq!(
        messages(&get(&fx, json!({"limit": 2, "startFromHead": true}))),
        ["one", "two"]
    );
    // Time bounds: startTime inclusive, endTime exclusive.
    let v = get(&fx, json!({"startTime": t - 2000, "endTime": t}));
    assert_eq!(messages(&v), ["two", "three"]);
    let v = get(&fx, json!({"startTime": t - 3000, "endTime": t - 2000}));
    assert_eq!(messages(&v), ["one"]);
    // The sequence token is accepted and ignored.
    fx.ok(
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "sequenceToken": "bogus",
               "logEvents": [{"timestamp": t, "message": "four"}]}),
    );
    assert_eq!(messages(&get(&fx, json!({"limit": 1}))), ["four"]);
    // By ARN too.
    let v = fx.ok(
        "GetLogEvents",
        json!({"logGroupIdentifier": "arn:aws:logs:us-east-1:000000000000:log-group:g", "logStreamName": "s"}),
    );
    assert_eq!(messages(&v).len(), 4);
}

#[test]
fn tokens_page_forward_and_backward_to_the_ends() {
    let fx = setup();
    let t = ms(fx.now);
    let events: Vec<(i64, String)> = (0..7).map(|i| (t - 10_000 + i, format!("e{i}"))).collect();
    let refs: Vec<(i64, &str)> = events.iter().map(|(t, m)| (*t, m.as_str())).collect();
    fx.put("g", "s", &refs);

    // Forward from the head, 3 at a time, until the token repeats.
    let mut seen = Vec::new();
    let mut req = json!({"startFromHead": true, "limit": 3});
    let last_token = loop {
        let v = get(&fx, req.clone());
        seen.extend(messages(&v));
        let next = v["nextForwardToken"].as_str().unwrap().to_string();
        assert!(next.starts_with("f/"));
        if req.get("nextToken").and_then(Value::as_str) == Some(next.as_str()) {
            assert!(messages(&v).is_empty());
            assert!(v["nextBackwardToken"].as_str().unwrap().starts_with("b/"));
            break next;
        }
        req["nextToken"] = json!(next);
    };
    assert_eq!(seen, ["e0", "e1", "e2", "e3", "e4", "e5", "e6"]);

    // New events appear behind the forward token of the end.
    fx.put("g", "s", &[(t, "e7")]);
    let v = get(&fx, json!({"nextToken": last_token, "startFromHead": true}));
    assert_eq!(messages(&v), ["e7"]);

    // Backward from the latest page to the start.
    let mut pages = Vec::new();
    let mut req = json!({"limit": 3});
    loop {
        let v = get(&fx, req.clone());
        let next = v["nextBackwardToken"].as_str().unwrap().to_string();
        assert!(next.starts_with("b/"));
        if req.get("nextToken").and_then(Value::as_str) == Some(next.as_str()) {
            assert!(messages(&v).is_empty());
            break;
        }
        pages.push(messages(&v));
        req["nextToken"] = json!(next);
    }
    assert_eq!(
        pages,
        vec![
            vec!["e5", "e6", "e7"],
            vec!["e2", "e3", "e4"],
            vec!["e0", "e1"]
        ]
    );

    // A backward token followed forward again resumes where it was.
    let v = get(&fx, json!({"limit": 2}));
    let back = v["nextBackwardToken"].as_str().unwrap().to_string();
    let v = get(&fx, json!({"nextToken": back, "limit": 2}));
    assert_eq!(messages(&v), ["e4", "e5"]);
    let fwd = v["nextForwardToken"].as_str().unwrap().to_string();
    assert_eq!(
        messages(&get(&fx, json!({"nextToken": fwd, "limit": 1}))),
        ["e6"]
    );

    // An empty stream gives tokens anyway.
    fx.stream("g", "empty");
    let v = fx.ok(
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "empty"}),
    );
    assert_eq!(v["events"], json!([]));
    let f = v["nextForwardToken"].as_str().unwrap().to_string();
    fx.put("g", "empty", &[(t, "late")]);
    let v = fx.ok(
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "empty", "nextToken": f}),
    );
    assert_eq!(messages(&v), ["late"]);

    fx.fail(
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "nextToken": "f/xyz"}),
        "InvalidParameterException",
    );
}

#[test]
fn unknown_group_and_stream() {
    let fx = setup();
    let t = ms(fx.now);
    let put = |g: &str, s: &str| {
        fx.fail(
            "PutLogEvents",
            json!({"logGroupName": g, "logStreamName": s, "logEvents": [{"timestamp": t, "message": "m"}]}),
            "ResourceNotFoundException",
        )
    };
    assert_eq!(put("nope", "s"), "The specified log group does not exist.");
    assert_eq!(put("g", "nope"), "The specified log stream does not exist.");
    let m = fx.fail(
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "nope"}),
        "ResourceNotFoundException",
    );
    assert_eq!(m, "The specified log stream does not exist.");
}

#[test]
fn rejected_events_are_reported_not_failed() {
    let fx = setup();
    let t = ms(fx.now);
    let r = fx.put(
        "g",
        "s",
        &[
            (t - MAX_AGE_MS - 2, "old0"),
            (t - MAX_AGE_MS - 1, "old1"),
            (t - HOUR, "ok0"),
            (t + MAX_FUTURE_MS, "ok1"),
            (t + MAX_FUTURE_MS + 1, "new0"),
        ],
    );
    assert_eq!(
        r["rejectedLogEventsInfo"],
        json!({"tooOldLogEventEndIndex": 2, "tooNewLogEventStartIndex": 4})
    );
    assert_eq!(messages(&get(&fx, json!({}))), ["ok0", "ok1"]);

    // Older than the group's retention: expired.
    fx.ok(
        "PutRetentionPolicy",
        json!({"logGroupName": "g", "retentionInDays": 1}),
    );
    let r = fx.put("g", "s", &[(t - 2 * 24 * HOUR, "expired"), (t, "fresh")]);
    assert_eq!(
        r["rejectedLogEventsInfo"],
        json!({"expiredLogEventEndIndex": 1})
    );

    // All rejected: nothing stored, still a success.
    let r = fx.put("g", "s", &[(t + 10 * HOUR, "future")]);
    assert_eq!(
        r["rejectedLogEventsInfo"],
        json!({"tooNewLogEventStartIndex": 0})
    );
    assert_eq!(messages(&get(&fx, json!({}))), ["ok0", "fresh", "ok1"]);
    assert_eq!(r["nextSequenceToken"], format!("{:056}", 4));
}

#[test]
fn batches_that_break_the_rules_fail() {
    let fx = setup();
    let t = ms(fx.now);
    let put = |events: Value| {
        fx.fail(
            "PutLogEvents",
            json!({"logGroupName": "g", "logStreamName": "s", "logEvents": events}),
            "InvalidParameterException",
        )
    };
    let m = put(json!([{"timestamp": t, "message": "b"}, {"timestamp": t - 1, "message": "a"}]));
    assert_eq!(
        m,
        "Log events in a single PutLogEvents request must be in chronological order."
    );
    let m = put(
        json!([{"timestamp": t - 25 * HOUR, "message": "a"}, {"timestamp": t, "message": "b"}]),
    );
    assert!(m.contains("cannot span more than 24 hours"), "{m}");
    let m = put(json!([]));
    assert!(m.contains("greater than or equal to 1"), "{m}");
    let m = put(json!([{"timestamp": t, "message": ""}]));
    assert!(m.contains("at 'logEvents.1.member.message'"), "{m}");
    let m = put(json!([{"timestamp": t}]));
    assert!(
        m.contains("Value null at 'logEvents.1.member.message'"),
        "{m}"
    );
    let big = "x".repeat(1_048_576 - 26);
    // Exactly the limit is fine; one byte more is not.
    fx.put("g", "s", &[(t, big.as_str())]);
    let m = put(json!([{"timestamp": t, "message": big}, {"timestamp": t, "message": "y"}]));
    assert!(m.starts_with("Upload too large"), "{m}");
    let many: Vec<Value> = (0..10_001)
        .map(|_| json!({"timestamp": t, "message": "m"}))
        .collect();
    let m = put(Value::Array(many));
    assert!(m.contains("less than or equal to 10000"), "{m}");
    fx.fail(
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [{"timestamp": "now", "message": "m"}]}),
        "SerializationException",
    );
    // A page of GetLogEvents stays within 1 MB: the big event comes alone.
    fx.put("g", "s", &[(t, "small")]);
    let v = get(&fx, json!({"startFromHead": true}));
    assert_eq!(v["events"].as_array().unwrap().len(), 1);
    fx.fail(
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s", "limit": 10_001}),
        "InvalidParameterException",
    );
}

#[test]
fn ingestion_time_never_goes_backwards() {
    let mut fx = setup();
    let t = ms(fx.now);
    fx.put("g", "s", &[(t - 10, "a")]);
    fx.now -= chrono::Duration::seconds(5);
    fx.put("g", "s", &[(t - 5, "b")]);
    let v = get(&fx, json!({}));
    assert_eq!(v["events"][1]["ingestionTime"], t);
}
