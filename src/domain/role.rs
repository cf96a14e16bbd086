use super::word_enum;

word_enum!(
    /// What a signed-in person is allowed to do is decided by their role (see `access`).
    Role, "role", {
        Gp => "gp",
        Consultant => "consultant",
        Commissioner => "commissioner",
        Admin => "admin",
    }
);

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Gp => "GP",
            Role::Consultant => "Consultant",
            Role::Commissioner => "Commissioner",
            Role::Admin => "Admin",
        }
    }
}
