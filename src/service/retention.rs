//! The NHS Records Management Code in practice (issue 15): `aghub retention run`, and the same
//! once a day inside `serve` on whichever instance takes the day's lease. A patient whose cases
//! are all concluded and whose retention period has ended has every case erased: messages,
//! photos (all sizes, from the store), photo links and every identifier and clinical text go;
//! each case's row stays, without the patient, so the figures keep their counts. A case under
//! legal hold is kept whole. The patient's live calls count as contacts, and are erased with
//! them (identifiers, reason, notes, recording) unless the call is under legal hold itself.

use std::collections::HashMap;

use serde_json::json;

use super::{record_change, Actor, ServiceError, ServiceResult};
use crate::blob::{BlobKey, BlobStore};
use crate::db::{audit, blob_intents, retention as rdb, Db, IN_CHUNK};
use crate::domain::notifications::About;
use crate::domain::retention::{destroy_from, ADULT_YEARS};

/// What a run did (or, dry, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub dry_run: bool,
    /// Patients whose retention period has ended.
    pub patients: usize,
    pub cases_erased: usize,
    pub cases_on_hold: usize,
    /// Live calls whose patient details, notes and recording were erased.
    pub calls_erased: usize,
    pub calls_on_hold: usize,
    pub messages_deleted: u64,
    pub photos_deleted: u64,
    pub objects_deleted: usize,
}

const DAY_MS: i64 = 86_400_000;

fn day_of(ms: i64) -> Option<time::Date> {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .map(|t| t.date())
}

