//! The `Condition` element: `{Operator: {Key: value-or-values}}`.
//!
//! Rules, as AWS documents them: all operators (and all keys under one
//! operator) must hold; the values listed for one key are OR'ed, and a
//! negated operator (`StringNotEquals`...) holds when the request value
//! matches none of them. A key missing from the request makes a condition
//! false, except that negated operators, `...IfExists`, `ForAllValues:`
//! and `Null` then hold (`Null` when it asks for absence).

mod values;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::context_values;
use crate::pattern::{Pattern, glob, literal};
use values::{Cidr, arn_like, is_base64, parse_date, parse_ip, parse_number};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    ArnEquals,
    ArnLike,
    Null,
}

/// Every operator name, with what it tests and whether it is the negated
/// form of that test.
const OPERATORS: &[(&str, Family, bool)] = &[
    ("StringEquals", Family::StringEquals, false),
    ("StringNotEquals", Family::StringEquals, true),
    (
        "StringEqualsIgnoreCase",
        Family::StringEqualsIgnoreCase,
        false,
    ),
    (
        "StringNotEqualsIgnoreCase",
        Family::StringEqualsIgnoreCase,
        true,
    ),
    ("StringLike", Family::StringLike, false),
    ("StringNotLike", Family::StringLike, true),
    ("NumericEquals", Family::NumericEquals, false),
    ("NumericNotEquals", Family::NumericEquals, true),
    ("NumericLessThan", Family::NumericLessThan, false),
    (
        "NumericLessThanEquals",
        Family::NumericLessThanEquals,
        false,
    ),
    ("NumericGreaterThan", Family::NumericGreaterThan, false),
    (
        "NumericGreaterThanEquals",
        Family::NumericGreaterThanEquals,
        false,
    ),
    ("DateEquals", Family::DateEquals, false),
    ("DateNotEquals", Family::DateEquals, true),
    ("DateLessThan", Family::DateLessThan, false),
    ("DateLessThanEquals", Family::DateLessThanEquals, false),
    ("DateGreaterThan", Family::DateGreaterThan, false),
    (
        "DateGreaterThanEquals",
        Family::DateGreaterThanEquals,
        false,
    ),
    ("Bool", Family::Bool, false),
    ("BinaryEquals", Family::BinaryEquals, false),
    ("IpAddress", Family::IpAddress, false),
    ("NotIpAddress", Family::IpAddress, true),
    ("ArnEquals", Family::ArnEquals, false),
    ("ArnNotEquals", Family::ArnEquals, true),
    ("ArnLike", Family::ArnLike, false),
    ("ArnNotLike", Family::ArnLike, true),
    ("Null", Family::Null, false),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    ForAnyValue,
    ForAllValues,
}

/// The policy's values for one key, parsed for the operator's family.
#[derive(Debug, Clone, PartialEq)]
enum Values {
    /// String, Bool and ARN operators, which take policy variables.
    Patterns(Vec<Pattern>),
    Numbers(Vec<f64>),
    Dates(Vec<DateTime<Utc>>),
    Networks(Vec<Cidr>),
    Binary(Vec<String>),
    Null(Vec<bool>),
}

/// One operator applied to one key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    family: Family,
    negated: bool,
    if_exists: bool,
    qualifier: Option<SetQualifier>,
    key: String,
    values: Values,
}

/// Parses a whole `Condition` element. `variables` is whether policy
/// variables are substituted (Version 2012-10-17).
pub(crate) fn parse_block(value: &Value, variables: bool) -> Result<Vec<Condition>, String> {
    let Value::Object(operators) = value else {
        return Err("Condition must be an object of {operator: {key: values}}".to_string());
    };
    let mut conditions = Vec::new();
    for (name, keys) in operators {
        let (family, negated, if_exists, qualifier) = parse_operator(name)
            .ok_or_else(|| format!("Condition has unknown operator {name:?}"))?;
        let keys = match keys {
            Value::Object(keys) if !keys.is_empty() => keys,
            Value::Object(_) => return Err(format!("Condition {name} must not be empty")),
            _ => {
                return Err(format!(
                    "Condition {name} must be an object of {{key: values}}"
                ));
            }
        };
        for (key, raw) in keys {
            if key.is_empty() {
                return Err(format!("Condition {name} has an empty key"));
            }
            let where_ = format!("Condition {name} {key:?}");
            let raw = condition_strings(raw, &where_)?;
            let values = parse_values(family, &raw, variables, &where_)?;
            conditions.push(Condition {
                family,
                negated,
                if_exists,
                qualifier,
                key: key.clone(),
                values,
            });
        }
    }
    Ok(conditions)
}

