//! Image vulnerability scanning, the way ECR's "basic scanning" does it:
//! read the OS package database from an image's layers ([`inventory`]),
//! then match the packages against an OSV-format vulnerability feed
//! ([`Feed`], [`scan`]).
//!
//! No I/O beyond reading what the caller hands in: layers arrive as
//! readers, the feed as bytes; there is no clock and no network.
//!
//! Supported: Debian and Ubuntu (dpkg, including distroless `status.d`)
//! and Alpine (apk), matched against OSV's `Debian:<major>`,
//! `Ubuntu:<YY.MM>[:LTS]` and `Alpine:v<major.minor>` ecosystems.

mod cvss;
mod db;
mod error;
#[cfg(test)]
mod fixtures;
mod inventory;
mod layers;
mod osv;
mod scan;
mod severity;
mod version;

pub use cvss::base_score as cvss3_base_score;
pub use error::ScanError;
pub use inventory::{Inventory, OsRelease, Package, PackageManager, inventory};
pub use osv::Feed;
pub use scan::{Finding, scan, severity_counts};
pub use severity::Severity;
pub use version::apk::compare as compare_apk_versions;
pub use version::dpkg::compare as compare_dpkg_versions;

#[cfg(test)]
mod tests;
