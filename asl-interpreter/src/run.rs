//! The run loop: a state machine's states one after another, each entered with its context object
//! and run under its Retry and Catch.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::catch;
use crate::clock::iso;
use crate::definition::{State, StateMachine, StateType};
use crate::error::{ErrorName, StatesError};
use crate::events::{EventDetails, StateEnteredEventDetails, StateExitedEventDetails};
use crate::execution::{BoxFuture, Execution, Frame};
use crate::limits::check_payload;
use crate::pipeline::{Next, Outcome, StateCtx};
use crate::retry::RetryState;
use crate::states;

/// Runs a state machine (top level or nested) from StartAt to an end, returning its output.
pub(crate) fn run_machine(
    execution: Arc<Execution>,
    machine: Arc<StateMachine>,
    input: Value,
    mut frame: Frame,
) -> BoxFuture<Result<Value, StatesError>> {
    Box::pin(async move {
        let mut current = machine.start_at.clone();
        let mut input = input;
        loop {
            // Synchronous states never wait, so a loop of them would never let the execution's
            // timeout, a stop or the history quota end it; yielding between states does.
            tokio::task::yield_now().await;
            let Some(state) = machine.states.get(&current).cloned() else {
                return Err(StatesError::named(
                    ErrorName::Runtime,
                    format!("State '{current}' does not exist"),
                ));
            };
            let (outcome, vars) = run_state(execution.clone(), state.clone(), input, frame).await;
            frame = vars;
            let outcome = outcome?;
            check_payload(&outcome.output, &state.name)?;
            frame.vars.extend(outcome.assign);
            let exited = |output: &Value| {
                execution.event(EventDetails::StateExited(
                    state.kind,
                    StateExitedEventDetails {
                        name: state.name.clone(),
                        output: output.clone(),
                    },
                ))
            };
            match outcome.next {
                Next::State(next) => {
                    if !matches!(state.kind, StateType::Fail) {
                        exited(&outcome.output);
                    }
                    current = next;
                    input = outcome.output;
                }
                Next::End => {
                    exited(&outcome.output);
                    return Ok(outcome.output);
                }
            }
        }
    })
}

/// The event of entering `state` with `input`.
pub(crate) fn entered(state: &State, input: &Value) -> EventDetails {
    EventDetails::StateEntered(
        state.kind,
        StateEnteredEventDetails {
            name: state.name.clone(),
            input: input.clone(),
        },
    )
}

/// The context object a state sees on its attempt after `retry_count` retries.
pub(crate) fn context_for(
    execution: &Execution,
    frame: &Frame,
    state: &State,
    entered: DateTime<Utc>,
    retry_count: u64,
) -> Value {
    let mut ctx = execution.context_base.clone();
    let mut st = Map::new();
    st.insert("EnteredTime".into(), Value::String(iso(entered)));
    st.insert("Name".into(), Value::String(state.name.clone()));
    if state.kind.does_work() {
        st.insert("RetryCount".into(), Value::from(retry_count));
    }
    ctx.insert("State".into(), Value::Object(st));
    let resource = state.field("Resource").and_then(Value::as_str);
    if state.kind == StateType::Task && resource.is_some_and(crate::resource::is_callback) {
        let token = uuid::Uuid::new_v4().to_string();
        ctx.insert("Task".into(), json!({"Token": token}));
    }
    if let Some(item) = &frame.map_item {
        ctx.insert("Map".into(), json!({"Item": item}));
    }
    Value::Object(ctx)
}

/// Enters a state and runs it with its Retry and Catch; returns the outcome and the frame back.
async fn run_state(
    execution: Arc<Execution>,
    state: Arc<State>,
    input: Value,
    frame: Frame,
) -> (Result<Outcome, StatesError>, Frame) {
    let entered_id = execution.event(entered(&state, &input));
    execution.transitions.fetch_add(1, Ordering::SeqCst);
    let entered = execution.clock.now();
    let mut retries = RetryState::from_field(state.field("Retry"));
    let mut retry_count = 0u64;
    let mut ctx = StateCtx {
        context: context_for(&execution, &frame, &state, entered, 0),
        execution: execution.clone(),
        state: state.clone(),
        entered_id,
        frame,
        inspection: None,
    };
    loop {
        let result = states::execute(&ctx, input.clone()).await;
        let err = match result {
            Ok(outcome) => return (Ok(outcome), ctx.frame),
            Err(e) => e,
        };
        if !state.kind.does_work() {
            return (Err(err), ctx.frame);
        }
        let jitter = jitter(&execution, ctx.entered_id, retry_count);
        if let Some(delay) = retries.next_delay(&err.error, jitter) {
            execution.clock.sleep(delay).await;
            tokio::task::yield_now().await;
            retry_count += 1;
            execution.transitions.fetch_add(1, Ordering::SeqCst);
            ctx.context = context_for(&execution, &ctx.frame, &state, entered, retry_count);
            continue;
        }
        let Some(catcher) = catch::find(state.field("Catch"), &err.error) else {
            return (Err(err), ctx.frame);
        };
        let outcome = ctx.caught(&input, &err, catcher);
        return (outcome, ctx.frame);
    }
}

/// A factor in [0, 1) for full jitter, spread over executions, states and attempts but the same
/// each time one execution is replayed, so runs on the virtual clock are reproducible.
fn jitter(execution: &Execution, entered_id: u64, retry_count: u64) -> f64 {
    use sha2::{Digest, Sha256};
    let id = execution
        .context_base
        .get("Execution")
        .and_then(|e| e.get("Id"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let digest = Sha256::new()
        .chain_update(id)
        .chain_update(entered_id.to_be_bytes())
        .chain_update(retry_count.to_be_bytes())
        .finalize();
    let mut bits = [0u8; 8];
    bits.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(bits) >> 11) as f64 / (1u64 << 53) as f64
}
