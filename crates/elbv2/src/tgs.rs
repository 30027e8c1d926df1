//! Target groups: CreateTargetGroup, ModifyTargetGroup,
//! DescribeTargetGroups, DeleteTargetGroup,
//! Describe/ModifyTargetGroupAttributes.

use dockyard_aws::CallContext;
use dockyard_aws::query::{QueryParams, XmlWriter};

use crate::ElbService;
use crate::arn;
use crate::attrs;
use crate::error::{ElbError, Quota};
use crate::health_check;
use crate::input::{self, required};
use crate::model::{Protocol, TargetGroupRecord, TargetType, tg_key};
use crate::render::{self, VPC_ID};
use crate::state::{Change, State, write};

/// Every protocol the model lists (Dockyard serves those of [`Protocol`]).
pub(crate) const PROTOCOLS: &[&str] = &[
    "HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "GENEVE", "QUIC", "TCP_QUIC",
];
const TARGET_TYPES: &[&str] = &["instance", "ip", "lambda", "alb"];
const VERSIONS: &[&str] = &["HTTP1", "HTTP2", "GRPC"];
const MAX_TARGET_GROUPS: usize = 3000;

fn check_name(name: &str) -> Result<(), ElbError> {
    let bad = |why: &str| {
        Err(ElbError::Validation(format!(
            "Target group name '{name}' {why}"
        )))
    };
    if name.is_empty() {
        return bad("cannot be empty");
    }
    if name.len() > 32 {
        return bad("cannot be longer than '32' characters");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return bad("can only contain characters that are alphanumeric characters or hyphens(-)");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return bad("cannot begin or end with '-'");
    }
    Ok(())
}

/// A protocol member of the model that Dockyard serves.
pub(crate) fn protocol(p: &QueryParams, name: &str) -> Result<Option<Protocol>, ElbError> {
    if let Some(v) = p.get(name)
        && PROTOCOLS.contains(&v)
        && Protocol::parse(v).is_none()
    {
        return Err(ElbError::InvalidConfiguration(format!(
            "Protocol '{v}' is not supported by Dockyard"
        )));
    }
    input::one_of(p, name, PROTOCOLS, Protocol::parse)
}

