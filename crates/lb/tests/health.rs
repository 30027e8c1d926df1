//! Health checks, fail-open, draining, unused groups, and the health feed.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use common::*;
use dockyard_lb::{
    DataPlane, DataPlaneOptions, LbConfig, TargetGroupConfig, TargetHealthReason, TargetHealthState,
};

const TG: &str = "arn:tg/app";
const LISTENER: &str = "listener/app";

fn plane() -> DataPlane {
    DataPlane::new(DataPlaneOptions::default())
}

fn reason_of(plane: &DataPlane, addr: SocketAddr) -> Option<TargetHealthReason> {
    plane
        .target_health()
        .get(&(TG.to_owned(), addr.ip(), addr.port()))
        .and_then(|h| h.reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_target_is_initial_until_its_first_passing_check() {
    let backend = Backend::start("a").await;
    let mut group = fast_group(TG, &[backend.addr]);
    // The check waits on the backend's gate, so nothing can pass before
    // the assertions below; a threshold of 5 must not delay healthy.
    group.health_check.path = "/hold".into();
    group.health_check.timeout = Duration::from_secs(60);
    group.health_check.healthy_threshold = 5;
    let plane = plane();
    apply(&plane, alb_config(group), LISTENER).await;
    let health = plane.target_health();
    let h = &health[&(TG.to_owned(), backend.addr.ip(), backend.addr.port())];
    assert_eq!(h.state, TargetHealthState::Initial);
    assert_eq!(h.reason, Some(TargetHealthReason::RegistrationInProgress));
    assert_eq!(h.reason.unwrap().as_str(), "Elb.RegistrationInProgress");
    backend.open_gate();
    wait_healthy(&plane, TG, &[backend.addr]).await;
    assert_eq!(reason_of(&plane, backend.addr), None);
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unhealthy_target_gets_no_traffic_until_it_recovers() {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let plane = plane();
    let mut feed = plane.subscribe_health();
    let lb = apply(
        &plane,
        alb_config(fast_group(TG, &[a.addr, b.addr])),
        LISTENER,
    )
    .await;
    wait_healthy(&plane, TG, &[a.addr, b.addr]).await;

    a.set_health(500);
    eventually("a unhealthy", || async {
        state_of(&plane, TG, a.addr) == Some(TargetHealthState::Unhealthy)
    })
    .await;
    let health = plane.target_health();
    let h = &health[&(TG.to_owned(), a.addr.ip(), a.addr.port())];
    assert_eq!(h.reason, Some(TargetHealthReason::ResponseCodeMismatch));
    assert_eq!(
        h.description.as_deref(),
        Some("Health checks failed with these codes: [500]")
    );
    // The feed saw it too.
    let seen = feed.borrow_and_update().clone();
    assert_eq!(
        seen[&(TG.to_owned(), a.addr.ip(), a.addr.port())].state,
        TargetHealthState::Unhealthy
    );

    let before = a.hits();
    for _ in 0..20 {
        assert_eq!(get(lb, "/").await.body, "b");
    }
    assert_eq!(a.hits(), before);

    a.set_health(200);
    wait_healthy(&plane, TG, &[a.addr]).await;
    eventually("a serves again", || async {
        get(lb, "/").await.body == "a"
    })
    .await;
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_refusals_have_their_reasons() {
    let slow = Backend::start("slow").await;
    let gone = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut group = fast_group(TG, &[slow.addr, gone]);
    group.health_check.path = "/hold".into();
    group.health_check.timeout = Duration::from_millis(200);
    let plane = plane();
    apply(&plane, alb_config(group), LISTENER).await;
    eventually("both unhealthy", || async {
        state_of(&plane, TG, slow.addr) == Some(TargetHealthState::Unhealthy)
            && state_of(&plane, TG, gone) == Some(TargetHealthState::Unhealthy)
    })
    .await;
    assert_eq!(
        reason_of(&plane, slow.addr),
        Some(TargetHealthReason::Timeout)
    );
    assert_eq!(
        reason_of(&plane, gone),
        Some(TargetHealthReason::FailedHealthChecks)
    );
    slow.open_gate();
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_open_when_every_target_is_unhealthy() {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    a.set_health(503);
    b.set_health(503);
    let plane = plane();
    let lb = apply(
        &plane,
        alb_config(fast_group(TG, &[a.addr, b.addr])),
        LISTENER,
    )
    .await;
    eventually("both unhealthy", || async {
        state_of(&plane, TG, a.addr) == Some(TargetHealthState::Unhealthy)
            && state_of(&plane, TG, b.addr) == Some(TargetHealthState::Unhealthy)
    })
    .await;
    for _ in 0..10 {
        assert_eq!(get(lb, "/").await.status, 200);
    }
    assert!(
        a.hits() > 0 && b.hits() > 0,
        "a {} b {}",
        a.hits(),
        b.hits()
    );
    plane.shutdown().await;
}

/// Sends `/hold` and returns which backend holds it.
async fn hold_one(lb: SocketAddr, a: &Backend, b: &Backend) -> tokio::task::JoinHandle<Reply> {
    let held = tokio::spawn(get(lb, "/hold"));
    eventually("request held", || async {
        a.inflight() + b.inflight() == 1
    })
    .await;
    held
}

fn draining(mut group: TargetGroupConfig, addr: SocketAddr, delay: Duration) -> LbConfig {
    group.deregistration_delay = delay;
    for t in &mut group.targets {
        if t.addr() == addr {
            t.draining_since = Some(SystemTime::now());
        }
    }
    alb_config(group)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_target_finishes_in_flight_then_leaves() {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let plane = plane();
    let group = fast_group(TG, &[a.addr, b.addr]);
    let lb = apply(&plane, alb_config(group.clone()), LISTENER).await;
    wait_healthy(&plane, TG, &[a.addr, b.addr]).await;
    let held = hold_one(lb, &a, &b).await;
    let (busy, idle) = if a.inflight() == 1 {
        (&a, &b)
    } else {
        (&b, &a)
    };

    apply(
        &plane,
        draining(group, busy.addr, Duration::from_secs(300)),
        LISTENER,
    )
    .await;
    assert_eq!(
        state_of(&plane, TG, busy.addr),
        Some(TargetHealthState::Draining)
    );
    assert_eq!(
        reason_of(&plane, busy.addr),
        Some(TargetHealthReason::DeregistrationInProgress)
    );
    let before = busy.hits();
    for _ in 0..10 {
        assert_eq!(get(lb, "/").await.body, idle.state.name);
    }
    assert_eq!(busy.hits(), before);

    busy.open_gate();
    let reply = held.await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, format!("held by {}", busy.state.name));
    // Nothing left in flight: deregistration completes early, as in AWS.
    eventually("drained target gone", || async {
        state_of(&plane, TG, busy.addr).is_none()
    })
    .await;
    assert_eq!(
        state_of(&plane, TG, idle.addr),
        Some(TargetHealthState::Healthy)
    );
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deregistration_delay_ends_draining_even_with_requests_left() {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let plane = plane();
    let group = fast_group(TG, &[a.addr, b.addr]);
    let lb = apply(&plane, alb_config(group.clone()), LISTENER).await;
    wait_healthy(&plane, TG, &[a.addr, b.addr]).await;
    let held = hold_one(lb, &a, &b).await;
    let busy = if a.inflight() == 1 { &a } else { &b };

    apply(
        &plane,
        draining(group, busy.addr, Duration::from_millis(200)),
        LISTENER,
    )
    .await;
    eventually("delay passed", || async {
        state_of(&plane, TG, busy.addr).is_none()
    })
    .await;
    assert_eq!(busy.inflight(), 1);
    busy.open_gate();
    assert_eq!(held.await.unwrap().status, 200);
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_without_a_listener_are_unused() {
    let a = Backend::start("a").await;
    let plane = plane();
    let config = LbConfig {
        listeners: vec![],
        target_groups: BTreeMap::from([(TG.to_owned(), fast_group(TG, &[a.addr]))]),
    };
    assert!(plane.apply(config).await.is_ok());
    let health = plane.target_health();
    let h = &health[&(TG.to_owned(), a.addr.ip(), a.addr.port())];
    assert_eq!(h.state, TargetHealthState::Unused);
    assert_eq!(h.reason.unwrap().as_str(), "Target.NotInUse");
    // Attaching a listener starts checks.
    apply(&plane, alb_config(fast_group(TG, &[a.addr])), LISTENER).await;
    wait_healthy(&plane, TG, &[a.addr]).await;
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish() {
    let a = Backend::start("a").await;
    let plane = plane();
    let lb = apply(&plane, alb_config(fast_group(TG, &[a.addr])), LISTENER).await;
    let held = tokio::spawn(get(lb, "/hold"));
    eventually("request held", || async { a.inflight() == 1 }).await;
    let plane = std::sync::Arc::new(plane);
    let stopping = {
        let plane = plane.clone();
        tokio::spawn(async move { plane.shutdown().await })
    };
    eventually("listener closed", || async {
        tokio::net::TcpStream::connect(lb).await.is_err()
    })
    .await;
    a.open_gate();
    assert_eq!(held.await.unwrap().body, "held by a");
    stopping.await.unwrap();
    assert!(plane.target_health().is_empty());
}
