//! The case and its life: submitted → claimed → (awaiting_gp → claimed by the consultant who
//! asked, or submitted …) → closed, converted (the hospital takes the referral on) or
//! gp_to_refer (→ closed when the GP confirms the referral).

use super::{word_enum, Role};

word_enum!(
    /// Maps to e-RS: submitted/claimed ≈ PROVIDER_RESPONSE_REQUIRED,
    /// awaiting_gp ≈ REFERRER_TO_SUBMIT_FURTHER_INFORMATION, converted ≈ ADVICE_CONVERTED,
    /// gp_to_refer and closed ≈ REFERRER_TO_REVIEW then ENDED_CLOSED.
    CaseStatus, "status", {
        Submitted => "submitted",
        Claimed => "claimed",
        AwaitingGp => "awaiting_gp",
        GpToRefer => "gp_to_refer",
        Converted => "converted",
        Closed => "closed",
    }
);

word_enum!(
    Urgency, "urgency", {
        Routine => "routine",
        Urgent => "urgent",
    }
);

impl Urgency {
    pub fn label(self) -> &'static str {
        match self {
            Urgency::Routine => "Routine",
            Urgency::Urgent => "Urgent",
        }
    }
}

word_enum!(
    Outcome, "outcome", {
        ManageInPrimaryCare => "manage_in_primary_care",
        ReferRoutine => "refer_routine",
        ReferUrgent => "refer_urgent",
        ReferTwoWeekWait => "refer_two_week_wait",
        RedirectSpecialty => "redirect_specialty",
        RequestInformation => "request_information",
    }
);

word_enum!(
    /// How soon the patient must be seen when a consultant advises a referral.
    ReferralPriority, "priority", {
        Routine => "routine",
        Urgent => "urgent",
        TwoWeekWait => "two_week_wait",
    }
);

impl ReferralPriority {
    /// Working days the GP has to make a referral the consultant advised (contract 1.1).
    pub fn working_days_to_refer(self) -> u32 {
        match self {
            ReferralPriority::TwoWeekWait => 1,
            ReferralPriority::Urgent => 2,
            ReferralPriority::Routine => 10,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ReferralPriority::Routine => "Routine",
            ReferralPriority::Urgent => "Urgent",
            ReferralPriority::TwoWeekWait => "Two-week wait (suspected cancer)",
        }
    }
}

word_enum!(
    /// The patient's sex as the NHS administrative-gender codes (FHIR AdministrativeGender):
    /// recorded with the case, shown beside the age.
    Sex, "sex", {
        Male => "male",
        Female => "female",
        Other => "other",
        Unknown => "unknown",
    }
);

impl Sex {
    pub fn label(self) -> &'static str {
        match self {
            Sex::Male => "Male",
            Sex::Female => "Female",
            Sex::Other => "Other",
            Sex::Unknown => "Not known",
        }
    }
}

word_enum!(
    /// Who wrote a message in a case's conversation: a consultant's reply (advice or a request
    /// for information) or the GP's response.
    MessageKind, "message kind", {
        Reply => "reply",
        GpResponse => "gp_response",
    }
);

word_enum!(
    /// The stored sizes of a photo: the full-size original (cleaned), the display copy and the
    /// thumbnail.
    PhotoSize, "size", {
        Full => "full",
        Display => "display",
        Thumb => "thumb",
    }
);

word_enum!(
    /// What a photo shows: teledermatology asks for a site view, a close-up and, when a
    /// dermatoscope is at hand, a dermoscopic image.
    PhotoKind, "photo kind", {
        Site => "site",
        CloseUp => "close_up",
        Dermoscopic => "dermoscopic",
    }
);

impl PhotoKind {
    /// How a caption names the view: "Site view", "Close-up", "Dermoscopic".
    pub fn label(self) -> &'static str {
        match self {
            PhotoKind::Site => "Site view",
            PhotoKind::CloseUp => "Close-up",
            PhotoKind::Dermoscopic => "Dermoscopic",
        }
    }
}

