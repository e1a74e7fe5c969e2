//! A goal's actions hold one set of tasks each, whatever sequence of runs it goes through: random
//! sequences of full starts, cancels, time-outs, model failures and retries of the failed actions
//! on one goal, run by the real definition and handlers over the in-memory store, and over
//! DynamoDB on moto, on the virtual clock. After every run, each action holds the tasks of exactly
//! one run (or none), and which one follows from how the run ended.

mod mid_run;
#[cfg(feature = "aws")]
#[path = "../../shared/tests/support/mod.rs"]
mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asl_interpreter::{ExecutionStatus, VirtualClock};
use async_trait::async_trait;
use proptest::prelude::*;
use sfn_local::latency::Latency;
use sfn_local::stack::LocalStack;
use shared::examples::{example_goal, seed};
use shared::memory::InMemoryStore;
use shared::metrics::NoMetrics;
use shared::offline::OfflineGenerator;
use shared::ports::{GeneratedTask, Store, TaskGenerator};
use shared::records::{Action, GoalStatus};
use shared::{DomainError, ErrorCode};

/// Batches of 8, 8, 8 and 4, 6 actions of each at a time: the batch of 4 is saved a round of
/// calls before the others, so a cancel can come part way.
const ACTIONS: usize = 28;

#[derive(Debug, Clone)]
enum Step {
    /// A full start; the model fails for good on the actions the mask picks.
    Start { failing: u32 },
    /// A full start cancelled through the API once its first tasks are saved.
    Cancel,
    /// A full start whose saves are too slow for the 900 s limit.
    TimeOut,
    /// A retry of the latest run's failed actions (refused when it has none).
    Retry { failing: u32 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => any::<u32>().prop_map(|failing| Step::Start { failing }),
        1 => Just(Step::Cancel),
        1 => Just(Step::TimeOut),
        2 => any::<u32>().prop_map(|failing| Step::Retry { failing }),
    ]
}

/// The offline model, failing for good on the actions in `failing`.
#[derive(Default)]
struct Model {
    offline: OfflineGenerator,
    failing: Mutex<HashSet<String>>,
}

#[async_trait]
impl TaskGenerator for Model {
    async fn generate(
        &self,
        goal_title: &str,
        action: &Action,
    ) -> Result<Vec<GeneratedTask>, DomainError> {
        let fails = self
            .failing
            .lock()
            .map(|f| f.contains(&action.action_id))
            .unwrap_or(false);
        if fails {
            return Err(DomainError::permanent(
                ErrorCode::InvalidModelOutput,
                "not task JSON",
            ));
        }
        self.offline.generate(goal_title, action).await
    }
}

struct World {
    stack: LocalStack,
    model: Arc<Model>,
    slow: Arc<AtomicBool>,
    actions: Vec<String>,
    runs: Vec<String>,
    /// The run whose tasks each action is expected to hold, or the runs it may hold after a run
    /// that ended part way.
    holder: HashMap<String, Option<String>>,
    /// Whether each action's latest outcome in a run that ran to its end was a success.
    succeeded: HashMap<String, bool>,
}

impl World {
    async fn new(store: Arc<dyn Store>) -> Self {
        let model = Arc::new(Model::default());
        let slow = Arc::new(AtomicBool::new(false));
        let latency: Latency = {
            let slow = slow.clone();
            Box::new(move |f: &str| {
                let slow = slow.load(Ordering::SeqCst);
                Duration::from_secs(match f {
                    f if f.ends_with("generate-tasks") => 10,
                    f if f.ends_with("save-tasks") && slow => 400,
                    _ => 0,
                })
            })
        };
        let stack = LocalStack::with_store(
            store,
            model.clone(),
            Arc::new(VirtualClock::default()),
            Some(latency),
            Arc::new(NoMetrics),
        )
        .expect("stack");
        let (goal, actions) = example_goal("g", "u", ACTIONS, chrono::Utc::now());
        seed(stack.store.as_ref(), &goal, &actions)
            .await
            .expect("seed");
        let actions: Vec<String> = actions.into_iter().map(|a| a.action_id).collect();
        let holder = actions.iter().map(|a| (a.clone(), None)).collect();
        World {
            stack,
            model,
            slow,
            actions,
            runs: Vec::new(),
            holder,
            succeeded: HashMap::new(),
        }
    }

