//! Deployments that fail or are stopped: the circuit breaker's rollback,
//! StopServiceDeployment (ROLLBACK and ABORT), and the launch delay a
//! new task definition lifts. Rounds run on a clock of their own, a
//! minute apart, so launch delays and settle windows pass between them.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::deployments::STOP_ROLLBACK_REASON;
use super::tests::{describe, service_tasks, setup};
use crate::testutil::{Fx, change};

/// The scheduler's clock: each round a minute after the last.
struct Clock(DateTime<Utc>);

impl Clock {
    fn new() -> Self {
        Self(Utc::now())
    }

    fn round(&mut self, fx: &Fx) {
        self.0 += Duration::seconds(60);
        fx.svc.run_services(self.0).unwrap();
    }
}

/// What an agent reports for a task: status, exit code, health.
type Report = (&'static str, Option<i32>, Option<&'static str>);

/// Every node reports its tasks: those asked to stop STOPPED (exit 0),
/// the others as `of` says for their task definition revision.
pub(super) fn report(fx: &Fx, nodes: &[String], seq: &mut u64, of: impl Fn(u32) -> Report) {
    for n in nodes {
        let desired = fx.poll(n, vec![]).tasks;
        let changes = desired
            .iter()
            .map(|d| {
                *seq += 1;
                let (status, code, health) = if d.desired_status == "STOPPED" {
                    ("STOPPED", Some(0), None)
                } else {
                    of(d.definition.revision)
                };
                let mut c = change(*seq, &d.task_arn, status, &[("web", status, code)]);
                c.health_status = health.map(str::to_string);
                c.containers[0].health_status = c.health_status.clone();
                c
            })
            .collect();
        fx.poll(n, changes);
    }
}

const RUNS: Report = ("RUNNING", None, None);
const CRASHES: Report = ("STOPPED", Some(1), None);

fn register_v2(fx: &Fx) {
    fx.ok(
        "RegisterTaskDefinition",
        json!({"family": "web", "containerDefinitions": [
            {"name": "web", "image": "busybox:2", "memory": 64, "cpu": 128}]}),
    );
}

/// A service of two `web:1` tasks, deployed and steady.
fn steady_service(fx: &Fx, nodes: &[String], clock: &mut Clock, seq: &mut u64, config: Value) {
    fx.ok(
        "CreateService",
        json!({"cluster": "c", "serviceName": "s", "taskDefinition": "web", "desiredCount": 2,
               "deploymentConfiguration": config}),
    );
    for _ in 0..3 {
        clock.round(fx);
        report(fx, nodes, seq, |_| RUNS);
    }
    clock.round(fx);
    let s = describe(fx, "s");
    assert_eq!(s["deployments"][0]["rolloutState"], "COMPLETED", "{s}");
}

fn list(fx: &Fx) -> Vec<Value> {
    fx.ok(
        "ListServiceDeployments",
        json!({"cluster": "c", "service": "s"}),
    )["serviceDeployments"]
        .as_array()
        .unwrap()
        .clone()
}

fn statuses(fx: &Fx) -> Vec<String> {
    list(fx)
        .iter()
        .map(|d| d["status"].as_str().unwrap().to_string())
        .collect()
}

fn describe_deployment(fx: &Fx, arn: &str) -> Value {
    fx.ok(
        "DescribeServiceDeployments",
        json!({"serviceDeploymentArns": [arn]}),
    )
}

fn events(fx: &Fx) -> Vec<String> {
    super::tests::events(fx, "s")
}

/// web:2 crashes, web:1 runs.
fn v2_crashes(revision: u32) -> Report {
    if revision == 2 { CRASHES } else { RUNS }
}

