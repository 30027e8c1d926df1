//! The loop that keeps the data plane serving what the API recorded.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use dockyard_lb::{DataPlane, DataPlaneOptions, FlowSteering, LbConfig, ListenerCertificate};
use dockyard_store::{Store, StoreExt};

use crate::health::SharedHealth;
use crate::translate::{Translation, translate};

/// How often registrations whose draining ended are forgotten when
/// nothing else writes.
const PURGE_INTERVAL: Duration = Duration::from_secs(5);

/// The node addresses of container instances, by `ec2InstanceId`: where
/// `instance` targets are sent.
pub fn instance_addresses(store: &dyn Store) -> Result<BTreeMap<String, IpAddr>, String> {
    let mut out = BTreeMap::new();
    for kv in store
        .list(dockyard_ecs::model::INSTANCES)
        .map_err(|e| e.to_string())?
    {
        let Ok(i) = serde_json::from_slice::<dockyard_ecs::model::Instance>(&kv.value) else {
            continue;
        };
        if let Ok(ip) = i.address.parse::<IpAddr>() {
            out.insert(i.ec2_instance_id, ip);
        }
    }
    Ok(out)
}

/// Reads the store and translates what it holds.
pub fn read(store: &dyn Store, bind_ip: IpAddr) -> Result<Translation, String> {
    let snap = dockyard_elbv2::snapshot(store).map_err(|e| e.to_string())?;
    let instances = instance_addresses(store)?;
    let mut certificates = BTreeMap::new();
    for arn in snap
        .load_balancers
        .iter()
        .flat_map(|lb| lb.listeners.iter())
        .flat_map(|l| l.certificates.iter())
    {
        if let Some(rec) = dockyard_acm::load(store, arn)? {
            certificates.insert(
                arn.clone(),
                ListenerCertificate {
                    arn: arn.clone(),
                    chain_pem: rec.full_chain_pem(),
                    key_pem: rec.key_pem,
                },
            );
        }
    }
    Ok(translate(&snap, bind_ip, &instances, &certificates))
}

/// The running data plane and the thread that feeds it. The data plane
/// has a current-thread Tokio runtime of its own (see `dockyard_lb`'s
/// notes on throughput); store reads and writes go to that runtime's
/// blocking pool so that they never hold up traffic.
pub struct LoadBalancers {
    health: Arc<SharedHealth>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl LoadBalancers {
    /// Starts serving every listener of `store` on `bind_ip`; NLB
    /// listeners are forwarded by the kernel where `steering` can.
    pub fn start(
        store: Arc<dyn Store>,
        bind_ip: IpAddr,
        steering: Option<Arc<dyn FlowSteering>>,
    ) -> std::io::Result<Self> {
        let health = Arc::new(SharedHealth::new());
        let (stop, stopped) = oneshot::channel();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .event_interval(64)
            .build()?;
        let h = health.clone();
        let thread = std::thread::Builder::new()
            .name("dockyard-lb".into())
            .spawn(move || rt.block_on(run(store, bind_ip, steering, h, stopped)))?;
        Ok(Self {
            health,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Target health as the data plane's checks see it, for the ELBv2
    /// API and the ECS service scheduler.
    pub fn health(&self) -> Arc<SharedHealth> {
        self.health.clone()
    }

    /// Closes the listeners, letting in-flight requests finish (up to the
    /// data plane's shutdown grace), and waits for the thread. Blocking.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LoadBalancers {
    fn drop(&mut self) {
        self.halt();
    }
}

async fn run(
    store: Arc<dyn Store>,
    bind_ip: IpAddr,
    steering: Option<Arc<dyn FlowSteering>>,
    health: Arc<SharedHealth>,
    mut stopped: oneshot::Receiver<()>,
) {
    let plane = Arc::new(DataPlane::new(DataPlaneOptions {
        shutdown_grace: Duration::from_secs(5),
        steering,
        ..DataPlaneOptions::default()
    }));
    let mut reports = plane.subscribe_health();
    let h = health.clone();
    let pump = tokio::spawn(async move {
        loop {
            let map = reports.borrow_and_update().clone();
            h.set_health(map);
            if reports.changed().await.is_err() {
                break;
            }
        }
    });
    let mut last: Option<LbConfig> = None;
    let mut last_skipped: Vec<String> = Vec::new();
    let mut last_purge = Instant::now();
    loop {
        let s = store.clone();
        let watches = tokio::task::spawn_blocking(move || {
            let rev = s.revision().map_err(|e| e.to_string())?;
            let elb = s
                .watch(dockyard_elbv2::WATCH_PREFIX, rev)
                .map_err(|e| e.to_string())?;
            let nodes = s
                .watch(dockyard_ecs::model::INSTANCES, rev)
                .map_err(|e| e.to_string())?;
            let certs = s
                .watch(dockyard_acm::PREFIX, rev)
                .map_err(|e| e.to_string())?;
            let t = read(s.as_ref(), bind_ip)?;
            Ok::<_, String>((elb, nodes, certs, t))
        })
        .await;
        let (mut elb, mut nodes, mut certs) = match watches {
            Ok(Ok((elb, nodes, certs, t))) => {
                if t.skipped != last_skipped {
                    for s in &t.skipped {
                        tracing::warn!("load balancers: not served: {s}");
                    }
                    last_skipped = t.skipped.clone();
                }
                health.set_targets(t.targets);
                if last.as_ref() != Some(&t.config) {
                    let report = plane.apply(t.config.clone()).await;
                    for (arn, e) in &report.errors {
                        tracing::warn!("load balancer listener {arn}: {e}");
                    }
                    last = Some(t.config);
                }
                (Some(elb), Some(nodes), Some(certs))
            }
            Ok(Err(e)) => {
                tracing::warn!("load balancers: {e}");
                (None, None, None)
            }
            Err(e) => {
                tracing::warn!("load balancers: {e}");
                (None, None, None)
            }
        };
        let changed = async {
            match (&mut elb, &mut nodes, &mut certs) {
                (Some(a), Some(b), Some(c)) => {
                    tokio::select! {
                        _ = a.recv() => {}
                        _ = b.recv() => {}
                        _ = c.recv() => {}
                    }
                }
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut stopped => break,
            _ = changed => {
                // Let a burst of writes land first.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            _ = tokio::time::sleep(PURGE_INTERVAL) => {}
        }
        if last_purge.elapsed() >= PURGE_INTERVAL {
            last_purge = Instant::now();
            let s = store.clone();
            let purged = tokio::task::spawn_blocking(move || {
                dockyard_elbv2::purge_drained_targets(s.as_ref(), chrono::Utc::now())
            })
            .await;
            if let Ok(Err(e)) = purged {
                tracing::warn!("load balancers: forgetting drained targets: {e}");
            }
        }
    }
    plane.shutdown().await;
    pump.abort();
}
