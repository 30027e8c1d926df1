//! Properties of keys, revisions, compares and ranges.

use super::{get, keys, kv, put};
use crate::{Compare, Op, Store, StoreError, StoreExt, Txn};

fn txn(s: &dyn Store, t: Txn) -> crate::TxnResponse {
    s.txn(t.clone())
        .unwrap_or_else(|e| panic!("txn {t:?} failed: {e}"))
}

fn revision(s: &dyn Store) -> u64 {
    s.revision().expect("revision")
}

pub fn new_store_is_empty(s: &dyn Store) {
    assert_eq!(revision(s), 0);
    assert_eq!(s.range("", None, 0).expect("range"), (vec![], 0));
    assert_eq!(get(s, "anything"), None);
}

/// One increment per transaction that changes something; none for
/// transactions that change nothing, as in etcd.
pub fn revision_counts_writing_txns(s: &dyn Store) {
    assert_eq!(s.put("a", b"1".to_vec()).expect("put"), 1);
    assert_eq!(revision(s), 1);

    let unchanged = [
        // Compares only.
        Txn {
            compares: vec![Compare::Exists("a".into())],
            ..Default::default()
        },
        // Compares fail and there is no failure branch.
        Txn {
            compares: vec![Compare::Missing("a".into())],
            success: vec![put("a", "2")],
            failure: vec![],
        },
        // Deleting what does not exist.
        Txn {
            success: vec![
                Op::Delete { key: "nope".into() },
                Op::DeletePrefix {
                    prefix: "nothing/".into(),
                },
            ],
            ..Default::default()
        },
        Txn::default(),
    ];
    for t in unchanged {
        let r = txn(s, t.clone());
        assert_eq!(r.revision, 1, "{t:?} must not move the revision");
        assert_eq!(revision(s), 1, "{t:?} must not move the revision");
    }
    assert_eq!(get(s, "a"), Some(kv("a", "1", 1, 1, 1)));

    // Several writes in one transaction share one revision.
    let r = txn(
        s,
        Txn {
            success: vec![put("b", "1"), put("c", "1")],
            ..Default::default()
        },
    );
    assert_eq!((r.succeeded, r.revision), (true, 2));
    assert_eq!(get(s, "b").map(|kv| kv.mod_revision), Some(2));
    assert_eq!(get(s, "c").map(|kv| kv.mod_revision), Some(2));

    let r = txn(
        s,
        Txn {
            success: vec![Op::Delete { key: "b".into() }, put("d", "1")],
            ..Default::default()
        },
    );
    assert_eq!(r.revision, 3);
    // A failure branch that writes counts too.
    let r = txn(
        s,
        Txn {
            compares: vec![Compare::Missing("a".into())],
            success: vec![],
            failure: vec![put("e", "1")],
        },
    );
    assert_eq!((r.succeeded, r.revision), (false, 4));
    assert_eq!(revision(s), 4);
    assert_eq!(s.range("", None, 0).expect("range").1, 4);
}

pub fn key_metadata_tracks_writes(s: &dyn Store) {
    let r1 = s.put("k", b"one".to_vec()).expect("put");
    assert_eq!(get(s, "k"), Some(kv("k", "one", r1, r1, 1)));
    s.put("other", b"x".to_vec()).expect("put");
    let r3 = s.put("k", b"two".to_vec()).expect("put");
    assert_eq!(get(s, "k"), Some(kv("k", "two", r1, r3, 2)));
    let r4 = s.put("k", b"three".to_vec()).expect("put");
    assert_eq!(get(s, "k"), Some(kv("k", "three", r1, r4, 3)));
    assert!(s.delete("k").expect("delete"));
    assert_eq!(get(s, "k"), None);
    // Re-created after a delete: a new life, counted from scratch.
    let r6 = s.put("k", b"again".to_vec()).expect("put");
    assert_eq!(r6, r4 + 2);
    assert_eq!(get(s, "k"), Some(kv("k", "again", r6, r6, 1)));
    // Values are bytes, not text.
    let bytes = vec![0, 255, 10, 0];
    s.put("bin", bytes.clone()).expect("put");
    assert_eq!(get(s, "bin").map(|kv| kv.value), Some(bytes));
}

/// Runs a transaction whose only effect, when its compares hold, is a
/// put of `probe`; returns whether they held.
fn holds(s: &dyn Store, compares: Vec<Compare>) -> bool {
    let before = revision(s);
    let r = txn(
        s,
        Txn {
            compares: compares.clone(),
            success: vec![put("probe", "x")],
            failure: vec![],
        },
    );
    assert_eq!(
        r.revision,
        if r.succeeded { before + 1 } else { before },
        "{compares:?}"
    );
    r.succeeded
}

