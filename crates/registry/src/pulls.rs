//! Last-pull times, batched: a pull is noted in memory and the batch is
//! written to the manifest records at most once per
//! [`pull_flush_interval`](crate::RegistryConfig::pull_flush_interval), so
//! a busy image does not cost a store write per pull.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use dockyard_image::Digest;
use dockyard_store::StoreExt;

use crate::Registry;
use crate::error::RegistryError;
use crate::keys;
use crate::records::{self, ManifestRecord};

pub(crate) struct PullTimes {
    pending: HashMap<(String, Digest), DateTime<Utc>>,
    last_flush: DateTime<Utc>,
}

impl PullTimes {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            pending: HashMap::new(),
            last_flush: now,
        }
    }
}

impl Registry {
    pub(crate) fn note_pull(&self, name: &str, digest: &Digest) {
        if self.note_pull_deferred(name, digest)
            && let Err(e) = self.flush_pull_times()
        {
            tracing::warn!("recording pull times: {e}");
        }
    }

    /// Notes a pull without writing: returns whether the batch is due, and
    /// then the caller must call [`Registry::flush_pull_times`] (off an
    /// I/O thread: it commits to the store). Due for one caller only: the
    /// next is not due before another interval.
    pub(crate) fn note_pull_deferred(&self, name: &str, digest: &Digest) -> bool {
        let now = self.now();
        let due_before = self.ago(self.config().pull_flush_interval);
        let mut p = self
            .inner
            .pulls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        p.pending.insert((name.to_owned(), digest.clone()), now);
        let due = p.last_flush <= due_before;
        if due {
            p.last_flush = now;
        }
        due
    }

    /// Writes the pull times noted since the last flush; returns how many
    /// manifest records changed. The server calls it on shutdown too.
    pub fn flush_pull_times(&self) -> Result<usize, RegistryError> {
        let batch = {
            let mut p = self
                .inner
                .pulls
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            p.last_flush = self.now();
            std::mem::take(&mut p.pending)
        };
        let mut written = 0;
        for ((name, digest), at) in batch {
            let key = keys::manifest(&name, &digest);
            for _ in 0..3 {
                let Some((mut r, rev)) = records::get::<ManifestRecord>(self.store(), &key)? else {
                    break;
                };
                if r.last_pull.is_some_and(|l| l >= at) {
                    break;
                }
                r.last_pull = Some(at);
                let value = serde_json::to_vec(&r).unwrap_or_default();
                if self.store().update(&key, rev, value)?.is_some() {
                    written += 1;
                    break;
                }
            }
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::names::ManifestRef;
    use crate::testutil::{Fixture, push_image};

    #[test]
    fn pulls_are_written_in_batches() {
        let f = Fixture::with_config(|c| c.pull_flush_interval = Duration::from_secs(60));
        let r = &f.registry;
        let (d, _) = push_image(r, "a", "v1", b"x");
        let by_tag = ManifestRef::Tag("v1".into());
        let pulled_at = r.now();
        r.get_manifest("a", &by_tag, &[]).unwrap();
        assert_eq!(r.stat_manifest("a", &by_tag, &[]).unwrap().last_pull, None);

        f.clock.advance(Duration::from_secs(61));
        let second = r.now();
        r.get_manifest("a", &ManifestRef::Digest(d.clone()), &[])
            .unwrap();
        let info = r.stat_manifest("a", &by_tag, &[]).unwrap();
        assert_eq!(info.last_pull, Some(second));
        assert!(second > pulled_at);

        f.clock.advance(Duration::from_secs(1));
        r.get_manifest("a", &by_tag, &[]).unwrap();
        assert_eq!(r.flush_pull_times().unwrap(), 1);
        assert_eq!(r.flush_pull_times().unwrap(), 0);
        let info = r.stat_manifest("a", &by_tag, &[]).unwrap();
        assert_eq!(info.last_pull, Some(r.now()));
        // A push of the same manifest keeps its history.
        let pushed = info.pushed_at;
        let bytes = r.get_manifest("a", &by_tag, &[]).unwrap().bytes;
        r.put_manifest("a", &ManifestRef::Tag("v9".into()), None, &bytes, &[])
            .unwrap();
        let again = r.stat_manifest("a", &by_tag, &[]).unwrap();
        assert_eq!((again.pushed_at, again.last_pull), (pushed, info.last_pull));
    }

    #[test]
    fn a_due_batch_falls_to_one_caller() {
        let f = Fixture::with_config(|c| c.pull_flush_interval = Duration::from_secs(60));
        let r = &f.registry;
        let (d, _) = push_image(r, "a", "v1", b"x");
        assert!(!r.note_pull_deferred("a", &d));
        f.clock.advance(Duration::from_secs(61));
        assert!(r.note_pull_deferred("a", &d));
        assert!(!r.note_pull_deferred("a", &d));
        // Nothing was written: the caller that got `true` writes.
        let by_tag = ManifestRef::Tag("v1".into());
        assert_eq!(r.stat_manifest("a", &by_tag, &[]).unwrap().last_pull, None);
        assert_eq!(r.flush_pull_times().unwrap(), 1);
        assert_eq!(
            r.stat_manifest("a", &by_tag, &[]).unwrap().last_pull,
            Some(r.now())
        );
    }
}
