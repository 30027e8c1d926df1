//! Privileged tests against the real kernel: bridges, namespaces, veths,
//! nftables. Each test gets its own bridge, /24, state and netns
//! directories, and a guard that detaches and tears down even on failure.
//! Traffic only ever goes to loopback, the host's own addresses, and the
//! test's own bridge and namespaces.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use dockyard_net::{BridgeConfig, ErrorKind, Ipv4Net, NetworkMode, Networks, PortMapping, run_in};
use dockyard_testkit::{TempDir, require_root, unique};
use nix::fcntl::{Flock, FlockArg};

const TIMEOUT: Duration = Duration::from_secs(5);

/// A bridge network of its own, torn down on drop.
struct TestNet {
    nets: Networks,
    cfg: BridgeConfig,
    _dir: TempDir,
}

impl TestNet {
    /// Picks a free 172.30.X.0/24 and brings the bridge up. Subnet choice
    /// and `ensure` happen under a lock so parallel tests (and runs) never
    /// pick the same one; `ensure` refuses a subnet some other bridge
    /// already routes, so the next X is tried.
    fn new() -> Self {
        let tag = unique("");
        let name = format!("dyt{}", &tag[..6]);
        let dir = TempDir::new("net").unwrap();
        let _lock = lock("/run/dockyard/test-subnets.lock");
        let start = u8::from_str_radix(&tag[..2], 16).unwrap();
        for i in 0..=255u8 {
            let x = start.wrapping_add(i);
            if x == 0 || x == 255 {
                continue;
            }
            let cfg = BridgeConfig {
                name: name.clone(),
                subnet: Ipv4Net::new(Ipv4Addr::new(172, 30, x, 0), 24).unwrap(),
                state_dir: dir.path().join("state"),
                netns_dir: dir.path().join("netns"),
            };
            let nets = Networks::new(cfg.clone());
            match nets.ensure() {
                Ok(()) => {
                    return TestNet {
                        nets,
                        cfg,
                        _dir: dir,
                    };
                }
                Err(e) if e.kind() == ErrorKind::Conflict => continue,
                Err(e) => {
                    let _ = nets.teardown();
                    panic!("ensure {name}: {e}");
                }
            }
        }
        panic!("no free 172.30.X.0/24 left");
    }

    fn gateway(&self) -> Ipv4Addr {
        self.cfg.subnet.gateway()
    }

    fn table(&self) -> String {
        format!("dockyard_{}", self.cfg.name)
    }

    fn nft_table(&self) -> String {
        let out = Command::new("nft")
            .args(["list", "table", "ip", &self.table()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn bridge_ports(&self) -> Vec<String> {
        fs::read_dir(format!("/sys/class/net/{}/brif", self.cfg.name))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        for a in self.nets.list().unwrap_or_default() {
            if let Err(e) = self.nets.detach(&a.id) {
                eprintln!("cleanup: detach {}: {e}", a.id);
            }
        }
        if let Err(e) = self.nets.teardown() {
            eprintln!("cleanup: teardown {}: {e}", self.cfg.name);
        }
    }
}

fn lock(path: &str) -> Flock<fs::File> {
    fs::create_dir_all(Path::new(path).parent().unwrap()).unwrap();
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap();
    Flock::lock(f, FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .unwrap()
}

/// Runs busybox inside a namespace; the test fails on a non-zero exit.
fn in_ns(ns: &Path, args: &[&str]) -> String {
    let out = Command::new("nsenter")
        .arg(format!("--net={}", ns.display()))
        .arg(dockyard_testkit::BUSYBOX)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A TCP server created inside `ns` that answers every connection with
/// `token` and closes. The socket stays in the namespace it was made in,
/// so it can be served from any thread.
fn serve_tcp(ns: &Path, port: u16, token: String) {
    let l = run_in(ns, move || TcpListener::bind(("0.0.0.0", port)))
        .unwrap()
        .unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let _ = s.write_all(token.as_bytes());
        }
    });
}

fn serve_udp(ns: &Path, port: u16, token: String) {
    let u = run_in(ns, move || UdpSocket::bind(("0.0.0.0", port)))
        .unwrap()
        .unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while let Ok((_, from)) = u.recv_from(&mut buf) {
            let _ = u.send_to(token.as_bytes(), from);
        }
    });
}

fn fetch(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn sock(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(ip, port))
}

