#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use dockyard_aws::{ApiError, CallContext, JsonService, Principal};
use serde_json::{Value, json};

use crate::{CloudWatchService, MetricId, MetricStore, StatSet};

const T0: i64 = 1_760_000_040; // a whole minute

fn ctx(account: &str, now: i64) -> CallContext {
    let now: DateTime<Utc> = Utc.timestamp_opt(now, 0).unwrap();
    CallContext {
        principal: Principal::root(account),
        access_key_id: "AKIAEXAMPLE".into(),
        account: account.into(),
        region: "us-east-1".into(),
        request_id: "r".into(),
        now,
    }
}

struct Fx {
    store: Arc<MetricStore>,
    svc: CloudWatchService,
}

impl Fx {
    fn new() -> Self {
        let store = Arc::new(MetricStore::new());
        Self {
            svc: CloudWatchService::new(store.clone()),
            store,
        }
    }
    fn call(&self, op: &str, input: Value) -> Result<Value, ApiError> {
        self.svc.call(&ctx("111111111111", T0 + 600), op, input)
    }
    fn ok(&self, op: &str, input: Value) -> Value {
        self.call(op, input).unwrap()
    }
    fn err(&self, op: &str, input: Value) -> ApiError {
        self.call(op, input).unwrap_err()
    }
}

fn put(fx: &Fx, data: Value) {
    fx.ok(
        "PutMetricData",
        json!({"Namespace": "App", "MetricData": data}),
    );
}

#[test]
fn statistics_per_period_from_values_sets_and_lists() {
    let fx = Fx::new();
    let dims = json!([{"Name": "Host", "Value": "a"}]);
    put(
        &fx,
        json!([
            {"MetricName": "Latency", "Dimensions": dims, "Timestamp": T0, "Value": 10.0, "Unit": "Milliseconds"},
            {"MetricName": "Latency", "Dimensions": dims, "Timestamp": T0 + 30, "Values": [20.0, 40.0], "Counts": [1.0, 2.0], "Unit": "Milliseconds"},
            {"MetricName": "Latency", "Dimensions": dims, "Timestamp": T0 + 120,
             "StatisticValues": {"SampleCount": 2.0, "Sum": 8.0, "Minimum": 3.0, "Maximum": 5.0}, "Unit": "Milliseconds"},
        ]),
    );
    let r = fx.ok(
        "GetMetricStatistics",
        json!({"Namespace": "App", "MetricName": "Latency", "Dimensions": dims,
               "StartTime": T0, "EndTime": T0 + 300, "Period": 60,
               "Statistics": ["Average", "Sum", "SampleCount", "Minimum", "Maximum"]}),
    );
    assert_eq!(r["Label"], "Latency");
    let points = r["Datapoints"].as_array().unwrap();
    assert_eq!(points.len(), 2, "{r}");
    assert_eq!(points[0]["Timestamp"], json!(T0 as f64));
    assert_eq!(points[0]["SampleCount"], json!(4.0));
    assert_eq!(points[0]["Sum"], json!(110.0));
    assert_eq!(points[0]["Average"], json!(27.5));
    assert_eq!(points[0]["Minimum"], json!(10.0));
    assert_eq!(points[0]["Maximum"], json!(40.0));
    assert_eq!(points[0]["Unit"], "Milliseconds");
    assert_eq!(points[1]["Timestamp"], json!((T0 + 120) as f64));
    assert_eq!(points[1]["Average"], json!(4.0));
    // One 5-minute period holds all of it; another unit or dimension, nothing.
    let r = fx.ok(
        "GetMetricStatistics",
        json!({"Namespace": "App", "MetricName": "Latency", "Dimensions": dims,
               "StartTime": T0, "EndTime": T0 + 300, "Period": 300, "Statistics": ["Maximum"]}),
    );
    assert_eq!(
        r["Datapoints"],
        json!([{"Timestamp": T0 as f64, "Maximum": 40.0, "Unit": "Milliseconds"}])
    );
    for extra in [
        json!({"Unit": "Seconds"}),
        json!({"Dimensions": [{"Name": "Host", "Value": "b"}]}),
    ] {
        let mut q = json!({"Namespace": "App", "MetricName": "Latency", "Dimensions": dims,
               "StartTime": T0, "EndTime": T0 + 300, "Period": 60, "Statistics": ["Sum"]});
        for (k, v) in extra.as_object().unwrap() {
            q[k] = v.clone();
        }
        assert_eq!(fx.ok("GetMetricStatistics", q)["Datapoints"], json!([]));
    }
    // GetMetricData: newest first unless asked otherwise, ReturnData false skipped.
    let r = fx.ok(
        "GetMetricData",
        json!({"StartTime": T0, "EndTime": T0 + 300, "MetricDataQueries": [
            {"Id": "lat", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Latency", "Dimensions": dims}, "Period": 60, "Stat": "Sum"}},
            {"Id": "hidden", "ReturnData": false, "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Latency"}, "Period": 60, "Stat": "Sum"}},
        ]}),
    );
    let results = r["MetricDataResults"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["Id"], "lat");
    assert_eq!(results[0]["Label"], "Latency");
    assert_eq!(
        results[0]["Timestamps"],
        json!([(T0 + 120) as f64, T0 as f64])
    );
    assert_eq!(results[0]["Values"], json!([8.0, 110.0]));
    assert_eq!(results[0]["StatusCode"], "Complete");
    // ListMetrics with filters.
    put(
        &fx,
        json!([{"MetricName": "Errors", "Value": 1.0, "Unit": "Count"}]),
    );
    let all = fx.ok("ListMetrics", json!({}))["Metrics"].clone();
    assert_eq!(all.as_array().unwrap().len(), 2);
    let by_dim = fx.ok("ListMetrics", json!({"Dimensions": [{"Name": "Host"}]}));
    assert_eq!(
        by_dim["Metrics"],
        json!([{"Namespace": "App", "MetricName": "Latency", "Dimensions": [{"Name": "Host", "Value": "a"}]}])
    );
    assert_eq!(
        fx.ok("ListMetrics", json!({"MetricName": "Nope"}))["Metrics"],
        json!([])
    );
    // Another account sees none of it.
    let other = fx
        .svc
        .call(&ctx("222222222222", T0 + 600), "ListMetrics", json!({}))
        .unwrap();
    assert_eq!(other["Metrics"], json!([]));
}

