//! Commissioners' figures, defined once.
//!
//! A case's *facts* are what its events made of it: when it was submitted and against which
//! target, its first reply, its time waiting for the GP, its close and outcome, whether the
//! national pool answered, whether the patient came back. Every figure is a yes/no of the facts
//! ([`figures!`] below), summed over the cases of a group. `service` applies each event here in
//! the transaction that records it and stores the facts with their figures; the database only
//! adds up what this module decided (docs/architecture.md, "One definition of each figure").

use super::queue::Pool;
use super::{Outcome, Urgency};

pub const DAY_MS: i64 = 86_400_000;
pub const WEEK_MS: i64 = 7 * DAY_MS;
/// 1970-01-05T00:00Z, the first Monday after the epoch: weeks start on Mondays (UTC).
pub const FIRST_MONDAY_MS: i64 = 4 * DAY_MS;
/// Re-presentation window after a close as manage in primary care.
pub const REPRESENTATION_WINDOW_MS: i64 = 90 * DAY_MS;

pub fn day_start(ms: i64) -> i64 {
    ms - ms.rem_euclid(DAY_MS)
}

pub fn week_start(ms: i64) -> i64 {
    ms - (ms - FIRST_MONDAY_MS).rem_euclid(WEEK_MS)
}

/// One case's facts: the result of applying its events, in order, to [`CaseFacts::submitted`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFacts {
    pub case_id: String,
    pub practice_id: String,
    /// The ICB the practice belonged to when the case was submitted: the one it counts for.
    pub icb_id: Option<String>,
    pub specialty: String,
    pub urgency: Urgency,
    /// The specialty's response target for this urgency when the case was submitted.
    pub target_ms: i64,
    pub submitted_at_ms: i64,
    /// First consultant reply (advice or request for information) minus submission.
    pub first_reply_ms: Option<i64>,
    pub information_requests: i64,
    /// Set while the case waits for the GP's response; the wait is added to `awaiting_gp_ms`.
    pub awaiting_since_ms: Option<i64>,
    pub awaiting_gp_ms: i64,
    pub closed_at_ms: Option<i64>,
    /// Close minus submission minus time awaiting the GP: the service's own time.
    pub to_close_ms: Option<i64>,
    /// The closing outcome (never a request for information).
    pub outcome: Option<Outcome>,
    /// A consultant on the national pool rota replied.
    pub national: bool,
    /// A consultant moved the case to another specialty's queue (the case stays in the cohort of
    /// the specialty it was submitted to).
    pub redirected: bool,
    /// The consultant converted a referral outcome: the hospital took the referral on.
    pub converted: bool,
    /// For a referral the GP has to make: its deadline, and when the GP confirmed it.
    pub referral_due_at_ms: Option<i64>,
    pub referral_made_at_ms: Option<i64>,
    /// For a case closed as manage in primary care: when a case for the same patient and
    /// specialty was next submitted, within [`REPRESENTATION_WINDOW_MS`] of the close.
    pub represented_at_ms: Option<i64>,
}

/// What happens to a case after its submission, as far as the figures are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseEvent {
    /// A consultant's reply: advice closes the case, a request for information waits for the
    /// GP, a redirect sends it to another specialty. `pool` is the rota the consultant replied
    /// from (none when their shift had ended). A referral outcome is either `converted` or
    /// the GP's to make by `referral_due_at_ms`.
    Replied {
        at_ms: i64,
        outcome: Outcome,
        pool: Option<Pool>,
        converted: bool,
        referral_due_at_ms: Option<i64>,
    },
    /// The GP confirmed they made the referral the consultant advised.
    ReferralMade { at_ms: i64 },
    /// The GP's response to a request for information.
    Responded { at_ms: i64 },
    /// Another case for the same patient (NHS number) and specialty was submitted.
    PatientReturned { at_ms: i64 },
}