/// Splits `ForAnyValue:StringLikeIfExists` into its parts. Names compare
/// case-insensitively, as IAM does.
fn parse_operator(name: &str) -> Option<(Family, bool, bool, Option<SetQualifier>)> {
    let (qualifier, rest) = match name.split_once(':') {
        Some((q, rest)) if q.eq_ignore_ascii_case("ForAnyValue") => {
            (Some(SetQualifier::ForAnyValue), rest)
        }
        Some((q, rest)) if q.eq_ignore_ascii_case("ForAllValues") => {
            (Some(SetQualifier::ForAllValues), rest)
        }
        Some(_) => return None,
        None => (None, name),
    };
    let suffix = "IfExists";
    let (base, if_exists) = match rest.len().checked_sub(suffix.len()) {
        Some(at) if rest.is_char_boundary(at) && rest[at..].eq_ignore_ascii_case(suffix) => {
            (&rest[..at], true)
        }
        _ => (rest, false),
    };
    let &(_, family, negated) = OPERATORS
        .iter()
        .find(|(op, _, _)| op.eq_ignore_ascii_case(base))?;
    // NullIfExists would ask "is it absent, if present": meaningless, and
    // IAM does not know it either.
    if family == Family::Null && if_exists {
        return None;
    }
    Some((family, negated, if_exists, qualifier))
}

/// A condition value: a string, number or boolean, or a non-empty array
/// of them; all are compared as strings.
fn condition_strings(value: &Value, where_: &str) -> Result<Vec<String>, String> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let invalid = || format!("{where_} must be a string, number or boolean, or an array of them");
    match value {
        Value::Array(items) if items.is_empty() => {
            Err(format!("{where_} must not be an empty array"))
        }
        Value::Array(items) => items
            .iter()
            .map(|v| scalar(v).ok_or_else(invalid))
            .collect(),
        other => Ok(vec![scalar(other).ok_or_else(invalid)?]),
    }
}

fn parse_values(
    family: Family,
    raw: &[String],
    variables: bool,
    where_: &str,
) -> Result<Values, String> {
    // Every value must parse; the message names the first that does not.
    let check = |what: &str, ok: &dyn Fn(&str) -> bool| match raw.iter().find(|v| !ok(v)) {
        Some(bad) => Err(format!("{where_}: {bad:?} is not {what}")),
        None => Ok(()),
    };
    let patterns = || raw.iter().map(|v| Pattern::parse(v, variables)).collect();
    let values = match family {
        Family::StringEquals
        | Family::StringEqualsIgnoreCase
        | Family::StringLike
        | Family::ArnEquals
        | Family::ArnLike => Values::Patterns(patterns()),
        Family::Bool => {
            check("\"true\" or \"false\"", &|v| {
                is_bool(v) || Pattern::parse(v, variables).has_variables()
            })?;
            Values::Patterns(patterns())
        }
        Family::NumericEquals
        | Family::NumericLessThan
        | Family::NumericLessThanEquals
        | Family::NumericGreaterThan
        | Family::NumericGreaterThanEquals => {
            check("a number", &|v| parse_number(v).is_some())?;
            Values::Numbers(raw.iter().filter_map(|v| parse_number(v)).collect())
        }
        Family::DateEquals
        | Family::DateLessThan
        | Family::DateLessThanEquals
        | Family::DateGreaterThan
        | Family::DateGreaterThanEquals => {
            check("an ISO 8601 date or epoch seconds", &|v| {
                parse_date(v).is_some()
            })?;
            Values::Dates(raw.iter().filter_map(|v| parse_date(v)).collect())
        }
        Family::IpAddress => {
            check("an IP address or CIDR block", &|v| Cidr::parse(v).is_some())?;
            Values::Networks(raw.iter().filter_map(|v| Cidr::parse(v)).collect())
        }
        Family::BinaryEquals => {
            check("base64", &is_base64)?;
            Values::Binary(raw.to_vec())
        }
        Family::Null => {
            check("\"true\" or \"false\"", &is_bool)?;
            Values::Null(raw.iter().map(|v| v.eq_ignore_ascii_case("true")).collect())
        }
    };
    Ok(values)
}

