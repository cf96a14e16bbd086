//! Commissioners' reports at national scale: loads N cases (default 1,000,000; the issue's
//! national deployment is 10,000,000) into a scratch PostgreSQL database with the schema of
//! today, each case's facts written straight from its generated story, and the service's own
//! rebuild makes the figures' flags and day tables. (`--from-events` loads audit events into the
//! schema as it was before reports instead and lets the migrations derive the facts, as an
//! upgraded installation would: slow at national scale.) Then times the report path the
//! dashboard uses, in process and over HTTP, what keeping the figures costs each case event
//! (`--writes`), prints the query plans, and last times the retention run over the first year's
//! cases, now due (`--no-retention` skips it; it erases them). Run by `scripts/bench-reports.sh`
//! (never by the test suite).
//!
//!     bench_reports [--cases N] [--years Y] [--runs R] [--writes W] [--admin-url URL]
//!                   [--keep] [--reuse] [--no-retention] [--from-events]
//!
//! Cases are spread evenly over the Y calendar years ending 2026-12-31 (default 4); the timed
//! "year" is 2026, the "two years" case the longest period a report allows. 42 ICBs of 150
//! practices each (6,300, as in England), list sizes 3,000 to 18,000, 16 specialties, patients
//! 0.6 per case whose cases fall close in time (most have one or two; 10% are children),
//! 10% urgent, 15% with a request for information, 8% answered by the national pool, 2% still
//! open, replies from 10 min to ~4 days. The direct load writes no audit events: neither the
//! reports nor retention read them.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aghub::clock::SystemClock;
use aghub::db::reports::{self as rdb, FactCells, Filter, ReportSql};
use aghub::db::{self, Backend, Db};
use aghub::domain::Role;
use aghub::service::reports::{self as reports, Period};
use clap::Parser;
use sqlx::{Connection, Row};

const DB_NAME: &str = "aghub_bench_reports";
const END_MS: i64 = 1_798_761_600_000; // 2027-01-01T00:00Z

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    cases: i64,
    #[arg(long, default_value_t = 4)]
    years: i64,
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// A PostgreSQL URL with the right to create databases.
    #[arg(
        long,
        env = "TEST_POSTGRES_URL",
        default_value = "postgres://aghub:aghub@127.0.0.1:5432/postgres"
    )]
    admin_url: String,
    /// Case events timed on the write path (each in a transaction that is rolled back).
    #[arg(long, default_value_t = 2000)]
    writes: usize,
    /// Leave the scratch database behind.
    #[arg(long)]
    keep: bool,
    /// Use the scratch database left by an earlier --keep run instead of loading again.
    #[arg(long)]
    reuse: bool,
    /// Skip the retention run (which erases the first year's cases).
    #[arg(long)]
    no_retention: bool,
    /// Load audit events only and let the migrations derive the figures from them, as on an
    /// installation upgraded from before reports (slow at national scale: 3M cases take ~20 min).
    #[arg(long)]
    from_events: bool,
}

const PRACTICES: i64 = 6_300;
const ICBS: i64 = 42;

/// Before the rows: room to sort in memory, and the secondary indexes of the big tables set
/// aside (their definitions kept, whatever migrations made them), to be built after the rows as
/// for any bulk load.
const PREPARE: &str = r#"
SET temp_buffers = '2GB';
SET work_mem = '512MB';
SET maintenance_work_mem = '2GB';
CREATE TEMP TABLE saved_indexes AS
SELECT indexname, indexdef FROM pg_indexes
WHERE schemaname = current_schema() AND tablename IN ('cases', 'audit_events', 'case_facts')
  AND indexname NOT IN (SELECT conname FROM pg_constraint);
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT indexname FROM saved_indexes LOOP EXECUTE format('DROP INDEX %I', r.indexname); END LOOP;
END $$;
"#;

const RESTORE_INDEXES: &str = r#"
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT indexdef FROM saved_indexes LOOP EXECUTE r.indexdef; END LOOP;
END $$;
"#;

/// Practices, their GPs and 80 consultants (5 per specialty).
const PEOPLE: &str = r#"
INSERT INTO practices (id, ods_code, name, created_at_ms)
SELECT 'p' || lpad(i::text, 35, '0'), 'B' || lpad(i::text, 5, '0'), 'Bench practice ' || i, 0
FROM generate_series(0, $PRACTICES - 1) i;
INSERT INTO users (id, email, name, role, practice_id, created_at_ms)
SELECT 'g' || lpad(i::text, 35, '0'), 'gp' || i || '@bench.example', 'GP ' || i, 'gp', 'p' || lpad(i::text, 35, '0'), 0
FROM generate_series(0, $PRACTICES - 1) i;
INSERT INTO users (id, email, name, role, created_at_ms)
SELECT 'k' || lpad(i::text, 35, '0'), 'consultant' || i || '@bench.example', 'Consultant ' || i, 'consultant', 0
FROM generate_series(0, 79) i;
CREATE TEMP TABLE sp AS SELECT slug, urgent_target_ms, routine_target_ms,
  (row_number() OVER (ORDER BY slug)) - 1 AS n FROM specialties;
