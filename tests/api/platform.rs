//! Sign-in, sessions, tokens, CSRF, access errors, health and HTTP hygiene.

use aghub::domain::Role;
use reqwest::StatusCode;

use crate::helpers::{error_code, Backends, Stack, TestApp, PASSWORD};

on_both_stacks!(
    health_and_readiness_report_both_backends,
    user_signs_in_on_the_web_and_sees_their_home_page,
    wrong_password_is_refused_and_audited,
    api_token_authenticates_and_bad_tokens_get_401,
    requests_without_rights_get_401_or_403_in_the_contract_shape,
    forms_without_a_valid_csrf_token_or_from_another_site_are_refused,
    sign_out_ends_the_session_everywhere,
    forged_session_cookies_are_anonymous,
    sessions_are_shared_by_two_instances,
    security_headers_and_request_ids_are_set,
    unknown_routes_get_html_for_people_and_json_for_the_api,
    oversized_bodies_are_refused_with_413,
    open_redirects_after_sign_in_are_refused,
    wrong_passwords_pause_sign_in_to_that_account_only,
);

async fn one_app(stack: Stack) -> (Backends, TestApp) {
    let backends = Backends::new(stack).await;
    let app = TestApp::start(&backends).await;
    (backends, app)
}

async fn health_and_readiness_report_both_backends(stack: Stack) {
    let (_b, app) = one_app(stack).await;
    let client = app.api();
    let health = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    assert_eq!(body["storage"], "ok");
}

async fn user_signs_in_on_the_web_and_sees_their_home_page(stack: Stack) {
    let (_b, app) = one_app(stack).await;
    let practice = app.add_practice("A81001").await;
    let user_id = app
        .add_user("gp@example.nhs.uk", Role::Gp, Some(&practice.id), &[])
        .await;
    let browser = app.browser();

    let home = browser.get("/").await;
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
    assert_eq!(home.headers()["location"], "/login?next=%2F");

    let signed_in = browser.sign_in("GP@Example.nhs.uk ", PASSWORD).await;
    assert_eq!(
        signed_in.status(),
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.text().await.unwrap()
    );
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    let home = browser.get("/").await;
    assert_eq!(
        home.headers()["location"],
        "/cases",
        "GPs start at their practice's cases"
    );
    let page = browser.get_text("/cases").await;
    assert!(page.contains("Test gp@example.nhs.uk"), "{page}");
    assert!(page.contains("Cases of Practice A81001 (A81001)"), "{page}");

    let audit = aghub::db::audit::recent(&app.state.db, 10).await.unwrap();
    assert!(audit
        .iter()
        .any(|e| e.action == "user.signed_in" && e.actor_id.as_deref() == Some(&user_id)));
}

async fn wrong_password_is_refused_and_audited(stack: Stack) {
    let (_b, app) = one_app(stack).await;
    app.add_user("c@example.nhs.uk", Role::Consultant, None, &["dermatology"])
        .await;
    let browser = app.browser();
    for (email, password) in [
        ("c@example.nhs.uk", "wrong password!"),
        ("nobody@example.nhs.uk", PASSWORD),
    ] {
        let r = browser.sign_in(email, password).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let html = r.text().await.unwrap();
        assert!(
            html.contains("The email address or password is not right"),
            "{html}"
        );
    }
    assert_eq!(browser.get("/").await.status(), StatusCode::SEE_OTHER);
    let audit = aghub::db::audit::recent(&app.state.db, 10).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "user.sign_in_failed")
            .count(),
        2
    );
}

async fn api_token_authenticates_and_bad_tokens_get_401(stack: Stack) {
    let (_b, app) = one_app(stack).await;
    let id = app
        .add_user(
            "derm@example.nhs.uk",
            Role::Consultant,
            None,
            &["dermatology"],
        )
        .await;
    let token = app.token_for(&id).await;
    let client = app.api();

    let me: serde_json::Value = client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "consultant");
    assert_eq!(me["specialties"], serde_json::json!(["dermatology"]));

    let none = client.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(none).await, "unauthenticated");

    for bad in ["Bearer agh_0000", "Basic dXNlcjpwYXNz", "Bearer "] {
        let r = client
            .get(app.url("/api/v1/me"))
            .header("Authorization", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(error_code(r).await, "invalid_token", "{bad}");
    }
}

