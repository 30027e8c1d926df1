//! ECS utilisation metrics from the usage agents report: each task's CPU
//! time (cumulative, so two reports make a rate) and memory, against what
//! the task reserved, published to CloudWatch as `AWS/ECS`
//! `CPUUtilization` and `MemoryUtilization` (Percent) for its cluster
//! (`ClusterName`) and, for service tasks, its service (`ClusterName`,
//! `ServiceName`). A minute's Average is the mean over the samples of the
//! tasks in it; Maximum is the busiest task's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use dockyard_agentproto::Usage;
use dockyard_cloudwatch::{MetricId, MetricStore, StatSet};
use dockyard_control::UsageSink;
use dockyard_ecs::{EcsService, UsageSubject};

pub const NAMESPACE: &str = "AWS/ECS";
/// A task not reported for this long is forgotten.
const FORGET_MS: i64 = 10 * 60 * 1000;

/// A task's last report: cumulative CPU nanoseconds, and when (ms).
#[derive(Debug, Clone, Copy)]
struct Last {
    cpu_nanos: u64,
    at_ms: i64,
}

pub struct EcsUsageMetrics {
    ecs: Arc<EcsService>,
    metrics: Arc<MetricStore>,
    last: Mutex<HashMap<String, Last>>,
}

impl EcsUsageMetrics {
    pub fn new(ecs: Arc<EcsService>, metrics: Arc<MetricStore>) -> Self {
        Self {
            ecs,
            metrics,
            last: Mutex::new(HashMap::new()),
        }
    }
}

/// CPU utilisation in percent of the reservation between two reports.
fn cpu_percent(before: Last, cpu_nanos: u64, at_ms: i64, cpu_units: u64) -> Option<f64> {
    let elapsed_ns = (at_ms - before.at_ms) as f64 * 1e6;
    if elapsed_ns <= 0.0 || cpu_units == 0 || cpu_nanos < before.cpu_nanos {
        return None;
    }
    let used = (cpu_nanos - before.cpu_nanos) as f64;
    Some(used / (elapsed_ns * cpu_units as f64 / 1024.0) * 100.0)
}

fn publish(metrics: &MetricStore, s: &UsageSubject, name: &str, value: f64, at: i64) {
    let cluster = ("ClusterName".to_string(), s.cluster.clone());
    let mut sets = vec![vec![cluster.clone()]];
    if let Some(svc) = &s.service {
        sets.push(vec![cluster, ("ServiceName".to_string(), svc.clone())]);
    }
    for dims in sets {
        let id = MetricId::new(NAMESPACE, name, dims);
        metrics.put(&s.account, &id, at, StatSet::one(value), "Percent", at);
    }
}

impl UsageSink for EcsUsageMetrics {
    fn record(&self, _node_id: &str, usage: &Usage, now: DateTime<Utc>) {
        let at_ms = now.timestamp_millis();
        let at = now.timestamp();
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        for t in &usage.tasks {
            let Some(subject) = self.ecs.usage_subject(&t.task_arn) else {
                continue;
            };
            let before = last.insert(
                t.task_arn.clone(),
                Last {
                    cpu_nanos: t.cpu_nanos,
                    at_ms,
                },
            );
            if let (Some(b), Some(units)) = (before, subject.cpu_units)
                && let Some(p) = cpu_percent(b, t.cpu_nanos, at_ms, units)
            {
                publish(&self.metrics, &subject, "CPUUtilization", p, at);
            }
            if let Some(mib) = subject.memory_mib.filter(|m| *m > 0) {
                let p = t.memory_bytes as f64 / (mib as f64 * 1024.0 * 1024.0) * 100.0;
                publish(&self.metrics, &subject, "MemoryUtilization", p, at);
            }
        }
        last.retain(|_, l| at_ms - l.at_ms < FORGET_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_a_share_of_the_reservation() {
        let b = Last {
            cpu_nanos: 1_000_000_000,
            at_ms: 10_000,
        };
        // Half a second of CPU in 2 s against a quarter vCPU: 100%.
        assert_eq!(cpu_percent(b, 1_500_000_000, 12_000, 256), Some(100.0));
        // A full vCPU reserved: 25%.
        assert_eq!(cpu_percent(b, 1_500_000_000, 12_000, 1024), Some(25.0));
        // No time passed, a counter that went back (a restarted
        // container), or nothing reserved: no sample.
        assert_eq!(cpu_percent(b, 1_500_000_000, 10_000, 1024), None);
        assert_eq!(cpu_percent(b, 1, 12_000, 1024), None);
        assert_eq!(cpu_percent(b, 1_500_000_000, 12_000, 0), None);
    }
}
