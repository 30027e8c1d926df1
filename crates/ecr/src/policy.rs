//! Repository policies: Set/Get/DeleteRepositoryPolicy, and their
//! enforcement on both doors (the ECR API and `/v2/`).
//!
//! Until Dockyard has IAM, every access key's identity may do everything in
//! its account, so a repository policy can only change two things: an
//! `Allow` for everyone (`"Principal": "*"`) lets anonymous clients in
//! (public pulls), and a `Deny` takes access away from whoever it names.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use dockyard_aws::router::CallContext;
use dockyard_aws::{ApiError, Principal};
use dockyard_policy::{Decision, PolicyDocument, PolicyKind, Request};
use dockyard_registry::Action;

use crate::EcrService;
use crate::error::invalid_field;
use crate::input::decode;
use crate::meta::{self, RepoMeta};

/// ECR's limit on a repository policy's text.
const MAX_POLICY_LEN: usize = 10_240;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetInput {
    registry_id: Option<String>,
    repository_name: String,
    policy_text: String,
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RepoInput {
    registry_id: Option<String>,
    repository_name: String,
}

/// Checks policy text as SetRepositoryPolicy does.
pub(crate) fn parse(text: &str) -> Result<PolicyDocument, ApiError> {
    let invalid = |why: String| {
        invalid_field(
            "policyText",
            format!("Invalid repository policy provided: {why}"),
        )
    };
    if text.is_empty() || text.len() > MAX_POLICY_LEN {
        return Err(invalid(format!(
            "the policy must be 1 to {MAX_POLICY_LEN} characters long"
        )));
    }
    let doc =
        PolicyDocument::parse(text, PolicyKind::Resource).map_err(|e| invalid(e.to_string()))?;
    // Only ECR's own actions mean anything on a repository.
    let v: Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let statements = match &v["Statement"] {
        Value::Array(a) => a.clone(),
        s => vec![s.clone()],
    };
    for s in statements {
        let actions = match s.get("Action").or_else(|| s.get("NotAction")) {
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            _ => vec![],
        };
        for a in actions {
            let lower = a.to_ascii_lowercase();
            if lower != "*" && !lower.starts_with("ecr:") {
                return Err(invalid(format!("action {a} is not an ECR action")));
            }
        }
    }
    Ok(doc)
}

/// The ECR action a `/v2/` request amounts to, from its method and path.
pub(crate) fn v2_action(method: &http::Method, path: &str, action: Action) -> &'static str {
    match action {
        Action::Catalog => "ecr:DescribeRepositories",
        Action::Delete => "ecr:BatchDeleteImage",
        Action::Push if path.contains("/blobs/uploads") => "ecr:UploadLayerPart",
        Action::Push => "ecr:PutImage",
        Action::Pull if path.contains("/blobs/") => {
            if *method == http::Method::HEAD {
                "ecr:BatchCheckLayerAvailability"
            } else {
                "ecr:GetDownloadUrlForLayer"
            }
        }
        Action::Pull if path.contains("/tags/list") => "ecr:ListImages",
        Action::Pull if path.contains("/referrers/") => "ecr:ListImageReferrers",
        Action::Pull => "ecr:BatchGetImage",
    }
}

/// The outcome of a repository's policy for one request.
pub(crate) fn decide(
    doc: &PolicyDocument,
    principal: Option<&Principal>,
    action: &str,
    resource: &str,
) -> Decision {
    let mut context: BTreeMap<String, Vec<String>> = BTreeMap::new();
    context.insert(
        "aws:CurrentTime".into(),
        vec![chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)],
    );
    context.insert("aws:SecureTransport".into(), vec!["false".into()]);
    if let Some(p) = principal {
        context.insert("aws:PrincipalArn".into(), vec![p.arn.clone()]);
        context.insert("aws:PrincipalAccount".into(), vec![p.account.clone()]);
        if let Some(user) = p.arn.split_once(":user/").map(|(_, u)| u) {
            context.insert("aws:username".into(), vec![user.to_owned()]);
        }
    }
    doc.evaluate(&Request {
        principal: principal.map(|p| p.arn.as_str()),
        service: None,
        action,
        resource,
        context: &context,
    })
}

/// Whether a caller may act on a repository under its policy: anonymous
/// callers need an explicit allow, known callers are refused only by an
/// explicit deny.
pub(crate) fn permits(
    m: &RepoMeta,
    principal: Option<&Principal>,
    action: &str,
    resource: &str,
) -> bool {
    RepoPolicy::of(m).permits(principal, action, resource)
}

