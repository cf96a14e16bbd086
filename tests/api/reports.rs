//! Commissioners' reports: every figure checked against hand-computed values from cases with
//! known timings (the app's clock is moved by hand), on both stacks; who may see them; CSV; the
//! derived tables against the facts and against a replay of the audit trail (the migration's
//! backfill).

use reqwest::multipart::Form;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::cases::{jpeg_part, World};
use crate::helpers::{error_code, phone_jpeg, Stack, PASSWORD, T0};

on_both_stacks!(
    figures_match_hand_computed_expectations,
    derived_tables_agree_with_the_facts_and_with_a_replay_of_the_audit_trail,
    reports_are_for_commissioners_and_admins_only,
    page_shows_figures_charts_and_topics_but_no_patient_data,
    bad_periods_and_filters_get_precise_errors,
    reply_topics_are_normalised_and_checked,
);

const H: i64 = 3_600_000;
const PERIOD: &str = "from=2026-11-23&to=2026-12-06";

/// Valid test NHS numbers (Modulus 11), one per patient.
const PATIENTS: [&str; 6] = [
    "9990000018",
    "9990000026",
    "9990000034",
    "9990000042",
    "9990000050",
    "9990000069",
];

fn form(specialty: &str, urgency: &str, nhs: &str, photos: usize) -> Form {
    let mut form = Form::new()
        .text("specialty", specialty.to_string())
        .text("nhs_number", nhs.to_string())
        .text("date_of_birth", "1961-07-04")
        .text("urgency", urgency.to_string())
        .text(
            "history",
            "Secret history text that must never reach a report.",
        )
        .text("question", "Secret question text?")
        .text("conversion_authorised", "true");
    for i in 0..photos {
        form = form
            .part("photo", jpeg_part(phone_jpeg(640, 480, 1, i as u64)))
            .text("photo_kind", "site")
            .text("photo_site", "left forearm");
    }
    form
}

impl World {
    fn at(&self, hours: i64) {
        self.app.clock.set(T0 + hours * H);
    }

    async fn open(&self, gp: &str, specialty: &str, urgency: &str, nhs: &str) -> String {
        let photos = usize::from(specialty == "dermatology");
        let r = self.submit(gp, form(specialty, urgency, nhs, photos)).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let case: Value = r.json().await.unwrap();
        case["id"].as_str().unwrap().to_string()
    }

