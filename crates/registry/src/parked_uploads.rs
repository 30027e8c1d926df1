//! Upload writers kept open between the requests of one upload session.
//!
//! An ingest's writer carries the running hash of everything written to
//! it; reopening the ingest instead re-reads the whole file to rebuild
//! that hash. The usual push (`POST`, one `PATCH` with the layer, a closing
//! `PUT` without a body) would hash every layer twice. So the HTTP layer
//! parks the writer when a request of the session ends and the next
//! request takes it back, after checking the session still holds that
//! ingest at that size.
//!
//! A parked writer keeps its ingest locked, so nothing else can write to
//! it meanwhile (another resume of the session sees it busy, as it would
//! see a request in flight). Writers go back to the ingest files after
//! [`IDLE`], or sooner when more than [`MAX_PARKED`] are parked: the next
//! request then reopens the ingest the slow way, nothing is lost.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use dockyard_image::BlobWriter;

/// How long a writer waits for the next request of its session.
pub(crate) const IDLE: Duration = Duration::from_secs(30);
/// Sessions with a parked writer at once (each holds an open file).
pub(crate) const MAX_PARKED: usize = 256;

#[derive(Default)]
pub(crate) struct ParkedUploads {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Upload id -> (park number, writer).
    writers: HashMap<String, (u64, Box<dyn BlobWriter>)>,
    next: u64,
}

impl ParkedUploads {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update leaves the map whole, so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Parks the writer of upload `id`; returns the park number that
    /// [`ParkedUploads::expire`] needs.
    pub fn park(&self, id: &str, writer: Box<dyn BlobWriter>) -> u64 {
        let evicted;
        let n = {
            let mut s = self.lock();
            s.next += 1;
            let n = s.next;
            evicted = if s.writers.len() >= MAX_PARKED && !s.writers.contains_key(id) {
                let oldest = s
                    .writers
                    .iter()
                    .min_by_key(|(_, (n, _))| *n)
                    .map(|(k, _)| k.clone());
                oldest.and_then(|k| s.writers.remove(&k))
            } else {
                None
            };
            s.writers.insert(id.to_owned(), (n, writer));
            n
        };
        // Closing a file outside the lock.
        drop(evicted);
        n
    }

    /// Takes the parked writer of upload `id`, if any.
    pub fn take(&self, id: &str) -> Option<Box<dyn BlobWriter>> {
        let w = self.lock().writers.remove(id);
        w.map(|(_, w)| w)
    }

    /// Drops the writer of upload `id` if it is still the one parked as
    /// number `n` (not taken and parked again since).
    pub fn expire(&self, id: &str, n: u64) {
        let w = {
            let mut s = self.lock();
            match s.writers.get(id) {
                Some((parked, _)) if *parked == n => s.writers.remove(id),
                _ => None,
            }
        };
        drop(w);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().writers.len()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use dockyard_image::{ContentStore, FsContentStore};

    use super::*;

    fn writer(store: &FsContentStore, data: &[u8]) -> Box<dyn BlobWriter> {
        let mut w = store.writer().unwrap();
        w.write_all(data).unwrap();
        w
    }

    #[test]
    fn park_take_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsContentStore::open(dir.path()).unwrap();
        let p = ParkedUploads::default();
        let w = writer(&store, b"abc");
        let ingest = w.id().to_owned();
        let n = p.park("u1", w);
        // Parked, the ingest stays locked.
        assert!(store.resume(&ingest).is_err());
        let w = p.take("u1").unwrap();
        assert_eq!(w.written(), 3);
        assert!(p.take("u1").is_none());
        // Expiry of an older parking leaves the new one alone.
        let n2 = p.park("u1", w);
        p.expire("u1", n);
        assert_eq!(p.len(), 1);
        p.expire("u1", n2);
        assert_eq!(p.len(), 0);
        // Back on disk, the ingest resumes where it was.
        assert_eq!(store.resume(&ingest).unwrap().written(), 3);
    }

    #[test]
    fn evicts_the_oldest_when_full() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsContentStore::open(dir.path()).unwrap();
        let p = ParkedUploads::default();
        for i in 0..=MAX_PARKED {
            p.park(&format!("u{i}"), writer(&store, b"x"));
        }
        assert_eq!(p.len(), MAX_PARKED);
        assert!(p.take("u0").is_none());
        assert!(p.take(&format!("u{MAX_PARKED}")).is_some());
    }
}