/// A repository's policy, parsed once (the registry's auth hook keeps it).
#[derive(Debug)]
pub(crate) enum RepoPolicy {
    None,
    /// Stored policies were checked when set; one that no longer parses
    /// grants nothing.
    Unparsable,
    Document(PolicyDocument),
}

impl RepoPolicy {
    pub(crate) fn of(m: &RepoMeta) -> Self {
        match &m.repository_policy {
            None => Self::None,
            Some(text) => match PolicyDocument::parse(text, PolicyKind::Resource) {
                Ok(doc) => Self::Document(doc),
                Err(_) => Self::Unparsable,
            },
        }
    }

    /// See [`permits`].
    pub(crate) fn permits(
        &self,
        principal: Option<&Principal>,
        action: &str,
        resource: &str,
    ) -> bool {
        match self {
            Self::None => principal.is_some(),
            Self::Unparsable => false,
            Self::Document(doc) => match decide(doc, principal, action, resource) {
                Decision::ExplicitDeny => false,
                Decision::Allow => true,
                Decision::NotApplicable => principal.is_some(),
            },
        }
    }
}

fn not_found(name: &str, registry_id: &str) -> ApiError {
    ApiError::client(
        "RepositoryPolicyNotFoundException",
        format!(
            "Repository policy does not exist for the repository with name '{name}' in the registry with id '{registry_id}'"
        ),
    )
}

impl EcrService {
    /// Refuses an API call a repository policy denies to the caller.
    pub(crate) fn check_repository_policy(
        &self,
        ctx: &CallContext,
        operation: &str,
        input: &Value,
    ) -> Result<(), ApiError> {
        let Some(name) = input.get("repositoryName").and_then(Value::as_str) else {
            return Ok(());
        };
        if !dockyard_registry::names::is_valid_name(name) {
            return Ok(()); // the operation reports the bad name itself
        }
        let Some((m, _)) = meta::load(&*self.store, name)? else {
            return Ok(());
        };
        let action = format!("ecr:{operation}");
        let resource = self.addr(ctx).arn(name);
        if permits(&m, Some(&ctx.principal), &action, &resource) {
            return Ok(());
        }
        Err(ApiError::client(
            "AccessDeniedException",
            format!(
                "User: {} is not authorized to perform: {action} on resource: {resource} with an explicit deny in a resource-based policy",
                ctx.principal.arn
            ),
        ))
    }

    pub(crate) fn set_repository_policy(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: SetInput = decode(input)?;
        self.existing(ctx, i.registry_id.as_deref(), &i.repository_name)?;
        let doc = parse(&i.policy_text)?;
        let resource = self.addr(ctx).arn(&i.repository_name);
        let locks_out = decide(
            &doc,
            Some(&ctx.principal),
            "ecr:SetRepositoryPolicy",
            &resource,
        ) == Decision::ExplicitDeny;
        if locks_out && !i.force {
            return Err(invalid_field(
                "policyText",
                "the policy would stop you from setting a repository policy again; set force to apply it anyway",
            ));
        }
        meta::update(&*self.store, &i.repository_name, &ctx.account, |m| {
            m.repository_policy = Some(i.policy_text.clone());
            Ok(())
        })?;
        Ok(json!({
            "registryId": ctx.account,
            "repositoryName": i.repository_name,
            "policyText": i.policy_text,
        }))
    }

    pub(crate) fn get_repository_policy(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: RepoInput = decode(input)?;
        let m = self.existing(ctx, i.registry_id.as_deref(), &i.repository_name)?;
        let text = m
            .repository_policy
            .ok_or_else(|| not_found(&i.repository_name, &ctx.account))?;
        Ok(json!({
            "registryId": ctx.account,
            "repositoryName": i.repository_name,
            "policyText": text,
        }))
    }

    pub(crate) fn delete_repository_policy(
        &self,
        ctx: &CallContext,
        input: Value,
    ) -> Result<Value, ApiError> {
        let i: RepoInput = decode(input)?;
        self.existing(ctx, i.registry_id.as_deref(), &i.repository_name)?;
        let (_, text) = meta::update(&*self.store, &i.repository_name, &ctx.account, |m| {
            m.repository_policy
                .take()
                .ok_or_else(|| not_found(&i.repository_name, &ctx.account))
        })?;
        Ok(json!({
            "registryId": ctx.account,
            "repositoryName": i.repository_name,
            "policyText": text,
        }))
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
