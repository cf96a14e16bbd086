//! The GP's side of patients' photo links (contract 1.1): make one (API and page, with a QR
//! code on the page), and revoke it.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::auth::CurrentUser;
use super::csrf::CsrfForm;
use super::error::{AppError, AppResult};
use super::templates::{render, Layout};
use super::uk_time;
use crate::service::{cases, photo_requests, AppState};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PhotoRequestBody {
    /// The patient's email address, to send the link to (optional: the GP's page also shows
    /// it as a QR code).
    send_to: Option<String>,
    /// The patient's UK mobile number, to text the link to (optional; an aghub addition to
    /// contract 1.1).
    text_to: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PhotoRequestJson {
    id: String,
    /// The patient's one-time link; shown once (only its hash is kept).
    url: String,
    expires_at: String,
}

#[utoipa::path(
    post, path = "/api/v1/cases/{id}/photo-requests",
    params(("id" = String, Path)),
    request_body = PhotoRequestBody,
    responses(
        (status = 201, description = "The patient's one-time link", body = PhotoRequestJson),
        (status = 403, description = "Not a GP of the case's practice", body = super::api_types::ErrorBody),
        (status = 404, description = "No case with this id that you can see", body = super::api_types::ErrorBody),
        (status = 409, description = "The case is answered: `case_not_open`", body = super::api_types::ErrorBody),
        (status = 422, description = "`send_to` is not an email address or `text_to` not a UK mobile number, or that channel is off", body = super::api_types::ErrorBody),
    )
)]
/// The GP asks the patient for photos of this case.
pub async fn api_create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<PhotoRequestBody>,
) -> AppResult<Response> {
    let id = cases::case_id(&id)?;
    let send_to = photo_requests::SendTo {
        email: body.send_to.as_deref(),
        mobile: body.text_to.as_deref(),
    };
    let made = photo_requests::create(&state, &user, &id, send_to).await?;
    Ok((
        StatusCode::CREATED,
        Json(PhotoRequestJson {
            id: made.id,
            url: made.url,
            expires_at: crate::clock::rfc3339(made.expires_at_ms),
        }),
    )
        .into_response())
}

#[utoipa::path(
    delete, path = "/api/v1/photo-requests/{id}",
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Revoked: the link no longer opens"),
        (status = 404, description = "No photo request of yours with this id", body = super::api_types::ErrorBody),
        (status = 409, description = "Already revoked, or the patient has sent the photos: `not_open`", body = super::api_types::ErrorBody),
    )
)]
/// The GP revokes a patient's link.
pub async fn api_revoke(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    photo_requests::revoke(&state, &user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Template)]
#[template(path = "photo_request_made.html")]
struct MadePage {
    layout: Layout,
    case_id: String,
    url: String,
    qr_svg: String,
    until: String,
    /// Where the link went besides this page ("alex@example.org and 07700 900123").
    sent_to: Option<String>,
}

#[derive(Deserialize)]
pub struct MakeForm {
    #[serde(default)]
    send_to: String,
    #[serde(default)]
    text_to: String,
}

/// The page's "Ask the patient for photos": the link once, as text and as a QR code.
pub async fn page_create(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<MakeForm>,
) -> AppResult<Html<String>> {
    let id = cases::case_id(&id)?;
    let given = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let (email, mobile) = (given(&form.send_to), given(&form.text_to));
    let send_to = photo_requests::SendTo {
        email: email.as_deref(),
        mobile: mobile.as_deref(),
    };
    let made = photo_requests::create(&state, &user, &id, send_to).await?;
    let sent_to = match (email, mobile) {
        (Some(e), Some(m)) => Some(format!("{e} and {m}")),
        (e, m) => e.or(m),
    };
    let qr_svg = qrcode::QrCode::new(made.url.as_bytes())
        .map_err(AppError::internal)?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(240, 240)
        .build();
    render(&MadePage {
        layout: Layout::signed_in(&state, &session, &user).await?,
        case_id: id.to_string(),
        url: made.url,
        qr_svg,
        until: uk_time::format(made.expires_at_ms),
        sent_to,
    })
}

pub async fn page_revoke(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((case_id, id)): Path<(String, String)>,
    CsrfForm(_): CsrfForm<super::case_pages::Empty>,
) -> AppResult<Redirect> {
    let case_id = cases::case_id(&case_id)?;
    photo_requests::revoke(&state, &user, &id).await?;
    Ok(Redirect::to(&format!("/cases/{case_id}#patient-photos")))
}
