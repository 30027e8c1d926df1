//! Services behind a target group over a `MemStore`: the ELBv2 API on the
//! same store, agents driven by hand, target health set by hand.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use dockyard_agentproto::{NetworkBinding, NodeKind};
use dockyard_aws::QueryService;
use dockyard_aws::query::{QueryParams, XmlWriter};
use dockyard_elbv2::{
    ElbService, NoHealthReports, SequentialIds, TargetHealth, TargetHealthSource, TargetHealthState,
};

use crate::testutil::{Fx, change, ctx};

/// Health by target port, set by the test.
#[derive(Default)]
struct Health(Mutex<BTreeMap<u16, TargetHealthState>>);

impl Health {
    fn set(&self, port: u16, state: TargetHealthState) {
        self.0.lock().unwrap().insert(port, state);
    }
}

impl TargetHealthSource for Health {
    fn health(&self, _: &str, _: &str, port: u16) -> Option<TargetHealth> {
        self.0.lock().unwrap().get(&port).map(|s| TargetHealth {
            state: *s,
            reason: None,
            description: None,
        })
    }
}

fn elb(fx: &Fx, action: &str, pairs: &[(&str, &str)]) -> String {
    let svc = ElbService::new(
        fx.svc.store().clone(),
        Arc::new(SequentialIds::default()),
        Arc::new(NoHealthReports),
    );
    let mut out = XmlWriter::new();
    svc.call(
        &ctx(),
        action,
        &QueryParams::from_pairs(pairs.iter().copied()),
        &mut out,
    )
    .unwrap_or_else(|e| panic!("{action}: {e:?}"));
    out.finish()
}

/// An HTTP listener on port 80 of `lb` forwarding to `tg`.
fn listener(fx: &Fx, lb: &str, tg: &str) {
    elb(
        fx,
        "CreateListener",
        &[
            ("LoadBalancerArn", lb),
            ("Protocol", "HTTP"),
            ("Port", "80"),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", tg),
        ],
    );
}

fn first(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap() + open.len();
    let end = start + xml[start..].find('<').unwrap();
    xml[start..end].to_string()
}

/// `(id, port, state)` of every target.
fn targets(fx: &Fx, tg: &str) -> Vec<(String, String, String)> {
    let xml = elb(fx, "DescribeTargetHealth", &[("TargetGroupArn", tg)]);
    xml.split("<member>")
        .skip(1)
        .filter(|m| m.contains("<Target>"))
        .map(|m| (first(m, "Id"), first(m, "Port"), first(m, "State")))
        .collect()
}

fn task(fx: &Fx, arn: &str) -> Value {
    fx.ok("DescribeTasks", json!({"cluster": "c", "tasks": [arn]}))["tasks"][0].clone()
}

/// The node reports each task it should run RUNNING with host port
/// `ports[task]`, picked in order from `next_port`.
fn run_all(fx: &Fx, node: &str, seq: &mut u64, ports: &mut BTreeMap<String, u16>) {
    let desired = fx.poll(node, vec![]).tasks;
    let mut changes = Vec::new();
    for d in desired {
        if d.desired_status == "STOPPED" || ports.contains_key(&d.task_arn) {
            continue;
        }
        let port = 32768 + ports.len() as u16;
        ports.insert(d.task_arn.clone(), port);
        *seq += 1;
        let mut ch = change(*seq, &d.task_arn, "RUNNING", &[("web", "RUNNING", None)]);
        ch.containers[0].network_bindings = vec![NetworkBinding {
            bind_ip: "0.0.0.0".into(),
            container_port: 8080,
            host_port: port,
            protocol: "tcp".into(),
        }];
        changes.push(ch);
    }
    fx.poll(node, changes);
}

