//! The glue between the ELBv2 API and the load balancer data plane: a
//! thread that keeps [`dockyard_lb::DataPlane`] serving what
//! [`dockyard_elbv2`] recorded (re-reading on every change under
//! `elbv2/` and every change of a container instance, whose address
//! `instance` targets resolve to), the data plane's health reports as a
//! [`dockyard_elbv2::TargetHealthSource`], and the port check that keeps
//! listeners off ports the host cannot give.

mod certs;
mod controller;
mod health;
mod ports;
mod steering;
mod translate;

#[cfg(test)]
mod tests;

pub use certs::{AcmCertificates, ListenerUsers};
pub use controller::{LoadBalancers, instance_addresses, read};
pub use health::SharedHealth;
pub use ports::ListenerPorts;
pub use steering::{kernel_steering, remove_kernel_steering};
pub use translate::{TargetAddresses, Translation, translate};
