//! The node's container engine: ties the image store, the network and the
//! runtime driver together into named containers, as Docker's engine does.
//!
//! Daemonless: every call works on the data directory, so several CLI
//! processes (and later the agent) can use it at once; mutations of names
//! and records are serialised by a file lock. Containers themselves live
//! in their shims and need no engine process at all.

mod error;
mod names;
mod record;
pub mod spec;
pub mod volumes;

use std::path::PathBuf;
use std::time::Duration;

use dockyard_image::{Digest, ImageStore};
use dockyard_net::{Attachment, BridgeConfig, NetworkMode, Networks};
use dockyard_runtime::{
    ContainerState, ExecConfig, ExitInfo, LinuxDriver, NetworkNamespace, RuntimeDriver,
    ShimCommand, Stats, Status,
};

pub use error::{EngineError, ErrorKind};
pub use record::ContainerRecord;
pub use spec::{RunSpec, SharedNetwork, VolumeSpec};
pub use volumes::Volumes;

use record::Records;

/// Where the engine keeps things and how it starts shims.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub data_dir: PathBuf,
    pub bridge: BridgeConfig,
    pub shim: ShimCommand,
    /// A command the shim of an auto-removed container runs after exit,
    /// with the container id appended; it should call [`Engine::release`].
    pub exit_hook: Option<Vec<String>>,
}

impl EngineConfig {
    /// The standard layout under one data directory.
    pub fn new(data_dir: impl Into<PathBuf>, shim: ShimCommand) -> Self {
        let data_dir = data_dir.into();
        let bridge = BridgeConfig {
            state_dir: data_dir.join("net"),
            ..BridgeConfig::default()
        };
        Self {
            data_dir,
            bridge,
            shim,
            exit_hook: None,
        }
    }
}

/// A container with its current runtime state.
#[derive(Debug, Clone)]
pub struct ContainerView {
    pub record: ContainerRecord,
    pub state: ContainerState,
}

/// The engine over one data directory.
pub struct Engine {
    images: ImageStore,
    runtime: Box<dyn RuntimeDriver>,
    net: Networks,
    records: Records,
    volumes: Volumes,
    exit_hook: Option<Vec<String>>,
}

fn new_id() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the kernel's random source is always readable");
    hex::encode(b)
}

fn host_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

impl Engine {
    pub fn open(cfg: EngineConfig) -> Result<Self, EngineError> {
        let images = ImageStore::open(cfg.data_dir.join("images"))?;
        let runtime = LinuxDriver::new(cfg.data_dir.join("containers"), cfg.shim.clone())?;
        Ok(Self {
            images,
            runtime: Box::new(runtime),
            net: Networks::new(cfg.bridge.clone()),
            records: Records::open(&cfg.data_dir.join("engine"))?,
            volumes: Volumes::new(cfg.data_dir.join("volumes")),
            exit_hook: cfg.exit_hook,
        })
    }

    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    pub fn network(&self) -> &Networks {
        &self.net
    }

    pub fn volumes(&self) -> &Volumes {
        &self.volumes
    }

    /// The bind mounts of a request: host paths are created when missing
    /// (as Docker does), named volumes on first use.
    fn mounts(&self, spec: &RunSpec) -> Result<Vec<dockyard_runtime::Mount>, EngineError> {
        spec.volumes
            .iter()
            .map(|v| {
                let source = if v.is_host_path() {
                    let p = PathBuf::from(&v.source);
                    if !p.exists() {
                        std::fs::create_dir_all(&p).map_err(EngineError::io(format!(
                            "creating the host directory {}",
                            v.source
                        )))?;
                    }
                    p
                } else {
                    self.volumes.ensure(&v.source)?
                };
                Ok(dockyard_runtime::Mount {
                    source,
                    destination: v.destination.clone(),
                    read_only: v.read_only,
                })
            })
            .collect()
    }

