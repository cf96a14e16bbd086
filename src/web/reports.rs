//! Commissioners' reports: the dashboard page (figures, weekly trend charts drawn here as SVG,
//! breakdowns, topics), its CSV downloads, and `GET /api/v1/reports/turnaround` (JSON or CSV).
//! Commissioners and admins only; every view is audited (`reports.viewed`). Nothing here shows
//! an NHS number or any free text from a case.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use tower_sessions::Session;

use super::api_types::ErrorBody;
use super::auth::CurrentUser;
use super::charts;
use super::error::{AppError, AppResult};
use super::templates::{render, Layout};
use super::uk_time::fmt_age;
use crate::domain::access::Principal;
use crate::domain::Outcome;
use crate::service::reports::{
    self, figures_csv, topics_csv, Figures, Format, GroupFigures, Period, Report, ReportRequest,
};
use crate::service::AppState;
use crate::service::{FieldError, ServiceError};

#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
    specialty: Option<String>,
    /// Practice ODS code.
    practice: Option<String>,
    /// ICB ODS code.
    icb: Option<String>,
    /// CSV download: `figures` (default) or `topics`.
    table: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn forbid_unless_allowed(user: &Principal) -> AppResult<()> {
    if user.may_see_reports() {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "Only commissioners and admins can see reports.",
        ))
    }
}

/// The request from the query; the last 13 weeks when the page is opened without a period.
fn request(
    q: &ReportQuery,
    now_ms: i64,
    default_period: bool,
) -> Result<ReportRequest, ServiceError> {
    let from = non_empty(&q.from);
    let to = non_empty(&q.to);
    let period = if default_period && from.is_none() && to.is_none() {
        Period::recent(now_ms)
    } else {
        Period::parse(from.as_deref(), to.as_deref())?
    };
    Ok(ReportRequest {
        period,
        specialty: non_empty(&q.specialty),
        practice: non_empty(&q.practice),
        icb: non_empty(&q.icb),
    })
}

fn csv_name(report: &Report, table: &str) -> String {
    let mut name = format!("aghub-{table}-{}-to-{}", report.from, report.to);
    for part in [&report.icb, &report.specialty, &report.practice]
        .into_iter()
        .flatten()
    {
        name.push('-');
        name.extend(
            part.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-'),
        );
    }
    name + ".csv"
}

#[derive(Debug, Deserialize)]
pub struct ApiQuery {
    from: Option<String>,
    to: Option<String>,
    specialty: Option<String>,
    practice: Option<String>,
    icb: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/reports/turnaround",
    params(
        ("from" = String, Query, description = "First day, YYYY-MM-DD (UTC)"),
        ("to" = String, Query, description = "Last day, YYYY-MM-DD, included; at most 731 days after from"),
        ("specialty" = Option<String>, Query, description = "Only this specialty (slug)"),
        ("practice" = Option<String>, Query, description = "Only this practice (ODS code)"),
        ("icb" = Option<String>, Query, description = "Only this ICB's practices (ODS code); a commissioner of one ICB always sees only their own"),
    ),
    responses(
        (status = 200, description = "Figures for the cases submitted in the period, as they stand now. With `Accept: text/csv`: the same figures as CSV, one row for the period, then one per week, specialty and practice (durations in hours, shares in percent)", body = Report),
        (status = 403, description = "Not a commissioner or admin", body = ErrorBody),
        (status = 404, description = "A commissioner of one ICB asked for another ICB or one of its practices", body = ErrorBody),
        (status = 422, description = "invalid_period, invalid_specialty, invalid_practice or invalid_icb", body = ErrorBody),
    )
)]
/// Turnaround, outcomes, deflection, answer rate, national pool and re-presentation, by week,
/// specialty and practice, and the topics consultants tagged (commissioners, admins).
pub async fn api_turnaround(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    headers: HeaderMap,
    Query(q): Query<ApiQuery>,
) -> AppResult<Response> {
    forbid_unless_allowed(&user)?;
    let csv = super::wants_csv(&headers);
    let query = ReportQuery {
        from: q.from,
        to: q.to,
        specialty: q.specialty,
        practice: q.practice,
        icb: q.icb,
        table: None,
    };
    let req = request(&query, state.now_ms(), false)?;
    let format = if csv { Format::Csv } else { Format::Json };
    let report = reports::turnaround(&state, &user, &req, format).await?;
    if csv {
        let name = csv_name(&report, "turnaround");
        Ok(super::csv_download(figures_csv(&report), &name))
    } else {
        Ok(Json(report).into_response())
    }
}

