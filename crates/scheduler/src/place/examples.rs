//! Worked examples of the placement rules, each on a small cluster.

#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::collections::BTreeSet;

use super::*;
use crate::constraint::Constraint;
use crate::error::Invalid;
use crate::model::{HostPort, PlacedTask, RequiredAttribute, Resources};
use crate::query::Expression;
use crate::strategy::{Field, SpreadField, Strategy};

/// The ports the ECS agent reserves by default.
const RESERVED: [u16; 5] = [22, 2375, 2376, 51678, 51679];

fn node(name: &str, az: &str, cpu: u32, memory: u32) -> InstanceState {
    InstanceState {
        arn: format!("arn:aws:ecs:us-east-1:000000000000:container-instance/c/{name}"),
        id: name.to_string(),
        ec2_instance_id: format!("i-{name}"),
        status: InstanceStatus::Active,
        agent_connected: true,
        agent_version: "1.80.0".to_string(),
        registered_at: 0,
        registered: Resources {
            cpu,
            memory,
            ports_tcp: BTreeSet::from(RESERVED),
            ports_udp: BTreeSet::new(),
        },
        attributes: [
            ("ecs.availability-zone".to_string(), Some(az.to_string())),
            (
                "ecs.instance-type".to_string(),
                Some("t3.large".to_string()),
            ),
        ]
        .into(),
        tasks: vec![],
    }
}

fn running(group: &str, cpu: u32, memory: u32) -> PlacedTask {
    PlacedTask {
        arn: format!("arn:aws:ecs:us-east-1:000000000000:task/c/{group}"),
        group: group.to_string(),
        family: "other".to_string(),
        cpu,
        memory,
        ..PlacedTask::default()
    }
}

fn web(cpu: u32, memory: u32) -> TaskRequest {
    TaskRequest {
        cpu,
        memory,
        family: "web".to_string(),
        ..TaskRequest::default()
    }
}

fn member_of(expr: &str) -> Constraint {
    Constraint::MemberOf(Expression::parse(expr).unwrap())
}

fn names(plan: &Placement) -> Vec<&str> {
    plan.placed
        .iter()
        .map(|(_, arn)| arn.rsplit('/').next().unwrap_or(""))
        .collect()
}

fn reasons(plan: &Placement) -> Vec<(&str, &str)> {
    plan.failures
        .iter()
        .map(|f| (f.arn.rsplit('/').next().unwrap_or(""), f.reason.as_str()))
        .collect()
}

fn run(req: &TaskRequest, count: usize, instances: &[InstanceState]) -> Placement {
    place(req, count, instances, 42).unwrap()
}

#[test]
fn a_cluster_without_instances_is_an_error() {
    assert_eq!(
        place(&web(1, 1), 1, &[], 0),
        Err(PlaceError::NoContainerInstances)
    );
    let mut gone = node("a", "us-east-1a", 1024, 1024);
    gone.status = InstanceStatus::Inactive;
    assert_eq!(
        place(&web(1, 1), 1, &[gone], 0),
        Err(PlaceError::NoContainerInstances)
    );
    assert_eq!(
        PlaceError::NoContainerInstances.to_string(),
        "No Container Instances were found in your cluster."
    );
}

#[test]
fn failure_reasons_are_spelled_as_ecs_spells_them() {
    let spelled = [
        (FailureReason::Cpu, "RESOURCE:CPU"),
        (FailureReason::Memory, "RESOURCE:MEMORY"),
        (FailureReason::Ports, "RESOURCE:PORTS"),
        (FailureReason::PortsUdp, "RESOURCE:PORTS_UDP"),
        (FailureReason::Agent, "AGENT"),
        (FailureReason::Attribute, "ATTRIBUTE"),
        (FailureReason::Status(InstanceStatus::Draining), "DRAINING"),
        (
            FailureReason::MemberOf,
            "MemberOf placement constraint unsatisfied.",
        ),
        (
            FailureReason::DistinctInstance,
            "DistinctInstance placement constraint unsatisfied.",
        ),
    ];
    for (reason, text) in spelled {
        assert_eq!(reason.to_string(), text);
    }
}

