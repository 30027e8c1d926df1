//! Container commands: run, ps, logs, stop, kill, rm, exec, inspect, wait,
//! stats.

use std::io::Write;
use std::sync::atomic::{AtomicI32, Ordering};

use std::time::Duration;

use clap::Args;
use serde_json::json;

use dockyard_engine::{ContainerView, Engine, EngineError, ErrorKind, RunSpec, spec};
use dockyard_net::{NetworkMode, PortMapping};
use dockyard_runtime::{ExecConfig, Status, logs};

use crate::format;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Run in the background and print the container id.
    #[arg(short, long)]
    pub detach: bool,
    #[arg(long)]
    pub name: Option<String>,
    /// Set an environment variable (KEY=VALUE, or KEY to pass this shell's).
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Publish a container port: [IP:]HOST:CONTAINER[/udp] or CONTAINER.
    #[arg(short, long = "publish")]
    pub publish: Vec<String>,
    /// Memory limit, e.g. 512m or 1g.
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Number of CPUs, e.g. 1.5.
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Relative CPU weight.
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<u64>,
    /// bridge (default), host or none.
    #[arg(long, alias = "net")]
    pub network: Option<String>,
    /// Replace the image's entrypoint.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// User (name|uid[:group|gid]).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    #[arg(long)]
    pub hostname: Option<String>,
    /// Mount the root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,
    #[arg(long)]
    pub cap_add: Vec<String>,
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Security options; `seccomp=unconfined` turns the filter off.
    #[arg(long)]
    pub security_opt: Vec<String>,
    /// Signal to stop the container with.
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Seconds to wait after the stop signal before SIGKILL.
    #[arg(long)]
    pub stop_timeout: Option<u64>,
    /// Bind a host path or a named volume: SOURCE:DEST[:ro].
    #[arg(short, long = "volume")]
    pub volume: Vec<String>,
    /// Mount a tmpfs: PATH[:OPTIONS], e.g. /run:size=64m.
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Size of /dev/shm, e.g. 128m.
    #[arg(long)]
    pub shm_size: Option<String>,
    /// A resource limit: NAME=SOFT[:HARD], e.g. nofile=1024:2048.
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// An /etc/hosts entry: NAME:IP.
    #[arg(long)]
    pub add_host: Vec<String>,
    /// A DNS server (replaces the host's).
    #[arg(long)]
    pub dns: Vec<String>,
    /// A DNS search domain (replaces the host's).
    #[arg(long)]
    pub dns_search: Vec<String>,
    /// A resolv.conf option (replaces the host's).
    #[arg(long)]
    pub dns_option: Vec<String>,
    /// A namespaced kernel parameter: KEY=VALUE, e.g. net.core.somaxconn=1024.
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// A label: KEY=VALUE.
    #[arg(short = 'l', long)]
    pub label: Vec<String>,
    /// A host device: HOST[:CONTAINER][:ACCESS], ACCESS a mix of r, w and m.
    #[arg(long)]
    pub device: Vec<String>,
    pub image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers, not only running ones.
    #[arg(short, long)]
    pub all: bool,
    /// Only ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Full ids and commands.
    #[arg(long)]
    pub no_trunc: bool,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Keep printing new output until the container stops.
    #[arg(short, long)]
    pub follow: bool,
    /// Prefix each line with its RFC 3339 time.
    #[arg(short, long)]
    pub timestamps: bool,
    /// Only the last N lines.
    #[arg(short = 'n', long)]
    pub tail: Option<usize>,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait before killing.
    #[arg(short, long)]
    pub time: Option<u64>,
    /// Signal to send first.
    #[arg(short, long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Kill and remove running containers.
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    #[arg(short, long)]
    pub user: Option<String>,
    #[arg(short, long)]
    pub workdir: Option<String>,
    pub container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct WaitArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Containers (default: all running).
    pub containers: Vec<String>,
}

