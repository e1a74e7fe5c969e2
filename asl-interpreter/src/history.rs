//! The execution history: events named as AWS names them, numbered from 1 in the order they happen.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::sync::Notify;

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use crate::events::EventDetails;

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    pub id: u64,
    pub previous_event_id: u64,
    pub timestamp: DateTime<Utc>,
    /// The event's type and its details.
    pub details: EventDetails,
}

impl HistoryEvent {
    /// AWS's event type, e.g. `TaskStateEntered`, `MapIterationStarted`, `ExecutionSucceeded`.
    pub fn event_type(&self) -> Cow<'static, str> {
        self.details.event_type()
    }
}

/// AWS's quota of events in one execution's history; the event that reaches it is the execution's
/// failure.
pub const MAX_EVENTS: usize = 25_000;

/// The cause AWS gives when an execution's history reaches its quota of `events`.
pub fn full_cause(events: usize) -> String {
    format!("The execution reached the maximum number of history events ({events}).")
}

#[derive(Debug)]
pub struct History {
    events: Mutex<Vec<HistoryEvent>>,
    /// The most events it holds, the execution's last included.
    capacity: AtomicUsize,
    /// Set when an event was refused because the history is full.
    full: AtomicBool,
    filled: Notify,
}

impl Default for History {
    fn default() -> Self {
        History {
            events: Mutex::default(),
            capacity: AtomicUsize::new(MAX_EVENTS),
            full: AtomicBool::default(),
            filled: Notify::new(),
        }
    }
}

impl History {
    /// Holds at most `events` events from now on.
    pub(crate) fn limit_to(&self, events: usize) {
        self.capacity.store(events.max(2), Ordering::SeqCst);
    }

    /// Appends an event and returns its id. The last place is kept for the execution's own end:
    /// once the history holds all other events, further ones are dropped and [`History::filled`]
    /// resolves.
    pub fn push(&self, details: EventDetails, timestamp: DateTime<Utc>) -> u64 {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if events.len() + 1 >= self.capacity.load(Ordering::SeqCst) {
            if !self.full.swap(true, Ordering::SeqCst) {
                self.filled.notify_one();
            }
            return events.len() as u64 + 1;
        }
        Self::append(&mut events, details, timestamp)
    }

    /// Appends the execution's last event (ExecutionSucceeded, ExecutionFailed, ...), which always
    /// has a place.
    pub fn push_last(&self, details: EventDetails, timestamp: DateTime<Utc>) -> u64 {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        Self::append(&mut events, details, timestamp)
    }

    /// Whether an event was refused because the history was full.
    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::SeqCst)
    }

    /// Resolves once the history is full.
    pub async fn filled(&self) {
        if !self.is_full() {
            self.filled.notified().await;
        }
    }

    fn append(
        events: &mut Vec<HistoryEvent>,
        details: EventDetails,
        timestamp: DateTime<Utc>,
    ) -> u64 {
        let id = events.len() as u64 + 1;
        events.push(HistoryEvent {
            id,
            previous_event_id: id - 1,
            timestamp,
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
