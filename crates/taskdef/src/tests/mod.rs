//! Tests across the crate: AWS's examples round-trip, one test per rule
//! family, what registration derives, the size table, overrides.
#![allow(clippy::unwrap_used)]

mod derived;
mod examples;
mod overrides;
mod rules;
mod rules_more;
mod sizes;

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use crate::{TaskDefinition, ValidationError, validate_registration};

/// Registers `v` as revision 1 at a fixed time.
fn register(v: Value) -> TaskDefinition {
    validate_registration(&v)
        .unwrap_or_else(|e| panic!("{e} for {v}"))
        .into_definition(
            1,
            "arn:aws:ecs:us-east-1:123456789012:task-definition/f:1".into(),
            Utc.timestamp_millis_opt(1_700_000_000_123).unwrap(),
            None,
        )
}

fn err(v: Value) -> ValidationError {
    match validate_registration(&v) {
        Ok(_) => panic!("accepted: {v}"),
        Err(e) => e,
    }
}

/// The message of a `ClientException`.
fn client_err(v: Value) -> String {
    let e = err(v);
    assert_eq!(e.code, "ClientException", "{}", e.message);
    e.message
}

/// `base` with `extra`'s top-level members added or replaced.
fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

/// A definition of one container: `container` plus a name, an image and
/// 64 MiB unless it sets them.
fn one(container: Value) -> Value {
    json!({
        "family": "f",
        "containerDefinitions": [with(json!({"name": "app", "image": "busybox", "memory": 64}), container)]
    })
}

/// A Fargate definition of one container, 256 CPU units and 512 MiB.
fn fargate(container: Value) -> Value {
    json!({
        "family": "f",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [with(json!({"name": "app", "image": "busybox"}), container)]
    })
}

fn json_of(d: &TaskDefinition) -> Value {
    serde_json::to_value(d).unwrap()
}

fn attribute_names(d: &TaskDefinition) -> Vec<&str> {
    d.requires_attributes
        .iter()
        .map(|a| a.name.as_str())
        .collect()
}
