//! `epraccur.csv`, the ODS "General Medical Practices" file: no header row, 27 columns, as NHS
//! Digital publishes it (and as the ODS Data Search and Export service still does):
//!
//! | column | field |
//! |---|---|
//! | 1 | organisation code |
//! | 2 | name |
//! | 3 | national grouping (NHS England region, e.g. Y61) |
//! | 4 | high level health geography (the ICB, e.g. QHG) |
//! | 5–9 | address lines |
//! | 10 | postcode |
//! | 11, 12 | open and close dates (YYYYMMDD) |
//! | 13 | status: A active, C closed, D dormant, P proposed (DSE: ACTIVE, INACTIVE) |
//! | 14 | organisation sub-type |
//! | 15 | commissioner (the sub-ICB location, e.g. M1J4Y) |
//! | 16–25 | join and left dates, telephone, amended-record indicator, provider/purchaser |
//! | 26 | prescribing setting: 4 is a GP practice (DSE: the role RO76) |
//! | 27 | null |

use super::LineError;
use crate::domain::parse_ods_code;

pub const COLUMNS: usize = 27;

/// One active GP practice, as aghub keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PracticeRecord {
    pub ods_code: String,
    pub name: String,
    pub icb_code: String,
    pub postcode: String,
}

/// What the file holds: the practices to keep, and the rows left out and why.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub practices: Vec<PracticeRecord>,
    /// Closed, dormant or proposed practices (status not active, or a close date).
    pub not_active: usize,
    /// Other prescribing settings: out-of-hours, walk-in centres, prisons, hospices, …
    pub not_gp: usize,
}

/// Reads the whole file. Any malformed row fails the whole file, every such row named, so
/// that nothing is imported from a file that is not what it seems.
pub fn parse(bytes: &[u8]) -> Result<Parsed, Vec<LineError>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut parsed = Parsed::default();
    let mut errors = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for item in super::records(bytes, &mut reader) {
        let (line, record) = match item {
            Ok(r) => r,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        match row(&record) {
            Ok(Row::Practice(p)) => {
                if let Some(first) = seen.insert(p.ods_code.clone(), line) {
                    errors.push(LineError {
                        line,
                        message: format!("{} is listed twice (first on line {first})", p.ods_code),
                    });
                }
                parsed.practices.push(p);
            }
            Ok(Row::NotActive) => parsed.not_active += 1,
            Ok(Row::NotGp) => parsed.not_gp += 1,
            Err(message) => errors.push(LineError { line, message }),
        }
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(errors)
    }
}

enum Row {
    Practice(PracticeRecord),
    NotActive,
    NotGp,
}

fn row(r: &csv::StringRecord) -> Result<Row, String> {
    if r.len() != COLUMNS {
        return Err(format!(
            "{} columns where epraccur.csv has {COLUMNS} (is this the epraccur file?)",
            r.len()
        ));
    }
    let field = |n: usize| r.get(n - 1).unwrap_or_default().trim();
    let ods_code = parse_ods_code(field(1)).map_err(|m| format!("column 1: {m}"))?;
    let name = field(2);
    if name.is_empty() {
        return Err(format!("{ods_code} has no name (column 2)"));
    }
    for (n, what) in [(11, "open date"), (12, "close date")] {
        let d = field(n);
        if !d.is_empty() && !is_yyyymmdd(d) {
            return Err(format!(
                "{ods_code}: the {what} (column {n}) '{d}' is not a date like 19740401"
            ));
        }
    }
    let active = match field(13) {
        "A" | "ACTIVE" => field(12).is_empty(),
        "C" | "D" | "P" | "INACTIVE" => false,
        other => {
            return Err(format!(
            "{ods_code}: the status (column 13) '{other}' is none of A, C, D, P, ACTIVE, INACTIVE"
        ))
        }
    };
    let setting = field(26);
    if setting.is_empty() || !setting.split('|').all(|s| is_setting(s.trim())) {
        return Err(format!(
            "{ods_code}: the prescribing setting (column 26) '{setting}' is not a setting number or ODS role"
        ));
    }
    if !active {
        return Ok(Row::NotActive);
    }
    if !setting.split('|').any(|s| matches!(s.trim(), "4" | "RO76")) {
        return Ok(Row::NotGp);
    }
    let icb_code =
        parse_ods_code(field(4)).map_err(|m| format!("{ods_code}: the ICB (column 4): {m}"))?;
    Ok(Row::Practice(PracticeRecord {
        ods_code,
        name: name.to_string(),
        icb_code,
        postcode: field(10).to_string(),
    }))
}

