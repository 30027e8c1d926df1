//! The server as a whole: opens the data directory's state, creates the
//! administrator key on first start, and serves the AWS front door and the
//! OCI registry (`/v2/`) on one listener.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use dockyard_acm::AcmService;
use dockyard_agent::{Agent, AgentConfig, AgentCredentials};
use dockyard_agentproto::{NodeKind, TaskCredentials};
use dockyard_aws::keys::{AccessKey, KeyStore};
use dockyard_aws::router::{FrontDoor, MAX_BODY_BYTES};
use dockyard_aws::{RequestView, Response as AwsResponse};
use dockyard_cloudwatch::{CloudWatchService, MetricStore};
use dockyard_control::{AGENT_PATHS, Control};
use dockyard_ecr::{EcrOptions, EcrService};
use dockyard_ecs::{CredentialIssuer, EcsOptions, EcsService};
use dockyard_elbv2::{ElbService, RandomIds};
use dockyard_engine::EngineConfig;
use dockyard_image::FsContentStore;
use dockyard_lbctl::{AcmCertificates, ListenerPorts, ListenerUsers, LoadBalancers};
use dockyard_logs::LogsService;
use dockyard_registry::{Registry, RegistryConfig};
use dockyard_store::RedbStore;

use crate::{Body, Handler, Listener, ResponseFuture, full};

/// How a server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub region: String,
    pub account: String,
    /// The built-in agent (the managed FARGATE capacity) and the engine it
    /// runs tasks with; `None` runs no agent (`--no-local-agent`).
    pub local_agent: Option<EngineConfig>,
    /// How long an idle agent poll is held; agents silent for three of
    /// these are marked disconnected.
    pub poll_seconds: u64,
    /// Seconds a disconnected agent's tasks are kept before they are
    /// declared lost (and their services replace them).
    pub node_lost_seconds: u64,
    /// Where load balancer listeners bind (listener port P at this
    /// address, port P).
    pub lb_address: IpAddr,
}

