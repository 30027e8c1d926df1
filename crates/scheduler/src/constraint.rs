//! Placement constraints (binding: they can keep a task from being placed).

use serde_json::{Map, Value, json};

use crate::error::Invalid;
use crate::model::MAX_CONSTRAINTS;
use crate::query::Expression;

#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    /// Each task of the group on a different instance: no two tasks of the
    /// call, and none next to a running task of the same group.
    DistinctInstance,
    /// Only instances the expression selects.
    MemberOf(Expression),
}

impl Constraint {
    /// From the `type` and `expression` of a `placementConstraints` entry.
    pub fn new(kind: Option<&str>, expression: Option<&str>) -> Result<Self, Invalid> {
        match kind {
            Some("distinctInstance") => match expression {
                // SDKs that always send the member send it empty.
                None | Some("") => Ok(Self::DistinctInstance),
                Some(_) => Err(Invalid::new(
                    "distinctInstance expression should not be specified.",
                )),
            },
            Some("memberOf") => match expression {
                None | Some("") => Err(Invalid::new("memberOf expression must be specified.")),
                Some(text) => Ok(Self::MemberOf(Expression::parse(text)?)),
            },
            Some(other) => Err(Invalid::new(format!(
                "Invalid placement constraint type '{other}'. Valid values are distinctInstance \
                 and memberOf."
            ))),
            None => Err(Invalid::new(
                "A placement constraint type must be specified.",
            )),
        }
    }

    /// From ECS's JSON shape, `{"type": "memberOf", "expression": "..."}`.
    pub fn from_json(value: &Value) -> Result<Self, Invalid> {
        let object = value
            .as_object()
            .ok_or_else(|| Invalid::new("A placement constraint must be an object."))?;
        Self::new(
            string_member(object, "type")?,
            string_member(object, "expression")?,
        )
    }

    /// ECS's JSON shape, as `Describe*` calls echo it.
    pub fn to_json(&self) -> Value {
        match self {
            Self::DistinctInstance => json!({"type": "distinctInstance"}),
            Self::MemberOf(e) => json!({"type": "memberOf", "expression": e.source()}),
        }
    }
}

pub(crate) fn string_member<'a>(
    object: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, Invalid> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Invalid::new(format!("The {name} member must be a string."))),
    }
}

/// A request's (or service's) `placementConstraints` array.
pub fn parse_constraints(values: &[Value]) -> Result<Vec<Constraint>, Invalid> {
    if values.len() > MAX_CONSTRAINTS {
        return Err(Invalid::new(format!(
            "Too many placement constraints: {} given, at most {MAX_CONSTRAINTS} are allowed.",
            values.len()
        )));
    }
    values.iter().map(Constraint::from_json).collect()
}

/// A task definition's `placementConstraints`: only `memberOf` is allowed
/// there.
pub fn parse_task_definition_constraints(values: &[Value]) -> Result<Vec<Constraint>, Invalid> {
    let constraints = parse_constraints(values)?;
    if constraints
        .iter()
        .any(|c| matches!(c, Constraint::DistinctInstance))
    {
        return Err(Invalid::new(
            "constraint.type 'distinctInstance' is not supported.",
        ));
    }
    Ok(constraints)
}

#[cfg(test)]
mod tests {
    #![cfg_attr(test, allow(clippy::unwrap_used))]

    use serde_json::json;

    use super::*;

    #[test]
    fn reads_both_types() {
        let c = Constraint::from_json(&json!({"type": "distinctInstance"})).unwrap();
        assert_eq!(c, Constraint::DistinctInstance);
        let c = Constraint::from_json(
            &json!({"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t2.*"}),
        )
        .unwrap();
        let Constraint::MemberOf(e) = &c else {
            panic!("{c:?}")
        };
        assert_eq!(e.source(), "attribute:ecs.instance-type =~ t2.*");
        assert_eq!(
            c.to_json(),
            json!({"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t2.*"})
        );
    }

    #[test]
    fn refuses_what_ecs_refuses() {
        let cases = [
            (
                json!({"type": "distinctInstance", "expression": "task:group == x"}),
                "distinctInstance expression should not be specified.",
            ),
            (
                json!({"type": "memberOf"}),
                "memberOf expression must be specified.",
            ),
            (
                json!({"type": "sameHost"}),
                "Invalid placement constraint type 'sameHost'",
            ),
            (
                json!({"expression": "task:group == x"}),
                "A placement constraint type must be specified.",
            ),
            (
                json!({"type": "memberOf", "expression": "attribute:x =="}),
                "Invalid cluster query expression at position 14",
            ),
            (json!({"type": 3}), "The type member must be a string."),
            (
                json!("memberOf"),
                "A placement constraint must be an object.",
            ),
        ];
        for (value, want) in cases {
            let got = Constraint::from_json(&value).unwrap_err();
            assert!(got.0.starts_with(want), "{value}: {got}");
        }
    }

    #[test]
    fn an_empty_expression_with_distinct_instance_is_no_expression() {
        let c = Constraint::from_json(&json!({"type": "distinctInstance", "expression": ""}));
        assert_eq!(c, Ok(Constraint::DistinctInstance));
    }

    #[test]
    fn limits_the_count() {
        let ten: Vec<Value> = (0..10)
            .map(|_| json!({"type": "distinctInstance"}))
            .collect();
        assert_eq!(parse_constraints(&ten).unwrap().len(), 10);
        let eleven: Vec<Value> = (0..11)
            .map(|_| json!({"type": "distinctInstance"}))
            .collect();
        let e = parse_constraints(&eleven).unwrap_err();
        assert!(e.0.contains("11 given, at most 10"), "{e}");
    }

    #[test]
    fn task_definitions_take_only_member_of() {
        let ok = [json!({"type": "memberOf", "expression": "attribute:ecs.os-type == linux"})];
        assert_eq!(parse_task_definition_constraints(&ok).unwrap().len(), 1);
        let bad = [json!({"type": "distinctInstance"})];
        let e = parse_task_definition_constraints(&bad).unwrap_err();
        assert_eq!(e.0, "constraint.type 'distinctInstance' is not supported.");
    }
}
