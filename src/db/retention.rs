//! What the records code lets aghub delete, and deleting it: a patient's concluded cases,
//! erased in place (the row stays for the figures, without the patient).

use sqlx::Row;

use std::collections::HashMap;

use super::{bind_all, placeholders, Db, DbResult, Tx};
use crate::domain::notifications::About;

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
    // A patient's contacts are their cases and their live calls: a call still ringing or on
    // keeps the patient, as an open case does.
    let rows = sqlx::query(&format!(
        "SELECT nhs_number, MAX(date_of_birth) AS date_of_birth, MAX(last_ms) AS last_ms FROM ( \
           SELECT nhs_number, date_of_birth, {LAST_CONTACT} AS last_ms, \
             CASE WHEN status IN ('closed', 'converted') THEN 0 ELSE 1 END AS open \
           FROM cases WHERE erased_at_ms IS NULL \
           UNION ALL \
           SELECT nhs_number, date_of_birth, COALESCE(ended_at_ms, answered_at_ms, created_at_ms), \
             CASE WHEN status IN ('ringing', 'answered') THEN 1 ELSE 0 END \
           FROM calls WHERE erased_at_ms IS NULL \
         ) contacts GROUP BY nhs_number HAVING SUM(open) = 0 AND MAX(last_ms) < $1"
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

/// The cases not erased yet of these patients (at most [`super::IN_CHUNK`]): (id, under legal hold).
pub async fn cases_of(db: &Db, nhs_numbers: &[String]) -> DbResult<Vec<(String, bool)>> {
    let sql = format!(
        "SELECT id, legal_hold_at_ms FROM cases WHERE nhs_number IN ({}) AND erased_at_ms IS NULL",
        placeholders(1, nhs_numbers.len())
    );
    bind_all(sqlx::query(&sql), nhs_numbers)
        .fetch_all(db.pool())
        .await?
        .iter()
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

/// What erasing these cases (at most [`super::IN_CHUNK`]) would remove, case by case (the dry run).
pub async fn count(db: &Db, case_ids: &[String]) -> DbResult<HashMap<String, Erased>> {
    let mut conn = db.pool().acquire().await?;
    what_goes(&mut conn, case_ids).await
}

/// Messages, photos and stored objects of each of `case_ids`.
async fn what_goes(
    conn: &mut sqlx::AnyConnection,
    case_ids: &[String],
) -> DbResult<HashMap<String, Erased>> {
    let list = placeholders(1, case_ids.len());
    let mut by_case: HashMap<String, Erased> = case_ids
        .iter()
        .map(|id| (id.clone(), Erased::default()))
        .collect();
    for (table, is_photos) in [("case_messages", false), ("photos", true)] {
        let sql = format!(
            "SELECT case_id, COUNT(*) AS n FROM {table} WHERE case_id IN ({list}) GROUP BY case_id"
        );
        for row in bind_all(sqlx::query(&sql), case_ids)
            .fetch_all(&mut *conn)
            .await?
        {
            let n = row.try_get::<i64, _>("n")? as u64;
            if let Some(e) = by_case.get_mut(row.try_get::<&str, _>("case_id")?) {
                *(if is_photos {
                    &mut e.photos
                } else {
                    &mut e.messages
                }) = n;
            }
        }
    }
    let sql = format!(
        "SELECT p.case_id, o.object_key FROM photo_objects o JOIN photos p ON p.id = o.photo_id \
         WHERE p.case_id IN ({list}) \
         UNION ALL SELECT r.case_id, so.object_key FROM staged_photo_objects so \
         JOIN staged_photos s ON s.id = so.staged_id \
         JOIN photo_requests r ON r.id = s.photo_request_id WHERE r.case_id IN ({list})"
    );
    for row in bind_all(sqlx::query(&sql), case_ids)
        .fetch_all(&mut *conn)
        .await?
    {
        if let Some(e) = by_case.get_mut(row.try_get::<&str, _>("case_id")?) {
            e.object_keys.push(row.try_get("object_key")?);
        }
    }
    Ok(by_case)
}

/// Erases the cases (at most [`super::IN_CHUNK`]) inside the caller's transaction: their messages,
/// photos (rows; the objects are returned to delete after the commit), photo links,
/// undelivered messages about them, and every patient identifier and clinical text on the case
/// itself. A case erased or put on hold meanwhile is left out of the answer.
pub async fn erase(
    tx: &mut Tx<'_>,
    case_ids: &[String],
    now_ms: i64,
) -> DbResult<HashMap<String, Erased>> {
    let list = placeholders(1, case_ids.len());
    let sql = format!(
        "UPDATE cases SET nhs_number = '', date_of_birth = '', history = '', question = '', \
         advice = NULL, sex = NULL, referral_reference = NULL, erased_at_ms = ${} \
         WHERE id IN ({list}) AND erased_at_ms IS NULL AND legal_hold_at_ms IS NULL RETURNING id",
        case_ids.len() + 1
    );
    let marked = bind_all(sqlx::query(&sql), case_ids)
        .bind(now_ms)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("id"))
        .collect::<Result<Vec<_>, _>>()?;
    if marked.is_empty() {
        return Ok(HashMap::new());
    }
    let erased = what_goes(tx, &marked).await?;
    let list = placeholders(1, marked.len());
    for sql in [
        format!(
            "DELETE FROM photo_objects WHERE photo_id IN \
             (SELECT id FROM photos WHERE case_id IN ({list}))"
        ),
        format!("DELETE FROM photos WHERE case_id IN ({list})"),
        format!("DELETE FROM case_messages WHERE case_id IN ({list})"),
        format!(
            "DELETE FROM staged_photos WHERE photo_request_id IN \
             (SELECT id FROM photo_requests WHERE case_id IN ({list}))"
        ),
        format!("DELETE FROM photo_requests WHERE case_id IN ({list})"),
        format!("DELETE FROM outbox WHERE case_id IN ({list})"),
    ] {
        bind_all(sqlx::query(&sql), &marked)
            .execute(&mut **tx)
            .await?;
    }
    Ok(erased)
}

/// Puts a case or a call under legal hold (`reason`), or lifts it (`None`); false for no such
/// record.
pub async fn set_hold(
    tx: &mut Tx<'_>,
    record: &About,
    reason: Option<&str>,
    now_ms: i64,
) -> DbResult<bool> {
    let (table, id) = match record {
        About::Case(id) => ("cases", id),
        About::Call(id) => ("calls", id),
    };
    let done = sqlx::query(&format!(
        "UPDATE {table} SET legal_hold_at_ms = $2, legal_hold_reason = $3 WHERE id = $1"
    ))
    .bind(id)
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

/// The patients' calls not yet erased: (id, under legal hold).
pub async fn calls_of(db: &Db, nhs_numbers: &[String]) -> DbResult<Vec<(String, bool)>> {
    let sql = format!(
        "SELECT id, legal_hold_at_ms FROM calls WHERE nhs_number IN ({}) AND erased_at_ms IS NULL",
        placeholders(1, nhs_numbers.len())
    );
    bind_all(sqlx::query(&sql), nhs_numbers)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("id")?,
                r.try_get::<Option<i64>, _>("legal_hold_at_ms")?.is_some(),
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Erases calls (at most [`super::IN_CHUNK`]): identifiers, reason and notes, the recording's
/// rows, signalling and undelivered notices; each call's row stays for the figures. A call
/// erased or put on hold meanwhile is left alone. Returns the calls erased and the recording's
/// object keys, to delete from the store once committed.
pub async fn erase_calls(
    tx: &mut Tx<'_>,
    call_ids: &[String],
    now_ms: i64,
) -> DbResult<(Vec<String>, Vec<String>)> {
    let erased = bind_all(
        sqlx::query(&format!(
            "UPDATE calls SET nhs_number = '', date_of_birth = '', reason = '', gp_note = NULL, \
             consultant_note = NULL, erased_at_ms = ${} WHERE id IN ({}) AND erased_at_ms IS NULL \
             AND legal_hold_at_ms IS NULL RETURNING id",
            call_ids.len() + 1,
            placeholders(1, call_ids.len())
        )),
        call_ids,
    )
    .bind(now_ms)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| r.try_get("id"))
    .collect::<Result<Vec<String>, sqlx::Error>>()?;
    if erased.is_empty() {
        return Ok((erased, Vec::new()));
    }
    let list = placeholders(1, erased.len());
    let keys = bind_all(
        sqlx::query(&format!(
            "SELECT blob_key FROM call_recording_chunks WHERE call_id IN ({list})"
        )),
        &erased,
    )
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| r.try_get("blob_key"))
    .collect::<Result<Vec<String>, sqlx::Error>>()?;
    for table in ["call_recording_chunks", "call_signals", "outbox"] {
        bind_all(
            sqlx::query(&format!("DELETE FROM {table} WHERE call_id IN ({list})")),
            &erased,
        )
        .execute(&mut **tx)
        .await?;
    }
    Ok((erased, keys))
}
