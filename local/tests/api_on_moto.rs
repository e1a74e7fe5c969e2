//! The API flow end to end over the AWS adapters, against moto: start, status, cancel, repeating a
//! start after its run closed, retrying a run's failed actions, and many goals started at once.
//! Each test runs twice: with moto's Step Functions, and with sfn-local's (`step_functions`).

#[path = "../../shared/tests/support/mod.rs"]
mod support;

mod step_functions;

use step_functions::Backend;

use std::sync::Arc;

use chrono::Utc;
use serde_json::{json, Value};
use shared::aws::{DynamoStore, StepFunctionsControl};
use shared::capacity::ModelQuota;
use shared::examples::{example_goal, seed};
use shared::memory::RecordingNotifier;
use shared::metrics::NoMetrics;
use shared::naming::task_id;
use shared::operations::{finalise_run, ExecutionStatusChange, Finalised};
use shared::outcome::RunOutcome;
use shared::ports::{ExecutionControl, Store, SystemClock};
use shared::records::{ActionOutcome, ExecutionStatus, FailedAction, GoalStatus, Task};
use shared::steps::{RunRef, RunSummary};
use shared::workflow::update_goal_status;

struct Stack {
    _moto: support::Moto,
    _sfn_server: step_functions::StepFunctions,
    store: DynamoStore,
    control: StepFunctionsControl,
    sfn: aws_sdk_sfn::Client,
    state_machine_arn: String,
}

async fn stack(prefix: &str, backend: Backend) -> Stack {
    let moto = support::start();
    let config = moto.sdk_config().await;
    let tables = support::create_tables(&config, prefix).await;
    let step_functions = backend.step_functions(&config);
    let sfn = step_functions.client.clone();
    let machine = sfn
        .create_state_machine()
        .name(format!("{prefix}-StartActivity"))
        .definition(support::definition())
        .role_arn("arn:aws:iam::123456789012:role/states")
        .send()
        .await
        .expect("state machine");
    Stack {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), tables),
        control: StepFunctionsControl::new(sfn.clone(), machine.state_machine_arn()),
        state_machine_arn: machine.state_machine_arn().to_owned(),
        sfn,
        _sfn_server: step_functions,
        _moto: moto,
    }
}

crate::on_both_backends!(
    retry_the_failed_actions_of_a_partial_run,
    start_watch_and_cancel_a_run,
    twenty_goals_started_at_once_do_not_cross,
    a_start_repeated_after_its_run_closed_answers_the_record,
);

fn api_event(user: Option<&str>, route: &str, params: Value, body: Option<&str>) -> Value {
    let claims = user.map(|u| json!({"jwt": {"claims": {"sub": u}, "scopes": null}}));
    json!({"version": "2.0", "routeKey": route, "rawPath": "/", "headers": {},
        "pathParameters": params,
        "requestContext": {"http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
            "authorizer": claims, "requestId": "r"},
        "body": body, "isBase64Encoded": false})
}

fn body(response: &aws_lambda_events::apigw::ApiGatewayV2httpResponse) -> Value {
    match &response.body {
        Some(aws_lambda_events::encodings::Body::Text(t)) => {
            serde_json::from_str(t).unwrap_or(Value::Null)
        }
        _ => Value::Null,
    }
}

async fn start(s: &Stack, user: &str, goal: &str, key: &str) -> (i64, Value) {
    let event = api_event(
        Some(user),
        "POST /api/goals/{goalId}/start-activity",
        json!({"goalId": goal}),
        Some(&json!({"idempotencyKey": key}).to_string()),
    );
    let r = start_workflow::handle(
        &s.store,
        &s.control,
        &SystemClock,
        &NoMetrics,
        ModelQuota::default(),
        event,
    )
    .await
    .expect("response");
    (r.status_code, body(&r))
}

async fn status(s: &Stack, user: &str, arn: &str) -> (i64, Value) {
    let event = api_event(
        Some(user),
        "GET /api/workflows/{executionArn}/status",
        json!({"executionArn": arn}),
        None,
    );
    let r = get_status::handle(&s.store, &SystemClock, event)
        .await
        .expect("response");
    (r.status_code, body(&r))
}

async fn cancel(s: &Stack, user: &str, arn: &str) -> (i64, Value) {
    let event = api_event(
        Some(user),
        "POST /api/workflows/{executionArn}/cancel",
        json!({"executionArn": arn}),
        None,
    );
    let r = cancel::handle(&s.store, &s.control, &SystemClock, event)
        .await
        .expect("response");
    (r.status_code, body(&r))
}

async fn retry(s: &Stack, user: Option<&str>, arn: &str) -> (i64, Value) {
    let event = api_event(
        user,
        "POST /api/workflows/{executionArn}/retry",
        json!({"executionArn": arn}),
        None,
    );
    let r = retry_failed::handle(
        &s.store,
        &s.control,
        &SystemClock,
        &NoMetrics,
        ModelQuota::default(),
        event,
    )
    .await
    .expect("response");
    (r.status_code, body(&r))
}

