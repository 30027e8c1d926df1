//! Repositories and listings: the catalog, tags, referrers, and the
//! image list the ECR API describes.

use std::collections::BTreeMap;

use dockyard_image::Digest;
use dockyard_store::{Compare, KeyValue, Op, Txn};

use crate::Registry;
use crate::error::RegistryError;
use crate::keys;
use crate::manifests::{ImageInfo, Page, Referrer};
use crate::names::{check_name, check_tag};
use crate::records::{self, ManifestRecord, ReferrerRecord, RepoRecord, TagRecord};

impl Registry {
    /// Keys under `prefix` after `prefix + last`, at most `n` (capped at
    /// the page size); `n == 0` is an empty page.
    fn page(
        &self,
        prefix: &str,
        n: Option<usize>,
        last: Option<&str>,
    ) -> Result<Page<KeyValue>, RegistryError> {
        let want = n
            .unwrap_or(self.config().page_size)
            .min(self.config().page_size);
        if want == 0 {
            return Ok(Page {
                items: vec![],
                more: false,
            });
        }
        let after = last.map(|l| format!("{prefix}{l}"));
        let (mut items, _) = self.store().range(prefix, after.as_deref(), want + 1)?;
        let more = items.len() > want;
        items.truncate(want);
        Ok(Page { items, more })
    }

    pub fn repository_exists(&self, name: &str) -> Result<bool, RegistryError> {
        check_name(name)?;
        Ok(self.store().get(&keys::repo(name))?.is_some())
    }

    /// Creates an empty repository; `false` when it already exists.
    pub fn create_repository(&self, name: &str) -> Result<bool, RegistryError> {
        self.create_repository_with(name, vec![])
    }

    /// Creates an empty repository and runs `extra` (a caller's own
    /// records about it) in the same transaction; `false`, with nothing
    /// written, when it already exists.
    pub fn create_repository_with(
        &self,
        name: &str,
        extra: Vec<Op>,
    ) -> Result<bool, RegistryError> {
        check_name(name)?;
        let key = keys::repo(name);
        let mut success = vec![records::put(
            key.clone(),
            &RepoRecord {
                created_at: self.now(),
            },
        )];
        success.extend(extra);
        let r = self.store().txn(Txn {
            compares: vec![Compare::Missing(key)],
            success,
            failure: vec![],
        })?;
        Ok(r.succeeded)
    }

    /// When repository `name` was created.
    pub fn repository_created_at(
        &self,
        name: &str,
    ) -> Result<chrono::DateTime<chrono::Utc>, RegistryError> {
        check_name(name)?;
        match records::get::<RepoRecord>(self.store(), &keys::repo(name))? {
            Some((r, _)) => Ok(r.created_at),
            None => Err(RegistryError::NameUnknown(name.to_owned())),
        }
    }

    /// Deletes a repository with its tags, manifests, links and referrers
    /// in one transaction; the blobs go with the next garbage collections.
    pub fn delete_repository(&self, name: &str) -> Result<(), RegistryError> {
        self.delete_repository_with(name, vec![])
    }

    /// [`Registry::delete_repository`], running `extra` in the same
    /// transaction.
    pub fn delete_repository_with(&self, name: &str, extra: Vec<Op>) -> Result<(), RegistryError> {
        check_name(name)?;
        let key = keys::repo(name);
        // Prefix by prefix: `registry/repos/team/` would also hold the keys
        // of `team/app`.
        let prefixes = [
            keys::tags_prefix(name),
            keys::manifests_prefix(name),
            keys::links_prefix(name),
            keys::referrers_all(name),
        ];
        let mut success = vec![records::delete(key.clone())];
        success.extend(
            prefixes
                .into_iter()
                .map(|prefix| Op::DeletePrefix { prefix }),
        );
        success.extend(extra);
        let r = self.store().txn(Txn {
            compares: vec![Compare::Exists(key)],
            success,
            failure: vec![],
        })?;
        if r.succeeded {
            Ok(())
        } else {
            Err(RegistryError::NameUnknown(name.to_owned()))
        }
    }

