//! Every endpoint of the Distribution Spec, driven over HTTP with raw
//! requests against a registry served by hyper on a random local port.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
mod common;

use bytes::Bytes;
use common::{HttpClient, Server, chunked, descriptor, image, raw};
use dockyard_image::Digest;
use http::{Method, StatusCode};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_and_pull_of_a_pushed_image() {
    let s = Server::start().await;
    let c = HttpClient::new(&s);

    let r = c.get("/v2/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), serde_json::json!({}));
    assert_eq!(
        r.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
    assert_eq!(c.head("/v2/").await.status, StatusCode::OK);

    let (m, config, layer) = image("1");
    let cd = c.push_blob("team/app", &config).await;
    let ld = c.push_blob("team/app", &layer).await;

    let r = c.head(&format!("/v2/team/app/blobs/{ld}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-length"),
        Some(layer.len().to_string().as_str())
    );
    assert_eq!(r.header("docker-content-digest"), Some(ld.as_str()));
    assert!(r.body.is_empty());

    let r = c.get(&format!("/v2/team/app/blobs/{cd}")).await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &config[..]));
    assert_eq!(r.header("docker-content-digest"), Some(cd.as_str()));

    // Ranges.
    let ranged = |range: &'static str| {
        let c = &c;
        let path = format!("/v2/team/app/blobs/{ld}");
        async move {
            c.send(Method::GET, &path, &[("range", range)], Bytes::new())
                .await
        }
    };
    let r = ranged("bytes=1-3").await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.body[..], &layer[1..4]);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 1-3/{}", layer.len()).as_str())
    );
    let r = ranged("bytes=-2").await;
    assert_eq!(&r.body[..], &layer[layer.len() - 2..]);
    let r = ranged("bytes=1000-").await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes */{}", layer.len()).as_str())
    );

    let r = c.put_manifest("team/app", "v1", OCI_MANIFEST, &m).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let md = Digest::of(&m);
    assert_eq!(r.header("docker-content-digest"), Some(md.as_str()));
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/team/app/manifests/{md}").as_str())
    );
    assert_eq!(r.header("oci-subject"), None);

    for reference in ["v1".to_owned(), md.to_string()] {
        let path = format!("/v2/team/app/manifests/{reference}");
        let r = c
            .send(
                Method::GET,
                &path,
                &[("accept", OCI_MANIFEST)],
                Bytes::new(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(&r.body[..], &m[..], "byte for byte");
        assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
        assert_eq!(r.header("docker-content-digest"), Some(md.as_str()));
        let h = c.head(&path).await;
        assert_eq!(h.status, StatusCode::OK);
        assert_eq!(
            h.header("content-length"),
            Some(m.len().to_string().as_str())
        );
        assert_eq!(h.header("docker-content-digest"), Some(md.as_str()));
    }
    // Content negotiation: a client that only takes Docker types.
    let r = c
        .send(
            Method::GET,
            "/v2/team/app/manifests/v1",
            &[("accept", DOCKER_MANIFEST)],
            Bytes::new(),
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN")
    );

    // Push by digest with tags in the query.
    let r = c
        .put_manifest("team/app", &format!("{md}?tag=a&tag=b"), OCI_MANIFEST, &m)
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let tags: Vec<_> = r
        .headers
        .get_all("oci-tag")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(tags, ["a", "b"]);
    let r = c.get("/v2/team/app/tags/list").await;
    assert_eq!(
        r.json(),
        serde_json::json!({"name": "team/app", "tags": ["a", "b", "v1"]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_in_every_form() {
    let s = Server::start().await;
    let c = HttpClient::new(&s);

    // POST then PUT.
    let r = c
        .send(Method::POST, "/v2/a/blobs/uploads/", &[], Bytes::new())
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.header("range"), Some("0-0"));
    let loc = r.header("location").unwrap().to_owned();
    assert!(loc.starts_with("/v2/a/blobs/uploads/"), "{loc}");
    assert!(r.header("docker-upload-uuid").is_some());
    let data = b"monolithic put".to_vec();
    let d = Digest::of(&data);
    let r = c
        .send(Method::PUT, &format!("{loc}?digest={d}"), &[], data.clone())
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/a/blobs/{d}").as_str())
    );
    assert_eq!(c.get(&format!("/v2/a/blobs/{d}")).await.body, data);

    // Chunked with Content-Range, out of order, status, last chunk in PUT.
    let loc = c
        .send(
            Method::POST,
            "/v2/a/blobs/uploads/",
            &[("content-length", "0")],
            Bytes::new(),
        )
        .await
        .header("location")
        .unwrap()
        .to_owned();
    let patch = |range: &'static str, body: &'static [u8]| {
        let (c, loc) = (&c, loc.clone());
        async move {
            c.send(Method::PATCH, &loc, &[("content-range", range)], body)
                .await
        }
    };
    let r = patch("0-4", b"hello").await;
    assert_eq!(
        (r.status, r.header("range")),
        (StatusCode::ACCEPTED, Some("0-4"))
    );
    let r = patch("10-14", b"xxxxx").await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.header("range"), Some("0-4"));
    assert_eq!(r.header("location"), Some(loc.as_str()));
    assert_eq!(r.code(), "BLOB_UPLOAD_INVALID");
    let r = patch("five-nine", b"xxxxx").await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    let r = c.get(&loc).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        (r.header("range"), r.header("location")),
        (Some("0-4"), Some(loc.as_str()))
    );
    let r = patch("5-10", b" world").await;
    assert_eq!(r.header("range"), Some("0-10"));
    let whole = b"hello world!!".to_vec();
    let d = Digest::of(&whole);
    let r = c
        .send(
            Method::PUT,
            &format!("{loc}?digest={d}"),
            &[("content-range", "11-12")],
            b"!!".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(c.get(&format!("/v2/a/blobs/{d}")).await.body, whole);
    assert_eq!(c.get(&loc).await.code(), "BLOB_UPLOAD_UNKNOWN");

    // Streamed PATCH without Content-Range, chunked transfer encoding.
    let loc = c
        .send(Method::POST, "/v2/a/blobs/uploads/", &[], Bytes::new())
        .await
        .header("location")
        .unwrap()
        .to_owned();
    let parts: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; 10_000]).collect();
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let mut req = format!(
        "PATCH {loc} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    req.extend(chunked(&refs));
    let resp = raw(s.addr, &req, false).await;
    assert!(resp.starts_with("HTTP/1.1 202"), "{resp}");
    assert!(resp.to_lowercase().contains("range: 0-499999"), "{resp}");
    let all = parts.concat();
    let d = Digest::of(&all);
    let r = c
        .send(Method::PUT, &format!("{loc}?digest={d}"), &[], Bytes::new())
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let got = c.get(&format!("/v2/a/blobs/{d}")).await;
    assert_eq!(got.header("content-length"), Some("500000"));
    assert_eq!(Digest::of(&got.body), d);

    // Cancel.
    let loc = c
        .send(Method::POST, "/v2/a/blobs/uploads/", &[], Bytes::new())
        .await
        .header("location")
        .unwrap()
        .to_owned();
    patch_raw(&c, &loc, b"abc").await;
    let r = c.send(Method::DELETE, &loc, &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = c.get(&loc).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN")
    );
    let r = c.send(Method::DELETE, &loc, &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn patch_raw(c: &HttpClient, loc: &str, body: &'static [u8]) {
    let r = c.send(Method::PATCH, loc, &[], body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_blob_streams_both_ways() {
    let s = Server::start().await;
    let c = HttpClient::new(&s);
    let mut data = Vec::with_capacity(24 << 20);
    let mut x: u32 = 1;
    while data.len() < 24 << 20 {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        data.extend_from_slice(&x.to_le_bytes());
    }
    let d = Digest::of(&data);
    let loc = c
        .send(Method::POST, "/v2/big/blobs/uploads/", &[], Bytes::new())
        .await
        .header("location")
        .unwrap()
        .to_owned();
    let third = data.len() / 3;
    for (i, chunk) in data.chunks(third).enumerate() {
        let start = i * third;
        let range = format!("{}-{}", start, start + chunk.len() - 1);
        let r = c
            .send(
                Method::PATCH,
                &loc,
                &[("content-range", &range)],
                chunk.to_vec(),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{range}");
    }
    let r = c
        .send(Method::PUT, &format!("{loc}?digest={d}"), &[], Bytes::new())
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let got = c.get(&format!("/v2/big/blobs/{d}")).await;
    assert_eq!(got.body.len(), data.len());
    assert_eq!(Digest::of(&got.body), d);
    let tail = c
        .send(
            Method::GET,
            &format!("/v2/big/blobs/{d}"),
            &[("range", "bytes=20000000-")],
            Bytes::new(),
        )
        .await;
    assert_eq!(&tail.body[..], &data[20_000_000..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_repository_mount() {
    let s = Server::start().await;
    let c = HttpClient::new(&s);
    let d = c.push_blob("src", b"shared layer").await;
    let r = c
        .send(
            Method::POST,
            &format!("/v2/dst/blobs/uploads/?mount={d}&from=src"),
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/dst/blobs/{d}").as_str())
    );
    assert_eq!(r.header("docker-content-digest"), Some(d.as_str()));
    assert_eq!(
        c.head(&format!("/v2/dst/blobs/{d}")).await.status,
        StatusCode::OK
    );

    // Not in `from`, or nonsense arguments: an ordinary upload session.
    for q in [
        format!("mount={d}&from=elsewhere"),
        format!("mount={}&from=src", Digest::of(b"other")),
        "mount=sha256:nope&from=src".to_owned(),
        format!("mount={d}&from=NOT_A_NAME"),
    ] {
        let r = c
            .send(
                Method::POST,
                &format!("/v2/third/blobs/uploads/?{q}"),
                &[],
                Bytes::new(),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{q}");
        assert!(
            r.header("location")
                .unwrap()
                .starts_with("/v2/third/blobs/uploads/")
        );
    }
    assert_eq!(
        c.head(&format!("/v2/third/blobs/{d}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_and_catalog_pages() {
    let s = Server::start().await;
    let c = HttpClient::new(&s);
    let (m, config, layer) = image("1");
    for repo in ["z", "team/a", "team/b"] {
        c.push_blob(repo, &config).await;
        c.push_blob(repo, &layer).await;
    }
    for t in ["v3", "v1", "latest", "v2"] {
        assert_eq!(
            c.put_manifest("team/a", t, OCI_MANIFEST, &m).await.status,
            StatusCode::CREATED
        );
    }
    let r = c.get("/v2/team/a/tags/list?n=2").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["latest", "v1"]));
    assert_eq!(
        r.header("link"),
        Some("</v2/team/a/tags/list?n=2&last=v1>; rel=\"next\"")
    );
    let r = c.get("/v2/team/a/tags/list?n=2&last=v1").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["v2", "v3"]));
    assert_eq!(r.header("link"), None);
    let r = c.get("/v2/team/a/tags/list?last=v2").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["v3"]));
    let r = c.get("/v2/team/a/tags/list?n=0").await;
    assert_eq!(
        (r.json()["tags"].clone(), r.header("link")),
        (serde_json::json!([]), None)
    );
    let r = c.get("/v2/team/b/tags/list").await;
    assert_eq!(r.json(), serde_json::json!({"name": "team/b", "tags": []}));
    let r = c.get("/v2/nope/tags/list").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "NAME_UNKNOWN")
    );
    let r = c.get("/v2/team/a/tags/list?n=many").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let r = c.get("/v2/_catalog").await;
    assert_eq!(
        r.json(),
        serde_json::json!({"repositories": ["team/a", "team/b", "z"]})
    );
    let r = c.get("/v2/_catalog?n=1&last=team/a").await;
    assert_eq!(r.json()["repositories"], serde_json::json!(["team/b"]));
    assert_eq!(
        r.header("link"),
        Some("</v2/_catalog?n=1&last=team%2Fb>; rel=\"next\"")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_api() {
    let s = Server::start().await;
    let c = HttpClient::new(&s);
    let (m, config, layer) = image("1");
    c.push_blob("a", &config).await;
    c.push_blob("a", &layer).await;
    assert_eq!(
        c.put_manifest("a", "v1", OCI_MANIFEST, &m).await.status,
        StatusCode::CREATED
    );
    let subject = Digest::of(&m);
    let empty = c.push_blob("a", b"{}").await;
    let sig = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [],
        "subject": descriptor(OCI_MANIFEST, &m),
        "annotations": {"org.example.signer": "me"},
    }))
    .unwrap();
    let sd = Digest::of(&sig);
    let r = c.put_manifest("a", sd.as_ref(), OCI_MANIFEST, &sig).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("oci-subject"), Some(subject.as_str()));

    let r = c.get(&format!("/v2/a/referrers/{subject}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some(OCI_INDEX));
    assert_eq!(r.header("oci-filters-applied"), None);
    assert_eq!(
        r.json(),
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{
                "mediaType": OCI_MANIFEST,
                "digest": sd,
                "size": sig.len(),
                "artifactType": "application/vnd.example.signature",
                "annotations": {"org.example.signer": "me"},
            }],
        })
    );
    let r = c
        .get(&format!(
            "/v2/a/referrers/{subject}?artifactType=application/vnd.example.sbom"
        ))
        .await;
    assert_eq!(r.header("oci-filters-applied"), Some("artifactType"));
    assert_eq!(r.json()["manifests"], serde_json::json!([]));
    let r = c
        .get(&format!(
            "/v2/a/referrers/{subject}?artifactType=application/vnd.example.signature"
        ))
        .await;
    assert_eq!(r.json()["manifests"].as_array().unwrap().len(), 1);
    let r = c
        .get(&format!("/v2/a/referrers/{}", Digest::of(b"no")))
        .await;
    assert_eq!(
        (r.status, r.json()["manifests"].clone()),
        (StatusCode::OK, serde_json::json!([]))
    );
    let r = c.get("/v2/a/referrers/sha256:short").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes() {
    let s = Server::start().await;
    let c = HttpClient::new(&s);
    let (m, config, layer) = image("1");
    let cd = c.push_blob("a", &config).await;
    c.push_blob("a", &layer).await;
    c.put_manifest("a", "v1", OCI_MANIFEST, &m).await;
    c.put_manifest("a", "v2", OCI_MANIFEST, &m).await;
    let md = Digest::of(&m);

    let del = |path: String| {
        let c = &c;
        async move { c.send(Method::DELETE, &path, &[], Bytes::new()).await }
    };
    assert_eq!(
        del("/v2/a/manifests/v1".into()).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        c.get("/v2/a/manifests/v1").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(c.get("/v2/a/manifests/v2").await.status, StatusCode::OK);
    assert_eq!(
        del(format!("/v2/a/manifests/{md}")).await.status,
        StatusCode::ACCEPTED
    );
    let r = c.get("/v2/a/manifests/v2").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN")
    );
    assert_eq!(
        c.get(&format!("/v2/a/manifests/{md}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        del(format!("/v2/a/manifests/{md}")).await.status,
        StatusCode::NOT_FOUND
    );

    assert_eq!(
        del(format!("/v2/a/blobs/{cd}")).await.status,
        StatusCode::ACCEPTED
    );
    let r = c.head(&format!("/v2/a/blobs/{cd}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = del(format!("/v2/a/blobs/{cd}")).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::NOT_FOUND, "BLOB_UNKNOWN")
    );
}
