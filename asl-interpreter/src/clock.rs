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
