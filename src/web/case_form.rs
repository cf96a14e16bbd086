//! Reading a multipart case submission or GP response (API and web form alike).
//! Photos are processed and stored as they stream in, so at most one original is in memory.

use axum::extract::multipart::{Field, Multipart, MultipartError};
use axum::http::StatusCode;
use tower_sessions::Session;

use super::csrf;
use super::error::AppError;
use crate::domain::CaseId;
use crate::service::cases::CaseInput;
use crate::service::photos::{PhotoBatch, PhotoKind, StagedChoice};
use crate::service::AppState;

/// Largest single photo upload (phones send 2–6 MB; 48 MP RAW-ish JPEGs reach ~25 MB).
pub const MAX_PHOTO_BYTES: usize = 40 * 1024 * 1024;
/// Largest text field; the service applies tighter limits per field.
const MAX_TEXT_BYTES: usize = 64 * 1024;

pub struct Submission {
    pub input: CaseInput,
    pub message: String,
    pub photos: PhotoBatch,
}

/// A refused form: the error, and the text fields read before it, so that a page can show the
/// form again with what the GP typed (photos come after the text in our forms).
pub struct Refusal {
    pub error: AppError,
    pub input: CaseInput,
    pub message: String,
    /// Photos uploaded ahead that the form referred to: still staged, to show again.
    pub staged: Vec<StagedChoice>,
}

impl From<Refusal> for AppError {
    fn from(r: Refusal) -> Self {
        r.error
    }
}

pub fn multipart_error(e: MultipartError) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "This upload is larger than aghub accepts in one go; send fewer or smaller photos.",
        )
    } else {
        AppError::bad_request(
            "bad_multipart",
            format!(
                "The upload could not be read ({}); please try again.",
                e.body_text()
            ),
        )
    }
}

async fn read_limited(mut field: Field<'_>, max: usize, what: &str) -> Result<Vec<u8>, AppError> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if buf.len() + chunk.len() > max {
            return Err(AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "The {what} is larger than aghub accepts ({}).",
                    human_size(max)
                ),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// One photo part, refused past [`MAX_PHOTO_BYTES`].
pub async fn read_photo(field: Field<'_>) -> Result<Vec<u8>, AppError> {
    read_limited(field, MAX_PHOTO_BYTES, "photo").await
}

/// The `photo` part of a one-photo upload (a check, a photo uploaded ahead); other parts are
/// skipped.
pub async fn only_photo(multipart: &mut Multipart) -> Result<Vec<u8>, AppError> {
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() == Some("photo") {
            return read_photo(field).await;
        }
    }
    Err(AppError::invalid(
        "missing_field",
        "Send the photo as a 'photo' part.",
    ))
}

async fn read_text(field: Field<'_>, name: &str) -> Result<String, AppError> {
    let bytes = read_limited(field, MAX_TEXT_BYTES, name).await?;
    String::from_utf8(bytes).map_err(|_| {
        AppError::bad_request(
            "bad_encoding",
            format!("The field {name} is not UTF-8 text."),
        )
    })
}

/// Reads every part. With `session` (browser forms) the first part must be a valid `csrf_token`,
/// checked before any photo is read. On error, photos already stored are deleted.
pub async fn read(
    state: &AppState,
    case_id: &CaseId,
    mut multipart: Multipart,
    session: Option<&Session>,
) -> Result<Submission, Refusal> {
    let mut photos = PhotoBatch::new(state, case_id);
    let mut input = CaseInput::default();
    let mut message = String::new();
    match read_parts(
        &mut multipart,
        session,
        &mut photos,
        &mut input,
        &mut message,
    )
    .await
    {
        Ok(()) => Ok(Submission {
            input,
            message,
            photos,
        }),
        // What is left of the body is read by `unread_body` before the refusal goes out.
        Err(error) => {
            let staged = photos.staged();
            photos.discard().await;
            Err(Refusal {
                error,
                input,
                message,
                staged,
            })
        }
    }
}

/// Reads and drops the rest of an upload, up to a bound, before a success that did not need it
/// (a retried submission whose case exists): a server that answers before the body is read
/// closes the socket while the client is still sending, and the client sees a broken pipe
/// instead of the answer. Refusals get the same from `web::unread_body`.
pub async fn drain(multipart: &mut Multipart) {
    const MAX_DRAIN_BYTES: usize = 8 * 1024 * 1024;
    let mut drained = 0;
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(chunk)) = field.chunk().await {
            drained += chunk.len();
            if drained > MAX_DRAIN_BYTES {
                return;
            }
        }
    }
}

