//! [`RedbStore`]: the store in one redb file on local disk.
//!
//! Three tables:
//! - `keys`: key -> (create revision, mod revision, version, value) for
//!   every current key;
//! - `log`: revision -> every event of that revision, above the compacted
//!   revision, so that a watch can start from an old revision;
//! - `meta`: the current and the compacted revision.
//!
//! Every writing `txn` is one redb write transaction committed with
//! [`Durability::Immediate`] (fsync) before it returns, so an acknowledged
//! write survives kill -9 and power loss. Transactions that change nothing
//! are aborted instead, so they cost no disk write. Reads run in redb read
//! transactions (MVCC snapshots) and never wait for writers.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, Table, TableDefinition, TableHandle,
    WriteTransaction,
};

use crate::apply::{self, KeyTable, Outcome};
use crate::codec;
use crate::watchers::Watchers;
use crate::{KeyValue, Revision, Store, StoreError, StoreOptions, Txn, TxnResponse, Watch};

const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("keys");
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const META_REVISION: &str = "revision";
const META_COMPACTED: &str = "compacted";

/// Page cache redb may use; its own default (1 GiB) is sized for a
/// dedicated database server, not one component of a node.
const CACHE_BYTES: usize = 64 << 20;

/// A [`Store`] in a redb file.
pub struct RedbStore {
    db: Database,
    path: PathBuf,
    options: StoreOptions,
    /// Serialises commits, compaction and watch registration (see
    /// [`Watchers`] for why registration must share it).
    writer: Mutex<Writer>,
}

struct Writer {
    watchers: Watchers,
    /// Set when a commit failed: redb then refuses further writes until
    /// the file is reopened, and the failed commit may or may not have
    /// become durable, so watches can no longer be told the truth.
    broken: Option<String>,
}

impl RedbStore {
    /// Opens the store at `path`, creating the file if it does not exist
    /// (its directory must). After a crash redb repairs the file on open,
    /// which reads the whole file. Only one process may have a store open;
    /// a second `open` fails with `Unavailable`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, StoreOptions::default())
    }

    pub fn open_with(path: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Unavailable(format!(
                    "store {} is already open in another process or handle",
                    path.display()
                )),
                e => db_error(path, "open", e),
            })?;
        let store = Self {
            db,
            path: path.to_owned(),
            options,
            writer: Mutex::new(Writer {
                watchers: Watchers::default(),
                broken: None,
            }),
        };
        // Creating the tables up front lets every read transaction assume
        // they exist.
        let wtxn = store.begin_write()?;
        {
            store.table(&wtxn, KEYS)?;
            store.table(&wtxn, LOG)?;
            store.table(&wtxn, META)?;
        }
        wtxn.commit().map_err(|e| store.err("create tables", e))?;
        Ok(store)
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, what: &str, e: impl Into<redb::Error>) -> StoreError {
        db_error(&self.path, what, e)
    }

    fn lock_writer(&self) -> Result<MutexGuard<'_, Writer>, StoreError> {
        let w = self.writer.lock().map_err(|_| {
            StoreError::Internal(format!(
                "store {}: writer lock poisoned by a panic",
                self.path.display()
            ))
        })?;
        if let Some(reason) = &w.broken {
            return Err(StoreError::Unavailable(format!(
                "store {} must be reopened: {reason}",
                self.path.display()
            )));
        }
        Ok(w)
    }

    fn begin_write(&self) -> Result<WriteTransaction, StoreError> {
        let mut wtxn = self
            .db
            .begin_write()
            .map_err(|e| self.err("begin write", e))?;
        // Immediate is redb's default; setting it says that the fsync on
        // commit is what `Store::txn`'s durability promise rests on.
        wtxn.set_durability(Durability::Immediate)
            .map_err(|e| self.err("set durability", e))?;
        Ok(wtxn)
    }

    fn table<'t, K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        wtxn: &'t WriteTransaction,
        def: TableDefinition<K, V>,
    ) -> Result<Table<'t, K, V>, StoreError> {
        wtxn.open_table(def)
            .map_err(|e| self.err(&format!("open table {}", def.name()), e))
    }

    /// Commits, or marks the store broken and ends every watch: after a
    /// failed commit redb accepts no more writes and the commit's changes
    /// may or may not be on disk.
    fn commit(&self, w: &mut Writer, wtxn: WriteTransaction, what: &str) -> Result<(), StoreError> {
        wtxn.commit().map_err(|e| {
            let reason = format!("{what} commit failed: {e}");
            let err = StoreError::Unavailable(format!("store {}: {reason}", self.path.display()));
            let path = self.path.display().to_string();
            let why = reason.clone();
            w.watchers.fail_all(|| {
                StoreError::Unavailable(format!("store {path} must be reopened: {why}"))
            });
            w.broken = Some(reason);
            err
        })
    }

    /// Runs `txn` inside `wtxn`; returns what it did and the revision it
    /// did it at (the current revision when nothing changed).
    fn write(&self, wtxn: &WriteTransaction, txn: &Txn) -> Result<(Outcome, Revision), StoreError> {
        let mut meta = self.table(wtxn, META)?;
        let current = self.meta(&meta, META_REVISION)?;
        let next = current + 1;
        let outcome = {
            let mut keys = RedbKeys {
                store: self,
                table: self.table(wtxn, KEYS)?,
            };
            apply::execute(&mut keys, txn, next)?
        };
        if outcome.events.is_empty() {
            return Ok((outcome, current));
        }
        let mut log = self.table(wtxn, LOG)?;
        log.insert(next, codec::encode_events(&outcome.events).as_slice())
            .map_err(|e| self.err(&format!("append revision {next} to the log"), e))?;
        meta.insert(META_REVISION, next)
            .map_err(|e| self.err("store the revision", e))?;
        let compacted = self.meta(&meta, META_COMPACTED)?;
        if let Some(to) = apply::auto_compact_to(next, compacted, self.options.history) {
            self.compact_in(&mut log, &mut meta, to)?;
        }
        Ok((outcome, next))
    }

    fn compact_in(
        &self,
        log: &mut Table<'_, u64, &[u8]>,
        meta: &mut Table<'_, &str, u64>,
        to: Revision,
    ) -> Result<(), StoreError> {
        log.retain_in(..=to, |_, _| false)
            .map_err(|e| self.err(&format!("compact the log to revision {to}"), e))?;
        meta.insert(META_COMPACTED, to)
            .map_err(|e| self.err("store the compacted revision", e))?;
        Ok(())
    }

    fn meta(
        &self,
        meta: &impl ReadableTable<&'static str, u64>,
        name: &str,
    ) -> Result<u64, StoreError> {
        Ok(meta
            .get(name)
            .map_err(|e| self.err(&format!("read meta {name}"), e))?
            .map_or(0, |v| v.value()))
    }

    fn decode(&self, key: &str, bytes: &[u8]) -> Result<KeyValue, StoreError> {
        codec::decode_record(key, bytes).map_err(|e| {
            StoreError::Internal(format!("store {}: key {key:?}: {e}", self.path.display()))
        })
    }
}

