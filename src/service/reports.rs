//! Commissioners' figures: turnaround, outcomes, deflection, answer rate, national pool,
//! re-presentation, weekly trends, breakdowns by specialty and practice, and reply topics.
//!
//! Definitions (product brief, "Figures worth showing"):
//! * The cohort is the cases **submitted** in the period (UTC days, both ends included); every
//!   figure describes those cases as they stand now. Weeks run Monday to Sunday (UTC).
//! * Turnaround to first reply: first consultant reply (advice or request for information) minus
//!   submission. Turnaround to close: close minus submission **minus the time awaiting the GP**,
//!   which is shown apart (total wait of closed cases that had a request for information).
//! * Median and 90th percentile as spreadsheets compute MEDIAN and PERCENTILE.INC: linear
//!   interpolation between the closest ranks, rounded to the millisecond.
//! * Within target: at most the specialty's target for the case's urgency, as it stood when the
//!   case was submitted. Answer rate within target: answered within target / submitted.
//! * Deflection: closed as manage in primary care / closed.
//! * National pool: cases a consultant on the national pool rota replied to (at reply time).
//! * Re-presentation: cases closed as manage in primary care after which a case for the same NHS
//!   number and specialty was submitted within 90 days of the close.
//!
//! No NHS number or free text reaches a report: topics are the labels of each specialty's
//! controlled list (`specialty_topics`), never text a consultant typed.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{FieldError, ServiceError, ServiceResult};
use crate::clock::{rfc3339, utc_date, ISO_DATE};
use crate::db::reports::{self as rdb, Filter};
use crate::db::{self, audit};
use crate::domain::access::Principal;
use crate::domain::reports::{week_start, Counts, DayCell, DAY_MS, WEEK_MS};
use crate::service::AppState;

/// Longest period a report covers (two years).
pub const MAX_PERIOD_DAYS: i64 = 731;
const TOP_TOPICS: usize = 20;
const TOP_TOPICS_PER_PRACTICE: usize = 10;

fn field(field: &'static str, code: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        code,
        message: message.into(),
    }
}

/// A period of whole UTC days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: time::Date,
    pub to: time::Date,
}

fn date_ms(d: time::Date) -> i64 {
    d.midnight().assume_utc().unix_timestamp() * 1000
}

pub fn fmt_date(ms: i64) -> String {
    utc_date(ms).format(ISO_DATE).unwrap_or_default()
}

impl Period {
    /// Parses `from` and `to` (YYYY-MM-DD); both are required.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> ServiceResult<Period> {
        let one = |name: &'static str, v: Option<&str>| {
            let v = v.map(str::trim).unwrap_or("");
            time::Date::parse(v, ISO_DATE).map_err(|_| {
                let message = if v.is_empty() {
                    format!("Give the period's {name} date as YYYY-MM-DD, for example 2026-11-01.")
                } else {
                    format!(
                        "'{v}' is not a date: give {name} as YYYY-MM-DD, for example 2026-11-01."
                    )
                };
                ServiceError::Invalid(vec![field(name, "invalid_period", message)])
            })
        };
        let period = Period {
            from: one("from", from)?,
            to: one("to", to)?,
        };
        if period.to < period.from {
            return Err(ServiceError::Invalid(vec![field(
                "to",
                "invalid_period",
                "The period ends before it starts: 'to' must be on or after 'from'.",
            )]));
        }
        if period.days() > MAX_PERIOD_DAYS {
            return Err(ServiceError::Invalid(vec![field(
                "from",
                "invalid_period",
                format!("A report covers at most {MAX_PERIOD_DAYS} days; choose a shorter period."),
            )]));
        }
        Ok(period)
    }

    /// The last 13 weeks: from the Monday 12 weeks before this week's, to today.
    pub fn recent(now_ms: i64) -> Period {
        let this_week = week_start(now_ms);
        Period {
            from: utc_date(this_week - 12 * WEEK_MS),
            to: utc_date(now_ms),
        }
    }

    pub fn from_ms(&self) -> i64 {
        date_ms(self.from)
    }

    /// The end, exclusive: midnight after the last day.
    pub fn to_ms(&self) -> i64 {
        date_ms(self.to) + DAY_MS
    }

    pub fn days(&self) -> i64 {
        (self.to_ms() - self.from_ms()) / DAY_MS
    }

    pub fn first_day(&self) -> String {
        self.from.format(ISO_DATE).unwrap_or_default()
    }

    pub fn last_day(&self) -> String {
        self.to.format(ISO_DATE).unwrap_or_default()
    }
}

/// What a commissioner asked for.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    pub period: Period,
    /// Specialty slug.
    pub specialty: Option<String>,
    /// Practice ODS code.
    pub practice: Option<String>,
}

