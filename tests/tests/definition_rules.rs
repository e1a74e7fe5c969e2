//! The rules the hand-written definition must keep, checked against the domain's own constants so
//! the two cannot drift apart: shape, limits, retry and catch policy, the batch deadline and what
//! travels between states.

use chrono::Utc;
use serde_json::{json, Value};
use shared::batching::MAX_BATCH_SIZE;
use shared::capacity::{
    THROTTLE_RETRY_BACKOFF_RATE, THROTTLE_RETRY_INTERVAL_SECONDS, THROTTLE_RETRY_MAX_ATTEMPTS,
    THROTTLE_RETRY_MAX_DELAY_SECONDS,
};
use shared::deadlines::{AI_CALL_LIMIT_SECONDS, RUN_LIMIT_SECONDS};
use shared::error::{ErrorKind, LAMBDA_SANDBOX_TIMEOUT, LAMBDA_SERVICE_ERRORS};
use shared::model_output::{MAX_DESCRIPTION_CHARS, MAX_TASKS, MAX_TITLE_CHARS};
use shared::records::{Action, FailedAction, Goal, Task};
use shared::steps::{ActionResult, BatchSummary, RunActions, RunRef};
use shared::workflow::{create_batches, MAX_ACTIONS_PER_RUN};
use workflow_tests::{all_states, definition, main_path};

/// DESIGN.md section 4.3: the waits before retries 1, 2 and 3 are 2, 4 and 8 s, and there are no
/// more: IntervalSeconds 2, BackoffRate 2, MaxAttempts 3. (The schedule itself is observed by
/// running the definition: sfn-local's `tests/properties.rs`.)
const RETRY_INTERVAL_SECONDS: u64 = 2;
const RETRY_BACKOFF_RATE: f64 = 2.0;
const RETRY_MAX_ATTEMPTS: u64 = 3;

fn state<'a>(states: &'a [(String, Value)], name: &str) -> &'a Value {
    states
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no state {name}"))
}

