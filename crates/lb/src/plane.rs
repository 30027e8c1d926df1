//! [`DataPlane`]: applies whole configurations live and owns every task
//! (accept loops, health checkers, drains).

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use crate::alb;
use crate::config::{
    Action, LbConfig, ListenerConfig, LoadBalancerKind, Protocol, TargetGroupConfig,
};
use crate::error::ListenerError;
use crate::health::{self, HealthBoard, HealthDetail, HealthMap};
use crate::listener::{self, ConnCount, Phase};
use crate::nlb;
use crate::rules::{self, CompiledAction};
use crate::steer::{self, FlowSteering, NlbView};
use crate::target::{Class, TargetRuntime, TgRuntime, TgState};

#[derive(Debug, Clone)]
pub struct DataPlaneOptions {
    /// How long to wait for a target to accept a connection (AWS: 10 s);
    /// past it an ALB answers 504.
    pub connect_timeout: Duration,
    /// How long [`DataPlane::shutdown`] lets in-flight requests finish.
    pub shutdown_grace: Duration,
    /// Has the kernel forward NLB listeners' connections where it can
    /// (see [`crate::KernelSteering`]); without it, or where it declines,
    /// the splice relay carries them.
    pub steering: Option<Arc<dyn FlowSteering>>,
}

impl Default for DataPlaneOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
            steering: None,
        }
    }
}

/// What an apply did to each listener of the configuration.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// Listeners being served, with the address actually bound (useful
    /// when the configuration asked for port 0).
    pub bound: BTreeMap<String, SocketAddr>,
    /// Listeners not served, or still served with their previous rules
    /// because the new ones were refused.
    pub errors: BTreeMap<String, ListenerError>,
}

