//! [`Networks`]: the bridge network of a node and the containers attached
//! to it.

use std::fs::{self, File};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::model::validate_id;
use crate::ports::Published;
use crate::state::{Record, StateDir};
use crate::{
    Attachment, BridgeConfig, NetError, NetworkMode, PortMapping, ipam, link, netns, nft, ports,
};

/// Serialises host-port reservations across every bridge and process on the
/// node: a port is checked and its rule added under this lock, so two
/// bridges (each with its own state directory) cannot pick the same port.
const PORTS_LOCK: &str = "/run/dockyard/ports.lock";

/// One bridge network on a node and the containers attached to it.
///
/// Every method is synchronous and may block (netlink, `nft`, file locks);
/// async callers use `spawn_blocking`. Any number of `Networks` values, in
/// any number of threads and processes, may share a configuration: the
/// state directory's lock keeps them consistent.
pub struct Networks {
    cfg: BridgeConfig,
    state: StateDir,
    table: String,
}

impl Networks {
    pub fn new(cfg: BridgeConfig) -> Self {
        let state = StateDir::new(&cfg.state_dir);
        let table = nft::table_name(&cfg.name);
        Self { cfg, state, table }
    }

    pub fn config(&self) -> &BridgeConfig {
        &self.cfg
    }

    /// Makes the bridge ready, idempotently: the bridge exists, is up and
    /// has the gateway address; IPv4 forwarding is on; `route_localnet` is
    /// on for the bridge (so connections to 127.0.0.1 can be DNATed onto
    /// it); the nft table masquerades the subnet and publishes ports.
    ///
    /// The sysctls and the nft table are applied once per bridge and boot
    /// (a stamp in the state directory records the bridge's interface index
    /// and the boot id), since running `nft` costs milliseconds on every
    /// container start otherwise. A bridge that was recreated, or a reboot,
    /// applies them again.
    pub fn ensure(&self) -> Result<(), NetError> {
        self.cfg.validate()?;
        let (name, subnet) = (self.cfg.name.as_str(), self.cfg.subnet);
        let index = link::session(|h| async move { link::ensure_bridge(&h, name, &subnet).await })?;
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
        // The version changes when the base script does, so that tables set
        // up by an older build are set up again.
        let stamp = format!("v2 {} {index} {subnet}\n", boot.trim());
        let marker = self.ensured_marker();
        if std::fs::read_to_string(&marker).is_ok_and(|s| s == stamp) {
            return Ok(());
        }
        sysctl("net/ipv4/ip_forward", "1")?;
        sysctl(&format!("net/ipv4/conf/{name}/route_localnet"), "1")?;
        nft::apply(
            &nft::base_script(&self.table, name, &subnet),
            &format!("setting up nat for bridge {name}"),
        )?;
        std::fs::create_dir_all(&self.cfg.state_dir)
            .and_then(|_| std::fs::write(&marker, stamp))
            .map_err(NetError::io(format!("writing {}", marker.display())))
    }

    /// Sends TCP connections from this bridge's containers to
    /// `daddr:port` on to `daddr:to_port` (a local address), replacing the
    /// bridge's previous redirect. Several services on one machine can each
    /// answer their own bridge's containers at the same well-known address
    /// and port this way. Calls [`Networks::ensure`] first.
    pub fn set_redirect(&self, daddr: Ipv4Addr, port: u16, to_port: u16) -> Result<(), NetError> {
        self.ensure()?;
        nft::apply(
            &nft::redirect_script(&self.table, daddr, port, to_port),
            &format!("redirecting {daddr}:{port} on bridge {}", self.cfg.name),
        )
    }

    fn ensured_marker(&self) -> PathBuf {
        self.cfg
            .state_dir
            .join(format!("ensured-{}", self.cfg.name))
    }

