//! Lambda dispatch: the [`LambdaInvoker`] port, the HTTP adapter for any Lambda Invoke endpoint, and a
//! wrapper that adds simulated latency on the executor's clock.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::clock::Clock;

/// A function error as Lambda reports it (or a failure to reach the function).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error_type}: {error_message}")]
pub struct FunctionError {
    /// The error name Step Functions raises (e.g. `Exception`, `Lambda.ResourceNotFoundException`).
    pub error_type: String,
    pub error_message: String,
    /// The error body as the function returned it (`{errorMessage, errorType, ...}`), when there is one.
    pub raw_body: Option<Box<Value>>,
    /// Set for service-level failures (e.g. function not found): the cause is then this text, not the body.
    pub service_cause: Option<String>,
}

impl FunctionError {
    /// An error raised by function code (what an in-process handler returns).
    pub fn unhandled(error_type: impl Into<String>, error_message: impl Into<String>) -> Self {
        let error_type = error_type.into();
        let error_message = error_message.into();
        let body = serde_json::json!({"errorMessage": error_message, "errorType": error_type});
        FunctionError {
            error_type,
            error_message,
            raw_body: Some(Box::new(body)),
            service_cause: None,
        }
    }
}

impl FunctionError {
    /// Lambda's own refusal of an invocation (HTTP `status`, error code `error_code`, e.g.
    /// `TooManyRequestsException`), as Step Functions reports it: `Lambda.<error_code>`, the cause
    /// worded as the AWS SDK words it.
    pub fn lambda_service(
        status: u16,
        error_code: &str,
        message: impl Into<String>,
        request_id: &str,
    ) -> Self {
        let message = message.into();
        FunctionError {
            error_type: format!("Lambda.{error_code}"),
            service_cause: Some(format!(
                "{message} (Service: AWSLambda; Status Code: {status}; Error Code: {error_code}; Request ID: {request_id}; Proxy: null)"
            )),
            error_message: message,
            raw_body: None,
        }
    }
}

/// Whether `resource` is an activity's ARN (`arn:aws:states:REGION:ACCOUNT:activity:NAME`).
pub fn is_activity(resource: &str) -> bool {
    let parts: Vec<&str> = resource.split(':').collect();
    parts.len() == 7 && parts[..3] == ["arn", "aws", "states"] && parts[5] == "activity"
}

/// How far an activity task has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityProgress<'w> {
    /// Waiting for a worker.
    Scheduled,
    /// Taken by the worker of this name (empty when it gave none).
    Started(&'w str),
}

/// The result of a successful invocation: the payload and what the service said about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub payload: Value,
    /// The base64 end of the function's log, when it was asked for (`LogType: Tail`) and given.
    pub log_result: Option<String>,
}

#[async_trait]
pub trait LambdaInvoker: Send + Sync {
    /// Invokes `function_name` (a plain name or an ARN, as the definition gives it) with `payload`.
    async fn invoke(&self, function_name: &str, payload: Value) -> Result<Value, FunctionError>;

    /// Answers the Task state `state` (its resource and evaluated parameters) itself, instead of
    /// the interpreter calling the resource: `Some` with the task's result, or its failure, for a
    /// task the host runs (e.g. a mocked response). The default answers none.
    async fn answer_task(
        &self,
        state: &str,
        resource: &str,
        parameters: &Value,
    ) -> Option<Result<Value, FunctionError>> {
        let _ = (state, resource, parameters);
        None
    }

    /// Waits until the task token `token` of a task using the callback pattern
    /// (`.waitForTaskToken`) is returned: its output (SendTaskSuccess) or its error and cause
    /// (SendTaskFailure). With `heartbeat`, the host fails the wait with
    /// `States.HeartbeatTimeout` when that long passes without a heartbeat. The default has no
    /// way to return tokens and fails at once.
    async fn wait_for_task_token(
        &self,
        token: &str,
        heartbeat: Option<Duration>,
    ) -> Result<Value, FunctionError> {
        let _ = (token, heartbeat);
        Err(FunctionError {
            error_type: "States.Runtime".into(),
            error_message: "This host cannot return task tokens".into(),
            raw_body: None,
            service_cause: Some("This host cannot return task tokens (.waitForTaskToken)".into()),
        })
    }

