//! The case from open to close: submit, see, queue, claim, reply, respond. Every view and change
//! is written to the audit trail in the same transaction as the change it records.

use serde_json::json;

use super::notify;
use super::photos::{PhotoBatch, ReadyPhoto};
use super::{FieldError, ServiceError, ServiceResult};
use crate::clock::{utc_date, ISO_DATE};
use crate::db::{self, audit};
use crate::domain::access::{CaseAccess, Principal};
use crate::domain::notifications::Event;
use crate::domain::queue::{self, OnDuty, CLAIM_IDLE_LIMIT_MS};
use crate::domain::reports::CaseEvent;
use crate::domain::{
    topics, working_days, CaseId, CaseStatus, MessageKind, NhsNumber, Outcome, PhotoId, PhotoSize,
    PracticeId, Role, Sex, Urgency,
};
use crate::service::AppState;

pub use crate::db::cases::{CaseRow, MessageRow, PhotoRow};
pub use crate::db::specialties::Specialty;

pub const MAX_HISTORY: usize = 20_000;
pub const MAX_QUESTION: usize = 5_000;
pub const MAX_MESSAGE: usize = 20_000;

/// The text fields of a new case, as typed (validated by [`create`]).
#[derive(Debug, Clone, Default)]
pub struct CaseInput {
    pub specialty: String,
    pub nhs_number: String,
    pub date_of_birth: String,
    pub urgency: String,
    pub history: String,
    pub question: String,
    pub conversion_authorised: String,
    /// NHS administrative gender: male, female, other or unknown; may be left out.
    pub sex: String,
    pub idempotency_key: Option<String>,
}

struct Valid {
    specialty: String,
    nhs_number: NhsNumber,
    date_of_birth: String,
    urgency: Urgency,
    history: String,
    question: String,
    conversion_authorised: bool,
    sex: Option<Sex>,
    /// The specialty's target for this urgency now (reports keep it with the case).
    target_ms: i64,
}

pub(super) fn field(
    field: &'static str,
    code: &'static str,
    message: impl Into<String>,
) -> FieldError {
    FieldError {
        field,
        code,
        message: message.into(),
    }
}

pub(super) fn text(
    errors: &mut Vec<FieldError>,
    name: &'static str,
    label: &str,
    value: &str,
    max: usize,
) -> String {
    let v = value.trim();
    if v.is_empty() {
        errors.push(field(name, "missing_field", format!("Enter the {label}.")));
    } else if let Some(e) = control_characters(name, label, v) {
        errors.push(e);
    } else if v.chars().count() > max {
        errors.push(field(
            name,
            "field_too_long",
            format!("The {label} must be at most {max} characters."),
        ));
    }
    v.to_string()
}

/// Clinical text is lines of words: a NUL or another control character (other than line
/// breaks and tabs) is a corrupted paste or an attack, and PostgreSQL cannot store a NUL.
pub(super) fn control_characters(name: &'static str, label: &str, v: &str) -> Option<FieldError> {
    v.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        .then(|| {
            field(
                name,
                "invalid_characters",
                format!("The {label} contains a control character (such as NUL); remove it and try again."),
            )
        })
}

fn parse_bool(errors: &mut Vec<FieldError>, value: &str) -> bool {
    match value.trim() {
        "" | "false" | "off" | "no" => false,
        "true" | "on" | "yes" => true,
        other => {
            errors.push(field(
                "conversion_authorised",
                "invalid_field",
                format!("conversion_authorised must be true or false, not '{other}'."),
            ));
            false
        }
    }
}

pub(super) fn parse_date_of_birth(
    errors: &mut Vec<FieldError>,
    value: &str,
    now_ms: i64,
) -> String {
    let v = value.trim();
    match time::Date::parse(v, ISO_DATE) {
        Ok(d) => {
            if d > utc_date(now_ms) {
                errors.push(field(
                    "date_of_birth",
                    "invalid_date_of_birth",
                    "The date of birth is in the future.",
                ));
            } else if d.year() < 1890 {
                errors.push(field(
                    "date_of_birth",
                    "invalid_date_of_birth",
                    "The date of birth is too long ago; check the year.",
                ));
            }
        }
        Err(_) if v.is_empty() => errors.push(field(
            "date_of_birth",
            "missing_field",
            "Enter the date of birth.",
        )),
        Err(_) => errors.push(field(
            "date_of_birth",
            "invalid_date_of_birth",
            "Enter the date of birth as YYYY-MM-DD, for example 1984-03-27.",
        )),
    }
    v.to_string()
}

