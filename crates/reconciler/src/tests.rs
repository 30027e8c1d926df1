use crate::*;

fn service(desired: u32, min: u32, max: u32) -> Service {
    Service {
        name: "web".into(),
        scheduling: Scheduling::Replica,
        desired_count: desired,
        minimum_healthy_percent: min,
        maximum_percent: max,
        circuit_breaker: CircuitBreaker::default(),
        health_check_grace_ms: 0,
        deployments: vec![Deployment::new("ecs-svc/1", "td:1", false, 0)],
        launch_failures: 0,
        launch_after_ms: 0,
        last_launch_failure_ms: 0,
        steady: false,
    }
}

fn task(n: u32, deployment: &str, phase: Phase) -> TaskView {
    TaskView {
        arn: format!("arn:aws:ecs:r:1:task/c/t{n}"),
        deployment: deployment.into(),
        instance: Some(format!("i{}", n % 3)),
        phase,
        desired_stopped: false,
        health: Health::Unknown,
        unhealthy_in: None,
        started_ms: (phase == Phase::Running).then_some(0),
        cause: StopCause::Requested,
        stopped_reason: String::new(),
        accounted: false,
    }
}

fn round(now: i64) -> Round {
    Round {
        now_ms: now,
        new_deployment_id: format!("ecs-svc/{now}"),
    }
}

fn started(plan: &Plan) -> u32 {
    plan.start.iter().map(|s| s.count).sum()
}

#[test]
fn bounds_round_as_ecs_does() {
    assert_eq!(max_tasks(3, 150), 4);
    assert_eq!(min_healthy(3, 50), 2);
    assert_eq!(min_healthy(6, 50), 3);
    assert_eq!(failure_threshold(1), 3);
    assert_eq!(failure_threshold(10), 5);
    assert_eq!(failure_threshold(1000), 200);
    assert_eq!(launch_delay_ms(1), 1000);
    assert_eq!(launch_delay_ms(3), 4000);
    assert_eq!(launch_delay_ms(40), MAX_LAUNCH_DELAY_MS);
}

#[test]
fn a_new_service_launches_its_desired_count() {
    let s = service(3, 100, 200);
    let p = reconcile(&s, &[], &[], &round(1));
    assert_eq!(started(&p), 3);
    assert_eq!(p.start[0].deployment, "ecs-svc/1");
    assert!(p.stop.is_empty());
}

#[test]
fn converged_service_completes_and_says_steady_once() {
    let s = service(2, 100, 200);
    let tasks = [
        task(1, "ecs-svc/1", Phase::Running),
        task(2, "ecs-svc/1", Phase::Running),
    ];
    // Tasks that have only just reached RUNNING do not complete the
    // deployment: a container that exits at once would escape the breaker.
    let early = reconcile(&s, &tasks, &[], &round(5));
    assert!(early.start.is_empty() && early.stop.is_empty());
    assert_eq!(early.service.deployments[0].rollout, Rollout::InProgress);
    assert_eq!(early.wake_at_ms, Some(SETTLE_MS));
    let p = reconcile(&s, &tasks, &[], &round(SETTLE_MS));
    assert!(p.start.is_empty() && p.stop.is_empty());
    assert_eq!(p.service.deployments[0].rollout, Rollout::Completed);
    assert!(
        p.events
            .iter()
            .any(|e| e.ends_with("deployment completed."))
    );
    assert!(
        p.events
            .iter()
            .any(|e| e.ends_with("has reached a steady state."))
    );
    let again = reconcile(&p.service, &tasks, &[], &round(SETTLE_MS + 1));
    assert!(again.events.is_empty(), "{:?}", again.events);
    assert!(again.is_noop(&p.service));
}

