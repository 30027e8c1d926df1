//! One task's thread: pull, network, start containers in dependency order,
//! watch them (exits, health checks), and stop everything when asked or
//! when an essential container exits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;

use dockyard_agentproto::{ContainerChange, DesiredTask, NetworkBinding, TaskChange, TaskNetwork};
use dockyard_engine::SharedNetwork;
use dockyard_image::RegistryAuth;
use dockyard_net::NetworkMode;
use dockyard_runtime::Status;
use dockyard_taskdef::ContainerDefinition;

mod health;

use crate::Shared;
use crate::containers::{run_spec, start_order};
use crate::state::{LocalContainer, LocalTask};
use health::Health;

/// How often a task's containers are looked at.
const TICK: Duration = Duration::from_millis(50);

struct Ctl {
    desired: Mutex<DesiredTask>,
    /// The server no longer lists the task: stop it.
    abandoned: AtomicBool,
    /// The agent is shutting down: leave the containers running.
    detached: AtomicBool,
    finished: AtomicBool,
}

pub(crate) struct Handle {
    ctl: Arc<Ctl>,
}

impl Handle {
    pub fn update(&self, d: DesiredTask) {
        if let Ok(mut cur) = self.ctl.desired.lock() {
            *cur = d;
        }
    }

    pub fn is_finished(&self) -> bool {
        self.ctl.finished.load(Ordering::SeqCst)
    }

    pub fn abandon(&self) {
        self.ctl.abandoned.store(true, Ordering::SeqCst);
    }

    pub fn detach(&self) {
        self.ctl.detached.store(true, Ordering::SeqCst);
    }
}

