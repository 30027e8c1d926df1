//! The service scheduler's rounds: read each service and its tasks, ask
//! the reconciler (pure) what to do, and do it (record, stops, launches
//! through placement). Also what happens to tasks when their node is lost.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

use dockyard_aws::{ApiError, CallContext, Principal};
use dockyard_reconciler::{
    DaemonHost, Health, Phase, Round, Scheduling, StopCause, TaskView, reconcile,
};
use dockyard_store::{Compare, Op, Txn};

use super::{new_deployment_id, push_events};
use crate::EcsService;
use crate::db;
use crate::error::store as store_err;
use crate::model::{
    NodeTask, SERVICES, ServiceRecord, Task, node_tasks_prefix, service_key, task_key,
};

/// `stoppedReason` of tasks whose node was lost.
pub const LOST_REASON: &str = "Task stopped because its container instance was lost (agent disconnected or instance deregistered)";

/// A placement failure is said again only after this long.
const REPEAT_EVENT_MS: i64 = 5 * 60 * 1000;

fn view(t: &Task, accounted: &BTreeSet<&str>) -> TaskView {
    let phase = match t.last_status.as_str() {
        "STOPPED" => Phase::Stopped,
        // Leaving its load balancers: on its way out.
        "RUNNING" if t.deactivating.is_some() => Phase::Stopping,
        "RUNNING" => Phase::Running,
        "DEACTIVATING" | "STOPPING" | "DEPROVISIONING" => Phase::Stopping,
        _ => Phase::Pending,
    };
    TaskView {
        arn: t.arn.clone(),
        deployment: t.started_by.clone().unwrap_or_default(),
        instance: t.container_instance_arn.clone(),
        phase,
        desired_stopped: t.desired_status == "STOPPED" || t.deactivating.is_some(),
        health: match t.health_status.as_deref() {
            Some("HEALTHY") => Health::Healthy,
            Some("UNHEALTHY") => Health::Unhealthy,
            _ => Health::Unknown,
        },
        unhealthy_in: None,
        started_ms: t.times.started,
        cause: match t.stop_code.as_deref() {
            Some("UserInitiated" | "ServiceSchedulerInitiated") => StopCause::Requested,
            _ => StopCause::Failed,
        },
        stopped_reason: t.stopped_reason.clone().unwrap_or_default(),
        accounted: accounted.contains(t.arn.as_str()),
    }
}

/// The wording of a placement failure in a service event.
pub(crate) fn unplaced_event(service: &str, failures: &[Value]) -> String {
    let reason = failures
        .first()
        .and_then(|f| f["reason"].as_str())
        .unwrap_or("");
    let arn = failures
        .first()
        .and_then(|f| f["arn"].as_str())
        .unwrap_or("");
    let id = arn.rsplit('/').next().unwrap_or(arn);
    if id.is_empty() && !reason.is_empty() {
        // Refused before any instance was looked at (no instances in the
        // cluster, a bad request): ECS gives the reason alone.
        let reason = reason.trim_end_matches('.');
        return format!(
            "service {service} was unable to place a task because no container instance met all of its requirements. Reason: {reason}."
        );
    }
    let why = match reason {
        "RESOURCE:CPU" => format!(
            "The closest matching (container-instance {id}) has insufficient CPU units available."
        ),
        "RESOURCE:MEMORY" => format!(
            "The closest matching (container-instance {id}) has insufficient memory available."
        ),
        "RESOURCE:PORTS" | "RESOURCE:PORTS_TCP" | "RESOURCE:PORTS_UDP" => format!(
            "The closest matching (container-instance {id}) is already using a port required by your task."
        ),
        "AGENT" => {
            format!("The closest matching (container-instance {id}) has its agent disconnected.")
        }
        "ATTRIBUTE" => format!(
            "The closest matching (container-instance {id}) is missing an attribute required by your task."
        ),
        "" => "Reason: no capacity.".into(),
        r if r.starts_with("Capacity is unavailable") => {
            return format!("(service {service}) was unable to place a task. Reason: {r}.");
        }
        r => format!("The closest matching (container-instance {id}) was refused: {r}"),
    };
    format!(
        "(service {service}) was unable to place a task because no container instance met all of its requirements. {why} For more information, see the Troubleshooting section."
    )
}

