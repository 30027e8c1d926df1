//! Upload sessions: `POST` starts one (an ingest of the content store and
//! a record `registry/uploads/<id>`), chunks are appended across requests
//! by resuming the ingest, and the closing `PUT` commits it under the
//! client's digest and links it to the repository in one transaction that
//! also ends the session.

use std::io::{self, Read};

use dockyard_image::{BlobWriter, ContentError, Digest};
use dockyard_store::{Compare, Revision, StoreExt, Txn};

use crate::Registry;
use crate::error::RegistryError;
use crate::keys;
use crate::names::check_name;
use crate::records::{self, UploadRecord};

fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Registry {
    /// Starts an upload session into repository `name`; returns its id.
    pub fn start_upload(&self, name: &str) -> Result<String, RegistryError> {
        check_name(name)?;
        if !self.config().create_repos_on_push && self.store().get(&keys::repo(name))?.is_none() {
            return Err(RegistryError::NameUnknown(name.to_owned()));
        }
        let w = self.content().writer().map_err(RegistryError::Content)?;
        let ingest_id = w.id().to_owned();
        drop(w);
        let id = records::random_id()?;
        let now = self.now();
        let record = UploadRecord {
            repo: name.to_owned(),
            ingest_id: ingest_id.clone(),
            started_at: now,
            updated_at: now,
        };
        if let Err(e) = self.store().put(
            &keys::upload(&id),
            serde_json::to_vec(&record).unwrap_or_default(),
        ) {
            let _ = self.content().abort(&ingest_id);
            return Err(e.into());
        }
        Ok(id)
    }

    fn upload(&self, name: &str, id: &str) -> Result<(UploadRecord, Revision), RegistryError> {
        check_name(name)?;
        let unknown = || RegistryError::UploadUnknown(id.to_owned());
        if !valid_id(id) {
            return Err(unknown());
        }
        match records::get::<UploadRecord>(self.store(), &keys::upload(id))? {
            Some((r, rev)) if r.repo == name => Ok((r, rev)),
            _ => Err(unknown()),
        }
    }

    /// How many bytes upload `id` holds.
    pub fn upload_status(&self, name: &str, id: &str) -> Result<u64, RegistryError> {
        let (up, _) = self.upload(name, id)?;
        self.content()
            .ingest_size(&up.ingest_id)
            .map_err(|e| upload_error(e, id))
    }

    /// Ends upload `id` and discards what it holds.
    pub fn cancel_upload(&self, name: &str, id: &str) -> Result<(), RegistryError> {
        let (up, _) = self.upload(name, id)?;
        self.store().delete(&keys::upload(id))?;
        match self.content().abort(&up.ingest_id) {
            Ok(()) | Err(ContentError::IngestNotFound(_)) => Ok(()),
            Err(e) => Err(RegistryError::Content(e)),
        }
    }

    /// Opens upload `id` to append to it. With `start`, the chunk must
    /// begin exactly where the upload ends (else 416 with the current
    /// size), as must a request racing another one on the same upload.
    pub fn resume_upload(
        &self,
        name: &str,
        id: &str,
        start: Option<u64>,
    ) -> Result<Box<dyn BlobWriter>, RegistryError> {
        let (up, _) = self.upload(name, id)?;
        let out_of_order = |size| RegistryError::RangeInvalid {
            name: name.to_owned(),
            id: id.to_owned(),
            size,
        };
        let w = match self.content().resume(&up.ingest_id) {
            Ok(w) => w,
            Err(ContentError::IngestBusy(_)) => {
                let size = self.upload_status(name, id)?;
                return Err(out_of_order(size));
            }
            Err(e) => return Err(upload_error(e, id)),
        };
        if let Some(s) = start
            && s != w.written()
        {
            return Err(out_of_order(w.written()));
        }
        Ok(w)
    }

    /// Records activity on upload `id`, so that idle-session expiry does
    /// not discard it.
    pub fn touch_upload(&self, name: &str, id: &str) -> Result<(), RegistryError> {
        let (mut up, rev) = self.upload(name, id)?;
        up.updated_at = self.now();
        // Losing this race means someone else just touched or ended it.
        self.store().update(
            &keys::upload(id),
            rev,
            serde_json::to_vec(&up).unwrap_or_default(),
        )?;
        Ok(())
    }

    /// Commits upload `id` as blob `digest` (checking `expected_size` when
    /// known) and links it to `name`. `writer` is the open ingest when the
    /// caller just wrote a last chunk, else it is resumed here. Whatever
    /// the outcome of the checks, a mismatch ends the session.
    pub fn complete_upload(
        &self,
        name: &str,
        id: &str,
        writer: Option<Box<dyn BlobWriter>>,
        digest: &Digest,
        expected_size: Option<u64>,
    ) -> Result<(), RegistryError> {
        self.upload(name, id)?;
        let writer = match writer {
            Some(w) => w,
            None => self.resume_upload(name, id, None)?,
        };
        self.pin_blob(digest)?;
        let session = keys::upload(id);
        if let Err(e) = writer.commit(Some(digest), expected_size) {
            if matches!(
                e,
                ContentError::DigestMismatch { .. } | ContentError::SizeMismatch { .. }
            ) {
                // The failed commit discarded the ingest; the session is over.
                self.store().delete(&session)?;
            }
            return Err(RegistryError::from_commit(e, id));
        }
        self.link_blob(name, digest, vec![records::delete(session)])
    }

    /// Uploads a whole blob from a reader in one go (the monolithic push,
    /// for callers without HTTP); returns its size.
    pub fn upload_blob(
        &self,
        name: &str,
        r: &mut dyn Read,
        digest: &Digest,
    ) -> Result<u64, RegistryError> {
        let id = self.start_upload(name)?;
        let mut w = self.resume_upload(name, &id, Some(0))?;
        if let Err(e) = io::copy(r, &mut w) {
            drop(w);
            let _ = self.cancel_upload(name, &id);
            return Err(RegistryError::UploadInvalid {
                id,
                reason: format!("reading the blob: {e}"),
            });
        }
        let size = w.written();
        self.complete_upload(name, &id, Some(w), digest, Some(size))?;
        Ok(size)
    }

    /// Ends an upload session after its ingest is gone (expiry).
    pub(crate) fn expire_upload(
        &self,
        id: &str,
        up: &UploadRecord,
        rev: Revision,
    ) -> Result<bool, RegistryError> {
        let key = keys::upload(id);
        let r = self.store().txn(Txn {
            compares: vec![Compare::ModRevision(key.clone(), rev)],
            success: vec![records::delete(key)],
            failure: vec![],
        })?;
        if r.succeeded {
            match self.content().abort(&up.ingest_id) {
                Ok(()) | Err(ContentError::IngestNotFound(_)) => {}
                Err(e) => return Err(RegistryError::Content(e)),
            }
        }
        Ok(r.succeeded)
    }
}

