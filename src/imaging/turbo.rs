//! libjpeg-turbo as both paths use it: the JPEG encoder of every JPEG rendition, and how its
//! errors read as [`ImageError`]s (from the header in [`probe`](super::probe) to the decode in
//! [`jpeg`](super::jpeg)).

use std::ops::Range;

use image::DynamicImage;
use turbojpeg::{Compressor, PixelFormat, Subsamp};

use super::orient::{Orientation, Samples};
use super::{icc, ImageError, Rendition, THUMB_LONG_EDGE};

pub(super) const CONTENT_TYPE: &str = "image/jpeg";

/// Encodes an 8-bit grey or RGB image as a baseline JPEG, plus the ICC
/// profile if any.
pub(super) fn encode_rendition(
    img: &DynamicImage,
    quality: i32,
    subsamp: Subsamp,
    profile: Option<&[u8]>,
) -> Result<Rendition, ImageError> {
    encode_in_bands(img, Orientation::Normal, quality, subsamp, profile, 1)
}

/// [`encode_rendition`] of `img` turned upright by `orientation`, on up to `threads` threads:
/// the full-size re-encode, where a 20 MP photo took ~100 ms to turn and ~110 ms to compress
/// in one pass. The upright picture is cut into bands of whole MCU rows; each band is turned
/// ([`Orientation::turn_rows`]) and compressed by libjpeg-turbo on its own, and the bands'
/// entropy-coded data are joined with restart markers, the interval a DRI segment gives:
/// every baseline decoder handles them, and each band is coded exactly as one pass would code
/// those rows (same tables, DC prediction restarting), so the result decodes to the same
/// pixels. libjpeg-turbo cannot encode one stream from several threads, hence the join here.
pub(super) fn encode_in_bands(
    img: &DynamicImage,
    orientation: Orientation,
    quality: i32,
    subsamp: Subsamp,
    profile: Option<&[u8]>,
    threads: u32,
) -> Result<Rendition, ImageError> {
    let rgb;
    let (pixels, format, channels, subsamp) = match img {
        DynamicImage::ImageLuma8(g) => (g.as_raw().as_slice(), PixelFormat::GRAY, 1, Subsamp::Gray),
        DynamicImage::ImageRgb8(c) => (c.as_raw().as_slice(), PixelFormat::RGB, 3, subsamp),
        other => {
            rgb = other.to_rgb8();
            (rgb.as_raw().as_slice(), PixelFormat::RGB, 3, subsamp)
        }
    };
    let stored = (img.width() as usize, img.height() as usize);
    let (w, h) = orientation.upright(img.width(), img.height());
    let (w, h) = (w as usize, h as usize);
    let pitch = w * channels;
    // Optimised Huffman tables: ~8 % smaller, but twice the encode time at
    // display size, so only for the thumbnail (served most often).
    let optimise = w.max(h) <= THUMB_LONG_EDGE as usize;
    let compress = |rows: &[u8]| -> Result<Vec<u8>, ImageError> {
        let mut c = Compressor::new().map_err(internal)?;
        c.set_quality(quality).map_err(internal)?;
        c.set_subsamp(subsamp).map_err(internal)?;
        c.set_optimize(optimise).map_err(internal)?;
        let image = turbojpeg::Image {
            pixels: rows,
            width: w,
            pitch,
            height: rows.len() / pitch,
            format,
        };
        c.compress_to_vec(image).map_err(internal)
    };

    // Band `rows` of the upright picture, compressed.
    let samples = Samples::packed(pixels, stored, channels);
    let band = |rows: Range<usize>| -> Result<Vec<u8>, ImageError> {
        if orientation == Orientation::Normal {
            return compress(&pixels[rows.start * pitch..rows.end * pitch]);
        }
        let mut turned = super::pixel_buffer(rows.len() * pitch);
        orientation.turn_rows(samples, rows, &mut turned, pitch);
        compress(&turned)
    };

    // Bands are for sharing threads and for holding less of a turned copy: an upright picture on
    // one thread (a display copy) is coded in one pass.
    let banded = !optimise && (threads > 1 || orientation != Orientation::Normal);
    let bands = Bands::for_full_size(w, h, subsamp, threads).filter(|_| banded);
    let out = code_in_bands(bands, h, threads, &band)?;
    let bytes = match profile {
        Some(p) => icc::embed_in_jpeg(out, p)?,
        None => out,
    };
    Ok(Rendition::new(bytes, w as u32, h as u32, CONTENT_TYPE))
}

