//! Patients send their own photos (issue 16): the GP's one-time link, the date of birth as a
//! second factor with a pause, photos checked at once (a blurred one asks for a retake),
//! consent, the photos on the case marked as the patient's, the GP told; and every link that
//! should not work (unknown, expired, revoked, used, another case's) refused with a clear page
//! and nothing stored.

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::cases::{case_form, World};
use crate::helpers::{exiftool_json, extract_csrf, phone_jpeg, stored_objects, Stack};
use crate::notifications::{
    assert_no_patient_data, deliver, events_of, world_with_email, SmtpSink, PUBLIC,
};

on_both_stacks!(
    a_patient_sends_their_own_photos_through_a_one_time_link,
    links_that_should_not_work_get_a_clear_page_and_store_nothing,
    the_link_goes_by_text_message_through_the_log_provider,
);

const H: i64 = 3_600_000;

/// A patient's phone: a browser with its own cookies and no aghub account.
struct Phone {
    client: reqwest::Client,
    base: String,
}

impl Phone {
    fn new(w: &World) -> Self {
        Self {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: w.app.base.clone(),
        }
    }

    /// The link's path, to open on the test server (links name the public address).
    fn path(url: &str) -> String {
        url[url.find("/p/").expect("a patient link")..].to_string()
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Origin", &self.base)
            .form(fields)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    async fn csrf(&self, path: &str) -> String {
        let (_, html) = self.get(path).await;
        extract_csrf(&html).unwrap_or_else(|| panic!("no form on {path}: {html}"))
    }

    async fn date_of_birth(&self, link: &str, d: &str, m: &str, y: &str) -> (StatusCode, String) {
        let csrf = self.csrf(link).await;
        self.post_form(
            &format!("{link}/verify"),
            &[
                ("csrf_token", &csrf),
                ("date_of_birth_day", d),
                ("date_of_birth_month", m),
                ("date_of_birth_year", y),
            ],
        )
        .await
    }

    async fn photo(&self, link: &str, kind: &str, jpeg: Vec<u8>) -> StatusCode {
        // The page's token when it has a form; a closed link's page has none.
        let (_, html) = self.get(link).await;
        let csrf = extract_csrf(&html).unwrap_or_default();
        let form = Form::new()
            .text("csrf_token", csrf)
            .text("kind", kind.to_string())
            .part(
                "photo",
                Part::bytes(jpeg)
                    .file_name("image.jpg")
                    .mime_str("image/jpeg")
                    .unwrap(),
            );
        self.client
            .post(format!("{}{link}/photos", self.base))
            .header("Origin", &self.base)
            .multipart(form)
            .send()
            .await
            .unwrap()
            .status()
    }
}

fn blurred_jpeg() -> Vec<u8> {
    let sharp = aghub_testkit::synth::skin_photo(1600, 1200, 11);
    aghub_testkit::synth::encode_jpeg(&image::imageops::fast_blur(&sharp, 5.0), 90)
}

async fn request(w: &World, token: &str, case: &str, body: Value) -> reqwest::Response {
    w.post_json(token, &format!("/api/v1/cases/{case}/photo-requests"), body)
        .await
}

async fn open_case(w: &World) -> String {
    let r = w
        .submit(&w.gp, case_form("dermatology", "routine", 1))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn a_patient_sends_their_own_photos_through_a_one_time_link(stack: Stack) {
    let sink = SmtpSink::start();
    let w = world_with_email(stack, &sink).await;
    let case = open_case(&w).await;

    // Only a GP of the practice may ask; others get the case's own refusals.
    assert_eq!(
        request(&w, &w.gp_other_practice, &case, json!({}))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        request(&w, &w.derm_local, &case, json!({})).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        request(&w, &w.commissioner, &case, json!({}))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let r = request(&w, &w.gp, &case, json!({"send_to": "not-an-address"})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let r = request(&w, &w.gp, &case, json!({"send_to": "patient@example.com"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: Value = r.json().await.unwrap();
    let url = made["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{PUBLIC}/p/")), "{url}");
    let token = url.rsplit('/').next().unwrap();
    assert_eq!(token.len(), 43, "256 random bits in base64url");
    assert_eq!(made["expires_at"], "2026-11-26T09:00:00Z", "72 hours");
    // The link reaches the patient by email: the practice and the link, nothing about the case.
    deliver(&w).await;
    let mail = sink.messages();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0]["rcpt_tos"][0], "patient@example.com");
    assert!(mail[0]["text"].as_str().unwrap().contains(url));
    assert_no_patient_data(&mail[0]);
    let payload: Vec<String> = sqlx::query_scalar("SELECT payload FROM outbox")
        .fetch_all(w.app.state.db.pool())
        .await
        .unwrap();
    assert!(
        payload.iter().all(|p| !p.contains(token)),
        "the link is not kept once sent"
    );
    let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM photo_requests")
        .fetch_all(w.app.state.db.pool())
        .await
        .unwrap();
    assert!(
        !stored[0].contains(token),
        "only the token's hash is stored"
    );

    // The patient's page: the practice's name, never the case.
    let phone = Phone::new(&w);
    let link = Phone::path(url);
    let (status, page) = phone.get(&link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Practice A81001"), "{page}");
    for secret in [
        "943 476 5919",
        "9434765919",
        "Pigmented",
        "melanoma",
        "1984",
    ] {
        assert!(!page.contains(secret), "{secret} on the patient's page");
    }
    // Wrong dates of birth: counted, then the link pauses; the right one waits out the pause.
    for left in (1..=4).rev() {
        let (status, page) = phone.date_of_birth(&link, "1", "1", "1990").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.contains(&format!("({left} tries left)")), "{page}");
    }
    let (status, page) = phone.date_of_birth(&link, "1", "1", "1990").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.contains("paused for 15 minutes"), "{page}");
    let (status, _) = phone.date_of_birth(&link, "27", "3", "1984").await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the right answer waits too"
    );
    // Before answering, nothing can be uploaded.
    assert_eq!(
        phone
            .photo(&link, "site", phone_jpeg(1600, 1200, 1, 1))
            .await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM staged_photos")
            .fetch_one(w.app.state.db.pool())
            .await
            .unwrap(),
        0
    );
    w.app.clock.advance(15 * 60_000);
    let (status, _) = phone.date_of_birth(&link, "27", "3", "1984").await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // A blurred close-up asks for a retake; a sharp one and a site view pass.
    let (_, page) = phone.get(&link).await;
    assert!(page.contains("capture=\"environment\""));
    assert_eq!(
        phone.photo(&link, "close_up", blurred_jpeg()).await,
        StatusCode::SEE_OTHER
    );
    let (_, page) = phone.get(&link).await;
    assert!(
        page.contains("It looks blurred. Hold the phone steady"),
        "{page}"
    );
    assert!(page.contains("Keep it anyway"));
    // Sending now sends nothing: the blurred photo waits for the patient's decision.
    let csrf = phone.csrf(&link).await;
    let (status, page) = phone
        .post_form(
            &format!("{link}/send"),
            &[("csrf_token", &csrf), ("consent", "yes")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Take at least one photo"), "{page}");
    let blurred_id: String = sqlx::query_scalar("SELECT id FROM staged_photos WHERE kept = 0")
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap();
    let csrf = phone.csrf(&link).await;
    let (status, _) = phone
        .post_form(
            &format!("{link}/photos/{blurred_id}/remove"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        phone
            .photo(&link, "close_up", phone_jpeg(1600, 1200, 6, 2))
            .await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        phone.photo(&link, "site", blurred_jpeg()).await,
        StatusCode::SEE_OTHER
    );
    // The patient insists on keeping the blurred site view.
    let insisted: String = sqlx::query_scalar("SELECT id FROM staged_photos WHERE kept = 0")
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap();
    let csrf = phone.csrf(&link).await;
    phone
        .post_form(
            &format!("{link}/photos/{insisted}/keep"),
            &[("csrf_token", &csrf)],
        )
        .await;
    let (_, page) = phone.get(&link).await;
    assert!(page.contains("Your photos (2)"), "{page}");
    let thumb = phone
        .client
        .get(format!("{}{link}/photos/{insisted}", phone.base))
        .send()
        .await
        .unwrap();
    assert_eq!(thumb.status(), StatusCode::OK);

    // Consent is required; then the photos go.
    let csrf = phone.csrf(&link).await;
    let (status, page) = phone
        .post_form(&format!("{link}/send"), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Tick the box"));
    let (status, page) = phone
        .post_form(
            &format!("{link}/send"),
            &[("csrf_token", &csrf), ("consent", "yes")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("2 photos sent to Practice A81001"), "{page}");
    let (status, page) = phone.get(&link).await;
    assert_eq!(status, StatusCode::GONE, "used up");
    assert!(page.contains("already sent"));

    // On the case: marked as the patient's, the kept blurred one failing its check, clean.
    let v = w
        .get_json(&w.derm_local, &format!("/api/v1/cases/{case}"))
        .await;
    let photos = v["photos"].as_array().unwrap();
    assert_eq!(photos.len(), 3);
    let theirs: Vec<&Value> = photos
        .iter()
        .filter(|p| p["taken_by"] == "patient")
        .collect();
    assert_eq!(theirs.len(), 2);
    assert!(theirs
        .iter()
        .any(|p| p["kind"] == "close_up" && p["warnings"].as_array().unwrap().is_empty()));
    assert!(theirs
        .iter()
        .any(|p| p["kind"] == "site" && p["warnings"] == json!(["blurred"])));
    let close_up = theirs.iter().find(|p| p["kind"] == "close_up").unwrap();
    assert_eq!(
        (close_up["width"].as_i64(), close_up["height"].as_i64()),
        (Some(1600), Some(1200)),
        "upright again: the camera's orientation 6 applied"
    );
    let bytes = w
        .get(&w.derm_local, close_up["href"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    let tags = exiftool_json(&bytes);
    for (tag, _) in &tags {
        assert!(
            !(tag.contains("GPS")
                || tag.contains("Serial")
                || tag.contains("MakerNote")
                || tag.starts_with("XMP")),
            "{tag} survived"
        );
    }
    // The GP hears in the app (and by email).
    assert_eq!(
        events_of(&w, &w.gp).await,
        vec![("patient_photos".to_string(), case.clone())]
    );
    let audit = aghub::db::audit::recent(&w.app.state.db, 500)
        .await
        .unwrap();
    let count = |a: &str| audit.iter().filter(|e| e.action == a).count();
    assert_eq!(count("photo_request.created"), 1);
    assert_eq!(count("photo_request.dob_refused"), 5);
    assert_eq!(count("photo_request.opened"), 1);
    assert_eq!(count("photo_request.kept_failing_photo"), 1);
    assert_eq!(count("photo_request.sent"), 1);
    let _ = stored_objects(&w.backends).await;
}

async fn links_that_should_not_work_get_a_clear_page_and_store_nothing(stack: Stack) {
    let w = World::new(stack).await;
    let case = open_case(&w).await;
    let other_case = open_case(&w).await;
    let phone = Phone::new(&w);
    let objects_before = stored_objects(&w.backends).await;

    for path in [
        "/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "/p/short",
        "/p/~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~",
    ] {
        let (status, page) = phone.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.contains("This link does not work"), "{path}: {page}");
    }
    let made = |case: String| {
        let w = &w;
        async move {
            let r = request(w, &w.gp, &case, json!({})).await;
            assert_eq!(r.status(), StatusCode::CREATED);
            let v: Value = r.json().await.unwrap();
            (
                v["id"].as_str().unwrap().to_string(),
                Phone::path(v["url"].as_str().unwrap()),
            )
        }
    };
    // Revoked: a clear page; revoking twice is a conflict; another practice cannot revoke.
    let (revoked_id, revoked) = made(case.clone()).await;
    let r = w
        .client()
        .delete(w.app.url(&format!("/api/v1/photo-requests/{revoked_id}")))
        .bearer_auth(&w.gp_other_practice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = w
        .client()
        .delete(w.app.url(&format!("/api/v1/photo-requests/{revoked_id}")))
        .bearer_auth(&w.gp_same_practice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "any GP of the practice");
    let r = w
        .client()
        .delete(w.app.url(&format!("/api/v1/photo-requests/{revoked_id}")))
        .bearer_auth(&w.gp)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let (status, page) = phone.get(&revoked).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("cancelled"), "{page}");

    // Verified on one case's link, the same phone cannot use that on another case's link.
    let (_, first) = made(case.clone()).await;
    let (_, second) = made(other_case.clone()).await;
    let (status, _) = phone.date_of_birth(&first, "27", "3", "1984").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        phone
            .photo(&second, "site", phone_jpeg(1200, 900, 1, 3))
            .await,
        StatusCode::SEE_OTHER
    );
    let (_, page) = phone.get(&second).await;
    assert!(
        page.contains("What is your date of birth?"),
        "the second link asks again"
    );

    // Expired after 72 hours, even for the browser that answered.
    w.app.clock.advance(72 * H);
    let (status, page) = phone.get(&first).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("expired"), "{page}");
    assert_eq!(
        phone
            .photo(&first, "site", phone_jpeg(1200, 900, 1, 4))
            .await,
        StatusCode::GONE
    );

    // Nothing was stored by any of it.
    assert_eq!(stored_objects(&w.backends).await, objects_before);
    let staged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM staged_photos")
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(staged, 0);
    // An answered case takes no new link.
    w.post(&w.derm_local, &format!("/api/v1/cases/{case}/claim"))
        .await;
    w.post_json(
        &w.derm_local,
        &format!("/api/v1/cases/{case}/reply"),
        json!({"advice": "Fine.", "outcome": "manage_in_primary_care"}),
    )
    .await;
    let r = request(&w, &w.gp, &case, json!({})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let audit = aghub::db::audit::recent(&w.app.state.db, 500)
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .filter(|e| e.action == "photo_request.refused")
            .count()
            >= 5
    );
}

async fn the_link_goes_by_text_message_through_the_log_provider(stack: Stack) {
    // Without a provider, a mobile number is refused rather than silently not texted.
    let w = World::new(stack).await;
    let case = open_case(&w).await;
    let r = request(&w, &w.gp, &case, json!({"text_to": "07700 900123"})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["fields"][0]["code"], "text_off", "{body}");

    let sink = SmtpSink::start();
    let w = world_with_email(stack, &sink).await;
    let log = w.app.state.settings.sms_log.clone().expect("a text log");
    let case = open_case(&w).await;
    for wrong in ["01632 960123", "0770090012", "+1 202 555 0100"] {
        let r = request(&w, &w.gp, &case, json!({"text_to": wrong})).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{wrong}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["fields"][0]["field"], "text_to", "{body}");
        assert_eq!(
            body["error"]["fields"][0]["code"], "invalid_mobile",
            "{body}"
        );
    }
    let count = |table: &'static str| {
        let pool = w.app.state.db.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(count("photo_requests").await, 0, "a refusal makes no link");

    // Both ways at once: one email and one text, each with the link and nothing else.
    let r = request(
        &w,
        &w.gp,
        &case,
        json!({"send_to": "patient@example.com", "text_to": "+44 (0)7700 900-123"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: Value = r.json().await.unwrap();
    let url = made["url"].as_str().unwrap().to_string();
    deliver(&w).await;
    deliver(&w).await;
    assert_eq!(sink.messages().len(), 1);
    let written = std::fs::read_to_string(&log).unwrap();
    let texts: Vec<Value> = written
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        texts.len(),
        1,
        "one text, however often the worker runs: {written}"
    );
    assert_eq!(texts[0]["to"], "+447700900123");
    let body = texts[0]["body"].as_str().unwrap();
    assert!(
        body.contains(&url) && body.contains("Practice A81001"),
        "{body}"
    );
    assert!(
        body.len() <= 306,
        "two SMS segments at most: {} characters",
        body.len()
    );
    assert_no_patient_data(&json!({"text": body}));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the log holds patients' links: owner only");
    let token = url.rsplit('/').next().unwrap();
    let payloads: Vec<String> = sqlx::query_scalar("SELECT payload FROM outbox")
        .fetch_all(w.app.state.db.pool())
        .await
        .unwrap();
    assert!(
        payloads.iter().all(|p| !p.contains(token)),
        "the link is not kept once sent"
    );
    let detail: String = sqlx::query_scalar(
        "SELECT detail FROM audit_events WHERE action = 'photo_request.created'",
    )
    .fetch_one(w.app.state.db.pool())
    .await
    .unwrap();
    let detail: Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(
        (detail["emailed"].clone(), detail["texted"].clone()),
        (json!(true), json!(true))
    );
}
