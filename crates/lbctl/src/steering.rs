//! The server's kernel forwarding for NLB listeners: one nft table per
//! data directory.

use std::path::Path;
use std::sync::Arc;

use dockyard_lb::{FlowSteering, KernelSteering};

/// The table of the server whose data directory is `data_dir`:
/// `dockyard_lb` and a hash of the path, so a restarted server takes over
/// (and empties) its own table and two servers on one host never share
/// one; its comment names the directory. None when nft cannot run (not
/// root, nftables missing): the relay then carries NLB listeners.
pub fn kernel_steering(data_dir: &Path) -> Option<Arc<dyn FlowSteering>> {
    let (table, comment) = naming(&canonical(data_dir));
    match KernelSteering::new(&table, &comment) {
        Ok(s) => {
            tracing::info!(%table, "NLB listeners are forwarded by the kernel where they can be");
            Some(Arc::new(s))
        }
        Err(e) => {
            tracing::warn!(error = %e, "no kernel forwarding for NLB listeners; the relay carries them");
            None
        }
    }
}

/// Deletes the table of the server whose data directory is `data_dir`,
/// for `dockyard system reset` after a server that could not clean up
/// (killed); the BPF program went with its process.
pub fn remove_kernel_steering(data_dir: &Path) -> Result<(), String> {
    let (table, _) = naming(&canonical(data_dir));
    dockyard_nft::delete_table("ip", &table).map_err(|e| e.to_string())
}

fn canonical(data_dir: &Path) -> String {
    data_dir
        .canonicalize()
        .unwrap_or_else(|_| data_dir.to_path_buf())
        .display()
        .to_string()
}

fn naming(path: &str) -> (String, String) {
    // FNV-1a: stable across builds, unlike std's hasher.
    let hash = path.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let safe: String = path
        .chars()
        .take(96)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "/-._".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    (
        format!("dockyard_lb{:08x}", hash as u32),
        format!("dockyard server {safe}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_per_directory_and_safe() {
        let (a, ca) = naming("/var/lib/dockyard");
        let (b, _) = naming("/var/lib/dockyard");
        let (c, _) = naming("/tmp/dockyard-srv-0123abcd/data");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with("dockyard_lb") && a.len() == 19, "{a}");
        assert_eq!(ca, "dockyard server /var/lib/dockyard");
        let (_, odd) = naming("/srv/my \"dir\";x");
        assert_eq!(odd, "dockyard server /srv/my__dir__x");
    }
}
