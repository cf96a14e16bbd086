//! Keeps the report tables in step with each case event, inside the transaction that records
//! the event (so the figures can never disagree with what happened). The rules are
//! `domain::reports`; this module loads a case's facts, applies the event, stores the facts and
//! moves the case's day cells by the difference.

use crate::db::reports::{self as rdb, Rollup};
use crate::db::{Db, DbResult, Tx};
use crate::domain::reports::{day_cells, icb_day_cells, CaseEvent, CaseFacts, Counts, Durations};
use crate::domain::Urgency;

/// A new case: its facts, its day cells, and the same patient's earlier cases it re-presents.
#[allow(clippy::too_many_arguments)]
pub async fn submitted(
    tx: &mut Tx<'_>,
    case_id: &str,
    practice_id: &str,
    icb_id: Option<&str>,
    specialty: &str,
    urgency: Urgency,
    target_ms: i64,
    now_ms: i64,
) -> DbResult<()> {
    let facts = CaseFacts {
        icb_id: icb_id.map(str::to_string),
        ..CaseFacts::submitted(case_id, practice_id, specialty, urgency, target_ms, now_ms)
    };
    store(tx, None, &facts).await?;
    for before in rdb::earlier_facts_of_patient(tx, case_id).await? {
        let mut after = before.clone();
        after.apply(&CaseEvent::PatientReturned { at_ms: now_ms });
        store(tx, Some(&before), &after).await?;
    }
    Ok(())
}

/// A reply, the GP's response, …: applied to the case's facts.
pub async fn apply(tx: &mut Tx<'_>, case_id: &str, event: CaseEvent) -> DbResult<()> {
    let Some(before) = rdb::facts_of(tx, case_id).await? else {
        return Err(crate::db::DbError::NotFound);
    };
    let mut after = before.clone();
    after.apply(&event);
    store(tx, Some(&before), &after).await
}

async fn store(tx: &mut Tx<'_>, before: Option<&CaseFacts>, after: &CaseFacts) -> DbResult<()> {
    if before == Some(after) {
        return Ok(());
    }
    let (old_counts, old_durations) = before
        .map_or((Counts::default(), Durations::default()), |b| {
            (b.counts(), b.durations())
        });
    rdb::save_facts(tx, after).await?;
    rdb::add_to_days(
        tx,
        after,
        &after.counts().minus(&old_counts),
        Durations::new_in(after.durations(), old_durations),
    )
    .await
}

/// A practice placed in its first ICB: its cases so far count for that ICB from now on, as
/// migration 0022 did for practices that had one. (A practice that moves on to another ICB
/// leaves its cases with the ICB that commissioned them.)
pub async fn practice_joined_icb(tx: &mut Tx<'_>, practice_id: &str, icb_id: &str) -> DbResult<()> {
    let facts = rdb::assign_icb(tx, practice_id, icb_id).await?;
    rdb::add_cells(tx, Rollup::Icb, &icb_day_cells(&facts)).await
}

/// Run at start: when the stored flags and day tables were made with another figure set than
/// this code's (or none: an installation upgraded from before migration 0007), rebuilds them
/// from the facts. Returns whether it did. Safe with several instances starting at once.
pub async fn bring_up_to_date(db: &Db) -> DbResult<bool> {
    let current = Counts::definition();
    if rdb::definition(db.pool()).await?.as_deref() == Some(current.as_str()) {
        return Ok(false);
    }
    rebuild_under_lock(db, Some(&current)).await
}

/// Recomputes every case's flags and both day tables from the facts, with the running code.
pub async fn rebuild(db: &Db) -> DbResult<()> {
    rebuild_under_lock(db, None).await.map(drop)
}

/// The rebuild, in one transaction under the rebuild lock; with `unless_current`, skipped when
/// another instance recorded that figure set while this one waited for the lock.
async fn rebuild_under_lock(db: &Db, unless_current: Option<&str>) -> DbResult<bool> {
    let mut tx = db.begin().await?;
    rdb::lock_for_rebuild(&mut tx).await?;
    if let Some(current) = unless_current {
        if rdb::definition(&mut *tx).await?.as_deref() == Some(current) {
            return Ok(false);
        }
    }
    let started = std::time::Instant::now();
    let cases = rebuild_in(&mut tx).await?;
    rdb::set_definition(&mut tx, &Counts::definition()).await?;
    tx.commit().await?;
    if cases > 0 {
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(cases, seconds, "report figures rebuilt from the case facts");
    }
    Ok(true)
}

/// Returns how many cases it counted.
async fn rebuild_in(tx: &mut Tx<'_>) -> DbResult<usize> {
    let facts = rdb::all_facts(tx).await?;
    let flags: Vec<(&str, i64)> = facts
        .iter()
        .map(|f| (f.case_id.as_str(), f.counts().flags()))
        .collect();
    rdb::save_flags(tx, &flags).await?;
    // One rollup's cells at a time: a national deployment's are millions.
    for rollup in [Rollup::Specialty, Rollup::Practice, Rollup::Icb] {
        let cells = match rollup {
            Rollup::Specialty => day_cells(&facts, |f| &f.specialty),
            Rollup::Practice => day_cells(&facts, |f| &f.practice_id),
            Rollup::Icb => icb_day_cells(&facts),
        };
        rdb::clear_days(tx, rollup).await?;
        rdb::add_cells(tx, rollup, &cells).await?;
    }
    Ok(facts.len())
}
