//! Working days in England: Monday to Friday, bank holidays excepted, in London time. A GP's
//! deadline to make a referral the consultant advised (contract 1.1) counts working days.

use jiff::civil::{Date, Weekday};
use jiff::Timestamp;

use crate::clock::LONDON;

/// England and Wales bank holidays, from https://www.gov.uk/bank-holidays.json (no crate keeps
/// them; the list is short and announced years ahead). Extend it each year: a date past its end
/// counts weekdays only, which makes a deadline a day early, never late.
const BANK_HOLIDAYS: &[&str] = &[
    "2025-01-01",
    "2025-04-18",
    "2025-04-21",
    "2025-05-05",
    "2025-05-26",
    "2025-08-25",
    "2025-12-25",
    "2025-12-26",
    "2026-01-01",
    "2026-04-03",
    "2026-04-06",
    "2026-05-04",
    "2026-05-25",
    "2026-08-31",
    "2026-12-25",
    "2026-12-28",
    "2027-01-01",
    "2027-03-26",
    "2027-03-29",
    "2027-05-03",
    "2027-05-31",
    "2027-08-30",
    "2027-12-27",
    "2027-12-28",
    "2028-01-03",
    "2028-04-14",
    "2028-04-17",
    "2028-05-01",
    "2028-05-29",
    "2028-08-28",
    "2028-12-25",
    "2028-12-26",
];

pub fn is_working_day(day: Date) -> bool {
    !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday)
        && !BANK_HOLIDAYS.contains(&day.to_string().as_str())
}

/// The end (midnight, London time) of the `n`th working day after the day of `from_ms`: a
/// referral advised on a Friday afternoon with one working day is due by the end of Monday.
pub fn end_of_working_days_after(from_ms: i64, n: u32) -> i64 {
    let Ok(from) = Timestamp::from_millisecond(from_ms) else {
        return from_ms;
    };
    let mut day = from.to_zoned_datetime(LONDON.clone()).date();
    let mut left = n;
    while left > 0 {
        day = day.tomorrow().expect("dates this side of 9999");
        if is_working_day(day) {
            left -= 1;
        }
    }
    let next_midnight = day.tomorrow().expect("dates this side of 9999");
    next_midnight
        .to_zoned_datetime(LONDON.clone())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(from_ms + i64::from(n) * 86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        rfc3339.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn a_friday_afternoon_with_one_working_day_is_due_by_the_end_of_monday() {
        // Friday 27 November 2026, 15:00 GMT.
        let due = end_of_working_days_after(ms("2026-11-27T15:00:00Z"), 1);
        assert_eq!(due, ms("2026-12-01T00:00:00Z"));
    }

    #[test]
    fn bank_holidays_do_not_count_and_summer_time_ends_at_london_midnight() {
        // Thursday 2 April 2026: Good Friday and Easter Monday are not working days, so two
        // working days run to Wednesday 8 April, ending at midnight BST (23:00 UTC).
        let due = end_of_working_days_after(ms("2026-04-02T10:00:00Z"), 2);
        assert_eq!(due, ms("2026-04-08T23:00:00Z"));
        // Christmas 2026: Friday 25th and the substitute day Monday 28th.
        let due = end_of_working_days_after(ms("2026-12-24T12:00:00Z"), 1);
        assert_eq!(due, ms("2026-12-30T00:00:00Z"));
    }

    #[test]
    fn ten_working_days_are_two_weeks() {
        let monday = ms("2026-11-30T09:00:00Z");
        assert_eq!(
            end_of_working_days_after(monday, 10),
            ms("2026-12-15T00:00:00Z")
        );
    }
}
