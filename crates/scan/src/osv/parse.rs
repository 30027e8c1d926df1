//! Reading OSV JSON in the shapes operators have it: an array, one entry,
//! osv.dev's `{"vulns": [...]}`, or JSON Lines.
//!
//! An array is read entry by entry without building a JSON tree of the
//! whole feed, as distribution feeds run to hundreds of megabytes.

use std::cell::{Cell, RefCell};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde_json::Value;

use super::{Affected, Cvss, Event, Feed, Vuln};
use crate::ScanError;
use crate::cvss::base_score;
use crate::inventory::Family;
use crate::severity::Severity;

const MAX_DESCRIPTION_CHARS: usize = 1000;

#[derive(Deserialize)]
struct RawVuln {
    id: String,
    modified: Option<String>,
    withdrawn: Option<String>,
    aliases: Option<Vec<String>>,
    summary: Option<String>,
    details: Option<String>,
    severity: Option<Vec<RawSeverity>>,
    affected: Option<Vec<RawAffected>>,
    references: Option<Vec<RawReference>>,
    database_specific: Option<Value>,
}

#[derive(Deserialize)]
struct RawSeverity {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Deserialize)]
struct RawAffected {
    package: Option<RawPackage>,
    severity: Option<Vec<RawSeverity>>,
    ranges: Option<Vec<RawRange>>,
    versions: Option<Vec<String>>,
    ecosystem_specific: Option<Value>,
    database_specific: Option<Value>,
}

#[derive(Deserialize)]
struct RawPackage {
    ecosystem: String,
    name: String,
}

#[derive(Deserialize)]
struct RawRange {
    #[serde(rename = "type")]
    kind: String,
    events: Option<Vec<RawEvent>>,
}

#[derive(Deserialize)]
struct RawEvent {
    introduced: Option<String>,
    fixed: Option<String>,
    last_affected: Option<String>,
    limit: Option<String>,
}

#[derive(Deserialize)]
struct RawReference {
    #[serde(rename = "type")]
    kind: Option<String>,
    url: Option<String>,
}

fn feed_error(location: impl Into<String>, reason: impl fmt::Display) -> ScanError {
    ScanError::Feed {
        location: location.into(),
        reason: reason.to_string(),
    }
}

fn with_id(location: String, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("{location} ({id})"),
        None => location,
    }
}

fn id_of(v: &Value) -> Option<&str> {
    v.get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.trim().is_empty())
}

pub(super) fn parse(bytes: &[u8]) -> Result<Feed, ScanError> {
    let text = std::str::from_utf8(bytes).map_err(|e| feed_error("feed", e))?;
    let text = text.trim_start_matches('\u{feff}').trim();
    let mut feed = Feed::default();
    if text.is_empty() {
        return Ok(feed);
    }
    if text.starts_with('[') {
        parse_array(text, &mut feed)?;
    } else if text.starts_with('{') {
        if is_json_lines(text) {
            parse_lines(text, &mut feed)?;
        } else {
            parse_object(text, &mut feed)?;
        }
    } else {
        return Err(feed_error(
            "feed",
            "expected a JSON array of OSV entries, an OSV entry, {\"vulns\": [...]} or JSON Lines",
        ));
    }
    Ok(feed)
}

/// More than one line, the first of which is a JSON value on its own: a
/// pretty-printed single object never has a complete value on line one.
fn is_json_lines(text: &str) -> bool {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first_complete = lines
        .next()
        .is_some_and(|l| serde_json::from_str::<de::IgnoredAny>(l).is_ok());
    first_complete && lines.next().is_some()
}

fn parse_lines(text: &str, feed: &mut Feed) -> Result<(), ScanError> {
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let location = format!("line {}", n + 1);
        match serde_json::from_str::<RawVuln>(line) {
            Ok(raw) => {
                let id = raw.id.clone();
                feed.add(raw)
                    .map_err(|r| feed_error(with_id(location, Some(&id)), r))?;
            }
            Err(e) => {
                let value = serde_json::from_str::<Value>(line).ok();
                let id = value.as_ref().and_then(id_of);
                return Err(feed_error(with_id(location, id), e));
            }
        }
    }
    Ok(())
}

