//! HTTP/1.1 wire pieces both hand-written paths share: the client side
//! ([`crate::h1server`]) and the target side ([`crate::h1client`]).

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode, Version};
use tokio::io::{AsyncRead, ReadBuf};

/// Heads with more headers than this are not parsed (hyper's limit too).
pub(crate) const MAX_HEADERS: usize = 100;

/// Where one header's name and value lie in a head, as offsets, so the
/// header map can share the head's bytes once the parser lets go of them.
#[derive(Clone, Copy, Default)]
pub(crate) struct Span {
    name: (u32, u32),
    value: (u32, u32),
}

/// The spans of `headers`, which httparse parsed out of the buffer that
/// starts at `base`.
pub(crate) fn spans(
    base: *const u8,
    headers: &[httparse::Header<'_>],
    out: &mut [Span; MAX_HEADERS],
) -> usize {
    let offset = |p: *const u8| (p as usize - base as usize) as u32;
    for (span, h) in out.iter_mut().zip(headers) {
        let name = offset(h.name.as_ptr());
        let value = offset(h.value.as_ptr());
        *span = Span {
            name: (name, name + h.name.len() as u32),
            value: (value, value + h.value.len() as u32),
        };
    }
    headers.len().min(MAX_HEADERS)
}

/// The header map of a parsed head, its values sharing `head`'s bytes;
/// room is left for `extra` more headers. `None` when a name or value is
/// not valid.
pub(crate) fn header_map(head: &Bytes, spans: &[Span], extra: usize) -> Option<HeaderMap> {
    let mut map = HeaderMap::with_capacity(spans.len() + extra);
    for span in spans {
        let (ns, ne) = (span.name.0 as usize, span.name.1 as usize);
        let (vs, ve) = (span.value.0 as usize, span.value.1 as usize);
        let name = HeaderName::from_bytes(&head[ns..ne]).ok()?;
        let value = HeaderValue::from_maybe_shared(head.slice(vs..ve)).ok()?;
        map.append(name, value);
    }
    Some(map)
}

/// Reads more into `buf`, making room for `reserve` bytes when little is
/// left; the number of bytes read, 0 at end of stream.
pub(crate) fn poll_fill<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    reserve: usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    if buf.capacity() - buf.len() < reserve / 4 {
        buf.reserve(reserve);
    }
    let mut read = ReadBuf::uninit(buf.spare_capacity_mut());
    ready!(Pin::new(io).poll_read(cx, &mut read))?;
    let n = read.filled().len();
    // SAFETY: poll_read initialised the first n bytes of the spare capacity
    // (ReadBuf tracks exactly what was written), so they may join the
    // buffer's contents.
    unsafe { buf.set_len(buf.len() + n) };
    Poll::Ready(Ok(n))
}

/// Whether a comma-separated header (`Connection`) names `token`.
pub(crate) fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The `Date` header's value for now, formatted once a second per thread.
pub(crate) fn date() -> HeaderValue {
    thread_local! {
        static CACHE: RefCell<(u64, HeaderValue)> =
            const { RefCell::new((u64::MAX, HeaderValue::from_static(""))) };
    }
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with_borrow_mut(|(at, value)| {
        if *at != secs {
            *value = HeaderValue::from_str(&httpdate::fmt_http_date(now))
                .unwrap_or(HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"));
            *at = secs;
        }
        value.clone()
    })
}

/// Writes a response's status line and headers.
pub(crate) fn encode_response_head(
    version: Version,
    status: StatusCode,
    headers: &HeaderMap,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(if version == Version::HTTP_10 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
    encode_headers(headers, out);
}

/// Writes header lines and the blank line that ends a head.
pub(crate) fn encode_headers(headers: &HeaderMap, out: &mut Vec<u8>) {
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_become_a_shared_header_map() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-Two: 1\r\nX-Two: 2\r\n\r\n";
        let mut storage = [httparse::EMPTY_HEADER; 8];
        let mut req = httparse::Request::new(&mut storage);
        let len = match req.parse(raw) {
            Ok(httparse::Status::Complete(len)) => len,
            other => panic!("parse: {other:?}"),
        };
        let mut out = [Span::default(); MAX_HEADERS];
        let n = spans(raw.as_ptr(), req.headers, &mut out);
        let head = Bytes::copy_from_slice(&raw[..len]);
        let map = header_map(&head, &out[..n], 0).expect("valid headers");
        assert_eq!(map["host"], "a");
        let twos: Vec<_> = map.get_all("x-two").iter().collect();
        assert_eq!(twos, ["1", "2"]);
        assert!(!has_token(&map, &http::header::CONNECTION, "close"));
    }

    #[test]
    fn response_heads_are_http_1_1_unless_asked_for_1_0() {
        let mut headers = HeaderMap::new();
        headers.insert("content-length", HeaderValue::from_static("2"));
        let mut out = Vec::new();
        encode_response_head(Version::HTTP_11, StatusCode::NOT_FOUND, &headers, &mut out);
        assert_eq!(out, b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n");
        out.clear();
        encode_response_head(
            Version::HTTP_10,
            StatusCode::OK,
            &HeaderMap::new(),
            &mut out,
        );
        assert_eq!(out, b"HTTP/1.0 200 OK\r\n\r\n");
        let date = date();
        assert!(date.to_str().is_ok_and(|d| d.ends_with(" GMT")), "{date:?}");
    }
}
