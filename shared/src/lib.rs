//! The start-activity domain: the rules of the workflow that turns a goal's actions into tasks,
//! the records it keeps, the ports it needs and their adapters.

pub mod api;
#[cfg(feature = "aws")]
pub mod aws;
pub mod batching;
pub mod boot;
pub mod capacity;
pub mod deadlines;
pub mod error;
pub mod examples;
pub mod history;
pub mod http_api;
pub mod memory;
pub mod metrics;
pub mod model_output;
pub mod naming;
pub mod offline;
pub mod operations;
pub mod outcome;
pub mod ports;
pub mod progress;
pub mod records;
pub mod steps;
pub mod store_traffic;
pub mod workflow;

pub use error::{DomainError, ErrorCode, ErrorKind, StoreError};
