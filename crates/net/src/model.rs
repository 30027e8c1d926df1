//! The values callers pass in and get back: subnets, modes, port mappings,
//! attachments, and the bridge configuration.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::NetError;

/// An IPv4 network in CIDR form whose host bits are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Net {
    network: Ipv4Addr,
    prefix_len: u8,
}

impl Ipv4Net {
    /// Fails when `prefix_len` is over 32 or `addr` has host bits set.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Result<Self, NetError> {
        if prefix_len > 32 {
            return Err(NetError::InvalidArgument(format!(
                "prefix length {prefix_len} of {addr} is over 32"
            )));
        }
        let net = Self {
            network: Ipv4Addr::from(u32::from(addr) & mask(prefix_len)),
            prefix_len,
        };
        if net.network != addr {
            return Err(NetError::InvalidArgument(format!(
                "subnet {addr}/{prefix_len} has host bits set; did you mean {net}?"
            )));
        }
        Ok(net)
    }

    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !mask(self.prefix_len))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix_len) == u32::from(self.network)
    }

    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    /// The bridge's own address: the first host of the subnet.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network).wrapping_add(1))
    }

    /// Addresses containers may get: every host but the gateway.
    pub(crate) fn container_hosts(&self) -> impl Iterator<Item = Ipv4Addr> + use<> {
        let first = u32::from(self.network) + 2;
        let last = u32::from(self.broadcast()).saturating_sub(1);
        (first..=last).map(Ipv4Addr::from)
    }
}

fn mask(prefix_len: u8) -> u32 {
    if prefix_len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix_len))
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

impl FromStr for Ipv4Net {
    type Err = NetError;
    fn from_str(s: &str) -> Result<Self, NetError> {
        let bad =
            || NetError::InvalidArgument(format!("subnet {s:?} is not of the form a.b.c.d/len"));
        let (a, l) = s.split_once('/').ok_or_else(bad)?;
        Self::new(a.parse().map_err(|_| bad())?, l.parse().map_err(|_| bad())?)
    }
}

impl Serialize for Ipv4Net {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Net {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// One bridge network on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// Interface name of the bridge (at most 15 characters).
    pub name: String,
    /// Containers get addresses from here; the first host is the gateway.
    pub subnet: Ipv4Net,
    /// Attachment records (which are also the IP leases) and the lock file.
    pub state_dir: PathBuf,
    /// Where each container's network namespace is bind-mounted, by id.
    pub netns_dir: PathBuf,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        Self {
            name: "dockyard0".into(),
            subnet: Ipv4Net {
                network: Ipv4Addr::new(172, 29, 0, 0),
                prefix_len: 16,
            },
            state_dir: PathBuf::from("/var/lib/dockyard/net"),
            netns_dir: PathBuf::from("/run/dockyard/netns"),
        }
    }
}

impl BridgeConfig {
    pub(crate) fn validate(&self) -> Result<(), NetError> {
        let n = &self.name;
        let ok_chars = n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if n.is_empty()
            || n.len() > 15
            || !ok_chars
            || !n.starts_with(|c: char| c.is_ascii_alphabetic())
        {
            return Err(NetError::InvalidArgument(format!(
                "bridge name {n:?} must be 1-15 letters, digits, '_' or '-', starting with a letter"
            )));
        }
        if self.subnet.prefix_len() > 30 {
            return Err(NetError::InvalidArgument(format!(
                "subnet {} of bridge {n} has no room for a gateway and a container",
                self.subnet
            )));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Own network namespace, a veth on the bridge, an address, NAT.
    Bridge,
    /// The host's network namespace; nothing is created.
    Host,
    /// Own network namespace with only loopback.
    None,
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Bridge => "bridge",
            Self::Host => "host",
            Self::None => "none",
        })
    }
}

