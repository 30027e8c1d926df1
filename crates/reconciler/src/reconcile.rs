//! One round of the service scheduler.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{
    DaemonHost, Deployment, DeploymentStatus, Phase, Plan, Rollout, Round, Scheduling, Service,
    Start, StopCause, TaskView,
};

/// The longest a launch is held back after tasks failed to start.
pub const MAX_LAUNCH_DELAY_MS: i64 = 15 * 60 * 1000;

/// How long a deployment's tasks must have been RUNNING (and healthy)
/// before the deployment counts as COMPLETED. A container that starts and
/// exits at once is RUNNING for an instant; without the window a
/// deployment of such tasks could complete between their start and their
/// exit and escape the circuit breaker. ECS does not document its own
/// window; it marks deployments complete well after tasks start.
pub const SETTLE_MS: i64 = 3000;

/// How many drained deployments a service remembers.
pub const DEPLOYMENT_HISTORY: usize = 10;

/// The delay before the next launch after `failures` tasks in a row
/// stopped before reaching RUNNING: one second, doubling, at most 15
/// minutes. ECS documents the growth and the cap, not the steps.
pub fn launch_delay_ms(failures: u32) -> i64 {
    if failures == 0 {
        return 0;
    }
    let shift = (failures - 1).min(20);
    (1000i64 << shift).min(MAX_LAUNCH_DELAY_MS)
}

/// The circuit breaker's threshold: half the desired count, at least 3
/// and at most 200.
pub fn failure_threshold(desired: u32) -> u32 {
    desired.div_ceil(2).clamp(3, 200)
}

/// `maximumPercent` of `desired`, rounded down: the most tasks the
/// service may have at once during a deployment.
pub fn max_tasks(desired: u32, maximum_percent: u32) -> u32 {
    (u64::from(desired) * u64::from(maximum_percent) / 100) as u32
}

/// `minimumHealthyPercent` of `desired`, rounded up: the fewest healthy
/// tasks a deployment may leave.
pub fn min_healthy(desired: u32, minimum_healthy_percent: u32) -> u32 {
    (u64::from(desired) * u64::from(minimum_healthy_percent)).div_ceil(100) as u32
}

/// `stoppedReason` of tasks the scheduler stops to scale or to replace.
pub fn scaling_reason(deployment: &str) -> String {
    format!("Scaling activity initiated by (deployment {deployment})")
}

pub const UNHEALTHY_REASON: &str = "Task failed container health checks";
pub const INELIGIBLE_REASON: &str =
    "Task stopped because its container instance is draining or no longer registered";

/// Decides one round for `service` from its tasks (every task of the
/// service the caller still knows, stopped ones included). `hosts` are
/// the instances a DAEMON service should run on (ignored for REPLICA).
/// Pure: the same arguments always give the same plan.
pub fn reconcile(
    service: &Service,
    tasks: &[TaskView],
    hosts: &[DaemonHost],
    round: &Round,
) -> Plan {
    let mut r = Run {
        s: service.clone(),
        tasks,
        now: round.now_ms,
        stopping: BTreeSet::new(),
        plan_start: Vec::new(),
        plan_stop: Vec::new(),
        account: Vec::new(),
        events: Vec::new(),
        wake_at: None,
    };
    if r.s.deployments.is_empty() {
        return r.finish(false);
    }
    r.account_stopped();
    r.note_progress();
    r.circuit_breaker(&round.new_deployment_id);
    r.replace_unhealthy();
    match r.s.scheduling {
        Scheduling::Replica => r.replica(),
        Scheduling::Daemon => r.daemon(hosts),
    }
    r.tidy();
    let acted = !r.plan_start.is_empty() || !r.plan_stop.is_empty();
    r.finish(acted)
}

struct Run<'a> {
    s: Service,
    tasks: &'a [TaskView],
    now: i64,
    /// Tasks this round decided to stop.
    stopping: BTreeSet<&'a str>,
    plan_start: Vec<Start>,
    plan_stop: Vec<crate::model::Stop>,
    account: Vec<String>,
    events: Vec<String>,
    wake_at: Option<i64>,
}

impl<'a> Run<'a> {
    fn name(&self) -> &str {
        &self.s.name
    }

    fn primary(&self) -> &Deployment {
        &self.s.deployments[0]
    }

    fn primary_mut(&mut self) -> &mut Deployment {
        &mut self.s.deployments[0]
    }

    fn health_checked(&self, deployment: &str) -> bool {
        self.s
            .deployments
            .iter()
            .find(|d| d.id == deployment)
            .is_some_and(|d| d.health_checked)
    }

    /// Live and not being stopped by this round.
    fn live(&self, t: &TaskView) -> bool {
        t.live() && !self.stopping.contains(t.arn.as_str())
    }

    fn healthy(&self, t: &TaskView) -> bool {
        self.live(t) && t.healthy(self.health_checked(&t.deployment))
    }

