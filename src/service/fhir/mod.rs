//! The case as a FHIR R4 `Bundle` for GP clinical systems (contract 1.1,
//! `GET /api/v1/cases/{id}/fhir`), with the same access rule as the case itself; every export
//! is audited (`case.fhir_exported`). `export` gathers the case, its conversation, photos and
//! people; `bundle` is the pure mapping, documented in `docs/fhir.md`.
//!
//! Every `fullUrl` is a `urn:uuid:` derived from the case id and the resource's role in it
//! (SHA-256, shaped as an RFC 9562 version 8 UUID), so the same case gives the same ids on every
//! export and on every instance, and a reference always names an entry of the same bundle.

pub mod calls;

use serde_json::json;
use sha2::{Digest, Sha256};

use super::ServiceResult;
use crate::clock::rfc3339;
use crate::db::{self, audit};
use crate::domain::access::Principal;
use crate::domain::{
    CaseId, CaseStatus, MessageKind, Outcome, ReferralPriority, Role, Sex, Urgency,
};
use crate::fhir::*;
use crate::service::cases::{self, CaseRow, MessageRow, PhotoRow};
use crate::service::letters;
use crate::service::AppState;

/// SNOMED CT |Patient referral (procedure)|: the category of both requests.
pub const SCT_PATIENT_REFERRAL: (&str, &str) = ("3457005", "Patient referral");
/// SNOMED CT |Patient referral for consultation (procedure)|: asking a specialist's opinion,
/// the A&G request itself.
pub const SCT_REFERRAL_FOR_CONSULTATION: (&str, &str) =
    ("44383000", "Patient referral for consultation");

/// Someone who took part in the case, as the bundle names them.
#[derive(Debug, Clone)]
pub struct Person {
    pub user_id: String,
    pub name: Option<String>,
    pub role: Role,
    /// Specialty names (consultants).
    pub specialties: Vec<String>,
}

/// Everything the bundle is made from: one case as it stands.
pub struct CaseRecord<'a> {
    pub row: &'a CaseRow,
    /// The case's status now (a lapsed claim reads as queued).
    pub status: CaseStatus,
    pub messages: &'a [MessageRow],
    pub photos: &'a [PhotoRow],
    /// The current specialty's name.
    pub specialty: &'a str,
    pub people: &'a [Person],
    /// `AGHUB_PUBLIC_URL`, without a trailing slash.
    pub base_url: &'a str,
    /// Now: whether a referral the GP must make is overdue.
    pub now_ms: i64,
}

