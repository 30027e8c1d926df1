//! Tasks in the shape DescribeTasks returns.

use serde_json::{Value, json};

use crate::model::{Task, epoch};

pub(crate) fn task(t: &Task, with_tags: bool) -> Value {
    let mut v = json!({
        "taskArn": t.arn,
        "clusterArn": t.cluster_arn,
        "taskDefinitionArn": t.task_definition_arn,
        "overrides": if t.overrides.is_object() { t.overrides.clone() } else { json!({"containerOverrides": [], "inferenceAcceleratorOverrides": []}) },
        "lastStatus": match t.last_status.as_str() {
            "RUNNING" if t.deactivating.is_some() => "DEACTIVATING",
            "RUNNING" if t.activating => "ACTIVATING",
            s => s,
        },
        "desiredStatus": t.desired_status,
        "launchType": t.launch_type,
        "containers": t.containers.iter().map(|c| container(t, c)).collect::<Vec<_>>(),
        "createdAt": epoch(t.times.created),
        "version": t.version,
        "availabilityZone": t.availability_zone,
        "enableExecuteCommand": t.enable_execute_command,
        "attachments": attachments(t),
        "attributes": [{"name": "ecs.cpu-architecture", "value": std::env::consts::ARCH.replace("aarch64", "arm64")}],
        "tags": [],
    });
    let mut set = |k: &str, val: Option<Value>| {
        if let Some(x) = val {
            v[k] = x;
        }
    };
    set(
        "containerInstanceArn",
        t.container_instance_arn.as_ref().map(|a| json!(a)),
    );
    set(
        "capacityProviderName",
        t.capacity_provider_name.as_ref().map(|a| json!(a)),
    );
    set("cpu", t.cpu.as_ref().map(|a| json!(a)));
    set("memory", t.memory.as_ref().map(|a| json!(a)));
    set("connectivity", t.connectivity.as_ref().map(|a| json!(a)));
    set("connectivityAt", t.times.connectivity.map(epoch));
    set("pullStartedAt", t.times.pull_started.map(epoch));
    set("pullStoppedAt", t.times.pull_stopped.map(epoch));
    set("startedAt", t.times.started.map(epoch));
    set("stoppingAt", t.times.stopping.map(epoch));
    set("executionStoppedAt", t.times.execution_stopped.map(epoch));
    set("stoppedAt", t.times.stopped.map(epoch));
    set("stopCode", t.stop_code.as_ref().map(|a| json!(a)));
    set("stoppedReason", t.stopped_reason.as_ref().map(|a| json!(a)));
    set("group", t.group.as_ref().map(|a| json!(a)));
    set("startedBy", t.started_by.as_ref().map(|a| json!(a)));
    set(
        "healthStatus",
        Some(json!(t.health_status.as_deref().unwrap_or("UNKNOWN"))),
    );
    if t.launch_type == "FARGATE" {
        set("platformVersion", Some(json!("1.4.0")));
        set("platformFamily", Some(json!("Linux")));
        set("ephemeralStorage", Some(json!({"sizeInGiB": 20})));
    }
    if with_tags {
        v["tags"] = json!(t.tags);
    }
    v
}

fn attachments(t: &Task) -> Value {
    let Some(id) = &t.attachment_id else {
        return json!([]);
    };
    let status = match t.last_status.as_str() {
        "PROVISIONING" => "PRECREATED",
        "STOPPED" => "DELETED",
        "DEPROVISIONING" => "DELETING",
        _ => "ATTACHED",
    };
    let subnet = t
        .awsvpc
        .as_ref()
        .and_then(|a| a["subnets"][0].as_str())
        .unwrap_or("subnet-dockyard");
    let mut details = vec![json!({"name": "subnetId", "value": subnet})];
    if let Some(n) = &t.network {
        details.push(json!({"name": "networkInterfaceId", "value": format!("eni-{}", &id.replace('-', "")[..17])}));
        details.push(json!({"name": "macAddress", "value": n.mac}));
        details.push(json!({"name": "privateDnsName", "value": format!("ip-{}.ec2.internal", n.ipv4.replace('.', "-"))}));
        details.push(json!({"name": "privateIPv4Address", "value": n.ipv4}));
    }
    json!([{"id": id, "type": "ElasticNetworkInterface", "status": status, "details": details}])
}

fn container(t: &Task, c: &crate::model::Container) -> Value {
    let mut v = json!({
        "containerArn": c.arn,
        "taskArn": t.arn,
        "name": c.name,
        "image": c.image,
        "lastStatus": c.last_status,
        "networkBindings": c.network_bindings,
        "networkInterfaces": [],
        "healthStatus": c.health_status.as_deref().unwrap_or("UNKNOWN"),
        "cpu": c.cpu.as_deref().unwrap_or("0"),
    });
    if let (Some(id), Some(n)) = (&t.attachment_id, &t.network) {
        v["networkInterfaces"] = json!([{"attachmentId": id, "privateIpv4Address": n.ipv4}]);
    }
    let mut set = |k: &str, val: Option<Value>| {
        if let Some(x) = val {
            v[k] = x;
        }
    };
    set("imageDigest", c.image_digest.as_ref().map(|a| json!(a)));
    set("runtimeId", c.runtime_id.as_ref().map(|a| json!(a)));
    set("exitCode", c.exit_code.map(|a| json!(a)));
    set("reason", c.reason.as_ref().map(|a| json!(a)));
    set("memory", c.memory.as_ref().map(|a| json!(a)));
    set(
        "memoryReservation",
        c.memory_reservation.as_ref().map(|a| json!(a)),
    );
    v
}
