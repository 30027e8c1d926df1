//! End-to-end: ECS services on a real `dockyard server` with three
//! `dockyard agent` "instances" on this machine (each its own engine,
//! bridge and zone), driven by the AWS SDK for Rust, the `aws` CLI and
//! `ecs-deploy`: spread placement, a lost agent's tasks replaced, rolling
//! updates sampled continuously against their bounds, the circuit breaker
//! rolling back, and a DAEMON service following a joining instance.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{ContainerDefinition, DeploymentConfiguration, KeyValuePair, Service};

use common::{AgentProc, Server, aws_json as aws, client, push_busybox, server_without_agent};

const CLUSTER: &str = "svc";
const LOOP: &str = "trap 'exit 0' TERM; while true; do sleep 1; done";

/// How often agents poll (`--agent-poll-seconds`); the server marks an
/// agent disconnected after three silent intervals.
const POLL_SECONDS: u64 = 1;
/// How long a disconnected agent keeps its tasks (`--node-lost-seconds`).
const NODE_LOST_SECONDS: u64 = 3;
/// What the issue allows on top of those timeouts for the replacements
/// to be placed, pulled (cached) and reported RUNNING.
const REPLACE_SLACK_SECONDS: u64 = 8;

/// A server whose agents poll every second and lose their tasks three
/// seconds after they are marked disconnected.
fn server() -> Server {
    server_without_agent(&[
        "--agent-poll-seconds",
        &POLL_SECONDS.to_string(),
        "--node-lost-seconds",
        &NODE_LOST_SECONDS.to_string(),
    ])
}

