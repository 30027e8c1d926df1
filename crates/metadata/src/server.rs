//! The HTTP/1.1 server: decodes a request into an [`Endpoint`], answers it
//! on a blocking thread, writes the reply.

use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::answer::{Reply, answer};
use crate::route::{Endpoint, route};
use crate::source::MetadataSource;

/// A client that has not sent its request headers by then is dropped.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long requests in flight may take to finish once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Pause after a failed accept (out of file descriptors, say), so the loop
/// does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Source calls in flight at once. Stats reads do I/O on blocking threads;
/// a container hammering the endpoint must not take all of them.
const MAX_CONCURRENT_LOOKUPS: usize = 32;

/// Serves the task metadata (v3, v4) and credentials (v1, v2) endpoints
/// on `listener` until `shutdown` resolves, then lets requests in flight
/// finish (for a few seconds at most) and returns.
///
/// The caller's address, which decides whose credentials it may read, is
/// the connection's source address: the listener must see containers'
/// own addresses (a DNAT to it keeps them; a proxy would not).
pub async fn serve(
    listener: TcpListener,
    source: Arc<dyn MetadataSource>,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    let lookups = Arc::new(Semaphore::new(MAX_CONCURRENT_LOOKUPS));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "metadata endpoint: accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let peer = peer.ip().to_canonical();
        let source = Arc::clone(&source);
        let lookups = Arc::clone(&lookups);
        let service =
            service_fn(move |req| handle(Arc::clone(&source), Arc::clone(&lookups), peer, req));
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "metadata endpoint: connection ended");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("metadata endpoint: requests still running at shutdown were cut off");
    }
}

async fn handle(
    source: Arc<dyn MetadataSource>,
    lookups: Arc<Semaphore>,
    peer: IpAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let Some(endpoint) = route(req.uri().path(), req.uri().query()) else {
        return Ok(text(StatusCode::NOT_FOUND, "404 page not found\n"));
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(r);
    }
    Ok(match lookup(source, lookups, endpoint, peer).await {
        Some(reply) => json(reply),
        None => text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"),
    })
}

/// The reply, or `None` if the source panicked.
async fn lookup(
    source: Arc<dyn MetadataSource>,
    lookups: Arc<Semaphore>,
    endpoint: Endpoint,
    peer: IpAddr,
) -> Option<Reply> {
    // The semaphore is never closed.
    let _permit = lookups.acquire_owned().await.ok()?;
    match tokio::task::spawn_blocking(move || answer(&*source, &endpoint, peer)).await {
        Ok(reply) => Some(reply),
        Err(e) => {
            tracing::error!(error = %e, "metadata endpoint: metadata source failed");
            None
        }
    }
}

fn json(reply: Reply) -> Response<Full<Bytes>> {
    // The agent answers `{}` with a 500 when marshalling fails; a Value
    // always serialises, but keep the same fallback.
    let (status, body) = match serde_json::to_vec(&reply.body) {
        Ok(b) => (reply.status, b),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, b"{}".to_vec()),
    };
    response(status, "application/json", Bytes::from(body))
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = response(
        status,
        "text/plain; charset=utf-8",
        Bytes::from_static(body.as_bytes()),
    );
    r.headers_mut()
        .insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

fn response(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

#[cfg(test)]
mod tests;
