//! The `/etc/resolv.conf` and `/etc/hosts` a container gets.

use std::fs;
use std::net::{IpAddr, Ipv4Addr};

const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";
/// Where systemd-resolved lists the real upstream servers behind its
/// 127.0.0.53 stub.
const RESOLVED_UPSTREAM: &str = "/run/systemd/resolve/resolv.conf";

/// The host's resolv.conf with the nameservers a container cannot reach
/// removed: loopback ones (the container's loopback is its own) and IPv6
/// ones (the bridge network is IPv4 only, so each would cost a timeout).
/// If that removes them all and the host runs systemd-resolved, its
/// upstream servers are used instead; otherwise there are none.
pub fn resolv_conf() -> String {
    let host = fs::read_to_string(HOST_RESOLV_CONF).unwrap_or_default();
    let upstream = fs::read_to_string(RESOLVED_UPSTREAM).ok();
    resolv_conf_from(&host, upstream.as_deref())
}

fn nameserver(line: &str) -> Option<Option<IpAddr>> {
    let mut words = line.split_whitespace();
    if words.next() != Some("nameserver") {
        return None;
    }
    // An IPv6 server may carry a zone (`fe80::1%eth0`).
    Some(
        words
            .next()
            .and_then(|a| a.split('%').next())
            .and_then(|a| a.parse().ok()),
    )
}

fn usable(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if !v4.is_loopback())
}

pub(crate) fn resolv_conf_from(host: &str, resolved_upstream: Option<&str>) -> String {
    let mut out = String::new();
    let mut kept = 0;
    let mut dropped_loopback = false;
    for line in host.lines() {
        match nameserver(line) {
            None => {
                out.push_str(line);
                out.push('\n');
            }
            Some(Some(ip)) if usable(ip) => {
                kept += 1;
                out.push_str(line);
                out.push('\n');
            }
            Some(ip) => dropped_loopback |= ip.is_some_and(|ip| ip.is_loopback()),
        }
    }
    if kept == 0 && dropped_loopback {
        for ip in resolved_upstream
            .unwrap_or_default()
            .lines()
            .filter_map(nameserver)
            .flatten()
        {
            if usable(ip) {
                out.push_str(&format!("nameserver {ip}\n"));
            }
        }
    }
    out
}

/// `base` (a resolv.conf) with Docker's `--dns`, `--dns-search` and
/// `--dns-option` applied: each, when given, replaces the lines of its
/// kind (`nameserver`; `search` and `domain`; `options`).
pub fn resolv_conf_with(
    base: &str,
    servers: &[IpAddr],
    search: &[String],
    options: &[String],
) -> String {
    let mut out = String::new();
    for line in base.lines() {
        let word = line.split_whitespace().next().unwrap_or_default();
        let replaced = match word {
            "nameserver" => !servers.is_empty(),
            "search" | "domain" => !search.is_empty(),
            "options" => !options.is_empty(),
            _ => false,
        };
        if !replaced {
            out.push_str(line);
            out.push('\n');
        }
    }
    for ip in servers {
        out.push_str(&format!("nameserver {ip}\n"));
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// An /etc/hosts naming `localhost` and the container: its bridge address,
/// or 127.0.1.1 (Debian's convention) when it has none.
pub fn hosts_file(hostname: &str, ip: Option<Ipv4Addr>) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\n\
         ff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    let hostname = hostname.trim();
    if !hostname.is_empty() {
        let ip = ip.unwrap_or(Ipv4Addr::new(127, 0, 1, 1));
        s.push_str(&format!("{ip}\t{hostname}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_flags_replace_their_lines_only() {
        let base = "# generated\nsearch corp.example\nnameserver 10.0.0.2\noptions ndots:2\n";
        assert_eq!(resolv_conf_with(base, &[], &[], &[]), base);
        assert_eq!(
            resolv_conf_with(base, &["10.9.9.9".parse().expect("ip")], &[], &[]),
            "# generated\nsearch corp.example\noptions ndots:2\nnameserver 10.9.9.9\n"
        );
        assert_eq!(
            resolv_conf_with(
                "domain a.example\nnameserver 10.0.0.2\n",
                &[],
                &["b.example".into(), "c.example".into()],
                &["timeout:1".into()]
            ),
            "nameserver 10.0.0.2\nsearch b.example c.example\noptions timeout:1\n"
        );
    }

    #[test]
    fn keeps_reachable_servers_and_other_lines() {
        let host = "# generated\nsearch corp.example\nnameserver 10.0.0.2\nnameserver 127.0.0.1\noptions ndots:2\n";
        assert_eq!(
            resolv_conf_from(host, Some("nameserver 9.9.9.9\n")),
            "# generated\nsearch corp.example\nnameserver 10.0.0.2\noptions ndots:2\n"
        );
    }

    #[test]
    fn systemd_resolved_stub_is_replaced_by_its_upstream() {
        let stub = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n";
        let upstream = "# upstream\nnameserver 192.168.1.1\nnameserver 2001:db8::1\nnameserver 127.0.0.1\nnameserver 1.1.1.1\n";
        assert_eq!(
            resolv_conf_from(stub, Some(upstream)),
            "options edns0 trust-ad\nsearch lan\nnameserver 192.168.1.1\nnameserver 1.1.1.1\n"
        );
    }

    #[test]
    fn loopback_only_without_resolved_gives_no_servers() {
        assert_eq!(
            resolv_conf_from("nameserver 127.0.0.1\nnameserver ::1\n", None),
            ""
        );
    }

    #[test]
    fn ipv6_and_garbage_servers_are_dropped() {
        let host = "nameserver fe80::1%eth0\nnameserver 2001:db8::53\nnameserver bogus\nnameserver 10.255.255.53\n";
        assert_eq!(resolv_conf_from(host, None), "nameserver 10.255.255.53\n");
    }

    #[test]
    fn hosts_names_the_container() {
        let h = hosts_file("web-1", Some(Ipv4Addr::new(172, 29, 0, 5)));
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("172.29.0.5\tweb-1\n"));
        assert!(hosts_file("solo", None).ends_with("127.0.1.1\tsolo\n"));
        assert!(!hosts_file("", None).contains("127.0.1.1"));
    }
}
