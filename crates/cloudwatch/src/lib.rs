//! CloudWatch metrics (`GraniteServiceVersion20100801`, signing name
//! `monitoring`): PutMetricData, GetMetricStatistics, GetMetricData and
//! ListMetrics over a [`MetricStore`], which the platform's own publishers
//! (ECS utilisation) write to as well.
//!
//! The operations are a [`JsonService`]: the front door serves them over
//! the JSON 1.0 protocol and over RPC v2 CBOR, which current SDKs use; the
//! same service is a `QueryService` too, for older clients (`query`).

mod ops;
mod query;
pub mod store;

use std::sync::Arc;

use dockyard_aws::{ApiError, CallContext, JsonService};
use serde_json::Value;

pub use store::{MetricId, MetricStore, StatSet};

pub const TARGET_PREFIX: &str = "GraniteServiceVersion20100801";

/// The CloudWatch metrics API over a shared store.
pub struct CloudWatchService {
    store: Arc<MetricStore>,
}

impl CloudWatchService {
    pub fn new(store: Arc<MetricStore>) -> Self {
        Self { store }
    }
}

impl JsonService for CloudWatchService {
    fn target_prefix(&self) -> &str {
        TARGET_PREFIX
    }

    fn signing_name(&self) -> &str {
        "monitoring"
    }

    fn call(&self, ctx: &CallContext, operation: &str, input: Value) -> Result<Value, ApiError> {
        match operation {
            "PutMetricData" => ops::put_metric_data(&self.store, ctx, input),
            "GetMetricStatistics" => ops::get_metric_statistics(&self.store, ctx, input),
            "GetMetricData" => ops::get_metric_data(&self.store, ctx, input),
            "ListMetrics" => ops::list_metrics(&self.store, ctx, input),
            other => Err(ApiError::unknown_operation(other)),
        }
    }

    fn timestamp_members(&self) -> &[&'static str] {
        &["Timestamp", "Timestamps"]
    }

    /// CloudWatch is awsQueryCompatible: its exceptions have Query codes.
    fn query_error_code(&self, code: &str) -> Option<String> {
        Some(
            match code {
                "InvalidParameterValueException" => "InvalidParameterValue",
                "MissingRequiredParameterException" => "MissingParameter",
                "InvalidParameterCombinationException" => "InvalidParameterCombination",
                "InternalServiceFault" => "InternalServiceError",
                other => other,
            }
            .to_string(),
        )
    }
}

#[cfg(test)]
mod tests;
