//! Targets and their health.

use crate::health::{TargetHealth, TargetHealthReason, TargetHealthState};
use crate::targets::TargetSpec;
use crate::{NoHealthReports, deregister_targets, describe_target_health, register_targets};

use super::{Fx, Node};

/// (id, port, state, reason, health check port) of each description.
fn health(r: &Node) -> Vec<(String, String, String, String, String)> {
    r.members("TargetHealthDescriptions")
        .iter()
        .map(|d| {
            let opt = |p: &str| d.opt(p).map(|n| n.text.clone()).unwrap_or_default();
            (
                d.text("Target/Id"),
                d.text("Target/Port"),
                d.text("TargetHealth/State"),
                opt("TargetHealth/Reason"),
                opt("HealthCheckPort"),
            )
        })
        .collect()
}

fn row(
    id: &str,
    port: &str,
    state: &str,
    reason: &str,
    hc: &str,
) -> (String, String, String, String, String) {
    (
        id.into(),
        port.into(),
        state.into(),
        reason.into(),
        hc.into(),
    )
}

#[test]
fn health_follows_use_and_reports() {
    let fx = Fx::new();
    let tg = fx.tg("web", "HTTP", "8080", "ip");
    fx.ok(
        "RegisterTargets",
        &[
            ("TargetGroupArn", &tg),
            ("Targets.member.1.Id", "10.0.0.5"),
            ("Targets.member.2.Id", "10.0.0.6"),
            ("Targets.member.2.Port", "9090"),
        ],
    );
    let h = health(&fx.ok("DescribeTargetHealth", &[("TargetGroupArn", &tg)]));
    assert_eq!(
        h,
        [
            row("10.0.0.5", "8080", "unused", "Target.NotInUse", ""),
            row("10.0.0.6", "9090", "unused", "Target.NotInUse", "")
        ]
    );

    let lb = fx.alb("web");
    fx.listener(&lb, "HTTP", "80", &tg);
    let h = health(&fx.ok("DescribeTargetHealth", &[("TargetGroupArn", &tg)]));
    assert_eq!(
        h[0],
        row(
            "10.0.0.5",
            "8080",
            "initial",
            "Elb.RegistrationInProgress",
            "8080"
        )
    );
    assert_eq!(
        h[1],
        row(
            "10.0.0.6",
            "9090",
            "initial",
            "Elb.RegistrationInProgress",
            "9090"
        )
    );

    fx.health
        .set(&tg, "10.0.0.5", 8080, TargetHealth::healthy());
    fx.health.set(
        &tg,
        "10.0.0.6",
        9090,
        TargetHealth::new(
            TargetHealthState::Unhealthy,
            TargetHealthReason::ResponseCodeMismatch,
            "Health checks failed with these codes: [503]",
        ),
    );
    let r = fx.ok("DescribeTargetHealth", &[("TargetGroupArn", &tg)]);
    let h = health(&r);
    assert_eq!(h[0], row("10.0.0.5", "8080", "healthy", "", "8080"));
    assert_eq!(
        h[1],
        row(
            "10.0.0.6",
            "9090",
            "unhealthy",
            "Target.ResponseCodeMismatch",
            "9090"
        )
    );
    assert_eq!(
        r.members("TargetHealthDescriptions")[1].text("TargetHealth/Description"),
        "Health checks failed with these codes: [503]"
    );
    assert!(!r.members("TargetHealthDescriptions")[0].has("TargetHealth/Description"));

    // Asking for particular targets, registered or not.
    let asked = fx.ok(
        "DescribeTargetHealth",
        &[
            ("TargetGroupArn", &tg),
            ("Targets.member.1.Id", "10.0.0.6"),
            ("Targets.member.2.Id", "10.0.0.9"),
            ("Targets.member.3.Id", "10.0.0.5"),
            ("Targets.member.3.Port", "1234"),
        ],
    );
    assert_eq!(
        health(&asked),
        [
            row(
                "10.0.0.6",
                "9090",
                "unhealthy",
                "Target.ResponseCodeMismatch",
                "9090"
            ),
            row("10.0.0.9", "8080", "unused", "Target.NotRegistered", ""),
            row("10.0.0.5", "1234", "unused", "Target.NotRegistered", ""),
        ]
    );
}