/// The address the host would use towards the outside, found with a UDP
/// `connect`, which sends nothing.
fn host_address() -> Option<Ipv4Addr> {
    let u = UdpSocket::bind("0.0.0.0:0").ok()?;
    u.connect("198.51.100.1:9").ok()?;
    match u.local_addr().ok()? {
        SocketAddr::V4(a) if !a.ip().is_loopback() => Some(*a.ip()),
        _ => None,
    }
}

fn free_port() -> u16 {
    TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn ensure_is_idempotent_and_sets_up_the_host() {
    require_root!();
    let t = TestNet::new();
    t.nets.ensure().unwrap();
    t.nets.ensure().unwrap();
    let table = t.nft_table();
    assert_eq!(table.matches("masquerade").count(), 3, "{table}");
    assert_eq!(table.matches("jump ports").count(), 2, "{table}");
    let forward = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    assert_eq!(forward.trim(), "1");
    let localnet = fs::read_to_string(format!(
        "/proc/sys/net/ipv4/conf/{}/route_localnet",
        t.cfg.name
    ))
    .unwrap();
    assert_eq!(localnet.trim(), "1");
    let operstate = fs::read_to_string(format!("/sys/class/net/{}/flags", t.cfg.name)).unwrap();
    let flags = u32::from_str_radix(operstate.trim().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & libc::IFF_UP as u32, libc::IFF_UP as u32);
    // The gateway address is there exactly once: a listener can bind it.
    TcpListener::bind((t.gateway(), 0)).unwrap();
}

#[test]
fn overlapping_subnet_is_refused() {
    require_root!();
    let t = TestNet::new();
    let dir = TempDir::new("net-overlap").unwrap();
    let other = Networks::new(BridgeConfig {
        name: format!("dyt{}", &unique("")[..6]),
        subnet: t.cfg.subnet,
        state_dir: dir.path().join("state"),
        netns_dir: dir.path().join("netns"),
    });
    let e = other.ensure().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(e.to_string().contains(&t.cfg.subnet.to_string()), "{e}");
    assert!(!Path::new(&format!("/sys/class/net/{}", other.config().name)).exists());
}

#[test]
fn two_containers_reach_each_other_and_the_gateway() {
    require_root!();
    let t = TestNet::new();
    let a = t
        .nets
        .attach(&unique("a"), NetworkMode::Bridge, &[])
        .unwrap();
    let b = t
        .nets
        .attach(&unique("b"), NetworkMode::Bridge, &[])
        .unwrap();
    let (a_ip, b_ip) = (a.ip.unwrap(), b.ip.unwrap());
    assert_ne!(a_ip, b_ip);
    for att in [&a, &b] {
        assert!(t.cfg.subnet.contains(att.ip.unwrap()));
        assert_eq!(att.gateway, Some(t.gateway()));
        assert_eq!(att.prefix_len, 24);
        let veth = att.host_veth.as_deref().unwrap();
        assert!(veth.len() <= 15);
        let master = fs::read_link(format!("/sys/class/net/{veth}/master")).unwrap();
        assert_eq!(master.file_name().unwrap().to_str().unwrap(), t.cfg.name);
        let ns = att.netns.as_deref().unwrap();
        assert!(ns.starts_with(&t.cfg.netns_dir));
        let addr = in_ns(ns, &["ip", "-4", "addr", "show", "eth0"]);
        assert!(
            addr.contains(&format!("inet {}/24", att.ip.unwrap())),
            "{addr}"
        );
        let link = in_ns(ns, &["ip", "link", "show", "eth0"]);
        assert!(link.contains(att.mac.as_deref().unwrap()), "{link}");
        assert!(link.contains(",UP"), "{link}");
        let routes = in_ns(ns, &["ip", "route"]);
        assert!(
            routes.contains(&format!("default via {} dev eth0", t.gateway())),
            "{routes}"
        );
        let lo = in_ns(ns, &["ip", "link", "show", "lo"]);
        assert!(lo.contains(",UP"), "{lo}");
    }
    assert_eq!(t.nets.get(&a.id).unwrap().as_ref(), Some(&a));
    assert_eq!(t.nets.list().unwrap().len(), 2);

    // a -> b over the bridge.
    serve_tcp(
        b.netns.as_deref().unwrap(),
        7000,
        format!("hello from {}", b.id),
    );
    let got = run_in(a.netns.as_deref().unwrap(), || fetch(sock(b_ip, 7000)))
        .unwrap()
        .unwrap();
    assert_eq!(got, format!("hello from {}", b.id));
    // a -> the gateway (a listener of the host on the bridge address).
    let host = TcpListener::bind((t.gateway(), 0)).unwrap();
    let port = host.local_addr().unwrap().port();
    let gw = t.gateway();
    let client = std::thread::spawn({
        let ns = a.netns.clone().unwrap();
        move || {
            run_in(&ns, || {
                TcpStream::connect_timeout(&sock(gw, port), TIMEOUT).map(drop)
            })
            .unwrap()
        }
    });
    let (_, peer) = host.accept().unwrap();
    assert_eq!(peer.ip(), std::net::IpAddr::V4(a_ip));
    client.join().unwrap().unwrap();
    // ICMP too.
    in_ns(
        a.netns.as_deref().unwrap(),
        &["ping", "-c", "1", "-W", "5", &b_ip.to_string()],
    );
    in_ns(
        b.netns.as_deref().unwrap(),
        &["ping", "-c", "1", "-W", "5", &gw.to_string()],
    );
}

#[test]
fn published_ports_reach_the_container_from_the_host() {
    require_root!();
    let t = TestNet::new();
    let c = t
        .nets
        .attach(
            &unique("c"),
            NetworkMode::Bridge,
            &[PortMapping::tcp(0, 8080), PortMapping::udp(0, 5353)],
        )
        .unwrap();
    let ns = c.netns.clone().unwrap();
    let (tcp, udp) = (c.ports[0], c.ports[1]);
    for m in [tcp, udp] {
        assert!((49153..=65535).contains(&m.host_port), "{m}");
    }
    assert_eq!(tcp.container_port, 8080);
    assert_eq!(t.nets.get(&c.id).unwrap().unwrap().ports, c.ports);
    let token = format!("tcp from {}", c.id);
    serve_tcp(&ns, 8080, token.clone());
    serve_udp(&ns, 5353, format!("udp from {}", c.id));

    assert_eq!(
        fetch(sock(Ipv4Addr::LOCALHOST, tcp.host_port)).unwrap(),
        token
    );
    assert_eq!(fetch(sock(t.gateway(), tcp.host_port)).unwrap(), token);
    match host_address() {
        Some(ip) => assert_eq!(fetch(sock(ip, tcp.host_port)).unwrap(), token, "via {ip}"),
        None => eprintln!("no non-loopback host address; skipped that part"),
    }

    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(TIMEOUT)).unwrap();
    u.send_to(b"ping", sock(Ipv4Addr::LOCALHOST, udp.host_port))
        .unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = u.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], format!("udp from {}", c.id).as_bytes());

    // A sibling container reaches it through the published port too.
    let d = t
        .nets
        .attach(&unique("d"), NetworkMode::Bridge, &[])
        .unwrap();
    let (gw, hp) = (t.gateway(), tcp.host_port);
    let got = run_in(d.netns.as_deref().unwrap(), || fetch(sock(gw, hp)))
        .unwrap()
        .unwrap();
    assert_eq!(got, token);

    let table = t.nft_table();
    assert!(
        table.contains(&format!("dockyard:{}:tcp:0.0.0.0:{}", c.id, tcp.host_port)),
        "{table}"
    );
    assert!(
        table.contains(&format!("dockyard:{}:udp:0.0.0.0:{}", c.id, udp.host_port)),
        "{table}"
    );
}

