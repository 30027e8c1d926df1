//! The server's half of the agent protocol (`dockyard_agentproto`):
//! registering nodes, applying the state changes agents report, and the
//! desired state of a node's tasks. Synchronous like every operation
//! here; the waiting half of the long poll lives in the control plane,
//! which watches [`node_watch_prefix`] between snapshots.

use dockyard_agentproto::{
    DesiredTask, NodeKind, PollRequest, PollResponse, RegisterRequest, RegisterResponse,
    TaskChange, TaskNetwork,
};
use dockyard_aws::{ApiError, CallContext};
use dockyard_store::{Compare, Op, Revision, Txn};
use dockyard_taskdef::TaskDefinition;

use crate::EcsService;
use crate::db;
use crate::error::{invalid, store as store_err};
use crate::ids::new_id;
use crate::instances::{RESERVED_PORTS, Registration};
use crate::model::{
    Attribute, FargateNode, Instance, NodeTask, Session, Task, fargate_key, instance_key,
    lifecycle_rank, node_task_key, node_tasks_prefix, session_key, task_key, task_spec_key,
};

/// What a poll's snapshot found.
pub struct Snapshot {
    pub response: PollResponse,
    /// The store revision the snapshot was read at: watch after it.
    pub revision: Revision,
    /// Whether the agent should hear back at once.
    pub news: bool,
}

/// The prefix whose changes are news for a node's poll.
pub fn node_watch_prefix(node: &str) -> String {
    node_tasks_prefix(node)
}

fn node_gone(node: &str) -> ApiError {
    ApiError::client(
        "ClientException",
        format!("node {node} is not registered (or was deregistered); register again"),
    )
}

/// Where a node's record lives: instances are found through their
/// session record, which names the cluster.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct NodeHome {
    kind: NodeKind,
    #[serde(default)]
    cluster: Option<String>,
}

fn home_key(node: &str) -> String {
    format!("ecs/nodehomes/{node}")
}

impl EcsService {
    pub fn register_node(
        &self,
        ctx: &CallContext,
        req: RegisterRequest,
    ) -> Result<RegisterResponse, ApiError> {
        let mut attributes: Vec<Attribute> = req
            .attributes
            .iter()
            .map(|(k, v)| Attribute {
                name: k.clone(),
                value: Some(v.clone()),
            })
            .collect();
        match req.kind {
            NodeKind::Instance => {
                let cluster = req.cluster.clone().unwrap_or_else(|| "default".into());
                let mut ports: Vec<u16> = RESERVED_PORTS.to_vec();
                ports.extend(&req.reserved_ports);
                ports.sort_unstable();
                ports.dedup();
                // An id from another cluster or a deregistered instance
                // starts afresh.
                let existing_id = req.node_id.clone().filter(|id| {
                    db::get::<Instance>(self.store.as_ref(), &instance_key(&cluster, id))
                        .ok()
                        .flatten()
                        .is_some_and(|i| i.value.status != "INACTIVE")
                });
                attributes.retain(|a| !a.name.is_empty());
                let inst = self.register_instance(
                    ctx,
                    Registration {
                        cluster: cluster.clone(),
                        existing_id,
                        cpu: req.cpu,
                        memory: req.memory,
                        reserved_ports: ports,
                        attributes,
                        tags: vec![],
                        address: req.address.clone(),
                        hostname: req.hostname.clone(),
                        agent_version: req.agent_version.clone(),
                        agent_connected: true,
                    },
                )?;
                self.put_home(&inst.id, NodeKind::Instance, Some(cluster))?;
                Ok(RegisterResponse {
                    node_id: inst.id,
                    container_instance_arn: Some(inst.arn),
                    poll_seconds: self.opts.poll_seconds,
                })
            }
            NodeKind::Fargate => {
                let id = req.node_id.clone().unwrap_or_else(new_id);
                let zone = req
                    .attributes
                    .get("ecs.availability-zone")
                    .cloned()
                    .unwrap_or_else(|| self.opts.availability_zone.clone());
                let key = fargate_key(&id);
                let registered_ms = db::get::<FargateNode>(self.store.as_ref(), &key)?
                    .map(|n| n.value.registered_ms)
                    .unwrap_or_else(|| ctx.now.timestamp_millis());
                let node = FargateNode {
                    id: id.clone(),
                    cpu: req.cpu,
                    memory: req.memory,
                    agent_connected: true,
                    address: req.address.clone(),
                    availability_zone: zone,
                    registered_ms,
                };
                self.store
                    .txn(Txn {
                        compares: vec![],
                        success: vec![db::put(&key, &node)],
                        failure: vec![],
                    })
                    .map_err(store_err)?;
                self.put_home(&id, NodeKind::Fargate, None)?;
                Ok(RegisterResponse {
                    node_id: id,
                    container_instance_arn: None,
                    poll_seconds: self.opts.poll_seconds,
                })
            }
        }
    }

