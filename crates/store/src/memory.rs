//! [`MemStore`]: the store in memory, for unit tests and the simulator.
//!
//! Same semantics as [`crate::RedbStore`] (both run transactions through
//! the same code) without the disk: nothing survives the process. It is
//! deterministic: given the same calls in the same order it returns the
//! same results, and it uses no clock, no randomness and no threads.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use crate::apply::{self, KeyTable};
use crate::watchers::Watchers;
use crate::{Event, KeyValue, Revision, Store, StoreError, StoreOptions, Txn, TxnResponse, Watch};

/// An in-memory [`Store`].
pub struct MemStore {
    options: StoreOptions,
    // One lock for everything: reads are cheap, and a single lock makes the
    // watch registration/commit ordering trivially right.
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    keys: Keys,
    /// Revision -> the events of that revision, above `compacted`.
    log: BTreeMap<Revision, Vec<Event>>,
    revision: Revision,
    compacted: Revision,
    watchers: Watchers,
}

#[derive(Default)]
struct Keys(BTreeMap<String, KeyValue>);

impl KeyTable for Keys {
    fn get(&mut self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        Ok(self.0.get(key).cloned())
    }
    fn with_prefix(&mut self, prefix: &str) -> Result<Vec<KeyValue>, StoreError> {
        Ok(self.range(prefix, None, 0))
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

impl Keys {
    fn range(&self, prefix: &str, start_after: Option<&str>, limit: usize) -> Vec<KeyValue> {
        let start = match start_after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let limit = if limit == 0 { usize::MAX } else { limit };
        self.0
            .range::<str, _>((start, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(_, kv)| kv.clone())
            .collect()
    }
}

impl Default for MemStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemStore {
    /// An empty store at revision 0 with the default options.
    pub fn new() -> Self {
        Self::with_options(StoreOptions::default())
    }

    pub fn with_options(options: StoreOptions) -> Self {
        Self {
            options,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        // A panic while holding the lock may have left a commit half
        // applied or half delivered; refusing service is the honest answer.
        self.state
            .lock()
            .map_err(|_| StoreError::Internal("memory store lock poisoned by a panic".into()))
    }
}

impl Store for MemStore {
    fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        Ok(self.lock()?.keys.0.get(key).cloned())
    }

    fn range(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<KeyValue>, Revision), StoreError> {
        let state = self.lock()?;
        Ok((state.keys.range(prefix, start_after, limit), state.revision))
    }

    fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        apply::validate(&txn)?;
        let mut guard = self.lock()?;
        let state = &mut *guard;
        let next = state.revision + 1;
        // The key table cannot fail, so there is no partial application to
        // undo: `execute` either returns every change or none was made.
        let outcome = apply::execute(&mut state.keys, &txn, next)?;
        if outcome.events.is_empty() {
            return Ok(TxnResponse {
                succeeded: outcome.succeeded,
                revision: state.revision,
            });
        }
        state.revision = next;
        state.watchers.notify(&outcome.events);
        state.log.insert(next, outcome.events);
        if let Some(to) = apply::auto_compact_to(next, state.compacted, self.options.history) {
            state.compact_log(to);
        }
        Ok(TxnResponse {
            succeeded: outcome.succeeded,
            revision: next,
        })
    }

    fn watch(&self, prefix: &str, after: Revision) -> Result<Watch, StoreError> {
        let mut guard = self.lock()?;
        let state = &mut *guard;
        apply::check_watch_start(after, state.compacted)?;
        let history = state
            .log
            .range((Bound::Excluded(after), Bound::Unbounded))
            .flat_map(|(_, events)| events.iter().cloned());
        Ok(state.watchers.add(prefix, after, history))
    }

    fn revision(&self) -> Result<Revision, StoreError> {
        Ok(self.lock()?.revision)
    }

    fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        if apply::compaction_needed(revision, state.revision, state.compacted)? {
            state.compact_log(revision);
        }
        Ok(())
    }
}

impl State {
    fn compact_log(&mut self, to: Revision) {
        self.log = self.log.split_off(&(to + 1));
        self.compacted = to;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreExt;

    fn new_store() -> Box<dyn Store> {
        Box::new(MemStore::new())
    }

    mod conformance {
        crate::conformance_tests!(super::new_store);
    }

    #[test]
    fn run_all_runs_every_property() {
        crate::conformance::run_all(&new_store);
    }

    #[test]
    fn automatic_compaction_keeps_the_last_n_revisions() {
        let s = MemStore::with_options(StoreOptions { history: 5 });
        for i in 0..20u8 {
            s.put("k", vec![i]).expect("memory put");
        }
        let state = s.lock().expect("not poisoned");
        assert_eq!(state.compacted, 15);
        assert_eq!(
            state.log.keys().copied().collect::<Vec<_>>(),
            [16, 17, 18, 19, 20]
        );
        drop(state);
        assert!(matches!(
            s.watch("", 14),
            Err(StoreError::Compacted {
                requested: 14,
                oldest: 15
            })
        ));
        let mut w = s.watch("", 15).expect("within history");
        let revs: Vec<_> = std::iter::from_fn(|| w.try_recv().ok())
            .map(|e| e.expect("event").kv.mod_revision)
            .collect();
        assert_eq!(revs, [16, 17, 18, 19, 20]);
    }

    #[test]
    fn same_calls_same_results() {
        let run = || {
            let s = MemStore::new();
            let mut out = Vec::new();
            for i in 0..50u64 {
                let key = format!("k/{}", (i * 7) % 11);
                out.push(format!("{:?}", s.put(&key, i.to_le_bytes().to_vec())));
                if i % 3 == 0 {
                    out.push(format!("{:?}", s.delete(&format!("k/{}", i % 5))));
                }
            }
            out.push(format!("{:?}", s.range("k/", None, 0)));
            out
        };
        assert_eq!(run(), run());
    }
}