#[test]
fn deregistered_targets_drain_for_the_delay() {
    let fx = Fx::new();
    let (_, tg, _) = fx.web("web", "80");
    let target = [
        ("TargetGroupArn", tg.as_str()),
        ("Targets.member.1.Id", "10.0.0.5"),
    ];
    fx.ok("RegisterTargets", &target);
    fx.ok("DeregisterTargets", &target);
    let h = health(&fx.ok("DescribeTargetHealth", &[("TargetGroupArn", &tg)]));
    assert_eq!(
        h,
        [row(
            "10.0.0.5",
            "8080",
            "draining",
            "Target.DeregistrationInProgress",
            "8080"
        )]
    );

    fx.advance(299);
    assert_eq!(
        health(&fx.ok("DescribeTargetHealth", &[("TargetGroupArn", &tg)])).len(),
        1
    );
    fx.advance(1);
    assert!(health(&fx.ok("DescribeTargetHealth", &[("TargetGroupArn", &tg)])).is_empty());
    assert!(
        fx.dump().keys().any(|k| k.starts_with("elbv2/targets/")),
        "kept until a write"
    );
    // The next write forgets it.
    fx.tg("other", "HTTP", "80", "ip");
    assert!(!fx.dump().keys().any(|k| k.starts_with("elbv2/targets/")));

    // Registering a draining target makes it registered again.
    fx.ok("RegisterTargets", &target);
    fx.ok("DeregisterTargets", &target);
    fx.advance(10);
    fx.ok("RegisterTargets", &target);
    let h = health(&fx.ok("DescribeTargetHealth", &[("TargetGroupArn", &tg)]));
    assert_eq!(
        h,
        [row(
            "10.0.0.5",
            "8080",
            "initial",
            "Elb.RegistrationInProgress",
            "8080"
        )]
    );

    // With no delay a deregistered target goes at once.
    fx.ok(
        "ModifyTargetGroupAttributes",
        &[
            ("TargetGroupArn", &tg),
            (
                "Attributes.member.1.Key",
                "deregistration_delay.timeout_seconds",
            ),
            ("Attributes.member.1.Value", "0"),
        ],
    );
    fx.ok("DeregisterTargets", &target);
    assert!(health(&fx.ok("DescribeTargetHealth", &[("TargetGroupArn", &tg)])).is_empty());
    // Deregistering what is not registered succeeds.
    fx.ok("DeregisterTargets", &target);
}

#[test]
fn registering_twice_changes_nothing() {
    let fx = Fx::new();
    let tg = fx.tg("web", "HTTP", "80", "ip");
    let target = [
        ("TargetGroupArn", tg.as_str()),
        ("Targets.member.1.Id", "10.0.0.5"),
    ];
    fx.ok("RegisterTargets", &target);
    let rev = fx.revision();
    fx.ok("RegisterTargets", &target);
    assert_eq!(fx.revision(), rev);
}

#[test]
fn targets_are_checked() {
    let fx = Fx::new();
    let ip = fx.tg("ip", "HTTP", "80", "ip");
    let inst = fx.tg("inst", "HTTP", "80", "instance");
    let t = |tg: &str, id: &str| {
        vec![
            ("TargetGroupArn".to_string(), tg.to_string()),
            ("Targets.member.1.Id".into(), id.to_string()),
        ]
    };
    for (pairs, code) in [
        (t(&ip, "web-1"), "InvalidTarget"),
        (t(&ip, "0.0.0.0"), "InvalidTarget"),
        (t(&ip, "fe80::1"), "InvalidTarget"),
        (t(&inst, "10.0.0.5"), "InvalidTarget"),
        (t(&inst, "i-XYZ"), "InvalidTarget"),
    ] {
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(fx.code("RegisterTargets", &pairs), code, "{pairs:?}");
    }
    fx.ok(
        "RegisterTargets",
        &[
            ("TargetGroupArn", &inst),
            ("Targets.member.1.Id", "i-0123456789abcdef0"),
        ],
    );
    for (pairs, code) in [
        (
            vec![
                ("TargetGroupArn", inst.as_str()),
                ("Targets.member.1.Id", "i-0f76fade"),
                ("Targets.member.1.AvailabilityZone", "us-east-1a"),
            ],
            "ValidationError",
        ),
        (
            vec![
                ("TargetGroupArn", ip.as_str()),
                ("Targets.member.1.Id", "10.0.0.1"),
                ("Targets.member.1.AvailabilityZone", "eu-west-1a"),
            ],
            "ValidationError",
        ),
        (
            vec![
                ("TargetGroupArn", ip.as_str()),
                ("Targets.member.1.Id", "10.0.0.1"),
                ("Targets.member.1.Port", "70000"),
            ],
            "ValidationError",
        ),
        (vec![("TargetGroupArn", ip.as_str())], "ValidationError"),
        (vec![("Targets.member.1.Id", "10.0.0.1")], "ValidationError"),
        (
            vec![
                ("TargetGroupArn", "tg"),
                ("Targets.member.1.Id", "10.0.0.1"),
            ],
            "ValidationError",
        ),
    ] {
        assert_eq!(fx.code("RegisterTargets", &pairs), code, "{pairs:?}");
    }
    let missing = ip.replace("0000000000000001", "0000000000000077");
    assert_eq!(
        fx.code(
            "RegisterTargets",
            &[
                ("TargetGroupArn", &missing),
                ("Targets.member.1.Id", "10.0.0.1")
            ]
        ),
        "TargetGroupNotFound"
    );
    assert_eq!(
        fx.code("DescribeTargetHealth", &[("TargetGroupArn", &missing)]),
        "TargetGroupNotFound"
    );
    assert_eq!(
        fx.code(
            "DescribeTargetHealth",
            &[("TargetGroupArn", &ip), ("Targets.member.1.Id", "nope")]
        ),
        "InvalidTarget"
    );
    assert_eq!(
        fx.code(
            "DescribeTargetHealth",
            &[("TargetGroupArn", &ip), ("Include.member.1", "Everything")]
        ),
        "ValidationError"
    );
}