#[test]
fn port_bound_to_one_address_only_answers_there() {
    require_root!();
    let t = TestNet::new();
    let port = free_port();
    let m = PortMapping {
        host_ip: Some(Ipv4Addr::LOCALHOST),
        ..PortMapping::tcp(port, 80)
    };
    let c = t
        .nets
        .attach(&unique("c"), NetworkMode::Bridge, &[m])
        .unwrap();
    assert_eq!(c.ports, vec![m]);
    serve_tcp(c.netns.as_deref().unwrap(), 80, "only loopback".into());
    assert_eq!(
        fetch(sock(Ipv4Addr::LOCALHOST, port)).unwrap(),
        "only loopback"
    );
    // Not DNATed on the bridge address: nothing of the host listens there.
    assert!(fetch(sock(t.gateway(), port)).is_err());
}

#[test]
fn port_conflicts_are_refused_with_nothing_left_behind() {
    require_root!();
    let t = TestNet::new();
    // A process on the host listens on the port.
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let busy = listener.local_addr().unwrap().port();
    let id = unique("x");
    let e = t
        .nets
        .attach(&id, NetworkMode::Bridge, &[PortMapping::tcp(busy, 80)])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(e.to_string(), format!("port {busy}/tcp is already in use"));
    assert_nothing_left(&t, &id);

    // Another attachment publishes the port.
    let port = free_port();
    let first = t
        .nets
        .attach(
            &unique("first"),
            NetworkMode::Bridge,
            &[PortMapping::tcp(port, 80)],
        )
        .unwrap();
    let e = t
        .nets
        .attach(&id, NetworkMode::Bridge, &[PortMapping::tcp(port, 81)])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(e.to_string(), format!("port {port}/tcp is already in use"));
    assert_nothing_left(&t, &id);
    // The same port over UDP is a different port.
    let u = t
        .nets
        .attach(&id, NetworkMode::Bridge, &[PortMapping::udp(port, 81)])
        .unwrap();
    assert_ne!(u.ip, first.ip);
    t.nets.detach(&id).unwrap();
    // Ids must be unique.
    let e = t
        .nets
        .attach(&first.id, NetworkMode::None, &[])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    drop(listener);
}

