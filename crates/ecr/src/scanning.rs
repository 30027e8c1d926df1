//! Basic scanning: on push (when the repository asks for it) and on
//! StartImageScan, the image's layers are read for its OS package database
//! (`dockyard-scan`) and the packages matched against the OSV feed an
//! operator loaded with `dockyard registry load-vulns FILE`. Results live
//! under `ecr/scans/NAME@DIGEST` (`@` cannot occur in a name, so one
//! repository's prefix never covers another's).
//!
//! Scans run on at most [`MAX_WORKERS`] short-lived threads draining one
//! queue; nothing lingers when there is nothing to scan. With no feed
//! loaded a scan ends `FINDINGS_UNAVAILABLE` and says why, rather than
//! reporting a clean image.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use dockyard_aws::ApiError;
use dockyard_aws::router::CallContext;
use dockyard_image::Digest;
use dockyard_registry::{ManifestRef, Registry};
use dockyard_scan::{Feed, Finding};
use dockyard_store::{Op, Store, StoreExt};

use crate::EcrService;
use crate::error::{from_registry, invalid_field, server};
use crate::images::ImageId;
use crate::input::{self, decode};
use crate::meta::epoch;

/// Scans running at once.
pub const MAX_WORKERS: usize = 2;

pub(crate) fn key(name: &str, digest: &Digest) -> String {
    format!("ecr/scans/{name}@{digest}")
}

pub(crate) fn forget_op(name: &str) -> Op {
    Op::DeletePrefix {
        prefix: format!("ecr/scans/{name}@"),
    }
}

/// A scan's stored state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScanRecord {
    pub status: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub findings: Vec<Finding>,
}

impl ScanRecord {
    fn status(&self) -> Value {
        json!({"status": self.status, "description": self.description})
    }

    fn counts(&self) -> Value {
        json!(dockyard_scan::severity_counts(&self.findings))
    }

    /// The `imageScanFindingsSummary` of DescribeImages.
    pub fn summary(&self) -> Option<Value> {
        if self.status != "COMPLETE" {
            return None;
        }
        let done = self.completed_at?;
        let mut v = json!({
            "imageScanCompletedAt": epoch(done),
            "findingSeverityCounts": self.counts(),
        });
        if let Some(t) = self.source_updated_at {
            v["vulnerabilitySourceUpdatedAt"] = json!(epoch(t));
        }
        Some(v)
    }
}

fn render_finding(f: &Finding) -> Value {
    let mut attributes = vec![
        json!({"key": "package_name", "value": f.package_name}),
        json!({"key": "package_version", "value": f.package_version}),
    ];
    if let Some(v) = &f.fixed_version {
        attributes.push(json!({"key": "fixed_in_version", "value": v}));
    }
    if let Some(s) = f.cvss3_score {
        attributes.push(json!({"key": "CVSS3_SCORE", "value": s.to_string()}));
    }
    if let Some(v) = &f.cvss3_vector {
        attributes.push(json!({"key": "CVSS3_VECTOR", "value": v}));
    }
    if !f.aliases.is_empty() {
        attributes.push(json!({"key": "aliases", "value": f.aliases.join(",")}));
    }
    let mut v = json!({
        "name": f.name,
        "uri": f.uri,
        "severity": f.severity.as_str(),
        "attributes": attributes,
    });
    if let Some(d) = &f.description {
        v["description"] = json!(d);
    }
    v
}

/// The OSV feed file, re-read when it changes.
struct FeedFile {
    path: PathBuf,
    cached: Mutex<Option<(SystemTime, Arc<Feed>)>>,
}

impl FeedFile {
    /// The feed, `None` when none is loaded; an error when the file is bad.
    fn get(&self) -> Result<Option<Arc<Feed>>, String> {
        let mtime = match std::fs::metadata(&self.path).and_then(|m| m.modified()) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("reading {}: {e}", self.path.display())),
        };
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((t, f)) = cached.as_ref()
            && *t == mtime
        {
            return Ok(Some(f.clone()));
        }
        let bytes = std::fs::read(&self.path)
            .map_err(|e| format!("reading {}: {e}", self.path.display()))?;
        let feed = Arc::new(Feed::parse(&bytes).map_err(|e| e.to_string())?);
        *cached = Some((mtime, feed.clone()));
        Ok(Some(feed))
    }
}

/// Checks an OSV feed and installs it where a server reads it, atomically;
/// returns how many vulnerabilities it holds.
pub fn install_feed(bytes: &[u8], dest: &Path) -> Result<usize, String> {
    let feed = Feed::parse(bytes).map_err(|e| e.to_string())?;
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        dest.file_name().and_then(|n| n.to_str()).unwrap_or("feed")
    ));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dest)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("writing {}: {e}", dest.display())
    })?;
    Ok(feed.len())
}

