//! Live calls (migration 0026). Every change of state is a compare-and-set on `status`, so of
//! two consultants answering at once on any instances one wins, and a call gives up once.

use sqlx::Row;

use super::{optional_word, word, Db, DbResult, Tx};
use crate::domain::calls::{CallStatus, Party, RingEntry, RingTimes};
use crate::domain::queue::Pool;
use crate::domain::Outcome;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyOutcome {
    pub outcome: Outcome,
    pub note: String,
    pub at_ms: i64,
}

#[derive(Debug, Clone)]
pub struct CallRow {
    pub id: String,
    pub practice_id: String,
    pub icb_id: Option<String>,
    pub created_by: String,
    pub specialty: String,
    pub nhs_number: String,
    pub date_of_birth: String,
    pub reason: String,
    pub status: CallStatus,
    pub times: RingTimes,
    pub give_up_at_ms: i64,
    pub answered_by: Option<String>,
    pub answered_by_name: Option<String>,
    pub answered_pool: Option<Pool>,
    pub answered_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub case_id: Option<String>,
    pub gp_outcome: Option<PartyOutcome>,
    pub consultant_outcome: Option<PartyOutcome>,
    /// Retention erased the patient's details, notes and recording.
    pub erased_at_ms: Option<i64>,
}

impl CallRow {
    pub fn outcome_of(&self, party: Party) -> Option<&PartyOutcome> {
        match party {
            Party::Gp => self.gp_outcome.as_ref(),
            Party::Consultant => self.consultant_outcome.as_ref(),
        }
    }
}

const SELECT: &str = "SELECT c.id, c.practice_id, c.icb_id, c.created_by, c.specialty, c.nhs_number, \
    c.date_of_birth, c.reason, c.status, c.created_at_ms, c.ring_ms, c.give_up_after_ms, c.give_up_at_ms, \
    c.answered_by, u.name AS answered_by_name, c.answered_pool, c.answered_at_ms, c.ended_at_ms, c.case_id, \
    c.gp_outcome, c.gp_note, c.gp_outcome_at_ms, \
    c.consultant_outcome, c.consultant_note, c.consultant_outcome_at_ms, c.erased_at_ms \
    FROM calls c LEFT JOIN users u ON u.id = c.answered_by";

fn call(r: &sqlx::any::AnyRow) -> Result<CallRow, sqlx::Error> {
    let outcome = |prefix: &str| -> Result<Option<PartyOutcome>, sqlx::Error> {
        let outcome: Option<Outcome> = optional_word(r, format!("{prefix}_outcome").as_str())?;
        Ok(match outcome {
            None => None,
            Some(outcome) => Some(PartyOutcome {
                outcome,
                note: r
                    .try_get::<Option<String>, _>(format!("{prefix}_note").as_str())?
                    .unwrap_or_default(),
                at_ms: r.try_get(format!("{prefix}_outcome_at_ms").as_str())?,
            }),
        })
    };
    Ok(CallRow {
        id: r.try_get("id")?,
        practice_id: r.try_get("practice_id")?,
        icb_id: r.try_get("icb_id")?,
        created_by: r.try_get("created_by")?,
        specialty: r.try_get("specialty")?,
        nhs_number: r.try_get("nhs_number")?,
        date_of_birth: r.try_get("date_of_birth")?,
        reason: r.try_get("reason")?,
        status: word(r, "status")?,
        times: RingTimes {
            started_at_ms: r.try_get("created_at_ms")?,
            ring_ms: r.try_get("ring_ms")?,
            give_up_after_ms: r.try_get("give_up_after_ms")?,
        },
        give_up_at_ms: r.try_get("give_up_at_ms")?,
        answered_by: r.try_get("answered_by")?,
        answered_by_name: r.try_get("answered_by_name")?,
        answered_pool: optional_word(r, "answered_pool")?,
        answered_at_ms: r.try_get("answered_at_ms")?,
        ended_at_ms: r.try_get("ended_at_ms")?,
        case_id: r.try_get("case_id")?,
        gp_outcome: outcome("gp")?,
        consultant_outcome: outcome("consultant")?,
        erased_at_ms: r.try_get("erased_at_ms")?,
    })
}

pub struct NewCall<'a> {
    pub id: &'a str,
    pub practice_id: &'a str,
    pub icb_id: Option<&'a str>,
    pub created_by: &'a str,
    pub specialty: &'a str,
    pub nhs_number: &'a str,
    pub date_of_birth: &'a str,
    pub reason: &'a str,
    pub times: RingTimes,
    pub give_up_at_ms: i64,
    pub ring_list: &'a [RingEntry],
}