pub fn compare_exists_and_missing(s: &dyn Store) {
    s.put("here", b"v".to_vec()).expect("put");
    assert!(holds(s, vec![Compare::Exists("here".into())]));
    assert!(!holds(s, vec![Compare::Exists("gone".into())]));
    assert!(holds(s, vec![Compare::Missing("gone".into())]));
    assert!(!holds(s, vec![Compare::Missing("here".into())]));
    // An empty value still exists.
    s.put("empty", vec![]).expect("put");
    assert!(holds(s, vec![Compare::Exists("empty".into())]));
    // A deleted key is missing.
    s.delete("here").expect("delete");
    assert!(holds(s, vec![Compare::Missing("here".into())]));
    assert!(!holds(s, vec![Compare::Exists("here".into())]));
}

pub fn compare_mod_revision(s: &dyn Store) {
    let r = s.put("k", b"v".to_vec()).expect("put");
    assert!(holds(s, vec![Compare::ModRevision("k".into(), r)]));
    assert!(!holds(s, vec![Compare::ModRevision("k".into(), r + 1)]));
    assert!(!holds(s, vec![Compare::ModRevision("k".into(), 0)]));
    // 0 stands for a missing key.
    assert!(holds(s, vec![Compare::ModRevision("missing".into(), 0)]));
    assert!(!holds(s, vec![Compare::ModRevision("missing".into(), r)]));
    // Writing another key does not move this one's mod revision.
    s.put("unrelated", b"v".to_vec()).expect("put");
    assert!(holds(s, vec![Compare::ModRevision("k".into(), r)]));
}

pub fn compare_value(s: &dyn Store) {
    s.put("k", b"abc".to_vec()).expect("put");
    assert!(holds(s, vec![Compare::Value("k".into(), b"abc".to_vec())]));
    assert!(!holds(s, vec![Compare::Value("k".into(), b"ab".to_vec())]));
    assert!(!holds(
        s,
        vec![Compare::Value("k".into(), b"abcd".to_vec())]
    ));
    // A missing key has no value, not an empty one.
    assert!(!holds(s, vec![Compare::Value("missing".into(), vec![])]));
    s.put("empty", vec![]).expect("put");
    assert!(holds(s, vec![Compare::Value("empty".into(), vec![])]));
}

pub fn every_compare_must_hold(s: &dyn Store) {
    let r = s.put("a", b"1".to_vec()).expect("put");
    let yes = || Compare::Exists("a".into());
    let no = || Compare::Value("a".into(), b"2".to_vec());
    assert!(holds(s, vec![]), "no compares means success");
    assert!(holds(
        s,
        vec![
            yes(),
            Compare::ModRevision("a".into(), r),
            Compare::Missing("b".into())
        ]
    ));
    assert!(!holds(s, vec![yes(), no()]));
    assert!(!holds(s, vec![no(), yes()]));
}

pub fn failure_branch(s: &dyn Store) {
    s.put("lock", b"owner-1".to_vec()).expect("put");
    let r = txn(
        s,
        Txn {
            compares: vec![Compare::Missing("lock".into())],
            success: vec![put("lock", "owner-2")],
            failure: vec![put("lost/owner-2", "1"), Op::Delete { key: "lock".into() }],
        },
    );
    assert!(!r.succeeded);
    assert_eq!(r.revision, 2);
    assert_eq!(get(s, "lock"), None, "the failure branch ran, not success");
    assert_eq!(
        get(s, "lost/owner-2"),
        Some(kv("lost/owner-2", "1", 2, 2, 1))
    );
    let r = txn(
        s,
        Txn {
            compares: vec![Compare::Missing("lock".into())],
            success: vec![put("lock", "owner-2")],
            failure: vec![put("never", "1")],
        },
    );
    assert!(r.succeeded);
    assert_eq!(get(s, "never"), None, "the success branch ran, not failure");
    assert_eq!(get(s, "lock").map(|kv| kv.value), Some(b"owner-2".to_vec()));
}

pub fn delete_prefix(s: &dyn Store) {
    for k in ["t/a", "t/b/c", "t/", "t", "tx", "u/a"] {
        s.put(k, b"v".to_vec()).expect("put");
    }
    let before = revision(s);
    let mut w = s.watch("", before).expect("watch");
    let r = txn(
        s,
        Txn {
            success: vec![Op::DeletePrefix {
                prefix: "t/".into(),
            }],
            ..Default::default()
        },
    );
    assert_eq!(r.revision, before + 1, "one revision for all the deletes");
    let left = s.range("", None, 0).expect("range").0;
    assert_eq!(keys(&left), ["t", "tx", "u/a"]);
    // One delete event per key, in byte order, all at the same revision.
    let mut deleted = Vec::new();
    for _ in 0..3 {
        let e = super::next_event(&mut w);
        assert_eq!(e.kind, crate::EventKind::Delete);
        assert_eq!(e.kv.mod_revision, before + 1);
        assert_eq!(
            e.prev.as_ref().map(|p| p.key.as_str()),
            Some(e.kv.key.as_str())
        );
        deleted.push(e.kv.key);
    }
    assert_eq!(deleted, ["t/", "t/a", "t/b/c"]);
    // The empty prefix is every key.
    txn(
        s,
        Txn {
            success: vec![Op::DeletePrefix {
                prefix: String::new(),
            }],
            ..Default::default()
        },
    );
    assert_eq!(s.range("", None, 0).expect("range").0, vec![]);
}