impl ServerConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4566)),
            data_dir: data_dir.into(),
            region: "us-east-1".into(),
            account: "000000000000".into(),
            local_agent: None,
            poll_seconds: 10,
            node_lost_seconds: 60,
            lb_address: IpAddr::from([127, 0, 0, 1]),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("preparing data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("opening the state store: {0}")]
    Store(#[from] dockyard_store::StoreError),
    #[error("access keys: {0}")]
    Keys(#[from] dockyard_aws::keys::KeyError),
    #[error("registry storage: {0}")]
    Content(#[from] dockyard_image::ContentError),
    #[error(transparent)]
    Listen(#[from] crate::ServerError),
    #[error("logs: {0}")]
    Logs(String),
    #[error("built-in agent: {0}")]
    Agent(#[from] dockyard_agent::AgentError),
    #[error("load balancers: {0}")]
    LoadBalancers(std::io::Error),
}

/// Task role credentials are sessions of the key store, acting as the
/// role (`assumed-role/ROLE/ecs-task-...`).
struct KeyIssuer(Arc<KeyStore>);

/// How long task role credentials last; agents get fresh ones with the
/// task's next desired state.
const TASK_CREDENTIALS_TTL: chrono::Duration = chrono::Duration::hours(6);

impl CredentialIssuer for KeyIssuer {
    fn issue(
        &self,
        role_arn: &str,
        session_name: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<TaskCredentials, String> {
        let role = role_arn.rsplit('/').next().unwrap_or(role_arn);
        let principal = dockyard_aws::Principal::assumed_role(self.0.account(), role, session_name);
        let s = self
            .0
            .issue_session(principal, TASK_CREDENTIALS_TTL, now)
            .map_err(|e| e.to_string())?;
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| e.to_string())?;
        Ok(TaskCredentials {
            id: hex::encode(id),
            role_arn: role_arn.to_string(),
            access_key_id: s.access_key_id,
            secret_access_key: s.secret_access_key,
            session_token: s.session_token,
            expiration: s
                .expiration
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
    }
}

/// The file holding access keys under a data directory.
/// Removes what a server of `data_dir` set up on the host outside it
/// (its load balancer table), for `dockyard system reset`.
pub fn reset_host_state(data_dir: &Path) -> Result<(), String> {
    dockyard_lbctl::remove_kernel_steering(data_dir)
}

pub fn keys_path(data_dir: &Path) -> PathBuf {
    data_dir.join("credentials.json")
}

/// The OSV vulnerability feed the registry's scans read
/// (`dockyard registry load-vulns FILE` installs it; a running server picks
/// a new one up at its next scan).
pub fn vulns_path(data_dir: &Path) -> PathBuf {
    data_dir.join("registry-vulns.json")
}

/// Checks an OSV feed and installs it as the registry's; returns how many
/// vulnerabilities of supported distributions it holds.
pub fn load_vulns(data_dir: &Path, feed: &[u8]) -> Result<usize, String> {
    prepare_data_dir(data_dir).map_err(|e| e.to_string())?;
    dockyard_ecr::install_feed(feed, &vulns_path(data_dir))
}

/// The administrator key, created on first use.
pub fn admin_key(data_dir: &Path, account: &str) -> Result<AccessKey, AppError> {
    prepare_data_dir(data_dir)?;
    let keys = KeyStore::open(keys_path(data_dir), account)?;
    Ok(keys.ensure_admin(chrono::Utc::now())?)
}

fn prepare_data_dir(dir: &Path) -> Result<(), AppError> {
    use std::os::unix::fs::PermissionsExt;
    let err = |source| AppError::DataDir {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)
}

/// CPU units the built-in agent offers per unit the machine has.
const FARGATE_CPU_OVERCOMMIT: u32 = 4;

/// How often the registry collects garbage on its own.
const GC_INTERVAL: Duration = Duration::from_secs(3600);

/// Everything a running server holds.
pub struct App {
    front: Arc<FrontDoor>,
    registry: Registry,
    ecr: Arc<EcrService>,
    control: Arc<Control>,
    ecs: Arc<EcsService>,
    logs: Arc<LogsService>,
    admin: AccessKey,
}

impl App {
    /// Opens the server's state and starts its load balancers (which the
    /// caller stops, blocking, when the server ends).
    pub fn open(cfg: &ServerConfig) -> Result<(Self, LoadBalancers), AppError> {
        prepare_data_dir(&cfg.data_dir)?;
        let state = cfg.data_dir.join("state.redb");
        let store = Arc::new(RedbStore::open(&state)?);
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o600)).map_err(
                |source| AppError::DataDir {
                    path: state.clone(),
                    source,
                },
            )?;
        }
        let keys = Arc::new(KeyStore::open(keys_path(&cfg.data_dir), &cfg.account)?);
        let admin = keys.ensure_admin(chrono::Utc::now())?;
        // The registry's blobs have their own content store: its garbage
        // collection follows registry manifests, the node's image store
        // follows local images, and neither may delete the other's blobs.
        let content = Arc::new(FsContentStore::open(cfg.data_dir.join("registry"))?);
        let (registry, ecr) = EcrService::open(
            keys.clone(),
            store.clone(),
            content,
            RegistryConfig::default(),
            EcrOptions {
                host: cfg.listen.to_string(),
                region: cfg.region.clone(),
                feed_path: vulns_path(&cfg.data_dir),
            },
        )
        .map_err(|source| AppError::DataDir {
            path: cfg.data_dir.clone(),
            source,
        })?;
        let ecr = Arc::new(ecr);
        let lbs = LoadBalancers::start(
            store.clone(),
            cfg.lb_address,
            dockyard_lbctl::kernel_steering(&cfg.data_dir),
        )
        .map_err(AppError::LoadBalancers)?;
        let mut ecs_opts = EcsOptions::new(&cfg.region);
        ecs_opts.poll_seconds = cfg.poll_seconds;
        ecs_opts.node_lost_seconds = cfg.node_lost_seconds;
        let ecs = Arc::new(
            EcsService::new(store.clone(), Arc::new(KeyIssuer(keys.clone())), ecs_opts)
                .with_target_health(lbs.health()),
        );
        let elb = ElbService::new(store.clone(), Arc::new(RandomIds), lbs.health())
            .with_listener_address(cfg.lb_address)
            .with_port_check(Arc::new(ListenerPorts {
                lb_ip: cfg.lb_address,
                api: cfg.listen,
            }))
            .with_certificates(Arc::new(AcmCertificates(store.clone())));
        let acm = Arc::new(
            AcmService::new(store.clone()).with_users(Arc::new(ListenerUsers(store.clone()))),
        );
        let logs = Arc::new(
            LogsService::open(store, cfg.data_dir.join("logs"))
                .map_err(|e| AppError::Logs(e.to_string()))?,
        );
        let metrics = Arc::new(MetricStore::new());
        let cloudwatch = Arc::new(CloudWatchService::new(metrics.clone()));
        let control = Arc::new(
            Control::new(ecs.clone(), keys.clone(), &cfg.region).with_usage_sink(Arc::new(
                crate::usage::EcsUsageMetrics::new(ecs.clone(), metrics.clone()),
            )),
        );
        let front = FrontDoor::new(keys, cfg.region.clone())
            .with_json_service(ecr.clone())
            .with_json_service(ecs.clone())
            .with_json_service(logs.clone())
            .with_json_service(acm)
            .with_json_service(cloudwatch.clone())
            .with_query_service(cloudwatch)
            .with_query_service(Arc::new(elb));
        let app = Self {
            front: Arc::new(front),
            registry,
            ecr,
            control,
            ecs,
            logs,
            admin,
        };
        Ok((app, lbs))
    }
}

fn to_hyper(r: AwsResponse) -> http::Response<Body> {
    let (parts, body) = r.into_http().into_parts();
    http::Response::from_parts(parts, full(body))
}

impl Handler for App {
    fn handle(&self, req: Request<Incoming>) -> ResponseFuture {
        let path = req.uri().path();
        if path == "/v2" || path.starts_with("/v2/") {
            let registry = self.registry.clone();
            return Box::pin(async move { registry.handle(req).await });
        }
        if path.starts_with(AGENT_PATHS) {
            let control = self.control.clone();
            return Box::pin(async move {
                let (parts, body) = req.into_parts();
                let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
                    Ok(b) => b.to_bytes(),
                    Err(_) => {
                        return crate::json(
                            http::StatusCode::PAYLOAD_TOO_LARGE,
                            r#"{"__type":"RequestEntityTooLarge","message":"request body too large"}"#,
                        );
                    }
                };
                let (parts, body) = control.handle(parts, body).await.into_parts();
                http::Response::from_parts(parts, full(body))
            });
        }
        let front = self.front.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    let view = RequestView::from(&parts);
                    return to_hyper(front.body_too_large(view, MAX_BODY_BYTES + 1));
                }
            };
            // Services are synchronous (they touch the store, never wait on
            // containers); keep them off the I/O threads, except the quick
            // reads, for which the hand-off costs more than the call.
            if front.is_quick(&RequestView::from(&parts)) {
                return to_hyper(front.handle(
                    RequestView::from(&parts),
                    &body,
                    chrono::Utc::now(),
                ));
            }
            let res = tokio::task::spawn_blocking(move || {
                front.handle(RequestView::from(&parts), &body, chrono::Utc::now())
            })
            .await;
            match res {
                Ok(r) => to_hyper(r),
                Err(_) => crate::json(
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    r#"{"__type":"InternalFailure","message":"internal failure"}"#,
                ),
            }
        })
    }
}

