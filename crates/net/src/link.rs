//! Links, addresses and routes through rtnetlink, driven by a
//! current-thread tokio runtime built per call so that the public API stays
//! synchronous. A netlink socket acts on the network namespace of the thread
//! that opened it, so code meant for a container's namespace opens its
//! session inside [`crate::netns::run_in`] or [`crate::netns::create`].

use std::fs::File;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

use futures::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteType};
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

use crate::error::netlink_errno;
use crate::{Ipv4Net, NetError};

/// The interface name containers see.
pub(crate) const CONTAINER_IF: &str = "eth0";

/// Runs `f` with a fresh netlink session in the calling thread's network
/// namespace.
pub(crate) fn session<T, Fut>(f: impl FnOnce(Handle) -> Fut) -> Result<T, NetError>
where
    Fut: Future<Output = Result<T, NetError>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(NetError::io("starting the netlink runtime"))?;
    rt.block_on(async {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(NetError::io("opening a netlink socket"))?;
        tokio::spawn(conn);
        f(handle).await
    })
}

pub(crate) struct FoundLink {
    pub index: u32,
    pub kind: Option<InfoKind>,
}

pub(crate) async fn find_link(h: &Handle, name: &str) -> Result<Option<FoundLink>, NetError> {
    let found = h.link().get().match_name(name).execute().try_next().await;
    match found {
        Ok(Some(m)) => Ok(Some(FoundLink {
            index: m.header.index,
            kind: link_kind(&m),
        })),
        Ok(None) => Ok(None),
        Err(e) if netlink_errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(NetError::netlink(format!("looking up link {name}"))(e)),
    }
}

fn link_kind(m: &LinkMessage) -> Option<InfoKind> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Kind(k) => Some(k.clone()),
            _ => None,
        }),
        _ => None,
    })
}

