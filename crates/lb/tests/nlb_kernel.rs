//! NLB listeners forwarded by the kernel (`KernelSteering`), against targets
//! in a network namespace of their own: by DNAT, flows spread over the
//! healthy targets, established flows survive rule changes, loopback
//! listeners need `route_localnet`, and the table goes with the data
//! plane; by the connect hook, this host's connections go straight to a
//! healthy target, loopback listeners included, and the hook goes with
//! the data plane. Needs root (namespaces, links, nftables, BPF).

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dockyard_lb::{
    DataPlane, DataPlaneOptions, HealthCheck, KernelSteering, LbConfig, ListenerConfig, Protocol,
    Target, TargetGroupConfig,
};
use dockyard_testkit::{free_subnet, require_root, unique};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const TG: &str = "arn:tg/kernel";
const LISTENER: &str = "listener/kernel";

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A namespace holding the targets, joined to the host by a veth pair:
/// the host end has `.1`, the namespace end `.2` and `.3`.
struct Lab {
    ns: String,
    host_if: String,
    prefix: String,
}

impl Lab {
    fn new() -> Self {
        let name = unique("dyt");
        let subnet = free_subnet("172.25");
        let prefix = subnet.trim_end_matches(".0/24").to_string();
        let lab = Self {
            ns: name.clone(),
            host_if: name.clone(),
            prefix,
        };
        let peer = format!("{name}p");
        ip(&["netns", "add", &lab.ns]);
        ip(&[
            "link",
            "add",
            &lab.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
        ]);
        ip(&["link", "set", &peer, "netns", &lab.ns]);
        ip(&[
            "addr",
            "add",
            &format!("{}.1/24", lab.prefix),
            "dev",
            &lab.host_if,
        ]);
        ip(&["link", "set", &lab.host_if, "up"]);
        for a in [2, 3] {
            ip(&[
                "-n",
                &lab.ns,
                "addr",
                "add",
                &format!("{}.{a}/24", lab.prefix),
                "dev",
                &peer,
            ]);
        }
        ip(&["-n", &lab.ns, "link", "set", &peer, "up"]);
        ip(&["-n", &lab.ns, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &lab.ns,
            "route",
            "add",
            "default",
            "via",
            &format!("{}.1", lab.prefix),
        ]);
        lab
    }

    fn addr(&self, last: u8) -> Ipv4Addr {
        format!("{}.{last}", self.prefix).parse().unwrap()
    }

    fn set_route_localnet(&self, on: bool) {
        std::fs::write(
            format!("/proc/sys/net/ipv4/conf/{}/route_localnet", self.host_if),
            if on { "1" } else { "0" },
        )
        .unwrap();
    }

    /// A listener inside the namespace: a socket keeps the namespace it
    /// was made in, so a thread joins it just to bind.
    fn listen(&self, addr: SocketAddrV4) -> std::net::TcpListener {
        let ns = File::open(format!("/run/netns/{}", self.ns)).unwrap();
        std::thread::spawn(move || {
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let l = std::net::TcpListener::bind(addr).unwrap();
            l.set_nonblocking(true).unwrap();
            l
        })
        .join()
        .unwrap()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
    }
}

/// Answers each connection with `PEER LOCAL\n`, then echoes lines.
fn serve(listener: std::net::TcpListener) -> JoinHandle<()> {
    let listener = TcpListener::from_std(listener).unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, peer)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let local = stream.local_addr().unwrap();
                let (r, mut w) = stream.split();
                if w.write_all(format!("{peer} {local}\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if w.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    })
}

struct Conn {
    stream: BufReader<TcpStream>,
    /// The client's own address.
    local: SocketAddr,
    /// The client's address as the target saw it.
    seen_from: SocketAddr,
    /// The target that took the connection.
    target: SocketAddr,
}

impl Conn {
    async fn open(to: SocketAddr) -> Self {
        Self::try_open(to).await.expect("connection refused")
    }

    /// None when the connection is refused.
    async fn try_open(to: SocketAddr) -> Option<Self> {
        let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(to))
            .await
            .expect("connect timed out")
            .ok()?;
        let local = stream.local_addr().unwrap();
        let mut stream = BufReader::new(stream);
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_line(&mut line))
            .await
            .expect("no greeting")
            .unwrap();
        let (seen_from, target) = line.trim().split_once(' ').unwrap();
        Some(Self {
            stream,
            local,
            seen_from: seen_from.parse().unwrap(),
            target: target.parse().unwrap(),
        })
    }

    async fn echo(&mut self, text: &str) {
        self.stream
            .get_mut()
            .write_all(format!("{text}\n").as_bytes())
            .await
            .unwrap();
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(5), self.stream.read_line(&mut line))
            .await
            .expect("no echo")
            .unwrap();
        assert_eq!(line.trim(), text);
    }

    /// Forwarded by the kernel: the target saw the client's own source
    /// port (the relay would have connected from a port of its own).
    fn by_kernel(&self) -> bool {
        self.seen_from.port() == self.local.port()
    }
}

