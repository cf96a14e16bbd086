//! The NHS number: ten digits, the last a Modulus 11 check digit.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NhsNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NhsNumberError {
    #[error("Enter the NHS number.")]
    Empty,
    #[error(
        "An NHS number has only digits (spaces or hyphens are allowed between groups); this one has '{0}'."
    )]
    BadCharacter(char),
    #[error("An NHS number has 10 digits; this one has {0}.")]
    WrongLength(usize),
    #[error(
        "An NHS number is never one digit ten times over: please check it against the patient's record."
    )]
    RepeatedDigit,
    #[error(
        "This NHS number fails its check digit: please check it against the patient's record."
    )]
    CheckDigit,
}

impl NhsNumber {
    /// Accepts plain digits or groups with spaces or hyphens ("943 476 5919", "943-476-5919", as
    /// GP systems print them); anything else is refused with a reason.
    pub fn parse(input: &str) -> Result<Self, NhsNumberError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(NhsNumberError::Empty);
        }
        let mut digits = String::with_capacity(10);
        for c in trimmed.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' => {}
                other => return Err(NhsNumberError::BadCharacter(other)),
            }
        }
        if digits.len() != 10 {
            return Err(NhsNumberError::WrongLength(digits.len()));
        }
        // 0000000000, 1111111111, …: placeholders typed to get past a form, some of which pass
        // the check digit.
        if digits.bytes().all(|b| b == digits.as_bytes()[0]) {
            return Err(NhsNumberError::RepeatedDigit);
        }
        let d: Vec<u32> = digits.bytes().map(|b| u32::from(b - b'0')).collect();
        let sum: u32 = d[..9]
            .iter()
            .zip((2..=10).rev())
            .map(|(digit, weight)| digit * weight)
            .sum();
        let check = match 11 - (sum % 11) {
            11 => 0,
            10 => return Err(NhsNumberError::CheckDigit),
            c => c,
        };
        if check != d[9] {
            return Err(NhsNumberError::CheckDigit);
        }
        Ok(Self(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// 3-3-4 grouping, as printed on NHS letters.
    pub fn formatted(&self) -> String {
        format!("{} {} {}", &self.0[..3], &self.0[3..6], &self.0[6..])
    }

    /// A stored NHS number for people to read: 3-3-4, or as stored if it is not a valid one.
    pub fn format_stored(stored: &str) -> String {
        NhsNumber::parse(stored).map_or_else(|_| stored.to_string(), |n| n.formatted())
    }
}

impl fmt::Display for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.formatted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_numbers_plain_and_spaced() {
        for n in [
            "9434765919",
            "943 476 5919",
            "943-476-5919",
            " 401 023 2137 ",
            "9990000018",
        ] {
            assert!(NhsNumber::parse(n).is_ok(), "{n} should be valid");
        }
        assert_eq!(
            NhsNumber::parse("943 476 5919").unwrap().as_str(),
            "9434765919"
        );
        assert_eq!(
            NhsNumber::parse("9434765919").unwrap().formatted(),
            "943 476 5919"
        );
    }

    #[test]
    fn rejects_wrong_check_digit_length_and_characters() {
        assert_eq!(
            NhsNumber::parse("9434765918"),
            Err(NhsNumberError::CheckDigit)
        );
        assert_eq!(
            NhsNumber::parse("943476591"),
            Err(NhsNumberError::WrongLength(9))
        );
        assert_eq!(
            NhsNumber::parse("943/476/5919"),
            Err(NhsNumberError::BadCharacter('/'))
        );
        assert_eq!(NhsNumber::parse("  "), Err(NhsNumberError::Empty));
    }

    #[test]
    fn one_digit_ten_times_over_is_refused_even_when_its_check_digit_fits() {
        for d in '0'..='9' {
            let n: String = std::iter::repeat_n(d, 10).collect();
            assert_eq!(
                NhsNumber::parse(&n),
                Err(NhsNumberError::RepeatedDigit),
                "{n}"
            );
        }
        assert_eq!(
            NhsNumber::parse("111 111 1111"),
            Err(NhsNumberError::RepeatedDigit)
        );
    }

    #[test]
    fn remainder_one_means_no_valid_number() {
        // 123456780x: weighted sum 10+18+24+28+30+30+28+24+0 = 192, 192 % 11 = 5 -> check 6.
        assert!(NhsNumber::parse("1234567806").is_ok());
        // Find a prefix whose check would be 10: every completion must be refused.
        let prefix = (0..1_000_000_000u64)
            .map(|n| format!("{n:09}"))
            .find(|p| {
                let s: u32 = p
                    .bytes()
                    .zip((2..=10).rev())
                    .map(|(b, w)| u32::from(b - b'0') * w)
                    .sum();
                11 - s % 11 == 10
            })
            .unwrap();
        for last in 0..10 {
            assert!(NhsNumber::parse(&format!("{prefix}{last}")).is_err());
        }
    }
}
