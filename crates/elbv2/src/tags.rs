//! Tags on load balancers, target groups, listeners and rules: AddTags,
//! RemoveTags, DescribeTags. A call naming several resources changes all
//! of them or none.

use std::collections::BTreeSet;

use dockyard_aws::CallContext;
use dockyard_aws::query::{QueryParams, XmlWriter};

use crate::ElbService;
use crate::arn::{self, Kind};
use crate::error::ElbError;
use crate::input::{self, length, merge_tags};
use crate::lbs::own_lb;
use crate::listeners::own_listener;
use crate::model::{Tag, lb_key, listener_key, rule_key, tg_key};
use crate::render;
use crate::state::{Change, RuleRef, State, write};
use crate::tgs::own_tg;

const MAX_RESOURCES: usize = 20;

fn resource_arns(p: &QueryParams) -> Result<Vec<&str>, ElbError> {
    let arns = p.members("ResourceArns");
    if arns.is_empty() {
        return Err(ElbError::missing("resourceArns"));
    }
    if arns.len() > MAX_RESOURCES {
        return Err(ElbError::Validation(format!(
            "You can specify up to {MAX_RESOURCES} resources in a single call"
        )));
    }
    let mut seen = BTreeSet::new();
    Ok(arns.into_iter().filter(|a| seen.insert(*a)).collect())
}

fn kind_of(arn: &str) -> Result<Kind, ElbError> {
    arn::parse(arn)
        .map(|(k, _)| k)
        .ok_or_else(|| ElbError::Validation(format!("'{arn}' is not a valid resource ARN")))
}

/// The tags of a resource of the caller's account.
fn tags_of(state: &State, ctx: &CallContext, arn: &str) -> Result<Vec<Tag>, ElbError> {
    Ok(match kind_of(arn)? {
        Kind::LoadBalancer => own_lb(state, ctx, arn)?.tags.clone(),
        Kind::TargetGroup => own_tg(state, ctx, arn)?.tags.clone(),
        Kind::Listener => own_listener(state, ctx, arn)?.0.tags.clone(),
        Kind::Rule => match rule_of(state, ctx, arn)? {
            RuleRef::Custom(r) => r.tags.clone(),
            RuleRef::Default(l) => l.default_rule_tags.clone(),
        },
    })
}

fn rule_of<'a>(state: &'a State, ctx: &CallContext, arn: &str) -> Result<RuleRef<'a>, ElbError> {
    let rule = state.rule(arn)?;
    let listener_id = match rule {
        RuleRef::Custom(r) => r.listener_id.clone(),
        RuleRef::Default(l) => l.id.clone(),
    };
    let owned = state
        .listeners
        .get(&listener_id)
        .and_then(|l| state.lbs.get(&l.lb_id))
        .is_some_and(|lb| lb.account == ctx.account);
    if !owned {
        return Err(ElbError::RuleNotFound(format!("Rule '{arn}' not found")));
    }
    Ok(rule)
}

/// A record whose tags changed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Touched {
    Lb(String),
    Tg(String),
    Listener(String),
    Rule(String),
}

