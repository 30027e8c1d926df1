//! Where the endpoint gets its facts: the node agent implements
//! [`MetadataSource`] over its task state.

use std::net::IpAddr;

use dockyard_types::ErrorKind;

use crate::credentials::CredentialsLookup;
use crate::meta::{ContainerMeta, TaskMeta};
use crate::stats::ContainerStats;

/// The facts behind the endpoint, looked up by the token in a container's
/// `ECS_CONTAINER_METADATA_URI_V4` (one token per container) or by a
/// credentials id.
///
/// Every method is called on a blocking thread, one call per request, and
/// may be called concurrently: stats reading may do I/O (cgroup files).
/// Answers reflect the moment of the call; nothing is cached by the
/// server.
pub trait MetadataSource: Send + Sync + 'static {
    /// The container the token names; `None` for an unknown token.
    fn container(&self, token: &str) -> Option<ContainerMeta>;

    /// The task of the container the token names, with all its
    /// containers; `None` for an unknown token.
    fn task(&self, token: &str) -> Option<TaskMeta>;

    /// A fresh stats sample of the container the token names.
    fn container_stats(&self, token: &str) -> Result<ContainerStats, SourceError>;

    /// Stats of every container in the token's task, keyed by container
    /// id; `None` for a container with no stats (not started, gone).
    fn task_stats(&self, token: &str)
    -> Result<Vec<(String, Option<ContainerStats>)>, SourceError>;

    /// The credentials with this id, if `peer` (the caller's address) may
    /// read them. [`crate::CredentialsTable::lookup`] implements the rule.
    fn credentials(&self, id: &str, peer: IpAddr) -> CredentialsLookup;
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("no container has metadata token {0}")]
    UnknownToken(String),
    /// Stats of a known container or task could not be read.
    #[error("stats of {target}: {reason}")]
    Stats { target: String, reason: String },
}

impl SourceError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::UnknownToken(_) => ErrorKind::NotFound,
            Self::Stats { .. } => ErrorKind::Unavailable,
        }
    }
}
