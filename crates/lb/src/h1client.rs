//! The fast path to targets: requests without a body (GET, HEAD, DELETE...)
//! are written and their responses read by the client connection's own
//! task, with no connection task, channel or oneshot in between. That is
//! how HAProxy works, and on a loaded core it is the difference between
//! keeping up with it and not. Requests with bodies and upgrades take the
//! hyper client path ([`crate::upstream`]).
//!
//! Idle connections wait in a per-target stack and are not polled; a
//! connection the target closed shows as read-ready, which [`alive`]
//! checks without a syscall in the usual case.

use std::io;
use std::mem::MaybeUninit;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::header;
use http::{HeaderMap, StatusCode, Version};
use hyper::body::Frame;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::h1wire::{self, MAX_HEADERS, Span, encode_headers, has_token, header_map};
use crate::target::{InflightGuard, TargetRuntime};
use crate::upstream::UpstreamError;

const MAX_IDLE: usize = 512;
/// Response heads larger than this are refused (502), like AWS's limit.
const MAX_HEAD: usize = 64 * 1024;
const READ_RESERVE: usize = 32 * 1024;

pub(crate) struct RawConn {
    stream: TcpStream,
    rbuf: BytesMut,
    /// The request head being written, kept to reuse its allocation.
    wbuf: Vec<u8>,
}

#[derive(Default)]
pub(crate) struct RawPool {
    idle: Mutex<Vec<RawConn>>,
}

impl RawPool {
    fn checkout(&self) -> Option<RawConn> {
        loop {
            let conn = self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop()?;
            if alive(&conn) {
                return Some(conn);
            }
        }
    }

    /// Drops idle connections the target has closed, so they do not sit
    /// in CLOSE_WAIT until the next request.
    pub(crate) fn sweep(&self) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(alive);
    }

    fn checkin(&self, conn: RawConn) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }
}

/// An idle HTTP/1.1 connection has nothing to read; if it is readable the
/// target closed it (or sent garbage). Tokio clears read readiness after
/// a short read, so the usual case costs no syscall.
fn alive(conn: &RawConn) -> bool {
    if !conn.rbuf.is_empty() {
        return false;
    }
    let mut cx = Context::from_waker(Waker::noop());
    match conn.stream.poll_read_ready(&mut cx) {
        Poll::Pending => true,
        Poll::Ready(Err(_)) => false,
        Poll::Ready(Ok(())) => {
            let mut probe = [0u8; 1];
            matches!(conn.stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
        }
    }
}

async fn connect(target: &TargetRuntime, timeout: Duration) -> Result<RawConn, UpstreamError> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(target.addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) if e.kind() == io::ErrorKind::TimedOut => {
            return Err(UpstreamError::ConnectTimeout);
        }
        Ok(Err(e)) => return Err(UpstreamError::Connect(e)),
        Err(_) => return Err(UpstreamError::ConnectTimeout),
    };
    let _ = stream.set_nodelay(true);
    Ok(RawConn {
        stream,
        rbuf: BytesMut::with_capacity(READ_RESERVE),
        wbuf: Vec::with_capacity(512),
    })
}

/// Reads more of the response into the connection's buffer.
fn poll_fill(conn: &mut RawConn, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
    h1wire::poll_fill(&mut conn.stream, &mut conn.rbuf, READ_RESERVE, cx)
}

/// Writes a bodiless request head in HTTP/1.1 form.
fn encode(parts: &http::request::Parts, out: &mut Vec<u8>) {
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    encode_headers(&parts.headers, out);
}