/// Sets `tags` on the resource `arn` names, in `work` (a copy of the
/// state, so that a listener and its default rule named in one call both
/// keep their change).
fn set_tags(
    work: &mut State,
    ctx: &CallContext,
    arn: &str,
    tags: Vec<Tag>,
    touched: &mut BTreeSet<Touched>,
) -> Result<(), ElbError> {
    let gone = || ElbError::Contention;
    match kind_of(arn)? {
        Kind::LoadBalancer => {
            let id = own_lb(work, ctx, arn)?.id.clone();
            work.lbs.get_mut(&id).ok_or_else(gone)?.tags = tags;
            touched.insert(Touched::Lb(id));
        }
        Kind::TargetGroup => {
            let id = own_tg(work, ctx, arn)?.id.clone();
            work.tgs.get_mut(&id).ok_or_else(gone)?.tags = tags;
            touched.insert(Touched::Tg(id));
        }
        Kind::Listener => {
            let id = own_listener(work, ctx, arn)?.0.id.clone();
            work.listeners.get_mut(&id).ok_or_else(gone)?.tags = tags;
            touched.insert(Touched::Listener(id));
        }
        Kind::Rule => match rule_of(work, ctx, arn)? {
            RuleRef::Custom(r) => {
                let id = r.id.clone();
                work.rules.get_mut(&id).ok_or_else(gone)?.tags = tags;
                touched.insert(Touched::Rule(id));
            }
            RuleRef::Default(l) => {
                let id = l.id.clone();
                work.listeners
                    .get_mut(&id)
                    .ok_or_else(gone)?
                    .default_rule_tags = tags;
                touched.insert(Touched::Listener(id));
            }
        },
    }
    Ok(())
}

/// Applies `f` (the new tags from the current ones) to every resource
/// named, as one change.
fn retag(
    state: &State,
    ctx: &CallContext,
    arns: &[&str],
    f: impl Fn(&str, Vec<Tag>) -> Result<Vec<Tag>, ElbError>,
) -> Result<Change, ElbError> {
    let mut work = state.clone();
    let mut touched = BTreeSet::new();
    for arn in arns {
        let tags = f(arn, tags_of(&work, ctx, arn)?)?;
        set_tags(&mut work, ctx, arn, tags, &mut touched)?;
    }
    let mut change = Change::default();
    for t in touched {
        match t {
            Touched::Lb(id) => change.put(lb_key(&id), &work.lbs[&id]),
            Touched::Tg(id) => change.put(tg_key(&id), &work.tgs[&id]),
            Touched::Listener(id) => change.put(listener_key(&id), &work.listeners[&id]),
            Touched::Rule(id) => change.put(rule_key(&id), &work.rules[&id]),
        }
    }
    Ok(change)
}

fn noun(arn: &str) -> &'static str {
    match arn::parse(arn).map(|(k, _)| k) {
        Some(Kind::TargetGroup) => "target group",
        Some(Kind::Listener) => "listener",
        Some(Kind::Rule) => "rule",
        _ => "load balancer",
    }
}

impl ElbService {
    pub(crate) fn add_tags(&self, ctx: &CallContext, p: &QueryParams) -> Result<(), ElbError> {
        let arns = resource_arns(p)?;
        let added = input::tags(p, "Tags")?;
        if added.is_empty() {
            return Err(ElbError::missing("tags"));
        }
        write(self.store.as_ref(), ctx.now, |state| {
            let change = retag(state, ctx, &arns, |arn, tags| {
                merge_tags(&tags, &added, noun(arn))
            })?;
            Ok((change, ()))
        })
    }

    pub(crate) fn remove_tags(&self, ctx: &CallContext, p: &QueryParams) -> Result<(), ElbError> {
        let arns = resource_arns(p)?;
        let keys = p.members("TagKeys");
        if keys.is_empty() {
            return Err(ElbError::missing("tagKeys"));
        }
        for k in &keys {
            length("TagKeys", k, 1, 128)?;
        }
        write(self.store.as_ref(), ctx.now, |state| {
            let change = retag(state, ctx, &arns, |_, mut tags| {
                tags.retain(|t| !keys.contains(&t.key.as_str()));
                Ok(tags)
            })?;
            Ok((change, ()))
        })
    }

    pub(crate) fn describe_tags(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ElbError> {
        let arns = resource_arns(p)?;
        let state = State::load(self.store.as_ref())?;
        let described = arns
            .iter()
            .map(|a| Ok((*a, tags_of(&state, ctx, a)?)))
            .collect::<Result<Vec<_>, ElbError>>()?;
        out.members("TagDescriptions", described, |w, (arn, tags)| {
            w.element("ResourceArn", arn);
            render::tags(w, &tags);
        });
        Ok(())
    }
}
