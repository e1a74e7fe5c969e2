//! Cancelling a run part way: once a batch has saved its tasks, through the API, as the page does.

use std::time::Duration;

use serde_json::Value;
use sfn_local::stack::LocalStack;

/// Waits until some of the run's tasks are saved (polling every second), then cancels the run
/// for `user` through the API and answers what the cancel answered.
pub async fn cancel_once_tasks_are_saved(stack: &LocalStack, user: &str, arn: &str) -> Value {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let saved = stack.store.list_execution_tasks(arn).await;
        if saved.is_ok_and(|t| !t.is_empty()) {
            break;
        }
    }
    stack
        .api("cancel", user, &[("executionArn", arn)], None)
        .await
}
