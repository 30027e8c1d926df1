//! Bad input over HTTP: each gets the spec's error code and status, and
//! leaves nothing behind.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::{HttpClient, Server, image, raw};
use dockyard_image::Digest;
use dockyard_registry::auth::scope;
use dockyard_registry::{Action, AuthFailure, Challenge, RegistryAuth, RegistryConfig};
use http::{Method, StatusCode};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_names_references_and_routes() {
    let s = Server::start().await;
    let c = HttpClient::new(&s);
    let d = Digest::of(b"x");
    for path in [
        format!("/v2/Team/blobs/{d}"),
        "/v2/a__-b/tags/list".to_owned(),
        "/v2/a..b/manifests/v1".to_owned(),
        "/v2/a/b_/blobs/uploads/".to_owned(),
    ] {
        let method = if path.ends_with("uploads/") {
            Method::POST
        } else {
            Method::GET
        };
        let r = c.send(method, &path, &[], Bytes::new()).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (StatusCode::BAD_REQUEST, "NAME_INVALID"),
            "{path}"
        );
    }
    let r = c.get("/v2/a/manifests/-bad").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "MANIFEST_INVALID")
    );
    let r = c.get(&format!("/v2/a/manifests/{}", "t".repeat(129))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    for bad in [
        "sha256:abc",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "nothex",
    ] {
        let r = c.get(&format!("/v2/a/blobs/{bad}")).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (StatusCode::BAD_REQUEST, "DIGEST_INVALID"),
            "{bad}"
        );
    }
    let r = c.get(&format!("/v2/a/blobs/{d}")).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "BLOB_UNKNOWN")
    );
    assert_eq!(r.json()["errors"][0]["detail"]["digest"], d.as_str());
    let r = c.head(&format!("/v2/a/blobs/{d}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.is_empty());
    let r = c.get("/v2/a/manifests/v1").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "NAME_UNKNOWN")
    );
    let r = c
        .send(Method::PATCH, "/v2/a/manifests/v1", &[], Bytes::new())
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED")
    );
    let r = c.get("/v2/a/wat/x").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "UNSUPPORTED")
    );
    let r = c
        .get("/v2/a/blobs/uploads/0123456789abcdef0123456789abcdef")
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN")
    );
    let r = c.get("/v2/a/blobs/uploads/..%2F..%2Fetc").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_digests_and_sizes_store_nothing() {
    let s = Server::start().await;
    let c = HttpClient::new(&s);
    let data = b"the real content".to_vec();
    let real = Digest::of(&data);
    let claimed = Digest::of(b"something else");

    // Monolithic POST with the wrong digest.
    let r = c
        .send(
            Method::POST,
            &format!("/v2/a/blobs/uploads/?digest={claimed}"),
            &[],
            data.clone(),
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );
    let r = c
        .send(
            Method::POST,
            "/v2/a/blobs/uploads/?digest=sha256:zz",
            &[],
            data.clone(),
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );

    // Closing PUT with the wrong digest, then without any.
    let loc = c
        .send(Method::POST, "/v2/a/blobs/uploads/", &[], Bytes::new())
        .await
        .header("location")
        .unwrap()
        .to_owned();
    let r = c
        .send(
            Method::PUT,
            &format!("{loc}?digest={claimed}"),
            &[],
            data.clone(),
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );
    assert_eq!(
        c.get(&loc).await.status,
        StatusCode::NOT_FOUND,
        "session over"
    );
    let loc = c
        .send(Method::POST, "/v2/a/blobs/uploads/", &[], Bytes::new())
        .await
        .header("location")
        .unwrap()
        .to_owned();
    let r = c.send(Method::PUT, &loc, &[], data.clone()).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );
    // A chunk whose length disagrees with its range.
    let r = c
        .send(
            Method::PATCH,
            &loc,
            &[("content-range", "0-99")],
            data.clone(),
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID")
    );

    for d in [&real, &claimed] {
        assert_eq!(
            c.head(&format!("/v2/a/blobs/{d}")).await.status,
            StatusCode::NOT_FOUND
        );
    }
    assert!(
        s.registry.gc().unwrap().deleted.is_empty(),
        "no content was left behind"
    );
    assert_eq!(
        c.get("/v2/_catalog").await.json()["repositories"],
        serde_json::json!([])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_uploads_store_nothing() {
    let s = Server::start().await;
    let c = HttpClient::new(&s);
    let data = vec![7u8; 1000];
    let d = Digest::of(&data);
    // The client dies after half the body of a monolithic POST.
    let mut req = format!(
        "POST /v2/a/blobs/uploads/?digest={d} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1000\r\n\r\n"
    )
    .into_bytes();
    req.extend_from_slice(&data[..500]);
    raw(s.addr, &req, true).await;

    // And after half the last chunk of a session.
    let loc = c
        .send(Method::POST, "/v2/a/blobs/uploads/", &[], Bytes::new())
        .await
        .header("location")
        .unwrap()
        .to_owned();
    let mut req = format!(
        "PUT {loc}?digest={d} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1000\r\n\r\n"
    )
    .into_bytes();
    req.extend_from_slice(&data[..500]);
    raw(s.addr, &req, true).await;

    assert_eq!(
        c.head(&format!("/v2/a/blobs/{d}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(s.blobs().is_empty());
    // The session survives with what arrived; the client may resume it.
    let r = c.get(&loc).await;
    assert_eq!(
        (r.status, r.header("range")),
        (StatusCode::NO_CONTENT, Some("0-499"))
    );
    let r = c
        .send(
            Method::PUT,
            &format!("{loc}?digest={d}"),
            &[("content-range", "500-999")],
            data[500..].to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_manifests_store_nothing() {
    let config = RegistryConfig {
        max_manifest_size: 64 * 1024,
        ..Default::default()
    };
    let s = Server::start_with(Arc::new(dockyard_registry::AllowAll), config).await;
    let c = HttpClient::new(&s);
    let (m, cfg, layer) = image("1");
    c.push_blob("a", &cfg).await;

    // A layer the repository does not have.
    let r = c.put_manifest("a", "v1", OCI_MANIFEST, &m).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN")
    );
    assert_eq!(
        r.json()["errors"][0]["detail"]["digest"],
        Digest::of(&layer).as_str()
    );
    c.push_blob("a", &layer).await;

    // Too large, announced and streamed.
    let mut big: serde_json::Value = serde_json::from_slice(&m).unwrap();
    big["annotations"] = serde_json::json!({"pad": "x".repeat(70 * 1024)});
    let big = serde_json::to_vec(&big).unwrap();
    let r = c.put_manifest("a", "v1", OCI_MANIFEST, &big).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "MANIFEST_INVALID")
    );
    let mut req = format!(
        "PUT /v2/a/manifests/v1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {OCI_MANIFEST}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    req.extend(common::chunked(&big.chunks(8192).collect::<Vec<_>>()));
    let resp = raw(s.addr, &req, false).await;
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");

    let mut wrong_size: serde_json::Value = serde_json::from_slice(&m).unwrap();
    wrong_size["layers"][0]["size"] = 1.into();
    let wrong_size = serde_json::to_vec(&wrong_size).unwrap();
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "v1",
            "application/vnd.example.unknown+json",
            m.clone(),
            "MANIFEST_INVALID",
        ),
        (
            "v1",
            OCI_MANIFEST,
            b"{not json".to_vec(),
            "MANIFEST_INVALID",
        ),
        ("v1", OCI_MANIFEST, wrong_size, "MANIFEST_INVALID"),
        (
            "v1",
            OCI_MANIFEST,
            br#"{"schemaVersion":1,"name":"a","tag":"v1"}"#.to_vec(),
            "MANIFEST_INVALID",
        ),
    ];
    for (reference, ct, body, code) in cases {
        let r = c.put_manifest("a", reference, ct, &body).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (StatusCode::BAD_REQUEST, code),
            "{ct}"
        );
    }
    let other = Digest::of(b"not this manifest");
    let r = c.put_manifest("a", other.as_ref(), OCI_MANIFEST, &m).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );
    let r = c.put_manifest("a", "bad:tag", OCI_MANIFEST, &m).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    assert_eq!(
        c.get("/v2/a/tags/list").await.json()["tags"],
        serde_json::json!([])
    );
    assert_eq!(
        c.get(&format!("/v2/a/manifests/{}", Digest::of(&m)))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(s.blobs().len(), 2, "only the two blobs");
}

/// Readers may pull, writers may do anything, strangers get a challenge.
struct TokenAuth;

impl RegistryAuth for TokenAuth {
    fn authorize(
        &self,
        req: &http::request::Parts,
        repo: Option<&str>,
        action: Action,
    ) -> Result<(), AuthFailure> {
        match req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
        {
            Some("Bearer writer") => Ok(()),
            Some("Bearer reader") if action == Action::Pull => Ok(()),
            Some("Bearer reader") => Err(AuthFailure::Denied {
                message: format!("readers may not {}", action.as_str()),
            }),
            _ => Err(AuthFailure::Unauthorized {
                challenge: Challenge::Bearer {
                    realm: "http://127.0.0.1/token".into(),
                    service: "dockyard".into(),
                    scope: scope(repo, action),
                },
                message: "a token is needed".into(),
            }),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization() {
    let s = Server::start_with(Arc::new(TokenAuth), RegistryConfig::default()).await;
    let c = HttpClient::new(&s);
    let r = c.get("/v2/").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
    );
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer realm="http://127.0.0.1/token",service="dockyard""#)
    );
    let r = c.get("/v2/_catalog").await;
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .ends_with(r#"scope="registry:catalog:*""#)
    );
    let r = c
        .send(
            Method::POST,
            "/v2/team/app/blobs/uploads/",
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains(r#"scope="repository:team/app:push""#)
    );

    let writer = [("authorization", "Bearer writer")];
    let reader = [("authorization", "Bearer reader")];
    let data = b"secret layer".to_vec();
    let d = Digest::of(&data);
    let r = c
        .send(
            Method::POST,
            &format!("/v2/private/blobs/uploads/?digest={d}"),
            &writer,
            data.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = c
        .send(
            Method::GET,
            &format!("/v2/private/blobs/{d}"),
            &reader,
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = c
        .send(
            Method::DELETE,
            &format!("/v2/private/blobs/{d}"),
            &reader,
            Bytes::new(),
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::FORBIDDEN, "DENIED")
    );
    let r = c
        .send(Method::GET, "/v2/_catalog", &reader, Bytes::new())
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        c.head(&format!("/v2/private/blobs/{d}")).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// A mount needs read access to the source; without it, the client gets
/// an upload session and learns nothing about the source.
struct NoReadingFromPrivate;

impl RegistryAuth for NoReadingFromPrivate {
    fn authorize(
        &self,
        _: &http::request::Parts,
        repo: Option<&str>,
        action: Action,
    ) -> Result<(), AuthFailure> {
        if repo == Some("private") && action == Action::Pull {
            return Err(AuthFailure::Denied {
                message: "private".into(),
            });
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mounting_needs_read_access_to_the_source() {
    let s = Server::start_with(Arc::new(NoReadingFromPrivate), RegistryConfig::default()).await;
    let c = HttpClient::new(&s);
    let d = c.push_blob("private", b"secret").await;
    let r = c
        .send(
            Method::POST,
            &format!("/v2/mine/blobs/uploads/?mount={d}&from=private"),
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(
        c.head(&format!("/v2/mine/blobs/{d}")).await.status,
        StatusCode::NOT_FOUND
    );
}
