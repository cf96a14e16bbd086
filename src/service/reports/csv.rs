//! The report as CSV: figures (a row for the period, then per week, specialty and practice) and
//! topics by practice. Column names in words, dates as UK spreadsheets read them, and a UTF-8
//! byte-order mark so that Excel opens them as UTF-8.

use super::calls::CallFigures;
use super::figures::{Figures, Report};
use crate::clock::ISO_DATE;

/// The UTF-8 byte-order mark: without it Excel reads the file as Windows-1252.
pub const BOM: &str = "\u{feff}";

/// A CSV field: quoted when needed; text that a spreadsheet would run as a formula is prefixed
/// with an apostrophe.
pub(crate) fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn hours(ms: Option<i64>) -> String {
    ms.map(|v| format!("{:.2}", v as f64 / 3_600_000.0))
        .unwrap_or_default()
}

fn pct(share: Option<f64>) -> String {
    share
        .map(|s| format!("{:.1}", s * 100.0))
        .unwrap_or_default()
}

pub const CSV_COLUMNS: &str = "Group,Key,Name,Submitted,Answered,Closed,Waiting for the GP now,\
Had a request for information,First reply: cases,First reply: median hours,First reply: 90th percentile hours,\
First reply within target,First reply within target %,Closed: cases,To close: median hours,\
To close: 90th percentile hours,Closed within target,Closed within target %,Waited for the GP: cases,\
Waited for the GP: median hours,Waited for the GP: 90th percentile hours,Overdue and not answered,\
Managed in primary care,Referred (routine),Referred (urgent),Referred (two-week wait),\
Redirected to another specialty,Converted into a referral,GP referrals confirmed late,Managed in primary care % of closed,Answered by the national pool,\
Answered by the national pool %,Came back within 90 days,Came back within 90 days % of managed in primary care,\
Registered patients,Cases per 1000 registered patients";

/// "2026-11-23" as "23/11/2026", which spreadsheets set to English (UK) read as a date.
fn uk_date(iso: &str) -> String {
    time::Date::parse(iso, ISO_DATE)
        .map(|d| format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year()))
        .unwrap_or_else(|_| iso.to_string())
}

/// Registered patients and cases per 1,000 of them (practices, ICBs and the total).
type PerPatients = (Option<i64>, Option<f64>);

fn csv_row(out: &mut String, group: &str, key: &str, name: &str, f: &Figures, per: PerPatients) {
    let w = f.awaiting_gp.as_ref();
    let cells = [
        csv_field(group),
        csv_field(key),
        csv_field(name),
        f.submitted.to_string(),
        f.answered.to_string(),
        f.closed.to_string(),
        f.awaiting_gp_now.to_string(),
        f.information_requested.to_string(),
        f.first_reply.cases.to_string(),
        hours(f.first_reply.median_ms),
        hours(f.first_reply.p90_ms),
        f.first_reply.within_target.to_string(),
        pct(f.first_reply.within_target_share),
        f.to_close.cases.to_string(),
        hours(f.to_close.median_ms),
        hours(f.to_close.p90_ms),
        f.to_close.within_target.to_string(),
        pct(f.to_close.within_target_share),
        w.map(|w| w.cases.to_string()).unwrap_or_default(),
        hours(w.and_then(|w| w.median_ms)),
        hours(w.and_then(|w| w.p90_ms)),
        f.overdue_not_answered.to_string(),
        f.outcomes.manage_in_primary_care.to_string(),
        f.outcomes.refer_routine.to_string(),
        f.outcomes.refer_urgent.to_string(),
        f.outcomes.refer_two_week_wait.to_string(),
        f.outcomes.redirect_specialty.to_string(),
        f.converted.to_string(),
        f.gp_referrals_made_late.to_string(),
        pct(f.deflection_rate),
        f.national_pool.to_string(),
        pct(f.national_pool_share),
        f.re_presented.to_string(),
        pct(f.re_presentation_rate),
        per.0.map(|n| n.to_string()).unwrap_or_default(),
        per.1.map(|r| format!("{r:.2}")).unwrap_or_default(),
    ];
    out.push_str(&cells.join(","));
    out.push_str("\r\n");
}