impl FromStr for NetworkMode {
    type Err = NetError;
    fn from_str(s: &str) -> Result<Self, NetError> {
        match s {
            "bridge" => Ok(Self::Bridge),
            "host" => Ok(Self::Host),
            "none" => Ok(Self::None),
            _ => Err(NetError::InvalidArgument(format!(
                "network mode {s:?} is not one of bridge, host, none"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        })
    }
}

impl FromStr for Protocol {
    type Err = NetError;
    fn from_str(s: &str) -> Result<Self, NetError> {
        match s {
            "tcp" => Ok(Self::Tcp),
            "udp" => Ok(Self::Udp),
            _ => Err(NetError::InvalidArgument(format!(
                "protocol {s:?} is not tcp or udp"
            ))),
        }
    }
}

/// A published port: traffic to `host_ip:host_port` (any local address when
/// `host_ip` is `None`) goes to the container's `container_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    pub host_ip: Option<Ipv4Addr>,
    /// 0 asks for a free port from 49153-65535.
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
}

impl PortMapping {
    pub fn tcp(host_port: u16, container_port: u16) -> Self {
        Self {
            host_ip: None,
            host_port,
            container_port,
            protocol: Protocol::Tcp,
        }
    }

    pub fn udp(host_port: u16, container_port: u16) -> Self {
        Self {
            host_ip: None,
            host_port,
            container_port,
            protocol: Protocol::Udp,
        }
    }

    /// `None` for "every local address", so 0.0.0.0 and no address compare equal.
    pub(crate) fn bound_ip(&self) -> Option<Ipv4Addr> {
        self.host_ip.filter(|ip| !ip.is_unspecified())
    }
}

/// Docker's `-p` syntax: `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]`,
/// where an empty or missing host port means "pick one".
impl FromStr for PortMapping {
    type Err = NetError;
    fn from_str(s: &str) -> Result<Self, NetError> {
        let bad = |why: &str| NetError::InvalidArgument(format!("port mapping {s:?}: {why}"));
        let (spec, protocol) = match s.rsplit_once('/') {
            Some((spec, p)) => (spec, p.parse()?),
            None => (s, Protocol::Tcp),
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let (ip, host, container) = match parts.as_slice() {
            [c] => (None, "", *c),
            [h, c] => (None, *h, *c),
            [ip, h, c] => (Some(*ip), *h, *c),
            _ => return Err(bad("expected [host_ip:][host_port:]container_port[/proto]")),
        };
        let host_ip = ip
            .map(|ip| {
                ip.parse::<Ipv4Addr>()
                    .map_err(|_| bad("host address is not an IPv4 address"))
            })
            .transpose()?;
        let host_port = if host.is_empty() {
            0
        } else {
            host.parse()
                .map_err(|_| bad("host port is not a number 0-65535"))?
        };
        let container_port: u16 = container
            .parse()
            .map_err(|_| bad("container port is not a number 1-65535"))?;
        if container_port == 0 {
            return Err(bad("container port must not be 0"));
        }
        Ok(Self {
            host_ip,
            host_port,
            container_port,
            protocol,
        })
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ip) = self.host_ip {
            write!(f, "{ip}:")?;
        }
        write!(
            f,
            "{}:{}/{}",
            self.host_port, self.container_port, self.protocol
        )
    }
}

/// What a container's network is, as recorded on the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: String,
    pub mode: NetworkMode,
    /// The bind-mounted network namespace to join (bridge and none modes).
    pub netns: Option<PathBuf>,
    pub ip: Option<Ipv4Addr>,
    /// 0 when there is no address.
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mac: Option<String>,
    pub host_veth: Option<String>,
    /// With the host ports actually chosen.
    pub ports: Vec<PortMapping>,
}

