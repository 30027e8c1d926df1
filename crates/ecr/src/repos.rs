//! Repository operations: create, describe, delete, settings and tags.

use serde::Deserialize;
use serde_json::{Value, json};

use dockyard_aws::ApiError;
use dockyard_aws::router::CallContext;
use dockyard_store::Op;

use crate::EcrService;
use crate::error::{from_registry, invalid, invalid_field, repo_not_found};
use crate::input::{self, decode};
use crate::meta::{self, Encryption, ExclusionFilter, Mutability, RepoMeta, Tag};

/// The most tags a repository carries, as on AWS.
const MAX_TAGS: usize = 50;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    registry_id: Option<String>,
    repository_name: String,
    tags: Option<Vec<Tag>>,
    image_tag_mutability: Option<String>,
    image_tag_mutability_exclusion_filters: Option<Vec<ExclusionFilter>>,
    image_scanning_configuration: Option<ScanningConfig>,
    encryption_configuration: Option<Encryption>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScanningConfig {
    #[serde(default)]
    scan_on_push: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeInput {
    registry_id: Option<String>,
    repository_names: Option<Vec<String>>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteInput {
    registry_id: Option<String>,
    repository_name: String,
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MutabilityInput {
    registry_id: Option<String>,
    repository_name: String,
    image_tag_mutability: String,
    image_tag_mutability_exclusion_filters: Option<Vec<ExclusionFilter>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScanningInput {
    registry_id: Option<String>,
    repository_name: String,
    image_scanning_configuration: ScanningConfig,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TagInput {
    resource_arn: String,
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UntagInput {
    resource_arn: String,
    tag_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArnInput {
    resource_arn: String,
}

fn bad_tag(message: impl Into<String>) -> ApiError {
    ApiError::client("InvalidTagParameterException", message)
}

fn check_tags(tags: &[Tag]) -> Result<(), ApiError> {
    for t in tags {
        if !(1..=128).contains(&t.key.chars().count()) {
            return Err(bad_tag(format!(
                "tag key '{}' must be 1 to 128 characters long",
                t.key
            )));
        }
        if t.value.chars().count() > 256 {
            return Err(bad_tag(format!(
                "the value of tag '{}' is longer than 256 characters",
                t.key
            )));
        }
        if t.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(bad_tag(format!(
                "tag key '{}' uses the reserved prefix aws:",
                t.key
            )));
        }
    }
    Ok(())
}

/// Adds or replaces `new` tags in `tags`, keeping the limit.
fn merge_tags(tags: &mut Vec<Tag>, new: Vec<Tag>) -> Result<(), ApiError> {
    check_tags(&new)?;
    for t in new {
        match tags.iter_mut().find(|x| x.key == t.key) {
            Some(x) => x.value = t.value,
            None => tags.push(t),
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(ApiError::client(
            "TooManyTagsException",
            format!("a repository can have at most {MAX_TAGS} tags"),
        ));
    }
    Ok(())
}

/// The ops that remove everything ECR keeps about repository `name`.
pub(crate) fn forget_ops(name: &str) -> Vec<Op> {
    vec![
        Op::Delete {
            key: meta::key(name),
        },
        crate::lifecycle::forget_op(name),
        crate::scanning::forget_op(name),
    ]
}

impl EcrService {
    /// The `Repository` shape of an existing repository.
    fn repository(&self, ctx: &CallContext, name: &str, m: &RepoMeta) -> Result<Value, ApiError> {
        let created = self
            .registry
            .repository_created_at(name)
            .map_err(|e| from_registry(e, &ctx.account))?;
        Ok(meta::render(&self.addr(ctx), name, created, m))
    }

    /// Reads the repository an operation names; checks the name and the
    /// registry id on the way.
    pub(crate) fn existing(
        &self,
        ctx: &CallContext,
        registry_id: Option<&str>,
        name: &str,
    ) -> Result<RepoMeta, ApiError> {
        input::repository_name(name)?;
        let id = input::registry_id(registry_id, &ctx.account, Some(name))?;
        match meta::load(&*self.store, name)? {
            Some((m, _)) => Ok(m),
            None => Err(repo_not_found(name, id)),
        }
    }

    pub(crate) fn create_repository(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: CreateInput = decode(input)?;
        input::repository_name(&i.repository_name)?;
        let id = input::registry_id(i.registry_id.as_deref(), &ctx.account, None)?;
        let mut m = RepoMeta::default();
        if let Some(s) = &i.image_tag_mutability {
            m.set_mutability(
                Mutability::parse(s)?,
                i.image_tag_mutability_exclusion_filters,
            )?;
        } else if i.image_tag_mutability_exclusion_filters.is_some() {
            return Err(invalid_field(
                "imageTagMutabilityExclusionFilters",
                "filters need imageTagMutability IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION",
            ));
        }
        m.scan_on_push = i
            .image_scanning_configuration
            .is_some_and(|c| c.scan_on_push);
        if let Some(e) = i.encryption_configuration {
            match e.encryption_type.as_str() {
                "AES256" if e.kms_key.is_none() => {}
                "AES256" => {
                    return Err(invalid_field(
                        "encryptionConfiguration.kmsKey",
                        "a KMS key may only be given with encryptionType KMS",
                    ));
                }
                "KMS" | "KMS_DSSE" => {
                    return Err(ApiError::client(
                        "KmsException",
                        "Dockyard has no KMS: only encryptionType AES256 is supported",
                    ));
                }
                _ => {
                    return Err(invalid_field(
                        "encryptionConfiguration.encryptionType",
                        "Member must satisfy enum value set: [AES256, KMS, KMS_DSSE]",
                    ));
                }
            }
        }
        merge_tags(&mut m.tags, i.tags.unwrap_or_default())?;
        let created = self
            .registry
            .create_repository_with(&i.repository_name, vec![m.put_op(&i.repository_name)])
            .map_err(|e| from_registry(e, id))?;
        if !created {
            return Err(ApiError::client(
                "RepositoryAlreadyExistsException",
                format!(
                    "The repository with name '{}' already exists in the registry with id '{id}'",
                    i.repository_name
                ),
            ));
        }
        Ok(json!({"repository": self.repository(ctx, &i.repository_name, &m)?}))
    }

    pub(crate) fn describe_repositories(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: DescribeInput = decode(input)?;
        let first = i.repository_names.as_ref().and_then(|n| n.first());
        let id = input::registry_id(
            i.registry_id.as_deref(),
            &ctx.account,
            first.map(String::as_str),
        )?;
        if let Some(names) = i.repository_names {
            if i.next_token.is_some() || i.max_results.is_some() {
                return Err(invalid(
                    "maxResults and nextToken cannot be used with repositoryNames",
                ));
            }
            if names.is_empty() || names.len() > 100 {
                return Err(invalid_field(
                    "repositoryNames",
                    "Member must have length between 1 and 100",
                ));
            }
            let mut out = Vec::with_capacity(names.len());
            for n in &names {
                input::repository_name(n)?;
                let Some((m, _)) = meta::load(&*self.store, n)? else {
                    return Err(repo_not_found(n, id));
                };
                out.push(self.repository(ctx, n, &m)?);
            }
            return Ok(json!({ "repositories": out }));
        }
        let n = input::max_results(i.max_results, 100)?;
        let after = input::decode_token(i.next_token.as_deref())?;
        let page = self
            .registry
            .repositories(Some(n), after.as_deref())
            .map_err(|e| from_registry(e, id))?;
        let mut out = Vec::with_capacity(page.items.len());
        for name in &page.items {
            // A repository deleted since the listing is simply left out.
            if let Some((m, _)) = meta::load(&*self.store, name)? {
                match self.repository(ctx, name, &m) {
                    Ok(r) => out.push(r),
                    Err(e) if e.code == "RepositoryNotFoundException" => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let mut v = json!({ "repositories": out });
        if page.more
            && let Some(last) = page.items.last()
        {
            v["nextToken"] = json!(input::encode_token(last));
        }
        Ok(v)
    }

    pub(crate) fn delete_repository(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: DeleteInput = decode(input)?;
        let name = &i.repository_name;
        let m = self.existing(ctx, i.registry_id.as_deref(), name)?;
        let id = &ctx.account;
        let repo = self.repository(ctx, name, &m)?;
        if !i.force {
            let images = self
                .registry
                .list_images(name)
                .map_err(|e| from_registry(e, id))?;
            if !images.is_empty() {
                return Err(ApiError::client(
                    "RepositoryNotEmptyException",
                    format!(
                        "The repository with name '{name}' in registry with id '{id}' cannot be deleted because it still contains images"
                    ),
                ));
            }
        }
        self.registry
            .delete_repository_with(name, forget_ops(name))
            .map_err(|e| from_registry(e, id))?;
        Ok(json!({ "repository": repo }))
    }

    pub(crate) fn put_image_tag_mutability(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: MutabilityInput = decode(input)?;
        self.existing(ctx, i.registry_id.as_deref(), &i.repository_name)?;
        let mutability = Mutability::parse(&i.image_tag_mutability)?;
        let filters = i.image_tag_mutability_exclusion_filters;
        let (m, ()) = meta::update(&*self.store, &i.repository_name, &ctx.account, |m| {
            m.set_mutability(mutability, filters.clone())
        })?;
        let mut v = json!({
            "registryId": ctx.account,
            "repositoryName": i.repository_name,
            "imageTagMutability": m.mutability.as_str(),
        });
        if !m.exclusion_filters.is_empty() {
            v["imageTagMutabilityExclusionFilters"] = json!(m.exclusion_filters);
        }
        Ok(v)
    }

    pub(crate) fn put_image_scanning_configuration(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: ScanningInput = decode(input)?;
        self.existing(ctx, i.registry_id.as_deref(), &i.repository_name)?;
        let on = i.image_scanning_configuration.scan_on_push;
        let (m, ()) = meta::update(&*self.store, &i.repository_name, &ctx.account, |m| {
            m.scan_on_push = on;
            Ok(())
        })?;
        Ok(json!({
            "registryId": ctx.account,
            "repositoryName": i.repository_name,
            "imageScanningConfiguration": {"scanOnPush": m.scan_on_push},
        }))
    }

    /// The repository a resource ARN names, if it is one of this registry's.
    fn arn_repository(&self, ctx: &CallContext, arn: &str) -> Result<String, ApiError> {
        let prefix = format!("arn:aws:ecr:{}:{}:repository/", ctx.region, ctx.account);
        let Some(name) = arn.strip_prefix(&prefix) else {
            if arn.starts_with("arn:aws:ecr:") && arn.contains(":repository/") {
                let name = arn.rsplit_once(":repository/").map_or("", |(_, n)| n);
                let account = arn.split(':').nth(4).unwrap_or_default();
                return Err(repo_not_found(name, account));
            }
            return Err(invalid_field(
                "resourceArn",
                "must be the ARN of a repository (arn:aws:ecr:REGION:ACCOUNT:repository/NAME)",
            ));
        };
        self.existing(ctx, None, name)?;
        Ok(name.to_owned())
    }

    pub(crate) fn tag_resource(&self, ctx: &CallContext, input: Value) -> Result<Value, ApiError> {
        let i: TagInput = decode(input)?;
        let name = self.arn_repository(ctx, &i.resource_arn)?;
        meta::update(&*self.store, &name, &ctx.account, |m| {
            merge_tags(&mut m.tags, i.tags.clone())
        })?;
        Ok(json!({}))
    }

    pub(crate) fn untag_resource(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: UntagInput = decode(input)?;
        let name = self.arn_repository(ctx, &i.resource_arn)?;
        for k in &i.tag_keys {
            if k.to_ascii_lowercase().starts_with("aws:") {
                return Err(bad_tag(format!(
                    "tag key '{k}' uses the reserved prefix aws:"
                )));
            }
        }
        meta::update(&*self.store, &name, &ctx.account, |m| {
            m.tags.retain(|t| !i.tag_keys.contains(&t.key));
            Ok(())
        })?;
        Ok(json!({}))
    }

    pub(crate) fn list_tags_for_resource(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: ArnInput = decode(input)?;
        let name = self.arn_repository(ctx, &i.resource_arn)?;
        let m = self.existing(ctx, None, &name)?;
        Ok(json!({ "tags": m.tags }))
    }
}

#[cfg(test)]
#[path = "repos_tests.rs"]
mod tests;
