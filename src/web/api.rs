//! The JSON API, version 1 (contract.md).

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::CurrentUser;
use super::case_form;
use super::error::{AppError, AppResult};
use crate::clock::rfc3339;
use crate::db::{self, cases::CaseRow};
use crate::domain::queue::{due_at_ms, effective_status};
use crate::domain::{CaseStatus, Outcome, Urgency};
use crate::service::cases;
use crate::state::AppState;

pub fn router(max_upload: usize) -> Router<AppState> {
    let uploads = DefaultBodyLimit::max(max_upload);
    Router::new()
        .route("/me", get(me))
        .route("/audit", get(audit))
        .route("/cases", get(list_cases).post(create_case).layer(uploads))
        .route("/cases/{id}", get(get_case))
        .route("/cases/{id}/photos/{photo_id}", get(get_photo))
        .route("/cases/{id}/claim", post(claim))
        .route("/cases/{id}/release", post(release))
        .route("/cases/{id}/reply", post(reply))
        .route("/cases/{id}/respond", post(respond).layer(uploads))
        .route("/queue", get(queue))
        .fallback(not_found)
}

/// Who the caller is, as the service sees them.
async fn me(CurrentUser(user): CurrentUser) -> Json<Value> {
    Json(json!({
        "id": user.user_id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "practice_id": user.practice_id,
        "specialties": user.specialties,
    }))
}

/// The latest audit events, for admins.
async fn audit(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> AppResult<Json<Value>> {
    if !user.may_administer() {
        return Err(AppError::forbidden("Only admins can read the audit trail."));
    }
    let events = db::audit::recent(&state.db, 200).await?;
    let events: Vec<Value> = events
        .into_iter()
        .map(|e| {
            json!({
                "at": rfc3339(e.at_ms),
                "actor_id": e.actor_id,
                "action": e.action,
                "case_id": e.case_id,
                "subject_id": e.subject_id,
            })
        })
        .collect();
    Ok(Json(json!({ "events": events })))
}

/// The case as the API shows it; `detail` adds the conversation.
pub async fn case_json(state: &AppState, row: &CaseRow, detail: bool) -> AppResult<Value> {
    let now = state.now_ms();
    let status = effective_status(
        row.status.parse().unwrap_or(CaseStatus::Closed),
        row.claim_expires_at_ms,
        now,
    );
    let urgency: Urgency = row.urgency.parse().unwrap_or(Urgency::Routine);
    let photos: Vec<Value> = db::cases::photos(&state.db, &row.id)
        .await?
        .into_iter()
        .map(|p| {
            let warnings: Vec<String> = serde_json::from_str(&p.warnings).unwrap_or_default();
            json!({
                "id": p.id,
                "width": p.width,
                "height": p.height,
                "content_type": p.content_type,
                "sha256": p.sha256,
                "warnings": warnings,
                "warning_messages": warnings.iter().map(|w| warning_message(w)).collect::<Vec<_>>(),
                "kind": p.kind,
                "body_site": p.body_site,
                "with_response": p.message_id.is_some(),
                "href": format!("/api/v1/cases/{}/photos/{}", row.id, p.id),
            })
        })
        .collect();
    let mut v = json!({
        "id": row.id,
        "specialty": row.specialty,
        "status": status,
        "urgency": urgency,
        "nhs_number": row.nhs_number,
        "date_of_birth": row.date_of_birth,
        "practice": { "ods_code": row.practice_ods, "name": row.practice_name },
        "conversion_authorised": row.conversion_authorised != 0,
        "submitted_at": rfc3339(row.submitted_at_ms),
        "due_at": rfc3339(due_at_ms(row.submitted_at_ms, urgency, row.routine_target_ms, row.urgent_target_ms)),
        "claimed_by": if status == CaseStatus::Claimed { row.claimed_by.clone() } else { None },
        "photos": photos,
        "outcome": row.outcome,
        "advice": row.advice,
        "answered_at": row.answered_at_ms.map(rfc3339),
        "closed_at": row.closed_at_ms.map(rfc3339),
        "two_week_wait": row.outcome.as_deref() == Some(Outcome::ReferTwoWeekWait.as_str()),
    });
    if detail {
        let messages: Vec<Value> = db::cases::messages(&state.db, &row.id)
            .await?
            .into_iter()
            .map(|m| {
                json!({
                    "kind": m.kind,
                    "author": m.author_name,
                    "body": m.body,
                    "outcome": m.outcome,
                    "at": rfc3339(m.created_at_ms),
                })
            })
            .collect();
        v["history"] = json!(row.history);
        v["question"] = json!(row.question);
        v["messages"] = json!(messages);
    }
    Ok(v)
}

/// The GP-facing sentence for a stored warning code.
pub fn warning_message(code: &str) -> &'static str {
    use crate::imaging::QualityWarning as W;
    [W::Blurred, W::TooDark, W::TooBright, W::LowResolution]
        .into_iter()
        .find(|w| w.code() == code)
        .map_or("", |w| w.message())
}

async fn cases_json(state: &AppState, rows: &[CaseRow]) -> AppResult<Value> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(case_json(state, row, false).await?);
    }
    Ok(json!({ "cases": out }))
}

