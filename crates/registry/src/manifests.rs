//! Manifests: push (validated against what the repository holds, stored
//! as a blob plus a record, tags and referrer entry in one transaction),
//! fetch with content negotiation, and deletion by tag or digest.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use dockyard_image::Digest;
use dockyard_image::content::{read_blob, write_blob};
use dockyard_store::{Compare, Txn};
use serde::Serialize;

use crate::Registry;
use crate::blobs::MAX_ATTEMPTS;
use crate::document::{self, Document};
use crate::error::RegistryError;
use crate::keys;
use crate::names::{ManifestRef, check_name, check_tag};
use crate::records::{self, ManifestRecord, ReferrerRecord, TagRecord};

/// A stored manifest's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestInfo {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub pushed_at: DateTime<Utc>,
    /// The last pull recorded (pull times are written in batches, so the
    /// latest pulls may not show yet).
    pub last_pull: Option<DateTime<Utc>>,
    pub subject: Option<Digest>,
    pub artifact_type: Option<String>,
}

/// A manifest with its exact bytes, as pushed.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedManifest {
    pub info: ManifestInfo,
    pub bytes: Vec<u8>,
}

/// What a successful push stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedManifest {
    pub digest: Digest,
    /// The `subject` the registry indexed (answered as `OCI-Subject`).
    pub subject: Option<Digest>,
    /// Tags now pointing at the manifest.
    pub tags: Vec<String>,
}

/// One page of a listing; `more` when items follow the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub more: bool,
}

/// A referrers list entry: the descriptor of a manifest whose `subject`
/// is the asked digest.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Referrer {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A manifest of a repository with its tags, as ECR describes images.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    pub digest: Digest,
    pub tags: Vec<String>,
    pub media_type: String,
    pub manifest_size: u64,
    /// Config plus layers.
    pub content_size: u64,
    pub pushed_at: DateTime<Utc>,
    pub last_pull: Option<DateTime<Utc>>,
    /// The manifest's `artifactType`, else its config's media type.
    pub artifact_type: Option<String>,
    pub subject: Option<Digest>,
    /// Child manifests, for an index.
    pub children: Vec<Digest>,
}

fn info(digest: Digest, r: &ManifestRecord) -> ManifestInfo {
    ManifestInfo {
        digest,
        media_type: r.media_type.clone(),
        size: r.size,
        pushed_at: r.pushed_at,
        last_pull: r.last_pull,
        subject: r.subject.clone(),
        artifact_type: r.artifact_type.clone(),
    }
}

/// The part of a tag record that says where it points (decoding skips the
/// rest).
#[derive(serde::Deserialize)]
struct TagTarget {
    digest: Digest,
}

/// Whether a stored media type satisfies the request's `Accept` headers.
/// No `Accept` at all means anything goes.
pub(crate) fn acceptable(media_type: &str, accept: &[String]) -> bool {
    let mut types = accept
        .iter()
        .flat_map(|h| h.split(','))
        .map(|t| t.split(';').next().unwrap_or_default().trim())
        .filter(|t| !t.is_empty())
        .peekable();
    if types.peek().is_none() {
        return true;
    }
    types.any(|t| t == media_type || t == "*/*" || t == "application/*")
}

impl Registry {
    /// `NAME_UNKNOWN` when the repository does not exist, else
    /// `MANIFEST_UNKNOWN`.
    pub(crate) fn manifest_unknown(&self, name: &str, reference: &ManifestRef) -> RegistryError {
        match self.store().get(&keys::repo(name)) {
            Ok(None) => RegistryError::NameUnknown(name.to_owned()),
            Ok(Some(_)) => RegistryError::ManifestUnknown {
                name: name.to_owned(),
                reference: reference.to_string(),
            },
            Err(e) => e.into(),
        }
    }

    /// The digest a reference names: a tag's target, or the digest itself
    /// (checked against the repository's manifests by the caller).
    pub(crate) fn reference_digest(
        &self,
        name: &str,
        reference: &ManifestRef,
    ) -> Result<Digest, RegistryError> {
        check_name(name)?;
        match reference {
            ManifestRef::Tag(t) => {
                match records::get::<TagTarget>(self.store(), &keys::tag(name, t))? {
                    Some((tag, _)) => Ok(tag.digest),
                    None => Err(self.manifest_unknown(name, reference)),
                }
            }
            ManifestRef::Digest(d) => Ok(d.clone()),
        }
    }

    fn resolve(
        &self,
        name: &str,
        reference: &ManifestRef,
    ) -> Result<(Digest, ManifestRecord), RegistryError> {
        let digest = self.reference_digest(name, reference)?;
        match records::get::<ManifestRecord>(self.store(), &keys::manifest(name, &digest))? {
            Some((r, _)) => Ok((digest, r)),
            None => Err(self.manifest_unknown(name, reference)),
        }
    }

