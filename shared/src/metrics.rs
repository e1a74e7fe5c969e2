//! Business metrics as CloudWatch Embedded Metric Format (EMF) log lines: one JSON object per line
//! on stdout, which CloudWatch turns into metrics under one namespace, with the environment as the
//! dimension the alarms and the dashboard use.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The namespace when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "StartActivity";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unit {
    Count,
    Seconds,
    Milliseconds,
}

/// The metrics the product emits, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricName {
    ExecutionsStarted,
    ExecutionsSucceeded,
    ExecutionsPartial,
    ExecutionsFailed,
    ExecutionDuration,
    ActionsProcessed,
    ActionsFailed,
    AiLatency,
    AiRetries,
    AiInputTokens,
    AiOutputTokens,
    /// Overdue runs a maintenance sweep could not end.
    SweepFailures,
}

impl MetricName {
    pub const fn as_str(self) -> &'static str {
        match self {
            MetricName::ExecutionsStarted => "ExecutionsStarted",
            MetricName::ExecutionsSucceeded => "ExecutionsSucceeded",
            MetricName::ExecutionsPartial => "ExecutionsPartial",
            MetricName::ExecutionsFailed => "ExecutionsFailed",
            MetricName::ExecutionDuration => "ExecutionDuration",
            MetricName::ActionsProcessed => "ActionsProcessed",
            MetricName::ActionsFailed => "ActionsFailed",
            MetricName::AiLatency => "AiLatency",
            MetricName::AiRetries => "AiRetries",
            MetricName::AiInputTokens => "AiInputTokens",
            MetricName::AiOutputTokens => "AiOutputTokens",
            MetricName::SweepFailures => "SweepFailures",
        }
    }

    pub const fn unit(self) -> Unit {
        match self {
            MetricName::ExecutionDuration => Unit::Seconds,
            MetricName::AiLatency => Unit::Milliseconds,
            _ => Unit::Count,
        }
    }
}

/// One measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: MetricName,
    pub value: f64,
}

impl Metric {
    pub fn new(name: MetricName, value: f64) -> Self {
        Self { name, value }
    }

    pub fn count(name: MetricName, n: u32) -> Self {
        Self::new(name, f64::from(n))
    }
}

/// Where metrics go: EMF on stdout in Lambda, memory in tests.
pub trait MetricSink: Send + Sync {
    /// Records metrics measured together, with properties (execution ARN, goal id) that make the
    /// log line findable but are not dimensions.
    fn emit(&self, metrics: &[Metric], properties: &[(&str, &str)]);
}

tokio::task_local! {
    /// The Lambda request id of the invocation being handled, so its metric lines name it like
    /// its log lines do.
    pub static REQUEST_ID: String;
}

/// Builds EMF documents for one namespace and environment.
#[derive(Debug, Clone)]
pub struct EmfFormat {
    pub namespace: String,
    pub environment: String,
}

impl EmfFormat {
    pub fn from_env() -> Self {
        Self {
            namespace: std::env::var("METRICS_NAMESPACE")
                .unwrap_or_else(|_| DEFAULT_NAMESPACE.to_owned()),
            environment: std::env::var("ENVIRONMENT").unwrap_or_else(|_| "dev".to_owned()),
        }
    }

    /// One EMF document: the `_aws` metadata, the dimension, each metric's value, the properties.
    pub fn document(
        &self,
        metrics: &[Metric],
        properties: &[(&str, &str)],
        at: DateTime<Utc>,
    ) -> Value {
        let definitions: Vec<Value> = metrics
            .iter()
            .map(|m| json!({"Name": m.name.as_str(), "Unit": m.name.unit()}))
            .collect();
        let mut doc = Map::new();
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": at.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["Environment"]],
                    "Metrics": definitions,
                }],
            }),
        );
        doc.insert("Environment".into(), json!(self.environment));
        for m in metrics {
            doc.insert(m.name.as_str().into(), json!(m.value));
        }
        for (k, v) in properties {
            doc.insert((*k).into(), json!(v));
        }
        if let Ok(request_id) = REQUEST_ID.try_with(Clone::clone) {
            doc.insert("requestId".into(), json!(request_id));
        }
        Value::Object(doc)
    }
}

/// Writes EMF lines to stdout, where the Lambda service collects them.
pub struct EmfStdout(pub EmfFormat);

impl MetricSink for EmfStdout {
    fn emit(&self, metrics: &[Metric], properties: &[(&str, &str)]) {
        if !metrics.is_empty() {
            println!("{}", self.0.document(metrics, properties, Utc::now()));
        }
    }
}

/// Keeps the EMF documents in memory.
pub struct RecordingMetrics {
    format: EmfFormat,
    lines: Mutex<Vec<String>>,
}

impl RecordingMetrics {
    pub fn new(format: EmfFormat) -> Self {
        Self {
            format,
            lines: Mutex::new(Vec::new()),
        }
    }

    /// The lines as they would have been printed.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Default for RecordingMetrics {
    fn default() -> Self {
        Self::new(EmfFormat {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            environment: "test".to_owned(),
        })
    }
}

impl MetricSink for RecordingMetrics {
    fn emit(&self, metrics: &[Metric], properties: &[(&str, &str)]) {
        if metrics.is_empty() {
            return;
        }
        let line = self
            .format
            .document(metrics, properties, Utc::now())
            .to_string();
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line);
        }
    }
}

/// Discards metrics.
pub struct NoMetrics;

impl MetricSink for NoMetrics {
    fn emit(&self, _: &[Metric], _: &[(&str, &str)]) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_the_embedded_metric_format() {
        let format = EmfFormat {
            namespace: "StartActivity".into(),
            environment: "prod".into(),
        };
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let doc = format.document(
            &[
                Metric::count(MetricName::ExecutionsStarted, 1),
                Metric::new(MetricName::AiLatency, 812.0),
            ],
            &[("executionArn", "arn:x")],
            at,
        );
        assert_eq!(doc["_aws"]["Timestamp"], 1_800_000_000_000i64);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "StartActivity");
        assert_eq!(directive["Dimensions"], json!([["Environment"]]));
        assert_eq!(
            directive["Metrics"],
            json!([
                {"Name": "ExecutionsStarted", "Unit": "Count"},
                {"Name": "AiLatency", "Unit": "Milliseconds"}
            ])
        );
        assert_eq!(doc["Environment"], "prod");
        assert_eq!(doc["ExecutionsStarted"], 1.0);
        assert_eq!(doc["executionArn"], "arn:x");
        assert_eq!(doc.get("requestId"), None);
    }

    #[tokio::test]
    async fn documents_name_the_invocation_they_are_emitted_in() {
        let format = EmfFormat {
            namespace: "StartActivity".into(),
            environment: "dev".into(),
        };
        let metrics = [Metric::count(MetricName::ExecutionsStarted, 1)];
        let doc = REQUEST_ID
            .scope("req-1".into(), async {
                format.document(&metrics, &[], Utc::now())
            })
            .await;
        assert_eq!(doc["requestId"], "req-1");
    }
}
