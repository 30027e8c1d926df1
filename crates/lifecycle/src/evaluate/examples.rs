//! The User Guide's evaluation examples ("Examples of lifecycle policies in
//! Amazon ECR"), each with its documented outcome, plus edge cases of the
//! evaluation rules.

#![cfg_attr(test, allow(clippy::unwrap_used))]

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use crate::{
    ActionType, CountType, Image, LifecyclePolicy, Rule, Selection, TagFilter, TagStatus, evaluate,
};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).unwrap()
}

/// Image `name` (its digest is `sha256:<name>`) pushed `days_ago` days
/// before [`now`].
fn image(name: &str, tags: &[&str], days_ago: i64) -> Image {
    Image {
        digest: format!("sha256:{name}"),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        pushed_at: now() - TimeDelta::days(days_ago),
    }
}

/// The expired images as (name, rule priority), older first.
fn expired(policy: &str, images: &[Image]) -> Vec<(String, u32)> {
    let policy = LifecyclePolicy::parse(policy).unwrap();
    evaluate(&policy, images, now())
        .into_iter()
        .map(|e| {
            let name = e.digest.trim_start_matches("sha256:").to_string();
            (name, e.rule_priority)
        })
        .collect()
}

fn names(v: &[(&str, u32)]) -> Vec<(String, u32)> {
    v.iter().map(|(n, p)| (n.to_string(), *p)).collect()
}

/// "Example A" and "Example B" of "Filtering on multiple rules" share this
/// repository.
fn beta_prod_repo() -> Vec<Image> {
    vec![
        image("A", &["beta-1", "prod-1"], 10),
        image("B", &["beta-2", "prod-2"], 9),
        image("C", &["beta-3"], 8),
    ]
}

fn two_rules(first: &str, second: &str) -> String {
    format!(
        r#"{{"rules": [
            {{"rulePriority": 1, "description": "Rule 1",
              "selection": {{"tagStatus": "tagged", {first}, "countType": "imageCountMoreThan", "countNumber": 1}},
              "action": {{"type": "expire"}}}},
            {{"rulePriority": 2, "description": "Rule 2",
              "selection": {{"tagStatus": "tagged", {second}, "countType": "imageCountMoreThan", "countNumber": 1}},
              "action": {{"type": "expire"}}}}]}}"#
    )
}

#[test]
fn filtering_on_image_age() {
    // "expires images with a tag starting with prod by using a
    // tagPatternList of prod* that are also older than 14 days".
    let policy = r#"{"rules": [{"rulePriority": 1, "description": "Expire images older than 14 days",
        "selection": {"tagStatus": "tagged", "tagPatternList": ["prod*"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14},
        "action": {"type": "expire"}}]}"#;
    let images = [
        image("A", &["prod-1"], 20),
        image("B", &["prod-2"], 14), // exactly 14 days: not older
        image("C", &["prod"], 15),
        image("D", &["beta-1"], 30),  // not prod*
        image("E", &[], 40),          // untagged
        image("F", &["preprod"], 30), // patterns match the whole tag
        image("G", &["x", "prod-3"], 100),
    ];
    assert_eq!(
        expired(policy, &images),
        names(&[("G", 1), ("A", 1), ("C", 1)])
    );
}

#[test]
fn filtering_on_image_age_untagged() {
    // The older guide's version: "expires untagged images older than 14 days".
    let policy = r#"{"rules": [{"rulePriority": 1, "description": "Expire images older than 14 days",
        "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14},
        "action": {"type": "expire"}}]}"#;
    let images = [
        image("A", &[], 15),
        image("B", &[], 13),
        image("C", &["old"], 100),
    ];
    assert_eq!(expired(policy, &images), names(&[("A", 1)]));
}

#[test]
fn filtering_on_image_count() {
    // "keeps only one untagged image and expires all others".
    let policy = r#"{"rules": [{"rulePriority": 1, "description": "Keep only one untagged image, expire all others",
        "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1},
        "action": {"type": "expire"}}]}"#;
    let images = [
        image("U2", &[], 2),
        image("T", &["latest"], 5),
        image("U1", &[], 3),
        image("U3", &[], 1),
    ];
    assert_eq!(expired(policy, &images), names(&[("U1", 1), ("U2", 1)]));
}

#[test]
fn multiple_rules_example_a() {
    // Rule 1 (prod, keep 1) marks A. Rule 2 (beta, keep 1) sees A, B and C,
    // keeps C and would mark A and B, but A was seen by rule 1 and B
    // matches rule 1's tagging requirements, so both are skipped.
    // Result: Image A is expired.
    let want = names(&[("A", 1)]);
    let pattern = two_rules(
        r#""tagPatternList": ["prod*"]"#,
        r#""tagPatternList": ["beta*"]"#,
    );
    assert_eq!(expired(&pattern, &beta_prod_repo()), want);
    // The older guide wrote the same example with prefixes.
    let prefix = two_rules(
        r#""tagPrefixList": ["prod"]"#,
        r#""tagPrefixList": ["beta"]"#,
    );
    assert_eq!(expired(&prefix, &beta_prod_repo()), want);
}

