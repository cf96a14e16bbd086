//! Slow and idle clients: uploads that stall or trickle, half-sent headers, idle keep-alive
//! connections, one account taking every upload permit, and decodes whose memory would grow
//! with the number of cores. Timeouts are configured small here; the bounds asserted are
//! generous, far below the request timeout a starved request would otherwise wait for.

use std::time::Duration;

use aghub::config::Settings;
use aghub::domain::Role;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::cases::case_form;
use crate::helpers::{phone_jpeg, stored_objects, Backends, Stack, TestApp};

on_both_stacks!(
    trickling_uploads_are_cut_off_with_408_and_do_not_starve_other_gps,
    one_account_holds_at_most_its_share_of_upload_permits,
    half_sent_headers_and_idle_connections_are_closed,
    large_16_bit_png_checks_stay_within_the_decode_memory_budget,
);

const BOUNDARY: &str = "slowclientboundary";

/// A GP of practice A81001 with an API token.
async fn gp(app: &TestApp, email: &str) -> (String, String) {
    let practice = match aghub::db::practices::find_by_ods(&app.state.db, "A81001").await {
        Ok(Some(p)) => p,
        _ => app.add_practice("A81001").await,
    };
    let id = app.add_user(email, Role::Gp, Some(&practice.id), &[]).await;
    let token = app.token_for(&id).await;
    (id, token)
}

#[derive(Clone, Copy)]
enum Pace {
    /// Sends its prefix, then nothing (keeping the connection open).
    Stall,
    /// Sends its prefix, then a byte every 300 ms: never idle for long, far too slow.
    Trickle,
}

/// Starts a POST whose body is `prefix` followed by `pace`, declaring a 10 MB body. The handle
/// gives what the server answered (empty if it just closed).
async fn slow_post(
    app: &TestApp,
    path: &str,
    token: &str,
    prefix: Vec<u8>,
    pace: Pace,
) -> JoinHandle<String> {
    let addr = app.base.trim_start_matches("http://").to_string();
    let stream = TcpStream::connect(&addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: 10000000\r\n\r\n"
    );
    writer.write_all(head.as_bytes()).await.unwrap();
    writer.write_all(&prefix).await.unwrap();
    tokio::spawn(async move {
        let sending = async move {
            loop {
                match pace {
                    // Holding the write half open: dropping it would end the body.
                    Pace::Stall => tokio::time::sleep(Duration::from_secs(3600)).await,
                    Pace::Trickle => {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        if writer.write_all(b"x").await.is_err() {
                            return;
                        }
                    }
                }
            }
        };
        let reading = async move {
            let mut response = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = reader.read(&mut buf).await {
                response.extend_from_slice(&buf[..n]);
            }
            String::from_utf8_lossy(&response).into_owned()
        };
        // One task for both halves, so aborting it closes the connection.
        let mut reading = std::pin::pin!(reading);
        tokio::select! {
            response = &mut reading => response,
            () = sending => reading.await,
        }
    })
}

/// A case submission's fields and one whole photo, then the start of a second photo that
/// never completes.
fn case_prefix(seed: u64) -> Vec<u8> {
    let mut body = Vec::new();
    let mut text = |name: &str, value: &str| {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    };
    text("specialty", "dermatology");
    text("nhs_number", "943 476 5919");
    text("date_of_birth", "1984-03-27");
    text("urgency", "routine");
    text("history", "Pigmented lesion on the left forearm.");
    text("question", "Is this suspicious?");
    text("conversion_authorised", "true");
    let photo_head = |name: &str| {
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"{name}\"\r\n\
             Content-Type: image/jpeg\r\n\r\n"
        )
    };
    body.extend_from_slice(photo_head("a.jpg").as_bytes());
    body.extend_from_slice(&phone_jpeg(640, 480, 6, seed));
    body.extend_from_slice(b"\r\n");
    body.extend_from_slice(photo_head("b.jpg").as_bytes());
    body.extend_from_slice(&phone_jpeg(640, 480, 1, seed)[..2_000]);
    body
}

/// The start of a photo check that never completes.
fn photo_check_prefix() -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"p.jpg\"\r\n\
         Content-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&phone_jpeg(640, 480, 1, 9)[..2_000]);
    body
}

