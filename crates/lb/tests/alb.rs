//! ALB listeners end to end: real sockets on 127.0.0.1, real backends.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use dockyard_lb::{
    Action, Condition, DataPlane, DataPlaneOptions, FixedResponseConfig, ForwardConfig, LbConfig,
    ListenerConfig, RedirectConfig, RedirectStatus, Rule, WeightedTargetGroup,
};
use http::{Request, StatusCode, Version, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const TG: &str = "arn:tg/app";
const LISTENER: &str = "listener/app";

fn plane() -> DataPlane {
    DataPlane::new(DataPlaneOptions::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_with_forwarding_headers_and_trace_id() {
    let backend = Backend::start("a").await;
    let plane = plane();
    let lb = apply(
        &plane,
        alb_config(fast_group(TG, &[backend.addr])),
        LISTENER,
    )
    .await;

    let req = Request::get("/hello?x=1")
        .header(header::HOST, "app.example.com")
        .header("x-forwarded-for", "203.0.113.9")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "must not pass")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = send(lb, req).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "a");
    let seen = backend.last_seen();
    assert_eq!(seen.uri.path_and_query().unwrap().as_str(), "/hello?x=1");
    assert_eq!(seen.version, Version::HTTP_11);
    assert_eq!(seen.headers["host"], "app.example.com");
    assert_eq!(seen.headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert_eq!(
        seen.headers["x-forwarded-port"],
        lb.port().to_string().as_str()
    );
    assert!(!seen.headers.contains_key("x-hop"));
    let trace = seen.headers["x-amzn-trace-id"].to_str().unwrap().to_owned();
    let id = trace.strip_prefix("Root=1-").expect("root trace id");
    let (secs, random) = id.split_once('-').unwrap();
    assert_eq!(secs.len(), 8);
    assert_eq!(random.len(), 24);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'));

    // A trace id from the client keeps its Root and gains a Self.
    let req = Request::get("/")
        .header(header::HOST, "app.example.com")
        .header(
            "x-amzn-trace-id",
            "Root=1-67891233-abcdef012345678912345678;CalledFrom=app",
        )
        .body(Full::new(Bytes::new()))
        .unwrap();
    send(lb, req).await;
    let trace = backend.last_seen().headers["x-amzn-trace-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(trace.starts_with("Self=1-"), "{trace}");
    assert!(
        trace.ends_with(";Root=1-67891233-abcdef012345678912345678;CalledFrom=app"),
        "{trace}"
    );
    plane.shutdown().await;
}

fn fixed(code: u16, body: &str) -> Vec<Action> {
    vec![Action::FixedResponse(FixedResponseConfig {
        status: code,
        content_type: Some("text/plain".into()),
        body: Some(body.into()),
    })]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_route_by_priority_with_every_action() {
    let api = Backend::start("api").await;
    let web = Backend::start("web").await;
    let mut listener = ListenerConfig::http(LISTENER, any_port(), "tg/web");
    listener.rules = vec![
        Rule {
            priority: 20,
            conditions: vec![Condition::PathPattern(vec!["/api/*".into()])],
            actions: vec![Action::Forward(ForwardConfig::single("tg/api"))],
        },
        Rule {
            priority: 10,
            conditions: vec![
                Condition::PathPattern(vec!["/api/admin*".into()]),
                Condition::HttpHeader {
                    name: "x-role".into(),
                    values: vec!["guest".into()],
                },
            ],
            actions: fixed(403, "no admins here"),
        },
        Rule {
            priority: 30,
            conditions: vec![Condition::HostHeader(vec!["old.example.*".into()])],
            actions: vec![Action::Redirect(RedirectConfig {
                protocol: Some("HTTPS".into()),
                host: Some("new.#{host}".into()),
                port: Some("443".into()),
                path: Some("/moved/#{path}".into()),
                query: Some("#{query}&from=#{port}".into()),
                status: RedirectStatus::Permanent,
            })],
        },
        Rule {
            priority: 40,
            conditions: vec![Condition::QueryString(vec![dockyard_lb::QueryStringPair {
                key: Some("mode".into()),
                value: "maint*".into(),
            }])],
            actions: fixed(503, "maintenance"),
        },
    ];
    let config = LbConfig {
        listeners: vec![listener],
        target_groups: BTreeMap::from([
            ("tg/api".into(), fast_group("tg/api", &[api.addr])),
            ("tg/web".into(), fast_group("tg/web", &[web.addr])),
        ]),
    };
    let plane = plane();
    let lb = apply(&plane, config, LISTENER).await;

    assert_eq!(get(lb, "/api/users").await.body, "api");
    assert_eq!(get(lb, "/index.html").await.body, "web");
    let admin = Request::get("/api/admin/x")
        .header(header::HOST, "app.example.com")
        .header("x-role", "GUEST")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = send(lb, admin).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.body, "no admins here");
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    // Without the header the admin path falls through to the api rule.
    assert_eq!(get(lb, "/api/admin/x").await.body, "api");

    let old = Request::get("/a/b?q=1")
        .header(header::HOST, "old.example.org:8080")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = send(lb, old).await;
    assert_eq!(reply.status, StatusCode::MOVED_PERMANENTLY);
    let expected = format!(
        "https://new.old.example.org:443/moved/a/b?q=1&from={}",
        lb.port()
    );
    assert_eq!(reply.headers[header::LOCATION], expected.as_str());

    let reply = get(lb, "/page?Mode=Maintenance").await;
    assert_eq!(
        (reply.status.as_u16(), reply.body.as_str()),
        (503, "maintenance")
    );
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_forward_spreads_and_group_stickiness_holds() {
    let blue = Backend::start("blue").await;
    let green = Backend::start("green").await;
    let mut listener = ListenerConfig::http(LISTENER, any_port(), "tg/blue");
    listener.default_actions = vec![Action::Forward(ForwardConfig {
        target_groups: vec![
            WeightedTargetGroup {
                arn: "tg/blue".into(),
                weight: 1,
            },
            WeightedTargetGroup {
                arn: "tg/green".into(),
                weight: 1,
            },
        ],
        stickiness: Some(Duration::from_secs(600)),
    })];
    let config = LbConfig {
        listeners: vec![listener],
        target_groups: BTreeMap::from([
            ("tg/blue".into(), fast_group("tg/blue", &[blue.addr])),
            ("tg/green".into(), fast_group("tg/green", &[green.addr])),
        ]),
    };
    let plane = plane();
    let lb = apply(&plane, config, LISTENER).await;
    let mut cookie = None;
    for _ in 0..200 {
        let reply = get(lb, "/").await;
        assert_eq!(reply.status, 200);
        if cookie.is_none() {
            let set = reply.headers.get_all(header::SET_COOKIE);
            let tg = set
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .find(|c| c.starts_with("AWSALBTG="))
                .expect("group stickiness cookie");
            cookie = Some((tg.split(';').next().unwrap().to_owned(), reply.body.clone()));
        }
    }
    assert!(
        blue.hits() > 20 && green.hits() > 20,
        "blue {} green {}",
        blue.hits(),
        green.hits()
    );

    let (cookie, first) = cookie.unwrap();
    for _ in 0..30 {
        let req = Request::get("/")
            .header(header::HOST, "app.example.com")
            .header(header::COOKIE, cookie.as_str())
            .body(Full::new(Bytes::new()))
            .unwrap();
        assert_eq!(send(lb, req).await.body, first);
    }
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_502_503_504() {
    let plane = DataPlane::new(DataPlaneOptions {
        connect_timeout: Duration::from_secs(5),
        ..DataPlaneOptions::default()
    });
    // A port nothing listens on: refused, 502. Health checks disabled so
    // the target is routed to (AWS: unavailable, takes traffic).
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut refused = fast_group("tg/refused", &[closed]);
    refused.health_check.enabled = false;
    let empty = fast_group("tg/empty", &[]);
    let slow_backend = Backend::start("slow").await;
    let mut slow = fast_group("tg/slow", &[slow_backend.addr]);
    slow.health_check.enabled = false;

    let mut l502 = ListenerConfig::http("l/502", any_port(), "tg/refused");
    l502.rules.clear();
    let l503 = ListenerConfig::http("l/503", any_port(), "tg/empty");
    let mut l504 = ListenerConfig::http("l/504", any_port(), "tg/slow");
    l504.idle_timeout = Duration::from_millis(300);
    let config = LbConfig {
        listeners: vec![l502, l503, l504],
        target_groups: BTreeMap::from([
            ("tg/refused".into(), refused),
            ("tg/empty".into(), empty),
            ("tg/slow".into(), slow),
        ]),
    };
    let report = plane.apply(config).await;
    assert!(report.is_ok(), "{:?}", report.errors);

    let reply = get(report.bound["l/502"], "/").await;
    assert_eq!(reply.status, 502);
    assert!(reply.body.contains("502 Bad Gateway"));
    assert_eq!(reply.headers[header::SERVER], "awselb/2.0");
    let reply = get(report.bound["l/503"], "/").await;
    assert_eq!(reply.status, 503);
    assert!(reply.body.contains("503 Service"));
    let reply = get(report.bound["l/504"], "/hold").await;
    assert_eq!(reply.status, 504);
    assert!(reply.body.contains("504 Gateway"));
    slow_backend.open_gate();
    let health = plane.target_health();
    assert_eq!(
        health[&("tg/refused".to_owned(), closed.ip(), closed.port())].state,
        dockyard_lb::TargetHealthState::Unavailable
    );
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_streams_before_the_target_finishes() {
    let backend = Backend::start("s").await;
    let plane = plane();
    let lb = apply(
        &plane,
        alb_config(fast_group(TG, &[backend.addr])),
        LISTENER,
    )
    .await;

    let stream = TcpStream::connect(lb).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let response = sender.send_request(get_req("/stream")).await.unwrap();
    let mut body = response.into_body();
    // The backend holds its second chunk until the gate opens, so this
    // frame can only arrive if the load balancer does not buffer.
    let first = tokio::time::timeout(Duration::from_secs(20), body.frame())
        .await
        .expect("first chunk streamed");
    let first = first.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "first\n");
    backend.open_gate();
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(rest, "second\n");
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_body_streams_to_the_target() {
    let backend = Backend::start("e").await;
    let plane = plane();
    let lb = apply(
        &plane,
        alb_config(fast_group(TG, &[backend.addr])),
        LISTENER,
    )
    .await;

    let stream = TcpStream::connect(lb).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let req = Request::post("/echo")
        .header(header::HOST, "x")
        .body(ChannelBody(rx))
        .unwrap();
    tx.send(Bytes::from_static(b"ping-1")).await.unwrap();
    let response = sender.send_request(req).await.unwrap();
    let mut body = response.into_body();
    // The echo of the first chunk arrives while the request is still open.
    let echoed = tokio::time::timeout(Duration::from_secs(20), body.frame())
        .await
        .expect("echo streamed");
    assert_eq!(echoed.unwrap().unwrap().into_data().unwrap(), "ping-1");
    tx.send(Bytes::from_static(b"ping-2")).await.unwrap();
    drop(tx);
    assert_eq!(body.collect().await.unwrap().to_bytes(), "ping-2");
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrade_is_tunnelled() {
    let backend = Backend::start("ws").await;
    let plane = plane();
    let lb = apply(
        &plane,
        alb_config(fast_group(TG, &[backend.addr])),
        LISTENER,
    )
    .await;

    let mut stream = TcpStream::connect(lb).await.unwrap();
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    for msg in [&b"hello"[..], b"through the tunnel"] {
        stream.write_all(msg).await.unwrap();
        let mut back = vec![0u8; msg.len()];
        stream.read_exact(&mut back).await.unwrap();
        assert_eq!(back, msg);
    }
    let seen = backend.last_seen();
    assert_eq!(seen.headers["upgrade"], "websocket");
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_clients_reach_http1_targets() {
    let backend = Backend::start("h1").await;
    let plane = plane();
    let lb = apply(
        &plane,
        alb_config(fast_group(TG, &[backend.addr])),
        LISTENER,
    )
    .await;

    let stream = TcpStream::connect(lb).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    for i in 0..3 {
        let req = Request::get(format!("http://h2.example.com/path/{i}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = sender.send_request(req).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), Version::HTTP_2);
        assert_eq!(
            response.into_body().collect().await.unwrap().to_bytes(),
            "h1"
        );
    }
    let seen = backend.last_seen();
    assert_eq!(seen.version, Version::HTTP_11);
    assert_eq!(seen.headers["host"], "h2.example.com");
    assert_eq!(seen.uri.path(), "/path/2");
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_apply_keeps_keep_alive_connections() {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let plane = plane();
    let lb = apply(&plane, alb_config(fast_group(TG, &[a.addr])), LISTENER).await;

    let stream = TcpStream::connect(lb).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let conn_task = tokio::spawn(conn);
    let body = |r: http::Response<hyper::body::Incoming>| async move {
        String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
    };
    assert_eq!(
        body(sender.send_request(get_req("/")).await.unwrap()).await,
        "a"
    );

    // Swap the target and add a rule; the same connection sees both.
    let mut config = alb_config(fast_group(TG, &[b.addr]));
    config.listeners[0].rules = vec![Rule {
        priority: 1,
        conditions: vec![Condition::PathPattern(vec!["/fixed".into()])],
        actions: fixed(200, "fixed"),
    }];
    let lb2 = apply(&plane, config, LISTENER).await;
    assert_eq!(lb2, lb);
    sender.ready().await.unwrap();
    assert_eq!(
        body(sender.send_request(get_req("/fixed")).await.unwrap()).await,
        "fixed"
    );
    // The new target is still initial, so it gets traffic only when the
    // old one is gone from the group, which the apply just did.
    sender.ready().await.unwrap();
    assert_eq!(
        body(sender.send_request(get_req("/")).await.unwrap()).await,
        "b"
    );
    assert!(!conn_task.is_finished());
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_listener_stops_accepting_and_finishes_in_flight() {
    let backend = Backend::start("a").await;
    let plane = plane();
    let lb = apply(
        &plane,
        alb_config(fast_group(TG, &[backend.addr])),
        LISTENER,
    )
    .await;
    let held = tokio::spawn(get(lb, "/hold"));
    eventually("request in flight", || async { backend.inflight() == 1 }).await;

    let report = plane
        .apply(LbConfig {
            listeners: vec![],
            target_groups: BTreeMap::from([(TG.to_owned(), fast_group(TG, &[backend.addr]))]),
        })
        .await;
    assert!(report.is_ok());
    assert!(
        TcpStream::connect(lb).await.is_err(),
        "removed listener still accepts"
    );
    backend.open_gate();
    let reply = held.await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "held by a");
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_errors_are_reported_per_listener() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap();
    let backend = Backend::start("a").await;
    let mut config = alb_config(fast_group(TG, &[backend.addr]));
    config
        .listeners
        .push(ListenerConfig::http("listener/clash", port, TG));
    // TLS passthrough termination is not served (HTTPS is, on ALBs).
    let mut tls = ListenerConfig::tcp("listener/tls", any_port(), TG);
    tls.protocol = dockyard_lb::Protocol::Tls;
    config.listeners.push(tls);
    let plane = plane();
    let report = plane.apply(config).await;
    assert_eq!(report.errors.len(), 2, "{:?}", report.errors);
    assert_eq!(
        report.errors["listener/clash"].kind(),
        dockyard_types::ErrorKind::Conflict
    );
    assert!(matches!(
        report.errors["listener/tls"],
        dockyard_lb::ListenerError::UnsupportedProtocol { .. }
    ));
    // The good listener serves regardless.
    assert_eq!(get(report.bound[LISTENER], "/").await.body, "a");
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_closing_pooled_connections_is_retried_transparently() {
    // Keep-alive by HTTP/1.1 default, but the target hangs up after each
    // response, as one whose keep-alive timeout just passed would.
    let target = raw_target(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false).await;
    let mut group = fast_group(TG, &[target]);
    group.health_check.enabled = false;
    let plane = plane();
    let lb = apply(&plane, alb_config(group), LISTENER).await;
    for _ in 0..10 {
        let reply = get(lb, "/").await;
        assert_eq!((reply.status.as_u16(), reply.body.as_str()), (200, "ok"));
    }
    plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_delimited_and_head_responses() {
    let target = raw_target(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
        false,
    )
    .await;
    let backend = Backend::start("head").await;
    let mut close = fast_group("tg/close", &[target]);
    close.health_check.enabled = false;
    let mut l = ListenerConfig::http(LISTENER, any_port(), "tg/close");
    l.rules = vec![Rule {
        priority: 1,
        conditions: vec![Condition::HttpRequestMethod(vec!["HEAD".into()])],
        actions: vec![Action::Forward(ForwardConfig::single("tg/head"))],
    }];
    let config = LbConfig {
        listeners: vec![l],
        target_groups: BTreeMap::from([
            ("tg/close".into(), close),
            ("tg/head".into(), fast_group("tg/head", &[backend.addr])),
        ]),
    };
    let plane = plane();
    let lb = apply(&plane, config, LISTENER).await;
    let reply = get(lb, "/").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "until the end");

    let head = Request::head("/")
        .header(header::HOST, "x")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = send(lb, head).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers[header::CONTENT_LENGTH], "4");
    assert_eq!(reply.body, "");
    // The connection stays usable after a HEAD.
    assert_eq!(get(lb, "/").await.body, "until the end");
    plane.shutdown().await;
}
