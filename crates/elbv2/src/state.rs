//! Reading and writing ELBv2's records.
//!
//! A call reads all of ELBv2's records in one range (so it sees one
//! revision: a load balancer and its listeners always agree), decides,
//! and commits its writes in one transaction that compares the
//! generation key it read. If anything under `elbv2/` was written in
//! between, the commit fails and the call runs again on fresh state; so
//! checks that span records (a port used by any listener, a priority, a
//! target group still referenced) hold at commit, and a change of several
//! records is never half applied. ELB configuration changes are rare and
//! small; one generation for all of it keeps this simple.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use dockyard_store::{Compare, KeyValue, Op, Revision, Store, Txn};

use crate::arn::{self, Kind};
use crate::error::ElbError;
use crate::model::{
    GEN_KEY, LBS, LISTENERS, ListenerRecord, LoadBalancerRecord, PREFIX, RULES, RuleRecord,
    TARGETS, TGS, TargetGroupRecord, TargetRecord, encode,
};

/// Every ELBv2 record at one store revision.
#[derive(Debug, Default, Clone)]
pub(crate) struct State {
    generation: u64,
    /// The generation key's `mod_revision` (0: not written yet).
    generation_rev: Revision,
    pub revision: Revision,
    pub lbs: BTreeMap<String, LoadBalancerRecord>,
    pub tgs: BTreeMap<String, TargetGroupRecord>,
    pub listeners: BTreeMap<String, ListenerRecord>,
    pub rules: BTreeMap<String, RuleRecord>,
    /// By store key, so a group's registrations are contiguous.
    pub targets: BTreeMap<String, TargetRecord>,
}

fn decode<T: DeserializeOwned>(kv: &KeyValue) -> Result<T, ElbError> {
    serde_json::from_slice(&kv.value).map_err(|e| ElbError::Corrupt {
        key: kv.key.clone(),
        reason: e.to_string(),
    })
}

impl State {
    pub fn load(store: &dyn Store) -> Result<State, ElbError> {
        let (kvs, revision) = store.range(PREFIX, None, 0)?;
        let mut s = State {
            revision,
            ..State::default()
        };
        for kv in &kvs {
            let id = |prefix: &str| kv.key[prefix.len()..].to_string();
            if kv.key == GEN_KEY {
                s.generation = String::from_utf8_lossy(&kv.value).parse().unwrap_or(0);
                s.generation_rev = kv.mod_revision;
            } else if kv.key.starts_with(LBS) {
                s.lbs.insert(id(LBS), decode(kv)?);
            } else if kv.key.starts_with(TGS) {
                s.tgs.insert(id(TGS), decode(kv)?);
            } else if kv.key.starts_with(LISTENERS) {
                s.listeners.insert(id(LISTENERS), decode(kv)?);
            } else if kv.key.starts_with(RULES) {
                s.rules.insert(id(RULES), decode(kv)?);
            } else if kv.key.starts_with(TARGETS) {
                s.targets.insert(kv.key.clone(), decode(kv)?);
            }
        }
        Ok(s)
    }

    pub fn lb(&self, arn: &str) -> Result<&LoadBalancerRecord, ElbError> {
        let id = arn::id_of(arn, Kind::LoadBalancer)?;
        self.lbs.get(id).filter(|r| r.arn == arn).ok_or_else(|| {
            ElbError::LoadBalancerNotFound(format!("Load balancer '{arn}' not found"))
        })
    }

    pub fn tg(&self, arn: &str) -> Result<&TargetGroupRecord, ElbError> {
        let id = arn::id_of(arn, Kind::TargetGroup)?;
        self.tgs
            .get(id)
            .filter(|r| r.arn == arn)
            .ok_or_else(|| ElbError::TargetGroupNotFound(format!("Target group '{arn}' not found")))
    }

    pub fn listener(&self, arn: &str) -> Result<&ListenerRecord, ElbError> {
        let id = arn::id_of(arn, Kind::Listener)?;
        self.listeners
            .get(id)
            .filter(|r| r.arn == arn)
            .ok_or_else(|| ElbError::ListenerNotFound(format!("Listener '{arn}' not found")))
    }

