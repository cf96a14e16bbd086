//! A report's period: whole UTC days, both ends included, at most two years.

use crate::clock::{utc_date, ISO_DATE};
use crate::domain::reports::{week_start, DAY_MS, WEEK_MS};
use crate::service::{FieldError, ServiceError, ServiceResult};

/// Longest period a report covers (two years).
pub const MAX_PERIOD_DAYS: i64 = 731;

pub(super) fn field(
    field: &'static str,
    code: &'static str,
    message: impl Into<String>,
) -> FieldError {
    FieldError {
        field,
        code,
        message: message.into(),
    }
}

/// A period of whole UTC days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: time::Date,
    pub to: time::Date,
}

fn date_ms(d: time::Date) -> i64 {
    d.midnight().assume_utc().unix_timestamp() * 1000
}

pub fn fmt_date(ms: i64) -> String {
    utc_date(ms).format(ISO_DATE).unwrap_or_default()
}

impl Period {
    /// Parses `from` and `to` (YYYY-MM-DD); both are required.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> ServiceResult<Period> {
        let one = |name: &'static str, v: Option<&str>| {
            let v = v.map(str::trim).unwrap_or("");
            time::Date::parse(v, ISO_DATE).map_err(|_| {
                let message = if v.is_empty() {
                    format!("Give the period's {name} date as YYYY-MM-DD, for example 2026-11-01.")
                } else {
                    format!(
                        "'{v}' is not a date: give {name} as YYYY-MM-DD, for example 2026-11-01."
                    )
                };
                ServiceError::Invalid(vec![field(name, "invalid_period", message)])
            })
        };
        let period = Period {
            from: one("from", from)?,
            to: one("to", to)?,
        };
        if period.to < period.from {
            return Err(ServiceError::Invalid(vec![field(
                "to",
                "invalid_period",
                "The period ends before it starts: 'to' must be on or after 'from'.",
            )]));
        }
        if period.days() > MAX_PERIOD_DAYS {
            return Err(ServiceError::Invalid(vec![field(
                "from",
                "invalid_period",
                format!("A report covers at most {MAX_PERIOD_DAYS} days; choose a shorter period."),
            )]));
        }
        Ok(period)
    }

    /// The last 13 weeks: from the Monday 12 weeks before this week's, to today.
    pub fn recent(now_ms: i64) -> Period {
        let this_week = week_start(now_ms);
        Period {
            from: utc_date(this_week - 12 * WEEK_MS),
            to: utc_date(now_ms),
        }
    }

    pub fn from_ms(&self) -> i64 {
        date_ms(self.from)
    }

    /// The end, exclusive: midnight after the last day.
    pub fn to_ms(&self) -> i64 {
        date_ms(self.to) + DAY_MS
    }

    pub fn days(&self) -> i64 {
        (self.to_ms() - self.from_ms()) / DAY_MS
    }

    pub fn first_day(&self) -> String {
        self.from.format(ISO_DATE).unwrap_or_default()
    }

    pub fn last_day(&self) -> String {
        self.to.format(ISO_DATE).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_whole_days_and_bounded() {
        let p = Period::parse(Some("2026-11-23"), Some("2026-11-29")).unwrap();
        assert_eq!(p.from_ms(), 1_795_392_000_000);
        assert_eq!(p.to_ms(), 1_795_392_000_000 + 7 * DAY_MS);
        assert_eq!(p.days(), 7);
        assert!(Period::parse(Some("2026-11-30"), Some("2026-11-29")).is_err());
        assert!(Period::parse(Some("2024-01-01"), Some("2026-11-29")).is_err());
        assert!(Period::parse(None, Some("2026-11-29")).is_err());
        assert!(Period::parse(Some("23/11/2026"), Some("2026-11-29")).is_err());
    }
}
