//! The one HTTP error type. Handlers return it; the JSON API sends the contract's body
//! `{"error": {"code", "message"}}`, and the page router re-renders it as an HTML page.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::blob::BlobError;
use crate::service::{FieldError, ServiceError};

#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The input field at fault, for a 422 from the service's checks.
    pub field: Option<&'static str>,
    /// Every field the service's checks refused, each with its own code and message.
    pub fields: Vec<FieldError>,
    /// The cause of a 5xx, logged and never shown.
    pub source: Option<anyhow::Error>,
}

/// Left on the response so the page layer can render the same error as HTML.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub code: &'static str,
    pub message: String,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            fields: Vec::new(),
            source: None,
        }
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// A photo the pipeline refused, with the status it chose (413, 415 or 422).
    pub fn from_image(e: &crate::imaging::ImageError, message: String) -> Self {
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        Self::new(status, e.code(), message)
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Sign in first: send an API token as 'Authorization: Bearer …' or use the sign-in page.",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            message,
        )
    }

    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal_error",
            message: "Something went wrong on our side; nothing was saved. Please try again."
                .into(),
            field: None,
            fields: Vec::new(),
            source: Some(source.into()),
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl From<BlobError> for AppError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::NotFound(_) => AppError::not_found("That image is not in storage."),
            BlobError::Unavailable(_) => {
                tracing::error!(error = %e, "storage unavailable");
                AppError::unavailable(
                    "Photo storage is unavailable just now; nothing was saved. Please try again in a minute.",
                )
            }
            other => AppError::internal(other),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let Some(source) = &self.source {
            tracing::error!(error = ?source, code = self.code, "request failed");
        }
        let mut error = serde_json::json!({ "code": self.code, "message": self.message });
        if let Some(field) = self.field {
            error["field"] = field.into();
        }
        if !self.fields.is_empty() {
            error["fields"] = serde_json::json!(self.fields);
        }
        let body = serde_json::json!({ "error": error });
        let mut response = (self.status, Json(body)).into_response();
        response.extensions_mut().insert(ErrorInfo {
            code: self.code,
            message: self.message,
        });
        response
    }
}

impl From<ServiceError> for AppError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(errors) => {
                let code = errors.first().map(|e| e.code).unwrap_or("invalid_input");
                let message = errors
                    .iter()
                    .map(|e| e.message.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                let mut e = AppError::invalid(code, message);
                e.field = errors.first().map(|e| e.field);
                e.fields = errors;
                e
            }
            ServiceError::Image { ref source, .. } => {
                let message = e.to_string();
                AppError::from_image(source, message)
            }
            ServiceError::TooManyPhotos(m) => {
                AppError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_many_photos", m)
            }
            ServiceError::Forbidden(m) => AppError::forbidden(m),
            ServiceError::NotFound(m) => AppError::not_found(m),
            ServiceError::Gone { code, message } => {
                AppError::new(StatusCode::GONE, code, message)
            }
            ServiceError::Paused { message, .. } => {
                AppError::new(StatusCode::TOO_MANY_REQUESTS, "paused", message)
            }
            ServiceError::Conflict { code, message } => AppError::conflict(code, message),
            ServiceError::DatabaseUnavailable => AppError::unavailable(
                "The database is unavailable just now; nothing was saved. Please try again in a minute.",
            ),
            ServiceError::UnstorableText => AppError::invalid(
                "invalid_characters",
                "The text contains a character that cannot be stored (such as NUL); remove it and try again.",
            ),
            ServiceError::Blob(e) => e.into(),
            ServiceError::Internal(e) => AppError::internal(e),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// Middleware for `/api/`: the framework's own refusals (a body that is not JSON or not
/// multipart, a wrong content type, a body over the limit, a method the route lacks, a timeout)
/// answer in plain text; the contract promises `{"error": {"code", "message"}}` for every error,
/// so those are rewritten here, keeping their status and headers (`Allow`, `Retry-After`).
pub async fn api_errors_as_json(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let is_api = req.uri().path().starts_with("/api/");
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_api || is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let (code, fallback) = match status {
        StatusCode::BAD_REQUEST => ("bad_request", "The request could not be read."),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "This address does not take this method; see the Allow header.",
        ),
        StatusCode::REQUEST_TIMEOUT => (
            "request_timeout",
            "The request took too long to arrive; nothing was saved. Please try again.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            "The request is too large; nothing was saved.",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "The request's Content-Type is not one this address takes.",
        ),
        StatusCode::UNPROCESSABLE_ENTITY => ("invalid_request", "The request could not be read."),
        s if s.is_server_error() => (
            "internal_error",
            "Something went wrong on our side; nothing was saved. Please try again.",
        ),
        _ => ("invalid_request", "The request was refused."),
    };
    // Server errors never show their text; a client error's text says what to fix.
    let message = if text.is_empty() || status.is_server_error() {
        fallback.to_string()
    } else {
        text
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let mut rewritten = AppError::new(status, code, message).into_response();
    for (name, value) in parts.headers.iter() {
        if name != axum::http::header::CONTENT_TYPE {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}