/// `band` coded for each of `bands`' row ranges of a picture `h` rows high, on up to `threads`
/// threads (each takes a run of consecutive bands), and joined ([`join_bands`]); one pass of
/// `band(0..h)` when there are no bands.
pub(super) fn code_in_bands(
    bands: Option<Bands>,
    h: usize,
    threads: u32,
    band: &(dyn Fn(Range<usize>) -> Result<Vec<u8>, ImageError> + Sync),
) -> Result<Vec<u8>, ImageError> {
    let Some(bands) = bands else {
        return band(0..h);
    };
    let ranges = bands.ranges(h);
    let coded = std::thread::scope(|scope| {
        let per_thread = ranges.len().div_ceil(threads.max(1) as usize);
        let mut groups = ranges.chunks(per_thread);
        let first = groups.next().unwrap_or_default();
        let others = groups
            .map(|group| scope.spawn(|| group.iter().map(|r| band(r.clone())).collect()))
            .collect::<Vec<_>>();
        let mut coded: Vec<Result<Vec<u8>, ImageError>> =
            first.iter().map(|r| band(r.clone())).collect();
        for handle in others {
            let more: Vec<_> = handle
                .join()
                .unwrap_or_else(|_| vec![Err(ImageError::Internal("a JPEG band panicked".into()))]);
            coded.extend(more);
        }
        coded.into_iter().collect::<Result<Vec<_>, _>>()
    })?;
    match join_bands(&coded, h, bands.interval) {
        Some(joined) => Ok(joined),
        // Not expected: the bands' headers differ. One pass is always right.
        None => band(0..h),
    }
}

/// Pixels a band of a full-size image holds at most (a few bytes each): enough bands that two
/// threads share them evenly and that little of a turned copy is held at once (a 20 MP photo
/// in one band a thread first touched 2 × 30 MB of turned pixels). Half a megapixel rather than
/// two: ~1,500 fewer pages first touched for a 12 MP photo, and the thread that codes the last
/// band keeps the other waiting a quarter as long.
pub(super) const BAND_PIXELS: usize = 500_000;

/// How [`encode_in_bands`] cuts a picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Bands {
    /// Pixel rows in every band but the last (a whole number of MCU rows).
    pub rows: usize,
    /// MCUs in every band but the last: the restart interval.
    pub interval: u16,
}

impl Bands {
    /// `count` bands (at least one a thread), or more where a band would pass the 65,535 MCUs a
    /// restart interval can count; `None` when there is nothing to share.
    pub(super) fn for_image(w: usize, h: usize, subsamp: Subsamp, count: u32) -> Option<Bands> {
        if subsamp == Subsamp::Unknown {
            return None;
        }
        let (mcu_w, mcu_h) = (subsamp.mcu_width(), subsamp.mcu_height());
        let (per_row, mcu_rows) = (w.div_ceil(mcu_w), h.div_ceil(mcu_h));
        if count < 2 || mcu_rows < 2 || per_row > usize::from(u16::MAX) {
            return None;
        }
        let mut count = count as usize;
        loop {
            let band = mcu_rows.div_ceil(count);
            if let Ok(interval) = u16::try_from(band * per_row) {
                return Some(Bands {
                    rows: band * mcu_h,
                    interval,
                });
            }
            count += 1;
        }
    }

    /// [`Bands::for_image`] with bands of [`BAND_PIXELS`] at most, so that a thread holds one
    /// band's turned pixels (or coefficients) at a time: a full-size copy's cut.
    pub(super) fn for_full_size(
        w: usize,
        h: usize,
        subsamp: Subsamp,
        threads: u32,
    ) -> Option<Bands> {
        let count = threads.max(u32::try_from((w * h).div_ceil(BAND_PIXELS)).unwrap_or(u32::MAX));
        Bands::for_image(w, h, subsamp, count)
    }

    /// The row ranges of a picture `h` rows high.
    pub(super) fn ranges(&self, h: usize) -> Vec<Range<usize>> {
        (0..h)
            .step_by(self.rows)
            .map(|start| start..(start + self.rows).min(h))
            .collect()
    }
}

