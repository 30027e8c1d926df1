//! Container resource counters and their rendering as Docker's
//! `GET /containers/{id}/stats` JSON (`types.StatsJSON`), which is what the
//! ECS agent serves, plus its `network_rate_stats`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::render::ApiVersion;
use crate::wire::{GO_ZERO_TIME, Obj, go_float, go_time};

/// One sample of a container's counters, as read from its cgroup and
/// network namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerStats {
    /// The runtime's container id.
    pub id: String,
    /// The runtime's container name (Docker writes `/name`; Fargate
    /// `name`); sent as given.
    pub name: String,
    /// When this sample was taken.
    pub read: DateTime<Utc>,
    /// When the previous sample was taken; `None` on the first.
    pub preread: Option<DateTime<Utc>>,
    pub cpu: CpuStats,
    /// The previous sample's CPU counters, from which clients compute
    /// utilisation; `None` on the first sample.
    pub precpu: Option<CpuStats>,
    pub memory: MemoryStats,
    pub pids: PidsStats,
    pub blkio: Vec<BlkioDevice>,
    /// Interface name -> counters.
    pub networks: BTreeMap<String, NetworkStats>,
    /// Bytes per second over the last interval; v4 only.
    pub network_rate: Option<NetworkRate>,
}

/// CPU counters, all in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuStats {
    pub total_usage: u64,
    pub usage_in_kernelmode: u64,
    pub usage_in_usermode: u64,
    /// Per CPU; empty when the cgroup does not say (cgroup v2).
    pub percpu_usage: Vec<u64>,
    /// The host's total CPU time (`/proc/stat`), for the ratio clients take.
    pub system_cpu_usage: u64,
    pub online_cpus: u32,
    pub throttling: Throttling,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Throttling {
    pub periods: u64,
    pub throttled_periods: u64,
    /// Nanoseconds.
    pub throttled_time: u64,
}

/// Memory counters in bytes. Zero means "not known" and is left out, as
/// Docker (Go's omitempty) does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryStats {
    pub usage: u64,
    pub max_usage: u64,
    pub limit: u64,
    pub failcnt: u64,
    /// The cgroup's `memory.stat` entries.
    pub stats: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PidsStats {
    pub current: u64,
    /// Zero: no limit.
    pub limit: u64,
}

/// Block I/O of one device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlkioDevice {
    pub major: u64,
    pub minor: u64,
    /// `io_service_bytes_recursive`.
    pub bytes: IoCounts,
    /// `io_serviced_recursive`: operations.
    pub ops: IoCounts,
}

/// Counts by direction. cgroup v1 also splits sync/async; v2 does not, so
/// those are optional and left out when unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoCounts {
    pub read: u64,
    pub write: u64,
    pub sync: Option<u64>,
    pub async_: Option<u64>,
    pub discard: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetworkStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NetworkRate {
    pub rx_bytes_per_sec: f64,
    pub tx_bytes_per_sec: f64,
}

/// `GET ${ECS_CONTAINER_METADATA_URI_V4}/stats`.
pub fn render_stats(s: &ContainerStats, version: ApiVersion) -> Value {
    let networks: Map<String, Value> = s
        .networks
        .iter()
        .map(|(name, n)| (name.clone(), network(n)))
        .collect();
    let mut o = Obj::new();
    o.put("read", go_time(&s.read))
        .put(
            "preread",
            s.preread
                .as_ref()
                .map_or_else(|| GO_ZERO_TIME.to_owned(), go_time),
        )
        .put(
            "pids_stats",
            Obj::new()
                .u64_nonzero("current", s.pids.current)
                .u64_nonzero("limit", s.pids.limit)
                .build(),
        )
        .put("blkio_stats", blkio(&s.blkio))
        // Windows only; Docker always sends them.
        .put("num_procs", 0)
        .put("storage_stats", Value::Object(Map::new()))
        .put("cpu_stats", cpu(&s.cpu))
        .put(
            "precpu_stats",
            cpu(s.precpu.as_ref().unwrap_or(&CpuStats::default())),
        )
        .put("memory_stats", memory(&s.memory))
        .str_nonempty("name", &s.name)
        .str_nonempty("id", &s.id);
    if !networks.is_empty() {
        o.put("networks", Value::Object(networks));
    }
    if version == ApiVersion::V4
        && let Some(r) = &s.network_rate
    {
        o.put(
            "network_rate_stats",
            Obj::new()
                .put("rx_bytes_per_sec", go_float(r.rx_bytes_per_sec))
                .put("tx_bytes_per_sec", go_float(r.tx_bytes_per_sec))
                .build(),
        );
    }
    o.build()
}

