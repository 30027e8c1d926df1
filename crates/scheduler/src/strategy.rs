//! Placement strategies (best effort: they order the instances that pass
//! every constraint, they never exclude one).

use serde_json::{Value, json};

use crate::constraint::string_member;
use crate::error::Invalid;

/// ECS's limit on strategies per request or service.
pub const MAX_STRATEGIES: usize = 5;
const MAX_FIELD_LEN: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Cpu,
    Memory,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
        }
    }
}

/// What `spread` balances on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SpreadField {
    InstanceId,
    /// Same effect as `instanceId`; kept apart to echo what was given.
    Host,
    /// `attribute:NAME`; instances without the attribute form one more
    /// bucket of their own.
    Attribute(String),
}

impl SpreadField {
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        match text {
            "instanceId" => Ok(Self::InstanceId),
            "host" => Ok(Self::Host),
            _ => match text.strip_prefix("attribute:") {
                Some(name) if !name.is_empty() => Ok(Self::Attribute(name.to_string())),
                _ => Err(Invalid::new(format!(
                    "Invalid field '{text}' for the spread placement strategy. Valid values are \
                     instanceId, host and attribute:NAME."
                ))),
            },
        }
    }

    pub fn as_string(&self) -> String {
        match self {
            Self::InstanceId => "instanceId".to_string(),
            Self::Host => "host".to_string(),
            Self::Attribute(name) => format!("attribute:{name}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// The instance with the least remaining of the field.
    Binpack(Field),
    /// The field value holding the fewest tasks of the group.
    Spread(SpreadField),
    Random,
}

impl Strategy {
    /// From the `type` and `field` of a `placementStrategy` entry. The type
    /// and the binpack field are read case-insensitively; `random` ignores
    /// any field, as ECS documents it "not used".
    pub fn new(kind: Option<&str>, field: Option<&str>) -> Result<Self, Invalid> {
        if let Some(field) = field
            && field.chars().count() > MAX_FIELD_LEN
        {
            return Err(Invalid::new(format!(
                "The placement strategy field is longer than {MAX_FIELD_LEN} characters."
            )));
        }
        let Some(kind) = kind else {
            return Err(Invalid::new("A placement strategy type must be specified."));
        };
        match kind.to_ascii_lowercase().as_str() {
            "random" => Ok(Self::Random),
            "binpack" => match field.map(str::to_ascii_lowercase).as_deref() {
                Some("cpu") => Ok(Self::Binpack(Field::Cpu)),
                Some("memory") => Ok(Self::Binpack(Field::Memory)),
                Some(_) | None => Err(Invalid::new(format!(
                    "Invalid field '{}' for the binpack placement strategy. Valid values are cpu \
                     and memory.",
                    field.unwrap_or("")
                ))),
            },
            "spread" => match field {
                Some(field) => SpreadField::parse(field).map(Self::Spread),
                None => Err(Invalid::new(
                    "The spread placement strategy needs a field: instanceId, host or \
                     attribute:NAME.",
                )),
            },
            _ => Err(Invalid::new(format!(
                "Invalid placement strategy type '{kind}'. Valid values are random, spread and \
                 binpack."
            ))),
        }
    }

    /// From ECS's JSON shape, `{"type": "binpack", "field": "memory"}`.
    pub fn from_json(value: &Value) -> Result<Self, Invalid> {
        let object = value
            .as_object()
            .ok_or_else(|| Invalid::new("A placement strategy must be an object."))?;
        Self::new(
            string_member(object, "type")?,
            string_member(object, "field")?,
        )
    }

    /// ECS's JSON shape, as `Describe*` calls echo it.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Binpack(f) => json!({"type": "binpack", "field": f.as_str()}),
            Self::Spread(f) => json!({"type": "spread", "field": f.as_string()}),
            Self::Random => json!({"type": "random"}),
        }
    }

    /// A service's strategy when it names none: spread across
    /// Availability Zones. (`RunTask`'s is random placement, which an empty
    /// list means to [`place`](crate::place).)
    pub fn service_default() -> Vec<Strategy> {
        vec![Strategy::Spread(SpreadField::Attribute(
            "ecs.availability-zone".to_string(),
        ))]
    }
}

