//! Cases through the published API: submission, queues, claims, replies, the information loop,
//! and who may see what.

use aghub::config::Settings;
use aghub::db::rotas::Pool;
use aghub::domain::Role;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    error_code, exiftool_json, exiftool_tags, phone_jpeg, stored_object_bytes, stored_objects,
    Backends, Stack, TestApp, T0,
};

on_both_stacks!(
    a_stored_word_the_domain_does_not_know_is_an_error_not_a_default,
    gp_submits_a_dermatology_case_with_photos_and_stored_copies_are_clean,
    text_in_a_photos_colour_profile_is_in_no_stored_object,
    bad_submissions_get_precise_errors_and_leave_nothing_behind,
    local_rota_sees_the_case_at_once_and_the_national_pool_after_escalation,
    claim_is_exclusive_and_reply_answers_the_case,
    request_information_loop_returns_to_the_consultant_who_asked,
    a_redirect_moves_the_case_to_the_other_specialtys_queue_with_its_history,
    a_case_back_from_the_gp_goes_to_the_queue_once_its_consultant_is_off_duty_past_the_window,
    claims_lapse_after_idling_and_can_be_released,
    racing_claims_on_two_instances_never_both_win,
    retried_submission_with_the_same_key_creates_one_case,
    access_rules_hold_for_every_case_and_photo_route,
    views_of_cases_and_photos_are_audited,
    queue_and_list_show_each_case_with_its_own_photos,
    gp_submits_a_heic_photo_and_stored_copies_are_clean_and_upright,
);

const H: i64 = 3_600_000;

pub struct World {
    pub backends: Backends,
    pub app: TestApp,
    pub gp: String,
    pub gp_same_practice: String,
    pub gp_other_practice: String,
    pub derm_local: String,
    pub derm_local_2: String,
    pub derm_national: String,
    pub derm_off_duty: String,
    pub cardio: String,
    pub commissioner: String,
    pub admin: String,
}

impl World {
    pub async fn new(stack: Stack) -> Self {
        Self::with_settings(stack, |_| {}).await
    }

    /// The same world, on an app whose settings `tweak` changes (email, webhooks).
    pub async fn with_settings(stack: Stack, tweak: impl FnOnce(&mut Settings)) -> Self {
        let backends = Backends::new(stack).await;
        let mut settings = backends.settings();
        tweak(&mut settings);
        let app = TestApp::start_with_settings(&backends, settings).await;
        let p1 = app.add_practice("A81001").await;
        let p2 = app.add_practice("B82002").await;
        let db = &app.state.db;
        let mut ids = Vec::new();
        for (email, role, practice, specialties, rota) in [
            (
                "gp@a.example",
                Role::Gp,
                Some(p1.id.as_str()),
                &[][..],
                None,
            ),
            (
                "gp2@a.example",
                Role::Gp,
                Some(p1.id.as_str()),
                &[][..],
                None,
            ),
            (
                "gp@b.example",
                Role::Gp,
                Some(p2.id.as_str()),
                &[][..],
                None,
            ),
            (
                "derm1@h.example",
                Role::Consultant,
                None,
                &["dermatology"][..],
                Some(Pool::Local),
            ),
            (
                "derm2@h.example",
                Role::Consultant,
                None,
                &["dermatology"][..],
                Some(Pool::Local),
            ),
            (
                "derm@national.example",
                Role::Consultant,
                None,
                &["dermatology"][..],
                Some(Pool::National),
            ),
            (
                "derm3@h.example",
                Role::Consultant,
                None,
                &["dermatology"][..],
                None,
            ),
            (
                "cardio@h.example",
                Role::Consultant,
                None,
                &["cardiology"][..],
                Some(Pool::Local),
            ),
            ("c@icb.example", Role::Commissioner, None, &[][..], None),
            ("admin@aghub.example", Role::Admin, None, &[][..], None),
        ] {
            let id = app.add_user(email, role, practice, specialties).await;
            if let Some(pool) = rota {
                aghub::db::rotas::insert(
                    db,
                    &id,
                    specialties[0],
                    pool,
                    T0 - H,
                    T0 + 7 * 24 * H,
                    T0,
                )
                .await
                .unwrap();
            }
            ids.push(app.token_for(&id).await);
        }
        let mut t = ids.into_iter();
        let mut next = || t.next().unwrap();
        Self {
            gp: next(),
            gp_same_practice: next(),
            gp_other_practice: next(),
            derm_local: next(),
            derm_local_2: next(),
            derm_national: next(),
            derm_off_duty: next(),
            cardio: next(),
            commissioner: next(),
            admin: next(),
            backends,
            app,
        }
    }

    pub fn client(&self) -> reqwest::Client {
        self.app.api()
    }

    pub async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.client()
            .get(self.app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// GET that must succeed with a JSON body.
    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        self.get(token, path).await.json().await.unwrap()
    }

