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
//!   case was submitted. "Within target" always counts answered cases; the cases with no reply
//!   that are past their target now are counted apart, as "overdue, not answered".
//! * Deflection: closed as manage in primary care / closed.
//! * National pool: cases a consultant on the national pool rota replied to (at reply time).
//! * Re-presentation: cases closed as manage in primary care after which a case for the same NHS
//!   number and specialty was submitted within 90 days of the close.
//!
//! No NHS number or free text reaches a report: topics are the labels of each specialty's
//! controlled list (`specialty_topics`), never text a consultant typed.

mod calls;
mod csv;
mod figures;
mod period;
mod stats;

use std::collections::BTreeMap;

use serde_json::json;

use super::{ServiceError, ServiceResult};
use crate::db::reports::{self as rdb, FactCells, Filter, Rollup};
use crate::db::{self, audit};
use crate::domain::access::{Principal, ReportScope};
use crate::domain::reports::{Counts, DayCell};
use crate::service::AppState;

pub use calls::{CallFigures, CallGroup, CallReport};
pub use csv::{calls_csv, figures_csv, topics_csv, CALL_COLUMNS, CSV_COLUMNS};
pub(crate) use csv::{csv_field, BOM};
pub use figures::{
    compute, percentile, Figures, GroupFigures, OutcomeCounts, PracticeInfo, PracticeTopics,
    Report, ReportData, Spread, TopicCount, Turnaround, WeekFigures,
};
use period::field;
pub use period::{fmt_date, Period, MAX_PERIOD_DAYS};

/// What a commissioner asked for.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    pub period: Period,
    /// Specialty slug.
    pub specialty: Option<String>,
    /// Practice ODS code.
    pub practice: Option<String>,
    /// ICB ODS code (a commissioner of one ICB sees only their own).
    pub icb: Option<String>,
}

/// Reads a report's data, the reads side by side: over every practice and specialty, day cells
/// from the rollups; narrowed to a specialty, an ICB or a practice, cells summed in the database
/// from the cases' facts (by specialty and week, and by practice or, nationally, by ICB).
///
/// A report over every practice of an installation with ICBs (the national view) is broken
/// down by ICB, not by practice: a country has 6,300 practices, and a million practice-day
/// cells a year are too many to read for each view. Choosing an ICB shows its practices.
pub async fn read(db: &db::Db, filter: &Filter<'_>, now_ms: i64) -> ServiceResult<ReportData> {
    let organisations = db::organisations::list(db).await?;
    let by_icb = !filter.by_practice() && organisations.iter().any(|o| o.kind == "icb");
    let (days, topics, all_practices, referrals_overdue_now, calls) = tokio::try_join!(
        read_days(db, filter, by_icb, now_ms),
        rdb::topic_counts(db, filter, !by_icb),
        db::practices::list(db),
        rdb::referrals_overdue(db, filter, now_ms),
        db::calls::facts(db, filter),
    )?;
    let practice_names: BTreeMap<String, PracticeInfo> = all_practices
        .into_iter()
        .map(|p| {
            let info = PracticeInfo {
                ods_code: p.ods_code,
                name: p.name,
                icb_id: p.icb_id,
                list_size: p.list_size,
            };
            (p.id, info)
        })
        .collect();
    // Each practice's counts: its cells summed (the rollup's days, or the period's one cell).
    let mut counts: BTreeMap<&str, Counts> = BTreeMap::new();
    for c in &days.practice_days {
        counts.entry(c.key.as_str()).or_default().add(&c.counts);
    }
    let mut practices: Vec<rdb::PracticeCounts> = counts
        .into_iter()
        .filter_map(|(id, counts)| {
            let info = practice_names.get(id)?;
            Some(rdb::PracticeCounts {
                practice_id: id.to_string(),
                ods_code: info.ods_code.clone(),
                name: info.name.clone(),
                counts,
            })
        })
        .collect();
    practices.sort_by(|a, b| a.ods_code.cmp(&b.ods_code));
    Ok(ReportData {
        cells: days.cells,
        practices,
        practice_days: days.practice_days,
        icb_days: by_icb.then_some(days.icb_days),
        topics,
        practice_names,
        icb_names: organisations
            .into_iter()
            .filter(|o| o.kind == "icb")
            .map(|o| (o.id, (o.ods_code, o.name)))
            .collect(),
        referrals_overdue_now,
        overdue_unanswered: days.overdue,
        calls,
    })
}

/// What a report's figures are summed from.
struct Days {
    /// By specialty, by day or week.
    cells: Vec<DayCell>,
    /// By practice, by day or over the whole period (empty when by ICB).
    practice_days: Vec<DayCell>,
    /// By ICB, by day or over the whole period (empty unless by ICB).
    icb_days: Vec<DayCell>,
    overdue: Vec<rdb::Overdue>,
}

