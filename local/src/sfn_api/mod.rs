//! The Step Functions API (AWS JSON 1.0, `X-Amz-Target: AWSStepFunctions.<Operation>`) on
//! `sfn-local serve`'s port, beside the app's routes: state machines and executions kept in
//! memory, executions run in the background by the interpreter on the real clock (its waits
//! scaled by `WAIT_TIME_SCALE`) or each on a virtual clock of its own.

pub mod activities;
pub mod aliases;
pub mod configuration;
pub mod constraints;
pub mod error;
pub mod events;
pub mod executions;
pub mod machines;
pub mod mocks;
pub mod names;
pub mod pages;
pub mod status;
pub mod tags;
pub mod test_state;
pub mod tokens;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use activities::Activities;
use asl_interpreter::clock::{Clock, RealClock, ScaledClock};
use asl_interpreter::executor::Executor;
use asl_interpreter::invoker::{FunctionError, HttpInvoker, LambdaInvoker};
use error::{ApiError, Code};
use executions::{Executions, Start};
use machines::{Kind, Machine, Machines};
use mocks::{ExecutionInvoker, MockConfig};
use status::StatusListener;
use tags::TagStore;
use tokens::Tokens;

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const TARGET_PREFIX: &str = "AWSStepFunctions.";
/// The largest request body read: a definition at its limit, escaped, fits.
const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;
/// How much of a larger body is read (and dropped) to answer it rather than reset the connection.
const MAX_DRAINED_BYTES: usize = 64 * 1024 * 1024;
/// How long, in real time, an execution on a virtual clock waits for an answer from outside (a
/// worker taking an activity task, a task token returned, a heartbeat) before its clock moves on
/// to the task's deadline.
pub const CALLBACK_PATIENCE: std::time::Duration = std::time::Duration::from_millis(250);

/// What the API is started with.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Where Lambda functions are invoked (a Lambda Invoke API endpoint); without one, tasks
    /// fail as they do when Lambda cannot be reached.
    pub lambda_endpoint: Option<String>,
    /// A MockConfigFile (else the file `SFN_MOCK_CONFIG` names, if set) for executions started
    /// on `STATE_MACHINE_ARN#TestCase`.
    pub mock_config: Option<PathBuf>,
    /// Runs each execution on a virtual clock of its own instead of the real one.
    pub virtual_clock: bool,
    /// Scales the real clock's waits (Wait states, retry intervals) as Step Functions Local's
    /// `WAIT_TIME_SCALE` does: 0 does not wait, 0.5 waits half as long. None: full waits.
    pub wait_time_scale: Option<ScaledClock>,
    /// The account of the ARNs (else the one `AWS_ACCOUNT_ID` names, else 123456789012).
    pub account: Option<String>,
}

pub struct Api {
    machines: Machines,
    executions: Executions,
    clock: Arc<dyn Clock>,
    invoker: Arc<dyn LambdaInvoker>,
    mocks: MockConfig,
    tokens: Arc<Tokens>,
    activities: Arc<Activities>,
    tags: Arc<TagStore>,
}

/// Stands in for a Lambda service that cannot be reached.
struct Unreachable;