#[test]
fn failure_after_reservation_rolls_everything_back() {
    require_root!();
    let t = TestNet::new();
    let id = unique("y");
    // A stale file where the namespace goes makes the attach fail after
    // its address, record and port rule were taken.
    fs::create_dir_all(&t.cfg.netns_dir).unwrap();
    fs::write(t.cfg.netns_dir.join(&id), b"").unwrap();
    let e = t
        .nets
        .attach(&id, NetworkMode::Bridge, &[PortMapping::tcp(0, 80)])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Internal, "{e}");
    assert_nothing_left(&t, &id);
    // The address was released: the next container gets the first one.
    let next = t.nets.attach(&id, NetworkMode::Bridge, &[]).unwrap();
    assert_eq!(next.ip, Some(Ipv4Addr::from(u32::from(t.gateway()) + 1)));
}

fn assert_nothing_left(t: &TestNet, id: &str) {
    assert_eq!(t.nets.get(id).unwrap(), None);
    assert!(!t.nets.list().unwrap().iter().any(|a| a.id == id));
    assert!(
        !t.cfg.netns_dir.join(id).exists(),
        "netns file of {id} left"
    );
    let table = t.nft_table();
    assert!(!table.contains(&format!("dockyard:{id}:")), "{table}");
    // Pairs the kernel is still deleting (their namespace was dropped)
    // are accounted for until they are gone.
    let recorded: Vec<String> = t
        .nets
        .list()
        .unwrap()
        .into_iter()
        .filter_map(|a| a.host_veth)
        .chain(t.nets.releasing().unwrap())
        .collect();
    for port in t.bridge_ports() {
        assert!(recorded.contains(&port), "veth {port} left on the bridge");
    }
}