impl CaseFacts {
    pub fn submitted(
        case_id: &str,
        practice_id: &str,
        specialty: &str,
        urgency: Urgency,
        target_ms: i64,
        at_ms: i64,
    ) -> Self {
        CaseFacts {
            case_id: case_id.to_string(),
            practice_id: practice_id.to_string(),
            icb_id: None,
            specialty: specialty.to_string(),
            urgency,
            target_ms,
            submitted_at_ms: at_ms,
            first_reply_ms: None,
            information_requests: 0,
            awaiting_since_ms: None,
            awaiting_gp_ms: 0,
            closed_at_ms: None,
            to_close_ms: None,
            outcome: None,
            national: false,
            redirected: false,
            converted: false,
            referral_due_at_ms: None,
            referral_made_at_ms: None,
            represented_at_ms: None,
        }
    }

    pub fn apply(&mut self, event: &CaseEvent) {
        match *event {
            CaseEvent::Replied {
                at_ms,
                outcome,
                pool,
                converted,
                referral_due_at_ms,
            } => {
                self.first_reply_ms
                    .get_or_insert(at_ms - self.submitted_at_ms);
                let closes = outcome.closes_case();
                let asks = outcome == Outcome::RequestInformation;
                if asks {
                    self.information_requests += 1;
                }
                self.awaiting_since_ms = asks.then_some(at_ms);
                self.redirected |= outcome == Outcome::RedirectSpecialty;
                self.closed_at_ms = closes.then_some(at_ms);
                self.to_close_ms =
                    closes.then(|| at_ms - self.submitted_at_ms - self.awaiting_gp_ms);
                self.outcome = closes.then_some(outcome);
                self.national |= pool == Some(Pool::National);
                self.converted = converted;
                self.referral_due_at_ms = referral_due_at_ms;
            }
            CaseEvent::ReferralMade { at_ms } => {
                self.referral_made_at_ms.get_or_insert(at_ms);
            }
            CaseEvent::Responded { at_ms } => {
                if let Some(since) = self.awaiting_since_ms.take() {
                    self.awaiting_gp_ms += at_ms - since;
                }
            }
            CaseEvent::PatientReturned { at_ms } => {
                let within_window = self.closed_at_ms.is_some_and(|closed| {
                    closed <= at_ms && at_ms - closed <= REPRESENTATION_WINDOW_MS
                });
                if self.represented_at_ms.is_none()
                    && self.outcome == Some(Outcome::ManageInPrimaryCare)
                    && within_window
                {
                    self.represented_at_ms = Some(at_ms);
                }
            }
        }
    }

    /// The durations this case adds to its day's lists (each known once, then fixed).
    pub fn durations(&self) -> Durations {
        Durations {
            first_reply_ms: self.first_reply_ms,
            to_close_ms: self.to_close_ms,
            awaiting_gp_ms: self
                .to_close_ms
                .filter(|_| self.information_requests > 0)
                .map(|_| self.awaiting_gp_ms),
        }
    }

    pub fn counts(&self) -> Counts {
        Counts::of(self)
    }
}

/// A case's durations for percentiles: time to first reply, time to close (without the wait for
/// the GP) and, for closed cases that had a request for information, the wait for the GP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Durations {
    pub first_reply_ms: Option<i64>,
    pub to_close_ms: Option<i64>,
    pub awaiting_gp_ms: Option<i64>,
}

impl Durations {
    /// What `after` knows that `before` did not: what a change appends to the day's lists.
    pub fn new_in(after: Durations, before: Durations) -> Durations {
        let new = |a: Option<i64>, b: Option<i64>| a.filter(|_| b.is_none());
        Durations {
            first_reply_ms: new(after.first_reply_ms, before.first_reply_ms),
            to_close_ms: new(after.to_close_ms, before.to_close_ms),
            awaiting_gp_ms: new(after.awaiting_gp_ms, before.awaiting_gp_ms),
        }
    }
}

