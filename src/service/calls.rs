//! Live calls: the GP presses "Call", the specialty's consultants on duty are rung (local rota
//! in order, then the national pool), the first to answer takes it, and a call nobody answers in
//! time becomes a written case. Every view, change and refusal is in the audit trail.

use serde_json::json;

use super::cases::{control_characters, field, parse_date_of_birth, text};
use super::{record_by, ServiceError, ServiceResult};
use crate::db::calls::CallRow;
use crate::db::{self, audit};
use crate::domain::access::Principal;
use crate::domain::calls::{self, CallStatus, Party, Phase, RingEntry};
use crate::domain::queue::Pool;
use crate::domain::{NhsNumber, Outcome, Role};
use crate::service::AppState;

pub const MAX_REASON: usize = 500;
/// An SDP offer with many candidates is a few kilobytes; anything near this is not signalling.
pub const MAX_SIGNAL_BYTES: usize = 64 * 1024;
/// Messages one party may send on one call. Setting up the audio takes an offer or an answer
/// and some tens of ICE candidates; the cap stops a party flooding the database (each message
/// is a row and a wake-up of every instance), at most 32 MB a party.
pub const MAX_SIGNALS_PER_PARTY: i64 = 500;

/// Wakes the sockets waiting on calls (the two parties' pages, consultants' ringing banners)
/// when one changes. On PostgreSQL every instance hears of every change through NOTIFY
/// ([`listen`]); on SQLite there is one instance, which tells itself.
#[derive(Debug, Clone)]
pub struct Events(tokio::sync::broadcast::Sender<String>);

impl Default for Events {
    fn default() -> Self {
        Self(tokio::sync::broadcast::channel(1024).0)
    }
}

impl Events {
    /// Call ids as they change; a lagging receiver should re-read everything it shows.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.0.subscribe()
    }

    fn deliver(&self, call_id: String) {
        // No receiver is fine: nobody has the call open.
        let _ = self.0.send(call_id);
    }
}

/// After a commit that changed a call: wake whoever waits on it, on every instance.
async fn changed(state: &AppState, call_id: &str) {
    if state.db.backend() == db::Backend::Postgres {
        match db::calls::notify_changed(&state.db, call_id).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not announce a call change to other instances")
            }
        }
    }
    state.call_events.deliver(call_id.to_string());
}

