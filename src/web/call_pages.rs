//! The live-call pages: the GP's "Call a specialist" form, the call page both parties use (its
//! audio runs in `static/calls.js`), and the forms that answer, decline, end and record outcomes
//! without JavaScript. The sockets are in `web::calls`.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::auth::CurrentUser;
use super::case_form::date_from_boxes;
use super::csrf::CsrfForm;
use super::error::{AppError, AppResult};
use super::templates::{render, Layout};
use super::uk_time;
use crate::domain::access::Principal;
use crate::domain::calls::{CallStatus, Party};
use crate::domain::{NhsNumber, Outcome, Role};
use crate::service::calls::{self, CallView};
use crate::service::{cases, AppState, FieldError, ServiceError};

pub struct SpecialtyDuty {
    slug: String,
    name: String,
    on_duty: String,
}

#[derive(Default, Deserialize)]
pub struct CallForm {
    #[serde(default)]
    specialty: String,
    #[serde(default)]
    nhs_number: String,
    #[serde(default)]
    date_of_birth_day: String,
    #[serde(default)]
    date_of_birth_month: String,
    #[serde(default)]
    date_of_birth_year: String,
    #[serde(default)]
    reason: String,
}

/// The form as typed, to show again.
#[derive(Default)]
pub struct FormValues {
    specialty: String,
    nhs_number: String,
    dob_day: String,
    dob_month: String,
    dob_year: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "call_new.html")]
struct NewCallPage {
    layout: Layout,
    errors: Vec<FieldError>,
    specialties: Vec<SpecialtyDuty>,
    form: FormValues,
}

fn require_gp(user: &Principal) -> AppResult<()> {
    if user.may_submit_cases() {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "Only GPs of a practice can call a specialty.",
        ))
    }
}

