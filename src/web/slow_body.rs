//! Cuts off request bodies that stop or trickle. Without this a client that sends an upload's
//! headers and then a byte now and again holds an upload permit (and its buffers) until the
//! request timeout, minutes later; eight of them starve every GP's submission.
//!
//! Only time spent *waiting for the client* counts: the clock runs while the handler asks for
//! body bytes and none are there, and stops while the handler is busy (processing a photo
//! between parts, waiting for an upload permit). A body fails when
//! - nothing arrives for the idle timeout, or
//! - a window of that same length of waiting brings fewer bytes than the minimum rate asks
//!   (a byte every few seconds never trips the idle timeout; windows rather than the average
//!   since the start, so a fast start cannot be banked for a long trickle).
//!
//! The failed read surfaces in the handler as a broken upload, which it answers and cleans up
//! as any broken upload (its photos are deleted); [`cut_off_slow_bodies`] then turns that
//! answer into a 408 saying what happened.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::error::AppError;
use crate::config::Settings;

/// How slowly a request body may arrive.
#[derive(Debug, Clone, Copy)]
pub struct BodyPace {
    /// Longest wait for the next bytes; also the grace period before `min_bytes_per_sec`.
    pub idle: Duration,
    /// Slowest rate, over each `idle`-long window of waiting; 0 turns the check off.
    pub min_bytes_per_sec: u64,
}

impl BodyPace {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            idle: Duration::from_secs(settings.body_idle_timeout_secs.max(1)),
            min_bytes_per_sec: settings.body_min_bytes_per_sec,
        }
    }
}

/// The error a cut-off body reports to whoever reads it.
#[derive(Debug)]
pub struct BodyTooSlow;

impl std::fmt::Display for BodyTooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body stopped or arrived too slowly")
    }
}

impl std::error::Error for BodyTooSlow {}

/// Middleware on every route: wraps the request body in [`PacedBody`] and answers 408 when it
/// was cut off. Only answers that the broken body caused are replaced (400 from the multipart
/// reader, or 5xx); a refusal decided before (403, 413, 422…) stands.
pub async fn cut_off_slow_bodies(
    State(pace): State<BodyPace>,
    req: Request,
    next: Next,
) -> Response {
    let tripped = Arc::new(AtomicBool::new(false));
    let req = req.map(|body| Body::new(PacedBody::new(body, pace, tripped.clone())));
    let response = next.run(req).await;
    let caused_by_body =
        response.status() == StatusCode::BAD_REQUEST || response.status().is_server_error();
    if tripped.load(Ordering::SeqCst) && caused_by_body {
        tracing::info!("request body stopped or trickled; cut off");
        return AppError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_body_timeout",
            "The upload stopped arriving (or arrived too slowly), so aghub stopped waiting for \
             it and saved nothing. Please check the connection and send it again.",
        )
        .into_response();
    }
    response
}

/// A request body that fails with [`BodyTooSlow`] when the client stalls or trickles.
pub struct PacedBody {
    inner: Body,
    pace: BodyPace,
    /// When the current wait began (the last poll found no bytes): for the idle timeout.
    wait_started: Option<Instant>,
    /// Waiting time in the current rate window, before `window_mark`.
    window_waited: Duration,
    /// Since when the current wait counts towards the window.
    window_mark: Option<Instant>,
    window_bytes: u64,
    timer: Option<Pin<Box<Sleep>>>,
    tripped: Arc<AtomicBool>,
}

impl PacedBody {
    fn new(inner: Body, pace: BodyPace, tripped: Arc<AtomicBool>) -> Self {
        Self {
            inner,
            pace,
            wait_started: None,
            window_waited: Duration::ZERO,
            window_mark: None,
            window_bytes: 0,
            timer: None,
            tripped,
        }
    }

    fn checks_rate(&self) -> bool {
        self.pace.min_bytes_per_sec > 0
    }

    /// Bytes each window of `idle` waiting must bring. Windows, not the average since the
    /// start: a client must not bank a fast start and then trickle.
    fn window_minimum(&self) -> u64 {
        let millis = u64::try_from(self.pace.idle.as_millis()).unwrap_or(u64::MAX);
        (self.pace.min_bytes_per_sec.saturating_mul(millis) / 1000).max(1)
    }

    /// Starts a new rate window; false when the one ending brought too few bytes.
    fn close_window(&mut self, now: Instant) -> bool {
        let enough = self.window_bytes >= self.window_minimum();
        self.window_waited = Duration::ZERO;
        self.window_bytes = 0;
        self.window_mark = self.window_mark.map(|_| now);
        enough
    }

