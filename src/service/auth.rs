//! Who is signing in and who is calling: passwords (argon2id), the sign-in pause, API tokens
//! and the signed-in person's record. The pages, the API middleware and the command line call
//! these; every sign-in event is audited here.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use super::ServiceResult;
use crate::db::{self, audit, sign_in::Reservation};

use crate::clock::Clock;
pub use crate::db::sessions::{DbSessionStore as SessionStore, USER_KEY};
use crate::domain::access::Principal;
use crate::domain::UserId;
use crate::service::AppState;

pub const MIN_PASSWORD_LEN: usize = 10;

/// Argon2id with the crate's defaults (OWASP's recommended parameters).
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

pub fn check_password_policy(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(format!(
            "the password must have at least {MIN_PASSWORD_LEN} characters"
        ));
    }
    Ok(())
}

/// What a sign-in attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    SignedIn {
        user_id: String,
    },
    WrongPassword,
    /// Too many attempts for this account lately; it opens again at `until_ms`.
    Paused {
        until_ms: i64,
    },
}

/// Checks an email and password under the sign-in pause, and records the outcome against the
/// account tried (its normalised email, so unknown emails are counted and paused alike).
pub async fn sign_in(state: &AppState, email: &str, password: &str) -> ServiceResult<SignIn> {
    let now = state.now_ms();
    let email = db::users::normalise_email(email);
    let attempt_id = match db::sign_in::reserve(&state.db, &email, now).await? {
        Reservation::Allowed { attempt_id } => attempt_id,
        Reservation::Paused { until_ms } => {
            record(state, None, "user.sign_in_paused", &email).await?;
            return Ok(SignIn::Paused { until_ms });
        }
    };
    let Some(user_id) = check_credentials(state, &email, password).await? else {
        db::sign_in::failed(&state.db, &attempt_id).await?;
        record(state, None, "user.sign_in_failed", &email).await?;
        return Ok(SignIn::WrongPassword);
    };
    db::sign_in::succeeded(&state.db, &email).await?;
    record(state, Some(&user_id), "user.signed_in", &email).await?;
    Ok(SignIn::SignedIn { user_id })
}

pub async fn signed_out(state: &AppState, user: &Principal) -> ServiceResult<()> {
    audit::record(
        state.db.pool(),
        audit::Event {
            actor_id: Some(user.user_id.as_str()),
            action: "user.signed_out",
            ..Default::default()
        },
        state.now_ms(),
    )
    .await?;
    Ok(())
}

async fn record(
    state: &AppState,
    actor: Option<&str>,
    action: &str,
    email: &str,
) -> ServiceResult<()> {
    audit::record(
        state.db.pool(),
        audit::Event {
            actor_id: actor,
            action,
            subject_id: Some(email),
            ..Default::default()
        },
        state.now_ms(),
    )
    .await?;
    Ok(())
}

/// The work is the same whether or not the email exists, so response time does not reveal
/// who has an account.
async fn check_credentials(
    state: &AppState,
    email: &str,
    password: &str,
) -> ServiceResult<Option<String>> {
    let found = db::users::credentials_by_email(&state.db, email).await?;
    let (user_id, hash) = match found {
        Some((id, Some(hash))) => (Some(id), hash),
        _ => (None, state.dummy_password_hash.to_string()),
    };
    let password = password.to_string();
    let ok = state
        .run_blocking(move || verify_password(&password, &hash))
        .await?;
    Ok(if ok { user_id } else { None })
}

/// The person a live API token belongs to (not revoked, not expired, account not disabled).
pub async fn by_token(state: &AppState, token: &str) -> ServiceResult<Option<Principal>> {
    match db::tokens::user_for(&state.db, token, state.now_ms()).await? {
        Some(id) => Ok(db::users::principal(&state.db, &id).await?),
        None => Ok(None),
    }
}

/// The person a session names, unless their account has been disabled since.
pub async fn by_user_id(state: &AppState, user_id: &UserId) -> ServiceResult<Option<Principal>> {
    Ok(db::users::principal(&state.db, user_id.as_str()).await?)
}

/// Where browser sessions live: the database, so every instance sees every session.
pub fn session_store(state: &AppState) -> SessionStore {
    SessionStore::new(state.db.clone())
}

/// Forgets expired sessions and sign-in attempts older than the pause window (housekeeping;
/// idempotent, so several instances may run it at once).
pub async fn sweep(state: &AppState) -> ServiceResult<()> {
    // tower-sessions sets expiry dates from the system clock, so they are compared with it.
    let system_now = crate::clock::SystemClock.now_ms();
    session_store(state).delete_expired(system_now).await?;
    db::sign_in::sweep(&state.db, state.now_ms()).await?;
    Ok(())
}
