//! Listener rules: CreateRule, ModifyRule, DescribeRules, DeleteRule,
//! SetRulePriorities.
//!
//! Every listener has a default rule (priority `default`, no conditions)
//! whose actions are the listener's default actions; it has no record of
//! its own, cannot be deleted or reprioritised, and ModifyRule on it
//! changes the listener's default actions. Rules are for HTTP listeners
//! (Application Load Balancers) only.

use std::collections::{BTreeMap, BTreeSet};

use dockyard_aws::CallContext;
use dockyard_aws::query::{QueryParams, XmlWriter};

use crate::ElbService;
use crate::actions;
use crate::conditions;
use crate::error::{ElbError, Quota};
use crate::input::{self, required};
use crate::listeners::own_listener;
use crate::model::{
    ListenerRecord, LoadBalancerRecord, RuleRecord, listener_key, rule_arn_of, rule_key,
};
use crate::render;
use crate::state::{Change, RuleRef, State, write};

/// Rules per Application Load Balancer, default rules not counted.
const MAX_RULES: usize = 100;
/// Sorts default rules after every numbered priority.
const DEFAULT_SORT_KEY: &str = "default";

fn no_transforms(p: &QueryParams) -> Result<(), ElbError> {
    if p.member_structs("Transforms").is_empty() {
        return Ok(());
    }
    Err(ElbError::Validation(
        "Rule transforms (host header and URL rewrites) are not supported by Dockyard".into(),
    ))
}

/// A rule of the caller's account, with its listener and load balancer.
fn own_rule<'a>(
    state: &'a State,
    ctx: &CallContext,
    arn: &str,
) -> Result<(RuleRef<'a>, &'a ListenerRecord, &'a LoadBalancerRecord), ElbError> {
    let rule = state.rule(arn)?;
    let listener = match rule {
        RuleRef::Custom(r) => {
            state
                .listeners
                .get(&r.listener_id)
                .ok_or_else(|| ElbError::Corrupt {
                    key: rule_key(&r.id),
                    reason: format!("its listener {} is missing", r.listener_id),
                })?
        }
        RuleRef::Default(l) => l,
    };
    let lb = state.lb_of(listener)?;
    if lb.account != ctx.account {
        return Err(ElbError::RuleNotFound(format!("Rule '{arn}' not found")));
    }
    Ok((rule, listener, lb))
}

/// A rule as it is rendered after a change.
enum Rendered {
    Custom(RuleRecord),
    Default(ListenerRecord),
}

fn render_rules(out: &mut XmlWriter, rules: &[Rendered]) {
    out.members("Rules", rules, |w, r| match r {
        Rendered::Custom(r) => render::rule(w, r),
        Rendered::Default(l) => render::default_rule(w, l),
    });
}

