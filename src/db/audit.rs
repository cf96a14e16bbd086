//! The append-only audit trail: every view and change of patient data, every sign-in.

use sqlx::Row;

use super::{new_id, Db, DbResult};

#[derive(Debug, Clone, Default)]
pub struct Event<'a> {
    pub actor_id: Option<&'a str>,
    pub action: &'a str,
    pub case_id: Option<&'a str>,
    pub subject_id: Option<&'a str>,
    /// Small JSON object with anything else worth keeping (never free text from a case).
    pub detail: Option<serde_json::Value>,
}

pub async fn record<'e, E>(executor: E, event: Event<'_>, now_ms: i64) -> DbResult<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO audit_events (id, at_ms, actor_id, action, case_id, subject_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new_id())
    .bind(now_ms)
    .bind(event.actor_id)
    .bind(event.action)
    .bind(event.case_id)
    .bind(event.subject_id)
    .bind(event.detail.map(|d| d.to_string()))
    .execute(executor)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub at_ms: i64,
    pub actor_id: Option<String>,
    pub action: String,
    pub case_id: Option<String>,
    pub subject_id: Option<String>,
    pub detail: Option<serde_json::Value>,
}

/// Newest first; for admins' review and for tests.
pub async fn recent(db: &Db, limit: i64) -> DbResult<Vec<Recorded>> {
    let rows = sqlx::query(
        "SELECT at_ms, actor_id, action, case_id, subject_id, detail FROM audit_events \
         ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Recorded {
                at_ms: r.try_get("at_ms")?,
                actor_id: r.try_get("actor_id")?,
                action: r.try_get("action")?,
                case_id: r.try_get("case_id")?,
                subject_id: r.try_get("subject_id")?,
                detail: r
                    .try_get::<Option<String>, _>("detail")?
                    .and_then(|d| serde_json::from_str(&d).ok()),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// The details of one case's events of one kind, oldest first (e.g. the letters downloaded).
pub async fn case_details(
    db: &Db,
    case_id: &str,
    action: &str,
) -> DbResult<Vec<serde_json::Value>> {
    let rows: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT detail FROM audit_events WHERE case_id = $1 AND action = $2 ORDER BY at_ms, id",
    )
    .bind(case_id)
    .bind(action)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .flatten()
        .filter_map(|d| serde_json::from_str(&d).ok())
        .collect())
}