#[async_trait]
impl LambdaInvoker for Unreachable {
    async fn invoke(&self, function_name: &str, _payload: Value) -> Result<Value, FunctionError> {
        let message = format!(
            "Unable to execute HTTP request: no Lambda endpoint is configured for {function_name}"
        );
        Err(FunctionError {
            error_type: "Lambda.SdkClientException".into(),
            error_message: message.clone(),
            raw_body: None,
            service_cause: Some(message),
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartRequest {
    state_machine_arn: String,
    name: Option<String>,
    input: Option<String>,
}

impl Api {
    pub fn new(options: Options) -> Result<Api, String> {
        let clock: Arc<dyn Clock> = match options.wait_time_scale {
            Some(scaled) => Arc::new(scaled),
            None => Arc::new(RealClock),
        };
        let tokens = if options.virtual_clock {
            Tokens::with_patience(CALLBACK_PATIENCE)
        } else {
            Tokens::default()
        };
        let invoker: Arc<dyn LambdaInvoker> = match options.lambda_endpoint {
            Some(url) => Arc::new(HttpInvoker::new(url)),
            None => Arc::new(Unreachable),
        };
        let account = options
            .account
            .or_else(|| std::env::var("AWS_ACCOUNT_ID").ok())
            .unwrap_or_else(|| names::ACCOUNT.to_owned());
        let mock_file = options
            .mock_config
            .or_else(|| std::env::var_os("SFN_MOCK_CONFIG").map(PathBuf::from));
        let mocks = match mock_file {
            Some(path) => MockConfig::load(&path)?,
            None => MockConfig::default(),
        };
        let tags = Arc::new(TagStore::default());
        Ok(Api {
            activities: Arc::new(Activities::new(account.clone(), tags.clone())),
            machines: Machines::new(account, tags.clone()),
            tags,
            executions: Executions::new(clock.clone(), options.virtual_clock),
            clock,
            invoker,
            mocks,
            tokens: Arc::new(tokens),
        })
    }

    /// Lambda as `wrap` makes it of the Lambda the options named (`--lambda-endpoint`'s, or an
    /// unreachable one): what every execution's Lambda tasks then call.
    pub fn with_lambda(
        mut self,
        wrap: impl FnOnce(Arc<dyn LambdaInvoker>) -> Arc<dyn LambdaInvoker>,
    ) -> Api {
        self.invoker = wrap(self.invoker);
        self
    }

    /// Tells `listener` of the Standard executions' status changes, as Step Functions sends
    /// them to EventBridge.
    pub fn with_status_listener(mut self, listener: Arc<dyn StatusListener>) -> Api {
        self.executions = self.executions.with_listener(listener);
        self
    }

    /// The invoker of one execution: the test case's mocks, if it names one, then Lambda.
    fn invoker_for(
        &self,
        machine: &Machine,
        case: Option<String>,
    ) -> Result<Arc<dyn LambdaInvoker>, ApiError> {
        let case = match case {
            Some(case) => Some(self.mocks.case(&machine.name, &case)?),
            None => None,
        };
        Ok(Arc::new(ExecutionInvoker::new(
            self.invoker.clone(),
            case,
            self.tokens.clone(),
            self.activities.clone(),
        )))
    }

    /// Answers requests carrying `X-Amz-Target` on any path of `router`; others go to its routes.
    pub fn attach(self: Arc<Self>, router: Router) -> Router {
        Router::new()
            .fallback_service(router)
            .layer(axum::middleware::from_fn_with_state(self, intercept))
    }

    /// Runs one operation on its JSON request, once its members satisfy the model's constraints.
    pub async fn operate(&self, operation: &str, body: Value) -> Result<Value, ApiError> {
        constraints::check(operation, &body)?;
        match operation {
            "CreateStateMachine" => self.machines.create(typed(body)?),
            "UpdateStateMachine" => self.machines.update(typed(body)?),
            "DescribeStateMachine" => self.machines.describe(typed(body)?),
            "ListStateMachines" => self.machines.list(typed(body)?),
            "DeleteStateMachine" => self.machines.delete(typed(body)?),
            "ValidateStateMachineDefinition" => machines::validate(typed(body)?),
            "PublishStateMachineVersion" => self.machines.publish(typed(body)?),
            "ListStateMachineVersions" => self.machines.list_versions(typed(body)?),
            "DeleteStateMachineVersion" => self.machines.delete_version(typed(body)?),
            "CreateStateMachineAlias" => self.machines.create_alias(typed(body)?),
            "DescribeStateMachineAlias" => self.machines.describe_alias(typed(body)?),
            "UpdateStateMachineAlias" => self.machines.update_alias(typed(body)?),
            "DeleteStateMachineAlias" => self.machines.delete_alias(typed(body)?),
            "ListStateMachineAliases" => self.machines.list_aliases(typed(body)?),
            "StartExecution" => self.start(typed(body)?),
            "StartSyncExecution" => self.start_sync(typed(body)?).await,
            "DescribeExecution" => self.executions.describe(typed(body)?),
            "StopExecution" => self.executions.stop(typed(body)?).await,
            "ListExecutions" => self.list_executions(typed(body)?),
            "GetExecutionHistory" => self.executions.history(typed(body)?),
            "DescribeStateMachineForExecution" => self.executions.machine_for(typed(body)?),
            "SendTaskSuccess" => self.tokens.succeed(typed(body)?),
            "SendTaskFailure" => self.tokens.fail(typed(body)?),
            "SendTaskHeartbeat" => self.tokens.heartbeat(typed(body)?),
            "CreateActivity" => self.activities.create(typed(body)?),
            "DescribeActivity" => self.activities.describe(typed(body)?),
            "ListActivities" => self.activities.list(typed(body)?),
            "DeleteActivity" => Ok(self.activities.delete(typed(body)?)),
            "GetActivityTask" => self.activities.take(typed(body)?).await,
            "TestState" => self.test_state(typed(body)?).await,
            "TagResource" => {
                let request: tags::TagRequest = typed(body)?;
                self.check_tagged(&request.resource_arn)?;
                self.tags.tag(&request.resource_arn, request.tags)
            }
            "UntagResource" => {
                let request: tags::UntagRequest = typed(body)?;
                self.check_tagged(&request.resource_arn)?;
                Ok(self.tags.untag(&request.resource_arn, &request.tag_keys))
            }
            "ListTagsForResource" => {
                let request: tags::ListTagsRequest = typed(body)?;
                self.check_tagged(&request.resource_arn)?;
                Ok(self.tags.list(&request.resource_arn))
            }
            _ => Err(unknown_operation(operation)),
        }
    }

    /// The resource a tagging request names exists: a state machine or an activity.
    fn check_tagged(&self, arn: &str) -> Result<(), ApiError> {
        if arn.split(':').nth(5) == Some("activity") {
            self.activities.check_tagged(arn)
        } else {
            self.machines.check_tagged(arn)
        }
    }

    fn start(&self, request: StartRequest) -> Result<Value, ApiError> {
        let (machine, case) = self.machines.get(&request.state_machine_arn)?;
        let invoker = self.invoker_for(&machine, case)?;
        let start = Start::check(request.name, request.input)?;
        self.executions.start(machine, start, invoker)
    }

    async fn start_sync(&self, request: StartRequest) -> Result<Value, ApiError> {
        let (machine, case) = self.machines.get(&request.state_machine_arn)?;
        if machine.kind != Kind::Express {
            return Err(ApiError::new(
                Code::StateMachineTypeNotSupported,
                "This operation is not supported by this type of state machine",
            ));
        }
        let invoker = self.invoker_for(&machine, case)?;
        let start = Start::check(request.name, request.input)?;
        let arn = names::execution_arn(&machine.arn, &start.name, true);
        let executor = Executor::new(machine.definition.clone(), invoker, self.clock.clone())
            .with_state_machine_arn(machine.arn.clone());
        let result = executor
            .execute_named(&start.name, start.input, Box::pin(std::future::pending()))
            .await;
        Ok(executions::sync_answer(
            &machine,
            &arn,
            &start.name,
            &start.text,
            &result,
        ))
    }

    async fn test_state(&self, request: test_state::TestStateRequest) -> Result<Value, ApiError> {
        let invoker = Arc::new(ExecutionInvoker::new(
            self.invoker.clone(),
            None,
            self.tokens.clone(),
            self.activities.clone(),
        ));
        test_state::test_state(request, invoker).await
    }

    fn list_executions(&self, request: executions::ListRequest) -> Result<Value, ApiError> {
        let Some(arn) = request.state_machine_arn.clone() else {
            return Err(ApiError::new(
                Code::ValidationException,
                "Must provide a StateMachine ARN or MapRun ARN",
            ));
        };
        let (machine, _) = self.machines.get(&arn)?;
        self.executions.list(&machine, request)
    }
}

fn unknown_operation(operation: &str) -> ApiError {
    ApiError::new(
        Code::UnknownOperationException,
        format!("Operation {operation} is not supported."),
    )
}

/// The request's parameters as the operation's shape: a missing required member is AWS's
/// validation error, a member of the wrong type a SerializationException.
fn typed<T: DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| {
        let text = e.to_string();
        match text
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            Some(field) => ApiError::new(
                Code::ValidationException,
                format!(
                    "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
                ),
            ),
            None => ApiError::new(Code::SerializationException, text),
        }
    })
}

async fn intercept(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    let Some(target) = request.headers().get("x-amz-target").cloned() else {
        return next.run(request).await;
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let answer = answer(&api, &target, request).await;
    let mut response = match answer {
        Ok(value) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], value.to_string()).into_response(),
        Err(e) => e.into_response(),
    };
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-requestid", id);
    }
    response
}

