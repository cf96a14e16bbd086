//! Rota and claim rules: who may take a case now, and when a claim lapses.

use super::{word_enum, CaseStatus, Urgency};

word_enum!(
    /// The rota a shift is on: the specialty's local consultants, or the national pool that
    /// takes cases nobody local picked up within the escalation window.
    Pool, "pool", {
        Local => "local",
        National => "national",
    }
);

/// A claim nobody has touched for this long goes back to the queue.
pub const CLAIM_IDLE_LIMIT_MS: i64 = 60 * 60 * 1000;

/// Which of a specialty's rotas a consultant is on at this moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnDuty {
    pub local: bool,
    pub national: bool,
}

/// Local consultants on duty see a case at once; the national pool once the specialty's
/// escalation window has passed since the case (re-)entered the queue.
pub fn may_take(on_duty: OnDuty, queued_at_ms: i64, escalation_ms: i64, now_ms: i64) -> bool {
    on_duty.local || (on_duty.national && now_ms >= queued_at_ms + escalation_ms)
}

/// A lapsed claim reads as back in the queue, without any job having to run.
pub fn effective_status(
    status: CaseStatus,
    claim_expires_at_ms: Option<i64>,
    now_ms: i64,
) -> CaseStatus {
    match (status, claim_expires_at_ms) {
        (CaseStatus::Claimed, Some(expires)) if expires < now_ms => CaseStatus::Submitted,
        (s, _) => s,
    }
}

/// The answer is due by submission time plus the specialty's target for this urgency.
pub fn due_at_ms(
    submitted_at_ms: i64,
    urgency: Urgency,
    routine_target_ms: i64,
    urgent_target_ms: i64,
) -> i64 {
    submitted_at_ms
        + match urgency {
            Urgency::Routine => routine_target_ms,
            Urgency::Urgent => urgent_target_ms,
        }
}

/// "3 h 20 min left", "1 day 2 h overdue": what a consultant scanning the queue needs.
pub fn describe_time_left(due_at_ms: i64, now_ms: i64) -> String {
    let diff = due_at_ms - now_ms;
    let minutes = diff.abs() / 60_000;
    let (days, hours, mins) = (minutes / 1440, (minutes % 1440) / 60, minutes % 60);
    let span = if days > 0 {
        format!("{days} day{} {hours} h", if days == 1 { "" } else { "s" })
    } else if hours > 0 {
        format!("{hours} h {mins} min")
    } else {
        format!("{mins} min")
    };
    if diff >= 0 {
        format!("{span} left")
    } else {
        format!("{span} overdue")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn national_pool_waits_for_the_escalation_window() {
        let local = OnDuty {
            local: true,
            national: false,
        };
        let national = OnDuty {
            local: false,
            national: true,
        };
        assert!(may_take(local, 0, 4 * H, 0));
        assert!(!may_take(national, 0, 4 * H, 4 * H - 1));
        assert!(may_take(national, 0, 4 * H, 4 * H));
        assert!(!may_take(OnDuty::default(), 0, 0, 10 * H));
    }

    #[test]
    fn lapsed_claims_read_as_queued() {
        assert_eq!(
            effective_status(CaseStatus::Claimed, Some(10), 11),
            CaseStatus::Submitted
        );
        assert_eq!(
            effective_status(CaseStatus::Claimed, Some(10), 10),
            CaseStatus::Claimed
        );
        assert_eq!(
            effective_status(CaseStatus::Closed, Some(1), 99),
            CaseStatus::Closed
        );
    }

    #[test]
    fn time_left_reads_naturally() {
        assert_eq!(
            describe_time_left(3 * H + 20 * 60_000, 0),
            "3 h 20 min left"
        );
        assert_eq!(describe_time_left(0, 26 * H), "1 day 2 h overdue");
        assert_eq!(describe_time_left(5 * 60_000, 0), "5 min left");
        assert_eq!(
            due_at_ms(100, Urgency::Urgent, 48 * H, 24 * H),
            100 + 24 * H
        );
    }
}
