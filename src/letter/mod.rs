//! The advice letter as a PDF document: a [`Letter`] is headings, labelled fields, paragraphs
//! and photo thumbnails in reading order, already in words; [`layout`] wraps and paginates them
//! on A4 and [`render`] draws the pages with krilla (embedded, subsetted Liberation Sans;
//! selectable, tagged text). Nothing here knows about cases: `service::letters` says what the
//! letter contains.
//!
//! The same [`Letter`] always gives the same bytes: the document's date and id come from the
//! letter, never from the clock.

mod layout;
mod pdf;

pub use pdf::render;

/// One letter, top to bottom.
#[derive(Debug, Clone)]
pub struct Letter {
    /// The document title (also the first heading).
    pub title: String,
    /// Repeated small at the foot of every page, with the page number (e.g. the patient's NHS
    /// number), so a loose page can be filed against the right record.
    pub footer: String,
    /// The document's creation time (milliseconds since the epoch, UTC).
    pub created_at_ms: i64,
    /// A stable identifier of the document (the same for every version of one case's letter).
    pub document_id: String,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone)]
pub enum Block {
    /// A section heading (level 2 under the title; level 3 under a section).
    Heading { level: u16, text: String },
    /// A label and its value on one row, the value wrapped beside the label.
    Field { label: String, value: String },
    /// Running text; line breaks in it are kept.
    Paragraph(String),
    /// Thumbnails in a row (wrapping onto more rows), each with its caption under it.
    Photos(Vec<Thumb>),
}

/// A small image (JPEG or PNG bytes) and the words under it (also its alternative text).
#[derive(Debug, Clone)]
pub struct Thumb {
    pub bytes: Vec<u8>,
    pub png: bool,
    pub width: u32,
    pub height: u32,
    pub caption: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LetterError {
    #[error("the letter could not be written as PDF: {0}")]
    Pdf(String),
}
