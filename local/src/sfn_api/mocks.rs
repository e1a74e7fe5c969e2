//! Mocked service integrations as Step Functions Local has them: a MockConfigFile
//! (`StateMachines` → `TestCases` → state → mocked response, and `MockedResponses` answering
//! by invocation), used by executions started on `STATE_MACHINE_ARN#TestCase`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use super::error::{ApiError, Code};
use asl_interpreter::clock::hold;
use asl_interpreter::invoker::{ActivityProgress, FunctionError, LambdaInvoker};

#[derive(Debug, Clone, Deserialize)]
pub struct Thrown {
    #[serde(rename = "Error")]
    error: String,
    #[serde(rename = "Cause", default)]
    cause: Option<String>,
}

/// One invocation's answer: a result, or an error with its cause.
#[derive(Debug, Clone, Deserialize)]
pub enum Answer {
    Return(Value),
    Throw(Thrown),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MachineMocks {
    test_cases: HashMap<String, HashMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct File {
    #[serde(default)]
    state_machines: HashMap<String, MachineMocks>,
    #[serde(default)]
    mocked_responses: HashMap<String, HashMap<String, Answer>>,
}

/// A mocked response: answers by invocation number, from 0, over the ranges it names ("0",
/// "1-2"); invocations past the last range get the last range's answer.
#[derive(Debug, Clone)]
pub struct Response(Vec<(usize, usize, Answer)>);

impl Response {
    fn parse(name: &str, answers: HashMap<String, Answer>) -> Result<Response, String> {
        let mut ranges = Vec::new();
        for (key, answer) in answers {
            let (from, to) = key.split_once('-').unwrap_or((&key, &key));
            match (from.trim().parse(), to.trim().parse()) {
                (Ok(from), Ok(to)) if from <= to => ranges.push((from, to, answer)),
                _ => {
                    return Err(format!(
                        "mocked response '{name}': '{key}' is not an invocation number or range"
                    ))
                }
            }
        }
        ranges.sort_by_key(|(from, _, _)| *from);
        if ranges.is_empty() {
            return Err(format!("mocked response '{name}' answers no invocation"));
        }
        Ok(Response(ranges))
    }

    fn answer(&self, invocation: usize) -> Option<&Answer> {
        self.0
            .iter()
            .find(|(from, to, _)| (*from..=*to).contains(&invocation))
            .or(self.0.last())
            .map(|(_, _, answer)| answer)
    }
}

/// A test case: the mocked response of each state it mocks.
pub type TestCase = HashMap<String, Response>;

/// A loaded MockConfigFile.
#[derive(Debug, Default)]
pub struct MockConfig {
    machines: HashMap<String, HashMap<String, Arc<TestCase>>>,
}

impl MockConfig {
    pub fn load(path: &Path) -> Result<MockConfig, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        MockConfig::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<MockConfig, String> {
        let file: File = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut responses = HashMap::new();
        for (name, answers) in file.mocked_responses {
            let response = Response::parse(&name, answers)?;
            responses.insert(name, response);
        }
        let mut machines = HashMap::new();
        for (machine, mocks) in file.state_machines {
            let mut cases = HashMap::new();
            for (case, states) in mocks.test_cases {
                let mut mocked = TestCase::new();
                for (state, response) in states {
                    let found = responses.get(&response).cloned().ok_or_else(|| {
                        format!(
                            "test case '{machine}#{case}' names no mocked response '{response}'"
                        )
                    })?;
                    mocked.insert(state, found);
                }
                cases.insert(case, Arc::new(mocked));
            }
            machines.insert(machine, cases);
        }
        Ok(MockConfig { machines })
    }

    /// The test case `case` of the state machine `machine`.
    pub fn case(&self, machine: &str, case: &str) -> Result<Arc<TestCase>, ApiError> {
        self.machines
            .get(machine)
            .and_then(|cases| cases.get(case))
            .cloned()
            .ok_or_else(|| {
                ApiError::new(
                    Code::ValidationException,
                    format!("The mock configuration has no test case '{case}' for the state machine '{machine}'"),
                )
            })
    }
}

/// Whether the interpreter calls `resource` itself (Lambda, directly or through `lambda:invoke`).
fn is_lambda(resource: &str) -> bool {
    let resource = resource.trim_end_matches(".waitForTaskToken");
    resource.starts_with("arn:aws:lambda:") && resource.contains(":function:")
        || resource.starts_with("arn:") && resource.ends_with(":states:::lambda:invoke")
}

/// What a service that cannot be reached fails a task with: `SQS.SdkClientException` for
/// `arn:aws:states:::sqs:sendMessage`.
fn unreachable(resource: &str) -> FunctionError {
    let service = resource
        .split(':')
        .nth(5)
        .filter(|s| !s.is_empty())
        .unwrap_or("States");
    let service = match service {
        "aws-sdk" => resource.split(':').nth(6).unwrap_or("States"),
        other => other,
    };
    let mut name: Vec<char> = service.chars().collect();
    if let Some(first) = name.first_mut() {
        *first = first.to_ascii_uppercase();
    }
    let message =
        format!("Unable to execute HTTP request: {resource} cannot be reached from sfn-local");
    FunctionError {
        error_type: format!(
            "{}.SdkClientException",
            name.into_iter().collect::<String>()
        ),
        error_message: message.clone(),
        raw_body: None,
        service_cause: Some(message),
    }
}

/// The invoker of one execution: the test case's mocked responses by state and invocation,
/// Lambda for the states it does not mock, and an unreachable service for the others.
pub struct ExecutionInvoker {
    lambda: Arc<dyn LambdaInvoker>,
    tokens: Arc<super::tokens::Tokens>,
    activities: Arc<super::activities::Activities>,
    case: Option<Arc<TestCase>>,
    invocations: Mutex<HashMap<String, usize>>,
    /// The task tokens issued and not yet waited on, each kept until its wait starts or its task
    /// stops waiting.
    issued: Mutex<HashMap<String, super::tokens::Expected>>,
}

impl ExecutionInvoker {
    pub fn new(
        lambda: Arc<dyn LambdaInvoker>,
        case: Option<Arc<TestCase>>,
        tokens: Arc<super::tokens::Tokens>,
        activities: Arc<super::activities::Activities>,
    ) -> Self {
        ExecutionInvoker {
            lambda,
            tokens,
            activities,
            case,
            invocations: Mutex::default(),
            issued: Mutex::default(),
        }
    }

    fn mocked(&self, state: &str) -> Option<Result<Value, FunctionError>> {
        let response = self.case.as_ref()?.get(state)?;
        let mut invocations = self.invocations.lock().unwrap_or_else(|p| p.into_inner());
        let count = invocations.entry(state.to_owned()).or_insert(0);
        let invocation = *count;
        *count += 1;
        drop(invocations);
        Some(match response.answer(invocation)? {
            Answer::Return(value) => Ok(value.clone()),
            Answer::Throw(thrown) => Err(FunctionError {
                error_type: thrown.error.clone(),
                error_message: thrown.cause.clone().unwrap_or_default(),
                raw_body: None,
                service_cause: thrown.cause.clone(),
            }),
        })
    }
}

#[async_trait]
impl LambdaInvoker for ExecutionInvoker {
    async fn invoke(&self, function_name: &str, payload: Value) -> Result<Value, FunctionError> {
        self.lambda.invoke(function_name, payload).await
    }

    async fn invoke_logged(
        &self,
        function_name: &str,
        payload: Value,
        tail: bool,
    ) -> Result<asl_interpreter::invoker::Invocation, FunctionError> {
        self.lambda
            .invoke_logged(function_name, payload, tail)
            .await
    }

    fn expect_task_token(&self, token: &str) {
        let expected = self.tokens.expect(token);
        self.issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.to_owned(), expected);
    }

    fn forget_task_token(&self, token: &str) {
        self.issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token);
    }

