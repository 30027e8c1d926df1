//! The data plane's read model.

use crate::model::{ActionKind, Condition, Protocol};
use crate::{Algorithm, WATCH_PREFIX, purge_drained_targets, snapshot};

use dockyard_store::{Store, StoreExt};

use super::Fx;

#[test]
fn snapshot_of_a_configured_balancer() {
    let fx = Fx::new();
    let (lb, tg, listener) = fx.web("web", "80");
    fx.rule(&listener, "20", "/b/*", &tg);
    fx.rule(&listener, "10", "/a/*", &tg);
    fx.ok(
        "RegisterTargets",
        &[
            ("TargetGroupArn", &tg),
            ("Targets.member.1.Id", "10.0.0.5"),
            ("Targets.member.2.Id", "10.0.0.6"),
        ],
    );
    fx.ok(
        "ModifyTargetGroupAttributes",
        &[
            ("TargetGroupArn", &tg),
            ("Attributes.member.1.Key", "load_balancing.algorithm.type"),
            ("Attributes.member.1.Value", "least_outstanding_requests"),
            ("Attributes.member.2.Key", "stickiness.enabled"),
            ("Attributes.member.2.Value", "true"),
            (
                "Attributes.member.3.Key",
                "deregistration_delay.timeout_seconds",
            ),
            ("Attributes.member.3.Value", "60"),
        ],
    );
    fx.ok(
        "DeregisterTargets",
        &[("TargetGroupArn", &tg), ("Targets.member.1.Id", "10.0.0.6")],
    );
    let unused = fx.tg("unused", "TCP", "5432", "ip");

    let s = snapshot(fx.store.as_ref()).unwrap();
    assert_eq!(s.revision, fx.revision());
    assert_eq!(s.load_balancers.len(), 1);
    let v = &s.load_balancers[0];
    assert_eq!(
        (v.arn.as_str(), v.dns_name.as_str()),
        (lb.as_str(), "web-0000000000000001.elb.localhost")
    );
    assert_eq!(v.idle_timeout_seconds, Some(60));
    let l = &v.listeners[0];
    assert_eq!((l.port, l.protocol), (80, Protocol::Http));
    assert!(
        matches!(&l.default_actions[0].kind, ActionKind::Forward(f) if f.target_groups[0].target_group_arn == tg)
    );
    let priorities: Vec<u32> = l.rules.iter().map(|r| r.priority).collect();
    assert_eq!(priorities, [10, 20]);
    assert!(
        matches!(&l.rules[0].conditions[0], Condition::PathPattern { values, .. } if values == &["/a/*"])
    );

    assert_eq!(s.target_groups.len(), 2);
    let g = s.target_groups.iter().find(|g| g.arn == tg).unwrap();
    assert_eq!(g.algorithm, Algorithm::LeastOutstandingRequests);
    assert_eq!(g.deregistration_delay_seconds, 60);
    let sticky = g.stickiness.as_ref().unwrap();
    assert_eq!(
        (sticky.kind.as_str(), sticky.duration_seconds),
        ("lb_cookie", Some(86400))
    );
    assert_eq!(g.load_balancer_arns, std::slice::from_ref(&lb));
    assert_eq!(g.health_check.path.as_deref(), Some("/"));
    let targets: Vec<(&str, u16, bool)> = g
        .targets
        .iter()
        .map(|t| (t.id.as_str(), t.port, t.draining_since.is_some()))
        .collect();
    assert_eq!(
        targets,
        [("10.0.0.5", 8080, false), ("10.0.0.6", 8080, true)]
    );
    let drained = &g.targets[1];
    assert_eq!(
        drained.drain_until,
        Some(fx.now() + chrono::Duration::seconds(60))
    );
    let other = s.target_groups.iter().find(|g| g.arn == unused).unwrap();
    assert!(other.load_balancer_arns.is_empty() && other.stickiness.is_none());

    // Plain data: it serialises.
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["load_balancers"][0]["listeners"][0]["port"], 80);
    let web = json["target_groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["arn"] == tg.as_str())
        .unwrap();
    assert_eq!(web["algorithm"], "least_outstanding_requests");

    // Draining ends; the purge drops the registration.
    fx.advance(60);
    purge_drained_targets(fx.store.as_ref(), fx.now()).unwrap();
    let s = snapshot(fx.store.as_ref()).unwrap();
    let g = s.target_groups.iter().find(|g| g.arn == tg).unwrap();
    assert_eq!(g.targets.len(), 1);
    assert!(
        fx.store
            .list(WATCH_PREFIX)
            .unwrap()
            .iter()
            .all(|kv| !kv.key.contains("10.0.0.6"))
    );
}

#[test]
fn changes_show_under_the_watch_prefix() {
    let fx = Fx::new();
    let start = snapshot(fx.store.as_ref()).unwrap().revision;
    let mut watch = fx.store.watch(WATCH_PREFIX, start).unwrap();
    fx.web("web", "80");
    let first = watch.try_recv().unwrap().unwrap();
    assert!(first.kv.key.starts_with(WATCH_PREFIX));
    let later = snapshot(fx.store.as_ref()).unwrap();
    assert!(later.revision > start);
}
