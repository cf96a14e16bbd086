//! The outbox under a burst (issue 13): commits N "advice arrived" events as fast as one
//! producer can, each announcing one email (to a real SMTP server, scripts/smtp-sink) and one
//! signed webhook call (to an HTTP receiver in this process), while W workers deliver them as W
//! instances would. Prints delivery latency (commit to receipt) p50/p99/max and throughput.
//! Run by scripts/bench-outbox.sh, which starts PostgreSQL and the SMTP server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aghub::clock::{Clock, SystemClock};
use aghub::config::Settings;
use aghub::db;
use aghub::domain::notifications::Event;
use aghub::domain::Urgency;
use aghub::service::{notify, outbox, AppState};
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    events: usize,
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Where scripts/smtp-sink keeps the messages it receives.
    #[arg(long)]
    sink_dir: std::path::PathBuf,
    #[command(flatten)]
    settings: Settings,
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(what: &str, commits: &HashMap<String, i64>, receipts: &[(String, i64)]) {
    let mut latencies: Vec<i64> = receipts
        .iter()
        .map(|(case, at)| at - commits[case])
        .collect();
    latencies.sort_unstable();
    let first = commits.values().min().unwrap();
    let last = receipts.iter().map(|(_, at)| *at).max().unwrap();
    println!(
        "{what}: {} delivered; latency p50 {} ms, p99 {} ms, max {} ms; throughput {:.0}/s (first commit to last receipt {:.1} s)",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().unwrap(),
        latencies.len() as f64 / ((last - first) as f64 / 1000.0),
        (last - first) as f64 / 1000.0,
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let clock = SystemClock;
    let state = AppState::open(args.settings.clone(), Arc::new(SystemClock)).await?;
    let now = clock.now_ms();
    let practice = db::practices::insert(&state.db, "A81001", "Bench Practice", now).await?;
    let gp = db::users::insert(
        &state.db,
        db::users::NewUser {
            email: "gp@bench.example",
            name: "Dr Bench",
            role: aghub::domain::Role::Gp,
            practice_id: Some(&practice.id),
            specialties: &[],
            password_hash: None,
        },
        now,
    )
    .await?;

    // The GP system: records when each call arrived, by case.
    let received: Arc<Mutex<Vec<(String, i64)>>> = Default::default();
    let r = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let r = r.clone();
            async move {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let case = v["case"]["id"].as_str().unwrap().to_string();
                r.lock().unwrap().push((case, SystemClock.now_ms()));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    outbox::add_webhook(
        &state.db,
        &state.settings,
        aghub::service::Actor::CommandLine,
        "A81001",
        &hook,
        now,
    )
    .await?;

    for _ in 0..args.workers {
        tokio::spawn(outbox::worker(state.clone()));
    }
    let mut commits: HashMap<String, i64> = HashMap::new();
    let started = Instant::now();
    for _ in 0..args.events {
        let id = db::new_id();
        let now = clock.now_ms();
        let mut tx = state.db.pool().begin().await?;
        db::cases::insert(
            &mut tx,
            &db::cases::NewCase {
                id: &id,
                practice_id: &practice.id,
                created_by: &gp,
                specialty: "cardiology",
                nhs_number: "9434765919",
                date_of_birth: "1984-03-27",
                urgency: Urgency::Routine,
                history: "Bench.",
                question: "Bench?",
                conversion_authorised: false,
                sex: None,
                idempotency_key: None,
                now_ms: now,
            },
        )
        .await?;
        let subject = notify::Subject {
            case_id: &id,
            practice_id: &practice.id,
            specialty: "cardiology",
            created_by: &gp,
            answered_by: None,
            holder: None,
            escalated: false,
            icb_id: None,
        };
        notify::announce(&mut tx, &state, Event::AdviceArrived, &subject, now).await?;
        tx.commit().await?;
        commits.insert(id, clock.now_ms());
    }
    println!(
        "committed {} events in {:.1} s ({:.0}/s), {} workers delivering",
        args.events,
        started.elapsed().as_secs_f64(),
        args.events as f64 / started.elapsed().as_secs_f64(),
        args.workers
    );
    let deadline = Instant::now() + Duration::from_secs(900);
    let emails = loop {
        let emails: Vec<(String, i64)> = std::fs::read_dir(&args.sink_dir)?
            .filter_map(|e| {
                let p = e.ok()?.path();
                if p.extension()? != "json" {
                    return None;
                }
                let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).ok()?).ok()?;
                let text = v["text"].as_str()?;
                let case = text.split("/cases/").nth(1)?.split_whitespace().next()?;
                Some((case.to_string(), v["received_at_ms"].as_i64()?))
            })
            .collect();
        let hooks = received.lock().unwrap().len();
        if (emails.len() >= args.events && hooks >= args.events) || Instant::now() > deadline {
            break emails;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    report("email", &commits, &emails);
    report("webhook", &commits, &received.lock().unwrap());
    let counts = db::outbox::counts(&state.db).await?;
    println!("outbox: {counts:?}");
    Ok(())
}
