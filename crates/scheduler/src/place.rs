//! Choosing instances for the tasks of one request.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use crate::constraint::Constraint;
use crate::error::PlaceError;
use crate::model::{InstanceState, InstanceStatus, PlacedTask, TaskRequest};
use crate::query::Expression;
use crate::rng::Rng;
use crate::strategy::{Field, SpreadField, Strategy};

#[cfg(test)]
mod examples;
#[cfg(test)]
mod properties;

/// Why an instance could not take a task, spelled as `RunTask`'s
/// `failures[].reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// The instance is registered but not `ACTIVE`; the reason is its
    /// status (`DRAINING`...). ECS documents no reason for this case.
    Status(InstanceStatus),
    /// `AGENT`: the agent is disconnected.
    Agent,
    /// `ATTRIBUTE`: an attribute the task definition requires is missing.
    Attribute,
    /// `RESOURCE:CPU`.
    Cpu,
    /// `RESOURCE:MEMORY`.
    Memory,
    /// `RESOURCE:PORTS`: a fixed host port is reserved or taken.
    Ports,
    /// A task of the group already runs there.
    DistinctInstance,
    /// A `memberOf` expression does not select the instance.
    MemberOf,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Status(status) => status.as_str(),
            Self::Agent => "AGENT",
            Self::Attribute => "ATTRIBUTE",
            Self::Cpu => "RESOURCE:CPU",
            Self::Memory => "RESOURCE:MEMORY",
            Self::Ports => "RESOURCE:PORTS",
            Self::DistinctInstance => "DistinctInstance placement constraint unsatisfied.",
            Self::MemberOf => "MemberOf placement constraint unsatisfied.",
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of `RunTask`'s `failures`: `{arn, reason}` (ECS sets no
/// `detail` for placement failures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementFailure {
    /// The container instance's ARN.
    pub arn: String,
    pub reason: FailureReason,
}

/// The plan for one request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Placement {
    /// (task index in `0..count`, container instance ARN), in task order.
    pub placed: Vec<(usize, String)>,
    /// Indices of the tasks that fit nowhere (always the last ones: once a
    /// task fits nowhere, neither does any identical task after it).
    pub unplaced: Vec<usize>,
    /// Empty when every task was placed; otherwise why each registered
    /// instance refused the first unplaced task, one entry per instance, in
    /// the order the instances were given.
    pub failures: Vec<PlacementFailure>,
}