/// The specialty a form names, or a field error saying what is wrong with it (cases, calls).
pub(super) async fn specialty_field(
    state: &AppState,
    errors: &mut Vec<FieldError>,
    value: &str,
) -> ServiceResult<Option<Specialty>> {
    match db::specialties::get(&state.db, value.trim()).await {
        Ok(s) => Ok(Some(s)),
        Err(db::DbError::NotFound) => {
            let message = if value.trim().is_empty() {
                "Choose a specialty.".to_string()
            } else {
                format!("'{}' is not a specialty aghub serves.", value.trim())
            };
            errors.push(field("specialty", "invalid_specialty", message));
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

async fn validate(state: &AppState, input: &CaseInput, photo_count: usize) -> ServiceResult<Valid> {
    let mut errors = Vec::new();
    let specialty = specialty_field(state, &mut errors, &input.specialty).await?;
    let nhs_number = NhsNumber::parse(&input.nhs_number)
        .map_err(|e| errors.push(field("nhs_number", "invalid_nhs_number", e.to_string())))
        .ok();
    let date_of_birth = parse_date_of_birth(&mut errors, &input.date_of_birth, state.now_ms());
    let urgency = input
        .urgency
        .trim()
        .parse::<Urgency>()
        .map_err(|e| errors.push(field("urgency", "invalid_urgency", e.to_string())))
        .ok();
    let history = text(
        &mut errors,
        "history",
        "clinical history",
        &input.history,
        MAX_HISTORY,
    );
    let question = text(
        &mut errors,
        "question",
        "question for the specialist",
        &input.question,
        MAX_QUESTION,
    );
    let conversion_authorised = parse_bool(&mut errors, &input.conversion_authorised);
    let sex = match input.sex.trim() {
        "" => None,
        word => word
            .parse::<Sex>()
            .map_err(|e| errors.push(field("sex", "invalid_sex", e.to_string())))
            .ok(),
    };
    if let Some(s) = &specialty {
        if s.photos_required && photo_count == 0 {
            errors.push(field(
                "photo",
                "photo_required",
                format!("{} needs at least one photo of the problem.", s.name),
            ));
        }
    }
    match (specialty, nhs_number, urgency) {
        (Some(s), Some(nhs_number), Some(urgency)) if errors.is_empty() => Ok(Valid {
            target_ms: queue::target_ms(urgency, s.routine_target_ms, s.urgent_target_ms),
            specialty: s.slug,
            nhs_number,
            date_of_birth,
            urgency,
            history,
            question,
            conversion_authorised,
            sex,
        }),
        _ => Err(ServiceError::Invalid(errors)),
    }
}

pub fn check_idempotency_key(key: &str) -> ServiceResult<()> {
    let ok = !key.is_empty()
        && key.len() <= 100
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ServiceError::Invalid(vec![field(
            "idempotency_key",
            "invalid_idempotency_key",
            "An idempotency key is 1 to 100 letters, digits, '-' or '_'.",
        )]))
    }
}

/// The case this GP already created with this key (a retried submission), if any.
pub async fn existing_submission(
    state: &AppState,
    user: &Principal,
    key: Option<&str>,
) -> ServiceResult<Option<CaseId>> {
    match key {
        Some(k) => Ok(
            db::cases::by_idempotency_key(&state.db, user.user_id.as_str(), k)
                .await?
                .map(CaseId::new),
        ),
        None => Ok(None),
    }
}

pub struct Created {
    pub case_id: CaseId,
    /// False when an earlier submission with the same idempotency key already made this case.
    pub new: bool,
}

/// Creates the case from validated input and already-stored photos. On any failure, or when the
/// submission is a retry, the batch's objects are deleted.
pub async fn create(
    state: &AppState,
    user: &Principal,
    input: CaseInput,
    photos: PhotoBatch,
    case_id: &CaseId,
) -> ServiceResult<Created> {
    let result = create_inner(state, user, &input, &photos, case_id.as_str()).await;
    match result {
        Ok(created) if created.new => Ok(created),
        other => {
            photos.discard().await;
            other
        }
    }
}

async fn create_inner(
    state: &AppState,
    user: &Principal,
    input: &CaseInput,
    photos: &PhotoBatch,
    case_id: &str,
) -> ServiceResult<Created> {
    let Some(practice_id) = user.practice().filter(|_| user.may_submit_cases()) else {
        return Err(ServiceError::Forbidden(
            "Only GPs of a practice can submit cases.".into(),
        ));
    };
    if let Some(k) = &input.idempotency_key {
        check_idempotency_key(k)?;
    }
    let mut v = validate(state, input, photos.photos.len()).await?;
    if let Some(t) = icb_target(state, user.icb_id.as_deref(), &v.specialty, v.urgency).await? {
        v.target_ms = t;
    }
    let now = state.now_ms();
    let mut tx = state.db.begin().await?;
    let inserted = db::cases::insert(
        &mut tx,
        &db::cases::NewCase {
            id: case_id,
            practice_id,
            created_by: user.user_id.as_str(),
            specialty: &v.specialty,
            nhs_number: v.nhs_number.as_str(),
            date_of_birth: &v.date_of_birth,
            urgency: v.urgency,
            history: &v.history,
            question: &v.question,
            conversion_authorised: v.conversion_authorised,
            sex: v.sex,
            idempotency_key: input.idempotency_key.as_deref(),
            now_ms: now,
        },
    )
    .await;
    if let Err(e) = inserted {
        if e.is_unique_violation() {
            drop(tx);
            if let Some(id) =
                existing_submission(state, user, input.idempotency_key.as_deref()).await?
            {
                return Ok(Created {
                    case_id: id,
                    new: false,
                });
            }
        }
        return Err(e.into());
    }
    let ready = photos.settle(&mut tx, user.user_id.as_str(), now).await?;
    insert_photos(&mut tx, case_id, None, &ready, false, now).await?;
    super::case_facts::submitted(
        &mut tx,
        case_id,
        practice_id,
        user.icb_id.as_deref(),
        &v.specialty,
        v.urgency,
        v.target_ms,
        now,
    )
    .await?;
    audit::record(
        &mut *tx,
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: "case.created",
            case_id: Some(case_id),
            detail: Some(json!({ "specialty": v.specialty, "urgency": v.urgency.as_str(), "photos": photos.photos.len() })),
            ..Default::default()
        },
        now,
    )
    .await?;
    if v.urgency == Urgency::Urgent {
        let subject = notify::Subject {
            case_id,
            practice_id,
            specialty: &v.specialty,
            created_by: user.user_id.as_str(),
            answered_by: None,
            holder: None,
            escalated: false,
            // The GP's ICB is their practice's.
            icb_id: user.icb_id.as_deref(),
        };
        notify::announce(&mut tx, state, Event::UrgentQueued, &subject, now).await?;
    }
    tx.commit().await?;
    Ok(Created {
        case_id: CaseId::new(case_id),
        new: true,
    })
}

