//! Sign-in throttling: after too many wrong passwords for one account, sign-in to that account
//! pauses for a while. Counted per account, not per address, because NHS sites reach us through
//! a few shared addresses; unknown emails are throttled the same way, so a pause reveals nothing
//! about who has an account.

/// Password checks allowed for one account within [`WINDOW_MS`] (wrong ones, and those still in
/// flight) before sign-in to it pauses.
pub const MAX_FAILURES: usize = 5;
pub const WINDOW_MS: i64 = 15 * 60_000;

/// When sign-in to an account opens again, given the times of its latest failures (newest
/// first, at most [`MAX_FAILURES`] of them); `None` if it is open now.
pub fn paused_until(latest_failures_ms: &[i64], now_ms: i64) -> Option<i64> {
    let oldest_counted = *latest_failures_ms.get(MAX_FAILURES - 1)?;
    let opens = oldest_counted + WINDOW_MS;
    (opens > now_ms).then_some(opens)
}

/// "in 1 minute", "in 12 minutes": rounded up, so the user never comes back too early.
pub fn wait_phrase(until_ms: i64, now_ms: i64) -> String {
    let minutes = ((until_ms - now_ms).max(0) + 59_999) / 60_000;
    match minutes {
        0 | 1 => "in 1 minute".into(),
        n => format!("in {n} minutes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000_000;

    #[test]
    fn open_until_the_fifth_failure_within_the_window() {
        assert_eq!(paused_until(&[], NOW), None);
        let four = [NOW - 1_000, NOW - 2_000, NOW - 3_000, NOW - 4_000];
        assert_eq!(paused_until(&four, NOW), None);
        let five = [
            NOW - 1_000,
            NOW - 2_000,
            NOW - 3_000,
            NOW - 4_000,
            NOW - 5_000,
        ];
        assert_eq!(paused_until(&five, NOW), Some(NOW - 5_000 + WINDOW_MS));
    }

    #[test]
    fn opens_when_the_oldest_counted_failure_leaves_the_window() {
        let five = [
            NOW - 1_000,
            NOW - 2_000,
            NOW - 3_000,
            NOW - 4_000,
            NOW - WINDOW_MS,
        ];
        assert_eq!(paused_until(&five, NOW), None);
        let five = [NOW, NOW, NOW, NOW, NOW - WINDOW_MS + 1];
        assert_eq!(paused_until(&five, NOW), Some(NOW + 1));
    }

    #[test]
    fn wait_is_rounded_up_to_whole_minutes() {
        assert_eq!(wait_phrase(NOW + 1, NOW), "in 1 minute");
        assert_eq!(wait_phrase(NOW + 60_000, NOW), "in 1 minute");
        assert_eq!(wait_phrase(NOW + 60_001, NOW), "in 2 minutes");
        assert_eq!(wait_phrase(NOW + WINDOW_MS, NOW), "in 15 minutes");
    }
}
