//! The outbox of deliveries (emails, webhook calls) and the webhooks they go to. Rows are
//! written in the transaction of the change they announce; workers on any instance lease due
//! rows, so no two deliver the same row at once.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Backend, Db, DbResult, Tx};
use crate::domain::notifications::{About, Channel, Event};

pub struct NewDelivery<'a> {
    pub channel: Channel,
    pub recipient: &'a str,
    pub kind: Event,
    pub about: &'a About,
    pub payload: &'a serde_json::Value,
    pub digest: bool,
    pub due_at_ms: i64,
}

pub async fn insert(tx: &mut Tx<'_>, d: &NewDelivery<'_>, now_ms: i64) -> DbResult<String> {
    let id = super::new_id();
    sqlx::query(
        "INSERT INTO outbox (id, channel, recipient, kind, case_id, call_id, payload, digest, status, \
         attempts, created_at_ms, due_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, $10)",
    )
    .bind(&id)
    .bind(d.channel.as_str())
    .bind(d.recipient)
    .bind(d.kind.as_str())
    .bind(d.about.case_id())
    .bind(d.about.call_id())
    .bind(d.payload.to_string())
    .bind(i64::from(d.digest))
    .bind(now_ms)
    .bind(d.due_at_ms)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// A delivery a worker has leased.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub channel: Channel,
    pub recipient: String,
    pub kind: Event,
    pub about: About,
    pub payload: serde_json::Value,
    pub digest: bool,
    /// This attempt's number (1 for the first).
    pub attempts: i64,
    pub created_at_ms: i64,
}

impl sqlx::FromRow<'_, AnyRow> for Delivery {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        let payload: String = r.try_get("payload")?;
        let digest: i64 = r.try_get("digest")?;
        Ok(Self {
            id: r.try_get("id")?,
            channel: super::word(r, "channel")?,
            recipient: r.try_get("recipient")?,
            kind: super::word(r, "kind")?,
            about: super::notifications::about(r.try_get("case_id")?, r.try_get("call_id")?)?,
            payload: serde_json::from_str(&payload).map_err(|e| sqlx::Error::ColumnDecode {
                index: "payload".into(),
                source: Box::new(e),
            })?,
            digest: digest != 0,
            attempts: r.try_get("attempts")?,
            created_at_ms: r.try_get("created_at_ms")?,
        })
    }
}

/// Leases up to `limit` due deliveries until `lease_until_ms` and counts the attempt. Rows
/// of one recipient come together, so a digest's rows are usually leased at once. PostgreSQL
/// skips rows another instance is leasing this moment; SQLite has one writer at a time.
pub async fn lease_due(
    db: &Db,
    now_ms: i64,
    lease_until_ms: i64,
    limit: i64,
) -> DbResult<Vec<Delivery>> {
    let skip_locked = match db.backend() {
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE outbox SET leased_until_ms = $1, attempts = attempts + 1 WHERE id IN ( \
         SELECT id FROM outbox WHERE status = 'pending' AND due_at_ms <= $2 \
         AND (leased_until_ms IS NULL OR leased_until_ms <= $2) \
         ORDER BY due_at_ms, recipient LIMIT $3 {skip_locked}) \
         RETURNING id, channel, recipient, kind, case_id, call_id, payload, digest, attempts, \
         created_at_ms"
    );
    let mut rows: Vec<Delivery> = sqlx::query_as(&sql)
        .bind(lease_until_ms)
        .bind(now_ms)
        .bind(limit)
        .fetch_all(db.pool())
        .await?;
    rows.sort_by(|a, b| (&a.recipient, &a.id).cmp(&(&b.recipient, &b.id)));
    Ok(rows)
}

pub async fn delivered(
    executor: impl sqlx::Executor<'_, Database = sqlx::Any>,
    id: &str,
    now_ms: i64,
) -> DbResult<()> {
    sqlx::query(
        // The payload is only for delivering; a patient's link in it must not outlive that.
        "UPDATE outbox SET status = 'delivered', delivered_at_ms = $2, leased_until_ms = NULL, \
         last_error = NULL, payload = '{}' WHERE id = $1",
    )
    .bind(id)
    .bind(now_ms)
    .execute(executor)
    .await?;
    Ok(())
}

/// A failed attempt: tried again at `retry_at_ms`, or dead-lettered when that is `None`.
pub async fn failed(
    executor: impl sqlx::Executor<'_, Database = sqlx::Any>,
    id: &str,
    error: &str,
    retry_at_ms: Option<i64>,
) -> DbResult<()> {
    sqlx::query(
        "UPDATE outbox SET status = $2, due_at_ms = COALESCE($3, due_at_ms), \
         leased_until_ms = NULL, last_error = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(if retry_at_ms.is_some() {
        "pending"
    } else {
        "dead"
    })
    .bind(retry_at_ms)
    .bind(error.chars().take(500).collect::<String>())
    .execute(executor)
    .await?;
    Ok(())
}

