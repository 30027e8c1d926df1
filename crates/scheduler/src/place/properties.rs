//! Property checks over random clusters and requests from a small
//! hand-rolled generator (fixed seeds, so a failure reproduces).
//!
//! Each plan is replayed task by task on a copy of the cluster, and every
//! step is judged by a reference written apart from `place`: it must fit
//! (resources, ports, status, agent, attributes, constraints), and the
//! first strategy must have had no better candidate.

#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::constraint::Constraint;
use crate::model::{HostPort, PlacedTask, Protocol, RequiredAttribute, Resources};
use crate::query::Expression;
use crate::rng::Rng;
use crate::strategy::{Field, SpreadField, Strategy};

const CASES: u64 = 3000;
const AZS: &[&str] = &["us-east-1a", "us-east-1b", "us-east-1c"];
const TYPES: &[&str] = &["t2.small", "t2.large", "g2.2xlarge", "m5.large"];
const GROUPS: &[&str] = &["family:web", "family:db", "service:api"];
const EXPRESSIONS: &[&str] = &[
    "attribute:ecs.instance-type =~ t2.*",
    "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
    "not(task:group == service:api)",
    "not(task:group == family:web)",
    "runningTasksCount < 3",
    "attribute:stack != dev",
    "task:group == family:db or attribute:stack exists",
    "agentConnected == true and attribute:ecs.os-type !exists",
];
const PORTS: &[HostPort] = &[
    HostPort {
        port: 80,
        protocol: Protocol::Tcp,
    },
    HostPort {
        port: 8080,
        protocol: Protocol::Tcp,
    },
    HostPort {
        port: 53,
        protocol: Protocol::Udp,
    },
];

