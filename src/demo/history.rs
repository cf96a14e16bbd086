//! The demo world's past: months of made-up cases, so the commissioners' dashboard shows trends
//! on the first run. Cases arrive mostly in weekday surgery hours, more of them each month while
//! turnaround improves; the local rota answers them in its hours and the national pool takes
//! what waited past the escalation window (mostly out of hours); some need more information from
//! the GP, some go to another specialty, and referrals are converted by the consultant (when the
//! GP authorised it) or left to the GP, who confirms them on time, late or not yet.
//!
//! Every event goes through the use case the live service runs (`service::cases`,
//! `service::admin`) with the app's clock set to the event's time, so the case facts, day tables,
//! audit trail and topic tags are what the service would have written. What happens when is drawn
//! here from a fixed seed. Events that would fall after now have not happened: those cases are
//! still open.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use rand::distributions::WeightedIndex;
use rand::prelude::Distribution;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{read_demo_photo, USERS};
use crate::clock::{utc_date, ManualClock, ISO_DATE};
use crate::db::topics::TopicRow;
use crate::domain::access::Principal;
use crate::domain::queue::Pool;
use crate::domain::reports::{day_start, week_start, DAY_MS, WEEK_MS};
use crate::domain::{working_days, CaseId, CaseStatus, NhsNumber, Outcome, ReferralPriority};
use crate::service::cases::{self, CaseInput, CaseRow, ReplyInput};
use crate::service::photos::{PhotoBatch, PhotoKind};
use crate::service::{accounts, admin, topics, Actor, AppState};

/// How much history to make.
#[derive(Debug, Clone, Copy)]
pub struct HistorySize {
    /// Weeks before now.
    pub weeks: i64,
    /// Cases to submit over them (those that would fall after now are left out).
    pub cases: usize,
}

impl HistorySize {
    /// What `aghub serve --demo` makes: six months, a few thousand cases.
    pub const SIX_MONTHS: HistorySize = HistorySize {
        weeks: 26,
        cases: 2_800,
    };
}

const SEED: u64 = 0xA6_2026;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

/// Each history case's idempotency key; the first one found means the history is there already.
fn key(i: usize) -> String {
    format!("demo-history-{i}")
}

