//! Live calls over the API (contract 1.1, `/api/v1/calls…`).

use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::api_types::ErrorBody;
use super::auth::CurrentUser;
use super::error::{AppError, AppResult};
use crate::clock::rfc3339;
use crate::domain::access::Principal;
use crate::domain::calls::{CallStatus, Party};
use crate::domain::queue::Pool;
use crate::domain::Outcome;
use crate::service::calls::{self, CallView};
use crate::service::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CallRequest {
    #[schema(example = "dermatology")]
    pub specialty: String,
    #[schema(example = "943 476 5919")]
    pub nhs_number: String,
    #[schema(example = "1984-03-27")]
    pub date_of_birth: String,
    /// One line: why the GP is calling.
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CallOutcomeBody {
    /// Read as text so that an unknown word gets the service's 422 naming the field.
    #[schema(value_type = Outcome)]
    pub outcome: String,
    /// A short note of what was agreed.
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CallOutcomesJson {
    pub gp: Option<Outcome>,
    pub consultant: Option<Outcome>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingJson {
    pub id: String,
    pub duration_s: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CallJson {
    pub id: String,
    pub specialty: String,
    pub nhs_number: String,
    pub date_of_birth: String,
    pub reason: String,
    pub status: CallStatus,
    /// The pool being rung now, while the call rings.
    pub pool: Option<Pool>,
    pub started_at: String,
    /// The consultant who answered (their name).
    pub answered_by: Option<String>,
    /// The rota they answered from.
    pub answered_pool: Option<Pool>,
    pub answered_at: Option<String>,
    pub ended_at: Option<String>,
    pub outcomes: CallOutcomesJson,
    /// Once the consultant's browser has sent the first chunk; its id is the call's.
    pub recording: Option<RecordingJson>,
    /// The written case an unanswered call became.
    pub case_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CallList {
    pub calls: Vec<CallJson>,
}

fn call_json(c: &CallView) -> CallJson {
    let r = &c.row;
    CallJson {
        id: r.id.clone(),
        specialty: r.specialty.clone(),
        nhs_number: r.nhs_number.clone(),
        date_of_birth: r.date_of_birth.clone(),
        reason: r.reason.clone(),
        status: r.status,
        pool: c.ringing_pool,
        started_at: rfc3339(r.times.started_at_ms),
        answered_by: r.answered_by_name.clone(),
        answered_pool: r.answered_pool,
        answered_at: r.answered_at_ms.map(rfc3339),
        ended_at: r.ended_at_ms.map(rfc3339),
        outcomes: CallOutcomesJson {
            gp: r.gp_outcome.as_ref().map(|o| o.outcome),
            consultant: r.consultant_outcome.as_ref().map(|o| o.outcome),
        },
        recording: c.recording_ms.map(|ms| RecordingJson {
            id: r.id.clone(),
            duration_s: ms as f64 / 1000.0,
        }),
        case_id: r.case_id.clone(),
    }
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>, example: &str) -> AppResult<T> {
    body.map(|Json(b)| b).map_err(|e| {
        AppError::bad_request(
            "invalid_json",
            format!("The body must be JSON like {example}: {}", e.body_text()),
        )
    })
}

#[utoipa::path(post, path = "/api/v1/calls", request_body = CallRequest, responses(
    (status = 201, body = CallJson),
    (status = 403, description = "Not a GP of a practice", body = ErrorBody),
    (status = 409, description = "Nobody is on duty for the specialty now (`nobody_on_duty`)", body = ErrorBody),
    (status = 422, description = "A field is missing or invalid", body = ErrorBody)))]
/// The GP calls the specialty on duty: its local consultants are rung in rota order, then the
/// national pool; unanswered by the give-up time, the call becomes a written case.
pub async fn start(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    body: Result<Json<CallRequest>, JsonRejection>,
) -> AppResult<Response> {
    let body = json_body(
        body,
        r#"{"specialty": "dermatology", "nhs_number": "9434765919", "date_of_birth": "1984-03-27", "reason": "…"}"#,
    )?;
    let call = calls::start(
        &state,
        &user,
        &calls::CallInput {
            specialty: body.specialty,
            nhs_number: body.nhs_number,
            date_of_birth: body.date_of_birth,
            reason: body.reason,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(call_json(&call))).into_response())
}

#[utoipa::path(get, path = "/api/v1/calls/{id}", params(("id" = String, Path)), responses(
    (status = 200, body = CallJson),
    (status = 404, description = "No such call that you may see", body = ErrorBody)))]
