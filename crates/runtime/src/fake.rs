//! An in-memory [`RuntimeDriver`] for unit tests of the layers above: it
//! records what it is asked and lets a test decide when containers exit.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::config::{ContainerConfig, ExecConfig};
use crate::error::RuntimeError;
use crate::state::{ContainerState, ExitInfo, Status};
use crate::{RuntimeDriver, Stats};

#[derive(Default)]
struct Inner {
    containers: BTreeMap<String, (ContainerConfig, ContainerState)>,
    signals: Vec<(String, i32)>,
}

/// A driver whose containers are records; [`FakeDriver::exit`] ends one.
#[derive(Default)]
pub struct FakeDriver {
    inner: Mutex<Inner>,
    exited: Condvar,
}

impl FakeDriver {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes a container exit with `code`.
    pub fn exit(&self, id: &str, code: i32) {
        let mut g = self.lock();
        if let Some((_, st)) = g.containers.get_mut(id) {
            st.status = Status::Exited;
            st.exit = Some(ExitInfo {
                exit_code: code,
                signal: None,
                oom_killed: false,
                finished_at: "now".into(),
                error: None,
            });
        }
        self.exited.notify_all();
    }

    /// The signals sent so far, in order.
    pub fn signals(&self) -> Vec<(String, i32)> {
        self.lock().signals.clone()
    }

    /// The config a container was created with.
    pub fn config(&self, id: &str) -> Option<ContainerConfig> {
        self.lock().containers.get(id).map(|(c, _)| c.clone())
    }
}

impl RuntimeDriver for FakeDriver {
    fn create(&self, cfg: &ContainerConfig) -> Result<ContainerState, RuntimeError> {
        if cfg.args.is_empty() {
            return Err(RuntimeError::InvalidConfig("no command specified".into()));
        }
        let mut g = self.lock();
        if g.containers.contains_key(&cfg.id) {
            return Err(RuntimeError::AlreadyExists(cfg.id.clone()));
        }
        let st = ContainerState {
            id: cfg.id.clone(),
            status: Status::Created,
            pid: Some(1000 + g.containers.len() as i32),
            shim_pid: None,
            created_at: "now".into(),
            started_at: None,
            exit: None,
        };
        g.containers
            .insert(cfg.id.clone(), (cfg.clone(), st.clone()));
        Ok(st)
    }

    fn start(&self, id: &str) -> Result<ContainerState, RuntimeError> {
        let mut g = self.lock();
        let (_, st) = g
            .containers
            .get_mut(id)
            .ok_or_else(|| RuntimeError::NotFound(id.into()))?;
        if st.status != Status::Created {
            return Err(RuntimeError::WrongState {
                id: id.into(),
                state: st.status.to_string(),
                what: "not created".into(),
            });
        }
        st.status = Status::Running;
        st.started_at = Some("now".into());
        Ok(st.clone())
    }

    fn wait(&self, id: &str) -> Result<ExitInfo, RuntimeError> {
        let mut g = self.lock();
        loop {
            let (_, st) = g
                .containers
                .get(id)
                .ok_or_else(|| RuntimeError::NotFound(id.into()))?;
            if let Some(e) = &st.exit {
                return Ok(e.clone());
            }
            g = self.exited.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn signal(&self, id: &str, signal: i32) -> Result<(), RuntimeError> {
        let mut g = self.lock();
        if !g.containers.contains_key(id) {
            return Err(RuntimeError::NotFound(id.into()));
        }
        g.signals.push((id.to_string(), signal));
        Ok(())
    }

    fn stop(&self, id: &str, signal: i32, _grace: Duration) -> Result<ExitInfo, RuntimeError> {
        self.signal(id, signal)?;
        self.exit(id, 128 + signal);
        self.wait(id)
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let mut g = self.lock();
        let (_, st) = g
            .containers
            .get(id)
            .ok_or_else(|| RuntimeError::NotFound(id.into()))?;
        if st.status == Status::Running && !force {
            return Err(RuntimeError::WrongState {
                id: id.into(),
                state: "running".into(),
                what: "stop it first".into(),
            });
        }
        g.containers.remove(id);
        Ok(())
    }

    fn exec(&self, id: &str, _exec: &ExecConfig) -> Result<i32, RuntimeError> {
        self.state(id).map(|_| 0)
    }

    fn stats(&self, id: &str) -> Result<Stats, RuntimeError> {
        self.state(id).map(|_| Stats::default())
    }

    fn state(&self, id: &str) -> Result<ContainerState, RuntimeError> {
        self.lock()
            .containers
            .get(id)
            .map(|(_, s)| s.clone())
            .ok_or_else(|| RuntimeError::NotFound(id.into()))
    }

    fn log_path(&self, id: &str) -> Result<std::path::PathBuf, RuntimeError> {
        self.state(id)
            .map(|_| std::env::temp_dir().join(format!("fake-{id}.log")))
    }

    fn recover(&self) -> Result<Vec<ContainerState>, RuntimeError> {
        Ok(self
            .lock()
            .containers
            .values()
            .map(|(_, s)| s.clone())
            .collect())
    }
}