/// The practice's ICB may set its own target for the specialty (fixed at submission).
async fn icb_target(
    state: &AppState,
    icb_id: Option<&str>,
    specialty: &str,
    urgency: Urgency,
) -> ServiceResult<Option<i64>> {
    let Some(icb) = icb_id else { return Ok(None) };
    Ok(db::organisations::targets(&state.db, icb, specialty)
        .await?
        .map(|t| queue::target_ms(urgency, t.routine_ms, t.urgent_ms)))
}

/// A live call nobody answered becomes a routine written case in its specialty, inside the
/// caller's transaction: the GP's reason is its question, and the history says what happened.
pub(super) async fn open_from_call(
    tx: &mut crate::db::Tx<'_>,
    state: &AppState,
    call: &db::calls::CallRow,
    history: &str,
    now: i64,
) -> ServiceResult<String> {
    let specialty = db::specialties::get(&state.db, &call.specialty).await?;
    let urgency = Urgency::Routine;
    let target_ms =
        match icb_target(state, call.icb_id.as_deref(), &specialty.slug, urgency).await? {
            Some(t) => t,
            None => queue::target_ms(
                urgency,
                specialty.routine_target_ms,
                specialty.urgent_target_ms,
            ),
        };
    let case_id = new_case_id();
    db::cases::insert(
        tx,
        &db::cases::NewCase {
            id: case_id.as_str(),
            practice_id: &call.practice_id,
            created_by: &call.created_by,
            specialty: &call.specialty,
            nhs_number: &call.nhs_number,
            date_of_birth: &call.date_of_birth,
            urgency,
            history,
            question: &call.reason,
            conversion_authorised: false,
            sex: None,
            idempotency_key: None,
            now_ms: now,
        },
    )
    .await?;
    super::case_facts::submitted(
        tx,
        case_id.as_str(),
        &call.practice_id,
        call.icb_id.as_deref(),
        &call.specialty,
        urgency,
        target_ms,
        now,
    )
    .await?;
    audit::record(
        &mut **tx,
        audit::Event {
            action: "case.created",
            case_id: Some(case_id.as_str()),
            subject_id: Some(&call.id),
            detail: Some(json!({ "specialty": call.specialty, "urgency": urgency.as_str(), "photos": 0, "from_call": call.id })),
            ..Default::default()
        },
        now,
    )
    .await?;
    Ok(case_id.as_str().to_string())
}

pub(super) async fn insert_photos(
    tx: &mut crate::db::Tx<'_>,
    case_id: &str,
    message_id: Option<&str>,
    photos: &[ReadyPhoto],
    by_patient: bool,
    now: i64,
) -> ServiceResult<()> {
    let base: i64 = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM photos WHERE case_id = $1")
        .bind(case_id)
        .fetch_one(&mut **tx)
        .await?;
    for (i, p) in photos.iter().enumerate() {
        let warnings =
            serde_json::to_string(&p.warnings).map_err(|e| ServiceError::Internal(e.into()))?;
        db::cases::insert_photo(
            tx,
            &db::cases::NewPhoto {
                id: &p.id,
                case_id,
                message_id,
                position: base + i as i64,
                kind: p.kind,
                body_site: p.body_site.as_deref(),
                warnings_json: &warnings,
                captured_at_ms: p.captured_at_ms,
                objects: &p.objects,
                by_patient,
                now_ms: now,
            },
        )
        .await?;
    }
    Ok(())
}

/// The consultant's duty for this case now: their shifts in its specialty, a local one only
/// when the case's practice is in the ICB of their trust.
async fn duty(
    state: &AppState,
    user: &Principal,
    row: &CaseRow,
    now: i64,
) -> ServiceResult<OnDuty> {
    duty_for(
        state,
        user,
        &row.specialty,
        row.practice_icb_id.as_deref(),
        now,
    )
    .await
}

/// A consultant's duty now in a specialty for a practice of `practice_icb` (cases and calls):
/// a local shift counts only for their own ICB's practices.
pub(super) async fn duty_for(
    state: &AppState,
    user: &Principal,
    specialty: &str,
    practice_icb: Option<&str>,
    now: i64,
) -> ServiceResult<OnDuty> {
    let shifts = db::rotas::current_shifts(&state.db, user.user_id.as_str(), now).await?;
    Ok(queue::on_duty(&shifts, specialty).for_case(user.icb_id.as_deref() == practice_icb))
}

/// Asks `domain::access` whether this user may see this case now, with the facts it needs:
/// for a consultant, whether they held or answered it and which shifts they are on.
async fn may_view(state: &AppState, row: &CaseRow, user: &Principal) -> ServiceResult<bool> {
    let now = state.now_ms();
    let (involved, on_duty) = if user.role == Role::Consultant {
        let me = Some(user.user_id.as_str());
        let involved = row.claimed_by.as_deref() == me
            || row.answered_by.as_deref() == me
            || db::cases::consultant_involved(&state.db, &row.id, user.user_id.as_str()).await?;
        let on_duty = if involved {
            OnDuty::default()
        } else {
            duty(state, user, row, now).await?
        };
        (involved, on_duty)
    } else {
        (false, OnDuty::default())
    };
    Ok(user.may_view_case(CaseAccess {
        practice_id: &row.practice_id,
        specialty: &row.specialty,
        involved,
        on_duty,
        queued_at_ms: row.queued_at_ms,
        escalation_ms: row.escalation_ms,
        now_ms: now,
    }))
}

fn not_found() -> ServiceError {
    ServiceError::NotFound("There is no case with this id that you can see.".into())
}

