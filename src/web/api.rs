//! The JSON API, version 1 (contract.md). Each handler carries its OpenAPI description.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::OpenApi;

use super::api_types::*;
use super::auth::CurrentUser;
use super::case_form;
use super::error::{AppError, AppResult};
use super::photo_bytes::{object_response, parse_size, SizeQuery};
use super::photo_check::warning_message;
use crate::clock::rfc3339;
use crate::domain::access::Principal;
use crate::domain::queue::due_at_ms;
use crate::domain::{CaseId, CaseStatus, Outcome, PhotoId, PracticeId};
use crate::service::cases::{CaseRow, MessageRow, PhotoRow};
use crate::service::AppState;
use crate::service::{cases, topics};

pub fn router(uploads: &super::UploadLimit) -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/me", get(me))
        .route("/audit", get(audit))
        .route("/cases", get(list_cases))
        .route("/cases", uploads.apply(post(create_case)))
        .route("/cases/{id}", get(get_case))
        .route("/cases/{id}/photos/{photo_id}", get(get_photo))
        .route("/cases/{id}/letter.pdf", get(get_letter))
        .route("/cases/{id}/fhir", get(get_fhir))
        .route("/cases/{id}/claim", post(claim))
        .route("/cases/{id}/release", post(release))
        .route("/cases/{id}/reply", post(reply))
        .route("/cases/{id}/respond", uploads.apply(post(respond)))
        .route("/cases/{id}/referral-made", post(referral_made))
        .route(
            "/cases/{id}/photo-requests",
            post(super::photo_requests::api_create),
        )
        .route(
            "/photo-requests/{id}",
            axum::routing::delete(super::photo_requests::api_revoke),
        )
        .route("/queue", get(queue))
        .route("/calls", post(super::calls::start))
        .route("/calls/incoming", get(super::calls::incoming))
        .route("/calls/{id}", get(super::calls::get_call))
        .route("/calls/{id}/answer", post(super::calls::answer))
        .route("/calls/{id}/decline", post(super::calls::decline))
        .route("/calls/{id}/end", post(super::calls::end))
        .route("/calls/{id}/outcome", post(super::calls::outcome))
        .route("/calls/{id}/letter.pdf", get(super::calls::get_record))
        .route("/calls/{id}/fhir", get(super::calls::get_fhir))
        .route(
            "/calls/{id}/recording",
            get(super::calls::get_recording)
                .post(super::calls::add_chunk)
                .layer(axum::extract::DefaultBodyLimit::max(
                    crate::service::calls::MAX_CHUNK_BYTES + 1,
                )),
        )
        .route("/notifications", get(super::notification_pages::api_list))
        .route("/specialties/{slug}/topics", get(specialty_topics))
        .route("/reports/turnaround", get(super::reports::api_turnaround))
        .route(
            "/staged-photos",
            uploads.apply_with_body_limit(
                post(super::staged_photos::stage),
                case_form::MAX_PHOTO_BYTES + 64 * 1024,
            ),
        )
        .route(
            "/staged-photos/{id}",
            get(super::staged_photos::get).delete(super::staged_photos::remove),
        )
        .route(
            "/photo-checks",
            uploads.apply_with_body_limit(
                post(super::photo_check::check),
                case_form::MAX_PHOTO_BYTES + 64 * 1024,
            ),
        )
        .fallback(not_found)
}

