//! Load balancers: CreateLoadBalancer, DescribeLoadBalancers,
//! DeleteLoadBalancer, Describe/ModifyLoadBalancerAttributes.
//!
//! Subnets are not modelled: the ids given are recorded, and the Nth
//! stands for zone `REGIONa`, `REGIONb`... in order. One subnet is enough
//! (AWS wants two for an Application Load Balancer; there is only one
//! machine behind every zone here).

use std::collections::BTreeSet;

use dockyard_aws::CallContext;
use dockyard_aws::query::{QueryParams, XmlWriter};

use crate::ElbService;
use crate::arn;
use crate::attrs;
use crate::error::{ElbError, Quota};
use crate::input::{self, required};
use crate::model::{
    LoadBalancerRecord, LoadBalancerType, Scheme, Zone, lb_key, listener_key, rule_key,
};
use crate::render;
use crate::state::{Change, State, write};

/// Load balancers of each type per account.
const MAX_LOAD_BALANCERS: usize = 50;
const IP_ADDRESS_TYPES: &[&str] = &["ipv4", "dualstack", "dualstack-without-public-ipv4"];
const TYPES: &[&str] = &["application", "network", "gateway"];

fn check_name(name: &str) -> Result<(), ElbError> {
    let bad = |why: &str| {
        Err(ElbError::Validation(format!(
            "Load balancer name '{name}' {why}"
        )))
    };
    if name.is_empty() || name.len() > 32 {
        return bad("must be between 1 and 32 characters long");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return bad("can only contain characters that are alphanumeric characters or hyphens(-)");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return bad("cannot begin or end with '-'");
    }
    if name.to_ascii_lowercase().starts_with("internal-") {
        return bad("cannot begin with 'internal-'");
    }
    Ok(())
}

/// The subnet ids of a request, from `Subnets` or `SubnetMappings`.
fn subnets(p: &QueryParams) -> Result<Vec<String>, ElbError> {
    let plain = p.members("Subnets");
    let mappings = p.member_structs("SubnetMappings");
    if !plain.is_empty() && !mappings.is_empty() {
        return Err(ElbError::Validation(
            "You must specify either subnets or subnet mappings, not both".into(),
        ));
    }
    let mut ids: Vec<String> = plain.into_iter().map(str::to_string).collect();
    for (i, m) in mappings.iter().enumerate() {
        let id = m.get("SubnetId").ok_or_else(|| {
            ElbError::missing(&format!("subnetMappings.{}.member.subnetId", i + 1))
        })?;
        if let Some((k, _)) = m.iter().find(|(k, _)| *k != "SubnetId") {
            return Err(ElbError::InvalidConfiguration(format!(
                "Subnet mapping member '{k}' is not supported: Dockyard does not model Elastic \
                 IP or private addresses"
            )));
        }
        ids.push(id.to_string());
    }
    if ids.is_empty() {
        return Err(ElbError::Validation(
            "At least one subnet must be specified".into(),
        ));
    }
    let distinct: BTreeSet<&String> = ids.iter().collect();
    if distinct.len() != ids.len() {
        return Err(ElbError::InvalidConfiguration(
            "A load balancer cannot be attached to multiple subnets in the same Availability \
             Zone"
                .into(),
        ));
    }
    if ids.len() > 26 {
        return Err(ElbError::InvalidConfiguration(
            "A load balancer can be attached to at most 26 subnets".into(),
        ));
    }
    Ok(ids)
}