/// Relays PostgreSQL's call notifications to this instance's sockets, reconnecting when the
/// connection drops (then everyone re-reads, since a change may have been missed).
pub async fn listen(state: AppState) {
    if state.db.backend() != db::Backend::Postgres {
        return;
    }
    let url = state.settings.database_url();
    loop {
        let events = state.call_events.clone();
        let ended = db::calls::listen_for_changes(&url, move |id| events.deliver(id)).await;
        if let Err(e) = ended {
            tracing::warn!(error = %e, "listening for call changes failed; reconnecting");
        }
        state.call_events.deliver(String::new());
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
pub const MAX_NOTE: usize = 2_000;

/// What the GP types before pressing "Call".
#[derive(Debug, Clone, Default)]
pub struct CallInput {
    pub specialty: String,
    pub nhs_number: String,
    pub date_of_birth: String,
    pub reason: String,
}

/// A call with what its ring list says now.
#[derive(Debug, Clone)]
pub struct CallView {
    pub row: CallRow,
    /// The pool being rung now, while it rings.
    pub ringing_pool: Option<Pool>,
    /// How long the recording stored so far lasts, once a chunk has arrived.
    pub recording_ms: Option<i64>,
}

fn not_found() -> ServiceError {
    ServiceError::NotFound("No such call that you may see.".into())
}

pub fn call_id(text: &str) -> ServiceResult<String> {
    uuid::Uuid::parse_str(text)
        .map(|u| u.to_string())
        .map_err(|_| not_found())
}

async fn validate(
    state: &AppState,
    input: &CallInput,
) -> ServiceResult<(String, NhsNumber, String, String)> {
    let mut errors = Vec::new();
    let specialty = super::cases::specialty_field(state, &mut errors, &input.specialty)
        .await?
        .map(|s| s.slug);
    let nhs_number = NhsNumber::parse(&input.nhs_number)
        .map_err(|e| errors.push(field("nhs_number", "invalid_nhs_number", e.to_string())))
        .ok();
    let date_of_birth = parse_date_of_birth(&mut errors, &input.date_of_birth, state.now_ms());
    let reason = text(
        &mut errors,
        "reason",
        "reason for the call",
        &input.reason,
        MAX_REASON,
    );
    match (specialty, nhs_number) {
        (Some(s), Some(n)) if errors.is_empty() => Ok((s, n, date_of_birth, reason)),
        _ => Err(ServiceError::Invalid(errors)),
    }
}

/// The GP presses "Call": the ring list is fixed from who is on duty now. A specialty with
/// nobody on duty is refused at once, so the GP writes a case instead of waiting.
pub async fn start(
    state: &AppState,
    user: &Principal,
    input: &CallInput,
) -> ServiceResult<CallView> {
    let Some(practice_id) = user.practice().filter(|_| user.may_submit_cases()) else {
        return Err(ServiceError::Forbidden(
            "Only GPs of a practice can call a specialty.".into(),
        ));
    };
    let (specialty, nhs_number, date_of_birth, reason) = validate(state, input).await?;
    let now = state.now_ms();
    let on_shift = db::rotas::on_duty_now(&state.db, &specialty, now).await?;
    let ring_list = calls::ring_list(&on_shift, user.icb_id.as_deref());
    if ring_list.is_empty() {
        return Err(ServiceError::Conflict {
            code: "nobody_on_duty",
            message: "Nobody is on duty for this specialty now. Send a written case instead; it waits in the specialty's queue.".into(),
        });
    }
    let times = calls::RingTimes {
        started_at_ms: now,
        ring_ms: i64::from(state.settings.call_ring_secs) * 1000,
        give_up_after_ms: i64::from(state.settings.call_give_up_secs) * 1000,
    };
    let id = db::new_id();
    let mut tx = state.db.begin().await?;
    db::calls::insert(
        &mut tx,
        &db::calls::NewCall {
            id: &id,
            practice_id,
            icb_id: user.icb_id.as_deref(),
            created_by: user.user_id.as_str(),
            specialty: &specialty,
            nhs_number: nhs_number.as_str(),
            date_of_birth: &date_of_birth,
            reason: &reason,
            times,
            give_up_at_ms: calls::gives_up_at(&ring_list, times),
            ring_list: &ring_list,
        },
    )
    .await?;
    record_by(
        &mut tx,
        user,
        "call.started",
        &id,
        json!({ "specialty": specialty, "ring_list": ring_list.len() }),
        now,
    )
    .await?;
    tx.commit().await?;
    changed(state, &id).await;
    view_of(state, &id).await
}

async fn view_of(state: &AppState, id: &str) -> ServiceResult<CallView> {
    let row = db::calls::get(&state.db, id).await?.ok_or_else(not_found)?;
    let ringing_pool = if row.status == CallStatus::Ringing {
        let list = db::calls::ring_list(&state.db, id).await?;
        match calls::phase_at(&list, row.times, state.now_ms()) {
            Phase::Ringing { pool, .. } => Some(pool),
            Phase::GivenUp { .. } => None,
        }
    } else {
        None
    };
    let recording_ms = db::calls::recording_ms(&state.db, id).await?;
    Ok(CallView {
        row,
        ringing_pool,
        recording_ms,
    })
}

/// Which side of the call this person is on, if either.
pub fn party(row: &CallRow, user: &Principal) -> Option<Party> {
    if user.role == Role::Gp && row.created_by == user.user_id.as_str() {
        Some(Party::Gp)
    } else if row.answered_by.as_deref() == Some(user.user_id.as_str()) {
        Some(Party::Consultant)
    } else {
        None
    }
}

/// The calling practice's GPs, the consultant who answered, the consultants it has rung while
/// they are still on duty in its specialty, and admins may see a call.
async fn may_view(state: &AppState, row: &CallRow, user: &Principal) -> ServiceResult<bool> {
    Ok(match user.role {
        Role::Admin => true,
        Role::Gp => user.practice() == Some(row.practice_id.as_str()),
        Role::Consultant => {
            let now = state.now_ms();
            row.answered_by.as_deref() == Some(user.user_id.as_str())
                || (calls::has_rung(
                    &db::calls::ring_list(&state.db, &row.id).await?,
                    row.times,
                    now,
                    user.user_id.as_str(),
                ) && on_any_shift_of(state, user, &row.specialty, now).await?)
        }
        Role::Commissioner => false,
    })
}

/// Who may play the recording and have the call's record: the calling practice, the consultant
/// who answered while on duty, admins.
async fn may_have_record(state: &AppState, row: &CallRow, user: &Principal) -> ServiceResult<bool> {
    Ok(match user.role {
        Role::Admin => true,
        Role::Gp => user.practice() == Some(row.practice_id.as_str()),
        Role::Consultant => {
            row.answered_by.as_deref() == Some(user.user_id.as_str())
                && on_any_shift_of(state, user, &row.specialty, state.now_ms()).await?
        }
        Role::Commissioner => false,
    })
}

/// The call as it stands, a call due to give up first made its written case (for the parties'
/// sockets, which checked access when they opened).
pub async fn view_of_settled(state: &AppState, id: &str) -> ServiceResult<CallView> {
    settle(state, id).await?;
    view_of(state, id).await
}

/// The call, for someone who may see it; a call due to give up becomes its written case first.
pub async fn view(state: &AppState, user: &Principal, id: &str) -> ServiceResult<CallView> {
    view_for(state, user, id, false).await
}

/// The call for its record (the PDF, the FHIR bundle), which holds both parties' notes: for
/// those who may play its recording, not every consultant it rang.
pub async fn record_view(state: &AppState, user: &Principal, id: &str) -> ServiceResult<CallView> {
    view_for(state, user, id, true).await
}

async fn view_for(
    state: &AppState,
    user: &Principal,
    id: &str,
    record: bool,
) -> ServiceResult<CallView> {
    let id = call_id(id)?;
    settle(state, &id).await?;
    let call = view_of(state, &id).await?;
    let allowed = if record {
        may_have_record(state, &call.row, user).await?
    } else {
        may_view(state, &call.row, user).await?
    };
    if !allowed {
        return Err(not_found());
    }
    if let Some(at) = call.row.erased_at_ms {
        return Err(ServiceError::Gone {
            code: "record_destroyed",
            message: format!(
                "This call's record was destroyed on {} under the NHS Records Management Code: nothing about the patient is kept.",
                crate::uk_time::format(at)
            ),
        });
    }
    let now = state.now_ms();
    let about = crate::domain::notifications::About::Call(id.clone());
    db::notifications::mark_read(&state.db, user.user_id.as_str(), Some(&about), now).await?;
    let mut tx = state.db.begin().await?;
    record_by(&mut tx, user, "call.viewed", &id, json!({}), now).await?;
    tx.commit().await?;
    Ok(call)
}

/// A list that showed calls (each with its NHS number) names them in the trail; an empty one
/// showed nobody and is not recorded.
async fn record_list(
    state: &AppState,
    user: &Principal,
    action: &str,
    calls: &[&CallRow],
) -> ServiceResult<()> {
    if calls.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = calls.iter().map(|c| c.id.as_str()).collect();
    audit::record(
        state.db.pool(),
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action,
            detail: Some(json!({ "call_ids": ids })),
            ..Default::default()
        },
        state.now_ms(),
    )
    .await?;
    Ok(())
}

/// The calls ringing a consultant now, and when that may next change without anyone acting
/// (the rota moving on to the next consultant or pool).
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    pub calls: Vec<CallView>,
    pub next_change_ms: Option<i64>,
}

