//! The operator's account use cases: practices, users, passwords, API tokens. The command line
//! and the demo call these; each change is audited here, in the same transaction as the change.

use serde_json::json;

use super::{record_change, Actor, FieldError, ServiceError, ServiceResult};
use crate::config::Settings;
use crate::db::{self, Db};
use crate::domain::access::Principal;
use crate::domain::{check_email, parse_ods_code, Role, UserId};

pub use crate::db::practices::Practice;
pub use crate::db::tokens::Revoke;

/// Connects and applies pending migrations (the command line's handle on storage).
pub async fn open_database(settings: &Settings) -> anyhow::Result<Db> {
    use anyhow::Context;
    let db = Db::connect(&settings.database_url())
        .await
        .context("connecting to the database")?;
    db.migrate().await.context("applying migrations")?;
    super::case_facts::bring_up_to_date(&db)
        .await
        .context("bringing the report figures up to date")?;
    Ok(db)
}

fn invalid(field: &'static str, code: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::Invalid(vec![FieldError {
        field,
        code,
        message: message.into(),
    }])
}

pub async fn add_practice(
    db: &Db,
    actor: Actor<'_>,
    ods: &str,
    name: &str,
    icb_id: Option<&str>,
    now_ms: i64,
) -> ServiceResult<Practice> {
    let ods = parse_ods_code(ods).map_err(|m| invalid("ods", "invalid_ods_code", m))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(invalid("name", "missing_name", "--name must not be empty"));
    }
    let mut tx = db.begin().await?;
    let practice = db::practices::insert_in(&mut tx, &ods, name, now_ms).await?;
    if icb_id.is_some() {
        db::organisations::update_practice(&mut tx, &practice.id, name, icb_id, None, now_ms)
            .await?;
    }
    record_change(
        &mut tx,
        actor,
        "practice.added",
        &practice.id,
        json!({ "ods": ods }),
        now_ms,
    )
    .await?;
    tx.commit().await?;
    Ok(practice)
}

pub async fn practice_by_ods(db: &Db, ods: &str) -> ServiceResult<Option<Practice>> {
    Ok(db::practices::find_by_ods(db, ods).await?)
}

/// A user to add, as the operator gave it.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
    /// The GP's practice, by ODS code.
    pub practice_ods: Option<&'a str>,
    /// A consultant's trust, or a commissioner's ICB (none: the national view), by ODS code.
    pub org_ods: Option<&'a str>,
    pub specialties: &'a [String],
}

/// A [`NewAccount`] whose practice and specialties exist and fit its role.
#[derive(Debug, Clone)]
pub struct CheckedAccount {
    email: String,
    name: String,
    role: Role,
    practice_id: Option<String>,
    organisation_id: Option<String>,
    specialties: Vec<String>,
}

/// Checks an account before its password is asked for, so the operator is not asked twice.
pub async fn check_account(db: &Db, account: NewAccount<'_>) -> ServiceResult<CheckedAccount> {
    let email = check_email(account.email).map_err(|m| invalid("email", "invalid_email", m))?;
    let name = account.name.trim();
    if name.is_empty() {
        return Err(invalid("name", "missing_name", "--name must not be empty"));
    }
    let practice_id = match (account.role, account.practice_ods) {
        (Role::Gp, Some(ods)) => {
            let ods =
                parse_ods_code(ods).map_err(|m| invalid("practice", "invalid_ods_code", m))?;
            let practice = db::practices::find_by_ods(db, &ods).await?.ok_or_else(|| {
                invalid(
                    "practice",
                    "unknown_practice",
                    format!(
                        "no practice with ODS code {ods}: add it with 'aghub practice add' first"
                    ),
                )
            })?;
            Some(practice.id)
        }
        (Role::Gp, None) => {
            return Err(invalid(
                "practice",
                "missing_practice",
                "a gp needs --practice ODS_CODE",
            ))
        }
        (_, Some(_)) => {
            return Err(invalid(
                "practice",
                "invalid_practice",
                "--practice is only for gp users",
            ))
        }
        (_, None) => None,
    };
    let organisation_id = match (account.role, account.org_ods) {
        (_, None) => None,
        (Role::Consultant | Role::Commissioner, Some(ods)) => {
            let ods = parse_ods_code(ods).map_err(|m| invalid("org", "invalid_ods_code", m))?;
            let want = if account.role == Role::Consultant {
                "trust"
            } else {
                "icb"
            };
            match db::organisations::find_by_ods(db, &ods).await? {
                Some(o) if o.kind == want => Some(o.id),
                Some(o) => {
                    return Err(invalid(
                        "org",
                        "wrong_kind_of_org",
                        format!(
                            "{ods} is {} {}, and a {} belongs to {} {want}",
                            if o.kind == "icb" { "an" } else { "a" },
                            o.kind.to_uppercase().replace("TRUST", "trust"),
                            account.role.as_str(),
                            if want == "icb" { "an" } else { "a" }
                        ),
                    ))
                }
                None => {
                    return Err(invalid(
                        "org",
                        "unknown_org",
                        format!(
                        "no organisation with ODS code {ods}: add it with 'aghub org add' first"
                    ),
                    ))
                }
            }
        }
        (_, Some(_)) => {
            return Err(invalid(
                "org",
                "invalid_org",
                "--org is only for consultant (their trust) and commissioner (their ICB) users",
            ))
        }
    };
    match account.role {
        Role::Consultant if account.specialties.is_empty() => {
            return Err(invalid(
                "specialty",
                "missing_specialty",
                "a consultant needs at least one --specialty SLUG",
            ))
        }
        Role::Consultant => {
            for slug in account.specialties {
                check_specialty(db, slug).await?;
            }
        }
        _ if !account.specialties.is_empty() => {
            return Err(invalid(
                "specialty",
                "invalid_specialty",
                "--specialty is only for consultant users",
            ))
        }
        _ => {}
    }
    Ok(CheckedAccount {
        email,
        name: name.to_string(),
        role: account.role,
        practice_id,
        organisation_id,
        specialties: account.specialties.to_vec(),
    })
}

