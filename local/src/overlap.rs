//! Runs that overlap: several users start a goal at the same moment, and their runs share the
//! functions' reserved concurrency (the model quota) while they execute together.

use std::sync::Arc;

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
    /// Start's HTTP status: 202 for a started run.
    pub start_status_code: u16,
    /// Start's `Retry-After`, in seconds, when it refused the run for capacity.
    pub retry_after_seconds: Option<u64>,
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

/// Seeds `n` copies of `goal`, one per user, starts them all at the same moment through the
/// start-workflow handler, then executes the runs it started together to their ends.
pub async fn run_overlapping(
    stack: Arc<LocalStack>,
    clock: &dyn Clock,
    goal: &ExampleGoal,
    n: usize,
) -> Result<OverlappingRuns, String> {
    let begun = clock.now();
    for i in 1..=n {
        let (user, goal_id) = user_and_goal(i);
        stack.seed_example(goal, &user, &goal_id, begun).await?;
    }
    let mut answers = Vec::with_capacity(n);
    for i in 1..=n {
        let (user, goal_id) = user_and_goal(i);
        let answer = stack
            .api("start-workflow", &user, &[("goalId", &goal_id)], None)
            .await;
        answers.push((user, goal_id, answer));
    }
    let mut executions = tokio::task::JoinSet::new();
    for (i, (_, _, answer)) in answers.iter().enumerate() {
        if let (Some(202), Some(arn)) = (
            answer["statusCode"].as_u64(),
            answer["body"]["executionArn"].as_str(),
        ) {
            let (stack, arn) = (stack.clone(), arn.to_owned());
            executions.spawn(async move {
                let result = stack.execute(&arn).await;
                (i, arn, result)
            });
        }
    }
    let mut reports: Vec<Option<RunReport>> = vec![None; n];
    let mut state_transitions = 0;
    let mut ended = begun;
    while let Some(joined) = executions.join_next().await {
        let (i, arn, result) = joined.map_err(|e| format!("a run's task failed: {e}"))?;
        let result = result?;
        state_transitions += result.transitions;
        ended = ended.max(result.stopped_at);
        reports[i] = Some(stack.report(&arn, &result).await);
    }
    let runs = answers
        .into_iter()
        .zip(reports)
        .map(|((user_id, goal_id, answer), run)| overlapping_run(user_id, goal_id, &answer, run))
        .collect();
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
    let retry_after_seconds = answer["headers"]["retry-after"]
        .as_str()
        .and_then(|s| s.parse().ok());
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
        retry_after_seconds,
        total_actions: run.as_ref().map_or(0, |r| r.total_actions),
        actions_succeeded: run.as_ref().map_or(0, |r| r.actions_succeeded),
        actions_failed: run.as_ref().map_or(0, |r| r.actions_failed),
        run,
    }
}
