//! The fast path of ALB client connections. HTTP/1.x requests without a
//! body (GET, HEAD, DELETE, ... on keep-alive connections: nearly every
//! request) are read, parsed, routed, forwarded and answered by the
//! connection's own task, with no dispatcher, service call or body channel
//! in between, and a small response leaves in one write.
//!
//! Anything else (a request with a body, an upgrade, `Expect`, CONNECT,
//! HTTP/2's preface, a head that does not parse) hands the connection,
//! with the bytes read so far, to hyper's server for the rest of its life.
//! Those cases, and the error responses to bad requests, keep one
//! implementation.

use std::future::{Future, poll_fn};
use std::io::{self, Write as _};
use std::mem::MaybeUninit;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri, Version, header};
use hyper::body::Body as _;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::alb::{self, Conn, Control};
use crate::h1client::keep_alive;
use crate::h1wire::{self, MAX_HEADERS, Span, header_map, poll_fill};
use crate::response::LbBody;

/// Request heads larger than this go to hyper, which refuses them.
const MAX_HEAD: usize = 64 * 1024;
const READ_RESERVE: usize = 8 * 1024;
/// Body bytes gathered behind a response head before they are written.
const GATHER: usize = 64 * 1024;

pub(crate) enum Ended<S> {
    /// The connection is finished: closed, failed, idle or drained.
    Closed,
    /// hyper serves the rest, starting with the bytes read but not used.
    Handoff(Prefixed<S>),
}

struct Parsed {
    parts: http::request::Parts,
    keep_alive: bool,
}

// Returned once per request and taken apart at once: boxing the request
// would cost an allocation per request for nothing.
#[allow(clippy::large_enum_variant)]
enum Parse {
    Request(Parsed),
    /// More bytes are needed.
    Partial,
    /// Not for the fast path.
    Other,
}

/// Serves requests on `io` until the connection ends or needs hyper.
/// `seen` is the latest [`Control`] event acted on.
pub(crate) async fn serve<S>(mut io: S, conn: &Conn, control: &Control, seen: &mut u8) -> Ended<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut rbuf = BytesMut::with_capacity(READ_RESERVE);
    let mut wbuf = Vec::with_capacity(1024);
    loop {
        let request = match parse_request(&mut rbuf) {
            Parse::Request(request) => request,
            Parse::Other => return Ended::Handoff(Prefixed::new(rbuf.freeze(), io)),
            Parse::Partial => {
                // Between requests a draining connection closes; in the
                // middle of a head it waits for the rest.
                let until = if rbuf.is_empty() {
                    Control::DRAIN
                } else {
                    Control::CLOSE
                };
                let read = poll_fn(|cx| poll_fill(&mut io, &mut rbuf, READ_RESERVE, cx));
                match or_control(read, control, seen, until).await {
                    Some(Ok(n)) if n > 0 => continue,
                    _ => return Ended::Closed,
                }
            }
        };
        let Parsed { parts, keep_alive } = request;
        let version = parts.version;
        let head_request = parts.method == Method::HEAD;
        let respond = alb::respond_bodiless(conn, parts);
        let Some(response) = or_control(respond, control, seen, Control::CLOSE).await else {
            return Ended::Closed;
        };
        // Responses made ready in this turn of the event loop leave
        // together, after the next poll for I/O: the client, likely
        // asleep in epoll_wait, is woken once for many, not once each.
        tokio::task::yield_now().await;
        let keep_alive = keep_alive && *seen == Control::NONE;
        let written = write_response(
            &mut io,
            &mut wbuf,
            response,
            version,
            head_request,
            keep_alive,
        );
        match or_control(written, control, seen, Control::CLOSE).await {
            Some(Ok(true)) if *seen == Control::NONE => {}
            Some(Ok(_)) => {
                let _ = or_control(io.shutdown(), control, seen, Control::CLOSE).await;
                return Ended::Closed;
            }
            Some(Err(e)) => {
                tracing::trace!(error = %e, "client connection ended");
                return Ended::Closed;
            }
            None => return Ended::Closed,
        }
    }
}