impl EcsService {
    /// One round for every service; returns the earliest time a service
    /// asked to be looked at again (launch delays, grace periods).
    pub fn run_services(&self, now: DateTime<Utc>) -> Result<Option<i64>, ApiError> {
        let all = db::list::<ServiceRecord>(self.store.as_ref(), SERVICES)?;
        let mut wake: Option<i64> = None;
        for v in all {
            if v.value.status == "INACTIVE" {
                continue;
            }
            let name = format!("{}/{}", v.value.cluster, v.value.name);
            match self.run_service(v, now) {
                Ok(Some(w)) => wake = Some(wake.map_or(w, |x| x.min(w))),
                Ok(None) => {}
                Err(e) => tracing::warn!("service {name}: {}", e.message),
            }
        }
        Ok(wake)
    }

    fn service_ctx(rec: &ServiceRecord, now: DateTime<Utc>) -> CallContext {
        CallContext {
            principal: Principal::root(&rec.account),
            access_key_id: String::new(),
            account: rec.account.clone(),
            region: rec.region.clone(),
            request_id: crate::ids::new_uuid(),
            now,
        }
    }

    /// The instances a DAEMON service covers: ACTIVE, agent connected, and
    /// selected by its `memberOf` constraints.
    fn daemon_hosts(&self, rec: &ServiceRecord) -> Result<Vec<DaemonHost>, ApiError> {
        if rec.status != "ACTIVE" {
            return Ok(vec![]);
        }
        let instances = self.cluster_instances(&rec.cluster)?;
        let states = self.placement_states(&instances)?;
        let constraints = dockyard_scheduler::parse_constraints(&rec.placement_constraints)
            .map_err(|e| crate::error::invalid(e.0))?;
        Ok(states
            .iter()
            .filter(|s| s.status == dockyard_scheduler::InstanceStatus::Active && s.agent_connected)
            .filter(|s| {
                constraints.iter().all(|c| match c {
                    dockyard_scheduler::Constraint::MemberOf(e) => e.matches(s),
                    dockyard_scheduler::Constraint::DistinctInstance => true,
                })
            })
            .map(|s| DaemonHost {
                instance: s.arn.clone(),
            })
            .collect())
    }

