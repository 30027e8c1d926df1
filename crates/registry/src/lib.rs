//! Dockyard's OCI registry: the Distribution Spec v1.1 served under `/v2/`.
//!
//! [`Registry`] is both the HTTP handler ([`Registry::handle`], mounted by
//! the server for paths starting `/v2`) and the typed operations behind it
//! (push, pull, tags, referrers, garbage collection), which the ECR API
//! reuses and which tests call without HTTP.
//!
//! Where things live:
//! - bytes (blobs, and manifests stored as blobs) in a [`ContentStore`]
//!   that belongs to the registry alone, since [`Registry::gc`] deletes
//!   whatever no repository holds on to;
//! - metadata in the state [`Store`] under `registry/` (see [`keys`]):
//!   repositories, tags, manifests, repository -> blob links, referrers,
//!   upload sessions and one record per blob that garbage collection and
//!   pushes coordinate through.
//!
//! Lifecycle of a blob: an upload session (`POST`) holds an ingest of the
//! content store -> chunks are streamed into it (`PATCH`, possibly across
//! requests) -> the closing `PUT` commits it under its digest and links it
//! to the repository -> a manifest push references it -> it stays until no
//! manifest references it and it has not been touched (uploaded, linked,
//! referenced or read) for [`RegistryConfig::gc_grace`], when
//! [`Registry::gc`] removes it.
//!
//! The sync operations block on the stores: async callers run them in
//! `tokio::task::spawn_blocking`, as [`Registry::handle`] does, except on
//! the manifest pull path, where two state-store lookups and a cache hit
//! cost less than the hop to the blocking pool (see `http::manifests`).
//!
//! Serving: the server's hyper service passes every request whose path
//! starts with `/v2` to [`Registry::handle`] (any body type, e.g. hyper's
//! `Incoming`), which answers everything itself, errors included, and
//! streams blob bodies in both directions. It calls [`Registry::gc`] (or
//! [`Registry::gc_async`]) periodically and [`Registry::flush_pull_times`]
//! on shutdown.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod auth;
mod blobs;
mod document;
pub mod error;
mod gc;
pub mod hooks;
mod http;
pub mod keys;
mod manifest_cache;
mod manifest_pull;
mod manifests;
pub mod names;
mod parked_uploads;
mod pulls;
mod records;
mod repos;
mod uploads;

#[cfg(test)]
mod testutil;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use dockyard_image::ContentStore;
use dockyard_store::Store;

pub use auth::{Action, AllowAll, AuthFailure, Challenge, RegistryAuth};
pub use error::{ErrorCode, RegistryError};
pub use gc::GcReport;
pub use hooks::{NoHooks, PushHooks};
pub use http::BoxBody;
pub use manifests::{FetchedManifest, ImageInfo, ManifestInfo, Page, PushedManifest, Referrer};
pub use names::ManifestRef;

/// Where the registry reads the time, so tests can move it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Tunables of a [`Registry`].
#[derive(Clone)]
pub struct RegistryConfig {
    /// The largest manifest accepted; bigger pushes get 413. The spec asks
    /// registries to take at least 4 MiB.
    pub max_manifest_size: u64,
    /// How long a blob that no manifest references survives after it was
    /// last uploaded, linked, referenced or read: the window in which a
    /// client may push the manifest that uses it.
    pub gc_grace: Duration,
    /// Upload sessions idle for longer are discarded by [`Registry::gc`].
    pub upload_timeout: Duration,
    /// Pull times are kept in memory and written at most this often.
    pub pull_flush_interval: Duration,
    /// The most tags, repositories or referrers returned in one page.
    pub page_size: usize,
    /// Whether pushing to an unknown repository creates it (registry
    /// behaviour); ECR-style callers turn it off and create repositories
    /// with [`Registry::create_repository`].
    pub create_repos_on_push: bool,
    pub clock: Arc<dyn Clock>,
    /// Tag immutability and push notifications.
    pub hooks: Arc<dyn PushHooks>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            max_manifest_size: 4 << 20,
            gc_grace: Duration::from_secs(3600),
            upload_timeout: Duration::from_secs(24 * 3600),
            pull_flush_interval: Duration::from_secs(60),
            page_size: 1000,
            create_repos_on_push: true,
            clock: Arc::new(SystemClock),
            hooks: Arc::new(NoHooks),
        }
    }
}

impl std::fmt::Debug for RegistryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryConfig")
            .field("max_manifest_size", &self.max_manifest_size)
            .field("gc_grace", &self.gc_grace)
            .field("upload_timeout", &self.upload_timeout)
            .field("pull_flush_interval", &self.pull_flush_interval)
            .field("page_size", &self.page_size)
            .field("create_repos_on_push", &self.create_repos_on_push)
            .finish_non_exhaustive()
    }
}

/// The registry: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    content: Arc<dyn ContentStore>,
    store: Arc<dyn Store>,
    auth: Arc<dyn RegistryAuth>,
    config: RegistryConfig,
    pulls: Mutex<pulls::PullTimes>,
    manifests: manifest_cache::ManifestCache,
    parked: parked_uploads::ParkedUploads,
    /// One collection at a time in this process, so that a run never
    /// finishes the deletions another run is in the middle of.
    gc_lock: Mutex<()>,
}

impl Registry {
    pub fn new(
        content: Arc<dyn ContentStore>,
        store: Arc<dyn Store>,
        auth: Arc<dyn RegistryAuth>,
        config: RegistryConfig,
    ) -> Self {
        let now = config.clock.now();
        Self {
            inner: Arc::new(Inner {
                content,
                store,
                auth,
                pulls: Mutex::new(pulls::PullTimes::new(now)),
                manifests: manifest_cache::ManifestCache::new(manifest_cache::BUDGET),
                parked: parked_uploads::ParkedUploads::default(),
                config,
                gc_lock: Mutex::new(()),
            }),
        }
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.inner.config
    }

    fn content(&self) -> &dyn ContentStore {
        &*self.inner.content
    }

    fn store(&self) -> &dyn Store {
        &*self.inner.store
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.config.clock.now()
    }

    /// `now - d`, saturating far in the past for absurd durations.
    fn ago(&self, d: Duration) -> DateTime<Utc> {
        let d = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        self.now()
            .checked_sub_signed(d)
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}