/// Runs `fut` while following the connection's control events; `None`
/// once an event at least as strong as `until` has come.
async fn or_control<F: Future>(
    fut: F,
    control: &Control,
    seen: &mut u8,
    until: u8,
) -> Option<F::Output> {
    let mut fut = pin!(fut);
    poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        while let Poll::Ready(event) = control.poll(cx, *seen) {
            *seen = event;
        }
        if *seen >= until {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Parses one request head off the front of `buf` when it is complete
/// and the fast path can serve it.
fn parse_request(buf: &mut BytesMut) -> Parse {
    if buf.is_empty() {
        return Parse::Partial;
    }
    // Uninitialised storage: zeroing 100 headers costs more than parsing
    // a small head.
    let mut storage = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut req,
        buf,
        &mut storage,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => return Parse::Partial,
        _ => return Parse::Other,
    };
    let version = match req.version {
        Some(1) => Version::HTTP_11,
        Some(0) => Version::HTTP_10,
        _ => return Parse::Other,
    };
    let method = match Method::from_bytes(req.method.unwrap_or("").as_bytes()) {
        Ok(method) if method != Method::CONNECT => method,
        _ => return Parse::Other,
    };
    if req.headers.iter().any(needs_hyper) {
        return Parse::Other;
    }
    let path = req.path.unwrap_or("/");
    let path_at = path.as_ptr() as usize - buf.as_ptr() as usize;
    let path_end = path_at + path.len();
    let mut spans = [Span::default(); MAX_HEADERS];
    let count = h1wire::spans(buf.as_ptr(), req.headers, &mut spans);

    let head = buf.split_to(len).freeze();
    // Room for the forwarding headers added on the way to the target.
    let headers = header_map(&head, &spans[..count], 6);
    let (Ok(uri), Some(headers)) = (
        Uri::from_maybe_shared(head.slice(path_at..path_end)),
        headers,
    ) else {
        // hyper answers what does not parse; it gets the bytes back.
        let mut whole = BytesMut::from(&head[..]);
        whole.unsplit(std::mem::take(buf));
        *buf = whole;
        return Parse::Other;
    };
    let (mut parts, ()) = Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.version = version;
    parts.headers = headers;
    let keep_alive = keep_alive(version == Version::HTTP_11, &parts.headers);
    Parse::Request(Parsed { parts, keep_alive })
}

/// A header that means a body, an upgrade or an interim response, which
/// the fast path leaves to hyper. (`Content-Length: 0` is no body.)
fn needs_hyper(h: &httparse::Header<'_>) -> bool {
    match h.name.len() {
        14 => h.name.eq_ignore_ascii_case("content-length") && h.value.trim_ascii() != b"0",
        17 => h.name.eq_ignore_ascii_case("transfer-encoding"),
        7 => h.name.eq_ignore_ascii_case("upgrade"),
        6 => h.name.eq_ignore_ascii_case("expect"),
        _ => false,
    }
}

/// Writes one response with HTTP/1.1 framing: `Content-Length` when the
/// body's length is known, chunked when not (close-delimited for HTTP/1.0
/// clients). Returns whether the connection stays open.
async fn write_response<S: AsyncWrite + Unpin>(
    io: &mut S,
    wbuf: &mut Vec<u8>,
    response: Response<LbBody>,
    version: Version,
    head_request: bool,
    mut keep_alive: bool,
) -> io::Result<bool> {
    let (mut parts, mut body) = response.into_parts();
    let status = parts.status;
    let headers = &mut parts.headers;
    let bodiless = head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let mut chunked = false;
    if !bodiless {
        match body.size_hint().exact() {
            // A target's response keeps the length it was framed by.
            Some(n) if !headers.contains_key(header::CONTENT_LENGTH) => {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
            }
            Some(_) => {}
            None if version == Version::HTTP_11 => {
                headers.remove(header::CONTENT_LENGTH);
                headers.insert(
                    header::TRANSFER_ENCODING,
                    HeaderValue::from_static("chunked"),
                );
                chunked = true;
            }
            None => {
                headers.remove(header::CONTENT_LENGTH);
                keep_alive = false;
            }
        }
    }
    if !keep_alive {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    } else if version == Version::HTTP_10 {
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    }
    if !headers.contains_key(header::DATE) {
        headers.insert(header::DATE, h1wire::date());
    }
    wbuf.clear();
    h1wire::encode_response_head(version, status, headers, wbuf);
    if !bodiless {
        write_body(io, wbuf, &mut body, chunked).await?;
    }
    if !wbuf.is_empty() {
        io.write_all(wbuf).await?;
        wbuf.clear();
    }
    io.flush().await?;
    Ok(keep_alive)
}

/// Streams the body behind the head in `wbuf`: what is ready at once goes
/// out with the head; the rest as it comes.
async fn write_body<S: AsyncWrite + Unpin>(
    io: &mut S,
    wbuf: &mut Vec<u8>,
    body: &mut LbBody,
    chunked: bool,
) -> io::Result<()> {
    loop {
        let polled = poll_fn(|cx| Poll::Ready(Pin::new(&mut *body).poll_frame(cx))).await;
        let frame = match polled {
            Poll::Ready(frame) => frame,
            Poll::Pending => {
                if !wbuf.is_empty() {
                    io.write_all(wbuf).await?;
                    wbuf.clear();
                }
                poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
            }
        };
        let data = match frame {
            None => break,
            Some(Err(e)) => return Err(io::Error::other(e)),
            // Trailers are not sent to HTTP/1.1 clients.
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) if !data.is_empty() => data,
                _ => continue,
            },
        };
        if chunked {
            let _ = write!(wbuf, "{:x}\r\n", data.len());
        }
        if wbuf.len() + data.len() > GATHER {
            io.write_all(wbuf).await?;
            wbuf.clear();
            io.write_all(&data).await?;
        } else {
            wbuf.extend_from_slice(&data);
        }
        if chunked {
            wbuf.extend_from_slice(b"\r\n");
        }
    }
    if chunked {
        wbuf.extend_from_slice(b"0\r\n\r\n");
    }
    Ok(())
}

/// A stream that first yields bytes already read off it.
pub(crate) struct Prefixed<S> {
    prefix: Bytes,
    inner: S,
}

impl<S> Prefixed<S> {
    pub(crate) fn new(prefix: Bytes, inner: S) -> Self {
        Self { prefix, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let n = this.prefix.len().min(buf.remaining());
        buf.put_slice(&this.prefix[..n]);
        this.prefix.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
