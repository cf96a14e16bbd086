//! Across an ICS (issue 15): ICBs and trusts, practices imported from the NHS ODS epraccur file
//! (adds, updates, skips, refuses bad files whole), list sizes, and commissioners who see their
//! own ICB's figures only while the national view sees every ICB side by side.

use reqwest::StatusCode;
use serde_json::Value;

use crate::cases::{case_form, World};
use crate::cli::{aghub, fails_with, ok};
use crate::helpers::{Backends, Stack, PASSWORD, T0};
use aghub::db::organisations as orgs;
use aghub::service::{accounts, organisations, Actor};

on_both_stacks!(
    epraccur_import_adds_updates_skips_and_refuses_bad_files_whole,
    a_commissioner_sees_their_own_icbs_figures_and_the_nation_sees_all,
    local_rotas_serve_their_own_icb_and_the_national_pool_every_icb,
    an_icb_sets_its_own_targets_and_escalation_window,
);

/// One row of epraccur.csv as NHS Digital publishes it: no header, 27 quoted columns.
fn row(code: &str, name: &str, icb: &str, close: &str, status: &str, setting: &str) -> String {
    format!(
        "\"{code}\",\"{name}\",\"Y61\",\"{icb}\",\"THE HEALTH CENTRE\",\"1 HIGH STREET\",\"LUTON\",\"BEDFORDSHIRE\",\"\",\"LU1 1AA\",\"19740401\",\"{close}\",\"{status}\",\"B\",\"M1J4Y\",\"20220701\",\"\",\"01582 000000\",\"\",\"\",\"\",\"0\",\"\",\"M1J4Y\",\"\",\"{setting}\",\"\"\r\n"
    )
}