impl Outcome {
    /// Advice and referrals end the consultant's part; a request for information waits for the
    /// GP, and a redirect moves the case to another specialty's queue (contract 1.1).
    pub fn closes_case(self) -> bool {
        !matches!(
            self,
            Outcome::RequestInformation | Outcome::RedirectSpecialty
        )
    }

    pub fn referral_priority(self) -> Option<ReferralPriority> {
        match self {
            Outcome::ReferRoutine => Some(ReferralPriority::Routine),
            Outcome::ReferUrgent => Some(ReferralPriority::Urgent),
            Outcome::ReferTwoWeekWait => Some(ReferralPriority::TwoWeekWait),
            _ => None,
        }
    }

    /// The case's status after a reply with this outcome. `convert`: the consultant turns a
    /// referral outcome into the referral itself (only when the GP authorised it).
    pub fn status_after(self, convert: bool) -> CaseStatus {
        match self {
            Outcome::RequestInformation => CaseStatus::AwaitingGp,
            Outcome::RedirectSpecialty => CaseStatus::Submitted,
            Outcome::ManageInPrimaryCare => CaseStatus::Closed,
            _ if convert => CaseStatus::Converted,
            _ => CaseStatus::GpToRefer,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Outcome::ManageInPrimaryCare => "Manage in primary care",
            Outcome::ReferRoutine => "Refer (routine)",
            Outcome::ReferUrgent => "Refer (urgent)",
            Outcome::ReferTwoWeekWait => "Refer on the two-week-wait pathway (suspected cancer)",
            Outcome::RedirectSpecialty => "Redirect to another specialty",
            Outcome::RequestInformation => "More information requested",
        }
    }
}

impl CaseStatus {
    /// The status in words for whoever reads it: a case waiting for the GP is the GP's to act
    /// on ("Your response needed") and the consultant's to wait for.
    pub fn label(self, reader: Role) -> &'static str {
        match self {
            CaseStatus::Submitted => "Waiting for a consultant",
            CaseStatus::Claimed => "With a consultant",
            CaseStatus::AwaitingGp if reader == Role::Gp => "Your response needed",
            CaseStatus::AwaitingGp => "Waiting for the GP",
            CaseStatus::GpToRefer if reader == Role::Gp => "You need to refer",
            CaseStatus::GpToRefer => "GP to refer",
            CaseStatus::Converted => "Referred by the hospital",
            CaseStatus::Closed => "Closed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_case_waiting_for_the_gp_reads_as_the_gps_to_act_on_and_the_consultants_to_wait_for() {
        assert_eq!(
            CaseStatus::AwaitingGp.label(Role::Gp),
            "Your response needed"
        );
        for reader in [Role::Consultant, Role::Admin] {
            assert_eq!(CaseStatus::AwaitingGp.label(reader), "Waiting for the GP");
        }
        assert_eq!(CaseStatus::Closed.label(Role::Gp), "Closed");
    }

    #[test]
    fn requests_and_redirects_keep_the_case_open_and_referrals_wait_for_someone_to_refer() {
        for o in Outcome::ALL {
            for convert in [false, true] {
                let expected = match o {
                    Outcome::RequestInformation => CaseStatus::AwaitingGp,
                    Outcome::RedirectSpecialty => CaseStatus::Submitted,
                    Outcome::ManageInPrimaryCare => CaseStatus::Closed,
                    _ if convert => CaseStatus::Converted,
                    _ => CaseStatus::GpToRefer,
                };
                assert_eq!(o.status_after(convert), expected, "{o} {convert}");
                assert_eq!(
                    o.closes_case(),
                    !matches!(expected, CaseStatus::AwaitingGp | CaseStatus::Submitted),
                    "{o}"
                );
                assert_eq!(
                    o.referral_priority().is_some(),
                    matches!(expected, CaseStatus::GpToRefer | CaseStatus::Converted)
                );
            }
        }
        assert_eq!(
            Outcome::ReferTwoWeekWait
                .referral_priority()
                .map(ReferralPriority::working_days_to_refer),
            Some(1)
        );
    }

    #[test]
    fn words_round_trip_and_unknown_words_are_refused() {
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), *o);
        }
        let err = "maybe".parse::<Urgency>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "'maybe' is not a valid urgency: use routine or urgent."
        );
    }
}