fn parse_object(text: &str, feed: &mut Feed) -> Result<(), ScanError> {
    let value: Value = serde_json::from_str(text).map_err(|e| feed_error("feed", e))?;
    let Value::Object(mut map) = value else {
        return Err(feed_error("feed", "expected a JSON object"));
    };
    if map.contains_key("vulns") && !map.contains_key("id") {
        let Some(Value::Array(entries)) = map.remove("vulns") else {
            return Err(feed_error("feed", "\"vulns\" is not an array"));
        };
        for (i, entry) in entries.into_iter().enumerate() {
            add_value(feed, entry, format!("entry {i}"))?;
        }
        return Ok(());
    }
    // osv.dev answers a query with no vulnerabilities with `{}`.
    if map.is_empty() {
        return Ok(());
    }
    add_value(feed, Value::Object(map), "entry".into())
}

fn add_value(feed: &mut Feed, entry: Value, location: String) -> Result<(), ScanError> {
    let id = id_of(&entry).map(str::to_string);
    let location = with_id(location, id.as_deref());
    let raw = RawVuln::deserialize(entry).map_err(|e| feed_error(location.clone(), e))?;
    feed.add(raw).map_err(|r| feed_error(location, r))
}

/// Streams the array's elements into the feed, recording how far it got
/// so that an error can name the entry.
struct Entries<'a> {
    feed: &'a mut Feed,
    next_index: &'a Cell<usize>,
    invalid: &'a RefCell<Option<ScanError>>,
}

impl<'de> DeserializeSeed<'de> for Entries<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Entries<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of OSV entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<RawVuln>()? {
            let i = self.next_index.get();
            let id = raw.id.clone();
            if let Err(reason) = self.feed.add(raw) {
                let location = with_id(format!("entry {i}"), Some(&id));
                *self.invalid.borrow_mut() = Some(feed_error(location, reason));
                return Err(de::Error::custom("invalid entry"));
            }
            self.next_index.set(i + 1);
        }
        Ok(())
    }
}

