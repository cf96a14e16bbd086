//! API tokens: shown once, stored only as a SHA-256 hash (they are long random secrets,
//! so a fast hash is enough; a slow password hash would only slow every API call).
//! Each token expires; `aghub token revoke` ends one token or all of a user's at once.

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{audit, new_id, Db, DbResult};

pub const PREFIX: &str = "agh_";

pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{PREFIX}{}", hex::encode(bytes))
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub async fn insert(
    db: &Db,
    user_id: &str,
    token: &str,
    now_ms: i64,
    expires_at_ms: i64,
) -> DbResult<()> {
    let mut tx = db.pool().begin().await?;
    let id = new_id();
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, token_hash, created_at_ms, expires_at_ms) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(hash(token))
    .bind(now_ms)
    .bind(expires_at_ms)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        audit::Event {
            action: "token.created",
            subject_id: Some(user_id),
            detail: Some(serde_json::json!({ "token_id": id, "expires_at_ms": expires_at_ms })),
            ..Default::default()
        },
        now_ms,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The user a live token belongs to: not revoked and not expired.
pub async fn user_for(db: &Db, token: &str, now_ms: i64) -> DbResult<Option<String>> {
    let row = sqlx::query(
        "SELECT user_id FROM api_tokens WHERE token_hash = $1 AND revoked_at_ms IS NULL \
         AND expires_at_ms > $2",
    )
    .bind(hash(token))
    .bind(now_ms)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| r.try_get("user_id")).transpose()?)
}

/// Which tokens a revocation ends.
#[derive(Debug, Clone, Copy)]
pub enum Revoke<'a> {
    Token(&'a str),
    AllOfUser(&'a str),
}

/// Revokes live tokens; returns how many were live. Audited.
pub async fn revoke(db: &Db, which: Revoke<'_>, now_ms: i64) -> DbResult<u64> {
    let mut tx = db.pool().begin().await?;
    let (sql, key, subject) = match which {
        Revoke::Token(token) => (
            "UPDATE api_tokens SET revoked_at_ms = $1 WHERE token_hash = $2 \
             AND revoked_at_ms IS NULL RETURNING user_id",
            hash(token),
            None,
        ),
        Revoke::AllOfUser(user_id) => (
            "UPDATE api_tokens SET revoked_at_ms = $1 WHERE user_id = $2 \
             AND revoked_at_ms IS NULL RETURNING user_id",
            user_id.to_string(),
            Some(user_id.to_string()),
        ),
    };
    let owners: Vec<String> = sqlx::query_scalar(sql)
        .bind(now_ms)
        .bind(key)
        .fetch_all(&mut *tx)
        .await?;
    if owners.is_empty() {
        return Ok(0);
    }
    let subject = subject.or_else(|| owners.first().cloned());
    audit::record(
        &mut *tx,
        audit::Event {
            action: "token.revoked",
            subject_id: subject.as_deref(),
            detail: Some(serde_json::json!({ "revoked": owners.len() })),
            ..Default::default()
        },
        now_ms,
    )
    .await?;
    tx.commit().await?;
    Ok(owners.len() as u64)
}
