//! The operations: input checks with CloudWatch's codes and messages, then
//! the store.

use std::collections::HashSet;

use dockyard_aws::input::{decode, decode_token, encode_token};
use dockyard_aws::{ApiError, CallContext};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::store::{MetricId, MetricStore, StatSet};

pub(crate) const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];
const STATISTICS: &[&str] = &["SampleCount", "Average", "Sum", "Minimum", "Maximum"];
const MAX_DATAPOINTS: i64 = 1440;
const MAX_DATUMS: usize = 1000;
const MAX_DIMENSIONS: usize = 30;
const MAX_VALUES: usize = 150;
const MAX_QUERIES: usize = 500;
const LIST_PAGE: usize = 500;
/// PutMetricData takes timestamps from two weeks back to two hours ahead.
const PAST_SECS: i64 = 14 * 24 * 3600;
const FUTURE_SECS: i64 = 2 * 3600;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::client("InvalidParameterValueException", message)
}

fn missing(name: &str) -> ApiError {
    ApiError::client(
        "MissingRequiredParameterException",
        format!("The parameter {name} is required."),
    )
}

fn combination(message: impl Into<String>) -> ApiError {
    ApiError::client("InvalidParameterCombinationException", message)
}

/// GetMetricData's checks answer with the generic `ValidationError`.
fn validation(message: impl Into<String>) -> ApiError {
    ApiError::client("ValidationError", message)
}

