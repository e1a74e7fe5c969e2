//! Map (inline): runs the item processor once per item, at most MaxConcurrency at a time, and collects
//! the outputs in item order. Failures beyond the tolerated count or percentage fail the state.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::setting::{plain, Setting, Source};
use crate::error::{ErrorName, EvalError, StatesError};
use crate::events::{EventDetails, MapIterationEventDetails, MapStateStartedEventDetails};
use crate::pipeline::{Outcome, StateCtx};

pub(super) async fn execute(ctx: &StateCtx, input: Value) -> Result<Outcome, StatesError> {
    let vars = ctx.jsonata_vars(&input, &[]);
    let effective = if ctx.state.is_jsonata() {
        input.clone()
    } else {
        ctx.input_path(&input)?
    };
    let items = match ctx.setting("Items", &effective, &vars)? {
        Some(items) => items.value,
        None => effective.clone(),
    };
    let Value::Array(items) = items else {
        return Err(ctx.fail(EvalError::query(format!(
            "Map state input must be an array but was: {items}"
        ))));
    };
    let max_concurrency = integer_setting(ctx, &vars, &effective, "MaxConcurrency")?.unwrap_or(0);
    let tolerance = Tolerance {
        count: integer_setting(ctx, &vars, &effective, "ToleratedFailureCount")?,
        percentage: percentage_setting(ctx, &vars, &effective)?,
    };
    let inputs = item_inputs(ctx, &vars, &effective, &items)?;
    ctx.execution
        .event(EventDetails::MapStateStarted(MapStateStartedEventDetails {
            length: inputs.len(),
        }));
    let total = inputs.len();
    let iterations = start_iterations(ctx, inputs, max_concurrency)?;
    match collect(iterations, total, &tolerance).await {
        Ok(outputs) => {
            ctx.execution.event(EventDetails::MapStateSucceeded);
            ctx.finish(input, Some(Value::Array(outputs)))
        }
        Err(err) => {
            ctx.execution.event(EventDetails::MapStateFailed);
            Err(err)
        }
    }
}

/// Each item's input to the item processor (ItemSelector, or the older Parameters, with the item
/// in `$$.Map.Item`) and its `Map.Item` context.
fn item_inputs(
    ctx: &StateCtx,
    vars: &Map<String, Value>,
    effective: &Value,
    items: &[Value],
) -> Result<Vec<(Value, Value)>, StatesError> {
    let state = &ctx.state;
    let selector = state
        .field("ItemSelector")
        .or_else(|| state.field("Parameters"));
    let mut inputs = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let map_item = json!({"Index": i, "Value": item});
        let mut context = ctx.context.clone();
        if let Value::Object(c) = &mut context {
            c.insert("Map".into(), json!({"Item": map_item}));
        }
        let item_input = match selector {
            None => item.clone(),
            Some(t) if state.is_jsonata() => {
                let mut v = vars.clone();
                if let Some(Value::Object(s)) = v.get_mut("states") {
                    s.insert("context".into(), context);
                }
                ctx.jsonata(t, &v, "ItemSelector")?
            }
            Some(t) => {
                let scope = crate::paths::Scope {
                    input: effective,
                    context: &context,
                    vars: &ctx.frame.vars,
                };
                scope.template(t).map_err(|e| ctx.fail(e))?
            }
        };
        inputs.push((item_input, map_item));
    }
    Ok(inputs)
}

type Iterations = JoinSet<(usize, Result<Value, StatesError>)>;

/// Starts an iteration of the item processor per input, at most `max_concurrency` (0: no limit)
/// running at once.
fn start_iterations(
    ctx: &StateCtx,
    inputs: Vec<(Value, Value)>,
    max_concurrency: u64,
) -> Result<Iterations, StatesError> {
    let processor = ctx
        .state
        .children
        .first()
        .cloned()
        .ok_or_else(|| ctx.fail(EvalError::runtime("The Map state has no item processor")))?;
    let permits = match usize::try_from(max_concurrency) {
        Ok(0) | Err(_) => Semaphore::MAX_PERMITS,
        Ok(n) => n.min(Semaphore::MAX_PERMITS),
    };
    let semaphore = Arc::new(Semaphore::new(permits));
    let mut set = JoinSet::new();
    for (i, (item_input, map_item)) in inputs.into_iter().enumerate() {
        let execution = ctx.execution.clone();
        let iteration = ctx.run_branch(processor.clone(), item_input, Some(map_item));
        let semaphore = semaphore.clone();
        let name = ctx.state.name.clone();
        set.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            let details = MapIterationEventDetails { name, index: i };
            execution.event(EventDetails::MapIterationStarted(details.clone()));
            let result = iteration.await;
            execution.event(if result.is_ok() {
                EventDetails::MapIterationSucceeded(details)
            } else {
                EventDetails::MapIterationFailed(details)
            });
            (i, result)
        });
    }
    Ok(set)
}