fn write(b: &Backends, name: &str, text: &str) -> String {
    let path = b.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

async fn practices(b: &Backends) -> Vec<(String, String, Option<String>, Option<i64>)> {
    let db = b.db().await;
    let icbs = orgs::list(&db).await.unwrap();
    let mut all: Vec<_> = aghub::db::practices::list(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|p| {
            let icb = p
                .icb_id
                .and_then(|id| icbs.iter().find(|o| o.id == id).map(|o| o.ods_code.clone()));
            (p.ods_code, p.name, icb, p.list_size)
        })
        .collect();
    all.sort();
    all
}

async fn epraccur_import_adds_updates_skips_and_refuses_bad_files_whole(stack: Stack) {
    let b = Backends::new(stack).await;
    ok(&aghub(&b, &["migrate"], None));
    ok(&aghub(
        &b,
        &[
            "org",
            "add",
            "--ods",
            "QHG",
            "--name",
            "NHS Bedfordshire, Luton and Milton Keynes ICB",
            "--kind",
            "icb",
        ],
        None,
    ));
    ok(&aghub(
        &b,
        &[
            "org",
            "add",
            "--ods",
            "qwe",
            "--name",
            "NHS South West London ICB",
            "--kind",
            "icb",
        ],
        None,
    ));
    ok(&aghub(
        &b,
        &[
            "org",
            "add",
            "--ods",
            "RC9",
            "--name",
            "Bedfordshire Hospitals NHS Foundation Trust",
            "--kind",
            "trust",
            "--icb",
            "QHG",
        ],
        None,
    ));
    fails_with(
        &aghub(
            &b,
            &[
                "org", "add", "--ods", "QHG", "--name", "Again", "--kind", "icb",
            ],
            None,
        ),
        "already exists",
    );
    fails_with(
        &aghub(
            &b,
            &["org", "add", "--ods", "X11", "--name", "X", "--kind", "ccg"],
            None,
        ),
        "neither icb nor trust",
    );
    fails_with(
        &aghub(
            &b,
            &[
                "org", "add", "--ods", "RD8", "--name", "MK", "--kind", "trust", "--icb", "RC9",
            ],
            None,
        ),
        "RC9 is a trust, not an ICB",
    );

    let file = [
        row("E81001", "THE CHASE SURGERY", "QHG", "", "A", "4"),
        row("H85001", "BALHAM PARK SURGERY", "QWE", "", "ACTIVE", "RO76"),
        row("E81002", "CLOSED SURGERY", "QHG", "20200331", "C", "4"),
        row("E81003", "LUTON OUT OF HOURS", "QHG", "", "A", "2"),
        row("Y01234", "HMP BEDFORD", "QHG", "", "A", "25"),
    ]
    .concat();
    let path = write(&b, "epraccur.csv", &file);
    let out = ok(&aghub(
        &b,
        &["practice", "import", "--epraccur", &path],
        None,
    ));
    assert_eq!(
        out.trim(),
        "practices: 2 added, 0 updated, 0 unchanged; skipped 1 not active and 2 not GP practices"
    );
    let want = vec![
        (
            "E81001".to_string(),
            "THE CHASE SURGERY".to_string(),
            Some("QHG".to_string()),
            None,
        ),
        (
            "H85001".to_string(),
            "BALHAM PARK SURGERY".to_string(),
            Some("QWE".to_string()),
            None,
        ),
    ];
    assert_eq!(practices(&b).await, want);
    // Idempotent; then a renamed practice is updated, not doubled.
    let out = ok(&aghub(
        &b,
        &["practice", "import", "--epraccur", &path],
        None,
    ));
    assert_eq!(
        out.trim(),
        "practices: 0 added, 0 updated, 2 unchanged; skipped 1 not active and 2 not GP practices"
    );
    let renamed = file.replace("THE CHASE SURGERY", "THE CHASE MEDICAL CENTRE");
    let out = ok(&aghub(
        &b,
        &[
            "practice",
            "import",
            "--epraccur",
            &write(&b, "renamed.csv", &renamed),
        ],
        None,
    ));
    assert!(
        out.starts_with("practices: 0 added, 1 updated, 1 unchanged"),
        "{out}"
    );
    assert_eq!(practices(&b).await[0].1, "THE CHASE MEDICAL CENTRE");

    // A file with bad rows: each named, nothing imported (not even its good rows).
    let bad = [
        row("E81009", "NEW SURGERY", "QHG", "", "A", "4"),
        "\"E81010\",\"SHORT ROW\"\r\n".to_string(),
        row("E81011", "BAD DATE", "QHG", "31/03/2020", "C", "4"),
    ]
    .concat();
    let out = aghub(
        &b,
        &[
            "practice",
            "import",
            "--epraccur",
            &write(&b, "bad.csv", &bad),
        ],
        None,
    );
    fails_with(
        &out,
        "nothing imported: 2 line(s) cannot be read: line 2: 2 columns where epraccur.csv has 27",
    );
    fails_with(
        &out,
        "line 3: E81011: the close date (column 12) '31/03/2020' is not a date",
    );
    // An ICB aghub does not know: refused whole, with the way to fix it.
    let unknown = [
        row("E81009", "NEW SURGERY", "QHG", "", "A", "4"),
        row("A81005", "FAR AWAY", "QHM", "", "A", "4"),
    ]
    .concat();
    let out = aghub(
        &b,
        &[
            "practice",
            "import",
            "--epraccur",
            &write(&b, "unknown.csv", &unknown),
        ],
        None,
    );
    fails_with(
        &out,
        "ICBs aghub does not know: QHM (1 practices); add each with aghub org add",
    );
    fails_with(
        &aghub(
            &b,
            &["practice", "import", "--epraccur", "/no/such/epraccur.csv"],
            None,
        ),
        "reading /no/such/epraccur.csv",
    );
    assert_eq!(practices(&b).await.len(), 2, "nothing half-imported");

    // List sizes, from NHS England's registered-patients file.
    let sizes = "PUBLICATION,EXTRACT_DATE,TYPE,SUB_ICB_LOCATION_CODE,ONS_SUB_ICB_LOCATION_CODE,CODE,POSTCODE,SEX,AGE,NUMBER_OF_PATIENTS\r\n\
        GP_PRAC_PAT_LIST,2026-11-01,GP,M1J4Y,E38000249,E81001,LU1 1AA,ALL,ALL,9876\r\n\
        GP_PRAC_PAT_LIST,2026-11-01,GP,M1J4Y,E38000249,E81001,LU1 1AA,MALE,ALL,4800\r\n\
        GP_PRAC_PAT_LIST,2026-11-01,GP,36L,E38000245,H85001,SW12 9AA,ALL,ALL,12034\r\n\
        GP_PRAC_PAT_LIST,2026-11-01,GP,36L,E38000245,H85999,SW1 1AA,ALL,ALL,4000\r\n";
    let out = ok(&aghub(
        &b,
        &[
            "practice",
            "import",
            "--list-sizes",
            &write(&b, "sizes.csv", sizes),
        ],
        None,
    ));
    assert_eq!(out.trim(), "list sizes: 2 practices set, 1 not in aghub");
    let listed: Vec<_> = practices(&b).await.into_iter().map(|p| p.3).collect();
    assert_eq!(listed, [Some(9876), Some(12034)]);

    // Who belongs where: a commissioner to an ICB, a consultant to a trust.
    let pw = Some("a long enough password");
    ok(&aghub(
        &b,
        &[
            "user",
            "add",
            "--email",
            "icb@blmk.nhs.uk",
            "--name",
            "BLMK",
            "--role",
            "commissioner",
            "--org",
            "QHG",
        ],
        pw,
    ));
    ok(&aghub(
        &b,
        &[
            "user",
            "add",
            "--email",
            "derm@bedfordshire.nhs.uk",
            "--name",
            "Derm",
            "--role",
            "consultant",
            "--specialty",
            "dermatology",
            "--org",
            "RC9",
        ],
        pw,
    ));
    fails_with(
        &aghub(
            &b,
            &[
                "user",
                "add",
                "--email",
                "x@blmk.nhs.uk",
                "--name",
                "X",
                "--role",
                "commissioner",
                "--org",
                "RC9",
            ],
            pw,
        ),
        "RC9 is a trust, and a commissioner belongs to an icb",
    );
    fails_with(
        &aghub(
            &b,
            &[
                "user",
                "add",
                "--email",
                "y@blmk.nhs.uk",
                "--name",
                "Y",
                "--role",
                "gp",
                "--practice",
                "E81001",
                "--org",
                "QHG",
            ],
            pw,
        ),
        "--org is only for consultant",
    );
    fails_with(
        &aghub(
            &b,
            &[
                "user",
                "add",
                "--email",
                "z@blmk.nhs.uk",
                "--name",
                "Z",
                "--role",
                "commissioner",
                "--org",
                "QXX",
            ],
            pw,
        ),
        "no organisation with ODS code QXX",
    );
    ok(&aghub(
        &b,
        &[
            "practice",
            "add",
            "--ods",
            "E81020",
            "--name",
            "Added by hand",
            "--icb",
            "QHG",
        ],
        None,
    ));
    assert_eq!(practices(&b).await[1].2.as_deref(), Some("QHG"));
}

/// A commissioner of one ICB, with a token and a signed-in browser.
/// A commissioner of one ICB, or (`None`) with the national view.
async fn commissioner_of(w: &World, icb: Option<&str>) -> (String, crate::helpers::Browser) {
    let db = &w.app.state.db;
    let email = format!(
        "commissioner@{}.nhs.uk",
        icb.unwrap_or("national").to_lowercase()
    );
    let account = accounts::check_account(
        db,
        accounts::NewAccount {
            email: &email,
            name: "ICB commissioner",
            role: aghub::domain::Role::Commissioner,
            practice_ods: None,
            org_ods: icb,
            specialties: &[],
        },
    )
    .await
    .unwrap();
    let hash = aghub::service::auth::hash_password(PASSWORD).unwrap();
    let id = accounts::add_user(db, Actor::CommandLine, &account, &hash, T0)
        .await
        .unwrap();
    let token = w.app.token_for(id.as_str()).await;
    let browser = w.app.browser();
    assert!(browser
        .sign_in(&email, PASSWORD)
        .await
        .status()
        .is_redirection());
    (token, browser)
}

const PERIOD: &str = "from=2026-11-23&to=2026-12-06";

async fn a_commissioner_sees_their_own_icbs_figures_and_the_nation_sees_all(stack: Stack) {
    let w = World::new(stack).await;
    let db = &w.app.state.db;
    for (ods, name) in [
        ("QHG", "NHS Bedfordshire, Luton and Milton Keynes ICB"),
        ("QWE", "NHS South West London ICB"),
    ] {
        organisations::add(db, Actor::CommandLine, ods, name, "icb", None, T0)
            .await
            .unwrap();
    }
    // A case before the practice has an ICB: it counts for the ICB the practice then joins.
    let mut case_ids = Vec::new();
    let first = w.submit(&w.gp, case_form("cardiology", "routine", 0)).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    case_ids.push(
        first.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    // The World's two practices, placed in two ICBs by the import, with list sizes.
    let file = [
        row("A81001", "Practice A81001", "QHG", "", "A", "4"),
        row("B82002", "Practice B82002", "QWE", "", "A", "4"),
    ]
    .concat();
    let report = organisations::import_epraccur(db, Actor::CommandLine, file.as_bytes(), T0)
        .await
        .unwrap();
    assert_eq!((report.added, report.updated), (0, 2));
    let sizes = "CODE,SEX,AGE,NUMBER_OF_PATIENTS\nA81001,ALL,ALL,5000\nB82002,ALL,ALL,2000\n";
    organisations::import_list_sizes(db, Actor::CommandLine, sizes.as_bytes(), T0)
        .await
        .unwrap();
    for token in [&w.gp, &w.gp_other_practice] {
        let r = w.submit(token, case_form("cardiology", "routine", 0)).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        case_ids.push(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // Replies (as the reply path applies them to the figures), so that the ICBs have medians.
    for (i, id) in case_ids.iter().enumerate() {
        let mut tx = db.begin().await.unwrap();
        aghub::service::case_facts::apply(
            &mut tx,
            id,
            aghub::domain::reports::CaseEvent::Replied {
                at_ms: w.app.state.now_ms() + (i as i64 + 1) * 3_600_000,
                outcome: aghub::domain::Outcome::ManageInPrimaryCare,
                pool: None,
                converted: false,
                referral_due_at_ms: None,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    let (blmk, blmk_browser) = commissioner_of(&w, Some("QHG")).await;
    let get = |token: &str, query: String| {
        let w = &w;
        let token = token.to_string();
        async move {
            w.get(&token, &format!("/api/v1/reports/turnaround?{query}"))
                .await
        }
    };
    let r: Value = get(&blmk, PERIOD.into()).await.json().await.unwrap();
    assert_eq!(r["icb"], "QHG");
    assert_eq!(r["totals"]["submitted"], 2, "{r}");
    let keys: Vec<&str> = r["practices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["A81001"]);
    assert_eq!(r["registered_patients"], 5000);
    assert_eq!(r["requests_per_1000_patients"], 0.4);
    assert_eq!(r["practices"][0]["requests_per_1000_patients"], 0.4);
    // Another ICB, its practice, or a practice that does not exist: all the same 404.
    for q in ["icb=QWE", "practice=B82002", "practice=ZZZ999", "icb=NOPE"] {
        let resp = get(&blmk, format!("{PERIOD}&{q}")).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{q}");
    }
    assert_eq!(
        get(&blmk, format!("{PERIOD}&icb=qhg&practice=A81001"))
            .await
            .status(),
        StatusCode::OK
    );
    let csv = w
        .client()
        .get(w.app.url(&format!("/api/v1/reports/turnaround?{PERIOD}")))
        .bearer_auth(&blmk)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.contains("practice,A81001") && !csv.contains("B82002"),
        "{csv}"
    );
    assert!(csv
        .lines()
        .next()
        .unwrap()
        .ends_with("Registered patients,Cases per 1000 registered patients"));
    // The page: their practices only, in the figures and in the filter.
    let page = blmk_browser.get_text(&format!("/reports?{PERIOD}")).await;
    assert!(
        page.contains("Practice A81001") && !page.contains("B82002"),
        "{page}"
    );
    assert!(
        page.contains("from the practices of NHS Bedfordshire, Luton and Milton Keynes ICB"),
        "{}",
        page.lines()
            .filter(|l| l.contains("lead"))
            .collect::<String>()
    );
    assert!(
        !page.contains("id=\"icb\""),
        "no ICB choice for a commissioner of one ICB"
    );
    let refused = blmk_browser
        .get(&format!("/reports?{PERIOD}&practice=B82002"))
        .await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);

    // The national view: every ICB side by side, per 1,000 patients; one ICB when asked.
    let r: Value = get(&w.commissioner, PERIOD.into())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["totals"]["submitted"], 3);
    let icbs: Vec<(String, i64, f64)> = r["icbs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["key"].as_str().unwrap().to_string(),
                i["figures"]["submitted"].as_i64().unwrap(),
                i["requests_per_1000_patients"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        icbs,
        [("QHG".to_string(), 2, 0.4), ("QWE".to_string(), 1, 0.5)]
    );
    assert_eq!(
        r["requests_per_1000_patients"], 0.43,
        "3 cases over 7,000 patients"
    );
    // Broken down by ICB, not by practice (a country has thousands); each ICB's row, read from
    // the ICB rollup, is exactly that ICB's own report, read from its cases' facts.
    assert_eq!(r["practices"], serde_json::json!([]), "{r}");
    assert_eq!(r["topics_by_practice"], serde_json::json!([]));
    for (i, code) in ["QHG", "QWE"].iter().enumerate() {
        let own: Value = get(&w.commissioner, format!("{PERIOD}&icb={code}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(r["icbs"][i]["figures"], own["totals"], "{code}");
        assert_eq!(
            own["practices"].as_array().unwrap().len(),
            1,
            "one ICB's view lists its practices"
        );
    }
    assert!(
        r["icbs"][0]["figures"]["first_reply"]["median_ms"].is_i64(),
        "{r}"
    );
    let (_, national_browser) = commissioner_of(&w, None).await;
    let page = national_browser
        .get_text(&format!("/reports?{PERIOD}"))
        .await;
    assert!(
        page.contains("Choose an ICB above to see its practices.")
            && page.contains("NHS South West London ICB (QWE)")
            && !page.contains("<td data-label=\"\">Practice A81001 (A81001)</td>"),
        "{page}"
    );
    let page = national_browser
        .get_text(&format!("/reports?{PERIOD}&icb=QWE"))
        .await;
    assert!(
        page.contains("<td data-label=\"\">Practice B82002 (B82002)</td>"),
        "{page}"
    );
    let swl: Value = get(&w.commissioner, format!("{PERIOD}&icb=QWE"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(swl["totals"]["submitted"], 1);
    let resp = get(&w.commissioner, format!("{PERIOD}&icb=NOPE")).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'reports.viewed'")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert!(refused >= 4, "every view is in the audit trail");
}

fn ids(v: &Value) -> Vec<String> {
    v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// Two ICBs with a trust each; the World's practices A81001 in the first, B82002 in the second;
/// its two local dermatologists one at each trust.
async fn two_icbs(w: &World) {
    let db = &w.app.state.db;
    for (ods, name) in [
        ("QHG", "NHS Bedfordshire, Luton and Milton Keynes ICB"),
        ("QWE", "NHS South West London ICB"),
    ] {
        organisations::add(db, Actor::CommandLine, ods, name, "icb", None, T0)
            .await
            .unwrap();
    }
    let rc9 = organisations::add(
        db,
        Actor::CommandLine,
        "RC9",
        "Bedfordshire Hospitals",
        "trust",
        Some("QHG"),
        T0,
    )
    .await
    .unwrap();
    let rj7 = organisations::add(
        db,
        Actor::CommandLine,
        "RJ7",
        "St George's",
        "trust",
        Some("QWE"),
        T0,
    )
    .await
    .unwrap();
    let file = [
        row("A81001", "Practice A81001", "QHG", "", "A", "4"),
        row("B82002", "Practice B82002", "QWE", "", "A", "4"),
    ]
    .concat();
    organisations::import_epraccur(db, Actor::CommandLine, file.as_bytes(), T0)
        .await
        .unwrap();
    let mut tx = db.begin().await.unwrap();
    for (email, org) in [("derm1@h.example", &rc9), ("derm2@h.example", &rj7)] {
        let id = accounts::user_id_by_email(db, email).await.unwrap();
        orgs::set_user_organisation(&mut tx, id.as_str(), Some(&org.id))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

async fn local_rotas_serve_their_own_icb_and_the_national_pool_every_icb(stack: Stack) {
    let w = World::new(stack).await;
    two_icbs(&w).await;
    let blmk_case = w.case("dermatology", "routine", 1).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // An urgent case from the other ICB's practice tells that ICB's local rota only.
    let r = w
        .submit(
            &w.gp_other_practice,
            crate::cases::case_form("dermatology", "urgent", 1),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let swl_case = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // derm1 (a BLMK trust) sees the BLMK case at once and not the SWL one; derm2 the reverse.
    assert_eq!(
        ids(&w.get_json(&w.derm_local, "/api/v1/queue").await),
        [blmk_case.as_str()]
    );
    assert_eq!(
        ids(&w.get_json(&w.derm_local_2, "/api/v1/queue").await),
        [swl_case.as_str()]
    );
    for (token, other) in [(&w.derm_local, &swl_case), (&w.derm_local_2, &blmk_case)] {
        assert_eq!(
            w.get(token, &format!("/api/v1/cases/{other}"))
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
        let claim = w.post(token, &format!("/api/v1/cases/{other}/claim")).await;
        assert_eq!(
            claim.status(),
            StatusCode::NOT_FOUND,
            "another ICB's case cannot be claimed"
        );
    }
    let told: Vec<String> = sqlx::query_scalar(
        "SELECT u.email FROM notifications n JOIN users u ON u.id = n.user_id \
         WHERE n.case_id = $1 AND n.kind = 'urgent_queued' ORDER BY u.email",
    )
    .bind(&swl_case)
    .fetch_all(w.app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(told, ["derm2@h.example"]);
    // The national pool serves every ICB once a case escalates (dermatology: 4 hours).
    assert!(ids(&w.get_json(&w.derm_national, "/api/v1/queue").await).is_empty());
    w.app.clock.advance(4 * 3_600_000);
    let mut national = ids(&w.get_json(&w.derm_national, "/api/v1/queue").await);
    national.sort();
    let mut both = vec![blmk_case.clone(), swl_case.clone()];
    both.sort();
    assert_eq!(national, both);
    assert_eq!(
        ids(&w.get_json(&w.derm_local, "/api/v1/queue").await),
        [blmk_case.as_str()],
        "a local shift never takes another ICB's cases"
    );
    let claim = w
        .post(&w.derm_local, &format!("/api/v1/cases/{blmk_case}/claim"))
        .await;
    assert_eq!(claim.status(), StatusCode::OK);
}

async fn an_icb_sets_its_own_targets_and_escalation_window(stack: Stack) {
    let w = World::new(stack).await;
    two_icbs(&w).await;
    // BLMK (QHG) answers dermatology within 24 h and escalates after 1 h; SWL keeps the
    // specialty's own (routine 48 h... as seeded) and its 4-hour window.
    // `aghub org targets` for dermatology: routine and urgent hours, a 1-hour window.
    let targets = |icb: &str, routine: &str| {
        crate::cli::aghub(
            &w.backends,
            &[
                "org",
                "targets",
                "--icb",
                icb,
                "--specialty",
                "dermatology",
                "--routine-hours",
                routine,
                "--urgent-hours",
                "8",
                "--escalation-hours",
                "1",
            ],
            None,
        )
    };
    crate::cli::ok(&targets("QHG", "24"));
    crate::cli::fails_with(&targets("RC9", "24"), "RC9 is a trust, not an ICB");
    crate::cli::fails_with(&targets("QHG", "0"), "targets must be more than 0 hours");
    let blmk = w.case("dermatology", "routine", 1).await;
    let r = w
        .submit(
            &w.gp_other_practice,
            crate::cases::case_form("dermatology", "routine", 1),
        )
        .await;
    let swl = r.json::<Value>().await.unwrap();
    let (blmk_id, swl_id) = (
        blmk["id"].as_str().unwrap().to_string(),
        swl["id"].as_str().unwrap().to_string(),
    );
    // Due by the ICB's target, fixed when the case was submitted.
    let due = |v: &Value| {
        aghub::clock::parse_rfc3339(v["due_at"].as_str().unwrap()).unwrap()
            - aghub::clock::parse_rfc3339(v["submitted_at"].as_str().unwrap()).unwrap()
    };
    assert_eq!(
        due(&w
            .get_json(&w.derm_local, &format!("/api/v1/cases/{blmk_id}"))
            .await),
        24 * 3_600_000
    );
    assert_eq!(
        due(&w
            .get_json(&w.derm_local_2, &format!("/api/v1/cases/{swl_id}"))
            .await),
        due(&swl)
    );
    // After an hour, the national pool sees the BLMK case, not yet the SWL one.
    w.app.clock.advance(3_600_000);
    assert_eq!(
        ids(&w.get_json(&w.derm_national, "/api/v1/queue").await),
        [blmk_id.as_str()]
    );
    let claim = w
        .post(&w.derm_national, &format!("/api/v1/cases/{swl_id}/claim"))
        .await;
    assert_eq!(claim.status(), StatusCode::NOT_FOUND);
    // The escalation is announced to the national pool at the ICB's window.
    aghub::service::notify::notice_timed_events(&w.app.state)
        .await
        .unwrap();
    let escalated: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT case_id FROM notifications WHERE kind = 'escalated'")
            .fetch_all(w.app.state.db.pool())
            .await
            .unwrap();
    assert_eq!(escalated, [blmk_id.as_str()]);
    w.app.clock.advance(3 * 3_600_000);
    let mut both = ids(&w.get_json(&w.derm_national, "/api/v1/queue").await);
    both.sort();
    let mut want = vec![blmk_id, swl_id];
    want.sort();
    assert_eq!(both, want, "the SWL case after the specialty's 4 hours");
}