#[test]
fn a_crashed_task_is_replaced_and_named() {
    let mut s = service(2, 100, 200);
    s.deployments[0].healthy_high = 1;
    let mut dead = task(2, "ecs-svc/1", Phase::Stopped);
    dead.cause = StopCause::Failed;
    dead.started_ms = Some(0);
    dead.stopped_reason = "Essential container in task exited".into();
    let tasks = [task(1, "ecs-svc/1", Phase::Running), dead];
    let p = reconcile(&s, &tasks, &[], &round(9));
    assert_eq!(started(&p), 1);
    assert_eq!(p.account, vec!["arn:aws:ecs:r:1:task/c/t2".to_string()]);
    assert!(p.events.iter().any(|e| {
        e.contains("(task t2) stopped unexpectedly: Essential container in task exited.")
    }));
    assert_eq!(p.service.deployments[0].failed_tasks, 1);
}

#[test]
fn failures_to_start_delay_launches_until_a_task_runs() {
    let s = service(1, 100, 200);
    let mut dead = task(1, "ecs-svc/1", Phase::Stopped);
    dead.cause = StopCause::Failed;
    let p = reconcile(&s, std::slice::from_ref(&dead), &[], &round(1000));
    assert!(p.start.is_empty());
    assert_eq!(p.wake_at_ms, Some(2000));
    dead.accounted = true;
    let later = reconcile(&p.service, std::slice::from_ref(&dead), &[], &round(2000));
    assert_eq!(started(&later), 1);
    let mut run = task(2, "ecs-svc/1", Phase::Running);
    run.started_ms = Some(2500);
    let after = reconcile(&later.service, &[dead, run], &[], &round(3000));
    assert_eq!(after.service.launch_failures, 0);
}

#[test]
fn rolling_min_50_max_100_stops_before_it_starts() {
    let mut s = service(4, 50, 100);
    let tasks: Vec<TaskView> = (0..4)
        .map(|n| task(n, "ecs-svc/1", Phase::Running))
        .collect();
    deploy(&mut s, "ecs-svc/2", "td:2", false, 10);
    let p = reconcile(&s, &tasks, &[], &round(11));
    assert_eq!(p.stop.len(), 2, "down to the minimum healthy count");
    assert_eq!(started(&p), 0, "no room under the maximum until they stop");
    assert!(p.stop.iter().all(|s| s.reason.contains("ecs-svc/2")));
}

#[test]
fn rolling_min_100_max_200_starts_before_it_stops() {
    let mut s = service(4, 100, 200);
    let mut tasks: Vec<TaskView> = (0..4)
        .map(|n| task(n, "ecs-svc/1", Phase::Running))
        .collect();
    deploy(&mut s, "ecs-svc/2", "td:2", false, 10);
    let p = reconcile(&s, &tasks, &[], &round(11));
    assert!(p.stop.is_empty());
    assert_eq!(started(&p), 4);
    tasks.extend((4..8).map(|n| task(n, "ecs-svc/2", Phase::Running)));
    let p2 = reconcile(&p.service, &tasks, &[], &round(12));
    assert_eq!(p2.stop.len(), 4);
    assert!(
        p2.stop
            .iter()
            .all(|s| s.task.ends_with(&['0', '1', '2', '3'][..]))
    );
}

#[test]
fn unhealthy_new_tasks_do_not_count_as_healthy() {
    let mut s = service(2, 100, 200);
    let mut tasks: Vec<TaskView> = (0..2)
        .map(|n| task(n, "ecs-svc/1", Phase::Running))
        .collect();
    deploy(&mut s, "ecs-svc/2", "td:2", true, 10);
    tasks.extend((2..4).map(|n| task(n, "ecs-svc/2", Phase::Running)));
    let p = reconcile(&s, &tasks, &[], &round(11));
    assert!(p.stop.is_empty(), "health not yet known: {:?}", p.stop);
    for t in &mut tasks[2..] {
        t.health = Health::Healthy;
    }
    let p = reconcile(&s, &tasks, &[], &round(12));
    assert_eq!(p.stop.len(), 2);
}

