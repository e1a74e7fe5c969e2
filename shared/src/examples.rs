//! Example goals: the shipped 64-action goal the local run processes by default, and smaller ones
//! for tests and the local API.

use crate::capacity::ModelQuota;
use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::encodings::Body;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::api::{start_activity, StartResponse};
use crate::error::{DomainError, StoreError};
use crate::memory::{InMemoryExecutions, InMemoryStore};
use crate::metrics::{NoMetrics, RecordingMetrics};
use crate::ports::{ManualClock, Store};
use crate::records::{Action, ExecutionStatus, Goal, GoalStatus, Task, WorkflowExecution};

const SUB_GOALS: [(&str, [&str; 8]); 8] = [
    (
        "Health",
        [
            "Run 5 km three times a week",
            "Sleep seven hours a night",
            "Cook at home five days a week",
            "Drink two litres of water daily",
            "Stretch for ten minutes each morning",
            "Book a yearly health check",
            "Cut sugary drinks",
            "Walk 8,000 steps a day",
        ],
    ),
    (
        "Career",
        [
            "Finish the cloud certification",
            "Ship one internal tool",
            "Ask for feedback every month",
            "Mentor a new colleague",
            "Write a design document",
            "Speak at a team meetup",
            "Automate a weekly report",
            "Update the CV",
        ],
    ),
    (
        "Learning",
        [
            "Read one book a month",
            "Practise Japanese 20 minutes a day",
            "Take an online statistics course",
            "Write a blog post each month",
            "Learn touch typing",
            "Solve one algorithm puzzle a week",
            "Watch one lecture a week",
            "Keep a learning journal",
        ],
    ),
    (
        "Finance",
        [
            "Save 15 % of income",
            "Track every expense for a month",
            "Build a three-month emergency fund",
            "Review subscriptions",
            "Open a retirement account",
            "Set a monthly budget",
            "Pay off the credit card",
            "Learn the basics of investing",
        ],
    ),
    (
        "Relationships",
        [
            "Call parents every Sunday",
            "Plan a monthly dinner with friends",
            "Write birthday cards by hand",
            "Join a local club",
            "Plan a weekend trip with family",
            "Reconnect with an old friend",
            "Volunteer once a month",
            "Listen without checking the phone",
        ],
    ),
    (
        "Home",
        [
            "Declutter one room a month",
            "Fix the leaking tap",
            "Start a small herb garden",
            "Set up a cleaning rota",
            "Organise important documents",
            "Repaint the study",
            "Plan weekly menus",
            "Donate unused clothes",
        ],
    ),
    (
        "Creativity",
        [
            "Sketch for 15 minutes a day",
            "Learn three songs on guitar",
            "Take a photography walk weekly",
            "Write a short story",
            "Try a pottery class",
            "Keep an idea notebook",
            "Edit a short video",
            "Visit a gallery each month",
        ],
    ),
    (
        "Mindset",
        [
            "Meditate ten minutes a day",
            "Write three gratitudes nightly",
            "Limit social media to 30 minutes",
            "Review goals every Sunday",
            "Practise saying no",
            "Take a digital-free day monthly",
            "Read something uplifting daily",
            "Celebrate small wins",
        ],
    ),
];

/// A goal of `8 x 8` actions at most: the first `count` actions of the example, in order.
pub fn example_goal(
    goal_id: &str,
    user_id: &str,
    count: usize,
    now: DateTime<Utc>,
) -> (Goal, Vec<Action>) {
    let goal = Goal {
        goal_id: goal_id.to_owned(),
        user_id: user_id.to_owned(),
        title: "Become a healthier, calmer and more skilled version of myself this year".to_owned(),
        status: GoalStatus::Draft,
        current_execution_arn: None,
        updated_at: now,
        completed_at: None,
    };
    let actions = SUB_GOALS
        .iter()
        .enumerate()
        .flat_map(|(s, (sub_goal, titles))| {
            titles
                .iter()
                .enumerate()
                .map(move |(a, title)| (s, a, *sub_goal, *title))
        })
        .take(count)
        .map(|(s, a, sub_goal, title)| Action {
            goal_id: goal_id.to_owned(),
            action_id: format!("{goal_id}-a{s}{a}"),
            sub_goal_id: format!("{goal_id}-s{s}"),
            position: (s * 8 + a) as u32,
            title: title.to_owned(),
            description: format!("Sub-goal: {sub_goal}."),
        })
        .collect();
    (goal, actions)
}

/// Stores a goal and its actions.
pub async fn seed(store: &dyn Store, goal: &Goal, actions: &[Action]) -> Result<(), StoreError> {
    store.put_goal(goal).await?;
    store.put_actions(actions).await
}

/// Marks the actions at `positions` with the offline generator's `marker` (`[fail]`,
/// `[flaky:N]`), to make a goal that exercises the failure paths.
pub fn mark(actions: &mut [Action], positions: impl IntoIterator<Item = usize>, marker: &str) {
    for p in positions {
        if let Some(a) = actions.get_mut(p) {
            a.title = format!("{} {marker}", a.title);
        }
    }
}

/// `n` tasks of `run` for action `action_id`, as generate-tasks would number them.
pub fn example_tasks(
    run: &WorkflowExecution,
    action_id: &str,
    n: u32,
    created_at: DateTime<Utc>,
) -> Vec<Task> {
    (0..n)
        .map(|i| Task {
            task_id: crate::naming::task_id(&run.execution_arn, action_id, i),
            goal_id: run.goal_id.clone(),
            action_id: action_id.to_owned(),
            execution_arn: run.execution_arn.clone(),
            position: i,
            title: format!("task {i}"),
            description: format!("what task {i} does"),
            estimated_minutes: 15,
            created_at,
        })
        .collect()
}

