//! The GP's form for a new case.

use askama::Template;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::{photo_slots, PhotoSlot};
use crate::domain::access::Principal;
use crate::domain::queue::Cover;
use crate::domain::Sex;
use crate::service::cases::{self, Specialty};
use crate::service::photos::{self, StagedChoice};
use crate::service::AppState;
use crate::service::{FieldError, ServiceError};
use crate::web::auth::CurrentUser;
use crate::web::case_form;
use crate::web::error::{AppError, AppResult};
use crate::web::templates::{render, Layout};
use crate::web::uk_time;

#[derive(Default)]
struct FormValues {
    specialty: String,
    nhs_number: String,
    dob_day: String,
    dob_month: String,
    dob_year: String,
    urgency: String,
    sex: String,
    history: String,
    question: String,
    conversion_authorised: String,
}

/// What the GP should know before sending a case to a specialty nobody local covers now.
struct DutyNotice {
    slug: String,
    lines: Vec<String>,
}

const HOUR_MS: i64 = 3_600_000;

fn duty_notice(s: &Specialty, cover: Cover) -> Option<DutyNotice> {
    if cover.local_now {
        return None;
    }
    let wait = if s.escalation_ms % HOUR_MS == 0 {
        let hours = s.escalation_ms / HOUR_MS;
        format!("{hours} hour{}", if hours == 1 { "" } else { "s" })
    } else {
        uk_time::fmt_age(s.escalation_ms)
    };
    Some(DutyNotice {
        slug: s.slug.clone(),
        lines: vec![
            format!("No {} consultant is on duty now.", s.name),
            match cover.next_local_start_ms {
                Some(at) => format!("The next shift starts {}.", uk_time::format(at)),
                None => "No shift is planned yet.".into(),
            },
            if cover.national_now {
                format!(
                    "If nobody takes your case within {wait}, a consultant from the national \
                     pool can."
                )
            } else {
                "Nobody from the national pool is on duty now either.".into()
            },
        ],
    })
}

#[derive(Template)]
#[template(path = "case_new.html")]
struct NewPage {
    layout: Layout,
    specialties: Vec<Specialty>,
    duty_notices: Vec<DutyNotice>,
    /// (code, label, checked) for the sex radios.
    sexes: Vec<(&'static str, &'static str, bool)>,
    form: FormValues,
    errors: Vec<FieldError>,
    photos_lost: bool,
    idempotency_key: String,
    photo_slots: Vec<PhotoSlot>,
    photo_prefix: &'static str,
}

/// The form shown again after a refusal: what was typed, the photos uploaded ahead, and whether
/// photos sent with the form itself were lost.
#[derive(Default)]
struct Again {
    form: FormValues,
    errors: Vec<FieldError>,
    photos_lost: bool,
    staged: Vec<StagedChoice>,
}

async fn new_page(
    state: &AppState,
    session: &Session,
    user: &Principal,
    again: Again,
) -> AppResult<Html<String>> {
    let Again {
        form,
        errors,
        photos_lost,
        staged,
    } = again;
    let cover = cases::cover(state).await?;
    let staged = photos::staged_of(state, user, &staged).await?;
    let sexes = Sex::ALL
        .iter()
        .map(|s| (s.as_str(), s.label(), s.as_str() == form.sex))
        .collect();
    render(&NewPage {
        sexes,
        layout: Layout::signed_in(state, session, user).await?,
        duty_notices: cover
            .iter()
            .filter_map(|(s, c)| duty_notice(s, *c))
            .collect(),
        specialties: cover.into_iter().map(|(s, _)| s).collect(),
        form,
        errors,
        photos_lost,
        // A fresh key per form: a re-sent form (double tap, flaky network) finds its first case.
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        photo_slots: photo_slots(staged, &["site", "close_up", "dermoscopic"]),
        photo_prefix: "photo",
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
    let form = FormValues {
        urgency: "routine".into(),
        ..Default::default()
    };
    let again = Again {
        form,
        ..Default::default()
    };
    new_page(&state, &session, &user, again).await
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
        // A refused photo: the form again, with everything typed and the photos uploaded
        // ahead (photos sent with the form must be picked again, and the page says so).
        Err(refused) if shows_on_the_form(&refused.error) => {
            let again = Again {
                errors: vec![FieldError {
                    field: "photo",
                    code: refused.error.code,
                    message: refused.error.message,
                }],
                form: FormValues::from(refused.input),
                photos_lost: true,
                staged: refused.staged,
            };
            let page = new_page(&state, &session, &user, again).await?;
            return Ok((refused.error.status, page).into_response());
        }
        Err(refused) => return Err(refused.into()),
    };
    let input = submission.input.clone();
    let staged = submission.photos.staged();
    let photos_lost = submission.photos.photos.len() > staged.len();
    match cases::create(&state, &user, submission.input, submission.photos, &case_id).await {
        Ok(created) => {
            Ok(Redirect::to(&format!("/cases/{}?submitted=1", created.case_id)).into_response())
        }
        Err(ServiceError::Invalid(errors)) => {
            let again = Again {
                form: FormValues::from(input),
                errors,
                photos_lost,
                staged,
            };
            let page = new_page(&state, &session, &user, again).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// A refusal the person can fix on the form (not a forged or expired form, not a missing right).
pub(super) fn shows_on_the_form(e: &AppError) -> bool {
    e.status.is_client_error() && e.code != "csrf_failed" && e.status != StatusCode::FORBIDDEN
}

impl From<cases::CaseInput> for FormValues {
    fn from(input: cases::CaseInput) -> Self {
        // Back into the three boxes: "1984-03-27" (or the boxes as typed, "y-m-d").
        let mut parts = input.date_of_birth.splitn(3, '-');
        let (year, month, day) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        FormValues {
            specialty: input.specialty,
            nhs_number: input.nhs_number,
            dob_day: day.to_string(),
            dob_month: month.to_string(),
            dob_year: year.to_string(),
            urgency: input.urgency,
            sex: input.sex,
            history: input.history,
            question: input.question,
            conversion_authorised: input.conversion_authorised,
        }
    }
}
