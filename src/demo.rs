//! `aghub serve --demo`: a small world to click through, created once and left alone after.

use std::net::SocketAddr;

use crate::db::{self, rotas::Pool, DbError};
use crate::domain::Role;
use crate::state::AppState;
use crate::web::auth::hash_password;

/// Every demo account shares this password; the demo prints it, so never use --demo with real data.
pub const DEMO_PASSWORD: &str = "aghub-demo";

pub struct Login {
    pub email: &'static str,
    pub name: &'static str,
    pub role: Role,
    pub detail: &'static str,
}

struct DemoUser {
    email: &'static str,
    name: &'static str,
    role: Role,
    practice: Option<&'static str>,
    specialties: &'static [&'static str],
    rota: Option<Pool>,
    detail: &'static str,
}

const PRACTICES: &[(&str, &str)] = &[
    ("Y00001", "Riverside Medical Centre"),
    ("Y00002", "Hillview Surgery"),
];

const USERS: &[DemoUser] = &[
    DemoUser {
        email: "asha.patel@riverside.example",
        name: "Dr Asha Patel",
        role: Role::Gp,
        practice: Some("Y00001"),
        specialties: &[],
        rota: None,
        detail: "GP, Riverside Medical Centre",
    },
    DemoUser {
        email: "ben.clarke@riverside.example",
        name: "Dr Ben Clarke",
        role: Role::Gp,
        practice: Some("Y00001"),
        specialties: &[],
        rota: None,
        detail: "GP, Riverside Medical Centre",
    },
    DemoUser {
        email: "tom.evans@hillview.example",
        name: "Dr Tom Evans",
        role: Role::Gp,
        practice: Some("Y00002"),
        specialties: &[],
        rota: None,
        detail: "GP, Hillview Surgery",
    },
    DemoUser {
        email: "fiona.reid@hospital.example",
        name: "Dr Fiona Reid",
        role: Role::Consultant,
        practice: None,
        specialties: &["dermatology"],
        rota: Some(Pool::Local),
        detail: "Dermatologist, local rota this week",
    },
    DemoUser {
        email: "kwame.mensah@hospital.example",
        name: "Dr Kwame Mensah",
        role: Role::Consultant,
        practice: None,
        specialties: &["dermatology"],
        rota: Some(Pool::Local),
        detail: "Dermatologist, local rota this week",
    },
    DemoUser {
        email: "ruth.okafor@national.example",
        name: "Dr Ruth Okafor",
        role: Role::Consultant,
        practice: None,
        specialties: &["dermatology"],
        rota: Some(Pool::National),
        detail: "Dermatologist, national pool this week",
    },
    DemoUser {
        email: "sam.hughes@hospital.example",
        name: "Dr Sam Hughes",
        role: Role::Consultant,
        practice: None,
        specialties: &["cardiology"],
        rota: Some(Pool::Local),
        detail: "Cardiologist, local rota this week",
    },
    DemoUser {
        email: "priya.shah@hospital.example",
        name: "Dr Priya Shah",
        role: Role::Consultant,
        practice: None,
        specialties: &["gastroenterology", "general-surgery"],
        rota: Some(Pool::Local),
        detail: "Gastroenterologist, local rota this week",
    },
    DemoUser {
        email: "lee.morgan@hospital.example",
        name: "Dr Lee Morgan",
        role: Role::Consultant,
        practice: None,
        specialties: &["rheumatology"],
        rota: Some(Pool::Local),
        detail: "Rheumatologist, local rota this week",
    },
    DemoUser {
        email: "jo.walker@icb.example",
        name: "Jo Walker",
        role: Role::Commissioner,
        practice: None,
        specialties: &[],
        rota: None,
        detail: "Commissioner (ICB analyst)",
    },
    DemoUser {
        email: "admin@aghub.example",
        name: "Service Admin",
        role: Role::Admin,
        practice: None,
        specialties: &[],
        rota: None,
        detail: "Admin",
    },
];

/// Monday 00:00 UTC of the week containing `now_ms`, and the Monday after.
pub fn this_week(now_ms: i64) -> (i64, i64) {
    const DAY: i64 = 86_400_000;
    let days = now_ms.div_euclid(DAY);
    // 1970-01-01 was a Thursday: day 0 is 3 days after a Monday.
    let monday = days - (days + 3).rem_euclid(7);
    (monday * DAY, (monday + 7) * DAY)
}

/// Creates what is missing; safe to run at every start.
pub async fn seed(state: &AppState) -> anyhow::Result<Vec<Login>> {
    let now = state.now_ms();
    for (ods, name) in PRACTICES {
        if db::practices::find_by_ods(&state.db, ods).await?.is_none() {
            db::practices::insert(&state.db, ods, name, now).await?;
        }
    }
    let hash = hash_password(DEMO_PASSWORD).map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
    let (week_start, week_end) = this_week(now);
    let mut logins = Vec::new();
    for u in USERS {
        let user_id = match db::users::id_by_email(&state.db, u.email).await {
            Ok(id) => id,
            Err(DbError::NotFound) => {
                let practice_id = match u.practice {
                    Some(ods) => db::practices::find_by_ods(&state.db, ods)
                        .await?
                        .map(|p| p.id),
                    None => None,
                };
                let specialties: Vec<String> =
                    u.specialties.iter().map(|s| s.to_string()).collect();
                db::users::insert(
                    &state.db,
                    db::users::NewUser {
                        email: u.email,
                        name: u.name,
                        role: u.role,
                        practice_id: practice_id.as_deref(),
                        specialties: &specialties,
                        password_hash: Some(&hash),
                    },
                    now,
                )
                .await?
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(pool) = u.rota {
            for specialty in u.specialties {
                let upcoming = db::rotas::upcoming(&state.db, specialty, now).await?;
                let on_this_week = upcoming.iter().any(|s| {
                    s.user_id == user_id && s.starts_at_ms <= now && s.ends_at_ms >= week_end
                });
                if !on_this_week {
                    db::rotas::insert(
                        &state.db, &user_id, specialty, pool, week_start, week_end, now,
                    )
                    .await?;
                }
            }
        }
        logins.push(Login {
            email: u.email,
            name: u.name,
            role: u.role,
            detail: u.detail,
        });
    }
    Ok(logins)
}

pub fn print_logins(logins: &[Login], addr: SocketAddr) {
    println!();
    println!("aghub demo is ready at http://{addr}/  (every password: {DEMO_PASSWORD})");
    println!("Demo data only: never use --demo with real patients.");
    println!();
    for l in logins {
        println!(
            "  {:<13} {:<34} {} – {}",
            l.role.label(),
            l.email,
            l.name,
            l.detail
        );
    }
    println!();
}

#[cfg(test)]
mod tests {
    use super::this_week;

    #[test]
    fn weeks_start_on_monday() {
        // 2026-11-25 12:00 UTC is a Wednesday; its week starts Monday 2026-11-23.
        let wed = 1_795_608_000_000;
        let (start, end) = this_week(wed);
        assert_eq!(start, 1_795_392_000_000);
        assert_eq!(end - start, 7 * 86_400_000);
    }
}
