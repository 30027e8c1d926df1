//! The placement engine, over a cluster prepared once.
//!
//! Everything a check or a strategy reads of an instance is kept as a
//! number per instance (CPU and memory left, tasks of the group, tasks of
//! the group in each attribute value) and updated as tasks are placed, so
//! one placement costs one pass over the candidates and no allocation.
//! Only the chosen instance changes when a task is placed, so it alone is
//! re-checked; the candidate list (in instance order) drops it when it can
//! take no more.

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::constraint::Constraint;
use crate::error::PlaceError;
use crate::model::{HostPort, InstanceState, InstanceStatus, TaskRequest};
use crate::query::{Added, Expression};
use crate::rng::Rng;
use crate::strategy::{Field, MAX_STRATEGIES, SpreadField, Strategy};

use super::{FailureReason, Placement, PlacementFailure};

/// A cluster prepared for placing many requests, which keeps the tasks it
/// places: a reconciler placing one service after another builds it once
/// instead of handing [`place`](crate::place) the whole cluster each time.
///
/// [`place`](Self::place) gives exactly the plan [`place`](crate::place)
/// would give on the instances with every task placed through this view so
/// far pushed onto them (live, of the request's group, holding its CPU,
/// memory and host ports). The instances themselves are not changed;
/// clone the view to try a request without keeping its tasks.
///
/// Building the view reads every task once; a call then costs one pass
/// over the instances to find the candidates and one pass over the
/// candidates per task placed, where [`place`](crate::place) also reads
/// every task of the cluster on every call.
#[derive(Debug, Clone)]
pub struct ClusterView<'a> {
    /// The registered instances, in the order given; deregistered ones take
    /// no part at all. A slot is an index here.
    instances: Vec<&'a InstanceState>,
    left: Vec<Left>,
    /// Tasks placed through the view, by slot.
    added: HashMap<usize, AddedTasks>,
    groups: Groups,
    /// Attribute values by attribute name, for `spread` on attributes;
    /// instances' attributes never change under the view.
    buckets: HashMap<String, Buckets>,
    scratch: Scratch,
}

/// What an instance has not handed out, stopping tasks' shares included
/// (so never more than it registered, and never below zero).
#[derive(Debug, Clone, Copy)]
struct Left {
    cpu: u32,
    memory: u32,
}

#[derive(Debug, Clone, Default)]
struct AddedTasks {
    /// (group id, tasks of that group).
    groups: Vec<(u32, u32)>,
    count: u64,
    ports: Vec<HostPort>,
}

/// Live tasks per group and slot, groups interned.
#[derive(Debug, Clone, Default)]
struct Groups {
    ids: HashMap<String, u32>,
    names: Vec<String>,
    /// By group id: slot to the group's live tasks there (slots without
    /// any are absent, most are for any one group).
    tasks: Vec<HashMap<usize, u32>>,
}

impl Groups {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.names.len()).expect("fewer than 2^32 task groups");
        self.ids.insert(name.to_string(), id);
        self.names.push(name.to_string());
        self.tasks.push(HashMap::new());
        id
    }
}

/// One attribute's values, numbered: a missing attribute and one without a
/// value are the same bucket, as `spread` counts them.
#[derive(Debug, Clone)]
struct Buckets {
    of_slot: Vec<u32>,
    len: usize,
}

impl Buckets {
    fn of(instances: &[&InstanceState], name: &str) -> Self {
        let mut ids: HashMap<Option<&str>, u32> = HashMap::new();
        let of_slot = instances
            .iter()
            .map(|i| {
                let value = i.attributes.get(name).and_then(|v| v.as_deref());
                let next = u32::try_from(ids.len()).expect("fewer values than instances");
                *ids.entry(value).or_insert(next)
            })
            .collect();
        Self {
            of_slot,
            len: ids.len(),
        }
    }
}

/// Buffers one call uses, kept to spare allocating them on every call.
#[derive(Debug, Clone, Default)]
struct Scratch {
    /// Live tasks of the request's group, by slot.
    group_tasks: Vec<u32>,
    /// Slots that can take the next task, in instance order.
    candidates: Vec<u32>,
    /// The candidates the strategies rank first, in instance order.
    ties: Vec<u32>,
    /// Per `spread` on an attribute: the group's tasks per value.
    totals: Vec<Vec<u64>>,
}