#[test]
fn every_registered_instance_says_why_it_refused() {
    let mut draining = node("draining", "us-east-1a", 4096, 4096);
    draining.status = InstanceStatus::Draining;
    let mut lost = node("lost", "us-east-1a", 4096, 4096);
    lost.agent_connected = false;
    let small = node("small", "us-east-1a", 256, 4096);
    let tight = node("tight", "us-east-1a", 4096, 256);
    let mut busy = node("busy", "us-east-1a", 4096, 4096);
    busy.tasks.push(PlacedTask {
        ports: vec![HostPort::tcp(80)],
        ..running("family:proxy", 0, 0)
    });
    let mut gone = node("gone", "us-east-1a", 4096, 4096);
    gone.status = InstanceStatus::Inactive;
    let req = TaskRequest {
        host_ports: vec![HostPort::tcp(80)],
        ..web(512, 512)
    };
    let plan = run(&req, 2, &[draining, lost, small, tight, busy, gone]);
    assert!(plan.placed.is_empty());
    assert_eq!(plan.unplaced, [0, 1]);
    // The deregistered instance is not part of the cluster any more.
    assert_eq!(
        reasons(&plan),
        [
            ("draining", "DRAINING"),
            ("lost", "AGENT"),
            ("small", "RESOURCE:CPU"),
            ("tight", "RESOURCE:MEMORY"),
            ("busy", "RESOURCE:PORTS"),
        ]
    );
}

#[test]
fn an_instance_reports_only_the_first_check_it_fails() {
    let mut both = node("both", "us-east-1a", 256, 256);
    both.agent_connected = false;
    let plan = run(
        &web(512, 512),
        1,
        &[both, node("cpu", "us-east-1a", 256, 256)],
    );
    assert_eq!(reasons(&plan), [("both", "AGENT"), ("cpu", "RESOURCE:CPU")]);
}

#[test]
fn failures_are_only_reported_when_a_task_is_left_over() {
    let mut draining = node("draining", "us-east-1a", 4096, 4096);
    draining.status = InstanceStatus::Draining;
    let plan = run(
        &web(512, 512),
        2,
        &[draining, node("ok", "us-east-1a", 4096, 4096)],
    );
    assert_eq!(names(&plan), ["ok", "ok"]);
    assert!(plan.failures.is_empty() && plan.unplaced.is_empty());
}

#[test]
fn tasks_of_one_call_use_up_the_instance() {
    let plan = run(&web(1024, 1000), 3, &[node("a", "us-east-1a", 2048, 4096)]);
    assert_eq!(
        plan.placed,
        [(0, node("a", "", 0, 0).arn), (1, node("a", "", 0, 0).arn)]
    );
    assert_eq!(plan.unplaced, [2]);
    assert_eq!(reasons(&plan), [("a", "RESOURCE:CPU")]);

    let plan = run(&web(10, 1500), 3, &[node("a", "us-east-1a", 2048, 4096)]);
    assert_eq!(plan.unplaced, [2]);
    assert_eq!(reasons(&plan), [("a", "RESOURCE:MEMORY")]);
}

#[test]
fn zero_cpu_tasks_fit_anywhere_with_memory() {
    let plan = run(&web(0, 100), 5, &[node("a", "us-east-1a", 0, 1000)]);
    assert_eq!(plan.placed.len(), 5);
}

#[test]
fn fixed_host_ports_are_taken_per_protocol() {
    let a = node("a", "us-east-1a", 4096, 4096);
    let tcp = TaskRequest {
        host_ports: vec![HostPort::tcp(8080)],
        ..web(1, 1)
    };
    let plan = run(&tcp, 2, std::slice::from_ref(&a));
    assert_eq!(plan.placed.len(), 1);
    assert_eq!(reasons(&plan), [("a", "RESOURCE:PORTS")]);

    let both = TaskRequest {
        host_ports: vec![HostPort::tcp(53), HostPort::udp(53)],
        ..web(1, 1)
    };
    assert_eq!(run(&both, 1, std::slice::from_ref(&a)).placed.len(), 1);
    // A second task on the same UDP port: its own reason.
    let udp = TaskRequest {
        host_ports: vec![HostPort::udp(5353)],
        ..web(1, 1)
    };
    let plan = run(&udp, 2, std::slice::from_ref(&a));
    assert_eq!(plan.placed.len(), 1);
    assert_eq!(reasons(&plan), [("a", "RESOURCE:PORTS_UDP")]);

    for reserved in RESERVED {
        let req = TaskRequest {
            host_ports: vec![HostPort::tcp(reserved)],
            ..web(1, 1)
        };
        let plan = run(&req, 1, std::slice::from_ref(&a));
        assert_eq!(reasons(&plan), [("a", "RESOURCE:PORTS")], "port {reserved}");
        // UDP 22 is not reserved.
        let req = TaskRequest {
            host_ports: vec![HostPort::udp(reserved)],
            ..web(1, 1)
        };
        assert_eq!(run(&req, 1, std::slice::from_ref(&a)).placed.len(), 1);
    }
}

