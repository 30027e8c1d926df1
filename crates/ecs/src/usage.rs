//! What utilisation metrics need to know of a task an agent reports usage
//! for: whose it is, where it belongs and what it reserved.

use crate::EcsService;

/// A task as usage metrics see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageSubject {
    pub account: String,
    pub cluster: String,
    /// The service it runs for (its group is `service:NAME`).
    pub service: Option<String>,
    /// Reserved CPU units (1024 per vCPU), when the task has a task-level size.
    pub cpu_units: Option<u64>,
    /// Reserved memory in MiB, likewise.
    pub memory_mib: Option<u64>,
}

/// `arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID` -> (account, cluster, id).
fn split_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (_, _, _, _, account, rest) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let mut path = rest.strip_prefix("task/")?.split('/');
    let (cluster, id) = (path.next()?, path.next()?);
    path.next().is_none().then_some((account, cluster, id))
}

impl EcsService {
    /// The task `arn` names, read from the in-memory index; `None` for a
    /// task this server does not know (or no longer does).
    pub fn usage_subject(&self, arn: &str) -> Option<UsageSubject> {
        let (account, cluster, id) = split_arn(arn)?;
        let t = self.index.get(cluster, id)?;
        if t.arn != arn {
            return None;
        }
        Some(UsageSubject {
            account: account.to_string(),
            cluster: cluster.to_string(),
            service: t
                .group
                .as_deref()
                .and_then(|g| g.strip_prefix("service:"))
                .map(str::to_owned),
            cpu_units: t.cpu.as_deref().and_then(|c| c.trim().parse().ok()),
            memory_mib: t.memory.as_deref().and_then(|m| m.trim().parse().ok()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::split_arn;

    #[test]
    fn task_arns_split_into_account_cluster_and_id() {
        assert_eq!(
            split_arn("arn:aws:ecs:us-east-1:000000000000:task/prod/abc123"),
            Some(("000000000000", "prod", "abc123"))
        );
        for bad in [
            "arn:aws:ecs:us-east-1:0:task/abc123",
            "arn:aws:ecs:us-east-1:0:cluster/prod",
            "arn:aws:ecs:us-east-1:0:task/a/b/c",
            "nonsense",
        ] {
            assert_eq!(split_arn(bad), None, "{bad}");
        }
    }
}