    /// Claims and replies at the current time.
    async fn answer(&self, consultant: &str, id: &str, outcome: &str, topics: &[&str]) {
        let r = self
            .post(consultant, &format!("/api/v1/cases/{id}/claim"))
            .await;
        assert_eq!(r.status(), StatusCode::OK, "claim {id}");
        let r = self
            .post_json(
                consultant,
                &format!("/api/v1/cases/{id}/reply"),
                json!({ "advice": "Secret advice text.", "outcome": outcome, "topics": topics }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "reply {id}");
    }

    async fn respond(&self, gp: &str, id: &str) {
        let r = self
            .client()
            .post(self.app.url(&format!("/api/v1/cases/{id}/respond")))
            .bearer_auth(gp)
            .multipart(Form::new().text("message", "Secret response text."))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    async fn report(&self, token: &str, query: &str) -> Value {
        let r = self
            .get(token, &format!("/api/v1/reports/turnaround?{query}"))
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{query}");
        r.json().await.unwrap()
    }
}

/// Seven cases over two weeks (hours after T0, Monday 23 Nov 2026 09:00 UTC):
///
/// | case | practice | specialty, urgency | submitted | events | first reply | close (no GP time) |
/// |---|---|---|---|---|---|---|
/// | A | A81001 | cardiology, routine | 0 | 2: manage in primary care, topics Hypertension, ECG | 2 h | 2 h |
/// | B | A81001 | cardiology, urgent | 1 | 3: request info; 8: GP responds; 30: refer routine | 2 h | 29 − 5 = 24 h |
/// | C | A81001 | dermatology, routine | 2 | 7: national pool, manage in primary care, topic acne | 5 h | 5 h |
/// | D | B82002 | cardiology, routine | 3 | 53: refer urgent, topic chest pain | 50 h | 50 h |
/// | E | A81001 | cardiology, routine | 4 | none | – | – |
/// | F | A81001 | cardiology, routine | 5 | 6: request info (GP never answers) | 1 h | – |
/// | G | A81001 | cardiology, routine | 160 (Mon 30 Nov) | 164: manage in primary care, topic hypertension | 4 h | 4 h |
///
/// G is the same patient and specialty as A: A re-presented within 90 days. Targets are 48 h
/// (routine) and 24 h (urgent).
async fn scenario(stack: Stack) -> World {
    let w = World::new(stack).await;
    w.at(0);
    let a = w.open(&w.gp, "cardiology", "routine", PATIENTS[0]).await;
    w.at(1);
    let b = w.open(&w.gp, "cardiology", "urgent", PATIENTS[1]).await;
    w.at(2);
    w.answer(
        &w.cardio,
        &a,
        "manage_in_primary_care",
        &["Hypertension", " ECG "],
    )
    .await;
    let c = w.open(&w.gp, "dermatology", "routine", PATIENTS[2]).await;
    w.at(3);
    w.answer(&w.cardio, &b, "request_information", &[]).await;
    let d = w
        .open(&w.gp_other_practice, "cardiology", "routine", PATIENTS[3])
        .await;
    w.at(4);
    w.open(&w.gp, "cardiology", "routine", PATIENTS[4]).await;
    w.at(5);
    let f = w.open(&w.gp, "cardiology", "routine", PATIENTS[5]).await;
    w.at(6);
    w.answer(&w.cardio, &f, "request_information", &[]).await;
    w.at(7);
    w.answer(&w.derm_national, &c, "manage_in_primary_care", &["acne"])
        .await;
    w.at(8);
    w.respond(&w.gp, &b).await;
    w.at(30);
    w.answer(&w.cardio, &b, "refer_routine", &[]).await;
    w.at(53);
    w.answer(&w.cardio, &d, "refer_urgent", &["Chest pain"])
        .await;
    w.at(160);
    let g = w.open(&w.gp, "cardiology", "routine", PATIENTS[0]).await;
    w.at(164);
    w.answer(&w.cardio, &g, "manage_in_primary_care", &["hypertension"])
        .await;
    w.at(170);
    w
}

fn ms(hours: f64) -> Value {
    json!((hours * H as f64).round() as i64)
}

async fn figures_match_hand_computed_expectations(stack: Stack) {
    let w = scenario(stack).await;
    let r = w.report(&w.commissioner, PERIOD).await;
    assert_eq!(r["from"], "2026-11-23");
    assert_eq!(r["to"], "2026-12-06");
    assert_eq!(r["specialty"], Value::Null);
    let t = &r["totals"];
    assert_eq!(t["submitted"], 7);
    assert_eq!(t["answered"], 6, "all but E");
    assert_eq!(t["closed"], 5, "A, B, C, D, G");
    assert_eq!(t["awaiting_gp_now"], 1, "F");
    assert_eq!(t["information_requested"], 2, "B and F");
    // First replies (h): 1, 2, 2, 4, 5, 50 → median (2+4)/2 = 3; p90 at rank 4.5: 5 + 0.5 × 45.
    assert_eq!(
        t["first_reply"],
        json!({"cases": 6, "median_ms": ms(3.0), "p90_ms": ms(27.5), "within_target": 5, "within_target_share": 0.8333})
    );
    // To close without GP time (h): 2, 4, 5, 24, 50 → median 5; p90 at rank 3.6: 24 + 0.6 × 26.
    // B closes in exactly its 24 h urgent target: within.
    assert_eq!(
        t["to_close"],
        json!({"cases": 5, "median_ms": ms(5.0), "p90_ms": ms(39.6), "within_target": 4, "within_target_share": 0.8})
    );
    assert_eq!(
        t["awaiting_gp"],
        json!({"cases": 1, "median_ms": ms(5.0), "p90_ms": ms(5.0)}),
        "B waited 5 h for its GP; F is still waiting and not counted"
    );
    assert_eq!(t["answer_rate_within_target"], 0.7143, "5 of 7");
    assert_eq!(
        t["outcomes"],
        json!({"manage_in_primary_care": 3, "refer_routine": 1, "refer_urgent": 1, "refer_two_week_wait": 0, "redirect_specialty": 0})
    );
    assert_eq!(t["deflection_rate"], 0.6, "3 of 5 closed");
    assert_eq!(t["national_pool"], 1, "C");
    assert_eq!(t["national_pool_share"], 0.1667);
    assert_eq!(t["re_presented"], 1, "A, by G");
    assert_eq!(t["re_presentation_rate"], 0.3333);

    let weeks = r["weeks"].as_array().unwrap();
    assert_eq!(weeks.len(), 2);
    assert_eq!(weeks[0]["week_start"], "2026-11-23");
    let w1 = &weeks[0]["figures"];
    assert_eq!(
        (&w1["submitted"], &w1["answered"], &w1["closed"]),
        (&json!(6), &json!(5), &json!(4))
    );
    // 1, 2, 2, 5, 50 → median 2; p90 at rank 3.6: 5 + 0.6 × 45.
    assert_eq!(w1["first_reply"]["median_ms"], ms(2.0));
    assert_eq!(w1["first_reply"]["p90_ms"], ms(32.0));
    assert_eq!(w1["first_reply"]["within_target_share"], 0.8);
    assert_eq!(w1["deflection_rate"], 0.5);
    assert_eq!(weeks[1]["week_start"], "2026-11-30");
    let w2 = &weeks[1]["figures"];
    assert_eq!(w2["submitted"], 1);
    assert_eq!(w2["first_reply"]["median_ms"], ms(4.0));
    assert_eq!(w2["deflection_rate"], 1.0);
    // Re-presentation counts against the case that was managed in primary care (A, week 1),
    // not the new one (G, itself closed as manage in primary care and not re-presented).
    assert_eq!(w1["re_presented"], 1);
    assert_eq!(w2["re_presented"], 0);

    let specialties = r["specialties"].as_array().unwrap();
    let keys: Vec<&str> = specialties
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["cardiology", "dermatology"]);
    let cardio = &specialties[0]["figures"];
    assert_eq!(specialties[0]["name"], "Cardiology");
    assert_eq!(cardio["submitted"], 6);
    // 1, 2, 2, 4, 50 → median 2; p90 at rank 3.6: 4 + 0.6 × 46.
    assert_eq!(cardio["first_reply"]["median_ms"], ms(2.0));
    assert_eq!(cardio["first_reply"]["p90_ms"], ms(31.6));
    // Close 2, 4, 24, 50 → median 14; p90 at rank 2.7: 24 + 0.7 × 26.
    assert_eq!(cardio["to_close"]["median_ms"], ms(14.0));
    assert_eq!(cardio["to_close"]["p90_ms"], ms(42.2));
    assert_eq!(cardio["national_pool"], 0);
    let derm = &specialties[1]["figures"];
    assert_eq!(
        (
            &derm["submitted"],
            &derm["national_pool"],
            &derm["deflection_rate"]
        ),
        (&json!(1), &json!(1), &json!(1.0))
    );

    let practices = r["practices"].as_array().unwrap();
    assert_eq!(practices.len(), 2);
    assert_eq!(practices[0]["key"], "A81001");
    assert_eq!(practices[0]["name"], "Practice A81001");
    let pa = &practices[0]["figures"];
    assert_eq!(
        (&pa["submitted"], &pa["answered"], &pa["closed"]),
        (&json!(6), &json!(5), &json!(4))
    );
    assert_eq!(pa["first_reply"]["within_target"], 5);
    assert_eq!(
        pa["first_reply"]["median_ms"],
        Value::Null,
        "practices carry counts and rates, not durations"
    );
    assert_eq!(pa["answer_rate_within_target"], 0.8333);
    assert_eq!(pa["deflection_rate"], 0.75);
    assert_eq!(pa["national_pool"], 1);
    assert_eq!(pa["re_presented"], 1);
    let pb = &practices[1]["figures"];
    assert_eq!(practices[1]["key"], "B82002");
    assert_eq!(
        (
            &pb["submitted"],
            &pb["closed"],
            &pb["first_reply"]["within_target"]
        ),
        (&json!(1), &json!(1), &json!(0))
    );
    assert_eq!(pb["outcomes"]["refer_urgent"], 1);
    assert_eq!(pb["deflection_rate"], 0.0);

    assert_eq!(
        r["topics"],
        json!([{"topic": "hypertension", "cases": 2}, {"topic": "acne", "cases": 1},
               {"topic": "chest pain", "cases": 1}, {"topic": "ecg", "cases": 1}])
    );
    assert_eq!(
        r["topics_by_practice"],
        json!([
            {"ods_code": "A81001", "name": "Practice A81001", "topics": [
                {"topic": "hypertension", "cases": 2}, {"topic": "acne", "cases": 1}, {"topic": "ecg", "cases": 1}]},
            {"ods_code": "B82002", "name": "Practice B82002", "topics": [{"topic": "chest pain", "cases": 1}]}
        ])
    );

    // One day: only G (and the topic tagged that day).
    let r = w
        .report(&w.commissioner, "from=2026-11-30&to=2026-11-30")
        .await;
    assert_eq!(r["totals"]["submitted"], 1);
    assert_eq!(r["totals"]["first_reply"]["median_ms"], ms(4.0));
    assert_eq!(r["weeks"].as_array().unwrap().len(), 1);
    assert_eq!(r["topics"], json!([{"topic": "hypertension", "cases": 1}]));

    // A practice: only D, read from the facts rather than the rollup.
    let r = w
        .report(&w.admin, &format!("{PERIOD}&practice=b82002"))
        .await;
    assert_eq!(r["practice"], "B82002");
    let t = &r["totals"];
    assert_eq!(t["submitted"], 1);
    assert_eq!(
        t["first_reply"],
        json!({"cases": 1, "median_ms": ms(50.0), "p90_ms": ms(50.0), "within_target": 0, "within_target_share": 0.0})
    );
    assert_eq!(t["deflection_rate"], 0.0);
    assert_eq!(r["practices"].as_array().unwrap().len(), 1);
    assert_eq!(r["specialties"][0]["key"], "cardiology");
    assert_eq!(r["topics"], json!([{"topic": "chest pain", "cases": 1}]));

    // A specialty: only C; its practice breakdown comes from the facts.
    let r = w
        .report(&w.commissioner, &format!("{PERIOD}&specialty=dermatology"))
        .await;
    let t = &r["totals"];
    assert_eq!(t["submitted"], 1);
    assert_eq!(t["national_pool"], 1);
    assert_eq!(t["national_pool_share"], 1.0);
    assert_eq!(t["first_reply"]["median_ms"], ms(5.0));
    assert_eq!(r["practices"][0]["key"], "A81001");
    assert_eq!(r["practices"][0]["figures"]["submitted"], 1);
    assert_eq!(r["practices"].as_array().unwrap().len(), 1);
    assert_eq!(r["topics"], json!([{"topic": "acne", "cases": 1}]));

    // Practice and specialty together, with nothing in them.
    let r = w
        .report(
            &w.commissioner,
            &format!("{PERIOD}&practice=B82002&specialty=dermatology"),
        )
        .await;
    assert_eq!(r["totals"]["submitted"], 0);
    assert_eq!(r["totals"]["first_reply"]["median_ms"], Value::Null);
    assert_eq!(r["totals"]["deflection_rate"], Value::Null);

    // The same figures as CSV.
    let r = w
        .client()
        .get(w.app.url(&format!("/api/v1/reports/turnaround?{PERIOD}")))
        .bearer_auth(&w.commissioner)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], aghub::service::reports::CSV_COLUMNS);
    assert_eq!(
        lines[1],
        "total,all,All cases in the period,7,6,5,1,2,6,3.00,27.50,5,83.3,5,5.00,39.60,4,80.0,1,5.00,5.00,71.4,3,1,1,0,0,60.0,1,16.7,1,33.3"
    );
    assert!(lines[2].starts_with("week,2026-11-23,Week from 2026-11-23,6,5,4,"));
    assert!(lines.contains(&"practice,B82002,Practice B82002,1,1,1,0,0,1,,,0,0.0,1,,,0,0.0,,,,0.0,0,0,1,0,0,0.0,0,0.0,0,"));
    assert_eq!(lines.len(), 1 + 1 + 2 + 2 + 2);

    // Every view was audited, with what was asked for.
    let events = aghub::db::audit::recent(&w.app.state.db, 50).await.unwrap();
    let views = events
        .iter()
        .filter(|e| e.action == "reports.viewed")
        .count();
    assert_eq!(views, 6);
}

