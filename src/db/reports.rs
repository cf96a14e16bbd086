//! What commissioners' reports read, and the two things a reply records for them (its topics, from
//! the specialty's list, and the rota pool of the consultant who gave it).
//!
//! # Why derived tables
//! Every figure is a function of the case events in `audit_events` (`case.created`,
//! `case.replied`, `case.responded`). Replaying those events for a year of a region on every page
//! view would read millions of rows, so migration 0003 keeps three derived tables up to date with
//! triggers, inside the transaction that records each event (so they can never disagree with it):
//!
//! * `case_facts`: one row per case, the result of applying its events: submission time and week,
//!   the target in force, time to first reply, time awaiting the GP, close time, closing outcome,
//!   whether a national-pool consultant replied, and re-presentation (a case for the same NHS
//!   number and specialty submitted within 90 days after a close as manage in primary care; the
//!   NHS number itself never leaves `cases`).
//! * `report_specialty_days` and `report_practice_days`: per submission day (UTC) and specialty /
//!   practice, the sums of `case_facts`' flags; the specialty cells also keep every case's
//!   durations as text lists, so medians and 90th percentiles stay exact while a year of a large
//!   region reads about 6,000 + 73,000 small rows instead of a row per case.
//!
//! A report for a period reads the specialty cells (totals, weeks, specialties, percentiles) and
//! the practice cells (practice breakdown). With a practice filter, or a specialty filter for the
//! practice breakdown, it reads `case_facts` through its practice / specialty indexes instead:
//! those subsets are small. [`fact_days`] turns fact rows into the same day cells, so one piece of
//! code computes the figures whichever source they came from.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{Db, DbResult};

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

/// How many cases of a group have each property. Sums of `case_facts` flags; the column names of
/// the day tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub submitted: i64,
    /// With a first consultant reply (advice or request for information).
    pub answered: i64,
    pub answered_in_target: i64,
    pub closed: i64,
    /// Closed within target, time awaiting the GP not counted.
    pub closed_in_target: i64,
    pub manage_in_primary_care: i64,
    pub refer_routine: i64,
    pub refer_urgent: i64,
    pub refer_two_week_wait: i64,
    pub redirect_specialty: i64,
    /// At least one request for information.
    pub information_requested: i64,
    /// Waiting for the GP's response now.
    pub awaiting_gp: i64,
    /// A consultant on the national pool rota replied.
    pub national_pool: i64,
    /// Closed as manage in primary care and re-presented within 90 days.
    pub represented: i64,
}

const COUNT_COLUMNS: [&str; 14] = [
    "submitted",
    "answered",
    "answered_in_target",
    "closed",
    "closed_in_target",
    "manage_in_primary_care",
    "refer_routine",
    "refer_urgent",
    "refer_two_week_wait",
    "redirect_specialty",
    "information_requested",
    "awaiting_gp",
    "national_pool",
    "represented",
];

