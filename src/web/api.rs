//! The JSON API, version 1 (contract.md).

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::CurrentUser;
use super::error::AppError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(me))
        .fallback(not_found)
}

/// Who the caller is, as the service sees them.
async fn me(CurrentUser(user): CurrentUser) -> Json<Value> {
    Json(json!({
        "id": user.user_id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "practice_id": user.practice_id,
        "specialties": user.specialties,
    }))
}

async fn not_found() -> AppError {
    AppError::not_found("There is no API route at this address; see /api/v1/openapi.json.")
}