#[test]
fn targets_follow_tasks_health_gates_the_rollout_and_leaving_tasks_drain_first() {
    let health = Arc::new(Health::default());
    let fx = Fx::with_target_health(health.clone());
    fx.ok("CreateCluster", json!({"clusterName": "c"}));
    let node = fx.node(NodeKind::Instance, Some("c"), 2048, 2048);
    let ci = fx.ok("ListContainerInstances", json!({"cluster": "c"}))["containerInstanceArns"][0]
        .clone();
    let ec2 = fx.ok(
        "DescribeContainerInstances",
        json!({"cluster": "c", "containerInstances": [ci]}),
    )["containerInstances"][0]["ec2InstanceId"]
        .as_str()
        .unwrap()
        .to_string();
    let lb = first(
        &elb(
            &fx,
            "CreateLoadBalancer",
            &[("Name", "web"), ("Subnets.member.1", "subnet-1")],
        ),
        "LoadBalancerArn",
    );
    let tg = first(
        &elb(
            &fx,
            "CreateTargetGroup",
            &[
                ("Name", "web"),
                ("Protocol", "HTTP"),
                ("Port", "8080"),
                ("VpcId", dockyard_elbv2::VPC_ID),
            ],
        ),
        "TargetGroupArn",
    );
    elb(
        &fx,
        "ModifyTargetGroupAttributes",
        &[
            ("TargetGroupArn", &tg),
            (
                "Attributes.member.1.Key",
                "deregistration_delay.timeout_seconds",
            ),
            ("Attributes.member.1.Value", "30"),
        ],
    );
    listener(&fx, &lb, &tg);
    fx.ok(
        "RegisterTaskDefinition",
        json!({"family": "web", "containerDefinitions": [{
            "name": "web", "image": "busybox", "memory": 64, "cpu": 128,
            "portMappings": [{"containerPort": 8080, "hostPort": 0}]}]}),
    );
    fx.ok(
        "CreateService",
        json!({"cluster": "c", "serviceName": "s", "taskDefinition": "web", "desiredCount": 1,
               "launchType": "EC2",
               "loadBalancers": [{"targetGroupArn": tg, "containerName": "web", "containerPort": 8080}]}),
    );
    let round = |later: i64| {
        fx.svc
            .run_services(Utc::now() + Duration::seconds(later))
            .unwrap();
    };
    let (mut seq, mut ports) = (0, BTreeMap::new());
    round(0);
    run_all(&fx, &node, &mut seq, &mut ports);
    // Running, but not in its target group yet: ACTIVATING.
    let first_arn = ports.keys().next().unwrap().clone();
    assert_eq!(task(&fx, &first_arn)["lastStatus"], "ACTIVATING");
    assert!(targets(&fx, &tg).is_empty());
    round(0);
    assert_eq!(task(&fx, &first_arn)["lastStatus"], "RUNNING");
    // Registered at the node's instance id and the task's host port;
    // not healthy yet, so the deployment is not complete however long.
    assert_eq!(
        targets(&fx, &tg),
        vec![(ec2.clone(), "32768".into(), "initial".into())]
    );
    round(10);
    let s = &fx.ok(
        "DescribeServices",
        json!({"cluster": "c", "services": ["s"]}),
    )["services"][0];
    assert_eq!(s["deployments"][0]["rolloutState"], "IN_PROGRESS", "{s}");
    health.set(32768, TargetHealthState::Healthy);
    round(10);
    let s = &fx.ok(
        "DescribeServices",
        json!({"cluster": "c", "services": ["s"]}),
    )["services"][0];
    assert_eq!(s["deployments"][0]["rolloutState"], "COMPLETED", "{s}");
    let old = ports.keys().next().unwrap().clone();

    // A new deployment: the new task must be healthy before the old one
    // leaves, and the old one drains (DEACTIVATING) before it stops.
    fx.ok(
        "UpdateService",
        json!({"cluster": "c", "service": "s", "forceNewDeployment": true}),
    );
    round(10);
    run_all(&fx, &node, &mut seq, &mut ports);
    round(10);
    assert_eq!(task(&fx, &old)["lastStatus"], "RUNNING", "min healthy 100%");
    health.set(32769, TargetHealthState::Healthy);
    round(10);
    let t = task(&fx, &old);
    assert_eq!(t["lastStatus"], "DEACTIVATING", "{t}");
    assert_eq!(t["desiredStatus"], "RUNNING", "{t}");
    let states: Vec<(String, String)> = targets(&fx, &tg)
        .into_iter()
        .map(|(_, port, state)| (port, state))
        .collect();
    assert!(
        states.contains(&("32768".into(), "draining".into()))
            // (this ELB API view has no health reports: registered is all
            // it can say)
            && states.contains(&("32769".into(), "initial".into())),
        "{states:?}"
    );
    round(20);
    assert_eq!(
        task(&fx, &old)["desiredStatus"],
        "RUNNING",
        "still draining"
    );
    round(41);
    let t = task(&fx, &old);
    assert_eq!(t["desiredStatus"], "STOPPED", "{t}");
    assert!(
        t["stoppedReason"]
            .as_str()
            .unwrap()
            .starts_with("Scaling activity initiated by"),
        "{t}"
    );
}

#[test]
fn load_balancers_must_name_a_group_a_listener_uses_with_a_matching_target_type() {
    let fx = Fx::new();
    fx.ok("CreateCluster", json!({"clusterName": "c"}));
    let tg = first(
        &elb(
            &fx,
            "CreateTargetGroup",
            &[
                ("Name", "ips"),
                ("Protocol", "HTTP"),
                ("Port", "8080"),
                ("VpcId", dockyard_elbv2::VPC_ID),
                ("TargetType", "ip"),
            ],
        ),
        "TargetGroupArn",
    );
    fx.ok(
        "RegisterTaskDefinition",
        json!({"family": "web", "containerDefinitions": [{
            "name": "web", "image": "busybox", "memory": 64, "cpu": 128,
            "portMappings": [{"containerPort": 8080}]}]}),
    );
    let create = |tg: &str| {
        fx.err(
            "CreateService",
            json!({"cluster": "c", "serviceName": "s", "taskDefinition": "web", "desiredCount": 1,
                   "loadBalancers": [{"targetGroupArn": tg, "containerName": "web", "containerPort": 8080}]}),
        )
    };
    let e = create(&format!("{tg}0"));
    assert_eq!(e.code, "InvalidParameterException");
    assert!(e.message.contains("does not exist"), "{}", e.message);
    let e = create(&tg);
    assert!(
        e.message.contains("associated load balancer"),
        "{}",
        e.message
    );
    let lb = first(
        &elb(
            &fx,
            "CreateLoadBalancer",
            &[("Name", "web"), ("Subnets.member.1", "subnet-1")],
        ),
        "LoadBalancerArn",
    );
    listener(&fx, &lb, &tg);
    let e = create(&tg);
    assert!(
        e.message
            .contains("incompatible with the bridge network mode"),
        "{}",
        e.message
    );
    let list = fx.ok("ListServices", json!({"cluster": "c"}));
    assert_eq!(
        list["serviceArns"].as_array().unwrap().len(),
        0,
        "nothing created"
    );
}