fn env_list(env: &[String]) -> Vec<String> {
    env.iter()
        .filter_map(|e| {
            if e.contains('=') {
                Some(e.clone())
            } else {
                std::env::var(e).ok().map(|v| format!("{e}={v}"))
            }
        })
        .collect()
}

fn run_spec(a: &RunArgs) -> anyhow::Result<RunSpec> {
    let ports = a
        .publish
        .iter()
        .map(|p| p.parse::<PortMapping>())
        .collect::<Result<Vec<_>, _>>()?;
    let network = match a.network.as_deref() {
        None | Some("default") => None,
        Some(n) => Some(
            n.parse::<NetworkMode>()
                .map_err(|_| anyhow::anyhow!("network {n} not found: use bridge, host or none"))?,
        ),
    };
    let mut seccomp_unconfined = false;
    for o in &a.security_opt {
        match o.as_str() {
            "seccomp=unconfined" | "seccomp:unconfined" => seccomp_unconfined = true,
            "no-new-privileges" | "no-new-privileges=true" | "no-new-privileges:true" => {}
            other => anyhow::bail!(
                "unsupported --security-opt {other}: supported are seccomp=unconfined, no-new-privileges"
            ),
        }
    }
    Ok(RunSpec {
        image: a.image.clone(),
        name: a.name.clone(),
        cmd: a.command.clone(),
        entrypoint: a.entrypoint.clone(),
        env: env_list(&a.env),
        ports,
        network,
        memory: a.memory.as_deref().map(spec::parse_memory).transpose()?,
        cpus: a.cpus,
        cpu_shares: a.cpu_shares,
        user: a.user.clone(),
        workdir: a.workdir.clone(),
        hostname: a.hostname.clone(),
        read_only: a.read_only,
        auto_remove: a.rm && a.detach,
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        seccomp_unconfined,
        stop_signal: a.stop_signal.clone(),
        stop_timeout: a.stop_timeout,
        join_network: None,
        volumes: a
            .volume
            .iter()
            .map(|v| spec::parse_volume(v))
            .collect::<Result<_, _>>()?,
        tmpfs: a
            .tmpfs
            .iter()
            .map(|t| spec::parse_tmpfs(t))
            .collect::<Result<_, _>>()?,
        shm_size: a.shm_size.as_deref().map(spec::parse_memory).transpose()?,
        ulimits: a
            .ulimit
            .iter()
            .map(|u| spec::parse_ulimit(u))
            .collect::<Result<_, _>>()?,
        extra_hosts: a
            .add_host
            .iter()
            .map(|h| spec::parse_add_host(h))
            .collect::<Result<_, _>>()?,
        dns: a
            .dns
            .iter()
            .map(|d| spec::parse_dns(d))
            .collect::<Result<_, _>>()?,
        dns_search: a.dns_search.clone(),
        dns_options: a.dns_option.clone(),
        sysctls: a
            .sysctl
            .iter()
            .map(|s| spec::parse_sysctl(s))
            .collect::<Result<_, _>>()?,
        labels: a
            .label
            .iter()
            .map(|l| spec::parse_label(l))
            .collect::<Result<_, _>>()?,
        devices: a
            .device
            .iter()
            .map(|d| spec::parse_device(d))
            .collect::<Result<_, _>>()?,
    })
}

/// Docker's exit codes for a command that could not start.
fn start_failure_code(e: &EngineError) -> i32 {
    let m = e.to_string();
    if m.contains("not found in $PATH") || m.contains("No such file") {
        127
    } else if m.contains("ermission denied") {
        126
    } else {
        125
    }
}

/// Write end of the pipe the signal handler reports signals on.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn remember_signal(sig: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::SeqCst);
    let b = sig as u8;
    // SAFETY: write(2) is async-signal-safe; the buffer is a local byte.
    unsafe { libc::write(fd, &b as *const u8 as *const libc::c_void, 1) };
}