    fn put_home(
        &self,
        node: &str,
        kind: NodeKind,
        cluster: Option<String>,
    ) -> Result<(), ApiError> {
        self.store
            .txn(Txn {
                compares: vec![],
                success: vec![db::put(&home_key(node), &NodeHome { kind, cluster })],
                failure: vec![],
            })
            .map_err(store_err)?;
        Ok(())
    }

    fn home(&self, node: &str) -> Result<NodeHome, ApiError> {
        db::get::<NodeHome>(self.store.as_ref(), &home_key(node))?
            .map(|v| v.value)
            .ok_or_else(|| node_gone(node))
    }

    /// The record key holding a node's `agent_connected`.
    fn node_record_key(&self, node: &str) -> Result<String, ApiError> {
        let home = self.home(node)?;
        Ok(match (home.kind, home.cluster) {
            (NodeKind::Instance, Some(c)) => instance_key(&c, node),
            _ => fargate_key(node),
        })
    }

    /// Marks a node's agent connected or not; returns whether it changed.
    pub fn set_connected(&self, node: &str, connected: bool) -> Result<bool, ApiError> {
        let key = self.node_record_key(node)?;
        let mut changed = false;
        if key.starts_with(crate::model::FARGATE_NODES) {
            db::update(
                self.store.as_ref(),
                &key,
                || node_gone(node),
                |n: &mut FargateNode, _| {
                    changed = n.agent_connected != connected;
                    n.agent_connected = connected;
                    Ok(())
                },
            )?;
        } else {
            let cur =
                db::get::<Instance>(self.store.as_ref(), &key)?.ok_or_else(|| node_gone(node))?;
            if cur.value.agent_connected == connected {
                return Ok(false);
            }
            db::update(
                self.store.as_ref(),
                &key,
                || node_gone(node),
                |n: &mut Instance, _| {
                    changed = n.agent_connected != connected;
                    if changed {
                        n.agent_connected = connected;
                        n.version += 1;
                    }
                    Ok(())
                },
            )?;
        }
        Ok(changed)
    }

