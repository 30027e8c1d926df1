//! The ECS cluster query language: `memberOf` expressions and
//! `ListContainerInstances`' `filter`.
//!
//! Syntax (ECS Developer Guide, "Cluster query language"): a comparison is
//! `subject operator [argument]`; comparisons combine with `&&`/`and`,
//! `||`/`or`, `!`/`not` and parentheses (`not` binds tightest, then `and`,
//! then `or`). Subjects are `attribute:NAME`, `agentConnected`,
//! `agentVersion`, `ec2InstanceId`, `registeredAt`, `runningTasksCount`
//! and `task:group`; each accepts the operators the guide lists for it
//! (attributes and `task:group`, for which it lists none, accept every
//! string operator; attributes also accept ordered comparisons, numeric).
//!
//! Choices where the guide is silent:
//! - `=~`/`matches` use the `regex` crate (Java's syntax minus
//!   back-references and look-around) and must match the whole value, as
//!   Java's `Pattern.matches` does: `t2.*` matches `t2.small`.
//! - Negated operators (`!=`, `not_in`, `!~`) need the subject to exist:
//!   the guide's `attribute:stack != prod` "lists the instances with the
//!   custom attribute stack unless the attribute value is prod". So on
//!   `task:group` they hold when the instance runs tasks and none matches;
//!   `not(task:group == x)` is the anti-affinity form.
//! - An attribute registered without a value exists but equals nothing.
//! - Values are bare (`us-east-1a`, `g2.*`, balanced parentheses allowed)
//!   or quoted with `'` or `"` (backslash escapes the quote); a bare value
//!   ends at white space, at an unbalanced `)`, or at `&&`/`||`.
//! - `registeredAt` arguments without a zone are UTC; a bare date is its
//!   midnight. Keywords and word operators are case-insensitive.

use std::cmp::Ordering;
use std::fmt;

use dockyard_types::ErrorKind;

use crate::error::Invalid;
use crate::model::InstanceState;

mod parse;
#[cfg(test)]
mod tests;

/// ECS's limit on an expression's length.
pub const MAX_EXPRESSION_LEN: usize = 2000;

/// A parsed query, with the text it came from (echoed back by
/// `DescribeServices`, `DescribeTaskDefinition`...).
#[derive(Debug, Clone)]
pub struct Expression {
    source: String,
    root: Node,
}

/// Equal when they mean the same: `a == b` and `a equals  b` compare
/// equal although their texts differ.
impl PartialEq for Expression {
    fn eq(&self, other: &Self) -> bool {
        self.root == other.root
    }
}

impl Expression {
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        if text.chars().count() > MAX_EXPRESSION_LEN {
            return Err(QueryError {
                position: MAX_EXPRESSION_LEN,
                message: format!("longer than {MAX_EXPRESSION_LEN} characters"),
            });
        }
        let root = parse::parse(text)?;
        Ok(Self {
            source: text.to_string(),
            root,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn root(&self) -> &Node {
        &self.root
    }

    pub fn matches(&self, instance: &InstanceState) -> bool {
        self.root.matches_with(instance, &Added::NONE)
    }

    /// As [`matches`](Self::matches), on `instance` with `added` tasks
    /// besides those in its state.
    pub(crate) fn matches_with(&self, instance: &InstanceState, added: &Added) -> bool {
        self.root.matches_with(instance, added)
    }
}

/// Live tasks placement has put on an instance but that are not in its
/// [`InstanceState::tasks`]: the subjects that read tasks (`task:group`,
/// `runningTasksCount`) see them too, so placement need not copy the
/// instance to add them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Added<'a> {
    /// The groups of the added tasks (each once is enough: a group
    /// matches if any task's does).
    pub(crate) groups: &'a [&'a str],
    pub(crate) count: u64,
}

impl Added<'_> {
    pub(crate) const NONE: Added<'static> = Added {
        groups: &[],
        count: 0,
    };
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Where and why an expression failed to parse. `position` is a 0-based
/// character offset into the expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid expression at position {position}: {message}")]
pub struct QueryError {
    pub position: usize,
    pub message: String,
}

impl QueryError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

impl From<QueryError> for Invalid {
    fn from(e: QueryError) -> Self {
        Invalid(format!(
            "Invalid cluster query expression at position {}: {}.",
            e.position, e.message
        ))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    Compare(Comparison),
}

impl Node {
    pub fn matches(&self, instance: &InstanceState) -> bool {
        self.matches_with(instance, &Added::NONE)
    }

