//! The AWS IAM policy language: parsing, validation and evaluation of one
//! policy document against one request, with no I/O and no clock (the
//! caller puts `aws:CurrentTime` and friends into the request context).
//!
//! Two kinds of documents share the language: resource-based policies
//! (an ECR repository policy: every statement names a `Principal`, and a
//! missing `Resource` means the resource the policy is attached to) and
//! identity policies (attached to a user or role: no `Principal`, and a
//! `Resource` is required). Combining several documents' decisions into
//! an access decision (identity vs resource policies, accounts, SCPs) is
//! the caller's business; [`combine`] gives the common "deny wins" rule.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod condition;
mod document;
mod error;
mod parse;
mod pattern;
mod principal;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use document::{Effect, PolicyDocument, PolicyVersion, Statement};
pub use error::PolicyError;

/// Which sort of policy a document is; it decides which elements a
/// statement must, may and must not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Attached to a resource (an ECR repository): `Principal` or
    /// `NotPrincipal` required, `Resource` optional.
    Resource,
    /// Attached to an identity (user, group, role): `Principal` forbidden,
    /// `Resource` or `NotResource` required.
    Identity,
}

/// The request a policy is evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The caller's ARN (`arn:aws:iam::123456789012:user/alice`,
    /// `arn:aws:iam::123456789012:root`,
    /// `arn:aws:sts::123456789012:assumed-role/R/S`); `None` when the
    /// caller is anonymous or only a service.
    pub principal: Option<&'a str>,
    /// The service principal (`ecs-tasks.amazonaws.com`) when the caller
    /// is an AWS service.
    pub service: Option<&'a str>,
    /// `service:Action`, e.g. `ecr:BatchGetImage`.
    pub action: &'a str,
    /// The ARN of the resource acted on.
    pub resource: &'a str,
    /// Condition context keys (names compared case-insensitively) with
    /// their values. A key with no values counts as absent. Policy
    /// variables (`${aws:username}`) are read from here too.
    pub context: &'a BTreeMap<String, Vec<String>>,
}

/// The outcome of evaluating one document (or several, see [`combine`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// A `Deny` statement matched; nothing can override it.
    ExplicitDeny,
    /// An `Allow` statement matched and no `Deny` did.
    Allow,
    /// No statement matched: an implicit deny unless another policy
    /// allows.
    NotApplicable,
}

/// Combines the decisions of several documents: any explicit deny wins,
/// then any allow, else not applicable.
pub fn combine(decisions: impl IntoIterator<Item = Decision>) -> Decision {
    let mut result = Decision::NotApplicable;
    for decision in decisions {
        match decision {
            Decision::ExplicitDeny => return Decision::ExplicitDeny,
            Decision::Allow => result = Decision::Allow,
            Decision::NotApplicable => {}
        }
    }
    result
}

/// Looks a context key up by its case-insensitive name; a key present
/// with no values is treated as absent, which is how AWS treats a null or
/// empty multivalued key.
pub(crate) fn context_values<'c>(
    context: &'c BTreeMap<String, Vec<String>>,
    key: &str,
) -> Option<&'c [String]> {
    context
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(key))
        .map(|(_, values)| values.as_slice())
        .filter(|values| !values.is_empty())
}
