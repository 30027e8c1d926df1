//! Log stream operations: create, delete, describe.

use std::cmp::Ordering;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use dockyard_aws::ApiError;
use dockyard_aws::router::CallContext;

use crate::LogsService;
use crate::disk::FileStats;
use crate::error::{
    bad_token, constraint, group_not_found, invalid, stream_exists, stream_not_found,
};
use crate::input::{
    self, decode, decode_token, encode_token, group_identifier, group_name, required, stream_arn,
    stream_name,
};
use crate::state::{Outcome, Stream};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamInput {
    log_group_name: Option<String>,
    log_stream_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeInput {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name_prefix: Option<String>,
    order_by: Option<String>,
    #[serde(default)]
    descending: bool,
    next_token: Option<String>,
    limit: Option<i64>,
}

/// The sequence token AWS would show for a stream whose next event gets
/// `next_seq`: ignored on input nowadays, but still reported.
pub(crate) fn sequence_token(next_seq: u64) -> String {
    format!("{next_seq:056}")
}

impl LogsService {
    pub(crate) fn create_log_stream(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: StreamInput = decode(input)?;
        let group = required("logGroupName", i.log_group_name)?;
        group_name("logGroupName", &group)?;
        let name = required("logStreamName", i.log_stream_name)?;
        stream_name("logStreamName", &name)?;
        let g = self.existing_group(ctx, &group)?;
        match self
            .state
            .create_stream(&g, &name, ctx.now.timestamp_millis())?
        {
            Outcome::Done(true) => Ok(json!({})),
            Outcome::Done(false) => Err(stream_exists()),
            Outcome::Gone => Err(group_not_found()),
        }
    }

    pub(crate) fn delete_log_stream(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: StreamInput = decode(input)?;
        let group = required("logGroupName", i.log_group_name)?;
        group_name("logGroupName", &group)?;
        let name = required("logStreamName", i.log_stream_name)?;
        stream_name("logStreamName", &name)?;
        let g = self.existing_group(ctx, &group)?;
        if !self.state.delete_stream(&g, &name)? {
            return Err(stream_not_found());
        }
        Ok(json!({}))
    }

    pub(crate) fn describe_log_streams(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: DescribeInput = decode(input)?;
        let group = group_identifier(ctx, i.log_group_name, i.log_group_identifier)?;
        if let Some(p) = &i.log_stream_name_prefix {
            stream_name("logStreamNamePrefix", p)?;
        }
        let by_time = match i.order_by.as_deref() {
            None | Some("LogStreamName") => false,
            Some("LastEventTime") => true,
            Some(other) => {
                return Err(constraint(
                    "orderBy",
                    other,
                    "Member must satisfy enum value set: [LogStreamName, LastEventTime]",
                ));
            }
        };
        if by_time && i.log_stream_name_prefix.is_some() {
            return Err(invalid(
                "Cannot order by LastEventTime with a logStreamNamePrefix.",
            ));
        }
        let limit = input::limit("limit", i.limit, 50, 50)?;
        let after = decode_token(i.next_token.as_deref())?
            .map(|t| SortKey::parse(&t, by_time).ok_or_else(bad_token))
            .transpose()?;
        let g = self.existing_group(ctx, &group)?;
        let mut items: Vec<(SortKey, Arc<Stream>, FileStats)> = g
            .streams()
            .into_iter()
            .filter(|s| {
                i.log_stream_name_prefix
                    .as_ref()
                    .is_none_or(|p| s.name.starts_with(p.as_str()))
            })
            .map(|s| {
                let stats = s.stats();
                let key = SortKey {
                    time: by_time.then(|| stats.last_ts.unwrap_or(0)),
                    name: s.name.clone(),
                };
                (key, s, stats)
            })
            .collect();
        let order = |a: &SortKey, b: &SortKey| {
            let o = a.cmp(b);
            if i.descending { o.reverse() } else { o }
        };
        items.sort_by(|a, b| order(&a.0, &b.0));
        let mut page: Vec<_> = items
            .into_iter()
            .filter(|(k, _, _)| {
                after
                    .as_ref()
                    .is_none_or(|a| order(k, a) == Ordering::Greater)
            })
            .take(limit + 1)
            .collect();
        let more = page.len() > limit;
        page.truncate(limit);
        let mut out = Map::new();
        out.insert(
            "logStreams".into(),
            Value::Array(
                page.iter()
                    .map(|(_, s, st)| render_stream(ctx, &g.name, s, st))
                    .collect(),
            ),
        );
        if more && let Some((k, _, _)) = page.last() {
            out.insert("nextToken".into(), Value::String(encode_token(&k.encode())));
        }
        Ok(Value::Object(out))
    }
}

/// Where a stream sorts in `DescribeLogStreams`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SortKey {
    time: Option<i64>,
    name: String,
}

impl SortKey {
    fn encode(&self) -> String {
        match self.time {
            Some(t) => format!("{t}:{}", self.name),
            None => format!(":{}", self.name),
        }
    }

    fn parse(s: &str, by_time: bool) -> Option<SortKey> {
        let (t, name) = s.split_once(':')?;
        let time = match (by_time, t) {
            (false, "") => None,
            (true, t) => Some(t.parse().ok()?),
            _ => return None,
        };
        Some(SortKey {
            time,
            name: name.to_string(),
        })
    }
}

/// The `LogStream` shape.
fn render_stream(ctx: &CallContext, group: &str, s: &Stream, st: &FileStats) -> Value {
    let mut v = json!({
        "logStreamName": s.name,
        "creationTime": s.creation_time,
        "arn": stream_arn(ctx, group, &s.name),
        "storedBytes": st.bytes,
        "uploadSequenceToken": sequence_token(st.next_seq),
    });
    if let Some(t) = st.first_ts {
        v["firstEventTimestamp"] = json!(t);
    }
    if let Some(t) = st.last_ts {
        v["lastEventTimestamp"] = json!(t);
    }
    if let Some(t) = st.last_ingest {
        v["lastIngestionTime"] = json!(t);
    }
    v
}
