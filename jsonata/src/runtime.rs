//! The QuickJS side: one runtime per thread, with jsonata.js and the bridge loaded, answering JSON
//! envelopes that are decoded here.

use std::cell::{Cell, RefCell};
use std::time::Instant;

use rquickjs::{Context, Ctx, Function, Module, Promise, Runtime};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::{Error, Options, HARD_TIME_LIMIT};

/// jsonata.js and the bridge as one QuickJS module, compiled by build.rs.
static JSONATA_BYTECODE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/jsonata.qjsbc"));

/// Memory one runtime may hold.
const MEMORY_LIMIT: usize = 1 << 30;
/// Native stack an evaluation may use; below the 2 MiB of Rust's and tokio's spawned threads.
const STACK_LIMIT: usize = 1 << 20;

struct Engine {
    /// Held so the runtime outlives the context.
    _runtime: Runtime,
    context: Context,
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
    /// When the running evaluation must stop; read by QuickJS's interrupt handler.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The native function sets this thread's runtime knows, by the index the bridge names them with.
    static SETS: RefCell<Vec<&'static [crate::Function]>> = const { RefCell::new(Vec::new()) };
}

/// The bridge's answer.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    undefined: bool,
    #[serde(default)]
    error: Option<JsError>,
}

#[derive(Deserialize)]
struct JsError {
    code: String,
    message: String,
    #[serde(default)]
    position: Option<f64>,
    #[serde(default)]
    token: Option<String>,
}

impl From<JsError> for Error {
    fn from(e: JsError) -> Self {
        Error {
            code: e.code,
            message: e.message,
            position: e.position.filter(|p| *p >= 0.0).map(|p| p as u64),
            token: e.token,
        }
    }
}

fn engine_error(message: impl Into<String>) -> Error {
    Error::new("U1000", message)
}

fn timeout() -> Error {
    Error::new(
        "U1001",
        "Expression evaluation timeout: Check for infinite loop",
    )
}

fn new_engine() -> Result<Engine, Error> {
    let fail = |e: rquickjs::Error| engine_error(format!("the JSONata runtime cannot start: {e}"));
    let runtime = Runtime::new().map_err(fail)?;
    runtime.set_memory_limit(MEMORY_LIMIT);
    runtime.set_max_stack_size(STACK_LIMIT);
    runtime.set_interrupt_handler(Some(Box::new(|| {
        DEADLINE.with(|d| d.get().is_some_and(|t| Instant::now() >= t))
    })));
    let context = Context::full(&runtime).map_err(fail)?;
    context.with(|ctx| -> Result<(), Error> {
        // SAFETY: the bytes are the module build.rs wrote with this crate's own QuickJS: the lock
        // file holds one rquickjs, built with the same features for the build script and this
        // crate (Cargo.toml keeps the two lists equal), in the target's byte order; QuickJS also
        // refuses bytecode of another version when it reads it.
        let loaded = unsafe { Module::load(ctx.clone(), JSONATA_BYTECODE) }
            .and_then(Module::eval)
            .and_then(|(_, evaluated)| evaluated.finish::<()>())
            .and_then(|()| {
                let native = Function::new(ctx.clone(), call_native)?;
                ctx.globals().set("__native", native)
            });
        loaded.map_err(|e| engine_error(format!("jsonata.js cannot load: {}", describe(&ctx, e))))
    })?;
    Ok(Engine {
        _runtime: runtime,
        context,
    })
}

/// Runs `f` with this thread's engine, starting it if need be; an engine `f` reports broken (an
/// evaluation cut off part way) is dropped, and the next call starts afresh.
fn with_engine<T>(f: impl FnOnce(&Engine) -> Result<T, (Error, bool)>) -> Result<T, Error> {
    ENGINE.with(|cell| {
        let mut slot = cell
            .try_borrow_mut()
            .map_err(|_| engine_error("a JSONata function cannot evaluate another expression"))?;
        if slot.is_none() {
            *slot = Some(new_engine()?);
        }
        let engine = slot
            .as_ref()
            .ok_or_else(|| engine_error("no JSONata runtime"))?;
        match f(engine) {
            Ok(v) => Ok(v),
            Err((e, broken)) => {
                if broken {
                    *slot = None;
                }
                Err(e)
            }
        }
    })
}

/// The index of `functions` among the sets this thread knows, and the bridge's description of it.
fn function_set(functions: &'static [crate::Function]) -> (usize, String) {
    let index = SETS.with(|sets| {
        let mut sets = sets.borrow_mut();
        match sets.iter().position(|s| std::ptr::eq(*s, functions)) {
            Some(i) => i,
            None => {
                sets.push(functions);
                sets.len() - 1
            }
        }
    });
    let described: Vec<[&str; 2]> = functions.iter().map(|f| [f.name, f.signature]).collect();
    (index, json!(described).to_string())
}

/// Called by the bridge for `$name(...)` of a native function: `args` is a JSON list holding `[]` for
/// an undefined argument and `[value]` otherwise; the answer is an envelope.
fn call_native(set: usize, index: usize, args: String) -> String {
    let function = SETS.with(|sets| sets.borrow().get(set).and_then(|s| s.get(index)).copied());
    let answer = match (function, serde_json::from_str::<Vec<Vec<Value>>>(&args)) {
        (Some(function), Ok(args)) => {
            let args: Vec<Option<Value>> = args.into_iter().map(|a| a.into_iter().next()).collect();
            (function.call)(&args)
        }
        (None, _) => Err(engine_error("no such native function")),
        (_, Err(e)) => Err(engine_error(format!("unreadable arguments: {e}"))),
    };
    match answer {
        Ok(Some(v)) => json!({ "result": v }),
        Ok(None) => json!({ "undefined": true }),
        Err(e) => json!({ "error": e }),
    }
    .to_string()
}

