//! Telling people (issue 13). Each event that someone must hear about is announced inside the
//! transaction of the change: a notification in the app for each person it concerns, an
//! outbox row for each email they chose, and one for each webhook of the case's practice.
//! Events that follow from time passing are noticed by a periodic look, once per case.

use serde_json::json;

use super::{AppState, ServiceError, ServiceResult};
use crate::db::{self, notifications::Notification, outbox::NewDelivery, Tx};
use crate::domain::access::Principal;
use crate::domain::notifications::{next_digest_at, About, Audience, Channel, EmailChoice, Event};
use crate::domain::queue::Pool;
use crate::domain::Role;

/// What an announcement needs to know of its case.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub case_id: &'a str,
    pub practice_id: &'a str,
    pub specialty: &'a str,
    /// The GP who sent the case.
    pub created_by: &'a str,
    /// The consultant who replied last (for a request for information, the one who asked).
    pub answered_by: Option<&'a str>,
    /// The consultant holding the case now.
    pub holder: Option<&'a str>,
    /// Whether the case is open to the national pool now.
    pub escalated: bool,
    /// The practice's ICB, whose trusts' consultants are its local rota.
    pub icb_id: Option<&'a str>,
}

impl<'a> Subject<'a> {
    pub fn of(row: &'a db::cases::CaseRow, now_ms: i64) -> Self {
        let status = row.status_at(now_ms);
        Self {
            case_id: &row.id,
            practice_id: &row.practice_id,
            specialty: &row.specialty,
            created_by: &row.created_by,
            answered_by: row.answered_by.as_deref(),
            holder: (status == crate::domain::CaseStatus::Claimed)
                .then_some(row.claimed_by.as_deref())
                .flatten(),
            escalated: now_ms >= row.queued_at_ms + row.escalation_ms,
            icb_id: row.practice_icb_id.as_deref(),
        }
    }
}

/// Announces `event` about the case to everyone it concerns, inside the change's transaction.
pub async fn announce(
    tx: &mut Tx<'_>,
    state: &AppState,
    event: Event,
    subject: &Subject<'_>,
    now_ms: i64,
) -> ServiceResult<()> {
    let recipients = recipients(tx, event, subject, now_ms).await?;
    let about = About::Case(subject.case_id.to_string());
    tell(
        tx,
        state,
        event,
        &about,
        subject.specialty,
        &recipients,
        now_ms,
    )
    .await?;
    if event.webhook_type().is_some() {
        let ods: String = sqlx::query_scalar("SELECT ods_code FROM practices WHERE id = $1")
            .bind(subject.practice_id)
            .fetch_one(&mut **tx)
            .await?;
        let payload = json!({ "practice": ods });
        for hook in db::outbox::practice_webhooks(tx, subject.practice_id).await? {
            db::outbox::insert(
                tx,
                &NewDelivery {
                    channel: Channel::Webhook,
                    recipient: &hook.id,
                    kind: event,
                    about: &about,
                    payload: &payload,
                    digest: false,
                    due_at_ms: now_ms,
                },
                now_ms,
            )
            .await?;
        }
    }
    state.outbox_wake.notify_waiters();
    Ok(())
}