/// Plays a started run to its end as its steps would: tasks saved for every listed action except
/// the `failed` ones, each outcome counted, then UpdateGoalStatus.
async fn play_run(s: &Stack, arn: &str, goal_id: &str, action_ids: &[String], failed: &[String]) {
    s.store
        .set_total_actions(arn, action_ids.len() as u32)
        .await
        .expect("total");
    let mut failures = Vec::new();
    for id in action_ids {
        let outcome = if failed.contains(id) {
            let f = FailedAction::new(id.clone(), "PermanentError".into(), "bad output".into());
            failures.push(f.clone());
            ActionOutcome::failed(f)
        } else {
            let tasks: Vec<Task> = (0..3)
                .map(|i| Task {
                    task_id: task_id(arn, id, i),
                    goal_id: goal_id.into(),
                    action_id: id.clone(),
                    execution_arn: arn.to_owned(),
                    position: i,
                    title: format!("task {i} of {id}"),
                    description: "d".into(),
                    estimated_minutes: 10,
                    created_at: Utc::now(),
                })
                .collect();
            assert_eq!(s.store.save_action_tasks(&tasks).await.expect("save"), 3);
            ActionOutcome::succeeded(id)
        };
        s.store
            .record_action_outcome(arn, &outcome, Utc::now())
            .await
            .expect("outcome");
    }
    let total = action_ids.len() as u32;
    let summary = RunSummary {
        run: RunRef {
            execution_arn: arn.to_owned(),
            goal_id: goal_id.into(),
            user_id: "u1".into(),
        },
        total_actions: total,
        succeeded_actions: total - failures.len() as u32,
        outcome: RunOutcome::from_counts(total, failures.len() as u32),
        failed_actions: failures,
        tasks_written: 3 * (total - failed.len() as u32),
    };
    update_goal_status(
        &s.store,
        &RecordingNotifier::default(),
        &SystemClock,
        &NoMetrics,
        summary,
    )
    .await
    .expect("goal status");
}

async fn goal_status(s: &Stack, goal_id: &str) -> Option<GoalStatus> {
    s.store
        .get_goal(goal_id)
        .await
        .expect("goal")
        .map(|g| g.status)
}

/// The ids of the actions that have tasks written by `arn`, and how many tasks.
async fn task_actions(s: &Stack, arn: &str) -> (std::collections::BTreeSet<String>, usize) {
    let tasks = s.store.list_execution_tasks(arn).await.expect("tasks");
    let count = tasks.len();
    (tasks.into_iter().map(|t| t.action_id).collect(), count)
}

