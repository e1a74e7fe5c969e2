//! Whole-workflow scenarios: the real definition, the real handlers, the in-memory store, on the
//! virtual clock.

mod mid_run;

use std::sync::Arc;
use std::time::{Duration, Instant};

use asl_interpreter::{ExecutionResult, ExecutionStatus, VirtualClock};
use sfn_local::latency::Latency;
use sfn_local::stack::LocalStack;
use shared::examples::{example_goal, mark, seed};
use shared::records::{ExecutionStatus as RecordStatus, GoalStatus};

fn stack(latency: Option<Latency>) -> LocalStack {
    LocalStack::new(Arc::new(VirtualClock::default()), latency).expect("the definition loads")
}

/// Every generate-tasks call takes `seconds` of virtual time.
fn ai_latency(seconds: u64) -> Latency {
    Box::new(move |f: &str| {
        if f.ends_with("generate-tasks") {
            Duration::from_secs(seconds)
        } else {
            Duration::ZERO
        }
    })
}

/// Milliseconds the run took on the virtual clock.
fn simulated_ms(result: &ExecutionResult) -> i64 {
    (result.stopped_at - result.started_at).num_milliseconds()
}

/// Runs a started execution to its end and prints its wall and simulated time: the ratio is what
/// the virtual clock buys, and a jump in wall time points at a slowdown in the executor.
async fn timed_run(s: &LocalStack, name: &str, arn: &str) -> ExecutionResult {
    let wall = Instant::now();
    let result = s.execute(arn).await.expect("the started run executes");
    eprintln!(
        "{name}: wall {:.3} s, simulated {:.1} s",
        wall.elapsed().as_secs_f64(),
        simulated_ms(&result) as f64 / 1000.0
    );
    result
}

async fn seeded(
    stack: &LocalStack,
    goal_id: &str,
    user: &str,
    n: usize,
    failing: &[usize],
) -> Vec<String> {
    let (goal, mut actions) = example_goal(goal_id, user, n, chrono::Utc::now());
    mark(&mut actions, failing.iter().copied(), "[fail]");
    seed(stack.store.as_ref(), &goal, &actions)
        .await
        .expect("seed");
    actions.into_iter().map(|a| a.action_id).collect()
}

#[tokio::test(start_paused = true)]
async fn all_actions_succeed() {
    let s = stack(Some(ai_latency(5)));
    seeded(&s, "g", "u", 64, &[]).await;
    let arn = s.start("u", "g").await.expect("start");
    let result = timed_run(&s, "all_actions_succeed", &arn).await;
    assert_eq!(
        result.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        result.cause
    );
    assert_eq!(
        simulated_ms(&result),
        15_000,
        "8 batches at once, 3 actions of each at a time: three rounds of 5 s model calls"
    );
    assert!(
        result.transitions <= 96,
        "{} transitions",
        result.transitions
    );
    let record = s
        .store
        .get_execution(&arn)
        .await
        .expect("get")
        .expect("record");
    assert_eq!(
        (
            record.status,
            record.progress_percent,
            record.processed_actions
        ),
        (RecordStatus::Succeeded, 100, 64)
    );
    assert_eq!(record.eta_seconds, Some(0));
    let goal = s.store.get_goal("g").await.expect("get").expect("goal");
    assert_eq!(
        (goal.status, goal.completed_at.is_some()),
        (GoalStatus::Active, true)
    );
    let tasks = s.store.list_execution_tasks(&arn).await.expect("tasks");
    let with_tasks: std::collections::HashSet<_> = tasks.iter().map(|t| &t.action_id).collect();
    assert_eq!(with_tasks.len(), 64);
    let status = s
        .api("get-status", "u", &[("executionArn", &arn)], None)
        .await;
    assert_eq!(
        (
            status["statusCode"].as_i64(),
            status["body"]["progressPercent"].as_i64()
        ),
        (Some(200), Some(100))
    );
}

