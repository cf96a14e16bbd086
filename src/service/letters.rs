//! The advice letter for the GP record (contract 1.1, `GET /api/v1/cases/{id}/letter.pdf`):
//! what it says, from the case as it stands, and the audit of each download with the letter's
//! SHA-256 and version. The letter is a function of the case alone (its times, never the
//! clock's), so it stays the same until the case changes; each change gives a new version.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::{ServiceError, ServiceResult};
use crate::db::{self, audit};
use crate::domain::access::Principal;
use crate::domain::{CaseId, CaseStatus, MessageKind, NhsNumber, Outcome, PhotoSize};
use crate::letter::{self, Block, Letter, Thumb};
use crate::service::cases::{self, CaseRow, MessageRow, PhotoRow};
use crate::service::AppState;
use crate::uk_time;

/// A letter as served: its bytes, their SHA-256 (hex) and its version for this case (1 for
/// the first letter anyone downloaded, 2 when the case changed after that, …).
pub struct LetterFile {
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub version: usize,
    pub file_name: String,
}

/// The case's advice letter, for whoever may see the case (the same 404 otherwise), once a
/// consultant has replied (409 `not_answered` before). Records the download.
pub async fn download(
    state: &AppState,
    user: &Principal,
    id: &CaseId,
) -> ServiceResult<LetterFile> {
    let row = cases::load(state, user, id).await?;
    let bytes = render(state, &row).await?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let earlier = db::audit::case_details(&state.db, &row.id, "letter.downloaded").await?;
    let version = version_of(&earlier, &sha256);
    audit::record(
        state.db.pool(),
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: "letter.downloaded",
            case_id: Some(&row.id),
            detail: Some(json!({ "sha256": sha256, "version": version })),
            ..Default::default()
        },
        state.now_ms(),
    )
    .await?;
    Ok(LetterFile {
        file_name: format!("advice-letter-{}-v{version}.pdf", row.id),
        bytes,
        sha256,
        version,
    })
}

/// The letter of a case the caller may see (checked by the caller), as PDF bytes; 409
/// `not_answered` before a consultant has replied.
pub(super) async fn render(state: &AppState, row: &CaseRow) -> ServiceResult<Vec<u8>> {
    let row = row.clone();
    let (photos, messages) = cases::photos_and_messages(state, &row, true).await?;
    let messages = messages.unwrap_or_default();
    if !messages.iter().any(|m| m.kind == MessageKind::Reply) {
        return Err(ServiceError::Conflict {
            code: "not_answered",
            message: "There is no advice letter yet: a consultant has not replied to this case."
                .into(),
        });
    }
    let consultant = match row.answered_by.as_deref() {
        Some(uid) => db::users::principal(&state.db, uid).await?,
        None => None,
    };
    let specialty = db::specialties::get(&state.db, &row.specialty)
        .await
        .map(|s| s.name)
        .unwrap_or_else(|_| row.specialty.clone());
    let mut thumbs = Vec::new();
    for p in &photos {
        let Some((key, content_type)) =
            db::cases::photo_object(&state.db, &row.id, &p.id, PhotoSize::Thumb).await?
        else {
            continue;
        };
        let bytes = state.blobs.get(&crate::blob::BlobKey::new(key)?).await?;
        thumbs.push((p, bytes.to_vec(), content_type == "image/png"));
    }
    let content = Content {
        row: &row,
        messages: &messages,
        specialty: &specialty,
        consultant: consultant.as_ref(),
        thumbs: thumbs
            .into_iter()
            .enumerate()
            .map(|(i, (p, bytes, png))| Thumb {
                caption: photo_caption(i + 1, p),
                bytes,
                png,
                width: u32::try_from(p.width).unwrap_or(1),
                height: u32::try_from(p.height).unwrap_or(1),
            })
            .collect(),
    }
    .letter();
    tokio::task::spawn_blocking(move || letter::render(&content))
        .await
        .map_err(|e| ServiceError::Internal(e.into()))?
        .map_err(|e| ServiceError::Internal(e.into()))
}

