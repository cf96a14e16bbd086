//! Reads what is left of a refused request's body before the refusal goes out.
//!
//! A handler or middleware that refuses a request (401, 403, 422, 503 …) often does so before
//! reading its body. The server then closes the connection while the client is still sending,
//! and the client sees a broken pipe instead of the answer: a phone uploading a case would show
//! "connection lost" rather than "your session has ended". So the body is wrapped; whatever the
//! handler drops unread comes back here, and after an error answer up to
//! [`MAX_READ_AFTER_REFUSAL`] more bytes are read and thrown away. Bodies over the upload limit
//! (413) are not read: the limit promises to cut them off. The pacing layer outside this one
//! still cuts off a client that stalls meanwhile.
//!
//! Seen in this suite on a loaded machine (a 503 from authentication while PostgreSQL was
//! down arrived as a broken pipe); on an idle one hyper and the client usually cope, so no test
//! can make the race happen on demand.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};

/// A refused request's body is read up to this much more; a bigger one is cut off.
pub const MAX_READ_AFTER_REFUSAL: usize = 8 * 1024 * 1024;

type Slot = Arc<Mutex<Option<Body>>>;

pub async fn read_rest_of_refused_bodies(req: Request, next: Next) -> Response {
    let slot: Slot = Arc::default();
    let req = req.map(|inner| {
        Body::new(Returning {
            inner: Some(inner),
            slot: slot.clone(),
        })
    });
    let response = next.run(req).await;
    let status = response.status();
    if (status.is_client_error() || status.is_server_error())
        && status != StatusCode::PAYLOAD_TOO_LARGE
    {
        let rest = slot.lock().map(|mut s| s.take()).unwrap_or(None);
        if let Some(rest) = rest {
            let _ = axum::body::to_bytes(rest, MAX_READ_AFTER_REFUSAL).await;
        }
    }
    response
}

/// The request body, which hands itself back through `slot` when dropped before its end.
struct Returning {
    inner: Option<Body>,
    slot: Slot,
}

impl http_body::Body for Returning {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match self.inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), http_body::Body::size_hint)
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            if !http_body::Body::is_end_stream(&inner) {
                if let Ok(mut slot) = self.slot.lock() {
                    *slot = Some(inner);
                }
            }
        }
    }
}
