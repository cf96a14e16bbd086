//! ICBs and trusts, and what hangs off them: each practice's ICB and list size, each user's
//! organisation.

use sqlx::Row;

use super::{new_id, DbError, DbResult, Tx};
use crate::db::Db;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    pub id: String,
    pub ods_code: String,
    pub name: String,
    pub kind: String,
    /// A trust's ICB.
    pub icb_id: Option<String>,
}

const COLUMNS: &str = "id, ods_code, name, kind, icb_id";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Organisation, sqlx::Error> {
    Ok(Organisation {
        id: r.try_get("id")?,
        ods_code: r.try_get("ods_code")?,
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        icb_id: r.try_get("icb_id")?,
    })
}

pub async fn insert(
    tx: &mut Tx<'_>,
    ods_code: &str,
    name: &str,
    kind: &str,
    icb_id: Option<&str>,
    now_ms: i64,
) -> DbResult<Organisation> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO organisations (id, ods_code, name, kind, icb_id, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(ods_code)
    .bind(name)
    .bind(kind)
    .bind(icb_id)
    .bind(now_ms)
    .execute(&mut **tx)
    .await
    .map_err(|e| match DbError::from(e) {
        e if e.is_unique_violation() => DbError::Conflict(format!(
            "an organisation with ODS code {ods_code} already exists"
        )),
        e => e,
    })?;
    Ok(Organisation {
        id,
        ods_code: ods_code.into(),
        name: name.into(),
        kind: kind.into(),
        icb_id: icb_id.map(Into::into),
    })
}

pub async fn find_by_ods(db: &Db, ods_code: &str) -> DbResult<Option<Organisation>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM organisations WHERE ods_code = $1"
    ))
    .bind(ods_code)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

pub async fn list(db: &Db) -> DbResult<Vec<Organisation>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM organisations ORDER BY kind, name"
    ))
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// A practice as the ODS import compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PracticeFacts {
    pub id: String,
    pub name: String,
    pub icb_id: Option<String>,
    pub postcode: Option<String>,
}

/// Every practice by ODS code (the import compares the whole file against them at once).
pub async fn practices_by_ods(
    tx: &mut Tx<'_>,
) -> DbResult<std::collections::HashMap<String, PracticeFacts>> {
    let rows = sqlx::query("SELECT id, ods_code, name, icb_id, postcode FROM practices")
        .fetch_all(&mut **tx)
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("ods_code")?,
                PracticeFacts {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    icb_id: r.try_get("icb_id")?,
                    postcode: r.try_get("postcode")?,
                },
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// A new practice with its ICB and postcode; returns its id.
pub async fn insert_practice(
    tx: &mut Tx<'_>,
    ods_code: &str,
    name: &str,
    icb_id: Option<&str>,
    postcode: Option<&str>,
    now_ms: i64,
) -> DbResult<String> {
    let practice = super::practices::insert_in(tx, ods_code, name, now_ms).await?;
    update_practice(tx, &practice.id, name, icb_id, postcode, now_ms).await?;
    Ok(practice.id)
}

pub async fn update_practice(
    tx: &mut Tx<'_>,
    id: &str,
    name: &str,
    icb_id: Option<&str>,
    postcode: Option<&str>,
    now_ms: i64,
) -> DbResult<()> {
    sqlx::query(
        "UPDATE practices SET name = $2, icb_id = $3, postcode = $4, updated_at_ms = $5 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(name)
    .bind(icb_id)
    .bind(postcode)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sets a practice's list size; false when no practice has this ODS code.
pub async fn set_list_size(tx: &mut Tx<'_>, ods_code: &str, patients: i64) -> DbResult<bool> {
    let done = sqlx::query("UPDATE practices SET list_size = $2 WHERE ods_code = $1")
        .bind(ods_code)
        .bind(patients)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn set_user_organisation(
    tx: &mut Tx<'_>,
    user_id: &str,
    organisation_id: Option<&str>,
) -> DbResult<()> {
    sqlx::query("UPDATE users SET organisation_id = $2 WHERE id = $1")
        .bind(user_id)
        .bind(organisation_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// An ICB's own targets for one specialty (milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Targets {
    pub routine_ms: i64,
    pub urgent_ms: i64,
    pub escalation_ms: i64,
}

pub async fn set_targets(
    tx: &mut Tx<'_>,
    icb_id: &str,
    specialty: &str,
    t: Targets,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO icb_targets (icb_id, specialty, routine_target_ms, urgent_target_ms, escalation_ms) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (icb_id, specialty) DO UPDATE SET \
         routine_target_ms = $3, urgent_target_ms = $4, escalation_ms = $5",
    )
    .bind(icb_id)
    .bind(specialty)
    .bind(t.routine_ms)
    .bind(t.urgent_ms)
    .bind(t.escalation_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The ICB's targets for the specialty, if it set its own.
pub async fn targets(db: &Db, icb_id: &str, specialty: &str) -> DbResult<Option<Targets>> {
    let row = sqlx::query(
        "SELECT routine_target_ms, urgent_target_ms, escalation_ms FROM icb_targets \
         WHERE icb_id = $1 AND specialty = $2",
    )
    .bind(icb_id)
    .bind(specialty)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(Targets {
            routine_ms: r.try_get("routine_target_ms")?,
            urgent_ms: r.try_get("urgent_target_ms")?,
            escalation_ms: r.try_get("escalation_ms")?,
        })
    })
    .transpose()
    .map_err(|e: sqlx::Error| e.into())
}
