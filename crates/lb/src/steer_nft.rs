//! [`KernelSteering`]: NLB listeners forwarded by nftables DNAT rules,
//! and for connections made on this host, by a `connect(2)` hook
//! (`connect_hook`) where BPF is available.
//!
//! One table, `ip NAME`, owned by one data plane:
//! - `output` (locally made connections) and `prerouting` (everyone
//!   else's) DNAT a new connection to a listener to
//!   `jhash(saddr . sport . daddr . dport) mod N`, looked up in a map of
//!   the N targets. They run before the bridges' published-port chains:
//!   the kernel NATs a connection once, at the first rule that asks.
//! - `postrouting` masquerades connections that came from a loopback
//!   address, so the target's replies come back to one it can route to.
//!
//! Listeners are left to the relay when forwarding them would be wrong:
//! - a target on this host (an `instance` target is a published host port,
//!   itself a DNAT the kernel would not do a second time; a local socket
//!   gains nothing);
//! - a loopback listener whose targets are reached through an interface
//!   without `route_localnet`, where the kernel drops packets from
//!   127.0.0.1 (Dockyard's bridges have it on). A wildcard listener then
//!   forwards only connections to its other addresses.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};

use crate::connect_hook::ConnectHook;
use crate::steer::{FlowSteering, SteeredListener};

/// Facts about this host that decide what the kernel may forward.
pub(crate) trait HostFacts {
    fn is_local(&self, ip: Ipv4Addr) -> bool;
    /// Packets from 127.0.0.1 may leave through the interface that
    /// reaches `to`.
    fn loopback_may_reach(&self, to: Ipv4Addr) -> bool;
}

/// nftables DNAT for NLB listeners, in the table it is given, plus the
/// connect hook for this host's own connections when it can be attached.
/// The table is emptied when this is made and deleted when it is
/// dropped; the hook goes with it.
#[derive(Debug)]
pub struct KernelSteering {
    table: String,
    seed: u32,
    hook: Option<ConnectHook>,
}

impl KernelSteering {
    /// Takes over the `ip` table `table` (an earlier run's rules are
    /// replaced by none), with `comment` saying whose it is. Fails when
    /// `nft` cannot run (not root, nftables missing) or the name is not
    /// one nft accepts. Attaches the connect hook for this host's own
    /// connections where BPF allows; without it, they take the DNAT rules.
    pub fn new(table: &str, comment: &str) -> Result<Self, String> {
        Self::build(table, comment, true)
    }

    /// As [`Self::new`], without the connect hook: every connection goes
    /// through the DNAT rules.
    pub fn dnat_only(table: &str, comment: &str) -> Result<Self, String> {
        Self::build(table, comment, false)
    }

    fn build(table: &str, comment: &str, with_hook: bool) -> Result<Self, String> {
        let valid = |s: &str, extra: &[char]| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || extra.contains(&c))
        };
        if table.is_empty() || table.len() > 64 || !valid(table, &[]) {
            return Err(format!("{table:?} is not a valid nft table name"));
        }
        if comment.len() > 120 || !valid(comment, &['/', '-', '.', ':', ' ', '+', '=']) {
            return Err(format!("{comment:?} is not a valid nft table comment"));
        }
        let mut buf = [0u8; 4];
        getrandom::fill(&mut buf).map_err(|e| format!("no randomness for the flow hash: {e}"))?;
        let hook = match with_hook.then(ConnectHook::attach) {
            None => None,
            Some(Ok(h)) => Some(h),
            Some(Err(e)) => {
                tracing::info!(error = %e, "no connect hook; this host's connections to NLB listeners are forwarded by DNAT");
                None
            }
        };
        let steering = Self {
            table: table.to_string(),
            seed: u32::from_le_bytes(buf),
            hook,
        };
        dockyard_nft::apply(
            &format!(
                "add table ip {table} {{ comment \"{comment}\"; }}\n{}",
                script(table, steering.seed, &[])
            ),
            &format!("setting up load balancer table {table}"),
        )
        .map_err(|e| e.to_string())?;
        Ok(steering)
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Whether this host's own connections are sent at `connect(2)`.
    pub fn has_connect_hook(&self) -> bool {
        self.hook.is_some()
    }
}

impl Drop for KernelSteering {
    fn drop(&mut self) {
        if let Err(e) = dockyard_nft::delete_table("ip", &self.table) {
            tracing::warn!(table = %self.table, error = %e, "load balancer table not removed");
        }
    }
}

