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
    let mut batch = PhotoBatch::new(&app.state, "0190c0de-0000-7000-8000-000000000001");
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
async fn a_process_dying_mid_upload_leaves_nothing_visible_and_loses_nothing_committed() {
    let b = Backends::new(Stack::SqliteFs).await;
    let (app, token) = gp_app(&b, b.settings()).await;
    let committed = app
        .submit_case(&token, case_form("dermatology", "routine", 1))
        .await;
    assert_eq!(committed.status(), StatusCode::CREATED);
    // A request that wrote its photo and then died: the batch is never committed nor discarded.
    let mut batch = PhotoBatch::new(&app.state, "0190c0de-0000-7000-8000-000000000002");
    batch.add(phone_jpeg(800, 600, 1, 7)).await.unwrap();
    std::mem::forget(batch);
    let clock = app.clock.clone();
    app.stop().await;

    // Restart on the same database and folder.
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
    clock.advance(blob_intents::GRACE_MS + 1);
    aghub::startup::run_housekeeping_once(&restarted.state).await;
    assert_eq!(
        stored_objects(&b).await,
        3,
        "the dead request's objects are swept, the case's stay"
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
