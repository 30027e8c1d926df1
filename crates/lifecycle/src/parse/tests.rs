#![cfg_attr(test, allow(clippy::unwrap_used))]

use dockyard_types::ErrorKind;
use serde_json::{Value, json};

use crate::{
    ActionType, CountType, LifecycleError, LifecyclePolicy, Rule, Selection, TagFilter, TagStatus,
};

fn expire() -> Value {
    json!({"type": "expire"})
}

fn rule(priority: u64, selection: Value) -> Value {
    json!({"rulePriority": priority, "selection": selection, "action": expire()})
}

fn count(status: &str, n: u64) -> Value {
    json!({"tagStatus": status, "countType": "imageCountMoreThan", "countNumber": n})
}

fn prefixes(list: &[&str], n: u64) -> Value {
    json!({"tagStatus": "tagged", "tagPrefixList": list, "countType": "imageCountMoreThan", "countNumber": n})
}

fn patterns(list: &[&str], n: u64) -> Value {
    json!({"tagStatus": "tagged", "tagPatternList": list, "countType": "imageCountMoreThan", "countNumber": n})
}

fn policy(rules: Vec<Value>) -> String {
    json!({ "rules": rules }).to_string()
}

fn one(selection: Value) -> String {
    policy(vec![rule(1, selection)])
}

