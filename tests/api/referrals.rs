//! Contract 1.1 referral outcomes: a consultant converts a referral (with the GP's authorisation)
//! or leaves it for the GP to make; the GP confirms it by a deadline in working days, and an
//! overdue one is flagged on the case, the lists and the commissioners' report.

use reqwest::multipart::Form;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::cases::{user_id, World};
use crate::helpers::{error_code, Stack, T0};

on_both_stacks!(
    a_converted_referral_is_the_hospitals_and_needs_the_gps_authorisation,
    a_referral_left_to_the_gp_is_due_in_working_days_flagged_when_overdue_and_confirmed_once,
);

const H: i64 = 3_600_000;

fn ms(rfc3339: &str) -> i64 {
    rfc3339
        .parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
        .as_millisecond()
}

/// A cardiology case (no photos needed) with or without the GP's authorisation to convert.
async fn cardiology_case(w: &World, authorised: bool) -> String {
    let form = Form::new()
        .text("specialty", "cardiology")
        .text("nhs_number", "943 476 5919")
        .text("date_of_birth", "1958-02-11")
        .text("urgency", "routine")
        .text("history", "Exertional chest tightness for six weeks.")
        .text("question", "Rapid-access chest pain clinic?")
        .text("conversion_authorised", authorised.to_string());
    let r = w.submit(&w.gp, form).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let case: Value = r.json().await.unwrap();
    case["id"].as_str().unwrap().to_string()
}

