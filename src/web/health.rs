use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::state::AppState;

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when both the database and the object store answer.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (db, blobs) = tokio::join!(state.db.ping(), state.blobs.health_check());
    let ok = db.is_ok() && blobs.is_ok();
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: database");
    }
    if let Err(e) = &blobs {
        tracing::warn!(error = %e, "readiness: storage");
    }
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": word(ok),
            "database": word(db.is_ok()),
            "storage": word(blobs.is_ok()),
        })),
    )
}