impl ApplyReport {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// The load balancers' data plane.
///
/// Its tasks (accept loops, connections, health checks) run on the Tokio
/// runtime `apply` is called from, which must be a Tokio runtime. Measured
/// on 2 cores, a dedicated current-thread runtime (with `event_interval`
/// 64, so that many connections' writes leave between two polls for I/O)
/// serves more requests per CPU second than a multi-threaded one; see
/// bench/lb/README.md. Dropping the data plane closes every listener
/// and connection at once; [`DataPlane::shutdown`] drains them first.
pub struct DataPlane {
    inner: Arc<Inner>,
}

struct Inner {
    options: DataPlaneOptions,
    builder: Arc<auto::Builder<TokioExecutor>>,
    board: Arc<HealthBoard>,
    keys: RandomState,
    state: Mutex<PlaneState>,
    /// The NLB listeners being served, for the steering loop.
    nlb: watch::Sender<Arc<[NlbView]>>,
}

#[derive(Default)]
struct PlaneState {
    listeners: BTreeMap<String, RunningListener>,
    /// Removed listeners whose connections are still finishing.
    retired: Vec<RunningListener>,
    groups: BTreeMap<String, GroupEntry>,
    /// Closes pooled target connections the targets have closed.
    sweeper: Option<JoinHandle<()>>,
    /// Keeps the kernel's NLB forwarding rules current.
    steerer: Option<JoinHandle<()>>,
    shut: bool,
}

impl Drop for PlaneState {
    fn drop(&mut self) {
        for task in self.sweeper.iter().chain(self.steerer.iter()) {
            task.abort();
        }
    }
}

struct RunningListener {
    config: ListenerConfig,
    slot: Arc<ArcSwap<rules::CompiledListener>>,
    phase: watch::Sender<Phase>,
    accept: Option<JoinHandle<()>>,
    conns: Arc<ConnCount>,
    local: SocketAddr,
}

impl RunningListener {
    /// Stops accepting and waits until the socket is closed, so the port
    /// can be bound again; open connections finish their request.
    async fn stop_accepting(&mut self) {
        self.phase.send_replace(Phase::Draining);
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
    }
}

struct GroupEntry {
    runtime: Arc<TgRuntime>,
    config: Option<TargetGroupConfig>,
    checked: bool,
    checkers: HashMap<SocketAddr, JoinHandle<()>>,
    drains: HashMap<SocketAddr, JoinHandle<()>>,
}

impl Drop for GroupEntry {
    fn drop(&mut self) {
        for task in self.checkers.values().chain(self.drains.values()) {
            task.abort();
        }
    }
}

impl DataPlane {
    pub fn new(options: DataPlaneOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                options,
                builder: Arc::new(alb::server_builder()),
                board: Arc::new(HealthBoard::new()),
                keys: RandomState::new(),
                state: Mutex::new(PlaneState::default()),
                nlb: watch::Sender::new(Arc::from([])),
            }),
        }
    }

    /// Makes `config` the one being served. New listeners bind, removed
    /// ones stop accepting and let their connections finish the request in
    /// progress, changed rules and targets apply to the next request
    /// without touching open connections. Never fails as a whole: each
    /// listener's trouble is in the report.
    pub async fn apply(&self, config: LbConfig) -> ApplyReport {
        let inner = &self.inner;
        let mut state = inner.state.lock().await;
        let mut report = ApplyReport::default();
        if state.shut {
            return report;
        }
        if state.sweeper.is_none() {
            state.sweeper = Some(tokio::spawn(sweep_pools(inner.board.clone())));
        }
        if state.steerer.is_none()
            && let Some(steering) = &inner.options.steering
        {
            state.steerer = Some(tokio::spawn(steer::run(
                steering.clone(),
                inner.nlb.subscribe(),
                inner.board.subscribe(),
            )));
        }
        let used: HashSet<&str> = config
            .listeners
            .iter()
            .flat_map(|l| {
                l.rules
                    .iter()
                    .flat_map(|r| r.actions.iter())
                    .chain(l.default_actions.iter())
            })
            .filter_map(|a| match a {
                Action::Forward(f) => Some(f.target_groups.iter().map(|t| t.arn.as_str())),
                _ => None,
            })
            .flatten()
            .collect();

        state
            .groups
            .retain(|arn, _| config.target_groups.contains_key(arn));
        for (arn, tg) in &config.target_groups {
            let entry = state
                .groups
                .entry(arn.clone())
                .or_insert_with(|| GroupEntry {
                    runtime: Arc::new(TgRuntime::new(arn, inner.keys.hash_one(arn), empty_state())),
                    config: None,
                    checked: false,
                    checkers: HashMap::new(),
                    drains: HashMap::new(),
                });
            inner.update_group(entry, tg, used.contains(arn.as_str()));
        }
        let groups: BTreeMap<String, Arc<TgRuntime>> = state
            .groups
            .iter()
            .map(|(arn, e)| (arn.clone(), e.runtime.clone()))
            .collect();
        inner.board.groups.store(Arc::new(groups.clone()));

        state.retired.retain(|l| l.conns_open());
        let wanted: HashSet<&str> = config.listeners.iter().map(|l| l.arn.as_str()).collect();
        let gone: Vec<String> = state
            .listeners
            .keys()
            .filter(|arn| !wanted.contains(arn.as_str()))
            .cloned()
            .collect();
        for arn in gone {
            if let Some(mut old) = state.listeners.remove(&arn) {
                old.stop_accepting().await;
                state.retired.push(old);
            }
        }
        // Listeners whose socket must change go first, so a port moving
        // between listeners is free before it is bound again.
        for l in &config.listeners {
            let rebind = state.listeners.get(&l.arn).is_some_and(|old| {
                (old.config.bind, old.config.kind, old.config.protocol)
                    != (l.bind, l.kind, l.protocol)
            });
            if rebind && let Some(mut old) = state.listeners.remove(&l.arn) {
                old.stop_accepting().await;
                state.retired.push(old);
            }
        }
        for l in &config.listeners {
            let compiled = match compile(l, &groups) {
                Ok(c) => c,
                Err(e) => {
                    if let Some(running) = state.listeners.get(&l.arn) {
                        report.bound.insert(l.arn.clone(), running.local);
                    }
                    report.errors.insert(l.arn.clone(), e);
                    continue;
                }
            };
            if let Some(running) = state.listeners.get_mut(&l.arn) {
                running.slot.store(Arc::new(compiled));
                running.config = l.clone();
                report.bound.insert(l.arn.clone(), running.local);
                continue;
            }
            match inner.start_listener(l, compiled) {
                Ok(running) => {
                    report.bound.insert(l.arn.clone(), running.local);
                    state.listeners.insert(l.arn.clone(), running);
                }
                Err(e) => {
                    report.errors.insert(l.arn.clone(), e);
                }
            }
        }
        let views: Vec<NlbView> = state
            .listeners
            .values()
            .filter(|l| l.config.kind == LoadBalancerKind::Network)
            .map(|l| NlbView {
                listen: l.local,
                group: l
                    .slot
                    .load()
                    .forward()
                    .filter(|f| f.groups.len() == 1)
                    .and_then(|f| f.groups.first())
                    .map(|(g, _)| g.clone()),
            })
            .collect();
        inner.nlb.send_replace(Arc::from(views));
        drop(state);
        inner.board.publish();
        report
    }

    /// Every registered target's health, `DescribeTargetHealth`-style.
    pub fn target_health(&self) -> HealthMap {
        self.inner.board.snapshot()
    }

    /// Follows [`Self::target_health`]: the receiver sees a new map after
    /// every change (a check flipping a state, an apply, a drain ending).
    pub fn subscribe_health(&self) -> watch::Receiver<Arc<HealthMap>> {
        self.inner.board.subscribe()
    }

    /// The address a listener is bound to, if it is being served.
    pub async fn listener_addr(&self, listener_arn: &str) -> Option<SocketAddr> {
        self.inner
            .state
            .lock()
            .await
            .listeners
            .get(listener_arn)
            .map(|l| l.local)
    }

    /// Stops accepting everywhere, stops health checks, gives in-flight
    /// requests up to `shutdown_grace` to finish, then closes what is
    /// left. Later applies do nothing.
    pub async fn shutdown(&self) {
        let mut state = self.inner.state.lock().await;
        state.shut = true;
        let mut all: Vec<RunningListener> =
            std::mem::take(&mut state.listeners).into_values().collect();
        all.append(&mut state.retired);
        state.groups.clear();
        if let Some(sweeper) = state.sweeper.take() {
            sweeper.abort();
        }
        if let Some(steerer) = state.steerer.take() {
            steerer.abort();
        }
        drop(state);
        self.inner.nlb.send_replace(Arc::from([]));
        if let Some(steering) = self.inner.options.steering.clone() {
            // New connections go to the (closing) listeners, not on to
            // targets no longer checked.
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || steering.sync(&[])).await {
                tracing::warn!(error = %e, "kernel forwarding not cleared");
            }
        }
        for l in &mut all {
            l.stop_accepting().await;
        }
        let deadline = tokio::time::Instant::now() + self.inner.options.shutdown_grace;
        let _ = tokio::time::timeout_at(deadline, async {
            for l in &all {
                l.conns.wait_zero().await;
            }
        })
        .await;
        for l in &all {
            l.phase.send_replace(Phase::Closed);
        }
        self.inner.board.groups.store(Arc::new(BTreeMap::new()));
        self.inner.board.publish();
    }
}

