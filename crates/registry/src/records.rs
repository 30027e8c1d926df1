//! The values stored under the [`keys`](crate::keys), as JSON, and the
//! small helpers to read and write them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dockyard_image::Digest;
use dockyard_store::{KeyValue, Op, Revision, Store};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::RegistryError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RepoRecord {
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TagRecord {
    pub digest: Digest,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ManifestRecord {
    pub media_type: String,
    /// Size of the manifest itself.
    pub size: u64,
    pub pushed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_pull: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Config and layers: blobs this manifest keeps alive.
    #[serde(default)]
    pub blobs: Vec<Digest>,
    /// Child manifests of an index.
    #[serde(default)]
    pub children: Vec<Digest>,
    /// Sum of the config and layer sizes (ECR's image size).
    #[serde(default)]
    pub content_size: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LinkRecord {
    pub linked_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum BlobState {
    /// Stored (or about to be committed) and usable.
    Live,
    /// Garbage collection decided to delete it: nothing may link or
    /// reference it until the record is gone.
    Deleting,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BlobRecord {
    pub state: BlobState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Last upload, link, reference or read (or, when deleting, when the
    /// deletion started).
    pub touched_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UploadRecord {
    pub repo: String,
    pub ingest_id: String,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReferrerRecord {
    pub media_type: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

pub(crate) fn decode<T: DeserializeOwned>(kv: &KeyValue) -> Result<T, RegistryError> {
    serde_json::from_slice(&kv.value).map_err(|e| RegistryError::Corrupt {
        key: kv.key.clone(),
        reason: e.to_string(),
    })
}

/// Reads one record with its `mod_revision`.
pub(crate) fn get<T: DeserializeOwned>(
    store: &dyn Store,
    key: &str,
) -> Result<Option<(T, Revision)>, RegistryError> {
    match store.get(key)? {
        Some(kv) => Ok(Some((decode(&kv)?, kv.mod_revision))),
        None => Ok(None),
    }
}

pub(crate) fn put<T: Serialize>(key: String, value: &T) -> Op {
    Op::Put {
        key,
        // Serialising these plain structs cannot fail.
        value: serde_json::to_vec(value).unwrap_or_default(),
    }
}

pub(crate) fn delete(key: String) -> Op {
    Op::Delete { key }
}

/// Random upload session ids: 128 bits of hex, safe in URLs and keys.
pub(crate) fn random_id() -> Result<String, RegistryError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)
        .map_err(|e| RegistryError::Internal(format!("reading random bytes: {e}")))?;
    Ok(hex::encode(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_reject_garbage() {
        let r = BlobRecord {
            state: BlobState::Deleting,
            size: Some(3),
            touched_at: DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap(),
        };
        let Op::Put { key, value } = put("k".into(), &r) else {
            panic!("a put")
        };
        let kv = KeyValue {
            key,
            value,
            create_revision: 1,
            mod_revision: 1,
            version: 1,
        };
        assert_eq!(decode::<BlobRecord>(&kv).unwrap(), r);
        let bad = KeyValue {
            value: b"{".to_vec(),
            ..kv
        };
        let e = decode::<BlobRecord>(&bad).unwrap_err();
        assert!(e.to_string().contains("corrupt registry record k"), "{e}");
        assert_eq!(random_id().unwrap().len(), 32);
        assert_ne!(random_id().unwrap(), random_id().unwrap());
    }
}