impl FlowSteering for KernelSteering {
    fn sync(&self, wanted: &[SteeredListener]) -> Result<Vec<SocketAddrV4>, String> {
        let plan = plan(wanted, &Host::read());
        dockyard_nft::apply(
            &script(&self.table, self.seed, &plan),
            &format!("updating load balancer table {}", self.table),
        )
        .map_err(|e| e.to_string())?;
        let mut steered: Vec<SocketAddrV4> = plan.iter().map(|p| p.listener.listen).collect();
        if let Some(hook) = &self.hook {
            let hooked = hooked(wanted);
            if let Err(e) = hook.set(&hooked) {
                // A program with old targets must not stay.
                hook.set(&[])
                    .map_err(|e2| format!("{e}; clearing it failed too: {e2}"))?;
                tracing::warn!(error = %e, "connect hook not updated; DNAT serves this host's connections");
            } else {
                steered.extend(hooked.iter().map(|l| l.listen));
            }
        }
        steered.sort();
        steered.dedup();
        Ok(steered)
    }
}

/// The listeners the connect hook takes: any with a specific address.
/// Targets on this host are fine there (a published port's DNAT still
/// applies to the rewritten connection), and the route is chosen after
/// the rewrite, so loopback listeners need no `route_localnet`.
pub(crate) fn hooked(wanted: &[SteeredListener]) -> Vec<SteeredListener> {
    wanted
        .iter()
        .filter(|l| !l.listen.ip().is_unspecified() && !l.targets.is_empty())
        .cloned()
        .collect()
}

/// A listener the kernel will forward, and whether connections to a
/// loopback address are among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Planned {
    pub(crate) listener: SteeredListener,
    pub(crate) loopback: bool,
}

pub(crate) fn plan(wanted: &[SteeredListener], host: &dyn HostFacts) -> Vec<Planned> {
    wanted
        .iter()
        .filter_map(|l| {
            let remote = l.targets.iter().all(|t| {
                let ip = *t.ip();
                !(ip.is_loopback()
                    || ip.is_unspecified()
                    || ip.is_broadcast()
                    || ip.is_multicast()
                    || host.is_local(ip))
            });
            if !remote || l.targets.is_empty() {
                return None;
            }
            let loopback_ok = l.targets.iter().all(|t| host.loopback_may_reach(*t.ip()));
            let ip = *l.listen.ip();
            if ip.is_loopback() && !loopback_ok {
                return None;
            }
            Some(Planned {
                listener: l.clone(),
                loopback: loopback_ok && (ip.is_loopback() || ip.is_unspecified()),
            })
        })
        .collect()
}

/// The whole table's rules, replacing the old ones in one transaction.
pub(crate) fn script(table: &str, seed: u32, plan: &[Planned]) -> String {
    let mut s = format!(
        "add table ip {table}
flush table ip {table}
add chain ip {table} prerouting {{ type nat hook prerouting priority dstnat - 10; policy accept; }}
add chain ip {table} output {{ type nat hook output priority -110; policy accept; }}
add chain ip {table} postrouting {{ type nat hook postrouting priority srcnat - 10; policy accept; }}
"
    );
    for p in plan {
        let l = &p.listener;
        let (ip, port) = (*l.listen.ip(), l.listen.port());
        let matched = if ip.is_unspecified() {
            let no_loopback = if p.loopback {
                ""
            } else {
                "ip daddr != 127.0.0.0/8 "
            };
            format!("fib daddr type local {no_loopback}tcp dport {port}")
        } else {
            format!("ip daddr {ip} tcp dport {port}")
        };
        let mut map = String::new();
        for (i, t) in l.targets.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(map, "{sep}{i} : {} . {}", t.ip(), t.port());
        }
        let dnat = format!(
            "{matched} dnat ip to jhash ip saddr . tcp sport . ip daddr . tcp dport mod {n} seed {seed:#x} map {{ {map} }}",
            n = l.targets.len(),
        );
        if !ip.is_loopback() {
            let _ = writeln!(s, "add rule ip {table} prerouting {dnat}");
        }
        let _ = writeln!(s, "add rule ip {table} output {dnat}");
        if p.loopback {
            let daddr = if ip.is_unspecified() {
                String::new()
            } else {
                format!("ct original ip daddr {ip} ")
            };
            let _ = writeln!(
                s,
                "add rule ip {table} postrouting ip saddr 127.0.0.0/8 ct status dnat {daddr}meta l4proto tcp ct original proto-dst {port} masquerade"
            );
        }
    }
    s
}

/// The live host: its addresses, and `route_localnet` of the interface
/// each target is reached through.
struct Host {
    local: HashSet<Ipv4Addr>,
    /// Address -> interface name, to find the interface a route uses.
    names: Vec<(Ipv4Addr, String)>,
}

impl Host {
    fn read() -> Self {
        let mut local = HashSet::new();
        let mut names = Vec::new();
        if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
            for a in addrs {
                if let Some(ip) = a
                    .address
                    .as_ref()
                    .and_then(|s| s.as_sockaddr_in())
                    .map(|s| s.ip())
                {
                    local.insert(ip);
                    names.push((ip, a.interface_name.clone()));
                }
            }
        }
        Self { local, names }
    }

    fn localnet(name: &str) -> bool {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{name}/route_localnet"))
            .is_ok_and(|v| v.trim() == "1")
    }
}

impl HostFacts for Host {
    fn is_local(&self, ip: Ipv4Addr) -> bool {
        self.local.contains(&ip)
    }

