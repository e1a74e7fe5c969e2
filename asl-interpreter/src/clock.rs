//! Time as the executor sees it. The virtual clock runs on tokio's paused clock: when every task is idle
//! waiting on a timer, time jumps to the next deadline, so waits, retry intervals and timeouts elapse
//! instantly and in the right order across concurrent branches. Blocking work (HTTP calls) runs under
//! `spawn_blocking`, which keeps the paused clock from advancing while it runs.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// The longest single sleep: past an execution's one-year limit, so any longer wait ends the same way.
pub const MAX_SLEEP: Duration = Duration::from_secs(2 * 366 * 24 * 3600);

#[async_trait]
pub trait Clock: Send + Sync {
    /// The current instant (virtual or wall).
    fn now(&self) -> DateTime<Utc>;
    async fn sleep(&self, duration: Duration);
    /// Whether the runtime must be started with a paused clock.
    fn is_virtual(&self) -> bool;
}

/// Wall-clock time.
#[derive(Debug, Default, Clone)]
pub struct RealClock;

#[async_trait]
impl Clock for RealClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration.min(MAX_SLEEP)).await
    }
    fn is_virtual(&self) -> bool {
        false
    }
}

/// Wall-clock time whose waits (Wait states, retry intervals, simulated latencies) last `scale`
/// times as long, as Step Functions Local's `WAIT_TIME_SCALE` makes them: 0 does not wait at all,
/// 0.5 waits half as long. Timeouts still run on the wall clock.
#[derive(Debug, Clone, Copy)]
pub struct ScaledClock {
    scale: f64,
}

/// A wait-time scale that is not a finite number of at least 0.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the wait-time scale must be a number of at least 0, but was: {0}")]
pub struct BadScale(pub String);

impl ScaledClock {
    pub fn new(scale: f64) -> Result<Self, BadScale> {
        if scale.is_finite() && scale >= 0.0 {
            Ok(ScaledClock { scale })
        } else {
            Err(BadScale(scale.to_string()))
        }
    }

    /// The scale as `WAIT_TIME_SCALE` (or a command-line option) spells it.
    pub fn parse(text: &str) -> Result<Self, BadScale> {
        let scale: f64 = text.trim().parse().map_err(|_| BadScale(text.to_owned()))?;
        ScaledClock::new(scale).map_err(|_| BadScale(text.to_owned()))
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }
}

#[async_trait]
impl Clock for ScaledClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    async fn sleep(&self, duration: Duration) {
        let scaled = duration.min(MAX_SLEEP).mul_f64(self.scale);
        if !scaled.is_zero() {
            tokio::time::sleep(scaled).await
        }
    }
    fn is_virtual(&self) -> bool {
        false
    }
}

/// Virtual time: starts at `origin` and advances only through sleeps. Needs a runtime built by
/// [`runtime`] with `virtual = true` (or `#[tokio::test(start_paused = true)]`).
#[derive(Debug, Clone)]
pub struct VirtualClock {
    origin: DateTime<Utc>,
    anchor: std::sync::Arc<std::sync::OnceLock<tokio::time::Instant>>,
}

impl VirtualClock {
    pub fn new(origin: DateTime<Utc>) -> Self {
        VirtualClock {
            origin,
            anchor: Default::default(),
        }
    }

    fn elapsed(&self) -> Duration {
        match tokio::runtime::Handle::try_current() {
            Ok(_) => {
                let anchor = *self.anchor.get_or_init(tokio::time::Instant::now);
                tokio::time::Instant::now().saturating_duration_since(anchor)
            }
            Err(_) => Duration::ZERO,
        }
    }
}

impl Default for VirtualClock {
    fn default() -> Self {
        VirtualClock::new(Utc::now())
    }
}

#[async_trait]
impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.elapsed()).unwrap_or(chrono::Duration::MAX);
        self.origin
            .checked_add_signed(elapsed)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
    async fn sleep(&self, duration: Duration) {
        let _ = self.elapsed();
        tokio::time::sleep(duration.min(MAX_SLEEP)).await
    }
    fn is_virtual(&self) -> bool {
        true
    }
}

