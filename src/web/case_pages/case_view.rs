//! A case's page and its photo pages.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use serde::Deserialize;
use tower_sessions::Session;

use super::{
    patient_age_and_sex, photo_slots, specialty_name, specialty_names, status_tag, PhotoSlot,
};
use crate::domain::access::Principal;
use crate::domain::queue::{describe_time_left, due_at_ms};
use crate::domain::{CaseId, CaseStatus, NhsNumber, Outcome, PhotoKind, Role, Urgency};
use crate::service::photos::{self, StagedChoice};
use crate::service::AppState;
use crate::service::{cases, FieldError};
use crate::web::auth::CurrentUser;
use crate::web::error::AppResult;
use crate::web::templates::{render, Layout};
use crate::web::uk_time;

struct CaseView {
    id: String,
    short_id: String,
    specialty: String,
    status: &'static str,
    status_label: &'static str,
    /// The NHS.UK tag colour of the status.
    colour: &'static str,
    /// Shown to consultants: the GP answered their request for information.
    gp_replied: bool,
    nhs_number: String,
    date_of_birth: String,
    practice: String,
    urgent: bool,
    submitted: String,
    time_left: String,
    /// Whether the GP authorised converting the request into a referral, in words.
    conversion: &'static str,
    outcome_label: Option<&'static str>,
    two_week_wait: bool,
    /// "Request for information" for a request, "Advice" otherwise.
    advice_heading: &'static str,
    advice: String,
    history: String,
    question: String,
}

/// A referral the consultant advised, as the case page shows it.
struct ReferralView {
    priority: &'static str,
    /// The GP still has to make it (and, for the GP of the practice, confirm it here).
    gp_to_refer: bool,
    converted: bool,
    /// "Tuesday 1 December 2026": the last working day to make it.
    due: String,
    overdue: bool,
    converted_at: String,
    /// Once the GP confirmed: "1 December 2026", and the UBRN as 4 4 4.
    referred_on: Option<String>,
    reference: Option<String>,
}

/// What the GP typed in the "referral made" form, kept when it needs fixing.
#[derive(Default)]
pub(super) struct ReferralDraft {
    pub(super) day: String,
    pub(super) month: String,
    pub(super) year: String,
    pub(super) reference: String,
}

struct PhotoView {
    id: String,
    caption: String,
    width: i64,
    height: i64,
    warnings: Vec<&'static str>,
    /// The photo shown beside it in the consultant's larger view: the site view for the
    /// close-up, and the other way round.
    pair: Option<String>,
    /// Shown in the consultant's larger view when the page opens.
    preview: bool,
}

struct MessageView {
    kind: &'static str,
    author: String,
    at: String,
    outcome: Option<&'static str>,
    body: String,
    other_topic: Option<String>,
}

/// One checkbox of the reply form's topic list.
struct TopicChoice {
    slug: String,
    label: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "case_page.html")]
struct CasePage {
    layout: Layout,
    c: CaseView,
    photos: Vec<PhotoView>,
    messages: Vec<MessageView>,
    just_submitted: bool,
    just_claimed: bool,
    errors: Vec<FieldError>,
    advice_draft: String,
    topic_choices: Vec<TopicChoice>,
    other_topic_draft: String,
    response_draft: String,
    can_claim: bool,
    can_reply: bool,
    can_respond: bool,
    /// The response form's photo inputs.
    photo_slots: Vec<PhotoSlot>,
    photo_prefix: &'static str,
    referral: Option<ReferralView>,
    can_confirm_referral: bool,
    /// "Download letter": once a consultant has replied, for the practice's GPs and consultants.
    letter_href: Option<String>,
    referral_draft: ReferralDraft,
    /// The GP authorised conversion, so the reply form offers it.
    can_convert: bool,
    outcomes: Vec<(&'static str, &'static str)>,
    /// The other specialties a redirect may send the case to: (slug, name).
    redirect_choices: Vec<(String, String)>,
    back_href: &'static str,
    back_label: &'static str,
    /// The GP may ask the patient for photos (the case is open or waiting for them).
    can_request_photos: bool,
    photo_links: Vec<LinkView>,
}

fn caption(kind: Option<PhotoKind>, site: Option<&str>, by_patient: bool) -> String {
    let kind = kind.map_or("Photo", PhotoKind::label);
    let caption = match site {
        Some(s) => format!("{kind}, {s}"),
        None => kind.to_string(),
    };
    if by_patient {
        format!("{caption} (taken by the patient)")
    } else {
        caption
    }
}

/// A patient's photo link, as the GP sees it on the case.
struct LinkView {
    id: String,
    made: String,
    until: String,
    state: &'static str,
    open: bool,
}

#[derive(Deserialize)]
pub struct CaseQuery {
    submitted: Option<String>,
    claimed: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<CaseQuery>,
) -> AppResult<Html<String>> {
    let id = cases::case_id(&id)?;
    let notices = Notices {
        submitted: q.submitted.is_some(),
        claimed: q.claimed.is_some(),
        ..Default::default()
    };
    case_page(&state, &session, &user, &id, notices).await
}