/// Tells each recipient in the app, and by email as they chose (when email is set up).
async fn tell(
    tx: &mut Tx<'_>,
    state: &AppState,
    event: Event,
    about: &About,
    specialty: &str,
    recipients: &[String],
    now_ms: i64,
) -> ServiceResult<()> {
    let specialty: String = sqlx::query_scalar("SELECT name FROM specialties WHERE slug = $1")
        .bind(specialty)
        .fetch_one(&mut **tx)
        .await?;
    let payload = json!({ "specialty": specialty });
    let email_on = state.settings.smtp_url.is_some();
    for user_id in recipients {
        db::notifications::insert(tx, user_id, event, about, now_ms).await?;
        if !email_on {
            continue;
        }
        let choice = db::notifications::settings(&mut **tx, user_id)
            .await?
            .into_iter()
            .find(|(k, _)| *k == event)
            .map_or(event.default_email(), |(_, c)| c);
        let digest = choice == EmailChoice::Digest && event.digest_allowed();
        if choice == EmailChoice::Off {
            continue;
        }
        db::outbox::insert(
            tx,
            &NewDelivery {
                channel: Channel::Email,
                recipient: user_id,
                kind: event,
                about,
                payload: &payload,
                digest,
                due_at_ms: if digest {
                    next_digest_at(now_ms)
                } else {
                    now_ms
                },
            },
            now_ms,
        )
        .await?;
    }
    Ok(())
}

async fn recipients(
    tx: &mut Tx<'_>,
    event: Event,
    s: &Subject<'_>,
    now_ms: i64,
) -> ServiceResult<Vec<String>> {
    use db::notifications::on_duty;
    Ok(match event.audience() {
        Audience::Requester => vec![s.created_by.to_string()],
        Audience::Asker => s.answered_by.map(str::to_string).into_iter().collect(),
        // Sent to the address the GP gives, through `photo_requests`, never announced.
        Audience::Patient => Vec::new(),
        // About a call, not a case: `remind_call_outcomes` tells them.
        Audience::CallParty => Vec::new(),
        Audience::LocalOnDuty => on_duty(tx, s.specialty, Pool::Local, s.icb_id, now_ms).await?,
        Audience::NationalOnDuty => on_duty(tx, s.specialty, Pool::National, None, now_ms).await?,
        Audience::HolderOrOnDuty => match s.holder {
            Some(holder) => vec![holder.to_string()],
            None => {
                let mut people = on_duty(tx, s.specialty, Pool::Local, s.icb_id, now_ms).await?;
                if s.escalated {
                    for p in on_duty(tx, s.specialty, Pool::National, None, now_ms).await? {
                        if !people.contains(&p) {
                            people.push(p);
                        }
                    }
                }
                people
            }
        },
    })
}

/// How far back a periodic look goes: an event that fell due while every instance was down
/// longer than this is not announced late (the case lists show it by then).
const LOOK_BACK_MS: i64 = 7 * 86_400_000;

/// Announces the events that have come due with time (escalated, past target, referral
/// overdue) and not been announced, once per case and moment whatever the number of
/// instances looking. Returns how many were announced.
pub async fn notice_timed_events(state: &AppState) -> ServiceResult<usize> {
    let now = state.now_ms();
    let mut announced = 0;
    for kind in [Event::Escalated, Event::PastTarget, Event::ReferralOverdue] {
        let due =
            db::notifications::due_timed_events(&state.db, kind, now - LOOK_BACK_MS, now).await?;
        for event in due {
            let Some(row) = db::cases::get(&state.db, &event.case_id).await? else {
                continue;
            };
            let mut tx = state.db.begin().await?;
            if db::notifications::first_notice(&mut tx, &row.id, kind, event.at_ms).await? {
                announce(&mut tx, state, kind, &Subject::of(&row, now), now).await?;
                announced += 1;
            }
            tx.commit().await?;
        }
    }
    Ok(announced + remind_call_outcomes(state, now).await?)
}

