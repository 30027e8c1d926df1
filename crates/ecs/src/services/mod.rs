//! Services: CreateService, UpdateService, DeleteService, DescribeServices,
//! ListServices, ListServicesByNamespace, and the service deployments
//! ([`deployments`]). The scheduler that keeps them running is [`run`].

mod balancing;
mod deployments;
mod render;
mod run;

use serde::Deserialize;
use serde_json::{Value, json};

use dockyard_aws::{ApiError, CallContext};
use dockyard_reconciler::{CircuitBreaker, Scheduling, deploy};
use dockyard_store::{Compare, Txn};

use crate::EcsService;
use crate::db::{self, Versioned};
use crate::error::{invalid, store as store_err};
use crate::ids::{cluster_name, resource_of};
use crate::input::{TagIn, decode, max_results, next_token, tags, with_token};
use crate::model::{
    SERVICES, ServiceEvent, ServiceRecord, StrategyItem, Tag, service_key, services_prefix,
};

pub use run::LOST_REASON;

/// ECS's quota of tasks per service.
const MAX_DESIRED: i64 = 5000;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CircuitBreakerIn {
    enable: Option<bool>,
    rollback: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DeploymentConfigIn {
    deployment_circuit_breaker: Option<CircuitBreakerIn>,
    maximum_percent: Option<i64>,
    minimum_healthy_percent: Option<i64>,
    alarms: Option<Value>,
    strategy: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateIn {
    cluster: Option<String>,
    service_name: Option<String>,
    task_definition: Option<String>,
    load_balancers: Option<Vec<Value>>,
    service_registries: Option<Vec<Value>>,
    desired_count: Option<i64>,
    client_token: Option<String>,
    launch_type: Option<String>,
    capacity_provider_strategy: Option<Vec<StrategyItem>>,
    platform_version: Option<String>,
    role: Option<String>,
    deployment_configuration: Option<DeploymentConfigIn>,
    placement_constraints: Option<Vec<Value>>,
    placement_strategy: Option<Vec<Value>>,
    network_configuration: Option<Value>,
    health_check_grace_period_seconds: Option<i64>,
    scheduling_strategy: Option<String>,
    deployment_controller: Option<Value>,
    tags: Option<Vec<TagIn>>,
    #[serde(rename = "enableECSManagedTags")]
    enable_ecs_managed_tags: Option<bool>,
    propagate_tags: Option<String>,
    enable_execute_command: Option<bool>,
    service_connect_configuration: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateIn {
    cluster: Option<String>,
    service: Option<String>,
    desired_count: Option<i64>,
    task_definition: Option<String>,
    capacity_provider_strategy: Option<Vec<StrategyItem>>,
    deployment_configuration: Option<DeploymentConfigIn>,
    network_configuration: Option<Value>,
    placement_constraints: Option<Vec<Value>>,
    placement_strategy: Option<Vec<Value>>,
    platform_version: Option<String>,
    force_new_deployment: Option<bool>,
    health_check_grace_period_seconds: Option<i64>,
    enable_execute_command: Option<bool>,
    #[serde(rename = "enableECSManagedTags")]
    enable_ecs_managed_tags: Option<bool>,
    load_balancers: Option<Vec<Value>>,
    propagate_tags: Option<String>,
    service_registries: Option<Vec<Value>>,
    deployment_controller: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteIn {
    cluster: Option<String>,
    service: Option<String>,
    force: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeIn {
    cluster: Option<String>,
    services: Option<Vec<String>>,
    include: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListIn {
    cluster: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
    launch_type: Option<String>,
    scheduling_strategy: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ByNamespaceIn {
    namespace: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

pub(crate) fn service_not_found() -> ApiError {
    ApiError::client("ServiceNotFoundException", "Service not found.")
}

fn not_active() -> ApiError {
    ApiError::client("ServiceNotActiveException", "Service was not ACTIVE.")
}

fn valid_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A service given by name or ARN (`service/CLUSTER/NAME`, or the old
/// `service/NAME`), within `cluster`.
pub(crate) fn service_name(
    ctx: &CallContext,
    cluster: &str,
    given: &str,
) -> Result<String, ApiError> {
    if !given.starts_with("arn:") {
        return Ok(given.to_string());
    }
    let rest = resource_of(ctx, given)
        .and_then(|r| r.strip_prefix("service/"))
        .ok_or_else(|| invalid(format!("Invalid service identifier: {given}")))?;
    match rest.split_once('/') {
        Some((c, name)) if c == cluster => Ok(name.to_string()),
        Some(_) => Err(invalid(format!(
            "The service {given} is not in cluster {cluster}"
        ))),
        None => Ok(rest.to_string()),
    }
}

impl EcsService {
    /// The task definition a CreateService or UpdateService names; ECS
    /// words a missing one differently there than RunTask does.
    fn service_taskdef(
        &self,
        ctx: &CallContext,
        given: &str,
    ) -> Result<dockyard_taskdef::TaskDefinition, ApiError> {
        self.find_taskdef(ctx, given)?
            .ok_or_else(|| crate::error::client("TaskDefinition not found."))
    }
}

/// A new deployment id: `ecs-svc/` and 19 digits, as ECS's.
pub(crate) fn new_deployment_id() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("the kernel's random source is always readable");
    let n = u64::from_le_bytes(b) % 9_000_000_000_000_000_000 + 1_000_000_000_000_000_000;
    format!("ecs-svc/{n}")
}

/// The deployment settings after applying `given` over `current` (min,
/// max, circuit breaker), checked as ECS does.
fn deployment_settings(
    scheduling: Scheduling,
    given: Option<&DeploymentConfigIn>,
    current: Option<(u32, u32, CircuitBreaker)>,
) -> Result<(u32, u32, CircuitBreaker), ApiError> {
    let (def_min, def_max) = match scheduling {
        Scheduling::Replica => (100, 200),
        Scheduling::Daemon => (0, 100),
    };
    let (mut min, mut max, mut cb) =
        current.unwrap_or((def_min, def_max, CircuitBreaker::default()));
    if let Some(g) = given {
        if let Some(m) = g.minimum_healthy_percent {
            if !(0..=100).contains(&m) {
                return Err(invalid("minimumHealthyPercent must be between 0 and 100."));
            }
            min = m as u32;
        }
        if let Some(m) = g.maximum_percent {
            if !(0..=2000).contains(&m) {
                return Err(invalid("maximumPercent must be between 0 and 2000."));
            }
            max = m as u32;
        }
        if let Some(c) = &g.deployment_circuit_breaker {
            cb = CircuitBreaker {
                enable: c
                    .enable
                    .ok_or_else(|| invalid("deploymentCircuitBreaker.enable must be specified."))?,
                rollback: c.rollback.ok_or_else(|| {
                    invalid("deploymentCircuitBreaker.rollback must be specified.")
                })?,
            };
        }
        if let Some(s) = &g.strategy
            && s != "ROLLING"
        {
            return Err(invalid(format!(
                "The deployment strategy {s} is not supported by Dockyard; use ROLLING."
            )));
        }
    }
    if scheduling == Scheduling::Daemon && max != 100 {
        return Err(invalid(
            "The daemon scheduling strategy does not support a maximumPercent other than 100.",
        ));
    }
    if scheduling == Scheduling::Replica && max < 100 {
        return Err(invalid(
            "maximumPercent must be at least 100 for a service with the REPLICA scheduling strategy.",
        ));
    }
    if min > max {
        return Err(invalid(format!(
            "The minimumHealthyPercent ({min}) cannot be greater than the maximumPercent ({max})."
        )));
    }
    Ok((min, max, cb))
}

fn check_controller(c: Option<&Value>) -> Result<(), ApiError> {
    match c.and_then(|c| c["type"].as_str()) {
        None | Some("ECS") => Ok(()),
        Some(t @ ("CODE_DEPLOY" | "EXTERNAL")) => Err(ApiError::client(
            "UnsupportedFeatureException",
            format!("The {t} deployment controller is not supported by Dockyard."),
        )),
        Some(t) => Err(invalid(format!("Invalid deployment controller type: {t}"))),
    }
}

fn check_grace(g: Option<i64>) -> Result<Option<u32>, ApiError> {
    match g {
        None => Ok(None),
        Some(n @ 0..=2_147_483_647) => Ok(Some(n as u32)),
        Some(_) => Err(invalid(
            "healthCheckGracePeriodSeconds must be between 0 and 2147483647.",
        )),
    }
}

fn check_propagate(p: Option<&str>) -> Result<(), ApiError> {
    match p {
        None | Some("NONE" | "SERVICE" | "TASK_DEFINITION") => Ok(()),
        Some(p) => Err(invalid(format!("Invalid propagateTags value: {p}"))),
    }
}

/// Checks `loadBalancers` against the task definition (the container and
/// port must exist) and the target groups (they must exist, forward from
/// a load balancer, and name targets the way the network mode can give
/// them: `ip` for awsvpc, `instance` otherwise).
fn check_load_balancers(
    lbs: &[Value],
    def: &dockyard_taskdef::TaskDefinition,
    groups: &[dockyard_elbv2::TargetGroupView],
) -> Result<(), ApiError> {
    if lbs.len() > 5 {
        return Err(invalid("A service can have at most 5 load balancers."));
    }
    for lb in lbs {
        let name = lb["containerName"].as_str().unwrap_or_default();
        let port = lb["containerPort"].as_i64();
        let Some(tg_arn) = lb["targetGroupArn"].as_str() else {
            return Err(invalid(if lb["loadBalancerName"].is_string() {
                "Classic Load Balancers are not supported: name a targetGroupArn."
            } else {
                "loadBalancers need a targetGroupArn."
            }));
        };
        let Some(c) = def.container_definitions.iter().find(|c| c.name == name) else {
            return Err(invalid(format!(
                "The container {name} does not exist in the task definition."
            )));
        };
        let exposes = c
            .port_mappings
            .iter()
            .any(|p| p.container_port.map(i64::from) == port);
        if !exposes {
            return Err(invalid(format!(
                "The container {name} did not have a container port {} defined.",
                port.unwrap_or(0)
            )));
        }
        let Some(tg) = groups.iter().find(|g| g.arn == tg_arn) else {
            return Err(invalid(format!(
                "The target group with targetGroupArn {tg_arn} does not exist."
            )));
        };
        if tg.load_balancer_arns.is_empty() {
            return Err(invalid(format!(
                "The target group with targetGroupArn {tg_arn} does not have an associated load balancer."
            )));
        }
        let mode = def.network_mode();
        let fits = match tg.target_type {
            dockyard_elbv2::model::TargetType::Ip => mode == "awsvpc",
            dockyard_elbv2::model::TargetType::Instance => mode != "awsvpc",
        };
        if !fits {
            return Err(invalid(format!(
                "The provided target group {tg_arn} has target type {}, which is incompatible with the {mode} network mode specified in the task definition.",
                tg.target_type.as_str()
            )));
        }
    }
    Ok(())
}

impl EcsService {
    fn service_record(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<Option<Versioned<ServiceRecord>>, ApiError> {
        db::get(self.store.as_ref(), &service_key(cluster, name))
    }

    /// A RunTask-shaped input for one task of `rec` running `task_definition`.
    pub(crate) fn service_launch_input(rec: &ServiceRecord, task_definition: &str) -> Value {
        let mut v = json!({
            "cluster": rec.cluster,
            "taskDefinition": task_definition,
            "count": 1,
            "group": format!("service:{}", rec.name),
            "enableExecuteCommand": rec.enable_execute_command,
        });
        if let Some(lt) = &rec.launch_type {
            v["launchType"] = json!(lt);
        } else if !rec.capacity_provider_strategy.is_empty() {
            v["capacityProviderStrategy"] = json!(rec.capacity_provider_strategy);
        }
        if let Some(nc) = &rec.network_configuration {
            v["networkConfiguration"] = nc.clone();
        }
        if !rec.placement_constraints.is_empty() {
            v["placementConstraints"] = json!(rec.placement_constraints);
        }
        if !rec.placement_strategy.is_empty() {
            v["placementStrategy"] = json!(rec.placement_strategy);
        }
        v
    }

    /// The target groups `lbs` name, as the load balancers have them.
    fn target_groups(
        &self,
        lbs: &[Value],
    ) -> Result<Vec<dockyard_elbv2::TargetGroupView>, ApiError> {
        if lbs.is_empty() {
            return Ok(vec![]);
        }
        let snap = dockyard_elbv2::snapshot(self.store.as_ref())
            .map_err(|e| crate::error::server(e.to_string()))?;
        Ok(snap.target_groups)
    }

    /// Whether a task definition has container health checks (then its
    /// tasks count as healthy only once HEALTHY).
    fn health_checked(def: &dockyard_taskdef::TaskDefinition) -> bool {
        def.container_definitions
            .iter()
            .any(|c| c.health_check.is_some())
    }

    pub(crate) fn create_service(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: CreateIn = decode(input)?;
        let cluster = cluster_name(ctx, i.cluster.as_deref())?;
        let c = self.active_cluster(&cluster)?.value;
        let name = i
            .service_name
            .ok_or_else(|| invalid("serviceName must be specified."))?;
        if !valid_name(&name) {
            return Err(invalid(
                "Service names can be up to 255 letters (uppercase and lowercase), numbers, underscores and hyphens.",
            ));
        }
        check_controller(i.deployment_controller.as_ref())?;
        let scheduling = match i.scheduling_strategy.as_deref() {
            None | Some("REPLICA") => Scheduling::Replica,
            Some("DAEMON") => Scheduling::Daemon,
            Some(s) => return Err(invalid(format!("Invalid scheduling strategy: {s}"))),
        };
        let desired = match (scheduling, i.desired_count) {
            (Scheduling::Replica, None) => {
                return Err(invalid(
                    "desiredCount must be specified for a service with the REPLICA scheduling strategy.",
                ));
            }
            (Scheduling::Replica, Some(n)) if !(0..=MAX_DESIRED).contains(&n) => {
                return Err(invalid(format!(
                    "desiredCount must be between 0 and {MAX_DESIRED}."
                )));
            }
            (Scheduling::Replica, Some(n)) => n as u32,
            (Scheduling::Daemon, Some(_)) => {
                return Err(invalid(
                    "The daemon scheduling strategy does not support a desired count for services.",
                ));
            }
            (Scheduling::Daemon, None) => 0,
        };
        let (min, max, cb) =
            deployment_settings(scheduling, i.deployment_configuration.as_ref(), None)?;
        let grace = check_grace(i.health_check_grace_period_seconds)?.unwrap_or(0);
        check_propagate(i.propagate_tags.as_deref())?;
        let given_td = i
            .task_definition
            .ok_or_else(|| invalid("taskDefinition must be specified."))?;
        let def = self.service_taskdef(ctx, &given_td)?;
        if def.status != "ACTIVE" {
            return Err(crate::error::client("TaskDefinition is inactive"));
        }
        let lbs = i.load_balancers.unwrap_or_default();
        check_load_balancers(&lbs, &def, &self.target_groups(&lbs)?)?;
        let constraints = i.placement_constraints.unwrap_or_default();
        let strategies = i.placement_strategy.unwrap_or_default();
        dockyard_scheduler::parse_constraints(&constraints).map_err(|e| invalid(e.0))?;
        dockyard_scheduler::parse_strategies(&strategies).map_err(|e| invalid(e.0))?;
        let launch_type = i.launch_type.clone();
        if scheduling == Scheduling::Daemon {
            if launch_type.as_deref() == Some("FARGATE")
                || i.capacity_provider_strategy
                    .as_ref()
                    .is_some_and(|s| !s.is_empty())
            {
                return Err(invalid(
                    "The daemon scheduling strategy is not supported with the FARGATE launch type or capacity providers.",
                ));
            }
            if !strategies.is_empty() {
                return Err(invalid(
                    "Placement strategies are not supported with the daemon scheduling strategy.",
                ));
            }
        }
        let service_tags = tags(i.tags)?;
        let now_ms = ctx.now.timestamp_millis();
        let mut rec = ServiceRecord {
            name: name.clone(),
            arn: crate::ids::arn(ctx, &format!("service/{cluster}/{name}")),
            cluster: cluster.clone(),
            cluster_arn: c.arn.clone(),
            account: ctx.account.clone(),
            region: ctx.region.clone(),
            status: "ACTIVE".into(),
            task_definition: def.task_definition_arn.clone(),
            launch_type: match (&launch_type, &i.capacity_provider_strategy, scheduling) {
                (Some(lt), _, _) => Some(lt.clone()),
                (None, _, Scheduling::Daemon) => Some("EC2".into()),
                (None, Some(s), _) if !s.is_empty() => None,
                (None, _, _) if c.default_strategy.is_empty() => Some("EC2".into()),
                (None, _, _) => None,
            },
            capacity_provider_strategy: i.capacity_provider_strategy.unwrap_or_default(),
            platform_version: i.platform_version,
            network_configuration: i.network_configuration,
            placement_constraints: constraints,
            placement_strategy: strategies,
            load_balancers: lbs,
            service_registries: i.service_registries.unwrap_or_default(),
            alarms: i
                .deployment_configuration
                .as_ref()
                .and_then(|d| d.alarms.clone()),
            role_arn: i.role,
            tags: service_tags,
            enable_ecs_managed_tags: i.enable_ecs_managed_tags.unwrap_or(false),
            propagate_tags: i.propagate_tags,
            enable_execute_command: i.enable_execute_command.unwrap_or(false),
            created_ms: now_ms,
            created_by: ctx.principal.arn.clone(),
            client_token: i.client_token.clone(),
            sched: dockyard_reconciler::Service {
                name: name.clone(),
                scheduling,
                desired_count: desired,
                minimum_healthy_percent: min,
                maximum_percent: max,
                circuit_breaker: cb,
                health_check_grace_ms: i64::from(grace) * 1000,
                deployments: vec![],
                launch_failures: 0,
                launch_after_ms: 0,
                last_launch_failure_ms: 0,
                steady: false,
            },
            events: vec![],
            accounted: vec![],
            inactive_ms: None,
            service_connect: i.service_connect_configuration,
        };
        if rec.capacity_provider_strategy.is_empty()
            && rec.launch_type.is_none()
            && !c.default_strategy.is_empty()
        {
            rec.capacity_provider_strategy = c.default_strategy.clone();
        }
        // Everything a launch checks (launch type against the task
        // definition, awsvpc settings, capacity providers), now rather
        // than at the first placement.
        self.launch_from(
            ctx,
            Self::service_launch_input(&rec, &rec.task_definition),
            false,
        )?;
        let deployment = new_deployment_id();
        deploy(
            &mut rec.sched,
            &deployment,
            &rec.task_definition,
            Self::health_checked(&def) || !rec.load_balancers.is_empty(),
            now_ms,
        );
        let key = service_key(&cluster, &name);
        let existing = self.service_record(&cluster, &name)?;
        let compare = match &existing {
            None => Compare::Missing(key.clone()),
            Some(e) => match e.value.status.as_str() {
                "ACTIVE" => {
                    if i.client_token.is_some() && e.value.client_token == i.client_token {
                        return Ok(json!({"service": self.render_service(&e.value, false)}));
                    }
                    return Err(invalid("Creation of service was not idempotent."));
                }
                "DRAINING" => {
                    return Err(invalid("Unable to Start a service that is still Draining."));
                }
                _ => Compare::ModRevision(key.clone(), e.mod_revision),
            },
        };
        let r = self
            .store
            .txn(Txn {
                compares: vec![compare],
                success: vec![db::put(&key, &rec)],
                failure: vec![],
            })
            .map_err(store_err)?;
        if !r.succeeded {
            return Err(invalid("Creation of service was not idempotent."));
        }
        Ok(json!({"service": self.render_service(&rec, false)}))
    }

    /// Applies `f` to an ACTIVE service and writes it back.
    fn update_active_service(
        &self,
        cluster: &str,
        name: &str,
        mut f: impl FnMut(&mut ServiceRecord) -> Result<(), ApiError>,
    ) -> Result<ServiceRecord, ApiError> {
        db::update(
            self.store.as_ref(),
            &service_key(cluster, name),
            service_not_found,
            |s: &mut ServiceRecord, _| {
                if s.status != "ACTIVE" {
                    return Err(not_active());
                }
                f(s)
            },
        )
    }

    pub(crate) fn update_service(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: UpdateIn = decode(input)?;
        let cluster = cluster_name(ctx, i.cluster.as_deref())?;
        self.active_cluster(&cluster)?;
        let given = i
            .service
            .clone()
            .ok_or_else(|| invalid("service must be specified."))?;
        let name = service_name(ctx, &cluster, &given)?;
        let cur = self
            .service_record(&cluster, &name)?
            .ok_or_else(service_not_found)?
            .value;
        if cur.status != "ACTIVE" {
            return Err(not_active());
        }
        check_controller(i.deployment_controller.as_ref())?;
        let scheduling = cur.sched.scheduling;
        let desired = match (scheduling, i.desired_count) {
            (_, None) => None,
            (Scheduling::Daemon, Some(_)) => {
                return Err(invalid(
                    "The daemon scheduling strategy does not support a desired count for services.",
                ));
            }
            (Scheduling::Replica, Some(n)) if !(0..=MAX_DESIRED).contains(&n) => {
                return Err(invalid(format!(
                    "desiredCount must be between 0 and {MAX_DESIRED}."
                )));
            }
            (Scheduling::Replica, Some(n)) => Some(n as u32),
        };
        let settings = deployment_settings(
            scheduling,
            i.deployment_configuration.as_ref(),
            Some((
                cur.sched.minimum_healthy_percent,
                cur.sched.maximum_percent,
                cur.sched.circuit_breaker,
            )),
        )?;
        let grace = check_grace(i.health_check_grace_period_seconds)?;
        check_propagate(i.propagate_tags.as_deref())?;
        let new_def = match &i.task_definition {
            Some(td) => {
                let def = self.service_taskdef(ctx, td)?;
                if def.status != "ACTIVE" {
                    return Err(crate::error::client("TaskDefinition is inactive"));
                }
                Some(def)
            }
            None => None,
        };
        let def = match &new_def {
            Some(d) => d.clone(),
            None => self.resolve_taskdef(ctx, &cur.task_definition)?,
        };
        // The load balancers as they will be, against the revision that
        // will run, whenever either changes (a scale-only update does not
        // trip over a target group deleted since).
        if i.load_balancers.is_some() || new_def.is_some() {
            let lbs = i.load_balancers.as_ref().unwrap_or(&cur.load_balancers);
            check_load_balancers(lbs, &def, &self.target_groups(lbs)?)?;
        }
        if let Some(c) = &i.placement_constraints {
            dockyard_scheduler::parse_constraints(c).map_err(|e| invalid(e.0))?;
        }
        if let Some(s) = &i.placement_strategy {
            if scheduling == Scheduling::Daemon && !s.is_empty() {
                return Err(invalid(
                    "Placement strategies are not supported with the daemon scheduling strategy.",
                ));
            }
            dockyard_scheduler::parse_strategies(s).map_err(|e| invalid(e.0))?;
        }
        // The service as it will be, checked as a launch before anything
        // is written.
        let mut next = cur.clone();
        let mut redeploy = i.force_new_deployment.unwrap_or(false);
        if let Some(d) = &new_def
            && d.task_definition_arn != cur.task_definition
        {
            next.task_definition = d.task_definition_arn.clone();
            redeploy = true;
        }
        if let Some(nc) = i.network_configuration.clone() {
            redeploy |= Some(&nc) != cur.network_configuration.as_ref();
            next.network_configuration = Some(nc);
        }
        if let Some(s) = i.capacity_provider_strategy.clone() {
            redeploy |= s != cur.capacity_provider_strategy;
            if !s.is_empty() {
                next.launch_type = None;
            }
            next.capacity_provider_strategy = s;
        }
        if let Some(p) = i.platform_version.clone() {
            redeploy |= Some(&p) != cur.platform_version.as_ref();
            next.platform_version = Some(p);
        }
        if let Some(lbs) = i.load_balancers.clone() {
            redeploy |= lbs != cur.load_balancers;
            next.load_balancers = lbs;
        }
        if let Some(c) = i.placement_constraints.clone() {
            next.placement_constraints = c;
        }
        if let Some(s) = i.placement_strategy.clone() {
            next.placement_strategy = s;
        }
        if let Some(r) = i.service_registries.clone() {
            next.service_registries = r;
        }
        self.launch_from(
            ctx,
            Self::service_launch_input(&next, &next.task_definition),
            false,
        )?;
        let deployment = new_deployment_id();
        let checked = Self::health_checked(&def) || !next.load_balancers.is_empty();
        let now_ms = ctx.now.timestamp_millis();
        let rec = self.update_active_service(&cluster, &name, |s| {
            let (min, max, cb) = settings;
            s.task_definition = next.task_definition.clone();
            s.network_configuration = next.network_configuration.clone();
            s.capacity_provider_strategy = next.capacity_provider_strategy.clone();
            s.launch_type = next.launch_type.clone();
            s.platform_version = next.platform_version.clone();
            s.load_balancers = next.load_balancers.clone();
            s.placement_constraints = next.placement_constraints.clone();
            s.placement_strategy = next.placement_strategy.clone();
            s.service_registries = next.service_registries.clone();
            if let Some(d) = desired {
                s.sched.desired_count = d;
            }
            s.sched.minimum_healthy_percent = min;
            s.sched.maximum_percent = max;
            s.sched.circuit_breaker = cb;
            if let Some(a) = i
                .deployment_configuration
                .as_ref()
                .and_then(|d| d.alarms.clone())
            {
                s.alarms = Some(a);
            }
            if let Some(g) = grace {
                s.sched.health_check_grace_ms = i64::from(g) * 1000;
            }
            if let Some(e) = i.enable_execute_command {
                s.enable_execute_command = e;
            }
            if let Some(e) = i.enable_ecs_managed_tags {
                s.enable_ecs_managed_tags = e;
            }
            if let Some(p) = &i.propagate_tags {
                s.propagate_tags = Some(p.clone());
            }
            if redeploy {
                deploy(
                    &mut s.sched,
                    &deployment,
                    &s.task_definition,
                    checked,
                    now_ms,
                );
            }
            s.sched.steady = false;
            Ok(())
        })?;
        Ok(json!({"service": self.render_service(&rec, false)}))
    }

    pub(crate) fn delete_service(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: DeleteIn = decode(input)?;
        let cluster = cluster_name(ctx, i.cluster.as_deref())?;
        self.active_cluster(&cluster)?;
        let given = i
            .service
            .ok_or_else(|| invalid("service must be specified."))?;
        let name = service_name(ctx, &cluster, &given)?;
        let force = i.force.unwrap_or(false);
        let rec = db::update(
            self.store.as_ref(),
            &service_key(&cluster, &name),
            service_not_found,
            |s: &mut ServiceRecord, _| {
                match s.status.as_str() {
                    "ACTIVE" => {}
                    "DRAINING" => return Ok(()),
                    _ => return Err(service_not_found()),
                }
                if s.sched.scheduling == Scheduling::Replica && s.sched.desired_count > 0 && !force
                {
                    return Err(invalid(
                        "The service cannot be stopped while it is scaled above 0.",
                    ));
                }
                s.status = "DRAINING".into();
                s.sched.desired_count = 0;
                s.sched.steady = false;
                Ok(())
            },
        )?;
        Ok(json!({"service": self.render_service(&rec, false)}))
    }

    pub(crate) fn describe_services(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: DescribeIn = decode(input)?;
        let cluster = cluster_name(ctx, i.cluster.as_deref())?;
        self.active_cluster(&cluster)?;
        let given = i
            .services
            .ok_or_else(|| invalid("services must be specified."))?;
        if given.is_empty() || given.len() > 10 {
            return Err(invalid("services must have between 1 and 10 items."));
        }
        let with_tags = i.include.unwrap_or_default().iter().any(|s| s == "TAGS");
        let mut out = Vec::new();
        let mut failures = Vec::new();
        for g in given {
            let found = match service_name(ctx, &cluster, &g) {
                Ok(n) => self.service_record(&cluster, &n)?,
                Err(_) => None,
            };
            match found {
                Some(rec) => out.push(self.render_service(&rec.value, with_tags)),
                None => {
                    let arn = if g.starts_with("arn:") {
                        g
                    } else {
                        crate::ids::arn(ctx, &format!("service/{cluster}/{g}"))
                    };
                    failures.push(json!({"arn": arn, "reason": "MISSING"}));
                }
            }
        }
        Ok(json!({"services": out, "failures": failures}))
    }

    /// The cluster's services that are not INACTIVE, in name order.
    pub(crate) fn cluster_services(&self, cluster: &str) -> Result<Vec<ServiceRecord>, ApiError> {
        Ok(
            db::list::<ServiceRecord>(self.store.as_ref(), &services_prefix(cluster))?
                .into_iter()
                .map(|v| v.value)
                .filter(|s| s.status != "INACTIVE")
                .collect(),
        )
    }

    pub(crate) fn list_services(&self, ctx: &CallContext, input: Value) -> Result<Value, ApiError> {
        let i: ListIn = decode(input)?;
        let cluster = cluster_name(ctx, i.cluster.as_deref())?;
        self.active_cluster(&cluster)?;
        let n = max_results(i.max_results, 10)?;
        let after = next_token(i.next_token.as_deref())?;
        if let Some(s) = &i.scheduling_strategy
            && !["REPLICA", "DAEMON"].contains(&s.as_str())
        {
            return Err(invalid(format!("Invalid scheduling strategy: {s}")));
        }
        let all: Vec<ServiceRecord> = self
            .cluster_services(&cluster)?
            .into_iter()
            .filter(|s| {
                i.launch_type
                    .as_ref()
                    .is_none_or(|lt| s.launch_type.as_ref() == Some(lt))
            })
            .filter(|s| {
                i.scheduling_strategy
                    .as_deref()
                    .is_none_or(|want| render::scheduling_name(s.sched.scheduling) == want)
            })
            .filter(|s| after.as_ref().is_none_or(|a| s.name.as_str() > a.as_str()))
            .collect();
        let more = all.len() > n;
        let page: Vec<&ServiceRecord> = all.iter().take(n).collect();
        let token = more
            .then(|| {
                page.last()
                    .map(|s| dockyard_aws::input::encode_token(&s.name))
            })
            .flatten();
        let arns: Vec<&String> = page.iter().map(|s| &s.arn).collect();
        Ok(with_token(json!({"serviceArns": arns}), token))
    }

    /// Services whose Service Connect configuration names `namespace`
    /// (a name or ARN), in every cluster.
    pub(crate) fn list_services_by_namespace(
        &self,
        _ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: ByNamespaceIn = decode(input)?;
        let ns = i
            .namespace
            .ok_or_else(|| invalid("namespace must be specified."))?;
        let n = max_results(i.max_results, 10)?;
        let after = next_token(i.next_token.as_deref())?;
        let mut arns: Vec<String> = db::list::<ServiceRecord>(self.store.as_ref(), SERVICES)?
            .into_iter()
            .map(|v| v.value)
            .filter(|s| s.status == "ACTIVE")
            .filter(|s| {
                s.service_connect
                    .as_ref()
                    .and_then(|c| c["namespace"].as_str())
                    .is_some_and(|have| {
                        have == ns
                            || ns.ends_with(&format!("/{have}"))
                            || have.ends_with(&format!("/{ns}"))
                    })
            })
            .map(|s| s.arn)
            .collect();
        arns.sort();
        let rest: Vec<String> = arns
            .into_iter()
            .filter(|a| after.as_ref().is_none_or(|x| a > x))
            .collect();
        let more = rest.len() > n;
        let page: Vec<String> = rest.into_iter().take(n).collect();
        let token = more
            .then(|| page.last().map(|a| dockyard_aws::input::encode_token(a)))
            .flatten();
        Ok(with_token(json!({"serviceArns": page}), token))
    }

    /// Appends events to a service (newest first, at most 100 kept).
    pub(crate) fn add_events(
        &self,
        cluster: &str,
        name: &str,
        messages: &[String],
        now_ms: i64,
    ) -> Result<(), ApiError> {
        if messages.is_empty() {
            return Ok(());
        }
        db::update(
            self.store.as_ref(),
            &service_key(cluster, name),
            service_not_found,
            |s: &mut ServiceRecord, _| {
                push_events(s, messages, now_ms);
                Ok(())
            },
        )?;
        Ok(())
    }
}

pub(crate) fn push_events(s: &mut ServiceRecord, messages: &[String], now_ms: i64) {
    for m in messages {
        s.events.insert(
            0,
            ServiceEvent {
                id: crate::ids::new_uuid(),
                created_ms: now_ms,
                message: m.clone(),
            },
        );
    }
    s.events.truncate(crate::model::SERVICE_EVENTS);
}

/// Tags a service's tasks get: the service's (propagateTags SERVICE) or
/// the task definition's, and ECS's managed ones.
pub(crate) fn task_tags(rec: &ServiceRecord, from_taskdef: Vec<Tag>) -> Vec<Tag> {
    let mut out: Vec<Tag> = match rec.propagate_tags.as_deref() {
        Some("SERVICE") => rec.tags.clone(),
        Some("TASK_DEFINITION") => from_taskdef,
        _ => vec![],
    };
    if rec.enable_ecs_managed_tags {
        out.push(Tag {
            key: "aws:ecs:clusterName".into(),
            value: rec.cluster.clone(),
        });
        out.push(Tag {
            key: "aws:ecs:serviceName".into(),
            value: rec.name.clone(),
        });
    }
    out
}

#[cfg(test)]
mod deploy_tests;
#[cfg(test)]
mod lb_tests;
#[cfg(test)]
mod replace_tests;
#[cfg(test)]
mod tests;