    fn wake(&mut self, at: i64) {
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }

    fn stop(&mut self, t: &'a TaskView, reason: String) {
        if self.stopping.insert(t.arn.as_str()) {
            self.plan_stop.push(crate::model::Stop {
                task: t.arn.clone(),
                reason,
            });
        }
    }

    /// Counts tasks that stopped since the last round: failures toward the
    /// circuit breaker, and failures to start toward the launch delay.
    fn account_stopped(&mut self) {
        let now = self.now;
        for t in self.tasks {
            if t.phase != Phase::Stopped || t.accounted {
                continue;
            }
            self.account.push(t.arn.clone());
            if t.cause != StopCause::Failed {
                continue;
            }
            if let Some(d) = self.s.deployments.iter_mut().find(|d| d.id == t.deployment) {
                d.failed_tasks += 1;
                d.updated_ms = now;
            }
            if t.started_ms.is_none() {
                self.s.launch_failures += 1;
                self.s.last_launch_failure_ms = now;
                self.s.launch_after_ms = now + launch_delay_ms(self.s.launch_failures);
            }
            let reason = t.stopped_reason.trim_end_matches('.');
            let reason = if reason.is_empty() {
                "no reason given"
            } else {
                reason
            };
            self.events.push(format!(
                "(service {}) (task {}) stopped unexpectedly: {reason}.",
                self.s.name,
                t.short_id()
            ));
        }
    }

    /// A task that reached RUNNING after the last failure to start ends
    /// the launch delay; a task of a deployment becoming healthy resets
    /// that deployment's failure count.
    fn note_progress(&mut self) {
        if self.s.launch_failures > 0
            && self.tasks.iter().any(|t| {
                t.live()
                    && t.started_ms
                        .is_some_and(|at| at >= self.s.last_launch_failure_ms)
            })
        {
            self.s.launch_failures = 0;
            self.s.launch_after_ms = 0;
        }
        let mut healthy: BTreeMap<&str, u32> = BTreeMap::new();
        for t in self.tasks {
            if t.healthy(self.health_checked(&t.deployment)) {
                *healthy.entry(t.deployment.as_str()).or_default() += 1;
            }
        }
        for d in &mut self.s.deployments {
            let h = healthy.get(d.id.as_str()).copied().unwrap_or(0);
            if h > d.healthy_high {
                d.healthy_high = h;
                // A failed deployment keeps the count it failed with (its
                // service deployment reports it): a task of it caught
                // RUNNING on its way out does not make it less failed.
                if d.rollout != Rollout::Failed {
                    d.failed_tasks = 0;
                }
            }
        }
    }

    fn circuit_breaker(&mut self, new_id: &str) {
        let cb = self.s.circuit_breaker;
        let threshold = failure_threshold(self.s.desired_count);
        let now = self.now;
        let p = self.primary();
        if !cb.enable || p.rollout != Rollout::InProgress || p.failed_tasks < threshold {
            return;
        }
        let failed_id = p.id.clone();
        let name = self.s.name.clone();
        {
            let p = self.primary_mut();
            p.rollout = Rollout::Failed;
            p.rollout_reason = "ECS deployment circuit breaker: tasks failed to start.".into();
            p.updated_ms = now;
        }
        self.events.push(format!(
            "(service {name}) (deployment {failed_id}) deployment failed: tasks failed to start."
        ));
        self.s.steady = false;
        if !cb.rollback {
            return;
        }
        match crate::roll_back(
            &mut self.s,
            new_id,
            crate::CIRCUIT_BREAKER_ROLLBACK_REASON,
            now,
        ) {
            Some(good) => self.events.push(format!(
                "(service {name}) (deployment {new_id}) rolling back to deployment {good} after deployment {failed_id} failed."
            )),
            None => self.events.push(format!(
                "(service {name}) (deployment {failed_id}) cannot roll back: no deployment of this service ever completed."
            )),
        }
    }

    /// Stops RUNNING tasks whose health checks failed, once their grace
    /// period is over.
    fn replace_unhealthy(&mut self) {
        let grace = self.s.health_check_grace_ms;
        for t in self.tasks {
            if !self.live(t)
                || t.phase != Phase::Running
                || t.health != crate::model::Health::Unhealthy
            {
                continue;
            }
            let until = t.started_ms.unwrap_or(self.now) + grace;
            if until > self.now {
                self.wake(until);
                continue;
            }
            if let Some(d) = self.s.deployments.iter_mut().find(|d| d.id == t.deployment) {
                d.failed_tasks += 1;
                d.updated_ms = self.now;
            }
            match &t.unhealthy_in {
                Some(tg) => {
                    self.events.push(format!(
                        "(service {}) (task {}) failed ELB health checks in (target-group {tg}).",
                        self.s.name,
                        t.short_id()
                    ));
                    self.stop(
                        t,
                        format!("Task failed ELB health checks in (target-group {tg})"),
                    );
                }
                None => {
                    self.events.push(format!(
                        "(service {}) (task {}) failed container health checks.",
                        self.s.name,
                        t.short_id()
                    ));
                    self.stop(t, UNHEALTHY_REASON.into());
                }
            }
        }
    }

