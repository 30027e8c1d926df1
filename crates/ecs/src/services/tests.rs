//! The services API and the scheduler's rounds over a `MemStore`, with
//! agents driven by hand.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use dockyard_agentproto::NodeKind;

use crate::testutil::{Fx, change};

pub(super) fn setup(nodes: usize) -> (Fx, Vec<String>) {
    let fx = Fx::new();
    fx.ok("CreateCluster", json!({"clusterName": "c"}));
    let ids = (0..nodes)
        .map(|_| fx.node(NodeKind::Instance, Some("c"), 1024, 1024))
        .collect();
    fx.ok(
        "RegisterTaskDefinition",
        json!({"family": "web", "containerDefinitions": [
            {"name": "web", "image": "busybox", "memory": 64, "cpu": 128}]}),
    );
    (fx, ids)
}

pub(super) fn describe(fx: &Fx, name: &str) -> Value {
    let v = fx.ok(
        "DescribeServices",
        json!({"cluster": "c", "services": [name]}),
    );
    v["services"][0].clone()
}

/// The service's event messages, newest first.
pub(super) fn events(fx: &Fx, name: &str) -> Vec<String> {
    describe(fx, name)["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

pub(super) fn round(fx: &Fx) {
    fx.svc.run_services(chrono::Utc::now()).unwrap();
}

/// A round once the tasks that are running have settled, so that a
/// converged deployment completes.
pub(super) fn settled_round(fx: &Fx) {
    let later = chrono::Utc::now() + chrono::Duration::milliseconds(dockyard_reconciler::SETTLE_MS);
    fx.svc.run_services(later).unwrap();
}

/// Every node reports each of its tasks RUNNING (or STOPPED when asked).
pub(super) fn agents_run(fx: &Fx, nodes: &[String], seq: &mut u64) {
    for n in nodes {
        let desired = fx.poll(n, vec![]).tasks;
        let changes = desired
            .iter()
            .map(|d| {
                *seq += 1;
                let status = if d.desired_status == "STOPPED" {
                    "STOPPED"
                } else {
                    "RUNNING"
                };
                change(*seq, &d.task_arn, status, &[("web", status, None)])
            })
            .collect();
        fx.poll(n, changes);
    }
}

pub(super) fn service_tasks(fx: &Fx, desired: &str) -> Vec<String> {
    let v = fx.ok(
        "ListTasks",
        json!({"cluster": "c", "serviceName": "s", "desiredStatus": desired}),
    );
    v["taskArns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_service_starts_its_tasks_spread_and_reports_steady_state() {
    let (fx, nodes) = setup(3);
    let v = fx.ok(
        "CreateService",
        json!({"cluster": "c", "serviceName": "s", "taskDefinition": "web", "desiredCount": 3,
               "launchType": "EC2", "tags": [{"key": "team", "value": "a"}],
               "propagateTags": "SERVICE", "enableECSManagedTags": true}),
    );
    assert_eq!(v["service"]["status"], "ACTIVE");
    assert_eq!(v["service"]["deployments"][0]["status"], "PRIMARY");
    assert_eq!(
        v["service"]["deployments"][0]["rolloutState"],
        "IN_PROGRESS"
    );
    assert_eq!(
        v["service"]["deploymentConfiguration"]["maximumPercent"],
        200
    );
    round(&fx);
    let tasks = service_tasks(&fx, "RUNNING");
    assert_eq!(tasks.len(), 3);
    let d = fx.ok(
        "DescribeTasks",
        json!({"cluster": "c", "tasks": tasks, "include": ["TAGS"]}),
    );
    let mut instances: Vec<&str> = d["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["containerInstanceArn"].as_str().unwrap())
        .collect();
    instances.sort();
    instances.dedup();
    assert_eq!(instances.len(), 3, "spread over the three instances");
    let t0 = &d["tasks"][0];
    assert_eq!(t0["group"], "service:s");
    assert!(t0["startedBy"].as_str().unwrap().starts_with("ecs-svc/"));
    let keys: Vec<&str> = t0["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"team") && keys.contains(&"aws:ecs:serviceName"));
    assert!(
        t0["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["key"] == "aws:ecs:clusterName" && t["value"] == "c"),
        "{t0}"
    );
    let mut seq = 0;
    agents_run(&fx, &nodes, &mut seq);
    round(&fx);
    let s = describe(&fx, "s");
    assert_eq!(s["deployments"][0]["rolloutState"], "IN_PROGRESS");
    settled_round(&fx);
    let s = describe(&fx, "s");
    assert_eq!(s["runningCount"], 3);
    assert_eq!(s["deployments"][0]["rolloutState"], "COMPLETED");
    let events: Vec<&str> = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e.contains("has reached a steady state.")),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e.contains("has started 3 tasks")),
        "{events:?}"
    );
    let arn = s["serviceArn"].as_str().unwrap();
    fx.ok(
        "TagResource",
        json!({"resourceArn": arn, "tags": [{"key": "env", "value": "prod"}]}),
    );
    let t = fx.ok("ListTagsForResource", json!({"resourceArn": arn}));
    assert_eq!(t["tags"].as_array().unwrap().len(), 2, "{t}");
    let c = fx.ok("DescribeClusters", json!({"clusters": ["c"]}));
    assert_eq!(c["clusters"][0]["activeServicesCount"], 1);
    assert_eq!(
        fx.err("DeleteCluster", json!({"cluster": "c"})).code,
        "ClusterContainsServicesException"
    );
}

#[test]
fn crashed_and_lost_tasks_are_replaced_with_reasons() {
    let (fx, nodes) = setup(2);
    fx.ok(
        "CreateService",
        json!({"cluster": "c", "serviceName": "s", "taskDefinition": "web", "desiredCount": 2,
               "placementConstraints": [{"type": "distinctInstance"}]}),
    );
    round(&fx);
    let mut seq = 0;
    agents_run(&fx, &nodes, &mut seq);
    round(&fx);
    // A container exits on its own.
    let victim = fx.poll(&nodes[0], vec![]).tasks[0].task_arn.clone();
    seq += 1;
    fx.poll(
        &nodes[0],
        vec![change(
            seq,
            &victim,
            "STOPPED",
            &[("web", "STOPPED", Some(1))],
        )],
    );
    round(&fx);
    let s = describe(&fx, "s");
    let msgs: Vec<String> = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        msgs.iter().any(|m| m.contains("stopped unexpectedly")),
        "{msgs:?}"
    );
    assert_eq!(service_tasks(&fx, "RUNNING").len(), 2);
    // The second node is lost: its task is stopped and placed again on
    // the first (distinctInstance still allows it: the lost one is gone).
    agents_run(&fx, &nodes, &mut seq);
    let lost = fx
        .svc
        .lose_node_tasks(&nodes[1], crate::services::LOST_REASON, 0)
        .unwrap();
    assert_eq!(lost, 1);
    fx.svc.set_connected(&nodes[1], false).unwrap();
    round(&fx);
    let s = describe(&fx, "s");
    assert!(
        s["events"].as_array().unwrap().iter().any(|e| e["message"]
            .as_str()
            .unwrap()
            .contains("container instance was lost")),
        "{s}"
    );
    assert!(
        s["events"].as_array().unwrap().iter().any(|e| e["message"]
            .as_str()
            .unwrap()
            .contains("was unable to place a task")),
        "distinctInstance leaves no room on the one node left: {s}"
    );
}

#[test]
fn a_rolling_update_keeps_its_bounds_and_completes() {
    let (fx, nodes) = setup(3);
    fx.ok(
        "CreateService",
        json!({"cluster": "c", "serviceName": "s", "taskDefinition": "web", "desiredCount": 4,
               "deploymentConfiguration": {"minimumHealthyPercent": 50, "maximumPercent": 100}}),
    );
    let mut seq = 0;
    for _ in 0..3 {
        round(&fx);
        agents_run(&fx, &nodes, &mut seq);
    }
    round(&fx);
    fx.ok(
        "RegisterTaskDefinition",
        json!({"family": "web", "containerDefinitions": [
            {"name": "web", "image": "busybox:2", "memory": 64, "cpu": 128}]}),
    );
    let u = fx.ok(
        "UpdateService",
        json!({"cluster": "c", "service": "s", "taskDefinition": "web:2"}),
    );
    assert_eq!(u["service"]["deployments"].as_array().unwrap().len(), 2);
    for _ in 0..10 {
        round(&fx);
        let s = describe(&fx, "s");
        let running = s["runningCount"].as_u64().unwrap() + s["pendingCount"].as_u64().unwrap();
        assert!(running <= 4, "above maximumPercent: {s}");
        agents_run(&fx, &nodes, &mut seq);
    }
    settled_round(&fx);
    let s = describe(&fx, "s");
    assert_eq!(s["deployments"].as_array().unwrap().len(), 1, "{s}");
    assert_eq!(s["deployments"][0]["taskDefinition"], s["taskDefinition"]);
    assert!(s["taskDefinition"].as_str().unwrap().ends_with("web:2"));
    assert_eq!(s["runningCount"], 4);
    let list = fx.ok(
        "ListServiceDeployments",
        json!({"cluster": "c", "service": "s"}),
    );
    let sds = list["serviceDeployments"].as_array().unwrap();
    assert_eq!(sds.len(), 2);
    assert_eq!(sds[0]["status"], "SUCCESSFUL");
    let arn = sds[0]["serviceDeploymentArn"].as_str().unwrap();
    let d = fx.ok(
        "DescribeServiceDeployments",
        json!({"serviceDeploymentArns": [arn, "arn:aws:ecs:us-east-1:000000000000:service-deployment/c/s/1"]}),
    );
    assert_eq!(
        d["serviceDeployments"][0]["targetServiceRevision"]["runningTaskCount"],
        4
    );
    assert_eq!(d["failures"][0]["reason"], "MISSING");
    assert_eq!(
        fx.err(
            "StopServiceDeployment",
            json!({"serviceDeploymentArn": arn})
        )
        .code,
        "ConflictException"
    );
}

#[test]
fn bad_service_requests_get_ecs_errors_and_change_nothing() {
    let (fx, _) = setup(1);
    let base =
        json!({"cluster": "c", "serviceName": "s", "taskDefinition": "web", "desiredCount": 1});
    let with = |extra: Value| {
        let mut v = base.clone();
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let cases = [
        (
            with(
                json!({"deploymentConfiguration": {"minimumHealthyPercent": 150, "maximumPercent": 120}}),
            ),
            "InvalidParameterException",
        ),
        (
            with(
                json!({"schedulingStrategy": "DAEMON", "desiredCount": null, "deploymentConfiguration": {"maximumPercent": 200}}),
            ),
            "InvalidParameterException",
        ),
        (
            with(json!({"desiredCount": -1})),
            "InvalidParameterException",
        ),
        (
            with(json!({"desiredCount": 5001})),
            "InvalidParameterException",
        ),
        (with(json!({"cluster": "nope"})), "ClusterNotFoundException"),
        (
            with(json!({"taskDefinition": "missing"})),
            "ClientException",
        ),
        (
            with(
                json!({"placementConstraints": [{"type": "memberOf", "expression": "attribute:x =="}]}),
            ),
            "InvalidParameterException",
        ),
        (
            with(json!({"serviceName": "bad name!"})),
            "InvalidParameterException",
        ),
        (
            with(json!({"deploymentController": {"type": "CODE_DEPLOY"}})),
            "UnsupportedFeatureException",
        ),
    ];
    for (input, code) in cases {
        let e = fx.err("CreateService", input.clone());
        assert_eq!(e.code, code, "{input}: {}", e.message);
    }
    let l = fx.ok("ListServices", json!({"cluster": "c"}));
    assert_eq!(
        l["serviceArns"].as_array().unwrap().len(),
        0,
        "nothing half-created"
    );
    fx.ok("CreateService", base.clone());
    let e = fx.err("CreateService", base.clone());
    assert_eq!(e.message, "Creation of service was not idempotent.");
    assert_eq!(
        fx.err(
            "UpdateService",
            json!({"cluster": "c", "service": "nope", "desiredCount": 2})
        )
        .code,
        "ServiceNotFoundException"
    );
    assert_eq!(
        fx.err("DeleteService", json!({"cluster": "c", "service": "s"}))
            .message,
        "The service cannot be stopped while it is scaled above 0."
    );
    let d = fx.ok(
        "DeleteService",
        json!({"cluster": "c", "service": "s", "force": true}),
    );
    assert_eq!(d["service"]["status"], "DRAINING");
    assert_eq!(
        fx.err(
            "UpdateService",
            json!({"cluster": "c", "service": "s", "desiredCount": 2})
        )
        .code,
        "ServiceNotActiveException"
    );
    assert_eq!(
        fx.err("CreateService", base).message,
        "Unable to Start a service that is still Draining."
    );
    round(&fx);
    assert_eq!(describe(&fx, "s")["status"], "INACTIVE");
}

#[test]
fn a_daemon_runs_once_per_instance_and_follows_new_ones() {
    let (fx, _nodes) = setup(2);
    fx.ok(
        "CreateService",
        json!({"cluster": "c", "serviceName": "s", "taskDefinition": "web",
               "schedulingStrategy": "DAEMON"}),
    );
    round(&fx);
    assert_eq!(service_tasks(&fx, "RUNNING").len(), 2);
    fx.node(NodeKind::Instance, Some("c"), 1024, 1024);
    round(&fx);
    assert_eq!(service_tasks(&fx, "RUNNING").len(), 3);
    assert_eq!(describe(&fx, "s")["desiredCount"], 3);
}

#[test]
fn a_task_that_fits_nowhere_waits_with_a_reason_until_capacity_appears() {
    let fx = Fx::new();
    fx.ok("CreateCluster", json!({"clusterName": "c"}));
    fx.node(NodeKind::Instance, Some("c"), 1024, 100);
    fx.ok(
        "RegisterTaskDefinition",
        json!({"family": "big", "containerDefinitions": [
            {"name": "web", "image": "busybox", "memory": 512, "cpu": 128}]}),
    );
    fx.ok(
        "CreateService",
        json!({"cluster": "c", "serviceName": "s", "taskDefinition": "big", "desiredCount": 1,
               "serviceConnectConfiguration": {"enabled": true, "namespace": "internal"}}),
    );
    round(&fx);
    let rev = fx.svc.store().revision().unwrap();
    round(&fx);
    assert_eq!(
        fx.svc.store().revision().unwrap(),
        rev,
        "a round that changes nothing writes nothing (the scheduler would spin)"
    );
    let s = describe(&fx, "s");
    let msgs: Vec<&str> = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    let unplaced: Vec<&&str> = msgs
        .iter()
        .filter(|m| m.contains("was unable to place a task"))
        .collect();
    assert_eq!(unplaced.len(), 1, "said once, not every round: {msgs:?}");
    assert!(
        unplaced[0].contains("insufficient memory available"),
        "{msgs:?}"
    );
    assert!(service_tasks(&fx, "RUNNING").is_empty());
    fx.node(NodeKind::Instance, Some("c"), 1024, 1024);
    round(&fx);
    assert_eq!(service_tasks(&fx, "RUNNING").len(), 1);
    let by_ns = fx.ok("ListServicesByNamespace", json!({"namespace": "internal"}));
    assert_eq!(by_ns["serviceArns"][0], s["serviceArn"]);
    let none = fx.ok("ListServicesByNamespace", json!({"namespace": "other"}));
    assert!(none["serviceArns"].as_array().unwrap().is_empty());
}

#[test]
fn bad_updates_get_ecs_errors_and_leave_the_service_as_it_was() {
    let (fx, _) = setup(1);
    fx.ok(
        "CreateService",
        json!({"cluster": "c", "serviceName": "s", "taskDefinition": "web", "desiredCount": 1}),
    );
    fx.ok(
        "CreateService",
        json!({"cluster": "c", "serviceName": "d", "taskDefinition": "web",
               "schedulingStrategy": "DAEMON"}),
    );
    let before = (describe(&fx, "s"), describe(&fx, "d"));
    let update = |service: &str, extra: Value| {
        let mut v = json!({"cluster": "c", "service": service});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let cases = [
        (
            update(
                "s",
                json!({"deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 90}}),
            ),
            "InvalidParameterException",
            "maximumPercent must be at least 100 for a service with the REPLICA scheduling strategy.",
        ),
        (
            update(
                "s",
                json!({"deploymentConfiguration": {"minimumHealthyPercent": 150, "maximumPercent": 200}}),
            ),
            "InvalidParameterException",
            "minimumHealthyPercent must be between 0 and 100.",
        ),
        (
            update(
                "d",
                json!({"deploymentConfiguration": {"maximumPercent": 200}}),
            ),
            "InvalidParameterException",
            "The daemon scheduling strategy does not support a maximumPercent other than 100.",
        ),
        (
            update("d", json!({"desiredCount": 2})),
            "InvalidParameterException",
            "The daemon scheduling strategy does not support a desired count for services.",
        ),
        (
            update(
                "s",
                json!({"placementStrategy": [{"type": "pack", "field": "cpu"}]}),
            ),
            "InvalidParameterException",
            "Invalid placement strategy type 'pack'. Valid values are random, spread and binpack.",
        ),
        (
            update(
                "s",
                json!({"placementStrategy": [{"type": "binpack", "field": "disk"}]}),
            ),
            "InvalidParameterException",
            "Invalid field 'disk' for the binpack placement strategy. Valid values are cpu and memory.",
        ),
        (
            update(
                "d",
                json!({"placementStrategy": [{"type": "spread", "field": "instanceId"}]}),
            ),
            "InvalidParameterException",
            "Placement strategies are not supported with the daemon scheduling strategy.",
        ),
        (
            update("s", json!({"taskDefinition": "web:9"})),
            "ClientException",
            "TaskDefinition not found.",
        ),
        (
            update("s", json!({"taskDefinition": "nope"})),
            "ClientException",
            "TaskDefinition not found.",
        ),
    ];
    for (input, code, message) in cases {
        let e = fx.err("UpdateService", input.clone());
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            (code, message),
            "{input}"
        );
    }
    let e = fx.err(
        "UpdateService",
        update(
            "s",
            json!({"placementConstraints": [{"type": "memberOf", "expression": "attribute:x =="}]}),
        ),
    );
    assert_eq!(e.code, "InvalidParameterException", "{}", e.message);
    assert!(!e.message.is_empty());
    assert_eq!(
        (describe(&fx, "s"), describe(&fx, "d")),
        before,
        "nothing changed"
    );
}

#[test]
fn a_service_in_a_cluster_without_instances_says_so() {
    let fx = Fx::new();
    fx.ok("CreateCluster", json!({"clusterName": "c"}));
    fx.ok(
        "RegisterTaskDefinition",
        json!({"family": "web", "containerDefinitions": [
            {"name": "web", "image": "busybox", "memory": 64, "cpu": 128}]}),
    );
    // CreateService checks the launch: with no instance at all it is
    // refused, so the instance leaves after the service is created.
    fx.node(NodeKind::Instance, Some("c"), 1024, 1024);
    fx.ok(
        "CreateService",
        json!({"cluster": "c", "serviceName": "s", "taskDefinition": "web", "desiredCount": 1}),
    );
    let arn = fx.ok("ListContainerInstances", json!({"cluster": "c"}))["containerInstanceArns"][0]
        .as_str()
        .unwrap()
        .to_string();
    fx.ok(
        "DeregisterContainerInstance",
        json!({"cluster": "c", "containerInstance": arn}),
    );
    round(&fx);
    let msgs = events(&fx, "s");
    assert!(
        msgs.contains(
            &"service s was unable to place a task because no container instance met all of its requirements. Reason: No Container Instances were found in your cluster.".to_string()
        ),
        "{msgs:?}"
    );
}

#[test]
fn tasks_get_the_task_definitions_tags_and_ecs_managed_ones() {
    let (fx, _) = setup(1);
    fx.ok(
        "RegisterTaskDefinition",
        json!({"family": "tagged", "tags": [{"key": "owner", "value": "td"}],
               "containerDefinitions": [
                   {"name": "web", "image": "busybox", "memory": 64, "cpu": 128}]}),
    );
    fx.ok(
        "CreateService",
        json!({"cluster": "c", "serviceName": "s", "taskDefinition": "tagged", "desiredCount": 1,
               "tags": [{"key": "team", "value": "svc"}],
               "propagateTags": "TASK_DEFINITION", "enableECSManagedTags": true}),
    );
    round(&fx);
    let d = fx.ok(
        "DescribeTasks",
        json!({"cluster": "c", "tasks": service_tasks(&fx, "RUNNING"), "include": ["TAGS"]}),
    );
    let mut tags: Vec<(String, String)> = d["tasks"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap().to_string(),
                t["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    tags.sort();
    let want: Vec<(String, String)> = [
        ("aws:ecs:clusterName", "c"),
        ("aws:ecs:serviceName", "s"),
        ("owner", "td"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(tags, want, "the service's own tags are not propagated");
}
