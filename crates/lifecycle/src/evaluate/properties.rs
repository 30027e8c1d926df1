//! Property checks over random policies and repositories from a small
//! hand-rolled generator (fixed seeds, so failures reproduce).
//!
//! Besides the invariants the brief names, `evaluate` is compared with an
//! independent reference built from a different reading of the same
//! rules: an image belongs to the first rule whose tagging requirements it
//! meets, and expires exactly when that rule's count or age criterion,
//! applied to everything the rule identifies, picks it.

#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::{Value, json};

use super::{older_first, pushed_more_than_days_ago};
use crate::{
    ActionType, CountType, Expiry, Image, LifecyclePolicy, Rule, Selection, TagFilter, TagStatus,
    evaluate,
};

const CASES: u64 = 3000;
const STEMS: &[&str] = &["prod", "beta", "dev", "v1", "v2", "rc"];

/// SplitMix64: tiny, good enough to explore, and deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).unwrap()
}

fn gen_tag(rng: &mut Rng) -> String {
    let stem = rng.pick(STEMS);
    match rng.below(3) {
        0 => stem.to_string(),
        1 => format!("{stem}-{}", rng.below(4)),
        _ => format!("{stem}.{}.{}", rng.below(3), rng.below(3)),
    }
}

fn gen_images(rng: &mut Rng) -> Vec<Image> {
    let count = rng.below(14);
    let mut images: Vec<Image> = Vec::new();
    for i in 0..count {
        let tags = if rng.chance(35) {
            vec![]
        } else {
            let mut tags: Vec<String> = (0..=rng.below(3)).map(|_| gen_tag(rng)).collect();
            tags.sort();
            tags.dedup();
            tags
        };
        // Some exact ties in push time, to exercise the digest tie-break.
        let pushed_at = match images.last() {
            Some(prev) if rng.chance(20) => prev.pushed_at,
            _ => now() - TimeDelta::minutes(rng.below(40 * 24 * 60) as i64 - 60),
        };
        images.push(Image {
            digest: format!("sha256:{:04x}{i:02}", rng.below(0x10000)),
            tags,
            pushed_at,
        });
    }
    images
}

fn gen_filter(rng: &mut Rng) -> TagFilter {
    let n = 1 + rng.below(2);
    if rng.chance(50) {
        let entries = (0..n)
            .map(|_| {
                let stem = rng.pick(STEMS);
                if rng.chance(30) {
                    format!("{stem}-")
                } else {
                    stem.to_string()
                }
            })
            .collect();
        TagFilter::Prefixes(entries)
    } else {
        let entries = (0..n)
            .map(|_| {
                let stem = rng.pick(STEMS);
                match rng.below(5) {
                    0 => format!("{stem}*"),
                    1 => format!("*{stem}*"),
                    2 => format!("{stem}-*"),
                    3 => format!("{stem}.*.*"),
                    _ => "*".to_string(),
                }
            })
            .collect();
        TagFilter::Patterns(entries)
    }
}

fn gen_count(rng: &mut Rng) -> CountType {
    if rng.chance(50) {
        CountType::ImageCountMoreThan(1 + rng.below(4) as u32)
    } else {
        CountType::SinceImagePushedDays(1 + rng.below(30) as u32)
    }
}

/// A policy that obeys every policy-wide rule, so it must parse.
fn gen_policy(rng: &mut Rng) -> LifecyclePolicy {
    let count = 1 + rng.below(5) as usize;
    let mut priorities = BTreeSet::new();
    while priorities.len() < count {
        priorities.insert(1 + rng.below(50) as u32);
    }
    let mut used_filters = HashSet::new();
    let mut has_untagged = false;
    let mut rules = Vec::new();
    for (i, priority) in priorities.into_iter().enumerate() {
        let last = i + 1 == count;
        let tag_status = if last && rng.chance(30) {
            TagStatus::Any
        } else if !has_untagged && rng.chance(20) {
            has_untagged = true;
            TagStatus::Untagged
        } else {
            let filter = (0..20).map(|_| gen_filter(rng)).find(|f| {
                let set: BTreeSet<String> = f.entries().iter().cloned().collect();
                used_filters.insert((matches!(f, TagFilter::Prefixes(_)), set))
            });
            match filter {
                Some(filter) => TagStatus::Tagged(filter),
                None => continue,
            }
        };
        rules.push(Rule {
            priority,
            description: rng.chance(30).then(|| format!("rule {priority}")),
            selection: Selection {
                tag_status,
                count: gen_count(rng),
            },
            action: ActionType::Expire,
        });
    }
    LifecyclePolicy { rules }
}

fn render(policy: &LifecyclePolicy) -> String {
    let rules: Vec<Value> = policy
        .rules
        .iter()
        .rev() // the text's order must not matter
        .map(|rule| {
            let mut selection = serde_json::Map::new();
            let status = match &rule.selection.tag_status {
                TagStatus::Any => "any",
                TagStatus::Untagged => "untagged",
                TagStatus::Tagged(TagFilter::Prefixes(p)) => {
                    selection.insert("tagPrefixList".into(), json!(p));
                    "tagged"
                }
                TagStatus::Tagged(TagFilter::Patterns(p)) => {
                    selection.insert("tagPatternList".into(), json!(p));
                    "tagged"
                }
            };
            selection.insert("tagStatus".into(), json!(status));
            let (count_type, number) = match rule.selection.count {
                CountType::ImageCountMoreThan(n) => ("imageCountMoreThan", n),
                CountType::SinceImagePushedDays(n) => {
                    selection.insert("countUnit".into(), json!("days"));
                    ("sinceImagePushed", n)
                }
            };
            selection.insert("countType".into(), json!(count_type));
            selection.insert("countNumber".into(), json!(number));
            let mut out = json!({
                "rulePriority": rule.priority,
                "selection": selection,
                "action": {"type": "expire"},
            });
            if let Some(d) = &rule.description {
                out["description"] = json!(d);
            }
            out
        })
        .collect();
    json!({ "rules": rules }).to_string()
}