    fn fail(&mut self) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        self.tripped.store(true, Ordering::SeqCst);
        self.timer = None;
        Poll::Ready(Some(Err(axum::Error::new(BodyTooSlow))))
    }

    fn on_frame(&mut self, bytes: u64) -> bool {
        if let Some(mark) = self.window_mark.take() {
            self.window_waited += mark.elapsed();
        }
        self.wait_started = None;
        self.window_bytes += bytes;
        if self.checks_rate() && self.window_waited >= self.pace.idle {
            return self.close_window(Instant::now());
        }
        true
    }

    /// Still waiting: fails once the wait reaches the idle timeout, or a rate window ends
    /// short of its bytes; otherwise arms the timer for the next of those moments.
    fn on_pending(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let now = Instant::now();
        let wait_started = *self.wait_started.get_or_insert(now);
        self.window_mark.get_or_insert(now);
        loop {
            let idle_deadline = wait_started + self.pace.idle;
            let mut deadline = idle_deadline;
            if self.checks_rate() {
                let mark = self.window_mark.expect("set above");
                deadline = deadline.min(mark + self.pace.idle.saturating_sub(self.window_waited));
            }
            let timer = self
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            if now >= idle_deadline || !self.close_window(now) {
                return self.fail();
            }
        }
    }
}

impl http_body::Body for PacedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if this.tripped.load(Ordering::SeqCst) {
            return Poll::Ready(Some(Err(axum::Error::new(BodyTooSlow))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let bytes = frame.data_ref().map_or(0, |d| d.len() as u64);
                if this.on_frame(bytes) {
                    Poll::Ready(Some(Ok(frame)))
                } else {
                    this.fail()
                }
            }
            Poll::Ready(other) => {
                this.on_frame(0);
                Poll::Ready(other)
            }
            Poll::Pending => this.on_pending(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn pace(idle_ms: u64, min_bytes_per_sec: u64) -> BodyPace {
        BodyPace {
            idle: Duration::from_millis(idle_ms),
            min_bytes_per_sec,
        }
    }

    /// A body fed by the test: `send` chunks, then stop.
    fn channel_body(
        p: BodyPace,
    ) -> (
        tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
        PacedBody,
        Arc<AtomicBool>,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        });
        let tripped = Arc::new(AtomicBool::new(false));
        let body = PacedBody::new(Body::from_stream(stream), p, tripped.clone());
        (tx, body, tripped)
    }

    #[tokio::test]
    async fn a_body_that_stops_fails_after_the_idle_timeout() {
        let (tx, mut body, tripped) = channel_body(pace(200, 0));
        tx.send(Ok(Bytes::from_static(b"abc"))).await.unwrap();
        assert!(body.frame().await.unwrap().is_ok());
        let started = Instant::now();
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(err.to_string().contains("too slowly"), "{err}");
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(tripped.load(Ordering::SeqCst));
        // Later reads fail at once (the refused-upload drain must not wait again).
        assert!(body.frame().await.unwrap().is_err());
    }

    #[tokio::test]
    async fn a_trickle_fails_once_its_rate_is_below_the_minimum() {
        let (tx, mut body, tripped) = channel_body(pace(300, 100));
        // A byte every 50 ms: never idle for 300 ms, but 20 bytes/s.
        let feeder = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if tx.send(Ok(Bytes::from_static(b"x"))).await.is_err() {
                    break;
                }
            }
        });
        let outcome = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(frame) = body.frame().await {
                if frame.is_err() {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(
            outcome,
            Ok(true),
            "cut off once the grace period has passed"
        );
        assert!(tripped.load(Ordering::SeqCst));
        feeder.abort();
    }

    #[tokio::test]
    async fn a_fast_start_does_not_buy_a_long_trickle() {
        let (tx, mut body, tripped) = channel_body(pace(300, 100));
        tx.send(Ok(Bytes::from(vec![0u8; 100_000]))).await.unwrap();
        let feeder = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if tx.send(Ok(Bytes::from_static(b"x"))).await.is_err() {
                    break;
                }
            }
        });
        let outcome = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(frame) = body.frame().await {
                if frame.is_err() {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(
            outcome,
            Ok(true),
            "100 kB at once, then 20 bytes/s, is cut off"
        );
        assert!(tripped.load(Ordering::SeqCst));
        feeder.abort();
    }

    #[tokio::test]
    async fn time_the_reader_spends_elsewhere_does_not_count() {
        let (tx, mut body, tripped) = channel_body(pace(100, 1_000));
        for _ in 0..3 {
            tx.send(Ok(Bytes::from(vec![0u8; 2_000]))).await.unwrap();
            assert!(body.frame().await.unwrap().is_ok());
            // The handler processes a photo for longer than the idle timeout.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        drop(tx);
        assert!(body.frame().await.is_none());
        assert!(!tripped.load(Ordering::SeqCst));
    }
}