    /// A rule by ARN: one of the rule records, or a listener's default
    /// rule.
    pub fn rule(&self, arn: &str) -> Result<RuleRef<'_>, ElbError> {
        let id = arn::id_of(arn, Kind::Rule)?;
        if let Some(r) = self.rules.get(id).filter(|r| r.arn == arn) {
            return Ok(RuleRef::Custom(r));
        }
        self.listeners
            .values()
            .find(|l| l.default_rule_id == id && l.default_rule_arn() == arn)
            .map(RuleRef::Default)
            .ok_or_else(|| ElbError::RuleNotFound(format!("Rule '{arn}' not found")))
    }

    pub fn lb_of(&self, listener: &ListenerRecord) -> Result<&LoadBalancerRecord, ElbError> {
        self.lbs
            .get(&listener.lb_id)
            .ok_or_else(|| ElbError::Corrupt {
                key: crate::model::listener_key(&listener.id),
                reason: format!("its load balancer {} is missing", listener.lb_id),
            })
    }

    /// A load balancer's listeners, by port.
    pub fn listeners_of(&self, lb_id: &str) -> Vec<&ListenerRecord> {
        let mut v: Vec<_> = self
            .listeners
            .values()
            .filter(|l| l.lb_id == lb_id)
            .collect();
        v.sort_by_key(|l| l.port);
        v
    }

    /// A listener's rules (not the default), by priority.
    pub fn rules_of(&self, listener_id: &str) -> Vec<&RuleRecord> {
        let mut v: Vec<_> = self
            .rules
            .values()
            .filter(|r| r.listener_id == listener_id)
            .collect();
        v.sort_by_key(|r| r.priority);
        v
    }

    /// A target group's registrations, draining ones included.
    pub fn targets_of<'a>(&'a self, tg_id: &str) -> impl Iterator<Item = &'a TargetRecord> + 'a {
        let prefix = crate::model::targets_prefix(tg_id);
        self.targets
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(_, t)| t)
    }

    /// The load balancers whose listeners or rules forward to a target
    /// group, by ARN.
    pub fn users_of(&self, tg_arn: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for l in self.listeners.values() {
            if l.default_actions
                .iter()
                .any(|a| a.target_group_arns().any(|t| t == tg_arn))
            {
                out.insert(l.lb_arn.clone());
            }
        }
        for r in self.rules.values() {
            if r.actions
                .iter()
                .any(|a| a.target_group_arns().any(|t| t == tg_arn))
                && let Some(lb) = self.lbs.get(&r.lb_id)
            {
                out.insert(lb.arn.clone());
            }
        }
        out
    }

    /// The target groups a load balancer's listeners and rules forward to.
    pub fn groups_used_by(&self, lb_id: &str) -> BTreeSet<String> {
        let actions = self
            .listeners
            .values()
            .filter(|l| l.lb_id == lb_id)
            .flat_map(|l| l.default_actions.iter())
            .chain(
                self.rules
                    .values()
                    .filter(|r| r.lb_id == lb_id)
                    .flat_map(|r| r.actions.iter()),
            );
        actions
            .flat_map(|a| a.target_group_arns().map(str::to_string))
            .collect()
    }

    /// The deregistration delay of a target group, in seconds.
    pub fn deregistration_delay(&self, tg_id: &str) -> i64 {
        self.tgs
            .get(tg_id)
            .and_then(|t| t.attributes.get(crate::attrs::DEREGISTRATION_DELAY))
            .and_then(|v| v.parse().ok())
            .unwrap_or(300)
    }

    /// When a deregistered target stops draining.
    pub fn drain_until(&self, t: &TargetRecord) -> Option<DateTime<Utc>> {
        t.deregistered_at
            .map(|at| at + Duration::seconds(self.deregistration_delay(&t.tg_id)))
    }

    /// Whether a registration still exists at `now` (registered, or
    /// deregistered and draining).
    pub fn is_live(&self, t: &TargetRecord, now: DateTime<Utc>) -> bool {
        self.drain_until(t).is_none_or(|until| now < until)
    }
}

/// A rule as [`State::rule`] finds it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RuleRef<'a> {
    Custom(&'a RuleRecord),
    Default(&'a ListenerRecord),
}

/// The writes of one call.
#[derive(Debug, Default)]
pub(crate) struct Change {
    ops: Vec<Op>,
    touched: BTreeSet<String>,
}

impl Change {
    pub fn put(&mut self, key: String, value: &impl Serialize) {
        self.touched.insert(key.clone());
        self.ops.push(Op::Put {
            key,
            value: encode(value),
        });
    }

    pub fn delete(&mut self, key: String) {
        self.touched.insert(key.clone());
        self.ops.push(Op::Delete { key });
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

const ATTEMPTS: usize = 64;

/// Runs `f` on fresh state and commits what it returns, again until no
/// other write came in between. Registrations whose draining ended
/// before `now` are dropped in the same transaction.
pub(crate) fn write<T>(
    store: &dyn Store,
    now: DateTime<Utc>,
    mut f: impl FnMut(&State) -> Result<(Change, T), ElbError>,
) -> Result<T, ElbError> {
    for _ in 0..ATTEMPTS {
        let state = State::load(store)?;
        let (change, out) = f(&state)?;
        let mut ops: Vec<Op> = state
            .targets
            .iter()
            .filter(|(k, t)| !state.is_live(t, now) && !change.touched.contains(*k))
            .map(|(k, _)| Op::Delete { key: k.clone() })
            .collect();
        if change.is_empty() && ops.is_empty() {
            return Ok(out);
        }
        ops.extend(change.ops);
        ops.push(Op::Put {
            key: GEN_KEY.to_string(),
            value: (state.generation + 1).to_string().into_bytes(),
        });
        let r = store.txn(Txn {
            compares: vec![Compare::ModRevision(
                GEN_KEY.to_string(),
                state.generation_rev,
            )],
            success: ops,
            failure: vec![],
        })?;
        if r.succeeded {
            return Ok(out);
        }
    }
    Err(ElbError::Contention)
}
