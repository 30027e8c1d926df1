//! From store records to `dockyard_scheduler`'s view and back: which node
//! each task of a launch goes to.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use dockyard_aws::{ApiError, CallContext};
use dockyard_scheduler::{
    HostPort, InstanceState, InstanceStatus, PlaceError, PlacedTask, Protocol, RequiredAttribute,
    Resources, TaskRequest, parse_constraints, parse_strategies, parse_task_definition_constraints,
};

use crate::EcsService;
use crate::db;
use crate::error::invalid;
use crate::model::{FARGATE_NODES, FargateNode, Instance, NodeTask};
use crate::tasks::Launch;

/// The capacity a launch draws on.
pub(crate) enum Pool {
    /// A cluster's container instances (EC2 launch type).
    Cluster(String),
    /// The managed capacity behind FARGATE.
    Fargate,
}

impl Pool {
    pub fn name(&self) -> &str {
        match self {
            Self::Cluster(c) => c,
            Self::Fargate => crate::model::FARGATE_POOL,
        }
    }
}

/// Where one task goes.
pub(crate) struct Target {
    pub node_id: String,
    pub container_instance_arn: Option<String>,
    pub availability_zone: String,
    pub cpu: u32,
    pub memory: u32,
    /// Fixed TCP host ports.
    pub host_ports: Vec<u16>,
    /// Fixed UDP host ports: taken separately from TCP ones.
    pub host_ports_udp: Vec<u16>,
}

pub(crate) struct Plan {
    pub targets: Vec<Target>,
    pub failures: Vec<Value>,
}

const FARGATE_CAPACITY: &str = "Capacity is unavailable at this time. Please try again later or in a different availability zone";

fn status(s: &str) -> InstanceStatus {
    match s {
        "ACTIVE" => InstanceStatus::Active,
        "DRAINING" => InstanceStatus::Draining,
        "REGISTERING" => InstanceStatus::Registering,
        "REGISTRATION_FAILED" => InstanceStatus::RegistrationFailed,
        "DEREGISTERING" => InstanceStatus::Deregistering,
        _ => InstanceStatus::Inactive,
    }
}

fn placed(t: &NodeTask) -> PlacedTask {
    PlacedTask {
        arn: t.task_arn.clone(),
        group: t.group.clone(),
        family: t.family.clone(),
        task_definition_arn: t.task_definition_arn.clone(),
        cpu: t.cpu,
        memory: t.memory,
        ports: t
            .host_ports
            .iter()
            .map(|p| HostPort::tcp(*p))
            .chain(t.host_ports_udp.iter().map(|p| HostPort::udp(*p)))
            .collect(),
        desired_stopped: t.desired_stopped,
    }
}

fn seed() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("the kernel's random source is always readable");
    u64::from_le_bytes(b)
}

impl EcsService {
    /// Container instances as placement (and the query language) sees them.
    pub(crate) fn placement_states(
        &self,
        instances: &[Instance],
    ) -> Result<Vec<InstanceState>, ApiError> {
        let mut out = Vec::with_capacity(instances.len());
        for i in instances {
            let tasks =
                db::list::<NodeTask>(self.store.as_ref(), &crate::model::node_tasks_prefix(&i.id))?;
            out.push(InstanceState {
                arn: i.arn.clone(),
                id: i.id.clone(),
                ec2_instance_id: i.ec2_instance_id.clone(),
                status: status(&i.status),
                agent_connected: i.agent_connected,
                agent_version: i.agent_version.clone(),
                registered_at: i.registered_ms / 1000,
                registered: Resources {
                    cpu: i.cpu,
                    memory: i.memory,
                    ports_tcp: i.reserved_ports.iter().copied().collect::<BTreeSet<_>>(),
                    ports_udp: BTreeSet::new(),
                },
                attributes: i
                    .attributes
                    .iter()
                    .map(|a| (a.name.clone(), a.value.clone()))
                    .collect::<BTreeMap<_, _>>(),
                tasks: tasks.iter().map(|t| placed(&t.value)).collect(),
            });
        }
        Ok(out)
    }

