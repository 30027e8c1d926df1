//! `FilterLogEvents` through `call()`, including the way
//! `aws logs tail --follow` polls it.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};

use crate::testutil::{Fx, messages, ms};

fn filter(fx: &Fx, extra: Value) -> Value {
    let mut req = json!({"logGroupName": "g"});
    for (k, v) in extra.as_object().unwrap() {
        req[k] = v.clone();
    }
    fx.ok("FilterLogEvents", req)
}

/// Three streams with interleaved timestamps.
fn setup() -> (Fx, i64) {
    let fx = Fx::new();
    fx.group("g");
    let t = ms(fx.now) - 60_000;
    for s in ["web-1", "web-2", "db"] {
        fx.stream("g", s);
    }
    fx.put(
        "g",
        "web-1",
        &[
            (t, "w1 GET /a 200"),
            (t + 20, "w1 GET /b 500 ERROR timeout"),
        ],
    );
    fx.put(
        "g",
        "web-2",
        &[(t + 10, "w2 GET /c 200"), (t + 20, "w2 POST /d 404 WARN")],
    );
    fx.put(
        "g",
        "db",
        &[(t + 5, "db ready"), (t + 30, "db ERROR disk full")],
    );
    (fx, t)
}

#[test]
fn interleaves_streams_by_time() {
    let (fx, t) = setup();
    let v = filter(&fx, json!({}));
    assert_eq!(
        messages(&v),
        [
            "w1 GET /a 200",
            "db ready",
            "w2 GET /c 200",
            // Equal timestamps: in stream creation order.
            "w1 GET /b 500 ERROR timeout",
            "w2 POST /d 404 WARN",
            "db ERROR disk full",
        ]
    );
    assert_eq!(v["searchedLogStreams"], json!([]));
    assert!(v.get("nextToken").is_none());
    let e = &v["events"][1];
    assert_eq!(e["logStreamName"], "db");
    assert_eq!(e["timestamp"], t + 5);
    assert_eq!(e["ingestionTime"], ms(fx.now));
    assert_eq!(e["eventId"].as_str().unwrap().len(), 56);
    let ids: HashSet<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 6);
    // The same event keeps its id.
    assert_eq!(filter(&fx, json!({}))["events"][1]["eventId"], e["eventId"]);

    // startTime and endTime are both inclusive.
    let v = filter(&fx, json!({"startTime": t + 10, "endTime": t + 20}));
    assert_eq!(messages(&v).len(), 3);
    let v = filter(&fx, json!({"logStreamNames": ["db", "missing"]}));
    assert_eq!(messages(&v), ["db ready", "db ERROR disk full"]);
    let v = filter(&fx, json!({"logStreamNamePrefix": "web-"}));
    assert_eq!(messages(&v).len(), 4);
    fx.fail(
        "FilterLogEvents",
        json!({"logGroupName": "g", "logStreamNames": ["db"], "logStreamNamePrefix": "w"}),
        "InvalidParameterException",
    );
    fx.fail(
        "FilterLogEvents",
        json!({"logGroupName": "nope"}),
        "ResourceNotFoundException",
    );
    let v = fx.ok(
        "FilterLogEvents",
        json!({"logGroupIdentifier": "arn:aws:logs:us-east-1:000000000000:log-group:g:*"}),
    );
    assert_eq!(messages(&v).len(), 6);
}

#[test]
fn filter_patterns() {
    let (fx, _) = setup();
    let m = |p: &str| messages(&filter(&fx, json!({"filterPattern": p})));
    assert_eq!(
        m("ERROR"),
        ["w1 GET /b 500 ERROR timeout", "db ERROR disk full"]
    );
    assert_eq!(m("ERROR -timeout"), ["db ERROR disk full"]);
    assert_eq!(m("GET 200"), ["w1 GET /a 200", "w2 GET /c 200"]);
    assert_eq!(
        m("?WARN ?timeout"),
        ["w1 GET /b 500 ERROR timeout", "w2 POST /d 404 WARN"]
    );
    assert_eq!(m("\"disk full\""), ["db ERROR disk full"]);
    assert_eq!(m("%/[ab] %%"), Vec::<String>::new());
    assert_eq!(
        m("%GET /[ab]%"),
        ["w1 GET /a 200", "w1 GET /b 500 ERROR timeout"]
    );
    assert_eq!(m("").len(), 6);
    let msg = fx.fail(
        "FilterLogEvents",
        json!({"logGroupName": "g", "filterPattern": "{ $.level = \"error\" }"}),
        "InvalidParameterException",
    );
    assert!(msg.contains("not supported"), "{msg}");
}

