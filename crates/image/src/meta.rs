//! What we know about a local image: its record, the run configuration from
//! its config blob, and its layers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::content::{ContentStore, read_blob};
use crate::digest::Digest;
use crate::error::ImageError;
use crate::manifest::{Document, MAX_DOCUMENT, Manifest};
use crate::reference::Reference;

/// One local image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The config blob's digest, which is the image id (as in Docker).
    pub id: Digest,
    pub manifest_digest: Digest,
    #[serde(default)]
    pub manifest_media_type: String,
    /// Normalised references (`docker.io/library/busybox:latest`), sorted.
    pub references: Vec<String>,
    pub config: ImageConfig,
    /// Bottom layer first.
    pub layers: Vec<LayerRecord>,
    /// When the image was built, as the config says (RFC 3339).
    pub created: Option<String>,
    /// The sum of the (compressed) layer sizes, in bytes.
    pub size: u64,
    pub os: String,
    pub architecture: String,
}

impl ImageRecord {
    /// The first 12 hex digits of the id.
    pub fn short_id(&self) -> &str {
        self.id.short()
    }

    /// The references in Docker's short form (`busybox:latest`).
    pub fn familiar_references(&self) -> Vec<String> {
        self.references.iter().map(|r| familiar(r)).collect()
    }

    /// The chain id of every layer, bottom first.
    pub fn chain_ids(&self) -> Vec<Digest> {
        chain_ids(self.layers.iter().map(|l| &l.diff_id))
    }
}

/// The short form of a stored (normalised) reference.
pub(crate) fn familiar(r: &str) -> String {
    Reference::parse(r)
        .map(|p| p.familiar())
        .unwrap_or_else(|_| r.to_owned())
}

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// The digest of the blob as stored (usually compressed).
    pub digest: Digest,
    /// The digest of the uncompressed tar, from the config.
    pub diff_id: Digest,
    pub media_type: String,
    pub size: u64,
}

/// How to run the image, from the `config` object of its config blob.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    /// `80/tcp`, `53/udp`...
    pub exposed_ports: Vec<String>,
    pub stop_signal: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// The chain ids of a layer stack (OCI image spec): the first is the
