//! The node agent: registers its node with the server, keeps a session
//! (the long poll of `dockyard_agentproto`), and drives each assigned task
//! toward its desired state with the node's container engine.
//!
//! One thread per task does the blocking work (pulls, container creation,
//! health checks, stops); they record what they see in the agent's state,
//! which numbers each change, saves it durably and wakes the session so
//! the change goes up at once. A restarted agent loads that state, finds
//! its containers still running (their shims outlive it) and carries on.

mod client;
mod containers;
mod logship;
mod meta;
mod state;
mod task;
mod volumes;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dockyard_agentproto::{
    DesiredTask, NodeKind, POLL_PATH, PollRequest, PollResponse, REGISTER_PATH, RegisterRequest,
    RegisterResponse, TaskChange, TaskUsage, Usage,
};
use dockyard_engine::{Engine, EngineConfig};

pub use client::{AgentCredentials, Client, ClientError};
pub use state::AgentState;

/// How an agent is set up.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// `http://HOST:PORT` of the server.
    pub server: String,
    pub region: String,
    pub credentials: AgentCredentials,
    pub kind: NodeKind,
    /// The cluster to join (instances).
    pub cluster: Option<String>,
    /// Where the agent keeps its own state.
    pub state_dir: PathBuf,
    pub engine: EngineConfig,
    /// Custom attributes, and `ecs.availability-zone`.
    pub attributes: BTreeMap<String, String>,
    /// Resources to offer instead of the machine's.
    pub cpu: Option<u32>,
    pub memory: Option<u32>,
    /// The address tasks' published ports are reached at.
    pub address: Option<String>,
    /// Serve task metadata and credentials at `http://169.254.170.2`.
    pub metadata: bool,
    /// The node's name as ECS reports it (its hostname); the machine's
    /// by default. Several agents on one machine are told apart by it.
    pub name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error("container engine: {0}")]
    Engine(#[from] dockyard_engine::EngineError),
}

/// What every task thread shares.
pub(crate) struct Shared {
    pub engine: Engine,
    pub state: Mutex<AgentState>,
    pub state_dir: PathBuf,
    pub wake: tokio::sync::Notify,
    pub client: Client,
    pub rt: tokio::runtime::Handle,
    /// Whether containers can reach the metadata endpoint.
    pub metadata: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// Runs `f` on the state and saves it; a change `f` returns is
    /// numbered, queued and sent at once.
    pub fn record(&self, f: impl FnOnce(&mut AgentState) -> Option<TaskChange>) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        let change = f(&mut s);
        let queued = change.is_some();
        if let Some(c) = change {
            s.push(c);
        }
        if let Err(e) = s.save(&self.state_dir) {
            tracing::error!("{e}");
        }
        drop(s);
        if queued {
            self.wake.notify_one();
        }
    }
}

/// The machine's CPU units (1024 per core) and memory in MiB.
pub fn machine_resources() -> (u32, u32) {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    let mem_mib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| (kb / 1024) as u32)
        .unwrap_or(1024);
    (cpus * 1024, mem_mib)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// A running agent.
pub struct Agent {
    cfg: AgentConfig,
    shared: Arc<Shared>,
    workers: HashMap<String, task::Handle>,
    poll_seconds: u64,
}

impl Agent {
    pub fn new(cfg: AgentConfig) -> Result<Self, AgentError> {
        let client = Client::new(&cfg.server, &cfg.region, cfg.credentials.clone())?;
        let engine = Engine::open(cfg.engine.clone())?;
        let state = AgentState::load(&cfg.state_dir)?;
        let shared = Arc::new(Shared {
            engine,
            state: Mutex::new(state),
            state_dir: cfg.state_dir.clone(),
            wake: tokio::sync::Notify::new(),
            client,
            rt: tokio::runtime::Handle::current(),
            metadata: std::sync::atomic::AtomicBool::new(false),
        });
        Ok(Self {
            cfg,
            shared,
            workers: HashMap::new(),
            poll_seconds: 10,
        })
    }

