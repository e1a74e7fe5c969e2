//! Settings a state reads when it runs (TimeoutSeconds, MaxConcurrency, Seconds, Error, ...): given
//! in the field itself, literally or as a JSONata expression, or in a JSONPath state through the
//! `…Path` field that selects the value in the state's input.

use serde_json::{Map, Value};

use crate::error::StatesError;
use crate::pipeline::StateCtx;

/// Where a setting's value came from: AWS words its causes differently for each.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Source {
    /// The field itself: its literal value, or in a JSONata state its expression's value.
    Field,
    /// The `…Path` field, holding this path (or intrinsic function) text.
    Path(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Setting {
    pub value: Value,
    pub source: Source,
}

impl StateCtx {
    /// The setting `field`: in a JSONata state the field evaluated with `vars`; in a JSONPath state
    /// the literal field or, when it is absent, the value its `…Path` selects in `input`.
    pub(super) fn setting(
        &self,
        field: &str,
        input: &Value,
        vars: &Map<String, Value>,
    ) -> Result<Option<Setting>, StatesError> {
        let state = &self.state;
        if let Some(given) = state.field(field) {
            let value = if state.is_jsonata() {
                self.jsonata(given, vars, field)?
            } else {
                given.clone()
            };
            return Ok(Some(Setting {
                value,
                source: Source::Field,
            }));
        }
        let path_field = format!("{field}Path");
        let Some(Value::String(path)) = state.field(&path_field).filter(|_| !state.is_jsonata())
        else {
            return Ok(None);
        };
        let value = self
            .scope(input)
            .dynamic(path, &path_field)
            .map_err(|e| self.fail(e))?;
        Ok(Some(Setting {
            value,
            source: Source::Path(path.clone()),
        }))
    }
}

/// A value as AWS quotes it in a cause: a string as it is, anything else as JSON.
pub(super) fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
