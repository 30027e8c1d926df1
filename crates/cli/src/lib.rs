//! Human commands of `dockyard`: a daemonless, Docker-like CLI over the
//! engine, plus the hidden entry points the binary re-executes itself as.

mod agent;
mod container;
mod format;
mod image;
mod server;
mod volume;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use dockyard_engine::{Engine, EngineConfig};
use dockyard_net::Ipv4Net;
use dockyard_runtime::ShimCommand;

/// Dockyard: containers, an ECR-compatible registry and an ECS-compatible
/// orchestrator in one binary.
#[derive(Parser, Debug)]
#[command(name = "dockyard", version, about, max_term_width = 100)]
pub struct Cli {
    /// Where images, containers and state live [default: /var/lib/dockyard as root]
    #[arg(long, global = true, env = "DOCKYARD_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Bridge for containers' bridge networking.
    #[arg(
        long,
        global = true,
        env = "DOCKYARD_BRIDGE",
        default_value = "dockyard0"
    )]
    bridge: String,
    /// Subnet of the bridge network.
    #[arg(
        long,
        global = true,
        env = "DOCKYARD_SUBNET",
        default_value = "172.29.0.0/16"
    )]
    subnet: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create and run a container from an image.
    Run(Box<container::RunArgs>),
    /// List containers.
    Ps(container::PsArgs),
    /// Show a container's output.
    Logs(container::LogsArgs),
    /// Stop running containers (stop signal, then SIGKILL after a grace period).
    Stop(container::StopArgs),
    /// Send a signal to running containers.
    Kill(container::KillArgs),
    /// Remove containers.
    Rm(container::RmArgs),
    /// Run a command in a running container.
    Exec(container::ExecArgs),
    /// Show a container's details as JSON.
    Inspect(container::InspectArgs),
    /// Block until containers stop, then print their exit codes.
    Wait(container::WaitArgs),
    /// Show containers' CPU and memory use.
    Stats(container::StatsArgs),
    /// Manage images.
    Image {
        #[command(subcommand)]
        command: image::ImageCommand,
    },
    /// List images.
    Images,
    /// Pull an image from a registry.
    Pull(image::PullArgs),
    /// Load images from an OCI layout or `docker save` archive.
    Load(image::LoadArgs),
    /// Save images to an OCI layout tar.
    Save(image::SaveArgs),
    /// Remove images.
    Rmi(image::RmiArgs),
    /// Run the control plane: every AWS API and the registry on one port.
    Server(server::ServerArgs),
    /// Run a node agent: register this machine as a container instance of a
    /// cluster and run the tasks the server places on it.
    Agent(agent::AgentArgs),
    /// Print the administrator's access key as shell exports (or a profile).
    #[command(alias = "env")]
    Credentials(server::CredentialsArgs),
    /// Manage the registry's data (the server's data directory).
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Manage named volumes.
    Volume {
        #[command(subcommand)]
        command: volume::VolumeCommand,
    },
    /// Manage the node.
    System {
        #[command(subcommand)]
        command: SystemCommand,
    },
    /// (internal) The per-container helper process.
    #[command(hide = true)]
    Shim {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// (internal) Releases what an auto-removed container held.
    #[command(hide = true, name = "__release")]
    Release { id: String },
}

#[derive(Subcommand, Debug)]
enum RegistryCommand {
    /// Load an OSV vulnerability feed (a JSON array of OSV entries, one
    /// entry, or JSON Lines) for image scans; a running server uses it
    /// from its next scan.
    LoadVulns { file: PathBuf },
}

#[derive(Subcommand, Debug)]
enum SystemCommand {
    /// Remove every container, the bridge network and the server's load
    /// balancer rules.
    Reset,
}

/// The default data directory: `/var/lib/dockyard` as root, else under
/// `$XDG_DATA_HOME`.
fn default_data_dir() -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/dockyard");
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("dockyard")
}