    fn matches_with(&self, instance: &InstanceState, added: &Added) -> bool {
        match self {
            Self::And(a, b) => a.matches_with(instance, added) && b.matches_with(instance, added),
            Self::Or(a, b) => a.matches_with(instance, added) || b.matches_with(instance, added),
            Self::Not(a) => !a.matches_with(instance, added),
            Self::Compare(c) => c.matches_with(instance, added),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Attribute(String),
    AgentConnected,
    AgentVersion,
    Ec2InstanceId,
    RegisteredAt,
    RunningTasksCount,
    TaskGroup,
}

impl Subject {
    pub fn operators(&self) -> &'static [Operator] {
        use Operator::*;
        match self {
            Self::Attribute(_) => &[
                Equals,
                NotEquals,
                GreaterThan,
                GreaterThanEqual,
                LessThan,
                LessThanEqual,
                Exists,
                NotExists,
                In,
                NotIn,
                Matches,
                NotMatches,
            ],
            Self::AgentConnected | Self::Ec2InstanceId | Self::TaskGroup => {
                &[Equals, NotEquals, In, NotIn, Matches, NotMatches]
            }
            Self::AgentVersion | Self::RegisteredAt | Self::RunningTasksCount => &[
                Equals,
                NotEquals,
                GreaterThan,
                GreaterThanEqual,
                LessThan,
                LessThanEqual,
            ],
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Attribute(name) => write!(f, "attribute:{name}"),
            Self::AgentConnected => f.write_str("agentConnected"),
            Self::AgentVersion => f.write_str("agentVersion"),
            Self::Ec2InstanceId => f.write_str("ec2InstanceId"),
            Self::RegisteredAt => f.write_str("registeredAt"),
            Self::RunningTasksCount => f.write_str("runningTasksCount"),
            Self::TaskGroup => f.write_str("task:group"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equals,
    NotEquals,
    GreaterThan,
    GreaterThanEqual,
    LessThan,
    LessThanEqual,
    Exists,
    NotExists,
    In,
    NotIn,
    Matches,
    NotMatches,
}

impl Operator {
    /// The word form (`equals`, `not_in`...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Equals => "equals",
            Self::NotEquals => "not_equals",
            Self::GreaterThan => "greater_than",
            Self::GreaterThanEqual => "greater_than_equal",
            Self::LessThan => "less_than",
            Self::LessThanEqual => "less_than_equal",
            Self::Exists => "exists",
            Self::NotExists => "not_exists",
            Self::In => "in",
            Self::NotIn => "not_in",
            Self::Matches => "matches",
            Self::NotMatches => "not_matches",
        }
    }

    /// The operator a negated one negates (`!=` -> `==`), if any.
    fn positive(self) -> Option<Self> {
        match self {
            Self::NotEquals => Some(Self::Equals),
            Self::NotIn => Some(Self::In),
            Self::NotMatches => Some(Self::Matches),
            _ => None,
        }
    }
}

/// A `=~` pattern: its text and the compiled, whole-value-anchored regex.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub source: String,
    regex: regex::Regex,
}

impl Pattern {
    pub(crate) fn new(source: &str) -> Result<Self, regex::Error> {
        let regex = regex::Regex::new(&format!("^(?:{source})$"))?;
        Ok(Self {
            source: source.to_string(),
            regex,
        })
    }