/// The calls ringing this consultant now, on a shift they are still on.
pub async fn incoming(state: &AppState, user: &Principal) -> ServiceResult<Incoming> {
    if user.role != Role::Consultant {
        return Err(ServiceError::Forbidden(
            "Only consultants are rung for calls.".into(),
        ));
    }
    let now = state.now_ms();
    let mut found = Incoming::default();
    for row in db::calls::ringing_with(&state.db, user.user_id.as_str(), now).await? {
        let list = db::calls::ring_list(&state.db, &row.id).await?;
        if let Phase::Ringing { until_ms, .. } = calls::phase_at(&list, row.times, now) {
            found.next_change_ms = Some(found.next_change_ms.map_or(until_ms, |t| t.min(until_ms)));
        }
        if let Some(pool) = calls::rings(&list, row.times, now, user.user_id.as_str()) {
            if on_duty(state, user, &row, pool, now).await? {
                found.calls.push(CallView {
                    row,
                    ringing_pool: Some(pool),
                    recording_ms: None,
                });
            }
        }
    }
    // Asked every time a call changes: only a list that shows a patient is worth an audit row.
    let shown: Vec<&CallRow> = found.calls.iter().map(|c| &c.row).collect();
    record_list(state, user, "calls.incoming_listed", &shown).await?;
    Ok(found)
}

