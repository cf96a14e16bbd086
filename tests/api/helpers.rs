//! Test harness: real backends (a fresh SQLite file or PostgreSQL database, a tempdir or an S3
//! bucket on the local S3 server), the real app on a random port, and a cookie-keeping client.
//! A missing PostgreSQL or S3 server fails the test with a message; nothing is skipped.

use std::sync::Arc;

use aghub::clock::ManualClock;
use aghub::config::Settings;
use aghub::db;
use aghub::domain::Role;
use aghub::service::AppState;
use aghub::startup::Application;
use sqlx::Connection;
use tempfile::TempDir;

/// 2026-11-23T09:00:00Z, a Monday morning.
pub const T0: i64 = 1_795_424_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    SqliteFs,
    PostgresS3,
}

pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").expect(
        "TEST_POSTGRES_URL is not set: run the suite with scripts/test, which starts PostgreSQL",
    )
}

pub fn s3_endpoint() -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect(
        "AWS_ENDPOINT_URL is not set: run the suite with scripts/test, which starts the S3 server",
    );
    assert!(
        endpoint.contains("127.0.0.1") || endpoint.contains("localhost"),
        "tests only talk to a local S3 server, not {endpoint}"
    );
    endpoint
}

/// A port free on the loopback now (for a server a test starts and stops itself).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A database and an object store of one stack, shared by every app started on them.
pub struct Backends {
    pub database_url: String,
    pub storage_url: String,
    pub dir: TempDir,
    pg_drop: Option<(String, String)>,
}

impl Backends {
    pub async fn new(stack: Stack) -> Self {
        // Every test makes its backends first: the HTTP clients that follow need the provider.
        aghub::outbound::use_aws_lc_rs();
        let dir = tempfile::tempdir().expect("tempdir");
        let id = uuid::Uuid::new_v4().simple().to_string();
        match stack {
            Stack::SqliteFs => Self {
                database_url: format!("sqlite://{}", dir.path().join("aghub.db").display()),
                storage_url: format!("file://{}", dir.path().join("blobs").display()),
                dir,
                pg_drop: None,
            },
            Stack::PostgresS3 => {
                let admin = postgres_admin_url();
                let name = format!("aghub_test_{id}");
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {admin}: {e}"));
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let base = admin.rsplit_once('/').expect("url has a database").0;
                let bucket = format!("aghub-test-{id}");
                create_bucket(&bucket).await;
                Self {
                    database_url: format!("{base}/{name}"),
                    storage_url: format!("s3://{bucket}/photos"),
                    dir,
                    pg_drop: Some((admin, name)),
                }
            }
        }
    }

    pub fn settings(&self) -> Settings {
        Settings {
            bind: "127.0.0.1:0".into(),
            public_url: None,
            data_dir: self.dir.path().to_path_buf(),
            database_url: Some(self.database_url.clone()),
            storage_url: Some(self.storage_url.clone()),
            s3_endpoint: None,
            s3_force_path_style: true,
            cookie_secure: false,
            log_json: false,
            max_request_mb: 200,
            max_concurrent_uploads: 8,
            request_timeout_secs: 300,
            token_days: 90,
            header_timeout_secs: 20,
            body_idle_timeout_secs: 30,
            body_min_bytes_per_sec: 1024,
            max_uploads_per_user: 2,
            decode_memory_mb: 1024,
            smtp_url: None,
            sms_log: None,
            mail_from: "aghub@localhost".into(),
            webhook_allow_http: true,
            outbox_worker: false,
            call_ring_secs: 20,
            call_give_up_secs: 300,
            ice_servers: "[]".into(),
        }
    }

    pub async fn db(&self) -> db::Db {
        let db = db::Db::connect(&self.database_url).await.expect("connect");
        db.migrate().await.expect("migrate");
        db
    }
}

pub async fn create_bucket(bucket: &str) {
    s3_endpoint();
    let store = aghub::blob::S3Store::from_env(bucket, "", true).await;
    store
        .client()
        .create_bucket()
        .bucket(bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest2)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot create bucket {bucket} on the S3 server: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        });
}

impl Drop for Backends {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_drop.take() {
            // Drop runs outside async; a short-lived runtime on its own thread does the cleanup.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut conn)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

/// One running instance of the service.
pub struct TestApp {
    pub base: String,
    pub state: AppState,
    /// Moves the app's time (claims, escalation and reports are time-driven).
    #[allow(dead_code)]
    pub clock: ManualClock,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub async fn start(backends: &Backends) -> Self {
        Self::start_with_clock(backends, ManualClock::at(T0)).await
    }

    pub async fn start_with_clock(backends: &Backends, clock: ManualClock) -> Self {
        Self::start_with(backends.settings(), clock).await
    }

    pub async fn start_with_settings(_backends: &Backends, settings: Settings) -> Self {
        Self::start_with(settings, ManualClock::at(T0)).await
    }

