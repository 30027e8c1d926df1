//! Writing events (`PutLogEvents`) and reading one stream
//! (`GetLogEvents`).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use dockyard_aws::ApiError;
use dockyard_aws::router::CallContext;

use crate::disk::{EVENT_OVERHEAD, Event, Key, PageLimit, read_backward, read_forward};
use crate::error::{bad_token, constraint, invalid, stream_not_found};
use crate::input::{self, decode, group_identifier, group_name, required, stream_name};
use crate::state::Outcome;
use crate::streams::sequence_token;
use crate::{LogsService, retention_cutoff};

/// Most events one `PutLogEvents` carries.
pub(crate) const MAX_BATCH_EVENTS: usize = 10_000;
/// Most bytes one `PutLogEvents` carries: messages plus 26 per event.
pub(crate) const MAX_BATCH_BYTES: usize = 1_048_576;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Events older than this are refused (`tooOldLogEventEndIndex`).
pub(crate) const MAX_AGE_MS: i64 = 14 * DAY_MS;
/// Events further ahead than this are refused (`tooNewLogEventStartIndex`).
pub(crate) const MAX_FUTURE_MS: i64 = 2 * HOUR_MS;
/// The accepted events of a batch may span at most this.
pub(crate) const MAX_SPAN_MS: i64 = DAY_MS;
/// The most bytes one page of events holds.
pub(crate) const PAGE_BYTES: usize = 1_048_576;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutInput {
    log_group_name: Option<String>,
    log_stream_name: Option<String>,
    log_events: Option<Vec<InputEvent>>,
    /// Ignored, as AWS now ignores it.
    #[allow(dead_code)]
    sequence_token: Option<String>,
    #[allow(dead_code)]
    entity: Option<Value>,
}

#[derive(Deserialize)]
struct InputEvent {
    timestamp: Option<i64>,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetInput {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    next_token: Option<String>,
    limit: Option<i64>,
    #[serde(default)]
    start_from_head: bool,
    #[allow(dead_code)]
    unmask: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Backward,
}

/// `f/` or `b/` and 40 digits: a position between events (events at or
/// after `key` lie ahead, events before it behind).
fn encode_position(dir: Direction, key: Key) -> String {
    let p = match dir {
        Direction::Forward => 'f',
        Direction::Backward => 'b',
    };
    format!("{p}/{:020}{:020}", key.ts, key.seq)
}

fn parse_position(token: &str) -> Option<(Direction, Key)> {
    let (dir, digits) = match token.split_at_checked(2)? {
        ("f/", d) => (Direction::Forward, d),
        ("b/", d) => (Direction::Backward, d),
        _ => return None,
    };
    if digits.len() != 40 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((
        dir,
        Key {
            ts: digits[..20].parse().ok()?,
            seq: digits[20..].parse().ok()?,
        },
    ))
}

impl LogsService {
    pub(crate) fn put_log_events(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: PutInput = decode(input)?;
        let group = required("logGroupName", i.log_group_name)?;
        group_name("logGroupName", &group)?;
        let name = required("logStreamName", i.log_stream_name)?;
        stream_name("logStreamName", &name)?;
        let raw = required("logEvents", i.log_events)?;
        if raw.is_empty() {
            return Err(constraint(
                "logEvents",
                "[]",
                "Member must have length greater than or equal to 1",
            ));
        }
        if raw.len() > MAX_BATCH_EVENTS {
            return Err(constraint(
                "logEvents",
                format!("[{} events]", raw.len()),
                &format!("Member must have length less than or equal to {MAX_BATCH_EVENTS}"),
            ));
        }
        let mut events = Vec::with_capacity(raw.len());
        let mut bytes = 0;
        for (n, e) in raw.into_iter().enumerate() {
            let field = |m: &str| format!("logEvents.{}.member.{m}", n + 1);
            let ts = required(&field("timestamp"), e.timestamp)?;
            input::timestamp(&field("timestamp"), Some(ts))?;
            let message = required(&field("message"), e.message)?;
            if message.is_empty() {
                return Err(constraint(
                    &field("message"),
                    "",
                    "Member must have length greater than or equal to 1",
                ));
            }
            bytes += message.len() + EVENT_OVERHEAD;
            events.push((ts, message));
        }
        if bytes > MAX_BATCH_BYTES {
            return Err(invalid(format!(
                "Upload too large: {bytes} bytes exceeds limit of {MAX_BATCH_BYTES}"
            )));
        }
        if events.windows(2).any(|w| w[1].0 < w[0].0) {
            return Err(invalid(
                "Log events in a single PutLogEvents request must be in chronological order.",
            ));
        }
        let g = self.existing_group(ctx, &group)?;
        let stream = g.stream(&name).ok_or_else(stream_not_found)?;

        let now = ctx.now.timestamp_millis();
        let too_old_end = events
            .iter()
            .take_while(|(ts, _)| *ts < now - MAX_AGE_MS)
            .count();
        let expired_end = g.meta().retention_in_days.map_or(0, |days| {
            let cutoff = retention_cutoff(now, days);
            events.iter().take_while(|(ts, _)| *ts < cutoff).count()
        });
        let too_new_start = events
            .iter()
            .position(|(ts, _)| *ts > now + MAX_FUTURE_MS)
            .unwrap_or(events.len());
        let accepted_start = too_old_end.max(expired_end).min(too_new_start);
        let accepted: Vec<(i64, &str)> = events[accepted_start..too_new_start]
            .iter()
            .map(|(ts, m)| (*ts, m.as_str()))
            .collect();
        if let (Some(first), Some(last)) = (accepted.first(), accepted.last())
            && last.0 - first.0 > MAX_SPAN_MS
        {
            return Err(invalid(
                "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
            ));
        }
        let next_seq = if accepted.is_empty() {
            stream.stats().next_seq
        } else {
            match stream.append(&accepted, now)? {
                Outcome::Done(first) => first + accepted.len() as u64,
                Outcome::Gone => return Err(stream_not_found()),
            }
        };

        let mut out = Map::new();
        out.insert(
            "nextSequenceToken".into(),
            Value::String(sequence_token(next_seq)),
        );
        let mut rejected = Map::new();
        if too_old_end > 0 {
            rejected.insert("tooOldLogEventEndIndex".into(), json!(too_old_end));
        }
        if expired_end > too_old_end {
            rejected.insert("expiredLogEventEndIndex".into(), json!(expired_end));
        }
        if too_new_start < events.len() {
            rejected.insert("tooNewLogEventStartIndex".into(), json!(too_new_start));
        }
        if !rejected.is_empty() {
            out.insert("rejectedLogEventsInfo".into(), Value::Object(rejected));
        }
        Ok(Value::Object(out))
    }

