//! NAT and port publishing with nftables, through the `nft` binary.
//!
//! Each bridge owns one table, `ip dockyard_<bridge>`, so removing a bridge's
//! rules is one `delete table`:
//! - `prerouting` and `output` (nat) send traffic for local addresses to the
//!   `ports` chain; `output` is what makes published ports work from the
//!   host itself, 127.0.0.1 included.
//! - `postrouting` (nat) masquerades the subnet leaving through other
//!   interfaces, loopback-sourced connections DNATed onto the bridge (their
//!   replies must come back to an address the container can route to), and
//!   containers reaching a sibling through a published port.
//! - `redirects` (from `prerouting`, for traffic coming in on the bridge,
//!   before `ports`) sends the containers' connections to a local service's
//!   well-known port on to the port it really listens on: the task metadata
//!   endpoint of the agent that owns the bridge.
//! - `ports` holds one DNAT rule per published port whose comment,
//!   `dockyard:<id>:<proto>:<host ip>:<host port>`, names its owner, so an
//!   attachment's rules can be found and removed, and every bridge's
//!   published ports can be read back from the kernel.

use std::net::Ipv4Addr;

use serde_json::Value;

use crate::ports::Published;
use crate::{Ipv4Net, NetError, PortMapping};

const TABLE_PREFIX: &str = "dockyard_";
const PORT_CHAIN: &str = "ports";
const REDIRECT_CHAIN: &str = "redirects";
const COMMENT_PREFIX: &str = "dockyard:";

pub(crate) fn table_name(bridge: &str) -> String {
    format!("{TABLE_PREFIX}{bridge}")
}

/// Idempotent: chains are added if missing and the fixed ones refilled in
/// the same transaction, while `ports` keeps its rules.
pub(crate) fn base_script(table: &str, bridge: &str, subnet: &Ipv4Net) -> String {
    format!(
        "add table ip {table}
add chain ip {table} {PORT_CHAIN}
add chain ip {table} {REDIRECT_CHAIN}
add chain ip {table} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}
add chain ip {table} output {{ type nat hook output priority -100; policy accept; }}
add chain ip {table} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}
flush chain ip {table} prerouting
flush chain ip {table} output
flush chain ip {table} postrouting
add rule ip {table} prerouting iifname \"{bridge}\" jump {REDIRECT_CHAIN}
add rule ip {table} prerouting fib daddr type local jump {PORT_CHAIN}
add rule ip {table} output fib daddr type local jump {PORT_CHAIN}
add rule ip {table} postrouting ip saddr {subnet} oifname != \"{bridge}\" masquerade
add rule ip {table} postrouting oifname \"{bridge}\" ip saddr 127.0.0.0/8 masquerade
add rule ip {table} postrouting oifname \"{bridge}\" ct status dnat ip saddr {subnet} masquerade
"
    )
}

/// Replaces the bridge's redirect: its containers' TCP connections to
/// `daddr:port` go to `daddr:to_port` instead. Comes before the published
/// ports, so a container port published on the host's every address does
/// not capture them.
pub(crate) fn redirect_script(table: &str, daddr: Ipv4Addr, port: u16, to_port: u16) -> String {
    format!(
        "add chain ip {table} {REDIRECT_CHAIN}
flush chain ip {table} {REDIRECT_CHAIN}
add rule ip {table} {REDIRECT_CHAIN} ip daddr {daddr} tcp dport {port} dnat to {daddr}:{to_port}
"
    )
}

pub(crate) fn comment(id: &str, m: &PortMapping) -> String {
    let ip = m.bound_ip().unwrap_or(Ipv4Addr::UNSPECIFIED);
    format!("{COMMENT_PREFIX}{id}:{}:{ip}:{}", m.protocol, m.host_port)
}

fn parse_comment(c: &str) -> Option<Published> {
    let rest = c.strip_prefix(COMMENT_PREFIX)?;
    let mut parts = rest.split(':');
    let (owner, proto, ip, port) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let ip: Ipv4Addr = ip.parse().ok()?;
    Some(Published {
        owner: owner.to_string(),
        protocol: proto.parse().ok()?,
        host_ip: Some(ip).filter(|ip| !ip.is_unspecified()),
        host_port: port.parse().ok()?,
    })
}