/// The call, for the calling practice's GPs, the consultants it has rung, and admins.
pub async fn get_call(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<CallJson>> {
    Ok(Json(call_json(&calls::view(&state, &user, &id).await?)))
}

#[utoipa::path(get, path = "/api/v1/calls/incoming", responses(
    (status = 200, body = CallList),
    (status = 403, description = "Not a consultant", body = ErrorBody)))]
/// The calls ringing this consultant now.
pub async fn incoming(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> AppResult<Json<CallList>> {
    let incoming = calls::incoming(&state, &user).await?;
    Ok(Json(CallList {
        calls: incoming.calls.iter().map(call_json).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/calls/{id}/answer", params(("id" = String, Path)), responses(
    (status = 200, body = CallJson),
    (status = 404, description = "No such call that has rung you", body = ErrorBody),
    (status = 409, description = "`already_answered` (another consultant was first), `call_missed` (it became a written case) or `not_ringing_you` (your turn passed, or your shift ended)", body = ErrorBody)))]
/// Answers a call ringing this consultant: the first answer wins.
pub async fn answer(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<CallJson>> {
    Ok(Json(call_json(&calls::answer(&state, &user, &id).await?)))
}

#[utoipa::path(post, path = "/api/v1/calls/{id}/decline", params(("id" = String, Path)), responses(
    (status = 200, body = CallJson),
    (status = 404, description = "No such call that has rung you", body = ErrorBody),
    (status = 409, description = "The call is not ringing you now", body = ErrorBody)))]
/// Declines a call ringing this consultant: the next on the rota is rung at once (an aghub
/// addition to contract 1.1).
pub async fn decline(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<CallJson>> {
    Ok(Json(call_json(&calls::decline(&state, &user, &id).await?)))
}

#[utoipa::path(post, path = "/api/v1/calls/{id}/end", params(("id" = String, Path)), responses(
    (status = 200, body = CallJson),
    (status = 404, description = "Not a party to this call", body = ErrorBody),
    (status = 409, description = "The call was not answered (`not_answered`)", body = ErrorBody)))]
/// Either party ends an answered call (ending it again changes nothing).
pub async fn end(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<CallJson>> {
    Ok(Json(call_json(&calls::end(&state, &user, &id).await?)))
}

#[utoipa::path(post, path = "/api/v1/calls/{id}/outcome", params(("id" = String, Path)), request_body = CallOutcomeBody, responses(
    (status = 200, body = CallJson),
    (status = 404, description = "Not a party to this call", body = ErrorBody),
    (status = 409, description = "`outcome_recorded` (once per party) or `not_answered`", body = ErrorBody),
    (status = 422, description = "The note is too long or holds control characters", body = ErrorBody)))]
/// Each party records their own outcome of the call, once.
pub async fn outcome(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    body: Result<Json<CallOutcomeBody>, JsonRejection>,
) -> AppResult<Json<CallJson>> {
    let body = json_body(
        body,
        r#"{"outcome": "manage_in_primary_care", "note": "…"}"#,
    )?;
    let input = calls::OutcomeInput {
        outcome: body.outcome,
        note: body.note,
    };
    Ok(Json(call_json(
        &calls::record_outcome(&state, &user, &id, &input).await?,
    )))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ChunkQuery {
    /// The chunk's number, from 0.
    pub seq: i64,
    /// The recording's length at the end of this chunk, in milliseconds.
    pub media_ms: i64,
}

#[utoipa::path(post, path = "/api/v1/calls/{id}/recording", params(("id" = String, Path), ChunkQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The next few seconds of the recording (both voices) as MediaRecorder made them: WebM audio, whatever the Content-Type says (browsers send `audio/webm`)"),
    responses(
    (status = 200, body = CallJson),
    (status = 404, description = "Not the consultant who answered this call", body = ErrorBody),
    (status = 409, description = "The call is not being recorded now (`not_recording`)", body = ErrorBody),
    (status = 422, description = "A bad sequence number or length, or not WebM", body = ErrorBody)))]
