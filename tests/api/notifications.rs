//! Telling people (issue 13): every event reaches the right people in the app, by email through
//! a real SMTP server (scripts/smtp-sink, aiosmtpd) and by signed webhook to a real HTTP
//! receiver; nothing is lost or doubled when the mail server or the receiver is down, when
//! several workers deliver at once, or when aghub is killed between commit and delivery.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aghub::service::outbox::{self, Round};
use hmac::{Hmac, Mac};
use reqwest::multipart::Form;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::cases::{case_form, text_form, World};
use crate::helpers::{extract_csrf, free_port, Backends, Stack, PASSWORD};

on_both_stacks!(
    every_event_reaches_the_right_people_in_the_app_by_email_and_by_webhook,
    nothing_is_lost_or_doubled_when_the_mail_server_and_the_receiver_are_down,
    several_workers_at_once_deliver_each_message_once,
    people_choose_what_emails_them_and_consultants_can_have_a_daily_digest,
    webhook_add_prints_the_secret_once_and_refuses_unsafe_urls,
    killing_aghub_between_commit_and_delivery_loses_nothing,
    notifications_and_deliveries_have_pages,
);

const H: i64 = 3_600_000;
pub const PUBLIC: &str = "https://aghub.test.nhs.uk";

/// scripts/smtp-sink on a port of its own: a real SMTP server that keeps each message as
/// JSON parsed by Python's email package.
pub struct SmtpSink {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

impl SmtpSink {
    pub fn start() -> Self {
        let mut sink = Self {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        sink.resume();
        sink
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on the same port and folder.
    pub fn resume(&mut self) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/smtp-sink");
        let mut child = Command::new(&script)
            .args(["--port", &self.port.to_string(), "--dir"])
            .arg(self.dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", script.display()));
        // It prints "listening" once the port is open; anything else is a missing aiosmtpd.
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(
            line.trim(),
            "listening",
            "scripts/smtp-sink did not start: is aiosmtpd installed (scripts/deps.sh ensure_smtp_sink)?"
        );
        self.child = Some(child);
    }

    /// Kills the server: the port refuses connections until [`Self::resume`].
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Every message received so far, as parsed by Python.
    pub fn messages(&self) -> Vec<Value> {
        let mut out: Vec<Value> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| {
                let p = e.unwrap().path();
                (p.extension()? == "json")
                    .then(|| serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap())
            })
            .collect();
        out.sort_by_key(|m| m["message_id"].as_str().unwrap_or("").to_string());
        out
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

/// A real HTTP server standing in for a GP system: records every call; answers 503 while
/// `failing`.
pub struct Receiver {
    pub addr: SocketAddr,
    pub calls: Arc<Mutex<Vec<Received>>>,
    pub failing: Arc<AtomicBool>,
}

impl Receiver {
    pub async fn start() -> Self {
        let calls: Arc<Mutex<Vec<Received>>> = Default::default();
        let failing: Arc<AtomicBool> = Default::default();
        let (c, f) = (calls.clone(), failing.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let (c, f) = (c.clone(), f.clone());
                    async move {
                        if f.load(Ordering::SeqCst) {
                            return StatusCode::SERVICE_UNAVAILABLE;
                        }
                        c.lock().unwrap().push(Received {
                            headers,
                            body: body.to_vec(),
                        });
                        StatusCode::NO_CONTENT
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            addr,
            calls,
            failing,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.calls.lock().unwrap().clone()
    }
}

/// Whether a call's signature checks out with this secret, as a GP system would check it.
fn signature_ok(call: &Received, secret: &str) -> bool {
    let header = call.headers["x-aghub-signature"].to_str().unwrap();
    let Some((t, v1)) = header
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&call.body);
    hex::decode(v1).is_ok_and(|sig| mac.verify_slice(&sig).is_ok())
}

/// Checks a call as a GP system would (signature, idempotency key) and returns its body.
fn verified(call: &Received, secret: &str) -> Value {
    assert!(
        signature_ok(call, secret),
        "the signature verifies with the practice's secret"
    );
    let body: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(
        call.headers["x-aghub-delivery"].to_str().unwrap(),
        body["id"].as_str().unwrap(),
        "the delivery id is the idempotency key in both places"
    );
    body
}

pub async fn world_with_email(stack: Stack, sink: &SmtpSink) -> World {
    let smtp = sink.url();
    World::with_settings(stack, move |s| {
        s.smtp_url = Some(smtp);
        s.sms_log = Some(s.data_dir.join("texts.jsonl"));
        s.public_url = Some(PUBLIC.into());
        s.mail_from = "aghub <noreply@aghub.test.nhs.uk>".into();
    })
    .await
}

async fn add_webhook(w: &World, ods: &str, url: &str) -> String {
    let (_, secret) = outbox::add_webhook(
        &w.app.state.db,
        &w.app.state.settings,
        aghub::service::Actor::CommandLine,
        ods,
        url,
        w.app.state.now_ms(),
    )
    .await
    .unwrap();
    secret
}

pub async fn deliver(w: &World) -> Round {
    outbox::run_pending(&w.app.state).await.unwrap()
}

async fn notice(w: &World) -> usize {
    aghub::service::notify::notice_timed_events(&w.app.state)
        .await
        .unwrap()
}

async fn claim(w: &World, token: &str, id: &str) {
    let r = w.post(token, &format!("/api/v1/cases/{id}/claim")).await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn reply(w: &World, token: &str, id: &str, body: Value) {
    let r = w
        .post_json(token, &format!("/api/v1/cases/{id}/reply"), body)
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

async fn respond(w: &World, id: &str) {
    let r = w
        .client()
        .post(w.app.url(&format!("/api/v1/cases/{id}/respond")))
        .bearer_auth(&w.gp)
        .multipart(Form::new().text("message", "Yes, it bleeds when scratched."))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn text_case(w: &World, specialty: &str, urgency: &str) -> String {
    let r = w.submit(&w.gp, text_form(specialty, urgency)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    v["id"].as_str().unwrap().to_string()
}

async fn derm_case(w: &World, urgency: &str) -> String {
    let r = w.submit(&w.gp, case_form("dermatology", urgency, 1)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    v["id"].as_str().unwrap().to_string()
}

/// The events in a person's notifications, oldest first, with their case ids.
pub async fn events_of(w: &World, token: &str) -> Vec<(String, String)> {
    let v = w.get_json(token, "/api/v1/notifications").await;
    let mut out: Vec<(String, String)> = v["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["event"].as_str().unwrap().to_string(),
                n["case_id"]
                    .as_str()
                    .or(n["call_id"].as_str())
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    out.reverse();
    out
}

fn ev(event: &str, case: &str) -> (String, String) {
    (event.to_string(), case.to_string())
}

/// Every subject each address received, in order of arrival is not promised: sorted.
fn subjects_by_recipient(messages: &[Value]) -> BTreeMap<String, Vec<String>> {
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in messages {
        for to in m["rcpt_tos"].as_array().unwrap() {
            by.entry(to.as_str().unwrap().to_string())
                .or_default()
                .push(m["subject"].as_str().unwrap().to_string());
        }
    }
    for v in by.values_mut() {
        v.sort();
    }
    by
}

/// What must never be in an email: the patient's identifiers and anything clinical.
pub fn assert_no_patient_data(m: &Value) {
    let all = format!("{} {} {}", m["subject"], m["text"], m["html"]);
    for secret in [
        "9434765919",
        "943 476 5919",
        "1984-03-27",
        "27 March 1984",
        "27/03/1984",
        "Pigmented",
        "forearm",
        "melanoma",
        "bleeds",
        "Reassure",
        "Rapid access",
    ] {
        assert!(!all.contains(secret), "{secret:?} in an email: {all}");
    }
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

async fn every_event_reaches_the_right_people_in_the_app_by_email_and_by_webhook(stack: Stack) {
    let sink = SmtpSink::start();
    let w = world_with_email(stack, &sink).await;
    let receiver = Receiver::start().await;
    let other_receiver = Receiver::start().await;
    let secret = add_webhook(&w, "A81001", &receiver.url()).await;
    add_webhook(&w, "B82002", &other_receiver.url()).await;

    // An urgent dermatology case: the local consultants on duty hear at once.
    let urgent = derm_case(&w, "urgent").await;
    // Information requested, the GP answers, the consultant who asked hears, then advises.
    claim(&w, &w.derm_local, &urgent).await;
    reply(
        &w,
        &w.derm_local,
        &urgent,
        json!({"advice": "Is it bleeding?", "outcome": "request_information"}),
    )
    .await;
    respond(&w, &urgent).await;
    reply(
        &w,
        &w.derm_local,
        &urgent,
        json!({"advice": "Reassure: seborrhoeic keratosis.", "outcome": "manage_in_primary_care"}),
    )
    .await;
    // Cardiology: one the hospital converts, one the GP has to refer.
    let converted = text_case(&w, "cardiology", "routine").await;
    claim(&w, &w.cardio, &converted).await;
    reply(&w, &w.cardio, &converted, json!({"advice": "Rapid access chest pain clinic.", "outcome": "refer_urgent", "convert": true})).await;
    let to_refer = text_case(&w, "cardiology", "routine").await;
    claim(&w, &w.cardio, &to_refer).await;
    reply(
        &w,
        &w.cardio,
        &to_refer,
        json!({"advice": "Routine cardiology referral.", "outcome": "refer_routine"}),
    )
    .await;
    // A routine dermatology case nobody claims: escalated after 4 hours, past its 48-hour
    // target after that. Each is announced once however often anyone looks.
    let waiting = derm_case(&w, "routine").await;
    assert_eq!(notice(&w).await, 0);
    w.app.clock.advance(4 * H + 1);
    assert_eq!(notice(&w).await, 1, "escalated");
    assert_eq!(notice(&w).await, 0, "announced once");
    w.app.clock.advance(44 * H);
    assert_eq!(notice(&w).await, 1, "past target");
    // The referral the GP has to make: 10 working days, then overdue.
    w.app.clock.advance(14 * 24 * H);
    assert_eq!(notice(&w).await, 1, "referral overdue");
    assert_eq!(notice(&w).await, 0);

    let round = deliver(&w).await;
    assert_eq!((round.failed, round.dead), (0, 0), "{round:?}");
    assert_eq!(
        deliver(&w).await,
        Round::default(),
        "nothing left to deliver"
    );

    // In the app.
    assert_eq!(
        events_of(&w, &w.gp).await,
        vec![
            ev("information_requested", &urgent),
            ev("advice_arrived", &urgent),
            ev("converted", &converted),
            ev("gp_to_refer", &to_refer),
            ev("referral_overdue", &to_refer),
        ]
    );
    assert_eq!(
        events_of(&w, &w.derm_local).await,
        vec![
            ev("urgent_queued", &urgent),
            ev("gp_responded", &urgent),
            ev("past_target", &waiting),
        ]
    );
    assert_eq!(
        events_of(&w, &w.derm_local_2).await,
        vec![ev("urgent_queued", &urgent), ev("past_target", &waiting)]
    );
    assert_eq!(
        events_of(&w, &w.derm_national).await,
        vec![ev("escalated", &waiting), ev("past_target", &waiting)]
    );
    for nobody in [
        &w.derm_off_duty,
        &w.gp_same_practice,
        &w.gp_other_practice,
        &w.commissioner,
    ] {
        assert!(events_of(&w, nobody).await.is_empty());
    }
    // Unread until the person opens the case.
    let v = w.get_json(&w.gp, "/api/v1/notifications").await;
    assert_eq!(v["unread"], 5);
    assert_eq!(
        w.get(&w.gp, &format!("/api/v1/cases/{to_refer}"))
            .await
            .status(),
        StatusCode::OK
    );
    let v = w.get_json(&w.gp, "/api/v1/notifications").await;
    assert_eq!(
        v["unread"], 3,
        "opening the case read its two notifications"
    );

    // By email: one per person per event, to the right address, with a link and no patient data.
    let messages = sink.messages();
    let by = subjects_by_recipient(&messages);
    assert_eq!(
        by,
        BTreeMap::from([
            (
                "gp@a.example".to_string(),
                strs(&[
                    "A Cardiology referral you need to make is overdue",
                    "Advice from Dermatology is ready",
                    "Cardiology advises a referral: you need to refer",
                    "Cardiology has converted your request into a referral",
                    "Dermatology needs more information",
                ])
            ),
            (
                "derm1@h.example".to_string(),
                strs(&[
                    "A Dermatology case is past its target with no reply",
                    "A GP has answered your Dermatology question",
                    "An urgent Dermatology case is waiting",
                ])
            ),
            (
                "derm2@h.example".to_string(),
                strs(&[
                    "A Dermatology case is past its target with no reply",
                    "An urgent Dermatology case is waiting",
                ])
            ),
            (
                "derm@national.example".to_string(),
                strs(&[
                    "A Dermatology case is escalated to the national pool",
                    "A Dermatology case is past its target with no reply",
                ])
            ),
        ])
    );
    let ids: HashSet<&str> = messages
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), messages.len(), "one Message-ID per message");
    for m in &messages {
        assert_eq!(m["from"], "aghub <noreply@aghub.test.nhs.uk>");
        assert_eq!(m["content_type"], "multipart/alternative");
        assert!(m["message_id"]
            .as_str()
            .unwrap()
            .ends_with("@aghub.test.nhs.uk>"));
        assert_no_patient_data(m);
        let text = m["text"].as_str().unwrap();
        let html = m["html"].as_str().unwrap();
        let case_link = [&urgent, &converted, &to_refer, &waiting]
            .iter()
            .map(|id| format!("{PUBLIC}/cases/{id}"))
            .find(|l| text.contains(l.as_str()))
            .unwrap_or_else(|| panic!("no case link in {text}"));
        assert!(html.contains(&format!("href=\"{case_link}\"")), "{html}");
        assert!(text.contains("Sign in"));
    }

    // By webhook: the practice's GP system hears its five events, signed; the other
    // practice's hears nothing.
    assert!(other_receiver.received().is_empty());
    let calls = receiver.received();
    let mut seen: Vec<(String, String)> = calls
        .iter()
        .map(|c| {
            let body = verified(c, &secret);
            assert_eq!(c.headers["x-aghub-event"], body["type"].as_str().unwrap());
            assert_eq!(body["practice"], "A81001");
            let case = body["case"]["id"].as_str().unwrap();
            assert_eq!(
                body["case"]["fhir"],
                format!("{PUBLIC}/api/v1/cases/{case}/fhir")
            );
            assert_eq!(
                body["case"]["letter"],
                format!("{PUBLIC}/api/v1/cases/{case}/letter.pdf")
            );
            assert!(!String::from_utf8_lossy(&c.body).contains("9434765919"));
            (body["type"].as_str().unwrap().to_string(), case.to_string())
        })
        .collect();
    seen.sort();
    let mut expected = vec![
        ev("case.information_requested", &urgent),
        ev("case.answered", &urgent),
        ev("case.converted", &converted),
        ev("case.gp_to_refer", &to_refer),
        ev("case.referral_overdue", &to_refer),
    ];
    expected.sort();
    assert_eq!(seen, expected);

    // A forged body fails the check a receiver makes.
    let mut forged = calls[0].clone();
    forged.body = forged
        .body
        .iter()
        .map(|b| if *b == b'A' { b'B' } else { *b })
        .collect();
    assert!(
        !signature_ok(&forged, &secret),
        "a changed body must not verify"
    );
    assert!(
        !signature_ok(&calls[0], "whsec_another"),
        "another secret must not verify"
    );

    // Every delivery is in the audit trail.
    let audit = aghub::db::audit::recent(&w.app.state.db, 1000)
        .await
        .unwrap();
    let delivered = audit
        .iter()
        .filter(|e| e.action == "outbox.delivered")
        .count();
    assert_eq!(delivered, messages.len() + calls.len());
}

async fn nothing_is_lost_or_doubled_when_the_mail_server_and_the_receiver_are_down(stack: Stack) {
    let mut sink = SmtpSink::start();
    let w = world_with_email(stack, &sink).await;
    let receiver = Receiver::start().await;
    let secret = add_webhook(&w, "A81001", &receiver.url()).await;

    sink.stop();
    receiver.failing.store(true, Ordering::SeqCst);
    // Two consultants hear of the urgent case; the GP hears of the request, by email and webhook.
    let id = text_case(&w, "cardiology", "urgent").await;
    let urgent_derm = derm_case(&w, "urgent").await;
    claim(&w, &w.cardio, &id).await;
    reply(
        &w,
        &w.cardio,
        &id,
        json!({"advice": "ECG?", "outcome": "request_information"}),
    )
    .await;
    let round = deliver(&w).await;
    assert_eq!(
        round,
        Round {
            delivered: 0,
            failed: 5,
            dead: 0
        }
    );
    let counts = aghub::db::outbox::counts(&w.app.state.db).await.unwrap();
    assert_eq!(
        (counts.retrying, counts.pending, counts.delivered),
        (5, 0, 0)
    );

    // Back up: nothing goes before its backoff, then everything goes once.
    sink.resume();
    receiver.failing.store(false, Ordering::SeqCst);
    assert_eq!(
        deliver(&w).await,
        Round::default(),
        "not before the retry is due"
    );
    w.app.clock.advance(30_000);
    assert_eq!(deliver(&w).await.delivered, 5);
    assert_eq!(deliver(&w).await, Round::default());
    let messages = sink.messages();
    assert_eq!(
        messages.len(),
        4,
        "cardio and derm1, derm2 for the urgent cases; the GP"
    );
    let ids: HashSet<&str> = messages
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4, "each message arrived exactly once");
    assert_eq!(receiver.received().len(), 1);
    verified(&receiver.received()[0], &secret);
    let _ = urgent_derm;

    // A receiver that stays down: retried with backoff, then dead-lettered; an admin retries.
    receiver.failing.store(true, Ordering::SeqCst);
    respond_with_text(&w, &id).await;
    reply(
        &w,
        &w.cardio,
        &id,
        json!({"advice": "Fine.", "outcome": "manage_in_primary_care"}),
    )
    .await;
    let mut attempts = 0;
    loop {
        let r = deliver(&w).await;
        // The GP's email goes on the first round; the webhook keeps failing.
        attempts += r.failed + r.dead;
        if r.dead == 1 {
            break;
        }
        assert!(attempts < 20, "never dead-lettered");
        w.app.clock.advance(H);
    }
    assert_eq!(attempts as i64, aghub::domain::notifications::MAX_ATTEMPTS);
    let counts = aghub::db::outbox::counts(&w.app.state.db).await.unwrap();
    assert_eq!(counts.dead, 1);
    let troubled = aghub::db::outbox::troubled(&w.app.state.db, 10)
        .await
        .unwrap();
    assert_eq!(troubled.len(), 1);
    assert_eq!(troubled[0].to, receiver.url());
    assert!(
        troubled[0].last_error.as_deref().unwrap().contains("503"),
        "{troubled:?}"
    );
    receiver.failing.store(false, Ordering::SeqCst);
    let n = outbox::retry(
        &w.app.state,
        aghub::service::Actor::CommandLine,
        Some(&troubled[0].id),
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
    assert_eq!(deliver(&w).await.delivered, 1);
    let answered: Vec<Value> = receiver
        .received()
        .iter()
        .map(|c| verified(c, &secret))
        .filter(|b| b["type"] == "case.answered")
        .collect();
    assert_eq!(answered.len(), 1);
    assert_eq!(
        aghub::db::outbox::counts(&w.app.state.db)
            .await
            .unwrap()
            .dead,
        0
    );
}

async fn respond_with_text(w: &World, id: &str) {
    respond(w, id).await;
    // The response goes back to the consultant who asked: they claim it again to reply.
    let _ = w
        .post(&w.cardio, &format!("/api/v1/cases/{id}/claim"))
        .await;
}

async fn several_workers_at_once_deliver_each_message_once(stack: Stack) {
    let sink = SmtpSink::start();
    let w = world_with_email(stack, &sink).await;
    for _ in 0..30 {
        text_case(&w, "cardiology", "urgent").await;
    }
    // Four workers, as four instances would run them, over one database.
    let state = &w.app.state;
    let rounds = futures::future::join_all((0..4).map(|_| outbox::run_pending(state))).await;
    let delivered: usize = rounds.into_iter().map(|r| r.unwrap().delivered).sum();
    assert_eq!(delivered, 30);
    let messages = sink.messages();
    assert_eq!(messages.len(), 30);
    let ids: HashSet<&str> = messages
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 30, "no message was sent twice");
}

async fn people_choose_what_emails_them_and_consultants_can_have_a_daily_digest(stack: Stack) {
    let sink = SmtpSink::start();
    let w = world_with_email(stack, &sink).await;
    let derm1 = w.get_json(&w.derm_local, "/api/v1/me").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let gp = w.get_json(&w.gp, "/api/v1/me").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let principal = |id: String| {
        let db = w.app.state.db.clone();
        async move {
            aghub::db::users::principal(&db, &id)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let derm1 = principal(derm1).await;
    let gp = principal(gp).await;
    use aghub::service::notify::save_settings;
    // A GP's news about their patient cannot wait for a digest; nor can they set consultants' events.
    for bad in [
        vec![("advice_arrived".to_string(), "digest".to_string())],
        vec![("urgent_queued".to_string(), "off".to_string())],
        vec![("advice_arrived".to_string(), "sometimes".to_string())],
    ] {
        assert!(matches!(
            save_settings(&w.app.state, &gp, &bad).await,
            Err(aghub::service::ServiceError::Invalid(_))
        ));
    }
    save_settings(
        &w.app.state,
        &gp,
        &[("information_requested".into(), "off".into())],
    )
    .await
    .unwrap();
    save_settings(
        &w.app.state,
        &derm1,
        &[("urgent_queued".into(), "digest".into())],
    )
    .await
    .unwrap();

    let first = derm_case(&w, "urgent").await;
    w.app.clock.advance(H);
    let second = derm_case(&w, "urgent").await;
    claim(&w, &w.derm_local_2, &first).await;
    reply(
        &w,
        &w.derm_local_2,
        &first,
        json!({"advice": "More?", "outcome": "request_information"}),
    )
    .await;
    deliver(&w).await;
    let by = subjects_by_recipient(&sink.messages());
    assert!(
        !by.contains_key("gp@a.example"),
        "the GP turned this email off: {by:?}"
    );
    assert!(
        !by.contains_key("derm1@h.example"),
        "derm1's digest waits for the morning"
    );
    assert_eq!(
        by["derm2@h.example"].len(),
        2,
        "derm2 hears of each at once"
    );
    // Still in the app for both.
    assert_eq!(
        events_of(&w, &w.gp).await,
        vec![ev("information_requested", &first)]
    );
    assert_eq!(events_of(&w, &w.derm_local).await.len(), 2);

    // 07:00 UK time the next morning: one email for both.
    w.app.clock.advance(22 * H);
    deliver(&w).await;
    let messages = sink.messages();
    let digests: Vec<&Value> = messages
        .iter()
        .filter(|m| m["rcpt_tos"][0] == "derm1@h.example")
        .collect();
    assert_eq!(digests.len(), 1);
    assert_eq!(digests[0]["subject"], "aghub daily summary: 2 updates");
    let text = digests[0]["text"].as_str().unwrap();
    assert!(text.contains(&format!("{PUBLIC}/cases/{first}")));
    assert!(text.contains(&format!("{PUBLIC}/cases/{second}")));
    assert_no_patient_data(digests[0]);
}

async fn webhook_add_prints_the_secret_once_and_refuses_unsafe_urls(stack: Stack) {
    let b = Backends::new(stack).await;
    let run = |args: &[&str], allow_http: bool| {
        Command::new(env!("CARGO_BIN_EXE_aghub"))
            .args(args)
            .env("AGHUB_DATABASE_URL", &b.database_url)
            .env("AGHUB_STORAGE_URL", &b.storage_url)
            .env("AGHUB_DATA_DIR", b.dir.path())
            .env("AGHUB_WEBHOOK_ALLOW_HTTP", allow_http.to_string())
            .output()
            .unwrap()
    };
    assert!(run(
        &["practice", "add", "--ods", "A81001", "--name", "Riverside"],
        false
    )
    .status
    .success());
    let ok = run(
        &[
            "webhook",
            "add",
            "--practice",
            "a81001",
            "--url",
            "https://gp-system.example.nhs.uk/aghub",
        ],
        false,
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let secret = String::from_utf8(ok.stdout).unwrap();
    assert!(
        secret.trim().starts_with("whsec_") && secret.trim().len() == 70,
        "{secret:?}"
    );
    assert_eq!(secret.lines().count(), 1, "only the secret on stdout");
    for (args, allow, needle) in [
        (
            vec![
                "--practice",
                "A81001",
                "--url",
                "http://gp-system.example.nhs.uk/aghub",
            ],
            true,
            "https://",
        ),
        (
            vec!["--practice", "A81001", "--url", "http://127.0.0.1:9/hook"],
            false,
            "AGHUB_WEBHOOK_ALLOW_HTTP",
        ),
        (
            vec!["--practice", "Z99999", "--url", "https://gp.example/hook"],
            false,
            "Z99999",
        ),
        (
            vec!["--practice", "A81001", "--url", "not a url"],
            false,
            "not a URL",
        ),
    ] {
        let mut full = vec!["webhook", "add"];
        full.extend(args);
        let out = run(&full, allow);
        assert!(!out.status.success());
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{needle:?} not in {err}");
    }
    assert!(run(
        &[
            "webhook",
            "add",
            "--practice",
            "A81001",
            "--url",
            "http://127.0.0.1:9/hook"
        ],
        true
    )
    .status
    .success());
}

/// The real binary with the test's database: a server that can be killed with SIGKILL.
fn serve(b: &Backends, port: u16, smtp: &str, worker: bool) -> Child {
    Command::new(env!("CARGO_BIN_EXE_aghub"))
        .arg("serve")
        .env("AGHUB_BIND", format!("127.0.0.1:{port}"))
        .env("AGHUB_DATABASE_URL", &b.database_url)
        .env("AGHUB_STORAGE_URL", &b.storage_url)
        .env("AGHUB_DATA_DIR", b.dir.path())
        .env("AGHUB_S3_FORCE_PATH_STYLE", "true")
        .env("AGHUB_SMTP_URL", smtp)
        .env("AGHUB_PUBLIC_URL", PUBLIC)
        .env("AGHUB_WEBHOOK_ALLOW_HTTP", "true")
        .env("AGHUB_OUTBOX_WORKER", worker.to_string())
        .env("AGHUB_COOKIE_SECURE", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start aghub serve")
}

async fn wait_until_up(port: u16) {
    for _ in 0..300 {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await {
            if r.status() == StatusCode::OK {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("aghub did not start on port {port}");
}

async fn killing_aghub_between_commit_and_delivery_loses_nothing(stack: Stack) {
    let b = Backends::new(stack).await;
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_aghub"))
            .args(args)
            .env("AGHUB_DATABASE_URL", &b.database_url)
            .env("AGHUB_STORAGE_URL", &b.storage_url)
            .env("AGHUB_DATA_DIR", b.dir.path())
            .env("AGHUB_S3_FORCE_PATH_STYLE", "true")
            .env("AGHUB_WEBHOOK_ALLOW_HTTP", "true")
            .env("AGHUB_PASSWORD", "correct horse battery staple")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    cli(&["migrate"]);
    cli(&["practice", "add", "--ods", "A81001", "--name", "Riverside"]);
    cli(&[
        "user",
        "add",
        "--email",
        "gp@a.example",
        "--name",
        "Dr GP",
        "--role",
        "gp",
        "--practice",
        "A81001",
    ]);
    cli(&[
        "user",
        "add",
        "--email",
        "cardio@h.example",
        "--name",
        "Dr Heart",
        "--role",
        "consultant",
        "--specialty",
        "cardiology",
    ]);
    let from = aghub::clock::rfc3339(now_ms() - H);
    let to = aghub::clock::rfc3339(now_ms() + 24 * H);
    cli(&[
        "rota",
        "add",
        "--email",
        "cardio@h.example",
        "--specialty",
        "cardiology",
        "--pool",
        "local",
        "--from",
        &from,
        "--to",
        &to,
    ]);
    let gp = cli(&["token", "create", "--email", "gp@a.example"]);
    let cardio = cli(&["token", "create", "--email", "cardio@h.example"]);
    let receiver = Receiver::start().await;
    let secret = cli(&[
        "webhook",
        "add",
        "--practice",
        "A81001",
        "--url",
        &receiver.url(),
    ]);

    // The mail server is down and this instance delivers nothing: the events are committed
    // and waiting when aghub is killed.
    let mut sink = SmtpSink::start();
    sink.stop();
    let port = free_port();
    let mut server = serve(&b, port, &sink.url(), false);
    wait_until_up(port).await;
    let api = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let r = api
        .post(format!("{base}/api/v1/cases"))
        .bearer_auth(&gp)
        .multipart(text_form("cardiology", "urgent"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = api
        .post(format!("{base}/api/v1/cases/{id}/claim"))
        .bearer_auth(&cardio)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = api
        .post(format!("{base}/api/v1/cases/{id}/reply"))
        .bearer_auth(&cardio)
        .json(&json!({"advice": "ECG please.", "outcome": "request_information"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    server.kill().unwrap();
    server.wait().unwrap();

    // Started again with its worker, and the mail server back: everything arrives, once.
    sink.resume();
    let mut server = serve(&b, port, &sink.url(), true);
    wait_until_up(port).await;
    let mut waited = 0;
    while (sink.messages().len() < 2 || receiver.received().is_empty()) && waited < 600 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    // A little longer, to see that nothing comes twice.
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.kill().unwrap();
    server.wait().unwrap();
    let by = subjects_by_recipient(&sink.messages());
    assert_eq!(
        by,
        BTreeMap::from([
            (
                "cardio@h.example".to_string(),
                strs(&["An urgent Cardiology case is waiting"])
            ),
            (
                "gp@a.example".to_string(),
                strs(&["Cardiology needs more information"])
            ),
        ])
    );
    let calls = receiver.received();
    assert_eq!(calls.len(), 1);
    let body = verified(&calls[0], &secret);
    assert_eq!(body["type"], "case.information_requested");
    assert_eq!(body["case"]["id"], id.as_str());
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn notifications_and_deliveries_have_pages(stack: Stack) {
    let sink = SmtpSink::start();
    let w = world_with_email(stack, &sink).await;
    let receiver = Receiver::start().await;
    add_webhook(&w, "A81001", &receiver.url()).await;
    let id = text_case(&w, "cardiology", "routine").await;
    claim(&w, &w.cardio, &id).await;
    reply(
        &w,
        &w.cardio,
        &id,
        json!({"advice": "Routine referral.", "outcome": "refer_routine"}),
    )
    .await;
    receiver.failing.store(true, Ordering::SeqCst);
    deliver(&w).await;

    let gp = w.app.browser();
    assert_eq!(
        gp.sign_in("gp@a.example", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let home = gp.get_text("/cases").await;
    assert!(home.contains("id=\"unread-count\">1<"), "{home}");
    let page = gp.get_text("/notifications").await;
    assert!(page.contains("Cardiology advises a referral: you need to refer"));
    assert!(page.contains(&format!("href=\"/cases/{id}\"")));
    let csrf = extract_csrf(&page).unwrap();
    let r = gp
        .post_form("/notifications/read", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!gp.get_text("/cases").await.contains("unread-count"));

    let settings = gp.get_text("/notifications/settings").await;
    assert!(settings.contains("name=\"gp_to_refer\""));
    assert!(
        !settings.contains("name=\"urgent_queued\""),
        "consultants' events are not a GP's"
    );
    assert!(
        !settings.contains("value=\"digest\""),
        "a GP's events cannot wait for a digest"
    );
    let csrf = extract_csrf(&settings).unwrap();
    let r = gp
        .post_form(
            "/notifications/settings",
            &[("csrf_token", &csrf), ("gp_to_refer", "digest")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("cannot wait for a daily digest"));
    let r = gp
        .post_form(
            "/notifications/settings",
            &[("csrf_token", &csrf), ("gp_to_refer", "off")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(gp
        .get_text("/notifications/settings?saved=1")
        .await
        .contains("<option value=\"off\" selected>"));
    let r = gp
        .post_form("/notifications/settings", &[("gp_to_refer", "now")])
        .await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "no CSRF token, no change"
    );
    assert_eq!(
        gp.get("/admin/outbox").await.status(),
        StatusCode::FORBIDDEN
    );

    // The admin sees the failing webhook and can send a dead letter again.
    let admin = w.app.browser();
    assert_eq!(
        admin
            .sign_in("admin@aghub.example", PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let page = admin.get_text("/admin/outbox").await;
    assert!(page.contains("id=\"count-retrying\">1<"), "{page}");
    assert!(page.contains(&receiver.url()));
    assert!(page.contains("webhook answered 503"));
    sqlx::query("UPDATE outbox SET status = 'dead' WHERE channel = 'webhook'")
        .execute(w.app.state.db.pool())
        .await
        .unwrap();
    let page = admin.get_text("/admin/outbox").await;
    assert!(page.contains("id=\"count-dead\">1<"));
    let csrf = extract_csrf(&page).unwrap();
    let r = admin
        .post_form("/admin/outbox/retry", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    receiver.failing.store(false, Ordering::SeqCst);
    assert_eq!(deliver(&w).await.delivered, 1);
    let page = admin.get_text("/admin/outbox").await;
    assert!(page.contains("id=\"count-dead\">0<") && page.contains("Nothing is failing."));
    let audit = aghub::db::audit::recent(&w.app.state.db, 100)
        .await
        .unwrap();
    assert!(audit.iter().any(|e| e.action == "outbox.retried"));
}
