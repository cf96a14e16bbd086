//! What consultants and GPs do to a case from its page.

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::case_view::{case_page, Notices, ReferralDraft};
use super::new_case::shows_on_the_form;
use super::Empty;
use crate::service::AppState;
use crate::service::{cases, FieldError, ServiceError};
use crate::web::auth::CurrentUser;
use crate::web::case_form::{self, date_from_boxes};
use crate::web::csrf::CsrfForm;
use crate::web::error::AppResult;

pub async fn claim(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<Empty>,
) -> AppResult<Redirect> {
    let id = cases::case_id(&id)?;
    cases::claim(&state, &user, &id).await?;
    // Opens at the confirmation: browsers scroll to it, and focus it as it is focusable.
    Ok(Redirect::to(&format!("/cases/{id}?claimed=1#claimed")))
}

pub async fn release(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<Empty>,
) -> AppResult<Redirect> {
    let id = cases::case_id(&id)?;
    cases::release(&state, &user, &id).await?;
    Ok(Redirect::to("/queue"))
}

/// The reply form, read as name/value pairs because `topics` repeats (one checkbox each).
fn reply_input(pairs: Vec<(String, String)>) -> cases::ReplyInput {
    let mut input = cases::ReplyInput::default();
    for (name, value) in pairs {
        match name.as_str() {
            "advice" => input.advice = value,
            "outcome" => input.outcome = value,
            "topics" => input.topics.push(value),
            "other_topic" => input.other_topic = value,
            "redirect_to" => input.redirect_to = value,
            "convert" => input.convert = value == "true",
            _ => {}
        }
    }
    input
}

pub async fn reply(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> AppResult<Response> {
    let id = cases::case_id(&id)?;
    let input = reply_input(pairs);
    match cases::reply(&state, &user, &id, &input).await {
        Ok(_) => Ok(Redirect::to(&format!("/cases/{id}")).into_response()),
        // Show the form again with what was typed and ticked, and what to fix.
        Err(ServiceError::Invalid(mut errors)) => {
            for e in &mut errors {
                if e.field == "outcome" && input.outcome.trim().is_empty() {
                    e.message = "Choose an outcome.".into();
                }
                if e.code == "unknown_topic" {
                    e.message = "Choose topics from the list only; anything else goes in 'Other topic', which is not shown in reports.".into();
                }
            }
            let notices = Notices {
                errors,
                advice_draft: input.advice,
                topics_draft: input.topics,
                other_topic_draft: input.other_topic,
                ..Default::default()
            };
            let page = case_page(&state, &session, &user, &id, notices).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// The GP's response from the case page. What cannot be accepted (an empty response, a refused
/// photo) shows on the case page, next to the form, with what was typed kept.
pub async fn respond(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    multipart: Multipart,
) -> AppResult<Response> {
    let id = cases::case_id(&id)?;
    cases::load(&state, &user, &id).await?;
    let (errors, draft, staged, status) =
        match case_form::read(&state, &id, multipart, Some(&session)).await {
            Ok(submission) => {
                let draft = submission.message.clone();
                let staged = submission.photos.staged();
                match cases::respond(&state, &user, &id, &submission.message, submission.photos)
                    .await
                {
                    Ok(_) => return Ok(Redirect::to(&format!("/cases/{id}")).into_response()),
                    Err(ServiceError::Invalid(errors)) => {
                        (errors, draft, staged, StatusCode::UNPROCESSABLE_ENTITY)
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Err(refused) if shows_on_the_form(&refused.error) => {
                let status = refused.error.status;
                let error = FieldError {
                    field: "respond-photo",
                    code: refused.error.code,
                    message: refused.error.message,
                };
                (vec![error], refused.message, refused.staged, status)
            }
            Err(refused) => return Err(refused.into()),
        };
    let notices = Notices {
        errors,
        response_draft: draft,
        response_staged: staged,
        ..Default::default()
    };
    let page = case_page(&state, &session, &user, &id, notices).await?;
    Ok((status, page).into_response())
}

#[derive(Deserialize)]
pub struct ReferralMadeForm {
    #[serde(default)]
    referred_on_day: String,
    #[serde(default)]
    referred_on_month: String,
    #[serde(default)]
    referred_on_year: String,
    #[serde(default)]
    reference: String,
}

pub async fn referral_made(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<ReferralMadeForm>,
) -> AppResult<Response> {
    let id = cases::case_id(&id)?;
    let date = date_from_boxes(
        &form.referred_on_day,
        &form.referred_on_month,
        &form.referred_on_year,
    );
    match cases::referral_made(&state, &user, &id, &date, &form.reference).await {
        Ok(_) => Ok(Redirect::to(&format!("/cases/{id}")).into_response()),
        Err(ServiceError::Invalid(errors)) => {
            let notices = Notices {
                errors,
                referral_draft: ReferralDraft {
                    day: form.referred_on_day,
                    month: form.referred_on_month,
                    year: form.referred_on_year,
                    reference: form.reference,
                },
                ..Default::default()
            };
            let page = case_page(&state, &session, &user, &id, notices).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