/// The answering consultant's browser uploads the recording a chunk at a time (an aghub
/// addition to contract 1.1), so a tab closed mid-call loses at most the last chunk.
pub async fn add_chunk(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<ChunkQuery>,
    body: axum::body::Bytes,
) -> AppResult<Json<CallJson>> {
    let chunk = calls::Chunk {
        seq: q.seq,
        media_ms: q.media_ms,
        bytes: body,
    };
    Ok(Json(call_json(
        &calls::add_recording_chunk(&state, &user, &id, chunk).await?,
    )))
}

#[utoipa::path(get, path = "/api/v1/calls/{id}/recording", params(("id" = String, Path)), responses(
    (status = 200, description = "The recording, WebM audio", content_type = "audio/webm"),
    (status = 404, description = "No recording that you may play", body = ErrorBody)))]
/// Plays the call's recording: the calling practice, the answering consultant while on duty,
/// and admins; every playback is in the audit trail.
pub async fn get_recording(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let keys = calls::recording(&state, &user, &id).await?;
    // One object after another: chunks of one MediaRecorder run concatenate into one file.
    let blobs = state.blobs.clone();
    let body = futures::stream::iter(keys)
        .then(move |key| {
            let blobs = blobs.clone();
            async move {
                blobs
                    .read_stream(&key)
                    .await
                    .map(|o| o.chunks)
                    .map_err(std::io::Error::other)
            }
        })
        .try_flatten();
    Ok((
        [
            (header::CONTENT_TYPE, "audio/webm"),
            (header::CACHE_CONTROL, "private, no-store"),
            (header::CONTENT_DISPOSITION, "inline"),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/calls/{id}/letter.pdf", params(("id" = String, Path)), responses(
    (status = 200, description = "The call's record for the GP record (PDF)", content_type = "application/pdf"),
    (status = 404, description = "No such call that you may see", body = ErrorBody),
    (status = 409, description = "The call is not over yet (`not_ended`)", body = ErrorBody)))]
/// The record of a call for the GP record: times, who answered, both outcomes and notes, and
/// where the recording is kept (an aghub addition to contract 1.1).
pub async fn get_record(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let file = crate::service::letters::call_record(&state, &user, &id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", file.file_name),
            ),
            (header::ETAG, format!("\"{}\"", file.sha256)),
        ],
        file.bytes,
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/calls/{id}/fhir", params(("id" = String, Path)), responses(
    (status = 200, description = "The call as a FHIR R4 Bundle (type collection): Patient, Organization, Practitioners, the A&G ServiceRequest with both outcomes, the Encounter, the recording as Media and the call's record as a DocumentReference (docs/fhir.md)", content_type = "application/fhir+json", body = super::api_types::FhirBundleJson),
    (status = 404, description = "No such call that you may see", body = ErrorBody)))]
/// The call for a GP clinical system (an aghub addition beside the case's bundle). Audited.
pub async fn get_fhir(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let bundle = crate::service::fhir::calls::export(&state, &user, &id).await?;
    super::api_types::fhir_response(&bundle)
}

