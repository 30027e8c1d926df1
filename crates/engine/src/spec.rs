//! What a user asks for in `run`, checked and turned into a runtime config.
//! Pure: no I/O, so every rule is unit-tested.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use dockyard_image::ImageConfig;
use dockyard_net::{NetworkMode, PortMapping};
use dockyard_runtime::{ContainerConfig, Resources, Rlimit, Tmpfs};

use crate::error::EngineError;

/// The smallest memory limit accepted, as Docker: below it the kernel's
/// own use makes the container fail in confusing ways.
pub const MIN_MEMORY: u64 = 6 * 1024 * 1024;

/// A request to create a container, as `dockyard run` takes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    pub image: String,
    pub name: Option<String>,
    /// Replaces the image's `Cmd`.
    pub cmd: Vec<String>,
    /// Replaces the image's `Entrypoint` (`Some("")` clears it).
    pub entrypoint: Option<String>,
    pub env: Vec<String>,
    pub ports: Vec<PortMapping>,
    pub network: Option<NetworkMode>,
    pub memory: Option<u64>,
    /// CPUs as a decimal number of cores (Docker's `--cpus`).
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub hostname: Option<String>,
    pub read_only: bool,
    pub auto_remove: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub seccomp_unconfined: bool,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u64>,
    /// Join a network namespace set up by someone else (the containers of
    /// one ECS task in awsvpc mode share one) instead of `network`.
    #[serde(default)]
    pub join_network: Option<SharedNetwork>,
    /// Docker's `-v`: host paths and named volumes bound in.
    #[serde(default)]
    pub volumes: Vec<VolumeSpec>,
    /// Docker's `--tmpfs`.
    #[serde(default)]
    pub tmpfs: Vec<Tmpfs>,
    /// Docker's `--shm-size`, in bytes.
    #[serde(default)]
    pub shm_size: Option<u64>,
    /// Docker's `--ulimit`.
    #[serde(default)]
    pub ulimits: Vec<Rlimit>,
    /// Docker's `--add-host NAME:IP`: extra lines of `/etc/hosts`.
    #[serde(default)]
    pub extra_hosts: Vec<(String, IpAddr)>,
    /// Docker's `--dns`, `--dns-search` and `--dns-option`: each replaces
    /// its kind of line in the container's `/etc/resolv.conf`.
    #[serde(default)]
    pub dns: Vec<IpAddr>,
    #[serde(default)]
    pub dns_search: Vec<String>,
    #[serde(default)]
    pub dns_options: Vec<String>,
    /// Docker's `--sysctl KEY=VALUE` (namespaced parameters only).
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
    /// Docker's `--label KEY=VALUE`: kept with the container, shown by
    /// `inspect`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Docker's `--device HOST[:CONTAINER[:ACCESS]]`.
    #[serde(default)]
    pub devices: Vec<dockyard_runtime::Device>,
}

/// A bind mount as asked for: `source` is an absolute host path or the
/// name of a volume the engine keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpec {
    pub source: String,
    pub destination: String,
    pub read_only: bool,
}

impl VolumeSpec {
    /// Whether the source is a host path rather than a named volume.
    pub fn is_host_path(&self) -> bool {
        self.source.starts_with('/')
    }
}

/// Parses Docker's `-v SOURCE:DESTINATION[:ro|rw]`.
pub fn parse_volume(s: &str) -> Result<VolumeSpec, EngineError> {
    let bad = || EngineError::Invalid(format!("invalid volume specification: '{s}'"));
    let parts: Vec<&str> = s.split(':').collect();
    let (source, destination, mode) = match parts.as_slice() {
        [src, dst] => (*src, *dst, ""),
        [src, dst, mode] => (*src, *dst, *mode),
        _ => return Err(bad()),
    };
    if source.is_empty() || destination.is_empty() {
        return Err(bad());
    }
    let mut read_only = false;
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" => read_only = true,
            "rw" => read_only = false,
            _ => {
                return Err(EngineError::Invalid(format!(
                    "invalid mode: {m} in volume specification '{s}'"
                )));
            }
        }
    }
    if !source.starts_with('/') {
        crate::volumes::validate_volume_name(source)?;
    }
    Ok(VolumeSpec {
        source: source.to_string(),
        destination: destination.to_string(),
        read_only,
    })
}

