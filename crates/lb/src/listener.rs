//! What ALB and NLB listeners share: binding, the accept loop, the
//! listener's life phases and the count of its open connections.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::rules::CompiledListener;

/// A listener's life. Connections watch it: on `Draining` they finish the
/// request in progress and close; on `Closed` they are dropped at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    Draining,
    Closed,
}

/// Open connections of one listener, so shutdown can wait for them.
#[derive(Default)]
pub(crate) struct ConnCount {
    open: AtomicUsize,
    zero: Notify,
}

pub(crate) struct ConnGuard(Arc<ConnCount>);

impl ConnCount {
    pub(crate) fn enter(self: &Arc<Self>) -> ConnGuard {
        self.open.fetch_add(1, Ordering::AcqRel);
        ConnGuard(self.clone())
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire) > 0
    }

    pub(crate) async fn wait_zero(&self) {
        loop {
            let notified = self.zero.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.open.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.zero.notify_waiters();
        }
    }
}

/// Binds with `SO_REUSEADDR` so a listener re-created on the same port
/// (a changed listener, a restart) does not trip over TIME_WAIT.
pub(crate) fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Everything about an accepted connection the protocol handler needs.
pub(crate) struct Accepted {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) slot: Arc<ArcSwap<CompiledListener>>,
    pub(crate) phase: watch::Receiver<Phase>,
    pub(crate) guard: ConnGuard,
}

/// Accepts until the phase leaves `Running`, then drops the socket so the
/// port is free again when this task ends.
pub(crate) fn spawn_accept_loop<F>(
    listener: TcpListener,
    slot: Arc<ArcSwap<CompiledListener>>,
    mut phase: watch::Receiver<Phase>,
    conns: Arc<ConnCount>,
    serve: F,
) -> JoinHandle<()>
where
    F: Fn(Accepted) + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                changed = phase.changed() => {
                    if changed.is_err() || *phase.borrow() != Phase::Running {
                        break;
                    }
                }
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let local = stream.local_addr().unwrap_or(peer);
                        let _ = stream.set_nodelay(true);
                        serve(Accepted {
                            stream,
                            peer,
                            local,
                            slot: slot.clone(),
                            phase: phase.clone(),
                            guard: conns.enter(),
                        });
                    }
                    Err(e) => {
                        // Out of descriptors and the like: back off rather
                        // than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                },
            }
        }
    })
}

/// Resolves when the phase reaches at least `wanted`.
pub(crate) async fn reached(phase: &mut watch::Receiver<Phase>, wanted: Phase) {
    let rank = |p: Phase| match p {
        Phase::Running => 0,
        Phase::Draining => 1,
        Phase::Closed => 2,
    };
    // An error means the data plane is gone, which ends everything too.
    let _ = phase.wait_for(|p| rank(*p) >= rank(wanted)).await;
}
