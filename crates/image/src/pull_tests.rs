//! Pulls against a tiny registry served from a thread of the test.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;

use super::*;
use crate::manifest::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use crate::testutil::{Fixture, raw_tar};

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn basic(user: &str, pass: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{pass}").as_bytes()))
}

#[derive(Clone)]
enum Auth {
    None,
    /// The exact `Authorization` header every request must carry.
    Basic(String),
    /// A token served at `/token` to requests carrying `creds`.
    Bearer {
        token: String,
        creds: String,
    },
}

struct Route {
    content_type: String,
    body: Vec<u8>,
    digest_header: bool,
}

struct Registry {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Registry {
    fn start(auth: Auth, routes: HashMap<String, Route>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let routes = Arc::new(routes);
        let (l2, s2) = (log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (routes, log, auth) = (routes.clone(), l2.clone(), auth.clone());
                std::thread::spawn(move || serve(conn, &routes, &log, &auth, addr));
            }
        });
        Self {
            addr,
            log,
            stop,
            thread: Some(thread),
        }
    }

    fn host(&self) -> String {
        self.addr.to_string()
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    mut conn: TcpStream,
    routes: &HashMap<String, Route>,
    log: &Mutex<Vec<String>>,
    auth: &Auth,
    addr: SocketAddr,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let target = first.next().unwrap_or_default().to_owned();
    let path = target.split('?').next().unwrap_or_default().to_owned();
    let authorization = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.trim().to_owned());
    log.lock().expect("log").push(format!("{method} {path}"));

    let unauthorized = |challenge: String| {
        let body =
            br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#.to_vec();
        (
            401,
            vec![
                ("WWW-Authenticate".to_owned(), challenge),
                ("Content-Type".into(), "application/json".into()),
            ],
            body,
        )
    };
    let (status, headers, body) = match auth {
        Auth::Basic(want) if authorization.as_deref() != Some(want) => {
            unauthorized(r#"Basic realm="test""#.into())
        }
        Auth::Bearer { token, creds } if path == "/token" => {
            if authorization.as_deref() == Some(creds) {
                (
                    200,
                    vec![("Content-Type".into(), "application/json".into())],
                    json!({"token": token}).to_string().into_bytes(),
                )
            } else {
                (401, vec![], b"{}".to_vec())
            }
        }
        Auth::Bearer { token, .. }
            if authorization.as_deref() != Some(&format!("Bearer {token}")) =>
        {
            unauthorized(format!(
                r#"Bearer realm="http://{addr}/token",service="test""#
            ))
        }
        _ if path == "/v2/" => (
            200,
            vec![("Content-Type".into(), "application/json".into())],
            b"{}".to_vec(),
        ),
        _ => match routes.get(&path) {
            Some(r) => {
                let mut h = vec![("Content-Type".to_owned(), r.content_type.clone())];
                if r.digest_header {
                    h.push((
                        "Docker-Content-Digest".into(),
                        Digest::of(&r.body).to_string(),
                    ));
                }
                (200, h, r.body.clone())
            }
            None => {
                let code = if path.contains("/manifests/") {
                    "MANIFEST_UNKNOWN"
                } else {
                    "BLOB_UNKNOWN"
                };
                let body = json!({"errors": [{"code": code, "message": "unknown"}]})
                    .to_string()
                    .into_bytes();
                (
                    404,
                    vec![("Content-Type".into(), "application/json".into())],
                    body,
                )
            }
        },
    };
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let _ = conn.write_all(out.as_bytes());
    if method != "HEAD" {
        let _ = conn.write_all(&body);
    }
}

/// A multi-platform image: an index with arm64, an attestation and
/// amd64; the amd64 image has a gzip, a zstd and an uncompressed layer.
struct TestImage {
    routes: HashMap<String, Route>,
    amd64: Digest,
    arm64: Digest,
    config: Digest,
    layers: Vec<Digest>,
}