impl ElbService {
    pub(crate) fn create_rule(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ElbError> {
        let listener_arn = required(p, "ListenerArn")?;
        let priority =
            input::uint(p, "Priority", 1, 50_000)?.ok_or_else(|| ElbError::missing("priority"))?;
        let conditions = conditions::parse(p)?.ok_or_else(|| ElbError::missing("conditions"))?;
        no_transforms(p)?;
        let tags = input::tags(p, "Tags").map_err(input::duplicates_invalid)?;
        let rule = write(self.store.as_ref(), ctx.now, |state| {
            let (l, lb) = own_listener(state, ctx, listener_arn)?;
            if !l.protocol.is_http() {
                return Err(ElbError::UnsupportedProtocol(format!(
                    "Rules are supported only for HTTP and HTTPS listeners; listener \
                     '{listener_arn}' uses {}",
                    l.protocol.as_str()
                )));
            }
            let actions = actions::parse(p, "Actions", lb.kind)?
                .ok_or_else(|| ElbError::missing("actions"))?;
            if state.rules_of(&l.id).iter().any(|r| r.priority == priority) {
                return Err(ElbError::PriorityInUse(format!(
                    "Priority '{priority}' is currently in use"
                )));
            }
            if state.rules.values().filter(|r| r.lb_id == lb.id).count() >= MAX_RULES {
                return Err(ElbError::quota(
                    Quota::Rules,
                    format!(
                        "You've reached the limit of {MAX_RULES} rules for load balancer '{}'",
                        lb.arn
                    ),
                ));
            }
            actions::check_targets(state, lb, l.protocol, &actions)?;
            let id = self.ids.next_id();
            let record = RuleRecord {
                arn: rule_arn_of(&l.arn, &id),
                id: id.clone(),
                listener_id: l.id.clone(),
                lb_id: lb.id.clone(),
                priority,
                conditions: conditions.clone(),
                actions,
                created: ctx.now,
                tags: tags.clone(),
            };
            let mut change = Change::default();
            change.put(rule_key(&id), &record);
            Ok((change, record))
        })?;
        render_rules(out, &[Rendered::Custom(rule)]);
        Ok(())
    }

    pub(crate) fn modify_rule(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ElbError> {
        let arn = required(p, "RuleArn")?;
        let conditions = conditions::parse(p)?;
        no_transforms(p)?;
        let rendered = write(self.store.as_ref(), ctx.now, |state| {
            let (rule, l, lb) = own_rule(state, ctx, arn)?;
            let actions = actions::parse(p, "Actions", lb.kind)?;
            if let Some(a) = &actions {
                actions::check_targets(state, lb, l.protocol, a)?;
            }
            let mut change = Change::default();
            match rule {
                RuleRef::Custom(r) => {
                    let mut record = r.clone();
                    if let Some(c) = &conditions {
                        record.conditions = c.clone();
                    }
                    if let Some(a) = actions {
                        record.actions = a;
                    }
                    if record != *r {
                        change.put(rule_key(&r.id), &record);
                    }
                    Ok((change, Rendered::Custom(record)))
                }
                RuleRef::Default(l) => {
                    if conditions.is_some() {
                        return Err(ElbError::OperationNotPermitted(
                            "Conditions cannot be specified for the default rule of a listener"
                                .into(),
                        ));
                    }
                    let mut record = l.clone();
                    if let Some(a) = actions {
                        record.default_actions = a;
                    }
                    if record != *l {
                        change.put(listener_key(&l.id), &record);
                    }
                    Ok((change, Rendered::Default(record)))
                }
            }
        })?;
        render_rules(out, &[rendered]);
        Ok(())
    }

    pub(crate) fn describe_rules(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ElbError> {
        let listener_arn = p.get("ListenerArn");
        let arns = p.members("RuleArns");
        match (listener_arn, arns.is_empty()) {
            (None, true) => {
                return Err(ElbError::Validation(
                    "You must specify either listener rule ARNs or a listener ARN".into(),
                ));
            }
            (Some(_), false) => {
                return Err(ElbError::Validation(
                    "Listener rule ARNs and a listener ARN cannot be specified at the same time"
                        .into(),
                ));
            }
            _ => {}
        }
        let page = input::page(p)?;
        let state = State::load(self.store.as_ref())?;
        let found: Vec<RuleRef<'_>> = match listener_arn {
            Some(a) => {
                let (l, _) = own_listener(&state, ctx, a)?;
                let mut v: Vec<RuleRef<'_>> = state
                    .rules_of(&l.id)
                    .into_iter()
                    .map(RuleRef::Custom)
                    .collect();
                v.push(RuleRef::Default(l));
                v
            }
            None => arns
                .iter()
                .map(|a| {
                    own_rule(&state, ctx, a)
                        .map(|(r, _, _)| r)
                        .map_err(|e| match e {
                            ElbError::Validation(_) => e,
                            _ => ElbError::RuleNotFound("One or more rules not found".into()),
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        let key = |r: &RuleRef<'_>| match r {
            RuleRef::Custom(r) => format!("{:05}/{}", r.priority, r.arn),
            RuleRef::Default(l) => format!("{DEFAULT_SORT_KEY}/{}", l.default_rule_arn()),
        };
        let mut found = found;
        found.sort_by_key(key);
        found.dedup_by(|a, b| key(a) == key(b));
        let (items, next) = page.apply(found, key);
        out.members("Rules", items, |w, r| match r {
            RuleRef::Custom(r) => render::rule(w, r),
            RuleRef::Default(l) => render::default_rule(w, l),
        });
        out.opt_element("NextMarker", next.as_deref());
        Ok(())
    }

    pub(crate) fn delete_rule(&self, ctx: &CallContext, p: &QueryParams) -> Result<(), ElbError> {
        let arn = required(p, "RuleArn")?;
        write(self.store.as_ref(), ctx.now, |state| {
            let (rule, _, _) = own_rule(state, ctx, arn)?;
            let RuleRef::Custom(r) = rule else {
                return Err(ElbError::OperationNotPermitted(format!(
                    "Default rule '{arn}' cannot be deleted"
                )));
            };
            let mut change = Change::default();
            change.delete(rule_key(&r.id));
            Ok((change, ()))
        })
    }

    pub(crate) fn set_rule_priorities(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ElbError> {
        let items = p.member_structs("RulePriorities");
        if items.is_empty() {
            return Err(ElbError::missing("rulePriorities"));
        }
        let mut asked: Vec<(String, u32)> = Vec::new();
        for (i, it) in items.iter().enumerate() {
            let at = format!("rulePriorities.{}.member", i + 1);
            let arn = it
                .get("RuleArn")
                .ok_or_else(|| ElbError::missing(&format!("{at}.ruleArn")))?;
            let priority = input::uint(it, "Priority", 1, 50_000)
                .map_err(|e| match e {
                    ElbError::Validation(m) => {
                        ElbError::Validation(m.replacen(" at '", &format!(" at '{at}."), 1))
                    }
                    other => other,
                })?
                .ok_or_else(|| ElbError::missing(&format!("{at}.priority")))?;
            if asked.iter().any(|(a, _)| a == arn) {
                return Err(ElbError::Validation(format!(
                    "Rule '{arn}' was provided multiple times"
                )));
            }
            asked.push((arn.to_string(), priority));
        }
        let rules = write(self.store.as_ref(), ctx.now, |state| {
            let mut updated: Vec<RuleRecord> = Vec::new();
            for (arn, priority) in &asked {
                let (rule, _, _) = own_rule(state, ctx, arn)?;
                let RuleRef::Custom(r) = rule else {
                    return Err(ElbError::OperationNotPermitted(format!(
                        "The priority of default rule '{arn}' cannot be changed"
                    )));
                };
                let mut r = r.clone();
                r.priority = *priority;
                updated.push(r);
            }
            // Every listener touched must end with distinct priorities:
            // rules not named keep theirs.
            let listeners: BTreeSet<&str> =
                updated.iter().map(|r| r.listener_id.as_str()).collect();
            for lid in listeners {
                let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
                let current = state
                    .rules_of(lid)
                    .into_iter()
                    .map(|r| updated.iter().find(|u| u.id == r.id).unwrap_or(r));
                for r in current {
                    if seen.insert(r.priority, &r.arn).is_some() {
                        let named = asked.iter().any(|(_, p)| *p == r.priority)
                            && asked.iter().filter(|(_, p)| *p == r.priority).count() > 1;
                        return Err(if named {
                            ElbError::Validation(format!(
                                "Priority '{}' was provided multiple times",
                                r.priority
                            ))
                        } else {
                            ElbError::PriorityInUse(format!(
                                "Priority '{}' is currently in use",
                                r.priority
                            ))
                        });
                    }
                }
            }
            let mut change = Change::default();
            for r in &updated {
                change.put(rule_key(&r.id), r);
            }
            Ok((change, updated))
        })?;
        let rendered: Vec<Rendered> = rules.into_iter().map(Rendered::Custom).collect();
        render_rules(out, &rendered);
        Ok(())
    }
}
