//! End-to-end: the AWS SDK for Rust drives ECS on a real `dockyard server`
//! whose built-in agent runs real containers (FARGATE), plus a
//! `dockyard agent` process joining a cluster (EC2 launch type).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use aws_sdk_ecs::Client;
use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ecs::types::{
    AwsVpcConfiguration, Compatibility, ContainerCondition, ContainerDefinition,
    ContainerDependency, HealthCheck, KeyValuePair, LaunchType, LogConfiguration, LogDriver,
    NetworkConfiguration, NetworkMode, PortMapping, Task, TransportProtocol,
};

use common::{AgentProc, Server, client, env, push_busybox, push_layout, run};

/// The first agent on the machine holds `169.254.170.2:80` (later ones get
/// their bridges' connections redirected to a port of their own): the test
/// that calls it from the host runs alone, the other agent tests together.
static METADATA: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

async fn shared_agents() -> tokio::sync::RwLockReadGuard<'static, ()> {
    METADATA.read().await
}

async fn task(c: &Client, cluster: &str, arn: &str) -> Task {
    let r = c
        .describe_tasks()
        .cluster(cluster)
        .tasks(arn)
        .send()
        .await
        .unwrap();
    r.tasks.unwrap().into_iter().next().unwrap()
}

/// Polls the task until `f` holds, failing after `secs`.
async fn until(
    s: &Server,
    c: &Client,
    cluster: &str,
    arn: &str,
    secs: u64,
    what: &str,
    f: impl Fn(&Task) -> bool,
) -> Task {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let t = task(c, cluster, arn).await;
        if f(&t) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "task never became {what}: {t:#?}\nserver log:\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn container<'a>(t: &'a Task, name: &str) -> &'a aws_sdk_ecs::types::Container {
    t.containers()
        .iter()
        .find(|c| c.name() == Some(name))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn fargate_task_with_dependencies_health_logs_and_stop() {
    dockyard_testkit::require_root!();
    let _alone = METADATA.write().await;
    let s = Server::start_with_agent(2);
    let image = push_busybox(&s, "ecs/busybox");
    let c = client(&s);
    c.create_cluster()
        .cluster_name("prod")
        .send()
        .await
        .unwrap();

    let shell = |script: &str| vec!["sh".to_string(), "-c".to_string(), script.to_string()];
    let def = c
        .register_task_definition()
        .family("web")
        .task_role_arn("arn:aws:iam::000000000000:role/web-app")
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(
            ContainerDefinition::builder()
                .name("init")
                .image(&image)
                .essential(false)
                .set_command(Some(shell("echo init-done")))
                .build(),
        )
        .container_definitions(
            ContainerDefinition::builder()
                .name("web")
                .image(&image)
                .depends_on(
                    ContainerDependency::builder()
                        .container_name("init")
                        .condition(ContainerCondition::Success)
                        .build()
                        .unwrap(),
                )
                .environment(
                    KeyValuePair::builder()
                        .name("GREETING")
                        .value("hello world")
                        .build(),
                )
                .set_command(Some(shell(
                    "echo \"web says $GREETING\"; \
                     echo \"task: $(wget -qO- $ECS_CONTAINER_METADATA_URI_V4/task)\"; \
                     echo \"creds: $(wget -qO- http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)\"; \
                     echo \"uri: $AWS_CONTAINER_CREDENTIALS_RELATIVE_URI\"; \
                     httpd -f -p 8080",
                )))
                .stop_timeout(2)
                .health_check(
                    HealthCheck::builder()
                        .set_command(Some(vec![
                            "CMD-SHELL".to_string(),
                            "wget -q -O /dev/null http://127.0.0.1:8080/ || test -d /".to_string(),
                        ]))
                        .interval(5)
                        .timeout(2)
                        .retries(2)
                        .build()
                        .unwrap(),
                )
                .log_configuration(
                    LogConfiguration::builder()
                        .log_driver(LogDriver::Awslogs)
                        .options("awslogs-group", "/ecs/web")
                        .options("awslogs-stream-prefix", "ecs")
                        .options("awslogs-create-group", "true")
                        .options("awslogs-region", "us-east-1")
                        .build()
                        .unwrap(),
                )
                .port_mappings(
                    PortMapping::builder()
                        .container_port(8080)
                        .protocol(TransportProtocol::Tcp)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap();
    assert_eq!(def.revision(), 1);

    let run = c
        .run_task()
        .cluster("prod")
        .task_definition("web")
        .launch_type(LaunchType::Fargate)
        .network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(
                    AwsVpcConfiguration::builder()
                        .subnets("subnet-12345")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(run.failures().is_empty(), "{:?}", run.failures());
    let arn = run.tasks()[0].task_arn().unwrap().to_string();
    assert_eq!(run.tasks()[0].last_status(), Some("PROVISIONING"));

    let t = until(&s, &c, "prod", &arn, 60, "RUNNING", |t| {
        t.last_status() == Some("RUNNING")
    })
    .await;
    assert!(t.started_at().is_some() && t.pull_started_at().is_some());
    let init = container(&t, "init");
    assert_eq!(init.exit_code(), Some(0), "{init:?}");
    let web = container(&t, "web");
    assert_eq!(web.last_status(), Some("RUNNING"));
    assert!(web.runtime_id().is_some());
    let ip = web.network_interfaces()[0]
        .private_ipv4_address()
        .unwrap()
        .to_string();
    let details = t.attachments()[0].details();
    assert!(
        details.iter().any(|d| d.value() == Some(ip.as_str())),
        "{details:?}"
    );

    // The task's own address serves what httpd serves.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect((ip.as_str(), 8080)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {ip}:8080");
        std::thread::sleep(Duration::from_millis(100));
    }

    let t = until(&s, &c, "prod", &arn, 30, "HEALTHY", |t| {
        t.health_status().map(|h| h.as_str()) == Some("HEALTHY")
    })
    .await;
    assert_eq!(
        container(&t, "web").health_status().map(|h| h.as_str()),
        Some("HEALTHY")
    );

    // Another caller (here the host, not the task's address) is refused
    // the task's credentials as if the id did not exist.
    let stream = format!("ecs/web/{}", arn.rsplit('/').next().unwrap());
    let creds_env = s.credentials();
    let deadline = Instant::now() + Duration::from_secs(10);
    let uri = loop {
        let (_, out) = s.aws(
            &creds_env,
            &[
                "logs",
                "get-log-events",
                "--log-group-name",
                "/ecs/web",
                "--log-stream-name",
                &stream,
                "--start-from-head",
            ],
        );
        if let Some(u) = out.lines().find_map(|l| l.split("uri: ").nth(1)) {
            break u.trim_end_matches(['"', ',', ' ']).to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the container's output never arrived: {out}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(uri.starts_with("/v2/credentials/"), "{uri}");
    let answer = {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect(("169.254.170.2", 80)).unwrap();
        conn.write_all(
            format!("GET {uri} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let mut out = String::new();
        conn.read_to_string(&mut out).unwrap();
        out
    };
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("InvalidIdInRequest"), "{answer}");

    c.stop_task()
        .cluster("prod")
        .task(&arn)
        .reason("test is done")
        .send()
        .await
        .unwrap();
    // httpd ignores nothing, but sh as PID 1 ignores SIGTERM: the stop
    // escalates to SIGKILL after stopTimeout.
    let t = until(&s, &c, "prod", &arn, 30, "STOPPED", |t| {
        t.last_status() == Some("STOPPED")
    })
    .await;
    assert_eq!(t.stop_code().map(|c| c.as_str()), Some("UserInitiated"));
    assert_eq!(t.stopped_reason(), Some("test is done"));
    assert!(t.stopped_at().is_some() && t.execution_stopped_at().is_some());
    assert_eq!(container(&t, "web").exit_code(), Some(137));

    // Its output reached CloudWatch Logs.
    let (ok, out) = s.aws(
        &creds_env,
        &[
            "logs",
            "get-log-events",
            "--log-group-name",
            "/ecs/web",
            "--log-stream-name",
            &stream,
            "--start-from-head",
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("web says hello world"), "{out}");

    // The container read its own task's metadata and role credentials.
    let events: serde_json::Value = serde_json::from_str(&out).unwrap();
    let lines: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    let task_doc = lines.iter().find_map(|l| l.strip_prefix("task: ")).unwrap();
    let task_doc: serde_json::Value = serde_json::from_str(task_doc).unwrap();
    assert_eq!(task_doc["TaskARN"], arn.as_str());
    assert_eq!(task_doc["Family"], "web");
    assert!(
        task_doc["Containers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["Name"] == "web")
    );
    let creds = lines
        .iter()
        .find_map(|l| l.strip_prefix("creds: "))
        .unwrap();
    let creds: serde_json::Value = serde_json::from_str(creds).unwrap();
    assert_eq!(creds["RoleArn"], "arn:aws:iam::000000000000:role/web-app");
    // Those credentials are a working key of the server, acting as the role.
    let as_task = Client::from_conf(
        aws_sdk_ecs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(env(&s, "AWS_ENDPOINT_URL"))
            .credentials_provider(Credentials::new(
                creds["AccessKeyId"].as_str().unwrap(),
                creds["SecretAccessKey"].as_str().unwrap(),
                Some(creds["Token"].as_str().unwrap().to_string()),
                None,
                "task",
            ))
            .build(),
    );
    let listed = as_task.list_clusters().send().await.unwrap();
    assert!(listed.cluster_arns().iter().any(|a| a.ends_with("/prod")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_that_cannot_pull_fails_to_start() {
    dockyard_testkit::require_root!();
    let _agents = shared_agents().await;
    let s = Server::start_with_agent(2);
    let c = client(&s);
    c.create_cluster().send().await.unwrap();
    c.register_task_definition()
        .family("missing")
        .requires_compatibilities(Compatibility::Fargate)
        .network_mode(NetworkMode::Awsvpc)
        .cpu("256")
        .memory("512")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image(format!("127.0.0.1:{}/nope/none:latest", s.port))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let run = c
        .run_task()
        .task_definition("missing")
        .launch_type(LaunchType::Fargate)
        .network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(AwsVpcConfiguration::builder().subnets("s").build().unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let arn = run.tasks()[0].task_arn().unwrap().to_string();
    let t = until(&s, &c, "default", &arn, 60, "STOPPED", |t| {
        t.last_status() == Some("STOPPED")
    })
    .await;
    assert_eq!(t.stop_code().map(|c| c.as_str()), Some("TaskFailedToStart"));
    let reason = container(&t, "app")
        .reason()
        .unwrap_or_default()
        .to_string();
    assert!(reason.starts_with("CannotPullContainerError"), "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn volumes_ulimits_tmpfs_and_host_networking_reach_the_containers() {
    dockyard_testkit::require_root!();
    let _agents = shared_agents().await;
    let s = Server::start_with_agent(2);
    let image = push_busybox(&s, "ecs/busybox");
    let c = client(&s);
    c.create_cluster().cluster_name("vol").send().await.unwrap();
    let state = s.data.parent().unwrap().join("agent-state");
    let _agent = AgentProc::start(&s, "vol", &state);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !instance(&c, "vol")
        .await
        .is_some_and(|i| i.agent_connected())
    {
        assert!(Instant::now() < deadline, "the agent never registered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let host_dir = s.data.parent().unwrap().join("host-out");
    let shell = |script: &str| vec!["sh".to_string(), "-c".to_string(), script.to_string()];
    let def: serde_json::Value = serde_json::json!({
        "family": "volumes",
        "networkMode": "none",
        "requiresCompatibilities": ["EC2"],
        "memory": "128",
        "volumes": [
            {"name": "out", "host": {"sourcePath": host_dir.to_str().unwrap()}},
            {"name": "shared"},
            {"name": "cache", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": true, "driver": "local"}}
        ],
        "containerDefinitions": [
            {"name": "writer", "image": image, "essential": false,
             "command": shell("echo from-writer > /shared/msg; echo kept > /cache/k"),
             "mountPoints": [
                 {"sourceVolume": "shared", "containerPath": "/shared"},
                 {"sourceVolume": "cache", "containerPath": "/cache"}
             ]},
            {"name": "reader", "image": image, "readonlyRootFilesystem": true,
             "dependsOn": [{"containerName": "writer", "condition": "SUCCESS"}],
             "volumesFrom": [{"sourceContainer": "writer", "readOnly": true}],
             "mountPoints": [{"sourceVolume": "out", "containerPath": "/out"}],
             "ulimits": [{"name": "nofile", "softLimit": 777, "hardLimit": 888}],
             "linuxParameters": {"tmpfs": [{"containerPath": "/scratch", "size": 4}], "sharedMemorySize": 16,
                 "devices": [{"hostPath": "/dev/zero", "containerPath": "/dev/myzero", "permissions": ["read"]}]},
             "dockerLabels": {"team": "web"},
             "extraHosts": [{"hostname": "db.internal", "ipAddress": "10.1.2.3"}],
             "dnsServers": ["10.0.0.53"],
             "dnsSearchDomains": ["corp.example"],
             "systemControls": [{"namespace": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
             "command": shell("{ cat /shared/msg; cat /cache/k; ulimit -n; ulimit -Hn; \
                 touch /shared/x 2>&1 || true; echo t > /scratch/t && echo tmpfs-ok; \
                 grep -E ' /(scratch|dev/shm) ' /proc/mounts; cat /etc/hosts /etc/resolv.conf; \
                 echo port-start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start); \
                 echo device=$(head -c 2 /dev/myzero | od -An -tx1); } > /out/result")}
        ]
    });
    common::aws_json(
        &s,
        &[
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            &def.to_string(),
        ],
    );
    let run_to_end = async |family: &str| {
        let run = c
            .run_task()
            .task_definition(family)
            .cluster("vol")
            .launch_type(LaunchType::Ec2)
            .send()
            .await
            .unwrap();
        let arn = run.tasks()[0].task_arn().unwrap().to_string();
        until(&s, &c, "vol", &arn, 60, "STOPPED", |t| {
            t.last_status() == Some("STOPPED")
        })
        .await
    };
    let t = run_to_end("volumes").await;
    assert_eq!(container(&t, "reader").exit_code(), Some(0), "{t:#?}");
    // Network mode none: no interface, no bindings.
    assert!(t.attachments().is_empty(), "{t:#?}");
    assert!(container(&t, "reader").network_bindings().is_empty());
    let result = std::fs::read_to_string(host_dir.join("result")).unwrap();
    let lines: Vec<&str> = result.lines().collect();
    assert_eq!(
        lines[..4],
        ["from-writer", "kept", "777", "888"],
        "{result}"
    );
    assert!(result.contains("Read-only file system"), "{result}");
    assert!(result.contains("tmpfs-ok"), "{result}");
    assert!(
        result.contains("/scratch tmpfs") && result.contains("size=4096k"),
        "{result}"
    );
    assert!(result.contains("size=16384k"), "{result}");
    // extraHosts, dnsServers, dnsSearchDomains and systemControls.
    assert!(result.contains("10.1.2.3\tdb.internal\n"), "{result}");
    assert!(result.contains("nameserver 10.0.0.53\n"), "{result}");
    assert!(result.contains("search corp.example\n"), "{result}");
    assert!(result.contains("port-start=0\n"), "{result}");
    assert!(result.contains("device= 00 00\n"), "{result}");
    // The task's own volume went with it; the shared one stays.
    let vols: Vec<String> = std::fs::read_dir(s.data.join("volumes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(vols, ["cache"], "{vols:?}");
    assert_eq!(
        std::fs::read_to_string(s.data.join("volumes/cache/_data/k")).unwrap(),
        "kept\n"
    );

    // Secrets need a parameter store this platform does not have yet:
    // the task fails to start and says why, as AWS words it.
    let mut def = def.clone();
    def["family"] = "secrets".into();
    def["containerDefinitions"][1]["secrets"] = serde_json::json!([
        {"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/db"}
    ]);
    common::aws_json(
        &s,
        &[
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            &def.to_string(),
        ],
    );
    let t = run_to_end("secrets").await;
    assert_eq!(t.stop_code().map(|c| c.as_str()), Some("TaskFailedToStart"));
    let reason = t.stopped_reason().unwrap_or_default();
    assert!(
        reason.starts_with("ResourceInitializationError: unable to pull secrets"),
        "{reason}"
    );

    // Network mode host: the container listens in the node's own network
    // namespace, its binding is the container port itself, and a second
    // task wanting the same port is not placed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let def = serde_json::json!({
        "family": "hostnet",
        "networkMode": "host",
        "requiresCompatibilities": ["EC2"],
        "memory": "64",
        "containerDefinitions": [{
            "name": "web", "image": image, "stopTimeout": 1,
            "portMappings": [{"containerPort": port}],
            "command": shell(&format!("mkdir /www && echo host-mode > /www/index.html && \
                exec httpd -f -p 127.0.0.1:{port} -h /www"))
        }]
    });
    common::aws_json(
        &s,
        &[
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            &def.to_string(),
        ],
    );
    let run = |_: ()| {
        c.run_task()
            .task_definition("hostnet")
            .cluster("vol")
            .launch_type(LaunchType::Ec2)
            .send()
    };
    let arn = run(()).await.unwrap().tasks()[0]
        .task_arn()
        .unwrap()
        .to_string();
    let t = until(&s, &c, "vol", &arn, 60, "RUNNING", |t| {
        t.last_status() == Some("RUNNING")
    })
    .await;
    let b = &container(&t, "web").network_bindings()[0];
    assert_eq!(
        (b.container_port(), b.host_port()),
        (Some(port as i32), Some(port as i32)),
        "{t:#?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        use std::io::{Read, Write};
        if let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            conn.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
            let mut out = String::new();
            let _ = conn.read_to_string(&mut out);
            if out.contains("200") {
                break out;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the host-mode server never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(body.ends_with("host-mode\n"), "{body}");
    let second = run(()).await.unwrap();
    assert!(second.tasks().is_empty(), "{second:#?}");
    assert_eq!(
        second.failures()[0].reason(),
        Some("RESOURCE:PORTS"),
        "{second:#?}"
    );
    c.stop_task()
        .cluster("vol")
        .task(&arn)
        .send()
        .await
        .unwrap();
    until(&s, &c, "vol", &arn, 30, "STOPPED", |t| {
        t.last_status() == Some("STOPPED")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_ecs_errors() {
    let s = Server::start();
    let c = client(&s);
    let e = c
        .run_task()
        .cluster("nope")
        .task_definition("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.into_service_error().meta().code(),
        Some("ClusterNotFoundException")
    );
    let e = c
        .describe_task_definition()
        .task_definition("nope:1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.into_service_error().meta().code(),
        Some("ClientException")
    );
    let e = c
        .register_task_definition()
        .family("bad")
        .requires_compatibilities(Compatibility::Fargate)
        .network_mode(NetworkMode::Awsvpc)
        .cpu("256")
        .memory("4096")
        .container_definitions(
            ContainerDefinition::builder()
                .name("a")
                .image("busybox")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.into_service_error().meta().code(),
        Some("ClientException")
    );
    // Nothing was stored by the failures.
    let fams = c.list_task_definition_families().send().await.unwrap();
    assert!(fams.families().is_empty());
    // EC2 launch type with no instances: AWS's exception.
    c.create_cluster().send().await.unwrap();
    c.register_task_definition()
        .family("ok")
        .container_definitions(
            ContainerDefinition::builder()
                .name("a")
                .image("busybox")
                .memory(64)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let e = c.run_task().task_definition("ok").send().await.unwrap_err();
    let e = e.into_service_error();
    assert_eq!(e.meta().code(), Some("InvalidParameterException"));
    assert!(
        e.meta()
            .message()
            .unwrap()
            .contains("No Container Instances")
    );
}

async fn instance(c: &Client, cluster: &str) -> Option<aws_sdk_ecs::types::ContainerInstance> {
    let arns = c
        .list_container_instances()
        .cluster(cluster)
        .send()
        .await
        .unwrap()
        .container_instance_arns
        .unwrap_or_default();
    let arn = arns.first()?;
    c.describe_container_instances()
        .cluster(cluster)
        .container_instances(arn)
        .send()
        .await
        .unwrap()
        .container_instances
        .unwrap()
        .into_iter()
        .next()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ec2_agent_runs_bridge_tasks_and_readopts_them_after_a_restart() {
    dockyard_testkit::require_root!();
    let _agents = shared_agents().await;
    let s = Server::start_with_agent(1);
    let image = push_busybox(&s, "ecs/bb");
    let c = client(&s);
    c.create_cluster().cluster_name("ec2").send().await.unwrap();
    let state = s.data.parent().unwrap().join("agent-state");
    let mut agent = AgentProc::start(&s, "ec2", &state);
    let deadline = Instant::now() + Duration::from_secs(20);
    let inst = loop {
        if let Some(i) = instance(&c, "ec2").await
            && i.agent_connected()
        {
            break i;
        }
        assert!(Instant::now() < deadline, "the agent never registered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let attrs: Vec<(&str, Option<&str>)> = inst
        .attributes()
        .iter()
        .map(|a| (a.name(), a.value()))
        .collect();
    assert!(attrs.contains(&("stack", Some("blue"))), "{attrs:?}");
    assert!(attrs.contains(&("ecs.availability-zone", Some("us-east-1b"))));
    assert!(attrs.contains(&("ecs.os-type", Some("linux"))));

    c.register_task_definition()
        .family("httpd")
        .container_definitions(
            ContainerDefinition::builder()
                .name("web")
                .image(&image)
                .memory(64)
                // The task's metadata, as its container read it, is served.
                .set_command(Some(vec![
                    "sh".into(),
                    "-c".into(),
                    "mkdir /www && wget -qO /www/meta \"$ECS_CONTAINER_METADATA_URI_V4/task\"; \
                     exec httpd -f -p 8080 -h /www"
                        .into(),
                ]))
                // httpd as PID 1 ignores SIGTERM: SIGKILL follows after 2 s.
                .stop_timeout(2)
                .port_mappings(
                    PortMapping::builder()
                        .container_port(8080)
                        .host_port(0)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let run = c
        .run_task()
        .cluster("ec2")
        .task_definition("httpd")
        .launch_type(LaunchType::Ec2)
        .send()
        .await
        .unwrap();
    assert!(run.failures().is_empty(), "{:?}", run.failures());
    let arn = run.tasks()[0].task_arn().unwrap().to_string();
    let t = until(&s, &c, "ec2", &arn, 60, "RUNNING", |t| {
        t.last_status() == Some("RUNNING")
    })
    .await;
    assert_eq!(t.container_instance_arn(), inst.container_instance_arn());
    let binding = container(&t, "web").network_bindings()[0].clone();
    let port = binding.host_port().unwrap() as u16;
    assert!(port >= 32768, "a dynamic host port, not {port}");
    assert_eq!(binding.container_port(), Some(8080));
    // This agent is not the machine's first (the server's own holds port
    // 80), yet its container read its own task's metadata.
    let meta = {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        conn.write_all(b"GET /meta HTTP/1.0\r\n\r\n").unwrap();
        let mut out = String::new();
        conn.read_to_string(&mut out).unwrap();
        out
    };
    assert!(meta.contains(&format!("\"TaskARN\":\"{arn}\"")), "{meta}");
    let runtime_id = container(&t, "web").runtime_id().unwrap().to_string();

    // The agent dies; the task does not. The server notices the silence.
    agent.child.kill().unwrap();
    agent.child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while instance(&c, "ec2").await.unwrap().agent_connected() {
        assert!(Instant::now() < deadline, "never marked disconnected");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();

    // A new agent process takes the same instance and the task back.
    let _agent = AgentProc::start(&s, "ec2", &state);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !instance(&c, "ec2").await.unwrap().agent_connected() {
        assert!(Instant::now() < deadline, "never reconnected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let arns = c
        .list_container_instances()
        .cluster("ec2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        arns.container_instance_arns().len(),
        1,
        "the same instance, not a new one"
    );
    c.stop_task()
        .cluster("ec2")
        .task(&arn)
        .send()
        .await
        .unwrap();
    let t = until(&s, &c, "ec2", &arn, 30, "STOPPED", |t| {
        t.last_status() == Some("STOPPED")
    })
    .await;
    assert_eq!(container(&t, "web").runtime_id(), Some(runtime_id.as_str()));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_essential_container_killed_by_its_memory_limit_stops_the_task() {
    dockyard_testkit::require_root!();
    let _agents = shared_agents().await;
    let s = Server::start_with_agent(2);
    let image = push_busybox(&s, "ecs/oom");
    let c = client(&s);
    c.create_cluster().send().await.unwrap();
    c.register_task_definition()
        .family("hog")
        .requires_compatibilities(Compatibility::Fargate)
        .network_mode(NetworkMode::Awsvpc)
        .cpu("256")
        .memory("512")
        .container_definitions(
            ContainerDefinition::builder()
                .name("hog")
                .image(&image)
                .memory(16)
                .set_command(Some(vec![
                    "dd".into(),
                    "if=/dev/zero".into(),
                    "of=/dev/null".into(),
                    "bs=200M".into(),
                    "count=1".into(),
                ]))
                .build(),
        )
        .container_definitions(
            ContainerDefinition::builder()
                .name("sidecar")
                .image(&image)
                .essential(false)
                .stop_timeout(1)
                .set_command(Some(vec!["sleep".into(), "600".into()]))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let run = c
        .run_task()
        .task_definition("hog")
        .launch_type(LaunchType::Fargate)
        .network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(AwsVpcConfiguration::builder().subnets("s").build().unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let arn = run.tasks()[0].task_arn().unwrap().to_string();
    let t = until(&s, &c, "default", &arn, 60, "STOPPED", |t| {
        t.last_status() == Some("STOPPED")
    })
    .await;
    assert_eq!(
        t.stop_code().map(|c| c.as_str()),
        Some("EssentialContainerExited")
    );
    assert_eq!(
        t.stopped_reason(),
        Some("Essential container in task exited")
    );
    let hog = container(&t, "hog");
    assert_eq!(hog.exit_code(), Some(137));
    assert!(
        hog.reason()
            .unwrap_or_default()
            .starts_with("OutOfMemoryError"),
        "{hog:?}"
    );
    // The non-essential sidecar was stopped with the task.
    assert_eq!(container(&t, "sidecar").last_status(), Some("STOPPED"));
}

#[test]
fn the_aws_cli_and_boto3_drive_ecs() {
    dockyard_testkit::require_root!();
    let _agents = METADATA.blocking_read();
    let s = Server::start_with_agent(2);
    let image = push_busybox(&s, "ecs/cli");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ecs_clients.py");
    let out = std::process::Command::new("python3")
        .args([script, &image])
        .env("HOME", s.data.parent().unwrap())
        .envs(s.credentials())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}\n{}", s.log());
    assert!(text.contains("ok"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_of_the_server_during_run_task_loses_and_duplicates_nothing() {
    dockyard_testkit::require_root!();
    let _agents = shared_agents().await;
    let mut s = Server::start_with_agent(1);
    let image = push_busybox(&s, "ecs/crash");
    let c = client(&s);
    c.create_cluster().send().await.unwrap();
    c.register_task_definition()
        .family("sleeper")
        .requires_compatibilities(Compatibility::Fargate)
        .network_mode(NetworkMode::Awsvpc)
        .cpu("256")
        .memory("512")
        .container_definitions(
            ContainerDefinition::builder()
                .name("s")
                .image(&image)
                .stop_timeout(1)
                .set_command(Some(vec!["sleep".into(), "600".into()]))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let net = NetworkConfiguration::builder()
        .awsvpc_configuration(AwsVpcConfiguration::builder().subnets("s").build().unwrap())
        .build();
    const CALLS: usize = 10;
    let run = |token: String| {
        let c = c.clone();
        let net = net.clone();
        async move {
            c.run_task()
                .task_definition("sleeper")
                .launch_type(LaunchType::Fargate)
                .network_configuration(net)
                .client_token(token)
                .send()
                .await
                .map(|r| {
                    r.tasks()
                        .iter()
                        .map(|t| t.task_arn().unwrap().to_string())
                        .collect::<Vec<_>>()
                })
        }
    };
    // RunTask calls keep coming while the server is killed.
    let mut calls = Vec::new();
    for i in 0..CALLS {
        calls.push(tokio::spawn(run(format!("token-{i}"))));
        if i == CALLS / 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            s.kill9();
        }
    }
    let mut acknowledged: Vec<String> = Vec::new();
    let mut unanswered = Vec::new();
    for (i, h) in calls.into_iter().enumerate() {
        match h.await.unwrap() {
            Ok(arns) => acknowledged.extend(arns),
            Err(_) => unanswered.push(i),
        }
    }
    assert!(
        !unanswered.is_empty(),
        "the kill should have cut some calls short"
    );
    s.restart();
    // Every acknowledged task is there; retrying an unanswered call with
    // its token gives its task (committed before the kill, or now).
    let mut all = acknowledged.clone();
    for i in unanswered {
        all.extend(run(format!("token-{i}")).await.unwrap());
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), CALLS, "one task per call: {all:?}");
    let mut listed = c.list_tasks().send().await.unwrap().task_arns().to_vec();
    listed.sort();
    assert_eq!(listed, all, "no task lost or duplicated");
    for arn in &acknowledged {
        assert!(listed.contains(arn), "acknowledged task {arn} is gone");
    }
    // And they converge: every task runs.
    for arn in &all {
        until(&s, &c, "default", arn, 90, "RUNNING", |t| {
            t.last_status() == Some("RUNNING")
        })
        .await;
    }
    for arn in &all {
        c.stop_task().task(arn).send().await.unwrap();
    }
    for arn in &all {
        until(&s, &c, "default", arn, 60, "STOPPED", |t| {
            t.last_status() == Some("STOPPED")
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_inside_a_task_calls_the_server_with_the_task_role() {
    dockyard_testkit::require_root!();
    let _alone = METADATA.write().await;
    // The API on every address, so the task reaches it through its gateway.
    let s = Server::start_with_agent_on(2, "0.0.0.0");
    let home = s.data.parent().unwrap().to_path_buf();

    // An image with busybox, Debian's python3 and boto3.
    let root = home.join("py-rootfs");
    dockyard_testkit::busybox_rootfs(&root).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python_rootfs.sh");
    let (ok, out) = run("bash", &[script, root.to_str().unwrap()], &home);
    assert!(ok, "{out}");
    let layer = dockyard_testkit::layer_from_dir(&root).unwrap();
    let layout = home.join("py-layout");
    dockyard_testkit::write_oci_layout(
        &layout,
        "py:latest",
        &[layer],
        serde_json::json!({"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["python3"]}),
    )
    .unwrap();
    let image = push_layout(&s, "py", &layout, "py:latest");
    let creds = s.credentials();

    let c = client(&s);
    c.create_cluster().send().await.unwrap();
    let code = "import json, os, urllib.request, boto3\n\
        key = boto3.Session().get_credentials().access_key\n\
        url = 'http://169.254.170.2' + os.environ['AWS_CONTAINER_CREDENTIALS_RELATIVE_URI']\n\
        served = json.load(urllib.request.urlopen(url))['AccessKeyId']\n\
        arns = boto3.client('ecs').list_clusters()['clusterArns']\n\
        print('boto3-in-task', key == served, key[:4], ' '.join(arns), flush=True)";
    c.register_task_definition()
        .family("py")
        .task_role_arn("arn:aws:iam::000000000000:role/py-app")
        .requires_compatibilities(Compatibility::Fargate)
        .network_mode(NetworkMode::Awsvpc)
        .cpu("256")
        .memory("512")
        .container_definitions(
            ContainerDefinition::builder()
                .name("py")
                .image(&image)
                .set_command(Some(vec!["python3".into(), "-c".into(), code.into()]))
                .environment(
                    KeyValuePair::builder()
                        .name("AWS_ENDPOINT_URL")
                        .value(format!("http://{}:{}", s.gateway(), s.port))
                        .build(),
                )
                .log_configuration(
                    LogConfiguration::builder()
                        .log_driver(LogDriver::Awslogs)
                        .options("awslogs-group", "/ecs/py")
                        .options("awslogs-stream-prefix", "py")
                        .options("awslogs-create-group", "true")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let run = c
        .run_task()
        .task_definition("py")
        .launch_type(LaunchType::Fargate)
        .network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(AwsVpcConfiguration::builder().subnets("s").build().unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let arn = run.tasks()[0].task_arn().unwrap().to_string();
    let t = until(&s, &c, "default", &arn, 90, "STOPPED", |t| {
        t.last_status() == Some("STOPPED")
    })
    .await;
    let (ok, out) = s.aws(
        &creds,
        &["logs", "filter-log-events", "--log-group-name", "/ecs/py"],
    );
    assert!(ok, "{out}");
    assert_eq!(
        container(&t, "py").exit_code(),
        Some(0),
        "{out}\n{}",
        s.log()
    );
    // boto3 took the task role's key from the endpoint (a temporary ASIA
    // key) and the server accepted it.
    assert!(out.contains("boto3-in-task True ASIA"), "{out}");
    assert!(out.contains(":cluster/default"), "{out}");
}
