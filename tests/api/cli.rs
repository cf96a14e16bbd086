//! The contract's command line, run as a user would run it, against both databases.

use std::process::{Command, Output};

use reqwest::StatusCode;

use crate::helpers::{Backends, Stack, TestApp};

on_both_stacks!(
    cli_created_user_signs_in_and_their_token_calls_the_api,
    cli_misuse_exits_non_zero_with_one_line,
    rota_add_checks_consultant_specialty_and_times,
    set_password_lifts_a_pause_and_disable_ends_all_access,
    tokens_show_their_expiry_and_can_be_revoked_one_or_all,
);

pub fn aghub(b: &Backends, args: &[&str], password: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aghub"));
    cmd.args(args)
        .env("AGHUB_DATABASE_URL", &b.database_url)
        .env("AGHUB_STORAGE_URL", &b.storage_url)
        .env("AGHUB_DATA_DIR", b.dir.path())
        .env_remove("AGHUB_PASSWORD");
    if let Some(p) = password {
        cmd.env("AGHUB_PASSWORD", p);
    }
    cmd.output().expect("run aghub")
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub fn fails_with(out: &Output, needle: &str) {
    assert!(!out.status.success(), "should fail: {needle}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line on stderr: {err:?}"
    );
    assert!(err.contains(needle), "{needle:?} not in {err:?}");
    assert!(out.stdout.is_empty());
}

async fn cli_created_user_signs_in_and_their_token_calls_the_api(stack: Stack) {
    let b = Backends::new(stack).await;
    ok(&aghub(&b, &["migrate"], None));
    ok(&aghub(
        &b,
        &[
            "practice",
            "add",
            "--ods",
            "a81001",
            "--name",
            "Riverside Medical Centre",
        ],
        None,
    ));
    ok(&aghub(
        &b,
        &[
            "user",
            "add",
            "--email",
            "Asha.Patel@Example.nhs.uk",
            "--name",
            "Dr Asha Patel",
            "--role",
            "gp",
            "--practice",
            "A81001",
        ],
        Some("a long enough password"),
    ));
    ok(&aghub(
        &b,
        &[
            "user",
            "add",
            "--email",
            "derm@example.nhs.uk",
            "--name",
            "Dr Derm",
            "--role",
            "consultant",
            "--specialty",
            "dermatology",
            "ent",
        ],
        Some("another long password"),
    ));
    let token = ok(&aghub(
        &b,
        &["token", "create", "--email", "asha.patel@example.nhs.uk"],
        None,
    ));
    let token = token.trim();
    assert!(token.starts_with("agh_") && token.len() > 40 && !token.contains(char::is_whitespace));

    let app = TestApp::start(&b).await;
    let browser = app.browser();
    assert_eq!(
        browser
            .sign_in("asha.patel@example.nhs.uk", "a long enough password")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert!(browser
        .get_text("/cases")
        .await
        .contains("Riverside Medical Centre (A81001)"));

    let me: serde_json::Value = app
        .api()
        .get(app.url("/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "asha.patel@example.nhs.uk");
    assert_eq!(me["role"], "gp");

    let derm = crate::helpers::Browser {
        client: app.browser().client,
        base: app.base.clone(),
    };
    assert_eq!(
        derm.sign_in("derm@example.nhs.uk", "another long password")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let me: serde_json::Value = derm.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["specialties"], serde_json::json!(["dermatology", "ent"]));

    // Each account change is in the audit trail, saying it came from the command line.
    let trail = aghub::db::audit::recent(&app.state.db, 50).await.unwrap();
    let via_cli = |action: &str| {
        trail
            .iter()
            .filter(|e| e.action == action)
            .filter(|e| {
                e.detail
                    .as_ref()
                    .is_some_and(|d| d["via"] == "command line")
            })
            .count()
    };
    assert_eq!(via_cli("practice.added"), 1);
    assert_eq!(via_cli("user.added"), 2);
    assert_eq!(via_cli("token.created"), 1);
}

async fn cli_misuse_exits_non_zero_with_one_line(stack: Stack) {
    let b = Backends::new(stack).await;
    ok(&aghub(
        &b,
        &["practice", "add", "--ods", "A81001", "--name", "Riverside"],
        None,
    ));
    fails_with(
        &aghub(
            &b,
            &["practice", "add", "--ods", "A81001", "--name", "Again"],
            None,
        ),
        "already exists",
    );
    fails_with(
        &aghub(
            &b,
            &["practice", "add", "--ods", "no!", "--name", "Bad"],
            None,
        ),
        "not an ODS code",
    );
    let user = |role: &str, extra: &[&str]| {
        let mut args = vec![
            "user",
            "add",
            "--email",
            "x@example.nhs.uk",
            "--name",
            "X",
            "--role",
            role,
        ];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>, pw: Option<&str>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        aghub(&b, &refs, pw)
    };
    fails_with(
        &run(user("nurse", &[]), Some("long password 1")),
        "not a valid role",
    );
    fails_with(
        &run(user("gp", &[]), Some("long password 1")),
        "needs --practice",
    );
    fails_with(
        &run(
            user("gp", &["--practice", "Z99999"]),
            Some("long password 1"),
        ),
        "no practice with ODS code Z99999",
    );
    fails_with(
        &run(user("consultant", &[]), Some("long password 1")),
        "at least one --specialty",
    );
    fails_with(
        &run(
            user("consultant", &["--specialty", "astrology"]),
            Some("long password 1"),
        ),
        "unknown specialty 'astrology'",
    );
    fails_with(
        &run(user("admin", &[]), Some("short")),
        "at least 10 characters",
    );
    fails_with(&run(user("admin", &[]), None), "AGHUB_PASSWORD");
    ok(&run(user("admin", &[]), Some("long password 1")));
    fails_with(
        &run(user("admin", &[]), Some("long password 1")),
        "already exists",
    );
    fails_with(
        &aghub(
            &b,
            &["token", "create", "--email", "ghost@example.nhs.uk"],
            None,
        ),
        "no user with email",
    );
    fails_with(&aghub(&b, &["frobnicate"], None), "frobnicate");
    let bad_db = Command::new(env!("CARGO_BIN_EXE_aghub"))
        .args(["migrate"])
        .env("AGHUB_DATABASE_URL", "mysql://nope")
        .output()
        .unwrap();
    fails_with(&bad_db, "sqlite:// or postgres://");
}

async fn rota_add_checks_consultant_specialty_and_times(stack: Stack) {
    let b = Backends::new(stack).await;
    ok(&aghub(
        &b,
        &[
            "user",
            "add",
            "--email",
            "d@example.nhs.uk",
            "--name",
            "D",
            "--role",
            "consultant",
            "--specialty",
            "dermatology",
        ],
        Some("long password 1"),
    ));
    let rota = |specialty: &str, pool: &str, from: &str, to: &str| {
        aghub(
            &b,
            &[
                "rota",
                "add",
                "--email",
                "d@example.nhs.uk",
                "--specialty",
                specialty,
                "--pool",
                pool,
                "--from",
                from,
                "--to",
                to,
            ],
            None,
        )
    };
    ok(&rota(
        "dermatology",
        "local",
        "2026-11-23T08:00:00Z",
        "2026-11-23T18:00:00Z",
    ));
    ok(&rota(
        "dermatology",
        "national",
        "2026-11-24T08:00:00+00:00",
        "2026-11-24T18:00:00+00:00",
    ));
    fails_with(
        &rota(
            "cardiology",
            "local",
            "2026-11-23T08:00:00Z",
            "2026-11-23T18:00:00Z",
        ),
        "not a consultant in cardiology",
    );
    fails_with(
        &rota(
            "dermatology",
            "regional",
            "2026-11-23T08:00:00Z",
            "2026-11-23T18:00:00Z",
        ),
        "local or national",
    );
    fails_with(
        &rota("dermatology", "local", "monday", "2026-11-23T18:00:00Z"),
        "RFC 3339",
    );
    fails_with(
        &rota(
            "dermatology",
            "local",
            "2026-11-23T18:00:00Z",
            "2026-11-23T08:00:00Z",
        ),
        "after --from",
    );
    let db = b.db().await;
    let shifts = aghub::db::rotas::upcoming(&db, "dermatology", 0)
        .await
        .unwrap();
    assert_eq!(shifts.len(), 2);
    assert_eq!(shifts[0].pool.as_str(), "local");
    assert_eq!(shifts[1].pool.as_str(), "national");
    let audited = aghub::db::audit::recent(&db, 50).await.unwrap();
    assert_eq!(
        audited
            .iter()
            .filter(|e| e.action == "rota.shift_added")
            .count(),
        2,
        "shifts added at the command line are audited like the admin page's"
    );
}

/// `aghub serve` stops cleanly on SIGTERM (what orchestrators send), finishing what is in flight.
#[tokio::test]
async fn serve_stops_cleanly_on_sigterm() {
    let b = Backends::new(Stack::SqliteFs).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_aghub"))
        .args(["serve"])
        .env("AGHUB_DATA_DIR", b.dir.path())
        .env("AGHUB_BIND", format!("127.0.0.1:{port}"))
        .env_remove("AGHUB_DATABASE_URL")
        .env_remove("AGHUB_STORAGE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/readyz");
    let mut ready = false;
    for _ in 0..100 {
        if reqwest::get(&url)
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut exited = None;
    for _ in 0..100 {
        if let Some(code) = child.try_wait().unwrap() {
            exited = Some(code);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready, "the service came up on the embedded defaults");
    assert!(
        exited.is_some_and(|c| c.success()),
        "exit 0 after SIGTERM: {exited:?}"
    );
}

/// A practice and one of its GPs, made with the command line as an operator would; returns the
/// GP's email.
fn gp_made_at_the_command_line(b: &Backends, password: &str) -> &'static str {
    let email = "gp@example.nhs.uk";
    ok(&aghub(
        b,
        &["practice", "add", "--ods", "A81001", "--name", "Riverside"],
        None,
    ));
    ok(&aghub(
        b,
        &[
            "user",
            "add",
            "--email",
            email,
            "--name",
            "Dr G",
            "--role",
            "gp",
            "--practice",
            "A81001",
        ],
        Some(password),
    ));
    email
}

async fn set_password_lifts_a_pause_and_disable_ends_all_access(stack: Stack) {
    let b = Backends::new(stack).await;
    let email = gp_made_at_the_command_line(&b, "first long password");
    let token = ok(&aghub(&b, &["token", "create", "--email", email], None));
    let app = TestApp::start(&b).await;
    let me = |token: String| {
        let (client, url) = (app.api(), app.url("/api/v1/me"));
        async move {
            client
                .get(url)
                .bearer_auth(token.trim())
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(me(token.clone()).await, StatusCode::OK);
    let session = app.browser();
    assert_eq!(
        session.sign_in(email, "first long password").await.status(),
        StatusCode::SEE_OTHER
    );

    app.clock.advance(1_000);
    let other = app.browser();
    for _ in 0..5 {
        other.sign_in(email, "a wrong guess").await;
    }
    assert_eq!(
        other.sign_in(email, "first long password").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    fails_with(
        &aghub(
            &b,
            &["user", "set-password", "--email", email],
            Some("short"),
        ),
        "at least",
    );
    ok(&aghub(
        &b,
        &["user", "set-password", "--email", email],
        Some("second long password"),
    ));
    assert_eq!(
        me(token.clone()).await,
        StatusCode::UNAUTHORIZED,
        "a new password revokes the API tokens made before it"
    );
    assert_eq!(
        session.get("/cases").await.status(),
        StatusCode::SEE_OTHER,
        "a new password ends the sessions opened with the old one"
    );
    let token = ok(&aghub(&b, &["token", "create", "--email", email], None));
    assert_eq!(me(token.clone()).await, StatusCode::OK);
    let session = app.browser();
    assert_eq!(
        other.sign_in(email, "first long password").await.status(),
        StatusCode::UNAUTHORIZED,
        "the old password is gone and the pause is lifted"
    );
    assert_eq!(
        other.sign_in(email, "second long password").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        session
            .sign_in(email, "second long password")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    ok(&aghub(&b, &["user", "disable", "--email", email], None));
    assert_eq!(
        me(token).await,
        StatusCode::UNAUTHORIZED,
        "API token stops working"
    );
    let r = session.get("/cases").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "open session ends");
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login"));
    assert_eq!(
        app.browser()
            .sign_in(email, "second long password")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    fails_with(
        &aghub(
            &b,
            &["user", "disable", "--email", "nobody@example.nhs.uk"],
            None,
        ),
        "no user with email",
    );
    let audit = aghub::db::audit::recent(&app.state.db, 100).await.unwrap();
    for action in ["user.password_set", "user.disabled"] {
        assert!(audit.iter().any(|e| e.action == action), "{action} audited");
    }
}

async fn tokens_show_their_expiry_and_can_be_revoked_one_or_all(stack: Stack) {
    let b = Backends::new(stack).await;
    let email = gp_made_at_the_command_line(&b, "first long password");
    let out = aghub(&b, &["token", "create", "--email", email], None);
    let first = ok(&out).trim().to_string();
    assert!(
        first.starts_with("agh_") && !first.contains(' '),
        "stdout is the token only"
    );
    let expiry = String::from_utf8_lossy(&out.stderr);
    assert!(
        expiry.contains("expires") && expiry.contains("(90 days)"),
        "{expiry}"
    );
    let out = aghub(
        &b,
        &["--token-days", "7", "token", "create", "--email", email],
        None,
    );
    let second = ok(&out).trim().to_string();
    assert!(String::from_utf8_lossy(&out.stderr).contains("(7 days)"));
    let third = ok(&aghub(&b, &["token", "create", "--email", email], None))
        .trim()
        .to_string();

    // The app's clock runs from the real time, so the expiries made above apply.
    let app = TestApp::start_with_clock(
        &b,
        aghub::clock::ManualClock::at(aghub::clock::Clock::now_ms(&aghub::clock::SystemClock)),
    )
    .await;
    let me = |token: String| {
        let (client, url) = (app.api(), app.url("/api/v1/me"));
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    for t in [&first, &second, &third] {
        assert_eq!(me(t.clone()).await, StatusCode::OK);
    }
    app.clock.advance(8 * 86_400_000);
    assert_eq!(
        me(second.clone()).await,
        StatusCode::UNAUTHORIZED,
        "7 days are up"
    );
    assert_eq!(me(first.clone()).await, StatusCode::OK);

    ok(&aghub(&b, &["token", "revoke", "--token", &first], None));
    assert_eq!(me(first.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(third.clone()).await, StatusCode::OK, "only that token");
    fails_with(
        &aghub(&b, &["token", "revoke", "--token", &first], None),
        "no live token",
    );
    let out = aghub(&b, &["token", "revoke", "--email", email], None);
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("revoked 2 tokens"));
    assert_eq!(me(third).await, StatusCode::UNAUTHORIZED);
    fails_with(&aghub(&b, &["token", "revoke"], None), "required arguments");

    let trail = aghub::db::audit::recent(&app.state.db, 50).await.unwrap();
    let count = |a: &str| trail.iter().filter(|e| e.action == a).count();
    assert_eq!(count("token.created"), 3);
    assert_eq!(
        count("token.revoked"),
        2,
        "the failed revoke changed nothing"
    );
}
