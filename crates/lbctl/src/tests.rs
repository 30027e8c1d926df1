//! The glue over a real data plane on loopback: listeners created through
//! the ELBv2 API carry traffic, health reports come back to the API.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dockyard_aws::query::{QueryParams, XmlWriter};
use dockyard_aws::{CallContext, Principal, QueryService};
use dockyard_elbv2::model::Protocol;
use dockyard_elbv2::{ElbService, PortCheck, SequentialIds, TargetHealthSource};
use dockyard_store::{MemStore, StoreExt};

use crate::{ListenerPorts, LoadBalancers, read};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn ctx() -> CallContext {
    CallContext {
        principal: Principal::root("000000000000"),
        access_key_id: "AKIAEXAMPLE".into(),
        account: "000000000000".into(),
        region: "us-east-1".into(),
        request_id: "r".into(),
        now: chrono::Utc::now(),
    }
}

fn call(svc: &ElbService, action: &str, pairs: &[(&str, &str)]) -> String {
    let params = QueryParams::from_pairs(pairs.iter().copied());
    let mut out = XmlWriter::new();
    svc.call(&ctx(), action, &params, &mut out)
        .unwrap_or_else(|e| panic!("{action}: {e:?}"));
    out.finish()
}

/// The text of the first `<tag>` of `xml`.
fn first(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no {tag} in {xml}"))
        + open.len();
    let end = start + xml[start..].find('<').unwrap();
    xml[start..end].to_string()
}