/// The first-matching-rule reading of the evaluation rules.
fn reference(policy: &LifecyclePolicy, images: &[Image]) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for image in images {
        let Some(owner) = policy
            .rules
            .iter()
            .find(|r| r.selection.matches(&image.tags))
        else {
            continue;
        };
        let expires = match owner.selection.count {
            CountType::SinceImagePushedDays(days) => pushed_more_than_days_ago(image, days, now()),
            CountType::ImageCountMoreThan(keep) => {
                let younger = images
                    .iter()
                    .filter(|other| owner.selection.matches(&other.tags))
                    .filter(|other| older_first(image, other).is_lt())
                    .count();
                younger >= keep as usize
            }
        };
        if expires {
            out.insert(image.digest.clone(), owner.priority);
        }
    }
    out
}

fn check_invariants(policy: &LifecyclePolicy, images: &[Image], out: &[Expiry], case: u64) {
    let by_digest: BTreeMap<&str, &Image> = images.iter().map(|i| (i.digest.as_str(), i)).collect();

    // No image expired twice, and the output is oldest first.
    let unique: HashSet<&str> = out.iter().map(|e| e.digest.as_str()).collect();
    assert_eq!(unique.len(), out.len(), "case {case}: duplicate expiry");
    for pair in out.windows(2) {
        let (a, b) = (
            by_digest[pair[0].digest.as_str()],
            by_digest[pair[1].digest.as_str()],
        );
        assert!(older_first(a, b).is_lt(), "case {case}: order");
    }

    for expiry in out {
        let image = by_digest[expiry.digest.as_str()];
        assert_eq!(expiry.tags, image.tags, "case {case}");
        assert_eq!(expiry.pushed_at, image.pushed_at, "case {case}");
        let rule = policy
            .rules
            .iter()
            .find(|r| r.priority == expiry.rule_priority)
            .unwrap();
        assert!(rule.selection.matches(&image.tags), "case {case}");
        // Never expired by a rule below one whose tags it matches.
        for higher in policy.rules.iter().filter(|r| r.priority < rule.priority) {
            assert!(
                !higher.selection.matches(&image.tags),
                "case {case}: {} expired by rule {} though rule {} identifies it",
                image.digest,
                rule.priority,
                higher.priority
            );
        }
        if let CountType::SinceImagePushedDays(days) = rule.selection.count {
            assert!(now() - image.pushed_at > TimeDelta::days(days.into()));
        }
    }

    // imageCountMoreThan N leaves at least N (or all, if fewer) of the
    // images it identifies unexpired by itself.
    for rule in &policy.rules {
        let CountType::ImageCountMoreThan(keep) = rule.selection.count else {
            continue;
        };
        let identified = images
            .iter()
            .filter(|i| rule.selection.matches(&i.tags))
            .count();
        let by_rule = out
            .iter()
            .filter(|e| e.rule_priority == rule.priority)
            .count();
        assert!(
            identified - by_rule >= identified.min(keep as usize),
            "case {case}: rule {} kept {} of {identified}",
            rule.priority,
            identified - by_rule
        );
    }
}

#[test]
fn random_policies_obey_the_evaluation_rules() {
    let mut expired_total = 0;
    let mut protected_skips = 0;
    for case in 0..CASES {
        let mut rng = Rng(case);
        let policy = gen_policy(&mut rng);
        let images = gen_images(&mut rng);

        let parsed = LifecyclePolicy::parse(&render(&policy))
            .unwrap_or_else(|e| panic!("case {case}: {e}\n{}", render(&policy)));
        assert_eq!(parsed, policy, "case {case}: round trip");

        let out = evaluate(&policy, &images, now());
        check_invariants(&policy, &images, &out, case);

        let got: BTreeMap<String, u32> = out
            .iter()
            .map(|e| (e.digest.clone(), e.rule_priority))
            .collect();
        assert_eq!(got, reference(&policy, &images), "case {case}");

        // The outcome does not depend on the order images come in.
        let mut shuffled = images.clone();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.below(i as u64 + 1) as usize);
        }
        assert_eq!(evaluate(&policy, &shuffled, now()), out, "case {case}");

        expired_total += out.len();
        // Count candidates a later rule had to skip, to show the generator
        // reaches the interesting situations.
        for (i, rule) in policy.rules.iter().enumerate() {
            protected_skips += images
                .iter()
                .filter(|img| rule.selection.matches(&img.tags))
                .filter(|img| {
                    policy.rules[..i]
                        .iter()
                        .any(|h| h.selection.matches(&img.tags))
                })
                .count();
        }
    }
    assert!(expired_total > 1000, "generator expires too little");
    assert!(protected_skips > 1000, "generator rarely overlaps rules");
}