/// The version of a letter with this hash: its place among the distinct hashes this case's
/// earlier downloads recorded (oldest first), or one more than there are for a new one.
fn version_of(earlier: &[serde_json::Value], sha256: &str) -> usize {
    let mut seen: Vec<&str> = Vec::new();
    for d in earlier {
        if let Some(s) = d.get("sha256").and_then(|s| s.as_str()) {
            if !seen.contains(&s) {
                seen.push(s);
            }
        }
    }
    seen.iter()
        .position(|s| *s == sha256)
        .map_or(seen.len() + 1, |i| i + 1)
}

fn photo_caption(n: usize, p: &PhotoRow) -> String {
    let kind = p.kind.map(|k| k.label().to_lowercase());
    let mut caption = format!("Photo {n}");
    match (
        kind,
        p.body_site.as_deref().filter(|s| !s.trim().is_empty()),
    ) {
        (Some(k), Some(site)) => caption.push_str(&format!(": {k}, {}", site.trim())),
        (Some(k), None) => caption.push_str(&format!(": {k}")),
        (None, Some(site)) => caption.push_str(&format!(": {}", site.trim())),
        (None, None) => {}
    }
    if p.message_id.is_some() {
        caption.push_str(" (sent with the GP's response)");
    }
    caption
}

struct Content<'a> {
    row: &'a CaseRow,
    messages: &'a [MessageRow],
    specialty: &'a str,
    consultant: Option<&'a Principal>,
    thumbs: Vec<Thumb>,
}

fn field(label: &str, value: impl Into<String>) -> Block {
    Block::Field {
        label: label.into(),
        value: value.into(),
    }
}

fn heading(level: u16, text: impl Into<String>) -> Block {
    Block::Heading {
        level,
        text: text.into(),
    }
}

impl Content<'_> {
    /// The letter's time: the latest thing that happened to the case, so the age and the
    /// document date are the same every time this state of the case is printed.
    fn as_of_ms(&self) -> i64 {
        let row = self.row;
        self.messages
            .iter()
            .map(|m| m.created_at_ms)
            .chain(row.answered_at_ms)
            .chain(row.closed_at_ms)
            .chain([row.submitted_at_ms])
            .max()
            .unwrap_or(row.submitted_at_ms)
    }

    fn letter(self) -> Letter {
        let row = self.row;
        let as_of = self.as_of_ms();
        let nhs = NhsNumber::format_stored(&row.nhs_number);
        let born = uk_time::date_of_birth(&row.date_of_birth, as_of);
        let mut blocks = vec![
            field(
                "Practice",
                format!("{} (ODS code {})", row.practice_name, row.practice_ods),
            ),
            field("Specialty", self.specialty),
            heading(2, "Patient"),
            field("NHS number", nhs.clone()),
            field("Date of birth", born),
            field("Sex", row.sex.map_or("Not recorded", |s| s.label())),
            heading(2, "Request"),
            field("Urgency", row.urgency.label()),
            field("Sent", uk_time::format(row.submitted_at_ms)),
            heading(3, "Clinical history"),
            Block::Paragraph(row.history.clone()),
            heading(3, "Question for the specialist"),
            Block::Paragraph(row.question.clone()),
            heading(2, "Conversation"),
        ];
        for m in self.messages {
            let who = match m.kind {
                MessageKind::Reply => format!("Reply from {} (consultant)", m.author_name),
                MessageKind::GpResponse => format!("Response from {} (GP)", m.author_name),
            };
            blocks.push(heading(
                3,
                format!("{who}, {}", uk_time::format(m.created_at_ms)),
            ));
            if !m.body.trim().is_empty() {
                blocks.push(Block::Paragraph(m.body.clone()));
            }
            if let Some(o) = m.outcome {
                blocks.push(field("Outcome", o.label()));
            }
        }
        blocks.push(heading(2, "Outcome"));
        if let Some(o) = row.outcome {
            blocks.push(field("Outcome", o.label()));
            blocks.push(field("What the GP needs to do", self.gp_action(o)));
        }
        if let Some(c) = self.consultant {
            blocks.push(field(
                "Consultant",
                format!("{}, {} in {}", c.name, c.role.label(), self.specialty),
            ));
        }
        if let Some(at) = row.answered_at_ms {
            blocks.push(field("Answered", uk_time::format(at)));
        }
        if let Some(at) = row.closed_at_ms {
            blocks.push(field("Closed", uk_time::format(at)));
        }
        if !self.thumbs.is_empty() {
            blocks.push(heading(2, "Photos"));
            blocks.push(Block::Photos(self.thumbs));
            blocks.push(Block::Paragraph(
                "Thumbnails for identification; the full-size photos are in aghub.".into(),
            ));
        }
        Letter {
            title: "Advice and Guidance letter".into(),
            footer: format!("NHS number {nhs}    aghub case {}", row.id),
            created_at_ms: as_of,
            document_id: format!("aghub-advice-letter-{}", row.id),
            blocks,
        }
    }

    /// What the outcome leaves for the practice to do, in words.
    fn gp_action(&self, outcome: Outcome) -> String {
        gp_action(self.row, self.specialty, outcome)
    }
}

