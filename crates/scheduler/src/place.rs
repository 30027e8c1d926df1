//! Choosing instances for the tasks of one request.

use std::fmt;

use crate::error::PlaceError;
use crate::model::{HostPort, InstanceState, InstanceStatus, Protocol, TaskRequest};

mod view;
pub use view::ClusterView;

#[cfg(test)]
mod equivalence;
#[cfg(test)]
mod examples;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod reference;

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
    /// `RESOURCE:PORTS`: a fixed TCP host port is reserved or taken.
    Ports,
    /// `RESOURCE:PORTS_UDP`: a fixed UDP host port is reserved or taken.
    PortsUdp,
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
            Self::PortsUdp => "RESOURCE:PORTS_UDP",
            Self::DistinctInstance => "DistinctInstance placement constraint unsatisfied.",
            Self::MemberOf => "MemberOf placement constraint unsatisfied.",
        }
    }
}

impl FailureReason {
    /// The reason for the taken ports among a task's: TCP ones first
    /// (`RESOURCE:PORTS`), then UDP ones (`RESOURCE:PORTS_UDP`); `None`
    /// when none is taken.
    pub(crate) fn for_taken_ports<'a>(
        taken: impl IntoIterator<Item = &'a HostPort>,
    ) -> Option<Self> {
        let mut reason = None;
        for p in taken {
            match p.protocol {
                Protocol::Tcp => return Some(Self::Ports),
                Protocol::Udp => reason = Some(Self::PortsUdp),
            }
        }
        reason
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
/// in order (see [`Strategy`](crate::Strategy)); an empty list is `RunTask`'s default,
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
    // Checked before preparing the cluster, which would be wasted on it.
    req.validate()?;
    ClusterView::for_request(instances, req).place(req, count, seed)
}
