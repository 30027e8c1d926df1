//! Resolves an image's `User` (`name`, `uid`, `name:group`, `uid:gid`)
//! against the container's own `/etc/passwd` and `/etc/group`.
//!
//! The root filesystem comes from an image and is not trusted: its files
//! are opened with `openat2(RESOLVE_IN_ROOT)`, so a symlinked
//! `/etc/passwd` can never lead to the host's files.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::Path;

use crate::error::RuntimeError;

/// A user resolved to numbers, as the kernel wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

/// Opens `rel` inside `root` as if `root` were `/`.
pub fn open_in_root(root: &Path, rel: &str) -> std::io::Result<File> {
    let dir = File::open(root)?;
    let path = std::ffi::CString::new(rel.trim_start_matches('/'))
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
    const RESOLVE_IN_ROOT: u64 = 0x10;
    let how = OpenHow {
        flags: (libc::O_RDONLY | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: openat2 reads `how` (size passed) and `path` (NUL-terminated)
    // during the call only; `dir` stays open for its duration.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd as i32) })
}

fn read_in_root(root: &Path, rel: &str) -> String {
    let mut s = String::new();
    if let Ok(mut f) = open_in_root(root, rel) {
        // A file over 4 MiB is no passwd file anyone needs parsed.
        let _ = f.by_ref().take(4 << 20).read_to_string(&mut s);
    }
    s
}

/// Resolves `spec` against the passwd and group files' contents.
pub fn resolve_with(
    spec: Option<&str>,
    passwd: &str,
    group: &str,
) -> Result<ResolvedUser, RuntimeError> {
    let spec = spec.map(str::trim).filter(|s| !s.is_empty()).unwrap_or("0");
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let entries: Vec<Vec<&str>> = passwd
        .lines()
        .map(|l| l.split(':').collect())
        .filter(|f: &Vec<&str>| f.len() >= 7)
        .collect();
    let by_name = entries.iter().find(|f| f[0] == user_part);
    let (uid, mut gid, home, name) = match (user_part.parse::<u32>(), by_name) {
        (Ok(uid), _) => {
            let e = entries
                .iter()
                .find(|f| f[2].parse::<u32>().ok() == Some(uid));
            match e {
                Some(f) => (
                    uid,
                    f[3].parse().unwrap_or(0),
                    f[5].to_string(),
                    Some(f[0].to_string()),
                ),
                None => (uid, 0, "/".to_string(), None),
            }
        }
        (Err(_), Some(f)) => (
            f[2].parse().map_err(|_| {
                RuntimeError::InvalidConfig(format!("bad uid for user {user_part} in /etc/passwd"))
            })?,
            f[3].parse().unwrap_or(0),
            f[5].to_string(),
            Some(f[0].to_string()),
        ),
        (Err(_), None) => {
            return Err(RuntimeError::InvalidConfig(format!(
                "unable to find user {user_part}: no matching entries in passwd file"
            )));
        }
    };
    let groups: Vec<Vec<&str>> = group
        .lines()
        .map(|l| l.split(':').collect())
        .filter(|f: &Vec<&str>| f.len() >= 4)
        .collect();
    if let Some(g) = group_part {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups
                .iter()
                .find(|f| f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| {
                    RuntimeError::InvalidConfig(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        };
    }
    let mut additional_gids = Vec::new();
    if let Some(name) = name {
        for f in &groups {
            if f[3].split(',').any(|m| m == name)
                && let Ok(g) = f[2].parse::<u32>()
                && g != gid
                && !additional_gids.contains(&g)
            {
                additional_gids.push(g);
            }
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home: if home.is_empty() { "/".into() } else { home },
    })
}

/// Resolves `spec` inside the container's root filesystem.
pub fn resolve(rootfs: &Path, spec: Option<&str>) -> Result<ResolvedUser, RuntimeError> {
    resolve_with(
        spec,
        &read_in_root(rootfs, "/etc/passwd"),
        &read_in_root(rootfs, "/etc/group"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nstaff:x:50:www,other\n";

    #[test]
    fn resolves_names_numbers_and_groups() {
        let r = resolve_with(None, PASSWD, GROUP).expect("default root");
        assert_eq!((r.uid, r.gid, r.home.as_str()), (0, 0, "/root"));
        let r = resolve_with(Some("www"), PASSWD, GROUP).expect("by name");
        assert_eq!((r.uid, r.gid), (33, 33));
        assert_eq!(r.additional_gids, vec![50]);
        let r = resolve_with(Some("33:staff"), PASSWD, GROUP).expect("uid:group");
        assert_eq!((r.uid, r.gid), (33, 50));
        let r = resolve_with(Some("1234:5678"), PASSWD, GROUP).expect("numbers");
        assert_eq!((r.uid, r.gid, r.home.as_str()), (1234, 5678, "/"));
        let r = resolve_with(Some("1234"), PASSWD, GROUP).expect("unknown uid");
        assert_eq!(r.gid, 0);
    }

    #[test]
    fn unknown_names_are_errors() {
        let e = resolve_with(Some("nobody"), PASSWD, GROUP).expect_err("unknown user");
        assert!(e.to_string().contains("unable to find user nobody"));
        assert!(resolve_with(Some("www:nogroup"), PASSWD, GROUP).is_err());
    }

    #[test]
    fn symlinked_passwd_stays_inside_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("etc")).expect("mkdir");
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("etc/passwd")).expect("symlink");
        // /etc/passwd inside the root is a link to itself-in-root: absent.
        let r = resolve(dir.path(), Some("root"));
        assert!(
            r.is_err(),
            "must not read the host's passwd through a symlink"
        );
    }
}