/// The request's body, up to [`MAX_REQUEST_BYTES`]; a larger one is read to its end (up to
/// [`MAX_DRAINED_BYTES`]) so the client, still sending, gets the refusal.
async fn read_body(mut body: Body) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::new(Code::SerializationException, e.to_string()))?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        seen += data.len();
        if seen <= MAX_REQUEST_BYTES {
            bytes.extend_from_slice(data);
        }
        if seen > MAX_DRAINED_BYTES {
            break;
        }
    }
    if seen > MAX_REQUEST_BYTES {
        return Err(ApiError::new(
            Code::ValidationException,
            format!("The request is larger than {MAX_REQUEST_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

async fn answer(api: &Api, target: &HeaderValue, request: Request) -> Result<Value, ApiError> {
    // Read first, whatever the answer: a body left unread closes the connection under the
    // client's next request.
    let bytes = read_body(request.into_body()).await?;
    let target = target.to_str().unwrap_or_default();
    let Some(operation) = target.strip_prefix(TARGET_PREFIX) else {
        return Err(unknown_operation(target));
    };
    let body: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(Code::SerializationException, e.to_string()))?;
    if !body.is_object() {
        return Err(ApiError::new(
            Code::SerializationException,
            "The request body must be a JSON object",
        ));
    }
    api.operate(operation, body).await
}
