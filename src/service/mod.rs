//! Use cases that combine the domain rules with the database, object store and image pipeline.
//! HTTP handlers (pages and API) call these and only translate input and output.

pub mod admin;
pub mod auth;
pub mod cases;
pub mod photos;
pub mod reports;
pub mod topics;

use crate::blob::BlobError;
use crate::db::DbError;
use crate::imaging::ImageError;

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
    #[error("Photo {number}: {source}")]
    Image { number: usize, source: ImageError },
    #[error("{0}")]
    TooManyPhotos(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for ServiceError {
    fn from(e: sqlx::Error) -> Self {
        ServiceError::Db(DbError::from(e))
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;
