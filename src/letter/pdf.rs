//! Drawing the laid-out pages with krilla: text as real (selectable, searchable) glyphs in
//! embedded, subsetted fonts, every line and image tagged in reading order, the footer an
//! artifact.

use std::num::NonZeroU16;

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::image::Image;
use krilla::metadata::{DateTime, Metadata};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::tagging::{Artifact, ArtifactType, ContentTag, SpanTag, Tag, TagGroup, TagTree};
use krilla::text::{Font, TextDirection};
use krilla::{Data, Document, SerializeSettings};

use super::layout::{self, Group, Measure, Style, FOOTER_BASELINE, MARGIN, PAGE_H, PAGE_W};
use super::{Block, Letter, LetterError};

const TEXT: (u8, u8, u8) = (33, 43, 50);
const NHS_BLUE: (u8, u8, u8) = (0, 94, 184);

/// The letter as PDF bytes: the same letter, the same bytes.
pub fn render(letter: &Letter) -> Result<Vec<u8>, LetterError> {
    let measure = Measure::new();
    let laid = layout::layout(letter, &measure);
    let regular = Font::new(Data::from(layout::REGULAR), 0)
        .ok_or_else(|| LetterError::Pdf("the regular font cannot be read".into()))?;
    let bold = Font::new(Data::from(layout::BOLD), 0)
        .ok_or_else(|| LetterError::Pdf("the bold font cannot be read".into()))?;
    let mut images = Vec::new();
    for block in &letter.blocks {
        if let Block::Photos(thumbs) = block {
            for t in thumbs {
                let data = Data::from(t.bytes.clone());
                let image = if t.png {
                    Image::from_png(data, true)
                } else {
                    Image::from_jpeg(data, true)
                };
                images.push(image.map_err(LetterError::Pdf)?);
            }
        }
    }

    let mut document = Document::new_with(SerializeSettings {
        enable_tagging: true,
        ..Default::default()
    });
    let mut groups: Vec<TagGroup> = laid
        .groups
        .iter()
        .map(|g| match g {
            Group::Heading(level, text) => TagGroup::new(Tag::Hn(
                NonZeroU16::new(*level).unwrap_or(NonZeroU16::MIN),
                Some(text.clone()),
            )),
            Group::Paragraph => TagGroup::new(Tag::P),
            Group::Figure(alt) => TagGroup::new(Tag::Figure(Some(alt.clone()))),
        })
        .collect();
    let page_count = laid.pages.len();
    let settings = PageSettings::from_wh(PAGE_W, PAGE_H)
        .ok_or_else(|| LetterError::Pdf("bad page size".into()))?;
    for (n, page) in laid.pages.iter().enumerate() {
        let mut p = document.start_page_with(settings.clone());
        let mut surface = p.surface();
        if n == 0 {
            rule(&mut surface);
        }
        surface.set_fill(Some(fill(TEXT)));
        for line in &page.lines {
            let id = surface.start_tagged(ContentTag::Span(SpanTag::empty()));
            let font = if line.style.bold() {
                bold.clone()
            } else {
                regular.clone()
            };
            surface.draw_text(
                Point::from_xy(line.x, line.baseline),
                font,
                line.style.size(),
                &line.text,
                false,
                TextDirection::Auto,
            );
            surface.end_tagged();
            groups[line.group].push(id);
        }
        for picture in &page.pictures {
            let (Some(image), Some(size)) = (
                images.get(picture.thumb),
                Size::from_wh(picture.w, picture.h),
            ) else {
                continue;
            };
            let id = surface.start_tagged(ContentTag::Other);
            surface.push_transform(&Transform::from_translate(picture.x, picture.y));
            surface.draw_image(image.clone(), size);
            surface.pop();
            surface.end_tagged();
            groups[picture.group].push(id);
        }
        surface.start_tagged(ContentTag::Artifact(Artifact::with_kind(
            ArtifactType::Footer,
        )));
        let footer = format!("{}    Page {} of {}", letter.footer, n + 1, page_count);
        surface.draw_text(
            Point::from_xy(MARGIN, FOOTER_BASELINE),
            regular.clone(),
            Style::Footer.size(),
            &footer,
            false,
            TextDirection::Auto,
        );
        surface.end_tagged();
        surface.finish();
        p.finish();
    }
    let mut tree = TagTree::new();
    for g in groups {
        tree.push(g);
    }
    document.set_tag_tree(tree);
    document.set_metadata(
        Metadata::new()
            .title(letter.title.clone())
            .language("en-GB".into())
            .creator("aghub".into())
            .creation_date(date_time(letter.created_at_ms))
            .document_id(letter.document_id.clone()),
    );
    document
        .finish()
        .map_err(|e| LetterError::Pdf(format!("{e:?}")))
}

fn fill((r, g, b): (u8, u8, u8)) -> Fill {
    Fill {
        paint: rgb::Color::new(r, g, b).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    }
}

/// A blue line across the top of the first page (decoration: an artifact).
fn rule(surface: &mut Surface<'_>) {
    let mut path = PathBuilder::new();
    path.push_rect(
        Rect::from_xywh(MARGIN, MARGIN - 14.0, PAGE_W - 2.0 * MARGIN, 4.0)
            .expect("a finite rectangle"),
    );
    let Some(path) = path.finish() else { return };
    surface.start_tagged(ContentTag::Artifact(Artifact::with_kind(
        ArtifactType::Layout,
    )));
    surface.set_stroke(None::<Stroke>);
    surface.set_fill(Some(fill(NHS_BLUE)));
    surface.draw_path(&path);
    surface.end_tagged();
}

/// The letter's own time as the document's date (UTC).
fn date_time(ms: i64) -> DateTime {
    let t = jiff::Timestamp::from_millisecond(ms)
        .unwrap_or_default()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC);
    DateTime::new(t.year().clamp(0, 9999) as u16)
        .month(t.month() as u8)
        .day(t.day() as u8)
        .hour(t.hour() as u8)
        .minute(t.minute() as u8)
        .second(t.second() as u8)
        .utc_offset_hour(0)
        .utc_offset_minute(0)
}
