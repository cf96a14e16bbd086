//! What the records code lets aghub delete, and deleting it: a patient's concluded cases,
//! erased in place (the row stays for the figures, without the patient).

use sqlx::Row;

use super::{Db, DbResult, Tx};

/// A patient all of whose cases are concluded (closed or converted), none erased yet, whose
/// last contact was before `before_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub nhs_number: String,
    pub date_of_birth: String,
    pub last_contact_ms: i64,
}

const LAST_CONTACT: &str = "COALESCE(closed_at_ms, answered_at_ms, submitted_at_ms)";

pub async fn candidates(db: &Db, before_ms: i64) -> DbResult<Vec<Candidate>> {
    let rows = sqlx::query(&format!(
        "SELECT nhs_number, MAX(date_of_birth) AS date_of_birth, MAX({LAST_CONTACT}) AS last_ms \
         FROM cases WHERE erased_at_ms IS NULL GROUP BY nhs_number \
         HAVING SUM(CASE WHEN status IN ('closed', 'converted') THEN 0 ELSE 1 END) = 0 \
         AND MAX({LAST_CONTACT}) < $1"
    ))
    .bind(before_ms)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Candidate {
                nhs_number: r.try_get("nhs_number")?,
                date_of_birth: r.try_get("date_of_birth")?,
                last_contact_ms: r.try_get("last_ms")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// The patient's cases not erased yet: (id, under legal hold).
pub async fn cases_of(db: &Db, nhs_number: &str) -> DbResult<Vec<(String, bool)>> {
    let rows = sqlx::query(
        "SELECT id, legal_hold_at_ms FROM cases WHERE nhs_number = $1 AND erased_at_ms IS NULL \
         ORDER BY submitted_at_ms",
    )
    .bind(nhs_number)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("id")?,
                r.try_get::<Option<i64>, _>("legal_hold_at_ms")?.is_some(),
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// What erasing a case removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Erased {
    pub messages: u64,
    pub photos: u64,
    /// Object keys to delete from the store once committed.
    pub object_keys: Vec<String>,
}

/// Counts what erasing the case would remove (the dry run).
pub async fn count(db: &Db, case_id: &str) -> DbResult<Erased> {
    let one = |sql: &'static str| {
        sqlx::query_scalar::<_, i64>(sql)
            .bind(case_id.to_string())
            .fetch_one(db.pool())
    };
    let messages = one("SELECT COUNT(*) FROM case_messages WHERE case_id = $1").await?;
    let photos = one("SELECT COUNT(*) FROM photos WHERE case_id = $1").await?;
    Ok(Erased {
        messages: messages as u64,
        photos: photos as u64,
        object_keys: object_keys(db.pool(), case_id).await?,
    })
}

async fn object_keys<'e, E>(executor: E, case_id: &str) -> DbResult<Vec<String>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    Ok(sqlx::query_scalar(
        "SELECT o.object_key FROM photo_objects o JOIN photos p ON p.id = o.photo_id \
         WHERE p.case_id = $1 \
         UNION ALL SELECT so.object_key FROM staged_photo_objects so \
         JOIN staged_photos s ON s.id = so.staged_id \
         JOIN photo_requests r ON r.id = s.photo_request_id WHERE r.case_id = $1",
    )
    .bind(case_id)
    .fetch_all(executor)
    .await?)
}

/// Erases the case inside the caller's transaction: its messages, photos (rows; the objects
/// are returned to delete after the commit), photo links, undelivered messages about it, and
/// every patient identifier and clinical text on the case itself. False when it was erased or
/// put on hold meanwhile.
pub async fn erase(tx: &mut Tx<'_>, case_id: &str, now_ms: i64) -> DbResult<Option<Erased>> {
    let marked = sqlx::query(
        "UPDATE cases SET nhs_number = '', date_of_birth = '', history = '', question = '', \
         advice = NULL, sex = NULL, referral_reference = NULL, erased_at_ms = $2 \
         WHERE id = $1 AND erased_at_ms IS NULL AND legal_hold_at_ms IS NULL",
    )
    .bind(case_id)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    if marked.rows_affected() == 0 {
        return Ok(None);
    }
    let object_keys = object_keys(&mut **tx, case_id).await?;
    let run = |sql: &'static str| sqlx::query(sql).bind(case_id.to_string());
    run("DELETE FROM photo_objects WHERE photo_id IN (SELECT id FROM photos WHERE case_id = $1)")
        .execute(&mut **tx)
        .await?;
    let photos = run("DELETE FROM photos WHERE case_id = $1")
        .execute(&mut **tx)
        .await?
        .rows_affected();
    let messages = run("DELETE FROM case_messages WHERE case_id = $1")
        .execute(&mut **tx)
        .await?
        .rows_affected();
    run("DELETE FROM staged_photos WHERE photo_request_id IN \
         (SELECT id FROM photo_requests WHERE case_id = $1)")
    .execute(&mut **tx)
    .await?;
    run("DELETE FROM photo_requests WHERE case_id = $1")
        .execute(&mut **tx)
        .await?;
    run("DELETE FROM outbox WHERE case_id = $1")
        .execute(&mut **tx)
        .await?;
    Ok(Some(Erased {
        messages,
        photos,
        object_keys,
    }))
}

/// Puts a case under legal hold (`reason`), or lifts it (`None`); false for no such case.
pub async fn set_hold(
    tx: &mut Tx<'_>,
    case_id: &str,
    reason: Option<&str>,
    now_ms: i64,
) -> DbResult<bool> {
    let done =
        sqlx::query("UPDATE cases SET legal_hold_at_ms = $2, legal_hold_reason = $3 WHERE id = $1")
            .bind(case_id)
            .bind(reason.map(|_| now_ms))
            .bind(reason)
            .execute(&mut **tx)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Takes the daily job `name` if nobody ran it in the last `every_ms` and nobody holds it now;
/// true for the one instance that gets it.
pub async fn take_daily(
    db: &Db,
    name: &str,
    now_ms: i64,
    every_ms: i64,
    lease_ms: i64,
) -> DbResult<bool> {
    sqlx::query(
        "INSERT INTO job_runs (name, leased_until_ms, last_run_at_ms) VALUES ($1, 0, 0) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .execute(db.pool())
    .await?;
    let taken = sqlx::query(
        "UPDATE job_runs SET leased_until_ms = $2 + $3 \
         WHERE name = $1 AND leased_until_ms < $2 AND last_run_at_ms <= $2 - $4",
    )
    .bind(name)
    .bind(now_ms)
    .bind(lease_ms)
    .bind(every_ms)
    .execute(db.pool())
    .await?;
    Ok(taken.rows_affected() == 1)
}

/// Gives the lease back; a run that `succeeded` counts as the day's.
pub async fn finish_daily(db: &Db, name: &str, now_ms: i64, succeeded: bool) -> DbResult<()> {
    sqlx::query(
        "UPDATE job_runs SET leased_until_ms = 0, \
         last_run_at_ms = CASE WHEN $3 = 1 THEN $2 ELSE last_run_at_ms END WHERE name = $1",
    )
    .bind(name)
    .bind(now_ms)
    .bind(i64::from(succeeded))
    .execute(db.pool())
    .await?;
    Ok(())
}
