//! The cluster state store: revisioned keys, compare-and-swap transactions,
//! range by prefix and watch from a revision, modelled on etcd's v3 API so
//! that an etcd implementation can replace the embedded one when several
//! servers share state.
//!
//! Lifecycle of a key: created by a `Put` (its `create_revision` and
//! `mod_revision` are the store revision of that transaction, `version` 1),
//! changed by later `Put`s (`mod_revision` moves, `version` counts up),
//! removed by `Delete`. Every successful transaction that writes anything
//! increments the store's single revision counter by one; all its writes
//! share that revision. A transaction whose compares fail runs its
//! `failure` ops instead (which may be empty).
//!
//! Durability: a transaction that returned `Ok` survives a crash of the
//! process (kill -9) and of the machine.
//!
//! Implementations: [`RedbStore`] (a file on local disk, the production
//! store of a single server) and [`MemStore`] (in memory, deterministic, for
//! tests and the simulator). [`conformance`] is the test suite every
//! implementation must pass.

mod apply;
mod codec;
pub mod conformance;
pub mod embedded;
pub mod memory;
mod watchers;

pub use embedded::RedbStore;
pub use memory::MemStore;

pub use dockyard_types::ErrorKind;

/// A store revision: a logical clock over all writes.
pub type Revision = u64;

/// A stored key with its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// Revision of the write that created the key (since its last delete).
    pub create_revision: Revision,
    /// Revision of the last write to the key.
    pub mod_revision: Revision,
    /// Number of writes since creation (1 after the first put).
    pub version: u64,
}

/// A condition a transaction checks before it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compare {
    /// The key exists.
    Exists(String),
    /// The key does not exist.
    Missing(String),
    /// The key's `mod_revision` equals this (0 means the key is missing).
    ModRevision(String, Revision),
    /// The key's value equals this.
    Value(String, Vec<u8>),
}

/// A write in a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put {
        key: String,
        value: Vec<u8>,
    },
    Delete {
        key: String,
    },
    /// Deletes every key starting with the prefix.
    DeletePrefix {
        prefix: String,
    },
}

/// An atomic compare-then-write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    pub compares: Vec<Compare>,
    pub success: Vec<Op>,
    pub failure: Vec<Op>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnResponse {
    /// Whether every compare held (and so `success` ran).
    pub succeeded: bool,
    /// The store revision after the transaction.
    pub revision: Revision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// For a put, the new key-value; for a delete, the key with an empty
    /// value and `mod_revision` set to the revision of the delete
    /// (`create_revision` and `version` 0, as in etcd).
    pub kv: KeyValue,
    /// The key-value before the change, if there was one.
    pub prev: Option<KeyValue>,
}

/// A stream of changes under a prefix, in revision order, starting after
/// the revision the watch was asked for.
pub type Watch = tokio::sync::mpsc::UnboundedReceiver<Result<Event, StoreError>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The requested revision is older than what the store keeps history for.
    #[error("revision {requested} has been compacted; the oldest kept is {oldest}")]
    Compacted {
        requested: Revision,
        oldest: Revision,
    },
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store failure: {0}")]
    Internal(String),
}

impl StoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Compacted { .. } | Self::Invalid(_) => ErrorKind::InvalidArgument,
            Self::Unavailable(_) => ErrorKind::Unavailable,
            Self::Internal(_) => ErrorKind::Internal,
        }
    }
}

/// How many revisions of history the embedded stores keep by default.
pub const DEFAULT_HISTORY: u64 = 100_000;

/// Settings of the embedded stores ([`RedbStore`], [`MemStore`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Automatic compaction: after each write the store forgets history
    /// older than this many revisions, as if `compact(revision - history)`
    /// had been called, so the event log stays bounded without anyone
    /// calling `compact`. A watch must start at most this many revisions
    /// back. `u64::MAX` keeps everything.
    pub history: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            history: DEFAULT_HISTORY,
        }
    }
}

/// What every state store implementation provides.
///
/// Every call is safe from many threads at once. Transactions are
/// serialisable: each sees the effects of all transactions that returned
/// before it started. A watch delivers each revision's events exactly once
/// and in revision order (within a revision, in the order of the ops); the
/// stream ends when the store is dropped, and carries an `Err` before it
/// ends if the store can no longer deliver every change.
pub trait Store: Send + Sync + 'static {
    /// One key, or `None`.
    fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError>;
    /// Keys starting with `prefix`, in byte order, after `start_after` if
    /// given, at most `limit` (0 = no limit); with the store revision the
    /// read saw.
    fn range(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<KeyValue>, Revision), StoreError>;
    /// Runs a transaction atomically.
    ///
    /// A transaction that changes nothing (compares only, an empty branch,
    /// or deleting keys that do not exist) does not move the revision and
    /// returns the current one, as in etcd. A key may be empty only as a
    /// `DeletePrefix` prefix (meaning every key); otherwise `Invalid`.
    fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError>;
    /// Changes to keys under `prefix` with revision greater than `after`.
    /// Fails with `Compacted` when that history is gone.
    ///
    /// `after` = 0 replays all history (so fails once anything has been
    /// compacted); the usual call passes the revision a `range` returned.
    fn watch(&self, prefix: &str, after: Revision) -> Result<Watch, StoreError>;
    /// The current store revision.
    fn revision(&self) -> Result<Revision, StoreError>;
    /// Forgets history (for watches) at and before `revision`. Compacting
    /// to a revision already compacted is a no-op; to a revision above the
    /// current one, `Invalid`. Current keys are never affected.
    fn compact(&self, revision: Revision) -> Result<(), StoreError>;
}

/// Conveniences every store gets.
pub trait StoreExt: Store {
    /// Writes unconditionally; returns the new revision.
    fn put(&self, key: &str, value: Vec<u8>) -> Result<Revision, StoreError> {
        let r = self.txn(Txn {
            success: vec![Op::Put {
                key: key.into(),
                value,
            }],
            ..Default::default()
        })?;
        Ok(r.revision)
    }
    /// Creates a key only if it is missing; `Ok(None)` if it exists.
    fn create(&self, key: &str, value: Vec<u8>) -> Result<Option<Revision>, StoreError> {
        let r = self.txn(Txn {
            compares: vec![Compare::Missing(key.into())],
            success: vec![Op::Put {
                key: key.into(),
                value,
            }],
            failure: vec![],
        })?;
        Ok(r.succeeded.then_some(r.revision))
    }
    /// Replaces a key only if it is still at `mod_revision`; `Ok(None)` if
    /// someone else changed it.
    fn update(
        &self,
        key: &str,
        mod_revision: Revision,
        value: Vec<u8>,
    ) -> Result<Option<Revision>, StoreError> {
        let r = self.txn(Txn {
            compares: vec![Compare::ModRevision(key.into(), mod_revision)],
            success: vec![Op::Put {
                key: key.into(),
                value,
            }],
            failure: vec![],
        })?;
        Ok(r.succeeded.then_some(r.revision))
    }
    /// Deletes a key unconditionally; returns whether it existed.
    fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let r = self.txn(Txn {
            compares: vec![Compare::Exists(key.into())],
            success: vec![Op::Delete { key: key.into() }],
            failure: vec![],
        })?;
        Ok(r.succeeded)
    }
    /// Every key under a prefix.
    fn list(&self, prefix: &str) -> Result<Vec<KeyValue>, StoreError> {
        Ok(self.range(prefix, None, 0)?.0)
    }
}

impl<S: Store + ?Sized> StoreExt for S {}
