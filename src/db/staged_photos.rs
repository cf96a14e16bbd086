//! Photos uploaded ahead of the case or response that will carry them (migration 0012). A
//! patient's photos through a photo request wait here too, owned by the requesting GP but
//! tied to the request (migration 0016): the GP's own staging never sees or takes them.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::cases::StoredObject;
use super::{Db, DbResult, Tx};
use crate::domain::{PhotoKind, PhotoSize};

#[derive(Debug, Clone)]
pub struct StagedRow {
    pub id: String,
    pub kind: Option<PhotoKind>,
    /// False for a patient's photo that failed its check and waits for their decision.
    pub kept: bool,
    pub warnings: Vec<String>,
    pub captured_at_ms: Option<i64>,
    pub expires_at_ms: i64,
    pub objects: Vec<StoredObject>,
}

pub struct NewStaged<'a> {
    pub id: &'a str,
    pub owner_id: &'a str,
    pub warnings_json: &'a str,
    pub captured_at_ms: Option<i64>,
    pub objects: &'a [StoredObject],
    pub now_ms: i64,
    pub expires_at_ms: i64,
    /// A patient's photo through this photo request (with the view they took and whether it
    /// counts yet), or `None` for the GP's own.
    pub photo_request: Option<(&'a str, Option<PhotoKind>, bool)>,
}

pub async fn insert(db: &Db, s: &NewStaged<'_>) -> DbResult<()> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO staged_photos (id, owner_id, warnings, captured_at_ms, created_at_ms, expires_at_ms, \
         photo_request_id, kind, kept) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(s.id)
    .bind(s.owner_id)
    .bind(s.warnings_json)
    .bind(s.captured_at_ms)
    .bind(s.now_ms)
    .bind(s.expires_at_ms)
    .bind(s.photo_request.map(|(r, _, _)| r))
    .bind(s.photo_request.and_then(|(_, k, _)| k).map(PhotoKind::as_str))
    .bind(i64::from(s.photo_request.is_none_or(|(_, _, kept)| kept)))
    .execute(&mut *tx)
    .await?;
    super::cases::insert_objects(
        &mut tx,
        "staged_photo_objects",
        "staged_id",
        s.id,
        s.objects,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// How many unexpired staged photos a GP holds (bounded, so nobody fills the store).
pub async fn count_live(db: &Db, owner_id: &str, now_ms: i64) -> DbResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM staged_photos WHERE owner_id = $1 AND expires_at_ms > $2 \
         AND photo_request_id IS NULL",
    )
    .bind(owner_id)
    .bind(now_ms)
    .fetch_one(db.pool())
    .await?)
}

fn object_from_row(r: &AnyRow) -> Result<StoredObject, sqlx::Error> {
    let width: i64 = r.try_get("width")?;
    let height: i64 = r.try_get("height")?;
    let byte_size: i64 = r.try_get("byte_size")?;
    Ok(StoredObject {
        size: super::word(r, "size")?,
        key: r.try_get("object_key")?,
        content_type: r.try_get("content_type")?,
        width: u32::try_from(width).unwrap_or(0),
        height: u32::try_from(height).unwrap_or(0),
        byte_size: usize::try_from(byte_size).unwrap_or(0),
        sha256: r.try_get("sha256")?,
    })
}

const SELECT_STAGED: &str =
    "SELECT s.id, s.kind, s.kept, s.warnings, s.captured_at_ms, s.expires_at_ms, o.size, \
    o.object_key, o.content_type, o.width, o.height, o.byte_size, o.sha256 \
    FROM staged_photos s JOIN staged_photo_objects o ON o.staged_id = s.id";

fn rows_to_staged(rows: &[AnyRow]) -> Result<Vec<StagedRow>, sqlx::Error> {
    let mut out: Vec<StagedRow> = Vec::new();
    for r in rows {
        let id: String = r.try_get("id")?;
        if out.last().is_none_or(|s| s.id != id) {
            let warnings: String = r.try_get("warnings")?;
            let kept: i64 = r.try_get("kept")?;
            out.push(StagedRow {
                id,
                kind: super::optional_word(r, "kind")?,
                kept: kept != 0,
                warnings: serde_json::from_str(&warnings).unwrap_or_default(),
                captured_at_ms: r.try_get("captured_at_ms")?,
                expires_at_ms: r.try_get("expires_at_ms")?,
                objects: Vec::new(),
            });
        }
        out.last_mut()
            .expect("pushed above")
            .objects
            .push(object_from_row(r)?);
    }
    Ok(out)
}

/// The owner's unexpired staged photos among `ids`, in no particular order.
pub async fn live_of_owner(
    db: &Db,
    owner_id: &str,
    ids: &[&str],
    now_ms: i64,
) -> DbResult<Vec<StagedRow>> {
    let mut found = Vec::new();
    for id in ids {
        let rows = sqlx::query(&format!(
            "{SELECT_STAGED} WHERE s.id = $1 AND s.owner_id = $2 AND s.expires_at_ms > $3 \
             AND s.photo_request_id IS NULL ORDER BY s.id, o.size"
        ))
        .bind(*id)
        .bind(owner_id)
        .bind(now_ms)
        .fetch_all(db.pool())
        .await?;
        found.extend(rows_to_staged(&rows)?);
    }
    Ok(found)
}

