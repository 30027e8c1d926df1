//! Which ports a new listener may take on this host.

use std::net::{IpAddr, SocketAddr, TcpListener};

use dockyard_elbv2::PortCheck;
use dockyard_elbv2::model::Protocol;

/// Refuses the server's own API port and any port something else holds
/// on the load balancer address (tried with a bind that is released at
/// once; the data plane binds it for real right after the listener is
/// written).
pub struct ListenerPorts {
    pub lb_ip: IpAddr,
    pub api: SocketAddr,
}

impl PortCheck for ListenerPorts {
    fn check(&self, port: u16, _protocol: Protocol) -> Result<(), String> {
        let overlaps = self.lb_ip == self.api.ip()
            || self.lb_ip.is_unspecified()
            || self.api.ip().is_unspecified();
        if port == self.api.port() && overlaps {
            return Err(format!("port {port} is Dockyard's API port"));
        }
        TcpListener::bind(SocketAddr::new(self.lb_ip, port))
            .map(drop)
            .map_err(|e| format!("port {port} on {} is in use ({e})", self.lb_ip))
    }
}