#[derive(OpenApi)]
#[openapi(
    info(title = "aghub API", version = "1", description = "Advice & Guidance: cases, photos, queues and replies. Authenticate with `Authorization: Bearer TOKEN` (from `aghub token create`). Errors are `{\"error\": {\"code\", \"message\"}}`."),
    paths(me, list_cases, create_case, get_case, get_photo, get_letter, get_fhir, queue, claim, release, reply, respond, referral_made, specialty_topics, audit, super::reports::api_turnaround, super::photo_check::check, super::staged_photos::stage, super::staged_photos::get, super::staged_photos::remove, super::notification_pages::api_list, super::photo_requests::api_create, super::photo_requests::api_revoke, super::calls::start, super::calls::get_call, super::calls::incoming, super::calls::answer, super::calls::decline, super::calls::end, super::calls::outcome, super::calls::add_chunk, super::calls::get_recording, super::calls::get_record, super::calls::get_fhir),
    components(schemas(ErrorBody, ErrorDetail, CaseJson, CaseList, PhotoJson, MessageJson, PracticeJson, ReferralJson, ReferralMadeBody, FhirBundleJson, FhirEntryJson, ReplyBody, TopicJson, TopicList, MeJson, AuditList, AuditEventJson, CaseSubmission, GpResponse, PhotoCheckUpload, super::photo_check::PhotoCheck, super::staged_photos::StagedPhotoJson, super::notification_pages::NotificationsJson, super::notification_pages::NotificationJson, super::photo_requests::PhotoRequestBody, super::photo_requests::PhotoRequestJson, super::calls::CallRequest, super::calls::CallOutcomeBody, super::calls::CallJson, super::calls::CallList, super::calls::CallOutcomesJson, super::calls::RecordingJson)),
    modifiers(&BearerAuth, &CommonErrors),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Refusals any operation can give, added to every operation so the document lists every status
/// the service really sends: 400 (a request that cannot be read), 401 (no or a bad token),
/// 503 (database or storage down); and for operations with a body, 408 (it arrived too slowly),
/// 413 (too large) and 415 (wrong content type). Operation-specific ones (403, 404, 409, 422)
/// are in each handler's annotation.
struct CommonErrors;

impl utoipa::Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        let always = [
            (
                "400",
                "The request could not be read (malformed query, path or body)",
            ),
            ("401", "Not signed in, or the API token is not valid"),
            (
                "503",
                "The database or the photo store is unavailable; nothing was saved",
            ),
        ];
        let with_body = [
            (
                "408",
                "The request body arrived too slowly; nothing was saved",
            ),
            ("413", "The request body is too large"),
            (
                "415",
                "The request body's content type is not the one this operation takes",
            ),
        ];
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
            ];
            for op in operations.into_iter().flatten() {
                let has_body = op.request_body.is_some();
                let responses = &mut op.responses.responses;
                for (status, description) in
                    always.iter().chain(with_body.iter().filter(|_| has_body))
                {
                    responses
                        .entry(status.to_string())
                        .or_insert_with(|| error(description).into());
                }
            }
        }
    }
}

/// The OpenAPI document of this API, generated from the code.
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[utoipa::path(get, path = "/api/v1/me", responses((status = 200, body = MeJson), (status = 401, body = ErrorBody)))]
/// Who the caller is, as the service sees them.
async fn me(CurrentUser(user): CurrentUser) -> Json<MeJson> {
    Json(MeJson {
        id: user.user_id.into_string(),
        email: user.email,
        name: user.name,
        role: user.role,
        practice_id: user.practice_id.map(PracticeId::into_string),
        specialties: user.specialties,
    })
}

#[utoipa::path(
    get, path = "/api/v1/audit",
    params(
        ("nhs_number" = Option<String>, Query, description = "Only events about this patient's cases and calls, and lists that showed them"),
        ("user" = Option<String>, Query, description = "Only what this person (email) did"),
        ("from" = Option<String>, Query, description = "First day, YYYY-MM-DD (UTC)"),
        ("to" = Option<String>, Query, description = "Last day, YYYY-MM-DD, included"),
    ),
    responses(
        (status = 200, description = "Newest first, at most 10,000 events; with `Accept: text/csv`, the same as CSV", body = AuditList),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "invalid_nhs_number, unknown_user, invalid_date or invalid_period", body = ErrorBody),
    )
)]
/// The audit trail: who viewed or changed what, by patient, person and period (admins).
async fn audit(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    headers: axum::http::HeaderMap,
    Query(q): Query<crate::service::admin::AuditQuery>,
) -> AppResult<Response> {
    let found = crate::service::admin::audit_trail(&state, &user, &q).await?;
    if super::wants_csv(&headers) {
        return Ok(super::csv_download(
            crate::service::admin::audit_csv(&found),
            "aghub-audit.csv",
        ));
    }
    Ok(Json(AuditList {
        events: found
            .into_iter()
            .map(|f| AuditEventJson {
                at: rfc3339(f.event.at_ms),
                actor_id: f.event.actor_id,
                actor_email: f.actor_email,
                action: f.event.action,
                case_id: f.event.case_id,
                subject_id: f.event.subject_id,
                detail: f.event.detail,
            })
            .collect(),
    })
    .into_response())
}