/// Places `count` copies of `req` on `instances`, each placed task taking
/// its share of the instance before the next is placed. Pure: the same
/// arguments always give the same plan, and `seed` drives every random
/// choice.
///
/// An instance is a candidate when it is `ACTIVE`, its agent is connected,
/// it has every required attribute, enough CPU, memory and free host ports,
/// and it satisfies every constraint (the task definition's and the
/// request's); instances are checked in that order and a refusal names
/// the first check that failed. The strategies then narrow the candidates
/// in order (see [`Strategy`]); an empty list is `RunTask`'s default,
/// random placement. Ties left after the last strategy are broken at
/// random.
///
/// Fails with [`PlaceError::NoContainerInstances`] when no instance is
/// registered (all are `INACTIVE`, or there are none), and with
/// [`PlaceError::Invalid`] when the request breaks ECS's limits.
pub fn place(
    req: &TaskRequest,
    count: usize,
    instances: &[InstanceState],
    seed: u64,
) -> Result<Placement, PlaceError> {
    req.validate()?;
    if !instances.iter().any(|i| i.status.is_registered()) {
        return Err(PlaceError::NoContainerInstances);
    }
    let group = req.effective_group();
    let rules = Rules {
        req,
        distinct: req
            .constraints
            .iter()
            .any(|c| matches!(c, Constraint::DistinctInstance)),
        member_of: req
            .task_definition_constraints
            .iter()
            .chain(&req.constraints)
            .filter_map(|c| match c {
                Constraint::MemberOf(e) => Some(e),
                Constraint::DistinctInstance => None,
            })
            .collect(),
    };
    let random = [Strategy::Random];
    let strategies = if req.strategies.is_empty() {
        &random[..]
    } else {
        &req.strategies[..]
    };
    // The instance itself must change with each placement only when
    // something reads it back: fixed ports, or `memberOf` expressions
    // (`runningTasksCount`, `task:group`). CPU, memory and the group's
    // count are kept as counters, so a placement costs one pass.
    let track_state = !req.host_ports.is_empty() || !rules.member_of.is_empty();
    // Deregistered instances take no part at all, not even as failures.
    let mut slots: Vec<Slot> = instances
        .iter()
        .filter(|i| i.status.is_registered())
        .map(|i| {
            // One pass over the instance's tasks for all three counts.
            let (mut cpu, mut memory, mut group_tasks) = (0u64, 0u64, 0usize);
            for t in &i.tasks {
                cpu += u64::from(t.cpu);
                memory += u64::from(t.memory);
                if !t.desired_stopped && t.group == group {
                    group_tasks += 1;
                }
            }
            Slot {
                group_tasks,
                remaining_cpu: u64::from(i.registered.cpu).saturating_sub(cpu),
                remaining_memory: u64::from(i.registered.memory).saturating_sub(memory),
                state: Cow::Borrowed(i),
            }
        })
        .collect();
    // Spread over an attribute: each slot's value as a number, and the
    // group's tasks per value, kept as tasks are placed.
    let spreads: Vec<Buckets> = strategies
        .iter()
        .filter_map(|s| match s {
            Strategy::Spread(SpreadField::Attribute(name)) => Some(Buckets::new(name, &slots)),
            _ => None,
        })
        .collect();
    let mut spreads = spreads;
    let mut rng = Rng::new(seed);
    let mut plan = Placement::default();
    let mut candidates = Vec::with_capacity(slots.len());

    for index in 0..count {
        // The candidates, already narrowed by the first strategy: one pass.
        candidates.clear();
        let mut least = u64::MAX;
        for i in 0..slots.len() {
            if rules.refusal(&slots[i]).is_some() {
                continue;
            }
            let k = key(&strategies[0], i, &slots, &spreads);
            if k < least {
                least = k;
                candidates.clear();
            }
            if k == least {
                candidates.push(i);
            }
        }
        if candidates.is_empty() {
            plan.unplaced = (index..count).collect();
            plan.failures = slots
                .iter()
                .filter_map(|slot| {
                    rules.refusal(slot).map(|reason| PlacementFailure {
                        arn: slot.state.arn.clone(),
                        reason,
                    })
                })
                .collect();
            break;
        }
        // `random` ends the chain wherever it stands.
        let rest = if matches!(strategies[0], Strategy::Random) {
            &[][..]
        } else {
            &strategies[1..]
        };
        let chosen = choose(&mut candidates, rest, &slots, &spreads, &mut rng);
        let slot = &mut slots[chosen];
        if track_state {
            slot.state.to_mut().tasks.push(PlacedTask {
                arn: String::new(),
                group: group.clone(),
                family: req.family.clone(),
                task_definition_arn: String::new(),
                cpu: req.cpu,
                memory: req.memory,
                ports: req.host_ports.clone(),
                desired_stopped: false,
            });
        }
        slot.remaining_cpu = slot.remaining_cpu.saturating_sub(u64::from(req.cpu));
        slot.remaining_memory = slot.remaining_memory.saturating_sub(u64::from(req.memory));
        slot.group_tasks += 1;
        for b in &mut spreads {
            b.totals[b.of_slot[chosen]] += 1;
        }
        plan.placed.push((index, slot.state.arn.clone()));
    }
    Ok(plan)
}

/// An instance as this call has changed it so far.
struct Slot<'a> {
    state: Cow<'a, InstanceState>,
    /// Live tasks of the request's group, including those placed here by
    /// this call.
    group_tasks: usize,
    remaining_cpu: u64,
    remaining_memory: u64,
}

/// The values of one attribute over the slots: `of_slot[i]` numbers slot
/// i's value (instances without it share one number), `totals[v]` counts
/// the group's tasks on every registered instance with value `v`,
/// candidate or not: spreading is about where the group already runs.
struct Buckets {
    name: String,
    of_slot: Vec<usize>,
    totals: Vec<usize>,
}