/// The same flags as SQL over `case_facts f` (the triggers' expressions).
const FACT_FLAGS: [&str; 14] = [
    "1",
    "CASE WHEN f.first_reply_ms IS NOT NULL THEN 1 ELSE 0 END",
    "CASE WHEN f.first_reply_ms <= f.target_ms THEN 1 ELSE 0 END",
    "CASE WHEN f.closed_at_ms IS NOT NULL THEN 1 ELSE 0 END",
    "CASE WHEN f.to_close_ms <= f.target_ms THEN 1 ELSE 0 END",
    "CASE WHEN f.outcome = 'manage_in_primary_care' THEN 1 ELSE 0 END",
    "CASE WHEN f.outcome = 'refer_routine' THEN 1 ELSE 0 END",
    "CASE WHEN f.outcome = 'refer_urgent' THEN 1 ELSE 0 END",
    "CASE WHEN f.outcome = 'refer_two_week_wait' THEN 1 ELSE 0 END",
    "CASE WHEN f.outcome = 'redirect_specialty' THEN 1 ELSE 0 END",
    "CASE WHEN f.information_requests > 0 THEN 1 ELSE 0 END",
    "CASE WHEN f.awaiting_since_ms IS NOT NULL THEN 1 ELSE 0 END",
    "f.national",
    "CASE WHEN f.represented_at_ms IS NOT NULL THEN 1 ELSE 0 END",
];

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.submitted += o.submitted;
        self.answered += o.answered;
        self.answered_in_target += o.answered_in_target;
        self.closed += o.closed;
        self.closed_in_target += o.closed_in_target;
        self.manage_in_primary_care += o.manage_in_primary_care;
        self.refer_routine += o.refer_routine;
        self.refer_urgent += o.refer_urgent;
        self.refer_two_week_wait += o.refer_two_week_wait;
        self.redirect_specialty += o.redirect_specialty;
        self.information_requested += o.information_requested;
        self.awaiting_gp += o.awaiting_gp;
        self.national_pool += o.national_pool;
        self.represented += o.represented;
    }

    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        let g = |c: &str| r.try_get::<i64, _>(c);
        Ok(Counts {
            submitted: g("submitted")?,
            answered: g("answered")?,
            answered_in_target: g("answered_in_target")?,
            closed: g("closed")?,
            closed_in_target: g("closed_in_target")?,
            manage_in_primary_care: g("manage_in_primary_care")?,
            refer_routine: g("refer_routine")?,
            refer_urgent: g("refer_urgent")?,
            refer_two_week_wait: g("refer_two_week_wait")?,
            redirect_specialty: g("redirect_specialty")?,
            information_requested: g("information_requested")?,
            awaiting_gp: g("awaiting_gp")?,
            national_pool: g("national_pool")?,
            represented: g("represented")?,
        })
    }
}

/// `CAST(SUM(expr) AS BIGINT) AS column, …` (PostgreSQL sums BIGINT to NUMERIC, which the Any
/// driver cannot read).
fn sums(exprs: impl Fn(usize) -> String) -> String {
    COUNT_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| format!("CAST(SUM({}) AS BIGINT) AS {c}", exprs(i)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One specialty's cases submitted on one day: counts and every known duration (ms).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayCell {
    pub specialty: String,
    pub day_ms: i64,
    pub counts: Counts,
    pub first_reply_ms: Vec<i64>,
    /// Close minus submission minus time awaiting the GP.
    pub to_close_ms: Vec<i64>,
    /// Total time awaiting the GP, of closed cases that had a request for information.
    pub awaiting_gp_ms: Vec<i64>,
}

/// Which cases a report covers: submitted in `[from_ms, to_ms)` (day boundaries), optionally of
/// one specialty and/or practice.
#[derive(Debug, Clone, Copy)]
pub struct Filter<'a> {
    pub from_ms: i64,
    pub to_ms: i64,
    pub specialty: Option<&'a str>,
    pub practice_id: Option<&'a str>,
}

fn parse_list(s: &str) -> Vec<i64> {
    s.split(',')
        .filter(|v| !v.is_empty())
        .filter_map(|v| v.parse().ok())
        .collect()
}

/// A report query: SQL whose first two parameters are the period's bounds (ms) and the rest the
/// filter's texts. Public so the benchmark can EXPLAIN exactly what the reports run.
#[derive(Debug, Clone)]
pub struct ReportSql<'a> {
    pub sql: String,
    pub texts: Vec<&'a str>,
}

impl<'a> ReportSql<'a> {
    fn query(
        &'a self,
        filter: &Filter<'_>,
    ) -> sqlx::query::Query<'a, Any, sqlx::any::AnyArguments<'a>> {
        let mut q = sqlx::query(&self.sql)
            .bind(filter.from_ms)
            .bind(filter.to_ms);
        for t in &self.texts {
            q = q.bind(*t);
        }
        q
    }
}