fn is_bool(v: &str) -> bool {
    v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false")
}

/// How one request value compares with the policy's values.
struct Outcome {
    /// Some policy value matched it.
    matched: bool,
    /// Some policy value had a variable the request could not fill.
    unresolved: bool,
}

impl Condition {
    pub(crate) fn holds(&self, context: &BTreeMap<String, Vec<String>>) -> bool {
        let present = context_values(context, &self.key);
        if let Values::Null(wanted) = &self.values {
            return wanted.iter().any(|absent| *absent == present.is_none());
        }
        let Some(present) = present else {
            return self.if_exists
                || match self.qualifier {
                    Some(SetQualifier::ForAllValues) => true,
                    Some(SetQualifier::ForAnyValue) => false,
                    None => self.negated,
                };
        };
        // Without a qualifier AWS expects one value; several are treated
        // as "any of them" for the positive test, so the negated test
        // asks that none matches.
        let test = |v: &String| self.test_one(v, context);
        match (self.qualifier, self.negated) {
            (Some(SetQualifier::ForAnyValue), _) | (None, false) => present.iter().any(test),
            (Some(SetQualifier::ForAllValues), _) | (None, true) => present.iter().all(test),
        }
    }

    /// The operator's verdict for one request value.
    fn test_one(&self, value: &str, context: &BTreeMap<String, Vec<String>>) -> bool {
        let outcome = self.compare(value, context);
        if self.negated {
            // A variable that cannot be filled makes the statement
            // unusable; a negated test must not turn that into a match.
            !outcome.matched && !outcome.unresolved
        } else {
            outcome.matched
        }
    }

    fn compare(&self, value: &str, context: &BTreeMap<String, Vec<String>>) -> Outcome {
        let mut outcome = Outcome {
            matched: false,
            unresolved: false,
        };
        match &self.values {
            Values::Patterns(patterns) => {
                for pattern in patterns {
                    let Some(pieces) = pattern.resolve(context) else {
                        outcome.unresolved = true;
                        continue;
                    };
                    let matched = match self.family {
                        Family::StringEquals => literal(&pieces) == value,
                        Family::StringEqualsIgnoreCase => {
                            literal(&pieces).to_lowercase() == value.to_lowercase()
                        }
                        Family::StringLike => glob(&pieces, value, false),
                        Family::Bool => literal(&pieces).eq_ignore_ascii_case(value),
                        _ => arn_like(&pieces, value),
                    };
                    outcome.matched |= matched;
                }
            }
            Values::Numbers(numbers) => {
                outcome.matched = parse_number(value)
                    .is_some_and(|v| numbers.iter().any(|n| self.ordered(v.partial_cmp(n))));
            }
            Values::Dates(dates) => {
                outcome.matched = parse_date(value)
                    .is_some_and(|v| dates.iter().any(|d| self.ordered(Some(v.cmp(d)))));
            }
            Values::Networks(networks) => {
                outcome.matched =
                    parse_ip(value).is_some_and(|ip| networks.iter().any(|n| n.contains(ip)));
            }
            Values::Binary(binary) => outcome.matched = binary.iter().any(|b| b == value.trim()),
            Values::Null(_) => {}
        }
        outcome
    }

    /// Numeric and date operators: whether `request <op> policy` holds.
    fn ordered(&self, ordering: Option<std::cmp::Ordering>) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let Some(ordering) = ordering else {
            return false;
        };
        match self.family {
            Family::NumericEquals | Family::DateEquals => ordering == Equal,
            Family::NumericLessThan | Family::DateLessThan => ordering == Less,
            Family::NumericLessThanEquals | Family::DateLessThanEquals => ordering != Greater,
            Family::NumericGreaterThan | Family::DateGreaterThan => ordering == Greater,
            Family::NumericGreaterThanEquals | Family::DateGreaterThanEquals => ordering != Less,
            _ => false,
        }
    }
}
