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
