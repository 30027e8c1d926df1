//! The OCI and Docker schema 2 documents we read and write: descriptors,
//! image manifests and image indexes (manifest lists).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::ImageError;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Every manifest media type we accept from a registry.
pub const ACCEPTED_MANIFESTS: &[&str] = &[
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// Annotation naming an image in an OCI layout (often just a tag).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's (and Docker 25+'s) annotation with the full image name.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";

/// The largest manifest, index or config we read into memory.
pub const MAX_DOCUMENT: u64 = 16 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Descriptor {
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// A manifest or an index, told apart by media type or shape.
pub enum Document {
    Manifest(Manifest),
    Index(Index),
}

impl Document {
    pub fn parse(bytes: &[u8], what: &str) -> Result<Self, ImageError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            schema_version: Option<u32>,
            media_type: Option<String>,
            manifests: Option<serde_json::Value>,
        }
        let bad = |e: serde_json::Error| ImageError::invalid(what, e.to_string());
        let probe: Probe = serde_json::from_slice(bytes).map_err(bad)?;
        if probe.schema_version != Some(2) {
            return Err(ImageError::invalid(
                what,
                "only schema version 2 manifests are supported",
            ));
        }
        let is_index = match probe.media_type.as_deref() {
            Some(OCI_INDEX | DOCKER_MANIFEST_LIST) => true,
            Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
            Some(other) => {
                return Err(ImageError::invalid(
                    what,
                    format!("unsupported media type {other:?}"),
                ));
            }
            None => probe.manifests.is_some(),
        };
        Ok(if is_index {
            Self::Index(serde_json::from_slice(bytes).map_err(bad)?)
        } else {
            Self::Manifest(serde_json::from_slice(bytes).map_err(bad)?)
        })
    }
}

/// The platform we run: linux/amd64.
pub const OS: &str = "linux";
pub const ARCHITECTURE: &str = "amd64";

/// Picks the linux/amd64 entry of an index (preferring one without a
/// variant or with `v1`), skipping attestations and other non-images.
pub fn select_platform(index: &Index, usable: impl Fn(&Descriptor) -> bool) -> Option<&Descriptor> {
    let candidates = index.manifests.iter().filter(|d| {
        d.platform
            .as_ref()
            .is_some_and(|p| p.os == OS && p.architecture == ARCHITECTURE)
            && d.annotation("vnd.docker.reference.type").is_none()
            && usable(d)
    });
    let mut best = None;
    for d in candidates {
        let plain = d
            .platform
            .as_ref()
            .is_none_or(|p| p.variant.as_deref().is_none_or(|v| v == "v1"));
        if plain {
            return Some(d);
        }
        best.get_or_insert(d);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(os: &str, arch: &str, variant: Option<&str>, n: u8) -> serde_json::Value {
        let mut p = serde_json::json!({"os": os, "architecture": arch});
        if let Some(v) = variant {
            p["variant"] = v.into();
        }
        serde_json::json!({"mediaType": OCI_MANIFEST, "digest": Digest::of(&[n]).to_string(), "size": 1, "platform": p})
    }

    #[test]
    fn parses_and_selects() {
        let idx = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [
                desc("linux", "arm64", Some("v8"), 1),
                desc("unknown", "unknown", None, 2),
                desc("linux", "amd64", Some("v3"), 3),
                desc("linux", "amd64", None, 4),
            ],
        });
        let Document::Index(i) =
            Document::parse(&serde_json::to_vec(&idx).expect("json"), "index").expect("parse")
        else {
            panic!("an index");
        };
        assert_eq!(
            select_platform(&i, |_| true).map(|d| d.digest.clone()),
            Some(Digest::of(&[4]))
        );
        assert_eq!(
            select_platform(&i, |d| d.digest != Digest::of(&[4])).map(|d| d.digest.clone()),
            Some(Digest::of(&[3]))
        );
        assert!(select_platform(&i, |_| false).is_none());

        let m = serde_json::json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": "x", "digest": Digest::of(b"c").to_string(), "size": 1}, "layers": []});
        assert!(matches!(
            Document::parse(&serde_json::to_vec(&m).expect("json"), "m"),
            Ok(Document::Manifest(_))
        ));
        let bad = serde_json::json!({"schemaVersion": 1});
        assert!(Document::parse(&serde_json::to_vec(&bad).expect("json"), "m").is_err());
    }
}