/// Whether the consultant is still on a shift of the call's specialty in the pool they are rung
/// on (a shift that ended since the call started no longer lets them answer).
async fn on_duty(
    state: &AppState,
    user: &Principal,
    row: &CallRow,
    pool: Pool,
    now: i64,
) -> ServiceResult<bool> {
    let duty =
        super::cases::duty_for(state, user, &row.specialty, row.icb_id.as_deref(), now).await?;
    Ok(duty.pool_is_on(pool))
}

/// Whether the consultant is on any shift of the specialty now, local (of any ICB) or national.
async fn on_any_shift_of(
    state: &AppState,
    user: &Principal,
    specialty: &str,
    now: i64,
) -> ServiceResult<bool> {
    let duty = super::cases::duty_for(state, user, specialty, user.icb_id.as_deref(), now).await?;
    Ok(duty.local || duty.national)
}

/// Loads a call for a consultant acting on it as one it rings now; anyone else is told no.
async fn ringing_me(
    state: &AppState,
    user: &Principal,
    id: &str,
    now: i64,
) -> ServiceResult<(CallRow, Vec<RingEntry>, Option<Pool>)> {
    let id = call_id(id)?;
    settle(state, &id).await?;
    let row = db::calls::get(&state.db, &id)
        .await?
        .ok_or_else(not_found)?;
    if user.role != Role::Consultant {
        return Err(not_found());
    }
    let list = db::calls::ring_list(&state.db, &id).await?;
    if !calls::has_rung(&list, row.times, now, user.user_id.as_str())
        && row.answered_by.as_deref() != Some(user.user_id.as_str())
    {
        return Err(not_found());
    }
    let pool = calls::rings(&list, row.times, now, user.user_id.as_str());
    let pool = match pool {
        Some(p) if on_duty(state, user, &row, p, now).await? => Some(p),
        _ => None,
    };
    Ok((row, list, pool))
}

fn over(row: &CallRow, user: &Principal) -> ServiceError {
    match row.status {
        CallStatus::Answered | CallStatus::Ended
            if row.answered_by.as_deref() != Some(user.user_id.as_str()) =>
        {
            ServiceError::Conflict {
                code: "already_answered",
                message: format!(
                    "{} answered this call first.",
                    row.answered_by_name
                        .as_deref()
                        .unwrap_or("Another consultant")
                ),
            }
        }
        CallStatus::Missed => ServiceError::Conflict {
            code: "call_missed",
            message: "Nobody answered in time: the call became a written case in the queue.".into(),
        },
        _ => ServiceError::Conflict {
            code: "not_ringing_you",
            message:
                "This call is not ringing you now (your turn passed, or your shift has ended)."
                    .into(),
        },
    }
}

/// The first consultant to answer takes the call; the others get 409 `already_answered`.
pub async fn answer(state: &AppState, user: &Principal, id: &str) -> ServiceResult<CallView> {
    let now = state.now_ms();
    let (row, _, pool) = ringing_me(state, user, id, now).await?;
    if row.answered_by.as_deref() == Some(user.user_id.as_str()) {
        return view_of(state, &row.id).await;
    }
    let (Some(pool), CallStatus::Ringing) = (pool, row.status) else {
        return Err(over(&row, user));
    };
    let mut tx = state.db.begin().await?;
    if !db::calls::answer(&mut tx, &row.id, user.user_id.as_str(), pool, now).await? {
        drop(tx);
        let row = db::calls::get(&state.db, &row.id)
            .await?
            .ok_or_else(not_found)?;
        // The same consultant's other tab (or a retry) answered a moment before: theirs.
        if row.answered_by.as_deref() == Some(user.user_id.as_str()) {
            return view_of(state, &row.id).await;
        }
        return Err(over(&row, user));
    }
    record_by(
        &mut tx,
        user,
        "call.answered",
        &row.id,
        json!({ "pool": pool.as_str() }),
        now,
    )
    .await?;
    tx.commit().await?;
    changed(state, &row.id).await;
    view_of(state, &row.id).await
}

