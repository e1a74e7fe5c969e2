//! `sfn-local exec`: runs a definition once and prints `{"status", "output", "error", "cause"}`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use asl_interpreter::{
    Clock, Definition, Executor, HttpInvoker, LambdaInvoker, RealClock, ScaledClock, VirtualClock,
};

use super::{scaled_waits, wait_time_scale, ClockKind};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    definition: PathBuf,
    #[arg(long)]
    input: Option<PathBuf>,
    /// Base URL of a Lambda Invoke API endpoint.
    #[arg(long, default_value = "http://127.0.0.1:9001")]
    lambda_endpoint: String,
    #[arg(long, value_enum, default_value_t = ClockKind::Virtual)]
    clock: ClockKind,
    /// Scales the waits (Wait states, retry intervals) on the real clock: 0 does not wait, 0.5
    /// waits half as long (default: WAIT_TIME_SCALE, else 1). The virtual clock's waits take no
    /// time anyway.
    #[arg(long, value_parser = wait_time_scale)]
    wait_time_scale: Option<ScaledClock>,
    /// `${KEY}` definition substitutions, as KEY=VALUE.
    #[arg(long = "substitution", value_parser = parse_substitution)]
    substitutions: Vec<(String, String)>,
}

/// Runs the definition once and prints its summary.
pub fn main(args: Args) -> Result<(), String> {
    let text = std::fs::read_to_string(&args.definition)
        .map_err(|e| format!("cannot read definition {}: {e}", args.definition.display()))?;
    let substitutions: HashMap<String, String> = args.substitutions.into_iter().collect();
    let definition = Definition::parse_with(&text, &substitutions)
        .map_err(|e| format!("unusable definition: {e}"))?;
    let input = match &args.input {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read input {}: {e}", path.display()))?;
            if text.trim().is_empty() {
                serde_json::json!({})
            } else {
                serde_json::from_str(&text)
                    .map_err(|e| format!("input {} is not JSON: {e}", path.display()))?
            }
        }
        None => serde_json::json!({}),
    };
    let scaled = scaled_waits(args.wait_time_scale)?;
    let clock: Arc<dyn Clock> = match (args.clock, scaled) {
        (ClockKind::Virtual, _) => Arc::new(VirtualClock::default()),
        (ClockKind::Real, Some(scaled)) => Arc::new(scaled),
        (ClockKind::Real, None) => Arc::new(RealClock),
    };
    let invoker: Arc<dyn LambdaInvoker> = Arc::new(HttpInvoker::new(args.lambda_endpoint));
    let executor = Executor::new(definition, invoker, clock);
    let result = executor
        .execute_blocking(input)
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    println!("{}", result.summary());
    Ok(())
}

fn parse_substitution(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got '{s}'"))
}