/// What a call's socket sends: the call whenever it changes, and the other party's signalling.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ToBrowser<'a> {
    Call { call: &'a CallJson },
    Signal { data: serde_json::Value },
    Incoming { calls: &'a [CallJson] },
    Error { message: String },
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FromBrowser {
    Signal { data: serde_json::Value },
}

/// A browser socket must come from our own pages: a cookie-authenticated upgrade from another
/// site would otherwise be a way in (cross-site WebSocket hijacking).
fn upgrade_from_our_pages(headers: &HeaderMap) -> AppResult<()> {
    super::csrf::check_origin(headers)
}

/// `GET /calls/{id}/socket`: the two parties' pages. Sends the call as it changes (answered,
/// ended, become a written case) and relays WebRTC signalling between the two browsers, which
/// may be connected to different instances.
pub async fn call_socket(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> AppResult<Response> {
    upgrade_from_our_pages(&headers)?;
    let (call, party) = calls::as_party(&state, &user, &id).await?;
    let id = call.row.id.clone();
    Ok(ws
        .max_message_size(calls::MAX_SIGNAL_BYTES + 1024)
        .on_upgrade(move |socket| relay(socket, state, id, party)))
}

async fn relay(mut socket: WebSocket, state: AppState, id: String, party: Party) {
    let mut events = state.call_events.subscribe();
    let mut last_sent: Option<String> = None;
    let mut last_signal = String::new();
    loop {
        // Everything that may have changed since the last wake-up, then wait for the next.
        match calls::view_of_settled(&state, &id).await {
            Ok(call) => {
                let json = serde_json::to_string(&ToBrowser::Call {
                    call: &call_json(&call),
                })
                .unwrap_or_default();
                if last_sent.as_ref() != Some(&json) {
                    if socket.send(Message::text(json.clone())).await.is_err() {
                        return;
                    }
                    last_sent = Some(json);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "a call socket could not read its call");
            }
        }
        match calls::signals_for(&state, &id, party, &last_signal).await {
            Ok(signals) => {
                for s in signals {
                    let data = serde_json::from_str(&s.body).unwrap_or_default();
                    let text =
                        serde_json::to_string(&ToBrowser::Signal { data }).unwrap_or_default();
                    if socket.send(Message::text(text)).await.is_err() {
                        return;
                    }
                    last_signal = s.id;
                }
            }
            Err(e) => tracing::warn!(error = %e, "a call socket could not read its signals"),
        }
        tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    let result = match serde_json::from_str::<FromBrowser>(&text) {
                        Ok(FromBrowser::Signal { data }) => {
                            calls::send_signal(&state, &id, party, &data.to_string()).await.map_err(|e| e.to_string())
                        }
                        Err(e) => Err(format!("not a message this socket takes: {e}")),
                    };
                    if let Err(message) = result {
                        let text = serde_json::to_string(&ToBrowser::Error { message }).unwrap_or_default();
                        if socket.send(Message::text(text)).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            () = this_call_changes(&mut events, &id) => {}
            // A missed wake-up costs at most this long; the ringing phase also moves on in time.
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

/// Resolves when the call changes (or when a change may have been missed: lag, reconnection).
async fn this_call_changes(events: &mut tokio::sync::broadcast::Receiver<String>, id: &str) {
    loop {
        match events.recv().await {
            Ok(changed) if !changed.is_empty() && changed != id => continue,
            _ => return,
        }
    }
}

/// `GET /calls/incoming/socket`: a consultant's pages ring when a call rings them. Sends the
/// list of calls ringing them whenever it changes.
pub async fn incoming_socket(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> AppResult<Response> {
    upgrade_from_our_pages(&headers)?;
    if user.role != crate::domain::Role::Consultant {
        return Err(AppError::forbidden("Only consultants are rung for calls."));
    }
    Ok(ws.on_upgrade(move |socket| ring(socket, state, user)))
}

async fn ring(mut socket: WebSocket, state: AppState, user: Principal) {
    let mut events = state.call_events.subscribe();
    let mut last_sent: Option<String> = None;
    loop {
        let mut wait = Duration::from_secs(10);
        match calls::incoming(&state, &user).await {
            Ok(incoming) => {
                let list: Vec<CallJson> = incoming.calls.iter().map(call_json).collect();
                let json = serde_json::to_string(&ToBrowser::Incoming { calls: &list })
                    .unwrap_or_default();
                if last_sent.as_ref() != Some(&json) {
                    if socket.send(Message::text(json.clone())).await.is_err() {
                        return;
                    }
                    last_sent = Some(json);
                }
                if let Some(t) = incoming.next_change_ms {
                    let ms = (t - state.now_ms()).clamp(0, 10_000);
                    wait = Duration::from_millis(u64::try_from(ms).unwrap_or(0) + 20);
                }
            }
            Err(e) => tracing::warn!(error = %e, "a ringing socket could not read the calls"),
        }
        tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = events.recv() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}
