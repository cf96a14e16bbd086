//! Existing installations upgrade in place: a database built with the schema before migration
//! 0007 (its report tables kept by that schema's triggers) and filled as the service of that time
//! filled it, then opened by today's service, keeps every case, message, photo, audit row and
//! report figure.

use std::collections::BTreeMap;

use aghub::db::{self, reports as rdb, Db};
use aghub::domain::reports::{Counts, DayCell};
use aghub::domain::Role;
use serde_json::json;
use sqlx::{Column, Row};

use crate::helpers::{
    insert_old_case, insert_old_user, migrate_before, Backends, Stack, TestApp, T0,
};

on_both_stacks!(an_installation_at_schema_6_upgrades_in_place_with_every_figure_unchanged);

const H: i64 = 3_600_000;
const PATIENTS: [&str; 5] = [
    "9990000018",
    "9990000026",
    "9990000034",
    "9990000042",
    "9990000050",
];

/// Every row of a table, each column as text (NULL as "∅"), sorted.
async fn dump(db: &Db, table: &str) -> Vec<BTreeMap<String, String>> {
    let rows = sqlx::query(&format!("SELECT * FROM {table}"))
        .fetch_all(db.pool())
        .await
        .unwrap();
    let mut out: Vec<BTreeMap<String, String>> = rows
        .iter()
        .map(|r| {
            r.columns()
                .iter()
                .map(|c| {
                    let i = c.ordinal();
                    let text = r
                        .try_get::<Option<i64>, _>(i)
                        .map(|v| v.map(|v| v.to_string()))
                        .or_else(|_| r.try_get::<Option<String>, _>(i))
                        .or_else(|_| {
                            r.try_get::<Option<f64>, _>(i)
                                .map(|v| v.map(|v| v.to_string()))
                        })
                        .unwrap_or_else(|e| panic!("{table}.{}: {e}", c.name()));
                    (c.name().to_string(), text.unwrap_or_else(|| "∅".into()))
                })
                .collect()
        })
        .collect();
    out.sort();
    out
}

/// `report_specialty_days` as stored, each duration list sorted (the order values were appended
/// in is not a figure).
async fn raw_specialty_cells(db: &Db) -> Vec<BTreeMap<String, String>> {
    let mut rows = dump(db, "report_specialty_days").await;
    for row in &mut rows {
        for (column, value) in row.iter_mut() {
            if column.ends_with("_list") {
                let mut values: Vec<i64> =
                    value.split(',').filter_map(|v| v.parse().ok()).collect();
                values.sort_unstable();
                *value = format!("{values:?}");
            }
        }
    }
    rows.sort();
    rows
}

/// The day cells with their duration lists in a fixed order (the order values were appended in
/// is not a figure).
async fn specialty_cells(db: &Db) -> Vec<DayCell> {
    let mut cells = rdb::rollup_days(
        db,
        rdb::Rollup::Specialty,
        &rdb::Filter {
            from_ms: 0,
            to_ms: i64::MAX,
            specialty: None,
            practice_id: None,
            icb_id: None,
        },
    )
    .await
    .unwrap();
    for c in &mut cells {
        c.first_reply_ms.sort_unstable();
        c.to_close_ms.sort_unstable();
        c.awaiting_gp_ms.sort_unstable();
    }
    cells.sort_by(|a, b| (&a.key, a.day_ms).cmp(&(&b.key, b.day_ms)));
    cells
}

enum Step {
    Created,
    Replied {
        outcome: &'static str,
        pool: Option<&'static str>,
    },
    Responded,
}

/// 42 cases over 12 days, in seven patterns: open; a request for information answered then
/// advice; two-week-wait by the national pool; a request still waiting; advice after the
/// target; urgent referral from a consultant whose shift had ended; a redirect. Five patients,
/// so advice in primary care is followed by re-presentations.
fn history() -> Vec<(i64, usize, Step)> {
    let mut steps = Vec::new();
    for k in 0..42usize {
        let at = T0 + k as i64 * 7 * H;
        steps.push((at, k, Step::Created));
        let reply = |h: i64, outcome, pool| (at + h * H, k, Step::Replied { outcome, pool });
        match k % 7 {
            1 => {
                steps.push(reply(3, "request_information", Some("local")));
                steps.push((at + 10 * H, k, Step::Responded));
                steps.push(reply(20, "manage_in_primary_care", Some("local")));
            }
            2 => steps.push(reply(5, "refer_two_week_wait", Some("national"))),
            3 => steps.push(reply(2, "request_information", Some("local"))),
            4 => steps.push(reply(60, "manage_in_primary_care", Some("local"))),
            5 => steps.push(reply(1, "refer_urgent", None)),
            6 => steps.push(reply(4, "redirect_specialty", Some("local"))),
            _ => {}
        }
    }
    steps.sort_by_key(|(at, k, _)| (*at, *k));
    steps
}

