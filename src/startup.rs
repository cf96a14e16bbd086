use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::clock::Clock;
use crate::config::Settings;
use crate::service::{self, AppState};
use crate::web;

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let mut settings = settings;
        let bind = settings.bind.clone();
        let listener = TcpListener::bind(&bind)
            .await
            .with_context(|| format!("listening on {bind}"))?;
        // Without AGHUB_PUBLIC_URL, links name the address actually bound (port 0 resolved).
        if settings
            .public_url
            .as_deref()
            .is_none_or(|u| u.trim().is_empty())
        {
            let addr = listener.local_addr().context("reading the bound address")?;
            settings.public_url = Some(format!("http://{addr}"));
        }
        let state = AppState::open(settings, clock).await?;
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
        let calls = tokio::spawn(give_up_unanswered_calls(self.state.clone()));
        let call_events = tokio::spawn(service::calls::listen(self.state.clone()));
        let outbox = self
            .state
            .settings
            .outbox_worker
            .then(|| tokio::spawn(service::outbox::worker(self.state.clone())));
        let app = web::router(self.state.clone());
        let http = Arc::new(http1_builder(&self.state.settings));
        // `stop` tells every connection to finish; each holds a `done` receiver, so
        // `done.closed()` resolves once the last one has ended.
        let (stop, stopping) = watch::channel(());
        let (done, finished) = watch::channel(());
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, remote) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        accept_failed(e).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            tokio::spawn(serve_connection(
                stream,
                remote,
                app.clone(),
                http.clone(),
                stopping.clone(),
                finished.clone(),
            ));
        }
        drop(self.listener);
        drop(finished);
        let _ = stop.send(());
        done.closed().await;
        housekeeping.abort();
        calls.abort();
        call_events.abort();
        if let Some(outbox) = outbox {
            // A delivery cut off here is leased; another instance, or this one restarted,
            // takes it again when the lease runs out.
            outbox.abort();
        }
        self.state.db.close().await;
        Ok(())
    }
}

/// HTTP/1.1, as `axum::serve` spoke it, through hyper's own builder because axum's has no
/// header timeout. hyper starts the header timer whenever a connection waits for a request,
/// so the same timeout ends a half-sent header and an idle keep-alive connection.
fn http1_builder(settings: &Settings) -> http1::Builder {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(settings.header_timeout_secs.max(1)))
        .keep_alive(true);
    http
}

/// One connection, with the caller's address as `ConnectInfo`; on shutdown it finishes the
/// request in flight and closes.
async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: axum::Router,
    http: Arc<http1::Builder>,
    mut stopping: watch::Receiver<()>,
    finished: watch::Receiver<()>,
) {
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(remote));
        app.clone().oneshot(req.map(Body::new))
    });
    // Upgrades: the live-call pages' WebSockets.
    let conn = http
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let served = tokio::select! {
        served = conn.as_mut() => served,
        _ = stopping.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
    };
    if let Err(e) = served {
        // Header timeouts, clients going away: routine, not the server's failure.
        tracing::debug!(error = %e, %remote, "connection ended");
    }
    drop(finished);
}

/// As axum::serve: per-connection errors are skipped; running out of file descriptors or
/// memory pauses accepting for a second rather than spinning.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Periodic chores. Safe with several instances: each is an idempotent statement.
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    let mut first = true;
    loop {
        tick.tick().await;
        run_housekeeping_once(&state).await;
        // The daily retention run, on the one instance that takes the day's lease; not in the
        // first minute, so that starting an instance does not delete anything at once.
        if !std::mem::take(&mut first) {
            match service::retention::run_daily_if_due(&state).await {
                Ok(Some(r)) => tracing::info!(
                    cases = r.cases_erased,
                    on_hold = r.cases_on_hold,
                    "retention run"
                ),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the retention run failed; it is tried again in a minute")
                }
            }
        }
    }
}

/// Live calls nobody answered become written cases within about a second of their give-up
/// time, whichever instance notices first (`service::calls::settle` is a compare-and-set).
async fn give_up_unanswered_calls(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = service::calls::settle_due(&state).await {
            tracing::warn!(error = %e, "could not turn unanswered calls into written cases");
        }
    }
}

/// One round of chores: expired sessions, orphaned photo objects. Errors are logged and the
/// next round tries again (the database or the store may be down for a while).
pub async fn run_housekeeping_once(state: &AppState) {
    if let Err(e) = service::auth::sweep(state).await {
        tracing::warn!(error = %e, "could not forget expired sessions and old sign-in attempts");
    }
    match service::photos::sweep_orphans(state).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(objects = n, "deleted orphaned photo objects"),
        Err(e) => tracing::warn!(error = %e, "could not sweep orphaned photo objects"),
    }
    if let Err(e) = service::outbox::sweep(state).await {
        tracing::warn!(error = %e, "could not forget old deliveries");
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
