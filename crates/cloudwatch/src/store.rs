//! The metric store: one series per (account, namespace, metric name,
//! dimensions), each a run of one-minute buckets holding the statistic set
//! of what was put in that minute (count, sum, minimum, maximum). Every
//! standard statistic of any period that is a whole number of minutes
//! follows from those; percentiles would need the raw values and are not
//! kept.
//!
//! Kept in memory: history is lost when the server restarts (see
//! ARCHITECTURE.md). Buckets older than [`RETENTION_SECS`] are dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// How long one-minute data is kept: 15 days, as CloudWatch keeps it.
pub const RETENTION_SECS: i64 = 15 * 24 * 3600;

/// Names a series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricId {
    pub namespace: String,
    pub name: String,
    /// Sorted by name; names are unique.
    pub dimensions: Vec<(String, String)>,
}

impl MetricId {
    pub fn new(namespace: &str, name: &str, mut dimensions: Vec<(String, String)>) -> Self {
        dimensions.sort();
        Self {
            namespace: namespace.into(),
            name: name.into(),
            dimensions,
        }
    }
}

/// A statistic set: what is kept of one minute's values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatSet {
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl StatSet {
    pub fn one(value: f64) -> Self {
        Self {
            count: 1.0,
            sum: value,
            min: value,
            max: value,
        }
    }

    pub fn merge(&mut self, o: &StatSet) {
        self.count += o.count;
        self.sum += o.sum;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }
}

#[derive(Debug, Clone)]
struct Bucket {
    stats: StatSet,
    unit: String,
}

#[derive(Debug, Default)]
struct Series {
    /// Minute start (epoch seconds) -> that minute's statistics.
    buckets: BTreeMap<i64, Bucket>,
    /// Epoch seconds of the last put, for ListMetrics' RecentlyActive.
    last_put: i64,
}

/// One period's statistics, returned by [`MetricStore::query`].
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    /// The period's start, epoch seconds.
    pub start: i64,
    pub stats: StatSet,
    pub unit: String,
}

/// Every series of every account.
#[derive(Debug, Default)]
pub struct MetricStore {
    series: Mutex<HashMap<(String, MetricId), Series>>,
}

fn minute(ts: i64) -> i64 {
    ts.div_euclid(60) * 60
}

impl MetricStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, MetricId), Series>> {
        // A panic while holding the lock leaves whole buckets behind.
        self.series.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `stats` at `ts` (epoch seconds) to a series; `now` drives
    /// retention.
    pub fn put(&self, account: &str, id: &MetricId, ts: i64, stats: StatSet, unit: &str, now: i64) {
        let mut all = self.lock();
        let series = all.entry((account.to_string(), id.clone())).or_default();
        series.last_put = series.last_put.max(now);
        let b = series.buckets.entry(minute(ts)).or_insert_with(|| Bucket {
            stats: StatSet {
                count: 0.0,
                sum: 0.0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            },
            unit: unit.to_string(),
        });
        b.stats.merge(&stats);
        b.unit = unit.to_string();
        let cutoff = now - RETENTION_SECS;
        while series
            .buckets
            .first_key_value()
            .is_some_and(|(t, _)| *t < cutoff)
        {
            series.buckets.pop_first();
        }
    }

    /// The statistics of each `period`-second window from `start` (both
    /// whole minutes) up to `end` that holds data, oldest first; with
    /// `unit`, only data put with that unit counts.
    pub fn query(
        &self,
        account: &str,
        id: &MetricId,
        start: i64,
        end: i64,
        period: i64,
        unit: Option<&str>,
    ) -> Vec<Period> {
        let all = self.lock();
        let Some(series) = all.get(&(account.to_string(), id.clone())) else {
            return Vec::new();
        };
        let mut out: Vec<Period> = Vec::new();
        for (t, b) in series.buckets.range(start..end) {
            if unit.is_some_and(|u| u != b.unit) {
                continue;
            }
            let window = start + (t - start) / period * period;
            match out.last_mut() {
                Some(p) if p.start == window => p.stats.merge(&b.stats),
                _ => out.push(Period {
                    start: window,
                    stats: b.stats,
                    unit: b.unit.clone(),
                }),
            }
        }
        out
    }

    /// The account's series, sorted, with `keep` deciding which; with
    /// `active_since`, only those put to since then.
    pub fn list(
        &self,
        account: &str,
        active_since: Option<i64>,
        keep: impl Fn(&MetricId) -> bool,
    ) -> Vec<MetricId> {
        let all = self.lock();
        let mut ids: Vec<MetricId> = all
            .iter()
            .filter(|((a, id), s)| {
                a == account && active_since.is_none_or(|t| s.last_put >= t) && keep(id)
            })
            .map(|((_, id), _)| id.clone())
            .collect();
        ids.sort();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> MetricId {
        MetricId::new("App", "Latency", vec![("Host".into(), "a".into())])
    }

    #[test]
    fn buckets_merge_into_periods() {
        let s = MetricStore::new();
        // Minutes 0, 1 and 5 (from 600 s), two values in minute 0.
        for (ts, v) in [(600, 1.0), (630, 3.0), (660, 5.0), (900, 7.0)] {
            s.put("1", &id(), ts, StatSet::one(v), "Milliseconds", 1000);
        }
        let p = s.query("1", &id(), 600, 1200, 300, None);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].start, 600);
        assert_eq!(
            p[0].stats,
            StatSet {
                count: 3.0,
                sum: 9.0,
                min: 1.0,
                max: 5.0
            }
        );
        assert_eq!(p[1].start, 900);
        assert_eq!(p[1].stats.sum, 7.0);
        let minutes = s.query("1", &id(), 600, 720, 60, None);
        assert_eq!(
            minutes.iter().map(|p| p.stats.count).collect::<Vec<_>>(),
            [2.0, 1.0]
        );
        // The end is exclusive, other units and accounts do not count.
        assert!(s.query("1", &id(), 600, 600, 60, None).is_empty());
        assert!(s.query("1", &id(), 600, 1200, 60, Some("Count")).is_empty());
        assert!(s.query("2", &id(), 600, 1200, 60, None).is_empty());
    }

    #[test]
    fn old_minutes_are_dropped_and_lists_follow_activity() {
        let s = MetricStore::new();
        s.put("1", &id(), 0, StatSet::one(1.0), "None", 0);
        let later = RETENTION_SECS + 120;
        let other = MetricId::new("App", "Errors", vec![]);
        s.put("1", &other, later, StatSet::one(1.0), "Count", later);
        s.put("1", &id(), later, StatSet::one(2.0), "None", later);
        let p = s.query("1", &id(), 0, later + 60, 60, None);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(s.list("1", None, |_| true), [other.clone(), id()]);
        assert_eq!(s.list("1", None, |m| m.name == "Errors"), [other]);
        assert!(s.list("1", Some(later + 1), |_| true).is_empty());
    }
}