#[test]
fn zones_the_load_balancer_is_not_in() {
    let fx = Fx::new();
    let (_, tg, _) = fx.web("web", "80");
    fx.ok(
        "RegisterTargets",
        &[
            ("TargetGroupArn", &tg),
            ("Targets.member.1.Id", "10.0.0.5"),
            ("Targets.member.1.AvailabilityZone", "us-east-1b"),
            ("Targets.member.2.Id", "10.0.0.6"),
            ("Targets.member.2.AvailabilityZone", "us-east-1c"),
            ("Targets.member.3.Id", "10.0.0.7"),
            ("Targets.member.3.AvailabilityZone", "all"),
        ],
    );
    let r = fx.ok("DescribeTargetHealth", &[("TargetGroupArn", &tg)]);
    let states: Vec<(String, String)> = health(&r).into_iter().map(|h| (h.0, h.2)).collect();
    assert_eq!(
        states,
        [
            ("10.0.0.5".to_string(), "initial".to_string()),
            ("10.0.0.6".to_string(), "unused".to_string()),
            ("10.0.0.7".to_string(), "initial".to_string())
        ]
    );
    assert_eq!(
        r.members("TargetHealthDescriptions")[0].text("Target/AvailabilityZone"),
        "us-east-1b"
    );
}

#[test]
fn target_quota_applies_to_the_whole_request() {
    let fx = Fx::new();
    let tg = fx.tg("web", "HTTP", "80", "ip");
    let keys: Vec<(String, String)> = (0..1001)
        .map(|i| {
            (
                format!("Targets.member.{}.Id", i + 1),
                format!("10.0.{}.{}", i / 250, i % 250 + 1),
            )
        })
        .collect();
    let mut pairs: Vec<(&str, &str)> = vec![("TargetGroupArn", &tg)];
    pairs.extend(keys.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    assert_eq!(fx.code("RegisterTargets", &pairs), "TooManyTargets");
    pairs.pop();
    fx.ok("RegisterTargets", &pairs);
    assert_eq!(
        fx.code(
            "RegisterTargets",
            &[("TargetGroupArn", &tg), ("Targets.member.1.Id", "10.9.9.9")]
        ),
        "TooManyTargets"
    );
}

#[test]
fn rust_functions_for_the_scheduler() {
    let fx = Fx::new();
    let (_, tg, _) = fx.web("web", "80");
    let store = fx.store.as_ref();
    let now = fx.now();
    register_targets(
        store,
        &tg,
        &[
            TargetSpec::new("10.0.0.5", Some(32768)),
            TargetSpec::new("10.0.0.6", None),
        ],
        now,
    )
    .unwrap();
    let h = describe_target_health(store, &NoHealthReports, &tg, now).unwrap();
    let got: Vec<(String, u16, TargetHealthState)> = h
        .iter()
        .map(|d| (d.id.clone(), d.port, d.health.state))
        .collect();
    assert_eq!(
        got,
        [
            ("10.0.0.5".to_string(), 32768, TargetHealthState::Initial),
            ("10.0.0.6".to_string(), 8080, TargetHealthState::Initial)
        ]
    );
    assert_eq!(h[0].health_check_port, Some(32768));
    deregister_targets(store, &tg, &[TargetSpec::new("10.0.0.5", Some(32768))], now).unwrap();
    let h = describe_target_health(store, &NoHealthReports, &tg, now).unwrap();
    assert_eq!(h[0].health.state, TargetHealthState::Draining);
    assert_eq!(
        h[0].health.reason,
        Some(TargetHealthReason::DeregistrationInProgress)
    );

    let e = register_targets(store, &tg, &[TargetSpec::new("not-an-ip", None)], now).unwrap_err();
    assert_eq!(e.code(), "InvalidTarget");
    assert_eq!(e.kind(), dockyard_store::ErrorKind::InvalidArgument);
    let missing = tg.replace("0000000000000002", "00000000000000ff");
    let e =
        register_targets(store, &missing, &[TargetSpec::new("10.0.0.1", None)], now).unwrap_err();
    assert_eq!(e.kind(), dockyard_store::ErrorKind::NotFound);
}