/// A response head and how its body is framed.
pub(crate) struct Head {
    pub(crate) parts: http::response::Parts,
    framing: Framing,
    keep_alive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked(Chunk),
    /// Read until the target closes.
    Close,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

/// How one attempt on one connection failed.
enum Attempt {
    /// The connection was dead, and the request may go to another one.
    Stale(io::Error),
    Failed(UpstreamError),
}

/// Sends a request that has no body and reads the response head. A pooled
/// connection that turns out dead (the write fails, or for idempotent
/// methods, it closes before any byte of response) is dropped and the
/// request goes to the next one, a new connection at worst.
pub(crate) async fn send(
    target: &TargetRuntime,
    parts: &http::request::Parts,
    connect_timeout: Duration,
) -> Result<(Head, RawConn), UpstreamError> {
    let head_request = parts.method == http::Method::HEAD;
    // A request the target may have acted on is only sent again when
    // sending it twice is harmless (RFC 9110, 9.2.2).
    let idempotent = parts.method.is_idempotent();
    loop {
        let (mut conn, pooled) = match target.raw_pool.checkout() {
            Some(conn) => (conn, true),
            None => (connect(target, connect_timeout).await?, false),
        };
        let mut request = std::mem::take(&mut conn.wbuf);
        request.clear();
        encode(parts, &mut request);
        let result = exchange(&mut conn, &request, head_request, idempotent).await;
        conn.wbuf = request;
        match result {
            Ok(head) => return Ok((head, conn)),
            Err(Attempt::Stale(_)) if pooled => continue,
            Err(Attempt::Stale(e)) => return Err(UpstreamError::Io(e)),
            Err(Attempt::Failed(e)) => return Err(e),
        }
    }
}

async fn exchange(
    conn: &mut RawConn,
    request: &[u8],
    head_request: bool,
    idempotent: bool,
) -> Result<Head, Attempt> {
    conn.stream
        .write_all(request)
        .await
        .map_err(Attempt::Stale)?;
    loop {
        if let Some(head) = parse_head(&mut conn.rbuf, head_request).map_err(Attempt::Failed)? {
            return Ok(head);
        }
        let retryable = idempotent && conn.rbuf.is_empty();
        match std::future::poll_fn(|cx| poll_fill(conn, cx)).await {
            Ok(0) => {
                let eof =
                    io::Error::new(io::ErrorKind::UnexpectedEof, "target closed the connection");
                return Err(if retryable {
                    Attempt::Stale(eof)
                } else {
                    Attempt::Failed(UpstreamError::Io(eof))
                });
            }
            Ok(_) => {}
            Err(e) if retryable => return Err(Attempt::Stale(e)),
            Err(e) => return Err(Attempt::Failed(UpstreamError::Io(e))),
        }
    }
}

fn malformed(what: &str) -> UpstreamError {
    UpstreamError::Malformed(what.to_owned())
}

/// Parses a complete response head off the front of `buf`, skipping
/// interim (1xx) responses; `None` when more bytes are needed.
fn parse_head(buf: &mut BytesMut, head_request: bool) -> Result<Option<Head>, UpstreamError> {
    loop {
        if buf.is_empty() {
            return Ok(None);
        }
        // Uninitialised storage: zeroing 100 headers per response costs
        // more than parsing a small one.
        let mut storage = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut []);
        let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut response,
            buf,
            &mut storage,
        ) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                return Err(malformed("response head too large"));
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(UpstreamError::Malformed(format!("bad response head: {e}"))),
        };
        let code = response.code.unwrap_or(0);
        if (100..200).contains(&code) {
            if code == 101 {
                return Err(malformed("switching protocols without an upgrade"));
            }
            buf.advance(len);
            continue;
        }
        let status = StatusCode::from_u16(code).map_err(|_| malformed("bad status code"))?;
        let http11 = response.version == Some(1);
        let mut spans = [Span::default(); MAX_HEADERS];
        let count = h1wire::spans(buf.as_ptr(), response.headers, &mut spans);
        let head = buf.split_to(len).freeze();
        let mut map =
            header_map(&head, &spans[..count], 4).ok_or_else(|| malformed("bad header"))?;
        let framing = framing(status, head_request, &map)?;
        if matches!(framing, Framing::Chunked(_)) {
            // RFC 9112: with both, Transfer-Encoding wins; a stale length
            // must not reach the client, who gets the body re-framed.
            map.remove(header::CONTENT_LENGTH);
        }
        let keep_alive = framing != Framing::Close && keep_alive(http11, &map);
        let (mut parts, ()) = http::Response::new(()).into_parts();
        parts.status = status;
        parts.version = Version::HTTP_11;
        parts.headers = map;
        return Ok(Some(Head {
            parts,
            framing,
            keep_alive,
        }));
    }
}

fn framing(
    status: StatusCode,
    head_request: bool,
    headers: &HeaderMap,
) -> Result<Framing, UpstreamError> {
    if head_request || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return Ok(Framing::Done);
    }
    if let Some(te) = headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .next_back()
    {
        let chunked = te
            .to_str()
            .ok()
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        return Ok(if chunked {
            Framing::Chunked(Chunk::Size)
        } else {
            Framing::Close
        });
    }
    let mut length = None;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        let n: u64 = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| malformed("bad content-length"))?;
        if length.is_some_and(|l| l != n) {
            return Err(malformed("conflicting content-length"));
        }
        length = Some(n);
    }
    Ok(match length {
        Some(0) => Framing::Done,
        Some(n) => Framing::Length(n),
        None => Framing::Close,
    })
}

pub(crate) fn keep_alive(http11: bool, headers: &HeaderMap) -> bool {
    if http11 {
        !has_token(headers, &header::CONNECTION, "close")
    } else {
        has_token(headers, &header::CONNECTION, "keep-alive")
    }
}

/// A response body read straight off the target connection. Once the
/// body is complete the connection returns to the target's pool (when it
/// can be reused) and the in-flight count drops.
pub(crate) struct RawBody {
    conn: Option<RawConn>,
    framing: Framing,
    keep_alive: bool,
    guard: Option<InflightGuard>,
}

