//! Runs the data plane with a static configuration, for bench/lb.sh: one
//! ALB listener round-robining over the backends and, optionally, one NLB
//! listener in front of one TCP target.
//!
//! cargo run --release -p dockyard-lb --example lb_bench_proxy -- \
//!     --listen 127.0.0.1:8000 --backend 127.0.0.1:9001 --backend 127.0.0.1:9002

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use dockyard_lb::{
    DataPlane, DataPlaneOptions, FlowSteering, HealthCheck, KernelSteering, LbConfig,
    ListenerConfig, Protocol, Target, TargetGroupConfig, TargetHealthState,
};

#[derive(Parser)]
struct Args {
    /// ALB (HTTP) listener address.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// HTTP targets of the ALB listener (repeat).
    #[arg(long)]
    backend: Vec<SocketAddr>,
    /// NLB (TCP) listener address.
    #[arg(long)]
    nlb_listen: Option<SocketAddr>,
    /// TCP target of the NLB listener (repeat).
    #[arg(long)]
    nlb_backend: Vec<SocketAddr>,
    /// Has the kernel forward the NLB listener's connections, with DNAT
    /// rules in this nft table (needs root); without it the splice relay
    /// carries them.
    #[arg(long)]
    nlb_kernel_table: Option<String>,
    /// Tokio worker threads (the peers in the bench run one worker each).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Tokio's event_interval: tasks run between two polls for I/O events.
    /// The server uses 64: connections yield before they write, so the
    /// writes of up to that many tasks leave in one turn and the peers
    /// they wake are woken once for several (measured on 2 cores, with
    /// the fast path: 1.12x HAProxy's req/s at 64 connections with 64,
    /// 1.01x with 8).
    #[arg(long, default_value_t = 64)]
    event_interval: u32,
}

fn group(arn: &str, protocol: Protocol, targets: &[SocketAddr]) -> TargetGroupConfig {
    let mut tg = TargetGroupConfig::new(arn, protocol);
    tg.targets = targets.iter().map(|a| Target::new(*a)).collect();
    tg.health_check = HealthCheck {
        interval: Duration::from_secs(5),
        ..HealthCheck::defaults_for(protocol)
    };
    tg
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .event_interval(args.event_interval)
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .event_interval(args.event_interval)
            .enable_all()
            .build()?
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut config = LbConfig::default();
    if let Some(listen) = args.listen {
        if args.backend.is_empty() {
            bail!("--listen needs at least one --backend");
        }
        config
            .listeners
            .push(ListenerConfig::http("alb", listen, "tg/http"));
        config.target_groups.insert(
            "tg/http".into(),
            group("tg/http", Protocol::Http, &args.backend),
        );
    }
    if let Some(listen) = args.nlb_listen {
        if args.nlb_backend.is_empty() {
            bail!("--nlb-listen needs at least one --nlb-backend");
        }
        config
            .listeners
            .push(ListenerConfig::tcp("nlb", listen, "tg/tcp"));
        config.target_groups.insert(
            "tg/tcp".into(),
            group("tg/tcp", Protocol::Tcp, &args.nlb_backend),
        );
    }
    let steering = match &args.nlb_kernel_table {
        Some(table) => Some(Arc::new(
            KernelSteering::new(table, "dockyard lb bench").map_err(anyhow::Error::msg)?,
        ) as Arc<dyn FlowSteering>),
        None => None,
    };
    let plane = DataPlane::new(DataPlaneOptions {
        steering,
        ..DataPlaneOptions::default()
    });
    let report = plane.apply(config).await;
    if let Some((arn, e)) = report.errors.iter().next() {
        bail!("listener {arn}: {e}");
    }
    // Start measuring only once every target is healthy.
    let mut feed = plane.subscribe_health();
    tokio::time::timeout(
        Duration::from_secs(30),
        feed.wait_for(|m| m.values().all(|h| h.state == TargetHealthState::Healthy)),
    )
    .await
    .context("targets did not become healthy")??;
    let bound: BTreeMap<_, _> = report.bound.iter().collect();
    println!("ready {bound:?}");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    plane.shutdown().await;
    Ok(())
}
