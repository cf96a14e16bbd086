//! How long an A&G record is kept: the NHS Records Management Code of Practice (2021, updated
//! 2023), Appendix II. An adult's care record is kept 8 years after the last contact; a
//! child's until their 25th birthday, or their 26th if they were 17 when care ended. A&G has no
//! entry of its own in the schedule; it is part of the patient's care record, so these rows
//! apply.

use time::{Date, Month};

/// Years an adult's record is kept after the last contact.
pub const ADULT_YEARS: i32 = 8;

/// The first day the record may be destroyed, from the patient's date of birth and the day of
/// their last contact (the last of their cases to close).
pub fn destroy_from(date_of_birth: Date, last_contact: Date) -> Date {
    match age_on(date_of_birth, last_contact) {
        age if age >= 18 => years_after(last_contact, ADULT_YEARS),
        17 => years_after(date_of_birth, 26),
        _ => years_after(date_of_birth, 25),
    }
}

/// Whole years of age on `day`.
pub fn age_on(date_of_birth: Date, day: Date) -> i32 {
    let mut age = day.year() - date_of_birth.year();
    if (day.month() as u8, day.day()) < (date_of_birth.month() as u8, date_of_birth.day()) {
        age -= 1;
    }
    age
}

/// The same day `n` years on; 29 February becomes 28 February in a common year.
fn years_after(day: Date, n: i32) -> Date {
    let year = day.year() + n;
    day.replace_year(year)
        .unwrap_or_else(|_| Date::from_calendar_date(year, Month::February, 28).unwrap_or(day))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn adults_eight_years_after_the_last_contact() {
        assert_eq!(
            destroy_from(date!(1984 - 03 - 27), date!(2026 - 11 - 30)),
            date!(2034 - 11 - 30)
        );
        // 18 that very day: an adult.
        assert_eq!(
            destroy_from(date!(2008 - 11 - 30), date!(2026 - 11 - 30)),
            date!(2034 - 11 - 30)
        );
        assert_eq!(
            destroy_from(date!(1950 - 01 - 01), date!(2024 - 02 - 29)),
            date!(2032 - 02 - 29)
        );
    }

    #[test]
    fn children_until_their_25th_birthday_or_26th_if_17_when_care_ended() {
        // 10 at the last contact: until 25.
        assert_eq!(
            destroy_from(date!(2016 - 05 - 01), date!(2026 - 11 - 30)),
            date!(2041 - 05 - 01)
        );
        // 17 (18 tomorrow): until 26.
        assert_eq!(
            destroy_from(date!(2008 - 12 - 01), date!(2026 - 11 - 30)),
            date!(2034 - 12 - 01)
        );
        // A newborn: 25 years.
        assert_eq!(
            destroy_from(date!(2026 - 11 - 01), date!(2026 - 11 - 30)),
            date!(2051 - 11 - 01)
        );
        // Born on 29 February, 25 in a common year: 28 February.
        assert_eq!(
            destroy_from(date!(2012 - 02 - 29), date!(2026 - 11 - 30)),
            date!(2037 - 02 - 28)
        );
        assert_eq!(age_on(date!(2012 - 02 - 29), date!(2013 - 02 - 28)), 0);
        assert_eq!(age_on(date!(2012 - 02 - 29), date!(2013 - 03 - 01)), 1);
    }
}
