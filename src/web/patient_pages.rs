//! The patient's pages (issue 16): no account, a one-time link, the date of birth as a second
//! factor, then guided capture. They show only the practice's name and what to photograph:
//! never the NHS number, the history or other photos. Plain HTML forms, one photo per request,
//! so a slow phone connection loses at most the photo in flight.

use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::csrf::{self, CsrfForm};
use super::error::{AppError, AppResult};
use super::templates::{render, Layout};
use crate::db::photo_requests::RequestRow;
use crate::domain::PhotoKind;
use crate::imaging::QualityWarning;
use crate::service::{photo_requests, AppState, FieldError, ServiceError};

/// The session key naming the link whose date of birth this browser answered.
const VERIFIED: &str = "patient_link";

#[derive(Template)]
#[template(path = "patient_start.html")]
struct StartPage {
    layout: Layout,
    token: String,
    practice: String,
    errors: Vec<FieldError>,
    day: String,
    month: String,
    year: String,
}

struct PhotoView {
    id: String,
    kind_label: &'static str,
    kept: bool,
    /// Plain words: what is wrong and what to do.
    advice: Vec<&'static str>,
}

struct Slot {
    kind: &'static str,
    title: &'static str,
    how: &'static str,
    picture: &'static str,
    optional: bool,
}

const SLOTS: [Slot; 3] = [
    Slot {
        kind: "site",
        title: "1. Where it is on your body",
        how: "Stand about a metre away (an arm's length and a bit more), so the photo shows the whole area and a body part we can recognise, such as your elbow or knee.",
        picture: "site",
        optional: false,
    },
    Slot {
        kind: "close_up",
        title: "2. A close-up",
        how: "Hold the phone about 20 cm away (a hand's span), in good daylight without the flash. Tap the screen on the skin problem so it is sharp, and hold still.",
        picture: "close_up",
        optional: false,
    },
    Slot {
        kind: "dermoscopic",
        title: "3. Through a dermatoscope (only if you have one)",
        how: "If you have a dermatoscope attachment for your phone, take one photo through it. If not, skip this step.",
        picture: "dermoscopic",
        optional: true,
    },
];

#[derive(Template)]
#[template(path = "patient_capture.html")]
struct CapturePage {
    layout: Layout,
    token: String,
    practice: String,
    slots: &'static [Slot],
    photos: Vec<PhotoView>,
    kept: usize,
    errors: Vec<FieldError>,
}

#[derive(Template)]
#[template(path = "patient_done.html")]
struct DonePage {
    layout: Layout,
    practice: String,
    photos: usize,
}

#[derive(Template)]
#[template(path = "patient_refused.html")]
struct RefusedPage {
    layout: Layout,
    heading: &'static str,
    message: String,
}

/// Plain-English advice for a failed check.
fn advice(code: &str) -> Option<&'static str> {
    Some(match QualityWarning::from_code(code)? {
        QualityWarning::Blurred => {
            "It looks blurred. Hold the phone steady with both hands, tap the screen on the skin problem to focus, and take it again."
        }
        QualityWarning::TooDark => {
            "It is too dark. Move near a window or turn on a bright light (not the flash) and take it again."
        }
        QualityWarning::TooBright => {
            "It is too bright. Move out of direct sunlight or turn off the flash and take it again."
        }
        QualityWarning::LowResolution => {
            "It is too small to see detail. Use your phone's main camera, not a screenshot, and take it again."
        }
    })
}

fn kind_label(kind: Option<PhotoKind>) -> &'static str {
    match kind {
        Some(PhotoKind::Site) => "Where it is on your body",
        Some(PhotoKind::CloseUp) => "Close-up",
        Some(PhotoKind::Dermoscopic) => "Through a dermatoscope",
        None => "Photo",
    }
}

/// A refused link as a page people understand: why, and what to do (404, 410 or 429).
async fn refused_page(session: &Session, e: ServiceError) -> AppResult<Response> {
    let (status, heading, message) = match e {
        ServiceError::NotFound(m) => (StatusCode::NOT_FOUND, "This link does not work", m),
        ServiceError::Gone { code, message } => (
            StatusCode::GONE,
            match code {
                "link_used" => "Your photos have been sent",
                "link_revoked" => "This link has been cancelled",
                _ => "This link has expired",
            },
            message,
        ),
        other => return Err(other.into()),
    };
    let html = render(&RefusedPage {
        layout: Layout::new(session, None).await?,
        heading,
        message,
    })?;
    Ok((status, html).into_response())
}