    fn fargate_states(&self) -> Result<(Vec<InstanceState>, Vec<FargateNode>), ApiError> {
        let nodes: Vec<FargateNode> = db::list::<FargateNode>(self.store.as_ref(), FARGATE_NODES)?
            .into_iter()
            .map(|v| v.value)
            .collect();
        let mut states = Vec::new();
        for n in &nodes {
            let tasks =
                db::list::<NodeTask>(self.store.as_ref(), &crate::model::node_tasks_prefix(&n.id))?;
            states.push(InstanceState {
                arn: n.id.clone(),
                id: n.id.clone(),
                status: InstanceStatus::Active,
                agent_connected: n.agent_connected,
                registered: Resources {
                    cpu: n.cpu,
                    memory: n.memory,
                    ..Resources::default()
                },
                tasks: tasks.iter().map(|t| placed(&t.value)).collect(),
                ..InstanceState::default()
            });
        }
        Ok((states, nodes))
    }

    fn request(&self, l: &Launch) -> Result<TaskRequest, ApiError> {
        let def = &l.effective;
        let res = def.resources();
        let mode = def.network_mode.as_deref().unwrap_or("bridge");
        let mut ports: Vec<HostPort> = Vec::new();
        for c in &def.container_definitions {
            for p in &c.port_mappings {
                let fixed = match mode {
                    "bridge" => p.host_port.filter(|h| *h != 0),
                    "host" => p.host_port.or(p.container_port),
                    _ => None,
                };
                if let Some(port) = fixed {
                    ports.push(match p.protocol.as_deref() {
                        Some(udp) if udp.eq_ignore_ascii_case("udp") => HostPort::udp(port as u16),
                        _ => HostPort::tcp(port as u16),
                    });
                }
            }
        }
        let bad = |e: dockyard_scheduler::Invalid| invalid(e.0);
        let req = TaskRequest {
            cpu: res.cpu,
            memory: res.memory,
            host_ports: ports,
            group: l.group.clone(),
            family: l.definition.family.clone(),
            constraints: parse_constraints(&l.constraints).map_err(bad)?,
            strategies: parse_strategies(&l.strategies).map_err(bad)?,
            task_definition_constraints: parse_task_definition_constraints(
                &def.placement_constraints
                    .iter()
                    .map(|c| serde_json::to_value(c).unwrap_or(Value::Null))
                    .collect::<Vec<_>>(),
            )
            .map_err(bad)?,
            required_attributes: def
                .requires_attributes
                .iter()
                .map(|a| RequiredAttribute {
                    name: a.name.clone(),
                    value: a.value.clone(),
                })
                .collect(),
        };
        Ok(req)
    }

