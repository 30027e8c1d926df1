//! The server as a whole: opens the data directory's state, creates the
//! administrator key on first start, and serves the AWS front door (and,
//! once wired, the registry) on one listener.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use dockyard_aws::keys::{AccessKey, KeyStore};
use dockyard_aws::router::{FrontDoor, MAX_BODY_BYTES};
use dockyard_aws::{RequestView, Response as AwsResponse};
use dockyard_store::RedbStore;

use crate::{Body, Handler, Listener, ResponseFuture, full};

/// How a server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub region: String,
    pub account: String,
}

impl ServerConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4566)),
            data_dir: data_dir.into(),
            region: "us-east-1".into(),
            account: "000000000000".into(),
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
    #[error(transparent)]
    Listen(#[from] crate::ServerError),
}

/// The file holding access keys under a data directory.
pub fn keys_path(data_dir: &Path) -> PathBuf {
    data_dir.join("credentials.json")
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

/// Everything a running server holds.
pub struct App {
    front: Arc<FrontDoor>,
    /// Kept open for the services that will store state in it.
    _store: Arc<RedbStore>,
}

impl App {
    pub fn open(cfg: &ServerConfig) -> Result<Self, AppError> {
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
        let keys = KeyStore::open(keys_path(&cfg.data_dir), &cfg.account)?;
        keys.ensure_admin(chrono::Utc::now())?;
        let front = FrontDoor::new(Arc::new(keys), cfg.region.clone());
        Ok(Self {
            front: Arc::new(front),
            _store: store,
        })
    }
}

fn to_hyper(r: AwsResponse) -> http::Response<Body> {
    let (parts, body) = r.into_http().into_parts();
    http::Response::from_parts(parts, full(body))
}

impl Handler for App {
    fn handle(&self, req: Request<Incoming>) -> ResponseFuture {
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
            // containers); keep them off the I/O threads.
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

/// Runs a server until `shutdown` completes.
pub async fn run(
    cfg: ServerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), AppError> {
    let app = App::open(&cfg)?;
    let listener = Listener::bind(cfg.listen, Arc::new(app)).await?;
    tracing::info!("listening on {}", cfg.listen);
    listener.serve(shutdown, Duration::from_secs(10)).await;
    Ok(())
}
