//! Targets and target groups as the request path sees them, and how a
//! target is chosen. Everything read per request is an atomic; the
//! per-target mutex holds health details only the checker and
//! `target_health` touch.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::Notify;

use crate::config::Algorithm;
use crate::h1client::RawPool;
use crate::health::HealthDetail;
use crate::upstream::Pool;

/// What the selector knows of a target's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Class {
    Initial = 0,
    Healthy = 1,
    Unhealthy = 2,
}

pub(crate) struct TargetRuntime {
    pub(crate) addr: SocketAddr,
    /// Names the target in `AWSALB` cookies; a keyed hash so that cookies
    /// do not reveal addresses.
    pub(crate) sticky_token: u64,
    inflight: AtomicU32,
    class: AtomicU8,
    draining: AtomicBool,
    drained: AtomicBool,
    /// Woken when the last in-flight request of a draining target ends.
    pub(crate) idle: Notify,
    /// Milliseconds since [`epoch`] at which slow start ends; 0 when not in
    /// slow start.
    slow_start_until: AtomicU64,
    pub(crate) health: Mutex<HealthDetail>,
    /// Idle keep-alive connections to this target (ALB only).
    pub(crate) pool: Pool,
    /// Idle connections of the bodiless fast path.
    pub(crate) raw_pool: RawPool,
}

impl TargetRuntime {
    pub(crate) fn new(addr: SocketAddr, sticky_token: u64) -> Self {
        Self {
            addr,
            sticky_token,
            inflight: AtomicU32::new(0),
            class: AtomicU8::new(Class::Initial as u8),
            draining: AtomicBool::new(false),
            drained: AtomicBool::new(false),
            idle: Notify::new(),
            slow_start_until: AtomicU64::new(0),
            health: Mutex::new(HealthDetail::registered()),
            pool: Pool::default(),
            raw_pool: RawPool::default(),
        }
    }

    pub(crate) fn class(&self) -> Class {
        match self.class.load(Ordering::Relaxed) {
            1 => Class::Healthy,
            2 => Class::Unhealthy,
            _ => Class::Initial,
        }
    }

    pub(crate) fn set_class(&self, class: Class) {
        self.class.store(class as u8, Ordering::Relaxed);
    }

    pub(crate) fn inflight(&self) -> u32 {
        self.inflight.load(Ordering::Acquire)
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub(crate) fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub(crate) fn is_drained(&self) -> bool {
        self.drained.load(Ordering::Acquire)
    }

    pub(crate) fn set_drained(&self) {
        self.drained.store(true, Ordering::Release);
    }

    pub(crate) fn start_slow_start(&self, length: Duration) {
        let until = now_ms() + u64::try_from(length.as_millis()).unwrap_or(u64::MAX / 2);
        self.slow_start_until.store(until.max(1), Ordering::Relaxed);
    }

    pub(crate) fn clear_slow_start(&self) {
        self.slow_start_until.store(0, Ordering::Relaxed);
    }

    fn in_slow_start(&self, now: u64) -> bool {
        self.slow_start_until.load(Ordering::Relaxed) > now
    }

    /// The share of traffic (0..=1, in 1/1024ths) a target in slow start
    /// should get right now.
    fn slow_start_weight(&self, now: u64, length_ms: u64) -> u64 {
        let until = self.slow_start_until.load(Ordering::Relaxed);
        if until <= now || length_ms == 0 {
            return 1024;
        }
        let elapsed = length_ms.saturating_sub(until - now);
        // Never zero, so a target in slow start still gets the odd request.
        (elapsed * 1024 / length_ms).max(8)
    }
}

/// Counts a request (or, for NLB, a connection) against a target until
/// dropped, for least-outstanding-requests and draining.
pub(crate) struct InflightGuard(Arc<TargetRuntime>);

impl InflightGuard {
    pub(crate) fn new(target: Arc<TargetRuntime>) -> Self {
        target.inflight.fetch_add(1, Ordering::AcqRel);
        Self(target)
    }

    pub(crate) fn target(&self) -> &Arc<TargetRuntime> {
        &self.0
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        if self.0.inflight.fetch_sub(1, Ordering::AcqRel) == 1 && self.0.is_draining() {
            // notify_one keeps a permit, so a drain task that checked the
            // count just before this cannot miss the wake-up.
            self.0.idle.notify_one();
        }
    }
}

/// One target group's configuration as of the last apply.
pub(crate) struct TgState {
    pub(crate) targets: Box<[Arc<TargetRuntime>]>,
    pub(crate) algorithm: Algorithm,
    pub(crate) slow_start: Duration,
    pub(crate) stickiness: Option<Duration>,
    /// Health checks run (the group is used by a listener and checks are
    /// enabled); otherwise every non-draining target takes traffic.
    pub(crate) checked: bool,
    /// Some listener forwards to this group.
    pub(crate) used: bool,
}

/// A target group; lives across applies so counters and targets' health
/// survive configuration changes.
pub(crate) struct TgRuntime {
    pub(crate) arn: Arc<str>,
    /// Names the group in `AWSALBTG` cookies.
    pub(crate) sticky_token: u64,
    pub(crate) state: ArcSwap<TgState>,
    rr: AtomicUsize,
    /// Some listener's new connections to this group are forwarded by the
    /// kernel (see `steer`): their flows are invisible here.
    kernel_steered: AtomicBool,
}

impl TgRuntime {
    pub(crate) fn new(arn: &str, sticky_token: u64, state: TgState) -> Self {
        Self {
            arn: Arc::from(arn),
            sticky_token,
            state: ArcSwap::from_pointee(state),
            rr: AtomicUsize::new(0),
            kernel_steered: AtomicBool::new(false),
        }
    }

