//! Issue 14 in real browsers: a GP and two consultants in headless Chromium with fake
//! microphones. The GP calls dermatology, the first local consultant's page rings and they
//! decline, the second's rings and they answer, audio flows both ways (WebRTC statistics), the
//! GP ends the call, both record outcomes, and the recording stored from the consultant's
//! browser plays back with the length ffprobe reads. On PostgreSQL + S3 the GP and the
//! consultants use two different instances, so the signalling crosses instances through NOTIFY.
//! The times from "Call" to the ring and from "Answer" to audio are measured in the browsers.

use std::time::Duration;

use aghub::domain::Role;
use fantoccini::{Client, Locator};

use crate::browser::{
    browser_with, click, sign_in, start_driver, type_into, wait_until, wait_until_within, Shots,
};
use crate::calls::ffprobe_seconds;
use crate::helpers::{Backends, Stack, TestApp};

const FAKE_MEDIA: &[&str] = &[
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_call_in_three_browsers_on_one_instance() {
    live_call(Stack::SqliteFs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_call_in_three_browsers_across_two_instances() {
    live_call(Stack::PostgresS3).await;
}

async fn number(c: &Client, expr: &str) -> f64 {
    c.execute(&format!("return Number({expr});"), vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap_or(f64::NAN)
}

/// Bytes received and sent by the page's call, from WebRTC's own statistics.
async fn audio_bytes(c: &Client) -> (f64, f64) {
    let v = c
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             window.aghubCall.stats().then(s => done([s.received, s.sent]));",
            vec![],
        )
        .await
        .unwrap();
    (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())
}

async fn live_call(stack: Stack) {
    let backends = Backends::new(stack).await;
    let app = TestApp::start(&backends).await;
    // On PostgreSQL the consultants use a second instance sharing the database and the store.
    let second = match stack {
        Stack::PostgresS3 => Some(TestApp::start_with_clock(&backends, app.clock.clone()).await),
        Stack::SqliteFs => None,
    };
    let gp_base = app.base.replace("127.0.0.1", "localhost");
    let derm_base = second
        .as_ref()
        .map_or(&app.base, |s| &s.base)
        .replace("127.0.0.1", "localhost");
    let practice = app.add_practice("A81001").await;
    let gp_id = app
        .add_user("gp@a.example", Role::Gp, Some(&practice.id), &[])
        .await;
    for email in ["derm1@h.example", "derm2@h.example"] {
        let id = app
            .add_user(email, Role::Consultant, None, &["dermatology"])
            .await;
        app.on_local_rota_today(&id, "dermatology").await;
    }

    let work = tempfile::tempdir().unwrap();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("../test-artifacts/calls-{stack:?}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut shots = Shots {
        dir: dir.clone(),
        n: 0,
    };
    let (_driver, port) = start_driver().await;

    let derm1 = browser_with(port, 1280, 900, &work.path().join("derm1"), FAKE_MEDIA).await;
    let derm2 = browser_with(port, 1280, 900, &work.path().join("derm2"), FAKE_MEDIA).await;
    let gp = browser_with(port, 1280, 900, &work.path().join("gp"), FAKE_MEDIA).await;
    for (c, email) in [(&derm1, "derm1@h.example"), (&derm2, "derm2@h.example")] {
        sign_in(c, &derm_base, email).await;
        c.goto(&format!("{derm_base}/queue")).await.unwrap();
        // The ringing socket is open before the GP calls.
        wait_until(c, "document.getElementById('call-ringing') !== null").await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    sign_in(&gp, &gp_base, "gp@a.example").await;
    gp.goto(&format!("{gp_base}/calls/new")).await.unwrap();
    shots.take(&gp, "gp-call-form").await;
    gp.find(Locator::Css("#specialty"))
        .await
        .unwrap()
        .select_by_value("dermatology")
        .await
        .unwrap();
    type_into(&gp, "#nhs_number", "943 476 5919").await;
    type_into(&gp, "#date_of_birth-day", "27").await;
    type_into(&gp, "#date_of_birth-month", "3").await;
    type_into(&gp, "#date_of_birth-year", "1984").await;
    type_into(
        &gp,
        "#reason",
        "Changing mole on the back: same-week clinic or manage here?",
    )
    .await;
    click(&gp, "#call-button").await;
    wait_until(
        &gp,
        "location.pathname.startsWith('/calls/') && document.getElementById('call')",
    )
    .await;
    let called_at = number(&gp, "sessionStorage.getItem('aghubCalledAt')").await;
    shots.take(&gp, "gp-ringing").await;

    // The first local consultant's page rings; they decline.
    wait_until(&derm1, "!document.getElementById('call-ringing').hidden").await;
    let rang_at = number(&derm1, "window.aghubRangAt").await;
    assert!(
        derm2
            .find(Locator::Css("#call-ringing:not([hidden])"))
            .await
            .is_err(),
        "one at a time"
    );
    shots.take(&derm1, "consultant-ringing").await;
    click(&derm1, ".call-decline").await;

    // The second rings at once and answers.
    wait_until(&derm2, "!document.getElementById('call-ringing').hidden").await;
    click(&derm2, ".call-answer").await;
    wait_until(&derm2, "location.pathname.startsWith('/calls/')").await;
    let answered_at = number(&derm2, "sessionStorage.getItem('aghubAnsweredAt')").await;
    let call_id: String = derm2
        .execute(
            "return document.getElementById('call').dataset.callId",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();

    // Audio flows both ways.
    for c in [&gp, &derm2] {
        wait_until_within(c, "window.aghubCall && window.aghubCall.audioAt", 20).await;
    }
    let audio_at = number(&derm2, "window.aghubCall.audioAt").await;
    let gp_audio_at = number(&gp, "window.aghubCall.audioAt").await;
    shots.take(&derm2, "consultant-in-call").await;
    shots.take(&gp, "gp-in-call").await;
    // A few seconds of talk: at least two chunks of the recording uploaded.
    wait_until(&derm2, "window.aghubCall.chunksUploaded >= 2").await;
    for c in [&gp, &derm2] {
        let (received, sent) = audio_bytes(c).await;
        assert!(
            received > 1000.0 && sent > 1000.0,
            "bytes received {received}, sent {sent}"
        );
    }

    // The GP ends the call; both pages then ask for the outcome.
    click(&gp, "#end-call").await;
    // The consultant's page first sends the recording's last chunks, retried with back-off on a
    // server error: this once took over 10 s in the whole suite. A later failure (SQLite, this
    // test beside the two-instance one) showed chunk uploads and the call page refused with
    // "database is locked" after SQLite's 10 s busy timeout; that is a server fault this longer
    // wait does not fix (issue 16's note of 4 December).
    for c in [&gp, &derm2] {
        wait_until_within(c, "document.getElementById('outcome-form') !== null", 30).await;
    }
    shots.take(&gp, "gp-outcome").await;
    for (c, note) in [
        (&gp, "Agreed: photos to teledermatology first."),
        (&derm2, "Benign features described; review in 6 weeks."),
    ] {
        click(c, "input[name=outcome][value=manage_in_primary_care]").await;
        type_into(c, "#note", note).await;
        click(c, "#save-outcome").await;
        wait_until(
            c,
            "document.getElementById('outcome-form') === null && document.getElementById('call')",
        )
        .await;
    }
    shots.take(&derm2, "consultant-done").await;

    // The API agrees; the recording plays with the length the browser recorded.
    let token = app.token_for(&gp_id).await;
    let call: serde_json::Value = app
        .api()
        .get(app.url(&format!("/api/v1/calls/{call_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(call["status"], "ended");
    assert_eq!(call["answered_by"], "Test derm2@h.example");
    assert_eq!(
        call["outcomes"],
        serde_json::json!({"gp": "manage_in_primary_care", "consultant": "manage_in_primary_care"})
    );
    let recorded = call["recording"]["duration_s"]
        .as_f64()
        .expect("a recording");
    let bytes = app
        .api()
        .get(app.url(&format!("/api/v1/calls/{call_id}/recording")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let probed = ffprobe_seconds(&bytes);
    assert!(probed > 3.0, "ffprobe reads {probed} s");
    assert!(
        (probed - recorded).abs() < 1.5,
        "ffprobe {probed} s, recorded {recorded} s"
    );

    // It plays in the GP's browser, from the call's page.
    gp.goto(&format!("{gp_base}/calls/{call_id}"))
        .await
        .unwrap();
    gp.execute(
        "const a = document.getElementById('recording'); a.preload = 'auto'; a.play();",
        vec![],
    )
    .await
    .unwrap();
    wait_until(
        &gp,
        "document.getElementById('recording').currentTime > 1 && !document.getElementById('recording').error",
    )
    .await;

    // The commissioner sees the call in the week's figures.
    app.add_user("c@icb.example", Role::Commissioner, None, &[])
        .await;
    derm1.delete_all_cookies().await.unwrap();
    sign_in(&derm1, &gp_base, "c@icb.example").await;
    derm1
        .goto(&format!("{gp_base}/reports?from=2026-11-23&to=2026-11-29"))
        .await
        .unwrap();
    let cell = |label: &str| {
        format!(
            "[...document.querySelectorAll('#calls ~ table tbody tr')].find(r => \
             r.cells[0].textContent.includes('All calls')).querySelector('td[data-label=\"{label}\"]').textContent"
        )
    };
    assert_eq!(number(&derm1, &cell("Calls")).await, 1.0);
    let answered = derm1
        .execute(&format!("return {};", cell("Answered")), vec![])
        .await
        .unwrap();
    assert!(
        answered.as_str().unwrap().trim().starts_with('1'),
        "answered: {answered}"
    );
    derm1
        .execute("document.getElementById('calls').scrollIntoView();", vec![])
        .await
        .unwrap();
    shots.take(&derm1, "commissioner-figures").await;

    let ring_ms = rang_at - called_at;
    let audio_ms = audio_at - answered_at;
    let line = format!(
        "{stack:?}: Call -> consultant's ring {ring_ms:.0} ms; Answer -> audio at the consultant {audio_ms:.0} ms, at the GP {:.0} ms; recording {recorded:.1} s (ffprobe {probed:.1} s)",
        gp_audio_at - answered_at
    );
    eprintln!("{line}");
    std::fs::write(dir.join("timings.txt"), format!("{line}\n")).unwrap();
    assert!(ring_ms > 0.0 && audio_ms > 0.0, "{line}");
    for c in [gp, derm1, derm2] {
        c.close().await.unwrap();
    }
    if let Some(s) = second {
        s.stop().await;
    }
}