pub use dockyard_types::ULIMIT_NAMES;

/// A ulimit by its Docker name (`nofile`), checked.
pub fn ulimit(name: &str, soft: u64, hard: u64) -> Result<Rlimit, EngineError> {
    if !ULIMIT_NAMES.contains(&name) {
        return Err(EngineError::Invalid(format!("invalid ulimit type: {name}")));
    }
    if soft > hard {
        return Err(EngineError::Invalid(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )));
    }
    Ok(Rlimit {
        kind: format!("RLIMIT_{}", name.to_ascii_uppercase()),
        soft,
        hard,
    })
}

/// Parses Docker's `--ulimit NAME=SOFT[:HARD]`.
pub fn parse_ulimit(s: &str) -> Result<Rlimit, EngineError> {
    let bad = || EngineError::Invalid(format!("invalid ulimit argument: {s}"));
    let (name, limits) = s.split_once('=').ok_or_else(bad)?;
    let num = |v: &str| -> Result<u64, EngineError> {
        if v == "-1" || v == "unlimited" {
            Ok(u64::MAX)
        } else {
            v.parse().map_err(|_| bad())
        }
    };
    let (soft, hard) = match limits.split_once(':') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(limits)?, num(limits)?),
    };
    ulimit(name, soft, hard)
}

/// Parses Docker's `--add-host NAME:IP` (or `NAME=IP`).
pub fn parse_add_host(s: &str) -> Result<(String, IpAddr), EngineError> {
    let (name, ip) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .filter(|(n, _)| !n.is_empty())
        .ok_or_else(|| EngineError::Invalid(format!("bad format for add-host: \"{s}\"")))?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    let ip = ip
        .parse()
        .map_err(|_| EngineError::Invalid(format!("invalid IP address in add-host: \"{ip}\"")))?;
    Ok((name.to_string(), ip))
}

/// Parses one `--dns` server.
pub fn parse_dns(s: &str) -> Result<IpAddr, EngineError> {
    s.parse()
        .map_err(|_| EngineError::Invalid(format!("{s} is not an ip address")))
}

/// Parses Docker's `--sysctl KEY=VALUE`; only parameters a container's
/// own namespaces hold are allowed, as Docker allows them.
pub fn parse_sysctl(s: &str) -> Result<(String, String), EngineError> {
    let not_allowed = || EngineError::Invalid(format!("sysctl '{s}' is not allowed"));
    let (k, v) = s.split_once('=').ok_or_else(not_allowed)?;
    if !sysctl_allowed(k) {
        return Err(not_allowed());
    }
    Ok((k.to_string(), v.to_string()))
}

/// Docker's list: System V IPC and POSIX message queues (the IPC
/// namespace) and `net.*` (the network namespace).
pub fn sysctl_allowed(key: &str) -> bool {
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    IPC.contains(&key)
        || ["net.", "fs.mqueue."]
            .iter()
            .any(|p| key.starts_with(p) && key.len() > p.len())
}

/// Parses Docker's `--label KEY[=VALUE]` (no value: an empty one).
pub fn parse_label(s: &str) -> Result<(String, String), EngineError> {
    let (k, v) = s.split_once('=').unwrap_or((s, ""));
    if k.trim().is_empty() {
        return Err(EngineError::Invalid(format!(
            "invalid label '{s}': empty name"
        )));
    }
    Ok((k.to_string(), v.to_string()))
}

