//! The figures of a report, computed from its data (pure): the definitions are in the module
//! documentation of `service::reports`.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use utoipa::ToSchema;

use super::period::{fmt_date, Period};
pub use super::stats::{percentile, OutcomeCounts, Spread};
use super::stats::{share, spread};
use crate::clock::rfc3339;
use crate::db::reports as rdb;
use crate::domain::reports::{week_start, Counts, DayCell, WEEK_MS};

const TOP_TOPICS: usize = 20;
const TOP_TOPICS_PER_PRACTICE: usize = 10;

/// Turnaround of one kind: how many cases it covers, median, 90th percentile, share within target.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Turnaround {
    pub cases: i64,
    /// Null when there are no cases with this duration.
    pub median_ms: Option<i64>,
    pub p90_ms: Option<i64>,
    pub within_target: i64,
    /// within_target / cases, 4 decimals; null when there are no cases.
    pub within_target_share: Option<f64>,
}

/// The figures of one group of cases (the whole period, a week, a specialty or a practice).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Figures {
    pub submitted: i64,
    /// With a first consultant reply (advice or request for information).
    pub answered: i64,
    pub closed: i64,
    /// Waiting for the GP's response now.
    pub awaiting_gp_now: i64,
    /// Cases with at least one request for information.
    pub information_requested: i64,
    /// Submission to first consultant reply.
    pub first_reply: Turnaround,
    /// Submission to close, without the time awaiting the GP.
    pub to_close: Turnaround,
    /// Time closed cases spent awaiting the GP, over those that had a request for information.
    pub awaiting_gp: Option<Spread>,
    /// No consultant reply yet and past the target, now (not counted in any "within target"
    /// share, whose denominator is always the answered cases).
    pub overdue_not_answered: i64,
    /// Closing outcomes.
    pub outcomes: OutcomeCounts,
    /// Referral outcomes the consultant converted: the hospital took the referral on.
    pub converted: i64,
    /// Referrals the GP had to make, confirmed after their deadline (two-week wait: 1 working
    /// day; urgent: 2; routine: 10).
    pub gp_referrals_made_late: i64,
    /// Closed as manage in primary care / closed.
    pub deflection_rate: Option<f64>,
    /// Cases a national-pool consultant replied to.
    pub national_pool: i64,
    /// national_pool / answered.
    pub national_pool_share: Option<f64>,
    /// Closed as manage in primary care and re-presented within 90 days.
    pub re_presented: i64,
    /// re_presented / closed as manage in primary care.
    pub re_presentation_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WeekFigures {
    /// The Monday the week starts (YYYY-MM-DD); the first and last weeks may be partial.
    pub week_start: String,
    pub figures: Figures,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct GroupFigures {
    /// Specialty slug, or practice or ICB ODS code.
    pub key: String,
    pub name: String,
    pub figures: Figures,
    /// Practices and ICBs: registered patients, over the practices whose list size is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_patients: Option<i64>,
    /// Practices and ICBs: cases submitted per 1,000 registered patients (over the practices
    /// whose list size is known), 2 decimals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_1000_patients: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TopicCount {
    /// The topic's label on its specialty's list.
    pub topic: String,
    /// Cases tagged with the topic in replies given in the period.
    pub cases: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PracticeTopics {
    pub ods_code: String,
    pub name: String,
    /// Most frequent first (at most 10).
    pub topics: Vec<TopicCount>,
}

/// `GET /api/v1/reports/turnaround`: the cases submitted in the period, as they stand now.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Report {
    /// First day (YYYY-MM-DD, UTC).
    pub from: String,
    /// Last day, included.
    pub to: String,
    pub specialty: Option<String>,
    /// Practice ODS code.
    pub practice: Option<String>,
    /// ICB ODS code: the ICB the report is narrowed to (a commissioner's own, or chosen).
    pub icb: Option<String>,
    pub icb_name: Option<String>,
    pub generated_at: String,
    pub totals: Figures,
    /// Registered patients of the practices in the report whose list size is known.
    pub registered_patients: Option<i64>,
    /// Cases submitted per 1,000 registered patients, over those practices.
    pub requests_per_1000_patients: Option<f64>,
    /// Referrals the GP has to make that are past their deadline and not yet confirmed, now.
    pub gp_referrals_overdue_now: i64,
    pub weeks: Vec<WeekFigures>,
    pub specialties: Vec<GroupFigures>,
    /// Each ICB side by side (practices of no ICB are left out of this list).
    pub icbs: Vec<GroupFigures>,
    pub practices: Vec<GroupFigures>,
    /// Most frequent topics over all practices (at most 20).
    pub topics: Vec<TopicCount>,
    pub topics_by_practice: Vec<PracticeTopics>,
    /// Live calls started in the period, narrowed the same way.
    pub calls: super::calls::CallReport,
}

/// DurationLists of a group, when the source has them.
#[derive(Default)]
struct DurationLists {
    first_reply: Vec<i64>,
    to_close: Vec<i64>,
    awaiting_gp: Vec<i64>,
}

impl DurationLists {
    fn add(&mut self, c: &DayCell) {
        self.first_reply.extend_from_slice(&c.first_reply_ms);
        self.to_close.extend_from_slice(&c.to_close_ms);
        self.awaiting_gp.extend_from_slice(&c.awaiting_gp_ms);
    }

    fn extend(&mut self, other: &DurationLists) {
        self.first_reply.extend_from_slice(&other.first_reply);
        self.to_close.extend_from_slice(&other.to_close);
        self.awaiting_gp.extend_from_slice(&other.awaiting_gp);
    }
}

fn figures(c: &Counts, d: Option<DurationLists>) -> Figures {
    let (first, close, waits) = match d {
        Some(d) => (
            Some(spread(d.first_reply)),
            Some(spread(d.to_close)),
            Some(spread(d.awaiting_gp)),
        ),
        None => (None, None, None),
    };
    let turnaround = |cases: i64, within: i64, s: Option<Spread>| Turnaround {
        cases,
        median_ms: s.as_ref().and_then(|s| s.median_ms),
        p90_ms: s.as_ref().and_then(|s| s.p90_ms),
        within_target: within,
        within_target_share: share(within, cases),
    };
    Figures {
        submitted: c.submitted,
        answered: c.answered,
        closed: c.closed,
        awaiting_gp_now: c.awaiting_gp,
        information_requested: c.information_requested,
        first_reply: turnaround(c.answered, c.answered_in_target, first),
        to_close: turnaround(c.closed, c.closed_in_target, close),
        awaiting_gp: waits,
        overdue_not_answered: 0,
        outcomes: OutcomeCounts {
            manage_in_primary_care: c.manage_in_primary_care,
            refer_routine: c.refer_routine,
            refer_urgent: c.refer_urgent,
            refer_two_week_wait: c.refer_two_week_wait,
            redirect_specialty: c.redirect_specialty,
        },
        converted: c.converted,
        gp_referrals_made_late: c.referral_made_late,
        deflection_rate: share(c.manage_in_primary_care, c.closed),
        national_pool: c.national_pool,
        national_pool_share: share(c.national_pool, c.answered),
        re_presented: c.represented,
        re_presentation_rate: share(c.represented, c.manage_in_primary_care),
    }
}

/// Sums cells by a key into counts and durations.
fn group_cells<'a, K: Ord>(
    cells: impl Iterator<Item = &'a DayCell>,
    key: impl Fn(&DayCell) -> K,
) -> BTreeMap<K, (Counts, DurationLists)> {
    let mut groups: BTreeMap<K, (Counts, DurationLists)> = BTreeMap::new();
    for c in cells {
        let g = groups.entry(key(c)).or_default();
        g.0.add(&c.counts);
        g.1.add(c);
    }
    groups
}

