//! Serving a stored photo object: its size from the query, and the bytes as a private,
//! uncached response streamed from the store. The access check comes before, in the caller.

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::{AppError, AppResult};
use crate::domain::PhotoSize;
use crate::service::AppState;

#[derive(Deserialize)]
pub struct SizeQuery {
    pub size: Option<String>,
}

pub fn parse_size(size: Option<&str>) -> AppResult<PhotoSize> {
    let size = size.unwrap_or("full");
    size.parse().map_err(|_| {
        AppError::invalid(
            "invalid_size",
            format!("size must be full, display or thumb, not '{size}'."),
        )
    })
}

/// A stored photo object as a private, uncached response, streamed from the store.
pub async fn object_response(
    state: &AppState,
    key: String,
    content_type: String,
) -> AppResult<Response> {
    let key = crate::blob::BlobKey::new(key).map_err(AppError::internal)?;
    let object = state.blobs.read_stream(&key).await?;
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
            (header::CONTENT_DISPOSITION, "inline".to_string()),
        ],
        Body::from_stream(object.chunks),
    )
        .into_response();
    if let Some(length) = object.length {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, header::HeaderValue::from(length));
    }
    Ok(response)
}