fn test_image(repo: &str, docker_types: bool) -> TestImage {
    let raws = [
        raw_tar(&[("one", b"1")]),
        raw_tar(&[("two", b"2")]),
        raw_tar(&[("three", b"3")]),
    ];
    let gz = dockyard_testkit::layer_from_tar(raws[0].clone())
        .expect("gzip")
        .blob;
    let zst = zstd::encode_all(&raws[1][..], 3).expect("zstd");
    let plain = raws[2].clone();
    let (gz_type, plain_type) = if docker_types {
        (
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "application/vnd.docker.image.rootfs.diff.tar",
        )
    } else {
        (crate::manifest::OCI_LAYER_GZIP, crate::manifest::OCI_LAYER)
    };
    let blobs = [
        (gz, gz_type),
        (zst, crate::manifest::OCI_LAYER_ZSTD),
        (plain, plain_type),
    ];
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "created": "2024-05-06T07:08:09Z",
        "config": {"Entrypoint": ["/bin/app"], "ExposedPorts": {"8080/tcp": {}}},
        "rootfs": {"type": "layers", "diff_ids": raws.iter().map(|r| Digest::of(r).to_string()).collect::<Vec<_>>()},
    }))
    .expect("json");
    let (manifest_type, index_type) = if docker_types {
        (DOCKER_MANIFEST, DOCKER_MANIFEST_LIST)
    } else {
        (OCI_MANIFEST, OCI_INDEX)
    };
    let config_type = if docker_types {
        "application/vnd.docker.container.image.v1+json"
    } else {
        crate::manifest::OCI_CONFIG
    };
    let desc = |b: &[u8], t: &str| json!({"mediaType": t, "digest": Digest::of(b).to_string(), "size": b.len()});
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": manifest_type,
        "config": desc(&config, config_type),
        "layers": blobs.iter().map(|(b, t)| desc(b, t)).collect::<Vec<_>>(),
    }))
    .expect("json");
    let arm_config = b"{\"architecture\":\"arm64\"}".to_vec();
    let arm = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": manifest_type,
        "config": desc(&arm_config, config_type), "layers": [desc(b"arm layer", gz_type)],
    }))
    .expect("json");
    let entry = |b: &[u8], os: &str, arch: &str| {
        let mut d = desc(b, manifest_type);
        d["platform"] = json!({"os": os, "architecture": arch});
        d
    };
    let mut attestation = entry(b"attestation", "unknown", "unknown");
    attestation["annotations"] = json!({"vnd.docker.reference.type": "attestation-manifest"});
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": index_type,
        "manifests": [entry(&arm, "linux", "arm64"), attestation, entry(&manifest, "linux", "amd64")],
    }))
    .expect("json");

    let mut routes = HashMap::new();
    let mut put = |path: String, content_type: &str, body: Vec<u8>, digest_header: bool| {
        routes.insert(
            path,
            Route {
                content_type: content_type.into(),
                body,
                digest_header,
            },
        );
    };
    put(
        format!("/v2/{repo}/manifests/v1"),
        index_type,
        index.clone(),
        true,
    );
    for (b, t) in [
        (&index, index_type),
        (&manifest, manifest_type),
        (&arm, manifest_type),
    ] {
        put(
            format!("/v2/{repo}/manifests/{}", Digest::of(b)),
            t,
            b.clone(),
            true,
        );
    }
    put(
        format!("/v2/{repo}/blobs/{}", Digest::of(&config)),
        "application/octet-stream",
        config.clone(),
        false,
    );
    for (b, _) in &blobs {
        put(
            format!("/v2/{repo}/blobs/{}", Digest::of(b)),
            "application/octet-stream",
            b.clone(),
            false,
        );
    }
    TestImage {
        routes,
        amd64: Digest::of(&manifest),
        arm64: Digest::of(&arm),
        config: Digest::of(&config),
        layers: blobs.iter().map(|(b, _)| Digest::of(b)).collect(),
    }
}