    async fn start_with(settings: Settings, clock: ManualClock) -> Self {
        aghub::telemetry::init(false);
        let app = Application::build(settings, Arc::new(clock.clone()))
            .await
            .expect("build app");
        let base = format!("http://{}", app.local_addr());
        let state = app.state().clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let handle = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Self {
            base,
            state,
            clock,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Stops accepting, finishes requests in flight, and returns once the server has stopped.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("server task").expect("server ran cleanly");
        }
    }

    pub async fn add_practice(&self, ods: &str) -> db::practices::Practice {
        db::practices::insert(&self.state.db, ods, &format!("Practice {ods}"), T0)
            .await
            .expect("add practice")
    }

    /// Adds a user with password "correct horse battery" and returns their id.
    pub async fn add_user(
        &self,
        email: &str,
        role: Role,
        practice_id: Option<&str>,
        specialties: &[&str],
    ) -> String {
        let hash = aghub::service::auth::hash_password(PASSWORD).unwrap();
        let specialties: Vec<String> = specialties.iter().map(|s| s.to_string()).collect();
        db::users::insert(
            &self.state.db,
            db::users::NewUser {
                email,
                name: &format!("Test {email}"),
                role,
                practice_id,
                specialties: &specialties,
                password_hash: Some(&hash),
            },
            T0,
        )
        .await
        .expect("add user")
    }

    pub async fn token_for(&self, user_id: &str) -> String {
        aghub::service::accounts::create_token(
            &self.state.db,
            aghub::service::Actor::CommandLine,
            &aghub::domain::UserId::new(user_id),
            T0,
            T0 + 90 * 86_400_000,
        )
        .await
        .unwrap()
    }

    /// A browser-like client: keeps cookies, does not follow redirects, sends our Origin on posts.
    pub fn browser(&self) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: self.base.clone(),
        }
    }

