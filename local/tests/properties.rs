//! The properties of DESIGN.md section 4 that are rules of the definition rather than of the
//! domain crate: the retry schedule (4.3) and the time limits the state machine enforces (4.4).
//! Each runs the real definition with the project's handlers on the virtual clock, with a model
//! whose calls take and answer as the case scripts them, and judges the timeline of the model
//! calls, which the test records itself, against a simulation of the rule.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asl_interpreter::definition::StateType;
use asl_interpreter::{Clock, EventDetails, ExecutionResult, ExecutionStatus, VirtualClock};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use sfn_local::latency::Latency;
use sfn_local::stack::LocalStack;
use shared::examples::{example_goal, seed};
use shared::memory::InMemoryStore;
use shared::metrics::NoMetrics;
use shared::offline::offline_tasks;
use shared::ports::{GeneratedTask, TaskGenerator};
use shared::records::{Action, ExecutionStatus as RecordStatus, GoalStatus};
use shared::{DomainError, ErrorCode, ErrorKind};

/// One call of the model: how long it takes, and the failure it ends with, if any.
#[derive(Debug, Clone, Copy)]
struct Call {
    seconds: u64,
    fails: Option<ErrorKind>,
}

/// A model whose calls for each action go as scripted (once the script is used up, a call
/// answers at once), noting on the virtual clock when each call starts.
struct ScriptedModel {
    clock: VirtualClock,
    scripts: HashMap<String, Vec<Call>>,
    calls: Mutex<Vec<(String, DateTime<Utc>)>>,
}

impl ScriptedModel {
    /// The instants the model was called for each action, in order.
    fn calls(&self) -> BTreeMap<String, Vec<DateTime<Utc>>> {
        let mut by_action: BTreeMap<String, Vec<DateTime<Utc>>> = BTreeMap::new();
        for (action, at) in self.calls.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            by_action.entry(action.clone()).or_default().push(*at);
        }
        by_action
    }
}

#[async_trait]
impl TaskGenerator for ScriptedModel {
    async fn generate(
        &self,
        _goal_title: &str,
        action: &Action,
    ) -> Result<Vec<GeneratedTask>, DomainError> {
        let call = {
            let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            let before = calls
                .iter()
                .filter(|(id, _)| id == &action.action_id)
                .count();
            calls.push((action.action_id.clone(), self.clock.now()));
            self.scripts
                .get(&action.action_id)
                .and_then(|script| script.get(before))
                .copied()
        };
        let call = call.unwrap_or(Call {
            seconds: 0,
            fails: None,
        });
        self.clock.sleep(Duration::from_secs(call.seconds)).await;
        match call.fails {
            None => Ok(offline_tasks(action)),
            Some(kind) => {
                let code = match kind {
                    ErrorKind::Transient => ErrorCode::Throttled,
                    ErrorKind::Validation => ErrorCode::BadRequest,
                    _ => ErrorCode::InvalidModelOutput,
                };
                Err(DomainError::new(kind, code, "scripted failure"))
            }
        }
    }
}

/// A finished run of a goal of as many actions as there are scripts.
struct Run {
    stack: LocalStack,
    model: Arc<ScriptedModel>,
    actions: Vec<Action>,
    arn: String,
    result: ExecutionResult,
}

impl Run {
    fn new(scripts: Vec<Vec<Call>>, latency: Option<Latency>) -> Run {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime on the virtual clock");
        rt.block_on(async move {
            let clock = VirtualClock::default();
            let (goal, actions) = example_goal("g", "u", scripts.len(), clock.now());
            let model = Arc::new(ScriptedModel {
                clock: clock.clone(),
                scripts: actions
                    .iter()
                    .map(|a| a.action_id.clone())
                    .zip(scripts)
                    .collect(),
                calls: Mutex::new(Vec::new()),
            });
            let stack = LocalStack::with_store(
                Arc::new(InMemoryStore::new()),
                model.clone(),
                Arc::new(clock),
                latency,
                Arc::new(NoMetrics),
            )
            .expect("the definition loads");
            seed(stack.store.as_ref(), &goal, &actions)
                .await
                .expect("seed");
            let arn = stack.start("u", "g").await.expect("start");
            let result = stack.execute(&arn).await.expect("the run executes");
            Run {
                stack,
                model,
                actions,
                arn,
                result,
            }
        })
    }

