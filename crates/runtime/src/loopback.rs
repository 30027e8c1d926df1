//! Brings up the loopback interface in a container's fresh network
//! namespace. A new namespace starts with `lo` down; Docker's `none` mode
//! and every ECS task expect `127.0.0.1` to work.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::sched::{CloneFlags, setns};

use crate::RuntimeError;

fn internal(what: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Internal(format!("bringing up the container's loopback: {what}: {e}"))
}

/// Sets `lo` up in the network namespace of process `pid`. The calling
/// thread enters that namespace only long enough to open a socket there
/// (a socket keeps the namespace it was made in), then returns to its own.
pub fn up_in(pid: i32) -> Result<(), RuntimeError> {
    let target = File::open(format!("/proc/{pid}/ns/net")).map_err(|e| internal("open", e))?;
    let own = File::open("/proc/self/ns/net").map_err(|e| internal("open", e))?;
    setns(&target, CloneFlags::CLONE_NEWNET).map_err(|e| internal("setns", e))?;
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    let socket_err = std::io::Error::last_os_error();
    setns(&own, CloneFlags::CLONE_NEWNET).map_err(|e| internal("returning to own namespace", e))?;
    if raw < 0 {
        return Err(internal("socket", socket_err));
    }
    // SAFETY: `raw` is a socket descriptor just returned and owned by nothing else.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain data; an all-zero value is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS read and write `req`, a valid
    // ifreq naming `lo`; `ifru_flags` is the union member they use.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(internal("SIOCGIFFLAGS", std::io::Error::last_os_error()));
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(internal("SIOCSIFFLAGS", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}
