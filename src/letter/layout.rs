//! Wrapping and pagination on A4: where each line of text and each thumbnail goes, measured
//! with the embedded fonts' own advances. Coordinates are points from the page's top left.

use skrifa::instance::{LocationRef, Size};
use skrifa::MetadataProvider;

use super::{Block, Letter};

pub(super) const PAGE_W: f32 = 595.28;
pub(super) const PAGE_H: f32 = 841.89;
pub(super) const MARGIN: f32 = 56.7;
/// The footer's baseline; body text stops above `BODY_BOTTOM`.
pub(super) const FOOTER_BASELINE: f32 = PAGE_H - 30.0;
const BODY_BOTTOM: f32 = PAGE_H - 56.7;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN;
const LABEL_W: f32 = 150.0;
const THUMB_BOX: f32 = 140.0;
const THUMB_GAP: f32 = 20.0;

pub(super) static REGULAR: &[u8] = include_bytes!("fonts/LiberationSans-Regular.ttf");
pub(super) static BOLD: &[u8] = include_bytes!("fonts/LiberationSans-Bold.ttf");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    Title,
    Heading,
    Subheading,
    Label,
    Body,
    Caption,
    Footer,
}

impl Style {
    pub(super) fn size(self) -> f32 {
        match self {
            Style::Title => 18.0,
            Style::Heading => 13.0,
            Style::Subheading | Style::Label | Style::Body => 10.5,
            Style::Caption | Style::Footer => 8.5,
        }
    }

    pub(super) fn bold(self) -> bool {
        matches!(
            self,
            Style::Title | Style::Heading | Style::Subheading | Style::Label
        )
    }

    fn line_height(self) -> f32 {
        self.size() * 1.35
    }
}

/// A line of text: `baseline` is where its glyphs sit.
#[derive(Debug, Clone)]
pub(super) struct Line {
    pub x: f32,
    pub baseline: f32,
    pub style: Style,
    pub text: String,
    pub group: usize,
}

/// A thumbnail (`thumb` indexes the letter's thumbnails in order) in its box.
#[derive(Debug, Clone)]
pub(super) struct Picture {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    pub thumb: usize,
    pub group: usize,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Page {
    pub lines: Vec<Line>,
    pub pictures: Vec<Picture>,
}

/// What a group of lines and pictures is, for the tag tree (in reading order).
#[derive(Debug, Clone)]
pub(super) enum Group {
    Heading(u16, String),
    Paragraph,
    Figure(String),
}

pub(super) struct Laid {
    pub pages: Vec<Page>,
    pub groups: Vec<Group>,
}

/// Text widths from the fonts' horizontal advances (kerning only ever narrows a line).
pub(super) struct Measure {
    regular: skrifa::FontRef<'static>,
    bold: skrifa::FontRef<'static>,
}

impl Measure {
    pub(super) fn new() -> Self {
        Self {
            regular: skrifa::FontRef::new(REGULAR).expect("the embedded regular font parses"),
            bold: skrifa::FontRef::new(BOLD).expect("the embedded bold font parses"),
        }
    }

    pub(super) fn width(&self, text: &str, style: Style) -> f32 {
        let font = if style.bold() {
            &self.bold
        } else {
            &self.regular
        };
        let metrics = font.metrics(Size::unscaled(), LocationRef::default());
        let glyphs = font.glyph_metrics(Size::unscaled(), LocationRef::default());
        let charmap = font.charmap();
        let units: f32 = text
            .chars()
            .map(|c| {
                glyphs
                    .advance_width(charmap.map(c).unwrap_or_default())
                    .unwrap_or(0.0)
            })
            .sum();
        units * style.size() / f32::from(metrics.units_per_em.max(1))
    }
}

/// Greedy wrapping at spaces; a word wider than the line is broken between characters. Line
/// breaks in the text are kept; tabs are spaces; an empty text is one empty line.
pub(super) fn wrap(measure: &Measure, text: &str, style: Style, width: f32) -> Vec<String> {
    let mut out = Vec::new();
    for para in text.replace("\r\n", "\n").replace(['\r'], "\n").split('\n') {
        let para = para.replace('\t', "    ");
        let mut line = String::new();
        for word in para.split(' ') {
            let candidate = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if measure.width(&candidate, style) <= width {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                out.push(std::mem::take(&mut line));
            }
            // The word alone: break it if even that is too wide.
            let mut piece = String::new();
            for c in word.chars() {
                piece.push(c);
                if measure.width(&piece, style) > width && piece.chars().count() > 1 {
                    piece.pop();
                    out.push(std::mem::take(&mut piece));
                    piece.push(c);
                }
            }
            line = piece;
        }
        out.push(line);
    }
    out
}

struct Cursor {
    pages: Vec<Page>,
    groups: Vec<Group>,
    y: f32,
}

impl Cursor {
    fn page(&mut self) -> &mut Page {
        self.pages.last_mut().expect("there is always a page")
    }

    /// Room for `height` more points on this page, else a new page.
    fn room(&mut self, height: f32) {
        if self.y + height > BODY_BOTTOM && self.y > MARGIN {
            self.pages.push(Page::default());
            self.y = MARGIN;
        }
    }

    fn group(&mut self, g: Group) -> usize {
        self.groups.push(g);
        self.groups.len() - 1
    }