#[test]
fn multiple_rules_example_b() {
    // Same repository, priorities swapped: rule 1 (beta, keep 1) sees all
    // three and marks A and B; rule 2 (prod) sees only images rule 1
    // already identified and marks nothing more.
    // Result: Images A and B are expired.
    let want = names(&[("A", 1), ("B", 1)]);
    let pattern = two_rules(
        r#""tagPatternList": ["beta*"]"#,
        r#""tagPatternList": ["prod*"]"#,
    );
    assert_eq!(expired(&pattern, &beta_prod_repo()), want);
    let prefix = two_rules(
        r#""tagPrefixList": ["beta"]"#,
        r#""tagPrefixList": ["prod"]"#,
    );
    assert_eq!(expired(&prefix, &beta_prod_repo()), want);
}

#[test]
fn multiple_tags_in_a_single_rule_example_a() {
    // Images must match all patterns: rule 1 sees C and F and expires those
    // older than five days. Result: Image C is expired.
    let policy = r#"{"rules": [{"rulePriority": 1, "description": "Rule 1",
        "selection": {"tagStatus": "tagged", "tagPatternList": ["alpha*", "beta*"], "countType": "sinceImagePushed", "countNumber": 5, "countUnit": "days"},
        "action": {"type": "expire"}}]}"#;
    let images = [
        image("A", &["alpha-1"], 12),
        image("B", &["beta-1"], 11),
        image("C", &["alpha-2", "beta-2"], 10),
        image("D", &["alpha-3"], 4),
        image("E", &["beta-3"], 3),
        image("F", &["alpha-4", "beta-4"], 2),
    ];
    assert_eq!(expired(policy, &images), names(&[("C", 1)]));
}

#[test]
fn multiple_tags_in_a_single_rule_example_b() {
    // Tags are not exclusive: a third tag does not stop a match. Rule 1
    // sees all images, keeps the newest. Result: Images A and B are expired.
    let policy = r#"{"rules": [{"rulePriority": 1, "description": "Rule 1",
        "selection": {"tagStatus": "tagged", "tagPatternList": ["alpha*", "beta*"], "countType": "imageCountMoreThan", "countNumber": 1},
        "action": {"type": "expire"}}]}"#;
    let images = [
        image("A", &["alpha-1", "beta-1", "gamma-1"], 10),
        image("B", &["alpha-2", "beta-2"], 9),
        image("C", &["alpha-3", "beta-3", "gamma-2"], 8),
    ];
    assert_eq!(expired(policy, &images), names(&[("A", 1), ("B", 1)]));
}

#[test]
fn all_images_example_a() {
    // An `any` rule keeping one image. Result: Images A, B, and C are
    // expired.
    let policy = r#"{"rules": [{"rulePriority": 1, "description": "Rule 1",
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
        "action": {"type": "expire"}}]}"#;
    let images = [
        image("A", &["alpha-1"], 4),
        image("B", &["beta-1"], 3),
        image("C", &[], 2),
        image("D", &["alpha-2"], 1),
    ];
    assert_eq!(
        expired(policy, &images),
        names(&[("A", 1), ("B", 1), ("C", 1)])
    );
}

#[test]
fn all_images_example_b() {
    // Rule 1 (alpha*, keep 1) identifies A and C, marks A. Rule 2
    // (untagged, older than 1 day) identifies B and E, marks B (E was
    // pushed exactly one day ago). Rule 3 (any, keep 1) identifies all
    // five and keeps the newest, E; it cannot mark A, B, C or E as higher
    // rules identified them, so it marks D.
    // Result: Images A, B, and D are expired.
    //
    // D and E were both pushed "1 day ago" and the guide keeps E: equal
    // push times fall back to the digest, and E's is the greater.
    let policy = r#"{"rules": [
        {"rulePriority": 1, "description": "Rule 1",
         "selection": {"tagStatus": "tagged", "tagPatternList": ["alpha*"], "countType": "imageCountMoreThan", "countNumber": 1},
         "action": {"type": "expire"}},
        {"rulePriority": 2, "description": "Rule 2",
         "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1},
         "action": {"type": "expire"}},
        {"rulePriority": 3, "description": "Rule 3",
         "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
         "action": {"type": "expire"}}]}"#;
    let images = [
        image("A", &["alpha-1", "beta-1"], 4),
        image("B", &[], 3),
        image("C", &["alpha-2"], 2),
        image("D", &["git hash"], 1),
        image("E", &[], 1),
    ];
    assert_eq!(
        expired(policy, &images),
        names(&[("A", 1), ("B", 2), ("D", 3)])
    );
    let mut reversed = images.to_vec();
    reversed.reverse();
    assert_eq!(
        expired(policy, &reversed),
        names(&[("A", 1), ("B", 2), ("D", 3)])
    );
}

