//! Address, MAC and interface-name choices. Pure functions: the caller holds
//! the state lock and passes in what is taken.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::net::Ipv4Addr;

use crate::{Ipv4Net, NetError};

/// The lowest container address of `subnet` not in `used`.
///
/// Reusing a released address straight away is safe because the MAC is
/// derived from the address (see [`mac_for`]), so neighbours' ARP caches
/// stay right.
pub(crate) fn allocate(subnet: &Ipv4Net, used: &HashSet<Ipv4Addr>) -> Result<Ipv4Addr, NetError> {
    subnet
        .container_hosts()
        .find(|ip| !used.contains(ip))
        .ok_or_else(|| NetError::Conflict(format!("no free address left in subnet {subnet}")))
}

/// A locally administered unicast MAC carrying the IPv4 address, as Docker
/// does, so an address always maps to the same MAC.
pub(crate) fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub(crate) fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// `dy` + 10 hex characters from the id + 3 random hex characters: 15, the
/// kernel's limit. The id part lets an operator find the container from
/// `ip link`; the random part keeps a re-attach of the same id from
/// colliding with a veth that outlived a crash.
pub(crate) fn veth_name(id: &str) -> String {
    let head = &id[..id.len().min(10)];
    let id_hex = if head.len() == 10
        && head
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        head.to_string()
    } else {
        format!("{:016x}", fnv1a(id.as_bytes()))[..10].to_string()
    };
    format!("dy{id_hex}{:03x}", random_u64() & 0xfff)
}

fn fnv1a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Not cryptographic: std's `RandomState` is seeded from the OS per process
/// and per instance, which is all a name suffix needs.
pub(crate) fn random_u64() -> u64 {
    std::hash::RandomState::new().build_hasher().finish()
}

/// Deterministic per id, so an id's picked ports spread over the range
/// instead of all attachments racing for 49153.
pub(crate) fn port_scan_start(id: &str, range_len: u32) -> u32 {
    (fnv1a(id.as_bytes()) % u64::from(range_len)) as u32
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn allocates_lowest_free_and_reports_exhaustion() {
        let n: Ipv4Net = "10.1.2.0/29".parse().unwrap();
        let mut used = HashSet::new();
        let mut got = Vec::new();
        for _ in 0..5 {
            let ip = allocate(&n, &used).unwrap();
            used.insert(ip);
            got.push(ip.octets()[3]);
        }
        assert_eq!(got, vec![2, 3, 4, 5, 6]);
        let e = allocate(&n, &used).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Conflict);
        assert_eq!(e.to_string(), "no free address left in subnet 10.1.2.0/29");
        used.remove(&Ipv4Addr::new(10, 1, 2, 4));
        assert_eq!(allocate(&n, &used).unwrap(), Ipv4Addr::new(10, 1, 2, 4));
    }

    #[test]
    fn never_hands_out_gateway_network_or_broadcast() {
        let n: Ipv4Net = "10.1.2.0/24".parse().unwrap();
        let all: HashSet<_> = n.container_hosts().collect();
        assert!(!all.contains(&n.gateway()));
        assert!(!all.contains(&n.network()));
        assert!(!all.contains(&n.broadcast()));
    }

    #[test]
    fn mac_carries_the_address() {
        let m = mac_for(Ipv4Addr::new(172, 29, 0, 2));
        assert_eq!(mac_string(&m), "02:42:ac:1d:00:02");
        // Locally administered, unicast.
        assert_eq!(m[0] & 0b11, 0b10);
    }

    #[test]
    fn veth_names_fit_and_show_the_id() {
        let a = veth_name("3f2a9b1c7e5500aa");
        assert_eq!(a.len(), 15);
        assert!(a.starts_with("dy3f2a9b1c7e"), "{a}");
        let b = veth_name("web/task 1 with a long name");
        assert_eq!(b.len(), 15);
        assert!(b.starts_with("dy"));
        assert!(b[2..].bytes().all(|c| c.is_ascii_hexdigit()), "{b}");
        // Same id, same hex part; short ids are hashed too.
        assert_eq!(veth_name("x")[..12], veth_name("x")[..12]);
        assert_eq!(veth_name("abc").len(), 15);
    }

    #[test]
    fn scan_start_is_in_range() {
        for id in ["a", "b", "c", "some-long-id"] {
            assert!(port_scan_start(id, 16383) < 16383);
        }
    }
}
