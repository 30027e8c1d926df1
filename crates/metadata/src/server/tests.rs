//! The server over real sockets on 127.0.0.1, with the fake source.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Barrier;
use std::sync::atomic::Ordering;

use http::HeaderMap;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::*;
use crate::credentials::{CredentialsLookup, render_credentials};
use crate::meta::{ContainerMeta, TaskMeta};
use crate::source::SourceError;
use crate::stats::ContainerStats;
use crate::testing::{Fake, creds};

/// Bounds a wait that would otherwise hang a broken test; not a timing
/// assertion.
const HANG_GUARD: Duration = Duration::from_secs(30);

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(source: Arc<dyn MetadataSource>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, source, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(HANG_GUARD, &mut self.task)
            .await
            .expect("serve returns after shutdown")
            .unwrap();
    }
}

type Client = SendRequest<Empty<Bytes>>;

async fn connect(addr: SocketAddr, from: Option<&str>) -> Client {
    let stream = match from {
        None => TcpStream::connect(addr).await.unwrap(),
        Some(ip) => {
            let s = TcpSocket::new_v4().unwrap();
            s.bind(SocketAddr::new(ip.parse().unwrap(), 0)).unwrap();
            s.connect(addr).await.unwrap()
        }
    };
    let (client, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

struct Got {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Got {
    fn json(&self) -> Value {
        assert_eq!(self.headers[CONTENT_TYPE], "application/json");
        serde_json::from_slice(&self.body).unwrap()
    }
}

async fn send(client: &mut Client, method: Method, path: &str) -> Got {
    client.ready().await.unwrap();
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, "169.254.170.2")
        .body(Empty::new())
        .unwrap();
    let resp = client.send_request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    Got {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

async fn get(addr: SocketAddr, path: &str) -> Got {
    send(&mut connect(addr, None).await, Method::GET, path).await
}

#[tokio::test]
async fn every_path_over_one_kept_alive_connection() {
    let fake = Arc::new(Fake::new());
    let server = Server::start(fake.clone()).await;
    let mut c = connect(server.addr, None).await;

    let r = send(&mut c, Method::GET, "/v4/tok-app").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["Name"], json!("app"));
    assert!(
        !r.body.contains(&b'\n'),
        "compact JSON, as Go's json.Marshal writes"
    );

    let r = send(&mut c, Method::GET, "/v4/tok-app/task").await;
    assert_eq!(r.json()["Containers"].as_array().unwrap().len(), 2);
    let r = send(&mut c, Method::GET, "/v4/tok-app/taskWithTags").await;
    assert_eq!(r.json()["Family"], json!("web"));
    let r = send(&mut c, Method::GET, "/v4/tok-app/stats").await;
    assert_eq!(r.json()["id"], json!("id-app"));
    let r = send(&mut c, Method::GET, "/v4/tok-app/task/stats").await;
    assert_eq!(r.json()["id-sidecar"], json!({}));
    let r = send(&mut c, Method::GET, "/v3/tok-app/task").await;
    assert!(r.json().get("LaunchType").is_none());
    let r = send(&mut c, Method::GET, "/v3/tok-app/stats").await;
    assert_eq!(r.status, StatusCode::OK);

    // 127.0.0.1 is one of the web task's addresses in the fake.
    let r = send(&mut c, Method::GET, "/v2/credentials/cred-web").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), render_credentials(&creds("web")));
    let r = send(&mut c, Method::GET, "/v1/credentials?id=cred-web").await;
    assert_eq!(r.status, StatusCode::OK);

    assert!(fake.calls.load(Ordering::Relaxed) >= 9);
    server.stop().await;
}

#[tokio::test]
async fn unknown_paths_methods_and_tokens() {
    let server = Server::start(Arc::new(Fake::new())).await;
    let mut c = connect(server.addr, None).await;

    for path in [
        "/",
        "/v4/tok-app/nope",
        "/latest/meta-data/",
        "/v2/credentials",
    ] {
        let r = send(&mut c, Method::GET, path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.body, "404 page not found\n");
        assert_eq!(r.headers[CONTENT_TYPE], "text/plain; charset=utf-8");
    }

    let r = send(&mut c, Method::GET, "/v4/nope/task").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.json().as_str().unwrap().ends_with("v3 endpoint ID: nope"));

    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let r = send(&mut c, method.clone(), "/v4/tok-app").await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(r.headers[ALLOW], "GET, HEAD");
    }

    let r = send(&mut c, Method::HEAD, "/v4/tok-app").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
    let full = send(&mut c, Method::GET, "/v4/tok-app").await;
    assert_eq!(
        r.headers[http::header::CONTENT_LENGTH],
        full.body.len().to_string().as_str()
    );

    let r = send(&mut c, Method::GET, "/v2/credentials/unknown").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["code"], json!("InvalidIdInRequest"));
    server.stop().await;
}