async fn new_page(
    state: &AppState,
    session: &Session,
    user: &Principal,
    form: FormValues,
    errors: Vec<FieldError>,
) -> AppResult<Html<String>> {
    let specialties = calls::who_is_on_duty(state, user)
        .await?
        .into_iter()
        .map(|(s, local, national)| SpecialtyDuty {
            on_duty: match (local, national) {
                (0, 0) => "nobody on duty now".to_string(),
                (l, 0) => format!("{l} local consultant{} on duty", plural(l)),
                (0, n) => format!("national pool only ({n} on duty)"),
                (l, n) => format!("{l} local, {n} national on duty"),
            },
            slug: s.slug,
            name: s.name,
        })
        .collect();
    render(&NewCallPage {
        layout: Layout::signed_in(state, session, user).await?,
        errors,
        specialties,
        form,
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `GET /calls/new`
pub async fn new_form(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
) -> AppResult<Html<String>> {
    require_gp(&user)?;
    new_page(&state, &session, &user, FormValues::default(), Vec::new()).await
}

/// `POST /calls`: the GP presses "Call".
pub async fn start(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    CsrfForm(form): CsrfForm<CallForm>,
) -> AppResult<Response> {
    require_gp(&user)?;
    let input = calls::CallInput {
        specialty: form.specialty.clone(),
        nhs_number: form.nhs_number.clone(),
        date_of_birth: date_from_boxes(
            &form.date_of_birth_day,
            &form.date_of_birth_month,
            &form.date_of_birth_year,
        ),
        reason: form.reason.clone(),
    };
    let errors = match calls::start(&state, &user, &input).await {
        Ok(call) => return Ok(Redirect::to(&format!("/calls/{}", call.row.id)).into_response()),
        Err(ServiceError::Invalid(errors)) => errors,
        Err(ServiceError::Conflict { code, message }) if code == "nobody_on_duty" => {
            vec![FieldError {
                field: "specialty",
                code,
                message,
            }]
        }
        Err(e) => return Err(e.into()),
    };
    let again = FormValues {
        specialty: form.specialty,
        nhs_number: form.nhs_number,
        dob_day: form.date_of_birth_day,
        dob_month: form.date_of_birth_month,
        dob_year: form.date_of_birth_year,
        reason: form.reason,
    };
    let page = new_page(&state, &session, &user, again, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

/// What the call page shows.
pub struct CallPageView {
    id: String,
    /// "gp", "consultant", or "" for someone who only looks (an admin).
    party: &'static str,
    status: &'static str,
    status_text: String,
    /// Ringing or answered: the page opens its socket.
    live: bool,
    case_id: Option<String>,
    specialty_name: String,
    nhs_number: String,
    date_of_birth: String,
    reason: String,
    started: String,
    answered_by: Option<String>,
    outcomes: Vec<(&'static str, &'static str, String)>,
    can_end: bool,
    needs_outcome: bool,
    has_recording: bool,
}

#[derive(Template)]
#[template(path = "call_page.html")]
struct CallPage {
    layout: Layout,
    errors: Vec<FieldError>,
    c: CallPageView,
    outcomes: Vec<(&'static str, &'static str)>,
    ice_servers: String,
}

fn status_text(call: &CallView, party: Option<Party>) -> String {
    let r = &call.row;
    match r.status {
        CallStatus::Ringing => "Ringing the consultants on duty…".into(),
        CallStatus::Answered => match (party, &r.answered_by_name) {
            (Some(Party::Consultant), _) => "You answered: connecting the audio…".into(),
            (_, Some(name)) => format!("Answered by {name}: connecting the audio…"),
            _ => "Answered.".into(),
        },
        CallStatus::Ended => "The call has ended.".into(),
        CallStatus::Missed => {
            "Nobody answered in time: the question is now a written case in the specialty's queue."
                .into()
        }
    }
}

async fn call_page(
    state: &AppState,
    session: &Session,
    user: &Principal,
    call: CallView,
    errors: Vec<FieldError>,
) -> AppResult<Html<String>> {
    let party = calls::party(&call.row, user);
    let r = &call.row;
    let specialty_name = cases::specialties(state)
        .await?
        .into_iter()
        .find(|s| s.slug == r.specialty)
        .map_or_else(|| r.specialty.clone(), |s| s.name);
    let mut outcomes = Vec::new();
    for (p, label) in [(Party::Gp, "GP"), (Party::Consultant, "consultant")] {
        if let Some(o) = r.outcome_of(p) {
            outcomes.push((label, o.outcome.label(), o.note.clone()));
        }
    }
    let may_play = user.role == Role::Admin
        || user.practice() == Some(r.practice_id.as_str())
        || party == Some(Party::Consultant);
    let c = CallPageView {
        id: r.id.clone(),
        party: party.map_or("", Party::as_str),
        status: r.status.as_str(),
        status_text: status_text(&call, party),
        live: matches!(r.status, CallStatus::Ringing | CallStatus::Answered),
        case_id: r.case_id.clone(),
        specialty_name,
        nhs_number: NhsNumber::parse(&r.nhs_number)
            .map(|n| n.formatted())
            .unwrap_or_else(|_| r.nhs_number.clone()),
        date_of_birth: uk_time::long_date(&r.date_of_birth),
        reason: r.reason.clone(),
        started: uk_time::format(r.times.started_at_ms),
        answered_by: r.answered_by_name.clone(),
        outcomes,
        can_end: party.is_some() && matches!(r.status, CallStatus::Ringing | CallStatus::Answered),
        needs_outcome: party.is_some_and(|p| {
            matches!(r.status, CallStatus::Answered | CallStatus::Ended)
                && r.outcome_of(p).is_none()
        }),
        has_recording: call.recording_ms.is_some() && may_play,
    };
    let mut layout = Layout::signed_in(state, session, user).await?;
    // This page has the outcome form itself: the reminder is for the other calls.
    layout.calls_without_outcome.retain(|id| *id != r.id);
    render(&CallPage {
        layout,
        errors,
        c,
        outcomes: Outcome::ALL
            .iter()
            .map(|o| (o.as_str(), o.label()))
            .collect(),
        ice_servers: state.settings.ice_servers.clone(),
    })
}

/// `GET /calls/{id}`
pub async fn show(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Html<String>> {
    let call = calls::view(&state, &user, &id).await?;
    call_page(&state, &session, &user, call, Vec::new()).await
}

#[derive(Deserialize)]
pub struct NoFields {}

/// `POST /calls/{id}/answer` (the ringing banner's button).
pub async fn answer(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> AppResult<Redirect> {
    let call = calls::answer(&state, &user, &id).await?;
    Ok(Redirect::to(&format!("/calls/{}", call.row.id)))
}

/// `POST /calls/{id}/decline`
pub async fn decline(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> AppResult<Redirect> {
    calls::decline(&state, &user, &id).await?;
    Ok(Redirect::to("/queue"))
}

/// `POST /calls/{id}/end`
pub async fn end(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> AppResult<Redirect> {
    let call = calls::end(&state, &user, &id).await?;
    Ok(Redirect::to(&format!("/calls/{}", call.row.id)))
}

#[derive(Deserialize)]
pub struct OutcomeForm {
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    note: String,
}

/// `POST /calls/{id}/outcome`: a refused form comes back with its errors.
pub async fn outcome(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<OutcomeForm>,
) -> AppResult<Response> {
    let input = calls::OutcomeInput {
        outcome: form.outcome,
        note: form.note,
    };
    match calls::record_outcome(&state, &user, &id, &input).await {
        Ok(call) => Ok(Redirect::to(&format!("/calls/{}", call.row.id)).into_response()),
        Err(ServiceError::Invalid(errors)) => {
            let call = calls::view(&state, &user, &id).await?;
            let page = call_page(&state, &session, &user, call, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
