//! Tags on clusters, tasks, container instances and task definitions.

use serde::Deserialize;
use serde_json::{Value, json};

use dockyard_aws::{ApiError, CallContext};

use crate::EcsService;
use crate::db;
use crate::error::invalid;
use crate::ids::resource_of;
use crate::input::{TagIn, decode, merge_tags, tags};
use crate::model::{
    Cluster, Instance, ServiceRecord, StoredTaskDefinition, Tag, Task, cluster_key, instance_key,
    service_key, task_key, taskdef_key,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TagIn2 {
    resource_arn: Option<String>,
    tags: Option<Vec<TagIn>>,
    tag_keys: Option<Vec<String>>,
}

/// The record an ARN names.
enum Resource {
    Cluster(String),
    Task(String, String),
    Instance(String, String),
    TaskDefinition(String, u32),
    Service(String, String),
}

fn not_found(arn: &str) -> ApiError {
    ApiError::client(
        "ResourceNotFoundException",
        format!("The specified resource {arn} could not be found."),
    )
}

fn parse(ctx: &CallContext, arn: &str) -> Result<Resource, ApiError> {
    let resource =
        resource_of(ctx, arn).ok_or_else(|| invalid(format!("Invalid resource ARN: {arn}")))?;
    let (kind, rest) = resource
        .split_once('/')
        .ok_or_else(|| invalid(format!("Invalid resource ARN: {arn}")))?;
    let two = || {
        rest.split_once('/')
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .ok_or_else(|| invalid(format!("Invalid resource ARN: {arn}")))
    };
    match kind {
        "cluster" => Ok(Resource::Cluster(rest.to_string())),
        "task" => two().map(|(c, id)| Resource::Task(c, id)),
        "container-instance" => two().map(|(c, id)| Resource::Instance(c, id)),
        "service" => two().map(|(c, name)| Resource::Service(c, name)),
        "task-definition" => {
            let (f, r) = rest
                .rsplit_once(':')
                .ok_or_else(|| invalid(format!("Invalid resource ARN: {arn}")))?;
            let r = r
                .parse()
                .map_err(|_| invalid(format!("Invalid resource ARN: {arn}")))?;
            Ok(Resource::TaskDefinition(f.to_string(), r))
        }
        _ => Err(invalid(format!(
            "The resource type of {arn} does not support tagging."
        ))),
    }
}

impl EcsService {
    /// Applies `f` to the tags of the resource `arn` names.
    fn with_tags(
        &self,
        ctx: &CallContext,
        arn: &str,
        write: bool,
        mut f: impl FnMut(&mut Vec<Tag>) -> Result<(), ApiError>,
    ) -> Result<Vec<Tag>, ApiError> {
        let store = self.store.as_ref();
        let nf = || not_found(arn);
        macro_rules! on {
            ($ty:ty, $key:expr, $field:ident) => {{
                let key = $key;
                if write {
                    Ok(db::update(store, &key, nf, |r: &mut $ty, _| f(&mut r.$field))?.$field)
                } else {
                    let r = db::get::<$ty>(store, &key)?.ok_or_else(nf)?;
                    Ok(r.value.$field)
                }
            }};
        }
        match parse(ctx, arn)? {
            Resource::Cluster(c) => on!(Cluster, cluster_key(&c), tags),
            Resource::Task(c, id) => on!(Task, task_key(&c, &id), tags),
            Resource::Instance(c, id) => on!(Instance, instance_key(&c, &id), tags),
            Resource::TaskDefinition(f, r) => on!(StoredTaskDefinition, taskdef_key(&f, r), tags),
            Resource::Service(c, name) => on!(ServiceRecord, service_key(&c, &name), tags),
        }
    }

    pub(crate) fn tag_resource(&self, ctx: &CallContext, input: Value) -> Result<Value, ApiError> {
        let i: TagIn2 = decode(input)?;
        let arn = i
            .resource_arn
            .ok_or_else(|| invalid("resourceArn must be specified."))?;
        let new = tags(Some(
            i.tags.ok_or_else(|| invalid("tags must be specified."))?,
        ))?;
        self.with_tags(ctx, &arn, true, |t| merge_tags(t, new.clone()))?;
        Ok(json!({}))
    }

    pub(crate) fn untag_resource(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: TagIn2 = decode(input)?;
        let arn = i
            .resource_arn
            .ok_or_else(|| invalid("resourceArn must be specified."))?;
        let keys = i
            .tag_keys
            .ok_or_else(|| invalid("tagKeys must be specified."))?;
        self.with_tags(ctx, &arn, true, |t| {
            t.retain(|x| !keys.contains(&x.key));
            Ok(())
        })?;
        Ok(json!({}))
    }

    pub(crate) fn list_tags_for_resource(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: TagIn2 = decode(input)?;
        let arn = i
            .resource_arn
            .ok_or_else(|| invalid("resourceArn must be specified."))?;
        let tags = self.with_tags(ctx, &arn, false, |_| Ok(()))?;
        Ok(json!({ "tags": tags }))
    }
}
