//! Sign-in, sign-out and the start page.

use askama::Template;
use axum::extract::{Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::auth::{CurrentUser, Identity, USER_KEY};
use super::csrf::{self, CsrfForm};
use super::error::{AppError, AppResult, ErrorInfo};
use super::templates::{render, ErrorPage, Layout};
use crate::domain::sign_in;
use crate::service::auth::{self, SignIn};
use crate::service::AppState;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    error: Option<String>,
    email: String,
    next: String,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only a path on this site, so a crafted link cannot bounce a user to another one. Browsers
/// drop tabs and newlines from URLs and read `\` as `/`, so `/\t/evil.example` would mean
/// `//evil.example`. Anything but printable ASCII without `\` (which is also all a `Location`
/// header may carry) sends the user home instead.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && n.chars().all(|c| c.is_ascii_graphic() && c != '\\') =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

pub async fn login_form(session: Session, Query(q): Query<NextQuery>) -> AppResult<Html<String>> {
    render(&LoginPage {
        layout: Layout::new(&session, None).await?,
        error: None,
        email: String::new(),
        next: safe_next(q.next.as_deref()),
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> AppResult<Response> {
    let now = state.now_ms();
    let user_id = match auth::sign_in(&state, &form.email, &form.password).await? {
        SignIn::SignedIn { user_id } => user_id,
        SignIn::WrongPassword => {
            return refuse_sign_in(
                &session,
                form,
                StatusCode::UNAUTHORIZED,
                "The email address or password is not right. Check them and try again.".into(),
            )
            .await;
        }
        SignIn::Paused { until_ms: until } => {
            let mut page = refuse_sign_in(
                &session,
                form,
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Sign-in to this account is paused after {} wrong passwords. Try again {}; \
                     if you have forgotten your password, ask your aghub administrator to set a new one.",
                    sign_in::MAX_FAILURES,
                    sign_in::wait_phrase(until, now)
                ),
            )
            .await?;
            page.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from((until - now + 999) / 1000),
            );
            return Ok(page);
        }
    };
    // A new session id at sign-in defeats session fixation; a new CSRF token goes with it.
    session.cycle_id().await.map_err(AppError::internal)?;
    session
        .remove::<String>(csrf::SESSION_KEY)
        .await
        .map_err(AppError::internal)?;
    session
        .insert(USER_KEY, &user_id)
        .await
        .map_err(AppError::internal)?;
    Ok(Redirect::to(&safe_next(form.next.as_deref())).into_response())
}

/// The sign-in page again, with why (the service has recorded the refusal).
async fn refuse_sign_in(
    session: &Session,
    form: LoginForm,
    status: StatusCode,
    message: String,
) -> AppResult<Response> {
    let page = LoginPage {
        layout: Layout::new(session, None).await?,
        error: Some(message),
        email: form.email,
        next: safe_next(form.next.as_deref()),
    };
    Ok((status, render(&page)?).into_response())
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn logout(
    State(state): State<AppState>,
    session: Session,
    identity: axum::Extension<Identity>,
    CsrfForm(_): CsrfForm<Empty>,
) -> AppResult<Response> {
    if let Some((p, _)) = &identity.0 .0 {
        auth::signed_out(&state, p).await?;
    }
    session.flush().await.map_err(AppError::internal)?;
    // The browser drops what it kept of the session's pages too (cache, cookies, storage).
    Ok((
        [(
            header::HeaderName::from_static("clear-site-data"),
            "\"cache\", \"cookies\", \"storage\"",
        )],
        Redirect::to("/login"),
    )
        .into_response())
}

/// Everyone starts where their work is: GPs at their practice's cases, consultants at their
/// queue, admins at the admin pages, commissioners at the reports.
pub async fn home(CurrentUser(user): CurrentUser) -> Redirect {
    Redirect::to(match user.role {
        crate::domain::Role::Gp => "/cases",
        crate::domain::Role::Consultant => "/queue",
        crate::domain::Role::Admin => "/admin",
        crate::domain::Role::Commissioner => "/reports",
    })
}

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/app.css"),
    )
}

pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/app.js"),
    )
}

/// The photo viewer and the consultant's photos-beside-the-form layout (photo and case pages).
pub async fn photo_viewer_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/photo-viewer.js"),
    )
}

pub async fn photo_viewer_stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/photo-viewer.css"),
    )
}

pub async fn not_found() -> AppError {
    AppError::not_found("There is no page at this address.")
}

/// People get HTML: a sign-in redirect for 401, an error page for other errors.
/// The JSON API and health checks keep the contract's JSON body.
pub async fn render_html_errors(session: Session, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    let is_get = req.method() == axum::http::Method::GET;
    let response = next.run(req).await;
    if path.starts_with("/api/") || path == "/healthz" || path == "/readyz" {
        return response;
    }
    let Some(info) = response.extensions().get::<ErrorInfo>().cloned() else {
        return response;
    };
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED && info.code == "unauthenticated" {
        let next = if is_get { path_and_query } else { "/".into() };
        let target = format!("/login?next={}", urlencode(&next));
        return Redirect::to(&target).into_response();
    }
    let heading = match status {
        StatusCode::FORBIDDEN => "You cannot do this",
        StatusCode::NOT_FOUND => "Page not found",
        s if s.is_server_error() => "Sorry, there is a problem with the service",
        _ => "There is a problem",
    };
    let page = ErrorPage {
        layout: Layout::new(&session, None).await.unwrap_or_default(),
        heading,
        message: info.message,
        code: info.code,
    };
    match render(&page) {
        Ok(html) => (status, html).into_response(),
        Err(_) => response,
    }
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|e| e.trim_start_matches('=').to_string())
        .unwrap_or_default()
}