    pub async fn post_json(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        self.client()
            .post(self.app.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, token: &str, path: &str) -> reqwest::Response {
        self.client()
            .post(self.app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn submit(&self, token: &str, form: Form) -> reqwest::Response {
        self.app.submit_case(token, form).await
    }

    /// Submits a valid case and returns its JSON.
    pub async fn case(&self, specialty: &str, urgency: &str, photos: usize) -> Value {
        let r = self
            .submit(&self.gp, case_form(specialty, urgency, photos))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    }
}

pub fn text_form(specialty: &str, urgency: &str) -> Form {
    Form::new()
        .text("specialty", specialty.to_string())
        .text("nhs_number", "943 476 5919")
        .text("date_of_birth", "1984-03-27")
        .text("sex", "female")
        .text("urgency", urgency.to_string())
        .text(
            "history",
            "Pigmented lesion on the left forearm, growing over 3 months.",
        )
        .text("question", "Is this suspicious for melanoma?")
        .text("conversion_authorised", "true")
}

pub fn jpeg_part(bytes: Vec<u8>) -> Part {
    Part::bytes(bytes)
        .file_name("IMG_0001.JPG")
        .mime_str("image/jpeg")
        .unwrap()
}

pub fn case_form(specialty: &str, urgency: &str, photos: usize) -> Form {
    let mut form = text_form(specialty, urgency);
    for i in 0..photos {
        form = form
            .part("photo", jpeg_part(phone_jpeg(1200, 900, 6, i as u64)))
            .text("photo_kind", if i == 0 { "site" } else { "close_up" })
            .text("photo_site", "left forearm");
    }
    form
}

fn ids(v: &Value) -> Vec<String> {
    v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

async fn gp_submits_a_dermatology_case_with_photos_and_stored_copies_are_clean(stack: Stack) {
    let w = World::new(stack).await;
    let case = w.case("dermatology", "routine", 2).await;
    assert_eq!(case["status"], "submitted");
    assert_eq!(case["nhs_number"], "9434765919");
    assert_eq!(case["specialty"], "dermatology");
    assert_eq!(case["urgency"], "routine");
    assert_eq!(case["sex"], "female");
    assert_eq!(case["conversion_authorised"], true);
    assert_eq!(case["submitted_at"], "2026-11-23T09:00:00Z");
    let photos = case["photos"].as_array().unwrap();
    assert_eq!(photos.len(), 2);
    // Orientation 6 (rotate 90° clockwise): the 1200×900 upright photo was stored 900×1200 by
    // the camera; the clean copy is upright again.
    assert_eq!(
        (photos[0]["width"].as_i64(), photos[0]["height"].as_i64()),
        (Some(1200), Some(900))
    );
    assert_eq!(photos[0]["kind"], "site");
    assert_eq!(photos[1]["kind"], "close_up");
    assert_eq!(photos[0]["body_site"], "left forearm");
    assert!(photos[0]["warnings"].is_array());
    assert_eq!(
        stored_objects(&w.backends).await,
        6,
        "full, display and thumb for each photo"
    );

    let id = case["id"].as_str().unwrap();
    let pid = photos[0]["id"].as_str().unwrap();
    for (size, long_edge) in [("full", 1200), ("display", 1200), ("thumb", 320)] {
        let r = w
            .get(
                &w.derm_local,
                &format!("/api/v1/cases/{id}/photos/{pid}?size={size}"),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{size}");
        assert_eq!(r.headers()["cache-control"], "private, no-store");
        assert_eq!(r.headers()["content-type"], "image/jpeg");
        let bytes = r.bytes().await.unwrap();
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!(img.width().max(img.height()), long_edge, "{size}");
        let tags = exiftool_tags(&bytes);
        let leaked: Vec<_> = tags
            .iter()
            .filter(|t| {
                [
                    "GPS",
                    "Serial",
                    "Make",
                    "Model",
                    "MakerNote",
                    "DateTimeOriginal",
                    "XMP",
                    "IPTC",
                    "Comment",
                    "ThumbnailImage",
                ]
                .iter()
                .any(|bad| t.contains(bad))
            })
            .collect();
        assert!(leaked.is_empty(), "{size} leaks {leaked:?}");
    }
}

/// Security finding: an NHS number written into the photo's ICC colour profile (its description,
/// copyright, device and viewing-condition texts, and a private tag) came back in every stored
/// size. Every stored object is read straight from the store (folder or bucket) and searched.
async fn text_in_a_photos_colour_profile_is_in_no_stored_object(stack: Stack) {
    use aghub_testkit::synth;
    let w = World::new(stack).await;
    const PLANTED: &str = "NHS 9434765919";
    let icc = synth::icc_profile_with_text(moxcms::ColorProfile::new_display_p3(), PLANTED);
    let photo = synth::insert_icc(&phone_jpeg(1200, 900, 6, 7), &icc);
    assert!(
        exiftool_json(&photo)
            .values()
            .any(|v| v.to_string().contains("9434765919")),
        "the upload carries the planted text"
    );
    let form = text_form("dermatology", "routine")
        .part("photo", jpeg_part(photo))
        .text("photo_kind", "close_up")
        .text("photo_site", "left forearm");
    let r = w.submit(&w.gp, form).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let objects = stored_object_bytes(&w.backends).await;
    assert_eq!(objects.len(), 3, "full, display and thumb");
    for (key, bytes) in &objects {
        for needle in [
            "9434765919",
            "copyright NHS",
            "private tag",
            "viewing conditions",
        ] {
            assert!(
                !bytes
                    .windows(needle.len())
                    .any(|win| win.eq_ignore_ascii_case(needle.as_bytes())),
                "{key}: {needle:?} is in the stored bytes"
            );
        }
        let tags = exiftool_json(bytes);
        let seen = serde_json::Value::Object(tags.clone()).to_string();
        assert!(
            !seen.contains("9434765919"),
            "{key}: exiftool finds the planted text"
        );
        // The colour is kept: the service's own Display P3 profile, nothing else.
        assert_eq!(
            tags.get("ICC_Profile:ProfileDescription"),
            Some(&Value::from("Display P3")),
            "{key}"
        );
        let mut texts: Vec<_> = tags
            .iter()
            .filter(|(k, _)| k.starts_with("ICC_Profile:Profile") || k.contains("Desc"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        texts.sort();
        assert_eq!(
            texts,
            [
                "ICC_Profile:ProfileCopyright=\"CC0\"",
                "ICC_Profile:ProfileDescription=\"Display P3\""
            ],
            "{key}"
        );
    }
}

async fn bad_submissions_get_precise_errors_and_leave_nothing_behind(stack: Stack) {
    let w = World::new(stack).await;
    let cases = [
        (
            text_form("dermatology", "routine").text("nhs_number", "943 476 5918"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_nhs_number",
        ),
        (
            text_form("cardiology", "routine").text("sex", "woman"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_sex",
        ),
        (
            // Passes the check digit, but one digit ten times over is a placeholder.
            text_form("cardiology", "routine").text("nhs_number", "111-111-1111"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_nhs_number",
        ),
        (
            text_form("dermatology", "routine"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "photo_required",
        ),
        (
            text_form("astrology", "routine"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_specialty",
        ),
        (
            text_form("cardiology", "whenever"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_urgency",
        ),
        (
            Form::new().text("specialty", "cardiology"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_nhs_number",
        ),
        (
            text_form("dermatology", "routine").part(
                "photo",
                Part::bytes(b"%PDF-1.4 not a photo".to_vec()).file_name("x.jpg"),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_image_format",
        ),
        (
            text_form("dermatology", "routine").part(
                "photo",
                jpeg_part(phone_jpeg(800, 600, 1, 1)[..3000].to_vec()),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "image_truncated",
        ),
        (
            // A valid photo first, then a bad one: the first one's stored copies must be removed.
            text_form("dermatology", "routine")
                .part("photo", jpeg_part(phone_jpeg(800, 600, 1, 2)))
                .part(
                    "photo",
                    Part::bytes(b"GIF89a\x01\x00\x01\x00".to_vec()).file_name("a.gif"),
                ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_image_format",
        ),
        (
            // Valid photo, invalid text: photo stored while streaming, then deleted.
            text_form("dermatology", "routine")
                .text("date_of_birth", "27/03/1984")
                .part("photo", jpeg_part(phone_jpeg(800, 600, 1, 3))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_date_of_birth",
        ),
    ];
    for (form, status, code) in cases {
        let r = w.submit(&w.gp, form).await;
        assert_eq!(r.status(), status, "{code}");
        assert_eq!(error_code(r).await, code);
    }
    // Every refused field is listed with its own code and message, not joined into one string.
    let r = w
        .submit(&w.gp, Form::new().text("specialty", "cardiology"))
        .await;
    let body: Value = r.json().await.unwrap();
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no fields list: {body}"))
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    for field in ["nhs_number", "date_of_birth", "history", "question"] {
        assert!(fields.contains(&field), "{field} not in {body}");
    }
    assert_eq!(body["error"]["field"], fields[0]);
    assert_eq!(body["error"]["code"], body["error"]["fields"][0]["code"]);
    assert_eq!(stored_objects(&w.backends).await, 0, "no orphan objects");
    let list: Value = w.get_json(&w.gp, "/api/v1/cases").await;
    assert_eq!(
        list["cases"].as_array().unwrap().len(),
        0,
        "no half-created cases"
    );
    assert_eq!(w.get(&w.gp, "/healthz").await.status(), StatusCode::OK);
}

async fn local_rota_sees_the_case_at_once_and_the_national_pool_after_escalation(stack: Stack) {
    let w = World::new(stack).await;
    let routine = w.case("dermatology", "routine", 1).await;
    w.app.clock.advance(60_000);
    let urgent = w.case("dermatology", "urgent", 1).await;
    let cardio = w.case("cardiology", "routine", 0).await;

    let q: Value = w.get_json(&w.derm_local, "/api/v1/queue").await;
    assert_eq!(
        ids(&q),
        vec![
            urgent["id"].as_str().unwrap(),
            routine["id"].as_str().unwrap()
        ],
        "urgent first, then oldest"
    );
    let q: Value = w.get_json(&w.derm_national, "/api/v1/queue").await;
    assert!(
        ids(&q).is_empty(),
        "national pool waits for the escalation window"
    );
    let q: Value = w.get_json(&w.derm_off_duty, "/api/v1/queue").await;
    assert!(ids(&q).is_empty(), "off duty: nothing to take");
    let q: Value = w
        .get_json(&w.cardio, "/api/v1/queue?specialty=cardiology")
        .await;
    assert_eq!(ids(&q), vec![cardio["id"].as_str().unwrap()]);
    let r = w
        .get(&w.cardio, "/api/v1/queue?specialty=dermatology")
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Dermatology escalates after 4 hours without a local claim.
    w.app.clock.advance(4 * H - 60_000);
    let q: Value = w.get_json(&w.derm_national, "/api/v1/queue").await;
    assert_eq!(
        ids(&q),
        vec![routine["id"].as_str().unwrap()],
        "only the case waiting 4 h so far"
    );
    w.app.clock.advance(60_000);
    let q: Value = w.get_json(&w.derm_national, "/api/v1/queue").await;
    assert_eq!(ids(&q).len(), 2);
    let r = w
        .post(
            &w.derm_national,
            &format!("/api/v1/cases/{}/claim", routine["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn claim_is_exclusive_and_reply_answers_the_case(stack: Stack) {
    let w = World::new(stack).await;
    let case = w.case("dermatology", "routine", 1).await;
    let id = case["id"].as_str().unwrap();
    let early_reply = w
        .post_json(
            &w.derm_local,
            &format!("/api/v1/cases/{id}/reply"),
            serde_json::json!({"advice": "x", "outcome": "refer_routine"}),
        )
        .await;
    assert_eq!(early_reply.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(early_reply).await, "not_claimed_by_you");

    let claimed = w
        .post(&w.derm_local, &format!("/api/v1/cases/{id}/claim"))
        .await;
    assert_eq!(claimed.status(), StatusCode::OK);
    let claimed: Value = claimed.json().await.unwrap();
    assert_eq!(claimed["status"], "claimed");
    let again = w
        .post(&w.derm_local, &format!("/api/v1/cases/{id}/claim"))
        .await;
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "claiming your own case again is fine"
    );
    let other = w
        .post(&w.derm_local_2, &format!("/api/v1/cases/{id}/claim"))
        .await;
    assert_eq!(other.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(other).await, "already_claimed");
    let q: Value = w.get_json(&w.derm_local_2, "/api/v1/queue").await;
    assert!(ids(&q).is_empty(), "a claimed case leaves the queue");

    let bad = w
        .post_json(
            &w.derm_local,
            &format!("/api/v1/cases/{id}/reply"),
            serde_json::json!({"advice": "ok", "outcome": "wait_and_see"}),
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(bad).await, "invalid_outcome");
    let not_json = w
        .client()
        .post(w.app.url(&format!("/api/v1/cases/{id}/reply")))
        .bearer_auth(&w.derm_local)
        .body("advice=x")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);

    let answered = w
        .post_json(&w.derm_local, &format!("/api/v1/cases/{id}/reply"), serde_json::json!({"advice": "Looks like a seborrhoeic keratosis; <b>reassure</b>.", "outcome": "refer_two_week_wait"}))
        .await;
    assert_eq!(answered.status(), StatusCode::OK);
    let answered: Value = answered.json().await.unwrap();
    assert_eq!(answered["status"], "gp_to_refer");
    assert_eq!(answered["outcome"], "refer_two_week_wait");
    assert_eq!(answered["two_week_wait"], true);

    let twice = w
        .post_json(
            &w.derm_local,
            &format!("/api/v1/cases/{id}/reply"),
            serde_json::json!({"advice": "again", "outcome": "refer_routine"}),
        )
        .await;
    assert_eq!(twice.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(twice).await, "case_closed");
    let claim_closed = w
        .post(&w.derm_local_2, &format!("/api/v1/cases/{id}/claim"))
        .await;
    assert_eq!(claim_closed.status(), StatusCode::CONFLICT);

    let seen: Value = w
        .get_json(&w.gp_same_practice, &format!("/api/v1/cases/{id}"))
        .await;
    assert_eq!(
        seen["advice"],
        "Looks like a seborrhoeic keratosis; <b>reassure</b>."
    );
    assert_eq!(seen["answered_at"], "2026-11-23T09:00:00Z");
    let to_refer: Value = w.get_json(&w.gp, "/api/v1/cases?status=gp_to_refer").await;
    assert_eq!(ids(&to_refer), vec![id.to_string()]);
    let bad_status = w.get(&w.gp, "/api/v1/cases?status=lost").await;
    assert_eq!(bad_status.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// The user id behind a token, as the API reports it.
pub async fn user_id(w: &World, token: &str) -> String {
    let me: Value = w.get_json(token, "/api/v1/me").await;
    me["id"].as_str().unwrap().to_string()
}

/// Contract 1.1: the GP's response goes back to the consultant who asked, claimed by them and
/// marked `gp_responded`, not to the shared queue; the submission time stays for turnaround.
async fn request_information_loop_returns_to_the_consultant_who_asked(stack: Stack) {
    let w = World::new(stack).await;
    let case = w.case("dermatology", "routine", 1).await;
    let id = case["id"].as_str().unwrap();
    w.app.clock.advance(H);
    assert_eq!(
        w.post(&w.derm_local, &format!("/api/v1/cases/{id}/claim"))
            .await
            .status(),
        StatusCode::OK
    );
    let asked: Value = w
        .post_json(&w.derm_local, &format!("/api/v1/cases/{id}/reply"), serde_json::json!({"advice": "Please send a dermoscopic image.", "outcome": "request_information"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(asked["status"], "awaiting_gp");
    let q: Value = w.get_json(&w.derm_local_2, "/api/v1/queue").await;
    assert!(ids(&q).is_empty(), "awaiting the GP: not in any queue");

    let respond = |token: &str, form: Form| {
        let req = w
            .client()
            .post(w.app.url(&format!("/api/v1/cases/{id}/respond")))
            .bearer_auth(token.to_string())
            .multipart(form);
        async move { req.send().await.unwrap() }
    };
    let other = respond(&w.gp_other_practice, Form::new().text("message", "hi")).await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    let empty = respond(&w.gp, Form::new().text("message", "  ")).await;
    assert_eq!(error_code(empty).await, "missing_field");
    w.app.clock.advance(H);
    let form = Form::new()
        .text("message", "Dermoscopic image attached.")
        .part("photo", jpeg_part(phone_jpeg(1000, 1000, 1, 9)))
        .text("photo_kind", "dermoscopic");
    let responded = respond(&w.gp_same_practice, form).await;
    assert_eq!(responded.status(), StatusCode::OK);
    let responded: Value = responded.json().await.unwrap();
    assert_eq!(responded["status"], "claimed");
    assert_eq!(responded["claimed_by"], user_id(&w, &w.derm_local).await);
    assert_eq!(responded["gp_responded"], true);
    assert_eq!(
        responded["submitted_at"], "2026-11-23T09:00:00Z",
        "turnaround keeps the original time"
    );
    assert_eq!(responded["photos"].as_array().unwrap().len(), 2);
    assert_eq!(responded["photos"][1]["kind"], "dermoscopic");
    let again = respond(&w.gp, Form::new().text("message", "more")).await;
    assert_eq!(error_code(again).await, "not_awaiting_gp");

    for other in [&w.derm_local_2, &w.derm_national] {
        let q: Value = w.get_json(other, "/api/v1/queue").await;
        assert!(ids(&q).is_empty(), "back with the consultant who asked");
        let taken = w.post(other, &format!("/api/v1/cases/{id}/claim")).await;
        assert_ne!(taken.status(), StatusCode::OK);
    }
    // Hours later (more than a claim's idle limit), it is still theirs: no claim needed.
    w.app.clock.advance(3 * H);
    let closed: Value = w
        .post_json(
            &w.derm_local,
            &format!("/api/v1/cases/{id}/reply"),
            serde_json::json!({"advice": "Benign naevus.", "outcome": "manage_in_primary_care"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["gp_responded"], false, "cleared by the reply");
    let messages = closed["messages"].as_array().unwrap();
    let kinds: Vec<&str> = messages
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["reply", "gp_response", "reply"]);
    // The first consultant, who asked, can still read the case they answered.
    assert_eq!(
        w.get(&w.derm_local, &format!("/api/v1/cases/{id}"))
            .await
            .status(),
        StatusCode::OK
    );
}

/// Contract 1.1: `redirect_specialty` with `redirect_to` moves the case to that specialty's
/// queue with its history and photos, the note kept as a message; it does not close it.
async fn a_redirect_moves_the_case_to_the_other_specialtys_queue_with_its_history(stack: Stack) {
    let w = World::new(stack).await;
    let id = w.case("dermatology", "routine", 1).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let claim = w
        .post(&w.derm_local, &format!("/api/v1/cases/{id}/claim"))
        .await;
    assert_eq!(claim.status(), StatusCode::OK);
    let reply_path = format!("/api/v1/cases/{id}/reply");
    let reply = |body: Value| w.post_json(&w.derm_local, &reply_path, body);
    let note = "Palpitations, not a skin problem: cardiology please.";
    for (body, code) in [
        (
            json!({"advice": note, "outcome": "redirect_specialty"}),
            "missing_field",
        ),
        (
            json!({"advice": note, "outcome": "redirect_specialty", "redirect_to": "dermatology"}),
            "same_specialty",
        ),
        (
            json!({"advice": note, "outcome": "redirect_specialty", "redirect_to": "astrology"}),
            "invalid_specialty",
        ),
        (
            json!({"advice": note, "outcome": "manage_in_primary_care", "redirect_to": "cardiology"}),
            "redirect_without_redirect",
        ),
    ] {
        let r = reply(body).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["fields"][0]["field"], "redirect_to", "{e}");
        assert_eq!(e["error"]["fields"][0]["code"], code, "{e}");
    }
    let unchanged: Value = w
        .get_json(&w.derm_local, &format!("/api/v1/cases/{id}"))
        .await;
    assert_eq!(
        unchanged["status"], "claimed",
        "a refused reply changes nothing"
    );

    w.app.clock.advance(H);
    let r = reply(
        json!({"advice": note, "outcome": "redirect_specialty", "redirect_to": "cardiology"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let moved: Value = r.json().await.unwrap();
    assert_eq!(moved["status"], "submitted");
    assert_eq!(moved["specialty"], "cardiology");
    assert_eq!(moved["outcome"], Value::Null, "not answered yet");
    assert_eq!(
        moved["photos"].as_array().unwrap().len(),
        1,
        "photos go with it"
    );
    assert_eq!(moved["messages"][0]["body"], note);
    assert_eq!(moved["messages"][0]["outcome"], "redirect_specialty");

    let q: Value = w.get_json(&w.derm_local_2, "/api/v1/queue").await;
    assert!(ids(&q).is_empty(), "no longer a dermatology case");
    let q: Value = w.get_json(&w.cardio, "/api/v1/queue").await;
    assert_eq!(ids(&q), vec![id.clone()]);
    let claim = w
        .post(&w.cardio, &format!("/api/v1/cases/{id}/claim"))
        .await;
    assert_eq!(claim.status(), StatusCode::OK);
    let closed: Value = w
        .post_json(
            &w.cardio,
            &format!("/api/v1/cases/{id}/reply"),
            json!({"advice": "Ambulatory ECG via the GP.", "outcome": "manage_in_primary_care"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["messages"].as_array().unwrap().len(), 2);
    // The dermatologist who sent it on can still read what became of it.
    let seen = w.get(&w.derm_local, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(seen.status(), StatusCode::OK);

    // Reports: the case stays in the cohort it was submitted to, redirected once, then closed.
    let report: Value = w
        .get_json(
            &w.commissioner,
            "/api/v1/reports/turnaround?from=2026-11-23&to=2026-11-29",
        )
        .await;
    let totals = &report["totals"];
    assert_eq!(totals["outcomes"]["redirect_specialty"], 1, "{totals}");
    assert_eq!(totals["outcomes"]["manage_in_primary_care"], 1, "{totals}");
    assert_eq!(totals["closed"], 1, "{totals}");
    assert_eq!(report["specialties"][0]["key"], "dermatology", "{report}");
}

/// The consultant who asked keeps a case the GP answered while on duty and for the escalation
/// window after their shift ends; then it goes back to the queue, still marked. A response that
/// arrives when they have been off duty longer than that goes straight to the queue.
async fn a_case_back_from_the_gp_goes_to_the_queue_once_its_consultant_is_off_duty_past_the_window(
    stack: Stack,
) {
    let w = World::new(stack).await;
    let ask = |id: String| {
        let w = &w;
        async move {
            let claim = w
                .post(&w.derm_local, &format!("/api/v1/cases/{id}/claim"))
                .await;
            assert_eq!(claim.status(), StatusCode::OK);
            let asked = w
                .post_json(
                    &w.derm_local,
                    &format!("/api/v1/cases/{id}/reply"),
                    serde_json::json!({"advice": "Is it itchy?", "outcome": "request_information"}),
                )
                .await;
            assert_eq!(asked.status(), StatusCode::OK);
        }
    };
    let respond = |id: String| {
        let w = &w;
        async move {
            let r = w
                .client()
                .post(w.app.url(&format!("/api/v1/cases/{id}/respond")))
                .bearer_auth(&w.gp)
                .multipart(Form::new().text("message", "Yes, very."))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()
        }
    };
    let first = w.case("dermatology", "routine", 1).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let second = w.case("dermatology", "routine", 1).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ask(first.clone()).await;
    ask(second.clone()).await;
    // Every dermatology shift of the world ends at T0 + 7 days; the window is 4 hours. A
    // consultant not on any rota until then takes the next week.
    let shift_end = T0 + 7 * 24 * H;
    let derm3 = user_id(&w, &w.derm_off_duty).await;
    aghub::db::rotas::insert(
        &w.app.state.db,
        &derm3,
        "dermatology",
        aghub::domain::queue::Pool::Local,
        shift_end,
        shift_end + 7 * 24 * H,
        T0,
    )
    .await
    .unwrap();

    w.app.clock.set(shift_end - H);
    let back = respond(first.clone()).await;
    assert_eq!(back["status"], "claimed", "the asker is on duty");
    let path = format!("/api/v1/cases/{first}");
    w.app.clock.set(shift_end + 4 * H);
    // Read by the GP: a read by the consultant would be work on the case, which renews a claim.
    let held: Value = w.get_json(&w.gp, &path).await;
    assert_eq!(
        held["status"], "claimed",
        "off duty for the window, not longer"
    );
    let q: Value = w.get_json(&w.derm_off_duty, "/api/v1/queue").await;
    assert!(ids(&q).is_empty());

    w.app.clock.set(shift_end + 4 * H + 60_000);
    let q: Value = w.get_json(&w.derm_off_duty, "/api/v1/queue").await;
    assert_eq!(ids(&q), vec![first.clone()], "back in the queue");
    assert_eq!(q["cases"][0]["status"], "submitted");
    assert_eq!(q["cases"][0]["gp_responded"], true, "still marked");

    // Off duty for five hours when the GP answers: straight to the queue.
    w.app.clock.set(shift_end + 5 * H);
    let queued = respond(second.clone()).await;
    assert_eq!(queued["status"], "submitted");
    assert_eq!(queued["gp_responded"], true);
    let q: Value = w.get_json(&w.derm_off_duty, "/api/v1/queue").await;
    assert_eq!(ids(&q).len(), 2);
    for id in [&first, &second] {
        let claim = w
            .post(&w.derm_off_duty, &format!("/api/v1/cases/{id}/claim"))
            .await;
        assert_eq!(claim.status(), StatusCode::OK);
    }
    let events = aghub::db::audit::recent(&w.app.state.db, 100)
        .await
        .unwrap();
    let returned: Vec<Option<String>> = events
        .iter()
        .filter(|e| e.action == "case.responded")
        .map(|e| {
            e.detail.as_ref().unwrap()["returned_to"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    let asker = user_id(&w, &w.derm_local).await;
    assert!(
        returned.contains(&Some(asker)) && returned.contains(&None),
        "{returned:?}"
    );
}

async fn claims_lapse_after_idling_and_can_be_released(stack: Stack) {
    let w = World::new(stack).await;
    let case = w.case("dermatology", "routine", 1).await;
    let id = case["id"].as_str().unwrap();
    assert_eq!(
        w.post(&w.derm_local, &format!("/api/v1/cases/{id}/claim"))
            .await
            .status(),
        StatusCode::OK
    );
    w.app.clock.advance(H - 1000);
    // Viewing keeps the claim alive.
    assert_eq!(
        w.get(&w.derm_local, &format!("/api/v1/cases/{id}"))
            .await
            .status(),
        StatusCode::OK
    );
    w.app.clock.advance(H - 1000);
    assert_eq!(
        error_code(
            w.post(&w.derm_local_2, &format!("/api/v1/cases/{id}/claim"))
                .await
        )
        .await,
        "already_claimed"
    );
    w.app.clock.advance(2000);
    let seen: Value = w.get_json(&w.gp, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(
        seen["status"], "submitted",
        "an idle claim returns the case to the queue"
    );
    assert_eq!(
        w.post(&w.derm_local_2, &format!("/api/v1/cases/{id}/claim"))
            .await
            .status(),
        StatusCode::OK
    );
    let late = w
        .post_json(
            &w.derm_local,
            &format!("/api/v1/cases/{id}/reply"),
            serde_json::json!({"advice": "late", "outcome": "refer_routine"}),
        )
        .await;
    assert_eq!(error_code(late).await, "already_claimed");

    let not_mine = w
        .post(&w.derm_local, &format!("/api/v1/cases/{id}/release"))
        .await;
    assert_eq!(not_mine.status(), StatusCode::CONFLICT);
    let released: Value = w
        .post(&w.derm_local_2, &format!("/api/v1/cases/{id}/release"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(released["status"], "submitted");
    let q: Value = w.get_json(&w.derm_local, "/api/v1/queue").await;
    assert_eq!(ids(&q), vec![id.to_string()]);
}

async fn racing_claims_on_two_instances_never_both_win(stack: Stack) {
    let w = World::new(stack).await;
    let second = TestApp::start_with_clock(&w.backends, w.app.clock.clone()).await;
    for round in 0..5 {
        let case = w.case("dermatology", "routine", 1).await;
        let id = case["id"].as_str().unwrap().to_string();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (base, token) = if i % 2 == 0 {
                (w.app.base.clone(), w.derm_local.clone())
            } else {
                (second.base.clone(), w.derm_local_2.clone())
            };
            let id = id.clone();
            tasks.push(tokio::spawn(async move {
                let r = reqwest::Client::new()
                    .post(format!("{base}/api/v1/cases/{id}/claim"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                (r.status(), token)
            }));
        }
        let mut winners = std::collections::HashSet::new();
        for t in tasks {
            let (status, token) = t.await.unwrap();
            match status {
                StatusCode::OK => {
                    winners.insert(token);
                }
                StatusCode::CONFLICT => {}
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one consultant holds the case"
        );
    }
    // An upload through one instance is there, photos and all, on the other.
    let via_second = w
        .client()
        .post(format!("{}/api/v1/cases", second.base))
        .bearer_auth(&w.gp)
        .multipart(case_form("dermatology", "routine", 1))
        .send()
        .await
        .unwrap();
    assert_eq!(via_second.status(), StatusCode::CREATED);
    let case: Value = via_second.json().await.unwrap();
    let href = case["photos"][0]["href"].as_str().unwrap();
    let photo = w.get(&w.derm_local, &format!("{href}?size=display")).await;
    assert_eq!(photo.status(), StatusCode::OK);
    assert!(image::load_from_memory(&photo.bytes().await.unwrap()).is_ok());
    second.stop().await;
}

async fn retried_submission_with_the_same_key_creates_one_case(stack: Stack) {
    let w = World::new(stack).await;
    let send = || {
        w.client()
            .post(w.app.url("/api/v1/cases"))
            .bearer_auth(&w.gp)
            .header("Idempotency-Key", "emis-7f3a-0001")
            .multipart(case_form("dermatology", "urgent", 1))
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let retry = send().await.unwrap();
    assert_eq!(retry.status(), StatusCode::OK);
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(first["id"], retry["id"]);
    // The same key in the form (as the web page sends it) also finds the case.
    let via_form = w
        .submit(
            &w.gp,
            case_form("dermatology", "urgent", 1).text("idempotency_key", "emis-7f3a-0001"),
        )
        .await;
    assert_eq!(via_form.status(), StatusCode::OK);
    let list: Value = w.get_json(&w.gp, "/api/v1/cases").await;
    assert_eq!(list["cases"].as_array().unwrap().len(), 1);
    assert_eq!(
        stored_objects(&w.backends).await,
        3,
        "the retries left no objects behind"
    );
    let bad_key = w
        .client()
        .post(w.app.url("/api/v1/cases"))
        .bearer_auth(&w.gp)
        .header("Idempotency-Key", "has spaces!")
        .multipart(case_form("cardiology", "routine", 0))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(bad_key).await, "invalid_idempotency_key");
}

async fn access_rules_hold_for_every_case_and_photo_route(stack: Stack) {
    let w = World::new(stack).await;
    let case = w.case("dermatology", "routine", 1).await;
    let id = case["id"].as_str().unwrap();
    let pid = case["photos"][0]["id"].as_str().unwrap();
    let case_routes = [
        format!("/api/v1/cases/{id}"),
        format!("/api/v1/cases/{id}/photos/{pid}"),
        format!("/api/v1/cases/{id}/photos/{pid}?size=thumb"),
    ];
    for token in [&w.gp_other_practice, &w.cardio, &w.commissioner] {
        for route in &case_routes {
            let r = w.get(token, route).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{route}");
            assert_eq!(error_code(r).await, "not_found");
        }
        for action in ["claim", "release"] {
            let r = w.post(token, &format!("/api/v1/cases/{id}/{action}")).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{action}");
        }
    }
    for route in &case_routes {
        assert_eq!(
            w.client()
                .get(w.app.url(route))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(w.get(&w.admin, route).await.status(), StatusCode::OK);
        assert_eq!(
            w.get(&w.gp_same_practice, route).await.status(),
            StatusCode::OK
        );
    }
    // The other practice's list does not include it; commissioners and consultants cannot list.
    let other: Value = w.get_json(&w.gp_other_practice, "/api/v1/cases").await;
    assert!(ids(&other).is_empty());
    assert_eq!(
        w.get(&w.commissioner, "/api/v1/cases").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.get(&w.derm_local, "/api/v1/cases").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.get(&w.gp, "/api/v1/queue").await.status(),
        StatusCode::FORBIDDEN
    );
    // Roles: GPs cannot claim, consultants cannot submit.
    assert_eq!(
        w.post(&w.gp, &format!("/api/v1/cases/{id}/claim"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.submit(&w.derm_local, case_form("cardiology", "routine", 0))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // Path tricks and a photo id from another case.
    let other_case = w.case("dermatology", "routine", 1).await;
    let other_pid = other_case["photos"][0]["id"].as_str().unwrap();
    for route in [
        format!("/api/v1/cases/{id}/photos/{other_pid}"),
        format!("/api/v1/cases/{id}/photos/..%2F..%2Fetc%2Fpasswd"),
        "/api/v1/cases/..%2F..%2Fetc%2Fpasswd".to_string(),
        "/api/v1/cases/1%20OR%201=1".to_string(),
    ] {
        assert_eq!(
            w.get(&w.gp, &route).await.status(),
            StatusCode::NOT_FOUND,
            "{route}"
        );
    }
    let bad_size = w
        .get(&w.gp, &format!("/api/v1/cases/{id}/photos/{pid}?size=huge"))
        .await;
    assert_eq!(error_code(bad_size).await, "invalid_size");
}

async fn views_of_cases_and_photos_are_audited(stack: Stack) {
    let w = World::new(stack).await;
    let case = w.case("dermatology", "routine", 1).await;
    let id = case["id"].as_str().unwrap();
    let pid = case["photos"][0]["id"].as_str().unwrap();
    w.get(&w.derm_local, &format!("/api/v1/cases/{id}")).await;
    w.get(
        &w.derm_local,
        &format!("/api/v1/cases/{id}/photos/{pid}?size=display"),
    )
    .await;
    w.get(&w.gp_other_practice, &format!("/api/v1/cases/{id}"))
        .await;
    let audit: Value = w.get_json(&w.admin, "/api/v1/audit").await;
    let events = audit["events"].as_array().unwrap();
    let count = |action: &str| {
        events
            .iter()
            .filter(|e| e["action"] == action && e["case_id"] == id)
            .count()
    };
    assert_eq!(count("case.created"), 1);
    assert!(
        count("case.viewed") >= 2,
        "the creator's response and the consultant's view"
    );
    assert_eq!(count("photo.viewed"), 1);
    assert!(events
        .iter()
        .any(|e| e["action"] == "photo.viewed" && e["subject_id"] == pid));
}

/// The queue and the list fetch photos for all their cases at once; each case must still carry
/// exactly the photos its own page shows, in the same order.
async fn queue_and_list_show_each_case_with_its_own_photos(stack: Stack) {
    let w = World::new(stack).await;
    // Dermatology needs a photo; a cardiology case without photos joins the GP's list.
    let mut made = Vec::new();
    for (specialty, photos) in [
        ("dermatology", 2),
        ("cardiology", 0),
        ("dermatology", 1),
        ("dermatology", 3),
    ] {
        made.push(w.case(specialty, "routine", photos).await);
        w.app.clock.advance(1_000);
    }
    let queue: Value = w.get_json(&w.derm_local, "/api/v1/queue").await;
    let list: Value = w.get_json(&w.gp, "/api/v1/cases").await;
    assert_eq!(list["cases"].as_array().unwrap().len(), 4);
    assert_eq!(queue["cases"].as_array().unwrap().len(), 3);
    for view in [&queue, &list] {
        for case in view["cases"].as_array().unwrap() {
            let id = case["id"].as_str().unwrap();
            let own: Value = w.get_json(&w.gp, &format!("/api/v1/cases/{id}")).await;
            assert_eq!(case["photos"], own["photos"], "photos of {id}");
        }
    }
    let counts: Vec<usize> = queue["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["photos"].as_array().unwrap().len())
        .collect();
    assert_eq!(
        counts,
        vec![2, 1, 3],
        "oldest first, each with its own photos"
    );
}

/// A corrupted `urgency` (written past the CHECK constraint) must not read as `routine`: the
/// row fails to decode, naming the column, and the API answers 500 rather than a wrong case.
async fn a_stored_word_the_domain_does_not_know_is_an_error_not_a_default(stack: Stack) {
    let w = World::new(stack).await;
    let case = w.case("dermatology", "urgent", 1).await;
    let id = case["id"].as_str().unwrap();
    let db = &w.app.state.db;
    let mut conn = db.pool().acquire().await.unwrap();
    let bypass = match stack {
        Stack::SqliteFs => "PRAGMA ignore_check_constraints = ON",
        Stack::PostgresS3 => "ALTER TABLE cases DROP CONSTRAINT cases_urgency_check",
    };
    sqlx::query(bypass).execute(&mut *conn).await.unwrap();
    sqlx::query("UPDATE cases SET urgency = 'URGENT!' WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .unwrap();
    if stack == Stack::SqliteFs {
        sqlx::query("PRAGMA ignore_check_constraints = OFF")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    drop(conn);
    let err = aghub::db::cases::get(db, id)
        .await
        .expect_err("must not decode");
    let text = err.to_string();
    assert!(
        text.contains("urgency") && text.contains("URGENT!"),
        "{text}"
    );
    let r = w.get(&w.gp, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error_code(r).await, "internal_error");
}

/// An iPhone-style HEIC made by libheif's `heif-enc` (REQUIRED, Debian libheif-examples; the
/// test fails without it) from a JPEG with planted metadata: EXIF with GPS, serial numbers, a
/// maker note and orientation 6 (which HEIF readers ignore: heif-enc writes no transform, so
/// the picture is shown as stored), XMP, and an embedded thumbnail item.
fn planted_heic(width: u32, height: u32, seed: u64) -> Vec<u8> {
    use aghub_testkit::synth;
    let upright = synth::skin_photo(width, height, seed);
    let jpeg = synth::insert_app1(
        &synth::encode_jpeg(&upright, 95),
        &synth::exif_app1(&synth::ExifSpec {
            orientation: 6,
            maker_note: b"Apple iOS maker note PLANTED".to_vec(),
            ..Default::default()
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (dir.path().join("in.jpg"), dir.path().join("out.heic"));
    std::fs::write(&src, jpeg).unwrap();
    let run = |cmd: &str, args: &[&std::ffi::OsStr]| {
        let o = std::process::Command::new(cmd)
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!("{cmd} is required (scripts/deps.sh ensure_test_tools): {e}")
            });
        assert!(
            o.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    run(
        "exiftool",
        &[
            "-q".as_ref(),
            "-overwrite_original".as_ref(),
            "-XMP-dc:Creator=XMP creator PLANTED".as_ref(),
            "-ExifIFD:LensSerialNumber=LENS-PLANTED".as_ref(),
            src.as_os_str(),
        ],
    );
    run(
        "heif-enc",
        &[
            "-q".as_ref(),
            "90".as_ref(),
            "-t".as_ref(),
            "160".as_ref(),
            src.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ],
    );
    std::fs::read(out).unwrap()
}

fn heic_part(bytes: Vec<u8>) -> Part {
    Part::bytes(bytes)
        .file_name("IMG_0001.HEIC")
        .mime_str("image/heic")
        .unwrap()
}

/// Issue #16: a HEIC from an iPhone is accepted; every stored object is a clean JPEG (no GPS,
/// serial numbers, XMP, maker notes: checked by exiftool on the bytes read straight from the
/// store) at the photo's upright size; a truncated HEIC gets a precise 422 and stores nothing.
async fn gp_submits_a_heic_photo_and_stored_copies_are_clean_and_upright(stack: Stack) {
    let w = World::new(stack).await;
    let heic = planted_heic(1200, 900, 16);
    let planted = exiftool_json(&heic);
    assert_eq!(planted["File:FileType"], "HEIC");
    for key in [
        "GPS:GPSLatitude",
        "ExifIFD:SerialNumber",
        "ExifIFD:LensSerialNumber",
        "XMP-dc:Creator",
        "IFD0:Orientation",
    ] {
        assert!(planted.contains_key(key), "planting failed: {key}");
    }
    assert!(planted.keys().any(|k| k.contains("MakerNote")));

    // Truncated: refused with its own code, nothing stored, no case made.
    let form = text_form("dermatology", "routine")
        .part("photo", heic_part(heic[..heic.len() / 2].to_vec()))
        .text("photo_kind", "close_up");
    let r = w.submit(&w.gp, form).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(r).await, "image_truncated");
    assert_eq!(stored_objects(&w.backends).await, 0, "nothing stored");

    let form = text_form("dermatology", "routine")
        .part("photo", heic_part(heic))
        .text("photo_kind", "close_up")
        .text("photo_site", "left forearm");
    let r = w.submit(&w.gp, form).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let case: Value = r.json().await.unwrap();
    let photo = &case["photos"][0];
    // EXIF orientation 6 inside a HEIC is not applied: shown as stored, 1200×900.
    assert_eq!(
        (photo["width"].as_i64(), photo["height"].as_i64()),
        (Some(1200), Some(900))
    );

    let objects = stored_object_bytes(&w.backends).await;
    assert_eq!(objects.len(), 3, "full, display and thumb");
    let mut long_edges = Vec::new();
    for (key, bytes) in &objects {
        let tags = exiftool_json(bytes);
        assert_eq!(tags["File:FileType"], "JPEG", "{key}");
        let leaked: Vec<_> = tags
            .keys()
            .filter(|t| {
                [
                    "GPS",
                    "Serial",
                    "Make",
                    "Model",
                    "MakerNote",
                    "XMP",
                    "IFD0",
                    "ExifIFD",
                    "Orientation",
                    "Thumbnail",
                    "QuickTime",
                    "DateTimeOriginal",
                ]
                .iter()
                .any(|bad| t.contains(bad))
            })
            .collect();
        assert!(leaked.is_empty(), "{key} leaks {leaked:?}");
        let seen = Value::Object(tags.clone()).to_string();
        assert!(
            !seen.contains("PLANTED"),
            "{key}: exiftool finds planted text"
        );
        assert!(
            !bytes.windows(7).any(|win| win == b"PLANTED"),
            "{key}: planted text in the bytes"
        );
        let img = image::load_from_memory(bytes).unwrap();
        // Landscape, as stored: the EXIF orientation was not applied on top.
        assert!(
            img.width() > img.height(),
            "{key}: {}×{}",
            img.width(),
            img.height()
        );
        long_edges.push(img.width());
    }
    long_edges.sort();
    assert_eq!(long_edges, [320, 1200, 1200], "thumb, display and full");

    let id = case["id"].as_str().unwrap();
    let pid = photo["id"].as_str().unwrap();
    let r = w
        .get(
            &w.derm_local,
            &format!("/api/v1/cases/{id}/photos/{pid}?size=full"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
}