#[test]
fn unhealthy_tasks_wait_out_the_grace_period() {
    let mut s = service(1, 100, 200);
    s.health_check_grace_ms = 30_000;
    let mut t = task(1, "ecs-svc/1", Phase::Running);
    t.health = Health::Unhealthy;
    t.started_ms = Some(1000);
    let p = reconcile(&s, std::slice::from_ref(&t), &[], &round(5000));
    assert!(p.stop.is_empty());
    assert_eq!(p.wake_at_ms, Some(31_000));
    let p = reconcile(&s, &[t], &[], &round(31_000));
    assert_eq!(p.stop.len(), 1);
    assert_eq!(p.stop[0].reason, UNHEALTHY_REASON);
    assert_eq!(p.service.deployments[0].failed_tasks, 1);
}

#[test]
fn circuit_breaker_rolls_back_to_the_last_completed_deployment() {
    let mut s = service(2, 100, 200);
    s.circuit_breaker = CircuitBreaker {
        enable: true,
        rollback: true,
    };
    s.deployments[0].rollout = Rollout::Completed;
    deploy(&mut s, "ecs-svc/2", "td:2", false, 10);
    let mut tasks: Vec<TaskView> = (0..2)
        .map(|n| task(n, "ecs-svc/1", Phase::Running))
        .collect();
    for n in 10..13 {
        let mut t = task(n, "ecs-svc/2", Phase::Stopped);
        t.cause = StopCause::Failed;
        t.started_ms = Some(11);
        tasks.push(t);
    }
    let p = reconcile(&s, &tasks, &[], &round(20));
    let ds = &p.service.deployments;
    assert_eq!(ds[0].id, "ecs-svc/20");
    assert_eq!(ds[0].task_definition, "td:1");
    assert_eq!(ds[0].rollback_from.as_deref(), Some("ecs-svc/2"));
    assert_eq!(ds[1].rollout, Rollout::Failed);
    assert!(
        p.events
            .iter()
            .any(|e| e.contains("deployment failed: tasks failed to start"))
    );
    assert_eq!(started(&p), 2, "the rollback launches its own tasks");
}

#[test]
fn a_failed_deployment_without_rollback_launches_nothing() {
    let mut s = service(2, 100, 200);
    s.circuit_breaker.enable = true;
    s.deployments[0].failed_tasks = 3;
    let p = reconcile(&s, &[], &[], &round(1));
    assert_eq!(p.service.deployments[0].rollout, Rollout::Failed);
    assert!(p.start.is_empty());
}

#[test]
fn a_task_becoming_healthy_resets_the_failure_count() {
    let mut s = service(3, 100, 200);
    s.deployments[0].failed_tasks = 2;
    let p = reconcile(&s, &[task(1, "ecs-svc/1", Phase::Running)], &[], &round(1));
    assert_eq!(p.service.deployments[0].failed_tasks, 0);
    assert_eq!(p.service.deployments[0].healthy_high, 1);
}

#[test]
fn scale_in_stops_pending_tasks_first() {
    let s = service(1, 100, 200);
    let tasks = [
        task(1, "ecs-svc/1", Phase::Running),
        task(2, "ecs-svc/1", Phase::Pending),
    ];
    let p = reconcile(&s, &tasks, &[], &round(1));
    assert_eq!(p.stop.len(), 1);
    assert!(p.stop[0].task.ends_with("t2"));
}

#[test]
fn daemon_covers_each_host_once_and_leaves_ineligible_ones() {
    let mut s = service(0, 0, 100);
    s.scheduling = Scheduling::Daemon;
    let hosts: Vec<DaemonHost> = ["i0", "i1", "i2"]
        .iter()
        .map(|i| DaemonHost {
            instance: i.to_string(),
        })
        .collect();
    let mut on_gone = task(7, "ecs-svc/1", Phase::Running);
    on_gone.instance = Some("i9".into());
    let tasks = [task(0, "ecs-svc/1", Phase::Running), on_gone];
    let p = reconcile(&s, &tasks, &hosts, &round(1));
    assert_eq!(p.service.desired_count, 3);
    let mut targets: Vec<_> = p.start.iter().filter_map(|s| s.instance.clone()).collect();
    targets.sort();
    assert_eq!(targets, vec!["i1".to_string(), "i2".to_string()]);
    assert_eq!(p.stop.len(), 1);
    assert_eq!(p.stop[0].reason, INELIGIBLE_REASON);
}