async fn register(c: &Client, family: &str, image: &str, version: &str, script: &str) -> String {
    let r = c
        .register_task_definition()
        .family(family)
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image(image)
                .cpu(128)
                .memory(64)
                .essential(true)
                .command("sh")
                .command("-c")
                .command(script)
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

async fn service(c: &Client, name: &str) -> Service {
    c.describe_services()
        .cluster(CLUSTER)
        .services(name)
        .send()
        .await
        .unwrap()
        .services
        .unwrap()
        .remove(0)
}

async fn wait_service(
    s: &Server,
    c: &Client,
    name: &str,
    secs: u64,
    what: &str,
    f: impl Fn(&Service) -> bool,
) -> Service {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let svc = service(c, name).await;
        if f(&svc) {
            return svc;
        }
        assert!(
            Instant::now() < deadline,
            "service {name} never {what}: {svc:#?}\nserver log:\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The service has converged: one completed deployment of `td` running
/// its desired count.
fn steady_on(svc: &Service, td: &str, n: i32) -> bool {
    let d = svc.deployments();
    d.len() == 1
        && d[0].task_definition() == Some(td)
        && d[0].rollout_state().map(|r| r.as_str()) == Some("COMPLETED")
        && svc.running_count() == n
        && svc.pending_count() == 0
}

/// (tasks not yet STOPPED, tasks RUNNING and wanted) of a service now.
///
/// Tasks only move from desired RUNNING to desired STOPPED, so listing
/// RUNNING, then STOPPED, then RUNNING again finds every task that existed
/// at the first call and every one launched before the last; DescribeTasks
/// then tells which are still there. DescribeServices' per-deployment
/// running + pending counts, read at one instant from the server's task
/// index, cross-check the most present (a task the lists missed cannot
/// hide a breach from both).
async fn sample(c: &Client, name: &str) -> (usize, usize) {
    use aws_sdk_ecs::types::DesiredStatus;
    let mut arns = Vec::new();
    for status in [
        DesiredStatus::Running,
        DesiredStatus::Stopped,
        DesiredStatus::Running,
    ] {
        let r = c
            .list_tasks()
            .cluster(CLUSTER)
            .service_name(name)
            .desired_status(status)
            .max_results(100)
            .send()
            .await
            .unwrap();
        arns.extend(r.task_arns.unwrap_or_default());
    }
    // A task stopped between the calls is in several lists.
    arns.sort();
    arns.dedup();
    let counted: usize = service(c, name)
        .await
        .deployments()
        .iter()
        .map(|d| (d.running_count() + d.pending_count()) as usize)
        .sum();
    if arns.is_empty() {
        return (counted, 0);
    }
    let mut present = 0;
    let mut healthy = 0;
    for chunk in arns.chunks(100) {
        let d = c
            .describe_tasks()
            .cluster(CLUSTER)
            .set_tasks(Some(chunk.to_vec()))
            .send()
            .await
            .unwrap();
        for t in d.tasks() {
            if t.last_status() != Some("STOPPED") {
                present += 1;
            }
            if t.last_status() == Some("RUNNING") && t.desired_status() == Some("RUNNING") {
                healthy += 1;
            }
        }
    }
    (present.max(counted), healthy)
}

/// Samples the service continuously until stopped; returns the most
/// tasks and the fewest healthy tasks seen.
struct Sampler {
    stop: Arc<AtomicBool>,
    max_present: Arc<AtomicUsize>,
    min_healthy: Arc<AtomicUsize>,
    samples: Arc<AtomicUsize>,
    handle: tokio::task::JoinHandle<()>,
}

impl Sampler {
    fn start(c: &Client, name: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let max_present = Arc::new(AtomicUsize::new(0));
        let min_healthy = Arc::new(AtomicUsize::new(usize::MAX));
        let samples = Arc::new(AtomicUsize::new(0));
        let (c, name) = (c.clone(), name.to_string());
        let (st, mp, mh, n) = (
            stop.clone(),
            max_present.clone(),
            min_healthy.clone(),
            samples.clone(),
        );
        let handle = tokio::spawn(async move {
            while !st.load(Ordering::SeqCst) {
                let (present, healthy) = sample(&c, &name).await;
                mp.fetch_max(present, Ordering::SeqCst);
                mh.fetch_min(healthy, Ordering::SeqCst);
                n.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        Self {
            stop,
            max_present,
            min_healthy,
            samples,
            handle,
        }
    }

    async fn finish(self) -> (usize, usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.await.unwrap();
        (
            self.max_present.load(Ordering::SeqCst),
            self.min_healthy.load(Ordering::SeqCst),
            self.samples.load(Ordering::SeqCst),
        )
    }
}

/// Rolls `name` to `td` under (min, max) percent and checks, sample by
/// sample, that it never leaves the bounds.
async fn rollout(s: &Server, c: &Client, name: &str, td: &str, min: i32, max: i32) {
    let sampler = Sampler::start(c, name);
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.update_service()
        .cluster(CLUSTER)
        .service(name)
        .task_definition(td)
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .minimum_healthy_percent(min)
                .maximum_percent(max)
                .build(),
        )
        .send()
        .await
        .unwrap();
    wait_service(s, c, name, 90, "rolled out", |svc| steady_on(svc, td, 6)).await;
    let (most, fewest, n) = sampler.finish().await;
    let (ceiling, floor) = ((6 * max / 100) as usize, (6 * min as usize).div_ceil(100));
    eprintln!(
        "min {min} / max {max}: {n} samples, at most {most} tasks (bound {ceiling}), at least {fewest} healthy (bound {floor})"
    );
    assert!(n >= 10, "only {n} samples");
    assert!(
        most <= ceiling,
        "min {min} / max {max}: {most} tasks at once, above {ceiling}"
    );
    assert!(
        fewest >= floor,
        "min {min} / max {max}: only {fewest} healthy tasks, below {floor}"
    );
}

async fn instances_of(c: &Client, name: &str) -> Vec<String> {
    let arns = c
        .list_tasks()
        .cluster(CLUSTER)
        .service_name(name)
        .send()
        .await
        .unwrap()
        .task_arns
        .unwrap_or_default();
    let d = c
        .describe_tasks()
        .cluster(CLUSTER)
        .set_tasks(Some(arns))
        .send()
        .await
        .unwrap();
    d.tasks()
        .iter()
        .map(|t| t.container_instance_arn().unwrap().to_string())
        .collect()
}

async fn wait_instances(s: &Server, c: &Client, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let arns = c
            .list_container_instances()
            .cluster(CLUSTER)
            .filter("agentConnected == true")
            .send()
            .await
            .unwrap()
            .container_instance_arns
            .unwrap_or_default();
        if arns.len() == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} agents registered\n{}",
            arns.len(),
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_spreads_survives_a_lost_agent_and_rolls_within_bounds() {
    dockyard_testkit::require_root!();
    let s = server();
    let image = push_busybox(&s, "svc/app");
    let c = client(&s);
    c.create_cluster()
        .cluster_name(CLUSTER)
        .send()
        .await
        .unwrap();
    let mut agents: Vec<AgentProc> = ["a", "b", "c"]
        .iter()
        .map(|z| {
            AgentProc::instance(
                &s,
                CLUSTER,
                &format!("node-{z}"),
                &format!("us-east-1{z}"),
                2048,
                2048,
            )
        })
        .collect();
    wait_instances(&s, &c, 3).await;
    let named = c
        .list_container_instances()
        .cluster(CLUSTER)
        .filter("attribute:dockyard.node-name == node-b")
        .send()
        .await
        .unwrap();
    assert_eq!(named.container_instance_arns().len(), 1, "{named:?}");
    let v1 = register(&c, "web", &image, "1", LOOP).await;
    let v2 = register(&c, "web", &image, "2", LOOP).await;
    let v3 = register(&c, "web", &image, "3", LOOP).await;
    c.create_service()
        .cluster(CLUSTER)
        .service_name("web")
        .task_definition(&v1)
        .desired_count(6)
        .send()
        .await
        .unwrap();
    let svc = wait_service(&s, &c, "web", 60, "ran 6 tasks", |svc| {
        steady_on(svc, &v1, 6)
    })
    .await;
    let messages: Vec<&str> = svc.events().iter().filter_map(|e| e.message()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("has reached a steady state.")),
        "{messages:?}"
    );
    // Spread over the zones: two tasks on each instance.
    let mut per: std::collections::BTreeMap<String, usize> = Default::default();
    for i in instances_of(&c, "web").await {
        *per.entry(i).or_default() += 1;
    }
    assert_eq!(
        per.values().copied().collect::<Vec<_>>(),
        vec![2, 2, 2],
        "{per:?}"
    );

    // One agent dies for good: after the disconnect timeout (3 polls) and
    // the lost timeout, its tasks are replaced on the other two.
    let lost_at = Instant::now();
    agents[0].kill9();
    let svc = wait_service(&s, &c, "web", 40, "replaced the lost tasks", |svc| {
        svc.running_count() == 6
            && svc.events().iter().any(|e| {
                e.message()
                    .unwrap_or("")
                    .contains("container instance was lost")
            })
    })
    .await;
    let replaced_in = lost_at.elapsed();
    let on: std::collections::BTreeSet<String> =
        instances_of(&c, "web").await.into_iter().collect();
    assert_eq!(on.len(), 2, "{on:?}");
    let (disconnect, lost) = (3 * POLL_SECONDS, NODE_LOST_SECONDS);
    eprintln!(
        "lost agent's tasks replaced in {:.1}s (disconnect {disconnect}s + lost {lost}s); {} events",
        replaced_in.as_secs_f64(),
        svc.events().len()
    );
    // The bound: within the disconnect timeout plus a few seconds.
    let bound = Duration::from_secs(disconnect + lost + REPLACE_SLACK_SECONDS);
    assert!(
        replaced_in <= bound,
        "the lost agent's tasks were replaced in {:.1}s, above {}s (disconnect {disconnect}s + \
         lost {lost}s + {REPLACE_SLACK_SECONDS}s)\nserver log:\n{}",
        replaced_in.as_secs_f64(),
        bound.as_secs(),
        s.log()
    );

    // Rolling updates, sampled all along.
    rollout(&s, &c, "web", &v2, 50, 200).await;
    rollout(&s, &c, "web", &v3, 100, 150).await;
    let deployments = c
        .list_service_deployments()
        .cluster(CLUSTER)
        .service("web")
        .send()
        .await
        .unwrap();
    let statuses: Vec<&str> = deployments
        .service_deployments()
        .iter()
        .map(|d| d.status().unwrap().as_str())
        .collect();
    assert_eq!(statuses, vec!["SUCCESSFUL"; 3], "{statuses:?}");
    drop(agents);
}

#[tokio::test(flavor = "multi_thread")]
async fn circuit_breaker_rolls_back_daemons_follow_instances_and_ecs_deploy_deploys() {
    dockyard_testkit::require_root!();
    let s = server();
    let image = push_busybox(&s, "svc/cli");
    let c = client(&s);
    aws(&s, &["ecs", "create-cluster", "--cluster-name", CLUSTER]);
    let _a = AgentProc::instance(&s, CLUSTER, "node-a", "us-east-1a", 2048, 2048);
    let _b = AgentProc::instance(&s, CLUSTER, "node-b", "us-east-1b", 2048, 2048);
    wait_instances(&s, &c, 2).await;
    let good = register(&c, "api", &image, "1", LOOP).await;
    let bad = register(&c, "api", &image, "2", "exit 3").await;
    aws(
        &s,
        &[
            "ecs",
            "create-service",
            "--cluster",
            CLUSTER,
            "--service-name",
            "api",
            "--task-definition",
            &good,
            "--desired-count",
            "2",
            "--deployment-configuration",
            "deploymentCircuitBreaker={enable=true,rollback=true},minimumHealthyPercent=50,maximumPercent=200",
        ],
    );
    wait_service(&s, &c, "api", 60, "ran 2 tasks", |svc| {
        steady_on(svc, &good, 2)
    })
    .await;

    // A revision whose container exits at once: the breaker trips after 3
    // failed tasks and the service rolls back to the good revision.
    aws(
        &s,
        &[
            "ecs",
            "update-service",
            "--cluster",
            CLUSTER,
            "--service",
            "api",
            "--task-definition",
            &bad,
        ],
    );
    let svc = wait_service(&s, &c, "api", 90, "rolled back", |svc| {
        steady_on(svc, &good, 2)
            && svc
                .events()
                .iter()
                .any(|e| e.message().unwrap_or("").contains("deployment failed"))
    })
    .await;
    assert_eq!(svc.task_definition(), Some(good.as_str()));
    let list = aws(
        &s,
        &[
            "ecs",
            "list-service-deployments",
            "--cluster",
            CLUSTER,
            "--service",
            "api",
        ],
    );
    // One service deployment per UpdateService (and the CreateService):
    // the rollback is part of the failed one, not a deployment of its own.
    let sds = list["serviceDeployments"].as_array().unwrap();
    let statuses: Vec<&str> = sds.iter().map(|d| d["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses,
        vec!["ROLLBACK_SUCCESSFUL", "SUCCESSFUL"],
        "{list}"
    );
    let (failed_arn, good_revision) = (
        sds[0]["serviceDeploymentArn"].as_str().unwrap(),
        sds[1]["targetServiceRevisionArn"].as_str().unwrap(),
    );
    let described = aws(
        &s,
        &[
            "ecs",
            "describe-service-deployments",
            "--service-deployment-arns",
            failed_arn,
        ],
    );
    let failed = &described["serviceDeployments"][0];
    // The breaker tripped on this deployment, at its threshold: half the
    // desired count (2) clamped to at least 3.
    let breaker = &failed["deploymentCircuitBreaker"];
    assert_eq!(breaker["status"], "TRIGGERED", "{described}");
    assert_eq!(breaker["threshold"], 3, "{described}");
    assert!(
        breaker["failureCount"].as_u64().unwrap() >= 3,
        "{described}"
    );
    // Its rollback went back to the good revision and completed (the
    // service is steady on it above; the status says the rollback
    // succeeded, and it has finished).
    assert_eq!(failed["status"], "ROLLBACK_SUCCESSFUL", "{described}");
    assert_eq!(
        failed["rollback"]["serviceRevisionArn"], good_revision,
        "{described}"
    );
    assert!(
        failed["rollback"]["reason"]
            .as_str()
            .unwrap()
            .contains("circuit breaker"),
        "{described}"
    );
    assert!(failed["finishedAt"].is_number(), "{described}");
    let primary = &svc.deployments()[0];
    assert_eq!(primary.task_definition(), Some(good.as_str()));
    assert_eq!(
        primary.rollout_state().map(|r| r.as_str()),
        Some("COMPLETED")
    );
    assert_eq!(
        service(&c, "api").await.current_service_deployment(),
        Some(failed_arn)
    );

    // ecs-deploy (PyPI) deploys a new image: a new revision, rolled out.
    let home = s.data.parent().unwrap().to_path_buf();
    let creds = s.credentials();
    let mut cmd = std::process::Command::new("ecs");
    cmd.args([
        "deploy",
        CLUSTER,
        "api",
        "--image",
        "app",
        &image,
        "--timeout",
        "120",
        "--region",
        "us-east-1",
    ])
    .env("HOME", &home);
    for (k, v) in &creds {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "ecs deploy: {text}\n{}", s.log());
    let svc = service(&c, "api").await;
    assert!(svc.task_definition().unwrap().ends_with("api:3"), "{text}");
    // ecs-deploy returns once the old tasks are gone; the deployment
    // completes when the new ones have settled.
    let td3 = svc.task_definition().unwrap().to_string();
    wait_service(
        &s,
        &c,
        "api",
        30,
        "completed the ecs-deploy rollout",
        |svc| steady_on(svc, &td3, 2),
    )
    .await;

    // A DAEMON service runs on each instance and follows one that joins.
    // (ecs-deploy deregistered the revisions it replaced, so a new one.)
    let daemon_td = register(&c, "agentd", &image, "1", LOOP).await;
    aws(
        &s,
        &[
            "ecs",
            "create-service",
            "--cluster",
            CLUSTER,
            "--service-name",
            "agentd",
            "--task-definition",
            &daemon_td,
            "--scheduling-strategy",
            "DAEMON",
        ],
    );
    wait_service(&s, &c, "agentd", 60, "covered 2 instances", |svc| {
        svc.desired_count() == 2 && svc.running_count() == 2
    })
    .await;
    let _c = AgentProc::instance(&s, CLUSTER, "node-c", "us-east-1c", 2048, 2048);
    wait_service(&s, &c, "agentd", 60, "followed the new instance", |svc| {
        svc.desired_count() == 3 && svc.running_count() == 3
    })
    .await;
    let on: std::collections::BTreeSet<String> =
        instances_of(&c, "agentd").await.into_iter().collect();
    assert_eq!(on.len(), 3);
    // Bad input through the CLI: AWS's error codes.
    let (ok, out) = s.aws(
        &creds,
        &[
            "ecs",
            "create-service",
            "--cluster",
            CLUSTER,
            "--service-name",
            "x",
            "--task-definition",
            &daemon_td,
            "--desired-count",
            "1",
            "--deployment-configuration",
            "minimumHealthyPercent=150,maximumPercent=120",
        ],
    );
    assert!(!ok && out.contains("InvalidParameterException"), "{out}");
    let (ok, out) = s.aws(
        &creds,
        &[
            "ecs",
            "update-service",
            "--cluster",
            CLUSTER,
            "--service",
            "nope",
            "--desired-count",
            "1",
        ],
    );
    assert!(!ok && out.contains("ServiceNotFoundException"), "{out}");
}
