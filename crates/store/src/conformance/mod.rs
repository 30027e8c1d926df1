//! The conformance suite: every [`Store`] implementation must pass it.
//!
//! Each property is a `pub fn(&dyn Store)` that panics when the store
//! breaks a rule; it expects a fresh, empty store. Run them all with
//! [`run_all`], or one `#[test]` per property with
//! [`conformance_tests!`](crate::conformance_tests):
//!
//! ```
//! mod mem_conformance {
//!     dockyard_store::conformance_tests!(|| Box::new(dockyard_store::MemStore::new()));
//! }
//! ```
//!
//! Watch events may arrive asynchronously; the suite waits up to
//! [`EVENT_TIMEOUT`] for each one (the embedded stores deliver them before
//! `txn` returns, so it never waits for those).

mod concurrency;
mod keys;
mod watch;

use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::error::TryRecvError;

use crate::{Event, KeyValue, Op, Revision, Store, Watch};

pub use concurrency::*;
pub use keys::*;
pub use watch::*;

/// A property of the suite.
pub type Property = fn(&dyn Store);

/// Every property, by name. Keep in step with [`conformance_tests!`](crate::conformance_tests).
pub const PROPERTIES: &[(&str, Property)] = &[
    ("new_store_is_empty", new_store_is_empty),
    ("revision_counts_writing_txns", revision_counts_writing_txns),
    ("key_metadata_tracks_writes", key_metadata_tracks_writes),
    ("compare_exists_and_missing", compare_exists_and_missing),
    ("compare_mod_revision", compare_mod_revision),
    ("compare_value", compare_value),
    ("every_compare_must_hold", every_compare_must_hold),
    ("failure_branch", failure_branch),
    ("delete_prefix", delete_prefix),
    (
        "range_by_prefix_in_byte_order",
        range_by_prefix_in_byte_order,
    ),
    ("range_pages", range_pages),
    ("ext_helpers", ext_helpers),
    ("empty_keys_are_invalid", empty_keys_are_invalid),
    (
        "watch_from_zero_replays_history",
        watch_from_zero_replays_history,
    ),
    ("watch_from_middle_revision", watch_from_middle_revision),
    ("watch_sees_only_its_prefix", watch_sees_only_its_prefix),
    ("watch_from_future_revision", watch_from_future_revision),
    ("dropped_watch_is_harmless", dropped_watch_is_harmless),
    ("compaction", compaction),
    ("concurrent_cas_increments", concurrent_cas_increments),
    (
        "watch_while_writing_has_no_gaps",
        watch_while_writing_has_no_gaps,
    ),
];

/// Runs every property, each against a store fresh from `make`.
pub fn run_all(make: &dyn Fn() -> Box<dyn Store>) {
    for (name, property) in PROPERTIES {
        let store = make();
        eprintln!("conformance: {name}");
        property(&*store);
    }
}

/// One `#[test]` per property, each with a store from `$make` (an
/// expression evaluating to a `Fn() -> Box<dyn Store>`).
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@each $make;
            new_store_is_empty,
            revision_counts_writing_txns,
            key_metadata_tracks_writes,
            compare_exists_and_missing,
            compare_mod_revision,
            compare_value,
            every_compare_must_hold,
            failure_branch,
            delete_prefix,
            range_by_prefix_in_byte_order,
            range_pages,
            ext_helpers,
            empty_keys_are_invalid,
            watch_from_zero_replays_history,
            watch_from_middle_revision,
            watch_sees_only_its_prefix,
            watch_from_future_revision,
            dropped_watch_is_harmless,
            compaction,
            concurrent_cas_increments,
            watch_while_writing_has_no_gaps
        );
    };
    (@each $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let make = $make;
                let store: ::std::boxed::Box<dyn $crate::Store> = make();
                $crate::conformance::$name(&*store);
            }
        )*
    };
}

/// How long the suite waits for a watch event.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The next event of a watch; panics on an error, the end of the stream,
/// or nothing within [`EVENT_TIMEOUT`].
pub fn next_event(w: &mut Watch) -> Event {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        match w.try_recv() {
            Ok(Ok(e)) => return e,
            Ok(Err(e)) => panic!("watch failed: {e}"),
            Err(TryRecvError::Disconnected) => panic!("watch ended while an event was expected"),
            Err(TryRecvError::Empty) => {
                assert!(
                    Instant::now() < deadline,
                    "no watch event within {EVENT_TIMEOUT:?}"
                );
                // Only reached by stores that deliver after `txn` returns.
                thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

pub(crate) fn put(key: &str, value: &str) -> Op {
    Op::Put {
        key: key.into(),
        value: value.as_bytes().to_vec(),
    }
}

pub(crate) fn kv(
    key: &str,
    value: &str,
    create: Revision,
    modified: Revision,
    version: u64,
) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.as_bytes().to_vec(),
        create_revision: create,
        mod_revision: modified,
        version,
    }
}

pub(crate) fn get(s: &dyn Store, key: &str) -> Option<KeyValue> {
    s.get(key)
        .unwrap_or_else(|e| panic!("get {key:?} failed: {e}"))
}

pub(crate) fn keys(kvs: &[KeyValue]) -> Vec<&str> {
    kvs.iter().map(|kv| kv.key.as_str()).collect()
}