/// Compares day cells whatever the order of their duration lists.
fn normalised(mut cells: Vec<aghub::db::reports::DayCell>) -> Vec<aghub::db::reports::DayCell> {
    for c in &mut cells {
        c.first_reply_ms.sort_unstable();
        c.to_close_ms.sort_unstable();
        c.awaiting_gp_ms.sort_unstable();
    }
    cells.sort_by(|a, b| (&a.specialty, a.day_ms).cmp(&(&b.specialty, b.day_ms)));
    cells
}

/// The migration's backfill (the rules applied set-wise to recorded events), in two parts.
fn backfill_sql(backend: aghub::db::Backend) -> (String, String) {
    let dir = match backend {
        aghub::db::Backend::Sqlite => "sqlite",
        aghub::db::Backend::Postgres => "postgres",
    };
    let text = std::fs::read_to_string(format!(
        "{}/migrations/{dir}/0003_reports.sql",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let part = |from: &str, to: &str| {
        let start = text.find(from).unwrap_or_else(|| panic!("no '{from}'"));
        let end = text[start..]
            .find(to)
            .unwrap_or_else(|| panic!("no '{to}'"))
            + start;
        text[start..end].to_string()
    };
    (
        part("-- Backfill:", "-- Indexes last"),
        part("-- Backfill of the rollups", "-- Rollup triggers"),
    )
}

async fn derived_tables_agree_with_the_facts_and_with_a_replay_of_the_audit_trail(stack: Stack) {
    use aghub::db::reports as rdb;
    let w = scenario(stack).await;
    let db = &w.app.state.db;
    let (from_ms, to_ms) = (T0 - 24 * H, T0 + 400 * H);
    let all = rdb::Filter {
        from_ms,
        to_ms,
        specialty: None,
        practice_id: None,
    };
    let rollup = normalised(rdb::specialty_days(db, &all).await.unwrap());
    let from_facts = normalised(rdb::fact_days(db, &all).await.unwrap());
    assert_eq!(
        rollup.len(),
        3,
        "cardiology on 23 and 30 Nov, dermatology on 23 Nov"
    );
    assert_eq!(rollup, from_facts, "trigger-kept rollup = the facts summed");
    let practices = rdb::practice_counts(db, &all).await.unwrap();
    let mut summed = rdb::Counts::default();
    for p in &practices {
        summed.add(&p.counts);
    }
    let mut total = rdb::Counts::default();
    for c in &rollup {
        total.add(&c.counts);
    }
    assert_eq!(summed, total);
    let facts_before = rdb::facts(db, &all).await.unwrap();
    let report = |db: aghub::db::Db| async move {
        aghub::service::reports::read(
            &db,
            &rdb::Filter {
                from_ms,
                to_ms,
                specialty: None,
                practice_id: None,
            },
        )
        .await
        .unwrap()
    };
    let before = report(db.clone()).await;

    // Rebuild everything from the audit trail as the migration does for existing data.
    let (facts_sql, rollups_sql) = backfill_sql(db.backend());
    for table in [
        "case_facts",
        "report_specialty_days",
        "report_practice_days",
    ] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(db.pool())
            .await
            .unwrap();
    }
    sqlx::raw_sql(&facts_sql).execute(db.pool()).await.unwrap();
    let facts_after = rdb::facts(db, &all).await.unwrap();
    let key = |f: &rdb::FactRow| (f.submitted_at_ms, f.specialty.clone());
    let (mut a, mut b) = (facts_before.clone(), facts_after.clone());
    a.sort_by_key(key);
    b.sort_by_key(key);
    assert_eq!(a, b, "replayed facts = live facts");
    // The facts backfill ran through the rollup triggers; then rebuild the rollups set-wise too.
    let via_triggers = report(db.clone()).await;
    for table in ["report_specialty_days", "report_practice_days"] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(db.pool())
            .await
            .unwrap();
    }
    sqlx::raw_sql(&rollups_sql)
        .execute(db.pool())
        .await
        .unwrap();
    let rebuilt = report(db.clone()).await;
    for (name, data) in [("via triggers", &via_triggers), ("set-wise", &rebuilt)] {
        assert_eq!(
            normalised(data.cells.clone()),
            normalised(before.cells.clone()),
            "{name}"
        );
        assert_eq!(data.practices, before.practices, "{name}");
        assert_eq!(data.topics.len(), before.topics.len(), "{name}");
    }
}