/// Keeps a paused (virtual) clock where it is while it lives, for at most `patience` of real time:
/// what a task waiting on someone outside the runtime (an activity's worker, the sender of a task
/// token) needs, since a runtime waiting only on them is idle and its paused clock would jump to
/// the task's deadline before they could answer. Dropping it lets the clock go on at once.
#[must_use = "the clock is held only while the Hold lives"]
pub struct Hold {
    _release: Option<std::sync::mpsc::Sender<()>>,
}

/// Holds the current runtime's paused clock for at most `patience` of real time (see [`Hold`]).
/// Outside a runtime, or on one whose clock is not paused, it holds nothing that matters.
pub fn hold(patience: Duration) -> Hold {
    if tokio::runtime::Handle::try_current().is_err() {
        return Hold { _release: None };
    }
    let (release, released) = std::sync::mpsc::channel::<()>();
    // Blocking work keeps a paused clock from advancing while it runs; it ends when the Hold is
    // dropped (the channel disconnects) or its patience runs out.
    drop(tokio::task::spawn_blocking(move || {
        let _ = released.recv_timeout(patience);
    }));
    Hold {
        _release: Some(release),
    }
}

/// A single-threaded runtime suitable for `clock`: paused for a virtual clock.
pub fn runtime(clock: &dyn Clock) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_time();
    if clock.is_virtual() {
        // No I/O driver: a paused clock jumps ahead whenever every task waits, so a task waiting
        // on a socket would see time fly. I/O runs under spawn_blocking instead.
        builder.start_paused(true);
    } else {
        // Real time can wait on sockets (the DynamoDB store of `run --aws-endpoint`, say).
        builder.enable_io();
    }
    builder.build()
}

/// Formats an instant the way the context object and history show it.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn virtual_sleep_is_instant_and_ordered() {
        let clock = VirtualClock::default();
        let start = clock.now();
        let wall = std::time::Instant::now();
        let (a, b) = tokio::join!(
            async {
                clock.sleep(Duration::from_secs(3600)).await;
                clock.now()
            },
            async {
                clock.sleep(Duration::from_secs(60)).await;
                clock.now()
            }
        );
        assert!(wall.elapsed() < Duration::from_secs(5));
        assert_eq!((a - start).num_seconds(), 3600);
        assert_eq!((b - start).num_seconds(), 60);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_keeps_virtual_time_still_until_dropped_or_out_of_patience() {
        let clock = VirtualClock::default();
        let start = clock.now();
        let wall = std::time::Instant::now();
        let held = hold(Duration::from_secs(30));
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            let _ = tx.send(());
        });
        // An answer from outside the runtime beats a virtual deadline while the clock is held.
        let answered = tokio::time::timeout(Duration::from_secs(3600), rx).await;
        assert!(matches!(answered, Ok(Ok(()))), "the deadline passed first");
        assert!((clock.now() - start).num_milliseconds() < 1000);
        drop(held);
        // Released, the clock jumps to the next deadline at once.
        let _held = hold(Duration::from_millis(50));
        let never = std::future::pending::<()>();
        assert!(tokio::time::timeout(Duration::from_secs(3600), never)
            .await
            .is_err());
        assert_eq!((clock.now() - start).num_seconds(), 3600);
        assert!(
            wall.elapsed() < Duration::from_secs(5),
            "{:?}",
            wall.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_scaled_clock_waits_a_fraction_of_the_time() {
        let half = ScaledClock::new(0.5).expect("a scale");
        let start = tokio::time::Instant::now();
        half.sleep(Duration::from_secs(60)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(30));
        let none = ScaledClock::parse("0").expect("a scale");
        let start = tokio::time::Instant::now();
        none.sleep(Duration::from_secs(60)).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(ScaledClock::parse("-1").is_err());
        assert!(ScaledClock::parse("fast").is_err());
        assert!(ScaledClock::new(f64::NAN).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn blocking_work_does_not_advance_virtual_time() {
        let clock = VirtualClock::default();
        let start = clock.now();
        let timed = tokio::time::timeout(
            Duration::from_secs(1),
            tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(1500))),
        )
        .await;
        assert!(timed.is_ok(), "the timeout fired while blocking work ran");
        assert!((clock.now() - start).num_milliseconds() < 1000);
    }
}
