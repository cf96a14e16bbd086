//! Domain rules: pure types and decisions, no IO. HTTP, storage and the image pipeline build on these.

pub mod access;
pub mod case;
pub mod ids;
pub mod nhs_number;
pub mod notifications;
pub mod photo_requests;
pub mod queue;
pub mod reports;
pub mod role;
pub mod sign_in;
pub mod topics;
pub mod working_days;

pub use case::{
    CaseStatus, MessageKind, Outcome, PhotoKind, PhotoSize, ReferralPriority, Sex, Urgency,
};
pub use ids::{CaseId, PhotoId, PracticeId, UserId};
pub use nhs_number::{NhsNumber, NhsNumberError};
pub use role::Role;

/// Generic "parse one of these words" error used by the small enums.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a valid {what}: use {}.", either(expected))]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static [&'static str],
}

/// "a", "a or b", "a, b or c".
fn either(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// Declares a string-backed enum with `as_str`, `FromStr` and serde in one place.
macro_rules! word_enum {
    ($(#[$m:meta])* $name:ident, $what:literal, { $($variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name { $( #[serde(rename = $word)] $variant ),+ }

        // Written out rather than derived: utoipa's derive cannot read a `serde(rename)` whose
        // value comes from a macro argument, and published the variant names ("Routine")
        // instead of the words on the wire ("routine").
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($word),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::domain::UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($word => Ok($name::$variant),)+
                    other => Err($crate::domain::UnknownValue {
                        what: $what,
                        value: other.to_string(),
                        expected: &[$($word),+],
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use word_enum;

/// ODS organisation codes (e.g. a practice's "A81001"): 3 to 10 letters and digits, upper-cased.
pub fn parse_ods_code(input: &str) -> Result<String, String> {
    let code = input.trim().to_ascii_uppercase();
    if (3..=10).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(code)
    } else {
        Err(format!(
            "'{}' is not an ODS code: use 3 to 10 letters and digits, like A81001",
            input.trim()
        ))
    }
}

/// A plausible email address: one '@', something either side, a dot in the domain, no spaces.
pub fn check_email(input: &str) -> Result<String, String> {
    let email = input.trim().to_lowercase();
    let ok = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if ok {
        Ok(email)
    } else {
        Err(format!("'{}' is not an email address", input.trim()))
    }
}
