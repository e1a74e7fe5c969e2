//! Lambda's reserved concurrency, as the template sets it: a function whose reserved executions
//! are all busy refuses an invocation with `TooManyRequestsException` (HTTP 429), which Step
//! Functions reports as `Lambda.TooManyRequestsException`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use asl_interpreter::invoker::{FunctionError, Invocation, LambdaInvoker};
use async_trait::async_trait;
use serde_json::Value;
use serde_yaml_ng::Value as Yaml;

/// The template the product deploys, built into the binary.
pub const TEMPLATE: &str = include_str!("../../template.yaml");

/// Lambda's message for an invocation over the function's reserved concurrency.
const THROTTLED_MESSAGE: &str = "Rate Exceeded.";

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("the template is not YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("{function}'s ReservedConcurrentExecutions is {value}, not a count or a parameter with a numeric default")]
    NotACount { function: String, value: String },
}

/// Each function's reserved concurrency, by the name of the binary it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReservedConcurrency(pub HashMap<String, u32>);

impl ReservedConcurrency {
    /// The product's template's reservations.
    pub fn of_product() -> Result<Self, TemplateError> {
        Self::from_template(TEMPLATE)
    }

    /// The reservations of a SAM template: each `AWS::Serverless::Function` with
    /// `ReservedConcurrentExecutions` (a number, or `!Ref` to a parameter, read at its default),
    /// keyed by its cargo-lambda binary (or, without one, its logical id).
    pub fn from_template(text: &str) -> Result<Self, TemplateError> {
        let template: Yaml = serde_yaml_ng::from_str(text)?;
        let mut reserved = HashMap::new();
        let resources = template["Resources"].as_mapping().into_iter().flatten();
        for (id, resource) in resources {
            let value = &resource["Properties"]["ReservedConcurrentExecutions"];
            if value.is_null() || resource["Type"].as_str() != Some("AWS::Serverless::Function") {
                continue;
            }
            let name = resource["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .or(id.as_str())
                .unwrap_or_default()
                .to_owned();
            let count = count_of(&template, value).ok_or_else(|| TemplateError::NotACount {
                function: name.clone(),
                value: format!("{value:?}"),
            })?;
            reserved.insert(name, count);
        }
        Ok(ReservedConcurrency(reserved))
    }

    /// The reservation of a function named by name or ARN, if it has one.
    pub fn of(&self, function_name: &str) -> Option<u32> {
        self.0
            .get(function_dispatch::function_name(function_name))
            .copied()
    }
}

/// A number, or a `!Ref` to a parameter whose default is one.
fn count_of(template: &Yaml, value: &Yaml) -> Option<u32> {
    let number = |v: &Yaml| {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .and_then(|n| u32::try_from(n).ok())
    };
    match value {
        Yaml::Tagged(tagged) if tagged.tag == "Ref" => {
            let parameter = tagged.value.as_str()?;
            number(&template["Parameters"][parameter]["Default"])
        }
        Yaml::Mapping(m) if m.len() == 1 && m.contains_key("Ref") => {
            let parameter = m.get("Ref")?.as_str()?;
            number(&template["Parameters"][parameter]["Default"])
        }
        other => number(other),
    }
}

/// Invokes through `inner` while each function with a reservation has fewer invocations in
/// flight than it reserves; beyond that, refuses at once as Lambda does. Counts the refusals.
pub struct ReservedConcurrencyInvoker {
    inner: Arc<dyn LambdaInvoker>,
    reserved: ReservedConcurrency,
    in_flight: Mutex<HashMap<String, u32>>,
    throttled: AtomicU64,
}

impl ReservedConcurrencyInvoker {
    pub fn new(inner: Arc<dyn LambdaInvoker>, reserved: ReservedConcurrency) -> Self {
        ReservedConcurrencyInvoker {
            inner,
            reserved,
            in_flight: Mutex::new(HashMap::new()),
            throttled: AtomicU64::new(0),
        }
    }

    /// Invocations refused so far.
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// Takes one of the function's reserved executions, or says it has none free.
    fn admit(&self, function_name: &str) -> Result<Option<Slot<'_>>, FunctionError> {
        let Some(limit) = self.reserved.of(function_name) else {
            return Ok(None);
        };
        let name = function_dispatch::function_name(function_name).to_owned();
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        let busy = in_flight.entry(name.clone()).or_default();
        if *busy >= limit {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            return Err(FunctionError::lambda_service(
                429,
                "TooManyRequestsException",
                THROTTLED_MESSAGE,
                &uuid::Uuid::new_v4().to_string(),
            ));
        }
        *busy += 1;
        Ok(Some(Slot { owner: self, name }))
    }
}

