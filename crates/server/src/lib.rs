//! `dockyard server`'s HTTP listener: one port for every AWS API and the
//! OCI registry, HTTP/1.1 and h2c, with graceful shutdown.
//!
//! The listener only routes: `/_dockyard/...` to its own endpoints, and
//! every other request to the [`Handler`] the binary wires in (the AWS
//! front door and the registry). It knows no service.

pub mod app;
pub mod usage;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// The response body type every handler returns.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// A boxed future of a response.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

/// Serves the requests the listener does not answer itself.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: Request<Incoming>) -> ResponseFuture;
}

/// A body from bytes.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A bound listener, ready to serve.
pub struct Listener {
    listener: TcpListener,
    handler: Arc<dyn Handler>,
}

impl Listener {
    pub async fn bind(addr: SocketAddr, handler: Arc<dyn Handler>) -> Result<Self, ServerError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        Ok(Self { listener, handler })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting and waits
    /// up to `grace` for requests in flight.
    pub async fn serve(self, shutdown: impl Future<Output = ()>, grace: Duration) {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let builder = auto::Builder::new(TokioExecutor::new());
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (stream, _) = match accepted {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let handler = self.handler.clone();
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let handler = handler.clone();
                        async move { Ok::<_, Infallible>(route(handler.as_ref(), req).await) }
                    });
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    let conn = graceful.watch(conn.into_owned());
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                }
                _ = &mut shutdown => break,
            }
        }
        drop(self.listener);
        let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
    }
}

async fn route(handler: &dyn Handler, req: Request<Incoming>) -> Response<Body> {
    if req.uri().path() == "/_dockyard/health" {
        return json(StatusCode::OK, r#"{"status":"ok"}"#);
    }
    handler.handle(req).await
}

/// A JSON response.
pub fn json(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(full(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;
    impl Handler for Echo {
        fn handle(&self, req: Request<Incoming>) -> ResponseFuture {
            let path = req.uri().path().to_string();
            Box::pin(
                async move { json(StatusCode::IM_A_TEAPOT, &format!("{{\"path\":\"{path}\"}}")) },
            )
        }
    }

    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        let status = out[9..12].parse().expect("status");
        let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (status, body)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn routes_health_and_delegates_the_rest_then_shuts_down() {
        let l = Listener::bind("127.0.0.1:0".parse().expect("addr"), Arc::new(Echo))
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(l.serve(
            async {
                let _ = rx.await;
            },
            Duration::from_secs(1),
        ));
        assert_eq!(
            get(addr, "/_dockyard/health").await,
            (200, r#"{"status":"ok"}"#.to_string())
        );
        assert_eq!(
            get(addr, "/v2/").await,
            (418, r#"{"path":"/v2/"}"#.to_string())
        );
        tx.send(()).expect("shutdown");
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("stops")
            .expect("no panic");
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "still listening after shutdown"
        );
    }
}
