//! `aghub serve --demo`: a small world to click through, created once and left alone after;
//! then, once, months of its history for the reports ([`seed_history`]).

mod history;

pub use history::{seed_history, HistorySize};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::domain::queue::Pool;
use crate::domain::Role;
use crate::service::auth::hash_password;
use crate::service::AppState;
use crate::service::{accounts, admin, Actor, ServiceError};

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
    ("Y00003", "Meadowbank Health Centre"),
    ("Y00004", "Castlegate Surgery"),
    ("Y00005", "Northfield Family Practice"),
    ("Y00006", "St Luke's Medical Practice"),
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
        email: "nadia.rahman@meadowbank.example",
        name: "Dr Nadia Rahman",
        role: Role::Gp,
        practice: Some("Y00003"),
        specialties: &[],
        rota: None,
        detail: "GP, Meadowbank Health Centre",
    },
    DemoUser {
        email: "owen.price@castlegate.example",
        name: "Dr Owen Price",
        role: Role::Gp,
        practice: Some("Y00004"),
        specialties: &[],
        rota: None,
        detail: "GP, Castlegate Surgery",
    },
    DemoUser {
        email: "grace.liu@northfield.example",
        name: "Dr Grace Liu",
        role: Role::Gp,
        practice: Some("Y00005"),
        specialties: &[],
        rota: None,
        detail: "GP, Northfield Family Practice",
    },
    DemoUser {
        email: "michael.obrien@stlukes.example",
        name: "Dr Michael O'Brien",
        role: Role::Gp,
        practice: Some("Y00006"),
        specialties: &[],
        rota: None,
        detail: "GP, St Luke's Medical Practice",
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
        email: "daniel.osei@national.example",
        name: "Dr Daniel Osei",
        role: Role::Consultant,
        practice: None,
        specialties: &[
            "cardiology",
            "gastroenterology",
            "general-surgery",
            "rheumatology",
        ],
        rota: Some(Pool::National),
        detail: "National pool (cardiology, gastro, surgery, rheumatology) this week",
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
    let photos = read_demo_photos().await?;
    let db = &state.db;
    let now = state.now_ms();
    for (ods, name) in PRACTICES {
        if accounts::practice_by_ods(db, ods).await?.is_none() {
            accounts::add_practice(db, Actor::Demo, ods, name, None, now).await?;
        }
    }
    let hash = hash_password(DEMO_PASSWORD).map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
    let (week_start, week_end) = this_week(now);
    let mut logins = Vec::new();
    for u in USERS {
        let user_id = match accounts::user_id_by_email(db, u.email).await {
            Ok(id) => id,
            Err(ServiceError::NotFound(_)) => {
                let specialties: Vec<String> =
                    u.specialties.iter().map(|s| s.to_string()).collect();
                let account = accounts::NewAccount {
                    email: u.email,
                    name: u.name,
                    role: u.role,
                    practice_ods: u.practice,
                    org_ods: None,
                    specialties: &specialties,
                };
                let account = accounts::check_account(db, account).await?;
                accounts::add_user(db, Actor::Demo, &account, &hash, now).await?
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(pool) = u.rota {
            for specialty in u.specialties {
                let upcoming = admin::upcoming_shifts(db, specialty, now).await?;
                let on_this_week = upcoming.iter().any(|s| {
                    s.user_id == user_id.as_str()
                        && s.starts_at_ms <= now
                        && s.ends_at_ms >= week_end
                });
                if !on_this_week {
                    let shift = admin::NewShift {
                        consultant_id: user_id.as_str(),
                        specialty,
                        pool,
                        starts_at_ms: week_start,
                        ends_at_ms: week_end,
                    };
                    admin::add_shift(db, Actor::Demo, shift, now).await?;
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
    seed_cases(state, &photos).await?;
    Ok(logins)
}

struct DemoCase {
    gp: &'static str,
    key: &'static str,
    specialty: &'static str,
    urgency: &'static str,
    history: &'static str,
    question: &'static str,
    /// (file in the demo photo folder, kind, body site)
    photos: &'static [(&'static str, &'static str, &'static str)],
    nhs_number: &'static str,
    date_of_birth: &'static str,
    sex: &'static str,
}

// Real phone-like photos with planted EXIF, GPS, serial numbers and orientations
// (sample-images/, made by scripts/make-sample-images.sh): the demo shows them stripped.
// Read at run time from `demo_photo_dir()`, so no binary carries them.
const FOREARM: &str = "forearm-naevus.jpg";
const CHEEK: &str = "cheek-lesion.jpg";
const BACK: &str = "back-lesion-portrait.jpg";
const SHIN: &str = "shin-plaque.jpg";

/// Where the demo's photos are: `AGHUB_DEMO_PHOTOS` if set, else `sample-images/` in the
/// working directory, else the one in the source tree this binary was built from.
fn demo_photo_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("AGHUB_DEMO_PHOTOS") {
        return dir.into();
    }
    let here = Path::new("sample-images");
    if here.is_dir() {
        return here.into();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-images")
}

/// Every demo photo, read before anything is seeded so a missing folder changes nothing.
async fn read_demo_photos() -> anyhow::Result<HashMap<&'static str, Vec<u8>>> {
    let mut photos = HashMap::new();
    for name in CASES.iter().flat_map(|c| c.photos.iter().map(|p| p.0)) {
        photos.insert(name, read_demo_photo(name).await?);
    }
    Ok(photos)
}

async fn read_demo_photo(name: &str) -> anyhow::Result<Vec<u8>> {
    let path = demo_photo_dir().join(name);
    tokio::fs::read(&path).await.with_context(|| {
        format!(
            "reading the demo photo {} (the demo needs the sample-images/ folder of the \
             source tree: run from the checkout or set AGHUB_DEMO_PHOTOS to that folder)",
            path.display()
        )
    })
}

const CASES: &[DemoCase] = &[
    DemoCase {
        gp: "asha.patel@riverside.example",
        key: "demo-case-1",
        specialty: "dermatology",
        urgency: "routine",
        history: "42-year-old with a pigmented lesion on the left forearm, present for years, \
                  recently darker according to her partner. No bleeding or itch. Fair skin, no family history of melanoma.",
        question: "Is this a benign naevus I can monitor, or does it need excision?",
        photos: &[(FOREARM, "site", "left forearm")],
        nhs_number: "9990000018",
        date_of_birth: "1983-05-14",
        sex: "female",
    },
    DemoCase {
        gp: "ben.clarke@riverside.example",
        key: "demo-case-2",
        specialty: "dermatology",
        urgency: "urgent",
        history: "67-year-old retired builder with an enlarging nodule on the upper back over 8 weeks, \
                  occasionally bleeds on clothing. Long history of outdoor work.",
        question: "Could this be a squamous cell carcinoma needing a two-week-wait referral?",
        photos: &[(BACK, "close_up", "upper back")],
        nhs_number: "9990000026",
        date_of_birth: "1958-09-02",
        sex: "male",
    },
    DemoCase {
        gp: "tom.evans@hillview.example",
        key: "demo-case-3",
        specialty: "dermatology",
        urgency: "routine",
        history: "35-year-old with scaly plaques on both shins for 6 months, partly responsive to emollients.",
        question: "Psoriasis or eczema? Which topical treatment would you start?",
        photos: &[(SHIN, "site", "right shin")],
        nhs_number: "9990000034",
        date_of_birth: "1990-01-21",
        sex: "female",
    },
    DemoCase {
        gp: "ben.clarke@riverside.example",
        key: "demo-case-5",
        specialty: "dermatology",
        urgency: "routine",
        history: "29-year-old with a red scaly patch on the left cheek for 3 months, worse in sunlight.",
        question: "Could this be discoid lupus? Should I check bloods before you see her?",
        photos: &[(CHEEK, "close_up", "left cheek")],
        nhs_number: "9990000050",
        date_of_birth: "1996-07-08",
        sex: "male",
    },
    DemoCase {
        gp: "asha.patel@riverside.example",
        key: "demo-case-4",
        specialty: "cardiology",
        urgency: "routine",
        history: "58-year-old with palpitations twice a week, normal ECG at rest, TSH normal.",
        question: "Would you arrange ambulatory monitoring, or can I start a beta-blocker first?",
        photos: &[],
        nhs_number: "9990000042",
        date_of_birth: "1967-11-30",
        sex: "female",
    },
];

/// Demo cases go through the same path as a GP's submission (photos cleaned and stored);
/// each has a fixed idempotency key, so re-seeding finds them instead of adding more.
async fn seed_cases(
    state: &AppState,
    photos: &HashMap<&'static str, Vec<u8>>,
) -> anyhow::Result<()> {
    use crate::service::{cases, photos::PhotoBatch};
    for c in CASES {
        let user_id = accounts::user_id_by_email(&state.db, c.gp).await?;
        let gp = accounts::principal(&state.db, &user_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("demo GP {} is disabled", c.gp))?;
        if cases::existing_submission(state, &gp, Some(c.key))
            .await?
            .is_some()
        {
            continue;
        }
        let case_id = cases::new_case_id();
        let mut batch = PhotoBatch::new(state, &case_id);
        for (file, kind, site) in c.photos {
            let photo = batch.add(photos[file].clone()).await?;
            photo.kind = kind.parse().ok();
            photo.body_site = Some(site.to_string());
        }
        let input = cases::CaseInput {
            specialty: c.specialty.into(),
            nhs_number: c.nhs_number.into(),
            date_of_birth: c.date_of_birth.into(),
            urgency: c.urgency.into(),
            history: c.history.into(),
            question: c.question.into(),
            conversion_authorised: "true".into(),
            sex: c.sex.into(),
            idempotency_key: Some(c.key.into()),
        };
        cases::create(state, &gp, input, batch, &case_id).await?;
    }
    Ok(())
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
