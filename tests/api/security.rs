//! Issue 10: what a black-box test with a staff login found, each as an attack that must fail.

use aghub::db::rotas::Pool;
use aghub::domain::Role;
use reqwest::StatusCode;
use serde_json::Value;

use crate::cases::World;
use crate::helpers::{Backends, Stack, TestApp, PASSWORD, T0};

on_both_stacks!(
    consultants_see_a_case_only_while_on_duty_for_it_or_involved,
    parallel_sign_ins_cannot_race_past_the_pause,
    signed_in_responses_are_never_cached_and_sign_out_clears_the_browser,
    lists_photo_pages_and_refusals_are_in_the_audit_trail,
    the_audit_trail_cannot_be_changed_or_emptied,
    session_ids_are_stored_hashed_and_api_tokens_expire,
    data_files_are_readable_by_the_service_user_only,
    text_with_a_nul_character_gets_a_clear_4xx_not_a_server_error,
);

const H: i64 = 3_600_000;

/// A dermatologist with one shift, and their API token.
async fn consultant_with_shift(w: &World, email: &str, pool: Pool, from: i64, to: i64) -> String {
    let id = w
        .app
        .add_user(email, Role::Consultant, None, &["dermatology"])
        .await;
    aghub::db::rotas::insert(&w.app.state.db, &id, "dermatology", pool, from, to, T0)
        .await
        .unwrap();
    w.app.token_for(&id).await
}

async fn status(w: &World, token: &str, path: &str) -> StatusCode {
    w.get(token, path).await.status()
}

/// Every route that shows the case: JSON, photo bytes, the case page and the photo page.
fn case_routes(case: &Value) -> Vec<String> {
    let id = case["id"].as_str().unwrap();
    let pid = case["photos"][0]["id"].as_str().unwrap();
    vec![
        format!("/api/v1/cases/{id}"),
        format!("/api/v1/cases/{id}/photos/{pid}"),
        format!("/api/v1/cases/{id}/photos/{pid}?size=thumb"),
        format!("/cases/{id}"),
        format!("/cases/{id}/photos/{pid}"),
    ]
}

