//! The manifest pull path, the registry's hottest: every `docker pull`
//! asks for a manifest by tag, often twice (`HEAD`, then `GET`), and
//! orchestrators ask again on every task start. It answers the same as
//! [`Registry::stat_manifest`] and [`Registry::get_manifest`] at a fraction
//! of the cost: the two state-store records it reads are decoded only in
//! the fields it needs, and the bytes come from memory
//! ([`ManifestCache`](crate::manifest_cache::ManifestCache)) after the
//! first read. Nothing here writes; recording the pull is the caller's.

use bytes::Bytes;
use dockyard_image::Digest;
use dockyard_image::content::read_blob;
use serde::Deserialize;

use crate::Registry;
use crate::error::RegistryError;
use crate::keys;
use crate::manifests::acceptable;
use crate::names::ManifestRef;
use crate::records;

/// The part of a manifest record a pull needs: serde skips the rest (the
/// blob list with a digest to validate per layer, annotations, times)
/// without building it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestServed {
    media_type: String,
    size: u64,
}

/// What answering a manifest request takes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ManifestHead {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

impl Registry {
    /// The manifest `reference` names in `name`, if its media type is
    /// acceptable: the tag and the manifest record from the state store,
    /// never the content store. Fails as [`Registry::stat_manifest`] does.
    pub(crate) fn manifest_head(
        &self,
        name: &str,
        reference: &ManifestRef,
        accept: &[String],
    ) -> Result<ManifestHead, RegistryError> {
        let digest = self.reference_digest(name, reference)?;
        let key = keys::manifest(name, &digest);
        let Some((r, _)) = records::get::<ManifestServed>(self.store(), &key)? else {
            return Err(self.manifest_unknown(name, reference));
        };
        if !acceptable(&r.media_type, accept) {
            return Err(RegistryError::NotAcceptable {
                name: name.to_owned(),
                reference: reference.to_string(),
                media_type: r.media_type,
            });
        }
        Ok(ManifestHead {
            digest,
            media_type: r.media_type,
            size: r.size,
        })
    }

    /// A manifest's bytes if they are in memory.
    pub(crate) fn cached_manifest(&self, digest: &Digest) -> Option<Bytes> {
        self.inner.manifests.get(digest)
    }

    /// A manifest's bytes, from memory or else from the content store
    /// (blocking), then kept in memory. `head` comes from
    /// [`Registry::manifest_head`] for `name` and `reference`.
    pub(crate) fn manifest_bytes(
        &self,
        name: &str,
        reference: &ManifestRef,
        head: &ManifestHead,
    ) -> Result<Bytes, RegistryError> {
        if let Some(b) = self.cached_manifest(&head.digest) {
            return Ok(b);
        }
        let limit = head.size.max(self.config().max_manifest_size);
        let bytes = read_blob(self.content(), &head.digest, limit).map_err(|e| match e {
            dockyard_image::ContentError::NotFound(_) => self.manifest_unknown(name, reference),
            e => RegistryError::Content(e),
        })?;
        // The content store publishes a blob only under the digest of its
        // bytes, so these are the digest's bytes for as long as it exists.
        let bytes = Bytes::from(bytes);
        self.inner
            .manifests
            .insert(head.digest.clone(), bytes.clone());
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use dockyard_image::manifest::{DOCKER_MANIFEST, OCI_MANIFEST};

    use super::*;
    use crate::testutil::{Fixture, push_image};

    fn tag(t: &str) -> ManifestRef {
        ManifestRef::Tag(t.into())
    }

    /// The same answer as the general path, success or error code alike.
    fn same_as_stat(r: &Registry, name: &str, reference: &ManifestRef, accept: &[String]) {
        let fast = r.manifest_head(name, reference, accept);
        let full = r.stat_manifest(name, reference, accept);
        match (fast, full) {
            (Ok(h), Ok(i)) => {
                assert_eq!(
                    (h.digest, h.media_type, h.size),
                    (i.digest, i.media_type, i.size)
                );
            }
            (Err(a), Err(b)) => {
                assert_eq!(a.code(), b.code(), "{a} / {b}");
                assert_eq!(a.to_string(), b.to_string());
            }
            (a, b) => panic!(
                "{name} {reference}: fast {:?}, full {:?}",
                a.map(|_| ()),
                b.map(|_| ())
            ),
        }
    }

    #[test]
    fn answers_as_the_general_path() {
        let f = Fixture::new();
        let r = &f.registry;
        let (d, _) = push_image(r, "team/app", "v1", b"1");
        let by_digest = ManifestRef::Digest(d.clone());
        let none: &[String] = &[];
        let oci = [OCI_MANIFEST.to_string()];
        let docker = [DOCKER_MANIFEST.to_string()];
        for (name, reference, accept) in [
            ("team/app", tag("v1"), none),
            ("team/app", by_digest.clone(), none),
            ("team/app", tag("v1"), &oci[..]),
            ("team/app", tag("v1"), &docker[..]),
            ("team/app", tag("v2"), none),
            ("team/app", ManifestRef::Digest(Digest::of(b"x")), none),
            ("team/other", tag("v1"), none),
            ("Bad/Name", tag("v1"), none),
        ] {
            same_as_stat(r, name, &reference, accept);
        }
        let h = r.manifest_head("team/app", &tag("v1"), none).unwrap();
        assert_eq!(h.digest, d);
    }

    #[test]
    fn bytes_are_read_once_then_served_from_memory() {
        let f = Fixture::new();
        let r = &f.registry;
        let (d, bytes) = push_image(r, "a", "v1", b"1");
        assert_eq!(r.cached_manifest(&d), None);
        let head = r.manifest_head("a", &tag("v1"), &[]).unwrap();
        let got = r.manifest_bytes("a", &tag("v1"), &head).unwrap();
        assert_eq!(got, bytes);
        assert_eq!(r.cached_manifest(&d), Some(Bytes::from(bytes.clone())));
        // From memory now: even with the file gone, the digest's bytes are
        // still its bytes (whether the repository holds the manifest is
        // the state store's to say, and manifest_head asks it each time).
        r.content().delete(&d).unwrap();
        assert_eq!(r.manifest_bytes("a", &tag("v1"), &head).unwrap(), bytes);
    }

    #[test]
    fn a_missing_file_is_an_unknown_manifest() {
        let f = Fixture::new();
        let r = &f.registry;
        let (d, _) = push_image(r, "a", "v1", b"1");
        let head = r.manifest_head("a", &tag("v1"), &[]).unwrap();
        r.content().delete(&d).unwrap();
        let e = r.manifest_bytes("a", &tag("v1"), &head).unwrap_err();
        assert!(matches!(e, RegistryError::ManifestUnknown { .. }), "{e}");
        assert_eq!(r.cached_manifest(&d), None);
    }
}