fn upload_error(e: ContentError, id: &str) -> RegistryError {
    match e {
        ContentError::IngestNotFound(_) | ContentError::InvalidIngestId(_) => {
            RegistryError::UploadUnknown(id.to_owned())
        }
        e => RegistryError::Content(e),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::testutil::Fixture;

    #[test]
    fn chunked_upload_and_status() {
        let f = Fixture::new();
        let r = &f.registry;
        let id = r.start_upload("team/a").unwrap();
        assert_eq!(r.upload_status("team/a", &id).unwrap(), 0);
        let mut w = r.resume_upload("team/a", &id, Some(0)).unwrap();
        w.write_all(b"hello ").unwrap();
        drop(w);
        assert_eq!(r.upload_status("team/a", &id).unwrap(), 6);
        // Out of order: 416 carrying the current size.
        match r.resume_upload("team/a", &id, Some(3)) {
            Err(RegistryError::RangeInvalid { size, .. }) => assert_eq!(size, 6),
            other => panic!("{:?}", other.map(|_| ())),
        }
        // A second writer while one is open is out of order too.
        let mut w = r.resume_upload("team/a", &id, Some(6)).unwrap();
        assert!(matches!(
            r.resume_upload("team/a", &id, Some(6)),
            Err(RegistryError::RangeInvalid { .. })
        ));
        w.write_all(b"world").unwrap();
        let d = Digest::of(b"hello world");
        r.complete_upload("team/a", &id, Some(w), &d, None).unwrap();
        assert_eq!(r.stat_blob("team/a", &d).unwrap(), 11);
        assert!(matches!(
            r.upload_status("team/a", &id),
            Err(RegistryError::UploadUnknown(_))
        ));
    }

    #[test]
    fn sessions_belong_to_their_repository() {
        let f = Fixture::new();
        let r = &f.registry;
        let id = r.start_upload("a").unwrap();
        for (name, id) in [("b", id.as_str()), ("a", "nope"), ("a", "../../etc")] {
            assert!(
                matches!(
                    r.upload_status(name, id),
                    Err(RegistryError::UploadUnknown(_))
                ),
                "{name} {id}"
            );
        }
        r.cancel_upload("a", &id).unwrap();
        assert!(matches!(
            r.cancel_upload("a", &id),
            Err(RegistryError::UploadUnknown(_))
        ));
    }

    #[test]
    fn wrong_digest_or_size_stores_nothing_and_ends_the_session() {
        let f = Fixture::new();
        let r = &f.registry;
        let id = r.start_upload("a").unwrap();
        let mut w = r.resume_upload("a", &id, None).unwrap();
        w.write_all(b"data").unwrap();
        let claimed = Digest::of(b"other");
        let e = r
            .complete_upload("a", &id, Some(w), &claimed, None)
            .unwrap_err();
        assert!(matches!(e, RegistryError::DigestMismatch { .. }), "{e}");
        assert_eq!(e.code().as_str(), "DIGEST_INVALID");
        assert!(r.content().size(&Digest::of(b"data")).unwrap().is_none());
        assert!(r.content().size(&claimed).unwrap().is_none());
        assert!(r.stat_blob("a", &claimed).is_err());
        assert!(r.upload_status("a", &id).is_err());

        let d = Digest::of(b"data");
        let id = r.start_upload("a").unwrap();
        let mut w = r.resume_upload("a", &id, None).unwrap();
        w.write_all(b"dat").unwrap();
        let e = r
            .complete_upload("a", &id, Some(w), &d, Some(4))
            .unwrap_err();
        assert!(matches!(e, RegistryError::SizeInvalid { .. }), "{e}");
        assert!(r.stat_blob("a", &d).is_err());
    }

    #[test]
    fn monolithic_upload_of_existing_content_dedupes() {
        let f = Fixture::new();
        let r = &f.registry;
        let d = Digest::of(b"same");
        assert_eq!(r.upload_blob("a", &mut &b"same"[..], &d).unwrap(), 4);
        assert_eq!(r.upload_blob("b", &mut &b"same"[..], &d).unwrap(), 4);
        assert_eq!(r.stat_blob("b", &d).unwrap(), 4);
        assert_eq!(r.content().list().unwrap().len(), 1);
    }
}
