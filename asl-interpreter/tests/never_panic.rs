//! Random definitions never panic and never hang: state graphs with cycles, nested Map and Parallel
//! states, and extreme values in every numeric field (retry intervals, rates, attempts and delays,
//! timeouts, heartbeats, tolerances, concurrency, wait seconds and timestamps), with inputs to match.
//! Each case ends within a bounded wall time, refused at load or run to a result.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use asl_interpreter::{Definition, Executor, FunctionError, LambdaInvoker, VirtualClock};
use async_trait::async_trait;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};

/// A case that runs longer than this hangs.
const WALL_BOUND: Duration = Duration::from_secs(20);

/// Fails for functions named `fail`, echoes its payload otherwise.
struct Stub;

#[async_trait]
impl LambdaInvoker for Stub {
    async fn invoke(&self, name: &str, payload: Value) -> Result<Value, FunctionError> {
        if name.ends_with(":fail") {
            return Err(FunctionError::unhandled("Flaky", "failed on purpose"));
        }
        Ok(payload)
    }
}

/// Small integers mostly; then the largest values AWS accepts in some field (99999999 seconds or
/// attempts, a 1e308 backoff rate, a u64::MAX concurrency); then values no field accepts.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        40 => (1u64..5).prop_map(|n| json!(n)),
        3 => Just(json!(99_999_999)),
        3 => Just(json!(31_622_400)),
        3 => Just(json!(1e308)),
        3 => Just(json!(u64::MAX)),
        1 => Just(json!(0)),
        1 => Just(json!(-1)),
        1 => Just(json!(0.5)),
        1 => Just(json!(1.5)),
        1 => Just(json!(100_000_000)),
        1 => Just(json!(31_622_401)),
        1 => Just(json!(i64::MIN)),
        1 => Just(json!(-1e308)),
        1 => Just(json!(5e-324)),
        1 => Just(json!("5")),
        1 => Just(Value::Null),
    ]
}

fn timestamp() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("2016-03-14T01:59:00Z")),
        Just(json!("9999-12-31T23:59:59Z")),
        Just(json!("0000-01-01T00:00:00Z")),
        Just(json!("+275760-09-13T00:00:00Z")),
        Just(json!("2016-12-05 21:29:29Z")),
        Just(json!("not a time")),
        Just(json!(17)),
    ]
}

/// Adds `extra`'s fields to the object `base`.
fn with(mut base: Value, extra: Value) -> Value {
    if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
        b.extend(e);
    }
    base
}

/// Adds `field: value` when there is a value.
fn maybe(base: Value, field: &str, value: Option<Value>) -> Value {
    match value {
        Some(v) => with(base, json!({ field: v })),
        None => base,
    }
}

fn target(n: usize) -> impl Strategy<Value = String> {
    (0..n).prop_map(|i| format!("S{i}"))
}

/// Next (any state, so cycles are common) or End.
fn transition(n: usize) -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => target(n).prop_map(|t| json!({"Next": t})),
        1 => Just(json!({"End": true})),
    ]
}

fn retrier() -> impl Strategy<Value = Value> {
    let fields = (
        proptest::option::of(number()),
        proptest::option::of(number()),
        proptest::option::of(number()),
        proptest::option::of(number()),
        proptest::option::of(prop_oneof![
            Just(json!("FULL")),
            Just(json!("NONE")),
            Just(json!("HALF"))
        ]),
    );
    fields.prop_map(|(interval, rate, attempts, delay, jitter)| {
        let r = json!({"ErrorEquals": ["States.ALL"]});
        let r = maybe(r, "IntervalSeconds", interval);
        let r = maybe(r, "BackoffRate", rate);
        let r = maybe(r, "MaxAttempts", attempts);
        let r = maybe(r, "MaxDelaySeconds", delay);
        maybe(r, "JitterStrategy", jitter)
    })
}

/// Retry and Catch, for the states that have them.
fn error_handling(n: usize) -> impl Strategy<Value = Value> {
    (
        proptest::option::of(retrier()),
        proptest::option::of(target(n)),
    )
        .prop_map(|(retry, catch)| {
            let v = maybe(json!({}), "Retry", retry.map(|r| json!([r])));
            maybe(
                v,
                "Catch",
                catch.map(|t| json!([{"ErrorEquals": ["States.ALL"], "Next": t}])),
            )
        })
}

fn wait(n: usize) -> impl Strategy<Value = Value> {
    let duration = prop_oneof![
        number().prop_map(|s| json!({"Seconds": s})),
        Just(json!({"SecondsPath": "$.n"})),
        timestamp().prop_map(|t| json!({"Timestamp": t})),
        Just(json!({"TimestampPath": "$.t"})),
    ];
    (duration, transition(n)).prop_map(|(d, t)| with(with(json!({"Type": "Wait"}), d), t))
}

