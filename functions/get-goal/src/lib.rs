//! GET /api/goals/{goalId}: the owner's goal with its status, its actions and the tasks they
//! hold, and its latest run.

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use serde_json::Value;
use shared::http_api::{caller, parse_event, path_param, respond};
use shared::ports::{Clock, Store};
use shared::{history, DomainError};

pub async fn handle(
    store: &dyn Store,
    clock: &dyn Clock,
    event: Value,
) -> Result<ApiGatewayV2httpResponse, DomainError> {
    let req = parse_event(event)?;
    let result = async {
        let user = caller(&req)?;
        let goal_id = path_param(&req, "goalId")?;
        history::goal_view(store, clock, &user, &goal_id).await
    }
    .await;
    Ok(respond(&req, 200, result))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;
    use shared::examples::response_json;
    use shared::examples::started_run;
    use shared::http_api::RequestEvent;
    use shared::memory::InMemoryStore;
    use shared::ports::ManualClock;

    fn event(user: Option<&str>, goal: &str) -> Value {
        let event =
            RequestEvent::new("GET", &format!("/api/goals/{goal}")).path_parameter("goalId", goal);
        event.user(user).into_value()
    }

    async fn call(store: &InMemoryStore, event: Value) -> (i64, Value) {
        let r = handle(store, &ManualClock::new(Utc::now()), event)
            .await
            .unwrap();
        (r.status_code, response_json(&r))
    }

    #[tokio::test]
    async fn the_owner_sees_the_goal_its_actions_and_its_latest_run() {
        let store = InMemoryStore::new();
        let (run, actions) = started_run(&store, "g1", "u1", 3, Utc::now())
            .await
            .unwrap();
        let (status, goal) = call(&store, event(Some("u1"), "g1")).await;
        assert_eq!(status, 200, "{goal}");
        assert_eq!(goal["goalId"], "g1");
        assert_eq!(goal["status"], "processing");
        assert_eq!(goal["actions"].as_array().map(Vec::len), Some(3));
        assert_eq!(goal["actions"][0]["actionId"], actions[0].action_id);
        assert_eq!(goal["actions"][0]["taskCount"], 0);
        assert_eq!(goal["taskCount"], 0);
        assert_eq!(goal["latestRun"]["executionArn"], run.execution_arn);
        assert_eq!(goal["latestRun"]["status"], "RUNNING");
    }

    #[tokio::test]
    async fn strangers_unknown_goals_and_anonymous_callers_are_refused() {
        let store = InMemoryStore::new();
        started_run(&store, "g1", "u1", 1, Utc::now())
            .await
            .unwrap();
        for (event, status) in [
            (event(Some("u2"), "g1"), 404),
            (event(Some("u1"), "nope"), 404),
            (event(None, "g1"), 401),
            (event(Some("u1"), "%FF"), 400),
        ] {
            let (code, body) = call(&store, event).await;
            assert_eq!(code, status, "{body}");
        }
        let clock = ManualClock::new(Utc::now());
        assert!(handle(&store, &clock, json!("x")).await.is_err());
    }
}
