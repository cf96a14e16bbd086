//! Times as people in England read and type them: Europe/London, so GMT in winter and BST in
//! summer. The API and the database keep UTC; only pages and forms use this. jiff carries its own
//! copy of the time-zone database, so a slim container without tzdata shows the same times.

use crate::clock::LONDON;

/// A duration as people read it: "3 h 20 min", "2 days 1 h".
pub fn fmt_age(ms: i64) -> String {
    crate::domain::queue::describe_time_left(ms.max(0), 0)
        .trim_end_matches(" left")
        .to_string()
}

/// "23 Nov 2026, 09:00 GMT", "1 Jul 2026, 09:00 BST".
pub fn format(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned_datetime(LONDON.clone())
                .strftime("%-d %b %Y, %H:%M %Z")
                .to_string()
        })
        .unwrap_or_default()
}

/// London time as a `datetime-local` form value ("2026-11-23T08:00"), to fill a form with.
pub fn form_value(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned_datetime(LONDON.clone())
                .strftime("%Y-%m-%dT%H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// A `datetime-local` form value ("2026-11-23T08:00") as London time. In the hour the clocks go
/// back it means the first of the two; in the hour they go forward, the time an hour later.
pub fn parse_form(value: &str) -> Option<i64> {
    let local: jiff::civil::DateTime = value.trim().parse().ok()?;
    let zoned = local.to_zoned_datetime(LONDON.clone()).ok()?;
    Some(zoned.timestamp().as_millisecond())
}

/// A stored date (YYYY-MM-DD) as people read it: "1 December 2026"; anything else as it is.
pub fn long_date(iso: &str) -> String {
    iso.parse::<jiff::civil::Date>()
        .map_or_else(|_| iso.to_string(), |d| d.strftime("%-d %B %Y").to_string())
}

/// The London day a deadline at its midnight ends: "Tuesday 1 December 2026" for
/// 2026-12-02T00:00 GMT.
pub fn deadline_day(end_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(end_ms - 1)
        .map(|t| {
            t.to_zoned_datetime(LONDON.clone())
                .strftime("%A %-d %B %Y")
                .to_string()
        })
        .unwrap_or_default()
}

/// A date of birth as people read it, with the age today in England: "4 July 1961 (65 years)";
/// under two, in months ("8 months"). A stored value that is not a date is shown as it is.
pub fn date_of_birth(iso: &str, now_ms: i64) -> String {
    let Ok(born) = iso.parse::<jiff::civil::Date>() else {
        return iso.to_string();
    };
    let Ok(now) = jiff::Timestamp::from_millisecond(now_ms) else {
        return iso.to_string();
    };
    let today = now.to_zoned_datetime(LONDON.clone()).date();
    let before_birthday = (today.month(), today.day()) < (born.month(), born.day());
    let years = i32::from(today.year() - born.year()) - i32::from(before_birthday);
    let months = (i32::from(today.year()) * 12 + i32::from(today.month()))
        - (i32::from(born.year()) * 12 + i32::from(born.month()))
        - i32::from(today.day() < born.day());
    let plural = |n: i32, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    let age = if years >= 2 {
        plural(years, "year")
    } else {
        plural(months.max(0), "month")
    };
    format!("{} ({age})", born.strftime("%-d %B %Y"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_read_as_the_day_they_end_in_london() {
        let ms = |t: &str| t.parse::<jiff::Timestamp>().unwrap().as_millisecond();
        assert_eq!(
            deadline_day(ms("2026-12-02T00:00:00Z")),
            "Tuesday 1 December 2026"
        );
        assert_eq!(
            deadline_day(ms("2026-04-08T23:00:00Z")),
            "Wednesday 8 April 2026"
        );
        assert_eq!(long_date("2026-12-01"), "1 December 2026");
    }

    fn utc_ms(rfc3339: &str) -> i64 {
        rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn dates_of_birth_read_with_the_age_today() {
        let now = utc_ms("2026-11-23T09:00:00Z");
        assert_eq!(date_of_birth("1961-07-04", now), "4 July 1961 (65 years)");
        assert_eq!(
            date_of_birth("1984-11-24", now),
            "24 November 1984 (41 years)"
        );
        assert_eq!(
            date_of_birth("1984-11-23", now),
            "23 November 1984 (42 years)"
        );
        assert_eq!(date_of_birth("2026-03-24", now), "24 March 2026 (7 months)");
        assert_eq!(
            date_of_birth("2025-11-23", now),
            "23 November 2025 (12 months)"
        );
        assert_eq!(
            date_of_birth("2024-11-23", now),
            "23 November 2024 (2 years)"
        );
        assert_eq!(
            date_of_birth("2026-11-01", now),
            "1 November 2026 (0 months)"
        );
        assert_eq!(date_of_birth("not a date", now), "not a date");
    }

    #[test]
    fn winter_is_gmt_and_summer_is_bst() {
        assert_eq!(
            format(utc_ms("2026-11-23T09:00:00Z")),
            "23 Nov 2026, 09:00 GMT"
        );
        assert_eq!(
            format(utc_ms("2026-07-01T08:00:00Z")),
            "1 Jul 2026, 09:00 BST"
        );
    }

    #[test]
    fn form_values_are_london_time() {
        assert_eq!(
            parse_form("2026-11-23T08:00"),
            Some(utc_ms("2026-11-23T08:00:00Z"))
        );
        assert_eq!(
            parse_form(" 2026-07-01T09:00 "),
            Some(utc_ms("2026-07-01T08:00:00Z"))
        );
        // Clocks go back at 02:00 BST on 25 Oct 2026: 01:30 happens twice; the first is BST.
        assert_eq!(
            parse_form("2026-10-25T01:30"),
            Some(utc_ms("2026-10-25T00:30:00Z"))
        );
        // Clocks go forward at 01:00 GMT on 29 Mar 2026: 01:30 does not exist.
        assert_eq!(
            parse_form("2026-03-29T01:30"),
            Some(utc_ms("2026-03-29T01:30:00Z"))
        );
        assert_eq!(parse_form("23/11/2026 08:00"), None);
        for ms in [
            utc_ms("2026-11-23T08:00:00Z"),
            utc_ms("2026-07-01T08:00:00Z"),
        ] {
            assert_eq!(parse_form(&form_value(ms)), Some(ms), "round trip");
        }
        assert_eq!(
            form_value(utc_ms("2026-07-01T08:00:00Z")),
            "2026-07-01T09:00"
        );
        assert_eq!(parse_form(""), None);
    }
}