impl RunningListener {
    fn conns_open(&self) -> bool {
        self.conns.is_open()
    }
}

fn empty_state() -> TgState {
    TgState {
        targets: Box::new([]),
        algorithm: crate::config::Algorithm::RoundRobin,
        slow_start: Duration::ZERO,
        stickiness: None,
        checked: false,
        used: false,
    }
}

fn compile(
    l: &ListenerConfig,
    groups: &BTreeMap<String, Arc<TgRuntime>>,
) -> Result<rules::CompiledListener, ListenerError> {
    let supported = matches!(
        (l.kind, l.protocol),
        (
            LoadBalancerKind::Application,
            Protocol::Http | Protocol::Https
        ) | (LoadBalancerKind::Network, Protocol::Tcp)
    );
    if !supported {
        return Err(ListenerError::UnsupportedProtocol {
            listener: l.arn.clone(),
            protocol: l.protocol.to_string(),
        });
    }
    let compiled = rules::compile(l, groups)?;
    if l.kind == LoadBalancerKind::Network
        && !matches!(compiled.default, CompiledAction::Forward(_))
    {
        return Err(ListenerError::NotForward {
            listener: l.arn.clone(),
        });
    }
    Ok(compiled)
}

impl Inner {
    fn start_listener(
        &self,
        l: &ListenerConfig,
        compiled: rules::CompiledListener,
    ) -> Result<RunningListener, ListenerError> {
        let socket = listener::bind(l.bind).map_err(|source| ListenerError::Bind {
            listener: l.arn.clone(),
            addr: l.bind,
            source,
        })?;
        let local = socket.local_addr().unwrap_or(l.bind);
        let slot = Arc::new(ArcSwap::from_pointee(compiled));
        let (phase, phase_rx) = watch::channel(Phase::Running);
        let conns = Arc::new(ConnCount::default());
        let accept = match l.kind {
            LoadBalancerKind::Application => {
                let connect_timeout = self.options.connect_timeout;
                let builder = self.builder.clone();
                listener::spawn_accept_loop(
                    socket,
                    slot.clone(),
                    phase_rx,
                    conns.clone(),
                    move |accepted| {
                        alb::serve(accepted, connect_timeout, builder.clone());
                    },
                )
            }
            LoadBalancerKind::Network => {
                let connect_timeout = self.options.connect_timeout;
                listener::spawn_accept_loop(
                    socket,
                    slot.clone(),
                    phase_rx,
                    conns.clone(),
                    move |accepted| {
                        nlb::serve(accepted, connect_timeout);
                    },
                )
            }
        };
        tracing::info!(listener = %l.arn, %local, "listener serving");
        Ok(RunningListener {
            config: l.clone(),
            slot,
            phase,
            accept: Some(accept),
            conns,
            local,
        })
    }

