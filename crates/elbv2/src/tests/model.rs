//! Checks requests and replies against botocore's ELBv2 model (the
//! operations served and the shapes they reach, extracted into
//! `testdata/elbv2-model.json` by `testdata/extract_model.py`): every
//! parameter a test sends must be a member of the operation's input, and
//! every reply must parse as the operation's output shape (member names,
//! `member` list wrapping, enum values, numbers, booleans, timestamps,
//! required members) and every error code must be one the model lists
//! for the operation (or the common `ValidationError`).

use std::sync::LazyLock;

use serde_json::Value;

use super::xml::Node;

static MODEL: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../testdata/elbv2-model.json"))
        .expect("the extracted model is JSON")
});

fn shape(name: &str) -> &'static Value {
    let s = &MODEL["shapes"][name];
    assert!(!s.is_null(), "shape {name} is not in the model");
    s
}

fn operation(action: &str) -> &'static Value {
    let op = &MODEL["operations"][action];
    assert!(!op.is_null(), "operation {action} is not in the model");
    op
}

fn is_scalar(t: &str) -> bool {
    matches!(t, "string" | "integer" | "long" | "boolean" | "timestamp")
}

/// Panics unless `key` (`Tags.member.1.Key`) names a member of the
/// operation's input.
pub(crate) fn check_input(action: &str, key: &str) {
    if matches!(key, "Action" | "Version") {
        return;
    }
    let input = operation(action)["input"]["shape"].as_str().unwrap();
    let parts: Vec<&str> = key.split('.').collect();
    walk_input(input, &parts, key, action);
}

fn walk_input(name: &str, parts: &[&str], key: &str, action: &str) {
    let s = shape(name);
    let t = s["type"].as_str().unwrap();
    let Some((first, rest)) = parts.split_first() else {
        assert!(is_scalar(t), "{action}: {key} names a {t}, not a value");
        return;
    };
    match t {
        "structure" => {
            let member = &s["members"][*first];
            assert!(
                !member.is_null(),
                "{action}: {key}: no member {first} in {name}"
            );
            walk_input(member["shape"].as_str().unwrap(), rest, key, action);
        }
        "list" => {
            assert_eq!(*first, "member", "{action}: {key}: lists are .member.N");
            let (n, rest) = rest
                .split_first()
                .unwrap_or_else(|| panic!("{action}: {key}: list index missing"));
            assert!(
                n.parse::<u32>().is_ok_and(|n| n >= 1),
                "{action}: {key}: bad index {n}"
            );
            walk_input(s["member"]["shape"].as_str().unwrap(), rest, key, action);
        }
        other => panic!("{action}: {key}: {name} is a {other} and has no members"),
    }
}

/// Panics unless `result` (the `<ActionResult>` element) is the
/// operation's output shape.
pub(crate) fn check_output(action: &str, result: &Node) {
    let output = operation(action)["output"]["shape"].as_str().unwrap();
    walk_output(output, result, &format!("{action}Result"));
}

fn walk_output(name: &str, node: &Node, path: &str) {
    let s = shape(name);
    let t = s["type"].as_str().unwrap();
    if is_scalar(t) {
        assert!(
            node.children.is_empty(),
            "{path}: a {t} with child elements"
        );
        let v = node.text.as_str();
        match t {
            "string" => {
                if let Some(values) = s["enum"].as_array() {
                    assert!(
                        values.iter().any(|e| e == v),
                        "{path}: '{v}' is not one of {values:?}"
                    );
                }
            }
            "integer" | "long" => {
                let n: i64 = v
                    .parse()
                    .unwrap_or_else(|_| panic!("{path}: '{v}' is not a number"));
                if let Some(min) = s["min"].as_i64() {
                    assert!(n >= min, "{path}: {n} < {min}");
                }
                if let Some(max) = s["max"].as_i64() {
                    assert!(n <= max, "{path}: {n} > {max}");
                }
            }
            "boolean" => assert!(
                matches!(v, "true" | "false"),
                "{path}: '{v}' is not a boolean"
            ),
            _ => {
                chrono::DateTime::parse_from_rfc3339(v)
                    .unwrap_or_else(|e| panic!("{path}: '{v}' is not a timestamp: {e}"));
            }
        }
        return;
    }
    assert!(
        node.text.trim().is_empty(),
        "{path}: a {t} with text '{}'",
        node.text
    );
    match t {
        "structure" => {
            for child in &node.children {
                let member = &s["members"][&child.name];
                assert!(
                    !member.is_null(),
                    "{path}: {name} has no member {}",
                    child.name
                );
                walk_output(
                    member["shape"].as_str().unwrap(),
                    child,
                    &format!("{path}/{}", child.name),
                );
            }
            for required in s["required"].as_array().into_iter().flatten() {
                let r = required.as_str().unwrap();
                assert!(node.has(r), "{path}: required member {r} is missing");
            }
            let mut names: Vec<&str> = node.children.iter().map(|c| c.name.as_str()).collect();
            names.sort_unstable();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len(), "{path}: a member appears twice");
        }
        "list" => {
            for (i, child) in node.children.iter().enumerate() {
                assert_eq!(child.name, "member", "{path}: list items are <member>");
                walk_output(
                    s["member"]["shape"].as_str().unwrap(),
                    child,
                    &format!("{path}/member[{i}]"),
                );
            }
        }
        other => panic!("{path}: unexpected {other} shape"),
    }
}

