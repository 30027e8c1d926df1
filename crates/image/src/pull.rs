//! Pulling images from OCI distribution registries with `oci-client`.
//!
//! [`ImageStore::pull`] is synchronous, like the CLI: it runs the transfer
//! on a private current-thread tokio runtime. Async callers (the agent)
//! call it inside `tokio::task::spawn_blocking`, which also keeps the file
//! writes and layer unpacking off their executor threads.
//!
//! Registries on this machine (`localhost`, `127.0.0.0/8`, `[::1]`) are
//! spoken to over plain HTTP, as Docker does for them; every other one
//! over HTTPS. Authentication is anonymous or basic; a registry that
//! answers with a bearer-token challenge gets a token for the credentials
//! (oci-client does that exchange). An index picks the linux/amd64 image.
//! Blobs stream into the content store, each checked against its digest
//! and size before it becomes visible; blobs already present are skipped.
//! When a pull fails, the blobs it brought that no image uses are deleted.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Write;
use std::time::Duration;

use futures::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use thiserror::Error;

use crate::digest::Digest;
use crate::error::{ErrorKind, ImageError};
use crate::manifest::{ACCEPTED_MANIFESTS, Descriptor, Document, MAX_DOCUMENT, select_platform};
use crate::meta::{ImageRecord, record_from_manifest};
use crate::reference::Reference;
use crate::store::ImageStore;

/// Credentials for a registry.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum RegistryAuth {
    #[default]
    Anonymous,
    /// User name and password (or token, as ECR's `AWS` user takes).
    Basic(String, String),
}

impl fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic(user, _) => f
                .debug_tuple("Basic")
                .field(user)
                .field(&"<redacted>")
                .finish(),
        }
    }
}

/// What a pull is doing, for progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent {
    /// The reference named this image manifest (after platform selection).
    Resolved {
        reference: String,
        manifest_digest: Digest,
    },
    /// A layer is already stored; nothing to download.
    LayerExists {
        digest: Digest,
        size: u64,
    },
    LayerStarted {
        digest: Digest,
        size: u64,
    },
    /// `bytes` of `total` downloaded so far.
    LayerProgress {
        digest: Digest,
        bytes: u64,
        total: u64,
    },
    /// The layer is downloaded and verified.
    LayerDone {
        digest: Digest,
    },
    /// Every blob is here; the layers are being unpacked.
    Unpacking,
}

#[derive(Debug, Error)]
pub enum PullError {
    #[error("registry {registry} refused access to {reference}: {message}")]
    Unauthorized {
        registry: String,
        reference: String,
        message: String,
    },
    #[error("{reference} not found in registry {registry}: {message}")]
    NotFound {
        registry: String,
        reference: String,
        message: String,
    },
    #[error("registry {registry} is unavailable: {message}")]
    Unavailable { registry: String, message: String },
    #[error("no linux/amd64 image in {reference}")]
    NoPlatform { reference: String },
    /// The registry sent something wrong (a bad digest, a bad manifest).
    #[error("pulling {reference} from {registry}: {message}")]
    Protocol {
        registry: String,
        reference: String,
        message: String,
    },
}

impl PullError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unauthorized { .. } => ErrorKind::Unauthorized,
            Self::NotFound { .. } | Self::NoPlatform { .. } => ErrorKind::NotFound,
            Self::Unavailable { .. } => ErrorKind::Unavailable,
            Self::Protocol { .. } => ErrorKind::InvalidArgument,
        }
    }
}

