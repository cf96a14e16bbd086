//! Cases, messages and photos. State changes are compare-and-set updates (`WHERE status = …`),
//! so two consultants or two instances can never both win a claim or both answer a case.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{Db, DbResult};
use crate::domain::queue::effective_status;
use crate::domain::queue::Window;
use crate::domain::{CaseStatus, MessageKind, Outcome, PhotoKind, PhotoSize, Sex, Urgency};

/// A case as stored, decoded into domain types. A value the domain does not know (a corrupted
/// `urgency`, say) is an error, never a silent default.
#[derive(Debug, Clone)]
pub struct CaseRow {
    pub id: String,
    pub practice_id: String,
    pub practice_ods: String,
    pub practice_name: String,
    /// The practice's ICB: its local rotas are the consultants of trusts in the same ICB.
    pub practice_icb_id: Option<String>,
    pub created_by: String,
    pub specialty: String,
    pub nhs_number: String,
    pub date_of_birth: String,
    pub urgency: Urgency,
    pub history: String,
    pub question: String,
    pub conversion_authorised: bool,
    pub sex: Option<Sex>,
    pub status: CaseStatus,
    pub submitted_at_ms: i64,
    pub queued_at_ms: i64,
    pub claimed_by: Option<String>,
    pub claim_expires_at_ms: Option<i64>,
    pub outcome: Option<Outcome>,
    pub advice: Option<String>,
    pub answered_by: Option<String>,
    pub first_reply_at_ms: Option<i64>,
    pub answered_at_ms: Option<i64>,
    pub closed_at_ms: Option<i64>,
    /// When the GP last responded to a request for information, until a consultant replies.
    pub gp_responded_at_ms: Option<i64>,
    /// A `gp_to_refer` case is overdue after this (end of its last working day).
    pub referral_due_at_ms: Option<i64>,
    /// The GP's confirmation of the referral: the day (YYYY-MM-DD) and the e-RS UBRN if given.
    pub referred_on: Option<String>,
    pub referral_reference: Option<String>,
    pub routine_target_ms: i64,
    pub urgent_target_ms: i64,
    pub escalation_ms: i64,
    /// Retention erased the patient's data (only the row for the figures is left).
    pub erased_at_ms: Option<i64>,
}

impl sqlx::FromRow<'_, AnyRow> for CaseRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        let flag: i64 = r.try_get("conversion_authorised")?;
        Ok(Self {
            id: r.try_get("id")?,
            practice_id: r.try_get("practice_id")?,
            practice_ods: r.try_get("practice_ods")?,
            practice_name: r.try_get("practice_name")?,
            practice_icb_id: r.try_get("practice_icb_id")?,
            created_by: r.try_get("created_by")?,
            specialty: r.try_get("specialty")?,
            nhs_number: r.try_get("nhs_number")?,
            date_of_birth: r.try_get("date_of_birth")?,
            urgency: super::word(r, "urgency")?,
            history: r.try_get("history")?,
            question: r.try_get("question")?,
            conversion_authorised: flag != 0,
            sex: super::optional_word(r, "sex")?,
            status: super::word(r, "status")?,
            submitted_at_ms: r.try_get("submitted_at_ms")?,
            queued_at_ms: r.try_get("queued_at_ms")?,
            claimed_by: r.try_get("claimed_by")?,
            claim_expires_at_ms: r.try_get("claim_expires_at_ms")?,
            outcome: super::optional_word(r, "outcome")?,
            advice: r.try_get("advice")?,
            answered_by: r.try_get("answered_by")?,
            first_reply_at_ms: r.try_get("first_reply_at_ms")?,
            answered_at_ms: r.try_get("answered_at_ms")?,
            closed_at_ms: r.try_get("closed_at_ms")?,
            gp_responded_at_ms: r.try_get("gp_responded_at_ms")?,
            referral_due_at_ms: r.try_get("referral_due_at_ms")?,
            referred_on: r.try_get("referred_on")?,
            referral_reference: r.try_get("referral_reference")?,
            routine_target_ms: r.try_get("routine_target_ms")?,
            urgent_target_ms: r.try_get("urgent_target_ms")?,
            escalation_ms: r.try_get("escalation_ms")?,
            erased_at_ms: r.try_get("erased_at_ms")?,
        })
    }
}