async fn read_days(
    db: &db::Db,
    filter: &Filter<'_>,
    by_icb: bool,
    now_ms: i64,
) -> db::DbResult<Days> {
    let narrowed = filter.by_practice() || filter.specialty.is_some();
    let cells = async {
        if narrowed {
            rdb::fact_cells(db, filter, FactCells::SpecialtyWeeks).await
        } else {
            rdb::rollup_days(db, Rollup::Specialty, filter).await
        }
    };
    let keyed = async {
        match (narrowed, by_icb) {
            (true, true) => rdb::fact_cells(db, filter, FactCells::Icbs).await,
            (true, false) => rdb::fact_cells(db, filter, FactCells::Practices).await,
            (false, true) => rdb::rollup_days(db, Rollup::Icb, filter).await,
            (false, false) => rdb::rollup_days(db, Rollup::Practice, filter).await,
        }
    };
    let (cells, keyed, overdue) =
        tokio::try_join!(cells, keyed, rdb::overdue_unanswered(db, filter, now_ms),)?;
    let (practice_days, icb_days) = if by_icb {
        (Vec::new(), keyed)
    } else {
        (keyed, Vec::new())
    };
    Ok(Days {
        cells,
        practice_days,
        icb_days,
        overdue,
    })
}

/// The practices and ICBs a person may filter the reports by: a commissioner of one ICB, that
/// ICB's practices and no ICB list; the national view, every practice and every ICB.
pub async fn filter_choices(
    state: &AppState,
    user: &Principal,
) -> ServiceResult<(
    Vec<db::practices::Practice>,
    Vec<db::organisations::Organisation>,
)> {
    let practices = db::practices::list(&state.db).await?;
    match user.report_scope() {
        Some(ReportScope::Icb(mine)) => Ok((
            practices
                .into_iter()
                .filter(|p| p.icb_id.as_deref() == Some(mine.as_str()))
                .collect(),
            Vec::new(),
        )),
        Some(ReportScope::National) => {
            let icbs = db::organisations::list(&state.db)
                .await?
                .into_iter()
                .filter(|o| o.kind == "icb")
                .collect();
            Ok((practices, icbs))
        }
        None => Ok((Vec::new(), Vec::new())),
    }
}

fn not_yours(what: &str, code: &str) -> ServiceError {
    ServiceError::NotFound(format!(
        "There is no {what} '{code}' whose figures you can see."
    ))
}

/// The ICB a report covers: a commissioner's own (asking for another is 404, as if it did not
/// exist), or for the national view the one asked for, if any.
async fn scoped_icb(
    state: &AppState,
    scope: &ReportScope,
    asked: Option<&str>,
) -> ServiceResult<Option<db::organisations::Organisation>> {
    let asked = asked
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| !c.is_empty());
    let found = match &asked {
        Some(code) => db::organisations::find_by_ods(&state.db, code)
            .await?
            .filter(|o| o.kind == "icb"),
        None => None,
    };
    match (scope, asked, found) {
        (ReportScope::Icb(mine), None, _) => Ok(db::organisations::list(&state.db)
            .await?
            .into_iter()
            .find(|o| &o.id == mine)),
        (ReportScope::Icb(mine), Some(_), Some(o)) if &o.id == mine => Ok(Some(o)),
        (ReportScope::Icb(_), Some(code), _) => Err(not_yours("ICB", &code)),
        (ReportScope::National, Some(_), Some(o)) => Ok(Some(o)),
        (ReportScope::National, Some(code), None) => Err(ServiceError::Invalid(vec![field(
            "icb",
            "invalid_icb",
            format!("There is no ICB with ODS code '{code}'."),
        )])),
        (ReportScope::National, None, _) => Ok(None),
    }
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
    let Some(scope) = user.report_scope() else {
        return Err(ServiceError::Forbidden(
            "Only commissioners and admins can see reports.".into(),
        ));
    };
    let names = db::specialties::names(&state.db).await?;
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
    let icb = scoped_icb(state, &scope, req.icb.as_deref()).await?;
    let icb_id = icb.as_ref().map(|o| o.id.as_str());
    let practice = match &ods {
        Some(code) => match db::practices::find_by_ods(&state.db, code).await? {
            // Another ICB's practice is as unknown to a commissioner as one that does not exist.
            Some(p) if matches!(scope, ReportScope::Icb(_)) && p.icb_id.as_deref() != icb_id => {
                return Err(not_yours("practice", code))
            }
            Some(p) => Some(p),
            None if matches!(scope, ReportScope::Icb(_)) => {
                return Err(not_yours("practice", code))
            }
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
        icb_id,
    };
    let data = read(&state.db, &filter, state.now_ms()).await?;
    let now = state.now_ms();
    audit::record(
        state.db.pool(),
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: "reports.viewed",
            detail: Some(json!({
                "report": "turnaround",
                "from": req.period.first_day(),
                "to": req.period.last_day(),
                "specialty": specialty,
                "practice": ods,
                "icb": icb.as_ref().map(|o| &o.ods_code),
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
        icb.as_ref().map(|o| (o.ods_code.as_str(), o.name.as_str())),
        &names,
        &data,
        now,
    ))
}
