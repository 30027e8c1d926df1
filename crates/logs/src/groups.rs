//! Log group operations: create, delete, describe, retention and tags.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use dockyard_aws::ApiError;
use dockyard_aws::router::CallContext;

use crate::LogsService;
use crate::error::{constraint, group_exists, group_not_found, invalid};
use crate::input::{
    self, decode, decode_token, encode_token, group_arn, group_arn_bare, group_from_arn,
    group_name, required,
};
use crate::state::{Group, GroupMeta, Outcome};

/// The retention periods AWS allows, in days.
pub(crate) const RETENTION_DAYS: [i32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

const CLASSES: [&str; 3] = ["STANDARD", "INFREQUENT_ACCESS", "DELIVERY"];
const MAX_TAGS: usize = 50;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    log_group_name: Option<String>,
    kms_key_id: Option<String>,
    tags: Option<BTreeMap<String, String>>,
    log_group_class: Option<String>,
    deletion_protection_enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NameInput {
    log_group_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeInput {
    log_group_name_prefix: Option<String>,
    log_group_name_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
    log_group_class: Option<String>,
    log_group_identifiers: Option<Vec<String>>,
    #[allow(dead_code)]
    account_identifiers: Option<Vec<String>>,
    #[allow(dead_code)]
    include_linked_accounts: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetentionInput {
    log_group_name: Option<String>,
    retention_in_days: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TagInput {
    resource_arn: Option<String>,
    tags: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UntagInput {
    resource_arn: Option<String>,
    tag_keys: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArnInput {
    resource_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TagGroupInput {
    log_group_name: Option<String>,
    tags: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UntagGroupInput {
    log_group_name: Option<String>,
    tags: Option<Vec<String>>,
}

fn class(field: &str, v: &str) -> Result<(), ApiError> {
    if !CLASSES.contains(&v) {
        return Err(constraint(
            field,
            v,
            "Member must satisfy enum value set: [STANDARD, INFREQUENT_ACCESS, DELIVERY]",
        ));
    }
    Ok(())
}

fn too_many_tags(name: &str) -> ApiError {
    ApiError::client(
        "TooManyTagsException",
        format!("A resource can have no more than {MAX_TAGS} tags (resource {name})."),
    )
}

impl LogsService {
    /// The caller's group with this name.
    pub(crate) fn existing_group(
        &self,
        ctx: &CallContext,
        name: &str,
    ) -> Result<Arc<Group>, ApiError> {
        self.state
            .group(&ctx.account, name)
            .ok_or_else(group_not_found)
    }

    /// The group a tagging ARN names.
    fn group_by_arn(&self, ctx: &CallContext, arn: Option<String>) -> Result<Arc<Group>, ApiError> {
        let arn = required("resourceArn", arn)?;
        if arn.is_empty() || arn.len() > 1011 {
            return Err(constraint(
                "resourceArn",
                &arn,
                "Member must have length between 1 and 1011",
            ));
        }
        match group_from_arn(ctx, "resourceArn", &arn)? {
            Some(name) if group_name("resourceArn", name).is_ok() => self.existing_group(ctx, name),
            _ => Err(group_not_found()),
        }
    }

    pub(crate) fn create_log_group(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: CreateInput = decode(input)?;
        let name = required("logGroupName", i.log_group_name)?;
        group_name("logGroupName", &name)?;
        if let Some(t) = &i.tags {
            input::tags("tags", t)?;
        }
        if i.kms_key_id.is_some() {
            return Err(invalid(
                "Dockyard does not encrypt log groups with KMS keys; omit kmsKeyId.",
            ));
        }
        if i.deletion_protection_enabled == Some(true) {
            return Err(invalid(
                "Dockyard does not support deletion protection for log groups.",
            ));
        }
        let class_name = i.log_group_class.unwrap_or_else(|| "STANDARD".into());
        class("logGroupClass", &class_name)?;
        if class_name == "DELIVERY" {
            return Err(invalid(
                "The DELIVERY log group class is not supported by Dockyard.",
            ));
        }
        let meta = GroupMeta {
            account: ctx.account.clone(),
            name,
            creation_time: ctx.now.timestamp_millis(),
            retention_in_days: None,
            tags: i.tags.unwrap_or_default(),
            log_group_class: class_name,
        };
        if !self.state.create_group(meta)? {
            return Err(group_exists());
        }
        Ok(json!({}))
    }

    pub(crate) fn delete_log_group(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: NameInput = decode(input)?;
        let name = required("logGroupName", i.log_group_name)?;
        group_name("logGroupName", &name)?;
        if !self.state.delete_group(&ctx.account, &name)? {
            return Err(group_not_found());
        }
        Ok(json!({}))
    }

    pub(crate) fn describe_log_groups(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: DescribeInput = decode(input)?;
        if let Some(p) = &i.log_group_name_prefix {
            group_name("logGroupNamePrefix", p)?;
        }
        if let Some(p) = &i.log_group_name_pattern {
            input::group_name_pattern("logGroupNamePattern", p)?;
        }
        if i.log_group_name_prefix.is_some() && i.log_group_name_pattern.is_some() {
            return Err(invalid(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
            ));
        }
        let ids = match i.log_group_identifiers {
            Some(_) if i.log_group_name_prefix.is_some() || i.log_group_name_pattern.is_some() => {
                return Err(invalid(
                    "logGroupIdentifiers cannot be combined with logGroupNamePrefix or logGroupNamePattern.",
                ));
            }
            Some(ids) => {
                if ids.is_empty() || ids.len() > 50 {
                    return Err(constraint(
                        "logGroupIdentifiers",
                        format!("{ids:?}"),
                        "Member must have length between 1 and 50",
                    ));
                }
                let mut names = HashSet::new();
                for id in ids {
                    if id.starts_with("arn:") {
                        if let Some(n) = group_from_arn(ctx, "logGroupIdentifiers", &id)? {
                            names.insert(n.to_string());
                        }
                    } else {
                        names.insert(id);
                    }
                }
                Some(names)
            }
            None => None,
        };
        if let Some(c) = &i.log_group_class {
            class("logGroupClass", c)?;
        }
        let limit = input::limit("limit", i.limit, 50, 50)?;
        let after = decode_token(i.next_token.as_deref())?;
        let pattern_only = i.log_group_name_pattern.is_some();
        let mut page = Vec::new();
        let mut more = false;
        for g in self.state.groups_of(&ctx.account) {
            if after
                .as_ref()
                .is_some_and(|a| g.name.as_str() <= a.as_str())
                || i.log_group_name_prefix
                    .as_ref()
                    .is_some_and(|p| !g.name.starts_with(p.as_str()))
                || i.log_group_name_pattern
                    .as_ref()
                    .is_some_and(|p| !g.name.contains(p.as_str()))
                || ids.as_ref().is_some_and(|ids| !ids.contains(&g.name))
            {
                continue;
            }
            let meta = g.meta();
            if i.log_group_class
                .as_ref()
                .is_some_and(|c| *c != meta.log_group_class)
            {
                continue;
            }
            if page.len() == limit {
                more = true;
                break;
            }
            page.push((g, meta));
        }
        let next = more
            .then(|| page.last().map(|(g, _)| encode_token(&g.name)))
            .flatten();
        let groups: Vec<Value> = page
            .iter()
            .map(|(g, m)| render_group(ctx, g, m, pattern_only))
            .collect();
        let mut out = Map::new();
        out.insert("logGroups".into(), Value::Array(groups));
        if let Some(t) = next {
            out.insert("nextToken".into(), Value::String(t));
        }
        Ok(Value::Object(out))
    }

    pub(crate) fn put_retention_policy(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: RetentionInput = decode(input)?;
        let name = required("logGroupName", i.log_group_name)?;
        group_name("logGroupName", &name)?;
        let days = required("retentionInDays", i.retention_in_days)?;
        let days = i32::try_from(days)
            .ok()
            .filter(|d| RETENTION_DAYS.contains(d))
            .ok_or_else(|| {
                constraint(
                    "retentionInDays",
                    days,
                    &format!(
                        "Member must satisfy enum value set: [{}]",
                        RETENTION_DAYS.map(|d| d.to_string()).join(", ")
                    ),
                )
            })?;
        self.change_group(ctx, &name, |m| {
            m.retention_in_days = Some(days);
            Ok(())
        })?;
        Ok(json!({}))
    }

    pub(crate) fn delete_retention_policy(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: NameInput = decode(input)?;
        let name = required("logGroupName", i.log_group_name)?;
        group_name("logGroupName", &name)?;
        self.change_group(ctx, &name, |m| {
            m.retention_in_days = None;
            Ok(())
        })?;
        Ok(json!({}))
    }

    fn change_group(
        &self,
        ctx: &CallContext,
        name: &str,
        f: impl FnOnce(&mut GroupMeta) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        let g = self.existing_group(ctx, name)?;
        self.change(&g, f)
    }

    fn change(
        &self,
        g: &Group,
        f: impl FnOnce(&mut GroupMeta) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        match self.state.update_group(g, f)? {
            Outcome::Done(r) => r,
            Outcome::Gone => Err(group_not_found()),
        }
    }

    fn add_tags(&self, g: &Group, tags: BTreeMap<String, String>) -> Result<(), ApiError> {
        self.change(g, |m| {
            m.tags.extend(tags);
            if m.tags.len() > MAX_TAGS {
                return Err(too_many_tags(&g.name));
            }
            Ok(())
        })
    }

    fn remove_tags(&self, g: &Group, keys: Vec<String>) -> Result<(), ApiError> {
        self.change(g, |m| {
            for k in keys {
                m.tags.remove(&k);
            }
            Ok(())
        })
    }

    pub(crate) fn tag_resource(&self, ctx: &CallContext, input: Value) -> Result<Value, ApiError> {
        let i: TagInput = decode(input)?;
        let tags = required("tags", i.tags)?;
        input::tags("tags", &tags)?;
        let g = self.group_by_arn(ctx, i.resource_arn)?;
        self.add_tags(&g, tags)?;
        Ok(json!({}))
    }

    pub(crate) fn untag_resource(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: UntagInput = decode(input)?;
        let keys = required("tagKeys", i.tag_keys)?;
        if keys.len() > MAX_TAGS {
            return Err(constraint(
                "tagKeys",
                format!("{keys:?}"),
                "Member must have length less than or equal to 50",
            ));
        }
        for k in &keys {
            input::tag_key("tagKeys.member", k)?;
        }
        let g = self.group_by_arn(ctx, i.resource_arn)?;
        self.remove_tags(&g, keys)?;
        Ok(json!({}))
    }

    pub(crate) fn list_tags_for_resource(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: ArnInput = decode(input)?;
        let g = self.group_by_arn(ctx, i.resource_arn)?;
        Ok(json!({ "tags": g.meta().tags }))
    }

    pub(crate) fn tag_log_group(&self, ctx: &CallContext, input: Value) -> Result<Value, ApiError> {
        let i: TagGroupInput = decode(input)?;
        let name = required("logGroupName", i.log_group_name)?;
        group_name("logGroupName", &name)?;
        let tags = required("tags", i.tags)?;
        input::tags("tags", &tags)?;
        let g = self.existing_group(ctx, &name)?;
        self.add_tags(&g, tags)?;
        Ok(json!({}))
    }

    pub(crate) fn untag_log_group(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: UntagGroupInput = decode(input)?;
        let name = required("logGroupName", i.log_group_name)?;
        group_name("logGroupName", &name)?;
        let keys = required("tags", i.tags)?;
        if keys.is_empty() {
            return Err(constraint(
                "tags",
                "[]",
                "Member must have length greater than or equal to 1",
            ));
        }
        let g = self.existing_group(ctx, &name)?;
        self.remove_tags(&g, keys)?;
        Ok(json!({}))
    }

    pub(crate) fn list_tags_log_group(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: NameInput = decode(input)?;
        let name = required("logGroupName", i.log_group_name)?;
        group_name("logGroupName", &name)?;
        let g = self.existing_group(ctx, &name)?;
        Ok(json!({ "tags": g.meta().tags }))
    }
}

/// The `LogGroup` shape.
fn render_group(ctx: &CallContext, g: &Group, m: &GroupMeta, pattern_only: bool) -> Value {
    let mut v = json!({
        "logGroupName": g.name,
        "creationTime": m.creation_time,
        "arn": group_arn(ctx, &g.name),
    });
    if pattern_only {
        return v;
    }
    v["metricFilterCount"] = json!(0);
    v["storedBytes"] = json!(g.stored_bytes());
    v["logGroupClass"] = json!(m.log_group_class);
    v["logGroupArn"] = json!(group_arn_bare(ctx, &g.name));
    if let Some(d) = m.retention_in_days {
        v["retentionInDays"] = json!(d);
    }
    v
}