async fn audit(
    db: &Db,
    at: i64,
    actor: &str,
    action: &str,
    case_id: &str,
    detail: serde_json::Value,
) {
    sqlx::query(
        "INSERT INTO audit_events (id, at_ms, actor_id, action, case_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(db::new_id())
    .bind(at)
    .bind(actor)
    .bind(action)
    .bind(case_id)
    .bind(detail.to_string())
    .execute(db.pool())
    .await
    .unwrap();
}

async fn fill_as_schema_6_did(db: &Db) {
    let mut gps = Vec::new();
    for ods in ["A81001", "B82002"] {
        let practice = db::practices::insert(db, ods, ods, T0).await.unwrap();
        let email = if ods == "A81001" {
            "gp@a.example"
        } else {
            "gp@b.example"
        };
        gps.push((
            practice.id.clone(),
            insert_old_user(db, email, Role::Gp, Some(&practice.id)).await,
        ));
    }
    let consultant = insert_old_user(db, "derm@h.example", Role::Consultant, None).await;
    let mut ids = Vec::new();
    for (at, k, step) in history() {
        let (practice, gp) = &gps[k % 2];
        let specialty = if k % 3 == 0 {
            "cardiology"
        } else {
            "dermatology"
        };
        match step {
            Step::Created => {
                let id = db::new_id();
                let urgency = if k % 4 == 0 { "urgent" } else { "routine" };
                let patient = PATIENTS[k % PATIENTS.len()];
                insert_old_case(db, &id, practice, gp, specialty, patient, urgency, at).await;
                if specialty == "dermatology" {
                    let photo = db::new_id();
                    sqlx::query(
                        "INSERT INTO photos (id, case_id, position, kind, body_site, warnings, created_at_ms) \
                         VALUES ($1, $2, 0, 'site', 'left forearm', '[]', $3)",
                    )
                    .bind(&photo)
                    .bind(&id)
                    .bind(at)
                    .execute(db.pool())
                    .await
                    .unwrap();
                    for size in ["full", "display", "thumb"] {
                        sqlx::query(
                            "INSERT INTO photo_objects (photo_id, size, object_key, content_type, width, height, byte_size, sha256) \
                             VALUES ($1, $2, $3, 'image/jpeg', 640, 480, 1000, 'ab')",
                        )
                        .bind(&photo)
                        .bind(size)
                        .bind(format!("cases/{id}/{photo}/{size}.jpg"))
                        .execute(db.pool())
                        .await
                        .unwrap();
                    }
                }
                audit(
                    db,
                    at,
                    gp,
                    "case.created",
                    &id,
                    json!({ "specialty": specialty, "urgency": urgency, "photos": 1 }),
                )
                .await;
                ids.push(id);
            }
            Step::Replied { outcome, pool } => {
                let id = &ids[k];
                let status = if outcome == "request_information" {
                    "awaiting_gp"
                } else {
                    "closed"
                };
                sqlx::query(
                    "INSERT INTO case_messages (id, case_id, author_id, kind, body, outcome, created_at_ms) \
                     VALUES ($1, $2, $3, 'reply', 'Advice.', $4, $5)",
                )
                .bind(db::new_id())
                .bind(id)
                .bind(&consultant)
                .bind(outcome)
                .bind(at)
                .execute(db.pool())
                .await
                .unwrap();
                sqlx::query(
                    "UPDATE cases SET status = $1, outcome = $2, answered_at_ms = $3 WHERE id = $4",
                )
                .bind(status)
                .bind(outcome)
                .bind(at)
                .bind(id)
                .execute(db.pool())
                .await
                .unwrap();
                if status == "closed" && specialty == "dermatology" {
                    sqlx::query(
                        "INSERT INTO case_topics (case_id, topic, practice_id, specialty, tagged_at_ms) \
                         VALUES ($1, 'eczema', $2, 'dermatology', $3)",
                    )
                    .bind(id)
                    .bind(practice)
                    .bind(at)
                    .execute(db.pool())
                    .await
                    .unwrap();
                }
                audit(
                    db,
                    at,
                    &consultant,
                    "case.replied",
                    id,
                    json!({ "outcome": outcome, "status": status, "pool": pool, "topics": 1 }),
                )
                .await;
            }
            Step::Responded => {
                let id = &ids[k];
                sqlx::query(
                    "INSERT INTO case_messages (id, case_id, author_id, kind, body, created_at_ms) \
                     VALUES ($1, $2, $3, 'gp_response', 'Response.', $4)",
                )
                .bind(db::new_id())
                .bind(id)
                .bind(gp)
                .bind(at)
                .execute(db.pool())
                .await
                .unwrap();
                audit(db, at, gp, "case.responded", id, json!({ "photos": 0 })).await;
            }
        }
    }
}

const KEPT: [&str; 9] = [
    "cases",
    "case_messages",
    "photos",
    "photo_objects",
    "audit_events",
    "case_topics",
    "case_facts",
    "report_practice_days",
    "practices",
];

async fn an_installation_at_schema_6_upgrades_in_place_with_every_figure_unchanged(stack: Stack) {
    let backends = Backends::new(stack).await;
    let db = Db::connect(&backends.database_url).await.unwrap();
    migrate_before(&backends, &db, "0007").await;
    fill_as_schema_6_did(&db).await;

    let mut before = BTreeMap::new();
    for table in KEPT {
        before.insert(table, dump(&db, table).await);
    }
    // Read raw: today's code reads figures that schema 6 did not have.
    let cells_before = raw_specialty_cells(&db).await;
    let period = rdb::Filter {
        from_ms: T0 - 24 * H,
        to_ms: T0 + 400 * H,
        specialty: None,
        practice_id: None,
        icb_id: None,
    };
    let facts = &before["case_facts"];
    assert_eq!(facts.len(), 42, "schema 6's triggers kept a row per case");
    let represented = facts
        .iter()
        .filter(|f| f["represented_at_ms"] != "∅")
        .count();
    assert!(
        represented >= 3,
        "the data has re-presentations: {represented}"
    );
    db.close().await;

    // Today's service opens it: migration 0007, then the figures' flags from the facts.
    let app = TestApp::start(&backends).await;
    let db = &app.state.db;
    for table in KEPT {
        let after = dump(db, table).await;
        let mut after: Vec<BTreeMap<String, String>> = after
            .into_iter()
            .map(|mut row| {
                row.retain(|column, _| before[table][0].contains_key(column));
                row
            })
            .collect();
        after.sort();
        assert_eq!(after, before[table], "{table} unchanged");
    }
    let cells_after: Vec<_> = raw_specialty_cells(db)
        .await
        .into_iter()
        .map(|mut row| {
            row.retain(|column, _| cells_before[0].contains_key(column));
            row
        })
        .collect();
    assert_eq!(cells_after, cells_before, "report_specialty_days unchanged");
    let cells = specialty_cells(db).await;
    let mut total = Counts::default();
    for c in &cells {
        total.add(&c.counts);
    }
    assert!(
        total.national_pool > 0
            && total.awaiting_gp > 0
            && total.closed_in_target < total.closed
            && cells.iter().any(|c| !c.awaiting_gp_ms.is_empty()),
        "the data exercises the national pool, targets and the wait for the GP: {total:?}"
    );

    // Every case now carries its figures, as the domain counts them.
    let flags: BTreeMap<String, Option<i64>> =
        sqlx::query_as::<_, (String, Option<i64>)>("SELECT case_id, flags FROM case_facts")
            .fetch_all(db.pool())
            .await
            .unwrap()
            .into_iter()
            .collect();
    let all = rdb::facts(db, &period).await.unwrap();
    assert_eq!(all.len(), 42);
    for f in &all {
        assert_eq!(
            flags[&f.case_id],
            Some(Counts::of(f).flags()),
            "{}",
            f.case_id
        );
    }
    // The filtered paths, which sum those flags, give what the day tables give.
    for specialty in ["cardiology", "dermatology"] {
        let filtered = rdb::Filter {
            specialty: Some(specialty),
            ..period
        };
        let mut by_flags = Counts::default();
        for p in rdb::practice_counts(db, &filtered).await.unwrap() {
            by_flags.add(&p.counts);
        }
        let mut by_days = Counts::default();
        for c in cells.iter().filter(|c| c.key == specialty) {
            by_days.add(&c.counts);
        }
        assert_eq!(by_flags, by_days, "{specialty}");
    }
    app.stop().await;
}