    pub fn is_match(&self, value: &str) -> bool {
        self.regex.is_match(value)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// A comparison's argument, already converted to the subject's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Argument {
    /// `exists` / `not_exists`.
    None,
    Text(String),
    List(Vec<String>),
    Pattern(Pattern),
    Number(f64),
    Count(u64),
    /// Seconds since the Unix epoch.
    Time(i64),
    Version(Version),
}

/// A dotted agent version such as `1.14.5`, compared component by
/// component (missing components count as 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(pub Vec<u64>);

impl Version {
    /// Leading `v` and anything after the numeric part (`-beta`, build
    /// metadata) are ignored; `None` if there is no leading number.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.strip_prefix('v').unwrap_or(text);
        let numeric = text
            .split(['-', '+', ' '])
            .next()
            .filter(|s| !s.is_empty())?;
        numeric
            .split('.')
            .map(|part| part.parse::<u64>().ok())
            .collect::<Option<Vec<_>>>()
            .map(Self)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.0.len().max(other.0.len());
        (0..len)
            .map(|i| {
                let a = self.0.get(i).copied().unwrap_or(0);
                let b = other.0.get(i).copied().unwrap_or(0);
                a.cmp(&b)
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub subject: Subject,
    pub operator: Operator,
    pub argument: Argument,
}

impl Comparison {
    pub fn matches(&self, instance: &InstanceState) -> bool {
        self.matches_with(instance, &Added::NONE)
    }

    fn matches_with(&self, instance: &InstanceState, added: &Added) -> bool {
        match &self.subject {
            Subject::Attribute(name) => {
                let values: Option<Vec<&str>> = instance
                    .attributes
                    .get(name)
                    .map(|v| v.as_deref().into_iter().collect());
                self.on_strings(values.as_deref())
            }
            Subject::AgentConnected => {
                let value = if instance.agent_connected {
                    "true"
                } else {
                    "false"
                };
                self.on_strings(Some(&[value]))
            }
            Subject::Ec2InstanceId => self.on_strings(Some(&[instance.ec2_instance_id.as_str()])),
            Subject::TaskGroup => {
                let groups: Vec<&str> = instance
                    .live_tasks()
                    .map(|t| t.group.as_str())
                    .chain(added.groups.iter().copied())
                    .collect();
                // An instance with no tasks has no group to compare.
                let values = (!groups.is_empty()).then_some(groups.as_slice());
                self.on_strings(values)
            }
            Subject::RunningTasksCount => {
                let count = instance.live_tasks().count() as u64 + added.count;
                match &self.argument {
                    Argument::Count(want) => self.ordered(count.cmp(want)),
                    _ => false,
                }
            }
            Subject::RegisteredAt => match &self.argument {
                Argument::Time(want) => self.ordered(instance.registered_at.cmp(want)),
                _ => false,
            },
            Subject::AgentVersion => {
                match (&self.argument, Version::parse(&instance.agent_version)) {
                    (Argument::Version(want), Some(have)) => self.ordered(have.cmp(want)),
                    // An unknown version differs from every version, and is
                    // neither older nor newer than any.
                    (Argument::Version(_), None) => self.operator == Operator::NotEquals,
                    _ => false,
                }
            }
        }
    }

    /// String subjects; `values` is `None` when the subject does not exist
    /// on the instance (a missing attribute, no tasks for `task:group`).
    fn on_strings(&self, values: Option<&[&str]>) -> bool {
        match self.operator {
            Operator::Exists => return values.is_some(),
            Operator::NotExists => return values.is_none(),
            _ => {}
        }
        let Some(values) = values else {
            return false;
        };
        if let Some(positive) = self.operator.positive() {
            return !Self::any_value(positive, &self.argument, values);
        }
        Self::any_value(self.operator, &self.argument, values)
    }

    fn any_value(operator: Operator, argument: &Argument, values: &[&str]) -> bool {
        values.iter().any(|value| match (operator, argument) {
            (Operator::Equals, Argument::Text(want)) => value == want,
            (Operator::In, Argument::List(list)) => list.iter().any(|w| w == value),
            (Operator::Matches, Argument::Pattern(p)) => p.is_match(value),
            (
                Operator::GreaterThan
                | Operator::GreaterThanEqual
                | Operator::LessThan
                | Operator::LessThanEqual,
                Argument::Number(want),
            ) => match value.trim().parse::<f64>() {
                Ok(have) => have.partial_cmp(want).is_some_and(|o| ordered(operator, o)),
                Err(_) => false,
            },
            _ => false,
        })
    }

    fn ordered(&self, ordering: Ordering) -> bool {
        ordered(self.operator, ordering)
    }
}

fn ordered(operator: Operator, ordering: Ordering) -> bool {
    match operator {
        Operator::Equals => ordering.is_eq(),
        Operator::NotEquals => ordering.is_ne(),
        Operator::GreaterThan => ordering.is_gt(),
        Operator::GreaterThanEqual => ordering.is_ge(),
        Operator::LessThan => ordering.is_lt(),
        Operator::LessThanEqual => ordering.is_le(),
        _ => false,
    }
}

/// `ListContainerInstances`' `filter`: the instances `expr` selects, in
/// the given order.
pub fn filter_instances<'a>(
    expr: &str,
    instances: &'a [InstanceState],
) -> Result<Vec<&'a InstanceState>, Invalid> {
    let expression = Expression::parse(expr)?;
    Ok(instances.iter().filter(|i| expression.matches(i)).collect())
}