    fn replica(&mut self) {
        let d = self.s.desired_count;
        let p_id = self.primary().id.clone();
        let reason = scaling_reason(&p_id);
        // Too many of the primary (a scale-in): stop the least useful.
        let mut mine: Vec<&TaskView> = self
            .tasks
            .iter()
            .filter(|t| t.deployment == p_id && self.live(t))
            .collect();
        if mine.len() as u32 > d {
            let mut per_instance: BTreeMap<Option<&str>, usize> = BTreeMap::new();
            for t in &mine {
                *per_instance.entry(t.instance.as_deref()).or_default() += 1;
            }
            let checked = self.primary().health_checked;
            mine.sort_by_key(|t| {
                (
                    t.phase == Phase::Running,
                    t.healthy(checked),
                    std::cmp::Reverse(per_instance[&t.instance.as_deref()]),
                    std::cmp::Reverse(t.arn.clone()),
                )
            });
            let extra = mine.len() - d as usize;
            for t in mine.into_iter().take(extra) {
                self.stop(t, reason.clone());
            }
        }
        self.drain_old(
            min_healthy(d, self.s.minimum_healthy_percent),
            &reason,
            None,
        );
        // Launch what the primary lacks, within maximumPercent.
        if self.primary().rollout == Rollout::Failed {
            return;
        }
        let live = self
            .tasks
            .iter()
            .filter(|t| t.deployment == p_id && self.live(t))
            .count() as u32;
        let present = self.tasks.iter().filter(|t| t.present()).count() as u32;
        let room = max_tasks(d, self.s.maximum_percent).saturating_sub(present);
        let want = d.saturating_sub(live).min(room);
        if want == 0 {
            return;
        }
        if self.now < self.s.launch_after_ms {
            self.wake(self.s.launch_after_ms);
            return;
        }
        self.plan_start.push(Start {
            deployment: p_id,
            count: want,
            instance: None,
        });
    }

    /// Stops tasks of older deployments: those not healthy at once, healthy
    /// ones only while the healthy count stays above `floor`. With `only`,
    /// just the tasks on those instances (a daemon's).
    fn drain_old(&mut self, floor: u32, reason: &str, only: Option<&BTreeSet<&str>>) {
        if self.primary().rollout == Rollout::Failed {
            // A failed deployment without a rollback launches nothing, so
            // the old tasks are all the service has.
            return;
        }
        let p_id = self.primary().id.clone();
        let mut healthy = self.tasks.iter().filter(|t| self.healthy(t)).count() as u32;
        let mut old: Vec<&'a TaskView> = self
            .tasks
            .iter()
            .filter(|t| t.deployment != p_id && self.live(t))
            .filter(|t| {
                only.is_none_or(|set| t.instance.as_deref().is_some_and(|i| set.contains(i)))
            })
            .collect();
        old.sort_by_key(|t| (self.healthy(t), t.arn.clone()));
        for t in old {
            if !self.healthy(t) {
                self.stop(t, reason.to_string());
            } else if healthy > floor {
                healthy -= 1;
                self.stop(t, reason.to_string());
            } else {
                break;
            }
        }
    }

    fn daemon(&mut self, hosts: &[DaemonHost]) {
        let d = hosts.len() as u32;
        self.s.desired_count = d;
        let p_id = self.primary().id.clone();
        let reason = scaling_reason(&p_id);
        let eligible: BTreeSet<&str> = hosts.iter().map(|h| h.instance.as_str()).collect();
        for t in self.tasks {
            if self.live(t) && !t.instance.as_deref().is_some_and(|i| eligible.contains(i)) {
                self.stop(t, INELIGIBLE_REASON.into());
            }
        }
        // One primary task per instance.
        let mut seen = BTreeSet::new();
        let mut mine: Vec<&'a TaskView> = self
            .tasks
            .iter()
            .filter(|t| t.deployment == p_id && self.live(t))
            .collect();
        mine.sort_by_key(|t| (t.phase != Phase::Running, t.arn.clone()));
        for t in mine {
            if !seen.insert(t.instance.clone()) {
                self.stop(t, reason.clone());
            }
        }
        self.drain_old(
            min_healthy(d, self.s.minimum_healthy_percent),
            &reason,
            Some(&eligible),
        );
        if self.primary().rollout == Rollout::Failed {
            return;
        }
        // A host gets its task once nothing else of the service is left
        // there: a daemon never runs two tasks on one instance.
        let busy: BTreeSet<&str> = self
            .tasks
            .iter()
            .filter(|t| t.present())
            .filter_map(|t| t.instance.as_deref())
            .collect();
        let free: Vec<String> = hosts
            .iter()
            .filter(|h| !busy.contains(h.instance.as_str()))
            .map(|h| h.instance.clone())
            .collect();
        if free.is_empty() {
            return;
        }
        if self.now < self.s.launch_after_ms {
            self.wake(self.s.launch_after_ms);
            return;
        }
        for instance in free {
            self.plan_start.push(Start {
                deployment: p_id.clone(),
                count: 1,
                instance: Some(instance),
            });
        }
    }

