//! The layer operations of the ECR API: the JSON twin of the registry's
//! blob uploads (InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload)
//! and layer lookups (BatchCheckLayerAvailability, GetDownloadUrlForLayer,
//! whose URL is presigned like S3's).

use std::io::Write;

use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use dockyard_aws::ApiError;
use dockyard_aws::router::CallContext;
use dockyard_image::Digest;
use dockyard_registry::RegistryError;

use crate::EcrService;
use crate::error::{from_registry, invalid_field};
use crate::input::decode;

/// The part size InitiateLayerUpload asks for: its base64 form fits the
/// front door's body limit with room to spare.
pub const PART_SIZE: u64 = 10 << 20;

/// How long a download URL stays valid.
pub const DOWNLOAD_URL_TTL_SECS: i64 = 3600;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RepoInput {
    registry_id: Option<String>,
    repository_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PartInput {
    registry_id: Option<String>,
    repository_name: String,
    upload_id: String,
    part_first_byte: i64,
    part_last_byte: i64,
    layer_part_blob: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompleteInput {
    registry_id: Option<String>,
    repository_name: String,
    upload_id: String,
    layer_digests: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckInput {
    registry_id: Option<String>,
    repository_name: String,
    layer_digests: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DownloadInput {
    registry_id: Option<String>,
    repository_name: String,
    layer_digest: String,
}

fn upload_not_found(id: &str, name: &str, registry_id: &str) -> ApiError {
    ApiError::client(
        "UploadNotFoundException",
        format!(
            "The upload with id '{id}' does not exist in the repository with name '{name}' in the registry with id '{registry_id}'"
        ),
    )
}

fn layer_digest(s: &str) -> Result<Digest, ApiError> {
    Digest::parse(s).map_err(|_| {
        invalid_field(
            "layerDigest",
            "must satisfy regular expression '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'",
        )
    })
}

impl EcrService {
    pub(crate) fn initiate_layer_upload(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: RepoInput = decode(input)?;
        self.existing(ctx, i.registry_id.as_deref(), &i.repository_name)?;
        let id = self
            .registry
            .start_upload(&i.repository_name)
            .map_err(|e| from_registry(e, &ctx.account))?;
        Ok(json!({"uploadId": id, "partSize": PART_SIZE}))
    }

    pub(crate) fn upload_layer_part(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: PartInput = decode(input)?;
        let name = &i.repository_name;
        self.existing(ctx, i.registry_id.as_deref(), name)?;
        let blob = base64::engine::general_purpose::STANDARD
            .decode(i.layer_part_blob.as_bytes())
            .map_err(|e| {
                ApiError::client(
                    "SerializationException",
                    format!("layerPartBlob is not valid base64: {e}"),
                )
            })?;
        let bad_part = |message: String| ApiError::client("InvalidLayerPartException", message);
        if i.part_first_byte < 0
            || i.part_last_byte < i.part_first_byte
            || (i.part_last_byte - i.part_first_byte + 1) as u64 != blob.len() as u64
        {
            return Err(bad_part(format!(
                "the part is {} bytes, which partFirstByte {} and partLastByte {} do not describe",
                blob.len(),
                i.part_first_byte,
                i.part_last_byte
            )));
        }
        let mut w = self
            .registry
            .resume_upload(name, &i.upload_id, Some(i.part_first_byte as u64))
            .map_err(|e| match e {
                RegistryError::UploadUnknown(_) => {
                    upload_not_found(&i.upload_id, name, &ctx.account)
                }
                RegistryError::RangeInvalid { size, .. } => bad_part(format!(
                    "the part must start at byte {size}; lastValidByteReceived is {}",
                    size as i64 - 1
                )),
                e => from_registry(e, &ctx.account),
            })?;
        w.write_all(&blob)
            .and_then(|()| w.flush())
            .map_err(|e| crate::error::server(format!("writing the layer part: {e}")))?;
        drop(w);
        self.registry
            .touch_upload(name, &i.upload_id)
            .map_err(|e| from_registry(e, &ctx.account))?;
        Ok(json!({
            "registryId": ctx.account,
            "repositoryName": name,
            "uploadId": i.upload_id,
            "lastByteReceived": i.part_last_byte,
        }))
    }

    pub(crate) fn complete_layer_upload(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: CompleteInput = decode(input)?;
        let name = &i.repository_name;
        self.existing(ctx, i.registry_id.as_deref(), name)?;
        let [given] = i.layer_digests.as_slice() else {
            return Err(invalid_field(
                "layerDigests",
                "exactly one layer digest is expected",
            ));
        };
        let digest = layer_digest(given)?;
        let unknown = |e| match e {
            RegistryError::UploadUnknown(_) => upload_not_found(&i.upload_id, name, &ctx.account),
            e => from_registry(e, &ctx.account),
        };
        let size = self
            .registry
            .upload_status(name, &i.upload_id)
            .map_err(unknown)?;
        if size == 0 {
            return Err(ApiError::client(
                "EmptyUploadException",
                format!(
                    "The upload with id '{}' does not contain any layer parts",
                    i.upload_id
                ),
            ));
        }
        if self.registry.stat_blob(name, &digest).is_ok() {
            let _ = self.registry.cancel_upload(name, &i.upload_id);
            return Err(ApiError::client(
                "LayerAlreadyExistsException",
                format!(
                    "The layer with digest '{digest}' already exists in the repository with name '{name}' in the registry with id '{}'",
                    ctx.account
                ),
            ));
        }
        self.registry
            .complete_upload(name, &i.upload_id, None, &digest, None)
            .map_err(|e| match e {
                RegistryError::DigestMismatch { expected, actual } => ApiError::client(
                    "InvalidLayerException",
                    format!(
                        "The calculated digest {actual} does not match the layer digest {expected}"
                    ),
                ),
                e => unknown(e),
            })?;
        Ok(json!({
            "registryId": ctx.account,
            "repositoryName": name,
            "uploadId": i.upload_id,
            "layerDigest": digest,
        }))
    }

    pub(crate) fn batch_check_layer_availability(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: CheckInput = decode(input)?;
        let name = &i.repository_name;
        self.existing(ctx, i.registry_id.as_deref(), name)?;
        if i.layer_digests.is_empty() || i.layer_digests.len() > 100 {
            return Err(invalid_field(
                "layerDigests",
                "Member must have length between 1 and 100",
            ));
        }
        let (mut layers, mut failures) = (Vec::new(), Vec::new());
        for given in &i.layer_digests {
            if given.is_empty() {
                failures.push(
                    json!({"layerDigest": given, "failureCode": "MissingLayerDigest",
                    "failureReason": "the layer digest is empty"}),
                );
                continue;
            }
            let Ok(d) = Digest::parse(given) else {
                failures.push(
                    json!({"layerDigest": given, "failureCode": "InvalidLayerDigest",
                    "failureReason": "Invalid layer digest"}),
                );
                continue;
            };
            match self.registry.stat_blob(name, &d) {
                Ok(size) => layers.push(json!({"layerDigest": d, "layerAvailability": "AVAILABLE",
                    "layerSize": size, "mediaType": "application/octet-stream"})),
                Err(RegistryError::BlobUnknown { .. }) => {
                    layers.push(json!({"layerDigest": d, "layerAvailability": "UNAVAILABLE"}));
                }
                Err(e) => return Err(from_registry(e, &ctx.account)),
            }
        }
        Ok(json!({"layers": layers, "failures": failures}))
    }

    pub(crate) fn get_download_url_for_layer(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: DownloadInput = decode(input)?;
        let name = &i.repository_name;
        self.existing(ctx, i.registry_id.as_deref(), name)?;
        let digest = layer_digest(&i.layer_digest)?;
        match self.registry.stat_blob(name, &digest) {
            Ok(_) => {}
            Err(RegistryError::BlobUnknown { .. }) => {
                return Err(ApiError::client(
                    "LayersNotFoundException",
                    format!(
                        "The layer with digest '{digest}' does not exist in the repository with name '{name}' in the registry with id '{}'",
                        ctx.account
                    ),
                ));
            }
            Err(e) => return Err(from_registry(e, &ctx.account)),
        }
        let path = format!("/v2/{name}/blobs/{digest}");
        let expires = ctx.now.timestamp() + DOWNLOAD_URL_TTL_SECS;
        let query = self.signer.sign(&path, expires);
        Ok(json!({
            "downloadUrl": format!("{}{path}?{query}", self.endpoint),
            "layerDigest": digest,
        }))
    }
}

#[cfg(test)]
#[path = "layers_tests.rs"]
mod tests;