fn task(n: usize) -> impl Strategy<Value = Value> {
    let limits = (
        proptest::option::of(prop_oneof![
            number().prop_map(|s| json!({"TimeoutSeconds": s})),
            Just(json!({"TimeoutSecondsPath": "$.n"})),
        ]),
        proptest::option::of(prop_oneof![
            number().prop_map(|s| json!({"HeartbeatSeconds": s})),
            Just(json!({"HeartbeatSecondsPath": "$.n"})),
        ]),
    );
    let function = prop_oneof![Just("ok"), Just("fail")];
    (function, limits, error_handling(n), transition(n)).prop_map(
        |(function, (timeout, heartbeat), handling, t)| {
            let resource = format!("arn:aws:lambda:us-east-1:111111111111:function:{function}");
            let mut v = json!({"Type": "Task", "Resource": resource});
            for extra in [timeout, heartbeat].into_iter().flatten() {
                v = with(v, extra);
            }
            with(with(v, handling), t)
        },
    )
}

fn choice(n: usize) -> impl Strategy<Value = Value> {
    (number(), target(n), proptest::option::of(target(n))).prop_map(|(bound, next, default)| {
        let rule = json!({"Variable": "$.n", "NumericGreaterThan": bound, "Next": next});
        maybe(
            json!({"Type": "Choice", "Choices": [rule]}),
            "Default",
            default.map(Value::from),
        )
    })
}

fn map(n: usize, depth: u32) -> impl Strategy<Value = Value> {
    let settings = (
        proptest::option::of(prop_oneof![
            number().prop_map(|c| json!({"MaxConcurrency": c})),
            Just(json!({"MaxConcurrencyPath": "$.n"})),
        ]),
        proptest::option::of(prop_oneof![
            number().prop_map(|c| json!({"ToleratedFailureCount": c})),
            Just(json!({"ToleratedFailureCountPath": "$.n"})),
        ]),
        proptest::option::of(prop_oneof![
            number().prop_map(|p| json!({"ToleratedFailurePercentage": p})),
            Just(json!({"ToleratedFailurePercentagePath": "$.n"})),
        ]),
    );
    (settings, machine(depth), error_handling(n), transition(n)).prop_map(
        |((concurrency, count, percentage), processor, handling, t)| {
            let mut v = json!({"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": processor});
            for extra in [concurrency, count, percentage].into_iter().flatten() {
                v = with(v, extra);
            }
            with(with(v, handling), t)
        },
    )
}

fn parallel(n: usize, depth: u32) -> impl Strategy<Value = Value> {
    let branches = prop::collection::vec(machine(depth), 1..3);
    (branches, error_handling(n), transition(n)).prop_map(|(branches, handling, t)| {
        with(
            with(json!({"Type": "Parallel", "Branches": branches}), handling),
            t,
        )
    })
}

fn state(n: usize, depth: u32) -> BoxedStrategy<Value> {
    let flat = prop_oneof![
        transition(n).prop_map(|t| with(json!({"Type": "Pass"}), t)),
        wait(n),
        task(n),
        choice(n),
        Just(json!({"Type": "Succeed"})),
        Just(json!({"Type": "Fail", "Error": "Failed", "Cause": "on purpose"})),
    ];
    if depth == 0 {
        return flat.boxed();
    }
    prop_oneof![4 => flat, 1 => map(n, depth - 1), 1 => parallel(n, depth - 1)].boxed()
}

/// A state machine of one to five states named S0.., starting at S0. Each state's Next (or a
/// Choice's Default) often leads to the state after it, so that most states are reachable.
fn machine(depth: u32) -> BoxedStrategy<Value> {
    (1usize..=5)
        .prop_flat_map(move |n| {
            (
                prop::collection::vec(state(n, depth), n),
                prop::collection::vec(any::<bool>(), n),
            )
        })
        .prop_map(|(states, links)| {
            let n = states.len();
            let states: Map<String, Value> = states
                .into_iter()
                .zip(links)
                .enumerate()
                .map(|(i, (mut s, link))| {
                    if link && i + 1 < n {
                        for field in ["Next", "Default"] {
                            if let Some(next) = s.get_mut(field) {
                                *next = json!(format!("S{}", i + 1));
                            }
                        }
                    }
                    (format!("S{i}"), s)
                })
                .collect();
            json!({"StartAt": "S0", "States": states})
        })
        .boxed()
}

