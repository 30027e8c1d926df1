//! Blobs in repositories: existence, reads, links (upload completion and
//! cross-repository mounts), deletion of links, and the per-blob record
//! through which pushes and garbage collection stay out of each other's
//! way.
//!
//! The protocol, in terms of `registry/blobs/<digest>`:
//! - every operation that makes a blob reachable (completing an upload,
//!   mounting, pushing a manifest that references it) runs a transaction
//!   that compares the record's `mod_revision` with the one it read while
//!   the record was `Live` and the content present, and rewrites the
//!   record (bumping its revision, refreshing `touched_at`);
//! - garbage collection marks a blob `Deleting` with a transaction that
//!   compares the revision it saw when it decided the blob was garbage,
//!   and only then deletes the content, then the record.
//!
//! So whichever transaction commits second fails its compare: either the
//! push sees the blob gone (and says so), or the collector sees it touched
//! (and keeps it). An upload about to commit content first "pins" the
//! record (waiting out a deletion in progress), so its commit can never
//! land on a file the collector is about to remove.

use std::time::Duration;

use dockyard_image::{ContentError, Digest, ReadSeek};
use dockyard_store::{Compare, Op, Revision, StoreExt, Txn};

use crate::Registry;
use crate::error::RegistryError;
use crate::keys;
use crate::names::check_name;
use crate::records::{self, BlobRecord, BlobState, LinkRecord, RepoRecord};

/// A deletion still recorded this long after it started was left by a
/// collector that died between its steps; anyone may finish it.
pub(crate) const STALE_DELETION: Duration = Duration::from_secs(60);
/// How often an operation retries a transaction that lost a race.
pub(crate) const MAX_ATTEMPTS: u32 = 50;

/// A blob whose record is `Live` (at `rev`) and whose content is stored.
#[derive(Debug, Clone)]
pub(crate) struct LiveBlob {
    pub rev: Revision,
    pub record: BlobRecord,
    pub size: u64,
}

impl Registry {
    /// The blob's record when it is live and its content stored. The record
    /// is read before the content is looked at: content is deleted only
    /// after its record became `Deleting` (a new revision), so a later
    /// transaction comparing `rev` proves the content was not deleted in
    /// between.
    pub(crate) fn live_blob(&self, d: &Digest) -> Result<Option<LiveBlob>, RegistryError> {
        let Some((record, rev)) = records::get::<BlobRecord>(self.store(), &keys::blob(d))? else {
            return Ok(None);
        };
        if record.state != BlobState::Live {
            return Ok(None);
        }
        let Some(size) = self.content().size(d).map_err(RegistryError::Content)? else {
            return Ok(None);
        };
        Ok(Some(LiveBlob { rev, record, size }))
    }

    /// A `Live` record touched now.
    pub(crate) fn touched(&self, size: Option<u64>) -> BlobRecord {
        BlobRecord {
            state: BlobState::Live,
            size,
            touched_at: self.now(),
        }
    }

    /// Marks `d` live and recently touched before content is committed
    /// under it, waiting while a collector deletes it.
    pub(crate) fn pin_blob(&self, d: &Digest) -> Result<(), RegistryError> {
        let key = keys::blob(d);
        let mut wait = Duration::from_millis(2);
        for _ in 0..MAX_ATTEMPTS {
            let current = records::get::<BlobRecord>(self.store(), &key)?;
            let compare = match &current {
                Some((r, rev)) if r.state == BlobState::Deleting => {
                    if r.touched_at < self.ago(STALE_DELETION) {
                        self.finish_deletion(d, *rev)?;
                    } else {
                        std::thread::sleep(wait);
                        wait = (wait * 2).min(Duration::from_millis(100));
                    }
                    continue;
                }
                Some((_, rev)) => Compare::ModRevision(key.clone(), *rev),
                None => Compare::Missing(key.clone()),
            };
            let size = current.and_then(|(r, _)| r.size);
            let r = self.store().txn(Txn {
                compares: vec![compare],
                success: vec![records::put(key.clone(), &self.touched(size))],
                failure: vec![],
            })?;
            if r.succeeded {
                return Ok(());
            }
        }
        Err(RegistryError::Busy(format!(
            "blob {d} is being garbage collected"
        )))
    }

    /// Deletes the content of a blob marked `Deleting` at `rev`, then its
    /// record (unless someone else already did).
    pub(crate) fn finish_deletion(&self, d: &Digest, rev: Revision) -> Result<(), RegistryError> {
        match self.content().delete(d) {
            Ok(()) | Err(ContentError::NotFound(_)) => {}
            Err(e) => return Err(RegistryError::Content(e)),
        }
        let key = keys::blob(d);
        self.store().txn(Txn {
            compares: vec![Compare::ModRevision(key.clone(), rev)],
            success: vec![records::delete(key)],
            failure: vec![],
        })?;
        Ok(())
    }

