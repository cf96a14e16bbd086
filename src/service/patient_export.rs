//! A subject access request (issue 15): everything aghub holds about one patient, in one .zip
//! file. `patient.json` has each case with its messages, photos' details and photo links;
//! `photos/` the full-size photos (as stored: no metadata); `letters/` each answered case's
//! advice letter; `calls` in `patient.json` each live call, with its recording in `recordings/`;
//! `access.csv` everyone who viewed or changed the patient's data, and when.
//! Admins only (the command line is the operator); each export is audited.

use std::io::Write;

use serde_json::json;

use super::{Actor, ServiceError, ServiceResult};
use crate::db::{self, audit};
use crate::domain::{MessageKind, NhsNumber, PhotoSize};
use crate::service::{admin, cases, letters, AppState};

/// The export's bytes and a file name for it.
pub struct Export {
    pub bytes: Vec<u8>,
    pub file_name: String,
    pub cases: usize,
}

fn zip_error(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(anyhow::anyhow!("writing the export: {e}"))
}

pub async fn export(state: &AppState, actor: Actor<'_>, nhs_number: &str) -> ServiceResult<Export> {
    let nhs = NhsNumber::parse(nhs_number).map_err(|e| {
        ServiceError::Invalid(vec![super::FieldError {
            field: "nhs_number",
            code: "invalid_nhs_number",
            message: e.to_string(),
        }])
    })?;
    let ids = db::cases::ids_of_patient(&state.db, nhs.as_str()).await?;
    let call_ids = db::calls::ids_of_patient(&state.db, nhs.as_str()).await?;
    if ids.is_empty() && call_ids.is_empty() {
        return Err(ServiceError::NotFound(format!(
            "aghub holds nothing about NHS number {}.",
            nhs.formatted()
        )));
    }
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o600);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let add = |zip: &mut zip::ZipWriter<_>, name: String, bytes: &[u8]| -> ServiceResult<()> {
        zip.start_file(name, options).map_err(zip_error)?;
        zip.write_all(bytes).map_err(zip_error)
    };
    let mut cases_json = Vec::new();
    for id in &ids {
        let Some(row) = db::cases::get(&state.db, id).await? else {
            continue;
        };
        let (photos, messages) = cases::photos_and_messages(state, &row, true).await?;
        let messages = messages.unwrap_or_default();
        let mut photo_files = Vec::new();
        for (n, p) in photos.iter().enumerate() {
            let Some((key, content_type)) =
                db::cases::photo_object(&state.db, &row.id, &p.id, PhotoSize::Full).await?
            else {
                continue;
            };
            let bytes = state.blobs.get(&crate::blob::BlobKey::new(key)?).await?;
            let ext = if content_type == "image/png" {
                "png"
            } else {
                "jpg"
            };
            let name = format!("photos/{}-{}.{ext}", row.id, n + 1);
            add(&mut zip, name.clone(), &bytes)?;
            photo_files.push(json!({
                "file": name,
                "kind": p.kind.map(|k| k.as_str()),
                "body_site": p.body_site,
                "taken_by": if p.by_patient { "patient" } else { "gp" },
                "width": p.width,
                "height": p.height,
                "sha256": p.sha256,
            }));
        }
        let letter = if messages.iter().any(|m| m.kind == MessageKind::Reply) {
            let name = format!("letters/{}.pdf", row.id);
            add(&mut zip, name.clone(), &letters::render(state, &row).await?)?;
            Some(name)
        } else {
            None
        };
        cases_json.push(json!({
            "id": row.id,
            "practice": {"ods_code": row.practice_ods, "name": row.practice_name},
            "specialty": row.specialty,
            "status": row.status.as_str(),
            "urgency": row.urgency.as_str(),
            "date_of_birth": row.date_of_birth,
            "sex": row.sex.map(|s| s.as_str()),
            "history": row.history,
            "question": row.question,
            "submitted_at": crate::clock::rfc3339(row.submitted_at_ms),
            "outcome": row.outcome.map(|o| o.as_str()),
            "advice": row.advice,
            "closed_at": row.closed_at_ms.map(crate::clock::rfc3339),
            "referral": {"due_at": row.referral_due_at_ms.map(crate::clock::rfc3339), "referred_on": row.referred_on, "reference": row.referral_reference},
            "messages": messages.iter().map(|m| json!({
                "kind": m.kind.as_str(),
                "from": m.author_name,
                "at": crate::clock::rfc3339(m.created_at_ms),
                "text": m.body,
                "outcome": m.outcome.map(|o| o.as_str()),
            })).collect::<Vec<_>>(),
            "photos": photo_files,
            "letter": letter,
        }));
    }
    let mut calls_json = Vec::new();
    for id in &call_ids {
        let Some(c) = db::calls::get(&state.db, id).await? else {
            continue;
        };
        let chunks = db::calls::chunks(&state.db, id).await?;
        let recording = if chunks.is_empty() {
            None
        } else {
            // The chunks of one recording, one after another, make its file.
            let mut audio = Vec::new();
            for chunk in &chunks {
                let key = crate::blob::BlobKey::new(chunk.blob_key.clone())?;
                audio.extend_from_slice(&state.blobs.get(&key).await?);
            }
            let name = format!("recordings/{id}.webm");
            add(&mut zip, name.clone(), &audio)?;
            Some(name)
        };
        let outcome = |o: Option<&db::calls::PartyOutcome>| {
            o.map(|o| json!({ "outcome": o.outcome.as_str(), "note": o.note, "at": crate::clock::rfc3339(o.at_ms) }))
        };
        calls_json.push(json!({
            "id": c.id,
            "specialty": c.specialty,
            "date_of_birth": c.date_of_birth,
            "reason": c.reason,
            "status": c.status.as_str(),
            "started_at": crate::clock::rfc3339(c.times.started_at_ms),
            "answered_by": c.answered_by_name,
            "answered_at": c.answered_at_ms.map(crate::clock::rfc3339),
            "ended_at": c.ended_at_ms.map(crate::clock::rfc3339),
            "outcomes": {
                "gp": outcome(c.gp_outcome.as_ref()),
                "consultant": outcome(c.consultant_outcome.as_ref()),
            },
            "written_case": c.case_id,
            "recording": recording,
        }));
    }
    let records: Vec<String> = ids.iter().chain(&call_ids).cloned().collect();
    let found = audit::search(
        &state.db,
        &audit::Search {
            record_ids: Some(&records),
            limit: i64::MAX,
            ..Default::default()
        },
    )
    .await?;
    add(
        &mut zip,
        "access.csv".into(),
        admin::audit_csv(&found).as_bytes(),
    )?;
    let patient = json!({
        "nhs_number": nhs.as_str(),
        "exported_at": crate::clock::rfc3339(state.now_ms()),
        "exported_by": match actor { Actor::Admin(_) => "an admin, on the web", _ => "the operator, at the command line" },
        "cases": cases_json,
        "calls": calls_json,
        "access_record": "access.csv",
    });
    let text = serde_json::to_vec_pretty(&patient).map_err(zip_error)?;
    add(&mut zip, "patient.json".into(), &text)?;
    let bytes = zip.finish().map_err(zip_error)?.into_inner();
    audit::record(
        state.db.pool(),
        audit::Event {
            actor_id: match actor {
                Actor::Admin(id) => Some(id),
                _ => None,
            },
            action: "patient.exported",
            detail: Some(json!({ "case_ids": ids, "call_ids": call_ids, "bytes": bytes.len(), "via": actor.via() })),
            ..Default::default()
        },
        state.now_ms(),
    )
    .await?;
    Ok(Export {
        file_name: format!("aghub-patient-{}.zip", nhs.as_str()),
        cases: ids.len(),
        bytes,
    })
}
