//! A parsed policy document and its evaluation.

use crate::condition::Condition;
use crate::pattern::{Pattern, glob};
use crate::principal::Principals;
use crate::{Decision, PolicyError, PolicyKind, Request};

/// The policy language version (`Version` element).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyVersion {
    /// `2008-10-17`, also assumed when `Version` is missing: no policy
    /// variables, `${...}` is plain text.
    V2008_10_17,
    /// `2012-10-17`: policy variables are substituted.
    V2012_10_17,
}

impl PolicyVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2008_10_17 => "2008-10-17",
            Self::V2012_10_17 => "2012-10-17",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    Allow,
    Deny,
}

/// A list that either names what a statement covers (`Action`,
/// `Resource`, `Principal`) or what it excludes (`NotAction`...).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Listed<T> {
    pub negated: bool,
    pub items: T,
}

/// One statement of a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    pub(crate) principal: Option<Listed<Principals>>,
    pub(crate) action: Listed<Vec<Pattern>>,
    /// `None`: the element was omitted, which in a resource policy means
    /// the resource the policy is attached to.
    pub(crate) resource: Option<Listed<Vec<Pattern>>>,
    pub(crate) conditions: Vec<Condition>,
}

impl Statement {
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// Whether the statement applies to the request: principal, action,
    /// resource and every condition match.
    pub fn applies(&self, req: &Request<'_>) -> bool {
        self.principal_matches(req)
            && self.action_matches(req)
            && self.resource_matches(req)
            && self.conditions.iter().all(|c| c.holds(req.context))
    }

    fn principal_matches(&self, req: &Request<'_>) -> bool {
        // Identity policies have no Principal: the identity they are
        // attached to is the principal.
        self.principal
            .as_ref()
            .is_none_or(|p| p.items.matches(req) != p.negated)
    }

    fn action_matches(&self, req: &Request<'_>) -> bool {
        let empty = std::collections::BTreeMap::new();
        let listed = self.action.items.iter().any(|pattern| {
            // Actions take no variables, so resolving cannot fail.
            pattern
                .resolve(&empty)
                .is_some_and(|pieces| glob(&pieces, req.action, true))
        });
        listed != self.action.negated
    }

    fn resource_matches(&self, req: &Request<'_>) -> bool {
        let Some(resource) = &self.resource else {
            return true;
        };
        let mut listed = false;
        for pattern in &resource.items {
            match pattern.resolve(req.context) {
                Some(pieces) => listed |= glob(&pieces, req.resource, false),
                // A NotResource entry that cannot be resolved must not
                // widen the statement to every resource.
                None if resource.negated => return false,
                None => {}
            }
        }
        listed != resource.negated
    }
}

/// A validated policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    pub(crate) kind: PolicyKind,
    pub(crate) version: PolicyVersion,
    pub(crate) id: Option<String>,
    pub(crate) statements: Vec<Statement>,
}

impl PolicyDocument {
    /// Parses and validates `text` the way IAM does for `kind`; errors name
    /// the statement (1-based index and Sid) and the element at fault.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Self, PolicyError> {
        crate::parse::parse_document(text, kind)
    }

    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    pub fn version(&self) -> PolicyVersion {
        self.version
    }

    /// The optional top-level `Id`.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// Any applying `Deny` statement gives an explicit deny; else any
    /// applying `Allow` statement allows; else the document does not apply.
    pub fn evaluate(&self, req: &Request<'_>) -> Decision {
        let mut decision = Decision::NotApplicable;
        for statement in &self.statements {
            if statement.applies(req) {
                match statement.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => decision = Decision::Allow,
                }
            }
        }
        decision
    }
}
