//! The commands, one module each: its arguments and a `main` that does the work and returns the
//! message to print when it cannot.

pub mod bench;
pub mod exec;
pub mod jsonata;
pub mod load;
pub mod run;
pub mod serve;
pub mod stores;
pub mod token;

use asl_interpreter::ScaledClock;
use clap::ValueEnum;

/// Where `serve` and `token` keep the development signing key.
pub const DEV_KEY_FILE: &str = ".sfn-local/dev-key";

/// Which clock an execution runs on.
#[derive(Clone, Copy, ValueEnum)]
pub enum ClockKind {
    Virtual,
    Real,
}

/// A finite number within `range`, for the command line's numeric options.
pub fn bounded(s: &str, range: std::ops::RangeInclusive<f64>) -> Result<f64, String> {
    let n: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if n.is_finite() && range.contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "{s} is out of range: expected {} to {}",
            range.start(),
            range.end()
        ))
    }
}

/// A Lambda function runs for at most 900 seconds.
pub fn latency_seconds(s: &str) -> Result<f64, String> {
    bounded(s, 0.0..=900.0)
}

pub fn latency_sigma(s: &str) -> Result<f64, String> {
    bounded(s, 0.0..=3.0)
}

/// The environment variable Step Functions Local reads its wait-time scale from.
pub const WAIT_TIME_SCALE: &str = "WAIT_TIME_SCALE";

/// A wait-time scale on the command line: a number of at least 0.
pub fn wait_time_scale(s: &str) -> Result<ScaledClock, String> {
    ScaledClock::parse(s).map_err(|e| e.to_string())
}

/// The real clock's wait-time scale: `flag` (`--wait-time-scale`), else `WAIT_TIME_SCALE`, as in
/// Step Functions Local; none when neither is given.
pub fn scaled_waits(flag: Option<ScaledClock>) -> Result<Option<ScaledClock>, String> {
    if flag.is_some() {
        return Ok(flag);
    }
    match std::env::var(WAIT_TIME_SCALE) {
        Ok(text) if !text.trim().is_empty() => wait_time_scale(&text)
            .map(Some)
            .map_err(|e| format!("{WAIT_TIME_SCALE}: {e}")),
        _ => Ok(None),
    }
}