fn assert_nothing_stored(f: &Fixture) {
    assert!(f.store.list().expect("list").is_empty());
    assert!(
        f.store.content().list().expect("blobs").is_empty(),
        "no blob stays"
    );
    let ingests = std::fs::read_dir(f.store.root().join("content/ingest"))
        .expect("ingest dir")
        .count();
    assert_eq!(ingests, 0, "no ingest stays");
    assert_eq!(f.snapshot_count(), 0);
}

#[test]
fn pulls_the_linux_amd64_image_of_an_index() {
    for docker_types in [false, true] {
        let img = test_image("team/app", docker_types);
        let reg = Registry::start(Auth::None, img.routes);
        let f = Fixture::new();
        let reference = format!("{}/team/app:v1", reg.host());
        let seen = RefCell::new(Vec::new());
        let rec = f
            .store
            .pull(&reference, RegistryAuth::Anonymous, &|e| {
                seen.borrow_mut().push(e)
            })
            .expect("pull");

        assert_eq!(rec.manifest_digest, img.amd64);
        assert_eq!(rec.id, img.config);
        assert_eq!(rec.references, vec![reference.clone()]);
        assert_eq!(rec.config.entrypoint, Some(vec!["/bin/app".to_owned()]));
        assert_eq!(rec.config.exposed_ports, vec!["8080/tcp"]);
        assert_eq!(rec.created.as_deref(), Some("2024-05-06T07:08:09Z"));
        assert_eq!(
            rec.layers
                .iter()
                .map(|l| l.digest.clone())
                .collect::<Vec<_>>(),
            img.layers
        );
        let dirs = f.store.rootfs_layers(&rec).expect("layers");
        assert_eq!(
            std::fs::read(dirs[0].join("three")).expect("plain layer"),
            b"3"
        );
        assert_eq!(
            std::fs::read(dirs[1].join("two")).expect("zstd layer"),
            b"2"
        );
        assert_eq!(
            std::fs::read(dirs[2].join("one")).expect("gzip layer"),
            b"1"
        );
        assert_eq!(f.store.resolve(&reference).expect("resolve").id, rec.id);

        let ev: Vec<PullEvent> = seen.borrow().clone();
        assert_eq!(
            ev[0],
            PullEvent::Resolved {
                reference: reference.clone(),
                manifest_digest: img.amd64.clone()
            }
        );
        for d in &img.layers {
            assert!(
                ev.iter()
                    .any(|e| matches!(e, PullEvent::LayerStarted { digest, .. } if digest == d))
            );
            assert!(
                ev.iter()
                    .any(|e| matches!(e, PullEvent::LayerDone { digest } if digest == d))
            );
            assert!(ev.iter().any(|e| matches!(e, PullEvent::LayerProgress { digest, bytes, total } if digest == d && bytes == total)));
        }
        assert_eq!(ev.last(), Some(&PullEvent::Unpacking));
        let log = reg.requests();
        assert!(
            !log.iter().any(|r| r.contains(img.arm64.as_str())),
            "the arm64 image is never fetched: {log:?}"
        );

        // A second pull downloads no blob again.
        let before = reg.requests().len();
        let seen = RefCell::new(Vec::new());
        f.store
            .pull(&reference, RegistryAuth::Anonymous, &|e| {
                seen.borrow_mut().push(e)
            })
            .expect("pull again");
        let again: Vec<String> = reg.requests()[before..].to_vec();
        assert!(!again.iter().any(|r| r.contains("/blobs/")), "{again:?}");
        let exists = seen
            .borrow()
            .iter()
            .filter(|e| matches!(e, PullEvent::LayerExists { .. }))
            .count();
        assert_eq!(exists, 3);
    }
}