/// `/reports.csv`: the page's figures (`table=figures`, the default), its topics
/// (`table=topics`) or its live calls (`table=calls`).
pub async fn csv(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<ReportQuery>,
) -> AppResult<Response> {
    forbid_unless_allowed(&user)?;
    let (table, name): (fn(&Report) -> String, &str) = match q.table.as_deref().unwrap_or("figures")
    {
        "figures" | "" => (figures_csv, "turnaround"),
        "topics" => (topics_csv, "topics"),
        "calls" => (reports::calls_csv, "calls"),
        other => {
            return Err(AppError::invalid(
                "invalid_table",
                format!("table must be figures, topics or calls, not '{other}'."),
            ))
        }
    };
    let req = request(&q, state.now_ms(), true)?;
    let report = reports::turnaround(&state, &user, &req, Format::Csv).await?;
    Ok(super::csv_download(
        table(&report),
        &csv_name(&report, name),
    ))
}

// ---------------------------------------------------------------------------------------------
// The page

fn duration(ms: Option<i64>) -> String {
    ms.map(fmt_age).unwrap_or_else(|| "–".into())
}

fn percent(share: Option<f64>) -> String {
    share
        .map(|s| format!("{:.1}%", s * 100.0))
        .unwrap_or_else(|| "–".into())
}

struct TurnaroundRow {
    label: &'static str,
    cases: i64,
    median: String,
    p90: String,
    within: i64,
    within_pct: String,
}

