//! The web pages as a browser uses them: forms with CSRF tokens, redirects, escaping.

use aghub::domain::Role;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;

use crate::helpers::{
    extract_csrf, phone_jpeg, stored_objects, Backends, Browser, Stack, TestApp, PASSWORD,
};

on_both_stacks!(
    gp_and_consultant_complete_a_case_on_the_web,
    web_submission_without_csrf_token_is_refused_and_stores_nothing,
    web_form_errors_are_shown_on_the_form,
    other_practices_and_commissioners_get_html_refusals,
    the_new_case_form_says_when_nobody_is_on_duty_for_a_specialty,
);

const XSS: &str = "<script>alert('x')</script>";

struct Web {
    _backends: Backends,
    app: TestApp,
}

async fn web(stack: Stack) -> Web {
    let backends = Backends::new(stack).await;
    let app = TestApp::start(&backends).await;
    let p1 = app.add_practice("A81001").await;
    let p2 = app.add_practice("B82002").await;
    app.add_user("gp@a.example", Role::Gp, Some(&p1.id), &[])
        .await;
    app.add_user("gp@b.example", Role::Gp, Some(&p2.id), &[])
        .await;
    let derm = app
        .add_user("derm@h.example", Role::Consultant, None, &["dermatology"])
        .await;
    app.on_local_rota_today(&derm, "dermatology").await;
    app.add_user("c@icb.example", Role::Commissioner, None, &[])
        .await;
    Web {
        _backends: backends,
        app,
    }
}

