//! ALB client connections on the wire: raw HTTP/1.x bytes from the
//! client, to check framing (pipelining, HTTP/1.0, chunked and
//! close-delimited bodies, HEAD) and the hand-off from the fast path to
//! hyper in the middle of a connection.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use dockyard_lb::DataPlane;
use dockyard_lb::DataPlaneOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TG: &str = "arn:tg/wire";
const LISTENER: &str = "listener/app";

/// One response as it came off the wire.
#[derive(Debug)]
struct Raw {
    version: u8,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// How the body was framed: "length", "chunked", "close" or "none".
    framing: &'static str,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn body(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

/// A client connection speaking raw bytes.
struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Wire {
    async fn connect(addr: SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    async fn write(&mut self, bytes: &str) {
        self.stream.write_all(bytes.as_bytes()).await.unwrap();
    }

    /// Reads more bytes; false at the end of the stream.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
            .await
            .expect("the load balancer answers within 10 s")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// Reads one response; `None` when the connection ends first.
    async fn response(&mut self, head_request: bool) -> Option<Raw> {
        let (version, status, headers, len) = loop {
            let mut storage = [httparse::EMPTY_HEADER; 64];
            let mut res = httparse::Response::new(&mut storage);
            if let httparse::Status::Complete(len) = res.parse(&self.buf).unwrap() {
                let headers = res
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_owned(),
                            String::from_utf8(h.value.to_vec()).unwrap(),
                        )
                    })
                    .collect::<Vec<_>>();
                break (res.version.unwrap(), res.code.unwrap(), headers, len);
            }
            if !self.fill().await {
                assert!(self.buf.is_empty(), "a partial response: {:?}", self.buf);
                return None;
            }
        };
        self.buf.drain(..len);
        let mut raw = Raw {
            version,
            status,
            headers,
            body: Vec::new(),
            framing: "none",
        };
        if head_request || status == 204 || status == 304 {
            return Some(raw);
        }
        if let Some(n) = raw.header("content-length") {
            let n: usize = n.parse().unwrap();
            while self.buf.len() < n {
                assert!(self.fill().await, "the body ended early");
            }
            raw.body = self.buf.drain(..n).collect();
            raw.framing = "length";
        } else if raw.header("transfer-encoding") == Some("chunked") {
            raw.framing = "chunked";
            loop {
                let line_end = loop {
                    if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                        break at;
                    }
                    assert!(self.fill().await, "the chunked body ended early");
                };
                let size = std::str::from_utf8(&self.buf[..line_end]).unwrap();
                let size = usize::from_str_radix(size.trim(), 16).unwrap();
                while self.buf.len() < line_end + 2 + size + 2 {
                    assert!(self.fill().await, "a chunk ended early");
                }
                let chunk = &self.buf[line_end + 2..line_end + 2 + size];
                raw.body.extend_from_slice(chunk);
                assert_eq!(&self.buf[line_end + 2 + size..line_end + 4 + size], b"\r\n");
                self.buf.drain(..line_end + 4 + size);
                if size == 0 {
                    break;
                }
            }
        } else {
            while self.fill().await {}
            raw.body = std::mem::take(&mut self.buf);
            raw.framing = "close";
        }
        Some(raw)
    }

    /// Whether the load balancer has closed the connection (nothing more
    /// comes before the end of the stream).
    async fn closed(&mut self) -> bool {
        !self.fill().await && self.buf.is_empty()
    }
}

fn plane() -> DataPlane {
    DataPlane::new(DataPlaneOptions::default())
}

