//! Progress and remaining-time estimates, used when progress is written and when it is read.

/// Percent of actions finished (successfully or not), 0..=100; 100 exactly when all are finished.
pub fn progress_percent(processed: u32, total: u32) -> u8 {
    if total == 0 || processed >= total {
        return if total == 0 { 0 } else { 100 };
    }
    // Floor, so a run shows 100 only when every action is done.
    (u64::from(processed) * 100 / u64::from(total)) as u8
}

/// Seconds left, extrapolating the mean time per finished action over the remaining ones;
/// `None` before the actions are counted or the first one finishes, `Some(0)` once all are, and
/// at least 1 while any remains (actions that finished within the first second do not make an
/// unfinished run look done).
pub fn eta_seconds(elapsed_seconds: u64, processed: u32, total: u32) -> Option<u64> {
    if total == 0 {
        return None;
    }
    if processed >= total {
        return Some(0);
    }
    if processed == 0 {
        return None;
    }
    let remaining = u64::from(total - processed);
    Some(
        (elapsed_seconds * remaining)
            .div_ceil(u64::from(processed))
            .max(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_is_floored_and_bounded() {
        assert_eq!(progress_percent(0, 64), 0);
        assert_eq!(progress_percent(63, 64), 98);
        assert_eq!(progress_percent(64, 64), 100);
        assert_eq!(progress_percent(70, 64), 100);
        assert_eq!(progress_percent(0, 0), 0);
    }

    #[test]
    fn eta_extrapolates_the_mean_pace() {
        assert_eq!(eta_seconds(30, 0, 64), None);
        assert_eq!(
            eta_seconds(30, 0, 0),
            None,
            "the actions are not counted yet"
        );
        assert_eq!(eta_seconds(30, 16, 64), Some(90));
        assert_eq!(eta_seconds(100, 64, 64), Some(0));
        assert_eq!(eta_seconds(0, 1, 64), Some(1), "not done, so not zero");
    }
}
