//! Format detection from magic bytes. The file name and the Content-Type the
//! browser sent are never trusted.
//!
//! Hand-written rather than using `image::guess_format` because we also need to
//! *name* the formats we refuse (GIF, PDF, HTML, SVG, video...) so the GP gets a
//! useful message, and `image` only knows the raster formats it can decode.

use super::PhotoFormat;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sniffed {
    Supported(PhotoFormat),
    /// A short human name of what the bytes are ("HEIC", "GIF", "unknown"...).
    Unsupported(&'static str),
}

pub(super) fn sniff(b: &[u8]) -> Sniffed {
    use Sniffed::*;
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Supported(PhotoFormat::Jpeg);
    }
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Supported(PhotoFormat::Png);
    }
    if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        return Supported(PhotoFormat::WebP);
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return Unsupported("GIF");
    }
    if b.starts_with(b"II*\0")
        || b.starts_with(b"MM\0*")
        || b.starts_with(b"II+\0")
        || b.starts_with(b"MM\0+")
    {
        // Also camera raw files (DNG, CR2, NEF, ARW) which are TIFF inside.
        return Unsupported("TIFF");
    }
    if b.starts_with(b"BM") && b.len() >= 14 {
        return Unsupported("BMP");
    }
    if b.starts_with(b"%PDF-") {
        return Unsupported("PDF");
    }
    if b.len() >= 12 && &b[4..8] == b"ftyp" {
        return iso_bmff_kind(b);
    }
    if b.starts_with(&[0xFF, 0x0A]) || b.starts_with(b"\0\0\0\x0CJXL \r\n\x87\n") {
        return Unsupported("JPEG XL");
    }
    if b.starts_with(b"\0\0\0\x0CjP  \r\n\x87\n") || b.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]) {
        return Unsupported("JPEG 2000");
    }
    if b.starts_with(b"RIFF") {
        return Unsupported("RIFF (audio/video)");
    }
    if b.starts_with(&[0, 0, 1, 0]) || b.starts_with(&[0, 0, 2, 0]) {
        return Unsupported("Windows icon");
    }
    if b.starts_with(b"8BPS") {
        return Unsupported("Photoshop");
    }
    if b.starts_with(b"PK\x03\x04") {
        return Unsupported("ZIP or Office document");
    }
    if b.len() >= 132 && &b[128..132] == b"DICM" {
        return Unsupported("DICOM");
    }
    if let Some(kind) = text_kind(b) {
        return Unsupported(kind);
    }
    Unsupported("unknown")
}

/// ISO base media files: HEIF stills (HEIC, AVIF: decoded by libheif) are accepted; image
/// sequences and MP4/MOV video are not.
fn iso_bmff_kind(b: &[u8]) -> Sniffed {
    let box_len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let end = box_len.clamp(12, 256).min(b.len());
    // major brand at 8..12, then minor version, then compatible brands
    let mut brands = vec![&b[8..12]];
    let mut i = 16;
    while i + 4 <= end {
        brands.push(&b[i..i + 4]);
        i += 4;
    }
    let has = |names: &[&[u8; 4]]| brands.iter().any(|br| names.iter().any(|n| *br == &n[..]));
    // A still image file has the HEIF image brand `mif1` or a codec's still brand; AV1 is
    // named by `avif`, HEVC by `heic`/`heix`. A `mif1` file with neither is still HEIF, which
    // libheif decodes whatever its codec (or refuses as corrupt).
    let still = has(&[b"mif1", b"avif", b"heic", b"heix", b"heim", b"heis"]);
    if still && has(&[b"avif"]) {
        Sniffed::Supported(PhotoFormat::Avif)
    } else if still {
        Sniffed::Supported(PhotoFormat::Heic)
    } else if has(&[b"avis"]) {
        Sniffed::Unsupported("AVIF animation")
    } else if has(&[b"hevc", b"hevx", b"msf1"]) {
        Sniffed::Unsupported("HEIF image sequence")
    } else {
        Sniffed::Unsupported("video")
    }
}

/// Text formats people upload by mistake (or on purpose).
fn text_kind(b: &[u8]) -> Option<&'static str> {
    let head = &b[..b.len().min(1024)];
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head.iter().position(|c| !c.is_ascii_whitespace())?;
    let lower: Vec<u8> = head[start..].iter().map(u8::to_ascii_lowercase).collect();
    let contains = |needle: &[u8]| lower.windows(needle.len()).any(|w| w == needle);
    if lower.starts_with(b"<svg") || (lower.starts_with(b"<?xml") && contains(b"<svg")) {
        Some("SVG")
    } else if lower.starts_with(b"<!doctype html")
        || lower.starts_with(b"<html")
        || contains(b"<html")
    {
        Some("HTML")
    } else if lower.starts_with(b"<?xml") {
        Some("XML")
    } else {
        None
    }
}

/// The chunks of a RIFF (WebP) file as (fourcc, payload), stopping at the
/// first chunk that runs past the end.
pub(super) fn riff_chunks(input: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut at = 12usize;
    std::iter::from_fn(move || {
        let header = input.get(at..at.checked_add(8)?)?;
        let fourcc = [header[0], header[1], header[2], header[3]];
        let size = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let payload = input.get(at + 8..(at + 8).checked_add(size)?)?;
        at = at + 8 + size + (size & 1);
        Some((fourcc, payload))
    })
}