async fn read_parts(
    multipart: &mut Multipart,
    session: Option<&Session>,
    photos: &mut PhotoBatch,
    input: &mut CaseInput,
    message: &mut String,
) -> Result<(), AppError> {
    let mut csrf_checked = session.is_none();
    // Describing fields after an untouched file input describe nothing.
    let mut skipping_empty_photo = false;
    // The web form's date of birth comes as three boxes (day, month, year).
    let mut dob_boxes: Option<[String; 3]> = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_string();
        if !csrf_checked {
            let token = if name == "csrf_token" {
                Some(read_text(field, &name).await?)
            } else {
                None
            };
            csrf::verify(session.expect("checked above"), token.as_deref()).await?;
            csrf_checked = true;
            continue;
        }
        match name.as_str() {
            "photo" => {
                // Browsers send an empty part for an untouched file input.
                skipping_empty_photo = field.file_name().is_some_and(str::is_empty);
                if skipping_empty_photo {
                    read_limited(field, MAX_TEXT_BYTES, "photo").await?;
                    continue;
                }
                let bytes = read_photo(field).await?;
                photos.add(bytes).await?;
            }
            "staged_photo" => {
                let value = read_text(field, &name).await?;
                let id = value.trim();
                skipping_empty_photo = id.is_empty();
                if skipping_empty_photo {
                    continue;
                }
                if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                    return Err(AppError::invalid(
                        "invalid_staged_photo",
                        "staged_photo must be the id of a photo uploaded to /api/v1/staged-photos.",
                    ));
                }
                photos.add_staged(id)?;
            }
            "photo_kind" => {
                let value = read_text(field, &name).await?;
                if value.trim().is_empty() || skipping_empty_photo {
                    continue;
                }
                let kind = value.trim().parse::<PhotoKind>().map_err(|_| {
                    AppError::invalid(
                        "invalid_photo_kind",
                        format!(
                            "photo_kind must be site, close_up or dermoscopic, not '{}'.",
                            value.trim()
                        ),
                    )
                })?;
                let photo = photos.last_mut().ok_or_else(|| {
                    AppError::invalid(
                        "invalid_photo_kind",
                        "photo_kind must follow the photo it describes.",
                    )
                })?;
                photo.kind = Some(kind);
            }
            "photo_site" => {
                let value = read_text(field, &name).await?;
                let value = value.trim();
                if value.is_empty() || skipping_empty_photo {
                    continue;
                }
                if value.chars().count() > 200 {
                    return Err(AppError::invalid(
                        "field_too_long",
                        "photo_site must be at most 200 characters.",
                    ));
                }
                let photo = photos.last_mut().ok_or_else(|| {
                    AppError::invalid(
                        "invalid_photo_site",
                        "photo_site must follow the photo it describes.",
                    )
                })?;
                photo.body_site = Some(value.to_string());
            }
            "csrf_token" => {
                read_text(field, &name).await?;
            }
            other => {
                let value = read_text(field, other).await?;
                match other {
                    "specialty" => input.specialty = value,
                    "nhs_number" => input.nhs_number = value,
                    "date_of_birth" => input.date_of_birth = value,
                    "date_of_birth_day" | "date_of_birth_month" | "date_of_birth_year" => {
                        let boxes = dob_boxes.get_or_insert_default();
                        let i = [
                            "date_of_birth_day",
                            "date_of_birth_month",
                            "date_of_birth_year",
                        ]
                        .iter()
                        .position(|n| *n == other)
                        .expect("matched above");
                        boxes[i] = value;
                        // Kept up to date, so a refusal later in the form still has it.
                        input.date_of_birth = date_from_boxes(&boxes[0], &boxes[1], &boxes[2]);
                    }
                    "urgency" => input.urgency = value,
                    "sex" => input.sex = value,
                    "history" => input.history = value,
                    "question" => input.question = value,
                    "conversion_authorised" => input.conversion_authorised = value,
                    "idempotency_key" => {
                        input.idempotency_key =
                            Some(value.trim().to_string()).filter(|k| !k.is_empty())
                    }
                    "message" => *message = value,
                    _ => {
                        return Err(AppError::invalid(
                            "unknown_field",
                            format!("The field '{other}' is not part of a case submission."),
                        ))
                    }
                }
            }
        }
    }
    if !csrf_checked {
        csrf::verify(session.expect("checked above"), None).await?;
    }
    Ok(())
}

/// The three boxes as YYYY-MM-DD when each is a number; otherwise as typed, for the service to
/// refuse with its message ("" when all are empty: the date is missing).
pub fn date_from_boxes(day: &str, month: &str, year: &str) -> String {
    let (d, m, y) = (day.trim(), month.trim(), year.trim());
    match (d.parse::<u8>(), m.parse::<u8>(), y.parse::<u16>()) {
        (Ok(d), Ok(m), Ok(y)) if y >= 1000 => format!("{y:04}-{m:02}-{d:02}"),
        _ if d.is_empty() && m.is_empty() && y.is_empty() => String::new(),
        _ => format!("{y}-{m}-{d}"),
    }
}

fn human_size(bytes: usize) -> String {
    if bytes >= 1024 * 1024 {
        format!("{} MB", bytes / (1024 * 1024))
    } else {
        format!("{} KB", bytes / 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::date_from_boxes;

    #[test]
    fn three_boxes_make_a_date_and_anything_else_stays_as_typed_for_the_service_to_refuse() {
        assert_eq!(date_from_boxes("1", "12", "2026"), "2026-12-01");
        assert_eq!(date_from_boxes(" 31", "2 ", "2026"), "2026-02-31");
        assert_eq!(date_from_boxes("", "", ""), "");
        assert_eq!(date_from_boxes("x", "12", "26"), "26-12-x");
    }
}
