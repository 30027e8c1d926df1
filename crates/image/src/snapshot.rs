//! Unpacked layers: `snapshots/<chain-id-hex>/fs` under the store root,
//! one per distinct layer stack, so images sharing a base share its
//! directories.
//!
//! Lifecycle of a snapshot: unpacked into `snapshots/.tmp-<random>/fs` ->
//! the whole temporary directory is synced and renamed to its chain id
//! (if another process won the race, ours is thrown away) -> used,
//! read-only, as an overlayfs lower directory by any number of containers
//! -> when no image needs it, renamed back to a temporary name and
//! deleted, so a half-deleted snapshot is never visible under its name.

use std::fs;
use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

use crate::digest::Digest;
use crate::error::ImageError;
use crate::meta::ImageRecord;
use crate::store::ImageStore;
use crate::unpack::unpack_layer;

impl ImageStore {
    /// The unpacked directories of `image`'s layers in overlayfs
    /// `lowerdir` order (topmost first), unpacking whatever is missing.
    pub fn rootfs_layers(&self, image: &ImageRecord) -> Result<Vec<PathBuf>, ImageError> {
        let mut dirs = self.ensure_snapshots(image)?;
        dirs.reverse();
        Ok(dirs)
    }

    /// Unpacks the missing snapshots of `image`; bottom first.
    pub(crate) fn ensure_snapshots(&self, image: &ImageRecord) -> Result<Vec<PathBuf>, ImageError> {
        let chain = image.chain_ids();
        let mut dirs: Vec<PathBuf> = Vec::with_capacity(chain.len());
        for (layer, chain_id) in image.layers.iter().zip(&chain) {
            let dir = self.snapshot_dir(chain_id);
            let fs_dir = dir.join("fs");
            if !fs_dir.is_dir() {
                let lowers: Vec<PathBuf> = dirs.iter().rev().cloned().collect();
                self.unpack_snapshot(image, layer, chain_id, &lowers)?;
            }
            dirs.push(fs_dir);
        }
        Ok(dirs)
    }

    fn snapshot_dir(&self, chain_id: &Digest) -> PathBuf {
        self.root().join("snapshots").join(chain_id.hex())
    }

    fn unpack_snapshot(
        &self,
        image: &ImageRecord,
        layer: &crate::meta::LayerRecord,
        chain_id: &Digest,
        lowers: &[PathBuf],
    ) -> Result<(), ImageError> {
        let snapshots = self.root().join("snapshots");
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempdir_in(&snapshots)
            .map_err(ImageError::io(format!(
                "creating a temporary snapshot in {}",
                snapshots.display()
            )))?;
        let fs_dir = tmp.path().join("fs");
        fs::create_dir(&fs_dir)
            .map_err(ImageError::io(format!("creating {}", fs_dir.display())))?;
        let mut blob = self.content().open(&layer.digest)?;
        unpack_layer(&mut blob, &layer.media_type, Some(&layer.diff_id), &fs_dir, lowers).map_err(|e| {
            tracing::warn!(image = %image.id, layer = %layer.digest, error = %e, "unpacking failed");
            e
        })?;
        let d = fs::File::open(tmp.path())
            .map_err(ImageError::io(format!("opening {}", tmp.path().display())))?;
        nix::unistd::syncfs(std::os::fd::AsRawFd::as_raw_fd(&d)).map_err(|e| ImageError::Io {
            context: format!("syncing snapshot {chain_id}"),
            source: e.into(),
        })?;
        let target = self.snapshot_dir(chain_id);
        let tmp_path = tmp.keep();
        match fs::rename(&tmp_path, &target) {
            Ok(()) => crate::store::sync_dir(&snapshots),
            Err(e)
                if matches!(
                    Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                    Errno::EEXIST | Errno::ENOTEMPTY
                ) =>
            {
                // Another process unpacked the same layer stack first.
                let _ = fs::remove_dir_all(&tmp_path);
                Ok(())
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp_path);
                Err(ImageError::Io {
                    context: format!("publishing snapshot {chain_id}"),
                    source: e,
                })
            }
        }
    }

    pub(crate) fn delete_snapshot(&self, chain_id: &Digest) -> Result<(), ImageError> {
        let dir = self.snapshot_dir(chain_id);
        let doomed = self
            .root()
            .join("snapshots")
            .join(format!(".del-{}", chain_id.hex()));
        // Left over by a removal that crashed half way.
        if doomed.exists() {
            fs::remove_dir_all(&doomed)
                .map_err(ImageError::io(format!("removing {}", doomed.display())))?;
        }
        match fs::rename(&dir, &doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(ImageError::Io {
                    context: format!("removing snapshot {chain_id}"),
                    source: e,
                });
            }
        }
        fs::remove_dir_all(&doomed).map_err(ImageError::io(format!("removing snapshot {chain_id}")))
    }
}
