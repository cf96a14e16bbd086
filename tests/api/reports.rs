//! Commissioners' reports: every figure checked against hand-computed values from cases with
//! known timings (the app's clock is moved by hand), on both stacks; who may see them; CSV; the
//! derived tables against the facts and against a replay of the audit trail (the migration's
//! backfill).

use std::collections::BTreeMap;

use aghub::domain::Role;
use reqwest::multipart::Form;
use reqwest::StatusCode;
use serde_json::{json, Value};

use aghub::db::reports as rdb;
use aghub::domain::reports::{
    day_cells, icb_day_cells, week_start, CaseEvent, CaseFacts, Counts, DayCell,
};

use crate::cases::{jpeg_part, World};
use crate::helpers::{error_code, phone_jpeg, Stack, PASSWORD, T0};

on_both_stacks!(
    figures_match_hand_computed_expectations,
    derived_tables_agree_with_the_facts_and_with_a_replay_of_the_audit_trail,
    a_patient_returning_in_twenty_cases_at_once_is_one_re_presentation,
    reports_are_for_commissioners_and_admins_only,
    page_shows_figures_charts_and_topics_but_no_patient_data,
    bad_periods_and_filters_get_precise_errors,
    reply_topics_come_from_the_case_specialty_list,
    free_text_topics_are_refused_and_nothing_is_stored,
    list_topics_reach_reports_as_labels_and_the_other_topic_never_does,
    admins_add_rename_and_retire_topics,
    existing_free_text_tags_are_mapped_or_moved_out_of_reports,
    the_demo_world_replies_with_list_topics,
    the_demo_history_gives_a_commissioner_weeks_of_figures,
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
/// | A | A81001 | cardiology, routine | 0 | 2: manage in primary care, topics hypertension, ecg | 2 h | 2 h |
/// | B | A81001 | cardiology, urgent | 1 | 3: request info; 8: GP responds; 30: refer routine | 2 h | 29 − 5 = 24 h |
/// | C | A81001 | dermatology, routine | 2 | 7: national pool, manage in primary care, topic acne | 5 h | 5 h |
/// | D | B82002 | cardiology, routine | 3 | 53: refer urgent, topic chest-pain | 50 h | 50 h |
/// | E | A81001 | cardiology, routine | 4 | none | – | – |
/// | F | A81001 | cardiology, routine | 5 | 6: request info (GP never answers) | 1 h | – |
/// | G | A81001 | cardiology, routine | 160 (Mon 30 Nov) | 164: manage in primary care, topic hypertension | 4 h | 4 h |
///
/// G is the same patient and specialty as A: A re-presented within 90 days. Targets are 48 h
/// (routine) and 24 h (urgent). Topics are ids from the specialty lists (migration 0006); reports
/// show their labels.
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
        &["hypertension", " ecg "],
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
    w.answer(&w.cardio, &d, "refer_urgent", &["chest-pain"])
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
    // One denominator for "within target": the answered cases. E, with no reply and past its
    // 48 h target, is counted apart.
    assert!(t.get("answer_rate_within_target").is_none());
    assert_eq!(t["overdue_not_answered"], 1, "E");
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
    assert_eq!(w1["overdue_not_answered"], 1, "E, submitted in week 1");
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
    // Medians for practices as for specialties: A's first replies (h) are 1, 2, 2, 4, 5 (D, at
    // 50 h, is B's): median 2, p90 at rank 3.6: 4 + 0.6 × 1.
    assert_eq!(
        (
            &pa["first_reply"]["median_ms"],
            &pa["first_reply"]["p90_ms"]
        ),
        (&ms(2.0), &ms(4.6))
    );
    assert_eq!(pa["overdue_not_answered"], 1, "E");
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
        json!([{"topic": "Hypertension", "cases": 2}, {"topic": "Acne", "cases": 1},
               {"topic": "Chest pain", "cases": 1}, {"topic": "ECG interpretation", "cases": 1}])
    );
    assert_eq!(
        r["topics_by_practice"],
        json!([
            {"ods_code": "A81001", "name": "Practice A81001", "topics": [
                {"topic": "Hypertension", "cases": 2}, {"topic": "Acne", "cases": 1}, {"topic": "ECG interpretation", "cases": 1}]},
            {"ods_code": "B82002", "name": "Practice B82002", "topics": [{"topic": "Chest pain", "cases": 1}]}
        ])
    );

    // One day: only G (and the topic tagged that day).
    let r = w
        .report(&w.commissioner, "from=2026-11-30&to=2026-11-30")
        .await;
    assert_eq!(r["totals"]["submitted"], 1);
    assert_eq!(r["totals"]["first_reply"]["median_ms"], ms(4.0));
    assert_eq!(r["weeks"].as_array().unwrap().len(), 1);
    assert_eq!(r["topics"], json!([{"topic": "Hypertension", "cases": 1}]));

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
    assert_eq!(r["topics"], json!([{"topic": "Chest pain", "cases": 1}]));

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
    assert_eq!(r["topics"], json!([{"topic": "Acne", "cases": 1}]));

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
    let bytes = r.bytes().await.unwrap();
    assert!(
        bytes.starts_with(&[0xEF, 0xBB, 0xBF]),
        "a UTF-8 byte-order mark, so Excel reads UTF-8"
    );
    let csv = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], aghub::service::reports::CSV_COLUMNS);
    assert!(
        lines[0].starts_with("Group,Key,Name,Submitted,Answered,Closed,Waiting for the GP now,")
    );
    assert_eq!(
        lines[1],
        "total,all,All cases in the period,7,6,5,1,2,6,3.00,27.50,5,83.3,5,5.00,39.60,4,80.0,1,5.00,5.00,1,3,1,1,0,0,0,0,60.0,1,16.7,1,33.3,,"
    );
    assert!(lines[2].starts_with("week,23/11/2026,Week from 23/11/2026,6,5,4,"));
    assert!(lines.contains(&"practice,B82002,Practice B82002,1,1,1,0,0,1,50.00,50.00,0,0.0,1,50.00,50.00,0,0.0,0,,,0,0,0,1,0,0,0,0,0.0,0,0.0,0,,,"), "{lines:?}");
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
fn normalised(mut cells: Vec<DayCell>) -> Vec<DayCell> {
    for c in &mut cells {
        c.first_reply_ms.sort_unstable();
        c.to_close_ms.sort_unstable();
        c.awaiting_gp_ms.sort_unstable();
    }
    cells.sort_by(|a, b| (&a.key, a.day_ms).cmp(&(&b.key, b.day_ms)));
    cells
}