/// The rollup's day cells of a period (ignores a practice filter: see [`fact_days`]).
pub fn specialty_days_sql<'a>(filter: &Filter<'a>) -> ReportSql<'a> {
    let mut sql = format!(
        "SELECT specialty, day_ms, {}, first_reply_list, to_close_list, awaiting_gp_list \
         FROM report_specialty_days WHERE day_ms >= $1 AND day_ms < $2",
        COUNT_COLUMNS.join(", ")
    );
    let mut texts = Vec::new();
    if let Some(s) = filter.specialty {
        sql.push_str(" AND specialty = $3");
        texts.push(s);
    }
    ReportSql { sql, texts }
}

/// Day cells of the period from the rollup (not for a practice filter: see [`fact_days`]).
pub async fn specialty_days(db: &Db, filter: &Filter<'_>) -> DbResult<Vec<DayCell>> {
    let q = specialty_days_sql(filter);
    let rows = q.query(filter).fetch_all(db.pool()).await?;
    rows.iter()
        .map(|r| {
            Ok(DayCell {
                specialty: r.try_get("specialty")?,
                day_ms: r.try_get("day_ms")?,
                counts: Counts::from_row(r)?,
                first_reply_ms: parse_list(r.try_get::<&str, _>("first_reply_list")?),
                to_close_ms: parse_list(r.try_get::<&str, _>("to_close_list")?),
                awaiting_gp_ms: parse_list(r.try_get::<&str, _>("awaiting_gp_list")?),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// `WHERE` over `case_facts f` for a filter, binding from `$1`; returns the clause and binds.
fn fact_where<'a>(f: &Filter<'a>) -> (String, Vec<&'a str>) {
    let mut sql = String::from("f.submitted_at_ms >= $1 AND f.submitted_at_ms < $2");
    let mut binds = Vec::new();
    if let Some(s) = f.specialty {
        binds.push(s);
        sql.push_str(&format!(" AND f.specialty = ${}", binds.len() + 2));
    }
    if let Some(p) = f.practice_id {
        binds.push(p);
        sql.push_str(&format!(" AND f.practice_id = ${}", binds.len() + 2));
    }
    (sql, binds)
}

/// One case's facts, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FactRow {
    pub specialty: String,
    pub submitted_at_ms: i64,
    pub target_ms: i64,
    pub first_reply_ms: Option<i64>,
    pub information_requests: i64,
    pub awaiting_since_ms: Option<i64>,
    pub awaiting_gp_ms: i64,
    pub closed_at_ms: Option<i64>,
    pub to_close_ms: Option<i64>,
    pub outcome: Option<String>,
    pub national: i64,
    pub represented_at_ms: Option<i64>,
}

impl FactRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        <Self as sqlx::FromRow<AnyRow>>::from_row(r)
    }

    /// The case's contribution to its day cell: the rollup triggers' rules, in Rust.
    pub fn counts(&self) -> Counts {
        let flag = |b: bool| i64::from(b);
        let outcome = |o: &str| flag(self.outcome.as_deref() == Some(o));
        Counts {
            submitted: 1,
            answered: flag(self.first_reply_ms.is_some()),
            answered_in_target: flag(self.first_reply_ms.is_some_and(|d| d <= self.target_ms)),
            closed: flag(self.closed_at_ms.is_some()),
            closed_in_target: flag(self.to_close_ms.is_some_and(|d| d <= self.target_ms)),
            manage_in_primary_care: outcome("manage_in_primary_care"),
            refer_routine: outcome("refer_routine"),
            refer_urgent: outcome("refer_urgent"),
            refer_two_week_wait: outcome("refer_two_week_wait"),
            redirect_specialty: outcome("redirect_specialty"),
            information_requested: flag(self.information_requests > 0),
            awaiting_gp: flag(self.awaiting_since_ms.is_some()),
            national_pool: self.national,
            represented: flag(self.represented_at_ms.is_some()),
        }
    }
}

pub fn facts_sql<'a>(filter: &Filter<'a>) -> ReportSql<'a> {
    let (clause, texts) = fact_where(filter);
    ReportSql {
        sql: format!(
            "SELECT f.specialty, f.submitted_at_ms, f.target_ms, f.first_reply_ms, f.information_requests, \
             f.awaiting_since_ms, f.awaiting_gp_ms, f.closed_at_ms, f.to_close_ms, f.outcome, f.national, \
             f.represented_at_ms FROM case_facts f WHERE {clause}"
        ),
        texts,
    }
}