#[test]
fn pages_with_next_token() {
    let (fx, _) = setup();
    let all = messages(&filter(&fx, json!({})));
    for limit in 1..=4 {
        let mut seen = Vec::new();
        let mut req = json!({"limit": limit});
        loop {
            let v = filter(&fx, req.clone());
            let page = messages(&v);
            assert!(page.len() <= limit);
            seen.extend(page);
            match v.get("nextToken") {
                Some(t) => req["nextToken"] = t.clone(),
                None => break,
            }
        }
        assert_eq!(seen, all, "limit {limit}");
    }
    // Paging a filtered search.
    let v = filter(&fx, json!({"filterPattern": "ERROR", "limit": 1}));
    assert_eq!(messages(&v), ["w1 GET /b 500 ERROR timeout"]);
    let v = filter(
        &fx,
        json!({"filterPattern": "ERROR", "limit": 1, "nextToken": v["nextToken"]}),
    );
    assert_eq!(messages(&v), ["db ERROR disk full"]);
    fx.fail(
        "FilterLogEvents",
        json!({"logGroupName": "g", "nextToken": "junk"}),
        "InvalidParameterException",
    );
}

/// What `aws logs tail --follow` does: page through FilterLogEvents;
/// when there is no nextToken, poll again from the newest timestamp seen,
/// skipping event ids already seen at that timestamp.
struct Tail {
    kwargs: Value,
    seen_at: BTreeMap<i64, HashSet<String>>,
}

impl Tail {
    fn poll(&mut self, fx: &Fx) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let v = fx.ok("FilterLogEvents", self.kwargs.clone());
            for e in v["events"].as_array().unwrap() {
                let ts = e["timestamp"].as_i64().unwrap();
                let id = e["eventId"].as_str().unwrap().to_string();
                if self.seen_at.entry(ts).or_default().insert(id) {
                    out.push(e["message"].as_str().unwrap().to_string());
                }
            }
            if let Some(newest) = self.seen_at.keys().next_back().copied() {
                let keep = self.seen_at.remove(&newest).unwrap_or_default();
                self.seen_at = BTreeMap::from([(newest, keep)]);
            }
            match v.get("nextToken") {
                Some(t) => self.kwargs["nextToken"] = t.clone(),
                None => {
                    if let Some(newest) = self.seen_at.keys().next_back() {
                        self.kwargs["startTime"] = json!(newest);
                    }
                    self.kwargs.as_object_mut().unwrap().remove("nextToken");
                    return out;
                }
            }
        }
    }
}

#[test]
fn tail_follow_sees_every_event_once() {
    let (fx, t) = setup();
    let mut tail = Tail {
        kwargs: json!({"logGroupName": "g", "startTime": t - 1000, "limit": 2}),
        seen_at: BTreeMap::new(),
    };
    assert_eq!(tail.poll(&fx).len(), 6);
    assert!(tail.poll(&fx).is_empty(), "nothing new");
    // New events, some at the newest timestamp already seen.
    fx.put(
        "g",
        "web-2",
        &[(t + 30, "w2 same-ms"), (t + 40, "w2 later")],
    );
    fx.put("g", "web-1", &[(t + 35, "w1 between")]);
    assert_eq!(tail.poll(&fx), ["w2 same-ms", "w1 between", "w2 later"]);
    fx.stream("g", "new");
    fx.put("g", "new", &[(t + 40, "new same-ms"), (t + 41, "new last")]);
    assert_eq!(tail.poll(&fx), ["new same-ms", "new last"]);
    assert!(tail.poll(&fx).is_empty());
}