    /// The ops that create repository `name` if it does not exist yet, or
    /// `NAME_UNKNOWN` when pushes may not create repositories.
    pub(crate) fn repo_ops(&self, name: &str) -> Result<Vec<Op>, RegistryError> {
        let key = keys::repo(name);
        if self.store().get(&key)?.is_some() {
            return Ok(vec![]);
        }
        if !self.config().create_repos_on_push {
            return Err(RegistryError::NameUnknown(name.to_owned()));
        }
        Ok(vec![records::put(
            key,
            &RepoRecord {
                created_at: self.now(),
            },
        )])
    }

    /// Links the committed blob `d` into `name`, running `extra` in the
    /// same transaction.
    pub(crate) fn link_blob(
        &self,
        name: &str,
        d: &Digest,
        extra: Vec<Op>,
    ) -> Result<(), RegistryError> {
        for _ in 0..MAX_ATTEMPTS {
            let Some(live) = self.live_blob(d)? else {
                return Err(RegistryError::Busy(format!(
                    "blob {d} was garbage collected while being linked to {name}"
                )));
            };
            let mut success = self.repo_ops(name)?;
            success.push(records::put(
                keys::link(name, d),
                &LinkRecord {
                    linked_at: self.now(),
                },
            ));
            success.push(records::put(keys::blob(d), &self.touched(Some(live.size))));
            success.extend(extra.iter().cloned());
            let r = self.store().txn(Txn {
                compares: vec![Compare::ModRevision(keys::blob(d), live.rev)],
                success,
                failure: vec![],
            })?;
            if r.succeeded {
                return Ok(());
            }
        }
        Err(RegistryError::Busy(format!(
            "too many concurrent changes to blob {d}"
        )))
    }

    /// Keeps a blob that clients are reading or checking from looking
    /// abandoned: a client that saw it with `HEAD` may push a manifest
    /// using it without uploading it again, so it must stay for a while.
    /// Written at most twice per grace period. Returns whether the blob is
    /// still live: a collector may have marked it since `live` was read.
    fn refresh_blob(&self, d: &Digest, live: &LiveBlob) -> Result<bool, RegistryError> {
        if live.record.touched_at >= self.ago(self.config().gc_grace / 2) {
            return Ok(true);
        }
        let value = serde_json::to_vec(&self.touched(Some(live.size))).unwrap_or_default();
        match self.store().update(&keys::blob(d), live.rev, value)? {
            Some(_) => Ok(true),
            // Someone else rewrote the record: touched it too, or marked it.
            None => Ok(self.live_blob(d)?.is_some()),
        }
    }

    /// The size of blob `d` in repository `name` (`BLOB_UNKNOWN` when it
    /// is not linked there).
    pub fn stat_blob(&self, name: &str, d: &Digest) -> Result<u64, RegistryError> {
        check_name(name)?;
        let unknown = || RegistryError::BlobUnknown {
            name: name.to_owned(),
            digest: d.clone(),
        };
        if self.store().get(&keys::link(name, d))?.is_none() {
            return Err(unknown());
        }
        let live = self.live_blob(d)?.ok_or_else(unknown)?;
        if !self.refresh_blob(d, &live)? {
            return Err(unknown());
        }
        Ok(live.size)
    }

    /// Opens blob `d` of repository `name` for reading, with its size.
    pub fn open_blob(
        &self,
        name: &str,
        d: &Digest,
    ) -> Result<(Box<dyn ReadSeek>, u64), RegistryError> {
        let size = self.stat_blob(name, d)?;
        let f = self
            .content()
            .open(d)
            .map_err(|e| RegistryError::from_blob_read(e, name, d))?;
        Ok((f, size))
    }

    /// Unlinks blob `d` from repository `name`. The content stays while
    /// other repositories or manifests use it; garbage collection removes
    /// it once nothing does.
    pub fn delete_blob(&self, name: &str, d: &Digest) -> Result<(), RegistryError> {
        check_name(name)?;
        let key = keys::link(name, d);
        let r = self.store().txn(Txn {
            compares: vec![Compare::Exists(key.clone())],
            success: vec![records::delete(key)],
            failure: vec![],
        })?;
        if r.succeeded {
            Ok(())
        } else {
            Err(RegistryError::BlobUnknown {
                name: name.to_owned(),
                digest: d.clone(),
            })
        }
    }

