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
    record_many(executor, std::slice::from_ref(&event), now_ms).await
}

/// Many events in one statement: a batch job's rows (at most [`super::IN_CHUNK`]) cost one
/// round trip, not one each.
pub async fn record_many<'e, E>(executor: E, events: &[Event<'_>], now_ms: i64) -> DbResult<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..events.len())
        .map(|i| format!("({})", super::placeholders(i * 7 + 1, 7)))
        .collect();
    let sql = format!(
        "INSERT INTO audit_events (id, at_ms, actor_id, action, case_id, subject_id, detail) \
         VALUES {}",
        rows.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for event in events {
        query = query
            .bind(new_id())
            .bind(now_ms)
            .bind(event.actor_id)
            .bind(event.action)
            .bind(event.case_id)
            .bind(event.subject_id)
            .bind(event.detail.as_ref().map(|d| d.to_string()));
    }
    query.execute(executor).await?;
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

/// What an admin looks for in the trail.
#[derive(Debug, Clone, Default)]
pub struct Search<'a> {
    /// The patient's cases and calls, by id: events about them, and lists that showed them.
    pub record_ids: Option<&'a [String]>,
    pub actor_id: Option<&'a str>,
    /// `[from_ms, to_ms)`.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub limit: i64,
}

/// One event as the admin's audit page and export show it: with the actor's email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub event: Recorded,
    pub actor_email: Option<String>,
}

/// Newest first. A patient's events are those about their cases and calls (a call's events name
/// it as their subject), and the lists (queues, case lists, ringing calls) that showed one of
/// them, which name the ids in their detail.
pub async fn search(db: &Db, s: &Search<'_>) -> DbResult<Vec<Found>> {
    let mut sql = String::from(
        "SELECT a.at_ms, a.actor_id, u.email AS actor_email, a.action, a.case_id, a.subject_id, \
         a.detail FROM audit_events a LEFT JOIN users u ON u.id = a.actor_id WHERE 1 = 1",
    );
    let mut texts: Vec<String> = Vec::new();
    let param = |texts: &mut Vec<String>, v: String| {
        texts.push(v);
        format!("${}", texts.len())
    };
    if let Some(ids) = s.record_ids {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut any = Vec::new();
        for id in ids {
            let p = param(&mut texts, id.clone());
            any.push(format!("a.case_id = {p} OR a.subject_id = {p}"));
            let p = param(&mut texts, format!("%\"{id}\"%"));
            any.push(format!("(a.case_id IS NULL AND a.detail LIKE {p})"));
        }
        sql.push_str(&format!(" AND ({})", any.join(" OR ")));
    }
    if let Some(actor) = s.actor_id {
        let p = param(&mut texts, actor.to_string());
        sql.push_str(&format!(" AND a.actor_id = {p}"));
    }
    let n = texts.len();
    sql.push_str(&format!(
        " AND a.at_ms >= ${} AND a.at_ms < ${} ORDER BY a.at_ms DESC, a.id DESC LIMIT ${}",
        n + 1,
        n + 2,
        n + 3
    ));
    let mut q = sqlx::query(&sql);
    for t in &texts {
        q = q.bind(t.as_str());
    }
    let rows = q
        .bind(s.from_ms.unwrap_or(i64::MIN))
        .bind(s.to_ms.unwrap_or(i64::MAX))
        .bind(s.limit)
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Found {
                event: recorded(r)?,
                actor_email: r.try_get("actor_email")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

fn recorded(r: &sqlx::any::AnyRow) -> Result<Recorded, sqlx::Error> {
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
        .map(recorded)
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