    /// A manifest's metadata (for `HEAD`), if its media type is acceptable.
    pub fn stat_manifest(
        &self,
        name: &str,
        reference: &ManifestRef,
        accept: &[String],
    ) -> Result<ManifestInfo, RegistryError> {
        let (digest, r) = self.resolve(name, reference)?;
        if !acceptable(&r.media_type, accept) {
            return Err(RegistryError::NotAcceptable {
                name: name.to_owned(),
                reference: reference.to_string(),
                media_type: r.media_type,
            });
        }
        Ok(info(digest, &r))
    }

    /// A manifest's bytes without recording a pull (for the registry's own
    /// readers: scanners, lifecycle previews).
    pub fn peek_manifest(
        &self,
        name: &str,
        reference: &ManifestRef,
    ) -> Result<FetchedManifest, RegistryError> {
        let (digest, r) = self.resolve(name, reference)?;
        let info = info(digest, &r);
        let bytes = self.read_manifest(name, reference, &info)?;
        Ok(FetchedManifest { info, bytes })
    }

    fn read_manifest(
        &self,
        name: &str,
        reference: &ManifestRef,
        info: &ManifestInfo,
    ) -> Result<Vec<u8>, RegistryError> {
        let limit = info.size.max(self.config().max_manifest_size);
        read_blob(self.content(), &info.digest, limit).map_err(|e| match e {
            dockyard_image::ContentError::NotFound(_) => self.manifest_unknown(name, reference),
            e => RegistryError::Content(e),
        })
    }

    /// A manifest's bytes, if its media type is acceptable; records the pull.
    pub fn get_manifest(
        &self,
        name: &str,
        reference: &ManifestRef,
        accept: &[String],
    ) -> Result<FetchedManifest, RegistryError> {
        let info = self.stat_manifest(name, reference, accept)?;
        let bytes = self.read_manifest(name, reference, &info)?;
        self.note_pull(name, &info.digest);
        Ok(FetchedManifest { info, bytes })
    }

    /// Stores a manifest after checking it: its shape and media type, that
    /// a digest reference matches its bytes, that every config and layer
    /// blob is linked to the repository with the declared size and every
    /// index child is a manifest of the repository. Tags it with the
    /// reference's tag and `extra_tags`. Nothing is stored when a check
    /// fails.
    pub fn put_manifest(
        &self,
        name: &str,
        reference: &ManifestRef,
        content_type: Option<&str>,
        bytes: &[u8],
        extra_tags: &[String],
    ) -> Result<PushedManifest, RegistryError> {
        check_name(name)?;
        for t in extra_tags {
            check_tag(t)?;
        }
        let limit = self.config().max_manifest_size;
        if bytes.len() as u64 > limit {
            return Err(RegistryError::ManifestTooLarge {
                size: bytes.len() as u64,
                limit,
            });
        }
        let digest = Digest::of(bytes);
        if let ManifestRef::Digest(d) = reference
            && *d != digest
        {
            return Err(RegistryError::DigestMismatch {
                expected: d.clone(),
                actual: digest,
            });
        }
        let doc = document::parse(bytes, content_type)?;
        let mut tags = extra_tags.to_vec();
        if let ManifestRef::Tag(t) = reference {
            tags.push(t.clone());
        }
        tags.sort();
        tags.dedup();
        for _ in 0..MAX_ATTEMPTS {
            if let Some(p) = self.try_put_manifest(name, &digest, bytes, &doc, &tags)? {
                self.config().hooks.pushed(self, name, &p);
                return Ok(p);
            }
        }
        Err(RegistryError::Busy(format!(
            "too many concurrent changes while pushing manifest {digest} to {name}"
        )))
    }