/// How many deliveries are in each state, for admins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Waiting for their first attempt (or their digest's morning).
    pub pending: i64,
    /// Failed at least once and due to be tried again.
    pub retrying: i64,
    pub dead: i64,
    pub delivered: i64,
}

pub async fn counts(db: &Db) -> DbResult<Counts> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT status, CASE WHEN last_error IS NULL THEN 0 ELSE 1 END, COUNT(*) FROM outbox \
         GROUP BY status, CASE WHEN last_error IS NULL THEN 0 ELSE 1 END",
    )
    .fetch_all(db.pool())
    .await?;
    let mut c = Counts::default();
    for (status, failed, n) in rows {
        match (status.as_str(), failed) {
            ("pending", 0) => c.pending += n,
            ("pending", _) => c.retrying += n,
            ("dead", _) => c.dead += n,
            _ => c.delivered += n,
        }
    }
    Ok(c)
}

/// A delivery as admins see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Listed {
    pub id: String,
    pub channel: String,
    pub kind: String,
    /// The person's email, or the webhook's URL.
    pub to: String,
    pub status: String,
    pub attempts: i64,
    pub created_at_ms: i64,
    pub due_at_ms: i64,
    pub last_error: Option<String>,
}

/// The deliveries that need an admin's eye: dead ones and those being retried, newest first.
pub async fn troubled(db: &Db, limit: i64) -> DbResult<Vec<Listed>> {
    Ok(sqlx::query_as(
        "SELECT o.id, o.channel, o.kind, \
         COALESCE(u.email, w.url, o.recipient) AS \"to\", o.status, o.attempts, o.created_at_ms, \
         o.due_at_ms, o.last_error FROM outbox o \
         LEFT JOIN users u ON o.channel = 'email' AND u.id = o.recipient \
         LEFT JOIN webhooks w ON o.channel = 'webhook' AND w.id = o.recipient \
         WHERE o.status = 'dead' OR (o.status = 'pending' AND o.last_error IS NOT NULL) \
         ORDER BY o.created_at_ms DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?)
}

/// Puts dead deliveries (one, or all when `id` is `None`) back in the queue, due now with a
/// fresh set of attempts. Returns how many.
pub async fn retry_dead(tx: &mut Tx<'_>, id: Option<&str>, now_ms: i64) -> DbResult<u64> {
    let sql = "UPDATE outbox SET status = 'pending', attempts = 0, due_at_ms = $1, \
               leased_until_ms = NULL WHERE status = 'dead'";
    let with_id = format!("{sql} AND id = $2");
    let query = match id {
        Some(id) => sqlx::query(&with_id).bind(now_ms).bind(id.to_string()),
        None => sqlx::query(sql).bind(now_ms),
    };
    Ok(query.execute(&mut **tx).await?.rows_affected())
}

/// Forgets deliveries made before `before_ms` (the audit trail keeps what mattered).
pub async fn sweep_delivered(db: &Db, before_ms: i64) -> DbResult<u64> {
    Ok(
        sqlx::query("DELETE FROM outbox WHERE status = 'delivered' AND delivered_at_ms < $1")
            .bind(before_ms)
            .execute(db.pool())
            .await?
            .rows_affected(),
    )
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Webhook {
    pub id: String,
    pub practice_id: String,
    pub url: String,
    pub secret: String,
}

pub async fn insert_webhook(
    tx: &mut Tx<'_>,
    practice_id: &str,
    url: &str,
    secret: &str,
    now_ms: i64,
) -> DbResult<String> {
    let id = super::new_id();
    sqlx::query(
        "INSERT INTO webhooks (id, practice_id, url, secret, created_at_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(practice_id)
    .bind(url)
    .bind(secret)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

pub async fn practice_webhooks(tx: &mut Tx<'_>, practice_id: &str) -> DbResult<Vec<Webhook>> {
    Ok(sqlx::query_as(
        "SELECT id, practice_id, url, secret FROM webhooks \
         WHERE practice_id = $1 AND disabled_at_ms IS NULL ORDER BY created_at_ms",
    )
    .bind(practice_id)
    .fetch_all(&mut **tx)
    .await?)
}

pub async fn webhook(db: &Db, id: &str) -> DbResult<Option<Webhook>> {
    Ok(sqlx::query_as(
        "SELECT id, practice_id, url, secret FROM webhooks WHERE id = $1 AND disabled_at_ms IS NULL",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?)
}
