//! Acknowledged events survive the writer being killed with SIGKILL.
//!
//! The test runs itself again as a child process (selected by an
//! environment variable) that writes batches over a `RedbStore` and
//! prints each acknowledged batch; the parent kills it mid-stream with
//! SIGKILL, reopens store and files, and looks for every acknowledged
//! event.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use serde_json::json;

use dockyard_aws::router::JsonService;
use dockyard_store::RedbStore;

use crate::LogsService;
use crate::testutil::{ctx_at, t0};

const CHILD_ENV: &str = "DOCKYARD_LOGS_CRASH_CHILD";
const TEST_NAME: &str = "crash_tests::acknowledged_events_survive_kill_9";
const BATCH: usize = 20;

fn open(dir: &Path) -> LogsService {
    let store = Arc::new(RedbStore::open(&dir.join("state.redb")).unwrap());
    LogsService::open(store, dir.join("logs")).unwrap()
}

/// The child: writes until killed (or a bound, so it always ends).
fn child(dir: &Path) {
    let svc = open(dir);
    let ctx = ctx_at(t0());
    svc.call(&ctx, "CreateLogGroup", json!({"logGroupName": "g"}))
        .unwrap();
    for s in ["a", "b"] {
        svc.call(
            &ctx,
            "CreateLogStream",
            json!({"logGroupName": "g", "logStreamName": s}),
        )
        .unwrap();
    }
    let t = t0().timestamp_millis();
    for b in 0..100_000 {
        let events: Vec<_> = (0..BATCH)
            .map(|i| json!({"timestamp": t - 100_000 + b as i64, "message": format!("b{b} e{i} {}", "x".repeat(b % 300))}))
            .collect();
        let stream = if b % 2 == 0 { "a" } else { "b" };
        svc.call(
            &ctx,
            "PutLogEvents",
            json!({"logGroupName": "g", "logStreamName": stream, "logEvents": events}),
        )
        .unwrap();
        println!("acked {b}");
    }
}

/// Kills the child if the test fails before it does.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn acknowledged_events_survive_kill_9() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(Path::new(&dir));
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut reaper = Reaper(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, tmp.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let out = reaper.0.stdout.take().unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(out).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("acked ") {
            acked.push(n.parse::<usize>().unwrap());
            if acked.len() == 300 {
                // `Child::kill` sends SIGKILL.
                reaper.0.kill().unwrap();
                break;
            }
        }
    }
    reaper.0.wait().unwrap();
    assert_eq!(acked.len(), 300, "the child stopped early");

    let svc = open(tmp.path());
    let ctx = ctx_at(t0());
    let mut found = HashSet::new();
    let mut req = json!({"logGroupName": "g"});
    loop {
        let v = svc.call(&ctx, "FilterLogEvents", req.clone()).unwrap();
        for e in v["events"].as_array().unwrap() {
            let m = e["message"].as_str().unwrap();
            let mut words = m.split(' ');
            let (b, i) = (words.next().unwrap(), words.next().unwrap());
            assert!(found.insert(format!("{b} {i}")), "duplicate {b} {i}");
        }
        match v.get("nextToken") {
            Some(t) => req["nextToken"] = t.clone(),
            None => break,
        }
    }
    for b in acked {
        for i in 0..BATCH {
            assert!(found.contains(&format!("b{b} e{i}")), "lost b{b} e{i}");
        }
    }
    // And the streams still take writes.
    let r = svc.call(
        &ctx,
        "PutLogEvents",
        json!({"logGroupName": "g", "logStreamName": "a", "logEvents": [{"timestamp": t0().timestamp_millis(), "message": "after"}]}),
    );
    assert!(r.is_ok());
}