/// The consultant rung now declines: the next on the list is rung at once.
pub async fn decline(state: &AppState, user: &Principal, id: &str) -> ServiceResult<CallView> {
    let now = state.now_ms();
    let (row, mut list, pool) = ringing_me(state, user, id, now).await?;
    if pool.is_none() || row.status != CallStatus::Ringing {
        return Err(over(&row, user));
    }
    for e in list
        .iter_mut()
        .filter(|e| e.user_id == user.user_id.as_str())
    {
        e.declined_at_ms.get_or_insert(now);
    }
    let give_up_at = calls::gives_up_at(&list, row.times);
    let mut tx = state.db.begin().await?;
    db::calls::decline(&mut tx, &row.id, user.user_id.as_str(), give_up_at, now).await?;
    record_by(&mut tx, user, "call.declined", &row.id, json!({}), now).await?;
    tx.commit().await?;
    changed(state, &row.id).await;
    settle(state, &row.id).await?;
    view_of(state, &row.id).await
}

/// Either party hangs up.
pub async fn end(state: &AppState, user: &Principal, id: &str) -> ServiceResult<CallView> {
    let id = call_id(id)?;
    let row = db::calls::get(&state.db, &id)
        .await?
        .ok_or_else(not_found)?;
    let Some(party) = party(&row, user) else {
        return Err(not_found());
    };
    let now = state.now_ms();
    let mut tx = state.db.begin().await?;
    if !db::calls::end(&mut tx, &id, now).await? {
        return match row.status {
            CallStatus::Ended => view_of(state, &id).await,
            _ => Err(ServiceError::Conflict {
                code: "not_answered",
                message: "Only an answered call can be ended.".into(),
            }),
        };
    }
    db::calls::delete_signals(&mut tx, &id).await?;
    record_by(
        &mut tx,
        user,
        "call.ended",
        &id,
        json!({ "by": party.as_str() }),
        now,
    )
    .await?;
    tx.commit().await?;
    changed(state, &id).await;
    view_of(state, &id).await
}

/// What one party typed at the end.
#[derive(Debug, Clone, Default)]
pub struct OutcomeInput {
    pub outcome: String,
    pub note: String,
}

/// Each party records their own outcome once, after the call was answered.
pub async fn record_outcome(
    state: &AppState,
    user: &Principal,
    id: &str,
    input: &OutcomeInput,
) -> ServiceResult<CallView> {
    let id = call_id(id)?;
    let row = db::calls::get(&state.db, &id)
        .await?
        .ok_or_else(not_found)?;
    let Some(party) = party(&row, user) else {
        return Err(not_found());
    };
    let mut errors = Vec::new();
    let outcome = match input.outcome.trim() {
        "" => {
            errors.push(field(
                "outcome",
                "missing_field",
                "Choose the outcome of the call.",
            ));
            None
        }
        w => w
            .parse::<Outcome>()
            .map_err(|e| errors.push(field("outcome", "invalid_outcome", e.to_string())))
            .ok(),
    };
    let note = input.note.trim();
    if let Some(e) = control_characters("note", "note", note) {
        errors.push(e);
    } else if note.chars().count() > MAX_NOTE {
        errors.push(field(
            "note",
            "field_too_long",
            format!("The note must be at most {MAX_NOTE} characters."),
        ));
    }
    let Some(outcome) = outcome.filter(|_| errors.is_empty()) else {
        return Err(ServiceError::Invalid(errors));
    };
    let now = state.now_ms();
    let mut tx = state.db.begin().await?;
    if !db::calls::record_outcome(&mut tx, &id, party, outcome, note, now).await? {
        let (code, message) = if row.outcome_of(party).is_some() {
            (
                "outcome_recorded",
                "You have already recorded the outcome of this call.",
            )
        } else {
            (
                "not_answered",
                "The outcome is recorded once the call has been answered.",
            )
        };
        return Err(ServiceError::Conflict {
            code,
            message: message.into(),
        });
    }
    record_by(
        &mut tx,
        user,
        "call.outcome_recorded",
        &id,
        json!({ "party": party.as_str(), "outcome": outcome.as_str() }),
        now,
    )
    .await?;
    tx.commit().await?;
    changed(state, &id).await;
    view_of(state, &id).await
}