/// A case id from an address: anything but a UUID names no case, with the same answer as a
/// case the caller may not see.
pub fn case_id(text: &str) -> ServiceResult<CaseId> {
    CaseId::parse(text).ok_or_else(not_found)
}

fn photo_not_found() -> ServiceError {
    ServiceError::NotFound("This case has no photo with this id.".into())
}

/// A photo id from an address (a UUID, or no such photo).
pub fn photo_id(text: &str) -> ServiceResult<PhotoId> {
    PhotoId::parse(text).ok_or_else(photo_not_found)
}

/// Loads a case the user may see, or NotFound (the same answer whether it exists or not).
pub async fn load(state: &AppState, user: &Principal, case_id: &CaseId) -> ServiceResult<CaseRow> {
    match db::cases::get(&state.db, case_id.as_str()).await? {
        Some(row) if may_view(state, &row, user).await? => match row.erased_at_ms {
            Some(at) => Err(ServiceError::Gone {
                code: "record_destroyed",
                message: format!(
                    "This case's record was destroyed on {} under the NHS Records Management Code: nothing about the patient is kept.",
                    crate::uk_time::format(at)
                ),
            }),
            None => Ok(row),
        },
        _ => Err(not_found()),
    }
}

/// Loads a case for viewing, records the view, and keeps the viewer's claim alive.
pub async fn view(state: &AppState, user: &Principal, id: &CaseId) -> ServiceResult<CaseRow> {
    let case_id = id.as_str();
    let row = load(state, user, id).await?;
    let now = state.now_ms();
    if row.claimed_by.as_deref() == Some(user.user_id.as_str()) {
        db::cases::touch_claim(
            &state.db,
            case_id,
            user.user_id.as_str(),
            now,
            now + CLAIM_IDLE_LIMIT_MS,
        )
        .await?;
    }
    // Opening the case is reading what was announced about it.
    let about = crate::domain::notifications::About::Case(case_id.to_string());
    db::notifications::mark_read(&state.db, user.user_id.as_str(), Some(&about), now).await?;
    audit::record(
        state.db.pool(),
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: "case.viewed",
            case_id: Some(case_id),
            ..Default::default()
        },
        now,
    )
    .await?;
    Ok(row)
}

/// The object key and content type of one photo size, after the access check; records the view.
pub async fn photo(
    state: &AppState,
    user: &Principal,
    id: &CaseId,
    photo: &PhotoId,
    size: PhotoSize,
) -> ServiceResult<(String, String)> {
    load(state, user, id).await?;
    let (case_id, photo_id) = (id.as_str(), photo.as_str());
    let found = db::cases::photo_object(&state.db, case_id, photo_id, size).await?;
    let Some(found) = found else {
        return Err(photo_not_found());
    };
    audit::record(
        state.db.pool(),
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: "photo.viewed",
            case_id: Some(case_id),
            subject_id: Some(photo_id),
            detail: Some(json!({ "size": size.as_str() })),
        },
        state.now_ms(),
    )
    .await?;
    Ok(found)
}

/// The photo viewer page of one photo: the case's photos and the position of this one.
/// Recorded like the image itself, since the page is how people look at it.
pub async fn photo_page(
    state: &AppState,
    user: &Principal,
    id: &CaseId,
    photo: &PhotoId,
) -> ServiceResult<(Vec<db::cases::PhotoRow>, usize)> {
    load(state, user, id).await?;
    let (case_id, photo_id) = (id.as_str(), photo.as_str());
    let photos = db::cases::photos(&state.db, case_id).await?;
    let Some(i) = photos.iter().position(|p| p.id == photo_id) else {
        return Err(photo_not_found());
    };
    audit::record(
        state.db.pool(),
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: "photo.page_viewed",
            case_id: Some(case_id),
            subject_id: Some(photo_id),
            ..Default::default()
        },
        state.now_ms(),
    )
    .await?;
    Ok((photos, i))
}

/// A GP's practice's cases, or every case for an admin.
pub async fn list(
    state: &AppState,
    user: &Principal,
    status: Option<&str>,
) -> ServiceResult<Vec<CaseRow>> {
    if !user.may_list_cases() {
        return Err(ServiceError::Forbidden(
            "Only GPs and admins can list cases.".into(),
        ));
    }
    if let Some(s) = status {
        s.parse::<CaseStatus>().map_err(|e| {
            ServiceError::Invalid(vec![field("status", "invalid_status", e.to_string())])
        })?;
    }
    let practice = if user.role == Role::Admin {
        None
    } else {
        user.practice()
    };
    let rows = db::cases::list(&state.db, practice, status, 500).await?;
    record_list(state, user, "cases.listed", &rows).await?;
    Ok(rows)
}

/// A list shows each case's NHS number, so the trail names every case it showed.
async fn record_list(
    state: &AppState,
    user: &Principal,
    action: &str,
    rows: &[CaseRow],
) -> ServiceResult<()> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    audit::record(
        state.db.pool(),
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action,
            detail: Some(json!({ "count": ids.len(), "case_ids": ids })),
            ..Default::default()
        },
        state.now_ms(),
    )
    .await?;
    Ok(())
}

/// A refused attempt to reach a patient route (403 or 404), for the trail: who tried what.
pub async fn record_refusal(
    state: &AppState,
    user: &Principal,
    method: &str,
    path: &str,
    status: u16,
) -> ServiceResult<()> {
    // The case id in the path, when there is one that could be a case.
    let case_id = path
        .split('/')
        .skip_while(|p| *p != "cases")
        .nth(1)
        .filter(|id| uuid::Uuid::parse_str(id).is_ok());
    audit::record(
        state.db.pool(),
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: "access.refused",
            case_id,
            detail: Some(json!({ "method": method, "path": path, "status": status })),
            ..Default::default()
        },
        state.now_ms(),
    )
    .await?;
    Ok(())
}