/// An error with its causes, which reqwest keeps out of its own message.
fn with_sources(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn registry_error(e: OciDistributionError, r: &Reference) -> PullError {
    let registry = r.domain().to_owned();
    let reference = r.familiar();
    let message = with_sources(&e);
    let unauthorized = || PullError::Unauthorized {
        registry: registry.clone(),
        reference: reference.clone(),
        message: message.clone(),
    };
    let not_found = || PullError::NotFound {
        registry: registry.clone(),
        reference: reference.clone(),
        message: message.clone(),
    };
    match &e {
        OciDistributionError::AuthenticationFailure(_)
        | OciDistributionError::UnauthorizedError { .. } => unauthorized(),
        OciDistributionError::ImageManifestNotFoundError(_) => not_found(),
        OciDistributionError::RegistryError { envelope, .. } => {
            match envelope.errors.first().map(|x| &x.code) {
                Some(OciErrorCode::Unauthorized | OciErrorCode::Denied) => unauthorized(),
                Some(
                    OciErrorCode::ManifestUnknown
                    | OciErrorCode::BlobUnknown
                    | OciErrorCode::NameUnknown
                    | OciErrorCode::NotFound,
                ) => not_found(),
                _ => PullError::Protocol {
                    registry,
                    reference,
                    message,
                },
            }
        }
        OciDistributionError::ServerError { code, .. } => match code {
            401 | 403 => unauthorized(),
            404 => not_found(),
            500.. => PullError::Unavailable { registry, message },
            _ => PullError::Protocol {
                registry,
                reference,
                message,
            },
        },
        OciDistributionError::RequestError(_) | OciDistributionError::IoError(_) => {
            PullError::Unavailable { registry, message }
        }
        _ => PullError::Protocol {
            registry,
            reference,
            message,
        },
    }
}

impl ImageStore {
    /// Pulls `reference` (normalised as Docker does; `latest` when untagged)
    /// and records it under that reference; see the module docs.
    pub fn pull(
        &self,
        reference: &str,
        auth: RegistryAuth,
        progress: &dyn Fn(PullEvent),
    ) -> Result<ImageRecord, ImageError> {
        let r = Reference::parse(reference)?.with_default_tag();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ImageError::io("starting the pull runtime"))?;
        let mut added = BTreeSet::new();
        let result = rt.block_on(self.pull_inner(&r, auth, progress, &mut added));
        let cleanup = self.drop_unused_blobs(&added);
        let record = result?;
        cleanup?;
        Ok(record)
    }

    async fn pull_inner(
        &self,
        r: &Reference,
        auth: RegistryAuth,
        progress: &dyn Fn(PullEvent),
        added: &mut BTreeSet<Digest>,
    ) -> Result<ImageRecord, ImageError> {
        let protocol = if r.is_loopback_registry() {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        // `Client::new` would fall back to a default (HTTPS-only) client on
        // error; we want to know.
        let client = oci_client::Client::try_from(ClientConfig {
            protocol,
            platform_resolver: None,
            connect_timeout: Some(Duration::from_secs(30)),
            read_timeout: Some(Duration::from_secs(300)),
            ..Default::default()
        })
        .map_err(|e| ImageError::Io {
            context: "creating the registry client".into(),
            source: std::io::Error::other(with_sources(&e)),
        })?;
        let auth = match auth {
            RegistryAuth::Anonymous => oci_client::secrets::RegistryAuth::Anonymous,
            RegistryAuth::Basic(u, p) => oci_client::secrets::RegistryAuth::Basic(u, p),
        };
        let oref = match (r.digest(), r.tag()) {
            (Some(d), _) => oci_client::Reference::with_digest(
                r.domain().into(),
                r.path().into(),
                d.to_string(),
            ),
            (None, tag) => oci_client::Reference::with_tag(
                r.domain().into(),
                r.path().into(),
                tag.unwrap_or(crate::reference::DEFAULT_TAG).into(),
            ),
        };
        let err = |e| ImageError::from(registry_error(e, r));
        let protocol_err = |message: String| {
            ImageError::from(PullError::Protocol {
                registry: r.domain().into(),
                reference: r.familiar(),
                message,
            })
        };

        let (mut bytes, mut digest) = client
            .pull_manifest_raw(&oref, &auth, ACCEPTED_MANIFESTS)
            .await
            .map_err(err)?;
        if let Document::Index(index) =
            Document::parse(&bytes, &format!("manifest of {}", r.familiar()))?
        {
            let chosen = select_platform(&index, |_| true).ok_or_else(|| {
                ImageError::from(PullError::NoPlatform {
                    reference: r.familiar(),
                })
            })?;
            let by_digest = oref.clone_with_digest(chosen.digest.to_string());
            (bytes, digest) = client
                .pull_manifest_raw(&by_digest, &auth, ACCEPTED_MANIFESTS)
                .await
                .map_err(err)?;
            if digest != chosen.digest.as_str() {
                return Err(protocol_err(format!(
                    "manifest {digest} is not the {} the index names",
                    chosen.digest
                )));
            }
        }
        if bytes.len() as u64 > MAX_DOCUMENT {
            return Err(protocol_err(format!(
                "manifest of {} bytes is too large",
                bytes.len()
            )));
        }
        let manifest_digest = Digest::parse(&digest)?;
        let manifest = match Document::parse(&bytes, &format!("manifest {manifest_digest}"))? {
            Document::Manifest(m) => m,
            Document::Index(_) => {
                return Err(protocol_err(format!(
                    "{manifest_digest} is an index inside an index"
                )));
            }
        };
        let stored =
            crate::content::write_blob(self.content().as_ref(), &bytes, Some(&manifest_digest))?;
        added.insert(stored);
        progress(PullEvent::Resolved {
            reference: r.to_string(),
            manifest_digest: manifest_digest.clone(),
        });

        if self.content().size(&manifest.config.digest)? != Some(manifest.config.size) {
            self.fetch_blob(&client, &oref, &manifest.config, r, &|_| {})
                .await?;
            added.insert(manifest.config.digest.clone());
        }
        for layer in &manifest.layers {
            if self.content().size(&layer.digest)? == Some(layer.size) {
                progress(PullEvent::LayerExists {
                    digest: layer.digest.clone(),
                    size: layer.size,
                });
                continue;
            }
            progress(PullEvent::LayerStarted {
                digest: layer.digest.clone(),
                size: layer.size,
            });
            self.fetch_blob(&client, &oref, layer, r, progress).await?;
            added.insert(layer.digest.clone());
            progress(PullEvent::LayerDone {
                digest: layer.digest.clone(),
            });
        }

        let (record, manifest) = record_from_manifest(self.content().as_ref(), &manifest_digest)?;
        progress(PullEvent::Unpacking);
        self.import(record, &manifest, std::slice::from_ref(r))
    }

    /// Streams one blob into the content store, verified against `desc`.
    async fn fetch_blob(
        &self,
        client: &oci_client::Client,
        oref: &oci_client::Reference,
        desc: &Descriptor,
        r: &Reference,
        progress: &dyn Fn(PullEvent),
    ) -> Result<Digest, ImageError> {
        let protocol_err = |message: String| {
            ImageError::from(PullError::Protocol {
                registry: r.domain().into(),
                reference: r.familiar(),
                message,
            })
        };
        let mut stream = client
            .pull_blob_stream(oref, desc.digest.as_str())
            .await
            .map_err(|e| registry_error(e, r))?;
        let mut w = self.content().writer()?;
        let id = w.id().to_owned();
        let mut received = 0u64;
        let mut failure = None;
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    failure = Some(protocol_err(format!(
                        "blob {}: {}",
                        desc.digest,
                        with_sources(&e)
                    )));
                    break;
                }
            };
            received += chunk.len() as u64;
            if received > desc.size {
                failure = Some(protocol_err(format!(
                    "blob {} is larger than the {} bytes announced",
                    desc.digest, desc.size
                )));
                break;
            }
            if let Err(e) = w.write_all(&chunk) {
                failure = Some(ImageError::Io {
                    context: format!("writing blob {}", desc.digest),
                    source: e,
                });
                break;
            }
            progress(PullEvent::LayerProgress {
                digest: desc.digest.clone(),
                bytes: received,
                total: desc.size,
            });
        }
        if let Some(e) = failure {
            drop(w);
            let _ = self.content().abort(&id);
            return Err(e);
        }
        Ok(w.commit(Some(&desc.digest), Some(desc.size))?)
    }
}

#[cfg(test)]
#[path = "pull_tests.rs"]
mod tests;