/// What the outcome leaves for the practice to do, in words (the letter and the FHIR export).
pub fn gp_action(row: &CaseRow, specialty: &str, outcome: Outcome) -> String {
    if let Some(priority) = outcome.referral_priority() {
        if row.status == CaseStatus::Converted {
            return format!(
                "Nothing: the hospital took the referral on ({} priority) on {}.",
                priority.label().to_lowercase(),
                row.answered_at_ms.map(uk_time::format).unwrap_or_default()
            );
        }
        if let Some(on) = &row.referred_on {
            let reference = row
                .referral_reference
                .as_deref()
                .map(|r| format!(", e-RS reference {r}"))
                .unwrap_or_default();
            return format!(
                "Done: the practice referred on {}{reference}.",
                uk_time::long_date(on)
            );
        }
        let by = row
            .referral_due_at_ms
            .map(|d| format!(" by the end of {}", uk_time::deadline_day(d)))
            .unwrap_or_default();
        return format!(
            "Refer the patient to {} ({} priority) through e-RS{by}, then confirm the referral in aghub.",
            specialty,
            priority.label().to_lowercase()
        );
    }
    match outcome {
        Outcome::ManageInPrimaryCare => {
            "Continue to manage the patient in primary care, following the advice above.".into()
        }
        Outcome::RequestInformation => {
            "Send the consultant the information they asked for, in aghub.".into()
        }
        Outcome::RedirectSpecialty => {
            "Nothing yet: the case was passed to another specialty, who will reply.".into()
        }
        _ => String::new(),
    }
}

/// A call's record for the GP record, as served: PDF bytes, their SHA-256 and a file name.
pub struct CallRecord {
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub file_name: String,
}

