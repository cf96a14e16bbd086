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

/// A shift a consultant is on at this moment, in a specialty they still answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentShift {
    pub specialty: String,
    pub pool: Pool,
    /// The specialty's escalation window (how long a case waits for local consultants).
    pub escalation_ms: i64,
}

/// Which of a specialty's rotas the consultant's current shifts put them on.
pub fn on_duty(shifts: &[CurrentShift], specialty: &str) -> OnDuty {
    let on = |pool| {
        shifts
            .iter()
            .any(|s| s.specialty == specialty && s.pool == pool)
    };
    OnDuty {
        local: on(Pool::Local),
        national: on(Pool::National),
    }
}

impl OnDuty {
    /// The pool a reply counts against in reports: local wins when on both.
    pub fn pool(self) -> Option<Pool> {
        if self.local {
            Some(Pool::Local)
        } else if self.national {
            Some(Pool::National)
        } else {
            None
        }
    }
}

/// [`may_take`] as the bound a database filters on: the consultant may take a case of this
/// specialty now exactly when it (re-)entered the queue at or before the returned time.
pub fn takes_cases_queued_by(on_duty: OnDuty, escalation_ms: i64, now_ms: i64) -> Option<i64> {
    if on_duty.local {
        Some(i64::MAX)
    } else if on_duty.national {
        Some(now_ms - escalation_ms)
    } else {
        None
    }
}

/// For each specialty the consultant's current shifts cover, the bound of
/// [`takes_cases_queued_by`]: what their queue and their claims filter on.
pub fn queue_windows(shifts: &[CurrentShift], now_ms: i64) -> Vec<(String, i64)> {
    let mut windows: Vec<(String, i64)> = Vec::new();
    for s in shifts {
        if windows.iter().any(|(w, _)| *w == s.specialty) {
            continue;
        }
        if let Some(bound) =
            takes_cases_queued_by(on_duty(shifts, &s.specialty), s.escalation_ms, now_ms)
        {
            windows.push((s.specialty.clone(), bound));
        }
    }
    windows
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
    fn the_database_bound_is_the_same_rule_as_may_take() {
        let combos = [(false, false), (true, false), (false, true), (true, true)];
        for (local, national) in combos {
            let duty = OnDuty { local, national };
            for escalation in [0, H, 4 * H] {
                for queued in [0, H, 3 * H, 4 * H, 5 * H] {
                    let now = 4 * H;
                    let bound = takes_cases_queued_by(duty, escalation, now);
                    assert_eq!(
                        may_take(duty, queued, escalation, now),
                        bound.is_some_and(|b| queued <= b),
                        "{duty:?} escalation {escalation} queued {queued}"
                    );
                }
            }
        }
    }

    #[test]
    fn windows_cover_each_specialty_once_with_its_best_pool() {
        let shift = |specialty: &str, pool| CurrentShift {
            specialty: specialty.into(),
            pool,
            escalation_ms: 4 * H,
        };
        let shifts = [
            shift("dermatology", Pool::National),
            shift("dermatology", Pool::Local),
            shift("cardiology", Pool::National),
        ];
        assert_eq!(
            queue_windows(&shifts, 10 * H),
            vec![
                ("dermatology".into(), i64::MAX),
                ("cardiology".into(), 6 * H)
            ]
        );
        assert_eq!(on_duty(&shifts, "cardiology").pool(), Some(Pool::National));
        assert_eq!(on_duty(&shifts, "dermatology").pool(), Some(Pool::Local));
        assert_eq!(on_duty(&shifts, "neurology").pool(), None);
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