impl RawBody {
    pub(crate) fn new(head: &Head, conn: RawConn, guard: InflightGuard) -> Self {
        let mut body = Self {
            conn: Some(conn),
            framing: head.framing,
            keep_alive: head.keep_alive,
            guard: Some(guard),
        };
        if body.framing == Framing::Done {
            body.finish();
        }
        body
    }

    fn finish(&mut self) {
        self.framing = Framing::Done;
        if let (Some(conn), Some(guard)) = (self.conn.take(), self.guard.as_ref())
            && self.keep_alive
            && conn.rbuf.is_empty()
        {
            guard.target().raw_pool.checkin(conn);
        }
        self.guard = None;
    }

    pub(crate) fn is_end_stream(&self) -> bool {
        self.framing == Framing::Done
    }

    pub(crate) fn exact_len(&self) -> Option<u64> {
        match self.framing {
            Framing::Length(n) => Some(n),
            Framing::Done => Some(0),
            _ => None,
        }
    }

    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        let result = self.poll_inner(cx);
        if matches!(result, Poll::Ready(Some(Err(_)))) {
            // A broken body leaves the connection in an unknown state.
            self.keep_alive = false;
            self.finish();
        }
        result
    }

    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        loop {
            let framing = self.framing;
            let Some(conn) = self.conn.as_mut().filter(|_| framing != Framing::Done) else {
                return Poll::Ready(None);
            };
            match framing {
                Framing::Done => return Poll::Ready(None),
                Framing::Length(remaining) => {
                    if conn.rbuf.is_empty() && ready!(poll_fill(conn, cx))? == 0 {
                        return Poll::Ready(Some(Err(truncated())));
                    }
                    let take = remaining.min(conn.rbuf.len() as u64);
                    let data = conn.rbuf.split_to(take as usize).freeze();
                    if remaining == take {
                        self.finish();
                    } else {
                        self.framing = Framing::Length(remaining - take);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Framing::Close => {
                    if conn.rbuf.is_empty() && ready!(poll_fill(conn, cx))? == 0 {
                        self.keep_alive = false;
                        self.finish();
                        return Poll::Ready(None);
                    }
                    let data = conn.rbuf.split().freeze();
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Framing::Chunked(Chunk::Data(remaining)) => {
                    if conn.rbuf.is_empty() && ready!(poll_fill(conn, cx))? == 0 {
                        return Poll::Ready(Some(Err(truncated())));
                    }
                    let take = remaining.min(conn.rbuf.len() as u64);
                    let data = conn.rbuf.split_to(take as usize).freeze();
                    self.framing = Framing::Chunked(if remaining == take {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(remaining - take)
                    });
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Framing::Chunked(chunk) => match step_chunk(&mut conn.rbuf, chunk)? {
                    Some(Framing::Done) => self.finish(),
                    Some(next) => self.framing = next,
                    None => {
                        if ready!(poll_fill(conn, cx))? == 0 {
                            return Poll::Ready(Some(Err(truncated())));
                        }
                    }
                },
            }
        }
    }
}

fn truncated() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "target closed the connection mid-body",
    )
}

fn bad_chunk() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "malformed chunked body")
}

/// Consumes one chunk-size line, chunk terminator or trailer line; `None`
/// when the buffer does not hold it whole yet.
fn step_chunk(buf: &mut BytesMut, chunk: Chunk) -> io::Result<Option<Framing>> {
    let line_end = |buf: &BytesMut| buf.windows(2).position(|w| w == b"\r\n");
    match chunk {
        Chunk::DataEnd => {
            if buf.len() < 2 {
                return Ok(None);
            }
            if &buf[..2] != b"\r\n" {
                return Err(bad_chunk());
            }
            buf.advance(2);
            Ok(Some(Framing::Chunked(Chunk::Size)))
        }
        Chunk::Size => {
            let Some(end) = line_end(buf) else {
                return if buf.len() > 4096 {
                    Err(bad_chunk())
                } else {
                    Ok(None)
                };
            };
            let line = &buf[..end];
            let digits = line.split(|&b| b == b';').next().unwrap_or(&[]);
            let digits = std::str::from_utf8(digits).map_err(|_| bad_chunk())?.trim();
            let size = u64::from_str_radix(digits, 16).map_err(|_| bad_chunk())?;
            buf.advance(end + 2);
            Ok(Some(Framing::Chunked(if size == 0 {
                Chunk::Trailers
            } else {
                Chunk::Data(size)
            })))
        }
        Chunk::Trailers => {
            let Some(end) = line_end(buf) else {
                return if buf.len() > MAX_HEAD {
                    Err(bad_chunk())
                } else {
                    Ok(None)
                };
            };
            buf.advance(end + 2);
            Ok(Some(if end == 0 {
                Framing::Done
            } else {
                Framing::Chunked(Chunk::Trailers)
            }))
        }
        Chunk::Data(_) => Ok(Some(Framing::Chunked(chunk))),
    }
}

#[cfg(test)]
#[path = "h1client_tests.rs"]
mod tests;