impl Buckets {
    fn new(name: &str, slots: &[Slot]) -> Self {
        let mut numbers: BTreeMap<Option<&str>, usize> = BTreeMap::new();
        let mut of_slot = Vec::with_capacity(slots.len());
        for slot in slots {
            let value = slot.state.attributes.get(name).and_then(|v| v.as_deref());
            let next = numbers.len();
            of_slot.push(*numbers.entry(value).or_insert(next));
        }
        let mut totals = vec![0; numbers.len()];
        for (i, slot) in slots.iter().enumerate() {
            totals[of_slot[i]] += slot.group_tasks;
        }
        Self {
            name: name.to_string(),
            of_slot,
            totals,
        }
    }
}

struct Rules<'a> {
    req: &'a TaskRequest,
    distinct: bool,
    member_of: Vec<&'a Expression>,
}

impl Rules<'_> {
    fn refusal(&self, slot: &Slot) -> Option<FailureReason> {
        let state = &*slot.state;
        let req = self.req;
        if state.status != InstanceStatus::Active {
            return Some(FailureReason::Status(state.status));
        }
        if !state.agent_connected {
            return Some(FailureReason::Agent);
        }
        if !req.required_attributes.iter().all(|a| a.is_met_by(state)) {
            return Some(FailureReason::Attribute);
        }
        if slot.remaining_cpu < u64::from(req.cpu) {
            return Some(FailureReason::Cpu);
        }
        if slot.remaining_memory < u64::from(req.memory) {
            return Some(FailureReason::Memory);
        }
        if req.host_ports.iter().any(|p| state.port_taken(*p)) {
            return Some(FailureReason::Ports);
        }
        if self.distinct && slot.group_tasks > 0 {
            return Some(FailureReason::DistinctInstance);
        }
        if !self.member_of.iter().all(|e| e.matches(state)) {
            return Some(FailureReason::MemberOf);
        }
        None
    }
}

/// What a strategy minimises for slot `i` (`random` ranks all alike).
fn key(strategy: &Strategy, i: usize, slots: &[Slot], spreads: &[Buckets]) -> u64 {
    match strategy {
        Strategy::Binpack(Field::Cpu) => slots[i].remaining_cpu,
        Strategy::Binpack(Field::Memory) => slots[i].remaining_memory,
        Strategy::Spread(SpreadField::InstanceId | SpreadField::Host) => {
            slots[i].group_tasks as u64
        }
        Strategy::Spread(SpreadField::Attribute(name)) => spreads
            .iter()
            .find(|b| &b.name == name)
            .map_or(0, |b| b.totals[b.of_slot[i]] as u64),
        Strategy::Random => 0,
    }
}

/// Narrows `set` (indices into `slots`, never empty, already narrowed by
/// the first strategy) by the remaining strategies in order, then picks
/// one of what is left at random.
fn choose(
    set: &mut Vec<usize>,
    rest: &[Strategy],
    slots: &[Slot],
    spreads: &[Buckets],
    rng: &mut Rng,
) -> usize {
    for strategy in rest {
        if set.len() == 1 || matches!(strategy, Strategy::Random) {
            break;
        }
        keep_least(set, |i| key(strategy, i, slots, spreads));
    }
    if set.len() == 1 {
        set[0]
    } else {
        set[rng.below(set.len())]
    }
}

/// Keeps the members of `set` with the least `key`, in one pass.
fn keep_least<K: Ord + Copy>(set: &mut Vec<usize>, key: impl Fn(usize) -> K) {
    let mut least: Option<K> = None;
    let mut kept = 0;
    for n in 0..set.len() {
        let i = set[n];
        let k = key(i);
        match least {
            Some(l) if k > l => continue,
            Some(l) if k == l => {}
            _ => {
                least = Some(k);
                kept = 0;
            }
        }
        set[kept] = i;
        kept += 1;
    }
    set.truncate(kept);
}
