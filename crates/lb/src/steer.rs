//! Kernel forwarding for NLB listeners.
//!
//! A relay in user space costs two copies' worth of CPU per byte even with
//! splice(2), which on a small host is CPU the sender and receiver need
//! (measured: 0.58x of a direct connection). So where it can, the data
//! plane has the kernel forward an NLB listener's new connections: a DNAT
//! by flow hash over the group's eligible targets, the same set the relay
//! picks from. The data plane keeps everything else: health checks decide
//! the set, and whenever health, targets or listeners change the whole set
//! of rules is replaced in one transaction. Established flows keep their
//! target through conntrack, as an NLB's do. The listener stays bound and
//! relays whatever the kernel does not forward: connections made before a
//! rule existed, listeners the [`FlowSteering`] declines, and everything
//! when it fails.

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::health::HealthMap;
use crate::target::TgRuntime;

/// One NLB listener whose new TCP connections should go to one of
/// `targets`, chosen by a hash of the flow's 5-tuple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SteeredListener {
    /// The bound address; an unspecified IP means every local address.
    pub listen: SocketAddrV4,
    /// Never empty; in the order the relay would pick from.
    pub targets: Vec<SocketAddrV4>,
}

/// Has the kernel forward NLB listeners' connections.
pub trait FlowSteering: Send + Sync + std::fmt::Debug {
    /// Makes `wanted` the whole set of forwarded listeners, replacing the
    /// previous set at once; an implementation may leave out listeners it
    /// cannot forward correctly (those stay with the relay). Returns the
    /// listen addresses now forwarded. Blocking.
    fn sync(&self, wanted: &[SteeredListener]) -> Result<Vec<SocketAddrV4>, String>;
}

/// What the data plane serves as NLB listeners, for the steering loop.
#[derive(Clone)]
pub(crate) struct NlbView {
    pub(crate) listen: SocketAddr,
    /// The group the listener forwards to, when it forwards to exactly one.
    pub(crate) group: Option<Arc<TgRuntime>>,
}

/// The listeners that can be forwarded now: IPv4, one group, targets
/// eligible (an empty eligible set leaves the listener to the relay,
/// which closes the connection as an NLB with no targets does).
pub(crate) fn wanted(views: &[NlbView]) -> Vec<SteeredListener> {
    views
        .iter()
        .filter_map(|v| {
            let SocketAddr::V4(listen) = v.listen else {
                return None;
            };
            let group = v.group.as_ref()?;
            let targets: Vec<SocketAddrV4> = TgRuntime::eligible(&group.state.load())
                .into_iter()
                .map(|a| match a {
                    SocketAddr::V4(a) => Some(a),
                    SocketAddr::V6(_) => None,
                })
                .collect::<Option<_>>()?;
            (!targets.is_empty()).then_some(SteeredListener { listen, targets })
        })
        .collect()
}

/// Keeps the kernel's rules equal to what `views` and the targets' health
/// say, until either channel closes. A failed sync is retried every few
/// seconds; meanwhile the relay serves what the old rules do not take.
pub(crate) async fn run(
    steering: Arc<dyn FlowSteering>,
    mut views: watch::Receiver<Arc<[NlbView]>>,
    mut health: watch::Receiver<Arc<HealthMap>>,
) {
    let mut last: Option<Vec<SteeredListener>> = None;
    loop {
        let current = views.borrow_and_update().clone();
        health.borrow_and_update();
        let want = wanted(&current);
        let mut failed = false;
        if last.as_ref() != Some(&want) {
            let s = steering.clone();
            let w = want.clone();
            match tokio::task::spawn_blocking(move || s.sync(&w)).await {
                Ok(Ok(steered)) => {
                    mark(&current, &steered);
                    tracing::debug!(listeners = steered.len(), "kernel forwarding updated");
                    last = Some(want);
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "kernel forwarding not updated; the relay serves NLB listeners");
                    mark(&current, &[]);
                    last = None;
                    failed = true;
                }
                Err(_) => return,
            }
        }
        let retry = async {
            if failed {
                tokio::time::sleep(Duration::from_secs(5)).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            r = views.changed() => if r.is_err() { return },
            r = health.changed() => if r.is_err() { return },
            () = retry => {}
        }
    }
}

/// Tells each group whether the kernel forwards to it, which is what its
/// draining targets go by.
fn mark(views: &[NlbView], steered: &[SocketAddrV4]) {
    for v in views {
        if let Some(g) = &v.group {
            g.set_kernel_steered(false);
        }
    }
    for v in views {
        if let (SocketAddr::V4(listen), Some(g)) = (v.listen, &v.group)
            && steered.contains(&listen)
        {
            g.set_kernel_steered(true);
        }
    }
}