/// Asserts a refusal of the `Invalid` sort whose message contains `needle`.
#[track_caller]
fn refused(text: &str, needle: &str) {
    let err = LifecyclePolicy::parse(text).expect_err(text);
    let message = err.to_string();
    assert!(
        matches!(err, LifecycleError::Invalid(_)),
        "{text}: expected Invalid, got {err:?}"
    );
    assert!(
        message.starts_with("Lifecycle policy validation failure: "),
        "{message}"
    );
    assert!(
        message.contains(needle),
        "{text}:\n{message}\nlacks {needle}"
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[track_caller]
fn unsupported(text: &str, needle: &str) {
    let err = LifecyclePolicy::parse(text).expect_err(text);
    let message = err.to_string();
    assert!(
        matches!(err, LifecycleError::Unsupported(_)),
        "{text}: {err:?}"
    );
    assert!(message.contains(needle), "{message}");
    assert!(
        message.ends_with("is not supported by Dockyard yet"),
        "{message}"
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn parses_a_full_rule() {
    let text = r#"{"rules": [{
        "rulePriority": 1,
        "description": "Expire images older than 14 days",
        "selection": {
            "tagStatus": "tagged",
            "tagPatternList": ["prod*"],
            "countType": "sinceImagePushed",
            "countUnit": "days",
            "countNumber": 14
        },
        "action": {"type": "expire"}
    }]}"#;
    let policy = LifecyclePolicy::parse(text).unwrap();
    assert_eq!(
        policy,
        LifecyclePolicy {
            rules: vec![Rule {
                priority: 1,
                description: Some("Expire images older than 14 days".into()),
                selection: Selection {
                    tag_status: TagStatus::Tagged(TagFilter::Patterns(vec!["prod*".into()])),
                    count: CountType::SinceImagePushedDays(14),
                },
                action: ActionType::Expire,
            }]
        }
    );
}

#[test]
fn rules_come_back_sorted_by_priority() {
    let text = policy(vec![
        rule(10, count("any", 5)),
        rule(2, count("untagged", 1)),
        rule(5, prefixes(&["prod"], 3)),
    ]);
    let policy = LifecyclePolicy::parse(&text).unwrap();
    let priorities: Vec<u32> = policy.rules.iter().map(|r| r.priority).collect();
    assert_eq!(priorities, [2, 5, 10]);
    assert_eq!(policy.rules[0].description, None);
    assert_eq!(policy.rules[0].selection.tag_status, TagStatus::Untagged);
    assert_eq!(
        policy.rules[1].selection.tag_status,
        TagStatus::Tagged(TagFilter::Prefixes(vec!["prod".into()]))
    );
    assert_eq!(policy.rules[2].selection.tag_status, TagStatus::Any);
    assert_eq!(
        policy.rules[2].selection.count,
        CountType::ImageCountMoreThan(5)
    );
}

#[test]
fn accepts_standard_storage_class_and_the_largest_int() {
    let mut selection = count("untagged", 2_147_483_647);
    selection["storageClass"] = json!("standard");
    let policy = LifecyclePolicy::parse(&policy(vec![rule(2_147_483_647, selection)])).unwrap();
    assert_eq!(policy.rules[0].priority, 2_147_483_647);
}

#[test]
fn refuses_text_that_is_not_a_policy_object() {
    refused("", "Could not map policyString into LifecyclePolicy");
    refused(
        "{\"rules\": [",
        "Could not map policyString into LifecyclePolicy",
    );
    refused("[]", "Could not map policyString into LifecyclePolicy");
    refused(
        "\"rules\"",
        "Could not map policyString into LifecyclePolicy",
    );
}

#[test]
fn refuses_bad_top_level_fields() {
    refused(
        r#"{"rules": [], "version": 1}"#,
        r#"object instance has properties which are not allowed by the schema: (["version"]) (at policy)"#,
    );
    refused(
        "{}",
        r#"object has missing required properties (["rules"]) (at policy)"#,
    );
    refused(
        r#"{"rules": {}}"#,
        r#"instance type (object) does not match any allowed primitive type (allowed: ["array"]) (at rules)"#,
    );
    refused(
        r#"{"rules": []}"#,
        "array is too short: must have at least 1 elements but instance has 0 elements (at rules)",
    );
}

#[test]
fn refuses_bad_rule_objects() {
    refused(
        r#"{"rules": ["expire"]}"#,
        r#"instance type (string) does not match any allowed primitive type (allowed: ["object"]) (at rules[0])"#,
    );
    let mut extra = rule(1, count("any", 1));
    extra["name"] = json!("x");
    refused(
        &policy(vec![extra]),
        r#"not allowed by the schema: (["name"]) (at rules[0])"#,
    );
    refused(
        &policy(vec![json!({"rulePriority": 1})]),
        r#"object has missing required properties (["action","selection"]) (at rules[0])"#,
    );
    let mut described = rule(1, count("any", 1));
    described["description"] = json!(7);
    refused(
        &policy(vec![described]),
        r#"instance type (integer) does not match any allowed primitive type (allowed: ["string"]) (at rules[0].description)"#,
    );
}

#[test]
fn refuses_bad_rule_priorities() {
    let with = |p: Value| {
        let mut r = rule(1, count("any", 1));
        r["rulePriority"] = p;
        policy(vec![r])
    };
    refused(
        &with(json!("1")),
        r#"instance type (string) does not match any allowed primitive type (allowed: ["integer"]) (at rules[0].rulePriority)"#,
    );
    refused(
        &with(json!(1.5)),
        r#"instance type (number) does not match any allowed primitive type (allowed: ["integer"])"#,
    );
    refused(
        &with(json!(1.0)),
        r#"instance type (number) does not match"#,
    );
    refused(
        &with(json!(0)),
        "numeric instance is lower than the required minimum (minimum: 1, found: 0) (at rules[0].rulePriority)",
    );
    refused(
        &with(json!(-3)),
        "numeric instance is lower than the required minimum (minimum: 1, found: -3)",
    );
    refused(
        &with(json!(2_147_483_648u64)),
        "numeric instance is greater than the required maximum (maximum: 2147483647, found: 2147483648)",
    );
    refused(&with(json!(u64::MAX)), "greater than the required maximum");
    refused(&with(Value::Null), "instance type (null)");
}

#[test]
fn refuses_bad_selection_objects() {
    refused(
        &policy(vec![rule(1, json!([]))]),
        r#"allowed: ["object"]) (at rules[0].selection)"#,
    );
    let mut extra = count("any", 1);
    extra["tagPrefix"] = json!(["x"]);
    refused(
        &one(extra),
        r#"not allowed by the schema: (["tagPrefix"]) (at rules[0].selection)"#,
    );
    refused(
        &one(json!({"tagStatus": "any"})),
        r#"object has missing required properties (["countNumber","countType"]) (at rules[0].selection)"#,
    );
    refused(
        &one(json!({"countType": "imageCountMoreThan", "countNumber": 1})),
        r#"missing required properties (["tagStatus"])"#,
    );
}

#[test]
fn refuses_bad_tag_status() {
    refused(
        &one(count("TAGGED", 1)),
        r#"instance value ("TAGGED") not found in enum (possible values: ["any","tagged","untagged"]) (at rules[0].selection.tagStatus)"#,
    );
    let mut selection = count("any", 1);
    selection["tagStatus"] = json!(true);
    refused(
        &one(selection),
        r#"instance type (boolean) does not match any allowed primitive type (allowed: ["string"])"#,
    );
}

#[test]
fn refuses_bad_counts() {
    let mut selection = count("any", 1);
    selection["countType"] = json!("imageCountLessThan");
    refused(
        &one(selection),
        r#"instance value ("imageCountLessThan") not found in enum (possible values: ["imageCountMoreThan","sinceImagePushed"]) (at rules[0].selection.countType)"#,
    );
    refused(
        &one(count("any", 0)),
        "numeric instance is lower than the required minimum (minimum: 1, found: 0) (at rules[0].selection.countNumber)",
    );
    let mut selection = count("any", 1);
    selection["countNumber"] = json!("5");
    refused(&one(selection), r#"(allowed: ["integer"])"#);
    let mut selection = count("any", 1);
    selection["countNumber"] = json!(2.5);
    refused(&one(selection), "instance type (number)");
}

#[test]
fn count_unit_is_required_for_age_and_forbidden_for_count() {
    refused(
        &one(json!({"tagStatus": "untagged", "countType": "sinceImagePushed", "countNumber": 14})),
        "countUnit is required when countType=sinceImagePushed (at rules[0].selection)",
    );
    refused(
        &one(
            json!({"tagStatus": "untagged", "countType": "imageCountMoreThan", "countUnit": "days", "countNumber": 14}),
        ),
        "countUnit must not be specified when countType=imageCountMoreThan (at rules[0].selection)",
    );
    refused(
        &one(
            json!({"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "hours", "countNumber": 14}),
        ),
        r#"instance value ("hours") not found in enum (possible values: ["days"]) (at rules[0].selection.countUnit)"#,
    );
    refused(
        &one(
            json!({"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": 1, "countNumber": 14}),
        ),
        r#"(allowed: ["string"]) (at rules[0].selection.countUnit)"#,
    );
    let ok = LifecyclePolicy::parse(&one(json!({"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14}))).unwrap();
    assert_eq!(
        ok.rules[0].selection.count,
        CountType::SinceImagePushedDays(14)
    );
}

#[test]
fn tagged_rules_need_exactly_one_tag_list() {
    refused(
        &one(count("tagged", 1)),
        "Must specify tagPrefixList or tagPatternList when tagStatus=TAGGED (at rules[0].selection)",
    );
    let mut both = prefixes(&["prod"], 1);
    both["tagPatternList"] = json!(["prod*"]);
    refused(
        &one(both),
        "tagPrefixList and tagPatternList cannot both be specified in one rule",
    );
    refused(
        &one(prefixes(&[], 1)),
        "array is too short: must have at least 1 elements but instance has 0 elements (at rules[0].selection.tagPrefixList)",
    );
    refused(
        &one(patterns(&[], 1)),
        "array is too short: must have at least 1 elements but instance has 0 elements (at rules[0].selection.tagPatternList)",
    );
    let mut not_list = count("tagged", 1);
    not_list["tagPrefixList"] = json!("prod");
    refused(
        &one(not_list),
        r#"instance type (string) does not match any allowed primitive type (allowed: ["array"]) (at rules[0].selection.tagPrefixList)"#,
    );
    let mut bad_entry = count("tagged", 1);
    bad_entry["tagPatternList"] = json!(["prod*", 3]);
    refused(
        &one(bad_entry),
        r#"(allowed: ["string"]) (at rules[0].selection.tagPatternList[1])"#,
    );
}

#[test]
fn untagged_and_any_rules_take_no_tag_list() {
    for status in ["untagged", "any"] {
        for field in ["tagPrefixList", "tagPatternList"] {
            for list in [json!(["prod"]), json!([])] {
                let mut selection = count(status, 1);
                selection[field] = list;
                refused(
                    &one(selection),
                    &format!(
                        "tagPrefixList and tagPatternList are only allowed when tagStatus=TAGGED, not tagStatus={}",
                        status.to_uppercase()
                    ),
                );
            }
        }
    }
}

#[test]
fn patterns_allow_at_most_four_wildcards() {
    // The User Guide's own examples of the limit.
    let ok = LifecyclePolicy::parse(&one(patterns(&["*test*1*2*3", "test*1*2*3*"], 1))).unwrap();
    assert_eq!(
        ok.rules[0].selection.tag_status,
        TagStatus::Tagged(TagFilter::Patterns(vec![
            "*test*1*2*3".into(),
            "test*1*2*3*".into()
        ]))
    );
    refused(
        &one(patterns(&["prod*", "test*1*2*3*4*5*6"], 1)),
        "tagPatternList entry \"test*1*2*3*4*5*6\" has 6 wildcards (*), more than the 4 allowed (at rules[0].selection.tagPatternList[1])",
    );
    refused(&one(patterns(&["*****"], 1)), "has 5 wildcards");
    // Prefixes are literal: a `*` there is just a character.
    LifecyclePolicy::parse(&one(prefixes(&["a*b*c*d*e*f"], 1))).unwrap();
}

#[test]
fn refuses_bad_actions() {
    let with = |action: Value| {
        policy(vec![
            json!({"rulePriority": 1, "selection": count("any", 1), "action": action}),
        ])
    };
    refused(
        &with(json!("expire")),
        r#"(allowed: ["object"]) (at rules[0].action)"#,
    );
    refused(
        &with(json!({})),
        r#"object has missing required properties (["type"]) (at rules[0].action)"#,
    );
    refused(
        &with(json!({"type": "delete"})),
        r#"instance value ("delete") not found in enum (possible values: ["expire"]) (at rules[0].action.type)"#,
    );
    refused(
        &with(json!({"type": "expire", "when": "now"})),
        r#"not allowed by the schema: (["when"]) (at rules[0].action)"#,
    );
    refused(
        &with(json!({"type": "expire", "targetStorageClass": "archive"})),
        "targetStorageClass is only allowed when the action type is transition (at rules[0].action)",
    );
}

#[test]
fn rule_priorities_must_be_unique() {
    refused(
        &policy(vec![
            rule(3, prefixes(&["a"], 1)),
            rule(3, prefixes(&["b"], 1)),
        ]),
        "rulePriority 3 is used by more than one rule; rule priorities must be unique",
    );
}

#[test]
fn only_one_rule_may_select_untagged_images() {
    refused(
        &policy(vec![
            rule(1, count("untagged", 1)),
            rule(
                4,
                json!({"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 3}),
            ),
        ]),
        "Only one rule can select Untagged images (rules 1 and 4 both have tagStatus=UNTAGGED)",
    );
    // An `any` rule also sees untagged images but is not an untagged rule.
    LifecyclePolicy::parse(&policy(vec![
        rule(1, count("untagged", 1)),
        rule(2, count("any", 5)),
    ]))
    .unwrap();
}

#[test]
fn the_any_rule_must_come_last() {
    refused(
        &policy(vec![
            rule(1, count("any", 1)),
            rule(2, prefixes(&["prod"], 1)),
        ]),
        "Rule for tagStatus=ANY must have the lowest priority, that is the highest rulePriority (rule 1 has tagStatus=ANY but rule 2 comes after it)",
    );
    // Two `any` rules cannot both be last.
    refused(
        &policy(vec![rule(7, count("any", 1)), rule(9, count("any", 2))]),
        "rule 7 has tagStatus=ANY but rule 9 comes after it",
    );
    LifecyclePolicy::parse(&policy(vec![
        rule(9, count("any", 1)),
        rule(2, prefixes(&["prod"], 1)),
    ]))
    .unwrap();
}

#[test]
fn tag_lists_must_be_unique_across_rules() {
    refused(
        &policy(vec![
            rule(1, prefixes(&["prod", "beta"], 1)),
            rule(2, prefixes(&["beta", "prod"], 5)),
        ]),
        r#"The set of rules must contain a unique set of tag prefixes (rules 1 and 2 both select tagPrefixList ["beta","prod"])"#,
    );
    refused(
        &policy(vec![
            rule(5, patterns(&["v*"], 1)),
            rule(2, patterns(&["v*", "v*"], 5)),
        ]),
        r#"(rules 2 and 5 both select tagPatternList ["v*"])"#,
    );
    // A prefix list and a pattern list are different selections even with
    // the same strings; overlapping lists are fine too.
    LifecyclePolicy::parse(&policy(vec![
        rule(1, prefixes(&["prod"], 1)),
        rule(2, patterns(&["prod"], 1)),
        rule(3, prefixes(&["prod", "beta"], 1)),
    ]))
    .unwrap();
}

#[test]
fn newer_ecr_features_are_refused_as_unsupported() {
    // The User Guide's archive examples.
    unsupported(
        r#"{"rules": [{"rulePriority": 1, "description": "Archive images not pulled in 90 days",
            "selection": {"tagStatus": "any", "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 90},
            "action": {"type": "transition", "targetStorageClass": "archive"}}]}"#,
        "countType sinceImagePulled",
    );
    unsupported(
        r#"{"rules": [{"rulePriority": 1, "description": "Expire images archived for more than 365 days",
            "selection": {"tagStatus": "any", "storageClass": "archive", "countType": "sinceImageTransitioned", "countUnit": "days", "countNumber": 365},
            "action": {"type": "expire"}}]}"#,
        "storageClass archive",
    );
    unsupported(
        r#"{"rules": [{"rulePriority": 1, "description": "Archive production images older than 30 days",
            "selection": {"tagStatus": "tagged", "tagPatternList": ["prod*"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 30},
            "action": {"type": "transition", "targetStorageClass": "archive"}}]}"#,
        "action type transition",
    );
    let mut transitioned = count("any", 1);
    transitioned["countType"] = json!("sinceImageTransitioned");
    unsupported(&one(transitioned), "countType sinceImageTransitioned");
    let mut storage = count("any", 1);
    storage["storageClass"] = json!("glacier");
    refused(
        &one(storage),
        r#"instance value ("glacier") not found in enum (possible values: ["archive","standard"])"#,
    );
}

#[test]
fn accepts_every_policy_in_the_user_guide_examples() {
    let texts = [
        r#"{"rules":[{"rulePriority":1,"description":"Expire images older than 14 days","selection":{"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}"#,
        r#"{"rules":[{"rulePriority":1,"description":"Expire images older than 14 days","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}"#,
        r#"{"rules":[{"rulePriority":1,"description":"Keep only one untagged image, expire all others","selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#,
        r#"{"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":2,"description":"Rule 2","selection":{"tagStatus":"tagged","tagPrefixList":["beta"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#,
        r#"{"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPatternList":["alpha*","beta*"],"countType":"sinceImagePushed","countNumber":5,"countUnit":"days"},"action":{"type":"expire"}}]}"#,
        r#"{"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#,
        r#"{"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPatternList":["alpha*"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":2,"description":"Rule 2","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}},{"rulePriority":3,"description":"Rule 3","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#,
    ];
    for text in texts {
        LifecyclePolicy::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
}