/// Whose live tasks a view counts per group.
#[derive(Clone, Copy)]
enum Tally<'g> {
    All,
    One(&'g str),
    /// None: for a request that reads no group's tasks.
    Nothing,
}

/// What a strategy ranks a candidate by (the least wins).
#[derive(Debug, Clone, Copy)]
enum Key {
    Cpu,
    Memory,
    GroupTasks,
    /// The group's tasks in the candidate's value of the n-th spread
    /// attribute.
    Bucket(usize),
}

/// What is left of `registered` once `used` is handed out, never below
/// zero (an instance can be over-committed by tasks it already runs).
fn left(registered: u32, used: u64) -> u32 {
    registered.saturating_sub(u32::try_from(used).unwrap_or(u32::MAX))
}

impl<'a> ClusterView<'a> {
    /// Prepares `instances` (in their order, which plans and failures
    /// follow).
    pub fn new(instances: &'a [InstanceState]) -> Self {
        Self::build(instances, Tally::All)
    }

    /// For a single request: only what it reads of the groups is counted,
    /// its own group's tasks, and not even those when no check or strategy
    /// reads them (`binpack` alone, say), since reading every task's group
    /// is most of the cost of preparing a large cluster.
    pub(super) fn for_request(instances: &'a [InstanceState], req: &TaskRequest) -> Self {
        let (keys, _) = keys(&req.strategies);
        let reads_group = Rules::new(req).distinct
            || keys
                .iter()
                .any(|k| matches!(k, Key::GroupTasks | Key::Bucket(_)));
        if reads_group {
            Self::build(instances, Tally::One(&req.effective_group()))
        } else {
            Self::build(instances, Tally::Nothing)
        }
    }

    fn build(instances: &'a [InstanceState], tally: Tally) -> Self {
        let instances: Vec<&InstanceState> = instances
            .iter()
            .filter(|i| i.status.is_registered())
            .collect();
        let mut groups = Groups::default();
        let own = match tally {
            Tally::One(name) => Some(groups.intern(name)),
            Tally::All | Tally::Nothing => None,
        };
        let left = instances
            .iter()
            .enumerate()
            .map(|(slot, instance)| {
                let (mut cpu, mut memory) = (0u64, 0u64);
                for task in &instance.tasks {
                    cpu += u64::from(task.cpu);
                    memory += u64::from(task.memory);
                    if task.desired_stopped {
                        continue;
                    }
                    let id = match (tally, own) {
                        (Tally::All, _) => groups.intern(&task.group),
                        (Tally::One(name), Some(id)) if task.group == name => id,
                        _ => continue,
                    };
                    *groups.tasks[id as usize].entry(slot).or_default() += 1;
                }
                Left {
                    cpu: left(instance.registered.cpu, cpu),
                    memory: left(instance.registered.memory, memory),
                }
            })
            .collect();
        Self {
            instances,
            left,
            added: HashMap::new(),
            groups,
            buckets: HashMap::new(),
            scratch: Scratch::default(),
        }
    }