    /// Repository names in byte order (`/v2/_catalog`).
    pub fn repositories(
        &self,
        n: Option<usize>,
        last: Option<&str>,
    ) -> Result<Page<String>, RegistryError> {
        let page = self.page(keys::CATALOG, n, last)?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|kv| kv.key[keys::CATALOG.len()..].to_owned())
                .collect(),
            more: page.more,
        })
    }

    /// Tags of a repository in byte order.
    pub fn tags(
        &self,
        name: &str,
        n: Option<usize>,
        last: Option<&str>,
    ) -> Result<Page<String>, RegistryError> {
        check_name(name)?;
        if let Some(l) = last {
            check_tag(l)?;
        }
        if self.store().get(&keys::repo(name))?.is_none() {
            return Err(RegistryError::NameUnknown(name.to_owned()));
        }
        let prefix = keys::tags_prefix(name);
        let page = self.page(&prefix, n, last)?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|kv| kv.key[prefix.len()..].to_owned())
                .collect(),
            more: page.more,
        })
    }

    /// Manifests of `name` whose subject is `subject`, optionally only
    /// those of one artifact type.
    pub fn referrers(
        &self,
        name: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>, RegistryError> {
        check_name(name)?;
        if self.store().get(&keys::repo(name))?.is_none() {
            return Err(RegistryError::NameUnknown(name.to_owned()));
        }
        let prefix = keys::referrers_prefix(name, subject);
        let mut out = Vec::new();
        for kv in self.store().range(&prefix, None, 0)?.0 {
            let r: ReferrerRecord = records::decode(&kv)?;
            if artifact_type.is_some_and(|a| r.artifact_type.as_deref() != Some(a)) {
                continue;
            }
            let digest =
                Digest::parse(&kv.key[prefix.len()..]).map_err(|e| RegistryError::Corrupt {
                    key: kv.key.clone(),
                    reason: e.to_string(),
                })?;
            out.push(Referrer {
                media_type: r.media_type,
                digest,
                size: r.size,
                artifact_type: r.artifact_type,
                annotations: r.annotations,
            });
        }
        Ok(out)
    }

    /// Every manifest of a repository with its tags.
    pub fn list_images(&self, name: &str) -> Result<Vec<ImageInfo>, RegistryError> {
        check_name(name)?;
        if self.store().get(&keys::repo(name))?.is_none() {
            return Err(RegistryError::NameUnknown(name.to_owned()));
        }
        let mut tags: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
        let tag_prefix = keys::tags_prefix(name);
        for kv in self.store().range(&tag_prefix, None, 0)?.0 {
            let t: TagRecord = records::decode(&kv)?;
            tags.entry(t.digest)
                .or_default()
                .push(kv.key[tag_prefix.len()..].to_owned());
        }
        let prefix = keys::manifests_prefix(name);
        let mut out = Vec::new();
        for kv in self.store().range(&prefix, None, 0)?.0 {
            let m: ManifestRecord = records::decode(&kv)?;
            let digest =
                Digest::parse(&kv.key[prefix.len()..]).map_err(|e| RegistryError::Corrupt {
                    key: kv.key.clone(),
                    reason: e.to_string(),
                })?;
            out.push(ImageInfo {
                tags: tags.remove(&digest).unwrap_or_default(),
                digest,
                media_type: m.media_type,
                manifest_size: m.size,
                content_size: m.content_size,
                pushed_at: m.pushed_at,
                last_pull: m.last_pull,
                artifact_type: m.artifact_type.or(m.config_media_type),
                subject: m.subject,
                children: m.children,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use dockyard_store::StoreExt;

    use super::*;
    use crate::names::ManifestRef;
    use crate::testutil::{Fixture, push_image};

    #[test]
    fn tags_page_in_byte_order() {
        let f = Fixture::new();
        let r = &f.registry;
        let m = push_image(r, "a", "v1", b"x");
        for t in ["B", "a", "c", "v2"] {
            r.put_manifest("a", &ManifestRef::Tag(t.into()), None, &m.1, &[])
                .unwrap();
        }
        let all = r.tags("a", None, None).unwrap();
        assert_eq!(all.items, ["B", "a", "c", "v1", "v2"]);
        assert!(!all.more);
        let p = r.tags("a", Some(2), None).unwrap();
        assert_eq!(
            (p.items.clone(), p.more),
            (["B", "a"].map(String::from).to_vec(), true)
        );
        let p = r.tags("a", Some(2), Some("a")).unwrap();
        assert_eq!(
            (p.items.clone(), p.more),
            (["c", "v1"].map(String::from).to_vec(), true)
        );
        let p = r.tags("a", Some(2), Some("v1")).unwrap();
        assert_eq!(
            (p.items.clone(), p.more),
            (["v2"].map(String::from).to_vec(), false)
        );
        let p = r.tags("a", Some(0), None).unwrap();
        assert!(p.items.is_empty() && !p.more);
        assert!(matches!(
            r.tags("nope", None, None),
            Err(RegistryError::NameUnknown(_))
        ));
        assert!(matches!(
            r.tags("a", None, Some("..")),
            Err(RegistryError::TagInvalid(_))
        ));
    }

    #[test]
    fn catalog_and_repository_lifecycle() {
        let f = Fixture::with_config(|c| c.page_size = 2);
        let r = &f.registry;
        push_image(r, "team/app", "v1", b"1");
        push_image(r, "team", "v1", b"2");
        assert!(r.create_repository("zed").unwrap());
        assert!(!r.create_repository("zed").unwrap());
        let p = r.repositories(None, None).unwrap();
        assert_eq!(
            (p.items.clone(), p.more),
            (["team", "team/app"].map(String::from).to_vec(), true)
        );
        let p = r.repositories(Some(10), Some("team/app")).unwrap();
        assert_eq!(
            (p.items.clone(), p.more),
            (["zed"].map(String::from).to_vec(), false)
        );

        // Deleting `team` leaves `team/app` alone.
        r.delete_repository("team").unwrap();
        assert!(!r.repository_exists("team").unwrap());
        assert_eq!(r.tags("team/app", None, None).unwrap().items, ["v1"]);
        assert_eq!(r.list_images("team/app").unwrap().len(), 1);
        assert!(
            r.store()
                .list(&keys::tags_prefix("team"))
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            r.delete_repository("team"),
            Err(RegistryError::NameUnknown(_))
        ));
    }

    #[test]
    fn list_images_joins_tags() {
        let f = Fixture::new();
        let r = &f.registry;
        let (d, bytes) = push_image(r, "a", "v1", b"x");
        r.put_manifest("a", &ManifestRef::Tag("latest".into()), None, &bytes, &[])
            .unwrap();
        let (d2, _) = push_image(r, "a", "v2", b"y");
        let imgs = r.list_images("a").unwrap();
        assert_eq!(imgs.len(), 2);
        let one = imgs.iter().find(|i| i.digest == d).unwrap();
        assert_eq!(one.tags, ["latest", "v1"]);
        assert_eq!(one.manifest_size, bytes.len() as u64);
        assert_eq!(
            one.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
        assert!(imgs.iter().any(|i| i.digest == d2 && i.tags == ["v2"]));
    }
}
