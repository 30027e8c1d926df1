//! Policy text -> [`LifecyclePolicy`], refusing what `PutLifecyclePolicy`
//! refuses. The JSON is read into a `Value` and checked by hand rather than
//! derived with serde so that each refusal can carry ECR's JSON-schema
//! wording and the path of the offending field.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::{Map, Value};

use crate::error::LifecycleError;
use crate::policy::{
    ActionType, CountType, LifecyclePolicy, MAX_WILDCARDS_PER_PATTERN, Rule, Selection, TagFilter,
    TagStatus,
};

/// ECR's schema types `rulePriority` and `countNumber` as Java ints.
const MAX_INT: u64 = i32::MAX as u64;

const RULE_FIELDS: &[&str] = &["rulePriority", "description", "selection", "action"];
const RULE_REQUIRED: &[&str] = &["rulePriority", "selection", "action"];
const SELECTION_FIELDS: &[&str] = &[
    "tagStatus",
    "tagPatternList",
    "tagPrefixList",
    "storageClass",
    "countType",
    "countUnit",
    "countNumber",
];
const SELECTION_REQUIRED: &[&str] = &["tagStatus", "countType", "countNumber"];
const ACTION_FIELDS: &[&str] = &["type", "targetStorageClass"];

pub(crate) fn parse(text: &str) -> Result<LifecyclePolicy, LifecycleError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        LifecycleError::invalid(format!(
            "Could not map policyString into LifecyclePolicy ({e})"
        ))
    })?;
    let Value::Object(top) = doc else {
        return Err(LifecycleError::invalid(
            "Could not map policyString into LifecyclePolicy (the policy must be a JSON object)",
        ));
    };
    check_fields(&top, "policy", &["rules"], &["rules"])?;
    let rules = array(&top["rules"], "rules")?;
    if rules.is_empty() {
        return Err(too_short(0, "rules"));
    }
    let mut parsed = rules
        .iter()
        .enumerate()
        .map(|(i, rule)| parse_rule(rule, &format!("rules[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    check_policy(&parsed)?;
    parsed.sort_by_key(|rule| rule.priority);
    Ok(LifecyclePolicy { rules: parsed })
}

fn parse_rule(value: &Value, path: &str) -> Result<Rule, LifecycleError> {
    let obj = object(value, path)?;
    check_fields(obj, path, RULE_FIELDS, RULE_REQUIRED)?;
    let priority = positive_int(&obj["rulePriority"], &format!("{path}.rulePriority"))?;
    let description = obj
        .get("description")
        .map(|v| string(v, &format!("{path}.description")).map(str::to_owned))
        .transpose()?;
    let selection = parse_selection(&obj["selection"], &format!("{path}.selection"))?;
    let action = parse_action(&obj["action"], &format!("{path}.action"))?;
    Ok(Rule {
        priority,
        description,
        selection,
        action,
    })
}

fn parse_selection(value: &Value, path: &str) -> Result<Selection, LifecycleError> {
    let obj = object(value, path)?;
    check_fields(obj, path, SELECTION_FIELDS, SELECTION_REQUIRED)?;

    // Newer features first, so a policy written for them is told plainly
    // that Dockyard lacks them rather than tripping over a later check.
    if let Some(v) = obj.get("storageClass") {
        let field = format!("{path}.storageClass");
        match string(v, &field)? {
            "standard" => {}
            "archive" => {
                return Err(LifecycleError::Unsupported(
                    "storageClass archive (archived images)".into(),
                ));
            }
            other => return Err(not_in_enum(other, &["archive", "standard"], &field)),
        }
    }
    let count_type_field = format!("{path}.countType");
    let count_type = string(&obj["countType"], &count_type_field)?;
    if matches!(count_type, "sinceImagePulled" | "sinceImageTransitioned") {
        return Err(LifecycleError::Unsupported(format!(
            "countType {count_type}"
        )));
    }

    let status_field = format!("{path}.tagStatus");
    let status = string(&obj["tagStatus"], &status_field)?;
    let prefixes = obj
        .get("tagPrefixList")
        .map(|v| string_list(v, &format!("{path}.tagPrefixList")))
        .transpose()?;
    let patterns = obj
        .get("tagPatternList")
        .map(|v| string_list(v, &format!("{path}.tagPatternList")))
        .transpose()?;
    let tag_status = match status {
        "tagged" => TagStatus::Tagged(tag_filter(prefixes, patterns, path)?),
        "untagged" | "any" => {
            if prefixes.is_some() || patterns.is_some() {
                return Err(LifecycleError::invalid(at(
                    &format!(
                        "tagPrefixList and tagPatternList are only allowed when tagStatus=TAGGED, not tagStatus={}",
                        status.to_uppercase()
                    ),
                    path,
                )));
            }
            if status == "any" {
                TagStatus::Any
            } else {
                TagStatus::Untagged
            }
        }
        other => {
            return Err(not_in_enum(
                other,
                &["any", "tagged", "untagged"],
                &status_field,
            ));
        }
    };

    let number = positive_int(&obj["countNumber"], &format!("{path}.countNumber"))?;
    let unit = obj
        .get("countUnit")
        .map(|v| string(v, &format!("{path}.countUnit")))
        .transpose()?;
    if let Some(unit) = unit
        && unit != "days"
    {
        return Err(not_in_enum(unit, &["days"], &format!("{path}.countUnit")));
    }
    let count = match count_type {
        "imageCountMoreThan" => {
            if unit.is_some() {
                return Err(LifecycleError::invalid(at(
                    "countUnit must not be specified when countType=imageCountMoreThan",
                    path,
                )));
            }
            CountType::ImageCountMoreThan(number)
        }
        "sinceImagePushed" => {
            if unit.is_none() {
                return Err(LifecycleError::invalid(at(
                    "countUnit is required when countType=sinceImagePushed",
                    path,
                )));
            }
            CountType::SinceImagePushedDays(number)
        }
        other => {
            return Err(not_in_enum(
                other,
                &["imageCountMoreThan", "sinceImagePushed"],
                &count_type_field,
            ));
        }
    };
    Ok(Selection { tag_status, count })
}

fn tag_filter(
    prefixes: Option<Vec<String>>,
    patterns: Option<Vec<String>>,
    path: &str,
) -> Result<TagFilter, LifecycleError> {
    match (prefixes, patterns) {
        (None, None) => Err(LifecycleError::invalid(at(
            "Must specify tagPrefixList or tagPatternList when tagStatus=TAGGED",
            path,
        ))),
        (Some(_), Some(_)) => Err(LifecycleError::invalid(at(
            "tagPrefixList and tagPatternList cannot both be specified in one rule",
            path,
        ))),
        (Some(prefixes), None) => {
            if prefixes.is_empty() {
                return Err(too_short(0, &format!("{path}.tagPrefixList")));
            }
            Ok(TagFilter::Prefixes(prefixes))
        }
        (None, Some(patterns)) => {
            if patterns.is_empty() {
                return Err(too_short(0, &format!("{path}.tagPatternList")));
            }
            for (i, pattern) in patterns.iter().enumerate() {
                let stars = pattern.matches('*').count();
                if stars > MAX_WILDCARDS_PER_PATTERN {
                    return Err(LifecycleError::invalid(at(
                        &format!(
                            "tagPatternList entry \"{pattern}\" has {stars} wildcards (*), more than the {MAX_WILDCARDS_PER_PATTERN} allowed"
                        ),
                        &format!("{path}.tagPatternList[{i}]"),
                    )));
                }
            }
            Ok(TagFilter::Patterns(patterns))
        }
    }
}

fn parse_action(value: &Value, path: &str) -> Result<ActionType, LifecycleError> {
    let obj = object(value, path)?;
    check_fields(obj, path, ACTION_FIELDS, &["type"])?;
    let field = format!("{path}.type");
    let action = match string(&obj["type"], &field)? {
        "expire" => ActionType::Expire,
        "transition" => {
            return Err(LifecycleError::Unsupported(
                "action type transition (moving images to archive storage)".into(),
            ));
        }
        other => return Err(not_in_enum(other, &["expire"], &field)),
    };
    if obj.contains_key("targetStorageClass") {
        return Err(LifecycleError::invalid(at(
            "targetStorageClass is only allowed when the action type is transition",
            path,
        )));
    }
    Ok(action)
}

/// The checks that span rules: unique priorities, one untagged rule, the
/// `any` rule last, and no two rules with the same tag list.
fn check_policy(rules: &[Rule]) -> Result<(), LifecycleError> {
    let mut seen = HashSet::new();
    for rule in rules {
        if !seen.insert(rule.priority) {
            return Err(LifecycleError::invalid(format!(
                "rulePriority {} is used by more than one rule; rule priorities must be unique",
                rule.priority
            )));
        }
    }

    let untagged: Vec<u32> = rules
        .iter()
        .filter(|r| r.selection.tag_status == TagStatus::Untagged)
        .map(|r| r.priority)
        .collect();
    if let [first, second, ..] = untagged[..] {
        return Err(LifecycleError::invalid(format!(
            "Only one rule can select Untagged images (rules {first} and {second} both have tagStatus=UNTAGGED)"
        )));
    }

    let last = rules.iter().map(|r| r.priority).max().unwrap_or(0);
    if let Some(rule) = rules
        .iter()
        .find(|r| r.selection.tag_status == TagStatus::Any && r.priority != last)
    {
        return Err(LifecycleError::invalid(format!(
            "Rule for tagStatus=ANY must have the lowest priority, that is the highest rulePriority (rule {} has tagStatus=ANY but rule {last} comes after it)",
            rule.priority
        )));
    }

    let mut tag_sets: HashMap<(bool, BTreeSet<&str>), u32> = HashMap::new();
    for rule in rules {
        let TagStatus::Tagged(filter) = &rule.selection.tag_status else {
            continue;
        };
        let is_prefix = matches!(filter, TagFilter::Prefixes(_));
        let set: BTreeSet<&str> = filter.entries().iter().map(String::as_str).collect();
        let list: Vec<&str> = set.iter().copied().collect();
        if let Some(other) = tag_sets.insert((is_prefix, set), rule.priority) {
            let (a, b) = (other.min(rule.priority), other.max(rule.priority));
            let field = if is_prefix {
                "tagPrefixList"
            } else {
                "tagPatternList"
            };
            return Err(LifecycleError::invalid(format!(
                "The set of rules must contain a unique set of tag prefixes (rules {a} and {b} both select {field} {})",
                json_list(&list)
            )));
        }
    }
    Ok(())
}

/// Refuses unknown fields first (ECR's schema forbids additional
/// properties), then missing required ones.
fn check_fields(
    obj: &Map<String, Value>,
    path: &str,
    allowed: &[&str],
    required: &[&str],
) -> Result<(), LifecycleError> {
    let unknown: Vec<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| !allowed.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(LifecycleError::invalid(at(
            &format!(
                "object instance has properties which are not allowed by the schema: ({})",
                json_list(&unknown)
            ),
            path,
        )));
    }
    let mut missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|k| !obj.contains_key(*k))
        .collect();
    missing.sort_unstable();
    if !missing.is_empty() {
        return Err(LifecycleError::invalid(at(
            &format!(
                "object has missing required properties ({})",
                json_list(&missing)
            ),
            path,
        )));
    }
    Ok(())
}

fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, LifecycleError> {
    value
        .as_object()
        .ok_or_else(|| wrong_type(value, "object", path))
}

fn array<'a>(value: &'a Value, path: &str) -> Result<&'a Vec<Value>, LifecycleError> {
    value
        .as_array()
        .ok_or_else(|| wrong_type(value, "array", path))
}

fn string<'a>(value: &'a Value, path: &str) -> Result<&'a str, LifecycleError> {
    value
        .as_str()
        .ok_or_else(|| wrong_type(value, "string", path))
}

fn string_list(value: &Value, path: &str) -> Result<Vec<String>, LifecycleError> {
    array(value, path)?
        .iter()
        .enumerate()
        .map(|(i, v)| string(v, &format!("{path}[{i}]")).map(str::to_owned))
        .collect()
}

/// An integer from 1 to `i32::MAX`; `1.0` is refused, as a JSON-schema
/// `integer` refuses it.
fn positive_int(value: &Value, path: &str) -> Result<u32, LifecycleError> {
    let Value::Number(n) = value else {
        return Err(wrong_type(value, "integer", path));
    };
    let found = if let Some(u) = n.as_u64() {
        if (1..=MAX_INT).contains(&u) {
            return u32::try_from(u).map_err(|_| wrong_type(value, "integer", path));
        }
        u.to_string()
    } else if let Some(i) = n.as_i64() {
        i.to_string()
    } else {
        return Err(wrong_type(value, "integer", path));
    };
    let message = if found.starts_with('-') || found == "0" {
        format!("numeric instance is lower than the required minimum (minimum: 1, found: {found})")
    } else {
        format!(
            "numeric instance is greater than the required maximum (maximum: {MAX_INT}, found: {found})"
        )
    };
    Err(LifecycleError::invalid(at(&message, path)))
}

fn wrong_type(value: &Value, expected: &str, path: &str) -> LifecycleError {
    let found = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    LifecycleError::invalid(at(
        &format!(
            "instance type ({found}) does not match any allowed primitive type (allowed: [\"{expected}\"])"
        ),
        path,
    ))
}

fn not_in_enum(found: &str, allowed: &[&str], path: &str) -> LifecycleError {
    LifecycleError::invalid(at(
        &format!(
            "instance value (\"{found}\") not found in enum (possible values: {})",
            json_list(allowed)
        ),
        path,
    ))
}

fn too_short(found: usize, path: &str) -> LifecycleError {
    LifecycleError::invalid(at(
        &format!(
            "array is too short: must have at least 1 elements but instance has {found} elements"
        ),
        path,
    ))
}

fn at(message: &str, path: &str) -> String {
    format!("{message} (at {path})")
}

fn json_list(items: &[&str]) -> String {
    // Serialising a slice of strings cannot fail.
    serde_json::to_string(items).unwrap_or_default()
}

#[cfg(test)]
mod tests;