/// Parses Docker's `--device HOST[:CONTAINER][:ACCESS]`; the container
/// path defaults to the host's and the access to `rwm`.
pub fn parse_device(s: &str) -> Result<dockyard_runtime::Device, EngineError> {
    let parts: Vec<&str> = s.split(':').collect();
    let is_access = |p: &str| !p.is_empty() && p.chars().all(|c| "rwm".contains(c));
    let (host, container, access) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, a] if is_access(a) => (*h, *h, *a),
        [h, c] => (*h, *c, "rwm"),
        [h, c, a] => (*h, *c, *a),
        _ => {
            return Err(EngineError::Invalid(format!(
                "invalid device specification: {s}"
            )));
        }
    };
    if !host.starts_with('/') {
        return Err(EngineError::Invalid(format!(
            "invalid device specification: {s}: the host path must be absolute"
        )));
    }
    let d = dockyard_runtime::Device {
        host_path: host.into(),
        container_path: container.to_string(),
        access: access.to_string(),
    };
    dockyard_runtime::check_device(&d).map_err(|e| EngineError::Invalid(e.to_string()))?;
    Ok(d)
}

/// Parses Docker's `--tmpfs PATH[:OPTIONS]`.
pub fn parse_tmpfs(s: &str) -> Result<Tmpfs, EngineError> {
    let (dest, opts) = s.split_once(':').unwrap_or((s, ""));
    Ok(Tmpfs {
        destination: dest.to_string(),
        options: opts
            .split(',')
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// A network namespace several containers share, and its address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedNetwork {
    pub netns: std::path::PathBuf,
    pub ip: Option<std::net::Ipv4Addr>,
}

/// Parses Docker's memory sizes: `512m`, `1g`, `1048576`, `64k`, `2GB`.
pub fn parse_memory(s: &str) -> Result<u64, EngineError> {
    let t = s.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix('b')
        .filter(|r| r.ends_with(['k', 'm', 'g', 't']))
        .unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        Some('b') => (&t[..t.len() - 1], 1),
        _ => (t, 1),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| EngineError::Invalid(format!("invalid size: '{s}'")))?;
    if !(n.is_finite() && n >= 0.0) {
        return Err(EngineError::Invalid(format!("invalid size: '{s}'")));
    }
    Ok((n * mult as f64) as u64)
}

/// Parses a signal by name (`TERM`, `SIGTERM`) or number.
pub fn parse_signal(s: &str) -> Result<i32, EngineError> {
    if let Ok(n) = s.parse::<i32>()
        && (1..=64).contains(&n)
    {
        return Ok(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "TERM" => libc::SIGTERM,
        "STOP" => libc::SIGSTOP,
        "CONT" => libc::SIGCONT,
        "WINCH" => libc::SIGWINCH,
        "PWR" => libc::SIGPWR,
        _ => return Err(EngineError::Invalid(format!("invalid signal: {s}"))),
    };
    Ok(n)
}

/// Docker's rule for container and volume names:
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, at most `max` long.
pub(crate) fn docker_name_ok(name: &str, max: usize) -> bool {
    name.len() >= 2
        && name.len() <= max
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Checks a container name against Docker's rule.
pub fn validate_name(name: &str) -> Result<(), EngineError> {
    if docker_name_ok(name, 128) {
        Ok(())
    } else {
        Err(EngineError::Invalid(format!(
            "invalid container name \"{name}\", only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

/// The argv the container runs: entrypoint and cmd, each from the request
/// or else the image, as Docker combines them.
pub fn argv(spec: &RunSpec, image: &ImageConfig) -> Result<Vec<String>, EngineError> {
    let entry: Vec<String> = match &spec.entrypoint {
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.clone()],
        None => image.entrypoint.clone().unwrap_or_default(),
    };
    // A new entrypoint drops the image's Cmd, as Docker does.
    let cmd: Vec<String> = if !spec.cmd.is_empty() {
        spec.cmd.clone()
    } else if spec.entrypoint.is_some() {
        Vec::new()
    } else {
        image.cmd.clone().unwrap_or_default()
    };
    let argv: Vec<String> = entry.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        return Err(EngineError::Invalid(format!(
            "no command specified: image {} has no Cmd or Entrypoint; give a command after the image name",
            spec.image
        )));
    }
    Ok(argv)
}

/// The environment: the image's, then the request's (later wins).
pub fn environment(spec: &RunSpec, image: &ImageConfig) -> Vec<String> {
    let mut env: Vec<String> = Vec::new();
    for kv in image.env.iter().chain(spec.env.iter()) {
        let key = kv.split_once('=').map(|(k, _)| k).unwrap_or(kv);
        env.retain(|e| e.split_once('=').map(|(k, _)| k).unwrap_or(e) != key);
        env.push(kv.clone());
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
    }
    env
}

/// Resource limits, validated against what the host has.
pub fn resources(spec: &RunSpec, host_cpus: usize) -> Result<Resources, EngineError> {
    let mut r = Resources::default();
    if let Some(m) = spec.memory {
        if m < MIN_MEMORY {
            return Err(EngineError::Invalid(
                "minimum memory limit allowed is 6MB".into(),
            ));
        }
        r.memory_limit = Some(m);
    }
    if let Some(c) = spec.cpus {
        if !(c >= 0.01 && c <= host_cpus as f64) {
            return Err(EngineError::Invalid(format!(
                "range of CPUs is from 0.01 to {host_cpus}.00, as there are only {host_cpus} CPUs available"
            )));
        }
        r.cpu_quota = Some((c * 100_000.0).round() as i64);
        r.cpu_period = Some(100_000);
    }
    if let Some(s) = spec.cpu_shares {
        if !(2..=262_144).contains(&s) {
            return Err(EngineError::Invalid(format!(
                "cpu shares {s} out of range 2..=262144"
            )));
        }
        r.cpu_shares = Some(s);
    }
    Ok(r)
}

/// The runtime config for a container, less what depends on the node
/// (layers, network namespace, hosts and resolv.conf).
pub fn container_config(
    id: &str,
    spec: &RunSpec,
    image: &ImageConfig,
    host_cpus: usize,
) -> Result<ContainerConfig, EngineError> {
    if spec.network == Some(NetworkMode::Host) && !spec.ports.is_empty() {
        return Err(EngineError::Invalid(
            "published ports are discarded with host networking; drop -p or use --network bridge"
                .into(),
        ));
    }
    if spec.join_network.is_some() && (!spec.ports.is_empty() || spec.network.is_some()) {
        return Err(EngineError::Invalid(
            "a container joining a shared network takes no ports or network mode of its own".into(),
        ));
    }
    let host_net = spec.network == Some(NetworkMode::Host);
    if host_net
        && !(spec.dns.is_empty() && spec.dns_search.is_empty() && spec.dns_options.is_empty())
    {
        return Err(EngineError::Invalid(
            "conflicting options: dns and the network mode".into(),
        ));
    }
    for k in spec.sysctls.keys() {
        if !sysctl_allowed(k) {
            return Err(EngineError::Invalid(format!("sysctl '{k}' is not allowed")));
        }
        if host_net && k.starts_with("net.") {
            return Err(EngineError::Invalid(format!(
                "sysctl \"{k}\" not allowed in host network namespace"
            )));
        }
    }
    if spec.network == Some(NetworkMode::None) && !spec.ports.is_empty() {
        return Err(EngineError::Invalid(
            "ports cannot be published with --network none".into(),
        ));
    }
    let mut c = ContainerConfig::new(id, Vec::new(), argv(spec, image)?);
    c.env = environment(spec, image);
    c.cwd = spec
        .workdir
        .clone()
        .or_else(|| image.working_dir.clone())
        .filter(|w| !w.is_empty());
    if let Some(cwd) = &c.cwd
        && !cwd.starts_with('/')
    {
        return Err(EngineError::Invalid(format!(
            "the working directory '{cwd}' is invalid, it needs to be an absolute path"
        )));
    }
    c.user = spec
        .user
        .clone()
        .or_else(|| image.user.clone())
        .filter(|u| !u.is_empty());
    if let Some(h) = &spec.hostname {
        c.hostname = h.clone();
    }
    c.readonly_rootfs = spec.read_only;
    c.resources = resources(spec, host_cpus)?;
    c.cap_add = spec.cap_add.clone();
    c.cap_drop = spec.cap_drop.clone();
    c.seccomp_unconfined = spec.seccomp_unconfined;
    c.auto_remove = spec.auto_remove;
    let mut dests: Vec<&str> = Vec::new();
    for d in spec
        .volumes
        .iter()
        .map(|v| v.destination.as_str())
        .chain(spec.tmpfs.iter().map(|t| t.destination.as_str()))
    {
        if !d.starts_with('/') || d == "/" {
            return Err(EngineError::Invalid(format!(
                "invalid mount config: the mount destination '{d}' must be an absolute path other than '/'"
            )));
        }
        if dests.contains(&d) {
            return Err(EngineError::Invalid(format!("duplicate mount point: {d}")));
        }
        dests.push(d);
    }
    c.tmpfs = spec.tmpfs.clone();
    if spec.shm_size == Some(0) {
        return Err(EngineError::Invalid(
            "invalid --shm-size: it must be greater than 0".into(),
        ));
    }
    c.shm_size = spec.shm_size;
    c.sysctls = spec.sysctls.clone();
    for d in &spec.devices {
        dockyard_runtime::check_device(d).map_err(|e| EngineError::Invalid(e.to_string()))?;
    }
    c.devices = spec.devices.clone();
    for u in &spec.ulimits {
        if c.rlimits.iter().any(|r| r.kind == u.kind) {
            return Err(EngineError::Invalid(format!(
                "duplicate ulimit: {}",
                u.kind
            )));
        }
        c.rlimits.push(u.clone());
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(entry: Option<&[&str]>, cmd: Option<&[&str]>) -> ImageConfig {
        ImageConfig {
            entrypoint: entry.map(|e| e.iter().map(|s| s.to_string()).collect()),
            cmd: cmd.map(|e| e.iter().map(|s| s.to_string()).collect()),
            env: vec!["PATH=/bin".into(), "A=1".into()],
            ..Default::default()
        }
    }

    fn spec(cmd: &[&str]) -> RunSpec {
        RunSpec {
            image: "img".into(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn argv_combines_entrypoint_and_cmd_like_docker() {
        let img = image(Some(&["/entry"]), Some(&["default"]));
        assert_eq!(argv(&spec(&[]), &img).expect("argv"), ["/entry", "default"]);
        assert_eq!(argv(&spec(&["x"]), &img).expect("argv"), ["/entry", "x"]);
        let mut s = spec(&[]);
        s.entrypoint = Some("/other".into());
        assert_eq!(argv(&s, &img).expect("argv"), ["/other"]);
        s.entrypoint = Some(String::new());
        s.cmd = vec!["sh".into()];
        assert_eq!(argv(&s, &img).expect("argv"), ["sh"]);
        let err = argv(&spec(&[]), &image(None, None)).expect_err("no command");
        assert!(err.to_string().contains("no command specified"));
    }

    #[test]
    fn env_overrides_by_key() {
        let mut s = spec(&[]);
        s.env = vec!["A=2".into(), "B=3".into()];
        assert_eq!(
            environment(&s, &image(None, None)),
            ["PATH=/bin", "A=2", "B=3"]
        );
        let empty = ImageConfig::default();
        assert!(environment(&spec(&[]), &empty)[0].starts_with("PATH=/usr/local/sbin"));
    }

    #[test]
    fn memory_sizes_parse() {
        assert_eq!(parse_memory("512m").expect("m"), 512 << 20);
        assert_eq!(parse_memory("1g").expect("g"), 1 << 30);
        assert_eq!(parse_memory("2GB").expect("gb"), 2 << 30);
        assert_eq!(parse_memory("64k").expect("k"), 64 << 10);
        assert_eq!(parse_memory("1048576").expect("bytes"), 1 << 20);
        assert_eq!(parse_memory("1.5g").expect("frac"), 3 << 29);
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("-1m").is_err());
    }

    #[test]
    fn resources_are_checked() {
        let mut s = spec(&["true"]);
        s.memory = Some(4 << 20);
        assert!(
            resources(&s, 2)
                .expect_err("too small")
                .to_string()
                .contains("minimum memory limit allowed is 6MB")
        );
        s.memory = Some(64 << 20);
        s.cpus = Some(1.5);
        let r = resources(&s, 2).expect("ok");
        assert_eq!(
            (r.memory_limit, r.cpu_quota, r.cpu_period),
            (Some(64 << 20), Some(150_000), Some(100_000))
        );
        s.cpus = Some(3.0);
        assert!(
            resources(&s, 2)
                .expect_err("too many")
                .to_string()
                .contains("only 2 CPUs")
        );
        s.cpus = None;
        s.cpu_shares = Some(1);
        assert!(resources(&s, 2).is_err());
    }

    #[test]
    fn volumes_ulimits_and_tmpfs_parse_like_docker() {
        let v = parse_volume("/srv/data:/data:ro").expect("host");
        assert!(v.is_host_path() && v.read_only);
        assert_eq!(v.destination, "/data");
        let v = parse_volume("cache:/var/cache").expect("named");
        assert!(!v.is_host_path() && !v.read_only);
        for bad in ["/x", "a:b:c:d", ":/x", "/x:", "/x:/y:zz", "bad/name:/y"] {
            assert!(parse_volume(bad).is_err(), "{bad}");
        }
        let u = parse_ulimit("nofile=1024:2048").expect("both");
        assert_eq!(
            (u.kind.as_str(), u.soft, u.hard),
            ("RLIMIT_NOFILE", 1024, 2048)
        );
        let u = parse_ulimit("core=0").expect("one");
        assert_eq!((u.soft, u.hard), (0, 0));
        assert_eq!(
            parse_ulimit("memlock=-1").expect("unlimited").hard,
            u64::MAX
        );
        for bad in ["nofile", "files=1", "nofile=2:1", "nofile=x"] {
            assert!(parse_ulimit(bad).is_err(), "{bad}");
        }
        let t = parse_tmpfs("/run:size=64m,noexec").expect("tmpfs");
        assert_eq!(t.destination, "/run");
        assert_eq!(t.options, ["size=64m", "noexec"]);
        assert!(parse_tmpfs("/tmp").expect("plain").options.is_empty());
    }

    #[test]
    fn hosts_dns_and_sysctls_parse_and_are_checked_like_docker() {
        let (name, ip) = parse_add_host("db.internal:10.1.2.3").expect("colon");
        assert_eq!(
            (name.as_str(), ip.to_string().as_str()),
            ("db.internal", "10.1.2.3")
        );
        let (_, ip) = parse_add_host("v6=[fd00::1]").expect("v6");
        assert_eq!(ip.to_string(), "fd00::1");
        for bad in ["nohost", ":10.0.0.1", "db:10.0.0", "db:"] {
            assert!(parse_add_host(bad).is_err(), "{bad}");
        }
        assert!(parse_dns("10.0.0.53").is_ok());
        assert!(parse_dns("dns.example").is_err());
        assert_eq!(
            parse_sysctl("net.core.somaxconn=1024").expect("net"),
            ("net.core.somaxconn".into(), "1024".into())
        );
        assert!(parse_sysctl("kernel.shmmax=1").is_ok());
        assert!(parse_sysctl("fs.mqueue.msg_max=20").is_ok());
        for bad in [
            "kernel.panic=1",
            "net.=1",
            "vm.swappiness=1",
            "net.core.somaxconn",
        ] {
            let e = parse_sysctl(bad).expect_err(bad);
            assert!(e.to_string().contains("is not allowed"), "{e}");
        }
        let img = image(None, Some(&["sh"]));
        let mut s = spec(&[]);
        s.sysctls.insert("net.core.somaxconn".into(), "512".into());
        let c = container_config("id1", &s, &img, 2).expect("bridge");
        assert_eq!(c.sysctls["net.core.somaxconn"], "512");
        s.network = Some(NetworkMode::Host);
        let e = container_config("id1", &s, &img, 2).expect_err("host net.*");
        assert!(
            e.to_string()
                .contains("not allowed in host network namespace"),
            "{e}"
        );
        s.sysctls.clear();
        s.dns = vec![parse_dns("10.0.0.1").expect("ip")];
        let e = container_config("id1", &s, &img, 2).expect_err("host dns");
        assert!(e.to_string().contains("conflicting options: dns"), "{e}");
        // Coming from a task definition rather than the flag: still checked.
        s.network = None;
        s.dns.clear();
        s.sysctls.insert("kernel.panic".into(), "1".into());
        assert!(container_config("id1", &s, &img, 2).is_err());
    }

    #[test]
    fn mount_points_and_limits_are_checked() {
        let img = image(None, Some(&["sh"]));
        let mut s = spec(&[]);
        s.volumes = vec![parse_volume("/a:/data").expect("v")];
        s.tmpfs = vec![parse_tmpfs("/data").expect("t")];
        let err = container_config("id1", &s, &img, 2).expect_err("duplicate");
        assert!(err.to_string().contains("duplicate mount point"), "{err}");
        s.tmpfs = vec![parse_tmpfs("relative").expect("t")];
        assert!(container_config("id1", &s, &img, 2).is_err());
        s.tmpfs.clear();
        s.ulimits = vec![
            parse_ulimit("nofile=10").expect("u"),
            parse_ulimit("nofile=20").expect("u"),
        ];
        assert!(container_config("id1", &s, &img, 2).is_err());
        s.ulimits.pop();
        s.shm_size = Some(1 << 20);
        let c = container_config("id1", &s, &img, 2).expect("ok");
        assert_eq!(c.rlimits.len(), 1);
        assert_eq!(c.shm_size, Some(1 << 20));
    }

    #[test]
    fn labels_and_devices_parse_as_docker_takes_them() {
        assert_eq!(parse_label("a=b=c").expect("l"), ("a".into(), "b=c".into()));
        assert_eq!(
            parse_label("flag").expect("l"),
            ("flag".into(), String::new())
        );
        assert!(parse_label("=v").is_err());
        let d = parse_device("/dev/fuse").expect("d");
        assert_eq!(
            (
                d.host_path.to_str(),
                d.container_path.as_str(),
                d.access.as_str()
            ),
            (Some("/dev/fuse"), "/dev/fuse", "rwm")
        );
        let d = parse_device("/dev/sda:r").expect("d");
        assert_eq!(
            (d.container_path.as_str(), d.access.as_str()),
            ("/dev/sda", "r")
        );
        let d = parse_device("/dev/sda:/dev/xvda").expect("d");
        assert_eq!(
            (d.container_path.as_str(), d.access.as_str()),
            ("/dev/xvda", "rwm")
        );
        let d = parse_device("/dev/sda:/dev/xvda:rw").expect("d");
        assert_eq!(d.access, "rw");
        for bad in ["dev/sda", "/dev/sda:/x:rwq", "/dev/sda:x", "/a:/b:r:w"] {
            assert!(parse_device(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_signals() {
        assert!(validate_name("web-1.a_b").is_ok());
        assert!(validate_name("-x").is_err());
        assert!(validate_name("a").is_err());
        assert!(validate_name("a/b").is_err());
        assert_eq!(parse_signal("TERM").expect("term"), libc::SIGTERM);
        assert_eq!(parse_signal("SIGKILL").expect("kill"), libc::SIGKILL);
        assert_eq!(parse_signal("2").expect("num"), 2);
        assert!(parse_signal("NOPE").is_err());
    }

    #[test]
    fn config_applies_overrides_and_rejects_nonsense() {
        let mut img = image(None, Some(&["sh"]));
        img.working_dir = Some("/srv".into());
        img.user = Some("www".into());
        let mut s = spec(&[]);
        s.hostname = Some("h1".into());
        let c = container_config("id1", &s, &img, 2).expect("config");
        assert_eq!(c.cwd.as_deref(), Some("/srv"));
        assert_eq!(c.user.as_deref(), Some("www"));
        assert_eq!(c.hostname, "h1");
        s.workdir = Some("rel".into());
        assert!(container_config("id1", &s, &img, 2).is_err());
        s.workdir = None;
        s.network = Some(NetworkMode::Host);
        s.ports = vec![PortMapping::tcp(80, 80)];
        assert!(container_config("id1", &s, &img, 2).is_err());
        // A container joining a shared namespace publishes nothing itself.
        s.network = None;
        s.join_network = Some(SharedNetwork {
            netns: "/run/dockyard/netns/x".into(),
            ip: None,
        });
        assert!(container_config("id1", &s, &img, 2).is_err());
        s.ports.clear();
        assert!(container_config("id1", &s, &img, 2).is_ok());
    }
}
