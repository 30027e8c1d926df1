//! Placements per second at scale: 5,000 container instances and 1,000
//! services of 100 tasks (100,000 tasks), binpack and spread, one core.
//! Each service is one `place` call of 100 tasks, and its plan is applied
//! to the instances before the next, so the cluster fills up as it would.
//! Nomad's published run (3,750 placements/s on five servers) and the
//! target (10,000/s on one core) are printed alongside.
//!
//! `cargo run --release -p dockyard-scheduler --example placement_bench --
//!  [--instances N] [--services N] [--tasks N] [--strategy binpack|spread|both] [--seed N]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use dockyard_scheduler::{
    Field, InstanceState, PlacedTask, Resources, SpreadField, Strategy, TaskRequest, place,
};

const NOMAD: f64 = 3750.0;
const TARGET: f64 = 10_000.0;

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

fn cluster(n: usize) -> Vec<InstanceState> {
    (0..n)
        .map(|i| InstanceState {
            arn: format!("arn:aws:ecs:us-east-1:000000000000:container-instance/bench/{i:032x}"),
            id: format!("{i:032x}"),
            ec2_instance_id: format!("i-{i:017x}"),
            agent_connected: true,
            agent_version: "1.0.0".into(),
            registered: Resources {
                // 16 vCPU and 64 GiB: room for the 100,000 tasks with
                // some to spare, as a cluster sized for its load is.
                cpu: 16384,
                memory: 65536,
                ..Resources::default()
            },
            attributes: [
                (
                    "ecs.availability-zone".to_string(),
                    Some(format!("us-east-1{}", ["a", "b", "c"][i % 3])),
                ),
                ("ecs.os-type".to_string(), Some("linux".into())),
                ("stack".to_string(), Some(["blue", "green"][i % 2].into())),
            ]
            .into(),
            ..InstanceState::default()
        })
        .collect()
}

struct Run {
    placed: usize,
    unplaced: usize,
    spent: Duration,
}

fn run(instances: usize, services: usize, tasks: usize, strategy: &str, seed: u64) -> Run {
    let mut states = cluster(instances);
    let index: std::collections::HashMap<String, usize> = states
        .iter()
        .enumerate()
        .map(|(i, s)| (s.arn.clone(), i))
        .collect();
    let strategies = match strategy {
        "binpack" => vec![Strategy::Binpack(Field::Memory)],
        _ => vec![
            Strategy::Spread(SpreadField::Attribute("ecs.availability-zone".into())),
            Strategy::Spread(SpreadField::InstanceId),
        ],
    };
    let mut out = Run {
        placed: 0,
        unplaced: 0,
        spent: Duration::ZERO,
    };
    for s in 0..services {
        let req = TaskRequest {
            cpu: [256, 512][s % 2],
            memory: [512, 1024][s % 2],
            group: format!("service:svc-{s}"),
            family: format!("svc-{s}"),
            strategies: strategies.clone(),
            ..TaskRequest::default()
        };
        let t = Instant::now();
        let plan = place(&req, tasks, &states, seed.wrapping_add(s as u64)).unwrap();
        out.spent += t.elapsed();
        out.unplaced += plan.unplaced.len();
        for (n, arn) in plan.placed {
            out.placed += 1;
            states[index[&arn]].tasks.push(PlacedTask {
                arn: format!("task-{s}-{n}"),
                group: req.group.clone(),
                family: req.family.clone(),
                cpu: req.cpu,
                memory: req.memory,
                ..PlacedTask::default()
            });
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let instances: usize = arg(&args, "--instances", "5000").parse().unwrap();
    let services: usize = arg(&args, "--services", "1000").parse().unwrap();
    let tasks: usize = arg(&args, "--tasks", "100").parse().unwrap();
    let seed: u64 = arg(&args, "--seed", "1").parse().unwrap();
    let which = arg(&args, "--strategy", "both");
    let strategies: Vec<&str> = match which.as_str() {
        "both" => vec!["binpack", "spread"],
        s => vec![if s == "binpack" { "binpack" } else { "spread" }],
    };
    println!("{instances} instances, {services} services x {tasks} tasks, one core, seed {seed}");
    for strategy in strategies {
        let r = run(instances, services, tasks, strategy, seed);
        let rate = r.placed as f64 / r.spent.as_secs_f64();
        println!(
            "{strategy:8} {:>7} placed {:>6} unplaced in {:>7.2}s: {:>9.0} placements/s = {:.2}x Nomad's 3,750/s, {:.2}x the 10,000/s target",
            r.placed,
            r.unplaced,
            r.spent.as_secs_f64(),
            rate,
            rate / NOMAD,
            rate / TARGET
        );
        println!(
            "RESULT strategy={strategy} placed={} unplaced={} seconds={:.3} per_second={rate:.0}",
            r.placed,
            r.unplaced,
            r.spent.as_secs_f64()
        );
    }
}
