//! The operator's pages: rotas, specialty targets and each specialty's list of reply topics.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::auth::CurrentUser;
use super::csrf::CsrfForm;
use super::error::{AppError, AppResult};
use super::templates::{render, Layout};
use super::uk_time;
use crate::domain::access::Principal;
use crate::domain::queue::Pool;
use crate::service::topics::TopicRow;
use crate::service::AppState;
use crate::service::{admin, topics, Actor, FieldError, ServiceError, ServiceResult};

fn require_admin(user: &Principal) -> AppResult<()> {
    if user.may_administer() {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "Only admins can manage rotas, specialties and topic lists.",
        ))
    }
}

struct ShiftRow {
    id: String,
    specialty: String,
    consultant: String,
    pool: String,
    /// The start as people read it, to name the row's buttons.
    from: String,
    /// The times as the row's form shows them (London, `datetime-local`).
    from_value: String,
    to_value: String,
}

/// A consultant and one of their specialties, by name, for the rota form.
struct ConsultantChoice {
    value: String,
    label: String,
}

struct SpecialtyRow {
    slug: String,
    name: String,
    routine: f64,
    urgent: f64,
    escalation: f64,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    layout: Layout,
    notice: Option<String>,
    errors: Vec<FieldError>,
    consultants: Vec<ConsultantChoice>,
    shifts: Vec<ShiftRow>,
    specialties: Vec<SpecialtyRow>,
}

const HOUR: f64 = 3_600_000.0;

async fn page(
    state: &AppState,
    session: &Session,
    user: &Principal,
    notice: Option<String>,
    errors: Vec<FieldError>,
) -> AppResult<Html<String>> {
    let admin::Overview {
        consultants,
        specialties,
        shifts,
    } = admin::overview(state).await?;
    let shifts = shifts
        .into_iter()
        .map(|(specialty, shift)| ShiftRow {
            id: shift.id.clone(),
            from_value: uk_time::form_value(shift.starts_at_ms),
            to_value: uk_time::form_value(shift.ends_at_ms),
            specialty,
            consultant: consultants
                .iter()
                .find(|c| c.id == shift.user_id)
                .map_or_else(|| shift.user_id.clone(), |c| c.name.clone()),
            pool: shift.pool.as_str().to_string(),
            from: uk_time::format(shift.starts_at_ms),
        })
        .collect();
    let specialty_name = |slug: &str| {
        specialties
            .iter()
            .find(|s| s.slug == slug)
            .map_or_else(|| slug.to_string(), |s| s.name.clone())
    };
    let consultants = consultants
        .iter()
        .map(|c| ConsultantChoice {
            value: format!("{}|{}", c.id, c.specialty),
            label: format!("{} – {}", c.name, specialty_name(&c.specialty)),
        })
        .collect();
    render(&AdminPage {
        layout: Layout::signed_in(state, session, user).await?,
        notice,
        errors,
        consultants,
        shifts,
        specialties: specialties
            .into_iter()
            .map(|s| SpecialtyRow {
                routine: s.routine_target_ms as f64 / HOUR,
                urgent: s.urgent_target_ms as f64 / HOUR,
                escalation: s.escalation_ms as f64 / HOUR,
                slug: s.slug,
                name: s.name,
            })
            .collect(),
    })
}

/// An error of the admin page, at the field (or section) `field` names.
fn problem(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        code: "invalid",
        message: message.into(),
    }
}

/// The service's errors of a new shift, at the add-shift form's fields.
fn at_rota_form(errors: Vec<FieldError>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|e| FieldError {
            field: match e.field {
                "consultant" => "rota-consultant",
                "from" => "rota-from",
                "to" => "rota-to",
                _ => "rota",
            },
            ..e
        })
        .collect()
}

