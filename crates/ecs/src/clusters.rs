//! Clusters and the capacity providers they use.

use serde::Deserialize;
use serde_json::{Value, json};

use dockyard_aws::{ApiError, CallContext};
use dockyard_store::{Compare, Txn};

use crate::EcsService;
use crate::db::{self, Versioned};
use crate::error::{cluster_not_found, invalid, store as store_err};
use crate::ids::{arn, cluster_arn, cluster_name, valid_cluster_name};
use crate::input::{TagIn, decode, max_results, next_token, tags};
use crate::model::{Cluster, INSTANCES, Instance, Setting, StrategyItem, cluster_key};

/// The capacity providers every account has.
pub(crate) const MANAGED_PROVIDERS: [&str; 2] = ["FARGATE", "FARGATE_SPOT"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateIn {
    cluster_name: Option<String>,
    tags: Option<Vec<TagIn>>,
    settings: Option<Vec<Setting>>,
    configuration: Option<Value>,
    capacity_providers: Option<Vec<String>>,
    default_capacity_provider_strategy: Option<Vec<StrategyItem>>,
    service_connect_defaults: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeIn {
    clusters: Option<Vec<String>>,
    include: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListIn {
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClusterIn {
    cluster: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateIn {
    cluster: Option<String>,
    settings: Option<Vec<Setting>>,
    configuration: Option<Value>,
    service_connect_defaults: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProvidersIn {
    cluster: Option<String>,
    capacity_providers: Option<Vec<String>>,
    default_capacity_provider_strategy: Option<Vec<StrategyItem>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeProvidersIn {
    capacity_providers: Option<Vec<String>>,
    include: Option<Vec<String>>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

fn check_settings(settings: &[Setting]) -> Result<(), ApiError> {
    for s in settings {
        if s.name != "containerInsights" {
            return Err(invalid(format!(
                "Invalid parameter at 'settings.name' failed to satisfy constraint: 'Member must satisfy enum value set: [containerInsights]'; got {}",
                s.name
            )));
        }
        if !["enabled", "disabled", "enhanced"].contains(&s.value.as_str()) {
            return Err(invalid(format!(
                "The value '{}' is not valid for the containerInsights setting. Valid values are enabled, disabled and enhanced.",
                s.value
            )));
        }
    }
    Ok(())
}

fn merge_settings(have: &mut Vec<Setting>, new: Vec<Setting>) {
    for s in new {
        have.retain(|h| h.name != s.name);
        have.push(s);
    }
}

/// Checks a provider list and default strategy as ECS does.
fn check_providers(providers: &[String], strategy: &[StrategyItem]) -> Result<(), ApiError> {
    for p in providers {
        if !MANAGED_PROVIDERS.contains(&p.as_str()) {
            return Err(invalid(format!(
                "The specified capacity provider {p} does not exist. Specify a valid capacity provider and try again."
            )));
        }
    }
    if providers.len() > 20 {
        return Err(invalid("A cluster can have at most 20 capacity providers."));
    }
    check_strategy(strategy)?;
    for s in strategy {
        if !providers.contains(&s.capacity_provider) {
            return Err(invalid(format!(
                "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again. ({})",
                s.capacity_provider
            )));
        }
    }
    Ok(())
}

/// Rules every capacity provider strategy follows.
pub(crate) fn check_strategy(strategy: &[StrategyItem]) -> Result<(), ApiError> {
    if strategy.len() > 20 {
        return Err(invalid(
            "A capacity provider strategy can have at most 20 items.",
        ));
    }
    if strategy.iter().filter(|s| s.base > 0).count() > 1 {
        return Err(invalid(
            "Only one capacity provider in a capacity provider strategy can have a base defined.",
        ));
    }
    for s in strategy {
        if s.weight > 1000 {
            return Err(invalid("The weight must be between 0 and 1000."));
        }
        if s.base > 100_000 {
            return Err(invalid("The base must be between 0 and 100000."));
        }
    }
    if !strategy.is_empty() && strategy.iter().all(|s| s.weight == 0) {
        return Err(invalid(
            "At least one capacity provider in a capacity provider strategy must have a weight greater than zero.",
        ));
    }
    Ok(())
}

/// What DescribeClusters counts, read from the cluster's tasks and
/// instances.
#[derive(Default)]
struct Counts {
    instances: usize,
    running: [usize; 2],
    pending: [usize; 2],
}

impl EcsService {
    fn counts(&self, name: &str) -> Result<Counts, ApiError> {
        let mut c = Counts::default();
        let instances: Vec<Versioned<Instance>> =
            db::list(self.store.as_ref(), &format!("{INSTANCES}{name}/"))?;
        c.instances = instances
            .iter()
            .filter(|i| matches!(i.value.status.as_str(), "ACTIVE" | "DRAINING"))
            .count();
        for t in self.index.cluster(name) {
            let fargate = usize::from(t.launch_type == "FARGATE");
            if t.last_status == "RUNNING" {
                c.running[fargate] += 1;
            } else if t.is_pending() {
                c.pending[fargate] += 1;
            }
        }
        Ok(c)
    }

    fn render_cluster(&self, c: &Cluster, include: &[String]) -> Result<Value, ApiError> {
        let counts = self.counts(&c.name)?;
        let mut v = json!({
            "clusterArn": c.arn,
            "clusterName": c.name,
            "status": c.status,
            "registeredContainerInstancesCount": counts.instances,
            "runningTasksCount": counts.running[0] + counts.running[1],
            "pendingTasksCount": counts.pending[0] + counts.pending[1],
            "activeServicesCount": self.cluster_services(&c.name)?.iter().filter(|s| s.status == "ACTIVE").count(),
            "statistics": [],
            "tags": [],
            "settings": [],
            "capacityProviders": c.capacity_providers,
            "defaultCapacityProviderStrategy": c.default_strategy,
        });
        let has = |s: &str| include.iter().any(|i| i == s);
        if has("STATISTICS") {
            let stat = |n: &str, x: usize| json!({"name": n, "value": x.to_string()});
            v["statistics"] = json!([
                stat("runningEC2TasksCount", counts.running[0]),
                stat("runningFargateTasksCount", counts.running[1]),
                stat("pendingEC2TasksCount", counts.pending[0]),
                stat("pendingFargateTasksCount", counts.pending[1]),
                stat("activeEC2ServiceCount", 0),
                stat("activeFargateServiceCount", 0),
                stat("drainingEC2ServiceCount", 0),
                stat("drainingFargateServiceCount", 0),
            ]);
        }
        if has("TAGS") {
            v["tags"] = json!(c.tags);
        }
        if has("SETTINGS") {
            v["settings"] = json!(c.settings);
        }
        if has("CONFIGURATIONS")
            && let Some(cfg) = &c.configuration
        {
            v["configuration"] = cfg.clone();
        }
        if let Some(d) = &c.service_connect_defaults {
            v["serviceConnectDefaults"] = d.clone();
        }
        Ok(v)
    }

    /// The cluster record, if the cluster exists and is ACTIVE.
    pub(crate) fn active_cluster(&self, name: &str) -> Result<Versioned<Cluster>, ApiError> {
        match db::get::<Cluster>(self.store.as_ref(), &cluster_key(name))? {
            Some(c) if c.value.status == "ACTIVE" => Ok(c),
            _ => Err(cluster_not_found()),
        }
    }

    pub(crate) fn create_cluster(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: CreateIn = decode(input)?;
        let name = i.cluster_name.unwrap_or_else(|| "default".into());
        if !valid_cluster_name(&name) {
            return Err(invalid(
                "Cluster name must be up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores.",
            ));
        }
        let settings = i.settings.unwrap_or_default();
        check_settings(&settings)?;
        let providers = i.capacity_providers.unwrap_or_default();
        let strategy = i.default_capacity_provider_strategy.unwrap_or_default();
        check_providers(&providers, &strategy)?;
        let record = Cluster {
            arn: cluster_arn(ctx, &name),
            name: name.clone(),
            status: "ACTIVE".into(),
            created_ms: ctx.now.timestamp_millis(),
            settings,
            configuration: i.configuration,
            service_connect_defaults: i.service_connect_defaults,
            capacity_providers: providers,
            default_strategy: strategy,
            tags: tags(i.tags)?,
        };
        let key = cluster_key(&name);
        loop {
            let cur = db::get::<Cluster>(self.store.as_ref(), &key)?;
            // CreateCluster is idempotent: an ACTIVE cluster of that name is
            // returned as it is.
            if let Some(c) = &cur
                && c.value.status == "ACTIVE"
            {
                return Ok(json!({"cluster": self.render_cluster(&c.value, &[])?}));
            }
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
                break;
            }
        }
        let all: Vec<String> = ["SETTINGS", "TAGS", "CONFIGURATIONS"]
            .map(String::from)
            .to_vec();
        Ok(json!({"cluster": self.render_cluster(&record, &all)?}))
    }

    pub(crate) fn describe_clusters(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: DescribeIn = decode(input)?;
        let include = i.include.unwrap_or_default();
        for inc in &include {
            if ![
                "ATTACHMENTS",
                "CONFIGURATIONS",
                "SETTINGS",
                "STATISTICS",
                "TAGS",
            ]
            .contains(&inc.as_str())
            {
                return Err(invalid(format!("Invalid include value: {inc}")));
            }
        }
        let names = i.clusters.unwrap_or_else(|| vec!["default".into()]);
        if names.len() > 100 {
            return Err(invalid("clusters can have at most 100 items."));
        }
        let mut clusters = Vec::new();
        let mut failures = Vec::new();
        for given in names {
            let found = match cluster_name(ctx, Some(&given)) {
                Ok(n) => db::get::<Cluster>(self.store.as_ref(), &cluster_key(&n))?,
                Err(_) => None,
            };
            match found {
                Some(c) => clusters.push(self.render_cluster(&c.value, &include)?),
                None => {
                    let a = if given.starts_with("arn:") {
                        given
                    } else {
                        cluster_arn(ctx, &given)
                    };
                    failures.push(json!({"arn": a, "reason": "MISSING"}));
                }
            }
        }
        Ok(json!({"clusters": clusters, "failures": failures}))
    }

    pub(crate) fn list_clusters(&self, _: &CallContext, input: Value) -> Result<Value, ApiError> {
        let i: ListIn = decode(input)?;
        let n = max_results(i.max_results, 100)?;
        let after = next_token(i.next_token.as_deref())?;
        let all: Vec<Cluster> = db::list::<Cluster>(self.store.as_ref(), crate::model::CLUSTERS)?
            .into_iter()
            .map(|v| v.value)
            .filter(|c| c.status == "ACTIVE")
            .collect();
        let (page, token) =
            dockyard_aws::input::paginate(all, |c| c.name.clone(), after.as_deref(), n);
        Ok(crate::input::with_token(
            json!({"clusterArns": page.iter().map(|c| &c.arn).collect::<Vec<_>>()}),
            token,
        ))
    }

    fn update_active(
        &self,
        name: &str,
        f: impl FnMut(&mut Cluster, &mut Vec<dockyard_store::Op>) -> Result<(), ApiError>,
    ) -> Result<Cluster, ApiError> {
        let mut f = f;
        db::update(
            self.store.as_ref(),
            &cluster_key(name),
            cluster_not_found,
            |c: &mut Cluster, ops| {
                if c.status != "ACTIVE" {
                    return Err(cluster_not_found());
                }
                f(c, ops)
            },
        )
    }

    pub(crate) fn update_cluster(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: UpdateIn = decode(input)?;
        let name = cluster_name(ctx, i.cluster.as_deref())?;
        let settings = i.settings.unwrap_or_default();
        check_settings(&settings)?;
        let c = self.update_active(&name, |c, _| {
            merge_settings(&mut c.settings, settings.clone());
            if let Some(cfg) = &i.configuration {
                c.configuration = Some(cfg.clone());
            }
            if let Some(d) = &i.service_connect_defaults {
                c.service_connect_defaults = Some(d.clone());
            }
            Ok(())
        })?;
        let all = ["SETTINGS", "CONFIGURATIONS"].map(String::from).to_vec();
        Ok(json!({"cluster": self.render_cluster(&c, &all)?}))
    }

    pub(crate) fn update_cluster_settings(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: UpdateIn = decode(input)?;
        let name = cluster_name(ctx, i.cluster.as_deref())?;
        let Some(settings) = i.settings else {
            return Err(invalid("settings must be specified."));
        };
        check_settings(&settings)?;
        let c = self.update_active(&name, |c, _| {
            merge_settings(&mut c.settings, settings.clone());
            Ok(())
        })?;
        let all = ["SETTINGS"].map(String::from).to_vec();
        Ok(json!({"cluster": self.render_cluster(&c, &all)?}))
    }

    pub(crate) fn put_cluster_capacity_providers(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: ProvidersIn = decode(input)?;
        let name = cluster_name(ctx, i.cluster.as_deref())?;
        let (Some(providers), Some(strategy)) =
            (i.capacity_providers, i.default_capacity_provider_strategy)
        else {
            return Err(invalid(
                "capacityProviders and defaultCapacityProviderStrategy must be specified.",
            ));
        };
        check_providers(&providers, &strategy)?;
        let c = self.update_active(&name, |c, _| {
            c.capacity_providers = providers.clone();
            c.default_strategy = strategy.clone();
            Ok(())
        })?;
        Ok(json!({"cluster": self.render_cluster(&c, &[])?}))
    }

    pub(crate) fn delete_cluster(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: ClusterIn = decode(input)?;
        let name = cluster_name(ctx, i.cluster.as_deref())?;
        let counts = self.counts(&name)?;
        if !self.cluster_services(&name)?.is_empty() {
            return Err(ApiError::client(
                "ClusterContainsServicesException",
                "The Cluster cannot be deleted while Services are active.",
            ));
        }
        if counts.instances > 0 {
            return Err(ApiError::client(
                "ClusterContainsContainerInstancesException",
                "The Cluster cannot be deleted while Container Instances are active or draining.",
            ));
        }
        if counts.running.iter().chain(&counts.pending).sum::<usize>() > 0 {
            return Err(ApiError::client(
                "ClusterContainsTasksException",
                "The Cluster cannot be deleted while Tasks are active.",
            ));
        }
        let c = self.update_active(&name, |c, _| {
            c.status = "INACTIVE".into();
            Ok(())
        })?;
        Ok(json!({"cluster": self.render_cluster(&c, &[])?}))
    }

    pub(crate) fn describe_capacity_providers(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: DescribeProvidersIn = decode(input)?;
        let n = max_results(i.max_results, 100)?;
        let after = next_token(i.next_token.as_deref())?;
        let with_tags = i.include.unwrap_or_default().iter().any(|s| s == "TAGS");
        let render = |p: &str| {
            let mut v = json!({
                "capacityProviderArn": arn(ctx, &format!("capacity-provider/{p}")),
                "name": p,
                "status": "ACTIVE",
            });
            if with_tags {
                v["tags"] = json!([]);
            }
            v
        };
        let mut failures = Vec::new();
        let wanted: Vec<&str> = match &i.capacity_providers {
            None => MANAGED_PROVIDERS.to_vec(),
            Some(list) => {
                let mut w = Vec::new();
                for p in list {
                    let short = p.rsplit('/').next().unwrap_or(p);
                    match MANAGED_PROVIDERS.iter().find(|m| **m == short) {
                        Some(m) => w.push(*m),
                        None => failures.push(json!({"arn": p, "reason": "MISSING"})),
                    }
                }
                w
            }
        };
        let (page, token) =
            dockyard_aws::input::paginate(wanted, |p| (*p).to_string(), after.as_deref(), n);
        Ok(crate::input::with_token(
            json!({
                "capacityProviders": page.iter().map(|p| render(p)).collect::<Vec<_>>(),
                "failures": failures,
            }),
            token,
        ))
    }
}