/// Day cells summed into coarser ones: same key, `day(day_ms)`.
fn regrouped(cells: Vec<DayCell>, day: impl Fn(i64) -> i64) -> Vec<DayCell> {
    let mut out: BTreeMap<(String, i64), DayCell> = BTreeMap::new();
    for c in cells {
        let day_ms = day(c.day_ms);
        let cell = out
            .entry((c.key.clone(), day_ms))
            .or_insert_with(|| DayCell {
                key: c.key.clone(),
                day_ms,
                ..Default::default()
            });
        cell.counts.add(&c.counts);
        cell.first_reply_ms.extend(c.first_reply_ms);
        cell.to_close_ms.extend(c.to_close_ms);
        cell.awaiting_gp_ms.extend(c.awaiting_gp_ms);
    }
    out.into_values().collect()
}

/// Every case's facts as the domain's rules make them from the audit trail alone: each
/// `case.created` (its specialty and urgency), `case.replied` (its outcome, rota pool and any
/// redirect), `case.responded` and `case.referral_made`, in order. A new case is a return of the
/// patient's earlier cases in the specialty they are in at that moment (after any redirect).
async fn replay_audit_trail(db: &aghub::db::Db) -> Vec<CaseFacts> {
    use sqlx::Row;
    let targets: std::collections::HashMap<String, (i64, i64)> = aghub::db::specialties::list(db)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.slug, (s.routine_target_ms, s.urgent_target_ms)))
        .collect();
    let rows = sqlx::query(
        "SELECT a.action, a.case_id, a.at_ms, a.detail, c.practice_id, c.nhs_number \
         FROM audit_events a JOIN cases c ON c.id = a.case_id \
         WHERE a.action IN ('case.created', 'case.replied', 'case.responded', 'case.referral_made') ORDER BY a.at_ms, a.id",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    // (patient, the specialty the case is in now, facts)
    let mut facts: Vec<(String, String, CaseFacts)> = Vec::new();
    for r in rows {
        let action: String = r.get("action");
        let case_id: String = r.get("case_id");
        let at_ms: i64 = r.get("at_ms");
        let detail: Value = r
            .get::<Option<String>, _>("detail")
            .map_or(Value::Null, |d| serde_json::from_str(&d).unwrap());
        let event = match action.as_str() {
            "case.created" => {
                let patient: String = r.get("nhs_number");
                let specialty = detail["specialty"].as_str().unwrap().to_string();
                for (p, now_in, f) in &mut facts {
                    if *p == patient && *now_in == specialty {
                        f.apply(&CaseEvent::PatientReturned { at_ms });
                    }
                }
                let urgency: aghub::domain::Urgency =
                    detail["urgency"].as_str().unwrap().parse().unwrap();
                let (routine, urgent) = targets[&specialty];
                let target = if urgency == aghub::domain::Urgency::Urgent {
                    urgent
                } else {
                    routine
                };
                let f = CaseFacts::submitted(
                    &case_id,
                    r.get("practice_id"),
                    &specialty,
                    urgency,
                    target,
                    at_ms,
                );
                facts.push((patient, specialty, f));
                continue;
            }
            "case.replied" => CaseEvent::Replied {
                at_ms,
                outcome: detail["outcome"].as_str().unwrap().parse().unwrap(),
                pool: detail["pool"].as_str().map(|p| p.parse().unwrap()),
                converted: detail["status"] == "converted",
                referral_due_at_ms: detail["referral_due_at_ms"].as_i64(),
            },
            "case.referral_made" => CaseEvent::ReferralMade { at_ms },
            _ => CaseEvent::Responded { at_ms },
        };
        let (_, now_in, f) = facts
            .iter_mut()
            .find(|(_, _, f)| f.case_id == case_id)
            .expect("created before its other events");
        if let Some(to) = detail["redirect_to"].as_str() {
            *now_in = to.to_string();
        }
        f.apply(&event);
    }
    let mut facts: Vec<CaseFacts> = facts.into_iter().map(|(_, _, f)| f).collect();
    facts.sort_by(|a, b| a.case_id.cmp(&b.case_id));
    facts
}

