//! The service as a whole: restarts, retention, concurrency.

use std::sync::Arc;

use serde_json::json;

use crate::testutil::{Fx, ctx_at, messages, ms};
use dockyard_aws::router::JsonService;

const DAY: i64 = 86_400_000;

#[test]
fn events_and_stream_metadata_survive_a_restart() {
    let fx = Fx::new();
    fx.group("/ecs/app");
    fx.stream("/ecs/app", "web/abc");
    let t = ms(fx.now);
    fx.put(
        "/ecs/app",
        "web/abc",
        &[(t - DAY, "yesterday"), (t - DAY + 1, "y2")],
    );
    fx.put("/ecs/app", "web/abc", &[(t - 5, "today")]);
    let before = fx.ok("DescribeLogStreams", json!({"logGroupName": "/ecs/app"}));
    let groups_before = fx.ok("DescribeLogGroups", json!({}));
    let filtered_before = fx.ok("FilterLogEvents", json!({"logGroupName": "/ecs/app"}));

    let mut fx = fx.reopen();
    assert_eq!(
        fx.ok("DescribeLogStreams", json!({"logGroupName": "/ecs/app"})),
        before
    );
    assert_eq!(fx.ok("DescribeLogGroups", json!({})), groups_before);
    assert_eq!(
        fx.ok("FilterLogEvents", json!({"logGroupName": "/ecs/app"})),
        filtered_before
    );
    let v = fx.ok(
        "GetLogEvents",
        json!({"logGroupName": "/ecs/app", "logStreamName": "web/abc"}),
    );
    assert_eq!(messages(&v), ["yesterday", "y2", "today"]);

    // Sequence numbers (and so event ids) continue after the restart.
    fx.now += chrono::Duration::seconds(1);
    let r = fx.put("/ecs/app", "web/abc", &[(t, "after")]);
    assert_eq!(r["nextSequenceToken"], format!("{:056}", 5));
    let s = &fx.ok("DescribeLogStreams", json!({"logGroupName": "/ecs/app"}))["logStreams"][0];
    assert_eq!(s["lastIngestionTime"], ms(fx.now));
    assert_eq!(s["lastEventTimestamp"], t);
}

#[test]
fn retention_deletes_expired_days() {
    let fx = Fx::new();
    fx.group("g");
    fx.group("keep");
    fx.stream("g", "s");
    fx.stream("keep", "s");
    let t = ms(fx.now);
    for g in ["g", "keep"] {
        fx.put(g, "s", &[(t - 10 * DAY, "old")]);
        fx.put(g, "s", &[(t - 2 * DAY, "recent")]);
        fx.put(g, "s", &[(t, "now")]);
    }
    let bytes = |fx: &Fx| -> Vec<u64> {
        fx.ok("DescribeLogGroups", json!({}))["logGroups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["storedBytes"].as_u64().unwrap())
            .collect()
    };
    let before = bytes(&fx);
    fx.ok(
        "PutRetentionPolicy",
        json!({"logGroupName": "g", "retentionInDays": 7}),
    );
    assert_eq!(fx.svc.enforce_retention(fx.now).unwrap(), 1);
    assert_eq!(fx.svc.enforce_retention(fx.now).unwrap(), 0, "idempotent");
    let v = fx.ok(
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s"}),
    );
    assert_eq!(messages(&v), ["recent", "now"]);
    let v = fx.ok(
        "GetLogEvents",
        json!({"logGroupName": "keep", "logStreamName": "s"}),
    );
    assert_eq!(messages(&v), ["old", "recent", "now"]);
    let after = bytes(&fx);
    assert!(after[0] < before[0]);
    assert_eq!(after[1], before[1]);
    let s = &fx.ok("DescribeLogStreams", json!({"logGroupName": "g"}))["logStreams"][0];
    assert_eq!(s["firstEventTimestamp"], t - 2 * DAY);
    // Deleted for good: still gone after a restart.
    let fx = fx.reopen();
    let v = fx.ok(
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s"}),
    );
    assert_eq!(messages(&v), ["recent", "now"]);
}

#[test]
fn deleting_a_group_removes_its_files_and_orphans_are_swept_on_open() {
    let fx = Fx::new();
    fx.group("g");
    fx.stream("g", "s");
    fx.put("g", "s", &[(ms(fx.now), "m")]);
    let root = fx.dir.path().join("logs");
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 1);
    fx.ok("DeleteLogGroup", json!({"logGroupName": "g"}));
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
    // A recreated group is empty.
    fx.group("g");
    fx.stream("g", "s");
    let v = fx.ok(
        "GetLogEvents",
        json!({"logGroupName": "g", "logStreamName": "s"}),
    );
    assert_eq!(messages(&v), Vec::<String>::new());

    // Directories no stream owns (a crash between the store delete and
    // the file removal) are removed on open.
    std::fs::create_dir_all(root.join("999999/1")).unwrap();
    std::fs::write(root.join("999999/1/20240501-0-0.seg"), b"x").unwrap();
    let fx = fx.reopen();
    assert!(!root.join("999999").exists());
    fx.put("g", "s", &[(ms(fx.now), "fresh")]);
}

#[test]
fn concurrent_writers_lose_nothing() {
    let fx = Arc::new(Fx::new());
    fx.group("g");
    for s in 0..4 {
        fx.stream("g", &format!("s{s}"));
    }
    let t = ms(fx.now);
    let threads: Vec<_> = (0..8)
        .map(|w| {
            let fx = fx.clone();
            std::thread::spawn(move || {
                let stream = format!("s{}", w % 4);
                for b in 0..20 {
                    let events: Vec<serde_json::Value> = (0..5)
                        .map(|i| json!({"timestamp": t - 1000 + b, "message": format!("w{w} b{b} i{i}")}))
                        .collect();
                    fx.svc
                        .call(
                            &ctx_at(fx.now),
                            "PutLogEvents",
                            json!({"logGroupName": "g", "logStreamName": stream, "logEvents": events}),
                        )
                        .unwrap();
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    let mut all = Vec::new();
    let mut req = json!({"logGroupName": "g", "limit": 97});
    loop {
        let v = fx.ok("FilterLogEvents", req.clone());
        all.extend(v["events"].as_array().unwrap().iter().cloned());
        match v.get("nextToken") {
            Some(tk) => req["nextToken"] = tk.clone(),
            None => break,
        }
    }
    assert_eq!(all.len(), 8 * 20 * 5);
    let ids: std::collections::HashSet<&str> =
        all.iter().map(|e| e["eventId"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), all.len());
    let ts: Vec<i64> = all
        .iter()
        .map(|e| e["timestamp"].as_i64().unwrap())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]));
}
