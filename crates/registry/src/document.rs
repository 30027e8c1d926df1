//! Reading a pushed manifest: its media type (from the body and the
//! `Content-Type`), the blobs it needs, the child manifests of an index,
//! its subject and artifact type. Only the shape is checked here; whether
//! the referenced content exists is the push's business.

use std::collections::BTreeMap;

use dockyard_image::Digest;
use dockyard_image::manifest::{
    ACCEPTED_MANIFESTS, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST,
};
use serde::Deserialize;

use crate::error::RegistryError;

/// A descriptor as far as the registry cares.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Desc {
    #[serde(default)]
    pub media_type: Option<String>,
    pub digest: Digest,
    pub size: u64,
    #[serde(default)]
    pub urls: Option<Vec<String>>,
}

impl Desc {
    /// Non-distributable ("foreign") layers live elsewhere (their `urls`);
    /// registries do not hold them.
    fn is_foreign(&self) -> bool {
        let mt = self.media_type.as_deref().unwrap_or_default();
        self.urls.as_ref().is_some_and(|u| !u.is_empty())
            && (mt.contains(".foreign.") || mt.contains("nondistributable"))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    schema_version: Option<u32>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Desc>,
    layers: Option<Vec<Desc>>,
    manifests: Option<Vec<Desc>>,
    subject: Option<Desc>,
    annotations: Option<BTreeMap<String, String>>,
}

/// What the registry keeps from a valid manifest.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    pub media_type: String,
    /// Config and (distributable) layers: blobs that must be in the
    /// repository.
    pub blobs: Vec<Desc>,
    /// Child manifests of an index, which must be in the repository.
    pub children: Vec<Desc>,
    pub subject: Option<Desc>,
    pub artifact_type: Option<String>,
    pub config_media_type: Option<String>,
    pub annotations: Option<BTreeMap<String, String>>,
    pub content_size: u64,
}

impl Document {
    pub fn is_index(&self) -> bool {
        is_index(&self.media_type)
    }

    /// The `artifactType` of this manifest's entry in a referrers list: its
    /// own, else (for an image manifest) its config's media type.
    pub fn referrer_artifact_type(&self) -> Option<String> {
        match &self.artifact_type {
            Some(a) if !a.is_empty() => Some(a.clone()),
            _ if self.is_index() => None,
            _ => self.config_media_type.clone(),
        }
    }
}

pub(crate) fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// `type/subtype` of a header value, without parameters; `None` for the
/// generic types some clients send for everything.
pub(crate) fn essence(content_type: &str) -> Option<&str> {
    let t = content_type.split(';').next().unwrap_or_default().trim();
    match t {
        "" | "application/json" | "application/octet-stream" | "*/*" => None,
        t => Some(t),
    }
}

fn invalid(reason: impl Into<String>) -> RegistryError {
    RegistryError::ManifestInvalid(reason.into())
}