pub(crate) fn spawn(shared: Arc<Shared>, desired: DesiredTask) -> Handle {
    let ctl = Arc::new(Ctl {
        desired: Mutex::new(desired.clone()),
        abandoned: AtomicBool::new(false),
        detached: AtomicBool::new(false),
        finished: AtomicBool::new(false),
    });
    let c = ctl.clone();
    let name = format!(
        "task-{}",
        &desired.task_id.chars().take(8).collect::<String>()
    );
    let spawned = std::thread::Builder::new().name(name).spawn(move || {
        let mut w = Worker::new(shared, c.clone(), desired);
        w.main();
        c.finished.store(true, Ordering::SeqCst);
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start a task thread: {e}");
        ctl.finished.store(true, Ordering::SeqCst);
    }
    Handle { ctl }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

struct Worker {
    shared: Arc<Shared>,
    ctl: Arc<Ctl>,
    task: DesiredTask,
    arn: String,
    order: Vec<String>,
    health: std::collections::BTreeMap<String, Health>,
    shared_net: Option<SharedNetwork>,
    /// Containers whose log stream exists.
    log_ready: std::collections::BTreeSet<String>,
    last_ship: Instant,
}

/// How often container output is sent to CloudWatch Logs.
const SHIP_EVERY: Duration = Duration::from_millis(500);

impl Worker {
    fn new(shared: Arc<Shared>, ctl: Arc<Ctl>, task: DesiredTask) -> Self {
        let order = start_order(&task.definition.container_definitions);
        Self {
            arn: task.task_arn.clone(),
            shared,
            ctl,
            task,
            order,
            health: Default::default(),
            shared_net: None,
            log_ready: Default::default(),
            last_ship: Instant::now(),
        }
    }

    fn def(&self, name: &str) -> Option<&ContainerDefinition> {
        self.task
            .definition
            .container_definitions
            .iter()
            .find(|c| c.name == name)
    }

    fn local(&self) -> Option<LocalTask> {
        self.shared
            .state
            .lock()
            .ok()
            .and_then(|s| s.tasks.get(&self.arn).cloned())
    }

    fn container(&self, name: &str) -> LocalContainer {
        self.local()
            .and_then(|t| t.containers.get(name).cloned())
            .unwrap_or_default()
    }

    fn change(&self, status: &str) -> TaskChange {
        TaskChange::new(&self.arn, status, now_ms())
    }

    /// Records a change of the task (with every container's latest facts)
    /// and sends it.
    fn report(&self, mut change: TaskChange) {
        let arn = self.arn.clone();
        let status = change.status.clone();
        self.shared.record(|s| {
            let t = s.tasks.get_mut(&arn)?;
            t.status = status;
            change.containers = t
                .containers
                .values()
                .filter_map(|c| c.change.clone())
                .collect();
            if change.network.is_none() {
                change.network = t.network.clone();
            }
            Some(change)
        });
    }

    fn set_container(&self, name: &str, f: impl FnOnce(&mut LocalContainer)) {
        let arn = self.arn.clone();
        self.shared.record(|s| {
            if let Some(t) = s.tasks.get_mut(&arn) {
                f(t.containers.entry(name.to_string()).or_default());
            }
            None
        });
    }

    fn stop_wanted(&self) -> bool {
        self.ctl.abandoned.load(Ordering::SeqCst)
            || self
                .ctl
                .desired
                .lock()
                .map(|d| d.desired_status == "STOPPED")
                .unwrap_or(false)
    }

    fn main(&mut self) {
        let existing = self.local();
        match existing {
            Some(t) if t.finished => return,
            Some(t) if t.containers.values().any(|c| c.runtime_id.is_some()) => {
                // Re-adopted after an agent restart.
                self.shared_net = t.network.as_ref().map(|n| SharedNetwork {
                    netns: std::path::PathBuf::new(),
                    ip: n.ipv4.parse().ok(),
                });
                if let Some(id) = &t.network_id
                    && let Ok(Some(a)) = self.shared.engine.network().get(id)
                {
                    self.shared_net = a.netns.map(|netns| SharedNetwork { netns, ip: a.ip });
                }
            }
            _ => {
                let arn = self.arn.clone();
                let task = self.task.clone();
                self.shared.record(|s| {
                    s.tasks.insert(
                        arn,
                        LocalTask {
                            desired: task,
                            status: "PROVISIONING".into(),
                            containers: Default::default(),
                            network_id: None,
                            network: None,
                            finished: false,
                        },
                    );
                    None
                });
                if self.stop_wanted() {
                    self.finish_without_start("Task stopped before it started", "UserInitiated");
                    return;
                }
                if let Err(reason) = self.start() {
                    self.fail(&reason);
                    return;
                }
            }
        }
        self.watch();
    }

    fn finish_without_start(&mut self, reason: &str, code: &str) {
        for c in self.task.definition.container_definitions.clone() {
            self.set_container(&c.name, |lc| {
                lc.change = Some(ContainerChange {
                    name: c.name.clone(),
                    status: "STOPPED".into(),
                    runtime_id: None,
                    image_digest: None,
                    exit_code: None,
                    reason: None,
                    network_bindings: vec![],
                    health_status: None,
                });
            });
        }
        let mut c = self.change("STOPPED");
        c.stopped_reason = Some(reason.to_string());
        c.stop_code = Some(code.to_string());
        c.execution_stopped_ms = Some(now_ms());
        self.mark_finished();
        self.report(c);
    }

    fn mark_finished(&self) {
        let arn = self.arn.clone();
        self.shared.record(|s| {
            if let Some(t) = s.tasks.get_mut(&arn) {
                t.finished = true;
            }
            None
        });
    }

    /// A task that could not start: clean up what exists and report it.
    fn fail(&mut self, reason: &str) {
        tracing::warn!("task {} failed to start: {reason}", self.arn);
        let names = self.order.clone();
        self.ship_logs();
        for name in names.iter().rev() {
            self.remove_container(name);
        }
        for name in &names {
            let short = reason.split(':').next().unwrap_or(reason).to_string();
            self.set_container(name, |lc| {
                let mut ch = lc.change.clone().unwrap_or_else(|| ContainerChange {
                    name: name.clone(),
                    status: "STOPPED".into(),
                    runtime_id: None,
                    image_digest: None,
                    exit_code: None,
                    reason: None,
                    network_bindings: vec![],
                    health_status: None,
                });
                ch.status = "STOPPED".into();
                if ch.reason.is_none() {
                    ch.reason = Some(format!(
                        "{short}: {}",
                        reason.trim_start_matches(&short).trim_start_matches(": ")
                    ));
                }
                lc.change = Some(ch);
            });
        }
        self.release_network();
        self.release_volumes();
        let mut c = self.change("STOPPED");
        c.stopped_reason = Some(reason.to_string());
        c.stop_code = Some("TaskFailedToStart".into());
        c.execution_stopped_ms = Some(now_ms());
        self.mark_finished();
        self.report(c);
    }

    fn registry_auth(&self, image: &str) -> Result<RegistryAuth, String> {
        let host = self.shared.client.authority();
        if !image.starts_with(&format!("{host}/")) {
            return Ok(RegistryAuth::Anonymous);
        }
        let v = self
            .shared
            .rt
            .block_on(self.shared.client.json(
                "ecr",
                "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
                &json!({}),
            ))
            .map_err(|e| format!("getting a registry token: {e}"))?;
        let token = v["authorizationData"][0]["authorizationToken"]
            .as_str()
            .ok_or("the registry token answer had no token")?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token)
            .map_err(|e| format!("registry token: {e}"))?;
        let text = String::from_utf8(decoded).map_err(|e| format!("registry token: {e}"))?;
        let (user, pass) = text
            .split_once(':')
            .ok_or("registry token is not user:password")?;
        Ok(RegistryAuth::Basic(user.to_string(), pass.to_string()))
    }

    fn start(&mut self) -> Result<(), String> {
        crate::containers::check_inputs(&self.task)?;
        crate::volumes::check(&self.task)?;
        let mut pending = self.change("PENDING");
        pending.pull_started_ms = Some(now_ms());
        self.report(pending);
        let mut digests = std::collections::BTreeMap::new();
        for c in &self.task.definition.container_definitions {
            if digests.contains_key(&c.image) {
                continue;
            }
            let auth = self
                .registry_auth(&c.image)
                .map_err(|e| format!("CannotPullContainerError: {e}"))?;
            let rec = self
                .shared
                .engine
                .images()
                .pull(&c.image, auth, &|_| {})
                .map_err(|e| format!("CannotPullContainerError: pull image manifest has been retried 1 time(s): {e}"))?;
            digests.insert(c.image.clone(), Some(rec.manifest_digest.to_string()));
        }
        let mut pulled = self.change("PENDING");
        pulled.pull_stopped_ms = Some(now_ms());
        for c in self.task.definition.container_definitions.clone() {
            let digest = digests.get(&c.image).cloned().flatten();
            self.set_container(&c.name, |lc| {
                lc.change = Some(ContainerChange {
                    name: c.name.clone(),
                    status: "PENDING".into(),
                    runtime_id: None,
                    image_digest: digest,
                    exit_code: None,
                    reason: None,
                    network_bindings: vec![],
                    health_status: None,
                });
            });
        }
        self.report(pulled);
        if self.task.definition.network_mode.as_deref() == Some("awsvpc") {
            self.attach_network()?;
        }
        let started = self.start_ready()?;
        if started {
            let mut c = self.change("RUNNING");
            c.started_ms = Some(now_ms());
            self.report(c);
        }
        Ok(())
    }

    fn attach_network(&mut self) -> Result<(), String> {
        let id = format!(
            "task-{}",
            self.task.task_id.chars().take(32).collect::<String>()
        );
        let a = self
            .shared
            .engine
            .network()
            .attach(&id, NetworkMode::Bridge, &[])
            .map_err(|e| format!("ResourceInitializationError: task network: {e}"))?;
        let ip = a.ip;
        let net = TaskNetwork {
            ipv4: ip.map(|i| i.to_string()).unwrap_or_default(),
            mac: a.mac.clone().unwrap_or_default(),
            subnet_cidr: match (a.ip, a.prefix_len) {
                (Some(i), p) => {
                    let mask = if p == 0 {
                        0
                    } else {
                        u32::MAX << (32 - u32::from(p))
                    };
                    format!("{}/{p}", std::net::Ipv4Addr::from(u32::from(i) & mask))
                }
                _ => String::new(),
            },
            gateway: a.gateway.map(|g| g.to_string()).unwrap_or_default(),
        };
        self.shared_net = a.netns.clone().map(|netns| SharedNetwork { netns, ip });
        let arn = self.arn.clone();
        self.shared.record(|s| {
            if let Some(t) = s.tasks.get_mut(&arn) {
                t.network_id = Some(id);
                t.network = Some(net);
            }
            None
        });
        Ok(())
    }

    /// Whether a container's dependencies allow it to start now; `Err`
    /// when they never will.
    fn deps_met(&self, c: &ContainerDefinition) -> Result<bool, String> {
        for d in &c.depends_on {
            let dep = self.container(&d.container_name);
            let ch = dep.change.as_ref();
            let status = ch.map(|c| c.status.as_str()).unwrap_or("PENDING");
            let exit = ch.and_then(|c| c.exit_code);
            let ok = match d.condition.as_str() {
                "START" => dep.runtime_id.is_some(),
                "COMPLETE" => status == "STOPPED",
                "SUCCESS" => {
                    if status == "STOPPED" && exit != Some(0) {
                        return Err(format!(
                            "CannotStartContainerError: dependency {} of container {} did not succeed (exit code {})",
                            d.container_name,
                            c.name,
                            exit.map(|e| e.to_string())
                                .unwrap_or_else(|| "unknown".into())
                        ));
                    }
                    status == "STOPPED"
                }
                "HEALTHY" => {
                    let h = ch.and_then(|c| c.health_status.as_deref());
                    if h == Some("UNHEALTHY") || status == "STOPPED" {
                        return Err(format!(
                            "CannotStartContainerError: dependency {} of container {} is not healthy",
                            d.container_name, c.name
                        ));
                    }
                    h == Some("HEALTHY")
                }
                _ => true,
            };
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Starts every container whose dependencies are met; returns whether
    /// all have been started.
    fn start_ready(&mut self) -> Result<bool, String> {
        for name in self.order.clone() {
            let lc = self.container(&name);
            if lc.runtime_id.is_some() {
                continue;
            }
            let Some(def) = self.def(&name).cloned() else {
                continue;
            };
            if !self.deps_met(&def)? {
                continue;
            }
            self.start_container(&def)?;
        }
        Ok(self
            .order
            .iter()
            .all(|n| self.container(n).runtime_id.is_some()))
    }

    fn start_container(&mut self, def: &ContainerDefinition) -> Result<(), String> {
        let mut env = self.extra_env();
        if self.shared.metadata.load(Ordering::SeqCst) {
            let mut b = [0u8; 16];
            getrandom::fill(&mut b).map_err(|e| format!("CannotCreateContainerError: {e}"))?;
            let token = hex::encode(b);
            let base = crate::meta::base_url();
            env.push((
                "ECS_CONTAINER_METADATA_URI_V4".into(),
                format!("{base}/v4/{token}"),
            ));
            env.push((
                "ECS_CONTAINER_METADATA_URI".into(),
                format!("{base}/v3/{token}"),
            ));
            if let Some(c) = &self.task.credentials {
                env.push((
                    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI".into(),
                    format!("/v2/credentials/{}", c.id),
                ));
            }
            self.set_container(&def.name, |lc| lc.metadata_token = token);
        }
        let spec = run_spec(&self.task, def, self.shared_net.as_ref(), &env)?;
        let rec = self
            .shared
            .engine
            .create(&spec, false)
            .map_err(|e| format!("CannotCreateContainerError: {e}"))?;
        let id = rec.id.clone();
        self.set_container(&def.name, |lc| lc.runtime_id = Some(id.clone()));
        self.shared
            .engine
            .start(&rec.id)
            .map_err(|e| format!("CannotStartContainerError: {e}"))?;
        let address = "0.0.0.0".to_string();
        let bindings: Vec<NetworkBinding> = match rec.attachment.as_ref() {
            Some(a) => a
                .ports
                .iter()
                .map(|p| NetworkBinding {
                    bind_ip: p
                        .host_ip
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| address.clone()),
                    container_port: p.container_port,
                    host_port: p.host_port,
                    protocol: p.protocol.to_string(),
                })
                .collect(),
            None if self.task.definition.network_mode.as_deref() == Some("host") => def
                .port_mappings
                .iter()
                .filter_map(|p| {
                    let port = p.container_port? as u16;
                    Some(NetworkBinding {
                        bind_ip: address.clone(),
                        container_port: port,
                        host_port: port,
                        protocol: p.protocol.clone().unwrap_or_else(|| "tcp".into()),
                    })
                })
                .collect(),
            None => vec![],
        };
        if def.health_check.is_some() {
            self.health.insert(
                def.name.clone(),
                Health {
                    status: "UNKNOWN",
                    failures: 0,
                    next: Instant::now(),
                    started: Instant::now(),
                    running: None,
                },
            );
        }
        let name = def.name.clone();
        let health = def.health_check.as_ref().map(|_| "UNKNOWN".to_string());
        self.set_container(&def.name, |lc| {
            let prev = lc.change.take();
            lc.change = Some(ContainerChange {
                name,
                status: "RUNNING".into(),
                runtime_id: Some(rec.id.clone()),
                image_digest: prev.and_then(|p| p.image_digest),
                exit_code: None,
                reason: None,
                network_bindings: bindings,
                health_status: health,
            });
        });
        Ok(())
    }

    fn extra_env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_REGION".into(), self.task.region.clone()),
            ("AWS_DEFAULT_REGION".into(), self.task.region.clone()),
        ]
    }

    /// Watches the containers until the task has stopped.
    fn watch(&mut self) {
        let mut announced_running = self.local().is_some_and(|t| t.status == "RUNNING");
        loop {
            if self.ctl.detached.load(Ordering::SeqCst) {
                return;
            }
            if self.stop_wanted() {
                let (reason, code) = self
                    .ctl
                    .desired
                    .lock()
                    .map(|d| (d.stop_reason.clone(), None::<String>))
                    .unwrap_or((None, None));
                let reason = reason.unwrap_or_else(|| "Task stopped by the server".into());
                self.stop_all(&reason, code.as_deref().unwrap_or("UserInitiated"), false);
                return;
            }
            let mut changed = false;
            let mut essential_exit = None;
            for name in self.order.clone() {
                let lc = self.container(&name);
                let Some(id) = lc.runtime_id.clone() else {
                    continue;
                };
                if lc.change.as_ref().is_some_and(|c| c.status == "STOPPED") {
                    continue;
                }
                let Ok(st) = self.shared.engine.state(&id) else {
                    continue;
                };
                if st.status == Status::Exited {
                    self.record_exit(&name, &st);
                    changed = true;
                    if self.def(&name).is_some_and(|d| d.essential.unwrap_or(true)) {
                        essential_exit = Some(name.clone());
                    }
                }
            }
            if let Some(name) = essential_exit {
                tracing::info!("task {}: essential container {name} exited", self.arn);
                self.stop_all(
                    "Essential container in task exited",
                    "EssentialContainerExited",
                    true,
                );
                return;
            }
            changed |= self.run_health_checks();
            if self.last_ship.elapsed() >= SHIP_EVERY {
                self.ship_logs();
            }
            match self.start_ready() {
                Ok(all) if all && !announced_running => {
                    announced_running = true;
                    let mut c = self.change("RUNNING");
                    c.started_ms = Some(now_ms());
                    c.health_status = self.task_health();
                    self.report(c);
                    changed = false;
                }
                Ok(_) => {}
                Err(reason) => {
                    self.stop_all(&reason, "TaskFailedToStart", true);
                    return;
                }
            }
            let all_exited = self.order.iter().all(|n| {
                self.container(n)
                    .change
                    .is_some_and(|c| c.status == "STOPPED")
            });
            if all_exited {
                self.stop_all(
                    "All containers in task exited",
                    "EssentialContainerExited",
                    true,
                );
                return;
            }
            if changed {
                let status = self
                    .local()
                    .map(|t| t.status)
                    .unwrap_or_else(|| "RUNNING".into());
                let mut c = self.change(&status);
                c.health_status = self.task_health();
                self.report(c);
            }
            std::thread::sleep(TICK);
        }
    }

    fn record_exit(&self, name: &str, st: &dockyard_runtime::ContainerState) {
        let exit = st.exit.clone();
        self.set_container(name, |lc| {
            if let Some(ch) = lc.change.as_mut() {
                ch.status = "STOPPED".into();
                if let Some(e) = &exit {
                    ch.exit_code = Some(e.exit_code);
                    if e.oom_killed {
                        ch.reason =
                            Some("OutOfMemoryError: Container killed due to memory usage".into());
                    } else if let Some(err) = &e.error {
                        ch.reason = Some(err.clone());
                    }
                }
            }
        });
    }

    /// Sends new output of every `awslogs` container.
    fn ship_logs(&mut self) {
        self.last_ship = Instant::now();
        for name in self.order.clone() {
            let Some(def) = self.def(&name) else { continue };
            let Some(dest) = crate::logship::destination(&self.task, def) else {
                continue;
            };
            let lc = self.container(&name);
            let Some(id) = lc.runtime_id.clone() else {
                continue;
            };
            if !self.log_ready.contains(&name) {
                if let Err(e) = crate::logship::prepare(&self.shared, &dest) {
                    tracing::warn!("log stream {} of task {}: {e}", dest.stream, self.arn);
                    continue;
                }
                self.log_ready.insert(name.clone());
            }
            match crate::logship::ship(&self.shared, &dest, &id, lc.log_offset) {
                Ok(off) if off != lc.log_offset => {
                    let arn = self.arn.clone();
                    self.shared.record(|s| {
                        if let Some(c) = s
                            .tasks
                            .get_mut(&arn)
                            .and_then(|t| t.containers.get_mut(&name))
                        {
                            c.log_offset = off;
                        }
                        None
                    });
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("shipping logs of {name} in task {}: {e}", self.arn),
            }
        }
    }

    fn remove_container(&self, name: &str) {
        if let Some(id) = self.container(name).runtime_id
            && let Err(e) = self.shared.engine.remove(&id, true)
        {
            tracing::warn!("removing container {id} of task {}: {e}", self.arn);
        }
    }

    /// Removes the task-scoped volumes once every container is gone.
    fn release_volumes(&self) {
        for v in crate::volumes::task_scoped(&self.task) {
            if let Err(e) = self.shared.engine.volumes().remove(&v) {
                tracing::warn!("removing volume {v} of task {}: {e}", self.arn);
            }
        }
    }

    fn release_network(&self) {
        if let Some(id) = self.local().and_then(|t| t.network_id)
            && let Err(e) = self.shared.engine.network().detach(&id)
        {
            tracing::warn!("releasing the network of task {}: {e}", self.arn);
        }
    }

    /// Stops every container (reverse start order, each with its
    /// stopTimeout), cleans up and reports the task STOPPED.
    fn stop_all(&mut self, reason: &str, code: &str, own: bool) {
        let mut c = self.change("STOPPING");
        if own {
            c.stopped_reason = Some(reason.to_string());
            c.stop_code = Some(code.to_string());
        }
        self.report(c);
        for name in self.order.clone().iter().rev() {
            let lc = self.container(name);
            let Some(id) = lc.runtime_id.clone() else {
                continue;
            };
            if lc.change.as_ref().is_none_or(|c| c.status != "STOPPED") {
                let grace = self
                    .def(name)
                    .and_then(|d| d.stop_timeout)
                    .map(|t| u64::from(t as u32))
                    .unwrap_or(30);
                if let Err(e) = self
                    .shared
                    .engine
                    .stop(&id, Some(Duration::from_secs(grace)))
                {
                    tracing::warn!("stopping container {id}: {e}");
                }
                if let Ok(st) = self.shared.engine.state(&id) {
                    self.record_exit(name, &st);
                }
            }
        }
        let exec_stopped = now_ms();
        let awsvpc = self.local().is_some_and(|t| t.network_id.is_some());
        if awsvpc {
            let mut c = self.change("DEPROVISIONING");
            c.execution_stopped_ms = Some(exec_stopped);
            self.report(c);
        }
        self.ship_logs();
        for name in self.order.clone().iter().rev() {
            self.remove_container(name);
        }
        self.release_network();
        self.release_volumes();
        let mut c = self.change("STOPPED");
        c.execution_stopped_ms = Some(exec_stopped);
        if own {
            c.stopped_reason = Some(reason.to_string());
            c.stop_code = Some(code.to_string());
        }
        self.mark_finished();
        self.report(c);
    }
}
