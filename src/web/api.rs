//! The JSON API, version 1 (contract.md).

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::CurrentUser;
use super::error::{AppError, AppResult};
use crate::clock::rfc3339;
use crate::db;
use axum::extract::State;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(me))
        .route("/audit", get(audit))
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

/// The latest audit events, for admins.
async fn audit(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> AppResult<Json<Value>> {
    if !user.may_administer() {
        return Err(AppError::forbidden("Only admins can read the audit trail."));
    }
    let events = db::audit::recent(&state.db, 200).await?;
    let events: Vec<Value> = events
        .into_iter()
        .map(|e| {
            json!({
                "at": rfc3339(e.at_ms),
                "actor_id": e.actor_id,
                "action": e.action,
                "case_id": e.case_id,
                "subject_id": e.subject_id,
            })
        })
        .collect();
    Ok(Json(json!({ "events": events })))
}

async fn not_found() -> AppError {
    AppError::not_found("There is no API route at this address; see /api/v1/openapi.json.")
}
