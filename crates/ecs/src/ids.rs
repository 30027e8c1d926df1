//! Ids and ARNs: `arn:aws:ecs:REGION:ACCOUNT:cluster/NAME`,
//! `task/CLUSTER/ID`, `container-instance/CLUSTER/ID`,
//! `task-definition/FAMILY:REVISION`, `container/CLUSTER/TASK/UUID`.

use dockyard_aws::{ApiError, CallContext};

use crate::error::{cluster_not_found, invalid};

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).expect("the kernel's random source is always readable");
    hex::encode(b)
}

/// ECS's task and container instance ids: 32 hex digits.
pub(crate) fn new_id() -> String {
    random_hex(16)
}

/// A UUID-shaped id (container ARNs, attachments).
pub(crate) fn new_uuid() -> String {
    let h = random_hex(16);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub(crate) fn arn(ctx: &CallContext, resource: &str) -> String {
    format!("arn:aws:ecs:{}:{}:{resource}", ctx.region, ctx.account)
}

pub(crate) fn cluster_arn(ctx: &CallContext, name: &str) -> String {
    arn(ctx, &format!("cluster/{name}"))
}

pub(crate) fn task_arn(ctx: &CallContext, cluster: &str, id: &str) -> String {
    arn(ctx, &format!("task/{cluster}/{id}"))
}

pub(crate) fn instance_arn(ctx: &CallContext, cluster: &str, id: &str) -> String {
    arn(ctx, &format!("container-instance/{cluster}/{id}"))
}

pub(crate) fn taskdef_arn(ctx: &CallContext, family: &str, revision: u32) -> String {
    arn(ctx, &format!("task-definition/{family}:{revision}"))
}

/// The resource part of one of our ECS ARNs (`cluster/x`), or `None` when
/// the string is not an ECS ARN of this account and region.
pub(crate) fn resource_of<'a>(ctx: &CallContext, s: &'a str) -> Option<&'a str> {
    let rest = s.strip_prefix("arn:aws:ecs:")?;
    let (region, rest) = rest.split_once(':')?;
    let (account, resource) = rest.split_once(':')?;
    (region == ctx.region && account == ctx.account).then_some(resource)
}

/// A cluster given by name or ARN; `default` when absent.
pub(crate) fn cluster_name(ctx: &CallContext, given: Option<&str>) -> Result<String, ApiError> {
    let Some(g) = given.filter(|g| !g.is_empty()) else {
        return Ok("default".into());
    };
    if g.starts_with("arn:") {
        return resource_of(ctx, g)
            .and_then(|r| r.strip_prefix("cluster/"))
            .map(str::to_owned)
            .ok_or_else(cluster_not_found);
    }
    Ok(g.to_string())
}

/// A task (or container instance) given by id or ARN, within `cluster`.
/// `kind` is `task` or `container-instance`.
pub(crate) fn member_id(
    ctx: &CallContext,
    kind: &str,
    cluster: &str,
    given: &str,
) -> Result<String, ApiError> {
    if !given.starts_with("arn:") {
        return Ok(given.to_string());
    }
    let resource = resource_of(ctx, given)
        .and_then(|r| r.strip_prefix(kind))
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(|| invalid(format!("Invalid {kind} identifier: {given}")))?;
    match resource.split_once('/') {
        Some((c, id)) if c == cluster => Ok(id.to_string()),
        // Old-style ARNs without the cluster.
        None => Ok(resource.to_string()),
        Some(_) => Err(invalid(format!(
            "The {kind} {given} is not in cluster {cluster}"
        ))),
    }
}

/// A task definition given as `family`, `family:revision` or an ARN.
pub(crate) fn taskdef_ref(
    ctx: &CallContext,
    given: &str,
) -> Result<(String, Option<u32>), ApiError> {
    let bad = || client_taskdef(given);
    let s = if given.starts_with("arn:") {
        resource_of(ctx, given)
            .and_then(|r| r.strip_prefix("task-definition/"))
            .ok_or_else(bad)?
    } else {
        given
    };
    match s.rsplit_once(':') {
        Some((family, rev)) => {
            let rev: u32 = rev.parse().map_err(|_| bad())?;
            if rev == 0 || family.is_empty() {
                return Err(bad());
            }
            Ok((family.to_string(), Some(rev)))
        }
        None if !s.is_empty() => Ok((s.to_string(), None)),
        None => Err(bad()),
    }
}

fn client_taskdef(given: &str) -> ApiError {
    crate::error::client(format!(
        "Unable to describe task definition: invalid task definition identifier {given}"
    ))
}

pub(crate) fn valid_cluster_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testutil::ctx;

    #[test]
    fn arns_and_references() {
        let c = ctx();
        let a = task_arn(&c, "prod", "abc");
        assert_eq!(a, "arn:aws:ecs:us-east-1:000000000000:task/prod/abc");
        assert_eq!(member_id(&c, "task", "prod", &a).unwrap(), "abc");
        assert!(member_id(&c, "task", "other", &a).is_err());
        assert_eq!(member_id(&c, "task", "prod", "abc").unwrap(), "abc");
        assert_eq!(cluster_name(&c, None).unwrap(), "default");
        assert_eq!(
            cluster_name(&c, Some(&cluster_arn(&c, "prod"))).unwrap(),
            "prod"
        );
        assert_eq!(
            taskdef_ref(&c, "web:3").unwrap(),
            ("web".to_string(), Some(3))
        );
        assert_eq!(taskdef_ref(&c, "web").unwrap(), ("web".to_string(), None));
        assert_eq!(
            taskdef_ref(&c, &taskdef_arn(&c, "web", 7)).unwrap(),
            ("web".to_string(), Some(7))
        );
        assert!(taskdef_ref(&c, "web:x").is_err());
        assert!(valid_cluster_name("a-b_c1"));
        assert!(!valid_cluster_name("a b"));
        assert_eq!(new_uuid().len(), 36);
    }
}