/// first diff id; each next is `sha256(previous + " " + diff_id)`.
pub fn chain_ids<'a>(diff_ids: impl IntoIterator<Item = &'a Digest>) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::new();
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => Digest::of(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// The parts of an OCI/Docker image config we use. Docker writes `null`
/// for absent lists, so everything is optional.
#[derive(Debug, Deserialize)]
struct RawConfig {
    architecture: Option<String>,
    os: Option<String>,
    created: Option<String>,
    config: Option<RawRunConfig>,
    rootfs: Option<RawRootfs>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawRunConfig {
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    env: Option<Vec<String>>,
    working_dir: Option<String>,
    user: Option<String>,
    exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    stop_signal: Option<String>,
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
struct RawRootfs {
    #[serde(default)]
    diff_ids: Vec<Digest>,
}

/// What an image config blob says.
pub(crate) struct ParsedConfig {
    pub config: ImageConfig,
    pub diff_ids: Vec<Digest>,
    pub created: Option<String>,
    pub os: String,
    pub architecture: String,
}

pub(crate) fn parse_config(bytes: &[u8], what: &str) -> Result<ParsedConfig, ImageError> {
    let raw: RawConfig =
        serde_json::from_slice(bytes).map_err(|e| ImageError::invalid(what, e.to_string()))?;
    let rc = raw.config.unwrap_or_default();
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    Ok(ParsedConfig {
        config: ImageConfig {
            entrypoint: rc.entrypoint,
            cmd: rc.cmd,
            env: rc.env.unwrap_or_default(),
            working_dir: non_empty(rc.working_dir),
            user: non_empty(rc.user),
            exposed_ports: rc.exposed_ports.unwrap_or_default().into_keys().collect(),
            stop_signal: non_empty(rc.stop_signal),
            labels: rc.labels.unwrap_or_default(),
        },
        diff_ids: raw.rootfs.map(|r| r.diff_ids).unwrap_or_default(),
        created: non_empty(raw.created),
        os: raw.os.unwrap_or_default(),
        architecture: raw.architecture.unwrap_or_default(),
    })
}

/// Builds the record of the image whose manifest (and config) are in the
/// content store. The layer blobs need not be there yet.
pub(crate) fn record_from_manifest(
    content: &dyn ContentStore,
    manifest_digest: &Digest,
) -> Result<(ImageRecord, Manifest), ImageError> {
    let bytes = read_blob(content, manifest_digest, MAX_DOCUMENT)?;
    let what = format!("manifest {manifest_digest}");
    let manifest = match Document::parse(&bytes, &what)? {
        Document::Manifest(m) => m,
        Document::Index(_) => {
            return Err(ImageError::invalid(
                what,
                "expected an image manifest, got an index",
            ));
        }
    };
    let config_bytes = read_blob(content, &manifest.config.digest, MAX_DOCUMENT)?;
    let cfg = parse_config(&config_bytes, &format!("config {}", manifest.config.digest))?;
    if cfg.diff_ids.len() != manifest.layers.len() {
        return Err(ImageError::invalid(
            what,
            format!(
                "{} layers but the config lists {} diff ids",
                manifest.layers.len(),
                cfg.diff_ids.len()
            ),
        ));
    }
    let layers: Vec<LayerRecord> = manifest
        .layers
        .iter()
        .zip(&cfg.diff_ids)
        .map(|(l, diff_id)| LayerRecord {
            digest: l.digest.clone(),
            diff_id: diff_id.clone(),
            media_type: l.media_type.clone(),
            size: l.size,
        })
        .collect();
    let record = ImageRecord {
        id: manifest.config.digest.clone(),
        manifest_digest: manifest_digest.clone(),
        manifest_media_type: manifest
            .media_type
            .clone()
            .unwrap_or_else(|| crate::manifest::OCI_MANIFEST.to_owned()),
        references: Vec::new(),
        config: cfg.config,
        size: layers.iter().map(|l| l.size).sum(),
        layers,
        created: cfg.created,
        os: cfg.os,
        architecture: cfg.architecture,
    };
    Ok((record, manifest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_config() {
        let j = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-01-02T03:04:05Z",
            "config": {
                "Entrypoint": null,
                "Cmd": ["sh"],
                "Env": ["PATH=/bin", "A=b"],
                "WorkingDir": "",
                "User": "1000:1000",
                "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
                "StopSignal": "SIGQUIT",
                "Labels": {"k": "v"}
            },
            "rootfs": {"type": "layers", "diff_ids": [Digest::of(b"a").to_string()]}
        });
        let p = parse_config(&serde_json::to_vec(&j).expect("json"), "config").expect("parse");
        assert_eq!(p.config.entrypoint, None);
        assert_eq!(p.config.cmd, Some(vec!["sh".to_owned()]));
        assert_eq!(p.config.env, vec!["PATH=/bin", "A=b"]);
        assert_eq!(p.config.working_dir, None, "an empty WorkingDir means none");
        assert_eq!(p.config.user.as_deref(), Some("1000:1000"));
        assert_eq!(p.config.exposed_ports, vec!["53/udp", "80/tcp"]);
        assert_eq!(p.config.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(p.config.labels.get("k").map(String::as_str), Some("v"));
        assert_eq!(p.created.as_deref(), Some("2024-01-02T03:04:05Z"));
        assert_eq!((p.os.as_str(), p.architecture.as_str()), ("linux", "amd64"));
        assert_eq!(p.diff_ids, vec![Digest::of(b"a")]);
    }

    #[test]
    fn minimal_config() {
        let p = parse_config(br#"{"rootfs":{"diff_ids":[]}}"#, "config").expect("parse");
        assert_eq!(p.config, ImageConfig::default());
        assert!(parse_config(b"[]", "config").is_err());
    }

    #[test]
    fn chain_ids_follow_the_spec() {
        let (a, b, c) = (Digest::of(b"a"), Digest::of(b"b"), Digest::of(b"c"));
        let ids = chain_ids([&a, &b, &c]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], Digest::of(format!("{a} {b}").as_bytes()));
        assert_eq!(ids[2], Digest::of(format!("{} {c}", ids[1]).as_bytes()));
        assert!(chain_ids([]).is_empty());
    }
}
