//! Records kept as the law says (issue 15): the audit trail an admin searches by patient,
//! person and period, and exports.

use reqwest::multipart::Form;
use reqwest::StatusCode;
use serde_json::Value;

use crate::cases::{case_form, World};
use crate::helpers::{Stack, PASSWORD};

on_both_stacks!(an_admin_finds_who_viewed_or_changed_a_patients_data,);

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