#[test]
fn a_circuit_breaker_rollback_is_part_of_the_failed_service_deployment() {
    let (fx, nodes) = setup(2);
    let (mut clock, mut seq) = (Clock::new(), 0);
    steady_service(
        &fx,
        &nodes,
        &mut clock,
        &mut seq,
        json!({"deploymentCircuitBreaker": {"enable": true, "rollback": true},
               "minimumHealthyPercent": 50, "maximumPercent": 200}),
    );
    let good = list(&fx)[0].clone();
    register_v2(&fx);
    fx.ok(
        "UpdateService",
        json!({"cluster": "c", "service": "s", "taskDefinition": "web:2"}),
    );
    // Every web:2 task exits at once; web:1 tasks run.
    let mut seen = Vec::new();
    for _ in 0..20 {
        clock.round(&fx);
        report(&fx, &nodes, &mut seq, v2_crashes);
        seen.push(statuses(&fx));
        if seen.last().unwrap()[0] == "ROLLBACK_SUCCESSFUL" {
            break;
        }
    }
    clock.round(&fx);
    let rolling = vec!["ROLLBACK_IN_PROGRESS".to_string(), "SUCCESSFUL".into()];
    assert!(seen.contains(&rolling), "{seen:?}");
    // One service deployment per UpdateService (and the CreateService):
    // the rollback is not one of its own.
    assert_eq!(statuses(&fx), ["ROLLBACK_SUCCESSFUL", "SUCCESSFUL"]);
    let failed_arn = list(&fx)[0]["serviceDeploymentArn"]
        .as_str()
        .unwrap()
        .to_string();
    let d = describe_deployment(&fx, &failed_arn);
    let failed = &d["serviceDeployments"][0];
    assert_eq!(
        failed["deploymentCircuitBreaker"]["status"], "TRIGGERED",
        "{d}"
    );
    assert_eq!(failed["deploymentCircuitBreaker"]["threshold"], 3, "{d}");
    assert!(
        failed["deploymentCircuitBreaker"]["failureCount"]
            .as_u64()
            .unwrap()
            >= 3,
        "{d}"
    );
    assert_eq!(
        failed["rollback"]["reason"],
        dockyard_reconciler::CIRCUIT_BREAKER_ROLLBACK_REASON
    );
    assert_eq!(
        failed["rollback"]["serviceRevisionArn"], good["targetServiceRevisionArn"],
        "rolled back to the revision that completed: {d}"
    );
    assert!(failed["finishedAt"].is_number(), "{d}");
    let s = describe(&fx, "s");
    assert_eq!(
        s["currentServiceDeployment"],
        failed["serviceDeploymentArn"]
    );
    assert!(s["taskDefinition"].as_str().unwrap().ends_with("web:1"));
    let deployments = s["deployments"].as_array().unwrap();
    assert_eq!(deployments.len(), 1, "{s}");
    assert_eq!(deployments[0]["rolloutState"], "COMPLETED");
    // The rollback deployment is no service deployment of its own.
    let rollback_arn = failed_arn.replace(
        failed_arn.rsplit('/').next().unwrap(),
        deployments[0]["id"]
            .as_str()
            .unwrap()
            .trim_start_matches("ecs-svc/"),
    );
    let d = fx.ok(
        "DescribeServiceDeployments",
        json!({"serviceDeploymentArns": [rollback_arn]}),
    );
    assert_eq!(d["failures"][0]["reason"], "MISSING", "{d}");
    let e = events(&fx);
    assert!(
        e.iter()
            .any(|m| m.contains("deployment failed: tasks failed to start")),
        "{e:?}"
    );
}

#[test]
fn stopping_a_deployment_rolls_it_back_and_says_so() {
    let (fx, nodes) = setup(2);
    let (mut clock, mut seq) = (Clock::new(), 0);
    steady_service(&fx, &nodes, &mut clock, &mut seq, json!({}));
    let good = list(&fx)[0].clone();
    register_v2(&fx);
    fx.ok(
        "UpdateService",
        json!({"cluster": "c", "service": "s", "taskDefinition": "web:2"}),
    );
    clock.round(&fx);
    assert_eq!(service_tasks(&fx, "RUNNING").len(), 4, "two of each");
    let arn = list(&fx)[0]["serviceDeploymentArn"]
        .as_str()
        .unwrap()
        .to_string();
    let r = fx.ok(
        "StopServiceDeployment",
        json!({"serviceDeploymentArn": arn, "stopType": "ROLLBACK"}),
    );
    assert_eq!(r["serviceDeploymentArn"], arn.as_str());
    assert_eq!(statuses(&fx), ["ROLLBACK_IN_PROGRESS", "SUCCESSFUL"]);
    let d = describe_deployment(&fx, &arn);
    let sd = &d["serviceDeployments"][0];
    assert_eq!(sd["rollback"]["reason"], STOP_ROLLBACK_REASON, "{d}");
    assert_eq!(
        sd["rollback"]["serviceRevisionArn"],
        good["targetServiceRevisionArn"]
    );
    assert_eq!(
        sd["statusReason"],
        "Service deployment stopped by user; rolling back."
    );
    let e = events(&fx);
    assert!(
        e.iter()
            .any(|m| m.contains("rolling back to deployment") && m.contains("was stopped.")),
        "{e:?}"
    );
    // Not in progress any more: it cannot be stopped twice.
    assert_eq!(
        fx.err(
            "StopServiceDeployment",
            json!({"serviceDeploymentArn": arn})
        )
        .code,
        "ConflictException"
    );
    for _ in 0..4 {
        clock.round(&fx);
        report(&fx, &nodes, &mut seq, |_| RUNS);
    }
    clock.round(&fx);
    assert_eq!(statuses(&fx), ["ROLLBACK_SUCCESSFUL", "SUCCESSFUL"]);
    let s = describe(&fx, "s");
    assert!(
        s["taskDefinition"].as_str().unwrap().ends_with("web:1"),
        "{s}"
    );
    assert_eq!(s["deployments"].as_array().unwrap().len(), 1, "{s}");
    assert_eq!(s["runningCount"], 2);
    let d = fx.ok(
        "DescribeTasks",
        json!({"cluster": "c", "tasks": service_tasks(&fx, "RUNNING")}),
    );
    for t in d["tasks"].as_array().unwrap() {
        assert!(t["taskDefinitionArn"].as_str().unwrap().ends_with("web:1"));
    }
}

