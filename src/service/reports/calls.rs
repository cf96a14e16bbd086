//! Commissioners' figures for live calls, beside the written A&G figures: calls offered and
//! answered, by the local rota or the national pool, time to answer, duration, outcomes and how
//! often both parties recorded one, and calls that became written cases. Computed from each
//! call's facts (`domain::calls::CallFact`): calls are a few per practice a week, far fewer
//! than the cases the day tables exist for.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::stats::{share, spread, OutcomeCounts, Spread};
use crate::domain::calls::CallFact;
use crate::domain::queue::Pool;
use crate::domain::reports::week_start;
use crate::domain::Outcome;

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CallFigures {
    /// Calls the GPs made.
    pub offered: i64,
    pub answered: i64,
    /// answered / offered, 4 decimals.
    pub answered_share: Option<f64>,
    pub answered_local: i64,
    pub answered_national: i64,
    /// Calls nobody answered in time, which became written cases.
    pub became_written_cases: i64,
    /// From "Call" to the answer, over the answered calls.
    pub time_to_answer: Spread,
    /// From the answer to the end, over the ended calls.
    pub duration: Spread,
    /// Each answered call's outcome (the consultant's, else the GP's).
    pub outcomes: OutcomeCounts,
    pub information_requested: i64,
    /// Answered calls where both the GP and the consultant recorded an outcome.
    pub outcomes_recorded: i64,
    /// outcomes_recorded / answered.
    pub outcome_capture_share: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CallGroup {
    /// The week's Monday (YYYY-MM-DD), the specialty's slug or the practice's ODS code.
    pub key: String,
    pub name: String,
    pub figures: CallFigures,
}

/// `calls` in the turnaround report.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CallReport {
    pub totals: CallFigures,
    pub weeks: Vec<CallGroup>,
    pub specialties: Vec<CallGroup>,
    pub practices: Vec<CallGroup>,
}

fn figures(calls: &[&CallFact]) -> CallFigures {
    let answered: Vec<&&CallFact> = calls.iter().filter(|c| c.answered()).collect();
    let count = |f: &dyn Fn(&CallFact) -> bool| answered.iter().filter(|c| f(c)).count() as i64;
    let outcome = |o: Outcome| count(&|c| c.outcome() == Some(o));
    let captured = count(&|c| c.outcome_captured());
    let n = answered.len() as i64;
    CallFigures {
        offered: calls.len() as i64,
        answered: n,
        answered_share: share(n, calls.len() as i64),
        answered_local: count(&|c| c.answered_pool == Some(Pool::Local)),
        answered_national: count(&|c| c.answered_pool == Some(Pool::National)),
        became_written_cases: calls.iter().filter(|c| c.became_case).count() as i64,
        time_to_answer: spread(
            answered
                .iter()
                .filter_map(|c| c.time_to_answer_ms())
                .collect(),
        ),
        duration: spread(answered.iter().filter_map(|c| c.duration_ms()).collect()),
        outcomes: OutcomeCounts {
            manage_in_primary_care: outcome(Outcome::ManageInPrimaryCare),
            refer_routine: outcome(Outcome::ReferRoutine),
            refer_urgent: outcome(Outcome::ReferUrgent),
            refer_two_week_wait: outcome(Outcome::ReferTwoWeekWait),
            redirect_specialty: outcome(Outcome::RedirectSpecialty),
        },
        information_requested: outcome(Outcome::RequestInformation),
        outcomes_recorded: captured,
        outcome_capture_share: share(captured, n),
    }
}

fn groups<'a>(
    calls: &'a [CallFact],
    key: impl Fn(&'a CallFact) -> String,
    name: impl Fn(&str) -> String,
) -> Vec<CallGroup> {
    let mut by: BTreeMap<String, Vec<&CallFact>> = BTreeMap::new();
    for c in calls {
        by.entry(key(c)).or_default().push(c);
    }
    by.into_iter()
        .map(|(k, list)| CallGroup {
            name: name(&k),
            figures: figures(&list),
            key: k,
        })
        .collect()
}