/// The open link, or the page that says why not.
async fn link(state: &AppState, session: &Session, token: &str) -> Result<RequestRow, Response> {
    match photo_requests::open(state, token).await {
        Ok(r) => Ok(r),
        Err(e) => Err(refused_page(session, e)
            .await
            .unwrap_or_else(IntoResponse::into_response)),
    }
}

async fn verified(session: &Session, request: &RequestRow) -> AppResult<bool> {
    Ok(session
        .get::<String>(VERIFIED)
        .await
        .map_err(AppError::internal)?
        .is_some_and(|id| id == request.id))
}

async fn start_page(
    session: &Session,
    token: &str,
    request: &RequestRow,
    errors: Vec<FieldError>,
    boxes: [String; 3],
) -> AppResult<Html<String>> {
    let [day, month, year] = boxes;
    render(&StartPage {
        layout: Layout::new(session, None).await?,
        token: token.to_string(),
        practice: request.practice_name.clone(),
        errors,
        day,
        month,
        year,
    })
}

async fn capture_page(
    state: &AppState,
    session: &Session,
    token: &str,
    request: &RequestRow,
    errors: Vec<FieldError>,
) -> AppResult<Html<String>> {
    let photos: Vec<PhotoView> = photo_requests::photos(state, request)
        .await?
        .into_iter()
        .map(|p| PhotoView {
            kind_label: kind_label(p.kind),
            kept: p.kept,
            advice: p.warnings.iter().filter_map(|w| advice(w)).collect(),
            id: p.id,
        })
        .collect();
    render(&CapturePage {
        layout: Layout::new(session, None).await?,
        token: token.to_string(),
        practice: request.practice_name.clone(),
        slots: &SLOTS,
        kept: photos.iter().filter(|p| p.kept).count(),
        photos,
        errors,
    })
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let request = match link(&state, &session, &token).await {
        Ok(r) => r,
        Err(page) => return Ok(page),
    };
    if verified(&session, &request).await? {
        Ok(capture_page(&state, &session, &token, &request, Vec::new())
            .await?
            .into_response())
    } else {
        Ok(
            start_page(&session, &token, &request, Vec::new(), Default::default())
                .await?
                .into_response(),
        )
    }
}

#[derive(Deserialize)]
pub struct BirthForm {
    #[serde(default)]
    date_of_birth_day: String,
    #[serde(default)]
    date_of_birth_month: String,
    #[serde(default)]
    date_of_birth_year: String,
}

