//! The command line of contract.md. Each command prints a one-line error and exits non-zero on failure.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand};

use crate::clock::{parse_rfc3339, Clock, SystemClock};
use crate::config::Settings;
use crate::db::{self, rotas::Pool, Db};
use crate::domain::{check_email, parse_ods_code, Role};
use crate::service::auth::{check_password_policy, hash_password};
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
        /// First seed a demo world (idempotent) and print its logins.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
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
}

#[derive(Debug, Subcommand)]
pub enum PracticeCommand {
    Add {
        #[arg(long)]
        ods: String,
        #[arg(long)]
        name: String,
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
                demo::print_logins(&logins, app.local_addr());
            }
            tracing::info!(address = %app.local_addr(), "aghub is listening");
            app.run_until(shutdown_signal()).await
        }
        Command::Migrate => {
            connect(&settings).await?;
            Ok(())
        }
        Command::Practice(PracticeCommand::Add { ods, name }) => {
            let db = connect(&settings).await?;
            let ods = parse_ods_code(&ods).map_err(|e| anyhow!(e))?;
            let name = name.trim();
            if name.is_empty() {
                bail!("--name must not be empty");
            }
            db::practices::insert(&db, &ods, name, SystemClock.now_ms()).await?;
            Ok(())
        }
        Command::User(UserCommand::Add {
            email,
            name,
            role,
            practice,
            specialties,
        }) => {
            let db = connect(&settings).await?;
            let role: Role = role.parse()?;
            let email = check_email(&email).map_err(|e| anyhow!(e))?;
            let name = name.trim();
            if name.is_empty() {
                bail!("--name must not be empty");
            }
            let practice_id = match (role, practice) {
                (Role::Gp, Some(ods)) => {
                    let ods = parse_ods_code(&ods).map_err(|e| anyhow!(e))?;
                    Some(
                        db::practices::find_by_ods(&db, &ods)
                            .await?
                            .ok_or_else(|| anyhow!("no practice with ODS code {ods}: add it with 'aghub practice add' first"))?
                            .id,
                    )
                }
                (Role::Gp, None) => bail!("a gp needs --practice ODS_CODE"),
                (_, Some(_)) => bail!("--practice is only for gp users"),
                (_, None) => None,
            };
            match role {
                Role::Consultant if specialties.is_empty() => {
                    bail!("a consultant needs at least one --specialty SLUG")
                }
                Role::Consultant => {
                    for slug in &specialties {
                        check_specialty(&db, slug).await?;
                    }
                }
                _ if !specialties.is_empty() => bail!("--specialty is only for consultant users"),
                _ => {}
            }
            let hash = new_password_hash()?;
            db::users::insert(
                &db,
                db::users::NewUser {
                    email: &email,
                    name,
                    role,
                    practice_id: practice_id.as_deref(),
                    specialties: &specialties,
                    password_hash: Some(&hash),
                },
                SystemClock.now_ms(),
            )
            .await?;
            Ok(())
        }
        Command::User(UserCommand::SetPassword { email }) => {
            let db = connect(&settings).await?;
            let user_id = find_user(&db, &email).await?;
            let hash = new_password_hash()?;
            db::users::set_password(&db, &user_id, &hash, SystemClock.now_ms()).await?;
            Ok(())
        }
        Command::User(UserCommand::Disable { email }) => {
            let db = connect(&settings).await?;
            let user_id = find_user(&db, &email).await?;
            db::users::disable(&db, &user_id, SystemClock.now_ms()).await?;
            Ok(())
        }
        Command::Token(TokenCommand::Create { email }) => {
            let db = connect(&settings).await?;
            let user_id = find_user(&db, &email).await?;
            let token = db::tokens::generate();
            let now = SystemClock.now_ms();
            let expires = now + settings.token_lifetime_ms();
            db::tokens::insert(&db, &user_id, &token, now, expires).await?;
            println!("{token}");
            eprintln!(
                "aghub: the token expires {} ({} days)",
                crate::clock::rfc3339(expires),
                settings.token_days
            );
            Ok(())
        }
        Command::Token(TokenCommand::Revoke { token, email }) => {
            let db = connect(&settings).await?;
            let which = match (&token, &email) {
                (Some(t), _) => db::tokens::Revoke::Token(t.trim()),
                (None, Some(e)) => db::tokens::Revoke::AllOfUser(&find_user(&db, e).await?),
                (None, None) => bail!("give --token TOKEN or --email EMAIL"),
            };
            let n = db::tokens::revoke(&db, which, SystemClock.now_ms()).await?;
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
            let db = connect(&settings).await?;
            let user_id = find_user(&db, &email).await?;
            let pool: Pool = pool.parse()?;
            check_specialty(&db, &specialty).await?;
            let principal = db::users::principal(&db, &user_id)
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
            let shift = crate::service::admin::NewShift {
                consultant_id: &user_id,
                specialty: &specialty,
                pool,
                starts_at_ms: from_ms,
                ends_at_ms: to_ms,
            };
            crate::service::admin::add_shift(
                &db,
                crate::service::admin::Actor::CommandLine,
                shift,
                SystemClock.now_ms(),
            )
            .await?;
            Ok(())
        }
    }
}

async fn connect(settings: &Settings) -> anyhow::Result<Db> {
    let db = Db::connect(&settings.database_url())
        .await
        .context("connecting to the database")?;
    db.migrate().await.context("applying migrations")?;
    Ok(db)
}

async fn find_user(db: &Db, email: &str) -> anyhow::Result<String> {
    match db::users::id_by_email(db, email).await {
        Ok(id) => Ok(id),
        Err(db::DbError::NotFound) => bail!("no user with email {}", email.trim()),
        Err(e) => Err(e.into()),
    }
}

async fn check_specialty(db: &Db, slug: &str) -> anyhow::Result<()> {
    match db::specialties::get(db, slug).await {
        Ok(_) => Ok(()),
        Err(db::DbError::NotFound) => {
            let known: Vec<String> = db::specialties::list(db)
                .await?
                .into_iter()
                .map(|s| s.slug)
                .collect();
            bail!("unknown specialty '{slug}'; known: {}", known.join(", "))
        }
        Err(e) => Err(e.into()),
    }
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