    /// Gives container `id` its network. Bridge mode makes a network
    /// namespace with `eth0` on the bridge, an address, a default route and
    /// the published `ports` (calling [`Networks::ensure`] first); none mode
    /// a namespace with only loopback; host mode nothing but the record.
    ///
    /// On any error nothing is left behind: no namespace, veth, rule or
    /// lease. A host port that is taken is a `Conflict`.
    pub fn attach(
        &self,
        id: &str,
        mode: NetworkMode,
        ports: &[PortMapping],
    ) -> Result<Attachment, NetError> {
        validate_id(id)?;
        self.cfg.validate()?;
        if mode != NetworkMode::Bridge && !ports.is_empty() {
            return Err(NetError::InvalidArgument(format!(
                "attachment {id} publishes ports, which needs bridge mode, not {mode}"
            )));
        }
        if let Some(m) = ports.iter().find(|m| m.container_port == 0) {
            return Err(NetError::InvalidArgument(format!(
                "port mapping {m} of {id} has container port 0"
            )));
        }
        if mode == NetworkMode::Bridge {
            self.ensure()?;
        }
        let att = self.reserve(id, mode, ports)?;
        if mode == NetworkMode::Host {
            return Ok(att);
        }
        if let Err(e) = self.build(&att) {
            if let Err(undo) = self.cleanup(&att) {
                tracing::warn!(%id, error = %undo, "rolling back a failed attach left something behind");
            }
            return Err(e);
        }
        let lock = self.state.lock()?;
        match self.state.read(id)? {
            Some(r) if r.attachment == att => {
                self.state.write(
                    &lock,
                    &Record {
                        complete: true,
                        attachment: att.clone(),
                        released_at: None,
                    },
                )?;
                tracing::debug!(%id, ip = ?att.ip, "attached");
                Ok(att)
            }
            _ => {
                drop(lock);
                let _ = self.cleanup(&att);
                Err(NetError::Conflict(format!(
                    "network attachment {id} was detached while it was being attached"
                )))
            }
        }
    }

    /// Takes the address and host ports and writes the record, all under
    /// the state lock; the slow part of attaching happens after.
    fn reserve(
        &self,
        id: &str,
        mode: NetworkMode,
        requested: &[PortMapping],
    ) -> Result<Attachment, NetError> {
        let lock = self.state.lock()?;
        if self.state.read(id)?.is_some() {
            return Err(NetError::AlreadyExists(id.to_string()));
        }
        let mut att = Attachment {
            id: id.to_string(),
            mode,
            netns: None,
            ip: None,
            prefix_len: 0,
            gateway: None,
            mac: None,
            host_veth: None,
            ports: Vec::new(),
        };
        if mode == NetworkMode::Host {
            self.state.write(
                &lock,
                &Record {
                    complete: true,
                    attachment: att.clone(),
                    released_at: None,
                },
            )?;
            return Ok(att);
        }
        netns::prepare_dir(&self.cfg.netns_dir)?;
        att.netns = Some(self.netns_path(id));
        if mode == NetworkMode::Bridge {
            // A pair of this very id still going is deleted now, so one
            // id never has two pairs on the bridge.
            self.reap(&lock, false, Some(id))?;
            let ip = ipam::allocate(&self.cfg.subnet, &self.state.used_ips(&lock)?)?;
            att.ip = Some(ip);
            att.prefix_len = self.cfg.subnet.prefix_len();
            att.gateway = Some(self.cfg.subnet.gateway());
            att.mac = Some(ipam::mac_string(&ipam::mac_for(ip)));
            att.host_veth = Some(ipam::veth_name(id));
        }
        // `attach` only lets bridge mode, which always has an address,
        // publish ports.
        let (false, Some(ip)) = (requested.is_empty(), att.ip) else {
            self.state.write(
                &lock,
                &Record {
                    complete: false,
                    attachment: att.clone(),
                    released_at: None,
                },
            )?;
            return Ok(att);
        };
        let _ports_lock = crate::state::lock_file(Path::new(PORTS_LOCK))?;
        let mut taken: Vec<Published> = nft::port_rules(None)?
            .into_iter()
            .map(|r| r.published)
            .collect();
        for r in self.state.list()? {
            taken.extend(
                r.attachment
                    .ports
                    .iter()
                    .map(|m| Published::of(&r.attachment.id, m)),
            );
        }
        att.ports = ports::resolve(id, requested, &taken, &ports::bind_probe)?;
        self.state.write(
            &lock,
            &Record {
                complete: false,
                attachment: att.clone(),
                released_at: None,
            },
        )?;
        let script = nft::add_ports_script(&self.table, id, ip, &att.ports);
        if let Err(e) = nft::apply(&script, &format!("publishing ports of {id}")) {
            self.state.remove(&lock, id)?;
            return Err(e);
        }
        Ok(att)
    }