    /// Completes the primary once it alone runs the desired healthy tasks,
    /// and retires drained older deployments.
    fn tidy(&mut self) {
        let now = self.now;
        let p_id = self.primary().id.clone();
        let present = |id: &str| {
            self.tasks
                .iter()
                .filter(|t| t.present() && t.deployment == id)
                .count()
        };
        let drained: Vec<String> = self
            .s
            .deployments
            .iter()
            .skip(1)
            .filter(|d| d.status == DeploymentStatus::Active && present(&d.id) == 0)
            .map(|d| d.id.clone())
            .collect();
        for d in &mut self.s.deployments {
            if drained.contains(&d.id) {
                d.status = DeploymentStatus::Inactive;
                d.finished_ms.get_or_insert(now);
                d.updated_ms = now;
            }
        }
        let old_present = self
            .s
            .deployments
            .iter()
            .skip(1)
            .filter(|d| d.status == DeploymentStatus::Active)
            .count();
        let live = self
            .tasks
            .iter()
            .filter(|t| t.deployment == p_id && self.live(t))
            .count() as u32;
        let healthy = self
            .tasks
            .iter()
            .filter(|t| t.deployment == p_id && self.healthy(t))
            .count() as u32;
        // The latest time a counted task reached RUNNING: until it has
        // settled, the deployment is not complete.
        let settles_at = self
            .tasks
            .iter()
            .filter(|t| t.deployment == p_id && self.healthy(t))
            .filter_map(|t| t.started_ms)
            .max()
            .map_or(now, |at| at + SETTLE_MS);
        let d = self.s.desired_count;
        let converged = old_present == 0
            && live == d
            && healthy == d
            && self.plan_start.is_empty()
            && self.plan_stop.is_empty();
        let name = self.s.name.clone();
        if converged && self.primary().rollout == Rollout::InProgress && settles_at > now {
            self.wake(settles_at);
        } else if converged && self.primary().rollout == Rollout::InProgress {
            let p = self.primary_mut();
            p.rollout = Rollout::Completed;
            p.rollout_reason = format!("ECS deployment {p_id} completed.");
            p.finished_ms = Some(now);
            p.updated_ms = now;
            self.events.push(format!(
                "(service {name}) (deployment {p_id}) deployment completed."
            ));
        }
        let steady = converged && self.primary().rollout == Rollout::Completed;
        if steady && !self.s.steady {
            self.events
                .push(format!("(service {name}) has reached a steady state."));
        }
        self.s.steady = steady;
        // Forget the oldest drained deployments, but never the last one
        // that completed (a rollback's target).
        let inactive: Vec<usize> = (1..self.s.deployments.len())
            .filter(|i| self.s.deployments[*i].status == DeploymentStatus::Inactive)
            .collect();
        if inactive.len() > DEPLOYMENT_HISTORY {
            let keep_good = self
                .s
                .deployments
                .iter()
                .skip(1)
                .filter(|d| d.rollout == Rollout::Completed)
                .max_by_key(|d| d.created_ms)
                .map(|d| d.id.clone());
            let mut excess = inactive.len() - DEPLOYMENT_HISTORY;
            let mut i = self.s.deployments.len();
            while excess > 0 && i > 1 {
                i -= 1;
                let dep = &self.s.deployments[i];
                if dep.status == DeploymentStatus::Inactive && Some(&dep.id) != keep_good.as_ref() {
                    self.s.deployments.remove(i);
                    excess -= 1;
                }
            }
        }
    }

    fn finish(mut self, acted: bool) -> Plan {
        if acted {
            self.s.steady = false;
        }
        if !self.plan_stop.is_empty() {
            let ids: Vec<String> = self
                .plan_stop
                .iter()
                .map(|s| format!("(task {})", s.task.rsplit('/').next().unwrap_or(&s.task)))
                .collect();
            self.events.push(format!(
                "(service {}) has stopped {} running tasks: {}.",
                self.name(),
                ids.len(),
                ids.join(" ")
            ));
        }
        Plan {
            service: self.s,
            start: self.plan_start,
            stop: self.plan_stop,
            account: self.account,
            events: self.events,
            wake_at_ms: self.wake_at,
        }
    }
}