struct Job {
    registry: Registry,
    repo: String,
    digest: Digest,
}

/// The scan queue and its workers.
pub struct Scanner {
    store: Arc<dyn Store>,
    feed: FeedFile,
    queue: Mutex<(VecDeque<Job>, usize)>,
}

impl Scanner {
    pub(crate) fn new(store: Arc<dyn Store>, feed_path: PathBuf) -> Self {
        Self {
            store,
            feed: FeedFile {
                path: feed_path,
                cached: Mutex::new(None),
            },
            queue: Mutex::new((VecDeque::new(), 0)),
        }
    }

    fn put(&self, repo: &str, digest: &Digest, r: &ScanRecord) {
        let value = serde_json::to_vec(r).unwrap_or_default();
        if let Err(e) = self.store.put(&key(repo, digest), value) {
            tracing::warn!("recording the scan of {repo}@{digest}: {e}");
        }
    }

    pub(crate) fn get(&self, repo: &str, digest: &Digest) -> Result<Option<ScanRecord>, ApiError> {
        match self.store.get(&key(repo, digest)).map_err(server)? {
            Some(kv) => serde_json::from_slice(&kv.value)
                .map(Some)
                .map_err(|e| server(format!("corrupt record {}: {e}", kv.key))),
            None => Ok(None),
        }
    }

    /// Marks a scan in progress and queues it.
    pub(crate) fn enqueue(self: &Arc<Self>, registry: &Registry, repo: &str, digest: &Digest) {
        self.put(
            repo,
            digest,
            &ScanRecord {
                status: "IN_PROGRESS".into(),
                description: "The scan is in progress".into(),
                completed_at: None,
                source_updated_at: None,
                findings: vec![],
            },
        );
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.0.push_back(Job {
            registry: registry.clone(),
            repo: repo.to_owned(),
            digest: digest.clone(),
        });
        if q.1 < MAX_WORKERS {
            q.1 += 1;
            let me = self.clone();
            let spawned = std::thread::Builder::new()
                .name("ecr-scan".into())
                .spawn(move || me.work());
            if spawned.is_err() {
                q.1 -= 1;
                tracing::warn!("could not start a scan worker; the scan waits for the next one");
            }
        }
    }

    fn work(&self) {
        loop {
            let job = {
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                match q.0.pop_front() {
                    Some(j) => j,
                    None => {
                        q.1 -= 1;
                        return;
                    }
                }
            };
            let record = self.scan(&job);
            self.put(&job.repo, &job.digest, &record);
        }
    }

    fn ended(status: &str, description: impl Into<String>) -> ScanRecord {
        ScanRecord {
            status: status.into(),
            description: description.into(),
            completed_at: Some(Utc::now()),
            source_updated_at: None,
            findings: vec![],
        }
    }

