//! Test support shared by Dockyard's crates: the root guard, unique names,
//! and busybox images built from Debian's `busybox-static`.
//!
//! Only ever a dev-dependency.

use std::fs;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Where Debian's `busybox-static` installs its binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// Applets linked into test root filesystems.
const APPLETS: &[&str] = &[
    "sh", "true", "false", "echo", "cat", "ls", "sleep", "id", "env", "hostname", "mount", "ps",
    "kill", "pwd", "grep", "head", "tail", "wc", "test", "printf", "touch", "mkdir", "rm",
    "readlink", "stat", "dd", "nc", "wget", "httpd", "ip", "ifconfig", "route", "yes", "seq",
    "date", "uname", "tr", "awk", "sed", "find", "chmod", "ln", "whoami", "nproc", "unshare",
    "nsenter", "mknod", "chown", "sort", "uniq", "timeout", "watch", "top", "free", "df", "du",
    "xargs", "basename", "dirname", "cut", "tee", "sync", "ping",
];

/// Whether the current process is root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Skips the test (returning early) when not root, unless
/// `DOCKYARD_REQUIRE_ROOT=1` is set, in which case it panics so that CI can
/// never skip privileged tests silently.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::is_root() {
            if std::env::var("DOCKYARD_REQUIRE_ROOT").as_deref() == Ok("1") {
                panic!("this test needs root and DOCKYARD_REQUIRE_ROOT=1 is set");
            }
            eprintln!("skipping {}: needs root", module_path!());
            return;
        }
    };
}

/// A short random hex string for names that two runs must never share.
pub fn unique(prefix: &str) -> String {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).expect("the kernel's random source is always readable");
    format!("{prefix}{}", hex::encode(b))
}

/// A `/24` under `base` (e.g. `"172.28"`) that no route of the host
/// overlaps (a covering `/16` counts) and no other caller in this process
/// has been given, so tests running in parallel never share a bridge
/// subnet.
pub fn free_subnet(base: &str) -> String {
    use std::net::Ipv4Addr;
    use std::sync::Mutex;
    static CLAIMED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut claimed = CLAIMED.lock().unwrap_or_else(|p| p.into_inner());
    let routes = std::process::Command::new("ip")
        .args(["-4", "route", "show", "table", "all"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    // Every network a route names: `A.B.C.D/N`, or a host address.
    let nets: Vec<(u32, u32)> = routes
        .split_whitespace()
        .filter_map(|w| {
            let (addr, len) = w.split_once('/').unwrap_or((w, "32"));
            let addr: Ipv4Addr = addr.parse().ok()?;
            let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            Some((u32::from(addr) & mask, mask))
        })
        .collect();
    let overlaps = |net: u32| {
        nets.iter().any(|(n, m)| {
            let common = m & (u32::MAX << 8);
            net & common == n & common
        })
    };
    let mut b = [0u8; 1];
    getrandom::fill(&mut b).expect("the kernel's random source is always readable");
    for i in 0..=255u16 {
        let x = (b[0] as u16 + i) % 256;
        let net = format!("{base}.{x}.0/24");
        let Ok(addr) = format!("{base}.{x}.0").parse::<Ipv4Addr>() else {
            panic!("{base} is not the first two octets of an IPv4 address");
        };
        if !claimed.contains(&net) && !overlaps(u32::from(addr)) {
            claimed.push(net.clone());
            return net;
        }
    }
    panic!("no free /24 left under {base}");
}

/// Builds a busybox root filesystem in `dir`: `/bin/busybox`, applet
/// symlinks, and the usual empty directories.
pub fn busybox_rootfs(dir: &Path) -> std::io::Result<()> {
    for d in [
        "bin", "etc", "proc", "sys", "dev", "tmp", "root", "var", "home", "usr/bin",
    ] {
        fs::create_dir_all(dir.join(d))?;
    }
    fs::copy(BUSYBOX, dir.join("bin/busybox"))?;
    for a in APPLETS {
        let link = dir.join("bin").join(a);
        if !link.exists() {
            symlink("busybox", link)?;
        }
    }
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
    )?;
    fs::write(dir.join("etc/group"), "root:x:0:\nnobody:x:65534:\n")?;
    Ok(())
}

/// A gzip-compressed tar of a busybox root filesystem, with its sha256 of
/// the uncompressed tar (the diff id) and of the compressed blob.
pub struct Layer {
    pub blob: Vec<u8>,
    pub digest: String,
    pub diff_id: String,
}

/// Tars and gzips a directory tree into a layer blob.
pub fn layer_from_dir(dir: &Path) -> std::io::Result<Layer> {
    let mut raw = Vec::new();
    {
        let mut b = tar::Builder::new(&mut raw);
        b.follow_symlinks(false);
        b.mode(tar::HeaderMode::Deterministic);
        b.append_dir_all(".", dir)?;
        b.finish()?;
    }
    layer_from_tar(raw)
}

/// Gzips an uncompressed layer tar.
pub fn layer_from_tar(raw: Vec<u8>) -> std::io::Result<Layer> {
    let diff_id = sha256(&raw);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw)?;
    let blob = gz.finish()?;
    Ok(Layer {
        digest: sha256(&blob),
        diff_id,
        blob,
    })
}

/// `sha256:<hex>` of some bytes.
pub fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// Writes an OCI image layout directory at `out` holding one image with
/// the given layers and config, tagged `name` (stored in the index's
/// `org.opencontainers.image.ref.name` annotation as `name`).
pub fn write_oci_layout(
    out: &Path,
    name: &str,
    layers: &[Layer],
    config: serde_json::Value,
) -> std::io::Result<String> {
    let blobs = out.join("blobs/sha256");
    fs::create_dir_all(&blobs)?;
    let put = |b: &[u8]| -> std::io::Result<String> {
        let d = sha256(b);
        fs::write(blobs.join(&d[7..]), b)?;
        Ok(d)
    };
    let diff_ids: Vec<_> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let cfg = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [],
    });
    let cfg_bytes = serde_json::to_vec(&cfg)?;
    let cfg_digest = put(&cfg_bytes)?;
    let mut descs = Vec::new();
    for l in layers {
        put(&l.blob)?;
        descs.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": l.digest,
            "size": l.blob.len(),
        }));
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": cfg_digest,
            "size": cfg_bytes.len(),
        },
        "layers": descs,
    });
    let m_bytes = serde_json::to_vec(&manifest)?;
    let m_digest = put(&m_bytes)?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": m_digest,
            "size": m_bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": name},
        }],
    });
    fs::write(out.join("index.json"), serde_json::to_vec(&index)?)?;
    fs::write(out.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    Ok(m_digest)
}

/// Builds the standard test image: an OCI layout at `out` with a busybox
/// root filesystem and `Cmd ["sh"]`, tagged `name`.
pub fn busybox_oci_layout(out: &Path, name: &str) -> std::io::Result<String> {
    let tmp = out.with_extension("rootfs");
    let _ = fs::remove_dir_all(&tmp);
    busybox_rootfs(&tmp)?;
    let layer = layer_from_dir(&tmp)?;
    fs::remove_dir_all(&tmp)?;
    write_oci_layout(
        out,
        name,
        &[layer],
        serde_json::json!({
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
        }),
    )
}

/// A temporary directory removed on drop, under `/var/tmp` (not tmpfs, so
/// overlayfs upper directories work everywhere).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> std::io::Result<Self> {
        let p = std::env::temp_dir().join(unique(&format!("dockyard-{prefix}-")));
        fs::create_dir_all(&p)?;
        Ok(Self(p))
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