struct SpecialtyMix {
    slug: &'static str,
    /// Share of the cases.
    share: f64,
    /// Closing outcomes: manage in primary care, refer routine, urgent, two-week wait.
    outcomes: [f64; 4],
    /// Where a consultant sends a case that belongs elsewhere.
    redirect_to: &'static str,
    /// What a consultant asks the GP for, and the GP's answer.
    ask: &'static str,
    answer: &'static str,
    /// The topics most questions are about, most common first (the rest of the list comes
    /// up now and then).
    common: [&'static str; 5],
}

const SPECIALTIES: &[SpecialtyMix] = &[
    SpecialtyMix {
        slug: "dermatology",
        share: 0.36,
        outcomes: [0.56, 0.2, 0.06, 0.18],
        redirect_to: "rheumatology",
        ask: "a measurement of the lesion and whether it has changed in the last three months",
        answer: "Measured today: 7 mm across, even border and colour; the patient thinks it has not changed.",
        common: ["benign-lesion", "suspected-skin-cancer", "eczema", "psoriasis", "acne"],
    },
    SpecialtyMix {
        slug: "cardiology",
        share: 0.2,
        outcomes: [0.58, 0.24, 0.15, 0.03],
        redirect_to: "gastroenterology",
        ask: "a 12-lead ECG and the latest U&E",
        answer: "ECG today: sinus rhythm at 72, no ischaemic changes. U&E normal.",
        common: ["palpitations", "chest-pain", "atrial-fibrillation", "heart-murmur", "hypertension"],
    },
    SpecialtyMix {
        slug: "gastroenterology",
        share: 0.18,
        outcomes: [0.6, 0.22, 0.08, 0.1],
        redirect_to: "general-surgery",
        ask: "a FIT result, FBC and ferritin",
        answer: "FIT 8 ug/g; haemoglobin 128 g/L, ferritin 35 ug/L.",
        common: ["abnormal-liver-tests", "iron-deficiency-anaemia", "ibs", "dyspepsia", "bowel-habit"],
    },
    SpecialtyMix {
        slug: "rheumatology",
        share: 0.14,
        outcomes: [0.55, 0.3, 0.12, 0.03],
        redirect_to: "dermatology",
        ask: "CRP, ESR, rheumatoid factor and anti-CCP",
        answer: "CRP 14, ESR 22, rheumatoid factor negative, anti-CCP negative.",
        common: ["inflammatory-arthritis", "polymyalgia-rheumatica", "gout", "autoantibodies", "osteoporosis"],
    },
    SpecialtyMix {
        slug: "general-surgery",
        share: 0.12,
        outcomes: [0.5, 0.35, 0.1, 0.05],
        redirect_to: "gastroenterology",
        ask: "the ultrasound report and LFTs",
        answer: "Ultrasound: two gallstones, no duct dilatation. LFTs normal.",
        common: ["gallstones", "hernia", "lumps-and-bumps", "breast-symptoms", "varicose-veins"],
    },
];

/// Each demo practice's share of the cases, and how far into the history (0 to 1) it joined
/// the service: Northfield came later, so its line starts part-way.
const PRACTICE_MIX: &[(&str, f64, f64)] = &[
    ("Y00001", 1.4, 0.0),
    ("Y00002", 0.8, 0.0),
    ("Y00003", 1.1, 0.0),
    ("Y00004", 0.7, 0.0),
    ("Y00005", 1.0, 0.4),
    ("Y00006", 0.6, 0.0),
];

/// Where the (one, small) photo of a dermatology case was taken.
const BODY_SITES: &[&str] = &[
    "left forearm",
    "upper back",
    "right shin",
    "left cheek",
    "scalp",
    "back of right hand",
    "chest",
];

const DETAILS: &[&str] = &[
    "No red flags on history.",
    "Observations normal in surgery today.",
    "First-line treatment for six weeks has not helped.",
    "Recent bloods are unremarkable.",
    "Affecting sleep and work.",
    "Has tried over-the-counter treatment without change.",
];

const QUESTIONS: &[&str] = &[
    "Can this be managed in primary care, and if so what would you change?",
    "Does this need to be seen in clinic, and how soon?",
    "What would you suggest as the next step?",
    "Is there anything I should check before a referral?",
];

const PLANS: &[&str] = &[
    "Continue the current treatment for another six weeks, then review.",
    "Step up treatment as in the local guideline and review in four weeks.",
    "This is benign: reassure, and no further tests are needed.",
    "Check the bloods listed below and treat if abnormal.",
];

/// What the GP does about a referral the consultant left to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Confirm {
    OnTime,
    Late,
    /// Not confirmed by now (overdue once its deadline has passed).
    NotYet,
}

/// The way a case goes, decided when it is submitted.
#[derive(Debug, Clone, Copy)]
struct Path {
    redirect: bool,
    ask: bool,
    gp_answers: bool,
    outcome: Outcome,
    convert: bool,
    confirm: Confirm,
    /// Taken by the national pool once it may (otherwise by chance, see [`Run::taker`]).
    national: bool,
}

impl Path {
    const PLAIN: Path = Path {
        redirect: false,
        ask: false,
        gp_answers: true,
        outcome: Outcome::ManageInPrimaryCare,
        convert: false,
        confirm: Confirm::OnTime,
        national: false,
    };

    /// The first cases take each way once, so even a short history shows every figure.
    fn forced(i: usize) -> Option<Path> {
        let p = Path::PLAIN;
        Some(match i {
            0 => Path {
                national: true,
                ..p
            },
            1 => Path {
                ask: true,
                outcome: Outcome::ReferRoutine,
                ..p
            },
            2 => Path {
                outcome: Outcome::ReferUrgent,
                convert: true,
                ..p
            },
            3 => Path {
                outcome: Outcome::ReferTwoWeekWait,
                confirm: Confirm::NotYet,
                ..p
            },
            4 => Path {
                outcome: Outcome::ReferUrgent,
                confirm: Confirm::Late,
                ..p
            },
            5 => Path {
                redirect: true,
                ..p
            },
            _ => return None,
        })
    }

    fn drawn(rng: &mut StdRng, mix: &SpecialtyMix, authorised: bool) -> Path {
        const OUTCOMES: [Outcome; 4] = [
            Outcome::ManageInPrimaryCare,
            Outcome::ReferRoutine,
            Outcome::ReferUrgent,
            Outcome::ReferTwoWeekWait,
        ];
        let outcome = OUTCOMES[WeightedIndex::new(mix.outcomes)
            .expect("positive weights")
            .sample(rng)];
        let confirm = match rng.gen::<f64>() {
            x if x < 0.83 => Confirm::OnTime,
            x if x < 0.95 => Confirm::Late,
            _ => Confirm::NotYet,
        };
        Path {
            redirect: rng.gen_bool(0.03),
            ask: rng.gen_bool(0.12),
            gp_answers: rng.gen_bool(0.93),
            outcome,
            // Only a referral can be converted, and only when the GP authorised it.
            convert: rng.gen_bool(0.45) && authorised && outcome.referral_priority().is_some(),
            confirm,
            national: false,
        }
    }
}

