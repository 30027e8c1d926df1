//! Properties under concurrent use from many threads.

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use super::next_event;
use crate::{Revision, Store, StoreExt, Watch};

const THREADS: u64 = 8;
const INCREMENTS: u64 = 100;

/// Read-modify-write loops with `update` never lose an increment.
pub fn concurrent_cas_increments(s: &dyn Store) {
    let base = s.put("counter", b"0".to_vec()).expect("put");
    thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..INCREMENTS {
                    increment(s, "counter");
                }
            });
        }
    });
    let kv = s.get("counter").expect("get").expect("counter exists");
    assert_eq!(kv.value, (THREADS * INCREMENTS).to_string().into_bytes());
    assert_eq!(kv.version, THREADS * INCREMENTS + 1);
    assert_eq!(kv.create_revision, base);
    // Every successful update was one revision; lost races were none.
    assert_eq!(s.revision().expect("revision"), base + THREADS * INCREMENTS);
    assert_eq!(kv.mod_revision, base + THREADS * INCREMENTS);
}

fn increment(s: &dyn Store, key: &str) {
    loop {
        let kv = s.get(key).expect("get").expect("counter exists");
        let n: u64 = std::str::from_utf8(&kv.value)
            .ok()
            .and_then(|v| v.parse().ok())
            .expect("counter holds a number");
        let next = (n + 1).to_string().into_bytes();
        if s.update(key, kv.mod_revision, next)
            .expect("update")
            .is_some()
        {
            return;
        }
    }
}

const WRITES: u64 = 150;

/// Watches opened while another thread writes each see every revision
/// after their start exactly once: no gap between the replay of history
/// and live delivery, no duplicate.
pub fn watch_while_writing_has_no_gaps(s: &dyn Store) {
    let done = AtomicBool::new(false);
    let start = Barrier::new(2);
    let mut watches: Vec<(Revision, Watch)> = Vec::new();
    thread::scope(|scope| {
        scope.spawn(|| {
            start.wait();
            for i in 0..WRITES {
                s.put("race/k", i.to_string().into_bytes()).expect("put");
            }
            done.store(true, Ordering::Release);
        });
        start.wait();
        let mut last = None;
        loop {
            let finished = done.load(Ordering::Acquire);
            let now = s.revision().expect("revision");
            if last != Some(now) && watches.len() < 60 {
                last = Some(now);
                // From the revision just read (mostly live), and from a
                // little earlier (replay racing with new commits).
                watches.push((now, s.watch("race/", now).expect("watch")));
                let back = now.saturating_sub(3);
                watches.push((back, s.watch("race/", back).expect("watch")));
            } else {
                thread::yield_now();
            }
            if finished {
                break;
            }
        }
    });
    assert!(!watches.is_empty());
    // A sentinel after the last write: each watch's next event after its
    // expected run must be this one, so trailing duplicates show too.
    s.put("race/end", vec![]).expect("put");
    for (after, mut w) in watches {
        for expected in after + 1..=WRITES {
            let e = next_event(&mut w);
            assert_eq!(
                e.kv.mod_revision, expected,
                "watch after {after}: got revision {} where {expected} was due",
                e.kv.mod_revision
            );
            assert_eq!(e.kv.value, (expected - 1).to_string().into_bytes());
        }
        assert_eq!(next_event(&mut w).kv.key, "race/end", "watch after {after}");
    }
}
