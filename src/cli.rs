//! The command line of contract.md. Each command prints a one-line error and exits non-zero on failure.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand};

use crate::clock::{parse_rfc3339, Clock, SystemClock};
use crate::config::Settings;
use crate::domain::notifications::About;
use crate::domain::queue::Pool;
use crate::service::accounts::{self, Revoke};
use crate::service::auth::{check_password_policy, hash_password};
use crate::service::{admin, organisations, retention, Actor};
use crate::startup::{shutdown_signal, Application};
use crate::{demo, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "aghub",
    version,
    about = "aghub: Advice & Guidance for the NHS"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Serve {
        /// First seed a demo world with six months of history (once) and print its logins.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Manage ICBs and trusts.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage practices.
    #[command(subcommand)]
    Practice(PracticeCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage rota shifts.
    #[command(subcommand)]
    Rota(RotaCommand),
    /// Manage GP systems' webhooks.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// A patient's records.
    #[command(subcommand)]
    Patient(PatientCommand),
    /// Keep records as the NHS Records Management Code says.
    #[command(subcommand)]
    Retention(RetentionCommand),
}

#[derive(Debug, Subcommand)]
pub enum PatientCommand {
    /// Everything held about one patient, with who viewed it, in one .zip (a subject access
    /// request). The file is made readable by its owner only; an existing file is not replaced.
    Export {
        #[arg(long)]
        nhs_number: String,
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Erases what is due now (serve does the same daily); prints the counts.
    Run {
        /// Only count what would be erased.
        #[arg(long)]
        dry_run: bool,
    },
    /// Puts a case or a live call under legal hold: retention leaves it whole until released.
    Hold {
        #[command(flatten)]
        record: HeldRecord,
        #[arg(long)]
        reason: String,
    },
    /// Lifts a legal hold.
    Release {
        #[command(flatten)]
        record: HeldRecord,
    },
}

/// The record a legal hold is about: one case or one live call.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct HeldRecord {
    #[arg(long = "case")]
    case_id: Option<String>,
    #[arg(long = "call")]
    call_id: Option<String>,
}

impl HeldRecord {
    fn about(&self) -> About {
        match (&self.case_id, &self.call_id) {
            (Some(id), _) => About::Case(id.clone()),
            (None, Some(id)) => About::Call(id.clone()),
            // clap's group requires exactly one.
            (None, None) => unreachable!("--case or --call"),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Sends the practice's case events to URL (https://), signed; prints the signing secret
    /// once on stdout.
    Add {
        /// ODS code of the practice.
        #[arg(long)]
        practice: String,
        #[arg(long)]
        url: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    Add {
        #[arg(long)]
        ods: String,
        #[arg(long)]
        name: String,
        /// icb or trust.
        #[arg(long)]
        kind: String,
        /// A trust's ICB: the practices its local rotas serve.
        #[arg(long)]
        icb: Option<String>,
    },
    /// An ICB's own response targets and escalation window for one specialty.
    Targets {
        #[arg(long)]
        icb: String,
        #[arg(long)]
        specialty: String,
        #[arg(long)]
        routine_hours: f64,
        #[arg(long)]
        urgent_hours: f64,
        #[arg(long)]
        escalation_hours: f64,
    },
}

#[derive(Debug, Subcommand)]
pub enum PracticeCommand {
    Add {
        #[arg(long)]
        ods: String,
        #[arg(long)]
        name: String,
        /// ODS code of the practice's ICB.
        #[arg(long)]
        icb: Option<String>,
    },
    /// Adds and updates practices from NHS ODS files; prints what it did.
    Import {
        /// epraccur.csv: the active GP practices, with their ICB.
        #[arg(long, required_unless_present = "list_sizes")]
        epraccur: Option<std::path::PathBuf>,
        /// gp-reg-pat-prac-all.csv: each practice's registered patients.
        #[arg(long)]
        list_sizes: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Password from AGHUB_PASSWORD, else asked for on the terminal.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        role: String,
        /// ODS code of the GP's practice (required for gp).
        #[arg(long)]
        practice: Option<String>,
        /// ODS code of the consultant's trust, or of the ICB whose figures a commissioner sees
        /// (a commissioner without one sees every ICB: the national view).
        #[arg(long)]
        org: Option<String>,
        /// Specialties a consultant answers.
        #[arg(long = "specialty", num_args = 1..)]
        specialties: Vec<String>,
    },
    /// A new password (AGHUB_PASSWORD, else asked for); lifts a sign-in pause for the account.
    SetPassword {
        #[arg(long)]
        email: String,
    },
    /// Ends the user's access at once: sign-in, open sessions and API tokens stop working.
    Disable {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Prints one new API token on stdout, nothing else (its expiry goes to stderr).
    Create {
        #[arg(long)]
        email: String,
    },
    /// Revokes one token, or every token of a user.
    Revoke {
        /// The token itself.
        #[arg(long, conflicts_with = "email", required_unless_present = "email")]
        token: Option<String>,
        /// Every live token of this user.
        #[arg(long)]
        email: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RotaCommand {
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        specialty: String,
        #[arg(long)]
        pool: String,
        /// Start, RFC 3339 (e.g. 2026-11-23T08:00:00Z).
        #[arg(long)]
        from: String,
        /// End, RFC 3339.
        #[arg(long)]
        to: String,
    },
}

/// Parses arguments and runs; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!(
                "aghub: {} (see aghub --help)",
                first.trim_start_matches("error: ")
            );
            return 2;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("aghub: cannot start the runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("aghub: {}", format!("{e:#}").replace('\n', " "));
            1
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = cli.settings;
    match cli.command {
        Command::Serve { demo } => {
            telemetry::init(settings.log_json);
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            let app = Application::build(settings, clock).await?;
            if demo {
                let logins = demo::seed(app.state())
                    .await
                    .context("seeding the demo world")?;
                demo::seed_history(app.state(), demo::HistorySize::SIX_MONTHS)
                    .await
                    .context("seeding the demo world's history")?;
                demo::print_logins(&logins, app.local_addr());
            }
            tracing::info!(address = %app.local_addr(), "aghub is listening");
            app.run_until(shutdown_signal()).await
        }
        Command::Migrate => {
            accounts::open_database(&settings).await?;
            Ok(())
        }
        Command::Org(OrgCommand::Add {
            ods,
            name,
            kind,
            icb,
        }) => {
            let db = accounts::open_database(&settings).await?;
            organisations::add(
                &db,
                Actor::CommandLine,
                &ods,
                &name,
                &kind,
                icb.as_deref(),
                now(),
            )
            .await?;
            Ok(())
        }
        Command::Org(OrgCommand::Targets {
            icb,
            specialty,
            routine_hours,
            urgent_hours,
            escalation_hours,
        }) => {
            let db = accounts::open_database(&settings).await?;
            let hours = (routine_hours, urgent_hours, escalation_hours);
            organisations::set_targets(&db, Actor::CommandLine, &icb, &specialty, hours, now())
                .await?;
            Ok(())
        }
        Command::Practice(PracticeCommand::Add { ods, name, icb }) => {
            let db = accounts::open_database(&settings).await?;
            let icb = match icb {
                Some(code) => Some(organisations::icb_by_ods(&db, &code).await?),
                None => None,
            };
            let icb_id = icb.as_ref().map(|o| o.id.as_str());
            accounts::add_practice(&db, Actor::CommandLine, &ods, &name, icb_id, now()).await?;
            Ok(())
        }
        Command::Practice(PracticeCommand::Import {
            epraccur,
            list_sizes,
        }) => {
            let db = accounts::open_database(&settings).await?;
            let read = |path: &std::path::Path| {
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))
            };
            if let Some(path) = epraccur {
                let r =
                    organisations::import_epraccur(&db, Actor::CommandLine, &read(&path)?, now())
                        .await?;
                println!(
                    "practices: {} added, {} updated, {} unchanged; skipped {} not active and {} not GP practices",
                    r.added, r.updated, r.unchanged, r.skipped_not_active, r.skipped_not_gp
                );
            }
            if let Some(path) = list_sizes {
                let (set, unknown) =
                    organisations::import_list_sizes(&db, Actor::CommandLine, &read(&path)?, now())
                        .await?;
                println!("list sizes: {set} practices set, {unknown} not in aghub");
            }
            Ok(())
        }
        Command::User(UserCommand::Add {
            email,
            name,
            role,
            practice,
            org,
            specialties,
        }) => {
            let db = accounts::open_database(&settings).await?;
            let account = accounts::NewAccount {
                email: &email,
                name: &name,
                role: role.parse()?,
                practice_ods: practice.as_deref(),
                org_ods: org.as_deref(),
                specialties: &specialties,
            };
            let account = accounts::check_account(&db, account).await?;
            let hash = new_password_hash()?;
            accounts::add_user(&db, Actor::CommandLine, &account, &hash, now()).await?;
            Ok(())
        }
        Command::User(UserCommand::SetPassword { email }) => {
            let db = accounts::open_database(&settings).await?;
            let user_id = accounts::user_id_by_email(&db, &email).await?;
            let hash = new_password_hash()?;
            accounts::set_password(&db, Actor::CommandLine, &user_id, &hash, now()).await?;
            Ok(())
        }
        Command::User(UserCommand::Disable { email }) => {
            let db = accounts::open_database(&settings).await?;
            let user_id = accounts::user_id_by_email(&db, &email).await?;
            accounts::disable_user(&db, Actor::CommandLine, &user_id, now()).await?;
            Ok(())
        }
        Command::Webhook(WebhookCommand::Add { practice, url }) => {
            let db = accounts::open_database(&settings).await?;
            let (id, secret) = crate::service::outbox::add_webhook(
                &db,
                &settings,
                Actor::CommandLine,
                &practice,
                &url,
                now(),
            )
            .await?;
            println!("{secret}");
            eprintln!(
                "aghub: webhook {id} added; keep the secret above: it signs X-Aghub-Signature and is not shown again"
            );
            Ok(())
        }
        Command::Patient(PatientCommand::Export { nhs_number, out }) => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            // The file first: an export that cannot be written is not made (nor audited).
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&out)
                .with_context(|| format!("creating {}", out.display()))?;
            let state = crate::service::AppState::open(settings, Arc::new(SystemClock)).await?;
            let written = match crate::service::patient_export::export(
                &state,
                Actor::CommandLine,
                &nhs_number,
            )
            .await
            {
                Ok(export) => file
                    .write_all(&export.bytes)
                    .and_then(|()| file.sync_all())
                    .map(|()| export)
                    .with_context(|| format!("writing {}", out.display())),
                Err(e) => Err(e.into()),
            };
            match written {
                Ok(export) => {
                    println!(
                        "{}: {} cases, {} bytes",
                        out.display(),
                        export.cases,
                        export.bytes.len()
                    );
                    Ok(())
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&out);
                    Err(e)
                }
            }
        }
        Command::Retention(RetentionCommand::Run { dry_run }) => {
            let db = accounts::open_database(&settings).await?;
            let blobs = crate::blob::BlobStore::from_url(
                &settings.storage_url(),
                settings.s3_force_path_style,
            )
            .await?;
            let r = retention::run(&db, &blobs, Actor::CommandLine, now(), dry_run).await?;
            println!(
                "{}{} patients due: {} cases erased, {} kept under legal hold; {} calls erased, {} kept under legal hold; {} messages, {} photos ({} stored objects) deleted",
                if r.dry_run { "dry run (nothing changed): " } else { "" },
                r.patients, r.cases_erased, r.cases_on_hold, r.calls_erased, r.calls_on_hold, r.messages_deleted, r.photos_deleted, r.objects_deleted
            );
            Ok(())
        }
        Command::Retention(RetentionCommand::Hold { record, reason }) => {
            let db = accounts::open_database(&settings).await?;
            retention::hold(
                &db,
                Actor::CommandLine,
                &record.about(),
                Some(&reason),
                now(),
            )
            .await?;
            Ok(())
        }
        Command::Retention(RetentionCommand::Release { record }) => {
            let db = accounts::open_database(&settings).await?;
            retention::hold(&db, Actor::CommandLine, &record.about(), None, now()).await?;
            Ok(())
        }
        Command::Token(TokenCommand::Create { email }) => {
            let db = accounts::open_database(&settings).await?;
            let user_id = accounts::user_id_by_email(&db, &email).await?;
            let now = now();
            let expires = now + settings.token_lifetime_ms();
            let token =
                accounts::create_token(&db, Actor::CommandLine, &user_id, now, expires).await?;
            println!("{token}");
            eprintln!(
                "aghub: the token expires {} ({} days)",
                crate::clock::rfc3339(expires),
                settings.token_days
            );
            Ok(())
        }
        Command::Token(TokenCommand::Revoke { token, email }) => {
            let db = accounts::open_database(&settings).await?;
            let owner;
            let which = match (&token, &email) {
                (Some(t), _) => Revoke::Token(t.trim()),
                (None, Some(e)) => {
                    owner = accounts::user_id_by_email(&db, e).await?;
                    Revoke::AllOfUser(owner.as_str())
                }
                (None, None) => bail!("give --token TOKEN or --email EMAIL"),
            };
            let n = accounts::revoke_tokens(&db, Actor::CommandLine, which, now()).await?;
            if n == 0 && token.is_some() {
                bail!("no live token matches: it may have expired or been revoked already");
            }
            eprintln!("aghub: revoked {n} token{}", if n == 1 { "" } else { "s" });
            Ok(())
        }
        Command::Rota(RotaCommand::Add {
            email,
            specialty,
            pool,
            from,
            to,
        }) => {
            let db = accounts::open_database(&settings).await?;
            let user_id = accounts::user_id_by_email(&db, &email).await?;
            let pool: Pool = pool.parse()?;
            accounts::check_specialty(&db, &specialty).await?;
            let principal = accounts::principal(&db, &user_id)
                .await?
                .ok_or_else(|| anyhow!("{email} is disabled"))?;
            if !principal.may_answer_specialty(&specialty) {
                bail!("{email} is not a consultant in {specialty}");
            }
            let from_ms = parse_rfc3339(&from).ok_or_else(|| {
                anyhow!("--from '{from}' is not an RFC 3339 time like 2026-11-23T08:00:00Z")
            })?;
            let to_ms = parse_rfc3339(&to).ok_or_else(|| {
                anyhow!("--to '{to}' is not an RFC 3339 time like 2026-11-23T18:00:00Z")
            })?;
            if to_ms <= from_ms {
                bail!("--to must be after --from");
            }
            let shift = admin::NewShift {
                consultant_id: user_id.as_str(),
                specialty: &specialty,
                pool,
                starts_at_ms: from_ms,
                ends_at_ms: to_ms,
            };
            admin::add_shift(&db, Actor::CommandLine, shift, now()).await?;
            Ok(())
        }
    }
}

fn now() -> i64 {
    SystemClock.now_ms()
}

/// Reads a new password, checks it against the policy and hashes it.
fn new_password_hash() -> anyhow::Result<String> {
    let password = read_password()?;
    check_password_policy(&password).map_err(|e| anyhow!(e))?;
    hash_password(&password).map_err(|e| anyhow!("hashing the password: {e}"))
}

fn read_password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("AGHUB_PASSWORD") {
        return Ok(p);
    }
    let first = rpassword::prompt_password("Password: ")
        .map_err(|_| anyhow!("no password: set AGHUB_PASSWORD or run in a terminal"))?;
    let second = rpassword::prompt_password("Repeat password: ")
        .map_err(|_| anyhow!("no password: set AGHUB_PASSWORD or run in a terminal"))?;
    if first != second {
        bail!("the two passwords differ");
    }
    Ok(first)
}