/// The `keys` table inside a write transaction.
struct RedbKeys<'s, 't> {
    store: &'s RedbStore,
    table: Table<'t, &'static str, &'static [u8]>,
}

impl KeyTable for RedbKeys<'_, '_> {
    fn get(&mut self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let found = self
            .table
            .get(key)
            .map_err(|e| self.store.err(&format!("read key {key:?}"), e))?;
        found.map(|v| self.store.decode(key, v.value())).transpose()
    }

    fn with_prefix(&mut self, prefix: &str) -> Result<Vec<KeyValue>, StoreError> {
        range_table(self.store, &self.table, prefix, None, 0)
    }

    fn put(&mut self, kv: &KeyValue) -> Result<(), StoreError> {
        self.table
            .insert(kv.key.as_str(), codec::encode_record(kv).as_slice())
            .map_err(|e| self.store.err(&format!("write key {:?}", kv.key), e))?;
        Ok(())
    }

    fn remove(&mut self, key: &str) -> Result<(), StoreError> {
        self.table
            .remove(key)
            .map_err(|e| self.store.err(&format!("delete key {key:?}"), e))?;
        Ok(())
    }
}

/// Keys starting with `prefix`, after `start_after`, at most `limit` (0 =
/// all), in byte order (redb orders `&str` keys by their bytes).
fn range_table(
    store: &RedbStore,
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    prefix: &str,
    start_after: Option<&str>,
    limit: usize,
) -> Result<Vec<KeyValue>, StoreError> {
    use std::ops::Bound;
    let start = match start_after {
        Some(after) if after >= prefix => Bound::Excluded(after),
        _ => Bound::Included(prefix),
    };
    let limit = if limit == 0 { usize::MAX } else { limit };
    let what = || format!("range over prefix {prefix:?}");
    let iter = table
        .range::<&str>((start, Bound::Unbounded))
        .map_err(|e| store.err(&what(), e))?;
    let mut out = Vec::new();
    for entry in iter {
        let (k, v) = entry.map_err(|e| store.err(&what(), e))?;
        let key = k.value();
        if !key.starts_with(prefix) || out.len() == limit {
            break;
        }
        out.push(store.decode(key, v.value())?);
    }
    Ok(out)
}

