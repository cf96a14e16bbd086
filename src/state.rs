use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::blob::BlobStore;
use crate::clock::Clock;
use crate::config::Settings;
use crate::db::Db;

/// Everything a handler may use; concrete types only, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub blobs: BlobStore,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
    /// Bounds CPU-heavy work (password hashing, image processing) to the cores we have,
    /// so a burst of uploads queues instead of exhausting memory.
    pub cpu_permits: Arc<Semaphore>,
    /// Verified against when an email is unknown, so sign-in takes the same time either way.
    pub dummy_password_hash: Arc<str>,
}

impl AppState {
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Runs CPU-heavy work off the async runtime, at most one task per core at a time,
    /// inside the caller's tracing span.
    pub async fn run_blocking<T, F>(&self, work: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = self.cpu_permits.clone().acquire_owned().await?;
        let span = tracing::Span::current();
        Ok(tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _enter = span.enter();
            work()
        })
        .await?)
    }
}
