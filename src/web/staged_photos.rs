//! Photos uploaded as the GP picks them (`/api/v1/staged-photos`), each its own request with
//! its own progress and retry; the case or response then refers to them by id. Owner only.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::auth::CurrentUser;
use super::case_form::only_photo;
use super::error::AppResult;
use super::photo_bytes::{object_response, parse_size, SizeQuery};
use super::photo_check::warning_message;
use crate::clock::rfc3339;
use crate::service::photos::{self, StagedPhoto};
use crate::service::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StagedPhotoJson {
    /// Send as a `staged_photo` part of a case or GP response (each may be followed by
    /// `photo_kind` and `photo_site`, as for a `photo` part).
    pub id: String,
    pub width: u32,
    pub height: u32,
    pub warnings: Vec<&'static str>,
    pub warning_messages: Vec<&'static str>,
    /// The cleaned thumbnail, for the form to show.
    pub thumb_href: String,
    /// RFC 3339: unless a case or response takes it by then, it is deleted.
    pub expires_at: String,
}

impl From<StagedPhoto> for StagedPhotoJson {
    fn from(p: StagedPhoto) -> Self {
        StagedPhotoJson {
            thumb_href: format!("/api/v1/staged-photos/{}?size=thumb", p.id),
            warning_messages: p.warnings.iter().map(|w| warning_message(w)).collect(),
            warnings: p.warnings,
            width: p.width,
            height: p.height,
            expires_at: rfc3339(p.expires_at_ms),
            id: p.id,
        }
    }
}

#[utoipa::path(
    post, path = "/api/v1/staged-photos",
    request_body(content = super::api_types::PhotoCheckUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored, cleaned and checked; refer to it by id within 24 hours", body = StagedPhotoJson),
        (status = 403, description = "Not a GP of a practice", body = super::api_types::ErrorBody),
        (status = 413, description = "The photo is over the size or pixel limit, or you hold too many staged photos", body = super::api_types::ErrorBody),
        (status = 415, description = "Not a JPEG, HEIC/HEIF, PNG, WebP or AVIF photo, or the body is not multipart/form-data", body = super::api_types::ErrorBody),
        (status = 422, description = "No photo part, or the photo is damaged", body = super::api_types::ErrorBody),
    )
)]
/// One photo, uploaded as soon as the GP picks it.
pub async fn stage(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    mut multipart: Multipart,
) -> AppResult<Response> {
    let photo = only_photo(&mut multipart).await?;
    let staged = photos::stage(&state, &user, photo).await?;
    Ok((StatusCode::CREATED, Json(StagedPhotoJson::from(staged))).into_response())
}

#[utoipa::path(
    get, path = "/api/v1/staged-photos/{id}",
    params(("id" = String, Path), ("size" = Option<String>, Query, description = "full (default), display or thumb")),
    responses((status = 200, description = "The cleaned image", content(("image/jpeg"), ("image/png"))), (status = 403, description = "Not a GP of a practice", body = super::api_types::ErrorBody), (status = 404, description = "No staged photo of yours with this id", body = super::api_types::ErrorBody), (status = 422, description = "size is not full, display or thumb", body = super::api_types::ErrorBody))
)]
/// A photo the GP uploaded ahead, for the form to show; only to that GP.
pub async fn get(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<SizeQuery>,
) -> AppResult<Response> {
    let size = parse_size(q.size.as_deref())?;
    let (key, content_type) = photos::staged_object(&state, &user, &id, size).await?;
    object_response(&state, key, content_type).await
}

#[utoipa::path(
    delete, path = "/api/v1/staged-photos/{id}",
    params(("id" = String, Path)),
    responses((status = 204, description = "Removed, with its stored copies"), (status = 403, description = "Not a GP of a practice", body = super::api_types::ErrorBody), (status = 404, description = "No staged photo of yours with this id", body = super::api_types::ErrorBody))
)]
/// The GP removes a photo before sending.
pub async fn remove(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    photos::unstage(&state, &user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