/// Reports SIGINT, SIGTERM and SIGHUP on a pipe so that `run` can forward
/// them to the container, as `docker run` does. Returns the pipe.
fn catch_signals() -> anyhow::Result<(std::fs::File, std::fs::File)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two-element array on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: both fds are fresh from pipe2 and owned by nothing else.
    let (r, w) = unsafe {
        (
            <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]),
            <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[1]),
        )
    };
    SIGNAL_PIPE.store(fds[1], Ordering::SeqCst);
    for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only calls write(2), which is
        // async-signal-safe.
        unsafe { libc::signal(s, remember_signal as *const () as libc::sighandler_t) };
    }
    Ok((r, w))
}

pub fn run(engine: &Engine, a: &RunArgs) -> anyhow::Result<i32> {
    let spec = run_spec(a)?;
    let attach = !a.detach;
    let record = match engine.create(&spec, attach) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dockyard: {e}");
            return Ok(start_failure_code(&e));
        }
    };
    if let Err(e) = engine.start(&record.id) {
        let _ = engine.remove(&record.id, true);
        eprintln!("dockyard: {e}");
        return Ok(start_failure_code(&e));
    }
    if a.detach {
        println!("{}", record.id);
        return Ok(0);
    }
    let id = record.id.clone();
    let (mut signals, mut wake) = catch_signals()?;
    let exit = std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut b = [0u8; 1];
            // A 0 byte (written below when the container has exited) ends
            // the loop; anything else is a signal to pass on.
            while std::io::Read::read_exact(&mut signals, &mut b).is_ok() && b[0] != 0 {
                let _ = engine.kill(&id, b[0] as i32);
            }
        });
        let exit = engine.wait(&record.id);
        let _ = wake.write_all(&[0]);
        exit
    })?;
    // The handler must not write to the pipe once it is closed.
    SIGNAL_PIPE.store(-1, Ordering::SeqCst);
    drop(wake);
    let id = record.id.clone();
    if a.rm {
        engine.remove(&id, true)?;
    }
    Ok(exit.exit_code)
}

fn status_text(v: &ContainerView) -> String {
    match v.state.status {
        Status::Created => "Created".into(),
        Status::Running => format!(
            "Up {}",
            format::human_duration(format::age(
                v.state.started_at.as_deref().unwrap_or(&v.state.created_at)
            ))
        ),
        Status::Exited => {
            let (code, when) = v
                .state
                .exit
                .as_ref()
                .map(|e| (e.exit_code, e.finished_at.as_str()))
                .unwrap_or((255, ""));
            format!(
                "Exited ({code}) {} ago",
                format::human_duration(format::age(when))
            )
        }
    }
}