async fn set_up(h: &Handle, index: u32, name: &str) -> Result<(), NetError> {
    h.link()
        .change(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(NetError::netlink(format!("bringing {name} up")))
}

/// Adds `ip/prefix_len` to a link unless it is already there.
async fn ensure_address(
    h: &Handle,
    index: u32,
    name: &str,
    ip: Ipv4Addr,
    prefix_len: u8,
) -> Result<(), NetError> {
    let mut addrs = h.address().get().set_link_index_filter(index).execute();
    while let Some(m) = addrs
        .try_next()
        .await
        .map_err(NetError::netlink(format!("listing addresses of {name}")))?
    {
        let has = m
            .attributes
            .iter()
            .any(|a| matches!(a, AddressAttribute::Local(IpAddr::V4(x)) if *x == ip));
        if has && m.header.prefix_len == prefix_len {
            return Ok(());
        }
    }
    match h
        .address()
        .add(index, IpAddr::V4(ip), prefix_len)
        .execute()
        .await
    {
        Err(e) if netlink_errno(&e) != Some(libc::EEXIST) => Err(NetError::netlink(format!(
            "adding {ip}/{prefix_len} to {name}"
        ))(e)),
        _ => Ok(()),
    }
}

/// Creates the bridge if missing, gives it the gateway address and brings it
/// up. Refuses a name taken by another kind of link, and a subnet that
/// overlaps a route the host already has elsewhere (the bridge would
/// hijack or lose that traffic).
/// Returns the bridge's interface index.
pub(crate) async fn ensure_bridge(
    h: &Handle,
    name: &str,
    subnet: &Ipv4Net,
) -> Result<u32, NetError> {
    let gateway = subnet.gateway();
    let link = match find_link(h, name).await? {
        Some(l) => l,
        None => {
            if let Some(route) = overlapping_route(h, subnet, None).await? {
                return Err(NetError::Conflict(format!(
                    "subnet {subnet} of bridge {name} overlaps the host's route to {route}"
                )));
            }
            // A fixed MAC: a bridge otherwise takes the lowest MAC of its
            // ports, changing as containers come and go.
            let msg = LinkBridge::new(name)
                .address(crate::ipam::mac_for(gateway).to_vec())
                .build();
            match h.link().add(msg).execute().await {
                Err(e) if netlink_errno(&e) != Some(libc::EEXIST) => {
                    return Err(NetError::netlink(format!("creating bridge {name}"))(e));
                }
                _ => {}
            }
            find_link(h, name).await?.ok_or_else(|| {
                NetError::Internal(format!("bridge {name} vanished right after creation"))
            })?
        }
    };
    if link.kind != Some(InfoKind::Bridge) {
        return Err(NetError::Conflict(format!(
            "link {name} exists and is not a bridge"
        )));
    }
    if let Some(route) = overlapping_route(h, subnet, Some(link.index)).await? {
        return Err(NetError::Conflict(format!(
            "subnet {subnet} of bridge {name} overlaps the host's route to {route}"
        )));
    }
    ensure_address(h, link.index, name, gateway, subnet.prefix_len()).await?;
    set_up(h, link.index, name).await?;
    Ok(link.index)
}

/// A route of the host, on some other interface than `own`, whose
/// destination overlaps `subnet`. Default routes do not count.
async fn overlapping_route(
    h: &Handle,
    subnet: &Ipv4Net,
    own: Option<u32>,
) -> Result<Option<String>, NetError> {
    let mut routes = h
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute();
    while let Some(r) = routes
        .try_next()
        .await
        .map_err(NetError::netlink("listing routes"))?
    {
        let len = r.header.destination_prefix_length;
        if len == 0 || r.header.kind != RouteType::Unicast || r.header.table == 255 {
            continue;
        }
        let oif = r.attributes.iter().find_map(|a| match a {
            RouteAttribute::Oif(i) => Some(*i),
            _ => None,
        });
        if own.is_some() && oif == own {
            continue;
        }
        let dst = r.attributes.iter().find_map(|a| match a {
            RouteAttribute::Destination(RouteAddress::Inet(d)) => Some(*d),
            _ => None,
        });
        if let Some(dst) = dst.and_then(|d| Ipv4Net::new(d, len).ok())
            && dst.overlaps(subnet)
        {
            return Ok(Some(dst.to_string()));
        }
    }
    Ok(None)
}

/// Creates the veth pair in one request: `host` on the bridge and up, its
/// peer born inside the namespace as `eth0` with `mac`, so no temporary name
/// ever exists on the host.
pub(crate) async fn create_veth(
    h: &Handle,
    host: &str,
    bridge: &str,
    mac: [u8; 6],
    netns: &File,
) -> Result<(), NetError> {
    let br = find_link(h, bridge)
        .await?
        .ok_or_else(|| NetError::Internal(format!("bridge {bridge} does not exist")))?;
    let peer = LinkMessageBuilder::<LinkUnspec>::new()
        .name(CONTAINER_IF)
        .address(mac.to_vec())
        .setns_by_fd(netns.as_raw_fd())
        .build();
    let msg = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
        .name(host)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .controller(br.index)
        .up()
        .build();
    h.link()
        .add(msg)
        .execute()
        .await
        .map_err(NetError::netlink(format!("creating veth {host}")))
}

/// Deletes a link by name; a missing link is fine.
pub(crate) async fn delete_link(h: &Handle, name: &str) -> Result<(), NetError> {
    let Some(link) = find_link(h, name).await? else {
        return Ok(());
    };
    match h.link().del(link.index).execute().await {
        Err(e) if netlink_errno(&e) != Some(libc::ENODEV) => {
            Err(NetError::netlink(format!("deleting link {name}"))(e))
        }
        _ => Ok(()),
    }
}

pub(crate) async fn loopback_up(h: &Handle) -> Result<(), NetError> {
    let lo = find_link(h, "lo")
        .await?
        .ok_or_else(|| NetError::Internal("no lo in network namespace".into()))?;
    set_up(h, lo.index, "lo").await
}

/// Inside the container's namespace: address and bring up `eth0`, then a
/// default route through the bridge.
pub(crate) async fn configure_container_if(
    h: &Handle,
    ip: Ipv4Addr,
    prefix_len: u8,
    gateway: Ipv4Addr,
) -> Result<(), NetError> {
    let eth = find_link(h, CONTAINER_IF).await?.ok_or_else(|| {
        NetError::Internal(format!(
            "no {CONTAINER_IF} in the container's network namespace"
        ))
    })?;
    ensure_address(h, eth.index, CONTAINER_IF, ip, prefix_len).await?;
    set_up(h, eth.index, CONTAINER_IF).await?;
    let route = RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(Ipv4Addr::UNSPECIFIED, 0)
        .gateway(gateway)
        .output_interface(eth.index)
        .build();
    h.route()
        .add(route)
        .execute()
        .await
        .map_err(NetError::netlink(format!(
            "adding default route via {gateway}"
        )))
}
