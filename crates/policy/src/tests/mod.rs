//! Document-level tests: parsing every form, evaluation, conditions.

mod conditions;
mod evaluate;
mod parse;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{Decision, PolicyDocument, PolicyKind, Request};

pub(super) const REPO: &str = "arn:aws:ecr:us-east-1:000000000000:repository/team/app";
pub(super) const ALICE: &str = "arn:aws:iam::000000000000:user/alice";

pub(super) fn resource_policy(v: Value) -> PolicyDocument {
    PolicyDocument::parse(&v.to_string(), PolicyKind::Resource)
        .unwrap_or_else(|e| panic!("{e}: {v}"))
}

pub(super) fn identity_policy(v: Value) -> PolicyDocument {
    PolicyDocument::parse(&v.to_string(), PolicyKind::Identity)
        .unwrap_or_else(|e| panic!("{e}: {v}"))
}

/// A request with owned parts, evaluated against documents.
#[derive(Debug, Clone)]
pub(super) struct Call {
    principal: Option<String>,
    service: Option<String>,
    action: String,
    resource: String,
    context: BTreeMap<String, Vec<String>>,
}

impl Call {
    pub(super) fn by(principal: &str, action: &str) -> Self {
        Self {
            principal: Some(principal.to_string()),
            service: None,
            action: action.to_string(),
            resource: REPO.to_string(),
            context: BTreeMap::new(),
        }
    }

    pub(super) fn anonymous(action: &str) -> Self {
        Self {
            principal: None,
            ..Self::by("", action)
        }
    }

    pub(super) fn service(service: &str, action: &str) -> Self {
        Self {
            principal: None,
            service: Some(service.to_string()),
            ..Self::by("", action)
        }
    }

    pub(super) fn on(mut self, resource: &str) -> Self {
        self.resource = resource.to_string();
        self
    }

    pub(super) fn with(mut self, key: &str, values: &[&str]) -> Self {
        self.context.insert(
            key.to_string(),
            values.iter().map(|v| v.to_string()).collect(),
        );
        self
    }

    pub(super) fn eval(&self, doc: &PolicyDocument) -> Decision {
        let req = Request {
            principal: self.principal.as_deref(),
            service: self.service.as_deref(),
            action: &self.action,
            resource: &self.resource,
            context: &self.context,
        };
        doc.evaluate(&req)
    }
}