/// Seeds an example goal of `count` actions and begins a run for it, as start-workflow would:
/// what the step handlers' tests start from.
pub async fn started_run(
    store: &dyn Store,
    goal_id: &str,
    user_id: &str,
    count: usize,
    now: DateTime<Utc>,
) -> Result<(WorkflowExecution, Vec<Action>), StoreError> {
    let (goal, actions) = example_goal(goal_id, user_id, count, now);
    seed(store, &goal, &actions).await?;
    let name = crate::naming::execution_name(goal_id, "test");
    let arn = crate::naming::execution_arn(EXAMPLE_STATE_MACHINE_ARN, &name);
    let run = WorkflowExecution::started(arn, name, &goal, "test".to_owned(), now);
    store.begin_run(&run, ModelQuota::default()).await?;
    Ok((run, actions))
}

/// Begins a retry of `source` (a run [`started_run`] began) once its goal has ended partial with
/// `latest` as its latest run: what [`Store::begin_run`] answers.
pub async fn begin_retry_after(
    store: &dyn Store,
    source: &WorkflowExecution,
    latest: &str,
) -> Result<(), StoreError> {
    let mut goal = store
        .get_goal(&source.goal_id)
        .await?
        .ok_or_else(|| StoreError::Other(format!("no goal {}", source.goal_id)))?;
    goal.status = GoalStatus::Partial;
    goal.current_execution_arn = Some(latest.to_owned());
    store.put_goal(&goal).await?;
    let key = crate::api::retry_key(&source.execution_name);
    let name = crate::naming::execution_name(&goal.goal_id, &key);
    let arn = crate::naming::execution_arn(EXAMPLE_STATE_MACHINE_ARN, &name);
    let retry =
        WorkflowExecution::started(arn, name, &goal, key, source.started_at).retrying(source);
    store.begin_run(&retry, ModelQuota::default()).await
}

/// The run the sample events in `events/` are about.
pub const SAMPLE_RUN_ARN: &str =
    "arn:aws:states:us-east-1:123456789012:execution:StartActivity:goal-demo-run-1";

/// What the sample events describe: goal-demo of user-demo (3 actions), processed by the sample
/// run since the samples' start date.
pub async fn sample_run(store: &dyn Store) -> Result<WorkflowExecution, StoreError> {
    let start = DateTime::from_timestamp_millis(1_795_514_400_000).unwrap_or_default();
    let (goal, actions) = example_goal("goal-demo", "user-demo", 3, start);
    seed(store, &goal, &actions).await?;
    let run = WorkflowExecution::started(
        SAMPLE_RUN_ARN.into(),
        "goal-demo-run-1".into(),
        &goal,
        "9b2f6c1e-start-1".into(),
        start,
    );
    store.begin_run(&run, ModelQuota::default()).await?;
    Ok(run)
}

/// The status-change samples in `events/` (by file stem) and what finalising each leaves: the
/// run's status and error, and the goal's status.
pub const SAMPLE_STATUS_CHANGES: [(&str, ExecutionStatus, &str, GoalStatus); 3] = [
    (
        "finalize-execution",
        ExecutionStatus::TimedOut,
        "States.Timeout",
        GoalStatus::Failed,
    ),
    (
        "finalize-execution-failed",
        ExecutionStatus::Failed,
        "States.Runtime",
        GoalStatus::Failed,
    ),
    (
        "finalize-execution-aborted",
        ExecutionStatus::Aborted,
        "ExecutionAborted",
        GoalStatus::Draft,
    ),
];

/// The state machine ARN local runs and tests use.
pub const EXAMPLE_STATE_MACHINE_ARN: &str =
    "arn:aws:states:us-east-1:123456789012:stateMachine:StartActivity";

/// Goal "g1" of user "u1" in the in-memory store, with in-memory executions, a manual clock and
/// recorded metrics: where the API's tests start, watch, cancel and retry runs.
pub struct ApiWorld {
    pub store: InMemoryStore,
    pub control: InMemoryExecutions,
    pub clock: ManualClock,
    pub metrics: RecordingMetrics,
}

impl ApiWorld {
    /// The goal with `actions` example actions, in `draft`.
    pub async fn new(actions: usize) -> Result<Self, StoreError> {
        let store = InMemoryStore::new();
        let now = Utc::now();
        let (goal, actions) = example_goal("g1", "u1", actions, now);
        seed(&store, &goal, &actions).await?;
        Ok(Self {
            store,
            control: InMemoryExecutions::new(EXAMPLE_STATE_MACHINE_ARN, Utc::now),
            clock: ManualClock::new(now),
            metrics: RecordingMetrics::default(),
        })
    }

    /// Starts a run of the goal for its owner with the idempotency `key`.
    pub async fn start(&self, key: &str) -> Result<StartResponse, DomainError> {
        start_activity(
            &self.store,
            &self.control,
            &self.clock,
            &NoMetrics,
            "u1",
            "g1",
            Some(key),
            crate::capacity::ModelQuota::default(),
        )
        .await
    }
}

/// The JSON a handler's response carries: null for none, and a body that is not JSON as a string.
pub fn response_json(response: &ApiGatewayV2httpResponse) -> Value {
    match &response.body {
        Some(Body::Text(text)) => {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
        }
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_has_sixty_four_distinct_actions_in_order() {
        let (_, actions) = example_goal("g", "u", 64, Utc::now());
        assert_eq!(actions.len(), 64);
        assert!(actions.windows(2).all(|w| w[0].position < w[1].position));
        let ids: std::collections::HashSet<_> = actions.iter().map(|a| &a.action_id).collect();
        assert_eq!(ids.len(), 64);
    }
}