    /// Places `count` copies of `req` as [`place`](crate::place) does (same
    /// rules, same plan for the same seed), and keeps the placed tasks in
    /// the view for the calls that follow.
    pub fn place(
        &mut self,
        req: &TaskRequest,
        count: usize,
        seed: u64,
    ) -> Result<Placement, PlaceError> {
        req.validate()?;
        if self.instances.is_empty() {
            return Err(PlaceError::NoContainerInstances);
        }
        let mut plan = Placement::default();
        if count == 0 {
            return Ok(plan);
        }
        let gid = self.groups.intern(&req.effective_group());
        let (keys, attributes) = keys(&req.strategies);
        for name in &attributes {
            if !self.buckets.contains_key(*name) {
                let buckets = Buckets::of(&self.instances, name);
                self.buckets.insert((*name).to_string(), buckets);
            }
        }
        let Self {
            instances,
            left,
            added,
            groups,
            buckets,
            scratch,
        } = self;
        let tables: Vec<&Buckets> = attributes
            .iter()
            .map(|name| buckets.get(*name).expect("prepared above"))
            .collect();
        let rules = Rules::new(req);
        let n = instances.len();

        let group_tasks = &mut scratch.group_tasks;
        group_tasks.clear();
        group_tasks.resize(n, 0);
        for (&slot, &tasks) in &groups.tasks[gid as usize] {
            group_tasks[slot] = tasks;
        }
        scratch.totals.resize_with(tables.len(), Vec::new);
        for (totals, table) in scratch.totals.iter_mut().zip(&tables) {
            totals.clear();
            totals.resize(table.len, 0);
            for (&slot, &tasks) in &groups.tasks[gid as usize] {
                totals[table.of_slot[slot] as usize] += u64::from(tasks);
            }
        }
        // The state a check reads is passed in, as the loop changes it.
        let refusal = |slot: usize,
                       left: &[Left],
                       added: &HashMap<usize, AddedTasks>,
                       group_tasks: &[u32]| {
            rules.refusal(
                instances[slot],
                left[slot],
                added.get(&slot),
                group_tasks[slot],
                &groups.names,
            )
        };
        let candidates = &mut scratch.candidates;
        candidates.clear();
        candidates.extend(
            (0..n)
                .filter(|&slot| refusal(slot, left, added, group_tasks).is_none())
                .map(|slot| slot as u32),
        );

        let mut rng = Rng::new(seed);
        for index in 0..count {
            if candidates.is_empty() {
                plan.unplaced = (index..count).collect();
                plan.failures = (0..n)
                    .filter_map(|slot| {
                        refusal(slot, left, added, group_tasks).map(|reason| PlacementFailure {
                            arn: instances[slot].arn.clone(),
                            reason,
                        })
                    })
                    .collect();
                break;
            }
            let ranks = Ranks {
                left,
                group_tasks,
                tables: &tables,
                totals: &scratch.totals,
            };
            let chosen = ranks.choose(&keys, candidates, &mut scratch.ties, &mut rng) as usize;

            let at = &mut left[chosen];
            at.cpu = at.cpu.saturating_sub(req.cpu);
            at.memory = at.memory.saturating_sub(req.memory);
            group_tasks[chosen] += 1;
            for (totals, table) in scratch.totals.iter_mut().zip(&tables) {
                totals[table.of_slot[chosen] as usize] += 1;
            }
            *groups.tasks[gid as usize].entry(chosen).or_default() += 1;
            let here = added.entry(chosen).or_default();
            here.count += 1;
            match here.groups.iter_mut().find(|(g, _)| *g == gid) {
                Some((_, tasks)) => *tasks += 1,
                None => here.groups.push((gid, 1)),
            }
            here.ports.extend_from_slice(&req.host_ports);
            plan.placed.push((index, instances[chosen].arn.clone()));

            if refusal(chosen, left, added, group_tasks).is_some()
                && let Ok(at) = candidates.binary_search(&(chosen as u32))
            {
                candidates.remove(at);
            }
        }
        Ok(plan)
    }
}

/// The strategies as keys, up to the first `random` (which ends the
/// chain), and the attributes the `spread`s among them read.
fn keys(strategies: &[Strategy]) -> (Vec<Key>, Vec<&str>) {
    let mut keys = Vec::with_capacity(MAX_STRATEGIES);
    let mut attributes: Vec<&str> = Vec::new();
    for strategy in strategies {
        keys.push(match strategy {
            Strategy::Binpack(Field::Cpu) => Key::Cpu,
            Strategy::Binpack(Field::Memory) => Key::Memory,
            Strategy::Spread(SpreadField::InstanceId | SpreadField::Host) => Key::GroupTasks,
            Strategy::Spread(SpreadField::Attribute(name)) => {
                let at = match attributes.iter().position(|a| a == name) {
                    Some(at) => at,
                    None => {
                        attributes.push(name);
                        attributes.len() - 1
                    }
                };
                Key::Bucket(at)
            }
            Strategy::Random => break,
        });
    }
    (keys, attributes)
}

struct Rules<'r> {
    req: &'r TaskRequest,
    distinct: bool,
    member_of: Vec<&'r Expression>,
}

impl<'r> Rules<'r> {
    fn new(req: &'r TaskRequest) -> Self {
        Self {
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
        }
    }