/// The failures a Map tolerates: with both thresholds set, exceeding either fails it.
struct Tolerance {
    count: Option<u64>,
    percentage: Option<f64>,
}

impl Tolerance {
    /// Whether `error` may stand as the iteration's output, `failures` of `total` having failed. A
    /// runtime error fails the execution, whatever the Map tolerates.
    fn tolerates(&self, error: &StatesError, failures: usize, total: usize) -> bool {
        if !self.is_set() || error.is(ErrorName::Runtime) {
            return false;
        }
        let within_count = self.count.is_none_or(|c| failures as u64 <= c);
        let within_percentage = self
            .percentage
            .is_none_or(|p| (failures as f64) * 100.0 / (total.max(1) as f64) <= p);
        within_count && within_percentage
    }

    fn is_set(&self) -> bool {
        self.count.is_some() || self.percentage.is_some()
    }
}

/// The iterations' outputs in item order, a tolerated failure's output being its error; the first
/// failure beyond the tolerance stops the others.
async fn collect(
    mut iterations: Iterations,
    total: usize,
    tolerance: &Tolerance,
) -> Result<Vec<Value>, StatesError> {
    let mut outputs = vec![Value::Null; total];
    let mut failures = 0usize;
    while let Some(joined) = iterations.join_next().await {
        let (i, result) =
            joined.map_err(|e| StatesError::named(ErrorName::Runtime, e.to_string()))?;
        let error = match result {
            Ok(output) => {
                outputs[i] = output;
                continue;
            }
            Err(error) => error,
        };
        failures += 1;
        if tolerance.tolerates(&error, failures, total) {
            outputs[i] = error.to_output();
            continue;
        }
        iterations.abort_all();
        if tolerance.is_set() && !error.is(ErrorName::Runtime) {
            return Err(StatesError::named(
                ErrorName::ExceedToleratedFailureThreshold,
                "The specified tolerated failure threshold was exceeded",
            ));
        }
        return Err(error);
    }
    Ok(outputs)
}

/// AWS's cause for a negative MaxConcurrency or ToleratedFailureCount.
fn negative(field: &str, v: &Value) -> String {
    match field {
        "ToleratedFailureCount" => "ToleratedFailureCount cannot be negative.".to_string(),
        _ => format!("Expected non-negative integer for {field}, got '{v}' instead."),
    }
}

/// MaxConcurrency and ToleratedFailureCount.
fn integer_setting(
    ctx: &StateCtx,
    vars: &Map<String, Value>,
    effective: &Value,
    field: &str,
) -> Result<Option<u64>, StatesError> {
    let Some(Setting { value, source }) = ctx.setting(field, effective, vars)? else {
        return Ok(None);
    };
    let cause = match (value.as_u64(), value.as_i64(), source) {
        (Some(n), _, _) => return Ok(Some(n)),
        (None, Some(_), _) => negative(field, &value),
        (None, None, Source::Field) => {
            format!("The {field} field must be a non-negative integer: {value}")
        }
        (None, None, Source::Path(path)) => format!(
            "The {field}Path field refers to value \"{}\" which is not a valid integer: {path}",
            plain(&value)
        ),
    };
    Err(ctx.fail(EvalError::runtime(cause)))
}

