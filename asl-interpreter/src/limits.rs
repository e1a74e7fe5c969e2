//! AWS's quotas for an execution: the payload size and nesting of every input, result and output,
//! the events in its history and how long it may run.

use serde_json::Value;

use crate::error::{ErrorName, StatesError};

/// Step Functions' payload limit for inputs, outputs and results.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// The deepest nesting of arrays and objects a state's result may have. A loop through a Parallel
/// or Map state nests its output one level deeper each time round; past this depth the JSON is no
/// longer what a JSON parser (AWS's caps nesting at 1000) reads.
pub const MAX_DEPTH: usize = 1000;

/// A Standard workflow's longest run: one year, after which it ends with States.Timeout.
pub const MAX_EXECUTION_SECONDS: u64 = 365 * 24 * 3600;

/// The quotas an execution runs under; [`Limits::default`] is AWS's for a Standard workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Events in the execution's history, its last included; the event that reaches the quota
    /// fails the execution with `States.Runtime`, as AWS fails it (AWS: 25,000).
    pub history_events: usize,
    /// The longest an execution runs when its definition sets no shorter `TimeoutSeconds`; it then
    /// ends TIMED_OUT (AWS: one year).
    pub execution_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            history_events: crate::history::MAX_EVENTS,
            execution_seconds: MAX_EXECUTION_SECONDS,
        }
    }
}

/// Checks a state's result or output against the payload limits: its nesting depth, then its size.
pub(crate) fn check_payload(value: &Value, state: &str) -> Result<(), StatesError> {
    if depth(value) > MAX_DEPTH {
        return Err(StatesError::named(
            ErrorName::Runtime,
            format!(
                "The state/task '{state}' returned a result nested deeper than {MAX_DEPTH} levels."
            ),
        ));
    }
    if value.to_string().len() > MAX_PAYLOAD_BYTES {
        return Err(StatesError::named(
            ErrorName::DataLimitExceeded,
            format!("The state/task '{state}' returned a result with a size exceeding the maximum number of bytes service limit."),
        ));
    }
    Ok(())
}

/// How deeply arrays and objects nest in `value`, measured without recursion.
fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(value, 0usize)];
    while let Some((v, level)) = pending.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        deepest = deepest.max(level + 1);
        pending.extend(children.map(|c| (c, level + 1)));
    }
    deepest
}