async fn claim(w: &World, id: &str) {
    let r = w
        .post(&w.cardio, &format!("/api/v1/cases/{id}/claim"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn reply(w: &World, id: &str, body: Value) -> reqwest::Response {
    w.post_json(&w.cardio, &format!("/api/v1/cases/{id}/reply"), body)
        .await
}

async fn refused_field(r: reqwest::Response) -> (String, String) {
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e: Value = r.json().await.unwrap();
    let f = &e["error"]["fields"][0];
    (
        f["field"].as_str().unwrap_or_default().to_string(),
        f["code"].as_str().unwrap_or_default().to_string(),
    )
}

async fn a_converted_referral_is_the_hospitals_and_needs_the_gps_authorisation(stack: Stack) {
    let w = World::new(stack).await;
    let cardio = user_id(&w, &w.cardio).await;
    let unauthorised = cardiology_case(&w, false).await;
    claim(&w, &unauthorised).await;
    let r = reply(
        &w,
        &unauthorised,
        json!({"advice": "Rapid access, please.", "outcome": "refer_urgent", "convert": true}),
    )
    .await;
    assert_eq!(
        refused_field(r).await,
        ("convert".into(), "conversion_not_authorised".into())
    );
    let r = reply(
        &w,
        &unauthorised,
        json!({"advice": "Reassure.", "outcome": "manage_in_primary_care", "convert": true}),
    )
    .await;
    assert_eq!(
        refused_field(r).await,
        ("convert".into(), "convert_without_referral".into())
    );
    let r = reply(
        &w,
        &unauthorised,
        json!({"advice": "x", "outcome": "refer_urgent", "convert": "yes"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let still: Value = w
        .get_json(&w.gp, &format!("/api/v1/cases/{unauthorised}"))
        .await;
    assert_eq!(
        still["status"], "claimed",
        "a refused reply changes nothing"
    );

    let authorised = cardiology_case(&w, true).await;
    claim(&w, &authorised).await;
    w.app.clock.advance(H);
    let r = reply(
        &w,
        &authorised,
        json!({"advice": "Booked into the rapid-access clinic.", "outcome": "refer_urgent", "convert": true}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let case: Value = r.json().await.unwrap();
    assert_eq!(case["status"], "converted");
    assert_eq!(case["referral"]["priority"], "urgent");
    assert_eq!(case["referral"]["converted_by"], cardio.as_str());
    assert_eq!(
        ms(case["referral"]["converted_at"].as_str().unwrap()),
        T0 + H
    );
    assert_eq!(case["referral"]["due_at"], Value::Null);
    assert_eq!(case["referral_overdue"], false);
    assert!(case["closed_at"].is_string(), "converted is terminal");

    // Nothing left for the GP to confirm, and the case is answered for other consultants.
    let r = w
        .post_json(
            &w.gp,
            &format!("/api/v1/cases/{authorised}/referral-made"),
            json!({"referred_on": "2026-11-23"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "not_gp_to_refer");
    let r = reply(
        &w,
        &authorised,
        json!({"advice": "again", "outcome": "refer_routine"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    let report: Value = w
        .get_json(
            &w.commissioner,
            "/api/v1/reports/turnaround?from=2026-11-23&to=2026-11-29",
        )
        .await;
    let t = &report["totals"];
    assert_eq!(
        (&t["converted"], &t["outcomes"]["refer_urgent"]),
        (&json!(1), &json!(1)),
        "{t}"
    );
    assert_eq!(t["closed"], 1, "{t}");
}

async fn a_referral_left_to_the_gp_is_due_in_working_days_flagged_when_overdue_and_confirmed_once(
    stack: Stack,
) {
    let w = World::new(stack).await;
    // T0 is Monday 23 November 2026, 09:00 GMT: the reply comes at 10:00.
    let id = cardiology_case(&w, false).await;
    claim(&w, &id).await;
    w.app.clock.advance(H);
    let r = reply(
        &w,
        &id,
        json!({"advice": "Suspected cancer: refer on the two-week-wait pathway.", "outcome": "refer_two_week_wait"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let case: Value = r.json().await.unwrap();
    assert_eq!(case["status"], "gp_to_refer");
    assert_eq!(case["referral"]["priority"], "two_week_wait");
    assert_eq!(case["referral"]["converted_by"], Value::Null);
    // One working day: by the end of Tuesday 24 November (London), midnight GMT.
    let due = ms(case["referral"]["due_at"].as_str().unwrap());
    assert_eq!(due, ms("2026-11-25T00:00:00Z"));
    assert_eq!(case["referral_overdue"], false);
    assert_eq!(case["closed_at"], Value::Null, "open until the GP refers");

    let path = format!("/api/v1/cases/{id}/referral-made");
    let listed: Value = w.get_json(&w.gp, "/api/v1/cases?status=gp_to_refer").await;
    assert_eq!(listed["cases"][0]["id"], id.as_str());

    // Only a GP of the practice confirms; everyone else is refused and nothing changes.
    let r = w
        .post_json(
            &w.gp_other_practice,
            &path,
            json!({"referred_on": "2026-11-24"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = w
        .post_json(&w.cardio, &path, json!({"referred_on": "2026-11-24"}))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    for (body, field, code) in [
        (json!({"referred_on": ""}), "referred_on", "missing_field"),
        (
            json!({"referred_on": "2026-02-30"}),
            "referred_on",
            "invalid_date",
        ),
        (
            json!({"referred_on": "2026-11-22"}),
            "referred_on",
            "invalid_date",
        ),
        (
            json!({"referred_on": "2026-11-24"}),
            "referred_on",
            "invalid_date",
        ),
        (
            json!({"referred_on": "2026-11-23", "reference": "1234"}),
            "reference",
            "invalid_reference",
        ),
    ] {
        let r = w.post_json(&w.gp, &path, body.clone()).await;
        assert_eq!(
            refused_field(r).await,
            (field.into(), code.into()),
            "{body}"
        );
    }
    let r = w
        .client()
        .post(w.app.url(&path))
        .bearer_auth(&w.gp)
        .body("referred_on=2026-11-23")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Past the deadline: flagged on the case, in the list and in the report.
    w.app.clock.set(due + 1);
    let case: Value = w.get_json(&w.gp, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(
        (&case["status"], &case["referral_overdue"]),
        (&json!("gp_to_refer"), &json!(true))
    );
    let listed: Value = w.get_json(&w.gp, "/api/v1/cases").await;
    assert_eq!(listed["cases"][0]["referral_overdue"], true);
    let report_path = "/api/v1/reports/turnaround?from=2026-11-23&to=2026-11-29";
    let report: Value = w.get_json(&w.commissioner, report_path).await;
    assert_eq!(report["gp_referrals_overdue_now"], 1, "{report}");
    assert_eq!(report["totals"]["gp_referrals_made_late"], 0);

    // The same confirmation 30 times at once: one wins, the rest are told it is done.
    let body = json!({"referred_on": "2026-11-25", "reference": "0001 2345 6789"});
    let tries = (0..30).map(|_| w.post_json(&w.gp_same_practice, &path, body.clone()));
    let statuses: Vec<StatusCode> = futures::future::join_all(tries)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT));
    let case: Value = w.get_json(&w.gp, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["status"], "closed");
    assert_eq!(case["referral"]["referred_on"], "2026-11-25");
    assert_eq!(case["referral"]["reference"], "000123456789");
    assert_eq!(case["referral_overdue"], false);

    let events = aghub::db::audit::recent(&w.app.state.db, 200)
        .await
        .unwrap();
    let confirmations: Vec<_> = events
        .iter()
        .filter(|e| e.action == "case.referral_made")
        .collect();
    assert_eq!(confirmations.len(), 1);
    assert_eq!(confirmations[0].detail.as_ref().unwrap()["overdue"], true);

    let report: Value = w.get_json(&w.commissioner, report_path).await;
    assert_eq!(report["gp_referrals_overdue_now"], 0);
    let t = &report["totals"];
    assert_eq!(
        (
            &t["gp_referrals_made_late"],
            &t["outcomes"]["refer_two_week_wait"],
            &t["converted"]
        ),
        (&json!(1), &json!(1), &json!(0)),
        "{t}"
    );
}
