//! Choosing and checking host ports. A host port is taken when another
//! published port of the same protocol covers the same address (an
//! unspecified address covers all of them), or when a process on the host
//! already listens on it, which only a trial `bind` can tell.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};

use crate::{NetError, PortMapping, Protocol};

pub(crate) const EPHEMERAL: std::ops::RangeInclusive<u16> = 49153..=65535;

/// A host port some attachment publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Published {
    pub owner: String,
    pub protocol: Protocol,
    /// `None` for every local address.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
}

impl Published {
    pub fn of(owner: &str, m: &PortMapping) -> Self {
        Self {
            owner: owner.to_string(),
            protocol: m.protocol,
            host_ip: m.bound_ip(),
            host_port: m.host_port,
        }
    }

    fn clashes(&self, protocol: Protocol, ip: Option<Ipv4Addr>, port: u16) -> bool {
        self.protocol == protocol
            && self.host_port == port
            && (self.host_ip.is_none() || ip.is_none() || self.host_ip == ip)
    }
}

/// Whether nothing on the host listens on the port; `Err` for an address
/// that is not the host's.
pub(crate) type Probe<'a> = dyn Fn(Protocol, Option<Ipv4Addr>, u16) -> Result<bool, NetError> + 'a;

fn in_use(m: &PortMapping, port: u16) -> NetError {
    let at = m
        .bound_ip()
        .map(|ip| format!(" on {ip}"))
        .unwrap_or_default();
    NetError::Conflict(format!("port {port}/{}{at} is already in use", m.protocol))
}

/// Fills in host ports for `requested` (in order), refusing any that
/// clash with `taken`, with each other, or with a listening process.
pub(crate) fn resolve(
    id: &str,
    requested: &[PortMapping],
    taken: &[Published],
    probe: &Probe<'_>,
) -> Result<Vec<PortMapping>, NetError> {
    let mut taken = taken.to_vec();
    let mut out: Vec<PortMapping> = requested.to_vec();
    // Explicit ports first, so a picked one never steals a port that a
    // later mapping of the same request names.
    for m in out.iter().filter(|m| m.host_port != 0) {
        let (ip, port) = (m.bound_ip(), m.host_port);
        if taken.iter().any(|t| t.clashes(m.protocol, ip, port)) || !probe(m.protocol, ip, port)? {
            return Err(in_use(m, port));
        }
        taken.push(Published::of(id, m));
    }
    let range_len = u32::from(EPHEMERAL.end() - EPHEMERAL.start()) + 1;
    let start = crate::ipam::port_scan_start(id, range_len);
    for m in out.iter_mut().filter(|m| m.host_port == 0) {
        let ip = m.bound_ip();
        let mut chosen = None;
        for i in 0..range_len {
            let port = EPHEMERAL.start() + ((start + i) % range_len) as u16;
            if !taken.iter().any(|t| t.clashes(m.protocol, ip, port))
                && probe(m.protocol, ip, port)?
            {
                chosen = Some(port);
                break;
            }
        }
        let port = chosen.ok_or_else(|| {
            NetError::Conflict(format!(
                "no free {} port left in {}-{}",
                m.protocol,
                EPHEMERAL.start(),
                EPHEMERAL.end()
            ))
        })?;
        m.host_port = port;
        taken.push(Published::of(id, m));
    }
    Ok(out)
}

