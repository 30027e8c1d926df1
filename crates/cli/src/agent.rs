//! `dockyard agent`: a node agent for a cluster (EC2 launch type).

use std::collections::BTreeMap;
use std::path::Path;

use clap::Args;

use dockyard_agent::{Agent, AgentConfig, AgentCredentials};
use dockyard_agentproto::NodeKind;

#[derive(Args, Debug)]
pub struct AgentArgs {
    /// The server's URL, e.g. `http://10.0.0.1:4566` (`AWS_ENDPOINT_URL`).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub server: String,
    /// The cluster to join.
    #[arg(long, default_value = "default", env = "ECS_CLUSTER")]
    pub cluster: String,
    #[arg(long, env = "AWS_DEFAULT_REGION", default_value = "us-east-1")]
    pub region: String,
    /// The node's availability zone (`ecs.availability-zone`).
    #[arg(long)]
    pub availability_zone: Option<String>,
    /// A custom attribute, `NAME=VALUE` (repeatable).
    #[arg(long = "attribute", value_name = "NAME=VALUE")]
    pub attributes: Vec<String>,
    /// CPU units to offer (1024 per core); the machine's by default.
    #[arg(long)]
    pub cpu: Option<u32>,
    /// Memory to offer in MiB; the machine's by default.
    #[arg(long)]
    pub memory: Option<u32>,
    /// The address tasks' published ports are reached at.
    #[arg(long)]
    pub address: Option<String>,
    /// Where the agent keeps its state (default: `DATA_DIR/agent-CLUSTER`).
    #[arg(long)]
    pub state_dir: Option<std::path::PathBuf>,
    /// The node's name (the hostname it registers with, and the attribute
    /// `dockyard.node-name`); the machine's hostname by default. Gives
    /// several agents on one machine names of their own.
    #[arg(long)]
    pub name: Option<String>,
}

pub fn agent(
    data_dir: &Path,
    a: &AgentArgs,
    engine: dockyard_engine::EngineConfig,
) -> anyhow::Result<i32> {
    let var = |k: &str| {
        std::env::var(k).map_err(|_| {
            anyhow::anyhow!("{k} is not set: export the credentials `dockyard credentials` prints")
        })
    };
    let credentials = AgentCredentials {
        access_key_id: var("AWS_ACCESS_KEY_ID")?,
        secret_access_key: var("AWS_SECRET_ACCESS_KEY")?,
        session_token: std::env::var("AWS_SESSION_TOKEN").ok(),
    };
    let mut attributes = BTreeMap::new();
    for kv in &a.attributes {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--attribute takes NAME=VALUE, not {kv}"))?;
        attributes.insert(k.to_string(), v.to_string());
    }
    // The name is also an attribute, so placement can select by it.
    if let Some(n) = &a.name {
        attributes.insert("dockyard.node-name".into(), n.clone());
    }
    if let Some(z) = &a.availability_zone {
        attributes.insert("ecs.availability-zone".into(), z.clone());
    }
    let cfg = AgentConfig {
        server: a.server.clone(),
        region: a.region.clone(),
        credentials,
        kind: NodeKind::Instance,
        cluster: Some(a.cluster.clone()),
        state_dir: a
            .state_dir
            .clone()
            .unwrap_or_else(|| data_dir.join(format!("agent-{}", a.cluster))),
        engine,
        attributes,
        cpu: a.cpu,
        memory: a.memory,
        address: a.address.clone(),
        metadata: true,
        name: a.name.clone(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let shutdown = crate::shutdown_signal();
        eprintln!(
            "dockyard agent: joining cluster {} at {}",
            a.cluster, a.server
        );
        Agent::new(cfg)?.run(shutdown).await
    })?;
    Ok(0)
}
