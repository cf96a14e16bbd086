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
    /// The duty for one case: a local shift covers only the cases of practices in the ICB
    /// of the consultant's trust (`same_icb`); the national pool serves every ICB.
    pub fn for_case(self, same_icb: bool) -> OnDuty {
        OnDuty {
            local: self.local && same_icb,
            national: self.national,
        }
    }

    /// Whether this duty includes that pool.
    pub fn pool_is_on(self, pool: Pool) -> bool {
        match pool {
            Pool::Local => self.local,
            Pool::National => self.national,
        }
    }

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

/// What a consultant's queue shows of one specialty: the cases that (re-)entered the queue by
/// `queued_by_ms`, from their own ICB's practices only (a local shift) or from any (national).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub specialty: String,
    pub queued_by_ms: i64,
    pub own_icb_only: bool,
}

/// For each specialty the consultant's current shifts cover, the bounds of
/// [`takes_cases_queued_by`]: a local shift takes its own ICB's cases at once, a national one
/// any ICB's once escalated.
pub fn queue_windows(shifts: &[CurrentShift], now_ms: i64) -> Vec<Window> {
    let mut windows: Vec<Window> = Vec::new();
    for s in shifts {
        if windows.iter().any(|w| w.specialty == s.specialty) {
            continue;
        }
        let duty = on_duty(shifts, &s.specialty);
        let mut window = |duty: OnDuty, own_icb_only: bool| {
            if let Some(bound) = takes_cases_queued_by(duty, s.escalation_ms, now_ms) {
                windows.push(Window {
                    specialty: s.specialty.clone(),
                    queued_by_ms: bound,
                    own_icb_only,
                });
            }
        };
        if duty.local {
            window(duty.for_case(true), true);
        }
        if duty.national {
            window(duty.for_case(false), false);
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
    submitted_at_ms + target_ms(urgency, routine_target_ms, urgent_target_ms)
}

/// The specialty's response target for a case of this urgency.
pub fn target_ms(urgency: Urgency, routine_target_ms: i64, urgent_target_ms: i64) -> i64 {
    match urgency {
        Urgency::Routine => routine_target_ms,
        Urgency::Urgent => urgent_target_ms,
    }
}

/// Who a specialty's rotas have on duty now, and when a local consultant is next on: what a GP
/// should know before sending a case (the national pool only takes it after the escalation window).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cover {
    pub local_now: bool,
    pub national_now: bool,
    /// The start of the next local shift, when nobody local is on now.
    pub next_local_start_ms: Option<i64>,
}

/// The cover of one specialty from its shifts as (pool, start, end).
pub fn cover(shifts: &[(Pool, i64, i64)], now_ms: i64) -> Cover {
    let on = |pool| {
        shifts
            .iter()
            .any(|(p, start, end)| *p == pool && *start <= now_ms && now_ms < *end)
    };
    let local_now = on(Pool::Local);
    Cover {
        local_now,
        national_now: on(Pool::National),
        next_local_start_ms: shifts
            .iter()
            .filter(|(p, start, _)| *p == Pool::Local && *start > now_ms)
            .map(|(_, start, _)| *start)
            .min()
            .filter(|_| !local_now),
    }
}

/// When a case that came back from the GP leaves the consultant who asked for the information:
/// once they have been off duty (no shift of the specialty, either pool) for longer than the
/// escalation window. Until then it stays theirs, through the gaps between their shifts.
/// `shifts` are their shifts of the specialty as (start, end); only those ending after
/// `now - escalation` matter. `None` when they already have been off duty that long: the case
/// goes back to the queue now.
pub fn returned_case_held_until(
    shifts: &[(i64, i64)],
    escalation_ms: i64,
    now_ms: i64,
) -> Option<i64> {
    let mut shifts: Vec<(i64, i64)> = shifts
        .iter()
        .copied()
        .filter(|(start, end)| start < end)
        .collect();
    shifts.sort_unstable();
    // The end of the duty they are on now, or of the last one, if it ended within the window.
    let mut duty_end = shifts
        .iter()
        .filter(|(start, _)| *start <= now_ms)
        .map(|(_, end)| *end)
        .max()
        .filter(|end| *end + escalation_ms >= now_ms)?;
    // Later shifts that start before the window after the current one runs out extend it.
    for (start, end) in shifts {
        if start <= duty_end + escalation_ms && end > duty_end {
            duty_end = end;
        }
    }
    Some(duty_end + escalation_ms)
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
    fn cover_says_who_is_on_now_and_when_the_next_local_shift_starts() {
        let shifts = [
            (Pool::National, 0, 24 * H),
            (Pool::Local, 20 * H, 30 * H),
            (Pool::Local, 44 * H, 54 * H),
        ];
        assert_eq!(
            cover(&shifts, 12 * H),
            Cover {
                local_now: false,
                national_now: true,
                next_local_start_ms: Some(20 * H),
            }
        );
        let on = cover(&shifts, 21 * H);
        assert!(on.local_now && on.national_now);
        assert_eq!(on.next_local_start_ms, None, "someone local is on now");
        assert_eq!(
            cover(&shifts, 30 * H),
            Cover {
                local_now: false,
                national_now: false,
                next_local_start_ms: Some(44 * H),
            },
            "a shift ends at its end"
        );
        assert_eq!(cover(&[], 0), Cover::default());
    }

    #[test]
    fn a_returned_case_stays_with_its_consultant_until_off_duty_longer_than_the_window() {
        let w = 4 * H;
        // On a shift 8:00-18:00 now (12:00): theirs until 22:00.
        assert_eq!(
            returned_case_held_until(&[(8 * H, 18 * H)], w, 12 * H),
            Some(22 * H)
        );
        // A shift the next morning starts more than 4 h after 18:00: no extension.
        assert_eq!(
            returned_case_held_until(&[(8 * H, 18 * H), (32 * H, 42 * H)], w, 12 * H),
            Some(22 * H)
        );
        // An evening shift starting within 4 h of the end carries it on.
        assert_eq!(
            returned_case_held_until(&[(19 * H, 23 * H), (8 * H, 18 * H)], w, 12 * H),
            Some(27 * H)
        );
        // Off duty since 10:00, response at 12:00: still theirs until 14:00.
        assert_eq!(
            returned_case_held_until(&[(2 * H, 10 * H)], w, 12 * H),
            Some(14 * H)
        );
        // Exactly the window off duty is not longer than it.
        assert_eq!(
            returned_case_held_until(&[(2 * H, 8 * H)], w, 12 * H),
            Some(12 * H)
        );
        // Off duty for longer than the window, or no shift at all: back to the queue now.
        assert_eq!(returned_case_held_until(&[(0, 7 * H)], w, 12 * H), None);
        assert_eq!(returned_case_held_until(&[], w, 12 * H), None);
        // Only a future shift: off duty now, so back to the queue.
        assert_eq!(
            returned_case_held_until(&[(13 * H, 20 * H)], w, 12 * H),
            None
        );
    }

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
    fn windows_take_the_own_icb_at_once_and_any_icb_once_escalated() {
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
                Window {
                    specialty: "dermatology".into(),
                    queued_by_ms: i64::MAX,
                    own_icb_only: true
                },
                Window {
                    specialty: "dermatology".into(),
                    queued_by_ms: 6 * H,
                    own_icb_only: false
                },
                Window {
                    specialty: "cardiology".into(),
                    queued_by_ms: 6 * H,
                    own_icb_only: false
                },
            ]
        );
        // A local shift does nothing for another ICB's case; the national one still does.
        let both = OnDuty {
            local: true,
            national: true,
        };
        assert_eq!(both.for_case(false).pool(), Some(Pool::National));
        assert!(!may_take(both.for_case(false), 9 * H, 4 * H, 10 * H));
        assert!(may_take(both.for_case(true), 9 * H, 4 * H, 10 * H));
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
