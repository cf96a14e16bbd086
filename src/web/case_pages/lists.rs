//! The GP's and admin's list of cases, and the consultant's queue.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Html;
use serde::Deserialize;
use tower_sessions::Session;

use super::{patient_age_and_sex, specialty_name, specialty_names, status_tag};
use crate::domain::access::Principal;
use crate::domain::queue::{describe_time_left, due_at_ms};
use crate::domain::{CaseStatus, NhsNumber, Outcome, Role, Urgency};
use crate::service::cases::{self, CaseRow, Specialty};
use crate::service::AppState;
use crate::web::auth::CurrentUser;
use crate::web::error::AppResult;
use crate::web::templates::{render, Layout};
use crate::web::uk_time;
use crate::web::uk_time::fmt_age;

struct ListRow {
    id: String,
    submitted: String,
    age: String,
    nhs_number: String,
    date_of_birth: String,
    specialty: String,
    urgent: bool,
    status: &'static str,
    status_label: &'static str,
    /// The NHS.UK tag colour of the status.
    colour: &'static str,
    outcome_label: &'static str,
    two_week_wait: bool,
    referral_overdue: bool,
}

#[derive(Template)]
#[template(path = "cases_list.html")]
struct ListPage {
    layout: Layout,
    calls: Vec<CallListRow>,
    heading: String,
    can_submit: bool,
    status: String,
    statuses: Vec<(&'static str, &'static str, bool)>,
    rows: Vec<ListRow>,
    /// For a GP: referrals the consultants advised that the practice still has to make, and how
    /// many of those are overdue.
    to_refer: usize,
    to_refer_overdue: usize,
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Query(q): Query<ListQuery>,
) -> AppResult<Html<String>> {
    let status = q.status.unwrap_or_default();
    let rows = cases::list(
        &state,
        &user,
        Some(status.as_str()).filter(|s| !s.is_empty()),
    )
    .await?;
    let names = specialty_names(&state).await?;
    let now = state.now_ms();
    let heading = match &user.practice_id {
        Some(id) if user.role == Role::Gp => match cases::practice(&state, id).await? {
            Some(p) => format!("Cases of {} ({})", p.name, p.ods_code),
            None => "Your practice's cases".to_string(),
        },
        _ => "All cases".to_string(),
    };
    let to_refer = rows
        .iter()
        .filter(|r| r.status == CaseStatus::GpToRefer)
        .count();
    let to_refer_overdue = rows.iter().filter(|r| r.referral_overdue_at(now)).count();
    let rows = rows
        .iter()
        .map(|r| {
            let status = r.status_at(now);
            let outcome = r.outcome;
            let (tag, tag_label) = status_tag(status, outcome, user.role);
            ListRow {
                id: r.id.clone(),
                submitted: uk_time::format(r.submitted_at_ms),
                age: fmt_age(now - r.submitted_at_ms),
                nhs_number: NhsNumber::format_stored(&r.nhs_number),
                date_of_birth: super::patient_age_and_sex(r, now),
                specialty: specialty_name(&names, &r.specialty),
                urgent: r.urgency == Urgency::Urgent,
                status: tag,
                status_label: tag_label,
                colour: super::tag_colour(tag),
                outcome_label: outcome.map_or("", |o| o.label()),
                two_week_wait: outcome == Some(Outcome::ReferTwoWeekWait),
                referral_overdue: r.referral_overdue_at(now),
            }
        })
        .collect();
    render(&ListPage {
        calls: call_rows(&state, &user, &names).await?,
        layout: Layout::signed_in(&state, &session, &user).await?,
        heading,
        can_submit: user.may_submit_cases(),
        to_refer: if user.role == Role::Gp { to_refer } else { 0 },
        to_refer_overdue,
        statuses: CaseStatus::ALL
            .iter()
            .map(|s| (s.as_str(), s.label(user.role), s.as_str() == status))
            .collect(),
        status,
        rows,
    })
}

struct QueueRow {
    id: String,
    specialty: String,
    urgent: bool,
    question: String,
    /// "42 years, Female": what tells two patients' cases apart at a glance.
    patient: String,
    age: String,
    time_left: String,
    overdue: bool,
    /// The GP has answered a request for information since the last reply.
    gp_replied: bool,
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    layout: Layout,
    calls: Vec<CallListRow>,
    rows: Vec<QueueRow>,
    held: Vec<QueueRow>,
    on_duty: bool,
}

fn queue_row(r: &CaseRow, names: &[Specialty], now: i64) -> QueueRow {
    let urgency = r.urgency;
    let due = due_at_ms(
        r.submitted_at_ms,
        urgency,
        r.routine_target_ms,
        r.urgent_target_ms,
    );
    let mut question: String = r.question.chars().take(120).collect();
    if r.question.chars().count() > 120 {
        question.push('…');
    }
    QueueRow {
        id: r.id.clone(),
        specialty: specialty_name(names, &r.specialty),
        urgent: urgency == Urgency::Urgent,
        question,
        patient: patient_age_and_sex(r, now),
        age: fmt_age(now - r.submitted_at_ms),
        time_left: describe_time_left(due, now),
        overdue: due < now,
        gp_replied: r.gp_responded_at_ms.is_some(),
    }
}

pub async fn queue(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
) -> AppResult<Html<String>> {
    let rows = cases::queue(&state, &user, None).await?;
    let held = cases::held(&state, &user).await?;
    let names = specialty_names(&state).await?;
    let now = state.now_ms();
    let on_duty = cases::on_any_shift(&state, &user).await?;
    render(&QueuePage {
        calls: call_rows(&state, &user, &names).await?,
        layout: Layout::signed_in(&state, &session, &user).await?,
        rows: rows.iter().map(|r| queue_row(r, &names, now)).collect(),
        held: held.iter().map(|r| queue_row(r, &names, now)).collect(),
        on_duty,
    })
}

/// A live call in a list: the GP's practice's calls, a consultant's answered ones.
pub struct CallListRow {
    id: String,
    started: String,
    specialty: String,
    nhs_number: String,
    reason: String,
    status: &'static str,
    outcome: &'static str,
}

async fn call_rows(
    state: &AppState,
    user: &Principal,
    names: &[Specialty],
) -> AppResult<Vec<CallListRow>> {
    use crate::domain::calls::CallStatus;
    Ok(crate::service::calls::recent(state, user)
        .await?
        .iter()
        .map(|c| CallListRow {
            id: c.id.clone(),
            started: uk_time::format(c.times.started_at_ms),
            specialty: specialty_name(names, &c.specialty),
            nhs_number: NhsNumber::format_stored(&c.nhs_number),
            reason: c.reason.clone(),
            status: match c.status {
                CallStatus::Ringing => "Ringing",
                CallStatus::Answered => "In progress",
                CallStatus::Ended => "Ended",
                CallStatus::Missed => "Became a written case",
            },
            outcome: c
                .consultant_outcome
                .as_ref()
                .or(c.gp_outcome.as_ref())
                .map_or("", |o| o.outcome.label()),
        })
        .collect())
}