async fn lb_for(plane: &DataPlane, target: SocketAddr, health: bool) -> SocketAddr {
    let mut group = fast_group(TG, &[target]);
    group.health_check.enabled = health;
    apply(plane, alb_config(group), LISTENER).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    let backend = Backend::start("a").await;
    let plane = plane();
    let lb = lb_for(&plane, backend.addr, true).await;
    let mut wire = Wire::connect(lb).await;
    // Three requests in one write, the last one split across two.
    wire.write(
        "GET /one HTTP/1.1\r\nHost: x\r\n\r\n\
         HEAD /two HTTP/1.1\r\nHost: x\r\n\r\n\
         GET /three HTTP/1.1\r\nHo",
    )
    .await;
    let one = wire.response(false).await.unwrap();
    assert_eq!((one.version, one.status, one.body()), (1, 200, "a"));
    assert_eq!(one.framing, "length");
    assert!(one.header("date").is_some(), "{one:?}");
    let two = wire.response(true).await.unwrap();
    assert_eq!((two.status, two.header("content-length")), (200, Some("1")));
    tokio::time::sleep(Duration::from_millis(50)).await;
    wire.write("st: x\r\n\r\n").await;
    let three = wire.response(false).await.unwrap();
    assert_eq!((three.status, three.body()), (200, "a"));
    assert_eq!(backend.last_seen().uri.path(), "/three");
    assert_eq!(backend.hits(), 3);
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http10_clients_get_http10_framing() {
    let backend = Backend::start("a").await;
    let plane = plane();
    let lb = lb_for(&plane, backend.addr, true).await;

    // HTTP/1.0 closes after the response unless asked to keep alive.
    let mut wire = Wire::connect(lb).await;
    wire.write("GET / HTTP/1.0\r\n\r\n").await;
    let reply = wire.response(false).await.unwrap();
    assert_eq!((reply.version, reply.status, reply.body()), (0, 200, "a"));
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(wire.closed().await);

    let mut wire = Wire::connect(lb).await;
    for _ in 0..2 {
        wire.write("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .await;
        let reply = wire.response(false).await.unwrap();
        assert_eq!((reply.status, reply.body()), (200, "a"));
        assert_eq!(reply.header("connection"), Some("keep-alive"));
    }
    // The target still sees HTTP/1.1 (the ALB speaks 1.1 to targets).
    assert_eq!(backend.last_seen().version, http::Version::HTTP_11);

    // HTTP/1.1 asking to close is closed after its response.
    let mut wire = Wire::connect(lb).await;
    wire.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    let reply = wire.response(false).await.unwrap();
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(wire.closed().await);
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_of_unknown_length_are_reframed() {
    // A close-delimited target response: chunked to an HTTP/1.1 client
    // (the connection stays open), close-delimited to HTTP/1.0.
    let close = raw_target(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
        false,
    )
    .await;
    let plane = plane();
    let lb = lb_for(&plane, close, false).await;
    let mut wire = Wire::connect(lb).await;
    for _ in 0..2 {
        wire.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let reply = wire.response(false).await.unwrap();
        assert_eq!((reply.body(), reply.framing), ("until the end", "chunked"));
    }
    let mut wire = Wire::connect(lb).await;
    wire.write("GET / HTTP/1.0\r\n\r\n").await;
    let reply = wire.response(false).await.unwrap();
    assert_eq!((reply.body(), reply.framing), ("until the end", "close"));
    plane.shutdown().await;

    // A chunked target response stays chunked, its chunks intact.
    let chunked = raw_target(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
        true,
    )
    .await;
    let plane = self::plane();
    let lb = lb_for(&plane, chunked, false).await;
    let mut wire = Wire::connect(lb).await;
    for _ in 0..3 {
        wire.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let reply = wire.response(false).await.unwrap();
        assert_eq!((reply.body(), reply.framing), ("abcdefg", "chunked"));
        assert_eq!(reply.header("content-length"), None);
    }
    // 204 and 304 carry no body, whatever else they say.
    plane.shutdown().await;
    let empty = raw_target(b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", true).await;
    let plane = self::plane();
    let lb = lb_for(&plane, empty, false).await;
    let mut wire = Wire::connect(lb).await;
    for _ in 0..2 {
        wire.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let reply = wire.response(false).await.unwrap();
        assert_eq!((reply.status, reply.header("etag")), (304, Some("\"x\"")));
        assert_eq!(reply.header("transfer-encoding"), None);
    }
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_a_body_mid_connection_goes_on_through_hyper() {
    let backend = Backend::start("a").await;
    let plane = plane();
    let lb = lb_for(&plane, backend.addr, true).await;
    let mut wire = Wire::connect(lb).await;
    // A bodiless request, then one with a body pipelined behind it and a
    // bodiless one after that: all three in order on one connection.
    wire.write(
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n\
         POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
         GET /after HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    let first = wire.response(false).await.unwrap();
    assert_eq!((first.status, first.body()), (200, "a"));
    let echo = wire.response(false).await.unwrap();
    assert_eq!((echo.status, echo.body()), (200, "hello"));
    let after = wire.response(false).await.unwrap();
    assert_eq!((after.status, after.body()), (200, "a"));
    assert_eq!(backend.last_seen().uri.path(), "/after");
    // A chunked request body, too.
    wire.write(
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
         2\r\nhi\r\n0\r\n\r\n",
    )
    .await;
    let echo = wire.response(false).await.unwrap();
    assert_eq!((echo.status, echo.body()), (200, "hi"));
    // `Content-Length: 0` is no body: that request stays on the fast path
    // and is forwarded like any other.
    let mut wire = Wire::connect(lb).await;
    wire.write("DELETE /gone HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .await;
    let reply = wire.response(false).await.unwrap();
    assert_eq!((reply.status, reply.body()), (200, "a"));
    assert_eq!(backend.last_seen().uri.path(), "/gone");
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_400_and_the_connection_closes() {
    let backend = Backend::start("a").await;
    let plane = plane();
    let lb = lb_for(&plane, backend.addr, true).await;
    for bad in [
        "GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        "GET /a b c HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    ] {
        let mut wire = Wire::connect(lb).await;
        wire.write(bad).await;
        let reply = wire.response(false).await.unwrap();
        assert_eq!(reply.status, 400, "{bad:?}: {reply:?}");
        assert!(wire.closed().await, "{bad:?}");
    }
    // A good request first, then a bad one on the same connection.
    let mut wire = Wire::connect(lb).await;
    wire.write("GET / HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n")
        .await;
    assert_eq!(wire.response(false).await.unwrap().status, 200);
    assert_eq!(wire.response(false).await.unwrap().status, 400);
    assert!(wire.closed().await);
    // Heads too large to be a request's are refused.
    let mut wire = Wire::connect(lb).await;
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1024 * 1024)
    );
    // The load balancer may answer and close before it has read it all.
    let _ = wire.stream.write_all(huge.as_bytes()).await;
    let reply = wire.response(false).await.unwrap();
    assert!(
        reply.status == 431 || reply.status == 400,
        "{}",
        reply.status
    );
    assert_eq!(backend.hits(), 1);
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_listener_closes_idle_fast_path_connections() {
    let backend = Backend::start("a").await;
    let plane = plane();
    let lb = lb_for(&plane, backend.addr, true).await;
    let mut idle = Wire::connect(lb).await;
    idle.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(idle.response(false).await.unwrap().status, 200);
    // A request whose target holds it is answered before its connection
    // closes, with `Connection: close`.
    let mut busy = Wire::connect(lb).await;
    busy.write("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n").await;
    eventually("the held request reaches the target", || async {
        backend.inflight() == 1
    })
    .await;
    let shutdown = tokio::spawn(async move { plane.shutdown().await });
    // The idle connection closes without waiting for the busy one.
    assert!(idle.closed().await);
    backend.open_gate();
    let reply = busy.response(false).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(busy.closed().await);
    shutdown.await.unwrap();
}
