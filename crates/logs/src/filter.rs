//! `FilterLogEvents`: the events of a group's streams, interleaved in
//! order of (timestamp, stream id, sequence), matched against a filter
//! pattern.
//!
//! Each stream is read in chunks by a cursor; a heap merges the cursors'
//! heads. Memory is bounded by the page plus one chunk per stream (the
//! chunk shrinks as streams grow in number), and one call examines at
//! most [`SCAN_BUDGET`] bytes: past it the page ends, possibly empty,
//! with a `nextToken` at the last event examined, as AWS's pages may.
//!
//! `aws logs tail --follow` polls this with `startTime` set to the newest
//! timestamp it has seen and drops events whose `eventId` it has seen at
//! that timestamp: event ids are a pure function of (timestamp, stream,
//! sequence), so the same event always has the same id.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use dockyard_aws::ApiError;
use dockyard_aws::router::CallContext;

use crate::disk::{EVENT_OVERHEAD, Event, Key, PageLimit, read_forward};
use crate::error::{bad_token, constraint, invalid};
use crate::events::{MAX_BATCH_EVENTS, PAGE_BYTES};
use crate::input::{self, decode, group_identifier, stream_name};
use crate::pattern::Pattern;
use crate::state::Stream;
use crate::{LogsError, LogsService};

/// Bytes of events one call examines at most.
pub(crate) const SCAN_BUDGET: usize = 32 << 20;
/// What all cursors' chunks may hold together (each gets a share within
/// [`MIN_CHUNK`]..=[`MAX_CHUNK`]).
const CURSOR_MEMORY: usize = 16 << 20;
const MIN_CHUNK: usize = 64 << 10;
const MAX_CHUNK: usize = 1 << 20;
/// The most events one cursor reads at a time.
const CHUNK_EVENTS: usize = 1000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilterInput {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_names: Option<Vec<String>>,
    log_stream_name_prefix: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    filter_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
    #[allow(dead_code)]
    interleaved: Option<bool>,
    #[allow(dead_code)]
    unmask: Option<bool>,
}

/// An event's place among all of a group's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Place {
    ts: i64,
    stream: u64,
    seq: u64,
}

impl Place {
    fn token(self) -> String {
        format!("{:020}{:020}{:020}", self.ts, self.stream, self.seq)
    }

    fn parse(t: &str) -> Option<Place> {
        if t.len() != 60 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Place {
            ts: t[..20].parse().ok()?,
            stream: t[20..40].parse().ok()?,
            seq: t[40..].parse().ok()?,
        })
    }

    /// The first key of `stream` that comes after this place.
    fn next_in(self, stream: u64) -> Key {
        match stream.cmp(&self.stream) {
            std::cmp::Ordering::Greater => Key::at(self.ts),
            std::cmp::Ordering::Equal => Key {
                ts: self.ts,
                seq: self.seq,
            }
            .succ(),
            std::cmp::Ordering::Less => Key::at(self.ts.saturating_add(1)),
        }
    }
}

/// AWS's event ids are 56 digits; these are too, and unique in a group.
pub(crate) fn event_id(ts: i64, stream: u64, seq: u64) -> String {
    format!("{ts:020}{stream:018}{seq:018}")
}

struct Cursor {
    stream: Arc<Stream>,
    next: Key,
    to: Key,
    buf: VecDeque<Event>,
    done: bool,
}

impl Cursor {
    fn fill(&mut self, chunk: PageLimit) -> io::Result<()> {
        if self.done || !self.buf.is_empty() {
            return Ok(());
        }
        let events = read_forward(&*self.stream, self.next, self.to, chunk)?;
        match events.last() {
            None => self.done = true,
            Some(last) => self.next = last.key.succ(),
        }
        self.buf.extend(events);
        Ok(())
    }

    fn place(&self) -> Option<Place> {
        self.buf.front().map(|e| Place {
            ts: e.key.ts,
            stream: self.stream.id,
            seq: e.key.seq,
        })
    }
}