    async fn register(&mut self) -> Result<String, AgentError> {
        let (cpu, memory) = machine_resources();
        let (node_id, cluster) = {
            let s = self.shared.state.lock().map_err(|_| poisoned())?;
            (s.node_id.clone(), s.cluster.clone())
        };
        // A node id belongs to the cluster it was registered in.
        let node_id = node_id.filter(|_| cluster == self.cfg.cluster);
        let req = RegisterRequest {
            kind: self.cfg.kind,
            cluster: self.cfg.cluster.clone(),
            node_id,
            cpu: self.cfg.cpu.unwrap_or(cpu),
            memory: self.cfg.memory.unwrap_or(memory),
            reserved_ports: vec![],
            attributes: self.cfg.attributes.clone(),
            address: self
                .cfg
                .address
                .clone()
                .unwrap_or_else(|| "127.0.0.1".into()),
            hostname: self.cfg.name.clone().unwrap_or_else(hostname),
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        let r: RegisterResponse = self
            .shared
            .client
            .agent(REGISTER_PATH, &req, Duration::from_secs(30))
            .await?;
        self.poll_seconds = r.poll_seconds.max(1);
        let id = r.node_id.clone();
        let cluster = self.cfg.cluster.clone();
        self.shared.record(|s| {
            s.node_id = Some(id);
            s.cluster = cluster;
            None
        });
        tracing::info!(
            "registered node {} ({})",
            r.node_id,
            r.container_instance_arn
                .as_deref()
                .unwrap_or("managed capacity")
        );
        Ok(r.node_id)
    }

    fn usage(&self) -> Usage {
        let mut u = Usage::default();
        // Engine container id -> the task it belongs to.
        let owner: HashMap<String, String> = self
            .shared
            .state
            .lock()
            .map(|s| {
                s.tasks
                    .iter()
                    .filter(|(_, t)| !t.finished)
                    .flat_map(|(arn, t)| {
                        t.containers
                            .values()
                            .filter_map(|c| c.runtime_id.clone())
                            .map(move |id| (id, arn.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut per_task: BTreeMap<String, TaskUsage> = BTreeMap::new();
        if let Ok(list) = self.shared.engine.list() {
            for c in list {
                if c.state.status == dockyard_runtime::Status::Running {
                    u.running_containers += 1;
                    if let Ok(st) = self.shared.engine.stats(&c.record.id) {
                        u.cpu_nanos += st.cpu_usage_ns;
                        u.memory_bytes += st.memory_usage;
                        if let Some(arn) = owner.get(&c.record.id) {
                            let t = per_task.entry(arn.clone()).or_insert_with(|| TaskUsage {
                                task_arn: arn.clone(),
                                ..TaskUsage::default()
                            });
                            t.cpu_nanos += st.cpu_usage_ns;
                            t.memory_bytes += st.memory_usage;
                        }
                    }
                }
            }
        }
        u.tasks = per_task.into_values().collect();
        u
    }

    /// Starts, updates and forgets task threads to match the server.
    fn reconcile(&mut self, desired: Vec<DesiredTask>) {
        let listed: Vec<String> = desired.iter().map(|d| d.task_arn.clone()).collect();
        for d in desired {
            match self.workers.get(&d.task_arn) {
                Some(h) => h.update(d),
                None => {
                    let finished = self
                        .shared
                        .state
                        .lock()
                        .map(|s| s.tasks.get(&d.task_arn).is_some_and(|t| t.finished))
                        .unwrap_or(false);
                    if !finished {
                        let arn = d.task_arn.clone();
                        self.workers
                            .insert(arn, task::spawn(self.shared.clone(), d));
                    }
                }
            }
        }
        // Tasks the server no longer lists: stopped and acknowledged.
        let gone: Vec<String> = self
            .workers
            .keys()
            .filter(|a| !listed.contains(a))
            .cloned()
            .collect();
        for arn in gone {
            if let Some(h) = self.workers.get(&arn) {
                if h.is_finished() {
                    self.workers.remove(&arn);
                } else {
                    h.abandon();
                }
            }
        }
        self.shared.record(|s| {
            s.tasks.retain(|arn, t| {
                !(t.finished
                    && !listed.contains(arn)
                    && s.outbox.iter().all(|c| &c.task_arn != arn))
            });
            None
        });
    }

    /// Re-adopts the tasks a previous run of the agent left.
    fn adopt(&mut self) {
        let tasks: Vec<DesiredTask> = self
            .shared
            .state
            .lock()
            .map(|s| {
                s.tasks
                    .values()
                    .filter(|t| !t.finished)
                    .map(|t| t.desired.clone())
                    .collect()
            })
            .unwrap_or_default();
        for d in tasks {
            tracing::info!("re-adopting task {}", d.task_arn);
            let arn = d.task_arn.clone();
            self.workers
                .insert(arn, task::spawn(self.shared.clone(), d));
        }
    }

    /// Runs until `shutdown` completes. Tasks keep running afterwards.
    pub async fn run(
        mut self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), AgentError> {
        tokio::pin!(shutdown);
        let (stop_meta, meta_stopped) = tokio::sync::oneshot::channel::<()>();
        if self.cfg.metadata {
            self.serve_metadata(meta_stopped).await;
        }
        let mut node = loop {
            tokio::select! {
                r = self.register() => match r {
                    Ok(n) => break n,
                    Err(e) => {
                        tracing::warn!("registering with {}: {e}; retrying", self.cfg.server);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
                _ = &mut shutdown => return Ok(()),
            }
        };
        self.adopt();
        let mut seen_version = 0;
        let mut backoff = Duration::from_millis(200);
        loop {
            let changes = self
                .shared
                .state
                .lock()
                .map(|s| s.outbox.clone())
                .unwrap_or_default();
            let req = PollRequest {
                node_id: node.clone(),
                seen_version,
                changes,
                usage: Some(self.usage()),
                no_wait: false,
            };
            let timeout = Duration::from_secs(self.poll_seconds + 15);
            let shared = self.shared.clone();
            let poll = async move {
                shared
                    .client
                    .agent::<_, PollResponse>(POLL_PATH, &req, timeout)
                    .await
            };
            tokio::select! {
                r = poll => match r {
                    Ok(resp) => {
                        backoff = Duration::from_millis(200);
                        let applied = resp.applied_seq;
                        self.shared.record(|s| { s.acknowledge(applied); None });
                        seen_version = resp.version;
                        self.reconcile(resp.tasks);
                    }
                    Err(ClientError::Api { code, message, .. }) if code == "ClientException" && message.contains("not registered") => {
                        tracing::warn!("{message}");
                        match self.register().await {
                            Ok(n) => node = n,
                            Err(e) => {
                                tracing::warn!("registering again: {e}");
                                tokio::time::sleep(backoff).await;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!("session with {}: {e}", self.cfg.server);
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = &mut shutdown => break,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                },
                // A task recorded a change: send it now.
                _ = self.shared.wake.notified() => {}
                _ = &mut shutdown => break,
            }
        }
        for h in self.workers.values() {
            h.detach();
        }
        let _ = stop_meta.send(());
        Ok(())
    }

    /// Serves task metadata at `169.254.170.2`: on port 80 when this is
    /// the machine's first agent (host-mode tasks reach it there), else on
    /// a port of its own; either way its bridge's containers' connections
    /// to port 80 are redirected to it, so every agent on a machine serves
    /// its own tasks.
    async fn serve_metadata(&self, stopped: tokio::sync::oneshot::Receiver<()>) {
        if let Err(e) = meta::ensure_address() {
            tracing::warn!(
                "no task metadata endpoint: adding {}: {e}",
                meta::METADATA_IP
            );
            return;
        }
        let listener = match tokio::net::TcpListener::bind((meta::METADATA_IP, 80)).await {
            Ok(l) => l,
            Err(_) => match tokio::net::TcpListener::bind((meta::METADATA_IP, 0)).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(
                        "no task metadata endpoint: binding {}: {e}",
                        meta::METADATA_IP
                    );
                    return;
                }
            },
        };
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(80);
        let shared = self.shared.clone();
        let redirect = tokio::task::spawn_blocking(move || {
            shared
                .engine
                .network()
                .set_redirect(meta::METADATA_IP, 80, port)
        })
        .await;
        match redirect {
            Ok(Ok(())) => {}
            Ok(Err(e)) if port == 80 => {
                tracing::warn!("redirecting port 80 on the bridge: {e}")
            }
            r => {
                tracing::warn!("no task metadata endpoint: redirecting port 80 to {port}: {r:?}");
                return;
            }
        }
        tracing::info!("task metadata at {}:{port}", meta::METADATA_IP);
        self.shared
            .metadata
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let source = std::sync::Arc::new(meta::AgentMetadata {
            shared: self.shared.clone(),
        });
        tokio::spawn(dockyard_metadata::serve(listener, source, async move {
            let _ = stopped.await;
        }));
    }
}

fn poisoned() -> AgentError {
    AgentError::State(state::StateError::poisoned())
}
