//! Reading a stream's events in key order, in either direction, within a
//! key range and a page size: days one after the other, the runs of a
//! day merged. Memory is bounded by the page plus one read window per run
//! of the day being read.

use std::io;

use super::files::DAY_MS;
use super::reader::{Backward, Forward, RunReader};
use super::record::{Event, Key};

/// Bytes an event counts for in a page, as AWS counts them.
pub(crate) const EVENT_OVERHEAD: usize = 26;

/// Where a stream's files are read from. Each call takes the stream's
/// lock briefly; readers opened under it see the runs as they were (a
/// deleted file stays readable through an open handle).
pub(crate) trait DaySource {
    /// Days with runs, oldest first.
    fn days(&self) -> io::Result<Vec<i64>>;
    fn open_day(&self, day: i64) -> io::Result<Vec<RunReader>>;
}

/// How much one page may hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageLimit {
    pub events: usize,
    pub bytes: usize,
}

fn overlaps(day: i64, from: Key, to: Key) -> bool {
    let start = day.saturating_mul(DAY_MS);
    let end = start.saturating_add(DAY_MS);
    end > from.ts && Key::at(start) < to
}

/// Events with `from <= key < to`, the first ones in key order.
pub(crate) fn read_forward(
    src: &dyn DaySource,
    from: Key,
    to: Key,
    limit: PageLimit,
) -> io::Result<Vec<Event>> {
    let mut out = Vec::new();
    let mut bytes = 0;
    if from >= to || limit.events == 0 {
        return Ok(out);
    }
    for day in src.days()? {
        if !overlaps(day, from, to) {
            continue;
        }
        let mut cursors = src
            .open_day(day)?
            .into_iter()
            .map(|r| Forward::new(r, from))
            .collect::<io::Result<Vec<_>>>()?;
        loop {
            let best = cursors
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.head().map(|e| (e.key, i)))
                .min();
            let Some((key, i)) = best else { break };
            if key >= to {
                break;
            }
            let size = cursors[i]
                .head()
                .map_or(0, |e| e.message.len() + EVENT_OVERHEAD);
            if !out.is_empty() && bytes + size > limit.bytes {
                return Ok(out);
            }
            let Some(e) = cursors[i].take()? else { break };
            out.push(e);
            bytes += size;
            if out.len() >= limit.events {
                return Ok(out);
            }
        }
    }
    Ok(out)
}

/// Events with `from <= key < to`, the last ones in key order (returned
/// oldest first).
pub(crate) fn read_backward(
    src: &dyn DaySource,
    from: Key,
    to: Key,
    limit: PageLimit,
) -> io::Result<Vec<Event>> {
    let mut out = Vec::new();
    let mut bytes = 0;
    if from >= to || limit.events == 0 {
        return Ok(out);
    }
    'days: for day in src.days()?.into_iter().rev() {
        if !overlaps(day, from, to) {
            continue;
        }
        let mut cursors = src
            .open_day(day)?
            .into_iter()
            .map(|r| Backward::new(r, to))
            .collect::<io::Result<Vec<_>>>()?;
        loop {
            let best = cursors
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.head().map(|e| (e.key, i)))
                .max();
            let Some((key, i)) = best else { break };
            if key < from {
                break;
            }
            let size = cursors[i]
                .head()
                .map_or(0, |e| e.message.len() + EVENT_OVERHEAD);
            if !out.is_empty() && bytes + size > limit.bytes {
                break 'days;
            }
            let Some(e) = cursors[i].take()? else { break };
            out.push(e);
            bytes += size;
            if out.len() >= limit.events {
                break 'days;
            }
        }
    }
    out.reverse();
    Ok(out)
}
