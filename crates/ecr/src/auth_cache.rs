//! What the registry's auth hook needs of each repository (whether it
//! exists, its parsed policy), cached so that a pull does not read and
//! decode the repository's records and parse its policy every request.
//!
//! Kept fresh by watching the store: a follower thread per prefix
//! (`registry/catalog/`, `ecr/repos/`) evicts a repository on any change to
//! its records. Until the watches are up (and again after one breaks) the
//! cache is bypassed.
//!
//! This process's own writes are read back at once: the store ECR and its
//! registry use is wrapped ([`Tracked`]) to note the revision of every
//! write under the two prefixes, and the cache is bypassed until its
//! followers have applied that revision. So a SetRepositoryPolicy is in
//! force for the next pull; only another server's writes (several servers
//! are still to come) would be seen eventually.
//!
//! A reader that loads a repository while a change to it is being applied
//! could otherwise cache the old value after its eviction; every eviction
//! bumps an epoch, and a load is cached only if no eviction happened while
//! it read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use dockyard_aws::ApiError;
use dockyard_registry::keys as registry_keys;
use dockyard_store::{KeyValue, Op, Revision, Store, StoreError, Txn, TxnResponse, Watch};

use crate::meta;
use crate::policy::RepoPolicy;

/// The ECR records' prefix (`meta::key` of a name is this plus the name).
const META_PREFIX: &str = "ecr/repos/";

/// A repository as the auth hook sees it; `None` means it does not exist.
pub(crate) type RepoAuth = Option<Arc<RepoPolicy>>;

const PREFIXES: [&str; 2] = [registry_keys::CATALOG, META_PREFIX];

pub(crate) struct RepoCache {
    map: RwLock<HashMap<String, RepoAuth>>,
    epoch: AtomicU64,
    /// Both watches are up: the cache may be used.
    live: [AtomicBool; 2],
    /// Per prefix: the last revision its follower applied, and the last
    /// revision this process wrote under it.
    applied: [AtomicU64; 2],
    written: Arc<[AtomicU64; 2]>,
}

/// The store as ECR and its registry use it: every write under the cached
/// prefixes notes its revision, for [`RepoCache`]'s read-your-writes.
pub(crate) struct Tracked {
    inner: Arc<dyn Store>,
    written: Arc<[AtomicU64; 2]>,
}

impl Tracked {
    pub(crate) fn wrap(inner: Arc<dyn Store>, cache: &RepoCache) -> Arc<dyn Store> {
        Arc::new(Self {
            inner,
            written: cache.written.clone(),
        })
    }
}

fn touches(op: &Op, prefix: &str) -> bool {
    match op {
        Op::Put { key, .. } | Op::Delete { key } => key.starts_with(prefix),
        Op::DeletePrefix { prefix: p } => p.starts_with(prefix) || prefix.starts_with(p.as_str()),
    }
}

impl Store for Tracked {
    fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        self.inner.get(key)
    }
    fn range(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<KeyValue>, Revision), StoreError> {
        self.inner.range(prefix, start_after, limit)
    }
    fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        let hits: Vec<bool> = PREFIXES
            .iter()
            .map(|p| {
                txn.success
                    .iter()
                    .chain(&txn.failure)
                    .any(|op| touches(op, p))
            })
            .collect();
        let r = self.inner.txn(txn)?;
        for (slot, hit) in hits.into_iter().enumerate() {
            if hit {
                self.written[slot].fetch_max(r.revision, Ordering::AcqRel);
            }
        }
        Ok(r)
    }
    fn watch(&self, prefix: &str, after: Revision) -> Result<Watch, StoreError> {
        self.inner.watch(prefix, after)
    }
    fn revision(&self) -> Result<Revision, StoreError> {
        self.inner.revision()
    }
    fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.inner.compact(revision)
    }
}

impl RepoCache {
    /// A cache over `store`, with its followers started.
    pub(crate) fn start(store: &Arc<dyn Store>) -> Arc<Self> {
        let cache = Arc::new(Self {
            map: RwLock::new(HashMap::new()),
            epoch: AtomicU64::new(0),
            live: [AtomicBool::new(false), AtomicBool::new(false)],
            applied: [AtomicU64::new(0), AtomicU64::new(0)],
            written: Arc::new([AtomicU64::new(0), AtomicU64::new(0)]),
        });
        for (slot, prefix) in PREFIXES.into_iter().enumerate() {
            let (c, s) = (Arc::downgrade(&cache), Arc::downgrade(store));
            let spawned = std::thread::Builder::new()
                .name("ecr-auth-cache".into())
                .spawn(move || follow(c, s, slot, prefix));
            if let Err(e) = spawned {
                tracing::warn!("ECR auth cache disabled: {e}");
            }
        }
        cache
    }

    /// The cache may answer: both followers are watching and have applied
    /// every write this process made under their prefixes.
    fn live(&self) -> bool {
        (0..2).all(|i| {
            self.live[i].load(Ordering::Acquire)
                && self.applied[i].load(Ordering::Acquire)
                    >= self.written[i].load(Ordering::Acquire)
        })
    }