#[tokio::test(start_paused = true)]
async fn partial_failure_keeps_successes_and_lists_exactly_the_failures() {
    let s = stack(Some(ai_latency(3)));
    let ids = seeded(&s, "g", "u", 20, &[2, 9, 17]).await;
    let arn = s.start("u", "g").await.expect("start");
    let result = timed_run(&s, "partial_failure", &arn).await;
    assert_eq!(result.status, ExecutionStatus::Succeeded);
    assert_eq!(
        simulated_ms(&result),
        3_000,
        "3 batches at once, all 8 actions of each at once, and the failed actions are not retried"
    );
    let record = s
        .store
        .get_execution(&arn)
        .await
        .expect("get")
        .expect("record");
    let mut failed: Vec<_> = record
        .failed_actions
        .iter()
        .map(|f| f.action_id.clone())
        .collect();
    failed.sort();
    let mut expected = vec![ids[2].clone(), ids[9].clone(), ids[17].clone()];
    expected.sort();
    assert_eq!(failed, expected);
    assert!(record
        .failed_actions
        .iter()
        .all(|f| f.error == "PermanentError"));
    let saved: std::collections::HashSet<_> = s
        .store
        .list_execution_tasks(&arn)
        .await
        .expect("tasks")
        .into_iter()
        .map(|t| t.action_id)
        .collect();
    assert_eq!(saved.len(), 17);
    assert!(!saved.contains(&ids[2]) && !saved.contains(&ids[9]) && !saved.contains(&ids[17]));
    assert_eq!(
        s.store.get_goal("g").await.expect("get").map(|g| g.status),
        Some(GoalStatus::Partial)
    );
    assert!(s.notifier.alerts().is_empty());
}

