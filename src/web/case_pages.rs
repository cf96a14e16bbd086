//! Case pages for GPs and consultants: server-rendered, usable without JavaScript.

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::auth::CurrentUser;
use super::case_form;
use super::csrf::CsrfForm;
use super::error::{AppError, AppResult};
use super::templates::{render, Layout};
use super::uk_time;
use crate::db::{cases::CaseRow, specialties::Specialty};
use crate::domain::access::Principal;
use crate::domain::queue::{describe_time_left, due_at_ms};
use crate::domain::{CaseStatus, NhsNumber, Outcome, Role, Urgency};
use crate::service::{cases, FieldError, ServiceError};
use crate::state::AppState;

/// "3 h 20 min", "2 days 1 h".
pub fn fmt_age(ms: i64) -> String {
    describe_time_left(ms.max(0), 0)
        .trim_end_matches(" left")
        .to_string()
}

fn formatted_nhs(n: &str) -> String {
    NhsNumber::parse(n)
        .map(|n| n.formatted())
        .unwrap_or_else(|_| n.to_string())
}

async fn specialty_names(state: &AppState) -> AppResult<Vec<Specialty>> {
    Ok(cases::specialties(state).await?)
}

fn specialty_name(all: &[Specialty], slug: &str) -> String {
    all.iter()
        .find(|s| s.slug == slug)
        .map_or_else(|| slug.to_string(), |s| s.name.clone())
}

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
    outcome_label: &'static str,
    two_week_wait: bool,
}

#[derive(Template)]
#[template(path = "cases_list.html")]
struct ListPage {
    layout: Layout,
    heading: String,
    can_submit: bool,
    status: String,
    statuses: Vec<(&'static str, &'static str, bool)>,
    rows: Vec<ListRow>,
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
    let rows = rows
        .iter()
        .map(|r| {
            let status = r.status_at(now);
            let outcome = r.outcome;
            ListRow {
                id: r.id.clone(),
                submitted: uk_time::format(r.submitted_at_ms),
                age: fmt_age(now - r.submitted_at_ms),
                nhs_number: formatted_nhs(&r.nhs_number),
                date_of_birth: r.date_of_birth.clone(),
                specialty: specialty_name(&names, &r.specialty),
                urgent: r.urgency == Urgency::Urgent,
                status: status.as_str(),
                status_label: status.label(),
                outcome_label: outcome.map_or("", |o| o.label()),
                two_week_wait: outcome == Some(Outcome::ReferTwoWeekWait),
            }
        })
        .collect();
    render(&ListPage {
        layout: Layout::new(&session, Some(&user)).await?,
        heading,
        can_submit: user.may_submit_cases(),
        statuses: CaseStatus::ALL
            .iter()
            .map(|s| (s.as_str(), s.label(), s.as_str() == status))
            .collect(),
        status,
        rows,
    })
}

#[derive(Default)]
struct FormValues {
    specialty: String,
    nhs_number: String,
    date_of_birth: String,
    urgency: String,
    history: String,
    question: String,
    conversion_authorised: String,
}

/// One photo input on the form, pre-set to the view teledermatology asks for.
struct PhotoSlot {
    n: usize,
    kind: &'static str,
}

#[derive(Template)]
#[template(path = "case_new.html")]
struct NewPage {
    layout: Layout,
    specialties: Vec<Specialty>,
    form: FormValues,
    errors: Vec<FieldError>,
    photos_lost: bool,
    idempotency_key: String,
    photo_slots: Vec<PhotoSlot>,
}

async fn new_page(
    state: &AppState,
    session: &Session,
    user: &Principal,
    form: FormValues,
    errors: Vec<FieldError>,
    photos_lost: bool,
) -> AppResult<Html<String>> {
    render(&NewPage {
        layout: Layout::new(session, Some(user)).await?,
        specialties: specialty_names(state).await?,
        form,
        errors,
        photos_lost,
        // A fresh key per form: a re-sent form (double tap, flaky network) finds its first case.
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        photo_slots: ["site", "close_up", "dermoscopic"]
            .into_iter()
            .enumerate()
            .map(|(i, kind)| PhotoSlot { n: i + 1, kind })
            .collect(),
    })
}

