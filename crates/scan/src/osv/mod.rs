//! A vulnerability feed in the OSV format (<https://ossf.github.io/osv-schema/>),
//! reduced to what matching OS packages needs, and its evaluation rules.

mod parse;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::inventory::Family;
use crate::severity::Severity;
use crate::version::Scheme;

/// Vulnerabilities indexed by (ecosystem, package name). Only entries
/// that affect an ecosystem we scan (Debian, Ubuntu, Alpine) are kept;
/// withdrawn entries are dropped.
#[derive(Debug, Clone, Default)]
pub struct Feed {
    vulns: Vec<Vuln>,
    affected: Vec<Affected>,
    index: HashMap<(Family, String), Vec<usize>>,
    updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Cvss {
    pub vector: String,
    pub score: f64,
}

/// One OSV entry's package-independent part.
#[derive(Debug, Clone)]
pub(crate) struct Vuln {
    pub id: String,
    pub aliases: Vec<String>,
    pub description: Option<String>,
    pub uri: String,
    /// `database_specific.severity` when it is a word.
    pub severity_word: Option<Severity>,
    /// A `severity[]` of type `Ubuntu` (a priority word).
    pub priority: Option<Severity>,
    pub cvss3: Option<Cvss>,
}

#[derive(Debug, Clone)]
pub(crate) enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

impl Event {
    fn version(&self) -> &str {
        match self {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
        }
    }
}

/// One `affected[]` item for an ecosystem we scan.
#[derive(Debug, Clone)]
pub(crate) struct Affected {
    pub vuln: usize,
    pub family: Family,
    /// The ecosystem's suffix after the family: `12`, `22.04:LTS`,
    /// `v3.18`; `None` when the entry applies to every release.
    pub release: Option<String>,
    pub name: String,
    /// The events of each `ECOSYSTEM` range.
    pub ranges: Vec<Vec<Event>>,
    pub versions: Vec<String>,
    /// Where Debian and others put a per-package urgency or severity
    /// (`ecosystem_specific` / `database_specific`).
    pub severity_word: Option<Severity>,
    pub priority: Option<Severity>,
    pub cvss3: Option<Cvss>,
}

impl Feed {
    /// Parses a feed: a JSON array of OSV entries, a single entry, an
    /// object `{"vulns": [...]}` (osv.dev's API answer) or JSON Lines.
    /// Errors name the entry (index and id) or line at fault.
    pub fn parse(bytes: &[u8]) -> Result<Feed, crate::ScanError> {
        parse::parse(bytes)
    }

    /// How many vulnerabilities the feed holds for ecosystems we scan.
    pub fn len(&self) -> usize {
        self.vulns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vulns.is_empty()
    }

    /// The latest `modified` time among the entries kept, which ECR
    /// reports as `vulnerabilitySourceUpdatedAt`.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }

    /// Adds another feed's entries, so one can be loaded per file.
    pub fn merge(&mut self, other: Feed) {
        let offset = self.vulns.len();
        self.vulns.extend(other.vulns);
        for mut a in other.affected {
            a.vuln += offset;
            self.push_affected(a);
        }
        self.updated_at = self.updated_at.max(other.updated_at);
    }

    fn push_affected(&mut self, a: Affected) {
        let key = (a.family, a.name.clone());
        self.index.entry(key).or_default().push(self.affected.len());
        self.affected.push(a);
    }

    pub(crate) fn vuln(&self, a: &Affected) -> &Vuln {
        &self.vulns[a.vuln]
    }

    /// The `affected[]` items naming this package in this family.
    pub(crate) fn candidates<'a>(
        &'a self,
        family: Family,
        name: &str,
    ) -> impl Iterator<Item = &'a Affected> + 'a {
        self.index
            .get(&(family, name.to_string()))
            .into_iter()
            .flatten()
            .map(|i| &self.affected[*i])
    }
}

impl Affected {
    /// Whether the entry's ecosystem covers this release: exactly, or as
    /// a prefix before another `:` (`Ubuntu:22.04:LTS` covers `22.04`),
    /// or without any release at all.
    pub(crate) fn covers(&self, release: &str) -> bool {
        match &self.release {
            None => true,
            Some(r) => {
                !release.is_empty()
                    && r.strip_prefix(release)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
            }
        }
    }

    /// `Some(fixed version, if any)` when `version` is affected, following
    /// the evaluation in the OSV schema: an explicit `versions` entry, or
    /// an `ECOSYSTEM` range whose sorted events leave it vulnerable.
    pub(crate) fn evaluate(&self, version: &str) -> Option<Option<String>> {
        let scheme = self.family.scheme();
        let mut hit = false;
        let mut fixed = None;
        for events in &self.ranges {
            if let Some(f) = evaluate_range(events, scheme, version) {
                hit = true;
                if fixed.is_none() {
                    fixed = f;
                }
            }
        }
        if hit {
            return Some(fixed);
        }
        self.versions
            .iter()
            .any(|v| scheme.compare(version, v) == Ordering::Equal)
            .then_some(None)
    }
}

/// Orders event versions, with `introduced: "0"` before everything.
fn compare_events(scheme: Scheme, a: &Event, b: &Event) -> Ordering {
    let zero = |e: &Event| matches!(e, Event::Introduced(v) if v == "0");
    match (zero(a), zero(b)) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => scheme.compare(a.version(), b.version()),
    }
}

fn evaluate_range(events: &[Event], scheme: Scheme, v: &str) -> Option<Option<String>> {
    let limits: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Limit(l) => Some(l.as_str()),
            _ => None,
        })
        .collect();
    let below_a_limit = limits
        .iter()
        .any(|l| l.contains('*') || scheme.compare(v, l) == Ordering::Less);
    if !limits.is_empty() && !below_a_limit {
        return None;
    }
    let mut sorted: Vec<&Event> = events
        .iter()
        .filter(|e| !matches!(e, Event::Limit(_)))
        .collect();
    sorted.sort_by(|a, b| compare_events(scheme, a, b));
    let mut vulnerable = false;
    for e in &sorted {
        match e {
            Event::Introduced(x) => {
                if x == "0" || scheme.compare(v, x) != Ordering::Less {
                    vulnerable = true;
                }
            }
            Event::Fixed(x) => {
                if scheme.compare(v, x) != Ordering::Less {
                    vulnerable = false;
                }
            }
            Event::LastAffected(x) => {
                if scheme.compare(v, x) == Ordering::Greater {
                    vulnerable = false;
                }
            }
            Event::Limit(_) => {}
        }
    }
    if !vulnerable {
        return None;
    }
    // The fix to upgrade to is the first one above the installed version.
    let fixed = sorted.iter().find_map(|e| match e {
        Event::Fixed(x) if scheme.compare(x, v) == Ordering::Greater => Some(x.clone()),
        _ => None,
    });
    Some(fixed)
}