#[test]
fn a_protecting_rule_still_counts_for_later_rules() {
    // The common idiom of a high count protecting releases: the `any` rule
    // counts the protected release among the two it keeps, and does not
    // keep an extra image to make up for it.
    let policy = r#"{"rules": [
        {"rulePriority": 10, "description": "Keep releases",
         "selection": {"tagStatus": "tagged", "tagPrefixList": ["16."], "countType": "imageCountMoreThan", "countNumber": 9999},
         "action": {"type": "expire"}},
        {"rulePriority": 20, "description": "Keep two of the rest",
         "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 2},
         "action": {"type": "expire"}}]}"#;
    let images = [
        image("R1", &["16.1"], 1),
        image("X1", &["16_4"], 2),
        image("X2", &["16_3"], 3),
        image("R0", &["16.0"], 4),
        image("X3", &[], 5),
    ];
    assert_eq!(expired(policy, &images), names(&[("X3", 20), ("X2", 20)]));
}

#[test]
fn an_image_is_expired_by_its_first_matching_rule_only() {
    // Both rules would expire A; the first (priority 2) gets it. B is only
    // old enough for rule 5, but it matches rule 2's tags, so it stays.
    let policy = r#"{"rules": [
        {"rulePriority": 5, "selection": {"tagStatus": "tagged", "tagPatternList": ["*"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 2}, "action": {"type": "expire"}},
        {"rulePriority": 2, "selection": {"tagStatus": "tagged", "tagPrefixList": ["app"], "countType": "imageCountMoreThan", "countNumber": 2}, "action": {"type": "expire"}}]}"#;
    let images = [
        image("A", &["app-1"], 9),
        image("B", &["app-2"], 8),
        image("C", &["app-3"], 7),
        image("D", &["lib-1"], 6),
        image("E", &["lib-2"], 1),
    ];
    assert_eq!(expired(policy, &images), names(&[("A", 2), ("D", 5)]));
}

#[test]
fn expiries_carry_the_image_and_come_oldest_first() {
    let policy = LifecyclePolicy::parse(
        r#"{"rules": [{"rulePriority": 3, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]}"#,
    )
    .unwrap();
    let images = [
        image("b", &["y"], 2),
        image("c", &[], 1),
        image("a", &["x", "z"], 3),
    ];
    let out = evaluate(&policy, &images, now());
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].digest, "sha256:a");
    assert_eq!(out[0].tags, ["x", "z"]);
    assert_eq!(out[0].pushed_at, now() - TimeDelta::days(3));
    assert_eq!(out[0].rule_priority, 3);
    assert_eq!(out[1].digest, "sha256:b");
    assert!(evaluate(&policy, &[], now()).is_empty());
}

#[test]
fn age_is_measured_to_the_instant() {
    let policy = LifecyclePolicy::parse(
        r#"{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1}, "action": {"type": "expire"}}]}"#,
    )
    .unwrap();
    let at = |offset: TimeDelta| Image {
        digest: format!("sha256:{}", offset.num_seconds()),
        tags: vec![],
        pushed_at: now() - TimeDelta::days(1) - offset,
    };
    let images = [at(TimeDelta::zero()), at(TimeDelta::seconds(1))];
    let out = evaluate(&policy, &images, now());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].digest, "sha256:1");
    // Images pushed "in the future" (clock skew) are simply young.
    let future = [image("f", &[], -3)];
    assert!(evaluate(&policy, &future, now()).is_empty());
}

#[test]
fn hand_built_rules_need_not_be_sorted() {
    let rule = |priority, tag_status, count| Rule {
        priority,
        description: None,
        selection: Selection { tag_status, count },
        action: ActionType::Expire,
    };
    let prod = TagStatus::Tagged(TagFilter::Prefixes(vec!["prod".into()]));
    let beta = TagStatus::Tagged(TagFilter::Prefixes(vec!["beta".into()]));
    let unsorted = LifecyclePolicy {
        rules: vec![
            rule(2, beta, CountType::ImageCountMoreThan(1)),
            rule(1, prod, CountType::ImageCountMoreThan(1)),
        ],
    };
    let out = evaluate(&unsorted, &beta_prod_repo(), now());
    let got: Vec<(&str, u32)> = out
        .iter()
        .map(|e| (e.digest.as_str(), e.rule_priority))
        .collect();
    assert_eq!(got, [("sha256:A", 1)]);
}
