//! aghub: store-and-forward Advice & Guidance for the NHS.
//!
//! Layout: `domain` (pure rules) · `db` (SQLite/PostgreSQL) · `blob` (filesystem/S3) ·
//! `web` (HTTP: routes, auth, pages, API) · `startup`/`cli` (wiring).

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod allocator;
pub mod blob;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod fhir;
pub mod imaging;
pub mod letter;
pub mod limits;
pub mod ods;
pub mod outbound;
pub mod private_files;
pub mod service;
pub mod startup;
pub mod telemetry;
pub mod uk_time;
pub mod web;
