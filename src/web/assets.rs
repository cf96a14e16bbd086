//! Static files, embedded at build time so a deployment is one binary: our stylesheet and
//! scripts, and the NHS.UK design system (`nhsuk-frontend`, vendored by
//! scripts/refresh-nhsuk-frontend.sh). The design system's stylesheet draws its icons from
//! `/assets/images/`, so they are served there.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::error::AppError;

const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// (path under /static/, content type, bytes).
const STATIC: &[(&str, &str, &[u8])] = &[
    ("app.css", CSS, include_bytes!("../../static/app.css")),
    ("app.js", JS, include_bytes!("../../static/app.js")),
    ("calls.js", JS, include_bytes!("../../static/calls.js")),
    (
        "nhsuk-init.js",
        JS,
        include_bytes!("../../static/nhsuk-init.js"),
    ),
    (
        "photo-viewer.js",
        JS,
        include_bytes!("../../static/photo-viewer.js"),
    ),
    (
        "photo-viewer.css",
        CSS,
        include_bytes!("../../static/photo-viewer.css"),
    ),
    (
        "vendor/nhsuk-frontend/nhsuk-frontend.min.css",
        CSS,
        include_bytes!("../../static/vendor/nhsuk-frontend/nhsuk-frontend.min.css"),
    ),
    (
        "vendor/nhsuk-frontend/nhsuk-frontend.min.js",
        JS,
        include_bytes!("../../static/vendor/nhsuk-frontend/nhsuk-frontend.min.js"),
    ),
];

/// (file name under /assets/images/, bytes).
const ICONS: &[(&str, &[u8])] = &[
    (
        "nhsuk-icon-arrow-down.svg",
        include_bytes!(
            "../../static/vendor/nhsuk-frontend/assets/images/nhsuk-icon-arrow-down.svg"
        ),
    ),
    (
        "nhsuk-icon-arrow-up-down.svg",
        include_bytes!(
            "../../static/vendor/nhsuk-frontend/assets/images/nhsuk-icon-arrow-up-down.svg"
        ),
    ),
    (
        "nhsuk-icon-arrow-up.svg",
        include_bytes!("../../static/vendor/nhsuk-frontend/assets/images/nhsuk-icon-arrow-up.svg"),
    ),
    (
        "nhsuk-icon-cross.svg",
        include_bytes!("../../static/vendor/nhsuk-frontend/assets/images/nhsuk-icon-cross.svg"),
    ),
];

fn file(content_type: &'static str, bytes: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        bytes,
    )
        .into_response()
}

pub async fn static_file(Path(path): Path<String>) -> Result<Response, AppError> {
    STATIC
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, t, b)| file(t, b))
        .ok_or_else(|| AppError::not_found("There is no file at this address."))
}

pub async fn icon(Path(name): Path<String>) -> Result<Response, AppError> {
    ICONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| file(SVG, b))
        .ok_or_else(|| AppError::not_found("There is no file at this address."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_icon_the_design_systems_stylesheet_draws_is_served() {
        let (_, _, css) = STATIC
            .iter()
            .find(|(p, _, _)| p.ends_with("nhsuk-frontend.min.css"))
            .unwrap();
        let css = std::str::from_utf8(css).unwrap();
        let mut drawn: Vec<&str> = css
            .split("url(/assets/images/")
            .skip(1)
            .map(|rest| rest.split(')').next().unwrap())
            .collect();
        drawn.sort_unstable();
        drawn.dedup();
        let served: Vec<&str> = ICONS.iter().map(|(n, _)| *n).collect();
        assert_eq!(drawn, served);
    }
}