/// Parses and checks the shape of a pushed manifest.
pub(crate) fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Document, RegistryError> {
    let raw: Raw = serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("not a valid manifest document: {e}")))?;
    if raw.schema_version != Some(2) {
        return Err(invalid(
            "only schemaVersion 2 manifests (OCI and Docker schema 2) are supported",
        ));
    }
    let header = content_type.and_then(essence);
    if let (Some(body), Some(header)) = (raw.media_type.as_deref(), header)
        && body != header
    {
        return Err(invalid(format!(
            "Content-Type {header} does not match the manifest's mediaType {body}"
        )));
    }
    let inferred = if raw.manifests.is_some() {
        OCI_INDEX
    } else {
        OCI_MANIFEST
    };
    let media_type = raw
        .media_type
        .as_deref()
        .or(header)
        .unwrap_or(inferred)
        .to_owned();
    if !ACCEPTED_MANIFESTS.contains(&media_type.as_str()) {
        return Err(invalid(format!(
            "unsupported manifest media type {media_type:?}"
        )));
    }
    let (blobs, children, config_media_type, content_size) = if is_index(&media_type) {
        if raw.config.is_some() || raw.layers.is_some() {
            return Err(invalid(format!("a {media_type} has no config or layers")));
        }
        let manifests = raw
            .manifests
            .ok_or_else(|| invalid(format!("a {media_type} needs a manifests list")))?;
        for m in &manifests {
            let mt = m.media_type.as_deref().unwrap_or_default();
            if !ACCEPTED_MANIFESTS.contains(&mt) {
                return Err(invalid(format!(
                    "index entry {} has unsupported media type {mt:?}",
                    m.digest
                )));
            }
        }
        (vec![], manifests, None, 0)
    } else {
        if raw.manifests.is_some() {
            return Err(invalid(format!("a {media_type} has no manifests list")));
        }
        let config = raw
            .config
            .ok_or_else(|| invalid(format!("a {media_type} needs a config")))?;
        let layers = raw
            .layers
            .ok_or_else(|| invalid(format!("a {media_type} needs a layers list")))?;
        if media_type == DOCKER_MANIFEST && layers.iter().any(|l| l.media_type.is_none()) {
            return Err(invalid("every layer of a Docker manifest has a mediaType"));
        }
        let size = layers
            .iter()
            .fold(config.size, |acc, l| acc.saturating_add(l.size));
        let config_media_type = config.media_type.clone();
        let mut blobs = vec![config];
        blobs.extend(layers.into_iter().filter(|l| !l.is_foreign()));
        (blobs, vec![], config_media_type, size)
    };
    Ok(Document {
        media_type,
        blobs,
        children,
        subject: raw.subject,
        artifact_type: raw.artifact_type,
        config_media_type,
        annotations: raw.annotations,
        content_size,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn desc(b: &[u8], mt: &str) -> serde_json::Value {
        json!({"mediaType": mt, "digest": Digest::of(b).to_string(), "size": b.len()})
    }

    fn bytes(v: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn image_manifest() {
        let m = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": desc(b"cfg", "application/vnd.oci.image.config.v1+json"),
            "layers": [desc(b"l1", "application/vnd.oci.image.layer.v1.tar+gzip"),
                {"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                 "digest": Digest::of(b"far").to_string(), "size": 7, "urls": ["https://x"]}],
            "subject": desc(b"s", OCI_MANIFEST),
            "annotations": {"a": "b"},
        });
        let d = parse(&bytes(m), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(d.media_type, OCI_MANIFEST);
        assert_eq!(
            d.blobs.iter().map(|b| b.digest.clone()).collect::<Vec<_>>(),
            vec![Digest::of(b"cfg"), Digest::of(b"l1")],
            "foreign layers are not required"
        );
        assert_eq!(d.content_size, 3 + 2 + 7);
        assert_eq!(d.subject.as_ref().unwrap().digest, Digest::of(b"s"));
        assert_eq!(
            d.referrer_artifact_type().as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
    }

    #[test]
    fn artifact_and_index() {
        let a = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.sbom",
            "config": desc(b"{}", "application/vnd.oci.empty.v1+json"),
            "layers": [],
        });
        let d = parse(&bytes(a), None).unwrap();
        assert_eq!(
            d.referrer_artifact_type().as_deref(),
            Some("application/vnd.example.sbom")
        );
        let i = json!({"schemaVersion": 2, "manifests": [desc(b"m", DOCKER_MANIFEST)]});
        let d = parse(&bytes(i), Some(DOCKER_MANIFEST_LIST)).unwrap();
        assert_eq!(d.media_type, DOCKER_MANIFEST_LIST);
        assert!(d.is_index() && d.blobs.is_empty());
        assert_eq!(d.children.len(), 1);
        assert_eq!(d.referrer_artifact_type(), None);
        // Without any media type, the shape decides.
        let i = json!({"schemaVersion": 2, "manifests": []});
        assert_eq!(parse(&bytes(i), None).unwrap().media_type, OCI_INDEX);
    }

    #[test]
    fn rejects() {
        let cfg = desc(b"c", "application/vnd.oci.image.config.v1+json");
        let cases = [
            (b"not json".to_vec(), None),
            (
                bytes(json!({"schemaVersion": 1, "config": cfg, "layers": []})),
                None,
            ),
            (
                bytes(
                    json!({"schemaVersion": 2, "mediaType": "application/vnd.example+json", "config": cfg, "layers": []}),
                ),
                None,
            ),
            (
                bytes(json!({"schemaVersion": 2, "config": cfg, "layers": []})),
                Some("application/vnd.unknown+json"),
            ),
            (
                bytes(
                    json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg, "layers": []}),
                ),
                Some(OCI_INDEX),
            ),
            (
                bytes(json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []})),
                None,
            ),
            (
                bytes(json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg})),
                None,
            ),
            (
                bytes(
                    json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [], "config": cfg}),
                ),
                None,
            ),
            (
                bytes(
                    json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [desc(b"x", "text/plain")]}),
                ),
                None,
            ),
            (
                bytes(
                    json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"digest": "sha256:12", "size": 1}, "layers": []}),
                ),
                None,
            ),
            (
                bytes(
                    json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": cfg,
                    "layers": [{"digest": Digest::of(b"l").to_string(), "size": 1}]}),
                ),
                None,
            ),
        ];
        for (b, ct) in cases {
            let e = parse(&b, ct).unwrap_err();
            assert!(
                matches!(e, RegistryError::ManifestInvalid(_)),
                "{} -> {e}",
                String::from_utf8_lossy(&b)
            );
        }
    }

    #[test]
    fn content_type_parameters_and_generic_types_are_ignored() {
        assert_eq!(essence("application/json"), None);
        assert_eq!(
            essence(&format!("{OCI_MANIFEST}; charset=utf-8")),
            Some(OCI_MANIFEST)
        );
    }
}
