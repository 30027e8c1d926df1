//! Target health: AWS's states and reason codes, the threshold logic, the
//! checker task run per target, and the board that publishes changes.
//!
//! AWS semantics kept here: a newly registered target is `initial` and
//! becomes `healthy` after its first passing check; it becomes `unhealthy`
//! after `unhealthy_threshold` consecutive failures, and an unhealthy
//! target needs `healthy_threshold` consecutive passes to come back.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{Request, header};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{MissedTickBehavior, timeout};

use crate::config::{HealthCheck, Protocol};
use crate::target::{Class, TargetRuntime, TgRuntime};

/// `(target group ARN, target IP, target port)`.
pub type TargetKey = (String, IpAddr, u16);

/// Every target's health, as `DescribeTargetHealth` reports it. Targets
/// whose deregistration finished are absent.
pub type HealthMap = BTreeMap<TargetKey, TargetHealth>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetHealthState {
    Initial,
    Healthy,
    Unhealthy,
    Unused,
    Draining,
    /// Health checks are disabled; the target takes traffic.
    Unavailable,
}

impl TargetHealthState {
    /// As `DescribeTargetHealth` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initial => "initial",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
            Self::Unused => "unused",
            Self::Draining => "draining",
            Self::Unavailable => "unavailable",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetHealthReason {
    RegistrationInProgress,
    InitialHealthChecking,
    InternalError,
    ResponseCodeMismatch,
    Timeout,
    FailedHealthChecks,
    DeregistrationInProgress,
    NotInUse,
    HealthCheckDisabled,
}

impl TargetHealthReason {
    /// AWS's reason code, e.g. `Target.Timeout`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RegistrationInProgress => "Elb.RegistrationInProgress",
            Self::InitialHealthChecking => "Elb.InitialHealthChecking",
            Self::InternalError => "Elb.InternalError",
            Self::ResponseCodeMismatch => "Target.ResponseCodeMismatch",
            Self::Timeout => "Target.Timeout",
            Self::FailedHealthChecks => "Target.FailedHealthChecks",
            Self::DeregistrationInProgress => "Target.DeregistrationInProgress",
            Self::NotInUse => "Target.NotInUse",
            Self::HealthCheckDisabled => "Target.HealthCheckDisabled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealth {
    pub state: TargetHealthState,
    /// Absent only when healthy.
    pub reason: Option<TargetHealthReason>,
    pub description: Option<String>,
}

impl TargetHealth {
    fn new(state: TargetHealthState, reason: TargetHealthReason, description: &str) -> Self {
        Self {
            state,
            reason: Some(reason),
            description: Some(description.to_owned()),
        }
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Pass,
    Fail(TargetHealthReason, String),
}

/// A checked target's health and its streaks.
#[derive(Debug, Clone)]
pub(crate) struct HealthDetail {
    class: Class,
    reason: Option<TargetHealthReason>,
    description: Option<String>,
    passes: u32,
    failures: u32,
}

impl HealthDetail {
    pub(crate) fn registered() -> Self {
        Self {
            class: Class::Initial,
            reason: Some(TargetHealthReason::RegistrationInProgress),
            description: Some("Target registration is in progress".to_owned()),
            passes: 0,
            failures: 0,
        }
    }

    pub(crate) fn class(&self) -> Class {
        self.class
    }

    /// Applies one check's outcome; returns whether the reported health
    /// changed.
    pub(crate) fn record(
        &mut self,
        outcome: Outcome,
        healthy_threshold: u32,
        unhealthy_threshold: u32,
    ) -> bool {
        let before = (self.class, self.reason, self.description.clone());
        match outcome {
            Outcome::Pass => {
                self.failures = 0;
                self.passes = self.passes.saturating_add(1);
                let promote = match self.class {
                    Class::Initial => true,
                    Class::Unhealthy => self.passes >= healthy_threshold.max(1),
                    Class::Healthy => true,
                };
                if promote {
                    self.class = Class::Healthy;
                    self.reason = None;
                    self.description = None;
                }
            }
            Outcome::Fail(reason, description) => {
                self.passes = 0;
                self.failures = self.failures.saturating_add(1);
                if self.class == Class::Unhealthy || self.failures >= unhealthy_threshold.max(1) {
                    self.class = Class::Unhealthy;
                    self.reason = Some(reason);
                    self.description = Some(description);
                } else if self.class == Class::Initial {
                    self.reason = Some(TargetHealthReason::InitialHealthChecking);
                    self.description = Some("Initial health checks in progress".to_owned());
                }
            }
        }
        before != (self.class, self.reason, self.description.clone())
    }