pub async fn insert(tx: &mut Tx<'_>, c: &NewCall<'_>) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO calls (id, practice_id, icb_id, created_by, specialty, nhs_number, date_of_birth, \
         reason, status, created_at_ms, ring_ms, give_up_after_ms, give_up_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'ringing', $9, $10, $11, $12)",
    )
    .bind(c.id)
    .bind(c.practice_id)
    .bind(c.icb_id)
    .bind(c.created_by)
    .bind(c.specialty)
    .bind(c.nhs_number)
    .bind(c.date_of_birth)
    .bind(c.reason)
    .bind(c.times.started_at_ms)
    .bind(c.times.ring_ms)
    .bind(c.times.give_up_after_ms)
    .bind(c.give_up_at_ms)
    .execute(&mut **tx)
    .await?;
    for (i, e) in c.ring_list.iter().enumerate() {
        sqlx::query(
            "INSERT INTO call_ring (call_id, position, user_id, pool) VALUES ($1, $2, $3, $4)",
        )
        .bind(c.id)
        .bind(i as i64)
        .bind(&e.user_id)
        .bind(e.pool.as_str())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> DbResult<Option<CallRow>> {
    let row = sqlx::query(&format!("{SELECT} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.as_ref().map(call).transpose()?)
}

/// The call's ring list in order.
pub async fn ring_list(db: &Db, call_id: &str) -> DbResult<Vec<RingEntry>> {
    let rows = sqlx::query(
        "SELECT user_id, pool, declined_at_ms FROM call_ring WHERE call_id = $1 ORDER BY position",
    )
    .bind(call_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(RingEntry {
                user_id: r.try_get("user_id")?,
                pool: word(r, "pool")?,
                declined_at_ms: r.try_get("declined_at_ms")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Calls still ringing with this consultant on their list (the service decides who rings now).
pub async fn ringing_with(db: &Db, user_id: &str, now_ms: i64) -> DbResult<Vec<CallRow>> {
    let rows = sqlx::query(&format!(
        "{SELECT} WHERE c.status = 'ringing' AND c.give_up_at_ms > $2 \
         AND c.id IN (SELECT call_id FROM call_ring WHERE user_id = $1 AND declined_at_ms IS NULL) \
         ORDER BY c.created_at_ms"
    ))
    .bind(user_id)
    .bind(now_ms)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(call)
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// The calls due to give up (still ringing at their give-up time) or to be ended (answered
/// before `answered_before_ms`: both tabs were closed without hanging up).
pub async fn due(db: &Db, now_ms: i64, answered_before_ms: i64) -> DbResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM calls WHERE (status = 'ringing' AND give_up_at_ms <= $1) \
         OR (status = 'answered' AND answered_at_ms < $2) ORDER BY created_at_ms LIMIT 100",
    )
    .bind(now_ms)
    .bind(answered_before_ms)
    .fetch_all(db.pool())
    .await?)
}

/// Takes the call for this consultant if it is still ringing: false when another answered
/// first or it gave up.
pub async fn answer(
    tx: &mut Tx<'_>,
    id: &str,
    user_id: &str,
    pool: Pool,
    now_ms: i64,
) -> DbResult<bool> {
    let done = sqlx::query(
        "UPDATE calls SET status = 'answered', answered_by = $2, answered_pool = $3, answered_at_ms = $4 \
         WHERE id = $1 AND status = 'ringing' AND give_up_at_ms > $4",
    )
    .bind(id)
    .bind(user_id)
    .bind(pool.as_str())
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a consultant's decline and the call's new give-up time (sooner when nobody is left).
pub async fn decline(
    tx: &mut Tx<'_>,
    id: &str,
    user_id: &str,
    give_up_at_ms: i64,
    now_ms: i64,
) -> DbResult<bool> {
    let done = sqlx::query(
        "UPDATE call_ring SET declined_at_ms = $3 WHERE call_id = $1 AND user_id = $2 AND declined_at_ms IS NULL",
    )
    .bind(id)
    .bind(user_id)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE calls SET give_up_at_ms = $2 WHERE id = $1 AND status = 'ringing' AND give_up_at_ms > $2",
    )
    .bind(id)
    .bind(give_up_at_ms)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Marks a ringing call missed, with the written case it became; false when it was answered
/// or another instance got there first.
pub async fn give_up(tx: &mut Tx<'_>, id: &str, case_id: &str, now_ms: i64) -> DbResult<bool> {
    let done = sqlx::query(
        "UPDATE calls SET status = 'missed', case_id = $2 \
         WHERE id = $1 AND status = 'ringing' AND give_up_at_ms <= $3",
    )
    .bind(id)
    .bind(case_id)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends an answered call; false when it had already ended.
pub async fn end(tx: &mut Tx<'_>, id: &str, now_ms: i64) -> DbResult<bool> {
    let done = sqlx::query(
        "UPDATE calls SET status = 'ended', ended_at_ms = $2 WHERE id = $1 AND status = 'answered'",
    )
    .bind(id)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records one party's outcome once; false when that party had already recorded one.
pub async fn record_outcome(
    tx: &mut Tx<'_>,
    id: &str,
    party: Party,
    outcome: Outcome,
    note: &str,
    now_ms: i64,
) -> DbResult<bool> {
    let p = party.as_str();
    let done = sqlx::query(&format!(
        "UPDATE calls SET {p}_outcome = $2, {p}_note = $3, {p}_outcome_at_ms = $4 \
         WHERE id = $1 AND {p}_outcome IS NULL AND status IN ('answered', 'ended')"
    ))
    .bind(id)
    .bind(outcome.as_str())
    .bind(note)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The PostgreSQL channel that tells every instance a call changed (payload: the call's id).
pub const CHANGED_CHANNEL: &str = "aghub_calls";

/// Tells every instance listening on PostgreSQL that this call changed (a no-op on SQLite,
/// where the one instance tells itself).
pub async fn notify_changed(db: &Db, call_id: &str) -> DbResult<()> {
    if db.backend() == super::Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANGED_CHANNEL)
            .bind(call_id)
            .execute(db.pool())
            .await?;
    }
    Ok(())
}

/// Calls `changed` with the id of each call any instance announces, until the connection
/// fails (the caller reconnects). PostgreSQL only.
pub async fn listen_for_changes(url: &str, changed: impl Fn(String)) -> DbResult<()> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(CHANGED_CHANNEL).await?;
    loop {
        let n = listener.recv().await?;
        changed(n.payload().to_string());
    }
}

/// One browser's WebRTC message for the other party.
#[derive(Debug, Clone)]
pub struct Signal {
    pub id: String,
    pub body: String,
}

/// Stores a signalling message unless its sender already has `limit` on the call; false then.
/// (Concurrent sends may pass the count together: the bound is loose by the sender's open
/// sockets, which is all it has to be.)
pub async fn insert_signal(
    db: &Db,
    call_id: &str,
    from: Party,
    body: &str,
    now_ms: i64,
    limit: i64,
) -> DbResult<bool> {
    let done = sqlx::query(
        "INSERT INTO call_signals (id, call_id, from_party, body, created_at_ms) \
         SELECT $1, $2, $3, $4, $5 WHERE (SELECT COUNT(*) FROM call_signals \
         WHERE call_id = $2 AND from_party = $3) < $6",
    )
    .bind(super::new_id())
    .bind(call_id)
    .bind(from.as_str())
    .bind(body)
    .bind(now_ms)
    .bind(limit)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The other party's messages after `after_id` (ids are UUIDv7, so in the order one sender
/// wrote them).
pub async fn signals_for(
    db: &Db,
    call_id: &str,
    to: Party,
    after_id: &str,
) -> DbResult<Vec<Signal>> {
    let rows = sqlx::query(
        "SELECT id, body FROM call_signals WHERE call_id = $1 AND from_party <> $2 AND id > $3 ORDER BY id",
    )
    .bind(call_id)
    .bind(to.as_str())
    .bind(after_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Signal {
                id: r.try_get("id")?,
                body: r.try_get("body")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

pub async fn delete_signals(tx: &mut Tx<'_>, call_id: &str) -> DbResult<()> {
    sqlx::query("DELETE FROM call_signals WHERE call_id = $1")
        .bind(call_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// One uploaded piece of a call's recording.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub seq: i64,
    pub blob_key: String,
    pub bytes: i64,
    pub media_ms: i64,
}

/// Records a chunk already in the store; false when this sequence number was already there
/// (a retried upload).
pub async fn insert_chunk(
    tx: &mut Tx<'_>,
    call_id: &str,
    c: &Chunk,
    now_ms: i64,
) -> DbResult<bool> {
    let done = sqlx::query(
        "INSERT INTO call_recording_chunks (call_id, seq, blob_key, bytes, media_ms, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (call_id, seq) DO NOTHING",
    )
    .bind(call_id)
    .bind(c.seq)
    .bind(&c.blob_key)
    .bind(c.bytes)
    .bind(c.media_ms)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The recording's chunks in order.
pub async fn chunks(db: &Db, call_id: &str) -> DbResult<Vec<Chunk>> {
    let rows = sqlx::query(
        "SELECT seq, blob_key, bytes, media_ms FROM call_recording_chunks WHERE call_id = $1 ORDER BY seq",
    )
    .bind(call_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Chunk {
                seq: r.try_get("seq")?,
                blob_key: r.try_get("blob_key")?,
                bytes: r.try_get("bytes")?,
                media_ms: r.try_get("media_ms")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// The recording's length so far (the last chunk's `media_ms`), if any chunk arrived.
pub async fn recording_ms(db: &Db, call_id: &str) -> DbResult<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT MAX(media_ms) FROM call_recording_chunks WHERE call_id = $1")
            .bind(call_id)
            .fetch_one(db.pool())
            .await?,
    )
}

/// The calls started in the report's period, narrowed as the report is (specialty, practice,
/// and the ICB the practice was in when it called).
pub async fn facts(
    db: &Db,
    filter: &super::reports::Filter<'_>,
) -> DbResult<Vec<crate::domain::calls::CallFact>> {
    let mut sql = String::from(
        "SELECT specialty, practice_id, created_at_ms, status, answered_pool, answered_at_ms, \
         ended_at_ms, gp_outcome, consultant_outcome, case_id FROM calls \
         WHERE created_at_ms >= $1 AND created_at_ms < $2",
    );
    let mut binds: Vec<&str> = Vec::new();
    for (column, value) in [
        ("specialty", filter.specialty),
        ("practice_id", filter.practice_id),
        ("icb_id", filter.icb_id),
    ] {
        if let Some(v) = value {
            binds.push(v);
            sql.push_str(&format!(" AND {column} = ${}", binds.len() + 2));
        }
    }
    let mut q = sqlx::query(&sql).bind(filter.from_ms).bind(filter.to_ms);
    for v in binds {
        q = q.bind(v);
    }
    let rows = q.fetch_all(db.pool()).await?;
    rows.iter()
        .map(|r| {
            Ok(crate::domain::calls::CallFact {
                specialty: r.try_get("specialty")?,
                practice_id: r.try_get("practice_id")?,
                started_at_ms: r.try_get("created_at_ms")?,
                status: word(r, "status")?,
                answered_pool: optional_word(r, "answered_pool")?,
                answered_at_ms: r.try_get("answered_at_ms")?,
                ended_at_ms: r.try_get("ended_at_ms")?,
                gp_outcome: optional_word(r, "gp_outcome")?,
                consultant_outcome: optional_word(r, "consultant_outcome")?,
                became_case: r.try_get::<Option<String>, _>("case_id")?.is_some(),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// The calls this person took part in (the GP who called, or the consultant who answered) that
/// are over without their outcome, oldest first.
pub async fn awaiting_outcome_of(db: &Db, user_id: &str) -> DbResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM calls WHERE status = 'ended' AND \
         ((created_by = $1 AND gp_outcome IS NULL) OR (answered_by = $1 AND consultant_outcome IS NULL)) \
         ORDER BY ended_at_ms LIMIT 20",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await?)
}

/// A party of an ended call still without their outcome, due a reminder now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutcomeMissing {
    pub call_id: String,
    pub specialty: String,
    pub user_id: String,
    pub ended_at_ms: i64,
}

/// The parties of calls that ended between `since_ms` and `until_ms` without their outcome and
/// not reminded since `reminded_since_ms` (a reminder moment is due at most once in that time).
pub async fn outcomes_missing(
    db: &Db,
    since_ms: i64,
    until_ms: i64,
    reminded_since_ms: i64,
) -> DbResult<Vec<OutcomeMissing>> {
    let party = |user: &str, outcome: &str| {
        format!(
            "SELECT c.id AS call_id, c.specialty, c.{user} AS user_id, c.ended_at_ms FROM calls c \
             WHERE c.status = 'ended' AND c.{outcome} IS NULL AND c.ended_at_ms > $1 \
             AND c.ended_at_ms <= $2 AND NOT EXISTS (SELECT 1 FROM call_notices n \
             WHERE n.call_id = c.id AND n.user_id = c.{user} AND n.at_ms > $3)"
        )
    };
    let sql = format!(
        "{} UNION ALL {} LIMIT 500",
        party("created_by", "gp_outcome"),
        party("answered_by", "consultant_outcome")
    );
    Ok(sqlx::query_as(&sql)
        .bind(since_ms)
        .bind(until_ms)
        .bind(reminded_since_ms)
        .fetch_all(db.pool())
        .await?)
}

/// The patient's calls, oldest first (subject access, the audit search).
pub async fn ids_of_patient(db: &Db, nhs_number: &str) -> DbResult<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM calls WHERE nhs_number = $1 ORDER BY created_at_ms")
            .bind(nhs_number)
            .fetch_all(db.pool())
            .await?,
    )
}

/// A practice's calls, newest first; or with `answered_by`, the calls that consultant answered.
pub async fn recent(
    db: &Db,
    practice_id: Option<&str>,
    answered_by: Option<&str>,
    limit: i64,
) -> DbResult<Vec<CallRow>> {
    let rows = sqlx::query(&format!(
        "{SELECT} WHERE ($1 IS NULL OR c.practice_id = $1) AND ($2 IS NULL OR c.answered_by = $2) \
         AND c.erased_at_ms IS NULL ORDER BY c.created_at_ms DESC LIMIT $3"
    ))
    .bind(practice_id)
    .bind(answered_by)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(call)
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}