/// The case's bundle, for whoever may see the case (the same 404 otherwise). Records the export.
pub async fn export(state: &AppState, user: &Principal, id: &CaseId) -> ServiceResult<Bundle> {
    let row = cases::load(state, user, id).await?;
    let (photos, messages) = cases::photos_and_messages(state, &row, true).await?;
    let messages = messages.unwrap_or_default();
    let now = state.now_ms();
    let status = row.status_at(now);
    let names = db::specialties::names(&state.db).await?;
    let specialty = names
        .get(&row.specialty)
        .cloned()
        .unwrap_or_else(|| row.specialty.clone());
    let mut ids: Vec<&str> = vec![row.created_by.as_str()];
    ids.extend(messages.iter().map(|m| m.author_id.as_str()));
    ids.extend(row.answered_by.as_deref());
    if status == CaseStatus::Claimed {
        ids.extend(row.claimed_by.as_deref());
    }
    let mut people: Vec<Person> = Vec::new();
    for uid in ids {
        if people.iter().any(|p| p.user_id == uid) {
            continue;
        }
        let found = db::users::principal(&state.db, uid).await?;
        // A disabled account is not found; the conversation still names its author.
        let written = messages.iter().find(|m| m.author_id == uid);
        let role = match (&found, written) {
            (Some(p), _) => p.role,
            (None, Some(m)) if m.kind == MessageKind::GpResponse => Role::Gp,
            (None, Some(_)) => Role::Consultant,
            (None, None) if uid == row.created_by => Role::Gp,
            (None, None) => Role::Consultant,
        };
        people.push(Person {
            user_id: uid.to_string(),
            name: found
                .as_ref()
                .map(|p| p.name.clone())
                .or_else(|| written.map(|m| m.author_name.clone())),
            role,
            specialties: found
                .map(|p| {
                    p.specialties
                        .iter()
                        .map(|s| names.get(s).cloned().unwrap_or_else(|| s.clone()))
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    let base_url = state.settings.public_url();
    let bundle = bundle(&CaseRecord {
        row: &row,
        status,
        messages: &messages,
        photos: &photos,
        specialty: &specialty,
        people: &people,
        base_url: &base_url,
        now_ms: now,
    });
    audit::record(
        state.db.pool(),
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: "case.fhir_exported",
            case_id: Some(&row.id),
            detail: Some(json!({
                "bundle": bundle.identifier.value,
                "entries": bundle.entry.len(),
                "status": status.as_str(),
            })),
            ..Default::default()
        },
        now,
    )
    .await?;
    Ok(bundle)
}

/// A `urn:uuid:` for one resource of a case: the same for the same case and role, always.
pub fn urn(case_id: &str, role: &str) -> String {
    let digest = Sha256::digest(format!("aghub-fhir\n{case_id}\n{role}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80; // version 8: custom (RFC 9562)
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // the RFC variant
    format!("urn:uuid:{}", uuid::Uuid::from_bytes(bytes))
}

pub fn id_of(full_url: &str) -> String {
    full_url.trim_start_matches("urn:uuid:").to_string()
}

/// The patient and the practice as a bundle names them.
pub struct PatientFacts<'a> {
    pub nhs_number: &'a str,
    pub gender: Option<&'static str>,
    pub birth_date: &'a str,
    pub practice_ods: &'a str,
    pub practice_name: &'a str,
}

/// A reference to a person of the record `key` (a case or a call), named when known.
pub fn person_ref(key: &str, people: &[Person], uid: &str) -> Reference {
    let url = urn(key, &format!("practitioner/{uid}"));
    match people
        .iter()
        .find(|p| p.user_id == uid)
        .and_then(|p| p.name.clone())
    {
        Some(name) => Reference::named(&url, name),
        None => Reference::to(&url),
    }
}

/// The Patient, the practice's Organization, and a Practitioner with a PractitionerRole for each
/// person: the first entries of a case's or a call's bundle (`key`).
pub fn patient_and_people(key: &str, p: &PatientFacts<'_>, people: &[Person]) -> Vec<Entry> {
    let patient_url = urn(key, "patient");
    let practice_url = urn(key, "practice");
    let practice_ref = || Reference::named(&practice_url, p.practice_name);
    let mut entry = vec![
        Entry {
            full_url: patient_url.clone(),
            resource: Resource::Patient(Patient {
                id: id_of(&patient_url),
                meta: Meta::profile("Patient"),
                identifier: vec![Identifier::new(NHS_NUMBER, p.nhs_number)],
                gender: p.gender,
                birth_date: p.birth_date.to_string(),
                general_practitioner: vec![practice_ref()],
            }),
        },
        Entry {
            full_url: practice_url.clone(),
            resource: Resource::Organization(Organization {
                id: id_of(&practice_url),
                meta: Meta::profile("Organization"),
                identifier: vec![Identifier::new(ODS_CODE, p.practice_ods)],
                name: p.practice_name.to_string(),
            }),
        },
    ];
    for person in people {
        let url = urn(key, &format!("practitioner/{}", person.user_id));
        entry.push(Entry {
            full_url: url.clone(),
            resource: Resource::Practitioner(Practitioner {
                id: id_of(&url),
                meta: Meta::profile("Practitioner"),
                name: person
                    .name
                    .iter()
                    .map(|n| HumanName { text: n.clone() })
                    .collect(),
            }),
        });
        let role = urn(key, &format!("practitioner-role/{}", person.user_id));
        let gp = person.role == Role::Gp;
        entry.push(Entry {
            full_url: role.clone(),
            resource: Resource::PractitionerRole(PractitionerRole {
                id: id_of(&role),
                meta: Meta::profile("PractitionerRole"),
                practitioner: person_ref(key, people, &person.user_id),
                organization: gp.then(practice_ref),
                code: vec![CodeableConcept::text(if gp {
                    "General practitioner"
                } else {
                    person.role.label()
                })],
                specialty: if gp {
                    Vec::new()
                } else {
                    person
                        .specialties
                        .iter()
                        .map(|s| CodeableConcept::text(s.clone()))
                        .collect()
                },
            }),
        });
    }
    entry
}

/// The bundle around the entries: its id and timestamp fixed by the record's state `as_of`.
pub fn collection(key: &str, state: &str, as_of: i64, entry: Vec<Entry>) -> Bundle {
    let bundle_url = urn(key, &format!("bundle@{as_of}/{state}"));
    Bundle {
        resource_type: "Bundle",
        id: id_of(&bundle_url),
        meta: Meta {
            last_updated: Some(rfc3339(as_of)),
            profile: Vec::new(),
        },
        identifier: Identifier::new(URI, bundle_url),
        kind: "collection",
        timestamp: rfc3339(as_of),
        entry,
    }
}

/// The A&G request's FHIR status and intent for each case status (docs/fhir.md).
pub fn request_status(status: CaseStatus) -> (&'static str, &'static str) {
    match status {
        // Queued, with a consultant, or waiting for the GP's information: the request stands.
        CaseStatus::Submitted | CaseStatus::Claimed | CaseStatus::AwaitingGp => ("active", "order"),
        // The consultant answered: advice given, a referral left to the GP or taken on.
        CaseStatus::GpToRefer | CaseStatus::Converted | CaseStatus::Closed => {
            ("completed", "order")
        }
    }
}

/// The workflow `Task`'s status for each case status, with e-RS's A&G state as its business
/// status (contract 1.1).
pub fn task_status(status: CaseStatus) -> (&'static str, &'static str) {
    match status {
        CaseStatus::Submitted => ("requested", "PROVIDER_RESPONSE_REQUIRED"),
        CaseStatus::Claimed => ("in-progress", "PROVIDER_RESPONSE_REQUIRED"),
        CaseStatus::AwaitingGp => ("on-hold", "REFERRER_TO_SUBMIT_FURTHER_INFORMATION"),
        CaseStatus::GpToRefer => ("completed", "REFERRER_TO_REVIEW"),
        CaseStatus::Converted => ("completed", "ADVICE_CONVERTED"),
        CaseStatus::Closed => ("completed", "ENDED_CLOSED"),
    }
}

pub fn urgency_priority(u: Urgency) -> &'static str {
    match u {
        Urgency::Routine => "routine",
        Urgency::Urgent => "urgent",
    }
}

/// FHIR's request priorities are routine < urgent < asap < stat; the two-week wait ranks above
/// the NHS's "urgent", so it is `asap`, and its text says what it is.
pub fn referral_priority(p: ReferralPriority) -> &'static str {
    match p {
        ReferralPriority::Routine => "routine",
        ReferralPriority::Urgent => "urgent",
        ReferralPriority::TwoWeekWait => "asap",
    }
}

pub fn gender(sex: Sex) -> &'static str {
    match sex {
        Sex::Male => "male",
        Sex::Female => "female",
        Sex::Other => "other",
        Sex::Unknown => "unknown",
    }
}

/// The latest thing that happened to the case: the bundle's timestamp, so the same state of
/// the case gives the same bundle.
fn as_of_ms(row: &CaseRow, messages: &[MessageRow]) -> i64 {
    messages
        .iter()
        .map(|m| m.created_at_ms)
        .chain(row.answered_at_ms)
        .chain(row.closed_at_ms)
        .chain(row.gp_responded_at_ms)
        .chain([row.submitted_at_ms])
        .max()
        .unwrap_or(row.submitted_at_ms)
}

fn photo_view(p: &PhotoRow) -> Option<CodeableConcept> {
    p.kind.map(|k| CodeableConcept::text(k.label()))
}

/// The bundle for one case (pure).
pub fn bundle(c: &CaseRecord<'_>) -> Bundle {
    let row = c.row;
    let case = row.id.as_str();
    let as_of = as_of_ms(row, c.messages);
    let patient_url = urn(case, "patient");
    let practice_url = urn(case, "practice");
    let request_url = urn(case, "service-request");
    let referral_url = urn(case, "referral");
    let task_url = urn(case, "task");
    let letter_url = urn(case, "letter");
    let message_url = |id: &str| urn(case, &format!("message/{id}"));
    let photo_url = |id: &str| urn(case, &format!("photo/{id}"));
    let person = |uid: &str| c.people.iter().find(|p| p.user_id == uid);
    let person_ref = |uid: &str| self::person_ref(case, c.people, uid);
    let patient_ref = Reference::to(&patient_url);
    let request_ref = Reference::to(&request_url);
    let mut entry = patient_and_people(
        case,
        &PatientFacts {
            nhs_number: &row.nhs_number,
            gender: row.sex.map(gender),
            birth_date: &row.date_of_birth,
            practice_ods: &row.practice_ods,
            practice_name: &row.practice_name,
        },
        c.people,
    );
    let mut push = |full_url: &str, resource: Resource| {
        entry.push(Entry {
            full_url: full_url.to_string(),
            resource,
        })
    };

    // The A&G request.
    let (status, intent) = request_status(c.status);
    let gp_ref = person_ref(&row.created_by);
    let answered_by = row.answered_by.as_deref();
    // The consultant the case is with now: the claim's holder, the one who asked the GP for
    // information, or the one who answered; nobody while it is queued (a redirected case's
    // first consultant is in the conversation, not here).
    let consultant = match c.status {
        CaseStatus::Submitted => None,
        CaseStatus::Claimed => row.claimed_by.as_deref(),
        _ => answered_by,
    };
    let mut note = vec![
        Annotation {
            author_reference: Some(gp_ref.clone()),
            time: Some(rfc3339(row.submitted_at_ms)),
            text: format!("Question for the specialist: {}", row.question),
        },
        Annotation {
            author_reference: Some(gp_ref.clone()),
            time: Some(rfc3339(row.submitted_at_ms)),
            text: format!("Clinical history: {}", row.history),
        },
        Annotation {
            author_reference: Some(gp_ref.clone()),
            time: Some(rfc3339(row.submitted_at_ms)),
            text: if row.conversion_authorised {
                "The GP authorised the specialist to convert this request into a referral.".into()
            } else {
                "The GP did not authorise conversion into a referral.".into()
            },
        },
    ];
    if let Some(outcome) = row.outcome {
        let mut text = format!("Outcome: {}.", outcome.label());
        let action = letters::gp_action(row, c.specialty, outcome);
        if !action.is_empty() {
            text.push_str(&format!(" What the GP needs to do: {action}"));
        }
        if c.status == CaseStatus::GpToRefer && row.referral_overdue_at(c.now_ms) {
            text.push_str(" The referral is overdue.");
        }
        note.push(Annotation {
            author_reference: answered_by.map(&person_ref),
            time: row.answered_at_ms.map(rfc3339),
            text,
        });
    }
    let case_photos: Vec<Reference> = c
        .photos
        .iter()
        .map(|p| Reference::to(&photo_url(&p.id)))
        .collect();
    push(
        &request_url,
        Resource::ServiceRequest(ServiceRequest {
            id: id_of(&request_url),
            meta: Meta::profile("ServiceRequest"),
            identifier: vec![Identifier::new(URI, format!("urn:uuid:{case}"))],
            based_on: Vec::new(),
            status,
            intent,
            category: vec![CodeableConcept::coded(
                SNOMED,
                SCT_PATIENT_REFERRAL.0,
                SCT_PATIENT_REFERRAL.1,
                "Advice and Guidance",
            )],
            priority: urgency_priority(row.urgency),
            code: CodeableConcept::coded(
                SNOMED,
                SCT_REFERRAL_FOR_CONSULTATION.0,
                SCT_REFERRAL_FOR_CONSULTATION.1,
                format!("Advice and Guidance request to {}", c.specialty),
            ),
            subject: patient_ref.clone(),
            authored_on: rfc3339(row.submitted_at_ms),
            requester: Some(gp_ref.clone()),
            performer_type: Some(CodeableConcept::text(c.specialty)),
            performer: consultant.map(&person_ref).into_iter().collect(),
            reason_code: Vec::new(),
            supporting_info: case_photos,
            note,
        }),
    );

    // The referral the consultant advised, when there is one.
    if let Some(priority) = row.outcome.and_then(Outcome::referral_priority) {
        let converted = c.status == CaseStatus::Converted;
        let made = row.referred_on.is_some();
        let intent = if converted || made {
            "order"
        } else {
            "proposal"
        };
        let mut note = Vec::new();
        let text = if converted {
            format!(
                "The hospital took the referral on: {} converted this Advice and Guidance request, as the GP authorised.",
                answered_by
                    .and_then(|uid| person(uid).and_then(|p| p.name.clone()))
                    .unwrap_or_else(|| "the consultant".into())
            )
        } else if let Some(on) = &row.referred_on {
            format!("The practice confirmed it made this referral on {on}.")
        } else {
            let due = row
                .referral_due_at_ms
                .map(|d| format!(" by {}", rfc3339(d)))
                .unwrap_or_default();
            format!("The consultant advised this referral; the GP is to make it through e-RS{due} and confirm it in aghub.")
        };
        note.push(Annotation {
            author_reference: None,
            time: None,
            text,
        });
        push(
            &referral_url,
            Resource::ServiceRequest(ServiceRequest {
                id: id_of(&referral_url),
                meta: Meta::profile("ServiceRequest"),
                identifier: row
                    .referral_reference
                    .iter()
                    .map(|r| Identifier::new(UBRN, r.clone()))
                    .collect(),
                based_on: vec![request_ref.clone()],
                status: "active",
                intent,
                category: vec![CodeableConcept::coded(
                    SNOMED,
                    SCT_PATIENT_REFERRAL.0,
                    SCT_PATIENT_REFERRAL.1,
                    "Referral",
                )],
                priority: referral_priority(priority),
                code: CodeableConcept::coded(
                    SNOMED,
                    SCT_PATIENT_REFERRAL.0,
                    SCT_PATIENT_REFERRAL.1,
                    format!(
                        "Referral to {} ({} priority)",
                        c.specialty,
                        priority.label().to_lowercase()
                    ),
                ),
                subject: patient_ref.clone(),
                authored_on: match &row.referred_on {
                    Some(on) => on.clone(),
                    None => rfc3339(row.answered_at_ms.unwrap_or(row.submitted_at_ms)),
                },
                // The consultant proposes; a converted referral is the GP's authorised request;
                // a referral the practice made is the practice's.
                requester: if converted {
                    Some(gp_ref.clone())
                } else if made {
                    Some(Reference::named(&practice_url, &row.practice_name))
                } else {
                    answered_by.map(&person_ref)
                },
                performer_type: Some(CodeableConcept::text(c.specialty)),
                performer: Vec::new(),
                reason_code: Vec::new(),
                supporting_info: Vec::new(),
                note,
            }),
        );
    }

    // The workflow state, as e-RS names it.
    let (task, business) = task_status(c.status);
    push(
        &task_url,
        Resource::Task(Task {
            id: id_of(&task_url),
            meta: Meta::profile("Task"),
            status: task,
            status_reason: (c.status == CaseStatus::AwaitingGp)
                .then(|| CodeableConcept::text("Waiting for information from the GP")),
            business_status: CodeableConcept::text(business),
            intent: "order",
            priority: urgency_priority(row.urgency),
            description: format!("Advice and Guidance: {}", c.status.label(Role::Admin)),
            focus: request_ref.clone(),
            for_: patient_ref.clone(),
            authored_on: rfc3339(row.submitted_at_ms),
            last_modified: rfc3339(as_of),
            requester: Some(gp_ref.clone()),
            owner: consultant.map(&person_ref),
        }),
    );

    // The conversation, in order.
    let mut last_reply: Option<&MessageRow> = None;
    let mut previous: Option<&MessageRow> = None;
    for m in c.messages {
        let url = message_url(&m.id);
        let (recipient, in_response_to) = match m.kind {
            MessageKind::Reply => (
                vec![
                    gp_ref.clone(),
                    Reference::named(&practice_url, &row.practice_name),
                ],
                previous
                    .filter(|p| p.kind == MessageKind::GpResponse)
                    .map(|p| Reference::to(&message_url(&p.id))),
            ),
            MessageKind::GpResponse => (
                last_reply
                    .map(|r| person_ref(&r.author_id))
                    .into_iter()
                    .collect(),
                last_reply.map(|r| Reference::to(&message_url(&r.id))),
            ),
        };
        let mut payload = Vec::new();
        if !m.body.trim().is_empty() {
            payload.push(Payload::Text(m.body.clone()));
        }
        if let Some(o) = m.outcome {
            payload.push(Payload::Text(format!("Outcome: {}", o.label())));
        }
        for p in c
            .photos
            .iter()
            .filter(|p| p.message_id.as_deref() == Some(m.id.as_str()))
        {
            payload.push(Payload::Reference(Reference::to(&photo_url(&p.id))));
        }
        if payload.is_empty() {
            payload.push(Payload::Text("(no text)".into()));
        }
        push(
            &url,
            Resource::Communication(Communication {
                id: id_of(&url),
                meta: Meta::profile("Communication"),
                based_on: vec![request_ref.clone()],
                in_response_to: in_response_to.into_iter().collect(),
                status: "completed",
                subject: patient_ref.clone(),
                sent: rfc3339(m.created_at_ms),
                recipient,
                sender: person_ref(&m.author_id),
                payload,
            }),
        );
        if m.kind == MessageKind::Reply {
            last_reply = Some(m);
        }
        previous = Some(m);
    }

    // The advice letter, once a consultant has replied (as the letter route itself).
    if c.messages.iter().any(|m| m.kind == MessageKind::Reply) {
        let terminal = matches!(c.status, CaseStatus::Closed | CaseStatus::Converted);
        let authors: Vec<Reference> = match answered_by {
            Some(uid) => vec![person_ref(uid)],
            None => c
                .messages
                .iter()
                .filter(|m| m.kind == MessageKind::Reply)
                .map(|m| person_ref(&m.author_id))
                .take(1)
                .collect(),
        };
        push(
            &letter_url,
            Resource::DocumentReference(DocumentReference {
                id: id_of(&letter_url),
                meta: Meta::profile("DocumentReference"),
                status: "current",
                doc_status: if terminal { "final" } else { "preliminary" },
                kind: CodeableConcept::text("Advice and Guidance letter"),
                subject: patient_ref.clone(),
                date: rfc3339(as_of),
                author: authors,
                custodian: None,
                description: format!("Advice and Guidance letter from {}", c.specialty),
                content: vec![DocumentContent {
                    attachment: Attachment {
                        content_type: "application/pdf".into(),
                        url: format!("{}/api/v1/cases/{case}/letter.pdf", c.base_url),
                        title: Some("Advice and Guidance letter".into()),
                        creation: Some(rfc3339(as_of)),
                    },
                }],
                context: DocumentContext {
                    encounter: Vec::new(),
                    related: vec![request_ref.clone()],
                },
            }),
        );
    }

    // Each photo, as the authorised image the API serves.
    for (i, p) in c.photos.iter().enumerate() {
        let url = photo_url(&p.id);
        let message = p
            .message_id
            .as_deref()
            .and_then(|mid| c.messages.iter().find(|m| m.id == mid));
        let sent_at = message.map_or(row.submitted_at_ms, |m| m.created_at_ms);
        let sender = message.map_or(row.created_by.as_str(), |m| m.author_id.as_str());
        push(
            &url,
            Resource::Media(Media {
                id: id_of(&url),
                meta: None,
                based_on: vec![request_ref.clone()],
                status: "completed",
                kind: CodeableConcept::coded(MEDIA_TYPE, "image", "Image", "Photo"),
                view: photo_view(p),
                subject: patient_ref.clone(),
                operator: Some(person_ref(sender)),
                body_site: p
                    .body_site
                    .as_deref()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(CodeableConcept::text),
                height: u32::try_from(p.height).ok(),
                width: u32::try_from(p.width).ok(),
                duration: None,
                content: Attachment {
                    content_type: p.content_type.clone(),
                    url: format!("{}/api/v1/cases/{case}/photos/{}", c.base_url, p.id),
                    title: Some(format!("Photo {}", i + 1)),
                    creation: None,
                },
                issued: Some(rfc3339(sent_at)),
            }),
        );
    }

    collection(case, c.status.as_str(), as_of, entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids_are_uuids_fixed_by_the_case_and_the_role() {
        let case = "0192f0c4-1b7e-7c3a-9d52-5b3f2a6f0e11";
        let a = urn(case, "patient");
        assert_eq!(a, urn(case, "patient"), "the same every time");
        assert_ne!(a, urn(case, "practice"));
        assert_ne!(a, urn("0192f0c4-1b7e-7c3a-9d52-5b3f2a6f0e12", "patient"));
        let u = uuid::Uuid::parse_str(a.strip_prefix("urn:uuid:").unwrap()).unwrap();
        assert_eq!(u.get_version_num(), 8);
        assert_eq!(u.get_variant(), uuid::Variant::RFC4122);
    }

    #[test]
    fn every_case_status_has_a_request_status_and_an_e_rs_state() {
        for s in CaseStatus::ALL {
            let (status, intent) = request_status(*s);
            assert_eq!(intent, "order");
            let open = matches!(
                s,
                CaseStatus::Submitted | CaseStatus::Claimed | CaseStatus::AwaitingGp
            );
            assert_eq!(status, if open { "active" } else { "completed" }, "{s}");
            let (task, business) = task_status(*s);
            assert_eq!(task == "completed", !open, "{s}");
            assert!(!business.is_empty());
        }
        assert_eq!(referral_priority(ReferralPriority::TwoWeekWait), "asap");
        assert_eq!(gender(Sex::Unknown), "unknown");
    }
}