    async fn wait_for_task_token(
        &self,
        token: &str,
        heartbeat: Option<std::time::Duration>,
    ) -> Result<Value, FunctionError> {
        let issued = self
            .issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token);
        let expected = issued.unwrap_or_else(|| self.tokens.expect(token));
        expected.wait(heartbeat).await
    }

    async fn run_activity(
        &self,
        activity_arn: &str,
        token: &str,
        input: &Value,
        heartbeat: Option<std::time::Duration>,
        progress: &(dyn for<'w> Fn(ActivityProgress<'w>) + Send + Sync),
    ) -> Result<Value, FunctionError> {
        // Registered first, so that a worker's answer cannot come before the wait.
        let expected = self.tokens.expect(token);
        let taken = self
            .activities
            .schedule(activity_arn, token, input)
            .map_err(|e| FunctionError {
                error_type: e.code.as_str().into(),
                error_message: e.message.clone(),
                raw_body: None,
                service_cause: Some(e.message),
            })?;
        progress(ActivityProgress::Scheduled);
        // A worker already polling takes the task before a virtual clock moves on.
        let held = self.tokens.patience().map(hold);
        // The sender lives until a worker takes the task or the activity is deleted.
        let taken = taken.await;
        drop(held);
        let Ok(worker) = taken else {
            return std::future::pending().await;
        };
        progress(ActivityProgress::Started(&worker));
        expected.wait(heartbeat).await
    }

    async fn answer_task(
        &self,
        state: &str,
        resource: &str,
        _parameters: &Value,
    ) -> Option<Result<Value, FunctionError>> {
        if let Some(answer) = self.mocked(state) {
            return Some(answer);
        }
        let runs_here = is_lambda(resource) || asl_interpreter::invoker::is_activity(resource);
        (!runs_here).then(|| Err(unreachable(resource)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCUMENTED: &str = r#"{
      "StateMachines": {"LambdaSQSIntegration": {"TestCases": {
        "HappyPath": {"LambdaState": "MockedLambdaSuccess", "SQSState": "MockedSQSSuccess"},
        "RetryPath": {"LambdaState": "MockedLambdaRetry", "SQSState": "MockedSQSSuccess"},
        "HybridPath": {"LambdaState": "MockedLambdaSuccess"}}}},
      "MockedResponses": {
        "MockedLambdaSuccess": {"0": {"Return": {"StatusCode": 200, "Payload": {"StatusCode": 200, "body": "Hello from Lambda!"}}}},
        "MockedSQSSuccess": {"0": {"Return": {"MD5OfMessageBody": "3bcb6e8e", "MessageId": "3bcb6e8e-8b51"}}},
        "MockedLambdaRetry": {
          "0": {"Throw": {"Error": "Lambda.ResourceNotReadyException", "Cause": "Lambda resource is not ready."}},
          "1-2": {"Throw": {"Error": "Lambda.TimeoutException", "Cause": "Lambda timed out."}},
          "3": {"Return": {"StatusCode": 200, "Payload": {"StatusCode": 200, "body": "Hello from Lambda!"}}}}}
    }"#;

    #[test]
    fn responses_answer_by_invocation_and_range() {
        let config = MockConfig::parse(DOCUMENTED).expect("the documented example loads");
        let case = config
            .case("LambdaSQSIntegration", "RetryPath")
            .expect("a test case");
        let activities = Arc::new(crate::sfn_api::activities::Activities::new(
            "1".into(),
            Arc::default(),
        ));
        let invoker =
            ExecutionInvoker::new(Arc::new(Unreached), Some(case), Arc::default(), activities);
        let errors: Vec<String> = (0..5)
            .map(|_| match invoker.mocked("LambdaState") {
                Some(Err(e)) => e.error_type,
                Some(Ok(v)) => v["Payload"]["body"].to_string(),
                None => "none".into(),
            })
            .collect();
        assert_eq!(
            errors,
            [
                "Lambda.ResourceNotReadyException",
                "Lambda.TimeoutException",
                "Lambda.TimeoutException",
                "\"Hello from Lambda!\"",
                "\"Hello from Lambda!\"",
            ]
        );
        assert!(invoker.mocked("Other").is_none());
        assert!(config.case("LambdaSQSIntegration", "Missing").is_err());
    }

    #[test]
    fn a_test_case_naming_no_response_is_refused() {
        let bad = r#"{"StateMachines": {"M": {"TestCases": {"T": {"S": "Nope"}}}}, "MockedResponses": {}}"#;
        assert!(MockConfig::parse(bad).is_err_and(|e| e.contains("Nope")));
        let range = r#"{"MockedResponses": {"R": {"2-1": {"Return": 1}}}}"#;
        assert!(MockConfig::parse(range).is_err());
    }

    #[test]
    fn services_not_mocked_are_unreachable() {
        let e = unreachable("arn:aws:states:::sqs:sendMessage");
        assert_eq!(e.error_type, "Sqs.SdkClientException");
        let e = unreachable("arn:aws:states:::aws-sdk:dynamodb:getItem");
        assert_eq!(e.error_type, "Dynamodb.SdkClientException");
    }

    struct Unreached;

    #[async_trait]
    impl LambdaInvoker for Unreached {
        async fn invoke(&self, name: &str, _: Value) -> Result<Value, FunctionError> {
            Err(FunctionError::unhandled("Unreached", name))
        }
    }
}
