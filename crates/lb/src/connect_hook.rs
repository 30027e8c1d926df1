//! Connections made on this host to an NLB listener, sent straight to a
//! target at `connect(2)`: a cgroup `connect4` BPF program rewrites the
//! destination before the socket picks a route, as Cilium's socket load
//! balancing does. The flow then has no NAT at all: no per-packet
//! rewriting or re-routing, no masquerade for loopback clients, and the
//! target sees the client's own address. Remote clients still go through
//! the nft DNAT rules.
//!
//! The program is a few dozen instructions generated from the listeners
//! (addresses and targets are immediates, so it needs no maps), loaded
//! with `bpf(2)` and attached to the root of the cgroup v2 hierarchy by a
//! BPF link: a new set of listeners replaces the program atomically
//! (`BPF_LINK_UPDATE`), and the link, held only by this process, goes
//! away with it, so a crash leaves nothing attached. It acts only on TCP
//! sockets of this process's network namespace (containers have their
//! own), and only on the listeners' exact addresses.
//!
//! Written by hand rather than with a BPF toolchain crate: the program is
//! straight-line code over five instructions kinds, and building it at
//! runtime avoids a BPF compiler in the build.

use std::ffi::CString;
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use crate::steer::SteeredListener;

const SYS_BPF: libc::c_long = libc::SYS_bpf;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_LINK_UPDATE: libc::c_long = 29;
const BPF_PROG_TYPE_CGROUP_SOCK_ADDR: u32 = 18;
const BPF_CGROUP_INET4_CONNECT: u32 = 10;
const SO_NETNS_COOKIE: libc::c_int = 71;

// Helpers.
const GET_PRANDOM_U32: i32 = 7;
const GET_NETNS_COOKIE: i32 = 122;

// struct bpf_sock_addr offsets.
const USER_IP4: i16 = 4;
const USER_PORT: i16 = 24;
const PROTOCOL: i16 = 36;

/// One instruction: opcode, registers, offset, immediate.
#[derive(Clone, Copy)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

impl Insn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Self {
            code,
            regs: (src << 4) | dst,
            off,
            imm,
        }
    }

    fn bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = self.regs;
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

/// Program text with forward jumps to labels, resolved at the end.
#[derive(Default)]
struct Asm {
    insns: Vec<Insn>,
    /// (instruction index, label) of jumps to patch.
    fixups: Vec<(usize, usize)>,
    labels: Vec<Option<usize>>,
}

impl Asm {
    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }
    fn bind(&mut self, label: usize) {
        self.labels[label] = Some(self.insns.len());
    }
    fn push(&mut self, i: Insn) {
        self.insns.push(i);
    }
    /// `if (u32)reg != imm goto label`.
    fn jne32_imm(&mut self, reg: u8, imm: i32, label: usize) {
        self.fixups.push((self.insns.len(), label));
        self.push(Insn::new(0x56, reg, 0, 0, imm));
    }
    /// `if reg != src goto label` (64-bit).
    fn jne_reg(&mut self, reg: u8, src: u8, label: usize) {
        self.fixups.push((self.insns.len(), label));
        self.push(Insn::new(0x5d, reg, src, 0, 0));
    }
    fn ja(&mut self, label: usize) {
        self.fixups.push((self.insns.len(), label));
        self.push(Insn::new(0x05, 0, 0, 0, 0));
    }
    fn mov64_reg(&mut self, dst: u8, src: u8) {
        self.push(Insn::new(0xbf, dst, src, 0, 0));
    }
    fn mov32_imm(&mut self, dst: u8, imm: i32) {
        self.push(Insn::new(0xb4, dst, 0, 0, imm));
    }
    fn mov64_imm(&mut self, dst: u8, imm: i32) {
        self.push(Insn::new(0xb7, dst, 0, 0, imm));
    }
    fn ld_imm64(&mut self, dst: u8, v: u64) {
        // Two halves of one instruction; the truncations are the point.
        self.push(Insn::new(0x18, dst, 0, 0, (v & 0xffff_ffff) as u32 as i32));
        self.push(Insn::new(0, 0, 0, 0, (v >> 32) as u32 as i32));
    }
    fn ldx32(&mut self, dst: u8, src: u8, off: i16) {
        self.push(Insn::new(0x61, dst, src, off, 0));
    }
    fn stx32(&mut self, dst: u8, src: u8, off: i16) {
        self.push(Insn::new(0x63, dst, src, off, 0));
    }
    fn mod32_imm(&mut self, dst: u8, imm: i32) {
        self.push(Insn::new(0x94, dst, 0, 0, imm));
    }
    fn call(&mut self, helper: i32) {
        self.push(Insn::new(0x85, 0, 0, 0, helper));
    }
    fn exit(&mut self) {
        self.push(Insn::new(0x95, 0, 0, 0, 0));
    }

    fn finish(mut self) -> Result<Vec<u8>, String> {
        for &(at, label) in &self.fixups {
            let target = self.labels[label].ok_or("a jump to an unbound label")?;
            let off = i16::try_from(target as i64 - at as i64 - 1)
                .map_err(|_| "the program is too long for a jump")?;
            self.insns[at].off = off;
        }
        Ok(self.insns.iter().flat_map(|i| i.bytes()).collect())
    }
}