    fn report(&self) -> TargetHealth {
        let state = match self.class {
            Class::Initial => TargetHealthState::Initial,
            Class::Healthy => TargetHealthState::Healthy,
            Class::Unhealthy => TargetHealthState::Unhealthy,
        };
        TargetHealth {
            state,
            reason: self.reason,
            description: self.description.clone(),
        }
    }
}

/// Holds the target groups as of the last apply and publishes the health
/// map whenever something in it changes.
pub(crate) struct HealthBoard {
    pub(crate) groups: ArcSwap<BTreeMap<String, Arc<TgRuntime>>>,
    tx: watch::Sender<Arc<HealthMap>>,
}

impl HealthBoard {
    pub(crate) fn new() -> Self {
        Self {
            groups: ArcSwap::from_pointee(BTreeMap::new()),
            tx: watch::Sender::new(Arc::new(HealthMap::new())),
        }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Arc<HealthMap>> {
        self.tx.subscribe()
    }

    pub(crate) fn snapshot(&self) -> HealthMap {
        let groups = self.groups.load();
        let mut map = HealthMap::new();
        for (arn, tg) in groups.iter() {
            let state = tg.state.load();
            for t in state.targets.iter() {
                if t.is_drained() {
                    continue;
                }
                let health = if t.is_draining() {
                    TargetHealth::new(
                        TargetHealthState::Draining,
                        TargetHealthReason::DeregistrationInProgress,
                        "Target deregistration is in progress",
                    )
                } else if !state.used {
                    TargetHealth::new(
                        TargetHealthState::Unused,
                        TargetHealthReason::NotInUse,
                        "Target group is not configured to receive traffic from the load balancer",
                    )
                } else if !state.checked {
                    TargetHealth::new(
                        TargetHealthState::Unavailable,
                        TargetHealthReason::HealthCheckDisabled,
                        "Health checks are disabled",
                    )
                } else {
                    t.health
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .report()
                };
                map.insert((arn.clone(), t.addr.ip(), t.addr.port()), health);
            }
        }
        map
    }

    /// Publishes only real changes, so subscribers wake for news.
    pub(crate) fn publish(&self) {
        let map = self.snapshot();
        self.tx.send_if_modified(|current| {
            if **current == map {
                false
            } else {
                *current = Arc::new(map);
                true
            }
        });
    }
}

/// Checks one target every interval until aborted.
pub(crate) async fn run_checker(
    board: Arc<HealthBoard>,
    group: Arc<TgRuntime>,
    target: Arc<TargetRuntime>,
    check: HealthCheck,
) {
    // AWS: each check is independent and its result holds for the whole
    // interval, however long the target takes to answer.
    let mut ticks = tokio::time::interval(check.interval.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let addr = SocketAddr::new(target.addr.ip(), check.port_for(target.addr.port()));
    loop {
        ticks.tick().await;
        let outcome = probe(addr, &check).await;
        let changed = {
            let mut detail = target.health.lock().unwrap_or_else(PoisonError::into_inner);
            let was = detail.class();
            let changed =
                detail.record(outcome, check.healthy_threshold, check.unhealthy_threshold);
            let now = detail.class();
            target.set_class(now);
            if was != Class::Healthy && now == Class::Healthy {
                enter_slow_start(&group, &target);
            } else if now != Class::Healthy {
                target.clear_slow_start();
            }
            changed
        };
        if changed {
            tracing::debug!(target_group = %group.arn, target = %target.addr, "target health changed");
            board.publish();
        }
    }
}

/// AWS starts slow start when a target turns healthy, unless no other
/// healthy target is there to carry the traffic.
fn enter_slow_start(group: &TgRuntime, target: &Arc<TargetRuntime>) {
    let state = group.state.load();
    if state.slow_start.is_zero() {
        return;
    }
    let others = state
        .targets
        .iter()
        .any(|t| !Arc::ptr_eq(t, target) && !t.is_draining() && t.class() == Class::Healthy);
    if others {
        target.start_slow_start(state.slow_start);
    }
}

pub(crate) async fn probe(addr: SocketAddr, check: &HealthCheck) -> Outcome {
    let attempt = async {
        let stream = TcpStream::connect(addr).await.map_err(|e| {
            Outcome::Fail(
                TargetHealthReason::FailedHealthChecks,
                format!("Health checks failed: {e}"),
            )
        })?;
        match check.protocol {
            Protocol::Http => http_probe(stream, addr, check).await,
            // No TLS here: HTTPS and TLS checks degrade to a connect check.
            _ => Ok(Outcome::Pass),
        }
    };
    match timeout(check.timeout, attempt).await {
        Ok(Ok(outcome)) | Ok(Err(outcome)) => outcome,
        Err(_) => Outcome::Fail(TargetHealthReason::Timeout, "Request timed out".to_owned()),
    }
}

async fn http_probe(
    stream: TcpStream,
    addr: SocketAddr,
    check: &HealthCheck,
) -> Result<Outcome, Outcome> {
    let failed = |e: hyper::Error| {
        Outcome::Fail(
            TargetHealthReason::FailedHealthChecks,
            format!("Health checks failed: {e}"),
        )
    };
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(failed)?;
    // The connection task ends when the response is read and the sender is
    // dropped; AWS closes the connection after each check too.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let path = if check.path.starts_with('/') {
        check.path.clone()
    } else {
        format!("/{}", check.path)
    };
    let request = Request::get(path)
        .header(header::HOST, addr.to_string())
        .header(header::USER_AGENT, "ELB-HealthChecker/2.0")
        .header(header::CONNECTION, "close")
        .body(Empty::new())
        .map_err(|e| {
            Outcome::Fail(
                TargetHealthReason::InternalError,
                format!("Health checks failed due to an internal error: {e}"),
            )
        })?;
    let response = sender.send_request(request).await.map_err(failed)?;
    let code = response.status().as_u16();
    Ok(if check.matcher.matches(code) {
        Outcome::Pass
    } else {
        Outcome::Fail(
            TargetHealthReason::ResponseCodeMismatch,
            format!("Health checks failed with these codes: [{code}]"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail() -> Outcome {
        Outcome::Fail(TargetHealthReason::Timeout, "Request timed out".to_owned())
    }

    #[test]
    fn first_pass_makes_a_new_target_healthy() {
        let mut d = HealthDetail::registered();
        assert_eq!(
            d.report().reason,
            Some(TargetHealthReason::RegistrationInProgress)
        );
        assert!(d.record(Outcome::Pass, 5, 2));
        assert_eq!(d.report().state, TargetHealthState::Healthy);
        assert_eq!(d.report().reason, None);
    }

    #[test]
    fn initial_failures_keep_checking_then_turn_unhealthy() {
        let mut d = HealthDetail::registered();
        assert!(d.record(fail(), 5, 3));
        let r = d.report();
        assert_eq!(r.state, TargetHealthState::Initial);
        assert_eq!(r.reason, Some(TargetHealthReason::InitialHealthChecking));
        assert!(!d.record(fail(), 5, 3));
        assert!(d.record(fail(), 5, 3));
        let r = d.report();
        assert_eq!(r.state, TargetHealthState::Unhealthy);
        assert_eq!(
            r.reason.map(TargetHealthReason::as_str),
            Some("Target.Timeout")
        );
    }

    #[test]
    fn thresholds_apply_both_ways() {
        let mut d = HealthDetail::registered();
        d.record(Outcome::Pass, 3, 2);
        // One failure is not enough; a pass resets the streak.
        assert!(!d.record(fail(), 3, 2));
        assert!(!d.record(Outcome::Pass, 3, 2));
        assert!(!d.record(fail(), 3, 2));
        assert_eq!(d.report().state, TargetHealthState::Healthy);
        assert!(d.record(fail(), 3, 2));
        assert_eq!(d.report().state, TargetHealthState::Unhealthy);
        // A different failure updates the reason.
        let mismatch = Outcome::Fail(
            TargetHealthReason::ResponseCodeMismatch,
            "Health checks failed with these codes: [500]".to_owned(),
        );
        assert!(d.record(mismatch, 3, 2));
        assert_eq!(
            d.report().reason,
            Some(TargetHealthReason::ResponseCodeMismatch)
        );
        assert!(!d.record(Outcome::Pass, 3, 2));
        assert!(!d.record(Outcome::Pass, 3, 2));
        assert_eq!(d.report().state, TargetHealthState::Unhealthy);
        assert!(d.record(Outcome::Pass, 3, 2));
        assert_eq!(d.report().state, TargetHealthState::Healthy);
    }
}