#[tokio::test(start_paused = true)]
async fn all_failing_fails_the_goal_and_alerts() {
    let s = stack(None);
    seeded(&s, "g", "u", 10, &(0..10).collect::<Vec<_>>()).await;
    let arn = s.start("u", "g").await.expect("start");
    let result = timed_run(&s, "all_failing", &arn).await;
    // Calls take no virtual time here, so any wait would be a retry of a permanent failure.
    assert_eq!(simulated_ms(&result), 0);
    let record = s
        .store
        .get_execution(&arn)
        .await
        .expect("get")
        .expect("record");
    assert_eq!(
        (record.status, record.failed_count),
        (RecordStatus::Failed, 10)
    );
    assert_eq!(
        s.store.get_goal("g").await.expect("get").map(|g| g.status),
        Some(GoalStatus::Failed)
    );
    assert_eq!(s.notifier.alerts().len(), 1);
    assert!(s
        .store
        .list_execution_tasks(&arn)
        .await
        .expect("tasks")
        .is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_run_over_fifteen_minutes_times_out_and_is_finalised() {
    // Slow saves: three rounds of model calls and then the batches' saves end past the 900 s limit.
    let slow: Latency = Box::new(|f: &str| match f {
        f if f.ends_with("generate-tasks") => Duration::from_secs(60),
        f if f.ends_with("save-tasks") => Duration::from_secs(800),
        _ => Duration::ZERO,
    });
    let s = stack(Some(slow));
    seeded(&s, "g", "u", 64, &[]).await;
    let arn = s.start("u", "g").await.expect("start");
    let result = timed_run(&s, "timeout", &arn).await;
    assert_eq!(result.status, ExecutionStatus::TimedOut);
    assert_eq!((result.stopped_at - result.started_at).num_seconds(), 900);
    let record = s
        .store
        .get_execution(&arn)
        .await
        .expect("get")
        .expect("record");
    assert_eq!(
        (record.status, record.error.as_deref()),
        (RecordStatus::TimedOut, Some("States.Timeout"))
    );
    assert_eq!(
        s.store.get_goal("g").await.expect("get").map(|g| g.status),
        Some(GoalStatus::Failed)
    );
    assert_eq!(s.notifier.alerts().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn concurrent_runs_for_different_goals_stay_apart() {
    let s = stack(Some(ai_latency(4)));
    let mut arns = Vec::new();
    // 8, 16 and 24 actions at once hold 8 + 16 = 24 model calls and then 24 more: the quota
    // (24) has room for the first two; the third is told when to come back.
    for i in 0..3 {
        seeded(
            &s,
            &format!("g{i}"),
            &format!("u{i}"),
            8 + i * 8,
            if i == 1 { &[1] } else { &[] },
        )
        .await;
    }
    for i in 0..2 {
        arns.push(
            s.start(&format!("u{i}"), &format!("g{i}"))
                .await
                .expect("start"),
        );
    }
    let refused = s
        .api("start-workflow", "u2", &[("goalId", "g2")], None)
        .await;
    assert_eq!(refused["statusCode"], 429, "{refused}");
    assert!(refused["headers"]["retry-after"].as_str().is_some());
    // All runs progress together on the one runtime.
    let names: Vec<String> = (0..arns.len())
        .map(|i| format!("concurrent g{i}"))
        .collect();
    let results = futures::future::join_all(
        arns.iter()
            .zip(&names)
            .map(|(arn, name)| timed_run(&s, name, arn)),
    )
    .await;
    for (i, (arn, result)) in arns.iter().zip(results).enumerate() {
        assert_eq!(result.status, ExecutionStatus::Succeeded);
        // Run i has i + 1 batches, all at once, all 8 actions of each at once: one round of 4 s.
        assert_eq!(simulated_ms(&result), 4_000, "run g{i}");
        let record = s
            .store
            .get_execution(arn)
            .await
            .expect("get")
            .expect("record");
        assert_eq!(
            (record.goal_id.clone(), record.total_actions as usize),
            (format!("g{i}"), 8 + i * 8)
        );
        let tasks = s.store.list_execution_tasks(arn).await.expect("tasks");
        assert!(tasks.iter().all(|t| t.goal_id == format!("g{i}")));
        let expected = if i == 1 {
            GoalStatus::Partial
        } else {
            GoalStatus::Active
        };
        assert_eq!(
            s.store
                .get_goal(&format!("g{i}"))
                .await
                .expect("get")
                .map(|g| g.status),
            Some(expected)
        );
    }
    // Their ends gave the quota back: the refused goal starts, its 3 batches all 8 at a time.
    let arn = s.start("u2", "g2").await.expect("start after the others");
    let result = timed_run(&s, "concurrent g2", &arn).await;
    assert_eq!(result.status, ExecutionStatus::Succeeded);
    assert_eq!(simulated_ms(&result), 4_000);
}

#[tokio::test(start_paused = true)]
async fn cancelling_mid_run_removes_its_tasks_and_returns_the_goal_to_draft() {
    // Batches of 8, 8, 8, 8 and 4, 4 actions of each at a time: the batch of 4 is saved after one
    // round of 10 s calls, the others after two.
    let s = stack(Some(ai_latency(10)));
    seeded(&s, "g", "u", 36, &[]).await;
    let arn = s.start("u", "g").await.expect("start");
    let cancel = mid_run::cancel_once_tasks_are_saved(&s, "u", &arn);
    let (result, answer) = tokio::join!(timed_run(&s, "cancel", &arn), cancel);
    assert_eq!(answer["statusCode"].as_i64(), Some(200), "{answer}");
    assert_eq!(result.status, ExecutionStatus::Aborted);
    // Stopped after the first saved tasks and before the 20 s the whole run takes.
    let simulated = simulated_ms(&result);
    assert!((10_000..20_000).contains(&simulated), "{simulated} ms");
    let record = s
        .store
        .get_execution(&arn)
        .await
        .expect("get")
        .expect("record");
    assert_eq!(record.status, RecordStatus::Aborted);
    assert!(record.processed_actions < 36);
    assert!(s
        .store
        .list_execution_tasks(&arn)
        .await
        .expect("tasks")
        .is_empty());
    assert_eq!(
        s.store.get_goal("g").await.expect("get").map(|g| g.status),
        Some(GoalStatus::Draft)
    );
    let again = s.api("cancel", "u", &[("executionArn", &arn)], None).await;
    assert_eq!(again["statusCode"].as_i64(), Some(200));
}
