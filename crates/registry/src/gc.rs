//! Garbage collection of blobs, in two phases.
//!
//! Mark: one consistent read of every registry key gives the blobs that
//! manifests reference (config, layers, index children, the manifests'
//! own bytes); every other blob in the content store or with a record is
//! a candidate unless it was touched (uploaded, linked, referenced, read)
//! within the grace period, which covers a client between uploading its
//! blobs and pushing the manifest.
//!
//! Sweep, per candidate: a transaction that compares the blob record's
//! revision seen by the mark (or its absence) marks it `Deleting` and
//! removes its repository links; only if it commits is the content
//! deleted, then the record. Anything that made the blob reachable since
//! the mark rewrote its record, so the compare fails and the blob stays
//! (see [`crate::blobs`] for the other half of the protocol).

use std::collections::{BTreeMap, BTreeSet};

use dockyard_image::Digest;
use dockyard_store::{Compare, Revision, Txn};

use crate::Registry;
use crate::error::RegistryError;
use crate::keys::{self, RepoKey};
use crate::records::{self, BlobRecord, BlobState, ManifestRecord, UploadRecord};

/// What a collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs whose content was deleted.
    pub deleted: Vec<Digest>,
    pub bytes_freed: u64,
    /// Unreferenced blobs kept because they were touched within the grace
    /// period.
    pub kept_recent: usize,
    /// Repository links removed with their blobs.
    pub links_removed: usize,
    /// Idle upload sessions discarded.
    pub uploads_expired: usize,
    /// Candidates that became reachable between mark and sweep.
    pub raced: usize,
}

#[derive(Debug)]
pub(crate) struct Candidate {
    pub digest: Digest,
    /// The record's revision at the mark; `None` when it had none.
    pub record_rev: Option<Revision>,
    pub links: Vec<String>,
    /// The content's size, when the content store had it.
    pub size: Option<u64>,
}

#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub candidates: Vec<Candidate>,
    /// Deletions a dead collector left half done.
    pub stale_deletions: Vec<(Digest, Revision)>,
    pub idle_uploads: Vec<(String, UploadRecord, Revision)>,
    pub kept_recent: usize,
}

impl Registry {
    /// Deletes blobs nothing needs any more and expires idle uploads.
    /// Blocking; async callers use [`gc_async`](Self::gc_async).
    pub fn gc(&self) -> Result<GcReport, RegistryError> {
        let _one_at_a_time = self
            .inner
            .gc_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let plan = self.gc_plan()?;
        self.gc_sweep(plan)
    }

    pub async fn gc_async(&self) -> Result<GcReport, RegistryError> {
        let r = self.clone();
        tokio::task::spawn_blocking(move || r.gc())
            .await
            .map_err(|e| RegistryError::Internal(format!("garbage collection task: {e}")))?
    }

    pub(crate) fn gc_plan(&self) -> Result<Plan, RegistryError> {
        let recent = self.ago(self.config().gc_grace);
        let stale = self.ago(crate::blobs::STALE_DELETION);
        let idle = self.ago(self.config().upload_timeout);

        let (kvs, _) = self.store().range(keys::ROOT, None, 0)?;
        let mut referenced = BTreeSet::new();
        let mut blob_records = BTreeMap::new();
        let mut links: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
        let mut plan = Plan::default();
        for kv in &kvs {
            if let Some(d) = kv.key.strip_prefix(keys::BLOBS) {
                // A record we cannot read protects its blob.
                match (Digest::parse(d), records::decode::<BlobRecord>(kv)) {
                    (Ok(d), Ok(r)) => {
                        blob_records.insert(d, (r, kv.mod_revision));
                    }
                    (Ok(d), Err(e)) => {
                        tracing::warn!("keeping blob {d}: {e}");
                        referenced.insert(d);
                    }
                    (Err(_), _) => tracing::warn!("ignoring odd key {}", kv.key),
                }
            } else if let Some(id) = kv.key.strip_prefix(keys::UPLOADS) {
                let up: UploadRecord = records::decode(kv)?;
                if up.updated_at < idle {
                    plan.idle_uploads.push((id.to_owned(), up, kv.mod_revision));
                }
            } else {
                match keys::parse_repo_key(&kv.key) {
                    Some(RepoKey::Manifest { digest, .. }) => {
                        // Not knowing what a manifest references would make
                        // every blob suspect: stop rather than guess.
                        let m: ManifestRecord = records::decode(kv)?;
                        let d = Digest::parse(digest).map_err(|e| RegistryError::Corrupt {
                            key: kv.key.clone(),
                            reason: e.to_string(),
                        })?;
                        referenced.insert(d);
                        referenced.extend(m.blobs);
                        referenced.extend(m.children);
                    }
                    Some(RepoKey::Link { digest, .. }) => {
                        if let Ok(d) = Digest::parse(digest) {
                            links.entry(d).or_default().push(kv.key.clone());
                        }
                    }
                    _ => {}
                }
            }
        }
        // Listed after the read above: content committed since then has a
        // record the sweep's compare will see.
        let present: BTreeMap<Digest, u64> = self
            .content()
            .list()
            .map_err(RegistryError::Content)?
            .into_iter()
            .collect();

        let all: BTreeSet<&Digest> = present
            .keys()
            .chain(blob_records.keys())
            .chain(links.keys())
            .collect();
        for d in all {
            if referenced.contains(d) {
                continue;
            }
            let record = blob_records.get(d);
            match record {
                Some((r, rev)) if r.state == BlobState::Deleting => {
                    if r.touched_at < stale {
                        plan.stale_deletions.push((d.clone(), *rev));
                    }
                    continue;
                }
                Some((r, _)) if r.touched_at >= recent => {
                    plan.kept_recent += 1;
                    continue;
                }
                _ => {}
            }
            plan.candidates.push(Candidate {
                digest: d.clone(),
                record_rev: record.map(|(_, rev)| *rev),
                links: links.get(d).cloned().unwrap_or_default(),
                size: present.get(d).copied(),
            });
        }
        Ok(plan)
    }

    pub(crate) fn gc_sweep(&self, plan: Plan) -> Result<GcReport, RegistryError> {
        let mut report = GcReport {
            kept_recent: plan.kept_recent,
            ..Default::default()
        };
        for c in plan.candidates {
            let key = keys::blob(&c.digest);
            let compare = match c.record_rev {
                Some(rev) => Compare::ModRevision(key.clone(), rev),
                None => Compare::Missing(key.clone()),
            };
            let tombstone = BlobRecord {
                state: BlobState::Deleting,
                size: c.size,
                touched_at: self.now(),
            };
            let mut success = vec![records::put(key, &tombstone)];
            success.extend(c.links.iter().cloned().map(records::delete));
            let r = self.store().txn(Txn {
                compares: vec![compare],
                success,
                failure: vec![],
            })?;
            if !r.succeeded {
                report.raced += 1;
                continue;
            }
            self.finish_deletion(&c.digest, r.revision)?;
            report.links_removed += c.links.len();
            if let Some(size) = c.size {
                report.bytes_freed += size;
                report.deleted.push(c.digest);
            }
        }
        for (d, rev) in plan.stale_deletions {
            self.finish_deletion(&d, rev)?;
        }
        for (id, up, rev) in plan.idle_uploads {
            if self.expire_upload(&id, &up, rev)? {
                report.uploads_expired += 1;
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
#[path = "gc_tests.rs"]
mod tests;