#[derive(Debug, Clone)]
struct Patient {
    nhs_number: String,
    date_of_birth: String,
    birth_year: i32,
    sex: &'static str,
}

/// One case as drawn: who sends it, when, about whom and what, and the way it goes.
#[derive(Debug, Clone)]
struct Plan {
    at: i64,
    practice: usize,
    gp: usize,
    specialty: usize,
    urgent: bool,
    patient: Patient,
    /// Index into the specialty's active topics.
    topic: usize,
    authorised: bool,
    path: Path,
    /// Below 0.18 the national pool takes the case out of hours; below 0.03, in hours too
    /// (once it has waited the escalation window).
    national_draw: f64,
    weeks_of_symptoms: u32,
}

/// The demo's people and lists, as the history needs them (indexes follow the mixes above).
struct Cast {
    /// GPs of each practice of [`PRACTICE_MIX`].
    gps: Vec<Vec<Principal>>,
    /// Per specialty of [`SPECIALTIES`]: local consultants, national-pool consultants.
    local: Vec<Vec<Principal>>,
    national: Vec<Vec<Principal>>,
    /// Per specialty: its active topics, and how often each comes up.
    topics: Vec<(Vec<TopicRow>, WeightedIndex<f64>)>,
    names: Vec<String>,
    escalation_ms: Vec<i64>,
}

fn specialty_index(slug: &str) -> Option<usize> {
    SPECIALTIES.iter().position(|s| s.slug == slug)
}

async fn principal(state: &AppState, email: &str) -> anyhow::Result<Principal> {
    let id = accounts::user_id_by_email(&state.db, email).await?;
    accounts::principal(&state.db, &id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("demo user {email} is disabled"))
}

impl Cast {
    async fn load(state: &AppState) -> anyhow::Result<Cast> {
        let n = SPECIALTIES.len();
        let mut cast = Cast {
            gps: vec![Vec::new(); PRACTICE_MIX.len()],
            local: vec![Vec::new(); n],
            national: vec![Vec::new(); n],
            topics: Vec::new(),
            names: Vec::new(),
            escalation_ms: Vec::new(),
        };
        for u in USERS {
            if let Some(p) = u
                .practice
                .and_then(|ods| PRACTICE_MIX.iter().position(|m| m.0 == ods))
            {
                cast.gps[p].push(principal(state, u.email).await?);
            }
            let Some(pool) = u.rota else { continue };
            let who = principal(state, u.email).await?;
            for s in u.specialties.iter().filter_map(|s| specialty_index(s)) {
                match pool {
                    Pool::Local => cast.local[s].push(who.clone()),
                    Pool::National => cast.national[s].push(who.clone()),
                }
            }
        }
        for mix in SPECIALTIES {
            let specialty = topics::specialty(state, mix.slug).await?;
            let list: Vec<TopicRow> = topics::list(state, mix.slug)
                .await?
                .into_iter()
                .filter(|t| t.retired_at_ms.is_none())
                .collect();
            anyhow::ensure!(!list.is_empty(), "{} has no active topics", mix.slug);
            let weights: Vec<f64> = list
                .iter()
                .map(|t| match mix.common.iter().position(|c| *c == t.slug) {
                    Some(rank) => 6.0 - rank as f64,
                    None => 0.6,
                })
                .collect();
            cast.topics
                .push((list, WeightedIndex::new(weights).expect("positive weights")));
            cast.names.push(specialty.name);
            cast.escalation_ms.push(specialty.escalation_ms);
        }
        for (i, mix) in SPECIALTIES.iter().enumerate() {
            anyhow::ensure!(
                !cast.local[i].is_empty(),
                "no local consultant for {}",
                mix.slug
            );
            specialty_index(mix.redirect_to).context("redirect target not in the mix")?;
        }
        for (i, gps) in cast.gps.iter().enumerate() {
            anyhow::ensure!(!gps.is_empty(), "no GP at {}", PRACTICE_MIX[i].0);
        }
        Ok(cast)
    }