/// `n` connections through `lb`, each checked to be forwarded by the
/// kernel and to echo.
async fn forwarded(lb: SocketAddr, n: usize) -> Vec<Conn> {
    let mut conns = Vec::new();
    for _ in 0..n {
        let mut c = Conn::open(lb).await;
        assert!(
            c.by_kernel(),
            "relayed: {} seen as {}",
            c.local,
            c.seen_from
        );
        c.echo("hello").await;
        conns.push(c);
    }
    conns
}

fn group(targets: &[SocketAddrV4]) -> TargetGroupConfig {
    let mut tg = TargetGroupConfig::new(TG, Protocol::Tcp);
    tg.targets = targets
        .iter()
        .map(|a| Target::new(SocketAddr::V4(*a)))
        .collect();
    tg.health_check = HealthCheck {
        interval: Duration::from_millis(200),
        timeout: Duration::from_secs(1),
        healthy_threshold: 2,
        unhealthy_threshold: 2,
        ..HealthCheck::defaults_for(Protocol::Tcp)
    };
    tg
}

fn config(bind: SocketAddr, targets: &[SocketAddrV4]) -> LbConfig {
    LbConfig {
        listeners: vec![ListenerConfig::tcp(LISTENER, bind, TG)],
        target_groups: BTreeMap::from([(TG.to_owned(), group(targets))]),
    }
}