fn required<T>(name: &str, v: Option<T>) -> Result<T, ApiError> {
    v.ok_or_else(|| missing(name))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Dimension {
    name: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StatisticValues {
    sample_count: Option<f64>,
    sum: Option<f64>,
    minimum: Option<f64>,
    maximum: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Datum {
    metric_name: Option<String>,
    #[serde(default)]
    dimensions: Vec<Dimension>,
    timestamp: Option<f64>,
    value: Option<f64>,
    statistic_values: Option<StatisticValues>,
    values: Option<Vec<f64>>,
    counts: Option<Vec<f64>>,
    unit: Option<String>,
    storage_resolution: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutInput {
    namespace: Option<String>,
    metric_data: Option<Vec<Datum>>,
}

fn check_name(field: &str, v: &str, max: usize) -> Result<(), ApiError> {
    if v.is_empty() || v.len() > max {
        return Err(invalid(format!(
            "The parameter {field} must be between 1 and {max} characters long."
        )));
    }
    Ok(())
}

fn check_namespace(ns: &str) -> Result<(), ApiError> {
    check_name("Namespace", ns, 255)?;
    if ns.starts_with(':') || !ns.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        return Err(invalid(format!(
            "The value {ns} for parameter Namespace is invalid."
        )));
    }
    Ok(())
}

fn check_unit(field: &str, unit: Option<&str>) -> Result<(), ApiError> {
    match unit {
        Some(u) if !UNITS.contains(&u) => Err(invalid(format!(
            "The value {u} for parameter {field} is invalid. Valid values: {}.",
            UNITS.join(", ")
        ))),
        _ => Ok(()),
    }
}

fn dimensions(field: &str, dims: Vec<Dimension>) -> Result<Vec<(String, String)>, ApiError> {
    if dims.len() > MAX_DIMENSIONS {
        return Err(invalid(format!(
            "The collection {field} must not have a size greater than {MAX_DIMENSIONS}."
        )));
    }
    let mut out = Vec::with_capacity(dims.len());
    let mut seen = HashSet::new();
    for (i, d) in dims.into_iter().enumerate() {
        let at = format!("{field}.member.{}", i + 1);
        let name = required(&format!("{at}.Name"), d.name)?;
        let value = required(&format!("{at}.Value"), d.value)?;
        check_name(&format!("{at}.Name"), &name, 255)?;
        check_name(&format!("{at}.Value"), &value, 1024)?;
        if !seen.insert(name.clone()) {
            return Err(invalid(format!(
                "No metric may have more than one dimension named {name}."
            )));
        }
        out.push((name, value));
    }
    Ok(out)
}

fn finite(field: &str, v: f64) -> Result<f64, ApiError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(invalid(format!(
            "The value {v} for parameter {field} is invalid."
        )))
    }
}

fn epoch(ctx: &CallContext) -> i64 {
    ctx.now.timestamp()
}

pub(crate) fn put_metric_data(
    store: &MetricStore,
    ctx: &CallContext,
    input: Value,
) -> Result<Value, ApiError> {
    let i: PutInput = decode(input)?;
    let ns = required("Namespace", i.namespace)?;
    check_namespace(&ns)?;
    if ns.starts_with("AWS/") {
        return Err(invalid(format!(
            "The value {ns} for parameter Namespace is invalid."
        )));
    }
    let data = required("MetricData", i.metric_data)?;
    if data.is_empty() || data.len() > MAX_DATUMS {
        return Err(invalid(format!(
            "The collection MetricData must have between 1 and {MAX_DATUMS} members."
        )));
    }
    let now = epoch(ctx);
    // Everything is checked before anything is stored.
    let mut puts = Vec::with_capacity(data.len());
    for (n, d) in data.into_iter().enumerate() {
        let at = format!("MetricData.member.{}", n + 1);
        let name = required(&format!("{at}.MetricName"), d.metric_name)?;
        check_name(&format!("{at}.MetricName"), &name, 255)?;
        let dims = dimensions(&format!("{at}.Dimensions"), d.dimensions)?;
        check_unit(&format!("{at}.Unit"), d.unit.as_deref())?;
        if let Some(r) = d.storage_resolution
            && r != 1
            && r != 60
        {
            return Err(invalid(format!(
                "The value {r} for parameter {at}.StorageResolution is invalid. Valid values: 1, 60."
            )));
        }
        let ts = match d.timestamp {
            Some(t) => finite(&format!("{at}.Timestamp"), t)?.floor() as i64,
            None => now,
        };
        if ts < now - PAST_SECS {
            return Err(invalid(format!(
                "The parameter {at}.Timestamp must specify a time no more than two weeks in the past."
            )));
        }
        if ts > now + FUTURE_SECS {
            return Err(invalid(format!(
                "The parameter {at}.Timestamp must specify a time no more than two hours in the future."
            )));
        }
        let given = [
            d.value.is_some(),
            d.statistic_values.is_some(),
            d.values.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(combination(format!(
                "The parameters {at}.Value, {at}.StatisticValues and {at}.Values are mutually exclusive and you have specified more than one."
            )));
        }
        let stats = if let Some(v) = d.value {
            StatSet::one(finite(&format!("{at}.Value"), v)?)
        } else if let Some(s) = d.statistic_values {
            let f = |m: &str, v: Option<f64>| {
                let field = format!("{at}.StatisticValues.{m}");
                v.ok_or_else(|| missing(&field))
                    .and_then(|v| finite(&field, v))
            };
            let set = StatSet {
                count: f("SampleCount", s.sample_count)?,
                sum: f("Sum", s.sum)?,
                min: f("Minimum", s.minimum)?,
                max: f("Maximum", s.maximum)?,
            };
            if set.count <= 0.0 || set.min > set.max {
                return Err(invalid(format!(
                    "The parameter {at}.StatisticValues is invalid: SampleCount must be positive and Minimum at most Maximum."
                )));
            }
            set
        } else if let Some(values) = d.values {
            values_set(&at, &values, d.counts.as_deref())?
        } else {
            return Err(missing(&format!("{at}.Value")));
        };
        let unit = d.unit.unwrap_or_else(|| "None".into());
        puts.push((MetricId::new(&ns, &name, dims), ts, stats, unit));
    }
    for (id, ts, stats, unit) in puts {
        store.put(&ctx.account, &id, ts, stats, &unit, now);
    }
    Ok(json!({}))
}

fn values_set(at: &str, values: &[f64], counts: Option<&[f64]>) -> Result<StatSet, ApiError> {
    if values.is_empty() || values.len() > MAX_VALUES {
        return Err(invalid(format!(
            "The collection {at}.Values must have between 1 and {MAX_VALUES} members."
        )));
    }
    if let Some(c) = counts
        && c.len() != values.len()
    {
        return Err(combination(format!(
            "The parameters {at}.Values and {at}.Counts must be of the same size."
        )));
    }
    let mut set: Option<StatSet> = None;
    for (k, v) in values.iter().enumerate() {
        let v = finite(&format!("{at}.Values.member.{}", k + 1), *v)?;
        let n = counts.map_or(1.0, |c| c[k]);
        if !n.is_finite() || n < 0.0 {
            return Err(invalid(format!(
                "The value {n} for parameter {at}.Counts.member.{} is invalid.",
                k + 1
            )));
        }
        let one = StatSet {
            count: n,
            sum: v * n,
            min: v,
            max: v,
        };
        match &mut set {
            Some(s) => s.merge(&one),
            None => set = Some(one),
        }
    }
    set.ok_or_else(|| missing(&format!("{at}.Values")))
}

/// Start (rounded down to the minute) and end, checked.
fn range(
    start: Option<f64>,
    end: Option<f64>,
    err: fn(String) -> ApiError,
) -> Result<(i64, i64), ApiError> {
    let start = required("StartTime", start)?;
    let end = required("EndTime", end)?;
    if !start.is_finite() || !end.is_finite() {
        return Err(err(
            "The parameters StartTime and EndTime must be times.".into()
        ));
    }
    let (start, end) = (
        (start.floor() as i64).div_euclid(60) * 60,
        end.ceil() as i64,
    );
    if start >= end {
        return Err(err(
            "The parameter StartTime must be less than the parameter EndTime.".into(),
        ));
    }
    Ok((start, end))
}

fn check_period(period: i64, err: fn(String) -> ApiError) -> Result<(), ApiError> {
    if period < 1 {
        return Err(err(format!(
            "The value {period} for parameter Period is invalid."
        )));
    }
    if period % 60 != 0 {
        return Err(err(
            "The parameter Period must be a multiple of 60 (only standard-resolution data is kept)."
                .into(),
        ));
    }
    Ok(())
}

fn stat_value(stat: &str, s: &StatSet) -> f64 {
    match stat {
        "SampleCount" => s.count,
        "Sum" => s.sum,
        "Minimum" => s.min,
        "Maximum" => s.max,
        _ => {
            if s.count > 0.0 {
                s.sum / s.count
            } else {
                0.0
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StatisticsInput {
    namespace: Option<String>,
    metric_name: Option<String>,
    #[serde(default)]
    dimensions: Vec<Dimension>,
    start_time: Option<f64>,
    end_time: Option<f64>,
    period: Option<i64>,
    statistics: Option<Vec<String>>,
    extended_statistics: Option<Vec<String>>,
    unit: Option<String>,
}

pub(crate) fn get_metric_statistics(
    store: &MetricStore,
    ctx: &CallContext,
    input: Value,
) -> Result<Value, ApiError> {
    let i: StatisticsInput = decode(input)?;
    let ns = required("Namespace", i.namespace)?;
    check_namespace(&ns)?;
    let name = required("MetricName", i.metric_name)?;
    check_name("MetricName", &name, 255)?;
    let dims = dimensions("Dimensions", i.dimensions)?;
    let (start, end) = range(i.start_time, i.end_time, invalid)?;
    let period = required("Period", i.period)?;
    check_period(period, invalid)?;
    check_unit("Unit", i.unit.as_deref())?;
    let stats = match (i.statistics, i.extended_statistics) {
        (Some(s), None) if !s.is_empty() => s,
        (None, Some(_)) => {
            return Err(invalid(
                "ExtendedStatistics (percentiles) need raw values, which this CloudWatch does not keep; use Statistics.",
            ));
        }
        _ => {
            return Err(combination(
                "Must specify either Statistics or ExtendedStatistics, but not both.",
            ));
        }
    };
    if stats.len() > STATISTICS.len() {
        return Err(invalid(
            "The collection Statistics must not have a size greater than 5.",
        ));
    }
    for s in &stats {
        if !STATISTICS.contains(&s.as_str()) {
            return Err(invalid(format!(
                "The value {s} for parameter Statistics is invalid. Valid values: {}.",
                STATISTICS.join(", ")
            )));
        }
    }
    let requested = (end - start + period - 1) / period;
    if requested > MAX_DATAPOINTS {
        return Err(combination(format!(
            "You have requested up to {requested} datapoints, which exceeds the limit of 1,440. You may reduce the datapoints requested by increasing Period, or decreasing the time range."
        )));
    }
    let id = MetricId::new(&ns, &name, dims);
    let points: Vec<Value> = store
        .query(&ctx.account, &id, start, end, period, i.unit.as_deref())
        .into_iter()
        .map(|p| {
            let mut d = serde_json::Map::new();
            d.insert("Timestamp".into(), json!(p.start as f64));
            for s in &stats {
                d.insert(s.clone(), json!(stat_value(s, &p.stats)));
            }
            d.insert("Unit".into(), json!(p.unit));
            Value::Object(d)
        })
        .collect();
    Ok(json!({"Label": name, "Datapoints": points}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetricInput {
    namespace: Option<String>,
    metric_name: Option<String>,
    #[serde(default)]
    dimensions: Vec<Dimension>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetricStatInput {
    metric: Option<MetricInput>,
    period: Option<i64>,
    stat: Option<String>,
    unit: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct QueryInput {
    id: Option<String>,
    metric_stat: Option<MetricStatInput>,
    expression: Option<String>,
    label: Option<String>,
    return_data: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DataInput {
    metric_data_queries: Option<Vec<QueryInput>>,
    start_time: Option<f64>,
    end_time: Option<f64>,
    next_token: Option<String>,
    scan_by: Option<String>,
    max_datapoints: Option<i64>,
}

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && id.len() <= 255
}

pub(crate) fn get_metric_data(
    store: &MetricStore,
    ctx: &CallContext,
    input: Value,
) -> Result<Value, ApiError> {
    let i: DataInput = decode(input)?;
    if i.next_token.is_some() {
        return Err(ApiError::client(
            "InvalidNextToken",
            "The NextToken is not one this service issued.",
        ));
    }
    let queries = i
        .metric_data_queries
        .ok_or_else(|| validation("The parameter MetricDataQueries is required."))?;
    if queries.is_empty() || queries.len() > MAX_QUERIES {
        return Err(validation(format!(
            "The collection MetricDataQueries must have between 1 and {MAX_QUERIES} members."
        )));
    }
    let (start, end) = range(i.start_time, i.end_time, validation)?;
    let descending = match i.scan_by.as_deref() {
        None | Some("TimestampDescending") => true,
        Some("TimestampAscending") => false,
        Some(other) => {
            return Err(validation(format!(
                "The value {other} for parameter ScanBy is invalid. Valid values: TimestampDescending, TimestampAscending."
            )));
        }
    };
    let max_points = match i.max_datapoints {
        Some(n) if n < 1 => {
            return Err(validation(format!(
                "The value {n} for parameter MaxDatapoints is invalid."
            )));
        }
        Some(n) => n as usize,
        None => 100_800,
    };
    let mut ids = HashSet::new();
    let mut plan = Vec::with_capacity(queries.len());
    for (n, q) in queries.into_iter().enumerate() {
        let at = format!("MetricDataQueries.member.{}", n + 1);
        let id =
            q.id.ok_or_else(|| validation(format!("The parameter {at}.Id is required.")))?;
        if !valid_id(&id) {
            return Err(validation(format!(
                "The value {id} for parameter {at}.Id is invalid: it must start with a lowercase letter and hold only letters, digits and underscores."
            )));
        }
        if !ids.insert(id.clone()) {
            return Err(validation(format!(
                "The values of MetricDataQueries Id must be unique; {id} is repeated."
            )));
        }
        if q.expression.is_some() {
            return Err(validation(format!(
                "{at}.Expression: metric math is not supported here; use MetricStat."
            )));
        }
        let stat = q.metric_stat.ok_or_else(|| {
            validation(format!("{at} must have either MetricStat or Expression."))
        })?;
        let metric = stat.metric.ok_or_else(|| {
            validation(format!("The parameter {at}.MetricStat.Metric is required."))
        })?;
        let ns = metric.namespace.ok_or_else(|| {
            validation(format!(
                "The parameter {at}.MetricStat.Metric.Namespace is required."
            ))
        })?;
        let name = metric.metric_name.ok_or_else(|| {
            validation(format!(
                "The parameter {at}.MetricStat.Metric.MetricName is required."
            ))
        })?;
        let dims = dimensions(
            &format!("{at}.MetricStat.Metric.Dimensions"),
            metric.dimensions,
        )
        .map_err(|e| validation(e.message))?;
        let period = stat.period.ok_or_else(|| {
            validation(format!("The parameter {at}.MetricStat.Period is required."))
        })?;
        check_period(period, validation)?;
        let s = stat.stat.ok_or_else(|| {
            validation(format!("The parameter {at}.MetricStat.Stat is required."))
        })?;
        if !STATISTICS.contains(&s.as_str()) {
            return Err(validation(format!(
                "The value {s} for parameter {at}.MetricStat.Stat is invalid: only {} are kept (no percentiles).",
                STATISTICS.join(", ")
            )));
        }
        check_unit(&format!("{at}.MetricStat.Unit"), stat.unit.as_deref())
            .map_err(|e| validation(e.message))?;
        if q.return_data == Some(false) {
            continue;
        }
        let label = q.label.unwrap_or_else(|| name.clone());
        plan.push((
            id,
            label,
            MetricId::new(&ns, &name, dims),
            period,
            s,
            stat.unit,
        ));
    }
    let mut budget = max_points;
    let results: Vec<Value> = plan
        .into_iter()
        .map(|(id, label, metric, period, stat, unit)| {
            let mut points =
                store.query(&ctx.account, &metric, start, end, period, unit.as_deref());
            if descending {
                points.reverse();
            }
            let complete = points.len() <= budget;
            points.truncate(budget);
            budget -= points.len();
            let ts: Vec<f64> = points.iter().map(|p| p.start as f64).collect();
            let values: Vec<f64> = points.iter().map(|p| stat_value(&stat, &p.stats)).collect();
            json!({
                "Id": id,
                "Label": label,
                "Timestamps": ts,
                "Values": values,
                "StatusCode": if complete { "Complete" } else { "PartialData" },
            })
        })
        .collect();
    Ok(json!({"MetricDataResults": results, "Messages": []}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DimensionFilter {
    name: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListInput {
    namespace: Option<String>,
    metric_name: Option<String>,
    #[serde(default)]
    dimensions: Vec<DimensionFilter>,
    next_token: Option<String>,
    recently_active: Option<String>,
}

fn metric_key(m: &MetricId) -> String {
    let dims: Vec<String> = m
        .dimensions
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!("{}\u{1}{}\u{1}{}", m.namespace, m.name, dims.join("\u{2}"))
}

pub(crate) fn list_metrics(
    store: &MetricStore,
    ctx: &CallContext,
    input: Value,
) -> Result<Value, ApiError> {
    let i: ListInput = decode(input)?;
    if let Some(ns) = &i.namespace {
        check_namespace(ns)?;
    }
    let mut filters = Vec::with_capacity(i.dimensions.len());
    for (n, f) in i.dimensions.into_iter().enumerate() {
        let name = required(&format!("Dimensions.member.{}.Name", n + 1), f.name)?;
        filters.push((name, f.value));
    }
    let active_since = match i.recently_active.as_deref() {
        None => None,
        Some("PT3H") => Some(epoch(ctx) - 3 * 3600),
        Some(other) => {
            return Err(invalid(format!(
                "The value {other} for parameter RecentlyActive is invalid. Valid values: PT3H."
            )));
        }
    };
    let after = match &i.next_token {
        Some(t) => Some(decode_token(t).ok_or_else(|| invalid("The NextToken is invalid."))?),
        None => None,
    };
    let ids = store.list(&ctx.account, active_since, |m| {
        i.namespace.as_ref().is_none_or(|n| *n == m.namespace)
            && i.metric_name.as_ref().is_none_or(|n| *n == m.name)
            && filters.iter().all(|(name, value)| {
                m.dimensions
                    .iter()
                    .any(|(k, v)| k == name && value.as_ref().is_none_or(|want| want == v))
            })
    });
    let mut keyed: Vec<(String, MetricId)> = ids.into_iter().map(|m| (metric_key(&m), m)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let rest: Vec<(String, MetricId)> = keyed
        .into_iter()
        .filter(|(k, _)| after.as_ref().is_none_or(|a| k > a))
        .collect();
    let more = rest.len() > LIST_PAGE;
    let page = &rest[..rest.len().min(LIST_PAGE)];
    let metrics: Vec<Value> = page
        .iter()
        .map(|(_, m)| {
            json!({
                "Namespace": m.namespace,
                "MetricName": m.name,
                "Dimensions": m.dimensions.iter().map(|(k, v)| json!({"Name": k, "Value": v})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut out = json!({"Metrics": metrics});
    if more && let Some((k, _)) = page.last() {
        out["NextToken"] = json!(encode_token(k));
    }
    Ok(out)
}