/// `GET ${ECS_CONTAINER_METADATA_URI_V4}/task/stats`: container id ->
/// stats; a container without stats (not started, gone) maps to `{}` as
/// the agent sends it.
pub fn render_task_stats(stats: &[(String, Option<ContainerStats>)], version: ApiVersion) -> Value {
    let m: Map<String, Value> = stats
        .iter()
        .map(|(id, s)| {
            let v = s
                .as_ref()
                .map_or_else(|| Value::Object(Map::new()), |s| render_stats(s, version));
            (id.clone(), v)
        })
        .collect();
    Value::Object(m)
}

fn cpu(c: &CpuStats) -> Value {
    let mut usage = Obj::new();
    usage.put("total_usage", c.total_usage);
    if !c.percpu_usage.is_empty() {
        usage.put("percpu_usage", c.percpu_usage.clone());
    }
    usage
        .put("usage_in_kernelmode", c.usage_in_kernelmode)
        .put("usage_in_usermode", c.usage_in_usermode);
    let mut o = Obj::new();
    o.put("cpu_usage", usage.build())
        .u64_nonzero("system_cpu_usage", c.system_cpu_usage)
        .u64_nonzero("online_cpus", c.online_cpus.into())
        .put(
            "throttling_data",
            Obj::new()
                .put("periods", c.throttling.periods)
                .put("throttled_periods", c.throttling.throttled_periods)
                .put("throttled_time", c.throttling.throttled_time)
                .build(),
        );
    o.build()
}

fn memory(m: &MemoryStats) -> Value {
    let stats: Map<String, Value> = m
        .stats
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(*v)))
        .collect();
    let mut o = Obj::new();
    o.u64_nonzero("usage", m.usage)
        .u64_nonzero("max_usage", m.max_usage);
    if !stats.is_empty() {
        o.put("stats", Value::Object(stats));
    }
    o.u64_nonzero("failcnt", m.failcnt)
        .u64_nonzero("limit", m.limit)
        .build()
}

fn blkio(devices: &[BlkioDevice]) -> Value {
    let entries = |pick: fn(&BlkioDevice) -> IoCounts| -> Value {
        let mut out = Vec::new();
        for d in devices {
            let c = pick(d);
            let mut push = |op: &str, value: u64| {
                out.push(
                    Obj::new()
                        .put("major", d.major)
                        .put("minor", d.minor)
                        .put("op", op)
                        .put("value", value)
                        .build(),
                );
            };
            push("Read", c.read);
            push("Write", c.write);
            let optional = [
                ("Sync", c.sync),
                ("Async", c.async_),
                ("Discard", c.discard),
            ];
            for (op, v) in optional {
                if let Some(v) = v {
                    push(op, v);
                }
            }
            // The kernel's Total counts discards with reads and writes.
            let total = c
                .read
                .saturating_add(c.write)
                .saturating_add(c.discard.unwrap_or(0));
            push("Total", total);
        }
        Value::Array(out)
    };
    let empty = || Value::Array(Vec::new());
    Obj::new()
        .put("io_service_bytes_recursive", entries(|d| d.bytes))
        .put("io_serviced_recursive", entries(|d| d.ops))
        .put("io_queue_recursive", empty())
        .put("io_service_time_recursive", empty())
        .put("io_wait_time_recursive", empty())
        .put("io_merged_recursive", empty())
        .put("io_time_recursive", empty())
        .put("sectors_recursive", empty())
        .build()
}

fn network(n: &NetworkStats) -> Value {
    Obj::new()
        .put("rx_bytes", n.rx_bytes)
        .put("rx_packets", n.rx_packets)
        .put("rx_errors", n.rx_errors)
        .put("rx_dropped", n.rx_dropped)
        .put("tx_bytes", n.tx_bytes)
        .put("tx_packets", n.tx_packets)
        .put("tx_errors", n.tx_errors)
        .put("tx_dropped", n.tx_dropped)
        .build()
}

#[cfg(test)]
mod tests;