fn table_listing(table: &str) -> String {
    let out = Command::new("nft")
        .args(["list", "table", "ip", table])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn table_exists(table: &str) -> bool {
    Command::new("nft")
        .args(["list", "table", "ip", table])
        .output()
        .unwrap()
        .status
        .success()
}

/// Waits until the table forwards to exactly `targets`.
async fn wait_rules(table: &str, targets: &[SocketAddrV4]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listing = table_listing(table);
        let want = format!("mod {} ", targets.len());
        if listing.contains(&want)
            && targets
                .iter()
                .all(|t| listing.contains(&format!("{} . {}", t.ip(), t.port())))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "table {table} never forwarded to {targets:?}:\n{listing}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn plane(table: &str, hook: bool) -> DataPlane {
    let steering = if hook {
        let s = KernelSteering::new(table, "dockyard test").unwrap();
        assert!(s.has_connect_hook(), "the connect hook did not attach");
        s
    } else {
        KernelSteering::dnat_only(table, "dockyard test").unwrap()
    };
    DataPlane::new(DataPlaneOptions {
        steering: Some(Arc::new(steering)),
        shutdown_grace: Duration::from_secs(1),
        ..DataPlaneOptions::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnat_forwards_flows_over_healthy_targets_and_keeps_established_ones() {
    require_root!();
    let lab = Lab::new();
    let table = unique("dockyard_dyt");
    let (a, b) = (
        SocketAddrV4::new(lab.addr(2), 7000),
        SocketAddrV4::new(lab.addr(3), 7000),
    );
    let server_a = serve(lab.listen(a));
    let server_b = serve(lab.listen(b));

    let plane = plane(&table, false);
    let bind = SocketAddr::from((lab.addr(1), 0));
    let report = plane.apply(config(bind, &[a, b])).await;
    assert!(report.is_ok(), "{report:?}");
    let lb = report.bound[LISTENER];
    wait_rules(&table, &[a, b]).await;

    let conns = forwarded(lb, 24).await;
    let targets: HashSet<SocketAddr> = conns.iter().map(|c| c.target).collect();
    assert_eq!(targets.len(), 2, "flows did not spread: {targets:?}");

    // An established flow keeps its target while the rules change under
    // it: b stops answering, turns unhealthy and leaves the map.
    let mut kept = loop {
        let c = Conn::open(lb).await;
        if c.target == SocketAddr::V4(a) {
            break c;
        }
    };
    server_b.abort();
    let _ = server_b.await;
    wait_rules(&table, &[a]).await;
    kept.echo("still here").await;
    for _ in 0..8 {
        let mut c = Conn::open(lb).await;
        assert_eq!(c.target, SocketAddr::V4(a));
        assert!(c.by_kernel());
        c.echo("only a").await;
    }

    // Deleting the listener takes its rules away; dropping the data plane
    // takes the table.
    let report = plane.apply(LbConfig::default()).await;
    assert!(report.is_ok(), "{report:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while table_listing(&table).contains("dnat") {
        assert!(Instant::now() < deadline, "{}", table_listing(&table));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    plane.shutdown().await;
    drop(plane);
    assert!(
        !table_exists(&table),
        "table {table} outlived its data plane"
    );
    server_a.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnat_takes_loopback_listeners_only_where_route_localnet_allows() {
    require_root!();
    let lab = Lab::new();
    let target = SocketAddrV4::new(lab.addr(2), 7001);
    let server = serve(lab.listen(target));
    let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));

    // Without route_localnet the kernel would drop packets from 127.0.0.1
    // on the veth: the relay carries the flows.
    lab.set_route_localnet(false);
    let table = unique("dockyard_dyt");
    let relayed = plane(&table, false);
    let report = relayed.apply(config(bind, &[target])).await;
    assert!(report.is_ok(), "{report:?}");
    let lb = report.bound[LISTENER];
    let mut c = Conn::open(lb).await;
    c.echo("via the relay").await;
    assert!(!c.by_kernel(), "{} seen as {}", c.local, c.seen_from);
    assert!(!table_listing(&table).contains("dnat"));
    relayed.shutdown().await;
    drop(relayed);

    lab.set_route_localnet(true);
    let table = unique("dockyard_dyt");
    let steered = plane(&table, false);
    let report = steered.apply(config(bind, &[target])).await;
    assert!(report.is_ok(), "{report:?}");
    let lb = report.bound[LISTENER];
    wait_rules(&table, &[target]).await;
    let mut c = Conn::open(lb).await;
    c.echo("via the kernel").await;
    assert!(c.by_kernel(), "{} seen as {}", c.local, c.seen_from);
    // Masqueraded: the target saw the host's address on the veth.
    assert_eq!(c.seen_from.ip(), std::net::IpAddr::V4(lab.addr(1)));
    steered.shutdown().await;
    drop(steered);
    assert!(!table_exists(&table));
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connect_hook_sends_this_hosts_connections_straight_to_healthy_targets() {
    require_root!();
    let lab = Lab::new();
    // No route_localnet: the route is chosen after the rewrite.
    lab.set_route_localnet(false);
    let (a, b) = (
        SocketAddrV4::new(lab.addr(2), 7002),
        SocketAddrV4::new(lab.addr(3), 7002),
    );
    let server_a = serve(lab.listen(a));
    let server_b = serve(lab.listen(b));
    let table = unique("dockyard_dyt");
    let plane = plane(&table, true);
    let report = plane
        .apply(config(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), &[a, b]))
        .await;
    assert!(report.is_ok(), "{report:?}");
    let lb = report.bound[LISTENER];

    // The hook is replaced asynchronously after the apply: wait until a
    // connection is no longer relayed.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let c = Conn::open(lb).await;
        if c.by_kernel() {
            break;
        }
        assert!(Instant::now() < deadline, "never forwarded at connect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let conns = forwarded(lb, 24).await;
    for c in &conns {
        // No NAT at all: the client's own address, which the kernel chose
        // for the route to the target, not 127.0.0.1.
        assert_eq!(c.seen_from, c.local);
        assert_eq!(c.local.ip(), std::net::IpAddr::V4(lab.addr(1)));
    }
    let targets: HashSet<SocketAddr> = conns.iter().map(|c| c.target).collect();
    assert_eq!(targets.len(), 2, "connections did not spread: {targets:?}");
    // The DNAT rules declined the loopback listener (no route_localnet).
    assert!(!table_listing(&table).contains("dnat"));

    // b stops answering and leaves the program once it is unhealthy.
    server_b.abort();
    let _ = server_b.await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut only_a = 0;
    while only_a < 12 {
        assert!(Instant::now() < deadline, "b kept getting connections");
        match Conn::try_open(lb).await {
            Some(mut c) if c.target == SocketAddr::V4(a) => {
                assert!(c.by_kernel());
                c.echo("only a").await;
                only_a += 1;
            }
            // Refused at b's address before the program changed.
            _ => only_a = 0,
        }
    }

    // Dropping the data plane detaches the program: the listener's port
    // refuses connections instead of reaching a.
    plane.shutdown().await;
    drop(plane);
    let refused = TcpStream::connect(lb).await;
    assert!(
        refused.is_err(),
        "a connection to {lb} still reached a target"
    );
    assert!(!table_exists(&table));
    server_a.abort();
}
