//! Container health checks, as ECS runs them: CMD or CMD-SHELL inside the
//! container every `interval`, a failure after `timeout`, UNHEALTHY after
//! `retries` consecutive failures once `startPeriod` is over.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use dockyard_runtime::ExecConfig;

use super::Worker;

/// Health of one container with a health check.
pub(super) struct Health {
    pub status: &'static str,
    pub failures: u32,
    pub next: Instant,
    pub started: Instant,
    /// The check in flight: its result channel and when it started.
    pub running: Option<(mpsc::Receiver<bool>, Instant)>,
}

impl Worker {
    /// Runs due health checks and folds in finished ones; returns whether
    /// any container's health changed.
    pub(super) fn run_health_checks(&mut self) -> bool {
        let mut changed = false;
        for name in self.order.clone() {
            let Some(def) = self.def(&name).cloned() else {
                continue;
            };
            let Some(hc) = def.health_check.clone() else {
                continue;
            };
            let lc = self.container(&name);
            let Some(id) = lc.runtime_id.clone() else {
                continue;
            };
            if lc.change.as_ref().is_some_and(|c| c.status == "STOPPED") {
                continue;
            }
            let interval = Duration::from_secs(u64::from(hc.interval.unwrap_or(30) as u32));
            let timeout = Duration::from_secs(u64::from(hc.timeout.unwrap_or(5) as u32));
            let retries = hc.retries.unwrap_or(3) as u32;
            let start_period = Duration::from_secs(u64::from(hc.start_period.unwrap_or(0) as u32));
            let Some(h) = self.health.get_mut(&name) else {
                continue;
            };
            // A check that outlives its timeout counts as failed (its
            // process is left to finish on its own).
            let result = match &h.running {
                Some((rx, started)) => match rx.try_recv() {
                    Ok(ok) => Some(ok),
                    Err(mpsc::TryRecvError::Empty) if started.elapsed() < timeout => None,
                    Err(_) => Some(false),
                },
                None => None,
            };
            if let Some(ok) = result {
                h.running = None;
                let before = h.status;
                if ok {
                    h.failures = 0;
                    h.status = "HEALTHY";
                } else if h.started.elapsed() >= start_period {
                    h.failures += 1;
                    if h.failures >= retries {
                        h.status = "UNHEALTHY";
                    }
                }
                if before != h.status {
                    changed = true;
                    let s = h.status.to_string();
                    self.set_container(&name, |lc| {
                        if let Some(c) = lc.change.as_mut() {
                            c.health_status = Some(s);
                        }
                    });
                }
                continue;
            }
            let Some(h) = self.health.get_mut(&name) else {
                continue;
            };
            if h.running.is_none() && Instant::now() >= h.next {
                h.next = Instant::now() + interval;
                let args = match hc.command.first().map(String::as_str) {
                    Some("CMD-SHELL") => {
                        vec!["/bin/sh".into(), "-c".into(), hc.command[1..].join(" ")]
                    }
                    Some("CMD") => hc.command[1..].to_vec(),
                    _ => continue,
                };
                let (tx, rx) = mpsc::channel();
                h.running = Some((rx, Instant::now()));
                let shared = self.shared.clone();
                let spawned = std::thread::Builder::new()
                    .name("health".into())
                    .spawn(move || {
                        let code = shared.engine.exec(
                            &id,
                            &ExecConfig {
                                args,
                                env: vec![],
                                cwd: None,
                                user: None,
                            },
                        );
                        let _ = tx.send(matches!(code, Ok(0)));
                    });
                if spawned.is_err() {
                    h.running = None;
                }
            }
        }
        changed
    }

    /// The task's health as ECS derives it from essential containers.
    pub(super) fn task_health(&self) -> Option<String> {
        let mut any = false;
        let mut all_healthy = true;
        for (name, h) in &self.health {
            if !self.def(name).is_some_and(|d| d.essential.unwrap_or(true)) {
                continue;
            }
            any = true;
            if h.status == "UNHEALTHY" {
                return Some("UNHEALTHY".into());
            }
            all_healthy &= h.status == "HEALTHY";
        }
        Some(
            if any && all_healthy {
                "HEALTHY"
            } else {
                "UNKNOWN"
            }
            .into(),
        )
    }
}
