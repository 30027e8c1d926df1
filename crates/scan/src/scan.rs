//! Matching an inventory against a feed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::inventory::{Family, Inventory, Package, PackageManager};
use crate::osv::{Affected, Feed};
use crate::severity::Severity;

/// One vulnerability in one installed package, in the terms of ECR's
/// `ImageScanFinding`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The OSV id (`DEBIAN-CVE-2024-1234`, `DSA-5678-1`, `ALPINE-CVE-...`);
    /// CVE ids and others it is known by are in `aliases`.
    pub name: String,
    pub aliases: Vec<String>,
    pub description: Option<String>,
    pub uri: String,
    pub severity: Severity,
    /// The installed binary package.
    pub package_name: String,
    pub package_version: String,
    /// The first fixed version above the installed one, when a fix exists.
    pub fixed_version: Option<String>,
    pub cvss3_score: Option<f64>,
    pub cvss3_vector: Option<String>,
}

/// The severity of a match, from the most to the least specific source:
/// the package's urgency in its distribution, the entry's own severity
/// word, a distribution priority, then the CVSS v3 base score.
fn severity(a: &Affected, feed: &Feed) -> Severity {
    let v = feed.vuln(a);
    a.severity_word
        .or(v.severity_word)
        .or(a.priority)
        .or(v.priority)
        .or_else(|| {
            a.cvss3
                .as_ref()
                .or(v.cvss3.as_ref())
                .map(|c| Severity::from_cvss_score(c.score))
        })
        .unwrap_or(Severity::Undefined)
}

fn finding(pkg: &Package, a: &Affected, fixed: Option<String>, feed: &Feed) -> Finding {
    let v = feed.vuln(a);
    let cvss = a.cvss3.as_ref().or(v.cvss3.as_ref());
    Finding {
        name: v.id.clone(),
        aliases: v.aliases.clone(),
        description: v.description.clone(),
        uri: v.uri.clone(),
        severity: severity(a, feed),
        package_name: pkg.name.clone(),
        package_version: pkg.version.clone(),
        fixed_version: fixed,
        cvss3_score: cvss.map(|c| c.score),
        cvss3_vector: cvss.map(|c| c.vector.clone()),
    }
}

/// Finds the feed's vulnerabilities in the inventory's OS packages,
/// sorted most severe first, then by id and package. A vulnerability is
/// reported once per installed package and version, however many
/// entries of the feed name it.
///
/// Distributions publish advisories per source package, so a binary
/// package is looked up by its source name (dpkg `Source`, apk origin)
/// and, for dpkg, compared at its source version.
pub fn scan(inv: &Inventory, feed: &Feed) -> Vec<Finding> {
    let Some((family, release)) = inv.os.as_ref().and_then(|os| os.family_release()) else {
        return Vec::new();
    };
    let mut found: BTreeMap<(String, String, String), Finding> = BTreeMap::new();
    for pkg in inv
        .packages
        .iter()
        .filter(|p| p.manager == family.manager())
    {
        let source = pkg.source_name.as_deref().unwrap_or(&pkg.name);
        let version = match (family, pkg.manager) {
            (Family::Debian | Family::Ubuntu, PackageManager::Dpkg) => {
                pkg.source_version.as_deref().unwrap_or(&pkg.version)
            }
            _ => &pkg.version,
        };
        for a in feed.candidates(family, source) {
            if !a.covers(&release) {
                continue;
            }
            let Some(fixed) = a.evaluate(version) else {
                continue;
            };
            let f = finding(pkg, a, fixed, feed);
            let key = (
                f.name.clone(),
                f.package_name.clone(),
                f.package_version.clone(),
            );
            match found.get_mut(&key) {
                None => {
                    found.insert(key, f);
                }
                Some(existing) => merge(existing, f),
            }
        }
    }
    let mut findings: Vec<Finding> = found.into_values().collect();
    findings.sort_by(|a, b| {
        (a.severity, &a.name, &a.package_name, &a.package_version).cmp(&(
            b.severity,
            &b.name,
            &b.package_name,
            &b.package_version,
        ))
    });
    findings
}

/// Two entries matched the same package (a release-specific one and an
/// all-releases one, say): keep the graver severity and any known fix.
fn merge(existing: &mut Finding, other: Finding) {
    if other.severity < existing.severity {
        existing.severity = other.severity;
    }
    if existing.fixed_version.is_none() {
        existing.fixed_version = other.fixed_version;
    }
    if existing.cvss3_score.is_none() {
        existing.cvss3_score = other.cvss3_score;
        existing.cvss3_vector = other.cvss3_vector;
    }
}

/// How many findings there are of each severity, keyed as ECR spells
/// them in `findingSeverityCounts`; severities without findings are
/// left out, as ECR does.
pub fn severity_counts(findings: &[Finding]) -> BTreeMap<&'static str, u32> {
    let mut counts = BTreeMap::new();
    for f in findings {
        *counts.entry(f.severity.as_str()).or_insert(0) += 1;
    }
    counts
}
