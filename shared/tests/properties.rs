//! The ten correctness properties of DESIGN.md section 4, checked at the domain level against the
//! in-memory adapters (the reference semantics every adapter shares).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use shared::api::{cancel_run, start_activity, StatusView};
use shared::batching::{plan_batches, MAX_BATCH_SIZE};
use shared::deadlines::{
    may_start_ai_call, run_overdue, AI_CALL_LIMIT_SECONDS, BATCH_BUDGET_SECONDS, RUN_LIMIT_SECONDS,
};
use shared::examples::{example_goal, mark, seed, started_run, EXAMPLE_STATE_MACHINE_ARN};
use shared::memory::{InMemoryExecutions, InMemoryStore, RecordingNotifier};
use shared::metrics::NoMetrics;
use shared::naming::execution_name;
use shared::offline::OfflineGenerator;
use shared::outcome::{failure_rate_alert, RunOutcome};
use shared::ports::{Clock, ManualClock, Store};
use shared::progress::progress_percent;
use shared::records::{Action, ExecutionStatus, GoalStatus, WorkflowExecution};
use shared::retry::AI_STEP_RETRY;
use shared::steps::{
    ActionResult, AggregateRequest, BatchSummary, GenerateTasksRequest, HandleErrorRequest, RunRef,
    RunSummary, SaveTasksRequest,
};
use shared::{workflow, ErrorCode, ErrorKind};

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a test runtime")
}

fn run_ref(run: &WorkflowExecution) -> RunRef {
    RunRef {
        execution_arn: run.execution_arn.clone(),
        goal_id: run.goal_id.clone(),
        user_id: run.user_id.clone(),
    }
}

/// One batch through GenerateTasks (with the state machine's Catch), SaveTasks and UpdateProgress.
async fn process_batch(
    store: &InMemoryStore,
    clock: &ManualClock,
    run: &RunRef,
    batch_index: u32,
    actions: &[Action],
) -> BatchSummary {
    let generator = OfflineGenerator::new();
    let mut results = Vec::new();
    for action in actions {
        let req = GenerateTasksRequest {
            run: run.clone(),
            batch_started_at: clock.now(),
            action: action.clone(),
            retry_count: 0,
        };
        results.push(
            match workflow::generate_tasks(store, &generator, clock, &NoMetrics, req).await {
                Ok(result) => result,
                Err(e) => ActionResult {
                    action_id: action.action_id.clone(),
                    tasks: Vec::new(),
                    failure: Some(shared::steps::CaughtError {
                        error: e.error_type().to_owned(),
                        cause: e.message,
                    }),
                },
            },
        );
    }
    let save = SaveTasksRequest {
        run: run.clone(),
        batch_index,
        action_results: results,
    };
    let summary = workflow::save_tasks(store, save).await.expect("save");
    workflow::update_progress(store, clock, &NoMetrics, summary)
        .await
        .expect("progress")
}