    /// Links blob `d` of repository `from` into `name` without an upload;
    /// `false` when `from` does not hold it (the caller then starts an
    /// ordinary upload).
    pub fn mount_blob(&self, name: &str, d: &Digest, from: &str) -> Result<bool, RegistryError> {
        check_name(name)?;
        if !crate::names::is_valid_name(from) {
            return Ok(false);
        }
        let from_link = keys::link(from, d);
        for _ in 0..MAX_ATTEMPTS {
            if self.store().get(&from_link)?.is_none() {
                return Ok(false);
            }
            let Some(live) = self.live_blob(d)? else {
                return Ok(false);
            };
            let mut success = self.repo_ops(name)?;
            success.push(records::put(
                keys::link(name, d),
                &LinkRecord {
                    linked_at: self.now(),
                },
            ));
            if from != name {
                success.push(records::put(keys::blob(d), &self.touched(Some(live.size))));
            }
            let r = self.store().txn(Txn {
                compares: vec![
                    Compare::ModRevision(keys::blob(d), live.rev),
                    Compare::Exists(from_link.clone()),
                ],
                success,
                failure: vec![],
            })?;
            if r.succeeded {
                return Ok(true);
            }
        }
        Err(RegistryError::Busy(format!(
            "too many concurrent changes to blob {d}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use dockyard_image::content::write_blob;

    use super::*;
    use crate::testutil::{Fixture, push_blob};

    #[test]
    fn stat_open_delete_and_mount() {
        let f = Fixture::new();
        let r = &f.registry;
        let d = push_blob(r, "team/a", b"hello");
        assert_eq!(r.stat_blob("team/a", &d).unwrap(), 5);
        let (mut rd, size) = r.open_blob("team/a", &d).unwrap();
        let mut s = String::new();
        rd.read_to_string(&mut s).unwrap();
        assert_eq!((s.as_str(), size), ("hello", 5));

        // Content in the store is not enough: it must be linked here.
        assert!(matches!(
            r.stat_blob("team/b", &d),
            Err(RegistryError::BlobUnknown { .. })
        ));
        assert!(!r.mount_blob("team/b", &d, "team/nope").unwrap());
        assert!(
            !r.mount_blob("team/b", &Digest::of(b"zz"), "team/a")
                .unwrap()
        );
        assert!(r.mount_blob("team/b", &d, "team/a").unwrap());
        assert_eq!(r.stat_blob("team/b", &d).unwrap(), 5);

        r.delete_blob("team/a", &d).unwrap();
        assert!(matches!(
            r.stat_blob("team/a", &d),
            Err(RegistryError::BlobUnknown { .. })
        ));
        assert!(matches!(
            r.delete_blob("team/a", &d),
            Err(RegistryError::BlobUnknown { .. })
        ));
        // Still linked in b.
        assert_eq!(r.stat_blob("team/b", &d).unwrap(), 5);
        assert!(matches!(
            r.stat_blob("BAD", &d),
            Err(RegistryError::NameInvalid(_))
        ));
    }

    #[test]
    fn a_blob_being_deleted_is_not_served_nor_mounted() {
        let f = Fixture::new();
        let r = &f.registry;
        let d = push_blob(r, "a", b"x");
        let (_, rev) = records::get::<BlobRecord>(r.store(), &keys::blob(&d))
            .unwrap()
            .unwrap();
        let tomb = BlobRecord {
            state: BlobState::Deleting,
            size: Some(1),
            touched_at: r.now(),
        };
        r.store()
            .update(&keys::blob(&d), rev, serde_json::to_vec(&tomb).unwrap())
            .unwrap()
            .unwrap();
        assert!(r.stat_blob("a", &d).is_err());
        assert!(!r.mount_blob("b", &d, "a").unwrap());
    }

    #[test]
    fn pin_finishes_a_stale_deletion() {
        let f = Fixture::new();
        let r = &f.registry;
        let d = write_blob(r.content(), b"old", None).unwrap();
        let tomb = BlobRecord {
            state: BlobState::Deleting,
            size: Some(3),
            touched_at: r.now(),
        };
        r.store()
            .put(&keys::blob(&d), serde_json::to_vec(&tomb).unwrap())
            .unwrap();
        f.clock.advance(STALE_DELETION * 2);
        r.pin_blob(&d).unwrap();
        let (rec, _) = records::get::<BlobRecord>(r.store(), &keys::blob(&d))
            .unwrap()
            .unwrap();
        assert_eq!(rec.state, BlobState::Live);
        assert_eq!(rec.touched_at, r.now());
        assert_eq!(r.content().size(&d).unwrap(), None, "deletion finished");
    }

    #[test]
    fn pushes_need_an_existing_repo_when_configured() {
        let f = Fixture::with_config(|c| c.create_repos_on_push = false);
        let r = &f.registry;
        assert!(matches!(
            r.start_upload("nope"),
            Err(RegistryError::NameUnknown(_))
        ));
        r.create_repository("yes").unwrap();
        push_blob(r, "yes", b"ok");
    }
}
