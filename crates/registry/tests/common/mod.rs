//! A registry served over HTTP on 127.0.0.1:<random port>, and a small
//! client to talk to it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use dockyard_image::{Digest, FsContentStore};
use dockyard_registry::{AllowAll, Registry, RegistryAuth, RegistryConfig};
use dockyard_store::MemStore;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

pub struct Server {
    pub registry: Registry,
    pub content: Arc<FsContentStore>,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with(Arc::new(AllowAll), RegistryConfig::default()).await
    }

    pub async fn start_with(auth: Arc<dyn RegistryAuth>, config: RegistryConfig) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let content =
            Arc::new(FsContentStore::open(dir.path().join("content")).expect("content store"));
        let registry = Registry::new(content.clone(), Arc::new(MemStore::new()), auth, config);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let reg = registry.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let reg = reg.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let reg = reg.clone();
                        async move { Ok::<_, Infallible>(reg.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self {
            registry,
            content,
            addr,
            dir,
            task,
        }
    }

    /// Digests of the blobs in the content store.
    pub fn blobs(&self) -> Vec<Digest> {
        use dockyard_image::ContentStore;
        self.content
            .list()
            .expect("list")
            .into_iter()
            .map(|(d, _)| d)
            .collect()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `127.0.0.1:PORT`, as image references spell the registry.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not json ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The spec error code of an error reply.
    pub fn code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl HttpClient {
    pub fn new(server: &Server) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: server.url(""),
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body.into())).expect("request");
        let resp = self.client.request(req).await.expect("send");
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, &[], Bytes::new()).await
    }

    pub async fn head(&self, path: &str) -> Reply {
        self.send(Method::HEAD, path, &[], Bytes::new()).await
    }

    /// Monolithic single-POST upload.
    pub async fn push_blob(&self, name: &str, data: &[u8]) -> Digest {
        let d = Digest::of(data);
        let r = self
            .send(
                Method::POST,
                &format!("/v2/{name}/blobs/uploads/?digest={d}"),
                &[("content-type", "application/octet-stream")],
                data.to_vec(),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        d
    }

    pub async fn put_manifest(
        &self,
        name: &str,
        reference: &str,
        media_type: &str,
        m: &[u8],
    ) -> Reply {
        self.send(
            Method::PUT,
            &format!("/v2/{name}/manifests/{reference}"),
            &[("content-type", media_type)],
            m.to_vec(),
        )
        .await
    }
}

pub fn descriptor(media_type: &str, data: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "mediaType": media_type,
        "digest": Digest::of(data).to_string(),
        "size": data.len(),
    })
}

/// An OCI image manifest with a config and one layer made from `seed`.
pub fn image(seed: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let config = format!("{{\"config\":\"{seed}\"}}").into_bytes();
    let layer = format!("layer {seed}").into_bytes();
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", &layer)],
    });
    (serde_json::to_vec(&m).expect("json"), config, layer)
}

/// Writes a hand-made HTTP/1.1 request (which should say
/// `Connection: close`), optionally shuts the write side early (a client
/// dying mid-body), and returns whatever the server answered.
pub async fn raw(addr: SocketAddr, request: &[u8], shutdown_write: bool) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("write");
    if shutdown_write {
        s.shutdown().await.expect("shutdown");
    }
    let mut out = Vec::new();
    // Bounded so a server bug shows as a failure rather than a hang.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// A request body in chunked transfer encoding.
pub fn chunked(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(format!("{:x}\r\n", p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}