/// An IPv4 address as `bpf_sock_addr.user_ip4` holds it (network order).
fn ip_word(a: &SocketAddrV4) -> i32 {
    i32::from_le_bytes(a.ip().octets())
}

/// A port as `bpf_sock_addr.user_port` holds it (network order, low half).
fn port_word(a: &SocketAddrV4) -> i32 {
    i32::from(u16::from_le_bytes(a.port().to_be_bytes()))
}

/// The program for `listeners` (specific addresses only), acting on
/// sockets of the network namespace `netns_cookie`.
fn program(listeners: &[SteeredListener], netns_cookie: u64) -> Result<Vec<u8>, String> {
    const R0: u8 = 0;
    const R1: u8 = 1;
    const R2: u8 = 2;
    const R6: u8 = 6;
    const R7: u8 = 7;
    const R8: u8 = 8;
    let mut a = Asm::default();
    let out = a.label();
    a.mov64_reg(R6, R1);
    a.call(GET_NETNS_COOKIE);
    a.ld_imm64(R1, netns_cookie);
    a.jne_reg(R0, R1, out);
    a.ldx32(R2, R6, PROTOCOL);
    a.jne32_imm(R2, libc::IPPROTO_TCP, out);
    a.ldx32(R7, R6, USER_IP4);
    a.ldx32(R8, R6, USER_PORT);
    for l in listeners {
        let next = a.label();
        a.jne32_imm(R7, ip_word(&l.listen), next);
        a.jne32_imm(R8, port_word(&l.listen), next);
        let n = i32::try_from(l.targets.len()).map_err(|_| "too many targets")?;
        a.call(GET_PRANDOM_U32);
        a.mod32_imm(R0, n);
        for (i, t) in l.targets.iter().enumerate() {
            let other = a.label();
            a.jne32_imm(R0, i32::try_from(i).map_err(|_| "too many targets")?, other);
            a.mov32_imm(R1, ip_word(t));
            a.stx32(R6, R1, USER_IP4);
            a.mov32_imm(R1, port_word(t));
            a.stx32(R6, R1, USER_PORT);
            a.ja(out);
            a.bind(other);
        }
        a.ja(out);
        a.bind(next);
    }
    a.bind(out);
    a.mov64_imm(R0, 1);
    a.exit();
    a.finish()
}

fn bpf(cmd: libc::c_long, attr: &mut [u8]) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a valid, writable buffer of the length passed,
    // laid out as the kernel's `union bpf_attr` for `cmd`.
    let r = unsafe { libc::syscall(SYS_BPF, cmd, attr.as_mut_ptr(), attr.len()) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Loads a program. Without a log first: a long program's verifier log
/// can overflow any buffer, which fails the load; only a failed load is
/// tried again with the log, for its message.
fn load(code: &[u8]) -> Result<OwnedFd, String> {
    load_with(code, None).or_else(|_| {
        let mut log = vec![0u8; 256 * 1024];
        load_with(code, Some(&mut log))
    })
}

fn load_with(code: &[u8], mut log: Option<&mut Vec<u8>>) -> Result<OwnedFd, String> {
    let license = CString::new("GPL").map_err(|e| e.to_string())?;
    let mut attr = [0u8; 128];
    put_u32(&mut attr, 0, BPF_PROG_TYPE_CGROUP_SOCK_ADDR);
    put_u32(
        &mut attr,
        4,
        u32::try_from(code.len() / 8).map_err(|_| "program too long")?,
    );
    put_u64(&mut attr, 8, code.as_ptr() as u64);
    put_u64(&mut attr, 16, license.as_ptr() as u64);
    if let Some(log) = log.as_deref_mut() {
        put_u32(&mut attr, 24, 1); // log_level
        put_u32(&mut attr, 28, u32::try_from(log.len()).unwrap_or(0));
        put_u64(&mut attr, 32, log.as_mut_ptr() as u64);
    }
    attr[48..56].copy_from_slice(b"dy_nlb\0\0");
    put_u32(&mut attr, 68, BPF_CGROUP_INET4_CONNECT);
    match bpf(BPF_PROG_LOAD, &mut attr) {
        // SAFETY: BPF_PROG_LOAD returned a new file descriptor we own.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => {
            let log = log.map(|l| l.as_slice()).unwrap_or_default();
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            let tail: Vec<&str> = text.lines().rev().take(3).collect();
            Err(format!("loading the connect program: {e} {tail:?}"))
        }
    }
}