/// An unknown slug is refused with the list of known ones.
pub async fn check_specialty(db: &Db, slug: &str) -> ServiceResult<()> {
    match db::specialties::get(db, slug).await {
        Ok(_) => Ok(()),
        Err(db::DbError::NotFound) => {
            let known: Vec<String> = db::specialties::list(db)
                .await?
                .into_iter()
                .map(|s| s.slug)
                .collect();
            Err(invalid(
                "specialty",
                "unknown_specialty",
                format!("unknown specialty '{slug}'; known: {}", known.join(", ")),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// Adds a checked account with its password hash; returns the new user's id.
pub async fn add_user(
    db: &Db,
    actor: Actor<'_>,
    account: &CheckedAccount,
    password_hash: &str,
    now_ms: i64,
) -> ServiceResult<UserId> {
    let mut tx = db.begin().await?;
    let id = db::users::insert_in(
        &mut tx,
        db::users::NewUser {
            email: &account.email,
            name: &account.name,
            role: account.role,
            practice_id: account.practice_id.as_deref(),
            specialties: &account.specialties,
            password_hash: Some(password_hash),
        },
        now_ms,
    )
    .await?;
    if let Some(org) = &account.organisation_id {
        db::organisations::set_user_organisation(&mut tx, &id, Some(org)).await?;
    }
    record_change(
        &mut tx,
        actor,
        "user.added",
        &id,
        json!({ "role": account.role.as_str() }),
        now_ms,
    )
    .await?;
    tx.commit().await?;
    Ok(UserId::new(id))
}

/// The id of the account with this email (disabled accounts included).
pub async fn user_id_by_email(db: &Db, email: &str) -> ServiceResult<UserId> {
    match db::users::id_by_email(db, email).await {
        Ok(id) => Ok(UserId::new(id)),
        Err(db::DbError::NotFound) => Err(ServiceError::NotFound(format!(
            "no user with email {}",
            email.trim()
        ))),
        Err(e) => Err(e.into()),
    }
}

/// The person with what the access rules need; `None` once disabled.
pub async fn principal(db: &Db, user_id: &UserId) -> ServiceResult<Option<Principal>> {
    Ok(db::users::principal(db, user_id.as_str()).await?)
}

/// Replaces the password: the user's sessions end, their tokens are revoked and a sign-in pause
/// on the account lifts (audited naming the account by email, as the pause is kept).
pub async fn set_password(
    db: &Db,
    actor: Actor<'_>,
    user_id: &UserId,
    password_hash: &str,
    now_ms: i64,
) -> ServiceResult<()> {
    let mut tx = db.begin().await?;
    let email =
        db::users::set_password_in(&mut tx, user_id.as_str(), password_hash, now_ms).await?;
    record_change(
        &mut tx,
        actor,
        "user.password_set",
        &email,
        json!({}),
        now_ms,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Ends a user's access at once: sign-in, sessions and tokens.
pub async fn disable_user(
    db: &Db,
    actor: Actor<'_>,
    user_id: &UserId,
    now_ms: i64,
) -> ServiceResult<()> {
    let mut tx = db.begin().await?;
    db::users::disable_in(&mut tx, user_id.as_str(), now_ms).await?;
    let subject = user_id.as_str();
    record_change(&mut tx, actor, "user.disabled", subject, json!({}), now_ms).await?;
    tx.commit().await?;
    Ok(())
}

/// Makes an API token for a user; the token is returned once and only its hash is kept.
pub async fn create_token(
    db: &Db,
    actor: Actor<'_>,
    user_id: &UserId,
    now_ms: i64,
    expires_at_ms: i64,
) -> ServiceResult<String> {
    let token = db::tokens::generate();
    let mut tx = db.begin().await?;
    let user_id = user_id.as_str();
    let token_id = db::tokens::insert_in(&mut tx, user_id, &token, now_ms, expires_at_ms).await?;
    let detail = json!({ "token_id": token_id, "expires_at_ms": expires_at_ms });
    record_change(&mut tx, actor, "token.created", user_id, detail, now_ms).await?;
    tx.commit().await?;
    Ok(token)
}

/// Revokes live tokens; returns how many were live. Revoking nothing records nothing.
pub async fn revoke_tokens(
    db: &Db,
    actor: Actor<'_>,
    which: Revoke<'_>,
    now_ms: i64,
) -> ServiceResult<u64> {
    let mut tx = db.begin().await?;
    let owners = db::tokens::revoke_in(&mut tx, which, now_ms).await?;
    let Some(first_owner) = owners.first() else {
        return Ok(0);
    };
    let subject = match which {
        Revoke::AllOfUser(user_id) => user_id,
        Revoke::Token(_) => first_owner,
    };
    record_change(
        &mut tx,
        actor,
        "token.revoked",
        subject,
        json!({ "revoked": owners.len() }),
        now_ms,
    )
    .await?;
    tx.commit().await?;
    Ok(owners.len() as u64)
}
