//! Tasks: RunTask, StartTask, StopTask, DescribeTasks, ListTasks.

use serde::Deserialize;
use serde_json::{Value, json};

use dockyard_aws::{ApiError, CallContext};
use dockyard_store::{Compare, Op, Txn};
use dockyard_taskdef::TaskDefinition;

use crate::EcsService;
use crate::clusters::check_strategy;
use crate::db;
use crate::error::{client, invalid, store as store_err};
use crate::ids::{cluster_name, member_id, new_id, new_uuid, task_arn};
use crate::input::{TagIn, decode, max_results, next_token, tags};
use crate::model::{
    Container, NodeTask, StrategyItem, Tag, Task, TaskTimes, node_task_key, placement_key,
    task_key, task_spec_key, token_key,
};
use crate::placement::{Pool, Target};
use crate::render;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunIn {
    capacity_provider_strategy: Option<Vec<StrategyItem>>,
    cluster: Option<String>,
    count: Option<i64>,
    #[serde(rename = "enableECSManagedTags")]
    enable_ecs_managed_tags: Option<bool>,
    enable_execute_command: Option<bool>,
    group: Option<String>,
    launch_type: Option<String>,
    network_configuration: Option<Value>,
    overrides: Option<Value>,
    placement_constraints: Option<Vec<Value>>,
    placement_strategy: Option<Vec<Value>>,
    propagate_tags: Option<String>,
    started_by: Option<String>,
    tags: Option<Vec<TagIn>>,
    task_definition: Option<String>,
    client_token: Option<String>,
    container_instances: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StopIn {
    cluster: Option<String>,
    task: Option<String>,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeIn {
    cluster: Option<String>,
    tasks: Option<Vec<String>>,
    include: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListIn {
    cluster: Option<String>,
    container_instance: Option<String>,
    family: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
    started_by: Option<String>,
    service_name: Option<String>,
    desired_status: Option<String>,
    launch_type: Option<String>,
}

/// What DescribeTasks found: the tasks, the failures, whether tags are asked.
type Described = (Vec<std::sync::Arc<crate::index::Entry>>, Vec<Value>, bool);

/// Everything a launch needs once the input is checked.
pub(crate) struct Launch {
    pub cluster: String,
    pub cluster_arn: String,
    pub definition: TaskDefinition,
    pub effective: TaskDefinition,
    pub overrides: Value,
    pub launch_type: String,
    pub providers: Vec<Option<String>>,
    pub group: String,
    pub started_by: Option<String>,
    pub tags: Vec<Tag>,
    pub awsvpc: Option<Value>,
    pub enable_execute_command: bool,
    pub constraints: Vec<Value>,
    pub strategies: Vec<Value>,
    pub count: usize,
    pub token: Option<String>,
    /// StartTask: the instances named, one task each.
    pub on_instances: Option<Vec<String>>,
    /// The tasks go through ACTIVATING (a service behind load balancers).
    pub activating: bool,
}

/// The capacity provider of each of `count` tasks under a strategy:
/// bases first, then by weight.
fn spread_providers(strategy: &[StrategyItem], count: usize) -> Vec<Option<String>> {
    let mut out = Vec::with_capacity(count);
    let mut given = vec![0u32; strategy.len()];
    for (i, s) in strategy.iter().enumerate() {
        while given[i] < s.base && out.len() < count {
            given[i] += 1;
            out.push(Some(s.capacity_provider.clone()));
        }
    }
    while out.len() < count {
        // The provider furthest below its weighted share gets the next task.
        let total: u32 = strategy.iter().map(|s| s.weight).sum();
        let Some((i, _)) = strategy
            .iter()
            .enumerate()
            .filter(|(_, s)| s.weight > 0)
            .min_by(|(a, sa), (b, sb)| {
                let ra = f64::from(given[*a].saturating_sub(sa.base)) / f64::from(sa.weight);
                let rb = f64::from(given[*b].saturating_sub(sb.base)) / f64::from(sb.weight);
                ra.total_cmp(&rb)
            })
        else {
            break;
        };
        let _ = total;
        given[i] += 1;
        out.push(Some(strategy[i].capacity_provider.clone()));
    }
    out
}

fn failure(arn: &str, reason: &str) -> Value {
    json!({"arn": arn, "reason": reason})
}

impl EcsService {
    /// A launch from a RunTask-shaped input (`start`: StartTask's), as the
    /// service scheduler builds them.
    pub(crate) fn launch_from(
        &self,
        ctx: &CallContext,
        input: Value,
        start: bool,
    ) -> Result<Launch, ApiError> {
        self.launch(ctx, decode(input)?, start)
    }

    fn launch(&self, ctx: &CallContext, i: RunIn, start: bool) -> Result<Launch, ApiError> {
        let cluster = cluster_name(ctx, i.cluster.as_deref())?;
        let c = self.active_cluster(&cluster)?.value;
        let given = i
            .task_definition
            .ok_or_else(|| invalid("taskDefinition must be specified."))?;
        let definition = self.resolve_taskdef(ctx, &given)?;
        if definition.status != "ACTIVE" {
            return Err(client("TaskDefinition is inactive"));
        }
        let count = match i.count {
            None => 1,
            Some(n @ 1..=10) => n as usize,
            Some(_) => return Err(invalid("count must be between 1 and 10.")),
        };
        let (launch_type, providers) = if start {
            ("EC2".to_string(), vec![None; count])
        } else {
            match (i.launch_type, i.capacity_provider_strategy) {
                (Some(_), Some(s)) if !s.is_empty() => {
                    return Err(invalid(
                        "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
                    ));
                }
                (Some(lt), _) => match lt.as_str() {
                    "EC2" | "FARGATE" => (lt, vec![None; count]),
                    "EXTERNAL" | "MANAGED_INSTANCES" => {
                        return Err(invalid(format!(
                            "The launch type {lt} is not supported by Dockyard."
                        )));
                    }
                    _ => return Err(invalid(format!("Invalid launch type: {lt}"))),
                },
                (None, s) => {
                    let strategy = match s {
                        Some(s) if !s.is_empty() => s,
                        _ => c.default_strategy.clone(),
                    };
                    if strategy.is_empty() {
                        ("EC2".to_string(), vec![None; count])
                    } else {
                        check_strategy(&strategy)?;
                        for s in &strategy {
                            if !crate::clusters::MANAGED_PROVIDERS
                                .contains(&s.capacity_provider.as_str())
                            {
                                return Err(invalid(format!(
                                    "The specified capacity provider {} does not exist. Specify a valid capacity provider and try again.",
                                    s.capacity_provider
                                )));
                            }
                        }
                        ("FARGATE".to_string(), spread_providers(&strategy, count))
                    }
                }
            }
        };
        if !definition.compatibilities.contains(&launch_type) {
            return Err(client(format!(
                "Task definition does not support launch_type {launch_type}."
            )));
        }
        let awsvpc = definition.network_mode.as_deref() == Some("awsvpc");
        let awsvpc_cfg = match (&i.network_configuration, awsvpc) {
            (Some(nc), true) => {
                let cfg = &nc["awsvpcConfiguration"];
                let subnets = cfg["subnets"].as_array().map(Vec::len).unwrap_or(0);
                if subnets == 0 {
                    return Err(invalid("subnets can not be empty."));
                }
                if subnets > 16 {
                    return Err(invalid("subnets can have at most 16 items."));
                }
                if cfg["securityGroups"].as_array().map(Vec::len).unwrap_or(0) > 5 {
                    return Err(invalid("securityGroups can have at most 5 items."));
                }
                if let Some(p) = cfg["assignPublicIp"].as_str()
                    && !["ENABLED", "DISABLED"].contains(&p)
                {
                    return Err(invalid(format!("Invalid assignPublicIp value: {p}")));
                }
                Some(cfg.clone())
            }
            (None, true) => {
                return Err(invalid(
                    "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
                ));
            }
            (Some(_), false) => {
                return Err(invalid(
                    "Network Configuration is not valid for the given networkMode of this task definition.",
                ));
            }
            (None, false) => None,
        };
        let overrides = i.overrides.unwrap_or(Value::Null);
        let ov = dockyard_taskdef::validate_overrides(&definition, &overrides)
            .map_err(|e| ApiError::client(e.code, e.message))?;
        let effective = dockyard_taskdef::effective(&definition, &ov);
        let group = i
            .group
            .unwrap_or_else(|| format!("family:{}", definition.family));
        if group.len() > 255 {
            return Err(invalid("group must be at most 255 characters."));
        }
        if i.started_by.as_ref().is_some_and(|s| s.len() > 128) {
            return Err(invalid("startedBy must be at most 128 characters."));
        }
        let mut task_tags = tags(i.tags)?;
        match i.propagate_tags.as_deref() {
            None | Some("NONE") => {}
            Some("TASK_DEFINITION") => {
                let td_tags = self.taskdef_tags(&definition)?;
                for t in td_tags {
                    if !task_tags.iter().any(|x| x.key == t.key) {
                        task_tags.push(t);
                    }
                }
            }
            Some("SERVICE") => {
                return Err(invalid(
                    "propagateTags SERVICE is only valid for tasks started by a service.",
                ));
            }
            Some(p) => return Err(invalid(format!("Invalid propagateTags value: {p}"))),
        }
        if i.enable_ecs_managed_tags.unwrap_or(false) {
            task_tags.push(Tag {
                key: "aws:ecs:clusterName".into(),
                value: cluster.clone(),
            });
        }
        let constraints = i.placement_constraints.unwrap_or_default();
        let strategies = i.placement_strategy.unwrap_or_default();
        if launch_type == "FARGATE" && (!constraints.is_empty() || !strategies.is_empty()) {
            return Err(invalid(
                "Task placement constraints and strategies are not supported for tasks using the FARGATE launch type.",
            ));
        }
        if let Some(t) = &i.client_token
            && t.len() > 64
        {
            return Err(invalid("clientToken must be at most 64 characters."));
        }
        let on_instances = if start {
            let list = i
                .container_instances
                .ok_or_else(|| invalid("containerInstances must be specified."))?;
            if list.is_empty() || list.len() > 10 {
                return Err(invalid(
                    "containerInstances must have between 1 and 10 items.",
                ));
            }
            Some(list)
        } else {
            None
        };
        Ok(Launch {
            cluster_arn: c.arn,
            cluster,
            definition,
            effective,
            overrides,
            launch_type,
            providers,
            group,
            started_by: i.started_by,
            tags: task_tags,
            awsvpc: awsvpc_cfg,
            enable_execute_command: i.enable_execute_command.unwrap_or(false),
            constraints,
            strategies,
            count: on_instances.as_ref().map(Vec::len).unwrap_or(count),
            token: i.client_token,
            on_instances,
            activating: false,
        })
    }

    fn new_task(&self, ctx: &CallContext, l: &Launch, target: &Target, n: usize) -> Task {
        let id = new_id();
        let arn = task_arn(ctx, &l.cluster, &id);
        let containers = l
            .effective
            .container_definitions
            .iter()
            .map(|c| Container {
                name: c.name.clone(),
                arn: crate::ids::arn(ctx, &format!("container/{}/{id}/{}", l.cluster, new_uuid())),
                image: c.image.clone(),
                last_status: "PENDING".into(),
                cpu: Some(c.cpu.unwrap_or(0).to_string()),
                memory: c.memory.map(|m| m.to_string()),
                memory_reservation: c.memory_reservation.map(|m| m.to_string()),
                ..Container::default()
            })
            .collect();
        Task {
            id: id.clone(),
            arn,
            cluster: l.cluster.clone(),
            cluster_arn: l.cluster_arn.clone(),
            task_definition_arn: l.definition.task_definition_arn.clone(),
            overrides: l.overrides.clone(),
            last_status: "PROVISIONING".into(),
            desired_status: "RUNNING".into(),
            launch_type: l.launch_type.clone(),
            capacity_provider_name: l.providers.get(n).cloned().flatten(),
            node_id: target.node_id.clone(),
            container_instance_arn: target.container_instance_arn.clone(),
            cpu: l.effective.cpu.clone(),
            memory: l.effective.memory.clone(),
            containers,
            times: TaskTimes {
                created: ctx.now.timestamp_millis(),
                ..TaskTimes::default()
            },
            connectivity: None,
            stop_code: None,
            stopped_reason: None,
            group: Some(l.group.clone()),
            started_by: l.started_by.clone(),
            tags: l.tags.clone(),
            version: 1,
            network: None,
            awsvpc: l.awsvpc.clone(),
            attachment_id: l.awsvpc.as_ref().map(|_| new_uuid()),
            health_status: None,
            availability_zone: target.availability_zone.clone(),
            enable_execute_command: l.enable_execute_command,
            credentials: None,
            host_ports: target.host_ports.clone(),
            extra: Default::default(),
            deactivating: None,
            activating: l.activating,
        }
    }

    /// Places and records the tasks of a launch in one transaction.
    pub(crate) fn create_tasks(
        &self,
        ctx: &CallContext,
        l: &Launch,
    ) -> Result<(Vec<Task>, Vec<Value>), ApiError> {
        let pool = if l.launch_type == "FARGATE" {
            Pool::Fargate
        } else {
            Pool::Cluster(l.cluster.clone())
        };
        let token = l.token.as_ref().map(|t| {
            let op = if l.on_instances.is_some() {
                "StartTask"
            } else {
                "RunTask"
            };
            token_key(op, &format!("{}/{t}", l.cluster))
        });
        let credentials = match &l.effective.task_role_arn {
            Some(role) => Some(
                self.creds
                    .issue(role, &format!("ecs-task-{}", new_id()), ctx.now)
                    .map_err(crate::error::server)?,
            ),
            None => None,
        };
        for _ in 0..32 {
            if let Some(k) = &token
                && let Some(prev) = db::get::<Vec<String>>(self.store.as_ref(), k)?
            {
                let mut tasks = Vec::new();
                for arn in prev.value {
                    let id = arn.rsplit('/').next().unwrap_or_default().to_string();
                    if let Some(t) =
                        db::get::<Task>(self.store.as_ref(), &task_key(&l.cluster, &id))?
                    {
                        tasks.push(t.value);
                    }
                }
                return Ok((tasks, vec![]));
            }
            let pkey = placement_key(pool.name());
            let prev = self.store.get(&pkey).map_err(store_err)?;
            let plan = self.plan(ctx, &pool, l)?;
            let mut ops: Vec<Op> = Vec::new();
            let mut tasks = Vec::new();
            for (n, target) in plan.targets.iter().enumerate() {
                let mut t = self.new_task(ctx, l, target, n);
                t.credentials = credentials.clone();
                ops.push(db::put(&task_key(&l.cluster, &t.id), &t));
                ops.push(db::put(&task_spec_key(&l.cluster, &t.id), &l.effective));
                ops.push(db::put(
                    &node_task_key(&target.node_id, &t.id),
                    &NodeTask {
                        cluster: l.cluster.clone(),
                        task_arn: t.arn.clone(),
                        task_definition_arn: t.task_definition_arn.clone(),
                        family: l.definition.family.clone(),
                        group: l.group.clone(),
                        cpu: target.cpu,
                        memory: target.memory,
                        host_ports: target.host_ports.clone(),
                        host_ports_udp: target.host_ports_udp.clone(),
                        desired_stopped: false,
                    },
                ));
                tasks.push(t);
            }
            if tasks.is_empty() {
                return Ok((tasks, plan.failures));
            }
            let counter: u64 = prev
                .as_ref()
                .and_then(|kv| serde_json::from_slice(&kv.value).ok())
                .unwrap_or(0);
            ops.push(db::put(&pkey, &(counter + 1)));
            let mut compares = vec![match &prev {
                Some(kv) => Compare::ModRevision(pkey.clone(), kv.mod_revision),
                None => Compare::Missing(pkey.clone()),
            }];
            if let Some(k) = &token {
                compares.push(Compare::Missing(k.clone()));
                let arns: Vec<&String> = tasks.iter().map(|t| &t.arn).collect();
                ops.push(db::put(k, &arns));
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
                self.index.wrote_n(r.revision, tasks.len());
                return Ok((tasks, plan.failures));
            }
        }
        Err(crate::error::server(
            "placement kept conflicting with other placements; try again",
        ))
    }

    pub(crate) fn run_task(&self, ctx: &CallContext, input: Value) -> Result<Value, ApiError> {
        let i: RunIn = decode(input)?;
        if i.container_instances.is_some() {
            return Err(ApiError::client(
                "SerializationException",
                "containerInstances is not a member of RunTaskRequest",
            ));
        }
        let l = self.launch(ctx, i, false)?;
        let (tasks, failures) = self.create_tasks(ctx, &l)?;
        Ok(json!({
            "tasks": tasks.iter().map(|t| render::task(t, true)).collect::<Vec<_>>(),
            "failures": failures,
        }))
    }

    pub(crate) fn start_task(&self, ctx: &CallContext, input: Value) -> Result<Value, ApiError> {
        let i: RunIn = decode(input)?;
        if i.launch_type.is_some() || i.capacity_provider_strategy.is_some() || i.count.is_some() {
            return Err(ApiError::client(
                "SerializationException",
                "StartTask takes no launchType, capacityProviderStrategy or count",
            ));
        }
        let l = self.launch(ctx, i, true)?;
        let (tasks, failures) = self.create_tasks(ctx, &l)?;
        Ok(json!({
            "tasks": tasks.iter().map(|t| render::task(t, true)).collect::<Vec<_>>(),
            "failures": failures,
        }))
    }

    /// Forgets tasks that have been STOPPED for more than an hour, as ECS
    /// stops showing them (DescribeTasks then answers MISSING); returns
    /// how many.
    pub fn expire_stopped(&self, now: chrono::DateTime<chrono::Utc>) -> Result<usize, ApiError> {
        let cutoff = (now - chrono::Duration::hours(1)).timestamp_millis();
        let mut n = 0;
        for (cluster, id) in self.index.stopped_before(cutoff) {
            let key = task_key(&cluster, &id);
            let Some(cur) = self.store.get(&key).map_err(store_err)? else {
                continue;
            };
            let r = self
                .store
                .txn(Txn {
                    compares: vec![Compare::ModRevision(key.clone(), cur.mod_revision)],
                    success: vec![
                        Op::Delete { key },
                        Op::Delete {
                            key: task_spec_key(&cluster, &id),
                        },
                    ],
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

    /// Sets a task's desired status to STOPPED (and its node's index
    /// entry, which the agent's session watches).
    pub(crate) fn request_stop(
        &self,
        cluster: &str,
        id: &str,
        reason: &str,
        code: &str,
        now_ms: i64,
    ) -> Result<Option<Task>, ApiError> {
        let key = task_key(cluster, id);
        let missing = || invalid("The referenced task was not found.");
        let mut node = String::new();
        let t = db::update_at(self.store.as_ref(), &key, missing, |t: &mut Task, ops| {
            node = t.node_id.clone();
            if t.desired_status == "STOPPED" {
                return Ok(());
            }
            t.desired_status = "STOPPED".into();
            t.times.stopping = Some(now_ms);
            t.stopped_reason = Some(reason.to_string());
            t.stop_code = Some(code.to_string());
            t.version += 1;
            if t.last_status != "STOPPED"
                && let Some(entry) =
                    db::get::<NodeTask>(self.store.as_ref(), &node_task_key(&t.node_id, &t.id))?
            {
                let mut e = entry.value;
                e.desired_stopped = true;
                ops.push(db::put(&node_task_key(&t.node_id, &t.id), &e));
            }
            Ok(())
        })?;
        self.index.wrote(t.mod_revision);
        Ok(Some(t.value))
    }

    pub(crate) fn stop_task(&self, ctx: &CallContext, input: Value) -> Result<Value, ApiError> {
        let i: StopIn = decode(input)?;
        let cluster = cluster_name(ctx, i.cluster.as_deref())?;
        self.active_cluster(&cluster)?;
        let given = i.task.ok_or_else(|| invalid("task must be specified."))?;
        let id = member_id(ctx, "task", &cluster, &given)?;
        let reason = i.reason.unwrap_or_else(|| "Task stopped by user".into());
        if reason.len() > 255 {
            return Err(invalid("reason must be at most 255 characters."));
        }
        let t = self
            .request_stop(
                &cluster,
                &id,
                &reason,
                "UserInitiated",
                ctx.now.timestamp_millis(),
            )?
            .ok_or_else(|| invalid("The referenced task was not found."))?;
        Ok(json!({"task": render::task(&t, false)}))
    }

    /// The tasks DescribeTasks names (from the index) and its failures.
    fn described(&self, ctx: &CallContext, input: Value) -> Result<Described, ApiError> {
        let i: DescribeIn = decode(input)?;
        let cluster = cluster_name(ctx, i.cluster.as_deref())?;
        self.active_cluster(&cluster)?;
        let given = i.tasks.ok_or_else(|| invalid("tasks must be specified."))?;
        if given.is_empty() || given.len() > 100 {
            return Err(invalid("tasks must have between 1 and 100 items."));
        }
        let with_tags = i.include.unwrap_or_default().iter().any(|s| s == "TAGS");
        let mut found = Vec::new();
        let mut failures = Vec::new();
        for g in given {
            let hit = match member_id(ctx, "task", &cluster, &g) {
                Ok(id) => self.index.get(&cluster, &id),
                Err(_) => None,
            };
            match hit {
                Some(t) => found.push(t),
                None => {
                    let a = if g.starts_with("arn:") {
                        g
                    } else {
                        task_arn(ctx, &cluster, &g)
                    };
                    failures.push(failure(&a, "MISSING"));
                }
            }
        }
        Ok((found, failures, with_tags))
    }

    pub(crate) fn describe_tasks(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let (found, failures, with_tags) = self.described(ctx, input)?;
        let out: Vec<Value> = found.iter().map(|t| render::task(t, with_tags)).collect();
        Ok(json!({"tasks": out, "failures": failures}))
    }

    /// DescribeTasks as text: each task's JSON is made once per version
    /// and copied into replies.
    pub(crate) fn describe_tasks_text(
        &self,
        ctx: &CallContext,
        input: &Value,
    ) -> Result<Vec<u8>, ApiError> {
        let (found, failures, with_tags) = self.described(ctx, input.clone())?;
        let mut out = Vec::with_capacity(found.len() * 2048 + 64);
        out.extend_from_slice(b"{\"tasks\":[");
        for (n, t) in found.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(t.json(with_tags));
        }
        out.extend_from_slice(b"],\"failures\":");
        out.extend_from_slice(&serde_json::to_vec(&failures).unwrap_or_else(|_| b"[]".to_vec()));
        out.push(b'}');
        Ok(out)
    }

    pub(crate) fn list_tasks(&self, ctx: &CallContext, input: Value) -> Result<Value, ApiError> {
        let text = self.list_tasks_text(ctx, &input)?;
        serde_json::from_slice(&text).map_err(crate::error::server)
    }

    /// ListTasks as text, written straight from the index under its lock:
    /// no ARN is copied.
    pub(crate) fn list_tasks_text(
        &self,
        ctx: &CallContext,
        input: &Value,
    ) -> Result<Vec<u8>, ApiError> {
        let q = self.list_query(ctx, input.clone())?;
        let mut out = Vec::with_capacity(64 + q.n.min(100) * 96);
        out.extend_from_slice(b"{\"taskArns\":[");
        let mut first = true;
        let last = self.index.page_with(
            &q.cluster,
            q.after.as_deref(),
            q.n,
            |t| q.keep(t),
            |t| {
                if !first {
                    out.push(b',');
                }
                first = false;
                push_json_str(&mut out, &t.arn);
            },
        );
        out.push(b']');
        if let Some(l) = last {
            out.extend_from_slice(b",\"nextToken\":");
            push_json_str(&mut out, &dockyard_aws::input::encode_token(&l));
        }
        out.push(b'}');
        Ok(out)
    }

    fn list_query(&self, ctx: &CallContext, input: Value) -> Result<ListQuery, ApiError> {
        let i: ListIn = decode(input)?;
        let cluster = cluster_name(ctx, i.cluster.as_deref())?;
        self.active_cluster(&cluster)?;
        let n = max_results(i.max_results, 100)?;
        let after = next_token(i.next_token.as_deref())?;
        let desired = i.desired_status.unwrap_or_else(|| "RUNNING".into());
        if !["RUNNING", "PENDING", "STOPPED"].contains(&desired.as_str()) {
            return Err(invalid(format!("Invalid desiredStatus: {desired}")));
        }
        if let Some(lt) = &i.launch_type
            && !["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"].contains(&lt.as_str())
        {
            return Err(invalid(format!("Invalid launchType: {lt}")));
        }
        if i.service_name.is_some() && (i.family.is_some() || i.started_by.is_some()) {
            return Err(invalid(
                "serviceName may not be specified with family or startedBy.",
            ));
        }
        let instance = match &i.container_instance {
            Some(ci) => Some(
                self.instance(ctx, &cluster, ci)?
                    .ok_or_else(|| invalid("The referenced container instance was not found."))?
                    .value
                    .arn,
            ),
            None => None,
        };
        Ok(ListQuery {
            cluster,
            n,
            after,
            desired,
            instance,
            family: i.family,
            started_by: i.started_by,
            group: i.service_name.map(|s| format!("service:{s}")),
            launch_type: i.launch_type,
        })
    }
}

/// A checked ListTasks request.
struct ListQuery {
    cluster: String,
    n: usize,
    after: Option<String>,
    desired: String,
    instance: Option<String>,
    family: Option<String>,
    started_by: Option<String>,
    group: Option<String>,
    launch_type: Option<String>,
}

impl ListQuery {
    fn keep(&self, t: &Task) -> bool {
        fn family_of(t: &Task) -> Option<&str> {
            t.task_definition_arn
                .rsplit_once('/')
                .and_then(|(_, r)| r.rsplit_once(':'))
                .map(|(fam, _)| fam)
        }
        t.desired_status == self.desired
            && self
                .instance
                .as_ref()
                .is_none_or(|a| t.container_instance_arn.as_ref() == Some(a))
            && self
                .family
                .as_deref()
                .is_none_or(|f| family_of(t) == Some(f))
            && self
                .started_by
                .as_ref()
                .is_none_or(|s| t.started_by.as_ref() == Some(s))
            && self
                .group
                .as_ref()
                .is_none_or(|g| t.group.as_ref() == Some(g))
            && self
                .launch_type
                .as_ref()
                .is_none_or(|l| &t.launch_type == l)
    }
}

/// Appends `s` as a JSON string: as it is when nothing in it needs
/// escaping (ARNs and tokens never do), else through serde_json.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(p: &str, weight: u32, base: u32) -> StrategyItem {
        StrategyItem {
            capacity_provider: p.into(),
            weight,
            base,
        }
    }

    #[test]
    fn strategies_honour_base_then_weight() {
        let s = [item("FARGATE", 1, 2), item("FARGATE_SPOT", 3, 0)];
        let got = spread_providers(&s, 6);
        let spot = got
            .iter()
            .filter(|p| p.as_deref() == Some("FARGATE_SPOT"))
            .count();
        assert_eq!(got[0].as_deref(), Some("FARGATE"));
        assert_eq!(got[1].as_deref(), Some("FARGATE"));
        assert_eq!(spot, 3, "{got:?}");
        let only = spread_providers(&[item("FARGATE", 1, 0)], 3);
        assert!(only.iter().all(|p| p.as_deref() == Some("FARGATE")));
    }
}
