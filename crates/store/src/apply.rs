//! Transaction semantics shared by every embedded implementation: both
//! [`crate::RedbStore`] and [`crate::MemStore`] run a `Txn` through
//! [`execute`] against their own key table, so they cannot drift apart.

use crate::{Compare, Event, EventKind, KeyValue, Op, Revision, StoreError, Txn};

/// The current-keys table of a store, inside whatever transaction the
/// store runs `execute` in.
pub(crate) trait KeyTable {
    fn get(&mut self, key: &str) -> Result<Option<KeyValue>, StoreError>;
    /// Every current key starting with `prefix`, in byte order.
    fn with_prefix(&mut self, prefix: &str) -> Result<Vec<KeyValue>, StoreError>;
    fn put(&mut self, kv: &KeyValue) -> Result<(), StoreError>;
    fn remove(&mut self, key: &str) -> Result<(), StoreError>;
}

/// What a transaction did.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Whether the compares held.
    pub succeeded: bool,
    /// Changes made, all at the next revision; empty when the branch that
    /// ran wrote nothing, in which case the revision does not move.
    pub events: Vec<Event>,
}

/// Rejects malformed transactions before anything is touched, so that
/// applying the ops afterwards can only fail on storage errors.
pub(crate) fn validate(txn: &Txn) -> Result<(), StoreError> {
    for op in txn.success.iter().chain(&txn.failure) {
        match op {
            Op::Put { key, .. } | Op::Delete { key } if key.is_empty() => {
                return Err(StoreError::Invalid("empty key in a transaction op".into()));
            }
            _ => {}
        }
    }
    for c in &txn.compares {
        let (Compare::Exists(key)
        | Compare::Missing(key)
        | Compare::ModRevision(key, _)
        | Compare::Value(key, _)) = c;
        if key.is_empty() {
            return Err(StoreError::Invalid("empty key in a compare".into()));
        }
    }
    Ok(())
}

/// Evaluates the compares and applies the branch they select, stamping
/// every write with `revision` (the store's current revision plus one).
///
/// Ops run in order, each seeing the effect of the ones before it: a `Put`
/// after a `Put` of the same key in one transaction bumps `version` twice
/// and yields two events. etcd refuses such transactions, so portable
/// callers write each key at most once per transaction.
pub(crate) fn execute(
    table: &mut impl KeyTable,
    txn: &Txn,
    revision: Revision,
) -> Result<Outcome, StoreError> {
    let mut succeeded = true;
    for c in &txn.compares {
        if !holds(table, c)? {
            succeeded = false;
            break;
        }
    }
    let ops = if succeeded {
        &txn.success
    } else {
        &txn.failure
    };
    let mut events = Vec::new();
    for op in ops {
        match op {
            Op::Put { key, value } => {
                let prev = table.get(key)?;
                let kv = KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: prev.as_ref().map_or(revision, |p| p.create_revision),
                    mod_revision: revision,
                    version: prev.as_ref().map_or(1, |p| p.version + 1),
                };
                table.put(&kv)?;
                events.push(Event {
                    kind: EventKind::Put,
                    kv,
                    prev,
                });
            }
            Op::Delete { key } => {
                if let Some(prev) = table.get(key)? {
                    table.remove(key)?;
                    events.push(deletion(prev, revision));
                }
            }
            Op::DeletePrefix { prefix } => {
                for prev in table.with_prefix(prefix)? {
                    table.remove(&prev.key)?;
                    events.push(deletion(prev, revision));
                }
            }
        }
    }
    Ok(Outcome { succeeded, events })
}

fn holds(table: &mut impl KeyTable, c: &Compare) -> Result<bool, StoreError> {
    Ok(match c {
        Compare::Exists(key) => table.get(key)?.is_some(),
        Compare::Missing(key) => table.get(key)?.is_none(),
        Compare::ModRevision(key, rev) => table.get(key)?.map_or(0, |kv| kv.mod_revision) == *rev,
        Compare::Value(key, value) => table.get(key)?.is_some_and(|kv| kv.value == *value),
    })
}

/// A delete event as etcd shapes it: the key, no value, zero create
/// revision and version, and the delete's revision as `mod_revision`.
fn deletion(prev: KeyValue, revision: Revision) -> Event {
    Event {
        kind: EventKind::Delete,
        kv: KeyValue {
            key: prev.key.clone(),
            value: Vec::new(),
            create_revision: 0,
            mod_revision: revision,
            version: 0,
        },
        prev: Some(prev),
    }
}

/// Where automatic compaction moves the compacted revision after a commit
/// at `revision`, if it has to: history is kept for at most `keep`
/// revisions.
pub(crate) fn auto_compact_to(
    revision: Revision,
    compacted: Revision,
    keep: u64,
) -> Option<Revision> {
    let floor = revision.saturating_sub(keep);
    (floor > compacted).then_some(floor)
}

