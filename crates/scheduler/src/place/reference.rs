//! The placement rules written plainly, as `place` was before it was made
//! fast: every placement re-checks every instance from its task list and
//! recomputes every strategy's measure. Tests hold the fast engine to it,
//! plan for plan.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::{FailureReason, Placement, PlacementFailure};
use crate::constraint::Constraint;
use crate::error::PlaceError;
use crate::model::{InstanceState, InstanceStatus, PlacedTask, TaskRequest};
use crate::query::Expression;
use crate::rng::Rng;
use crate::strategy::{Field, SpreadField, Strategy};

/// `place` as it was: the rules in the crate documentation, followed
/// literally.
pub(super) fn place(
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
    // Deregistered instances take no part at all, not even as failures.
    let mut slots: Vec<Slot> = instances
        .iter()
        .filter(|i| i.status.is_registered())
        .map(|i| Slot {
            group_tasks: i.live_tasks().filter(|t| t.group == group).count(),
            state: Cow::Borrowed(i),
        })
        .collect();
    let mut rng = Rng::new(seed);
    let mut plan = Placement::default();

    for index in 0..count {
        let mut candidates = Vec::new();
        let mut refusals = Vec::new();
        for (i, slot) in slots.iter().enumerate() {
            match rules.refusal(slot) {
                None => candidates.push(i),
                Some(reason) => refusals.push(PlacementFailure {
                    arn: slot.state.arn.clone(),
                    reason,
                }),
            }
        }
        if candidates.is_empty() {
            plan.unplaced = (index..count).collect();
            plan.failures = refusals;
            break;
        }
        let chosen = choose(candidates, strategies, &slots, &mut rng);
        let slot = &mut slots[chosen];
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
        slot.group_tasks += 1;
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
        if state.remaining_cpu() < u64::from(req.cpu) {
            return Some(FailureReason::Cpu);
        }
        if state.remaining_memory() < u64::from(req.memory) {
            return Some(FailureReason::Memory);
        }
        let taken = req.host_ports.iter().filter(|p| state.port_taken(**p));
        if let Some(reason) = FailureReason::for_taken_ports(taken) {
            return Some(reason);
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

/// Narrows `candidates` (indices into `slots`, never empty) strategy by
/// strategy, then picks one of what is left at random.
fn choose(mut set: Vec<usize>, strategies: &[Strategy], slots: &[Slot], rng: &mut Rng) -> usize {
    for strategy in strategies {
        if set.len() == 1 {
            break;
        }
        match strategy {
            Strategy::Binpack(field) => {
                let remaining = |i: &usize| match field {
                    Field::Cpu => slots[*i].state.remaining_cpu(),
                    Field::Memory => slots[*i].state.remaining_memory(),
                };
                keep_least(&mut set, remaining);
            }
            Strategy::Spread(SpreadField::InstanceId | SpreadField::Host) => {
                keep_least(&mut set, |i| slots[*i].group_tasks);
            }
            Strategy::Spread(SpreadField::Attribute(name)) => {
                let bucket = |slot: &Slot| -> Option<String> {
                    slot.state.attributes.get(name).cloned().flatten()
                };
                // Tasks on every registered instance count, candidates or
                // not: spreading is about where the group already runs.
                let mut totals: BTreeMap<Option<String>, usize> = BTreeMap::new();
                for slot in slots {
                    *totals.entry(bucket(slot)).or_default() += slot.group_tasks;
                }
                keep_least(&mut set, |i| {
                    totals.get(&bucket(&slots[*i])).copied().unwrap_or(0)
                });
            }
            Strategy::Random => break,
        }
    }
    if set.len() == 1 {
        set[0]
    } else {
        set[rng.below(set.len())]
    }
}

fn keep_least<K: Ord>(set: &mut Vec<usize>, key: impl Fn(&usize) -> K) {
    if let Some(least) = set.iter().map(&key).min() {
        set.retain(|i| key(i) == least);
    }
}