    /// The first check the instance fails, in the documented order.
    fn refusal(
        &self,
        instance: &InstanceState,
        left: Left,
        added: Option<&AddedTasks>,
        group_tasks: u32,
        group_names: &[String],
    ) -> Option<FailureReason> {
        let req = self.req;
        if instance.status != InstanceStatus::Active {
            return Some(FailureReason::Status(instance.status));
        }
        if !instance.agent_connected {
            return Some(FailureReason::Agent);
        }
        if !req
            .required_attributes
            .iter()
            .all(|a| a.is_met_by(instance))
        {
            return Some(FailureReason::Attribute);
        }
        if left.cpu < req.cpu {
            return Some(FailureReason::Cpu);
        }
        if left.memory < req.memory {
            return Some(FailureReason::Memory);
        }
        let taken = req
            .host_ports
            .iter()
            .filter(|p| instance.port_taken(**p) || added.is_some_and(|a| a.ports.contains(p)));
        if let Some(reason) = FailureReason::for_taken_ports(taken) {
            return Some(reason);
        }
        if self.distinct && group_tasks > 0 {
            return Some(FailureReason::DistinctInstance);
        }
        if !self.member_of.is_empty() {
            let names: Vec<&str> = added
                .map(|a| {
                    a.groups
                        .iter()
                        .map(|(g, _)| group_names[*g as usize].as_str())
                        .collect()
                })
                .unwrap_or_default();
            let tasks = Added {
                groups: &names,
                count: added.map_or(0, |a| a.count),
            };
            if !self
                .member_of
                .iter()
                .all(|e| e.matches_with(instance, &tasks))
            {
                return Some(FailureReason::MemberOf);
            }
        }
        None
    }
}

/// What the keys read, as the call stands.
struct Ranks<'r> {
    left: &'r [Left],
    group_tasks: &'r [u32],
    tables: &'r [&'r Buckets],
    totals: &'r [Vec<u64>],
}

impl Ranks<'_> {
    fn key(&self, key: Key, slot: usize) -> u64 {
        match key {
            Key::Cpu => u64::from(self.left[slot].cpu),
            Key::Memory => u64::from(self.left[slot].memory),
            Key::GroupTasks => u64::from(self.group_tasks[slot]),
            Key::Bucket(at) => self.totals[at][self.tables[at].of_slot[slot] as usize],
        }
    }

    /// The candidate to take the next task: the strategies narrow in
    /// order, each keeping the candidates least by its key (that is, the
    /// least by all keys in turn), and a seeded pick breaks the last tie.
    fn choose(&self, keys: &[Key], candidates: &[u32], ties: &mut Vec<u32>, rng: &mut Rng) -> u32 {
        let ties: &[u32] = match keys.len() {
            0 => candidates,
            1 => self.least::<1>(keys, candidates, ties),
            2 => self.least::<2>(keys, candidates, ties),
            3 => self.least::<3>(keys, candidates, ties),
            4 => self.least::<4>(keys, candidates, ties),
            _ => self.least::<MAX_STRATEGIES>(keys, candidates, ties),
        };
        if ties.len() == 1 {
            ties[0]
        } else {
            ties[rng.below(ties.len())]
        }
    }

    /// The candidates whose keys are least (compared in order), in
    /// candidate order. One pass; a candidate's later keys are only read
    /// while its earlier ones tie with the best.
    fn least<'t, const K: usize>(
        &self,
        keys: &[Key],
        candidates: &[u32],
        ties: &'t mut Vec<u32>,
    ) -> &'t [u32] {
        let keys: [Key; K] = std::array::from_fn(|i| keys[i]);
        let mut best = [u64::MAX; K];
        ties.clear();
        'candidates: for &slot in candidates {
            let mut order = Ordering::Equal;
            let mut key = [0u64; K];
            for i in 0..K {
                key[i] = self.key(keys[i], slot as usize);
                if order == Ordering::Equal {
                    order = key[i].cmp(&best[i]);
                    if order == Ordering::Greater {
                        continue 'candidates;
                    }
                }
            }
            if order == Ordering::Less {
                best = key;
                ties.clear();
            }
            ties.push(slot);
        }
        ties
    }
}