/// Turns the call into its written case if it is still ringing at its give-up time, or ends it
/// if it was left open ([`MAX_CALL_MS`]). Safe to call from any instance at any moment: the
/// compare-and-set lets one transaction do it.
pub async fn settle(state: &AppState, id: &str) -> ServiceResult<()> {
    let now = state.now_ms();
    let Some(row) = db::calls::get(&state.db, id).await? else {
        return Ok(());
    };
    if row.status == CallStatus::Answered
        && row.answered_at_ms.is_some_and(|t| t + MAX_CALL_MS <= now)
    {
        return end_abandoned(state, &row, now).await;
    }
    if row.status != CallStatus::Ringing || row.give_up_at_ms > now {
        return Ok(());
    }
    let started = crate::uk_time::format(row.times.started_at_ms);
    let history = format!(
        "The GP called the specialty at {started}; nobody answered within {} so the call became this written case. The GP's reason for calling is the question.",
        crate::uk_time::fmt_age(row.give_up_at_ms - row.times.started_at_ms)
    );
    let mut tx = state.db.begin().await?;
    let case_id = super::cases::open_from_call(&mut tx, state, &row, &history, now).await?;
    if !db::calls::give_up(&mut tx, id, &case_id, now).await? {
        // Answered at the last moment, or another instance converted it.
        return Ok(());
    }
    // The GP is told (in the app, and by email as they chose), as well as on the call's page.
    let subject = super::notify::Subject {
        case_id: &case_id,
        practice_id: &row.practice_id,
        specialty: &row.specialty,
        created_by: &row.created_by,
        answered_by: None,
        holder: None,
        escalated: false,
        icb_id: row.icb_id.as_deref(),
    };
    super::notify::announce(
        &mut tx,
        state,
        crate::domain::notifications::Event::CallMissed,
        &subject,
        now,
    )
    .await?;
    audit::record(
        &mut *tx,
        audit::Event {
            action: "call.missed",
            case_id: Some(&case_id),
            subject_id: Some(id),
            detail: Some(json!({ "specialty": row.specialty })),
            ..Default::default()
        },
        now,
    )
    .await?;
    tx.commit().await?;
    changed(state, id).await;
    Ok(())
}

/// An answered call still open this long was left by both tabs without hanging up: it is ended
/// (so that both parties are asked for their outcome, and nothing more is recorded).
pub const MAX_CALL_MS: i64 = 2 * 3_600_000;

async fn end_abandoned(state: &AppState, row: &CallRow, now: i64) -> ServiceResult<()> {
    let mut tx = state.db.begin().await?;
    if !db::calls::end(&mut tx, &row.id, now).await? {
        return Ok(());
    }
    db::calls::delete_signals(&mut tx, &row.id).await?;
    audit::record(
        &mut *tx,
        audit::Event {
            action: "call.ended",
            subject_id: Some(&row.id),
            detail: Some(json!({ "by": "aghub", "why": "open for longer than 2 hours" })),
            ..Default::default()
        },
        now,
    )
    .await?;
    tx.commit().await?;
    changed(state, &row.id).await;
    Ok(())
}

/// Turns every call due to give up into its written case, and ends calls left open (the
/// sweeper of each instance).
pub async fn settle_due(state: &AppState) -> ServiceResult<usize> {
    let now = state.now_ms();
    let due = db::calls::due(&state.db, now, now - MAX_CALL_MS).await?;
    for id in &due {
        settle(state, id).await?;
    }
    Ok(due.len())
}

/// The call and which side of it this person is, for the two parties' pages and sockets.
pub async fn as_party(
    state: &AppState,
    user: &Principal,
    id: &str,
) -> ServiceResult<(CallView, Party)> {
    let id = call_id(id)?;
    let call = view_of(state, &id).await?;
    match party(&call.row, user) {
        Some(p) => Ok((call, p)),
        None => Err(not_found()),
    }
}

