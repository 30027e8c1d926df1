//! End to end: layers in, findings out.

use serde_json::json;

use crate::fixtures::{Entry, alpine_base, debian_base, gzip, tar, zstd};
use crate::{Feed, Finding, Inventory, OsRelease, Severity, inventory, scan, severity_counts};

fn feed(v: serde_json::Value) -> Feed {
    Feed::parse(v.to_string().as_bytes()).expect("valid feed")
}

fn summary(findings: &[Finding]) -> Vec<(Severity, &str, &str, Option<&str>)> {
    findings
        .iter()
        .map(|f| {
            (
                f.severity,
                f.name.as_str(),
                f.package_name.as_str(),
                f.fixed_version.as_deref(),
            )
        })
        .collect()
}

fn debian_feed() -> Feed {
    let long_details = "x".repeat(1500);
    feed(json!([
        {
            "id": "DEBIAN-CVE-2023-4911",
            "aliases": ["CVE-2023-4911"],
            "summary": "  Looney Tunables  ",
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}],
            "references": [
                {"type": "REPORT", "url": "https://example.com/report"},
                {"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/CVE-2023-4911"}
            ],
            "affected": [
                {
                    "package": {"ecosystem": "Debian:12", "name": "glibc"},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u4"}]}],
                    "ecosystem_specific": {"urgency": "not yet assigned"}
                },
                {
                    "package": {"ecosystem": "Debian", "name": "glibc"},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]
                },
                {
                    "package": {"ecosystem": "Debian:11", "name": "glibc"},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
                    "ecosystem_specific": {"urgency": "critical"}
                }
            ]
        },
        {
            "id": "DEBIAN-CVE-2024-0001",
            "database_specific": {"severity": "MODERATE"},
            "affected": [{
                "package": {"ecosystem": "Debian:12", "name": "openssl"},
                "versions": ["3.0.11-1~deb12u2"]
            }]
        },
        {
            "id": "DEBIAN-CVE-2024-0002",
            "database_specific": {"severity": "HIGH"},
            "affected": [{
                "package": {"ecosystem": "Debian", "name": "bash"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
                "ecosystem_specific": {"urgency": "unimportant"}
            }]
        },
        {
            "id": "DEBIAN-CVE-2022-3715",
            "details": long_details,
            "affected": [{
                "package": {"ecosystem": "Debian:12", "name": "bash"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "5.2.15-3"}]}]
            }]
        },
        {
            "id": "DEBIAN-CVE-2024-0003",
            "affected": [{
                "package": {"ecosystem": "Debian:12", "name": "libc6"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]
            }]
        },
        {
            "id": "ALPINE-CVE-2024-0004",
            "affected": [{
                "package": {"ecosystem": "Alpine:v3.18", "name": "bash"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]
            }]
        }
    ]))
}

#[test]
fn debian_image() {
    let delete_nothing = tar(&[Entry::File("./tmp/.wh.cache", b"")]);
    let inv = inventory([gzip(&debian_base()), delete_nothing].map(std::io::Cursor::new))
        .expect("valid layers");
    let findings = scan(&inv, &debian_feed());
    use Severity::*;
    assert_eq!(
        summary(&findings),
        [
            (
                High,
                "DEBIAN-CVE-2023-4911",
                "libc6",
                Some("2.36-9+deb12u4")
            ),
            (Medium, "DEBIAN-CVE-2024-0001", "libssl3", None),
            (Medium, "DEBIAN-CVE-2024-0001", "openssl", None),
            (Informational, "DEBIAN-CVE-2024-0002", "bash", None),
            (Undefined, "DEBIAN-CVE-2022-3715", "bash", Some("5.2.15-3")),
        ]
    );
    let glibc = &findings[0];
    assert_eq!(glibc.aliases, ["CVE-2023-4911"]);
    assert_eq!(glibc.description.as_deref(), Some("Looney Tunables"));
    assert_eq!(
        glibc.uri,
        "https://security-tracker.debian.org/tracker/CVE-2023-4911"
    );
    assert_eq!(glibc.package_version, "2.36-9+deb12u3");
    assert_eq!(glibc.cvss3_score, Some(7.8));
    assert!(
        glibc
            .cvss3_vector
            .as_deref()
            .is_some_and(|v| v.starts_with("CVSS:3.1/"))
    );
    // The binary version is reported; the source version was compared.
    assert_eq!(findings[1].package_version, "3.0.11-1~deb12u2+b1");
    let bash = &findings[4];
    assert_eq!(
        bash.uri,
        "https://osv.dev/vulnerability/DEBIAN-CVE-2022-3715"
    );
    assert_eq!(bash.description.as_ref().map(String::len), Some(1000));

    let counts = severity_counts(&findings);
    let expected: Vec<(&str, u32)> = vec![
        ("HIGH", 1),
        ("INFORMATIONAL", 1),
        ("MEDIUM", 2),
        ("UNDEFINED", 1),
    ];
    assert_eq!(counts.into_iter().collect::<Vec<_>>(), expected);
}