/// Median and 90th percentile of a set of durations.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Spread {
    pub cases: i64,
    pub median_ms: Option<i64>,
    pub p90_ms: Option<i64>,
}

/// Turnaround of one kind: how many cases it covers, median, 90th percentile, share within target.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Turnaround {
    pub cases: i64,
    /// Null where the breakdown has no durations (practices) or there are no cases.
    pub median_ms: Option<i64>,
    pub p90_ms: Option<i64>,
    pub within_target: i64,
    /// within_target / cases, 4 decimals; null when there are no cases.
    pub within_target_share: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OutcomeCounts {
    pub manage_in_primary_care: i64,
    pub refer_routine: i64,
    pub refer_urgent: i64,
    pub refer_two_week_wait: i64,
    pub redirect_specialty: i64,
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
    /// Time closed cases spent awaiting the GP, over those that had a request for information;
    /// null for practices.
    pub awaiting_gp: Option<Spread>,
    /// Answered within target / submitted.
    pub answer_rate_within_target: Option<f64>,
    /// Closing outcomes.
    pub outcomes: OutcomeCounts,
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
    /// Specialty slug or practice ODS code.
    pub key: String,
    pub name: String,
    pub figures: Figures,
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
    pub generated_at: String,
    pub totals: Figures,
    pub weeks: Vec<WeekFigures>,
    pub specialties: Vec<GroupFigures>,
    pub practices: Vec<GroupFigures>,
    /// Most frequent topics over all practices (at most 20).
    pub topics: Vec<TopicCount>,
    pub topics_by_practice: Vec<PracticeTopics>,
}

/// The `pct`-th percentile (0–100) of sorted values, interpolated like PERCENTILE.INC, in integer
/// arithmetic (rounded half up to the millisecond).
pub fn percentile(sorted: &[i64], pct: i64) -> Option<i64> {
    let n = sorted.len() as i64;
    if n == 0 {
        return None;
    }
    let scaled = pct * (n - 1);
    let (lo, rem) = ((scaled / 100) as usize, scaled % 100);
    let hi = (lo + 1).min(sorted.len() - 1);
    let x = i128::from(sorted[lo]) * 100 + i128::from(sorted[hi] - sorted[lo]) * i128::from(rem);
    Some(((x + 50).div_euclid(100)) as i64)
}

fn share(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0)
}

fn spread(mut values: Vec<i64>) -> Spread {
    values.sort_unstable();
    Spread {
        cases: values.len() as i64,
        median_ms: percentile(&values, 50),
        p90_ms: percentile(&values, 90),
    }
}

/// Durations of a group, when the source has them.
#[derive(Default)]
struct Durations {
    first_reply: Vec<i64>,
    to_close: Vec<i64>,
    awaiting_gp: Vec<i64>,
}

impl Durations {
    fn add(&mut self, c: &DayCell) {
        self.first_reply.extend_from_slice(&c.first_reply_ms);
        self.to_close.extend_from_slice(&c.to_close_ms);
        self.awaiting_gp.extend_from_slice(&c.awaiting_gp_ms);
    }
}

fn figures(c: &Counts, d: Option<Durations>) -> Figures {
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
        answer_rate_within_target: share(c.answered_in_target, c.submitted),
        outcomes: OutcomeCounts {
            manage_in_primary_care: c.manage_in_primary_care,
            refer_routine: c.refer_routine,
            refer_urgent: c.refer_urgent,
            refer_two_week_wait: c.refer_two_week_wait,
            redirect_specialty: c.redirect_specialty,
        },
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
) -> BTreeMap<K, (Counts, Durations)> {
    let mut groups: BTreeMap<K, (Counts, Durations)> = BTreeMap::new();
    for c in cells {
        let g = groups.entry(key(c)).or_default();
        g.0.add(&c.counts);
        g.1.add(c);
    }
    groups
}

/// Everything a report needs, as read from the database.
pub struct ReportData {
    pub cells: Vec<DayCell>,
    pub practices: Vec<rdb::PracticeCounts>,
    pub topics: Vec<rdb::TopicCount>,
    /// Every practice: id → (ODS code, name).
    pub practice_names: BTreeMap<String, (String, String)>,
}

/// Reads a report's data: day cells from the rollup, or from `case_facts` for a practice.
/// The three reads run side by side.
pub async fn read(db: &db::Db, filter: &Filter<'_>) -> ServiceResult<ReportData> {
    let cells = async {
        if filter.practice_id.is_some() {
            rdb::fact_days(db, filter).await
        } else {
            rdb::specialty_days(db, filter).await
        }
    };
    let (cells, practices, topics, all_practices) = tokio::try_join!(
        cells,
        rdb::practice_counts(db, filter),
        rdb::topic_counts(db, filter),
        db::practices::list(db)
    )?;
    Ok(ReportData {
        cells,
        practices,
        topics,
        practice_names: all_practices
            .into_iter()
            .map(|p| (p.id, (p.ods_code, p.name)))
            .collect(),
    })
}

