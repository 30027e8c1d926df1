//! Properties of watches and compaction.

use super::{kv, next_event, put};
use crate::{Event, EventKind, Op, Store, StoreError, StoreExt, Txn};

fn put_event(kv: crate::KeyValue, prev: Option<crate::KeyValue>) -> Event {
    Event {
        kind: EventKind::Put,
        kv,
        prev,
    }
}

fn delete_event(key: &str, revision: u64, prev: crate::KeyValue) -> Event {
    Event {
        kind: EventKind::Delete,
        kv: kv(key, "", 0, revision, 0),
        prev: Some(prev),
    }
}

/// History `a/1`=x (1), `a/1`=y (2), delete `a/1` (3), `a/2`=z and
/// `b/1`=w in one transaction (4); returns the events a watch on "" sees.
fn write_history(s: &dyn Store) -> Vec<Event> {
    s.put("a/1", b"x".to_vec()).expect("put");
    s.put("a/1", b"y".to_vec()).expect("put");
    s.delete("a/1").expect("delete");
    s.txn(Txn {
        success: vec![put("a/2", "z"), put("b/1", "w")],
        ..Default::default()
    })
    .expect("txn");
    vec![
        put_event(kv("a/1", "x", 1, 1, 1), None),
        put_event(kv("a/1", "y", 1, 2, 2), Some(kv("a/1", "x", 1, 1, 1))),
        delete_event("a/1", 3, kv("a/1", "y", 1, 2, 2)),
        put_event(kv("a/2", "z", 4, 4, 1), None),
        put_event(kv("b/1", "w", 4, 4, 1), None),
    ]
}

pub fn watch_from_zero_replays_history(s: &dyn Store) {
    let history = write_history(s);
    let mut w = s.watch("", 0).expect("watch");
    for expected in &history {
        assert_eq!(&next_event(&mut w), expected);
    }
    // Then live, with the previous value.
    s.put("b/1", b"v".to_vec()).expect("put");
    assert_eq!(
        next_event(&mut w),
        put_event(kv("b/1", "v", 4, 5, 2), Some(kv("b/1", "w", 4, 4, 1)))
    );
    s.delete("b/1").expect("delete");
    assert_eq!(
        next_event(&mut w),
        delete_event("b/1", 6, kv("b/1", "v", 4, 5, 2))
    );
}

pub fn watch_from_middle_revision(s: &dyn Store) {
    let history = write_history(s);
    let mut w = s.watch("", 2).expect("watch");
    // Only revisions above 2.
    for expected in &history[2..] {
        assert_eq!(&next_event(&mut w), expected);
    }
    // From the current revision: nothing replayed, the next write first.
    let mut now = s.watch("", 4).expect("watch");
    s.put("c", b"1".to_vec()).expect("put");
    assert_eq!(next_event(&mut now), put_event(kv("c", "1", 5, 5, 1), None));
    assert_eq!(next_event(&mut w), put_event(kv("c", "1", 5, 5, 1), None));
}

pub fn watch_sees_only_its_prefix(s: &dyn Store) {
    let mut w = s.watch("a/", 0).expect("watch");
    for k in ["a", "ab", "b/x", "a/x", "A/x"] {
        s.put(k, b"1".to_vec()).expect("put");
    }
    let e = next_event(&mut w);
    assert_eq!(e.kv.key, "a/x");
    assert_eq!(e.kv.mod_revision, 4);
    // Deleting everything: the watch sees only its own keys go.
    s.put("a/y", b"1".to_vec()).expect("put");
    assert_eq!(next_event(&mut w).kv.key, "a/y");
    s.txn(Txn {
        success: vec![Op::DeletePrefix {
            prefix: String::new(),
        }],
        ..Default::default()
    })
    .expect("txn");
    let gone: Vec<_> = (0..2).map(|_| next_event(&mut w)).collect();
    assert!(
        gone.iter()
            .all(|e| e.kind == EventKind::Delete && e.kv.mod_revision == 7)
    );
    assert_eq!(
        gone.iter().map(|e| e.kv.key.as_str()).collect::<Vec<_>>(),
        ["a/x", "a/y"]
    );
    // A later write outside the prefix, then one inside: only the second.
    s.put("b/z", b"1".to_vec()).expect("put");
    s.put("a/z", b"1".to_vec()).expect("put");
    assert_eq!(next_event(&mut w).kv.key, "a/z");
    // The replay of history is filtered too.
    let mut replay = s.watch("a/", 0).expect("watch");
    let keys: Vec<_> = (0..5).map(|_| next_event(&mut replay).kv.key).collect();
    assert_eq!(keys, ["a/x", "a/y", "a/x", "a/y", "a/z"]);
}

pub fn watch_from_future_revision(s: &dyn Store) {
    s.put("k", b"0".to_vec()).expect("put");
    let mut w = s
        .watch("", 3)
        .expect("a watch may start ahead of the store");
    for i in 1..=3u8 {
        s.put("k", vec![i]).expect("put");
    }
    let e = next_event(&mut w);
    assert_eq!((e.kv.mod_revision, e.kv.value), (4, vec![3]));
}

pub fn dropped_watch_is_harmless(s: &dyn Store) {
    let dropped = s.watch("", 0).expect("watch");
    let mut kept = s.watch("", 0).expect("watch");
    drop(dropped);
    for i in 0..3u8 {
        s.put("k", vec![i])
            .expect("a dropped watch must not fail writes");
    }
    for i in 0..3u8 {
        assert_eq!(next_event(&mut kept).kv.value, vec![i]);
    }
}

pub fn compaction(s: &dyn Store) {
    for i in 1..=5u8 {
        s.put("k", vec![i]).expect("put");
    }
    let mut live = s.watch("", 5).expect("watch");
    s.compact(3).expect("compact");
    for after in [0, 2] {
        match s.watch("", after) {
            Err(StoreError::Compacted { requested, oldest }) => {
                assert_eq!((requested, oldest), (after, 3));
            }
            other => panic!("watch after {after} of a store compacted at 3: {other:?}"),
        }
    }
    let e = s.watch("", 2).expect_err("compacted");
    assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
    // The compacted revision itself is the oldest place to start.
    let mut w = s.watch("", 3).expect("watch from the compacted revision");
    assert_eq!(next_event(&mut w).kv.mod_revision, 4);
    assert_eq!(next_event(&mut w).kv.mod_revision, 5);

    // Compacting backwards or again is a no-op; into the future, invalid.
    s.compact(2)
        .expect("compact to an already compacted revision");
    s.compact(3).expect("compact again");
    assert!(s.watch("", 3).is_ok());
    assert!(matches!(s.compact(6), Err(StoreError::Invalid(_))));
    assert_eq!(s.revision().expect("revision"), 5);

    // Current keys and live watches are untouched.
    assert_eq!(
        s.get("k").expect("get").map(|kv| (kv.value, kv.version)),
        Some((vec![5], 5))
    );
    s.compact(5).expect("compact to the current revision");
    assert!(matches!(s.watch("", 4), Err(StoreError::Compacted { .. })));
    s.put("k", vec![6]).expect("put");
    assert_eq!(next_event(&mut live).kv.mod_revision, 6);
    let mut w = s.watch("", 5).expect("watch");
    assert_eq!(next_event(&mut w).kv.value, vec![6]);
}