    /// Schedules the task `token` of the activity `activity_arn`, with `input`, for the first
    /// worker that asks for a task (GetActivityTask), and waits for the worker's answer
    /// (SendTaskSuccess or SendTaskFailure); with `heartbeat`, from the worker's start on, as
    /// [`Self::wait_for_task_token`] does. `progress` hears of the schedule, then of the worker
    /// that takes the task; a failure before the schedule is the schedule's. The default has no
    /// workers and fails to schedule.
    async fn run_activity(
        &self,
        activity_arn: &str,
        token: &str,
        input: &Value,
        heartbeat: Option<Duration>,
        progress: &(dyn for<'w> Fn(ActivityProgress<'w>) + Send + Sync),
    ) -> Result<Value, FunctionError> {
        let _ = (token, input, heartbeat, progress);
        Err(FunctionError {
            error_type: "States.Runtime".into(),
            error_message: "This host has no activity workers".into(),
            raw_body: None,
            service_cause: Some(format!(
                "This host has no workers for the activity '{activity_arn}'"
            )),
        })
    }

    /// Invokes as the Invoke API does with `LogType: Tail` when `tail` is set, asking for the end of
    /// the function's log. Invokers without logs answer with none.
    async fn invoke_logged(
        &self,
        function_name: &str,
        payload: Value,
        tail: bool,
    ) -> Result<Invocation, FunctionError> {
        let _ = tail;
        let payload = self.invoke(function_name, payload).await?;
        Ok(Invocation {
            payload,
            log_result: None,
        })
    }
}

/// Invokes functions over the Lambda Invoke API (`POST {endpoint}/2015-03-31/functions/{name}/invocations`).
pub struct HttpInvoker {
    endpoint: String,
    agent: ureq::Agent,
    /// Local endpoints (stubs, `sam local`) have small accept backlogs; bursts from a wide Map reset them.
    in_flight: Arc<tokio::sync::Semaphore>,
}

/// Concurrent requests to one endpoint.
const MAX_IN_FLIGHT: usize = 4;
/// Attempts for a request whose connection failed, as the AWS SDK retries transport errors.
const TRANSPORT_ATTEMPTS: u32 = 4;

impl HttpInvoker {
    pub fn new(endpoint: impl Into<String>) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(900))
            .build();
        HttpInvoker {
            endpoint: endpoint.into().trim_end_matches('/').to_string(),
            agent,
            in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    fn call(
        &self,
        function_name: &str,
        payload: &Value,
        tail: bool,
    ) -> Result<Invocation, FunctionError> {
        let response = match self
            .send(function_name, &payload.to_string(), tail)
            .map_err(|e| *e)
        {
            Ok(response) => response,
            Err(ureq::Error::Status(code, response)) => {
                return Err(service_error(function_name, code, response))
            }
            Err(e) => {
                return Err(FunctionError {
                    error_type: "Lambda.SdkClientException".into(),
                    error_message: e.to_string(),
                    raw_body: None,
                    service_cause: Some(format!("Unable to execute HTTP request: {e}")),
                })
            }
        };
        let function_error = response.header("X-Amz-Function-Error").map(String::from);
        let log_result = response.header("X-Amz-Log-Result").map(String::from);
        let text = response
            .into_string()
            .map_err(|e| FunctionError::unhandled("Lambda.SdkClientException", e.to_string()))?;
        let body: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        match function_error {
            None => Ok(Invocation {
                payload: body,
                log_result,
            }),
            Some(_) => Err(function_failure(body)),
        }
    }

    /// POSTs the invocation, retrying a connection that failed as the AWS SDK does.
    fn send(
        &self,
        function_name: &str,
        body: &str,
        tail: bool,
    ) -> Result<ureq::Response, Box<ureq::Error>> {
        let url = format!(
            "{}/2015-03-31/functions/{}/invocations",
            self.endpoint, function_name
        );
        let mut attempt = 1;
        loop {
            let mut request = self
                .agent
                .post(&url)
                .set("content-type", "application/json");
            if tail {
                request = request.set("X-Amz-Log-Type", "Tail");
            }
            match request.send_string(body) {
                Err(ureq::Error::Transport(_)) if attempt < TRANSPORT_ATTEMPTS => {
                    std::thread::sleep(Duration::from_millis(50 * u64::from(attempt)));
                    attempt += 1;
                }
                sent => return sent.map_err(Box::new),
            }
        }
    }
}

