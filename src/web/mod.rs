//! HTTP: routes, middleware and pages. Handlers stay thin: they parse, ask `domain::access`,
//! call `db`/`blob`/`imaging`, and render.

pub mod admin_pages;
pub mod api;
pub mod api_types;
mod assets;
pub mod auth;
pub mod call_pages;
pub mod calls;
pub mod case_form;
pub mod case_pages;
mod charts;
pub mod csrf;
pub mod error;
pub mod health;
pub mod notification_pages;
pub mod pages;
pub mod patient_pages;
pub mod photo_bytes;
pub mod photo_check;
pub mod photo_requests;
pub mod reports;
pub mod slow_body;
pub mod staged_photos;
pub mod templates;
// Moved to the crate root (the advice letter uses it too); kept here for the pages.
pub use crate::uk_time;
mod unread_body;

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderName, HeaderValue, Request};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::Response;
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::service::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub const SESSION_COOKIE: &str = "aghub_session";

/// Content-Security-Policy: our own scripts, styles and images only; never framed.
const CSP: &str = "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; \
    script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

pub fn router(state: AppState) -> Router {
    let sessions = SessionManagerLayer::new(crate::service::auth::session_store(&state))
        .with_name(SESSION_COOKIE)
        .with_secure(state.settings.cookie_secure)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(2)));
    let max_body = state.settings.max_request_mb * 1024 * 1024;
    let uploads = UploadLimit {
        max_body,
        state: state.clone(),
    };
    let timeout = Duration::from_secs(state.settings.request_timeout_secs);

    let routes = Router::new()
        .route("/", get(pages::home))
        .route("/cases", get(case_pages::list))
        .route("/cases", uploads.apply(post(case_pages::create)))
        .route("/cases/new", get(case_pages::new_form))
        .route("/cases/{id}", get(case_pages::show))
        .route("/cases/{id}/photos/{photo_id}", get(case_pages::photo))
        .route("/cases/{id}/claim", post(case_pages::claim))
        .route("/cases/{id}/release", post(case_pages::release))
        .route("/cases/{id}/reply", post(case_pages::reply))
        .route("/cases/{id}/referral-made", post(case_pages::referral_made))
        .route(
            "/cases/{id}/respond",
            uploads.apply(post(case_pages::respond)),
        )
        .route(
            "/cases/{id}/photo-requests",
            post(photo_requests::page_create),
        )
        .route(
            "/cases/{id}/photo-requests/{rid}/revoke",
            post(photo_requests::page_revoke),
        )
        .route("/p/{token}", get(patient_pages::show))
        .route("/p/{token}/verify", post(patient_pages::verify))
        .route(
            "/p/{token}/photos",
            uploads.apply(post(patient_pages::upload)),
        )
        .route("/p/{token}/photos/{photo}", get(patient_pages::thumb))
        .route(
            "/p/{token}/photos/{photo}/{action}",
            post(patient_pages::decide),
        )
        .route("/p/{token}/send", post(patient_pages::send))
        .route("/queue", get(case_pages::queue))
        .route("/calls", post(call_pages::start))
        .route("/calls/new", get(call_pages::new_form))
        .route("/calls/incoming/socket", get(calls::incoming_socket))
        .route("/calls/{id}", get(call_pages::show))
        .route("/calls/{id}/socket", get(calls::call_socket))
        .route("/calls/{id}/answer", post(call_pages::answer))
        .route("/calls/{id}/decline", post(call_pages::decline))
        .route("/calls/{id}/end", post(call_pages::end))
        .route("/calls/{id}/outcome", post(call_pages::outcome))
        .route("/notifications", get(notification_pages::list))
        .route(
            "/notifications/read",
            post(notification_pages::mark_all_read),
        )
        .route(
            "/notifications/settings",
            get(notification_pages::settings).post(notification_pages::save_settings),
        )
        .route("/admin/outbox", get(admin_pages::outbox))
        .route("/admin/audit", get(admin_pages::audit))
        .route("/admin/audit.csv", get(admin_pages::audit_csv))
        .route("/admin/patients/export", get(admin_pages::patient_export))
        .route("/admin/outbox/retry", post(admin_pages::retry_outbox))
        .route("/reports", get(reports::page))
        .route("/reports.csv", get(reports::csv))
        .route("/admin", get(admin_pages::index))
        .route("/admin/rotas", post(admin_pages::add_shift))
        .route("/admin/rotas/{id}", post(admin_pages::change_shift))
        .route("/admin/rotas/{id}/remove", post(admin_pages::remove_shift))
        .route(
            "/admin/specialties/{slug}",
            post(admin_pages::save_specialty),
        )
        .route(
            "/admin/topics/{specialty}",
            get(admin_pages::topics_index).post(admin_pages::add_topic),
        )
        .route(
            "/admin/topics/{specialty}/{slug}/rename",
            post(admin_pages::rename_topic),
        )
        .route(
            "/admin/topics/{specialty}/{slug}/retire",
            post(admin_pages::retire_topic),
        )
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/static/{*path}", get(assets::static_file))
        .route("/assets/images/{name}", get(assets::icon))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .nest("/api/v1", api::router(&uploads))
        .fallback(pages::not_found)
        .layer(from_fn_with_state(state.clone(), auth::record_refusals))
        .layer(from_fn_with_state(state.clone(), auth::authenticate))
        .layer(from_fn(unread_body::read_rest_of_refused_bodies))
        .layer(from_fn_with_state(
            slow_body::BodyPace::from_settings(&state.settings),
            slow_body::cut_off_slow_bodies,
        ))
        .layer(from_fn(pages::render_html_errors))
        .layer(sessions)
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(RequestBodyLimitLayer::new(max_body));
    with_security_headers(routes)
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(from_fn(error::api_errors_as_json))
        .layer(CatchPanicLayer::new())
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                // The path only: query strings may carry search terms we do not log.
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