#[test]
fn stopping_tasks_hold_resources_but_leave_their_group() {
    let mut a = node("a", "us-east-1a", 1024, 1024);
    a.tasks.push(PlacedTask {
        desired_stopped: true,
        ports: vec![HostPort::tcp(80)],
        ..running("family:web", 1024, 512)
    });
    let distinct = TaskRequest {
        constraints: vec![Constraint::DistinctInstance],
        ..web(0, 512)
    };
    // The stopping task of the group does not count for distinctInstance...
    assert_eq!(run(&distinct, 1, std::slice::from_ref(&a)).placed.len(), 1);
    // ...but still holds its CPU and its port.
    assert_eq!(
        reasons(&run(&web(1, 1), 1, std::slice::from_ref(&a))),
        [("a", "RESOURCE:CPU")]
    );
    let port = TaskRequest {
        host_ports: vec![HostPort::tcp(80)],
        ..web(0, 1)
    };
    assert_eq!(reasons(&run(&port, 1, &[a])), [("a", "RESOURCE:PORTS")]);
}

#[test]
fn required_attributes_are_checked_before_resources() {
    let mut eni = node("eni", "us-east-1a", 4096, 4096);
    eni.attributes
        .insert("ecs.capability.task-eni".to_string(), None);
    let mut old = node("old", "us-east-1a", 1, 1);
    old.attributes.insert(
        "com.amazonaws.ecs.capability.docker-remote-api".to_string(),
        Some("1.17".to_string()),
    );
    let req = TaskRequest {
        required_attributes: vec![RequiredAttribute {
            name: "ecs.capability.task-eni".to_string(),
            value: None,
        }],
        ..web(512, 512)
    };
    let plan = run(&req, 2, &[old.clone(), eni.clone()]);
    assert_eq!(names(&plan), ["eni", "eni"]);
    let plan = run(&req, 1, std::slice::from_ref(&old));
    assert_eq!(reasons(&plan), [("old", "ATTRIBUTE")]);

    let versioned = TaskRequest {
        required_attributes: vec![RequiredAttribute {
            name: "com.amazonaws.ecs.capability.docker-remote-api".to_string(),
            value: Some("1.19".to_string()),
        }],
        ..web(0, 0)
    };
    assert_eq!(reasons(&run(&versioned, 1, &[old])), [("old", "ATTRIBUTE")]);
}

#[test]
fn distinct_instance_counts_the_call_and_the_running_group() {
    let nodes = [
        node("a", "us-east-1a", 4096, 4096),
        node("b", "us-east-1b", 4096, 4096),
        node("c", "us-east-1c", 4096, 4096),
    ];
    let req = TaskRequest {
        constraints: vec![Constraint::DistinctInstance],
        ..web(1, 1)
    };
    let plan = run(&req, 4, &nodes);
    let mut placed = names(&plan);
    placed.sort();
    assert_eq!(placed, ["a", "b", "c"]);
    assert_eq!(plan.unplaced, [3]);
    let why = "DistinctInstance placement constraint unsatisfied.";
    assert_eq!(reasons(&plan), [("a", why), ("b", why), ("c", why)]);

    // A running task of the default group `family:web` counts too; one of
    // another group does not.
    let mut one = node("one", "us-east-1a", 4096, 4096);
    one.tasks.push(running("family:web", 1, 1));
    one.tasks.push(running("family:db", 1, 1));
    assert_eq!(reasons(&run(&req, 1, &[one])), [("one", why)]);
}