/// Tries to bind the port the way a server would. The socket closes at
/// once; it only asks the kernel whether the port is free.
pub(crate) fn bind_probe(
    protocol: Protocol,
    ip: Option<Ipv4Addr>,
    port: u16,
) -> Result<bool, NetError> {
    let addr = SocketAddrV4::new(ip.unwrap_or(Ipv4Addr::UNSPECIFIED), port);
    let r = match protocol {
        Protocol::Tcp => TcpListener::bind(addr).map(drop),
        Protocol::Udp => UdpSocket::bind(addr).map(drop),
    };
    match r {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {
            Err(NetError::InvalidArgument(format!(
                "host address {} is not an address of this host",
                addr.ip()
            )))
        }
        Err(e) => Err(NetError::io(format!(
            "checking whether {addr}/{protocol} is free"
        ))(e)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn free(_: Protocol, _: Option<Ipv4Addr>, _: u16) -> Result<bool, NetError> {
        Ok(true)
    }

    fn taken(owner: &str, protocol: Protocol, ip: Option<Ipv4Addr>, port: u16) -> Published {
        Published {
            owner: owner.into(),
            protocol,
            host_ip: ip,
            host_port: port,
        }
    }

    #[test]
    fn explicit_port_taken_by_another_record_is_a_conflict() {
        let t = [taken("other", Protocol::Tcp, None, 8080)];
        let e = resolve("me", &[PortMapping::tcp(8080, 80)], &t, &free).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert_eq!(e.to_string(), "port 8080/tcp is already in use");
        // Other protocol, fine.
        assert!(resolve("me", &[PortMapping::udp(8080, 80)], &t, &free).is_ok());
    }

    #[test]
    fn addresses_overlap_only_when_equal_or_unspecified() {
        let lo = Some(Ipv4Addr::LOCALHOST);
        let other = Some(Ipv4Addr::new(10, 0, 0, 1));
        let t = [taken("o", Protocol::Tcp, lo, 9000)];
        let on = |ip| PortMapping {
            host_ip: ip,
            ..PortMapping::tcp(9000, 80)
        };
        assert!(resolve("me", &[on(lo)], &t, &free).is_err());
        assert!(resolve("me", &[on(None)], &t, &free).is_err());
        assert!(resolve("me", &[on(Some(Ipv4Addr::UNSPECIFIED))], &t, &free).is_err());
        assert!(resolve("me", &[on(other)], &t, &free).is_ok());
        let e = resolve("me", &[on(lo)], &t, &free).unwrap_err();
        assert_eq!(
            e.to_string(),
            "port 9000/tcp on 127.0.0.1 is already in use"
        );
    }

    #[test]
    fn duplicate_within_one_request_is_a_conflict() {
        let e = resolve(
            "me",
            &[PortMapping::tcp(8080, 80), PortMapping::tcp(8080, 81)],
            &[],
            &free,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict);
    }

    #[test]
    fn listening_process_is_a_conflict() {
        let busy = |_: Protocol, _: Option<Ipv4Addr>, p: u16| Ok(p != 8080);
        let e = resolve("me", &[PortMapping::tcp(8080, 80)], &[], &busy).unwrap_err();
        assert_eq!(e.to_string(), "port 8080/tcp is already in use");
    }

    #[test]
    fn picked_ports_avoid_taken_explicit_and_busy_ones() {
        let start = EPHEMERAL.start() + crate::ipam::port_scan_start("me", 16383) as u16;
        let next = if start == *EPHEMERAL.end() {
            *EPHEMERAL.start()
        } else {
            start + 1
        };
        let busy = move |_: Protocol, _: Option<Ipv4Addr>, p: u16| Ok(p != next);
        let t = [taken("o", Protocol::Tcp, None, start)];
        let got = resolve(
            "me",
            &[
                PortMapping::tcp(0, 80),
                PortMapping::tcp(0, 81),
                PortMapping::tcp(7000, 82),
            ],
            &t,
            &busy,
        )
        .unwrap();
        assert_eq!(got[2].host_port, 7000);
        for m in &got[..2] {
            assert!(EPHEMERAL.contains(&m.host_port));
            assert!(m.host_port != start && m.host_port != next);
        }
        assert_ne!(got[0].host_port, got[1].host_port);
        assert_eq!(got[0].container_port, 80);
    }

    #[test]
    fn exhausted_range_is_a_conflict() {
        let none = |_: Protocol, _: Option<Ipv4Addr>, _: u16| Ok(false);
        let e = resolve("me", &[PortMapping::udp(0, 53)], &[], &none).unwrap_err();
        assert_eq!(e.to_string(), "no free udp port left in 49153-65535");
    }

    #[test]
    fn bind_probe_sees_a_listener() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(!bind_probe(Protocol::Tcp, Some(Ipv4Addr::LOCALHOST), port).unwrap());
        assert!(!bind_probe(Protocol::Tcp, None, port).unwrap());
        drop(l);
        assert!(bind_probe(Protocol::Tcp, Some(Ipv4Addr::LOCALHOST), port).unwrap());
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        assert!(!bind_probe(Protocol::Udp, None, port).unwrap());
    }

    #[test]
    fn bind_probe_rejects_foreign_addresses() {
        // 198.51.100.0/24 is TEST-NET-2; binding sends nothing.
        let e = bind_probe(Protocol::Tcp, Some(Ipv4Addr::new(198, 51, 100, 254)), 0).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }
}