async fn retry_the_failed_actions_of_a_partial_run(backend: Backend) {
    let s = stack("retry", backend).await;
    let (goal, actions) = example_goal("g1", "u1", 4, Utc::now());
    seed(&s.store, &goal, &actions).await.expect("seed");
    let ids: Vec<String> = actions.iter().map(|a| a.action_id.clone()).collect();
    let failed = vec![ids[1].clone(), ids[3].clone()];

    let (_, started) = start(&s, "u1", "g1", "k1").await;
    let source = started["executionArn"].as_str().expect("arn").to_owned();
    let (code, refused) = retry(&s, Some("u1"), &source).await;
    assert_eq!(
        (code, refused["error"]["code"].as_str()),
        (409, Some("CONFLICT")),
        "a running run: {refused}"
    );

    play_run(&s, &source, "g1", &ids, &failed).await;
    assert_eq!(goal_status(&s, "g1").await, Some(GoalStatus::Partial));
    let source_tasks = s.store.list_execution_tasks(&source).await.expect("tasks");
    assert_eq!(source_tasks.len(), 6);

    assert_eq!(retry(&s, Some("u2"), &source).await.0, 404, "a stranger");
    assert_eq!(retry(&s, None, &source).await.0, 401, "no claims");
    let unknown = format!("{}-none", source);
    assert_eq!(retry(&s, Some("u1"), &unknown).await.0, 404);

    // The retry: a new execution over exactly the failed actions.
    let (code, first) = retry(&s, Some("u1"), &source).await;
    assert_eq!(
        (code, first["status"].as_str()),
        (202, Some("RUNNING")),
        "{first}"
    );
    let retry_arn = first["executionArn"].as_str().expect("arn").to_owned();
    assert_ne!(retry_arn, source);
    let described = s
        .sfn
        .describe_execution()
        .execution_arn(&retry_arn)
        .send()
        .await
        .expect("describe");
    let input: Value = serde_json::from_str(described.input().unwrap_or("{}")).expect("input");
    assert_eq!(input["actionIds"], json!(failed), "{input}");
    assert_eq!(
        (input["goalId"].as_str(), input["userId"].as_str()),
        (Some("g1"), Some("u1"))
    );
    let record = s
        .store
        .get_execution(&retry_arn)
        .await
        .expect("get")
        .expect("record");
    assert_eq!(record.retry_of.as_deref(), Some(source.as_str()));
    assert_eq!(record.actions_done_earlier, 2);
    let goal = s.store.get_goal("g1").await.expect("goal").expect("goal");
    assert_eq!(
        (goal.status, goal.current_execution_arn.as_deref()),
        (GoalStatus::Processing, Some(retry_arn.as_str()))
    );

    // A second retry of the same run is the same execution; no new one is started.
    let (code, second) = retry(&s, Some("u1"), &source).await;
    assert_eq!(
        (code, &second["executionArn"]),
        (202, &first["executionArn"])
    );
    let executions = s
        .sfn
        .list_executions()
        .state_machine_arn(&s.state_machine_arn)
        .send()
        .await
        .expect("list");
    assert_eq!(executions.executions().len(), 2);

    // The retry succeeds for both: the goal as a whole is active; the first run's tasks are
    // untouched and no action has tasks from two runs.
    play_run(&s, &retry_arn, "g1", &failed, &[]).await;
    assert_eq!(goal_status(&s, "g1").await, Some(GoalStatus::Active));
    assert_eq!(
        s.store.list_execution_tasks(&source).await.expect("tasks"),
        source_tasks
    );
    let (from_source, _) = task_actions(&s, &source).await;
    let (from_retry, retry_count) = task_actions(&s, &retry_arn).await;
    assert_eq!(retry_count, 6);
    assert_eq!(from_retry, failed.iter().cloned().collect());
    assert!(from_source.is_disjoint(&from_retry));
    assert_eq!(from_source.len() + from_retry.len(), ids.len());

    // A run that succeeded for every action has nothing to retry; the source answers its retry.
    assert_eq!(retry(&s, Some("u1"), &retry_arn).await.0, 409);
    let (code, again) = retry(&s, Some("u1"), &source).await;
    assert_eq!(
        (code, &again["executionArn"], again["status"].as_str()),
        (202, &first["executionArn"], Some("SUCCEEDED"))
    );
}

async fn start_watch_and_cancel_a_run(backend: Backend) {
    let s = stack("flow", backend).await;
    let (goal, actions) = example_goal("g1", "u1", 8, Utc::now());
    seed(&s.store, &goal, &actions).await.expect("seed");

    let (code, started) = start(&s, "u1", "g1", "k1").await;
    assert_eq!(code, 202, "{started}");
    let arn = started["executionArn"].as_str().expect("arn").to_owned();
    assert_eq!(
        s.store
            .get_goal("g1")
            .await
            .expect("goal")
            .map(|g| g.status),
        Some(GoalStatus::Processing)
    );
    let described = s
        .control
        .describe_execution(&arn)
        .await
        .expect("describe")
        .expect("execution");
    assert_eq!(described.status, ExecutionStatus::Running);
    assert_eq!(
        start(&s, "u1", "g1", "k1").await.1["executionArn"],
        started["executionArn"],
        "idempotent"
    );
    assert_eq!(
        start(&s, "u1", "g1", "k2").await.0,
        409,
        "already processing"
    );
    assert_eq!(start(&s, "u2", "g1", "k3").await.0, 404);
    assert_eq!(start(&s, "u1", "nope", "k4").await.0, 404);

    assert_eq!(status(&s, "u1", &arn).await.0, 200);
    assert_eq!(status(&s, "u2", &arn).await.0, 404);
    assert_eq!(
        status(
            &s,
            "u1",
            "arn:aws:states:us-east-1:123456789012:execution:x:none"
        )
        .await
        .0,
        404
    );

    // The run has saved some tasks when it is cancelled.
    let tasks: Vec<Task> = (0..3)
        .map(|i| Task {
            task_id: task_id(&arn, &actions[0].action_id, i),
            goal_id: "g1".into(),
            action_id: actions[0].action_id.clone(),
            execution_arn: arn.clone(),
            position: i,
            title: "t".into(),
            description: "d".into(),
            estimated_minutes: 10,
            created_at: Utc::now(),
        })
        .collect();
    s.store.save_action_tasks(&tasks).await.expect("tasks");
    let (code, view) = cancel(&s, "u1", &arn).await;
    assert_eq!((code, view["status"].as_str()), (200, Some("ABORTED")));
    assert!(s
        .store
        .list_execution_tasks(&arn)
        .await
        .expect("tasks")
        .is_empty());
    assert_eq!(
        s.store
            .get_goal("g1")
            .await
            .expect("goal")
            .map(|g| g.status),
        Some(GoalStatus::Draft)
    );
    let stopped = s
        .control
        .describe_execution(&arn)
        .await
        .expect("describe")
        .expect("execution");
    assert_eq!(stopped.status, ExecutionStatus::Aborted);
    assert_eq!(
        cancel(&s, "u1", &arn).await.0,
        200,
        "a second cancel is harmless"
    );

    // A run that ended otherwise cannot be cancelled.
    let (_, second) = start(&s, "u1", "g1", "k5").await;
    let second = second["executionArn"].as_str().expect("arn").to_owned();
    let end = shared::records::RunEnd {
        status: ExecutionStatus::Succeeded,
        goal_status: GoalStatus::Active,
        at: Utc::now(),
        error: None,
        cause: None,
        alert: None,
    };
    s.store.finish_run(&second, &end).await.expect("finish");
    assert_eq!(cancel(&s, "u1", &second).await.0, 409);
}