/// Polls for up to a minute: a loaded CI machine can take many seconds to get there; a healthy
/// run leaves at once.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..1200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn response_of(upload: JoinHandle<String>) -> String {
    tokio::time::timeout(Duration::from_secs(60), upload)
        .await
        .expect("the server answers a slow upload long before the request timeout")
        .unwrap()
}

/// Eight uploads (two for each of four GPs) that stall or trickle hold every upload permit;
/// another GP's submission still completes, long before the request timeout, because the
/// tricklers are cut off with 408 once they idle or fall below the minimum rate. The photo
/// each of them had already sent is deleted.
async fn trickling_uploads_are_cut_off_with_408_and_do_not_starve_other_gps(stack: Stack) {
    let backends = Backends::new(stack).await;
    let settings = Settings {
        request_timeout_secs: 120,
        body_idle_timeout_secs: 10,
        body_min_bytes_per_sec: 1024,
        ..backends.settings()
    };
    let app = TestApp::start_with_settings(&backends, settings).await;
    let mut tokens = Vec::new();
    for n in 0..4 {
        tokens.push(gp(&app, &format!("slow{n}@a.example")).await.1);
    }
    let (_, prompt_token) = gp(&app, "prompt@a.example").await;
    let mut uploads = Vec::new();
    for (n, token) in (0..).zip(&tokens) {
        for (i, pace) in [Pace::Stall, Pace::Trickle].into_iter().enumerate() {
            let prefix = case_prefix(n * 2 + i as u64);
            uploads.push(slow_post(&app, "/api/v1/cases", token, prefix, pace).await);
        }
    }
    let permits = app.state.uploads.clone();
    eventually("the eight slow uploads hold every permit", || {
        permits.in_use() == 8
    })
    .await;

    // Starved, it would wait for the tricklers' request timeout (120 s); cut off, they free
    // their permits after the 10 s idle window. 90 s leaves a loaded machine room.
    let submitted = tokio::time::timeout(
        Duration::from_secs(90),
        app.submit_case(&prompt_token, case_form("dermatology", "routine", 1)),
    )
    .await
    .expect("another GP's submission completes while the slow uploads are cut off");
    assert_eq!(submitted.status(), StatusCode::CREATED);

    for upload in uploads {
        let response = response_of(upload).await;
        assert!(response.starts_with("HTTP/1.1 408"), "{response}");
        assert!(response.contains("request_body_timeout"), "{response}");
    }
    eventually("every permit is released", || permits.in_use() == 0).await;
    assert_eq!(
        stored_objects(&backends).await,
        3,
        "only the completed case's three renditions remain"
    );
    assert_eq!(app.status_of("/healthz").await, StatusCode::OK);
}

