//! Rendering checked against AWS's documented examples
//! ("Amazon ECS task metadata v4 examples", EC2 and Fargate), compared as
//! JSON values: same keys, same nesting, same types.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::*;
use crate::meta::{
    Cidr, ClockDrift, ContainerKind, ContainerLimits, EphemeralStorage, Protocol, TaskLimits,
    ecs_labels,
};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn cidr(s: &str) -> Option<Cidr> {
    Some(s.parse().unwrap())
}

fn fixture(name: &str) -> Value {
    let text = match name {
        "ec2_container" => include_str!("../testdata/ec2_container.json"),
        "ec2_task" => include_str!("../testdata/ec2_task.json"),
        "fargate_task" => include_str!("../testdata/fargate_task.json"),
        _ => unreachable!("no fixture {name}"),
    };
    serde_json::from_str(text).unwrap()
}

fn awslogs(group: &str, stream: &str) -> BTreeMap<String, String> {
    [
        ("awslogs-create-group", "true"),
        ("awslogs-group", group),
        ("awslogs-region", "us-west-2"),
        ("awslogs-stream", stream),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn ec2_awsvpc(ip: &str, mac: &str) -> NetworkMeta {
    NetworkMeta {
        mode: "awsvpc".into(),
        ipv4_addresses: vec![ip.parse().unwrap()],
        ipv6_addresses: vec![],
        interface: Some(InterfaceMeta {
            attachment_index: 0,
            mac_address: mac.into(),
            ipv4_subnet: cidr("10.0.2.0/24"),
            private_dns_name: Some(format!(
                "ip-{}.us-west-2.compute.internal",
                ip.replace('.', "-")
            )),
            subnet_gateway_ipv4: cidr("10.0.2.1/24"),
            ..Default::default()
        }),
    }
}

const ECR_CURLTEST: &str = "111122223333.dkr.ecr.us-west-2.amazonaws.com/curltest:latest";
const CURLTEST_ID: &str = "sha256:d691691e9652791a60114e67b365688d20d19940dde7c4736ea30e660d8d3553";

fn ec2_curl_container() -> ContainerMeta {
    let task = "arn:aws:ecs:us-west-2:111122223333:task/default/8f03e41243824aea923aca126495f665";
    ContainerMeta {
        docker_id: "ea32192c8553fbff06c9340478a2ff089b2bb5646fb718b4ee206641c9086d66".into(),
        name: "curl".into(),
        docker_name: "ecs-curltest-24-curl-cca48e8dcadd97805600".into(),
        image: ECR_CURLTEST.into(),
        image_id: CURLTEST_ID.into(),
        labels: ecs_labels("default", "curl", task, "curltest", "24"),
        desired_status: "RUNNING".into(),
        known_status: "RUNNING".into(),
        limits: ContainerLimits {
            cpu: Some(10.0),
            memory_mib: Some(128),
        },
        created_at: Some(t("2020-10-02T00:15:07.620912337Z")),
        started_at: Some(t("2020-10-02T00:15:08.062559351Z")),
        log_driver: Some("awslogs".into()),
        log_options: awslogs("/ecs/metadata", "ecs/curl/8f03e41243824aea923aca126495f665"),
        container_arn: Some(
            "arn:aws:ecs:us-west-2:111122223333:container/0206b271-b33f-47ab-86c6-a0ba208a70a9"
                .into(),
        ),
        networks: vec![ec2_awsvpc("10.0.2.100", "0e:9e:32:c7:48:85")],
        ..Default::default()
    }
}

#[test]
fn ec2_container_matches_the_documented_example() {
    let got = render_container(&ec2_curl_container(), ApiVersion::V4);
    assert_eq!(got, fixture("ec2_container"));
}

fn ec2_task() -> TaskMeta {
    let arn = "arn:aws:ecs:us-west-2:111122223333:task/default/158d1c8083dd49d6b527399fd6414f5c";
    let pause = ContainerMeta {
        docker_id: "598cba581fe3f939459eaba1e071d5c93bb2c49b7d1ba7db6bb19deeb70d8e38".into(),
        name: "~internal~ecs~pause".into(),
        docker_name: "ecs-curltest-26-internalecspause-e292d586b6f9dade4a00".into(),
        image: "amazon/amazon-ecs-pause:0.1.0".into(),
        image_id: String::new(),
        labels: ecs_labels("default", "~internal~ecs~pause", arn, "curltest", "26"),
        desired_status: "RESOURCES_PROVISIONED".into(),
        known_status: "RESOURCES_PROVISIONED".into(),
        limits: ContainerLimits {
            cpu: Some(0.0),
            memory_mib: Some(0),
        },
        created_at: Some(t("2020-10-02T00:43:05.602352471Z")),
        started_at: Some(t("2020-10-02T00:43:06.076707576Z")),
        kind: ContainerKind::CniPause,
        networks: vec![ec2_awsvpc("10.0.2.61", "0e:10:e2:01:bd:91")],
        ..Default::default()
    };
    let curl = ContainerMeta {
        docker_id: "ee08638adaaf009d78c248913f629e38299471d45fe7dc944d1039077e3424ca".into(),
        name: "curl".into(),
        docker_name: "ecs-curltest-26-curl-a0e7dba5aca6d8cb2e00".into(),
        image: ECR_CURLTEST.into(),
        image_id: CURLTEST_ID.into(),
        labels: ecs_labels("default", "curl", arn, "curltest", "26"),
        desired_status: "RUNNING".into(),
        known_status: "RUNNING".into(),
        limits: ContainerLimits {
            cpu: Some(10.0),
            memory_mib: Some(128),
        },
        created_at: Some(t("2020-10-02T00:43:06.326590752Z")),
        started_at: Some(t("2020-10-02T00:43:06.767535449Z")),
        log_driver: Some("awslogs".into()),
        log_options: awslogs("/ecs/metadata", "ecs/curl/158d1c8083dd49d6b527399fd6414f5c"),
        container_arn: Some(
            "arn:aws:ecs:us-west-2:111122223333:container/abb51bdd-11b4-467f-8f6c-adcfe1fe059d"
                .into(),
        ),
        networks: vec![ec2_awsvpc("10.0.2.61", "0e:10:e2:01:bd:91")],
        ..Default::default()
    };
    TaskMeta {
        cluster: "default".into(),
        task_arn: arn.into(),
        family: "curltest".into(),
        revision: "26".into(),
        desired_status: "RUNNING".into(),
        known_status: "RUNNING".into(),
        pull_started_at: Some(t("2020-10-02T00:43:06.202617438Z")),
        pull_stopped_at: Some(t("2020-10-02T00:43:06.31288465Z")),
        availability_zone: Some("us-west-2d".into()),
        launch_type: Some("EC2".into()),
        containers: vec![pause, curl],
        task_tags: [(
            "tag-use".to_owned(),
            "task-metadata-endpoint-test".to_owned(),
        )]
        .into(),
        container_instance_tags: [("tag_key".to_owned(), "tag_value".to_owned())].into(),
        ..Default::default()
    }
}

#[test]
fn ec2_task_matches_the_documented_example() {
    // Tags exist but only /taskWithTags shows them.
    assert_eq!(
        render_task(&ec2_task(), ApiVersion::V4, false),
        fixture("ec2_task")
    );
}

#[test]
fn task_with_tags_adds_both_tag_maps() {
    let mut want = fixture("ec2_task");
    want["TaskTags"] = json!({"tag-use": "task-metadata-endpoint-test"});
    want["ContainerInstanceTags"] = json!({"tag_key": "tag_value"});
    assert_eq!(render_task(&ec2_task(), ApiVersion::V4, true), want);

    let mut untagged = ec2_task();
    untagged.task_tags.clear();
    untagged.container_instance_tags.clear();
    assert_eq!(
        render_task(&untagged, ApiVersion::V4, true),
        fixture("ec2_task"),
        "empty tag maps are left out, as Go's omitempty does"
    );
}

fn fargate_container(
    suffix: &str,
    name: &str,
    image: &str,
    digest: &str,
    cpu: f64,
) -> ContainerMeta {
    let cluster = "arn:aws:ecs:us-east-1:123456789012:cluster/MyEmptyCluster";
    let task =
        "arn:aws:ecs:us-east-1:123456789012:task/MyEmptyCluster/bfa2636268144d039771334145e490c5";
    ContainerMeta {
        docker_id: format!("bfa2636268144d039771334145e490c5-{suffix}"),
        name: name.into(),
        docker_name: name.into(),
        image: image.into(),
        image_id: digest.into(),
        labels: ecs_labels(cluster, name, task, "sample-fargate", "5"),
        desired_status: "RUNNING".into(),
        known_status: "RUNNING".into(),
        limits: ContainerLimits {
            cpu: Some(cpu),
            memory_mib: None,
        },
        kind: ContainerKind::Normal,
        networks: vec![NetworkMeta {
            mode: "awsvpc".into(),
            ipv4_addresses: vec!["172.31.42.189".parse().unwrap()],
            ipv6_addresses: vec![],
            interface: Some(InterfaceMeta {
                attachment_index: 0,
                mac_address: "0e:98:9f:33:76:d3".into(),
                ipv4_subnet: cidr("172.31.32.0/20"),
                dns_servers: vec!["172.31.0.2".parse().unwrap()],
                dns_search: vec!["ec2.internal".into()],
                private_dns_name: Some("ip-172-31-42-189.ec2.internal".into()),
                subnet_gateway_ipv4: cidr("172.31.32.1/20"),
                ..Default::default()
            }),
        }],
        snapshotter: Some("overlayfs".into()),
        ..Default::default()
    }
}

#[test]
fn fargate_task_matches_the_documented_example() {
    let arn_base = "arn:aws:ecs:us-east-1:123456789012:container/MyEmptyCluster/bfa2636268144d039771334145e490c5";
    let mut curl = fargate_container(
        "1117626119",
        "curl-image",
        "curlimages/curl",
        "sha256:daf3f46a2639c1613b25e85c9ee4193af8a1d538f92483d67f9a3d7f21721827",
        128.0,
    );
    curl.created_at = Some(t("2023-07-21T15:45:44.91368314Z"));
    curl.started_at = curl.created_at;
    curl.container_arn = Some(format!("{arn_base}/da6cccf7-1178-400c-afdf-7536173ee209"));
    let mut app = fargate_container(
        "3681984407",
        "fargate-app",
        "public.ecr.aws/docker/library/httpd:latest",
        "sha256:8059bdd0058510c03ae4c808de8c4fd2c1f3c1b6d9ea75487f1e5caa5ececa02",
        2.0,
    );
    app.created_at = Some(t("2023-07-21T15:45:44.954460255Z"));
    app.started_at = app.created_at;
    app.container_arn = Some(format!("{arn_base}/f65b461d-aa09-4acb-a579-9785c0530cbc"));

    let task = TaskMeta {
        cluster: "arn:aws:ecs:us-east-1:123456789012:cluster/MyEmptyCluster".into(),
        task_arn: "arn:aws:ecs:us-east-1:123456789012:task/MyEmptyCluster/bfa2636268144d039771334145e490c5".into(),
        family: "sample-fargate".into(),
        revision: "5".into(),
        desired_status: "RUNNING".into(),
        known_status: "RUNNING".into(),
        limits: TaskLimits {
            vcpu: Some(0.25),
            memory_mib: Some(512),
        },
        pull_started_at: Some(t("2023-07-21T15:45:33.532811081Z")),
        pull_stopped_at: Some(t("2023-07-21T15:45:38.541068435Z")),
        availability_zone: Some("us-east-1d".into()),
        launch_type: Some("FARGATE".into()),
        containers: vec![curl, app],
        clock_drift: Some(ClockDrift {
            error_bound_ms: 0.446931,
            reference: t("2023-07-21T16:09:17Z"),
            synchronized: true,
        }),
        ephemeral_storage: Some(EphemeralStorage {
            utilized_mib: 261,
            reserved_mib: 20496,
        }),
        ..Default::default()
    };
    assert_eq!(
        render_task(&task, ApiVersion::V4, false),
        fixture("fargate_task")
    );
}

fn bridge_container() -> ContainerMeta {
    ContainerMeta {
        docker_id: "c0ffee".into(),
        name: "web".into(),
        docker_name: "dockyard-web-1-web-0a1b".into(),
        image: "nginx:latest".into(),
        image_id: "sha256:abc".into(),
        desired_status: "RUNNING".into(),
        known_status: "RUNNING".into(),
        limits: ContainerLimits {
            cpu: Some(256.0),
            memory_mib: Some(512),
        },
        networks: vec![NetworkMeta {
            mode: "bridge".into(),
            ipv4_addresses: vec!["172.17.0.2".parse().unwrap()],
            ..Default::default()
        }],
        ports: vec![PortBinding {
            container_port: 80,
            host_port: 49153,
            protocol: Protocol::Tcp,
            host_ip: Some("0.0.0.0".parse().unwrap()),
        }],
        health: Some(Health {
            status: HealthStatus::Healthy,
            since: Some(t("2026-01-02T03:04:05.5Z")),
            exit_code: 0,
            output: "ok".into(),
        }),
        exit_code: None,
        ..Default::default()
    }
}

/// No AWS example shows bridge mode; the shape is the agent's own test's
/// (`agent/handlers/v2/response_test.go`): Ports with HostIp in v4, a
/// bridge network with only mode and address, lower-case Health keys.
#[test]
fn bridge_container_has_ports_network_and_health() {
    let want = json!({
        "DockerId": "c0ffee",
        "Name": "web",
        "DockerName": "dockyard-web-1-web-0a1b",
        "Image": "nginx:latest",
        "ImageID": "sha256:abc",
        "Ports": [{"ContainerPort": 80, "Protocol": "tcp", "HostPort": 49153, "HostIp": "0.0.0.0"}],
        "DesiredStatus": "RUNNING",
        "KnownStatus": "RUNNING",
        "Limits": {"CPU": 256, "Memory": 512},
        "Type": "NORMAL",
        "Networks": [{"NetworkMode": "bridge", "IPv4Addresses": ["172.17.0.2"]}],
        "Health": {"status": "HEALTHY", "statusSince": "2026-01-02T03:04:05.5Z", "output": "ok"},
    });
    assert_eq!(render_container(&bridge_container(), ApiVersion::V4), want);
}

#[test]
fn stopped_container_has_exit_code_and_finish_time() {
    let mut c = bridge_container();
    c.known_status = "STOPPED".into();
    c.exit_code = Some(0);
    c.finished_at = Some(t("2026-01-02T04:00:00Z"));
    c.health = Some(Health {
        status: HealthStatus::Unhealthy,
        since: None,
        exit_code: 1,
        output: String::new(),
    });
    let v = render_container(&c, ApiVersion::V4);
    assert_eq!(v["ExitCode"], json!(0), "exit code 0 is still shown");
    assert_eq!(v["FinishedAt"], json!("2026-01-02T04:00:00Z"));
    assert_eq!(v["Health"], json!({"status": "UNHEALTHY", "exitCode": 1}));

    c.health = Some(Health::default());
    let v = render_container(&c, ApiVersion::V4);
    assert_eq!(v["Health"], json!({}), "unknown status is left out");
}

#[test]
fn v3_leaves_out_what_v4_added() {
    let v = render_container(&ec2_curl_container(), ApiVersion::V3);
    for key in ["LogDriver", "LogOptions", "ContainerARN"] {
        assert!(v.get(key).is_none(), "{key} in v3");
    }
    assert_eq!(
        v["Networks"],
        json!([{"NetworkMode": "awsvpc", "IPv4Addresses": ["10.0.2.100"]}])
    );
    let v = render_container(&bridge_container(), ApiVersion::V3);
    assert_eq!(
        v["Ports"],
        json!([{"ContainerPort": 80, "Protocol": "tcp", "HostPort": 49153}])
    );
    let v = render_task(&ec2_task(), ApiVersion::V3, false);
    assert!(v.get("LaunchType").is_none());
    assert_eq!(v["Containers"].as_array().unwrap().len(), 2);
}

#[test]
fn empty_task_keeps_required_fields_only() {
    let v = render_task(&TaskMeta::default(), ApiVersion::V4, true);
    assert_eq!(
        v,
        json!({"Cluster": "", "TaskARN": "", "Family": "", "Revision": "", "KnownStatus": ""})
    );
    let c = render_container(&ContainerMeta::default(), ApiVersion::V4);
    assert_eq!(
        c["Limits"],
        json!({}),
        "the container Limits object is always sent"
    );
    assert_eq!(c["Type"], json!("NORMAL"));
}

#[test]
fn unsynchronized_clock_and_ipv6_render() {
    let task = TaskMeta {
        clock_drift: Some(ClockDrift {
            error_bound_ms: 0.0,
            reference: t("2026-03-04T05:06:07Z"),
            synchronized: false,
        }),
        ..Default::default()
    };
    assert_eq!(
        render_task(&task, ApiVersion::V4, false)["ClockDrift"],
        json!({"ReferenceTimestamp": "2026-03-04T05:06:07Z", "ClockSynchronizationStatus": "NOT_SYNCHRONIZED"})
    );
    let n = NetworkMeta {
        mode: "awsvpc".into(),
        ipv4_addresses: vec![],
        ipv6_addresses: vec!["2001:db8::5".parse().unwrap()],
        interface: Some(InterfaceMeta {
            attachment_index: 1,
            ipv6_subnet: cidr("2001:db8::/64"),
            subnet_gateway_ipv6: cidr("2001:db8::1/64"),
            ..Default::default()
        }),
    };
    assert_eq!(
        network(&n, true),
        json!({
            "NetworkMode": "awsvpc",
            "IPv6Addresses": ["2001:db8::5"],
            "AttachmentIndex": 1,
            "IPv6SubnetCIDRBlock": "2001:db8::/64",
            "SubnetGatewayIpv6Address": "2001:db8::1/64",
        })
    );
}
