//! The `awslogs` log driver: a container's stdout and stderr lines, read
//! from the log file its shim writes, sent to CloudWatch Logs with their
//! own timestamps, to the group and stream its logConfiguration names.

use serde_json::{Value, json};

use dockyard_agentproto::DesiredTask;
use dockyard_taskdef::ContainerDefinition;

use crate::Shared;

/// PutLogEvents' limits: 10,000 events and 1 MiB (26 bytes of overhead
/// each) per call.
const MAX_EVENTS: usize = 10_000;
const MAX_BATCH_BYTES: usize = 1_048_576;

/// Where a container's logs go, when its driver is `awslogs`.
pub(crate) struct Destination {
    pub group: String,
    pub stream: String,
    pub create_group: bool,
}

pub(crate) fn destination(task: &DesiredTask, c: &ContainerDefinition) -> Option<Destination> {
    let lc = c.log_configuration.as_ref()?;
    if lc.log_driver != "awslogs" {
        return None;
    }
    let opt = |k: &str| lc.options.as_ref().and_then(|o| o.get(k)).cloned();
    let group = opt("awslogs-group")?;
    let stream = match opt("awslogs-stream-prefix") {
        Some(p) => format!("{p}/{}/{}", c.name, task.task_id),
        None => format!("{}/{}", c.name, task.task_id),
    };
    Some(Destination {
        group,
        stream,
        create_group: opt("awslogs-create-group").is_some_and(|v| v == "true"),
    })
}

fn call(shared: &Shared, op: &str, input: Value) -> Result<Value, crate::ClientError> {
    shared.rt.block_on(
        shared
            .client
            .json("logs", &format!("Logs_20140328.{op}"), &input),
    )
}

fn already_exists(e: &crate::ClientError) -> bool {
    matches!(e, crate::ClientError::Api { code, .. } if code == "ResourceAlreadyExistsException")
}

/// Creates the stream (and the group, when asked) once.
pub(crate) fn prepare(shared: &Shared, d: &Destination) -> Result<(), String> {
    if d.create_group {
        match call(shared, "CreateLogGroup", json!({"logGroupName": d.group})) {
            Ok(_) => {}
            Err(e) if already_exists(&e) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    match call(
        shared,
        "CreateLogStream",
        json!({"logGroupName": d.group, "logStreamName": d.stream}),
    ) {
        Ok(_) => Ok(()),
        Err(e) if already_exists(&e) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// Sends what the log file holds past `offset`; returns the new offset.
/// Lines are sent without their newline, as the awslogs driver does.
pub(crate) fn ship(
    shared: &Shared,
    d: &Destination,
    runtime_id: &str,
    offset: u64,
) -> Result<u64, String> {
    let path = shared
        .engine
        .log_path(runtime_id)
        .map_err(|e| e.to_string())?;
    let (entries, next) =
        dockyard_runtime::logs::read_from(&path, offset).map_err(|e| e.to_string())?;
    if entries.is_empty() {
        return Ok(next);
    }
    let mut events: Vec<Value> = Vec::new();
    let mut bytes = 0;
    let flush = |events: &mut Vec<Value>| -> Result<(), String> {
        if events.is_empty() {
            return Ok(());
        }
        call(
            shared,
            "PutLogEvents",
            json!({"logGroupName": d.group, "logStreamName": d.stream, "logEvents": events}),
        )
        .map_err(|e| e.to_string())?;
        events.clear();
        Ok(())
    };
    for e in entries {
        let ts = chrono::DateTime::parse_from_rfc3339(&e.time)
            .map(|t| t.timestamp_millis())
            .unwrap_or_else(|_| chrono::Utc::now().timestamp_millis());
        let msg = e.log.strip_suffix('\n').unwrap_or(&e.log).to_string();
        let size = msg.len() + 26;
        if events.len() == MAX_EVENTS || bytes + size > MAX_BATCH_BYTES {
            flush(&mut events)?;
            bytes = 0;
        }
        bytes += size;
        events.push(json!({"timestamp": ts, "message": msg}));
    }
    flush(&mut events)?;
    Ok(next)
}
