//! Stats rendering checked against AWS's documented examples (EC2 bridge
//! container stats, Fargate task stats).

#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::*;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn fixture(name: &str) -> Value {
    let text = match name {
        "ec2_stats" => include_str!("../testdata/ec2_stats.json"),
        "fargate_task_stats" => include_str!("../testdata/fargate_task_stats.json"),
        _ => unreachable!("no fixture {name}"),
    };
    serde_json::from_str(text).unwrap()
}

/// `memory.stat` is passed through key by key; the example's map is the
/// input.
fn memory_stat(example: &Value) -> BTreeMap<String, u64> {
    example["memory_stats"]["stats"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect()
}

fn cpu(total: u64, percpu: &[u64], kernel: u64, user: u64, system: u64) -> CpuStats {
    CpuStats {
        total_usage: total,
        usage_in_kernelmode: kernel,
        usage_in_usermode: user,
        percpu_usage: percpu.to_vec(),
        system_cpu_usage: system,
        online_cpus: 2,
        throttling: Throttling::default(),
    }
}

#[test]
fn ec2_container_stats_match_the_documented_example() {
    let want = fixture("ec2_stats");
    let percpu = [182_359_190, 178_608_875];
    let stats = ContainerStats {
        id: "5fc21e5b015f899d22618f8aede80b6d70d71b2a75465ea49d9462c8f3d2d3af".into(),
        name: "/ecs-curltest-26-curl-c2e5f6e0cf91b0bead01".into(),
        read: t("2020-10-02T00:51:13.410254284Z"),
        preread: Some(t("2020-10-02T00:51:12.406202398Z")),
        cpu: cpu(
            360_968_065,
            &percpu,
            40_000_000,
            290_000_000,
            13_939_680_000_000,
        ),
        precpu: Some(cpu(
            360_968_065,
            &percpu,
            40_000_000,
            290_000_000,
            13_937_670_000_000,
        )),
        memory: MemoryStats {
            usage: 1_806_336,
            max_usage: 6_299_648,
            limit: 134_217_728,
            failcnt: 0,
            stats: memory_stat(&want),
        },
        pids: PidsStats {
            current: 3,
            limit: 0,
        },
        blkio: vec![],
        networks: [(
            "eth0".to_owned(),
            NetworkStats {
                rx_bytes: 84,
                rx_packets: 2,
                tx_bytes: 84,
                tx_packets: 2,
                ..Default::default()
            },
        )]
        .into(),
        network_rate: Some(NetworkRate::default()),
    };
    assert_eq!(render_stats(&stats, ApiVersion::V4), want);
}

#[test]
fn fargate_task_stats_match_the_documented_example() {
    let want = fixture("fargate_task_stats");
    let id = "3d1f891cded94dc795608466cce8ddcf-464223573";
    let mut percpu = vec![0; 15];
    percpu[0] = 696_479_228;
    percpu[1] = 441_212_276;
    let mut pre_percpu = vec![0; 15];
    pre_percpu[0] = 695_639_662;
    pre_percpu[1] = 440_984_939;
    let stats = ContainerStats {
        id: id.into(),
        name: "curltest".into(),
        read: t("2020-10-08T21:24:44.938937019Z"),
        preread: Some(t("2020-10-08T21:24:34.938633969Z")),
        cpu: cpu(
            1_137_691_504,
            &percpu,
            80_000_000,
            810_000_000,
            9_393_210_000_000,
        ),
        precpu: Some(cpu(
            1_136_624_601,
            &pre_percpu,
            80_000_000,
            810_000_000,
            9_373_330_000_000,
        )),
        memory: MemoryStats {
            usage: 6_504_448,
            max_usage: 8_458_240,
            limit: 9_223_372_036_854_772_000,
            failcnt: 0,
            stats: memory_stat(&want[id]),
        },
        pids: PidsStats::default(),
        blkio: vec![BlkioDevice {
            major: 202,
            minor: 26368,
            bytes: IoCounts {
                read: 638_976,
                write: 0,
                sync: Some(638_976),
                async_: Some(0),
                discard: None,
            },
            ops: IoCounts {
                read: 12,
                write: 0,
                sync: Some(12),
                async_: Some(0),
                discard: None,
            },
        }],
        networks: [(
            "eth1".to_owned(),
            NetworkStats {
                rx_bytes: 2_398_415_937,
                rx_packets: 1_898_631,
                tx_bytes: 1_259_037_719,
                tx_packets: 428_002,
                ..Default::default()
            },
        )]
        .into(),
        network_rate: Some(NetworkRate {
            rx_bytes_per_sec: 43.298687872232854,
            tx_bytes_per_sec: 215.39347269466413,
        }),
    };
    let got = render_task_stats(&[(id.to_owned(), Some(stats))], ApiVersion::V4);
    assert_eq!(got, want);
}

fn minimal() -> ContainerStats {
    ContainerStats {
        id: "c1".into(),
        name: "/c1".into(),
        read: t("2026-05-06T07:08:09.000000001Z"),
        preread: None,
        cpu: CpuStats::default(),
        precpu: None,
        memory: MemoryStats::default(),
        pids: PidsStats::default(),
        blkio: vec![],
        networks: BTreeMap::new(),
        network_rate: None,
    }
}

#[test]
fn first_sample_looks_like_dockers_first_read() {
    let v = render_stats(&minimal(), ApiVersion::V4);
    assert_eq!(v["read"], json!("2026-05-06T07:08:09.000000001Z"));
    assert_eq!(v["preread"], json!("0001-01-01T00:00:00Z"));
    let zero_cpu = json!({
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    });
    assert_eq!(v["precpu_stats"], zero_cpu);
    assert_eq!(v["cpu_stats"], zero_cpu);
    assert_eq!(v["memory_stats"], json!({}));
    assert_eq!(v["pids_stats"], json!({}));
    assert!(v.get("networks").is_none());
    assert!(v.get("network_rate_stats").is_none());
}

#[test]
fn cgroup_v2_blkio_has_read_write_total_and_discard_counts_in_total() {
    let mut s = minimal();
    s.blkio = vec![BlkioDevice {
        major: 8,
        minor: 0,
        bytes: IoCounts {
            read: 4096,
            write: 8192,
            discard: Some(512),
            ..Default::default()
        },
        ops: IoCounts {
            read: 1,
            write: 2,
            ..Default::default()
        },
    }];
    let v = render_stats(&s, ApiVersion::V4);
    let ops = |key: &str| -> Vec<(String, u64)> {
        v["blkio_stats"][key]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["op"].as_str().unwrap().to_owned(),
                    e["value"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let own = |pairs: &[(&str, u64)]| -> Vec<(String, u64)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    };
    assert_eq!(
        ops("io_service_bytes_recursive"),
        own(&[
            ("Read", 4096),
            ("Write", 8192),
            ("Discard", 512),
            ("Total", 12800)
        ])
    );
    assert_eq!(
        ops("io_serviced_recursive"),
        own(&[("Read", 1), ("Write", 2), ("Total", 3)])
    );
    assert_eq!(
        v["blkio_stats"]["io_service_bytes_recursive"][0]["major"],
        json!(8)
    );
}

#[test]
fn v3_stats_have_no_network_rate() {
    let mut s = minimal();
    s.network_rate = Some(NetworkRate {
        rx_bytes_per_sec: 1.5,
        tx_bytes_per_sec: 2.0,
    });
    assert!(
        render_stats(&s, ApiVersion::V3)
            .get("network_rate_stats")
            .is_none()
    );
    assert_eq!(
        render_stats(&s, ApiVersion::V4)["network_rate_stats"],
        json!({"rx_bytes_per_sec": 1.5, "tx_bytes_per_sec": 2})
    );
}

#[test]
fn task_stats_map_containers_without_stats_to_empty_objects() {
    let v = render_task_stats(
        &[("c1".to_owned(), Some(minimal())), ("c2".to_owned(), None)],
        ApiVersion::V4,
    );
    assert_eq!(v["c2"], json!({}));
    assert_eq!(v["c1"]["id"], json!("c1"));
    assert_eq!(v.as_object().unwrap().len(), 2);
}
