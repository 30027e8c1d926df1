//! Rules a repository's owner sets on pushes, consulted by the registry
//! but decided elsewhere: ECR's tag immutability and scan on push live in
//! the ECR crate, which plugs them in through [`PushHooks`].

use crate::Registry;
use crate::error::RegistryError;
use crate::manifests::PushedManifest;

/// What the registry asks before and tells after a manifest push.
pub trait PushHooks: Send + Sync {
    /// Whether `tag` of repository `repo` may move to another manifest once
    /// it exists. An immutable tag may still be pushed again with the
    /// manifest it already names.
    fn tag_mutable(&self, repo: &str, tag: &str) -> Result<bool, RegistryError>;

    /// Called once a push is stored (for scan on push). Must not block for
    /// long: it runs on the request's thread.
    fn pushed(&self, registry: &Registry, repo: &str, manifest: &PushedManifest);
}

/// Every tag mutable, nothing to tell.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

impl PushHooks for NoHooks {
    fn tag_mutable(&self, _: &str, _: &str) -> Result<bool, RegistryError> {
        Ok(true)
    }

    fn pushed(&self, _: &Registry, _: &str, _: &PushedManifest) {}
}
