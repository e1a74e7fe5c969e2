//! A state's view of its execution while it runs ([`StateCtx`]) and the pipeline its data goes
//! through: InputPath, the Parameters and Assign templates, JSONata's `$states`, ResultSelector,
//! ResultPath and OutputPath, ending in the state's [`Outcome`].

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::catch::Catcher;
use crate::definition::{State, StateMachine};
use crate::error::{EvalError, StatesError};
use crate::execution::{BoxFuture, Execution, Frame};
use crate::paths::{self, Scope};
use crate::query;

pub(crate) enum Next {
    State(String),
    End,
}

/// A state's successful outcome: its output, where to go, and the variables it assigns.
pub(crate) struct Outcome {
    pub output: Value,
    pub next: Next,
    pub assign: Map<String, Value>,
}

impl Outcome {
    pub fn follow(state: &State, output: Value, assign: Map<String, Value>) -> Outcome {
        let next = match &state.next {
            Some(n) if !state.end => Next::State(n.clone()),
            _ => Next::End,
        };
        Outcome {
            output,
            next,
            assign,
        }
    }
}

/// What a state's data looked like on its way through the pipeline, as TestState shows it at its
/// DEBUG and TRACE inspection levels; a step the state did not take is `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inspection {
    /// The state's raw input.
    pub input: Value,
    /// The input after InputPath (JSONPath states).
    pub after_input_path: Option<Value>,
    /// A Task's parameters after Parameters (JSONPath) or Arguments (JSONata), as it was called.
    pub after_parameters: Option<Value>,
    /// A Task's result.
    pub result: Option<Value>,
    /// The result of a Task, Parallel or Map after ResultSelector (JSONPath states).
    pub after_result_selector: Option<Value>,
    /// The input with the selected result at ResultPath (JSONPath states).
    pub after_result_path: Option<Value>,
}

/// Everything a state implementation needs while it runs.
pub(crate) struct StateCtx {
    pub execution: Arc<Execution>,
    pub state: Arc<State>,
    pub entered_id: u64,
    pub context: Value,
    pub frame: Frame,
    /// Where the pipeline records its steps when the state is inspected (TestState).
    pub inspection: Option<Mutex<Inspection>>,
}

impl StateCtx {
    /// Gives an evaluation error AWS's cause prefix naming the state and its entered event.
    pub fn fail(&self, e: EvalError) -> StatesError {
        StatesError::new(
            e.name.as_str(),
            format!(
                "An error occurred while executing the state '{}' (entered at the event id #{}). {}",
                self.state.name, self.entered_id, e.message
            ),
        )
    }

    /// Records a step of the pipeline when the state is inspected; `step` runs only then.
    pub fn inspect(&self, step: impl FnOnce(&mut Inspection)) {
        if let Some(inspection) = &self.inspection {
            step(&mut inspection.lock().unwrap_or_else(|p| p.into_inner()));
        }
    }

    /// Runs `machine` on `input` as a branch of this state (a Parallel branch, or a Map iteration
    /// whose `$$.Map.Item` is `map_item`), with the variables this state sees.
    pub fn run_branch(
        &self,
        machine: Arc<StateMachine>,
        input: Value,
        map_item: Option<Value>,
    ) -> BoxFuture<Result<Value, StatesError>> {
        let frame = Frame {
            vars: self.frame.vars.clone(),
            map_item,
        };
        self.execution.run_branch(machine, input, frame)
    }

    pub fn scope<'a>(&'a self, input: &'a Value) -> Scope<'a> {
        Scope {
            input,
            context: &self.context,
            vars: &self.frame.vars,
        }
    }

    /// Variables for JSONata evaluation: the frame's variables plus `$states`.
    pub fn jsonata_vars(&self, input: &Value, extra: &[(&str, &Value)]) -> Map<String, Value> {
        let mut states = Map::new();
        states.insert("input".into(), input.clone());
        states.insert("context".into(), self.context.clone());
        for (k, v) in extra {
            states.insert((*k).to_string(), (*v).clone());
        }
        let mut vars = self.frame.vars.clone();
        vars.insert("states".into(), Value::Object(states));
        vars.insert(
            crate::query::NOW_MILLIS.into(),
            Value::from(self.execution.clock.now().timestamp_millis()),
        );
        vars
    }

    pub fn jsonata(
        &self,
        template: &Value,
        vars: &Map<String, Value>,
        field: &str,
    ) -> Result<Value, StatesError> {
        query::evaluate(&self.execution.expressions, template, vars, field)
            .map_err(|e| self.fail(e))
    }

