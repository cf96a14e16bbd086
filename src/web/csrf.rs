//! Cross-site request forgery defences for browser sessions:
//! 1. every unsafe request without an API token must come from our own origin (Origin/Referer);
//! 2. every form carries a per-session synchronizer token (`csrf_token`), checked by [`CsrfForm`]
//!    or [`verify`]; JSON calls made with the session cookie send it as `X-CSRF-Token`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, HeaderMap, Method, StatusCode};
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tower_sessions::Session;

use super::error::AppError;

pub const SESSION_KEY: &str = "csrf";
pub const HEADER: &str = "x-csrf-token";

/// The session's token, made on first use.
pub async fn token(session: &Session) -> Result<String, AppError> {
    if let Some(t) = session
        .get::<String>(SESSION_KEY)
        .await
        .map_err(AppError::internal)?
    {
        return Ok(t);
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let t = hex::encode(bytes);
    session
        .insert(SESSION_KEY, &t)
        .await
        .map_err(AppError::internal)?;
    Ok(t)
}

/// Constant-time comparison of a submitted token with the session's.
pub async fn verify(session: &Session, submitted: Option<&str>) -> Result<(), AppError> {
    let expected = session
        .get::<String>(SESSION_KEY)
        .await
        .map_err(AppError::internal)?;
    let ok = match (expected, submitted) {
        // Hashing first makes the comparison independent of where the strings differ.
        (Some(e), Some(s)) => Sha256::digest(e.as_bytes()) == Sha256::digest(s.as_bytes()),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(forgery(
            "This form has expired or did not come from aghub. Reload the page and try again.",
        ))
    }
}

fn forgery(message: &str) -> AppError {
    AppError::forbidden(message).with_code("csrf_failed")
}

pub fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Same-origin check for unsafe browser requests.
pub fn check_origin(headers: &HeaderMap) -> Result<(), AppError> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|h| h.to_str().ok());
    let Some(source) = source else {
        return Err(forgery(
            "This request did not say where it came from, so it was refused.",
        ));
    };
    let authority = source
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(""))
        .unwrap_or("");
    if !host.is_empty() && authority.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(forgery(
            "This request came from another site, so it was refused.",
        ))
    }
}

#[derive(Deserialize)]
struct TokenField {
    csrf_token: Option<String>,
}

/// A url-encoded form whose `csrf_token` field has been checked against the session.
pub struct CsrfForm<T>(pub T);

impl<T, S> FromRequest<S> for CsrfForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state)
            .await
            .map_err(|(_, m)| AppError::internal(anyhow::anyhow!(m)))?;
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => AppError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "This form is larger than aghub accepts; shorten the text and try again.",
                ),
                _ => AppError::bad_request("bad_form", e.body_text()),
            })?;
        let field: TokenField = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| AppError::bad_request("bad_form", e.to_string()))?;
        verify(&session, field.csrf_token.as_deref()).await?;
        let value = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| AppError::invalid("bad_form", format!("The form is incomplete: {e}.")))?;
        Ok(CsrfForm(value))
    }
}