/// The service scheduler: a round over every service whenever ECS state
/// changes (tasks, services, instances: one store watch), when a service
/// asked to be woken (launch delays, grace periods), and every second
/// regardless. One server runs it; several would need a leader lease.
async fn service_scheduler(ecs: Arc<EcsService>) {
    let store = ecs.store().clone();
    loop {
        let rev = match store.revision() {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("service scheduler: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut watch = match store.watch("ecs/", rev) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!("service scheduler: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let e = ecs.clone();
        let wake =
            match tokio::task::spawn_blocking(move || e.run_services(chrono::Utc::now())).await {
                Ok(Ok(w)) => w,
                Ok(Err(e)) => {
                    tracing::warn!("service scheduler: {}", e.message);
                    None
                }
                Err(e) => {
                    tracing::warn!("service scheduler: {e}");
                    None
                }
            };
        let mut wait = Duration::from_secs(1);
        if let Some(at) = wake {
            let ms = at - chrono::Utc::now().timestamp_millis();
            wait = wait.min(Duration::from_millis(ms.max(0) as u64));
        }
        tokio::select! {
            _ = watch.recv() => {
                // Let a burst of changes (a whole agent report) land first.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Runs a server until `shutdown` completes.
pub async fn run(
    cfg: ServerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), AppError> {
    let (app, lbs) = App::open(&cfg)?;
    let (registry, ecr, logs) = (app.registry.clone(), app.ecr.clone(), app.logs.clone());
    let ecs = app.ecs.clone();
    let monitor = tokio::spawn(app.control.clone().monitor());
    let services = tokio::spawn(service_scheduler(ecs.clone()));
    // Housekeeping: lifecycle policies, then garbage collection, hourly
    // and whenever the operator sends SIGHUP.
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).map_err(
        |source| AppError::DataDir {
            path: cfg.data_dir.clone(),
            source,
        },
    )?;
    let gc = tokio::spawn(async move {
        let mut tick = tokio::time::interval(GC_INTERVAL);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = hup.recv() => tracing::info!("SIGHUP: running registry housekeeping now"),
            }
            let e = ecr.clone();
            match tokio::task::spawn_blocking(move || {
                e.enforce_lifecycle_policies(chrono::Utc::now())
            })
            .await
            {
                Ok(Ok(r)) => tracing::info!("lifecycle policies: {r:?}"),
                Ok(Err(e)) => tracing::warn!("lifecycle policies failed: {e}"),
                Err(e) => tracing::warn!("lifecycle policies failed: {e}"),
            }
            match registry.gc_async().await {
                Ok(r) => tracing::info!("registry gc: {r:?}"),
                Err(e) => tracing::warn!("registry gc failed: {e}"),
            }
            let e = ecs.clone();
            match tokio::task::spawn_blocking(move || e.expire_stopped(chrono::Utc::now())).await {
                Ok(Ok(n)) => tracing::info!("stopped tasks forgotten: {n}"),
                Ok(Err(e)) => tracing::warn!("forgetting stopped tasks failed: {}", e.message),
                Err(e) => tracing::warn!("forgetting stopped tasks failed: {e}"),
            }
            let l = logs.clone();
            match tokio::task::spawn_blocking(move || l.enforce_retention(chrono::Utc::now())).await
            {
                Ok(Ok(n)) => tracing::info!("log retention: {n} removed"),
                Ok(Err(e)) => tracing::warn!("log retention failed: {e}"),
                Err(e) => tracing::warn!("log retention failed: {e}"),
            }
        }
    });
    let admin = app.admin.clone();
    let listener = Listener::bind(cfg.listen, Arc::new(app)).await?;
    tracing::info!("listening on {}", cfg.listen);
    let (stop_agent, agent_stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = match cfg.local_agent.clone() {
        Some(engine) => {
            let mut host = cfg.listen;
            if host.ip().is_unspecified() {
                host.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            let agent = Agent::new(AgentConfig {
                server: format!("http://{host}"),
                region: cfg.region.clone(),
                credentials: AgentCredentials {
                    access_key_id: admin.access_key_id.clone(),
                    secret_access_key: admin.secret_access_key.clone(),
                    session_token: None,
                },
                kind: NodeKind::Fargate,
                cluster: None,
                state_dir: cfg.data_dir.join("agent-local"),
                engine,
                attributes: Default::default(),
                // Managed capacity shares CPU time (tasks get quotas, not
                // cores), so it offers several tasks' worth per core;
                // memory limits are hard and offered as they are.
                cpu: Some(dockyard_agent::machine_resources().0 * FARGATE_CPU_OVERCOMMIT),
                memory: None,
                address: Some(host.ip().to_string()),
                metadata: true,
                name: None,
            })?;
            Some(tokio::spawn(agent.run(async move {
                let _ = agent_stopped.await;
            })))
        }
        None => None,
    };
    // The built-in agent stops first: its long poll would otherwise hold
    // the graceful shutdown open.
    let shutdown = async move {
        shutdown.await;
        let _ = stop_agent.send(());
    };
    listener.serve(shutdown, Duration::from_secs(10)).await;
    if let Some(a) = agent {
        let _ = a.await;
    }
    gc.abort();
    monitor.abort();
    services.abort();
    let _ = tokio::task::spawn_blocking(move || lbs.stop()).await;
    Ok(())
}