impl ElbService {
    pub(crate) fn create_load_balancer(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ElbError> {
        let name = required(p, "Name")?;
        check_name(name)?;
        if p.get("Type") == Some("gateway") {
            return Err(ElbError::InvalidConfiguration(
                "Gateway Load Balancers are not supported by Dockyard".into(),
            ));
        }
        let kind = input::one_of(p, "Type", TYPES, LoadBalancerType::parse)?
            .unwrap_or(LoadBalancerType::Application);
        let scheme = input::one_of(p, "Scheme", Scheme::WIRE, Scheme::parse)?
            .unwrap_or(Scheme::InternetFacing);
        let ip_type = input::one_of(p, "IpAddressType", IP_ADDRESS_TYPES, |s| {
            IP_ADDRESS_TYPES.contains(&s).then(|| s.to_string())
        })?
        .unwrap_or_else(|| "ipv4".into());
        if scheme == Scheme::Internal && ip_type == "dualstack-without-public-ipv4" {
            return Err(ElbError::InvalidConfiguration(
                "Internal load balancers cannot use the 'dualstack-without-public-ipv4' IP \
                 address type"
                    .into(),
            ));
        }
        if kind == LoadBalancerType::Network && ip_type == "dualstack-without-public-ipv4" {
            return Err(ElbError::Validation(
                "Network Load Balancers support only the 'ipv4' and 'dualstack' IP address types"
                    .into(),
            ));
        }
        let subnets = subnets(p)?;
        let security_groups: Vec<String> = p
            .members("SecurityGroups")
            .into_iter()
            .map(str::to_string)
            .collect();
        let tags = input::tags(p, "Tags")?;
        let zones: Vec<Zone> = subnets
            .iter()
            .zip('a'..='z')
            .map(|(s, letter)| Zone {
                subnet_id: s.clone(),
                zone_name: format!("{}{letter}", ctx.region),
            })
            .collect();

        let lb = write(self.store.as_ref(), ctx.now, |state| {
            let mine = |l: &&LoadBalancerRecord| l.account == ctx.account && l.region == ctx.region;
            if let Some(existing) = state.lbs.values().filter(mine).find(|l| l.name == name) {
                let same = existing.kind == kind
                    && existing.scheme == scheme
                    && existing.ip_address_type == ip_type
                    && existing.zones == zones
                    && sorted(&existing.security_groups) == sorted(&security_groups);
                if !same {
                    return Err(ElbError::DuplicateLoadBalancerName(format!(
                        "A load balancer with the same name '{name}' exists, but with different \
                         settings"
                    )));
                }
                return Ok((Change::default(), existing.clone()));
            }
            if state
                .lbs
                .values()
                .filter(mine)
                .filter(|l| l.kind == kind)
                .count()
                >= MAX_LOAD_BALANCERS
            {
                return Err(ElbError::quota(
                    Quota::LoadBalancers,
                    format!(
                        "You've reached the limit of {MAX_LOAD_BALANCERS} {} load balancers",
                        kind.as_str()
                    ),
                ));
            }
            let id = self.ids.next_id();
            let record = LoadBalancerRecord {
                arn: arn::load_balancer(&ctx.region, &ctx.account, kind, name, &id),
                id: id.clone(),
                name: name.to_string(),
                account: ctx.account.clone(),
                region: ctx.region.clone(),
                kind,
                scheme,
                ip_address_type: ip_type.clone(),
                zones: zones.clone(),
                security_groups: security_groups.clone(),
                created: ctx.now,
                attributes: attrs::lb_defaults(kind, scheme),
                tags: tags.clone(),
            };
            let mut change = Change::default();
            change.put(lb_key(&id), &record);
            Ok((change, record))
        })?;
        out.members("LoadBalancers", [&lb], |w, lb| {
            render::load_balancer(w, lb, self.listener_address)
        });
        Ok(())
    }

    pub(crate) fn describe_load_balancers(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ElbError> {
        let arns = p.members("LoadBalancerArns");
        let names = p.members("Names");
        if arns.len() > 20 {
            return Err(ElbError::Validation(
                "You can specify up to 20 load balancer ARNs in a single call".into(),
            ));
        }
        if !arns.is_empty() && !names.is_empty() {
            return Err(ElbError::Validation(
                "Load balancer names and load balancer ARNs cannot be specified at the same time"
                    .into(),
            ));
        }
        let page = input::page(p)?;
        let state = State::load(self.store.as_ref())?;
        let mine: Vec<&LoadBalancerRecord> = state
            .lbs
            .values()
            .filter(|l| l.account == ctx.account && l.region == ctx.region)
            .collect();
        let mut found: Vec<&LoadBalancerRecord> = if !arns.is_empty() {
            arns.iter()
                .map(|a| {
                    state
                        .lb(a)
                        .ok()
                        .filter(|l| l.account == ctx.account)
                        .ok_or_else(|| {
                            ElbError::LoadBalancerNotFound(format!("Load balancer '{a}' not found"))
                        })
                })
                .collect::<Result<_, _>>()?
        } else if !names.is_empty() {
            let missing: Vec<&str> = names
                .iter()
                .copied()
                .filter(|n| !mine.iter().any(|l| l.name == *n))
                .collect();
            if !missing.is_empty() {
                return Err(ElbError::LoadBalancerNotFound(format!(
                    "Load balancers '[{}]' not found",
                    missing.join(", ")
                )));
            }
            mine.into_iter()
                .filter(|l| names.contains(&l.name.as_str()))
                .collect()
        } else {
            mine
        };
        found.sort_by(|a, b| a.name.cmp(&b.name));
        found.dedup_by(|a, b| a.id == b.id);
        let (items, next) = page.apply(found, |l| l.name.clone());
        out.members("LoadBalancers", items, |w, lb| {
            render::load_balancer(w, lb, self.listener_address)
        });
        out.opt_element("NextMarker", next.as_deref());
        Ok(())
    }

    pub(crate) fn delete_load_balancer(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
    ) -> Result<(), ElbError> {
        let arn = required(p, "LoadBalancerArn")?;
        arn::id_of(arn, arn::Kind::LoadBalancer)?;
        write(self.store.as_ref(), ctx.now, |state| {
            let mut change = Change::default();
            // Deleting what is not there succeeds, as on AWS.
            let Ok(lb) = state.lb(arn) else {
                return Ok((change, ()));
            };
            if lb.account != ctx.account {
                return Ok((change, ()));
            }
            if lb
                .attributes
                .get(attrs::DELETION_PROTECTION)
                .map(String::as_str)
                == Some("true")
            {
                return Err(ElbError::OperationNotPermitted(format!(
                    "Load balancer '{arn}' cannot be deleted because deletion protection is \
                     enabled"
                )));
            }
            for l in state.listeners_of(&lb.id) {
                change.delete(listener_key(&l.id));
            }
            for r in state.rules.values().filter(|r| r.lb_id == lb.id) {
                change.delete(rule_key(&r.id));
            }
            change.delete(lb_key(&lb.id));
            Ok((change, ()))
        })
    }

    pub(crate) fn describe_load_balancer_attributes(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ElbError> {
        let arn = required(p, "LoadBalancerArn")?;
        let state = State::load(self.store.as_ref())?;
        let lb = own_lb(&state, ctx, arn)?;
        render::attributes(out, &lb.attributes);
        Ok(())
    }

    pub(crate) fn modify_load_balancer_attributes(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ElbError> {
        let arn = required(p, "LoadBalancerArn")?;
        let changes = input::attributes(p, 20)?;
        let attributes = write(self.store.as_ref(), ctx.now, |state| {
            let lb = own_lb(state, ctx, arn)?;
            let next = attrs::modify_lb(lb.kind, lb.scheme, &lb.attributes, &changes)?;
            let mut change = Change::default();
            if next != lb.attributes {
                let mut record = lb.clone();
                record.attributes = next.clone();
                change.put(lb_key(&lb.id), &record);
            }
            Ok((change, next))
        })?;
        render::attributes(out, &attributes);
        Ok(())
    }
}

fn sorted(v: &[String]) -> Vec<&String> {
    let mut s: Vec<&String> = v.iter().collect();
    s.sort();
    s
}

/// A load balancer of the caller's account.
pub(crate) fn own_lb<'a>(
    state: &'a State,
    ctx: &CallContext,
    arn: &str,
) -> Result<&'a LoadBalancerRecord, ElbError> {
    state.lb(arn).and_then(|l| {
        if l.account == ctx.account {
            Ok(l)
        } else {
            Err(ElbError::LoadBalancerNotFound(format!(
                "Load balancer '{arn}' not found"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("web-1").is_ok());
        for bad in ["", "-web", "web-", "we_b", "internal-web", &"x".repeat(33)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