    pub fn api(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// The status of an unauthenticated GET, e.g. `/healthz` or `/readyz`.
    pub async fn status_of(&self, path: &str) -> reqwest::StatusCode {
        self.api()
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .status()
    }

    /// Submits a case through the API with a bearer token.
    pub async fn submit_case(
        &self,
        token: &str,
        form: reqwest::multipart::Form,
    ) -> reqwest::Response {
        self.api()
            .post(self.url("/api/v1/cases"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// Puts a consultant on the local rota of a specialty from just before T0 for a day.
    pub async fn on_local_rota_today(&self, user_id: &str, specialty: &str) {
        db::rotas::insert(
            &self.state.db,
            user_id,
            specialty,
            db::rotas::Pool::Local,
            T0 - 1,
            T0 + 86_400_000,
            T0,
        )
        .await
        .unwrap();
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub const PASSWORD: &str = "correct horse battery";

pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
}

impl Browser {
    pub fn on(&self, base: &str) -> Browser {
        Browser {
            client: self.client.clone(),
            base: base.to_string(),
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .unwrap()
    }

    pub async fn get_text(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    /// The CSRF token in the first form of a page.
    pub async fn csrf_token(&self, path: &str) -> String {
        let html = self.get_text(path).await;
        extract_csrf(&html).unwrap_or_else(|| panic!("no csrf_token on {path}: {html}"))
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{}", self.base, path))
            .header("Origin", &self.base)
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        let token = self.csrf_token("/login").await;
        self.post_form(
            "/login",
            &[
                ("csrf_token", &token),
                ("email", email),
                ("password", password),
                ("next", "/"),
            ],
        )
        .await
    }
}

pub fn extract_csrf(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

/// The contract's error body: {"error": {"code", "message"}}; returns the code.
pub async fn error_code(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.expect("JSON error body");
    let message = body["error"]["message"].as_str().expect("error.message");
    assert!(
        !message.is_empty(),
        "error message must say what to do: {body}"
    );
    body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_string()
}

/// A phone-like JPEG with camera metadata (GPS, serial number, maker note) and an orientation.
pub fn phone_jpeg(width: u32, height: u32, orientation: u16, seed: u64) -> Vec<u8> {
    use aghub_testkit::synth;
    let upright = synth::skin_photo(width, height, seed);
    synth::camera_jpeg(
        &upright,
        90,
        &synth::ExifSpec {
            orientation,
            ..Default::default()
        },
    )
}

/// How many objects the stack's store holds (files under the folder, or keys in the bucket).
pub async fn stored_objects(b: &Backends) -> usize {
    if let Some(path) = b.storage_url.strip_prefix("file://") {
        fn walk(dir: &std::path::Path) -> usize {
            std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .map(|e| e.unwrap().path())
                        .map(|p| if p.is_dir() { walk(&p) } else { 1 })
                        .sum()
                })
                .unwrap_or(0)
        }
        walk(std::path::Path::new(path))
    } else {
        let rest = b.storage_url.strip_prefix("s3://").unwrap();
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let store = aghub::blob::S3Store::from_env(bucket, "", true).await;
        let out = store
            .client()
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .expect("list bucket");
        out.key_count().unwrap_or(0) as usize
    }
}

/// Every object the stack's store holds, as (key or path, bytes): what an attacker with the
/// bucket or the disk would get.
pub async fn stored_object_bytes(b: &Backends) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if let Some(path) = b.storage_url.strip_prefix("file://") {
        fn walk(dir: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten() {
                let p = entry.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
                }
            }
        }
        walk(std::path::Path::new(path), &mut out);
    } else {
        let rest = b.storage_url.strip_prefix("s3://").unwrap();
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let store = aghub::blob::S3Store::from_env(bucket, "", true).await;
        let client = store.client();
        let list = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .expect("list bucket");
        for object in list.contents() {
            let key = object.key().unwrap().to_string();
            let body = client
                .get_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .expect("get object")
                .body
                .collect()
                .await
                .expect("read object")
                .into_bytes()
                .to_vec();
            out.push((key, body));
        }
    }
    out
}

/// exiftool's full view of bytes: "Group:Tag" → value.
pub fn exiftool_json(bytes: &[u8]) -> serde_json::Map<String, serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image");
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("exiftool")
        .args(["-j", "-a", "-G1", "-u"])
        .arg(&path)
        .output()
        .expect("exiftool must be installed (scripts/test installs it)");
    assert!(
        out.status.success(),
        "exiftool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0].as_object().unwrap().clone()
}

/// Runs exiftool on bytes and returns every tag it finds as "Group:Tag".
pub fn exiftool_tags(bytes: &[u8]) -> Vec<String> {
    exiftool_json(bytes).keys().cloned().collect()
}

/// A TCP proxy in front of a real server (PostgreSQL, the S3 server) that a test can cut and
/// restore, as a network failure or a stopped server looks to the service.
pub struct FaultyProxy {
    pub port: u16,
    up: Arc<std::sync::atomic::AtomicBool>,
    connections: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl FaultyProxy {
    pub async fn start(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let connections: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (up2, conns2) = (up.clone(), connections.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns2.lock().unwrap().push(task);
            }
        });
        Self {
            port,
            up,
            connections,
            accept,
        }
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    pub fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

pub fn socket_of(url: &str) -> std::net::SocketAddr {
    let after = url.split("://").nth(1).unwrap();
    let host_port = after.rsplit('@').next().unwrap().split('/').next().unwrap();
    let host_port = host_port.replace("localhost", "127.0.0.1");
    host_port
        .parse()
        .unwrap_or_else(|_| panic!("host:port in {url}"))
}

/// A case row as the service of schema 2 to 9 wrote it, in raw SQL: tests that build an older
/// installation must not depend on today's insert, which writes columns added since.
#[allow(clippy::too_many_arguments)]
pub async fn insert_old_case(
    db: &aghub::db::Db,
    id: &str,
    practice_id: &str,
    created_by: &str,
    specialty: &str,
    nhs_number: &str,
    urgency: &str,
    at_ms: i64,
) {
    sqlx::query(
        "INSERT INTO cases (id, practice_id, created_by, specialty, nhs_number, date_of_birth, urgency, \
         history, question, conversion_authorised, status, submitted_at_ms, queued_at_ms) \
         VALUES ($1, $2, $3, $4, $5, '1961-07-04', $6, 'h', 'q', 1, 'submitted', $7, $7)",
    )
    .bind(id)
    .bind(practice_id)
    .bind(created_by)
    .bind(specialty)
    .bind(nhs_number)
    .bind(urgency)
    .bind(at_ms)
    .execute(db.pool())
    .await
    .unwrap();
}

/// Applies the migrations before `version` (e.g. "0007"), as an older installation ran them.
pub async fn migrate_before(backends: &Backends, db: &aghub::db::Db, version: &str) {
    let dir = match db.backend() {
        aghub::db::Backend::Sqlite => "sqlite",
        aghub::db::Backend::Postgres => "postgres",
    };
    let older = backends
        .dir
        .path()
        .join(format!("migrations-before-{version}"));
    std::fs::create_dir(&older).unwrap();
    for entry in
        std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.as_str() < version {
            std::fs::copy(&path, older.join(name)).unwrap();
        }
    }
    sqlx::migrate::Migrator::new(older.as_path())
        .await
        .unwrap()
        .run(db.pool())
        .await
        .unwrap();
}

/// A user as an older installation stored them (no password, no specialties).
pub async fn insert_old_user(
    db: &aghub::db::Db,
    email: &str,
    role: Role,
    practice_id: Option<&str>,
) -> String {
    aghub::db::users::insert(
        db,
        aghub::db::users::NewUser {
            email,
            name: email,
            role,
            practice_id,
            specialties: &[],
            password_hash: None,
        },
        T0,
    )
    .await
    .unwrap()
}
