//! Live calls: who is rung, and when a call nobody answered becomes a written case.
//!
//! A call rings the specialty's local consultants on duty one at a time, in rota order, for the
//! ring time each (a decline moves on at once), then every consultant of the national pool on
//! duty together, until the give-up time. Nothing runs on a timer to move the ringing on: the
//! phase is computed from the call's start, its ring list and the declines, so every instance
//! reads the same answer at the same moment.

use super::queue::Pool;
use super::word_enum;

word_enum!(
    /// Where a call stands: `missed` means nobody answered in time and it became a written case.
    CallStatus, "call status", {
        Ringing => "ringing",
        Answered => "answered",
        Ended => "ended",
        Missed => "missed",
    }
);

word_enum!(
    /// The two parties to a call, each of whom records their own outcome.
    Party, "party", {
        Gp => "gp",
        Consultant => "consultant",
    }
);

/// One consultant on a call's ring list, fixed when the GP presses "Call".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingEntry {
    pub user_id: String,
    pub pool: Pool,
    pub declined_at_ms: Option<i64>,
}

/// A consultant on a shift of the specialty when the call starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnShift {
    pub user_id: String,
    pub pool: Pool,
    /// The ICB of their trust: a local shift covers only that ICB's practices.
    pub icb_id: Option<String>,
}

/// The ring list for a call from a practice in `practice_icb`: the local consultants of that
/// ICB in rota order, then the national pool; each person once, local first.
pub fn ring_list(on_shift: &[OnShift], practice_icb: Option<&str>) -> Vec<RingEntry> {
    let mut list: Vec<RingEntry> = Vec::new();
    let local = |s: &&OnShift| s.pool == Pool::Local && s.icb_id.as_deref() == practice_icb;
    let national = |s: &&OnShift| s.pool == Pool::National;
    for s in on_shift
        .iter()
        .filter(local)
        .chain(on_shift.iter().filter(national))
    {
        if !list.iter().any(|e| e.user_id == s.user_id) {
            list.push(RingEntry {
                user_id: s.user_id.clone(),
                pool: if local(&s) {
                    Pool::Local
                } else {
                    Pool::National
                },
                declined_at_ms: None,
            });
        }
    }
    list
}

/// The times a call runs to, fixed at its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingTimes {
    pub started_at_ms: i64,
    /// How long each local consultant is rung before the next.
    pub ring_ms: i64,
    /// How long after the start an unanswered call gives up.
    pub give_up_after_ms: i64,
}

/// What a ringing call is doing at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// These ring-list positions are being rung, on this pool, until `until_ms` at the latest.
    Ringing {
        pool: Pool,
        positions: Vec<usize>,
        since_ms: i64,
        until_ms: i64,
    },
    /// Nobody is left to ring (or time is up) since `since_ms`: the call gives up.
    GivenUp { since_ms: i64 },
}

/// The phase of an unanswered call at `now_ms`.
pub fn phase_at(list: &[RingEntry], times: RingTimes, now_ms: i64) -> Phase {
    let give_up_at = times.started_at_ms + times.give_up_after_ms;
    let mut slot_start = times.started_at_ms;
    for (i, e) in list.iter().enumerate() {
        if e.pool != Pool::Local || slot_start >= give_up_at {
            continue;
        }
        // A decline can only come while this consultant is rung, so it ends their slot early.
        let slot_end = match e.declined_at_ms {
            Some(d) => d.clamp(slot_start, slot_start + times.ring_ms),
            None => slot_start + times.ring_ms,
        }
        .min(give_up_at);
        if now_ms < slot_end {
            return Phase::Ringing {
                pool: Pool::Local,
                positions: vec![i],
                since_ms: slot_start,
                until_ms: slot_end,
            };
        }
        slot_start = slot_end;
    }
    if slot_start >= give_up_at {
        return Phase::GivenUp {
            since_ms: give_up_at,
        };
    }
    // The national pool rings together; it is over when time is up or every one has declined.
    let national: Vec<(usize, Option<i64>)> = list
        .iter()
        .enumerate()
        .filter(|(_, e)| e.pool == Pool::National)
        .map(|(i, e)| (i, e.declined_at_ms.map(|d| d.max(slot_start))))
        .collect();
    let all_declined_at = national
        .iter()
        .map(|(_, d)| *d)
        .try_fold(slot_start, |latest, d| d.map(|d| latest.max(d)));
    let end = match all_declined_at {
        Some(t) => t.min(give_up_at),
        None => give_up_at,
    };
    if now_ms >= end {
        return Phase::GivenUp { since_ms: end };
    }
    Phase::Ringing {
        pool: Pool::National,
        positions: national
            .iter()
            .filter(|(_, d)| d.is_none_or(|d| d > now_ms))
            .map(|(i, _)| *i)
            .collect(),
        since_ms: slot_start,
        until_ms: end,
    }
}