pub(crate) fn add_ports_script(
    table: &str,
    id: &str,
    container_ip: Ipv4Addr,
    ports: &[PortMapping],
) -> String {
    let mut s = String::new();
    for m in ports {
        let daddr = m
            .bound_ip()
            .map(|ip| format!("ip daddr {ip} "))
            .unwrap_or_default();
        s.push_str(&format!(
            "add rule ip {table} {PORT_CHAIN} {daddr}{proto} dport {hp} dnat to {container_ip}:{cp} comment \"{c}\"\n",
            proto = m.protocol,
            hp = m.host_port,
            cp = m.container_port,
            c = comment(id, m),
        ));
    }
    s
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortRule {
    pub table: String,
    pub handle: u64,
    pub published: Published,
}

/// The port rules in `nft -j` output, from dockyard tables only.
fn parse_port_rules(json: &str) -> Result<Vec<PortRule>, NetError> {
    let v: Value = serde_json::from_str(json)
        .map_err(|e| NetError::Internal(format!("nft printed JSON that does not parse: {e}")))?;
    let items = v
        .get("nftables")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(items
        .iter()
        .filter_map(|item| {
            let r = item.get("rule")?;
            let table = r.get("table")?.as_str()?;
            if !table.starts_with(TABLE_PREFIX) || r.get("chain")?.as_str()? != PORT_CHAIN {
                return None;
            }
            Some(PortRule {
                table: table.to_string(),
                handle: r.get("handle")?.as_u64()?,
                published: parse_comment(r.get("comment")?.as_str()?)?,
            })
        })
        .collect())
}

impl From<dockyard_nft::NftError> for NetError {
    fn from(e: dockyard_nft::NftError) -> Self {
        match e {
            dockyard_nft::NftError::Spawn { what, source } => Self::Io {
                what: format!("running nft while {what}"),
                source,
            },
            dockyard_nft::NftError::Failed { what, stderr } => Self::Nft { what, stderr },
        }
    }
}

fn nft(args: &[&str], stdin: Option<&str>, what: &str) -> Result<String, NetError> {
    Ok(dockyard_nft::run(args, stdin, what)?)
}

/// Applies a script as one transaction: all of it or nothing.
pub(crate) fn apply(script: &str, what: &str) -> Result<(), NetError> {
    Ok(dockyard_nft::apply(script, what)?)
}

fn is_missing(e: &NetError) -> bool {
    matches!(e, NetError::Nft { stderr, .. } if stderr.contains("No such file or directory"))
}

/// Port rules of one table (none if the table is gone), or of every
/// dockyard table on the node.
pub(crate) fn port_rules(table: Option<&str>) -> Result<Vec<PortRule>, NetError> {
    let out = match table {
        Some(t) => match nft(
            &["-j", "list", "table", "ip", t],
            None,
            &format!("listing table {t}"),
        ) {
            Err(e) if is_missing(&e) => return Ok(Vec::new()),
            r => r?,
        },
        None => nft(
            &["-j", "list", "ruleset", "ip"],
            None,
            "listing published ports",
        )?,
    };
    parse_port_rules(&out)
}

pub(crate) fn delete_rules_script(table: &str, handles: &[u64]) -> String {
    handles
        .iter()
        .map(|h| format!("delete rule ip {table} {PORT_CHAIN} handle {h}\n"))
        .collect()
}

/// Removes the port rules owned by `id`; none left is success.
pub(crate) fn remove_port_rules(table: &str, id: &str) -> Result<(), NetError> {
    let owned = |rules: Vec<PortRule>| -> Vec<u64> {
        rules
            .into_iter()
            .filter(|r| r.published.owner == id)
            .map(|r| r.handle)
            .collect()
    };
    let handles = owned(port_rules(Some(table))?);
    if handles.is_empty() {
        return Ok(());
    }
    match apply(
        &delete_rules_script(table, &handles),
        &format!("removing port rules of {id}"),
    ) {
        // Someone removed some of them (or the table) meanwhile; fine if
        // none are left.
        Err(e) if owned(port_rules(Some(table))?).is_empty() => {
            tracing::debug!(%id, error = %e, "port rules already gone");
            Ok(())
        }
        r => r,
    }
}

pub(crate) fn delete_table(table: &str) -> Result<(), NetError> {
    Ok(dockyard_nft::delete_table("ip", table)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Protocol;

    #[test]
    fn base_script_masquerades_the_subnet_and_loopback() {
        let s = base_script("dockyard_br0", "br0", &"172.29.0.0/16".parse().unwrap());
        assert!(s.contains("add rule ip dockyard_br0 postrouting ip saddr 172.29.0.0/16 oifname != \"br0\" masquerade"));
        assert!(s.contains("oifname \"br0\" ip saddr 127.0.0.0/8 masquerade"));
        assert!(s.contains("add rule ip dockyard_br0 output fib daddr type local jump ports"));
        // Refilling must not touch the per-container chain.
        assert!(!s.contains("flush chain ip dockyard_br0 ports"));
        // Nor the redirect, which is looked at before the published ports.
        assert!(!s.contains("flush chain ip dockyard_br0 redirects"));
        let (redirect, ports) = (
            s.find("prerouting iifname \"br0\" jump redirects").unwrap(),
            s.find("prerouting fib daddr type local jump ports")
                .unwrap(),
        );
        assert!(redirect < ports);
    }

    #[test]
    fn redirect_replaces_the_last_one() {
        assert_eq!(
            redirect_script("dockyard_br0", Ipv4Addr::new(169, 254, 170, 2), 80, 41000),
            "add chain ip dockyard_br0 redirects\n\
             flush chain ip dockyard_br0 redirects\n\
             add rule ip dockyard_br0 redirects ip daddr 169.254.170.2 tcp dport 80 dnat to 169.254.170.2:41000\n"
        );
    }

    #[test]
    fn port_rules_carry_owner_comments() {
        let ports = [
            PortMapping::tcp(8080, 80),
            PortMapping {
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_port: 5353,
                container_port: 53,
                protocol: Protocol::Udp,
            },
        ];
        let s = add_ports_script("dockyard_br0", "c1", Ipv4Addr::new(172, 29, 0, 2), &ports);
        assert_eq!(
            s,
            "add rule ip dockyard_br0 ports tcp dport 8080 dnat to 172.29.0.2:80 comment \"dockyard:c1:tcp:0.0.0.0:8080\"\n\
             add rule ip dockyard_br0 ports ip daddr 127.0.0.1 udp dport 5353 dnat to 172.29.0.2:53 comment \"dockyard:c1:udp:127.0.0.1:5353\"\n"
        );
    }

    #[test]
    fn comments_round_trip() {
        let m = PortMapping {
            host_ip: Some(Ipv4Addr::new(10, 0, 0, 1)),
            ..PortMapping::udp(9000, 90)
        };
        let p = parse_comment(&comment("web.1", &m)).unwrap();
        assert_eq!(
            p,
            Published {
                owner: "web.1".into(),
                protocol: Protocol::Udp,
                host_ip: m.host_ip,
                host_port: 9000
            }
        );
        let any = parse_comment(&comment("x", &PortMapping::tcp(80, 80))).unwrap();
        assert_eq!(any.host_ip, None);
        for bad in [
            "",
            "other:x:tcp:0.0.0.0:80",
            "dockyard:x:tcp:0.0.0.0",
            "dockyard:x:sctp:0.0.0.0:80",
            "dockyard:x:tcp:0.0.0.0:80:9",
        ] {
            assert!(parse_comment(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn parses_rules_from_dockyard_tables_only() {
        let json = r#"{"nftables": [
            {"metainfo": {"version": "1.0.6"}},
            {"table": {"family": "ip", "name": "dockyard_a", "handle": 1}},
            {"rule": {"family": "ip", "table": "dockyard_a", "chain": "ports", "handle": 10, "comment": "dockyard:c1:tcp:127.0.0.1:8080", "expr": []}},
            {"rule": {"family": "ip", "table": "dockyard_a", "chain": "postrouting", "handle": 11, "expr": []}},
            {"rule": {"family": "ip", "table": "dockyard_b", "chain": "ports", "handle": 4, "comment": "dockyard:c2:udp:0.0.0.0:53", "expr": []}},
            {"rule": {"family": "ip", "table": "nat", "chain": "ports", "handle": 5, "comment": "dockyard:c3:udp:0.0.0.0:54", "expr": []}},
            {"rule": {"family": "ip", "table": "dockyard_b", "chain": "ports", "handle": 6, "comment": "hand made", "expr": []}}
        ]}"#;
        let rules = parse_port_rules(json).unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(
            (rules[0].table.as_str(), rules[0].handle),
            ("dockyard_a", 10)
        );
        assert_eq!(rules[0].published.host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(rules[1].published.owner, "c2");
        assert!(parse_port_rules("not json").is_err());
    }

    #[test]
    fn delete_script_names_handles() {
        assert_eq!(
            delete_rules_script("dockyard_x", &[3, 9]),
            "delete rule ip dockyard_x ports handle 3\ndelete rule ip dockyard_x ports handle 9\n"
        );
    }
}