#[test]
fn alpine_image() {
    let feed = feed(json!([
        {
            "id": "ALPINE-CVE-2023-5363",
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
            "affected": [{
                "package": {"ecosystem": "Alpine:v3.18", "name": "openssl"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.1.4-r0"}]}]
            }]
        },
        {
            "id": "ALPINE-CVE-2023-0001",
            "affected": [{
                "package": {"ecosystem": "Alpine:v3.17", "name": "busybox"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]
            }]
        },
        {
            "id": "ALPINE-CVE-2023-0002",
            "affected": [{
                "package": {"ecosystem": "Alpine:v3.18", "name": "musl"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2.4-r2"}]}]
            }]
        },
        {
            "id": "DEBIAN-CVE-2023-5363",
            "affected": [{
                "package": {"ecosystem": "Debian:12", "name": "openssl"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]
            }]
        }
    ]));
    let inv = inventory([zstd(&alpine_base())].map(std::io::Cursor::new)).expect("valid layers");
    let findings = scan(&inv, &feed);
    assert_eq!(
        summary(&findings),
        [
            (
                Severity::High,
                "ALPINE-CVE-2023-5363",
                "libcrypto3",
                Some("3.1.4-r0")
            ),
            (
                Severity::High,
                "ALPINE-CVE-2023-5363",
                "libssl3",
                Some("3.1.4-r0")
            ),
        ]
    );
    assert_eq!(findings[0].cvss3_score, Some(7.5));

    // Upgrading openssl in a later layer clears the findings.
    let upgraded =
        String::from_utf8_lossy(crate::fixtures::APK_INSTALLED).replace("3.1.3-r0", "3.1.4-r0");
    let layer = tar(&[Entry::File("lib/apk/db/installed", upgraded.as_bytes())]);
    let inv = inventory([alpine_base(), layer].map(std::io::Cursor::new)).expect("valid layers");
    assert!(scan(&inv, &feed).is_empty());
}

#[test]
fn ubuntu_priority_comes_before_cvss() {
    let inv = Inventory {
        os: Some(OsRelease {
            id: "ubuntu".into(),
            version_id: "22.04".into(),
            pretty_name: None,
        }),
        packages: vec![crate::Package {
            name: "libcurl4".into(),
            version: "7.81.0-1ubuntu1.14".into(),
            source_name: Some("curl".into()),
            source_version: None,
            arch: Some("amd64".into()),
            manager: crate::PackageManager::Dpkg,
        }],
    };
    let feed = feed(json!({"vulns": [{
        "id": "UBUNTU-CVE-2023-38545",
        "severity": [
            {"type": "Ubuntu", "score": "medium"},
            {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
        ],
        "affected": [
            {
                "package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "curl"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "7.81.0-1ubuntu1.15"}]}]
            },
            {
                "package": {"ecosystem": "Ubuntu:Pro:18.04:LTS", "name": "curl"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]
            }
        ]
    }]}));
    let findings = scan(&inv, &feed);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].severity, Severity::Medium);
    assert_eq!(findings[0].cvss3_score, Some(9.8));
    assert_eq!(
        findings[0].fixed_version.as_deref(),
        Some("7.81.0-1ubuntu1.15")
    );
}

#[test]
fn nothing_to_match_without_a_known_os() {
    let mut inv = inventory([debian_base()].map(std::io::Cursor::new)).expect("valid layers");
    inv.os = Some(OsRelease {
        id: "fedora".into(),
        version_id: "39".into(),
        pretty_name: None,
    });
    assert!(!inv.is_supported());
    assert!(scan(&inv, &debian_feed()).is_empty());
    inv.os = None;
    assert!(scan(&inv, &debian_feed()).is_empty());
}

#[test]
fn findings_serialize_for_storage() {
    let inv = inventory([debian_base()].map(std::io::Cursor::new)).expect("valid layers");
    let findings = scan(&inv, &debian_feed());
    let text = serde_json::to_string(&findings).expect("serializes");
    assert!(text.contains("\"severity\":\"HIGH\""), "{text}");
    let back: Vec<Finding> = serde_json::from_str(&text).expect("round trips");
    assert_eq!(back, findings);
}
