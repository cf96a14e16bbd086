//! Records kept as the law says (issue 15): the audit trail an admin searches by patient,
//! person and period, and exports.

use reqwest::multipart::Form;
use reqwest::StatusCode;
use serde_json::Value;

use crate::cases::{case_form, World};
use crate::helpers::{stored_objects, Stack, PASSWORD};

on_both_stacks!(
    an_admin_finds_who_viewed_or_changed_a_patients_data,
    retention_erases_what_is_due_keeps_the_figures_and_respects_holds,
    a_subject_access_export_holds_everything_about_one_patient_and_nothing_else,
);

fn other_patient() -> Form {
    Form::new()
        .text("specialty", "cardiology")
        .text("nhs_number", "401 023 2137")
        .text("date_of_birth", "1950-01-02")
        .text("urgency", "routine")
        .text("history", "Palpitations.")
        .text("question", "Holter monitor?")
}

fn actions(v: &Value) -> Vec<(String, String)> {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor_email"].as_str().unwrap_or("-").to_string(),
                e["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn an_admin_finds_who_viewed_or_changed_a_patients_data(stack: Stack) {
    let w = World::new(stack).await;
    let r = w
        .submit(&w.gp, case_form("dermatology", "routine", 1))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let case = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = w.submit(&w.gp, other_patient()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let other = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    w.get_json(&w.derm_local, "/api/v1/queue").await;
    w.get_json(&w.derm_local, &format!("/api/v1/cases/{case}"))
        .await;
    w.get_json(&w.cardio, &format!("/api/v1/cases/{other}"))
        .await;

    let found = w
        .get_json(&w.admin, "/api/v1/audit?nhs_number=943%20476%205919")
        .await;
    let got = actions(&found);
    assert!(
        got.contains(&("gp@a.example".into(), "case.created".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&("derm1@h.example".into(), "case.viewed".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&("derm1@h.example".into(), "queue.viewed".into())),
        "a list that showed the case: {got:?}"
    );
    assert!(
        !got.iter().any(|(who, _)| who == "cardio@h.example"),
        "the other patient's events are not theirs: {got:?}"
    );
    for e in found["events"].as_array().unwrap() {
        let about = e["case_id"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| e["detail"].to_string());
        assert!(about.contains(&case), "{e}");
    }
    // By person, and by period (UTC days).
    let by_cardio = actions(
        &w.get_json(&w.admin, "/api/v1/audit?user=cardio@h.example")
            .await,
    );
    assert!(
        !by_cardio.is_empty() && by_cardio.iter().all(|(who, _)| who == "cardio@h.example"),
        "{by_cardio:?}"
    );
    let later = w
        .get_json(
            &w.admin,
            "/api/v1/audit?nhs_number=9434765919&from=2026-11-24",
        )
        .await;
    assert!(actions(&later).is_empty());
    let that_day = w
        .get_json(
            &w.admin,
            "/api/v1/audit?nhs_number=9434765919&from=2026-11-23&to=2026-11-23",
        )
        .await;
    assert_eq!(actions(&that_day), got);

    // Refusals: each field named; only admins.
    for (q, code) in [
        ("nhs_number=943%20476%205918", "invalid_nhs_number"),
        ("user=nobody@example.org", "unknown_user"),
        ("from=23/11/2026", "invalid_date"),
        ("from=2026-11-24&to=2026-11-23", "invalid_period"),
    ] {
        let r = w.get(&w.admin, &format!("/api/v1/audit?{q}")).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{q}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["fields"][0]["code"], code, "{q}: {body}");
    }
    for token in [&w.gp, &w.commissioner, &w.derm_local] {
        assert_eq!(
            w.get(token, "/api/v1/audit").await.status(),
            StatusCode::FORBIDDEN
        );
    }

    // The export: CSV with the same events; every search is itself in the trail.
    let csv = w
        .client()
        .get(w.app.url("/api/v1/audit?nhs_number=9434765919"))
        .bearer_auth(&w.admin)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "\u{feff}Time (UK),Who,Action,Case,Subject,Detail");
    assert_eq!(lines.len(), got.len() + 1);
    assert!(
        lines[1..]
            .iter()
            .any(|l| l.contains("derm1@h.example,case.viewed")),
        "{csv}"
    );
    let searches = actions(
        &w.get_json(&w.admin, "/api/v1/audit?user=admin@aghub.example")
            .await,
    );
    assert!(
        searches.iter().filter(|(_, a)| a == "audit.viewed").count() >= 5,
        "{searches:?}"
    );

    // The page, and its CSV link.
    let admin = w.app.browser();
    assert!(admin
        .sign_in("admin@aghub.example", PASSWORD)
        .await
        .status()
        .is_redirection());
    let page = admin.get_text("/admin/audit?nhs_number=943+476+5919").await;
    assert!(
        page.contains("derm1@h.example") && page.contains("case.viewed"),
        "{page}"
    );
    assert!(page.contains(&format!("{} events", got.len())), "{page}");
    let download = admin
        .get("/admin/audit.csv?nhs_number=943+476+5919&user=&from=&to=")
        .await;
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(
        download.text().await.unwrap().lines().count(),
        got.len() + 1
    );
    let bad = admin.get("/admin/audit?nhs_number=123").await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let gp = w.app.browser();
    assert!(gp
        .sign_in("gp@a.example", PASSWORD)
        .await
        .status()
        .is_redirection());
    assert_eq!(gp.get("/admin/audit").await.status(), StatusCode::FORBIDDEN);
}

fn patient(specialty: &str, nhs: &str, born: &str) -> Form {
    Form::new()
        .text("specialty", specialty.to_string())
        .text("nhs_number", nhs.to_string())
        .text("date_of_birth", born.to_string())
        .text("urgency", "routine")
        .text("history", "History for the retention test.")
        .text("question", "Question for the retention test.")
}

/// A token made now (the World's expire 90 days after it starts, and this test spans years).
async fn token_now(w: &World, email: &str) -> String {
    let db = &w.app.state.db;
    let id = aghub::service::accounts::user_id_by_email(db, email)
        .await
        .unwrap();
    let now = w.app.state.now_ms();
    aghub::service::accounts::create_token(
        db,
        aghub::service::Actor::CommandLine,
        &id,
        now,
        now + 86_400_000,
    )
    .await
    .unwrap()
}

/// Milliseconds at 10:00 UTC on a day.
fn at(day: &str) -> i64 {
    let d = time::Date::parse(day, aghub::clock::ISO_DATE).unwrap();
    d.midnight().assume_utc().unix_timestamp() * 1000 + 10 * 3_600_000
}

async fn retention_erases_what_is_due_keeps_the_figures_and_respects_holds(stack: Stack) {
    use aghub::domain::notifications::About;
    use aghub::service::{retention, Actor};
    let w = World::new(stack).await;
    let state = &w.app.state;
    let open = |form: Form| {
        let w = &w;
        async move {
            let r = w.submit(&w.gp, form).await;
            assert_eq!(r.status(), StatusCode::CREATED);
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let close = |id: String, token: String| {
        let w = &w;
        async move {
            assert_eq!(
                w.post(&token, &format!("/api/v1/cases/{id}/claim"))
                    .await
                    .status(),
                StatusCode::OK
            );
            let r = w
                .post_json(&token, &format!("/api/v1/cases/{id}/reply"), serde_json::json!({"advice": "Manage in primary care.", "outcome": "manage_in_primary_care"}))
                .await;
            assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        }
    };
    // An adult with photos; a child of 10; a 17-year-old; an adult still waiting; an adult on hold.
    let adult = open(case_form("dermatology", "routine", 2)).await;
    let child = open(patient("cardiology", "4010232137", "2016-05-01")).await;
    let seventeen = open(patient("cardiology", "4505577104", "2009-01-15")).await;
    let waiting = open(patient("cardiology", "4505577112", "1960-06-01")).await;
    let held = open(patient("cardiology", "4505577120", "1970-07-01")).await;
    close(adult.clone(), w.derm_local.clone()).await;
    for id in [&child, &seventeen, &held] {
        close(id.clone(), w.cardio.clone()).await;
    }
    retention::hold(
        &state.db,
        Actor::CommandLine,
        &About::Case(held.clone()),
        Some("Coroner's inquest"),
        state.now_ms(),
    )
    .await
    .unwrap();
    let figures = || {
        let w = &w;
        async move {
            let token = token_now(w, "c@icb.example").await;
            let r: Value = w
                .get_json(
                    &token,
                    "/api/v1/reports/turnaround?from=2026-11-23&to=2026-11-29",
                )
                .await;
            // Everything but what time alone changes (the open case is past its target later).
            let mut totals = r["totals"].clone();
            totals
                .as_object_mut()
                .unwrap()
                .remove("overdue_not_answered");
            totals
        }
    };
    let before = figures().await;
    let objects = stored_objects(&w.backends).await;
    let gp_sees = |id: String| {
        let w = &w;
        async move {
            let token = token_now(w, "gp@a.example").await;
            w.get(&token, &format!("/api/v1/cases/{id}")).await.status()
        }
    };

    // Eight years and a day after the adult's last contact.
    w.app.clock.set(at("2034-11-24"));
    let dry = retention::run(
        &state.db,
        &state.blobs,
        Actor::CommandLine,
        state.now_ms(),
        true,
    )
    .await
    .unwrap();
    assert_eq!(
        (
            dry.patients,
            dry.cases_erased,
            dry.cases_on_hold,
            dry.photos_deleted,
            dry.objects_deleted
        ),
        (2, 1, 1, 2, 6),
        "{dry:?}"
    );
    assert_eq!(
        gp_sees(adult.clone()).await,
        StatusCode::OK,
        "a dry run changes nothing"
    );
    let run = retention::run(
        &state.db,
        &state.blobs,
        Actor::CommandLine,
        state.now_ms(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        (
            run.cases_erased,
            run.cases_on_hold,
            run.messages_deleted,
            run.objects_deleted
        ),
        (1, 1, 1, 6),
        "{run:?}"
    );
    let gp = token_now(&w, "gp@a.example").await;
    let gone = w.get(&gp, &format!("/api/v1/cases/{adult}")).await;
    assert_eq!(gone.status(), StatusCode::GONE);
    let body: Value = gone.json().await.unwrap();
    assert_eq!(body["error"]["code"], "record_destroyed");
    assert_eq!(
        stored_objects(&w.backends).await,
        objects - 6,
        "every size of both photos"
    );
    let row: (String, String, String, i64) = sqlx::query_as(
        "SELECT nhs_number, date_of_birth, history, (SELECT COUNT(*) FROM case_messages m WHERE m.case_id = c.id) FROM cases c WHERE id = $1",
    )
    .bind(&adult)
    .fetch_one(state.db.pool())
    .await
    .unwrap();
    assert_eq!(row, (String::new(), String::new(), String::new(), 0));
    let listed = w.get_json(&gp, "/api/v1/cases").await;
    assert!(
        !listed.to_string().contains(&adult),
        "erased cases leave the GP's list"
    );
    for id in [&child, &seventeen, &waiting, &held] {
        assert_eq!(gp_sees(id.clone()).await, StatusCode::OK, "{id}");
    }
    assert_eq!(figures().await, before, "the figures keep their counts");

    // The hold lifted: the next run erases that case too.
    retention::hold(
        &state.db,
        Actor::CommandLine,
        &About::Case(held.clone()),
        None,
        state.now_ms(),
    )
    .await
    .unwrap();
    let run = retention::run(
        &state.db,
        &state.blobs,
        Actor::CommandLine,
        state.now_ms(),
        false,
    )
    .await
    .unwrap();
    assert_eq!((run.cases_erased, run.cases_on_hold), (1, 0));
    assert_eq!(gp_sees(held.clone()).await, StatusCode::GONE);
    // The 17-year-old: until their 26th birthday; the child: until their 25th.
    w.app.clock.set(at("2035-01-14"));
    let run = retention::run(
        &state.db,
        &state.blobs,
        Actor::CommandLine,
        state.now_ms(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(run.cases_erased, 0);
    w.app.clock.set(at("2035-01-15"));
    retention::run(
        &state.db,
        &state.blobs,
        Actor::CommandLine,
        state.now_ms(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(gp_sees(seventeen.clone()).await, StatusCode::GONE);
    assert_eq!(gp_sees(child.clone()).await, StatusCode::OK);
    w.app.clock.set(at("2041-05-01"));
    retention::run(
        &state.db,
        &state.blobs,
        Actor::CommandLine,
        state.now_ms(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(gp_sees(child.clone()).await, StatusCode::GONE);
    assert_eq!(
        gp_sees(waiting.clone()).await,
        StatusCode::OK,
        "an open case is never due"
    );
    assert_eq!(figures().await, before);

    // Audited with counts: one row per run, one per case erased, the hold and its lifting.
    let count = |action: &'static str| {
        let pool = state.db.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_events WHERE action = $1")
                .bind(action)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(count("case.erased").await, 4);
    assert_eq!(count("retention.dry_run").await, 1);
    assert!(count("retention.run").await >= 5);
    assert_eq!(
        (
            count("case.legal_hold").await,
            count("case.legal_hold_lifted").await
        ),
        (1, 1)
    );

    // The daily run inside serve: of two instances looking at once, one runs it, once a day.
    let (a, b) = tokio::join!(
        retention::run_daily_if_due(state),
        retention::run_daily_if_due(state)
    );
    assert_eq!(
        [a.unwrap().is_some(), b.unwrap().is_some()]
            .iter()
            .filter(|x| **x)
            .count(),
        1
    );
    assert!(
        retention::run_daily_if_due(state).await.unwrap().is_none(),
        "not twice the same day"
    );
    w.app.clock.advance(86_400_000);
    assert!(
        retention::run_daily_if_due(state).await.unwrap().is_some(),
        "the next day"
    );

    // The command line: a dry run prints its counts; a hold names an unknown case.
    let out = crate::cli::ok(&crate::cli::aghub(
        &w.backends,
        &["retention", "run", "--dry-run"],
        None,
    ));
    assert!(
        out.starts_with("dry run (nothing changed): 0 patients due: 0 cases erased"),
        "{out}"
    );
    crate::cli::fails_with(
        &crate::cli::aghub(
            &w.backends,
            &[
                "retention",
                "hold",
                "--case",
                "no-such-case",
                "--reason",
                "Inquest",
            ],
            None,
        ),
        "There is no case no-such-case",
    );
}

async fn a_subject_access_export_holds_everything_about_one_patient_and_nothing_else(stack: Stack) {
    let w = World::new(stack).await;
    let r = w
        .submit(&w.gp, case_form("dermatology", "routine", 2))
        .await;
    let case = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = w.submit(&w.gp, other_patient()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        w.post(&w.derm_local, &format!("/api/v1/cases/{case}/claim"))
            .await
            .status(),
        StatusCode::OK
    );
    let r = w
        .post_json(&w.derm_local, &format!("/api/v1/cases/{case}/reply"), serde_json::json!({"advice": "A seborrhoeic keratosis: reassure.", "outcome": "manage_in_primary_care"}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let out = w.backends.dir.path().join("sar.zip");
    // Each test's own folder: the two stacks' tests run at once.
    let none = w.backends.dir.path().join("none.zip");
    let none_s = none.to_str().unwrap();
    let out_s = out.to_str().unwrap();
    let printed = crate::cli::ok(&crate::cli::aghub(
        &w.backends,
        &[
            "patient",
            "export",
            "--nhs-number",
            "943 476 5919",
            "--out",
            out_s,
        ],
        None,
    ));
    assert!(printed.contains(": 1 cases"), "{printed}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    crate::cli::fails_with(
        &crate::cli::aghub(
            &w.backends,
            &[
                "patient",
                "export",
                "--nhs-number",
                "9434765919",
                "--out",
                out_s,
            ],
            None,
        ),
        "File exists",
    );
    crate::cli::fails_with(
        &crate::cli::aghub(
            &w.backends,
            &[
                "patient",
                "export",
                "--nhs-number",
                "4505577104",
                "--out",
                none_s,
            ],
            None,
        ),
        "aghub holds nothing about NHS number 450 557 7104",
    );

    // Read back with Python's zipfile, an independent reader; files extracted for the oracles.
    let dir = w.backends.dir.path().join("sar");
    let listing = std::process::Command::new("python3")
        .args(["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); z.extractall(sys.argv[2]); print('\\n'.join(z.namelist()))", out_s, dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        listing.status.success(),
        "{}",
        String::from_utf8_lossy(&listing.stderr)
    );
    let mut names: Vec<String> = String::from_utf8(listing.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "access.csv".to_string(),
            format!("letters/{case}.pdf"),
            "patient.json".to_string(),
            format!("photos/{case}-1.jpg"),
            format!("photos/{case}-2.jpg"),
        ]
    );
    let patient: Value =
        serde_json::from_slice(&std::fs::read(dir.join("patient.json")).unwrap()).unwrap();
    assert_eq!(patient["nhs_number"], "9434765919");
    let c = &patient["cases"][0];
    assert_eq!(patient["cases"].as_array().unwrap().len(), 1);
    assert!(c["history"].as_str().unwrap().contains("Pigmented lesion"));
    assert_eq!(
        c["messages"][0]["text"],
        "A seborrhoeic keratosis: reassure."
    );
    assert_eq!(c["photos"].as_array().unwrap().len(), 2);
    let photo = crate::helpers::exiftool_json(
        &std::fs::read(dir.join(format!("photos/{case}-1.jpg"))).unwrap(),
    );
    assert!(
        !photo
            .keys()
            .any(|k| k.contains("GPS") || k.ends_with(":Make") || k.ends_with(":SerialNumber")),
        "{photo:?}"
    );
    let letter = std::process::Command::new("pdftotext")
        .args([
            dir.join(format!("letters/{case}.pdf")).to_str().unwrap(),
            "-",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&letter.stdout).contains("943 476 5919"));
    let access = std::fs::read_to_string(dir.join("access.csv")).unwrap();
    assert!(
        access.contains("derm1@h.example,case.claimed")
            && access.contains("gp@a.example,case.created"),
        "{access}"
    );
    let everything = std::fs::read(&out).unwrap();
    let all_text = names
        .iter()
        .filter(|n| !n.starts_with("photos/"))
        .map(|n| std::fs::read_to_string(dir.join(n)).unwrap_or_default())
        .collect::<String>();
    assert!(
        !all_text.contains("4010232137") && !all_text.contains("Palpitations"),
        "nothing of the other patient"
    );
    assert!(everything.len() > 1000);

    // The admin's page downloads the same; nobody else may.
    let admin = w.app.browser();
    assert!(admin
        .sign_in("admin@aghub.example", PASSWORD)
        .await
        .status()
        .is_redirection());
    let r = admin
        .get("/admin/patients/export?nhs_number=943+476+5919")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/zip");
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("aghub-patient-9434765919.zip"));
    assert!(r.bytes().await.unwrap().starts_with(b"PK"));
    assert_eq!(
        admin
            .get("/admin/patients/export?nhs_number=123")
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        admin
            .get("/admin/patients/export?nhs_number=4505577104")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let gp = w.app.browser();
    assert!(gp
        .sign_in("gp@a.example", PASSWORD)
        .await
        .status()
        .is_redirection());
    assert_eq!(
        gp.get("/admin/patients/export?nhs_number=9434765919")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let exported: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'patient.exported'")
            .fetch_one(w.app.state.db.pool())
            .await
            .unwrap();
    assert_eq!(exported, 2);
}
