use sqlx::Row;

use super::{new_id, Db, DbResult};
use crate::domain::queue::CurrentShift;

pub use crate::domain::queue::Pool;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    pub id: String,
    pub user_id: String,
    pub specialty: String,
    pub pool: Pool,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
}

/// Adds a shift (fixtures and tests; the service adds shifts with [`insert_in`], audited).
pub async fn insert(
    db: &Db,
    user_id: &str,
    specialty: &str,
    pool: Pool,
    starts_at_ms: i64,
    ends_at_ms: i64,
    now_ms: i64,
) -> DbResult<String> {
    let mut tx = db.begin().await?;
    let id = insert_in(
        &mut tx,
        user_id,
        specialty,
        pool,
        starts_at_ms,
        ends_at_ms,
        now_ms,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Adds a shift inside the caller's transaction.
pub async fn insert_in(
    tx: &mut super::Tx<'_>,
    user_id: &str,
    specialty: &str,
    pool: Pool,
    starts_at_ms: i64,
    ends_at_ms: i64,
    now_ms: i64,
) -> DbResult<String> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO rota_shifts (id, user_id, specialty, pool, starts_at_ms, ends_at_ms, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(specialty)
    .bind(pool.as_str())
    .bind(starts_at_ms)
    .bind(ends_at_ms)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Shifts of one specialty that have not ended yet, soonest first.
pub async fn upcoming(db: &Db, specialty: &str, now_ms: i64) -> DbResult<Vec<Shift>> {
    let rows = sqlx::query(
        "SELECT id, user_id, specialty, pool, starts_at_ms, ends_at_ms FROM rota_shifts \
         WHERE specialty = $1 AND ends_at_ms > $2 ORDER BY starts_at_ms",
    )
    .bind(specialty)
    .bind(now_ms)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(shift)
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

fn shift(r: &sqlx::any::AnyRow) -> Result<Shift, sqlx::Error> {
    Ok(Shift {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        specialty: r.try_get("specialty")?,
        pool: super::word(r, "pool")?,
        starts_at_ms: r.try_get("starts_at_ms")?,
        ends_at_ms: r.try_get("ends_at_ms")?,
    })
}

/// The consultant's shifts at `now_ms`, in specialties they still answer, with each
/// specialty's escalation window: everything `domain::queue` needs to decide what they may take.
pub async fn current_shifts(db: &Db, user_id: &str, now_ms: i64) -> DbResult<Vec<CurrentShift>> {
    let rows = sqlx::query(
        "SELECT DISTINCT r.specialty, r.pool, s.escalation_ms FROM rota_shifts r \
         JOIN user_specialties us ON us.user_id = r.user_id AND us.specialty = r.specialty \
         JOIN specialties s ON s.slug = r.specialty \
         WHERE r.user_id = $1 AND r.starts_at_ms <= $2 AND r.ends_at_ms > $2 \
         ORDER BY r.specialty, r.pool",
    )
    .bind(user_id)
    .bind(now_ms)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(CurrentShift {
                specialty: r.try_get("specialty")?,
                pool: super::word(r, "pool")?,
                escalation_ms: r.try_get("escalation_ms")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// A consultant's shifts of one specialty (if they still answer it) that end after `after_ms`,
/// as (start, end).
pub async fn duty_in_specialty(
    db: &Db,
    user_id: &str,
    specialty: &str,
    after_ms: i64,
) -> DbResult<Vec<(i64, i64)>> {
    Ok(sqlx::query_as(
        "SELECT r.starts_at_ms, r.ends_at_ms FROM rota_shifts r \
         JOIN user_specialties us ON us.user_id = r.user_id AND us.specialty = r.specialty \
         WHERE r.user_id = $1 AND r.specialty = $2 AND r.ends_at_ms > $3",
    )
    .bind(user_id)
    .bind(specialty)
    .bind(after_ms)
    .fetch_all(db.pool())
    .await?)
}

/// The shifts that have not ended, of consultants who still answer the specialty and can sign
/// in: the shifts that will take cases.
pub async fn live_upcoming(db: &Db, now_ms: i64) -> DbResult<Vec<Shift>> {
    let rows = sqlx::query(
        "SELECT r.id, r.user_id, r.specialty, r.pool, r.starts_at_ms, r.ends_at_ms FROM rota_shifts r \
         JOIN user_specialties us ON us.user_id = r.user_id AND us.specialty = r.specialty \
         JOIN users u ON u.id = r.user_id AND u.disabled_at_ms IS NULL \
         WHERE r.ends_at_ms > $1 ORDER BY r.specialty, r.starts_at_ms",
    )
    .bind(now_ms)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(shift)
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// A shift that has not ended yet: only those can be changed or removed.
pub async fn unended_in(tx: &mut super::Tx<'_>, id: &str, now_ms: i64) -> DbResult<Option<Shift>> {
    let row = sqlx::query(
        "SELECT id, user_id, specialty, pool, starts_at_ms, ends_at_ms FROM rota_shifts \
         WHERE id = $1 AND ends_at_ms > $2",
    )
    .bind(id)
    .bind(now_ms)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.as_ref().map(shift).transpose()?)
}

pub async fn set_times_in(
    tx: &mut super::Tx<'_>,
    id: &str,
    starts_at_ms: i64,
    ends_at_ms: i64,
) -> DbResult<()> {
    sqlx::query("UPDATE rota_shifts SET starts_at_ms = $1, ends_at_ms = $2 WHERE id = $3")
        .bind(starts_at_ms)
        .bind(ends_at_ms)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn delete_in(tx: &mut super::Tx<'_>, id: &str) -> DbResult<()> {
    sqlx::query("DELETE FROM rota_shifts WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Every shift that has not ended yet, of every specialty, soonest first (the admin page).
pub async fn upcoming_all(db: &Db, now_ms: i64) -> DbResult<Vec<Shift>> {
    let rows = sqlx::query(
        "SELECT id, user_id, specialty, pool, starts_at_ms, ends_at_ms FROM rota_shifts \
         WHERE ends_at_ms > $1 ORDER BY specialty, starts_at_ms",
    )
    .bind(now_ms)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(shift)
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Who is on a shift of this specialty now (still answering it, able to sign in), with the ICB
/// of their trust, in rota order: the shift that began first rings first.
pub async fn on_duty_now(
    db: &Db,
    specialty: &str,
    now_ms: i64,
) -> DbResult<Vec<crate::domain::calls::OnShift>> {
    let rows = sqlx::query(
        "SELECT r.user_id, r.pool, CASE WHEN o.kind = 'icb' THEN o.id ELSE o.icb_id END AS icb_id \
         FROM rota_shifts r \
         JOIN user_specialties us ON us.user_id = r.user_id AND us.specialty = r.specialty \
         JOIN users u ON u.id = r.user_id AND u.disabled_at_ms IS NULL \
         LEFT JOIN organisations o ON o.id = u.organisation_id \
         WHERE r.specialty = $1 AND r.starts_at_ms <= $2 AND r.ends_at_ms > $2 \
         ORDER BY r.starts_at_ms, r.id",
    )
    .bind(specialty)
    .bind(now_ms)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(crate::domain::calls::OnShift {
                user_id: r.try_get("user_id")?,
                pool: super::word(r, "pool")?,
                icb_id: r.try_get("icb_id")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}