/// The consultant's queue: what they may claim now.
pub async fn queue(
    state: &AppState,
    user: &Principal,
    specialty: Option<&str>,
) -> ServiceResult<Vec<CaseRow>> {
    if user.role != Role::Consultant {
        return Err(ServiceError::Forbidden(
            "Only consultants have a queue.".into(),
        ));
    }
    if let Some(s) = specialty {
        if !user.may_answer_specialty(s) {
            return Err(ServiceError::Forbidden(format!(
                "You do not answer {s} cases."
            )));
        }
    }
    let now = state.now_ms();
    let shifts = db::rotas::current_shifts(&state.db, user.user_id.as_str(), now).await?;
    let mut windows = queue::queue_windows(&shifts, now);
    windows.retain(|w| specialty.is_none_or(|only| only == w.specialty));
    let rows = db::cases::queue(&state.db, now, user.icb_id.as_deref(), &windows).await?;
    record_list(state, user, "queue.viewed", &rows).await?;
    Ok(rows)
}

/// Whether this consultant is on any rota shift now (the queue page says so when not).
pub async fn on_any_shift(state: &AppState, user: &Principal) -> ServiceResult<bool> {
    let shifts =
        db::rotas::current_shifts(&state.db, user.user_id.as_str(), state.now_ms()).await?;
    Ok(!shifts.is_empty())
}

/// The cases this consultant holds now (shown beside their queue).
pub async fn held(state: &AppState, user: &Principal) -> ServiceResult<Vec<CaseRow>> {
    let rows = db::cases::held_by(&state.db, user.user_id.as_str(), state.now_ms()).await?;
    if !rows.is_empty() {
        record_list(state, user, "held.viewed", &rows).await?;
    }
    Ok(rows)
}

/// Why a compare-and-set failed, in words for the person who tried.
fn explain(row: &CaseRow, user: &Principal, now: i64) -> ServiceError {
    match row.status_at(now) {
        CaseStatus::Closed | CaseStatus::GpToRefer | CaseStatus::Converted => ServiceError::Conflict {
            code: "case_closed",
            message: "This case is closed: it has been answered already.".into(),
        },
        CaseStatus::AwaitingGp => ServiceError::Conflict {
            code: "awaiting_gp",
            message: "This case is waiting for the GP's response.".into(),
        },
        CaseStatus::Claimed if row.claimed_by.as_deref() != Some(user.user_id.as_str()) => ServiceError::Conflict {
            code: "already_claimed",
            message: "Another consultant has claimed this case.".into(),
        },
        _ => ServiceError::Forbidden(
            "You can take this case only while you are on the specialty's rota (the national pool after the escalation window)."
                .into(),
        ),
    }
}

pub async fn claim(state: &AppState, user: &Principal, id: &CaseId) -> ServiceResult<CaseRow> {
    let case_id = id.as_str();
    let row = load(state, user, id).await?;
    if user.role != Role::Consultant {
        return Err(ServiceError::Forbidden(
            "Only consultants can claim cases.".into(),
        ));
    }
    let now = state.now_ms();
    let on_duty = duty(state, user, &row, now).await?;
    let queued_by = queue::takes_cases_queued_by(on_duty, row.escalation_ms, now);
    let mut tx = state.db.begin().await?;
    let claimed = match queued_by {
        Some(queued_by) => {
            let expires = now + CLAIM_IDLE_LIMIT_MS;
            db::cases::claim(
                &mut tx,
                case_id,
                user.user_id.as_str(),
                now,
                expires,
                queued_by,
            )
            .await?
        }
        None => false,
    };
    if !claimed {
        drop(tx);
        // Explain from the case as it is now: another claim may have landed meanwhile.
        let fresh = load(state, user, id).await.unwrap_or(row);
        return Err(explain(&fresh, user, now));
    }
    audit::record(
        &mut *tx,
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: "case.claimed",
            case_id: Some(case_id),
            ..Default::default()
        },
        now,
    )
    .await?;
    tx.commit().await?;
    load(state, user, id).await
}

pub async fn release(state: &AppState, user: &Principal, id: &CaseId) -> ServiceResult<CaseRow> {
    let case_id = id.as_str();
    load(state, user, id).await?;
    let mut tx = state.db.begin().await?;
    if !db::cases::release(&mut tx, case_id, user.user_id.as_str()).await? {
        drop(tx);
        let row = load(state, user, id).await?;
        return Err(ServiceError::Conflict {
            code: "not_claimed_by_you",
            message: explain(&row, user, state.now_ms()).to_string(),
        });
    }
    audit::record(
        &mut *tx,
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: "case.released",
            case_id: Some(case_id),
            ..Default::default()
        },
        state.now_ms(),
    )
    .await?;
    tx.commit().await?;
    load(state, user, id).await
}

/// A consultant's reply as sent.
#[derive(Debug, Clone, Default)]
pub struct ReplyInput {
    pub advice: String,
    pub outcome: String,
    /// Slugs of the case's specialty's active topics, for commissioners' reports.
    pub topics: Vec<String>,
    /// Free text kept with the reply for the case's GP and consultants; never in reports.
    pub other_topic: String,
    /// With `redirect_specialty`: the slug of the specialty the case moves to.
    pub redirect_to: String,
    /// With a referral outcome: the hospital takes the referral on (needs the GP's
    /// authorisation), instead of the GP making it.
    pub convert: bool,
}