/// Everything a report needs, as read from the database.
pub struct ReportData {
    /// By specialty, each a day or a week (summed only into weeks).
    pub cells: Vec<DayCell>,
    pub practices: Vec<rdb::PracticeCounts>,
    /// Each practice's durations, by day or over the period (key: practice id).
    pub practice_days: Vec<DayCell>,
    /// For a report broken down by ICB rather than by practice: each ICB's day cells (key: ICB
    /// id); `practices` and `practice_days` are then empty.
    pub icb_days: Option<Vec<DayCell>>,
    pub topics: Vec<rdb::TopicCount>,
    /// Every practice by id.
    pub practice_names: BTreeMap<String, PracticeInfo>,
    /// Every ICB by id: (ODS code, name).
    pub icb_names: BTreeMap<String, (String, String)>,
    pub referrals_overdue_now: i64,
    /// Cases with no reply and past their target now.
    pub overdue_unanswered: Vec<rdb::Overdue>,
    /// The calls started in the period.
    pub calls: Vec<crate::domain::calls::CallFact>,
}

/// What a report shows of a practice besides its cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PracticeInfo {
    pub ods_code: String,
    pub name: String,
    pub icb_id: Option<String>,
    pub list_size: Option<i64>,
}

/// Cases per 1,000 patients over the practices whose list size is known: (patients, rate).
fn per_1000<'a>(rows: impl Iterator<Item = (i64, Option<i64>)> + 'a) -> (Option<i64>, Option<f64>) {
    let (mut cases, mut patients, mut known) = (0i64, 0i64, false);
    for (submitted, list) in rows {
        if let Some(n) = list {
            cases += submitted;
            patients += n;
            known = true;
        }
    }
    let rate =
        (patients > 0).then(|| (cases as f64 * 1000.0 / patients as f64 * 100.0).round() / 100.0);
    (known.then_some(patients), rate)
}