    /// One attempt; `None` when a concurrent change won the race.
    fn try_put_manifest(
        &self,
        name: &str,
        digest: &Digest,
        bytes: &[u8],
        doc: &Document,
        tags: &[String],
    ) -> Result<Option<PushedManifest>, RegistryError> {
        let mut success = self.repo_ops(name)?;
        let mut compares = Vec::new();
        let mut missing = Vec::new();
        let mut seen = BTreeSet::new();
        for b in &doc.blobs {
            if !seen.insert(b.digest.clone()) {
                continue;
            }
            let link = keys::link(name, &b.digest);
            let live = match self.store().get(&link)? {
                Some(_) => self.live_blob(&b.digest)?,
                None => None,
            };
            let Some(live) = live else {
                missing.push(b.digest.clone());
                continue;
            };
            if live.size != b.size {
                return Err(RegistryError::ManifestInvalid(format!(
                    "the descriptor of {} says {} bytes, the blob has {}",
                    b.digest, b.size, live.size
                )));
            }
            compares.push(Compare::ModRevision(keys::blob(&b.digest), live.rev));
            compares.push(Compare::Exists(link));
            success.push(records::put(
                keys::blob(&b.digest),
                &self.touched(Some(live.size)),
            ));
        }
        for c in &doc.children {
            if !seen.insert(c.digest.clone()) {
                continue;
            }
            let key = keys::manifest(name, &c.digest);
            match records::get::<ManifestRecord>(self.store(), &key)? {
                None => missing.push(c.digest.clone()),
                Some((r, _)) if r.size != c.size => {
                    return Err(RegistryError::ManifestInvalid(format!(
                        "the descriptor of {} says {} bytes, the manifest has {}",
                        c.digest, c.size, r.size
                    )));
                }
                Some(_) => compares.push(Compare::Exists(key)),
            }
        }
        if !missing.is_empty() {
            return Err(RegistryError::ManifestBlobUnknown {
                name: name.to_owned(),
                digests: missing,
            });
        }

        self.pin_blob(digest)?;
        write_blob(self.content(), bytes, Some(digest)).map_err(RegistryError::Content)?;
        let Some(own) = self.live_blob(digest)? else {
            return Ok(None);
        };
        compares.push(Compare::ModRevision(keys::blob(digest), own.rev));
        success.push(records::put(
            keys::blob(digest),
            &self.touched(Some(own.size)),
        ));

        let key = keys::manifest(name, digest);
        let existing = records::get::<ManifestRecord>(self.store(), &key)?.map(|(r, _)| r);
        let now = self.now();
        let subject = doc.subject.as_ref().map(|s| s.digest.clone());
        let record = ManifestRecord {
            media_type: doc.media_type.clone(),
            size: bytes.len() as u64,
            pushed_at: existing.as_ref().map_or(now, |r| r.pushed_at),
            last_pull: existing.and_then(|r| r.last_pull),
            subject: subject.clone(),
            artifact_type: doc.artifact_type.clone(),
            config_media_type: doc.config_media_type.clone(),
            annotations: doc.annotations.clone(),
            blobs: dedup(doc.blobs.iter().map(|b| b.digest.clone())),
            children: dedup(doc.children.iter().map(|c| c.digest.clone())),
            content_size: doc.content_size,
        };
        success.push(records::put(key, &record));
        for t in tags {
            let tag_key = keys::tag(name, t);
            if !self.config().hooks.tag_mutable(name, t)? {
                match records::get::<TagRecord>(self.store(), &tag_key)? {
                    Some((old, _)) if old.digest != *digest => {
                        return Err(RegistryError::TagImmutable {
                            name: name.to_owned(),
                            tag: t.clone(),
                        });
                    }
                    Some((_, rev)) => compares.push(Compare::ModRevision(tag_key.clone(), rev)),
                    None => compares.push(Compare::Missing(tag_key.clone())),
                }
            }
            success.push(records::put(
                tag_key,
                &TagRecord {
                    digest: digest.clone(),
                    updated_at: now,
                },
            ));
        }
        if let Some(s) = &subject {
            success.push(records::put(
                keys::referrer(name, s, digest),
                &ReferrerRecord {
                    media_type: doc.media_type.clone(),
                    size: bytes.len() as u64,
                    artifact_type: doc.referrer_artifact_type(),
                    annotations: doc.annotations.clone(),
                },
            ));
        }
        let r = self.store().txn(Txn {
            compares,
            success,
            failure: vec![],
        })?;
        Ok(r.succeeded.then(|| PushedManifest {
            digest: digest.clone(),
            subject,
            tags: tags.to_vec(),
        }))
    }

    /// Deletes a tag, or a manifest by digest together with the tags
    /// pointing at it and its referrers entry. Blobs stay for garbage
    /// collection.
    pub fn delete_manifest(
        &self,
        name: &str,
        reference: &ManifestRef,
    ) -> Result<(), RegistryError> {
        check_name(name)?;
        let digest = match reference {
            ManifestRef::Tag(t) => {
                let key = keys::tag(name, t);
                let r = self.store().txn(Txn {
                    compares: vec![Compare::Exists(key.clone())],
                    success: vec![records::delete(key)],
                    failure: vec![],
                })?;
                return if r.succeeded {
                    Ok(())
                } else {
                    Err(self.manifest_unknown(name, reference))
                };
            }
            ManifestRef::Digest(d) => d,
        };
        let key = keys::manifest(name, digest);
        for _ in 0..MAX_ATTEMPTS {
            let Some((record, rev)) = records::get::<ManifestRecord>(self.store(), &key)? else {
                return Err(self.manifest_unknown(name, reference));
            };
            let mut compares = vec![Compare::ModRevision(key.clone(), rev)];
            let mut success = vec![records::delete(key.clone())];
            for kv in self.store().range(&keys::tags_prefix(name), None, 0)?.0 {
                let tag: TagRecord = records::decode(&kv)?;
                if tag.digest == *digest {
                    compares.push(Compare::ModRevision(kv.key.clone(), kv.mod_revision));
                    success.push(records::delete(kv.key));
                }
            }
            if let Some(s) = &record.subject {
                success.push(records::delete(keys::referrer(name, s, digest)));
            }
            if self
                .store()
                .txn(Txn {
                    compares,
                    success,
                    failure: vec![],
                })?
                .succeeded
            {
                return Ok(());
            }
        }
        Err(RegistryError::Busy(format!(
            "too many concurrent changes while deleting manifest {digest} from {name}"
        )))
    }
}

fn dedup(it: impl Iterator<Item = Digest>) -> Vec<Digest> {
    let mut seen = BTreeSet::new();
    it.filter(|d| seen.insert(d.clone())).collect()
}

#[cfg(test)]
#[path = "manifests_tests.rs"]
mod tests;
