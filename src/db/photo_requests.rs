//! Patients' photo links (migration 0016). Every change is a compare-and-set, so two tabs or
//! two instances cannot both send one link's photos or both count the same upload.

use super::{Db, DbResult, Tx};

pub struct NewRequest<'a> {
    pub id: &'a str,
    pub case_id: &'a str,
    pub created_by: &'a str,
    pub token_hash: &'a str,
    pub expires_at_ms: i64,
    pub max_photos: i64,
    pub now_ms: i64,
}

pub async fn insert(tx: &mut Tx<'_>, r: &NewRequest<'_>) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO photo_requests (id, case_id, created_by, token_hash, created_at_ms, expires_at_ms, max_photos) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(r.id)
    .bind(r.case_id)
    .bind(r.created_by)
    .bind(r.token_hash)
    .bind(r.now_ms)
    .bind(r.expires_at_ms)
    .bind(r.max_photos)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A request with what the patient's pages show of its case: the practice's name only.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RequestRow {
    pub id: String,
    pub case_id: String,
    pub created_by: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub max_photos: i64,
    pub uploads: i64,
    pub revoked_at_ms: Option<i64>,
    pub sent_at_ms: Option<i64>,
    pub dob_failures: i64,
    pub paused_until_ms: Option<i64>,
    pub practice_id: String,
    pub practice_name: String,
    /// The case's, to check the patient's answer against; never shown.
    pub date_of_birth: String,
}

const SELECT: &str = "SELECT r.id, r.case_id, r.created_by, r.created_at_ms, r.expires_at_ms, \
    r.max_photos, r.uploads, r.revoked_at_ms, r.sent_at_ms, r.dob_failures, r.paused_until_ms, \
    c.practice_id, p.name AS practice_name, c.date_of_birth \
    FROM photo_requests r JOIN cases c ON c.id = r.case_id JOIN practices p ON p.id = c.practice_id";

pub async fn by_token_hash(db: &Db, hash: &str) -> DbResult<Option<RequestRow>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE r.token_hash = $1"))
        .bind(hash)
        .fetch_optional(db.pool())
        .await?)
}

pub async fn get(db: &Db, id: &str) -> DbResult<Option<RequestRow>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?)
}

pub async fn of_case(db: &Db, case_id: &str) -> DbResult<Vec<RequestRow>> {
    Ok(sqlx::query_as(&format!(
        "{SELECT} WHERE r.case_id = $1 ORDER BY r.created_at_ms"
    ))
    .bind(case_id)
    .fetch_all(db.pool())
    .await?)
}

/// Revokes a link not yet used or revoked; false otherwise.
pub async fn revoke(tx: &mut Tx<'_>, id: &str, now_ms: i64) -> DbResult<bool> {
    Ok(sqlx::query(
        "UPDATE photo_requests SET revoked_at_ms = $2 \
         WHERE id = $1 AND revoked_at_ms IS NULL AND sent_at_ms IS NULL",
    )
    .bind(id)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// Counts a wrong date of birth; pauses the link until `pause_until_ms` at the `limit`th.
/// Returns the failures so far.
pub async fn dob_failed(db: &Db, id: &str, limit: i64, pause_until_ms: i64) -> DbResult<i64> {
    Ok(sqlx::query_scalar(
        "UPDATE photo_requests SET dob_failures = dob_failures + 1, \
         paused_until_ms = CASE WHEN dob_failures + 1 >= $2 THEN $3 ELSE paused_until_ms END \
         WHERE id = $1 RETURNING dob_failures",
    )
    .bind(id)
    .bind(limit)
    .bind(pause_until_ms)
    .fetch_one(db.pool())
    .await?)
}

/// A right answer starts the count again (a pause already begun still runs).
pub async fn dob_passed(db: &Db, id: &str) -> DbResult<()> {
    sqlx::query("UPDATE photo_requests SET dob_failures = 0 WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Counts one upload if the link has uploads left; false when it has none.
pub async fn count_upload(db: &Db, id: &str, max_uploads: i64) -> DbResult<bool> {
    Ok(sqlx::query(
        "UPDATE photo_requests SET uploads = uploads + 1 WHERE id = $1 AND uploads < $2",
    )
    .bind(id)
    .bind(max_uploads)
    .execute(db.pool())
    .await?
    .rows_affected()
        == 1)
}

/// Marks the link used, with the patient's consent, if it is still open at `now_ms`.
pub async fn mark_sent(tx: &mut Tx<'_>, id: &str, now_ms: i64) -> DbResult<bool> {
    Ok(sqlx::query(
        "UPDATE photo_requests SET sent_at_ms = $2, consent_at_ms = $2 WHERE id = $1 \
         AND sent_at_ms IS NULL AND revoked_at_ms IS NULL AND expires_at_ms > $2",
    )
    .bind(id)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}