/// Cases past their target with no reply, summed by the groups a report shows.
#[derive(Default)]
struct Overdue<'a> {
    total: i64,
    by_week: HashMap<i64, i64>,
    by_specialty: HashMap<&'a str, i64>,
    by_practice: HashMap<&'a str, i64>,
    by_icb: HashMap<&'a str, i64>,
}

/// Computes the report from its data (pure).
pub fn compute(
    period: &Period,
    specialty: Option<&str>,
    practice: Option<&str>,
    icb: Option<(&str, &str)>,
    specialty_names: &BTreeMap<String, String>,
    data: &ReportData,
    now_ms: i64,
) -> Report {
    let cells = &data.cells;
    let mut total = Counts::default();
    let mut all = DurationLists::default();
    for c in cells {
        total.add(&c.counts);
        all.add(c);
    }
    let info = |id: &str| data.practice_names.get(id);
    // Overdue cases summed once per week, specialty, practice and ICB: a national report has
    // thousands of practices and as many overdue rows, too many to scan for each group.
    let mut overdue = Overdue::default();
    for o in &data.overdue_unanswered {
        overdue.total += o.cases;
        *overdue.by_week.entry(o.week_start_ms).or_default() += o.cases;
        *overdue
            .by_specialty
            .entry(o.specialty.as_str())
            .or_default() += o.cases;
        *overdue
            .by_practice
            .entry(o.practice_id.as_str())
            .or_default() += o.cases;
        if let Some(icb) = &o.icb_id {
            *overdue.by_icb.entry(icb.as_str()).or_default() += o.cases;
        }
    }
    let with_overdue = |mut f: Figures, n: i64| {
        f.overdue_not_answered = n;
        f
    };
    let mut by_week = group_cells(cells.iter(), |c| week_start(c.day_ms));
    let mut weeks = Vec::new();
    let mut w = week_start(period.from_ms());
    while w < period.to_ms() {
        let (counts, durations) = by_week.remove(&w).unwrap_or_default();
        weeks.push(WeekFigures {
            week_start: fmt_date(w),
            figures: with_overdue(
                figures(&counts, Some(durations)),
                overdue.by_week.get(&w).copied().unwrap_or(0),
            ),
        });
        w += WEEK_MS;
    }
    let mut specialties: Vec<GroupFigures> = group_cells(cells.iter(), |c| c.key.clone())
        .into_iter()
        .map(|(slug, (counts, durations))| GroupFigures {
            name: specialty_names
                .get(&slug)
                .cloned()
                .unwrap_or_else(|| slug.clone()),
            figures: with_overdue(
                figures(&counts, Some(durations)),
                overdue
                    .by_specialty
                    .get(slug.as_str())
                    .copied()
                    .unwrap_or(0),
            ),
            key: slug,
            registered_patients: None,
            requests_per_1000_patients: None,
        })
        .collect();
    specialties.sort_by(|a, b| a.name.cmp(&b.name));
    let mut practice_durations = group_cells(data.practice_days.iter(), |c| c.key.clone());
    let list_size = |id: &str| info(id).and_then(|p| p.list_size);
    let icb_of = |id: &str| info(id).and_then(|p| p.icb_id.clone());
    // Each ICB's counts, durations, and (cases, list size) of each of its practices.
    type IcbRow = (Counts, DurationLists, Vec<(i64, Option<i64>)>);
    let mut icb_rows: BTreeMap<String, IcbRow> = BTreeMap::new();
    if let Some(days) = &data.icb_days {
        // The ICB's registered patients: its practices' lists now, when every one is known.
        let mut lists: HashMap<&str, Option<i64>> = HashMap::new();
        for p in data.practice_names.values() {
            if let Some(icb) = &p.icb_id {
                let sum = lists.entry(icb.as_str()).or_insert(Some(0));
                *sum = sum.zip(p.list_size).map(|(a, b)| a + b);
            }
        }
        for (id, (counts, durations)) in group_cells(days.iter(), |c| c.key.clone()) {
            let list = lists.get(id.as_str()).copied().flatten();
            icb_rows.insert(id, (counts, durations, vec![(counts.submitted, list)]));
        }
    }
    let practices =
        data.practices
            .iter()
            .map(|p| {
                let durations = practice_durations
                    .remove(&p.practice_id)
                    .map(|(_, d)| d)
                    .unwrap_or_default();
                if let Some(icb) = icb_of(&p.practice_id) {
                    let row = icb_rows.entry(icb).or_default();
                    row.0.add(&p.counts);
                    row.1.extend(&durations);
                    row.2.push((p.counts.submitted, list_size(&p.practice_id)));
                }
                let (registered_patients, requests_per_1000_patients) = per_1000(std::iter::once(
                    (p.counts.submitted, list_size(&p.practice_id)),
                ));
                GroupFigures {
                    key: p.ods_code.clone(),
                    name: p.name.clone(),
                    figures: with_overdue(
                        figures(&p.counts, Some(durations)),
                        overdue
                            .by_practice
                            .get(p.practice_id.as_str())
                            .copied()
                            .unwrap_or(0),
                    ),
                    registered_patients,
                    requests_per_1000_patients,
                }
            })
            .collect();
    let mut icb_lists = Vec::new();
    let icbs = icb_rows
        .into_iter()
        .filter_map(|(id, (counts, durations, lists))| {
            let (ods, name) = data.icb_names.get(&id)?.clone();
            icb_lists.extend_from_slice(&lists);
            let (registered_patients, requests_per_1000_patients) = per_1000(lists.into_iter());
            Some(GroupFigures {
                key: ods,
                name,
                figures: with_overdue(
                    figures(&counts, Some(durations)),
                    overdue.by_icb.get(id.as_str()).copied().unwrap_or(0),
                ),
                registered_patients,
                requests_per_1000_patients,
            })
        })
        .collect();
    let (registered_patients, requests_per_1000_patients) = if data.icb_days.is_some() {
        per_1000(icb_lists.into_iter())
    } else {
        per_1000(
            data.practices
                .iter()
                .map(|p| (p.counts.submitted, list_size(&p.practice_id))),
        )
    };
    let (topics, topics_by_practice) = topics(data);
    Report {
        from: period.first_day(),
        to: period.last_day(),
        specialty: specialty.map(str::to_string),
        practice: practice.map(str::to_string),
        icb: icb.map(|(code, _)| code.to_string()),
        icb_name: icb.map(|(_, name)| name.to_string()),
        generated_at: rfc3339(now_ms),
        totals: with_overdue(figures(&total, Some(all)), overdue.total),
        registered_patients,
        requests_per_1000_patients,
        gp_referrals_overdue_now: data.referrals_overdue_now,
        weeks,
        specialties,
        icbs,
        practices,
        topics,
        topics_by_practice,
        calls: super::calls::call_report(&data.calls, specialty_names, |id| {
            data.practice_names
                .get(id)
                .map(|p| (p.ods_code.clone(), p.name.clone()))
        }),
    }
}

