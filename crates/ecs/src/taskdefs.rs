//! Task definitions: families, revisions, registration and retirement.

use serde::Deserialize;
use serde_json::{Value, json};

use dockyard_aws::{ApiError, CallContext};
use dockyard_store::{Compare, Txn};
use dockyard_taskdef::TaskDefinition;

use crate::EcsService;
use crate::db;
use crate::error::{client, invalid, store as store_err};
use crate::ids::{taskdef_arn, taskdef_ref};
use crate::input::{decode, max_results, next_token};
use crate::model::{
    FAMILIES, Family, StoredTaskDefinition, TASKDEFS, Tag, family_key, taskdef_key,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeIn {
    task_definition: Option<String>,
    include: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListIn {
    family_prefix: Option<String>,
    status: Option<String>,
    sort: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FamiliesIn {
    family_prefix: Option<String>,
    status: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteIn {
    task_definitions: Option<Vec<String>>,
}

fn not_found() -> ApiError {
    client("Unable to describe task definition.")
}

impl EcsService {
    /// A task definition by `family`, `family:revision` or ARN; a bare
    /// family means its latest ACTIVE revision.
    pub(crate) fn resolve_taskdef(
        &self,
        ctx: &CallContext,
        given: &str,
    ) -> Result<TaskDefinition, ApiError> {
        Ok(self.resolve_stored(ctx, given)?.definition)
    }

    /// As [`resolve_taskdef`](Self::resolve_taskdef), `None` when there
    /// is no such task definition (callers word that differently).
    pub(crate) fn find_taskdef(
        &self,
        ctx: &CallContext,
        given: &str,
    ) -> Result<Option<TaskDefinition>, ApiError> {
        Ok(self.find_stored(ctx, given)?.map(|d| d.definition))
    }

    fn resolve_stored(
        &self,
        ctx: &CallContext,
        given: &str,
    ) -> Result<StoredTaskDefinition, ApiError> {
        self.find_stored(ctx, given)?.ok_or_else(not_found)
    }

    fn find_stored(
        &self,
        ctx: &CallContext,
        given: &str,
    ) -> Result<Option<StoredTaskDefinition>, ApiError> {
        let (family, revision) = taskdef_ref(ctx, given)?;
        Ok(match revision {
            Some(r) => {
                db::get::<StoredTaskDefinition>(self.store.as_ref(), &taskdef_key(&family, r))?
                    .map(|v| v.value)
            }
            None => db::list::<StoredTaskDefinition>(
                self.store.as_ref(),
                &format!("{TASKDEFS}{family}/"),
            )?
            .into_iter()
            .rev()
            .map(|v| v.value)
            .find(|d| d.definition.status == "ACTIVE"),
        })
    }

    pub(crate) fn taskdef_tags(&self, def: &TaskDefinition) -> Result<Vec<Tag>, ApiError> {
        Ok(db::get::<StoredTaskDefinition>(
            self.store.as_ref(),
            &taskdef_key(&def.family, def.revision),
        )?
        .map(|v| v.value.tags)
        .unwrap_or_default())
    }

    pub(crate) fn register_task_definition(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let reg = dockyard_taskdef::validate_registration(&input)
            .map_err(|e| ApiError::client(e.code, e.message))?;
        let family = reg.family().to_string();
        let tags: Vec<Tag> = reg
            .tags()
            .iter()
            .map(|t| Tag {
                key: t.key.clone(),
                value: t.value.clone(),
            })
            .collect();
        let fkey = family_key(&family);
        for _ in 0..64 {
            let cur = db::get::<Family>(self.store.as_ref(), &fkey)?;
            let revision = cur.as_ref().map(|f| f.value.last_revision).unwrap_or(0) + 1;
            if revision > 1_000_000 {
                return Err(client(format!(
                    "Family {family} has reached the limit of 1,000,000 revisions."
                )));
            }
            let definition = reg.clone().into_definition(
                revision,
                taskdef_arn(ctx, &family, revision),
                ctx.now,
                Some(ctx.principal.arn.clone()),
            );
            let stored = StoredTaskDefinition {
                definition,
                tags: tags.clone(),
            };
            let compare = match &cur {
                Some(f) => Compare::ModRevision(fkey.clone(), f.mod_revision),
                None => Compare::Missing(fkey.clone()),
            };
            let r = self
                .store
                .txn(Txn {
                    compares: vec![compare],
                    success: vec![
                        db::put(
                            &fkey,
                            &Family {
                                last_revision: revision,
                            },
                        ),
                        db::put(&taskdef_key(&family, revision), &stored),
                    ],
                    failure: vec![],
                })
                .map_err(store_err)?;
            if r.succeeded {
                return Ok(json!({"taskDefinition": stored.definition, "tags": stored.tags}));
            }
        }
        Err(crate::error::server("family kept changing; try again"))
    }

    pub(crate) fn describe_task_definition(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: DescribeIn = decode(input)?;
        let given = i
            .task_definition
            .ok_or_else(|| invalid("taskDefinition must be specified."))?;
        let stored = self.resolve_stored(ctx, &given)?;
        if stored.definition.status == "DELETE_IN_PROGRESS" && !given.contains(':') {
            return Err(not_found());
        }
        let mut v = json!({"taskDefinition": stored.definition});
        if i.include.unwrap_or_default().iter().any(|s| s == "TAGS") {
            v["tags"] = json!(stored.tags);
        }
        Ok(v)
    }

    pub(crate) fn list_task_definitions(
        &self,
        _: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: ListIn = decode(input)?;
        let n = max_results(i.max_results, 100)?;
        let after = next_token(i.next_token.as_deref())?;
        let status = i.status.unwrap_or_else(|| "ACTIVE".into());
        if !["ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"].contains(&status.as_str()) {
            return Err(invalid(format!("Invalid status: {status}")));
        }
        let desc = match i.sort.as_deref() {
            None | Some("ASC") => false,
            Some("DESC") => true,
            Some(s) => return Err(invalid(format!("Invalid sort: {s}"))),
        };
        let prefix = match &i.family_prefix {
            // familyPrefix names a whole family, as on ECS.
            Some(f) => format!("{TASKDEFS}{f}/"),
            None => TASKDEFS.to_string(),
        };
        let mut all: Vec<(String, String)> =
            db::list::<StoredTaskDefinition>(self.store.as_ref(), &prefix)?
                .into_iter()
                .map(|v| v.value.definition)
                .filter(|d| d.status == status)
                .map(|d| {
                    (
                        format!("{}:{:010}", d.family, d.revision),
                        d.task_definition_arn,
                    )
                })
                .collect();
        all.sort();
        if desc {
            all.reverse();
        }
        // Tokens carry the position so both orders page correctly.
        let start = match after {
            Some(k) => all
                .iter()
                .position(|(key, _)| *key == k)
                .map(|p| p + 1)
                .unwrap_or(0),
            None => 0,
        };
        let page: Vec<&(String, String)> = all.iter().skip(start).take(n).collect();
        let mut v = json!({"taskDefinitionArns": page.iter().map(|(_, a)| a).collect::<Vec<_>>()});
        if start + n < all.len()
            && let Some((k, _)) = page.last()
        {
            v["nextToken"] = json!(dockyard_aws::input::encode_token(k));
        }
        Ok(v)
    }

    pub(crate) fn list_task_definition_families(
        &self,
        _: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: FamiliesIn = decode(input)?;
        let n = max_results(i.max_results, 100)?;
        let after = next_token(i.next_token.as_deref())?;
        let status = i.status.unwrap_or_else(|| "ACTIVE".into());
        if !["ACTIVE", "INACTIVE", "ALL"].contains(&status.as_str()) {
            return Err(invalid(format!("Invalid status: {status}")));
        }
        let prefix = i.family_prefix.unwrap_or_default();
        let mut families = Vec::new();
        for (key, _) in db::keys(self.store.as_ref(), &format!("{FAMILIES}{prefix}"))? {
            let family = key.trim_start_matches(FAMILIES).to_string();
            let active = db::list::<StoredTaskDefinition>(
                self.store.as_ref(),
                &format!("{TASKDEFS}{family}/"),
            )?
            .iter()
            .any(|d| d.value.definition.status == "ACTIVE");
            let keep = match status.as_str() {
                "ACTIVE" => active,
                "INACTIVE" => !active,
                _ => true,
            };
            if keep {
                families.push(family);
            }
        }
        let (page, token) =
            dockyard_aws::input::paginate(families, Clone::clone, after.as_deref(), n);
        Ok(crate::input::with_token(json!({ "families": page }), token))
    }

    fn set_status(
        &self,
        ctx: &CallContext,
        given: &str,
        from: &str,
        to: &str,
    ) -> Result<StoredTaskDefinition, ApiError> {
        let (family, revision) = taskdef_ref(ctx, given)?;
        let Some(revision) = revision else {
            return Err(client(
                "The specified task definition identifier is invalid. Specify a valid name or ARN and revision.",
            ));
        };
        let now = ctx.now;
        db::update(
            self.store.as_ref(),
            &taskdef_key(&family, revision),
            not_found,
            |d: &mut StoredTaskDefinition, _| {
                if d.definition.status == to {
                    return Ok(());
                }
                if d.definition.status != from {
                    return Err(client(format!(
                        "The specified task definition is not in {from} state."
                    )));
                }
                d.definition.status = to.to_string();
                if to == "INACTIVE" {
                    d.definition.deregistered_at = Some(now);
                }
                Ok(())
            },
        )
    }

    pub(crate) fn deregister_task_definition(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: DescribeIn = decode(input)?;
        let given = i
            .task_definition
            .ok_or_else(|| invalid("taskDefinition must be specified."))?;
        let d = self.set_status(ctx, &given, "ACTIVE", "INACTIVE")?;
        Ok(json!({"taskDefinition": d.definition}))
    }

    pub(crate) fn delete_task_definitions(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: DeleteIn = decode(input)?;
        let given = i
            .task_definitions
            .ok_or_else(|| invalid("taskDefinitions must be specified."))?;
        if given.is_empty() || given.len() > 10 {
            return Err(invalid("taskDefinitions must have between 1 and 10 items."));
        }
        let mut out = Vec::new();
        let mut failures = Vec::new();
        for g in given {
            match self.set_status(ctx, &g, "INACTIVE", "DELETE_IN_PROGRESS") {
                Ok(d) => out.push(json!(d.definition)),
                Err(e) => {
                    let reason = if e.message.contains("not in") {
                        "The specified task definition is still in ACTIVE status. Please deregister the target and try again."
                    } else {
                        "The specified task definition does not exist."
                    };
                    failures.push(json!({"arn": g, "reason": reason}));
                }
            }
        }
        Ok(json!({"taskDefinitions": out, "failures": failures}))
    }
}
