//! Time limits: a run, one AI call, and one batch's work.

use chrono::{DateTime, Duration, Utc};

/// The state machine's TimeoutSeconds; the maintenance sweep ends records still RUNNING past it.
pub const RUN_LIMIT_SECONDS: i64 = 15 * 60;
/// GenerateTasks' TimeoutSeconds.
pub const AI_CALL_LIMIT_SECONDS: i64 = 2 * 60;
/// No action of a batch starts (or retries) later than this after the batch started.
pub const BATCH_BUDGET_SECONDS: i64 = 5 * 60;
/// The Bedrock client gives up before the state's timeout, so the handler reports the failure
/// itself (as a transient error) rather than being killed.
pub const AI_CLIENT_TIMEOUT_SECONDS: u64 = 100;

/// The instant after which a batch's remaining work must not start.
pub fn batch_deadline(batch_started_at: DateTime<Utc>) -> DateTime<Utc> {
    batch_started_at + Duration::seconds(BATCH_BUDGET_SECONDS)
}

/// Whether an AI call may start now for a batch that started at `batch_started_at`: there must be
/// time for the whole call before the batch's deadline.
pub fn may_start_ai_call(batch_started_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now + Duration::seconds(AI_CALL_LIMIT_SECONDS) <= batch_deadline(batch_started_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    #[test]
    fn ai_calls_must_fit_before_the_batch_deadline() {
        assert!(may_start_ai_call(t(0), t(0)));
        assert!(may_start_ai_call(t(0), t(180)));
        assert!(!may_start_ai_call(t(0), t(181)));
        assert!(!may_start_ai_call(t(0), t(400)));
    }
}