/// Waits (at most 10 s) for the kernel to delete a released veth pair.
fn wait_gone(veth: &str) {
    let path = format!("/sys/class/net/{veth}");
    for _ in 0..1000 {
        if !Path::new(&path).exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{veth} still exists 10 s after its namespace was dropped");
}

#[test]
fn an_id_attached_again_while_its_old_pair_is_going_deletes_that_pair() {
    require_root!();
    let t = TestNet::new();
    let id = unique("q");
    let first = t.nets.attach(&id, NetworkMode::Bridge, &[]).unwrap();
    let hold = fs::File::open(first.netns.clone().unwrap()).unwrap();
    t.nets.detach(&id).unwrap();
    // The old pair is deleted at once, not left to the grace period.
    t.nets.attach(&id, NetworkMode::Bridge, &[]).unwrap();
    let old = first.host_veth.clone().unwrap();
    assert!(!Path::new(&format!("/sys/class/net/{old}")).exists());
    assert!(t.nets.releasing().unwrap().is_empty());
    drop(hold);
    t.nets.detach(&id).unwrap();
}

#[test]
fn a_released_address_waits_for_its_veth_pair_to_go() {
    require_root!();
    let t = TestNet::new();
    let first = t
        .nets
        .attach(&unique("r"), NetworkMode::Bridge, &[])
        .unwrap();
    let veth = first.host_veth.clone().unwrap();
    // Holding the namespace open keeps the pair alive after the detach.
    let hold = fs::File::open(first.netns.clone().unwrap()).unwrap();
    t.nets.detach(&first.id).unwrap();
    assert_eq!(t.nets.get(&first.id).unwrap(), None);
    assert!(Path::new(&format!("/sys/class/net/{veth}")).exists());
    assert_eq!(t.nets.releasing().unwrap(), std::slice::from_ref(&veth));
    // Its address (and the MAC made from it) is not handed out meanwhile.
    let second = t
        .nets
        .attach(&unique("r"), NetworkMode::Bridge, &[])
        .unwrap();
    assert_ne!(second.ip, first.ip);
    // Once the namespace goes, the kernel deletes the pair and the
    // address is free again.
    drop(hold);
    wait_gone(&veth);
    assert!(t.nets.releasing().unwrap().is_empty());
    let third = t
        .nets
        .attach(&unique("r"), NetworkMode::Bridge, &[])
        .unwrap();
    assert_eq!(third.ip, first.ip);
    t.nets.detach(&second.id).unwrap();
    t.nets.detach(&third.id).unwrap();
}

#[test]
fn detach_removes_everything_and_is_idempotent() {
    require_root!();
    let t = TestNet::new();
    let id = unique("z");
    let a = t
        .nets
        .attach(&id, NetworkMode::Bridge, &[PortMapping::tcp(0, 80)])
        .unwrap();
    let veth = a.host_veth.clone().unwrap();
    let ns = a.netns.clone().unwrap();
    assert!(Path::new(&format!("/sys/class/net/{veth}")).exists());
    assert!(ns.exists());
    assert!(t.nft_table().contains(&format!("dockyard:{id}:")));
    t.nets.detach(&id).unwrap();
    // The kernel deletes the pair with the namespace, shortly after.
    wait_gone(&veth);
    assert!(!ns.exists());
    assert!(t.bridge_ports().is_empty());
    assert_nothing_left(&t, &id);
    t.nets.detach(&id).unwrap();
    // The lease went with it.
    let again = t
        .nets
        .attach(&unique("z"), NetworkMode::Bridge, &[])
        .unwrap();
    assert_eq!(again.ip, a.ip);

    // After a crash some pieces may already be gone; detach copes.
    let id = unique("w");
    let w = t
        .nets
        .attach(&id, NetworkMode::Bridge, &[PortMapping::udp(0, 53)])
        .unwrap();
    let status = Command::new(dockyard_testkit::BUSYBOX)
        .args(["ip", "link", "del", w.host_veth.as_deref().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    t.nets.detach(&id).unwrap();
    assert_nothing_left(&t, &id);
}

#[test]
fn none_and_host_modes() {
    require_root!();
    let t = TestNet::new();
    let n = t.nets.attach(&unique("n"), NetworkMode::None, &[]).unwrap();
    assert_eq!(
        (n.ip, n.host_veth.as_deref(), n.gateway),
        (None, None, None)
    );
    let ns = n.netns.clone().unwrap();
    let links = in_ns(&ns, &["ip", "-o", "link"]);
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains("lo: <LOOPBACK,UP"), "{links}");
    // Loopback works inside.
    serve_tcp(&ns, 9, "loop".into());
    assert_eq!(
        run_in(&ns, || fetch(sock(Ipv4Addr::LOCALHOST, 9)))
            .unwrap()
            .unwrap(),
        "loop"
    );

    let h = t.nets.attach(&unique("h"), NetworkMode::Host, &[]).unwrap();
    assert_eq!((h.netns.as_deref(), h.ip), (None, None));
    assert_eq!(t.nets.get(&h.id).unwrap(), Some(h.clone()));

    let e = t
        .nets
        .attach(&unique("p"), NetworkMode::None, &[PortMapping::tcp(0, 80)])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = t.nets.attach("../etc", NetworkMode::None, &[]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);

    t.nets.detach(&n.id).unwrap();
    t.nets.detach(&h.id).unwrap();
    assert!(!ns.exists());
    assert!(t.nets.list().unwrap().is_empty());
}

#[test]
fn concurrent_attaches_get_distinct_addresses() {
    require_root!();
    let t = TestNet::new();
    let ips: Vec<Ipv4Addr> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..6)
            .map(|_| {
                let cfg = t.cfg.clone();
                s.spawn(move || {
                    Networks::new(cfg)
                        .attach(
                            &unique("k"),
                            NetworkMode::Bridge,
                            &[PortMapping::tcp(0, 80)],
                        )
                        .unwrap()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap().ip.unwrap())
            .collect()
    });
    let mut unique_ips = ips.clone();
    unique_ips.sort();
    unique_ips.dedup();
    assert_eq!(unique_ips.len(), 6, "{ips:?}");
    let ports: std::collections::HashSet<u16> = t
        .nets
        .list()
        .unwrap()
        .iter()
        .map(|a| a.ports[0].host_port)
        .collect();
    assert_eq!(ports.len(), 6);
}

#[test]
fn works_from_spawn_blocking() {
    require_root!();
    let t = TestNet::new();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cfg = t.cfg.clone();
    let att = rt
        .block_on(async {
            tokio::task::spawn_blocking(move || {
                Networks::new(cfg).attach("async-1", NetworkMode::Bridge, &[])
            })
            .await
        })
        .unwrap()
        .unwrap();
    assert!(att.netns.unwrap().exists());
}

#[test]
fn teardown_removes_bridge_table_and_mounts() {
    require_root!();
    let t = TestNet::new();
    let a = t
        .nets
        .attach(
            &unique("t"),
            NetworkMode::Bridge,
            &[PortMapping::tcp(0, 80)],
        )
        .unwrap();
    t.nets.teardown().unwrap();
    assert!(!Path::new(&format!("/sys/class/net/{}", t.cfg.name)).exists());
    assert!(!Path::new(&format!("/sys/class/net/{}", a.host_veth.unwrap())).exists());
    let listed = Command::new("nft")
        .args(["list", "table", "ip", &t.table()])
        .output()
        .unwrap();
    assert!(!listed.status.success());
    assert!(t.nets.list().unwrap().is_empty());
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir: PathBuf = t.cfg.netns_dir.canonicalize().unwrap();
    assert!(!mounts.contains(dir.to_str().unwrap()), "{mounts}");
    t.nets.teardown().unwrap();
}

#[test]
fn redirect_sends_the_bridges_connections_to_another_local_port() {
    require_root!();
    let t = TestNet::new();
    let a = t
        .nets
        .attach(&unique("a"), NetworkMode::Bridge, &[])
        .unwrap();
    // A port published on the gateway address captures the bridge's
    // connections to it, until a redirect for the same port, which comes
    // first, is set.
    let (gw, well_known) = (t.gateway(), free_port());
    let web = t
        .nets
        .attach(
            &unique("w"),
            NetworkMode::Bridge,
            &[PortMapping {
                host_ip: Some(gw),
                ..PortMapping::tcp(well_known, 80)
            }],
        )
        .unwrap();
    serve_tcp(web.netns.as_deref().unwrap(), 80, "published".into());
    let from_a = {
        let ns = a.netns.clone().unwrap();
        move || run_in(&ns, || fetch(sock(gw, well_known))).unwrap()
    };
    assert_eq!(from_a().unwrap(), "published");
    let real = TcpListener::bind((gw, 0)).unwrap();
    let real_port = real.local_addr().unwrap().port();
    t.nets.set_redirect(gw, well_known, real_port).unwrap();
    let table = t.nft_table();
    assert!(
        table.contains(&format!(
            "ip daddr {gw} tcp dport {well_known} dnat to {gw}:{real_port}"
        )),
        "{table}"
    );
    let client = std::thread::spawn(from_a);
    let (mut conn, peer) = real.accept().unwrap();
    // The source address is kept: the service can tell containers apart.
    assert_eq!(peer.ip(), std::net::IpAddr::V4(a.ip.unwrap()));
    conn.write_all(b"redirected").unwrap();
    drop(conn);
    assert_eq!(client.join().unwrap().unwrap(), "redirected");
    // Setting it again replaces it; ensure() keeps it.
    t.nets.set_redirect(gw, well_known, real_port + 1).unwrap();
    t.nets.ensure().unwrap();
    let table = t.nft_table();
    assert!(!table.contains(&format!("{gw}:{real_port} ")), "{table}");
    assert!(
        table.contains(&format!("dnat to {gw}:{}", real_port + 1)),
        "{table}"
    );
}
