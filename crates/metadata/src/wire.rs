//! Encodings that make our JSON read like the ECS agent's, which is Go's
//! `encoding/json`: clients parse it with code written against that output.

use chrono::{DateTime, Utc};
use serde_json::{Map, Number, Value};

/// Go's zero `time.Time`, which Docker sends as `preread` on a first read.
pub(crate) const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A time as Go's `time.RFC3339Nano` writes it: nanoseconds with trailing
/// zeros dropped, no fraction at all on a whole second, `Z` for UTC.
pub(crate) fn go_time(t: &DateTime<Utc>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S");
    // chrono carries a leap second as nanos >= 1e9; Go has no leap seconds.
    let nanos = t.timestamp_subsec_nanos().min(999_999_999);
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// A float as Go writes a `float64`: a whole number has no `.0`, so a CPU
/// limit of 10 is `10` (and equal to the `10` in AWS's examples).
pub(crate) fn go_float(f: f64) -> Value {
    // 2^53: beyond it not every integer is an f64, and Go switches to
    // exponent form at 1e21 anyway.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if f.fract() == 0.0 && f.abs() <= EXACT {
        // The range check above makes the cast exact.
        return Value::Number(Number::from(f as i64));
    }
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// Builds a JSON object field by field, leaving out what Go's `omitempty`
/// leaves out.
#[derive(Default)]
pub(crate) struct Obj(Map<String, Value>);

impl Obj {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn put(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    pub(crate) fn put_some(&mut self, key: &str, value: Option<impl Into<Value>>) -> &mut Self {
        if let Some(v) = value {
            self.put(key, v);
        }
        self
    }

    pub(crate) fn str_nonempty(&mut self, key: &str, value: &str) -> &mut Self {
        if !value.is_empty() {
            self.put(key, value);
        }
        self
    }

    pub(crate) fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        self.str_nonempty(key, value.unwrap_or_default())
    }

    pub(crate) fn time(&mut self, key: &str, value: Option<&DateTime<Utc>>) -> &mut Self {
        self.put_some(key, value.map(go_time))
    }

    pub(crate) fn u64_nonzero(&mut self, key: &str, value: u64) -> &mut Self {
        if value != 0 {
            self.put(key, value);
        }
        self
    }

    pub(crate) fn list_nonempty(&mut self, key: &str, values: Vec<Value>) -> &mut Self {
        if !values.is_empty() {
            self.put(key, Value::Array(values));
        }
        self
    }

    pub(crate) fn map_nonempty<'a>(
        &mut self,
        key: &str,
        map: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> &mut Self {
        let m: Map<String, Value> = map
            .into_iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        if !m.is_empty() {
            self.put(key, Value::Object(m));
        }
        self
    }

    pub(crate) fn build(&mut self) -> Value {
        Value::Object(std::mem::take(&mut self.0))
    }
}

/// Strings of anything displayable, as a JSON array.
pub(crate) fn strings<T: ToString>(items: &[T]) -> Vec<Value> {
    items.iter().map(|i| Value::from(i.to_string())).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::TimeZone;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn times_read_like_go_rfc3339nano() {
        // Values from AWS's examples, which Go wrote.
        for s in [
            "2020-10-02T00:43:06.31288465Z",
            "2020-10-02T00:15:07.620912337Z",
            "2023-07-21T16:09:17Z",
            "2020-10-08T20:09:11.44527186Z",
        ] {
            assert_eq!(go_time(&t(s)), s);
        }
        let whole_millis = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
            + chrono::Duration::milliseconds(120);
        assert_eq!(go_time(&whole_millis), "2026-01-02T03:04:05.12Z");
        let zero = Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(go_time(&zero), GO_ZERO_TIME);
    }

    #[test]
    fn whole_floats_have_no_fraction() {
        assert_eq!(serde_json::to_string(&go_float(10.0)).unwrap(), "10");
        assert_eq!(serde_json::to_string(&go_float(0.0)).unwrap(), "0");
        assert_eq!(serde_json::to_string(&go_float(0.25)).unwrap(), "0.25");
        assert_eq!(serde_json::to_string(&go_float(-3.0)).unwrap(), "-3");
        assert_eq!(go_float(f64::NAN), Value::Null);
        assert_eq!(go_float(0.446931), serde_json::json!(0.446931));
    }

    #[test]
    fn obj_leaves_out_empty_fields() {
        let v = Obj::new()
            .str_nonempty("A", "")
            .str_nonempty("B", "b")
            .opt_str("C", None)
            .u64_nonzero("D", 0)
            .u64_nonzero("E", 5)
            .list_nonempty("F", vec![])
            .time("G", None)
            .build();
        assert_eq!(v, serde_json::json!({"B": "b", "E": 5}));
    }
}
