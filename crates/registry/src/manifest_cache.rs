//! Manifest bytes kept in memory for pulls. A digest names its bytes for
//! good, so an entry is never stale: whether a repository still holds the
//! manifest is decided by the state store on every request, and the cache
//! only saves the file read behind it. What it bounds is memory: entries
//! beyond [`BUDGET`] push the oldest ones out.

use std::collections::{HashMap, VecDeque};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use dockyard_image::Digest;

/// Bytes of manifests kept: some thousands of typical manifests (1 to
/// 10 KiB; an index of many platforms reaches tens).
pub(crate) const BUDGET: usize = 32 << 20;

pub(crate) struct ManifestCache {
    budget: usize,
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<Digest, Bytes>,
    /// Insertion order, for eviction: the first in goes first. Unlike
    /// LRU this needs no write on a hit, so readers share the lock; a hot
    /// manifest that was pushed out costs one file read to come back.
    order: VecDeque<Digest>,
    bytes: usize,
}

impl ManifestCache {
    /// A cache holding at most `budget` bytes of manifests (0 disables it).
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            state: RwLock::new(State::default()),
        }
    }

    // A panic while holding the lock cannot leave the map half-updated in
    // a way that breaks the next reader (every update keeps the three
    // fields consistent before any call that could panic), so a poisoned
    // lock is used as is.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, digest: &Digest) -> Option<Bytes> {
        self.read().entries.get(digest).cloned()
    }

    /// Keeps `bytes` as the content of `digest` (the caller has checked
    /// they are), evicting the oldest entries to stay within the budget.
    /// A manifest larger than the whole budget is not kept.
    pub fn insert(&self, digest: Digest, bytes: Bytes) {
        if bytes.len() > self.budget {
            return;
        }
        let mut s = self.write();
        if s.entries.contains_key(&digest) {
            return;
        }
        while s.bytes + bytes.len() > self.budget {
            let Some(old) = s.order.pop_front() else {
                break;
            };
            if let Some(b) = s.entries.remove(&old) {
                s.bytes -= b.len();
            }
        }
        s.bytes += bytes.len();
        s.order.push_back(digest.clone());
        s.entries.insert(digest, bytes);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.read().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(s: &str) -> (Digest, Bytes) {
        (
            Digest::of(s.as_bytes()),
            Bytes::copy_from_slice(s.as_bytes()),
        )
    }

    #[test]
    fn keeps_what_fits_and_evicts_the_oldest_first() {
        let c = ManifestCache::new(10);
        let (a, ab) = entry("aaaa");
        let (b, bb) = entry("bbbb");
        let (d, db) = entry("dddd");
        c.insert(a.clone(), ab.clone());
        c.insert(b.clone(), bb.clone());
        assert_eq!(c.get(&a), Some(ab.clone()));
        assert_eq!(c.get(&b), Some(bb.clone()));
        // 12 bytes would not fit: `a`, the oldest, goes.
        c.insert(d.clone(), db.clone());
        assert_eq!(c.get(&a), None);
        assert_eq!(c.get(&b), Some(bb));
        assert_eq!(c.get(&d), Some(db));
        assert_eq!(c.len(), 2);
        // Inserting a digest again changes nothing.
        c.insert(d.clone(), Bytes::from_static(b"dddd"));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn refuses_what_cannot_fit_and_can_be_disabled() {
        let c = ManifestCache::new(3);
        let (a, ab) = entry("aaaa");
        c.insert(a.clone(), ab.clone());
        assert_eq!(c.get(&a), None);
        let off = ManifestCache::new(0);
        off.insert(a.clone(), ab);
        assert_eq!(off.get(&a), None);
        assert_eq!(off.len(), 0);
    }
}
