use sqlx::Row;

use super::{new_id, Db, DbError, DbResult, Tx};
use crate::domain::access::Principal;
use crate::domain::{PracticeId, Role, UserId};

#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub practice_id: Option<&'a str>,
    pub specialties: &'a [String],
    pub password_hash: Option<&'a str>,
}

/// Emails are compared case-insensitively, so they are stored lower-cased.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Inserts the user and their specialties (fixtures and tests; the service adds users with
/// [`insert_in`], audited).
pub async fn insert(db: &Db, user: NewUser<'_>, now_ms: i64) -> DbResult<String> {
    let mut tx = db.begin().await?;
    let id = insert_in(&mut tx, user, now_ms).await?;
    tx.commit().await?;
    Ok(id)
}

/// Inserts the user and their specialties inside the caller's transaction.
pub async fn insert_in(tx: &mut Tx<'_>, user: NewUser<'_>, now_ms: i64) -> DbResult<String> {
    let id = new_id();
    let email = normalise_email(user.email);
    sqlx::query(
        "INSERT INTO users (id, email, name, role, practice_id, password_hash, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(&email)
    .bind(user.name)
    .bind(user.role.as_str())
    .bind(user.practice_id)
    .bind(user.password_hash)
    .bind(now_ms)
    .execute(&mut **tx)
    .await
    .map_err(|e| match DbError::from(e) {
        e if e.is_unique_violation() => {
            DbError::Conflict(format!("a user with email {email} already exists"))
        }
        e => e,
    })?;
    for slug in user.specialties {
        sqlx::query("INSERT INTO user_specialties (user_id, specialty) VALUES ($1, $2)")
            .bind(&id)
            .bind(slug)
            .execute(&mut **tx)
            .await?;
    }
    Ok(id)
}

/// Replaces the password, ends the user's access made with the old one and lifts a sign-in
/// pause (the attempts against the old password no longer count). Returns the account's email.
pub async fn set_password_in(
    tx: &mut Tx<'_>,
    user_id: &str,
    hash: &str,
    now_ms: i64,
) -> DbResult<String> {
    let email: String =
        sqlx::query_scalar("UPDATE users SET password_hash = $1 WHERE id = $2 RETURNING email")
            .bind(hash)
            .bind(user_id)
            .fetch_one(&mut **tx)
            .await?;
    end_access(tx, user_id, now_ms).await?;
    sqlx::query("DELETE FROM sign_in_attempts WHERE account = $1")
        .bind(&email)
        .execute(&mut **tx)
        .await?;
    Ok(email)
}

/// Ends the user's open sessions and revokes their API tokens: whoever knew the old password
/// (or held a token made with it) is out at once.
async fn end_access(tx: &mut Tx<'_>, user_id: &str, now_ms: i64) -> DbResult<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE api_tokens SET revoked_at_ms = $1 WHERE user_id = $2 AND revoked_at_ms IS NULL",
    )
    .bind(now_ms)
    .bind(user_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Ends a user's access: sign-in, sessions and tokens all resolve through `disabled_at_ms`.
pub async fn disable_in(tx: &mut Tx<'_>, user_id: &str, now_ms: i64) -> DbResult<()> {
    sqlx::query("UPDATE users SET disabled_at_ms = $1 WHERE id = $2 AND disabled_at_ms IS NULL")
        .bind(now_ms)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    end_access(tx, user_id, now_ms).await
}

/// Id and password hash for sign-in; disabled users are not found.
pub async fn credentials_by_email(
    db: &Db,
    email: &str,
) -> DbResult<Option<(String, Option<String>)>> {
    let row = sqlx::query(
        "SELECT id, password_hash FROM users WHERE email = $1 AND disabled_at_ms IS NULL",
    )
    .bind(normalise_email(email))
    .fetch_optional(db.pool())
    .await?;
    Ok(row
        .map(|r| Ok::<_, sqlx::Error>((r.try_get("id")?, r.try_get("password_hash")?)))
        .transpose()?)
}

pub async fn id_by_email(db: &Db, email: &str) -> DbResult<String> {
    let row = sqlx::query("SELECT id FROM users WHERE email = $1")
        .bind(normalise_email(email))
        .fetch_optional(db.pool())
        .await?
        .ok_or(DbError::NotFound)?;
    Ok(row.try_get("id")?)
}

/// The signed-in person with what the access rules need. Disabled users get `None`.
pub async fn principal(db: &Db, user_id: &str) -> DbResult<Option<Principal>> {
    let Some(row) = sqlx::query(
        "SELECT u.id, u.email, u.name, u.role, u.practice_id, \
         COALESCE(p.icb_id, CASE WHEN o.kind = 'icb' THEN o.id ELSE o.icb_id END) AS icb_id \
         FROM users u LEFT JOIN practices p ON p.id = u.practice_id \
         LEFT JOIN organisations o ON o.id = u.organisation_id \
         WHERE u.id = $1 AND u.disabled_at_ms IS NULL",
    )
    .bind(user_id)
    .fetch_optional(db.pool())
    .await?
    else {
        return Ok(None);
    };
    let role: String = row.try_get("role")?;
    let role: Role = role
        .parse()
        .map_err(|e: crate::domain::UnknownValue| DbError::Config(e.to_string()))?;
    let specialties =
        sqlx::query("SELECT specialty FROM user_specialties WHERE user_id = $1 ORDER BY specialty")
            .bind(user_id)
            .fetch_all(db.pool())
            .await?
            .iter()
            .map(|r| r.try_get("specialty"))
            .collect::<Result<Vec<String>, _>>()?;
    Ok(Some(Principal {
        user_id: UserId::new(row.try_get::<String, _>("id")?),
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        role,
        practice_id: row
            .try_get::<Option<String>, _>("practice_id")?
            .map(PracticeId::new),
        icb_id: row.try_get("icb_id")?,
        specialties,
    }))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consultant {
    pub id: String,
    pub name: String,
    pub email: String,
    pub specialty: String,
}

/// One row per consultant and specialty, for rota forms.
pub async fn consultants(db: &Db) -> DbResult<Vec<Consultant>> {
    let rows = sqlx::query(
        "SELECT u.id, u.name, u.email, us.specialty FROM users u \
         JOIN user_specialties us ON us.user_id = u.id \
         WHERE u.role = 'consultant' AND u.disabled_at_ms IS NULL ORDER BY us.specialty, u.name",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Consultant {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                email: r.try_get("email")?,
                specialty: r.try_get("specialty")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}