/// When the call gives up if nobody answers and nobody else declines: what the database keeps
/// so that any instance can find the calls due to become written cases.
pub fn gives_up_at(list: &[RingEntry], times: RingTimes) -> i64 {
    match phase_at(list, times, i64::MAX - 1) {
        Phase::GivenUp { since_ms } => since_ms,
        Phase::Ringing { until_ms, .. } => until_ms,
    }
}

/// A party who has not recorded a call's outcome is reminded by notification this long after
/// the end, then every [`REMIND_EVERY_MS`] for [`REMIND_FOR_MS`] (every page they open asks
/// too, for as long as it takes).
pub const FIRST_REMINDER_MS: i64 = 15 * 60_000;
pub const REMIND_EVERY_MS: i64 = 86_400_000;
pub const REMIND_FOR_MS: i64 = 30 * 86_400_000;

/// The latest moment, up to `now_ms`, at which a party without an outcome for a call that
/// ended at `ended_at_ms` is due a reminder; `None` before the first or after the last.
pub fn outcome_reminder_at(ended_at_ms: i64, now_ms: i64) -> Option<i64> {
    let first = ended_at_ms + FIRST_REMINDER_MS;
    if now_ms < first || now_ms > ended_at_ms + REMIND_FOR_MS {
        return None;
    }
    Some(first + (now_ms - first) / REMIND_EVERY_MS * REMIND_EVERY_MS)
}

/// Whether this consultant is being rung now.
pub fn rings(list: &[RingEntry], times: RingTimes, now_ms: i64, user_id: &str) -> Option<Pool> {
    match phase_at(list, times, now_ms) {
        Phase::Ringing {
            pool, positions, ..
        } => positions
            .iter()
            .any(|&i| list[i].user_id == user_id)
            .then_some(pool),
        Phase::GivenUp { .. } => None,
    }
}

/// Whether this consultant's phone has rung for the call by `now_ms` (they may then see it).
/// One who declined was rung, even in the very millisecond the call started.
pub fn has_rung(list: &[RingEntry], times: RingTimes, now_ms: i64, user_id: &str) -> bool {
    list.iter().enumerate().any(|(i, e)| {
        e.user_id == user_id
            && (e.declined_at_ms.is_some_and(|t| t <= now_ms)
                || slot_reached(list, times, i, now_ms))
    })
}

/// Whether ring-list position `i` was rung at some moment up to `now_ms`.
fn slot_reached(list: &[RingEntry], times: RingTimes, i: usize, now_ms: i64) -> bool {
    // Walk the moments the phase changed; the list is short (a rota, then the pool).
    let mut t = times.started_at_ms;
    loop {
        match phase_at(list, times, t) {
            Phase::Ringing {
                positions,
                until_ms,
                ..
            } => {
                if positions.contains(&i) {
                    return true;
                }
                if until_ms > now_ms {
                    return false;
                }
                t = until_ms;
            }
            Phase::GivenUp { .. } => return false,
        }
    }
}

