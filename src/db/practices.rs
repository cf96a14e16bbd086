use sqlx::Row;

use super::{new_id, Db, DbError, DbResult, Tx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Practice {
    pub id: String,
    pub ods_code: String,
    pub name: String,
    pub icb_id: Option<String>,
    /// Registered patients, when imported.
    pub list_size: Option<i64>,
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Practice, sqlx::Error> {
    Ok(Practice {
        id: r.try_get("id")?,
        ods_code: r.try_get("ods_code")?,
        name: r.try_get("name")?,
        icb_id: r.try_get("icb_id")?,
        list_size: r.try_get("list_size")?,
    })
}

/// Inserts a practice (fixtures and tests; the service adds practices with [`insert_in`],
/// audited).
pub async fn insert(db: &Db, ods_code: &str, name: &str, now_ms: i64) -> DbResult<Practice> {
    let mut tx = db.begin().await?;
    let practice = insert_in(&mut tx, ods_code, name, now_ms).await?;
    tx.commit().await?;
    Ok(practice)
}

/// Inserts a practice inside the caller's transaction; an existing ODS code is a conflict.
pub async fn insert_in(
    tx: &mut Tx<'_>,
    ods_code: &str,
    name: &str,
    now_ms: i64,
) -> DbResult<Practice> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO practices (id, ods_code, name, created_at_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(&id)
    .bind(ods_code)
    .bind(name)
    .bind(now_ms)
    .execute(&mut **tx)
    .await
    .map_err(|e| match DbError::from(e) {
        e if e.is_unique_violation() => DbError::Conflict(format!(
            "a practice with ODS code {ods_code} already exists"
        )),
        e => e,
    })?;
    Ok(Practice {
        id,
        ods_code: ods_code.to_string(),
        name: name.to_string(),
        icb_id: None,
        list_size: None,
    })
}

pub async fn find_by_ods(db: &Db, ods_code: &str) -> DbResult<Option<Practice>> {
    let row = sqlx::query(
        "SELECT id, ods_code, name, icb_id, list_size FROM practices WHERE ods_code = $1",
    )
    .bind(ods_code)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

pub async fn list(db: &Db) -> DbResult<Vec<Practice>> {
    let rows =
        sqlx::query("SELECT id, ods_code, name, icb_id, list_size FROM practices ORDER BY name")
            .fetch_all(db.pool())
            .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

pub async fn get(db: &Db, id: &str) -> DbResult<Option<Practice>> {
    let row =
        sqlx::query("SELECT id, ods_code, name, icb_id, list_size FROM practices WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}