/// The figures as CSV: one row for the period, then one per week, specialty, ICB and practice.
/// Durations in hours (2 decimals), shares in percent (1 decimal).
pub fn figures_csv(r: &Report) -> String {
    let mut out = format!("{BOM}{CSV_COLUMNS}\r\n");
    csv_row(
        &mut out,
        "total",
        "all",
        "All cases in the period",
        &r.totals,
        (r.registered_patients, r.requests_per_1000_patients),
    );
    for w in &r.weeks {
        let from = uk_date(&w.week_start);
        csv_row(
            &mut out,
            "week",
            &from,
            &format!("Week from {from}"),
            &w.figures,
            (None, None),
        );
    }
    for s in &r.specialties {
        csv_row(
            &mut out,
            "specialty",
            &s.key,
            &s.name,
            &s.figures,
            (None, None),
        );
    }
    for (group, rows) in [("icb", &r.icbs), ("practice", &r.practices)] {
        for g in rows {
            let per = (g.registered_patients, g.requests_per_1000_patients);
            csv_row(&mut out, group, &g.key, &g.name, &g.figures, per);
        }
    }
    out
}

pub const CALL_COLUMNS: &str = "Group,Key,Name,Calls offered,Answered,Answered %,\
Answered by the local rota,Answered by the national pool,Became written cases,\
Time to answer: median seconds,Time to answer: 90th percentile seconds,Ended calls,\
Duration: median minutes,Duration: 90th percentile minutes,Managed in primary care,\
Referred (routine),Referred (urgent),Referred (two-week wait),Redirected to another specialty,\
Information requested,Both outcomes recorded,Both outcomes recorded % of answered";

fn seconds(ms: Option<i64>) -> String {
    ms.map(|v| format!("{:.1}", v as f64 / 1000.0))
        .unwrap_or_default()
}

fn minutes(ms: Option<i64>) -> String {
    ms.map(|v| format!("{:.2}", v as f64 / 60_000.0))
        .unwrap_or_default()
}

/// Live calls as CSV: one row for the period, then one per week, specialty and practice.
pub fn calls_csv(r: &Report) -> String {
    let mut out = format!("{BOM}{CALL_COLUMNS}\r\n");
    let c = &r.calls;
    let mut row = |group: &str, key: &str, name: &str, f: &CallFigures| {
        let cells = [
            csv_field(group),
            csv_field(key),
            csv_field(name),
            f.offered.to_string(),
            f.answered.to_string(),
            pct(f.answered_share),
            f.answered_local.to_string(),
            f.answered_national.to_string(),
            f.became_written_cases.to_string(),
            seconds(f.time_to_answer.median_ms),
            seconds(f.time_to_answer.p90_ms),
            f.duration.cases.to_string(),
            minutes(f.duration.median_ms),
            minutes(f.duration.p90_ms),
            f.outcomes.manage_in_primary_care.to_string(),
            f.outcomes.refer_routine.to_string(),
            f.outcomes.refer_urgent.to_string(),
            f.outcomes.refer_two_week_wait.to_string(),
            f.outcomes.redirect_specialty.to_string(),
            f.information_requested.to_string(),
            f.outcomes_recorded.to_string(),
            pct(f.outcome_capture_share),
        ];
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    };
    row("total", "all", "All calls in the period", &c.totals);
    for w in &c.weeks {
        let from = uk_date(&w.key);
        row("week", &from, &format!("Week from {from}"), &w.figures);
    }
    for (group, rows) in [("specialty", &c.specialties), ("practice", &c.practices)] {
        for g in rows {
            row(group, &g.key, &g.name, &g.figures);
        }
    }
    out
}

/// Topics by practice as CSV.
pub fn topics_csv(r: &Report) -> String {
    let mut out = format!("{BOM}ODS code,Practice,Topic,Cases\r\n");
    for p in &r.topics_by_practice {
        for t in &p.topics {
            out.push_str(&format!(
                "{},{},{},{}\r\n",
                csv_field(&p.ods_code),
                csv_field(&p.name),
                csv_field(&t.topic),
                t.cases
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formula_safe() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
    }

    #[test]
    fn dates_are_written_the_uk_way() {
        assert_eq!(uk_date("2026-11-23"), "23/11/2026");
        assert_eq!(uk_date("2027-01-04"), "04/01/2027");
    }
}
