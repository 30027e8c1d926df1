//! Exporting images as an OCI image layout tar, which `dockyard load`,
//! `docker load` (it also carries Docker's `manifest.json`), `podman load`
//! and `skopeo copy oci-archive:` read.

use std::collections::BTreeSet;
use std::io::Write;

use serde_json::json;

use crate::digest::Digest;
use crate::error::ImageError;
use crate::manifest::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, OCI_INDEX};
use crate::meta::ImageRecord;
use crate::reference::Reference;
use crate::store::ImageStore;

impl ImageStore {
    /// Writes the images `refs` name (references or ids) as one OCI layout
    /// tar. An image named by reference carries that name in its index
    /// entry (`io.containerd.image.name` with the full name,
    /// `org.opencontainers.image.ref.name` with the tag, as Docker writes);
    /// one named by id carries none.
    pub fn save(&self, refs: &[String], out: &mut dyn Write) -> Result<(), ImageError> {
        if refs.is_empty() {
            return Err(ImageError::InvalidArgument("no image to save".into()));
        }
        let mut entries: Vec<(ImageRecord, Option<Reference>)> = Vec::new();
        for s in refs {
            let img = self.resolve(s)?;
            let name = Reference::parse(s)
                .ok()
                .map(Reference::with_default_tag)
                .filter(|r| r.digest().is_none() && img.references.contains(&r.to_string()));
            if !entries.iter().any(|(i, n)| i.id == img.id && *n == name) {
                entries.push((img, name));
            }
        }

        let mut manifests = Vec::new();
        for (img, name) in &entries {
            let mut desc = json!({
                "mediaType": img.manifest_media_type,
                "digest": img.manifest_digest,
                "size": self.blob_size(&img.manifest_digest)?,
                "platform": {"os": img.os, "architecture": img.architecture},
            });
            if let Some(n) = name {
                desc["annotations"] = json!({
                    ANNOTATION_IMAGE_NAME: n.to_string(),
                    ANNOTATION_REF_NAME: n.tag().unwrap_or("latest"),
                });
            }
            manifests.push(desc);
        }
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});

        let mut docker = Vec::new();
        let mut blobs: Vec<Digest> = Vec::new();
        let mut seen = BTreeSet::new();
        for (img, _) in &entries {
            if docker
                .iter()
                .any(|d: &serde_json::Value| d["Config"] == blob_path(&img.id))
            {
                continue;
            }
            let tags: Vec<String> = entries
                .iter()
                .filter(|(i, _)| i.id == img.id)
                .filter_map(|(_, n)| n.as_ref().map(Reference::familiar))
                .collect();
            docker.push(json!({
                "Config": blob_path(&img.id),
                "RepoTags": tags,
                "Layers": img.layers.iter().map(|l| blob_path(&l.digest)).collect::<Vec<_>>(),
            }));
            let all = [img.manifest_digest.clone(), img.id.clone()]
                .into_iter()
                .chain(img.layers.iter().map(|l| l.digest.clone()));
            for d in all {
                if seen.insert(d.clone()) {
                    blobs.push(d);
                }
            }
        }

        let mut tar = tar::Builder::new(out);
        let io = |e: std::io::Error| ImageError::Io {
            context: "writing the image archive".into(),
            source: e,
        };
        append_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io)?;
        append_bytes(&mut tar, "index.json", &to_json(&index)?).map_err(io)?;
        append_bytes(&mut tar, "manifest.json", &to_json(&docker)?).map_err(io)?;
        append_dir(&mut tar, "blobs/").map_err(io)?;
        append_dir(&mut tar, "blobs/sha256/").map_err(io)?;
        for d in &blobs {
            let size = self.blob_size(d)?;
            let blob = self.content().open(d)?;
            let mut h = header(tar::EntryType::Regular, size, 0o644);
            tar.append_data(&mut h, blob_path(d), blob).map_err(io)?;
        }
        tar.into_inner().map_err(io)?.flush().map_err(io)
    }

    fn blob_size(&self, d: &Digest) -> Result<u64, ImageError> {
        self.content()
            .size(d)?
            .ok_or_else(|| crate::content::ContentError::NotFound(d.clone()).into())
    }
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm(), d.hex())
}

fn to_json(v: &impl serde::Serialize) -> Result<Vec<u8>, ImageError> {
    serde_json::to_vec(v).map_err(|e| ImageError::Io {
        context: "encoding the image archive".into(),
        source: e.into(),
    })
}

fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn append_bytes(
    tar: &mut tar::Builder<&mut dyn Write>,
    path: &str,
    data: &[u8],
) -> std::io::Result<()> {
    let mut h = header(tar::EntryType::Regular, data.len() as u64, 0o644);
    tar.append_data(&mut h, path, data)
}

fn append_dir(tar: &mut tar::Builder<&mut dyn Write>, path: &str) -> std::io::Result<()> {
    let mut h = header(tar::EntryType::Directory, 0, 0o755);
    tar.append_data(&mut h, path, std::io::empty())
}