/// Panics unless `code` is one the model lists for the operation (or
/// `ValidationError` and `InternalFailure`, which any may answer).
pub(crate) fn check_error(action: &str, code: &str) {
    // Every Query operation may answer these (the second as a 500).
    if matches!(code, "ValidationError" | "InternalFailure") {
        return;
    }
    let codes: Vec<&str> = operation(action)["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let shape = shape(e["shape"].as_str().unwrap());
            shape["error"]["code"].as_str().unwrap()
        })
        .collect();
    assert!(
        codes.contains(&code),
        "{action} answered {code}, which the model does not list ({codes:?})"
    );
}

#[cfg(test)]
mod checks {
    use super::super::xml::parse;
    use super::*;

    fn result(xml: &str) -> Node {
        parse(xml).children.remove(0)
    }

    #[test]
    fn good_shapes_pass() {
        check_input(
            "CreateRule",
            "Conditions.member.1.PathPatternConfig.Values.member.1",
        );
        check_input("AddTags", "Tags.member.2.Value");
        check_output(
            "DescribeTargetHealth",
            &result(
                "<R><TargetHealthDescriptions><member><Target><Id>10.0.0.1</Id><Port>80</Port>\
                 </Target><TargetHealth><State>healthy</State></TargetHealth></member>\
                 </TargetHealthDescriptions></R>",
            ),
        );
        check_error("DeleteRule", "OperationNotPermitted");
    }

    #[test]
    #[should_panic(expected = "no member Subnet")]
    fn unknown_input_members_fail() {
        check_input("CreateLoadBalancer", "Subnet.member.1");
    }

    #[test]
    #[should_panic(expected = "lists are .member.N")]
    fn unwrapped_input_lists_fail() {
        check_input("CreateLoadBalancer", "Subnets.1");
    }

    #[test]
    #[should_panic(expected = "has no member DnsName")]
    fn misspelt_output_members_fail() {
        check_output(
            "DescribeLoadBalancers",
            &result("<R><LoadBalancers><member><DnsName>x</DnsName></member></LoadBalancers></R>"),
        );
    }

    #[test]
    #[should_panic(expected = "list items are <member>")]
    fn unwrapped_output_lists_fail() {
        check_output(
            "DescribeListeners",
            &result("<R><Listeners><Listener><Port>80</Port></Listener></Listeners></R>"),
        );
    }

    #[test]
    #[should_panic(expected = "is not one of")]
    fn values_outside_enums_fail() {
        check_output(
            "DescribeLoadBalancers",
            &result("<R><LoadBalancers><member><Type>classic</Type></member></LoadBalancers></R>"),
        );
    }

    #[test]
    #[should_panic(expected = "required member Id is missing")]
    fn missing_required_members_fail() {
        check_output(
            "DescribeTargetHealth",
            &result(
                "<R><TargetHealthDescriptions><member><Target><Port>80</Port></Target>\
                 </member></TargetHealthDescriptions></R>",
            ),
        );
    }

    #[test]
    #[should_panic(expected = "which the model does not list")]
    fn unmodelled_error_codes_fail() {
        check_error("DeleteTargetGroup", "TargetGroupNotFound");
    }
}