/// Erases (or with `dry_run`, counts) everything due at `now_ms`; audited with its counts.
pub async fn run(
    db: &Db,
    blobs: &BlobStore,
    actor: Actor<'_>,
    now_ms: i64,
    dry_run: bool,
) -> ServiceResult<Report> {
    let today = day_of(now_ms)
        .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("clock out of range")))?;
    // Nobody is due before 8 years after their last contact (children are kept longer).
    let before = now_ms - i64::from(ADULT_YEARS) * 365 * DAY_MS;
    let mut report = Report {
        dry_run,
        ..Default::default()
    };
    let mut due = Vec::new();
    for patient in rdb::candidates(db, before).await? {
        let (Ok(born), Some(last)) = (
            time::Date::parse(&patient.date_of_birth, crate::clock::ISO_DATE),
            day_of(patient.last_contact_ms),
        ) else {
            continue;
        };
        if destroy_from(born, last) <= today {
            due.push(patient.nhs_number);
        }
    }
    report.patients = due.len();
    // A few hundred patients' cases at a time, each batch in one transaction: a year's due
    // cases of a national deployment (millions) take minutes, not a transaction each.
    for patients in due.chunks(IN_CHUNK) {
        let (held, free): (Vec<_>, Vec<_>) = rdb::cases_of(db, patients)
            .await?
            .into_iter()
            .partition(|(_, held)| *held);
        report.cases_on_hold += held.len();
        let free: Vec<String> = free.into_iter().map(|(id, _)| id).collect();
        for cases in free.chunks(IN_CHUNK) {
            let erased = if dry_run {
                rdb::count(db, cases).await?
            } else {
                erase(db, actor, cases, now_ms).await?
            };
            let mut keys = Vec::new();
            for e in erased.into_values() {
                report.cases_erased += 1;
                report.messages_deleted += e.messages;
                report.photos_deleted += e.photos;
                report.objects_deleted += e.object_keys.len();
                keys.extend(
                    e.object_keys
                        .into_iter()
                        .filter_map(|k| BlobKey::new(k).ok()),
                );
            }
            if !dry_run {
                super::photos::delete_from_store(db, blobs, &keys).await;
            }
        }
        let (held, free): (Vec<_>, Vec<_>) = rdb::calls_of(db, patients)
            .await?
            .into_iter()
            .partition(|(_, held)| *held);
        report.calls_on_hold += held.len();
        let free: Vec<String> = free.into_iter().map(|(id, _)| id).collect();
        if dry_run {
            report.calls_erased += free.len();
        } else {
            for batch in free.chunks(IN_CHUNK) {
                let (erased, keys) = erase_calls(db, actor, batch, now_ms).await?;
                report.calls_erased += erased;
                report.objects_deleted += keys.len();
                super::photos::delete_from_store(db, blobs, &keys).await;
            }
        }
    }
    let mut tx = db.begin().await?;
    record_change(
        &mut tx,
        actor,
        if dry_run {
            "retention.dry_run"
        } else {
            "retention.run"
        },
        "retention",
        json!(report),
        now_ms,
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

/// A batch of cases in one transaction, with an audit row for each; their objects are doomed
/// in the same transaction so that a deletion that fails later is finished by the sweep.
async fn erase(
    db: &Db,
    actor: Actor<'_>,
    case_ids: &[String],
    now_ms: i64,
) -> ServiceResult<HashMap<String, rdb::Erased>> {
    let mut tx = db.begin().await?;
    let erased = rdb::erase(&mut tx, case_ids, now_ms).await?;
    let mut events = Vec::with_capacity(erased.len());
    for (case_id, e) in &erased {
        for key in &e.object_keys {
            blob_intents::doom(&mut tx, key, now_ms).await?;
        }
        events.push(audit::Event {
            actor_id: actor.user_id(),
            action: "case.erased",
            case_id: Some(case_id),
            detail: Some(json!({
                "messages": e.messages,
                "photos": e.photos,
                "objects": e.object_keys.len(),
            })),
            ..Default::default()
        });
    }
    audit::record_many(&mut *tx, &events, now_ms).await?;
    tx.commit().await?;
    Ok(erased)
}

/// A batch of calls in one transaction, with an audit row for each erased; the recording's
/// objects are doomed in it, as a case's photos are. Returns how many were erased.
async fn erase_calls(
    db: &Db,
    actor: Actor<'_>,
    call_ids: &[String],
    now_ms: i64,
) -> ServiceResult<(usize, Vec<BlobKey>)> {
    let mut tx = db.begin().await?;
    let (erased, keys) = rdb::erase_calls(&mut tx, call_ids, now_ms).await?;
    for key in &keys {
        blob_intents::doom(&mut tx, key, now_ms).await?;
    }
    let events: Vec<audit::Event> = erased
        .iter()
        .map(|id| audit::Event {
            actor_id: actor.user_id(),
            action: "call.erased",
            subject_id: Some(id),
            ..Default::default()
        })
        .collect();
    audit::record_many(&mut *tx, &events, now_ms).await?;
    tx.commit().await?;
    Ok((
        erased.len(),
        keys.into_iter()
            .filter_map(|k| BlobKey::new(k).ok())
            .collect(),
    ))
}

/// The daily run inside `serve`: on the one instance that takes the day's lease.
pub async fn run_daily_if_due(state: &super::AppState) -> ServiceResult<Option<Report>> {
    let now = state.now_ms();
    if !rdb::take_daily(&state.db, "retention", now, DAY_MS - 60_000, 6 * 3_600_000).await? {
        return Ok(None);
    }
    let report = run(&state.db, &state.blobs, Actor::Housekeeping, now, false).await;
    // A failed run leaves the day's run to be tried again at the next look.
    rdb::finish_daily(&state.db, "retention", state.now_ms(), report.is_ok()).await?;
    report.map(Some)
}

/// Puts a case or a live call under legal hold, or lifts it (`reason: None`):
/// `aghub retention hold`.
pub async fn hold(
    db: &Db,
    actor: Actor<'_>,
    record: &About,
    reason: Option<&str>,
    now_ms: i64,
) -> ServiceResult<()> {
    let (what, id) = match record {
        About::Case(id) => ("case", id),
        About::Call(id) => ("call", id),
    };
    let reason = reason.map(str::trim);
    if reason == Some("") {
        return Err(ServiceError::Invalid(vec![super::FieldError {
            field: "reason",
            code: "missing_reason",
            message: format!("--reason must say why the {what} is held"),
        }]));
    }
    let mut tx = db.begin().await?;
    if !rdb::set_hold(&mut tx, record, reason, now_ms).await? {
        return Err(ServiceError::NotFound(format!("There is no {what} {id}.")));
    }
    let action = if reason.is_some() {
        "legal_hold"
    } else {
        "legal_hold_lifted"
    };
    record_change(
        &mut tx,
        actor,
        &format!("{what}.{action}"),
        id,
        json!({ "reason": reason }),
        now_ms,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
