//! Container and task metadata rendered to the JSON the ECS agent serves.
//! Field names, omissions and number forms follow the agent's Go structs
//! (`ecs-agent/tmds/handlers/{v2,v4/state}/response.go`).

use serde_json::Value;

use crate::meta::{
    ContainerMeta, Health, HealthStatus, InterfaceMeta, NetworkMeta, PortBinding, TaskMeta,
    VolumeMeta,
};
use crate::wire::{Obj, go_float, go_time, strings};

/// Which task metadata endpoint version is answering. v3 is v4 without
/// the fields v4 added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    V3,
    V4,
}

/// `GET ${ECS_CONTAINER_METADATA_URI_V4}`.
pub fn render_container(c: &ContainerMeta, version: ApiVersion) -> Value {
    let v4 = version == ApiVersion::V4;
    let mut o = Obj::new();
    o.put("DockerId", c.docker_id.as_str())
        .put("Name", c.name.as_str())
        .put("DockerName", c.docker_name.as_str())
        .put("Image", c.image.as_str())
        .put("ImageID", c.image_id.as_str())
        .list_nonempty("Ports", c.ports.iter().map(|p| port(p, v4)).collect())
        .map_nonempty("Labels", &c.labels)
        .put("DesiredStatus", c.desired_status.as_str())
        .put("KnownStatus", c.known_status.as_str())
        .put_some("ExitCode", c.exit_code)
        .put(
            "Limits",
            Obj::new()
                .put_some("CPU", c.limits.cpu.map(go_float))
                .put_some("Memory", c.limits.memory_mib)
                .build(),
        )
        .time("CreatedAt", c.created_at.as_ref())
        .time("StartedAt", c.started_at.as_ref())
        .time("FinishedAt", c.finished_at.as_ref())
        .put("Type", c.kind.as_str())
        .list_nonempty(
            "Networks",
            c.networks.iter().map(|n| network(n, v4)).collect(),
        )
        .put_some("Health", c.health.as_ref().map(health))
        .list_nonempty("Volumes", c.volumes.iter().map(volume).collect());
    if v4 {
        o.opt_str("LogDriver", c.log_driver.as_deref())
            .map_nonempty("LogOptions", &c.log_options)
            .opt_str("ContainerARN", c.container_arn.as_deref())
            .opt_str("Snapshotter", c.snapshotter.as_deref())
            .put_some("RestartCount", c.restart_count);
    }
    o.build()
}

/// `GET ${ECS_CONTAINER_METADATA_URI_V4}/task`, or `/taskWithTags` when
/// `with_tags`.
pub fn render_task(t: &TaskMeta, version: ApiVersion, with_tags: bool) -> Value {
    let v4 = version == ApiVersion::V4;
    let mut o = Obj::new();
    o.put("Cluster", t.cluster.as_str())
        .put("TaskARN", t.task_arn.as_str())
        .put("Family", t.family.as_str())
        .put("Revision", t.revision.as_str())
        .str_nonempty("DesiredStatus", &t.desired_status)
        .put("KnownStatus", t.known_status.as_str())
        .list_nonempty(
            "Containers",
            t.containers
                .iter()
                .map(|c| render_container(c, version))
                .collect(),
        );
    if t.limits.vcpu.is_some() || t.limits.memory_mib.is_some() {
        o.put(
            "Limits",
            Obj::new()
                .put_some("CPU", t.limits.vcpu.map(go_float))
                .put_some("Memory", t.limits.memory_mib)
                .build(),
        );
    }
    o.time("PullStartedAt", t.pull_started_at.as_ref())
        .time("PullStoppedAt", t.pull_stopped_at.as_ref())
        .time("ExecutionStoppedAt", t.execution_stopped_at.as_ref())
        .opt_str("AvailabilityZone", t.availability_zone.as_deref());
    if with_tags {
        o.map_nonempty("TaskTags", &t.task_tags)
            .map_nonempty("ContainerInstanceTags", &t.container_instance_tags);
    }
    if v4 {
        o.opt_str("LaunchType", t.launch_type.as_deref())
            .opt_str("VPCID", t.vpc_id.as_deref())
            .opt_str("ServiceName", t.service_name.as_deref())
            .opt_str("AvailabilityZoneID", t.availability_zone_id.as_deref());
        if let Some(d) = &t.clock_drift {
            let status = if d.synchronized {
                "SYNCHRONIZED"
            } else {
                "NOT_SYNCHRONIZED"
            };
            let mut drift = Obj::new();
            // Go's omitempty drops a zero bound.
            if d.error_bound_ms != 0.0 {
                drift.put("ClockErrorBound", go_float(d.error_bound_ms));
            }
            drift
                .put("ReferenceTimestamp", go_time(&d.reference))
                .put("ClockSynchronizationStatus", status);
            o.put("ClockDrift", drift.build());
        }
        if let Some(s) = &t.ephemeral_storage {
            o.put(
                "EphemeralStorageMetrics",
                Obj::new()
                    .put("Utilized", s.utilized_mib)
                    .put("Reserved", s.reserved_mib)
                    .build(),
            );
        }
    }
    o.build()
}

fn port(p: &PortBinding, v4: bool) -> Value {
    let mut o = Obj::new();
    o.u64_nonzero("ContainerPort", p.container_port.into())
        .put("Protocol", p.protocol.as_str())
        .u64_nonzero("HostPort", p.host_port.into());
    if v4 {
        o.put_some("HostIp", p.host_ip.map(|ip| ip.to_string()));
    }
    o.build()
}

fn network(n: &NetworkMeta, v4: bool) -> Value {
    let mut o = Obj::new();
    o.str_nonempty("NetworkMode", &n.mode)
        .list_nonempty("IPv4Addresses", strings(&n.ipv4_addresses))
        .list_nonempty("IPv6Addresses", strings(&n.ipv6_addresses));
    if v4 && let Some(i) = &n.interface {
        interface(&mut o, i);
    }
    o.build()
}

fn interface(o: &mut Obj, i: &InterfaceMeta) {
    let text = |c: &Option<crate::meta::Cidr>| c.map(|c| c.to_string());
    o.put("AttachmentIndex", i.attachment_index)
        .str_nonempty("MACAddress", &i.mac_address)
        .put_some("IPv4SubnetCIDRBlock", text(&i.ipv4_subnet))
        .put_some("IPv6SubnetCIDRBlock", text(&i.ipv6_subnet))
        .list_nonempty("DomainNameServers", strings(&i.dns_servers))
        .list_nonempty("DomainNameSearchList", strings(&i.dns_search))
        .opt_str("PrivateDNSName", i.private_dns_name.as_deref())
        .put_some("SubnetGatewayIpv4Address", text(&i.subnet_gateway_ipv4))
        .put_some("SubnetGatewayIpv6Address", text(&i.subnet_gateway_ipv6));
}

fn health(h: &Health) -> Value {
    let status = match h.status {
        HealthStatus::Unknown => "",
        HealthStatus::Healthy => "HEALTHY",
        HealthStatus::Unhealthy => "UNHEALTHY",
    };
    let mut o = Obj::new();
    o.str_nonempty("status", status)
        .time("statusSince", h.since.as_ref());
    if h.exit_code != 0 {
        o.put("exitCode", h.exit_code);
    }
    o.str_nonempty("output", &h.output).build()
}

fn volume(v: &VolumeMeta) -> Value {
    Obj::new()
        .opt_str("DockerName", v.docker_name.as_deref())
        .str_nonempty("Source", &v.source)
        .str_nonempty("Destination", &v.destination)
        .build()
}

#[cfg(test)]
mod tests;