/// The text of a pending JavaScript exception.
fn describe(ctx: &Ctx<'_>, e: rquickjs::Error) -> String {
    if e.is_exception() {
        let thrown = ctx.catch();
        if let Some(ex) = thrown.as_exception() {
            return ex.to_string();
        }
        if let Some(s) = thrown.as_string().and_then(|s| s.to_string().ok()) {
            return s;
        }
        return format!("{thrown:?}");
    }
    e.to_string()
}

fn decode(envelope: &str) -> Result<Option<Value>, Error> {
    let envelope: Envelope = serde_json::from_str(envelope)
        .map_err(|e| engine_error(format!("the result is not JSON: {e}")))?;
    match (envelope.error, envelope.result) {
        (Some(e), _) => Err(e.into()),
        (None, Some(v)) => Ok(Some(v)),
        // `{"result": null}` is JSON null, which serde reads as a missing result.
        (None, None) if !envelope.undefined => Ok(Some(Value::Null)),
        (None, None) => Ok(None),
    }
}

pub(crate) fn compile(text: &str, functions: &'static [crate::Function]) -> Result<(), Error> {
    let (set, described) = function_set(functions);
    with_engine(|engine| {
        engine.context.with(|ctx| {
            let answer = ctx
                .globals()
                .get::<_, Function>("__compile")
                .and_then(|f| f.call::<_, String>((text, set, described.as_str())))
                .map_err(|e| (engine_error(describe(&ctx, e)), true))?;
            decode(&answer).map(|_| ()).map_err(|e| (e, false))
        })
    })
}

pub(crate) fn evaluate(
    text: &str,
    input: Option<&Value>,
    bindings: &Map<String, Value>,
    options: &Options,
) -> Result<Option<Value>, Error> {
    let (set, described) = function_set(options.functions);
    let unwritable = |e: serde_json::Error| engine_error(format!("unwritable JSON: {e}"));
    let input = input
        .map(serde_json::to_string)
        .transpose()
        .map_err(unwritable)?;
    let bindings = serde_json::to_string(bindings).map_err(unwritable)?;
    let mut settings = Map::new();
    if let Some(now) = options.now_millis {
        settings.insert("now".into(), now.into());
    }
    if let Some(depth) = options.max_depth {
        settings.insert("depth".into(), depth.into());
    }
    if let Some(limit) = options.time_limit {
        settings.insert("timeLimit".into(), json!(limit.as_millis() as u64));
    }
    let settings = Value::Object(settings).to_string();
    let limit = options
        .time_limit
        .map_or(HARD_TIME_LIMIT, |t| t.min(HARD_TIME_LIMIT));
    let started = Instant::now();
    DEADLINE.with(|d| d.set(Some(started + limit)));
    let answer = with_engine(|engine| {
        engine.context.with(|ctx| {
            let args = (text, set, described.as_str(), input, bindings, settings);
            let run = ctx
                .globals()
                .get::<_, Function>("__evaluate")
                .and_then(|f| f.call::<_, Promise>(args))
                .and_then(|promise| promise.finish::<String>());
            run.map_err(|e| {
                // Cut off part way: the runtime may hold the evaluation's leftovers.
                if started.elapsed() >= limit {
                    (timeout(), true)
                } else {
                    (engine_error(describe(&ctx, e)), true)
                }
            })
        })
    });
    DEADLINE.with(|d| d.set(None));
    decode(&answer?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Expression;

    #[test]
    fn a_broken_engine_is_replaced() {
        let spin = Expression::compile("($f := function($x) { $f($x) + 1 }; $f(1))").unwrap();
        let options = Options {
            time_limit: Some(std::time::Duration::from_millis(50)),
            ..Options::default()
        };
        let err = spin.evaluate_with(None, &Map::new(), &options).unwrap_err();
        assert!(err.code.starts_with('U'), "{err:?}");
        let sum = Expression::compile("1 + 2").unwrap();
        assert_eq!(sum.evaluate(None, &Map::new()), Ok(Some(json!(3))));
    }

    #[test]
    fn a_number_json_cannot_hold_is_an_error_not_null() {
        for text in ["1/0", "[1, -1/0]", "{'nan': 0/0}"] {
            let err = Expression::compile(text)
                .unwrap()
                .evaluate(None, &Map::new())
                .unwrap_err();
            assert_eq!(err.code, "D1001", "{text}: {err:?}");
        }
        static ECHO: [crate::Function; 1] = [crate::Function {
            name: "echo",
            signature: "<x:x>",
            call: |args| Ok(args.first().cloned().flatten()),
        }];
        let options = Options {
            functions: &ECHO,
            ..Options::default()
        };
        let echo = |text| {
            Expression::compile(text)
                .unwrap()
                .evaluate_with(None, &Map::new(), &options)
        };
        assert_eq!(echo("$echo([1, 2])"), Ok(Some(json!([1, 2]))));
        assert_eq!(echo("$echo([1/0])").unwrap_err().code, "D1001");
    }

    #[test]
    fn running_out_of_stack_is_an_error_not_a_crash() {
        // Rust's test threads have 2 MiB of stack, as tokio's workers do.
        let deep =
            Expression::compile("($f := function($n) { $n = 0 ? 0 : 1 + $f($n - 1) }; $f(1e5))")
                .unwrap();
        let err = deep.evaluate(None, &Map::new()).unwrap_err();
        assert_eq!(err.code, "U1000", "{err:?}");
        let sum = Expression::compile("$sum([1..4])").unwrap();
        assert_eq!(sum.evaluate(None, &Map::new()), Ok(Some(json!(10))));
    }
}