/// Takes the owner's unexpired staged photo out of staging, in the transaction that gives it to
/// a case: `None` when it expired, was removed, is another user's, or another request took it
/// first (the delete is the compare-and-set).
pub async fn take(
    tx: &mut Tx<'_>,
    id: &str,
    owner_id: &str,
    now_ms: i64,
) -> DbResult<Option<StagedRow>> {
    let rows = sqlx::query(&format!("{SELECT_STAGED} WHERE s.id = $1 ORDER BY o.size"))
        .bind(id)
        .fetch_all(&mut **tx)
        .await?;
    let taken = sqlx::query(
        "DELETE FROM staged_photos WHERE id = $1 AND owner_id = $2 AND expires_at_ms > $3 \
         AND photo_request_id IS NULL",
    )
    .bind(id)
    .bind(owner_id)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    if taken.rows_affected() != 1 {
        return Ok(None);
    }
    Ok(rows_to_staged(&rows)?.pop())
}

/// One stored size of the owner's unexpired staged photo: (object key, content type).
pub async fn object(
    db: &Db,
    id: &str,
    owner_id: &str,
    size: PhotoSize,
    now_ms: i64,
) -> DbResult<Option<(String, String)>> {
    let row = sqlx::query(
        "SELECT o.object_key, o.content_type FROM staged_photo_objects o \
         JOIN staged_photos s ON s.id = o.staged_id \
         WHERE s.id = $1 AND s.owner_id = $2 AND s.expires_at_ms > $3 AND o.size = $4 \
         AND s.photo_request_id IS NULL",
    )
    .bind(id)
    .bind(owner_id)
    .bind(now_ms)
    .bind(size.as_str())
    .fetch_optional(db.pool())
    .await?;
    Ok(row
        .map(|r| Ok::<_, sqlx::Error>((r.try_get("object_key")?, r.try_get("content_type")?)))
        .transpose()?)
}

/// Removes the owner's staged photo; returns its object keys (empty when there was none).
/// Writes first: on SQLite a transaction that reads and then writes can fail at once with
/// "database is locked" when another writer is active, where a first write waits its turn.
pub async fn remove(db: &Db, id: &str, owner_id: &str) -> DbResult<Vec<String>> {
    let mut tx = db.begin().await?;
    let keys: Vec<String> = sqlx::query_scalar(
        "DELETE FROM staged_photo_objects WHERE staged_id IN \
         (SELECT id FROM staged_photos WHERE id = $1 AND owner_id = $2 AND photo_request_id IS NULL) \
         RETURNING object_key",
    )
    .bind(id)
    .bind(owner_id)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM staged_photos WHERE id = $1 AND owner_id = $2 AND photo_request_id IS NULL",
    )
    .bind(id)
    .bind(owner_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(keys)
}

/// Forgets staged photos that expired (their objects go with their blob intents, which expire
/// later); returns how many.
pub async fn delete_expired(db: &Db, now_ms: i64) -> DbResult<u64> {
    let done = sqlx::query("DELETE FROM staged_photos WHERE expires_at_ms <= $1")
        .bind(now_ms)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}

/// A photo request's staged photos, oldest first.
pub async fn of_request(db: &Db, request_id: &str) -> DbResult<Vec<StagedRow>> {
    let rows = sqlx::query(&format!(
        "{SELECT_STAGED} WHERE s.photo_request_id = $1 ORDER BY s.id, o.size"
    ))
    .bind(request_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows_to_staged(&rows)?)
}

/// The patient keeps a photo that failed its check; false when it is not theirs.
pub async fn keep(db: &Db, id: &str, request_id: &str) -> DbResult<bool> {
    Ok(
        sqlx::query("UPDATE staged_photos SET kept = 1 WHERE id = $1 AND photo_request_id = $2")
            .bind(id)
            .bind(request_id)
            .execute(db.pool())
            .await?
            .rows_affected()
            == 1,
    )
}

/// Removes a photo of the request (the patient retakes it); returns its object keys.
pub async fn remove_of_request(db: &Db, id: &str, request_id: &str) -> DbResult<Vec<String>> {
    let mut tx = db.begin().await?;
    let keys: Vec<String> = sqlx::query_scalar(
        "DELETE FROM staged_photo_objects WHERE staged_id IN \
         (SELECT id FROM staged_photos WHERE id = $1 AND photo_request_id = $2) RETURNING object_key",
    )
    .bind(id)
    .bind(request_id)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM staged_photos WHERE id = $1 AND photo_request_id = $2")
        .bind(id)
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(keys)
}

/// Takes the request's kept photos out of staging, in the transaction that gives them to the
/// case; those still waiting for the patient's decision are dropped with the request.
pub async fn take_kept_of_request(tx: &mut Tx<'_>, request_id: &str) -> DbResult<Vec<StagedRow>> {
    let rows = sqlx::query(&format!(
        "{SELECT_STAGED} WHERE s.photo_request_id = $1 AND s.kept = 1 ORDER BY s.id, o.size"
    ))
    .bind(request_id)
    .fetch_all(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM staged_photos WHERE photo_request_id = $1")
        .bind(request_id)
        .execute(&mut **tx)
        .await?;
    Ok(rows_to_staged(&rows)?)
}