impl Rng {
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

fn fits(instance: &InstanceState, cpu: u32, memory: u32, ports: &[HostPort]) -> bool {
    let used_cpu: u64 = instance.tasks.iter().map(|t| u64::from(t.cpu)).sum();
    let used_memory: u64 = instance.tasks.iter().map(|t| u64::from(t.memory)).sum();
    let mut taken: BTreeSet<HostPort> = instance
        .registered
        .ports_tcp
        .iter()
        .map(|p| HostPort::tcp(*p))
        .chain(
            instance
                .registered
                .ports_udp
                .iter()
                .map(|p| HostPort::udp(*p)),
        )
        .collect();
    taken.extend(instance.tasks.iter().flat_map(|t| t.ports.iter().copied()));
    used_cpu + u64::from(cpu) <= u64::from(instance.registered.cpu)
        && used_memory + u64::from(memory) <= u64::from(instance.registered.memory)
        && ports.iter().all(|p| !taken.contains(p))
}

pub(super) fn gen_instance(rng: &mut Rng, n: usize) -> InstanceState {
    let status = if rng.chance(80) {
        InstanceStatus::Active
    } else {
        rng.pick(&[
            InstanceStatus::Draining,
            InstanceStatus::Inactive,
            InstanceStatus::Registering,
        ])
    };
    let mut attributes = BTreeMap::new();
    if rng.chance(90) {
        attributes.insert(
            "ecs.availability-zone".to_string(),
            Some(rng.pick(AZS).to_string()),
        );
    }
    attributes.insert(
        "ecs.instance-type".to_string(),
        Some(rng.pick(TYPES).to_string()),
    );
    if rng.chance(60) {
        let stack = rng.pick(&[Some("prod"), Some("dev"), None]);
        attributes.insert("stack".to_string(), stack.map(str::to_string));
    }
    if rng.chance(50) {
        attributes.insert("ecs.capability.task-eni".to_string(), None);
    }
    let mut ports_tcp = BTreeSet::from([22, 2375, 2376, 51678, 51679]);
    if rng.chance(10) {
        ports_tcp.insert(80);
    }
    let mut instance = InstanceState {
        arn: format!("arn:aws:ecs:us-east-1:000000000000:container-instance/c/n{n}"),
        id: format!("n{n}"),
        ec2_instance_id: format!("i-{n:08x}"),
        status,
        agent_connected: rng.chance(90),
        agent_version: "1.80.0".to_string(),
        registered_at: 1_700_000_000,
        registered: Resources {
            cpu: rng.pick(&[0, 512, 1024, 2048, 4096]),
            memory: rng.pick(&[0, 512, 1024, 4096, 8192]),
            ports_tcp,
            ports_udp: BTreeSet::new(),
        },
        attributes,
        tasks: vec![],
    };
    for t in 0..rng.below(5) {
        let cpu = rng.pick(&[0, 128, 256, 512]);
        let memory = rng.pick(&[0, 128, 256, 512]);
        let ports: Vec<HostPort> = if rng.chance(25) {
            vec![rng.pick(PORTS)]
        } else {
            vec![]
        };
        if fits(&instance, cpu, memory, &ports) {
            instance.tasks.push(PlacedTask {
                arn: format!("task-{n}-{t}"),
                group: rng.pick(GROUPS).to_string(),
                family: "any".to_string(),
                task_definition_arn: String::new(),
                cpu,
                memory,
                ports,
                desired_stopped: rng.chance(15),
            });
        }
    }
    instance
}

fn gen_strategy(rng: &mut Rng) -> Strategy {
    rng.pick(&[
        Strategy::Binpack(Field::Cpu),
        Strategy::Binpack(Field::Memory),
        Strategy::Spread(SpreadField::InstanceId),
        Strategy::Spread(SpreadField::Host),
        Strategy::Spread(SpreadField::Attribute("ecs.availability-zone".to_string())),
        Strategy::Spread(SpreadField::Attribute("stack".to_string())),
        Strategy::Random,
    ])
}

fn member_of(rng: &mut Rng) -> Constraint {
    Constraint::MemberOf(Expression::parse(rng.pick(EXPRESSIONS)).unwrap())
}

pub(super) fn gen_request(rng: &mut Rng) -> TaskRequest {
    let mut constraints = Vec::new();
    if rng.chance(30) {
        constraints.push(Constraint::DistinctInstance);
    }
    while rng.chance(35) && constraints.len() < 3 {
        constraints.push(member_of(rng));
    }
    TaskRequest {
        cpu: rng.pick(&[0, 128, 256, 512, 1024]),
        memory: rng.pick(&[0, 128, 256, 512, 1024]),
        host_ports: PORTS.iter().copied().filter(|_| rng.chance(15)).collect(),
        group: if rng.chance(50) {
            String::new()
        } else {
            rng.pick(GROUPS).to_string()
        },
        family: "web".to_string(),
        constraints,
        strategies: (0..rng.below(4)).map(|_| gen_strategy(rng)).collect(),
        task_definition_constraints: if rng.chance(20) {
            vec![member_of(rng)]
        } else {
            vec![]
        },
        required_attributes: if rng.chance(20) {
            vec![RequiredAttribute {
                name: "ecs.capability.task-eni".to_string(),
                value: None,
            }]
        } else {
            vec![]
        },
    }
}

/// The reference: may `req` go on `instance` as it stands?
fn allowed(instance: &InstanceState, req: &TaskRequest) -> bool {
    let group = req.effective_group();
    let member_of_ok = req
        .constraints
        .iter()
        .chain(&req.task_definition_constraints)
        .all(|c| match c {
            Constraint::MemberOf(e) => e.matches(instance),
            Constraint::DistinctInstance => instance
                .tasks
                .iter()
                .all(|t| t.desired_stopped || t.group != group),
        });
    instance.status == InstanceStatus::Active
        && instance.agent_connected
        && req
            .required_attributes
            .iter()
            .all(|a| instance.attributes.contains_key(&a.name))
        && fits(instance, req.cpu, req.memory, &req.host_ports)
        && member_of_ok
}

fn ports_of(req: &TaskRequest, protocol: Protocol) -> Vec<HostPort> {
    req.host_ports
        .iter()
        .filter(|p| p.protocol == protocol)
        .copied()
        .collect()
}

/// Does `reason` really hold for `instance`?
fn reason_holds(reason: FailureReason, instance: &InstanceState, req: &TaskRequest) -> bool {
    let group = req.effective_group();
    match reason {
        FailureReason::Status(s) => instance.status == s && s != InstanceStatus::Active,
        FailureReason::Agent => !instance.agent_connected,
        FailureReason::Attribute => req
            .required_attributes
            .iter()
            .any(|a| !instance.attributes.contains_key(&a.name)),
        FailureReason::Cpu => !fits(instance, req.cpu, 0, &[]),
        FailureReason::Memory => !fits(instance, 0, req.memory, &[]),
        FailureReason::Ports => !fits(instance, 0, 0, &ports_of(req, Protocol::Tcp)),
        FailureReason::PortsUdp => {
            fits(instance, 0, 0, &ports_of(req, Protocol::Tcp))
                && !fits(instance, 0, 0, &ports_of(req, Protocol::Udp))
        }
        FailureReason::DistinctInstance => {
            req.constraints.contains(&Constraint::DistinctInstance)
                && instance
                    .tasks
                    .iter()
                    .any(|t| !t.desired_stopped && t.group == group)
        }
        FailureReason::MemberOf => req
            .constraints
            .iter()
            .chain(&req.task_definition_constraints)
            .any(|c| matches!(c, Constraint::MemberOf(e) if !e.matches(instance))),
    }
}

fn remaining(instance: &InstanceState, field: Field) -> u64 {
    let used: u64 = instance
        .tasks
        .iter()
        .map(|t| {
            u64::from(match field {
                Field::Cpu => t.cpu,
                Field::Memory => t.memory,
            })
        })
        .sum();
    let registered = match field {
        Field::Cpu => instance.registered.cpu,
        Field::Memory => instance.registered.memory,
    };
    u64::from(registered).saturating_sub(used)
}

/// Live tasks of `group` on the instances sharing `instance`'s value of
/// `field`.
fn spread_count(
    field: &SpreadField,
    instance: &InstanceState,
    all: &[InstanceState],
    group: &str,
) -> usize {
    let of = |i: &InstanceState| {
        i.tasks
            .iter()
            .filter(|t| !t.desired_stopped && t.group == group)
            .count()
    };
    match field {
        SpreadField::InstanceId | SpreadField::Host => of(instance),
        SpreadField::Attribute(name) => {
            let value = |i: &InstanceState| i.attributes.get(name).cloned().flatten();
            all.iter()
                .filter(|i| i.status.is_registered() && value(i) == value(instance))
                .map(of)
                .sum()
        }
    }
}

fn check_case(case: u64) {
    let mut rng = Rng::new(case);
    let instances: Vec<InstanceState> = (0..rng.below(9))
        .map(|n| gen_instance(&mut rng, n))
        .collect();
    let req = gen_request(&mut rng);
    let count = 1 + rng.below(12);
    let seed = rng.next_u64();
    let ctx = format!("case {case}");

    let plan = match place(&req, count, &instances, seed) {
        Err(PlaceError::NoContainerInstances) => {
            assert!(!instances.iter().any(|i| i.status.is_registered()), "{ctx}");
            return;
        }
        Err(e) => panic!("{ctx}: {e}"),
        Ok(plan) => plan,
    };
    // Deterministic.
    assert_eq!(place(&req, count, &instances, seed).unwrap(), plan, "{ctx}");

    // Every task accounted for exactly once: placed ones first, in order.
    let placed_indices: Vec<usize> = plan.placed.iter().map(|(i, _)| *i).collect();
    assert_eq!(
        placed_indices,
        (0..plan.placed.len()).collect::<Vec<_>>(),
        "{ctx}"
    );
    assert_eq!(
        plan.unplaced,
        (plan.placed.len()..count).collect::<Vec<_>>(),
        "{ctx}"
    );

    // Replay, judging every step.
    let group = req.effective_group();
    let mut state = instances.clone();
    let mut placed_on: Vec<usize> = Vec::new();
    for (_, arn) in &plan.placed {
        let at = state.iter().position(|i| &i.arn == arn).unwrap();
        assert!(allowed(&state[at], &req), "{ctx}: {arn} was not allowed");
        let feasible: Vec<usize> = (0..state.len())
            .filter(|&i| allowed(&state[i], &req))
            .collect();
        match req.strategies.first() {
            Some(Strategy::Binpack(field)) => {
                let least = feasible.iter().map(|&i| remaining(&state[i], *field)).min();
                assert_eq!(Some(remaining(&state[at], *field)), least, "{ctx}: binpack");
            }
            Some(Strategy::Spread(field)) => {
                let count_of = |i: usize| spread_count(field, &state[i], &state, &group);
                let least = feasible.iter().map(|&i| count_of(i)).min();
                assert_eq!(Some(count_of(at)), least, "{ctx}: spread");
            }
            _ => {}
        }
        state[at].tasks.push(PlacedTask {
            group: group.clone(),
            cpu: req.cpu,
            memory: req.memory,
            ports: req.host_ports.clone(),
            ..PlacedTask::default()
        });
        placed_on.push(at);
    }

    // Never over-committed, wherever a task went.
    for &at in &placed_on {
        let i = &state[at];
        let cpu: u64 = i.tasks.iter().map(|t| u64::from(t.cpu)).sum();
        let memory: u64 = i.tasks.iter().map(|t| u64::from(t.memory)).sum();
        assert!(
            cpu <= u64::from(i.registered.cpu),
            "{ctx}: cpu on {}",
            i.arn
        );
        assert!(
            memory <= u64::from(i.registered.memory),
            "{ctx}: memory on {}",
            i.arn
        );
        let mut ports: Vec<HostPort> = i.tasks.iter().flat_map(|t| t.ports.clone()).collect();
        let n = ports.len();
        ports.sort();
        ports.dedup();
        assert_eq!(ports.len(), n, "{ctx}: a port twice on {}", i.arn);
        for p in ports {
            let reserved = match p.protocol {
                Protocol::Tcp => &i.registered.ports_tcp,
                Protocol::Udp => &i.registered.ports_udp,
            };
            assert!(
                !reserved.contains(&p.port),
                "{ctx}: reserved port on {}",
                i.arn
            );
        }
    }

    if req.constraints.contains(&Constraint::DistinctInstance) {
        let distinct: BTreeSet<usize> = placed_on.iter().copied().collect();
        assert_eq!(distinct.len(), placed_on.len(), "{ctx}: distinctInstance");
    }

    if plan.unplaced.is_empty() {
        assert!(plan.failures.is_empty(), "{ctx}");
    } else {
        // Giving up was right, and each registered instance says why.
        let registered: Vec<&InstanceState> =
            state.iter().filter(|i| i.status.is_registered()).collect();
        assert!(
            registered.iter().all(|i| !allowed(i, &req)),
            "{ctx}: gave up early"
        );
        assert_eq!(plan.failures.len(), registered.len(), "{ctx}");
        for (failure, instance) in plan.failures.iter().zip(&registered) {
            assert_eq!(failure.arn, instance.arn, "{ctx}");
            assert!(
                reason_holds(failure.reason, instance, &req),
                "{ctx}: {} does not hold for {}",
                failure.reason,
                instance.arn
            );
        }
    }
}

#[test]
fn random_plans_keep_every_rule() {
    for case in 0..CASES {
        check_case(case);
    }
}

fn roomy(n: usize, az: &str) -> InstanceState {
    InstanceState {
        arn: format!("arn:aws:ecs:us-east-1:000000000000:container-instance/c/r{n}"),
        id: format!("r{n}"),
        status: InstanceStatus::Active,
        agent_connected: true,
        registered: Resources {
            cpu: 1 << 20,
            memory: 1 << 20,
            ..Resources::default()
        },
        attributes: [("ecs.availability-zone".to_string(), Some(az.to_string()))].into(),
        ..InstanceState::default()
    }
}

fn spread_of(plan: &Placement, key: impl Fn(&str) -> String) -> Vec<usize> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (_, arn) in &plan.placed {
        *counts.entry(key(arn)).or_default() += 1;
    }
    counts.into_values().collect()
}

