//! Reading an operation's input: typed shapes decoded with serde (a member
//! of the wrong JSON type is a `SerializationException`, as on AWS) and the
//! constraints botocore's model declares, refused with AWS's wording.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::Value;

use dockyard_aws::ApiError;
use dockyard_aws::router::CallContext;

use crate::error::{bad_token, constraint, group_not_found, invalid, missing};

pub(crate) fn decode<T: DeserializeOwned>(input: Value) -> Result<T, ApiError> {
    serde_json::from_value(input).map_err(|e| {
        ApiError::client(
            "SerializationException",
            format!("the request does not match the operation's input shape: {e}"),
        )
    })
}

/// A required member.
pub(crate) fn required<T>(field: &str, v: Option<T>) -> Result<T, ApiError> {
    v.ok_or_else(|| missing(field))
}

pub(crate) const GROUP_NAME_PATTERN: &str = r"[\.\-_/#A-Za-z0-9]+";
pub(crate) const STREAM_NAME_PATTERN: &str = "[^:*]*";

fn is_group_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#')
}

fn length(field: &str, v: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = v.chars().count();
    if n < min {
        return Err(constraint(
            field,
            v,
            &format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if n > max {
        return Err(constraint(
            field,
            v,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// A `LogGroupName`: 1 to 512 of `[.\-_/#A-Za-z0-9]`.
pub(crate) fn group_name(field: &str, v: &str) -> Result<(), ApiError> {
    length(field, v, 1, 512)?;
    if !v.chars().all(is_group_char) {
        return Err(constraint(
            field,
            v,
            &format!("Member must satisfy regular expression pattern: {GROUP_NAME_PATTERN}"),
        ));
    }
    Ok(())
}

/// A `LogGroupNamePattern` (which may be empty).
pub(crate) fn group_name_pattern(field: &str, v: &str) -> Result<(), ApiError> {
    length(field, v, 0, 512)?;
    if !v.chars().all(is_group_char) {
        return Err(constraint(
            field,
            v,
            r"Member must satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]*",
        ));
    }
    Ok(())
}

/// A `LogStreamName`: 1 to 512 characters, none of them `:` or `*`.
pub(crate) fn stream_name(field: &str, v: &str) -> Result<(), ApiError> {
    length(field, v, 1, 512)?;
    if v.contains([':', '*']) {
        return Err(constraint(
            field,
            v,
            &format!("Member must satisfy regular expression pattern: {STREAM_NAME_PATTERN}"),
        ));
    }
    Ok(())
}

/// A limit within `1..=max`, or `default`.
pub(crate) fn limit(
    field: &str,
    v: Option<i64>,
    max: usize,
    default: usize,
) -> Result<usize, ApiError> {
    match v {
        None => Ok(default),
        Some(n) if n < 1 => Err(constraint(
            field,
            n,
            "Member must have value greater than or equal to 1",
        )),
        Some(n) if n as u64 > max as u64 => Err(constraint(
            field,
            n,
            &format!("Member must have value less than or equal to {max}"),
        )),
        Some(n) => Ok(n as usize),
    }
}

/// A `Timestamp` (milliseconds, at least 0).
pub(crate) fn timestamp(field: &str, v: Option<i64>) -> Result<Option<i64>, ApiError> {
    match v {
        Some(t) if t < 0 => Err(constraint(
            field,
            t,
            "Member must have value greater than or equal to 0",
        )),
        v => Ok(v),
    }
}

/// A `NextToken` is at least one character.
pub(crate) fn next_token(v: Option<&str>) -> Result<Option<&str>, ApiError> {
    match v {
        Some("") => Err(constraint(
            "nextToken",
            "",
            "Member must have length greater than or equal to 1",
        )),
        v => Ok(v),
    }
}

/// The ARN of a log group, as `DescribeLogGroups` reports it (`:*`).
pub(crate) fn group_arn(ctx: &CallContext, name: &str) -> String {
    format!("{}:*", group_arn_bare(ctx, name))
}

/// The ARN of a log group without the trailing `:*` (`logGroupArn`, and
/// what tagging takes).
pub(crate) fn group_arn_bare(ctx: &CallContext, name: &str) -> String {
    format!(
        "arn:aws:logs:{}:{}:log-group:{name}",
        ctx.region, ctx.account
    )
}

pub(crate) fn stream_arn(ctx: &CallContext, group: &str, stream: &str) -> String {
    format!(
        "arn:aws:logs:{}:{}:log-group:{group}:log-stream:{stream}",
        ctx.region, ctx.account
    )
}

/// The log group named by an ARN, if it is one of this caller's; `None`
/// for a well-formed ARN of something else (another account, region, or
/// a resource that is not a log group).
pub(crate) fn group_from_arn<'a>(
    ctx: &CallContext,
    field: &str,
    arn: &'a str,
) -> Result<Option<&'a str>, ApiError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "logs" {
        return Err(invalid(format!(
            "Invalid parameter at '{field}': '{arn}' is not a CloudWatch Logs ARN"
        )));
    }
    if parts[3] != ctx.region || parts[4] != ctx.account {
        return Ok(None);
    }
    let Some(rest) = parts[5].strip_prefix("log-group:") else {
        return Ok(None);
    };
    Ok(Some(rest.strip_suffix(":*").unwrap_or(rest)))
}

/// The group an operation names by `logGroupName` or
/// `logGroupIdentifier` (a name or an ARN): exactly one of them.
pub(crate) fn group_identifier(
    ctx: &CallContext,
    name: Option<String>,
    identifier: Option<String>,
) -> Result<String, ApiError> {
    match (name, identifier) {
        (Some(_), Some(_)) => Err(invalid(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
        )),
        (None, None) => Err(invalid(
            "Either logGroupName or logGroupIdentifier must be specified.",
        )),
        (Some(n), None) => {
            group_name("logGroupName", &n)?;
            Ok(n)
        }
        (None, Some(id)) => {
            length("logGroupIdentifier", &id, 1, 2048)?;
            let name = if id.starts_with("arn:") {
                match group_from_arn(ctx, "logGroupIdentifier", &id)? {
                    Some(n) => n.to_string(),
                    None => return Err(group_not_found()),
                }
            } else {
                id
            };
            group_name("logGroupIdentifier", &name)?;
            Ok(name)
        }
    }
}

/// Checks a `Tags` map: 1 to 50 entries, keys and values within AWS's
/// patterns, no `aws:` keys.
pub(crate) fn tags(field: &str, tags: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if tags.is_empty() {
        return Err(constraint(
            field,
            "{}",
            "Member must have length greater than or equal to 1",
        ));
    }
    if tags.len() > 50 {
        return Err(ApiError::client(
            "TooManyTagsException",
            "A resource can have no more than 50 tags.",
        ));
    }
    for (k, v) in tags {
        tag_key(&format!("{field}.key"), k)?;
        length(&format!("{field}.{k}.member"), v, 0, 256)?;
        if !v.chars().all(tag_char) {
            return Err(constraint(
                &format!("{field}.{k}.member"),
                v,
                r"Member must satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$",
            ));
        }
    }
    Ok(())
}

fn tag_char(c: char) -> bool {
    c.is_alphanumeric()
        || c.is_whitespace()
        || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
}

pub(crate) fn tag_key(field: &str, k: &str) -> Result<(), ApiError> {
    length(field, k, 1, 128)?;
    if !k.chars().all(tag_char) {
        return Err(constraint(
            field,
            k,
            r"Member must satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]+)$",
        ));
    }
    if k.to_ascii_lowercase().starts_with("aws:") {
        return Err(invalid(format!(
            "Tag key '{k}' uses the prefix aws:, which is reserved for AWS use"
        )));
    }
    Ok(())
}

/// An opaque token carrying a string (a name, or a sort key and a name).
pub(crate) fn encode_token(s: &str) -> String {
    hex::encode(s)
}

pub(crate) fn decode_token(token: Option<&str>) -> Result<Option<String>, ApiError> {
    match next_token(token)? {
        None => Ok(None),
        Some(t) => hex::decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(Some)
            .ok_or_else(bad_token),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_model() {
        assert!(group_name("logGroupName", "/ecs/app-1_x.y#z").is_ok());
        let e = group_name("logGroupName", "a:b").unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
        assert_eq!(
            e.message,
            r"1 validation error detected: Value 'a:b' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+"
        );
        assert!(group_name("logGroupName", "").is_err());
        assert!(group_name("logGroupName", &"a".repeat(512)).is_ok());
        let e = group_name("logGroupName", &"a".repeat(513)).unwrap_err();
        assert!(
            e.message
                .ends_with("Member must have length less than or equal to 512")
        );

        assert!(stream_name("logStreamName", "ecs/web/0f3a é").is_ok());
        assert!(stream_name("logStreamName", "a*").is_err());
        assert!(stream_name("logStreamName", "a:b").is_err());
        assert!(stream_name("logStreamName", "").is_err());
    }

    #[test]
    fn limits_and_timestamps() {
        assert_eq!(limit("limit", None, 50, 50).unwrap(), 50);
        assert_eq!(limit("limit", Some(7), 50, 50).unwrap(), 7);
        let e = limit("limit", Some(51), 50, 50).unwrap_err();
        assert!(
            e.message
                .contains("Member must have value less than or equal to 50")
        );
        assert!(limit("limit", Some(0), 50, 50).is_err());
        assert!(timestamp("startTime", Some(-1)).is_err());
        assert_eq!(timestamp("startTime", Some(5)).unwrap(), Some(5));
    }

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let t = encode_token("/a/b");
        assert_eq!(decode_token(Some(&t)).unwrap().as_deref(), Some("/a/b"));
        assert_eq!(decode_token(None).unwrap(), None);
        assert!(decode_token(Some("zz")).is_err());
        assert!(decode_token(Some("")).is_err());
    }

    #[test]
    fn tags_are_checked() {
        let mut t = BTreeMap::new();
        t.insert("team".to_string(), "web ops".to_string());
        assert!(tags("tags", &t).is_ok());
        t.insert("aws:x".to_string(), "1".to_string());
        assert!(tags("tags", &t).is_err());
        let many: BTreeMap<String, String> =
            (0..51).map(|i| (format!("k{i}"), String::new())).collect();
        assert_eq!(
            tags("tags", &many).unwrap_err().code,
            "TooManyTagsException"
        );
        assert!(tags("tags", &BTreeMap::new()).is_err());
        let mut bad = BTreeMap::new();
        bad.insert("a!".to_string(), String::new());
        assert!(tags("tags", &bad).is_err());
    }
}
