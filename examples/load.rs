//! Load generator for scripts/load: GPs uploading phone photos and consultants reading their
//! queues against a running aghub on the loopback, for a fixed time. Prints throughput and
//! latency percentiles per kind of request; exits non-zero if any request failed.
//!
//! Usage: load BASE_URL GP_TOKEN CONSULTANT_TOKEN [gps] [consultants] [seconds] [megapixels]

use std::time::{Duration, Instant};

use aghub_testkit::synth;

#[derive(Default)]
struct Stats {
    latencies_ms: Vec<f64>,
    errors: Vec<String>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn report(name: &str, stats: &mut Stats, seconds: f64) {
    stats.latencies_ms.sort_by(|a, b| a.total_cmp(b));
    let n = stats.latencies_ms.len();
    println!(
        "{name:<14} {n:>6} ok {:>4} failed  {:>7.2}/s  p50 {:>8.1} ms  p90 {:>8.1} ms  p99 {:>8.1} ms  max {:>8.1} ms",
        stats.errors.len(),
        n as f64 / seconds,
        percentile(&stats.latencies_ms, 50.0),
        percentile(&stats.latencies_ms, 90.0),
        percentile(&stats.latencies_ms, 99.0),
        stats.latencies_ms.last().copied().unwrap_or(f64::NAN),
    );
    for e in stats.errors.iter().take(5) {
        println!("    error: {e}");
    }
}

#[tokio::main]
async fn main() {
    aghub::outbound::use_aws_lc_rs();
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: load BASE_URL GP_TOKEN[,GP_TOKEN…] CONSULTANT_TOKEN [gps] [consultants] [seconds] [megapixels]");
        std::process::exit(2);
    }
    let base = args[1].clone();
    assert!(
        base.starts_with("http://127.0.0.1") || base.starts_with("http://localhost"),
        "load only the loopback"
    );
    // One token per GP account; the GPs take them in turn (uploads are capped per account).
    let gp_tokens: Vec<String> = args[2].split(',').map(str::to_string).collect();
    let doc_token = args[3].clone();
    let num = |i: usize, default: f64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    let (gps, consultants, seconds, megapixels) = (
        num(4, 8.0) as usize,
        num(5, 4.0) as usize,
        num(6, 30.0),
        num(7, 12.0),
    );
    let width = ((megapixels * 1e6 * 4.0 / 3.0).sqrt()) as u32;
    let height = width * 3 / 4;
    let photo = synth::camera_jpeg(
        &synth::skin_photo(width, height, 7),
        92,
        &synth::ExifSpec {
            orientation: 6,
            ..Default::default()
        },
    );
    println!(
        "load: {gps} GPs uploading a {width}×{height} JPEG ({:.1} MB), {consultants} consultants reading queues, {seconds} s",
        photo.len() as f64 / 1e6
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();

    let mut uploads = Vec::new();
    for gp in 0..gps {
        let (client, base, token, photo) = (
            client.clone(),
            base.clone(),
            gp_tokens[gp % gp_tokens.len()].clone(),
            photo.clone(),
        );
        uploads.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            while Instant::now() < deadline {
                let form = reqwest::multipart::Form::new()
                    .text("specialty", "dermatology")
                    .text("nhs_number", "9990000018")
                    .text("date_of_birth", "1980-01-01")
                    .text("urgency", "routine")
                    .text("history", "Load test")
                    .text("question", "Load test")
                    .part(
                        "photo",
                        reqwest::multipart::Part::bytes(photo.clone()).file_name("IMG.JPG"),
                    );
                let t = Instant::now();
                match client
                    .post(format!("{base}/api/v1/cases"))
                    .bearer_auth(&token)
                    .multipart(form)
                    .send()
                    .await
                {
                    Ok(r) if r.status().as_u16() == 201 => {
                        stats.latencies_ms.push(t.elapsed().as_secs_f64() * 1e3)
                    }
                    Ok(r) => stats.errors.push(format!(
                        "{} {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    )),
                    Err(e) => stats.errors.push(e.to_string()),
                }
            }
            stats
        }));
    }
    let mut reads = Vec::new();
    for _ in 0..consultants {
        let (client, base, token) = (client.clone(), base.clone(), doc_token.clone());
        reads.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            while Instant::now() < deadline {
                let t = Instant::now();
                match client
                    .get(format!("{base}/api/v1/queue"))
                    .bearer_auth(&token)
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        stats.latencies_ms.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    Ok(r) => stats.errors.push(r.status().to_string()),
                    Err(e) => stats.errors.push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            stats
        }));
    }
    let mut up = Stats::default();
    for h in uploads {
        let s = h.await.unwrap();
        up.latencies_ms.extend(s.latencies_ms);
        up.errors.extend(s.errors);
    }
    let mut rd = Stats::default();
    for h in reads {
        let s = h.await.unwrap();
        rd.latencies_ms.extend(s.latencies_ms);
        rd.errors.extend(s.errors);
    }
    let elapsed = started.elapsed().as_secs_f64();
    report("case uploads", &mut up, elapsed);
    report("queue reads", &mut rd, elapsed);
    if !up.errors.is_empty() || !rd.errors.is_empty() {
        std::process::exit(1);
    }
}
