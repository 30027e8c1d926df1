//! Reading Query parameters into checked values: the constraints of
//! botocore's model (ranges, lengths, enums, required members) refused
//! with AWS's `ValidationError` wording, tags, attributes and pages.

use std::sync::LazyLock;

use dockyard_aws::query::QueryParams;
use regex::Regex;

use crate::error::{ElbError, Quota};
use crate::model::Tag;

/// A member's name as AWS spells it in validation messages:
/// `HealthCheckPath` is `healthCheckPath`.
pub(crate) fn field(member: &str) -> String {
    let mut c = member.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

pub(crate) fn required<'a>(p: &'a QueryParams, name: &str) -> Result<&'a str, ElbError> {
    p.get(name).ok_or_else(|| ElbError::missing(&field(name)))
}

/// An integer member within `lo..=hi`.
pub(crate) fn int(p: &QueryParams, name: &str, lo: i64, hi: i64) -> Result<Option<i64>, ElbError> {
    let Some(v) = p.get(name) else {
        return Ok(None);
    };
    let f = field(name);
    let n: i64 = v
        .trim()
        .parse()
        .map_err(|_| ElbError::constraint(&f, v, "Member must be an integer"))?;
    if n < lo {
        return Err(ElbError::constraint(
            &f,
            n,
            &format!("Member must have value greater than or equal to {lo}"),
        ));
    }
    if n > hi {
        return Err(ElbError::constraint(
            &f,
            n,
            &format!("Member must have value less than or equal to {hi}"),
        ));
    }
    Ok(Some(n))
}

pub(crate) fn port(p: &QueryParams, name: &str) -> Result<Option<u16>, ElbError> {
    // In range by the check, so the conversion cannot fail.
    Ok(int(p, name, 1, 65535)?.and_then(|n| u16::try_from(n).ok()))
}

pub(crate) fn uint(p: &QueryParams, name: &str, lo: u32, hi: u32) -> Result<Option<u32>, ElbError> {
    Ok(int(p, name, lo.into(), hi.into())?.and_then(|n| u32::try_from(n).ok()))
}

pub(crate) fn boolean(p: &QueryParams, name: &str) -> Result<Option<bool>, ElbError> {
    match p.get(name) {
        None => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(v) => Err(ElbError::constraint(
            &field(name),
            v,
            "Member must be a boolean",
        )),
    }
}