    fn topic(&self, specialty: usize, rng: &mut StdRng) -> usize {
        self.topics[specialty].1.sample(rng)
    }
}

/// Seeds `size` of history before now into a demo world made by [`super::seed`] (its people,
/// and this week's rota), once: returns how many cases it submitted, or `None` when a history
/// is there already. Prints its progress to stderr. Stopped half-way, it leaves half a history,
/// which the next start keeps: remove the demo's database to seed it again.
pub async fn seed_history(state: &AppState, size: HistorySize) -> anyhow::Result<Option<usize>> {
    let now = state.now_ms();
    let cast = Cast::load(state).await?;
    for gp in cast.gps.iter().flatten() {
        if cases::existing_submission(state, gp, Some(&key(0)))
            .await?
            .is_some()
        {
            return Ok(None);
        }
    }
    let started = Instant::now();
    let start = now - size.weeks * WEEK_MS;
    let plans = plan(&cast, size, start, now, &mut StdRng::seed_from_u64(SEED));
    eprintln!(
        "aghub demo: seeding {} weeks of history ({} cases) …",
        size.weeks,
        plans.len()
    );
    let photo = small_photo(state).await?;
    let shifts = add_past_rota(state, start, week_start(now)).await?;
    eprintln!(
        "aghub demo: history rota {shifts} shifts ({:.0} s)",
        started.elapsed().as_secs_f64()
    );
    let clock = ManualClock::at(start);
    let run = Run {
        state: state.with_clock(Arc::new(clock.clone())),
        clock,
        start,
        now,
        cast: &cast,
        photo: &photo,
    };
    let step = (plans.len() / 10).max(1);
    for (i, p) in plans.iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(SEED ^ (i as u64 + 1));
        run.case(i, p, &mut rng)
            .await
            .with_context(|| format!("demo history case {i}"))?;
        if (i + 1) % step == 0 || i + 1 == plans.len() {
            eprintln!(
                "aghub demo: history {}/{} cases ({:.0} s)",
                i + 1,
                plans.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(Some(plans.len()))
}

/// One small clean photo (the pipeline's thumbnail of a demo photo): each dermatology case
/// uploads it, so the history is quick to make and light to keep.
async fn small_photo(state: &AppState) -> anyhow::Result<Vec<u8>> {
    let original = read_demo_photo(super::FOREARM).await?;
    let processed = state
        .process_photo(original)
        .await?
        .context("processing the demo photo")?;
    Ok(processed.thumb.bytes)
}

fn working_day(ms: i64) -> bool {
    let date = jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned_datetime(jiff::tz::TimeZone::UTC).date())
        .unwrap_or_default();
    working_days::is_working_day(date)
}

/// Local shifts run 08:00–18:00 on working days; a consultant takes a case by 17:15 so that
/// they answer it before the shift ends.
fn local_hours(ms: i64) -> bool {
    let hour = (ms - day_start(ms)) as f64 / HOUR as f64;
    working_day(ms) && (8.0..17.25).contains(&hour)
}

/// The start of the first local shift after `ms` (08:00 of a working day).
fn next_local_start(ms: i64) -> i64 {
    let mut day = day_start(ms);
    if ms >= day + 8 * HOUR || !working_day(day) {
        day += DAY_MS;
        while !working_day(day) {
            day += DAY_MS;
        }
    }
    day + 8 * HOUR
}

/// Puts the demo consultants on rota shifts for the weeks before this one (this week's are
/// [`super::seed`]'s): local ones 08:00–18:00 each working day, the national pool all week.
/// Each week's shifts are added the week before, as an admin would.
async fn add_past_rota(state: &AppState, start: i64, this_week: i64) -> anyhow::Result<usize> {
    let mut rota = Vec::new();
    for u in USERS {
        if let Some(pool) = u.rota {
            rota.push((
                accounts::user_id_by_email(&state.db, u.email).await?,
                u,
                pool,
            ));
        }
    }
    let mut added = 0;
    let mut week = week_start(start);
    while week < this_week {
        for (id, u, pool) in &rota {
            let times: Vec<(i64, i64)> = match pool {
                Pool::National => vec![(week, week + WEEK_MS)],
                Pool::Local => (0..5)
                    .map(|d| week + d * DAY_MS)
                    .filter(|day| working_day(*day))
                    .map(|day| (day + 8 * HOUR, day + 18 * HOUR))
                    .collect(),
            };
            for specialty in u.specialties {
                for &(starts_at_ms, ends_at_ms) in &times {
                    let shift = admin::NewShift {
                        consultant_id: id.as_str(),
                        specialty,
                        pool: *pool,
                        starts_at_ms,
                        ends_at_ms,
                    };
                    admin::add_shift(&state.db, Actor::Demo, shift, week - WEEK_MS).await?;
                    added += 1;
                }
            }
        }
        week += WEEK_MS;
    }
    Ok(added)
}

/// An exponential wait with this mean: mostly short, now and then long.
fn exp_ms(rng: &mut StdRng, mean_ms: f64) -> i64 {
    (-mean_ms * (1.0 - rng.gen::<f64>()).ln()) as i64
}

/// A test NHS number (999 range, valid check digit) not given to anyone yet.
fn new_nhs_number(rng: &mut StdRng, used: &mut std::collections::HashSet<String>) -> String {
    loop {
        let nine = format!("999{:06}", rng.gen_range(0..1_000_000));
        let valid = (0..10)
            .map(|d| format!("{nine}{d}"))
            .find(|n| NhsNumber::parse(n).is_ok());
        if let Some(n) = valid {
            if used.insert(n.clone()) {
                return n;
            }
        }
    }
}

/// When the cases are submitted: working days far more than weekends and bank holidays, in
/// surgery hours mostly, some in the evening; more each week (from 0.7 to 1.3 times the mean).
fn submission_times(size: HistorySize, start: i64, now: i64, rng: &mut StdRng) -> Vec<i64> {
    let first = day_start(start);
    let days: Vec<i64> = (0..)
        .map(|d| first + d * DAY_MS)
        .take_while(|day| *day < now)
        .collect();
    let span = (now - start).max(1) as f64;
    let weights: Vec<f64> = days
        .iter()
        .map(|&day| {
            let base = if working_day(day) { 1.0 } else { 0.06 };
            base * (0.7 + 0.6 * ((day - first) as f64 / span).clamp(0.0, 1.0))
        })
        .collect();
    let Ok(pick) = WeightedIndex::new(&weights) else {
        return Vec::new();
    };
    let mut times: Vec<i64> = (0..size.cases)
        .map(|_| {
            let day = days[pick.sample(rng)];
            let hour = if !working_day(day) {
                rng.gen_range(9.0..16.0)
            } else {
                match rng.gen::<f64>() {
                    x if x < 0.8 => rng.gen_range(8.0..18.5),
                    x if x < 0.95 => rng.gen_range(18.5..21.5),
                    _ => rng.gen_range(7.0..8.0),
                }
            };
            day + (hour * HOUR as f64) as i64
        })
        .filter(|t| (start..now).contains(t))
        .collect();
    times.sort_unstable();
    times
}

fn plan(cast: &Cast, size: HistorySize, start: i64, now: i64, rng: &mut StdRng) -> Vec<Plan> {
    let this_year = utc_date(now).year();
    let specialty_pick =
        WeightedIndex::new(SPECIALTIES.iter().map(|s| s.share)).expect("positive shares");
    let mut used = std::collections::HashSet::new();
    let mut plans: Vec<Plan> = Vec::new();
    for (i, at) in submission_times(size, start, now, rng)
        .into_iter()
        .enumerate()
    {
        let progress = (at - start) as f64 / (now - start).max(1) as f64;
        let practices: Vec<f64> = PRACTICE_MIX
            .iter()
            .map(|(_, share, joined)| if progress >= *joined { *share } else { 0.0 })
            .collect();
        let practice = WeightedIndex::new(&practices)
            .expect("a practice from the start")
            .sample(rng);
        let gp = rng.gen_range(0..cast.gps[practice].len());
        let specialty = specialty_pick.sample(rng);
        // Some patients come back with the same problem: the same practice and specialty,
        // one to ten weeks after their last case.
        let returning = if rng.gen_bool(0.06) {
            plans
                .iter()
                .rev()
                .filter(|p| p.practice == practice && p.specialty == specialty)
                .find(|p| (7 * DAY_MS..70 * DAY_MS).contains(&(at - p.at)))
                .map(|p| p.patient.clone())
        } else {
            None
        };
        let patient = returning.unwrap_or_else(|| {
            let birth_year = rng.gen_range(this_year - 90..this_year - 18);
            Patient {
                nhs_number: new_nhs_number(rng, &mut used),
                date_of_birth: format!(
                    "{birth_year}-{:02}-{:02}",
                    rng.gen_range(1..=12),
                    rng.gen_range(1..=28)
                ),
                birth_year,
                sex: if rng.gen_bool(0.53) { "female" } else { "male" },
            }
        });
        let forced = Path::forced(i);
        let authorised = forced.is_some_and(|p| p.convert) || rng.gen_bool(0.75);
        let drawn = Path::drawn(rng, &SPECIALTIES[specialty], authorised);
        plans.push(Plan {
            at,
            practice,
            gp,
            specialty,
            urgent: rng.gen_bool(0.15),
            patient,
            topic: cast.topic(specialty, rng),
            authorised,
            path: forced.unwrap_or(drawn),
            national_draw: rng.gen(),
            weeks_of_symptoms: rng.gen_range(2..26),
        });
    }
    plans
}

/// The history being made: the app's state on a clock the run moves to each event's time.
struct Run<'a> {
    state: AppState,
    clock: ManualClock,
    start: i64,
    now: i64,
    cast: &'a Cast,
    photo: &'a [u8],
}

