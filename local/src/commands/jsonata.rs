//! `sfn-local jsonata`: evaluates one JSONata expression and prints `{"result": ...}`,
//! `{"undefined": true}` or `{"error": {"code", "message", "position"}}`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jsonata_engine::{Error, Expression, Options};
use serde_json::{json, Map, Value};

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("expression").required(true).args(["expr", "expr_file"])))]
pub struct Args {
    /// The expression.
    #[arg(long)]
    expr: Option<String>,
    /// A file holding the expression.
    #[arg(long)]
    expr_file: Option<PathBuf>,
    /// A JSON file holding the input (`$`).
    #[arg(long, conflicts_with = "no_input")]
    input: Option<PathBuf>,
    /// Evaluate without input (`$` is undefined); the default when no --input is given.
    #[arg(long)]
    no_input: bool,
    /// A JSON file holding an object whose members are bound as variables.
    #[arg(long)]
    bindings: Option<PathBuf>,
    /// The deepest the evaluation may nest.
    #[arg(long)]
    depth: Option<u32>,
    /// Milliseconds the evaluation may run.
    #[arg(long)]
    timelimit: Option<u64>,
}

/// A problem with the command's arguments or files, as opposed to one of the expression.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not JSON: {source}")]
    NotJson {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("the bindings in {0} are not a JSON object")]
    BindingsNotObject(PathBuf),
}

fn read_json(path: &Path) -> Result<Value, UsageError> {
    let text = std::fs::read(path).map_err(|source| UsageError::Read {
        path: path.into(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|source| UsageError::NotJson {
        path: path.into(),
        source,
    })
}

/// The expression's text; one that is not UTF-8 is an error of the expression.
fn expression_text(args: &Args) -> Result<Result<String, Error>, UsageError> {
    if let Some(expr) = &args.expr {
        return Ok(Ok(expr.clone()));
    }
    let path = args.expr_file.as_deref().unwrap_or(Path::new("-"));
    let bytes = std::fs::read(path).map_err(|source| UsageError::Read {
        path: path.into(),
        source,
    })?;
    Ok(String::from_utf8(bytes)
        .map_err(|e| Error::new("U1000", format!("the expression is not UTF-8 text: {e}"))))
}

/// Prints the answer of the expression; an expression that fails is an answer, not a failure.
pub fn main(args: Args) -> Result<(), String> {
    let answer = evaluate(&args).map_err(|e| e.to_string())?;
    println!("{answer}");
    Ok(())
}

/// Evaluates as `args` says and answers the JSON object to print.
pub fn evaluate(args: &Args) -> Result<Value, UsageError> {
    let text = expression_text(args)?;
    let input = match (&args.input, args.no_input) {
        (Some(path), false) => Some(read_json(path)?),
        _ => None,
    };
    let bindings = match &args.bindings {
        Some(path) => match read_json(path)? {
            Value::Object(map) => map,
            _ => return Err(UsageError::BindingsNotObject(path.clone())),
        },
        None => Map::new(),
    };
    let options = Options {
        max_depth: args.depth,
        time_limit: args.timelimit.map(Duration::from_millis),
        ..Options::default()
    };
    let answer = text.and_then(|text| {
        Expression::compile(&text)?.evaluate_with(input.as_ref(), &bindings, &options)
    });
    Ok(match answer {
        Ok(Some(result)) => json!({ "result": result }),
        Ok(None) => json!({ "undefined": true }),
        Err(error) => json!({ "error": error }),
    })
}
