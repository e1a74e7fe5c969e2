//! A local interpreter of the Amazon States Language (AWS Step Functions).
//!
//! Run a definition with your own Lambda handlers on the virtual clock:
//!
//! ```no_run
//! use std::sync::Arc;
//! use sfn_local::{Definition, Executor, VirtualClock, HttpInvoker};
//! let definition = Definition::parse(r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#).unwrap();
//! let executor = Executor::new(definition, Arc::new(HttpInvoker::new("http://127.0.0.1:9001")), Arc::new(VirtualClock::default()));
//! let result = executor.execute_blocking(serde_json::json!({})).unwrap();
//! println!("{}", result.summary());
//! ```

pub mod bench;
pub mod catch;
pub mod choice;
pub mod clock;
pub mod definition;
pub mod error;
pub mod executor;
pub mod history;
pub mod intrinsics;
pub mod invoker;
pub mod jsonata;
pub mod load;
pub mod offclock;
pub mod paths;
pub mod query;
pub mod retry;
pub mod run;
pub mod serve;
mod states;
mod validate;

pub use clock::{Clock, RealClock, VirtualClock};
pub use definition::{Definition, DefinitionError};
pub use error::{ErrorName, StatesError};
pub use executor::{ExecutionResult, ExecutionStatus, Executor, StopSignal};
pub use history::HistoryEvent;
pub use invoker::{FunctionError, HttpInvoker, LambdaInvoker, LatencyInvoker};
