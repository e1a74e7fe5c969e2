//! GET /api/goals/{goalId}/executions: the owner's runs of a goal, newest first, a page at a time
//! (`limit`, `cursor`).

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use serde_json::Value;
use shared::http_api::{caller, parse_event, path_param, query_param, respond};
use shared::ports::{Archive, Clock, Store};
use shared::{history, DomainError};

pub async fn handle(
    store: &dyn Store,
    archive: &dyn Archive,
    clock: &dyn Clock,
    event: Value,
) -> Result<ApiGatewayV2httpResponse, DomainError> {
    let req = parse_event(event)?;
    let result = async {
        let user = caller(&req)?;
        let goal_id = path_param(&req, "goalId")?;
        let page_size = history::page_size(query_param(&req, "limit"))?;
        let cursor = query_param(&req, "cursor");
        history::goal_executions(store, archive, clock, &user, &goal_id, page_size, cursor).await
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
    use shared::memory::{InMemoryArchive, InMemoryStore};
    use shared::ports::ManualClock;

    fn event(user: Option<&str>, goal: &str, query: &[(&str, &str)]) -> Value {
        let mut event = RequestEvent::new("GET", &format!("/api/goals/{goal}/executions"))
            .path_parameter("goalId", goal);
        for &(name, value) in query {
            event = event.query_parameter(name, value);
        }
        event.user(user).into_value()
    }

    async fn call(store: &InMemoryStore, event: Value) -> (i64, Value) {
        let clock = ManualClock::new(Utc::now());
        let r = handle(store, &InMemoryArchive::default(), &clock, event)
            .await
            .unwrap();
        (r.status_code, response_json(&r))
    }

    #[tokio::test]
    async fn the_owner_pages_through_the_runs() {
        let store = InMemoryStore::new();
        let (run, _) = started_run(&store, "g1", "u1", 2, Utc::now())
            .await
            .unwrap();
        let (status, page) = call(&store, event(Some("u1"), "g1", &[("limit", "1")])).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["goalId"], "g1");
        assert_eq!(page["executions"][0]["executionArn"], run.execution_arn);
        assert_eq!(page["executions"][0]["status"], "RUNNING");
        assert_eq!(page["executions"][0]["canRetry"], false);
        assert_eq!(page["executions"][0]["archived"], false);
        assert_eq!(page["nextCursor"], Value::Null);
        assert_eq!(
            page["olderRuns"]["location"],
            "memory:///execution-history/"
        );
    }

    #[tokio::test]
    async fn strangers_bad_pages_and_anonymous_callers_are_refused() {
        let store = InMemoryStore::new();
        started_run(&store, "g1", "u1", 1, Utc::now())
            .await
            .unwrap();
        for (event, status) in [
            (event(Some("u2"), "g1", &[]), 404),
            (event(Some("u1"), "nope", &[]), 404),
            (event(None, "g1", &[]), 401),
            (event(Some("u1"), "g1", &[("limit", "0")]), 400),
            (event(Some("u1"), "g1", &[("limit", "51")]), 400),
            (event(Some("u1"), "g1", &[("cursor", "x")]), 400),
        ] {
            let (code, body) = call(&store, event).await;
            assert_eq!(code, status, "{body}");
        }
        let store = InMemoryStore::new();
        let clock = ManualClock::new(Utc::now());
        let archive = InMemoryArchive::default();
        assert!(handle(&store, &archive, &clock, json!([])).await.is_err());
    }
}
