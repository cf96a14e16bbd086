//! Shared page furniture and rendering for askama templates.

use askama::Template;
use axum::response::Html;
use tower_sessions::Session;

use super::csrf;
use super::error::{AppError, AppResult};
use crate::domain::access::Principal;
use crate::domain::Role;
use crate::service::AppState;

#[derive(Debug, Clone)]
pub struct LayoutUser {
    pub name: String,
    pub role_label: &'static str,
    pub links: Vec<(&'static str, &'static str)>,
    /// A consultant's pages ring when a live call rings them.
    pub rings: bool,
}

/// The main navigation for each role.
fn links(role: Role) -> Vec<(&'static str, &'static str)> {
    match role {
        Role::Gp => vec![
            ("/cases", "Cases"),
            ("/cases/new", "New case"),
            ("/calls/new", "Call"),
        ],
        Role::Consultant => vec![("/queue", "Queue")],
        Role::Commissioner => vec![("/reports", "Reports")],
        Role::Admin => vec![
            ("/admin", "Admin"),
            ("/cases", "Cases"),
            ("/reports", "Reports"),
        ],
    }
}

/// What base.html needs on every page.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub user: Option<LayoutUser>,
    pub csrf_token: String,
    /// Notifications the signed-in person has not read (the header shows the count).
    pub unread: i64,
    /// Calls the person took part in whose outcome they have not recorded (every page asks).
    pub calls_without_outcome: Vec<String>,
}

impl Layout {
    pub async fn new(session: &Session, user: Option<&Principal>) -> AppResult<Self> {
        Ok(Self {
            user: user.map(|p| LayoutUser {
                name: p.name.clone(),
                role_label: p.role.label(),
                links: links(p.role),
                rings: p.role == Role::Consultant,
            }),
            csrf_token: csrf::token(session).await?,
            unread: 0,
            calls_without_outcome: Vec::new(),
        })
    }

    /// The layout of a signed-in person's page, with their unread notifications.
    pub async fn signed_in(
        state: &AppState,
        session: &Session,
        user: &Principal,
    ) -> AppResult<Self> {
        Ok(Self {
            unread: crate::service::notify::unread(state, user).await?,
            calls_without_outcome: crate::service::calls::awaiting_my_outcome(state, user).await?,
            ..Self::new(session, Some(user)).await?
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
