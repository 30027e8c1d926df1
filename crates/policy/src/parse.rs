//! JSON text to [`PolicyDocument`], with IAM's validation rules.

use serde_json::{Map, Value};

use crate::condition;
use crate::document::{Effect, Listed, PolicyDocument, PolicyVersion, Statement};
use crate::pattern::Pattern;
use crate::principal::Principals;
use crate::{PolicyError, PolicyKind};

const DOCUMENT_ELEMENTS: &[&str] = &["Version", "Id", "Statement"];
const STATEMENT_ELEMENTS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

pub(crate) fn parse_document(text: &str, kind: PolicyKind) -> Result<PolicyDocument, PolicyError> {
    let fail = |message: String| PolicyError::Document(message);
    let value: Value = serde_json::from_str(text).map_err(|e| PolicyError::Json(e.to_string()))?;
    let Value::Object(top) = value else {
        return Err(fail("the document must be a json object".to_string()));
    };
    if let Some(key) = top
        .keys()
        .find(|k| !DOCUMENT_ELEMENTS.contains(&k.as_str()))
    {
        return Err(fail(format!(
            "unknown element {key:?} (expected Version, Id and Statement)"
        )));
    }
    let version = match top.get("Version") {
        None => PolicyVersion::V2008_10_17,
        Some(Value::String(v)) if v == "2012-10-17" => PolicyVersion::V2012_10_17,
        Some(Value::String(v)) if v == "2008-10-17" => PolicyVersion::V2008_10_17,
        Some(other) => {
            return Err(fail(format!(
                "Version must be \"2012-10-17\" or \"2008-10-17\", got {}",
                show(other)
            )));
        }
    };
    let id = match top.get("Id") {
        None => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(_) => return Err(fail("Id must be a string".to_string())),
    };
    let items: Vec<&Value> = match top.get("Statement") {
        None => return Err(fail("Statement is required".to_string())),
        Some(Value::Array(items)) if items.is_empty() => {
            return Err(fail("Statement must not be an empty array".to_string()));
        }
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        Some(_) => {
            return Err(fail(
                "Statement must be an object or an array of objects".to_string(),
            ));
        }
    };
    let mut statements: Vec<Statement> = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let index = i + 1;
        let statement = parse_statement(index, item, kind, version)?;
        if let Some(sid) = statement.sid.as_deref().filter(|sid| !sid.is_empty())
            && let Some(first) = statements
                .iter()
                .position(|s| s.sid.as_deref() == Some(sid))
        {
            return Err(PolicyError::Statement {
                index,
                sid: statement.sid.clone(),
                message: format!("Sid {sid:?} is already used by statement {}", first + 1),
            });
        }
        statements.push(statement);
    }
    Ok(PolicyDocument {
        kind,
        version,
        id,
        statements,
    })
}

fn parse_statement(
    index: usize,
    value: &Value,
    kind: PolicyKind,
    version: PolicyVersion,
) -> Result<Statement, PolicyError> {
    let Value::Object(map) = value else {
        return Err(PolicyError::Statement {
            index,
            sid: None,
            message: "must be a json object".to_string(),
        });
    };
    let sid = match map.get("Sid") {
        None => None,
        Some(Value::String(sid)) => Some(sid.clone()),
        Some(_) => {
            return Err(PolicyError::Statement {
                index,
                sid: None,
                message: "Sid must be a string".to_string(),
            });
        }
    };
    let mut statement = statement_body(map, sid.as_deref(), kind, version).map_err(|message| {
        PolicyError::Statement {
            index,
            sid: sid.clone(),
            message,
        }
    })?;
    statement.sid = sid;
    Ok(statement)
}