    /// Chooses a node for each task of the launch.
    pub(crate) fn plan(
        &self,
        ctx: &CallContext,
        pool: &Pool,
        l: &Launch,
    ) -> Result<Plan, ApiError> {
        let req = self.request(l)?;
        let ports_of = |protocol: Protocol| -> Vec<u16> {
            req.host_ports
                .iter()
                .filter(|p| p.protocol == protocol)
                .map(|p| p.port)
                .collect()
        };
        let (tcp, udp) = (ports_of(Protocol::Tcp), ports_of(Protocol::Udp));
        let target = |node_id: String, arn: Option<String>, zone: String| Target {
            node_id,
            container_instance_arn: arn,
            availability_zone: zone,
            cpu: req.cpu,
            memory: req.memory,
            host_ports: tcp.clone(),
            host_ports_udp: udp.clone(),
        };
        match pool {
            Pool::Fargate => {
                let (states, nodes) = self.fargate_states()?;
                let mut req = req.clone();
                req.required_attributes.clear();
                let fail_all = |n: usize| {
                    Plan {
                    targets: vec![],
                    failures: (0..n)
                        .map(|_| json!({"arn": crate::ids::arn(ctx, "capacity-provider/FARGATE"), "reason": FARGATE_CAPACITY}))
                        .take(1)
                        .collect(),
                }
                };
                let p = match dockyard_scheduler::place(&req, l.count, &states, seed()) {
                    Ok(p) => p,
                    Err(PlaceError::NoContainerInstances) => return Ok(fail_all(l.count)),
                    Err(PlaceError::Invalid(e)) => return Err(invalid(e.0)),
                };
                let mut plan = Plan {
                    targets: vec![],
                    failures: vec![],
                };
                for (_, id) in p.placed {
                    let zone = nodes
                        .iter()
                        .find(|n| n.id == id)
                        .map(|n| n.availability_zone.clone())
                        .unwrap_or_else(|| self.opts.availability_zone.clone());
                    plan.targets.push(target(id, None, zone));
                }
                if !p.unplaced.is_empty() {
                    plan.failures = fail_all(p.unplaced.len()).failures;
                }
                Ok(plan)
            }
            Pool::Cluster(cluster) => {
                let instances = self.cluster_instances(cluster)?;
                let mut states = self.placement_states(&instances)?;
                let zone_of = |arn: &str| {
                    instances
                        .iter()
                        .find(|i| i.arn == arn)
                        .and_then(|i| {
                            i.attributes
                                .iter()
                                .find(|a| a.name == "ecs.availability-zone")
                                .and_then(|a| a.value.clone())
                        })
                        .unwrap_or_else(|| self.opts.availability_zone.clone())
                };
                let id_of = |arn: &str| arn.rsplit('/').next().unwrap_or(arn).to_string();
                let mut plan = Plan {
                    targets: vec![],
                    failures: vec![],
                };
                let no_instances = || invalid("No Container Instances were found in your cluster.");
                match &l.on_instances {
                    None => {
                        let p = match dockyard_scheduler::place(&req, l.count, &states, seed()) {
                            Ok(p) => p,
                            Err(PlaceError::NoContainerInstances) => return Err(no_instances()),
                            Err(PlaceError::Invalid(e)) => return Err(invalid(e.0)),
                        };
                        for (_, arn) in p.placed {
                            plan.targets.push(target(
                                id_of(&arn),
                                Some(arn.clone()),
                                zone_of(&arn),
                            ));
                        }
                        plan.failures = p
                            .failures
                            .iter()
                            .map(|f| json!({"arn": f.arn, "reason": f.reason.as_str()}))
                            .collect();
                    }
                    Some(named) => {
                        // StartTask: one task on each named instance.
                        let mut req = req.clone();
                        req.strategies.clear();
                        for given in named {
                            let id =
                                crate::ids::member_id(ctx, "container-instance", cluster, given)?;
                            let Some(idx) = states.iter().position(|s| s.id == id) else {
                                plan.failures
                                    .push(json!({"arn": given, "reason": "MISSING"}));
                                continue;
                            };
                            let one = std::slice::from_ref(&states[idx]);
                            match dockyard_scheduler::place(&req, 1, one, seed()) {
                                Ok(p) if !p.placed.is_empty() => {
                                    let arn = states[idx].arn.clone();
                                    states[idx].tasks.push(PlacedTask {
                                        arn: String::new(),
                                        group: req.effective_group(),
                                        family: req.family.clone(),
                                        cpu: req.cpu,
                                        memory: req.memory,
                                        ports: req.host_ports.clone(),
                                        ..PlacedTask::default()
                                    });
                                    plan.targets
                                        .push(target(id, Some(arn.clone()), zone_of(&arn)));
                                }
                                Ok(p) => {
                                    plan.failures.extend(p.failures.iter().map(
                                        |f| json!({"arn": f.arn, "reason": f.reason.as_str()}),
                                    ))
                                }
                                Err(PlaceError::NoContainerInstances) => plan
                                    .failures
                                    .push(json!({"arn": states[idx].arn, "reason": "INACTIVE"})),
                                Err(PlaceError::Invalid(e)) => return Err(invalid(e.0)),
                            }
                        }
                    }
                }
                Ok(plan)
            }
        }
    }
}