async fn reports_are_for_commissioners_and_admins_only(stack: Stack) {
    let w = World::new(stack).await;
    let path = format!("/api/v1/reports/turnaround?{PERIOD}");
    for token in [&w.gp, &w.derm_local, &w.cardio] {
        let r = w.get(token, &path).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(r).await, "forbidden");
        let r = w
            .client()
            .get(w.app.url(&path))
            .bearer_auth(token)
            .header("Accept", "text/csv")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    for token in [&w.commissioner, &w.admin] {
        assert_eq!(w.get(token, &path).await.status(), StatusCode::OK);
    }
    let anonymous = w.client().get(w.app.url(&path)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let doc: Value = w
        .client()
        .get(w.app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/api/v1/reports/turnaround"]["get"].is_object());
    assert!(doc["components"]["schemas"]["Report"]["properties"]["totals"].is_object());

    for (email, allowed) in [
        ("gp@a.example", false),
        ("derm1@h.example", false),
        ("c@icb.example", true),
        ("admin@aghub.example", true),
    ] {
        let browser = w.app.browser();
        assert_eq!(
            browser.sign_in(email, PASSWORD).await.status(),
            StatusCode::SEE_OTHER
        );
        for page in ["/reports", "/reports.csv", "/reports.csv?table=topics"] {
            let r = browser.get(page).await;
            if allowed {
                assert_eq!(r.status(), StatusCode::OK, "{email} {page}");
            } else {
                assert_eq!(r.status(), StatusCode::FORBIDDEN, "{email} {page}");
                assert!(r.text().await.unwrap().contains("You cannot do this"));
            }
        }
        let nav = browser.get_text("/reports").await;
        assert_eq!(nav.contains("href=\"/reports\""), allowed, "{email}");
    }
    let browser = w.app.browser();
    browser.sign_in("c@icb.example", PASSWORD).await;
    assert_eq!(
        browser.get("/").await.headers()["location"],
        "/reports",
        "commissioners land on the reports"
    );
    let anonymous = w.app.browser().get("/reports").await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()["location"], "/login?next=%2Freports");

    let viewers: Vec<_> = aghub::db::audit::recent(&w.app.state.db, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "reports.viewed")
        .collect();
    // API: commissioner + admin; pages: 4 each for commissioner and admin; refusals: none.
    assert_eq!(viewers.len(), 2 + 4 + 4);
}

async fn page_shows_figures_charts_and_topics_but_no_patient_data(stack: Stack) {
    let w = World::new(stack).await;
    let a = w.open(&w.gp, "cardiology", "routine", PATIENTS[0]).await;
    w.at(3);
    // The consultant replies through the web form, with topics typed as text.
    let r = w.post(&w.cardio, &format!("/api/v1/cases/{a}/claim")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let cardio = w.app.browser();
    cardio.sign_in("cardio@h.example", PASSWORD).await;
    let csrf = cardio.csrf_token(&format!("/cases/{a}")).await;
    let page = cardio.get_text(&format!("/cases/{a}")).await;
    assert!(
        page.contains("name=\"topics\""),
        "the reply form asks for topics"
    );
    let r = cardio
        .post_form(
            &format!("/cases/{a}/reply"),
            &[
                ("csrf_token", &csrf),
                ("advice", "Secret advice text."),
                ("outcome", "manage_in_primary_care"),
                ("topics", "Atrial Fibrillation, 9990000018"),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "no NHS numbers as topics"
    );
    let again = r.text().await.unwrap();
    assert!(again.contains("is not a topic"), "{again}");
    assert!(
        again.contains("Atrial Fibrillation, 9990000018"),
        "what was typed is kept"
    );
    let r = cardio
        .post_form(
            &format!("/cases/{a}/reply"),
            &[
                ("csrf_token", &csrf),
                ("advice", "Secret advice text."),
                ("outcome", "manage_in_primary_care"),
                ("topics", "Atrial Fibrillation,  palpitations ,"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    w.at(4);

    let c = w.app.browser();
    c.sign_in("c@icb.example", PASSWORD).await;
    let r = c.get("/reports").await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("value=\"2026-08-31\"") && html.contains("value=\"2026-11-23\""),
        "the last 13 weeks by default"
    );
    for expected in [
        "Cases submitted per week",
        "Median time to first reply",
        "<svg class=\"chart\"",
        "Practice A81001 (A81001)",
        "Cardiology",
        "atrial fibrillation",
        "palpitations",
        "Manage in primary care",
        "3 h 0 min",
        "/reports.csv?from=2026-08-31&#38;to=2026-11-23",
    ] {
        assert!(html.contains(expected), "page lacks {expected}");
    }
    for secret in [
        "9990000018",
        "999 000 0018",
        "Secret",
        "1961-07-04",
        "<script",
    ] {
        assert!(!html.contains(secret), "page shows {secret}");
    }
    let r = c
        .get("/reports.csv?from=2026-11-23&to=2026-11-23&table=topics")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("aghub-topics-2026-11-23-to-2026-11-23.csv"));
    assert_eq!(
        r.text().await.unwrap(),
        "ods_code,practice,topic,cases\r\nA81001,Practice A81001,atrial fibrillation,1\r\nA81001,Practice A81001,palpitations,1\r\n"
    );
    let csv = c
        .get_text("/reports.csv?from=2026-11-23&to=2026-11-23&specialty=cardiology")
        .await;
    assert!(csv.contains("\r\ntotal,all,All cases in the period,1,1,1,0,0,1,3.00,3.00,1,100.0,"));
    assert!(!csv.contains("Secret") && !csv.contains("9990000018"));
}

async fn bad_periods_and_filters_get_precise_errors(stack: Stack) {
    let w = World::new(stack).await;
    for (query, code) in [
        ("to=2026-11-30", "invalid_period"),
        ("from=2026-11-30", "invalid_period"),
        ("from=30/11/2026&to=2026-12-01", "invalid_period"),
        ("from=2026-12-01&to=2026-11-30", "invalid_period"),
        ("from=2023-01-01&to=2026-11-30", "invalid_period"),
        (
            "from=2026-11-01&to=2026-11-30&specialty=astrology",
            "invalid_specialty",
        ),
        (
            "from=2026-11-01&to=2026-11-30&practice=Z99999",
            "invalid_practice",
        ),
    ] {
        let r = w
            .get(
                &w.commissioner,
                &format!("/api/v1/reports/turnaround?{query}"),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(error_code(r).await, code, "{query}");
    }
    let c = w.app.browser();
    c.sign_in("c@icb.example", PASSWORD).await;
    let r = c.get("/reports?from=2026-12-01&to=2026-11-30").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("There is a problem") && html.contains("ends before it starts"));
    assert!(
        html.contains("value=\"2026-12-01\""),
        "the form keeps what was asked"
    );
    let r = c
        .get("/reports.csv?from=2026-11-01&to=2026-11-30&table=cases")
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

async fn reply_topics_are_normalised_and_checked(stack: Stack) {
    let w = World::new(stack).await;
    let id = w.open(&w.gp, "cardiology", "urgent", PATIENTS[1]).await;
    w.at(1);
    assert_eq!(
        w.post(&w.cardio, &format!("/api/v1/cases/{id}/claim"))
            .await
            .status(),
        StatusCode::OK
    );
    let eleven: Vec<String> = (0..11).map(|i| format!("topic {i}")).collect();
    for topics in [
        json!(["943 476 5919"]),
        json!(["x".repeat(61)]),
        json!(eleven),
        json!([1, 2]),
        json!({"a": "b"}),
    ] {
        let r = w
            .post_json(
                &w.cardio,
                &format!("/api/v1/cases/{id}/reply"),
                json!({"advice": "Secret advice text.", "outcome": "refer_urgent", "topics": topics}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{topics}");
        assert_eq!(error_code(r).await, "invalid_topics", "{topics}");
    }
    let case: Value = w
        .get(&w.gp, &format!("/api/v1/cases/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(case["status"], "claimed", "a refused reply changes nothing");
    let r = w
        .post_json(
            &w.cardio,
            &format!("/api/v1/cases/{id}/reply"),
            json!({"advice": "Secret advice text.", "outcome": "refer_urgent",
                   "topics": ["  Heart   Failure ", "heart failure", "", "BNP"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = w
        .report(&w.commissioner, "from=2026-11-23&to=2026-11-23")
        .await;
    assert_eq!(
        r["topics"],
        json!([{"topic": "bnp", "cases": 1}, {"topic": "heart failure", "cases": 1}])
    );
    assert_eq!(r["totals"]["outcomes"]["refer_urgent"], 1);
    assert_eq!(r["totals"]["first_reply"]["median_ms"], ms(1.0));
}
