//! The JSON shapes of API version 1. The OpenAPI document is generated from these types and
//! the handlers' annotations, so the document cannot drift from what the code sends.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{AppError, AppResult};

use crate::domain::{
    CaseStatus, MessageKind, Outcome, PhotoKind, ReferralPriority, Role, Sex, Urgency,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// snake_case, stable: clients branch on this.
    #[schema(example = "invalid_nhs_number")]
    pub code: String,
    /// A sentence a person can act on.
    pub message: String,
    /// The input field at fault, when one is (422 from checks of the input).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "topics")]
    pub field: Option<String>,
    /// Every problem found in the input, each with its field, when the service's checks refused
    /// it (the first is also `code`, `message` and `field`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldProblem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldProblem {
    #[schema(example = "nhs_number")]
    pub field: String,
    #[schema(example = "invalid_nhs_number")]
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PracticeJson {
    #[schema(example = "A81001")]
    pub ods_code: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PhotoJson {
    pub id: String,
    pub width: i64,
    pub height: i64,
    #[schema(example = "image/jpeg")]
    pub content_type: String,
    /// SHA-256 of the stored full-size image, hex.
    pub sha256: String,
    /// Quality warnings: blurred, too_dark, too_bright, low_resolution.
    pub warnings: Vec<String>,
    /// The same warnings as sentences for the GP.
    pub warning_messages: Vec<String>,
    pub kind: Option<PhotoKind>,
    pub body_site: Option<String>,
    /// Sent with the GP's response to a request for information.
    pub with_response: bool,
    /// Who took it: `gp`, or `patient` (through a photo request's link).
    #[schema(example = "gp")]
    pub taken_by: &'static str,
    /// Where to fetch the image (`?size=full|display|thumb`).
    pub href: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageJson {
    /// reply (consultant) or gp_response.
    pub kind: MessageKind,
    pub author: String,
    pub body: String,
    pub outcome: Option<Outcome>,
    /// A reply's free-text other topic: for the case's GP and consultants, never in reports.
    pub other_topic: Option<String>,
    pub at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseJson {
    pub id: String,
    #[schema(example = "dermatology")]
    pub specialty: String,
    pub status: CaseStatus,
    pub urgency: Urgency,
    /// NHS administrative gender, when recorded.
    pub sex: Option<Sex>,
    /// 10 digits, no spaces.
    #[schema(example = "9434765919")]
    pub nhs_number: String,
    #[schema(example = "1984-03-27")]
    pub date_of_birth: String,
    pub practice: PracticeJson,
    pub conversion_authorised: bool,
    /// RFC 3339.
    pub submitted_at: String,
    /// When the first reply is due under the specialty's target.
    pub due_at: String,
    /// The consultant holding the case, while claimed.
    pub claimed_by: Option<String>,
    pub photos: Vec<PhotoJson>,
    pub outcome: Option<Outcome>,
    pub advice: Option<String>,
    pub answered_at: Option<String>,
    pub closed_at: Option<String>,
    /// True when the outcome is a two-week-wait (suspected cancer) referral.
    pub two_week_wait: bool,
    /// True once the GP has responded to a request for information, until a consultant replies
    /// again (contract 1.1: the case goes back to the consultant who asked).
    pub gp_responded: bool,
    /// With a referral outcome (contract 1.1): its priority and who makes it.
    pub referral: Option<ReferralJson>,
    /// A referral the GP has to make (`gp_to_refer`) and has not confirmed by its deadline.
    pub referral_overdue: bool,
    /// Present when a single case is returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<MessageJson>>,
}

/// A referral the consultant advised: converted (the hospital took it on) or the GP's to make.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralJson {
    pub priority: ReferralPriority,
    /// RFC 3339, when the consultant converted it (converted referrals only).
    pub converted_at: Option<String>,
    /// The id of the consultant who converted it.
    pub converted_by: Option<String>,
    /// RFC 3339, when the GP's referral becomes overdue (GP referrals only).
    pub due_at: Option<String>,
    /// The day the GP made the referral (YYYY-MM-DD), once confirmed.
    pub referred_on: Option<String>,
    /// The e-RS reference (UBRN) the GP gave, if any.
    pub reference: Option<String>,
}

/// The GP's confirmation that they made the referral (`POST /api/v1/cases/{id}/referral-made`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReferralMadeBody {
    #[schema(example = "2026-12-01")]
    pub referred_on: String,
    /// The e-RS Unique Booking Reference Number (12 digits), when the GP has it.
    #[schema(example = "000012345678")]
    pub reference: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseList {
    pub cases: Vec<CaseJson>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ReplyBody {
    #[schema(min_length = 1, max_length = 20000, pattern = "[^ ]")]
    pub advice: String,
    pub outcome: Outcome,
    /// Topics for commissioners' reports: ids of the case's specialty's active topics, from
    /// `GET /api/v1/specialties/{slug}/topics`, e.g. ["acne", "psoriasis"]; at most 10. Anything
    /// else (free text, another specialty's or a retired topic) is refused with 422
    /// `unknown_topic`, field `topics`, and nothing is stored.
    #[schema(example = json!(["acne", "psoriasis"]))]
    pub topics: Option<Vec<String>>,
    /// Optional free text (at most 200 characters) for a topic not on the list: kept with the
    /// reply for the case's GP and consultants, never shown in reports.
    pub other_topic: Option<String>,
    /// Required with `redirect_specialty`, refused with any other outcome: the slug of another
    /// specialty. The case moves to its queue (`submitted`), keeping its history, photos and
    /// this reply as a message (contract 1.1).
    #[schema(example = "cardiology", pattern = "^[a-z][a-z0-9-]{1,59}$")]
    pub redirect_to: Option<String>,
    /// With a referral outcome, when the GP set `conversion_authorised`: the hospital takes the
    /// referral on (`converted`). Without it the GP must refer (`gp_to_refer`). Refused with
    /// 422 (field `convert`) when the GP did not authorise it or the outcome is not a referral.
    pub convert: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopicJson {
    /// Stable id to send in a reply's `topics`.
    #[schema(example = "suspected-skin-cancer")]
    pub id: String,
    #[schema(example = "Suspected skin cancer")]
    pub label: String,
}

/// `GET /api/v1/specialties/{slug}/topics`: the topics a reply in this specialty may carry now.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopicList {
    #[schema(example = "dermatology")]
    pub specialty: String,
    pub topics: Vec<TopicJson>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeJson {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub practice_id: Option<String>,
    pub specialties: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventJson {
    pub at: String,
    pub actor_id: Option<String>,
    pub actor_email: Option<String>,
    pub action: String,
    pub case_id: Option<String>,
    pub subject_id: Option<String>,
    /// What else the event recorded, e.g. `{"count": 2, "case_ids": […]}` for a list shown.
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    pub events: Vec<AuditEventJson>,
}

/// multipart/form-data for `POST /api/v1/cases`. Repeat `photo` (each optionally followed by
/// `photo_kind` and `photo_site`). Send `Idempotency-Key` to make retries safe.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct CaseSubmission {
    /// A specialty slug (see contract.md).
    #[schema(example = "dermatology", pattern = "^[a-z][a-z0-9-]{1,59}$")]
    pub specialty: String,
    /// 10 digits; spaces or hyphens allowed; Modulus 11 checked.
    #[schema(
        example = "943 476 5919",
        pattern = "^ *[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4} *$"
    )]
    pub nhs_number: String,
    #[schema(example = "1984-03-27", format = Date)]
    pub date_of_birth: String,
    pub urgency: Urgency,
    /// The patient's sex as the NHS administrative-gender codes (optional).
    pub sex: Option<Sex>,
    #[schema(min_length = 1, max_length = 20000, pattern = "[^ ]")]
    pub history: String,
    #[schema(min_length = 1, max_length = 5000, pattern = "[^ ]")]
    pub question: String,
    pub conversion_authorised: Option<bool>,
    /// JPEG, HEIC/HEIF, PNG, WebP or AVIF; dermatology needs at least one.
    #[schema(value_type = Vec<String>, format = Binary)]
    pub photo: Vec<Vec<u8>>,
    /// site, close_up or dermoscopic, describing the photo before it.
    #[schema(value_type = Option<Vec<PhotoKind>>)]
    pub photo_kind: Option<Vec<String>>,
    pub photo_site: Option<Vec<String>>,
    /// Ids from `POST /api/v1/staged-photos` (photos uploaded ahead by the same GP), each may be
    /// followed by `photo_kind` and `photo_site`; 422 `staged_photo_unavailable` when one
    /// expired, was removed or went with another case.
    #[schema(pattern = "^[0-9a-zA-Z-]{1,64}$")]
    pub staged_photo: Option<Vec<String>>,
}

/// multipart/form-data for `POST /api/v1/cases/{id}/respond`.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct GpResponse {
    /// Required unless a photo is sent.
    #[schema(max_length = 20000)]
    pub message: Option<String>,
    #[schema(value_type = Vec<String>, format = Binary)]
    pub photo: Option<Vec<Vec<u8>>>,
    #[schema(value_type = Option<Vec<PhotoKind>>)]
    pub photo_kind: Option<Vec<String>>,
    /// As for a case: ids of photos uploaded ahead.
    #[schema(pattern = "^[0-9a-zA-Z-]{1,64}$")]
    pub staged_photo: Option<Vec<String>>,
}

/// multipart/form-data for `POST /api/v1/photo-checks`: one photo, checked and never stored.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct PhotoCheckUpload {
    #[schema(value_type = String, format = Binary)]
    pub photo: Vec<u8>,
}

/// A FHIR R4 `Bundle` (type `collection`) of one case: Patient, Organization, Practitioners
/// and their roles, the A&G ServiceRequest (and the referral's, when advised), a Task with the
/// e-RS state, the conversation as Communications, the letter as a DocumentReference and each
/// photo as a Media. Described in full in `docs/fhir.md`; here only its outline.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FhirBundleJson {
    /// Always `Bundle`.
    pub resource_type: String,
    /// Always `collection`.
    #[serde(rename = "type")]
    pub kind: String,
    /// RFC 3339: the latest event of the case.
    pub timestamp: String,
    /// Each resource with its `fullUrl` (`urn:uuid:…`).
    pub entry: Vec<FhirEntryJson>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FhirEntryJson {
    pub full_url: String,
    /// A FHIR R4 resource, with its `resourceType`.
    pub resource: serde_json::Value,
}

/// A bundle as FHIR JSON, never cached (it names the patient).
pub fn fhir_response(bundle: &crate::fhir::Bundle) -> AppResult<Response> {
    let body = serde_json::to_vec(bundle).map_err(AppError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/fhir+json"),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        body,
    )
        .into_response())
}