impl CaseRow {
    /// The status as people should see it now: a lapsed claim reads as back in the queue.
    pub fn status_at(&self, now_ms: i64) -> CaseStatus {
        effective_status(self.status, self.claim_expires_at_ms, now_ms)
    }

    /// A referral the GP has to make and has not confirmed by its deadline (contract 1.1).
    pub fn referral_overdue_at(&self, now_ms: i64) -> bool {
        self.status == CaseStatus::GpToRefer && self.referral_due_at_ms.is_some_and(|d| now_ms > d)
    }

    /// The last six characters of the id: enough for people to tell cases apart on a page.
    pub fn short_id(&self) -> String {
        short_id(&self.id)
    }
}

/// The last six characters of a case id (see [`CaseRow::short_id`]).
pub fn short_id(id: &str) -> String {
    id[id.len().saturating_sub(6)..].to_string()
}

const SELECT_CASE: &str = "SELECT c.id, c.practice_id, p.ods_code AS practice_ods, p.name AS practice_name, \
    p.icb_id AS practice_icb_id, c.created_by, c.specialty, c.nhs_number, c.date_of_birth, c.urgency, c.history, c.question, \
    c.conversion_authorised, c.sex, c.status, c.submitted_at_ms, c.queued_at_ms, c.claimed_by, \
    c.claim_expires_at_ms, c.outcome, c.advice, c.answered_by, c.first_reply_at_ms, c.answered_at_ms, \
    c.closed_at_ms, c.gp_responded_at_ms, c.referral_due_at_ms, c.referred_on, c.referral_reference, \
    COALESCE(t.routine_target_ms, s.routine_target_ms) AS routine_target_ms, \
    COALESCE(t.urgent_target_ms, s.urgent_target_ms) AS urgent_target_ms, \
    COALESCE(t.escalation_ms, s.escalation_ms) AS escalation_ms, c.erased_at_ms \
    FROM cases c JOIN practices p ON p.id = c.practice_id JOIN specialties s ON s.slug = c.specialty \
    LEFT JOIN icb_targets t ON t.icb_id = p.icb_id AND t.specialty = c.specialty";

#[derive(Debug, Clone)]
pub struct NewCase<'a> {
    pub id: &'a str,
    pub practice_id: &'a str,
    pub created_by: &'a str,
    pub specialty: &'a str,
    pub nhs_number: &'a str,
    pub date_of_birth: &'a str,
    pub urgency: Urgency,
    pub history: &'a str,
    pub question: &'a str,
    pub conversion_authorised: bool,
    pub sex: Option<Sex>,
    pub idempotency_key: Option<&'a str>,
    pub now_ms: i64,
}

pub async fn insert(tx: &mut Transaction<'_, Any>, c: &NewCase<'_>) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO cases (id, practice_id, created_by, specialty, nhs_number, date_of_birth, urgency, \
         history, question, conversion_authorised, status, submitted_at_ms, queued_at_ms, idempotency_key, sex) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'submitted', $11, $11, $12, $13)",
    )
    .bind(c.id)
    .bind(c.practice_id)
    .bind(c.created_by)
    .bind(c.specialty)
    .bind(c.nhs_number)
    .bind(c.date_of_birth)
    .bind(c.urgency.as_str())
    .bind(c.history)
    .bind(c.question)
    .bind(i64::from(c.conversion_authorised))
    .bind(c.now_ms)
    .bind(c.idempotency_key)
    .bind(c.sex.map(Sex::as_str))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> DbResult<Option<CaseRow>> {
    Ok(
        sqlx::query_as::<_, CaseRow>(&format!("{SELECT_CASE} WHERE c.id = $1"))
            .bind(id)
            .fetch_optional(db.pool())
            .await?,
    )
}