    pub(crate) fn is_kernel_steered(&self) -> bool {
        self.kernel_steered.load(Ordering::Relaxed)
    }

    pub(crate) fn set_kernel_steered(&self, on: bool) {
        self.kernel_steered.store(on, Ordering::Relaxed);
    }

    /// The targets a new flow may go to now, in order: what
    /// [`Self::pick_by_hash`] chooses among.
    pub(crate) fn eligible(state: &TgState) -> Vec<SocketAddr> {
        let mode = Eligibility::of(state);
        state
            .targets
            .iter()
            .filter(|t| mode.admits(t))
            .map(|t| t.addr)
            .collect()
    }

    /// Chooses a target for a new request: round robin (weighted by slow
    /// start) or least outstanding requests, among healthy targets, or
    /// among all non-draining ones when none is healthy (fail open).
    /// `random` is a fresh random number.
    pub(crate) fn pick(&self, state: &TgState, random: u64) -> Option<Arc<TargetRuntime>> {
        let mode = Eligibility::of(state);
        let count = state.targets.iter().filter(|t| mode.admits(t)).count();
        if count == 0 {
            return None;
        }
        let ticket = self.rr.fetch_add(1, Ordering::Relaxed);
        let nth = |n: usize| {
            state
                .targets
                .iter()
                .filter(|t| mode.admits(t))
                .nth(n % count)
        };
        match state.algorithm {
            Algorithm::RoundRobin => {
                if state.slow_start.is_zero() {
                    return nth(ticket).cloned();
                }
                let now = now_ms();
                let length = u64::try_from(state.slow_start.as_millis()).unwrap_or(u64::MAX);
                // Walk from this ticket's target; a target in slow start
                // takes its turn only with probability weight/1024, so its
                // share ramps linearly without any per-request lock.
                let mut dice = random;
                for step in 0..count {
                    let target = nth(ticket.wrapping_add(step))?;
                    if !target.in_slow_start(now) {
                        return Some(target.clone());
                    }
                    let weight = target.slow_start_weight(now, length);
                    if dice % 1024 < weight {
                        return Some(target.clone());
                    }
                    dice = dice.rotate_right(10) ^ 0x9e37_79b9_7f4a_7c15;
                }
                nth(ticket).cloned()
            }
            Algorithm::LeastOutstandingRequests => {
                // Ties go round robin, so an idle group still spreads load.
                let start = ticket % count;
                let mut best: Option<(&Arc<TargetRuntime>, u32)> = None;
                for step in 0..count {
                    let Some(target) = nth(start + step) else {
                        break;
                    };
                    let load = target.inflight();
                    if best.is_none_or(|(_, b)| load < b) {
                        best = Some((target, load));
                    }
                }
                best.map(|(t, _)| t.clone())
            }
        }
    }

    /// NLB flow hashing: the same flow always lands on the same target
    /// while the eligible set is unchanged.
    pub(crate) fn pick_by_hash(state: &TgState, hash: u64) -> Option<Arc<TargetRuntime>> {
        let mode = Eligibility::of(state);
        let count = state.targets.iter().filter(|t| mode.admits(t)).count();
        if count == 0 {
            return None;
        }
        let n = usize::try_from(hash % count as u64).unwrap_or(0);
        state
            .targets
            .iter()
            .filter(|t| mode.admits(t))
            .nth(n)
            .cloned()
    }

    /// The target a sticky cookie names, if it may still take requests.
    pub(crate) fn find_sticky(state: &TgState, token: u64) -> Option<Arc<TargetRuntime>> {
        let mode = Eligibility::of(state);
        state
            .targets
            .iter()
            .find(|t| t.sticky_token == token && mode.admits(t))
            .cloned()
    }
}

#[derive(Clone, Copy)]
enum Eligibility {
    HealthyOnly,
    /// Health unknown or every target unhealthy: AWS fails open.
    AllNonDraining,
}

impl Eligibility {
    fn of(state: &TgState) -> Self {
        if state.checked
            && state
                .targets
                .iter()
                .any(|t| !t.is_draining() && t.class() == Class::Healthy)
        {
            Self::HealthyOnly
        } else {
            Self::AllNonDraining
        }
    }

