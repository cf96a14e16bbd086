//! The advice letter (contract 1.1, `GET /api/v1/cases/{id}/letter.pdf`), read back with
//! poppler's tools: its words, its embedded fonts and its thumbnails; the same bytes for the same
//! case, a new audited version when the case changes; the case's own access rules.

use std::process::Command;

use reqwest::multipart::Form;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::cases::World;
use crate::helpers::{error_code, Stack};

on_both_stacks!(
    the_letter_holds_the_whole_case_in_selectable_text_with_fonts_and_thumbnails,
    only_people_who_may_see_the_case_get_its_letter_and_only_once_answered,
);

const H: i64 = 3_600_000;

/// Runs a poppler tool on the PDF and returns its standard output.
fn poppler(tool: &str, args: &[&str], pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("letter.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new(tool)
        .args(args)
        .arg(&path)
        .args(if tool == "pdftotext" { &["-"][..] } else { &[][..] })
        .output()
        .unwrap_or_else(|e| {
            panic!("{tool} is needed to read the letter (poppler-utils; scripts/deps.sh ensure_test_tools): {e}")
        });
    assert!(
        out.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn letter(w: &World, token: &str, id: &str) -> reqwest::Response {
    w.get(token, &format!("/api/v1/cases/{id}/letter.pdf"))
        .await
}

async fn pdf(w: &World, token: &str, id: &str) -> (Vec<u8>, String) {
    let r = letter(w, token, id).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let version = r.headers()["x-letter-version"]
        .to_str()
        .unwrap()
        .to_string();
    (r.bytes().await.unwrap().to_vec(), version)
}

async fn letter_versions(w: &World, case_id: &str) -> Vec<(String, i64)> {
    let mut events = aghub::db::audit::recent(&w.app.state.db, 500)
        .await
        .unwrap();
    events.reverse();
    events
        .into_iter()
        .filter(|e| e.action == "letter.downloaded" && e.case_id.as_deref() == Some(case_id))
        .map(|e| {
            let d = e.detail.unwrap();
            (
                d["sha256"].as_str().unwrap().to_string(),
                d["version"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn page(w: &World, token: &str, id: &str) -> String {
    w.get(token, &format!("/cases/{id}"))
        .await
        .text()
        .await
        .unwrap()
}

/// Pulls the words of a PDF's text together (pdftotext keeps the layout's line breaks).
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn the_letter_holds_the_whole_case_in_selectable_text_with_fonts_and_thumbnails(
    stack: Stack,
) {
    let w = World::new(stack).await;
    let case = w.case("dermatology", "urgent", 1).await;
    let id = case["id"].as_str().unwrap();
    w.app.clock.advance(H);
    let claimed = w
        .post(&w.derm_local, &format!("/api/v1/cases/{id}/claim"))
        .await;
    assert_eq!(claimed.status(), StatusCode::OK);
    let asked = w
        .post_json(
            &w.derm_local,
            &format!("/api/v1/cases/{id}/reply"),
            json!({"advice": "Please send a close-up with a ruler beside the lesion.", "outcome": "request_information"}),
        )
        .await;
    assert_eq!(asked.status(), StatusCode::OK);

    // The same state of the case: the same letter, byte for byte, whoever asks and when.
    let (first, v1) = pdf(&w, &w.gp, id).await;
    assert!(first.starts_with(b"%PDF-"));
    w.app.clock.advance(H);
    let (again, v1_again) = pdf(&w, &w.derm_local, id).await;
    assert_eq!(first, again, "the same case state gives identical bytes");
    assert_eq!((v1.as_str(), v1_again.as_str()), ("1", "1"));

    // A GP response and a new reply: a new letter, version 2 in the audit.
    let responded = w
        .client()
        .post(w.app.url(&format!("/api/v1/cases/{id}/respond")))
        .bearer_auth(&w.gp)
        .multipart(Form::new().text("message", "Close-up with a ruler attached: 7 mm across."))
        .send()
        .await
        .unwrap();
    assert_eq!(responded.status(), StatusCode::OK);
    w.app.clock.advance(H);
    let answered: Value = w
        .post_json(
            &w.derm_local,
            &format!("/api/v1/cases/{id}/reply"),
            json!({"advice": "This is a benign seborrhoeic keratosis. Reassure; no treatment needed.", "outcome": "manage_in_primary_care"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answered["status"], "closed");
    let (second, v2) = pdf(&w, &w.gp_same_practice, id).await;
    assert_ne!(first, second, "a changed case gives a new letter");
    assert_eq!(v2, "2");
    // Kept for people to look at (pdftoppm -png), like the browser test's screenshots.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../test-artifacts/letters");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{stack:?}-answered-twice.pdf")), &second).unwrap();
    // To look at it: AGHUB_LETTER_OUT=/tmp/letter.pdf, then `pdftoppm -png`.
    if let Ok(out) = std::env::var("AGHUB_LETTER_OUT") {
        std::fs::write(out, &second).unwrap();
    }
    let (second_again, _) = pdf(&w, &w.admin, id).await;
    assert_eq!(second, second_again);
    let versions = letter_versions(&w, id).await;
    let numbers: Vec<i64> = versions.iter().map(|(_, v)| *v).collect();
    assert_eq!(numbers, vec![1, 1, 2, 2], "{versions:?}");
    assert_eq!(versions[0].0, versions[1].0);
    assert_ne!(versions[1].0, versions[2].0);
    assert_eq!(versions[2].0.len(), 64, "a SHA-256 in hex");

    // Every part of the case, as text a GP system can read.
    let text = words(&poppler("pdftotext", &[], &second));
    for expected in [
        "Advice and Guidance letter",
        "Practice A81001 (ODS code A81001)",
        "943 476 5919",
        "27 March 1984 (42 years)",
        "Female",
        "Dermatology",
        "Urgent",
        "Pigmented lesion on the left forearm, growing over 3 months.",
        "Is this suspicious for melanoma?",
        "Please send a close-up with a ruler beside the lesion.",
        "More information requested",
        "Response from Test gp@a.example (GP)",
        "Close-up with a ruler attached: 7 mm across.",
        "This is a benign seborrhoeic keratosis. Reassure; no treatment needed.",
        "Manage in primary care",
        "Continue to manage the patient in primary care",
        "Test derm1@h.example, Consultant in Dermatology",
        "Reply from Test derm1@h.example (consultant)",
        "GMT",
        "Photo 1: site view, left forearm",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from the letter: {text}"
        );
    }
    // Fonts embedded (and subsetted); the thumbnail is an image in it.
    let fonts = poppler("pdffonts", &[], &second);
    let font_rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!font_rows.is_empty(), "{fonts}");
    for row in &font_rows {
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert!(row.contains("LiberationSans"), "{fonts}");
        assert_eq!(cols[cols.len() - 5], "yes", "embedded: {fonts}");
    }
    let images = poppler("pdfimages", &["-list"], &second);
    assert_eq!(images.lines().skip(2).count(), 1, "one thumbnail: {images}");
}

async fn only_people_who_may_see_the_case_get_its_letter_and_only_once_answered(stack: Stack) {
    let w = World::new(stack).await;
    let case = w.case("dermatology", "routine", 1).await;
    let id = case["id"].as_str().unwrap();
    let link = format!("href=\"/api/v1/cases/{id}/letter.pdf\"");
    assert!(
        !page(&w, &w.gp, id).await.contains(&link),
        "no letter before a reply"
    );
    let before = letter(&w, &w.gp, id).await;
    assert_eq!(before.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(before).await, "not_answered");
    w.app.clock.advance(H);
    assert_eq!(
        w.post(&w.derm_local, &format!("/api/v1/cases/{id}/claim"))
            .await
            .status(),
        StatusCode::OK
    );
    let claimed = letter(&w, &w.derm_local, id).await;
    assert_eq!(error_code(claimed).await, "not_answered");
    let replied = w
        .post_json(
            &w.derm_local,
            &format!("/api/v1/cases/{id}/reply"),
            json!({"advice": "Refer on the two-week-wait pathway.", "outcome": "refer_two_week_wait"}),
        )
        .await;
    assert_eq!(replied.status(), StatusCode::OK);
    // As GET /api/v1/cases/{id}: another practice, another specialty and a commissioner see
    // nothing; a case id that is not one is the same 404.
    for token in [&w.gp_other_practice, &w.cardio, &w.commissioner] {
        let case = w.get(token, &format!("/api/v1/cases/{id}")).await.status();
        let r = letter(&w, token, id).await;
        assert_eq!(r.status(), case);
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(
        letter(&w, &w.gp, "not-a-case").await.status(),
        StatusCode::NOT_FOUND
    );
    // The GP's task, in words, with its deadline.
    let (bytes, _) = pdf(&w, &w.gp, id).await;
    let text = words(&poppler("pdftotext", &[], &bytes));
    assert!(
        text.contains("Refer the patient to Dermatology (two-week wait (suspected cancer) priority) through e-RS by the end of"),
        "{text}"
    );
    // The case page offers it to the practice and the consultant.
    for token in [&w.gp, &w.derm_local] {
        let html = page(&w, token, id).await;
        assert!(
            html.contains(&link) && html.contains("Download letter"),
            "{html}"
        );
    }
}
