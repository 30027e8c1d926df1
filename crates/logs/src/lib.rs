//! CloudWatch Logs for Dockyard: the JSON 1.1 API (`Logs_20140328`,
//! signing name `logs`) over durable storage of log events.
//!
//! Node agents ship containers' output through the same API users read it
//! with (`CreateLogGroup`, `CreateLogStream`, `PutLogEvents`; then
//! `GetLogEvents`, `FilterLogEvents`, `aws logs tail --follow`).
//!
//! Groups and streams are metadata in the state store (see [`state`]);
//! events are in files under the service's directory (see [`disk`]), so
//! the store's watch history never carries log lines. A `PutLogEvents`
//! reply means the events are fsynced. What `DescribeLogStreams` reports
//! about events (first and last timestamps, last ingestion, bytes) is
//! derived from the files, so it holds after a restart.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod disk;
mod error;
mod events;
mod filter;
mod groups;
mod input;
mod pattern;
mod state;
mod streams;

#[cfg(test)]
mod testutil;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use dockyard_aws::ApiError;
use dockyard_aws::router::{CallContext, JsonService};
use dockyard_store::Store;

pub use error::LogsError;

use state::State;

/// CloudWatch Logs' target prefix.
pub const TARGET_PREFIX: &str = "Logs_20140328";

/// The CloudWatch Logs JSON service.
pub struct LogsService {
    state: State,
}

impl LogsService {
    /// Opens the service over `store` with events under `dir` (which it
    /// owns: files there that no stream in the store accounts for are
    /// deleted). Recovers every stream's files, dropping any torn,
    /// unacknowledged tail a crash left.
    pub fn open(store: Arc<dyn Store>, dir: PathBuf) -> Result<LogsService, LogsError> {
        Ok(LogsService {
            state: State::load(store, dir)?,
        })
    }

    /// Deletes the events of every group with a retention policy that
    /// are older than it at `now`, a whole UTC day of a stream at a time
    /// (AWS, too, deletes expired events some time after they expire).
    /// Returns how many stream-days were deleted.
    pub fn enforce_retention(&self, now: DateTime<Utc>) -> Result<usize, LogsError> {
        let mut deleted = 0;
        for g in self.state.all_groups() {
            let Some(days) = g.meta().retention_in_days else {
                continue;
            };
            let cutoff = retention_cutoff(now.timestamp_millis(), days);
            for s in g.streams() {
                deleted += s.expire(cutoff)?;
            }
        }
        if deleted > 0 {
            tracing::info!(deleted, "log retention deleted expired stream-days");
        }
        Ok(deleted)
    }
}

/// The oldest timestamp a retention of `days` keeps at `now_ms`.
pub(crate) fn retention_cutoff(now_ms: i64, days: i32) -> i64 {
    now_ms.saturating_sub(i64::from(days).saturating_mul(disk::files::DAY_MS))
}

impl JsonService for LogsService {
    fn target_prefix(&self) -> &str {
        TARGET_PREFIX
    }

    fn signing_name(&self) -> &str {
        "logs"
    }

    fn call(&self, ctx: &CallContext, operation: &str, input: Value) -> Result<Value, ApiError> {
        match operation {
            "CreateLogGroup" => self.create_log_group(ctx, input),
            "DeleteLogGroup" => self.delete_log_group(ctx, input),
            "DescribeLogGroups" => self.describe_log_groups(ctx, input),
            "PutRetentionPolicy" => self.put_retention_policy(ctx, input),
            "DeleteRetentionPolicy" => self.delete_retention_policy(ctx, input),
            "TagResource" => self.tag_resource(ctx, input),
            "UntagResource" => self.untag_resource(ctx, input),
            "ListTagsForResource" => self.list_tags_for_resource(ctx, input),
            "TagLogGroup" => self.tag_log_group(ctx, input),
            "UntagLogGroup" => self.untag_log_group(ctx, input),
            "ListTagsLogGroup" => self.list_tags_log_group(ctx, input),
            "CreateLogStream" => self.create_log_stream(ctx, input),
            "DeleteLogStream" => self.delete_log_stream(ctx, input),
            "DescribeLogStreams" => self.describe_log_streams(ctx, input),
            "PutLogEvents" => self.put_log_events(ctx, input),
            "GetLogEvents" => self.get_log_events(ctx, input),
            "FilterLogEvents" => self.filter_log_events(ctx, input),
            other => Err(ApiError::unknown_operation(other)),
        }
    }
}

#[cfg(test)]
mod crash_tests;
#[cfg(test)]
mod events_tests;
#[cfg(test)]
mod filter_tests;
#[cfg(test)]
mod groups_tests;
#[cfg(test)]
mod service_tests;
#[cfg(test)]
mod streams_tests;
