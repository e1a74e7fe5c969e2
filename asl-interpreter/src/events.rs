//! The events of an execution's history, typed as Step Functions types them: each event type with
//! the details GetExecutionHistory gives it (its `…EventDetails` shape), inputs, outputs and
//! parameters held as JSON values. A host that serves the history writes them in AWS's wire form.

use std::borrow::Cow;

use serde_json::Value;

use crate::definition::StateType;
use crate::error::StatesError;
use crate::resource::{integration, Integration};

/// One history event's type, with its details.
#[derive(Debug, Clone, PartialEq)]
pub enum EventDetails {
    ExecutionStarted(ExecutionStartedEventDetails),
    ExecutionSucceeded(OutputEventDetails),
    ExecutionFailed(ErrorEventDetails),
    ExecutionTimedOut(ErrorEventDetails),
    /// Stopped from outside (StopExecution); the stop's error and cause are the host's.
    ExecutionAborted,
    /// `PassStateEntered`, `TaskStateEntered`, … by the state's type.
    StateEntered(StateType, StateEnteredEventDetails),
    /// `PassStateExited`, `TaskStateExited`, … by the state's type.
    StateExited(StateType, StateExitedEventDetails),
    MapStateStarted(MapStateStartedEventDetails),
    MapStateSucceeded,
    MapStateFailed,
    MapIterationStarted(MapIterationEventDetails),
    MapIterationSucceeded(MapIterationEventDetails),
    MapIterationFailed(MapIterationEventDetails),
    ParallelStateStarted,
    ParallelStateSucceeded,
    ParallelStateFailed,
    TaskScheduled(TaskScheduledEventDetails),
    TaskStarted(TaskStartedEventDetails),
    /// A callback task's call answered; the task now waits for its token.
    TaskSubmitted(TaskSucceededEventDetails),
    TaskSucceeded(TaskSucceededEventDetails),
    TaskFailed(TaskFailedEventDetails),
    TaskTimedOut(TaskFailedEventDetails),
    LambdaFunctionScheduled(LambdaFunctionScheduledEventDetails),
    LambdaFunctionStarted,
    LambdaFunctionSucceeded(OutputEventDetails),
    LambdaFunctionFailed(ErrorEventDetails),
    LambdaFunctionTimedOut(ErrorEventDetails),
    ActivityScheduled(ActivityScheduledEventDetails),
    ActivityStarted(ActivityStartedEventDetails),
    ActivitySucceeded(OutputEventDetails),
    ActivityFailed(ErrorEventDetails),
    ActivityTimedOut(ErrorEventDetails),
    /// The activity could not be scheduled (no worker can take it).
    ActivityScheduleFailed(ErrorEventDetails),
}

/// ExecutionStartedEventDetails: the execution's input (the role is the host's).
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionStartedEventDetails {
    pub input: Value,
}

/// An output: ExecutionSucceededEventDetails, LambdaFunctionSucceededEventDetails and
/// ActivitySucceededEventDetails.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputEventDetails {
    pub output: Value,
}

/// An error and its cause: ExecutionFailedEventDetails, ExecutionTimedOutEventDetails and the
/// `…FailedEventDetails`, `…TimedOutEventDetails` and ActivityScheduleFailedEventDetails of
/// Lambda functions and activities.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorEventDetails {
    pub error: Option<String>,
    pub cause: Option<String>,
}

impl From<&StatesError> for ErrorEventDetails {
    fn from(err: &StatesError) -> Self {
        ErrorEventDetails {
            error: Some(err.error.clone()),
            cause: err.cause.clone(),
        }
    }
}

/// StateEnteredEventDetails.
#[derive(Debug, Clone, PartialEq)]
pub struct StateEnteredEventDetails {
    pub name: String,
    pub input: Value,
}

/// StateExitedEventDetails.
#[derive(Debug, Clone, PartialEq)]
pub struct StateExitedEventDetails {
    pub name: String,
    pub output: Value,
}

/// MapStateStartedEventDetails: how many iterations the Map runs.
#[derive(Debug, Clone, PartialEq)]
pub struct MapStateStartedEventDetails {
    pub length: usize,
}

/// MapIterationEventDetails: the Map state's name and the iteration's index.
#[derive(Debug, Clone, PartialEq)]
pub struct MapIterationEventDetails {
    pub name: String,
    pub index: usize,
}

/// TaskScheduledEventDetails: the integration (`lambda` and `invoke` for
/// `arn:aws:states:::lambda:invoke`), its region, the parameters and the limits it runs under.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskScheduledEventDetails {
    pub resource_type: String,
    pub resource: String,
    pub region: String,
    pub parameters: Value,
    pub timeout_in_seconds: Option<u64>,
    pub heartbeat_in_seconds: Option<u64>,
}

/// TaskStartedEventDetails.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskStartedEventDetails {
    pub resource_type: String,
    pub resource: String,
}

