//! Settings from the environment and command-line flags (contract.md, "Configuration").

use std::path::{Path, PathBuf};

use clap::{ArgAction, Args};

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(
        long,
        env = "AGHUB_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: String,

    /// The address people use to reach the service (`https://aghub.example.nhs.uk`), for links
    /// in what it hands out (emails, webhooks, the FHIR export's links); defaults to
    /// `http://` and the bind address.
    #[arg(long, env = "AGHUB_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Where the embedded defaults (SQLite file, filesystem blobs) keep their files.
    #[arg(
        long,
        env = "AGHUB_DATA_DIR",
        default_value = "./aghub-data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// `sqlite://…` or `postgres://…`; defaults to a SQLite file in the data dir.
    #[arg(long, env = "AGHUB_DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// `file:///abs/path` or `s3://bucket[/prefix]`; defaults to a folder in the data dir.
    #[arg(long, env = "AGHUB_STORAGE_URL", global = true)]
    pub storage_url: Option<String>,

    /// S3 endpoint for aghub's bucket, when it differs from AWS_ENDPOINT_URL.
    #[arg(long, env = "AGHUB_S3_ENDPOINT", global = true)]
    pub s3_endpoint: Option<String>,

    /// Path-style S3 addressing (MinIO, Garage, moto and most self-hosted servers).
    #[arg(long, env = "AGHUB_S3_FORCE_PATH_STYLE", default_value_t = false, action = ArgAction::Set, global = true)]
    pub s3_force_path_style: bool,

    /// Mark the session cookie `Secure`. Browsers accept it on http://localhost too; turn it off
    /// only for HTTP clients that refuse Secure cookies over plain HTTP.
    #[arg(long, env = "AGHUB_COOKIE_SECURE", default_value_t = true, action = ArgAction::Set, global = true)]
    pub cookie_secure: bool,

    /// Log as JSON lines (for log shippers) instead of human-readable text.
    #[arg(long, env = "AGHUB_LOG_JSON", default_value_t = false, action = ArgAction::Set, global = true)]
    pub log_json: bool,

    /// Largest request body in MiB (a case with several 12 MP photos).
    #[arg(
        long,
        env = "AGHUB_MAX_REQUEST_MB",
        default_value_t = 200,
        global = true
    )]
    pub max_request_mb: usize,

    /// Uploads processed at once; more wait their turn (bounds memory under load).
    #[arg(
        long,
        env = "AGHUB_MAX_CONCURRENT_UPLOADS",
        default_value_t = 8,
        global = true
    )]
    pub max_concurrent_uploads: usize,

    /// Seconds a request may take before it is cut off (slow phone uploads need minutes).
    #[arg(
        long,
        env = "AGHUB_REQUEST_TIMEOUT_SECS",
        default_value_t = 300,
        global = true
    )]
    pub request_timeout_secs: u64,

    /// Days an API token made by `aghub token create` stays valid.
    #[arg(
        long,
        env = "AGHUB_TOKEN_DAYS",
        default_value_t = 90,
        value_parser = clap::value_parser!(u32).range(1..=3650),
        global = true
    )]
    pub token_days: u32,

    /// Seconds a client has to send a request's headers. The same timer runs while a kept-alive
    /// connection waits for its next request, so it also closes idle connections.
    #[arg(
        long,
        env = "AGHUB_HEADER_TIMEOUT_SECS",
        default_value_t = 20,
        global = true
    )]
    pub header_timeout_secs: u64,

    /// Seconds a request body may send nothing before the request is cut off with 408.
    /// Also the grace period before the minimum rate applies.
    #[arg(
        long,
        env = "AGHUB_BODY_IDLE_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub body_idle_timeout_secs: u64,

    /// Slowest rate a request body may arrive at, in bytes per second of waiting, measured
    /// over windows as long as the body idle timeout; slower bodies are cut off with 408.
    /// 0 turns the check off.
    #[arg(
        long,
        env = "AGHUB_BODY_MIN_BYTES_PER_SEC",
        default_value_t = 1024,
        global = true
    )]
    pub body_min_bytes_per_sec: u64,

    /// Upload permits one account may hold at once; its further uploads wait their turn.
    #[arg(
        long,
        env = "AGHUB_MAX_UPLOADS_PER_USER",
        default_value_t = 2,
        global = true
    )]
    pub max_uploads_per_user: usize,

    /// MiB that photo decoding may use at once, whatever the number of cores. Each decode
    /// reserves its estimated size (from the image header) before it starts.
    #[arg(
        long,
        env = "AGHUB_DECODE_MEMORY_MB",
        default_value_t = 1024,
        global = true
    )]
    pub decode_memory_mb: usize,

    /// `smtp://host:port`, `smtp://user:pass@host:port?tls=starttls` or `smtps://…`; unset
    /// turns email off (people still see notifications in the app).
    #[arg(long, env = "AGHUB_SMTP_URL", global = true)]
    pub smtp_url: Option<String>,

    /// Text messages to patients (their photo links) are appended to this file, one JSON line
    /// each: no SMS gateway is reachable from here, and this log is the provider until one is.
    /// Unset turns text messages off.
    #[arg(long, env = "AGHUB_SMS_LOG", global = true)]
    pub sms_log: Option<std::path::PathBuf>,

    /// The sender of aghub's emails.
    #[arg(
        long,
        env = "AGHUB_MAIL_FROM",
        default_value = "aghub@localhost",
        global = true
    )]
    pub mail_from: String,

    /// Allow `http://` webhook URLs on loopback addresses (for tests); others need https.
    #[arg(long, env = "AGHUB_WEBHOOK_ALLOW_HTTP", default_value_t = false, action = ArgAction::Set, global = true)]
    pub webhook_allow_http: bool,

    /// Seconds each local consultant's page rings for a live call before the next is rung.
    #[arg(long, env = "AGHUB_CALL_RING_SECS", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=600), global = true)]
    pub call_ring_secs: u32,

    /// Seconds after which a live call nobody answered becomes a written case.
    #[arg(long, env = "AGHUB_CALL_GIVE_UP_SECS", default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=3600), global = true)]
    pub call_give_up_secs: u32,

    /// STUN and TURN servers for calls' audio, as the JSON array of `RTCIceServer`s the browsers
    /// are given, e.g. `[{"urls": "stun:stun.example.nhs.uk:3478"}, {"urls": "turn:turn.example.nhs.uk",
    /// "username": "u", "credential": "p"}]`. Empty: browsers connect directly (one network).
    #[arg(long, env = "AGHUB_ICE_SERVERS", default_value = "[]", value_parser = parse_ice_servers, global = true)]
    pub ice_servers: String,

    /// Run the outbox worker (deliveries of emails and webhooks) in this instance. Tests turn
    /// it off and drive deliveries themselves; any number of instances may run it.
    #[arg(long, env = "AGHUB_OUTBOX_WORKER", default_value_t = true, action = ArgAction::Set, global = true)]
    pub outbox_worker: bool,
}

