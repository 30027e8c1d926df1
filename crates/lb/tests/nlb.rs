//! NLB listeners: TCP passthrough by flow hash, TCP health checks,
//! draining of open connections.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use common::*;
use dockyard_lb::{
    DataPlane, DataPlaneOptions, HealthCheck, LbConfig, ListenerConfig, Protocol, Target,
    TargetGroupConfig, TargetHealthReason, TargetHealthState,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TG: &str = "arn:tg/tcp";
const LISTENER: &str = "listener/tcp";

fn tcp_group(targets: &[SocketAddr]) -> TargetGroupConfig {
    let mut tg = TargetGroupConfig::new(TG, Protocol::Tcp);
    tg.targets = targets.iter().map(|a| Target::new(*a)).collect();
    tg.health_check = HealthCheck {
        interval: Duration::from_millis(100),
        timeout: Duration::from_secs(2),
        healthy_threshold: 2,
        unhealthy_threshold: 2,
        ..HealthCheck::defaults_for(Protocol::Tcp)
    };
    tg
}

fn nlb_config(group: TargetGroupConfig) -> LbConfig {
    LbConfig {
        listeners: vec![ListenerConfig::tcp(LISTENER, any_port(), TG)],
        target_groups: BTreeMap::from([(TG.to_owned(), group)]),
    }
}

async fn echo_round_trip(stream: &mut TcpStream, payload: &[u8]) {
    let (mut r, mut w) = stream.split();
    let write = async {
        w.write_all(payload).await.unwrap();
    };
    let read = async {
        let mut back = vec![0u8; payload.len()];
        r.read_exact(&mut back).await.unwrap();
        back
    };
    let ((), back) = tokio::join!(write, read);
    assert!(back == payload, "echo differs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_tcp_through_spread_by_flow() {
    let a = EchoBackend::start().await;
    let b = EchoBackend::start().await;
    let plane = DataPlane::new(DataPlaneOptions::default());
    let lb = apply(&plane, nlb_config(tcp_group(&[a.addr, b.addr])), LISTENER).await;
    wait_healthy(&plane, TG, &[a.addr, b.addr]).await;
    let checks_a = a.conns.load(Ordering::SeqCst);
    let checks_b = b.conns.load(Ordering::SeqCst);

    let payload: Vec<u8> = (0..2_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let mut stream = TcpStream::connect(lb).await.unwrap();
    echo_round_trip(&mut stream, &payload).await;
    // Half-close travels through: the echo server sees EOF and closes.
    stream.shutdown().await.unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());

    for _ in 0..30 {
        let mut s = TcpStream::connect(lb).await.unwrap();
        echo_round_trip(&mut s, b"ping").await;
    }
    // Health checks connect too, so look at growth beyond them: both
    // targets must have taken flows (2^-30 odds of a false failure).
    eventually("both targets took flows", || async {
        let grown_a = a.conns.load(Ordering::SeqCst) > checks_a + 3;
        let grown_b = b.conns.load(Ordering::SeqCst) > checks_b + 3;
        grown_a && grown_b
    })
    .await;
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_target_is_unhealthy_and_skipped() {
    let live = EchoBackend::start().await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let plane = DataPlane::new(DataPlaneOptions::default());
    let lb = apply(&plane, nlb_config(tcp_group(&[live.addr, dead])), LISTENER).await;
    eventually("dead target unhealthy", || async {
        state_of(&plane, TG, dead) == Some(TargetHealthState::Unhealthy)
            && state_of(&plane, TG, live.addr) == Some(TargetHealthState::Healthy)
    })
    .await;
    let health = plane.target_health();
    assert_eq!(
        health[&(TG.to_owned(), dead.ip(), dead.port())].reason,
        Some(TargetHealthReason::FailedHealthChecks)
    );
    for _ in 0..20 {
        let mut s = TcpStream::connect(lb).await.unwrap();
        echo_round_trip(&mut s, b"alive?").await;
    }
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_keeps_open_flows_and_sends_new_ones_elsewhere() {
    let a = EchoBackend::start().await;
    let b = EchoBackend::start().await;
    let plane = DataPlane::new(DataPlaneOptions::default());
    let group = tcp_group(&[a.addr, b.addr]);
    let lb = apply(&plane, nlb_config(group.clone()), LISTENER).await;
    wait_healthy(&plane, TG, &[a.addr, b.addr]).await;

    // Open flows until one lands on a, noticed by a's connection count.
    let mut on_a = None;
    for _ in 0..64 {
        let before = a.conns.load(Ordering::SeqCst);
        let mut s = TcpStream::connect(lb).await.unwrap();
        echo_round_trip(&mut s, b"hi").await;
        if a.conns.load(Ordering::SeqCst) > before {
            on_a = Some(s);
            break;
        }
    }
    let mut on_a = on_a.expect("a flow reached target a");

    let mut drained = group;
    drained.targets[0].draining_since = Some(SystemTime::now());
    apply(&plane, nlb_config(drained), LISTENER).await;
    assert_eq!(
        state_of(&plane, TG, a.addr),
        Some(TargetHealthState::Draining)
    );
    // The open flow still works.
    echo_round_trip(&mut on_a, b"still here").await;
    let before = a.conns.load(Ordering::SeqCst);
    for _ in 0..20 {
        let mut s = TcpStream::connect(lb).await.unwrap();
        echo_round_trip(&mut s, b"new").await;
    }
    assert_eq!(a.conns.load(Ordering::SeqCst), before);
    drop(on_a);
    eventually("drained once the flow closed", || async {
        state_of(&plane, TG, a.addr).is_none()
    })
    .await;
    plane.shutdown().await;
}