/// The case as the API shows it; `detail` adds history, question and the conversation.
pub async fn case_json(state: &AppState, row: &CaseRow, detail: bool) -> AppResult<CaseJson> {
    let (photos, messages) = cases::photos_and_messages(state, row, detail).await?;
    Ok(case_view(state.now_ms(), row, photos, messages))
}

/// Many cases for a queue or list, without history or conversation; photos in one query.
async fn case_list(state: &AppState, rows: &[CaseRow]) -> AppResult<CaseList> {
    let mut photos = cases::photos_of_listed(state, rows).await?;
    let now = state.now_ms();
    let cases = rows
        .iter()
        .map(|row| case_view(now, row, photos.remove(&row.id).unwrap_or_default(), None))
        .collect();
    Ok(CaseList { cases })
}

fn case_view(
    now: i64,
    row: &CaseRow,
    photos: Vec<PhotoRow>,
    messages: Option<Vec<MessageRow>>,
) -> CaseJson {
    let status = row.status_at(now);
    let urgency = row.urgency;
    let outcome = row.outcome;
    let photos = photos
        .into_iter()
        .map(|p| {
            let warnings: Vec<String> = serde_json::from_str(&p.warnings).unwrap_or_default();
            PhotoJson {
                warning_messages: warnings
                    .iter()
                    .map(|w| warning_message(w).to_string())
                    .collect(),
                warnings,
                href: format!("/api/v1/cases/{}/photos/{}", row.id, p.id),
                id: p.id,
                width: p.width,
                height: p.height,
                content_type: p.content_type,
                sha256: p.sha256,
                kind: p.kind,
                body_site: p.body_site,
                with_response: p.message_id.is_some(),
                taken_by: if p.by_patient { "patient" } else { "gp" },
            }
        })
        .collect();
    let messages = messages.map(|rows| {
        rows.into_iter()
            .map(|m| MessageJson {
                kind: m.kind,
                author: m.author_name,
                body: m.body,
                outcome: m.outcome,
                other_topic: m.other_topic,
                at: rfc3339(m.created_at_ms),
            })
            .collect()
    });
    let detail = messages.is_some();
    CaseJson {
        id: row.id.clone(),
        specialty: row.specialty.clone(),
        status,
        urgency,
        sex: row.sex,
        nhs_number: row.nhs_number.clone(),
        date_of_birth: row.date_of_birth.clone(),
        practice: PracticeJson {
            ods_code: row.practice_ods.clone(),
            name: row.practice_name.clone(),
        },
        conversion_authorised: row.conversion_authorised,
        submitted_at: rfc3339(row.submitted_at_ms),
        due_at: rfc3339(due_at_ms(
            row.submitted_at_ms,
            urgency,
            row.routine_target_ms,
            row.urgent_target_ms,
        )),
        claimed_by: if status == CaseStatus::Claimed {
            row.claimed_by.clone()
        } else {
            None
        },
        photos,
        outcome,
        advice: row.advice.clone(),
        answered_at: row.answered_at_ms.map(rfc3339),
        closed_at: row.closed_at_ms.map(rfc3339),
        two_week_wait: outcome == Some(Outcome::ReferTwoWeekWait),
        gp_responded: row.gp_responded_at_ms.is_some(),
        referral: outcome
            .and_then(Outcome::referral_priority)
            .map(|priority| {
                let converted = status == CaseStatus::Converted;
                ReferralJson {
                    priority,
                    converted_at: row.answered_at_ms.filter(|_| converted).map(rfc3339),
                    converted_by: row.answered_by.clone().filter(|_| converted),
                    due_at: row.referral_due_at_ms.map(rfc3339),
                    referred_on: row.referred_on.clone(),
                    reference: row.referral_reference.clone(),
                }
            }),
        referral_overdue: row.referral_overdue_at(now),
        history: detail.then(|| row.history.clone()),
        question: detail.then(|| row.question.clone()),
        messages,
    }
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

#[utoipa::path(
    post, path = "/api/v1/cases",
    request_body(content = CaseSubmission, content_type = "multipart/form-data"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retrying with the same key returns the case made the first time")),
    responses(
        (status = 201, description = "Created", body = CaseJson),
        (status = 200, description = "A retry: the case this key already created", body = CaseJson),
        (status = 403, description = "Not a GP of a practice", body = ErrorBody), (status = 413, description = "The body, a photo or the number of photos is over its limit", body = ErrorBody), (status = 415, description = "A photo is not JPEG, HEIC/HEIF, PNG, WebP or AVIF, or the body is not multipart/form-data", body = ErrorBody),
        (status = 422, description = "A field or photo is invalid", body = ErrorBody),
    )
)]
/// A GP opens a case.
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
        // Read the retried body, unprocessed: a client still sending it would otherwise see its
        // connection closed (a broken pipe) instead of this answer.
        let mut multipart = multipart;
        case_form::drain(&mut multipart).await;
        let row = cases::view(&state, &user, &id).await?;
        return Ok((StatusCode::OK, Json(case_json(&state, &row, true).await?)).into_response());
    }
    let case_id = cases::new_case_id();
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