/// Declares the figures: each is a name (also the column of the day tables that sum it) and
/// whether a case's facts count in it. Adding a figure is a line here, a column in a migration
/// and its label on the page.
macro_rules! figures {
    ($( $(#[$doc:meta])* $name:ident: |$f:ident| $counts:expr, )+) => {
        /// How many cases of a group count in each figure.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct Counts { $( $(#[$doc])* pub $name: i64, )+ }

        impl Counts {
            /// The figures' names, in order: the day tables' columns, and bit `i` of a case's
            /// stored `flags` is figure `i`.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),+];

            /// One case: 1 in each figure it counts in.
            pub fn of(facts: &CaseFacts) -> Counts {
                Counts { $( $name: { let $f = facts; i64::from($counts) }, )+ }
            }

            pub fn values(&self) -> Vec<i64> {
                vec![$(self.$name),+]
            }

            /// From values in [`Counts::NAMES`] order (missing ones are 0).
            pub fn from_values(values: &[i64]) -> Counts {
                let mut v = values.iter().copied();
                Counts { $( $name: v.next().unwrap_or(0), )+ }
            }

            pub fn add(&mut self, o: &Counts) {
                $( self.$name += o.$name; )+
            }

            pub fn minus(&self, o: &Counts) -> Counts {
                Counts { $( $name: self.$name - o.$name, )+ }
            }
        }
    };
}

figures! {
    submitted: |_f| true,
    /// With a first consultant reply (advice or request for information).
    answered: |f| f.first_reply_ms.is_some(),
    answered_in_target: |f| f.first_reply_ms.is_some_and(|d| d <= f.target_ms),
    closed: |f| f.closed_at_ms.is_some(),
    /// Closed within target, time awaiting the GP not counted.
    closed_in_target: |f| f.to_close_ms.is_some_and(|d| d <= f.target_ms),
    manage_in_primary_care: |f| f.outcome == Some(Outcome::ManageInPrimaryCare),
    refer_routine: |f| f.outcome == Some(Outcome::ReferRoutine),
    refer_urgent: |f| f.outcome == Some(Outcome::ReferUrgent),
    refer_two_week_wait: |f| f.outcome == Some(Outcome::ReferTwoWeekWait),
    /// Sent on to another specialty (before contract 1.1 a redirect closed the case).
    redirect_specialty: |f| f.redirected || f.outcome == Some(Outcome::RedirectSpecialty),
    /// At least one request for information.
    information_requested: |f| f.information_requests > 0,
    /// Waiting for the GP's response now.
    awaiting_gp: |f| f.awaiting_since_ms.is_some(),
    /// A consultant on the national pool rota replied.
    national_pool: |f| f.national,
    /// Closed as manage in primary care and re-presented within 90 days.
    represented: |f| f.represented_at_ms.is_some(),
    /// A referral outcome the hospital took on (converted by the consultant).
    converted: |f| f.converted,
    /// A referral the GP had to make, confirmed after its deadline.
    referral_made_late: |f| f
        .referral_made_at_ms
        .zip(f.referral_due_at_ms)
        .is_some_and(|(made, due)| made > due),
}

impl Counts {
    /// One case's counts as bits (figure `i` is bit `i`), stored with its facts so that the
    /// database can sum any subset of cases without knowing the rules.
    pub fn flags(&self) -> i64 {
        self.values()
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != 0)
            .fold(0, |bits, (i, _)| bits | (1 << i))
    }

    /// The figure set the stored flags and day tables were made with: when the code's differs,
    /// they are rebuilt from the facts.
    pub fn definition() -> String {
        // The suffix names what else the rebuild fills: practice cells keep durations (0014);
        // the ICB cells (0022).
        format!("{};practice-durations;icb-days", Self::NAMES.join(","))
    }
}

/// One group's cases submitted on one day (UTC): counts and every known duration (ms).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayCell {
    /// The specialty, or the practice id for a practice's cells.
    pub key: String,
    pub day_ms: i64,
    pub counts: Counts,
    pub first_reply_ms: Vec<i64>,
    pub to_close_ms: Vec<i64>,
    pub awaiting_gp_ms: Vec<i64>,
}

impl DayCell {
    pub fn push_durations(&mut self, d: Durations) {
        self.first_reply_ms.extend(d.first_reply_ms);
        self.to_close_ms.extend(d.to_close_ms);
        self.awaiting_gp_ms.extend(d.awaiting_gp_ms);
    }
}

/// Day cells by the ICB each case counts for; cases counted for no ICB are left out.
pub fn icb_day_cells<'a>(facts: impl IntoIterator<Item = &'a CaseFacts>) -> Vec<DayCell> {
    day_cells(facts.into_iter().filter(|f| f.icb_id.is_some()), |f| {
        f.icb_id.as_deref().unwrap_or_default()
    })
}