/// Whether a `compact(requested)` has anything to do; compacting to a
/// revision that is already compacted is a no-op, as retrying must be safe.
pub(crate) fn compaction_needed(
    requested: Revision,
    current: Revision,
    compacted: Revision,
) -> Result<bool, StoreError> {
    if requested > current {
        return Err(StoreError::Invalid(format!(
            "cannot compact to revision {requested}: the store is at revision {current}"
        )));
    }
    Ok(requested > compacted)
}

/// Whether a watch may start after revision `after`: it needs every event
/// above `after`, and those at or below `compacted` are gone.
pub(crate) fn check_watch_start(after: Revision, compacted: Revision) -> Result<(), StoreError> {
    if after < compacted {
        return Err(StoreError::Compacted {
            requested: after,
            oldest: compacted,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Default)]
    struct Map(BTreeMap<String, KeyValue>);

    impl KeyTable for Map {
        fn get(&mut self, key: &str) -> Result<Option<KeyValue>, StoreError> {
            Ok(self.0.get(key).cloned())
        }
        fn with_prefix(&mut self, prefix: &str) -> Result<Vec<KeyValue>, StoreError> {
            Ok(self
                .0
                .range::<str, _>((
                    std::ops::Bound::Included(prefix),
                    std::ops::Bound::Unbounded,
                ))
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(_, v)| v.clone())
                .collect())
        }
        fn put(&mut self, kv: &KeyValue) -> Result<(), StoreError> {
            self.0.insert(kv.key.clone(), kv.clone());
            Ok(())
        }
        fn remove(&mut self, key: &str) -> Result<(), StoreError> {
            self.0.remove(key);
            Ok(())
        }
    }

    fn put(key: &str, value: &str) -> Op {
        Op::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn same_key_twice_in_one_txn_applies_in_order() {
        let mut t = Map::default();
        let txn = Txn {
            success: vec![put("a", "1"), put("a", "2")],
            ..Default::default()
        };
        let out = execute(&mut t, &txn, 4).expect("in-memory table cannot fail");
        assert!(out.succeeded);
        assert_eq!(out.events.len(), 2);
        assert_eq!(out.events[1].prev.as_ref().map(|p| p.version), Some(1));
        let a = t.0.get("a").expect("written");
        assert_eq!((a.create_revision, a.mod_revision, a.version), (4, 4, 2));
        assert_eq!(a.value, b"2");
    }

    #[test]
    fn put_then_delete_prefix_in_one_txn_leaves_nothing() {
        let mut t = Map::default();
        let txn = Txn {
            success: vec![
                put("p/a", "1"),
                Op::DeletePrefix {
                    prefix: "p/".into(),
                },
            ],
            ..Default::default()
        };
        let out = execute(&mut t, &txn, 1).expect("in-memory table cannot fail");
        assert!(t.0.is_empty());
        let kinds: Vec<_> = out.events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventKind::Put, EventKind::Delete]);
    }

    #[test]
    fn empty_keys_are_invalid() {
        let bad = [
            Txn {
                success: vec![put("", "x")],
                ..Default::default()
            },
            Txn {
                failure: vec![Op::Delete { key: String::new() }],
                ..Default::default()
            },
            Txn {
                compares: vec![Compare::Value(String::new(), vec![])],
                ..Default::default()
            },
        ];
        for txn in &bad {
            assert!(
                matches!(validate(txn), Err(StoreError::Invalid(_))),
                "{txn:?}"
            );
        }
        // An empty prefix means every key, as in etcd.
        let all = Txn {
            success: vec![Op::DeletePrefix {
                prefix: String::new(),
            }],
            ..Default::default()
        };
        assert!(validate(&all).is_ok());
    }

    #[test]
    fn compaction_policy() {
        assert_eq!(auto_compact_to(10, 0, 100), None);
        assert_eq!(auto_compact_to(101, 0, 100), Some(1));
        assert_eq!(auto_compact_to(101, 1, 100), None);
        assert_eq!(auto_compact_to(7, 3, 0), Some(7));
        assert_eq!(auto_compact_to(u64::MAX, 0, u64::MAX), None);
        assert!(compaction_needed(5, 5, 0).expect("valid"));
        assert!(!compaction_needed(3, 5, 3).expect("valid"));
        assert!(!compaction_needed(2, 5, 3).expect("valid"));
        assert!(matches!(
            compaction_needed(6, 5, 0),
            Err(StoreError::Invalid(_))
        ));
        assert!(check_watch_start(3, 3).is_ok());
        assert!(matches!(
            check_watch_start(2, 3),
            Err(StoreError::Compacted {
                requested: 2,
                oldest: 3
            })
        ));
    }
}