fn percentage_setting(
    ctx: &StateCtx,
    vars: &Map<String, Value>,
    effective: &Value,
) -> Result<Option<f64>, StatesError> {
    let field = "ToleratedFailurePercentage";
    let Some(Setting { value, source }) = ctx.setting(field, effective, vars)? else {
        return Ok(None);
    };
    let percentage = value.as_f64().ok_or_else(|| {
        let cause = match source {
            Source::Field => format!("The {field} field must be a number: {value}"),
            Source::Path(path) => format!(
                "The {field}Path field refers to value \"{}\" which is not a valid float: {path}",
                plain(&value)
            ),
        };
        ctx.fail(EvalError::runtime(cause))
    })?;
    if !(0.0..=100.0).contains(&percentage) {
        return Err(ctx.fail(EvalError::runtime(
            "ToleratedFailurePercentage must be between 0 and 100.",
        )));
    }
    Ok(Some(percentage))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::execute;
    use crate::executor::ExecutionStatus;
    use serde_json::json;

    #[test]
    fn maps_items_with_selector_and_context() {
        let r = execute(
            r#"{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs","End":true,
                "ItemSelector":{"i.$":"$$.Map.Item.Index","v.$":"$$.Map.Item.Value","k.$":"$.k"},
                "ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}}}}"#,
            json!({"xs": ["a", "b"], "k": 1}),
        );
        assert_eq!(
            r.output,
            Some(json!([{"i": 0, "v": "a", "k": 1}, {"i": 1, "v": "b", "k": 1}]))
        );
    }

    #[test]
    fn max_concurrency_serialises_waits() {
        let r = execute(
            r#"{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":1,"End":true,
                "ItemProcessor":{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":5,"End":true}}}}}}"#,
            json!([1, 2, 3]),
        );
        assert_eq!((r.stopped_at - r.started_at).num_seconds(), 15);
    }

    #[test]
    fn failure_over_tolerance() {
        let r = execute(
            r#"{"StartAt":"M","States":{"M":{"Type":"Map","ToleratedFailureCount":0,"End":true,
                "ItemProcessor":{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E"}}}}}}"#,
            json!([1]),
        );
        assert_eq!(
            (r.status, r.error.as_deref()),
            (
                ExecutionStatus::Failed,
                Some("States.ExceedToleratedFailureThreshold")
            )
        );
    }

    fn run_with_tolerance(tolerance: &str, items: serde_json::Value) -> ExecutionStatus {
        let definition = format!(
            r#"{{"StartAt":"M","States":{{"M":{{"Type":"Map",{tolerance},"End":true,
                "ItemProcessor":{{"StartAt":"C","States":{{
                    "C":{{"Type":"Choice","Choices":[{{"Variable":"$","BooleanEquals":true,"Next":"F"}}],"Default":"P"}},
                    "F":{{"Type":"Fail","Error":"E"}},
                    "P":{{"Type":"Pass","End":true}}}}}}}}}}}}"#
        );
        execute(&definition, items).status
    }

    #[test]
    fn tolerance_by_count_by_percentage_and_by_both() {
        // Two of four items fail: 50 %.
        let items = json!([true, false, true, false]);
        let cases = [
            (r#""ToleratedFailureCount":2"#, ExecutionStatus::Succeeded),
            (r#""ToleratedFailureCount":1"#, ExecutionStatus::Failed),
            (
                r#""ToleratedFailurePercentage":50"#,
                ExecutionStatus::Succeeded,
            ),
            (
                r#""ToleratedFailurePercentage":49"#,
                ExecutionStatus::Failed,
            ),
            (
                r#""ToleratedFailureCount":2,"ToleratedFailurePercentage":50"#,
                ExecutionStatus::Succeeded,
            ),
            (
                r#""ToleratedFailureCount":5,"ToleratedFailurePercentage":25"#,
                ExecutionStatus::Failed,
            ),
            (
                r#""ToleratedFailureCount":1,"ToleratedFailurePercentage":100"#,
                ExecutionStatus::Failed,
            ),
        ];
        for (tolerance, status) in cases {
            assert_eq!(
                run_with_tolerance(tolerance, items.clone()),
                status,
                "{tolerance}"
            );
        }
    }

    #[test]
    fn iterator_and_parameters_are_the_older_names_and_settings_may_come_from_the_input() {
        let r = execute(
            r#"{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs","End":true,
                "MaxConcurrencyPath":"$.limit","ToleratedFailureCountPath":"$.tolerated",
                "Parameters":{"x.$":"$$.Map.Item.Value"},
                "Iterator":{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":5,"End":true}}}}}}"#,
            json!({"xs": [1, 2, 3, 4], "limit": 2, "tolerated": 0}),
        );
        assert_eq!(
            r.output,
            Some(json!([{"x": 1}, {"x": 2}, {"x": 3}, {"x": 4}]))
        );
        // Two at a time: two waves of 5 s.
        assert_eq!((r.stopped_at - r.started_at).num_seconds(), 10);
    }

    #[test]
    fn negative_settings_from_paths_give_aws_causes() {
        let def = r#"{"StartAt":"M","States":{"M":{"Type":"Map","End":true,
            "MaxConcurrencyPath":"$.limit","ToleratedFailureCountPath":"$.tolerated",
            "ItemsPath":"$.xs","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}}}}"#;
        let cause = |input| execute(def, input).cause.unwrap_or_default();
        assert!(cause(json!({"xs": [], "limit": -1, "tolerated": 0}))
            .ends_with("Expected non-negative integer for MaxConcurrency, got '-1' instead."));
        assert!(cause(json!({"xs": [], "limit": 0, "tolerated": -2}))
            .ends_with("ToleratedFailureCount cannot be negative."));
    }

    #[test]
    fn a_runtime_error_in_an_iteration_is_not_tolerated() {
        let r = execute(
            r#"{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ToleratedFailurePercentage":100,
                "ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","InputPath":"$.missing","End":true}}}}}}"#,
            json!([{}]),
        );
        assert_eq!(r.error.as_deref(), Some("States.Runtime"));
    }

    #[test]
    fn non_array_items_fail() {
        let r = execute(
            r#"{"StartAt":"M","States":{"M":{"Type":"Map","End":true,
                "ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}}}}"#,
            json!({"a": 1}),
        );
        assert_eq!(r.error.as_deref(), Some("States.QueryEvaluationError"));
    }
}
