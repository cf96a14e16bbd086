//! The FHIR export (contract 1.1, `GET /api/v1/cases/{id}/fhir`): a bundle for every state a
//! case can be in, each checked by an independent FHIR R4 validator (fhir.resources 6.4.0 from
//! PyPI, through scripts/validate-fhir-bundle.py) and here: identifier systems, references that
//! resolve inside the bundle, the case's NHS number and ODS code, the conversation in order, the
//! letter and photo links (which answer as the API does), the audit row, and the case's own
//! access rule.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::multipart::Form;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::cases::{jpeg_part, user_id, World};
use crate::helpers::{phone_jpeg, Stack};

on_both_stacks!(
    every_case_state_gives_a_valid_r4_bundle_that_tells_the_case,
    referrals_converted_left_to_the_gp_and_made_and_redirects_give_valid_bundles,
    the_export_is_refused_like_the_case_and_every_export_is_audited,
);

const H: i64 = 3_600_000;
const NHS: &str = "https://fhir.nhs.uk/Id/nhs-number";
const ODS: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
const SNOMED: &str = "http://snomed.info/sct";

/// Runs the independent validator (scripts/validate-fhir-bundle.py) on a bundle; a missing
/// validator fails the test.
fn run_validator(bytes: &[u8]) -> std::process::Output {
    let python = std::env::var("AGHUB_FHIR_PYTHON").unwrap_or_else(|_| {
        panic!(
            "AGHUB_FHIR_PYTHON is not set: the FHIR R4 validator (fhir.resources from PyPI) is \
             needed; run the suite with scripts/test, or `source scripts/deps.sh; \
             ensure_fhir_validator` first"
        )
    });
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/validate-fhir-bundle.py"
    );
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run the FHIR validator {python}: {e}"));
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    child.wait_with_output().unwrap()
}

/// The validator accepts the bundle, as FHIR R4.
pub fn validate(bytes: &[u8], what: &str) {
    let out = run_validator(bytes);
    assert!(
        out.status.success(),
        "the FHIR R4 validator refused the bundle of {what} (exit {:?}):\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&bytes[..bytes.len().min(4000)])
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("FHIR 4.0.1"),
        "validator ran as FHIR R4"
    );
}

/// The validator's complaint about a bundle it must refuse.
fn refused(bundle: &Value) -> String {
    let out = run_validator(&serde_json::to_vec(bundle).unwrap());
    assert_eq!(out.status.code(), Some(1), "the validator must refuse it");
    String::from_utf8_lossy(&out.stderr).to_string()
}

async fn fhir(w: &World, token: &str, id: &str) -> reqwest::Response {
    w.get(token, &format!("/api/v1/cases/{id}/fhir")).await
}

/// The bundle of a case as `token` sees it, validated and checked for the rules every bundle
/// keeps; also returns the raw bytes.
async fn bundle(w: &World, token: &str, id: &str, what: &str) -> (Value, Vec<u8>) {
    let r = fhir(w, token, id).await;
    assert_eq!(r.status(), StatusCode::OK, "{what}");
    assert_eq!(r.headers()["content-type"], "application/fhir+json");
    let bytes = r.bytes().await.unwrap().to_vec();
    validate(&bytes, what);
    let b: Value = serde_json::from_slice(&bytes).unwrap();
    let case: Value = w.get_json(token, &format!("/api/v1/cases/{id}")).await;
    check_invariants(w, &b, &case, what);
    (b, bytes)
}

pub fn entries<'a>(b: &'a Value, kind: &str) -> Vec<&'a Value> {
    b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == kind)
        .collect()
}

fn one<'a>(b: &'a Value, kind: &str) -> &'a Value {
    let all = entries(b, kind);
    assert_eq!(all.len(), 1, "one {kind}: {b:#}");
    all[0]
}

/// Every `reference` anywhere in the value.
fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "reference" {
                    if let Some(s) = x.as_str() {
                        out.push(s.to_string());
                    }
                }
                references(x, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|x| references(x, out)),
        _ => {}
    }
}

fn identifiers(v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(ids)) = m.get("identifier") {
                for i in ids {
                    out.push((
                        i["system"].as_str().unwrap().to_string(),
                        i["value"].as_str().unwrap().to_string(),
                    ));
                }
            }
            m.values().for_each(|x| identifiers(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| identifiers(x, out)),
        _ => {}
    }
}

fn full_url_of<'a>(b: &'a Value, resource: &Value) -> &'a str {
    b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["id"] == resource["id"])
        .and_then(|e| e["fullUrl"].as_str())
        .unwrap()
}

