use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::blob::BlobStore;
use crate::clock::Clock;
use crate::config::Settings;
use crate::db::sessions::DbSessionStore;
use crate::db::Db;
use crate::state::AppState;
use crate::web;

/// Connects storage, applies migrations and builds the shared state.
pub async fn build_state(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
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
    let blobs = BlobStore::from_settings(&settings)
        .await
        .context("opening the object store")?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dummy = crate::web::auth::hash_password("not-a-real-password")
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
    Ok(AppState {
        db,
        blobs,
        clock,
        settings: Arc::new(settings),
        cpu_permits: Arc::new(Semaphore::new(cores)),
        dummy_password_hash: dummy.into(),
    })
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let bind = settings.bind.clone();
        let state = build_state(settings, clock).await?;
        let listener = TcpListener::bind(&bind)
            .await
            .with_context(|| format!("listening on {bind}"))?;
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let housekeeping = tokio::spawn(housekeeping(self.state.clone()));
        let app = web::router(self.state.clone());
        let served = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        housekeeping.abort();
        self.state.db.close().await;
        served.context("serving HTTP")
    }
}

/// Periodic chores. Safe with several instances: each is an idempotent statement.
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        run_housekeeping_once(&state).await;
    }
}

/// One round of chores: expired sessions, orphaned photo objects. Errors are logged and the
/// next round tries again (the database or the store may be down for a while).
pub async fn run_housekeeping_once(state: &AppState) {
    let sessions = DbSessionStore::new(state.db.clone());
    if let Err(e) = sessions
        .delete_expired(crate::clock::SystemClock.now_ms())
        .await
    {
        tracing::warn!(error = %e, "could not delete expired sessions");
    }
    if let Err(e) = crate::db::sign_in::sweep(&state.db, state.now_ms()).await {
        tracing::warn!(error = %e, "could not forget old sign-in attempts");
    }
    match crate::service::photos::sweep_orphans(state).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(objects = n, "deleted orphaned photo objects"),
        Err(e) => tracing::warn!(error = %e, "could not sweep orphaned photo objects"),
    }
}

/// Resolves on Ctrl-C or SIGTERM (what orchestrators send before stopping a container).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
