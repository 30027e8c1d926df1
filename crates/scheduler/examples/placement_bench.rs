//! Placement throughput at cluster scale: N simulated container instances
//! and S services of T tasks each, every service one `place()` call whose
//! plan is applied to the cluster before the next, so the cluster fills up
//! as a real one does. Only the placement calls are timed; building the
//! cluster and applying plans are not. Single-threaded.
//!
//! ```sh
//! cargo run --release -p dockyard-scheduler --example placement_bench -- \
//!     [--instances 5000] [--services 1000] [--tasks 100] \
//!     [--strategy binpack|spread|both] [--api place|view|both] [--seed N]
//! ```
//!
//! The anchor is Nomad's published million-container run (3,750 placements
//! per second with five servers); the target is 10,000 per second on one
//! core. The last line of each run is a `RESULT key=value...` summary.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use dockyard_scheduler::{
    ClusterView, Field, InstanceState, InstanceStatus, PlacedTask, Placement, Resources,
    SpreadField, Strategy, TaskRequest, place,
};

const NOMAD_PER_SEC: f64 = 3_750.0;
const TARGET_PER_SEC: f64 = 10_000.0;
const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];
/// (instance type, CPU units, MiB): a third of the fleet each, so that
/// 100,000 tasks of the sizes below fill about 80% of the CPU.
const TYPES: [(&str, u32, u32); 3] = [
    ("m5.xlarge", 4096, 16384),
    ("m5.2xlarge", 8192, 32768),
    ("m5.4xlarge", 16384, 65536),
];
const TASK_CPU: [u32; 2] = [256, 512];
const TASK_MEMORY: [u32; 3] = [512, 1024, 2048];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    /// `place(req, count, &instances, seed)` per service, as the control
    /// plane calls it.
    Place,
    /// One `ClusterView` for the whole run, as a reconciler placing many
    /// services would use it.
    View,
}

impl Api {
    fn name(self) -> &'static str {
        match self {
            Self::Place => "place",
            Self::View => "view",
        }
    }
}

struct Args {
    instances: usize,
    services: usize,
    tasks: usize,
    strategies: Vec<&'static str>,
    apis: Vec<Api>,
    seed: u64,
}

const USAGE: &str = "usage: placement_bench [--instances N] [--services N] [--tasks N] \
     [--strategy binpack|spread|both] [--api place|view|both] [--seed N]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        instances: 5000,
        services: 1000,
        tasks: 100,
        strategies: vec!["binpack", "spread"],
        apis: vec![Api::Place],
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_string());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{}", USAGE))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--instances" => args.instances = number()? as usize,
            "--services" => args.services = number()? as usize,
            "--tasks" => args.tasks = number()? as usize,
            "--seed" => args.seed = number()?,
            "--strategy" => {
                args.strategies = match value.as_str() {
                    "binpack" => vec!["binpack"],
                    "spread" => vec!["spread"],
                    "both" => vec!["binpack", "spread"],
                    _ => return Err(format!("unknown strategy {value}\n{}", USAGE)),
                }
            }
            "--api" => {
                args.apis = match value.as_str() {
                    "place" => vec![Api::Place],
                    "view" => vec![Api::View],
                    "both" => vec![Api::Place, Api::View],
                    _ => return Err(format!("unknown api {value}\n{}", USAGE)),
                }
            }
            _ => return Err(format!("unknown flag {flag}\n{}", USAGE)),
        }
    }
    if args.instances == 0 {
        return Err("--instances must be at least 1".to_string());
    }
    Ok(args)
}

/// SplitMix64, so the workload is the same on every run and platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