/// The calls part of a report (pure); `practice` gives a practice's ODS code and name by id.
pub fn call_report(
    calls: &[CallFact],
    specialty_names: &BTreeMap<String, String>,
    practice: impl Fn(&str) -> Option<(String, String)>,
) -> CallReport {
    let all: Vec<&CallFact> = calls.iter().collect();
    let ods = |id: &str| practice(id).map_or_else(|| id.to_string(), |p| p.0);
    let mut by_practice = groups(
        calls,
        |c| c.practice_id.clone(),
        |id| practice(id).map_or_else(|| id.to_string(), |p| p.1),
    );
    for g in &mut by_practice {
        g.key = ods(&g.key);
    }
    by_practice.sort_by(|a, b| a.key.cmp(&b.key));
    CallReport {
        totals: figures(&all),
        weeks: groups(
            calls,
            |c| super::period::fmt_date(week_start(c.started_at_ms)),
            |w| w.to_string(),
        ),
        specialties: groups(
            calls,
            |c| c.specialty.clone(),
            |s| {
                specialty_names
                    .get(s)
                    .cloned()
                    .unwrap_or_else(|| s.to_string())
            },
        ),
        practices: by_practice,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calls::CallStatus;

    fn call(started: i64, answered: Option<(i64, Pool)>, ended: Option<i64>) -> CallFact {
        CallFact {
            specialty: "dermatology".into(),
            practice_id: "p1".into(),
            started_at_ms: started,
            status: match (answered, ended) {
                (None, _) => CallStatus::Missed,
                (Some(_), None) => CallStatus::Answered,
                (Some(_), Some(_)) => CallStatus::Ended,
            },
            answered_pool: answered.map(|a| a.1),
            answered_at_ms: answered.map(|a| a.0),
            ended_at_ms: ended,
            gp_outcome: None,
            consultant_outcome: None,
            became_case: answered.is_none(),
        }
    }

    #[test]
    fn figures_of_calls_by_hand() {
        let mut calls = vec![
            call(0, Some((10_000, Pool::Local)), Some(130_000)),
            call(0, Some((30_000, Pool::Local)), Some(210_000)),
            call(0, Some((50_000, Pool::National)), None),
            call(0, None, None),
        ];
        calls[0].gp_outcome = Some(Outcome::ManageInPrimaryCare);
        calls[0].consultant_outcome = Some(Outcome::ManageInPrimaryCare);
        calls[1].gp_outcome = Some(Outcome::ReferRoutine);
        calls[2].consultant_outcome = Some(Outcome::RequestInformation);
        let r = call_report(&calls, &BTreeMap::new(), |_| None);
        let f = &r.totals;
        assert_eq!(
            (f.offered, f.answered, f.answered_local, f.answered_national),
            (4, 3, 2, 1)
        );
        assert_eq!(f.answered_share, Some(0.75));
        assert_eq!(f.became_written_cases, 1);
        assert_eq!(f.time_to_answer.median_ms, Some(30_000));
        // 10, 30, 50 s: the 90th percentile interpolates to 46 s.
        assert_eq!(f.time_to_answer.p90_ms, Some(46_000));
        assert_eq!((f.duration.cases, f.duration.median_ms), (2, Some(150_000)));
        assert_eq!(f.outcomes.manage_in_primary_care, 1);
        assert_eq!(
            f.outcomes.refer_routine, 1,
            "the GP's outcome when the consultant left none"
        );
        assert_eq!(f.information_requested, 1);
        assert_eq!(
            (f.outcomes_recorded, f.outcome_capture_share),
            (1, Some(0.3333))
        );
        assert_eq!(r.weeks.len(), 1);
        assert_eq!(r.specialties[0].figures, r.totals);
    }
}