/// The admin page again, saying what to fix (422).
async fn refused(
    state: &AppState,
    session: &Session,
    user: &Principal,
    errors: Vec<FieldError>,
) -> AppResult<Response> {
    let html = page(state, session, user, None, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
}

#[derive(Deserialize)]
pub struct Notice {
    saved: Option<String>,
}

pub async fn index(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Query(q): Query<Notice>,
) -> AppResult<Html<String>> {
    require_admin(&user)?;
    let notice = match q.saved.as_deref() {
        Some("rota") => Some("The shift was added.".to_string()),
        Some("rota-changed") => Some("The shift was changed.".to_string()),
        Some("rota-removed") => Some("The shift was removed.".to_string()),
        Some("specialty") => Some("The specialty's targets were saved.".to_string()),
        _ => None,
    };
    page(&state, &session, &user, notice, Vec::new()).await
}

#[derive(Deserialize)]
pub struct RotaForm {
    consultant: String,
    pool: String,
    from: String,
    to: String,
}

pub async fn add_shift(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    CsrfForm(form): CsrfForm<RotaForm>,
) -> AppResult<Response> {
    require_admin(&user)?;
    let mut errors = Vec::new();
    let (consultant_id, specialty) = form.consultant.split_once('|').unwrap_or(("", ""));
    let consultants = admin::consultants(&state.db).await?;
    if !consultants
        .iter()
        .any(|c| c.id == consultant_id && c.specialty == specialty)
    {
        errors.push(problem(
            "rota-consultant",
            "Choose a consultant and one of their specialties.",
        ));
    }
    let pool: Option<Pool> = form
        .pool
        .parse()
        .map_err(|e: crate::domain::UnknownValue| errors.push(problem("rota-pool", e.to_string())))
        .ok();
    let from = uk_time::parse_form(&form.from);
    let to = uk_time::parse_form(&form.to);
    match (from, to) {
        (Some(f), Some(t)) if t <= f => {
            errors.push(problem("rota-to", "The shift must end after it starts."))
        }
        (Some(_), Some(_)) => {}
        (None, _) => errors.push(problem("rota-from", "Enter when the shift starts.")),
        (_, None) => errors.push(problem("rota-to", "Enter when the shift ends.")),
    }
    let (Some(pool), Some(from), Some(to), true) = (pool, from, to, errors.is_empty()) else {
        return refused(&state, &session, &user, errors).await;
    };
    let shift = admin::NewShift {
        consultant_id,
        specialty,
        pool,
        starts_at_ms: from,
        ends_at_ms: to,
    };
    match admin::add_shift(
        &state.db,
        crate::service::Actor::Admin(user.user_id.as_str()),
        shift,
        state.now_ms(),
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/admin?saved=rota").into_response()),
        Err(ServiceError::Invalid(errors)) => {
            refused(&state, &session, &user, at_rota_form(errors)).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct ShiftTimesForm {
    from: String,
    to: String,
}

/// Saves a shift's new times (one form per row of the shift table).
pub async fn change_shift(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<ShiftTimesForm>,
) -> AppResult<Response> {
    require_admin(&user)?;
    let (Some(from), Some(to)) = (
        uk_time::parse_form(&form.from),
        uk_time::parse_form(&form.to),
    ) else {
        let errors = vec![problem("rota", "Enter when the shift starts and ends.")];
        return refused(&state, &session, &user, errors).await;
    };
    let actor = crate::service::Actor::Admin(user.user_id.as_str());
    match admin::change_shift(&state.db, actor, &id, from, to, state.now_ms()).await {
        Ok(()) => Ok(Redirect::to("/admin?saved=rota-changed#rota").into_response()),
        Err(ServiceError::Invalid(errors)) => {
            // A row of the shift table: the error points at the table.
            let errors = errors
                .into_iter()
                .map(|e| FieldError { field: "rota", ..e })
                .collect();
            refused(&state, &session, &user, errors).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn remove_shift(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<crate::web::case_pages::Empty>,
) -> AppResult<Redirect> {
    require_admin(&user)?;
    let actor = crate::service::Actor::Admin(user.user_id.as_str());
    admin::remove_shift(&state.db, actor, &id, state.now_ms()).await?;
    Ok(Redirect::to("/admin?saved=rota-removed#rota"))
}

#[derive(Deserialize)]
pub struct TargetsForm {
    routine_hours: String,
    urgent_hours: String,
    escalation_hours: String,
}

fn hours(value: &str, min: f64) -> Option<i64> {
    let h: f64 = value.trim().parse().ok()?;
    (h.is_finite() && h >= min && h <= 720.0).then(|| (h * HOUR).round() as i64)
}

pub async fn save_specialty(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path(slug): Path<String>,
    CsrfForm(form): CsrfForm<TargetsForm>,
) -> AppResult<Response> {
    require_admin(&user)?;
    let (Some(routine), Some(urgent), Some(escalation)) = (
        hours(&form.routine_hours, 0.25),
        hours(&form.urgent_hours, 0.25),
        hours(&form.escalation_hours, 0.0),
    ) else {
        let errors = vec![problem(
            "specialties",
            "Targets are 0.25 to 720 hours; the wait before the national pool is offered a case, 0 to 720 hours.",
        )];
        return refused(&state, &session, &user, errors).await;
    };
    admin::save_targets(
        &state.db,
        crate::service::Actor::Admin(user.user_id.as_str()),
        &slug,
        routine,
        urgent,
        escalation,
        state.now_ms(),
    )
    .await?;
    Ok(Redirect::to("/admin?saved=specialty#specialties").into_response())
}

struct TopicRowView {
    slug: String,
    label: String,
}

#[derive(Template)]
#[template(path = "admin_topics.html")]
struct TopicsPage {
    layout: Layout,
    specialty_slug: String,
    specialty_name: String,
    notice: Option<String>,
    errors: Vec<String>,
    label_draft: String,
    active: Vec<TopicRowView>,
    retired: Vec<TopicRowView>,
}

async fn topics_page(
    state: &AppState,
    session: &Session,
    user: &Principal,
    specialty: &str,
    notice: Option<String>,
    errors: Vec<String>,
    label_draft: String,
) -> AppResult<Html<String>> {
    let s = topics::specialty(state, specialty).await?;
    let (active, retired): (Vec<_>, Vec<_>) = topics::list(state, specialty)
        .await?
        .into_iter()
        .partition(|t| t.retired_at_ms.is_none());
    let view = |rows: Vec<TopicRow>| -> Vec<TopicRowView> {
        rows.into_iter()
            .map(|t| TopicRowView {
                slug: t.slug,
                label: t.label,
            })
            .collect()
    };
    render(&TopicsPage {
        layout: Layout::signed_in(state, session, user).await?,
        specialty_slug: s.slug,
        specialty_name: s.name,
        notice,
        errors,
        label_draft,
        active: view(active),
        retired: view(retired),
    })
}

#[derive(Deserialize)]
pub struct TopicNotice {
    done: Option<String>,
}

/// `/admin/topics/{specialty}`: the specialty's reply topics, with forms to add, rename, retire.
pub async fn topics_index(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path(specialty): Path<String>,
    Query(q): Query<TopicNotice>,
) -> AppResult<Html<String>> {
    require_admin(&user)?;
    let notice = match q.done.as_deref() {
        Some("added") => Some("The topic was added.".to_string()),
        Some("renamed") => Some("The topic was renamed.".to_string()),
        Some("retired") => Some(
            "The topic was retired: replies can no longer choose it; reports still name it."
                .to_string(),
        ),
        _ => None,
    };
    topics_page(
        &state,
        &session,
        &user,
        &specialty,
        notice,
        Vec::new(),
        String::new(),
    )
    .await
}

#[derive(Deserialize)]
pub struct TopicForm {
    label: String,
}

/// After a change: back to the list; a refused label shows the page again with the message.
async fn topic_outcome(
    state: &AppState,
    session: &Session,
    user: &Principal,
    specialty: &str,
    result: ServiceResult<()>,
    done: &str,
    label_draft: String,
) -> AppResult<Response> {
    match result {
        Ok(()) => {
            Ok(Redirect::to(&format!("/admin/topics/{specialty}?done={done}")).into_response())
        }
        Err(ServiceError::Invalid(errors)) => {
            let errors = errors.into_iter().map(|e| e.message).collect();
            let html =
                topics_page(state, session, user, specialty, None, errors, label_draft).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn add_topic(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path(specialty): Path<String>,
    CsrfForm(form): CsrfForm<TopicForm>,
) -> AppResult<Response> {
    require_admin(&user)?;
    let result = topics::add(&state, &user, &specialty, &form.label)
        .await
        .map(|_| ());
    topic_outcome(
        &state, &session, &user, &specialty, result, "added", form.label,
    )
    .await
}

pub async fn rename_topic(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path((specialty, slug)): Path<(String, String)>,
    CsrfForm(form): CsrfForm<TopicForm>,
) -> AppResult<Response> {
    require_admin(&user)?;
    let result = topics::rename(&state, &user, &specialty, &slug, &form.label).await;
    topic_outcome(
        &state,
        &session,
        &user,
        &specialty,
        result,
        "renamed",
        String::new(),
    )
    .await
}

pub async fn retire_topic(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path((specialty, slug)): Path<(String, String)>,
    CsrfForm(_): CsrfForm<super::case_pages::Empty>,
) -> AppResult<Response> {
    require_admin(&user)?;
    let result = topics::retire(&state, &user, &specialty, &slug).await;
    topic_outcome(
        &state,
        &session,
        &user,
        &specialty,
        result,
        "retired",
        String::new(),
    )
    .await
}

struct DeliveryRow {
    id: String,
    made: String,
    channel: &'static str,
    kind: String,
    to: String,
    attempts: i64,
    state: String,
    error: String,
    dead: bool,
}

#[derive(Template)]
#[template(path = "admin_outbox.html")]
struct OutboxPage {
    layout: Layout,
    notice: Option<String>,
    counts: crate::db::outbox::Counts,
    rows: Vec<DeliveryRow>,
}

#[derive(Deserialize)]
pub struct Retried {
    retried: Option<u64>,
}

/// What is waiting, failing and dead in the outbox, with a retry for dead letters.
pub async fn outbox(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Query(q): Query<Retried>,
) -> AppResult<Html<String>> {
    require_admin(&user)?;
    let (counts, listed) = crate::service::outbox::overview(&state).await?;
    let rows = listed
        .into_iter()
        .map(|r| {
            let dead = r.status == "dead";
            DeliveryRow {
                made: uk_time::format(r.created_at_ms),
                channel: match r.channel.as_str() {
                    "email" => "Email",
                    "text" => "Text message",
                    _ => "Webhook",
                },
                state: if dead {
                    "Dead letter".to_string()
                } else {
                    format!("Next try {}", uk_time::format(r.due_at_ms))
                },
                error: r.last_error.unwrap_or_default(),
                id: r.id,
                kind: r.kind,
                to: r.to,
                attempts: r.attempts,
                dead,
            }
        })
        .collect();
    render(&OutboxPage {
        layout: Layout::signed_in(&state, &session, &user).await?,
        notice: q.retried.map(|n| match n {
            1 => "1 delivery will be tried again now.".to_string(),
            n => format!("{n} deliveries will be tried again now."),
        }),
        counts,
        rows,
    })
}

#[derive(Deserialize)]
pub struct RetryForm {
    id: Option<String>,
}

pub async fn retry_outbox(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    CsrfForm(form): CsrfForm<RetryForm>,
) -> AppResult<Redirect> {
    require_admin(&user)?;
    let id = form.id.as_deref().filter(|s| !s.is_empty());
    let n = crate::service::outbox::retry(&state, Actor::Admin(user.user_id.as_str()), id).await?;
    Ok(Redirect::to(&format!("/admin/outbox?retried={n}")))
}

struct AuditRow {
    at: String,
    who: String,
    action: String,
    case_id: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    layout: Layout,
    errors: Vec<FieldError>,
    nhs_number: String,
    user: String,
    from: String,
    to: String,
    /// The filter as a query string, for the CSV link.
    query: String,
    rows: Vec<AuditRow>,
    total: usize,
}

/// Rows the page shows; the CSV export has every event found.
const AUDIT_PAGE_ROWS: usize = 500;

/// `/admin/audit`: who viewed or changed a patient's data, by NHS number, person and period.
pub async fn audit(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Query(q): Query<admin::AuditQuery>,
) -> AppResult<Response> {
    require_admin(&user)?;
    let searched = q.nhs_number.is_some() || q.user.is_some() || q.from.is_some() || q.to.is_some();
    let (found, errors) = if searched {
        match admin::audit_trail(&state, &user, &q).await {
            Ok(found) => (found, Vec::new()),
            Err(ServiceError::Invalid(errors)) => (Vec::new(), errors),
            Err(e) => return Err(e.into()),
        }
    } else {
        (Vec::new(), Vec::new())
    };
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let page = AuditPage {
        layout: Layout::signed_in(&state, &session, &user).await?,
        nhs_number: value(&q.nhs_number),
        user: value(&q.user),
        from: value(&q.from),
        to: value(&q.to),
        query: serde_urlencoded::to_string([
            ("nhs_number", value(&q.nhs_number)),
            ("user", value(&q.user)),
            ("from", value(&q.from)),
            ("to", value(&q.to)),
        ])
        .unwrap_or_default(),
        total: found.len(),
        rows: found
            .into_iter()
            .take(AUDIT_PAGE_ROWS)
            .map(|f| AuditRow {
                at: uk_time::format(f.event.at_ms),
                who: f
                    .actor_email
                    .or(f.event.actor_id)
                    .unwrap_or_else(|| "aghub (command line or a job)".into()),
                action: f.event.action,
                case_id: f.event.case_id.unwrap_or_default(),
                detail: f.event.detail.map(|d| d.to_string()).unwrap_or_default(),
            })
            .collect(),
        errors,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, render(&page)?).into_response())
}

/// `/admin/audit.csv`: the same search, every event, as CSV.
pub async fn audit_csv(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<admin::AuditQuery>,
) -> AppResult<Response> {
    require_admin(&user)?;
    let found = admin::audit_trail(&state, &user, &q).await?;
    Ok(super::csv_download(
        admin::audit_csv(&found),
        "aghub-audit.csv",
    ))
}

#[derive(Deserialize)]
pub struct ExportQuery {
    #[serde(default)]
    nhs_number: String,
}

/// `/admin/patients/export?nhs_number=…`: the patient's subject access export (.zip).
pub async fn patient_export(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<ExportQuery>,
) -> AppResult<Response> {
    require_admin(&user)?;
    let export = crate::service::patient_export::export(
        &state,
        Actor::Admin(user.user_id.as_str()),
        &q.nhs_number,
    )
    .await?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/zip".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", export.file_name),
            ),
            (
                axum::http::header::CACHE_CONTROL,
                "private, no-store".to_string(),
            ),
        ],
        export.bytes,
    )
        .into_response())
}