fn ports_text(v: &ContainerView) -> String {
    v.record
        .attachment
        .as_ref()
        .map(|a| {
            a.ports
                .iter()
                .map(|p| {
                    let ip = p
                        .host_ip
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| "0.0.0.0".into());
                    format!("{ip}:{}->{}/{}", p.host_port, p.container_port, p.protocol)
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

pub fn ps(engine: &Engine, a: &PsArgs) -> anyhow::Result<i32> {
    let views: Vec<ContainerView> = engine
        .list()?
        .into_iter()
        .filter(|v| a.all || v.state.status == Status::Running)
        .rev()
        .collect();
    if a.quiet {
        for v in &views {
            println!(
                "{}",
                if a.no_trunc {
                    &v.record.id[..]
                } else {
                    &v.record.id[..12]
                }
            );
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = views
        .iter()
        .map(|v| {
            vec![
                if a.no_trunc {
                    v.record.id.clone()
                } else {
                    v.record.id[..12].to_string()
                },
                v.record.image.clone(),
                if a.no_trunc {
                    format!("\"{}\"", v.record.args.join(" "))
                } else {
                    format::command(&v.record.args)
                },
                format!(
                    "{} ago",
                    format::human_duration(format::age(&v.record.created))
                ),
                status_text(v),
                ports_text(v),
                v.record.name.clone(),
            ]
        })
        .collect();
    format::table(
        &[
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES",
        ],
        &rows,
    );
    Ok(0)
}

pub fn logs(engine: &Engine, a: &LogsArgs) -> anyhow::Result<i32> {
    let rec = engine.resolve(&a.container)?;
    let path = engine.log_path(&rec.id)?;
    let (mut entries, mut offset) = logs::read_from(&path, 0)?;
    if let Some(n) = a.tail {
        let skip = entries.len().saturating_sub(n);
        entries.drain(..skip);
    }
    let print = |entries: &[logs::Entry]| -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        let mut err = std::io::stderr().lock();
        for e in entries {
            let text = if a.timestamps {
                format!("{} {}", e.time, e.log)
            } else {
                e.log.clone()
            };
            match e.stream {
                logs::Stream::Stdout => out.write_all(text.as_bytes())?,
                logs::Stream::Stderr => err.write_all(text.as_bytes())?,
            }
        }
        out.flush()
    };
    print(&entries)?;
    if a.follow {
        loop {
            let done = engine
                .state(&rec.id)
                .map(|s| s.status == Status::Exited)
                .unwrap_or(true);
            let (more, next) = logs::read_from(&path, offset)?;
            offset = next;
            print(&more)?;
            if done && more.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(0)
}

fn each(names: &[String], mut f: impl FnMut(&str) -> Result<(), EngineError>) -> i32 {
    let mut code = 0;
    for n in names {
        if let Err(e) = f(n) {
            eprintln!("Error response: {e}");
            code = 1;
        }
    }
    code
}

pub fn stop(engine: &Engine, a: &StopArgs) -> anyhow::Result<i32> {
    if let Some(s) = &a.signal {
        spec::parse_signal(s)?;
    }
    Ok(each(&a.containers, |n| {
        let r = engine.resolve(n)?;
        match &a.signal {
            Some(s) => {
                let st = engine.state(&r.id)?;
                if st.status == Status::Running {
                    engine.kill(&r.id, spec::parse_signal(s)?)?;
                }
                engine.stop(&r.id, a.time.map(Duration::from_secs))?;
            }
            None => {
                engine.stop(&r.id, a.time.map(Duration::from_secs))?;
            }
        }
        println!("{n}");
        Ok(())
    }))
}

pub fn kill(engine: &Engine, a: &KillArgs) -> anyhow::Result<i32> {
    let sig = spec::parse_signal(&a.signal)?;
    Ok(each(&a.containers, |n| {
        let r = engine.resolve(n)?;
        engine.kill(&r.id, sig)?;
        println!("{n}");
        Ok(())
    }))
}

pub fn rm(engine: &Engine, a: &RmArgs) -> anyhow::Result<i32> {
    Ok(each(&a.containers, |n| {
        let r = engine.resolve(n)?;
        engine.remove(&r.id, a.force)?;
        println!("{n}");
        Ok(())
    }))
}

pub fn exec(engine: &Engine, a: &ExecArgs) -> anyhow::Result<i32> {
    let r = engine.resolve(&a.container)?;
    let ex = ExecConfig {
        args: a.command.clone(),
        env: env_list(&a.env),
        cwd: a.workdir.clone(),
        user: a.user.clone(),
    };
    match engine.exec(&r.id, &ex) {
        Ok(code) => Ok(code),
        Err(e) if e.kind() == ErrorKind::Conflict => {
            eprintln!("Error response: container {} is not running", a.container);
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}

pub fn inspect(engine: &Engine, a: &InspectArgs) -> anyhow::Result<i32> {
    let mut out = Vec::new();
    let mut code = 0;
    for n in &a.containers {
        let r = match engine.resolve(n) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("Error: {e}");
                code = 1;
                continue;
            }
        };
        let st = engine.state(&r.id)?;
        let exit = st.exit.clone();
        let att = r.attachment.clone();
        out.push(json!({
            "Id": r.id,
            "Name": format!("/{}", r.name),
            "Created": r.created,
            "Path": r.args.first(),
            "Args": r.args.get(1..).unwrap_or_default(),
            "Image": r.image_id,
            "State": {
                "Status": st.status.to_string(),
                "Running": st.status == Status::Running,
                "Pid": if st.status == Status::Running { st.pid.unwrap_or(0) } else { 0 },
                "ExitCode": exit.as_ref().map(|e| e.exit_code).unwrap_or(0),
                "OOMKilled": exit.as_ref().is_some_and(|e| e.oom_killed),
                "Error": exit.as_ref().and_then(|e| e.error.clone()).unwrap_or_default(),
                "StartedAt": st.started_at,
                "FinishedAt": exit.as_ref().map(|e| e.finished_at.clone()),
            },
            "Config": {
                "Image": r.image,
                "Cmd": r.spec.cmd,
                "Entrypoint": r.spec.entrypoint,
                "Env": r.spec.env,
                "User": r.spec.user,
                "WorkingDir": r.spec.workdir,
                "Hostname": r.spec.hostname,
                "StopSignal": r.stop_signal,
                "Labels": r.spec.labels,
            },
            "HostConfig": {
                "NetworkMode": r.network.to_string(),
                "Memory": r.spec.memory.unwrap_or(0),
                "NanoCpus": r.spec.cpus.map(|c| (c * 1e9) as u64).unwrap_or(0),
                "ReadonlyRootfs": r.spec.read_only,
                "AutoRemove": r.spec.auto_remove,
                "CapAdd": r.spec.cap_add,
                "CapDrop": r.spec.cap_drop,
            },
            "NetworkSettings": {
                "IPAddress": att.as_ref().and_then(|a| a.ip).map(|i| i.to_string()).unwrap_or_default(),
                "Gateway": att.as_ref().and_then(|a| a.gateway).map(|i| i.to_string()).unwrap_or_default(),
                "MacAddress": att.as_ref().and_then(|a| a.mac.clone()).unwrap_or_default(),
                "SandboxKey": att.as_ref().and_then(|a| a.netns.clone()),
                "Ports": att.as_ref().map(|a| a.ports.iter().map(|p| json!({
                    "ContainerPort": format!("{}/{}", p.container_port, p.protocol),
                    "HostIp": p.host_ip.map(|i| i.to_string()).unwrap_or_else(|| "0.0.0.0".into()),
                    "HostPort": p.host_port.to_string(),
                })).collect::<Vec<_>>()).unwrap_or_default(),
            },
            "LogPath": engine.log_path(&r.id).ok(),
        }));
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(code)
}

pub fn wait(engine: &Engine, a: &WaitArgs) -> anyhow::Result<i32> {
    Ok(each(&a.containers, |n| {
        let r = engine.resolve(n)?;
        let e = engine.wait(&r.id)?;
        println!("{}", e.exit_code);
        Ok(())
    }))
}

pub fn stats(engine: &Engine, a: &StatsArgs) -> anyhow::Result<i32> {
    let views: Vec<ContainerView> = engine
        .list()?
        .into_iter()
        .filter(|v| {
            if a.containers.is_empty() {
                v.state.status == Status::Running
            } else {
                a.containers
                    .iter()
                    .any(|c| v.record.name == *c || v.record.id.starts_with(c.as_str()))
            }
        })
        .collect();
    let rows: Vec<Vec<String>> = views
        .iter()
        .filter_map(|v| {
            let s = engine.stats(&v.record.id).ok()?;
            Some(vec![
                v.record.id[..12].to_string(),
                v.record.name.clone(),
                format!("{:.3}s", s.cpu_usage_ns as f64 / 1e9),
                format!(
                    "{} / {}",
                    format::human_mem(s.memory_usage),
                    s.memory_limit
                        .map(format::human_mem)
                        .unwrap_or_else(|| "unlimited".into())
                ),
                s.pids.to_string(),
            ])
        })
        .collect();
    format::table(
        &[
            "CONTAINER ID",
            "NAME",
            "CPU TIME",
            "MEM USAGE / LIMIT",
            "PIDS",
        ],
        &rows,
    );
    Ok(0)
}