#[test]
fn pulls_by_digest() {
    let img = test_image("app", false);
    let reg = Registry::start(Auth::None, img.routes);
    let f = Fixture::new();
    let reference = format!("{}/app@{}", reg.host(), img.amd64);
    let rec = f
        .store
        .pull(&reference, RegistryAuth::Anonymous, &|_| {})
        .expect("pull");
    assert_eq!(rec.references, vec![reference.clone()]);
    assert_eq!(rec.manifest_digest, img.amd64);
}

#[test]
fn basic_auth() {
    let img = test_image("private/app", false);
    let reg = Registry::start(Auth::Basic(basic("alice", "s3cret")), img.routes);
    let f = Fixture::new();
    let reference = format!("{}/private/app:v1", reg.host());
    for auth in [
        RegistryAuth::Anonymous,
        RegistryAuth::Basic("alice".into(), "wrong".into()),
    ] {
        let e = f
            .store
            .pull(&reference, auth.clone(), &|_| {})
            .expect_err("refused");
        eprintln!("{auth:?}: {e}");
        assert_eq!(e.kind(), ErrorKind::Unauthorized, "{auth:?}: {e}");
        assert_nothing_stored(&f);
    }
    let rec = f
        .store
        .pull(
            &reference,
            RegistryAuth::Basic("alice".into(), "s3cret".into()),
            &|_| {},
        )
        .expect("pull");
    assert_eq!(rec.manifest_digest, img.amd64);
    assert!(
        format!("{:?}", RegistryAuth::Basic("alice".into(), "s3cret".into())).contains("redacted")
    );
}

#[test]
fn bearer_token_challenge() {
    let img = test_image("app", true);
    let creds = basic("bob", "pw");
    let reg = Registry::start(
        Auth::Bearer {
            token: "tok123".into(),
            creds,
        },
        img.routes,
    );
    let f = Fixture::new();
    let rec = f
        .store
        .pull(
            &format!("{}/app:v1", reg.host()),
            RegistryAuth::Basic("bob".into(), "pw".into()),
            &|_| {},
        )
        .expect("pull with a token");
    assert_eq!(rec.id, img.config);
    assert!(reg.requests().iter().any(|r| r == "GET /token"));
}

#[test]
fn a_bad_digest_is_rejected_and_nothing_is_stored() {
    let mut img = test_image("app", false);
    let victim = img.layers[1].clone();
    let route = img
        .routes
        .get_mut(&format!("/v2/app/blobs/{victim}"))
        .expect("route");
    let last = route.body.len() - 1;
    route.body[last] ^= 0xff;
    let reg = Registry::start(Auth::None, img.routes);
    let f = Fixture::new();
    let e = f
        .store
        .pull(
            &format!("{}/app:v1", reg.host()),
            RegistryAuth::Anonymous,
            &|_| {},
        )
        .expect_err("bad digest");
    eprintln!("{e}");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(
        e.to_string().contains(victim.as_str()),
        "the error names the blob: {e}"
    );
    assert_nothing_stored(&f);
}

#[test]
fn missing_images_are_not_found() {
    let img = test_image("app", false);
    let reg = Registry::start(Auth::None, img.routes);
    let f = Fixture::new();
    let e = f
        .store
        .pull(
            &format!("{}/app:nope", reg.host()),
            RegistryAuth::Anonymous,
            &|_| {},
        )
        .expect_err("missing");
    eprintln!("{e}");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = f
        .store
        .pull("Not A Name", RegistryAuth::Anonymous, &|_| {})
        .expect_err("invalid");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_inside_spawn_blocking() {
    let img = test_image("app", false);
    let reg = Registry::start(Auth::None, img.routes);
    let f = Arc::new(Fixture::new());
    let reference = format!("{}/app:v1", reg.host());
    let f2 = f.clone();
    let rec = tokio::task::spawn_blocking(move || {
        f2.store.pull(&reference, RegistryAuth::Anonymous, &|_| {})
    })
    .await
    .expect("join")
    .expect("pull");
    assert_eq!(rec.id, img.config);
}
