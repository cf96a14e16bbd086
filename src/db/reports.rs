//! What commissioners' reports read and write: each case's facts and figures (`case_facts`), the
//! per-day sums of those figures, and a reply's topics.
//!
//! # Why derived tables
//! Replaying every case's events for a year of a region on every page view would read millions
//! of rows, so three derived tables are kept in the transaction of each case event (by
//! `service::case_facts`, with the rules of `domain::reports`; this module only stores and sums):
//!
//! * `case_facts`: one row per case, its [`CaseFacts`] and, in `flags`, which figures it counts
//!   in (bit i = figure i of [`Counts::NAMES`]). The NHS number itself never leaves `cases`.
//! * `report_specialty_days`, `report_practice_days` and `report_icb_days`: per submission day
//!   (UTC) and specialty / practice / ICB, the sums of the figures; the cells also keep every
//!   case's durations as text lists, so medians and 90th percentiles stay exact while a year
//!   reads a few thousand rows per group instead of a row per case.
//!
//! A report for a period reads the specialty cells (totals, weeks, specialties, percentiles) and
//! the practice cells (practice breakdown), or, over every practice of an installation with
//! ICBs, the ICB cells (ICB breakdown). With a practice or ICB filter, or a specialty filter for
//! the breakdown, it reads `case_facts` through its practice / ICB / specialty indexes instead:
//! those subsets are small, and `service::reports::read` reads them once for both. The same
//! `domain::reports::day_cells` turns fact rows into day cells, so one piece of code computes the
//! figures whichever source they came from. A case counts for the ICB its practice belonged to
//! when it was submitted (`case_facts.icb_id`).

use sqlx::any::AnyRow;
use sqlx::{Any, Row};

use super::{optional_word, word, Backend, Db, DbResult, Tx};
use crate::domain::reports::{
    day_cells, day_start, week_start, CaseFacts, Counts, DayCell, Durations,
};
use crate::domain::Urgency;

/// Each figure summed over rows of `{table}`: `CAST(SUM(expr) AS BIGINT) AS figure, …`
/// (PostgreSQL sums BIGINT to NUMERIC, which the Any driver cannot read).
fn sums(expr: impl Fn(usize, &str) -> String) -> String {
    Counts::NAMES
        .iter()
        .enumerate()
        .map(|(i, c)| format!("CAST(SUM({}) AS BIGINT) AS {c}", expr(i, c)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn counts_from_row(r: &AnyRow) -> Result<Counts, sqlx::Error> {
    let values = Counts::NAMES
        .iter()
        .map(|c| r.try_get::<i64, _>(*c))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Counts::from_values(&values))
}

/// Which cases a report covers: submitted in `[from_ms, to_ms)` (day boundaries), optionally of
/// one specialty, one ICB's practices and/or one practice.
#[derive(Debug, Clone, Copy)]
pub struct Filter<'a> {
    pub from_ms: i64,
    pub to_ms: i64,
    pub specialty: Option<&'a str>,
    pub practice_id: Option<&'a str>,
    pub icb_id: Option<&'a str>,
}

impl Filter<'_> {
    /// Narrowed to some practices: the rollups (by specialty, by practice, over every practice)
    /// cannot answer, the facts can.
    pub fn by_practice(&self) -> bool {
        self.practice_id.is_some() || self.icb_id.is_some()
    }
}

/// ` AND …` for the filter's practice and ICB, binding after `binds`: the ICB by `icb_column`
/// where the rows have the ICB a case counts for, else by the practices' ICB now.
fn practice_clause<'a>(
    f: &Filter<'a>,
    column: &str,
    icb_column: Option<&str>,
    sql: &mut String,
    binds: &mut Vec<&'a str>,
) {
    if let Some(p) = f.practice_id {
        binds.push(p);
        sql.push_str(&format!(" AND {column} = ${}", binds.len() + 2));
    }
    if let Some(icb) = f.icb_id {
        binds.push(icb);
        let n = binds.len() + 2;
        sql.push_str(&match icb_column {
            Some(c) => format!(" AND {c} = ${n}"),
            None => format!(" AND {column} IN (SELECT id FROM practices WHERE icb_id = ${n})"),
        });
    }
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

/// A rollup's day cells of a period: the specialty rollup's for the filter's specialty, if any;
/// the ICB rollup's for every specialty. Ignores a practice or ICB filter (see [`fact_days`]).
pub fn rollup_days_sql<'a>(rollup: Rollup, filter: &Filter<'a>) -> ReportSql<'a> {
    let mut sql = format!(
        "SELECT {} AS key, day_ms, {}, first_reply_list, to_close_list, awaiting_gp_list \
         FROM {} WHERE day_ms >= $1 AND day_ms < $2",
        rollup.key(),
        Counts::NAMES.join(", "),
        rollup.table()
    );
    let mut texts = Vec::new();
    if let (Rollup::Specialty, Some(s)) = (rollup, filter.specialty) {
        sql.push_str(" AND specialty = $3");
        texts.push(s);
    }
    ReportSql { sql, texts }
}