pub fn range_by_prefix_in_byte_order(s: &dyn Store) {
    for k in ["r/b", "r/é", "q", "r/a/x", "r/~", "r0", "r/B", "r/", "r/a"] {
        s.put(k, k.as_bytes().to_vec()).expect("put");
    }
    let (kvs, rev) = s.range("r/", None, 0).expect("range");
    // Byte order: 'B' (0x42) < 'a' < "a/x" < 'b' < '~' (0x7e) < 'é' (0xc3 0xa9).
    assert_eq!(
        keys(&kvs),
        ["r/", "r/B", "r/a", "r/a/x", "r/b", "r/~", "r/é"]
    );
    assert_eq!(rev, 9);
    assert!(kvs.iter().all(|kv| kv.value == kv.key.as_bytes()));
    let all = s.range("", None, 0).expect("range").0;
    assert_eq!(
        keys(&all),
        ["q", "r/", "r/B", "r/a", "r/a/x", "r/b", "r/~", "r/é", "r0"]
    );
    assert_eq!(
        keys(&s.range("r/a", None, 0).expect("range").0),
        ["r/a", "r/a/x"]
    );
    assert_eq!(s.range("s", None, 0).expect("range").0, vec![]);
    assert_eq!(keys(&s.list("r/a/").expect("list")), ["r/a/x"]);
}

pub fn range_pages(s: &dyn Store) {
    let all: Vec<String> = (0..25).map(|i| format!("p/{i:03}")).collect();
    s.put("o", b"before".to_vec()).expect("put");
    for k in &all {
        s.put(k, b"v".to_vec()).expect("put");
    }
    s.put("pz", b"after".to_vec()).expect("put");

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (page, rev) = s.range("p/", after.as_deref(), 7).expect("range");
        assert_eq!(rev, 27);
        assert!(page.len() <= 7);
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        seen.extend(page.into_iter().map(|kv| kv.key));
    }
    assert_eq!(seen, all);

    let range = |after: Option<&str>, limit| {
        s.range("p/", after, limit)
            .expect("range")
            .0
            .into_iter()
            .map(|kv| kv.key)
            .collect::<Vec<_>>()
    };
    assert_eq!(range(None, 0), all, "limit 0 means no limit");
    assert_eq!(range(None, 100), all);
    assert_eq!(range(None, 1), ["p/000"]);
    // `start_after` need not be a key, nor under the prefix.
    assert_eq!(range(Some("p/0105"), 2), ["p/011", "p/012"]);
    assert_eq!(range(Some("a"), 1), ["p/000"]);
    assert_eq!(range(Some("p/"), 1), ["p/000"]);
    assert_eq!(range(Some("p/024"), 0), Vec::<String>::new());
    assert_eq!(range(Some("z"), 0), Vec::<String>::new());
}

pub fn ext_helpers(s: &dyn Store) {
    let r = s.create("c", b"1".to_vec()).expect("create");
    assert_eq!(r, Some(1));
    assert_eq!(s.create("c", b"2".to_vec()).expect("create"), None);
    assert_eq!(revision(s), 1, "a create that lost writes nothing");
    assert_eq!(s.update("c", 0, b"3".to_vec()).expect("update"), None);
    assert_eq!(s.update("c", 1, b"3".to_vec()).expect("update"), Some(2));
    assert_eq!(s.update("c", 1, b"4".to_vec()).expect("update"), None);
    assert_eq!(get(s, "c"), Some(kv("c", "3", 1, 2, 2)));
    // update with 0 creates, since 0 stands for missing.
    assert_eq!(s.update("n", 0, b"1".to_vec()).expect("update"), Some(3));
    assert!(s.delete("c").expect("delete"));
    assert!(!s.delete("c").expect("delete"));
    assert_eq!(revision(s), 4);
    assert_eq!(keys(&s.list("").expect("list")), ["n"]);
}

pub fn empty_keys_are_invalid(s: &dyn Store) {
    for t in [
        Txn {
            success: vec![put("", "v")],
            ..Default::default()
        },
        Txn {
            compares: vec![Compare::Exists("x".into())],
            success: vec![],
            failure: vec![Op::Delete { key: String::new() }],
        },
    ] {
        let e = s.txn(t.clone()).expect_err("an empty key is invalid");
        assert!(matches!(e, StoreError::Invalid(_)), "{t:?}: {e:?}");
        assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
    }
    assert_eq!(revision(s), 0);
}
