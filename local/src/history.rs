//! The execution history: events named as AWS names them, numbered from 1 in the order they happen.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    pub id: u64,
    pub previous_event_id: u64,
    pub timestamp: DateTime<Utc>,
    /// AWS's event type, e.g. `TaskStateEntered`, `MapIterationStarted`, `ExecutionSucceeded`.
    pub event_type: String,
    pub details: Value,
}

#[derive(Debug, Default)]
pub struct History {
    events: Mutex<Vec<HistoryEvent>>,
}

impl History {
    /// Appends an event and returns its id.
    pub fn push(
        &self,
        event_type: impl Into<String>,
        timestamp: DateTime<Utc>,
        details: Value,
    ) -> u64 {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        let id = events.len() as u64 + 1;
        events.push(HistoryEvent {
            id,
            previous_event_id: id - 1,
            timestamp,
            event_type: event_type.into(),
            details,
        });
        id
    }

    pub fn events(&self) -> Vec<HistoryEvent> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The prefix of a state's events: `Task` for `TaskStateEntered`, and so on.
pub fn state_prefix(kind: crate::definition::StateType) -> &'static str {
    use crate::definition::StateType::*;
    match kind {
        Pass => "Pass",
        Task => "Task",
        Choice => "Choice",
        Wait => "Wait",
        Succeed => "Succeed",
        Fail => "Fail",
        Parallel => "Parallel",
        Map => "Map",
    }
}