/// Passes one browser's WebRTC message (offer, answer or ICE candidate; opaque JSON) to the
/// other party, while the call is answered.
pub async fn send_signal(
    state: &AppState,
    call_id: &str,
    from: Party,
    body: &str,
) -> ServiceResult<()> {
    if body.len() > MAX_SIGNAL_BYTES || serde_json::from_str::<serde_json::Value>(body).is_err() {
        return Err(ServiceError::Invalid(vec![field(
            "signal",
            "invalid_signal",
            "A signalling message is one JSON value of at most 64 KB.",
        )]));
    }
    let row = db::calls::get(&state.db, call_id)
        .await?
        .ok_or_else(not_found)?;
    if row.status != CallStatus::Answered {
        return Err(ServiceError::Conflict {
            code: "not_answered",
            message: "Signalling is for an answered call.".into(),
        });
    }
    if !db::calls::insert_signal(
        &state.db,
        call_id,
        from,
        body,
        state.now_ms(),
        MAX_SIGNALS_PER_PARTY,
    )
    .await?
    {
        return Err(ServiceError::Paused {
            message: "Too many signalling messages on this call: end it and call again.".into(),
        });
    }
    changed(state, call_id).await;
    Ok(())
}

/// The other party's signalling messages after `after_id` ("" for all), oldest first.
pub async fn signals_for(
    state: &AppState,
    call_id: &str,
    to: Party,
    after_id: &str,
) -> ServiceResult<Vec<db::calls::Signal>> {
    Ok(db::calls::signals_for(&state.db, call_id, to, after_id).await?)
}

/// A recording chunk is at most this large (a few seconds of Opus are tens of kilobytes).
pub const MAX_CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// The chunk in flight when the call ends is still taken for this long.
const LATE_CHUNK_MS: i64 = 2 * 60 * 1000;
/// WebM (Matroska) files begin with the EBML magic number.
const WEBM_MAGIC: [u8; 4] = [0x1A, 0x45, 0xDF, 0xA3];

/// What the consultant's browser sends every few seconds while the call is recorded.
pub struct Chunk {
    pub seq: i64,
    /// The recording's length at the end of this chunk.
    pub media_ms: i64,
    pub bytes: bytes::Bytes,
}