/// A whole run, batch after batch, ending with UpdateGoalStatus.
async fn process_run(
    store: &InMemoryStore,
    clock: &ManualClock,
    run: &WorkflowExecution,
    actions: &[Action],
) -> RunSummary {
    let run = run_ref(run);
    store
        .set_total_actions(&run.execution_arn, actions.len() as u32)
        .await
        .expect("total");
    let mut batch_results = Vec::new();
    for batch in plan_batches(actions.to_vec()) {
        batch_results
            .push(process_batch(store, clock, &run, batch.batch_index, &batch.actions).await);
    }
    let summary = workflow::aggregate_results(AggregateRequest {
        run,
        total_actions: actions.len() as u32,
        batch_results,
    });
    workflow::update_goal_status(
        store,
        &RecordingNotifier::default(),
        clock,
        &NoMetrics,
        summary.clone(),
    )
    .await
    .expect("goal status");
    summary
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// 1. The same start request never creates a second execution, whatever runs end in between.
    #[test]
    fn p1_idempotent_start(requests in prop::collection::vec((0usize..3, any::<bool>()), 1..12)) {
        let rt = runtime();
        rt.block_on(async {
            let store = InMemoryStore::new();
            let (goal, actions) = example_goal("g1", "u1", 4, t0());
            seed(&store, &goal, &actions).await.expect("seed");
            let clock = ManualClock::new(t0());
            let control = InMemoryExecutions::new(EXAMPLE_STATE_MACHINE_ARN, t0);
            let mut first_answer: BTreeMap<usize, String> = BTreeMap::new();
            for (key, end_after) in requests {
                let key_text = format!("key-{key}");
                clock.advance(Duration::seconds(1));
                match start_activity(&store, &control, &clock, &NoMetrics, "u1", "g1", Some(&key_text)).await {
                    Ok(started) => {
                        let arn = first_answer.entry(key).or_insert_with(|| started.execution_arn.clone());
                        prop_assert_eq!(arn, &started.execution_arn);
                        if end_after && started.status == ExecutionStatus::Running {
                            control.close(&started.execution_arn, ExecutionStatus::Succeeded);
                            cancel_or_finish(&store, &started.execution_arn, &clock).await;
                        }
                    }
                    Err(e) => prop_assert_eq!(e.code, ErrorCode::Conflict),
                }
            }
            let names: Vec<String> = control.recorded().iter()
                .map(|e| e.description.execution_arn.clone()).collect();
            let distinct: HashSet<&String> = names.iter().collect();
            prop_assert_eq!(distinct.len(), names.len());
            prop_assert!(names.len() <= 3);
            Ok(())
        })?;
    }

    /// 1. Distinct requests get distinct execution names.
    #[test]
    fn p1_names_separate_requests(g1 in "[a-z0-9-]{1,40}", g2 in "[a-z0-9-]{1,40}", k1 in ".{1,20}", k2 in ".{1,20}") {
        prop_assume!((g1.as_str(), k1.as_str()) != (g2.as_str(), k2.as_str()));
        prop_assert_ne!(execution_name(&g1, &k1), execution_name(&g2, &k2));
    }

    /// 2. Every action lands in exactly one batch, order kept, no batch over 8, none empty.
    #[test]
    fn p2_batching(n in 0usize..=200) {
        let (_, actions) = example_goal("g", "u", 64, t0());
        let actions: Vec<Action> = (0..n).map(|i| {
            let mut a = actions[i % 64].clone();
            a.action_id = format!("a{i}");
            a.position = i as u32;
            a
        }).collect();
        let batches = plan_batches(actions.clone());
        prop_assert_eq!(batches.len(), n.div_ceil(MAX_BATCH_SIZE));
        for (i, b) in batches.iter().enumerate() {
            prop_assert_eq!(b.batch_index as usize, i);
            prop_assert!(!b.actions.is_empty() && b.actions.len() <= MAX_BATCH_SIZE);
        }
        let flat: Vec<Action> = batches.into_iter().flat_map(|b| b.actions).collect();
        prop_assert_eq!(flat, actions);
    }

    /// 3. The delay before retry n is 2 * 2^(n-1) s, at most 3 retries, only for retryable errors.
    #[test]
    fn p3_retry(n in 0u32..10, retries_so_far in 0u32..10, kind in prop::sample::select(ErrorKind::ALL.to_vec())) {
        match AI_STEP_RETRY.delay_before(n) {
            Some(d) => {
                prop_assert!((1..=3).contains(&n));
                prop_assert_eq!(d.as_secs(), 2 * 2u64.pow(n - 1));
            }
            None => prop_assert!(n == 0 || n > 3),
        }
        prop_assert_eq!(
            AI_STEP_RETRY.retries(kind, retries_so_far),
            kind == ErrorKind::Transient && retries_so_far < 3
        );
    }

    /// 4. No run beyond 15 minutes, no AI call beyond 2, no batch work started past its 5.
    #[test]
    fn p4_deadlines(offset in -60i64..1200) {
        let start = t0();
        let now = start + Duration::seconds(offset);
        if may_start_ai_call(start, now) {
            // A call allowed now ends, at its own time limit, within the batch's budget.
            prop_assert!(offset + AI_CALL_LIMIT_SECONDS <= BATCH_BUDGET_SECONDS);
        } else {
            prop_assert!(offset + AI_CALL_LIMIT_SECONDS > BATCH_BUDGET_SECONDS);
        }
        prop_assert_eq!(run_overdue(start, now), offset > RUN_LIMIT_SECONDS);

        let rt = runtime();
        rt.block_on(async {
            let store = InMemoryStore::new();
            let (run, actions) = started_run(&store, "g", "u", 1, start).await.expect("run");
            let req = GenerateTasksRequest { run: run_ref(&run), batch_started_at: start, action: actions[0].clone(), retry_count: 0 };
            let result = workflow::generate_tasks(&store, &OfflineGenerator::new(), &ManualClock::new(now), &NoMetrics, req).await;
            prop_assert_eq!(result.is_ok(), may_start_ai_call(start, now));
            Ok(())
        })?;
    }

    /// 5. An action's tasks are written all or none; repeated and concurrent saves never duplicate.
    #[test]
    fn p5_atomic_persistence(n in 1usize..=8, repeats in 1usize..5) {
        let rt = runtime();
        rt.block_on(async {
            let store = Arc::new(InMemoryStore::new());
            let (run, actions) = started_run(store.as_ref(), "g", "u", n, t0()).await.expect("run");
            let clock = ManualClock::new(t0());
            let mut results = Vec::new();
            for a in &actions {
                let req = GenerateTasksRequest { run: run_ref(&run), batch_started_at: t0(), action: a.clone(), retry_count: 0 };
                results.push(workflow::generate_tasks(store.as_ref(), &OfflineGenerator::new(), &clock, &NoMetrics, req).await.expect("tasks"));
            }
            let expected: usize = results.iter().map(|r| r.tasks.len()).sum();
            let save = SaveTasksRequest { run: run_ref(&run), batch_index: 0, action_results: results.clone() };
            let handles: Vec<_> = (0..repeats).map(|_| {
                let store = store.clone();
                let save = save.clone();
                tokio::spawn(async move { workflow::save_tasks(store.as_ref(), save).await })
            }).collect();
            let mut written = 0;
            for h in handles {
                let summary = h.await.expect("join").expect("save");
                prop_assert_eq!(summary.succeeded_action_ids.len(), n);
                written += summary.tasks_written as usize;
            }
            prop_assert_eq!(written, expected);
            let stored = store.list_execution_tasks(&run.execution_arn).await.expect("list");
            prop_assert_eq!(stored.len(), expected);
            for r in &results {
                let of_action = stored.iter().filter(|t| t.action_id == r.action_id).count();
                prop_assert!(of_action == 0 || of_action == r.tasks.len());
            }
            Ok(())
        })?;
    }

    /// 6. Progress stays in 0..=100, never goes back under any interleaving of batch updates
    /// (repeated ones included), and is 100 exactly when every action is processed.
    #[test]
    fn p6_progress(n in 1usize..=64, order in prop::collection::vec(any::<prop::sample::Index>(), 0..24)) {
        let rt = runtime();
        rt.block_on(async {
            let store = Arc::new(InMemoryStore::new());
            let (run, actions) = started_run(store.as_ref(), "g", "u", n, t0()).await.expect("run");
            store.set_total_actions(&run.execution_arn, n as u32).await.expect("total");
            let batches = plan_batches(actions);
            // Every batch once, then random repeats, all concurrently.
            let mut updates: Vec<usize> = (0..batches.len()).collect();
            updates.extend(order.iter().map(|i| i.index(batches.len())));
            let observer = {
                let store = store.clone();
                let arn = run.execution_arn.clone();
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    for _ in 0..200 {
                        // What get-status answers: the stored percent lags the counters for a
                        // moment after each batch, the view never does.
                        if let Ok(Some(r)) = store.get_execution(&arn).await {
                            let view = StatusView::of(r, t0());
                            seen.push((view.progress_percent, view.processed_actions));
                        }
                        tokio::task::yield_now().await;
                    }
                    seen
                })
            };
            let handles: Vec<_> = updates.into_iter().map(|b| {
                let store = store.clone();
                let batch = batches[b].clone();
                let run = run_ref(&run);
                tokio::spawn(async move {
                    let summary = BatchSummary {
                        run,
                        batch_index: batch.batch_index,
                        succeeded_action_ids: batch.actions.iter().map(|a| a.action_id.clone()).collect(),
                        failed_actions: Vec::new(),
                        tasks_written: 0,
                    };
                    tokio::task::yield_now().await;
                    workflow::update_progress(store.as_ref(), &ManualClock::new(t0() + Duration::seconds(5)), &NoMetrics, summary).await
                })
            }).collect();
            for h in handles {
                h.await.expect("join").expect("progress");
            }
            let seen = observer.await.expect("join");
            for w in seen.windows(2) {
                prop_assert!(w[0].0 <= w[1].0, "percent went back: {:?}", w);
                prop_assert!(w[0].1 <= w[1].1, "count went back: {:?}", w);
            }
            for (percent, processed) in &seen {
                prop_assert!(*percent <= 100);
                prop_assert_eq!(*percent == 100, *processed as usize == n);
            }
            let last = store.get_execution(&run.execution_arn).await.expect("get").expect("record");
            prop_assert_eq!((last.processed_actions as usize, last.progress_percent), (n, 100));
            Ok(())
        })?;
    }

    /// 6. The percent function itself: bounded, monotone, 100 exactly at the total.
    #[test]
    fn p6_percent_function(total in 1u32..=64, a in 0u32..=64, b in 0u32..=64) {
        let (lo, hi) = (a.min(b), a.max(b));
        prop_assert!(progress_percent(lo, total) <= progress_percent(hi, total));
        prop_assert!(progress_percent(hi, total) <= 100);
        prop_assert_eq!(progress_percent(hi, total) == 100, hi >= total);
    }

    /// 7. Successful actions' tasks are kept, the failed list is exactly the failing actions, and
    /// the goal's status follows the all / some / none rule.
    #[test]
    fn p7_partial_failure(n in 1usize..=24, failing in prop::collection::btree_set(0usize..24, 0..24)) {
        let failing: BTreeSet<usize> = failing.into_iter().filter(|i| *i < n).collect();
        let rt = runtime();
        rt.block_on(async {
            let store = InMemoryStore::new();
            let (goal, mut actions) = example_goal("g", "u", n, t0());
            mark(&mut actions, failing.iter().copied(), "[fail]");
            seed(&store, &goal, &actions).await.expect("seed");
            let control = InMemoryExecutions::new(EXAMPLE_STATE_MACHINE_ARN, t0);
            let clock = ManualClock::new(t0());
            let started = start_activity(&store, &control, &clock, &NoMetrics, "u", "g", Some("k")).await.expect("start");
            let run = store.get_execution(&started.execution_arn).await.expect("get").expect("record");
            let summary = process_run(&store, &clock, &run, &actions).await;

            let failed_ids: BTreeSet<String> = summary.failed_actions.iter().map(|f| f.action_id.clone()).collect();
            let expected_failed: BTreeSet<String> = failing.iter().map(|i| actions[*i].action_id.clone()).collect();
            prop_assert_eq!(&failed_ids, &expected_failed);
            let with_tasks: BTreeSet<String> = store.all_tasks().into_iter().map(|t| t.action_id).collect();
            let expected_ok: BTreeSet<String> = actions.iter().map(|a| a.action_id.clone())
                .filter(|id| !expected_failed.contains(id)).collect();
            prop_assert_eq!(with_tasks, expected_ok);
            let expected_status = match failing.len() {
                0 => GoalStatus::Active,
                f if f == n => GoalStatus::Failed,
                _ => GoalStatus::Partial,
            };
            prop_assert_eq!(RunOutcome::from_counts(n as u32, failing.len() as u32).goal_status(), expected_status);
            let goal = store.get_goal("g").await.expect("get").expect("goal");
            prop_assert_eq!(goal.status, expected_status);
            Ok(())
        })?;
    }

    /// 8. Concurrent runs for different goals never touch each other's records.
    #[test]
    fn p8_isolation(sizes in prop::collection::vec(1usize..=16, 2..6)) {
        let rt = runtime();
        rt.block_on(async {
            let store = Arc::new(InMemoryStore::new());
            let mut handles = Vec::new();
            for (i, n) in sizes.iter().copied().enumerate() {
                let store = store.clone();
                handles.push(tokio::spawn(async move {
                    let goal_id = format!("goal-{i}");
                    let (run, actions) = started_run(store.as_ref(), &goal_id, &format!("user-{i}"), n, t0()).await.expect("run");
                    process_run(store.as_ref(), &ManualClock::new(t0()), &run, &actions).await;
                    (run.execution_arn, goal_id, actions)
                }));
            }
            for h in handles {
                let (arn, goal_id, actions) = h.await.expect("join");
                let record = store.get_execution(&arn).await.expect("get").expect("record");
                prop_assert_eq!(record.goal_id.as_str(), goal_id.as_str());
                prop_assert_eq!(record.processed_actions as usize, actions.len());
                let mine: BTreeSet<&String> = actions.iter().map(|a| &a.action_id).collect();
                let ids: BTreeSet<&String> = record.processed_action_ids.iter().collect();
                prop_assert_eq!(ids, mine.clone());
                for task in store.list_execution_tasks(&arn).await.expect("tasks") {
                    prop_assert!(mine.contains(&task.action_id));
                    prop_assert_eq!(task.goal_id.as_str(), goal_id.as_str());
                }
                let goal = store.get_goal(&goal_id).await.expect("get").expect("goal");
                prop_assert_eq!(goal.current_execution_arn.as_deref(), Some(arn.as_str()));
                prop_assert_eq!(goal.status, GoalStatus::Active);
            }
            Ok(())
        })?;
    }

    /// 9. Every run that ends, however it ends, leaves a record with its final status and times.
    #[test]
    fn p9_history(endings in prop::collection::vec(0u8..4, 1..6)) {
        let rt = runtime();
        rt.block_on(async {
            let store = InMemoryStore::new();
            let clock = ManualClock::new(t0());
            let control = InMemoryExecutions::new(EXAMPLE_STATE_MACHINE_ARN, t0);
            let (goal, mut actions) = example_goal("g", "u", 4, t0());
            seed(&store, &goal, &actions).await.expect("seed");
            for (i, ending) in endings.iter().enumerate() {
                clock.advance(Duration::seconds(30));
                let key = format!("k{i}");
                let started = start_activity(&store, &control, &clock, &NoMetrics, "u", "g", Some(&key)).await.expect("start");
                let run = store.get_execution(&started.execution_arn).await.expect("get").expect("record");
                clock.advance(Duration::seconds(10));
                match ending {
                    0 => { process_run(&store, &clock, &run, &actions).await; }
                    1 => {
                        mark(&mut actions, [0, 1, 2, 3], "[fail]");
                        process_run(&store, &clock, &run, &actions).await;
                        actions = example_goal("g", "u", 4, t0()).1;
                    }
                    2 => {
                        let req = HandleErrorRequest { execution_arn: run.execution_arn.clone(), goal_id: Some("g".into()),
                            error: shared::steps::CaughtError { error: "States.TaskFailed".into(), cause: "x".into() } };
                        workflow::handle_error(&store, &RecordingNotifier::default(), &clock, &NoMetrics, req).await.expect("handle");
                    }
                    _ => { cancel_run(&store, &control, &clock, "u", &run.execution_arn).await.expect("cancel"); }
                }
            }
            let history = store.list_goal_executions("g", usize::MAX, None).await.expect("history").runs;
            prop_assert_eq!(history.len(), endings.len());
            for w in history.windows(2) {
                prop_assert!(w[0].started_at >= w[1].started_at);
            }
            for record in history {
                prop_assert!(record.status.is_final());
                let stopped = record.stopped_at.expect("stop time");
                prop_assert!(stopped >= record.started_at);
                prop_assert!(record.expires_at > record.started_at.timestamp());
            }
            Ok(())
        })?;
    }

    /// 10. The alert fires when the failure rate exceeds 10 %, never at or below it.
    #[test]
    fn p10_alert_threshold(total in 0u64..10_000, failed_share in 0.0f64..=1.0) {
        let failed = (total as f64 * failed_share).floor() as u64;
        let rate_above = total > 0 && (failed as f64 / total as f64) > 0.10 + f64::EPSILON * 4.0;
        let rate_at_or_below = total == 0 || (failed as f64 / total as f64) <= 0.10 - f64::EPSILON * 4.0;
        if rate_above { prop_assert!(failure_rate_alert(failed, total)); }
        if rate_at_or_below { prop_assert!(!failure_rate_alert(failed, total)); }
        // Exactly 10 % never fires.
        prop_assert!(!failure_rate_alert(total / 10, (total / 10) * 10));
    }
}