pub async fn facts(db: &Db, filter: &Filter<'_>) -> DbResult<Vec<FactRow>> {
    let q = facts_sql(filter);
    let rows = q.query(filter).fetch_all(db.pool()).await?;
    Ok(rows
        .iter()
        .map(FactRow::from_row)
        .collect::<Result<_, sqlx::Error>>()?)
}

/// Day cells built from fact rows, exactly as the rollup triggers build them.
pub fn cells_from_facts(rows: &[FactRow]) -> Vec<DayCell> {
    let mut cells: std::collections::BTreeMap<(String, i64), DayCell> = Default::default();
    for r in rows {
        let day = day_start(r.submitted_at_ms);
        let cell = cells
            .entry((r.specialty.clone(), day))
            .or_insert_with(|| DayCell {
                specialty: r.specialty.clone(),
                day_ms: day,
                ..Default::default()
            });
        cell.counts.add(&r.counts());
        if let Some(d) = r.first_reply_ms {
            cell.first_reply_ms.push(d);
        }
        if let Some(d) = r.to_close_ms {
            cell.to_close_ms.push(d);
            if r.information_requests > 0 {
                cell.awaiting_gp_ms.push(r.awaiting_gp_ms);
            }
        }
    }
    cells.into_values().collect()
}

/// Day cells computed from `case_facts` (used for a practice filter; any filter works).
pub async fn fact_days(db: &Db, filter: &Filter<'_>) -> DbResult<Vec<DayCell>> {
    Ok(cells_from_facts(&facts(db, filter).await?))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PracticeCounts {
    pub practice_id: String,
    pub ods_code: String,
    pub name: String,
    pub counts: Counts,
}

/// Counts per practice: from the practice rollup, or from `case_facts` when the report is
/// narrowed to a specialty or practice.
pub fn practice_counts_sql<'a>(filter: &Filter<'a>) -> ReportSql<'a> {
    if filter.specialty.is_none() && filter.practice_id.is_none() {
        ReportSql {
            sql: format!(
                "SELECT x.*, p.ods_code, p.name FROM (SELECT d.practice_id, {} FROM report_practice_days d \
                 WHERE d.day_ms >= $1 AND d.day_ms < $2 GROUP BY d.practice_id) x \
                 JOIN practices p ON p.id = x.practice_id ORDER BY p.ods_code",
                sums(|i| format!("d.{}", COUNT_COLUMNS[i]))
            ),
            texts: Vec::new(),
        }
    } else {
        let (clause, texts) = fact_where(filter);
        ReportSql {
            sql: format!(
                "SELECT x.*, p.ods_code, p.name FROM (SELECT f.practice_id, {} FROM case_facts f \
                 WHERE {clause} GROUP BY f.practice_id) x \
                 JOIN practices p ON p.id = x.practice_id ORDER BY p.ods_code",
                sums(|i| FACT_FLAGS[i].to_string())
            ),
            texts,
        }
    }
}

