//! GET /api/workflows/{executionArn}/status: the owner's view of a run's progress.

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use serde_json::Value;
use shared::http_api::{caller, parse_event, path_param, respond};
use shared::ports::{Clock, Store};
use shared::{api, DomainError};

pub async fn handle(
    store: &dyn Store,
    clock: &dyn Clock,
    event: Value,
) -> Result<ApiGatewayV2httpResponse, DomainError> {
    let req = parse_event(event)?;
    let result = async {
        let user = caller(&req)?;
        let execution_arn = path_param(&req, "executionArn")?;
        api::get_status(store, clock, &user, &execution_arn).await
    }
    .await;
    Ok(respond(&req, 200, result))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};
    use serde_json::json;
    use shared::examples::response_json;
    use shared::examples::started_run;
    use shared::http_api::RequestEvent;
    use shared::memory::InMemoryStore;
    use shared::ports::ManualClock;
    use shared::records::ActionOutcome;

    fn event(user: Option<&str>, arn: &str) -> Value {
        let event = RequestEvent::new("GET", &format!("/api/workflows/{arn}/status"))
            .path_parameter("executionArn", arn);
        event.user(user).into_value()
    }

    #[tokio::test]
    async fn the_owner_sees_progress_and_eta() {
        let store = InMemoryStore::new();
        let start = Utc::now();
        let (run, actions) = started_run(&store, "g1", "u1", 4, start).await.unwrap();
        store
            .set_total_actions(&run.execution_arn, 4)
            .await
            .unwrap();
        store
            .record_action_outcome(
                &run.execution_arn,
                &ActionOutcome::succeeded(&actions[0].action_id),
                start,
            )
            .await
            .unwrap();
        let clock = ManualClock::new(start + Duration::seconds(10));
        let r = handle(&store, &clock, event(Some("u1"), &run.execution_arn))
            .await
            .unwrap();
        assert_eq!(r.status_code, 200);
        let body = response_json(&r);
        assert_eq!(body["progressPercent"], 25);
        assert_eq!(body["processedActions"], 1);
        assert_eq!(body["estimatedSecondsRemaining"], 30);
        assert_eq!(body["status"], "RUNNING");
    }

    #[tokio::test]
    async fn strangers_unknown_runs_and_anonymous_callers_are_refused() {
        let store = InMemoryStore::new();
        let (run, _) = started_run(&store, "g1", "u1", 1, Utc::now())
            .await
            .unwrap();
        let clock = ManualClock::new(Utc::now());
        for (event, status) in [
            (event(Some("u2"), &run.execution_arn), 404),
            (
                event(Some("u1"), "arn:aws:states:us-east-1:1:execution:x:none"),
                404,
            ),
            (event(None, &run.execution_arn), 401),
        ] {
            assert_eq!(
                handle(&store, &clock, event).await.unwrap().status_code,
                status
            );
        }
        assert!(handle(&store, &clock, json!({"nope": true})).await.is_err());
    }
}
