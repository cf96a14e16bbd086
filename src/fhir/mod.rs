//! The part of FHIR R4 (4.0.1) that aghub hands out, as typed structures that serialise to FHIR
//! JSON (`GET /api/v1/cases/{id}/fhir`). Pure data: no rules of ours live here; what goes in
//! each field is decided by `service::fhir`. Only the elements aghub fills are declared; empty
//! lists and absent values are left out of the JSON, as FHIR requires (no `null`, no `[]`).
//!
//! Written by hand for the ten resources and the elements we use; no FHIR model crate was
//! evaluated (see `docs/fhir.md`).

use serde::Serialize;

pub const SNOMED: &str = "http://snomed.info/sct";
pub const NHS_NUMBER: &str = "https://fhir.nhs.uk/Id/nhs-number";
pub const ODS_CODE: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
pub const UBRN: &str = "https://fhir.nhs.uk/Id/UBRN";
/// Identifiers that are themselves URIs (`urn:uuid:…`).
pub const URI: &str = "urn:ietf:rfc:3986";
pub const MEDIA_TYPE: &str = "http://terminology.hl7.org/CodeSystem/media-type";
/// HL7 v3 ActCode: the encounter classes (`VR`, virtual).
pub const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
pub const UCUM: &str = "http://unitsofmeasure.org";

/// A UK Core profile's canonical URL.
pub fn uk_core(name: &str) -> String {
    format!("https://fhir.hl7.org.uk/StructureDefinition/UKCore-{name}")
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub resource_type: &'static str,
    pub id: String,
    pub meta: Meta,
    pub identifier: Identifier,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub timestamp: String,
    pub entry: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub full_url: String,
    pub resource: Resource,
}

/// One resource, with its `resourceType` written first.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "resourceType")]
pub enum Resource {
    Patient(Patient),
    Organization(Organization),
    Practitioner(Practitioner),
    PractitionerRole(PractitionerRole),
    ServiceRequest(ServiceRequest),
    Task(Task),
    Communication(Communication),
    DocumentReference(DocumentReference),
    Media(Media),
    Encounter(Encounter),
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profile: Vec<String>,
}

impl Meta {
    pub fn profile(name: &str) -> Option<Meta> {
        Some(Meta {
            last_updated: None,
            profile: vec![uk_core(name)],
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identifier {
    pub system: String,
    pub value: String,
}

impl Identifier {
    pub fn new(system: &str, value: impl Into<String>) -> Self {
        Self {
            system: system.to_string(),
            value: value.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Reference {
    pub reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Reference {
    pub fn to(full_url: &str) -> Self {
        Self {
            reference: full_url.to_string(),
            display: None,
        }
    }

    pub fn named(full_url: &str, display: impl Into<String>) -> Self {
        Self {
            reference: full_url.to_string(),
            display: Some(display.into()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Coding {
    pub system: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CodeableConcept {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub coding: Vec<Coding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl CodeableConcept {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            coding: Vec::new(),
            text: Some(text.into()),
        }
    }

    pub fn coded(system: &str, code: &str, display: &str, text: impl Into<String>) -> Self {
        Self {
            coding: vec![Coding {
                system: system.to_string(),
                code: code.to_string(),
                display: Some(display.to_string()),
            }],
            text: Some(text.into()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Annotation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_reference: Option<Reference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct HumanName {
    pub text: String,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub content_type: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    pub identifier: Vec<Identifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<&'static str>,
    pub birth_date: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub general_practitioner: Vec<Reference>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Practitioner {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub name: Vec<HumanName>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PractitionerRole {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    pub practitioner: Reference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<Reference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub code: Vec<CodeableConcept>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub specialty: Vec<CodeableConcept>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRequest {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub based_on: Vec<Reference>,
    pub status: &'static str,
    pub intent: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub category: Vec<CodeableConcept>,
    pub priority: &'static str,
    pub code: CodeableConcept,
    pub subject: Reference,
    pub authored_on: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester: Option<Reference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub performer_type: Option<CodeableConcept>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub performer: Vec<Reference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reason_code: Vec<CodeableConcept>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub supporting_info: Vec<Reference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<CodeableConcept>,
    pub business_status: CodeableConcept,
    pub intent: &'static str,
    pub priority: &'static str,
    pub description: String,
    pub focus: Reference,
    #[serde(rename = "for")]
    pub for_: Reference,
    pub authored_on: String,
    pub last_modified: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester: Option<Reference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Reference>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Communication {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub based_on: Vec<Reference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub in_response_to: Vec<Reference>,
    pub status: &'static str,
    pub subject: Reference,
    pub sent: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recipient: Vec<Reference>,
    pub sender: Reference,
    pub payload: Vec<Payload>,
}

/// `Communication.payload`: text or a reference (FHIR's `content[x]` choice), written as
/// `{"contentString": "…"}` or `{"contentReference": {…}}`.
#[derive(Debug, Clone, Serialize)]
pub enum Payload {
    #[serde(rename = "contentString")]
    Text(String),
    #[serde(rename = "contentReference")]
    Reference(Reference),
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentReference {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    pub status: &'static str,
    pub doc_status: &'static str,
    #[serde(rename = "type")]
    pub kind: CodeableConcept,
    pub subject: Reference,
    pub date: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub author: Vec<Reference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custodian: Option<Reference>,
    pub description: String,
    pub content: Vec<DocumentContent>,
    pub context: DocumentContext,
}

#[derive(Debug, Clone, Serialize)]
pub struct DocumentContent {
    pub attachment: Attachment,
}

#[derive(Debug, Clone, Serialize)]
pub struct DocumentContext {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub encounter: Vec<Reference>,
    pub related: Vec<Reference>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Media {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    pub based_on: Vec<Reference>,
    pub status: &'static str,
    #[serde(rename = "type")]
    pub kind: CodeableConcept,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view: Option<CodeableConcept>,
    pub subject: Reference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<Reference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_site: Option<CodeableConcept>,
    /// Pixels, for images; left out for audio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Seconds, for audio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    pub content: Attachment,
    /// When the photo was made available (sent with the case or the GP's response); when it
    /// was taken is not known, so `created[x]` is left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Encounter {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    pub status: &'static str,
    pub class: Coding,
    #[serde(rename = "type", skip_serializing_if = "Vec::is_empty")]
    pub kind: Vec<CodeableConcept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_type: Option<CodeableConcept>,
    pub subject: Reference,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub based_on: Vec<Reference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub participant: Vec<Participant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<Quantity>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reason_code: Vec<CodeableConcept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_provider: Option<Reference>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    #[serde(rename = "type", skip_serializing_if = "Vec::is_empty")]
    pub kind: Vec<CodeableConcept>,
    pub individual: Reference,
}

#[derive(Debug, Clone, Serialize)]
pub struct Period {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// A UCUM quantity (an `Encounter.length` is a `Duration`).
#[derive(Debug, Clone, Serialize)]
pub struct Quantity {
    pub value: f64,
    pub unit: &'static str,
    pub system: &'static str,
    pub code: &'static str,
}