/// Twenty one-action goals started at the same moment: each run is its goal's, and together they
/// fit the model quota (24 calls), each reserving its one.
async fn twenty_goals_started_at_once_do_not_cross(backend: Backend) {
    let s = Arc::new(stack("many", backend).await);
    for i in 0..20 {
        let (goal, actions) =
            example_goal(&format!("goal-{i}"), &format!("user-{i}"), 1, Utc::now());
        seed(&s.store, &goal, &actions).await.expect("seed");
    }
    let starts: Vec<_> = (0..20)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                (
                    i,
                    start(&s, &format!("user-{i}"), &format!("goal-{i}"), "k").await,
                )
            })
        })
        .collect();
    let mut arns = std::collections::HashSet::new();
    for h in starts {
        let (i, (code, body)) = h.await.expect("join");
        assert_eq!(code, 202, "{body}");
        let arn = body["executionArn"].as_str().expect("arn").to_owned();
        let record = s
            .store
            .get_execution(&arn)
            .await
            .expect("get")
            .expect("record");
        assert_eq!(
            (record.goal_id, record.user_id),
            (format!("goal-{i}"), format!("user-{i}"))
        );
        let goal = s
            .store
            .get_goal(&format!("goal-{i}"))
            .await
            .expect("get")
            .expect("goal");
        assert_eq!(goal.current_execution_arn.as_deref(), Some(arn.as_str()));
        arns.insert(arn);
    }
    assert_eq!(arns.len(), 20);
    assert_eq!(s.store.reserved_model_calls().await.expect("reserved"), 20);
}

/// Rule 1 after the run has closed: Step Functions keeps the name taken (a new StartExecution would
/// be refused with ExecutionAlreadyExists), so a repeated start must answer from the record and
/// neither start a second execution nor put the goal back to processing.
async fn a_start_repeated_after_its_run_closed_answers_the_record(backend: Backend) {
    let s = stack("closed", backend).await;
    let (goal, actions) = example_goal("g1", "u1", 2, Utc::now());
    seed(&s.store, &goal, &actions).await.expect("seed");
    let (code, first) = start(&s, "u1", "g1", "k1").await;
    assert_eq!(code, 202, "{first}");
    let arn = first["executionArn"].as_str().expect("arn").to_owned();

    // An operator stops the execution; the status-change event reaches the finaliser.
    s.sfn
        .stop_execution()
        .execution_arn(&arn)
        .send()
        .await
        .expect("stop");
    let stopped = s
        .control
        .describe_execution(&arn)
        .await
        .expect("describe")
        .expect("execution");
    assert_eq!(stopped.status, ExecutionStatus::Aborted);
    let change = ExecutionStatusChange {
        execution_arn: arn.clone(),
        state_machine_arn: s.state_machine_arn.clone(),
        status: "ABORTED".into(),
        start_date: None,
        stop_date: stopped.stop_date.map(|d| d.timestamp_millis()),
        error: None,
        cause: None,
    };
    let finalised = finalise_run(
        &s.store,
        &RecordingNotifier::default(),
        &SystemClock,
        &NoMetrics,
        &change,
    )
    .await
    .expect("finalise");
    assert_eq!(finalised, Finalised::Ended);

    let (code, again) = start(&s, "u1", "g1", "k1").await;
    assert_eq!(code, 202, "{again}");
    assert_eq!(
        (&again["executionArn"], again["status"].as_str()),
        (&first["executionArn"], Some("ABORTED")),
        "{again}"
    );
    let executions = s
        .sfn
        .list_executions()
        .state_machine_arn(&s.state_machine_arn)
        .send()
        .await
        .expect("list");
    assert_eq!(executions.executions().len(), 1, "no second execution");
    let goal = s.store.get_goal("g1").await.expect("goal").expect("goal");
    assert_eq!(
        (goal.status, goal.current_execution_arn.as_deref()),
        (GoalStatus::Draft, Some(arn.as_str()))
    );
}