pub async fn practice_counts(db: &Db, filter: &Filter<'_>) -> DbResult<Vec<PracticeCounts>> {
    let q = practice_counts_sql(filter);
    let rows = q.query(filter).fetch_all(db.pool()).await?;
    rows.iter()
        .map(|r| {
            Ok(PracticeCounts {
                practice_id: r.try_get("practice_id")?,
                ods_code: r.try_get("ods_code")?,
                name: r.try_get("name")?,
                counts: Counts::from_row(r)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicCount {
    pub practice_id: String,
    pub topic: String,
    pub cases: i64,
}

/// How many cases of each practice were tagged with each topic in replies given in the period
/// (by reply time), for the filter's specialty / practice. Topics are named by their list's
/// label as it is now (a renamed topic shows its new name; a retired one its last).
pub fn topic_counts_sql<'a>(filter: &Filter<'a>) -> ReportSql<'a> {
    let mut sql = String::from(
        "SELECT t.practice_id, s.label AS topic, COUNT(*) AS cases FROM case_topics t \
         JOIN specialty_topics s ON s.specialty = t.specialty AND s.slug = t.topic \
         WHERE t.tagged_at_ms >= $1 AND t.tagged_at_ms < $2",
    );
    let mut texts = Vec::new();
    if let Some(s) = filter.specialty {
        texts.push(s);
        sql.push_str(&format!(" AND t.specialty = ${}", texts.len() + 2));
    }
    if let Some(p) = filter.practice_id {
        texts.push(p);
        sql.push_str(&format!(" AND t.practice_id = ${}", texts.len() + 2));
    }
    sql.push_str(" GROUP BY t.practice_id, s.label");
    ReportSql { sql, texts }
}

pub async fn topic_counts(db: &Db, filter: &Filter<'_>) -> DbResult<Vec<TopicCount>> {
    let q = topic_counts_sql(filter);
    let rows = q.query(filter).fetch_all(db.pool()).await?;
    rows.iter()
        .map(|r| {
            Ok(TopicCount {
                practice_id: r.try_get("practice_id")?,
                topic: r.try_get("topic")?,
                cases: r.try_get("cases")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// The rota pool a consultant replies from: `local` if on a local shift of the case's specialty
/// now, else `national` if on a national one, else none (a claim can outlive a shift).
pub async fn reply_pool(
    tx: &mut Transaction<'_, Any>,
    case_id: &str,
    user_id: &str,
    now_ms: i64,
) -> DbResult<Option<&'static str>> {
    let pools: Vec<String> = sqlx::query_scalar(
        "SELECT r.pool FROM rota_shifts r JOIN cases c ON c.specialty = r.specialty \
         WHERE c.id = $1 AND r.user_id = $2 AND r.starts_at_ms <= $3 AND r.ends_at_ms > $3",
    )
    .bind(case_id)
    .bind(user_id)
    .bind(now_ms)
    .fetch_all(&mut **tx)
    .await?;
    Ok(if pools.iter().any(|p| p == "local") {
        Some("local")
    } else if pools.iter().any(|p| p == "national") {
        Some("national")
    } else {
        None
    })
}

/// Records a reply's topics (slugs already checked against the list) against the case, once per
/// case and topic. Only active topics of the case's own specialty are written, whatever the
/// caller passes: the database, not only the form, keeps free text out of the reports.
pub async fn insert_topics(
    tx: &mut Transaction<'_, Any>,
    case_id: &str,
    topics: &[String],
    now_ms: i64,
) -> DbResult<()> {
    for topic in topics {
        sqlx::query(
            "INSERT INTO case_topics (case_id, topic, practice_id, specialty, tagged_at_ms) \
             SELECT c.id, s.slug, c.practice_id, c.specialty, $3 FROM cases c \
             JOIN specialty_topics s ON s.specialty = c.specialty AND s.slug = $2 \
             WHERE c.id = $1 AND s.retired_at_ms IS NULL \
             ON CONFLICT (case_id, topic) DO NOTHING",
        )
        .bind(case_id)
        .bind(topic)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday_utc() {
        // 2026-11-23 is a Monday; 2026-11-29 a Sunday.
        let monday = 1_795_392_000_000;
        assert_eq!(week_start(monday), monday);
        assert_eq!(week_start(monday + 6 * DAY_MS + DAY_MS - 1), monday);
        assert_eq!(week_start(monday - 1), monday - WEEK_MS);
        assert_eq!(day_start(monday + 9 * 3_600_000), monday);
    }

    #[test]
    fn duration_lists_parse_and_ignore_the_leading_comma() {
        assert_eq!(parse_list(""), Vec::<i64>::new());
        assert_eq!(parse_list(",5,10,3600000"), vec![5, 10, 3_600_000]);
    }
}