/// `AGHUB_ICE_SERVERS` must be a JSON array of objects with `urls`, checked at start rather
/// than discovered when a call fails to connect.
fn parse_ice_servers(value: &str) -> Result<String, String> {
    let parsed: serde_json::Value =
        serde_json::from_str(value).map_err(|e| format!("not JSON: {e}"))?;
    let ok = parsed
        .as_array()
        .is_some_and(|a| a.iter().all(|s| s.get("urls").is_some()));
    if ok {
        Ok(value.to_string())
    } else {
        Err("a JSON array of {\"urls\": …} objects".into())
    }
}

impl Settings {
    pub fn token_lifetime_ms(&self) -> i64 {
        i64::from(self.token_days) * 86_400_000
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("aghub.db").display()),
        }
    }

    /// The public base URL without a trailing slash: `AGHUB_PUBLIC_URL`, else `http://$AGHUB_BIND`.
    pub fn public_url(&self) -> String {
        match self.public_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => url.trim_end_matches('/').to_string(),
            _ => format!("http://{}", self.bind),
        }
    }

    pub fn storage_url(&self) -> String {
        match &self.storage_url {
            Some(url) => url.clone(),
            None => format!(
                "file://{}",
                absolute(&self.data_dir.join("blobs")).display()
            ),
        }
    }
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}
