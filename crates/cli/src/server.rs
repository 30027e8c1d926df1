//! `dockyard server` and `dockyard credentials`.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use clap::Args;

use dockyard_server::app::{ServerConfig, admin_key, run};

#[derive(Args, Debug)]
pub struct ServerArgs {
    /// Address of the one API port (every AWS API and the registry).
    #[arg(long, default_value = "127.0.0.1:4566", env = "DOCKYARD_LISTEN")]
    pub listen: SocketAddr,
    #[arg(long, default_value = "us-east-1", env = "DOCKYARD_REGION")]
    pub region: String,
    #[arg(long, default_value = "000000000000", env = "DOCKYARD_ACCOUNT")]
    pub account: String,
    /// Run no built-in agent: FARGATE tasks then have no capacity, and
    /// EC2 tasks run on the instances `dockyard agent` registers.
    #[arg(long)]
    pub no_local_agent: bool,
    /// Seconds an idle agent poll is held; an agent silent for three of
    /// these is marked disconnected.
    #[arg(long, default_value_t = 10, env = "DOCKYARD_AGENT_POLL_SECONDS")]
    pub agent_poll_seconds: u64,
    /// Seconds an agent may stay disconnected before its tasks are
    /// declared lost (STOPPED) and their services replace them.
    #[arg(long, default_value_t = 60, env = "DOCKYARD_NODE_LOST_SECONDS")]
    pub node_lost_seconds: u64,
    /// The address load balancer listeners bind on (a listener on port P
    /// is served at this address, port P). Defaults to the API address.
    #[arg(long, env = "DOCKYARD_LB_ADDRESS")]
    pub lb_address: Option<IpAddr>,
}

#[derive(Args, Debug)]
pub struct CredentialsArgs {
    /// The server's address, for AWS_ENDPOINT_URL.
    #[arg(long, default_value = "127.0.0.1:4566", env = "DOCKYARD_LISTEN")]
    pub listen: SocketAddr,
    #[arg(long, default_value = "us-east-1", env = "DOCKYARD_REGION")]
    pub region: String,
    #[arg(long, default_value = "000000000000", env = "DOCKYARD_ACCOUNT")]
    pub account: String,
    /// Print an `~/.aws/credentials`-style profile instead of exports.
    #[arg(long)]
    pub profile: Option<String>,
}

pub fn server(
    data_dir: &Path,
    a: &ServerArgs,
    local_agent: Option<dockyard_engine::EngineConfig>,
) -> anyhow::Result<i32> {
    let cfg = ServerConfig {
        listen: a.listen,
        data_dir: data_dir.to_path_buf(),
        region: a.region.clone(),
        account: a.account.clone(),
        local_agent,
        poll_seconds: a.agent_poll_seconds.max(1),
        node_lost_seconds: a.node_lost_seconds,
        lb_address: a.lb_address.unwrap_or(a.listen.ip()),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let shutdown = crate::shutdown_signal();
        eprintln!(
            "dockyard server listening on http://{} (data dir {})",
            cfg.listen,
            cfg.data_dir.display()
        );
        run(cfg, shutdown).await
    })?;
    Ok(0)
}

pub fn credentials(data_dir: &Path, a: &CredentialsArgs) -> anyhow::Result<i32> {
    let key = admin_key(data_dir, &a.account)?;
    let endpoint = format!("http://{}", a.listen);
    match &a.profile {
        Some(p) => {
            println!("[{p}]");
            println!("aws_access_key_id = {}", key.access_key_id);
            println!("aws_secret_access_key = {}", key.secret_access_key);
            println!("region = {}", a.region);
            println!("endpoint_url = {endpoint}");
        }
        None => {
            println!("export AWS_ACCESS_KEY_ID={}", key.access_key_id);
            println!("export AWS_SECRET_ACCESS_KEY={}", key.secret_access_key);
            println!("export AWS_DEFAULT_REGION={}", a.region);
            println!("export AWS_ENDPOINT_URL={endpoint}");
        }
    }
    Ok(0)
}
