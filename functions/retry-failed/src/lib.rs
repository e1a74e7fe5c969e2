//! POST /api/workflows/{executionArn}/retry: starts a run over only the failed actions of the
//! owner's finished run (202), at most once per run.

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use serde_json::Value;
use shared::capacity::ModelQuota;
use shared::http_api::{caller, parse_event, path_param, respond};
use shared::metrics::MetricSink;
use shared::ports::{Clock, ExecutionControl, Store};
use shared::{api, DomainError};

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
        let execution_arn = path_param(&req, "executionArn")?;
        api::retry_failed(store, control, clock, metrics, quota, &user, &execution_arn).await
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
    use shared::records::{ActionOutcome, ExecutionStatus, FailedAction, GoalStatus, RunEnd};
    use shared::steps::ExecutionInput;

    async fn world() -> ApiWorld {
        ApiWorld::new(3).await.unwrap()
    }

    /// Starts a run of the goal's three actions with `key`.
    async fn started(w: &ApiWorld, key: &str) -> String {
        w.start(key).await.unwrap().execution_arn
    }

    /// Ends a started run as UpdateGoalStatus would, with the actions at `failed` failed.
    async fn finish(w: &ApiWorld, arn: &str, failed: &[usize]) {
        w.store.set_total_actions(arn, 3).await.unwrap();
        for i in 0..3 {
            let id = format!("g1-a0{i}");
            let outcome = if failed.contains(&i) {
                ActionOutcome::failed(FailedAction::new(id, "PermanentError".into(), "".into()))
            } else {
                ActionOutcome::succeeded(id)
            };
            w.store
                .record_action_outcome(arn, &outcome, w.clock.now())
                .await
                .unwrap();
        }
        let end = RunEnd {
            status: ExecutionStatus::Succeeded,
            goal_status: if failed.is_empty() {
                GoalStatus::Active
            } else {
                GoalStatus::Partial
            },
            at: w.clock.now(),
            error: None,
            cause: None,
            alert: None,
        };
        w.store.finish_run(arn, &end).await.unwrap();
        w.control.close(arn, ExecutionStatus::Succeeded);
    }

    fn event(user: Option<&str>, arn: Option<&str>) -> Value {
        let mut event = RequestEvent::new("POST", "/api/workflows/retry");
        if let Some(arn) = arn {
            event = event.path_parameter("executionArn", arn);
        }
        event.user(user).into_value()
    }

    async fn call(w: &ApiWorld, event: Value) -> (i64, Value) {
        let r = handle(
            &w.store,
            &w.control,
            &w.clock,
            &w.metrics,
            ModelQuota::default(),
            event,
        )
        .await
        .unwrap();
        (r.status_code, response_json(&r))
    }

    #[tokio::test]
    async fn retries_the_failed_actions_once() {
        let w = world().await;
        let source = started(&w, "k").await;
        finish(&w, &source, &[1]).await;

        let (status, body) = call(&w, event(Some("u1"), Some(&source))).await;
        assert_eq!((status, body["status"].as_str()), (202, Some("RUNNING")));
        let mut fields: Vec<&String> = body.as_object().unwrap().keys().collect();
        fields.sort();
        assert_eq!(fields, ["executionArn", "startDate", "status"]);
        let retry = body["executionArn"].as_str().unwrap().to_owned();
        assert_ne!(retry, source);
        let recorded = w.control.recorded();
        let execution = recorded
            .iter()
            .find(|e| e.description.execution_arn == retry)
            .unwrap();
        let input: ExecutionInput = serde_json::from_str(&execution.input).unwrap();
        assert_eq!(input.action_ids, Some(vec!["g1-a01".to_owned()]));
        assert_eq!(
            w.store.get_goal("g1").await.unwrap().unwrap().status,
            GoalStatus::Processing
        );

        // Percent-encoded like any path parameter, and repeated: the same run.
        let encoded = source.replace(':', "%3A");
        let (again, body2) = call(&w, event(Some("u1"), Some(&encoded))).await;
        assert_eq!(
            (again, &body2["executionArn"]),
            (202, &body["executionArn"])
        );
        assert_eq!(w.control.recorded().len(), 2);
        assert_eq!(w.metrics.lines().len(), 1, "one ExecutionsStarted");
    }

    #[tokio::test]
    async fn answers_each_error_with_its_status() {
        let w = world().await;
        let running = started(&w, "k1").await;
        let unknown = "arn:aws:states:us-east-1:123456789012:execution:StartActivity:none";
        for (event, status) in [
            (event(None, Some(&running)), 401),
            (event(Some("u2"), Some(&running)), 404),
            (event(Some("u1"), Some(unknown)), 404),
            (event(Some("u1"), None), 400),
            (event(Some("u1"), Some(" ")), 400),
            // Not finished yet.
            (event(Some("u1"), Some(&running)), 409),
        ] {
            let (code, body) = call(&w, event).await;
            assert_eq!(code, status, "{body}");
            assert!(body["error"]["code"].is_string(), "{body}");
            assert!(body["error"]["message"].is_string(), "{body}");
        }

        // Finished with nothing to retry.
        finish(&w, &running, &[]).await;
        assert_eq!(call(&w, event(Some("u1"), Some(&running))).await.0, 409);

        // Another run of the goal is going.
        let partial = started(&w, "k2").await;
        finish(&w, &partial, &[0]).await;
        started(&w, "k3").await;
        let (busy, body) = call(&w, event(Some("u1"), Some(&partial))).await;
        assert_eq!(
            (busy, body["error"]["code"].as_str()),
            (409, Some("CONFLICT"))
        );
        assert_eq!(w.control.recorded().len(), 3, "no retry started");
        assert!(w.metrics.lines().is_empty());
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
}