    /// Blocks on a query of the run's store.
    fn read<T>(&self, query: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(query)
    }

    /// The ids of the actions that have tasks.
    fn with_tasks(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .read(self.stack.store.list_execution_tasks(&self.arn))
            .expect("tasks")
            .into_iter()
            .map(|t| t.action_id)
            .collect();
        ids.dedup();
        ids
    }

    /// The error each failed action was recorded with.
    fn failures(&self) -> BTreeMap<String, String> {
        self.read(self.stack.store.get_execution(&self.arn))
            .expect("get")
            .expect("record")
            .failed_actions
            .into_iter()
            .map(|f| (f.action_id, f.error))
            .collect()
    }

    /// Each action's batch start, as the definition handed it to GenerateTasks.
    fn batch_starts(&self) -> BTreeMap<String, DateTime<Utc>> {
        self.result
            .history
            .iter()
            .filter_map(|e| match &e.details {
                EventDetails::StateEntered(StateType::Task, d) if d.name == "GenerateTasks" => {
                    Some(&d.input)
                }
                _ => None,
            })
            .map(|input| {
                let started = input["batchStartedAt"]
                    .as_str()
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .expect("batchStartedAt")
                    .with_timezone(&Utc);
                let action = input["action"]["actionId"].as_str().expect("actionId");
                (action.to_owned(), started)
            })
            .collect()
    }
}

/// DESIGN.md 4.3, simulated for one action whose calls fail as `script` says (and then answer):
/// after a retryable failure the model is called again once a wait has passed, 2 s the first
/// time and twice the previous wait after that, at most 3 times; any other failure, or a
/// retryable one after the third retry, ends the action with that error. The calls' start times
/// in seconds after the first, and the error the action ends with.
fn retry_rule(script: &[Call]) -> (Vec<u64>, Option<ErrorKind>) {
    let (mut now, mut wait, mut retries) = (0, 2, 0);
    let mut calls = vec![0];
    for call in script {
        let Some(kind) = call.fails else { break };
        now += call.seconds;
        if kind != ErrorKind::Transient || retries == 3 {
            return (calls, Some(kind));
        }
        now += wait;
        wait *= 2;
        retries += 1;
        calls.push(now);
    }
    (calls, None)
}

