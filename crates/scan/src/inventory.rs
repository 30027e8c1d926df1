//! What an image contains: its OS release and installed OS packages.

use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::ScanError;
use crate::db::{apk, dpkg, os_release};
use crate::layers::{APK_INSTALLED, DPKG_STATUS, DPKG_STATUS_DIR, Tree};
use crate::version::Scheme;

/// The OS and packages found in an image.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Inventory {
    pub os: Option<OsRelease>,
    /// Sorted by name, then architecture and version.
    pub packages: Vec<Package>,
}

/// The fields of `os-release(5)` a scan uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsRelease {
    /// `ID`, lower case: `debian`, `ubuntu`, `alpine`...
    pub id: String,
    /// `VERSION_ID`, empty when the file has none (Debian testing).
    pub version_id: String,
    pub pretty_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// The binary package's name, as installed.
    pub name: String,
    pub version: String,
    /// dpkg's `Source` name or apk's origin; `None` when it is the same
    /// as the binary package's.
    pub source_name: Option<String>,
    /// dpkg's source version when it differs from `version` (binNMUs).
    pub source_version: Option<String>,
    pub arch: Option<String>,
    pub manager: PackageManager,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PackageManager {
    Dpkg,
    Apk,
}

/// The distributions whose OSV ecosystems we match against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Family {
    Debian,
    Ubuntu,
    Alpine,
}

impl Family {
    /// The family an OSV ecosystem name (the part before any `:`) means.
    pub(crate) fn from_ecosystem(name: &str) -> Option<Family> {
        match name {
            "Debian" => Some(Family::Debian),
            "Ubuntu" => Some(Family::Ubuntu),
            "Alpine" => Some(Family::Alpine),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Family::Debian => "Debian",
            Family::Ubuntu => "Ubuntu",
            Family::Alpine => "Alpine",
        }
    }

    pub(crate) fn manager(self) -> PackageManager {
        match self {
            Family::Debian | Family::Ubuntu => PackageManager::Dpkg,
            Family::Alpine => PackageManager::Apk,
        }
    }

    pub(crate) fn scheme(self) -> Scheme {
        match self.manager() {
            PackageManager::Dpkg => Scheme::Dpkg,
            PackageManager::Apk => Scheme::Apk,
        }
    }
}

impl OsRelease {
    /// The distribution family and release as OSV names them: `("Debian",
    /// "12")`, `("Ubuntu", "22.04")`, `("Alpine", "v3.18")`.
    pub(crate) fn family_release(&self) -> Option<(Family, String)> {
        let v = self.version_id.as_str();
        match self.id.as_str() {
            // Debian's VERSION_ID is the major version already; a point
            // release would not change which advisories apply.
            "debian" => Some((
                Family::Debian,
                v.split('.').next().unwrap_or("").to_string(),
            )),
            "ubuntu" => Some((Family::Ubuntu, v.to_string())),
            "alpine" => {
                let mut parts = v.split('.');
                let (major, minor) = (parts.next()?, parts.next()?);
                let minor: String = minor.chars().take_while(char::is_ascii_digit).collect();
                Some((Family::Alpine, format!("v{major}.{minor}")))
            }
            _ => None,
        }
    }

    /// The OSV ecosystem this release's packages belong to, such as
    /// `Debian:12`, `Ubuntu:22.04` or `Alpine:v3.18`; `None` for an OS we
    /// do not scan.
    pub fn ecosystem(&self) -> Option<String> {
        let (family, release) = self.family_release()?;
        Some(if release.is_empty() {
            family.name().to_string()
        } else {
            format!("{}:{release}", family.name())
        })
    }
}

impl Inventory {
    /// Whether a scan of this inventory means something: the OS is one we
    /// have an ecosystem for and it has packages of that OS's manager.
    /// ECR reports other images as `UNSUPPORTED_IMAGE`.
    pub fn is_supported(&self) -> bool {
        let Some((family, _)) = self.os.as_ref().and_then(OsRelease::family_release) else {
            return false;
        };
        self.packages.iter().any(|p| p.manager == family.manager())
    }
}

/// Reads the OS release and package databases from an image's layers,
/// given lowest first. Each layer is a tar stream, gzip- or
/// zstd-compressed or not (told by its first bytes, not its media type).
/// Whiteouts are honoured, so a later layer can delete or replace a
/// database. An image without a package database is not an error: its
/// inventory is empty.
pub fn inventory<R: Read>(layers: impl IntoIterator<Item = R>) -> Result<Inventory, ScanError> {
    let mut tree = Tree::default();
    for (index, layer) in layers.into_iter().enumerate() {
        tree.apply_layer(index, layer)?;
    }
    Ok(from_tree(&tree))
}

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

fn from_tree(tree: &Tree) -> Inventory {
    let alpine_release = || {
        tree.read("etc/alpine-release")
            .and_then(|d| os_release::from_alpine_release(&text(d)))
    };
    let mut os = tree
        .read("etc/os-release")
        .or_else(|| tree.read("usr/lib/os-release"))
        .map(|d| os_release::parse(&text(d)));
    match &mut os {
        Some(os) if os.id == "alpine" && os.version_id.is_empty() => {
            if let Some(release) = alpine_release() {
                os.version_id = release.version_id;
            }
        }
        Some(_) => {}
        None => os = alpine_release(),
    }

    let mut packages = Vec::new();
    if let Some(status) = tree.read(DPKG_STATUS) {
        packages.extend(dpkg::parse(&text(status), dpkg::Origin::StatusFile));
    }
    for (name, data) in tree.files_in(DPKG_STATUS_DIR) {
        // Newer distroless images keep each package's md5sums beside it.
        if name.ends_with(".md5sums") {
            continue;
        }
        packages.extend(dpkg::parse(&text(data), dpkg::Origin::StatusDir));
    }
    if let Some(installed) = tree.read(APK_INSTALLED) {
        packages.extend(apk::parse(&text(installed)));
    }
    packages.sort_by(|a, b| {
        (&a.name, &a.arch, &a.version, &a.source_name).cmp(&(
            &b.name,
            &b.arch,
            &b.version,
            &b.source_name,
        ))
    });
    packages.dedup();
    Inventory { os, packages }
}
