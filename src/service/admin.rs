//! The operator's use cases. The admin pages and the command line both call these, so each
//! change is checked once and audited once, in the same transaction as the change.

use serde_json::json;

use super::{record_change, Actor, FieldError, ServiceError, ServiceResult};
use crate::db::{self, audit, Db};
use crate::domain::queue::Pool;
use crate::service::AppState;

pub use crate::db::rotas::Shift;
pub use crate::db::specialties::Specialty;
pub use crate::db::users::Consultant;

#[derive(Debug, Clone, Copy)]
pub struct NewShift<'a> {
    pub consultant_id: &'a str,
    pub specialty: &'a str,
    pub pool: Pool,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
}

/// Puts a consultant on a specialty's rota for a while.
pub async fn add_shift(
    db: &Db,
    actor: Actor<'_>,
    shift: NewShift<'_>,
    now_ms: i64,
) -> ServiceResult<String> {
    let mut errors = Vec::new();
    let consultant = db::users::principal(db, shift.consultant_id).await?;
    if !consultant.is_some_and(|c| c.may_answer_specialty(shift.specialty)) {
        errors.push(FieldError {
            field: "consultant",
            code: "invalid_consultant",
            message: "Choose a consultant and one of their specialties.".into(),
        });
    }
    if shift.ends_at_ms <= shift.starts_at_ms {
        errors.push(FieldError {
            field: "to",
            code: "invalid_shift",
            message: "The shift must end after it starts.".into(),
        });
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let mut tx = db.pool().begin().await?;
    let id = db::rotas::insert_in(
        &mut tx,
        shift.consultant_id,
        shift.specialty,
        shift.pool,
        shift.starts_at_ms,
        shift.ends_at_ms,
        now_ms,
    )
    .await?;
    let detail = json!({
        "consultant": shift.consultant_id,
        "specialty": shift.specialty,
        "pool": shift.pool.as_str(),
    });
    record_change(&mut tx, actor, "rota.shift_added", &id, detail, now_ms).await?;
    tx.commit().await?;
    Ok(id)
}

fn no_such_shift() -> ServiceError {
    ServiceError::NotFound("There is no current or future shift with this id.".into())
}

/// Moves a current or future shift's start and end (audited with the times before and after).
pub async fn change_shift(
    db: &Db,
    actor: Actor<'_>,
    id: &str,
    starts_at_ms: i64,
    ends_at_ms: i64,
    now_ms: i64,
) -> ServiceResult<()> {
    if ends_at_ms <= starts_at_ms {
        return Err(ServiceError::Invalid(vec![FieldError {
            field: "to",
            code: "invalid_shift",
            message: "The shift must end after it starts.".into(),
        }]));
    }
    let mut tx = db.pool().begin().await?;
    let shift = db::rotas::unended_in(&mut tx, id, now_ms)
        .await?
        .ok_or_else(no_such_shift)?;
    db::rotas::set_times_in(&mut tx, id, starts_at_ms, ends_at_ms).await?;
    let detail = json!({
        "consultant": shift.user_id,
        "specialty": shift.specialty,
        "from": [shift.starts_at_ms, starts_at_ms],
        "to": [shift.ends_at_ms, ends_at_ms],
    });
    record_change(&mut tx, actor, "rota.shift_changed", id, detail, now_ms).await?;
    tx.commit().await?;
    Ok(())
}

/// Takes a current or future shift off the rota (audited with what it was).
pub async fn remove_shift(db: &Db, actor: Actor<'_>, id: &str, now_ms: i64) -> ServiceResult<()> {
    let mut tx = db.pool().begin().await?;
    let shift = db::rotas::unended_in(&mut tx, id, now_ms)
        .await?
        .ok_or_else(no_such_shift)?;
    db::rotas::delete_in(&mut tx, id).await?;
    let detail = json!({
        "consultant": shift.user_id,
        "specialty": shift.specialty,
        "pool": shift.pool.as_str(),
        "from": shift.starts_at_ms,
        "to": shift.ends_at_ms,
    });
    record_change(&mut tx, actor, "rota.shift_removed", id, detail, now_ms).await?;
    tx.commit().await?;
    Ok(())
}

/// Shifts of one specialty that have not ended yet, soonest first.
pub async fn upcoming_shifts(db: &Db, specialty: &str, now_ms: i64) -> ServiceResult<Vec<Shift>> {
    Ok(db::rotas::upcoming(db, specialty, now_ms).await?)
}

/// Changes a specialty's response targets and escalation window.
pub async fn save_targets(
    db: &Db,
    actor: Actor<'_>,
    slug: &str,
    routine_target_ms: i64,
    urgent_target_ms: i64,
    escalation_ms: i64,
    now_ms: i64,
) -> ServiceResult<()> {
    let mut tx = db.pool().begin().await?;
    db::specialties::update_targets(
        &mut tx,
        slug,
        routine_target_ms,
        urgent_target_ms,
        escalation_ms,
    )
    .await?;
    let detail = json!({ "routine_ms": routine_target_ms, "urgent_ms": urgent_target_ms, "escalation_ms": escalation_ms });
    record_change(
        &mut tx,
        actor,
        "specialty.targets_changed",
        slug,
        detail,
        now_ms,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What the admin page shows: consultants with their specialties, every specialty with its
/// targets, and every shift that has not ended (with its specialty's name).
pub struct Overview {
    pub consultants: Vec<Consultant>,
    pub specialties: Vec<Specialty>,
    pub shifts: Vec<(String, Shift)>,
}

pub async fn overview(state: &AppState) -> ServiceResult<Overview> {
    let consultants = db::users::consultants(&state.db).await?;
    let specialties = db::specialties::list(&state.db).await?;
    let shifts = db::rotas::upcoming_all(&state.db, state.now_ms())
        .await?
        .into_iter()
        .map(|shift| {
            let name = specialties
                .iter()
                .find(|s| s.slug == shift.specialty)
                .map_or_else(|| shift.specialty.clone(), |s| s.name.clone());
            (name, shift)
        })
        .collect();
    Ok(Overview {
        consultants,
        specialties,
        shifts,
    })
}

/// The consultants eligible for a shift (the admin form's choices).
pub async fn consultants(db: &Db) -> ServiceResult<Vec<Consultant>> {
    Ok(db::users::consultants(db).await?)
}

/// The latest audit events, newest first (admins only).
pub async fn recent_audit(
    state: &AppState,
    user: &crate::domain::access::Principal,
    limit: i64,
) -> ServiceResult<Vec<audit::Recorded>> {
    if !user.may_administer() {
        return Err(ServiceError::Forbidden(
            "Only admins can read the audit trail.".into(),
        ));
    }
    Ok(audit::recent(&state.db, limit).await?)
}