/// Computes the report from its data (pure).
pub fn compute(
    period: &Period,
    specialty: Option<&str>,
    practice: Option<&str>,
    specialty_names: &BTreeMap<String, String>,
    data: &ReportData,
    now_ms: i64,
) -> Report {
    let cells = &data.cells;
    let mut total = Counts::default();
    let mut all = Durations::default();
    for c in cells {
        total.add(&c.counts);
        all.add(c);
    }
    let mut by_week = group_cells(cells.iter(), |c| week_start(c.day_ms));
    let mut weeks = Vec::new();
    let mut w = week_start(period.from_ms());
    while w < period.to_ms() {
        let (counts, durations) = by_week.remove(&w).unwrap_or_default();
        weeks.push(WeekFigures {
            week_start: fmt_date(w),
            figures: figures(&counts, Some(durations)),
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
            key: slug,
            figures: figures(&counts, Some(durations)),
        })
        .collect();
    specialties.sort_by(|a, b| a.name.cmp(&b.name));
    let practices = data
        .practices
        .iter()
        .map(|p| GroupFigures {
            key: p.ods_code.clone(),
            name: p.name.clone(),
            figures: figures(&p.counts, None),
        })
        .collect();
    let (topics, topics_by_practice) = topics(data);
    Report {
        from: period.first_day(),
        to: period.last_day(),
        specialty: specialty.map(str::to_string),
        practice: practice.map(str::to_string),
        generated_at: rfc3339(now_ms),
        totals: figures(&total, Some(all)),
        weeks,
        specialties,
        practices,
        topics,
        topics_by_practice,
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
            let (ods, name) = data.practice_names.get(id)?;
            Some(PracticeTopics {
                ods_code: ods.clone(),
                name: name.clone(),
                topics: top(counts, TOP_TOPICS_PER_PRACTICE),
            })
        })
        .collect();
    by_practice.sort_by(|a, b| a.ods_code.cmp(&b.ods_code));
    (overall, by_practice)
}

/// How a report was shown, for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Page,
    Json,
    Csv,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::Page => "page",
            Format::Json => "json",
            Format::Csv => "csv",
        }
    }
}

/// The turnaround report for commissioners and admins; records the view.
pub async fn turnaround(
    state: &AppState,
    user: &Principal,
    req: &ReportRequest,
    format: Format,
) -> ServiceResult<Report> {
    if !user.may_see_reports() {
        return Err(ServiceError::Forbidden(
            "Only commissioners and admins can see reports.".into(),
        ));
    }
    let names: BTreeMap<String, String> = db::specialties::list(&state.db)
        .await?
        .into_iter()
        .map(|s| (s.slug, s.name))
        .collect();
    let specialty = req
        .specialty
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(s) = specialty {
        if !names.contains_key(s) {
            return Err(ServiceError::Invalid(vec![field(
                "specialty",
                "invalid_specialty",
                format!("'{s}' is not a specialty aghub serves."),
            )]));
        }
    }
    let ods = req
        .practice
        .as_deref()
        .map(|p| p.trim().to_ascii_uppercase())
        .filter(|p| !p.is_empty());
    let practice = match &ods {
        Some(code) => match db::practices::find_by_ods(&state.db, code).await? {
            Some(p) => Some(p),
            None => {
                return Err(ServiceError::Invalid(vec![field(
                    "practice",
                    "invalid_practice",
                    format!("There is no practice with ODS code '{code}'."),
                )]))
            }
        },
        None => None,
    };
    let filter = Filter {
        from_ms: req.period.from_ms(),
        to_ms: req.period.to_ms(),
        specialty,
        practice_id: practice.as_ref().map(|p| p.id.as_str()),
    };
    let data = read(&state.db, &filter).await?;
    let now = state.now_ms();
    audit::record(
        state.db.pool(),
        audit::Event {
            actor_id: Some(&user.user_id),
            action: "reports.viewed",
            detail: Some(json!({
                "report": "turnaround",
                "from": req.period.first_day(),
                "to": req.period.last_day(),
                "specialty": specialty,
                "practice": ods,
                "format": format.as_str(),
            })),
            ..Default::default()
        },
        now,
    )
    .await?;
    Ok(compute(
        &req.period,
        specialty,
        ods.as_deref(),
        &names,
        &data,
        now,
    ))
}

