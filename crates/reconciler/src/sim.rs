//! A deterministic simulator: a seeded cluster of fake agents, a fake
//! clock and an in-memory state, driving the real reconciler and the real
//! placement through crashes, node loss, scale changes and deployments,
//! and checking the invariants after every step. A failure names its
//! seed; `DOCKYARD_SIM_SEED=N cargo test -p dockyard-reconciler sim`
//! replays it alone.

use std::collections::BTreeMap;

use dockyard_scheduler::{InstanceState, PlacedTask, Resources, Strategy, TaskRequest, place};

use crate::*;

/// SplitMix64, as the scheduler uses: seeded and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

struct Node {
    arn: String,
    az: String,
    up: bool,
}

struct SimTask {
    view: TaskView,
    service: usize,
    cpu: u32,
    memory: u32,
}

struct SimService {
    svc: Service,
    /// Task definitions whose containers exit at once.
    bad: Vec<String>,
    /// Its tasks not yet STOPPED at the last check of its bounds.
    last_present: u32,
}

const CPU: u32 = 1024;
const MEMORY: u32 = 2048;
const TASK_CPU: u32 = 256;
const TASK_MEMORY: u32 = 512;

struct Sim {
    seed: u64,
    rng: Rng,
    now: i64,
    nodes: Vec<Node>,
    services: Vec<SimService>,
    tasks: Vec<SimTask>,
    next_id: u64,
    /// Whether random failures happen (off in the quiet phase).
    chaos: bool,
}

impl Sim {
    fn new(seed: u64) -> Self {
        let mut rng = Rng(seed);
        let n_nodes = 3 + rng.below(4) as usize;
        let nodes = (0..n_nodes)
            .map(|i| Node {
                arn: format!("arn:aws:ecs:r:1:container-instance/c/n{i}"),
                az: format!("az-{}", i % 3),
                up: true,
            })
            .collect();
        let n_services = 1 + rng.below(3) as usize;
        let services = (0..n_services)
            .map(|i| {
                let daemon = rng.chance(20);
                // Only settings under which a deployment can always make
                // progress: with a desired count of 1, 50% rounds up to 1
                // and 150% down to 1, and ECS is stuck as well.
                let (min, max) = if daemon {
                    ([0, 50][rng.below(2) as usize], 100)
                } else {
                    [(0, 100), (0, 150), (0, 200), (50, 200), (100, 200)][rng.below(5) as usize]
                };
                let health = rng.chance(50);
                SimService {
                    svc: Service {
                        name: format!("s{i}"),
                        scheduling: if daemon {
                            Scheduling::Daemon
                        } else {
                            Scheduling::Replica
                        },
                        desired_count: if daemon { 0 } else { 1 + rng.below(4) as u32 },
                        minimum_healthy_percent: min,
                        maximum_percent: max,
                        circuit_breaker: CircuitBreaker {
                            enable: rng.chance(70),
                            rollback: rng.chance(70),
                        },
                        health_check_grace_ms: if rng.chance(50) { 0 } else { 3000 },
                        deployments: vec![Deployment::new(
                            &format!("ecs-svc/{i}-0"),
                            "td:0",
                            health,
                            0,
                        )],
                        launch_failures: 0,
                        launch_after_ms: 0,
                        last_launch_failure_ms: 0,
                        steady: false,
                    },
                    bad: Vec::new(),
                    last_present: 0,
                }
            })
            .collect();
        Self {
            seed,
            rng,
            now: 0,
            nodes,
            services,
            tasks: Vec::new(),
            next_id: 0,
            chaos: true,
        }
    }

    fn fail(&self, what: String) -> ! {
        panic!("simulation seed {} at {} ms: {what}", self.seed, self.now);
    }

