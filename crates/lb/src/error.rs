//! Errors of the data plane: configuration values that do not parse, and
//! listeners that cannot be served. `apply` never fails as a whole; each
//! listener's error is reported on its own in [`crate::ApplyReport`].

use std::io;
use std::net::SocketAddr;

use dockyard_types::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid health check matcher {0:?}: expected codes like 200, 200-299 or 200,302")]
    InvalidMatcher(String),
    #[error("invalid cidr {0:?}")]
    InvalidCidr(String),
    #[error("invalid health check port {0:?}: expected traffic-port or 1-65535")]
    InvalidHealthCheckPort(String),
}

impl ConfigError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

/// Why one listener is not being served (or kept its previous rules).
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("listener {listener}: protocol {protocol} is not served by this data plane")]
    UnsupportedProtocol { listener: String, protocol: String },
    #[error("listener {listener}: forwards to unknown target group {target_group}")]
    UnknownTargetGroup {
        listener: String,
        target_group: String,
    },
    #[error("listener {listener}: a rule or the default has no action")]
    NoAction { listener: String },
    #[error("listener {listener}: a network load balancer listener can only forward")]
    NotForward { listener: String },
    #[error("listener {listener}: {message}")]
    Tls { listener: String, message: String },
    #[error("listener {listener}: bind {addr}: {source}")]
    Bind {
        listener: String,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}

impl ListenerError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Bind { source, .. } => match source.kind() {
                io::ErrorKind::AddrInUse => ErrorKind::Conflict,
                io::ErrorKind::AddrNotAvailable => ErrorKind::InvalidArgument,
                io::ErrorKind::PermissionDenied => ErrorKind::Unauthorized,
                _ => ErrorKind::Internal,
            },
            Self::UnknownTargetGroup { .. } => ErrorKind::NotFound,
            Self::UnsupportedProtocol { .. }
            | Self::NoAction { .. }
            | Self::NotForward { .. }
            | Self::Tls { .. } => ErrorKind::InvalidArgument,
        }
    }
}