    fn scan(&self, job: &Job) -> ScanRecord {
        let m = match job
            .registry
            .peek_manifest(&job.repo, &ManifestRef::Digest(job.digest.clone()))
        {
            Ok(m) => m,
            Err(e) => return Self::ended("FAILED", format!("reading the manifest: {e}")),
        };
        let doc: Value = match serde_json::from_slice(&m.bytes) {
            Ok(v) => v,
            Err(e) => return Self::ended("FAILED", format!("reading the manifest: {e}")),
        };
        let Some(layers) = doc.get("layers").and_then(Value::as_array) else {
            return Self::ended(
                "UNSUPPORTED_IMAGE",
                "UnsupportedImageError: only image manifests can be scanned; scan each image of an index",
            );
        };
        let mut readers = Vec::with_capacity(layers.len());
        for l in layers {
            let Some(d) = l
                .get("digest")
                .and_then(Value::as_str)
                .and_then(|d| Digest::parse(d).ok())
            else {
                return Self::ended("FAILED", "a layer descriptor has no valid digest");
            };
            match job.registry.open_blob(&job.repo, &d) {
                Ok((r, _)) => readers.push(r),
                Err(e) => return Self::ended("FAILED", format!("reading layer {d}: {e}")),
            }
        }
        let inv = match dockyard_scan::inventory(readers) {
            Ok(i) => i,
            Err(e) => return Self::ended("FAILED", format!("reading the layers: {e}")),
        };
        if !inv.is_supported() {
            return Self::ended(
                "UNSUPPORTED_IMAGE",
                "UnsupportedImageError: The operating system and/or package manager are not supported.",
            );
        }
        let feed = match self.feed.get() {
            Ok(Some(f)) => f,
            Ok(None) => {
                return Self::ended(
                    "FINDINGS_UNAVAILABLE",
                    "No vulnerability feed is loaded: findings are unknown, not absent. Load an OSV feed with `dockyard registry load-vulns FILE`.",
                );
            }
            Err(e) => return Self::ended("FAILED", format!("the vulnerability feed: {e}")),
        };
        ScanRecord {
            status: "COMPLETE".into(),
            description: "The scan was completed successfully.".into(),
            completed_at: Some(Utc::now()),
            source_updated_at: feed.updated_at(),
            findings: dockyard_scan::scan(&inv, &feed),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartInput {
    registry_id: Option<String>,
    repository_name: String,
    image_id: ImageId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FindingsInput {
    registry_id: Option<String>,
    repository_name: String,
    image_id: ImageId,
    next_token: Option<String>,
    max_results: Option<i64>,
}

impl EcrService {
    /// The digest an image id names, or ECR's errors.
    fn image_digest(
        &self,
        ctx: &CallContext,
        name: &str,
        id: &ImageId,
    ) -> Result<Digest, ApiError> {
        let images = self.images(ctx, name)?;
        match crate::images::resolve(&images, id) {
            crate::images::Resolved::Found(img) => Ok(img.digest.clone()),
            crate::images::Resolved::Failed(f) if f["failureCode"] == "ImageNotFound" => {
                Err(crate::images::image_not_found(id, name, &ctx.account))
            }
            crate::images::Resolved::Failed(f) => Err(invalid_field(
                "imageId",
                f["failureReason"].as_str().unwrap_or("invalid image id"),
            )),
        }
    }

    pub(crate) fn start_image_scan(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: StartInput = decode(input)?;
        let name = &i.repository_name;
        self.existing(ctx, i.registry_id.as_deref(), name)?;
        let digest = self.image_digest(ctx, name, &i.image_id)?;
        let info = self
            .registry
            .stat_manifest(name, &ManifestRef::Digest(digest.clone()), &[])
            .map_err(|e| from_registry(e, &ctx.account))?;
        if info.media_type.contains("index") || info.media_type.contains("manifest.list") {
            return Err(ApiError::client(
                "UnsupportedImageTypeException",
                "The image is a manifest list or index: start a scan of each of its images",
            ));
        }
        self.scanner.enqueue(&self.registry, name, &digest);
        let mut id = i.image_id.clone();
        id.image_digest = Some(digest.to_string());
        Ok(json!({
            "registryId": ctx.account,
            "repositoryName": name,
            "imageId": id,
            "imageScanStatus": {"status": "IN_PROGRESS", "description": "The scan is in progress"},
        }))
    }

    pub(crate) fn describe_image_scan_findings(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: FindingsInput = decode(input)?;
        let name = &i.repository_name;
        self.existing(ctx, i.registry_id.as_deref(), name)?;
        let digest = self.image_digest(ctx, name, &i.image_id)?;
        let Some(record) = self.scanner.get(name, &digest)? else {
            return Err(ApiError::client(
                "ScanNotFoundException",
                format!(
                    "Image scan does not exist for the image with '{{imageDigest:'{digest}', imageTag:'{}'}}' in the repository with name '{name}' in the registry with id '{}'",
                    i.image_id.image_tag.as_deref().unwrap_or("null"),
                    ctx.account
                ),
            ));
        };
        let n = input::max_results(i.max_results, 100)?;
        let after = input::decode_token(i.next_token.as_deref())?;
        let mut id = i.image_id.clone();
        id.image_digest = Some(digest.to_string());
        let mut v = json!({
            "registryId": ctx.account,
            "repositoryName": name,
            "imageId": id,
            "imageScanStatus": record.status(),
        });
        if let (Some(done), "COMPLETE") = (record.completed_at, record.status.as_str()) {
            // Findings page in their stored order (severity, then name).
            let indexed: Vec<(usize, &Finding)> = record.findings.iter().enumerate().collect();
            let (page, token) =
                input::paginate(indexed, |(i, _)| format!("{i:010}"), after.as_deref(), n);
            let mut findings = json!({
                "imageScanCompletedAt": epoch(done),
                "findingSeverityCounts": record.counts(),
                "findings": page.iter().map(|(_, f)| render_finding(f)).collect::<Vec<_>>(),
            });
            if let Some(t) = record.source_updated_at {
                findings["vulnerabilitySourceUpdatedAt"] = json!(epoch(t));
            }
            v["imageScanFindings"] = findings;
            if let Some(t) = token {
                v["nextToken"] = json!(t);
            }
        }
        Ok(v)
    }
}

#[cfg(test)]
#[path = "scanning_tests.rs"]
mod tests;
