//! Case pages for GPs and consultants: server-rendered, usable without JavaScript.
//! `lists` (my cases, the queue), `new_case` (the GP's form), `case_view` (a case and its
//! photos), `actions` (claim, release, reply, respond).

mod actions;
mod case_view;
mod lists;
mod new_case;

pub use actions::{claim, referral_made, release, reply, respond};
pub use case_view::{photo, show};
pub use lists::{list, queue};
pub use new_case::{create, new_form};

use serde::Deserialize;

use crate::domain::{CaseStatus, Outcome, Role};
use crate::service::cases::{self, Specialty};
use crate::service::photos;
use crate::service::AppState;
use crate::web::error::AppResult;

pub(super) async fn specialty_names(state: &AppState) -> AppResult<Vec<Specialty>> {
    Ok(cases::specialties(state).await?)
}

pub(super) fn specialty_name(all: &[Specialty], slug: &str) -> String {
    all.iter()
        .find(|s| s.slug == slug)
        .map_or_else(|| slug.to_string(), |s| s.name.clone())
}

#[derive(Deserialize)]
pub struct Empty {}

/// A photo uploaded ahead, as its form slot shows it.
pub(super) struct StagedView {
    id: String,
    width: u32,
    height: u32,
    warnings: Vec<&'static str>,
}

/// One photo input of a form: empty, pre-set to a view, or holding a photo uploaded ahead.
pub(super) struct PhotoSlot {
    n: usize,
    kind: &'static str,
    site: String,
    staged: Option<StagedView>,
}

/// The form's photo inputs: the staged photos it still refers to, in order, then empty ones
/// pre-set to `kinds` (and at least one empty input while there is room).
pub(super) fn photo_slots(
    staged: Vec<(photos::StagedChoice, photos::StagedPhoto)>,
    kinds: &[&'static str],
) -> Vec<PhotoSlot> {
    let mut slots: Vec<PhotoSlot> = staged
        .into_iter()
        .map(|(choice, p)| PhotoSlot {
            n: 0,
            kind: choice.kind.map_or("", |k| k.as_str()),
            site: choice.body_site.unwrap_or_default(),
            staged: Some(StagedView {
                id: p.id,
                width: p.width,
                height: p.height,
                warnings: p
                    .warnings
                    .iter()
                    .map(|w| crate::web::photo_check::warning_message(w))
                    .collect(),
            }),
        })
        .collect();
    let empty_from = slots.len();
    let wanted = kinds.len().max(empty_from + 1).min(photos::MAX_PHOTOS);
    for i in empty_from..wanted {
        slots.push(PhotoSlot {
            n: 0,
            kind: kinds.get(i).copied().unwrap_or(""),
            site: String::new(),
            staged: None,
        });
    }
    for (i, slot) in slots.iter_mut().enumerate() {
        slot.n = i + 1;
    }
    slots
}

/// "4 July 1961 (65 years), Female": the date of birth with the age today, and the sex when
/// recorded.
pub(super) fn patient_age_and_sex(row: &cases::CaseRow, now_ms: i64) -> String {
    let born = crate::web::uk_time::date_of_birth(&row.date_of_birth, now_ms);
    match row.sex {
        Some(sex) => format!("{born}, {}", sex.label()),
        None => born,
    }
}

/// The NHS.UK tag colour for a status tag's word (from [`status_tag`]).
pub(super) fn tag_colour(word: &str) -> &'static str {
    match word {
        "closed" => "green",
        "refer-urgent" => "red",
        "refer" | "awaiting_gp" => "orange",
        "converted" | "referred" => "aqua-green",
        "claimed" => "blue",
        _ => "grey",
    }
}

/// A case's status tag for `reader`: the word for its CSS class and the label. A referral
/// outcome is never a green "Closed": the patient still has to be referred (for the two-week
/// wait, today), or the referral was made.
pub(super) fn status_tag(
    status: CaseStatus,
    outcome: Option<Outcome>,
    reader: Role,
) -> (&'static str, &'static str) {
    let two_week_wait = outcome == Some(Outcome::ReferTwoWeekWait);
    match status {
        CaseStatus::GpToRefer if two_week_wait && reader == Role::Gp => {
            ("refer-urgent", "Refer today (two-week wait)")
        }
        CaseStatus::GpToRefer if two_week_wait => ("refer-urgent", "GP to refer (two-week wait)"),
        CaseStatus::GpToRefer => ("refer", status.label(reader)),
        CaseStatus::Converted => ("converted", status.label(reader)),
        CaseStatus::Closed if outcome.is_some_and(|o| o.referral_priority().is_some()) => {
            ("referred", "Referral made by the GP")
        }
        _ => (status.as_str(), status.label(reader)),
    }
}
