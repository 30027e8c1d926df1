//! dpkg's database: `/var/lib/dpkg/status` and, in distroless images,
//! one control file per package under `/var/lib/dpkg/status.d/`.

use crate::{Package, PackageManager};

/// Where a control paragraph came from, which decides what a missing
/// `Status` field means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// dpkg's own status file: every paragraph has `Status`, and only
    /// `install ok installed` (or `hold ok installed`) ones are on disk;
    /// others are removed, half-configured, or only remembered for their
    /// conffiles.
    StatusFile,
    /// A distroless `status.d` file: the package's control file copied
    /// as is, which has no `Status` field because it is installed.
    StatusDir,
}

/// Parses deb822 paragraphs into installed packages.
pub fn parse(text: &str, origin: Origin) -> Vec<Package> {
    paragraphs(text)
        .into_iter()
        .filter_map(|fields| package(&fields, origin))
        .collect()
}

fn package(fields: &[(String, String)], origin: Origin) -> Option<Package> {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    };
    match get("Status") {
        Some(status) => {
            // want, error flag, state. A held package ("hold ok
            // installed") is as installed as any other.
            let words: Vec<&str> = status.split_whitespace().collect();
            if !matches!(words[..], ["install" | "hold", "ok", "installed"]) {
                return None;
            }
        }
        None if origin == Origin::StatusFile => return None,
        None => {}
    }
    let name = get("Package").filter(|n| !n.is_empty())?;
    let version = get("Version").filter(|v| !v.is_empty())?;
    // `Source: name` or `Source: name (version)` when the source version
    // differs from the binary's (binNMUs, +bN).
    let (source_name, source_version) = match get("Source").filter(|s| !s.is_empty()) {
        Some(source) => match source.split_once('(') {
            Some((n, v)) => (
                Some(n.trim().to_string()),
                Some(v.trim_end_matches(')').trim().to_string()).filter(|v| !v.is_empty()),
            ),
            None => (Some(source.to_string()), None),
        },
        None => (None, None),
    };
    Some(Package {
        name: name.to_string(),
        version: version.to_string(),
        source_name,
        source_version,
        arch: get("Architecture")
            .filter(|a| !a.is_empty())
            .map(str::to_string),
        manager: PackageManager::Dpkg,
    })
}

/// Splits deb822 text into paragraphs of (field, value) pairs;
/// continuation lines (leading space or tab) are appended to the value.
fn paragraphs(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            current.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "\
Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.

Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl (3.0.11-1~deb12u2)
Version: 3.0.11-1~deb12u2+b1

Package: removed-pkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1

Package: half
Status: install ok half-configured
Version: 1.0-1

Package: bash
status: install ok installed
Version: 5.2.15-2+b2

Package: held
Status: hold ok installed
Version: 1.0-1

Package: broken
Status: install reinstreq installed
Version: 1.0-1
";

    #[test]
    fn status_file() {
        let pkgs = parse(STATUS, Origin::StatusFile);
        let names: Vec<&str> = pkgs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["libc6", "libssl3", "bash", "held"]);
        assert_eq!(pkgs[0].source_name.as_deref(), Some("glibc"));
        assert_eq!(pkgs[0].source_version, None);
        assert_eq!(pkgs[0].arch.as_deref(), Some("amd64"));
        assert_eq!(pkgs[1].source_name.as_deref(), Some("openssl"));
        assert_eq!(pkgs[1].source_version.as_deref(), Some("3.0.11-1~deb12u2"));
        assert_eq!(pkgs[1].version, "3.0.11-1~deb12u2+b1");
        assert_eq!(pkgs[2].source_name, None);
        assert_eq!(pkgs[2].arch, None);
    }

    #[test]
    fn missing_status_means_installed_only_in_status_dir() {
        let text = "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n";
        assert!(parse(text, Origin::StatusFile).is_empty());
        assert_eq!(parse(text, Origin::StatusDir).len(), 1);
    }

    #[test]
    fn paragraph_without_version_is_skipped() {
        let text = "Package: x\nStatus: install ok installed\n\n\n";
        assert!(parse(text, Origin::StatusFile).is_empty());
    }
}