fn failing_call() -> impl Strategy<Value = Call> {
    (
        0u64..=5,
        prop_oneof![
            4 => Just(ErrorKind::Transient),
            1 => Just(ErrorKind::Permanent),
            1 => Just(ErrorKind::Validation),
        ],
    )
        .prop_map(|(seconds, kind)| Call {
            seconds,
            fails: Some(kind),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// 3. The delay before retry n is 2 * 2^(n-1) s, at most 3 retries, only for retryable
    /// errors: each action's model calls happen when the simulated rule says, and the action ends
    /// with tasks, or failed with the error the rule stops at.
    #[test]
    fn p3_retries_follow_the_schedule(scripts in prop::collection::vec(prop::collection::vec(failing_call(), 0..6), 1..=10)) {
        let run = Run::new(scripts.clone(), None);
        prop_assert_eq!(run.result.status, ExecutionStatus::Succeeded, "{:?}", run.result.cause);
        let calls = run.model.calls();
        let with_tasks = run.with_tasks();
        let failures = run.failures();
        for (action, script) in run.actions.iter().zip(&scripts) {
            let (expected_calls, expected_error) = retry_rule(script);
            let at = &calls[&action.action_id];
            let offsets: Vec<i64> = at.iter().map(|t| (*t - at[0]).num_milliseconds()).collect();
            let expected_offsets: Vec<i64> = expected_calls.iter().map(|s| *s as i64 * 1000).collect();
            prop_assert_eq!(offsets, expected_offsets, "{} scripted {:?}", action.action_id, script);
            prop_assert_eq!(with_tasks.contains(&action.action_id), expected_error.is_none());
            prop_assert_eq!(
                failures.get(&action.action_id).map(String::as_str),
                expected_error.map(ErrorKind::error_type)
            );
        }
    }

    /// 4. No run beyond 15 minutes, no AI call's answer after 2 minutes, no model call started
    /// unless it can end, at its 2-minute limit, within its batch's 5 minutes. Model calls take
    /// from a second to over three minutes; slow saves push some runs past the run limit.
    #[test]
    fn p4_the_definition_keeps_its_time_limits(
        call_seconds in prop::collection::vec(prop::collection::vec(prop_oneof![1u64..=40, 100u64..=200], 1..=4), 1..=12),
        save_seconds in prop_oneof![Just(0u64), 0u64..=900],
    ) {
        let scripts: Vec<Vec<Call>> = call_seconds.iter()
            .map(|calls| calls.iter().map(|s| Call { seconds: *s, fails: None }).collect())
            .collect();
        let latency: Latency = Box::new(move |function: &str| {
            if function.ends_with("save-tasks") { Duration::from_secs(save_seconds) } else { Duration::ZERO }
        });
        let run = Run::new(scripts.clone(), Some(latency));
        let started = run.result.started_at;
        let stopped = run.result.stopped_at;
        prop_assert!(stopped - started <= chrono::Duration::minutes(15), "the run took {}", stopped - started);
        let record = run.read(run.stack.store.get_execution(&run.arn)).expect("get").expect("record");
        let goal = run.read(run.stack.store.get_goal("g")).expect("get").expect("goal");
        match run.result.status {
            ExecutionStatus::Succeeded => prop_assert!(record.status.is_final() && record.status != RecordStatus::TimedOut),
            ExecutionStatus::TimedOut => {
                prop_assert_eq!(record.status, RecordStatus::TimedOut);
                prop_assert_eq!(goal.status, GoalStatus::Failed);
            }
            other => prop_assert!(false, "the run ended {:?}: {:?}", other, run.result.cause),
        }
        let batch_starts = run.batch_starts();
        let calls = run.model.calls();
        let with_tasks = run.with_tasks();
        for (action, script) in run.actions.iter().zip(&scripts) {
            let Some(at) = calls.get(&action.action_id) else { continue };
            let batch_started = batch_starts[&action.action_id];
            for call in at {
                prop_assert!(
                    *call + chrono::Duration::minutes(2) <= batch_started + chrono::Duration::minutes(5),
                    "{} called {} after its batch started", action.action_id, *call - batch_started
                );
                prop_assert!(*call <= stopped);
            }
            if with_tasks.contains(&action.action_id) {
                // The answer that was saved came from the last call, which took at most 2 minutes.
                let last = script.get(at.len() - 1).map_or(0, |c| c.seconds);
                prop_assert!(last <= 120, "{} saved an answer that took {} s", action.action_id, last);
            }
        }
    }
}

#[test]
fn the_retry_rule_as_simulated() {
    let fail = |seconds, kind| Call {
        seconds,
        fails: Some(kind),
    };
    let transient = |seconds| fail(seconds, ErrorKind::Transient);
    assert_eq!(retry_rule(&[]), (vec![0], None));
    assert_eq!(
        retry_rule(&[transient(0), transient(0), transient(0)]),
        (vec![0, 2, 6, 14], None)
    );
    assert_eq!(
        retry_rule(&[transient(1); 4]),
        (vec![0, 3, 8, 17], Some(ErrorKind::Transient))
    );
    assert_eq!(
        retry_rule(&[transient(0), fail(0, ErrorKind::Permanent)]),
        (vec![0, 2], Some(ErrorKind::Permanent))
    );
}