    fn admits(self, t: &TargetRuntime) -> bool {
        !t.is_draining()
            && match self {
                Self::HealthyOnly => t.class() == Class::Healthy,
                Self::AllNonDraining => true,
            }
    }
}

/// Process-wide monotonic milliseconds, cheap to store in atomics.
pub(crate) fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX / 2) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(n: u16, algorithm: Algorithm) -> (TgRuntime, Vec<Arc<TargetRuntime>>) {
        let targets: Vec<_> = (0..n)
            .map(|i| {
                let t = Arc::new(TargetRuntime::new(
                    SocketAddr::from(([127, 0, 0, 1], 9000 + i)),
                    u64::from(i),
                ));
                t.set_class(Class::Healthy);
                t
            })
            .collect();
        let state = TgState {
            targets: targets.clone().into_boxed_slice(),
            algorithm,
            slow_start: Duration::ZERO,
            stickiness: None,
            checked: true,
            used: true,
        };
        (TgRuntime::new("tg", 0, state), targets)
    }

    fn picks(tg: &TgRuntime, n: usize) -> Vec<u16> {
        let state = tg.state.load();
        (0..n)
            .map(|i| {
                tg.pick(&state, i as u64 * 7919)
                    .map(|t| t.addr.port() - 9000)
                    .unwrap_or(u16::MAX)
            })
            .collect()
    }

    #[test]
    fn round_robin_rotates() {
        let (tg, _) = group(3, Algorithm::RoundRobin);
        assert_eq!(picks(&tg, 6), vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn unhealthy_and_draining_get_nothing_unless_all_are_down() {
        let (tg, targets) = group(3, Algorithm::RoundRobin);
        targets[1].set_class(Class::Unhealthy);
        targets[2].start_draining();
        assert!(picks(&tg, 6).iter().all(|&p| p == 0));
        // Every remaining target unhealthy: fail open, but never to a
        // draining one.
        targets[0].set_class(Class::Unhealthy);
        let got = picks(&tg, 6);
        assert!(got.contains(&0) && got.contains(&1) && !got.contains(&2));
        targets[0].start_draining();
        targets[1].start_draining();
        assert_eq!(picks(&tg, 1), vec![u16::MAX]);
    }

    #[test]
    fn initial_targets_wait_while_others_are_healthy() {
        let (tg, targets) = group(2, Algorithm::RoundRobin);
        targets[1].set_class(Class::Initial);
        assert!(picks(&tg, 4).iter().all(|&p| p == 0));
    }

    #[test]
    fn least_outstanding_prefers_idle_targets() {
        let (tg, targets) = group(3, Algorithm::LeastOutstandingRequests);
        let _busy0 = InflightGuard::new(targets[0].clone());
        let _busy1a = InflightGuard::new(targets[1].clone());
        let _busy1b = InflightGuard::new(targets[1].clone());
        assert!(picks(&tg, 5).iter().all(|&p| p == 2));
        let _busy2 = (0..3)
            .map(|_| InflightGuard::new(targets[2].clone()))
            .collect::<Vec<_>>();
        assert!(picks(&tg, 5).iter().all(|&p| p == 0));
    }

    #[test]
    fn slow_start_ramps_share() {
        let (tg, targets) = group(2, Algorithm::RoundRobin);
        let state = TgState {
            targets: targets.clone().into_boxed_slice(),
            algorithm: Algorithm::RoundRobin,
            slow_start: Duration::from_secs(1000),
            stickiness: None,
            checked: true,
            used: true,
        };
        tg.state.store(Arc::new(state));
        targets[1].start_slow_start(Duration::from_secs(1000));
        let got = picks(&tg, 2000);
        let newcomer = got.iter().filter(|&&p| p == 1).count();
        // Just started: well under its round-robin half.
        assert!(newcomer < 200, "slow-start target got {newcomer} of 2000");
        targets[1].clear_slow_start();
        let got = picks(&tg, 2000);
        assert_eq!(got.iter().filter(|&&p| p == 1).count(), 1000);
    }

    #[test]
    fn flow_hash_is_stable_and_sticky_cookie_is_checked() {
        let (tg, targets) = group(3, Algorithm::RoundRobin);
        let state = tg.state.load();
        let a = TgRuntime::pick_by_hash(&state, 12345).map(|t| t.addr);
        let b = TgRuntime::pick_by_hash(&state, 12345).map(|t| t.addr);
        assert_eq!(a, b);
        assert_eq!(
            TgRuntime::find_sticky(&state, 2).map(|t| t.addr.port()),
            Some(9002)
        );
        targets[2].set_class(Class::Unhealthy);
        assert!(TgRuntime::find_sticky(&state, 2).is_none());
    }
}