/// Whether the reply converts a referral outcome into the referral, checked against the
/// outcome and the GP's authorisation.
fn conversion(row: &CaseRow, outcome: Option<Outcome>, convert: bool) -> Result<bool, FieldError> {
    if !convert {
        return Ok(false);
    }
    if outcome.and_then(Outcome::referral_priority).is_none() {
        return Err(field(
            "convert",
            "convert_without_referral",
            "Only a referral outcome can be converted into a referral.",
        ));
    }
    if !row.conversion_authorised {
        return Err(field(
            "convert",
            "conversion_not_authorised",
            "The GP did not authorise conversion: choose the referral without converting it, and the GP will make it.",
        ));
    }
    Ok(true)
}

/// The specialty a redirect sends the case to, checked against the outcome and the case.
async fn redirect_target(
    state: &AppState,
    row: &CaseRow,
    outcome: Option<Outcome>,
    redirect_to: &str,
) -> ServiceResult<Result<Option<String>, FieldError>> {
    let to = redirect_to.trim();
    let redirecting = outcome == Some(Outcome::RedirectSpecialty);
    if to.is_empty() {
        return Ok(if redirecting {
            Err(field(
                "redirect_to",
                "missing_field",
                "Choose the specialty to send the case to.",
            ))
        } else {
            Ok(None)
        });
    }
    if !redirecting {
        return Ok(Err(field(
            "redirect_to",
            "redirect_without_redirect",
            "A specialty to send the case to goes only with the outcome 'Redirect to another specialty'.",
        )));
    }
    let known = specialties(state).await?.into_iter().any(|s| s.slug == to);
    Ok(if !known {
        Err(field(
            "redirect_to",
            "invalid_specialty",
            format!("'{to}' is not a specialty: choose one from the list."),
        ))
    } else if to == row.specialty {
        Err(field(
            "redirect_to",
            "same_specialty",
            "The case is already with this specialty: choose another one.",
        ))
    } else {
        Ok(Some(to.to_string()))
    })
}

/// The reply's topics → the slugs of the case's specialty's active list, or the field error.
async fn reply_topics(
    state: &AppState,
    specialty: &str,
    given: &[String],
) -> ServiceResult<Result<Vec<String>, FieldError>> {
    let list: Vec<topics::Topic> = db::topics::list(&state.db, specialty)
        .await?
        .iter()
        .map(|t| t.topic())
        .collect();
    Ok(match topics::choose(&list, given) {
        Ok(chosen) => Ok(chosen.into_iter().map(|t| t.slug.clone()).collect()),
        Err(topics::TopicError::TooMany) => Err(field(
            "topics",
            "invalid_topics",
            format!("Tag at most {} topics in one reply.", topics::MAX_TOPICS),
        )),
        Err(topics::TopicError::Unknown(id)) => {
            let shown: String = id.chars().take(60).collect();
            Err(field(
                "topics",
                "unknown_topic",
                format!(
                    "topics: '{shown}' is not on the {specialty} topic list. Choose topics from the list \
                     (GET /api/v1/specialties/{specialty}/topics gives their ids); put anything else in \
                     other_topic, which is not shown in reports."
                ),
            ))
        }
    })
}

/// The consultant's advice and outcome, with topics from the specialty's list for commissioners'
/// reports and an optional free-text other topic that stays with the case.
/// Needs a live claim; closes the case unless the outcome asks the GP for more information or
/// sends the case to another specialty (`redirect_to`).
pub async fn reply(
    state: &AppState,
    user: &Principal,
    id: &CaseId,
    input: &ReplyInput,
) -> ServiceResult<CaseRow> {
    let case_id = id.as_str();
    let row = load(state, user, id).await?;
    let mut errors = Vec::new();
    let advice = text(&mut errors, "advice", "advice", &input.advice, MAX_MESSAGE);
    let outcome = input
        .outcome
        .trim()
        .parse::<Outcome>()
        .map_err(|e| errors.push(field("outcome", "invalid_outcome", e.to_string())))
        .ok();
    let tags = reply_topics(state, &row.specialty, &input.topics)
        .await?
        .map_err(|e| errors.push(e))
        .unwrap_or_default();
    let other_topic = topics::check_other(&input.other_topic)
        .map_err(|m| errors.push(field("other_topic", "field_too_long", m)))
        .unwrap_or_default();
    let redirect_to = redirect_target(state, &row, outcome, &input.redirect_to)
        .await?
        .map_err(|e| errors.push(e))
        .unwrap_or_default();
    let convert = conversion(&row, outcome, input.convert)
        .map_err(|e| errors.push(e))
        .unwrap_or_default();
    let Some(outcome) = outcome.filter(|_| errors.is_empty()) else {
        return Err(ServiceError::Invalid(errors));
    };
    let now = state.now_ms();
    // Reports count the cases the national pool answered: the rota the consultant replies from.
    let pool = duty(state, user, &row, now).await?.pool();
    let mut tx = state.db.begin().await?;
    let new_status = outcome.status_after(convert);
    let referral_due_at_ms = (new_status == CaseStatus::GpToRefer)
        .then(|| outcome.referral_priority())
        .flatten()
        .map(|p| working_days::end_of_working_days_after(now, p.working_days_to_refer()));
    let done = match &redirect_to {
        Some(to) => db::cases::redirect(&mut tx, case_id, user.user_id.as_str(), to, now).await?,
        None => {
            let reply = db::cases::Reply {
                advice: &advice,
                outcome,
                new_status,
                referral_due_at_ms,
            };
            db::cases::reply(&mut tx, case_id, user.user_id.as_str(), &reply, now).await?
        }
    };
    if !done {
        drop(tx);
        let row = load(state, user, id).await?;
        return Err(match explain(&row, user, now) {
            ServiceError::Forbidden(_) => ServiceError::Conflict {
                code: "not_claimed_by_you",
                message: "Claim the case before you reply (or your claim lapsed: claim it again)."
                    .into(),
            },
            other => other,
        });
    }
    db::cases::insert_message(
        &mut tx,
        &db::cases::NewMessage {
            id: &db::new_id(),
            case_id,
            author_id: user.user_id.as_str(),
            kind: MessageKind::Reply,
            body: &advice,
            outcome: Some(outcome),
            other_topic: other_topic.as_deref(),
            now_ms: now,
        },
    )
    .await?;
    db::reports::insert_topics(&mut tx, case_id, &tags, now).await?;
    super::case_facts::apply(
        &mut tx,
        case_id,
        CaseEvent::Replied {
            at_ms: now,
            outcome,
            pool,
            converted: new_status == CaseStatus::Converted,
            referral_due_at_ms,
        },
    )
    .await?;
    audit::record(
        &mut *tx,
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: "case.replied",
            case_id: Some(case_id),
            detail: Some(
                json!({ "outcome": outcome.as_str(), "status": new_status.as_str(), "pool": pool.map(|p| p.as_str()), "topics": tags.len(), "other_topic": other_topic.is_some(), "redirect_to": redirect_to, "referral_due_at_ms": referral_due_at_ms }),
            ),
            ..Default::default()
        },
        now,
    )
    .await?;
    let subject = notify::Subject {
        specialty: redirect_to.as_deref().unwrap_or(&row.specialty),
        answered_by: Some(user.user_id.as_str()),
        holder: None,
        escalated: false,
        ..notify::Subject::of(&row, now)
    };
    let event = Event::of_reply(outcome, new_status == CaseStatus::Converted)
        .or((row.urgency == Urgency::Urgent).then_some(Event::UrgentQueued));
    if let Some(event) = event {
        notify::announce(&mut tx, state, event, &subject, now).await?;
    }
    tx.commit().await?;
    load(state, user, id).await
}

