//! Ids as types of their own, so a case id cannot be passed where a user id is expected.
//! Every id is text in the database (UUIDs made by `service`); these wrap it without checks,
//! except [`CaseId::parse`] and [`PhotoId::parse`], which read ids from addresses.

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id read from storage or made by the service.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A case (a UUID).
    CaseId
);
id_type!(
    /// A photo of a case (a UUID).
    PhotoId
);
id_type!(
    /// A person with an account: GP, consultant, commissioner or admin.
    UserId
);
id_type!(
    /// A GP practice (our id, not its ODS code).
    PracticeId
);

/// An id from an address: only a UUID can name a case or photo, so anything else is "not
/// found" without asking the database.
fn parse_uuid(text: &str) -> Option<String> {
    uuid::Uuid::parse_str(text).ok().map(|_| text.to_string())
}

impl CaseId {
    pub fn parse(text: &str) -> Option<Self> {
        parse_uuid(text).map(Self)
    }
}

impl PhotoId {
    pub fn parse(text: &str) -> Option<Self> {
        parse_uuid(text).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_addresses_must_be_uuids() {
        let id = "0190f5a4-7c1e-7d2a-9b3c-1234567890ab";
        assert_eq!(CaseId::parse(id).unwrap().as_str(), id);
        assert!(CaseId::parse("1 OR 1=1").is_none());
        assert!(PhotoId::parse("").is_none());
        assert_eq!(serde_json::to_string(&UserId::new("u1")).unwrap(), "\"u1\"");
    }
}
