use std::sync::Arc;

use anyhow::Context;
use tokio::sync::Semaphore;

use crate::blob::BlobStore;
use crate::clock::Clock;
use crate::config::Settings;
use crate::db::Db;
use crate::imaging::{self, ImageError, Limits, Processed};
use crate::limits::{DecodeBudget, UploadPermits};

/// Everything a handler may use; concrete types only, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub blobs: BlobStore,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
    /// Bounds CPU-heavy work (password hashing, image processing) to a task per core (a photo's
    /// render may run a second thread under its one permit), so a burst of uploads queues
    /// instead of exhausting memory.
    pub cpu_permits: Arc<Semaphore>,
    /// Bounds the memory of photo decoding by bytes, however many cores run decodes.
    pub decode_memory: Arc<DecodeBudget>,
    /// Upload routes (case submissions, responses, photo checks): so many at once, and at
    /// most a few per account.
    pub uploads: Arc<UploadPermits>,
    /// Verified against when an email is unknown, so sign-in takes the same time either way.
    pub dummy_password_hash: Arc<str>,
    /// Email and webhook clients for the outbox's deliveries.
    pub outbound: Arc<super::outbox::Outbound>,
    /// Wakes this instance's outbox worker after a commit that wrote deliveries.
    pub outbox_wake: super::outbox::Wake,
    /// Wakes the sockets of calls that changed, on this instance.
    pub call_events: super::calls::Events,
}

impl AppState {
    /// Connects storage, applies pending migrations and builds the shared state.
    pub async fn open(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        if settings.database_url.is_none() || settings.storage_url.is_none() {
            crate::private_files::own_dir(&settings.data_dir)
                .with_context(|| format!("preparing {}", settings.data_dir.display()))?;
        }
        let db = Db::connect(&settings.database_url())
            .await
            .context("connecting to the database")?;
        db.migrate_if_pending()
            .await
            .context("applying database migrations")?;
        super::case_facts::bring_up_to_date(&db)
            .await
            .context("bringing the report figures up to date")?;
        let blobs = BlobStore::from_settings(&settings)
            .await
            .context("opening the object store")?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let dummy = super::auth::hash_password("not-a-real-password")
            .map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
        let outbound = super::outbox::Outbound::from_settings(&settings)?;
        Ok(AppState {
            db,
            outbound: Arc::new(outbound),
            outbox_wake: Default::default(),
            call_events: Default::default(),
            blobs,
            clock,
            decode_memory: DecodeBudget::new(settings.decode_memory_mb),
            uploads: UploadPermits::new(
                settings.max_concurrent_uploads,
                settings.max_uploads_per_user,
            ),
            settings: Arc::new(settings),
            cpu_permits: Arc::new(Semaphore::new(cores)),
            dummy_password_hash: dummy.into(),
        })
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The same state (storage, limits, settings) reading another clock: the demo's history
    /// runs the use cases at past times.
    pub fn with_clock(&self, clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            ..self.clone()
        }
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

    /// Runs the photo pipeline on an upload once its estimated decode memory is reserved, then
    /// under one CPU permit as [`Self::run_blocking`], although a baseline JPEG's render runs a
    /// second thread (its full-size turn or re-encode). That thread idles while the render is
    /// alone in its steps (before the display copy is made, the final join), and with a permit
    /// for each thread a 2-core server idled 12 % of the time under load (`perf`); one permit a
    /// render lets a second render fill those gaps: 10.0 → 12.0 uploads/s, p99 1,045 → 914 ms
    /// (`scripts/load`, 8 GPs, SQLite; 9.2 → 10.2/s on PostgreSQL + S3). At most twice as many
    /// threads as cores do photo work, and the decode budget still bounds their memory.
    pub async fn process_photo(
        &self,
        original: impl AsRef<[u8]> + Send + 'static,
    ) -> anyhow::Result<Result<Processed, ImageError>> {
        // The probe may read the whole upload (looking for EXIF), so not on an async thread;
        // header work only, it takes no CPU permit, so a photo queues for the cores once.
        let (original, probe) = tokio::task::spawn_blocking(move || {
            let probe = imaging::probe(original.as_ref(), &Limits::default());
            (original, probe)
        })
        .await?;
        let _memory = self.decode_memory.reserve(probe.decode_estimate()).await;
        self.run_blocking(move || imaging::process_probed(original.as_ref(), probe))
            .await
    }
}