impl LogsService {
    pub(crate) fn filter_log_events(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: FilterInput = decode(input)?;
        let group = group_identifier(ctx, i.log_group_name, i.log_group_identifier)?;
        if let Some(names) = &i.log_stream_names {
            if names.is_empty() || names.len() > 100 {
                return Err(constraint(
                    "logStreamNames",
                    format!("[{} names]", names.len()),
                    "Member must have length between 1 and 100",
                ));
            }
            for n in names {
                stream_name("logStreamNames.member", n)?;
            }
        }
        if let Some(p) = &i.log_stream_name_prefix {
            stream_name("logStreamNamePrefix", p)?;
        }
        if i.log_stream_names.is_some() && i.log_stream_name_prefix.is_some() {
            return Err(invalid(
                "Parameters logStreamNames and logStreamNamePrefix are mutually exclusive.",
            ));
        }
        let start = input::timestamp("startTime", i.start_time)?.unwrap_or(0);
        let end = input::timestamp("endTime", i.end_time)?;
        let limit = input::limit("limit", i.limit, MAX_BATCH_EVENTS, MAX_BATCH_EVENTS)?;
        let pattern = Pattern::parse("filterPattern", i.filter_pattern.as_deref().unwrap_or(""))?;
        let after = match input::next_token(i.next_token.as_deref())? {
            Some(t) => Some(Place::parse(t).ok_or_else(bad_token)?),
            None => None,
        };
        let g = self.existing_group(ctx, &group)?;

        // `endTime` is inclusive here (it is exclusive in GetLogEvents).
        let to = end.map_or(Key::MAX, |e| Key::at(e.saturating_add(1)));
        let mut cursors: Vec<Cursor> = g
            .streams()
            .into_iter()
            .filter(|s| match (&i.log_stream_names, &i.log_stream_name_prefix) {
                (Some(names), _) => names.contains(&s.name),
                (None, Some(p)) => s.name.starts_with(p.as_str()),
                (None, None) => true,
            })
            .filter_map(|s| {
                let stats = s.stats();
                let (first, last) = (stats.first_ts?, stats.last_ts?);
                let mut from = Key::at(start);
                if let Some(a) = after {
                    from = from.max(a.next_in(s.id));
                }
                (last >= from.ts && Key::at(first) < to && from < to).then(|| Cursor {
                    stream: s,
                    next: from,
                    to,
                    buf: VecDeque::new(),
                    done: false,
                })
            })
            .collect();

        let chunk = PageLimit {
            events: CHUNK_EVENTS.min(limit),
            bytes: (CURSOR_MEMORY / cursors.len().max(1)).clamp(MIN_CHUNK, MAX_CHUNK),
        };
        let io = |e: io::Error| LogsError::io(format!("log group {group}"), e);
        let mut heap = BinaryHeap::new();
        for (n, c) in cursors.iter_mut().enumerate() {
            c.fill(chunk).map_err(io)?;
            if let Some(p) = c.place() {
                heap.push(Reverse((p, n)));
            }
        }

        let mut out = Vec::new();
        let (mut out_bytes, mut scanned) = (0, 0);
        let mut last_examined: Option<Place> = None;
        let mut more = false;
        while let Some(Reverse((place, n))) = heap.pop() {
            let c = &mut cursors[n];
            let size = c
                .buf
                .front()
                .map_or(0, |e| e.message.len() + EVENT_OVERHEAD);
            let matched = c.buf.front().is_some_and(|e| pattern.matches(&e.message));
            if matched && !out.is_empty() && out_bytes + size > PAGE_BYTES {
                // This event starts the next page.
                more = true;
                break;
            }
            let Some(e) = c.buf.pop_front() else { continue };
            if matched {
                out.push(render(&c.stream.name, c.stream.id, &e));
                out_bytes += size;
            }
            last_examined = Some(place);
            scanned += size;
            c.fill(chunk).map_err(io)?;
            if let Some(p) = c.place() {
                heap.push(Reverse((p, n)));
            }
            if out.len() >= limit || scanned >= SCAN_BUDGET {
                more = !heap.is_empty();
                break;
            }
        }

        let mut reply = Map::new();
        reply.insert("events".into(), Value::Array(out));
        reply.insert("searchedLogStreams".into(), json!([]));
        if more && let Some(p) = last_examined {
            reply.insert("nextToken".into(), Value::String(p.token()));
        }
        Ok(Value::Object(reply))
    }
}

fn render(stream: &str, stream_id: u64, e: &Event) -> Value {
    json!({
        "logStreamName": stream,
        "timestamp": e.key.ts,
        "message": e.message,
        "ingestionTime": e.ingest,
        "eventId": event_id(e.key.ts, stream_id, e.key.seq),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_round_trip_and_resume_in_order() {
        let p = Place {
            ts: 1_700_000_000_000,
            stream: 7,
            seq: 3,
        };
        assert_eq!(Place::parse(&p.token()), Some(p));
        assert_eq!(Place::parse("123"), None);
        assert_eq!(p.next_in(8), Key::at(p.ts));
        assert_eq!(p.next_in(7), Key { ts: p.ts, seq: 4 });
        assert_eq!(p.next_in(6), Key::at(p.ts + 1));
        assert_eq!(event_id(1, 2, 3).len(), 56);
    }
}