#[test]
fn platform_publishers_write_aws_namespaces_callers_cannot() {
    let fx = Fx::new();
    let id = MetricId::new(
        "AWS/ECS",
        "CPUUtilization",
        vec![("ClusterName".into(), "c".into())],
    );
    fx.store
        .put("111111111111", &id, T0, StatSet::one(12.5), "Percent", T0);
    let r = fx.ok(
        "GetMetricStatistics",
        json!({"Namespace": "AWS/ECS", "MetricName": "CPUUtilization",
               "Dimensions": [{"Name": "ClusterName", "Value": "c"}],
               "StartTime": T0 - 60, "EndTime": T0 + 60, "Period": 60, "Statistics": ["Average"]}),
    );
    assert_eq!(r["Datapoints"][0]["Average"], json!(12.5));
    let e = fx.err(
        "PutMetricData",
        json!({"Namespace": "AWS/ECS", "MetricData": [{"MetricName": "x", "Value": 1.0}]}),
    );
    assert_eq!(e.code, "InvalidParameterValueException");
    assert_eq!(
        e.message,
        "The value AWS/ECS for parameter Namespace is invalid."
    );
}

#[test]
fn bad_input_gets_cloudwatch_codes_and_stores_nothing() {
    let fx = Fx::new();
    let cases = [
        (
            "PutMetricData",
            json!({"MetricData": [{"MetricName": "x", "Value": 1.0}]}),
            "MissingRequiredParameterException",
        ),
        (
            "PutMetricData",
            json!({"Namespace": "App", "MetricData": [{"MetricName": "ok", "Value": 1.0}, {"MetricName": "x", "Value": 1.0, "StatisticValues": {"SampleCount": 1.0, "Sum": 1.0, "Minimum": 1.0, "Maximum": 1.0}}]}),
            "InvalidParameterCombinationException",
        ),
        (
            "PutMetricData",
            json!({"Namespace": "App", "MetricData": [{"MetricName": "x", "Value": 1.0, "Unit": "Parsecs"}]}),
            "InvalidParameterValueException",
        ),
        (
            "PutMetricData",
            json!({"Namespace": "App", "MetricData": [{"MetricName": "x", "Value": 1.0, "Timestamp": T0 - 30 * 86400}]}),
            "InvalidParameterValueException",
        ),
        (
            "PutMetricData",
            json!({"Namespace": "App", "MetricData": [{"MetricName": "x", "Values": [1.0, 2.0], "Counts": [1.0]}]}),
            "InvalidParameterCombinationException",
        ),
        (
            "PutMetricData",
            json!({"Namespace": "App", "MetricData": [{"MetricName": "x"}]}),
            "MissingRequiredParameterException",
        ),
        (
            "PutMetricData",
            json!({"Namespace": "App", "MetricData": "x"}),
            "SerializationException",
        ),
        (
            "GetMetricStatistics",
            json!({"Namespace": "App", "MetricName": "x", "StartTime": T0, "EndTime": T0 + 60, "Period": 60}),
            "InvalidParameterCombinationException",
        ),
        (
            "GetMetricStatistics",
            json!({"Namespace": "App", "MetricName": "x", "StartTime": T0, "EndTime": T0 + 60, "Period": 45, "Statistics": ["Sum"]}),
            "InvalidParameterValueException",
        ),
        (
            "GetMetricStatistics",
            json!({"Namespace": "App", "MetricName": "x", "StartTime": T0, "EndTime": T0 + 86400 * 2, "Period": 60, "Statistics": ["Sum"]}),
            "InvalidParameterCombinationException",
        ),
        (
            "GetMetricStatistics",
            json!({"Namespace": "App", "MetricName": "x", "StartTime": T0 + 60, "EndTime": T0, "Period": 60, "Statistics": ["Sum"]}),
            "InvalidParameterValueException",
        ),
        (
            "GetMetricStatistics",
            json!({"Namespace": "App", "MetricName": "x", "StartTime": T0, "EndTime": T0 + 60, "Period": 60, "Statistics": ["p99"]}),
            "InvalidParameterValueException",
        ),
        (
            "GetMetricData",
            json!({"StartTime": T0, "EndTime": T0 + 60, "MetricDataQueries": [{"Id": "Bad", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "x"}, "Period": 60, "Stat": "Sum"}}]}),
            "ValidationError",
        ),
        (
            "GetMetricData",
            json!({"StartTime": T0, "EndTime": T0 + 60, "MetricDataQueries": [{"Id": "m", "Expression": "SUM(METRICS())"}]}),
            "ValidationError",
        ),
        (
            "GetMetricData",
            json!({"StartTime": T0, "EndTime": T0 + 60, "NextToken": "x", "MetricDataQueries": [{"Id": "m", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "x"}, "Period": 60, "Stat": "Sum"}}]}),
            "InvalidNextToken",
        ),
        (
            "ListMetrics",
            json!({"RecentlyActive": "PT1H"}),
            "InvalidParameterValueException",
        ),
        ("DeleteEverything", json!({}), "UnknownOperationException"),
    ];
    for (op, input, code) in cases {
        let e = fx.err(op, input.clone());
        assert_eq!(e.code, code, "{op} {input}: {e}");
        assert_eq!(e.status, 400);
    }
    // The valid first datum of a refused call was not stored either.
    assert!(fx.store.list("111111111111", None, |_| true).is_empty());
    assert_eq!(
        fx.svc
            .query_error_code("MissingRequiredParameterException")
            .as_deref(),
        Some("MissingParameter")
    );
}
