//! The container's root filesystem: an overlay of the image's read-only
//! layer snapshots with a per-container writable layer.

use std::fs;
use std::path::PathBuf;

use nix::mount::{MntFlags, MsFlags, mount, umount2};

use crate::error::RuntimeError;
use crate::state::ContainerDir;

/// Mounts the overlay at `dir.rootfs()`; lowers are topmost first.
pub fn mount_overlay(dir: &ContainerDir, lowers: &[PathBuf]) -> Result<(), RuntimeError> {
    for d in [dir.rootfs(), dir.upper(), dir.work()] {
        fs::create_dir_all(&d).map_err(RuntimeError::io(format!("creating {}", d.display())))?;
    }
    let mut lowers: Vec<PathBuf> = lowers.to_vec();
    if lowers.is_empty() {
        // overlayfs needs one lower layer; an image without layers gets an
        // empty one.
        let empty = dir.root.join("empty");
        fs::create_dir_all(&empty)
            .map_err(RuntimeError::io(format!("creating {}", empty.display())))?;
        lowers.push(empty);
    }
    for l in &lowers {
        let s = l.to_string_lossy();
        if s.contains(':') || s.contains(',') {
            return Err(RuntimeError::InvalidConfig(format!(
                "layer path {s} contains ':' or ','"
            )));
        }
    }
    let lowerdir = lowers
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(":");
    let data = format!(
        "lowerdir={lowerdir},upperdir={},workdir={}",
        dir.upper().display(),
        dir.work().display()
    );
    // The kernel takes at most one page of mount data.
    if data.len() >= 4096 {
        return Err(RuntimeError::InvalidConfig(format!(
            "too many image layers ({}) for one overlay mount",
            lowers.len()
        )));
    }
    mount(
        Some("overlay"),
        &dir.rootfs(),
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|e| RuntimeError::Io {
        context: format!("mounting overlay at {}", dir.rootfs().display()),
        source: e.into(),
    })
}

/// Unmounts the overlay if mounted. Idempotent: stops at the first
/// "not a mount point" rather than reading the mount table, which is slow
/// on a node with many containers.
pub fn unmount(dir: &ContainerDir) -> Result<(), RuntimeError> {
    let target = dir.rootfs();
    loop {
        match umount2(&target, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => return Ok(()),
            Err(e) => {
                return Err(RuntimeError::Io {
                    context: format!("unmounting {}", target.display()),
                    source: e.into(),
                });
            }
        }
    }
}