INSERT INTO user_specialties (user_id, specialty)
SELECT 'k' || lpad(i::text, 35, '0'), sp.slug FROM generate_series(0, 79) i JOIN sp ON sp.n = i % 16;
"#;

/// The cases' story, as SQL over generate_series: $N cases from $START, one every $STEP ms
/// (+ jitter), into the temporary table `gi` the next steps read.
const GENERATE: &str = r#"
CREATE TEMP TABLE g AS
SELECT i, s AS submitted, sp, pr, urgent, patient, open, info, national, outcome, d1, dgp,
       s + d1 AS first_at,
       CASE WHEN info THEN s + d1 + dgp END AS responded_at,
       CASE WHEN info THEN s + d1 + dgp + d2 ELSE s + d1 END AS closed_at,
       lpad(to_hex(s), 12, '0') AS hx, md5(i::text) AS m
FROM (
  SELECT i,
    $START + (i - 1) * $STEP + abs(hashint8(i)::bigint) % $STEP AS s,
    abs(hashint8(i * 3 + 1)::bigint) % 16 AS sp,
    abs(hashint8(i * 5 + 2)::bigint) % $PRACTICES AS pr,
    abs(hashint8(i * 7 + 3)::bigint) % 100 < 10 AS urgent,
    (i * $PATIENTS / $N + abs(hashint8(i * 11 + 4)::bigint) % 2000) % $PATIENTS AS patient,
    abs(hashint8(i * 13 + 5)::bigint) % 1000 < 20 AS open,
    abs(hashint8(i * 17 + 6)::bigint) % 1000 < 150 AS info,
    abs(hashint8(i * 19 + 7)::bigint) % 1000 < 80 AS national,
    CASE WHEN abs(hashint8(i * 29 + 9)::bigint) % 1000 < 600 THEN 'manage_in_primary_care'
         WHEN abs(hashint8(i * 29 + 9)::bigint) % 1000 < 800 THEN 'refer_routine'
         WHEN abs(hashint8(i * 29 + 9)::bigint) % 1000 < 880 THEN 'refer_urgent'
         WHEN abs(hashint8(i * 29 + 9)::bigint) % 1000 < 930 THEN 'refer_two_week_wait'
         ELSE 'redirect_specialty' END AS outcome,
    600000 + (abs(hashint8(i * 23 + 8)::bigint) % 1000) * (abs(hashint8(i * 23 + 8)::bigint) % 1000) * 345 AS d1,
    3600000 + abs(hashint8(i * 31 + 10)::bigint) % 432000000 AS dgp,
    1800000 + abs(hashint8(i * 37 + 11)::bigint) % 172800000 AS d2
  FROM generate_series(1::bigint, $N) i
) x;

CREATE TEMP TABLE gi AS SELECT g.*, sp.slug,
  CASE WHEN urgent THEN sp.urgent_target_ms ELSE sp.routine_target_ms END AS target_ms,
  substr(hx, 1, 8) || '-' || substr(hx, 9, 4) || '-7' || substr(m, 1, 3) || '-8' || substr(m, 4, 3) || '-' || substr(m, 7, 12) AS id,
  'p' || lpad(pr::text, 35, '0') AS practice_id, 'g' || lpad(pr::text, 35, '0') AS gp_id,
  'q' || lpad((pr / ($PRACTICES / $ICBS))::text, 35, '0') AS icb_id,
  'k' || lpad((sp + 16 * (i % 5))::text, 35, '0') AS consultant_id
FROM g JOIN sp ON sp.n = g.sp;
DROP TABLE g;
"#;

const CASES: &str = r#"
INSERT INTO cases (id, practice_id, created_by, specialty, nhs_number, date_of_birth, urgency, history, question,
  conversion_authorised, status, submitted_at_ms, queued_at_ms, outcome, advice, answered_by, first_reply_at_ms,
  answered_at_ms, closed_at_ms)