/// A member from an enumeration; `wire` is every value the model lists
/// (named in the error), `parse` what Dockyard serves of them.
pub(crate) fn one_of<T>(
    p: &QueryParams,
    name: &str,
    wire: &[&str],
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, ElbError> {
    let Some(v) = p.get(name) else {
        return Ok(None);
    };
    parse(v)
        .map(Some)
        .ok_or_else(|| ElbError::not_in_enum(&field(name), v, wire))
}

pub(crate) fn length(name: &str, v: &str, min: usize, max: usize) -> Result<(), ElbError> {
    let n = v.chars().count();
    if n < min {
        return Err(ElbError::constraint(
            &field(name),
            v,
            &format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if n > max {
        return Err(ElbError::constraint(
            &field(name),
            v,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

static TAG_PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$").expect("the tag pattern compiles")
});

pub(crate) const MAX_TAGS: usize = 50;

/// `Tags.member.N.Key` / `.Value`, checked; `None` when absent.
pub(crate) fn tags(p: &QueryParams, name: &str) -> Result<Vec<Tag>, ElbError> {
    let mut out: Vec<Tag> = Vec::new();
    for (i, t) in p.member_structs(name).iter().enumerate() {
        let at = |m: &str| format!("{}.{}.member.{m}", field(name), i + 1);
        let key = t.get("Key").ok_or_else(|| ElbError::missing(&at("key")))?;
        let value = t.get("Value").unwrap_or_default();
        length(&at("Key"), key, 1, 128)?;
        length(&at("Value"), value, 0, 256)?;
        for (m, v) in [("key", key), ("value", value)] {
            if !TAG_PATTERN.is_match(v) {
                return Err(ElbError::constraint(
                    &at(m),
                    v,
                    &format!(
                        "Member must satisfy regular expression pattern: {}",
                        TAG_PATTERN.as_str()
                    ),
                ));
            }
        }
        if key.starts_with("aws:") {
            return Err(ElbError::Validation(format!(
                "Tag key '{key}' is not valid: keys starting with 'aws:' are reserved"
            )));
        }
        if out.iter().any(|o| o.key == key) {
            return Err(ElbError::DuplicateTagKeys(format!(
                "Tag key was specified more than once: {key}"
            )));
        }
        out.push(Tag {
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    if out.len() > MAX_TAGS {
        return Err(ElbError::quota(
            Quota::Tags,
            format!("A resource can have at most {MAX_TAGS} tags"),
        ));
    }
    Ok(out)
}

/// For operations whose model lists no `DuplicateTagKeys`: the same
/// refusal as a `ValidationError`.
pub(crate) fn duplicates_invalid(e: ElbError) -> ElbError {
    match e {
        ElbError::DuplicateTagKeys(m) => ElbError::Validation(m),
        other => other,
    }
}

/// `current` with `added` set (an existing key takes the new value).
pub(crate) fn merge_tags(current: &[Tag], added: &[Tag], noun: &str) -> Result<Vec<Tag>, ElbError> {
    let mut out = current.to_vec();
    for t in added {
        match out.iter_mut().find(|o| o.key == t.key) {
            Some(o) => o.value = t.value.clone(),
            None => out.push(t.clone()),
        }
    }
    if out.len() > MAX_TAGS {
        return Err(ElbError::quota(
            Quota::Tags,
            format!(
                "The quota for the number of tags that can be assigned to a {noun} has been reached"
            ),
        ));
    }
    Ok(out)
}

/// `Attributes.member.N.Key` / `.Value`, in order.
pub(crate) fn attributes(p: &QueryParams, max: usize) -> Result<Vec<(String, String)>, ElbError> {
    let items = p.member_structs("Attributes");
    if items.is_empty() {
        return Err(ElbError::missing("attributes"));
    }
    if items.len() > max {
        return Err(ElbError::constraint(
            "attributes",
            format!("[{} items]", items.len()),
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let key = a
                .get("Key")
                .ok_or_else(|| ElbError::missing(&format!("attributes.{}.member.key", i + 1)))?;
            length("Key", key, 0, 256)?;
            Ok((
                key.to_string(),
                a.get("Value").unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

/// `Marker` and `PageSize` of a Describe call.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    after: Option<String>,
    size: usize,
}

pub(crate) const DEFAULT_PAGE: usize = 400;

pub(crate) fn page(p: &QueryParams) -> Result<Page, ElbError> {
    let size = int(p, "PageSize", 1, 400)?
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(DEFAULT_PAGE);
    let after = match p.get("Marker") {
        None | Some("") => None,
        Some(m) => Some(
            hex::decode(m)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| ElbError::Validation(format!("Invalid marker '{m}'")))?,
        ),
    };
    Ok(Page { after, size })
}

impl Page {
    /// One page of `items`, which are sorted by `key` (unique per item);
    /// with the marker of the next page when there is one. Markers are
    /// the last key returned, so a page stays right when items before it
    /// come and go.
    pub fn apply<T>(&self, items: Vec<T>, key: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
        let mut rest: Vec<T> = match &self.after {
            Some(after) => items.into_iter().filter(|i| key(i) > *after).collect(),
            None => items,
        };
        if rest.len() <= self.size {
            return (rest, None);
        }
        rest.truncate(self.size);
        let next = rest.last().map(|i| hex::encode(key(i)));
        (rest, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> QueryParams {
        QueryParams::from_pairs(pairs.iter().copied())
    }

    fn err<T: std::fmt::Debug>(r: Result<T, ElbError>) -> String {
        match r {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => format!("{}: {e}", e.code()),
        }
    }

    #[test]
    fn scalars() {
        let p = params(&[
            ("Port", "0"),
            ("PageSize", "x"),
            ("Enabled", "TRUE"),
            ("Type", "gw"),
        ]);
        assert_eq!(
            err(port(&p, "Port")),
            "ValidationError: 1 validation error detected: Value '0' at 'port' failed to \
             satisfy constraint: Member must have value greater than or equal to 1"
        );
        assert!(err(int(&p, "PageSize", 1, 400)).contains("Member must be an integer"));
        assert_eq!(boolean(&p, "Enabled").ok().flatten(), Some(true));
        assert!(
            err(one_of(&p, "Type", &["application"], |_| None::<()>))
                .contains("Member must satisfy enum value set: [application]")
        );
        assert!(err(required(&p, "Name")).contains("Value null at 'name'"));
        assert_eq!(field("HealthCheckPath"), "healthCheckPath");
    }

    #[test]
    fn tag_lists() {
        let p = params(&[
            ("Tags.member.1.Key", "env"),
            ("Tags.member.1.Value", "prod"),
            ("Tags.member.2.Key", "team"),
        ]);
        let t = tags(&p, "Tags").unwrap_or_default();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].value, "");
        let dup = params(&[("Tags.member.1.Key", "a"), ("Tags.member.2.Key", "a")]);
        assert!(err(tags(&dup, "Tags")).starts_with("DuplicateTagKeys"));
        let bad = params(&[("Tags.member.1.Key", "a#b")]);
        assert!(err(tags(&bad, "Tags")).starts_with("ValidationError"));
        let reserved = params(&[("Tags.member.1.Key", "aws:x")]);
        assert!(err(tags(&reserved, "Tags")).starts_with("ValidationError"));
        let merged = merge_tags(
            &t,
            &[Tag {
                key: "env".into(),
                value: "dev".into(),
            }],
            "rule",
        )
        .unwrap_or_default();
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].value, "dev");
        let many: Vec<Tag> = (0..50)
            .map(|i| Tag {
                key: format!("k{i}"),
                value: String::new(),
            })
            .collect();
        assert!(
            err(merge_tags(
                &many,
                &[Tag {
                    key: "x".into(),
                    value: String::new()
                }],
                "rule"
            ))
            .starts_with("TooManyTags")
        );
    }

    #[test]
    fn pages() {
        let items: Vec<String> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let first = page(&params(&[("PageSize", "2")])).unwrap_or_else(|e| panic!("{e}"));
        let (got, next) = first.apply(items.clone(), |s| s.clone());
        assert_eq!(got, ["a", "b"]);
        let next = next.unwrap_or_default();
        let second = page(&params(&[("PageSize", "2"), ("Marker", &next)]))
            .unwrap_or_else(|e| panic!("{e}"));
        let (got, next2) = second.apply(items.clone(), |s| s.clone());
        assert_eq!(got, ["c", "d"]);
        let third = page(&params(&[
            ("PageSize", "2"),
            ("Marker", &next2.unwrap_or_default()),
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            third.apply(items.clone(), |s| s.clone()),
            (vec!["e".to_string()], None)
        );
        assert!(err(page(&params(&[("Marker", "zz")]))).starts_with("ValidationError"));
        assert!(err(page(&params(&[("PageSize", "401")]))).starts_with("ValidationError"));
    }
}
