//! Persistence on SQLite (one machine) or PostgreSQL (several instances), chosen by URL.
//!
//! sqlx's `Any` driver lets one SQL text serve both backends: the schema sticks to TEXT ids,
//! BIGINT millisecond timestamps and `$N` placeholders, which both dialects understand.
//! Where the dialects really differ, code matches on [`Backend`].

pub mod audit;
pub mod blob_intents;
pub mod calls;
pub mod cases;
pub mod notifications;
pub mod organisations;
pub mod outbox;
pub mod photo_requests;
pub mod practices;
pub mod reports;
pub mod retention;
pub mod rotas;
pub mod sessions;
pub mod sign_in;
pub mod specialties;
pub mod staged_photos;
pub mod tokens;
pub mod topics;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("database configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl DbError {
    /// True when the database refused a duplicate key (portable: by kind, not constraint name).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, DbError::Sqlx(e) if is_unique_violation(e))
    }

    /// The database could not be reached (down, restarting, pool exhausted): try again later.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            DbError::Sqlx(
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Tls(_)
            )
        )
    }

    /// PostgreSQL refuses a NUL in text (SQLSTATE 22021) or an untranslatable character
    /// (22P05): a client's bad input, wherever it slipped past the fields' own checks.
    pub fn is_unstorable_text(&self) -> bool {
        matches!(self, DbError::Sqlx(e) if e
            .as_database_error()
            .and_then(|d| d.code())
            .is_some_and(|code| code == "22021" || code == "22P05"))
    }
}

pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

pub type DbResult<T> = Result<T, DbError>;

/// A transaction the service opens, so a change and its audit record commit together.
pub type Tx<'c> = sqlx::Transaction<'c, sqlx::Any>;

#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

impl Db {
    pub async fn connect(url: &str) -> DbResult<Self> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            if path != ":memory:" {
                prepare_sqlite_file(std::path::Path::new(path))?;
            }
            let url = if url.contains('?') {
                url.to_string()
            } else {
                format!("{url}?mode=rwc")
            };
            (Backend::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(DbError::Config(format!(
                "AGHUB_DATABASE_URL must start with sqlite:// or postgres://, not '{}'",
                url.split(':').next().unwrap_or("")
            )));
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool_options = AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(5))
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            });
        let pool_options = if backend == Backend::Sqlite {
            // WAL lets readers run beside the one writer; busy_timeout makes writers queue
            // instead of failing; foreign keys are off by default in SQLite.
            pool_options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                    )
                    .await?;
                    Ok(())
                })
            })
        } else {
            pool_options
        };
        let pool = pool_options.connect_with(options).await?;
        Ok(Self { pool, backend })
    }

    /// Applies pending migrations. On PostgreSQL sqlx holds an advisory lock meanwhile,
    /// so instances starting together take turns.
    pub async fn migrate(&self) -> DbResult<()> {
        match self.backend {
            Backend::Sqlite => self.migrate_sqlite().await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    /// SQLite changes a constraint by rebuilding the table, which needs foreign keys off while
    /// the old table goes; sqlx runs each migration in a transaction, where that pragma is a
    /// no-op, so it is set on the connection first and every reference is checked after.
    async fn migrate_sqlite(&self) -> DbResult<()> {
        let mut conn = self.pool.acquire().await?;
        conn.execute("PRAGMA foreign_keys = OFF").await?;
        let migrated = SQLITE_MIGRATIONS.run(&mut *conn).await;
        let dangling = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&mut *conn)
            .await;
        conn.execute("PRAGMA foreign_keys = ON").await?;
        migrated?;
        let dangling = dangling?.len();
        if dangling > 0 {
            return Err(DbError::Config(format!(
                "after migrating, {dangling} rows refer to rows that do not exist (PRAGMA foreign_key_check)"
            )));
        }
        Ok(())
    }

    /// What `serve` runs at start: migrations only when some are pending. On PostgreSQL the
    /// service may run as a role that owns nothing (docs/security.md) and so cannot even
    /// `CREATE TABLE IF NOT EXISTS` sqlx's bookkeeping table; an up-to-date database needs
    /// nothing from it.
    pub async fn migrate_if_pending(&self) -> DbResult<()> {
        if self.backend == Backend::Postgres && self.migrations_applied().await? {
            return Ok(());
        }
        self.migrate().await
    }

    async fn migrations_applied(&self) -> DbResult<bool> {
        let exists: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'",
        )
        .fetch_one(&self.pool)
        .await?;
        if exists == 0 {
            return Ok(false);
        }
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await?;
        Ok(POSTGRES_MIGRATIONS
            .iter()
            .all(|m| applied.contains(&m.version)))
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction that may write. SQLite's plain `BEGIN` reads first and takes the write
    /// lock at the first write; if another connection committed in between, that upgrade fails
    /// at once with SQLITE_BUSY (busy_timeout does not wait for it), so two people saving at
    /// the same moment could get an error. `BEGIN IMMEDIATE` takes the write lock up front,
    /// where busy_timeout makes it queue. PostgreSQL's `BEGIN` needs no such care.
    pub async fn begin(&self) -> Result<Tx<'static>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn ping(&self) -> DbResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The database file and its WAL/shared-memory files are patient data: 600, in a folder we
/// create as 700. SQLite gives the -wal and -shm files the main file's mode, so creating the
/// main file 600 before SQLite opens it is enough for new databases; older ones are tightened.
fn prepare_sqlite_file(path: &std::path::Path) -> DbResult<()> {
    let config = |e: std::io::Error| DbError::Config(format!("{}: {e}", path.display()));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::private_files::create_dir_all(parent).map_err(config)?;
    }
    if !path.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(config)?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        crate::private_files::own_file(std::path::Path::new(&file)).map_err(config)?;
    }
    Ok(())
}