pub async fn by_idempotency_key(db: &Db, created_by: &str, key: &str) -> DbResult<Option<String>> {
    Ok(sqlx::query_scalar::<_, String>(
        "SELECT id FROM cases WHERE created_by = $1 AND idempotency_key = $2",
    )
    .bind(created_by)
    .bind(key)
    .fetch_optional(db.pool())
    .await?)
}

/// A practice's cases (or everyone's for `None`), newest first, optionally of one status.
pub async fn list(
    db: &Db,
    practice_id: Option<&str>,
    status: Option<&str>,
    limit: i64,
) -> DbResult<Vec<CaseRow>> {
    let sql = format!(
        "{SELECT_CASE} WHERE ($1 = '' OR c.practice_id = $1) AND ($2 = '' OR c.status = $2) \
         AND c.erased_at_ms IS NULL ORDER BY c.submitted_at_ms DESC LIMIT $3"
    );
    Ok(sqlx::query_as::<_, CaseRow>(&sql)
        .bind(practice_id.unwrap_or(""))
        .bind(status.unwrap_or(""))
        .bind(limit)
        .fetch_all(db.pool())
        .await?)
}

/// `domain::queue::effective_status` in SQL, for the row `t` at the time in placeholder `now`:
/// free to claim (never claimed, released, or its claim lapsed).
fn claimable(t: &str, now: &str) -> String {
    format!(
        "({t}.status = 'submitted' OR ({t}.status = 'claimed' AND {t}.claim_expires_at_ms < {now}))"
    )
}

/// The other half of the same rule: held by `user` under a claim that has not lapsed at `now`.
fn held_by_sql(t: &str, user: &str, now: &str) -> String {
    format!(
        "({t}.status = 'claimed' AND {t}.claimed_by = {user} AND {t}.claim_expires_at_ms >= {now})"
    )
}

/// The claim expiry to write when `user` claims or works on the case: `expires`, unless they
/// already hold it for longer (a case returned to them from the GP keeps its longer hold).
fn later_expiry(t: &str, user: &str, expires: &str) -> String {
    format!(
        "CASE WHEN {t}.status = 'claimed' AND {t}.claimed_by = {user} \
         AND {t}.claim_expires_at_ms > {expires} THEN {t}.claim_expires_at_ms ELSE {expires} END"
    )
}

/// Cases this consultant may claim now, urgent first, then the longest waiting. `windows` are
/// `domain::queue::queue_windows`: per specialty, the latest queue entry they may take, and
/// whether only from practices of their own ICB (`icb_id`, theirs; `None` matches practices of
/// no ICB).
pub async fn queue(
    db: &Db,
    now_ms: i64,
    icb_id: Option<&str>,
    windows: &[Window],
) -> DbResult<Vec<CaseRow>> {
    if windows.is_empty() {
        return Ok(Vec::new());
    }
    let on_duty = windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let (specialty, bound) = (2 * i + 3, 2 * i + 4);
            // A local window: the own ICB's cases, by the bound. A national one: any ICB's case
            // once its ICB's escalation window (else the specialty's: now − bound) has passed.
            let when = if w.own_icb_only {
                format!(
                    "cases.queued_at_ms <= ${bound} AND cases.practice_id IN \
                     (SELECT id FROM practices WHERE icb_id IS NOT DISTINCT FROM $2)"
                )
            } else {
                format!(
                    "cases.queued_at_ms + COALESCE((SELECT t.escalation_ms FROM icb_targets t \
                     JOIN practices tp ON tp.icb_id = t.icb_id WHERE tp.id = cases.practice_id \
                     AND t.specialty = cases.specialty), $1 - ${bound}) <= $1"
                )
            };
            format!("(cases.specialty = ${specialty} AND {when})")
        })
        .collect::<Vec<_>>()
        .join(" OR ");
    let sql = format!(
        "{SELECT_CASE} WHERE c.id IN (SELECT cases.id FROM cases WHERE {} AND ({on_duty})) \
         ORDER BY CASE c.urgency WHEN 'urgent' THEN 0 ELSE 1 END, c.submitted_at_ms LIMIT 500",
        claimable("cases", "$1"),
    );
    let mut query = sqlx::query_as::<_, CaseRow>(&sql).bind(now_ms).bind(icb_id);
    for w in windows {
        query = query.bind(w.specialty.as_str()).bind(w.queued_by_ms);
    }
    Ok(query.fetch_all(db.pool()).await?)
}