#[test]
fn daemon_replaces_old_tasks_host_by_host() {
    let mut s = service(0, 50, 100);
    s.scheduling = Scheduling::Daemon;
    let hosts: Vec<DaemonHost> = ["i0", "i1"]
        .iter()
        .map(|i| DaemonHost {
            instance: i.to_string(),
        })
        .collect();
    deploy(&mut s, "ecs-svc/2", "td:2", false, 5);
    let mut a = task(0, "ecs-svc/1", Phase::Running);
    a.instance = Some("i0".into());
    let mut b = task(1, "ecs-svc/1", Phase::Running);
    b.instance = Some("i1".into());
    let p = reconcile(&s, &[a, b], &hosts, &round(6));
    assert_eq!(p.stop.len(), 1, "one of two may go at 50%");
    assert!(
        p.start.is_empty(),
        "the host is still busy until the old task stops"
    );
}

#[test]
fn drained_deployments_become_inactive_and_history_is_bounded() {
    let mut s = service(1, 100, 200);
    for n in 2..20 {
        deploy(&mut s, &format!("ecs-svc/{n}"), "td:1", false, n);
    }
    let p = reconcile(
        &s,
        &[task(1, "ecs-svc/19", Phase::Running)],
        &[],
        &round(SETTLE_MS),
    );
    let inactive = p
        .service
        .deployments
        .iter()
        .filter(|d| d.status == DeploymentStatus::Inactive)
        .count();
    assert_eq!(inactive, DEPLOYMENT_HISTORY);
    assert_eq!(p.service.deployments[0].rollout, Rollout::Completed);
}

#[test]
fn tasks_that_run_for_an_instant_trip_the_breaker_instead_of_completing() {
    let mut s = service(2, 50, 200);
    s.circuit_breaker = CircuitBreaker {
        enable: true,
        rollback: true,
    };
    s.deployments[0].rollout = Rollout::Completed;
    deploy(&mut s, "ecs-svc/2", "td:2", false, 10);
    // Both new tasks are RUNNING for an instant and the old ones are gone.
    let mut tasks = vec![
        task(1, "ecs-svc/2", Phase::Running),
        task(2, "ecs-svc/2", Phase::Running),
    ];
    for t in &mut tasks {
        t.started_ms = Some(100);
    }
    let p = reconcile(&s, &tasks, &[], &round(200));
    assert_eq!(p.service.deployments[0].rollout, Rollout::InProgress);
    let mut s = p.service;
    // They exit; their replacements do too.
    let mut n = 3;
    for round_ms in [300, 400] {
        for t in &mut tasks {
            if t.phase == Phase::Running {
                t.phase = Phase::Stopped;
                t.cause = StopCause::Failed;
                t.stopped_reason = "Essential container in task exited".into();
            }
        }
        let p = reconcile(&s, &tasks, &[], &round(round_ms));
        for t in &mut tasks {
            t.accounted |= p.account.contains(&t.arn);
        }
        s = p.service;
        if s.deployments[0].task_definition == "td:1" {
            break;
        }
        for st in &p.start {
            for _ in 0..st.count {
                let mut t = task(n, &st.deployment, Phase::Running);
                t.started_ms = Some(round_ms);
                tasks.push(t);
                n += 1;
            }
        }
    }
    assert_eq!(s.deployments[0].task_definition, "td:1", "{s:#?}");
    assert!(
        s.deployments
            .iter()
            .any(|d| d.task_definition == "td:2" && d.rollout == Rollout::Failed),
        "{s:#?}"
    );
}
