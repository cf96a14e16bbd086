//! The API suite: every test here runs twice, on SQLite + filesystem and on PostgreSQL + S3.

/// Declares `sqlite_fs::NAME` and `postgres_s3::NAME` tests for each `async fn NAME(Stack)`.
macro_rules! on_both_stacks {
    ($($name:ident),* $(,)?) => {
        mod sqlite_fs {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Stack::SqliteFs).await
                }
            )*
        }
        mod postgres_s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Stack::PostgresS3).await
                }
            )*
        }
    };
}

mod blob_conformance;
mod browser;
mod call_browser;
mod calls;
mod cases;
mod cli;
mod db_conformance;
mod faults;
mod fhir;
mod helpers;
mod letters;
mod notifications;
mod openapi_fuzz;
mod organisations;
mod pages;
mod photo_requests;
mod platform;
mod records;
mod referrals;
mod reports;
mod security;
mod slow_clients;
mod staged_photos;
mod upgrade;
