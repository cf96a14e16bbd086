//! Who is calling: an API token (`Authorization: Bearer …`) or a browser session.
//! [`authenticate`] runs on every route and attaches the [`Identity`]; handlers that need a
//! signed-in person take [`CurrentUser`], and ask `domain::access` what that person may do.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

use super::csrf;
use super::error::AppError;
use crate::domain::access::Principal;
use crate::domain::UserId;
use crate::service;
use crate::service::AppState;

pub use crate::service::auth::USER_KEY;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Token,
    Session,
}

#[derive(Debug, Clone)]
pub struct Identity(pub Option<(Principal, Via)>);

/// The signed-in person; rejects with 401 when there is none.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Identity>() {
            Some(Identity(Some((p, _)))) => Ok(CurrentUser(p.clone())),
            _ => Err(AppError::unauthenticated()),
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<Result<&str, AppError>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let parsed = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            AppError::unauthenticated()
                .with_code("invalid_token")
                .with_message(
                    "The Authorization header must be 'Bearer ' followed by an API token.",
                )
        });
    Some(parsed)
}

/// Middleware on every route: resolve the caller, enforce same-origin + CSRF token rules for
/// session-authenticated changes, and record nothing else (handlers audit what they show).
pub async fn authenticate(
    State(state): State<AppState>,
    session: Session,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    // Static files and health checks carry no patient data and need nobody signed in.
    if path.starts_with("/static/")
        || path.starts_with("/assets/")
        || path == "/healthz"
        || path == "/readyz"
    {
        req.extensions_mut().insert(Identity(None));
        return next.run(req).await;
    }
    // Only owned data crosses the awaits below (a `&Request` is not `Send`).
    let headers = req.headers().clone();
    let is_api = path.starts_with("/api/");
    let unsafe_method = csrf::is_unsafe(req.method());
    match resolve(&state, &session, &headers, is_api, unsafe_method).await {
        Ok(identity) => {
            let signed_in = identity.0.is_some();
            req.extensions_mut().insert(identity);
            let mut response = next.run(req).await;
            // Whatever a signed-in person was shown must not outlive their session in a
            // browser or proxy cache (Back after sign-out, a shared PC).
            let no_store = response
                .headers()
                .get(header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("no-store"));
            if signed_in && !no_store {
                response.headers_mut().insert(
                    header::CACHE_CONTROL,
                    header::HeaderValue::from_static("no-store"),
                );
            }
            response
        }
        // The unread body is read by `unread_body` before this answer goes out.
        Err(e) => e.into_response(),
    }
}

/// Routes that show patient data: a refusal there is worth an audit row.
fn is_patient_route(path: &str) -> bool {
    [
        "/cases",
        "/queue",
        "/calls",
        "/api/v1/cases",
        "/api/v1/queue",
        "/api/v1/calls",
    ]
    .iter()
    .any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Middleware inside [`authenticate`]: a signed-in person refused a patient route (403, or the
/// 404 that hides another scope's case) leaves a row in the audit trail.
pub async fn record_refusals(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().to_string();
    let user = match req.extensions().get::<Identity>() {
        Some(Identity(Some((p, _)))) if is_patient_route(&path) => Some(p.clone()),
        _ => None,
    };
    let response = next.run(req).await;
    let refused = matches!(
        response.status(),
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
    );
    if let (true, Some(user)) = (refused, user) {
        let status = response.status().as_u16();
        if let Err(e) =
            crate::service::cases::record_refusal(&state, &user, &method, &path, status).await
        {
            tracing::error!(error = %e, "could not record a refused access in the audit trail");
        }
    }
    response
}

async fn resolve(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    is_api: bool,
    unsafe_method: bool,
) -> Result<Identity, AppError> {
    if let Some(token) = bearer(headers) {
        let token = token?;
        return match service::auth::by_token(state, token).await? {
            Some(p) => Ok(Identity(Some((p, Via::Token)))),
            None => Err(AppError::unauthenticated()
                .with_code("invalid_token")
                .with_message("This API token is not valid: it may have expired or been revoked.")),
        };
    }
    // Without a token this is a browser: changes must come from our own pages. An API call
    // with neither token nor session carries no credentials to abuse, so it gets the 401 the
    // handler gives rather than a CSRF refusal.
    if unsafe_method && !is_api {
        csrf::check_origin(headers)?;
    }
    let user_id: Option<String> = session.get(USER_KEY).await.map_err(AppError::internal)?;
    let principal = match user_id {
        Some(id) => service::auth::by_user_id(state, &UserId::new(id)).await?,
        None => None,
    };
    if unsafe_method && principal.is_some() && is_api {
        csrf::check_origin(headers)?;
        let submitted = headers.get(csrf::HEADER).and_then(|h| h.to_str().ok());
        csrf::verify(session, submitted).await?;
    }
    Ok(Identity(principal.map(|p| (p, Via::Session))))
}