/// Reminds each party of an ended call who has not recorded its outcome, at the moments
/// `domain::calls::outcome_reminder_at` gives, once whatever the number of instances.
async fn remind_call_outcomes(state: &AppState, now: i64) -> ServiceResult<usize> {
    use crate::domain::calls::{
        outcome_reminder_at, FIRST_REMINDER_MS, REMIND_EVERY_MS, REMIND_FOR_MS,
    };
    let due = db::calls::outcomes_missing(
        &state.db,
        now - REMIND_FOR_MS,
        now - FIRST_REMINDER_MS,
        now - REMIND_EVERY_MS,
    )
    .await?;
    let mut reminded = 0;
    for m in due {
        let Some(at) = outcome_reminder_at(m.ended_at_ms, now) else {
            continue;
        };
        let mut tx = state.db.begin().await?;
        if db::notifications::first_call_notice(&mut tx, &m.call_id, &m.user_id, at).await? {
            let about = About::Call(m.call_id);
            let event = Event::CallOutcomeMissing;
            tell(
                &mut tx,
                state,
                event,
                &about,
                &m.specialty,
                &[m.user_id],
                now,
            )
            .await?;
            reminded += 1;
        }
        tx.commit().await?;
    }
    if reminded > 0 {
        state.outbox_wake.notify_waiters();
    }
    Ok(reminded)
}

/// A person's notifications, newest first, and how many are unread.
pub async fn list(state: &AppState, user: &Principal) -> ServiceResult<Vec<Notification>> {
    Ok(db::notifications::list(&state.db, user.user_id.as_str(), 100).await?)
}

pub async fn unread(state: &AppState, user: &Principal) -> ServiceResult<i64> {
    Ok(db::notifications::unread(&state.db, user.user_id.as_str()).await?)
}

/// Marks read the person's notifications about one case or call (they have opened it) or all.
pub async fn mark_read(
    state: &AppState,
    user: &Principal,
    about: Option<&About>,
) -> ServiceResult<u64> {
    Ok(
        db::notifications::mark_read(&state.db, user.user_id.as_str(), about, state.now_ms())
            .await?,
    )
}

/// The events a person of this role hears about, with their email choice for each.
pub async fn settings(
    state: &AppState,
    user: &Principal,
) -> ServiceResult<Vec<(Event, EmailChoice)>> {
    let chosen = db::notifications::settings(state.db.pool(), user.user_id.as_str()).await?;
    Ok(events_for(user.role)
        .map(|e| {
            let choice = chosen
                .iter()
                .find(|(k, _)| *k == e)
                .map_or(e.default_email(), |(_, c)| *c);
            (e, choice)
        })
        .collect())
}

pub fn events_for(role: Role) -> impl Iterator<Item = Event> {
    Event::ALL.iter().copied().filter(move |e| e.concerns(role))
}

/// Saves a person's email choices (`(event, choice)` words from the settings form).
pub async fn save_settings(
    state: &AppState,
    user: &Principal,
    choices: &[(String, String)],
) -> ServiceResult<()> {
    let mut parsed = Vec::new();
    for (kind, choice) in choices {
        let invalid = |message: String| {
            ServiceError::Invalid(vec![super::FieldError {
                field: "email",
                code: "invalid_choice",
                message,
            }])
        };
        let event: Event = kind
            .parse()
            .map_err(|e: crate::domain::UnknownValue| invalid(e.to_string()))?;
        let choice: EmailChoice = choice
            .parse()
            .map_err(|e: crate::domain::UnknownValue| invalid(e.to_string()))?;
        if !event.concerns(user.role) {
            return Err(invalid(format!(
                "{} is not an event for your role.",
                event.as_str()
            )));
        }
        if choice == EmailChoice::Digest && !event.digest_allowed() {
            return Err(invalid(format!(
                "{} cannot wait for a daily digest.",
                event.setting_label()
            )));
        }
        parsed.push((event, choice));
    }
    let now = state.now_ms();
    let mut tx = state.db.begin().await?;
    for (event, choice) in &parsed {
        db::notifications::set_setting(&mut tx, user.user_id.as_str(), *event, *choice).await?;
    }
    db::audit::record(
        &mut *tx,
        db::audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: "notifications.settings_changed",
            subject_id: Some(user.user_id.as_str()),
            detail: Some(json!(parsed
                .iter()
                .map(|(e, c)| (e.as_str(), c.as_str()))
                .collect::<std::collections::BTreeMap<_, _>>())),
            ..Default::default()
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