/// A reserved execution in use; given back when the invocation ends (or is dropped).
struct Slot<'a> {
    owner: &'a ReservedConcurrencyInvoker,
    name: String,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut in_flight = self
            .owner
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(busy) = in_flight.get_mut(&self.name) {
            *busy = busy.saturating_sub(1);
        }
    }
}

#[async_trait]
impl LambdaInvoker for ReservedConcurrencyInvoker {
    async fn invoke(&self, function_name: &str, payload: Value) -> Result<Value, FunctionError> {
        let _slot = self.admit(function_name)?;
        self.inner.invoke(function_name, payload).await
    }

    async fn invoke_logged(
        &self,
        function_name: &str,
        payload: Value,
        tail: bool,
    ) -> Result<Invocation, FunctionError> {
        let _slot = self.admit(function_name)?;
        self.inner.invoke_logged(function_name, payload, tail).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asl_interpreter::clock::{Clock, VirtualClock};
    use asl_interpreter::invoker::LatencyInvoker;
    use std::time::Duration;

    #[test]
    fn reservations_are_read_from_the_template() {
        let template = r#"
Parameters:
  Quota:
    Type: Number
    Default: 7
Resources:
  Generate:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: generate-tasks
    Properties:
      ReservedConcurrentExecutions: !Ref Quota
  Save:
    Type: AWS::Serverless::Function
    Properties:
      ReservedConcurrentExecutions: 3
  Free:
    Type: AWS::Serverless::Function
    Properties: {}
"#;
        let reserved = ReservedConcurrency::from_template(template).unwrap();
        assert_eq!(
            reserved.of("arn:aws:lambda:us-east-1:1:function:generate-tasks"),
            Some(7)
        );
        assert_eq!(reserved.of("Save"), Some(3));
        assert_eq!(reserved.of("Free"), None);
        let broken = "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      ReservedConcurrentExecutions: !Ref Missing\n";
        assert!(matches!(
            ReservedConcurrency::from_template(broken),
            Err(TemplateError::NotACount { .. })
        ));
    }

    #[test]
    fn the_product_reserves_generate_tasks() {
        let reserved = ReservedConcurrency::of_product().unwrap();
        assert!(reserved.of("generate-tasks").is_some_and(|n| n > 0));
    }

    struct Echo;

    #[async_trait]
    impl LambdaInvoker for Echo {
        async fn invoke(&self, _: &str, payload: Value) -> Result<Value, FunctionError> {
            Ok(payload)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn invocations_over_the_reservation_are_throttled_as_lambda_does() {
        let clock: Arc<dyn Clock> = Arc::new(VirtualClock::default());
        let slow = Arc::new(LatencyInvoker {
            inner: Arc::new(Echo),
            clock,
            latency: Box::new(|_| Duration::from_secs(5)),
        });
        let reserved = ReservedConcurrency(HashMap::from([("f".to_owned(), 2)]));
        let invoker = Arc::new(ReservedConcurrencyInvoker::new(slow, reserved));
        let call = |name: &'static str| {
            let invoker = invoker.clone();
            tokio::spawn(async move { invoker.invoke(name, Value::Null).await })
        };
        let (a, b) = (call("f"), call("f"));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let refused = invoker.invoke("f", Value::Null).await.unwrap_err();
        assert_eq!(refused.error_type, "Lambda.TooManyRequestsException");
        let cause = refused.service_cause.unwrap_or_default();
        assert!(
            cause.starts_with("Rate Exceeded. (Service: AWSLambda; Status Code: 429; Error Code: TooManyRequestsException; Request ID: "),
            "{cause}"
        );
        // Functions without a reservation are never throttled.
        assert!(invoker.invoke("g", Value::Null).await.is_ok());
        assert!(a.await.unwrap().is_ok() && b.await.unwrap().is_ok());
        assert!(
            invoker.invoke("f", Value::Null).await.is_ok(),
            "slots come back"
        );
        assert_eq!(invoker.throttled(), 1);
    }
}