    fn lines(&mut self, lines: &[String], style: Style, x: f32, group: usize) {
        for text in lines {
            self.room(style.line_height());
            let baseline = self.y + style.size();
            self.page().lines.push(Line {
                x,
                baseline,
                style,
                text: text.clone(),
                group,
            });
            self.y += style.line_height();
        }
    }
}

pub(super) fn layout(letter: &Letter, measure: &Measure) -> Laid {
    let mut c = Cursor {
        pages: vec![Page::default()],
        groups: Vec::new(),
        y: MARGIN,
    };
    let title = c.group(Group::Heading(1, letter.title.clone()));
    let lines = wrap(measure, &letter.title, Style::Title, CONTENT_W);
    c.lines(&lines, Style::Title, MARGIN, title);
    c.y += 10.0;
    let mut thumb_index = 0;
    for (i, block) in letter.blocks.iter().enumerate() {
        match block {
            Block::Heading { level, text } => {
                let style = if *level <= 2 {
                    Style::Heading
                } else {
                    Style::Subheading
                };
                c.y += if *level <= 2 { 12.0 } else { 6.0 };
                let lines = wrap(measure, text, style, CONTENT_W);
                // Keep a heading with the start of what follows: a row of photos, or two lines.
                let next = match letter.blocks.get(i + 1) {
                    Some(Block::Photos(_)) => THUMB_BOX + 4.0 + Style::Caption.line_height(),
                    _ => Style::Body.line_height() * 2.0,
                };
                c.room(style.line_height() * lines.len() as f32 + next);
                let g = c.group(Group::Heading(*level, text.clone()));
                c.lines(&lines, style, MARGIN, g);
                c.y += 2.0;
            }
            Block::Field { label, value } => {
                let g = c.group(Group::Paragraph);
                let labels = wrap(measure, label, Style::Label, LABEL_W - 10.0);
                let values = wrap(measure, value, Style::Body, CONTENT_W - LABEL_W);
                let rows = labels.len().max(values.len());
                let lh = Style::Body.line_height();
                // A short field stays on one page; a long one flows.
                if rows <= 6 {
                    c.room(lh * rows as f32);
                }
                for i in 0..rows {
                    c.room(lh);
                    let baseline = c.y + Style::Body.size();
                    if let Some(t) = labels.get(i) {
                        c.page().lines.push(Line {
                            x: MARGIN,
                            baseline,
                            style: Style::Label,
                            text: t.clone(),
                            group: g,
                        });
                    }
                    if let Some(t) = values.get(i) {
                        c.page().lines.push(Line {
                            x: MARGIN + LABEL_W,
                            baseline,
                            style: Style::Body,
                            text: t.clone(),
                            group: g,
                        });
                    }
                    c.y += lh;
                }
                c.y += 3.0;
            }
            Block::Paragraph(text) => {
                let g = c.group(Group::Paragraph);
                let lines = wrap(measure, text, Style::Body, CONTENT_W);
                c.lines(&lines, Style::Body, MARGIN, g);
                c.y += 6.0;
            }
            Block::Photos(thumbs) => {
                let per_row = ((CONTENT_W + THUMB_GAP) / (THUMB_BOX + THUMB_GAP)).floor() as usize;
                for row in thumbs.chunks(per_row.max(1)) {
                    let captions: Vec<Vec<String>> = row
                        .iter()
                        .map(|t| wrap(measure, &t.caption, Style::Caption, THUMB_BOX))
                        .collect();
                    let caption_lines = captions.iter().map(Vec::len).max().unwrap_or(0);
                    let height =
                        THUMB_BOX + 4.0 + Style::Caption.line_height() * caption_lines as f32;
                    c.room(height);
                    let top = c.y;
                    for (i, (thumb, caption)) in row.iter().zip(&captions).enumerate() {
                        let x = MARGIN + i as f32 * (THUMB_BOX + THUMB_GAP);
                        let (w, h) = fit(thumb.width, thumb.height, THUMB_BOX);
                        let g = c.group(Group::Figure(thumb.caption.clone()));
                        c.page().pictures.push(Picture {
                            x,
                            y: top + (THUMB_BOX - h),
                            w,
                            h,
                            thumb: thumb_index,
                            group: g,
                        });
                        thumb_index += 1;
                        let cg = c.group(Group::Paragraph);
                        for (j, text) in caption.iter().enumerate() {
                            let baseline = top
                                + THUMB_BOX
                                + 4.0
                                + Style::Caption.line_height() * j as f32
                                + Style::Caption.size();
                            c.page().lines.push(Line {
                                x,
                                baseline,
                                style: Style::Caption,
                                text: text.clone(),
                                group: cg,
                            });
                        }
                    }
                    c.y = top + height + 10.0;
                }
            }
        }
    }
    Laid {
        pages: c.pages,
        groups: c.groups,
    }
}

/// An image's size in a square box, keeping its shape.
fn fit(width: u32, height: u32, side: f32) -> (f32, f32) {
    let (w, h) = (width.max(1) as f32, height.max(1) as f32);
    let scale = side / w.max(h);
    (w * scale, h * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_wrap_at_spaces_within_the_width_and_keep_the_texts_line_breaks() {
        let m = Measure::new();
        let text =
            "The rash began three weeks ago on the left forearm and has spread slowly.\nNo fever.";
        let lines = wrap(&m, text, Style::Body, 150.0);
        assert!(lines.len() > 2, "{lines:?}");
        assert!(lines.iter().all(|l| m.width(l, Style::Body) <= 150.0));
        assert_eq!(lines.last().unwrap(), "No fever.");
        assert_eq!(lines.join(" ").replace('\n', " "), text.replace('\n', " "));
    }

    #[test]
    fn a_word_wider_than_the_line_is_broken_between_characters() {
        let m = Measure::new();
        let lines = wrap(&m, &"x".repeat(200), Style::Body, 100.0);
        assert!(lines.len() > 1);
        assert_eq!(lines.concat(), "x".repeat(200));
    }
}
