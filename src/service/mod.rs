//! Use cases that combine the domain rules with the database, object store and image pipeline.
//! HTTP handlers (pages and API) call these and only translate input and output.

pub mod accounts;
pub mod admin;
pub mod auth;
pub mod calls;
pub mod case_facts;
pub mod cases;
pub mod fhir;
pub mod letters;
pub mod notify;
pub mod organisations;
pub mod outbox;
pub mod patient_export;
pub mod photo_requests;
pub mod photos;
pub mod reports;
pub mod retention;
mod state;
pub mod topics;

pub use state::AppState;

/// Whether each backing store answers now (readiness).
#[derive(Debug, Clone, Copy)]
pub struct Readiness {
    pub database: bool,
    pub storage: bool,
}

pub async fn readiness(state: &AppState) -> Readiness {
    let (db, blobs) = tokio::join!(state.db.ping(), state.blobs.health_check());
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: database");
    }
    if let Err(e) = &blobs {
        tracing::warn!(error = %e, "readiness: storage");
    }
    Readiness {
        database: db.is_ok(),
        storage: blobs.is_ok(),
    }
}

use crate::blob::BlobError;
use crate::db::DbError;
use crate::imaging::ImageError;

/// Who made a change: an admin signed in to the pages, or the operator at the command line
/// (who signs in to the machine, not to aghub).
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Admin(&'a str),
    CommandLine,
    /// `aghub serve --demo` seeding its made-up world.
    Demo,
    /// `serve`'s own daily jobs (retention).
    Housekeeping,
}

impl Actor<'_> {
    fn user_id(&self) -> Option<&str> {
        match self {
            Actor::Admin(id) => Some(id),
            Actor::CommandLine | Actor::Demo | Actor::Housekeeping => None,
        }
    }

    fn via(&self) -> &'static str {
        match self {
            Actor::Admin(_) => "admin page",
            Actor::CommandLine => "command line",
            Actor::Demo => "demo seed",
            Actor::Housekeeping => "daily job",
        }
    }
}

/// Records what a signed-in person did to a subject (a call, a specialty's topic list), inside
/// the transaction of the change.
async fn record_by(
    tx: &mut crate::db::Tx<'_>,
    user: &crate::domain::access::Principal,
    action: &str,
    subject_id: &str,
    detail: serde_json::Value,
    now_ms: i64,
) -> ServiceResult<()> {
    record_on(
        tx,
        Some(user.user_id.as_str()),
        action,
        subject_id,
        detail,
        now_ms,
    )
    .await
}

/// Records an operator's change inside its transaction, saying who made it and by which way
/// (`detail` is a JSON object; `via` is added to it).
async fn record_change(
    tx: &mut crate::db::Tx<'_>,
    actor: Actor<'_>,
    action: &str,
    subject_id: &str,
    mut detail: serde_json::Value,
    now_ms: i64,
) -> ServiceResult<()> {
    detail["via"] = actor.via().into();
    record_on(tx, actor.user_id(), action, subject_id, detail, now_ms).await
}

/// One audit row about a subject, inside the change's transaction.
async fn record_on(
    tx: &mut crate::db::Tx<'_>,
    actor_id: Option<&str>,
    action: &str,
    subject_id: &str,
    detail: serde_json::Value,
    now_ms: i64,
) -> ServiceResult<()> {
    crate::db::audit::record(
        &mut **tx,
        crate::db::audit::Event {
            actor_id,
            action,
            subject_id: Some(subject_id),
            detail: Some(detail),
            ..Default::default()
        },
        now_ms,
    )
    .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub code: &'static str,
    pub message: String,
}

/// The service layer's one error type; `web::error` maps it to responses.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{}", .0.first().map(|e| e.message.as_str()).unwrap_or("invalid input"))]
    Invalid(Vec<FieldError>),
    /// A photo that cannot be used: `number` is its place in a form with several (none for a
    /// photo uploaded on its own).
    #[error("{}{source}", number.map(|n| format!("Photo {n}: ")).unwrap_or_default())]
    Image {
        number: Option<usize>,
        source: ImageError,
    },
    #[error("{0}")]
    TooManyPhotos(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// Something that existed and is over: an expired, revoked or used patient link.
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    /// Too many tries: the message says how long to wait.
    #[error("{message}")]
    Paused { message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The database cannot be reached just now; nothing was saved.
    #[error("the database is unavailable")]
    DatabaseUnavailable,
    /// Text holding a character the database cannot store (such as NUL).
    #[error("the text contains a character that cannot be stored")]
    UnstorableText,
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The database's failures, in the terms callers act on; anything else is our fault.
impl From<DbError> for ServiceError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => ServiceError::NotFound("Not found.".into()),
            DbError::Conflict(message) => ServiceError::Conflict {
                code: "conflict",
                message,
            },
            e if e.is_unavailable() => {
                tracing::error!(error = %e, "database unavailable");
                ServiceError::DatabaseUnavailable
            }
            e if e.is_unstorable_text() => ServiceError::UnstorableText,
            e => ServiceError::Internal(e.into()),
        }
    }
}

impl From<sqlx::Error> for ServiceError {
    fn from(e: sqlx::Error) -> Self {
        DbError::from(e).into()
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;
