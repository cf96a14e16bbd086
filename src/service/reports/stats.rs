//! Counting helpers shared by the case figures and the call figures: shares, and medians and
//! 90th percentiles of durations.

use serde::Serialize;
use utoipa::ToSchema;

/// Median and 90th percentile of a set of durations.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Spread {
    pub cases: i64,
    pub median_ms: Option<i64>,
    pub p90_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OutcomeCounts {
    pub manage_in_primary_care: i64,
    pub refer_routine: i64,
    pub refer_urgent: i64,
    pub refer_two_week_wait: i64,
    pub redirect_specialty: i64,
}

/// The `pct`-th percentile (0–100) of sorted values, interpolated like PERCENTILE.INC, in integer
/// arithmetic (rounded half up to the millisecond).
pub fn percentile(sorted: &[i64], pct: i64) -> Option<i64> {
    let n = sorted.len() as i64;
    if n == 0 {
        return None;
    }
    let scaled = pct * (n - 1);
    let (lo, rem) = ((scaled / 100) as usize, scaled % 100);
    let hi = (lo + 1).min(sorted.len() - 1);
    let x = i128::from(sorted[lo]) * 100 + i128::from(sorted[hi] - sorted[lo]) * i128::from(rem);
    Some(((x + 50).div_euclid(100)) as i64)
}

pub fn share(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0)
}

pub fn spread(mut values: Vec<i64>) -> Spread {
    Spread {
        cases: values.len() as i64,
        median_ms: select_percentile(&mut values, 50),
        p90_ms: select_percentile(&mut values, 90),
    }
}

/// [`percentile`] of values in any order, by selecting its two closest ranks (linear time):
/// a national year's millions of durations, grouped by week, specialty and ICB, are too many to
/// sort for each group. Reorders `values`.
pub(super) fn select_percentile(values: &mut [i64], pct: i64) -> Option<i64> {
    let n = values.len() as i64;
    if n == 0 {
        return None;
    }
    let scaled = pct * (n - 1);
    let (lo, rem) = ((scaled / 100) as usize, scaled % 100);
    let (_, lo_value, above) = values.select_nth_unstable(lo);
    let lo_value = *lo_value;
    let hi_value = above.iter().copied().min().unwrap_or(lo_value);
    let x = i128::from(lo_value) * 100 + i128::from(hi_value - lo_value) * i128::from(rem);
    Some(((x + 50).div_euclid(100)) as i64)
}