/// Day cells of the period from a rollup (see [`rollup_days_sql`]).
pub async fn rollup_days(db: &Db, rollup: Rollup, filter: &Filter<'_>) -> DbResult<Vec<DayCell>> {
    let q = rollup_days_sql(rollup, filter);
    let rows = q.query(filter).fetch_all(db.pool()).await?;
    rows.iter()
        .map(day_cell_from_row)
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
    practice_clause(f, "f.practice_id", Some("f.icb_id"), &mut sql, &mut binds);
    (sql, binds)
}

const FACT_COLUMNS: &str =
    "f.case_id, f.practice_id, f.icb_id, f.specialty, f.urgency, f.target_ms, \
    f.submitted_at_ms, f.first_reply_ms, f.information_requests, f.awaiting_since_ms, \
    f.awaiting_gp_ms, f.closed_at_ms, f.to_close_ms, f.outcome, f.national, f.redirected, \
    f.converted, f.referral_due_at_ms, f.referral_made_at_ms, f.represented_at_ms";

/// A 0/1 column; anything else is a decode error naming it.
fn flag(r: &AnyRow, column: usize) -> Result<bool, sqlx::Error> {
    match r.try_get::<i64, _>(column)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(sqlx::Error::ColumnDecode {
            index: column.to_string(),
            source: format!("{other} is not 0 or 1").into(),
        }),
    }
}

/// By position in [`FACT_COLUMNS`], not by name: a name is a hash lookup per column, and an
/// ICB's year is 60,000 rows of 20 columns.
fn facts_from_row(r: &AnyRow) -> Result<CaseFacts, sqlx::Error> {
    Ok(CaseFacts {
        case_id: r.try_get(0)?,
        practice_id: r.try_get(1)?,
        icb_id: r.try_get(2)?,
        specialty: r.try_get(3)?,
        urgency: word::<Urgency, _>(r, 4)?,
        target_ms: r.try_get(5)?,
        submitted_at_ms: r.try_get(6)?,
        first_reply_ms: r.try_get(7)?,
        information_requests: r.try_get(8)?,
        awaiting_since_ms: r.try_get(9)?,
        awaiting_gp_ms: r.try_get(10)?,
        closed_at_ms: r.try_get(11)?,
        to_close_ms: r.try_get(12)?,
        outcome: optional_word(r, 13)?,
        national: flag(r, 14)?,
        redirected: flag(r, 15)?,
        converted: flag(r, 16)?,
        referral_due_at_ms: r.try_get(17)?,
        referral_made_at_ms: r.try_get(18)?,
        represented_at_ms: r.try_get(19)?,
    })
}

pub fn facts_sql<'a>(filter: &Filter<'a>) -> ReportSql<'a> {
    let (clause, texts) = fact_where(filter);
    ReportSql {
        sql: format!("SELECT {FACT_COLUMNS} FROM case_facts f WHERE {clause}"),
        texts,
    }
}

pub async fn facts(db: &Db, filter: &Filter<'_>) -> DbResult<Vec<CaseFacts>> {
    let q = facts_sql(filter);
    let rows = q.query(filter).fetch_all(db.pool()).await?;
    Ok(rows
        .iter()
        .map(facts_from_row)
        .collect::<Result<_, sqlx::Error>>()?)
}

/// How [`fact_cells`] groups a narrowed report's facts: no finer than the report shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactCells {
    /// By specialty and week (`day_ms` the week's Monday): totals, weeks and the specialty table.
    SpecialtyWeeks,
    /// By ICB over the whole period (`day_ms` 0): the national view of one specialty.
    Icbs,
    /// By practice over the whole period (`day_ms` 0): the practice table.
    Practices,
}