/// What the service stored over a period, checked three ways with the running code: the day
/// tables equal the stored facts summed by the domain's rules (by specialty, by practice, and
/// through the flags of one specialty's cases); the stored facts equal a replay of the audit
/// trail through those rules; and a rebuild of flags and day tables from the facts changes no
/// report. Returns the specialty day cells and the stored facts.
async fn check_derived_tables(
    db: &aghub::db::Db,
    from_ms: i64,
    to_ms: i64,
    one_specialty: &str,
) -> (Vec<DayCell>, Vec<CaseFacts>) {
    let filter = |specialty| rdb::Filter {
        from_ms,
        to_ms,
        specialty,
        practice_id: None,
        icb_id: None,
    };
    let all = filter(None);
    let rollup = normalised(
        rdb::rollup_days(db, rdb::Rollup::Specialty, &all)
            .await
            .unwrap(),
    );
    let from_facts = normalised(rdb::fact_days(db, &all).await.unwrap());
    assert_eq!(rollup, from_facts, "the day tables = the facts summed");
    let practices = rdb::practice_counts(db, &all).await.unwrap();
    let mut summed = Counts::default();
    for p in &practices {
        summed.add(&p.counts);
    }
    let mut total = Counts::default();
    for c in &rollup {
        total.add(&c.counts);
    }
    assert_eq!(summed, total);
    // The flags path (a specialty filter) against the facts counted in Rust.
    let of_one = rdb::practice_counts(db, &filter(Some(one_specialty)))
        .await
        .unwrap();
    let facts = rdb::facts(db, &filter(Some(one_specialty))).await.unwrap();
    for p in &of_one {
        let mut expected = Counts::default();
        for f in facts.iter().filter(|f| f.practice_id == p.practice_id) {
            expected.add(&f.counts());
        }
        assert_eq!(p.counts, expected, "{}", p.ods_code);
    }

    // A narrowed report's cells, summed in the database from flags and durations, = the same
    // facts summed by the domain's rules.
    let narrowed = filter(Some(one_specialty));
    let cells_of =
        |by| async move { normalised(rdb::fact_cells(db, &narrowed, by).await.unwrap()) };
    assert!(!facts.is_empty());
    assert_eq!(
        cells_of(rdb::FactCells::SpecialtyWeeks).await,
        normalised(regrouped(day_cells(&facts, |f| &f.specialty), week_start))
    );
    assert_eq!(
        cells_of(rdb::FactCells::Icbs).await,
        normalised(regrouped(icb_day_cells(&facts), |_| 0))
    );
    assert_eq!(
        cells_of(rdb::FactCells::Practices).await,
        normalised(regrouped(day_cells(&facts, |f| &f.practice_id), |_| 0))
    );

    // Topics: the day rollup (every practice) = the tags counted (per practice, summed).
    for f in [filter(None), filter(Some(one_specialty))] {
        let mut tagged: BTreeMap<String, i64> = BTreeMap::new();
        for t in rdb::topic_counts(db, &f, true).await.unwrap() {
            *tagged.entry(t.topic).or_default() += t.cases;
        }
        let rolled: BTreeMap<String, i64> = rdb::topic_counts(db, &f, false)
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.topic, t.cases))
            .collect();
        assert_eq!(rolled, tagged, "{:?}", f.specialty);
    }

    let mut stored = rdb::facts(db, &all).await.unwrap();
    stored.sort_by(|a, b| a.case_id.cmp(&b.case_id));
    assert_eq!(
        stored,
        replay_audit_trail(db).await,
        "stored facts = the audit trail replayed"
    );

    let report = || aghub::service::reports::read(db, &all, 0);
    let before = report().await.unwrap();
    aghub::service::case_facts::rebuild(db).await.unwrap();
    let rebuilt = report().await.unwrap();
    assert_eq!(normalised(rebuilt.cells), normalised(before.cells.clone()));
    assert_eq!(rebuilt.practices, before.practices);
    assert_eq!(rebuilt.topics, before.topics);
    assert!(
        !aghub::service::case_facts::bring_up_to_date(db)
            .await
            .unwrap(),
        "nothing to do once the figure set is recorded"
    );
    (rollup, stored)
}

async fn derived_tables_agree_with_the_facts_and_with_a_replay_of_the_audit_trail(stack: Stack) {
    let w = scenario(stack).await;
    let db = &w.app.state.db;
    let (from_ms, to_ms) = (T0 - 24 * H, T0 + 400 * H);
    let (rollup, stored) = check_derived_tables(db, from_ms, to_ms, "cardiology").await;
    assert_eq!(
        rollup.len(),
        3,
        "cardiology on 23 and 30 Nov, dermatology on 23 Nov"
    );
    assert_eq!(stored.len(), 7);
    let cardiology = rdb::Filter {
        from_ms,
        to_ms,
        specialty: Some("cardiology"),
        practice_id: None,
        icb_id: None,
    };
    assert_eq!(
        rdb::practice_counts(db, &cardiology).await.unwrap().len(),
        2
    );
}