#[test]
fn member_of_keeps_to_the_selected_instances() {
    let mut nodes = vec![
        node("a", "us-east-1a", 4096, 4096),
        node("b", "us-east-1b", 4096, 4096),
    ];
    nodes[1].attributes.insert(
        "ecs.instance-type".to_string(),
        Some("g2.2xlarge".to_string()),
    );
    let req = TaskRequest {
        constraints: vec![member_of("attribute:ecs.instance-type =~ g2.*")],
        ..web(1, 1)
    };
    assert_eq!(names(&run(&req, 3, &nodes)), ["b", "b", "b"]);

    // The task definition's constraints bind as well.
    let req = TaskRequest {
        task_definition_constraints: vec![member_of(
            "attribute:ecs.availability-zone == us-east-1a",
        )],
        ..req
    };
    let plan = run(&req, 1, &nodes);
    let why = "MemberOf placement constraint unsatisfied.";
    assert_eq!(reasons(&plan), [("a", why), ("b", why)]);
}

#[test]
fn member_of_sees_the_tasks_placed_by_the_same_call() {
    let nodes = [
        node("a", "us-east-1a", 4096, 4096),
        node("b", "us-east-1b", 4096, 4096),
    ];
    // Anti-affinity with its own group behaves like distinctInstance.
    let req = TaskRequest {
        constraints: vec![member_of("not(task:group == family:web)")],
        ..web(1, 1)
    };
    let plan = run(&req, 3, &nodes);
    assert_eq!(plan.placed.len(), 2);
    assert_ne!(plan.placed[0].1, plan.placed[1].1);
    assert_eq!(plan.unplaced, [2]);

    let count = TaskRequest {
        constraints: vec![member_of("runningTasksCount < 2")],
        ..web(1, 1)
    };
    assert_eq!(run(&count, 5, &nodes).placed.len(), 4);
}

#[test]
fn binpack_fills_the_fullest_instance_first() {
    let mut nodes = vec![
        node("roomy", "us-east-1a", 4096, 8192),
        node("snug", "us-east-1a", 4096, 8192),
        node("middle", "us-east-1a", 4096, 8192),
    ];
    nodes[1].tasks.push(running("family:db", 0, 6144));
    nodes[2].tasks.push(running("family:db", 0, 4096));
    let req = TaskRequest {
        strategies: vec![Strategy::Binpack(Field::Memory)],
        ..web(0, 1024)
    };
    // snug has 2048 left: two tasks; then middle (4096 left), then roomy.
    let plan = run(&req, 7, &nodes);
    assert_eq!(
        names(&plan),
        [
            "snug", "snug", "middle", "middle", "middle", "middle", "roomy"
        ]
    );

    let cpu = TaskRequest {
        strategies: vec![Strategy::Binpack(Field::Cpu)],
        ..web(1024, 0)
    };
    nodes[0].registered.cpu = 2048;
    nodes[2].registered.cpu = 3072;
    assert_eq!(
        names(&run(&cpu, 4, &nodes)),
        ["roomy", "roomy", "middle", "middle"]
    );
}

#[test]
fn spread_balances_the_group_across_zones_then_binpacks_within() {
    // The guide's "spread across Availability Zones, then bin pack on
    // memory within each Availability Zone".
    let mut nodes = vec![
        node("a1", "us-east-1a", 4096, 8192),
        node("a2", "us-east-1a", 4096, 4096),
        node("b1", "us-east-1b", 4096, 8192),
    ];
    nodes[0].tasks.push(running("family:web", 0, 0));
    let req = TaskRequest {
        strategies: vec![
            Strategy::Spread(SpreadField::Attribute("ecs.availability-zone".into())),
            Strategy::Binpack(Field::Memory),
        ],
        ..web(0, 1024)
    };
    let plan = run(&req, 3, &nodes);
    // b has no task of the group yet; then both zones hold one, and a2 has
    // the least memory left; then b again.
    assert_eq!(names(&plan), ["b1", "a2", "b1"]);
}

