//! Which images a policy expires. The procedure follows the ECR
//! documentation's own description: rules go in priority order, each one
//! identifies the images its tagging requirements match (whatever happened
//! to them before), picks candidates by count or age among those, and
//! marks the candidates no higher-priority rule has identified.

use std::cmp::Ordering;

use chrono::{DateTime, TimeDelta, Utc};

use crate::policy::{CountType, LifecyclePolicy, Rule};

/// An image of the repository as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Assumed unique within the slice given to [`evaluate`].
    pub digest: String,
    /// Empty for an untagged image.
    pub tags: Vec<String>,
    pub pushed_at: DateTime<Utc>,
}

/// An image the policy expires, and the rule that expires it (ECR's
/// `appliedRulePriority` in a lifecycle policy preview).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    pub digest: String,
    pub tags: Vec<String>,
    pub pushed_at: DateTime<Utc>,
    pub rule_priority: u32,
}

/// The images the policy expires at `now`, older first; each at most once.
pub fn evaluate(policy: &LifecyclePolicy, images: &[Image], now: DateTime<Utc>) -> Vec<Expiry> {
    // Youngest first, the order `imageCountMoreThan` counts in.
    let mut youngest_first: Vec<usize> = (0..images.len()).collect();
    youngest_first.sort_by(|&a, &b| older_first(&images[b], &images[a]));

    // `parse` sorts rules, but the fields are public; the outcome must not
    // depend on how a caller ordered them.
    let mut rules: Vec<&Rule> = policy.rules.iter().collect();
    rules.sort_by_key(|rule| rule.priority);

    // Images some higher-priority rule identified: no later rule may mark
    // them, though later rules still count them.
    let mut identified = vec![false; images.len()];
    let mut expired_by: Vec<Option<u32>> = vec![None; images.len()];
    for rule in rules {
        let matched: Vec<usize> = youngest_first
            .iter()
            .copied()
            .filter(|&i| rule.selection.matches(&images[i].tags))
            .collect();
        let candidates: Vec<usize> = match rule.selection.count {
            CountType::ImageCountMoreThan(keep) => matched
                .iter()
                .copied()
                .skip(usize::try_from(keep).unwrap_or(usize::MAX))
                .collect(),
            CountType::SinceImagePushedDays(days) => matched
                .iter()
                .copied()
                .filter(|&i| pushed_more_than_days_ago(&images[i], days, now))
                .collect(),
        };
        for i in candidates {
            if !identified[i] && expired_by[i].is_none() {
                expired_by[i] = Some(rule.priority);
            }
        }
        for i in matched {
            identified[i] = true;
        }
    }

    youngest_first
        .iter()
        .rev()
        .filter_map(|&i| {
            let image = &images[i];
            expired_by[i].map(|rule_priority| Expiry {
                digest: image.digest.clone(),
                tags: image.tags.clone(),
                pushed_at: image.pushed_at,
                rule_priority,
            })
        })
        .collect()
}

/// Push time, then digest: equal push times still get one fixed order.
pub(crate) fn older_first(a: &Image, b: &Image) -> Ordering {
    a.pushed_at
        .cmp(&b.pushed_at)
        .then_with(|| a.digest.cmp(&b.digest))
}

/// Strictly more than `days` whole 24-hour days: an image pushed exactly
/// `days` days ago is not yet expired (the ECR examples' "older than").
pub(crate) fn pushed_more_than_days_ago(image: &Image, days: u32, now: DateTime<Utc>) -> bool {
    match TimeDelta::try_days(i64::from(days)) {
        Some(limit) => now.signed_duration_since(image.pushed_at) > limit,
        None => false,
    }
}

#[cfg(test)]
mod examples;
#[cfg(test)]
mod properties;