/// Twenty submissions for the same patient arrive at once, after that patient's earlier
/// case was closed as manage in primary care: each transaction reads and moves the earlier case's
/// facts and day cells, and still the earlier case counts as re-presented exactly once, every
/// new case exactly once, and the day tables equal the facts summed.
async fn a_patient_returning_in_twenty_cases_at_once_is_one_re_presentation(stack: Stack) {
    let w = World::new(stack).await;
    w.at(0);
    let first = w.open(&w.gp, "cardiology", "routine", PATIENTS[0]).await;
    w.at(1);
    w.answer(&w.cardio, &first, "manage_in_primary_care", &[])
        .await;
    w.at(30);
    // Straight to the use case, all at once: over HTTP the per-account upload permits would
    // queue most of them.
    let state = &w.app.state;
    let gp_id = aghub::service::accounts::user_id_by_email(&state.db, "gp@a.example")
        .await
        .unwrap();
    let gp = aghub::service::accounts::principal(&state.db, &gp_id)
        .await
        .unwrap()
        .unwrap();
    let submissions = (0..20).map(|_| {
        let input = aghub::service::cases::CaseInput {
            specialty: "cardiology".into(),
            nhs_number: PATIENTS[0].into(),
            date_of_birth: "1961-07-04".into(),
            urgency: "urgent".into(),
            history: "History.".into(),
            question: "Question?".into(),
            conversion_authorised: "true".into(),
            sex: "female".into(),
            idempotency_key: None,
        };
        let id = aghub::service::cases::new_case_id();
        let photos = aghub::service::photos::PhotoBatch::new(state, &id);
        let gp = &gp;
        async move { aghub::service::cases::create(state, gp, input, photos, &id).await }
    });
    for created in futures::future::join_all(submissions).await {
        assert!(created.unwrap().new);
    }

    let db = &w.app.state.db;
    let all = rdb::Filter {
        from_ms: T0 - 24 * H,
        to_ms: T0 + 400 * H,
        specialty: None,
        practice_id: None,
        icb_id: None,
    };
    let facts = rdb::facts(db, &all).await.unwrap();
    let earlier = facts.iter().find(|f| f.case_id == first).unwrap();
    assert_eq!(earlier.represented_at_ms, Some(T0 + 30 * H));
    let cells = normalised(
        rdb::rollup_days(db, rdb::Rollup::Specialty, &all)
            .await
            .unwrap(),
    );
    let mut total = Counts::default();
    for c in &cells {
        total.add(&c.counts);
    }
    assert_eq!(
        (total.submitted, total.represented, total.closed),
        (21, 1, 1)
    );
    assert_eq!(cells, normalised(rdb::fact_days(db, &all).await.unwrap()));
    let mut by_practice = Counts::default();
    for p in rdb::practice_counts(db, &all).await.unwrap() {
        by_practice.add(&p.counts);
    }
    assert_eq!(by_practice, total);
    let report = w.report(&w.commissioner, PERIOD).await;
    assert_eq!(report["totals"]["submitted"], 21);
    assert_eq!(report["totals"]["re_presented"], 1);
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
    // The consultant replies through the web form, ticking topics from the cardiology list.
    let r = w.post(&w.cardio, &format!("/api/v1/cases/{a}/claim")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let cardio = w.app.browser();
    cardio.sign_in("cardio@h.example", PASSWORD).await;
    let csrf = cardio.csrf_token(&format!("/cases/{a}")).await;
    let page = cardio.get_text(&format!("/cases/{a}")).await;
    assert!(
        page.contains("<legend>Topics (optional)</legend>")
            && page.contains(
                "<input type=\"checkbox\" name=\"topics\" value=\"atrial-fibrillation\"> Atrial fibrillation"
            ),
        "the reply form offers the cardiology list as checkboxes: {page}"
    );
    assert!(
        !page.contains("value=\"acne\""),
        "and not another specialty's topics"
    );
    assert!(page.contains("name=\"other_topic\""), "and an other topic");
    // A forged checkbox carrying patient details is refused; what was ticked is kept.
    let r = cardio
        .post_form(
            &format!("/cases/{a}/reply"),
            &[
                ("csrf_token", &csrf),
                ("advice", "Secret advice text."),
                ("outcome", "manage_in_primary_care"),
                ("topics", "atrial-fibrillation"),
                ("topics", "9990000018"),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "no NHS numbers as topics"
    );
    let again = r.text().await.unwrap();
    assert!(
        again.contains("Choose topics from the list only"),
        "{again}"
    );
    assert!(
        again.contains("href=\"#topics\""),
        "the error leads to the topics"
    );
    assert!(
        again.contains("value=\"atrial-fibrillation\" checked")
            && again.contains("Secret advice text."),
        "what was ticked and typed is kept"
    );
    let r = cardio
        .post_form(
            &format!("/cases/{a}/reply"),
            &[
                ("csrf_token", &csrf),
                ("advice", "Secret advice text."),
                ("outcome", "manage_in_primary_care"),
                ("topics", "atrial-fibrillation"),
                ("topics", "palpitations"),
                ("other_topic", "Secret other topic"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = cardio.get_text(&format!("/cases/{a}")).await;
    assert!(
        page.contains("Other topic (not in reports): Secret other topic"),
        "the other topic stays with the case"
    );
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
        "Atrial fibrillation",
        "Palpitations",
        "Manage in primary care",
        "3 h 0 min",
        "/reports.csv?from=2026-08-31&#38;to=2026-11-23",
    ] {
        assert!(html.contains(expected), "page lacks {expected}");
    }
    for secret in ["9990000018", "999 000 0018", "Secret", "1961-07-04"] {
        assert!(!html.contains(secret), "page shows {secret}");
    }
    // No script but the layout's own (none in the charts' SVG, say).
    assert_eq!(
        html.matches("<script").count(),
        html.matches(r#"<script type="module" src="/static/nhsuk-init.js">"#)
            .count()
            + html
                .matches(r#"<script src="/static/calls.js" defer>"#)
                .count(),
        "{html}"
    );
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
        "\u{feff}ODS code,Practice,Topic,Cases\r\nA81001,Practice A81001,Atrial fibrillation,1\r\nA81001,Practice A81001,Palpitations,1\r\n"
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

async fn reply_topics_come_from_the_case_specialty_list(stack: Stack) {
    let w = World::new(stack).await;
    let id = w.open(&w.gp, "cardiology", "urgent", PATIENTS[1]).await;
    w.at(1);
    assert_eq!(
        w.post(&w.cardio, &format!("/api/v1/cases/{id}/claim"))
            .await
            .status(),
        StatusCode::OK
    );
    let reply = |body: Value| {
        let w = &w;
        let id = &id;
        async move {
            w.post_json(&w.cardio, &format!("/api/v1/cases/{id}/reply"), body)
                .await
        }
    };
    for (topics, code, field) in [
        // Free text, an NHS number, a label instead of an id, another specialty's topic.
        (json!(["jane doe 1980"]), "unknown_topic", "topics"),
        (json!(["943 476 5919"]), "unknown_topic", "topics"),
        (json!(["Heart failure"]), "unknown_topic", "topics"),
        (json!(["heart-failure", "acne"]), "unknown_topic", "topics"),
        (json!([1, 2]), "invalid_topics", "topics"),
        (json!({"a": "b"}), "invalid_topics", "topics"),
    ] {
        let r = reply(
            json!({"advice": "Secret advice text.", "outcome": "refer_urgent", "topics": topics}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{topics}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{topics}");
        assert_eq!(body["error"]["field"], field, "{topics}");
    }
    let r = reply(
        json!({"advice": "Secret advice text.", "outcome": "refer_urgent",
                         "topics": ["heart-failure"], "other_topic": "x".repeat(201)}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["field"], "other_topic");
    let case: Value = w.get_json(&w.gp, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["status"], "claimed", "a refused reply changes nothing");
    // The list an API client picks from; unknown specialties are 404.
    let list: Value = w
        .get_json(&w.cardio, "/api/v1/specialties/cardiology/topics")
        .await;
    assert!(list["topics"]
        .as_array()
        .unwrap()
        .contains(&json!({"id": "heart-failure", "label": "Heart failure"})));
    assert_eq!(
        w.get(&w.cardio, "/api/v1/specialties/astrology/topics")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let doc: Value = w.get_json(&w.cardio, "/api/v1/openapi.json").await;
    assert!(doc["paths"]["/api/v1/specialties/{slug}/topics"]["get"].is_object());
    let reply_body = &doc["components"]["schemas"]["ReplyBody"]["properties"];
    assert!(reply_body["topics"]["description"]
        .as_str()
        .unwrap()
        .contains("unknown_topic"));
    assert!(reply_body["other_topic"].is_object());
    let r = reply(
        json!({"advice": "Secret advice text.", "outcome": "refer_urgent",
                         "topics": ["  heart-failure ", "heart-failure", "", "lipids"]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = w
        .report(&w.commissioner, "from=2026-11-23&to=2026-11-23")
        .await;
    assert_eq!(
        r["topics"],
        json!([{"topic": "Heart failure", "cases": 1}, {"topic": "Lipid management", "cases": 1}])
    );
    assert_eq!(r["totals"]["outcomes"]["refer_urgent"], 1);
    assert_eq!(r["totals"]["first_reply"]["median_ms"], ms(1.0));
}

async fn replies_in_the_database(w: &World) -> (i64, i64) {
    let pool = w.app.state.db.pool();
    let tags: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM case_topics")
        .fetch_one(pool)
        .await
        .unwrap();
    let messages: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM case_messages")
        .fetch_one(pool)
        .await
        .unwrap();
    (tags, messages)
}

async fn free_text_topics_are_refused_and_nothing_is_stored(stack: Stack) {
    let w = World::new(stack).await;
    let id = w.open(&w.gp, "dermatology", "routine", PATIENTS[0]).await;
    w.at(1);
    let r = w
        .post(&w.derm_local, &format!("/api/v1/cases/{id}/claim"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // The black-box finding: a patient's name and year of birth as a topic.
    let r = w
        .post_json(
            &w.derm_local,
            &format!("/api/v1/cases/{id}/reply"),
            json!({"advice": "Secret advice text.", "outcome": "manage_in_primary_care",
                   "topics": ["acne", "jane doe 1980"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unknown_topic");
    assert_eq!(body["error"]["field"], "topics");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("'jane doe 1980' is not on the dermatology topic list"),
        "{message}"
    );
    // The same through the reply form, with a forged checkbox value.
    let derm = w.app.browser();
    derm.sign_in("derm1@h.example", PASSWORD).await;
    let csrf = derm.csrf_token(&format!("/cases/{id}")).await;
    let r = derm
        .post_form(
            &format!("/cases/{id}/reply"),
            &[
                ("csrf_token", &csrf),
                ("advice", "Secret advice text."),
                ("outcome", "manage_in_primary_care"),
                ("topics", "jane doe 1980"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("There is a problem") && html.contains("Choose topics from the list only"),
        "{html}"
    );
    assert!(html.contains("Your reply"), "the form is shown again");

    assert_eq!(replies_in_the_database(&w).await, (0, 0), "nothing stored");
    let case: Value = w.get_json(&w.gp, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["status"], "claimed");
    assert_eq!(case["messages"], json!([]));
    let events = aghub::db::audit::recent(&w.app.state.db, 100)
        .await
        .unwrap();
    assert!(!events.iter().any(|e| e.action == "case.replied"));
    w.at(2);
    let r = w.report(&w.commissioner, PERIOD).await;
    assert_eq!(r["topics"], json!([]));
    assert!(!r.to_string().contains("jane"));
}

async fn list_topics_reach_reports_as_labels_and_the_other_topic_never_does(stack: Stack) {
    let w = World::new(stack).await;
    let id = w.open(&w.gp, "dermatology", "routine", PATIENTS[0]).await;
    w.at(1);
    let r = w
        .post(&w.derm_local, &format!("/api/v1/cases/{id}/claim"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = w
        .post_json(
            &w.derm_local,
            &format!("/api/v1/cases/{id}/reply"),
            json!({"advice": "Secret advice text.", "outcome": "refer_two_week_wait",
                   "topics": ["suspected-skin-cancer", "acne"], "other_topic": "jane doe 1980"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let case: Value = r.json().await.unwrap();
    assert_eq!(case["messages"][0]["other_topic"], "jane doe 1980");
    // The other topic stays with the case: its GP sees it in the API and on the page.
    let case: Value = w.get_json(&w.gp, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["messages"][0]["other_topic"], "jane doe 1980");
    let gp = w.app.browser();
    gp.sign_in("gp@a.example", PASSWORD).await;
    assert!(gp
        .get_text(&format!("/cases/{id}"))
        .await
        .contains("Other topic (not in reports): jane doe 1980"));
    w.at(2);

    // Commissioners: labels from the list, never the other topic.
    let r = w.report(&w.commissioner, PERIOD).await;
    assert_eq!(
        r["topics"],
        json!([{"topic": "Acne", "cases": 1}, {"topic": "Suspected skin cancer", "cases": 1}])
    );
    assert!(!r.to_string().contains("jane"), "{r}");
    let csv = w
        .client()
        .get(w.app.url(&format!("/api/v1/reports/turnaround?{PERIOD}")))
        .bearer_auth(&w.commissioner)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!csv.contains("jane"));
    let c = w.app.browser();
    c.sign_in("c@icb.example", PASSWORD).await;
    let html = c.get_text(&format!("/reports?{PERIOD}")).await;
    assert!(html.contains("Suspected skin cancer (1)") && html.contains("Acne"));
    assert!(!html.contains("jane"));
    assert_eq!(
        c.get_text(&format!("/reports.csv?{PERIOD}&table=topics"))
            .await,
        "\u{feff}ODS code,Practice,Topic,Cases\r\nA81001,Practice A81001,Acne,1\r\nA81001,Practice A81001,Suspected skin cancer,1\r\n"
    );
    assert!(!c
        .get_text(&format!("/reports.csv?{PERIOD}"))
        .await
        .contains("jane"));
}

async fn topic_ids(w: &World, specialty: &str) -> Vec<String> {
    let list: Value = w
        .get_json(
            &w.cardio,
            &format!("/api/v1/specialties/{specialty}/topics"),
        )
        .await;
    list["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

async fn admins_add_rename_and_retire_topics(stack: Stack) {
    let w = World::new(stack).await;
    let admin = w.app.browser();
    admin.sign_in("admin@aghub.example", PASSWORD).await;
    assert!(admin
        .get_text("/admin")
        .await
        .contains("href=\"/admin/topics/dermatology\""));
    let page = admin.get_text("/admin/topics/dermatology").await;
    assert!(page.contains("Suspected skin cancer") && page.contains("Benign lesion / mole"));
    let csrf = admin.csrf_token("/admin/topics/dermatology").await;
    let before = topic_ids(&w, "dermatology").await;

    // Refused: no CSRF token; patient details or a duplicate as a name.
    let r = admin
        .post_form("/admin/topics/dermatology", &[("label", "Scabies")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    for (label, says) in [
        ("jane doe 1980", "is not a topic name"),
        ("943 476 5919", "is not a topic name"),
        ("acne", "already has a topic called"),
        ("  ", "Enter the topic"),
    ] {
        let r = admin
            .post_form(
                "/admin/topics/dermatology",
                &[("csrf_token", &csrf), ("label", label)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{label}");
        assert!(r.text().await.unwrap().contains(says), "{label}");
    }
    assert_eq!(topic_ids(&w, "dermatology").await, before);

    // Add, and a reply uses it.
    let r = admin
        .post_form(
            "/admin/topics/dermatology",
            &[("csrf_token", &csrf), ("label", " Scabies ")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"],
        "/admin/topics/dermatology?done=added"
    );
    assert!(topic_ids(&w, "dermatology")
        .await
        .contains(&"scabies".to_string()));
    assert!(!topic_ids(&w, "cardiology")
        .await
        .contains(&"scabies".to_string()));
    let first = w.open(&w.gp, "dermatology", "routine", PATIENTS[0]).await;
    let second = w.open(&w.gp, "dermatology", "routine", PATIENTS[1]).await;
    w.at(1);
    w.answer(
        &w.derm_local,
        &first,
        "manage_in_primary_care",
        &["scabies"],
    )
    .await;

    // Rename keeps the id; retire takes it off the list and out of replies.
    let r = admin
        .post_form(
            "/admin/topics/dermatology/scabies/rename",
            &[("csrf_token", &csrf), ("label", "Scabies and lice")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = admin
        .post_form(
            "/admin/topics/dermatology/scabies/retire",
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(topic_ids(&w, "dermatology").await, before);
    let page = admin.get_text("/admin/topics/dermatology").await;
    assert!(page.contains("Retired topics") && page.contains("Scabies and lice"));
    let r = w
        .post(&w.derm_local, &format!("/api/v1/cases/{second}/claim"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = w
        .post_json(
            &w.derm_local,
            &format!("/api/v1/cases/{second}/reply"),
            json!({"advice": "Secret advice text.", "outcome": "manage_in_primary_care", "topics": ["scabies"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(r).await, "unknown_topic");
    // History stays readable: the earlier case still counts, under the topic's last name.
    w.at(2);
    let r = w.report(&w.commissioner, PERIOD).await;
    assert_eq!(
        r["topics"],
        json!([{"topic": "Scabies and lice", "cases": 1}])
    );

    // Not for anyone else, even with a valid form token.
    let derm = w.app.browser();
    derm.sign_in("derm1@h.example", PASSWORD).await;
    assert_eq!(
        derm.get("/admin/topics/dermatology").await.status(),
        StatusCode::FORBIDDEN
    );
    let their_csrf = derm.csrf_token("/queue").await;
    for path in [
        "/admin/topics/dermatology",
        "/admin/topics/dermatology/acne/rename",
        "/admin/topics/dermatology/acne/retire",
    ] {
        let r = derm
            .post_form(path, &[("csrf_token", &their_csrf), ("label", "Warts")])
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(topic_ids(&w, "dermatology").await, before);

    // Every change audited, by the admin, against the specialty.
    let admin_id = aghub::db::users::id_by_email(&w.app.state.db, "admin@aghub.example")
        .await
        .unwrap();
    let events = aghub::db::audit::recent(&w.app.state.db, 200)
        .await
        .unwrap();
    for action in ["topic.added", "topic.renamed", "topic.retired"] {
        let found: Vec<_> = events.iter().filter(|e| e.action == action).collect();
        assert_eq!(found.len(), 1, "{action}");
        assert_eq!(found[0].actor_id.as_deref(), Some(admin_id.as_str()));
        assert_eq!(found[0].subject_id.as_deref(), Some("dermatology"));
    }
}

/// Migration 0006 on an installation that already has free-text tags: text equal to a label (or
/// slug) of the case's specialty becomes that topic; anything else moves to the reply's other
/// topic, out of the reports.
async fn existing_free_text_tags_are_mapped_or_moved_out_of_reports(stack: Stack) {
    use aghub::db::{self, reports as rdb};
    let backends = crate::helpers::Backends::new(stack).await;
    let db = db::Db::connect(&backends.database_url).await.unwrap();
    // The migrations before 0006, as an older installation ran them.
    crate::helpers::migrate_before(&backends, &db, "0006").await;

    let practice = db::practices::insert(&db, "A81001", "Practice A81001", T0)
        .await
        .unwrap();
    let gp =
        crate::helpers::insert_old_user(&db, "gp@a.example", Role::Gp, Some(practice.id.as_str()))
            .await;
    let consultant =
        crate::helpers::insert_old_user(&db, "derm1@h.example", Role::Consultant, None).await;
    let case_id = db::new_id();
    crate::helpers::insert_old_case(
        &db,
        &case_id,
        &practice.id,
        &gp,
        "dermatology",
        PATIENTS[0],
        "routine",
        T0,
    )
    .await;
    let replied = T0 + H;
    sqlx::query(
        "INSERT INTO case_messages (id, case_id, author_id, kind, body, outcome, created_at_ms) \
         VALUES ($1, $2, $3, 'reply', 'Advice.', 'manage_in_primary_care', $4)",
    )
    .bind(db::new_id())
    .bind(&case_id)
    .bind(&consultant)
    .bind(replied)
    .execute(db.pool())
    .await
    .unwrap();
    // As the old reply stored them: lower case, free text. 'ecg' is a cardiology topic.
    for topic in ["eczema", "psoriasis", "jane doe 1980", "ecg"] {
        sqlx::query(
            "INSERT INTO case_topics (case_id, topic, practice_id, specialty, tagged_at_ms) \
             VALUES ($1, $2, $3, 'dermatology', $4)",
        )
        .bind(&case_id)
        .bind(topic)
        .bind(&practice.id)
        .bind(replied)
        .execute(db.pool())
        .await
        .unwrap();
    }

    db.migrate().await.unwrap();

    let mut tags: Vec<String> = sqlx::query_scalar("SELECT topic FROM case_topics")
        .fetch_all(db.pool())
        .await
        .unwrap();
    tags.sort();
    assert_eq!(tags, ["eczema", "psoriasis"]);
    let messages = db::cases::messages(&db, &case_id).await.unwrap();
    let other = messages[0].other_topic.clone().unwrap_or_default();
    assert!(
        other.contains("jane doe 1980") && other.contains("ecg"),
        "{other}"
    );
    let counts = rdb::topic_counts(
        &db,
        &rdb::Filter {
            from_ms: T0 - 24 * H,
            to_ms: T0 + 24 * H,
            specialty: None,
            practice_id: None,
            icb_id: None,
        },
        true,
    )
    .await
    .unwrap();
    let mut labels: Vec<&str> = counts.iter().map(|c| c.topic.as_str()).collect();
    labels.sort();
    assert_eq!(labels, ["Eczema", "Psoriasis"]);
    // Every specialty starts with a list.
    for s in db::specialties::list(&db).await.unwrap() {
        let list = db::topics::list(&db, &s.slug).await.unwrap();
        assert!(list.len() >= 10, "{} has {} topics", s.slug, list.len());
    }
    db.close().await;
}

/// The demo world (`aghub serve --demo`) on the new lists: a demo consultant tags a demo case
/// from the dermatology list and the reports show the label.
async fn the_demo_world_replies_with_list_topics(stack: Stack) {
    use crate::helpers::{Backends, TestApp};
    let backends = Backends::new(stack).await;
    let app = TestApp::start(&backends).await;
    aghub::demo::seed(&app.state).await.unwrap();
    let db = &app.state.db;
    let fiona = aghub::db::users::id_by_email(db, "fiona.reid@hospital.example")
        .await
        .unwrap();
    let fiona = app.token_for(&fiona).await;
    let api = app.api();
    let queue: Value = api
        .get(app.url("/api/v1/queue"))
        .bearer_auth(&fiona)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // "Psoriasis or eczema?"
    let case = queue["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["nhs_number"] == "9990000034")
        .expect("demo case 3 in the queue");
    let id = case["id"].as_str().unwrap();
    let r = api
        .post(app.url(&format!("/api/v1/cases/{id}/claim")))
        .bearer_auth(&fiona)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = api
        .post(app.url(&format!("/api/v1/cases/{id}/reply")))
        .bearer_auth(&fiona)
        .json(
            &json!({"advice": "Plaque psoriasis: start a potent steroid with vitamin D.",
                      "outcome": "manage_in_primary_care", "topics": ["psoriasis"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let c = app
        .add_user("c@icb.example", Role::Commissioner, None, &[])
        .await;
    let c = app.token_for(&c).await;
    let report: Value = api
        .get(app.url(&format!("/api/v1/reports/turnaround?{PERIOD}")))
        .bearer_auth(&c)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        report["topics"],
        json!([{"topic": "Psoriasis", "cases": 1}])
    );
}

/// `aghub serve --demo`'s history, three weeks of it: what a commissioner checks through the API
/// (cases every week, answered and closed, the national pool, requests for information, redirects,
/// referrals converted and left to the GP, confirmed late or overdue now, several specialties and
/// practices, list topics); the day tables against the facts and a replay of the audit trail;
/// and a second run that adds nothing.
async fn the_demo_history_gives_a_commissioner_weeks_of_figures(stack: Stack) {
    use crate::helpers::{Backends, TestApp};
    use aghub::clock::Clock;
    use aghub::demo::HistorySize;
    let backends = Backends::new(stack).await;
    let app = TestApp::start(&backends).await;
    aghub::demo::seed(&app.state).await.unwrap();
    let size = HistorySize {
        weeks: 3,
        cases: 60,
    };
    let cases = aghub::demo::seed_history(&app.state, size)
        .await
        .unwrap()
        .expect("a fresh demo database gets its history");
    assert!((50..=60).contains(&cases), "{cases} cases");
    assert_eq!(
        aghub::demo::seed_history(&app.state, size).await.unwrap(),
        None,
        "the history is seeded once"
    );
    assert_eq!(app.clock.now_ms(), T0, "the app's own clock did not move");

    let jo = aghub::db::users::id_by_email(&app.state.db, "jo.walker@icb.example")
        .await
        .unwrap();
    let jo = app.token_for(&jo).await;
    // The three whole weeks before T0's: Monday 2 to Sunday 22 November 2026.
    let r: Value = app
        .api()
        .get(app.url("/api/v1/reports/turnaround?from=2026-11-02&to=2026-11-22"))
        .bearer_auth(&jo)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let weeks = r["weeks"].as_array().unwrap();
    assert_eq!(weeks.len(), 3);
    for w in weeks {
        assert!(w["figures"]["submitted"].as_i64().unwrap() > 0, "{w}");
    }
    let t = &r["totals"];
    let n = |v: &Value| v.as_i64().unwrap();
    assert!(n(&t["submitted"]) >= 45, "{t}");
    assert!(n(&t["answered"]) > 0 && n(&t["closed"]) > 0, "{t}");
    assert!(n(&t["first_reply"]["within_target"]) > 0, "{t}");
    assert!(n(&t["national_pool"]) > 0, "{t}");
    assert!(n(&t["information_requested"]) > 0, "{t}");
    assert!(n(&t["outcomes"]["redirect_specialty"]) > 0, "{t}");
    assert!(n(&t["outcomes"]["manage_in_primary_care"]) > 0, "{t}");
    let referrals = n(&t["outcomes"]["refer_routine"])
        + n(&t["outcomes"]["refer_urgent"])
        + n(&t["outcomes"]["refer_two_week_wait"]);
    assert!(n(&t["converted"]) > 0, "{t}");
    assert!(referrals > n(&t["converted"]), "some left to the GP: {t}");
    assert!(n(&t["gp_referrals_made_late"]) > 0, "{t}");
    assert!(n(&r["gp_referrals_overdue_now"]) > 0, "{r}");
    assert!(r["specialties"].as_array().unwrap().len() >= 4, "{r}");
    assert!(r["practices"].as_array().unwrap().len() >= 4, "{r}");
    assert!(!r["topics"].as_array().unwrap().is_empty(), "{r}");

    // From before the history to after the demo's own cases (submitted at T0).
    let db = &app.state.db;
    let (_, stored) = check_derived_tables(db, T0 - 22 * 24 * H, T0 + 24 * H, "dermatology").await;
    assert_eq!(
        stored.len(),
        cases + 5,
        "the history and the demo's five cases"
    );
}
