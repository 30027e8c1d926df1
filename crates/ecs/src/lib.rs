//! The ECS API (JSON 1.1, `AmazonEC2ContainerServiceV20141113`): clusters,
//! task definitions, tasks and container instances over the state store.
//!
//! Operations decode their input into typed shapes, check it as ECS does,
//! and apply it in store transactions with ids and times passed in; they
//! never wait on containers. Tasks are placed on a node inside `RunTask`
//! (the placement is a pure function, `dockyard_scheduler::place`, over the
//! nodes and tasks read in the same transaction's snapshot, and the write
//! compares a per-pool placement key so two placements never spend the same
//! capacity). Agents pick their tasks up through the session in
//! [`session`]; what they report is applied there too.

mod clusters;
mod db;
mod error;
mod ids;
mod index;
mod input;
mod instances;
pub mod model;
mod placement;
mod render;
pub mod services;
pub mod session;
mod tags;
mod taskdefs;
mod tasks;
mod usage;

use std::sync::Arc;

use serde_json::Value;

use dockyard_agentproto::TaskCredentials;
use dockyard_aws::{ApiError, CallContext, JsonService};
use dockyard_store::Store;

pub use usage::UsageSubject;

pub const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113";

/// Issues temporary credentials for a task role (the server's key store).
pub trait CredentialIssuer: Send + Sync {
    fn issue(
        &self,
        role_arn: &str,
        session_name: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<TaskCredentials, String>;
}

/// Settings of the ECS service.
#[derive(Debug, Clone)]
pub struct EcsOptions {
    pub region: String,
    /// The zone instances and managed capacity report when their agent
    /// names none.
    pub availability_zone: String,
    /// How long an idle agent poll is held before it is answered.
    pub poll_seconds: u64,
    /// How long a node's agent may stay disconnected before its tasks are
    /// considered lost (STOPPED, and replaced by their services).
    pub node_lost_seconds: u64,
}

impl EcsOptions {
    pub fn new(region: &str) -> Self {
        Self {
            region: region.to_string(),
            availability_zone: format!("{region}a"),
            poll_seconds: 10,
            node_lost_seconds: 60,
        }
    }
}

pub struct EcsService {
    store: Arc<dyn Store>,
    creds: Arc<dyn CredentialIssuer>,
    opts: EcsOptions,
    index: Arc<index::TaskIndex>,
    /// What the load balancers' health checks say about service tasks'
    /// targets.
    elb_health: Arc<dyn dockyard_elbv2::TargetHealthSource>,
}

impl EcsService {
    pub fn new(store: Arc<dyn Store>, creds: Arc<dyn CredentialIssuer>, opts: EcsOptions) -> Self {
        let index = index::TaskIndex::start(&store);
        Self {
            store,
            creds,
            opts,
            index,
            elb_health: Arc::new(dockyard_elbv2::NoHealthReports),
        }
    }

    /// Counts target health from `health` in services' deployments.
    pub fn with_target_health(
        mut self,
        health: Arc<dyn dockyard_elbv2::TargetHealthSource>,
    ) -> Self {
        self.elb_health = health;
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn options(&self) -> &EcsOptions {
        &self.opts
    }
}

impl JsonService for EcsService {
    fn target_prefix(&self) -> &str {
        TARGET_PREFIX
    }

    fn signing_name(&self) -> &str {
        "ecs"
    }

    fn call(&self, ctx: &CallContext, operation: &str, input: Value) -> Result<Value, ApiError> {
        match operation {
            "CreateCluster" => self.create_cluster(ctx, input),
            "DescribeClusters" => self.describe_clusters(ctx, input),
            "ListClusters" => self.list_clusters(ctx, input),
            "UpdateCluster" => self.update_cluster(ctx, input),
            "UpdateClusterSettings" => self.update_cluster_settings(ctx, input),
            "PutClusterCapacityProviders" => self.put_cluster_capacity_providers(ctx, input),
            "DeleteCluster" => self.delete_cluster(ctx, input),
            "DescribeCapacityProviders" => self.describe_capacity_providers(ctx, input),
            "RegisterTaskDefinition" => self.register_task_definition(ctx, input),
            "DescribeTaskDefinition" => self.describe_task_definition(ctx, input),
            "ListTaskDefinitions" => self.list_task_definitions(ctx, input),
            "ListTaskDefinitionFamilies" => self.list_task_definition_families(ctx, input),
            "DeregisterTaskDefinition" => self.deregister_task_definition(ctx, input),
            "DeleteTaskDefinitions" => self.delete_task_definitions(ctx, input),
            "RunTask" => self.run_task(ctx, input),
            "StartTask" => self.start_task(ctx, input),
            "StopTask" => self.stop_task(ctx, input),
            "DescribeTasks" => self.describe_tasks(ctx, input),
            "ListTasks" => self.list_tasks(ctx, input),
            "RegisterContainerInstance" => self.register_container_instance(ctx, input),
            "DeregisterContainerInstance" => self.deregister_container_instance(ctx, input),
            "DescribeContainerInstances" => self.describe_container_instances(ctx, input),
            "ListContainerInstances" => self.list_container_instances(ctx, input),
            "UpdateContainerInstancesState" => self.update_container_instances_state(ctx, input),
            "PutAttributes" => self.put_attributes(ctx, input),
            "DeleteAttributes" => self.delete_attributes(ctx, input),
            "ListAttributes" => self.list_attributes(ctx, input),
            "CreateService" => self.create_service(ctx, input),
            "UpdateService" => self.update_service(ctx, input),
            "DeleteService" => self.delete_service(ctx, input),
            "DescribeServices" => self.describe_services(ctx, input),
            "ListServices" => self.list_services(ctx, input),
            "ListServicesByNamespace" => self.list_services_by_namespace(ctx, input),
            "ListServiceDeployments" => self.list_service_deployments(ctx, input),
            "DescribeServiceDeployments" => self.describe_service_deployments(ctx, input),
            "StopServiceDeployment" => self.stop_service_deployment(ctx, input),
            "TagResource" => self.tag_resource(ctx, input),
            "UntagResource" => self.untag_resource(ctx, input),
            "ListTagsForResource" => self.list_tags_for_resource(ctx, input),
            _ => Err(ApiError::unknown_operation(operation)),
        }
    }

    /// Reads served from the task index (which waits only for this
    /// process's own writes, a few milliseconds at most).
    fn is_quick(&self, operation: &str) -> bool {
        matches!(operation, "DescribeTasks" | "ListTasks")
    }

    fn call_text(
        &self,
        ctx: &CallContext,
        operation: &str,
        input: &Value,
    ) -> Option<Result<Vec<u8>, ApiError>> {
        match operation {
            "DescribeTasks" => Some(self.describe_tasks_text(ctx, input)),
            "ListTasks" => Some(self.list_tasks_text(ctx, input)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;
