//! Who hears about what (issue 13): the events people are told about, who receives each, how
//! each reaches them by default, and what a GP system's webhook calls each.

use super::{word_enum, Outcome, Role};

word_enum!(
    /// Something that happened to a case that a person must hear about.
    Event, "event", {
        AdviceArrived => "advice_arrived",
        InformationRequested => "information_requested",
        Converted => "converted",
        GpToRefer => "gp_to_refer",
        ReferralOverdue => "referral_overdue",
        GpResponded => "gp_responded",
        UrgentQueued => "urgent_queued",
        Escalated => "escalated",
        PastTarget => "past_target",
        PatientPhotos => "patient_photos",
        PhotoLink => "photo_link",
        CallMissed => "call_missed",
        CallOutcomeMissing => "call_outcome_missing",
    }
);

/// What a notification or a delivery is about: a case, or a live call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum About {
    Case(String),
    Call(String),
}

impl About {
    pub fn case_id(&self) -> Option<&str> {
        match self {
            About::Case(id) => Some(id),
            About::Call(_) => None,
        }
    }

    pub fn call_id(&self) -> Option<&str> {
        match self {
            About::Call(id) => Some(id),
            About::Case(_) => None,
        }
    }

    /// Its page in the browser.
    pub fn path(&self) -> String {
        match self {
            About::Case(id) => format!("/cases/{id}"),
            About::Call(id) => format!("/calls/{id}"),
        }
    }
}

/// Who receives an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The GP who sent the case.
    Requester,
    /// The consultant who asked for information.
    Asker,
    /// The consultants on duty for the case's specialty in the local pool.
    LocalOnDuty,
    /// The consultants on duty for the case's specialty in the national pool.
    NationalOnDuty,
    /// The consultant holding the case, or when nobody does, everyone on duty who may take it.
    HolderOrOnDuty,
    /// The patient, at the address the GP gave for a photo request's link.
    Patient,
    /// A party to a live call (the GP who called or the consultant who answered).
    CallParty,
}

word_enum!(
    /// The ways out of aghub that the outbox delivers through.
    Channel, "channel", {
        Email => "email",
        Webhook => "webhook",
        Text => "text",
    }
);

word_enum!(
    /// How a person wants to hear about one kind of event by email (in the app they always do).
    EmailChoice, "email choice", {
        Off => "off",
        Now => "now",
        Digest => "digest",
    }
);

impl Event {
    /// The event a reply makes, from the outcome and whether the hospital converted it; `None`
    /// for a redirect (the case joins another queue: `UrgentQueued` when it is urgent).
    pub fn of_reply(outcome: Outcome, converted: bool) -> Option<Event> {
        match outcome {
            Outcome::ManageInPrimaryCare => Some(Event::AdviceArrived),
            Outcome::RequestInformation => Some(Event::InformationRequested),
            Outcome::RedirectSpecialty => None,
            _ if converted => Some(Event::Converted),
            _ => Some(Event::GpToRefer),
        }
    }

    pub fn audience(self) -> Audience {
        match self {
            Event::AdviceArrived
            | Event::InformationRequested
            | Event::Converted
            | Event::GpToRefer
            | Event::ReferralOverdue
            | Event::PatientPhotos
            | Event::CallMissed => Audience::Requester,
            Event::GpResponded => Audience::Asker,
            Event::UrgentQueued => Audience::LocalOnDuty,
            Event::Escalated => Audience::NationalOnDuty,
            Event::PastTarget => Audience::HolderOrOnDuty,
            Event::PhotoLink => Audience::Patient,
            Event::CallOutcomeMissing => Audience::CallParty,
        }
    }

    /// Whether people of this role hear of the event (the settings page offers each person
    /// their role's events); the patient has no account.
    pub fn concerns(self, role: Role) -> bool {
        match self.audience() {
            Audience::Requester => role == Role::Gp,
            Audience::Patient => false,
            Audience::CallParty => matches!(role, Role::Gp | Role::Consultant),
            _ => role == Role::Consultant,
        }
    }