/// The GP's answer to a request for information (text and/or photos): back to the consultant
/// who asked (or the queue), marked "GP replied", keeping the original submission time for
/// turnaround.
pub async fn respond(
    state: &AppState,
    user: &Principal,
    id: &CaseId,
    message: &str,
    photos: PhotoBatch,
) -> ServiceResult<CaseRow> {
    let result = respond_inner(state, user, id, message, &photos).await;
    if result.is_err() {
        photos.discard().await;
    }
    result
}

async fn respond_inner(
    state: &AppState,
    user: &Principal,
    id: &CaseId,
    message: &str,
    photos: &PhotoBatch,
) -> ServiceResult<CaseRow> {
    let case_id = id.as_str();
    let row = load(state, user, id).await?;
    if !user.may_act_as_requester(&row.practice_id) {
        return Err(ServiceError::Forbidden(
            "Only a GP of the case's practice can respond.".into(),
        ));
    }
    let message = message.trim();
    if message.is_empty() && photos.photos.is_empty() {
        return Err(ServiceError::Invalid(vec![field(
            "message",
            "missing_field",
            "Write a response or add a photo.",
        )]));
    }
    if let Some(e) = control_characters("message", "response", message) {
        return Err(ServiceError::Invalid(vec![e]));
    }
    if message.chars().count() > MAX_MESSAGE {
        return Err(ServiceError::Invalid(vec![field(
            "message",
            "field_too_long",
            format!("The response must be at most {MAX_MESSAGE} characters."),
        )]));
    }
    let now = state.now_ms();
    // Back to the consultant who asked, while they are on duty or off it for less than the
    // escalation window (contract 1.1); to the queue otherwise.
    let held = match row.answered_by.as_deref() {
        Some(asker) => {
            let window = row.escalation_ms;
            let shifts =
                db::rotas::duty_in_specialty(&state.db, asker, &row.specialty, now - window)
                    .await?;
            queue::returned_case_held_until(&shifts, window, now).map(|until| (asker, until))
        }
        None => None,
    };
    let mut tx = state.db.begin().await?;
    if !db::cases::return_after_response(&mut tx, case_id, held, now).await? {
        drop(tx);
        return Err(ServiceError::Conflict {
            code: "not_awaiting_gp",
            message: "This case is not waiting for a response from you.".into(),
        });
    }
    let message_id = db::new_id();
    db::cases::insert_message(
        &mut tx,
        &db::cases::NewMessage {
            id: &message_id,
            case_id,
            author_id: user.user_id.as_str(),
            kind: MessageKind::GpResponse,
            body: message,
            outcome: None,
            other_topic: None,
            now_ms: now,
        },
    )
    .await?;
    let ready = photos.settle(&mut tx, user.user_id.as_str(), now).await?;
    insert_photos(&mut tx, case_id, Some(&message_id), &ready, false, now).await?;
    super::case_facts::apply(&mut tx, case_id, CaseEvent::Responded { at_ms: now }).await?;
    audit::record(
        &mut *tx,
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: "case.responded",
            case_id: Some(case_id),
            detail: Some(
                json!({ "photos": photos.photos.len(), "returned_to": held.map(|(asker, _)| asker) }),
            ),
            ..Default::default()
        },
        now,
    )
    .await?;
    // Back to the consultant who asked, or, when they are away, to the queue like a new case.
    let event = match held {
        Some(_) => Some(Event::GpResponded),
        None => (row.urgency == Urgency::Urgent).then_some(Event::UrgentQueued),
    };
    if let Some(event) = event {
        let subject = notify::Subject {
            holder: held.map(|(asker, _)| asker),
            escalated: false,
            ..notify::Subject::of(&row, now)
        };
        notify::announce(&mut tx, state, event, &subject, now).await?;
    }
    tx.commit().await?;
    load(state, user, id).await
}