SELECT id, practice_id, gp_id, slug, '9' || lpad(patient::text, 9, '0'),
  CASE WHEN patient % 10 = 0 THEN '2015-06-01' ELSE '1970-01-01' END,
  CASE WHEN urgent THEN 'urgent' ELSE 'routine' END, 'bench history', 'bench question', 1,
  CASE WHEN open THEN 'submitted' ELSE 'closed' END, submitted, COALESCE(responded_at, submitted),
  CASE WHEN open THEN NULL ELSE outcome END, CASE WHEN open THEN NULL ELSE 'bench advice' END,
  CASE WHEN open THEN NULL ELSE consultant_id END,
  CASE WHEN open THEN NULL ELSE first_at END, CASE WHEN open THEN NULL ELSE closed_at END,
  CASE WHEN open THEN NULL ELSE closed_at END
FROM gi ORDER BY submitted;
"#;

/// The audit events a case's story leaves (the upgrade path derives the figures from them).
const EVENTS: &str = r#"
INSERT INTO audit_events (id, at_ms, actor_id, action, case_id, detail)
SELECT e.id, e.at_ms, e.actor_id, e.action, e.case_id, e.detail FROM (
  SELECT id || '-c' AS id, submitted AS at_ms, gp_id AS actor_id, 'case.created' AS action, id AS case_id,
         '{"specialty":"' || slug || '","urgency":"' || CASE WHEN urgent THEN 'urgent' ELSE 'routine' END || '","photos":0}' AS detail
  FROM gi
  UNION ALL
  SELECT id || '-k1', first_at - 60000, consultant_id, 'case.claimed', id, NULL FROM gi WHERE NOT open
  UNION ALL
  SELECT id || '-r1', first_at, consultant_id, 'case.replied', id,
         '{"outcome":"request_information","status":"awaiting_gp","pool":"' || CASE WHEN national THEN 'national' ELSE 'local' END || '"}'
  FROM gi WHERE NOT open AND info
  UNION ALL
  SELECT id || '-g', responded_at, gp_id, 'case.responded', id, '{"photos":0}' FROM gi WHERE NOT open AND info
  UNION ALL
  SELECT id || '-k2', closed_at - 60000, consultant_id, 'case.claimed', id, NULL FROM gi WHERE NOT open AND info
  UNION ALL
  SELECT id || '-r2', closed_at, consultant_id, 'case.replied', id,
         '{"outcome":"' || outcome || '","status":"closed","pool":"' || CASE WHEN national THEN 'national' ELSE 'local' END || '"}'
  FROM gi WHERE NOT open
) e ORDER BY e.at_ms;
"#;

/// The same story written straight as each case's facts (what `CaseFacts::apply` makes of those
/// events), with the ICB of its practice and, for a case managed in primary care, the patient's
/// next case in the specialty within 90 days of the close.
const FACTS: &str = r#"
CREATE INDEX ON gi (patient, sp, submitted);
ANALYZE gi;
INSERT INTO case_facts (case_id, practice_id, icb_id, specialty, urgency, target_ms, submitted_at_ms,
  week_start_ms, first_reply_ms, information_requests, awaiting_gp_ms, closed_at_ms, to_close_ms, outcome,
  national, redirected, represented_at_ms)
SELECT id, practice_id, icb_id, slug, CASE WHEN urgent THEN 'urgent' ELSE 'routine' END, target_ms, submitted,
  submitted - ((submitted - 345600000) % 604800000),
  CASE WHEN NOT open THEN d1 END,
  CASE WHEN NOT open AND info THEN 1 ELSE 0 END,
  CASE WHEN NOT open AND info THEN dgp ELSE 0 END,
  CASE WHEN NOT open THEN closed_at END,
  CASE WHEN NOT open THEN closed_at - submitted - CASE WHEN info THEN dgp ELSE 0 END END,
  CASE WHEN NOT open THEN outcome END,
  CASE WHEN NOT open AND national THEN 1 ELSE 0 END,
  CASE WHEN NOT open AND outcome = 'redirect_specialty' THEN 1 ELSE 0 END,
  CASE WHEN NOT open AND outcome = 'manage_in_primary_care' THEN
    (SELECT min(n.submitted) FROM gi n WHERE n.patient = gi.patient AND n.sp = gi.sp
       AND n.submitted >= gi.closed_at AND n.submitted <= gi.closed_at + 7776000000) END
FROM gi ORDER BY submitted;
"#;

/// Topic tags for about 45% of closed cases (written by replies, so not derived from events),
/// picked from each specialty's list (migration 0006; every list has at least 10 topics), and
/// their day counts (as migration 0024 does for an existing installation).
const TOPICS: &str = r#"
INSERT INTO case_topics (case_id, topic, practice_id, specialty, tagged_at_ms)
SELECT c.id, s.slug, c.practice_id, c.specialty, c.closed_at_ms
FROM cases c CROSS JOIN LATERAL (SELECT slug FROM specialty_topics WHERE specialty = c.specialty
    ORDER BY slug OFFSET abs(hashint8(c.submitted_at_ms)::bigint) % 8 LIMIT 1) s
