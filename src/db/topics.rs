//! Each specialty's list of reply topics (`specialty_topics`, migration 0006).

use sqlx::{Any, Row, Transaction};

use super::{Db, DbResult};
use crate::domain::topics::Topic;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRow {
    pub specialty: String,
    pub slug: String,
    pub label: String,
    pub retired_at_ms: Option<i64>,
}

impl TopicRow {
    pub fn topic(&self) -> Topic {
        Topic {
            slug: self.slug.clone(),
            label: self.label.clone(),
            retired: self.retired_at_ms.is_some(),
        }
    }
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<TopicRow, sqlx::Error> {
    Ok(TopicRow {
        specialty: r.try_get("specialty")?,
        slug: r.try_get("slug")?,
        label: r.try_get("label")?,
        retired_at_ms: r.try_get("retired_at_ms")?,
    })
}

/// A specialty's topics, retired ones included, by label.
pub async fn list(db: &Db, specialty: &str) -> DbResult<Vec<TopicRow>> {
    let rows = sqlx::query(
        "SELECT specialty, slug, label, retired_at_ms FROM specialty_topics \
         WHERE specialty = $1 ORDER BY label, slug",
    )
    .bind(specialty)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

pub async fn insert(
    tx: &mut Transaction<'_, Any>,
    specialty: &str,
    slug: &str,
    label: &str,
    now_ms: i64,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO specialty_topics (specialty, slug, label, created_at_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(specialty)
    .bind(slug)
    .bind(label)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sets a topic's label and makes it active again (rename, or re-adding a retired topic).
pub async fn set_label(
    tx: &mut Transaction<'_, Any>,
    specialty: &str,
    slug: &str,
    label: &str,
) -> DbResult<bool> {
    let done = sqlx::query(
        "UPDATE specialty_topics SET label = $3, retired_at_ms = NULL \
         WHERE specialty = $1 AND slug = $2",
    )
    .bind(specialty)
    .bind(slug)
    .bind(label)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Retires an active topic; false when there is no such active topic.
pub async fn retire(
    tx: &mut Transaction<'_, Any>,
    specialty: &str,
    slug: &str,
    now_ms: i64,
) -> DbResult<bool> {
    let done = sqlx::query(
        "UPDATE specialty_topics SET retired_at_ms = $3 \
         WHERE specialty = $1 AND slug = $2 AND retired_at_ms IS NULL",
    )
    .bind(specialty)
    .bind(slug)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