    /// The fake agents: tasks move through their lives.
    fn agents(&mut self) {
        for i in 0..self.tasks.len() {
            let bad = {
                let t = &self.tasks[i];
                let dep = &t.view.deployment;
                let svc = &self.services[t.service];
                svc.svc
                    .deployments
                    .iter()
                    .find(|d| &d.id == dep)
                    .is_some_and(|d| svc.bad.contains(&d.task_definition))
            };
            let health_checked = {
                let t = &self.tasks[i];
                self.services[t.service]
                    .svc
                    .deployments
                    .iter()
                    .find(|d| d.id == t.view.deployment)
                    .is_some_and(|d| d.health_checked)
            };
            let roll = self.rng.below(100);
            let now = self.now;
            let t = &mut self.tasks[i].view;
            match t.phase {
                Phase::Stopped => {}
                _ if t.desired_stopped => {
                    if roll < 60 {
                        t.phase = Phase::Stopped;
                        t.cause = StopCause::Requested;
                    } else if t.phase != Phase::Stopping {
                        t.phase = Phase::Stopping;
                    }
                }
                Phase::Pending if bad && roll < 50 => {
                    t.phase = Phase::Stopped;
                    t.cause = StopCause::Failed;
                    t.stopped_reason = "Essential container in task exited".into();
                }
                Phase::Pending if roll < 60 => {
                    t.phase = Phase::Running;
                    t.started_ms = Some(now);
                }
                Phase::Running if bad => {
                    t.phase = Phase::Stopped;
                    t.cause = StopCause::Failed;
                    t.stopped_reason = "Essential container in task exited".into();
                }
                Phase::Running if health_checked && t.health == Health::Unknown && roll < 50 => {
                    t.health = Health::Healthy;
                }
                _ => {}
            }
        }
    }

    fn chaos(&mut self) {
        if !self.chaos {
            return;
        }
        // A running task crashes.
        if self.rng.chance(8) {
            let live: Vec<usize> = (0..self.tasks.len())
                .filter(|i| self.tasks[*i].view.phase == Phase::Running)
                .collect();
            if !live.is_empty() {
                let i = live[self.rng.below(live.len() as u64) as usize];
                let t = &mut self.tasks[i].view;
                if self.rng.chance(50) {
                    t.phase = Phase::Stopped;
                    t.cause = StopCause::Failed;
                    t.stopped_reason = "Essential container in task exited".into();
                } else {
                    t.health = Health::Unhealthy;
                }
            }
        }
        // A node is lost (its agent stops answering); its tasks are
        // stopped as lost, and it may come back later.
        if self.rng.chance(3) {
            let i = self.rng.below(self.nodes.len() as u64) as usize;
            if self.nodes[i].up && self.nodes.iter().filter(|n| n.up).count() > 1 {
                self.nodes[i].up = false;
                let arn = self.nodes[i].arn.clone();
                for t in &mut self.tasks {
                    if t.view.present() && t.view.instance.as_deref() == Some(arn.as_str()) {
                        t.view.phase = Phase::Stopped;
                        t.view.cause = StopCause::Failed;
                        t.view.stopped_reason = "Container instance agent disconnected".into();
                    }
                }
            }
        }
        if self.rng.chance(5) {
            let i = self.rng.below(self.nodes.len() as u64) as usize;
            self.nodes[i].up = true;
        }
        // Scale changes and deployments.
        for s in 0..self.services.len() {
            if self.services[s].svc.scheduling == Scheduling::Replica && self.rng.chance(3) {
                self.services[s].svc.desired_count = self.rng.below(6) as u32;
            }
            if self.rng.chance(3) {
                let bad = self.rng.chance(25);
                self.new_deployment(s, bad);
            }
        }
    }

    fn new_deployment(&mut self, s: usize, bad: bool) {
        self.next_id += 1;
        let id = format!("ecs-svc/{s}-{}", self.next_id);
        let td = format!("td:{}", self.next_id);
        let health = self.rng.chance(50);
        let svc = &mut self.services[s];
        if bad {
            svc.bad.push(td.clone());
        }
        deploy(&mut svc.svc, &id, &td, health, self.now);
    }

    fn instance_states(&self) -> Vec<InstanceState> {
        self.nodes
            .iter()
            .filter(|n| n.up)
            .map(|n| InstanceState {
                arn: n.arn.clone(),
                id: n.arn.rsplit('/').next().unwrap_or_default().into(),
                agent_connected: true,
                registered: Resources {
                    cpu: CPU,
                    memory: MEMORY,
                    ..Resources::default()
                },
                attributes: [("ecs.availability-zone".to_string(), Some(n.az.clone()))].into(),
                tasks: self
                    .tasks
                    .iter()
                    .filter(|t| t.view.present() && t.view.instance.as_deref() == Some(&n.arn))
                    .map(|t| PlacedTask {
                        arn: t.view.arn.clone(),
                        group: format!("service:{}", self.services[t.service].svc.name),
                        family: "f".into(),
                        cpu: t.cpu,
                        memory: t.memory,
                        desired_stopped: t.view.desired_stopped,
                        ..PlacedTask::default()
                    })
                    .collect(),
                ..InstanceState::default()
            })
            .collect()
    }

