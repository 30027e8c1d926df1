use super::*;
use http::HeaderValue;

fn buf(s: &str) -> BytesMut {
    BytesMut::from(s.as_bytes())
}

#[test]
fn parses_head_and_keeps_the_body_bytes() {
    let mut b = buf("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nX-A: 2\r\n\r\nhello");
    let head = parse_head(&mut b, false)
        .ok()
        .flatten()
        .expect("complete head");
    assert_eq!(head.parts.status, 200);
    assert_eq!(head.parts.headers.get_all("x-a").iter().count(), 2);
    assert_eq!(head.framing, Framing::Length(5));
    assert!(head.keep_alive);
    assert_eq!(&b[..], b"hello");
}

#[test]
fn partial_heads_wait_and_interim_responses_are_skipped() {
    let mut b = buf("HTTP/1.1 200 OK\r\nContent-Le");
    assert!(parse_head(&mut b, false).ok().flatten().is_none());
    let mut b = buf("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");
    let head = parse_head(&mut b, false)
        .ok()
        .flatten()
        .expect("complete head");
    assert_eq!(head.parts.status, 204);
    assert_eq!(head.framing, Framing::Done);
    assert!(parse_head(&mut buf("garbage\r\n\r\n"), false).is_err());
}

#[test]
fn framing_and_keep_alive_rules() {
    let head = |s: &str, head_request: bool| {
        parse_head(&mut buf(s), head_request)
            .ok()
            .flatten()
            .expect("head")
    };
    let h = head(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        false,
    );
    assert_eq!(h.framing, Framing::Chunked(Chunk::Size));
    let h = head("HTTP/1.1 200 OK\r\n\r\n", false);
    assert_eq!(h.framing, Framing::Close);
    assert!(!h.keep_alive);
    let h = head("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true);
    assert_eq!(h.framing, Framing::Done);
    let h = head(
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n",
        false,
    );
    assert!(!h.keep_alive);
    let h = head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false);
    assert!(!h.keep_alive);
    let h = head(
        "HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n",
        false,
    );
    assert!(h.keep_alive);
    assert!(
        parse_head(
            &mut buf("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            false
        )
        .is_err()
    );
}

#[test]
fn chunk_steps() -> io::Result<()> {
    let mut b = buf("1a;ext=1\r\n");
    assert_eq!(
        step_chunk(&mut b, Chunk::Size)?,
        Some(Framing::Chunked(Chunk::Data(26)))
    );
    assert!(b.is_empty());
    let mut b = buf("\r\n0\r\nX-T: 1\r\n\r\n");
    assert_eq!(
        step_chunk(&mut b, Chunk::DataEnd)?,
        Some(Framing::Chunked(Chunk::Size))
    );
    assert_eq!(
        step_chunk(&mut b, Chunk::Size)?,
        Some(Framing::Chunked(Chunk::Trailers))
    );
    assert_eq!(
        step_chunk(&mut b, Chunk::Trailers)?,
        Some(Framing::Chunked(Chunk::Trailers))
    );
    assert_eq!(step_chunk(&mut b, Chunk::Trailers)?, Some(Framing::Done));
    assert_eq!(step_chunk(&mut buf("1"), Chunk::Size)?, None);
    assert!(step_chunk(&mut buf("zz\r\n"), Chunk::Size).is_err());
    assert!(step_chunk(&mut buf("xx"), Chunk::DataEnd).is_err());
    Ok(())
}

#[test]
fn encodes_origin_form_with_headers() {
    let (mut parts, ()) = http::Request::get("/a?b=1")
        .body(())
        .expect("request")
        .into_parts();
    parts
        .headers
        .insert(header::HOST, HeaderValue::from_static("example.com"));
    let mut out = Vec::new();
    encode(&parts, &mut out);
    assert_eq!(out, b"GET /a?b=1 HTTP/1.1\r\nhost: example.com\r\n\r\n");
}

#[test]
fn chunked_wins_over_content_length() {
    let mut b = buf("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
    let head = parse_head(&mut b, false).ok().flatten().expect("head");
    assert_eq!(head.framing, Framing::Chunked(Chunk::Size));
    assert!(!head.parts.headers.contains_key(header::CONTENT_LENGTH));
}