#[test]
fn spread_counts_only_live_tasks_of_the_group_wherever_they_run() {
    let mut nodes = vec![
        node("a", "us-east-1a", 4096, 4096),
        node("b", "us-east-1b", 4096, 4096),
        node("b-full", "us-east-1b", 0, 4096),
    ];
    // Other groups and stopping tasks do not count; a live task of the
    // group on an instance that cannot take more still does.
    nodes[0].tasks.push(running("family:db", 0, 0));
    nodes[0].tasks.push(PlacedTask {
        desired_stopped: true,
        ..running("family:web", 0, 0)
    });
    nodes[2].tasks.push(running("family:web", 0, 0));
    let req = TaskRequest {
        strategies: Strategy::service_default(),
        ..web(1, 1)
    };
    assert_eq!(names(&run(&req, 1, &nodes)), ["a"]);

    let by_instance = TaskRequest {
        strategies: vec![Strategy::Spread(SpreadField::InstanceId)],
        ..web(1, 1)
    };
    let plan = run(&by_instance, 4, &nodes[..2]);
    let mut placed = names(&plan);
    placed.sort();
    assert_eq!(placed, ["a", "a", "b", "b"]);
}

#[test]
fn instances_without_the_attribute_are_a_value_of_their_own() {
    let mut bare = node("bare", "", 4096, 4096);
    bare.attributes.clear();
    let nodes = [node("a", "us-east-1a", 4096, 4096), bare];
    let req = TaskRequest {
        strategies: Strategy::service_default(),
        ..web(0, 0)
    };
    let plan = run(&req, 4, &nodes);
    let mut placed = names(&plan);
    placed.sort();
    assert_eq!(placed, ["a", "a", "bare", "bare"]);
}

#[test]
fn the_default_is_random_and_the_seed_decides() {
    let nodes: Vec<InstanceState> = (0..8)
        .map(|i| node(&format!("n{i}"), "us-east-1a", 4096, 4096))
        .collect();
    let req = web(1, 1);
    let first = place(&req, 10, &nodes, 7).unwrap();
    assert_eq!(first, place(&req, 10, &nodes, 7).unwrap());
    let used: BTreeSet<&str> = names(&first).into_iter().collect();
    assert!(used.len() > 1, "random placement used only {used:?}");
    let differs = (0..20).any(|seed| place(&req, 10, &nodes, seed).unwrap() != first);
    assert!(differs);
    // `random` after other strategies ends the chain: binpack still wins.
    let mut packed = nodes.clone();
    packed[5].tasks.push(running("family:db", 0, 4000));
    let req = TaskRequest {
        strategies: vec![Strategy::Binpack(Field::Memory), Strategy::Random],
        ..web(1, 1)
    };
    for seed in 0..10 {
        assert_eq!(names(&place(&req, 1, &packed, seed).unwrap()), ["n5"]);
    }
}

#[test]
fn a_named_group_replaces_the_family_default() {
    let mut a = node("a", "us-east-1a", 4096, 4096);
    a.tasks.push(running("batch", 0, 0));
    let req = TaskRequest {
        group: "batch".to_string(),
        constraints: vec![Constraint::DistinctInstance],
        ..web(0, 0)
    };
    assert_eq!(req.effective_group(), "batch");
    assert_eq!(web(0, 0).effective_group(), "family:web");
    assert_eq!(
        reasons(&run(&req, 1, &[a])),
        [("a", "DistinctInstance placement constraint unsatisfied.")]
    );
}

#[test]
fn requests_beyond_ecs_limits_are_refused() {
    let a = [node("a", "us-east-1a", 4096, 4096)];
    let req = TaskRequest {
        strategies: vec![Strategy::Random; 6],
        ..web(1, 1)
    };
    assert!(
        matches!(place(&req, 1, &a, 0), Err(PlaceError::Invalid(Invalid(m))) if m.contains("strategies"))
    );
    let req = TaskRequest {
        constraints: vec![Constraint::DistinctInstance; 6],
        task_definition_constraints: vec![member_of("attribute:x exists"); 5],
        ..web(1, 1)
    };
    let e = place(&req, 1, &a, 0).unwrap_err();
    assert!(e.to_string().contains("11 given"), "{e}");
    let req = TaskRequest {
        task_definition_constraints: vec![Constraint::DistinctInstance],
        ..web(1, 1)
    };
    assert!(place(&req, 1, &a, 0).is_err());
    assert_eq!(place(&web(1, 1), 0, &a, 0).unwrap(), Placement::default());
}
