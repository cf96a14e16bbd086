//! Live calls through the API (contract 1.1): who is rung and when, the first answer winning
//! across instances, give-up to a written case, outcomes, and who may see or act on a call.

use aghub::db::rotas::Pool;
use aghub::domain::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::cases::World;
use aghub::clock::Clock;

use crate::helpers::{error_code, Stack, TestApp, T0};

on_both_stacks!(
    a_call_rings_the_local_rota_in_order_then_the_national_pool,
    a_decline_moves_on_and_an_unanswered_call_becomes_a_written_case,
    the_sweeper_converts_a_call_nobody_reads,
    racing_answers_on_two_instances_never_both_win,
    a_consultant_whose_shift_ended_cannot_answer_or_see_the_call,
    bad_calls_get_precise_errors_and_store_nothing,
    the_recording_keeps_every_chunk_uploaded_and_plays_only_for_those_allowed,
    call_pages_and_sockets_check_the_form_the_site_and_the_party,
    commissioners_see_the_calls_beside_the_written_figures,
    every_page_asks_for_an_unrecorded_outcome_until_it_is_recorded,
    a_patients_calls_are_in_their_subject_access_export_and_audit_search,
    retention_erases_a_patients_calls_with_their_recording_and_counts_calls_as_contacts,
    the_calls_record_for_the_gp_record_reads_right_in_pdftotext,
    calls_are_listed_for_the_practice_and_in_the_consultants_history,
    an_unrecorded_outcome_is_chased_by_notification_until_it_is_recorded,
    a_calls_fhir_bundle_is_valid_r4_and_tells_the_call,
    a_party_cannot_flood_a_call_with_signalling,
);

const S: i64 = 1_000;
const H: i64 = 3_600_000;

fn call_body() -> Value {
    json!({
        "specialty": "dermatology",
        "nhs_number": "943 476 5919",
        "date_of_birth": "1984-03-27",
        "reason": "Rapidly growing lesion on the scalp: same-week clinic or manage here?",
    })
}

impl World {
    async fn start_call(&self) -> Value {
        let r = self.post_json(&self.gp, "/api/v1/calls", call_body()).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    }