/// [`fact_cells`]' SQL. The counts are the sums of each case's stored figure flags (set by the
/// running code, see [`save_flags`]); the duration lists repeat [`CaseFacts::durations`]' rule:
/// first reply and close when known, the wait for the GP of a closed case that had a request for
/// information.
pub fn fact_cells_sql<'a>(backend: Backend, filter: &Filter<'a>, by: FactCells) -> ReportSql<'a> {
    // domain::reports::week_start, 1970-01-05 being a Monday.
    let week = "f.submitted_at_ms - (f.submitted_at_ms - 345600000) % 604800000";
    let (key, day_ms, group) = match by {
        FactCells::SpecialtyWeeks => ("f.specialty", week, format!("f.specialty, {week}")),
        FactCells::Icbs => ("f.icb_id", "CAST(0 AS BIGINT)", "f.icb_id".to_string()),
        FactCells::Practices => (
            "f.practice_id",
            "CAST(0 AS BIGINT)",
            "f.practice_id".to_string(),
        ),
    };
    let list = |value: &str| match backend {
        Backend::Postgres => format!("string_agg(CAST({value} AS TEXT), ',')"),
        Backend::Sqlite => format!("group_concat(CAST({value} AS TEXT), ',')"),
    };
    let (clause, texts) = fact_where(filter);
    let icb_only = if by == FactCells::Icbs {
        " AND f.icb_id IS NOT NULL"
    } else {
        ""
    };
    ReportSql {
        sql: format!(
            "SELECT {key} AS key, {day_ms} AS day_ms, {}, {} AS first_reply_list, \
             {} AS to_close_list, {} AS awaiting_gp_list \
             FROM case_facts f WHERE {clause}{icb_only} GROUP BY {group}",
            sums(|i, _| format!("(f.flags >> {i}) & 1")),
            list("f.first_reply_ms"),
            list("f.to_close_ms"),
            list(
                "CASE WHEN f.to_close_ms IS NOT NULL AND f.information_requests > 0 \
                 THEN f.awaiting_gp_ms END"
            ),
        ),
        texts,
    }
}