/// One of the domain's words from a TEXT column; anything else is a decode error naming it.
pub(crate) fn word<T, I>(row: &sqlx::any::AnyRow, column: I) -> Result<T, sqlx::Error>
where
    T: std::str::FromStr<Err = crate::domain::UnknownValue>,
    I: sqlx::ColumnIndex<sqlx::any::AnyRow> + std::fmt::Display + Copy,
{
    let text: String = sqlx::Row::try_get(row, column)?;
    parse_word(&text, column)
}

pub(crate) fn optional_word<T, I>(
    row: &sqlx::any::AnyRow,
    column: I,
) -> Result<Option<T>, sqlx::Error>
where
    T: std::str::FromStr<Err = crate::domain::UnknownValue>,
    I: sqlx::ColumnIndex<sqlx::any::AnyRow> + std::fmt::Display + Copy,
{
    match sqlx::Row::try_get::<Option<String>, _>(row, column)? {
        None => Ok(None),
        Some(text) => parse_word(&text, column).map(Some),
    }
}

fn parse_word<T>(text: &str, column: impl std::fmt::Display) -> Result<T, sqlx::Error>
where
    T: std::str::FromStr<Err = crate::domain::UnknownValue>,
{
    text.parse().map_err(|e| sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: Box::new(e),
    })
}

/// New primary key: UUIDv7, so ids sort by creation time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Ids bound per `IN (…)` list. The `Any` driver cannot bind arrays, so a long list goes in
/// chunks of this many placeholders, far below SQLite's and PostgreSQL's limits.
pub const IN_CHUNK: usize = 500;

/// Binds each of `values`, in order: the texts of an `IN (…)` list made by [`placeholders`].
pub fn bind_all<'q, V: AsRef<str>>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    values: &'q [V],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for v in values {
        query = query.bind(v.as_ref());
    }
    query
}

/// `$from, $from+1, …` for `n` values: an `IN (…)` list whose parameters start at `$from`.
pub fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
