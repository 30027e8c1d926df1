//! Reading a request body into a typed shape as ECS's JSON 1.1 front end
//! does: members set to `null` count as absent, unknown members are
//! ignored, and a member of the wrong JSON type is a
//! `SerializationException` worded as AWS's Coral framework words it.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ValidationError;

pub(crate) fn decode<T: DeserializeOwned>(input: &Value) -> Result<T, ValidationError> {
    let mut v = input.clone();
    strip_nulls(&mut v);
    serde_json::from_value(v).map_err(|e| ValidationError {
        code: "SerializationException",
        message: coral_message(&e.to_string()),
    })
}

fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// serde's "invalid type: string \"x\", expected i32" as Coral says it:
/// "STRING_VALUE can not be converted to an Integer".
fn coral_message(serde: &str) -> String {
    let Some(rest) = serde
        .strip_prefix("invalid type: ")
        .or_else(|| serde.strip_prefix("invalid value: "))
    else {
        return serde.to_string();
    };
    let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
    let token = if found.starts_with("map") {
        return "Start of structure or map found where not expected.".into();
    } else if found.starts_with("sequence") {
        return "Start of list found where not expected.".into();
    } else if found.starts_with("string") {
        "STRING_VALUE"
    } else if found.starts_with("integer") || found.starts_with("floating point") {
        "NUMBER_VALUE"
    } else if found.starts_with("boolean") {
        "BOOLEAN_VALUE"
    } else {
        return serde.to_string();
    };
    let target = if expected.contains("string") {
        "a String"
    } else if expected.contains("i32") || expected.contains("u32") || expected.contains("i64") {
        "an Integer"
    } else if expected.contains("bool") {
        "a Boolean"
    } else if expected.contains("sequence") {
        "a List"
    } else if expected.contains("map") {
        "a Map"
    } else {
        "a Structure"
    };
    format!("{token} can not be converted to {target}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, rename_all = "camelCase")]
    struct Shape {
        name: Option<String>,
        count: Option<i32>,
        flag: Option<bool>,
        list: Vec<String>,
        map: BTreeMap<String, String>,
        inner: Option<Inner>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Inner {
        #[allow(dead_code)]
        a: Option<String>,
    }

    fn err(v: Value) -> ValidationError {
        decode::<Shape>(&v).unwrap_err()
    }

    #[test]
    fn nulls_are_absent_and_unknown_members_ignored() {
        let s: Shape = decode(
            &json!({"name": null, "list": null, "inner": {"a": null}, "zzz": [1, {"y": 2}]}),
        )
        .unwrap();
        assert!(s.name.is_none() && s.list.is_empty() && s.inner.is_some());
        let s: Shape = decode(&json!({"count": 3, "map": {"k": "v"}})).unwrap();
        assert_eq!((s.count, s.map.len(), s.flag), (Some(3), 1, None));
    }

    #[test]
    fn wrong_types_are_serialization_exceptions_in_coral_words() {
        let e = err(json!({"name": 5}));
        assert_eq!(e.code, "SerializationException");
        assert_eq!(e.message, "NUMBER_VALUE can not be converted to a String");
        assert_eq!(
            err(json!({"count": "5"})).message,
            "STRING_VALUE can not be converted to an Integer"
        );
        assert_eq!(
            err(json!({"count": 1.5})).message,
            "NUMBER_VALUE can not be converted to an Integer"
        );
        assert_eq!(
            err(json!({"count": 3_000_000_000u64})).message,
            "NUMBER_VALUE can not be converted to an Integer"
        );
        assert_eq!(
            err(json!({"flag": "yes"})).message,
            "STRING_VALUE can not be converted to a Boolean"
        );
        assert_eq!(
            err(json!({"name": {"a": 1}})).message,
            "Start of structure or map found where not expected."
        );
        assert_eq!(
            err(json!({"name": ["a"]})).message,
            "Start of list found where not expected."
        );
        assert_eq!(
            err(json!({"list": "a"})).message,
            "STRING_VALUE can not be converted to a List"
        );
        assert_eq!(
            err(json!({"inner": true})).message,
            "BOOLEAN_VALUE can not be converted to a Structure"
        );
        assert_eq!(err(json!([1])).code, "SerializationException");
    }
}
