//! Fixtures for the unit tests: a service over a [`MemStore`] and a
//! temporary directory, called the way the front door calls it.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use dockyard_aws::router::{CallContext, JsonService};
use dockyard_aws::{ApiError, Principal};
use dockyard_store::MemStore;

use crate::LogsService;

pub(crate) const ACCOUNT: &str = "000000000000";

/// A fixed "now" for tests: 2024-05-01T12:00:00Z.
pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).single().unwrap()
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn ctx_at(now: DateTime<Utc>) -> CallContext {
    CallContext {
        principal: Principal::root(ACCOUNT),
        access_key_id: "AKIAEXAMPLE".into(),
        account: ACCOUNT.into(),
        region: "us-east-1".into(),
        request_id: "r".into(),
        now,
    }
}

pub(crate) struct Fx {
    pub svc: LogsService,
    pub store: Arc<MemStore>,
    pub now: DateTime<Utc>,
    pub dir: tempfile::TempDir,
}

impl Fx {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MemStore::new());
        let svc = LogsService::open(store.clone(), dir.path().join("logs")).unwrap();
        Self {
            svc,
            store,
            now: t0(),
            dir,
        }
    }

    /// The service reopened over the same store and directory, as after
    /// a restart.
    pub fn reopen(self) -> Self {
        let Fx {
            svc,
            store,
            now,
            dir,
        } = self;
        drop(svc);
        let svc = LogsService::open(store.clone(), dir.path().join("logs")).unwrap();
        Self {
            svc,
            store,
            now,
            dir,
        }
    }

    pub fn call(&self, op: &str, input: Value) -> Result<Value, ApiError> {
        self.svc.call(&ctx_at(self.now), op, input)
    }

    pub fn ok(&self, op: &str, input: Value) -> Value {
        match self.call(op, input) {
            Ok(v) => v,
            Err(e) => panic!("{op} failed: {} {}", e.code, e.message),
        }
    }

    /// Calls `op`, expecting it to fail with `code`; returns the message.
    pub fn fail(&self, op: &str, input: Value, code: &str) -> String {
        match self.call(op, input) {
            Ok(v) => panic!("{op} succeeded with {v}, expected {code}"),
            Err(e) => {
                assert_eq!(e.code, code, "{op}: {}", e.message);
                e.message
            }
        }
    }

    pub fn group(&self, name: &str) {
        self.ok("CreateLogGroup", json!({"logGroupName": name}));
    }

    pub fn stream(&self, group: &str, name: &str) {
        self.ok(
            "CreateLogStream",
            json!({"logGroupName": group, "logStreamName": name}),
        );
    }

    /// Puts `(timestamp, message)` events; returns the reply.
    pub fn put(&self, group: &str, stream: &str, events: &[(i64, &str)]) -> Value {
        let events: Vec<Value> = events
            .iter()
            .map(|(t, m)| json!({"timestamp": t, "message": m}))
            .collect();
        self.ok(
            "PutLogEvents",
            json!({"logGroupName": group, "logStreamName": stream, "logEvents": events}),
        )
    }
}

/// The messages of a reply's `events`.
pub(crate) fn messages(v: &Value) -> Vec<String> {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}