impl Store for RedbStore {
    fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let rtxn = self
            .db
            .begin_read()
            .map_err(|e| self.err("begin read", e))?;
        let table = rtxn
            .open_table(KEYS)
            .map_err(|e| self.err("open table keys", e))?;
        let found = table
            .get(key)
            .map_err(|e| self.err(&format!("read key {key:?}"), e))?;
        found.map(|v| self.decode(key, v.value())).transpose()
    }

    fn range(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<KeyValue>, Revision), StoreError> {
        let rtxn = self
            .db
            .begin_read()
            .map_err(|e| self.err("begin read", e))?;
        let keys = rtxn
            .open_table(KEYS)
            .map_err(|e| self.err("open table keys", e))?;
        let meta = rtxn
            .open_table(META)
            .map_err(|e| self.err("open table meta", e))?;
        // Both from one snapshot, so the revision is the one the keys are at.
        let kvs = range_table(self, &keys, prefix, start_after, limit)?;
        Ok((kvs, self.meta(&meta, META_REVISION)?))
    }

    fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        apply::validate(&txn)?;
        let mut w = self.lock_writer()?;
        let wtxn = self.begin_write()?;
        let (outcome, revision) = match self.write(&wtxn, &txn) {
            Ok(done) => done,
            Err(e) => {
                drop(wtxn); // rolls back
                return Err(e);
            }
        };
        if outcome.events.is_empty() {
            wtxn.abort()
                .map_err(|e| self.err("abort a read-only transaction", e))?;
        } else {
            self.commit(&mut w, wtxn, &format!("revision {revision}"))?;
            w.watchers.notify(&outcome.events);
        }
        Ok(TxnResponse {
            succeeded: outcome.succeeded,
            revision,
        })
    }

    fn watch(&self, prefix: &str, after: Revision) -> Result<Watch, StoreError> {
        // Holding the writer lock while reading history and registering:
        // no commit can land between the end of the replay and the start
        // of live delivery.
        let mut w = self.lock_writer()?;
        let rtxn = self
            .db
            .begin_read()
            .map_err(|e| self.err("begin read", e))?;
        let meta = rtxn
            .open_table(META)
            .map_err(|e| self.err("open table meta", e))?;
        apply::check_watch_start(after, self.meta(&meta, META_COMPACTED)?)?;
        let log = rtxn
            .open_table(LOG)
            .map_err(|e| self.err("open table log", e))?;
        let what = || format!("replay the log after revision {after}");
        let mut history = Vec::new();
        let start = after.saturating_add(1);
        for entry in log.range(start..).map_err(|e| self.err(&what(), e))? {
            let (rev, events) = entry.map_err(|e| self.err(&what(), e))?;
            let events = codec::decode_events(events.value()).map_err(|e| {
                StoreError::Internal(format!(
                    "store {}: log entry {}: {e}",
                    self.path.display(),
                    rev.value()
                ))
            })?;
            history.extend(events.into_iter().filter(|e| e.kv.key.starts_with(prefix)));
        }
        Ok(w.watchers.add(prefix, after, history))
    }

    fn revision(&self) -> Result<Revision, StoreError> {
        let rtxn = self
            .db
            .begin_read()
            .map_err(|e| self.err("begin read", e))?;
        let meta = rtxn
            .open_table(META)
            .map_err(|e| self.err("open table meta", e))?;
        self.meta(&meta, META_REVISION)
    }

    fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let mut w = self.lock_writer()?;
        let wtxn = self.begin_write()?;
        let needed = {
            let mut meta = self.table(&wtxn, META)?;
            let current = self.meta(&meta, META_REVISION)?;
            let compacted = self.meta(&meta, META_COMPACTED)?;
            let needed = apply::compaction_needed(revision, current, compacted)?;
            if needed {
                let mut log = self.table(&wtxn, LOG)?;
                self.compact_in(&mut log, &mut meta, revision)?;
            }
            needed
        };
        if needed {
            self.commit(&mut w, wtxn, &format!("compaction to revision {revision}"))
        } else {
            wtxn.abort()
                .map_err(|e| self.err("abort a no-op compaction", e))
        }
    }
}