impl Run<'_> {
    /// Moves the clock to `t`; false when `t` is not past yet (the event has not happened).
    fn at(&self, t: i64) -> bool {
        if t >= self.now {
            return false;
        }
        self.clock.set(t);
        true
    }

    /// How long a case waits for a consultant, rota hours aside: less for urgent cases, and
    /// less as the service settles in (from 2 to 0.45 times the mean over the history).
    fn wait(&self, plan: &Plan, from: i64, rng: &mut StdRng) -> i64 {
        let progress = (from - self.start) as f64 / (self.now - self.start).max(1) as f64;
        let mean_hours = if plan.urgent { 3.0 } else { 16.0 };
        let mean = mean_hours * HOUR as f64 * (2.0 - 1.55 * progress.clamp(0.0, 1.0));
        exp_ms(rng, mean).clamp(10 * MIN, 6 * DAY_MS)
    }

    /// Who takes the case from the queue, and when: a local consultant in the rota's hours, or
    /// the national pool once the case has waited the escalation window (mostly out of hours,
    /// when nobody local is on).
    fn taker(
        &self,
        plan: &Plan,
        specialty: usize,
        queued: i64,
        ready: i64,
        rng: &mut StdRng,
    ) -> (i64, Principal) {
        let escalated = queued + self.cast.escalation_ms[specialty];
        let nationals = &self.cast.national[specialty];
        let national = !nationals.is_empty()
            && (plan.path.national
                || if local_hours(ready) {
                    ready >= escalated && plan.national_draw < 0.03
                } else {
                    plan.national_draw < 0.18
                });
        if national {
            let at = ready.max(escalated) + rng.gen_range(0..45 * MIN);
            return (at, nationals[rng.gen_range(0..nationals.len())].clone());
        }
        let locals = &self.cast.local[specialty];
        let at = if local_hours(ready) {
            ready
        } else {
            next_local_start(ready) + rng.gen_range(5 * MIN..150 * MIN)
        };
        (at, locals[rng.gen_range(0..locals.len())].clone())
    }

    async fn case(&self, i: usize, plan: &Plan, rng: &mut StdRng) -> anyhow::Result<()> {
        let state = &self.state;
        let gp = &self.cast.gps[plan.practice][plan.gp];
        anyhow::ensure!(self.at(plan.at), "planned after now");
        let id = self.submit(i, plan, gp, rng).await?;
        let (mut specialty, mut queued) = (plan.specialty, plan.at);
        let mut ready = queued + self.wait(plan, queued, rng);
        // The consultant who asked for information holds the case the GP answered, until then.
        let mut held: Option<(Principal, i64)> = None;
        let (mut redirected, mut asked) = (false, false);
        loop {
            let (taken_at, consultant, claims) = match held.take() {
                Some((asker, until)) if ready <= until => (ready, asker, false),
                _ => {
                    let (at, who) = self.taker(plan, specialty, queued, ready, rng);
                    (at, who, true)
                }
            };
            if !self.at(taken_at) {
                return Ok(());
            }
            if claims {
                cases::claim(state, &consultant, &id).await?;
            }
            cases::view(state, &consultant, &id).await?;
            let replied_at = taken_at + rng.gen_range(4 * MIN..35 * MIN);
            if !self.at(replied_at) {
                return Ok(());
            }
            if plan.path.redirect && !redirected {
                redirected = true;
                let to = specialty_index(SPECIALTIES[specialty].redirect_to).expect("checked");
                let input = ReplyInput {
                    advice: format!(
                        "This one is for {}: I have passed the case to their queue.",
                        self.cast.names[to]
                    ),
                    outcome: Outcome::RedirectSpecialty.as_str().into(),
                    redirect_to: SPECIALTIES[to].slug.into(),
                    ..Default::default()
                };
                cases::reply(state, &consultant, &id, &input).await?;
                (specialty, queued) = (to, replied_at);
                ready = queued + self.wait(plan, queued, rng);
                continue;
            }
            if plan.path.ask && !asked {
                asked = true;
                let input = ReplyInput {
                    advice: format!(
                        "Before I advise, could you send {}?",
                        SPECIALTIES[specialty].ask
                    ),
                    outcome: Outcome::RequestInformation.as_str().into(),
                    ..Default::default()
                };
                cases::reply(state, &consultant, &id, &input).await?;
                if !plan.path.gp_answers {
                    return Ok(());
                }
                let answered_at = gp_time(replied_at + exp_ms(rng, 20.0 * HOUR as f64), rng);
                if !self.at(answered_at) {
                    return Ok(());
                }
                cases::view(state, gp, &id).await?;
                let message = SPECIALTIES[specialty].answer;
                let batch = PhotoBatch::new(state, &id);
                let row = cases::respond(state, gp, &id, message, batch).await?;
                queued = answered_at;
                held = row
                    .claim_expires_at_ms
                    .filter(|_| row.claimed_by.as_deref() == Some(consultant.user_id.as_str()))
                    .map(|until| (consultant.clone(), until));
                ready = if held.is_some() {
                    answered_at + rng.gen_range(20 * MIN..3 * HOUR)
                } else {
                    answered_at + self.wait(plan, answered_at, rng)
                };
                continue;
            }
            let topic = if specialty == plan.specialty {
                plan.topic
            } else {
                self.cast.topic(specialty, rng)
            };
            let (list, _) = &self.cast.topics[specialty];
            let mut topics = vec![list[topic].slug.clone()];
            if rng.gen_bool(0.2) {
                topics.push(list[self.cast.topic(specialty, rng)].slug.clone());
            }
            let input = ReplyInput {
                advice: advice(&list[topic].label, plan, rng),
                outcome: plan.path.outcome.as_str().into(),
                topics,
                convert: plan.path.convert && plan.authorised,
                ..Default::default()
            };
            let row = cases::reply(state, &consultant, &id, &input).await?;
            return self
                .after_advice(plan, gp, &id, &row, replied_at, rng)
                .await;
        }
    }

    async fn submit(
        &self,
        i: usize,
        plan: &Plan,
        gp: &Principal,
        rng: &mut StdRng,
    ) -> anyhow::Result<CaseId> {
        let mix = &SPECIALTIES[plan.specialty];
        let case_id = cases::new_case_id();
        let mut batch = PhotoBatch::new(&self.state, &case_id);
        if mix.slug == "dermatology" {
            let photo = batch.add(self.photo.to_vec()).await?;
            photo.kind = Some(if rng.gen_bool(0.5) {
                PhotoKind::Site
            } else {
                PhotoKind::CloseUp
            });
            photo.body_site = Some(BODY_SITES[rng.gen_range(0..BODY_SITES.len())].into());
        }
        let (topics, _) = &self.cast.topics[plan.specialty];
        let p = &plan.patient;
        let age = utc_date(plan.at).year() - p.birth_year;
        let person = if p.sex == "female" { "woman" } else { "man" };
        let history = format!(
            "{age}-year-old {person} with a {}-week history. Area of concern: {}. {}",
            plan.weeks_of_symptoms,
            topics[plan.topic].label,
            DETAILS[rng.gen_range(0..DETAILS.len())]
        );
        let input = CaseInput {
            specialty: mix.slug.into(),
            nhs_number: p.nhs_number.clone(),
            date_of_birth: p.date_of_birth.clone(),
            urgency: if plan.urgent { "urgent" } else { "routine" }.into(),
            history,
            question: QUESTIONS[rng.gen_range(0..QUESTIONS.len())].into(),
            conversion_authorised: plan.authorised.to_string(),
            sex: p.sex.into(),
            idempotency_key: Some(key(i)),
        };
        Ok(cases::create(&self.state, gp, input, batch, &case_id)
            .await?
            .case_id)
    }

    /// The GP reads the advice and, for a referral left to them, confirms it (on time, late
    /// or not yet).
    async fn after_advice(
        &self,
        plan: &Plan,
        gp: &Principal,
        id: &CaseId,
        row: &CaseRow,
        replied_at: i64,
        rng: &mut StdRng,
    ) -> anyhow::Result<()> {
        let read_at = replied_at + rng.gen_range(5 * MIN..8 * HOUR);
        if !self.at(read_at) {
            return Ok(());
        }
        cases::view(&self.state, gp, id).await?;
        let due = match (row.status, row.referral_due_at_ms) {
            (CaseStatus::GpToRefer, Some(due)) => due,
            _ => return Ok(()),
        };
        let confirmed_at = match plan.path.confirm {
            Confirm::OnTime => {
                let left = (due - read_at).max(2 * MIN) as f64;
                read_at + MIN + (left * rng.gen_range(0.0..0.9)) as i64
            }
            Confirm::Late => due + 30 * MIN + exp_ms(rng, 2.0 * DAY_MS as f64).min(8 * DAY_MS),
            Confirm::NotYet => return Ok(()),
        };
        if !self.at(confirmed_at) {
            return Ok(());
        }
        let referred_on = utc_date(confirmed_at).format(ISO_DATE)?;
        let ubrn = if rng.gen_bool(0.7) {
            format!("{:012}", rng.gen_range(0..1_000_000_000_000_i64))
        } else {
            String::new()
        };
        cases::referral_made(&self.state, gp, id, &referred_on, &ubrn).await?;
        Ok(())
    }
}