/// Stores one chunk of the consultant's recording (both voices mixed), like a photo: private
/// object storage, recorded in the database only once the object is written.
pub async fn add_recording_chunk(
    state: &AppState,
    user: &Principal,
    id: &str,
    chunk: Chunk,
) -> ServiceResult<CallView> {
    let id = call_id(id)?;
    let row = db::calls::get(&state.db, &id)
        .await?
        .ok_or_else(not_found)?;
    if party(&row, user) != Some(Party::Consultant) {
        return Err(not_found());
    }
    let now = state.now_ms();
    let recording = row.status == CallStatus::Answered
        || (row.status == CallStatus::Ended
            && row.ended_at_ms.is_some_and(|t| now <= t + LATE_CHUNK_MS));
    if !recording {
        return Err(ServiceError::Conflict {
            code: "not_recording",
            message: "This call is not being recorded now.".into(),
        });
    }
    let mut errors = Vec::new();
    if !(0..=100_000).contains(&chunk.seq) {
        errors.push(field(
            "seq",
            "invalid_seq",
            "seq is the chunk's number, 0 to 100000.",
        ));
    }
    if !(0..=6 * 3_600_000).contains(&chunk.media_ms) {
        errors.push(field(
            "media_ms",
            "invalid_media_ms",
            "media_ms is the recording's length in milliseconds.",
        ));
    }
    if chunk.bytes.is_empty() || chunk.bytes.len() > MAX_CHUNK_BYTES {
        errors.push(field(
            "body",
            "invalid_chunk",
            "A chunk is 1 byte to 4 MB of the recording.",
        ));
    } else if chunk.seq == 0 && !chunk.bytes.starts_with(&WEBM_MAGIC) {
        errors.push(field(
            "body",
            "not_webm",
            "The recording must be WebM audio (its first chunk starts with the WebM header).",
        ));
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let key = crate::blob::BlobKey::new(format!("calls/{id}/recording/{:06}.webm", chunk.seq))?;
    db::blob_intents::record(&state.db, key.as_str(), now).await?;
    state
        .blobs
        .put(&key, chunk.bytes.clone(), "audio/webm")
        .await?;
    let mut tx = state.db.begin().await?;
    let first = chunk.seq == 0;
    db::calls::insert_chunk(
        &mut tx,
        &id,
        &db::calls::Chunk {
            seq: chunk.seq,
            blob_key: key.as_str().to_string(),
            bytes: chunk.bytes.len() as i64,
            media_ms: chunk.media_ms,
        },
        now,
    )
    .await?;
    db::blob_intents::settle(&mut tx, key.as_str()).await?;
    if first {
        record_by(&mut tx, user, "call.recording_started", &id, json!({}), now).await?;
    }
    tx.commit().await?;
    if first {
        changed(state, &id).await;
    }
    view_of(state, &id).await
}

/// The recording's objects in order, for the calling practice's GPs, the consultant who
/// answered while they are on duty in the specialty, and admins; every playback is audited.
pub async fn recording(
    state: &AppState,
    user: &Principal,
    id: &str,
) -> ServiceResult<Vec<crate::blob::BlobKey>> {
    let id = call_id(id)?;
    let row = db::calls::get(&state.db, &id)
        .await?
        .ok_or_else(not_found)?;
    if !may_have_record(state, &row, user).await? {
        return Err(not_found());
    }
    let now = state.now_ms();
    let chunks = db::calls::chunks(&state.db, &id).await?;
    if chunks.is_empty() {
        return Err(ServiceError::NotFound("This call has no recording.".into()));
    }
    let mut tx = state.db.begin().await?;
    record_by(
        &mut tx,
        user,
        "call.recording_played",
        &id,
        json!({ "chunks": chunks.len() }),
        now,
    )
    .await?;
    tx.commit().await?;
    chunks
        .into_iter()
        .map(|c| crate::blob::BlobKey::new(c.blob_key).map_err(Into::into))
        .collect()
}

/// Each specialty with how many consultants a call from this GP would ring now: the local rota
/// of their ICB and the national pool (the form shows it before the GP presses "Call").
pub async fn who_is_on_duty(
    state: &AppState,
    user: &Principal,
) -> ServiceResult<Vec<(db::specialties::Specialty, usize, usize)>> {
    let now = state.now_ms();
    let mut out = Vec::new();
    for s in super::cases::specialties(state).await? {
        let on_shift = db::rotas::on_duty_now(&state.db, &s.slug, now).await?;
        let list = calls::ring_list(&on_shift, user.icb_id.as_deref());
        let local = list.iter().filter(|e| e.pool == Pool::Local).count();
        out.push((s, local, list.len() - local));
    }
    Ok(out)
}

/// The ended calls this person has not yet recorded their outcome of: every page they open says
/// so until they have (the outcome is part of the record, and a pilot captured it only
/// "where one was left").
pub async fn awaiting_my_outcome(state: &AppState, user: &Principal) -> ServiceResult<Vec<String>> {
    if !matches!(user.role, Role::Gp | Role::Consultant) {
        return Ok(Vec::new());
    }
    Ok(db::calls::awaiting_outcome_of(&state.db, user.user_id.as_str()).await?)
}

/// The calls a person's list shows: a GP's practice's, a consultant's own answered ones (their
/// history); newest first. A list shows NHS numbers, so it is audited with the calls it showed.
pub async fn recent(state: &AppState, user: &Principal) -> ServiceResult<Vec<CallRow>> {
    let rows = match user.role {
        Role::Gp => match user.practice() {
            Some(p) => db::calls::recent(&state.db, Some(p), None, 50).await?,
            None => Vec::new(),
        },
        Role::Consultant => {
            db::calls::recent(&state.db, None, Some(user.user_id.as_str()), 50).await?
        }
        Role::Admin | Role::Commissioner => Vec::new(),
    };
    record_list(
        state,
        user,
        "calls.listed",
        &rows.iter().collect::<Vec<_>>(),
    )
    .await?;
    Ok(rows)
}
