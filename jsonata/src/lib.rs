//! JSONata 2.x, evaluated by the reference implementation (jsonata.js 2.2.2, vendored in `js/`) in an
//! embedded QuickJS.
//!
//! The API is small on purpose, so the engine behind it can be swapped: compile an expression once,
//! evaluate it with an input and bindings, and get a JSON value, JSONata's undefined (`None`) or an
//! [`Error`] with JSONata's code, message and position.
//!
//! ```
//! use jsonata_engine::Expression;
//! use serde_json::{json, Map};
//!
//! let expr = Expression::compile("$sum(orders.price) * $rate").unwrap();
//! let mut bindings = Map::new();
//! bindings.insert("rate".into(), json!(2));
//! let input = json!({"orders": [{"price": 3}, {"price": 4}]});
//! assert_eq!(expr.evaluate(Some(&input), &bindings), Ok(Some(json!(14))));
//!
//! let err = Expression::compile("1 +").unwrap_err();
//! assert_eq!(err.code, "S0207");
//! ```
//!
//! Each thread keeps its own QuickJS runtime (a runtime cannot move between threads), created on the
//! first use and holding the compiled form of the expressions that thread evaluated. An [`Expression`]
//! is plain text once checked, so it is `Send` and `Sync` and may be evaluated on any thread.
//!
//! Runaway expressions end with an error, never a hang or a crash: [`Options::max_depth`] and
//! [`Options::time_limit`] bound one evaluation as JSONata's test harness does (code `U1001`), and
//! every evaluation is also bound by [`HARD_TIME_LIMIT`], a memory limit and a native stack limit.

mod runtime;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

/// The longest any one evaluation may run, whatever its options.
pub const HARD_TIME_LIMIT: Duration = Duration::from_secs(30);

/// A failed compilation or evaluation: JSONata's error code (`T2001`, `S0202`, `D3030`, ...), its
/// message, and the character position in the expression where JSONata knows it.
///
/// Displays as `code: message`, the form AWS Step Functions quotes in its causes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl Error {
    /// An error with `code` and `message` and no position.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            code: code.into(),
            message: message.into(),
            position: None,
            token: None,
        }
    }
}

/// A function implemented in Rust, callable from expressions as `$name(...)`.
///
/// `signature` is a JSONata function signature such as `<a<n>n:a>` (arguments are checked against it
/// before `call` runs), or empty for none. `call` gets one item per argument, `None` for undefined,
/// and answers a value, undefined, or an error that ends the evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Function {
    pub name: &'static str,
    pub signature: &'static str,
    pub call: NativeFn,
}

/// The Rust side of a [`Function`]: its arguments (`None` for undefined) to its answer.
pub type NativeFn = fn(&[Option<Value>]) -> Result<Option<Value>, Error>;

/// How one evaluation runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Functions added to JSONata's library; one of the same name replaces the built-in.
    pub functions: &'static [Function],
    /// The instant `$now()` and `$millis()` answer, in milliseconds since the epoch; the system
    /// clock when `None`.
    pub now_millis: Option<i64>,
    /// The deepest the evaluation may nest (JSONata's test-harness count of entered expressions).
    pub max_depth: Option<u32>,
    /// How long the evaluation may run.
    pub time_limit: Option<Duration>,
}

/// A JSONata expression whose syntax has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expression {
    text: Arc<str>,
}

impl Expression {
    /// Parses `text`; a syntax error answers JSONata's `S0xxx` error with its position.
    pub fn compile(text: &str) -> Result<Self, Error> {
        runtime::compile(text, &[])?;
        Ok(Expression { text: text.into() })
    }

    /// The text the expression was compiled from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Evaluates with `input` as the context (`$`; `None` for no input) and `bindings` as variables.
    pub fn evaluate(
        &self,
        input: Option<&Value>,
        bindings: &Map<String, Value>,
    ) -> Result<Option<Value>, Error> {
        self.evaluate_with(input, bindings, &Options::default())
    }

    /// Evaluates as [`Expression::evaluate`] does, with `options`.
    pub fn evaluate_with(
        &self,
        input: Option<&Value>,
        bindings: &Map<String, Value>,
        options: &Options,
    ) -> Result<Option<Value>, Error> {
        runtime::evaluate(&self.text, input, bindings, options)
    }
}
