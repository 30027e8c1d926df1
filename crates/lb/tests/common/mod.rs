//! Test backends (tiny hyper servers on 127.0.0.1) and clients.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use dockyard_lb::{
    DataPlane, HealthCheck, HealthCheckPort, LbConfig, ListenerConfig, Protocol, TargetGroupConfig,
    TargetHealthState,
};
use http::{HeaderMap, Request, Response, StatusCode, Uri, Version, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

pub type TestBody = BoxBody<Bytes, hyper::Error>;

/// What a backend saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
}

pub struct BackendState {
    pub name: String,
    pub hits: AtomicUsize,
    pub inflight: AtomicUsize,
    pub health_status: AtomicU16,
    pub gate: watch::Sender<bool>,
    pub seen: Mutex<Vec<Seen>>,
}

/// An HTTP/1.1 backend. Paths: `/health` answers `health_status`; `/hold`
/// waits for the gate; `/stream` sends a chunk, waits for the gate, sends
/// another; `/echo` streams the request body back; `/ws` upgrades and
/// echoes bytes; anything else answers the backend's name.
pub struct Backend {
    pub addr: SocketAddr,
    pub state: Arc<BackendState>,
    task: JoinHandle<()>,
}

impl Backend {
    pub async fn start(name: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(BackendState {
            name: name.to_owned(),
            hits: AtomicUsize::new(0),
            inflight: AtomicUsize::new(0),
            health_status: AtomicU16::new(200),
            gate: watch::Sender::new(false),
            seen: Mutex::new(Vec::new()),
        });
        let shared = state.clone();
        let task = tokio::spawn(async move {
            // Connections live in the set, so aborting the backend also
            // closes the load balancer's pooled connections to it.
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                conns.spawn(async move {
                    let service = service_fn(move |req| backend_handle(state.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Self { addr, state, task }
    }

    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    pub fn inflight(&self) -> usize {
        self.state.inflight.load(Ordering::SeqCst)
    }

    pub fn set_health(&self, status: u16) {
        self.state.health_status.store(status, Ordering::SeqCst);
    }

    pub fn open_gate(&self) {
        self.state.gate.send_replace(true);
    }

    pub fn last_seen(&self) -> Seen {
        self.state
            .seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("backend saw a request")
    }

    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn full(body: impl Into<Bytes>) -> TestBody {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed()
}

async fn backend_handle(
    state: Arc<BackendState>,
    mut req: Request<Incoming>,
) -> Result<Response<TestBody>, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/health" {
        let code = state.health_status.load(Ordering::SeqCst);
        let mut r = Response::new(full("health"));
        *r.status_mut() = StatusCode::from_u16(code).unwrap();
        return Ok(r);
    }
    state.hits.fetch_add(1, Ordering::SeqCst);
    state.seen.lock().unwrap().push(Seen {
        uri: req.uri().clone(),
        version: req.version(),
        headers: req.headers().clone(),
    });
    let response = match path.as_str() {
        "/hold" => {
            state.inflight.fetch_add(1, Ordering::SeqCst);
            let mut gate = state.gate.subscribe();
            let _ = gate.wait_for(|open| *open).await;
            state.inflight.fetch_sub(1, Ordering::SeqCst);
            Response::new(full(format!("held by {}", state.name)))
        }
        "/stream" => {
            let (tx, rx) = mpsc::channel(4);
            let mut gate = state.gate.subscribe();
            tokio::spawn(async move {
                let _ = tx.send(Bytes::from_static(b"first\n")).await;
                let _ = gate.wait_for(|open| *open).await;
                let _ = tx.send(Bytes::from_static(b"second\n")).await;
            });
            Response::new(ChannelBody(rx).boxed())
        }
        "/echo" => Response::new(req.into_body().boxed()),
        "/ws" => {
            let upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let Ok(upgraded) = upgrade.await else {
                    return;
                };
                let mut io = TokioIo::new(upgraded);
                let mut buf = [0u8; 1024];
                loop {
                    match io.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if io.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
            let mut r = Response::new(full(""));
            *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            r.headers_mut()
                .insert(header::UPGRADE, "websocket".parse().unwrap());
            r.headers_mut()
                .insert(header::CONNECTION, "Upgrade".parse().unwrap());
            r
        }
        _ => Response::new(full(state.name.clone())),
    };
    Ok(response)
}

/// A response body fed by a channel, one frame per message.
pub struct ChannelBody(pub mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        self.0.poll_recv(cx).map(|m| m.map(|b| Ok(Frame::data(b))))
    }
}

/// A TCP echo backend for NLB tests; counts connections.
pub struct EchoBackend {
    pub addr: SocketAddr,
    pub conns: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl EchoBackend {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns = Arc::new(AtomicUsize::new(0));
        let count = conns.clone();
        let task = tokio::spawn(async move {
            let mut set = JoinSet::new();
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                set.spawn(async move {
                    let (mut r, mut w) = stream.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
                while set.try_join_next().is_some() {}
            }
        });
        Self { addr, conns, task }
    }
}

impl Drop for EchoBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

/// One request on a fresh HTTP/1.1 connection.
pub async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> Reply {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let response = sender.send_request(req).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub fn get_req(path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header(header::HOST, "app.example.com")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    send(addr, get_req(path)).await
}

pub fn empty() -> Empty<Bytes> {
    Empty::new()
}

pub fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A target group checked fast: every 100 ms, 2 to turn either way.
pub fn fast_group(arn: &str, targets: &[SocketAddr]) -> TargetGroupConfig {
    let mut tg = TargetGroupConfig::new(arn, Protocol::Http);
    tg.targets = targets
        .iter()
        .map(|a| dockyard_lb::Target::new(*a))
        .collect();
    tg.health_check = HealthCheck {
        enabled: true,
        protocol: Protocol::Http,
        port: HealthCheckPort::TrafficPort,
        path: "/health".into(),
        interval: Duration::from_millis(100),
        timeout: Duration::from_secs(2),
        healthy_threshold: 2,
        unhealthy_threshold: 2,
        matcher: "200".parse().unwrap(),
    };
    tg.deregistration_delay = Duration::from_secs(60);
    tg
}

/// One ALB listener forwarding to one group.
pub fn alb_config(group: TargetGroupConfig) -> LbConfig {
    LbConfig {
        listeners: vec![ListenerConfig::http("listener/app", any_port(), &group.arn)],
        target_groups: BTreeMap::from([(group.arn.clone(), group)]),
    }
}

/// Applies and returns the address of `listener`.
pub async fn apply(plane: &DataPlane, config: LbConfig, listener: &str) -> SocketAddr {
    let report = plane.apply(config).await;
    assert!(report.is_ok(), "apply failed: {:?}", report.errors);
    report.bound[listener]
}

/// Polls `check` until it holds; panics after a generous deadline.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for: {what}");
}

pub fn state_of(plane: &DataPlane, tg: &str, addr: SocketAddr) -> Option<TargetHealthState> {
    plane
        .target_health()
        .get(&(tg.to_owned(), addr.ip(), addr.port()))
        .map(|h| h.state)
}

pub async fn wait_healthy(plane: &DataPlane, tg: &str, addrs: &[SocketAddr]) {
    eventually("targets healthy", || async {
        addrs
            .iter()
            .all(|a| state_of(plane, tg, *a) == Some(TargetHealthState::Healthy))
    })
    .await;
}

/// A target that answers every request head it reads with `response`;
/// after the first one it closes the connection unless `keep_alive`.
pub async fn raw_target(response: &'static [u8], keep_alive: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                loop {
                    if stream.read_exact(&mut byte).await.is_err() {
                        return;
                    }
                    head.push(byte[0]);
                    if head.ends_with(b"\r\n\r\n") {
                        head.clear();
                        if stream.write_all(response).await.is_err() || !keep_alive {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}