fn is_yyyymmdd(d: &str) -> bool {
    d.len() == 8
        && d.bytes().all(|b| b.is_ascii_digit())
        && (1..=12).contains(&d[4..6].parse::<u8>().unwrap_or(0))
        && (1..=31).contains(&d[6..8].parse::<u8>().unwrap_or(0))
}

/// A legacy setting number (0–25) or a DSE role id (RO and digits).
fn is_setting(s: &str) -> bool {
    s.parse::<u8>().is_ok_and(|n| n <= 25)
        || s.strip_prefix("RO")
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row in the published layout (27 columns).
    pub fn line(
        code: &str,
        name: &str,
        icb: &str,
        close: &str,
        status: &str,
        setting: &str,
    ) -> String {
        format!(
            "\"{code}\",\"{name}\",\"Y61\",\"{icb}\",\"THE HEALTH CENTRE\",\"LAWSON STREET\",\"LUTON\",\"BEDFORDSHIRE\",\"\",\"LU1 1AA\",\"19740401\",\"{close}\",\"{status}\",\"B\",\"M1J4Y\",\"20220701\",\"\",\"01582 000000\",\"\",\"\",\"\",\"0\",\"\",\"M1J4Y\",\"\",\"{setting}\",\"\"\r\n"
        )
    }

    #[test]
    fn active_gp_practices_are_kept_and_the_rest_counted() {
        let file = [
            line("E81001", "THE CHASE SURGERY", "QHG", "", "A", "4"),
            line("E81002", "CLOSED SURGERY", "QHG", "20200331", "C", "4"),
            line("E81003", "LUTON OUT OF HOURS", "QHG", "", "A", "2"),
            line("E81004", "DORMANT SURGERY", "QHG", "", "D", "4"),
            line("Y01234", "HMP BEDFORD", "QHG", "", "A", "25"),
            line("E81005", "NEW FORMAT PRACTICE", "qhg", "", "ACTIVE", "RO76"),
            line("E81006", "CLOSING SOON", "QHG", "20261231", "A", "4"),
            "\n".into(),
        ]
        .concat();
        let parsed = parse(file.as_bytes()).unwrap();
        let codes: Vec<_> = parsed
            .practices
            .iter()
            .map(|p| p.ods_code.as_str())
            .collect();
        assert_eq!(codes, ["E81001", "E81005"]);
        assert_eq!(parsed.practices[1].icb_code, "QHG");
        assert_eq!(parsed.practices[0].postcode, "LU1 1AA");
        assert_eq!((parsed.not_active, parsed.not_gp), (3, 2));
    }

    #[test]
    fn every_malformed_row_is_named_and_nothing_is_returned() {
        let file = [
            line("E81001", "GOOD SURGERY", "QHG", "", "A", "4"),
            "\"E81002\",\"TOO SHORT\",\"Y61\"\n".into(),
            line("E8-1003", "BAD CODE", "QHG", "", "A", "4"),
            line("E81004", "", "QHG", "", "A", "4"),
            line("E81005", "BAD DATE", "QHG", "2020-03-31", "C", "4"),
            line("E81006", "ODD STATUS", "QHG", "", "X", "4"),
            line("E81007", "ODD SETTING", "QHG", "", "A", "GP"),
            line("E81008", "NO ICB", "", "", "A", "4"),
            line("E81001", "TWICE", "QHG", "", "A", "4"),
        ]
        .concat();
        let errors = parse(file.as_bytes()).unwrap_err();
        let lines: Vec<_> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7, 8, 9], "{errors:#?}");
        let text: Vec<_> = errors.iter().map(ToString::to_string).collect();
        assert!(
            text[0].contains("3 columns where epraccur.csv has 27"),
            "{}",
            text[0]
        );
        assert!(
            text[1].contains("'E8-1003' is not an ODS code"),
            "{}",
            text[1]
        );
        assert!(text[2].contains("E81004 has no name"), "{}", text[2]);
        assert!(
            text[3].contains("'2020-03-31' is not a date"),
            "{}",
            text[3]
        );
        assert!(text[4].contains("status (column 13) 'X'"), "{}", text[4]);
        assert!(text[5].contains("setting (column 26) 'GP'"), "{}", text[5]);
        assert!(
            text[6].contains("E81008: the ICB (column 4)"),
            "{}",
            text[6]
        );
        assert!(
            text[7].contains("E81001 is listed twice (first on line 1)"),
            "{}",
            text[7]
        );
    }
}