/// Upload routes take large bodies, and only so many at once (`AppState::uploads`): at most
/// a few per account, decided once authentication knows the account, and the rest wait before
/// their bodies are read, so memory stays bounded however many GPs send photos together.
#[derive(Clone)]
pub struct UploadLimit {
    pub max_body: usize,
    state: AppState,
}

impl UploadLimit {
    pub fn apply(&self, route: MethodRouter<AppState>) -> MethodRouter<AppState> {
        self.apply_with_body_limit(route, self.max_body)
    }

    pub fn apply_with_body_limit(
        &self,
        route: MethodRouter<AppState>,
        max_body: usize,
    ) -> MethodRouter<AppState> {
        route
            .layer::<_, std::convert::Infallible>(DefaultBodyLimit::max(max_body))
            .layer::<_, std::convert::Infallible>(from_fn_with_state(
                self.state.clone(),
                hold_upload_permit,
            ))
    }
}

/// Runs the request under an upload permit of its account. Requests without an account are
/// refused before their bodies are read, so they need none.
async fn hold_upload_permit(
    State(state): State<AppState>,
    req: Request<axum::body::Body>,
    next: Next,
) -> Response {
    let user = match req.extensions().get::<auth::Identity>() {
        Some(auth::Identity(Some((principal, _)))) => principal.user_id.to_string(),
        _ => return next.run(req).await,
    };
    let _permit = state.uploads.acquire(&user).await;
    next.run(req).await
}

/// Headers every response carries unless a handler set its own.
fn with_security_headers(router: Router<AppState>) -> Router<AppState> {
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    router
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(header::REFERRER_POLICY, "same-origin"))
        .layer(set(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(set(
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ))
        .layer(set(
            HeaderName::from_static("permissions-policy"),
            "geolocation=(), microphone=(self), payment=()",
        ))
}

/// Whether an API caller asked for CSV (`Accept: text/csv`).
fn wants_csv(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/csv"))
}

/// A CSV file to download, never cached.
fn csv_download(body: String, filename: &str) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
        ],
        body,
    )
        .into_response()
}
