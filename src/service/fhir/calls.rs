//! A live call as a FHIR R4 `Bundle` for GP clinical systems (`GET /api/v1/calls/{id}/fhir`, an
//! aghub addition beside contract 1.1's case bundle), with the same access rule as the call;
//! every export is audited (`call.fhir_exported`). The call is an A&G request the GP made by
//! phone: the `ServiceRequest` carries the reason and both parties' outcomes and notes, the
//! `Encounter` the conversation itself (virtual, its times and length), a `Media` the
//! recording and a `DocumentReference` the call's PDF record. Mapped in `docs/fhir.md`.

use serde_json::json;

use super::{
    collection, id_of, patient_and_people, person_ref, urn, PatientFacts, Person,
    SCT_PATIENT_REFERRAL, SCT_REFERRAL_FOR_CONSULTATION,
};
use crate::clock::rfc3339;
use crate::db::{self, audit, calls::CallRow};
use crate::domain::access::Principal;
use crate::domain::calls::{CallStatus, Party};
use crate::domain::queue::Pool;
use crate::domain::Role;
use crate::fhir::*;
use crate::service::{AppState, ServiceResult};

/// Everything a call's bundle is made from.
pub struct CallRecord<'a> {
    pub row: &'a CallRow,
    pub specialty: &'a str,
    pub practice_ods: &'a str,
    pub practice_name: &'a str,
    /// The GP who called and, once answered, the consultant.
    pub people: &'a [Person],
    /// How long the stored recording lasts, once a chunk has arrived.
    pub recording_ms: Option<i64>,
    /// `AGHUB_PUBLIC_URL`, without a trailing slash.
    pub base_url: &'a str,
}

/// The call's bundle, for whoever may see the call (the same 404 otherwise). Records the export.
pub async fn export(state: &AppState, user: &Principal, id: &str) -> ServiceResult<Bundle> {
    let call = crate::service::calls::record_view(state, user, id).await?;
    let row = &call.row;
    let practice = db::practices::get(&state.db, &row.practice_id).await?;
    let names = db::specialties::names(&state.db).await?;
    let name_of = |slug: &str| names.get(slug).cloned().unwrap_or_else(|| slug.to_string());
    let mut people = Vec::new();
    for (uid, role, fallback) in [
        (Some(&row.created_by), Role::Gp, None),
        (
            row.answered_by.as_ref(),
            Role::Consultant,
            row.answered_by_name.clone(),
        ),
    ] {
        let Some(uid) = uid else { continue };
        let found = db::users::principal(&state.db, uid).await?;
        people.push(Person {
            user_id: uid.clone(),
            name: found.as_ref().map(|p| p.name.clone()).or(fallback),
            role,
            specialties: found
                .map(|p| p.specialties.iter().map(|s| name_of(s)).collect())
                .unwrap_or_default(),
        });
    }
    let specialty = name_of(&row.specialty);
    let base_url = state.settings.public_url();
    let bundle = bundle(&CallRecord {
        row,
        specialty: &specialty,
        practice_ods: practice.as_ref().map_or("", |p| p.ods_code.as_str()),
        practice_name: practice.as_ref().map_or("", |p| p.name.as_str()),
        people: &people,
        recording_ms: call.recording_ms,
        base_url: &base_url,
    });
    audit::record(
        state.db.pool(),
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: "call.fhir_exported",
            subject_id: Some(&row.id),
            detail: Some(json!({
                "bundle": bundle.identifier.value,
                "entries": bundle.entry.len(),
                "status": row.status.as_str(),
            })),
            ..Default::default()
        },
        state.now_ms(),
    )
    .await?;
    Ok(bundle)
}

/// The request's FHIR status for each call status: standing while it rings or is talked
/// through, done once over, and revoked when nobody answered (its written case carries on).
pub fn request_status(status: CallStatus) -> &'static str {
    match status {
        CallStatus::Ringing | CallStatus::Answered => "active",
        CallStatus::Ended => "completed",
        CallStatus::Missed => "revoked",
    }
}

