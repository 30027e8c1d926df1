//! Helpers every JSON service uses to read an operation's input: typed
//! decoding (a member of the wrong JSON type is a `SerializationException`,
//! as on AWS) and opaque pagination tokens.

use base64::Engine;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ApiError;

/// Decodes an operation's input into its typed shape.
pub fn decode<T: DeserializeOwned>(input: Value) -> Result<T, ApiError> {
    serde_json::from_value(input).map_err(|e| {
        ApiError::client(
            "SerializationException",
            format!("the request does not match the operation's input shape: {e}"),
        )
    })
}

/// A pagination token: the last item of the page, opaque to clients.
pub fn encode_token(last: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1:{last}"))
}

/// The last item a token names; `None` when the token is not one of ours.
pub fn decode_token(token: &str) -> Option<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("v1:").map(str::to_owned))
}

/// Items after the one named `after`, at most `n`, and the next token.
/// `items` must be sorted by `key`.
pub fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    after: Option<&str>,
    n: usize,
) -> (Vec<T>, Option<String>) {
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|i| after.is_none_or(|a| key(i).as_str() > a))
        .collect();
    let more = rest.len() > n;
    rest.truncate(n);
    let token = more
        .then(|| rest.last().map(|l| encode_token(&key(l))))
        .flatten();
    (rest, token)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn decode_and_tokens() {
        #[derive(serde::Deserialize, Debug)]
        struct In {
            #[allow(dead_code)]
            n: i64,
        }
        let e = decode::<In>(serde_json::json!({"n": "x"})).unwrap_err();
        assert_eq!(e.code, "SerializationException");
        assert!(decode::<In>(serde_json::json!({"n": 1})).is_ok());

        let (page, token) = paginate(vec!["a", "b", "c"], |s| s.to_string(), None, 2);
        assert_eq!(page, ["a", "b"]);
        let after = decode_token(&token.unwrap()).unwrap();
        let (page, token) = paginate(vec!["a", "b", "c"], |s| s.to_string(), Some(&after), 2);
        assert_eq!((page, token), (vec!["c"], None));
        assert!(decode_token("garbage!").is_none());
    }
}