fn top(mut counts: Vec<TopicCount>, n: usize) -> Vec<TopicCount> {
    counts.sort_by(|a, b| b.cases.cmp(&a.cases).then_with(|| a.topic.cmp(&b.topic)));
    counts.truncate(n);
    counts
}

fn topics(data: &ReportData) -> (Vec<TopicCount>, Vec<PracticeTopics>) {
    let mut overall: BTreeMap<&str, i64> = BTreeMap::new();
    let mut per_practice: BTreeMap<&str, Vec<TopicCount>> = BTreeMap::new();
    for t in &data.topics {
        *overall.entry(&t.topic).or_default() += t.cases;
        per_practice
            .entry(&t.practice_id)
            .or_default()
            .push(TopicCount {
                topic: t.topic.clone(),
                cases: t.cases,
            });
    }
    let overall = top(
        overall
            .into_iter()
            .map(|(topic, cases)| TopicCount {
                topic: topic.to_string(),
                cases,
            })
            .collect(),
        TOP_TOPICS,
    );
    let mut by_practice: Vec<PracticeTopics> = per_practice
        .into_iter()
        .filter_map(|(id, counts)| {
            let p = data.practice_names.get(id)?;
            Some(PracticeTopics {
                ods_code: p.ods_code.clone(),
                name: p.name.clone(),
                topics: top(counts, TOP_TOPICS_PER_PRACTICE),
            })
        })
        .collect();
    by_practice.sort_by(|a, b| a.ods_code.cmp(&b.ods_code));
    (overall, by_practice)
}

#[cfg(test)]
mod tests {
    use super::super::stats::select_percentile;
    use super::*;

    #[test]
    fn selection_gives_the_percentiles_of_the_sorted_values() {
        // Deterministic pseudo-random lists of every length up to 200, with repeats.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for len in 0..200 {
            let mut values: Vec<i64> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed % 1_000) as i64
                })
                .collect();
            let mut sorted = values.clone();
            sorted.sort_unstable();
            for pct in [0, 10, 50, 90, 99, 100] {
                assert_eq!(
                    select_percentile(&mut values, pct),
                    percentile(&sorted, pct),
                    "{len} values, {pct}th"
                );
            }
        }
    }

    #[test]
    fn percentiles_interpolate_like_a_spreadsheet() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 90), Some(7));
        assert_eq!(percentile(&[1, 2, 3, 4], 50), Some(3)); // 2.5 rounds half up
        assert_eq!(percentile(&[10, 20, 30, 40], 50), Some(25));
        // PERCENTILE.INC({10,20,30,40}, 0.9) = 37
        assert_eq!(percentile(&[10, 20, 30, 40], 90), Some(37));
        assert_eq!(
            percentile(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 90),
            Some(10)
        );
    }
}