fn retried_errors(state: &Value) -> Vec<String> {
    state["Retry"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["ErrorEquals"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_flow_and_its_limits() {
    let machine = definition();
    assert_eq!(machine["TimeoutSeconds"], json!(RUN_LIMIT_SECONDS));
    assert_eq!(
        main_path(&machine),
        [
            "ValidateInput",
            "GetActions",
            "CreateBatches",
            "ProcessBatches",
            "AggregateResults",
            "UpdateGoalStatus"
        ]
    );
    let batches = &machine["States"]["ProcessBatches"];
    assert_eq!(batches["Type"], "Map");
    // Every batch at once, so no batch waits for another's slowest call.
    assert_eq!(
        batches["MaxConcurrency"],
        json!(MAX_ACTIONS_PER_RUN / MAX_BATCH_SIZE)
    );
    assert_eq!(
        main_path(&batches["ItemProcessor"]),
        ["ProcessActions", "SaveTasks", "UpdateProgress"]
    );
    let actions = &batches["ItemProcessor"]["States"]["ProcessActions"];
    assert_eq!(actions["Type"], "Map");
    // create-batches shares the 24 model calls among the batches.
    assert_eq!(actions["MaxConcurrencyPath"], "$.actionsAtOnce");
    assert_eq!(
        batches["ItemSelector"]["actionsAtOnce.$"],
        "$.actionsAtOnce"
    );
    assert_eq!(main_path(&actions["ItemProcessor"]), ["GenerateTasks"]);
}

#[test]
fn generate_tasks_is_bounded_retried_and_caught_as_a_failed_action() {
    let states = all_states(&definition()["States"]);
    let generate = state(&states, "GenerateTasks");
    assert_eq!(generate["TimeoutSeconds"], json!(AI_CALL_LIMIT_SECONDS));

    let retry = &generate["Retry"][1];
    assert_eq!(retry["IntervalSeconds"], json!(RETRY_INTERVAL_SECONDS));
    assert_eq!(retry["BackoffRate"].as_f64(), Some(RETRY_BACKOFF_RATE));
    assert_eq!(retry["MaxAttempts"], json!(RETRY_MAX_ATTEMPTS));
    let retried = retried_errors(generate);
    for name in LAMBDA_SERVICE_ERRORS
        .iter()
        .copied()
        .chain(["States.Timeout", ErrorKind::Transient.error_type()])
    {
        assert!(retried.iter().any(|r| r == name), "{name} is retried");
    }

    let catch = &generate["Catch"][0];
    assert_eq!(catch["ErrorEquals"], json!(["States.ALL"]));
    let record = state(&states, catch["Next"].as_str().unwrap_or_default());
    assert_eq!(record["Type"], "Pass");
    assert_eq!(record["End"], true);

    // What the catcher builds from a caught timeout (no Cause) is a valid failed action result.
    let parameters = &record["Parameters"];
    let caught = json!({"action": {"actionId": "a1"}, "error": {"Error": "States.Timeout"}});
    let built: serde_json::Map<String, Value> = parameters
        .as_object()
        .into_iter()
        .flatten()
        .map(|(key, path)| {
            let key = key.trim_end_matches(".$").to_owned();
            let pointer = path.as_str().unwrap_or_default().trim_start_matches('$');
            (
                key,
                caught
                    .pointer(&pointer.replace('.', "/"))
                    .cloned()
                    .unwrap_or(Value::Null),
            )
        })
        .collect();
    let result: ActionResult = serde_json::from_value(Value::Object(built)).expect("ActionResult");
    assert_eq!(result.action_id, "a1");
    assert!(result.failure.is_some() && result.tasks.is_empty());
}

#[test]
fn only_retryable_errors_are_retried_and_every_task_survives_lambda_hiccups() {
    for (name, state) in all_states(&definition()["States"]) {
        let retried = retried_errors(&state);
        for kind in ErrorKind::ALL.into_iter().filter(|k| !k.is_retryable()) {
            assert!(
                !retried.iter().any(|r| r == kind.error_type()),
                "{name} retries {}",
                kind.error_type()
            );
        }
        assert!(
            !retried.iter().any(|r| r == "States.ALL"),
            "{name} retries everything"
        );
        if state["Type"] == "Task" {
            for lambda in LAMBDA_SERVICE_ERRORS
                .into_iter()
                .chain([LAMBDA_SANDBOX_TIMEOUT])
            {
                assert!(
                    retried.iter().any(|r| r == lambda),
                    "{name} retries {lambda}"
                );
            }
        }
    }
}

/// The error names Step Functions itself raises (its documented `States.*` names).
const STATES_ERRORS: [&str; 16] = [
    "States.ALL",
    "States.BranchFailed",
    "States.DataLimitExceeded",
    "States.ExceedToleratedFailureThreshold",
    "States.HeartbeatTimeout",
    "States.Http.Socket",
    "States.IntrinsicFailure",
    "States.ItemReaderFailed",
    "States.NoChoiceMatched",
    "States.ParameterPathFailure",
    "States.Permissions",
    "States.QueryEvaluationError",
    "States.ResultPathMatchFailure",
    "States.ResultWriterFailed",
    "States.TaskFailed",
    "States.Timeout",
];

/// Every name in every Retry and Catch clause of a state, with the field it was found in.
fn matched_errors(state: &Value) -> Vec<(&'static str, String)> {
    ["Retry", "Catch"]
        .into_iter()
        .flat_map(|field| {
            state[field]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|clause| {
                    clause["ErrorEquals"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .map(move |name| (field, name.as_str().unwrap_or_default().to_owned()))
        })
        .collect()
}

#[test]
fn every_matched_error_is_one_something_can_raise() {
    // A misspelt name in ErrorEquals matches nothing and fails silently, so each name must be
    // one Step Functions, the Lambda service or a handler can actually report.
    let known = |name: &str| {
        STATES_ERRORS.contains(&name)
            || LAMBDA_SERVICE_ERRORS.contains(&name)
            || name == LAMBDA_SANDBOX_TIMEOUT
            || ErrorKind::from_error_type(name).is_some()
    };
    let states = all_states(&definition()["States"]);
    for (state_name, state) in &states {
        for (field, error) in matched_errors(state) {
            assert!(
                known(&error),
                "{state_name} {field} matches unknown {error:?}"
            );
        }
    }
    // The nested GenerateTasks clauses must have been reached, not only the top-level ones.
    assert!(
        matched_errors(state(&states, "GenerateTasks"))
            .iter()
            .any(|(_, e)| e == "States.Timeout"),
        "the walk reaches nested states"
    );
}

/// Whether `retry` is GenerateTasks' retrier for throttled calls, on the quota's own schedule.
fn is_throttle_retrier(retry: &Value) -> bool {
    retry["ErrorEquals"] == json!(["Lambda.TooManyRequestsException"])
}

#[test]
fn generate_tasks_waits_for_the_shared_quota_on_the_throttle_schedule() {
    let states = all_states(&definition()["States"]);
    let generate = state(&states, "GenerateTasks");
    // First, so a throttle never uses up the transient retrier's three attempts.
    let throttle = &generate["Retry"][0];
    assert!(is_throttle_retrier(throttle));
    assert_eq!(
        throttle["IntervalSeconds"],
        json!(THROTTLE_RETRY_INTERVAL_SECONDS)
    );
    assert_eq!(
        throttle["BackoffRate"].as_f64(),
        Some(THROTTLE_RETRY_BACKOFF_RATE)
    );
    assert_eq!(
        throttle["MaxDelaySeconds"],
        json!(THROTTLE_RETRY_MAX_DELAY_SECONDS)
    );
    assert_eq!(throttle["JitterStrategy"], "FULL");
    assert_eq!(throttle["MaxAttempts"], json!(THROTTLE_RETRY_MAX_ATTEMPTS));
    // No other Task has one: only generate-tasks has a reservation to be throttled by.
    for (name, state) in &states {
        let throttles = state["Retry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| is_throttle_retrier(r))
            .count();
        assert_eq!(throttles, usize::from(name == "GenerateTasks"), "{name}");
    }
}

#[test]
fn every_retry_follows_the_domains_schedule() {
    let states = all_states(&definition()["States"]);
    let mut tasks_with_retry = 0;
    for (name, state) in &states {
        let retriers = state["Retry"].as_array().cloned().unwrap_or_default();
        if state["Type"] == "Task" && !retriers.is_empty() {
            tasks_with_retry += 1;
        }
        for retry in retriers.into_iter().filter(|r| !is_throttle_retrier(r)) {
            assert_eq!(
                retry["IntervalSeconds"],
                json!(RETRY_INTERVAL_SECONDS),
                "{name} IntervalSeconds"
            );
            assert_eq!(
                retry["BackoffRate"].as_f64(),
                Some(RETRY_BACKOFF_RATE),
                "{name} BackoffRate"
            );
            assert_eq!(
                retry["MaxAttempts"],
                json!(RETRY_MAX_ATTEMPTS),
                "{name} MaxAttempts"
            );
        }
    }
    // Every Task has a Retry, so none escaped the check above.
    let tasks = states.iter().filter(|(_, s)| s["Type"] == "Task").count();
    assert_eq!(tasks_with_retry, tasks);
}

#[test]
fn nested_tasks_without_a_catch_rely_on_the_outer_maps_catch() {
    let machine = definition();
    let batches = &machine["States"]["ProcessBatches"];
    let uncaught: Vec<String> = all_states(&batches["ItemProcessor"]["States"])
        .into_iter()
        .filter(|(_, s)| s["Type"] == "Task" && s["Catch"].is_null())
        .map(|(name, _)| name)
        .collect();
    assert_eq!(uncaught, ["SaveTasks", "UpdateProgress"]);
    // Their failures, once retries run out, fail the batch and so the ProcessBatches Map: only its
    // own catch-all keeps the run from failing without recording why.
    let catch_all = batches["Catch"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["ErrorEquals"] == json!(["States.ALL"]));
    assert_eq!(
        catch_all.map(|c| &c["Next"]),
        Some(&json!("HandleError")),
        "ProcessBatches must catch States.ALL into HandleError, or a failed {uncaught:?} goes unrecorded"
    );
}

#[test]
fn every_task_invokes_a_substituted_function_and_passes_on_its_payload() {
    for (name, state) in all_states(&definition()["States"]) {
        if state["Type"] != "Task" {
            continue;
        }
        assert_eq!(
            state["Resource"], "arn:aws:states:::lambda:invoke",
            "{name}"
        );
        assert_eq!(state["OutputPath"], "$.Payload", "{name}");
        let function = state["Parameters"]["FunctionName"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(function, format!("${{{name}FunctionArn}}"), "{name}");
    }
}

#[test]
fn uncaught_failures_end_in_handle_error_and_a_failed_run() {
    let machine = definition();
    for (name, state) in machine["States"].as_object().into_iter().flatten() {
        let is_work = matches!(state["Type"].as_str(), Some("Task" | "Map"));
        if !is_work || name == "HandleError" {
            continue;
        }
        let catch = &state["Catch"][0];
        assert_eq!(catch["ErrorEquals"], json!(["States.ALL"]), "{name}");
        assert_eq!(catch["Next"], "HandleError", "{name}");
        assert_eq!(catch["ResultPath"], "$.error", "{name}");
    }
    let handle = &machine["States"]["HandleError"];
    let failed = &machine["States"][handle["Next"].as_str().unwrap_or_default()];
    assert_eq!(failed["Type"], "Fail");
    assert!(failed["ErrorPath"].is_string() && failed["CausePath"].is_string());
}

#[test]
fn each_batch_carries_its_start_so_generate_tasks_can_keep_the_batch_budget() {
    let states = all_states(&definition()["States"]);
    let actions = state(&states, "ProcessActions");
    assert_eq!(
        actions["ItemSelector"]["batchStartedAt.$"],
        "$$.State.EnteredTime"
    );
    let generate = state(&states, "GenerateTasks");
    assert_eq!(
        generate["Parameters"]["Payload"]["batchStartedAt.$"],
        "$.batchStartedAt"
    );
    assert_eq!(
        generate["Parameters"]["Payload"]["retryCount.$"],
        "$$.State.RetryCount"
    );
}

#[test]
fn each_call_carries_its_batch_and_start_for_the_remaining_time_estimate() {
    let states = all_states(&definition()["States"]);
    assert_eq!(
        state(&states, "ProcessActions")["ItemSelector"]["batchIndex.$"],
        "$.batchIndex"
    );
    let payload = &state(&states, "GenerateTasks")["Parameters"]["Payload"];
    assert_eq!(payload["batchIndex.$"], "$.batchIndex");
    assert_eq!(payload["actionStartedAt.$"], "$$.State.EnteredTime");
}

/// Step Functions' limit on any state's input or output.
const PAYLOAD_LIMIT: usize = 256 * 1024;

fn widest(chars: usize) -> String {
    "😀".repeat(chars)
}

fn run() -> RunRef {
    RunRef {
        execution_arn: format!(
            "arn:aws:states:eu-central-1:123456789012:execution:start-activity-prod-start-activity:{}",
            "n".repeat(80)
        ),
        goal_id: "g".repeat(64),
        user_id: "u".repeat(64),
    }
}

fn action(i: usize) -> Action {
    Action {
        goal_id: "g".repeat(64),
        action_id: format!("{i:0>64}"),
        sub_goal_id: "s".repeat(64),
        position: i as u32,
        title: widest(Action::MAX_TITLE_CHARS),
        description: widest(Action::MAX_DESCRIPTION_CHARS),
    }
}

#[test]
fn a_goal_of_the_longest_actions_fits_the_payload_limit_until_the_batches_are_replaced() {
    // GetActions' and CreateBatches' results carry every action and the goal's title, at the
    // bounds ValidateInput and GetActions enforce, in 4-byte characters.
    let actions: Vec<Action> = (0..MAX_ACTIONS_PER_RUN).map(action).collect();
    assert!(actions.iter().all(|a| a.refusal().is_none()));
    let loaded = RunActions {
        run: run(),
        goal_title: widest(Goal::MAX_TITLE_CHARS),
        actions,
        actions_at_once: Some(1),
    };
    let size = serde_json::to_string(&loaded).map_or(usize::MAX, |s| s.len());
    assert!(size < PAYLOAD_LIMIT, "GetActions' result: {size} bytes");
    let batched = serde_json::to_string(&create_batches(loaded)).map_or(usize::MAX, |s| s.len());
    assert!(
        batched < PAYLOAD_LIMIT,
        "CreateBatches' result: {batched} bytes"
    );

    // ProcessBatches writes its results over the batches, so its output never holds both.
    let machine = definition();
    let process = &machine["States"]["ProcessBatches"];
    assert_eq!(process["ResultPath"], process["ItemsPath"]);
    assert_eq!(
        machine["States"]["AggregateResults"]["Parameters"]["Payload"]["batchResults.$"],
        process["ResultPath"]
    );
}

#[test]
fn a_full_batch_with_the_longest_tasks_fits_the_payload_limit() {
    // SaveTasks' input: the batch (its 8 actions) and, per action, the most and longest tasks
    // the model's schema allows, in 4-byte characters.
    let task = |a: &Action, position: usize| Task {
        task_id: "t".repeat(36),
        goal_id: a.goal_id.clone(),
        action_id: a.action_id.clone(),
        execution_arn: run().execution_arn,
        position: position as u32,
        title: widest(MAX_TITLE_CHARS),
        description: widest(MAX_DESCRIPTION_CHARS),
        estimated_minutes: 480,
        created_at: Utc::now(),
    };
    let actions: Vec<Action> = (0..MAX_BATCH_SIZE).map(action).collect();
    let results: Vec<ActionResult> = actions
        .iter()
        .map(|a| ActionResult {
            action_id: a.action_id.clone(),
            tasks: (0..MAX_TASKS).map(|p| task(a, p)).collect(),
            failure: None,
        })
        .collect();
    let state = json!({
        "run": run(), "batchIndex": 7, "batchStartedAt": Utc::now(),
        "actions": actions, "actionResults": results,
    });
    let size = state.to_string().len();
    assert!(size < PAYLOAD_LIMIT, "{size} bytes");
}

#[test]
fn the_outer_map_result_fits_even_when_every_action_fails_with_a_long_cause() {
    let batches: Vec<BatchSummary> = (0..8)
        .map(|b| BatchSummary {
            run: run(),
            batch_index: b,
            succeeded_action_ids: Vec::new(),
            failed_actions: (0..MAX_BATCH_SIZE)
                .map(|i| {
                    let id = action(b as usize * MAX_BATCH_SIZE + i).action_id;
                    FailedAction::new(id, "States.TaskFailed".into(), widest(10_000))
                })
                .collect(),
            tasks_written: 0,
        })
        .collect();
    let size = serde_json::to_string(&batches)
        .map(|s| s.len())
        .unwrap_or(usize::MAX);
    assert!(size < PAYLOAD_LIMIT / 2, "{size} bytes");
}
