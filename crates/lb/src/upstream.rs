//! HTTP/1.1 connections to targets, pooled per target.
//!
//! Each target keeps a stack of idle keep-alive connections. A connection
//! goes back on the stack as soon as the response head arrives; it is
//! taken again only once hyper reports it ready, i.e. after the previous
//! response body has been read, so a slow download never holds up another
//! request. This replaces hyper-util's pooled client, whose per-request
//! task, boxed future and keyed pool lookup cost a fifth of the proxy's
//! user-space time.

use std::io;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::target::TargetRuntime;

/// Idle connections kept per target; more are closed when returned.
const MAX_IDLE: usize = 512;

#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<Vec<SendRequest<Incoming>>>,
}

impl Pool {
    /// A ready idle connection, dropping closed ones on the way.
    fn checkout(&self) -> Option<SendRequest<Incoming>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let mut i = idle.len();
        while i > 0 {
            i -= 1;
            if idle[i].is_closed() {
                idle.swap_remove(i);
            } else if idle[i].is_ready() {
                return Some(idle.swap_remove(i));
            }
        }
        None
    }

    pub(crate) fn sweep(&self) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|s| !s.is_closed());
    }

    fn checkin(&self, sender: SendRequest<Incoming>) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(sender);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    #[error("connect to target: {0}")]
    Connect(#[source] io::Error),
    #[error("connect to target timed out")]
    ConnectTimeout,
    #[error("target connection: {0}")]
    Http(#[source] hyper::Error),
    #[error("target connection: {0}")]
    Io(#[source] io::Error),
    #[error("malformed response from target: {0}")]
    Malformed(String),
}

async fn connect(
    target: &TargetRuntime,
    timeout: Duration,
) -> Result<SendRequest<Incoming>, UpstreamError> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(target.addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) if e.kind() == io::ErrorKind::TimedOut => {
            return Err(UpstreamError::ConnectTimeout);
        }
        Ok(Err(e)) => return Err(UpstreamError::Connect(e)),
        Err(_) => return Err(UpstreamError::ConnectTimeout),
    };
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(UpstreamError::Http)?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::trace!(error = %e, "target connection ended");
        }
    });
    Ok(sender)
}

/// Sends `req` to `target` on a pooled connection, or a new one. A pooled
/// connection the target closed before the request went out is retried
/// once on a fresh connection, as the request was never seen.
pub(crate) async fn send(
    target: &TargetRuntime,
    mut req: Request<Incoming>,
    connect_timeout: Duration,
    upgrade: bool,
) -> Result<Response<Incoming>, UpstreamError> {
    loop {
        let (mut sender, pooled) = match target.pool.checkout() {
            Some(sender) => (sender, true),
            None => (connect(target, connect_timeout).await?, false),
        };
        match sender.try_send_request(req).await {
            Ok(response) => {
                // An upgraded connection leaves HTTP for good.
                if !upgrade {
                    target.pool.checkin(sender);
                }
                return Ok(response);
            }
            Err(mut e) => match e.take_message() {
                Some(unsent) if pooled => req = unsent,
                _ => return Err(UpstreamError::Http(e.into_error())),
            },
        }
    }
}
