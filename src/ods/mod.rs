//! NHS Organisation Data Service files that aghub reads: `epraccur.csv` (GP practices and the
//! ICB each belongs to) and NHS England's "Patients Registered at a GP Practice" totals (list
//! sizes). Parsing only: what to change is decided by `service::organisations`.

pub mod epraccur;
pub mod list_sizes;

/// A line of the file that cannot be read, named so the operator can fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based, as editors count.
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// The 1-based line a record starts on. Counted here because after a CRLF line end (how NHS
/// files come) the csv crate's position still points at the line end before the record.
fn line_at(bytes: &[u8], offset: u64) -> u64 {
    let mut start = usize::try_from(offset).map_or(bytes.len(), |o| o.min(bytes.len()));
    while matches!(bytes.get(start), Some(b'\r' | b'\n')) {
        start += 1;
    }
    bytes[..start].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

/// The non-empty records after the header (if any), each with the line it starts on, or the
/// line that is not CSV.
fn records<'a>(
    bytes: &'a [u8],
    reader: &'a mut csv::Reader<&'a [u8]>,
) -> impl Iterator<Item = Result<(u64, csv::StringRecord), LineError>> + 'a {
    reader.records().filter_map(move |r| match r {
        Ok(rec) if rec.iter().all(|f| f.trim().is_empty()) => None,
        Ok(rec) => {
            let line = rec.position().map_or(0, |p| line_at(bytes, p.byte()));
            Some(Ok((line, rec)))
        }
        Err(e) => Some(Err(LineError {
            line: e.position().map_or(0, |p| line_at(bytes, p.byte())),
            message: format!("not CSV: {e}"),
        })),
    })
}