    /// Brings one target group to its new configuration, keeping the
    /// runtime (health, counters) of targets that stay.
    fn update_group(&self, entry: &mut GroupEntry, config: &TargetGroupConfig, used: bool) {
        let old = entry.runtime.state.load_full();
        let previous: HashMap<SocketAddr, &Arc<TargetRuntime>> =
            old.targets.iter().map(|t| (t.addr, t)).collect();
        let mut seen = HashSet::new();
        let mut targets = Vec::with_capacity(config.targets.len());
        for t in &config.targets {
            let addr = t.addr();
            if !seen.insert(addr) {
                continue;
            }
            let runtime = match previous.get(&addr) {
                // A target registered again after deregistering starts
                // over, as a new registration does in AWS.
                Some(prev) if !(prev.is_draining() && t.draining_since.is_none()) => {
                    (*prev).clone()
                }
                _ => Arc::new(TargetRuntime::new(
                    addr,
                    self.keys.hash_one((&config.arn, addr)),
                )),
            };
            if let Some(since) = t.draining_since
                && !runtime.is_draining()
            {
                runtime.start_draining();
                if let Some(task) = entry.checkers.remove(&addr) {
                    task.abort();
                }
                let deadline = drain_deadline(since, config.deregistration_delay);
                let task = tokio::spawn(drain(
                    self.board.clone(),
                    entry.runtime.clone(),
                    runtime.clone(),
                    deadline,
                ));
                if let Some(old_task) = entry.drains.insert(addr, task) {
                    old_task.abort();
                }
            }
            targets.push(runtime);
        }

        let checked = used && config.health_check.enabled;
        let check_changed =
            entry.config.as_ref().map(|c| &c.health_check) != Some(&config.health_check);
        let live: HashSet<SocketAddr> = targets
            .iter()
            .filter(|t| !t.is_draining())
            .map(|t| t.addr)
            .collect();
        entry.checkers.retain(|addr, task| {
            let keep = checked && !check_changed && live.contains(addr);
            if !keep {
                task.abort();
            }
            keep
        });
        entry.drains.retain(|addr, task| {
            let keep = targets.iter().any(|t| t.addr == *addr && t.is_draining());
            if !keep {
                task.abort();
            }
            keep
        });
        if checked && !entry.checked {
            // Checks start (again): AWS reports the targets as newly
            // registered.
            for t in targets.iter().filter(|t| !t.is_draining()) {
                *t.health
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    HealthDetail::registered();
                t.set_class(Class::Initial);
                t.clear_slow_start();
            }
        }
        entry.checked = checked;

        entry.runtime.state.store(Arc::new(TgState {
            targets: targets.into_boxed_slice(),
            algorithm: config.algorithm,
            slow_start: config.slow_start,
            stickiness: config.stickiness,
            checked,
            used,
        }));
        if checked {
            let state = entry.runtime.state.load();
            for t in state.targets.iter().filter(|t| !t.is_draining()) {
                entry.checkers.entry(t.addr).or_insert_with(|| {
                    tokio::spawn(health::run_checker(
                        self.board.clone(),
                        entry.runtime.clone(),
                        t.clone(),
                        config.health_check.clone(),
                    ))
                });
            }
        }
        entry.config = Some(config.clone());
    }
}

fn drain_deadline(since: SystemTime, delay: Duration) -> tokio::time::Instant {
    let left = (since + delay)
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    tokio::time::Instant::now() + left
}

/// Ends a target's deregistration once nothing is in flight on it or the
/// deregistration delay has passed, whichever is first (AWS completes
/// early when a draining target has no requests left). Flows the kernel
/// forwards cannot be seen, so a group it forwards to drains for the
/// whole delay.
async fn drain(
    board: Arc<HealthBoard>,
    group: Arc<TgRuntime>,
    target: Arc<TargetRuntime>,
    deadline: tokio::time::Instant,
) {
    loop {
        if target.inflight() == 0 && !group.is_kernel_steered() {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => break,
            () = target.idle.notified() => {}
        }
    }
    target.set_drained();
    board.publish();
}

async fn sweep_pools(board: Arc<HealthBoard>) {
    let mut ticks = tokio::time::interval(Duration::from_secs(30));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        for group in board.groups.load().values() {
            for target in group.state.load().targets.iter() {
                target.raw_pool.sweep();
                target.pool.sweep();
            }
        }
    }
}