fn check_invariants(w: &World, b: &Value, case: &Value, what: &str) {
    assert_eq!(b["resourceType"], "Bundle");
    assert_eq!(b["type"], "collection");
    let full_urls: BTreeSet<&str> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fullUrl"].as_str().unwrap())
        .collect();
    assert_eq!(full_urls.len(), b["entry"].as_array().unwrap().len());
    for e in b["entry"].as_array().unwrap() {
        let url = e["fullUrl"].as_str().unwrap();
        let id = url.strip_prefix("urn:uuid:").expect("urn:uuid fullUrl");
        uuid::Uuid::parse_str(id).unwrap();
        assert_eq!(e["resource"]["id"], id);
        if let Some(profiles) = e["resource"]["meta"]["profile"].as_array() {
            for p in profiles {
                assert!(
                    p.as_str()
                        .unwrap()
                        .starts_with("https://fhir.hl7.org.uk/StructureDefinition/UKCore-"),
                    "{p}"
                );
            }
        }
    }
    let mut refs = Vec::new();
    references(b, &mut refs);
    assert!(!refs.is_empty());
    for r in &refs {
        assert!(
            full_urls.contains(r.as_str()),
            "{what}: {r} resolves to no entry"
        );
    }
    let mut ids = Vec::new();
    identifiers(b, &mut ids);
    for (system, _) in &ids {
        assert!(
            [NHS, ODS, "urn:ietf:rfc:3986", "https://fhir.nhs.uk/Id/UBRN"]
                .contains(&system.as_str()),
            "{what}: unexpected identifier system {system}"
        );
    }
    // The patient and the practice of this case.
    let patient = one(b, "Patient");
    assert_eq!(patient["identifier"][0]["system"], NHS);
    assert_eq!(patient["identifier"][0]["value"], case["nhs_number"]);
    assert_eq!(patient["birthDate"], case["date_of_birth"]);
    let practice = entries(b, "Organization");
    assert_eq!(practice.len(), 1, "only the practice: we hold no trust");
    assert_eq!(practice[0]["identifier"][0]["system"], ODS);
    assert_eq!(
        practice[0]["identifier"][0]["value"],
        case["practice"]["ods_code"]
    );
    // No practitioner identifiers: we hold no GMC or other professional numbers.
    for p in entries(b, "Practitioner") {
        assert!(p.get("identifier").is_none(), "{p}");
    }
    // The A&G request names this case.
    let requests = entries(b, "ServiceRequest");
    let ag = requests
        .iter()
        .find(|r| r.get("basedOn").is_none())
        .expect("the A&G request");
    assert_eq!(
        ag["identifier"][0]["value"],
        format!("urn:uuid:{}", case["id"].as_str().unwrap())
    );
    assert_eq!(ag["category"][0]["coding"][0]["system"], SNOMED);
    assert_eq!(ag["category"][0]["coding"][0]["code"], "3457005");
    assert_eq!(ag["code"]["coding"][0]["code"], "44383000");
    // Links point at this service's own authorised routes.
    for m in entries(b, "Media") {
        assert!(m["content"]["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/api/v1/cases/", w.app.base)));
    }
    // One Media per photo of the case, with its size.
    let photos = case["photos"].as_array().unwrap();
    let media = entries(b, "Media");
    assert_eq!(media.len(), photos.len(), "{what}");
    for (m, p) in media.iter().zip(photos) {
        assert_eq!(m["width"], p["width"]);
        assert_eq!(m["height"], p["height"]);
        assert_eq!(m["content"]["contentType"], p["content_type"]);
        assert!(m["content"]["url"]
            .as_str()
            .unwrap()
            .ends_with(p["href"].as_str().unwrap()));
    }
    // The letter once a consultant replied, never before.
    let replied = case["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["kind"] == "reply");
    assert_eq!(
        entries(b, "DocumentReference").len(),
        usize::from(replied),
        "{what}"
    );
    // The conversation, in order, with its words.
    let comms = entries(b, "Communication");
    let messages = case["messages"].as_array().unwrap();
    assert_eq!(comms.len(), messages.len(), "{what}");
    for (c, m) in comms.iter().zip(messages) {
        assert_eq!(c["payload"][0]["contentString"], m["body"], "{what}");
        assert_eq!(
            c["sent"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .unwrap(),
            m["at"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .unwrap()
        );
        assert_eq!(c["basedOn"][0]["reference"], full_url_of(b, ag));
    }
}

fn task(b: &Value) -> (String, String) {
    let t = one(b, "Task");
    (
        t["status"].as_str().unwrap().to_string(),
        t["businessStatus"]["text"].as_str().unwrap().to_string(),
    )
}

fn ag(b: &Value) -> Value {
    entries(b, "ServiceRequest")
        .into_iter()
        .find(|r| r.get("basedOn").is_none())
        .unwrap()
        .clone()
}

fn referral(b: &Value) -> Option<Value> {
    entries(b, "ServiceRequest")
        .into_iter()
        .find(|r| r.get("basedOn").is_some())
        .cloned()
}

pub fn notes(r: &Value) -> String {
    r["note"]
        .as_array()
        .map(|n| {
            n.iter()
                .map(|a| a["text"].as_str().unwrap())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

async fn ok(r: reqwest::Response) -> Value {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn every_case_state_gives_a_valid_r4_bundle_that_tells_the_case(stack: Stack) {
    let w = World::new(stack).await;
    let case = w.case("dermatology", "urgent", 2).await;
    let id = case["id"].as_str().unwrap();

    // Queued, with photos: no consultant, no letter yet.
    let (b, first) = bundle(&w, &w.gp, id, "a queued case").await;
    assert_eq!(
        task(&b),
        ("requested".into(), "PROVIDER_RESPONSE_REQUIRED".into())
    );
    let sr = ag(&b);
    assert_eq!(
        (&sr["status"], &sr["intent"]),
        (&json!("active"), &json!("order"))
    );
    assert_eq!(sr["priority"], "urgent");
    assert!(notes(&sr).contains("Question for the specialist: Is this suspicious for melanoma?"));
    assert!(notes(&sr).contains(
        "Clinical history: Pigmented lesion on the left forearm, growing over 3 months."
    ));
    assert_eq!(one(&b, "Patient")["gender"], "female");
    let media = entries(&b, "Media");
    assert_eq!(media[0]["bodySite"]["text"], "left forearm");
    assert_eq!(media[0]["view"]["text"], "Site view");
    // The validator has teeth: a wrong code, a missing required element, a dangling reference.
    let mut broken = b.clone();
    broken["entry"][0]["resource"]["gender"] = json!("woman");
    assert!(refused(&broken).contains("gender"));
    let mut broken = b.clone();
    let at = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .position(|e| e["resource"]["resourceType"] == "ServiceRequest")
        .unwrap();
    broken["entry"][at]["resource"]
        .as_object_mut()
        .unwrap()
        .remove("intent");
    assert!(refused(&broken).contains("intent"));
    let mut broken = b.clone();
    broken["entry"].as_array_mut().unwrap().remove(0);
    assert!(refused(&broken).contains("names no entry"));
    // The same state of the case: the same bundle, byte for byte, whoever asks.
    let (_, again) = bundle(&w, &w.derm_local, id, "the queued case again").await;
    assert_eq!(first, again, "ids and content are stable for a case state");
    // Each photo link answers with the photo, for someone who may see the case.
    let url = media[0]["content"]["url"].as_str().unwrap();
    let photo = w.client().get(url).bearer_auth(&w.gp).send().await.unwrap();
    assert_eq!(photo.status(), StatusCode::OK);
    assert_eq!(photo.headers()["content-type"], "image/jpeg");

    // Claimed.
    w.app.clock.advance(H);
    ok(w.post(&w.derm_local, &format!("/api/v1/cases/{id}/claim"))
        .await)
    .await;
    let (b, _) = bundle(&w, &w.gp, id, "a claimed case").await;
    assert_eq!(
        task(&b),
        ("in-progress".into(), "PROVIDER_RESPONSE_REQUIRED".into())
    );
    let derm = user_id(&w, &w.derm_local).await;
    assert_eq!(one(&b, "Task")["owner"]["display"], "Test derm1@h.example");
    assert!(!derm.is_empty());

    // Information requested: waiting for the GP.
    ok(w.post_json(
        &w.derm_local,
        &format!("/api/v1/cases/{id}/reply"),
        json!({"advice": "Please send a close-up with a ruler beside the lesion.", "outcome": "request_information"}),
    )
    .await)
    .await;
    let (b, _) = bundle(&w, &w.gp, id, "a case awaiting the GP").await;
    assert_eq!(
        task(&b),
        (
            "on-hold".into(),
            "REFERRER_TO_SUBMIT_FURTHER_INFORMATION".into()
        )
    );
    assert_eq!(ag(&b)["status"], "active");
    let letter = one(&b, "DocumentReference");
    assert_eq!(letter["docStatus"], "preliminary");
    assert_eq!(
        letter["content"][0]["attachment"]["url"],
        format!("{}/api/v1/cases/{id}/letter.pdf", w.app.base)
    );
    assert_eq!(
        letter["content"][0]["attachment"]["contentType"],
        "application/pdf"
    );

    // The GP responds with words and a photo: back with the consultant who asked.
    w.app.clock.advance(H);
    let responded = w
        .client()
        .post(w.app.url(&format!("/api/v1/cases/{id}/respond")))
        .bearer_auth(&w.gp_same_practice)
        .multipart(
            Form::new()
                .text("message", "Close-up with a ruler attached: 7 mm across.")
                .part("photo", jpeg_part(phone_jpeg(800, 600, 1, 9)))
                .text("photo_kind", "close_up")
                .text("photo_site", "left forearm"),
        )
        .send()
        .await
        .unwrap();
    let responded = ok(responded).await;
    assert_eq!(responded["gp_responded"], true);
    let (b, _) = bundle(&w, &w.gp, id, "a case the GP responded to").await;
    assert_eq!(task(&b).0, "in-progress");
    let comms = entries(&b, "Communication");
    assert_eq!(comms.len(), 2);
    assert_eq!(
        comms[1]["inResponseTo"][0]["reference"],
        full_url_of(&b, comms[0]),
        "the GP's response answers the request for information"
    );
    assert_eq!(comms[1]["sender"]["display"], "Test gp2@a.example");
    assert_eq!(comms[1]["recipient"][0]["display"], "Test derm1@h.example");
    let sent_photo = comms[1]["payload"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|p| p["contentReference"]["reference"].as_str())
        .expect("the photo sent with the response");
    let media = entries(&b, "Media");
    assert_eq!(media.len(), 3);
    assert_eq!(full_url_of(&b, media[2]), sent_photo);
    assert_eq!(
        comms[0]["payload"][1]["contentString"],
        "Outcome: More information requested"
    );

    // Answered: advice, closed.
    w.app.clock.advance(H);
    ok(w.post_json(
        &w.derm_local,
        &format!("/api/v1/cases/{id}/reply"),
        json!({"advice": "This is a benign seborrhoeic keratosis. Reassure; no treatment needed.", "outcome": "manage_in_primary_care"}),
    )
    .await)
    .await;
    let (b, _) = bundle(&w, &w.gp, id, "a closed case").await;
    assert_eq!(task(&b), ("completed".into(), "ENDED_CLOSED".into()));
    let sr = ag(&b);
    assert_eq!(sr["status"], "completed");
    assert_eq!(sr["performer"][0]["display"], "Test derm1@h.example");
    assert!(
        notes(&sr).contains("Outcome: Manage in primary care."),
        "{}",
        notes(&sr)
    );
    assert!(referral(&b).is_none(), "advice only: no referral");
    let comms = entries(&b, "Communication");
    let texts: Vec<&str> = comms
        .iter()
        .map(|c| c["payload"][0]["contentString"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "Please send a close-up with a ruler beside the lesion.",
            "Close-up with a ruler attached: 7 mm across.",
            "This is a benign seborrhoeic keratosis. Reassure; no treatment needed.",
        ]
    );
    assert_eq!(
        comms[2]["inResponseTo"][0]["reference"],
        full_url_of(&b, comms[1])
    );
    assert_eq!(one(&b, "DocumentReference")["docStatus"], "final");
    // The letter link answers with the letter.
    let letter = w
        .client()
        .get(
            one(&b, "DocumentReference")["content"][0]["attachment"]["url"]
                .as_str()
                .unwrap(),
        )
        .bearer_auth(&w.gp)
        .send()
        .await
        .unwrap();
    assert_eq!(letter.status(), StatusCode::OK);
    assert_eq!(letter.headers()["content-type"], "application/pdf");
}

/// A cardiology case with no photos.
async fn cardiology_case(w: &World, authorised: bool, urgency: &str) -> String {
    let form = Form::new()
        .text("specialty", "cardiology")
        .text("nhs_number", "943 476 5919")
        .text("date_of_birth", "1958-02-11")
        .text("urgency", urgency.to_string())
        .text("history", "Exertional chest tightness for six weeks.")
        .text("question", "Rapid-access chest pain clinic?")
        .text("conversion_authorised", authorised.to_string());
    let r = w.submit(&w.gp, form).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let case: Value = r.json().await.unwrap();
    case["id"].as_str().unwrap().to_string()
}

async fn referrals_converted_left_to_the_gp_and_made_and_redirects_give_valid_bundles(
    stack: Stack,
) {
    let w = World::new(stack).await;

    // A routine case without photos, queued: no Media, no sex recorded, routine.
    let left = cardiology_case(&w, false, "routine").await;
    let (b, _) = bundle(&w, &w.gp, &left, "a routine case without photos").await;
    assert!(entries(&b, "Media").is_empty());
    assert!(one(&b, "Patient").get("gender").is_none());
    assert_eq!(ag(&b)["priority"], "routine");
    assert!(notes(&ag(&b)).contains("did not authorise conversion"));

    // Referral left to the GP: a proposal the GP is to act on.
    ok(w.post(&w.cardio, &format!("/api/v1/cases/{left}/claim"))
        .await)
    .await;
    w.app.clock.advance(H);
    ok(w.post_json(
        &w.cardio,
        &format!("/api/v1/cases/{left}/reply"),
        json!({"advice": "Please refer to the rapid-access chest pain clinic.", "outcome": "refer_urgent"}),
    )
    .await)
    .await;
    let (b, _) = bundle(&w, &w.gp, &left, "gp_to_refer").await;
    assert_eq!(task(&b), ("completed".into(), "REFERRER_TO_REVIEW".into()));
    assert_eq!(ag(&b)["status"], "completed");
    let r = referral(&b).expect("the advised referral");
    assert_eq!(
        (&r["status"], &r["intent"]),
        (&json!("active"), &json!("proposal"))
    );
    assert_eq!(r["priority"], "urgent");
    assert_eq!(r["requester"]["display"], "Test cardio@h.example");
    assert!(notes(&r).contains("the GP is to make it through e-RS"));
    assert!(notes(&ag(&b)).contains("Refer the patient to Cardiology (urgent priority)"));

    // Overdue: still valid, and says so.
    w.app.clock.advance(5 * 24 * H);
    let (b, _) = bundle(&w, &w.gp, &left, "an overdue gp_to_refer").await;
    assert!(notes(&ag(&b)).contains("The referral is overdue."));

    // The GP made it, with its e-RS reference: the practice's order, closed.
    ok(w.post_json(
        &w.gp,
        &format!("/api/v1/cases/{left}/referral-made"),
        json!({"referred_on": "2026-11-27", "reference": "000012345678"}),
    )
    .await)
    .await;
    let (b, _) = bundle(&w, &w.gp, &left, "referral made, closed").await;
    assert_eq!(task(&b), ("completed".into(), "ENDED_CLOSED".into()));
    let r = referral(&b).unwrap();
    assert_eq!(r["intent"], "order");
    assert_eq!(r["identifier"][0]["system"], "https://fhir.nhs.uk/Id/UBRN");
    assert_eq!(r["identifier"][0]["value"], "000012345678");
    assert_eq!(r["authoredOn"], "2026-11-27");
    assert_eq!(r["requester"]["display"], "Practice A81001");

    // Converted on the two-week-wait pathway, as the GP authorised: the hospital's.
    let converted = cardiology_case(&w, true, "urgent").await;
    ok(
        w.post(&w.cardio, &format!("/api/v1/cases/{converted}/claim"))
            .await,
    )
    .await;
    ok(w.post_json(
        &w.cardio,
        &format!("/api/v1/cases/{converted}/reply"),
        json!({"advice": "Booked onto the suspected cancer pathway.", "outcome": "refer_two_week_wait", "convert": true}),
    )
    .await)
    .await;
    let (b, _) = bundle(&w, &w.cardio, &converted, "converted").await;
    assert_eq!(task(&b), ("completed".into(), "ADVICE_CONVERTED".into()));
    let r = referral(&b).unwrap();
    assert_eq!(
        (&r["intent"], &r["priority"]),
        (&json!("order"), &json!("asap"))
    );
    assert!(r["code"]["text"]
        .as_str()
        .unwrap()
        .contains("two-week wait (suspected cancer)"));
    assert_eq!(r["requester"]["display"], "Test gp@a.example");
    assert!(r.get("identifier").is_none(), "no UBRN known");

    // Redirected to another specialty: queued there, the first consultant's note kept.
    let case = w.case("dermatology", "routine", 1).await;
    let moved = case["id"].as_str().unwrap();
    ok(
        w.post(&w.derm_local, &format!("/api/v1/cases/{moved}/claim"))
            .await,
    )
    .await;
    ok(w.post_json(
        &w.derm_local,
        &format!("/api/v1/cases/{moved}/reply"),
        json!({"advice": "This looks vascular; cardiology should advise.", "outcome": "redirect_specialty", "redirect_to": "cardiology"}),
    )
    .await)
    .await;
    let (b, _) = bundle(&w, &w.gp, moved, "redirected").await;
    assert_eq!(
        task(&b),
        ("requested".into(), "PROVIDER_RESPONSE_REQUIRED".into())
    );
    let sr = ag(&b);
    assert_eq!(sr["status"], "active");
    assert_eq!(sr["performerType"]["text"], "Cardiology");
    let comms = entries(&b, "Communication");
    assert_eq!(
        comms[0]["payload"][1]["contentString"],
        "Outcome: Redirect to another specialty"
    );
    // The new specialty's consultant sees the same case.
    let (_, by_cardio) = bundle(&w, &w.cardio, moved, "redirected, as cardiology").await;
    let (_, by_gp) = bundle(&w, &w.gp, moved, "redirected, as the GP").await;
    assert_eq!(by_cardio, by_gp);
}

async fn audit_rows(w: &World, case_id: &str, action: &str) -> Vec<(Option<String>, Value)> {
    let mut events = aghub::db::audit::recent(&w.app.state.db, 1000)
        .await
        .unwrap();
    events.reverse();
    events
        .into_iter()
        .filter(|e| e.action == action && e.case_id.as_deref() == Some(case_id))
        .map(|e| (e.actor_id, e.detail.unwrap_or(Value::Null)))
        .collect()
}

async fn the_export_is_refused_like_the_case_and_every_export_is_audited(stack: Stack) {
    let w = World::new(stack).await;
    let case = w.case("dermatology", "routine", 1).await;
    let id = case["id"].as_str().unwrap();
    ok(w.post(&w.derm_local, &format!("/api/v1/cases/{id}/claim"))
        .await)
    .await;
    ok(w.post_json(
        &w.derm_local,
        &format!("/api/v1/cases/{id}/reply"),
        json!({"advice": "Reassure.", "outcome": "manage_in_primary_care"}),
    )
    .await)
    .await;
    // As GET /api/v1/cases/{id}: another practice's GP, another specialty's consultant and a
    // commissioner get the same refusal, which names no photo and no letter.
    for token in [&w.gp_other_practice, &w.cardio, &w.commissioner] {
        let case_status = w.get(token, &format!("/api/v1/cases/{id}")).await.status();
        let r = fhir(&w, token, id).await;
        assert_eq!(r.status(), case_status);
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let body = r.text().await.unwrap();
        assert!(
            !body.contains("/photos/") && !body.contains("letter.pdf") && !body.contains(id),
            "{body}"
        );
        let photo = &case["photos"][0]["href"];
        let r = w.get(token, photo.as_str().unwrap()).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "nor the photo itself");
    }
    assert_eq!(
        fhir(&w, &w.gp, "not-a-case").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        w.client()
            .get(w.app.url(&format!("/api/v1/cases/{id}/fhir")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(
        audit_rows(&w, id, "case.fhir_exported").await.is_empty(),
        "refusals export nothing"
    );
    let refused = audit_rows(&w, id, "access.refused").await;
    assert!(
        refused
            .iter()
            .filter(|(_, d)| d["path"] == format!("/api/v1/cases/{id}/fhir"))
            .count()
            == 3,
        "each refusal is in the trail: {refused:?}"
    );

    // The practice, the consultant and an admin may; each export is a row naming who and what.
    for token in [&w.gp, &w.gp_same_practice, &w.derm_local, &w.admin] {
        bundle(&w, token, id, "an allowed export").await;
    }
    let rows = audit_rows(&w, id, "case.fhir_exported").await;
    assert_eq!(rows.len(), 4, "{rows:?}");
    let mut who = Vec::new();
    for token in [&w.gp, &w.gp_same_practice, &w.derm_local, &w.admin] {
        who.push(Some(user_id(&w, token).await));
    }
    assert_eq!(rows.iter().map(|(a, _)| a.clone()).collect::<Vec<_>>(), who);
    let (b, _) = bundle(&w, &w.gp, id, "once more").await;
    let last = audit_rows(&w, id, "case.fhir_exported")
        .await
        .pop()
        .unwrap()
        .1;
    assert_eq!(last["bundle"], b["identifier"]["value"]);
    assert_eq!(last["entries"], b["entry"].as_array().unwrap().len());
    assert_eq!(last["status"], "closed");
}
