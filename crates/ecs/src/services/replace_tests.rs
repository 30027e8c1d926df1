//! Tasks a service loses and replaces: to a deregistered container
//! instance, and to failing container health checks (after the grace
//! period, not before).

#![allow(clippy::unwrap_used)]

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use super::deploy_tests::report;
use super::tests::{describe, events, round, service_tasks, setup};
use crate::testutil::Fx;

/// The container instance ARN of each of the service's tasks that are
/// wanted RUNNING.
fn placed_on(fx: &Fx) -> Vec<String> {
    let tasks = service_tasks(fx, "RUNNING");
    if tasks.is_empty() {
        return vec![];
    }
    let d = fx.ok("DescribeTasks", json!({"cluster": "c", "tasks": tasks}));
    d["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["containerInstanceArn"].as_str().unwrap().to_string())
        .collect()
}

fn instance_arns(fx: &Fx) -> Vec<String> {
    fx.ok("ListContainerInstances", json!({"cluster": "c"}))["containerInstanceArns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

fn deregister(fx: &Fx, arn: &str) -> Value {
    fx.ok(
        "DeregisterContainerInstance",
        json!({"cluster": "c", "containerInstance": arn, "force": true}),
    )
}

#[test]
fn a_deregistered_instances_tasks_are_replaced_elsewhere_with_the_reason() {
    let (fx, nodes) = setup(3);
    fx.ok(
        "CreateService",
        json!({"cluster": "c", "serviceName": "s", "taskDefinition": "web", "desiredCount": 2}),
    );
    let mut seq = 0;
    round(&fx);
    report(&fx, &nodes, &mut seq, |_| ("RUNNING", None, None));
    round(&fx);
    let before = placed_on(&fx);
    assert_eq!(before.len(), 2);
    let gone = before[0].clone();
    let e = fx.err(
        "DeregisterContainerInstance",
        json!({"cluster": "c", "containerInstance": gone}),
    );
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        (
            "InvalidParameterException",
            "Found running tasks on the instance. Use the force option to deregister it anyway."
        )
    );
    deregister(&fx, &gone);
    round(&fx);
    let after = placed_on(&fx);
    assert_eq!(after.len(), 2, "replaced: {after:?}");
    assert!(!after.contains(&gone), "{after:?}");
    let msgs = events(&fx, "s");
    assert!(
        msgs.iter().any(|m| m.contains("stopped unexpectedly")
            && m.contains("its container instance was lost")
            && m.contains("instance deregistered")),
        "{msgs:?}"
    );
    assert!(
        msgs[0].contains("has started 1 tasks"),
        "the replacement, after the reason: {msgs:?}"
    );
}

#[test]
fn a_daemon_leaves_an_instance_that_leaves() {
    let (fx, nodes) = setup(3);
    fx.ok(
        "CreateService",
        json!({"cluster": "c", "serviceName": "s", "taskDefinition": "web",
               "schedulingStrategy": "DAEMON"}),
    );
    let mut seq = 0;
    round(&fx);
    report(&fx, &nodes, &mut seq, |_| ("RUNNING", None, None));
    round(&fx);
    assert_eq!(describe(&fx, "s")["runningCount"], 3);
    let gone = instance_arns(&fx)[1].clone();
    deregister(&fx, &gone);
    let left: Vec<String> = nodes
        .iter()
        .filter(|n| !gone.ends_with(n.as_str()))
        .cloned()
        .collect();
    assert_eq!(left.len(), 2);
    for _ in 0..2 {
        round(&fx);
        report(&fx, &left, &mut seq, |_| ("RUNNING", None, None));
    }
    let s = describe(&fx, "s");
    assert_eq!(s["desiredCount"], 2, "{s}");
    assert_eq!(s["runningCount"], 2, "{s}");
    let on = placed_on(&fx);
    assert_eq!(on.len(), 2);
    assert!(!on.contains(&gone), "{on:?}");
}

#[test]
fn an_unhealthy_task_is_replaced_once_its_grace_period_is_over() {
    let (fx, nodes) = setup(1);
    fx.ok(
        "RegisterTaskDefinition",
        json!({"family": "checked", "containerDefinitions": [
            {"name": "web", "image": "busybox", "memory": 64, "cpu": 128,
             "healthCheck": {"command": ["CMD-SHELL", "false"]}}]}),
    );
    fx.ok(
        "CreateService",
        json!({"cluster": "c", "serviceName": "s", "taskDefinition": "checked",
               "desiredCount": 1, "healthCheckGracePeriodSeconds": 30}),
    );
    let mut seq = 0;
    let start = Utc::now();
    fx.svc.run_services(start).unwrap();
    // The agent reports the container running and its health check
    // failing.
    report(&fx, &nodes, &mut seq, |_| {
        ("RUNNING", None, Some("UNHEALTHY"))
    });
    let first = service_tasks(&fx, "RUNNING");
    assert_eq!(first.len(), 1);
    fx.svc.run_services(start + Duration::seconds(20)).unwrap();
    assert_eq!(
        service_tasks(&fx, "RUNNING"),
        first,
        "kept within healthCheckGracePeriodSeconds"
    );
    fx.svc.run_services(start + Duration::seconds(35)).unwrap();
    let d = fx.ok("DescribeTasks", json!({"cluster": "c", "tasks": first}));
    let t = &d["tasks"][0];
    assert_eq!(t["desiredStatus"], "STOPPED", "{t}");
    assert_eq!(
        t["stoppedReason"],
        dockyard_reconciler::UNHEALTHY_REASON,
        "{t}"
    );
    // A task counts against the maximum until it is gone: the
    // replacement starts once the old one has stopped.
    report(&fx, &nodes, &mut seq, |_| {
        ("RUNNING", None, Some("HEALTHY"))
    });
    fx.svc.run_services(start + Duration::seconds(36)).unwrap();
    let now = service_tasks(&fx, "RUNNING");
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now, first);
    let id = first[0].rsplit('/').next().unwrap();
    let msgs = events(&fx, "s");
    assert!(
        msgs.iter()
            .any(|m| m.contains(&format!("(task {id}) failed container health checks."))),
        "{msgs:?}"
    );
}