struct Headline {
    submitted: i64,
    answered: i64,
    closed: i64,
    awaiting_gp_now: i64,
    /// "1 case had one", "3 cases had one".
    information_requested_text: String,
    turnaround: Vec<TurnaroundRow>,
    waits: i64,
    wait_median: String,
    wait_p90: String,
    overdue_not_answered: i64,
    answered_in_target: i64,
    within_pct: String,
    deflection: String,
    outcomes: Vec<(&'static str, i64, String)>,
    converted: i64,
    gp_referrals_made_late: i64,
    gp_referrals_overdue_now: i64,
    national: i64,
    national_pct: String,
    mipc: i64,
    re_presented: i64,
    re_presented_pct: String,
}

fn headline(f: &Figures, gp_referrals_overdue_now: i64) -> Headline {
    let w = f.awaiting_gp.as_ref();
    let o = &f.outcomes;
    let of_closed = |n: i64| percent((f.closed > 0).then(|| n as f64 / f.closed as f64));
    Headline {
        submitted: f.submitted,
        answered: f.answered,
        closed: f.closed,
        awaiting_gp_now: f.awaiting_gp_now,
        information_requested_text: match f.information_requested {
            1 => "1 case had one".to_string(),
            n => format!("{n} cases had one"),
        },
        turnaround: vec![
            TurnaroundRow {
                label: "Submission to first reply (advice or request for information)",
                cases: f.first_reply.cases,
                median: duration(f.first_reply.median_ms),
                p90: duration(f.first_reply.p90_ms),
                within: f.first_reply.within_target,
                within_pct: percent(f.first_reply.within_target_share),
            },
            TurnaroundRow {
                label: "Submission to close, without time awaiting the GP",
                cases: f.to_close.cases,
                median: duration(f.to_close.median_ms),
                p90: duration(f.to_close.p90_ms),
                within: f.to_close.within_target,
                within_pct: percent(f.to_close.within_target_share),
            },
        ],
        waits: w.map_or(0, |w| w.cases),
        wait_median: duration(w.and_then(|w| w.median_ms)),
        wait_p90: duration(w.and_then(|w| w.p90_ms)),
        overdue_not_answered: f.overdue_not_answered,
        answered_in_target: f.first_reply.within_target,
        within_pct: percent(f.first_reply.within_target_share),
        deflection: percent(f.deflection_rate),
        outcomes: [
            (Outcome::ManageInPrimaryCare, o.manage_in_primary_care),
            (Outcome::ReferRoutine, o.refer_routine),
            (Outcome::ReferUrgent, o.refer_urgent),
            (Outcome::ReferTwoWeekWait, o.refer_two_week_wait),
            (Outcome::RedirectSpecialty, o.redirect_specialty),
        ]
        .into_iter()
        .map(|(outcome, n)| (outcome.label(), n, of_closed(n)))
        .collect(),
        converted: f.converted,
        gp_referrals_made_late: f.gp_referrals_made_late,
        gp_referrals_overdue_now,
        national: f.national_pool,
        national_pct: percent(f.national_pool_share),
        mipc: o.manage_in_primary_care,
        re_presented: f.re_presented,
        re_presented_pct: percent(f.re_presentation_rate),
    }
}

struct GroupRow {
    key: String,
    name: String,
    submitted: i64,
    answered: i64,
    closed: i64,
    first_median: String,
    first_p90: String,
    within_pct: String,
    close_median: String,
    close_p90: String,
    overdue_not_answered: i64,
    deflection: String,
    national: i64,
    re_presented: i64,
    /// Practices and ICBs: cases per 1,000 registered patients.
    per_1000: String,
}

fn per_1000(rate: Option<f64>) -> String {
    rate.map(|r| format!("{r:.2}"))
        .unwrap_or_else(|| "–".into())
}

fn group_row(key: &str, name: &str, f: &Figures) -> GroupRow {
    GroupRow {
        key: key.to_string(),
        name: name.to_string(),
        submitted: f.submitted,
        answered: f.answered,
        closed: f.closed,
        first_median: duration(f.first_reply.median_ms),
        first_p90: duration(f.first_reply.p90_ms),
        within_pct: percent(f.first_reply.within_target_share),
        close_median: duration(f.to_close.median_ms),
        close_p90: duration(f.to_close.p90_ms),
        overdue_not_answered: f.overdue_not_answered,
        deflection: percent(f.deflection_rate),
        national: f.national_pool,
        re_presented: f.re_presented,
        per_1000: "–".into(),
    }
}

fn place_row(g: &GroupFigures) -> GroupRow {
    GroupRow {
        per_1000: per_1000(g.requests_per_1000_patients),
        ..group_row(&g.key, &g.name, &g.figures)
    }
}

struct Chart {
    id: &'static str,
    heading: &'static str,
    svg: String,
}

/// A row of the live calls table.
struct CallRow {
    name: String,
    offered: i64,
    answered: String,
    local_national: String,
    to_written_case: i64,
    time_to_answer: String,
    duration: String,
    managed: i64,
    captured: String,
}

fn call_row(name: String, f: &reports::CallFigures) -> CallRow {
    let secs =
        |ms: Option<i64>| ms.map_or_else(|| "–".to_string(), |v| format!("{} s", (v + 500) / 1000));
    CallRow {
        name,
        offered: f.offered,
        answered: format!("{} ({})", f.answered, percent(f.answered_share)),
        local_national: format!("{} / {}", f.answered_local, f.answered_national),
        to_written_case: f.became_written_cases,
        time_to_answer: format!(
            "{}, {}",
            secs(f.time_to_answer.median_ms),
            secs(f.time_to_answer.p90_ms)
        ),
        duration: duration(f.duration.median_ms),
        managed: f.outcomes.manage_in_primary_care,
        captured: percent(f.outcome_capture_share),
    }
}

struct ReportView {
    calls: Vec<CallRow>,
    headline: Headline,
    charts: Vec<Chart>,
    weeks: Vec<GroupRow>,
    specialties: Vec<GroupRow>,
    icbs: Vec<GroupRow>,
    practices: Vec<GroupRow>,
    /// Every ICB's practices: broken down by ICB, an ICB chosen shows its practices.
    practices_by_icb: bool,
    /// Cases per 1,000 registered patients, and over how many patients.
    per_1000: Option<(String, i64)>,
    topics: Vec<(String, i64)>,
    topics_by_practice: Vec<(String, String, String)>,
    generated: String,
}

fn week_label(iso: &str) -> String {
    time::Date::parse(iso, crate::clock::ISO_DATE)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[day padding:none] [month repr:short] [year]"
            ))
            .ok()
        })
        .unwrap_or_else(|| iso.to_string())
}

