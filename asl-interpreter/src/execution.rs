//! What one execution shares across its branches, and what a branch carries from state to state.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::clock::Clock;
use crate::definition::StateMachine;
use crate::error::StatesError;
use crate::events::EventDetails;
use crate::history::History;
use crate::invoker::LambdaInvoker;
use crate::query;

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Runs a state machine (the top level, a Parallel branch, a Map iteration) from its StartAt to an
/// end, giving its output: the run loop, which the execution carries so that the states that run
/// branches reach it without depending on it.
pub(crate) type RunMachine =
    fn(Arc<Execution>, Arc<StateMachine>, Value, Frame) -> BoxFuture<Result<Value, StatesError>>;

/// What one execution shares across its branches.
pub(crate) struct Execution {
    pub invoker: Arc<dyn LambdaInvoker>,
    pub clock: Arc<dyn Clock>,
    pub history: Arc<History>,
    pub transitions: AtomicU64,
    pub expressions: Arc<query::Expressions>,
    /// `Execution` and `StateMachine` of the context object.
    pub context_base: Map<String, Value>,
    /// The region of the state machine, where its tasks are scheduled.
    pub region: String,
    pub run_machine: RunMachine,
}

impl Execution {
    /// Records an event now; its id.
    pub fn event(&self, details: EventDetails) -> u64 {
        self.history.push(details, self.clock.now())
    }

    /// Runs `machine` as a branch of this execution (a Parallel branch, a Map iteration).
    pub fn run_branch(
        self: &Arc<Self>,
        machine: Arc<StateMachine>,
        input: Value,
        frame: Frame,
    ) -> BoxFuture<Result<Value, StatesError>> {
        (self.run_machine)(self.clone(), machine, input, frame)
    }
}

/// What a branch (the top level, a Parallel branch, a Map iteration) carries from state to state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Frame {
    pub vars: Map<String, Value>,
    /// `$$.Map.Item` inside a Map iteration.
    pub map_item: Option<Value>,
}
