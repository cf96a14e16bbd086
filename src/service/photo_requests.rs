//! Patients send their own photos (issue 16, contract 1.1 `photo-requests`): the GP makes a
//! one-time link for one case; the patient opens it, answers their date of birth, takes each
//! view (checked at once, retaken when it fails), consents, and sends. The photos join the case
//! through the same pipeline as the GP's, marked as the patient's, and the GP is told.

use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::photos::StagedPhoto;
use super::{notify, AppState, FieldError, ServiceError, ServiceResult};
use crate::db::{self, audit, photo_requests::RequestRow};
use crate::domain::access::Principal;
use crate::domain::notifications::{About, Channel, Event};
use crate::domain::photo_requests::{
    link_state, LinkState, DOB_ATTEMPTS, DOB_PAUSE_MS, LINK_TTL_MS, MAX_PHOTOS, MAX_UPLOADS,
    TOKEN_BYTES,
};
use crate::domain::{CaseId, CaseStatus, PhotoKind};

/// A new link, shown to the GP once: the token is not kept.
pub struct Created {
    pub id: String,
    pub url: String,
    pub expires_at_ms: i64,
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn link_url(state: &AppState, token: &str) -> String {
    format!("{}/p/{token}", state.settings.public_url())
}

fn invalid(field: &'static str, code: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::Invalid(vec![FieldError {
        field,
        code,
        message: message.into(),
    }])
}

/// Where the GP sends the link besides showing it: an email address, a UK mobile, both or
/// neither (the QR code in the room).
#[derive(Default)]
pub struct SendTo<'a> {
    pub email: Option<&'a str>,
    pub mobile: Option<&'a str>,
}