impl ElbService {
    pub(crate) fn create_target_group(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ElbError> {
        let name = required(p, "Name")?;
        check_name(name)?;
        if let Some(t @ ("lambda" | "alb")) = p.get("TargetType") {
            return Err(ElbError::InvalidConfiguration(format!(
                "Target type '{t}' is not supported by Dockyard; use 'ip' or 'instance'"
            )));
        }
        let target_type = input::one_of(p, "TargetType", TARGET_TYPES, TargetType::parse)?
            .unwrap_or(TargetType::Instance);
        let protocol = protocol(p, "Protocol")?
            .ok_or_else(|| ElbError::Validation("A protocol must be specified".into()))?;
        if !matches!(protocol, Protocol::Http | Protocol::Tcp) {
            return Err(ElbError::InvalidConfiguration(format!(
                "Target groups with protocol '{}' are not supported by Dockyard: its load \
                 balancers forward HTTP (Application) and TCP (Network)",
                protocol.as_str()
            )));
        }
        let port = input::port(p, "Port")?
            .ok_or_else(|| ElbError::Validation("A port must be specified".into()))?;
        let version = match p.get("ProtocolVersion") {
            Some(_) if !protocol.is_http() => {
                return Err(ElbError::Validation(
                    "A protocol version can only be specified for HTTP and HTTPS target groups"
                        .into(),
                ));
            }
            Some(v) if v.eq_ignore_ascii_case("HTTP1") => Some("HTTP1".to_string()),
            Some(v) if VERSIONS.iter().any(|k| k.eq_ignore_ascii_case(v)) => {
                return Err(ElbError::InvalidConfiguration(format!(
                    "Protocol version '{v}' is not supported by Dockyard: targets are sent \
                     HTTP/1.1"
                )));
            }
            Some(v) => return Err(ElbError::not_in_enum("protocolVersion", v, VERSIONS)),
            None => protocol.is_http().then(|| "HTTP1".to_string()),
        };
        let ip_type = input::one_of(p, "IpAddressType", &["ipv4", "ipv6"], |s| {
            matches!(s, "ipv4" | "ipv6").then(|| s.to_string())
        })?
        .unwrap_or_else(|| "ipv4".into());
        if ip_type == "ipv6" && target_type != TargetType::Ip {
            return Err(ElbError::Validation(
                "The 'ipv6' IP address type is supported only for target groups of type 'ip'"
                    .into(),
            ));
        }
        let vpc_id = p.get("VpcId").unwrap_or(VPC_ID).to_string();
        let health_check = health_check::from_request(p, protocol, target_type, None)?;
        let tags = input::tags(p, "Tags").map_err(input::duplicates_invalid)?;

        let (tg, users) = write(self.store.as_ref(), ctx.now, |state| {
            let mine = |t: &&TargetGroupRecord| t.account == ctx.account && t.region == ctx.region;
            if let Some(existing) = state.tgs.values().filter(mine).find(|t| t.name == name) {
                let same = existing.protocol == protocol
                    && existing.port == port
                    && existing.target_type == target_type
                    && existing.vpc_id == vpc_id
                    && existing.protocol_version == version
                    && existing.ip_address_type == ip_type
                    && existing.health_check == health_check;
                if !same {
                    return Err(ElbError::DuplicateTargetGroupName(format!(
                        "A target group with the same name '{name}' exists, but with different \
                         settings"
                    )));
                }
                return Ok((
                    Change::default(),
                    (existing.clone(), state.users_of(&existing.arn)),
                ));
            }
            if state.tgs.values().filter(mine).count() >= MAX_TARGET_GROUPS {
                return Err(ElbError::quota(
                    Quota::TargetGroups,
                    format!("You've reached the limit of {MAX_TARGET_GROUPS} target groups"),
                ));
            }
            let id = self.ids.next_id();
            let record = TargetGroupRecord {
                arn: arn::target_group(&ctx.region, &ctx.account, name, &id),
                id: id.clone(),
                name: name.to_string(),
                account: ctx.account.clone(),
                region: ctx.region.clone(),
                protocol,
                protocol_version: version.clone(),
                port,
                vpc_id: vpc_id.clone(),
                target_type,
                ip_address_type: ip_type.clone(),
                health_check: health_check.clone(),
                created: ctx.now,
                attributes: attrs::tg_defaults(protocol, target_type),
                tags: tags.clone(),
            };
            let mut change = Change::default();
            change.put(tg_key(&id), &record);
            Ok((change, (record, Default::default())))
        })?;
        out.members("TargetGroups", [&tg], |w, tg| {
            render::target_group(w, tg, &users)
        });
        Ok(())
    }

    pub(crate) fn modify_target_group(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ElbError> {
        let arn = required(p, "TargetGroupArn")?;
        let (tg, users) = write(self.store.as_ref(), ctx.now, |state| {
            let tg = own_tg(state, ctx, arn)?;
            let hc =
                health_check::from_request(p, tg.protocol, tg.target_type, Some(&tg.health_check))?;
            let mut record = tg.clone();
            record.health_check = hc;
            let mut change = Change::default();
            if record != *tg {
                change.put(tg_key(&tg.id), &record);
            }
            let users = state.users_of(arn);
            Ok((change, (record, users)))
        })?;
        out.members("TargetGroups", [&tg], |w, tg| {
            render::target_group(w, tg, &users)
        });
        Ok(())
    }

    pub(crate) fn describe_target_groups(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ElbError> {
        let lb_arn = p.get("LoadBalancerArn");
        let arns = p.members("TargetGroupArns");
        let names = p.members("Names");
        let filters = [lb_arn.is_some(), !arns.is_empty(), !names.is_empty()];
        if filters.iter().filter(|f| **f).count() > 1 {
            return Err(ElbError::Validation(
                "Target group names, target group ARNs, and a load balancer ARN cannot be \
                 specified at the same time"
                    .into(),
            ));
        }
        let page = input::page(p)?;
        let state = State::load(self.store.as_ref())?;
        let mine: Vec<&TargetGroupRecord> = state
            .tgs
            .values()
            .filter(|t| t.account == ctx.account && t.region == ctx.region)
            .collect();
        let not_found =
            || ElbError::TargetGroupNotFound("One or more target groups not found".into());
        let mut found: Vec<&TargetGroupRecord> = if let Some(lb_arn) = lb_arn {
            let lb = crate::lbs::own_lb(&state, ctx, lb_arn)?;
            let used = state.groups_used_by(&lb.id);
            mine.into_iter().filter(|t| used.contains(&t.arn)).collect()
        } else if !arns.is_empty() {
            arns.iter()
                .map(|a| own_tg(&state, ctx, a).map_err(|_| not_found()))
                .collect::<Result<_, _>>()?
        } else if !names.is_empty() {
            if names.iter().any(|n| !mine.iter().any(|t| t.name == *n)) {
                return Err(not_found());
            }
            mine.into_iter()
                .filter(|t| names.contains(&t.name.as_str()))
                .collect()
        } else {
            mine
        };
        found.sort_by(|a, b| a.name.cmp(&b.name));
        found.dedup_by(|a, b| a.id == b.id);
        let (items, next) = page.apply(found, |t| t.name.clone());
        out.members("TargetGroups", items, |w, tg| {
            render::target_group(w, tg, &state.users_of(&tg.arn))
        });
        out.opt_element("NextMarker", next.as_deref());
        Ok(())
    }

    pub(crate) fn delete_target_group(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
    ) -> Result<(), ElbError> {
        let arn = required(p, "TargetGroupArn")?;
        arn::id_of(arn, arn::Kind::TargetGroup)?;
        write(self.store.as_ref(), ctx.now, |state| {
            let mut change = Change::default();
            // Deleting what is not there succeeds, as on AWS.
            let Ok(tg) = own_tg(state, ctx, arn) else {
                return Ok((change, ()));
            };
            if !state.users_of(arn).is_empty() {
                return Err(ElbError::ResourceInUse(format!(
                    "Target group '{arn}' is currently in use by a listener or a rule"
                )));
            }
            for t in state.targets_of(&tg.id) {
                change.delete(t.key());
            }
            change.delete(tg_key(&tg.id));
            Ok((change, ()))
        })
    }

    pub(crate) fn describe_target_group_attributes(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ElbError> {
        let arn = required(p, "TargetGroupArn")?;
        let state = State::load(self.store.as_ref())?;
        render::attributes(out, &own_tg(&state, ctx, arn)?.attributes);
        Ok(())
    }

    pub(crate) fn modify_target_group_attributes(
        &self,
        ctx: &CallContext,
        p: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ElbError> {
        let arn = required(p, "TargetGroupArn")?;
        let changes = input::attributes(p, usize::MAX)?;
        let attributes = write(self.store.as_ref(), ctx.now, |state| {
            let tg = own_tg(state, ctx, arn)?;
            let next = attrs::modify_tg(tg.protocol, tg.target_type, &tg.attributes, &changes)?;
            let mut change = Change::default();
            if next != tg.attributes {
                let mut record = tg.clone();
                record.attributes = next.clone();
                change.put(tg_key(&tg.id), &record);
            }
            Ok((change, next))
        })?;
        render::attributes(out, &attributes);
        Ok(())
    }
}

/// A target group of the caller's account.
pub(crate) fn own_tg<'a>(
    state: &'a State,
    ctx: &CallContext,
    arn: &str,
) -> Result<&'a TargetGroupRecord, ElbError> {
    state.tg(arn).and_then(|t| {
        if t.account == ctx.account {
            Ok(t)
        } else {
            Err(ElbError::TargetGroupNotFound(format!(
                "Target group '{arn}' not found"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("web-targets").is_ok());
        for bad in ["", "-a", "a-", "a b", &"x".repeat(33)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