    pub(crate) fn get_log_events(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: GetInput = decode(input)?;
        let group = group_identifier(ctx, i.log_group_name, i.log_group_identifier)?;
        let name = required("logStreamName", i.log_stream_name)?;
        stream_name("logStreamName", &name)?;
        let start = input::timestamp("startTime", i.start_time)?;
        let end = input::timestamp("endTime", i.end_time)?;
        let limit = input::limit("limit", i.limit, MAX_BATCH_EVENTS, MAX_BATCH_EVENTS)?;
        let token = match input::next_token(i.next_token.as_deref())? {
            Some(t) => Some(parse_position(t).ok_or_else(bad_token)?),
            None => None,
        };
        let g = self.existing_group(ctx, &group)?;
        let stream = g.stream(&name).ok_or_else(stream_not_found)?;

        let lo = Key::at(start.unwrap_or(0));
        let hi = end.map_or(Key::MAX, Key::at);
        let page = PageLimit {
            events: limit,
            bytes: PAGE_BYTES,
        };
        let io = |e| crate::LogsError::io(format!("stream {name}"), e);
        // A token names the position to continue from; without one,
        // `startFromHead` picks the start of the range or its end.
        let (events, here) = match token {
            Some((Direction::Forward, at)) => (
                read_forward(&*stream, at.max(lo), hi, page).map_err(io)?,
                at,
            ),
            Some((Direction::Backward, at)) => (
                read_backward(&*stream, lo, at.min(hi), page).map_err(io)?,
                at,
            ),
            None if i.start_from_head => (read_forward(&*stream, lo, hi, page).map_err(io)?, lo),
            None => (read_backward(&*stream, lo, hi, page).map_err(io)?, lo),
        };
        // At either end the token the caller sent comes back unchanged.
        let (forward, backward) = match (events.first(), events.last()) {
            (Some(first), Some(last)) => (last.key.succ(), first.key),
            _ => (here, here),
        };
        Ok(json!({
            "events": events.iter().map(render_event).collect::<Vec<_>>(),
            "nextForwardToken": encode_position(Direction::Forward, forward),
            "nextBackwardToken": encode_position(Direction::Backward, backward),
        }))
    }
}

fn render_event(e: &Event) -> Value {
    json!({
        "timestamp": e.key.ts,
        "message": e.message,
        "ingestionTime": e.ingest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_exactly() {
        let k = Key {
            ts: 1_700_000_000_123,
            seq: 42,
        };
        for d in [Direction::Forward, Direction::Backward] {
            let t = encode_position(d, k);
            assert_eq!(parse_position(&t), Some((d, k)));
            assert_eq!(encode_position(d, parse_position(&t).unwrap().1), t);
        }
        for bad in [
            "",
            "f/",
            "x/0000000000000000000000000000000000000000",
            "f/12",
            "f/é",
        ] {
            assert_eq!(parse_position(bad), None, "{bad}");
        }
    }
}
