//! Failures of the parts around the service: PostgreSQL or the S3 server going away, and a
//! process dying mid-upload. Users get a clear error, nothing half-made remains, and the
//! service recovers by itself.

use aghub::db::blob_intents;
use aghub::domain::Role;
use aghub::service::photos::PhotoBatch;
use reqwest::StatusCode;

use crate::cases::case_form;
use crate::helpers::{
    error_code, phone_jpeg, postgres_admin_url, s3_endpoint, socket_of, stored_objects, Backends,
    FaultyProxy, Stack, TestApp,
};

async fn gp_app(b: &Backends, settings: aghub::config::Settings) -> (TestApp, String) {
    let app = TestApp::start_with_settings(b, settings).await;
    let practice = app.add_practice("A81001").await;
    let gp = app
        .add_user("gp@a.example", Role::Gp, Some(&practice.id), &[])
        .await;
    let token = app.token_for(&gp).await;
    (app, token)
}

async fn count_cases(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM cases")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_down_during_upload_gives_503_leaves_nothing_and_recovers() {
    let b = Backends::new(Stack::PostgresS3).await;
    let proxy = FaultyProxy::start(socket_of(&s3_endpoint())).await;
    let mut settings = b.settings();
    settings.s3_endpoint = Some(format!("http://127.0.0.1:{}", proxy.port));
    let (app, token) = gp_app(&b, settings).await;
    let submit = || app.submit_case(&token, case_form("dermatology", "routine", 2));

    proxy.cut();
    let r = submit().await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(r).await, "service_unavailable");
    assert_eq!(
        app.status_of("/readyz").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(count_cases(&app).await, 0, "no half-created case");

    proxy.restore();
    // What the failed request may have written is swept once its grace period is over.
    app.clock.advance(blob_intents::GRACE_MS + 1);
    aghub::startup::run_housekeeping_once(&app.state).await;
    assert_eq!(blob_intents::count(&app.state.db).await.unwrap(), 0);
    assert_eq!(stored_objects(&b).await, 0, "no orphan objects");

    let r = submit().await;
    assert_eq!(r.status(), StatusCode::CREATED, "recovers by itself");
    assert_eq!(stored_objects(&b).await, 6);
    assert_eq!(
        blob_intents::count(&app.state.db).await.unwrap(),
        0,
        "committed objects are settled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_cut_between_photos_deletes_what_was_written() {
    let b = Backends::new(Stack::PostgresS3).await;
    let proxy = FaultyProxy::start(socket_of(&s3_endpoint())).await;
    let mut settings = b.settings();
    settings.s3_endpoint = Some(format!("http://127.0.0.1:{}", proxy.port));
    let (app, _) = gp_app(&b, settings).await;
    // One photo stored, then the store goes away before the second.
    let mut batch = PhotoBatch::new(
        &app.state,
        &aghub::domain::CaseId::new("0190c0de-0000-7000-8000-000000000001"),
    );
    batch.add(phone_jpeg(800, 600, 1, 1)).await.unwrap();
    assert_eq!(stored_objects(&b).await, 3);
    proxy.cut();
    assert!(batch.add(phone_jpeg(800, 600, 1, 2)).await.is_err());
    batch.discard().await;
    proxy.restore();
    assert_eq!(
        stored_objects(&b).await,
        3,
        "the store was down: nothing could be deleted yet"
    );
    app.clock.advance(blob_intents::GRACE_MS + 1);
    aghub::startup::run_housekeeping_once(&app.state).await;
    assert_eq!(stored_objects(&b).await, 0, "the sweep deleted them");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_gives_503_and_the_service_recovers() {
    let b = Backends::new(Stack::PostgresS3).await;
    let proxy = FaultyProxy::start(socket_of(&postgres_admin_url())).await;
    let mut settings = b.settings();
    let db_name = b.database_url.rsplit('/').next().unwrap().to_string();
    settings.database_url = Some(format!(
        "postgres://aghub:aghub@127.0.0.1:{}/{db_name}",
        proxy.port
    ));
    let (app, token) = gp_app(&b, settings).await;
    let list = || {
        app.api()
            .get(app.url("/api/v1/cases"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(list().await.unwrap().status(), StatusCode::OK);

    proxy.cut();
    let r = list().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "a clear error, not a hang or a crash"
    );
    assert_eq!(error_code(r).await, "service_unavailable");
    let submit = app
        .submit_case(&token, case_form("cardiology", "routine", 0))
        .await;
    assert_eq!(submit.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        app.status_of("/healthz").await,
        StatusCode::OK,
        "still alive"
    );
    assert_eq!(
        app.status_of("/readyz").await,
        StatusCode::SERVICE_UNAVAILABLE
    );

    proxy.restore();
    let mut recovered = false;
    for _ in 0..20 {
        if list().await.unwrap().status() == StatusCode::OK {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(recovered, "the pool reconnects by itself");
    let created = app
        .submit_case(&token, case_form("cardiology", "routine", 0))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_mid_upload_leaves_nothing_visible_and_loses_nothing_committed() {
    let b = Backends::new(Stack::SqliteFs).await;
    let (app, token) = gp_app(&b, b.settings()).await;
    let committed = app
        .submit_case(&token, case_form("dermatology", "routine", 1))
        .await;
    assert_eq!(committed.status(), StatusCode::CREATED);
    app.stop().await;

    // The real binary on the same database and folder, killed with SIGKILL once it has stored
    // the first photo of a case whose body never finishes.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_aghub"))
        .arg("serve")
        .env("AGHUB_BIND", format!("127.0.0.1:{port}"))
        .env("AGHUB_DATABASE_URL", &b.database_url)
        .env("AGHUB_STORAGE_URL", &b.storage_url)
        .env("AGHUB_DATA_DIR", b.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start aghub serve");
    let base = format!("http://127.0.0.1:{port}");
    // Polls generously: under a loaded CI machine a start or a photo can take many seconds; a
    // healthy run leaves these loops at once.
    let mut up = false;
    for _ in 0..600 {
        if let Ok(r) = reqwest::get(format!("{base}/healthz")).await {
            up = r.status() == StatusCode::OK;
            if up {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(up, "aghub serve did not start");
    let boundary = "aghub-test-boundary";
    let mut head = Vec::new();
    for (name, value) in [
        ("specialty", "dermatology"),
        ("nhs_number", "943 476 5919"),
        ("date_of_birth", "1984-03-27"),
        ("urgency", "routine"),
        ("history", "A lesion."),
        ("question", "What is it?"),
    ] {
        head.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    head.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes(),
    );
    head.extend_from_slice(&phone_jpeg(800, 600, 1, 7));
    head.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    tx.send(Ok(head)).await.unwrap();
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let upload = tokio::spawn(
        reqwest::Client::new()
            .post(format!("{base}/api/v1/cases"))
            .bearer_auth(&token)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send(),
    );
    let mut written = false;
    for _ in 0..1200 {
        if stored_objects(&b).await >= 6 {
            written = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(written, "the first photo of the unfinished case was stored");
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(server.id() as i32, libc::SIGKILL) };
    server.wait().unwrap();
    assert!(
        upload.await.unwrap().is_err(),
        "the upload died with the process"
    );
    drop(tx);

    // Restart on the same database and folder, with the clock at the real time.
    let clock =
        aghub::clock::ManualClock::at(aghub::clock::Clock::now_ms(&aghub::clock::SystemClock));
    let restarted = TestApp::start_with_clock(&b, clock.clone()).await;
    let list: serde_json::Value = restarted
        .api()
        .get(restarted.url("/api/v1/cases"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["cases"].as_array().unwrap().len(),
        1,
        "the committed case survived; nothing partial is listed"
    );
    assert_eq!(stored_objects(&b).await, 6);
    aghub::startup::run_housekeeping_once(&restarted.state).await;
    assert_eq!(
        stored_objects(&b).await,
        6,
        "not swept before the grace period"
    );
    clock.advance(blob_intents::GRACE_MS + 1);
    aghub::startup::run_housekeeping_once(&restarted.state).await;
    assert_eq!(
        stored_objects(&b).await,
        3,
        "the dead request's objects, and any rendition it was still writing, are swept; the case's stay"
    );
    let photo = &list["cases"][0]["photos"][0]["href"];
    let r = restarted
        .api()
        .get(restarted.url(photo.as_str().unwrap()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// A receiver as a stream of body chunks (the body of a request that never finishes).
fn tokio_stream_from(
    rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}