    fn loopback_may_reach(&self, to: Ipv4Addr) -> bool {
        if Self::localnet("all") {
            return true;
        }
        // The source address the kernel would pick names the interface
        // of the route (a connected UDP socket sends nothing).
        let source = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
            .and_then(|s| s.connect((to, 9)).map(|()| s))
            .and_then(|s| s.local_addr());
        let Ok(SocketAddr::V4(source)) = source else {
            return false;
        };
        self.names
            .iter()
            .filter(|(ip, _)| ip == source.ip())
            .any(|(_, name)| Self::localnet(name))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    struct Fake {
        local: Vec<Ipv4Addr>,
        localnet: bool,
    }

    impl HostFacts for Fake {
        fn is_local(&self, ip: Ipv4Addr) -> bool {
            self.local.contains(&ip)
        }
        fn loopback_may_reach(&self, _: Ipv4Addr) -> bool {
            self.localnet
        }
    }

    fn listener(listen: &str, targets: &[&str]) -> SteeredListener {
        SteeredListener {
            listen: listen.parse().unwrap(),
            targets: targets.iter().map(|t| t.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn local_targets_stay_with_the_relay() {
        let host = Fake {
            local: vec!["192.168.1.5".parse().unwrap()],
            localnet: true,
        };
        let wanted = [
            listener("192.168.1.5:80", &["172.20.0.2:8080", "172.20.0.3:8080"]),
            listener("192.168.1.5:81", &["192.168.1.5:49153"]),
            listener("192.168.1.5:82", &["127.0.0.1:9000"]),
            listener("192.168.1.5:83", &["172.20.0.2:8080", "192.168.1.5:49154"]),
        ];
        let plan = plan(&wanted, &host);
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].listener, wanted[0]);
        assert!(!plan[0].loopback);
    }

    #[test]
    fn loopback_listeners_need_route_localnet() {
        let wanted = [
            listener("127.0.0.1:80", &["172.20.0.2:8080"]),
            listener("0.0.0.0:81", &["172.20.0.2:8080"]),
        ];
        let without = plan(
            &wanted,
            &Fake {
                local: vec![],
                localnet: false,
            },
        );
        assert_eq!(without.len(), 1, "{without:?}");
        assert_eq!(without[0].listener, wanted[1]);
        assert!(!without[0].loopback);
        let s = script("dockyard_lbx", 7, &without);
        assert!(
            s.contains("fib daddr type local ip daddr != 127.0.0.0/8 tcp dport 81 dnat"),
            "{s}"
        );
        assert!(!s.contains("masquerade"), "{s}");

        let with = plan(
            &wanted,
            &Fake {
                local: vec![],
                localnet: true,
            },
        );
        assert_eq!(with.len(), 2);
        assert!(with.iter().all(|p| p.loopback));
        let s = script("dockyard_lbx", 7, &with);
        assert!(s.contains("add rule ip dockyard_lbx postrouting ip saddr 127.0.0.0/8 ct status dnat ct original ip daddr 127.0.0.1 meta l4proto tcp ct original proto-dst 80 masquerade"), "{s}");
        assert!(s.contains("add rule ip dockyard_lbx postrouting ip saddr 127.0.0.0/8 ct status dnat meta l4proto tcp ct original proto-dst 81 masquerade"), "{s}");
        assert!(s.contains("fib daddr type local tcp dport 81 dnat"), "{s}");
        // A loopback listener is reached from this host only.
        assert!(!s.contains("prerouting ip daddr 127.0.0.1"), "{s}");
    }

    #[test]
    fn the_script_replaces_the_table_and_hashes_over_every_target() {
        let p = [Planned {
            listener: listener("10.0.0.1:443", &["172.20.0.2:8443", "172.20.0.3:9443"]),
            loopback: false,
        }];
        let s = script("dockyard_lbx", 0xabc, &p);
        assert!(s.starts_with("add table ip dockyard_lbx\nflush table ip dockyard_lbx\n"));
        let rule = "ip daddr 10.0.0.1 tcp dport 443 dnat ip to jhash ip saddr . tcp sport . ip daddr . tcp dport mod 2 seed 0xabc map { 0 : 172.20.0.2 . 8443, 1 : 172.20.0.3 . 9443 }";
        assert!(
            s.contains(&format!("add rule ip dockyard_lbx prerouting {rule}\n")),
            "{s}"
        );
        assert!(
            s.contains(&format!("add rule ip dockyard_lbx output {rule}\n")),
            "{s}"
        );
        assert_eq!(script("dockyard_lbx", 1, &[]).lines().count(), 5);
    }

    #[test]
    fn names_nft_would_misread_are_refused() {
        assert!(KernelSteering::new("bad name", "x").is_err());
        assert!(KernelSteering::new("dockyard_lb1", "a\"; flush ruleset").is_err());
        assert!(KernelSteering::new("", "x").is_err());
    }
}