/// TaskSucceededEventDetails, and TaskSubmittedEventDetails of the same shape.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSucceededEventDetails {
    pub resource_type: String,
    pub resource: String,
    pub output: Value,
}

/// TaskFailedEventDetails, and TaskTimedOutEventDetails of the same shape.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskFailedEventDetails {
    pub resource_type: String,
    pub resource: String,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// LambdaFunctionScheduledEventDetails: the function's ARN, its input and its timeout.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaFunctionScheduledEventDetails {
    pub resource: String,
    pub input: Value,
    pub timeout_in_seconds: Option<u64>,
}

/// ActivityScheduledEventDetails: the activity's ARN, the task's input and its limits.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityScheduledEventDetails {
    pub resource: String,
    pub input: Value,
    pub timeout_in_seconds: Option<u64>,
    pub heartbeat_in_seconds: Option<u64>,
}

/// ActivityStartedEventDetails: the worker that took the task, when it gave its name.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityStartedEventDetails {
    pub worker_name: Option<String>,
}

impl EventDetails {
    /// The event's type as AWS names it: `ExecutionStarted`, `TaskStateEntered`, ….
    pub fn event_type(&self) -> Cow<'static, str> {
        use EventDetails as E;
        let name = match self {
            E::StateEntered(kind, _) => {
                return format!("{}StateEntered", state_prefix(*kind)).into()
            }
            E::StateExited(kind, _) => return format!("{}StateExited", state_prefix(*kind)).into(),
            E::ExecutionStarted(_) => "ExecutionStarted",
            E::ExecutionSucceeded(_) => "ExecutionSucceeded",
            E::ExecutionFailed(_) => "ExecutionFailed",
            E::ExecutionTimedOut(_) => "ExecutionTimedOut",
            E::ExecutionAborted => "ExecutionAborted",
            E::MapStateStarted(_) => "MapStateStarted",
            E::MapStateSucceeded => "MapStateSucceeded",
            E::MapStateFailed => "MapStateFailed",
            E::MapIterationStarted(_) => "MapIterationStarted",
            E::MapIterationSucceeded(_) => "MapIterationSucceeded",
            E::MapIterationFailed(_) => "MapIterationFailed",
            E::ParallelStateStarted => "ParallelStateStarted",
            E::ParallelStateSucceeded => "ParallelStateSucceeded",
            E::ParallelStateFailed => "ParallelStateFailed",
            E::TaskScheduled(_) => "TaskScheduled",
            E::TaskStarted(_) => "TaskStarted",
            E::TaskSubmitted(_) => "TaskSubmitted",
            E::TaskSucceeded(_) => "TaskSucceeded",
            E::TaskFailed(_) => "TaskFailed",
            E::TaskTimedOut(_) => "TaskTimedOut",
            E::LambdaFunctionScheduled(_) => "LambdaFunctionScheduled",
            E::LambdaFunctionStarted => "LambdaFunctionStarted",
            E::LambdaFunctionSucceeded(_) => "LambdaFunctionSucceeded",
            E::LambdaFunctionFailed(_) => "LambdaFunctionFailed",
            E::LambdaFunctionTimedOut(_) => "LambdaFunctionTimedOut",
            E::ActivityScheduled(_) => "ActivityScheduled",
            E::ActivityStarted(_) => "ActivityStarted",
            E::ActivitySucceeded(_) => "ActivitySucceeded",
            E::ActivityFailed(_) => "ActivityFailed",
            E::ActivityTimedOut(_) => "ActivityTimedOut",
            E::ActivityScheduleFailed(_) => "ActivityScheduleFailed",
        };
        Cow::Borrowed(name)
    }
}

/// The prefix of a state's events: `Task` for `TaskStateEntered`, and so on.
fn state_prefix(kind: StateType) -> &'static str {
    match kind {
        StateType::Pass => "Pass",
        StateType::Task => "Task",
        StateType::Choice => "Choice",
        StateType::Wait => "Wait",
        StateType::Succeed => "Succeed",
        StateType::Fail => "Fail",
        StateType::Parallel => "Parallel",
        StateType::Map => "Map",
    }
}

/// The events of one call a Task makes: `LambdaFunction…` for a Lambda function its resource names
/// directly, `Task…` for a service integration (`lambda:invoke` included), which names the
/// integration by its service and action.
pub(crate) enum TaskEvents {
    Lambda { arn: String },
    Integration { service: String, action: String },
}

impl TaskEvents {
    /// The events of a task whose resource is `resource` (as the definition gives it).
    pub fn of(resource: &str) -> TaskEvents {
        if let Some(Integration::Direct(arn)) = integration(resource) {
            return TaskEvents::Lambda { arn };
        }
        // `arn:aws:states:::lambda:invoke.waitForTaskToken`: `lambda`, `invoke.waitForTaskToken`.
        let parts: Vec<&str> = resource.split(':').collect();
        let (service, action) = match parts.get(5..) {
            Some([service, rest @ ..]) if !rest.is_empty() => ((*service).into(), rest.join(":")),
            _ => (String::new(), resource.into()),
        };
        TaskEvents::Integration { service, action }
    }

