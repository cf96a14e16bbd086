use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::service::{self, AppState};

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when both the database and the object store answer.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let ready = service::readiness(&state).await;
    let ok = ready.database && ready.storage;
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": word(ok),
            "database": word(ready.database),
            "storage": word(ready.storage),
        })),
    )
}
