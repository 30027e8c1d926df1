//! CloudWatch over the Query protocol (form-encoded requests, XML replies),
//! which older SDKs and CLIs use (the AWS CLI 2.9 that Debian ships): the
//! parameters become the JSON input the operations take, and their output
//! is written back as XML.
//!
//! The Query form flattens structures (`MetricStat.Metric.Namespace`) and
//! lists (`MetricData.member.1.Value`) and writes every value as text; the
//! members that are numbers, timestamps (ISO 8601) or booleans are named
//! here, from CloudWatch's model.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use dockyard_aws::query::{QueryParams, XmlWriter};
use dockyard_aws::{ApiError, CallContext, JsonService, QueryService};
use serde_json::{Map, Number, Value};

use crate::CloudWatchService;

const NUMBERS: &[&str] = &[
    "Value",
    "Values",
    "Counts",
    "Period",
    "SampleCount",
    "Sum",
    "Minimum",
    "Maximum",
    "StorageResolution",
    "MaxDatapoints",
];
const TIMESTAMPS: &[&str] = &["Timestamp", "Timestamps", "StartTime", "EndTime"];
const BOOLEANS: &[&str] = &["ReturnData"];

fn invalid(message: String) -> ApiError {
    ApiError::client("InvalidParameterValue", message)
}

/// One parameter's value in the JSON type its member has.
fn typed(member: &str, key: &str, text: &str) -> Result<Value, ApiError> {
    // A dimension's `Name` and `Value` are text, whatever else shares
    // those names.
    let in_dimension = key.starts_with("Dimensions.") || key.contains(".Dimensions.");
    if NUMBERS.contains(&member) && !in_dimension {
        // Integers stay integers (Period, MaxDatapoints); a double member
        // takes either.
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Value::from(i));
        }
        let n: f64 = text.parse().map_err(|_| {
            invalid(format!(
                "The value {text} for parameter {key} is not a number."
            ))
        })?;
        return Number::from_f64(n)
            .map(Value::Number)
            .ok_or_else(|| invalid(format!("The value {text} for parameter {key} is invalid.")));
    }
    if TIMESTAMPS.contains(&member) {
        let t = DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .or_else(|_| text.parse::<f64>().map(seconds))
            .map_err(|_| {
                invalid(format!(
                    "The value {text} for parameter {key} is not a time."
                ))
            })?;
        let secs = t.timestamp() as f64 + f64::from(t.timestamp_subsec_millis()) / 1000.0;
        return Ok(Value::from(secs));
    }
    if BOOLEANS.contains(&member) {
        return match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(invalid(format!(
                "The value {text} for parameter {key} is not a boolean."
            ))),
        };
    }
    Ok(Value::String(text.to_string()))
}

fn seconds(s: f64) -> DateTime<Utc> {
    Utc.timestamp_opt(s.floor() as i64, 0)
        .single()
        .unwrap_or_default()
}

/// A tree of the flattened parameters: a key path to each text value.
#[derive(Default)]
struct Node {
    text: Option<(String, String)>,
    children: BTreeMap<String, Node>,
}