    /// The ids of the calls ringing this consultant now.
    async fn ringing(&self, token: &str) -> Vec<String> {
        let r = self.get(token, "/api/v1/calls/incoming").await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        v["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// A party's action on a call (`answer`, `decline`, `end`), which must succeed.
    async fn act(&self, token: &str, id: &str, what: &str) {
        let r = self
            .post(token, &format!("/api/v1/calls/{id}/{what}"))
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{what} of call {id}");
    }

    /// A party's outcome of a call, which must be accepted.
    async fn record_outcome(&self, token: &str, id: &str, body: Value) {
        let r = self
            .post_json(token, &format!("/api/v1/calls/{id}/outcome"), body)
            .await;
        assert_eq!(r.status(), StatusCode::OK, "outcome of call {id}");
    }

    async fn user_id(&self, token: &str) -> String {
        let me: Value = self.get_json(token, "/api/v1/me").await;
        me["id"].as_str().unwrap().to_string()
    }

    /// How many audit rows record `action` on the subject (a call).
    async fn audited(&self, action: &str, subject: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_events WHERE action = $1 AND subject_id = $2",
        )
        .bind(action)
        .bind(subject)
        .fetch_one(self.app.state.db.pool())
        .await
        .unwrap()
    }

    async fn calls_in_db(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM calls")
            .fetch_one(self.app.state.db.pool())
            .await
            .unwrap()
    }
}

async fn a_call_rings_the_local_rota_in_order_then_the_national_pool(stack: Stack) {
    let w = World::new(stack).await;
    let call = w.start_call().await;
    let id = call["id"].as_str().unwrap();
    let path = format!("/api/v1/calls/{id}");
    assert_eq!(call["status"], "ringing");
    assert_eq!(call["pool"], "local");
    assert_eq!(call["nhs_number"], "9434765919");
    assert_eq!(call["outcomes"], json!({"gp": null, "consultant": null}));
    assert_eq!(call["recording"], Value::Null);

    // First local consultant in rota order; nobody else yet.
    assert_eq!(w.ringing(&w.derm_local).await, vec![id.to_string()]);
    for other in [
        &w.derm_local_2,
        &w.derm_national,
        &w.derm_off_duty,
        &w.cardio,
    ] {
        assert!(w.ringing(other).await.is_empty());
    }
    // Not rung yet: the call is not theirs to see or answer.
    assert_eq!(
        w.get(&w.derm_local_2, &path).await.status(),
        StatusCode::NOT_FOUND
    );
    let early = w.post(&w.derm_local_2, &format!("{path}/answer")).await;
    assert_eq!(early.status(), StatusCode::NOT_FOUND);

    w.app.clock.advance(20 * S);
    assert!(w.ringing(&w.derm_local).await.is_empty());
    assert_eq!(w.ringing(&w.derm_local_2).await, vec![id.to_string()]);
    assert!(w.ringing(&w.derm_national).await.is_empty());
    // The first consultant's turn has passed: they may see the call but not answer it.
    assert_eq!(w.get(&w.derm_local, &path).await.status(), StatusCode::OK);
    let late = w.post(&w.derm_local, &format!("{path}/answer")).await;
    assert_eq!(error_code(late).await, "not_ringing_you");

    w.app.clock.advance(20 * S);
    assert!(w.ringing(&w.derm_local_2).await.is_empty());
    assert_eq!(w.ringing(&w.derm_national).await, vec![id.to_string()]);
    let now: Value = w.get_json(&w.gp, &path).await;
    assert_eq!(now["pool"], "national");

    let answered = w.post(&w.derm_national, &format!("{path}/answer")).await;
    assert_eq!(answered.status(), StatusCode::OK);
    let answered: Value = answered.json().await.unwrap();
    assert_eq!(answered["status"], "answered");
    assert_eq!(answered["answered_pool"], "national");
    assert_eq!(answered["answered_by"], "Test derm@national.example");
    assert_eq!(answered["pool"], Value::Null);
    assert!(w.ringing(&w.derm_national).await.is_empty());
    let second = w.post(&w.derm_local_2, &format!("{path}/answer")).await;
    assert_eq!(second.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(second).await, "already_answered");

    // Who may see it: the calling practice and admins; not another practice, a commissioner,
    // another specialty, or a consultant it never rang.
    for (token, status) in [
        (&w.gp_same_practice, StatusCode::OK),
        (&w.admin, StatusCode::OK),
        (&w.gp_other_practice, StatusCode::NOT_FOUND),
        (&w.commissioner, StatusCode::NOT_FOUND),
        (&w.cardio, StatusCode::NOT_FOUND),
        (&w.derm_off_duty, StatusCode::NOT_FOUND),
    ] {
        assert_eq!(w.get(token, &path).await.status(), status);
    }

    // Outcomes: once per party, only by the parties, after the call was answered.
    let not_a_party = w
        .post_json(
            &w.gp_same_practice,
            &format!("{path}/outcome"),
            json!({"outcome": "manage_in_primary_care"}),
        )
        .await;
    assert_eq!(
        not_a_party.status(),
        StatusCode::NOT_FOUND,
        "only the calling GP is a party"
    );
    w.app.clock.advance(150 * S);
    let ended = w.post(&w.gp, &format!("{path}/end")).await;
    assert_eq!(ended.status(), StatusCode::OK);
    let ended: Value = ended.json().await.unwrap();
    assert_eq!(ended["status"], "ended");
    let bad = w
        .post_json(
            &w.gp,
            &format!("{path}/outcome"),
            json!({"outcome": "maybe"}),
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(bad).await, "invalid_outcome");
    let gp = w
        .post_json(
            &w.gp,
            &format!("{path}/outcome"),
            json!({"outcome": "manage_in_primary_care", "note": "Cryotherapy in the practice; review in 4 weeks."}),
        )
        .await;
    assert_eq!(gp.status(), StatusCode::OK);
    let again = w
        .post_json(
            &w.gp,
            &format!("{path}/outcome"),
            json!({"outcome": "refer_routine"}),
        )
        .await;
    assert_eq!(error_code(again).await, "outcome_recorded");
    let consultant: Value = w
        .post_json(
            &w.derm_national,
            &format!("{path}/outcome"),
            json!({"outcome": "manage_in_primary_care"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        consultant["outcomes"],
        json!({"gp": "manage_in_primary_care", "consultant": "manage_in_primary_care"})
    );
    let stranger = w
        .post_json(
            &w.derm_local,
            &format!("{path}/outcome"),
            json!({"outcome": "refer_routine"}),
        )
        .await;
    assert_eq!(stranger.status(), StatusCode::NOT_FOUND);

    // The trail: the start, each view, the answer, the end, both outcomes and the refusals.
    let events = aghub::db::audit::recent(&w.app.state.db, 200)
        .await
        .unwrap();
    let of_call = |action: &str| {
        events
            .iter()
            .filter(|e| e.action == action && e.subject_id.as_deref() == Some(id))
            .count()
    };
    assert_eq!(of_call("call.started"), 1);
    assert_eq!(of_call("call.answered"), 1);
    assert_eq!(of_call("call.ended"), 1);
    assert_eq!(of_call("call.outcome_recorded"), 2);
    assert!(of_call("call.viewed") >= 3);
    let refused = events
        .iter()
        .filter(|e| {
            e.action == "access.refused"
                && e.detail
                    .as_ref()
                    .is_some_and(|d| d["path"] == path.as_str())
        })
        .count();
    assert!(
        refused >= 4,
        "every refused view is in the trail ({refused})"
    );
    assert!(events.iter().any(|e| e.action == "calls.incoming_listed"));
}

async fn a_decline_moves_on_and_an_unanswered_call_becomes_a_written_case(stack: Stack) {
    let w = World::new(stack).await;
    let call = w.start_call().await;
    let id = call["id"].as_str().unwrap();
    let path = format!("/api/v1/calls/{id}");

    w.app.clock.advance(3 * S);
    let declined = w.post(&w.derm_local, &format!("{path}/decline")).await;
    assert_eq!(declined.status(), StatusCode::OK);
    // The next is rung at once, not when the first's 20 seconds are up.
    assert_eq!(w.ringing(&w.derm_local_2).await, vec![id.to_string()]);
    assert!(w.ringing(&w.derm_local).await.is_empty());
    let after = w.post(&w.derm_local, &format!("{path}/answer")).await;
    assert_eq!(error_code(after).await, "not_ringing_you");
    w.app.clock.advance(20 * S);
    assert_eq!(w.ringing(&w.derm_national).await, vec![id.to_string()]);

    // Nobody answers: at the give-up time the call becomes a written case.
    w.app.clock.set(T0 + 300 * S - 1);
    let still: Value = w.get_json(&w.gp, &path).await;
    assert_eq!(still["status"], "ringing");
    w.app.clock.set(T0 + 300 * S);
    let missed: Value = w.get_json(&w.gp, &path).await;
    assert_eq!(missed["status"], "missed");
    assert_eq!(missed["pool"], Value::Null);
    let case_id = missed["case_id"].as_str().expect("the written case");
    assert!(w.ringing(&w.derm_national).await.is_empty());
    let late = w.post(&w.derm_national, &format!("{path}/answer")).await;
    assert_eq!(error_code(late).await, "call_missed");

    let case: Value = w.get_json(&w.gp, &format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(case["status"], "submitted");
    assert_eq!(case["specialty"], "dermatology");
    assert_eq!(case["nhs_number"], "9434765919");
    assert_eq!(case["question"], call_body()["reason"]);
    assert!(case["history"]
        .as_str()
        .unwrap()
        .contains("nobody answered"));
    // It waits in the specialty's queue like any written case.
    let queue: Value = w.get_json(&w.derm_local, "/api/v1/queue").await;
    assert!(queue["cases"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == case_id));
    // Exactly one case, however often the call is read afterwards.
    for _ in 0..3 {
        let again: Value = w.get_json(&w.gp, &path).await;
        assert_eq!(again["case_id"], case_id);
    }
    // The GP is told in the app too.
    let told: Value = w.get_json(&w.gp, "/api/v1/notifications").await;
    let told: Vec<(&str, &str)> = told["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["event"].as_str().unwrap(), n["case_id"].as_str().unwrap()))
        .collect();
    assert_eq!(told, vec![("call_missed", case_id)]);
    let cases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases")
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(cases, 1);
}

async fn the_sweeper_converts_a_call_nobody_reads(stack: Stack) {
    let w = World::new(stack).await;
    // Everyone declines: with nobody left the call gives up at once, without waiting 5 minutes.
    let call = w.start_call().await;
    let id = call["id"].as_str().unwrap().to_string();
    for token in [&w.derm_local, &w.derm_local_2, &w.derm_national] {
        let r = w.post(token, &format!("/api/v1/calls/{id}/decline")).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let row = aghub::db::calls::get(&w.app.state.db, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.status.as_str(),
        "missed",
        "the last decline settles the call"
    );

    // A call answered and left open by both tabs is ended after two hours, so both parties are
    // asked for their outcome and nothing more is recorded.
    let open = w.start_call().await["id"].as_str().unwrap().to_string();
    w.act(&w.derm_local, &open, "answer").await;
    w.app.clock.advance(2 * H - 1);
    let still: Value = w.get_json(&w.gp, &format!("/api/v1/calls/{open}")).await;
    assert_eq!(still["status"], "answered");
    w.app.clock.advance(1);
    let ended: Value = w.get_json(&w.gp, &format!("/api/v1/calls/{open}")).await;
    assert_eq!(ended["status"], "ended");

    // A call nobody reads is turned into its case by the instance's own sweeper.
    let call = w.start_call().await;
    let id = call["id"].as_str().unwrap().to_string();
    w.app.clock.advance(300 * S);
    let mut status = String::new();
    for _ in 0..50 {
        let row = aghub::db::calls::get(&w.app.state.db, &id)
            .await
            .unwrap()
            .unwrap();
        status = row.status.as_str().to_string();
        if row.case_id.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "missed");
}

async fn racing_answers_on_two_instances_never_both_win(stack: Stack) {
    let w = World::new(stack).await;
    let second = TestApp::start_with_clock(&w.backends, w.app.clock.clone()).await;
    // Two consultants of the national pool are rung together once the local rota has had its turn.
    let derm3 = w.user_id(&w.derm_off_duty).await;
    aghub::db::rotas::insert(
        &w.app.state.db,
        &derm3,
        "dermatology",
        Pool::National,
        T0 - H,
        T0 + 24 * H,
        T0,
    )
    .await
    .unwrap();
    for round in 0..5 {
        let call = w.start_call().await;
        let id = call["id"].as_str().unwrap().to_string();
        w.app.clock.advance(40 * S);
        assert_eq!(w.ringing(&w.derm_off_duty).await, vec![id.clone()]);
        assert_eq!(w.ringing(&w.derm_national).await, vec![id.clone()]);
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (base, token) = if i % 2 == 0 {
                (w.app.base.clone(), w.derm_national.clone())
            } else {
                (second.base.clone(), w.derm_off_duty.clone())
            };
            let id = id.clone();
            tasks.push(tokio::spawn(async move {
                let r = reqwest::Client::new()
                    .post(format!("{base}/api/v1/calls/{id}/answer"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let body: Value = r.json().await.unwrap();
                (status, body, token)
            }));
        }
        let mut winners = std::collections::HashSet::new();
        for t in tasks {
            let (status, body, token) = t.await.unwrap();
            match status {
                StatusCode::OK => {
                    winners.insert(token);
                }
                StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "already_answered"),
                other => panic!("unexpected {other}: {body}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one consultant has the call"
        );
        let answered = w.audited("call.answered", &id).await;
        assert_eq!(answered, 1);
    }
    second.stop().await;
}

async fn a_consultant_whose_shift_ended_cannot_answer_or_see_the_call(stack: Stack) {
    let w = World::new(stack).await;
    // A local consultant whose shift began first (so is rung first) and ends 10 s into the call.
    let leaving = w
        .app
        .add_user(
            "leaving@h.example",
            Role::Consultant,
            None,
            &["dermatology"],
        )
        .await;
    aghub::db::rotas::insert(
        &w.app.state.db,
        &leaving,
        "dermatology",
        Pool::Local,
        T0 - 2 * H,
        T0 + 10 * S,
        T0,
    )
    .await
    .unwrap();
    let token = w.app.token_for(&leaving).await;
    let call = w.start_call().await;
    let id = call["id"].as_str().unwrap();
    let path = format!("/api/v1/calls/{id}");
    assert_eq!(w.ringing(&token).await, vec![id.to_string()]);
    assert_eq!(w.get(&token, &path).await.status(), StatusCode::OK);

    w.app.clock.advance(10 * S);
    assert!(
        w.ringing(&token).await.is_empty(),
        "a shift that ended does not ring"
    );
    let answer = w.post(&token, &format!("{path}/answer")).await;
    assert_eq!(error_code(answer).await, "not_ringing_you");
    assert_eq!(w.get(&token, &path).await.status(), StatusCode::NOT_FOUND);
    // The rota moves on when their slot is over.
    w.app.clock.advance(10 * S);
    assert_eq!(w.ringing(&w.derm_local).await, vec![id.to_string()]);
}

async fn bad_calls_get_precise_errors_and_store_nothing(stack: Stack) {
    let w = World::new(stack).await;
    let cases = [
        (
            json!({"nhs_number": "943 476 5918"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_nhs_number",
        ),
        (
            json!({"date_of_birth": "27/03/1984"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_date_of_birth",
        ),
        (
            json!({"reason": "  "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
        ),
        (
            json!({"reason": "x".repeat(501)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "field_too_long",
        ),
        (
            json!({"reason": "nul \u{0} here"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_characters",
        ),
        (
            json!({"specialty": "astrology"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_specialty",
        ),
        (
            json!({"specialty": "renal"}),
            StatusCode::CONFLICT,
            "nobody_on_duty",
        ),
    ];
    for (change, status, code) in cases {
        let mut body = call_body();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = w.post_json(&w.gp, "/api/v1/calls", body).await;
        assert_eq!(r.status(), status, "{change}");
        assert_eq!(error_code(r).await, code, "{change}");
    }
    let not_json = w
        .client()
        .post(w.app.url("/api/v1/calls"))
        .bearer_auth(&w.gp)
        .header("content-type", "application/json")
        .body("{\"specialty\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    for token in [&w.derm_local, &w.commissioner, &w.admin] {
        let r = w.post_json(token, "/api/v1/calls", call_body()).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    let gp_incoming = w.get(&w.gp, "/api/v1/calls/incoming").await;
    assert_eq!(gp_incoming.status(), StatusCode::FORBIDDEN);
    let nonsense = w.get(&w.gp, "/api/v1/calls/not-a-call").await;
    assert_eq!(nonsense.status(), StatusCode::NOT_FOUND);
    assert_eq!(w.calls_in_db().await, 0);
    // Ending or recording an outcome of a call nobody answered is refused.
    let call = w.start_call().await;
    let id = call["id"].as_str().unwrap();
    let end = w.post(&w.gp, &format!("/api/v1/calls/{id}/end")).await;
    assert_eq!(error_code(end).await, "not_answered");
    let outcome = w
        .post_json(
            &w.gp,
            &format!("/api/v1/calls/{id}/outcome"),
            json!({"outcome": "refer_routine"}),
        )
        .await;
    assert_eq!(error_code(outcome).await, "not_answered");
}

/// A few seconds of Opus in WebM, as a browser's MediaRecorder makes, from Debian's ffmpeg.
pub fn webm_tone(seconds: u32) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tone.webm");
    let status = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={seconds}"))
        .args(["-c:a", "libopus", "-f", "webm"])
        .arg(&out)
        .status()
        .expect("ffmpeg is missing: scripts/test installs Debian's ffmpeg");
    assert!(status.success());
    std::fs::read(out).unwrap()
}

/// The duration ffprobe reads from the file (decoding it, since a live WebM has no duration
/// in its header).
pub fn ffprobe_seconds(bytes: &[u8]) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("recording.webm");
    std::fs::write(&file, bytes).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_packets",
            "-show_entries",
            "packet=pts_time,duration_time",
            "-of",
            "csv=p=0",
            "-select_streams",
            "a:0",
        ])
        .arg(&file)
        .output()
        .expect("ffprobe is missing: scripts/test installs Debian's ffmpeg");
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split(',').map(|v| v.trim().parse::<f64>().ok());
            Some(f.next()?? + f.next().flatten().unwrap_or(0.0))
        })
        .fold(0.0, f64::max)
}

async fn the_recording_keeps_every_chunk_uploaded_and_plays_only_for_those_allowed(stack: Stack) {
    let w = World::new(stack).await;
    let call = w.start_call().await;
    let id = call["id"].as_str().unwrap();
    let path = format!("/api/v1/calls/{id}/recording");
    let tone = webm_tone(6);
    let third = tone.len() / 3;
    let pieces = [&tone[..third], &tone[third..2 * third], &tone[2 * third..]];
    let upload = |token: &str, seq: usize, media_ms: i64, bytes: &[u8]| {
        w.client()
            .post(w.app.url(&format!("{path}?seq={seq}&media_ms={media_ms}")))
            .bearer_auth(token.to_string())
            .header("content-type", "audio/webm")
            .body(bytes.to_vec())
            .send()
    };
    // Not answered yet: nothing is recorded.
    let early = upload(&w.derm_local, 0, 2000, pieces[0]).await.unwrap();
    assert_eq!(early.status(), StatusCode::NOT_FOUND);
    let answered = w
        .post(&w.derm_local, &format!("/api/v1/calls/{id}/answer"))
        .await;
    assert_eq!(answered.status(), StatusCode::OK);

    let not_webm = upload(&w.derm_local, 0, 2000, b"RIFF....WAVEfmt ")
        .await
        .unwrap();
    assert_eq!(not_webm.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(not_webm).await, "not_webm");
    let by_gp = upload(&w.gp, 0, 2000, pieces[0]).await.unwrap();
    assert_eq!(by_gp.status(), StatusCode::NOT_FOUND);
    let too_big = upload(&w.derm_local, 1, 2000, &vec![0u8; 4 * 1024 * 1024 + 2])
        .await
        .unwrap();
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let first: Value = upload(&w.derm_local, 0, 2000, pieces[0])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["recording"]["id"], id);
    // A retried chunk is stored once.
    for _ in 0..2 {
        let r = upload(&w.derm_local, 1, 4000, pieces[1]).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    // The consultant's tab closes here: the last chunk never comes. The GP ends the call.
    let ended: Value = w
        .post(&w.gp, &format!("/api/v1/calls/{id}/end"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ended["recording"]["duration_s"], 4.0);

    let played = w.get(&w.gp, &path).await;
    assert_eq!(played.status(), StatusCode::OK);
    assert_eq!(played.headers()["content-type"], "audio/webm");
    assert!(played.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("no-store"));
    let bytes = played.bytes().await.unwrap();
    assert_eq!(
        &bytes[..],
        [pieces[0], pieces[1]].concat().as_slice(),
        "every chunk uploaded, in order"
    );
    let seconds = ffprobe_seconds(&bytes);
    assert!(
        (3.0..=4.6).contains(&seconds),
        "ffprobe reads {seconds} s of the two chunks"
    );

    // Two minutes after the end nothing more is taken.
    w.app.clock.advance(2 * 60 * S + 1);
    let late = upload(&w.derm_local, 2, 6000, pieces[2]).await.unwrap();
    assert_eq!(error_code(late).await, "not_recording");

    // Who may play it: the practice, the answering consultant on duty, admins.
    assert_eq!(w.get(&w.derm_local, &path).await.status(), StatusCode::OK);
    for token in [
        &w.derm_local_2,
        &w.derm_national,
        &w.gp_other_practice,
        &w.commissioner,
        &w.cardio,
    ] {
        assert_eq!(w.get(token, &path).await.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(w.get(&w.admin, &path).await.status(), StatusCode::OK);
    // Once their shifts are over, the consultant who answered cannot play it either.
    w.app.clock.advance(8 * 24 * H);
    assert_eq!(
        w.get(&w.derm_local, &path).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(w.get(&w.gp, &path).await.status(), StatusCode::OK);

    let played = w.audited("call.recording_played", id).await;
    assert_eq!(played, 4);
    let intents = aghub::db::blob_intents::count(&w.app.state.db)
        .await
        .unwrap();
    assert_eq!(intents, 0, "every stored chunk is recorded");
}

/// A WebSocket handshake (what a page's `new WebSocket(…)` sends), from this origin.
async fn upgrade(client: &reqwest::Client, url: &str, origin: &str) -> StatusCode {
    client
        .get(url)
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("Origin", origin)
        .send()
        .await
        .unwrap()
        .status()
}

async fn call_pages_and_sockets_check_the_form_the_site_and_the_party(stack: Stack) {
    let w = World::new(stack).await;
    let gp = w.app.browser();
    assert!(gp
        .sign_in("gp@a.example", crate::helpers::PASSWORD)
        .await
        .status()
        .is_redirection());
    let form = gp.get_text("/calls/new").await;
    assert!(
        form.contains("Dermatology – 2 local, 1 national on duty"),
        "{form}"
    );
    assert!(
        form.contains("Renal medicine – nobody on duty now"),
        "{form}"
    );
    let token = crate::helpers::extract_csrf(&form).unwrap();
    let fields = |nhs: &'static str, specialty: &'static str| {
        vec![
            ("csrf_token", token.clone()),
            ("specialty", specialty.to_string()),
            ("nhs_number", nhs.to_string()),
            ("date_of_birth_day", "27".to_string()),
            ("date_of_birth_month", "3".to_string()),
            ("date_of_birth_year", "1984".to_string()),
            ("reason", "Scalp lesion".to_string()),
        ]
    };
    let post = |f: Vec<(&'static str, String)>| {
        let refs: Vec<(&str, String)> = f;
        gp.client
            .post(w.app.url("/calls"))
            .header("Origin", &w.app.base)
            .form(&refs)
            .send()
    };
    // Mistakes come back on the form, with what was typed.
    let wrong = post(fields("943 476 5918", "dermatology")).await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = wrong.text().await.unwrap();
    assert!(html.contains("There is a problem") && html.contains("943 476 5918"));
    let nobody = post(fields("943 476 5919", "renal")).await.unwrap();
    assert_eq!(nobody.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(nobody.text().await.unwrap().contains("Nobody is on duty"));
    // A form without its token is a forgery.
    let mut forged = fields("943 476 5919", "dermatology");
    forged[0].1 = "nope".into();
    assert_eq!(post(forged).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(w.calls_in_db().await, 0);

    let started = post(fields("943 476 5919", "dermatology")).await.unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let location = started.headers()["location"].to_str().unwrap().to_string();
    let page = gp.get_text(&location).await;
    assert!(page.contains("This call is recorded") && page.contains("943 476 5919"));

    // The call's socket: the calling GP from our own pages only.
    let socket = w.app.url(&format!("{location}/socket"));
    assert_eq!(
        upgrade(&gp.client, &socket, &w.app.base).await,
        StatusCode::SWITCHING_PROTOCOLS
    );
    assert_eq!(
        upgrade(&gp.client, &socket, "https://evil.example").await,
        StatusCode::FORBIDDEN
    );
    let other = w.app.browser();
    other
        .sign_in("gp@b.example", crate::helpers::PASSWORD)
        .await;
    assert_eq!(
        upgrade(&other.client, &socket, &w.app.base).await,
        StatusCode::NOT_FOUND
    );
    let nobody_signed_in = w.app.browser();
    assert_ne!(
        upgrade(&nobody_signed_in.client, &socket, &w.app.base).await,
        StatusCode::SWITCHING_PROTOCOLS
    );
    // The ringing socket is for consultants.
    let ringing = w.app.url("/calls/incoming/socket");
    assert_eq!(
        upgrade(&gp.client, &ringing, &w.app.base).await,
        StatusCode::FORBIDDEN
    );
    let derm = w.app.browser();
    derm.sign_in("derm1@h.example", crate::helpers::PASSWORD)
        .await;
    assert_eq!(
        upgrade(&derm.client, &ringing, &w.app.base).await,
        StatusCode::SWITCHING_PROTOCOLS
    );
    assert_eq!(
        upgrade(&derm.client, &ringing, "https://evil.example").await,
        StatusCode::FORBIDDEN
    );
    // Consultants and others cannot open the GP's form.
    assert_eq!(derm.get("/calls/new").await.status(), StatusCode::FORBIDDEN);
}

async fn commissioners_see_the_calls_beside_the_written_figures(stack: Stack) {
    let w = World::new(stack).await;
    // Answered by the first local consultant after 10 s, 150 s long, both outcomes recorded.
    let one = w.start_call().await["id"].as_str().unwrap().to_string();
    w.app.clock.advance(10 * S);
    w.act(&w.derm_local, &one, "answer").await;
    w.app.clock.advance(150 * S);
    w.act(&w.derm_local, &one, "end").await;
    w.record_outcome(&w.gp, &one, json!({"outcome": "manage_in_primary_care"}))
        .await;
    w.record_outcome(
        &w.derm_local,
        &one,
        json!({"outcome": "manage_in_primary_care"}),
    )
    .await;
    // Both locals decline; the national pool answers after 30 s; 60 s long; only the GP's outcome.
    let two = w.start_call().await["id"].as_str().unwrap().to_string();
    w.act(&w.derm_local, &two, "decline").await;
    w.act(&w.derm_local_2, &two, "decline").await;
    w.app.clock.advance(30 * S);
    w.act(&w.derm_national, &two, "answer").await;
    w.app.clock.advance(60 * S);
    w.act(&w.gp, &two, "end").await;
    w.record_outcome(&w.gp, &two, json!({"outcome": "refer_routine"}))
        .await;
    // Nobody answers: a written case.
    let three = w.start_call().await["id"].as_str().unwrap().to_string();
    w.app.clock.advance(300 * S);
    let missed: Value = w.get_json(&w.gp, &format!("/api/v1/calls/{three}")).await;
    assert_eq!(missed["status"], "missed");

    let report: Value = w
        .get_json(
            &w.commissioner,
            "/api/v1/reports/turnaround?from=2026-11-23&to=2026-11-29",
        )
        .await;
    let calls = &report["calls"];
    let t = &calls["totals"];
    assert_eq!(
        (
            t["offered"].as_i64(),
            t["answered"].as_i64(),
            t["answered_local"].as_i64(),
            t["answered_national"].as_i64()
        ),
        (Some(3), Some(2), Some(1), Some(1))
    );
    assert_eq!(t["answered_share"], 0.6667);
    assert_eq!(t["became_written_cases"], 1);
    assert_eq!(
        t["time_to_answer"],
        json!({"cases": 2, "median_ms": 20_000, "p90_ms": 28_000})
    );
    assert_eq!(
        t["duration"],
        json!({"cases": 2, "median_ms": 105_000, "p90_ms": 141_000})
    );
    assert_eq!(t["outcomes"]["manage_in_primary_care"], 1);
    assert_eq!(t["outcomes"]["refer_routine"], 1);
    assert_eq!(
        (
            t["outcomes_recorded"].as_i64(),
            t["outcome_capture_share"].as_f64()
        ),
        (Some(1), Some(0.5))
    );
    assert_eq!(calls["specialties"][0]["key"], "dermatology");
    assert_eq!(calls["practices"][0]["key"], "A81001");
    assert_eq!(calls["practices"][0]["figures"], *t);
    assert_eq!(calls["weeks"][0]["key"], "2026-11-23");
    // Beside the written figures: the missed call's case is a submitted case.
    assert_eq!(report["totals"]["submitted"], 1);
    // Another specialty's report has no calls.
    let cardio: Value = w
        .get_json(
            &w.commissioner,
            "/api/v1/reports/turnaround?from=2026-11-23&to=2026-11-29&specialty=cardiology",
        )
        .await;
    assert_eq!(cardio["calls"]["totals"]["offered"], 0);

    // The dashboard and its CSV.
    let c = w.app.browser();
    c.sign_in("c@icb.example", crate::helpers::PASSWORD).await;
    let page = c.get_text("/reports?from=2026-11-23&to=2026-11-29").await;
    assert!(
        page.contains("Live calls") && page.contains("All calls"),
        "{page}"
    );
    let csv = c
        .get_text("/reports.csv?from=2026-11-23&to=2026-11-29&table=calls")
        .await;
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].contains("Calls offered"));
    assert!(
        lines[1].starts_with("total,all,All calls in the period,3,2,66.7,1,1,1,20.0,28.0,2,1.75,2.35,1,1,0,0,0,0,1,50.0"),
        "{}",
        lines[1]
    );
    assert!(csv.contains("specialty,dermatology,Dermatology,3,"));
}

async fn every_page_asks_for_an_unrecorded_outcome_until_it_is_recorded(stack: Stack) {
    let w = World::new(stack).await;
    let id = w.start_call().await["id"].as_str().unwrap().to_string();
    w.act(&w.derm_local, &id, "answer").await;
    let gp = w.app.browser();
    gp.sign_in("gp@a.example", crate::helpers::PASSWORD).await;
    let derm = w.app.browser();
    derm.sign_in("derm1@h.example", crate::helpers::PASSWORD)
        .await;
    let asks = |html: &str| {
        html.contains("Record the outcome of your call") && html.contains(&format!("/calls/{id}"))
    };
    // Not while the call is on.
    assert!(!asks(&gp.get_text("/cases").await));
    w.act(&w.derm_local, &id, "end").await;
    for (who, path) in [(&gp, "/cases"), (&gp, "/cases/new"), (&derm, "/queue")] {
        assert!(
            asks(&who.get_text(path).await),
            "{path} asks for the outcome"
        );
    }
    // Someone else at the practice is not asked.
    let colleague = w.app.browser();
    colleague
        .sign_in("gp2@a.example", crate::helpers::PASSWORD)
        .await;
    assert!(!asks(&colleague.get_text("/cases").await));
    w.record_outcome(&w.gp, &id, json!({"outcome": "manage_in_primary_care"}))
        .await;
    assert!(
        !asks(&gp.get_text("/cases").await),
        "recorded: no longer asked"
    );
    assert!(
        asks(&derm.get_text("/queue").await),
        "the consultant still owes theirs"
    );
}

async fn a_patients_calls_are_in_their_subject_access_export_and_audit_search(stack: Stack) {
    let w = World::new(stack).await;
    let id = w.start_call().await["id"].as_str().unwrap().to_string();
    w.act(&w.derm_local, &id, "answer").await;
    let tone = webm_tone(3);
    let r = w
        .client()
        .post(
            w.app
                .url(&format!("/api/v1/calls/{id}/recording?seq=0&media_ms=3000")),
        )
        .bearer_auth(&w.derm_local)
        .body(tone.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    w.act(&w.gp, &id, "end").await;
    w.record_outcome(
        &w.derm_local,
        &id,
        json!({"outcome": "refer_urgent", "note": "Seen in clinic this week."}),
    )
    .await;
    // Another patient's call is not in the export.
    let mut other = call_body();
    other["nhs_number"] = json!("401 023 2137");
    assert_eq!(
        w.post_json(&w.gp, "/api/v1/calls", other).await.status(),
        StatusCode::CREATED
    );

    let export = aghub::service::patient_export::export(
        &w.app.state,
        aghub::service::Actor::CommandLine,
        "9434765919",
    )
    .await
    .unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(export.bytes)).unwrap();
    let read = |zip: &mut zip::ZipArchive<_>, name: &str| {
        let mut f = zip.by_name(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut out).unwrap();
        out
    };
    let patient: Value = serde_json::from_slice(&read(&mut zip, "patient.json")).unwrap();
    let calls = patient["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "only this patient's call");
    assert_eq!(calls[0]["id"], id.as_str());
    assert_eq!(
        calls[0]["outcomes"]["consultant"]["outcome"],
        "refer_urgent"
    );
    assert_eq!(
        calls[0]["outcomes"]["consultant"]["note"],
        "Seen in clinic this week."
    );
    assert_eq!(calls[0]["outcomes"]["gp"], Value::Null);
    let recording = calls[0]["recording"].as_str().unwrap().to_string();
    assert_eq!(read(&mut zip, &recording), tone);
    let access = String::from_utf8(read(&mut zip, "access.csv")).unwrap();
    for action in [
        "call.started",
        "call.answered",
        "call.ended",
        "call.outcome_recorded",
        "call.recording_started",
    ] {
        assert!(
            access.contains(action),
            "access.csv lacks {action}: {access}"
        );
    }
    // The admin's audit search by NHS number finds the call's events too.
    let audit: Value = w
        .get_json(&w.admin, "/api/v1/audit?nhs_number=9434765919")
        .await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"call.answered") && actions.contains(&"call.started"),
        "{actions:?}"
    );
}

async fn retention_erases_a_patients_calls_with_their_recording_and_counts_calls_as_contacts(
    stack: Stack,
) {
    use aghub::domain::notifications::About;
    use aghub::service::{retention, Actor};
    let w = World::new(stack).await;
    // Patient A (born 1984): one call, recorded, long ago.
    let id = w.start_call().await["id"].as_str().unwrap().to_string();
    w.act(&w.derm_local, &id, "answer").await;
    let r = w
        .client()
        .post(
            w.app
                .url(&format!("/api/v1/calls/{id}/recording?seq=0&media_ms=3000")),
        )
        .bearer_auth(&w.derm_local)
        .body(webm_tone(3))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    w.act(&w.gp, &id, "end").await;
    let objects_before = crate::helpers::stored_objects(&w.backends).await;
    // Patient B: an old call, and a second call eight years later keeps them.
    let mut b = call_body();
    b["nhs_number"] = json!("401 023 2137");
    let b_old: Value = w
        .post_json(&w.gp, "/api/v1/calls", b.clone())
        .await
        .json()
        .await
        .unwrap();
    assert!(b_old["id"].is_string());
    // Patient C: an old call under legal hold is kept whole until the hold is lifted.
    let mut c = call_body();
    c["nhs_number"] = json!("450 557 7120");
    let held: Value = w
        .post_json(&w.gp, "/api/v1/calls", c)
        .await
        .json()
        .await
        .unwrap();
    let held = held["id"].as_str().unwrap().to_string();
    w.act(&w.derm_local, &held, "answer").await;
    w.act(&w.gp, &held, "end").await;
    let out = crate::cli::ok(&crate::cli::aghub(
        &w.backends,
        &[
            "retention",
            "hold",
            "--call",
            &held,
            "--reason",
            "Complaint under review",
        ],
        None,
    ));
    assert!(out.is_empty(), "{out}");
    crate::cli::fails_with(
        &crate::cli::aghub(
            &w.backends,
            &[
                "retention",
                "hold",
                "--call",
                "no-such-call",
                "--reason",
                "x",
            ],
            None,
        ),
        "There is no call no-such-call",
    );
    let (gp, derm) = (w.user_id(&w.gp).await, w.user_id(&w.derm_local).await);
    w.app.clock.advance(8 * 365 * 24 * H);
    // Eight years on (tokens long expired): B calls again, through the service.
    let now = w.app.clock.now_ms();
    let db = &w.app.state.db;
    aghub::db::rotas::insert(db, &derm, "dermatology", Pool::Local, now - H, now + H, now)
        .await
        .unwrap();
    let gp = aghub::db::users::principal(db, &gp).await.unwrap().unwrap();
    let input = aghub::service::calls::CallInput {
        specialty: "dermatology".into(),
        nhs_number: "4010232137".into(),
        date_of_birth: "1984-03-27".into(),
        reason: "Again".into(),
    };
    aghub::service::calls::start(&w.app.state, &gp, &input)
        .await
        .unwrap();
    w.app.clock.advance(400 * 24 * H);

    let now = w.app.clock.now_ms();
    let run = || {
        retention::run(
            &w.app.state.db,
            &w.app.state.blobs,
            Actor::CommandLine,
            now,
            false,
        )
    };
    let report = run().await.unwrap();
    assert_eq!(
        (report.calls_erased, report.calls_on_hold),
        (1, 1),
        "{report:?}"
    );
    let kept = aghub::db::calls::get(&w.app.state.db, &held)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.nhs_number, "4505577120", "held: kept whole");
    // Lifted, the next run erases it.
    aghub::service::retention::hold(
        &w.app.state.db,
        Actor::CommandLine,
        &About::Call(held.clone()),
        None,
        now,
    )
    .await
    .unwrap();
    let again = run().await.unwrap();
    assert_eq!(
        (again.calls_erased, again.calls_on_hold),
        (1, 0),
        "{again:?}"
    );
    for action in ["call.legal_hold", "call.legal_hold_lifted"] {
        assert_eq!(w.audited(action, &held).await, 1, "{action}");
    }
    let row = aghub::db::calls::get(&w.app.state.db, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            row.nhs_number.as_str(),
            row.date_of_birth.as_str(),
            row.reason.as_str()
        ),
        ("", "", "")
    );
    assert_eq!(
        row.status.as_str(),
        "ended",
        "the call's row stays for the figures"
    );
    // Its page, record and bundle say the record was destroyed.
    for gone in [
        aghub::service::calls::view(&w.app.state, &gp, &id)
            .await
            .err(),
        aghub::service::fhir::calls::export(&w.app.state, &gp, &id)
            .await
            .err(),
    ] {
        assert!(
            matches!(
                gone,
                Some(aghub::service::ServiceError::Gone {
                    code: "record_destroyed",
                    ..
                })
            ),
            "{gone:?}"
        );
    }
    assert!(aghub::db::calls::chunks(&w.app.state.db, &id)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        crate::helpers::stored_objects(&w.backends).await,
        objects_before - 1,
        "the recording left the store"
    );
    // B's calls are kept: their last contact is recent.
    assert_eq!(
        aghub::db::calls::ids_of_patient(&w.app.state.db, "4010232137")
            .await
            .unwrap()
            .len(),
        2
    );
    let erased = w.audited("call.erased", &id).await;
    assert_eq!(erased, 1);
}

async fn the_calls_record_for_the_gp_record_reads_right_in_pdftotext(stack: Stack) {
    let w = World::new(stack).await;
    let id = w.start_call().await["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/calls/{id}/letter.pdf");
    w.app.clock.advance(12 * S);
    w.act(&w.derm_local, &id, "answer").await;
    let during = w.get(&w.gp, &path).await;
    assert_eq!(during.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(during).await, "not_ended");
    w.app.clock.advance(150 * S);
    w.act(&w.gp, &id, "end").await;
    w.record_outcome(&w.derm_local, &id, json!({"outcome": "refer_two_week_wait", "note": "Irregular pigment network: refer on the two-week-wait pathway today."})).await;
    let r = w.get(&w.gp, &path).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let pdf = r.bytes().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("record.pdf");
    std::fs::write(&file, &pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is missing");
    let text = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for expected in [
        "Live A&G call",
        "943 476 5919",
        "27 March 1984",
        "Dermatology",
        "Rapidly growing lesion on the scalp",
        "Test derm1@h.example (local rota)",
        "Refer on the two-week-wait pathway",
        "Irregular pigment network",
        "not recorded yet",
        "2 min",
        "Practice A81001 (A81001)",
    ] {
        assert!(
            text.contains(expected),
            "the record lacks {expected:?}: {text}"
        );
    }
    // The same call gives the same bytes; the record is for those who may see the call.
    let again = w.get(&w.gp, &path).await.bytes().await.unwrap();
    assert_eq!(again, pdf);
    assert_eq!(
        w.get(&w.gp_other_practice, &path).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        w.get(&w.commissioner, &path).await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn calls_are_listed_for_the_practice_and_in_the_consultants_history(stack: Stack) {
    let w = World::new(stack).await;
    let id = w.start_call().await["id"].as_str().unwrap().to_string();
    w.act(&w.derm_local, &id, "answer").await;
    w.act(&w.gp, &id, "end").await;
    w.record_outcome(
        &w.derm_local,
        &id,
        json!({"outcome": "manage_in_primary_care"}),
    )
    .await;
    let shows = |html: &str| {
        html.contains(&format!("/calls/{id}\">"))
            && html.contains("Rapidly growing lesion on the scalp")
    };
    for (email, path, expected) in [
        ("gp@a.example", "/cases", true),
        ("gp2@a.example", "/cases", true),
        ("gp@b.example", "/cases", false),
        ("derm1@h.example", "/queue", true),
        ("derm2@h.example", "/queue", false),
    ] {
        let b = w.app.browser();
        b.sign_in(email, crate::helpers::PASSWORD).await;
        let html = b.get_text(path).await;
        assert_eq!(shows(&html), expected, "{email} on {path}");
        if expected {
            assert!(
                html.contains("Manage in primary care"),
                "{email}: the outcome"
            );
        }
    }
    let listed = sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'calls.listed'",
    )
    .fetch_one(w.app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(listed, 3, "each list that showed the call is in the trail");
}

async fn an_unrecorded_outcome_is_chased_by_notification_until_it_is_recorded(stack: Stack) {
    use crate::notifications::{deliver, events_of, world_with_email, SmtpSink};
    use aghub::service::notify::notice_timed_events;
    let sink = SmtpSink::start();
    let w = world_with_email(stack, &sink).await;
    let id = w.start_call().await["id"].as_str().unwrap().to_string();
    w.act(&w.derm_local, &id, "answer").await;
    w.app.clock.advance(150 * S);
    w.act(&w.gp, &id, "end").await;
    // The consultant records theirs at once; the GP does not.
    w.record_outcome(
        &w.derm_local,
        &id,
        json!({"outcome": "manage_in_primary_care", "note": "Emollients"}),
    )
    .await;
    let chased = |token: &str| {
        let (w, token) = (&w, token.to_string());
        async move {
            events_of(w, &token)
                .await
                .into_iter()
                .filter(|(e, _)| e == "call_outcome_missing")
                .count()
        }
    };
    let look = || notice_timed_events(&w.app.state);
    // Not before a quarter of an hour has passed.
    w.app.clock.advance(15 * 60 * S - 1);
    assert_eq!(look().await.unwrap(), 0);
    w.app.clock.advance(1);
    // Two looks at once (as two instances would) remind once.
    let (a, b) = tokio::join!(look(), look());
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(
        events_of(&w, &w.gp).await,
        vec![("call_outcome_missing".to_string(), id.clone())]
    );
    assert_eq!(
        chased(&w.derm_local).await,
        0,
        "the consultant recorded theirs"
    );
    let v = w.get_json(&w.gp, "/api/v1/notifications").await;
    let n = &v["notifications"][0];
    assert_eq!(
        (n["call_id"].as_str(), n["case_id"].is_null()),
        (Some(id.as_str()), true)
    );
    assert_eq!(n["headline"], "Record the outcome of your Dermatology call");
    // By email too: what to do and a link that needs sign-in, nothing about the patient.
    deliver(&w).await;
    let mail = sink.messages();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0]["rcpt_tos"][0], "gp@a.example");
    assert_eq!(
        mail[0]["subject"],
        "Record the outcome of your Dermatology call"
    );
    let text = mail[0]["text"].as_str().unwrap();
    assert!(text.contains(&format!("/calls/{id}")), "{text}");
    for secret in ["9434765919", "943 476 5919", "Rapidly growing"] {
        assert!(!text.contains(secret), "{secret} in the email");
    }
    // Once a day, not at every look.
    w.app.clock.advance(24 * H - 1);
    assert_eq!(look().await.unwrap(), 0);
    w.app.clock.advance(1);
    assert_eq!(look().await.unwrap(), 1);
    assert_eq!(chased(&w.gp).await, 2);
    // Opening the call reads what was said about it.
    let unread = || {
        let w = &w;
        async move {
            w.get_json(&w.gp, "/api/v1/notifications").await["unread"]
                .as_i64()
                .unwrap()
        }
    };
    assert_eq!(unread().await, 2);
    let r = w.get(&w.gp, &format!("/api/v1/calls/{id}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(unread().await, 0);
    // The notifications page links the call.
    let browser = w.app.browser();
    browser
        .sign_in("gp@a.example", crate::helpers::PASSWORD)
        .await;
    let page = browser.get_text("/notifications").await;
    assert!(page.contains(&format!("href=\"/calls/{id}\"")), "{page}");
    // Recorded: no more reminders.
    w.record_outcome(&w.gp, &id, json!({"outcome": "manage_in_primary_care"}))
        .await;
    w.app.clock.advance(24 * H);
    assert_eq!(look().await.unwrap(), 0);
    assert_eq!(chased(&w.gp).await, 2);
    // Even a look that read the call before the outcome was recorded does not remind.
    let gp_id = w.user_id(&w.gp).await;
    let mut tx = w.app.state.db.begin().await.unwrap();
    let late = aghub::db::notifications::first_call_notice(&mut tx, &id, &gp_id, 1)
        .await
        .unwrap();
    assert!(!late, "recorded: no reminder");
}

async fn a_calls_fhir_bundle_is_valid_r4_and_tells_the_call(stack: Stack) {
    use aghub::clock::rfc3339;
    let w = World::new(stack).await;
    let fhir = |token: &str, id: &str| {
        let (w, token, id) = (&w, token.to_string(), id.to_string());
        async move {
            let r = w.get(&token, &format!("/api/v1/calls/{id}/fhir")).await;
            let status = r.status();
            let bytes = r.bytes().await.unwrap().to_vec();
            (status, bytes)
        }
    };
    let bundle = |bytes: &[u8], what: &str| -> Value {
        crate::fhir::validate(bytes, what);
        serde_json::from_slice(bytes).unwrap()
    };
    use crate::fhir::{entries as of, notes};
    let started = w.app.clock.now_ms();
    let id = w.start_call().await["id"].as_str().unwrap().to_string();

    // While it rings: the request stands; nothing was said yet.
    let (status, bytes) = fhir(&w.gp, &id).await;
    assert_eq!(status, StatusCode::OK);
    let b = bundle(&bytes, "a ringing call");
    let request = &of(&b, "ServiceRequest")[0];
    assert_eq!(request["status"], "active");
    assert_eq!(request["authoredOn"], rfc3339(started));
    assert!(of(&b, "Encounter").is_empty() && of(&b, "DocumentReference").is_empty());

    // The first consultant declines; the second answers.
    w.act(&w.derm_local, &id, "decline").await;
    w.app.clock.advance(12 * S);
    let answered = w.app.clock.now_ms();
    w.act(&w.derm_local_2, &id, "answer").await;
    let r = w
        .client()
        .post(
            w.app
                .url(&format!("/api/v1/calls/{id}/recording?seq=0&media_ms=3000")),
        )
        .bearer_auth(&w.derm_local_2)
        .body(webm_tone(3))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    w.app.clock.advance(150 * S);
    let ended = w.app.clock.now_ms();
    w.act(&w.gp, &id, "end").await;
    w.record_outcome(
        &w.derm_local_2,
        &id,
        json!({"outcome": "manage_in_primary_care", "note": "Dermoscopy reassuring: review in 6 weeks"}),
    )
    .await;
    // One outcome to come: the record is preliminary.
    let (_, bytes) = fhir(&w.gp, &id).await;
    let b = bundle(&bytes, "an ended call with one outcome");
    assert_eq!(of(&b, "DocumentReference")[0]["docStatus"], "preliminary");
    w.record_outcome(
        &w.gp,
        &id,
        json!({"outcome": "manage_in_primary_care", "note": "Safety-netted"}),
    )
    .await;

    let (status, bytes) = fhir(&w.gp, &id).await;
    assert_eq!(status, StatusCode::OK);
    let b = bundle(&bytes, "an ended call with both outcomes");
    let patient = &of(&b, "Patient")[0];
    assert_eq!(patient["identifier"][0]["value"], "9434765919");
    assert_eq!(patient["birthDate"], "1984-03-27");
    assert_eq!(
        of(&b, "Organization")[0]["identifier"][0]["value"],
        "A81001"
    );
    let request = &of(&b, "ServiceRequest")[0];
    assert_eq!(request["status"], "completed");
    assert_eq!(request["reasonCode"][0]["text"], call_body()["reason"]);
    let said = notes(request);
    assert!(
        said.contains("Outcome recorded by the consultant: "),
        "{said}"
    );
    assert!(
        said.contains("Dermoscopy reassuring: review in 6 weeks"),
        "{said}"
    );
    assert!(said.contains("Outcome recorded by the GP: "), "{said}");
    assert!(said.contains("Safety-netted"), "{said}");
    let encounter = &of(&b, "Encounter")[0];
    assert_eq!(encounter["status"], "finished");
    assert_eq!(encounter["class"]["code"], "VR");
    assert_eq!(encounter["period"]["start"], rfc3339(answered));
    assert_eq!(encounter["period"]["end"], rfc3339(ended));
    assert_eq!(encounter["length"]["value"], 150.0);
    assert_eq!(encounter["participant"].as_array().unwrap().len(), 2);
    let media = &of(&b, "Media")[0];
    assert_eq!(media["type"]["coding"][0]["code"], "audio");
    assert_eq!(media["duration"], 3.0);
    assert_eq!(media["content"]["contentType"], "audio/webm");
    assert!(media["content"]["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/api/v1/calls/{id}/recording")));
    let record = &of(&b, "DocumentReference")[0];
    assert_eq!(record["docStatus"], "final");
    assert!(record["content"][0]["attachment"]["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/api/v1/calls/{id}/letter.pdf")));
    let names: Vec<String> = of(&b, "Practitioner")
        .iter()
        .map(|p| p["name"][0]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 2, "the GP and the consultant: {names:?}");
    // The same call gives the same bundle, to the consultant who answered too.
    assert_eq!(fhir(&w.gp, &id).await.1, bytes);
    assert_eq!(fhir(&w.derm_local_2, &id).await, (StatusCode::OK, bytes));
    // The consultant who declined still sees the call while on duty, but not its record, which
    // holds both parties' notes (nor its PDF).
    assert_eq!(
        w.get(&w.derm_local, &format!("/api/v1/calls/{id}"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(fhir(&w.derm_local, &id).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        w.get(&w.derm_local, &format!("/api/v1/calls/{id}/letter.pdf"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // Nobody else: another practice, a commissioner, a consultant never rung.
    for token in [&w.gp_other_practice, &w.commissioner, &w.cardio] {
        assert_eq!(fhir(token, &id).await.0, StatusCode::NOT_FOUND);
    }
    let exported = w.audited("call.fhir_exported", &id).await;
    assert_eq!(exported, 5);

    // A call nobody answered: the request was revoked for the written case it became.
    let missed = w.start_call().await["id"].as_str().unwrap().to_string();
    w.app.clock.advance(300 * S);
    let (status, bytes) = fhir(&w.gp, &missed).await;
    assert_eq!(status, StatusCode::OK);
    let b = bundle(&bytes, "a missed call");
    let case: Value = w.get_json(&w.gp, &format!("/api/v1/calls/{missed}")).await;
    let request = &of(&b, "ServiceRequest")[0];
    assert_eq!(request["status"], "revoked");
    assert!(notes(request).contains(case["case_id"].as_str().unwrap()));
    assert!(of(&b, "Encounter").is_empty());
    assert_eq!(of(&b, "DocumentReference")[0]["docStatus"], "final");
}

async fn a_party_cannot_flood_a_call_with_signalling(stack: Stack) {
    use aghub::domain::calls::Party;
    use aghub::service::calls::{send_signal, MAX_SIGNALS_PER_PARTY};
    use aghub::service::ServiceError;
    let w = World::new(stack).await;
    let id = w.start_call().await["id"].as_str().unwrap().to_string();
    let state = &w.app.state;
    let from_gp = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM call_signals WHERE call_id = $1 AND from_party = 'gp'",
        )
        .bind(&id)
        .fetch_one(state.db.pool())
        .await
        .unwrap()
    };
    // Not before the call is answered, and never anything but one JSON value.
    assert!(matches!(
        send_signal(state, &id, Party::Gp, "{}").await,
        Err(ServiceError::Conflict {
            code: "not_answered",
            ..
        })
    ));
    w.act(&w.derm_local, &id, "answer").await;
    assert!(matches!(
        send_signal(state, &id, Party::Gp, "{not json").await,
        Err(ServiceError::Invalid(_))
    ));
    for i in 0..MAX_SIGNALS_PER_PARTY {
        send_signal(state, &id, Party::Gp, &json!({"candidate": i}).to_string())
            .await
            .unwrap();
    }
    let over = send_signal(state, &id, Party::Gp, "{}").await;
    assert!(matches!(over, Err(ServiceError::Paused { .. })), "{over:?}");
    assert_eq!(
        from_gp().await,
        MAX_SIGNALS_PER_PARTY,
        "nothing stored past the cap"
    );
    // The other party still gets through.
    send_signal(state, &id, Party::Consultant, "{}")
        .await
        .unwrap();
}
