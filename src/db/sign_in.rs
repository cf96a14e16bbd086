//! Sign-in throttling state. An attempt is reserved *before* the password is checked, under a
//! per-account lock, so parallel attempts cannot all pass a check that each read before any of
//! them was written: attempts in flight count like failures until they end.

use super::{new_id, Db, DbResult};
use crate::domain::sign_in::{self, MAX_FAILURES, WINDOW_MS};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// Go ahead and check the password; report the result against this attempt.
    Allowed { attempt_id: String },
    /// Too many recent attempts: sign-in to this account opens again at this time.
    Paused { until_ms: i64 },
}

pub async fn reserve(db: &Db, account: &str, now_ms: i64) -> DbResult<Reservation> {
    let mut tx = db.begin().await?;
    // Serialises reservations for this account until commit (row lock on PostgreSQL; on
    // SQLite this first statement is a write, so the transaction holds the write lock).
    sqlx::query(
        "INSERT INTO sign_in_locks (account, touched_at_ms) VALUES ($1, $2) \
         ON CONFLICT (account) DO UPDATE SET touched_at_ms = excluded.touched_at_ms",
    )
    .bind(account)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    let latest: Vec<i64> = sqlx::query_scalar(
        "SELECT started_at_ms FROM sign_in_attempts WHERE account = $1 AND started_at_ms > $2 \
         ORDER BY started_at_ms DESC LIMIT $3",
    )
    .bind(account)
    .bind(now_ms - WINDOW_MS)
    .bind(MAX_FAILURES as i64)
    .fetch_all(&mut *tx)
    .await?;
    if let Some(until_ms) = sign_in::paused_until(&latest, now_ms) {
        tx.commit().await?;
        return Ok(Reservation::Paused { until_ms });
    }
    let attempt_id = new_id();
    sqlx::query(
        "INSERT INTO sign_in_attempts (id, account, started_at_ms, outcome) \
         VALUES ($1, $2, $3, 'pending')",
    )
    .bind(&attempt_id)
    .bind(account)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Reservation::Allowed { attempt_id })
}

/// The password was wrong: the attempt keeps counting for the rest of the window.
pub async fn failed(db: &Db, attempt_id: &str) -> DbResult<()> {
    sqlx::query("UPDATE sign_in_attempts SET outcome = 'failed' WHERE id = $1")
        .bind(attempt_id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// The password was right: the count for this account starts again.
pub async fn succeeded(db: &Db, account: &str) -> DbResult<()> {
    sqlx::query("DELETE FROM sign_in_attempts WHERE account = $1")
        .bind(account)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Forgets attempts that no longer count; run by housekeeping.
pub async fn sweep(db: &Db, now_ms: i64) -> DbResult<u64> {
    let cutoff = now_ms - WINDOW_MS;
    let done = sqlx::query("DELETE FROM sign_in_attempts WHERE started_at_ms <= $1")
        .bind(cutoff)
        .execute(db.pool())
        .await?;
    sqlx::query("DELETE FROM sign_in_locks WHERE touched_at_ms <= $1")
        .bind(cutoff)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}