/// One JPEG from libjpeg-turbo's codings of consecutive bands (same settings): the first
/// band's headers with the whole height and a DRI segment, then each band's entropy-coded data,
/// a restart marker between two. `None` if a band's headers are not the first's (other tables).
pub(super) fn join_bands(bands: &[Vec<u8>], height: usize, interval: u16) -> Option<Vec<u8>> {
    let parsed = bands
        .iter()
        .map(|b| parse_coded(b))
        .collect::<Option<Vec<_>>>()?;
    let (first, rest) = parsed.split_first()?;
    let same_tables = rest.iter().all(|band| {
        band.headers.len() == first.headers.len()
            && band.sos == first.sos
            && band.headers.iter().zip(&first.headers).all(|(a, b)| {
                // A frame header differs only in its height (bytes 5 and 6).
                if is_frame(a) {
                    a.len() == b.len() && a[..5] == b[..5] && a[7..] == b[7..]
                } else {
                    a == b
                }
            })
    });
    let height = u16::try_from(height).ok()?;
    if !same_tables {
        return None;
    }
    let size = bands.iter().map(Vec::len).sum::<usize>() + 8 * bands.len();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&[0xFF, 0xD8]);
    for segment in &first.headers {
        let start = out.len();
        out.extend_from_slice(segment);
        if is_frame(segment) {
            out[start + 5..start + 7].copy_from_slice(&height.to_be_bytes());
        }
    }
    out.extend_from_slice(&[0xFF, 0xDD, 0x00, 0x04]);
    out.extend_from_slice(&interval.to_be_bytes());
    out.extend_from_slice(first.sos);
    out.extend_from_slice(first.entropy);
    for (n, band) in rest.iter().enumerate() {
        out.extend_from_slice(&[0xFF, 0xD0 + (n % 8) as u8]);
        out.extend_from_slice(band.entropy);
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    Some(out)
}

/// A start-of-frame segment (baseline, extended or progressive Huffman).
fn is_frame(segment: &[u8]) -> bool {
    matches!(segment.get(1), Some(0xC0..=0xC2)) && segment.len() >= 7
}

/// The parts of a JPEG libjpeg-turbo wrote in one scan.
struct Coded<'a> {
    /// Every marker segment between SOI and SOS, marker included.
    headers: Vec<&'a [u8]>,
    sos: &'a [u8],
    /// Entropy-coded data: from after SOS to before EOI.
    entropy: &'a [u8],
}

fn parse_coded(bytes: &[u8]) -> Option<Coded<'_>> {
    if bytes.get(..2)? != [0xFF, 0xD8] || bytes.get(bytes.len().checked_sub(2)?..)? != [0xFF, 0xD9]
    {
        return None;
    }
    let mut headers = Vec::new();
    let mut i = 2;
    loop {
        if *bytes.get(i)? != 0xFF {
            return None;
        }
        let marker = *bytes.get(i + 1)?;
        let len = usize::from(u16::from_be_bytes([*bytes.get(i + 2)?, *bytes.get(i + 3)?]));
        let segment = bytes.get(i..i + 2 + len)?;
        i += 2 + len;
        match marker {
            0xDA => {
                return Some(Coded {
                    headers,
                    sos: segment,
                    entropy: bytes.get(i..bytes.len() - 2)?,
                })
            }
            // A stream that already restarts cannot take more restart markers.
            0xDD => return None,
            _ => headers.push(segment),
        }
    }
}

pub(super) fn decode_error(input: &[u8], e: turbojpeg::Error) -> ImageError {
    let msg = e.to_string();
    let has_eoi = input.windows(2).rev().any(|w| w == [0xFF, 0xD9]);
    if msg.contains("Premature end") || msg.contains("premature end") || !has_eoi {
        ImageError::Truncated(msg)
    } else {
        ImageError::Corrupt(msg)
    }
}

pub(super) fn dim(v: usize) -> Result<u32, ImageError> {
    u32::try_from(v).map_err(|_| ImageError::Corrupt(format!("dimension {v} out of range")))
}

pub(super) fn internal(e: impl std::fmt::Display) -> ImageError {
    ImageError::Internal(format!("libjpeg-turbo: {e}"))
}