/// A GP answers in surgery hours: a time outside them moves to the next morning.
fn gp_time(ms: i64, rng: &mut StdRng) -> i64 {
    let hour = (ms - day_start(ms)) as f64 / HOUR as f64;
    if working_day(ms) && (8.0..18.5).contains(&hour) {
        ms
    } else {
        next_local_start(ms) + rng.gen_range(0..4 * HOUR)
    }
}

fn advice(topic: &str, plan: &Plan, rng: &mut StdRng) -> String {
    let Some(priority) = plan.path.outcome.referral_priority() else {
        return format!(
            "{topic}: this can be managed in primary care. {} Please send the case again if \
             things are not better in {} weeks.",
            PLANS[rng.gen_range(0..PLANS.len())],
            rng.gen_range(4..12)
        );
    };
    let how = match priority {
        ReferralPriority::Routine => "routinely",
        ReferralPriority::Urgent => "urgently",
        ReferralPriority::TwoWeekWait => "on the two-week-wait pathway",
    };
    if plan.path.convert && plan.authorised {
        format!(
            "{topic}: this needs to be seen in clinic {how}. I have converted this request into \
             the referral; the hospital will contact the patient."
        )
    } else {
        format!(
            "{topic}: this needs to be seen in clinic {how}. Please refer through e-RS; the \
             clinic will see this advice with the referral."
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_shifts_start_at_eight_on_the_next_working_day() {
        // 2026-11-27 is a Friday; 2026-11-30 the Monday after.
        let friday = 1_795_737_600_000;
        let monday = friday + 3 * DAY_MS;
        assert!(local_hours(friday + 9 * HOUR));
        assert!(!local_hours(friday + 17 * HOUR + 30 * MIN));
        assert_eq!(next_local_start(friday + 7 * HOUR), friday + 8 * HOUR);
        assert_eq!(next_local_start(friday + 19 * HOUR), monday + 8 * HOUR);
        assert_eq!(next_local_start(friday + DAY_MS + HOUR), monday + 8 * HOUR);
        // Christmas Day 2026 (a Friday) is a bank holiday.
        let christmas = friday + 4 * WEEK_MS;
        assert!(!local_hours(christmas + 9 * HOUR));
    }

    #[test]
    fn submissions_are_sorted_weekday_heavy_and_before_now() {
        let now = 1_795_424_400_000; // Monday 2026-11-23 09:00 UTC
        let size = HistorySize {
            weeks: 8,
            cases: 800,
        };
        let start = now - size.weeks * WEEK_MS;
        let times = submission_times(size, start, now, &mut StdRng::seed_from_u64(SEED));
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(times.iter().all(|t| (start..now).contains(t)));
        let weekend = times.iter().filter(|t| !working_day(**t)).count();
        assert!(weekend * 20 < times.len(), "{weekend} of {}", times.len());
        let half = start + (now - start) / 2;
        let early = times.iter().filter(|t| **t < half).count();
        assert!(
            early * 2 < times.len(),
            "volume rises: {early} of {}",
            times.len()
        );
    }
}
