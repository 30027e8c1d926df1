//! AWS's published SigV4 test suite (the CRT suite, read from the
//! `aws-sigv4` dev-dependency's package in cargo's registry, not copied
//! into this repository): every signed request must verify, and must stop
//! verifying when its signature is altered.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::*;
use crate::identity::{Principal, Secret};

/// The non-S3 ("normalized") cases whose requests are valid HTTP on the
/// wire.
const CASES: &[&str] = &[
    "get-header-key-duplicate",
    "get-header-value-order",
    "get-header-value-trim",
    "get-relative-normalized",
    "get-relative-relative-normalized",
    "get-slash-dot-slash-normalized",
    "get-slash-normalized",
    "get-slash-pointless-dot-normalized",
    "get-slashes-normalized",
    "get-unreserved",
    "get-vanilla",
    "get-vanilla-empty-query-key",
    "get-vanilla-query",
    "get-vanilla-query-order-encoded",
    "get-vanilla-query-order-key-case",
    "get-vanilla-query-unreserved",
    "get-vanilla-with-session-token",
    "post-header-key-case",
    "post-header-key-sort",
    "post-header-value-case",
    "post-sts-header-after",
    "post-sts-header-before",
    "post-vanilla",
    "post-vanilla-empty-query-value",
    "post-vanilla-query",
    "post-x-www-form-urlencoded",
    "post-x-www-form-urlencoded-parameters",
];

/// `aws-signing-test-suite/v4` inside the `aws-sigv4` package that cargo
/// downloaded for the dev-dependency.
fn suite_dir() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&std::env::var_os("HOME").unwrap()).join(".cargo"));
    let src = home.join("registry/src");
    for index in std::fs::read_dir(&src).unwrap().flatten() {
        let mut pkgs: Vec<PathBuf> = std::fs::read_dir(index.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("aws-sigv4-"))
            })
            .collect();
        pkgs.sort();
        if let Some(p) = pkgs.last() {
            let dir = p.join("aws-signing-test-suite/v4");
            if dir.is_dir() {
                return dir;
            }
        }
    }
    panic!(
        "the aws-sigv4 package (a dev-dependency) is not in {}",
        src.display()
    );
}

struct Context {
    creds: HashMap<String, Secret>,
    now: DateTime<Utc>,
    region: String,
    service: String,
}

fn context(dir: &Path) -> Context {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("context.json")).unwrap()).unwrap();
    let c = &v["credentials"];
    let mut creds = HashMap::new();
    creds.insert(
        c["access_key_id"].as_str().unwrap().to_string(),
        Secret {
            secret_access_key: c["secret_access_key"].as_str().unwrap().to_string(),
            session_token: c["token"].as_str().map(str::to_string),
            expires: None,
            principal: Principal::root("000000000000"),
        },
    );
    Context {
        creds,
        now: v["timestamp"].as_str().unwrap().parse().unwrap(),
        region: v["region"].as_str().unwrap().to_string(),
        service: v["service"].as_str().unwrap().to_string(),
    }
}

/// Parses the suite's raw HTTP/1.1 request files.
fn parse_request(text: &str) -> http::Request<Bytes> {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let request_line = request_line
        .strip_suffix(" HTTP/1.1")
        .unwrap_or(request_line);
    let (method, target) = request_line.split_once(' ').unwrap();
    let mut builder = http::Request::builder().method(method).uri(target);
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').unwrap();
        builder = builder.header(name, value);
    }
    builder.body(Bytes::from(body.to_string())).unwrap()
}

fn cases() -> Vec<PathBuf> {
    let dir = suite_dir();
    CASES.iter().map(|c| dir.join(c)).collect()
}

fn flip_signature(req: &mut http::Request<Bytes>) {
    let flip = |s: &str| {
        let (head, sig) = s.rsplit_once("Signature=").unwrap();
        let mut sig = sig.to_string();
        let last = sig.pop().unwrap();
        let rest = sig.split_off(64.min(sig.len()));
        sig.push(if last == '0' { '1' } else { '0' });
        format!("{head}Signature={sig}{rest}")
    };
    if let Some(auth) = req.headers().get("authorization") {
        let value = flip(auth.to_str().unwrap());
        req.headers_mut()
            .insert("authorization", value.parse().unwrap());
    } else {
        let pq = req.uri().path_and_query().unwrap().as_str().to_string();
        *req.uri_mut() = flip(&pq).parse().unwrap();
    }
}

fn run(file: &str, skip: &[&str]) {
    let mut ran = 0;
    for dir in cases() {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        if skip.contains(&name.as_str()) {
            continue;
        }
        let ctx = context(&dir);
        let mut req = parse_request(&std::fs::read_to_string(dir.join(file)).unwrap());
        let result = verify(
            RequestView::from(&req),
            Payload::Bytes(req.body()),
            &ctx.creds,
            ctx.now,
        );
        let v = result.unwrap_or_else(|e| panic!("{name}/{file}: {e}"));
        assert_eq!(v.region, ctx.region, "{name}");
        assert_eq!(v.service, ctx.service, "{name}");

        flip_signature(&mut req);
        let err = verify(
            RequestView::from(&req),
            Payload::Bytes(req.body()),
            &ctx.creds,
            ctx.now,
        )
        .unwrap_err();
        assert_eq!(
            err.kind(),
            AuthErrorKind::SignatureMismatch,
            "{name}/{file}"
        );
        ran += 1;
    }
    assert!(ran >= 20);
}

#[test]
fn header_signed_vectors_verify() {
    run("header-signed-request.txt", &[]);
}

#[test]
fn presigned_vectors_verify() {
    // That case signs without the token and adds it afterwards, which only
    // some services (not ours) accept for presigned URLs.
    run("query-signed-request.txt", &["post-sts-header-after"]);
}

#[test]
fn get_vanilla_signature_is_the_published_one() {
    let text =
        std::fs::read_to_string(suite_dir().join("get-vanilla/header-signed-request.txt")).unwrap();
    assert!(
        text.contains("Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    );
    let req = parse_request(&text);
    let ctx = context(&suite_dir().join("get-vanilla"));
    verify(
        RequestView::from(&req),
        Payload::Bytes(b""),
        &ctx.creds,
        ctx.now,
    )
    .unwrap();
}