/// The latest thing that happened to the call: the bundle's timestamp.
fn as_of_ms(row: &CallRow) -> i64 {
    [
        Some(row.times.started_at_ms),
        row.answered_at_ms,
        row.ended_at_ms,
        row.gp_outcome.as_ref().map(|o| o.at_ms),
        row.consultant_outcome.as_ref().map(|o| o.at_ms),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(row.times.started_at_ms)
}

/// The bundle for one call (pure).
pub fn bundle(c: &CallRecord<'_>) -> Bundle {
    let row = c.row;
    let call = row.id.as_str();
    let as_of = as_of_ms(row);
    let patient_ref = Reference::to(&urn(call, "patient"));
    let request_url = urn(call, "service-request");
    let encounter_url = urn(call, "encounter");
    let recording_url = urn(call, "recording");
    let record_url = urn(call, "record");
    let person_ref = |uid: &str| person_ref(call, c.people, uid);
    let gp_ref = person_ref(&row.created_by);
    let consultant_ref = row.answered_by.as_deref().map(person_ref);
    let request_ref = Reference::to(&request_url);
    let answered = row.answered_at_ms.is_some();
    let over = matches!(row.status, CallStatus::Ended | CallStatus::Missed);
    let mut entry = patient_and_people(
        call,
        &PatientFacts {
            nhs_number: &row.nhs_number,
            gender: None,
            birth_date: &row.date_of_birth,
            practice_ods: c.practice_ods,
            practice_name: c.practice_name,
        },
        c.people,
    );
    let mut push = |full_url: &str, resource: Resource| {
        entry.push(Entry {
            full_url: full_url.to_string(),
            resource,
        })
    };

    // The request, with what each party recorded at the end.
    let mut note = vec![Annotation {
        author_reference: Some(gp_ref.clone()),
        time: Some(rfc3339(row.times.started_at_ms)),
        text: format!("Reason for the call: {}", row.reason),
    }];
    if let Some(case_id) = row.case_id.as_deref().filter(|_| !answered) {
        note.push(Annotation {
            author_reference: None,
            time: Some(rfc3339(row.give_up_at_ms)),
            text: format!(
                "Nobody answered in time, so the call became the written Advice and Guidance \
                 request urn:uuid:{case_id}."
            ),
        });
    }
    for (party, author) in [
        (Party::Gp, Some(gp_ref.clone())),
        (Party::Consultant, consultant_ref.clone()),
    ] {
        if let Some(o) = row.outcome_of(party) {
            let who = match party {
                Party::Gp => "the GP",
                Party::Consultant => "the consultant",
            };
            let mut text = format!("Outcome recorded by {who}: {}.", o.outcome.label());
            if !o.note.trim().is_empty() {
                text.push_str(&format!(" Note: {}", o.note.trim()));
            }
            note.push(Annotation {
                author_reference: author,
                time: Some(rfc3339(o.at_ms)),
                text,
            });
        }
    }
    push(
        &request_url,
        Resource::ServiceRequest(ServiceRequest {
            id: id_of(&request_url),
            meta: Meta::profile("ServiceRequest"),
            identifier: vec![Identifier::new(URI, format!("urn:uuid:{call}"))],
            based_on: Vec::new(),
            status: request_status(row.status),
            intent: "order",
            category: vec![CodeableConcept::coded(
                SNOMED,
                SCT_PATIENT_REFERRAL.0,
                SCT_PATIENT_REFERRAL.1,
                "Advice and Guidance",
            )],
            // The GP gives no clinical urgency for a call; it is answered now or not at all.
            priority: "routine",
            code: CodeableConcept::coded(
                SNOMED,
                SCT_REFERRAL_FOR_CONSULTATION.0,
                SCT_REFERRAL_FOR_CONSULTATION.1,
                format!("Advice and Guidance live call to {}", c.specialty),
            ),
            subject: patient_ref.clone(),
            authored_on: rfc3339(row.times.started_at_ms),
            requester: Some(gp_ref.clone()),
            performer_type: Some(CodeableConcept::text(c.specialty)),
            performer: consultant_ref.clone().into_iter().collect(),
            reason_code: vec![CodeableConcept::text(&row.reason)],
            supporting_info: c
                .recording_ms
                .map(|_| Reference::to(&recording_url))
                .into_iter()
                .collect(),
            note,
        }),
    );

    // The conversation itself, once someone answered.
    if let (Some(answered_at), Some(consultant)) = (row.answered_at_ms, &consultant_ref) {
        let pool = match row.answered_pool {
            Some(Pool::National) => "the national pool",
            _ => "the local rota",
        };
        push(
            &encounter_url,
            Resource::Encounter(Encounter {
                id: id_of(&encounter_url),
                meta: Meta::profile("Encounter"),
                status: if row.status == CallStatus::Answered {
                    "in-progress"
                } else {
                    "finished"
                },
                class: Coding {
                    system: ACT_CODE.into(),
                    code: "VR".into(),
                    display: Some("virtual".into()),
                },
                kind: vec![CodeableConcept::text(format!(
                    "Advice and Guidance live call, answered from {pool}"
                ))],
                service_type: Some(CodeableConcept::text(c.specialty)),
                subject: patient_ref.clone(),
                based_on: vec![request_ref.clone()],
                participant: vec![
                    Participant {
                        kind: vec![CodeableConcept::text("Caller")],
                        individual: gp_ref.clone(),
                    },
                    Participant {
                        kind: vec![CodeableConcept::text("Answered the call")],
                        individual: consultant.clone(),
                    },
                ],
                period: Some(Period {
                    start: Some(rfc3339(answered_at)),
                    end: row.ended_at_ms.map(rfc3339),
                }),
                length: row.ended_at_ms.map(|end| Quantity {
                    value: seconds(end - answered_at),
                    unit: "s",
                    system: UCUM,
                    code: "s",
                }),
                reason_code: vec![CodeableConcept::text(&row.reason)],
                service_provider: None,
            }),
        );
    }

    // The recording, as the authorised route serves it.
    if let Some(ms) = c.recording_ms {
        push(
            &recording_url,
            Resource::Media(Media {
                id: id_of(&recording_url),
                meta: None,
                based_on: vec![request_ref.clone()],
                status: "completed",
                kind: CodeableConcept::coded(MEDIA_TYPE, "audio", "Audio", "Call recording"),
                view: None,
                subject: patient_ref.clone(),
                operator: consultant_ref.clone(),
                body_site: None,
                height: None,
                width: None,
                duration: Some(seconds(ms)),
                content: Attachment {
                    content_type: "audio/webm".into(),
                    url: format!("{}/api/v1/calls/{call}/recording", c.base_url),
                    title: Some("Recording of the call (both voices)".into()),
                    creation: row.answered_at_ms.map(rfc3339),
                },
                issued: row.answered_at_ms.map(rfc3339),
            }),
        );
    }

    // The call's PDF record, once the call is over (as the route itself).
    if over {
        let both = row.gp_outcome.is_some() && row.consultant_outcome.is_some();
        push(
            &record_url,
            Resource::DocumentReference(DocumentReference {
                id: id_of(&record_url),
                meta: Meta::profile("DocumentReference"),
                status: "current",
                // Final once both outcomes are in; a missed call has none to come.
                doc_status: if both || !answered {
                    "final"
                } else {
                    "preliminary"
                },
                kind: CodeableConcept::text("Advice and Guidance call record"),
                subject: patient_ref.clone(),
                date: rfc3339(as_of),
                author: consultant_ref.clone().into_iter().collect(),
                custodian: None,
                description: format!("Record of a live call to {}", c.specialty),
                content: vec![DocumentContent {
                    attachment: Attachment {
                        content_type: "application/pdf".into(),
                        url: format!("{}/api/v1/calls/{call}/letter.pdf", c.base_url),
                        title: Some("Advice and Guidance call record".into()),
                        creation: Some(rfc3339(as_of)),
                    },
                }],
                context: DocumentContext {
                    encounter: answered
                        .then(|| Reference::to(&encounter_url))
                        .into_iter()
                        .collect(),
                    related: vec![request_ref.clone()],
                },
            }),
        );
    }

    collection(call, row.status.as_str(), as_of, entry)
}

fn seconds(ms: i64) -> f64 {
    (ms as f64 / 100.0).round() / 10.0
}