pub async fn verify(
    State(state): State<AppState>,
    session: Session,
    Path(token): Path<String>,
    CsrfForm(form): CsrfForm<BirthForm>,
) -> AppResult<Response> {
    let request = match link(&state, &session, &token).await {
        Ok(r) => r,
        Err(page) => return Ok(page),
    };
    let boxes = [
        form.date_of_birth_day.trim().to_string(),
        form.date_of_birth_month.trim().to_string(),
        form.date_of_birth_year.trim().to_string(),
    ];
    let answer = super::case_form::date_from_boxes(&boxes[0], &boxes[1], &boxes[2]);
    let answer = time::Date::parse(&answer, crate::clock::ISO_DATE)
        .is_ok()
        .then_some(answer);
    match photo_requests::check_date_of_birth(&state, &request, answer.as_deref()).await {
        Ok(()) => {
            session
                .insert(VERIFIED, &request.id)
                .await
                .map_err(AppError::internal)?;
            Ok(Redirect::to(&format!("/p/{token}")).into_response())
        }
        Err(ServiceError::Invalid(errors)) => {
            let html = start_page(&session, &token, &request, errors, boxes).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(ServiceError::Paused { message }) => {
            let html = start_page(
                &session,
                &token,
                &request,
                vec![FieldError {
                    field: "date_of_birth",
                    code: "paused",
                    message,
                }],
                boxes,
            )
            .await?;
            Ok((StatusCode::TOO_MANY_REQUESTS, html).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// The link, open and answered by this browser; otherwise the page to show instead.
async fn answered(
    state: &AppState,
    session: &Session,
    token: &str,
) -> AppResult<Result<RequestRow, Response>> {
    let request = match link(state, session, token).await {
        Ok(r) => r,
        Err(page) => return Ok(Err(page)),
    };
    if !verified(session, &request).await? {
        return Ok(Err(Redirect::to(&format!("/p/{token}")).into_response()));
    }
    Ok(Ok(request))
}

/// One photo: `csrf_token`, then `kind`, then `photo` (multipart).
pub async fn upload(
    State(state): State<AppState>,
    session: Session,
    Path(token): Path<String>,
    mut multipart: Multipart,
) -> AppResult<Response> {
    let request = match answered(&state, &session, &token).await? {
        Ok(r) => r,
        Err(page) => {
            // Read and drop the photo first: answering mid-upload breaks the connection.
            super::case_form::drain(&mut multipart).await;
            return Ok(page);
        }
    };
    let mut kind = None;
    let mut photo = None;
    let mut csrf_checked = false;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(super::case_form::multipart_error)?
    {
        let name = field.name().unwrap_or("").to_string();
        if !csrf_checked {
            let submitted = if name == "csrf_token" {
                Some(
                    field
                        .text()
                        .await
                        .map_err(super::case_form::multipart_error)?,
                )
            } else {
                None
            };
            csrf::verify(&session, submitted.as_deref()).await?;
            csrf_checked = true;
            continue;
        }
        match name.as_str() {
            "kind" => {
                let text = field
                    .text()
                    .await
                    .map_err(super::case_form::multipart_error)?;
                kind = text.trim().parse::<PhotoKind>().ok();
            }
            "photo" if field.file_name().is_some_and(|n| !n.is_empty()) => {
                photo = Some(super::case_form::read_photo(field).await?);
            }
            _ => {}
        }
    }
    if !csrf_checked {
        csrf::verify(&session, None).await?;
    }
    let refused = |status: StatusCode, code: &'static str, message: String| {
        let (state, session, token, request) = (&state, &session, &token, &request);
        async move {
            let errors = vec![FieldError {
                field: "photo",
                code,
                message,
            }];
            let html = capture_page(state, session, token, request, errors).await?;
            Ok::<_, AppError>((status, html).into_response())
        }
    };
    let Some(photo) = photo else {
        return refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_photo",
            "Take a photo first, then press Add this photo.".into(),
        )
        .await;
    };
    match photo_requests::upload(&state, &request, kind, photo).await {
        Ok(_) => Ok(Redirect::to(&format!("/p/{token}#photos")).into_response()),
        Err(e @ (ServiceError::Image { .. } | ServiceError::TooManyPhotos(_))) => {
            let message = e.to_string();
            refused(AppError::from(e).status, "photo_refused", message).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The patient's decision on one photo: `keep` it although it failed its check, or `remove`
/// it (to take it again).
pub async fn decide(
    State(state): State<AppState>,
    session: Session,
    Path((token, photo_id, action)): Path<(String, String, String)>,
    CsrfForm(_): CsrfForm<super::case_pages::Empty>,
) -> AppResult<Response> {
    let request = match answered(&state, &session, &token).await? {
        Ok(r) => r,
        Err(page) => return Ok(page),
    };
    match action.as_str() {
        "keep" => photo_requests::keep(&state, &request, &photo_id).await?,
        "remove" => photo_requests::remove(&state, &request, &photo_id).await?,
        _ => return Err(AppError::not_found("There is no such action on a photo.")),
    }
    Ok(Redirect::to(&format!("/p/{token}#photos")).into_response())
}

/// The thumbnail of one of this link's photos, for the patient's own page.
pub async fn thumb(
    State(state): State<AppState>,
    session: Session,
    Path((token, photo_id)): Path<(String, String)>,
) -> AppResult<Response> {
    let request = match answered(&state, &session, &token).await? {
        Ok(r) => r,
        Err(page) => return Ok(page),
    };
    let (key, content_type) = photo_requests::photo_object(&state, &request, &photo_id).await?;
    let bytes = state.blobs.get(&crate::blob::BlobKey::new(key)?).await?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct SendForm {
    consent: Option<String>,
}

pub async fn send(
    State(state): State<AppState>,
    session: Session,
    Path(token): Path<String>,
    CsrfForm(form): CsrfForm<SendForm>,
) -> AppResult<Response> {
    let request = match answered(&state, &session, &token).await? {
        Ok(r) => r,
        Err(page) => return Ok(page),
    };
    match photo_requests::send(&state, &request, form.consent.is_some()).await {
        Ok(n) => {
            let _ = session.remove::<String>(VERIFIED).await;
            Ok(render(&DonePage {
                layout: Layout::new(&session, None).await?,
                practice: request.practice_name.clone(),
                photos: n,
            })?
            .into_response())
        }
        Err(ServiceError::Invalid(errors)) => {
            let html = capture_page(&state, &session, &token, &request, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(e @ ServiceError::Gone { .. }) => refused_page(&session, e).await,
        Err(e) => Err(e.into()),
    }
}