fn require_gp(user: &Principal) -> AppResult<()> {
    if user.may_submit_cases() {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "Only GPs of a practice can submit cases.",
        ))
    }
}

pub async fn new_form(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
) -> AppResult<Html<String>> {
    require_gp(&user)?;
    new_page(
        &state,
        &session,
        &user,
        FormValues {
            urgency: "routine".into(),
            ..Default::default()
        },
        Vec::new(),
        false,
    )
    .await
}

pub async fn create(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    multipart: Multipart,
) -> AppResult<Response> {
    require_gp(&user)?;
    let case_id = cases::new_case_id();
    let submission = match case_form::read(&state, &case_id, multipart, Some(&session)).await {
        Ok(s) => s,
        Err(e)
            if e.status.is_client_error()
                && e.code != "csrf_failed"
                && e.status != StatusCode::FORBIDDEN =>
        {
            let errors = vec![FieldError {
                field: "photo",
                code: e.code,
                message: e.message,
            }];
            let page =
                new_page(&state, &session, &user, FormValues::default(), errors, true).await?;
            return Ok((e.status, page).into_response());
        }
        Err(e) => return Err(e),
    };
    let input = submission.input.clone();
    let had_photos = !submission.photos.photos.is_empty();
    match cases::create(&state, &user, submission.input, submission.photos, &case_id).await {
        Ok(created) => {
            Ok(Redirect::to(&format!("/cases/{}?submitted=1", created.case_id)).into_response())
        }
        Err(ServiceError::Invalid(errors)) => {
            let form = FormValues {
                specialty: input.specialty,
                nhs_number: input.nhs_number,
                date_of_birth: input.date_of_birth,
                urgency: input.urgency,
                history: input.history,
                question: input.question,
                conversion_authorised: input.conversion_authorised,
            };
            let page = new_page(&state, &session, &user, form, errors, had_photos).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

struct CaseView {
    id: String,
    short_id: String,
    specialty: String,
    status: &'static str,
    status_label: &'static str,
    nhs_number: String,
    date_of_birth: String,
    practice: String,
    urgent: bool,
    submitted: String,
    time_left: String,
    conversion_authorised: bool,
    outcome_label: Option<&'static str>,
    two_week_wait: bool,
    advice: String,
    history: String,
    question: String,
}

struct PhotoView {
    id: String,
    caption: String,
    width: i64,
    height: i64,
    warnings: Vec<&'static str>,
}

struct MessageView {
    kind: String,
    author: String,
    at: String,
    outcome: Option<&'static str>,
    body: String,
    other_topic: Option<String>,
}

/// One checkbox of the reply form's topic list.
struct TopicChoice {
    slug: String,
    label: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "case_page.html")]
struct CasePage {
    layout: Layout,
    c: CaseView,
    photos: Vec<PhotoView>,
    messages: Vec<MessageView>,
    just_submitted: bool,
    just_claimed: bool,
    errors: Vec<FieldError>,
    advice_draft: String,
    topic_choices: Vec<TopicChoice>,
    other_topic_draft: String,
    can_claim: bool,
    can_reply: bool,
    can_respond: bool,
    outcomes: Vec<(&'static str, &'static str)>,
    back_href: &'static str,
    back_label: &'static str,
}

fn caption(kind: Option<&str>, site: Option<&str>) -> String {
    let kind = match kind {
        Some("site") => "Site view",
        Some("close_up") => "Close-up",
        Some("dermoscopic") => "Dermoscopic",
        _ => "Photo",
    };
    match site {
        Some(s) => format!("{kind}, {s}"),
        None => kind.to_string(),
    }
}

#[derive(Deserialize)]
pub struct CaseQuery {
    submitted: Option<String>,
    claimed: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<CaseQuery>,
) -> AppResult<Html<String>> {
    let notices = Notices {
        submitted: q.submitted.is_some(),
        claimed: q.claimed.is_some(),
        ..Default::default()
    };
    case_page(&state, &session, &user, &id, notices).await
}

/// One-off messages on the case page: after submitting or claiming, or a reply that needs fixing.
#[derive(Default)]
struct Notices {
    submitted: bool,
    claimed: bool,
    errors: Vec<FieldError>,
    advice_draft: String,
    /// Topic slugs ticked in a reply that needs fixing.
    topics_draft: Vec<String>,
    other_topic_draft: String,
}

async fn case_page(
    state: &AppState,
    session: &Session,
    user: &Principal,
    id: &str,
    notices: Notices,
) -> AppResult<Html<String>> {
    let row = cases::view(state, user, id).await?;
    let now = state.now_ms();
    let names = specialty_names(state).await?;
    let status = row.status_at(now);
    let outcome = row.outcome;
    let urgency = row.urgency;
    let due = due_at_ms(
        row.submitted_at_ms,
        urgency,
        row.routine_target_ms,
        row.urgent_target_ms,
    );
    let (photos, messages) = cases::photos_and_messages(state, &row, true).await?;
    let photos = photos
        .into_iter()
        .map(|p| {
            let codes: Vec<String> = serde_json::from_str(&p.warnings).unwrap_or_default();
            PhotoView {
                caption: caption(p.kind.as_deref(), p.body_site.as_deref()),
                id: p.id,
                width: p.width,
                height: p.height,
                warnings: codes
                    .iter()
                    .map(|c| super::api::warning_message(c))
                    .collect(),
            }
        })
        .collect();
    let messages = messages
        .unwrap_or_default()
        .into_iter()
        .map(|m| MessageView {
            kind: m.kind,
            author: m.author_name,
            at: uk_time::format(m.created_at_ms),
            outcome: m
                .outcome
                .as_deref()
                .and_then(|o| o.parse::<Outcome>().ok())
                .map(|o| o.label()),
            body: m.body,
            other_topic: m.other_topic,
        })
        .collect();
    let holds =
        status == CaseStatus::Claimed && row.claimed_by.as_deref() == Some(user.user_id.as_str());
    let is_consultant = user.role == Role::Consultant && user.may_answer_specialty(&row.specialty);
    let topic_choices = if holds {
        crate::service::topics::list(state, &row.specialty)
            .await?
            .into_iter()
            .filter(|t| t.retired_at_ms.is_none())
            .map(|t| TopicChoice {
                checked: notices.topics_draft.contains(&t.slug),
                slug: t.slug,
                label: t.label,
            })
            .collect()
    } else {
        Vec::new()
    };
    let c = CaseView {
        short_id: row.short_id(),
        specialty: specialty_name(&names, &row.specialty),
        status: status.as_str(),
        status_label: status.label(),
        nhs_number: formatted_nhs(&row.nhs_number),
        date_of_birth: row.date_of_birth.clone(),
        practice: format!("{} ({})", row.practice_name, row.practice_ods),
        urgent: urgency == Urgency::Urgent,
        submitted: uk_time::format(row.submitted_at_ms),
        time_left: if status == CaseStatus::Closed {
            "answered".into()
        } else {
            describe_time_left(due, now)
        },
        conversion_authorised: row.conversion_authorised,
        outcome_label: outcome.map(|o| o.label()),
        two_week_wait: outcome == Some(Outcome::ReferTwoWeekWait),
        advice: row.advice.clone().unwrap_or_default(),
        history: row.history.clone(),
        question: row.question.clone(),
        id: row.id.clone(),
    };
    let (back_href, back_label) = if user.role == Role::Consultant {
        ("/queue", "Your queue")
    } else {
        ("/cases", "All cases")
    };
    render(&CasePage {
        layout: Layout::new(session, Some(user)).await?,
        c,
        photos,
        messages,
        just_submitted: notices.submitted,
        just_claimed: notices.claimed,
        errors: notices.errors,
        advice_draft: notices.advice_draft,
        topic_choices,
        other_topic_draft: notices.other_topic_draft,
        can_claim: is_consultant && status == CaseStatus::Submitted,
        can_reply: holds,
        can_respond: status == CaseStatus::AwaitingGp
            && user.practice_id.as_deref() == Some(row.practice_id.as_str())
            && user.role == Role::Gp,
        outcomes: Outcome::ALL
            .iter()
            .map(|o| (o.as_str(), o.label()))
            .collect(),
        back_href,
        back_label,
    })
}

#[derive(Template)]
#[template(path = "photo_view.html")]
struct PhotoPage {
    layout: Layout,
    case_id: String,
    photo_id: String,
    caption: String,
    width: i64,
    height: i64,
    index: usize,
    count: usize,
    prev: Option<String>,
    next: Option<String>,
}

pub async fn photo(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path((id, photo_id)): Path<(String, String)>,
) -> AppResult<Html<String>> {
    let (photos, i) = cases::photo_page(&state, &user, &id, &photo_id).await?;
    let p = &photos[i];
    render(&PhotoPage {
        layout: Layout::new(&session, Some(&user)).await?,
        case_id: id.clone(),
        photo_id: p.id.clone(),
        caption: caption(p.kind.as_deref(), p.body_site.as_deref()),
        width: p.width,
        height: p.height,
        index: i + 1,
        count: photos.len(),
        prev: i.checked_sub(1).map(|j| photos[j].id.clone()),
        next: photos.get(i + 1).map(|p| p.id.clone()),
    })
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn claim(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<Empty>,
) -> AppResult<Redirect> {
    cases::claim(&state, &user, &id).await?;
    Ok(Redirect::to(&format!("/cases/{id}?claimed=1#reply")))
}

pub async fn release(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<Empty>,
) -> AppResult<Redirect> {
    cases::release(&state, &user, &id).await?;
    Ok(Redirect::to("/queue"))
}

/// The reply form, read as name/value pairs because `topics` repeats (one checkbox each).
fn reply_input(pairs: Vec<(String, String)>) -> cases::ReplyInput {
    let mut input = cases::ReplyInput::default();
    for (name, value) in pairs {
        match name.as_str() {
            "advice" => input.advice = value,
            "outcome" => input.outcome = value,
            "topics" => input.topics.push(value),
            "other_topic" => input.other_topic = value,
            _ => {}
        }
    }
    input
}

pub async fn reply(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> AppResult<Response> {
    let input = reply_input(pairs);
    match cases::reply(&state, &user, &id, &input).await {
        Ok(_) => Ok(Redirect::to(&format!("/cases/{id}")).into_response()),
        // Show the form again with what was typed and ticked, and what to fix.
        Err(ServiceError::Invalid(mut errors)) => {
            for e in &mut errors {
                if e.field == "outcome" && input.outcome.trim().is_empty() {
                    e.message = "Choose an outcome.".into();
                }
                if e.code == "unknown_topic" {
                    e.message = "Choose topics from the list only; anything else goes in 'Other topic', which is not shown in reports.".into();
                }
            }
            let notices = Notices {
                errors,
                advice_draft: input.advice,
                topics_draft: input.topics,
                other_topic_draft: input.other_topic,
                ..Default::default()
            };
            let page = case_page(&state, &session, &user, &id, notices).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn respond(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    multipart: Multipart,
) -> AppResult<Redirect> {
    cases::load(&state, &user, &id).await?;
    let submission = case_form::read(&state, &id, multipart, Some(&session)).await?;
    cases::respond(&state, &user, &id, &submission.message, submission.photos).await?;
    Ok(Redirect::to(&format!("/cases/{id}")))
}

struct QueueRow {
    id: String,
    short_id: String,
    specialty: String,
    urgent: bool,
    question: String,
    age: String,
    time_left: String,
    overdue: bool,
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    layout: Layout,
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
        short_id: r.short_id(),
        specialty: specialty_name(names, &r.specialty),
        urgent: urgency == Urgency::Urgent,
        question,
        age: fmt_age(now - r.submitted_at_ms),
        time_left: describe_time_left(due, now),
        overdue: due < now,
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
        layout: Layout::new(&session, Some(&user)).await?,
        rows: rows.iter().map(|r| queue_row(r, &names, now)).collect(),
        held: held.iter().map(|r| queue_row(r, &names, now)).collect(),
        on_duty,
    })
}