    fn views(&self, s: usize) -> Vec<TaskView> {
        self.tasks
            .iter()
            .filter(|t| t.service == s)
            .map(|t| t.view.clone())
            .collect()
    }

    fn healthy_count(&self, s: usize) -> u32 {
        let svc = &self.services[s].svc;
        self.tasks
            .iter()
            .filter(|t| t.service == s)
            .filter(|t| {
                let hc = svc
                    .deployments
                    .iter()
                    .find(|d| d.id == t.view.deployment)
                    .is_some_and(|d| d.health_checked);
                t.view.healthy(hc)
            })
            .count() as u32
    }

    fn present_count(&self, s: usize) -> u32 {
        self.tasks
            .iter()
            .filter(|t| t.service == s && t.view.present())
            .count() as u32
    }

    fn step(&mut self) {
        self.now += 1000;
        self.agents();
        self.chaos();
        for s in 0..self.services.len() {
            let hosts: Vec<DaemonHost> = self
                .nodes
                .iter()
                .filter(|n| n.up)
                .map(|n| DaemonHost {
                    instance: n.arn.clone(),
                })
                .collect();
            let before = self.services[s].svc.clone();
            let healthy_before = self.healthy_count(s);
            let round = Round {
                now_ms: self.now,
                new_deployment_id: format!("ecs-svc/{s}-rb{}", self.now),
            };
            let plan = reconcile(&before, &self.views(s), &hosts, &round);
            let again = reconcile(&before, &self.views(s), &hosts, &round);
            if plan != again {
                self.fail(format!("service {s}: the same round gave two plans"));
            }
            self.apply(s, plan, healthy_before);
            self.check_instances();
        }
        for s in 0..self.services.len() {
            self.check_bounds(s, false);
        }
    }

    /// The maximum bound of every service, REPLICA or DAEMON, checked
    /// after every round and again at the end of every step: no more
    /// tasks than `maximumPercent` of the desired count allows (at least
    /// the desired count; a DAEMON's is its instances). A round that
    /// launched must be within the bound; otherwise only tasks already
    /// there when the bound was lowered (a scale-in, instances leaving)
    /// may be above it, and they only drain. A DAEMON never has two tasks
    /// on one instance.
    fn check_bounds(&mut self, s: usize, launched: bool) {
        let svc = &self.services[s].svc;
        let cap = max_tasks(svc.desired_count, svc.maximum_percent).max(svc.desired_count);
        let present = self.present_count(s);
        let last = self.services[s].last_present;
        if launched && present > cap {
            self.fail(format!(
                "service {s}: {present} tasks after launching, above the maximum {cap}"
            ));
        }
        if present > cap.max(last) {
            self.fail(format!(
                "service {s}: {present} tasks, above the maximum {cap} and the {last} it had"
            ));
        }
        let daemon = svc.scheduling == Scheduling::Daemon;
        self.services[s].last_present = present;
        if daemon {
            let mut per: BTreeMap<&str, u32> = BTreeMap::new();
            for t in self
                .tasks
                .iter()
                .filter(|t| t.service == s && t.view.present())
            {
                *per.entry(t.view.instance.as_deref().unwrap_or(""))
                    .or_default() += 1;
            }
            if let Some((i, n)) = per.iter().find(|(_, n)| **n > 1) {
                self.fail(format!("daemon {s}: {n} tasks on {i}"));
            }
        }
    }

