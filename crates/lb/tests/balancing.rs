//! Target selection end to end: round robin, least outstanding requests,
//! and `AWSALB` stickiness.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use dockyard_lb::{Algorithm, DataPlane, DataPlaneOptions};
use http::{Request, header};
use http_body_util::Full;

const TG: &str = "arn:tg/app";
const LISTENER: &str = "listener/app";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_alternates() {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let plane = DataPlane::new(DataPlaneOptions::default());
    let lb = apply(
        &plane,
        alb_config(fast_group(TG, &[a.addr, b.addr])),
        LISTENER,
    )
    .await;
    wait_healthy(&plane, TG, &[a.addr, b.addr]).await;
    let mut bodies = Vec::new();
    for _ in 0..10 {
        bodies.push(get(lb, "/").await.body);
    }
    for pair in bodies.windows(2) {
        assert_ne!(pair[0], pair[1], "{bodies:?}");
    }
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_outstanding_requests_avoids_the_busy_target() {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let mut group = fast_group(TG, &[a.addr, b.addr]);
    group.algorithm = Algorithm::LeastOutstandingRequests;
    let plane = DataPlane::new(DataPlaneOptions::default());
    let lb = apply(&plane, alb_config(group), LISTENER).await;
    wait_healthy(&plane, TG, &[a.addr, b.addr]).await;

    let held = tokio::spawn(get(lb, "/hold"));
    eventually("request held", || async {
        a.inflight() + b.inflight() == 1
    })
    .await;
    let idle = if a.inflight() == 1 { "b" } else { "a" };
    for _ in 0..20 {
        assert_eq!(get(lb, "/").await.body, idle);
    }
    a.open_gate();
    b.open_gate();
    assert_eq!(held.await.unwrap().status, 200);
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lb_cookie_stickiness_pins_a_client_to_its_target() {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let mut group = fast_group(TG, &[a.addr, b.addr]);
    group.stickiness = Some(Duration::from_secs(3600));
    let plane = DataPlane::new(DataPlaneOptions::default());
    let lb = apply(&plane, alb_config(group.clone()), LISTENER).await;
    wait_healthy(&plane, TG, &[a.addr, b.addr]).await;

    let first = get(lb, "/").await;
    let cookies: Vec<String> = first
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let awsalb = cookies
        .iter()
        .find(|c| c.starts_with("AWSALB="))
        .expect("AWSALB cookie");
    assert!(
        awsalb.contains("Expires=") && awsalb.contains("Path=/"),
        "{awsalb}"
    );
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("AWSALBCORS=") && c.contains("SameSite=None"))
    );
    let pair = awsalb.split(';').next().unwrap().to_owned();
    let sticky_get = || {
        Request::get("/")
            .header(header::HOST, "app")
            .header(header::COOKIE, format!("session=1; {pair}"))
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    for _ in 0..20 {
        assert_eq!(send(lb, sticky_get()).await.body, first.body);
    }

    // The pinned target going unhealthy breaks the pin.
    let (pinned, other) = if first.body == "a" {
        (&a, &b)
    } else {
        (&b, &a)
    };
    pinned.set_health(500);
    eventually("pinned target unhealthy", || async {
        state_of(&plane, TG, pinned.addr) == Some(dockyard_lb::TargetHealthState::Unhealthy)
    })
    .await;
    let moved = send(lb, sticky_get()).await;
    assert_eq!(moved.body, other.state.name);
    assert!(
        moved
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("AWSALB="))
    );
    plane.shutdown().await;
}
