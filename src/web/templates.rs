//! Shared page furniture and rendering for askama templates.

use askama::Template;
use axum::response::Html;
use tower_sessions::Session;

use super::csrf;
use super::error::{AppError, AppResult};
use crate::domain::access::Principal;

#[derive(Debug, Clone)]
pub struct LayoutUser {
    pub name: String,
    pub role_label: &'static str,
}

/// What base.html needs on every page.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub user: Option<LayoutUser>,
    pub csrf_token: String,
}

impl Layout {
    pub async fn new(session: &Session, user: Option<&Principal>) -> AppResult<Self> {
        Ok(Self {
            user: user.map(|p| LayoutUser {
                name: p.name.clone(),
                role_label: p.role.label(),
            }),
            csrf_token: csrf::token(session).await?,
        })
    }
}

pub fn render(page: &impl Template) -> AppResult<Html<String>> {
    page.render().map(Html).map_err(AppError::internal)
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub heading: &'static str,
    pub message: String,
    pub code: &'static str,
}