/// Whether this consultant took part in the case: wrote in it, or claimed it at some point
/// (claims are in the audit trail; a released or lapsed claim still counts).
pub async fn consultant_involved(db: &Db, case_id: &str, user_id: &str) -> DbResult<bool> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT case_id FROM case_messages WHERE case_id = $1 AND author_id = $2 \
         UNION ALL SELECT case_id FROM audit_events WHERE case_id = $1 AND actor_id = $2 \
         AND action = 'case.claimed' LIMIT 1",
    )
    .bind(case_id)
    .bind(user_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(found.is_some())
}

/// Cases a consultant holds now.
pub async fn held_by(db: &Db, user_id: &str, now_ms: i64) -> DbResult<Vec<CaseRow>> {
    let sql = format!(
        "{SELECT_CASE} WHERE {} ORDER BY c.submitted_at_ms",
        held_by_sql("c", "$1", "$2")
    );
    Ok(sqlx::query_as::<_, CaseRow>(&sql)
        .bind(user_id)
        .bind(now_ms)
        .fetch_all(db.pool())
        .await?)
}

/// Takes the case for this consultant if it is free (or its claim lapsed), or extends their own
/// claim, provided it entered the queue by `queued_by_ms` (`domain::queue::takes_cases_queued_by`
/// for their shifts now). False when someone else holds it or it is not theirs to take.
pub async fn claim(
    tx: &mut Transaction<'_, Any>,
    case_id: &str,
    user_id: &str,
    now_ms: i64,
    expires_at_ms: i64,
    queued_by_ms: i64,
) -> DbResult<bool> {
    let sql = format!(
        "UPDATE cases SET status = 'claimed', claimed_by = $1, claimed_at_ms = $2, \
         claim_expires_at_ms = {} \
         WHERE cases.id = $4 AND cases.queued_at_ms <= $5 \
         AND ({} OR (cases.status = 'claimed' AND cases.claimed_by = $1))",
        later_expiry("cases", "$1", "$3"),
        claimable("cases", "$2")
    );
    let done = sqlx::query(&sql)
        .bind(user_id)
        .bind(now_ms)
        .bind(expires_at_ms)
        .bind(case_id)
        .bind(queued_by_ms)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Keeps a live claim alive while its holder works on the case.
pub async fn touch_claim(
    db: &Db,
    case_id: &str,
    user_id: &str,
    now_ms: i64,
    expires_at_ms: i64,
) -> DbResult<()> {
    let sql = format!(
        "UPDATE cases SET claim_expires_at_ms = {} WHERE cases.id = $2 AND {}",
        later_expiry("cases", "$3", "$1"),
        held_by_sql("cases", "$3", "$4")
    );
    sqlx::query(&sql)
        .bind(expires_at_ms)
        .bind(case_id)
        .bind(user_id)
        .bind(now_ms)
        .execute(db.pool())
        .await?;
    Ok(())
}

pub async fn release(
    tx: &mut Transaction<'_, Any>,
    case_id: &str,
    user_id: &str,
) -> DbResult<bool> {
    let done = sqlx::query(
        "UPDATE cases SET status = 'submitted', claimed_by = NULL, claimed_at_ms = NULL, \
         claim_expires_at_ms = NULL WHERE id = $1 AND claimed_by = $2 AND status = 'claimed'",
    )
    .bind(case_id)
    .bind(user_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What a consultant's reply does to the case (besides the reply message).
#[derive(Debug, Clone, Copy)]
pub struct Reply<'a> {
    pub advice: &'a str,
    pub outcome: Outcome,
    pub new_status: CaseStatus,
    /// For `gp_to_refer`: when the GP's referral becomes overdue.
    pub referral_due_at_ms: Option<i64>,
}

/// Records the consultant's reply if they hold a live claim.
pub async fn reply(
    tx: &mut Transaction<'_, Any>,
    case_id: &str,
    user_id: &str,
    reply: &Reply<'_>,
    now_ms: i64,
) -> DbResult<bool> {
    let closed_at =
        matches!(reply.new_status, CaseStatus::Closed | CaseStatus::Converted).then_some(now_ms);
    let sql = format!(
        "UPDATE cases SET status = $1, outcome = $2, advice = $3, answered_by = $4, answered_at_ms = $5, \
         first_reply_at_ms = COALESCE(first_reply_at_ms, $5), closed_at_ms = $6, gp_responded_at_ms = NULL, \
         referral_due_at_ms = $7, claimed_by = NULL, claimed_at_ms = NULL, claim_expires_at_ms = NULL \
         WHERE cases.id = $8 AND {}",
        held_by_sql("cases", "$4", "$5")
    );
    let done = sqlx::query(&sql)
        .bind(reply.new_status.as_str())
        .bind(reply.outcome.as_str())
        .bind(reply.advice)
        .bind(user_id)
        .bind(now_ms)
        .bind(closed_at)
        .bind(reply.referral_due_at_ms)
        .bind(case_id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The GP confirms the referral a consultant advised: the case closes, once (compare-and-set
/// on `gp_to_refer`).
pub async fn referral_made(
    tx: &mut Transaction<'_, Any>,
    case_id: &str,
    user_id: &str,
    referred_on: &str,
    reference: Option<&str>,
    now_ms: i64,
) -> DbResult<bool> {
    let done = sqlx::query(
        "UPDATE cases SET status = 'closed', closed_at_ms = $1, referred_on = $2, \
         referral_reference = $3, referral_confirmed_by = $4, referral_confirmed_at_ms = $1 \
         WHERE id = $5 AND status = 'gp_to_refer'",
    )
    .bind(now_ms)
    .bind(referred_on)
    .bind(reference)
    .bind(user_id)
    .bind(case_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A redirect (contract 1.1): the consultant who holds the case sends it to another specialty's
/// queue, waiting as if newly queued; their note stays as the reply message.
pub async fn redirect(
    tx: &mut Transaction<'_, Any>,
    case_id: &str,
    user_id: &str,
    to: &str,
    now_ms: i64,
) -> DbResult<bool> {
    let sql = format!(
        "UPDATE cases SET specialty = $1, status = 'submitted', queued_at_ms = $2, answered_by = $3, \
         answered_at_ms = $2, first_reply_at_ms = COALESCE(first_reply_at_ms, $2), outcome = NULL, \
         advice = NULL, gp_responded_at_ms = NULL, claimed_by = NULL, claimed_at_ms = NULL, \
         claim_expires_at_ms = NULL WHERE cases.id = $4 AND {}",
        held_by_sql("cases", "$3", "$2")
    );
    let done = sqlx::query(&sql)
        .bind(to)
        .bind(now_ms)
        .bind(user_id)
        .bind(case_id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The GP's response to a request for information: the case goes back to `held` = (the
/// consultant who asked, until when), or to the queue when there is no one to hold it; either
/// way marked as answered by the GP.
pub async fn return_after_response(
    tx: &mut Transaction<'_, Any>,
    case_id: &str,
    held: Option<(&str, i64)>,
    now_ms: i64,
) -> DbResult<bool> {
    let (claimed_by, expires_at_ms) = held.unzip();
    let done = sqlx::query(
        "UPDATE cases SET status = CASE WHEN $1 IS NULL THEN 'submitted' ELSE 'claimed' END, \
         claimed_by = $1, claimed_at_ms = CASE WHEN $1 IS NULL THEN NULL ELSE $3 END, \
         claim_expires_at_ms = $2, queued_at_ms = $3, gp_responded_at_ms = $3 \
         WHERE id = $4 AND status = 'awaiting_gp'",
    )
    .bind(claimed_by)
    .bind(expires_at_ms)
    .bind(now_ms)
    .bind(case_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub id: &'a str,
    pub case_id: &'a str,
    pub author_id: &'a str,
    pub kind: MessageKind,
    pub body: &'a str,
    pub outcome: Option<Outcome>,
    /// A reply's free-text other topic (never read by reports).
    pub other_topic: Option<&'a str>,
    pub now_ms: i64,
}

pub async fn insert_message(tx: &mut Transaction<'_, Any>, m: &NewMessage<'_>) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO case_messages (id, case_id, author_id, kind, body, outcome, other_topic, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(m.id)
    .bind(m.case_id)
    .bind(m.author_id)
    .bind(m.kind.as_str())
    .bind(m.body)
    .bind(m.outcome.map(Outcome::as_str))
    .bind(m.other_topic)
    .bind(m.now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct MessageRow {
    pub id: String,
    pub author_id: String,
    pub author_name: String,
    pub kind: MessageKind,
    pub body: String,
    pub outcome: Option<Outcome>,
    pub other_topic: Option<String>,
    pub created_at_ms: i64,
}

impl sqlx::FromRow<'_, AnyRow> for MessageRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            author_id: r.try_get("author_id")?,
            author_name: r.try_get("author_name")?,
            kind: super::word(r, "kind")?,
            body: r.try_get("body")?,
            outcome: super::optional_word(r, "outcome")?,
            other_topic: r.try_get("other_topic")?,
            created_at_ms: r.try_get("created_at_ms")?,
        })
    }
}

pub async fn messages(db: &Db, case_id: &str) -> DbResult<Vec<MessageRow>> {
    Ok(sqlx::query_as::<_, MessageRow>(
        "SELECT m.id, m.author_id, u.name AS author_name, m.kind, m.body, m.outcome, m.other_topic, m.created_at_ms \
         FROM case_messages m JOIN users u ON u.id = m.author_id WHERE m.case_id = $1 \
         ORDER BY m.created_at_ms, m.id",
    )
    .bind(case_id)
    .fetch_all(db.pool())
    .await?)
}

#[derive(Debug, Clone)]
pub struct StoredObject {
    pub size: PhotoSize,
    pub key: String,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub byte_size: usize,
    pub sha256: String,
}

#[derive(Debug, Clone)]
pub struct NewPhoto<'a> {
    pub id: &'a str,
    pub case_id: &'a str,
    pub message_id: Option<&'a str>,
    pub position: i64,
    pub kind: Option<PhotoKind>,
    pub body_site: Option<&'a str>,
    pub warnings_json: &'a str,
    pub captured_at_ms: Option<i64>,
    pub objects: &'a [StoredObject],
    /// Taken by the patient through a photo request's link, not by the GP.
    pub by_patient: bool,
    pub now_ms: i64,
}

pub async fn insert_photo(tx: &mut Transaction<'_, Any>, p: &NewPhoto<'_>) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO photos (id, case_id, message_id, position, kind, body_site, warnings, captured_at_ms, created_at_ms, taken_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(p.id)
    .bind(p.case_id)
    .bind(p.message_id)
    .bind(p.position)
    .bind(p.kind.map(PhotoKind::as_str))
    .bind(p.body_site)
    .bind(p.warnings_json)
    .bind(p.captured_at_ms)
    .bind(p.now_ms)
    .bind(if p.by_patient { "patient" } else { "gp" })
    .execute(&mut **tx)
    .await?;
    insert_objects(tx, "photo_objects", "photo_id", p.id, p.objects).await
}

/// A photo's stored renditions, into `table` (`photo_objects`, or `staged_photo_objects` for a
/// photo uploaded ahead) under `owner_column` = `owner`.
pub(super) async fn insert_objects(
    tx: &mut Transaction<'_, Any>,
    table: &str,
    owner_column: &str,
    owner: &str,
    objects: &[StoredObject],
) -> DbResult<()> {
    let sql = format!(
        "INSERT INTO {table} ({owner_column}, size, object_key, content_type, width, height, byte_size, sha256) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    );
    for o in objects {
        sqlx::query(&sql)
            .bind(owner)
            .bind(o.size.as_str())
            .bind(&o.key)
            .bind(&o.content_type)
            .bind(i64::from(o.width))
            .bind(i64::from(o.height))
            .bind(o.byte_size as i64)
            .bind(&o.sha256)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct PhotoRow {
    pub id: String,
    pub case_id: String,
    pub message_id: Option<String>,
    pub kind: Option<PhotoKind>,
    pub body_site: Option<String>,
    /// JSON list of quality warning codes.
    pub warnings: String,
    pub width: i64,
    pub height: i64,
    pub content_type: String,
    pub sha256: String,
    pub by_patient: bool,
}

impl sqlx::FromRow<'_, AnyRow> for PhotoRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            case_id: r.try_get("case_id")?,
            message_id: r.try_get("message_id")?,
            kind: super::optional_word(r, "kind")?,
            body_site: r.try_get("body_site")?,
            warnings: r.try_get("warnings")?,
            width: r.try_get("width")?,
            height: r.try_get("height")?,
            content_type: r.try_get("content_type")?,
            sha256: r.try_get("sha256")?,
            by_patient: r.try_get::<String, _>("taken_by")? == "patient",
        })
    }
}

const SELECT_PHOTO: &str =
    "SELECT p.id, p.case_id, p.message_id, p.kind, p.body_site, p.warnings, p.taken_by, \
    o.width, o.height, o.content_type, o.sha256 \
    FROM photos p JOIN photo_objects o ON o.photo_id = p.id AND o.size = 'full'";

/// Photos of a case with their full-size dimensions, in upload order.
pub async fn photos(db: &Db, case_id: &str) -> DbResult<Vec<PhotoRow>> {
    Ok(sqlx::query_as::<_, PhotoRow>(&format!(
        "{SELECT_PHOTO} WHERE p.case_id = $1 ORDER BY p.position, p.id"
    ))
    .bind(case_id)
    .fetch_all(db.pool())
    .await?)
}

/// Photos of many cases at once, by case id, each in upload order: a queue or list page costs
/// one query per few hundred cases rather than one per case.
pub async fn photos_of_cases(
    db: &Db,
    case_ids: &[&str],
) -> DbResult<HashMap<String, Vec<PhotoRow>>> {
    let mut by_case: HashMap<String, Vec<PhotoRow>> = HashMap::new();
    for chunk in case_ids.chunks(super::IN_CHUNK) {
        let sql = format!(
            "{SELECT_PHOTO} WHERE p.case_id IN ({}) ORDER BY p.position, p.id",
            super::placeholders(1, chunk.len())
        );
        let mut query = sqlx::query_as::<_, PhotoRow>(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        for photo in query.fetch_all(db.pool()).await? {
            by_case
                .entry(photo.case_id.clone())
                .or_default()
                .push(photo);
        }
    }
    Ok(by_case)
}

/// The stored object of one size of one photo of one case (the case id must match: no guessing
/// a photo id from another case).
pub async fn photo_object(
    db: &Db,
    case_id: &str,
    photo_id: &str,
    size: PhotoSize,
) -> DbResult<Option<(String, String)>> {
    let row: Option<AnyRow> = sqlx::query(
        "SELECT o.object_key, o.content_type FROM photo_objects o JOIN photos p ON p.id = o.photo_id \
         WHERE p.case_id = $1 AND p.id = $2 AND o.size = $3",
    )
    .bind(case_id)
    .bind(photo_id)
    .bind(size.as_str())
    .fetch_optional(db.pool())
    .await?;
    use sqlx::Row;
    Ok(row
        .map(|r| Ok::<_, sqlx::Error>((r.try_get("object_key")?, r.try_get("content_type")?)))
        .transpose()?)
}

/// The ids of every case held for one patient (NHS number, 10 digits).
pub async fn ids_of_patient(db: &Db, nhs_number: &str) -> DbResult<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM cases WHERE nhs_number = $1 ORDER BY submitted_at_ms")
            .bind(nhs_number)
            .fetch_all(db.pool())
            .await?,
    )
}
