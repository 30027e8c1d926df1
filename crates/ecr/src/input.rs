//! Reading an operation's input: typed shapes decoded with serde (a member
//! of the wrong JSON type is a `SerializationException`, as on AWS) and the
//! constraints ECR checks on the fields botocore's model declares.

use dockyard_aws::ApiError;
use dockyard_registry::names::is_valid_name;

use crate::error::{invalid, invalid_field, repo_not_found};

pub(crate) use dockyard_aws::input::{decode, encode_token, paginate};

pub(crate) const NAME_PATTERN: &str =
    "(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*";

/// A repository name as ECR accepts it: 2 to 256 characters of the
/// distribution grammar.
pub(crate) fn repository_name(name: &str) -> Result<(), ApiError> {
    if !(2..=256).contains(&name.len()) {
        return Err(invalid_field(
            "repositoryName",
            "Member must have length between 2 and 256",
        ));
    }
    if !is_valid_name(name) {
        return Err(invalid_field(
            "repositoryName",
            format!("must satisfy regular expression '{NAME_PATTERN}'"),
        ));
    }
    Ok(())
}

/// The registry an operation addresses: this account's, whatever the
/// caller names is checked against it.
pub(crate) fn registry_id<'a>(
    given: Option<&'a str>,
    account: &'a str,
    repo: Option<&str>,
) -> Result<&'a str, ApiError> {
    match given {
        None => Ok(account),
        Some(id) if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) => Err(
            invalid_field("registryId", "must satisfy regular expression '[0-9]{12}'"),
        ),
        Some(id) if id == account => Ok(id),
        // Dockyard holds one account's registry; another account's
        // repositories do not exist here.
        Some(id) => match repo {
            Some(r) => Err(repo_not_found(r, id)),
            None => Err(invalid(format!(
                "registry {id} is not this registry ({account})"
            ))),
        },
    }
}

/// `maxResults` within 1..=1000, else `default`.
pub(crate) fn max_results(given: Option<i64>, default: usize) -> Result<usize, ApiError> {
    match given {
        None => Ok(default),
        Some(n @ 1..=1000) => Ok(n as usize),
        Some(_) => Err(invalid_field(
            "maxResults",
            "Member must have value between 1 and 1000",
        )),
    }
}

/// The last item a `nextToken` names.
pub(crate) fn decode_token(token: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(t) = token else { return Ok(None) };
    dockyard_aws::input::decode_token(t)
        .map(Some)
        .ok_or_else(|| invalid("Invalid parameter at 'nextToken': the token is not valid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ids_and_tokens() {
        assert!(repository_name("team/app").is_ok());
        assert!(repository_name("a").is_err(), "too short");
        assert!(repository_name(&"a".repeat(257)).is_err());
        let e = repository_name("Team").unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
        assert!(e.message.contains("repositoryName"), "{}", e.message);

        assert_eq!(
            registry_id(None, "000000000000", None).unwrap(),
            "000000000000"
        );
        assert_eq!(
            registry_id(Some("111111111111"), "000000000000", Some("r"))
                .unwrap_err()
                .code,
            "RepositoryNotFoundException"
        );
        assert_eq!(
            registry_id(Some("12"), "000000000000", Some("r"))
                .unwrap_err()
                .code,
            "InvalidParameterException"
        );

        assert!(max_results(Some(0), 100).is_err());
        assert_eq!(max_results(None, 100).unwrap(), 100);
        let (page, token) = paginate(vec!["a", "b", "c"], |s| s.to_string(), None, 2);
        assert_eq!(page, ["a", "b"]);
        let after = decode_token(token.as_deref()).unwrap();
        let (page, token) = paginate(vec!["a", "b", "c"], |s| s.to_string(), after.as_deref(), 2);
        assert_eq!((page, token), (vec!["c"], None));
        assert!(decode_token(Some("garbage!")).is_err());
    }
}