#[utoipa::path(get, path = "/api/v1/cases/{id}", params(("id" = String, Path)), responses((status = 200, body = CaseJson), (status = 404, description = "No such case that you may see", body = ErrorBody)))]
/// One case, for its practice, the consultants who may answer it, and admins.
async fn get_case(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<CaseJson>> {
    let id = cases::case_id(&id)?;
    let row = cases::view(&state, &user, &id).await?;
    Ok(Json(case_json(&state, &row, true).await?))
}

#[utoipa::path(
    get, path = "/api/v1/cases/{id}/photos/{photo_id}",
    params(("id" = String, Path), ("photo_id" = String, Path), ("size" = Option<String>, Query, description = "full (default), display or thumb")),
    responses((status = 200, description = "The image: JPEG, or PNG for the full size of a PNG upload (kept lossless)", content(("image/jpeg"), ("image/png"))), (status = 404, description = "No such case or photo that you may see", body = ErrorBody), (status = 422, description = "size is not full, display or thumb", body = ErrorBody))
)]
/// A photo's stored, metadata-free bytes.
async fn get_photo(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, photo_id)): Path<(String, String)>,
    Query(q): Query<SizeQuery>,
) -> AppResult<Response> {
    let id = cases::case_id(&id)?;
    let photo_id = cases::photo_id(&photo_id)?;
    photo_response(&state, &user, &id, &photo_id, q.size.as_deref()).await
}

#[utoipa::path(
    get, path = "/api/v1/cases/{id}/letter.pdf",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The advice letter for the GP record, an A4 PDF; the same until the case changes. `ETag` is its SHA-256; `X-Letter-Version` counts the distinct letters of this case", content_type = "application/pdf", body = Vec<u8>),
        (status = 404, description = "No such case that you may see", body = ErrorBody),
        (status = 409, description = "No consultant has replied yet (`not_answered`)", body = ErrorBody),
    )
)]
/// The advice letter (contract 1.1): practice, patient, question, history, every message and
/// reply, outcome, consultant, times and photo thumbnails. Each download is audited with the
/// letter's SHA-256 and version.
async fn get_letter(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = cases::case_id(&id)?;
    let file = crate::service::letters::download(&state, &user, &id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", file.file_name),
            ),
            (header::ETAG, format!("\"{}\"", file.sha256)),
            (
                header::HeaderName::from_static("x-letter-version"),
                file.version.to_string(),
            ),
        ],
        file.bytes,
    )
        .into_response())
}