    /// Creates a container: resolves the image, checks the request, takes
    /// the name, attaches the network and creates it in the runtime. On any
    /// failure everything taken so far is given back.
    pub fn create(&self, spec: &RunSpec, attach: bool) -> Result<ContainerRecord, EngineError> {
        self.runtime.will_create();
        let image = self.images.resolve(&spec.image)?;
        let id = new_id();
        let mut cfg = spec::container_config(&id, spec, &image.config, host_cpus())?;
        cfg.attach = attach;
        if let Some(name) = &spec.name {
            spec::validate_name(name)?;
        }
        cfg.mounts = self.mounts(spec)?;
        for d in &spec.devices {
            dockyard_runtime::resolve_device(d).map_err(|e| EngineError::Invalid(e.to_string()))?;
        }
        let mode = spec.network.unwrap_or(NetworkMode::Bridge);
        let stop_signal = spec
            .stop_signal
            .clone()
            .or_else(|| image.config.stop_signal.clone());
        if let Some(s) = &stop_signal {
            spec::parse_signal(s)?;
        }
        let layers = self.images.rootfs_layers(&image)?;
        let record = self.records.insert(|name_taken| {
            let name = match &spec.name {
                Some(n) => n.clone(),
                None => names::generate(name_taken),
            };
            Ok(ContainerRecord {
                id: id.clone(),
                name,
                image: spec.image.clone(),
                image_id: image.id.to_string(),
                created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                args: cfg.args.clone(),
                spec: spec.clone(),
                network: mode,
                stop_signal,
                attachment: None,
            })
        })?;
        match self.create_in_runtime(record.clone(), cfg, layers, mode) {
            Ok(r) => Ok(r),
            Err(e) => {
                let _ = self.net.detach(&id);
                let _ = self.records.remove(&id);
                Err(e)
            }
        }
    }

    fn create_in_runtime(
        &self,
        mut record: ContainerRecord,
        mut cfg: dockyard_runtime::ContainerConfig,
        layers: Vec<PathBuf>,
        mode: NetworkMode,
    ) -> Result<ContainerRecord, EngineError> {
        cfg.rootfs_layers = layers;
        let shared = record.spec.join_network.clone();
        let attachment: Option<Attachment> = match (mode, &shared) {
            // `none` needs no record and no named namespace: the runtime
            // creates a fresh one for the container, as runc does, which
            // saves a bind mount and its unmount on the way out.
            (_, Some(_)) | (NetworkMode::Host | NetworkMode::None, None) => None,
            _ => Some(self.net.attach(&record.id, mode, &record.spec.ports)?),
        };
        cfg.network = match (&mode, attachment.as_ref().and_then(|a| a.netns.clone())) {
            _ if shared.is_some() => {
                NetworkNamespace::Path(shared.as_ref().map(|s| s.netns.clone()).unwrap_or_default())
            }
            (NetworkMode::Host, _) => NetworkNamespace::Host,
            (_, Some(p)) => NetworkNamespace::Path(p),
            (_, None) => NetworkNamespace::New,
        };
        let ip = match &shared {
            Some(s) => s.ip,
            None => attachment.as_ref().and_then(|a| a.ip),
        };
        let mut hosts = dockyard_net::hosts_file(&cfg.hostname, ip);
        for (name, ip) in &record.spec.extra_hosts {
            hosts.push_str(&format!("{ip}\t{name}\n"));
        }
        cfg.hosts = Some(hosts);
        let resolv = match mode {
            NetworkMode::Host => std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            _ => dockyard_net::resolv_conf(),
        };
        let s = &record.spec;
        cfg.resolv_conf = Some(dockyard_net::resolv_conf_with(
            &resolv,
            &s.dns,
            &s.dns_search,
            &s.dns_options,
        ));
        if cfg.auto_remove
            && let Some(hook) = &self.exit_hook
        {
            let mut h = hook.clone();
            h.push(record.id.clone());
            cfg.exit_hook = Some(h);
        }
        record.attachment = attachment;
        self.records.write(&record)?;
        self.runtime.create(&cfg)?;
        Ok(record)
    }

    pub fn start(&self, id: &str) -> Result<(), EngineError> {
        self.runtime.start(id)?;
        Ok(())
    }

    pub fn wait(&self, id: &str) -> Result<ExitInfo, EngineError> {
        Ok(self.runtime.wait(id)?)
    }

    /// Finds a container by exact name, full id or unique id prefix.
    pub fn resolve(&self, name_or_id: &str) -> Result<ContainerRecord, EngineError> {
        self.records.resolve(name_or_id)
    }

