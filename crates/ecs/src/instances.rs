//! Container instances: registration (by the API or an agent), state,
//! attributes.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use dockyard_aws::{ApiError, CallContext};
use dockyard_store::{Compare, Txn};

use crate::EcsService;
use crate::db::{self, Versioned};
use crate::error::{invalid, store as store_err};
use crate::ids::{cluster_name, instance_arn, member_id, new_id, random_hex};
use crate::input::{TagIn, decode, max_results, next_token, tags};
use crate::model::{Attribute, Instance, NodeTask, epoch, instance_key, node_tasks_prefix};

/// Ports every instance keeps for itself, as ECS reserves them.
pub(crate) const RESERVED_PORTS: [u16; 5] = [22, 2375, 2376, 51678, 51679];

/// The attributes ECS sets itself; users may not change them.
fn is_managed_attribute(name: &str) -> bool {
    name.starts_with("ecs.") || name.starts_with("com.amazonaws.ecs.")
}

/// The capabilities a Dockyard agent has, advertised as the ECS agent does
/// so that task definitions' `requiresAttributes` match.
pub(crate) fn capability_attributes() -> Vec<String> {
    let mut v: Vec<String> = [
        "com.amazonaws.ecs.capability.privileged-container",
        "com.amazonaws.ecs.capability.task-iam-role",
        "com.amazonaws.ecs.capability.task-iam-role-network-host",
        "com.amazonaws.ecs.capability.logging-driver.json-file",
        "com.amazonaws.ecs.capability.logging-driver.awslogs",
        "com.amazonaws.ecs.capability.logging-driver.none",
        "com.amazonaws.ecs.capability.ecr-auth",
        "ecs.capability.execution-role-awslogs",
        "ecs.capability.execution-role-ecr-pull",
        "ecs.capability.task-eni",
        "ecs.capability.container-health-check",
        "ecs.capability.container-ordering",
        "ecs.capability.task-cpu-mem-limit",
        "ecs.capability.full-sync",
        "ecs.capability.env-files.s3",
        "ecs.capability.secrets.asm.environment-variables",
        "ecs.capability.secrets.ssm.environment-variables",
        "ecs.capability.increased-task-cpu-limit",
        "ecs.capability.docker-plugin.local",
    ]
    .map(String::from)
    .to_vec();
    v.extend((17..=44).map(|m| format!("com.amazonaws.ecs.capability.docker-remote-api.1.{m}")));
    v
}

fn check_attribute(a: &Attribute) -> Result<(), ApiError> {
    let name_ok = (1..=128).contains(&a.name.len())
        && a.name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_/\\.".contains(&b));
    if !name_ok {
        return Err(invalid(format!(
            "Attribute name must be 1-128 letters, numbers, hyphens, underscores, forward slashes, back slashes, or periods: {}",
            a.name
        )));
    }
    if let Some(v) = &a.value {
        let ok = (1..=128).contains(&v.len())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.@/\\: ".contains(&b));
        if !ok {
            return Err(invalid(format!(
                "Attribute value must be 1-128 letters, numbers, hyphens, underscores, periods, at signs, forward slashes, back slashes, colons, or spaces: {v}"
            )));
        }
    }
    Ok(())
}

