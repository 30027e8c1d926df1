//! Image operations: list, describe, get and delete by id, and PutImage.
//! An image is a manifest of a repository; an image id names it by digest,
//! by tag, or both (which must agree).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use dockyard_aws::ApiError;
use dockyard_aws::router::CallContext;
use dockyard_image::Digest;
use dockyard_registry::{ImageInfo, ManifestRef, RegistryError};

use crate::EcrService;
use crate::error::{from_registry, invalid, invalid_field};
use crate::input::{self, decode};
use crate::meta::epoch;
use crate::scanning::ScanRecord;
use dockyard_store::StoreExt;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImageId {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    tag_status: Option<String>,
    image_status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListInput {
    registry_id: Option<String>,
    repository_name: String,
    next_token: Option<String>,
    max_results: Option<i64>,
    filter: Option<Filter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeInput {
    registry_id: Option<String>,
    repository_name: String,
    image_ids: Option<Vec<ImageId>>,
    next_token: Option<String>,
    max_results: Option<i64>,
    filter: Option<Filter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchInput {
    registry_id: Option<String>,
    repository_name: String,
    image_ids: Vec<ImageId>,
    accepted_media_types: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutInput {
    registry_id: Option<String>,
    repository_name: String,
    image_manifest: String,
    image_manifest_media_type: Option<String>,
    image_tag: Option<String>,
    image_digest: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagStatus {
    Tagged,
    Untagged,
    Any,
}

fn tag_status(f: Option<&Filter>) -> Result<TagStatus, ApiError> {
    if let Some(s) = f.and_then(|f| f.image_status.as_deref())
        && !matches!(s, "ACTIVE" | "ANY")
    {
        // Dockyard does not archive images: every image is ACTIVE.
        if !matches!(s, "ARCHIVED" | "ACTIVATING") {
            return Err(invalid_field(
                "filter.imageStatus",
                "Member must satisfy enum value set: [ACTIVE, ARCHIVED, ACTIVATING, ANY]",
            ));
        }
    }
    match f.and_then(|f| f.tag_status.as_deref()) {
        None | Some("ANY") => Ok(TagStatus::Any),
        Some("TAGGED") => Ok(TagStatus::Tagged),
        Some("UNTAGGED") => Ok(TagStatus::Untagged),
        Some(_) => Err(invalid_field(
            "filter.tagStatus",
            "Member must satisfy enum value set: [TAGGED, UNTAGGED, ANY]",
        )),
    }
}

/// Whether the filter keeps `img` (archived-only filters keep nothing).
fn keep(img: &ImageInfo, status: TagStatus, f: Option<&Filter>) -> bool {
    if f.and_then(|f| f.image_status.as_deref())
        .is_some_and(|s| matches!(s, "ARCHIVED" | "ACTIVATING"))
    {
        return false;
    }
    match status {
        TagStatus::Any => true,
        TagStatus::Tagged => !img.tags.is_empty(),
        TagStatus::Untagged => img.tags.is_empty(),
    }
}

fn failure(id: &ImageId, code: &str, reason: impl Into<String>) -> Value {
    json!({"imageId": id, "failureCode": code, "failureReason": reason.into()})
}

/// How an image id resolved against a repository's images.
pub(crate) enum Resolved<'a> {
    Found(&'a ImageInfo),
    Failed(Value),
}

pub(crate) fn resolve<'a>(images: &'a [ImageInfo], id: &ImageId) -> Resolved<'a> {
    let digest = match &id.image_digest {
        Some(d) => match Digest::parse(d) {
            Ok(d) => Some(d),
            Err(_) => {
                return Resolved::Failed(failure(
                    id,
                    "InvalidImageDigest",
                    "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'",
                ));
            }
        },
        None => None,
    };
    if let Some(t) = &id.image_tag
        && !dockyard_registry::names::is_valid_tag(t)
    {
        return Resolved::Failed(failure(id, "InvalidImageTag", "Invalid image tag"));
    }
    let found = match (&digest, &id.image_tag) {
        (None, None) => {
            return Resolved::Failed(failure(
                id,
                "MissingDigestAndTag",
                "Invalid request parameters: both tag and digest cannot be null",
            ));
        }
        (Some(d), tag) => {
            let img = images.iter().find(|i| i.digest == *d);
            if let (Some(img), Some(t)) = (img, tag)
                && !img.tags.contains(t)
            {
                return Resolved::Failed(failure(
                    id,
                    "ImageTagDoesNotMatchDigest",
                    "Invalid request parameters: given tag and digest do not match",
                ));
            }
            img
        }
        (None, Some(t)) => images.iter().find(|i| i.tags.contains(t)),
    };
    match found {
        Some(img) => Resolved::Found(img),
        None => Resolved::Failed(failure(id, "ImageNotFound", "Requested image not found")),
    }
}

fn detail(ctx: &CallContext, name: &str, img: &ImageInfo, scan: Option<ScanRecord>) -> Value {
    let mut v = json!({
        "registryId": ctx.account,
        "repositoryName": name,
        "imageDigest": img.digest,
        "imageSizeInBytes": img.content_size,
        "imagePushedAt": epoch(img.pushed_at),
        "imageManifestMediaType": img.media_type,
        "imageStatus": "ACTIVE",
    });
    if !img.tags.is_empty() {
        v["imageTags"] = json!(img.tags);
    }
    if let Some(a) = &img.artifact_type {
        v["artifactMediaType"] = json!(a);
    }
    if let Some(t) = img.last_pull {
        v["lastRecordedPullTime"] = json!(epoch(t));
    }
    if let Some(s) = &img.subject {
        v["subjectManifestDigest"] = json!(s);
    }
    if let Some(scan) = scan {
        v["imageScanStatus"] = json!({"status": scan.status, "description": scan.description});
        if let Some(summary) = scan.summary() {
            v["imageScanFindingsSummary"] = summary;
        }
    }
    v
}

pub(crate) fn image_not_found(id: &ImageId, name: &str, registry_id: &str) -> ApiError {
    ApiError::client(
        "ImageNotFoundException",
        format!(
            "The image with imageId {{imageDigest:'{}', imageTag:'{}'}} does not exist within the repository with name '{name}' in the registry with id '{registry_id}'",
            id.image_digest.as_deref().unwrap_or("null"),
            id.image_tag.as_deref().unwrap_or("null"),
        ),
    )
}

impl EcrService {
    pub(crate) fn images(&self, ctx: &CallContext, name: &str) -> Result<Vec<ImageInfo>, ApiError> {
        self.registry
            .list_images(name)
            .map_err(|e| from_registry(e, &ctx.account))
    }

    pub(crate) fn list_images(&self, ctx: &CallContext, input: Value) -> Result<Value, ApiError> {
        let i: ListInput = decode(input)?;
        self.existing(ctx, i.registry_id.as_deref(), &i.repository_name)?;
        let status = tag_status(i.filter.as_ref())?;
        let n = input::max_results(i.max_results, 100)?;
        let after = input::decode_token(i.next_token.as_deref())?;
        let mut ids = Vec::new();
        for img in self.images(ctx, &i.repository_name)? {
            if !keep(&img, status, i.filter.as_ref()) {
                continue;
            }
            if img.tags.is_empty() {
                ids.push(ImageId {
                    image_digest: Some(img.digest.to_string()),
                    image_tag: None,
                });
            }
            for t in &img.tags {
                ids.push(ImageId {
                    image_digest: Some(img.digest.to_string()),
                    image_tag: Some(t.clone()),
                });
            }
        }
        let key = |id: &ImageId| {
            format!(
                "{}|{}",
                id.image_digest.as_deref().unwrap_or_default(),
                id.image_tag.as_deref().unwrap_or_default()
            )
        };
        let (page, token) = input::paginate(ids, key, after.as_deref(), n);
        let mut v = json!({ "imageIds": page });
        if let Some(t) = token {
            v["nextToken"] = json!(t);
        }
        Ok(v)
    }

    pub(crate) fn describe_images(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: DescribeInput = decode(input)?;
        let name = &i.repository_name;
        self.existing(ctx, i.registry_id.as_deref(), name)?;
        let images = self.images(ctx, name)?;
        if let Some(ids) = &i.image_ids {
            if i.next_token.is_some() || i.max_results.is_some() || i.filter.is_some() {
                return Err(invalid(
                    "maxResults, nextToken and filter cannot be used with imageIds",
                ));
            }
            check_id_count(ids)?;
            let mut out: Vec<Value> = Vec::new();
            for id in ids {
                match resolve(&images, id) {
                    Resolved::Found(img) => {
                        let d = detail(ctx, name, img, self.scanner.get(name, &img.digest)?);
                        if !out.contains(&d) {
                            out.push(d);
                        }
                    }
                    Resolved::Failed(f) if f["failureCode"] == "ImageNotFound" => {
                        return Err(image_not_found(id, name, &ctx.account));
                    }
                    Resolved::Failed(f) => {
                        return Err(invalid(
                            f["failureReason"].as_str().unwrap_or("invalid image id"),
                        ));
                    }
                }
            }
            return Ok(json!({ "imageDetails": out }));
        }
        let status = tag_status(i.filter.as_ref())?;
        let n = input::max_results(i.max_results, 100)?;
        let after = input::decode_token(i.next_token.as_deref())?;
        let kept: Vec<ImageInfo> = images
            .into_iter()
            .filter(|img| keep(img, status, i.filter.as_ref()))
            .collect();
        let (page, token) = input::paginate(kept, |i| i.digest.to_string(), after.as_deref(), n);
        let details = page
            .iter()
            .map(|img| Ok(detail(ctx, name, img, self.scanner.get(name, &img.digest)?)))
            .collect::<Result<Vec<Value>, ApiError>>()?;
        let mut v = json!({ "imageDetails": details });
        if let Some(t) = token {
            v["nextToken"] = json!(t);
        }
        Ok(v)
    }

    pub(crate) fn batch_get_image(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: BatchInput = decode(input)?;
        let name = &i.repository_name;
        self.existing(ctx, i.registry_id.as_deref(), name)?;
        check_id_count(&i.image_ids)?;
        let accept = i.accepted_media_types.unwrap_or_default();
        if accept.len() > 100 {
            return Err(invalid_field(
                "acceptedMediaTypes",
                "Member must have length less than or equal to 100",
            ));
        }
        let images = self.images(ctx, name)?;
        let (mut out, mut failures) = (Vec::new(), Vec::new());
        for id in &i.image_ids {
            let img = match resolve(&images, id) {
                Resolved::Found(img) => img,
                Resolved::Failed(f) => {
                    failures.push(f);
                    continue;
                }
            };
            match self.registry.get_manifest(
                name,
                &ManifestRef::Digest(img.digest.clone()),
                &accept,
            ) {
                Ok(m) => {
                    let mut image_id = id.clone();
                    image_id.image_digest = Some(img.digest.to_string());
                    out.push(json!({
                        "registryId": ctx.account,
                        "repositoryName": name,
                        "imageId": image_id,
                        "imageManifest": String::from_utf8_lossy(&m.bytes),
                        "imageManifestMediaType": m.info.media_type,
                    }));
                }
                Err(RegistryError::NotAcceptable { media_type, .. }) => failures.push(failure(
                    id,
                    "ImageNotFound",
                    format!(
                        "the image's manifest is {media_type}, not one of the accepted media types"
                    ),
                )),
                Err(RegistryError::ManifestUnknown { .. }) => {
                    failures.push(failure(id, "ImageNotFound", "Requested image not found"));
                }
                Err(e) => return Err(from_registry(e, &ctx.account)),
            }
        }
        Ok(json!({"images": out, "failures": failures}))
    }

    pub(crate) fn batch_delete_image(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: BatchInput = decode(input)?;
        let name = &i.repository_name;
        self.existing(ctx, i.registry_id.as_deref(), name)?;
        check_id_count(&i.image_ids)?;
        let (mut deleted, mut failures) = (Vec::new(), Vec::new());
        for id in &i.image_ids {
            // Re-read per id: earlier deletions change what later ids mean.
            let images = self.images(ctx, name)?;
            let img = match resolve(&images, id) {
                Resolved::Found(img) => img,
                Resolved::Failed(f) => {
                    failures.push(f);
                    continue;
                }
            };
            let by_digest = id.image_digest.is_some();
            let whole = by_digest || img.tags.len() <= 1;
            if whole && let Some(parent) = images.iter().find(|p| p.children.contains(&img.digest))
            {
                failures.push(failure(
                    id,
                    "ImageReferencedByManifestList",
                    format!(
                        "Requested image referenced by manifest list: [{}]",
                        parent.digest
                    ),
                ));
                continue;
            }
            let result = if whole {
                self.registry
                    .delete_manifest(name, &ManifestRef::Digest(img.digest.clone()))
            } else {
                let tag = id.image_tag.clone().unwrap_or_default();
                self.registry.delete_manifest(name, &ManifestRef::Tag(tag))
            };
            match result {
                Ok(()) => {
                    if whole {
                        // The scan goes with the image.
                        let _ = self.store.delete(&crate::scanning::key(name, &img.digest));
                    }
                    let mut done = id.clone();
                    done.image_digest = Some(img.digest.to_string());
                    deleted.push(done);
                }
                Err(RegistryError::ManifestUnknown { .. }) => {
                    failures.push(failure(id, "ImageNotFound", "Requested image not found"));
                }
                Err(e) => return Err(from_registry(e, &ctx.account)),
            }
        }
        Ok(json!({"imageIds": deleted, "failures": failures}))
    }

    pub(crate) fn put_image(&self, ctx: &CallContext, input: Value) -> Result<Value, ApiError> {
        let i: PutInput = decode(input)?;
        let name = &i.repository_name;
        self.existing(ctx, i.registry_id.as_deref(), name)?;
        let bytes = i.image_manifest.as_bytes();
        if bytes.is_empty() || bytes.len() > 4 << 20 {
            return Err(invalid_field(
                "imageManifest",
                "Member must have length between 1 and 4194304",
            ));
        }
        let digest = Digest::of(bytes);
        if let Some(d) = &i.image_digest
            && Digest::parse(d).ok().as_ref() != Some(&digest)
        {
            return Err(ApiError::client(
                "ImageDigestDoesNotMatchException",
                format!(
                    "Invalid parameter at 'imageDigest' failed to satisfy constraint: 'The provided digest {d} does not match the digest {digest} of the manifest'"
                ),
            ));
        }
        if let Some(t) = &i.image_tag
            && !dockyard_registry::names::is_valid_tag(t)
        {
            return Err(invalid_field(
                "imageTag",
                "must satisfy regular expression '[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}'",
            ));
        }
        let images = self.images(ctx, name)?;
        if let Some(existing) = images.iter().find(|img| img.digest == digest)
            && i.image_tag
                .as_ref()
                .is_none_or(|t| existing.tags.contains(t))
        {
            return Err(ApiError::client(
                "ImageAlreadyExistsException",
                format!(
                    "Image with digest '{digest}' and tag '{}' already exists in the repository with name '{name}' in registry with id '{}'",
                    i.image_tag.as_deref().unwrap_or("null"),
                    ctx.account
                ),
            ));
        }
        let reference = match &i.image_tag {
            Some(t) => ManifestRef::Tag(t.clone()),
            None => ManifestRef::Digest(digest.clone()),
        };
        let pushed = self
            .registry
            .put_manifest(
                name,
                &reference,
                i.image_manifest_media_type.as_deref(),
                bytes,
                &[],
            )
            .map_err(|e| match e {
                RegistryError::ManifestBlobUnknown { digests, .. } => {
                    let list = digests
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(", ");
                    let is_index = serde_json::from_slice::<Value>(bytes)
                        .ok()
                        .is_some_and(|v| v.get("manifests").is_some());
                    if is_index {
                        ApiError::client(
                            "ReferencedImagesNotFoundException",
                            format!(
                                "Manifests with digests '[{list}]' required for pushing image into repository with name '{name}' in the registry with id '{}' do not exist",
                                ctx.account
                            ),
                        )
                    } else {
                        ApiError::client(
                            "LayersNotFoundException",
                            format!(
                                "Layers with digests '[{list}]' required for pushing image into repository with name '{name}' in the registry with id '{}' do not exist",
                                ctx.account
                            ),
                        )
                    }
                }
                RegistryError::ManifestInvalid(m) => invalid_field("imageManifest", m),
                e => from_registry(e, &ctx.account),
            })?;
        let media_type = self
            .registry
            .stat_manifest(name, &ManifestRef::Digest(pushed.digest.clone()), &[])
            .map(|m| m.media_type)
            .map_err(|e| from_registry(e, &ctx.account))?;
        let mut image_id = ImageId {
            image_digest: Some(pushed.digest.to_string()),
            image_tag: None,
        };
        image_id.image_tag = i.image_tag;
        Ok(json!({"image": {
            "registryId": ctx.account,
            "repositoryName": name,
            "imageId": image_id,
            "imageManifest": i.image_manifest,
            "imageManifestMediaType": media_type,
        }}))
    }
}

fn check_id_count(ids: &[ImageId]) -> Result<(), ApiError> {
    if ids.is_empty() || ids.len() > 100 {
        return Err(invalid_field(
            "imageIds",
            "Member must have length between 1 and 100",
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "images_tests.rs"]
mod tests;
