use serde_json::json;

use super::*;
use crate::ScanError;

fn entry(id: &str, ecosystem: &str, name: &str, events: serde_json::Value) -> serde_json::Value {
    json!({
        "id": id,
        "modified": "2024-03-01T10:00:00Z",
        "affected": [{
            "package": {"ecosystem": ecosystem, "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": events}]
        }]
    })
}

fn parse(v: &serde_json::Value) -> Feed {
    Feed::parse(v.to_string().as_bytes()).expect("valid feed")
}

fn only_affected(feed: &Feed, family: Family, name: &str) -> Affected {
    let mut all = feed.candidates(family, name);
    let a = all.next().expect("one affected entry").clone();
    assert!(all.next().is_none());
    a
}

fn feed_error(bytes: &[u8]) -> (String, String) {
    match Feed::parse(bytes) {
        Err(ScanError::Feed { location, reason }) => (location, reason),
        other => panic!("expected a feed error, got {other:?}"),
    }
}

#[test]
fn accepted_shapes() {
    let a = entry("DSA-1", "Debian:12", "glibc", json!([{"introduced": "0"}]));
    let b = entry(
        "ALPINE-CVE-2",
        "Alpine:v3.18",
        "openssl",
        json!([{"introduced": "0"}]),
    );
    let array = json!([a, b]).to_string();
    let wrapper = json!({"vulns": [a, b]}).to_string();
    let lines = format!("{a}\n\n{b}\n");
    let pretty = serde_json::to_string_pretty(&a).expect("serializes");
    for (text, n) in [
        (array.as_str(), 2),
        (wrapper.as_str(), 2),
        (lines.as_str(), 2),
        (pretty.as_str(), 1),
        ("[]", 0),
        ("{}", 0),
        (" \n", 0),
    ] {
        let feed = Feed::parse(text.as_bytes()).expect(text);
        assert_eq!(feed.len(), n, "{text}");
        assert_eq!(feed.is_empty(), n == 0);
    }
    let feed = Feed::parse(array.as_bytes()).expect("valid");
    assert_eq!(
        feed.updated_at().map(|t| t.to_rfc3339()),
        Some("2024-03-01T10:00:00+00:00".into())
    );
}

#[test]
fn keeps_only_scanned_ecosystems_and_live_entries() {
    let npm = entry("GHSA-x", "npm", "lodash", json!([{"introduced": "0"}]));
    let mut withdrawn = entry("DSA-9", "Debian:12", "glibc", json!([{"introduced": "0"}]));
    withdrawn["withdrawn"] = json!("2024-01-01T00:00:00Z");
    let git_only = json!({
        "id": "OSV-1",
        "affected": [{
            "package": {"ecosystem": "Debian:12", "name": "zlib"},
            "ranges": [{"type": "GIT", "repo": "https://x", "events": [{"introduced": "abc"}]}]
        }]
    });
    let live = entry("DSA-10", "Debian", "glibc", json!([{"introduced": "0"}]));
    let feed = parse(&json!([npm, withdrawn, git_only, live]));
    assert_eq!(feed.len(), 1);
    assert_eq!(only_affected(&feed, Family::Debian, "glibc").release, None);
}