async fn requests_without_rights_get_401_or_403_in_the_contract_shape(stack: Stack) {
    let (_b, app) = one_app(stack).await;
    let practice = app.add_practice("B82002").await;
    let gp = app
        .add_user("gp@example.nhs.uk", Role::Gp, Some(&practice.id), &[])
        .await;
    let admin = app
        .add_user("admin@example.nhs.uk", Role::Admin, None, &[])
        .await;
    let client = app.api();

    let anonymous = client.get(app.url("/api/v1/audit")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(anonymous).await, "unauthenticated");

    let gp_token = app.token_for(&gp).await;
    let as_gp = client
        .get(app.url("/api/v1/audit"))
        .bearer_auth(&gp_token)
        .send()
        .await
        .unwrap();
    assert_eq!(as_gp.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(as_gp).await, "forbidden");

    let admin_token = app.token_for(&admin).await;
    let as_admin = client
        .get(app.url("/api/v1/audit"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(as_admin.status(), StatusCode::OK);
    let body: serde_json::Value = as_admin.json().await.unwrap();
    assert!(body["events"].is_array());
}

async fn forms_without_a_valid_csrf_token_or_from_another_site_are_refused(stack: Stack) {
    let (_b, app) = one_app(stack).await;
    app.add_user("a@example.nhs.uk", Role::Admin, None, &[])
        .await;
    let browser = app.browser();
    let token = browser.csrf_token("/login").await;
    let fields = |t: &'static str| {
        vec![
            ("csrf_token", t),
            ("email", "a@example.nhs.uk"),
            ("password", PASSWORD),
        ]
    };

    let no_token = browser.post_form("/login", &fields("")).await;
    assert_eq!(no_token.status(), StatusCode::FORBIDDEN);
    let html = no_token.text().await.unwrap();
    assert!(
        html.contains("Reload the page"),
        "people get an HTML page: {html}"
    );

    let foreign = browser
        .client
        .post(format!("{}/login", browser.base))
        .header("Origin", "https://evil.example")
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", "a@example.nhs.uk"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);

    let no_origin = browser
        .client
        .post(format!("{}/login", browser.base))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", "a@example.nhs.uk"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(no_origin.status(), StatusCode::FORBIDDEN);

    // The same token, from our origin, works; and a signed-in JSON call without X-CSRF-Token fails.
    let ok = browser
        .post_form(
            "/login",
            &[
                ("csrf_token", &token),
                ("email", "a@example.nhs.uk"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let api_post = browser
        .client
        .post(format!("{}/api/v1/me", browser.base))
        .header("Origin", &browser.base)
        .send()
        .await
        .unwrap();
    assert_eq!(api_post.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(api_post).await, "csrf_failed");
}

async fn sign_out_ends_the_session_everywhere(stack: Stack) {
    let (_b, app) = one_app(stack).await;
    app.add_user("a@example.nhs.uk", Role::Admin, None, &[])
        .await;
    let browser = app.browser();
    let signed_in = browser.sign_in("a@example.nhs.uk", PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    // Keep a copy of the cookie, as an attacker who stole it would.
    let stolen = session_cookie(&signed_in);
    let with_stolen = || {
        app.api()
            .get(app.url("/api/v1/me"))
            .header("Cookie", stolen.clone())
    };
    assert_eq!(with_stolen().send().await.unwrap().status(), StatusCode::OK);

    let home = browser.get_text("/admin").await;
    let token = crate::helpers::extract_csrf(&home).expect("sign-out form has a token");
    let out = browser
        .post_form("/logout", &[("csrf_token", &token)])
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(out.headers()["location"], "/login");
    assert_eq!(browser.get("/").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        with_stolen().send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

fn session_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("aghub_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string()
}

async fn forged_session_cookies_are_anonymous(stack: Stack) {
    let (_b, app) = one_app(stack).await;
    let client = app.api();
    for forged in [
        "aghub_session=AAAAAAAAAAAAAAAAAAAAAA",
        "aghub_session=../../etc",
        "aghub_session=' OR 1=1 --",
    ] {
        let r = client
            .get(app.url("/api/v1/me"))
            .header("Cookie", forged)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{forged}");
    }
}

async fn sessions_are_shared_by_two_instances(stack: Stack) {
    let backends = Backends::new(stack).await;
    let a = TestApp::start(&backends).await;
    let b = TestApp::start(&backends).await;
    a.add_user("c@example.nhs.uk", Role::Commissioner, None, &[])
        .await;
    let browser = a.browser();
    assert_eq!(
        browser.sign_in("c@example.nhs.uk", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let me_a = browser.get("/api/v1/me").await;
    assert_eq!(me_a.status(), StatusCode::OK);
    // Same host (127.0.0.1), other port: cookies are shared across ports of one host.
    let on_b = browser.on(&b.base);
    let me_b = on_b.get("/api/v1/me").await;
    assert_eq!(
        me_b.status(),
        StatusCode::OK,
        "instance B must know instance A's session"
    );
    a.stop().await;
    b.stop().await;
}

async fn security_headers_and_request_ids_are_set(stack: Stack) {
    let (_b, app) = one_app(stack).await;
    let r = app.api().get(app.url("/login")).send().await.unwrap();
    let h = r.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert!(!h["x-request-id"].is_empty());
    let echoed = app
        .api()
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-me-123");
}

async fn unknown_routes_get_html_for_people_and_json_for_the_api(stack: Stack) {
    let (_b, app) = one_app(stack).await;
    let page = app
        .api()
        .get(app.url("/no-such-page"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let api = app
        .api()
        .get(app.url("/api/v1/no-such-route"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(api).await, "not_found");
}

async fn oversized_bodies_are_refused_with_413(stack: Stack) {
    let (_b, app) = one_app(stack).await;
    let browser = app.browser();
    let token = browser.csrf_token("/login").await;
    let huge = "x".repeat(200 * 1024);
    let r = browser
        .post_form(
            "/login",
            &[("csrf_token", &token), ("email", &huge), ("password", "x")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Still serving.
    assert_eq!(app.status_of("/healthz").await, StatusCode::OK);
}

async fn open_redirects_after_sign_in_are_refused(stack: Stack) {
    let (_b, app) = one_app(stack).await;
    app.add_user("a@example.nhs.uk", Role::Admin, None, &[])
        .await;
    for (next, expected) in [
        ("//evil.example/x", "/"),
        ("https://evil.example", "/"),
        ("/\\evil", "/"),
        ("/cases?x=1", "/cases?x=1"),
        // Browsers drop tabs and newlines and read `\` as `/`: each of these is another host.
        ("/\t/evil.example", "/"),
        ("/\n/x", "/"),
        ("/\r\n/x", "/"),
        ("/ /evil.example", "/"),
        ("/\\/evil.example", "/"),
        ("/caf\u{e9}", "/"),
        ("javascript:alert(1)", "/"),
        ("/cases?status=claimed", "/cases?status=claimed"),
    ] {
        let browser = app.browser();
        let token = browser.csrf_token("/login").await;
        let r = browser
            .post_form(
                "/login",
                &[
                    ("csrf_token", &token),
                    ("email", "a@example.nhs.uk"),
                    ("password", PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(r.headers()["location"], expected, "{next:?}");
        // The sign-in page echoes only a safe target too.
        let form = browser
            .get(&format!("/login?next={}", percent_encode(next)))
            .await
            .text()
            .await
            .unwrap();
        assert!(!form.contains("evil.example"), "{next:?}");
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn openapi_document_describes_every_contract_route() {
    let backends = Backends::new(Stack::SqliteFs).await;
    let app = TestApp::start(&backends).await;
    let r = app
        .api()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (path, method) in [
        ("/api/v1/cases", "post"),
        ("/api/v1/cases", "get"),
        ("/api/v1/cases/{id}", "get"),
        ("/api/v1/cases/{id}/photos/{photo_id}", "get"),
        ("/api/v1/queue", "get"),
        ("/api/v1/cases/{id}/claim", "post"),
        ("/api/v1/cases/{id}/reply", "post"),
        ("/api/v1/cases/{id}/respond", "post"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
    }
    let outcomes = &doc["components"]["schemas"]["Outcome"]["enum"];
    assert_eq!(outcomes.as_array().unwrap().len(), 6, "{outcomes}");
    assert!(doc["components"]["schemas"]["CaseJson"]["properties"]["nhs_number"].is_object());
}

/// A client that starts an upload and then stalls is cut off with 408; nothing is stored and
/// the service keeps serving.
#[tokio::test]
async fn slow_uploads_are_cut_off_and_leave_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let backends = Backends::new(Stack::SqliteFs).await;
    let mut settings = backends.settings();
    settings.request_timeout_secs = 2;
    let app = TestApp::start_with_settings(&backends, settings).await;
    let practice = app.add_practice("A81001").await;
    let gp = app
        .add_user("gp@a.example", Role::Gp, Some(&practice.id), &[])
        .await;
    let token = app.token_for(&gp).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/cases HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: 10000000\r\n\r\n\
         --XYZ\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.jpg\"\r\n\r\nJFIF"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // ...and never send the rest.
    let mut response = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut response),
    )
    .await;
    assert!(read.is_ok(), "the server must not wait forever");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert_eq!(crate::helpers::stored_objects(&backends).await, 0);
    assert_eq!(app.status_of("/healthz").await, StatusCode::OK);
}

/// Five wrong passwords within 15 minutes pause sign-in to that account (even with the right
/// password), for known and unknown emails alike; other accounts are unaffected, a successful
/// sign-in starts the count again, and the pause lifts by itself.
async fn wrong_passwords_pause_sign_in_to_that_account_only(stack: Stack) {
    let (_b, app) = one_app(stack).await;
    let practice = app.add_practice("A81001").await;
    app.add_user("a@example.nhs.uk", Role::Gp, Some(&practice.id), &[])
        .await;
    app.add_user("b@example.nhs.uk", Role::Gp, Some(&practice.id), &[])
        .await;
    let attacker = app.browser();
    for email in ["a@example.nhs.uk", "nobody@example.nhs.uk"] {
        for _ in 0..5 {
            let r = attacker.sign_in(email, "not the password").await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
    }
    let owner = app.browser();
    let paused = owner.sign_in("A@Example.nhs.uk ", PASSWORD).await;
    assert_eq!(paused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(paused.headers()["retry-after"], "900");
    let html = paused.text().await.unwrap();
    assert!(
        html.contains("paused after 5 wrong passwords. Try again in 15 minutes"),
        "{html}"
    );
    assert_eq!(
        owner.get("/").await.status(),
        StatusCode::SEE_OTHER,
        "not signed in"
    );
    let r = attacker
        .sign_in("nobody@example.nhs.uk", "not the password")
        .await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "unknown emails are paused alike, so a pause reveals no account"
    );

    // Another account: 4 wrong, a right one resets the count, 4 more wrong still leave it open.
    let b = app.browser();
    for round in 0..2 {
        for _ in 0..4 {
            let r = b.sign_in("b@example.nhs.uk", "not the password").await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "round {round}");
        }
        let r = b.sign_in("b@example.nhs.uk", PASSWORD).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "round {round}");
    }

    app.clock.advance(14 * 60_000);
    let r = owner.sign_in("a@example.nhs.uk", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().await.unwrap().contains("Try again in 1 minute"));
    app.clock.advance(60_000);
    let r = owner.sign_in("a@example.nhs.uk", PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "the pause lifts by itself"
    );

    let audit = aghub::db::audit::recent(&app.state.db, 100).await.unwrap();
    let paused_for: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "user.sign_in_paused")
        .map(|e| e.subject_id.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        paused_for,
        vec![
            "a@example.nhs.uk",
            "nobody@example.nhs.uk",
            "a@example.nhs.uk"
        ],
        "every refusal is audited against the account tried"
    );
}
