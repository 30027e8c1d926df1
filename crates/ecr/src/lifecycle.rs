//! Lifecycle policies: Put/Get/DeleteLifecyclePolicy, the preview
//! (Start/GetLifecyclePolicyPreview) and enforcement, all over the pure
//! evaluator of `dockyard-lifecycle`. Previews are computed at once (the
//! evaluation is cheap) and kept under `ecr/lifecycle-preview/NAME` until
//! the next preview or the repository's deletion.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use dockyard_aws::ApiError;
use dockyard_aws::router::CallContext;
use dockyard_lifecycle::{Expiry, Image, LifecyclePolicy};
use dockyard_registry::{ImageInfo, ManifestRef, RegistryError};
use dockyard_store::{Op, StoreExt};

use crate::EcrService;
use crate::error::{from_registry, invalid_field, server};
use crate::input::{self, decode};
use crate::meta::{self, epoch};

/// ECR's bounds on lifecycle policy text.
const POLICY_LEN: std::ops::RangeInclusive<usize> = 100..=30_720;

pub(crate) fn preview_key(name: &str) -> String {
    format!("ecr/lifecycle-preview/{name}")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutInput {
    registry_id: Option<String>,
    repository_name: String,
    lifecycle_policy_text: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RepoInput {
    registry_id: Option<String>,
    repository_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartInput {
    registry_id: Option<String>,
    repository_name: String,
    lifecycle_policy_text: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    tag_status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetPreviewInput {
    registry_id: Option<String>,
    repository_name: String,
    image_ids: Option<Vec<crate::images::ImageId>>,
    next_token: Option<String>,
    max_results: Option<i64>,
    filter: Option<Filter>,
}

/// A stored preview.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Preview {
    policy_text: String,
    results: Vec<PreviewResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PreviewResult {
    digest: String,
    tags: Vec<String>,
    pushed_at: DateTime<Utc>,
    rule_priority: u32,
}

/// Checks lifecycle policy text as PutLifecyclePolicy does.
pub(crate) fn parse(text: &str) -> Result<LifecyclePolicy, ApiError> {
    if !POLICY_LEN.contains(&text.chars().count()) {
        return Err(invalid_field(
            "lifecyclePolicyText",
            "Member must have length between 100 and 30720",
        ));
    }
    LifecyclePolicy::parse(text).map_err(|e| invalid_field("lifecyclePolicyText", e))
}

fn not_found(name: &str, registry_id: &str) -> ApiError {
    ApiError::client(
        "LifecyclePolicyNotFoundException",
        format!(
            "Lifecycle policy does not exist for the repository with name '{name}' in the registry with id '{registry_id}'"
        ),
    )
}

fn lifecycle_images(images: &[ImageInfo]) -> Vec<Image> {
    images
        .iter()
        .map(|i| Image {
            digest: i.digest.to_string(),
            tags: i.tags.clone(),
            pushed_at: i.pushed_at,
        })
        .collect()
}

/// What the policy expires, leaving out images an index of the repository
/// still needs (ECR does not delete those either).
fn expiring(policy: &LifecyclePolicy, images: &[ImageInfo], now: DateTime<Utc>) -> Vec<Expiry> {
    let needed: std::collections::BTreeSet<String> = images
        .iter()
        .flat_map(|i| i.children.iter().map(|c| c.to_string()))
        .collect();
    dockyard_lifecycle::evaluate(policy, &lifecycle_images(images), now)
        .into_iter()
        .filter(|e| !needed.contains(&e.digest))
        .collect()
}

/// What one enforcement run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LifecycleReport {
    /// Repositories with a policy.
    pub repositories: usize,
    /// Images deleted.
    pub expired: usize,
}

impl EcrService {
    pub(crate) fn put_lifecycle_policy(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: PutInput = decode(input)?;
        self.existing(ctx, i.registry_id.as_deref(), &i.repository_name)?;
        parse(&i.lifecycle_policy_text)?;
        meta::update(&*self.store, &i.repository_name, &ctx.account, |m| {
            m.lifecycle_policy = Some(i.lifecycle_policy_text.clone());
            m.lifecycle_evaluated_at = None;
            Ok(())
        })?;
        Ok(json!({
            "registryId": ctx.account,
            "repositoryName": i.repository_name,
            "lifecyclePolicyText": i.lifecycle_policy_text,
        }))
    }

    pub(crate) fn get_lifecycle_policy(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: RepoInput = decode(input)?;
        let m = self.existing(ctx, i.registry_id.as_deref(), &i.repository_name)?;
        let text = m
            .lifecycle_policy
            .ok_or_else(|| not_found(&i.repository_name, &ctx.account))?;
        let mut v = json!({
            "registryId": ctx.account,
            "repositoryName": i.repository_name,
            "lifecyclePolicyText": text,
        });
        if let Some(t) = m.lifecycle_evaluated_at {
            v["lastEvaluatedAt"] = json!(epoch(t));
        }
        Ok(v)
    }

    pub(crate) fn delete_lifecycle_policy(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: RepoInput = decode(input)?;
        self.existing(ctx, i.registry_id.as_deref(), &i.repository_name)?;
        let (_, (text, at)) = meta::update(&*self.store, &i.repository_name, &ctx.account, |m| {
            let text = m
                .lifecycle_policy
                .take()
                .ok_or_else(|| not_found(&i.repository_name, &ctx.account))?;
            Ok((text, m.lifecycle_evaluated_at.take()))
        })?;
        let mut v = json!({
            "registryId": ctx.account,
            "repositoryName": i.repository_name,
            "lifecyclePolicyText": text,
        });
        if let Some(t) = at {
            v["lastEvaluatedAt"] = json!(epoch(t));
        }
        Ok(v)
    }

    pub(crate) fn start_lifecycle_policy_preview(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: StartInput = decode(input)?;
        let name = &i.repository_name;
        let m = self.existing(ctx, i.registry_id.as_deref(), name)?;
        let text = match i.lifecycle_policy_text.or(m.lifecycle_policy) {
            Some(t) => t,
            None => return Err(not_found(name, &ctx.account)),
        };
        let policy = parse(&text)?;
        let images = self.images(ctx, name)?;
        let results = expiring(&policy, &images, ctx.now)
            .into_iter()
            .map(|e| PreviewResult {
                digest: e.digest,
                tags: e.tags,
                pushed_at: e.pushed_at,
                rule_priority: e.rule_priority,
            })
            .collect();
        let preview = Preview {
            policy_text: text.clone(),
            results,
        };
        self.store
            .put(
                &preview_key(name),
                serde_json::to_vec(&preview).unwrap_or_default(),
            )
            .map_err(server)?;
        Ok(json!({
            "registryId": ctx.account,
            "repositoryName": name,
            "lifecyclePolicyText": text,
            "status": "COMPLETE",
        }))
    }

    pub(crate) fn get_lifecycle_policy_preview(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: GetPreviewInput = decode(input)?;
        let name = &i.repository_name;
        self.existing(ctx, i.registry_id.as_deref(), name)?;
        let preview: Preview = match self.store.get(&preview_key(name)).map_err(server)? {
            Some(kv) => serde_json::from_slice(&kv.value)
                .map_err(|e| server(format!("corrupt record {}: {e}", kv.key)))?,
            None => {
                return Err(ApiError::client(
                    "LifecyclePolicyPreviewNotFoundException",
                    format!(
                        "There is no preview result for the repository with name '{name}' in the registry with id '{}'",
                        ctx.account
                    ),
                ));
            }
        };
        let n = match i.max_results {
            None => 100,
            Some(n @ 1..=100) => n as usize,
            Some(_) => {
                return Err(invalid_field(
                    "maxResults",
                    "Member must have value between 1 and 100",
                ));
            }
        };
        let tag_status = i.filter.and_then(|f| f.tag_status);
        let mut results: Vec<&PreviewResult> = preview
            .results
            .iter()
            .filter(|r| match tag_status.as_deref() {
                Some("TAGGED") => !r.tags.is_empty(),
                Some("UNTAGGED") => r.tags.is_empty(),
                _ => true,
            })
            .collect();
        if let Some(ids) = &i.image_ids {
            results.retain(|r| {
                ids.iter().any(|id| {
                    id.image_digest.as_deref() == Some(r.digest.as_str())
                        || id.image_tag.as_ref().is_some_and(|t| r.tags.contains(t))
                })
            });
        }
        let total = preview.results.len();
        let after = input::decode_token(i.next_token.as_deref())?;
        let (page, token) = input::paginate(results, |r| r.digest.clone(), after.as_deref(), n);
        let rendered: Vec<Value> = page
            .iter()
            .map(|r| {
                json!({
                    "imageTags": r.tags,
                    "imageDigest": r.digest,
                    "imagePushedAt": epoch(r.pushed_at),
                    "action": {"type": "EXPIRE"},
                    "appliedRulePriority": r.rule_priority,
                })
            })
            .collect();
        let mut v = json!({
            "registryId": ctx.account,
            "repositoryName": name,
            "lifecyclePolicyText": preview.policy_text,
            "status": "COMPLETE",
            "previewResults": rendered,
            "summary": {"expiringImageTotalCount": total},
        });
        if let Some(t) = token {
            v["nextToken"] = json!(t);
        }
        Ok(v)
    }

    /// Applies every repository's lifecycle policy at `now`: deletes the
    /// images it expires and records the evaluation time.
    pub fn enforce_lifecycle_policies(
        &self,
        now: DateTime<Utc>,
    ) -> Result<LifecycleReport, ApiError> {
        let account = self.keys.account().to_owned();
        let mut report = LifecycleReport::default();
        let mut last: Option<String> = None;
        loop {
            let page = self
                .registry
                .repositories(None, last.as_deref())
                .map_err(|e| from_registry(e, &account))?;
            for name in &page.items {
                if let Some(n) = self.enforce_one(name, &account, now)? {
                    report.repositories += 1;
                    report.expired += n;
                }
            }
            last = page.items.last().cloned();
            if !page.more {
                break;
            }
        }
        Ok(report)
    }

    /// How many images repository `name`'s policy expired; `None` when it
    /// has no policy.
    fn enforce_one(
        &self,
        name: &str,
        account: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<usize>, ApiError> {
        let Some((m, _)) = meta::load(&*self.store, name)? else {
            return Ok(None);
        };
        let Some(text) = &m.lifecycle_policy else {
            return Ok(None);
        };
        // A stored policy that no longer parses expires nothing.
        let Ok(policy) = LifecyclePolicy::parse(text) else {
            return Ok(None);
        };
        let images = match self.registry.list_images(name) {
            Ok(i) => i,
            Err(RegistryError::NameUnknown(_)) => return Ok(None),
            Err(e) => return Err(from_registry(e, account)),
        };
        let mut expired = 0;
        for e in expiring(&policy, &images, now) {
            let Ok(d) = dockyard_image::Digest::parse(&e.digest) else {
                continue;
            };
            match self.registry.delete_manifest(name, &ManifestRef::Digest(d)) {
                Ok(()) => expired += 1,
                Err(RegistryError::ManifestUnknown { .. } | RegistryError::NameUnknown(_)) => {}
                Err(e) => return Err(from_registry(e, account)),
            }
        }
        let _ = meta::update(&*self.store, name, account, |m| {
            m.lifecycle_evaluated_at = Some(now);
            Ok(())
        });
        Ok(Some(expired))
    }
}

/// The op that drops a repository's preview.
pub(crate) fn forget_op(name: &str) -> Op {
    Op::Delete {
        key: preview_key(name),
    }
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