fn cluster(n: usize, rng: &mut Rng) -> Vec<InstanceState> {
    (0..n)
        .map(|i| {
            let (kind, cpu, memory) = TYPES[i % TYPES.len()];
            let zone = ZONES[(i / TYPES.len()) % ZONES.len()];
            let attributes: BTreeMap<String, Option<String>> = [
                ("ecs.availability-zone", Some(zone.to_string())),
                ("ecs.instance-type", Some(kind.to_string())),
                ("ecs.os-type", Some("linux".to_string())),
                ("ecs.cpu-architecture", Some("x86_64".to_string())),
                ("ecs.ami-id", Some("ami-0abcdef1234567890".to_string())),
                ("ecs.capability.docker-remote-api.1.44", None::<String>),
                ("ecs.capability.task-eni", None),
                ("ecs.capability.execution-role-awslogs", None),
                (
                    "stack",
                    Some(rng.pick(&["prod", "prod", "staging"]).to_string()),
                ),
                ("team", Some(format!("team-{}", rng.next() % 8))),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            InstanceState {
                arn: format!(
                    "arn:aws:ecs:us-east-1:123456789012:container-instance/bench/{i:032x}"
                ),
                id: format!("{i:032x}"),
                ec2_instance_id: format!("i-{i:017x}"),
                status: InstanceStatus::Active,
                agent_connected: true,
                agent_version: "1.80.0".to_string(),
                registered_at: 1_700_000_000 + i as i64,
                registered: Resources {
                    cpu,
                    memory,
                    ports_tcp: [22, 2375, 2376, 51678, 51679].into(),
                    ports_udp: Default::default(),
                },
                attributes,
                tasks: Vec::new(),
            }
        })
        .collect()
}

fn strategies(name: &str) -> Vec<Strategy> {
    match name {
        "binpack" => vec![Strategy::Binpack(Field::Memory)],
        // ECS's default for services (spread over zones), then over
        // instances, as the console's "AZ balanced spread" template sets.
        _ => vec![
            Strategy::Spread(SpreadField::Attribute("ecs.availability-zone".to_string())),
            Strategy::Spread(SpreadField::InstanceId),
        ],
    }
}

struct Outcome {
    elapsed: Duration,
    placed: usize,
    unplaced: usize,
    /// Per service, the largest minus the smallest task count over zones.
    worst_zone_skew: usize,
}

fn run(args: &Args, strategy: &str, api: Api) -> Outcome {
    let mut rng = Rng(args.seed);
    let mut instances = cluster(args.instances, &mut rng);
    let position: HashMap<String, usize> = instances
        .iter()
        .enumerate()
        .map(|(i, s)| (s.arn.clone(), i))
        .collect();
    let requests: Vec<TaskRequest> = (0..args.services)
        .map(|s| TaskRequest {
            cpu: rng.pick(&TASK_CPU),
            memory: rng.pick(&TASK_MEMORY),
            group: format!("service:svc-{s:04}"),
            family: format!("svc-{s:04}"),
            strategies: strategies(strategy),
            ..TaskRequest::default()
        })
        .collect();
    let seeds: Vec<u64> = (0..args.services).map(|_| rng.next()).collect();

    let mut plans: Vec<Placement> = Vec::with_capacity(args.services);
    let mut elapsed = Duration::ZERO;
    match api {
        Api::Place => {
            for (req, seed) in requests.iter().zip(&seeds) {
                let started = Instant::now();
                let plan = place(req, args.tasks, &instances, *seed);
                elapsed += started.elapsed();
                let plan = plan.unwrap_or_else(|e| panic!("{}: {e}", req.group));
                apply(&mut instances, &position, req, &plan);
                plans.push(plan);
            }
        }
        Api::View => {
            // Building the view is part of the cost a reconciler pays.
            let started = Instant::now();
            let mut view = ClusterView::new(&instances);
            elapsed += started.elapsed();
            for (req, seed) in requests.iter().zip(&seeds) {
                let started = Instant::now();
                let plan = view.place(req, args.tasks, *seed);
                elapsed += started.elapsed();
                plans.push(plan.unwrap_or_else(|e| panic!("{}: {e}", req.group)));
            }
            drop(view);
            for (req, plan) in requests.iter().zip(&plans) {
                apply(&mut instances, &position, req, plan);
            }
        }
    }

    let mut worst_zone_skew = 0;
    for plan in &plans {
        let mut per_zone = [0usize; ZONES.len()];
        for (_, arn) in &plan.placed {
            let zone = &instances[position[arn]].attributes["ecs.availability-zone"];
            let z = ZONES
                .iter()
                .position(|z| Some(*z) == zone.as_deref())
                .unwrap_or(0);
            per_zone[z] += 1;
        }
        let (lo, hi) = (per_zone.iter().min(), per_zone.iter().max());
        if let (Some(lo), Some(hi)) = (lo, hi) {
            worst_zone_skew = worst_zone_skew.max(hi - lo);
        }
    }
    let cpu: (u64, u64) = usage_of(&instances, |r| r.cpu, |t| t.cpu);
    let memory: (u64, u64) = usage_of(&instances, |r| r.memory, |t| t.memory);
    let used = instances.iter().filter(|i| !i.tasks.is_empty()).count();
    println!(
        "  cluster at the end: cpu {:.1}% memory {:.1}% used, {used} of {} instances run tasks",
        percent(cpu),
        percent(memory),
        instances.len()
    );
    Outcome {
        elapsed,
        placed: plans.iter().map(|p| p.placed.len()).sum(),
        unplaced: plans.iter().map(|p| p.unplaced.len()).sum(),
        worst_zone_skew,
    }
}

fn apply(
    instances: &mut [InstanceState],
    position: &HashMap<String, usize>,
    req: &TaskRequest,
    plan: &Placement,
) {
    for (index, arn) in &plan.placed {
        instances[position[arn]].tasks.push(PlacedTask {
            arn: format!(
                "arn:aws:ecs:us-east-1:123456789012:task/bench/{}-{index}",
                req.family
            ),
            group: req.group.clone(),
            family: req.family.clone(),
            task_definition_arn: format!(
                "arn:aws:ecs:us-east-1:123456789012:task-definition/{}:1",
                req.family
            ),
            cpu: req.cpu,
            memory: req.memory,
            ports: req.host_ports.clone(),
            desired_stopped: false,
        });
    }
}

fn usage_of(
    instances: &[InstanceState],
    registered: impl Fn(&Resources) -> u32,
    task: impl Fn(&PlacedTask) -> u32,
) -> (u64, u64) {
    let total = instances
        .iter()
        .map(|i| u64::from(registered(&i.registered)))
        .sum();
    let used = instances
        .iter()
        .flat_map(|i| &i.tasks)
        .map(|t| u64::from(task(t)))
        .sum();
    (used, total)
}

fn percent((used, total): (u64, u64)) -> f64 {
    if total == 0 {
        0.0
    } else {
        100.0 * used as f64 / total as f64
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    for &api in &args.apis {
        for &strategy in &args.strategies {
            println!(
                "{strategy} via {}: {} instances, {} services x {} tasks ({} tasks)",
                api.name(),
                args.instances,
                args.services,
                args.tasks,
                args.services * args.tasks
            );
            let out = run(&args, strategy, api);
            let seconds = out.elapsed.as_secs_f64();
            let rate = if seconds > 0.0 {
                out.placed as f64 / seconds
            } else {
                0.0
            };
            println!(
                "  placed {} unplaced {} in {seconds:.3} s of placement calls ({:.1} us per call)",
                out.placed,
                out.unplaced,
                1e6 * seconds / args.services.max(1) as f64
            );
            if strategy == "spread" {
                println!(
                    "  worst zone skew within a service: {} task(s)",
                    out.worst_zone_skew
                );
            }
            println!(
                "  {rate:.0} placements/s: {:.2}x Nomad's 3,750/s, {:.2}x the 10,000/s target",
                rate / NOMAD_PER_SEC,
                rate / TARGET_PER_SEC
            );
            println!(
                "RESULT strategy={strategy} api={} instances={} services={} tasks={} placed={} \
                 unplaced={} seconds={seconds:.4} placements_per_sec={rate:.0} vs_nomad={:.3} \
                 vs_target={:.3}",
                api.name(),
                args.instances,
                args.services,
                args.tasks,
                out.placed,
                out.unplaced,
                rate / NOMAD_PER_SEC,
                rate / TARGET_PER_SEC
            );
        }
    }
    ExitCode::SUCCESS
}
