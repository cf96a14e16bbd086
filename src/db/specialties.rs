use sqlx::Row;

use super::{Db, DbError, DbResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specialty {
    pub slug: String,
    pub name: String,
    pub routine_target_ms: i64,
    pub urgent_target_ms: i64,
    pub escalation_ms: i64,
    pub photos_required: bool,
}

const COLUMNS: &str =
    "slug, name, routine_target_ms, urgent_target_ms, escalation_ms, photos_required";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Specialty, sqlx::Error> {
    Ok(Specialty {
        slug: r.try_get("slug")?,
        name: r.try_get("name")?,
        routine_target_ms: r.try_get("routine_target_ms")?,
        urgent_target_ms: r.try_get("urgent_target_ms")?,
        escalation_ms: r.try_get("escalation_ms")?,
        photos_required: r.try_get::<i64, _>("photos_required")? != 0,
    })
}

pub async fn list(db: &Db) -> DbResult<Vec<Specialty>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM specialties ORDER BY name"))
        .fetch_all(db.pool())
        .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Every specialty's name by its slug.
pub async fn names(db: &Db) -> DbResult<std::collections::BTreeMap<String, String>> {
    Ok(list(db)
        .await?
        .into_iter()
        .map(|s| (s.slug, s.name))
        .collect())
}

pub async fn get(db: &Db, slug: &str) -> DbResult<Specialty> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM specialties WHERE slug = $1"
    ))
    .bind(slug)
    .fetch_optional(db.pool())
    .await?
    .ok_or(DbError::NotFound)?;
    Ok(from_row(&row)?)
}

/// Admins change targets and the escalation window; the slug and name stay.
pub async fn update_targets(
    tx: &mut super::Tx<'_>,
    slug: &str,
    routine_target_ms: i64,
    urgent_target_ms: i64,
    escalation_ms: i64,
) -> DbResult<()> {
    let done = sqlx::query(
        "UPDATE specialties SET routine_target_ms = $1, urgent_target_ms = $2, escalation_ms = $3 \
         WHERE slug = $4",
    )
    .bind(routine_target_ms)
    .bind(urgent_target_ms)
    .bind(escalation_ms)
    .bind(slug)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}
