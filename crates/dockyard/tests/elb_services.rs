//! End-to-end: the classic ECS getting-started lab behind an Application
//! Load Balancer, on a real `dockyard server` whose built-in agent runs
//! the tasks (FARGATE, awsvpc, `ip` target group): the load balancer and
//! listener made with the `aws` CLI, the service with the AWS SDK for
//! Rust. Requests through the listener reach both tasks; a rolling update
//! drops none; a hung task is taken out of rotation by health checks and
//! then replaced; bad input gets ELB's and ECS's errors.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerDefinition, KeyValuePair, LaunchType,
    LoadBalancer, NetworkConfiguration, PortMapping, Service, TransportProtocol,
};

use common::{Server, aws_json as aws, client, create_load_balancer, push_busybox};

const CLUSTER: &str = "lab";

/// A small HTTP server answering with its version and its own address.
const HELLO: &str = "mkdir -p /www && echo \"$VERSION $(tail -n1 /etc/hosts | cut -f1)\" > /www/index.html && exec httpd -f -p 8080 -h /www";

async fn register_hello(c: &Client, image: &str, version: &str) -> String {
    register_hello_as(c, image, version, false).await
}

/// The hello task definition: FARGATE in awsvpc mode, or (`bridge`) EC2
/// in bridge mode with a dynamic host port.
async fn register_hello_as(c: &Client, image: &str, version: &str, bridge: bool) -> String {
    let mapping = PortMapping::builder()
        .container_port(8080)
        .protocol(TransportProtocol::Tcp);
    let mapping = if bridge {
        mapping.host_port(0)
    } else {
        mapping
    };
    let (compat, mode) = if bridge {
        (
            aws_sdk_ecs::types::Compatibility::Ec2,
            aws_sdk_ecs::types::NetworkMode::Bridge,
        )
    } else {
        (
            aws_sdk_ecs::types::Compatibility::Fargate,
            aws_sdk_ecs::types::NetworkMode::Awsvpc,
        )
    };
    let r = c
        .register_task_definition()
        .family("hello")
        .requires_compatibilities(compat)
        .network_mode(mode)
        .cpu("256")
        .memory("512")
        .container_definitions(
            ContainerDefinition::builder()
                .name("web")
                .image(image)
                .essential(true)
                .command("sh")
                .command("-c")
                .command(HELLO)
                .stop_timeout(2)
                .port_mappings(mapping.build())
                .environment(
                    KeyValuePair::builder()
                        .name("VERSION")
                        .value(version)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    r.task_definition.unwrap().task_definition_arn.unwrap()
}

/// CreateService: two FARGATE tasks of `td` behind `tg`, container `web`
/// at `port`.
async fn create_hello(
    c: &Client,
    td: &str,
    tg: &str,
    port: i32,
) -> Result<
    (),
    aws_sdk_ecs::error::SdkError<aws_sdk_ecs::operation::create_service::CreateServiceError>,
> {
    let vpc = NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .subnets("subnet-1")
                .assign_public_ip(AssignPublicIp::Disabled)
                .build()
                .unwrap(),
        )
        .build();
    c.create_service()
        .cluster(CLUSTER)
        .service_name("hello")
        .task_definition(td)
        .desired_count(2)
        .launch_type(LaunchType::Fargate)
        .network_configuration(vpc)
        .load_balancers(
            LoadBalancer::builder()
                .target_group_arn(tg)
                .container_name("web")
                .container_port(port)
                .build(),
        )
        .send()
        .await
        .map(|_| ())
}

async fn service(c: &Client) -> Service {
    c.describe_services()
        .cluster(CLUSTER)
        .services("hello")
        .send()
        .await
        .unwrap()
        .services
        .unwrap()
        .remove(0)
}

async fn wait_service(s: &Server, c: &Client, secs: u64, what: &str, f: impl Fn(&Service) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let svc = service(c).await;
        if f(&svc) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "service never {what}: {svc:#?}\nserver log:\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn steady_on(svc: &Service, td: &str) -> bool {
    let d = svc.deployments();
    d.len() == 1
        && d[0].task_definition() == Some(td)
        && d[0].rollout_state().map(|r| r.as_str()) == Some("COMPLETED")
        && svc.running_count() == 2
        && svc.pending_count() == 0
}

/// `(target id, state)` of every target of the group.
fn target_health(s: &Server, tg: &str) -> Vec<(String, String)> {
    let h = aws(
        s,
        &["elbv2", "describe-target-health", "--target-group-arn", tg],
    );
    h["TargetHealthDescriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["Target"]["Id"].as_str().unwrap().to_string(),
                d["TargetHealth"]["State"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// One request on a fresh connection; the body.
fn get(addr: SocketAddr) -> Result<String, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(3)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    if !out.starts_with("HTTP/1.1 200") {
        return Err(out);
    }
    let body = out
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or("")
        .trim()
        .to_string();
    Ok(body)
}

/// The private addresses of the service's RUNNING tasks, by task ARN.
async fn task_ips(c: &Client) -> Vec<(String, String)> {
    let arns = c
        .list_tasks()
        .cluster(CLUSTER)
        .service_name("hello")
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
        .send()
        .await
        .unwrap()
        .task_arns
        .unwrap_or_default();
    if arns.is_empty() {
        return vec![];
    }
    let d = c
        .describe_tasks()
        .cluster(CLUSTER)
        .set_tasks(Some(arns))
        .send()
        .await
        .unwrap();
    d.tasks()
        .iter()
        .map(|t| {
            let ip = t.containers()[0].network_interfaces()[0]
                .private_ipv4_address()
                .unwrap()
                .to_string();
            (t.task_arn().unwrap().to_string(), ip)
        })
        .collect()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The host processes of a container, found by its runtime id in their
/// cgroup paths.
fn container_pids(runtime_id: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .is_ok_and(|c| c.contains(runtime_id))
        {
            out.push(pid);
        }
    }
    out
}

/// A target group on port 8080 checked every 5 s (2 s timeout, 2 passes
/// to turn healthy, 2 failures to turn unhealthy); its ARN.
fn create_target_group(s: &Server, name: &str, protocol: &str, target_type: &str) -> String {
    let tg = aws(
        s,
        &[
            "elbv2",
            "create-target-group",
            "--name",
            name,
            "--protocol",
            protocol,
            "--port",
            "8080",
            "--vpc-id",
            "vpc-dockyard",
            "--target-type",
            target_type,
            "--health-check-interval-seconds",
            "5",
            "--health-check-timeout-seconds",
            "2",
            "--healthy-threshold-count",
            "2",
            "--unhealthy-threshold-count",
            "2",
        ],
    );
    tg["TargetGroups"][0]["TargetGroupArn"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A network load balancer NAME with a TCP target group NAME of
/// `target_type` and a TCP listener on a free port forwarding to it:
/// (load balancer ARN, target group ARN, port, listener ARN).
fn tcp_nlb(s: &Server, name: &str, target_type: &str) -> (String, String, u16, String) {
    let lb_arn = create_load_balancer(s, name, "network");
    let tg = create_target_group(s, name, "TCP", target_type);
    let port = free_port();
    let listener = aws(
        s,
        &[
            "elbv2",
            "create-listener",
            "--load-balancer-arn",
            &lb_arn,
            "--protocol",
            "TCP",
            "--port",
            &port.to_string(),
            "--default-actions",
            &format!("Type=forward,TargetGroupArn={tg}"),
        ],
    );
    let listener_arn = listener["Listeners"][0]["ListenerArn"]
        .as_str()
        .unwrap()
        .to_string();
    (lb_arn, tg, port, listener_arn)
}

/// An NLB in front of the tasks' addresses (`ip` targets registered by
/// hand): TCP reaches both, and the server's nft table forwards the
/// listener to both in the kernel. The NLB is deleted afterwards.
async fn nlb_to_the_tasks_is_forwarded_by_the_kernel(s: &Server, ips: &BTreeSet<String>) {
    let (lb_arn, tg, port, listener_arn) = tcp_nlb(s, "direct", "ip");
    let mut args = vec![
        "elbv2".to_string(),
        "register-targets".into(),
        "--target-group-arn".into(),
        tg.clone(),
        "--targets".into(),
    ];
    args.extend(ips.iter().map(|ip| format!("Id={ip},Port=8080")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    aws(s, &args);
    let deadline = Instant::now() + Duration::from_secs(30);
    while target_health(s, &tg).iter().any(|(_, st)| st != "healthy") {
        assert!(Instant::now() < deadline, "{:?}", target_health(s, &tg));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The server's table (its comment names the data directory) forwards
    // the listener's port to both tasks.
    let data = s.data.canonicalize().unwrap().display().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tables = Command::new("nft")
            .args(["list", "tables", "ip"])
            .output()
            .unwrap();
        let ours = String::from_utf8_lossy(&tables.stdout)
            .split_whitespace()
            .filter(|t| t.starts_with("dockyard_lb"))
            .map(|t| {
                let out = Command::new("nft")
                    .args(["list", "table", "ip", t])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout).into_owned()
            })
            .find(|listing| listing.contains(&format!("comment \"dockyard server {data}\"")));
        let listing = ours.unwrap_or_default();
        let forwarded = listing.lines().any(|l| {
            l.contains(&format!("tcp dport {port} dnat"))
                && ips.iter().all(|ip| l.contains(&format!("{ip} . 8080")))
        });
        if forwarded {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no kernel forwarding of port {port}:\n{listing}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut seen = BTreeSet::new();
    for _ in 0..30 {
        let body = get(addr).unwrap();
        let (_, ip) = body.split_once(' ').unwrap();
        seen.insert(ip.to_string());
    }
    assert_eq!(&seen, ips, "connections through the NLB reach both tasks");
    aws(
        s,
        &["elbv2", "delete-listener", "--listener-arn", &listener_arn],
    );
    aws(
        s,
        &[
            "elbv2",
            "delete-load-balancer",
            "--load-balancer-arn",
            &lb_arn,
        ],
    );
    aws(
        s,
        &["elbv2", "delete-target-group", "--target-group-arn", &tg],
    );
}

/// ELB's error code in an `aws` CLI failure.
fn aws_fails(s: &Server, args: &[&str], code: &str) {
    let (ok, out) = s.aws(&s.credentials(), args);
    assert!(
        !ok && out.contains(code),
        "aws {args:?}: wanted {code}, got {out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_getting_started_lab_behind_an_alb() {
    dockyard_testkit::require_root!();
    let s = Server::start_with_agent(1);
    let image = push_busybox(&s, "lab/hello");
    let c = client(&s);
    aws(&s, &["ecs", "create-cluster", "--cluster-name", CLUSTER]);
    let v1 = register_hello(&c, &image, "v1").await;

    // The load balancer, its target group and an HTTP listener.
    let lb_arn = create_load_balancer(&s, "lab", "application");
    let tg_arn = create_target_group(&s, "lab", "HTTP", "ip");
    aws(
        &s,
        &[
            "elbv2",
            "modify-target-group-attributes",
            "--target-group-arn",
            &tg_arn,
            "--attributes",
            "Key=deregistration_delay.timeout_seconds,Value=3",
        ],
    );

    // Bad input, refused with ELB's and ECS's codes, nothing written.
    let api_port = s.port.to_string();
    let forward = format!("Type=forward,TargetGroupArn={tg_arn}");
    aws_fails(
        &s,
        &[
            "elbv2",
            "create-listener",
            "--load-balancer-arn",
            &lb_arn,
            "--protocol",
            "HTTP",
            "--port",
            &api_port,
            "--default-actions",
            &forward,
        ],
        "InvalidConfigurationRequest",
    );
    aws_fails(
        &s,
        &[
            "elbv2",
            "create-listener",
            "--load-balancer-arn",
            &format!("{lb_arn}0"),
            "--protocol",
            "HTTP",
            "--port",
            "80",
            "--default-actions",
            &forward,
        ],
        "LoadBalancerNotFound",
    );
    let listeners = aws(
        &s,
        &[
            "elbv2",
            "describe-listeners",
            "--load-balancer-arn",
            &lb_arn,
        ],
    );
    assert_eq!(listeners["Listeners"].as_array().unwrap().len(), 0);
    // A target group no listener uses yet is refused.
    let e = create_hello(&c, &v1, &tg_arn, 8080).await.unwrap_err();
    assert!(
        format!("{e:?}").contains("does not have an associated load balancer"),
        "{e:?}"
    );

    let port = free_port();
    let port_s = port.to_string();
    aws(
        &s,
        &[
            "elbv2",
            "create-listener",
            "--load-balancer-arn",
            &lb_arn,
            "--protocol",
            "HTTP",
            "--port",
            &port_s,
            "--default-actions",
            &forward,
        ],
    );
    // Where the listener is served, as DescribeLoadBalancers tells it.
    let described = aws(
        &s,
        &[
            "elbv2",
            "describe-load-balancers",
            "--load-balancer-arns",
            &lb_arn,
        ],
    );
    let ip = described["LoadBalancers"][0]["AvailabilityZones"][0]["LoadBalancerAddresses"][0]
        ["IpAddress"]
        .as_str()
        .unwrap_or_else(|| panic!("no listener address: {described}"));
    assert_eq!(ip, "127.0.0.1");
    let addr: SocketAddr = format!("{ip}:{port}").parse().unwrap();
    // A container port the task definition does not map is refused.
    let e = create_hello(&c, &v1, &tg_arn, 9090).await.unwrap_err();
    assert!(
        format!("{e:?}").contains("InvalidParameterException"),
        "{e:?}"
    );

    // The service: two tasks, registered and healthy.
    create_hello(&c, &v1, &tg_arn, 8080).await.unwrap();
    wait_service(&s, &c, 90, "ran 2 healthy tasks behind the ALB", |svc| {
        steady_on(svc, &v1)
    })
    .await;
    let ips: BTreeSet<String> = task_ips(&c).await.into_iter().map(|(_, ip)| ip).collect();
    assert_eq!(ips.len(), 2);
    let health = target_health(&s, &tg_arn);
    let healthy: BTreeSet<String> = health
        .iter()
        .filter(|(_, st)| st == "healthy")
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(healthy, ips, "{health:?}");

    // Many requests reach both tasks, each answering with its address.
    let mut seen = BTreeSet::new();
    for _ in 0..40 {
        let body = get(addr).unwrap();
        let (version, ip) = body.split_once(' ').unwrap();
        assert_eq!(version, "v1");
        seen.insert(ip.to_string());
    }
    assert_eq!(seen, ips, "requests reach both tasks");

    nlb_to_the_tasks_is_forwarded_by_the_kernel(&s, &ips).await;

    // A rolling update behind the load balancer drops no request.
    let stop = Arc::new(AtomicBool::new(false));
    let results = Arc::new(Mutex::new((0usize, Vec::<String>::new(), BTreeSet::new())));
    let client_loop = {
        let (stop, results) = (stop.clone(), results.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let r = get(addr);
                let mut g = results.lock().unwrap();
                match r {
                    Ok(body) => {
                        g.0 += 1;
                        g.2.insert(body.split(' ').next().unwrap_or("").to_string());
                    }
                    Err(e) => g.1.push(e),
                }
                drop(g);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let v2 = register_hello(&c, &image, "v2").await;
    c.update_service()
        .cluster(CLUSTER)
        .service("hello")
        .task_definition(&v2)
        .send()
        .await
        .unwrap();
    wait_service(&s, &c, 120, "rolled out v2 behind the ALB", |svc| {
        steady_on(svc, &v2)
    })
    .await;
    // The old tasks are gone from the target group once drained.
    let new_ips: BTreeSet<String> = task_ips(&c).await.into_iter().map(|(_, ip)| ip).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ids: BTreeSet<String> = target_health(&s, &tg_arn)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        if ids == new_ips {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "old targets never left: {ids:?} vs {new_ips:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop.store(true, Ordering::Relaxed);
    client_loop.join().unwrap();
    let (ok, errors, versions) = results.lock().unwrap().clone();
    assert!(
        errors.is_empty(),
        "{} of {} requests failed during the rollout: {:?}",
        errors.len(),
        ok + errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert!(ok > 50, "the client loop made only {ok} requests");
    assert!(
        versions.contains("v1") && versions.contains("v2"),
        "{versions:?}"
    );

    // A task that hangs is taken out of rotation by health checks, then
    // replaced.
    let tasks = task_ips(&c).await;
    let (hung_arn, hung_ip) = tasks[0].clone();
    let d = c
        .describe_tasks()
        .cluster(CLUSTER)
        .tasks(&hung_arn)
        .send()
        .await
        .unwrap();
    let runtime_id = d.tasks()[0].containers()[0]
        .runtime_id()
        .unwrap()
        .to_string();
    let pids = container_pids(&runtime_id);
    assert!(
        !pids.is_empty(),
        "no processes in a cgroup naming {runtime_id}"
    );
    for pid in &pids {
        // SAFETY: kill(2) with a valid signal on a pid; no memory involved.
        unsafe { libc::kill(*pid, libc::SIGSTOP) };
    }
    let hung_id = hung_arn.rsplit('/').next().unwrap().to_string();
    wait_service(&s, &c, 60, "noticed the hung task's health checks", |svc| {
        svc.events().iter().any(|e| {
            let m = e.message().unwrap_or("");
            m.contains(&hung_id) && m.contains("failed ELB health checks in (target-group")
        })
    })
    .await;
    for _ in 0..20 {
        let body = get(addr).unwrap();
        assert!(!body.ends_with(&hung_ip), "a request reached the hung task");
    }
    wait_service(&s, &c, 90, "replaced the hung task", |svc| {
        steady_on(svc, &v2)
    })
    .await;
    // SIGTERM cannot reach a stopped process: the agent kills it once
    // the stop timeout passes.
    let deadline = Instant::now() + Duration::from_secs(30);
    let t = loop {
        let d = c
            .describe_tasks()
            .cluster(CLUSTER)
            .tasks(&hung_arn)
            .send()
            .await
            .unwrap();
        let t = d.tasks()[0].clone();
        if t.last_status() == Some("STOPPED") {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "the hung task never stopped: {t:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        t.stopped_reason()
            .unwrap_or("")
            .contains("ELB health checks"),
        "{t:?}"
    );
    let replaced: BTreeSet<String> = task_ips(&c).await.into_iter().map(|(_, ip)| ip).collect();
    assert!(!replaced.contains(&hung_ip));
    // The replacement takes requests once its target is healthy.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let healthy: BTreeSet<String> = target_health(&s, &tg_arn)
            .into_iter()
            .filter(|(_, st)| st == "healthy")
            .map(|(id, _)| id)
            .collect();
        if healthy == replaced {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replacement never turned healthy: {healthy:?} vs {replaced:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Routing follows health within moments (once in a loaded full run
    // the first 20 requests all went to the other task); at most 10 s.
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen != replaced && Instant::now() < deadline {
        for _ in 0..20 {
            seen.insert(get(addr).unwrap().split_once(' ').unwrap().1.to_string());
        }
    }
    assert_eq!(seen, replaced, "requests reach the replacement");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ec2_service_behind_an_nlb_registers_its_node_and_host_ports() {
    dockyard_testkit::require_root!();
    let s = common::server_without_agent(&["--agent-poll-seconds", "1"]);
    let image = push_busybox(&s, "lab/hello");
    let c = client(&s);
    aws(&s, &["ecs", "create-cluster", "--cluster-name", CLUSTER]);
    let _node = common::AgentProc::instance(&s, CLUSTER, "node-a", "us-east-1a", 2048, 2048);
    let deadline = Instant::now() + Duration::from_secs(30);
    let instance = loop {
        let l = aws(
            &s,
            &["ecs", "list-container-instances", "--cluster", CLUSTER],
        );
        if let Some(arn) = l["containerInstanceArns"][0].as_str() {
            break arn.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the agent never registered\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let d = aws(
        &s,
        &[
            "ecs",
            "describe-container-instances",
            "--cluster",
            CLUSTER,
            "--container-instances",
            &instance,
        ],
    );
    let ec2_id = d["containerInstances"][0]["ec2InstanceId"]
        .as_str()
        .unwrap()
        .to_string();
    let td = register_hello_as(&c, &image, "v1", true).await;

    let (_, tg_arn, port, _) = tcp_nlb(&s, "nlb", "instance");
    // An instance target group wants bridge (or host) mode: the awsvpc
    // revision is refused.
    let awsvpc = register_hello(&c, &image, "v1").await;
    let e = create_hello(&c, &awsvpc, &tg_arn, 8080).await.unwrap_err();
    assert!(
        format!("{e:?}").contains("incompatible with the awsvpc network mode"),
        "{e:?}"
    );

    c.create_service()
        .cluster(CLUSTER)
        .service_name("hello")
        .task_definition(&td)
        .desired_count(2)
        .launch_type(LaunchType::Ec2)
        .load_balancers(
            LoadBalancer::builder()
                .target_group_arn(&tg_arn)
                .container_name("web")
                .container_port(8080)
                .build(),
        )
        .send()
        .await
        .unwrap();
    wait_service(&s, &c, 90, "ran 2 healthy tasks behind the NLB", |svc| {
        steady_on(svc, &td)
    })
    .await;
    // The targets are the node's instance id at each task's host port.
    let arns = c
        .list_tasks()
        .cluster(CLUSTER)
        .service_name("hello")
        .send()
        .await
        .unwrap()
        .task_arns
        .unwrap_or_default();
    let tasks = c
        .describe_tasks()
        .cluster(CLUSTER)
        .set_tasks(Some(arns))
        .send()
        .await
        .unwrap();
    let mut host_ports: Vec<String> = tasks
        .tasks()
        .iter()
        .map(|t| {
            t.containers()[0].network_bindings()[0]
                .host_port()
                .unwrap()
                .to_string()
        })
        .collect();
    host_ports.sort();
    let h = aws(
        &s,
        &[
            "elbv2",
            "describe-target-health",
            "--target-group-arn",
            &tg_arn,
        ],
    );
    let mut targets: Vec<(String, String, String)> = h["TargetHealthDescriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["Target"]["Id"].as_str().unwrap().to_string(),
                d["Target"]["Port"].to_string(),
                d["TargetHealth"]["State"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    targets.sort();
    let want: Vec<(String, String, String)> = host_ports
        .iter()
        .map(|p| (ec2_id.clone(), p.clone(), "healthy".to_string()))
        .collect();
    assert_eq!(targets, want);
    // TCP through the NLB reaches both tasks.
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut seen = BTreeSet::new();
    for _ in 0..30 {
        seen.insert(get(addr).unwrap());
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
}