    fn evict(&self, name: Option<&str>) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        match name {
            Some(n) => {
                map.remove(n);
            }
            None => map.clear(),
        }
    }

    /// The repository's auth facts, from the cache or the store.
    pub(crate) fn get(&self, store: &dyn Store, name: &str) -> Result<RepoAuth, ApiError> {
        let live = self.live();
        if live && let Some(hit) = self.map.read().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Ok(hit.clone());
        }
        let before = self.epoch.load(Ordering::Acquire);
        let loaded: RepoAuth = meta::load(store, name)?.map(|(m, _)| Arc::new(RepoPolicy::of(&m)));
        if live {
            let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
            if self.epoch.load(Ordering::Acquire) == before {
                map.insert(name.to_string(), loaded.clone());
            }
        }
        Ok(loaded)
    }
}

/// Applies the store's changes under `prefix` to the cache until either is
/// gone; starts over (clearing the cache) when the watch breaks.
fn follow(cache: Weak<RepoCache>, store: Weak<dyn Store>, slot: usize, prefix: &'static str) {
    loop {
        let (Some(c), Some(s)) = (cache.upgrade(), store.upgrade()) else {
            return;
        };
        let watch = s
            .revision()
            .and_then(|rev| Ok((rev, s.watch(prefix, rev)?)));
        drop(s);
        let mut watch = match watch {
            Ok((rev, w)) => {
                c.applied[slot].fetch_max(rev, Ordering::AcqRel);
                w
            }
            Err(e) => {
                tracing::warn!("ECR auth cache: {e}; retrying");
                drop(c);
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        };
        // Whatever changed before the watch began is not in the cache.
        c.evict(None);
        c.live[slot].store(true, Ordering::Release);
        drop(c);
        loop {
            let event = watch.blocking_recv();
            let Some(c) = cache.upgrade() else { return };
            match event {
                None => {
                    c.live[slot].store(false, Ordering::Release);
                    return;
                }
                Some(Err(e)) => {
                    tracing::warn!("ECR auth cache: {e}; watching again");
                    c.live[slot].store(false, Ordering::Release);
                    c.evict(None);
                    break;
                }
                Some(Ok(ev)) => {
                    c.evict(Some(ev.kv.key.strip_prefix(prefix).unwrap_or("")));
                    c.applied[slot].fetch_max(ev.kv.mod_revision, Ordering::AcqRel);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use dockyard_store::{MemStore, StoreExt};

    fn wait_live(c: &RepoCache) {
        for _ in 0..500 {
            if c.live() {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("the cache never went live");
    }

    fn wait_for(c: &RepoCache, store: &dyn Store, name: &str, want: bool) {
        for _ in 0..500 {
            let has_policy = matches!(
                c.get(store, name).unwrap().as_deref(),
                Some(RepoPolicy::Document(_))
            );
            if has_policy == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("the cache never saw the policy change of {name}");
    }

    #[test]
    fn changes_to_a_repository_reach_the_cache() {
        let store: Arc<dyn Store> = Arc::new(MemStore::new());
        let cache = RepoCache::start(&store);
        wait_live(&cache);
        assert!(cache.get(store.as_ref(), "app").unwrap().is_none());
        store
            .put(&registry_keys::repo("app"), b"{}".to_vec())
            .unwrap();
        // The repository now exists (the miss above was evicted).
        for _ in 0..500 {
            if cache.get(store.as_ref(), "app").unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(matches!(
            cache.get(store.as_ref(), "app").unwrap().as_deref(),
            Some(RepoPolicy::None)
        ));
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}"#;
        let record = serde_json::json!({"repositoryPolicy": policy});
        store
            .put(&meta::key("app"), serde_json::to_vec(&record).unwrap())
            .unwrap();
        wait_for(&cache, store.as_ref(), "app", true);
        store.delete(&meta::key("app")).unwrap();
        wait_for(&cache, store.as_ref(), "app", false);
    }

    #[test]
    fn writes_through_the_tracked_store_are_read_back_at_once() {
        let inner: Arc<dyn Store> = Arc::new(MemStore::new());
        let cache = RepoCache::start(&inner);
        let store = Tracked::wrap(inner, &cache);
        wait_live(&cache);
        store
            .put(&registry_keys::repo("app"), b"{}".to_vec())
            .unwrap();
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}"#;
        for round in 0..50 {
            // Cached without a policy...
            assert!(
                matches!(
                    cache.get(store.as_ref(), "app").unwrap().as_deref(),
                    Some(RepoPolicy::None)
                ),
                "round {round}"
            );
            let record = serde_json::json!({"repositoryPolicy": policy});
            store
                .put(&meta::key("app"), serde_json::to_vec(&record).unwrap())
                .unwrap();
            // ...and the very next read sees the write, with no waiting.
            assert!(
                matches!(
                    cache.get(store.as_ref(), "app").unwrap().as_deref(),
                    Some(RepoPolicy::Document(_))
                ),
                "round {round}"
            );
            store.delete(&meta::key("app")).unwrap();
        }
    }
}
