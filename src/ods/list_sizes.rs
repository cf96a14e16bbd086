//! NHS England's "Patients Registered at a GP Practice" totals (`gp-reg-pat-prac-all.csv`):
//! a header row, then one row per practice. The columns are found by name, since their set has
//! changed over the years (`CCG_CODE` became `SUB_ICB_LOCATION_CODE` in 2022); aghub needs
//! `CODE` and `NUMBER_OF_PATIENTS`, from the rows where `SEX` and `AGE` are `ALL`.

use super::LineError;
use crate::domain::parse_ods_code;

/// Practice ODS code and registered patients.
pub type ListSize = (String, i64);

pub fn parse(bytes: &[u8]) -> Result<Vec<ListSize>, Vec<LineError>> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| {
            vec![LineError {
                line: 1,
                message: format!("not CSV: {e}"),
            }]
        })?
        .clone();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let (Some(code), Some(patients)) = (column("CODE"), column("NUMBER_OF_PATIENTS")) else {
        return Err(vec![LineError {
            line: 1,
            message: "the header has no CODE and NUMBER_OF_PATIENTS columns (is this gp-reg-pat-prac-all.csv?)".into(),
        }]);
    };
    let (sex, age) = (column("SEX"), column("AGE"));
    let mut sizes = Vec::new();
    let mut errors = Vec::new();
    for item in super::records(bytes, &mut reader) {
        let (line, record) = match item {
            Ok(r) => r,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let field = |n: usize| record.get(n).unwrap_or_default().trim();
        let total = |c: Option<usize>| c.is_none_or(|c| field(c).eq_ignore_ascii_case("ALL"));
        if !total(sex) || !total(age) {
            continue;
        }
        let parsed =
            parse_ods_code(field(code)).and_then(|ods| match field(patients).parse::<i64>() {
                Ok(n) if n >= 0 => Ok((ods, n)),
                _ => Err(format!(
                    "{ods}: NUMBER_OF_PATIENTS '{}' is not a count",
                    field(patients)
                )),
            });
        match parsed {
            Ok(size) => sizes.push(size),
            Err(message) => errors.push(LineError { line, message }),
        }
    }
    if errors.is_empty() {
        Ok(sizes)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_read_by_column_name_and_bad_counts_named() {
        let file = "PUBLICATION,EXTRACT_DATE,TYPE,SUB_ICB_LOCATION_CODE,ONS_SUB_ICB_LOCATION_CODE,CODE,POSTCODE,SEX,AGE,NUMBER_OF_PATIENTS\n\
            GP_PRAC_PAT_LIST,2026-11-01,GP,M1J4Y,E38000249,E81001,LU1 1AA,ALL,ALL,9876\n\
            GP_PRAC_PAT_LIST,2026-11-01,GP,M1J4Y,E38000249,E81001,LU1 1AA,MALE,ALL,4800\n\
            GP_PRAC_PAT_LIST,2026-11-01,GP,M1J4Y,E38000249,E81005,LU2 2BB,ALL,ALL,12034\n";
        assert_eq!(
            parse(file.as_bytes()).unwrap(),
            [("E81001".to_string(), 9876), ("E81005".to_string(), 12034)]
        );
        let bad = "CODE,NUMBER_OF_PATIENTS\nE81001,lots\nE81002,-1\n";
        let errors = parse(bad.as_bytes()).unwrap_err();
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 3]);
        assert!(errors[0]
            .to_string()
            .contains("E81001: NUMBER_OF_PATIENTS 'lots'"));
        let wrong = parse(b"a,b\n1,2\n").unwrap_err();
        assert!(wrong[0].message.contains("no CODE and NUMBER_OF_PATIENTS"));
    }
}