    fn run_service(
        &self,
        v: db::Versioned<ServiceRecord>,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, ApiError> {
        let rec = v.value;
        let now_ms = now.timestamp_millis();
        let group = format!("service:{}", rec.name);
        let entries: Vec<_> = self
            .index
            .cluster(&rec.cluster)
            .into_iter()
            .filter(|t| t.group.as_deref() == Some(group.as_str()))
            .collect();
        let accounted: BTreeSet<&str> = rec.accounted.iter().map(String::as_str).collect();
        let mut views: Vec<TaskView> = entries.iter().map(|t| view(&t.task, &accounted)).collect();
        // Behind load balancers: targets follow the tasks, health comes
        // from the targets, and tasks that finished draining stop.
        let groups = if rec.load_balancers.is_empty() {
            // Load balancers taken off the service: nothing to wait for.
            for t in entries.iter().filter(|t| t.task.activating) {
                self.activated(&t.task)?;
            }
            None
        } else {
            Some(self.target_groups_now()?)
        };
        let mut drain_wake: Option<i64> = None;
        if let Some(groups) = &groups {
            let tasks: Vec<&Task> = entries.iter().map(|e| &e.task).collect();
            let verdicts = self.balance(&rec, &tasks, groups, now)?;
            for v in &mut views {
                if let Some(verdict) = verdicts.get(&v.arn) {
                    v.health = verdict.health;
                    v.unhealthy_in = verdict.unhealthy_in.clone();
                }
            }
            for t in &tasks {
                let Some(d) = &t.deactivating else { continue };
                if t.desired_status != "RUNNING" {
                    continue;
                }
                if d.until_ms <= now_ms {
                    self.request_stop(
                        &rec.cluster,
                        &t.id,
                        &d.reason,
                        "ServiceSchedulerInitiated",
                        now_ms,
                    )?;
                } else {
                    drain_wake = Some(drain_wake.map_or(d.until_ms, |w| w.min(d.until_ms)));
                }
            }
        }
        let hosts = if rec.sched.scheduling == Scheduling::Daemon {
            self.daemon_hosts(&rec)?
        } else {
            vec![]
        };
        let round = Round {
            now_ms,
            new_deployment_id: new_deployment_id(),
        };
        let mut plan = reconcile(&rec.sched, &views, &hosts, &round);
        if let Some(w) = drain_wake {
            plan.wake_at_ms = Some(plan.wake_at_ms.map_or(w, |x| x.min(w)));
        }
        let drained = rec.status == "DRAINING" && views.iter().all(|t| !t.present());
        // Forget accounted tasks that are gone from the state.
        let known: BTreeSet<&str> = views.iter().map(|t| t.arn.as_str()).collect();
        let mut still: Vec<String> = rec
            .accounted
            .iter()
            .filter(|a| known.contains(a.as_str()))
            .cloned()
            .collect();
        still.extend(plan.account.iter().cloned());
        if plan.is_noop(&rec.sched) && !drained && still.len() == rec.accounted.len() {
            return Ok(plan.wake_at_ms);
        }
        // The record first: if another writer got there (UpdateService),
        // this round's decisions are stale and the next round decides anew.
        let mut next = rec.clone();
        next.sched = plan.service.clone();
        // A rollback changes what the service runs.
        if let Some(p) = next.sched.deployments.first() {
            next.task_definition = p.task_definition.clone();
        }
        next.accounted = still;
        push_events(&mut next, &plan.events, now_ms);
        if drained {
            next.status = "INACTIVE".into();
            next.inactive_ms = Some(now_ms);
        }
        // An unchanged record is not rewritten: the write would wake the
        // scheduler's own watch, and a launch that keeps failing to place
        // would spin.
        if next != rec {
            let key = service_key(&rec.cluster, &rec.name);
            let r = self
                .store
                .txn(Txn {
                    compares: vec![Compare::ModRevision(key.clone(), v.mod_revision)],
                    success: vec![db::put(&key, &next)],
                    failure: vec![],
                })
                .map_err(store_err)?;
            if !r.succeeded {
                return Ok(Some(now_ms));
            }
        }
        for stop in &plan.stop {
            let id = stop.task.rsplit('/').next().unwrap_or(&stop.task);
            if let Some(groups) = &groups
                && let Some(t) = entries.iter().find(|e| e.task.arn == stop.task)
                && self.deactivate(&rec, &t.task, groups, &stop.reason, now)?
            {
                continue;
            }
            self.request_stop(
                &rec.cluster,
                id,
                &stop.reason,
                "ServiceSchedulerInitiated",
                now_ms,
            )?;
        }
        let ctx = Self::service_ctx(&next, now);
        let mut events = Vec::new();
        for start in &plan.start {
            let mut started = Vec::new();
            let mut failures = Vec::new();
            let mut input =
                Self::service_launch_input(&next, &start_task_definition(&next, &start.deployment));
            input["startedBy"] = Value::String(start.deployment.clone());
            let daemon = start.instance.is_some();
            if let Some(i) = &start.instance {
                input["containerInstances"] = serde_json::json!([i]);
                if let Some(o) = input.as_object_mut() {
                    o.remove("count");
                    o.remove("launchType");
                    o.remove("capacityProviderStrategy");
                    o.remove("placementStrategy");
                }
            }
            let mut left = start.count;
            while left > 0 {
                let n = left.min(10);
                if !daemon {
                    input["count"] = serde_json::json!(n);
                }
                let mut l = match self.launch_from(&ctx, input.clone(), daemon) {
                    Ok(l) => l,
                    Err(e) => {
                        failures.push(serde_json::json!({"arn": "", "reason": e.message}));
                        break;
                    }
                };
                let td_tags = self.taskdef_tags(&l.definition)?;
                l.tags = super::task_tags(&next, td_tags);
                l.activating = !next.load_balancers.is_empty();
                if l.strategies.is_empty() && l.launch_type == "EC2" && !daemon {
                    // ECS's default for services: balanced across zones,
                    // then across the instances of each zone.
                    l.strategies = dockyard_scheduler::Strategy::service_default()
                        .iter()
                        .map(|s| s.to_json())
                        .chain([serde_json::json!({"type": "spread", "field": "instanceId"})])
                        .collect();
                }
                match self.create_tasks(&ctx, &l) {
                    Ok((tasks, f)) => {
                        let placed = tasks.len();
                        started.extend(tasks.into_iter().map(|t| t.id));
                        if placed < n as usize {
                            failures.extend(f);
                            break;
                        }
                    }
                    Err(e) => {
                        failures.push(serde_json::json!({"arn": "", "reason": e.message}));
                        break;
                    }
                }
                left -= n;
            }
            if !started.is_empty() {
                let ids: Vec<String> = started.iter().map(|id| format!("(task {id})")).collect();
                events.push(format!(
                    "(service {}) has started {} tasks: {}.",
                    next.name,
                    started.len(),
                    ids.join(" ")
                ));
            }
            if !failures.is_empty() {
                let msg = unplaced_event(&next.name, &failures);
                let recent = next
                    .events
                    .iter()
                    .any(|e| e.message == msg && now_ms - e.created_ms < REPEAT_EVENT_MS);
                if !recent && !events.contains(&msg) {
                    events.push(msg);
                }
            }
        }
        self.add_events(&rec.cluster, &rec.name, &events, now_ms)?;
        Ok(plan.wake_at_ms)
    }

    /// Marks every task on `node` STOPPED (its containers, if they still
    /// run, are stopped by the agent should it come back) and frees what
    /// they held: the node is lost. Returns how many tasks.
    pub fn lose_node_tasks(
        &self,
        node: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<usize, ApiError> {
        let entries = db::list::<NodeTask>(self.store.as_ref(), &node_tasks_prefix(node))?;
        let mut n = 0;
        for e in entries {
            let id = e
                .value
                .task_arn
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            let key = task_key(&e.value.cluster, &id);
            let node_key = crate::model::node_task_key(node, &id);
            let Some(cur) = db::get::<Task>(self.store.as_ref(), &key)? else {
                self.store
                    .txn(Txn {
                        compares: vec![],
                        success: vec![Op::Delete { key: node_key }],
                        failure: vec![],
                    })
                    .map_err(store_err)?;
                continue;
            };
            let mut t = cur.value;
            if t.last_status == "STOPPED" {
                continue;
            }
            t.last_status = "STOPPED".into();
            t.desired_status = "STOPPED".into();
            t.stop_code = Some("TerminationNotice".into());
            t.stopped_reason = Some(reason.to_string());
            t.times.stopping.get_or_insert(now_ms);
            t.times.execution_stopped.get_or_insert(now_ms);
            t.times.stopped = Some(now_ms);
            for c in &mut t.containers {
                if c.last_status != "STOPPED" {
                    c.last_status = "STOPPED".into();
                    c.reason.get_or_insert_with(|| reason.to_string());
                }
            }
            t.version += 1;
            let r = self
                .store
                .txn(Txn {
                    compares: vec![Compare::ModRevision(key.clone(), cur.mod_revision)],
                    success: vec![db::put(&key, &t), Op::Delete { key: node_key }],
                    failure: vec![],
                })
                .map_err(store_err)?;
            if r.succeeded {
                self.index.wrote(r.revision);
                n += 1;
            }
        }
        Ok(n)
    }
}

/// The task definition a deployment of `rec` runs.
fn start_task_definition(rec: &ServiceRecord, deployment: &str) -> String {
    rec.sched
        .deployments
        .iter()
        .find(|d| d.id == deployment)
        .map(|d| d.task_definition.clone())
        .unwrap_or_else(|| rec.task_definition.clone())
}