WHERE c.closed_at_ms IS NOT NULL AND abs(hashint8(c.submitted_at_ms + 1)::bigint) % 100 < 35
UNION ALL
SELECT c.id, s.slug, c.practice_id, c.specialty, c.closed_at_ms
FROM cases c CROSS JOIN LATERAL (SELECT slug FROM specialty_topics WHERE specialty = c.specialty
    ORDER BY slug OFFSET 8 + abs(hashint8(c.submitted_at_ms + 2)::bigint) % 2 LIMIT 1) s
WHERE c.closed_at_ms IS NOT NULL AND abs(hashint8(c.submitted_at_ms + 1)::bigint) % 100 < 10;
INSERT INTO report_topic_days (day_ms, specialty, topic, cases)
SELECT tagged_at_ms - tagged_at_ms % 86400000, specialty, topic, COUNT(*) FROM case_topics GROUP BY 1, 2, 3;
"#;

/// The ICBs (after migration 0018 made them possible): practice i belongs to ICB i / 150; each
/// case counts for its practice's ICB (what migration 0022 does for an existing installation).
const ORGANISATIONS: &str = r#"
INSERT INTO organisations (id, ods_code, name, kind, created_at_ms)
SELECT 'q' || lpad(i::text, 35, '0'), 'Q' || lpad(i::text, 4, '0'), 'Bench ICB ' || i, 'icb', 0
FROM generate_series(0, $ICBS - 1) i;
UPDATE practices SET icb_id = 'q' || lpad((substr(ods_code, 2)::int / ($PRACTICES / $ICBS))::text, 35, '0'),
  list_size = 3000 + abs(hashint8(substr(ods_code, 2)::bigint))::bigint % 15000;
UPDATE case_facts f SET icb_id = p.icb_id FROM practices p WHERE p.id = f.practice_id;
"#;