/// Ids name files, interfaces and nft comments, so they are kept to a
/// charset and length that is safe in all three.
pub(crate) fn validate_id(id: &str) -> Result<(), NetError> {
    let ok_chars = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if id.is_empty() || id.len() > 64 || !ok_chars || id.starts_with('.') {
        return Err(NetError::InvalidArgument(format!(
            "attachment id {id:?} must be 1-64 letters, digits, '_', '-' or '.', not starting with '.'"
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn subnet_parses_and_computes_hosts() {
        let n: Ipv4Net = "172.30.5.0/24".parse().unwrap();
        assert_eq!(n.gateway(), Ipv4Addr::new(172, 30, 5, 1));
        assert_eq!(n.broadcast(), Ipv4Addr::new(172, 30, 5, 255));
        let hosts: Vec<_> = n.container_hosts().collect();
        assert_eq!(hosts.len(), 253);
        assert_eq!(hosts[0], Ipv4Addr::new(172, 30, 5, 2));
        assert_eq!(hosts[252], Ipv4Addr::new(172, 30, 5, 254));
        assert!(n.contains(Ipv4Addr::new(172, 30, 5, 77)));
        assert!(!n.contains(Ipv4Addr::new(172, 30, 6, 1)));
        assert_eq!(n.to_string(), "172.30.5.0/24");
    }

    #[test]
    fn subnet_rejects_host_bits_and_garbage() {
        let e = "172.30.5.1/24".parse::<Ipv4Net>().unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
        assert!(e.to_string().contains("172.30.5.0/24"), "{e}");
        assert!("172.30.5.0".parse::<Ipv4Net>().is_err());
        assert!("172.30.5.0/33".parse::<Ipv4Net>().is_err());
        assert!("0.0.0.0/0".parse::<Ipv4Net>().is_ok());
    }

    #[test]
    fn overlap_is_symmetric() {
        let a: Ipv4Net = "10.0.0.0/8".parse().unwrap();
        let b: Ipv4Net = "10.1.0.0/16".parse().unwrap();
        let c: Ipv4Net = "11.0.0.0/8".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c) && !c.overlaps(&a));
    }

    #[test]
    fn slash_30_has_one_container_host() {
        let n: Ipv4Net = "10.9.0.4/30".parse().unwrap();
        assert_eq!(
            n.container_hosts().collect::<Vec<_>>(),
            vec![Ipv4Addr::new(10, 9, 0, 6)]
        );
    }

    #[test]
    fn bridge_config_validation() {
        let mut c = BridgeConfig::default();
        assert!(c.validate().is_ok());
        c.name = "a-name-too-long-x".into();
        assert!(c.validate().is_err());
        c.name = "br;x".into();
        assert!(c.validate().is_err());
        c.name = "br0".into();
        c.subnet = "10.0.0.0/31".parse().unwrap();
        assert!(c.validate().is_err());
    }

    #[test]
    fn port_mapping_docker_syntax() {
        assert_eq!(
            "80".parse::<PortMapping>().unwrap(),
            PortMapping::tcp(0, 80)
        );
        assert_eq!(
            "8080:80".parse::<PortMapping>().unwrap(),
            PortMapping::tcp(8080, 80)
        );
        assert_eq!(
            "53:53/udp".parse::<PortMapping>().unwrap(),
            PortMapping::udp(53, 53)
        );
        let m: PortMapping = "127.0.0.1::80".parse().unwrap();
        assert_eq!(m.host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(m.host_port, 0);
        let m: PortMapping = "127.0.0.1:8080:80/tcp".parse().unwrap();
        assert_eq!(m.to_string(), "127.0.0.1:8080:80/tcp");
        assert_eq!(m.to_string().parse::<PortMapping>().unwrap(), m);
        for bad in [
            "", "0", "8080:0", "x:80", "1:2:3:4", "80/sctp", "70000:80", "foo:1:2",
        ] {
            assert!(bad.parse::<PortMapping>().is_err(), "{bad}");
        }
    }

    #[test]
    fn mode_and_protocol_round_trip() {
        for m in [NetworkMode::Bridge, NetworkMode::Host, NetworkMode::None] {
            assert_eq!(m.to_string().parse::<NetworkMode>().unwrap(), m);
        }
        assert!("nat".parse::<NetworkMode>().is_err());
        assert_eq!(serde_json::to_string(&Protocol::Udp).unwrap(), "\"udp\"");
    }

    #[test]
    fn ids() {
        for ok in ["a", "3f2a9b1c7e", "task-1.web_0", &"f".repeat(64)] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "a:b",
            "a b",
            &"f".repeat(65),
        ] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn attachment_json_round_trip() {
        let a = Attachment {
            id: "x".into(),
            mode: NetworkMode::Bridge,
            netns: Some("/run/dockyard/netns/x".into()),
            ip: Some(Ipv4Addr::new(172, 29, 0, 2)),
            prefix_len: 16,
            gateway: Some(Ipv4Addr::new(172, 29, 0, 1)),
            mac: Some("02:42:ac:1d:00:02".into()),
            host_veth: Some("dyabc".into()),
            ports: vec![PortMapping::tcp(8080, 80)],
        };
        let j = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Attachment>(&j).unwrap(), a);
    }
}