    /// The variables of an `Assign` field, JSONPath (`$` = `input`) or JSONata flavour.
    pub fn assign(
        &self,
        assign: Option<&Value>,
        input: &Value,
        jsonata_vars: Option<&Map<String, Value>>,
    ) -> Result<Map<String, Value>, StatesError> {
        let Some(assign) = assign else {
            return Ok(Map::new());
        };
        let value = match jsonata_vars {
            Some(vars) => self.jsonata(assign, vars, "Assign")?,
            None => self
                .scope(input)
                .template(assign)
                .map_err(|e| self.fail(e))?,
        };
        match value {
            Value::Object(m) => Ok(m),
            _ => Err(self.fail(EvalError::runtime("The Assign field must be an object"))),
        }
    }

    /// Ends a state that goes on to its Next (or ends its branch), from its input and, for states
    /// with one, its result. A JSONata state gives its Output (else the result, else the input) and
    /// its Assign, both seeing the result as `$states.result`. A JSONPath state applies
    /// ResultSelector to the result of a Task, Parallel or Map, evaluates Assign over the selected
    /// result, puts it at ResultPath in the input and applies OutputPath; without a result, Assign
    /// and OutputPath apply to the effective input.
    pub fn finish(&self, input: Value, result: Option<Value>) -> Result<Outcome, StatesError> {
        let state = &self.state;
        if state.is_jsonata() {
            let with_result: Vec<(&str, &Value)> = result.iter().map(|r| ("result", r)).collect();
            let vars = self.jsonata_vars(&input, &with_result);
            let output = match state.field("Output") {
                Some(template) => self.jsonata(template, &vars, "Output")?,
                None => result.unwrap_or_else(|| input.clone()),
            };
            let assign = self.assign(state.field("Assign"), &input, Some(&vars))?;
            return Ok(Outcome::follow(state, output, assign));
        }
        let Some(result) = result else {
            let effective = self.input_path(&input)?;
            let assign = self.assign(state.field("Assign"), &effective, None)?;
            let output = self.output_path(&effective)?;
            return Ok(Outcome::follow(state, output, assign));
        };
        let selected = match state.field("ResultSelector") {
            Some(selector) if state.kind.does_work() => self
                .scope(&result)
                .template(selector)
                .map_err(|e| self.fail(e))?,
            _ => result,
        };
        let assign = self.assign(state.field("Assign"), &selected, None)?;
        if state.kind.does_work() {
            self.inspect(|i| i.after_result_selector = Some(selected.clone()));
        }
        let merged = paths::merge_result(state.field("ResultPath"), input, selected)
            .map_err(|e| self.fail(e))?;
        if state.kind.does_work() {
            self.inspect(|i| i.after_result_path = Some(merged.clone()));
        }
        let output = self.output_path(&merged)?;
        Ok(Outcome::follow(state, output, assign))
    }

    /// The outcome of a state whose error `err` the catcher `catcher` caught: the error output
    /// (JSONata: the catcher's Output, else the error output; JSONPath: the error output at the
    /// catcher's ResultPath in the raw input), the catcher's Assign and its Next.
    pub fn caught(
        &self,
        raw_input: &Value,
        err: &StatesError,
        catcher: Catcher<'_>,
    ) -> Result<Outcome, StatesError> {
        let error_output = err.to_output();
        let (output, assign) = if self.state.is_jsonata() {
            let vars = self.jsonata_vars(raw_input, &[("errorOutput", &error_output)]);
            let output = match catcher.spec.get("Output") {
                Some(t) => self.jsonata(t, &vars, "Output")?,
                None => error_output.clone(),
            };
            (
                output,
                self.assign(catcher.spec.get("Assign"), &error_output, Some(&vars))?,
            )
        } else {
            let assign = self.assign(catcher.spec.get("Assign"), &error_output, None)?;
            let output = paths::merge_result(
                catcher.spec.get("ResultPath"),
                raw_input.clone(),
                error_output,
            )
            .map_err(|e| self.fail(e))?;
            (output, assign)
        };
        Ok(Outcome {
            output,
            next: Next::State(catcher.next.to_string()),
            assign,
        })
    }

    pub fn input_path(&self, raw_input: &Value) -> Result<Value, StatesError> {
        paths::select(
            self.state.field("InputPath"),
            raw_input,
            &self.scope(raw_input),
        )
        .map_err(|e| self.fail(e))
    }

    pub fn output_path(&self, value: &Value) -> Result<Value, StatesError> {
        paths::select(self.state.field("OutputPath"), value, &self.scope(value))
            .map_err(|e| self.fail(e))
    }
}