/// One account's third upload waits for that account's own slot, not for another GP's: with
/// three permits, a GP stalling two photo checks and a case submission holds two, and a
/// second GP's submission goes ahead at once (the stalls are not cut off in this test).
async fn one_account_holds_at_most_its_share_of_upload_permits(stack: Stack) {
    let backends = Backends::new(stack).await;
    let settings = Settings {
        request_timeout_secs: 120,
        body_idle_timeout_secs: 100,
        max_concurrent_uploads: 3,
        max_uploads_per_user: 2,
        ..backends.settings()
    };
    let app = TestApp::start_with_settings(&backends, settings).await;
    let (greedy, greedy_token) = gp(&app, "greedy@a.example").await;
    let mut stalls = Vec::new();
    for _ in 0..2 {
        let prefix = photo_check_prefix();
        stalls.push(
            slow_post(
                &app,
                "/api/v1/photo-checks",
                &greedy_token,
                prefix,
                Pace::Stall,
            )
            .await,
        );
    }
    stalls.push(
        slow_post(
            &app,
            "/api/v1/cases",
            &greedy_token,
            case_prefix(1),
            Pace::Stall,
        )
        .await,
    );
    let permits = app.state.uploads.clone();
    eventually("the greedy GP holds two permits", || {
        permits.held_by(&greedy) == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(permits.held_by(&greedy), 2, "never more than the cap");
    assert_eq!(
        permits.in_use(),
        2,
        "the third upload waits without a permit"
    );

    let (_, token) = gp(&app, "other@a.example").await;
    let submitted = tokio::time::timeout(
        Duration::from_secs(90),
        app.submit_case(&token, case_form("dermatology", "routine", 1)),
    )
    .await
    .expect("another GP's submission is not held up by the greedy one");
    assert_eq!(submitted.status(), StatusCode::CREATED);
    assert_eq!(permits.held_by(&greedy), 2);

    for stall in stalls {
        stall.abort();
    }
    eventually("the greedy GP's permits are released", || {
        permits.in_use() == 0
    })
    .await;
}

async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stream.read(&mut buf).await {
            response.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert!(read.is_ok(), "the server closes the connection");
    String::from_utf8_lossy(&response).into_owned()
}

/// A connection that sends nothing, or half a request header, is closed after the header
/// timeout; so is a keep-alive connection that stays idle after its request.
async fn half_sent_headers_and_idle_connections_are_closed(stack: Stack) {
    let backends = Backends::new(stack).await;
    let settings = Settings {
        header_timeout_secs: 1,
        ..backends.settings()
    };
    let app = TestApp::start_with_settings(&backends, settings).await;
    let addr = app.base.trim_start_matches("http://").to_string();

    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(&addr).await.unwrap());
    }
    let mut half = TcpStream::connect(&addr).await.unwrap();
    half.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nX-Slow:").as_bytes())
        .await
        .unwrap();
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();

    assert_eq!(
        read_until_closed(&mut half).await,
        "",
        "no request, no answer"
    );
    let answered = read_until_closed(&mut idle).await;
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    for mut socket in silent {
        read_until_closed(&mut socket).await;
    }
    assert_eq!(app.status_of("/healthz").await, StatusCode::OK);
}

/// A 16-bit RGB PNG of `side`² pixels (a gradient, so it compresses like the black-box test's).
fn png_16_bit(side: u32) -> Vec<u8> {
    let image = image::ImageBuffer::from_fn(side, side, |x, y| {
        image::Rgb([(x * 30) as u16, (y * 30) as u16, ((x + y) * 15) as u16])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb16(image)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

/// Four large 16-bit PNG photo checks at once, from two GPs: each decode reserves its
/// estimated memory first, so at most the configured budget is ever reserved (one of these
/// at a time here), all four are answered, and the service stays up.
async fn large_16_bit_png_checks_stay_within_the_decode_memory_budget(stack: Stack) {
    let backends = Backends::new(stack).await;
    let settings = Settings {
        decode_memory_mb: 64,
        ..backends.settings()
    };
    let app = TestApp::start_with_settings(&backends, settings).await;
    let png = png_16_bit(1800);
    // 1800² pixels × (6 bytes decoded + 3 × 3 bytes at 8 bits) ≈ 46 MiB: two do not fit in 64.
    let estimate_mib = aghub::imaging::decode_estimate(&png, &Default::default()).div_ceil(1 << 20);
    assert!((33..=64).contains(&estimate_mib), "{estimate_mib}");
    let mut checks = Vec::new();
    for n in 0..2 {
        let (_, token) = gp(&app, &format!("png{n}@a.example")).await;
        for _ in 0..2 {
            let request = app
                .api()
                .post(app.url("/api/v1/photo-checks"))
                .bearer_auth(&token)
                .multipart(
                    Form::new().part("photo", Part::bytes(png.clone()).file_name("scan.png")),
                );
            checks.push(tokio::spawn(request.send()));
        }
    }
    for check in checks {
        let response = check.await.unwrap().unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["width"], 1800);
    }
    let budget = &app.state.decode_memory;
    assert!(
        budget.peak_mib() >= estimate_mib,
        "the checks reserved their decode memory"
    );
    assert!(
        budget.peak_mib() <= 64,
        "never more than the budget at once: {}",
        budget.peak_mib()
    );
    assert_eq!(budget.in_use_mib(), 0);
    assert_eq!(app.status_of("/healthz").await, StatusCode::OK);
}
