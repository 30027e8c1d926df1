//! Container networking on one node: a Linux bridge with NAT, a network
//! namespace per container with a veth on the bridge, published ports, and
//! the resolv.conf and hosts files containers get.
//!
//! Links, addresses, routes and namespaces go through netlink
//! (`rtnetlink`); NAT and port publishing through nftables (the `nft`
//! binary), in one table per bridge. The API is synchronous; see
//! [`Networks`].

mod dns;
mod error;
mod ipam;
mod link;
mod model;
mod netns;
mod networks;
mod nft;
mod ports;
mod state;

pub use dns::{hosts_file, resolv_conf, resolv_conf_with};
pub use error::{ErrorKind, NetError};
pub use model::{Attachment, BridgeConfig, Ipv4Net, NetworkMode, PortMapping, Protocol};
pub use netns::run_in;
pub use networks::Networks;
