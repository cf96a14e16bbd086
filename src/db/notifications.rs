//! In-app notifications, each person's email choices, who is on duty to be told, and the
//! once-only notices of events that follow from time passing.

use super::{Db, DbResult, Tx};
use crate::domain::notifications::{About, EmailChoice, Event};
use crate::domain::queue::Pool;

pub async fn insert(
    tx: &mut Tx<'_>,
    user_id: &str,
    kind: Event,
    about: &About,
    now_ms: i64,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO notifications (id, user_id, kind, case_id, call_id, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(super::new_id())
    .bind(user_id)
    .bind(kind.as_str())
    .bind(about.case_id())
    .bind(about.call_id())
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Notification {
    pub id: String,
    pub kind: Event,
    pub about: About,
    pub specialty: String,
    pub created_at_ms: i64,
    pub read: bool,
}

/// A person's notifications, newest first.
pub async fn list(db: &Db, user_id: &str, limit: i64) -> DbResult<Vec<Notification>> {
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        String,
        i64,
        Option<i64>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT n.id, n.kind, n.case_id, n.call_id, s.name, n.created_at_ms, n.read_at_ms \
         FROM notifications n LEFT JOIN cases c ON c.id = n.case_id \
         LEFT JOIN calls k ON k.id = n.call_id \
         JOIN specialties s ON s.slug = COALESCE(c.specialty, k.specialty) \
         WHERE n.user_id = $1 ORDER BY n.created_at_ms DESC, n.id DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(
            |(id, kind, case_id, call_id, specialty, created_at_ms, read_at)| {
                Ok(Notification {
                    id,
                    kind: kind.parse().map_err(|e| sqlx::Error::ColumnDecode {
                        index: "kind".into(),
                        source: Box::new(e),
                    })?,
                    about: about(case_id, call_id)?,
                    specialty,
                    created_at_ms,
                    read: read_at.is_some(),
                })
            },
        )
        .collect()
}

pub async fn unread(db: &Db, user_id: &str) -> DbResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at_ms IS NULL",
    )
    .bind(user_id)
    .fetch_one(db.pool())
    .await?)
}

/// The subject of a notification or delivery row from its two columns, exactly one set.
pub fn about(case_id: Option<String>, call_id: Option<String>) -> Result<About, sqlx::Error> {
    match (case_id, call_id) {
        (Some(id), None) => Ok(About::Case(id)),
        (None, Some(id)) => Ok(About::Call(id)),
        _ => Err(sqlx::Error::ColumnDecode {
            index: "case_id".into(),
            source: "a row about both or neither a case and a call".into(),
        }),
    }
}

/// Marks a person's notifications read: those of one case or call (they opened it), or all.
pub async fn mark_read(
    db: &Db,
    user_id: &str,
    about: Option<&About>,
    now_ms: i64,
) -> DbResult<u64> {
    let sql = "UPDATE notifications SET read_at_ms = $1 WHERE user_id = $2 AND read_at_ms IS NULL";
    let (column, id) = match about {
        Some(About::Case(id)) => ("case_id", id),
        Some(About::Call(id)) => ("call_id", id),
        None => {
            return Ok(sqlx::query(sql)
                .bind(now_ms)
                .bind(user_id)
                .execute(db.pool())
                .await?
                .rows_affected())
        }
    };
    let narrowed = format!("{sql} AND {column} = $3");
    let query = sqlx::query(&narrowed).bind(now_ms).bind(user_id).bind(id);
    Ok(query.execute(db.pool()).await?.rows_affected())
}

/// A person's email choices that differ from the defaults.
pub async fn settings(
    executor: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
) -> DbResult<Vec<(Event, EmailChoice)>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, email FROM notification_settings WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(executor)
            .await?;
    // A kind this version no longer knows is ignored, not an error: the person's other
    // choices still hold.
    Ok(rows
        .into_iter()
        .filter_map(|(k, e)| Some((k.parse().ok()?, e.parse().ok()?)))
        .collect())
}