/// The statement's elements after its Sid; errors are bare messages that
/// the caller prefixes with the statement's label.
fn statement_body(
    map: &Map<String, Value>,
    sid: Option<&str>,
    kind: PolicyKind,
    version: PolicyVersion,
) -> Result<Statement, String> {
    if let Some(key) = map
        .keys()
        .find(|k| !STATEMENT_ELEMENTS.contains(&k.as_str()))
    {
        return Err(format!("unknown element {key:?}"));
    }
    // IAM restricts identity-policy Sids; resource policies (ECR, S3)
    // accept any string.
    if let Some(sid) = sid
        && kind == PolicyKind::Identity
        && !sid.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(format!(
            "Sid {sid:?} may only contain letters and digits in an identity policy"
        ));
    }
    let effect = match map.get("Effect") {
        None => return Err("Effect is required".to_string()),
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(other) => {
            return Err(format!(
                "Effect must be \"Allow\" or \"Deny\", got {}",
                show(other)
            ));
        }
    };

    let (negated, actions) =
        one_of(map, "Action", "NotAction")?.ok_or("must have Action or NotAction")?;
    let field = if negated { "NotAction" } else { "Action" };
    let action = Listed {
        negated,
        items: string_list(actions, field)?
            .iter()
            .map(|a| check_action(a, field).map(|()| Pattern::parse(a, false)))
            .collect::<Result<_, _>>()?,
    };

    let principal = match (kind, one_of(map, "Principal", "NotPrincipal")?) {
        (PolicyKind::Resource, None) => {
            return Err("must have Principal or NotPrincipal in a resource policy".to_string());
        }
        (PolicyKind::Resource, Some((negated, value))) => {
            let field = if negated { "NotPrincipal" } else { "Principal" };
            Some(Listed {
                negated,
                items: Principals::parse(value, field)?,
            })
        }
        (PolicyKind::Identity, None) => None,
        (PolicyKind::Identity, Some((negated, _))) => {
            let field = if negated { "NotPrincipal" } else { "Principal" };
            return Err(format!("{field} is not allowed in an identity policy"));
        }
    };

    let variables = version == PolicyVersion::V2012_10_17;
    let resource = match (kind, one_of(map, "Resource", "NotResource")?) {
        (PolicyKind::Identity, None) => {
            return Err("must have Resource or NotResource in an identity policy".to_string());
        }
        (_, None) => None,
        (_, Some((negated, value))) => {
            let field = if negated { "NotResource" } else { "Resource" };
            Some(Listed {
                negated,
                items: string_list(value, field)?
                    .iter()
                    .map(|r| check_resource(r, field).map(|()| Pattern::parse(r, variables)))
                    .collect::<Result<_, _>>()?,
            })
        }
    };

    let conditions = match map.get("Condition") {
        None => Vec::new(),
        Some(block) => condition::parse_block(block, variables)?,
    };

    Ok(Statement {
        sid: None,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

/// The element present out of a pair such as Action/NotAction, with
/// whether it is the negated one.
fn one_of<'v>(
    map: &'v Map<String, Value>,
    plain: &str,
    negated: &str,
) -> Result<Option<(bool, &'v Value)>, String> {
    match (map.get(plain), map.get(negated)) {
        (Some(_), Some(_)) => Err(format!("must not have both {plain} and {negated}")),
        (Some(v), None) => Ok(Some((false, v))),
        (None, Some(v)) => Ok(Some((true, v))),
        (None, None) => Ok(None),
    }
}

/// A string or a non-empty array of non-empty strings.
pub(crate) fn string_list(value: &Value, field: &str) -> Result<Vec<String>, String> {
    let strings = match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if items.is_empty() => {
            return Err(format!("{field} must not be an empty array"));
        }
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                _ => Err(format!("{field} must be a string or an array of strings")),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(format!("{field} must be a string or an array of strings")),
    };
    if strings.iter().any(String::is_empty) {
        return Err(format!("{field} must not contain an empty string"));
    }
    Ok(strings)
}

/// `*` or `service:action`, where the service prefix is a plain name and
/// the action part may have wildcards.
fn check_action(action: &str, field: &str) -> Result<(), String> {
    let valid = action == "*"
        || action.split_once(':').is_some_and(|(service, name)| {
            !service.is_empty()
                && service
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !name.is_empty()
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{field} {action:?} must be \"*\" or \"service:action\" (such as \"ecr:BatchGetImage\")"
        ))
    }
}

/// `*` or an ARN with all six fields (wildcards allowed).
fn check_resource(resource: &str, field: &str) -> Result<(), String> {
    if resource == "*" || (resource.starts_with("arn:") && resource.matches(':').count() >= 5) {
        Ok(())
    } else {
        Err(format!(
            "{field} {resource:?} must be \"*\" or an arn (arn:partition:service:region:account:resource)"
        ))
    }
}

/// A JSON value for a message: strings quoted, others as JSON.
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}
