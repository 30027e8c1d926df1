//! The ECR API (JSON 1.1, `AmazonEC2ContainerRegistry_V20150921`) over
//! Dockyard's registry, and the registry authentication it issues tokens
//! for.
//!
//! The registry crate owns repositories, manifests, tags and blobs; this
//! crate adds what ECR has on top (see [`meta`]: tag mutability, scanning
//! settings, tags, policies) and answers in ECR's shapes and errors.
//! Repositories are addressed as `HOST:PORT/NAME` (`repositoryUri`), the
//! address `docker`, `podman` and `skopeo` push to.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod auth;
mod auth_cache;
mod error;
mod images;
mod input;
mod layers;
mod lifecycle;
mod meta;
mod policy;
mod repos;
mod scanning;
mod token;

#[cfg(test)]
mod testutil;

use std::sync::Arc;

use serde_json::Value;

use dockyard_aws::ApiError;
use dockyard_aws::keys::KeyStore;
use dockyard_aws::router::{CallContext, JsonService};
use dockyard_image::ContentStore;
use dockyard_registry::{Registry, RegistryConfig};
use dockyard_store::Store;

pub use auth::{EcrHooks, EcrTokenAuth, UrlSigner};
pub use lifecycle::LifecycleReport;
pub use scanning::{MAX_WORKERS as MAX_SCAN_WORKERS, Scanner, install_feed};

/// Where an ECR service lives and what it reads.
#[derive(Debug, Clone)]
pub struct EcrOptions {
    /// `HOST:PORT` clients reach (`repositoryUri`, `proxyEndpoint`).
    pub host: String,
    /// The region in repository ARNs.
    pub region: String,
    /// The OSV vulnerability feed file (see [`install_feed`]).
    pub feed_path: std::path::PathBuf,
}
pub use token::TOKEN_TTL_HOURS;

/// ECR's target prefix.
pub const TARGET_PREFIX: &str = "AmazonEC2ContainerRegistry_V20150921";

/// The ECR JSON service.
pub struct EcrService {
    keys: Arc<KeyStore>,
    registry: Registry,
    store: Arc<dyn Store>,
    /// `HOST:PORT` clients push to (`repositoryUri`).
    host: String,
    /// `http://HOST:PORT`, for `proxyEndpoint` and download URLs.
    endpoint: String,
    signer: Arc<UrlSigner>,
    scanner: Arc<Scanner>,
    /// The registry's auth hook (its cache sees this service's writes).
    #[cfg_attr(not(test), allow(dead_code))]
    auth: Arc<EcrTokenAuth>,
}

impl EcrService {
    /// The registry with ECR's rules (token authentication, repository
    /// policies, presigned URLs, tag immutability, scan on push) over
    /// `content` and `store`, and the ECR service over it.
    pub fn open(
        keys: Arc<KeyStore>,
        store: Arc<dyn Store>,
        content: Arc<dyn ContentStore>,
        mut config: RegistryConfig,
        options: EcrOptions,
    ) -> std::io::Result<(Registry, Self)> {
        let signer =
            Arc::new(UrlSigner::random().map_err(|e| std::io::Error::other(e.to_string()))?);
        let auth = Arc::new(EcrTokenAuth::new(
            keys.clone(),
            signer.clone(),
            store,
            options.region,
        ));
        // Every write goes through the auth hook's tracked store.
        let store = auth.store();
        let scanner = Arc::new(Scanner::new(store.clone(), options.feed_path));
        config.create_repos_on_push = false;
        config.hooks = Arc::new(EcrHooks::new(store.clone(), scanner.clone()));
        let registry = Registry::new(content, store.clone(), auth.clone(), config);
        let host = options.host;
        let svc = Self {
            keys,
            registry: registry.clone(),
            store,
            endpoint: format!("http://{host}"),
            host,
            signer,
            scanner,
            auth,
        };
        Ok((registry, svc))
    }

    fn addr<'a>(&'a self, ctx: &'a CallContext) -> meta::Addr<'a> {
        meta::Addr {
            region: &ctx.region,
            account: &ctx.account,
            host: &self.host,
        }
    }
}

impl JsonService for EcrService {
    fn target_prefix(&self) -> &str {
        TARGET_PREFIX
    }

    fn signing_name(&self) -> &str {
        "ecr"
    }

    fn call(&self, ctx: &CallContext, operation: &str, input: Value) -> Result<Value, ApiError> {
        self.check_repository_policy(ctx, operation, &input)?;
        match operation {
            "GetAuthorizationToken" => self.get_authorization_token(ctx, &input),
            "CreateRepository" => self.create_repository(ctx, input),
            "DescribeRepositories" => self.describe_repositories(ctx, input),
            "DeleteRepository" => self.delete_repository(ctx, input),
            "PutImageTagMutability" => self.put_image_tag_mutability(ctx, input),
            "PutImageScanningConfiguration" => self.put_image_scanning_configuration(ctx, input),
            "TagResource" => self.tag_resource(ctx, input),
            "UntagResource" => self.untag_resource(ctx, input),
            "ListTagsForResource" => self.list_tags_for_resource(ctx, input),
            "ListImages" => self.list_images(ctx, input),
            "DescribeImages" => self.describe_images(ctx, input),
            "BatchGetImage" => self.batch_get_image(ctx, input),
            "BatchDeleteImage" => self.batch_delete_image(ctx, input),
            "PutImage" => self.put_image(ctx, input),
            "BatchCheckLayerAvailability" => self.batch_check_layer_availability(ctx, input),
            "InitiateLayerUpload" => self.initiate_layer_upload(ctx, input),
            "UploadLayerPart" => self.upload_layer_part(ctx, input),
            "CompleteLayerUpload" => self.complete_layer_upload(ctx, input),
            "GetDownloadUrlForLayer" => self.get_download_url_for_layer(ctx, input),
            "SetRepositoryPolicy" => self.set_repository_policy(ctx, input),
            "GetRepositoryPolicy" => self.get_repository_policy(ctx, input),
            "DeleteRepositoryPolicy" => self.delete_repository_policy(ctx, input),
            "PutLifecyclePolicy" => self.put_lifecycle_policy(ctx, input),
            "GetLifecyclePolicy" => self.get_lifecycle_policy(ctx, input),
            "DeleteLifecyclePolicy" => self.delete_lifecycle_policy(ctx, input),
            "StartLifecyclePolicyPreview" => self.start_lifecycle_policy_preview(ctx, input),
            "GetLifecyclePolicyPreview" => self.get_lifecycle_policy_preview(ctx, input),
            "StartImageScan" => self.start_image_scan(ctx, input),
            "DescribeImageScanFindings" => self.describe_image_scan_findings(ctx, input),
            other => Err(ApiError::unknown_operation(other)),
        }
    }
}
