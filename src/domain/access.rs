//! Who may see and do what. Every route asks these functions; none decides on its own.

use super::queue::{may_take, OnDuty};
use super::{PracticeId, Role, UserId};

/// The signed-in person, as the rules need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub practice_id: Option<PracticeId>,
    /// The ICB the person works in: their practice's, their trust's, or (a commissioner) the
    /// one whose figures they see. `None` for a commissioner is the national view.
    pub icb_id: Option<String>,
    pub specialties: Vec<String>,
}

/// Whose figures a person may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportScope {
    /// Every ICB side by side: admins, and commissioners of no one ICB (NHS England).
    National,
    /// One ICB's practices only.
    Icb(String),
}

/// The facts about a case, and about the person asking, that decide access to it (and to its
/// photos and pages).
#[derive(Debug, Clone, Copy)]
pub struct CaseAccess<'a> {
    pub practice_id: &'a str,
    pub specialty: &'a str,
    /// The asking consultant holds the case, held it before, or answered it.
    pub involved: bool,
    /// The asking consultant's shifts for the case's specialty at `now_ms`.
    pub on_duty: OnDuty,
    pub queued_at_ms: i64,
    pub escalation_ms: i64,
    pub now_ms: i64,
}

impl Principal {
    pub fn is(&self, role: Role) -> bool {
        self.role == role
    }

    /// GPs see their own practice's cases; admins all; commissioners no patient data.
    /// A consultant sees a case only while on duty for it (the same rule as taking it: a local
    /// shift of its specialty, or a national one once the escalation window has passed), or
    /// when they hold it, held it or answered it. A specialty alone is not enough: the patient
    /// did not ask every dermatologist in the country, only the ones on the rota.
    pub fn may_view_case(&self, case: CaseAccess<'_>) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Gp => self.practice() == Some(case.practice_id),
            Role::Consultant => {
                case.involved
                    || (self.specialties.iter().any(|s| s == case.specialty)
                        && may_take(
                            case.on_duty,
                            case.queued_at_ms,
                            case.escalation_ms,
                            case.now_ms,
                        ))
            }
            Role::Commissioner => false,
        }
    }

    /// Only a GP of the case's own practice speaks for the patient.
    pub fn may_act_as_requester(&self, case_practice_id: &str) -> bool {
        self.role == Role::Gp && self.practice() == Some(case_practice_id)
    }

    /// The practice id as stored (GPs only).
    pub fn practice(&self) -> Option<&str> {
        self.practice_id.as_ref().map(PracticeId::as_str)
    }

    pub fn may_submit_cases(&self) -> bool {
        self.role == Role::Gp && self.practice_id.is_some()
    }

    pub fn may_answer_specialty(&self, specialty: &str) -> bool {
        self.role == Role::Consultant && self.specialties.iter().any(|s| s == specialty)
    }

    pub fn may_list_cases(&self) -> bool {
        matches!(self.role, Role::Gp | Role::Admin)
    }

    pub fn may_see_reports(&self) -> bool {
        matches!(self.role, Role::Commissioner | Role::Admin)
    }

    /// The figures this person may see (`None`: no figures at all).
    pub fn report_scope(&self) -> Option<ReportScope> {
        match (self.role, &self.icb_id) {
            (Role::Admin, _) | (Role::Commissioner, None) => Some(ReportScope::National),
            (Role::Commissioner, Some(icb)) => Some(ReportScope::Icb(icb.clone())),
            _ => None,
        }
    }

    pub fn may_administer(&self) -> bool {
        self.role == Role::Admin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role, practice: Option<&str>, specialties: &[&str]) -> Principal {
        Principal {
            user_id: UserId::new("u1"),
            name: "Test".into(),
            email: "t@example.nhs.uk".into(),
            role,
            practice_id: practice.map(PracticeId::new),
            icb_id: None,
            specialties: specialties.iter().map(|s| s.to_string()).collect(),
        }
    }

    const H: i64 = 3_600_000;

    const CASE: CaseAccess<'static> = CaseAccess {
        practice_id: "p1",
        specialty: "dermatology",
        involved: false,
        on_duty: OnDuty {
            local: false,
            national: false,
        },
        queued_at_ms: 0,
        escalation_ms: 4 * H,
        now_ms: H,
    };

    const LOCAL: OnDuty = OnDuty {
        local: true,
        national: false,
    };
    const NATIONAL: OnDuty = OnDuty {
        local: false,
        national: true,
    };

    #[test]
    fn gps_see_only_their_practice() {
        assert!(who(Role::Gp, Some("p1"), &[]).may_view_case(CASE));
        assert!(!who(Role::Gp, Some("p2"), &[]).may_view_case(CASE));
        assert!(!who(Role::Gp, None, &[]).may_view_case(CASE));
        assert!(!who(Role::Gp, Some("p2"), &[]).may_act_as_requester(CASE.practice_id));
    }

    #[test]
    fn consultants_see_cases_only_while_on_duty_for_them() {
        let derm = who(Role::Consultant, None, &["dermatology"]);
        // The specialty alone (no shift now) is not enough.
        assert!(!derm.may_view_case(CASE));
        let local = CaseAccess {
            on_duty: LOCAL,
            ..CASE
        };
        assert!(derm.may_view_case(local));
        assert!(!who(Role::Consultant, None, &["cardiology"]).may_view_case(local));
        // The national pool sees it once the escalation window has passed, not before.
        let national = CaseAccess {
            on_duty: NATIONAL,
            ..CASE
        };
        assert!(!derm.may_view_case(national));
        assert!(derm.may_view_case(CaseAccess {
            now_ms: 4 * H,
            ..national
        }));
    }

    #[test]
    fn consultants_keep_the_cases_they_hold_held_or_answered() {
        let involved = CaseAccess {
            involved: true,
            ..CASE
        };
        assert!(who(Role::Consultant, None, &["cardiology"]).may_view_case(involved));
        assert!(!who(Role::Commissioner, None, &[]).may_view_case(involved));
        assert!(who(Role::Admin, None, &[]).may_view_case(CASE));
    }

    #[test]
    fn commissioners_see_their_icbs_figures_and_nhs_england_all() {
        let icb = Principal {
            icb_id: Some("icb-1".into()),
            ..who(Role::Commissioner, None, &[])
        };
        assert_eq!(icb.report_scope(), Some(ReportScope::Icb("icb-1".into())));
        assert_eq!(
            who(Role::Commissioner, None, &[]).report_scope(),
            Some(ReportScope::National)
        );
        assert_eq!(
            who(Role::Admin, None, &[]).report_scope(),
            Some(ReportScope::National)
        );
        let gp = Principal {
            icb_id: Some("icb-1".into()),
            ..who(Role::Gp, Some("p1"), &[])
        };
        assert_eq!(gp.report_scope(), None);
        assert_eq!(
            who(Role::Consultant, None, &["dermatology"]).report_scope(),
            None
        );
    }
}
