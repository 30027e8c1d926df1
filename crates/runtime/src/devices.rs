//! Host device nodes made available inside a container (Docker's
//! `--device`, ECS's `linuxParameters.devices`): the node is created in
//! the container's `/dev` with the host node's type and numbers, and the
//! device cgroup lets the container use it with the access asked for.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::{Device, RuntimeError};

/// A device as the OCI spec needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    pub container_path: String,
    /// `c` (character) or `b` (block).
    pub kind: char,
    pub major: u64,
    pub minor: u64,
    /// Permission bits of the host node.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Cgroup access: a subset of `rwm`.
    pub access: String,
}

/// Checks a request without touching the host: an absolute container
/// path and an access string made of `r`, `w` and `m`.
pub fn check(d: &Device) -> Result<(), RuntimeError> {
    if !d.container_path.starts_with('/') {
        return Err(RuntimeError::InvalidConfig(format!(
            "invalid device path '{}': it must be absolute",
            d.container_path
        )));
    }
    if d.access.is_empty() || !d.access.chars().all(|c| "rwm".contains(c)) {
        return Err(RuntimeError::InvalidConfig(format!(
            "invalid device mode '{}': use a combination of r, w and m",
            d.access
        )));
    }
    Ok(())
}

/// Reads the host node `d` names.
pub fn resolve(d: &Device) -> Result<DeviceNode, RuntimeError> {
    check(d)?;
    let host = Path::new(&d.host_path);
    let gathering = |why: String| {
        RuntimeError::InvalidConfig(format!(
            "error gathering device information while adding custom device \"{}\": {why}",
            host.display()
        ))
    };
    let meta = std::fs::metadata(host).map_err(|e| {
        // Docker's words; "No such file" would read as a missing command.
        gathering(match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".into(),
            _ => e.to_string(),
        })
    })?;
    let kind = if meta.file_type().is_char_device() {
        'c'
    } else if meta.file_type().is_block_device() {
        'b'
    } else {
        return Err(gathering("not a device node".into()));
    };
    let rdev = meta.rdev();
    Ok(DeviceNode {
        container_path: d.container_path.clone(),
        kind,
        major: nix::sys::stat::major(rdev),
        minor: nix::sys::stat::minor(rdev),
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        access: d.access.clone(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn dev(host: &str, container: &str, access: &str) -> Device {
        Device {
            host_path: host.into(),
            container_path: container.into(),
            access: access.into(),
        }
    }

    #[test]
    fn host_nodes_resolve_to_their_numbers() {
        let n = resolve(&dev("/dev/null", "/dev/mynull", "rw")).unwrap();
        assert_eq!((n.kind, n.major, n.minor), ('c', 1, 3));
        assert_eq!(n.container_path, "/dev/mynull");
        assert_eq!(n.access, "rw");
    }

    #[test]
    fn bad_requests_are_refused() {
        for (d, want) in [
            (dev("/etc/hostname", "/dev/x", "rwm"), "not a device node"),
            (
                dev("/dev/nope-nope", "/dev/x", "rwm"),
                "no such file or directory",
            ),
            (dev("/dev/null", "dev/x", "rwm"), "must be absolute"),
            (dev("/dev/null", "/dev/x", "rx"), "invalid device mode"),
            (dev("/dev/null", "/dev/x", ""), "invalid device mode"),
        ] {
            let e = resolve(&d).unwrap_err().to_string();
            assert!(e.contains(want), "{d:?}: {e}");
        }
    }
}
