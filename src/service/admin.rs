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
    let mut tx = db.begin().await?;
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
    let mut tx = db.begin().await?;
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
    let mut tx = db.begin().await?;
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
    let mut tx = db.begin().await?;
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

/// What an admin asked of the audit trail, as given (`from`, `to`: YYYY-MM-DD, UTC days,
/// both included; `user`: an email).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuditQuery {
    pub nhs_number: Option<String>,
    pub user: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// The most events one search returns (the page shows them; the CSV export has them all).
pub const AUDIT_SEARCH_LIMIT: i64 = 10_000;

/// Who viewed or changed what, filtered by patient, person and period (admins only); the
/// search itself is audited.
pub async fn audit_trail(
    state: &AppState,
    user: &crate::domain::access::Principal,
    q: &AuditQuery,
) -> ServiceResult<Vec<audit::Found>> {
    if !user.may_administer() {
        return Err(ServiceError::Forbidden(
            "Only admins can read the audit trail.".into(),
        ));
    }
    fn given(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }
    let mut errors = Vec::new();
    let invalid = |field: &'static str, code: &'static str, message: String| FieldError {
        field,
        code,
        message,
    };
    let nhs = match given(&q.nhs_number).map(crate::domain::NhsNumber::parse) {
        Some(Ok(n)) => Some(n),
        Some(Err(e)) => {
            errors.push(invalid("nhs_number", "invalid_nhs_number", e.to_string()));
            None
        }
        None => None,
    };
    let actor = match given(&q.user) {
        Some(email) => match db::users::id_by_email(&state.db, email).await {
            Ok(id) => Some(id),
            Err(db::DbError::NotFound) => {
                errors.push(invalid(
                    "user",
                    "unknown_user",
                    format!("There is no user with the email {email}."),
                ));
                None
            }
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let mut day = |field: &'static str, v: Option<&str>, end: bool| -> Option<i64> {
        let v = v?;
        match time::Date::parse(v, crate::clock::ISO_DATE) {
            Ok(d) => {
                let d = if end { d.next_day()? } else { d };
                Some(d.midnight().assume_utc().unix_timestamp() * 1000)
            }
            Err(_) => {
                errors.push(invalid(
                    field,
                    "invalid_date",
                    format!("Give the {field} date as YYYY-MM-DD, for example 2026-11-01."),
                ));
                None
            }
        }
    };
    let from_ms = day("from", given(&q.from), false);
    let to_ms = day("to", given(&q.to), true);
    if let (Some(f), Some(t)) = (from_ms, to_ms) {
        if t <= f {
            errors.push(invalid(
                "to",
                "invalid_period",
                "The 'to' date is before the 'from' date.".into(),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let record_ids = match &nhs {
        Some(n) => {
            let mut ids = db::cases::ids_of_patient(&state.db, n.as_str()).await?;
            ids.extend(db::calls::ids_of_patient(&state.db, n.as_str()).await?);
            Some(ids)
        }
        None => None,
    };
    let found = audit::search(
        &state.db,
        &audit::Search {
            record_ids: record_ids.as_deref(),
            actor_id: actor.as_deref(),
            from_ms,
            to_ms,
            limit: AUDIT_SEARCH_LIMIT,
        },
    )
    .await?;
    audit::record(
        state.db.pool(),
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: "audit.viewed",
            detail: Some(json!({
                "patient_records": record_ids.as_ref().map(Vec::len),
                "user": actor,
                "from": given(&q.from),
                "to": given(&q.to),
                "events": found.len(),
            })),
            ..Default::default()
        },
        state.now_ms(),
    )
    .await?;
    Ok(found)
}

/// The audit events as CSV (UK times), for an admin's export.
pub fn audit_csv(found: &[audit::Found]) -> String {
    use super::reports::{csv_field, BOM};
    let mut out = format!("{BOM}Time (UK),Who,Action,Case,Subject,Detail\r\n");
    for f in found {
        let e = &f.event;
        let cells = [
            crate::uk_time::format(e.at_ms),
            f.actor_email
                .clone()
                .unwrap_or_else(|| e.actor_id.clone().unwrap_or_else(|| "aghub".into())),
            e.action.clone(),
            e.case_id.clone().unwrap_or_default(),
            e.subject_id.clone().unwrap_or_default(),
            e.detail
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        ];
        out.push_str(
            &cells
                .iter()
                .map(|c| csv_field(c))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    out
}