/// Ends a run the test closed outside the workflow, as the status-change finaliser would.
async fn cancel_or_finish(store: &InMemoryStore, execution_arn: &str, clock: &ManualClock) {
    let end = shared::records::RunEnd {
        status: ExecutionStatus::Succeeded,
        goal_status: GoalStatus::Active,
        at: clock.now(),
        error: None,
        cause: None,
        alert: None,
    };
    store.finish_run(execution_arn, &end).await.expect("finish");
}

#[test]
fn constants_match_the_design() {
    assert_eq!(RUN_LIMIT_SECONDS, 900);
    assert_eq!(AI_CALL_LIMIT_SECONDS, 120);
    assert_eq!(BATCH_BUDGET_SECONDS, 300);
}

#[tokio::test]
async fn generate_then_fail_is_caught_as_a_failed_action() {
    let store = InMemoryStore::new();
    let (run, mut actions) = started_run(&store, "g", "u", 2, t0()).await.expect("run");
    mark(&mut actions, [1], "[fail]");
    let summary = process_batch(&store, &ManualClock::new(t0()), &run_ref(&run), 0, &actions).await;
    assert_eq!(
        summary.succeeded_action_ids,
        vec![actions[0].action_id.clone()]
    );
    assert_eq!(summary.failed_actions[0].error, "PermanentError");
}
