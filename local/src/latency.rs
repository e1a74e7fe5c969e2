//! Simulated model latency for makespan studies and load runs.

use std::sync::Mutex;
use std::time::Duration;

/// Simulated task latency: how long each invocation of a function takes on the clock.
pub type Latency = Box<dyn Fn(&str) -> Duration + Send + Sync>;

/// The AI step's latency drawn from a lognormal distribution with median `median` seconds and
/// shape `sigma`, reproducibly from `seed`; every other function answers at once.
pub fn lognormal_latency(median: f64, sigma: f64, seed: u64) -> Latency {
    use rand::{Rng, SeedableRng};
    let rng = Mutex::new(rand::rngs::StdRng::seed_from_u64(seed));
    Box::new(move |function: &str| {
        if !function.ends_with("generate-tasks") {
            return Duration::ZERO;
        }
        let (u1, u2): (f64, f64) = match rng.lock() {
            Ok(mut r) => (r.gen_range(f64::EPSILON..1.0), r.gen()),
            Err(_) => (0.5, 0.0),
        };
        // Box-Muller: a standard normal from two uniforms.
        let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        // A latency a Lambda function could not have (past 900 s, or not a number) is capped.
        let seconds = (median * (sigma * normal).exp()).clamp(0.0, 900.0);
        Duration::try_from_secs_f64(seconds).unwrap_or(Duration::from_secs(900))
    })
}