/// One call as commissioners' figures count it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFact {
    pub specialty: String,
    pub practice_id: String,
    pub started_at_ms: i64,
    pub status: CallStatus,
    pub answered_pool: Option<Pool>,
    pub answered_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub gp_outcome: Option<super::Outcome>,
    pub consultant_outcome: Option<super::Outcome>,
    /// Nobody answered and it became a written case.
    pub became_case: bool,
}

impl CallFact {
    pub fn answered(&self) -> bool {
        self.answered_at_ms.is_some()
    }

    /// From "Call" to the consultant answering.
    pub fn time_to_answer_ms(&self) -> Option<i64> {
        self.answered_at_ms.map(|a| a - self.started_at_ms)
    }

    /// From the answer to the end.
    pub fn duration_ms(&self) -> Option<i64> {
        Some(self.ended_at_ms? - self.answered_at_ms?)
    }

    /// The call's outcome: the consultant's, or the GP's when only they recorded one.
    pub fn outcome(&self) -> Option<super::Outcome> {
        self.consultant_outcome.or(self.gp_outcome)
    }

    /// Both parties recorded an outcome (what "captured" means in the figures).
    pub fn outcome_captured(&self) -> bool {
        self.gp_outcome.is_some() && self.consultant_outcome.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000;

    fn entry(user: &str, pool: Pool) -> RingEntry {
        RingEntry {
            user_id: user.into(),
            pool,
            declined_at_ms: None,
        }
    }

    fn times() -> RingTimes {
        RingTimes {
            started_at_ms: 0,
            ring_ms: 20 * S,
            give_up_after_ms: 300 * S,
        }
    }

    fn who(list: &[RingEntry], now: i64) -> (Option<Pool>, Vec<&str>) {
        match phase_at(list, times(), now) {
            Phase::Ringing {
                pool, positions, ..
            } => (
                Some(pool),
                positions
                    .iter()
                    .map(|&i| list[i].user_id.as_str())
                    .collect(),
            ),
            Phase::GivenUp { .. } => (None, vec![]),
        }
    }

    #[test]
    fn locals_in_turn_then_the_national_pool_together_then_give_up() {
        let list = [
            entry("a", Pool::Local),
            entry("b", Pool::Local),
            entry("n1", Pool::National),
            entry("n2", Pool::National),
        ];
        assert_eq!(who(&list, 0), (Some(Pool::Local), vec!["a"]));
        assert_eq!(who(&list, 20 * S - 1), (Some(Pool::Local), vec!["a"]));
        assert_eq!(who(&list, 20 * S), (Some(Pool::Local), vec!["b"]));
        assert_eq!(who(&list, 40 * S), (Some(Pool::National), vec!["n1", "n2"]));
        assert_eq!(who(&list, 300 * S - 1).1, vec!["n1", "n2"]);
        assert_eq!(who(&list, 300 * S), (None, vec![]));
        assert_eq!(gives_up_at(&list, times()), 300 * S);
    }

    #[test]
    fn a_decline_moves_on_at_once() {
        let mut list = [
            entry("a", Pool::Local),
            entry("b", Pool::Local),
            entry("n", Pool::National),
        ];
        list[0].declined_at_ms = Some(5 * S);
        assert_eq!(who(&list, 5 * S), (Some(Pool::Local), vec!["b"]));
        assert_eq!(who(&list, 25 * S - 1).1, vec!["b"]);
        assert_eq!(who(&list, 25 * S), (Some(Pool::National), vec!["n"]));
        // The whole pool declining ends the call early.
        list[2].declined_at_ms = Some(30 * S);
        assert_eq!(who(&list, 29 * S).1, vec!["n"]);
        assert_eq!(
            phase_at(&list, times(), 30 * S),
            Phase::GivenUp { since_ms: 30 * S }
        );
        assert_eq!(gives_up_at(&list, times()), 30 * S);
    }

    #[test]
    fn with_nobody_national_the_call_gives_up_after_the_last_local() {
        let list = [entry("a", Pool::Local), entry("b", Pool::Local)];
        assert_eq!(gives_up_at(&list, times()), 40 * S);
        assert_eq!(gives_up_at(&[], times()), 0);
        // A short give-up time cuts the rota short.
        let short = RingTimes {
            give_up_after_ms: 30 * S,
            ..times()
        };
        assert_eq!(gives_up_at(&list, short), 30 * S);
        assert_eq!(rings(&list, short, 29 * S, "b"), Some(Pool::Local));
        assert_eq!(rings(&list, short, 30 * S, "b"), None);
    }

    #[test]
    fn one_national_declining_leaves_the_others_ringing() {
        let mut list = [entry("n1", Pool::National), entry("n2", Pool::National)];
        list[0].declined_at_ms = Some(10 * S);
        assert_eq!(who(&list, 9 * S).1, vec!["n1", "n2"]);
        assert_eq!(who(&list, 10 * S).1, vec!["n2"]);
        assert_eq!(gives_up_at(&list, times()), 300 * S);
    }

    #[test]
    fn the_ring_list_is_the_practices_icb_in_rota_order_then_the_pool() {
        let shift = |user: &str, pool, icb: Option<&str>| OnShift {
            user_id: user.into(),
            pool,
            icb_id: icb.map(str::to_string),
        };
        let on_shift = [
            shift("n", Pool::National, Some("Y")),
            shift("other icb", Pool::Local, Some("Y")),
            shift("a", Pool::Local, Some("X")),
            shift("both", Pool::National, Some("X")),
            shift("b", Pool::Local, Some("X")),
            shift("both", Pool::Local, Some("X")),
            shift("a", Pool::Local, Some("X")),
        ];
        let list = ring_list(&on_shift, Some("X"));
        let got: Vec<(&str, Pool)> = list.iter().map(|e| (e.user_id.as_str(), e.pool)).collect();
        assert_eq!(
            got,
            vec![
                ("a", Pool::Local),
                ("b", Pool::Local),
                ("both", Pool::Local),
                ("n", Pool::National),
            ]
        );
    }

    #[test]
    fn who_has_been_rung() {
        let list = [
            entry("a", Pool::Local),
            entry("b", Pool::Local),
            entry("n", Pool::National),
        ];
        assert!(has_rung(&list, times(), 0, "a"));
        assert!(!has_rung(&list, times(), 0, "b"));
        assert!(!has_rung(&list, times(), 0, "n"));
        assert!(has_rung(&list, times(), 20 * S, "b"));
        assert!(has_rung(&list, times(), 20 * S, "a"));
        assert!(!has_rung(&list, times(), 39 * S, "n"));
        assert!(has_rung(&list, times(), 40 * S, "n"));
        assert!(has_rung(&list, times(), 400 * S, "n"));
        assert!(!has_rung(&list, times(), 400 * S, "someone else"));
        // Declining in the call's first millisecond: rung, though the ringing moved on at once.
        let mut list = list;
        list[0].declined_at_ms = Some(times().started_at_ms);
        assert!(has_rung(&list, times(), times().started_at_ms, "a"));
        assert!(has_rung(&list, times(), times().started_at_ms, "b"));
    }

    #[test]
    fn a_missing_outcome_is_chased_after_a_quarter_of_an_hour_then_daily_for_a_month() {
        let end = 1_000_000_000;
        assert_eq!(outcome_reminder_at(end, end + FIRST_REMINDER_MS - 1), None);
        let first = end + FIRST_REMINDER_MS;
        assert_eq!(outcome_reminder_at(end, first), Some(first));
        assert_eq!(
            outcome_reminder_at(end, first + REMIND_EVERY_MS - 1),
            Some(first)
        );
        assert_eq!(
            outcome_reminder_at(end, first + 3 * REMIND_EVERY_MS + 5),
            Some(first + 3 * REMIND_EVERY_MS)
        );
        assert!(outcome_reminder_at(end, end + REMIND_FOR_MS).is_some());
        assert_eq!(outcome_reminder_at(end, end + REMIND_FOR_MS + 1), None);
    }
}