/// A CSV field: quoted when needed; text that a spreadsheet would run as a formula is prefixed
/// with an apostrophe.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn hours(ms: Option<i64>) -> String {
    ms.map(|v| format!("{:.2}", v as f64 / 3_600_000.0))
        .unwrap_or_default()
}

fn pct(share: Option<f64>) -> String {
    share
        .map(|s| format!("{:.1}", s * 100.0))
        .unwrap_or_default()
}

pub const CSV_COLUMNS: &str = "group,key,name,submitted,answered,closed,awaiting_gp_now,information_requested,\
first_reply_cases,first_reply_median_hours,first_reply_p90_hours,first_reply_within_target,first_reply_within_target_pct,\
close_cases,close_median_hours,close_p90_hours,close_within_target,close_within_target_pct,\
awaiting_gp_cases,awaiting_gp_median_hours,awaiting_gp_p90_hours,answer_rate_within_target_pct,\
manage_in_primary_care,refer_routine,refer_urgent,refer_two_week_wait,redirect_specialty,deflection_pct,\
national_pool,national_pool_pct,re_presented,re_presentation_pct";

fn csv_row(out: &mut String, group: &str, key: &str, name: &str, f: &Figures) {
    let w = f.awaiting_gp.as_ref();
    let cells = [
        csv_field(group),
        csv_field(key),
        csv_field(name),
        f.submitted.to_string(),
        f.answered.to_string(),
        f.closed.to_string(),
        f.awaiting_gp_now.to_string(),
        f.information_requested.to_string(),
        f.first_reply.cases.to_string(),
        hours(f.first_reply.median_ms),
        hours(f.first_reply.p90_ms),
        f.first_reply.within_target.to_string(),
        pct(f.first_reply.within_target_share),
        f.to_close.cases.to_string(),
        hours(f.to_close.median_ms),
        hours(f.to_close.p90_ms),
        f.to_close.within_target.to_string(),
        pct(f.to_close.within_target_share),
        w.map(|w| w.cases.to_string()).unwrap_or_default(),
        hours(w.and_then(|w| w.median_ms)),
        hours(w.and_then(|w| w.p90_ms)),
        pct(f.answer_rate_within_target),
        f.outcomes.manage_in_primary_care.to_string(),
        f.outcomes.refer_routine.to_string(),
        f.outcomes.refer_urgent.to_string(),
        f.outcomes.refer_two_week_wait.to_string(),
        f.outcomes.redirect_specialty.to_string(),
        pct(f.deflection_rate),
        f.national_pool.to_string(),
        pct(f.national_pool_share),
        f.re_presented.to_string(),
        pct(f.re_presentation_rate),
    ];
    out.push_str(&cells.join(","));
    out.push_str("\r\n");
}

/// The figures as CSV: one row for the period, then one per week, specialty and practice.
/// Durations in hours (2 decimals), shares in percent (1 decimal).
pub fn figures_csv(r: &Report) -> String {
    let mut out = String::from(CSV_COLUMNS);
    out.push_str("\r\n");
    csv_row(
        &mut out,
        "total",
        "all",
        "All cases in the period",
        &r.totals,
    );
    for w in &r.weeks {
        csv_row(
            &mut out,
            "week",
            &w.week_start,
            &format!("Week from {}", w.week_start),
            &w.figures,
        );
    }
    for s in &r.specialties {
        csv_row(&mut out, "specialty", &s.key, &s.name, &s.figures);
    }
    for p in &r.practices {
        csv_row(&mut out, "practice", &p.key, &p.name, &p.figures);
    }
    out
}

/// Topics by practice as CSV.
pub fn topics_csv(r: &Report) -> String {
    let mut out = String::from("ods_code,practice,topic,cases\r\n");
    for p in &r.topics_by_practice {
        for t in &p.topics {
            out.push_str(&format!(
                "{},{},{},{}\r\n",
                csv_field(&p.ods_code),
                csv_field(&p.name),
                csv_field(&t.topic),
                t.cases
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn periods_are_whole_days_and_bounded() {
        let p = Period::parse(Some("2026-11-23"), Some("2026-11-29")).unwrap();
        assert_eq!(p.from_ms(), 1_795_392_000_000);
        assert_eq!(p.to_ms(), 1_795_392_000_000 + 7 * DAY_MS);
        assert_eq!(p.days(), 7);
        assert!(Period::parse(Some("2026-11-30"), Some("2026-11-29")).is_err());
        assert!(Period::parse(Some("2024-01-01"), Some("2026-11-29")).is_err());
        assert!(Period::parse(None, Some("2026-11-29")).is_err());
        assert!(Period::parse(Some("23/11/2026"), Some("2026-11-29")).is_err());
    }

    #[test]
    fn csv_fields_are_quoted_and_formula_safe() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
    }
}
