//! What ECR keeps about a repository beyond what the registry holds: tag
//! mutability, scanning and encryption settings, tags and policies. One
//! record per repository under `ecr/repos/NAME`, created and deleted in the
//! registry's own transactions so the two never disagree. A repository the
//! registry has without a record (one pushed to before ECR existed) has
//! the defaults.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use dockyard_aws::ApiError;
use dockyard_registry::keys as registry_keys;
use dockyard_store::{Compare, Op, Store, Txn};

use crate::error::{invalid_field, repo_not_found, server};

/// The key of a repository's record.
pub(crate) fn key(name: &str) -> String {
    format!("ecr/repos/{name}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum Mutability {
    #[default]
    Mutable,
    Immutable,
    ImmutableWithExclusion,
    MutableWithExclusion,
}

impl Mutability {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        serde_json::from_value(Value::String(s.to_owned())).map_err(|_| {
            invalid_field(
                "imageTagMutability",
                "Member must satisfy enum value set: [MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]",
            )
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mutable => "MUTABLE",
            Self::Immutable => "IMMUTABLE",
            Self::ImmutableWithExclusion => "IMMUTABLE_WITH_EXCLUSION",
            Self::MutableWithExclusion => "MUTABLE_WITH_EXCLUSION",
        }
    }

    fn has_exclusions(self) -> bool {
        matches!(
            self,
            Self::ImmutableWithExclusion | Self::MutableWithExclusion
        )
    }
}

/// `{"filterType": "WILDCARD", "filter": "release-*"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExclusionFilter {
    pub filter_type: String,
    pub filter: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tag {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value")]
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Encryption {
    pub encryption_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
}

impl Default for Encryption {
    fn default() -> Self {
        Self {
            encryption_type: "AES256".into(),
            kms_key: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct RepoMeta {
    pub mutability: Mutability,
    pub exclusion_filters: Vec<ExclusionFilter>,
    pub scan_on_push: bool,
    pub encryption: Encryption,
    pub tags: Vec<Tag>,
    pub lifecycle_policy: Option<String>,
    pub lifecycle_evaluated_at: Option<DateTime<Utc>>,
    pub repository_policy: Option<String>,
}

/// Whether a `*` wildcard pattern matches a whole tag.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    if !text.ends_with(last) {
        return false;
    }
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

impl RepoMeta {
    /// Whether `tag` may move to another image.
    pub fn tag_mutable(&self, tag: &str) -> bool {
        let excluded = || {
            self.exclusion_filters
                .iter()
                .any(|f| wildcard_match(&f.filter, tag))
        };
        match self.mutability {
            Mutability::Mutable => true,
            Mutability::Immutable => false,
            Mutability::ImmutableWithExclusion => excluded(),
            Mutability::MutableWithExclusion => !excluded(),
        }
    }

    /// Sets the mutability, checking the filters go with it.
    pub fn set_mutability(
        &mut self,
        mutability: Mutability,
        filters: Option<Vec<ExclusionFilter>>,
    ) -> Result<(), ApiError> {
        let filters = filters.unwrap_or_default();
        if mutability.has_exclusions() && filters.is_empty() {
            return Err(invalid_field(
                "imageTagMutabilityExclusionFilters",
                format!("filters are required with {}", mutability.as_str()),
            ));
        }
        if !mutability.has_exclusions() && !filters.is_empty() {
            return Err(invalid_field(
                "imageTagMutabilityExclusionFilters",
                format!("filters are not allowed with {}", mutability.as_str()),
            ));
        }
        if filters.len() > 5 {
            return Err(invalid_field(
                "imageTagMutabilityExclusionFilters",
                "Member must have length less than or equal to 5",
            ));
        }
        for f in &filters {
            if f.filter_type != "WILDCARD" {
                return Err(invalid_field(
                    "imageTagMutabilityExclusionFilters.member.filterType",
                    "Member must satisfy enum value set: [WILDCARD]",
                ));
            }
            let ok = (1..=128).contains(&f.filter.len())
                && f.filter
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._*-".contains(&b));
            if !ok {
                return Err(invalid_field(
                    "imageTagMutabilityExclusionFilters.member.filter",
                    "must satisfy regular expression '^[0-9a-zA-Z._*-]{1,128}$'",
                ));
            }
        }
        self.mutability = mutability;
        self.exclusion_filters = filters;
        Ok(())
    }

    fn encode(&self) -> Vec<u8> {
        // Plain data: serialising cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn put_op(&self, name: &str) -> Op {
        Op::Put {
            key: key(name),
            value: self.encode(),
        }
    }
}

/// Reads a repository's record; `None` when the repository does not exist.
pub(crate) fn load(
    store: &dyn Store,
    name: &str,
) -> Result<Option<(RepoMeta, Option<u64>)>, ApiError> {
    if store
        .get(&registry_keys::repo(name))
        .map_err(server)?
        .is_none()
    {
        return Ok(None);
    }
    match store.get(&key(name)).map_err(server)? {
        None => Ok(Some((RepoMeta::default(), None))),
        Some(kv) => {
            let meta = serde_json::from_slice(&kv.value)
                .map_err(|e| server(format!("corrupt record {}: {e}", kv.key)))?;
            Ok(Some((meta, Some(kv.mod_revision))))
        }
    }
}

/// Changes a repository's record with `f`, retrying on concurrent
/// changes; the repository must exist throughout.
pub(crate) fn update<T>(
    store: &dyn Store,
    name: &str,
    registry_id: &str,
    mut f: impl FnMut(&mut RepoMeta) -> Result<T, ApiError>,
) -> Result<(RepoMeta, T), ApiError> {
    for _ in 0..16 {
        let Some((mut meta, rev)) = load(store, name)? else {
            return Err(repo_not_found(name, registry_id));
        };
        let out = f(&mut meta)?;
        let mut compares = vec![Compare::Exists(registry_keys::repo(name))];
        compares.push(match rev {
            Some(r) => Compare::ModRevision(key(name), r),
            None => Compare::Missing(key(name)),
        });
        let r = store
            .txn(Txn {
                compares,
                success: vec![meta.put_op(name)],
                failure: vec![],
            })
            .map_err(server)?;
        if r.succeeded {
            return Ok((meta, out));
        }
    }
    Err(ApiError::client(
        "LimitExceededException",
        format!("too many concurrent changes to repository {name}; retry"),
    ))
}

/// Where a repository lives, for rendering.
pub(crate) struct Addr<'a> {
    pub region: &'a str,
    pub account: &'a str,
    /// `HOST:PORT` clients push to.
    pub host: &'a str,
}

impl Addr<'_> {
    pub fn arn(&self, name: &str) -> String {
        format!(
            "arn:aws:ecr:{}:{}:repository/{name}",
            self.region, self.account
        )
    }

    pub fn uri(&self, name: &str) -> String {
        format!("{}/{name}", self.host)
    }
}

pub(crate) fn epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// The `Repository` shape.
pub(crate) fn render(addr: &Addr<'_>, name: &str, created: DateTime<Utc>, m: &RepoMeta) -> Value {
    let mut v = json!({
        "repositoryArn": addr.arn(name),
        "registryId": addr.account,
        "repositoryName": name,
        "repositoryUri": addr.uri(name),
        "createdAt": epoch(created),
        "imageTagMutability": m.mutability.as_str(),
        "imageScanningConfiguration": {"scanOnPush": m.scan_on_push},
        "encryptionConfiguration": m.encryption,
    });
    if !m.exclusion_filters.is_empty() {
        v["imageTagMutabilityExclusionFilters"] = json!(m.exclusion_filters);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("release-*", "release-1"));
        assert!(wildcard_match("*", "x"));
        assert!(wildcard_match("a*b*c", "aXbYc"));
        assert!(!wildcard_match("a*b*c", "aXcYb"));
        assert!(!wildcard_match("ab*ba", "aba"), "no overlap of ends");
        assert!(wildcard_match("v1", "v1"));
        assert!(!wildcard_match("v1", "v10"));
    }

    #[test]
    fn mutability_with_exclusions() {
        let mut m = RepoMeta::default();
        assert!(m.tag_mutable("x"));
        let f = |s: &str| ExclusionFilter {
            filter_type: "WILDCARD".into(),
            filter: s.into(),
        };
        m.set_mutability(Mutability::ImmutableWithExclusion, Some(vec![f("dev-*")]))
            .unwrap();
        assert!(m.tag_mutable("dev-1"));
        assert!(!m.tag_mutable("v1"));
        m.set_mutability(Mutability::MutableWithExclusion, Some(vec![f("v*")]))
            .unwrap();
        assert!(!m.tag_mutable("v1"));
        assert!(m.tag_mutable("latest"));
        assert!(
            m.set_mutability(Mutability::Immutable, Some(vec![f("x")]))
                .is_err()
        );
        assert!(
            m.set_mutability(Mutability::MutableWithExclusion, None)
                .is_err()
        );
        assert!(
            m.set_mutability(Mutability::MutableWithExclusion, Some(vec![f("a b")]))
                .is_err()
        );
        m.set_mutability(Mutability::Immutable, None).unwrap();
        assert!(!m.tag_mutable("dev-1"));
    }
}
