//! API tokens: shown once, stored only as a SHA-256 hash (they are long random secrets,
//! so a fast hash is enough; a slow password hash would only slow every API call).

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{new_id, Db, DbResult};

pub const PREFIX: &str = "agh_";

pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{PREFIX}{}", hex::encode(bytes))
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub async fn insert(db: &Db, user_id: &str, token: &str, now_ms: i64) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, token_hash, created_at_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(new_id())
    .bind(user_id)
    .bind(hash(token))
    .bind(now_ms)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The user a live token belongs to.
pub async fn user_for(db: &Db, token: &str) -> DbResult<Option<String>> {
    let row = sqlx::query(
        "SELECT user_id FROM api_tokens WHERE token_hash = $1 AND revoked_at_ms IS NULL",
    )
    .bind(hash(token))
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| r.try_get("user_id")).transpose()?)
}