    fn build(&self, att: &Attachment) -> Result<(), NetError> {
        let Some(ns_path) = att.netns.as_deref() else {
            return Ok(());
        };
        {
            let _dir = netns::lock_dir(&self.cfg.netns_dir)?;
            netns::prepare_dir(&self.cfg.netns_dir)?;
            netns::create(ns_path, || {
                link::session(|h| async move { link::loopback_up(&h).await })
            })?;
        }
        let (Some(ip), Some(gateway), Some(veth)) = (att.ip, att.gateway, att.host_veth.as_deref())
        else {
            return Ok(());
        };
        let ns =
            File::open(ns_path).map_err(NetError::io(format!("opening {}", ns_path.display())))?;
        let mac = ipam::mac_for(ip);
        let bridge = self.cfg.name.as_str();
        link::session(|h| async move { link::create_veth(&h, veth, bridge, mac, &ns).await })?;
        let prefix_len = att.prefix_len;
        netns::run_in(ns_path, || {
            link::session(|h| async move {
                link::configure_container_if(&h, ip, prefix_len, gateway).await
            })
        })?
    }

    /// Removes whatever of `att` exists, then its record (and with it the
    /// lease) once all of it is gone, so a failed detach can be retried.
    fn cleanup(&self, att: &Attachment) -> Result<(), NetError> {
        let id = att.id.as_str();
        let mut first_err: Option<NetError> = None;
        let mut note = |r: Result<(), NetError>| {
            if let Err(e) = r {
                tracing::warn!(%id, error = %e, "detach step failed");
                first_err.get_or_insert(e);
            }
        };
        // Rules exist only for recorded ports: the record is written with
        // them before any rule is added.
        if att.mode == NetworkMode::Bridge && !att.ports.is_empty() {
            note(nft::remove_port_rules(&self.table, id));
        }
        // Dropping the last reference to the namespace makes the kernel
        // delete the veth pair with it, asynchronously; deleting the pair
        // here (RTM_DELLINK) would wait about 10 ms for the kernel instead.
        let mut dropped_ns = false;
        if let Some(ns) = att.netns.as_deref() {
            let existed = ns.exists();
            let removed = netns::remove(ns);
            dropped_ns = existed && removed.is_ok();
            note(removed);
        }
        let mut releasing = false;
        if let Some(veth) = att.host_veth.as_deref() {
            if dropped_ns && link_exists(veth) {
                releasing = true;
            } else {
                note(link::session(|h| async move {
                    link::delete_link(&h, veth).await
                }));
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        let lock = self.state.lock()?;
        // Only our own record: a new attach of the same id may have taken
        // its place meanwhile.
        if let Some(r) = self.state.read(id)?.filter(|r| r.attachment == *att) {
            if releasing {
                // The lease stays until the pair is gone (see `reap`).
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                self.state.mark_releasing(
                    &lock,
                    &Record {
                        released_at: Some(now),
                        ..r
                    },
                )?;
            } else {
                self.state.remove(&lock, id)?;
            }
        }
        tracing::debug!(%id, releasing, "detached");
        Ok(())
    }

    /// Forgets releasing records whose veth pair the kernel has deleted,
    /// and deletes the pairs of those released more than
    /// [`RELEASE_GRACE_SECS`] ago that are still there (something kept
    /// the namespace alive), so their addresses can be leased again.
    fn reap(
        &self,
        lock: &crate::state::Locked,
        force: bool,
        now_for: Option<&str>,
    ) -> Result<(), NetError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        for r in self.state.releasing()? {
            let Some(veth) = r.attachment.host_veth.as_deref() else {
                self.state.remove_releasing(lock, &r.attachment.id)?;
                continue;
            };
            if link_exists(veth) {
                let overdue = r
                    .released_at
                    .is_none_or(|t| now.saturating_sub(t) >= RELEASE_GRACE_SECS);
                if !(force || overdue || now_for == Some(r.attachment.id.as_str())) {
                    continue;
                }
                link::session(|h| async move { link::delete_link(&h, veth).await })?;
            }
            self.state.remove_releasing(lock, &r.attachment.id)?;
        }
        Ok(())
    }

    /// Host ends of veth pairs the kernel is still deleting after a detach.
    pub fn releasing(&self) -> Result<Vec<String>, NetError> {
        let lock = self.state.lock()?;
        self.reap(&lock, false, None)?;
        Ok(self
            .state
            .releasing()?
            .into_iter()
            .filter_map(|r| r.attachment.host_veth)
            .collect())
    }

    /// Undoes [`Networks::attach`]: port rules, veth, namespace mount and
    /// file, and the address lease. Works from the record alone, so it also
    /// cleans up after a crash; detaching an unknown id does nothing. The
    /// veth pair goes with the namespace, moments later; until it has, its
    /// address stays leased (see [`Networks::releasing`]).
    pub fn detach(&self, id: &str) -> Result<(), NetError> {
        validate_id(id)?;
        match self.state.read(id)? {
            Some(r) => self.cleanup(&r.attachment),
            None => Ok(()),
        }
    }

    /// The recorded attachment of `id`. An attach that is still running, or
    /// that crashed, is already recorded (detach it to clean up).
    pub fn get(&self, id: &str) -> Result<Option<Attachment>, NetError> {
        validate_id(id)?;
        Ok(self.state.read(id)?.map(|r| r.attachment))
    }

    /// Every recorded attachment, by id.
    pub fn list(&self) -> Result<Vec<Attachment>, NetError> {
        Ok(self
            .state
            .list()?
            .into_iter()
            .map(|r| r.attachment)
            .collect())
    }

    /// Detaches everything, then removes the bridge and its nft table, and
    /// unmounts the namespace directory if it is left empty. Meant for
    /// tests and uninstalling; IPv4 forwarding stays on.
    pub fn teardown(&self) -> Result<(), NetError> {
        self.cfg.validate()?;
        let mut first_err = None;
        for r in self.state.list()? {
            if let Err(e) = self.cleanup(&r.attachment) {
                first_err.get_or_insert(e);
            }
        }
        {
            let lock = self.state.lock()?;
            if let Err(e) = self.reap(&lock, true, None) {
                first_err.get_or_insert(e);
            }
        }
        nft::delete_table(&self.table)?;
        let _ = std::fs::remove_file(self.ensured_marker());
        let name = self.cfg.name.as_str();
        link::session(|h| async move { link::delete_link(&h, name).await })?;
        netns::release_dir(&self.cfg.netns_dir)?;
        first_err.map_or(Ok(()), Err)
    }

    fn netns_path(&self, id: &str) -> PathBuf {
        self.cfg.netns_dir.join(id)
    }
}

/// A releasing veth pair still there after this long is deleted by hand.
const RELEASE_GRACE_SECS: u64 = 10;

/// Whether a link of this name exists in the host's namespace (sysfs).
fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Writes a sysctl through /proc/sys unless it already has the value.
fn sysctl(key: &str, value: &str) -> Result<(), NetError> {
    let path = Path::new("/proc/sys").join(key);
    if fs::read_to_string(&path).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    fs::write(&path, value).map_err(NetError::io(format!("setting {}", path.display())))
}
