//! What the agent remembers across its own restarts: its node id, the
//! state changes the server has not acknowledged, and the containers of
//! each task, so a restarted agent re-adopts running tasks instead of
//! starting them again.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use dockyard_agentproto::{ContainerChange, DesiredTask, TaskChange, TaskNetwork};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AgentState {
    #[serde(default)]
    pub node_id: Option<String>,
    /// The cluster the node id belongs to.
    #[serde(default)]
    pub cluster: Option<String>,
    /// The last sequence number given to a change.
    #[serde(default)]
    pub last_seq: u64,
    /// Changes not yet acknowledged by the server, in order.
    #[serde(default)]
    pub outbox: Vec<TaskChange>,
    #[serde(default)]
    pub tasks: BTreeMap<String, LocalTask>,
}

/// One task as this node runs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocalTask {
    pub desired: DesiredTask,
    /// The last status reported.
    pub status: String,
    /// Container name -> what is known of it.
    #[serde(default)]
    pub containers: BTreeMap<String, LocalContainer>,
    /// awsvpc: the attachment id of the task's network namespace.
    #[serde(default)]
    pub network_id: Option<String>,
    #[serde(default)]
    pub network: Option<TaskNetwork>,
    /// Everything is stopped and cleaned up; kept until the server stops
    /// listing the task.
    #[serde(default)]
    pub finished: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LocalContainer {
    /// The engine's container id.
    #[serde(default)]
    pub runtime_id: Option<String>,
    /// The token in the container's metadata URI.
    #[serde(default)]
    pub metadata_token: String,
    pub change: Option<ContainerChange>,
    /// Bytes of its log already shipped.
    #[serde(default)]
    pub log_offset: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("agent state {path}: {source}")]
pub struct StateError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

impl StateError {
    pub(crate) fn poisoned() -> Self {
        Self {
            path: PathBuf::from("<memory>"),
            source: std::io::Error::other("a task thread panicked while holding the state"),
        }
    }
}

impl AgentState {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("state.json")
    }

    pub fn load(dir: &Path) -> Result<Self, StateError> {
        let path = Self::path(dir);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| StateError {
                path,
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(StateError { path, source }),
        }
    }

    /// Writes the state atomically (a reader sees the old or the new
    /// file). Not fsynced, like the engine's records: a crash of the agent
    /// keeps the page cache, and what a machine crash could lose (queued
    /// changes, container ids) describes containers that did not survive
    /// it either.
    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        let path = Self::path(dir);
        let err = |source| StateError {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let tmp = dir.join(".state.json.tmp");
        let bytes = serde_json::to_vec(self)
            .map_err(|e| err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        let mut f = std::fs::File::create(&tmp).map_err(err)?;
        f.write_all(&bytes).map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)?;
        Ok(())
    }

    /// Numbers a change and queues it.
    pub fn push(&mut self, mut change: TaskChange) {
        self.last_seq += 1;
        change.seq = self.last_seq;
        self.outbox.push(change);
    }

    /// Drops changes the server has applied.
    pub fn acknowledge(&mut self, applied: u64) -> bool {
        let before = self.outbox.len();
        self.outbox.retain(|c| c.seq > applied);
        before != self.outbox.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn change(task: &str) -> TaskChange {
        TaskChange::new(task, "RUNNING", 1)
    }

    #[test]
    fn changes_are_numbered_kept_and_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = AgentState::load(dir.path()).unwrap();
        s.push(change("a"));
        s.push(change("b"));
        s.save(dir.path()).unwrap();
        let mut again = AgentState::load(dir.path()).unwrap();
        assert_eq!(
            again.outbox.iter().map(|c| c.seq).collect::<Vec<_>>(),
            [1, 2]
        );
        assert!(again.acknowledge(1));
        assert!(!again.acknowledge(1));
        again.push(change("c"));
        assert_eq!(
            again.outbox.iter().map(|c| c.seq).collect::<Vec<_>>(),
            [2, 3]
        );
    }
}
