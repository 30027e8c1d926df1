//! Application Load Balancer listeners: HTTP/1.1 and h2c from clients,
//! rules, and HTTP/1.1 to targets over pooled keep-alive connections.
//! Bodies stream both ways; upgrades (WebSocket) become byte tunnels.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::task::AtomicWaker;
use http::header::{self, HeaderName};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::{Body as _, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

use crate::config::canonical_ip;
use crate::h1client::{self, RawBody};
use crate::h1server::{self, Ended, Prefixed};
use crate::h1wire::has_token;
use crate::io::{Activity, Tracked, idle};
use crate::listener::{Accepted, Phase, reached};
use crate::response::{LbBody, error_page};
use crate::rules::{CompiledAction, RequestView, UrlParts, host_without_port};
use crate::sticky;
use crate::target::{InflightGuard, TgRuntime};
use crate::trace;
use crate::upstream::{self, UpstreamError};

/// One server builder for every connection of every ALB listener.
pub(crate) fn server_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().keep_alive(true);
    // AWS: up to 128 requests in parallel on one HTTP/2 connection.
    builder.http2().max_concurrent_streams(128);
    builder
}

/// What every request on one client connection shares.
pub(crate) struct Conn {
    connect_timeout: Duration,
    slot: Arc<arc_swap::ArcSwap<crate::rules::CompiledListener>>,
    peer_ip: HeaderValue,
    source: std::net::IpAddr,
    local_port: u16,
    port_header: HeaderValue,
    /// The listener is HTTPS: `X-Forwarded-Proto` and `#{protocol}`.
    https: bool,
    activity: Arc<Activity>,
    /// For tunnels, which outlive the HTTP connection task.
    phase: tokio::sync::watch::Receiver<Phase>,
}