fn call_rows(c: &reports::CallReport) -> Vec<CallRow> {
    if c.totals.offered == 0 {
        return Vec::new();
    }
    let mut rows = vec![call_row("All calls".into(), &c.totals)];
    rows.extend(
        c.weeks
            .iter()
            .map(|w| call_row(format!("Week from {}", week_label(&w.key)), &w.figures)),
    );
    rows.extend(
        c.specialties
            .iter()
            .map(|g| call_row(g.name.clone(), &g.figures)),
    );
    rows.extend(
        c.practices
            .iter()
            .map(|g| call_row(format!("{} ({})", g.name, g.key), &g.figures)),
    );
    rows
}

fn view(r: &Report) -> ReportView {
    let labels: Vec<String> = r
        .weeks
        .iter()
        .map(|w| {
            week_label(&w.week_start)
                .rsplit_once(' ')
                .map_or(String::new(), |(dm, _)| dm.to_string())
        })
        .collect();
    let series = |f: &dyn Fn(&Figures) -> Option<f64>| -> Vec<Option<f64>> {
        r.weeks.iter().map(|w| f(&w.figures)).collect()
    };
    let charts = vec![
        Chart {
            id: "chart-volume",
            heading: "Cases submitted per week",
            svg: charts::bars(
                "chart-volume",
                "Cases submitted per week",
                &labels,
                &r.weeks
                    .iter()
                    .map(|w| w.figures.submitted)
                    .collect::<Vec<_>>(),
            ),
        },
        Chart {
            id: "chart-first-reply",
            heading: "Median time to first reply, hours",
            svg: charts::line(
                "chart-first-reply",
                "Median time to first reply per week, in hours",
                &labels,
                &series(&|f| f.first_reply.median_ms.map(|v| v as f64 / 3_600_000.0)),
                None,
                " h",
            ),
        },
        Chart {
            id: "chart-target",
            heading: "Answered within target, % of answered",
            svg: charts::line(
                "chart-target",
                "Share of answered cases answered within target per week, percent",
                &labels,
                &series(&|f| f.first_reply.within_target_share.map(|v| v * 100.0)),
                Some(100.0),
                "%",
            ),
        },
        Chart {
            id: "chart-deflection",
            heading: "Deflection: managed in primary care, % of closed",
            svg: charts::line(
                "chart-deflection",
                "Share of closed cases managed in primary care per week, percent",
                &labels,
                &series(&|f| f.deflection_rate.map(|v| v * 100.0)),
                Some(100.0),
                "%",
            ),
        },
    ];
    ReportView {
        calls: call_rows(&r.calls),
        headline: headline(&r.totals, r.gp_referrals_overdue_now),
        charts,
        weeks: r
            .weeks
            .iter()
            .map(|w| group_row(&w.week_start, &week_label(&w.week_start), &w.figures))
            .collect(),
        specialties: r
            .specialties
            .iter()
            .map(|s| group_row(&s.key, &s.name, &s.figures))
            .collect(),
        icbs: r.icbs.iter().map(place_row).collect(),
        practices: r.practices.iter().map(place_row).collect(),
        practices_by_icb: r.practice.is_none() && r.icb.is_none() && !r.icbs.is_empty(),
        per_1000: r
            .registered_patients
            .map(|n| (per_1000(r.requests_per_1000_patients), n)),
        topics: r
            .topics
            .iter()
            .map(|t| (t.topic.clone(), t.cases))
            .collect(),
        topics_by_practice: r
            .topics_by_practice
            .iter()
            .map(|p| {
                (
                    p.ods_code.clone(),
                    p.name.clone(),
                    p.topics
                        .iter()
                        .map(|t| format!("{} ({})", t.topic, t.cases))
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            })
            .collect(),
        generated: super::uk_time::format(
            crate::clock::parse_rfc3339(&r.generated_at).unwrap_or(0),
        ),
    }
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    layout: Layout,
    from: String,
    to: String,
    specialties: Vec<(String, String, bool)>,
    practices: Vec<(String, String, bool)>,
    /// The national view's ICB filter (empty for a commissioner of one ICB).
    icbs: Vec<(String, String, bool)>,
    errors: Vec<FieldError>,
    scope: String,
    query: String,
    report: Option<ReportView>,
}

fn query_string(r: &Report) -> String {
    let mut pairs = vec![("from", r.from.clone()), ("to", r.to.clone())];
    if let Some(s) = &r.specialty {
        pairs.push(("specialty", s.clone()));
    }
    if let Some(p) = &r.practice {
        pairs.push(("practice", p.clone()));
    }
    if let Some(i) = &r.icb {
        pairs.push(("icb", i.clone()));
    }
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// `/reports`: the dashboard.
pub async fn page(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Query(q): Query<ReportQuery>,
) -> AppResult<Response> {
    forbid_unless_allowed(&user)?;
    let outcome = match request(&q, state.now_ms(), true) {
        Ok(req) => reports::turnaround(&state, &user, &req, Format::Page).await,
        Err(e) => Err(e),
    };
    let (report, errors) = match outcome {
        Ok(r) => (Some(r), Vec::new()),
        Err(ServiceError::Invalid(errors)) => (None, errors),
        Err(e) => return Err(e.into()),
    };
    let specialty = report
        .as_ref()
        .and_then(|r| r.specialty.clone())
        .or_else(|| non_empty(&q.specialty))
        .unwrap_or_default();
    let practice = report
        .as_ref()
        .and_then(|r| r.practice.clone())
        .or_else(|| non_empty(&q.practice).map(|p| p.to_ascii_uppercase()))
        .unwrap_or_default();
    let icb = report
        .as_ref()
        .and_then(|r| r.icb.clone())
        .or_else(|| non_empty(&q.icb).map(|i| i.to_ascii_uppercase()))
        .unwrap_or_default();
    let specialty_list = crate::service::cases::specialties(&state).await?;
    let (practice_list, icb_list) = reports::filter_choices(&state, &user).await?;
    let scope = match &report {
        Some(r) => {
            let mut parts = vec![format!(
                "Cases submitted from {} to {}",
                week_label(&r.from),
                week_label(&r.to)
            )];
            if let Some(s) = specialty_list.iter().find(|s| s.slug == specialty) {
                parts.push(format!("in {}", s.name));
            }
            if let Some(p) = practice_list.iter().find(|p| p.ods_code == practice) {
                parts.push(format!("from {} ({})", p.name, p.ods_code));
            } else if let Some(name) = &r.icb_name {
                parts.push(format!("from the practices of {name}"));
            }
            parts.join(" ")
        }
        None => String::new(),
    };
    let page = ReportsPage {
        layout: Layout::signed_in(&state, &session, &user).await?,
        from: report
            .as_ref()
            .map(|r| r.from.clone())
            .or_else(|| q.from.clone())
            .unwrap_or_default(),
        to: report
            .as_ref()
            .map(|r| r.to.clone())
            .or_else(|| q.to.clone())
            .unwrap_or_default(),
        specialties: specialty_list
            .iter()
            .map(|s| (s.slug.clone(), s.name.clone(), s.slug == specialty))
            .collect(),
        practices: practice_list
            .iter()
            .map(|p| {
                (
                    p.ods_code.clone(),
                    format!("{} ({})", p.name, p.ods_code),
                    p.ods_code == practice,
                )
            })
            .collect(),
        icbs: icb_list
            .iter()
            .map(|o| (o.ods_code.clone(), o.name.clone(), o.ods_code == icb))
            .collect(),
        scope,
        query: report.as_ref().map(query_string).unwrap_or_default(),
        report: report.as_ref().map(view),
        errors,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, render(&page)?).into_response())
}