/// The record of a live call for the GP record (an aghub addition to contract 1.1, `GET
/// /api/v1/calls/{id}/letter.pdf`): who called whom, when, for how long, both outcomes and
/// notes, and where the recording is kept; for whoever may see the call, once it is over (409
/// `not_ended` before). Like the advice letter it depends on the call alone, never the clock.
pub async fn call_record(
    state: &AppState,
    user: &Principal,
    id: &str,
) -> ServiceResult<CallRecord> {
    use crate::domain::calls::CallStatus;
    let call = super::calls::record_view(state, user, id).await?;
    let c = &call.row;
    if !matches!(c.status, CallStatus::Ended | CallStatus::Missed) {
        return Err(ServiceError::Conflict {
            code: "not_ended",
            message: "The call's record is ready once the call is over.".into(),
        });
    }
    let practice = db::practices::get(&state.db, &c.practice_id).await?;
    let specialty = db::specialties::get(&state.db, &c.specialty)
        .await
        .map(|s| s.name)
        .unwrap_or_else(|_| c.specialty.clone());
    let nhs = NhsNumber::parse(&c.nhs_number)
        .map(|n| n.formatted())
        .unwrap_or_else(|_| c.nhs_number.clone());
    let field = |label: &str, value: String| Block::Field {
        label: label.into(),
        value,
    };
    let mut blocks = vec![
        field(
            "Practice",
            practice.map_or_else(String::new, |p| format!("{} ({})", p.name, p.ods_code)),
        ),
        field("NHS number", nhs.clone()),
        field("Date of birth", uk_time::long_date(&c.date_of_birth)),
        field("Specialty", specialty),
        field("Reason for the call", c.reason.clone()),
        field("Called", uk_time::format(c.times.started_at_ms)),
    ];
    match (c.answered_at_ms, &c.answered_by_name) {
        (Some(at), Some(name)) => {
            let pool = match c.answered_pool {
                Some(crate::domain::queue::Pool::National) => "national pool",
                _ => "local rota",
            };
            blocks.push(field("Answered by", format!("{name} ({pool})")));
            blocks.push(field("Answered", uk_time::format(at)));
            if let Some(end) = c.ended_at_ms {
                blocks.push(field("Ended", uk_time::format(end)));
                blocks.push(field("Length", uk_time::fmt_age(end - at)));
            }
        }
        _ => blocks.push(Block::Paragraph(format!(
            "Nobody answered in time, so the call became a written case{}.",
            c.case_id
                .as_deref()
                .map(|id| format!(" ({})", db::cases::short_id(id)))
                .unwrap_or_default()
        ))),
    }
    if c.answered_at_ms.is_some() {
        blocks.push(Block::Heading {
            level: 2,
            text: "Outcome".into(),
        });
        for (who, o) in [
            ("Consultant", c.consultant_outcome.as_ref()),
            ("GP", c.gp_outcome.as_ref()),
        ] {
            match o {
                Some(o) => {
                    blocks.push(field(who, o.outcome.label().into()));
                    if !o.note.is_empty() {
                        blocks.push(Block::Paragraph(o.note.clone()));
                    }
                }
                None => blocks.push(field(who, "not recorded yet".into())),
            }
        }
        if let Some(ms) = call.recording_ms {
            blocks.push(Block::Heading {
                level: 2,
                text: "Recording".into(),
            });
            blocks.push(Block::Paragraph(format!(
                "The call was recorded ({}). The recording is kept in aghub with the patient's record and played only by the practice and the consultant who answered.",
                uk_time::fmt_age(ms)
            )));
        }
    }
    let content = Letter {
        title: "Live A&G call: record for the GP record".into(),
        footer: format!("NHS number {nhs} · call {}", db::cases::short_id(&c.id)),
        created_at_ms: c.ended_at_ms.unwrap_or(c.give_up_at_ms),
        document_id: c.id.clone(),
        blocks,
    };
    let bytes = tokio::task::spawn_blocking(move || letter::render(&content))
        .await
        .map_err(|e| ServiceError::Internal(e.into()))?
        .map_err(|e| ServiceError::Internal(e.into()))?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    audit::record(
        state.db.pool(),
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: "call.record_downloaded",
            subject_id: Some(&c.id),
            detail: Some(json!({ "sha256": sha256 })),
            ..Default::default()
        },
        state.now_ms(),
    )
    .await?;
    Ok(CallRecord {
        file_name: format!("call-record-{}.pdf", c.id),
        bytes,
        sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_letters_version_counts_the_distinct_letters_downloaded_before_it() {
        let d = |s: &str| json!({ "sha256": s, "version": 0 });
        assert_eq!(version_of(&[], "a"), 1);
        assert_eq!(version_of(&[d("a"), d("a")], "a"), 1);
        assert_eq!(version_of(&[d("a"), d("a")], "b"), 2);
        assert_eq!(version_of(&[d("a"), d("b"), d("a")], "b"), 2);
        assert_eq!(version_of(&[d("a"), d("b")], "c"), 3);
    }
}
