//! An interpreter of the Amazon States Language, the language of AWS Step Functions.
//!
//! Parse a definition once ([`Definition::parse`] validates it as Step Functions does when a
//! state machine is created), then execute it with a host that supplies the task invoker and the
//! clock ([`Executor::new`]) and, if it wants, the limits ([`Executor::with_limits`]; AWS's
//! quotas by default):
//!
//! ```
//! use std::sync::Arc;
//! use asl_interpreter::{async_trait, Definition, ExecutionStatus, Executor, FunctionError, LambdaInvoker, VirtualClock};
//! use serde_json::{json, Value};
//!
//! /// The host's functions, in process: here one that greets.
//! struct Greeter;
//!
//! #[async_trait]
//! impl LambdaInvoker for Greeter {
//!     async fn invoke(&self, function: &str, payload: Value) -> Result<Value, FunctionError> {
//!         match function.rsplit(':').next() {
//!             Some("greet") => Ok(json!(format!("hello, {}", payload["name"].as_str().unwrap_or("?")))),
//!             _ => Err(FunctionError::unhandled("ResourceNotFoundException", format!("no function {function}"))),
//!         }
//!     }
//! }
//!
//! let definition = Definition::parse(r#"{
//!     "StartAt": "Greet",
//!     "States": {
//!         "Greet": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:111111111111:function:greet", "End": true}
//!     }
//! }"#)?;
//! let executor = Executor::new(definition, Arc::new(Greeter), Arc::new(VirtualClock::default()));
//! let result = executor.execute_blocking(json!({"name": "Ada"}))?;
//! assert_eq!(result.status, ExecutionStatus::Succeeded);
//! assert_eq!(result.output, Some(json!("hello, Ada")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A definition AWS would refuse is refused at parse time, with AWS's message:
//!
//! ```
//! let refused = asl_interpreter::Definition::parse(r#"{"StartAt": "Missing", "States": {}}"#);
//! assert!(refused.is_err());
//! ```
//!
//! Task states call a [`LambdaInvoker`]: [`HttpInvoker`] speaks the Lambda Invoke API to an
//! endpoint, and a host may implement the trait to run its handlers in process.

#![forbid(unsafe_code)]

mod catch;
mod choice;
pub mod clock;
pub mod definition;
mod error;
pub mod events;
mod execution;
pub mod executor;
pub mod history;
mod intrinsics;
pub mod invoker;
mod limits;
mod paths;
mod pipeline;
mod query;
mod query_functions;
mod resource;
mod retry;
mod run;
mod states;
mod test_state;
mod validate;

pub use async_trait::async_trait;
pub use clock::{Clock, RealClock, VirtualClock};
pub use definition::{Definition, DefinitionError};
pub use error::{ErrorName, StatesError};
pub use events::EventDetails;
pub use executor::{ExecutionResult, ExecutionStatus, Executor, Limits, StopSignal};
pub use history::HistoryEvent;
pub use invoker::{FunctionError, HttpInvoker, LambdaInvoker, LatencyInvoker};
pub use test_state::{Inspection, StateTest, TestStatus};
