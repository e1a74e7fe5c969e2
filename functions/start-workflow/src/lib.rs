//! POST /api/goals/{goalId}/start-activity: starts processing a goal's actions (202), at most
//! once per idempotency key (header `Idempotency-Key` or body `idempotencyKey`).

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use serde::Deserialize;
use serde_json::Value;
use shared::capacity::ModelQuota;
use shared::http_api::{caller, header, json_body, parse_event, path_param, respond};
use shared::metrics::MetricSink;
use shared::ports::{Clock, ExecutionControl, Store};
use shared::{api, DomainError};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StartBody {
    idempotency_key: Option<String>,
}

pub async fn handle(
    store: &dyn Store,
    control: &dyn ExecutionControl,
    clock: &dyn Clock,
    metrics: &dyn MetricSink,
    quota: ModelQuota,
    event: Value,
) -> Result<ApiGatewayV2httpResponse, DomainError> {
    let req = parse_event(event)?;
    let result = async {
        let user = caller(&req)?;
        let goal_id = path_param(&req, "goalId")?;
        let body: StartBody = match json_body(&req)? {
            Some(v) => serde_json::from_value(v)
                .map_err(|e| DomainError::bad_request(format!("invalid body: {e}")))?,
            None => StartBody::default(),
        };
        let key = header(&req, "idempotency-key")
            .map(str::to_owned)
            .or(body.idempotency_key);
        api::start_activity(
            store,
            control,
            clock,
            metrics,
            &user,
            &goal_id,
            key.as_deref(),
            quota,
        )
        .await
    }
    .await;
    Ok(respond(&req, 202, result))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared::examples::response_json;
    use shared::examples::ApiWorld;
    use shared::http_api::RequestEvent;
    use shared::records::{Action, GoalStatus};

    async fn world() -> ApiWorld {
        ApiWorld::new(4).await.unwrap()
    }

    fn event(user: Option<&str>, goal: &str, body: Option<&str>, key: Option<&str>) -> Value {
        let mut event = RequestEvent::new("POST", &format!("/api/goals/{goal}/start-activity"))
            .path_parameter("goalId", goal)
            .header("content-type", "application/json");
        if let Some(key) = key {
            event = event.header("idempotency-key", key);
        }
        if let Some(body) = body {
            event = event.body(body);
        }
        event.user(user).into_value()
    }

    async fn respond(w: &ApiWorld, event: Value) -> ApiGatewayV2httpResponse {
        handle(
            &w.store,
            &w.control,
            &w.clock,
            &w.metrics,
            ModelQuota::default(),
            event,
        )
        .await
        .unwrap()
    }

    async fn call(w: &ApiWorld, event: Value) -> (i64, Value) {
        let r = respond(w, event).await;
        (r.status_code, response_json(&r))
    }

    #[tokio::test]
    async fn starts_once_per_idempotency_key() {
        let w = world().await;
        let (status, body) = call(
            &w,
            event(Some("u1"), "g1", Some(r#"{"idempotencyKey":"k1"}"#), None),
        )
        .await;
        assert_eq!((status, body["status"].as_str()), (202, Some("RUNNING")));
        w.clock.advance(chrono::Duration::seconds(3));
        let (again, body2) = call(&w, event(Some("u1"), "g1", None, Some("k1"))).await;
        assert_eq!(
            (again, &body2),
            (202, &body),
            "the same answer, start date included"
        );
        assert_eq!(w.control.recorded().len(), 1);
        assert_eq!(w.metrics.lines().len(), 1, "one ExecutionsStarted");
        assert_eq!(
            w.store.get_goal("g1").await.unwrap().unwrap().status,
            GoalStatus::Processing
        );

        let (busy, err) = call(&w, event(Some("u1"), "g1", None, Some("k2"))).await;
        assert_eq!(
            (busy, err["error"]["code"].as_str()),
            (409, Some("CONFLICT"))
        );
    }

    #[tokio::test]
    async fn answers_each_error_with_its_status() {
        let w = world().await;
        for (event, status) in [
            (event(None, "g1", None, None), 401),
            (event(Some("u2"), "g1", None, None), 404),
            (event(Some("u1"), "nope", None, None), 404),
            (event(Some("u1"), "g1", Some("{not json"), None), 400),
            (event(Some("u1"), "g1", Some(r#"{"other":1}"#), None), 400),
            (event(Some("u1"), "g1", None, Some(" ")), 400),
        ] {
            assert_eq!(call(&w, event).await.0, status);
        }
        assert!(w.control.recorded().is_empty());
    }

    /// A goal the user cannot run as it stands is refused at the start: no execution, no record,
    /// the goal as it was.
    #[tokio::test]
    async fn a_goal_whose_data_cannot_run_is_a_bad_request_and_changes_nothing() {
        let cases = [
            ("has no actions", 0),
            ("has 65 actions", 64),
            ("is longer than", 3),
        ];
        for (why, n) in cases {
            let w = ApiWorld::new(n).await.unwrap();
            let mut actions = w.store.list_actions("g1").await.unwrap();
            match n {
                64 => {
                    let mut extra = actions[63].clone();
                    extra.action_id.push_str("-extra");
                    extra.position += 1;
                    actions = vec![extra];
                }
                3 => actions[1].title = "x".repeat(Action::MAX_TITLE_CHARS + 1),
                _ => {}
            }
            w.store.put_actions(&actions).await.unwrap();
            let before = w.store.get_goal("g1").await.unwrap();
            let (status, body) = call(&w, event(Some("u1"), "g1", None, Some("k1"))).await;
            assert_eq!(status, 400, "{why}: {body}");
            assert_eq!(body["error"]["code"], "BAD_REQUEST", "{body}");
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(why), "{message}");
            assert!(w.control.recorded().is_empty(), "{why}");
            assert_eq!(w.store.get_goal("g1").await.unwrap(), before, "{why}");
            let runs = w.store.list_goal_executions("g1", 10, None).await.unwrap();
            assert!(runs.runs.is_empty(), "{why}");
            assert!(w.metrics.lines().is_empty(), "{why}");
        }
    }

    #[tokio::test]
    async fn an_event_that_is_not_an_http_request_is_an_error() {
        let w = world().await;
        assert!(handle(
            &w.store,
            &w.control,
            &w.clock,
            &w.metrics,
            ModelQuota::default(),
            json!(42),
        )
        .await
        .is_err());
    }

    #[tokio::test]
    async fn a_start_the_model_quota_has_no_room_for_is_429_with_retry_after() {
        let w = world().await;
        // Another user's 64-action run holds the whole quota; it began 10 s ago.
        let (goal, actions) = shared::examples::example_goal("g2", "u2", 64, w.clock.now());
        shared::examples::seed(&w.store, &goal, &actions)
            .await
            .unwrap();
        let mut other = shared::records::WorkflowExecution::started(
            "arn:run:2".into(),
            "run-2".into(),
            &goal,
            "k".into(),
            w.clock.now() - chrono::Duration::seconds(10),
        );
        other.model_calls = 24;
        other.actions_at_once = 3;
        other.total_actions = 64;
        w.store
            .begin_run(&other, ModelQuota::default())
            .await
            .unwrap();

        let r = respond(&w, event(Some("u1"), "g1", None, Some("k1"))).await;
        assert_eq!(r.status_code, 429);
        // Planned: three rounds of 12 s from 10 s ago.
        assert_eq!(
            r.headers.get("retry-after").and_then(|v| v.to_str().ok()),
            Some("26")
        );
        assert_eq!(response_json(&r)["error"]["code"], "THROTTLED");
        assert!(w.control.recorded().is_empty(), "no execution started");
        assert_eq!(
            w.store.get_goal("g1").await.unwrap().unwrap().status,
            GoalStatus::Draft
        );

        // Once the other run has ended, the same request starts, its 4 actions all at once.
        let end = shared::records::RunEnd {
            status: shared::records::ExecutionStatus::Succeeded,
            goal_status: GoalStatus::Active,
            at: w.clock.now(),
            error: None,
            cause: None,
            alert: None,
        };
        assert!(w.store.finish_run("arn:run:2", &end).await.unwrap());
        let (status, body) = call(&w, event(Some("u1"), "g1", None, Some("k1"))).await;
        assert_eq!(status, 202);
        let run = w
            .store
            .get_execution(body["executionArn"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((run.model_calls, run.actions_at_once), (4, 4));
        let input: shared::steps::ExecutionInput =
            serde_json::from_str(&w.control.recorded()[0].input).unwrap();
        assert_eq!(input.actions_at_once, Some(4));
    }
}
