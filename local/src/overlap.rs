//! Runs that overlap: several users start a goal at the same moment, and their runs share the
//! functions' reserved concurrency (the model quota) while they execute together.

use std::sync::Arc;
use std::time::Duration;

use asl_interpreter::clock::Clock;
use serde::Serialize;
use serde_json::Value;

use crate::example::ExampleGoal;
use crate::stack::{LocalStack, RunReport};

/// One of the overlapping runs: what start answered, and the run's report when it started.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OverlappingRun {
    pub user_id: String,
    pub goal_id: String,
    /// The execution's final status, or `REFUSED` when start did not start it.
    pub status: String,
    /// Start's last HTTP status: 202 for a started run.
    pub start_status_code: u16,
    /// Starts refused for capacity (429) before this one was started, each retried after its
    /// `Retry-After`, as a client does.
    pub starts_refused: u32,
    /// Seconds from the first start request to the run's start.
    pub waited_seconds: f64,
    pub total_actions: u32,
    pub actions_succeeded: u32,
    pub actions_failed: u32,
    /// The run's report when it started.
    pub run: Option<RunReport>,
}

/// What the overlapping runs did together.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OverlappingRuns {
    pub runs: Vec<OverlappingRun>,
    /// From the first start to the last run's end, on the stack's clock.
    pub makespan_seconds: f64,
    /// Invocations Lambda refused because a function's reserved concurrency was all in use.
    pub throttled_invocations: u64,
    pub state_transitions: u64,
}

impl OverlappingRuns {
    pub fn started(&self) -> usize {
        self.runs.iter().filter(|r| r.run.is_some()).count()
    }

    /// Whether every run started finished with all its actions.
    pub fn all_started_complete(&self) -> bool {
        self.runs
            .iter()
            .filter(|r| r.run.is_some())
            .all(|r| r.status == "SUCCEEDED" && r.actions_succeeded == r.total_actions)
    }
}

/// The user and goal of overlapping run `i` (from 1).
pub fn user_and_goal(i: usize) -> (String, String) {
    (format!("user-{i}"), format!("goal-example-{i}"))
}

/// Seeds `n` copies of `goal`, one per user, sends all their start requests at the same moment
/// through the start-workflow handler, and executes the runs together to their ends. A start
/// refused for capacity (429) is sent again after its `Retry-After`, as a client does.
pub async fn run_overlapping(
    stack: Arc<LocalStack>,
    clock: Arc<dyn Clock>,
    goal: &ExampleGoal,
    n: usize,
) -> Result<OverlappingRuns, String> {
    let begun = clock.now();
    for i in 1..=n {
        let (user, goal_id) = user_and_goal(i);
        stack.seed_example(goal, &user, &goal_id, begun).await?;
    }
    let mut runs = tokio::task::JoinSet::new();
    for i in 1..=n {
        let (stack, clock) = (stack.clone(), clock.clone());
        runs.spawn(async move {
            let (user, goal_id) = user_and_goal(i);
            let mut refused = 0;
            loop {
                let answer = stack
                    .api("start-workflow", &user, &[("goalId", &goal_id)], None)
                    .await;
                let retry_after = answer["headers"]["retry-after"]
                    .as_str()
                    .and_then(|s| s.parse::<u64>().ok());
                match (answer["statusCode"].as_u64(), retry_after) {
                    (Some(429), Some(seconds)) => {
                        refused += 1;
                        clock.sleep(Duration::from_secs(seconds)).await;
                    }
                    _ => {
                        let waited = clock.now() - begun;
                        let run = match answer["body"]["executionArn"].as_str() {
                            Some(arn) if answer["statusCode"] == 202 => {
                                let result = stack.execute(arn).await?;
                                Some((stack.report(arn, &result).await, result))
                            }
                            _ => None,
                        };
                        return Ok::<_, String>((i, user, goal_id, answer, refused, waited, run));
                    }
                }
            }
        });
    }
    let mut finished = Vec::with_capacity(n);
    let mut state_transitions = 0;
    let mut ended = begun;
    while let Some(joined) = runs.join_next().await {
        let (i, user, goal_id, answer, refused, waited, run) =
            joined.map_err(|e| format!("a run's task failed: {e}"))??;
        let report = run.map(|(report, result)| {
            state_transitions += result.transitions;
            ended = ended.max(result.stopped_at);
            report
        });
        let mut run = overlapping_run(user, goal_id, &answer, report);
        run.starts_refused = refused;
        run.waited_seconds = waited.num_milliseconds() as f64 / 1000.0;
        finished.push((i, run));
    }
    finished.sort_by_key(|(i, _)| *i);
    let runs = finished.into_iter().map(|(_, run)| run).collect();
    Ok(OverlappingRuns {
        runs,
        makespan_seconds: (ended - begun).num_milliseconds() as f64 / 1000.0,
        throttled_invocations: stack.throttled_invocations(),
        state_transitions,
    })
}

fn overlapping_run(
    user_id: String,
    goal_id: String,
    answer: &Value,
    run: Option<RunReport>,
) -> OverlappingRun {
    let start_status_code = answer["statusCode"]
        .as_u64()
        .and_then(|c| u16::try_from(c).ok())
        .unwrap_or_default();
    OverlappingRun {
        user_id,
        goal_id,
        status: run
            .as_ref()
            .map_or_else(|| "REFUSED".to_owned(), |r| r.status.clone()),
        start_status_code,
        starts_refused: 0,
        waited_seconds: 0.0,
        total_actions: run.as_ref().map_or(0, |r| r.total_actions),
        actions_succeeded: run.as_ref().map_or(0, |r| r.actions_succeeded),
        actions_failed: run.as_ref().map_or(0, |r| r.actions_failed),
        run,
    }
}