/// Lambda's own refusal of an invocation (HTTP `code`): `Lambda.<ErrorType>` with the cause the AWS
/// SDK words for it.
fn service_error(function_name: &str, code: u16, response: ureq::Response) -> FunctionError {
    let error_code = response
        .header("x-amzn-ErrorType")
        .unwrap_or("ServiceException")
        .split(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let request_id = response
        .header("x-amzn-RequestId")
        .unwrap_or_default()
        .to_string();
    let text = response.into_string().unwrap_or_default();
    let message = if code == 404 {
        format!("Function not found: {}", qualified_arn(function_name))
    } else {
        serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .or_else(|| v.get("Message"))
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .unwrap_or(text)
    };
    FunctionError::lambda_service(code, &error_code, message, &request_id)
}

/// A function's own error (`X-Amz-Function-Error`), from its `errorType` and `errorMessage`.
fn function_failure(body: Value) -> FunctionError {
    let field = |name: &str| body.get(name).and_then(Value::as_str).map(String::from);
    FunctionError {
        error_type: field("errorType").unwrap_or_else(|| "Exception".to_string()),
        error_message: field("errorMessage").unwrap_or_default(),
        raw_body: Some(Box::new(body)),
        service_cause: None,
    }
}

/// The ARN Lambda quotes in "Function not found", with the `$LATEST` qualifier it adds.
fn qualified_arn(function_name: &str) -> String {
    let arn = if function_name.starts_with("arn:") {
        function_name.to_string()
    } else {
        format!("arn:aws:lambda:us-east-1:111111111111:function:{function_name}")
    };
    if arn.split(':').count() >= 8 {
        arn
    } else {
        format!("{arn}:$LATEST")
    }
}

#[async_trait]
impl LambdaInvoker for HttpInvoker {
    async fn invoke(&self, function_name: &str, payload: Value) -> Result<Value, FunctionError> {
        Ok(self
            .invoke_logged(function_name, payload, false)
            .await?
            .payload)
    }

    async fn invoke_logged(
        &self,
        function_name: &str,
        payload: Value,
        tail: bool,
    ) -> Result<Invocation, FunctionError> {
        let this = HttpInvoker {
            endpoint: self.endpoint.clone(),
            agent: self.agent.clone(),
            in_flight: self.in_flight.clone(),
        };
        let _permit = self.in_flight.acquire().await;
        let name = function_name.to_string();
        // Blocking I/O off the runtime also keeps a paused (virtual) clock from jumping ahead meanwhile.
        tokio::task::spawn_blocking(move || this.call(&name, &payload, tail))
            .await
            .unwrap_or_else(|e| {
                Err(FunctionError::unhandled(
                    "Lambda.SdkClientException",
                    e.to_string(),
                ))
            })
    }
}

/// Adds a simulated latency, on the executor's clock, before delegating: for makespan studies.
pub struct LatencyInvoker {
    pub inner: Arc<dyn LambdaInvoker>,
    pub clock: Arc<dyn Clock>,
    pub latency: Box<dyn Fn(&str) -> Duration + Send + Sync>,
}

#[async_trait]
impl LambdaInvoker for LatencyInvoker {
    async fn invoke(&self, function_name: &str, payload: Value) -> Result<Value, FunctionError> {
        self.clock.sleep((self.latency)(function_name)).await;
        self.inner.invoke(function_name, payload).await
    }

    async fn invoke_logged(
        &self,
        function_name: &str,
        payload: Value,
        tail: bool,
    ) -> Result<Invocation, FunctionError> {
        self.clock.sleep((self.latency)(function_name)).await;
        self.inner.invoke_logged(function_name, payload, tail).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    /// Serves `count` requests on loopback: `missing` answers 404, `broken` a function error, others echo.
    fn serve(count: usize) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(count).flatten() {
                let mut reader = BufReader::new(stream);
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length];
                let _ = reader.read_exact(&mut body);
                let (status, extra, reply) = if request_line.contains("/missing/") {
                    (
                        "404 Not Found",
                        "x-amzn-ErrorType: ResourceNotFoundException\r\n",
                        r#"{"Type":"User","message":"nope"}"#.to_string(),
                    )
                } else if request_line.contains("/broken/") {
                    (
                        "200 OK",
                        "X-Amz-Function-Error: Unhandled\r\n",
                        r#"{"errorMessage":"bad","errorType":"ValueError"}"#.to_string(),
                    )
                } else {
                    ("200 OK", "", String::from_utf8_lossy(&body).into_owned())
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                );
                let _ = reader.get_mut().write_all(response.as_bytes());
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test(start_paused = true)]
    async fn http_invoker_maps_results_and_errors() {
        let invoker = HttpInvoker::new(serve(3));
        let ok = invoker.invoke("echo", serde_json::json!({"a": 1})).await;
        assert_eq!(ok, Ok(serde_json::json!({"a": 1})));
        let err = invoker.invoke("broken", serde_json::json!({})).await.err();
        assert_eq!(
            err.as_ref().map(|e| e.error_type.as_str()),
            Some("ValueError")
        );
        assert_eq!(
            err.and_then(|e| e.raw_body)
                .map(|b| b["errorMessage"].clone()),
            Some(serde_json::json!("bad"))
        );
        let missing = invoker.invoke("missing", serde_json::json!({})).await.err();
        assert_eq!(
            missing.as_ref().map(|e| e.error_type.as_str()),
            Some("Lambda.ResourceNotFoundException")
        );
        let cause = missing.and_then(|e| e.service_cause).unwrap_or_default();
        assert!(cause.starts_with("Function not found: arn:aws:lambda:us-east-1:111111111111:function:missing:$LATEST (Service: AWSLambda; Status Code: 404"), "{cause}");
    }

    #[test]
    fn not_found_arn_gets_latest_qualifier() {
        assert_eq!(
            qualified_arn("f"),
            "arn:aws:lambda:us-east-1:111111111111:function:f:$LATEST"
        );
        assert_eq!(
            qualified_arn("arn:aws:lambda:us-east-1:1:function:f:v1"),
            "arn:aws:lambda:us-east-1:1:function:f:v1"
        );
    }
}
