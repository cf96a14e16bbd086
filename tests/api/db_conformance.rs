//! Both database backends stay in lockstep: same migrations, same schema, same behaviour.

use std::collections::BTreeSet;

use aghub::db::{self, DbError};
use sqlx::Row;

use crate::helpers::{Backends, Stack, T0};

on_both_stacks!(
    audit_trail_is_append_only,
    duplicate_keys_are_reported_as_conflicts,
    migrations_are_idempotent_and_seed_the_sixteen_specialties,
    transactions_that_read_then_write_at_the_same_moment_all_succeed,
);

fn migration_names(dir: &str) -> BTreeSet<String> {
    std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn sqlite_and_postgres_migrations_have_the_same_versions_and_names() {
    let sqlite = migration_names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, migration_names("postgres"));
}

async fn columns(db: &db::Db) -> BTreeSet<(String, String, bool)> {
    let sql = match db.backend() {
        db::Backend::Sqlite => {
            "SELECT m.name AS t, p.name AS c, p.\"notnull\" AS nn, p.pk AS pk FROM sqlite_master m \
             JOIN pragma_table_info(m.name) p WHERE m.type = 'table' \
             AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'"
        }
        db::Backend::Postgres => {
            "SELECT table_name::text AS t, column_name::text AS c, \
             CASE WHEN is_nullable = 'NO' THEN 1 ELSE 0 END AS nn, 0 AS pk \
             FROM information_schema.columns WHERE table_schema = 'public' \
             AND table_name <> '_sqlx_migrations'"
        }
    };
    sqlx::query(sql)
        .fetch_all(db.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let nn: i64 = r
                .try_get::<i64, _>("nn")
                .or_else(|_| r.try_get::<i32, _>("nn").map(i64::from))
                .unwrap();
            let pk: i64 = r
                .try_get::<i64, _>("pk")
                .or_else(|_| r.try_get::<i32, _>("pk").map(i64::from))
                .unwrap();
            // SQLite reports a TEXT PRIMARY KEY as nullable; PostgreSQL (rightly) as NOT NULL.
            (
                r.get::<String, _>("t"),
                r.get::<String, _>("c"),
                nn == 1 || pk > 0,
            )
        })
        .collect()
}

#[tokio::test]
async fn sqlite_and_postgres_schemas_match_table_by_column() {
    let sqlite = Backends::new(Stack::SqliteFs).await;
    let postgres = Backends::new(Stack::PostgresS3).await;
    let (a, b) = (
        columns(&sqlite.db().await).await,
        columns(&postgres.db().await).await,
    );
    assert!(a.len() > 20, "schema read: {a:?}");
    let only_sqlite: Vec<_> = a.difference(&b).collect();
    let only_postgres: Vec<_> = b.difference(&a).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "schemas differ:\n only in SQLite: {only_sqlite:?}\n only in PostgreSQL: {only_postgres:?}"
    );
}

async fn audit_trail_is_append_only(stack: Stack) {
    let b = Backends::new(stack).await;
    let db = b.db().await;
    db::audit::record(
        db.pool(),
        db::audit::Event {
            action: "test.event",
            ..Default::default()
        },
        T0,
    )
    .await
    .unwrap();
    let update = sqlx::query("UPDATE audit_events SET action = 'tampered'")
        .execute(db.pool())
        .await;
    assert!(update.is_err(), "audit rows must not be updatable");
    let actions: Vec<String> = sqlx::query("SELECT action FROM audit_events")
        .fetch_all(db.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("action"))
        .collect();
    assert_eq!(actions, vec!["test.event".to_string()]);
}

async fn duplicate_keys_are_reported_as_conflicts(stack: Stack) {
    let b = Backends::new(stack).await;
    let db = b.db().await;
    db::practices::insert(&db, "A81001", "One", T0)
        .await
        .unwrap();
    let again = db::practices::insert(&db, "A81001", "Two", T0).await;
    assert!(
        matches!(again, Err(DbError::Conflict(ref m)) if m.contains("A81001")),
        "{again:?}"
    );
}

async fn migrations_are_idempotent_and_seed_the_sixteen_specialties(stack: Stack) {
    let b = Backends::new(stack).await;
    let db = b.db().await;
    // Several instances start at once on one database: all must come up.
    let (x, y) = tokio::join!(db.migrate(), b.db());
    x.unwrap();
    drop(y);
    let slugs: Vec<String> = db::specialties::list(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.slug)
        .collect();
    let mut sorted = slugs.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "adult-mental-health",
            "cardiology",
            "dermatology",
            "diabetes-endocrinology",
            "ent",
            "gastroenterology",
            "general-surgery",
            "gynaecology",
            "haematology",
            "neurology",
            "ophthalmology",
            "paediatrics",
            "renal",
            "respiratory",
            "rheumatology",
            "urology",
        ]
    );
    let derm = db::specialties::get(&db, "dermatology").await.unwrap();
    assert!(derm.photos_required);
    aghub::service::admin::save_targets(
        &db,
        aghub::service::Actor::CommandLine,
        "dermatology",
        3_600_000,
        1_800_000,
        600_000,
        T0,
    )
    .await
    .unwrap();
    assert_eq!(
        db::specialties::get(&db, "dermatology")
            .await
            .unwrap()
            .escalation_ms,
        600_000
    );
}

/// What a request's transaction often does (look, then change), many at once: every one must
/// commit. SQLite's deferred `BEGIN` fails some of them with SQLITE_BUSY the moment another
/// commits between their read and their write; `Db::begin` must not.
async fn transactions_that_read_then_write_at_the_same_moment_all_succeed(stack: Stack) {
    let b = Backends::new(stack).await;
    let db = b.db().await;
    let tasks = (0..16).map(|i| {
        let db = db.clone();
        tokio::spawn(async move {
            let mut tx = db.begin().await?;
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM practices")
                .fetch_one(&mut *tx)
                .await?;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            sqlx::query(
                "INSERT INTO practices (id, ods_code, name, created_at_ms) VALUES ($1, $2, $3, $4)",
            )
            .bind(format!("p{i}"))
            .bind(format!("Y{i:05}"))
            .bind(format!("Seen {n}"))
            .bind(T0)
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        })
    });
    for (i, t) in futures::future::join_all(tasks)
        .await
        .into_iter()
        .enumerate()
    {
        t.unwrap()
            .unwrap_or_else(|e| panic!("transaction {i} failed: {e}"));
    }
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM practices")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(n, 16);
}