fn parse_array(text: &str, feed: &mut Feed) -> Result<(), ScanError> {
    let next_index = Cell::new(0);
    let invalid = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let result = Entries {
        feed,
        next_index: &next_index,
        invalid: &invalid,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    let Err(e) = result else {
        return Ok(());
    };
    if let Some(err) = invalid.into_inner() {
        return Err(err);
    }
    let i = next_index.get();
    let id = RefCell::new(None);
    // Whatever follows the entry may be what is broken; the id is kept
    // as soon as it is read.
    let _ = NthId { n: i, id: &id }.deserialize(&mut serde_json::Deserializer::from_str(text));
    Err(feed_error(
        with_id(format!("entry {i}"), id.into_inner().as_deref()),
        e,
    ))
}

/// Only on failure, and only to name the entry: reads the array again,
/// skipping to element `n` and taking its id, if the text is JSON that
/// far. Skipping keeps memory flat however large the feed.
struct NthId<'a> {
    n: usize,
    id: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for NthId<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for NthId<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for _ in 0..self.n {
            if seq.next_element::<de::IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        let entry = seq.next_element::<Value>()?;
        *self.id.borrow_mut() = entry.as_ref().and_then(id_of).map(str::to_string);
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

fn word_at(v: Option<&Value>, keys: &[&str]) -> Option<Severity> {
    let v = v?;
    keys.iter().find_map(|k| {
        v.get(*k)
            .and_then(Value::as_str)
            .and_then(Severity::from_word)
    })
}

/// The first valid CVSS v3 vector and, separately, an Ubuntu priority.
fn scores(list: Option<&Vec<RawSeverity>>) -> (Option<Cvss>, Option<Severity>) {
    let list = list.map(Vec::as_slice).unwrap_or_default();
    let cvss = list.iter().filter(|s| s.kind == "CVSS_V3").find_map(|s| {
        Some(Cvss {
            vector: s.score.trim().to_string(),
            score: base_score(&s.score)?,
        })
    });
    let priority = list
        .iter()
        .filter(|s| s.kind.eq_ignore_ascii_case("ubuntu"))
        .find_map(|s| Severity::from_word(&s.score));
    (cvss, priority)
}

fn description(summary: Option<&str>, details: Option<&str>) -> Option<String> {
    fn pick(s: Option<&str>) -> Option<&str> {
        s.map(str::trim).filter(|s| !s.is_empty())
    }
    let text = pick(summary).or_else(|| pick(details))?;
    Some(text.chars().take(MAX_DESCRIPTION_CHARS).collect())
}

fn event(raw: RawEvent) -> Result<Event, String> {
    let mut found = Vec::new();
    if let Some(v) = raw.introduced {
        found.push(Event::Introduced(v));
    }
    if let Some(v) = raw.fixed {
        found.push(Event::Fixed(v));
    }
    if let Some(v) = raw.last_affected {
        found.push(Event::LastAffected(v));
    }
    if let Some(v) = raw.limit {
        found.push(Event::Limit(v));
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        _ => Err(
            "a range event must have exactly one of introduced, fixed, last_affected, limit".into(),
        ),
    }
}

impl Feed {
    /// Adds one entry; the error is a reason, the caller names the entry.
    fn add(&mut self, raw: RawVuln) -> Result<(), String> {
        let id = raw.id.trim().to_string();
        if id.is_empty() {
            return Err("the id is empty".into());
        }
        if raw.withdrawn.is_some() {
            return Ok(());
        }
        let mut affected = Vec::new();
        for a in raw.affected.unwrap_or_default() {
            let Some(package) = a.package else { continue };
            let (base, release) = match package.ecosystem.split_once(':') {
                Some((base, release)) => (base, Some(release.to_string())),
                None => (package.ecosystem.as_str(), None),
            };
            let Some(family) = Family::from_ecosystem(base) else {
                continue;
            };
            let mut ranges = Vec::new();
            for range in a.ranges.unwrap_or_default() {
                // GIT and SEMVER ranges do not describe distribution
                // package versions.
                if range.kind != "ECOSYSTEM" {
                    continue;
                }
                let events = range.events.unwrap_or_default();
                let events = events
                    .into_iter()
                    .map(event)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("affected package {}: {e}", package.name))?;
                ranges.push(events);
            }
            let versions = a.versions.unwrap_or_default();
            if ranges.is_empty() && versions.is_empty() {
                continue;
            }
            let (cvss3, priority) = scores(a.severity.as_ref());
            let keys = ["urgency", "severity"];
            affected.push(Affected {
                vuln: self.vulns.len(),
                family,
                release: release.filter(|r| !r.is_empty()),
                name: package.name,
                ranges,
                versions,
                severity_word: word_at(a.ecosystem_specific.as_ref(), &keys)
                    .or_else(|| word_at(a.database_specific.as_ref(), &keys)),
                priority,
                cvss3,
            });
        }
        if affected.is_empty() {
            return Ok(());
        }
        if let Some(modified) = raw
            .modified
            .as_deref()
            .and_then(|m| DateTime::parse_from_rfc3339(m.trim()).ok())
        {
            self.updated_at = self.updated_at.max(Some(modified.with_timezone(&Utc)));
        }
        let references = raw.references.unwrap_or_default();
        let uri = references
            .iter()
            .filter(|r| matches!(r.kind.as_deref(), Some("ADVISORY" | "WEB")))
            .find_map(|r| r.url.as_deref().map(str::trim).filter(|u| !u.is_empty()))
            .map(str::to_string)
            .unwrap_or_else(|| format!("https://osv.dev/vulnerability/{id}"));
        let (cvss3, priority) = scores(raw.severity.as_ref());
        self.vulns.push(Vuln {
            aliases: raw.aliases.unwrap_or_default(),
            description: description(raw.summary.as_deref(), raw.details.as_deref()),
            uri,
            severity_word: word_at(raw.database_specific.as_ref(), &["severity"]),
            priority,
            cvss3,
            id,
        });
        for a in affected {
            self.push_affected(a);
        }
        Ok(())
    }
}