#[test]
fn aborting_a_deployment_leaves_the_service_as_it_is() {
    let (fx, nodes) = setup(2);
    let (mut clock, mut seq) = (Clock::new(), 0);
    steady_service(&fx, &nodes, &mut clock, &mut seq, json!({}));
    register_v2(&fx);
    fx.ok(
        "UpdateService",
        json!({"cluster": "c", "service": "s", "taskDefinition": "web:2"}),
    );
    clock.round(&fx);
    let arn = list(&fx)[0]["serviceDeploymentArn"]
        .as_str()
        .unwrap()
        .to_string();
    fx.ok(
        "StopServiceDeployment",
        json!({"serviceDeploymentArn": arn, "stopType": "ABORT"}),
    );
    assert_eq!(statuses(&fx), ["STOPPED", "SUCCESSFUL"]);
    let d = describe_deployment(&fx, &arn);
    assert_eq!(
        d["serviceDeployments"][0]["statusReason"],
        "Service deployment stopped by user."
    );
    assert!(d["serviceDeployments"][0].get("rollback").is_none(), "{d}");
    // Its tasks crash; nothing replaces them, the old ones stay.
    let before = fx.ok(
        "ListTasks",
        json!({"cluster": "c", "serviceName": "s", "desiredStatus": "STOPPED"}),
    );
    for _ in 0..4 {
        clock.round(&fx);
        report(&fx, &nodes, &mut seq, v2_crashes);
    }
    let s = describe(&fx, "s");
    assert_eq!(s["deployments"][0]["rolloutState"], "FAILED", "{s}");
    assert!(s["taskDefinition"].as_str().unwrap().ends_with("web:2"));
    assert_eq!(service_tasks(&fx, "RUNNING").len(), 2, "{s}");
    let d = fx.ok(
        "DescribeTasks",
        json!({"cluster": "c", "tasks": service_tasks(&fx, "RUNNING")}),
    );
    for t in d["tasks"].as_array().unwrap() {
        assert!(t["taskDefinitionArn"].as_str().unwrap().ends_with("web:1"));
    }
    let after = fx.ok(
        "ListTasks",
        json!({"cluster": "c", "serviceName": "s", "desiredStatus": "STOPPED"}),
    );
    assert_eq!(
        after["taskArns"].as_array().unwrap().len(),
        before["taskArns"].as_array().unwrap().len() + 2,
        "only the two web:2 tasks it had launched stopped"
    );
    assert_eq!(statuses(&fx), ["STOPPED", "SUCCESSFUL"]);
}

#[test]
fn a_new_task_definition_lifts_the_launch_delay() {
    let (fx, nodes) = setup(1);
    let mut seq = 0;
    fx.ok(
        "CreateService",
        json!({"cluster": "c", "serviceName": "s", "taskDefinition": "web", "desiredCount": 1}),
    );
    // Three tasks in a row stop before reaching RUNNING, each launched
    // once the delay the previous one caused is over (1 s, then 2 s); the
    // third makes the next launch wait 4 s.
    let mut now = Utc::now();
    for wait_ms in [0, 1500, 2500] {
        now += Duration::milliseconds(wait_ms);
        fx.svc.run_services(now).unwrap();
        assert_eq!(service_tasks(&fx, "RUNNING").len(), 1);
        report(&fx, &nodes, &mut seq, |_| CRASHES);
        fx.svc.run_services(now).unwrap();
    }
    now += Duration::milliseconds(1000);
    fx.svc.run_services(now).unwrap();
    assert!(
        service_tasks(&fx, "RUNNING").is_empty(),
        "no launch while the delay lasts"
    );
    let e = events(&fx);
    assert_eq!(
        e.iter()
            .filter(|m| m.contains("has started 1 tasks"))
            .count(),
        3,
        "{e:?}"
    );
    register_v2(&fx);
    fx.ok(
        "UpdateService",
        json!({"cluster": "c", "service": "s", "taskDefinition": "web:2"}),
    );
    // Same instant: the new revision launches at once.
    fx.svc.run_services(now).unwrap();
    let running = service_tasks(&fx, "RUNNING");
    assert_eq!(running.len(), 1);
    let d = fx.ok("DescribeTasks", json!({"cluster": "c", "tasks": running}));
    assert!(
        d["tasks"][0]["taskDefinitionArn"]
            .as_str()
            .unwrap()
            .ends_with("web:2")
    );
}