/// One-off messages on the case page: after submitting or claiming, or a reply that needs fixing.
#[derive(Default)]
pub(super) struct Notices {
    pub(super) submitted: bool,
    pub(super) claimed: bool,
    pub(super) errors: Vec<FieldError>,
    pub(super) advice_draft: String,
    /// Topic slugs ticked in a reply that needs fixing.
    pub(super) topics_draft: Vec<String>,
    pub(super) other_topic_draft: String,
    /// The GP's response that needs fixing, and the photos it had uploaded ahead.
    pub(super) response_draft: String,
    pub(super) response_staged: Vec<StagedChoice>,
    pub(super) referral_draft: ReferralDraft,
}

pub(super) async fn case_page(
    state: &AppState,
    session: &Session,
    user: &Principal,
    id: &CaseId,
    notices: Notices,
) -> AppResult<Html<String>> {
    let row = cases::view(state, user, id).await?;
    let now = state.now_ms();
    let names = specialty_names(state).await?;
    let status = row.status_at(now);
    let outcome = row.outcome;
    let urgency = row.urgency;
    let due = due_at_ms(
        row.submitted_at_ms,
        urgency,
        row.routine_target_ms,
        row.urgent_target_ms,
    );
    let (photos, messages) = cases::photos_and_messages(state, &row, true).await?;
    // A site view and a close-up (the first of each) are looked at together, side by side.
    let first_of = |kind| {
        photos
            .iter()
            .find(|p| p.kind == Some(kind))
            .map(|p| p.id.clone())
    };
    let pair = first_of(PhotoKind::Site).zip(first_of(PhotoKind::CloseUp));
    let photos = photos
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let codes: Vec<String> = serde_json::from_str(&p.warnings).unwrap_or_default();
            let other = pair.as_ref().and_then(|(site, close_up)| {
                if p.id == *site {
                    Some(close_up.clone())
                } else if p.id == *close_up {
                    Some(site.clone())
                } else {
                    None
                }
            });
            PhotoView {
                // The pair when there is one, else the first photo.
                preview: other.is_some() || (pair.is_none() && i == 0),
                pair: other,
                caption: caption(p.kind, p.body_site.as_deref(), p.by_patient),
                id: p.id,
                width: p.width,
                height: p.height,
                warnings: codes
                    .iter()
                    .map(|c| crate::web::photo_check::warning_message(c))
                    .collect(),
            }
        })
        .collect();
    let answered = messages
        .iter()
        .flatten()
        .any(|m| m.kind == crate::domain::MessageKind::Reply);
    let messages = messages
        .unwrap_or_default()
        .into_iter()
        .map(|m| MessageView {
            kind: m.kind.as_str(),
            author: m.author_name,
            at: uk_time::format(m.created_at_ms),
            outcome: m.outcome.map(Outcome::label),
            body: m.body,
            other_topic: m.other_topic,
        })
        .collect();
    let holds =
        status == CaseStatus::Claimed && row.claimed_by.as_deref() == Some(user.user_id.as_str());
    let is_consultant = user.role == Role::Consultant && user.may_answer_specialty(&row.specialty);
    let topic_choices = if holds {
        crate::service::topics::list(state, &row.specialty)
            .await?
            .into_iter()
            .filter(|t| t.retired_at_ms.is_none())
            .map(|t| TopicChoice {
                checked: notices.topics_draft.contains(&t.slug),
                slug: t.slug,
                label: t.label,
            })
            .collect()
    } else {
        Vec::new()
    };
    let (tag, tag_label) = status_tag(status, outcome, user.role);
    let c = CaseView {
        short_id: row.short_id(),
        specialty: specialty_name(&names, &row.specialty),
        status: tag,
        status_label: tag_label,
        colour: super::tag_colour(tag),
        gp_replied: row.gp_responded_at_ms.is_some() && user.role != Role::Gp,
        nhs_number: NhsNumber::format_stored(&row.nhs_number),
        date_of_birth: patient_age_and_sex(&row, now),
        practice: format!("{} ({})", row.practice_name, row.practice_ods),
        urgent: urgency == Urgency::Urgent,
        submitted: uk_time::format(row.submitted_at_ms),
        time_left: if !matches!(
            status,
            CaseStatus::Submitted | CaseStatus::Claimed | CaseStatus::AwaitingGp
        ) {
            "answered".into()
        } else {
            describe_time_left(due, now)
        },
        conversion: match (row.conversion_authorised, outcome) {
            (true, _) => "Authorised by the GP",
            (false, Some(o)) if o.referral_priority().is_some() => {
                "Not authorised: the GP makes the referral"
            }
            (false, _) => "Not authorised (advice only)",
        },
        outcome_label: outcome.map(|o| o.label()),
        two_week_wait: outcome == Some(Outcome::ReferTwoWeekWait)
            && status == CaseStatus::GpToRefer,
        advice_heading: if outcome == Some(Outcome::RequestInformation) {
            "Request for information"
        } else {
            "Advice"
        },
        advice: row.advice.clone().unwrap_or_default(),
        history: row.history.clone(),
        question: row.question.clone(),
        id: row.id.clone(),
    };
    let referral = outcome
        .and_then(Outcome::referral_priority)
        .map(|p| ReferralView {
            priority: p.label(),
            gp_to_refer: status == CaseStatus::GpToRefer,
            converted: status == CaseStatus::Converted,
            due: row
                .referral_due_at_ms
                .map(uk_time::deadline_day)
                .unwrap_or_default(),
            overdue: row.referral_overdue_at(now),
            converted_at: row.answered_at_ms.map(uk_time::format).unwrap_or_default(),
            referred_on: row.referred_on.as_deref().map(uk_time::long_date),
            reference: row.referral_reference.as_deref().map(|r| {
                r.as_bytes()
                    .chunks(4)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
        });
    let is_practice_gp = user.role == Role::Gp && user.practice() == Some(row.practice_id.as_str());
    let can_respond = status == CaseStatus::AwaitingGp && is_practice_gp;
    let photo_slots = if can_respond {
        let staged = photos::staged_of(state, user, &notices.response_staged).await?;
        photo_slots(staged, &["", "", ""])
    } else {
        Vec::new()
    };
    let can_request_photos = is_practice_gp
        && matches!(
            status,
            CaseStatus::Submitted | CaseStatus::Claimed | CaseStatus::AwaitingGp
        );
    let photo_links = if is_practice_gp {
        crate::service::photo_requests::of_case(state, &row.id)
            .await?
            .into_iter()
            .map(|r| {
                use crate::domain::photo_requests::{link_state, LinkState};
                let link = link_state(r.expires_at_ms, r.revoked_at_ms, r.sent_at_ms, now);
                LinkView {
                    made: uk_time::format(r.created_at_ms),
                    until: uk_time::format(r.expires_at_ms),
                    state: match link {
                        LinkState::Open => "Waiting for the patient",
                        LinkState::Expired => "Expired",
                        LinkState::Revoked => "Cancelled",
                        LinkState::Sent => "Photos received",
                    },
                    open: link == LinkState::Open,
                    id: r.id,
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let (back_href, back_label) = if user.role == Role::Consultant {
        ("/queue", "Your queue")
    } else {
        ("/cases", "All cases")
    };
    render(&CasePage {
        layout: Layout::signed_in(state, session, user).await?,
        c,
        photos,
        messages,
        just_submitted: notices.submitted,
        just_claimed: notices.claimed,
        errors: notices.errors,
        advice_draft: notices.advice_draft,
        topic_choices,
        other_topic_draft: notices.other_topic_draft,
        response_draft: notices.response_draft,
        can_claim: is_consultant && status == CaseStatus::Submitted,
        can_reply: holds,
        can_respond,
        photo_slots,
        photo_prefix: "respond-photo",
        referral,
        can_confirm_referral: status == CaseStatus::GpToRefer && is_practice_gp,
        letter_href: (answered && (is_practice_gp || is_consultant))
            .then(|| format!("/api/v1/cases/{}/letter.pdf", row.id)),
        referral_draft: notices.referral_draft,
        can_convert: holds && row.conversion_authorised,
        outcomes: Outcome::ALL
            .iter()
            .map(|o| (o.as_str(), o.label()))
            .collect(),
        redirect_choices: names
            .iter()
            .filter(|s| s.slug != row.specialty)
            .map(|s| (s.slug.clone(), s.name.clone()))
            .collect(),
        back_href,
        can_request_photos,
        photo_links,
        back_label,
    })
}

#[derive(Template)]
#[template(path = "photo_view.html")]
struct PhotoPage {
    layout: Layout,
    case_id: String,
    photo_id: String,
    caption: String,
    width: i64,
    height: i64,
    index: usize,
    count: usize,
    prev: Option<String>,
    next: Option<String>,
}

pub async fn photo(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path((id, photo_id)): Path<(String, String)>,
) -> AppResult<Html<String>> {
    let id = cases::case_id(&id)?;
    let photo_id = cases::photo_id(&photo_id)?;
    let (photos, i) = cases::photo_page(&state, &user, &id, &photo_id).await?;
    let p = &photos[i];
    render(&PhotoPage {
        layout: Layout::signed_in(&state, &session, &user).await?,
        case_id: id.to_string(),
        photo_id: p.id.clone(),
        caption: caption(p.kind, p.body_site.as_deref(), p.by_patient),
        width: p.width,
        height: p.height,
        index: i + 1,
        count: photos.len(),
        prev: i.checked_sub(1).map(|j| photos[j].id.clone()),
        next: photos.get(i + 1).map(|p| p.id.clone()),
    })
}