fn to_json(node: &Node, member: &str) -> Result<Value, ApiError> {
    if let Some((key, text)) = &node.text {
        return typed(member, key, text);
    }
    // A list: `member.N` children, in N order.
    if let Some(items) = node.children.get("member") {
        let mut indexed: Vec<(u32, &Node)> = items
            .children
            .iter()
            .filter_map(|(n, v)| Some((n.parse().ok()?, v)))
            .collect();
        indexed.sort_by_key(|(n, _)| *n);
        return indexed
            .into_iter()
            .map(|(_, v)| to_json(v, member))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    let mut m = Map::new();
    for (name, child) in &node.children {
        m.insert(name.clone(), to_json(child, name)?);
    }
    Ok(Value::Object(m))
}

/// The operation's input as the JSON protocol would carry it.
pub(crate) fn input(params: &QueryParams) -> Result<Value, ApiError> {
    let mut root = Node::default();
    for (key, text) in params.iter() {
        if key == "Action" || key == "Version" {
            continue;
        }
        let mut node = &mut root;
        for part in key.split('.') {
            node = node.children.entry(part.to_string()).or_default();
        }
        node.text = Some((key.to_string(), text.to_string()));
    }
    to_json(&root, "")
}

fn iso(secs: f64) -> String {
    let millis = (secs * 1000.0).round() as i64;
    Utc.timestamp_millis_opt(millis)
        .single()
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Writes a JSON output value as the Query protocol's XML.
pub(crate) fn write(w: &mut XmlWriter, name: &str, v: &Value) {
    match v {
        Value::Null => {}
        Value::Object(m) => {
            w.nested(name, |w| {
                for (k, v) in m {
                    write(w, k, v);
                }
            });
        }
        Value::Array(items) => {
            w.nested(name, |w| {
                for i in items {
                    write(w, "member", &member_of(name, i));
                }
            });
        }
        Value::Number(n) if TIMESTAMPS.contains(&name) => {
            w.element(name, &iso(n.as_f64().unwrap_or(0.0)));
        }
        Value::Number(n) => {
            w.element(name, &n.to_string());
        }
        Value::Bool(b) => {
            w.element(name, if *b { "true" } else { "false" });
        }
        Value::String(s) => {
            w.element(name, s);
        }
    }
}

/// A list item keeps its list's type: the members of `Timestamps` are
/// timestamps.
fn member_of(list: &str, item: &Value) -> Value {
    match (list, item) {
        ("Timestamps", Value::Number(n)) => Value::String(iso(n.as_f64().unwrap_or(0.0))),
        _ => item.clone(),
    }
}

impl QueryService for CloudWatchService {
    fn signing_name(&self) -> &str {
        "monitoring"
    }

    fn version(&self) -> &str {
        "2010-08-01"
    }

    fn xmlns(&self) -> &str {
        "http://monitoring.amazonaws.com/doc/2010-08-01/"
    }

    fn call(
        &self,
        ctx: &CallContext,
        action: &str,
        params: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ApiError> {
        let query_code = |e: ApiError| ApiError {
            code: self.query_error_code(&e.code).unwrap_or(e.code),
            ..e
        };
        let input = input(params).map_err(query_code)?;
        let output = JsonService::call(self, ctx, action, input).map_err(|e| {
            if e.code == "UnknownOperationException" {
                ApiError::client(
                    "InvalidAction",
                    format!("Could not find operation {action} for version 2010-08-01"),
                )
            } else {
                query_code(e)
            }
        })?;
        if let Value::Object(m) = &output {
            for (k, v) in m {
                write(out, k, v);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn flattened_parameters_become_the_json_input() {
        let p = QueryParams::from_pairs([
            ("Action", "PutMetricData"),
            ("Namespace", "App"),
            ("MetricData.member.1.MetricName", "Latency"),
            ("MetricData.member.1.Value", "1.5"),
            ("MetricData.member.1.Timestamp", "2026-12-06T10:00:00.000Z"),
            ("MetricData.member.1.Dimensions.member.1.Name", "Host"),
            ("MetricData.member.1.Dimensions.member.1.Value", "a"),
            ("MetricData.member.2.MetricName", "Errors"),
            ("MetricData.member.2.Values.member.2", "3"),
            ("MetricData.member.2.Values.member.1", "1"),
            ("MetricDataQueries.member.1.ReturnData", "false"),
        ]);
        assert_eq!(
            input(&p).unwrap(),
            json!({"Namespace": "App", "MetricData": [
                {"MetricName": "Latency", "Value": 1.5, "Timestamp": 1_796_551_200.0,
                 "Dimensions": [{"Name": "Host", "Value": "a"}]},
                {"MetricName": "Errors", "Values": [1, 3]}],
                "MetricDataQueries": [{"ReturnData": false}]})
        );
        let bad = QueryParams::from_pairs([("MetricData.member.1.Value", "x")]);
        assert_eq!(input(&bad).unwrap_err().code, "InvalidParameterValue");
    }

    #[test]
    fn output_is_written_as_query_xml() {
        let mut w = XmlWriter::new();
        let out = json!({"Label": "L", "Datapoints": [{"Timestamp": 1_796_551_200.0, "Sum": 2.5}],
                         "Timestamps": [1_796_551_260.0]});
        for (k, v) in out.as_object().unwrap() {
            write(&mut w, k, v);
        }
        assert_eq!(
            w.finish(),
            "<Datapoints><member><Sum>2.5</Sum><Timestamp>2026-12-06T10:00:00.000Z</Timestamp></member></Datapoints>\
             <Label>L</Label><Timestamps><member>2026-12-06T10:01:00.000Z</member></Timestamps>"
        );
    }
}