    fn fail(&self, mask: u32) -> HashSet<String> {
        let failing: HashSet<String> = self
            .actions
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << (i % 32)) != 0 && i % 3 == 0)
            .map(|(_, a)| a.clone())
            .collect();
        if let Ok(mut f) = self.model.failing.lock() {
            f.clone_from(&failing);
        }
        failing
    }

    /// Each action's tasks, by the run that wrote them.
    async fn held(&self) -> HashMap<String, HashMap<String, Vec<u32>>> {
        let mut held: HashMap<String, HashMap<String, Vec<u32>>> = HashMap::new();
        for run in &self.runs {
            for t in self
                .stack
                .store
                .list_execution_tasks(run)
                .await
                .expect("tasks")
            {
                held.entry(t.action_id)
                    .or_default()
                    .entry(t.execution_arn)
                    .or_default()
                    .push(t.position);
            }
        }
        held
    }

    async fn apply(&mut self, step: &Step) {
        let failing = match step {
            Step::Start { failing } | Step::Retry { failing } => self.fail(*failing),
            _ => self.fail(0),
        };
        self.slow
            .store(matches!(step, Step::TimeOut), Ordering::SeqCst);
        let (arn, scope) = match step {
            Step::Retry { .. } => {
                let Some(latest) = self.runs.last() else {
                    return;
                };
                let answer = self
                    .stack
                    .api("retry-failed", "u", &[("executionArn", latest)], None)
                    .await;
                if answer["statusCode"] != 202 {
                    return;
                }
                let source = self.stack.store.get_execution(latest).await.expect("get");
                let scope: Vec<String> = source
                    .map(|r| r.failed_actions.into_iter().map(|f| f.action_id).collect())
                    .unwrap_or_default();
                let arn = answer["body"]["executionArn"].as_str().expect("arn");
                (arn.to_owned(), scope)
            }
            _ => {
                let arn = self.stack.start("u", "g").await.expect("a full start");
                (arn, self.actions.clone())
            }
        };
        self.runs.push(arn.clone());
        let result = if matches!(step, Step::Cancel) {
            let cancel = mid_run::cancel_once_tasks_are_saved(&self.stack, "u", &arn);
            tokio::join!(self.stack.execute(&arn), cancel).0
        } else {
            self.stack.execute(&arn).await
        };
        let status = result.expect("the run executes").status;

        let held = self.held().await;
        for action in &self.actions {
            let runs = held.get(action).cloned().unwrap_or_default();
            assert!(runs.len() <= 1, "{action} holds tasks of {runs:?}");
            let actual = runs.keys().next().cloned();
            if let Some(positions) = runs.values().next() {
                let distinct: HashSet<_> = positions.iter().collect();
                assert_eq!(distinct.len(), positions.len(), "{action}: {positions:?}");
            }
            let before = self.holder[action].clone();
            let expected: Vec<Option<String>> = if !scope.contains(action) {
                vec![before]
            } else {
                match status {
                    ExecutionStatus::Succeeded if failing.contains(action) => vec![before],
                    ExecutionStatus::Succeeded => vec![Some(arn.clone())],
                    ExecutionStatus::Aborted => vec![before, None],
                    _ => vec![before, Some(arn.clone())],
                }
            };
            assert!(
                expected.contains(&actual),
                "{step:?} ended {status:?}: {action} holds {actual:?}, expected one of {expected:?}"
            );
            self.holder.insert(action.clone(), actual);
        }

        // A run that ran to its end leaves the goal's status to its actions' latest outcomes: all
        // succeeded, some, or none. A cancelled run returns the goal to draft; a timed-out one
        // fails it.
        for action in &scope {
            if status == ExecutionStatus::Succeeded {
                self.succeeded
                    .insert(action.clone(), !failing.contains(action));
            }
        }
        let succeeded = self.succeeded.values().filter(|s| **s).count();
        let expected = match status {
            ExecutionStatus::Aborted => GoalStatus::Draft,
            ExecutionStatus::Succeeded if succeeded == self.actions.len() => GoalStatus::Active,
            ExecutionStatus::Succeeded if succeeded == 0 => GoalStatus::Failed,
            ExecutionStatus::Succeeded => GoalStatus::Partial,
            _ => GoalStatus::Failed,
        };
        let goal = self
            .stack
            .store
            .get_goal("g")
            .await
            .expect("get")
            .expect("goal");
        assert_eq!(
            goal.status,
            expected,
            "{step:?} ended {status:?}; {succeeded} of {} actions' latest outcome is success",
            self.actions.len()
        );
    }
}

/// Runs `steps` on one goal over `store`, on the virtual clock.
fn run_steps(store: Arc<dyn Store>, steps: &[Step]) {
    let runtime = asl_interpreter::clock::runtime(&VirtualClock::default()).expect("runtime");
    runtime.block_on(async {
        let mut world = World::new(store).await;
        for step in steps {
            world.apply(step).await;
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn every_action_holds_one_set_of_tasks(steps in prop::collection::vec(step(), 1..6)) {
        run_steps(Arc::new(InMemoryStore::new()), &steps);
    }
}

#[cfg(feature = "aws")]
mod on_dynamodb {
    use std::sync::atomic::AtomicU32;

    use sfn_local::offclock::OffClockStore;
    use shared::aws::DynamoStore;

    use super::*;

    static CASE: AtomicU32 = AtomicU32::new(0);

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

        #[test]
        fn every_action_holds_one_set_of_tasks_on_dynamodb(steps in prop::collection::vec(step(), 1..5)) {
            let moto = support::start();
            let io = tokio::runtime::Runtime::new().expect("runtime");
            let config = io.block_on(moto.sdk_config());
            let prefix = format!("case{}", CASE.fetch_add(1, Ordering::SeqCst));
            let tables = io.block_on(support::create_tables(&config, &prefix));
            let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), tables);
            run_steps(Arc::new(OffClockStore::new(Arc::new(store), io.handle().clone())), &steps);
        }
    }
}
