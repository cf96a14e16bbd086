//! Bookkeeping for objects written by requests that have not committed yet (see migration 0004).

use sqlx::{Any, Transaction};

use super::{Db, DbResult};

/// How long a request may take to commit what it wrote before its objects count as orphans.
pub const GRACE_MS: i64 = 60 * 60 * 1000;

pub async fn record(db: &Db, key: &str, now_ms: i64) -> DbResult<()> {
    record_until(db, key, now_ms, now_ms + GRACE_MS).await
}

/// As [`record`], for an object kept uncommitted on purpose until `expires_at_ms` (staged photos).
pub async fn record_until(db: &Db, key: &str, now_ms: i64, expires_at_ms: i64) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO blob_intents (object_key, created_at_ms, expires_at_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (object_key) DO NOTHING",
    )
    .bind(key)
    .bind(now_ms)
    .bind(expires_at_ms)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The object now belongs to a case: called inside the transaction that records it.
pub async fn settle(tx: &mut Transaction<'_, Any>, key: &str) -> DbResult<()> {
    sqlx::query("DELETE FROM blob_intents WHERE object_key = $1")
        .bind(key)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The object is to be deleted, inside the transaction that forgets it: if the deletion that
/// follows the commit fails, or the process dies first, the sweep deletes it.
pub async fn doom(tx: &mut Transaction<'_, Any>, key: &str, now_ms: i64) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO blob_intents (object_key, created_at_ms, expires_at_ms) VALUES ($1, $2, $2) \
         ON CONFLICT (object_key) DO UPDATE SET expires_at_ms = $2",
    )
    .bind(key)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The object was deleted (or never written): forget it.
pub async fn forget(db: &Db, key: &str) -> DbResult<()> {
    sqlx::query("DELETE FROM blob_intents WHERE object_key = $1")
        .bind(key)
        .execute(db.pool())
        .await?;
    Ok(())
}

pub async fn expired(db: &Db, now_ms: i64, limit: i64) -> DbResult<Vec<String>> {
    Ok(sqlx::query_scalar::<_, String>(
        "SELECT object_key FROM blob_intents WHERE expires_at_ms < $1 ORDER BY expires_at_ms LIMIT $2",
    )
    .bind(now_ms)
    .bind(limit)
    .fetch_all(db.pool())
    .await?)
}

pub async fn count(db: &Db) -> DbResult<i64> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM blob_intents")
            .fetch_one(db.pool())
            .await?,
    )
}
