//! API tokens: shown once, stored only as a SHA-256 hash (they are long random secrets,
//! so a fast hash is enough; a slow password hash would only slow every API call).
//! Each token expires; `aghub token revoke` ends one token or all of a user's at once.

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{new_id, Db, DbResult, Tx};

pub const PREFIX: &str = "agh_";

pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{PREFIX}{}", hex::encode(bytes))
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Stores a token's hash; returns the token's id (for the audit trail, never the token).
pub async fn insert_in(
    tx: &mut Tx<'_>,
    user_id: &str,
    token: &str,
    now_ms: i64,
    expires_at_ms: i64,
) -> DbResult<String> {
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
    .execute(&mut **tx)
    .await?;
    Ok(id)
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

/// Revokes live tokens; returns the owner of each token that was live.
pub async fn revoke_in(tx: &mut Tx<'_>, which: Revoke<'_>, now_ms: i64) -> DbResult<Vec<String>> {
    let (sql, key) = match which {
        Revoke::Token(token) => (
            "UPDATE api_tokens SET revoked_at_ms = $1 WHERE token_hash = $2 \
             AND revoked_at_ms IS NULL RETURNING user_id",
            hash(token),
        ),
        Revoke::AllOfUser(user_id) => (
            "UPDATE api_tokens SET revoked_at_ms = $1 WHERE user_id = $2 \
             AND revoked_at_ms IS NULL RETURNING user_id",
            user_id.to_string(),
        ),
    };
    Ok(sqlx::query_scalar(sql)
        .bind(now_ms)
        .bind(key)
        .fetch_all(&mut **tx)
        .await?)
}
