//! Durable storage of log events in files, outside the state store.
//!
//! Layout under the service's directory: `GROUP_ID/STREAM_ID/` per
//! stream (ids are the store revisions that created the group and stream
//! keys, so names never reach the file system), holding run files (see
//! [`files`] and [`record`]).

pub(crate) mod files;
pub(crate) mod read;
pub(crate) mod reader;
pub(crate) mod record;
pub(crate) mod run;

pub(crate) use files::{FileStats, StreamFiles};
pub(crate) use read::{DaySource, EVENT_OVERHEAD, PageLimit, read_backward, read_forward};
pub(crate) use record::{Event, Key};
