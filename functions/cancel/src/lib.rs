//! POST /api/workflows/{executionArn}/cancel: stops the owner's running run, removes the tasks it
//! wrote and puts the goal back to draft.

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use serde_json::Value;
use shared::http_api::{caller, parse_event, path_param, respond};
use shared::ports::{Clock, ExecutionControl, Store};
use shared::{api, DomainError};

pub async fn handle(
    store: &dyn Store,
    control: &dyn ExecutionControl,
    clock: &dyn Clock,
    event: Value,
) -> Result<ApiGatewayV2httpResponse, DomainError> {
    let req = parse_event(event)?;
    let result = async {
        let user = caller(&req)?;
        let execution_arn = path_param(&req, "executionArn")?;
        api::cancel_run(store, control, clock, &user, &execution_arn).await
    }
    .await;
    Ok(respond(&req, 200, result))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;
    use shared::api::start_activity;
    use shared::examples::{example_goal, seed, EXAMPLE_STATE_MACHINE_ARN};
    use shared::http_api::RequestEvent;
    use shared::memory::{InMemoryExecutions, InMemoryStore};
    use shared::metrics::NoMetrics;
    use shared::offline::OfflineGenerator;
    use shared::ports::ManualClock;
    use shared::records::{ExecutionStatus, GoalStatus, RunEnd};
    use shared::steps::{GenerateTasksRequest, RunRef};
    use shared::workflow;

    fn event(user: Option<&str>, arn: &str) -> Value {
        let event = RequestEvent::new("POST", &format!("/api/workflows/{arn}/cancel"))
            .path_parameter("executionArn", arn);
        event.user(user).into_value()
    }

    /// A started run that has already saved one action's tasks.
    async fn running() -> (InMemoryStore, InMemoryExecutions, ManualClock, String) {
        let store = InMemoryStore::new();
        let (goal, actions) = example_goal("g1", "u1", 3, Utc::now());
        seed(&store, &goal, &actions).await.unwrap();
        let control = InMemoryExecutions::new(EXAMPLE_STATE_MACHINE_ARN, Utc::now);
        let clock = ManualClock::new(Utc::now());
        let started = start_activity(
            &store,
            &control,
            &clock,
            &NoMetrics,
            "u1",
            "g1",
            Some("k"),
            shared::capacity::ModelQuota::default(),
        )
        .await
        .unwrap();
        let run = RunRef {
            execution_arn: started.execution_arn.clone(),
            goal_id: "g1".into(),
            user_id: "u1".into(),
        };
        let req = GenerateTasksRequest {
            run,
            goal_title: String::new(),
            batch_started_at: clock.now(),
            action: actions[0].clone(),
            retry_count: 0,
            batch_index: None,
            action_started_at: None,
        };
        let result =
            workflow::generate_tasks(&store, &OfflineGenerator::new(), &clock, &NoMetrics, req)
                .await
                .unwrap();
        store.save_action_tasks(&result.tasks).await.unwrap();
        (store, control, clock, started.execution_arn)
    }

    #[tokio::test]
    async fn cancelling_removes_the_runs_tasks_and_is_harmless_twice() {
        let (store, control, clock, arn) = running().await;
        assert!(!store.all_tasks().is_empty());
        let first = handle(&store, &control, &clock, event(Some("u1"), &arn))
            .await
            .unwrap();
        assert_eq!(first.status_code, 200);
        assert!(store.all_tasks().is_empty());
        assert_eq!(
            store.get_goal("g1").await.unwrap().unwrap().status,
            GoalStatus::Draft
        );
        assert_eq!(
            store.get_execution(&arn).await.unwrap().unwrap().status,
            ExecutionStatus::Aborted
        );
        assert_eq!(
            control.recorded()[0].description.status,
            ExecutionStatus::Aborted
        );
        let second = handle(&store, &control, &clock, event(Some("u1"), &arn))
            .await
            .unwrap();
        assert_eq!(second.status_code, 200);
    }

    #[tokio::test]
    async fn cancelling_a_finished_run_is_a_conflict() {
        let (store, control, clock, arn) = running().await;
        let end = RunEnd {
            status: ExecutionStatus::Succeeded,
            goal_status: GoalStatus::Active,
            at: clock.now(),
            error: None,
            cause: None,
            alert: None,
        };
        store.finish_run(&arn, &end).await.unwrap();
        let r = handle(&store, &control, &clock, event(Some("u1"), &arn))
            .await
            .unwrap();
        assert_eq!(r.status_code, 409);
        assert!(!store.all_tasks().is_empty());
    }

    #[tokio::test]
    async fn only_the_owner_may_cancel() {
        let (store, control, clock, arn) = running().await;
        for (event, status) in [
            (event(Some("u2"), &arn), 404),
            (event(None, &arn), 401),
            (event(Some("u1"), "arn:none"), 404),
        ] {
            assert_eq!(
                handle(&store, &control, &clock, event)
                    .await
                    .unwrap()
                    .status_code,
                status
            );
        }
        assert!(handle(&store, &control, &clock, json!("x")).await.is_err());
    }
}