    /// Nodes whose agents are marked disconnected (or whose instance was
    /// deregistered) that still hold tasks.
    pub fn silent_nodes_with_tasks(&self) -> Result<Vec<String>, ApiError> {
        let mut nodes: Vec<String> =
            db::list::<Instance>(self.store.as_ref(), crate::model::INSTANCES)?
                .into_iter()
                .filter(|i| !i.value.agent_connected || i.value.status == "INACTIVE")
                .map(|i| i.value.id)
                .collect();
        nodes.extend(
            db::list::<FargateNode>(self.store.as_ref(), crate::model::FARGATE_NODES)?
                .into_iter()
                .filter(|n| !n.value.agent_connected)
                .map(|n| n.value.id),
        );
        let mut out = Vec::new();
        for n in nodes {
            let (kvs, _) = self
                .store
                .range(&crate::model::node_tasks_prefix(&n), None, 1)
                .map_err(store_err)?;
            if !kvs.is_empty() {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// Nodes whose agents are marked connected.
    pub fn connected_nodes(&self) -> Result<Vec<String>, ApiError> {
        let mut out: Vec<String> =
            db::list::<Instance>(self.store.as_ref(), crate::model::INSTANCES)?
                .into_iter()
                .filter(|i| i.value.agent_connected)
                .map(|i| i.value.id)
                .collect();
        out.extend(
            db::list::<FargateNode>(self.store.as_ref(), crate::model::FARGATE_NODES)?
                .into_iter()
                .filter(|n| n.value.agent_connected)
                .map(|n| n.value.id),
        );
        Ok(out)
    }

    /// Whether a node may still take part (a deregistered instance may
    /// not).
    fn check_node(&self, node: &str) -> Result<(), ApiError> {
        let key = self.node_record_key(node)?;
        if key.starts_with(crate::model::INSTANCES) {
            let inst =
                db::get::<Instance>(self.store.as_ref(), &key)?.ok_or_else(|| node_gone(node))?;
            if inst.value.status == "INACTIVE" {
                return Err(node_gone(node));
            }
            if !inst.value.agent_connected {
                self.set_connected(node, true)?;
            }
        } else {
            let n = db::get::<FargateNode>(self.store.as_ref(), &key)?
                .ok_or_else(|| node_gone(node))?;
            if !n.value.agent_connected {
                self.set_connected(node, true)?;
            }
        }
        Ok(())
    }

    /// One poll: applies the agent's changes and reads the node's desired
    /// state.
    pub fn poll(&self, ctx: &CallContext, req: &PollRequest) -> Result<Snapshot, ApiError> {
        if req.node_id.is_empty() {
            return Err(invalid("node_id must be given"));
        }
        self.check_node(&req.node_id)?;
        let applied = self.apply_changes(ctx, &req.node_id, &req.changes)?;
        let (tasks, version, revision) = self.desired(&req.node_id)?;
        let news = !req.changes.is_empty() || req.no_wait || version != req.seen_version;
        Ok(Snapshot {
            response: PollResponse {
                version,
                tasks,
                applied_seq: applied,
            },
            revision,
            news,
        })
    }

    /// The tasks a node must act on, their version (the highest revision
    /// among their index entries) and the store revision read at.
    fn desired(&self, node: &str) -> Result<(Vec<DesiredTask>, u64, Revision), ApiError> {
        let (kvs, revision) = self
            .store
            .range(&node_tasks_prefix(node), None, usize::MAX)
            .map_err(store_err)?;
        let mut version = 0;
        let mut out = Vec::with_capacity(kvs.len());
        for kv in kvs {
            version = version.max(kv.mod_revision);
            let entry: NodeTask =
                crate::model::decode(&kv.value, &kv.key).map_err(crate::error::corrupt)?;
            let id = entry
                .task_arn
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            let Some(task) = db::get::<Task>(self.store.as_ref(), &task_key(&entry.cluster, &id))?
            else {
                continue;
            };
            let Some(spec) = db::get::<TaskDefinition>(
                self.store.as_ref(),
                &task_spec_key(&entry.cluster, &id),
            )?
            else {
                continue;
            };
            let t = task.value;
            out.push(DesiredTask {
                task_arn: t.arn,
                task_id: t.id,
                cluster: t.cluster,
                cluster_arn: t.cluster_arn,
                desired_status: t.desired_status,
                definition: spec.value,
                launch_type: t.launch_type,
                stop_reason: t.stopped_reason,
                credentials: t.credentials,
                revision: task.mod_revision,
                availability_zone: t.availability_zone,
                region: self.opts.region.clone(),
            });
        }
        Ok((out, version, revision))
    }

    /// Applies changes in sequence order, skipping those already applied;
    /// returns the highest sequence applied.
    fn apply_changes(
        &self,
        ctx: &CallContext,
        node: &str,
        changes: &[TaskChange],
    ) -> Result<u64, ApiError> {
        let skey = session_key(node);
        let mut session = db::get::<Session>(self.store.as_ref(), &skey)?;
        let mut applied = session.as_ref().map(|s| s.value.applied_seq).unwrap_or(0);
        for c in changes {
            if c.seq <= applied {
                continue;
            }
            for _ in 0..64 {
                let (cluster, id) = split_task_arn(&c.task_arn);
                let tkey = task_key(cluster, id);
                let cur = db::get::<Task>(self.store.as_ref(), &tkey)?;
                let mut compares = vec![match &session {
                    Some(s) => Compare::ModRevision(skey.clone(), s.mod_revision),
                    None => Compare::Missing(skey.clone()),
                }];
                let mut ops = vec![db::put(&skey, &Session { applied_seq: c.seq })];
                let mut task_written = false;
                if let Some(t) = &cur
                    && t.value.node_id == node
                {
                    let mut task = t.value.clone();
                    if apply_change(&mut task, c, ctx.now.timestamp_millis()) {
                        compares.push(Compare::ModRevision(tkey.clone(), t.mod_revision));
                        if task.last_status == "STOPPED" {
                            ops.push(Op::Delete {
                                key: node_task_key(node, &task.id),
                            });
                        }
                        ops.push(db::put(&tkey, &task));
                        task_written = true;
                    }
                }
                let r = self
                    .store
                    .txn(Txn {
                        compares,
                        success: ops,
                        failure: vec![],
                    })
                    .map_err(store_err)?;
                if r.succeeded {
                    // Only a task write reaches the index; waiting for a
                    // revision it never sees would stall every read.
                    if task_written {
                        self.index.wrote(r.revision);
                    }
                    applied = c.seq;
                    session = db::get::<Session>(self.store.as_ref(), &skey)?;
                    break;
                }
                session = db::get::<Session>(self.store.as_ref(), &skey)?;
                if session
                    .as_ref()
                    .is_some_and(|s| s.value.applied_seq >= c.seq)
                {
                    applied = c.seq;
                    break;
                }
            }
        }
        Ok(applied)
    }
}

fn split_task_arn(arn: &str) -> (&str, &str) {
    let rest = arn.rsplit_once(":task/").map(|(_, r)| r).unwrap_or(arn);
    rest.split_once('/').unwrap_or(("", rest))
}

/// Folds one reported change into a task; returns whether it changed.
/// Status only moves forward; a container's facts are replaced by the
/// newest report.
pub(crate) fn apply_change(t: &mut Task, c: &TaskChange, now_ms: i64) -> bool {
    let before = serde_json::to_value(&*t).ok();
    let cur = lifecycle_rank(&t.last_status).unwrap_or(0);
    if let Some(new) = lifecycle_rank(&c.status)
        && new > cur
    {
        t.last_status = c.status.clone();
        if t.connectivity.is_none() && new >= 1 {
            t.connectivity = Some("CONNECTED".into());
            t.times.connectivity = Some(c.at_ms);
        }
    }
    let set = |slot: &mut Option<i64>, v: Option<i64>| {
        if slot.is_none() && v.is_some() {
            *slot = v;
        }
    };
    set(&mut t.times.pull_started, c.pull_started_ms);
    set(&mut t.times.pull_stopped, c.pull_stopped_ms);
    set(&mut t.times.started, c.started_ms);
    set(&mut t.times.execution_stopped, c.execution_stopped_ms);
    if t.last_status == "STOPPED" {
        // An agent without a clock reading reports 0; the server's time
        // stands in.
        let at = if c.at_ms > 0 { c.at_ms } else { now_ms };
        t.desired_status = "STOPPED".into();
        set(&mut t.times.stopped, Some(at));
        set(&mut t.times.stopping, Some(at));
        set(&mut t.times.execution_stopped, Some(at));
    }
    if t.stopped_reason.is_none() {
        t.stopped_reason = c.stopped_reason.clone();
    }
    if t.stop_code.is_none() {
        t.stop_code = c.stop_code.clone();
    }
    if let Some(n) = &c.network {
        t.network = Some(TaskNetwork::clone(n));
    }
    if c.health_status.is_some() {
        t.health_status = c.health_status.clone();
    }
    for cc in &c.containers {
        if let Some(k) = t.containers.iter_mut().find(|k| k.name == cc.name) {
            if lifecycle_rank(&cc.status) >= lifecycle_rank(&k.last_status) {
                k.last_status = cc.status.clone();
            }
            if cc.runtime_id.is_some() {
                k.runtime_id = cc.runtime_id.clone();
            }
            if cc.image_digest.is_some() {
                k.image_digest = cc.image_digest.clone();
            }
            if cc.exit_code.is_some() {
                k.exit_code = cc.exit_code;
            }
            if cc.reason.is_some() {
                k.reason = cc.reason.clone();
            }
            if !cc.network_bindings.is_empty() {
                k.network_bindings = cc.network_bindings.clone();
            }
            if cc.health_status.is_some() {
                k.health_status = cc.health_status.clone();
            }
        }
    }
    let changed = serde_json::to_value(&*t).ok() != before;
    if changed {
        t.version += 1;
    }
    changed
}