#[test]
fn errors_name_the_entry() {
    let good = entry("DSA-1", "Debian:12", "glibc", json!([{"introduced": "0"}]));
    let mut bad_type = good.clone();
    bad_type["id"] = json!("DSA-2");
    bad_type["aliases"] = json!(5);
    let (location, reason) = feed_error(json!([good, bad_type]).to_string().as_bytes());
    assert_eq!(location, "entry 1 (DSA-2)");
    assert!(reason.contains("line 1"), "{reason}");

    let bad_event = entry(
        "DSA-3",
        "Debian:12",
        "glibc",
        json!([{"introduced": "0", "fixed": "1"}]),
    );
    let (location, reason) = feed_error(json!([good, good, bad_event]).to_string().as_bytes());
    assert_eq!(location, "entry 2 (DSA-3)");
    assert!(reason.contains("exactly one"), "{reason}");

    let no_id = json!({"affected": []});
    let (location, _) = feed_error(json!([good, no_id]).to_string().as_bytes());
    assert_eq!(location, "entry 1");

    let lines = format!("{good}\n{good}\n{{\"id\": \"X-1\", \"severity\": 3}}\n");
    let (location, _) = feed_error(lines.as_bytes());
    assert_eq!(location, "line 3 (X-1)");

    let (location, _) = feed_error(json!({"vulns": [good, {"id": 7}]}).to_string().as_bytes());
    assert_eq!(location, "entry 1");

    let broken_tail = format!("[{good}, {{\"id\": \"B-1\", \"aliases\": 5}}, {{\"id\"");
    let (location, _) = feed_error(broken_tail.as_bytes());
    assert_eq!(location, "entry 1 (B-1)");

    let (location, _) = feed_error(b"[{\"id\": \"A\",");
    assert_eq!(location, "entry 0");
    let (location, _) = feed_error(b"not json");
    assert_eq!(location, "feed");
    let (location, _) = feed_error(b"\xff\xfe");
    assert_eq!(location, "feed");
    let (location, reason) = feed_error(br#"{"id": ""}"#);
    assert_eq!(location, "entry");
    assert!(reason.contains("empty"), "{reason}");
}

#[test]
fn fixed_boundary() {
    let feed = parse(&json!([entry(
        "DEBIAN-CVE-2023-4911",
        "Debian:12",
        "glibc",
        json!([{"introduced": "0"}, {"fixed": "2.36-9+deb12u3"}])
    )]));
    let a = only_affected(&feed, Family::Debian, "glibc");
    assert_eq!(
        a.evaluate("2.36-9+deb12u2"),
        Some(Some("2.36-9+deb12u3".into()))
    );
    assert_eq!(a.evaluate("2.36-9"), Some(Some("2.36-9+deb12u3".into())));
    assert_eq!(
        a.evaluate("2.36-9+deb12u3"),
        None,
        "the fixed version is not affected"
    );
    assert_eq!(a.evaluate("2.36-9+deb12u10"), None);
}

#[test]
fn introduced_is_inclusive_and_ranges_may_repeat() {
    // Events out of order on purpose: evaluation sorts them.
    let feed = parse(&json!([entry(
        "ALPINE-CVE-1",
        "Alpine:v3.18",
        "openssl",
        json!([
            {"introduced": "3.1.0-r0"}, {"fixed": "3.1.4-r0"},
            {"fixed": "1.1.1w-r0"}, {"introduced": "1.1.1a-r0"}
        ])
    )]));
    let a = only_affected(&feed, Family::Alpine, "openssl");
    let table = [
        ("1.0.2u-r0", None),
        ("1.1.1a-r0", Some(Some("1.1.1w-r0".to_string()))),
        ("1.1.1v-r0", Some(Some("1.1.1w-r0".to_string()))),
        ("1.1.1w-r0", None),
        ("3.0.12-r0", None),
        ("3.1.0-r0", Some(Some("3.1.4-r0".to_string()))),
        ("3.1.3-r1", Some(Some("3.1.4-r0".to_string()))),
        ("3.1.4-r0", None),
    ];
    for (v, expected) in table {
        assert_eq!(a.evaluate(v), expected, "{v}");
    }
}

#[test]
fn last_affected_is_inclusive() {
    let feed = parse(&json!([entry(
        "UBUNTU-CVE-1",
        "Ubuntu:22.04:LTS",
        "curl",
        json!([{"introduced": "7.80.0-1"}, {"last_affected": "7.81.0-1ubuntu1.15"}])
    )]));
    let a = only_affected(&feed, Family::Ubuntu, "curl");
    assert_eq!(a.evaluate("7.79.1-1"), None);
    assert_eq!(a.evaluate("7.80.0-1"), Some(None));
    assert_eq!(a.evaluate("7.81.0-1ubuntu1.15"), Some(None));
    assert_eq!(a.evaluate("7.81.0-1ubuntu1.16"), None);
}

#[test]
fn limits_and_unfixed() {
    let feed = parse(&json!([
        entry(
            "A-1",
            "Debian:12",
            "limited",
            json!([{"introduced": "0"}, {"limit": "2.0-1"}])
        ),
        entry(
            "A-2",
            "Debian:12",
            "star",
            json!([{"introduced": "1.0"}, {"limit": "*"}])
        ),
        entry("A-3", "Debian:12", "unfixed", json!([{"introduced": "0"}])),
    ]));
    let limited = only_affected(&feed, Family::Debian, "limited");
    assert_eq!(limited.evaluate("1.9-1"), Some(None));
    assert_eq!(limited.evaluate("2.0-1"), None);
    let star = only_affected(&feed, Family::Debian, "star");
    assert_eq!(star.evaluate("0.9"), None);
    assert_eq!(star.evaluate("99"), Some(None));
    let unfixed = only_affected(&feed, Family::Debian, "unfixed");
    assert_eq!(unfixed.evaluate("1:0.0~"), Some(None));
}

#[test]
fn explicit_versions() {
    let feed = parse(&json!([{
        "id": "ALPINE-CVE-3",
        "affected": [{
            "package": {"ecosystem": "Alpine:v3.18", "name": "busybox"},
            "versions": ["1.36.1-r5", "1.36.1-r6"]
        }]
    }]));
    let a = only_affected(&feed, Family::Alpine, "busybox");
    assert_eq!(a.evaluate("1.36.1-r5"), Some(None));
    assert_eq!(a.evaluate("1.36.1-r7"), None);
}

#[test]
fn release_coverage() {
    let feed = parse(&json!([
        entry("U-1", "Ubuntu:22.04:LTS", "a", json!([{"introduced": "0"}])),
        entry(
            "U-2",
            "Ubuntu:Pro:18.04:LTS",
            "b",
            json!([{"introduced": "0"}])
        ),
        entry("D-1", "Debian:12", "c", json!([{"introduced": "0"}])),
        entry("D-2", "Debian", "d", json!([{"introduced": "0"}])),
    ]));
    let lts = only_affected(&feed, Family::Ubuntu, "a");
    assert!(lts.covers("22.04"));
    assert!(!lts.covers("22.0"));
    assert!(!lts.covers("23.04"));
    assert!(!only_affected(&feed, Family::Ubuntu, "b").covers("18.04"));
    let d12 = only_affected(&feed, Family::Debian, "c");
    assert!(d12.covers("12"));
    assert!(!d12.covers("1"));
    assert!(!d12.covers(""));
    let all = only_affected(&feed, Family::Debian, "d");
    assert!(all.covers("11") && all.covers(""));
}

#[test]
fn merge_feeds() {
    let mut a = parse(&json!([entry(
        "D-1",
        "Debian:12",
        "c",
        json!([{"introduced": "0"}])
    )]));
    let b = parse(&json!([entry(
        "D-2",
        "Debian:12",
        "c",
        json!([{"introduced": "0"}])
    )]));
    a.merge(b);
    assert_eq!(a.len(), 2);
    let ids: Vec<&str> = a
        .candidates(Family::Debian, "c")
        .map(|x| a.vuln(x).id.as_str())
        .collect();
    assert_eq!(ids, ["D-1", "D-2"]);
}