/// A narrowed report's cells, summed in the database from the facts (see [`fact_cells_sql`]):
/// an ICB's year is 60,000 cases, and a few thousand summed rows cross the wire faster than
/// 60,000 rows of facts.
pub async fn fact_cells(db: &Db, filter: &Filter<'_>, by: FactCells) -> DbResult<Vec<DayCell>> {
    let q = fact_cells_sql(db.backend(), filter, by);
    let rows = q.query(filter).fetch_all(db.pool()).await?;
    rows.iter()
        .map(day_cell_from_row)
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

fn day_cell_from_row(r: &AnyRow) -> Result<DayCell, sqlx::Error> {
    let list = |column: &str| -> Result<Vec<i64>, sqlx::Error> {
        Ok(parse_list(
            r.try_get::<Option<&str>, _>(column)?.unwrap_or_default(),
        ))
    };
    Ok(DayCell {
        key: r.try_get("key")?,
        day_ms: r.try_get("day_ms")?,
        counts: counts_from_row(r)?,
        first_reply_ms: list("first_reply_list")?,
        to_close_ms: list("to_close_list")?,
        awaiting_gp_ms: list("awaiting_gp_list")?,
    })
}

/// Day cells by specialty computed from `case_facts`, for any filter (the tests hold the rollup
/// to it).
pub async fn fact_days(db: &Db, filter: &Filter<'_>) -> DbResult<Vec<DayCell>> {
    let facts = facts(db, filter).await?;
    Ok(day_cells(&facts, |f| &f.specialty))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PracticeCounts {
    pub practice_id: String,
    pub ods_code: String,
    pub name: String,
    pub counts: Counts,
}

/// Counts per practice: from the practice rollup, or from the flags in `case_facts` when the
/// filter is narrowed to a specialty or practice. A report sums its practice cells instead; the tests hold
/// the rollup and the flags to the facts with this.
pub fn practice_counts_sql<'a>(filter: &Filter<'a>) -> ReportSql<'a> {
    if filter.specialty.is_none() && !filter.by_practice() {
        ReportSql {
            sql: format!(
                "SELECT x.*, p.ods_code, p.name FROM (SELECT d.practice_id, {} FROM report_practice_days d \
                 WHERE d.day_ms >= $1 AND d.day_ms < $2 GROUP BY d.practice_id) x \
                 JOIN practices p ON p.id = x.practice_id ORDER BY p.ods_code",
                sums(|_, c| format!("d.{c}"))
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
                sums(|i, _| format!("(f.flags >> {i}) & 1"))
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
                counts: counts_from_row(r)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// How many cases of one specialty, practice (and the ICB they count for) and submission week
/// have no consultant reply yet and are past their target now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overdue {
    pub specialty: String,
    pub practice_id: String,
    pub icb_id: Option<String>,
    pub week_start_ms: i64,
    pub cases: i64,
}

/// The filter's cases with no consultant reply yet and past their target now.
pub async fn overdue_unanswered(
    db: &Db,
    filter: &Filter<'_>,
    now_ms: i64,
) -> DbResult<Vec<Overdue>> {
    let (clause, texts) = fact_where(filter);
    let sql = format!(
        "SELECT f.specialty, f.practice_id, f.icb_id, f.week_start_ms, COUNT(*) AS n \
         FROM case_facts f \
         WHERE {clause} AND f.first_reply_ms IS NULL AND f.submitted_at_ms + f.target_ms < ${} \
         GROUP BY f.specialty, f.practice_id, f.icb_id, f.week_start_ms",
        texts.len() + 3
    );
    let q = ReportSql { sql, texts };
    let rows = q.query(filter).bind(now_ms).fetch_all(db.pool()).await?;
    rows.iter()
        .map(|r| {
            Ok(Overdue {
                specialty: r.try_get("specialty")?,
                practice_id: r.try_get("practice_id")?,
                icb_id: r.try_get("icb_id")?,
                week_start_ms: r.try_get("week_start_ms")?,
                cases: r.try_get("n")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Referrals the GP has to make that are past their deadline now, of the filter's cases: a
/// figure of time rather than of events, so counted from `cases` when the report is read.
pub async fn referrals_overdue(db: &Db, filter: &Filter<'_>, now_ms: i64) -> DbResult<i64> {
    let (clause, texts) = fact_where(filter);
    let sql = format!(
        // CROSS JOIN makes SQLite start from the few overdue cases (index cases_referrals_due),
        // not from a year of facts; PostgreSQL plans it as any join.
        "SELECT COUNT(*) FROM cases c CROSS JOIN case_facts f \
         WHERE c.status = 'gp_to_refer' AND c.referral_due_at_ms < ${} AND f.case_id = c.id \
         AND {clause}",
        texts.len() + 3
    );
    let q = ReportSql { sql, texts };
    let n: i64 = q
        .query(filter)
        .bind(now_ms)
        .fetch_one(db.pool())
        .await?
        .try_get(0)?;
    Ok(n)
}

// Writing: the service decides, in the transaction of each case event, and stores here.

/// Locks the fact rows read (alias `f`) on PostgreSQL, and only those: locking the joined
/// `cases` rows too could deadlock with a reply that holds its case and waits for its facts.
/// SQLite needs none: every transaction that writes facts has already written (the case), so it
/// holds the database's only write lock.
fn for_update(tx: &mut Tx<'_>) -> &'static str {
    if tx.backend_name() == "PostgreSQL" {
        " FOR UPDATE OF f"
    } else {
        ""
    }
}

/// A case's facts, locked until the transaction ends.
pub async fn facts_of(tx: &mut Tx<'_>, case_id: &str) -> DbResult<Option<CaseFacts>> {
    let sql = format!(
        "SELECT {FACT_COLUMNS} FROM case_facts f WHERE f.case_id = $1{}",
        for_update(tx)
    );
    let row = sqlx::query(&sql)
        .bind(case_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.as_ref().map(facts_from_row).transpose()?)
}

/// The facts, locked, of the same patient's other cases in the same specialty that have not been
/// re-presented yet (whether this case re-presents them is the domain's rule).
pub async fn earlier_facts_of_patient(tx: &mut Tx<'_>, case_id: &str) -> DbResult<Vec<CaseFacts>> {
    let sql = format!(
        "SELECT {FACT_COLUMNS} FROM case_facts f JOIN cases o ON o.id = f.case_id \
         JOIN cases n ON n.nhs_number = o.nhs_number AND n.specialty = o.specialty \
         WHERE n.id = $1 AND o.id <> n.id AND f.represented_at_ms IS NULL \
         ORDER BY f.case_id{}",
        for_update(tx)
    );
    let rows = sqlx::query(&sql).bind(case_id).fetch_all(&mut **tx).await?;
    Ok(rows
        .iter()
        .map(facts_from_row)
        .collect::<Result<_, sqlx::Error>>()?)
}

/// Inserts or replaces a case's facts and its figures' flags.
pub async fn save_facts(tx: &mut Tx<'_>, f: &CaseFacts) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO case_facts (case_id, practice_id, specialty, urgency, target_ms, \
         submitted_at_ms, week_start_ms, first_reply_ms, information_requests, awaiting_since_ms, \
         awaiting_gp_ms, closed_at_ms, to_close_ms, outcome, national, represented_at_ms, flags, \
         redirected, converted, referral_due_at_ms, referral_made_at_ms, icb_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
         $19, $20, $21, $22) \
         ON CONFLICT (case_id) DO UPDATE SET first_reply_ms = excluded.first_reply_ms, \
         information_requests = excluded.information_requests, \
         awaiting_since_ms = excluded.awaiting_since_ms, awaiting_gp_ms = excluded.awaiting_gp_ms, \
         closed_at_ms = excluded.closed_at_ms, to_close_ms = excluded.to_close_ms, \
         outcome = excluded.outcome, national = excluded.national, \
         represented_at_ms = excluded.represented_at_ms, flags = excluded.flags, \
         redirected = excluded.redirected, converted = excluded.converted, \
         referral_due_at_ms = excluded.referral_due_at_ms, \
         referral_made_at_ms = excluded.referral_made_at_ms",
    )
    .bind(&f.case_id)
    .bind(&f.practice_id)
    .bind(&f.specialty)
    .bind(f.urgency.as_str())
    .bind(f.target_ms)
    .bind(f.submitted_at_ms)
    .bind(week_start(f.submitted_at_ms))
    .bind(f.first_reply_ms)
    .bind(f.information_requests)
    .bind(f.awaiting_since_ms)
    .bind(f.awaiting_gp_ms)
    .bind(f.closed_at_ms)
    .bind(f.to_close_ms)
    .bind(f.outcome.map(|o| o.as_str()))
    .bind(i64::from(f.national))
    .bind(f.represented_at_ms)
    .bind(f.counts().flags())
    .bind(i64::from(f.redirected))
    .bind(i64::from(f.converted))
    .bind(f.referral_due_at_ms)
    .bind(f.referral_made_at_ms)
    .bind(f.icb_id.as_deref())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn list(values: &[i64]) -> String {
    values.iter().map(|v| format!(",{v}")).collect()
}

/// Adds `delta` and the durations to the day cells of a case's specialty, practice and ICB.
pub async fn add_to_days(
    tx: &mut Tx<'_>,
    facts: &CaseFacts,
    delta: &Counts,
    durations: Durations,
) -> DbResult<()> {
    let mut cell = DayCell {
        key: facts.specialty.clone(),
        day_ms: day_start(facts.submitted_at_ms),
        counts: *delta,
        ..Default::default()
    };
    cell.push_durations(durations);
    add_cell(tx, Rollup::Specialty, &cell).await?;
    cell.key = facts.practice_id.clone();
    add_cell(tx, Rollup::Practice, &cell).await?;
    if let Some(icb) = &facts.icb_id {
        cell.key = icb.clone();
        add_cell(tx, Rollup::Icb, &cell).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
pub enum Rollup {
    Specialty,
    Practice,
    Icb,
}

impl Rollup {
    fn table(self) -> &'static str {
        match self {
            Rollup::Specialty => "report_specialty_days",
            Rollup::Practice => "report_practice_days",
            Rollup::Icb => "report_icb_days",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Rollup::Specialty => "specialty",
            Rollup::Practice => "practice_id",
            Rollup::Icb => "icb_id",
        }
    }
}

/// Adds a cell to its day's row: every figure summed, the duration lists appended.
pub async fn add_cell(tx: &mut Tx<'_>, rollup: Rollup, cell: &DayCell) -> DbResult<()> {
    add_cells(tx, rollup, std::slice::from_ref(cell)).await
}

/// [`add_cell`] for many cells of distinct days or keys, a hundred rows a statement: a rebuild
/// of a national deployment writes millions.
pub async fn add_cells(tx: &mut Tx<'_>, rollup: Rollup, cells: &[DayCell]) -> DbResult<()> {
    const LISTS: [&str; 3] = ["first_reply_list", "to_close_list", "awaiting_gp_list"];
    let (table, key) = (rollup.table(), rollup.key());
    let columns: Vec<&str> = Counts::NAMES.iter().chain(&LISTS).copied().collect();
    let per_row = columns.len() + 2;
    let updates = Counts::NAMES
        .iter()
        .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
        .chain(
            LISTS
                .iter()
                .map(|c| format!("{c} = {table}.{c} || excluded.{c}")),
        )
        .collect::<Vec<_>>()
        .join(", ");
    for chunk in cells.chunks(100) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| format!("({})", super::placeholders(i * per_row + 1, per_row)))
            .collect();
        let sql = format!(
            "INSERT INTO {table} ({key}, day_ms, {}) VALUES {} \
             ON CONFLICT ({key}, day_ms) DO UPDATE SET {updates}",
            columns.join(", "),
            rows.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for cell in chunk {
            q = q.bind(&cell.key).bind(cell.day_ms);
            for v in cell.counts.values() {
                q = q.bind(v);
            }
            q = q
                .bind(list(&cell.first_reply_ms))
                .bind(list(&cell.to_close_ms))
                .bind(list(&cell.awaiting_gp_ms));
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

// Rebuilding: the flags and day tables from the facts, when the figure set changed.

/// Serialises rebuilds across instances (PostgreSQL; SQLite has one writer).
pub async fn lock_for_rebuild(tx: &mut Tx<'_>) -> DbResult<()> {
    if tx.backend_name() == "PostgreSQL" {
        // Any constant shared by every instance; "aghub" in ASCII.
        sqlx::query("SELECT pg_advisory_xact_lock(435610318946)")
            .execute(&mut **tx)
            .await?;
    } else {
        // A write, so that this transaction holds SQLite's write lock before it reads.
        sqlx::query("DELETE FROM report_definition WHERE figures IS NULL")
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The figure set the flags and day tables hold, if any was recorded.
pub async fn definition(db: impl sqlx::Executor<'_, Database = Any>) -> DbResult<Option<String>> {
    Ok(sqlx::query_scalar("SELECT figures FROM report_definition")
        .fetch_optional(db)
        .await?)
}

pub async fn set_definition(tx: &mut Tx<'_>, figures: &str) -> DbResult<()> {
    sqlx::query("DELETE FROM report_definition")
        .execute(&mut **tx)
        .await?;
    sqlx::query("INSERT INTO report_definition (figures) VALUES ($1)")
        .bind(figures)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Gives the practice's cases that count for no ICB to `icb_id`; returns their facts.
pub async fn assign_icb(
    tx: &mut Tx<'_>,
    practice_id: &str,
    icb_id: &str,
) -> DbResult<Vec<CaseFacts>> {
    let rows = sqlx::query(&format!(
        "SELECT {FACT_COLUMNS} FROM case_facts f WHERE f.practice_id = $1 AND f.icb_id IS NULL"
    ))
    .bind(practice_id)
    .fetch_all(&mut **tx)
    .await?;
    sqlx::query("UPDATE case_facts SET icb_id = $2 WHERE practice_id = $1 AND icb_id IS NULL")
        .bind(practice_id)
        .bind(icb_id)
        .execute(&mut **tx)
        .await?;
    rows.iter()
        .map(|r| {
            let mut f = facts_from_row(r)?;
            f.icb_id = Some(icb_id.to_string());
            Ok(f)
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Every case's facts, oldest first; streamed, so a national deployment's millions of rows
/// are never all held as raw rows at once.
pub async fn all_facts(tx: &mut Tx<'_>) -> DbResult<Vec<CaseFacts>> {
    use futures::TryStreamExt;
    let sql =
        format!("SELECT {FACT_COLUMNS} FROM case_facts f ORDER BY f.submitted_at_ms, f.case_id");
    let mut rows = sqlx::query(&sql).fetch(&mut **tx);
    let mut facts = Vec::new();
    while let Some(row) = rows.try_next().await? {
        facts.push(facts_from_row(&row)?);
    }
    Ok(facts)
}

/// Stores each case's flags, many rows a statement.
pub async fn save_flags(tx: &mut Tx<'_>, flags: &[(&str, i64)]) -> DbResult<()> {
    for chunk in flags.chunks(500) {
        let values = (0..chunk.len())
            .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            // column1, column2: what both dialects name a VALUES list's columns.
            "UPDATE case_facts SET flags = v.column2 FROM (VALUES {values}) AS v \
             WHERE case_facts.case_id = v.column1"
        );
        let mut q = sqlx::query(&sql);
        for (case_id, bits) in chunk {
            q = q.bind(*case_id).bind(*bits);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Empties a day table (before it is rebuilt).
pub async fn clear_days(tx: &mut Tx<'_>, rollup: Rollup) -> DbResult<()> {
    sqlx::query(&format!("DELETE FROM {}", rollup.table()))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicCount {
    pub practice_id: String,
    pub topic: String,
    pub cases: i64,
}

/// How many cases of each practice were tagged with each topic in replies given in the period
/// (by reply time), for the filter's specialty / practice. Topics are named by their list's
/// label as it is now (a renamed topic shows its new name; a retired one its last). Without
/// `per_practice`, one count per topic (practice id empty): the national view's, which over
/// every practice comes from the day rollup `report_topic_days`.
pub fn topic_counts_sql<'a>(filter: &Filter<'a>, per_practice: bool) -> ReportSql<'a> {
    let from_rollup = !per_practice && !filter.by_practice();
    let (practice, group) = if per_practice {
        ("t.practice_id", "t.practice_id, s.label")
    } else {
        ("'' AS practice_id", "s.label")
    };
    let (count, table, time) = if from_rollup {
        (
            "CAST(SUM(t.cases) AS BIGINT)",
            "report_topic_days",
            "t.day_ms",
        )
    } else {
        ("COUNT(*)", "case_topics", "t.tagged_at_ms")
    };
    let mut sql = format!(
        "SELECT {practice}, s.label AS topic, {count} AS cases FROM {table} t \
         JOIN specialty_topics s ON s.specialty = t.specialty AND s.slug = t.topic \
         WHERE {time} >= $1 AND {time} < $2",
    );
    let mut texts = Vec::new();
    if let Some(s) = filter.specialty {
        texts.push(s);
        sql.push_str(&format!(" AND t.specialty = ${}", texts.len() + 2));
    }
    practice_clause(filter, "t.practice_id", None, &mut sql, &mut texts);
    sql.push_str(&format!(" GROUP BY {group}"));
    ReportSql { sql, texts }
}

pub async fn topic_counts(
    db: &Db,
    filter: &Filter<'_>,
    per_practice: bool,
) -> DbResult<Vec<TopicCount>> {
    let q = topic_counts_sql(filter, per_practice);
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

/// Records a reply's topics (slugs already checked against the list) against the case, once per
/// case and topic. Only active topics of the case's own specialty are written, whatever the
/// caller passes: the database, not only the form, keeps free text out of the reports.
pub async fn insert_topics(
    tx: &mut Tx<'_>,
    case_id: &str,
    topics: &[String],
    now_ms: i64,
) -> DbResult<()> {
    for topic in topics {
        let tagged = sqlx::query(
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
        .await?
        .rows_affected();
        if tagged == 1 {
            sqlx::query(
                "INSERT INTO report_topic_days (day_ms, specialty, topic, cases) \
                 SELECT $1, c.specialty, $2, 1 FROM cases c WHERE c.id = $3 \
                 ON CONFLICT (day_ms, specialty, topic) \
                 DO UPDATE SET cases = report_topic_days.cases + 1",
            )
            .bind(day_start(now_ms))
            .bind(topic)
            .bind(case_id)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_lists_parse_and_ignore_the_leading_comma() {
        assert_eq!(parse_list(""), Vec::<i64>::new());
        assert_eq!(parse_list(",5,10,3600000"), vec![5, 10, 3_600_000]);
    }
}