#[tokio::test]
async fn credentials_go_only_to_their_tasks_address() {
    let server = Server::start(Arc::new(Fake::new())).await;

    // The batch task's credentials, asked for from 127.0.0.1 (the web
    // task's address in the fake).
    let r = get(server.addr, "/v2/credentials/cred-batch").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json(),
        json!({
            "code": "InvalidIdInRequest",
            "message": "CredentialsV2Request: Credentials not found",
            "HTTPErrorCode": 400,
        })
    );

    // From another loopback address, which no task in the fake has: the
    // web task's credentials are refused too, the host-mode ones are not.
    let mut other = connect(server.addr, Some("127.0.0.2")).await;
    let r = send(&mut other, Method::GET, "/v2/credentials/cred-web").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = send(&mut other, Method::GET, "/v2/credentials/cred-host").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["AccessKeyId"], json!("ASIAhost"));

    let r = get(server.addr, "/v2/credentials/cred-pending").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    server.stop().await;
}

/// Answers `container` only once `n` calls are in it at the same time, so
/// the test passes only if the server runs lookups concurrently.
struct Rendezvous {
    barrier: Barrier,
    fake: Fake,
}

impl MetadataSource for Rendezvous {
    fn container(&self, token: &str) -> Option<ContainerMeta> {
        self.barrier.wait();
        self.fake.container(token)
    }
    fn task(&self, token: &str) -> Option<TaskMeta> {
        self.fake.task(token)
    }
    fn container_stats(&self, token: &str) -> Result<ContainerStats, SourceError> {
        self.fake.container_stats(token)
    }
    fn task_stats(
        &self,
        token: &str,
    ) -> Result<Vec<(String, Option<ContainerStats>)>, SourceError> {
        self.fake.task_stats(token)
    }
    fn credentials(&self, id: &str, peer: IpAddr) -> CredentialsLookup {
        self.fake.credentials(id, peer)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_answered_concurrently() {
    const N: usize = 8;
    let source = Arc::new(Rendezvous {
        barrier: Barrier::new(N),
        fake: Fake::new(),
    });
    let server = Server::start(source).await;
    let addr = server.addr;
    let requests: Vec<_> = (0..N)
        .map(|i| {
            tokio::spawn(async move {
                let token = if i % 2 == 0 { "tok-app" } else { "tok-job" };
                let r = get(addr, &format!("/v4/{token}")).await;
                (token, r.status, r.json()["Name"].clone())
            })
        })
        .collect();
    let all = tokio::time::timeout(HANG_GUARD, futures_join(requests))
        .await
        .expect("all requests answered together");
    for (token, status, name) in all {
        assert_eq!(status, StatusCode::OK);
        assert_eq!(name, json!(token.trim_start_matches("tok-")));
    }
    server.stop().await;
}

async fn futures_join<T>(handles: Vec<JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

struct Panicky;

impl MetadataSource for Panicky {
    fn container(&self, token: &str) -> Option<ContainerMeta> {
        panic!("source bug for {token}");
    }
    fn task(&self, _: &str) -> Option<TaskMeta> {
        None
    }
    fn container_stats(&self, token: &str) -> Result<ContainerStats, SourceError> {
        Err(SourceError::UnknownToken(token.into()))
    }
    fn task_stats(
        &self,
        token: &str,
    ) -> Result<Vec<(String, Option<ContainerStats>)>, SourceError> {
        Err(SourceError::UnknownToken(token.into()))
    }
    fn credentials(&self, _: &str, _: IpAddr) -> CredentialsLookup {
        CredentialsLookup::NotFound
    }
}

#[tokio::test]
async fn a_panicking_source_costs_one_request_not_the_server() {
    let server = Server::start(Arc::new(Panicky)).await;
    let mut c = connect(server.addr, None).await;
    let r = send(&mut c, Method::GET, "/v4/boom").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    let r = send(&mut c, Method::GET, "/v4/boom/task").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_idle_kept_alive_connections() {
    let server = Server::start(Arc::new(Fake::new())).await;
    let addr = server.addr;
    let mut idle = connect(addr, None).await;
    assert_eq!(
        send(&mut idle, Method::GET, "/v4/tok-app").await.status,
        StatusCode::OK
    );
    // Returns although `idle` is still open.
    server.stop().await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}