pub async fn set_setting(
    tx: &mut Tx<'_>,
    user_id: &str,
    kind: Event,
    email: EmailChoice,
) -> DbResult<()> {
    sqlx::query("DELETE FROM notification_settings WHERE user_id = $1 AND kind = $2")
        .bind(user_id)
        .bind(kind.as_str())
        .execute(&mut **tx)
        .await?;
    sqlx::query("INSERT INTO notification_settings (user_id, kind, email) VALUES ($1, $2, $3)")
        .bind(user_id)
        .bind(kind.as_str())
        .bind(email.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Consultants on duty now for the specialty in the pool (enabled accounts, with the
/// specialty on their record); for the local pool, only those whose trust is in `icb_id`, the
/// case's practice's ICB (`None`: consultants of no trust, for practices of no ICB).
pub async fn on_duty(
    tx: &mut Tx<'_>,
    specialty: &str,
    pool: Pool,
    icb_id: Option<&str>,
    now_ms: i64,
) -> DbResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT r.user_id FROM rota_shifts r \
         JOIN user_specialties us ON us.user_id = r.user_id AND us.specialty = r.specialty \
         JOIN users u ON u.id = r.user_id AND u.disabled_at_ms IS NULL \
         LEFT JOIN organisations o ON o.id = u.organisation_id \
         WHERE r.specialty = $1 AND r.pool = $2 AND r.starts_at_ms <= $3 AND r.ends_at_ms > $3 \
         AND (r.pool = 'national' OR o.icb_id IS NOT DISTINCT FROM $4) \
         ORDER BY r.user_id",
    )
    .bind(specialty)
    .bind(pool.as_str())
    .bind(now_ms)
    .bind(icb_id)
    .fetch_all(&mut **tx)
    .await?)
}

/// The address and role to email, or `None` for a disabled or deleted account.
pub async fn email_of(db: &Db, user_id: &str) -> DbResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT email FROM users WHERE id = $1 AND disabled_at_ms IS NULL")
            .bind(user_id)
            .fetch_optional(db.pool())
            .await?,
    )
}

/// Records that the time-driven `kind` happened to the case at `at_ms`; false when some
/// instance already did, so the event is announced once.
pub async fn first_notice(
    tx: &mut Tx<'_>,
    case_id: &str,
    kind: Event,
    at_ms: i64,
) -> DbResult<bool> {
    Ok(sqlx::query(
        "INSERT INTO case_notices (case_id, kind, at_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(case_id)
    .bind(kind.as_str())
    .bind(at_ms)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// A case an event that follows from time passing has happened to, at `at_ms`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TimedEvent {
    pub case_id: String,
    pub at_ms: i64,
}

/// Cases whose time-driven `kind` fell due between `since_ms` and `now_ms` and has not been
/// announced: escalation (queued, unclaimed, past its ICB's or else its specialty's escalation window), past
/// target (no reply by the target) or referral overdue (not confirmed by its deadline).
pub async fn due_timed_events(
    db: &Db,
    kind: Event,
    since_ms: i64,
    now_ms: i64,
) -> DbResult<Vec<TimedEvent>> {
    let (at, condition) = match kind {
        Event::Escalated => (
            "c.queued_at_ms + COALESCE(t.escalation_ms, s.escalation_ms)",
            "c.status IN ('submitted', 'claimed') \
             AND (c.status = 'submitted' OR c.claim_expires_at_ms < $2)",
        ),
        Event::PastTarget => (
            "c.submitted_at_ms + f.target_ms",
            "c.status IN ('submitted', 'claimed') AND c.first_reply_at_ms IS NULL",
        ),
        Event::ReferralOverdue => ("c.referral_due_at_ms", "c.status = 'gp_to_refer'"),
        _ => return Ok(Vec::new()),
    };
    let sql = format!(
        "SELECT c.id AS case_id, {at} AS at_ms FROM cases c \
         JOIN specialties s ON s.slug = c.specialty JOIN case_facts f ON f.case_id = c.id \
         JOIN practices p ON p.id = c.practice_id \
         LEFT JOIN icb_targets t ON t.icb_id = p.icb_id AND t.specialty = c.specialty \
         WHERE {condition} AND {at} <= $2 AND {at} > $1 \
         AND NOT EXISTS (SELECT 1 FROM case_notices n WHERE n.case_id = c.id AND n.kind = $3 \
         AND n.at_ms = {at}) LIMIT 500"
    );
    Ok(sqlx::query_as(&sql)
        .bind(since_ms)
        .bind(now_ms)
        .bind(kind.as_str())
        .fetch_all(db.pool())
        .await?)
}

/// Records that the party was reminded, at the reminder moment `at_ms`, of a call's missing
/// outcome; false when some instance already did, or the party has recorded it meanwhile.
pub async fn first_call_notice(
    tx: &mut Tx<'_>,
    call_id: &str,
    user_id: &str,
    at_ms: i64,
) -> DbResult<bool> {
    Ok(sqlx::query(
        "INSERT INTO call_notices (call_id, user_id, at_ms) SELECT $1, $2, $3 \
         WHERE EXISTS (SELECT 1 FROM calls WHERE id = $1 AND \
         ((created_by = $2 AND gp_outcome IS NULL) OR (answered_by = $2 AND consultant_outcome IS NULL))) \
         ON CONFLICT DO NOTHING",
    )
    .bind(call_id)
    .bind(user_id)
    .bind(at_ms)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}