/// The GP's confirmation of a referral the consultant advised: the day they referred and the
/// e-RS reference (UBRN, 12 digits) when they have it. Closes a `gp_to_refer` case.
pub async fn referral_made(
    state: &AppState,
    user: &Principal,
    id: &CaseId,
    referred_on: &str,
    reference: &str,
) -> ServiceResult<CaseRow> {
    let case_id = id.as_str();
    let row = load(state, user, id).await?;
    if !user.may_act_as_requester(&row.practice_id) {
        return Err(ServiceError::Forbidden(
            "Only a GP of the case's practice can confirm the referral.".into(),
        ));
    }
    let now = state.now_ms();
    let mut errors = Vec::new();
    let advised_on = utc_date(row.answered_at_ms.unwrap_or(row.submitted_at_ms));
    let referred_on = match time::Date::parse(referred_on.trim(), ISO_DATE) {
        Ok(d) if d > utc_date(now) => {
            errors.push(field(
                "referred_on",
                "invalid_date",
                "The referral date is in the future.",
            ));
            None
        }
        Ok(d) if d < advised_on => {
            errors.push(field(
                "referred_on",
                "invalid_date",
                "The referral date is before the consultant advised it.",
            ));
            None
        }
        Ok(d) => d.format(ISO_DATE).ok(),
        Err(_) if referred_on.trim().is_empty() => {
            errors.push(field(
                "referred_on",
                "missing_field",
                "Enter the date you referred.",
            ));
            None
        }
        Err(_) => {
            errors.push(field(
                "referred_on",
                "invalid_date",
                "Enter the date you referred as a real date, for example 1 December 2026.",
            ));
            None
        }
    };
    let reference: String = reference
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    let ubrn = reference.len() == 12 && reference.bytes().all(|b| b.is_ascii_digit());
    if !reference.is_empty() && !ubrn {
        errors.push(field(
            "reference",
            "invalid_reference",
            "The e-RS reference (UBRN) is 12 digits; leave it empty if you do not have it.",
        ));
    }
    let Some(referred_on) = referred_on.filter(|_| errors.is_empty()) else {
        return Err(ServiceError::Invalid(errors));
    };
    let reference = (!reference.is_empty()).then_some(reference);
    let mut tx = state.db.begin().await?;
    let done = db::cases::referral_made(
        &mut tx,
        case_id,
        user.user_id.as_str(),
        &referred_on,
        reference.as_deref(),
        now,
    )
    .await?;
    if !done {
        drop(tx);
        return Err(ServiceError::Conflict {
            code: "not_gp_to_refer",
            message: "This case has no referral waiting for you to make.".into(),
        });
    }
    super::case_facts::apply(&mut tx, case_id, CaseEvent::ReferralMade { at_ms: now }).await?;
    audit::record(
        &mut *tx,
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: "case.referral_made",
            case_id: Some(case_id),
            detail: Some(json!({
                "referred_on": referred_on,
                "reference": reference.is_some(),
                "overdue": row.referral_overdue_at(now),
            })),
            ..Default::default()
        },
        now,
    )
    .await?;
    tx.commit().await?;
    load(state, user, id).await
}

/// A new case's id, made before its photos are stored under it.
pub fn new_case_id() -> CaseId {
    CaseId::new(db::new_id())
}

/// A case's photos and (for a single case) its conversation, for a case the caller has already
/// loaded through [`load`] or [`view`] (so access was checked and recorded there).
pub async fn photos_and_messages(
    state: &AppState,
    row: &CaseRow,
    with_messages: bool,
) -> ServiceResult<(Vec<db::cases::PhotoRow>, Option<Vec<db::cases::MessageRow>>)> {
    let photos = db::cases::photos(&state.db, &row.id).await?;
    let messages = if with_messages {
        Some(db::cases::messages(&state.db, &row.id).await?)
    } else {
        None
    };
    Ok((photos, messages))
}

/// The photos of many listed cases at once (one query per few hundred cases).
pub async fn photos_of_listed(
    state: &AppState,
    rows: &[CaseRow],
) -> ServiceResult<std::collections::HashMap<String, Vec<db::cases::PhotoRow>>> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    Ok(db::cases::photos_of_cases(&state.db, &ids).await?)
}

/// Every specialty aghub serves, with its targets.
pub async fn specialties(state: &AppState) -> ServiceResult<Vec<db::specialties::Specialty>> {
    Ok(db::specialties::list(&state.db).await?)
}

/// Each specialty with who is on duty for it now: the new-case form tells the GP before they
/// send a case that nobody local will see it yet.
pub async fn cover(state: &AppState) -> ServiceResult<Vec<(Specialty, queue::Cover)>> {
    let now = state.now_ms();
    let shifts = db::rotas::live_upcoming(&state.db, now).await?;
    Ok(specialties(state)
        .await?
        .into_iter()
        .map(|s| {
            let of_specialty: Vec<_> = shifts
                .iter()
                .filter(|r| r.specialty == s.slug)
                .map(|r| (r.pool, r.starts_at_ms, r.ends_at_ms))
                .collect();
            let cover = queue::cover(&of_specialty, now);
            (s, cover)
        })
        .collect())
}

/// Every practice (the reports' filters).
pub async fn practices(state: &AppState) -> ServiceResult<Vec<db::practices::Practice>> {
    Ok(db::practices::list(&state.db).await?)
}

/// The practice a GP belongs to, for headings.
pub async fn practice(
    state: &AppState,
    practice_id: &PracticeId,
) -> ServiceResult<Option<db::practices::Practice>> {
    Ok(db::practices::get(&state.db, practice_id.as_str()).await?)
}