/// Day cells of the given facts, grouped by `key` (specialty or practice) and submission day.
pub fn day_cells<'a>(
    facts: impl IntoIterator<Item = &'a CaseFacts>,
    key: impl Fn(&CaseFacts) -> &str,
) -> Vec<DayCell> {
    let mut cells: std::collections::BTreeMap<(String, i64), DayCell> = Default::default();
    for f in facts {
        let day = day_start(f.submitted_at_ms);
        let cell = cells
            .entry((key(f).to_string(), day))
            .or_insert_with(|| DayCell {
                key: key(f).to_string(),
                day_ms: day,
                ..Default::default()
            });
        cell.counts.add(&f.counts());
        cell.push_durations(f.durations());
    }
    cells.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn case() -> CaseFacts {
        CaseFacts::submitted("c", "p", "dermatology", Urgency::Routine, 48 * H, 1000 * H)
    }

    fn replied(at: i64, outcome: Outcome, pool: Option<Pool>) -> CaseEvent {
        CaseEvent::Replied {
            at_ms: at * H,
            outcome,
            pool,
            converted: false,
            referral_due_at_ms: None,
        }
    }

    #[test]
    fn weeks_start_on_monday_utc() {
        // 2026-11-23 is a Monday; 2026-11-29 a Sunday.
        let monday = 1_795_392_000_000;
        assert_eq!(week_start(monday), monday);
        assert_eq!(week_start(monday + 6 * DAY_MS + DAY_MS - 1), monday);
        assert_eq!(week_start(monday - 1), monday - WEEK_MS);
        assert_eq!(day_start(monday + 9 * H), monday);
    }

    #[test]
    fn a_request_for_information_stops_the_clock_until_the_gp_responds() {
        let mut f = case();
        f.apply(&replied(
            1010,
            Outcome::RequestInformation,
            Some(Pool::Local),
        ));
        assert_eq!(f.first_reply_ms, Some(10 * H));
        assert_eq!(f.awaiting_since_ms, Some(1010 * H));
        let c = f.counts();
        assert_eq!((c.answered, c.awaiting_gp, c.closed), (1, 1, 0));
        f.apply(&CaseEvent::Responded { at_ms: 1040 * H });
        f.apply(&replied(1060, Outcome::ReferUrgent, Some(Pool::National)));
        assert_eq!(f.first_reply_ms, Some(10 * H), "the first reply stays");
        assert_eq!(f.awaiting_gp_ms, 30 * H);
        assert_eq!(
            f.to_close_ms,
            Some(30 * H),
            "60 h minus 30 h waiting for the GP"
        );
        let c = f.counts();
        assert_eq!(
            (c.closed, c.closed_in_target, c.refer_urgent, c.awaiting_gp),
            (1, 1, 1, 0)
        );
        assert_eq!((c.information_requested, c.national_pool), (1, 1));
        assert_eq!(
            f.durations(),
            Durations {
                first_reply_ms: Some(10 * H),
                to_close_ms: Some(30 * H),
                awaiting_gp_ms: Some(30 * H),
            }
        );
    }

    #[test]
    fn a_redirect_is_a_reply_that_leaves_the_case_open() {
        let mut f = case();
        f.apply(&replied(
            1002,
            Outcome::RedirectSpecialty,
            Some(Pool::Local),
        ));
        let c = f.counts();
        assert_eq!((c.answered, c.closed, c.redirect_specialty), (1, 0, 1));
        assert_eq!((c.awaiting_gp, c.information_requested), (0, 0));
        f.apply(&replied(
            1010,
            Outcome::ManageInPrimaryCare,
            Some(Pool::Local),
        ));
        let c = f.counts();
        assert_eq!(
            f.first_reply_ms,
            Some(2 * H),
            "the redirect was the first reply"
        );
        assert_eq!(f.to_close_ms, Some(10 * H));
        assert_eq!(
            (c.closed, c.manage_in_primary_care, c.redirect_specialty),
            (1, 1, 1)
        );
    }

    #[test]
    fn targets_are_met_at_the_target_and_missed_after_it() {
        let mut f = case();
        f.apply(&replied(1048, Outcome::ManageInPrimaryCare, None));
        assert_eq!(f.counts().answered_in_target, 1);
        let mut g = case();
        g.apply(&CaseEvent::Replied {
            at_ms: 1048 * H + 1,
            outcome: Outcome::ManageInPrimaryCare,
            pool: Some(Pool::Local),
            converted: false,
            referral_due_at_ms: None,
        });
        let c = g.counts();
        assert_eq!((c.answered_in_target, c.closed_in_target), (0, 0));
        assert_eq!(c.national_pool, 0);
    }

    #[test]
    fn a_referral_confirmed_after_its_deadline_counts_as_late_and_a_converted_one_as_converted() {
        for (made_at, late) in [(1060, 0), (1061, 0), (1062, 1)] {
            let mut f = case();
            f.apply(&CaseEvent::Replied {
                at_ms: 1010 * H,
                outcome: Outcome::ReferUrgent,
                pool: None,
                converted: false,
                referral_due_at_ms: Some(1061 * H),
            });
            assert_eq!(f.counts().referral_made_late, 0, "not confirmed yet");
            f.apply(&CaseEvent::ReferralMade { at_ms: made_at * H });
            let c = f.counts();
            assert_eq!((c.referral_made_late, c.converted), (late, 0), "{made_at}");
            assert_eq!((c.refer_urgent, c.closed), (1, 1));
        }
        let mut f = case();
        f.apply(&CaseEvent::Replied {
            at_ms: 1010 * H,
            outcome: Outcome::ReferTwoWeekWait,
            pool: None,
            converted: true,
            referral_due_at_ms: None,
        });
        let c = f.counts();
        assert_eq!(
            (c.converted, c.refer_two_week_wait, c.referral_made_late),
            (1, 1, 0)
        );
    }

    #[test]
    fn a_patient_returning_within_90_days_of_primary_care_advice_is_a_re_presentation() {
        let mut f = case();
        f.apply(&replied(1010, Outcome::ManageInPrimaryCare, None));
        let closed = 1010 * H;
        let mut late = f.clone();
        late.apply(&CaseEvent::PatientReturned {
            at_ms: closed + REPRESENTATION_WINDOW_MS + 1,
        });
        assert_eq!(late.counts().represented, 0);
        f.apply(&CaseEvent::PatientReturned {
            at_ms: closed + REPRESENTATION_WINDOW_MS,
        });
        assert_eq!(f.represented_at_ms, Some(closed + REPRESENTATION_WINDOW_MS));
        f.apply(&CaseEvent::PatientReturned {
            at_ms: closed + REPRESENTATION_WINDOW_MS + 5,
        });
        assert_eq!(
            f.represented_at_ms,
            Some(closed + REPRESENTATION_WINDOW_MS),
            "the first return counts"
        );
        let mut referred = case();
        referred.apply(&replied(1010, Outcome::ReferRoutine, None));
        referred.apply(&CaseEvent::PatientReturned { at_ms: 1020 * H });
        assert_eq!(
            referred.represented_at_ms, None,
            "only after primary care advice"
        );
        let mut open = case();
        open.apply(&CaseEvent::PatientReturned { at_ms: 1020 * H });
        assert_eq!(open.represented_at_ms, None);
    }

    #[test]
    fn flags_hold_one_bit_per_figure_and_cells_sum_cases() {
        let mut f = case();
        f.apply(&replied(
            1010,
            Outcome::ReferTwoWeekWait,
            Some(Pool::National),
        ));
        let c = f.counts();
        let flags = c.flags();
        let from_bits: Vec<i64> = (0..Counts::NAMES.len()).map(|i| (flags >> i) & 1).collect();
        assert_eq!(Counts::from_values(&from_bits), c);
        assert_eq!(Counts::NAMES.len(), c.values().len());
        let open = case();
        let cells = day_cells([&f, &open], |f| &f.specialty);
        assert_eq!(cells.len(), 1);
        assert_eq!(cells[0].counts.submitted, 2);
        assert_eq!(cells[0].counts.refer_two_week_wait, 1);
        assert_eq!(cells[0].to_close_ms, vec![10 * H]);
        assert!(cells[0].awaiting_gp_ms.is_empty());
        assert_eq!(
            Durations::new_in(f.durations(), open.durations()),
            f.durations()
        );
        assert_eq!(
            Durations::new_in(f.durations(), f.durations()),
            Durations::default()
        );
    }
}