    /// Scheduled, with the parameters and, where the state sets them, its limits.
    pub fn scheduled(
        &self,
        parameters: Value,
        region: &str,
        timeout: Option<u64>,
        heartbeat: Option<u64>,
    ) -> EventDetails {
        match self {
            TaskEvents::Lambda { arn } => {
                EventDetails::LambdaFunctionScheduled(LambdaFunctionScheduledEventDetails {
                    resource: arn.clone(),
                    input: parameters,
                    timeout_in_seconds: timeout,
                })
            }
            TaskEvents::Integration { service, action } => {
                EventDetails::TaskScheduled(TaskScheduledEventDetails {
                    resource_type: service.clone(),
                    resource: action.clone(),
                    region: region.to_owned(),
                    parameters,
                    timeout_in_seconds: timeout,
                    heartbeat_in_seconds: heartbeat,
                })
            }
        }
    }

    pub fn started(&self) -> EventDetails {
        match self {
            TaskEvents::Lambda { .. } => EventDetails::LambdaFunctionStarted,
            TaskEvents::Integration { service, action } => {
                EventDetails::TaskStarted(TaskStartedEventDetails {
                    resource_type: service.clone(),
                    resource: action.clone(),
                })
            }
        }
    }

    /// Succeeded with `output`; for a callback's call, submitted (TaskSubmitted).
    pub fn succeeded(&self, output: Value, submitted: bool) -> EventDetails {
        match self {
            TaskEvents::Lambda { .. } => {
                EventDetails::LambdaFunctionSucceeded(OutputEventDetails { output })
            }
            TaskEvents::Integration { service, action } => {
                let details = TaskSucceededEventDetails {
                    resource_type: service.clone(),
                    resource: action.clone(),
                    output,
                };
                if submitted {
                    EventDetails::TaskSubmitted(details)
                } else {
                    EventDetails::TaskSucceeded(details)
                }
            }
        }
    }

    /// Failed with `err`, or timed out (States.Timeout, States.HeartbeatTimeout).
    pub fn failed(&self, err: &StatesError, timed_out: bool) -> EventDetails {
        match self {
            TaskEvents::Lambda { .. } if timed_out => {
                EventDetails::LambdaFunctionTimedOut(err.into())
            }
            TaskEvents::Lambda { .. } => EventDetails::LambdaFunctionFailed(err.into()),
            TaskEvents::Integration { service, action } => {
                let details = TaskFailedEventDetails {
                    resource_type: service.clone(),
                    resource: action.clone(),
                    error: Some(err.error.clone()),
                    cause: err.cause.clone(),
                };
                if timed_out {
                    EventDetails::TaskTimedOut(details)
                } else {
                    EventDetails::TaskFailed(details)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_task_names_its_events_by_its_resource() {
        let lambda = TaskEvents::of("arn:aws:lambda:us-east-1:1:function:f");
        assert_eq!(lambda.started().event_type(), "LambdaFunctionStarted");
        let scheduled = lambda.scheduled(json!({"a": 1}), "us-east-1", Some(5), Some(2));
        let EventDetails::LambdaFunctionScheduled(d) = scheduled else {
            panic!("{scheduled:?}")
        };
        assert_eq!(
            (d.resource.as_str(), d.timeout_in_seconds),
            ("arn:aws:lambda:us-east-1:1:function:f", Some(5))
        );

        let callback = TaskEvents::of("arn:aws:states:::lambda:invoke.waitForTaskToken");
        let submitted = callback.succeeded(json!(1), true);
        let EventDetails::TaskSubmitted(d) = submitted else {
            panic!("{submitted:?}")
        };
        assert_eq!(
            (d.resource_type.as_str(), d.resource.as_str()),
            ("lambda", "invoke.waitForTaskToken")
        );
        let timeout = StatesError::named(crate::error::ErrorName::Timeout, "");
        assert_eq!(callback.failed(&timeout, true).event_type(), "TaskTimedOut");

        let sqs = TaskEvents::of("arn:aws:states:::sqs:sendMessage");
        let scheduled = sqs.scheduled(json!({}), "eu-west-1", None, None);
        let EventDetails::TaskScheduled(d) = scheduled else {
            panic!("{scheduled:?}")
        };
        assert_eq!(
            (
                d.resource_type.as_str(),
                d.resource.as_str(),
                d.region.as_str()
            ),
            ("sqs", "sendMessage", "eu-west-1")
        );
    }

    #[test]
    fn state_events_are_named_for_the_states_type() {
        let entered = EventDetails::StateEntered(
            StateType::Choice,
            StateEnteredEventDetails {
                name: "C".into(),
                input: json!({}),
            },
        );
        assert_eq!(entered.event_type(), "ChoiceStateEntered");
    }
}