/// The GP asks the patient for photos of this case (open, or waiting for the GP); the link
/// also goes where `send_to` says, by email or text message through the outbox.
pub async fn create(
    state: &AppState,
    user: &Principal,
    case_id: &CaseId,
    send_to: SendTo<'_>,
) -> ServiceResult<Created> {
    let row = super::cases::load(state, user, case_id).await?;
    if !user.may_act_as_requester(&row.practice_id) {
        return Err(ServiceError::Forbidden(
            "Only a GP of the case's practice can ask the patient for photos.".into(),
        ));
    }
    let now = state.now_ms();
    if !matches!(
        row.status_at(now),
        CaseStatus::Submitted | CaseStatus::Claimed | CaseStatus::AwaitingGp
    ) {
        return Err(ServiceError::Conflict {
            code: "case_not_open",
            message: "The consultant has answered this case: photos can no longer be added to it."
                .into(),
        });
    }
    fn given(s: Option<&str>) -> Option<&str> {
        s.map(str::trim).filter(|s| !s.is_empty())
    }
    let email = given(send_to.email)
        .map(|a| crate::domain::check_email(a).map_err(|m| invalid("send_to", "invalid_email", m)))
        .transpose()?;
    let mobile = given(send_to.mobile)
        .map(|n| {
            crate::domain::check_uk_mobile(n).map_err(|m| invalid("text_to", "invalid_mobile", m))
        })
        .transpose()?;
    if email.is_some() && state.settings.smtp_url.is_none() {
        return Err(invalid(
            "send_to",
            "email_off",
            "Email is not set up on this aghub service: show the patient the QR code or give them the link.",
        ));
    }
    if mobile.is_some() && state.outbound.texts.is_none() {
        return Err(invalid(
            "text_to",
            "text_off",
            "Text messages are not set up on this aghub service: show the patient the QR code or give them the link.",
        ));
    }
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(rand::random::<[u8; TOKEN_BYTES]>());
    let id = db::new_id();
    let expires_at_ms = now + LINK_TTL_MS;
    let url = link_url(state, &token);
    let mut tx = state.db.begin().await?;
    db::photo_requests::insert(
        &mut tx,
        &db::photo_requests::NewRequest {
            id: &id,
            case_id: &row.id,
            created_by: user.user_id.as_str(),
            token_hash: &hash(&token),
            expires_at_ms,
            max_photos: MAX_PHOTOS,
            now_ms: now,
        },
    )
    .await?;
    let sends = [(Channel::Email, &email), (Channel::Text, &mobile)];
    for (channel, recipient) in sends.iter().filter_map(|(c, r)| Some((*c, r.as_ref()?))) {
        db::outbox::insert(
            &mut tx,
            &db::outbox::NewDelivery {
                channel,
                recipient,
                kind: Event::PhotoLink,
                about: &About::Case(row.id.clone()),
                payload: &json!({
                    "url": url,
                    "practice": row.practice_name,
                    "until": crate::uk_time::format(expires_at_ms),
                }),
                digest: false,
                due_at_ms: now,
            },
            now,
        )
        .await?;
    }
    audit::record(
        &mut *tx,
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: "photo_request.created",
            case_id: Some(&row.id),
            subject_id: Some(&id),
            detail: Some(json!({
                "emailed": email.is_some(),
                "texted": mobile.is_some(),
                "expires_at_ms": expires_at_ms,
            })),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    state.outbox_wake.notify_waiters();
    Ok(Created {
        id,
        url,
        expires_at_ms,
    })
}

/// The GP revokes a link (the same people who may make one).
pub async fn revoke(state: &AppState, user: &Principal, id: &str) -> ServiceResult<()> {
    let not_found = || {
        ServiceError::NotFound("There is no photo request with this id that you can see.".into())
    };
    let request = db::photo_requests::get(&state.db, id)
        .await?
        .ok_or_else(not_found)?;
    let case = super::cases::load(state, user, &CaseId::new(&request.case_id))
        .await
        .map_err(|_| not_found())?;
    if !user.may_act_as_requester(&case.practice_id) {
        return Err(not_found());
    }
    let now = state.now_ms();
    let mut tx = state.db.begin().await?;
    if !db::photo_requests::revoke(&mut tx, id, now).await? {
        return Err(ServiceError::Conflict {
            code: "not_open",
            message: "This link was already revoked, or the patient has sent their photos.".into(),
        });
    }
    audit::record(
        &mut *tx,
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: "photo_request.revoked",
            case_id: Some(&request.case_id),
            subject_id: Some(id),
            detail: None,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The links made for a case, for the case page.
pub async fn of_case(state: &AppState, case_id: &str) -> ServiceResult<Vec<RequestRow>> {
    Ok(db::photo_requests::of_case(&state.db, case_id).await?)
}

/// An open link, found by its token. Anything else is refused with a page that says why; each
/// refusal is audited.
pub async fn open(state: &AppState, token: &str) -> ServiceResult<RequestRow> {
    let well_formed = token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let found = if well_formed {
        db::photo_requests::by_token_hash(&state.db, &hash(token)).await?
    } else {
        None
    };
    let now = state.now_ms();
    let Some(request) = found else {
        record(
            state,
            None,
            "photo_request.refused",
            json!({ "why": "unknown" }),
        )
        .await?;
        return Err(ServiceError::NotFound(
            "This link does not work. Check that you opened the whole link, or ask your GP surgery for a new one."
                .into(),
        ));
    };
    let refusal = match link_state(
        request.expires_at_ms,
        request.revoked_at_ms,
        request.sent_at_ms,
        now,
    ) {
        LinkState::Open => return Ok(request),
        LinkState::Expired => (
            "link_expired",
            "This link has expired. Ask your GP surgery for a new one if they still need photos.",
        ),
        LinkState::Revoked => (
            "link_revoked",
            "Your GP surgery has cancelled this link. Ask them for a new one if they still need photos.",
        ),
        LinkState::Sent => (
            "link_used",
            "You have already sent your photos with this link. Thank you: there is nothing more to do.",
        ),
    };
    record(
        state,
        Some(&request),
        "photo_request.refused",
        json!({ "why": refusal.0 }),
    )
    .await?;
    Err(ServiceError::Gone {
        code: refusal.0,
        message: refusal.1.into(),
    })
}

async fn record(
    state: &AppState,
    request: Option<&RequestRow>,
    action: &str,
    detail: serde_json::Value,
) -> ServiceResult<()> {
    audit::record(
        state.db.pool(),
        audit::Event {
            actor_id: None,
            action,
            case_id: request.map(|r| r.case_id.as_str()),
            subject_id: request.map(|r| r.id.as_str()),
            detail: Some(detail),
        },
        state.now_ms(),
    )
    .await?;
    Ok(())
}

/// The patient's answer to "your date of birth" (YYYY-MM-DD). Wrong answers are counted; after
/// [`DOB_ATTEMPTS`] the link pauses for [`DOB_PAUSE_MS`].
pub async fn check_date_of_birth(
    state: &AppState,
    request: &RequestRow,
    answer: Option<&str>,
) -> ServiceResult<()> {
    let now = state.now_ms();
    if let Some(until) = request.paused_until_ms.filter(|u| *u > now) {
        let minutes = (until - now + 59_999) / 60_000;
        record(
            state,
            Some(request),
            "photo_request.refused",
            json!({ "why": "paused" }),
        )
        .await?;
        return Err(ServiceError::Paused {
            message: format!(
                "Too many dates of birth did not match, so this link is paused. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            ),
        });
    }
    let Some(answer) = answer else {
        return Err(invalid(
            "date_of_birth",
            "invalid_date",
            "Enter your date of birth as a real date, for example 27 3 1984.",
        ));
    };
    if answer == request.date_of_birth {
        db::photo_requests::dob_passed(&state.db, &request.id).await?;
        record(state, Some(request), "photo_request.opened", json!({})).await?;
        return Ok(());
    }
    let failures =
        db::photo_requests::dob_failed(&state.db, &request.id, DOB_ATTEMPTS, now + DOB_PAUSE_MS)
            .await?;
    record(
        state,
        Some(request),
        "photo_request.dob_refused",
        json!({ "failures": failures }),
    )
    .await?;
    if failures >= DOB_ATTEMPTS {
        return Err(ServiceError::Paused {
            message: format!(
                "That date of birth does not match either. The link is paused for {} minutes.",
                DOB_PAUSE_MS / 60_000
            ),
        });
    }
    Err(invalid(
        "date_of_birth",
        "date_of_birth_mismatch",
        format!(
            "That date of birth does not match what your GP surgery has. Check it and try again ({} tries left).",
            DOB_ATTEMPTS - failures
        ),
    ))
}

/// One photo the patient took: cleaned and checked like the GP's; kept at once when it passes
/// its checks, otherwise waiting for the patient to retake it or keep it anyway.
pub async fn upload(
    state: &AppState,
    request: &RequestRow,
    kind: Option<PhotoKind>,
    original: Vec<u8>,
) -> ServiceResult<StagedPhoto> {
    let kept = db::staged_photos::of_request(&state.db, &request.id)
        .await?
        .iter()
        .filter(|p| p.kept)
        .count() as i64;
    if kept >= request.max_photos {
        return Err(ServiceError::TooManyPhotos(format!(
            "You have added {} photos, which is all this link takes. Send them, or remove one first.",
            request.max_photos
        )));
    }
    if !db::photo_requests::count_upload(&state.db, &request.id, MAX_UPLOADS).await? {
        return Err(ServiceError::TooManyPhotos(
            "This link has taken all the photos it can. Send the ones you have, or ask your GP surgery for a new link."
                .into(),
        ));
    }
    super::photos::stage_as(
        state,
        &request.created_by,
        original,
        request.expires_at_ms,
        Some((&request.id, kind)),
    )
    .await
}

/// The patient's photos so far, oldest first.
pub async fn photos(
    state: &AppState,
    request: &RequestRow,
) -> ServiceResult<Vec<db::staged_photos::StagedRow>> {
    Ok(db::staged_photos::of_request(&state.db, &request.id).await?)
}

/// The patient keeps a photo that failed its check: the consultant sees it marked as failing.
pub async fn keep(state: &AppState, request: &RequestRow, photo_id: &str) -> ServiceResult<()> {
    if !db::staged_photos::keep(&state.db, photo_id, &request.id).await? {
        return Err(ServiceError::NotFound(
            "There is no such photo on this link.".into(),
        ));
    }
    record(
        state,
        Some(request),
        "photo_request.kept_failing_photo",
        json!({ "photo": photo_id }),
    )
    .await
}

/// The patient retakes (removes) a photo.
pub async fn remove(state: &AppState, request: &RequestRow, photo_id: &str) -> ServiceResult<()> {
    let keys = db::staged_photos::remove_of_request(&state.db, photo_id, &request.id).await?;
    if keys.is_empty() {
        return Err(ServiceError::NotFound(
            "There is no such photo on this link.".into(),
        ));
    }
    super::photos::delete_stored(state, keys).await;
    Ok(())
}

/// One stored size of a photo on this link (the patient's page shows their own).
pub async fn photo_object(
    state: &AppState,
    request: &RequestRow,
    photo_id: &str,
) -> ServiceResult<(String, String)> {
    db::staged_photos::of_request(&state.db, &request.id)
        .await?
        .into_iter()
        .find(|p| p.id == photo_id)
        .and_then(|p| {
            p.objects
                .into_iter()
                .find(|o| o.size == crate::domain::PhotoSize::Thumb)
                .map(|o| (o.key, o.content_type))
        })
        .ok_or_else(|| ServiceError::NotFound("There is no such photo on this link.".into()))
}

/// The patient consents and sends: their kept photos join the case, marked as theirs, the
/// link is used up, and the GP is told. Returns how many photos were sent.
pub async fn send(state: &AppState, request: &RequestRow, consent: bool) -> ServiceResult<usize> {
    if !consent {
        return Err(invalid(
            "consent",
            "consent_required",
            "Tick the box to say you agree, or close this page if you do not.",
        ));
    }
    let now = state.now_ms();
    let case = db::cases::get(&state.db, &request.case_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound("The case is gone.".into()))?;
    let mut tx = state.db.begin().await?;
    if !db::photo_requests::mark_sent(&mut tx, &request.id, now).await? {
        drop(tx);
        return Err(ServiceError::Gone {
            code: "link_used",
            message: "These photos have already been sent, or the link has closed.".into(),
        });
    }
    let staged = db::staged_photos::take_kept_of_request(&mut tx, &request.id).await?;
    if staged.is_empty() {
        drop(tx);
        return Err(invalid(
            "photos",
            "no_photos",
            "Take at least one photo before you send.",
        ));
    }
    let mut ready = Vec::with_capacity(staged.len());
    for s in staged {
        let mut p = super::photos::ReadyPhoto {
            id: db::new_id(),
            staged_id: Some(s.id.clone()),
            kind: s.kind,
            body_site: None,
            warnings: Vec::new(),
            captured_at_ms: None,
            objects: Vec::new(),
        };
        super::photos::adopt_staged(&mut tx, &mut p, s).await?;
        ready.push(p);
    }
    super::cases::insert_photos(&mut tx, &request.case_id, None, &ready, true, now).await?;
    notify::announce(
        &mut tx,
        state,
        Event::PatientPhotos,
        &notify::Subject {
            created_by: &request.created_by,
            ..notify::Subject::of(&case, now)
        },
        now,
    )
    .await?;
    audit::record(
        &mut *tx,
        audit::Event {
            actor_id: None,
            action: "photo_request.sent",
            case_id: Some(&request.case_id),
            subject_id: Some(&request.id),
            detail: Some(json!({
                "photos": ready.len(),
                "failing_checks": ready.iter().filter(|p| !p.warnings.is_empty()).count(),
                "consent_at_ms": now,
            })),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(ready.len())
}