pub(crate) fn serve(
    accepted: Accepted,
    connect_timeout: Duration,
    builder: Arc<auto::Builder<TokioExecutor>>,
) {
    tokio::spawn(async move {
        let Accepted {
            stream,
            peer,
            local,
            slot,
            phase,
            guard: _guard,
        } = accepted;
        let activity = Arc::new(Activity::default());
        let source = canonical_ip(peer.ip());
        let tls = slot.load().tls.clone();
        let conn = Arc::new(Conn {
            connect_timeout,
            slot: slot.clone(),
            peer_ip: HeaderValue::from_str(&source.to_string())
                .unwrap_or(HeaderValue::from_static("0.0.0.0")),
            source,
            local_port: local.port(),
            port_header: HeaderValue::from(local.port()),
            https: tls.is_some(),
            activity: activity.clone(),
            phase: phase.clone(),
        });
        let watch = Watch {
            activity,
            slot,
            phase,
        };
        match tls {
            None => drive(stream, true, conn, builder, watch, peer).await,
            Some(config) => {
                let handshake = tokio::time::timeout(
                    TLS_HANDSHAKE_TIMEOUT,
                    tokio_rustls::TlsAcceptor::from(config).accept(stream),
                )
                .await;
                match handshake {
                    Ok(Ok(tls)) => {
                        // HTTP/2 (by ALPN) is hyper's; HTTP/1.x takes the fast path.
                        let h1 = tls.get_ref().1.alpn_protocol() != Some(b"h2");
                        drive(tls, h1, conn, builder, watch, peer).await;
                    }
                    Ok(Err(e)) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            }
        }
    });
}

/// How long a client has to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connection's watchdog watches.
struct Watch {
    activity: Arc<Activity>,
    slot: Arc<arc_swap::ArcSwap<crate::rules::CompiledListener>>,
    phase: tokio::sync::watch::Receiver<Phase>,
}

/// Serves HTTP on one client connection (plain or TLS) until it ends:
/// HTTP/1.x requests without a body on the fast path ([`h1server`]) while
/// `h1` and they come, then hyper for the rest of the connection.
async fn drive<S>(
    stream: S,
    h1: bool,
    conn: Arc<Conn>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    watch: Watch,
    peer: std::net::SocketAddr,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // The idle timer and the listener's phase live in a watchdog task,
    // so waking this task for a request polls nothing but the
    // connection and one atomic waker.
    let control = Arc::new(Control::default());
    let Watch {
        activity,
        slot,
        phase,
    } = watch;
    let watchdog = tokio::spawn(watch_connection(
        control.clone(),
        activity.clone(),
        slot,
        phase,
    ));
    let mut seen = Control::NONE;
    let stream = Tracked::new(stream, activity);
    let io = if h1 {
        match h1server::serve(stream, &conn, &control, &mut seen).await {
            Ended::Closed => {
                watchdog.abort();
                return;
            }
            Ended::Handoff(io) => io,
        }
    } else {
        Prefixed::new(Bytes::new(), stream)
    };
    {
        let io = TokioIo::new(io);
        let service = service_fn(move |req| handle(conn.clone(), req));
        let connection = builder.serve_connection_with_upgrades(io, service);
        tokio::pin!(connection);
        if seen != Control::NONE {
            connection.as_mut().graceful_shutdown();
        }
        loop {
            tokio::select! {
                biased;
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::trace!(error = %e, %peer, "client connection ended");
                    }
                    break;
                }
                event = std::future::poll_fn(|cx| control.poll(cx, seen)) => {
                    seen = event;
                    if event == Control::CLOSE {
                        break;
                    }
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
    watchdog.abort();
}

/// What a connection's watchdog tells the connection: finish and close
/// (the listener is draining), or close now (idle, or the listener is
/// closed).
#[derive(Default)]
pub(crate) struct Control {
    event: AtomicU8,
    waker: AtomicWaker,
}

impl Control {
    pub(crate) const NONE: u8 = 0;
    pub(crate) const DRAIN: u8 = 1;
    pub(crate) const CLOSE: u8 = 2;

    fn raise(&self, event: u8) {
        self.event.fetch_max(event, Ordering::AcqRel);
        self.waker.wake();
    }

    /// Ready with the latest event once it is newer than `seen`.
    pub(crate) fn poll(&self, cx: &mut std::task::Context<'_>, seen: u8) -> std::task::Poll<u8> {
        self.waker.register(cx.waker());
        match self.event.load(Ordering::Acquire) {
            event if event > seen => std::task::Poll::Ready(event),
            _ => std::task::Poll::Pending,
        }
    }
}

async fn watch_connection(
    control: Arc<Control>,
    activity: Arc<Activity>,
    slot: Arc<arc_swap::ArcSwap<crate::rules::CompiledListener>>,
    mut phase: tokio::sync::watch::Receiver<Phase>,
) {
    let idle_timeout = || slot.load().idle_timeout;
    tokio::select! {
        () = idle(&activity, idle_timeout) => {}
        () = reached(&mut phase, Phase::Draining) => {
            control.raise(Control::DRAIN);
            tokio::select! {
                () = idle(&activity, idle_timeout) => {}
                () = reached(&mut phase, Phase::Closed) => {}
            }
        }
    }
    control.raise(Control::CLOSE);
}

/// The route decision, taken without holding any guard across an await.
enum Decision {
    Respond(Response<LbBody>),
    Forward(Forward),
}

/// Where a request goes and what its response gets.
struct Forward {
    guard: InflightGuard,
    cookies: Cookies,
    idle_timeout: Duration,
}

async fn handle(
    conn: Arc<Conn>,
    mut req: Request<Incoming>,
) -> Result<Response<LbBody>, Infallible> {
    if req.method() == Method::CONNECT {
        // ALB does not tunnel CONNECT.
        return Ok(error_page(StatusCode::METHOD_NOT_ALLOWED));
    }
    let upgrade = is_upgrade(&req);
    if !upgrade && req.body().is_end_stream() {
        let (parts, _) = req.into_parts();
        return Ok(respond_bodiless(&conn, parts).await);
    }
    let Forward {
        guard,
        cookies,
        idle_timeout,
    } = match decide(&conn, req.method(), req.uri(), req.headers()) {
        Decision::Respond(response) => return Ok(response),
        Decision::Forward(forward) => forward,
    };

    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    rewrite_request(&mut parts, &conn, guard.target().addr, upgrade);

    let upstream = Request::from_parts(parts, body);
    let sent = upstream::send(guard.target(), upstream, conn.connect_timeout, upgrade);
    let mut response = match tokio::time::timeout(idle_timeout, sent).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => return Ok(failed(&guard, &e)),
        Err(_) => return Ok(error_page(StatusCode::GATEWAY_TIMEOUT)),
    };
    if let Some(client_upgrade) = client_upgrade
        && response.status() == StatusCode::SWITCHING_PROTOCOLS
    {
        let target_upgrade = hyper::upgrade::on(&mut response);
        let (parts, _) = response.into_parts();
        tokio::spawn(tunnel(client_upgrade, target_upgrade, guard, conn.clone()));
        return Ok(Response::from_parts(parts, LbBody::empty()));
    }
    let (mut parts, body) = response.into_parts();
    finish_response(&mut parts.headers, cookies);
    Ok(Response::from_parts(parts, LbBody::proxied(body, guard)))
}

/// Routes and answers a request that has no body and is no upgrade: on
/// the target's response head, with its body still to be read, or with a
/// response of the load balancer's own.
pub(crate) async fn respond_bodiless(
    conn: &Conn,
    mut parts: http::request::Parts,
) -> Response<LbBody> {
    let Forward {
        guard,
        cookies,
        idle_timeout,
    } = match decide(conn, &parts.method, &parts.uri, &parts.headers) {
        Decision::Respond(response) => return response,
        Decision::Forward(forward) => forward,
    };
    rewrite_request(&mut parts, conn, guard.target().addr, false);
    // Requests made ready in this turn of the event loop go upstream
    // together, after the next poll for I/O: a target asleep in
    // epoll_wait is woken once for several requests, not once each.
    tokio::task::yield_now().await;
    let sent = h1client::send(guard.target(), &parts, conn.connect_timeout);
    match tokio::time::timeout(idle_timeout, sent).await {
        Ok(Ok((head, raw))) => {
            let body = RawBody::new(&head, raw, guard);
            let mut parts = head.parts;
            finish_response(&mut parts.headers, cookies);
            Response::from_parts(parts, LbBody::Raw(body))
        }
        Ok(Err(e)) => failed(&guard, &e),
        Err(_) => error_page(StatusCode::GATEWAY_TIMEOUT),
    }
}

type Cookies = (Option<(u64, Duration)>, Option<(u64, Duration)>);

fn finish_response(headers: &mut HeaderMap, (target_cookie, group_cookie): Cookies) {
    strip_hop_by_hop(headers);
    if let Some((token, duration)) = target_cookie {
        sticky::set(headers, sticky::TARGET, token, duration);
    }
    if let Some((token, duration)) = group_cookie {
        sticky::set(headers, sticky::GROUP, token, duration);
    }
}

/// AWS: 504 when the target could not be reached in time, 502 for
/// refusals, resets and malformed responses.
fn failed(guard: &InflightGuard, e: &UpstreamError) -> Response<LbBody> {
    let status = match e {
        UpstreamError::ConnectTimeout => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    };
    tracing::debug!(target = %guard.target().addr, error = %e, %status, "target request failed");
    error_page(status)
}

fn decide(conn: &Conn, method: &Method, uri: &Uri, headers: &HeaderMap) -> Decision {
    let listener = conn.slot.load();
    let authority = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or("");
    let host = host_without_port(authority);
    let view = RequestView {
        method,
        host,
        path: uri.path(),
        query: uri.query(),
        headers,
        source: conn.source,
    };
    let forward = match listener.route(&view) {
        CompiledAction::Fixed(fixed) => return Decision::Respond(fixed.respond()),
        CompiledAction::Redirect(redirect) => {
            return Decision::Respond(redirect.respond(&UrlParts {
                protocol: if conn.https { "HTTPS" } else { "HTTP" },
                host,
                port: conn.local_port,
                path: view.path,
                query: view.query.unwrap_or(""),
            }));
        }
        CompiledAction::Forward(forward) => forward,
    };
    let random = trace::random_u64();
    let sticky_group = forward
        .stickiness
        .and_then(|_| sticky::find(headers, sticky::GROUP));
    let Some(group) = forward.choose(random, sticky_group) else {
        return Decision::Respond(error_page(StatusCode::SERVICE_UNAVAILABLE));
    };
    let state = group.state.load();
    let sticky_target = state
        .stickiness
        .and_then(|_| sticky::find(headers, sticky::TARGET))
        .and_then(|token| TgRuntime::find_sticky(&state, token));
    let Some(target) = sticky_target.or_else(|| group.pick(&state, random >> 7)) else {
        return Decision::Respond(error_page(StatusCode::SERVICE_UNAVAILABLE));
    };
    Decision::Forward(Forward {
        cookies: (
            state.stickiness.map(|d| (target.sticky_token, d)),
            forward.stickiness.map(|d| (group.sticky_token, d)),
        ),
        guard: InflightGuard::new(target),
        idle_timeout: listener.idle_timeout,
    })
}

fn is_upgrade<B>(req: &Request<B>) -> bool {
    req.version() == Version::HTTP_11
        && req.headers().contains_key(header::UPGRADE)
        && has_token(req.headers(), &header::CONNECTION, "upgrade")
}

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Removes headers that describe one hop, including any the `Connection`
/// header names. The server and client encode framing themselves.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over a handful of names finds what is there; a hash lookup
    // per hop-by-hop name would cost more, and usually only `Connection:
    // keep-alive` is.
    let mut found = [false; 7];
    let mut any = false;
    for name in headers.keys() {
        let slot = if name == header::CONNECTION {
            0
        } else if name == header::TE {
            1
        } else if name == header::TRAILER {
            2
        } else if name == header::TRANSFER_ENCODING {
            3
        } else if name == header::UPGRADE {
            4
        } else if name.as_str() == "keep-alive" {
            5
        } else if name.as_str() == "proxy-connection" {
            6
        } else {
            continue;
        };
        found[slot] = true;
        any = true;
    }
    if !any {
        return;
    }
    if found[0] {
        let mut named = Vec::new();
        for value in headers.get_all(header::CONNECTION) {
            for token in value.to_str().unwrap_or("").split(',').map(str::trim) {
                let standard = token.is_empty()
                    || token.eq_ignore_ascii_case("keep-alive")
                    || token.eq_ignore_ascii_case("close")
                    || token.eq_ignore_ascii_case("upgrade");
                if !standard && let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
                    named.push(name);
                }
            }
        }
        for name in named {
            headers.remove(name);
        }
    }
    let names = [
        header::CONNECTION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        KEEP_ALIVE,
        PROXY_CONNECTION,
    ];
    for (name, present) in names.into_iter().zip(found) {
        if present {
            headers.remove(name);
        }
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_AMZN_TRACE_ID: HeaderName = HeaderName::from_static("x-amzn-trace-id");

fn rewrite_request(
    parts: &mut http::request::Parts,
    conn: &Conn,
    target: SocketAddr,
    upgrade: bool,
) {
    // HTTP/2 requests carry the host in :authority only; HTTP/1.0 ones may
    // carry none, and HTTP/1.1 to the target needs one.
    if !parts.headers.contains_key(header::HOST) {
        let host = match parts.uri.authority() {
            Some(authority) => HeaderValue::from_str(authority.as_str()).ok(),
            None => HeaderValue::from_str(&target.to_string()).ok(),
        };
        if let Some(host) = host {
            parts.headers.insert(header::HOST, host);
        }
    }
    // Origin form: the connection already goes to the target.
    if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
        let path = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        parts.uri = Uri::from(path);
    }
    parts.version = Version::HTTP_11;

    let upgrade_value = if upgrade {
        parts.headers.get(header::UPGRADE).cloned()
    } else {
        None
    };
    strip_hop_by_hop(&mut parts.headers);
    if let Some(value) = upgrade_value {
        parts.headers.insert(header::UPGRADE, value);
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }

    let headers = &mut parts.headers;
    // Room for the four headers added below, so the map grows once.
    headers.reserve(4);
    let xff = match headers.get(&X_FORWARDED_FOR) {
        None => conn.peer_ip.clone(),
        Some(_) => {
            let mut joined = Vec::with_capacity(64);
            for value in headers.get_all(&X_FORWARDED_FOR) {
                joined.extend_from_slice(value.as_bytes());
                joined.extend_from_slice(b", ");
            }
            joined.extend_from_slice(conn.peer_ip.as_bytes());
            HeaderValue::from_bytes(&joined).unwrap_or_else(|_| conn.peer_ip.clone())
        }
    };
    headers.insert(X_FORWARDED_FOR, xff);
    headers.insert(
        X_FORWARDED_PROTO,
        HeaderValue::from_static(if conn.https { "https" } else { "http" }),
    );
    headers.insert(X_FORWARDED_PORT, conn.port_header.clone());
    let trace = trace::trace_id(headers.get(&X_AMZN_TRACE_ID), trace::epoch_secs());
    headers.insert(X_AMZN_TRACE_ID, trace);
}

/// Copies bytes both ways once both sides have switched protocols. The
/// in-flight guard lives as long as the tunnel, so a draining target
/// keeps its WebSocket connections until they end.
async fn tunnel(
    client: hyper::upgrade::OnUpgrade,
    target: hyper::upgrade::OnUpgrade,
    guard: InflightGuard,
    conn: Arc<Conn>,
) {
    let (client, target) = match tokio::try_join!(client, target) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::debug!(error = %e, "upgrade failed");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut target = TokioIo::new(target);
    let mut phase = conn.phase.clone();
    tokio::select! {
        result = tokio::io::copy_bidirectional(&mut client, &mut target) => {
            if let Err(e) = result {
                tracing::trace!(error = %e, "tunnel ended");
            }
        }
        () = idle(&conn.activity, || conn.slot.load().idle_timeout) => {}
        () = reached(&mut phase, Phase::Closed) => {}
    }
    drop(guard);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn upgrade_needs_both_headers() {
        let req = Request::get("/")
            .header(header::CONNECTION, "keep-alive, Upgrade")
            .header(header::UPGRADE, "websocket")
            .body(())
            .expect("request");
        assert!(is_upgrade(&req));
        let plain = Request::get("/")
            .header(header::UPGRADE, "websocket")
            .body(())
            .expect("request");
        assert!(!is_upgrade(&plain));
    }
}