/// Facts a registration gives.
pub(crate) struct Registration {
    pub cluster: String,
    pub existing_id: Option<String>,
    pub cpu: u32,
    pub memory: u32,
    pub reserved_ports: Vec<u16>,
    pub attributes: Vec<Attribute>,
    pub tags: Vec<crate::model::Tag>,
    pub address: String,
    pub hostname: String,
    pub agent_version: String,
    pub agent_connected: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceIn {
    name: Option<String>,
    integer_value: Option<i64>,
    long_value: Option<i64>,
    string_set_value: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterIn {
    cluster: Option<String>,
    total_resources: Option<Vec<ResourceIn>>,
    container_instance_arn: Option<String>,
    attributes: Option<Vec<Attribute>>,
    tags: Option<Vec<TagIn>>,
    version_info: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeregisterIn {
    cluster: Option<String>,
    container_instance: Option<String>,
    force: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeIn {
    cluster: Option<String>,
    container_instances: Option<Vec<String>>,
    include: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListIn {
    cluster: Option<String>,
    filter: Option<String>,
    status: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateIn {
    cluster: Option<String>,
    container_instances: Option<Vec<String>>,
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TargetedAttribute {
    name: String,
    value: Option<String>,
    target_type: Option<String>,
    target_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttributesIn {
    cluster: Option<String>,
    attributes: Option<Vec<TargetedAttribute>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListAttributesIn {
    cluster: Option<String>,
    target_type: Option<String>,
    attribute_name: Option<String>,
    attribute_value: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

/// What tasks on a node hold: counts and resources.
#[derive(Default)]
pub(crate) struct NodeUse {
    pub running: usize,
    pub pending: usize,
    pub cpu: u32,
    pub memory: u32,
    pub ports: Vec<u16>,
    pub ports_udp: Vec<u16>,
    pub tasks: Vec<NodeTask>,
}

impl EcsService {
    /// The tasks placed on a node and what they hold.
    pub(crate) fn node_use(&self, node: &str) -> Result<NodeUse, ApiError> {
        let mut u = NodeUse::default();
        for v in db::list::<NodeTask>(self.store.as_ref(), &node_tasks_prefix(node))? {
            let t = v.value;
            u.cpu += t.cpu;
            u.memory += t.memory;
            u.ports.extend(&t.host_ports);
            u.ports_udp.extend(&t.host_ports_udp);
            u.tasks.push(t);
        }
        for t in &u.tasks {
            let id = t.task_arn.rsplit('/').next().unwrap_or_default();
            if let Some(task) = self.index.get(&t.cluster, id) {
                if task.last_status == "RUNNING" {
                    u.running += 1;
                } else if task.is_pending() {
                    u.pending += 1;
                }
            }
        }
        Ok(u)
    }

    pub(crate) fn render_instance(&self, i: &Instance, with_tags: bool) -> Result<Value, ApiError> {
        let used = self.node_use(&i.id)?;
        let resources = |cpu: u32, mem: u32, ports: &[u16], udp: &[u16]| {
            let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
            let udp: Vec<String> = udp.iter().map(u16::to_string).collect();
            json!([
                {"name": "CPU", "type": "INTEGER", "doubleValue": 0.0, "longValue": 0, "integerValue": cpu},
                {"name": "MEMORY", "type": "INTEGER", "doubleValue": 0.0, "longValue": 0, "integerValue": mem},
                {"name": "PORTS", "type": "STRINGSET", "doubleValue": 0.0, "longValue": 0, "integerValue": 0, "stringSetValue": ports},
                {"name": "PORTS_UDP", "type": "STRINGSET", "doubleValue": 0.0, "longValue": 0, "integerValue": 0, "stringSetValue": udp},
            ])
        };
        let mut held: Vec<u16> = i.reserved_ports.clone();
        held.extend(&used.ports);
        held.sort_unstable();
        held.dedup();
        let mut held_udp = used.ports_udp.clone();
        held_udp.sort_unstable();
        held_udp.dedup();
        let mut v = json!({
            "containerInstanceArn": i.arn,
            "ec2InstanceId": i.ec2_instance_id,
            "version": i.version,
            "versionInfo": {"agentVersion": i.agent_version, "agentHash": "dockyard", "dockerVersion": "DockerVersion: dockyard"},
            "registeredResources": resources(i.cpu, i.memory, &i.reserved_ports, &[]),
            "remainingResources": resources(
                i.cpu.saturating_sub(used.cpu),
                i.memory.saturating_sub(used.memory),
                &held,
                &held_udp,
            ),
            "status": i.status,
            "agentConnected": i.agent_connected,
            "runningTasksCount": used.running,
            "pendingTasksCount": used.pending,
            "attributes": i.attributes,
            "registeredAt": epoch(i.registered_ms),
            "attachments": [],
        });
        if let Some(r) = &i.status_reason {
            v["statusReason"] = json!(r);
        }
        if with_tags {
            v["tags"] = json!(i.tags);
        }
        Ok(v)
    }

    /// Registers (or re-registers) a container instance; the agent
    /// endpoint and `RegisterContainerInstance` both come here.
    pub(crate) fn register_instance(
        &self,
        ctx: &CallContext,
        reg: Registration,
    ) -> Result<Instance, ApiError> {
        self.active_cluster(&reg.cluster)?;
        let mut attributes: Vec<Attribute> = vec![
            Attribute {
                name: "ecs.os-type".into(),
                value: Some("linux".into()),
            },
            Attribute {
                name: "ecs.os-family".into(),
                value: Some("LINUX".into()),
            },
            Attribute {
                name: "ecs.cpu-architecture".into(),
                value: Some(std::env::consts::ARCH.replace("aarch64", "arm64")),
            },
            Attribute {
                name: "ecs.instance-type".into(),
                value: Some("dockyard".into()),
            },
        ];
        attributes.extend(
            capability_attributes()
                .into_iter()
                .map(|name| Attribute { name, value: None }),
        );
        let mut has_zone = false;
        for a in reg.attributes {
            check_attribute(&a)?;
            has_zone |= a.name == "ecs.availability-zone";
            attributes.retain(|x| x.name != a.name);
            attributes.push(a);
        }
        if !has_zone {
            attributes.push(Attribute {
                name: "ecs.availability-zone".into(),
                value: Some(self.opts.availability_zone.clone()),
            });
        }
        let id = reg.existing_id.unwrap_or_else(new_id);
        let key = instance_key(&reg.cluster, &id);
        loop {
            let cur = db::get::<Instance>(self.store.as_ref(), &key)?;
            let record = Instance {
                id: id.clone(),
                arn: instance_arn(ctx, &reg.cluster, &id),
                cluster: reg.cluster.clone(),
                ec2_instance_id: cur
                    .as_ref()
                    .map(|c| c.value.ec2_instance_id.clone())
                    .unwrap_or_else(|| format!("i-{}", &random_hex(9)[..17])),
                status: "ACTIVE".into(),
                status_reason: None,
                agent_connected: reg.agent_connected,
                cpu: reg.cpu,
                memory: reg.memory,
                reserved_ports: reg.reserved_ports.clone(),
                attributes: attributes.clone(),
                registered_ms: cur
                    .as_ref()
                    .map(|c| c.value.registered_ms)
                    .unwrap_or_else(|| ctx.now.timestamp_millis()),
                version: cur.as_ref().map(|c| c.value.version + 1).unwrap_or(1),
                tags: match &cur {
                    Some(c) if reg.tags.is_empty() => c.value.tags.clone(),
                    _ => reg.tags.clone(),
                },
                address: reg.address.clone(),
                hostname: reg.hostname.clone(),
                agent_version: reg.agent_version.clone(),
            };
            let compare = match &cur {
                Some(c) => Compare::ModRevision(key.clone(), c.mod_revision),
                None => Compare::Missing(key.clone()),
            };
            let r = self
                .store
                .txn(Txn {
                    compares: vec![compare],
                    success: vec![db::put(&key, &record)],
                    failure: vec![],
                })
                .map_err(store_err)?;
            if r.succeeded {
                return Ok(record);
            }
        }
    }

    /// An instance of the cluster by id or ARN.
    pub(crate) fn instance(
        &self,
        ctx: &CallContext,
        cluster: &str,
        given: &str,
    ) -> Result<Option<Versioned<Instance>>, ApiError> {
        let id = member_id(ctx, "container-instance", cluster, given)?;
        db::get(self.store.as_ref(), &instance_key(cluster, &id))
    }

    pub(crate) fn register_container_instance(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: RegisterIn = decode(input)?;
        let cluster = cluster_name(ctx, i.cluster.as_deref())?;
        let mut cpu = 0u32;
        let mut memory = 0u32;
        let mut ports: Vec<u16> = RESERVED_PORTS.to_vec();
        for r in i.total_resources.unwrap_or_default() {
            let n = r.integer_value.or(r.long_value).unwrap_or(0);
            match r.name.as_deref() {
                Some("CPU") => cpu = u32::try_from(n).map_err(|_| invalid("Invalid CPU value"))?,
                Some("MEMORY") => {
                    memory = u32::try_from(n).map_err(|_| invalid("Invalid MEMORY value"))?
                }
                Some("PORTS") => {
                    for p in r.string_set_value.unwrap_or_default() {
                        ports.push(
                            p.parse()
                                .map_err(|_| invalid(format!("Invalid port value: {p}")))?,
                        );
                    }
                }
                _ => {}
            }
        }
        ports.sort_unstable();
        ports.dedup();
        let existing_id = match &i.container_instance_arn {
            Some(a) => Some(member_id(ctx, "container-instance", &cluster, a)?),
            None => None,
        };
        let agent_version = i
            .version_info
            .as_ref()
            .and_then(|v| v["agentVersion"].as_str())
            .unwrap_or_default()
            .to_string();
        let inst = self.register_instance(
            ctx,
            Registration {
                cluster,
                existing_id,
                cpu,
                memory,
                reserved_ports: ports,
                attributes: i.attributes.unwrap_or_default(),
                tags: tags(i.tags)?,
                address: String::new(),
                hostname: String::new(),
                agent_version,
                agent_connected: false,
            },
        )?;
        Ok(json!({"containerInstance": self.render_instance(&inst, true)?}))
    }

    pub(crate) fn deregister_container_instance(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: DeregisterIn = decode(input)?;
        let cluster = cluster_name(ctx, i.cluster.as_deref())?;
        self.active_cluster(&cluster)?;
        let given = i
            .container_instance
            .ok_or_else(|| invalid("containerInstance must be specified."))?;
        let not_found = || {
            ApiError::client(
                "ClientException",
                format!("Container instance {given} not found in cluster {cluster}."),
            )
        };
        let Some(cur) = self.instance(ctx, &cluster, &given)? else {
            return Err(not_found());
        };
        if !i.force.unwrap_or(false) && !self.node_use(&cur.value.id)?.tasks.is_empty() {
            return Err(invalid(
                "Found running tasks on the instance. Use the force option to deregister it anyway.",
            ));
        }
        let key = instance_key(&cluster, &cur.value.id);
        let inst = db::update(
            self.store.as_ref(),
            &key,
            not_found,
            |x: &mut Instance, _| {
                x.status = "INACTIVE".into();
                x.agent_connected = false;
                x.version += 1;
                Ok(())
            },
        )?;
        // Its tasks are orphaned, as on ECS: no longer accounted for, and
        // their services start replacements elsewhere.
        self.lose_node_tasks(
            &cur.value.id,
            crate::services::LOST_REASON,
            ctx.now.timestamp_millis(),
        )?;
        Ok(json!({"containerInstance": self.render_instance(&inst, false)?}))
    }

    pub(crate) fn describe_container_instances(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: DescribeIn = decode(input)?;
        let cluster = cluster_name(ctx, i.cluster.as_deref())?;
        self.active_cluster(&cluster)?;
        let with_tags = i
            .include
            .unwrap_or_default()
            .iter()
            .any(|s| s == "TAGS" || s == "CONTAINER_INSTANCE_HEALTH");
        let given = i
            .container_instances
            .ok_or_else(|| invalid("containerInstances must be specified."))?;
        if given.len() > 100 {
            return Err(invalid("containerInstances can have at most 100 items."));
        }
        let mut out = Vec::new();
        let mut failures = Vec::new();
        for g in given {
            match self.instance(ctx, &cluster, &g) {
                Ok(Some(inst)) => out.push(self.render_instance(&inst.value, with_tags)?),
                Ok(None) | Err(_) => {
                    let a = if g.starts_with("arn:") {
                        g
                    } else {
                        instance_arn(ctx, &cluster, &g)
                    };
                    failures.push(json!({"arn": a, "reason": "MISSING"}));
                }
            }
        }
        Ok(json!({"containerInstances": out, "failures": failures}))
    }

    pub(crate) fn cluster_instances(&self, cluster: &str) -> Result<Vec<Instance>, ApiError> {
        Ok(db::list::<Instance>(
            self.store.as_ref(),
            &format!("{}{cluster}/", crate::model::INSTANCES),
        )?
        .into_iter()
        .map(|v| v.value)
        .collect())
    }

    pub(crate) fn list_container_instances(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: ListIn = decode(input)?;
        let cluster = cluster_name(ctx, i.cluster.as_deref())?;
        self.active_cluster(&cluster)?;
        let n = max_results(i.max_results, 100)?;
        let after = next_token(i.next_token.as_deref())?;
        if let Some(s) = &i.status
            && ![
                "ACTIVE",
                "DRAINING",
                "REGISTERING",
                "DEREGISTERING",
                "REGISTRATION_FAILED",
            ]
            .contains(&s.as_str())
        {
            return Err(invalid(format!("Invalid status: {s}")));
        }
        let mut all: Vec<Instance> = self
            .cluster_instances(&cluster)?
            .into_iter()
            .filter(|x| match &i.status {
                Some(s) => &x.status == s,
                None => x.status != "INACTIVE",
            })
            .collect();
        if let Some(f) = i.filter.as_deref().filter(|f| !f.trim().is_empty()) {
            let states = self.placement_states(&all)?;
            let keep = dockyard_scheduler::filter_instances(f, &states)
                .map_err(|e| invalid(e.0))?
                .into_iter()
                .map(|s| s.id.clone())
                .collect::<Vec<_>>();
            all.retain(|x| keep.contains(&x.id));
        }
        let (page, token) =
            dockyard_aws::input::paginate(all, |x| x.id.clone(), after.as_deref(), n);
        Ok(crate::input::with_token(
            json!({"containerInstanceArns": page.iter().map(|x| &x.arn).collect::<Vec<_>>()}),
            token,
        ))
    }

    pub(crate) fn update_container_instances_state(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: StateIn = decode(input)?;
        let cluster = cluster_name(ctx, i.cluster.as_deref())?;
        self.active_cluster(&cluster)?;
        let status = i.status.unwrap_or_default();
        if !["ACTIVE", "DRAINING"].contains(&status.as_str()) {
            return Err(invalid(format!(
                "Container instances can only be set to ACTIVE or DRAINING: {status}"
            )));
        }
        let given = i
            .container_instances
            .ok_or_else(|| invalid("containerInstances must be specified."))?;
        let mut out = Vec::new();
        let mut failures = Vec::new();
        for g in given {
            let Some(cur) = self.instance(ctx, &cluster, &g).ok().flatten() else {
                failures.push(json!({"arn": g, "reason": "MISSING"}));
                continue;
            };
            if cur.value.status == "INACTIVE" {
                failures.push(json!({"arn": cur.value.arn, "reason": "INACTIVE"}));
                continue;
            }
            let key = instance_key(&cluster, &cur.value.id);
            let inst = db::update(
                self.store.as_ref(),
                &key,
                crate::error::cluster_not_found,
                |x: &mut Instance, _| {
                    if x.status != status {
                        x.status = status.clone();
                        x.version += 1;
                    }
                    Ok(())
                },
            )?;
            out.push(self.render_instance(&inst, false)?);
        }
        Ok(json!({"containerInstances": out, "failures": failures}))
    }

    fn change_attributes(
        &self,
        ctx: &CallContext,
        input: Value,
        put: bool,
    ) -> Result<Value, ApiError> {
        let i: AttributesIn = decode(input)?;
        let cluster = cluster_name(ctx, i.cluster.as_deref())?;
        self.active_cluster(&cluster)?;
        let attrs = i
            .attributes
            .ok_or_else(|| invalid("attributes must be specified."))?;
        if attrs.len() > 10 {
            return Err(ApiError::client(
                "AttributeLimitExceededException",
                "You can specify up to 10 attributes per call.",
            ));
        }
        let mut by_target: BTreeMap<String, Vec<&TargetedAttribute>> = BTreeMap::new();
        for a in &attrs {
            if a.target_type
                .as_deref()
                .is_some_and(|t| t != "container-instance")
            {
                return Err(invalid("targetType must be container-instance."));
            }
            let target = a
                .target_id
                .as_deref()
                .ok_or_else(|| invalid("targetId must be specified."))?;
            let attr = Attribute {
                name: a.name.clone(),
                value: a.value.clone(),
            };
            check_attribute(&attr)?;
            if is_managed_attribute(&a.name) && put {
                return Err(invalid(format!(
                    "Attribute {} is reserved and cannot be changed.",
                    a.name
                )));
            }
            by_target.entry(target.to_string()).or_default().push(a);
        }
        let mut out = Vec::new();
        for (target, list) in by_target {
            let missing = || {
                ApiError::client(
                    "TargetNotFoundException",
                    format!("Could not find {target}."),
                )
            };
            let Some(cur) = self.instance(ctx, &cluster, &target).ok().flatten() else {
                return Err(missing());
            };
            let key = instance_key(&cluster, &cur.value.id);
            let inst = db::update(self.store.as_ref(), &key, missing, |x: &mut Instance, _| {
                for a in &list {
                    x.attributes.retain(|o| o.name != a.name);
                    if put {
                        x.attributes.push(Attribute {
                            name: a.name.clone(),
                            value: a.value.clone(),
                        });
                    }
                }
                let custom = x
                    .attributes
                    .iter()
                    .filter(|a| !is_managed_attribute(&a.name))
                    .count();
                if custom > 10 {
                    return Err(ApiError::client(
                        "AttributeLimitExceededException",
                        "A resource can have at most 10 custom attributes.",
                    ));
                }
                x.version += 1;
                Ok(())
            })?;
            for a in list {
                out.push(json!({
                    "name": a.name,
                    "value": a.value,
                    "targetType": "container-instance",
                    "targetId": inst.arn,
                }));
            }
        }
        Ok(json!({"attributes": out}))
    }

    pub(crate) fn put_attributes(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        self.change_attributes(ctx, input, true)
    }

    pub(crate) fn delete_attributes(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        self.change_attributes(ctx, input, false)
    }

    pub(crate) fn list_attributes(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: ListAttributesIn = decode(input)?;
        let cluster = cluster_name(ctx, i.cluster.as_deref())?;
        self.active_cluster(&cluster)?;
        if i.target_type.as_deref() != Some("container-instance") {
            return Err(invalid("targetType must be container-instance."));
        }
        if i.attribute_value.is_some() && i.attribute_name.is_none() {
            return Err(invalid(
                "attributeName must be specified when attributeValue is specified.",
            ));
        }
        let n = max_results(i.max_results, 100)?;
        let after = next_token(i.next_token.as_deref())?;
        let mut all = Vec::new();
        for x in self.cluster_instances(&cluster)? {
            if x.status == "INACTIVE" {
                continue;
            }
            for a in &x.attributes {
                if i.attribute_name.as_ref().is_some_and(|n| n != &a.name)
                    || i.attribute_value
                        .as_ref()
                        .is_some_and(|v| Some(v) != a.value.as_ref())
                {
                    continue;
                }
                all.push((format!("{}/{}", x.id, a.name), x.arn.clone(), a.clone()));
            }
        }
        let (page, token) =
            dockyard_aws::input::paginate(all, |(k, _, _)| k.clone(), after.as_deref(), n);
        let attrs: Vec<Value> = page
            .into_iter()
            .map(|(_, arn, a)| {
                let mut v =
                    json!({"name": a.name, "targetType": "container-instance", "targetId": arn});
                if let Some(val) = a.value {
                    v["value"] = json!(val);
                }
                v
            })
            .collect();
        Ok(crate::input::with_token(
            json!({ "attributes": attrs }),
            token,
        ))
    }
}
