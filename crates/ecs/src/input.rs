//! Reading inputs: typed decoding, ECS's limits on shared fields (tags,
//! pagination) with its wording.

use serde::Deserialize;

use dockyard_aws::ApiError;

pub(crate) use dockyard_aws::input::decode;

use crate::error::invalid;
use crate::model::Tag;

/// `maxResults` for list operations: 1..=100, else `default`.
pub(crate) fn max_results(given: Option<i64>, default: usize) -> Result<usize, ApiError> {
    match given {
        None => Ok(default),
        Some(n @ 1..=100) => Ok(n as usize),
        Some(_) => Err(invalid("maxResults must be between 1 and 100.")),
    }
}

pub(crate) fn next_token(token: Option<&str>) -> Result<Option<String>, ApiError> {
    match token {
        None => Ok(None),
        Some(t) => dockyard_aws::input::decode_token(t)
            .map(Some)
            .ok_or_else(|| invalid("Invalid token")),
    }
}

/// A list answer with its `nextToken`, when there is more.
pub(crate) fn with_token(mut v: serde_json::Value, token: Option<String>) -> serde_json::Value {
    if let Some(t) = token {
        v["nextToken"] = serde_json::Value::String(t);
    }
    v
}

#[derive(Debug, Deserialize)]
pub(crate) struct TagIn {
    pub key: Option<String>,
    pub value: Option<String>,
}

/// Tags as ECS checks them: at most 50, keys 1..=128, values 0..=256, and
/// the `aws:` prefix reserved.
pub(crate) fn tags(given: Option<Vec<TagIn>>) -> Result<Vec<Tag>, ApiError> {
    let given = given.unwrap_or_default();
    if given.len() > 50 {
        return Err(invalid("Tags cannot exceed 50 per resource."));
    }
    let mut out: Vec<Tag> = Vec::with_capacity(given.len());
    for t in given {
        let key = t.key.unwrap_or_default();
        let value = t.value.unwrap_or_default();
        if key.is_empty() || key.chars().count() > 128 {
            return Err(invalid("Tag keys must be between 1 and 128 characters."));
        }
        if value.chars().count() > 256 {
            return Err(invalid("Tag values must be at most 256 characters."));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid(
                "Tag keys with the 'aws:' prefix are reserved for use by AWS.",
            ));
        }
        out.retain(|o| o.key != key);
        out.push(Tag { key, value });
    }
    Ok(out)
}

/// Merges `new` into `tags`, replacing values of existing keys.
pub(crate) fn merge_tags(tags: &mut Vec<Tag>, new: Vec<Tag>) -> Result<(), ApiError> {
    for t in new {
        match tags.iter_mut().find(|o| o.key == t.key) {
            Some(o) => o.value = t.value,
            None => tags.push(t),
        }
    }
    if tags.len() > 50 {
        return Err(invalid("Tags cannot exceed 50 per resource."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tag_rules() {
        let t = |k: &str, v: &str| TagIn {
            key: Some(k.into()),
            value: Some(v.into()),
        };
        assert_eq!(tags(Some(vec![t("a", "1"), t("a", "2")])).unwrap().len(), 1);
        assert!(tags(Some(vec![t("", "1")])).is_err());
        assert!(tags(Some(vec![t("aws:x", "1")])).is_err());
        assert!(tags(Some((0..51).map(|i| t(&i.to_string(), "")).collect())).is_err());
        let mut have = tags(Some(vec![t("a", "1")])).unwrap();
        merge_tags(
            &mut have,
            tags(Some(vec![t("a", "2"), t("b", "3")])).unwrap(),
        )
        .unwrap();
        assert_eq!(have.len(), 2);
        assert_eq!(have[0].value, "2");
        assert!(max_results(Some(101), 100).is_err());
        assert!(next_token(Some("!!")).is_err());
    }
}