impl Cli {
    fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(default_data_dir)
    }

    fn engine(&self) -> anyhow::Result<Engine> {
        Ok(Engine::open(self.engine_config()?)?)
    }

    fn engine_config(&self) -> anyhow::Result<EngineConfig> {
        let data_dir = self.data_dir();
        let shim = ShimCommand::current_exe()?;
        let mut cfg = EngineConfig::new(&data_dir, shim.clone());
        cfg.bridge.name = self.bridge.clone();
        cfg.bridge.subnet = self
            .subnet
            .parse::<Ipv4Net>()
            .map_err(|e| anyhow::anyhow!("invalid --subnet {}: {e}", self.subnet))?;
        cfg.exit_hook = Some(vec![
            shim.program.to_string_lossy().into_owned(),
            "--data-dir".into(),
            data_dir.to_string_lossy().into_owned(),
            "--bridge".into(),
            self.bridge.clone(),
            "--subnet".into(),
            self.subnet.clone(),
            "__release".into(),
        ]);
        Ok(cfg)
    }
}

/// Entry point of the binary; returns the process exit code.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().collect();
    // The shim must stay single-threaded and lean: dispatch it before
    // anything else is set up.
    if args.get(1).map(String::as_str) == Some("shim") {
        return dockyard_runtime::shim::main(&args[2..]);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // Docker exits 125 on a bad flag; help and version are not errors.
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 125,
            };
        }
    };
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dockyard: {e:#}");
            // Docker's convention: 125 when the tool itself failed.
            125
        }
    }
}

/// Completes on SIGINT or SIGTERM: how daemons are asked to stop.
pub(crate) async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler cannot fail in a fresh runtime");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Daemons log to stderr, filtered by `RUST_LOG` (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn run(cli: &Cli) -> anyhow::Result<i32> {
    if matches!(cli.command, Command::Server(_) | Command::Agent(_)) {
        init_logging();
    }
    match &cli.command {
        Command::Shim { args } => Ok(dockyard_runtime::shim::main(args)),
        Command::Release { id } => {
            cli.engine()?.release(id)?;
            Ok(0)
        }
        Command::Server(a) => {
            let engine = (!a.no_local_agent)
                .then(|| cli.engine_config())
                .transpose()?;
            server::server(&cli.data_dir(), a, engine)
        }
        Command::Agent(a) => agent::agent(&cli.data_dir(), a, cli.engine_config()?),
        Command::Credentials(a) => server::credentials(&cli.data_dir(), a),
        Command::Run(a) => container::run(&cli.engine()?, a),
        Command::Ps(a) => container::ps(&cli.engine()?, a),
        Command::Logs(a) => container::logs(&cli.engine()?, a),
        Command::Stop(a) => container::stop(&cli.engine()?, a),
        Command::Kill(a) => container::kill(&cli.engine()?, a),
        Command::Rm(a) => container::rm(&cli.engine()?, a),
        Command::Exec(a) => container::exec(&cli.engine()?, a),
        Command::Inspect(a) => container::inspect(&cli.engine()?, a),
        Command::Wait(a) => container::wait(&cli.engine()?, a),
        Command::Stats(a) => container::stats(&cli.engine()?, a),
        Command::Image { command } => image::dispatch(&cli.engine()?, command),
        Command::Images => image::list(&cli.engine()?),
        Command::Pull(a) => image::pull(&cli.engine()?, a),
        Command::Load(a) => image::load(&cli.engine()?, a),
        Command::Save(a) => image::save(&cli.engine()?, a),
        Command::Rmi(a) => image::rmi(&cli.engine()?, a),
        Command::Registry {
            command: RegistryCommand::LoadVulns { file },
        } => {
            let bytes = std::fs::read(file)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
            let n = dockyard_server::app::load_vulns(&cli.data_dir(), &bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            println!("loaded {n} vulnerabilities from {}", file.display());
            Ok(0)
        }
        Command::Volume { command } => volume::dispatch(&cli.engine()?, command),
        Command::System {
            command: SystemCommand::Reset,
        } => {
            cli.engine()?.reset()?;
            dockyard_server::app::reset_host_state(&cli.data_dir()).map_err(anyhow::Error::msg)?;
            Ok(0)
        }
    }
}