/// I/O failures mean the disk is unavailable; anything else from redb
/// (corruption, a full value, a bug) is internal.
fn db_error(path: &Path, what: &str, e: impl Into<redb::Error>) -> StoreError {
    let e: redb::Error = e.into();
    let msg = format!("store {}: {what}: {e}", path.display());
    match e {
        redb::Error::Io(_) => StoreError::Unavailable(msg),
        _ => StoreError::Internal(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, StoreExt};

    /// A store in a temporary directory that goes away with it.
    struct TempRedb {
        store: RedbStore,
        _dir: tempfile::TempDir,
    }

    impl Store for TempRedb {
        fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
            self.store.get(key)
        }
        fn range(
            &self,
            prefix: &str,
            start_after: Option<&str>,
            limit: usize,
        ) -> Result<(Vec<KeyValue>, Revision), StoreError> {
            self.store.range(prefix, start_after, limit)
        }
        fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
            self.store.txn(txn)
        }
        fn watch(&self, prefix: &str, after: Revision) -> Result<Watch, StoreError> {
            self.store.watch(prefix, after)
        }
        fn revision(&self) -> Result<Revision, StoreError> {
            self.store.revision()
        }
        fn compact(&self, revision: Revision) -> Result<(), StoreError> {
            self.store.compact(revision)
        }
    }

    fn temp_store() -> Box<dyn Store> {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = RedbStore::open(&dir.path().join("store.redb")).expect("open");
        Box::new(TempRedb { store, _dir: dir })
    }

    mod conformance {
        crate::conformance_tests!(super::temp_store);
    }

    fn drain(w: &mut Watch) -> Vec<Event> {
        std::iter::from_fn(|| w.try_recv().ok())
            .map(|e| e.expect("no error"))
            .collect()
    }

    #[test]
    fn reopening_keeps_keys_revision_history_and_compaction() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.redb");
        {
            let s = RedbStore::open(&path).expect("open");
            for i in 1..=4u8 {
                s.put(&format!("k/{i}"), vec![i]).expect("put");
            }
            s.delete("k/1").expect("delete");
            s.compact(2).expect("compact");
        }
        let s = RedbStore::open(&path).expect("reopen");
        assert_eq!(s.path(), path);
        assert_eq!(s.revision().expect("revision"), 5);
        let (kvs, rev) = s.range("k/", None, 0).expect("range");
        assert_eq!(rev, 5);
        assert_eq!(
            kvs.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(),
            ["k/2", "k/3", "k/4"]
        );
        assert!(matches!(
            s.watch("", 1),
            Err(StoreError::Compacted {
                requested: 1,
                oldest: 2
            })
        ));
        let mut w = s.watch("", 2).expect("watch");
        let revs: Vec<_> = drain(&mut w).iter().map(|e| e.kv.mod_revision).collect();
        assert_eq!(revs, [3, 4, 5]);
        // The counter carries on from where it was.
        assert_eq!(s.put("k/5", vec![5]).expect("put"), 6);
        assert_eq!(drain(&mut w).len(), 1);
    }

    #[test]
    fn a_second_open_is_unavailable() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.redb");
        let _first = RedbStore::open(&path).expect("open");
        let Err(e) = RedbStore::open(&path) else {
            panic!("a second open of {} succeeded", path.display());
        };
        assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
        assert!(e.to_string().contains("store.redb"), "{e}");
    }

    #[test]
    fn open_in_a_missing_directory_names_the_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("no/such/dir/store.redb");
        let Err(e) = RedbStore::open(&path) else {
            panic!("opened {}", path.display());
        };
        assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
        assert!(e.to_string().contains("no/such/dir"), "{e}");
    }

    #[test]
    fn automatic_compaction_keeps_the_last_n_revisions() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.redb");
        let s = RedbStore::open_with(&path, StoreOptions { history: 5 }).expect("open");
        for i in 0..20u8 {
            s.put("k", vec![i]).expect("put");
        }
        let log: Vec<u64> = {
            let rtxn = s.db.begin_read().expect("read");
            let log = rtxn.open_table(LOG).expect("log table");
            log.range(0..)
                .expect("range")
                .map(|e| e.expect("entry").0.value())
                .collect()
        };
        assert_eq!(log, [16, 17, 18, 19, 20]);
        assert!(matches!(
            s.watch("", 14),
            Err(StoreError::Compacted {
                requested: 14,
                oldest: 15
            })
        ));
        let mut w = s.watch("", 15).expect("within history");
        let revs: Vec<_> = drain(&mut w).iter().map(|e| e.kv.mod_revision).collect();
        assert_eq!(revs, [16, 17, 18, 19, 20]);
    }

    #[test]
    fn a_corrupt_record_is_an_internal_error_naming_the_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        let s = RedbStore::open(&dir.path().join("store.redb")).expect("open");
        s.put("fine", b"v".to_vec()).expect("put");
        let wtxn = s.db.begin_write().expect("write");
        {
            let mut keys = wtxn.open_table(KEYS).expect("keys table");
            keys.insert("bad", [7u8, 1, 2].as_slice()).expect("insert");
        }
        wtxn.commit().expect("commit");
        let e = s.get("bad").expect_err("corrupt");
        assert!(matches!(e, StoreError::Internal(_)), "{e:?}");
        assert!(e.to_string().contains("\"bad\""), "{e}");
        assert!(s.range("", None, 0).is_err());
        assert!(s.get("fine").expect("get").is_some());
    }
}