/// A request's (or service's) `placementStrategy` array.
pub fn parse_strategies(values: &[Value]) -> Result<Vec<Strategy>, Invalid> {
    if values.len() > MAX_STRATEGIES {
        return Err(Invalid::new(format!(
            "Too many placement strategies: {} given, at most {MAX_STRATEGIES} are allowed.",
            values.len()
        )));
    }
    values.iter().map(Strategy::from_json).collect()
}

#[cfg(test)]
mod tests {
    #![cfg_attr(test, allow(clippy::unwrap_used))]

    use serde_json::json;

    use super::*;

    #[test]
    fn reads_every_type_and_echoes_it() {
        let cases = [
            (
                json!({"type": "binpack", "field": "memory"}),
                Strategy::Binpack(Field::Memory),
            ),
            (
                json!({"type": "binpack", "field": "CPU"}),
                Strategy::Binpack(Field::Cpu),
            ),
            (
                json!({"type": "spread", "field": "instanceId"}),
                Strategy::Spread(SpreadField::InstanceId),
            ),
            (
                json!({"type": "spread", "field": "host"}),
                Strategy::Spread(SpreadField::Host),
            ),
            (
                json!({"type": "spread", "field": "attribute:ecs.availability-zone"}),
                Strategy::Spread(SpreadField::Attribute("ecs.availability-zone".into())),
            ),
            (json!({"type": "random"}), Strategy::Random),
            (
                json!({"type": "random", "field": "memory"}),
                Strategy::Random,
            ),
        ];
        for (value, want) in cases {
            let got = Strategy::from_json(&value).unwrap();
            assert_eq!(got, want, "{value}");
            assert_eq!(Strategy::from_json(&got.to_json()).unwrap(), want);
        }
    }

    #[test]
    fn refuses_what_ecs_refuses() {
        let long = format!("attribute:{}", "a".repeat(250));
        let cases = [
            (
                json!({"type": "binpack", "field": "disk"}),
                "Invalid field 'disk' for the binpack",
            ),
            (
                json!({"type": "binpack"}),
                "Invalid field '' for the binpack",
            ),
            (
                json!({"type": "spread"}),
                "The spread placement strategy needs a field",
            ),
            (
                json!({"type": "spread", "field": "attribute:"}),
                "Invalid field 'attribute:'",
            ),
            (
                json!({"type": "spread", "field": "az"}),
                "Invalid field 'az'",
            ),
            (
                json!({"type": "pack", "field": "cpu"}),
                "Invalid placement strategy type 'pack'",
            ),
            (
                json!({"field": "cpu"}),
                "A placement strategy type must be specified.",
            ),
            (
                json!({"type": "spread", "field": long}),
                "The placement strategy field is longer",
            ),
            (json!(["random"]), "A placement strategy must be an object."),
        ];
        for (value, want) in cases {
            let got = Strategy::from_json(&value).unwrap_err();
            assert!(got.0.starts_with(want), "{value}: {got}");
        }
    }

    #[test]
    fn limits_the_count() {
        let five: Vec<Value> = (0..5).map(|_| json!({"type": "random"})).collect();
        assert_eq!(parse_strategies(&five).unwrap().len(), 5);
        let six: Vec<Value> = (0..6).map(|_| json!({"type": "random"})).collect();
        let e = parse_strategies(&six).unwrap_err();
        assert!(e.0.contains("6 given, at most 5"), "{e}");
    }

    #[test]
    fn services_spread_across_zones_by_default() {
        assert_eq!(
            Strategy::service_default()
                .iter()
                .map(Strategy::to_json)
                .collect::<Vec<_>>(),
            vec![json!({"type": "spread", "field": "attribute:ecs.availability-zone"})]
        );
    }
}
