//! The API flow end to end over the AWS adapters, against moto: start, status, cancel, and many
//! goals started at once.

#[path = "../../shared/tests/support/mod.rs"]
mod support;

use std::sync::Arc;

use chrono::Utc;
use serde_json::{json, Value};
use shared::aws::{DynamoStore, StepFunctionsControl};
use shared::examples::{example_goal, seed};
use shared::metrics::NoMetrics;
use shared::naming::task_id;
use shared::ports::{ExecutionControl, Store, SystemClock};
use shared::records::{ExecutionStatus, GoalStatus, Task};

struct Stack {
    _moto: support::Moto,
    store: DynamoStore,
    control: StepFunctionsControl,
}

async fn stack(prefix: &str) -> Stack {
    let moto = support::start();
    let config = moto.sdk_config().await;
    let tables = support::create_tables(&config, prefix).await;
    let sfn = aws_sdk_sfn::Client::new(&config);
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
        control: StepFunctionsControl::new(sfn, machine.state_machine_arn()),
        _moto: moto,
    }
}

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
    let r = start_workflow::handle(&s.store, &s.control, &SystemClock, &NoMetrics, event)
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

#[tokio::test]
async fn start_watch_and_cancel_a_run() {
    let s = stack("flow").await;
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
    assert_eq!(start(&s, "u2", "g1", "k3").await.0, 403);
    assert_eq!(start(&s, "u1", "nope", "k4").await.0, 404);

    assert_eq!(status(&s, "u1", &arn).await.0, 200);
    assert_eq!(status(&s, "u2", &arn).await.0, 403);
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
    };
    s.store.finish_run(&second, &end).await.expect("finish");
    assert_eq!(cancel(&s, "u1", &second).await.0, 409);
}

#[tokio::test]
async fn twenty_goals_started_at_once_do_not_cross() {
    let s = Arc::new(stack("many").await);
    for i in 0..20 {
        let (goal, actions) =
            example_goal(&format!("goal-{i}"), &format!("user-{i}"), 2, Utc::now());
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
}