#[test]
fn spread_keeps_counts_within_one_when_capacity_allows() {
    let mut rng = Rng::new(99);
    for case in 0..300 {
        let n = 1 + rng.below(10);
        let zones = (1 + rng.below(AZS.len())).min(n);
        let instances: Vec<InstanceState> = (0..n).map(|i| roomy(i, AZS[i % zones])).collect();
        let count = rng.below(40);
        let az = |arn: &str| {
            let i = instances.iter().find(|i| i.arn == arn).unwrap();
            i.attributes["ecs.availability-zone"]
                .clone()
                .unwrap_or_default()
        };

        let req = TaskRequest {
            strategies: vec![Strategy::Spread(SpreadField::InstanceId)],
            ..TaskRequest::default()
        };
        let plan = place(&req, count, &instances, case).unwrap();
        assert_eq!(plan.placed.len(), count);
        let mut per_instance = spread_of(&plan, str::to_string);
        per_instance.resize(n.max(per_instance.len()), 0);
        if count >= n {
            let (lo, hi) = (per_instance.iter().min(), per_instance.iter().max());
            assert!(
                hi.unwrap() - lo.unwrap() <= 1,
                "case {case}: {per_instance:?}"
            );
        } else {
            assert!(
                per_instance.iter().all(|&c| c <= 1),
                "case {case}: {per_instance:?}"
            );
        }

        let req = TaskRequest {
            strategies: vec![
                Strategy::Spread(SpreadField::Attribute("ecs.availability-zone".into())),
                Strategy::Spread(SpreadField::InstanceId),
            ],
            ..TaskRequest::default()
        };
        let plan = place(&req, count, &instances, case).unwrap();
        let mut per_zone = spread_of(&plan, az);
        per_zone.resize(zones.max(per_zone.len()), 0);
        let (lo, hi) = (per_zone.iter().min(), per_zone.iter().max());
        assert!(hi.unwrap() - lo.unwrap() <= 1, "case {case}: {per_zone:?}");
    }
}
