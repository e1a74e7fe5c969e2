//! The functions' logs hold ids and counts, never the user's text: goals and actions whose every
//! title and description carries a marker go through runs that succeed, fail actions, retry
//! them, are cancelled and are refused at the start, with every log line of every level captured
//! as the functions write it (JSON, with the invocation's span), and the marker is in none.

use std::io::Write;
use std::sync::{Arc, Mutex};

use asl_interpreter::VirtualClock;
use serde_json::Value;
use sfn_local::stack::LocalStack;
use shared::examples::{example_goal, mark, seed};

const MARKER: &str = "ZQXMARKERQXZ";

/// Every log line written, shared by the subscriber's writers.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut all) = self.0.lock() {
            all.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        let all = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&all)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Seeds goal `goal_id` with `n` actions whose texts all carry the marker; the actions at
/// `failing` fail for good.
async fn seeded(stack: &LocalStack, goal_id: &str, n: usize, failing: &[usize]) {
    let (mut goal, mut actions) = example_goal(goal_id, "u", n, chrono::Utc::now());
    goal.title = format!("{MARKER} goal");
    for action in &mut actions {
        action.title = format!("{MARKER} {}", action.title);
        action.description = format!("{MARKER} {}", action.description);
    }
    mark(&mut actions, failing.iter().copied(), "[fail]");
    seed(stack.store.as_ref(), &goal, &actions)
        .await
        .expect("seed");
}

#[tokio::test(start_paused = true)]
async fn no_log_line_holds_the_users_text() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_current_span(true)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let stack = LocalStack::new(Arc::new(VirtualClock::default()), None).expect("the stack");

    // A run with failed actions, then the retry of those.
    seeded(&stack, "g-partial", 16, &[2, 9]).await;
    let arn = stack.start("u", "g-partial").await.expect("start");
    stack.execute(&arn).await.expect("the run executes");
    let retry = stack
        .api("retry-failed", "u", &[("executionArn", &arn)], None)
        .await;
    assert_eq!(retry["statusCode"], 202, "{retry}");
    let retry_arn = retry["body"]["executionArn"]
        .as_str()
        .expect("the retry's run")
        .to_owned();
    stack.execute(&retry_arn).await.expect("the retry executes");
    let status = stack
        .api("get-status", "u", &[("executionArn", &arn)], None)
        .await;
    assert_eq!(status["statusCode"], 200, "{status}");

    // A run cancelled before it runs.
    seeded(&stack, "g-cancelled", 8, &[]).await;
    let arn = stack.start("u", "g-cancelled").await.expect("start");
    let cancel = stack
        .api("cancel", "u", &[("executionArn", &arn)], None)
        .await;
    assert_eq!(cancel["statusCode"], 200, "{cancel}");

    // A goal whose text is too long is refused at the start.
    let (goal, mut actions) = example_goal("g-refused", "u", 2, chrono::Utc::now());
    actions[0].title = MARKER.repeat(20);
    seed(stack.store.as_ref(), &goal, &actions)
        .await
        .expect("seed");
    let refused = stack
        .api("start-workflow", "u", &[("goalId", "g-refused")], None)
        .await;
    assert_eq!(refused["statusCode"], 400, "{refused}");

    let lines = captured.lines();
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("a JSON log line"))
        .collect();
    let said = |message: &str| {
        parsed
            .iter()
            .filter(|l| l["fields"]["message"] == message)
            .count()
    };
    assert!(said("invocation succeeded") > 20, "{lines:#?}");
    assert!(said("invocation failed") >= 1, "{lines:#?}");
    let leaks: Vec<&String> = lines.iter().filter(|l| l.contains(MARKER)).collect();
    assert!(leaks.is_empty(), "{leaks:#?}");
}
