//! Who may see and do what. Every route asks these functions; none decides on its own.

use super::Role;

/// The signed-in person, as the rules need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub practice_id: Option<String>,
    pub specialties: Vec<String>,
}

/// The facts about a case that decide access to it (and to its photos).
#[derive(Debug, Clone, Copy)]
pub struct CaseAccess<'a> {
    pub practice_id: &'a str,
    pub specialty: &'a str,
    pub claimed_by: Option<&'a str>,
    pub answered_by_this_user: bool,
}

impl Principal {
    pub fn is(&self, role: Role) -> bool {
        self.role == role
    }

    /// GPs see their own practice's cases; consultants the cases of their specialties
    /// (the ones they may answer, hold or have answered); admins all; commissioners no patient data.
    pub fn may_view_case(&self, case: CaseAccess<'_>) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Gp => self.practice_id.as_deref() == Some(case.practice_id),
            Role::Consultant => {
                case.answered_by_this_user
                    || case.claimed_by == Some(self.user_id.as_str())
                    || self.specialties.iter().any(|s| s == case.specialty)
            }
            Role::Commissioner => false,
        }
    }

    /// Only a GP of the case's own practice speaks for the patient.
    pub fn may_act_as_requester(&self, case: CaseAccess<'_>) -> bool {
        self.role == Role::Gp && self.practice_id.as_deref() == Some(case.practice_id)
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

    pub fn may_administer(&self) -> bool {
        self.role == Role::Admin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role, practice: Option<&str>, specialties: &[&str]) -> Principal {
        Principal {
            user_id: "u1".into(),
            name: "Test".into(),
            email: "t@example.nhs.uk".into(),
            role,
            practice_id: practice.map(str::to_string),
            specialties: specialties.iter().map(|s| s.to_string()).collect(),
        }
    }

    const CASE: CaseAccess<'static> = CaseAccess {
        practice_id: "p1",
        specialty: "dermatology",
        claimed_by: None,
        answered_by_this_user: false,
    };

    #[test]
    fn gps_see_only_their_practice() {
        assert!(who(Role::Gp, Some("p1"), &[]).may_view_case(CASE));
        assert!(!who(Role::Gp, Some("p2"), &[]).may_view_case(CASE));
        assert!(!who(Role::Gp, None, &[]).may_view_case(CASE));
        assert!(!who(Role::Gp, Some("p2"), &[]).may_act_as_requester(CASE));
    }

    #[test]
    fn consultants_see_their_specialties_and_commissioners_see_no_cases() {
        assert!(who(Role::Consultant, None, &["dermatology"]).may_view_case(CASE));
        assert!(!who(Role::Consultant, None, &["cardiology"]).may_view_case(CASE));
        let held = CaseAccess {
            claimed_by: Some("u1"),
            ..CASE
        };
        assert!(who(Role::Consultant, None, &["cardiology"]).may_view_case(held));
        assert!(!who(Role::Commissioner, None, &[]).may_view_case(CASE));
        assert!(who(Role::Admin, None, &[]).may_view_case(CASE));
    }
}