    /// Every container, oldest first.
    pub fn list(&self) -> Result<Vec<ContainerView>, EngineError> {
        let mut out = Vec::new();
        for record in self.records.list()? {
            match self.runtime.state(&record.id) {
                Ok(state) => out.push(ContainerView { record, state }),
                // An auto-removed container whose exit hook has not yet run.
                Err(e) if e.kind() == dockyard_types::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        out.sort_by(|a, b| a.record.created.cmp(&b.record.created));
        Ok(out)
    }

    pub fn state(&self, id: &str) -> Result<ContainerState, EngineError> {
        self.runtime.state(id).map_err(|e| match e.kind() {
            dockyard_types::ErrorKind::NotFound => EngineError::NoSuchContainer(id.to_string()),
            _ => e.into(),
        })
    }

    pub fn log_path(&self, id: &str) -> Result<PathBuf, EngineError> {
        Ok(self.runtime.log_path(id)?)
    }

    /// Sends the stop signal, waits `timeout` (default 10 s), then SIGKILL.
    pub fn stop(&self, id: &str, timeout: Option<Duration>) -> Result<ExitInfo, EngineError> {
        let rec = self.records.get(id)?;
        let sig = match &rec.stop_signal {
            Some(s) => spec::parse_signal(s)?,
            None => libc::SIGTERM,
        };
        let grace = timeout
            .or(rec.spec.stop_timeout.map(Duration::from_secs))
            .unwrap_or(Duration::from_secs(10));
        Ok(self.runtime.stop(id, sig, grace)?)
    }

    pub fn kill(&self, id: &str, signal: i32) -> Result<(), EngineError> {
        Ok(self.runtime.signal(id, signal)?)
    }

    /// Removes a container and everything it holds; a running one only
    /// with `force`.
    pub fn remove(&self, id: &str, force: bool) -> Result<(), EngineError> {
        match self.runtime.state(id) {
            Ok(st) if st.status != Status::Exited && !force => {
                return Err(EngineError::Conflict(format!(
                    "cannot remove container {id}: container is {}: stop the container before removing or force remove",
                    st.status
                )));
            }
            Ok(_) => self.runtime.delete(id, force)?,
            Err(e) if e.kind() == dockyard_types::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        self.release(id)
    }

    /// Gives back what a container held outside the runtime (network,
    /// name). Runs after the runtime removed it, also from the exit hook of
    /// auto-removed containers.
    pub fn release(&self, id: &str) -> Result<(), EngineError> {
        self.net.detach(id)?;
        self.records.remove(id)
    }

    pub fn exec(&self, id: &str, exec: &ExecConfig) -> Result<i32, EngineError> {
        Ok(self.runtime.exec(id, exec)?)
    }

    pub fn stats(&self, id: &str) -> Result<Stats, EngineError> {
        Ok(self.runtime.stats(id)?)
    }

    /// Removes a named volume, refusing while a container uses it.
    pub fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        let users: Vec<String> = self
            .records
            .list()?
            .into_iter()
            .filter(|r| {
                r.spec
                    .volumes
                    .iter()
                    .any(|v| !v.is_host_path() && v.source == name)
            })
            .map(|r| r.id.chars().take(12).collect())
            .collect();
        if !users.is_empty() {
            return Err(EngineError::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        if !self.volumes.list()?.iter().any(|v| v == name) {
            return Err(EngineError::Invalid(format!("get {name}: no such volume")));
        }
        self.volumes.remove(name)
    }

    /// Whether any container was created from the image.
    pub fn image_in_use(&self, image: &Digest) -> bool {
        let s = image.to_string();
        self.records
            .list()
            .map(|l| l.iter().any(|r| r.image_id == s))
            .unwrap_or(true)
    }

    /// Removes every container and the bridge: back to an empty node.
    pub fn reset(&self) -> Result<(), EngineError> {
        for r in self.records.list()? {
            self.remove(&r.id, true)?;
        }
        // Containers the runtime has but no record names (a crash between
        // the two writes).
        for st in self.runtime.recover()? {
            let _ = self.runtime.delete(&st.id, true);
        }
        self.net.teardown()?;
        Ok(())
    }
}