/// The root of the cgroup v2 hierarchy (`/sys/fs/cgroup` on unified
/// hosts, `/sys/fs/cgroup/unified` on hybrid ones).
fn cgroup2_root() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mounts.lines().find_map(|line| {
        let (pre, post) = line.split_once(" - ")?;
        let fstype = post.split_whitespace().next()?;
        let fields: Vec<&str> = pre.split_whitespace().collect();
        (fstype == "cgroup2" && fields.get(3) == Some(&"/")).then(|| PathBuf::from(fields[4]))
    })
}

fn netns_cookie() -> Result<u64, String> {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: the buffer is a u64 and `len` says so.
    let r = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            (&raw mut cookie).cast(),
            &raw mut len,
        )
    };
    if r != 0 {
        return Err(format!(
            "reading the network namespace cookie: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(cookie)
}

/// The attached program; dropping it detaches it.
#[derive(Debug)]
pub(crate) struct ConnectHook {
    link: OwnedFd,
    cookie: u64,
}

impl ConnectHook {
    /// Loads a program that does nothing and attaches it. Fails without
    /// the privileges (CAP_BPF and CAP_NET_ADMIN, or root), without a
    /// cgroup v2 hierarchy, or on kernels older than 5.7.
    pub(crate) fn attach() -> Result<Self, String> {
        let cookie = netns_cookie()?;
        let prog = load(&program(&[], cookie)?)?;
        let root = cgroup2_root().ok_or("no cgroup v2 hierarchy is mounted")?;
        let cg =
            std::fs::File::open(&root).map_err(|e| format!("opening {}: {e}", root.display()))?;
        let mut attr = [0u8; 64];
        put_u32(&mut attr, 0, prog.as_raw_fd() as u32);
        put_u32(&mut attr, 4, cg.as_raw_fd() as u32);
        put_u32(&mut attr, 8, BPF_CGROUP_INET4_CONNECT);
        let fd = bpf(BPF_LINK_CREATE, &mut attr)
            .map_err(|e| format!("attaching the connect program to {}: {e}", root.display()))?;
        Ok(Self {
            // SAFETY: BPF_LINK_CREATE returned a new file descriptor we own.
            link: unsafe { OwnedFd::from_raw_fd(fd as i32) },
            cookie,
        })
    }

    /// Replaces the program with one for `listeners`; the listeners'
    /// addresses must be specific (not 0.0.0.0).
    pub(crate) fn set(&self, listeners: &[SteeredListener]) -> Result<(), String> {
        let prog = load(&program(listeners, self.cookie)?)?;
        let mut attr = [0u8; 64];
        put_u32(&mut attr, 0, self.link.as_raw_fd() as u32);
        put_u32(&mut attr, 4, prog.as_raw_fd() as u32);
        bpf(BPF_LINK_UPDATE, &mut attr)
            .map(|_| ())
            .map_err(|e| format!("replacing the connect program: {e}"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_program_for_many_listeners_loads() {
        dockyard_testkit::require_root!();
        let listeners: Vec<SteeredListener> = (0..100u16)
            .map(|i| SteeredListener {
                listen: SocketAddrV4::new([127, 0, 0, 1].into(), 20_000 + i),
                targets: (0..20u8)
                    .map(|t| SocketAddrV4::new([10, 9, (i % 250) as u8, t].into(), 8080))
                    .collect(),
            })
            .collect();
        let code = program(&listeners, 1).unwrap();
        assert!(code.len() / 8 > 10_000);
        load(&code).unwrap();
    }

    #[test]
    fn words_are_in_network_order_as_the_kernel_stores_them() {
        let a: SocketAddrV4 = "10.1.2.200:80".parse().unwrap();
        assert_eq!(ip_word(&a).to_le_bytes(), [10, 1, 2, 200]);
        assert_eq!(port_word(&a).to_le_bytes(), [0, 80, 0, 0]);
    }

    #[test]
    fn jumps_land_on_their_labels() {
        let l = SteeredListener {
            listen: "127.0.0.1:80".parse().unwrap(),
            targets: vec![
                "10.0.0.2:8080".parse().unwrap(),
                "10.0.0.3:8080".parse().unwrap(),
            ],
        };
        let code = program(&[l], 42).unwrap();
        let insns: Vec<&[u8]> = code.chunks(8).collect();
        // The last two: r0 = 1; exit.
        assert_eq!(insns[insns.len() - 1][0], 0x95);
        assert_eq!(insns[insns.len() - 2][0], 0xb7);
        let out = insns.len() as i64 - 2;
        for (i, insn) in insns.iter().enumerate() {
            let off = i64::from(i16::from_le_bytes([insn[2], insn[3]]));
            let target = i as i64 + 1 + off;
            if matches!(insn[0], 0x05 | 0x56 | 0x5d) {
                assert!(
                    target > i as i64 && target <= out,
                    "insn {i} jumps to {target}"
                );
            }
        }
    }
}