fn definition() -> impl Strategy<Value = Value> {
    (machine(2), proptest::option::of(number()))
        .prop_map(|(m, timeout)| maybe(m, "TimeoutSeconds", timeout))
}

/// An input whose `n`, `t` and `items` the generated states read, nested for Map iterations.
fn input() -> impl Strategy<Value = Value> {
    let leaf = (number(), timestamp()).prop_map(|(n, t)| json!({"n": n, "t": t, "items": []}));
    leaf.prop_recursive(2, 16, 4, |inner| {
        (number(), timestamp(), prop::collection::vec(inner, 0..4))
            .prop_map(|(n, t, items)| json!({"n": n, "t": t, "items": items}))
    })
}

/// What one case came to.
#[derive(Debug)]
enum Outcome {
    Refused,
    Ran { status: &'static str, events: usize },
}

/// Loads and runs `definition` on its own thread; a panic or a run past [`WALL_BOUND`] fails.
fn run_bounded(definition: &Value, input: &Value) -> Result<Outcome, String> {
    let (text, input) = (definition.to_string(), input.clone());
    // A stack overflow aborts the process before proptest can print the case: DUMP_CASE=FILE keeps
    // the last one.
    if let Some(dump) = std::env::var_os("DUMP_CASE") {
        let _ = std::fs::write(dump, format!("{text}\n{input}\n"));
    }
    let (sender, receiver) = mpsc::channel();
    // The executor runs with the stack a command-line thread has at least.
    let worker = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let outcome = match Definition::parse(&text) {
                Err(e) => {
                    if std::env::var_os("SHOW_REFUSALS").is_some() {
                        eprintln!("REFUSED {e}");
                    }
                    Ok(Outcome::Refused)
                }
                Ok(definition) => {
                    let executor = Executor::new(
                        definition,
                        Arc::new(Stub),
                        Arc::new(VirtualClock::default()),
                    );
                    executor
                        .execute_blocking(input)
                        .map(|r| Outcome::Ran {
                            status: r.status.as_str(),
                            events: r.history.len(),
                        })
                        .map_err(|e| e.to_string())
                }
            };
            let _ = sender.send(outcome);
        });
    if let Err(e) = worker {
        return Err(format!("no thread for the case: {e}"));
    }
    match receiver.recv_timeout(WALL_BOUND) {
        Ok(outcome) => outcome,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!("no result in {WALL_BOUND:?}")),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("panicked".into()),
    }
}

/// What the cases came to, for the report.
#[derive(Default)]
struct Tally {
    refused: usize,
    statuses: std::collections::BTreeMap<&'static str, usize>,
    history_full: usize,
    slowest: Duration,
}

impl Tally {
    fn add(&mut self, outcome: &Result<Outcome, String>, took: Duration) {
        self.slowest = self.slowest.max(took);
        match outcome {
            Ok(Outcome::Refused) => self.refused += 1,
            Ok(Outcome::Ran { status, events }) => {
                *self.statuses.entry(status).or_default() += 1;
                self.history_full += usize::from(*events == 25_000);
            }
            Err(_) => {}
        }
    }
}

/// Cases generated; `PROPTEST_CASES` overrides it.
const CASES: u32 = 256;

#[test]
fn random_definitions_end_in_bounded_time_without_panicking() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(CASES);
    // Generating and shrinking nested definitions takes more stack than a test thread has.
    let runner = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let mut runner = TestRunner::new(Config::with_cases(cases));
            let started = Instant::now();
            let tally = std::cell::RefCell::new(Tally::default());
            let result = runner.run(&(definition(), input()), |(definition, input)| {
                let started = Instant::now();
                let outcome = run_bounded(&definition, &input);
                tally.borrow_mut().add(&outcome, started.elapsed());
                prop_assert!(
                    outcome.is_ok(),
                    "{outcome:?} after {:?}: {definition}",
                    started.elapsed()
                );
                if let Ok(Outcome::Ran { status, events }) = outcome {
                    prop_assert!(events <= 25_000, "{events} events: {definition}");
                    prop_assert!(
                        ["SUCCEEDED", "FAILED", "TIMED_OUT"].contains(&status),
                        "{status}"
                    );
                }
                Ok(())
            });
            let tally = tally.into_inner();
            println!(
                "{cases} cases in {:.1} s: {} refused at load, runs {:?}, {} at the history quota, \
                 slowest {:.2} s",
                started.elapsed().as_secs_f64(),
                tally.refused,
                tally.statuses,
                tally.history_full,
                tally.slowest.as_secs_f64()
            );
            result.map_err(|e| e.to_string())
        })
        .expect("the runner's thread starts");
    let result = runner.join().expect("the runner does not panic");
    assert!(result.is_ok(), "{result:?}");
}
