//! Instant quality feedback: the new-case form sends each photo here as soon as the GP picks
//! it, while the patient is still in the room. Nothing is stored; the photo is checked by the
//! same pipeline that will process it on submission.

use axum::extract::{Multipart, State};
use axum::Json;
use serde::Serialize;

use super::auth::CurrentUser;
use super::case_form::only_photo;
use super::error::{AppError, AppResult};
use crate::service::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PhotoCheck {
    pub width: u32,
    pub height: u32,
    pub warnings: Vec<&'static str>,
    pub warning_messages: Vec<&'static str>,
}

#[utoipa::path(
    post, path = "/api/v1/photo-checks",
    request_body(content = super::api_types::PhotoCheckUpload, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The photo's size and the quality warnings it would get; nothing is stored", body = PhotoCheck),
        (status = 403, description = "Not a GP of a practice", body = super::api_types::ErrorBody),
        (status = 413, description = "The photo is over the size or pixel limit", body = super::api_types::ErrorBody),
        (status = 415, description = "Not a JPEG, HEIC/HEIF, PNG, WebP or AVIF photo, or the body is not multipart/form-data", body = super::api_types::ErrorBody),
        (status = 422, description = "No photo part, or the photo is damaged", body = super::api_types::ErrorBody),
    )
)]
/// `POST /api/v1/photo-checks` with one `photo` part: the warnings it would get, or the error.
pub async fn check(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    mut multipart: Multipart,
) -> AppResult<Json<PhotoCheck>> {
    if !user.may_submit_cases() {
        return Err(AppError::forbidden(
            "Only GPs check photos before sending a case.",
        ));
    }
    let photo = only_photo(&mut multipart).await?;
    let processed = state
        .process_photo(photo)
        .await
        .map_err(AppError::internal)?
        .map_err(|e| AppError::from_image(&e, e.to_string()))?;
    Ok(Json(PhotoCheck {
        width: processed.full.width,
        height: processed.full.height,
        warnings: processed.warnings.iter().map(|w| w.code()).collect(),
        warning_messages: processed.warnings.iter().map(|w| w.message()).collect(),
    }))
}

/// The GP-facing sentence for a stored warning code.
pub fn warning_message(code: &str) -> &'static str {
    crate::imaging::QualityWarning::from_code(code).map_or("", |w| w.message())
}