    /// What the webhook of the case's practice calls this event (contract 1.1); `None` when
    /// GP systems are not told.
    pub fn webhook_type(self) -> Option<&'static str> {
        match self {
            Event::AdviceArrived => Some("case.answered"),
            Event::InformationRequested => Some("case.information_requested"),
            Event::Converted => Some("case.converted"),
            Event::GpToRefer => Some("case.gp_to_refer"),
            Event::ReferralOverdue => Some("case.referral_overdue"),
            _ => None,
        }
    }

    /// Email by default for everything a person must act on; consultants' queue alerts too,
    /// as urgent cases wait on them.
    pub fn default_email(self) -> EmailChoice {
        EmailChoice::Now
    }

    /// Whether a person may choose a daily digest for this event: consultants' queue alerts.
    /// A GP's news about their own patient is never held back for a day.
    pub fn digest_allowed(self) -> bool {
        !self.concerns(Role::Gp) && self.concerns(Role::Consultant)
    }

    /// The settings page's words for the event.
    pub fn setting_label(self) -> &'static str {
        match self {
            Event::AdviceArrived => "Advice has arrived",
            Event::InformationRequested => "A consultant asks you for more information",
            Event::Converted => "The hospital has converted your request into a referral",
            Event::GpToRefer => "A consultant advises you to refer",
            Event::ReferralOverdue => "A referral you need to make is overdue",
            Event::GpResponded => "A GP has answered your request for information",
            Event::UrgentQueued => "An urgent case joins your queue",
            Event::Escalated => "A case is escalated to the national pool",
            Event::PastTarget => "A case is past its response target with no reply",
            Event::PatientPhotos => "Your patient has sent the photos you asked for",
            Event::PhotoLink => "Your GP surgery asks you for photos",
            Event::CallMissed => "Nobody answered your call, so it became a written case",
            Event::CallOutcomeMissing => "A live call still needs your outcome",
        }
    }

    /// A headline for a notification or email: says what happened, never who the patient is.
    pub fn headline(self, specialty: &str) -> String {
        match self {
            Event::AdviceArrived => format!("Advice from {specialty} is ready"),
            Event::InformationRequested => format!("{specialty} needs more information"),
            Event::Converted => format!("{specialty} has converted your request into a referral"),
            Event::GpToRefer => format!("{specialty} advises a referral: you need to refer"),
            Event::ReferralOverdue => format!("A {specialty} referral you need to make is overdue"),
            Event::GpResponded => format!("A GP has answered your {specialty} question"),
            Event::UrgentQueued => format!("An urgent {specialty} case is waiting"),
            Event::Escalated => format!("A {specialty} case is escalated to the national pool"),
            Event::PastTarget => format!("A {specialty} case is past its target with no reply"),
            Event::PatientPhotos => format!("Your patient has sent photos for a {specialty} case"),
            Event::PhotoLink => "Your GP surgery asks you for photos".to_string(),
            Event::CallMissed => {
                format!("Nobody in {specialty} answered your call: it is now a written case")
            }
            Event::CallOutcomeMissing => {
                format!("Record the outcome of your {specialty} call")
            }
        }
    }
}

/// When a daily digest goes out: 07:00 UK time on the first morning after `at_ms`.
pub fn next_digest_at(at_ms: i64) -> i64 {
    use crate::clock::LONDON;
    let Ok(ts) = jiff::Timestamp::from_millisecond(at_ms) else {
        return at_ms;
    };
    let local = ts.to_zoned_datetime(LONDON.clone());
    let seven = jiff::civil::Time::constant(7, 0, 0, 0);
    let mut day = local.date();
    if local.time() >= seven {
        day = day.tomorrow().expect("dates this side of 9999");
    }
    day.to_datetime(seven)
        .to_zoned_datetime(LONDON.clone())
        .map_or(at_ms, |z| z.timestamp().as_millisecond())
}

/// How long to wait before attempt `attempts + 1` of a delivery that has failed `attempts`
/// times: 30 s doubling to an hour. With [`MAX_ATTEMPTS`] a receiver may be down for about
/// five and a half hours before a delivery is dead-lettered.
pub fn retry_delay_ms(attempts: i64) -> i64 {
    let doubling = attempts.clamp(1, 20) - 1;
    (30_000_i64 << doubling).min(3_600_000)
}

pub const MAX_ATTEMPTS: i64 = 12;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_map_to_the_event_the_gp_hears() {
        assert_eq!(
            Event::of_reply(Outcome::ManageInPrimaryCare, false),
            Some(Event::AdviceArrived)
        );
        assert_eq!(
            Event::of_reply(Outcome::RequestInformation, false),
            Some(Event::InformationRequested)
        );
        assert_eq!(
            Event::of_reply(Outcome::ReferUrgent, true),
            Some(Event::Converted)
        );
        assert_eq!(
            Event::of_reply(Outcome::ReferTwoWeekWait, false),
            Some(Event::GpToRefer)
        );
        assert_eq!(Event::of_reply(Outcome::RedirectSpecialty, false), None);
    }

    #[test]
    fn only_the_gp_events_go_to_webhooks() {
        let with_webhook: Vec<_> = Event::ALL
            .iter()
            .filter(|e| e.webhook_type().is_some())
            .copied()
            .collect();
        assert!(with_webhook.iter().all(|e| e.concerns(Role::Gp)));
        assert_eq!(with_webhook.len(), 5);
    }

    #[test]
    fn retries_back_off_to_an_hour_and_give_up_after_hours() {
        assert_eq!(retry_delay_ms(1), 30_000);
        assert_eq!(retry_delay_ms(2), 60_000);
        assert_eq!(retry_delay_ms(8), 3_600_000);
        assert_eq!(retry_delay_ms(50), 3_600_000);
        let total: i64 = (1..MAX_ATTEMPTS).map(retry_delay_ms).sum();
        assert!((5 * 3_600_000..6 * 3_600_000).contains(&total), "{total}");
    }

    #[test]
    fn digests_go_at_seven_uk_time_the_next_morning() {
        // 2026-11-23 09:00 UTC (GMT) → 2026-11-24 07:00 GMT.
        let t0 = 1_795_424_400_000;
        assert_eq!(next_digest_at(t0), 1_795_417_200_000 + 86_400_000);
        // 2026-11-23 06:00 GMT → the same morning.
        assert_eq!(next_digest_at(t0 - 3 * 3_600_000), 1_795_417_200_000);
        // In summer 07:00 BST is 06:00 UTC: 2026-07-01 12:00 UTC → 2026-07-02 06:00 UTC.
        assert_eq!(next_digest_at(1_782_907_200_000), 1_782_972_000_000);
    }
}