fn free_port() -> u16 {
    TcpListener::bind((LOCAL, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP server answering every request with `body`, one connection
/// at a time.
fn backend(body: &'static str) -> SocketAddr {
    let l = TcpListener::bind((LOCAL, 0)).unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

fn get(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_listener_created_through_the_api_serves_and_reports_health() {
    let store = Arc::new(MemStore::new());
    let lbs = LoadBalancers::start(store.clone(), LOCAL, None).unwrap();
    let svc = ElbService::new(
        store.clone(),
        Arc::new(SequentialIds::default()),
        lbs.health(),
    );
    let b = backend("hello from the backend");
    let lb = call(
        &svc,
        "CreateLoadBalancer",
        &[("Name", "web"), ("Subnets.member.1", "subnet-1")],
    );
    let lb_arn = first(&lb, "LoadBalancerArn");
    let tg = call(
        &svc,
        "CreateTargetGroup",
        &[
            ("Name", "web"),
            ("Protocol", "HTTP"),
            ("Port", "80"),
            ("VpcId", dockyard_elbv2::VPC_ID),
            ("TargetType", "ip"),
            ("HealthCheckIntervalSeconds", "5"),
            ("HealthCheckTimeoutSeconds", "2"),
        ],
    );
    let tg_arn = first(&tg, "TargetGroupArn");
    let port = b.port().to_string();
    call(
        &svc,
        "RegisterTargets",
        &[
            ("TargetGroupArn", &tg_arn),
            ("Targets.member.1.Id", "127.0.0.1"),
            ("Targets.member.1.Port", &port),
        ],
    );
    let listen = free_port();
    call(
        &svc,
        "CreateListener",
        &[
            ("LoadBalancerArn", &lb_arn),
            ("Protocol", "HTTP"),
            ("Port", &listen.to_string()),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &tg_arn),
        ],
    );
    let addr = SocketAddr::new(LOCAL, listen);
    eventually("the listener forwards to the backend", || {
        get(addr).is_ok_and(|r| r.contains("hello from the backend"))
    });
    eventually("the target is reported healthy", || {
        let h = call(&svc, "DescribeTargetHealth", &[("TargetGroupArn", &tg_arn)]);
        first(&h, "State") == "healthy"
    });
    assert!(
        lbs.health()
            .health(&tg_arn, "127.0.0.1", b.port())
            .is_some()
    );

    // A fixed response rule, applied live.
    let listeners = call(&svc, "DescribeListeners", &[("LoadBalancerArn", &lb_arn)]);
    let listener_arn = first(&listeners, "ListenerArn");
    call(
        &svc,
        "CreateRule",
        &[
            ("ListenerArn", &listener_arn),
            ("Priority", "1"),
            ("Conditions.member.1.Field", "path-pattern"),
            ("Conditions.member.1.Values.member.1", "/"),
            ("Actions.member.1.Type", "fixed-response"),
            ("Actions.member.1.FixedResponseConfig.StatusCode", "503"),
            (
                "Actions.member.1.FixedResponseConfig.MessageBody",
                "maintenance",
            ),
        ],
    );
    eventually("the rule answers", || {
        get(addr).is_ok_and(|r| r.starts_with("HTTP/1.1 503") && r.contains("maintenance"))
    });

    // Deleting the load balancer closes its port.
    call(&svc, "DeleteLoadBalancer", &[("LoadBalancerArn", &lb_arn)]);
    eventually("the port is released", || TcpStream::connect(addr).is_err());
    lbs.stop();
}

#[test]
fn instance_targets_resolve_to_their_nodes_and_unknown_ones_are_skipped() {
    let store = Arc::new(MemStore::new());
    let svc = ElbService::new(
        store.clone(),
        Arc::new(SequentialIds::default()),
        Arc::new(dockyard_elbv2::NoHealthReports),
    );
    let tg = call(
        &svc,
        "CreateTargetGroup",
        &[
            ("Name", "inst"),
            ("Protocol", "HTTP"),
            ("Port", "80"),
            ("VpcId", dockyard_elbv2::VPC_ID),
        ],
    );
    let tg_arn = first(&tg, "TargetGroupArn");
    call(
        &svc,
        "RegisterTargets",
        &[
            ("TargetGroupArn", &tg_arn),
            ("Targets.member.1.Id", "i-0123456789abcdef0"),
            ("Targets.member.1.Port", "32768"),
            ("Targets.member.2.Id", "i-0fffffffffffffff0"),
            ("Targets.member.2.Port", "32769"),
        ],
    );
    let instance = serde_json::json!({
        "id": "abc", "arn": "arn:aws:ecs:us-east-1:000000000000:container-instance/c/abc",
        "cluster": "c", "ec2_instance_id": "i-0123456789abcdef0", "status": "ACTIVE",
        "agent_connected": true, "cpu": 1024, "memory": 1024, "registered_ms": 0,
        "version": 1, "address": "10.1.2.3"
    });
    store
        .put(
            &dockyard_ecs::model::instance_key("c", "abc"),
            serde_json::to_vec(&instance).unwrap(),
        )
        .unwrap();
    let t = read(store.as_ref(), LOCAL).unwrap();
    let targets = &t.config.target_groups[&tg_arn].targets;
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].addr(), "10.1.2.3:32768".parse().unwrap());
    assert_eq!(
        t.targets,
        BTreeMap::from([(
            (tg_arn.clone(), "i-0123456789abcdef0".to_string(), 32768),
            "10.1.2.3".parse().unwrap()
        )])
    );
    assert_eq!(t.skipped.len(), 1, "{:?}", t.skipped);
    assert!(t.skipped[0].contains("i-0fffffffffffffff0"));
}

#[test]
fn listener_ports_refuse_the_api_port_and_ports_in_use() {
    let held = TcpListener::bind((LOCAL, 0)).unwrap();
    let held_port = held.local_addr().unwrap().port();
    let ports = ListenerPorts {
        lb_ip: LOCAL,
        api: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 4566),
    };
    assert!(
        ports
            .check(4566, Protocol::Http)
            .unwrap_err()
            .contains("API")
    );
    assert!(
        ports
            .check(held_port, Protocol::Http)
            .unwrap_err()
            .contains("in use")
    );
    assert!(ports.check(free_port(), Protocol::Tcp).is_ok());
}
