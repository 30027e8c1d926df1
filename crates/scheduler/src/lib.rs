//! Amazon ECS task placement as pure logic, in the shape of Nomad's
//! scheduler: (request, cluster state, seed) -> plan. No I/O, no clock;
//! every random choice comes from the seed, so the same input always gives
//! the same plan. The control plane calls [`place`] for `RunTask`, and
//! the services reconciler will call it for each step; a caller placing
//! many requests on one cluster can prepare it once as a [`ClusterView`]
//! and get the same plans faster. `ListContainerInstances` uses
//! [`filter_instances`].
//!
//! # Placement rules
//!
//! From the ECS Developer Guide ("Amazon ECS task placement", "task
//! placement strategies", "task placement constraints", "Cluster query
//! language", "API failure reasons"):
//!
//! - Candidates first satisfy CPU, memory and ports, then the constraints;
//!   strategies only order candidates ("best effort"), constraints are
//!   binding.
//! - `distinctInstance` puts each task of the group on a different
//!   instance; `memberOf` restricts to instances a query selects. At most
//!   ten constraints, the task definition's included; a task definition
//!   takes only `memberOf`.
//! - `binpack` picks the instance with the least remaining CPU or memory;
//!   `spread` balances over `instanceId`/`host` or an attribute's values;
//!   `random` picks at random. At most five strategies, applied in order.
//! - Standalone tasks spread over the tasks of their task group, service
//!   tasks over the tasks of their service: both are "the tasks of the
//!   request's group", since a service's tasks form the group
//!   `service:NAME`. The default group is `family:FAMILY`.
//! - `RunTask` with no strategy places "randomly across your cluster"; a
//!   service with none spreads across `attribute:ecs.availability-zone`
//!   ([`Strategy::service_default`]).
//! - `failures[].reason`: `RESOURCE:CPU`, `RESOURCE:MEMORY`,
//!   `RESOURCE:PORTS`, `AGENT`, `ATTRIBUTE`, and the texts ECS uses for
//!   constraints, `MemberOf placement constraint unsatisfied.` and
//!   `DistinctInstance placement constraint unsatisfied.`. A cluster
//!   without instances is an error, not a failure.
//!
//! # Choices where the guide is silent
//!
//! - A registered instance that is not `ACTIVE` (`DRAINING`...) is refused
//!   with its status as the reason; `INACTIVE` (deregistered) instances
//!   are left out altogether.
//! - Each instance is reported once, with the first check it failed, in
//!   the order: status, agent, attributes, CPU, memory, ports,
//!   `distinctInstance`, `memberOf`.
//! - `distinctInstance` also counts tasks of the group already running on
//!   the instance (as ECS does: a `RunTask` of one task next to a running
//!   one of the same group fails with the `DistinctInstance` reason).
//! - Strategies narrow: each keeps only the best candidates by its
//!   measure, the next breaks the remaining ties, and a seeded random pick
//!   breaks the last. `random` ends the chain.
//! - `spread` on an attribute counts the group's tasks on every registered
//!   instance with that value, candidate or not; instances without the
//!   attribute (or without a value) are one more value.
//! - A task asked to stop still holds CPU, memory and ports until it is
//!   gone from the state, but no longer counts for its group.

mod constraint;
mod error;
mod model;
mod place;
mod query;
mod rng;
mod strategy;
mod time;

pub use constraint::{Constraint, parse_constraints, parse_task_definition_constraints};
pub use error::{Invalid, PlaceError};
pub use model::{
    HostPort, InstanceState, InstanceStatus, MAX_CONSTRAINTS, PlacedTask, Protocol,
    RequiredAttribute, Resources, TaskRequest,
};
pub use place::{ClusterView, FailureReason, Placement, PlacementFailure, place};
pub use query::{
    Argument, Comparison, Expression, MAX_EXPRESSION_LEN, Node, Operator, Pattern, QueryError,
    Subject, Version, filter_instances,
};
pub use strategy::{Field, MAX_STRATEGIES, SpreadField, Strategy, parse_strategies};