/// Distinct patients: 0.6 per case.
fn patients(args: &Args) -> i64 {
    (args.cases * 6 / 10).max(1)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn summary(mut v: Vec<Duration>) -> String {
    v.sort();
    format!(
        "median {:7.1} ms   min {:7.1}   max {:7.1}",
        ms(v[v.len() / 2]),
        ms(v[0]),
        ms(v[v.len() - 1])
    )
}

async fn step<T>(label: &str, f: impl std::future::Future<Output = T>) -> T {
    let t = Instant::now();
    let out = f.await;
    println!("  {label:<52} {:>8.1} s", t.elapsed().as_secs_f64());
    out
}

fn fill(sql: &str, args: &Args) -> String {
    let start = first_ms(args);
    sql.replace("$START", &start.to_string())
        .replace("$STEP", &((END_MS - start) / args.cases).to_string())
        .replace("$N", &args.cases.to_string())
        .replace("$PRACTICES", &PRACTICES.to_string())
        .replace("$ICBS", &ICBS.to_string())
        .replace("$PATIENTS", &patients(args).to_string())
}

fn first_ms(args: &Args) -> i64 {
    END_MS - args.years * 365 * aghub::domain::reports::DAY_MS
}

async fn load(args: &Args, url: &str) -> anyhow::Result<()> {
    let mut admin = sqlx::PgConnection::connect(&args.admin_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {DB_NAME}"))
        .execute(&mut admin)
        .await?;
    let db = Db::connect(url).await?;
    println!(
        "Loading {} cases over {} years ({} to 2026-12-31), {}:",
        args.cases,
        args.years,
        reports::fmt_date(first_ms(args)),
        if args.from_events {
            "as events an upgrade derives the figures from"
        } else {
            "with their facts written directly"
        }
    );
    if args.from_events {
        // The schema as it was before reports (migrations 1 and 2).
        let all = sqlx::migrate!("./migrations/postgres");
        let before = sqlx::migrate::Migrator {
            migrations: Cow::Owned(
                all.migrations
                    .iter()
                    .filter(|m| m.version < 3)
                    .cloned()
                    .collect(),
            ),
            ignore_missing: false,
            locking: true,
            no_tx: false,
        };
        before.run(db.pool()).await?;
    } else {
        db.migrate().await?;
    }
    // One connection throughout: the generated rows live in its temporary tables.
    let mut conn = db.pool().acquire().await?;
    let mut run = async |label: &str, sql: &str| {
        step(label, sqlx::raw_sql(&fill(sql, args)).execute(&mut *conn))
            .await
            .map(drop)
    };
    run("indexes set aside", PREPARE).await?;
    run("practices and users", PEOPLE).await?;
    if !args.from_events {
        run("ICBs, each practice's ICB, list sizes", ORGANISATIONS).await?;
    }
    run("the cases' story (generate_series)", GENERATE).await?;
    run("cases", CASES).await?;
    if args.from_events {
        run("their audit events", EVENTS).await?;
    } else {
        run("their facts", FACTS).await?;
    }
    run("indexes built", RESTORE_INDEXES).await?;
    drop(conn);
    if args.from_events {
        step(
            "migration 0003+: case facts and rollups from events",
            db.migrate(),
        )
        .await?;
        step(
            "ICBs, each practice's and case's ICB, list sizes",
            sqlx::raw_sql(&fill(ORGANISATIONS, args)).execute(db.pool()),
        )
        .await?;
        step(
            "figures' flags and day tables from the facts (what the service does at start)",
            aghub::service::case_facts::bring_up_to_date(&db),
        )
        .await?;
    } else {
        step(
            "figures' flags and day tables from the facts (case_facts::rebuild)",
            aghub::service::case_facts::rebuild(&db),
        )
        .await?;
    }
    step("reply topics", sqlx::raw_sql(TOPICS).execute(db.pool())).await?;
    step(
        "VACUUM ANALYZE",
        sqlx::raw_sql("VACUUM ANALYZE").execute(db.pool()),
    )
    .await?;
    db.close().await;
    Ok(())
}

async fn explain(db: &Db, title: &str, q: &ReportSql<'_>, f: &Filter<'_>) -> anyhow::Result<()> {
    let sql = format!("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {}", q.sql);
    let mut query = sqlx::query(&sql).bind(f.from_ms).bind(f.to_ms);
    for t in &q.texts {
        query = query.bind(t.to_string());
    }
    println!("\n  -- {title}");
    for row in query.fetch_all(db.pool()).await? {
        let line: String = row.try_get(0)?;
        println!("  {line}");
    }
    Ok(())
}

/// What keeping the figures costs each case: `n` new cases (on the loaded database, patients
/// that exist, so the re-presentation lookup finds earlier cases), each inserted alone, then with
/// its facts and a reply applied as the service does; every transaction is rolled back.
async fn time_writes(db: &Db, n: usize, patients: i64) -> anyhow::Result<()> {
    use aghub::domain::queue::Pool;
    use aghub::domain::reports::CaseEvent;
    use aghub::domain::{Outcome, Urgency};
    use aghub::service::case_facts;
    if n == 0 {
        return Ok(());
    }
    println!("\nWrite path ({n} cases, each transaction rolled back):");
    let specialties = db::specialties::list(db).await?;
    let mut plain = Vec::new();
    let mut with_facts = Vec::new();
    for i in 0..n {
        for keep_facts in [false, true] {
            let id = uuid::Uuid::now_v7().to_string();
            let pr = i % PRACTICES as usize;
            let specialty = &specialties[i % specialties.len()];
            let t = Instant::now();
            let mut tx = db.pool().begin().await?;
            db::cases::insert(
                &mut tx,
                &db::cases::NewCase {
                    id: &id,
                    practice_id: &format!("p{pr:035}"),
                    created_by: &format!("g{pr:035}"),
                    specialty: &specialty.slug,
                    nhs_number: &format!("9{:09}", (i as i64 * 7919) % patients),
                    date_of_birth: "1970-01-01",
                    urgency: aghub::domain::Urgency::Routine,
                    history: "bench history",
                    question: "bench question",
                    conversion_authorised: true,
                    sex: None,
                    idempotency_key: None,
                    now_ms: END_MS,
                },
            )
            .await?;
            if keep_facts {
                case_facts::submitted(
                    &mut tx,
                    &id,
                    &format!("p{pr:035}"),
                    Some(&format!("q{:035}", pr as i64 / (PRACTICES / ICBS))),
                    &specialty.slug,
                    Urgency::Routine,
                    specialty.routine_target_ms,
                    END_MS,
                )
                .await?;
                case_facts::apply(
                    &mut tx,
                    &id,
                    CaseEvent::Replied {
                        at_ms: END_MS + 3_600_000,
                        outcome: Outcome::ManageInPrimaryCare,
                        pool: Some(Pool::Local),
                        converted: false,
                        referral_due_at_ms: None,
                    },
                )
                .await?;
            }
            tx.rollback().await?;
            if keep_facts {
                with_facts.push(t.elapsed());
            } else {
                plain.push(t.elapsed());
            }
        }
    }
    println!("  {:<40} {}", "case row only", summary(plain));
    println!(
        "  {:<40} {}",
        "case row + facts + reply (2 events)",
        summary(with_facts)
    );
    Ok(())
}

/// The retention run on the day the first year's adult patients fall due (8 years on): a dry
/// run, then the real one; the first year's figures must keep their counts.
async fn time_retention(
    db: &Db,
    blobs: &aghub::blob::BlobStore,
    years: i64,
    names: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<()> {
    use aghub::service::{retention, Actor};
    let first_year = 2027 - years as i32;
    let now_ms = time::Date::from_calendar_date(first_year + 9, time::Month::January, 1)?
        .midnight()
        .assume_utc()
        .unix_timestamp()
        * 1000;
    let period = Period::parse(
        Some(&format!("{first_year}-01-01")),
        Some(&format!("{first_year}-12-31")),
    )?;
    let filter = Filter {
        from_ms: period.from_ms(),
        to_ms: period.to_ms(),
        specialty: None,
        practice_id: None,
        icb_id: None,
    };
    let submitted = || async {
        let data = reports::read(db, &filter, END_MS).await?;
        let r = reports::compute(&period, None, None, None, names, &data, 0);
        anyhow::Ok((r.totals.submitted, r.totals.answered, r.totals.re_presented))
    };
    let before = submitted().await?;
    println!(
        "\nRetention on {}-01-01 (the {first_year} cases' adults fall due):",
        first_year + 9
    );
    let t = Instant::now();
    let dry = retention::run(db, blobs, Actor::CommandLine, now_ms, true).await?;
    println!(
        "  {:<40} {:>8.1} s   {} patients, {} cases",
        "dry run",
        t.elapsed().as_secs_f64(),
        dry.patients,
        dry.cases_erased
    );
    let t = Instant::now();
    let run = retention::run(db, blobs, Actor::CommandLine, now_ms, false).await?;
    println!(
        "  {:<40} {:>8.1} s   {} patients, {} cases erased ({:.0} cases/s)",
        "run",
        t.elapsed().as_secs_f64(),
        run.patients,
        run.cases_erased,
        run.cases_erased as f64 / t.elapsed().as_secs_f64()
    );
    anyhow::ensure!(
        dry.cases_erased == run.cases_erased,
        "dry run {dry:?}, run {run:?}"
    );
    let erased: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM cases WHERE erased_at_ms IS NOT NULL AND nhs_number = ''",
    )
    .fetch_one(db.pool())
    .await?;
    anyhow::ensure!(erased as usize == run.cases_erased, "{erased} rows erased");
    let after = submitted().await?;
    anyhow::ensure!(
        before == after,
        "figures before {before:?}, after {after:?}"
    );
    println!(
        "  {:<40} {} submitted, {} answered, {} re-presented, before and after",
        format!("{first_year}'s figures kept"),
        after.0,
        after.1,
        after.2
    );
    let t = Instant::now();
    let again = retention::run(db, blobs, Actor::CommandLine, now_ms, false).await?;
    println!(
        "  {:<40} {:>8.1} s   {} cases",
        "the next day's run (nothing new due)",
        t.elapsed().as_secs_f64(),
        again.cases_erased
    );
    Ok(())
}

struct Scenario {
    label: &'static str,
    period: Period,
    specialty: Option<&'static str>,
    practice_ods: Option<&'static str>,
    icb_ods: Option<&'static str>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    aghub::outbound::use_aws_lc_rs();
    let args = Args::parse();
    let base = args
        .admin_url
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or_else(|| args.admin_url.clone());
    let url = format!("{base}/{DB_NAME}");
    if !args.reuse {
        load(&args, &url).await?;
    } else {
        // A database kept by an earlier version: upgraded as a deployment would be.
        let db = Db::connect(&url).await?;
        println!("Bringing the kept database up to this code:");
        step("migrations", db.migrate()).await?;
        step(
            "figures brought up to date",
            aghub::service::case_facts::bring_up_to_date(&db),
        )
        .await?;
        db.close().await;
    }

    let db = Db::connect(&url).await?;
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(db.pool())
                .await
                .unwrap_or(-1)
        }
    };
    println!("\nData:");
    for (label, sql) in [
        ("cases", "SELECT COUNT(*) FROM cases"),
        ("audit events", "SELECT COUNT(*) FROM audit_events"),
        ("case_facts rows", "SELECT COUNT(*) FROM case_facts"),
        (
            "report_specialty_days rows",
            "SELECT COUNT(*) FROM report_specialty_days",
        ),
        (
            "report_practice_days rows",
            "SELECT COUNT(*) FROM report_practice_days",
        ),
        (
            "report_icb_days rows",
            "SELECT COUNT(*) FROM report_icb_days",
        ),
        ("case_topics rows", "SELECT COUNT(*) FROM case_topics"),
    ] {
        println!("  {label:<28} {:>10}", count(sql).await);
    }

    let year = Period::parse(Some("2026-01-01"), Some("2026-12-31"))?;
    let two_years = Period::parse(Some("2025-01-01"), Some("2026-12-31"))?;
    let scenarios = [
        Scenario {
            label: "year 2026, everything",
            period: year,
            specialty: None,
            practice_ods: None,
            icb_ods: None,
        },
        Scenario {
            label: "year 2026, dermatology",
            period: year,
            specialty: Some("dermatology"),
            practice_ods: None,
            icb_ods: None,
        },
        Scenario {
            label: "year 2026, one ICB (150 practices)",
            period: year,
            specialty: None,
            practice_ods: None,
            icb_ods: Some("Q0000"),
        },
        Scenario {
            label: "year 2026, one ICB, dermatology",
            period: year,
            specialty: Some("dermatology"),
            practice_ods: None,
            icb_ods: Some("Q0000"),
        },
        Scenario {
            label: "year 2026, one practice",
            period: year,
            specialty: None,
            practice_ods: Some("B00042"),
            icb_ods: None,
        },
        Scenario {
            label: "year 2026, one practice, dermatology",
            period: year,
            specialty: Some("dermatology"),
            practice_ods: Some("B00042"),
            icb_ods: None,
        },
        Scenario {
            label: "2025-2026 (longest period), everything",
            period: two_years,
            specialty: None,
            practice_ods: None,
            icb_ods: None,
        },
    ];
    let names: std::collections::BTreeMap<String, String> = db::specialties::list(&db)
        .await?
        .into_iter()
        .map(|s| (s.slug, s.name))
        .collect();

    println!(
        "\nIn process: service::reports::read + compute (what every view runs), {} runs each:",
        args.runs
    );
    for s in &scenarios {
        let practice = match s.practice_ods {
            Some(ods) => Some(
                db::practices::find_by_ods(&db, ods)
                    .await?
                    .expect("bench practice"),
            ),
            None => None,
        };
        let icb = match s.icb_ods {
            Some(ods) => Some(
                db::organisations::find_by_ods(&db, ods)
                    .await?
                    .expect("bench ICB"),
            ),
            None => None,
        };
        let filter = Filter {
            from_ms: s.period.from_ms(),
            to_ms: s.period.to_ms(),
            specialty: s.specialty,
            practice_id: practice.as_ref().map(|p| p.id.as_str()),
            icb_id: icb.as_ref().map(|o| o.id.as_str()),
        };
        let mut times = Vec::new();
        let mut report = None;
        for _ in 0..=args.runs {
            let t = Instant::now();
            let data = reports::read(&db, &filter, END_MS).await?;
            let r = reports::compute(
                &s.period,
                s.specialty,
                s.practice_ods,
                icb.as_ref().map(|o| (o.ods_code.as_str(), o.name.as_str())),
                &names,
                &data,
                0,
            );
            times.push(t.elapsed());
            report = Some(r);
        }
        times.remove(0); // the first run warms the cache
        let r = report.expect("ran");
        let t = &r.totals;
        println!("  {:<40} {}", s.label, summary(times));
        println!(
            "  {:<40} submitted {}, answered {}, first reply median {:.1} h / p90 {:.1} h, within target {:.1}%, deflection {:.1}%, national {}, re-presented {}",
            "",
            t.submitted,
            t.answered,
            t.first_reply.median_ms.unwrap_or(0) as f64 / 3.6e6,
            t.first_reply.p90_ms.unwrap_or(0) as f64 / 3.6e6,
            t.first_reply.within_target_share.unwrap_or(0.0) * 100.0,
            t.deflection_rate.unwrap_or(0.0) * 100.0,
            t.national_pool,
            t.re_presented
        );
    }

    time_writes(&db, args.writes, patients(&args)).await?;

    // The whole HTTP path: authentication, the report, the audit record, JSON / CSV / HTML.
    let data_dir = tempfile::tempdir()?;
    let settings = {
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            settings: aghub::config::Settings,
        }
        Cli::try_parse_from([
            "bench",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            &url,
            "--data-dir",
            &data_dir.path().display().to_string(),
            "--cookie-secure",
            "false",
        ])?
        .settings
    };
    let app = aghub::startup::Application::build(settings, Arc::new(SystemClock)).await?;
    let base = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let email = format!(
        "commissioner-{}@bench.example",
        uuid::Uuid::new_v4().simple()
    );
    let user = db::users::insert(
        &state.db,
        db::users::NewUser {
            email: &email,
            name: "Bench commissioner",
            role: Role::Commissioner,
            practice_id: None,
            specialties: &[],
            password_hash: None,
        },
        0,
    )
    .await?;
    let token = aghub::service::accounts::create_token(
        &state.db,
        aghub::service::Actor::CommandLine,
        &aghub::domain::UserId::new(user),
        0,
        i64::MAX,
    )
    .await?;
    let client = reqwest::Client::new();
    println!("\nOver HTTP (one client, {} runs each):", args.runs);
    for (label, path, accept) in [
        (
            "API JSON, year 2026",
            "/api/v1/reports/turnaround?from=2026-01-01&to=2026-12-31",
            "application/json",
        ),
        (
            "API CSV, year 2026",
            "/api/v1/reports/turnaround?from=2026-01-01&to=2026-12-31",
            "text/csv",
        ),
        (
            "dashboard page (HTML + SVG), year 2026",
            "/reports?from=2026-01-01&to=2026-12-31",
            "text/html",
        ),
        (
            "dashboard page, year 2026, dermatology",
            "/reports?from=2026-01-01&to=2026-12-31&specialty=dermatology",
            "text/html",
        ),
        (
            "API JSON, year 2026, one ICB",
            "/api/v1/reports/turnaround?from=2026-01-01&to=2026-12-31&icb=Q0000",
            "application/json",
        ),
        (
            "dashboard page, year 2026, one ICB",
            "/reports?from=2026-01-01&to=2026-12-31&icb=Q0000",
            "text/html",
        ),
        (
            "dashboard page, year 2026, one practice",
            "/reports?from=2026-01-01&to=2026-12-31&practice=B00042",
            "text/html",
        ),
    ] {
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..=args.runs {
            let t = Instant::now();
            let r = client
                .get(format!("{base}{path}"))
                .bearer_auth(&token)
                .header("Accept", accept)
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "{path}: {}", r.status());
            bytes = r.bytes().await?.len();
            times.push(t.elapsed());
        }
        times.remove(0);
        println!("  {label:<40} {}   ({} kB)", summary(times), bytes / 1024);
    }
    let _ = stop.send(());
    let _ = server.await;

    println!("\nQuery plans, year 2026, everything:");
    let f = Filter {
        from_ms: year.from_ms(),
        to_ms: year.to_ms(),
        specialty: None,
        practice_id: None,
        icb_id: None,
    };
    explain(
        &db,
        "day cells (report_specialty_days)",
        &rdb::rollup_days_sql(rdb::Rollup::Specialty, &f),
        &f,
    )
    .await?;
    explain(
        &db,
        "ICBs (report_icb_days)",
        &rdb::rollup_days_sql(rdb::Rollup::Icb, &f),
        &f,
    )
    .await?;
    explain(
        &db,
        "topics (case_topics)",
        &rdb::topic_counts_sql(&f, false),
        &f,
    )
    .await?;
    let p = db::practices::find_by_ods(&db, "B00042")
        .await?
        .expect("bench practice");
    let fp = Filter {
        practice_id: Some(&p.id),
        icb_id: None,
        ..f
    };
    println!("\nQuery plans, year 2026, one practice:");
    explain(&db, "facts (case_facts)", &rdb::facts_sql(&fp), &fp).await?;
    let fs = Filter {
        specialty: Some("dermatology"),
        ..f
    };
    println!("\nQuery plans, year 2026, dermatology:");
    explain(
        &db,
        "ICB cells (case_facts)",
        &rdb::fact_cells_sql(Backend::Postgres, &fs, FactCells::Icbs),
        &fs,
    )
    .await?;

    let icb = db::organisations::find_by_ods(&db, "Q0000")
        .await?
        .expect("bench ICB");
    let fi = Filter {
        icb_id: Some(&icb.id),
        ..f
    };
    println!("\nQuery plans, year 2026, one ICB:");
    for (title, by) in [
        ("specialty cells (case_facts)", FactCells::SpecialtyWeeks),
        ("practice cells (case_facts)", FactCells::Practices),
    ] {
        let q = rdb::fact_cells_sql(Backend::Postgres, &fi, by);
        explain(&db, title, &q, &fi).await?;
    }
    explain(
        &db,
        "topics by practice (case_topics)",
        &rdb::topic_counts_sql(&fi, true),
        &fi,
    )
    .await?;

    if !args.no_retention {
        time_retention(&db, &state.blobs, args.years, &names).await?;
    }

    db.close().await;
    if !args.keep {
        let mut admin = sqlx::PgConnection::connect(&args.admin_url).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)"))
            .execute(&mut admin)
            .await?;
    }
    Ok(())
}