fn idempotency_key(headers: &HeaderMap) -> AppResult<Option<String>> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let key = v.to_str().unwrap_or("").trim().to_string();
            cases::check_idempotency_key(&key)?;
            Ok(Some(key))
        }
    }
}

async fn create_case(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    headers: HeaderMap,
    multipart: Multipart,
) -> AppResult<Response> {
    if !user.may_submit_cases() {
        return Err(AppError::forbidden(
            "Only GPs of a practice can submit cases.",
        ));
    }
    let header_key = idempotency_key(&headers)?;
    // A retry of a submission that already succeeded: answer with that case, store nothing.
    if let Some(id) = cases::existing_submission(&state, &user, header_key.as_deref()).await? {
        let row = cases::view(&state, &user, &id).await?;
        return Ok((StatusCode::OK, Json(case_json(&state, &row, true).await?)).into_response());
    }
    let case_id = db::new_id();
    let mut submission = case_form::read(&state, &case_id, multipart, None).await?;
    if header_key.is_some() {
        submission.input.idempotency_key = header_key;
    }
    let created =
        cases::create(&state, &user, submission.input, submission.photos, &case_id).await?;
    let row = cases::view(&state, &user, &created.case_id).await?;
    let status = if created.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let location = format!("/api/v1/cases/{}", created.case_id);
    Ok((
        status,
        [(header::LOCATION, location)],
        Json(case_json(&state, &row, true).await?),
    )
        .into_response())
}

async fn get_case(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<Value>> {
    let row = cases::view(&state, &user, &id).await?;
    Ok(Json(case_json(&state, &row, true).await?))
}

#[derive(Deserialize)]
pub struct SizeQuery {
    size: Option<String>,
}

pub fn parse_size(size: Option<&str>) -> AppResult<&'static str> {
    match size.unwrap_or("full") {
        "full" => Ok("full"),
        "display" => Ok("display"),
        "thumb" => Ok("thumb"),
        other => Err(AppError::invalid(
            "invalid_size",
            format!("size must be full, display or thumb, not '{other}'."),
        )),
    }
}

/// The stored, metadata-free bytes, only after the access check; never cached by browsers or proxies.
pub async fn photo_response(
    state: &AppState,
    user: &crate::domain::access::Principal,
    case_id: &str,
    photo_id: &str,
    size: Option<&str>,
) -> AppResult<Response> {
    let size = parse_size(size)?;
    let (key, content_type) = cases::photo(state, user, case_id, photo_id, size).await?;
    let key = crate::blob::BlobKey::new(key).map_err(AppError::internal)?;
    let bytes = state.blobs.get(&key).await?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
            (header::CONTENT_DISPOSITION, "inline".to_string()),
        ],
        Body::from(bytes),
    )
        .into_response())
}

async fn get_photo(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, photo_id)): Path<(String, String)>,
    Query(q): Query<SizeQuery>,
) -> AppResult<Response> {
    photo_response(&state, &user, &id, &photo_id, q.size.as_deref()).await
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
}

async fn list_cases(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<Value>> {
    let status = q.status.as_deref().filter(|s| !s.is_empty());
    let rows = cases::list(&state, &user, status).await?;
    Ok(Json(cases_json(&state, &rows).await?))
}

#[derive(Deserialize)]
pub struct QueueQuery {
    specialty: Option<String>,
}

async fn queue(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<QueueQuery>,
) -> AppResult<Json<Value>> {
    let rows = cases::queue(
        &state,
        &user,
        q.specialty.as_deref().filter(|s| !s.is_empty()),
    )
    .await?;
    Ok(Json(cases_json(&state, &rows).await?))
}

async fn claim(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<Value>> {
    let row = cases::claim(&state, &user, &id).await?;
    Ok(Json(case_json(&state, &row, true).await?))
}

async fn release(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<Value>> {
    let row = cases::release(&state, &user, &id).await?;
    Ok(Json(case_json(&state, &row, true).await?))
}

#[derive(Deserialize)]
pub struct ReplyBody {
    advice: Option<String>,
    outcome: Option<String>,
}

async fn reply(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    body: Result<Json<ReplyBody>, axum::extract::rejection::JsonRejection>,
) -> AppResult<Json<Value>> {
    let Json(body) = body.map_err(|e| AppError::bad_request("invalid_json", format!("The body must be JSON like {{\"advice\": \"…\", \"outcome\": \"manage_in_primary_care\"}}: {}", e.body_text())))?;
    let row = cases::reply(
        &state,
        &user,
        &id,
        body.advice.as_deref().unwrap_or(""),
        body.outcome.as_deref().unwrap_or(""),
    )
    .await?;
    Ok(Json(case_json(&state, &row, true).await?))
}

async fn respond(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    multipart: Multipart,
) -> AppResult<Json<Value>> {
    // Check access before reading (and storing) any photo.
    cases::load(&state, &user, &id).await?;
    let submission = case_form::read(&state, &id, multipart, None).await?;
    let row = cases::respond(&state, &user, &id, &submission.message, submission.photos).await?;
    Ok(Json(case_json(&state, &row, true).await?))
}

async fn not_found() -> AppError {
    AppError::not_found("There is no API route at this address; see /api/v1/openapi.json.")
}