    fn apply(&mut self, s: usize, plan: Plan, healthy_before: u32) {
        let svc = &plan.service;
        let floor = min_healthy(svc.desired_count, svc.minimum_healthy_percent);
        for stop in &plan.stop {
            let Some(t) = self.tasks.iter_mut().find(|t| t.view.arn == stop.task) else {
                self.fail(format!("stop of unknown task {}", stop.task));
            };
            t.view.desired_stopped = true;
        }
        for arn in &plan.account {
            if let Some(t) = self.tasks.iter_mut().find(|t| &t.view.arn == arn) {
                t.view.accounted = true;
            }
        }
        self.services[s].svc = plan.service.clone();
        // Stopping never takes a service below its minimum healthy count
        // (tasks on lost or ineligible instances aside).
        let ineligible = plan
            .stop
            .iter()
            .filter(|s| s.reason == INELIGIBLE_REASON)
            .count() as u32;
        let healthy_after = self.healthy_count(s) + ineligible;
        if healthy_after < floor.min(healthy_before) {
            self.fail(format!(
                "service {s}: {healthy_after} healthy after stops, below {floor} (was {healthy_before}); plan {:?}",
                plan.stop
            ));
        }
        let group = format!("service:{}", svc.name);
        for start in &plan.start {
            let mut states = self.instance_states();
            if let Some(i) = &start.instance {
                states.retain(|n| &n.arn == i);
            }
            if states.is_empty() {
                continue;
            }
            let req = TaskRequest {
                cpu: TASK_CPU,
                memory: TASK_MEMORY,
                group: group.clone(),
                family: "f".into(),
                strategies: Strategy::service_default(),
                ..TaskRequest::default()
            };
            let seed = self.rng.next();
            let placement = match place(&req, start.count as usize, &states, seed) {
                Ok(p) => p,
                Err(e) => self.fail(format!("placement failed: {e}")),
            };
            for (_, arn) in placement.placed {
                self.next_id += 1;
                self.tasks.push(SimTask {
                    view: TaskView {
                        arn: format!("arn:aws:ecs:r:1:task/c/t{}", self.next_id),
                        deployment: start.deployment.clone(),
                        instance: Some(arn),
                        phase: Phase::Pending,
                        desired_stopped: false,
                        health: Health::Unknown,
                        unhealthy_in: None,
                        started_ms: None,
                        cause: StopCause::Requested,
                        stopped_reason: String::new(),
                        accounted: false,
                    },
                    service: s,
                    cpu: TASK_CPU,
                    memory: TASK_MEMORY,
                });
            }
        }
        self.check_bounds(s, !plan.start.is_empty());
        // Forget what stopped long ago, as the control plane does.
        self.tasks
            .retain(|t| !(t.view.phase == Phase::Stopped && t.view.accounted));
    }

    fn check_instances(&self) {
        for n in &self.nodes {
            let (cpu, mem) = self
                .tasks
                .iter()
                .filter(|t| t.view.present() && t.view.instance.as_deref() == Some(&n.arn))
                .fold((0, 0), |(c, m), t| (c + t.cpu, m + t.memory));
            if cpu > CPU || mem > MEMORY {
                self.fail(format!("{} overcommitted: cpu {cpu}, memory {mem}", n.arn));
            }
        }
    }

    /// Whether every service runs its desired count of healthy tasks of
    /// a completed deployment, and nothing else.
    fn converged(&self) -> bool {
        (0..self.services.len()).all(|s| {
            let svc = &self.services[s].svc;
            let p = &svc.deployments[0];
            p.rollout == Rollout::Completed
                && self.present_count(s) == svc.desired_count
                && self.healthy_count(s) == svc.desired_count
        })
    }

    fn run(&mut self, chaos_steps: usize, settle_steps: usize) {
        for _ in 0..chaos_steps {
            self.step();
        }
        // Quiet: every node back, no failures, every service given a good
        // deployment; then it must converge.
        self.chaos = false;
        for n in &mut self.nodes {
            n.up = true;
        }
        for s in 0..self.services.len() {
            self.new_deployment(s, false);
            // The daemon's desired count follows the instances; a
            // replica's fits the cluster: 3+ nodes of 4 tasks each.
            if self.services[s].svc.scheduling == Scheduling::Replica {
                let d = self.services[s].svc.desired_count;
                self.services[s].svc.desired_count = d.min(3);
            }
        }
        for _ in 0..settle_steps {
            self.step();
            if self.converged() {
                return;
            }
        }
        let states: Vec<String> = self
            .services
            .iter()
            .enumerate()
            .map(|(s, svc)| {
                format!(
                    "{}: desired {} present {} healthy {} rollout {:?} delay until {} deployments {:?} tasks {:?}",
                    svc.svc.name,
                    svc.svc.desired_count,
                    self.present_count(s),
                    self.healthy_count(s),
                    svc.svc.deployments[0].rollout,
                    svc.svc.launch_after_ms,
                    svc.svc.deployments.iter().map(|d| (&d.id, d.status, d.rollout)).collect::<Vec<_>>(),
                    self.views(s)
                )
            })
            .collect();
        self.fail(format!("did not converge: {}", states.join("; ")));
    }
}

#[test]
fn simulated_clusters_keep_every_invariant_and_converge() {
    if let Ok(seed) = std::env::var("DOCKYARD_SIM_SEED") {
        let seed: u64 = seed.parse().expect("DOCKYARD_SIM_SEED is a number");
        Sim::new(seed).run(300, 2000);
        return;
    }
    for seed in 0..300 {
        Sim::new(seed).run(300, 2000);
    }
}
