//! Each specialty's list of reply topics: reading it (anyone signed in: the reply form and API
//! clients need it) and the admins' changes (add, rename, retire), each audited in the same
//! transaction as the change.

use serde_json::json;

use super::{record_by, FieldError, ServiceError, ServiceResult};
use crate::db::{self, specialties::Specialty};

pub use crate::db::topics::TopicRow;
use crate::domain::access::Principal;
use crate::domain::topics::{check_label, slug_for};
use crate::service::AppState;

fn invalid(field: &'static str, code: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::Invalid(vec![FieldError {
        field,
        code,
        message: message.into(),
    }])
}

/// The specialty, or a 404 naming what was asked for.
pub async fn specialty(state: &AppState, slug: &str) -> ServiceResult<Specialty> {
    match db::specialties::get(&state.db, slug).await {
        Ok(s) => Ok(s),
        Err(db::DbError::NotFound) => Err(ServiceError::NotFound(format!(
            "'{}' is not a specialty aghub serves.",
            slug.chars().take(60).collect::<String>()
        ))),
        Err(e) => Err(e.into()),
    }
}

/// A specialty's topics, retired ones included (they carry `retired_at_ms`), by label.
pub async fn list(state: &AppState, specialty_slug: &str) -> ServiceResult<Vec<TopicRow>> {
    specialty(state, specialty_slug).await?;
    Ok(db::topics::list(&state.db, specialty_slug).await?)
}

fn require_admin(user: &Principal) -> ServiceResult<()> {
    if user.may_administer() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(
            "Only admins can change the topic lists.".into(),
        ))
    }
}

/// Refuses a label another active topic of the list already has (ignoring case).
fn check_unique(list: &[TopicRow], label: &str, except_slug: Option<&str>) -> ServiceResult<()> {
    let taken = list.iter().any(|t| {
        t.retired_at_ms.is_none()
            && Some(t.slug.as_str()) != except_slug
            && t.label.to_lowercase() == label.to_lowercase()
    });
    if taken {
        return Err(invalid(
            "label",
            "duplicate_topic",
            format!("The list already has a topic called '{label}'."),
        ));
    }
    Ok(())
}

/// Adds a topic to a specialty's list. A retired topic with the same slug comes back (renamed
/// to this label) rather than a second one being made, so its history stays in one place.
pub async fn add(
    state: &AppState,
    user: &Principal,
    specialty_slug: &str,
    label: &str,
) -> ServiceResult<TopicRow> {
    require_admin(user)?;
    specialty(state, specialty_slug).await?;
    let label = check_label(label).map_err(|m| invalid("label", "invalid_topic_label", m))?;
    let slug = slug_for(&label);
    if slug.is_empty() {
        return Err(invalid(
            "label",
            "invalid_topic_label",
            "A topic's name needs at least one letter A to Z or digit.",
        ));
    }
    let list = db::topics::list(&state.db, specialty_slug).await?;
    check_unique(&list, &label, None)?;
    let existing = list.iter().find(|t| t.slug == slug);
    if existing.is_some_and(|t| t.retired_at_ms.is_none()) {
        return Err(invalid(
            "label",
            "duplicate_topic",
            format!("The list already has a topic with the id '{slug}'."),
        ));
    }
    let now = state.now_ms();
    let mut tx = state.db.begin().await?;
    if existing.is_some() {
        db::topics::set_label(&mut tx, specialty_slug, &slug, &label).await?;
    } else {
        db::topics::insert(&mut tx, specialty_slug, &slug, &label, now).await?;
    }
    let detail = json!({ "topic": slug, "label": label, "restored": existing.is_some() });
    record_by(&mut tx, user, "topic.added", specialty_slug, detail, now).await?;
    tx.commit().await?;
    Ok(TopicRow {
        specialty: specialty_slug.to_string(),
        slug,
        label,
        retired_at_ms: None,
    })
}

fn no_topic(slug: &str) -> ServiceError {
    ServiceError::NotFound(format!(
        "This specialty's list has no active topic with the id '{}'.",
        slug.chars().take(60).collect::<String>()
    ))
}

/// Renames an active topic; its slug, and the reports' history under it, stay.
pub async fn rename(
    state: &AppState,
    user: &Principal,
    specialty_slug: &str,
    slug: &str,
    label: &str,
) -> ServiceResult<()> {
    require_admin(user)?;
    specialty(state, specialty_slug).await?;
    let label = check_label(label).map_err(|m| invalid("label", "invalid_topic_label", m))?;
    let list = db::topics::list(&state.db, specialty_slug).await?;
    let Some(old) = list
        .iter()
        .find(|t| t.slug == slug && t.retired_at_ms.is_none())
    else {
        return Err(no_topic(slug));
    };
    check_unique(&list, &label, Some(slug))?;
    let now = state.now_ms();
    let mut tx = state.db.begin().await?;
    db::topics::set_label(&mut tx, specialty_slug, slug, &label).await?;
    let detail = json!({ "topic": slug, "from": old.label, "to": label });
    record_by(&mut tx, user, "topic.renamed", specialty_slug, detail, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Retires a topic: no longer offered or accepted in replies; past tags keep its label.
pub async fn retire(
    state: &AppState,
    user: &Principal,
    specialty_slug: &str,
    slug: &str,
) -> ServiceResult<()> {
    require_admin(user)?;
    specialty(state, specialty_slug).await?;
    let now = state.now_ms();
    let mut tx = state.db.begin().await?;
    if !db::topics::retire(&mut tx, specialty_slug, slug, now).await? {
        return Err(no_topic(slug));
    }
    record_by(
        &mut tx,
        user,
        "topic.retired",
        specialty_slug,
        json!({ "topic": slug }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
