//! A person's notifications, their email choices, and the JSON list for API clients.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::auth::CurrentUser;
use super::csrf::CsrfForm;
use super::error::AppResult;
use super::templates::{render, Layout};
use super::uk_time;
use crate::domain::access::Principal;
use crate::domain::notifications::About;
use crate::service::{notify, AppState, FieldError, ServiceError};

struct Item {
    /// The case's or call's page.
    href: String,
    /// "case" or "call".
    what: &'static str,
    short_id: String,
    headline: String,
    when: String,
    read: bool,
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    layout: Layout,
    items: Vec<Item>,
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
) -> AppResult<Html<String>> {
    let items = notify::list(&state, &user)
        .await?
        .into_iter()
        .map(|n| {
            let (what, id) = match &n.about {
                About::Case(id) => ("case", id),
                About::Call(id) => ("call", id),
            };
            Item {
                short_id: crate::db::cases::short_id(id),
                what,
                href: n.about.path(),
                headline: n.kind.headline(&n.specialty),
                when: uk_time::format(n.created_at_ms),
                read: n.read,
            }
        })
        .collect();
    render(&NotificationsPage {
        layout: Layout::signed_in(&state, &session, &user).await?,
        items,
    })
}

pub async fn mark_all_read(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    CsrfForm(_): CsrfForm<super::case_pages::Empty>,
) -> AppResult<Redirect> {
    notify::mark_read(&state, &user, None).await?;
    Ok(Redirect::to("/notifications"))
}

struct SettingRow {
    kind: &'static str,
    label: &'static str,
    choice: &'static str,
    digest_allowed: bool,
}

#[derive(Template)]
#[template(path = "notification_settings.html")]
struct SettingsPage {
    layout: Layout,
    settings: Vec<SettingRow>,
    email: String,
    email_on: bool,
    saved: bool,
    errors: Vec<FieldError>,
}

#[derive(Deserialize)]
pub struct Saved {
    saved: Option<String>,
}

async fn settings_page(
    state: &AppState,
    session: &Session,
    user: &Principal,
    saved: bool,
    errors: Vec<FieldError>,
) -> AppResult<Html<String>> {
    let settings = notify::settings(state, user)
        .await?
        .into_iter()
        .map(|(e, c)| SettingRow {
            kind: e.as_str(),
            label: e.setting_label(),
            choice: c.as_str(),
            digest_allowed: e.digest_allowed(),
        })
        .collect();
    render(&SettingsPage {
        layout: Layout::signed_in(state, session, user).await?,
        settings,
        email: user.email.clone(),
        email_on: state.settings.smtp_url.is_some(),
        saved,
        errors,
    })
}

pub async fn settings(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Query(q): Query<Saved>,
) -> AppResult<Html<String>> {
    settings_page(&state, &session, &user, q.saved.is_some(), Vec::new()).await
}

pub async fn save_settings(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> AppResult<Response> {
    let choices: Vec<(String, String)> = form
        .into_iter()
        .filter(|(k, _)| k != "csrf_token")
        .collect();
    match notify::save_settings(&state, &user, &choices).await {
        Ok(()) => Ok(Redirect::to("/notifications/settings?saved=1").into_response()),
        Err(ServiceError::Invalid(errors)) => {
            let html = settings_page(&state, &session, &user, false, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// One notification in the API.
#[derive(Serialize, utoipa::ToSchema)]
pub struct NotificationJson {
    id: String,
    /// What happened: `advice_arrived`, `information_requested`, `converted`, `gp_to_refer`,
    /// `referral_overdue`, `gp_responded`, `urgent_queued`, `escalated`, `past_target`,
    /// `patient_photos`, `call_missed` or `call_outcome_missing`.
    event: &'static str,
    /// The case it is about, or null when it is about a live call.
    case_id: Option<String>,
    /// The live call it is about (`call_outcome_missing`), or null.
    call_id: Option<String>,
    headline: String,
    created_at: String,
    read: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NotificationsJson {
    unread: i64,
    notifications: Vec<NotificationJson>,
}

#[utoipa::path(
    get, path = "/api/v1/notifications",
    responses(
        (status = 200, description = "The caller's notifications, newest first (at most 100), and how many are unread", body = NotificationsJson),
        (status = 401, description = "Not signed in", body = super::api_types::ErrorBody),
    ),
)]
pub async fn api_list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> AppResult<Json<NotificationsJson>> {
    let notifications = notify::list(&state, &user)
        .await?
        .into_iter()
        .map(|n| NotificationJson {
            headline: n.kind.headline(&n.specialty),
            event: n.kind.as_str(),
            created_at: crate::clock::rfc3339(n.created_at_ms),
            id: n.id,
            case_id: n.about.case_id().map(str::to_string),
            call_id: n.about.call_id().map(str::to_string),
            read: n.read,
        })
        .collect();
    Ok(Json(NotificationsJson {
        unread: notify::unread(&state, &user).await?,
        notifications,
    }))
}