async fn signed_in(app: &TestApp, email: &str) -> Browser {
    let b = app.browser();
    assert_eq!(
        b.sign_in(email, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    b
}

fn web_case_form(csrf: &str, with_photo: bool) -> Form {
    let mut form = Form::new()
        .text("csrf_token", csrf.to_string())
        .text("idempotency_key", uuid::Uuid::new_v4().to_string())
        .text("specialty", "dermatology")
        .text("nhs_number", "943 476 5919")
        .text("date_of_birth", "1984-03-27")
        .text("urgency", "urgent")
        .text("history", format!("Itchy lesion {XSS}"))
        .text("question", "Benign?")
        .text("conversion_authorised", "true");
    if with_photo {
        form = form
            .part(
                "photo",
                Part::bytes(phone_jpeg(1400, 1000, 8, 4))
                    .file_name("IMG_1.JPG")
                    .mime_str("image/jpeg")
                    .unwrap(),
            )
            .text("photo_kind", "site")
            .text("photo_site", "back")
            // An untouched second file input, as browsers send it.
            .part(
                "photo",
                Part::bytes(Vec::new())
                    .file_name("")
                    .mime_str("application/octet-stream")
                    .unwrap(),
            )
            .text("photo_kind", "close_up")
            .text("photo_site", "");
    }
    form
}

async fn post_multipart(b: &Browser, path: &str, form: Form) -> reqwest::Response {
    b.client
        .post(format!("{}{}", b.base, path))
        .header("Origin", &b.base)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Before sending, the GP learns that nobody covers a specialty now, when the next shift starts
/// and whether the national pool can take it; a specialty with someone on duty has no notice.
async fn the_new_case_form_says_when_nobody_is_on_duty_for_a_specialty(stack: Stack) {
    let w = web(stack).await;
    let db = &w.app.state.db;
    let cardio = w
        .app
        .add_user("cardio@h.example", Role::Consultant, None, &["cardiology"])
        .await;
    let national = w
        .app
        .add_user("nat@h.example", Role::Consultant, None, &["cardiology"])
        .await;
    let h = 3_600_000;
    // Cardiology: local from tomorrow 08:00 GMT, the national pool on now.
    let tomorrow_8am = crate::helpers::T0 + 23 * h;
    for (id, pool, from) in [
        (&cardio, aghub::db::rotas::Pool::Local, tomorrow_8am),
        (
            &national,
            aghub::db::rotas::Pool::National,
            crate::helpers::T0 - h,
        ),
    ] {
        aghub::db::rotas::insert(db, id, "cardiology", pool, from, from + 10 * h, 0)
            .await
            .unwrap();
    }
    let gp = signed_in(&w.app, "gp@a.example").await;
    let page = gp.get_text("/cases/new").await;
    let notice = |slug: &str| {
        let start = page.find(&format!("data-specialty=\"{slug}\""))?;
        let end = page[start..].find("</div>")? + start;
        Some(page[start..end].to_string())
    };
    let cardiology = notice("cardiology").expect("a notice for cardiology");
    assert!(
        cardiology.contains("No Cardiology consultant is on duty now."),
        "{cardiology}"
    );
    assert!(
        cardiology.contains("The next shift starts 24 Nov 2026, 08:00 GMT."),
        "{cardiology}"
    );
    assert!(
        cardiology.contains("within 4 hours, a consultant from the national pool can"),
        "{cardiology}"
    );
    let ent = notice("ent").expect("a notice for ENT, which has no rota");
    assert!(ent.contains("No shift is planned yet."), "{ent}");
    assert!(
        ent.contains("Nobody from the national pool is on duty now either."),
        "{ent}"
    );
    assert!(
        notice("dermatology").is_none(),
        "dermatology has a consultant on duty"
    );
    for banned in ["escalation", "missing_field"] {
        assert!(!page.contains(banned), "plain English: {banned}");
    }
}

async fn gp_and_consultant_complete_a_case_on_the_web(stack: Stack) {
    let w = web(stack).await;
    let gp = signed_in(&w.app, "gp@a.example").await;
    let csrf = gp.csrf_token("/cases/new").await;
    let form_page = gp.get_text("/cases/new").await;
    assert!(
        form_page.contains(r#"capture="environment""#)
            && form_page.contains("accept=\"image/jpeg,image/heic,image/heif,image/avif,image/png,image/webp,.heic,.heif,.avif,image/*\"")
    );
    let r = post_multipart(&gp, "/cases", web_case_form(&csrf, true)).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/cases/") && location.ends_with("?submitted=1"));
    let case_path = location.trim_end_matches("?submitted=1").to_string();
    let page = gp.get_text(&location).await;
    assert!(page.contains("Case sent"));
    assert!(page.contains("NHS 943 476 5919"));
    assert!(
        page.contains("Itchy lesion &#60;script&#62;")
            || page.contains("Itchy lesion &lt;script&gt;"),
        "history is escaped: {page}"
    );
    assert!(!page.contains(XSS));
    assert!(page.contains("Site view, back"));

    let derm = signed_in(&w.app, "derm@h.example").await;
    assert_eq!(derm.get("/").await.headers()["location"], "/queue");
    let queue = derm.get_text("/queue").await;
    assert!(queue.contains(&case_path), "{queue}");
    assert!(queue.contains("Urgent") && queue.contains("left"));
    let token = extract_csrf(&queue).unwrap();
    let claimed = derm
        .post_form(&format!("{case_path}/claim"), &[("csrf_token", &token)])
        .await;
    assert_eq!(claimed.status(), StatusCode::SEE_OTHER);
    let review = derm.get_text(&case_path).await;
    assert!(review.contains("Send reply") && review.contains("refer_two_week_wait"));
    let photo_link = review
        .split("href=\"")
        .find(|s| s.starts_with(&format!("{case_path}/photos/")))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let viewer = derm.get_text(&photo_link).await;
    assert!(viewer.contains("size=full") && viewer.contains("Photo 1 of 1"));
    let incomplete = derm
        .post_form(
            &format!("{case_path}/reply"),
            &[("csrf_token", &token), ("advice", "Draft <b>kept</b>")],
        )
        .await;
    assert_eq!(incomplete.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = incomplete.text().await.unwrap();
    assert!(
        html.contains("Choose an outcome.")
            && (html.contains("Draft &#60;b&#62;kept") || html.contains("Draft &lt;b&gt;kept")),
        "{html}"
    );
    let replied = derm
        .post_form(
            &format!("{case_path}/reply"),
            &[
                ("csrf_token", &token),
                ("advice", "Refer today."),
                ("outcome", "refer_two_week_wait"),
            ],
        )
        .await;
    assert_eq!(replied.status(), StatusCode::SEE_OTHER);

    let seen = gp.get_text(&case_path).await;
    assert!(
        seen.contains("Two-week-wait referral advised"),
        "2WW flagged to the GP"
    );
    assert!(seen.contains("Refer today."));
    // Never a green "Closed" beside a two-week-wait referral, nor "Advice only".
    assert!(
        seen.contains(
            r#"<span class="nhsuk-tag nhsuk-tag--red tag status-refer-urgent">Refer today (two-week wait)</span>"#
        ),
        "{seen}"
    );
    assert!(
        !seen.contains("status-closed") && !seen.contains("Advice only"),
        "{seen}"
    );
    let list = gp.get_text("/cases?status=gp_to_refer").await;
    assert!(list.contains("Two-week-wait referral"));
    assert!(list.contains("Refer today (two-week wait)") && !list.contains("status-closed"));

    // The GP confirms the referral with the three-box date; a wrong date is shown at its field
    // with what was typed kept.
    assert!(seen.contains("You need to refer") && seen.contains("Confirm referral made"));
    let csrf = gp.csrf_token(&case_path).await;
    let confirm = |day: &'static str, reference: &'static str| {
        let csrf = csrf.clone();
        let gp = &gp;
        let path = format!("{case_path}/referral-made");
        async move {
            gp.post_form(
                &path,
                &[
                    ("csrf_token", csrf.as_str()),
                    ("referred_on_day", day),
                    ("referred_on_month", "11"),
                    ("referred_on_year", "2026"),
                    ("reference", reference),
                ],
            )
            .await
        }
    };
    let wrong = confirm("31", "0001 2345 6789").await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = wrong.text().await.unwrap();
    assert!(
        html.contains(r##"<a href="#referred_on">"##)
            && html.contains("Error:</span> Enter the date you referred as a real date")
            && html.contains(r#"value="31""#)
            && html.contains(r#"value="0001 2345 6789""#),
        "{html}"
    );
    let done = confirm("23", "").await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let seen = gp.get_text(&case_path).await;
    assert!(
        seen.contains("Referral made")
            && seen.contains("on 23 November 2026")
            && !seen.contains("You need to refer")
            && !seen.contains("status-closed"),
        "{seen}"
    );
}

async fn web_submission_without_csrf_token_is_refused_and_stores_nothing(stack: Stack) {
    let w = web(stack).await;
    let gp = signed_in(&w.app, "gp@a.example").await;
    // Small bodies, so the refusal arrives after the whole request was sent.
    let small_photo = || Part::bytes(phone_jpeg(96, 64, 1, 1)).file_name("a.jpg");
    for token in ["", "forged-token"] {
        let r = post_multipart(
            &gp,
            "/cases",
            web_case_form(token, false).part("photo", small_photo()),
        )
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    // The token after a photo part: refused before the photo is read.
    let csrf = gp.csrf_token("/cases/new").await;
    let late = Form::new()
        .part("photo", small_photo())
        .text("csrf_token", csrf);
    assert_eq!(
        post_multipart(&gp, "/cases", late).await.status(),
        StatusCode::FORBIDDEN
    );
    // A phone-sized photo behind a missing token: the refusal still reaches the phone as a 403
    // page, not a connection reset from a server that stopped reading.
    let big_photo = Part::bytes(phone_jpeg(3000, 2000, 1, 2)).file_name("b.jpg");
    let r = post_multipart(
        &gp,
        "/cases",
        web_case_form("", false).part("photo", big_photo),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(stored_objects(&w._backends).await, 0);
}

async fn web_form_errors_are_shown_on_the_form(stack: Stack) {
    let w = web(stack).await;
    let gp = signed_in(&w.app, "gp@a.example").await;
    let csrf = gp.csrf_token("/cases/new").await;
    let form = web_case_form(&csrf, false).text("nhs_number", "123");
    let r = post_multipart(&gp, "/cases", form).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("There is a problem"));
    assert!(html.contains("An NHS number has 10 digits"), "{html}");
    // The error is also at its field, as the NHS.UK design system shows it.
    assert!(
        html.contains(r#"<span class="nhsuk-error-message field-error" id="nhs_number-error"><span class="nhsuk-u-visually-hidden">Error:</span> An NHS number has 10 digits"#),
        "{html}"
    );
    assert!(html.contains("Dermatology needs at least one photo"));
    let bad_photo = web_case_form(&csrf, false).part(
        "photo",
        Part::bytes(b"<html>hi</html>".to_vec()).file_name("x.jpg"),
    );
    let r = post_multipart(&gp, "/cases", bad_photo).await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("JPEG") && html.contains("There is a problem"),
        "{html}"
    );
    // Nothing the GP typed is lost to a refused photo.
    for kept in [
        "value=\"943 476 5919\"",
        "id=\"date_of_birth-day\" name=\"date_of_birth_day\" type=\"text\" inputmode=\"numeric\" autocomplete=\"off\" value=\"27\"",
        "value=\"1984\"",
        "Itchy lesion &#60;script&#62;",
        "Benign?",
        "<option value=\"dermatology\" selected",
    ] {
        assert!(html.contains(kept), "{kept} kept: {html}");
    }
    assert_eq!(stored_objects(&w._backends).await, 0);

    // The GP's response: an empty one, or one with a refused photo, is shown on the case page
    // with the error beside the form and the text kept, not on a page of its own.
    let r = post_multipart(&gp, "/cases", web_case_form(&csrf, true)).await;
    let case_path = r.headers()["location"]
        .to_str()
        .unwrap()
        .trim_end_matches("?submitted=1")
        .to_string();
    let case_id = case_path.trim_start_matches("/cases/");
    let derm = aghub::service::accounts::user_id_by_email(&w.app.state.db, "derm@h.example")
        .await
        .unwrap();
    let derm = aghub::service::accounts::principal(&w.app.state.db, &derm)
        .await
        .unwrap()
        .unwrap();
    let id = aghub::domain::CaseId::new(case_id);
    aghub::service::cases::claim(&w.app.state, &derm, &id)
        .await
        .unwrap();
    let ask = aghub::service::cases::ReplyInput {
        advice: "A close-up, please.".into(),
        outcome: "request_information".into(),
        ..Default::default()
    };
    aghub::service::cases::reply(&w.app.state, &derm, &id, &ask)
        .await
        .unwrap();
    let csrf = gp.csrf_token(&case_path).await;
    let empty = Form::new()
        .text("csrf_token", csrf.clone())
        .text("message", "  ");
    let r = post_multipart(&gp, &format!("{case_path}/respond"), empty).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("There is a problem") && html.contains("href=\"#message\""),
        "{html}"
    );
    assert!(html.contains("Write a response or add a photo."), "{html}");
    assert!(
        html.contains("Respond to the specialist"),
        "the form is on the page: {html}"
    );
    assert!(!html.contains("missing_field"), "{html}");
    let typed = "It has grown 2 mm since last month.";
    let bad_photo = Form::new()
        .text("csrf_token", csrf)
        .text("message", typed)
        .part(
            "photo",
            Part::bytes(b"<html>hi</html>".to_vec()).file_name("x.jpg"),
        );
    let r = post_multipart(&gp, &format!("{case_path}/respond"), bad_photo).await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let html = r.text().await.unwrap();
    assert!(html.contains("href=\"#respond-photo\""), "{html}");
    assert!(html.contains(typed), "the response is kept: {html}");
}

async fn other_practices_and_commissioners_get_html_refusals(stack: Stack) {
    let w = web(stack).await;
    let gp = signed_in(&w.app, "gp@a.example").await;
    let csrf = gp.csrf_token("/cases/new").await;
    let r = post_multipart(&gp, "/cases", web_case_form(&csrf, true)).await;
    let case_path = r.headers()["location"]
        .to_str()
        .unwrap()
        .trim_end_matches("?submitted=1")
        .to_string();
    let other = signed_in(&w.app, "gp@b.example").await;
    let r = other.get(&case_path).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("There is no case with this id that you can see."));
    assert!(!other.get_text("/cases").await.contains(&case_path));
    let c = signed_in(&w.app, "c@icb.example").await;
    assert_eq!(c.get(&case_path).await.status(), StatusCode::NOT_FOUND);
    let r = c.get("/cases").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(c.get("/queue").await.status(), StatusCode::FORBIDDEN);
    let anon = w.app.browser();
    assert_eq!(
        anon.get(&case_path).await.headers()["location"]
            .to_str()
            .unwrap(),
        format!("/login?next={}", case_path.replace('/', "%2F"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_rotas_and_targets_and_others_cannot() {
    let w = web(Stack::SqliteFs).await;
    w.app
        .add_user("admin@aghub.example", Role::Admin, None, &[])
        .await;
    let gp = signed_in(&w.app, "gp@a.example").await;
    assert_eq!(gp.get("/admin").await.status(), StatusCode::FORBIDDEN);
    let admin = signed_in(&w.app, "admin@aghub.example").await;
    let page = admin.get_text("/admin").await;
    let token = extract_csrf(&page).unwrap();
    let consultant = page
        .split("<option value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    assert!(consultant.ends_with("|dermatology"));
    let bad = admin
        .post_form(
            "/admin/rotas",
            &[
                ("csrf_token", &token),
                ("consultant", &consultant),
                ("pool", "national"),
                ("from", "2026-11-24T18:00"),
                ("to", "2026-11-24T08:00"),
            ],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = bad.text().await.unwrap();
    // In the summary, linking to the field, and at the field itself.
    assert!(
        html.contains(r##"<a href="#rota-to">The shift must end after it starts.</a>"##)
            && html.contains(r#"id="rota-to-error"><span class="nhsuk-u-visually-hidden">Error:</span> The shift must end after it starts."#),
        "{html}"
    );
    let ok = admin
        .post_form(
            "/admin/rotas",
            &[
                ("csrf_token", &token),
                ("consultant", &consultant),
                ("pool", "national"),
                ("from", "2026-11-24T08:00"),
                ("to", "2026-11-24T18:00"),
            ],
        )
        .await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let page = admin.get_text("/admin?saved=rota").await;
    assert!(page.contains("The shift was added.") && page.contains("24 Nov 2026, 08:00 GMT"));
    // Typed in UK time: a summer shift is stored an hour earlier in UTC and shown as BST.
    let summer = admin
        .post_form(
            "/admin/rotas",
            &[
                ("csrf_token", &token),
                ("consultant", &consultant),
                ("pool", "local"),
                ("from", "2027-07-01T09:00"),
                ("to", "2027-07-01T17:00"),
            ],
        )
        .await;
    assert_eq!(summer.status(), StatusCode::SEE_OTHER);
    let page = admin.get_text("/admin?saved=rota").await;
    assert!(page.contains("1 Jul 2027, 09:00 BST"), "{page}");
    assert!(
        page.contains(r#"value="2027-07-01T09:00""#)
            && page.contains(r#"value="2027-07-01T17:00""#),
        "each row's form shows its UK times: {page}"
    );
    assert!(
        !page.contains("– dermatology<"),
        "the consultant picker names specialties, not slugs"
    );
    assert!(page.contains("– Dermatology</option>"), "{page}");
    let starts: Vec<i64> = sqlx::query_scalar("SELECT starts_at_ms FROM rota_shifts")
        .fetch_all(w.app.state.db.pool())
        .await
        .unwrap();
    assert!(
        starts.contains(&1_814_428_800_000),
        "09:00 BST on 1 Jul 2027 is 08:00 UTC: {starts:?}"
    );
    // Each row saves or removes its own shift, and both are audited.
    let summer_id: String =
        sqlx::query_scalar("SELECT id FROM rota_shifts WHERE starts_at_ms = 1814428800000")
            .fetch_one(w.app.state.db.pool())
            .await
            .unwrap();
    for (path, fields, status) in [
        (
            format!("/admin/rotas/{summer_id}"),
            vec![("from", "2027-07-01T09:00"), ("to", "2027-07-01T08:00")],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("/admin/rotas/{summer_id}"),
            vec![("from", "2027-07-01T10:00"), ("to", "2027-07-01T19:00")],
            StatusCode::SEE_OTHER,
        ),
    ] {
        let mut form = vec![("csrf_token", token.as_str())];
        form.extend(fields);
        let r = admin.post_form(&path, &form).await;
        assert_eq!(r.status(), status, "{path}");
    }
    let (from, to): (i64, i64) =
        sqlx::query_as("SELECT starts_at_ms, ends_at_ms FROM rota_shifts WHERE id = $1")
            .bind(&summer_id)
            .fetch_one(w.app.state.db.pool())
            .await
            .unwrap();
    assert_eq!(
        (from, to),
        (1_814_432_400_000, 1_814_464_800_000),
        "10:00 to 19:00 BST"
    );
    let gp_token = gp.csrf_token("/cases/new").await;
    async fn remove(who: &Browser, path: &str, csrf: &str) -> StatusCode {
        who.post_form(path, &[("csrf_token", csrf)]).await.status()
    }
    let remove_path = format!("/admin/rotas/{summer_id}/remove");
    assert_eq!(
        remove(&gp, &remove_path, &gp_token).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        remove(&admin, &remove_path, &token).await,
        StatusCode::SEE_OTHER
    );
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rota_shifts WHERE id = $1")
        .bind(&summer_id)
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(
        remove(&admin, &remove_path, &token).await,
        StatusCode::NOT_FOUND,
        "already gone"
    );
    let events = aghub::db::audit::recent(&w.app.state.db, 50).await.unwrap();
    for action in ["rota.shift_changed", "rota.shift_removed"] {
        let e = events.iter().find(|e| e.action == action).expect(action);
        assert_eq!(
            e.subject_id.as_deref(),
            Some(summer_id.as_str()),
            "{action}"
        );
    }
    let saved = admin
        .post_form(
            "/admin/specialties/dermatology",
            &[
                ("csrf_token", &token),
                ("routine_hours", "24"),
                ("urgent_hours", "4"),
                ("escalation_hours", "0.5"),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let derm = aghub::db::specialties::get(&w.app.state.db, "dermatology")
        .await
        .unwrap();
    assert_eq!(
        (
            derm.routine_target_ms,
            derm.urgent_target_ms,
            derm.escalation_ms
        ),
        (86_400_000, 14_400_000, 1_800_000)
    );
    let rejected = admin
        .post_form(
            "/admin/specialties/dermatology",
            &[
                ("csrf_token", &token),
                ("routine_hours", "-1"),
                ("urgent_hours", "4"),
                ("escalation_hours", "1"),
            ],
        )
        .await;
    assert_eq!(rejected.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_are_checked_before_sending_and_nothing_is_stored() {
    let w = web(Stack::SqliteFs).await;
    let gp = signed_in(&w.app, "gp@a.example").await;
    let csrf = gp.csrf_token("/cases/new").await;
    let check = |bytes: Vec<u8>, token: Option<String>| {
        let mut req = gp
            .client
            .post(format!("{}/api/v1/photo-checks", gp.base))
            .header("Origin", &gp.base)
            .multipart(Form::new().part("photo", Part::bytes(bytes).file_name("p.jpg")));
        if let Some(t) = token {
            req = req.header("X-CSRF-Token", t);
        }
        req.send()
    };
    let good: serde_json::Value = check(phone_jpeg(1600, 1200, 6, 3), Some(csrf.clone()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (good["width"].as_i64(), good["height"].as_i64()),
        (Some(1600), Some(1200))
    );
    assert_eq!(good["warnings"], serde_json::json!([]));
    let small: serde_json::Value = check(phone_jpeg(400, 300, 1, 3), Some(csrf.clone()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        small["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w == "low_resolution"),
        "{small}"
    );
    let bad = check(b"not an image".to_vec(), Some(csrf.clone()))
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let forged = check(phone_jpeg(400, 300, 1, 3), None).await.unwrap();
    assert_eq!(
        forged.status(),
        StatusCode::FORBIDDEN,
        "session calls need the CSRF header"
    );
    assert_eq!(stored_objects(&w._backends).await, 0);
    let derm = signed_in(&w.app, "derm@h.example").await;
    let csrf = derm.csrf_token("/queue").await;
    let r = derm
        .client
        .post(format!("{}/api/v1/photo-checks", derm.base))
        .header("Origin", &derm.base)
        .header("X-CSRF-Token", csrf)
        .multipart(Form::new().part(
            "photo",
            Part::bytes(phone_jpeg(400, 300, 1, 3)).file_name("p.jpg"),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

/// Hostile text in every field a GP or consultant types: stored as typed, escaped wherever shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_is_stored_verbatim_and_escaped_everywhere() {
    let w = web(Stack::SqliteFs).await;
    let payload = "<script>alert(1)</script>'; DROP TABLE cases; -- \" onmouseover=\"x";
    let gp = signed_in(&w.app, "gp@a.example").await;
    let csrf = gp.csrf_token("/cases/new").await;
    let form = Form::new()
        .text("csrf_token", csrf.clone())
        .text("specialty", "dermatology")
        .text("nhs_number", "943 476 5919")
        .text("date_of_birth", "1984-03-27")
        .text("urgency", "routine")
        .text("history", payload)
        .text("question", payload)
        .part(
            "photo",
            Part::bytes(phone_jpeg(1200, 900, 1, 5)).file_name(payload.to_string()),
        )
        .text("photo_site", payload);
    let r = post_multipart(&gp, "/cases", form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let case_path = r.headers()["location"]
        .to_str()
        .unwrap()
        .trim_end_matches("?submitted=1")
        .to_string();
    // SQL metacharacters where a number is expected are refused, not executed.
    let bad = post_multipart(
        &gp,
        "/cases",
        web_case_form(&csrf, true).text("nhs_number", "' OR 1=1 --"),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let derm = signed_in(&w.app, "derm@h.example").await;
    let token = extract_csrf(&derm.get_text("/queue").await).unwrap();
    derm.post_form(&format!("{case_path}/claim"), &[("csrf_token", &token)])
        .await;
    derm.post_form(
        &format!("{case_path}/reply"),
        &[
            ("csrf_token", &token),
            ("advice", payload),
            ("outcome", "request_information"),
        ],
    )
    .await;
    let respond = Form::new()
        .text("csrf_token", csrf.clone())
        .text("message", payload);
    assert_eq!(
        post_multipart(&gp, &format!("{case_path}/respond"), respond)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    for (who, page) in [
        ("gp", gp.get_text(&case_path).await),
        ("consultant", derm.get_text(&case_path).await),
        ("queue", derm.get_text("/queue").await),
    ] {
        assert!(
            !page.contains("<script>alert(1)"),
            "{who}: unescaped script"
        );
        assert!(
            !page.contains("\" onmouseover=\"x"),
            "{who}: attribute breakout"
        );
    }
    let json: serde_json::Value = gp
        .get(&format!("/api/v1{case_path}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(json["history"], payload, "stored exactly as typed");
    assert_eq!(json["photos"][0]["body_site"], payload);
    assert_eq!(json["messages"][1]["body"], payload);
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases")
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(count, 1, "the cases table is still there");
}