#[utoipa::path(
    get, path = "/api/v1/cases/{id}/fhir",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The case as a FHIR R4 Bundle (type collection) with UK Core profiles where they exist; the same ids for the same case on every export (docs/fhir.md)", content_type = "application/fhir+json", body = FhirBundleJson),
        (status = 404, description = "No such case that you may see", body = ErrorBody),
    )
)]
/// The case for a GP clinical system (contract 1.1): Patient (NHS number), Organization (ODS
/// code), Practitioners, the A&G ServiceRequest with its status and outcome, the conversation as
/// Communications, the letter and the photos as links. Each export is audited.
async fn get_fhir(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = cases::case_id(&id)?;
    let bundle = crate::service::fhir::export(&state, &user, &id).await?;
    super::api_types::fhir_response(&bundle)
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/cases", params(("status" = Option<CaseStatus>, Query)), responses((status = 200, body = CaseList), (status = 403, description = "Not a GP or an admin", body = ErrorBody), (status = 422, description = "Unknown status", body = ErrorBody)))]
/// A GP's practice's cases (admins: all), newest first.
async fn list_cases(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<CaseList>> {
    let status = q.status.as_deref().filter(|s| !s.is_empty());
    let rows = cases::list(&state, &user, status).await?;
    Ok(Json(case_list(&state, &rows).await?))
}

#[derive(Deserialize)]
pub struct QueueQuery {
    specialty: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/queue", params(("specialty" = Option<String>, Query)), responses((status = 200, body = CaseList), (status = 403, description = "Not a consultant, or not one of this specialty", body = ErrorBody)))]
/// The cases this consultant may claim now, urgent first, then the longest waiting.
async fn queue(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<QueueQuery>,
) -> AppResult<Json<CaseList>> {
    let rows = cases::queue(
        &state,
        &user,
        q.specialty.as_deref().filter(|s| !s.is_empty()),
    )
    .await?;
    Ok(Json(case_list(&state, &rows).await?))
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/claim", params(("id" = String, Path)), responses((status = 200, description = "You hold the case", body = CaseJson), (status = 409, description = "already_claimed, case_closed or awaiting_gp", body = ErrorBody), (status = 403, description = "Not a consultant", body = ErrorBody), (status = 404, description = "No such case that you may see (you are not on duty for it)", body = ErrorBody)))]
/// Claim a case: exclusive; lapses after an hour without activity.
async fn claim(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<CaseJson>> {
    let id = cases::case_id(&id)?;
    let row = cases::claim(&state, &user, &id).await?;
    Ok(Json(case_json(&state, &row, true).await?))
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/release", params(("id" = String, Path)), responses((status = 200, body = CaseJson), (status = 404, description = "No such case that you may see", body = ErrorBody), (status = 409, description = "You do not hold this case", body = ErrorBody)))]
/// Return a claimed case to the queue.
async fn release(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<CaseJson>> {
    let id = cases::case_id(&id)?;
    let row = cases::release(&state, &user, &id).await?;
    Ok(Json(case_json(&state, &row, true).await?))
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/reply", params(("id" = String, Path)), request_body = ReplyBody, responses((status = 200, body = CaseJson), (status = 404, description = "No such case that you may see", body = ErrorBody), (status = 409, description = "You do not hold the claim, or the case moved on", body = ErrorBody), (status = 422, description = "A field is missing or invalid", body = ErrorBody)))]
/// Advice and outcome from the consultant holding the claim.
async fn reply(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    body: Result<Json<serde_json::Value>, axum::extract::rejection::JsonRejection>,
) -> AppResult<Json<CaseJson>> {
    let id = cases::case_id(&id)?;
    let Json(body) = body.map_err(|e| {
        AppError::bad_request("invalid_json", format!("The body must be JSON like {{\"advice\": \"…\", \"outcome\": \"manage_in_primary_care\"}}: {}", e.body_text()))
    })?;
    // Read as loose JSON so an unknown outcome gets the service's precise message.
    let text = |k: &str| {
        body.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    // Topic ids: a list of strings (a comma-separated string is accepted too).
    let topics: Vec<String> = match body.get("topics") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::String(s)) => s.split(',').map(str::to_string).collect(),
        Some(serde_json::Value::Array(items)) if items.iter().all(|t| t.is_string()) => items
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        Some(_) => {
            return Err(invalid_field(
                "topics",
                "invalid_topics",
                "topics must be a list of topic ids, like [\"acne\", \"psoriasis\"].",
            ))
        }
    };
    let other_topic = match body.get("other_topic") {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(invalid_field(
                "other_topic",
                "invalid_other_topic",
                "other_topic must be a string.",
            ))
        }
    };
    let input = cases::ReplyInput {
        advice: text("advice"),
        outcome: text("outcome"),
        topics,
        other_topic,
        redirect_to: text("redirect_to"),
        convert: match body.get("convert") {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(_) => {
                return Err(invalid_field(
                    "convert",
                    "invalid_convert",
                    "convert must be true or false.",
                ))
            }
        },
    };
    let row = cases::reply(&state, &user, &id, &input).await?;
    Ok(Json(case_json(&state, &row, true).await?))
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/referral-made", params(("id" = String, Path)), request_body = ReferralMadeBody, responses((status = 200, body = CaseJson), (status = 403, description = "Not a GP of the case's practice", body = ErrorBody), (status = 404, description = "No such case that you may see", body = ErrorBody), (status = 409, description = "The case has no referral for the GP to make (`not_gp_to_refer`)", body = ErrorBody), (status = 422, description = "The date or reference is invalid", body = ErrorBody)))]
/// The GP confirms they made the referral the consultant advised: the case closes.
async fn referral_made(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    body: Result<Json<ReferralMadeBody>, axum::extract::rejection::JsonRejection>,
) -> AppResult<Json<CaseJson>> {
    let id = cases::case_id(&id)?;
    let Json(body) = body.map_err(|e| {
        AppError::bad_request(
            "invalid_json",
            format!(
                "The body must be JSON like {{\"referred_on\": \"2026-12-01\", \"reference\": \"000012345678\"}}: {}",
                e.body_text()
            ),
        )
    })?;
    let reference = body.reference.unwrap_or_default();
    let row = cases::referral_made(&state, &user, &id, &body.referred_on, &reference).await?;
    Ok(Json(case_json(&state, &row, true).await?))
}

/// The stored, metadata-free bytes, only after the access check; never cached by browsers or proxies.
pub async fn photo_response(
    state: &AppState,
    user: &Principal,
    case_id: &CaseId,
    photo_id: &PhotoId,
    size: Option<&str>,
) -> AppResult<Response> {
    let size = parse_size(size)?;
    let (key, content_type) = cases::photo(state, user, case_id, photo_id, size).await?;
    object_response(state, key, content_type).await
}

fn invalid_field(field: &'static str, code: &'static str, message: &str) -> AppError {
    let mut e = AppError::invalid(code, message);
    e.field = Some(field);
    e
}

#[utoipa::path(get, path = "/api/v1/specialties/{slug}/topics", params(("slug" = String, Path, description = "Specialty slug, e.g. dermatology")), responses((status = 200, body = TopicList), (status = 404, body = ErrorBody)))]
/// The active topics of a specialty's list: the ids a reply's `topics` may carry.
async fn specialty_topics(
    State(state): State<AppState>,
    CurrentUser(_user): CurrentUser,
    Path(slug): Path<String>,
) -> AppResult<Json<TopicList>> {
    let topics = topics::list(&state, &slug).await?;
    Ok(Json(TopicList {
        specialty: slug,
        topics: topics
            .into_iter()
            .filter(|t| t.retired_at_ms.is_none())
            .map(|t| TopicJson {
                id: t.slug,
                label: t.label,
            })
            .collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/respond", params(("id" = String, Path)), request_body(content = GpResponse, content_type = "multipart/form-data"), responses((status = 200, body = CaseJson), (status = 403, description = "Not a GP of the case's practice", body = ErrorBody), (status = 404, description = "No such case that you may see", body = ErrorBody), (status = 409, description = "The case is not waiting for the GP", body = ErrorBody), (status = 422, description = "A field or photo is invalid", body = ErrorBody)))]
/// The GP's response to a request for information: back to the consultant who asked (contract
/// 1.1), or to the queue when they have been off duty longer than the escalation window.
async fn respond(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    multipart: Multipart,
) -> AppResult<Json<CaseJson>> {
    let id = cases::case_id(&id)?;
    // Check access before reading (and storing) any photo.
    cases::load(&state, &user, &id).await?;
    let submission = case_form::read(&state, &id, multipart, None).await?;
    let row = cases::respond(&state, &user, &id, &submission.message, submission.photos).await?;
    Ok(Json(case_json(&state, &row, true).await?))
}

async fn not_found() -> AppError {
    AppError::not_found("There is no API route at this address; see /api/v1/openapi.json.")
}