async fn consultants_see_a_case_only_while_on_duty_for_it_or_involved(stack: Stack) {
    let w = World::new(stack).await;
    // A shift that ends two hours after T0, and one that starts tomorrow.
    let short = consultant_with_shift(&w, "short@h.example", Pool::Local, T0 - H, T0 + 2 * H).await;
    let later =
        consultant_with_shift(&w, "later@h.example", Pool::Local, T0 + 24 * H, T0 + 30 * H).await;
    let case = w.case("dermatology", "routine", 1).await;
    let id = case["id"].as_str().unwrap().to_string();
    let routes = case_routes(&case);

    for route in &routes {
        assert_eq!(
            status(&w, &w.derm_local, route).await,
            StatusCode::OK,
            "{route}"
        );
        assert_eq!(status(&w, &short, route).await, StatusCode::OK, "{route}");
        for (who, token) in [
            ("national pool before escalation", &w.derm_national),
            ("dermatologist with no shift", &w.derm_off_duty),
            ("dermatologist whose shift starts tomorrow", &later),
        ] {
            let r = w.get(token, route).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{who}: {route}");
        }
    }
    // Not claimable either: the same 404, not a hint that the case exists.
    let r = w
        .post(&w.derm_national, &format!("/api/v1/cases/{id}/claim"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The short shift's consultant claims and releases it; another takes it and answers.
    assert_eq!(
        w.post(&short, &format!("/api/v1/cases/{id}/claim"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        w.post(&short, &format!("/api/v1/cases/{id}/release"))
            .await
            .status(),
        StatusCode::OK
    );
    // A case the short shift only saw in the queue, never held.
    let seen_only = w.case("dermatology", "routine", 1).await;
    w.app.clock.advance(3 * H);
    for route in case_routes(&seen_only) {
        assert_eq!(
            status(&w, &short, &route).await,
            StatusCode::NOT_FOUND,
            "after the shift ended, a case it only showed is gone: {route}"
        );
    }
    for route in &routes {
        assert_eq!(
            status(&w, &short, route).await,
            StatusCode::OK,
            "a case they held stays readable after the shift: {route}"
        );
    }
    // Past the escalation window the national pool may take it, so may see it.
    w.app.clock.advance(H);
    for route in &routes {
        assert_eq!(
            status(&w, &w.derm_national, route).await,
            StatusCode::OK,
            "{route}"
        );
    }
    assert_eq!(
        w.post(&w.derm_national, &format!("/api/v1/cases/{id}/claim"))
            .await
            .status(),
        StatusCode::OK
    );
    let r = w
        .post_json(
            &w.derm_national,
            &format!("/api/v1/cases/{id}/reply"),
            serde_json::json!({"advice": "Benign naevus; reassure.", "outcome": "manage_in_primary_care"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // The national shift ends: what they answered stays theirs to read.
    w.app.clock.set(T0 + 8 * 24 * H);
    for route in &routes {
        assert_eq!(
            status(&w, &w.derm_national, route).await,
            StatusCode::OK,
            "{route}"
        );
        assert_eq!(
            status(&w, &w.derm_local, route).await,
            StatusCode::NOT_FOUND,
            "{route}"
        );
    }
}

/// 30 sign-ins at once with wrong passwords: only 5 passwords are checked, the rest are
/// refused as paused, and the right password afterwards is refused too.
async fn parallel_sign_ins_cannot_race_past_the_pause(stack: Stack) {
    let b = Backends::new(stack).await;
    let app = TestApp::start(&b).await;
    app.add_user("a@example.nhs.uk", Role::Admin, None, &[])
        .await;
    let mut ready = Vec::new();
    for _ in 0..30 {
        let browser = app.browser();
        let token = browser.csrf_token("/login").await;
        ready.push((browser, token));
    }
    let attempts = ready.iter().map(|(browser, token)| async move {
        browser
            .post_form(
                "/login",
                &[
                    ("csrf_token", token.as_str()),
                    ("email", "a@example.nhs.uk"),
                    ("password", "a wrong guess"),
                ],
            )
            .await
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let count = |s: StatusCode| statuses.iter().filter(|x| **x == s).count();
    assert_eq!(count(StatusCode::UNAUTHORIZED), 5, "{statuses:?}");
    assert_eq!(count(StatusCode::TOO_MANY_REQUESTS), 25, "{statuses:?}");
    let r = app.browser().sign_in("a@example.nhs.uk", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);

    // A burst with the right password among wrong ones: never more than 5 passwords checked.
    app.add_user("b@example.nhs.uk", Role::Admin, None, &[])
        .await;
    let mut ready = Vec::new();
    for _ in 0..30 {
        let browser = app.browser();
        let token = browser.csrf_token("/login").await;
        ready.push((browser, token));
    }
    let attempts = ready.iter().enumerate().map(|(i, (browser, token))| {
        let password = if i == 29 { PASSWORD } else { "a wrong guess" };
        async move {
            browser
                .post_form(
                    "/login",
                    &[
                        ("csrf_token", token.as_str()),
                        ("email", "b@example.nhs.uk"),
                        ("password", password),
                    ],
                )
                .await
        }
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s != StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(checked >= 5, "{statuses:?}");
    if statuses[29] != StatusCode::SEE_OTHER {
        assert_eq!(
            checked, 5,
            "without a success the count never restarts: {statuses:?}"
        );
    }
}

async fn signed_in_responses_are_never_cached_and_sign_out_clears_the_browser(stack: Stack) {
    let w = World::new(stack).await;
    let case = w.case("dermatology", "routine", 1).await;
    let id = case["id"].as_str().unwrap();
    let mut paths = case_routes(&case);
    paths.extend(["/cases".into(), "/api/v1/cases".into(), "/api/v1/me".into()]);
    for path in &paths {
        let r = w.get(&w.gp, path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let cache = r.headers()["cache-control"].to_str().unwrap();
        assert!(
            cache == "no-store" || cache == "private, no-store",
            "{path}: {cache}"
        );
    }
    // Refusals to a signed-in user are not cached either.
    let r = w
        .get(&w.gp_other_practice, &format!("/api/v1/cases/{id}"))
        .await;
    assert_eq!(r.headers()["cache-control"], "no-store");

    // A browser session: the case page, then sign-out.
    let practice = aghub::db::practices::find_by_ods(&w.app.state.db, "A81001")
        .await
        .unwrap()
        .expect("the World's first practice");
    w.app
        .add_user("gp.web@a.example", Role::Gp, Some(&practice.id), &[])
        .await;
    let browser = w.app.browser();
    browser.sign_in("gp.web@a.example", PASSWORD).await;
    let page = browser.get(&format!("/cases/{id}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    let token = crate::helpers::extract_csrf(&html).expect("sign-out form");
    let out = browser
        .post_form("/logout", &[("csrf_token", &token)])
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        out.headers()["clear-site-data"],
        "\"cache\", \"cookies\", \"storage\""
    );
    // Static files are not patient data: they stay cacheable.
    let css = browser.get("/static/app.css").await;
    assert!(css.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
}

async fn audit_events(w: &World) -> Vec<Value> {
    let audit: Value = w.get(&w.admin, "/api/v1/audit").await.json().await.unwrap();
    audit["events"].as_array().unwrap().clone()
}

async fn lists_photo_pages_and_refusals_are_in_the_audit_trail(stack: Stack) {
    let w = World::new(stack).await;
    let a = w.case("dermatology", "routine", 1).await;
    let b = w.case("dermatology", "urgent", 1).await;
    let ids: Vec<&str> = [&a, &b].iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(w.get(&w.gp, "/api/v1/cases").await.status(), StatusCode::OK);
    assert_eq!(
        w.get(&w.derm_local, "/api/v1/queue").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        w.get(&w.derm_local, "/queue").await.status(),
        StatusCode::OK
    );
    let pid = a["photos"][0]["id"].as_str().unwrap();
    let page = format!("/cases/{}/photos/{pid}", ids[0]);
    assert_eq!(w.get(&w.derm_local, &page).await.status(), StatusCode::OK);
    // Refused: another practice, a commissioner, the national pool before escalation.
    for token in [&w.gp_other_practice, &w.commissioner, &w.derm_national] {
        let r = w.get(token, &format!("/api/v1/cases/{}", ids[1])).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(
        w.get(&w.commissioner, "/api/v1/cases").await.status(),
        StatusCode::FORBIDDEN
    );

    let events = audit_events(&w).await;
    for action in ["cases.listed", "queue.viewed"] {
        let shown: Vec<Vec<String>> = events
            .iter()
            .filter(|e| e["action"] == action)
            .map(|e| {
                e["detail"]["case_ids"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{action} names the cases shown: {e}"))
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect()
            })
            .collect();
        assert!(!shown.is_empty(), "{action}");
        for list in &shown {
            let mut list = list.clone();
            list.sort();
            let mut expected: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
            expected.sort();
            assert_eq!(list, expected, "{action}");
        }
    }
    assert!(
        events.iter().any(|e| e["action"] == "photo.page_viewed"
            && e["case_id"] == ids[0]
            && e["subject_id"] == pid),
        "the photo page is recorded"
    );
    let refused: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "access.refused")
        .collect();
    let refused_case: Vec<&&Value> = refused.iter().filter(|e| e["case_id"] == ids[1]).collect();
    assert_eq!(refused_case.len(), 3, "{refused:?}");
    assert!(refused_case.iter().all(|e| e["detail"]["status"] == 404));
    assert!(refused
        .iter()
        .any(|e| e["detail"]["status"] == 403 && e["detail"]["path"] == "/api/v1/cases"));
}

async fn the_audit_trail_cannot_be_changed_or_emptied(stack: Stack) {
    let w = World::new(stack).await;
    w.case("dermatology", "routine", 1).await;
    let pool = w.app.state.db.pool();
    for sql in [
        "DELETE FROM audit_events",
        "UPDATE audit_events SET action = 'nothing'",
    ] {
        let err = sqlx::query(sql).execute(pool).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    if stack == Stack::SqliteFs {
        return;
    }
    let err = sqlx::query("TRUNCATE audit_events")
        .execute(pool)
        .await
        .expect_err("truncate");
    assert!(err.to_string().contains("append-only"), "{err}");

    // The service's own role in production: a log-in role in aghub_service (docs/security.md).
    use sqlx::Connection;
    let role = format!("aghub_svc_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&w.backends.database_url)
        .await
        .unwrap();
    sqlx::query(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD 'service password' IN ROLE aghub_service"
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    let mut url = reqwest::Url::parse(&w.backends.database_url).unwrap();
    url.set_username(&role).unwrap();
    url.set_password(Some("service password")).unwrap();
    let mut service = sqlx::PgConnection::connect(url.as_str()).await.unwrap();
    sqlx::query(
        "INSERT INTO audit_events (id, at_ms, action) VALUES ('00000000-test', 1, 'test.event')",
    )
    .execute(&mut service)
    .await
    .expect("the service may add to the trail");
    for sql in [
        "DELETE FROM audit_events",
        "UPDATE audit_events SET action = 'nothing'",
        "TRUNCATE audit_events",
        "ALTER TABLE audit_events DISABLE TRIGGER ALL",
        "DROP TRIGGER audit_events_no_delete ON audit_events",
        "DROP TABLE audit_events",
    ] {
        let err = sqlx::query(sql).execute(&mut service).await.expect_err(sql);
        let text = err.to_string();
        assert!(
            text.contains("permission denied") || text.contains("must be owner"),
            "{sql}: {text}"
        );
    }
    drop(service);

    // The whole service runs as that role (migrations are already applied by the owner).
    let mut settings = w.backends.settings();
    settings.database_url = Some(url.to_string());
    let app = TestApp::start_with_settings(&w.backends, settings).await;
    let r = app
        .submit_case(&w.gp, crate::cases::case_form("dermatology", "routine", 1))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let case: Value = r.json().await.unwrap();
    let r = app
        .api()
        .get(app.url(&format!("/api/v1/cases/{}", case["id"].as_str().unwrap())))
        .bearer_auth(&w.gp)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.stop().await;
    let _ = sqlx::query(&format!("DROP ROLE {role}"))
        .execute(&mut admin)
        .await;
}

async fn session_ids_are_stored_hashed_and_api_tokens_expire(stack: Stack) {
    let w = World::new(stack).await;
    w.app
        .add_user("web@a.example", Role::Admin, None, &[])
        .await;
    let browser = w.app.browser();
    let r = browser.sign_in("web@a.example", PASSWORD).await;
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("aghub_session="))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_string();
    let stored: Vec<String> = sqlx::query_scalar("SELECT id FROM sessions")
        .fetch_all(w.app.state.db.pool())
        .await
        .unwrap();
    assert!(!stored.contains(&cookie), "the cookie value is not stored");
    assert!(stored.contains(&aghub::db::tokens::hash(&cookie)));
    assert_eq!(browser.get("/admin").await.status(), StatusCode::OK);

    // Tokens made by the harness expire after 90 days, like `aghub token create`'s default.
    assert_eq!(status(&w, &w.gp, "/api/v1/me").await, StatusCode::OK);
    w.app.clock.set(T0 + 90 * 24 * H);
    let r = w.get(&w.gp, "/api/v1/me").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(crate::helpers::error_code(r).await, "invalid_token");
}

async fn data_files_are_readable_by_the_service_user_only(stack: Stack) {
    use std::os::unix::fs::PermissionsExt;
    // The usual umask, which leaves new files readable by every local user.
    unsafe { libc::umask(0o022) };
    let b = Backends::new(stack).await;
    let data_dir = b.dir.path().join("data");
    let mut settings = b.settings();
    settings.data_dir = data_dir.clone();
    if stack == Stack::SqliteFs {
        // The embedded defaults: database and photos inside the data dir.
        settings.database_url = None;
        settings.storage_url = None;
    }
    let app = TestApp::start_with_settings(&b, settings).await;
    let practice = app.add_practice("A81001").await;
    let gp = app
        .add_user("gp@a.example", Role::Gp, Some(&practice.id), &[])
        .await;
    let token = app.token_for(&gp).await;
    let r = app
        .submit_case(&token, crate::cases::case_form("dermatology", "routine", 2))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    fn walk(path: &std::path::Path, found: &mut Vec<(std::path::PathBuf, u32, bool)>) {
        let meta = std::fs::metadata(path).unwrap();
        found.push((
            path.to_path_buf(),
            meta.permissions().mode() & 0o777,
            meta.is_dir(),
        ));
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                walk(&entry.unwrap().path(), found);
            }
        }
    }
    let mut found = Vec::new();
    if stack == Stack::PostgresS3 && !data_dir.exists() {
        // Nothing of a PostgreSQL + S3 deployment is kept on local disk.
        app.stop().await;
        return;
    }
    walk(&data_dir, &mut found);
    if stack == Stack::SqliteFs {
        assert!(found.iter().any(|(p, _, _)| p.ends_with("aghub.db")));
        assert!(
            found.iter().filter(|(_, _, dir)| !dir).count() >= 6,
            "{found:?}"
        );
    }
    for (path, mode, is_dir) in &found {
        let expected = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, expected, "{} is {mode:o}", path.display());
    }
    app.stop().await;
}

/// Found by schemathesis: a NUL in the advice made PostgreSQL fail the insert (500). Clinical
/// text with control characters is refused with 422 on both stacks, and anything that still
/// reaches PostgreSQL with a NUL (a sign-in email) is a 4xx, never a 5xx.
async fn text_with_a_nul_character_gets_a_clear_4xx_not_a_server_error(stack: Stack) {
    let w = World::new(stack).await;
    let form = crate::cases::case_form("dermatology", "routine", 1)
        .text("history", "Lesion\u{0}on the arm");
    let r = w.submit(&w.gp, form).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(crate::helpers::error_code(r).await, "invalid_characters");

    let case = w.case("dermatology", "routine", 1).await;
    let id = case["id"].as_str().unwrap();
    assert_eq!(
        w.post(&w.derm_local, &format!("/api/v1/cases/{id}/claim"))
            .await
            .status(),
        StatusCode::OK
    );
    let r = w
        .post_json(
            &w.derm_local,
            &format!("/api/v1/cases/{id}/reply"),
            serde_json::json!({"advice": "Benign\u{0}", "outcome": "refer_two_week_wait"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(crate::helpers::error_code(r).await, "invalid_characters");
    let case: Value = w
        .get(&w.gp, &format!("/api/v1/cases/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(case["status"], "claimed", "nothing was answered");

    let r = w.app.browser().sign_in("gp\u{0}@a.example", PASSWORD).await;
    assert!(r.status().is_client_error(), "{}", r.status());
}
