//! Domain rules: pure types and decisions, no IO. HTTP, storage and the image pipeline build on these.

pub mod access;
pub mod calls;
pub mod case;
pub mod ids;
pub mod nhs_number;
pub mod notifications;
pub mod photo_requests;
pub mod queue;
pub mod reports;
pub mod retention;
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

/// A UK mobile number, as written by people (`07700 900123`, `+44 7700 900123`,
/// `0044 7700-900123`), in the E.164 form text-message gateways take (`+447700900123`).
/// Written here rather than with the `phonenumber` crate: one country's mobiles are one rule
/// (07 then 9 digits, but not 070 personal or 076 pagers, except 07624 on the Isle of Man).
pub fn check_uk_mobile(input: &str) -> Result<String, String> {
    let compact: String = input
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    let national = compact
        .strip_prefix("+44")
        .or_else(|| compact.strip_prefix("0044"))
        .map(|rest| format!("0{}", rest.strip_prefix('0').unwrap_or(rest)))
        .unwrap_or_else(|| compact.clone());
    let mobile = national.len() == 11
        && national.bytes().all(|b| b.is_ascii_digit())
        && national.starts_with("07")
        && !national.starts_with("070")
        && (!national.starts_with("076") || national.starts_with("07624"));
    if mobile {
        Ok(format!("+44{}", &national[1..]))
    } else {
        Err(format!(
            "'{}' is not a UK mobile number: enter 11 digits starting 07, like 07700 900123",
            input.trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::check_uk_mobile;

    #[test]
    fn uk_mobiles_are_read_as_people_write_them_and_others_refused() {
        for written in [
            "07700 900123",
            "07700-900-123",
            "+44 7700 900123",
            "+44 (0)7700 900123",
            "0044 7700 900123",
        ] {
            assert_eq!(
                check_uk_mobile(written).as_deref(),
                Ok("+447700900123"),
                "{written}"
            );
        }
        assert_eq!(
            check_uk_mobile("07624 123456").as_deref(),
            Ok("+447624123456")
        );
        for wrong in [
            "",
            "0770090012",      // 10 digits
            "077009001234",    // 12 digits
            "01632 960123",    // a landline
            "07000 123456",    // personal numbering
            "07600 123456",    // a pager
            "+1 202 555 0100", // not the UK
            "07700 9OO123",    // letters
        ] {
            let e = check_uk_mobile(wrong).unwrap_err();
            assert!(e.contains("not a UK mobile number"), "{wrong}: {e}");
        }
    }
}
