//! JPEG path, on libjpeg-turbo (through the `turbojpeg` crate).
//!
//! - Full size: a *lossless* transform of the DCT coefficients (the same as
//!   `jpegtran -copy none -perfect -rotate …`): the EXIF orientation is applied
//!   by moving DCT blocks, and no marker of the upload is copied (no APPn, COM,
//!   MPF, trailing data: libjpeg writes a fresh JFIF stream and stops at EOI).
//!   Re-encoding at 12 MP would cost a generation of quality and ~3× the time.
//!   When the rotation is not MCU-aligned (e.g. 4000×3000 4:2:0 turned 90°,
//!   whose partial 16-px block row cannot move to the left edge) we re-encode
//!   the full image at quality 95 with the source's chroma subsampling (the
//!   file grows by ~30 %) rather than trimming up to 15 px off the picture:
//!   from its own YCbCr planes (`planes`), in bands both threads share as they
//!   share the lossless turn's (`turn`). When the upload's ICC profile is not
//!   one we recognise and the pixels have to be converted (see `icc`), the
//!   re-encode goes through RGB instead: it waits for the display path, then
//!   turns and compresses bands on both threads ([`encode_in_bands`]).
//! - Display and thumbnail: decoded once at the smallest DCT scale (n/8) that
//!   still gives ≥ 1600 px on the long edge (1/2 for a 12 MP photo: 4× fewer
//!   pixels to decode), resized with Lanczos3, oriented, encoded; the thumbnail
//!   is made from the display pixels. For a lossless turn the display pixels are
//!   made from the DCT coefficients the turn reads on the other thread, row by row
//!   as they are read (`Turn::pixels`): the Huffman codes, the costliest step, are
//!   decoded once for both paths.

use std::time::{Duration, Instant};

use image::{DynamicImage, GrayImage, RgbImage};
use turbojpeg::{
    Colorspace, DecompressHeader, Decompressor, PixelFormat, ScalingFactor, Subsamp, Transform,
    Transformer,
};

use super::orient::Orientation;
use super::planes::{self, Planes};
use super::probe::Header;
use super::turbo::{decode_error, dim, encode_in_bands, internal, CONTENT_TYPE};
use super::turn::Turn;
use super::{icc, resize};
use super::{ImageError, Outputs, QualityWarning, Rendition, StageTimings};
use super::{DISPLAY_LONG_EDGE, FULL_REENCODE_JPEG_QUALITY};

/// Most progressive JPEGs have ≤ 12 scans; libjpeg-turbo's own tools use 500
/// as the limit against the "many tiny scans" CPU exhaustion attack.
const MAX_SCANS: u32 = 500;

/// Decodes with libjpeg-turbo and renders, from the probe's `header` (`jpeg`: what
/// libjpeg-turbo read of it).
pub(super) fn render(
    input: &[u8],
    header: &Header,
    jpeg: &DecompressHeader,
    grey: bool,
    t: &mut StageTimings,
) -> Result<Outputs, ImageError> {
    let clock = Instant::now();
    let (width, height) = (header.width, header.height);
    let channels = if grey { 1 } else { 3 };
    let colour = icc::Colour::for_profile(icc::from_jpeg(input).as_deref(), channels);
    t.sniff_header += clock.elapsed();

    let colour = &colour;
    let orientation = header.meta.orientation;
    let threads = header.threads();
    // The full size is turned in bands shared by both threads (`turn`): losslessly when the turn
    // keeps every pixel, else re-encoded from the picture's planes when it can be (`planes`).
    let (mcu_w, mcu_h) = (
        jpeg.subsamp.mcu_width() as u32,
        jpeg.subsamp.mcu_height() as u32,
    );
    let lossless = !colour.converts() && orientation.is_perfect_for(width, height, mcu_w, mcu_h);
    let turn = (lossless || from_planes(jpeg, grey, colour))
        .then(|| {
            let upright = orientation.upright(width, height);
            let upright = (upright.0 as usize, upright.1 as usize);
            Turn::plan(
                orientation,
                upright,
                orientation.upright_subsamp(jpeg.subsamp),
                threads,
            )
        })
        .flatten();
    let full_job = || {
        let clock = Instant::now();
        // The source first, whatever else happens: the display path waits for it in `work`.
        let read = |turn: &Turn| {
            if lossless {
                return turn.read(input);
            }
            turn.provide(|| {
                let planes = decode_planes(input, jpeg).ok()?;
                let encoder = planes::Encoder::new(planes, orientation, FULL_REENCODE_JPEG_QUALITY);
                Some(Box::new(encoder))
            })
        };
        let full = match &turn {
            Some(turn) if read(turn) => {
                turn.work();
                Ok(Full::Banded)
            }
            // Not taken, or a decode that failed: the one-pass way, which reports the error.
            _ => full_clean(input, jpeg, width, height, grey, orientation, colour),
        };
        (full, clock.elapsed())
    };
    // The display path makes its pixels from a lossless turn's coefficients as they are read.
    let coefs = turn.as_ref().filter(|_| lossless);
    let small_job = |t: &mut StageTimings, share: bool| {
        small_renditions(input, jpeg, grey, orientation, colour, share, coefs, t)
    };
    // The lossless transform and the display/thumbnail path are independent:
    // run them on two threads (halves the latency of a 12 MP photo) when the
    // probe counted two (`Header::threads`: baseline JPEGs, two cores).
    // Upright: the full size is its coded data copied (a few ms, done while the display path
    // decodes), so the second thread then makes the thumbnail and the quality checks beside the
    // display copy's encode (`share`).
    let upright = !colour.converts() && orientation == Orientation::Normal;
    let (small, (full, full_time)) = if threads < 2 {
        let small = small_job(t, false)?;
        (Ok(small), full_job())
    } else {
        std::thread::scope(|scope| {
            let handle = scope.spawn(full_job);
            let small = small_job(t, upright);
            // Done with its own work, the display path takes bands of the turn.
            if let (Some(turn), Ok(_)) = (&turn, &small) {
                turn.work();
            }
            let full = handle.join().unwrap_or_else(|_| {
                let e = ImageError::Corrupt("the lossless transform panicked".into());
                (Err(e), Duration::ZERO)
            });
            (small, full)
        })
    };
    let (display_r, thumb_r, warnings) = small?;
    // A re-encode runs once the display path is done, on as many threads as the render has.
    let clock = Instant::now();
    let full = match full? {
        Full::Banded => match turn.and_then(Turn::finish) {
            Some(bytes) => Full::Coded(coded_rendition(
                bytes,
                colour,
                orientation.upright(width, height),
            )?),
            // Not expected (a band failed): libjpeg-turbo's one-pass transform, or a re-encode.
            None => full_clean(input, jpeg, width, height, grey, orientation, colour)?,
        },
        other => other,
    };
    let full = match full {
        Full::Coded(rendition) => rendition,
        Full::Banded => return Err(ImageError::Internal("a banded turn left unjoined".into())),
        Full::Planes(planes) => coded_rendition(
            planes.encode_in_bands(orientation, FULL_REENCODE_JPEG_QUALITY, threads)?,
            colour,
            orientation.upright(width, height),
        )?,
        Full::Pixels(img, subsamp) => encode_in_bands(
            &img,
            orientation,
            FULL_REENCODE_JPEG_QUALITY,
            subsamp,
            colour.profile(),
            threads,
        )?,
    };
    t.full = full_time + clock.elapsed();

    Ok(Outputs {
        full,
        display: display_r,
        thumb: thumb_r,
        warnings,
    })
}

/// Display copy, thumbnail and quality warnings, from one decode at the
/// smallest DCT scale that still gives ≥ 1600 px: with `turn`, made from the coefficients its
/// lossless turn reads on the other thread ([`Turn::pixels`]).
#[allow(clippy::too_many_arguments)]
fn small_renditions(
    input: &[u8],
    header: &DecompressHeader,
    grey: bool,
    orientation: Orientation,
    colour: &icc::Colour,
    share: bool,
    turn: Option<&Turn>,
    t: &mut StageTimings,
) -> Result<(Rendition, Rendition, Vec<QualityWarning>), ImageError> {
    let (width, height) = (dim(header.width)?, dim(header.height)?);
    let clock = Instant::now();
    let factor = pick_scale(width.max(height), DISPLAY_LONG_EDGE);
    let scaled = header.scaled(factor);
    let scale = (factor.num() as u32, factor.denom() as u32);
    let size = (scaled.width, scaled.height);
    let decoded = match turn.and_then(|turn| turn.pixels(input, scale, grey, size)) {
        Some(pixels) => as_image(pixels, size, grey)?,
        None => {
            let mut dec = Decompressor::new().map_err(internal)?;
            dec.set_scaling_factor(factor).map_err(internal)?;
            dec.set_scan_limit(MAX_SCANS).map_err(internal)?;
            decompress(&mut dec, input, scaled.width, scaled.height, grey)?
        }
    };
    t.decode = clock.elapsed();

    // Resize in stored orientation, then orient (fewer pixels to turn).
    let clock = Instant::now();
    let (dw, dh) = resize::fit_long_edge(width, height, DISPLAY_LONG_EDGE);
    let (dw, dh) = (dw.min(decoded.width()), dh.min(decoded.height()));
    let mut display = resize::resize(&decoded, dw, dh)?;
    drop(decoded);
    // Colour conversion (rare, see icc.rs) at display size: fewer pixels.
    colour.apply(&mut display)?;
    orientation.apply(&mut display);
    t.display = clock.elapsed();
    let full = orientation.upright(width, height);
    super::from_display(&display, full, colour.profile(), share, t)
}

/// The full-size clean JPEG, or, when the coded data cannot be kept, the pixels it is to be
/// encoded from (as stored: the orientation is applied band by band as they are encoded) and
/// the chroma subsampling to encode them with.
enum Full {
    Coded(Rendition),
    /// Turned in bands by the threads' [`Turn::work`]; [`Turn::finish`] joins them.
    Banded,
    Pixels(DynamicImage, Subsamp),
    /// A YCbCr picture's planes, as stored: coded again by [`Planes::encode_in_bands`].
    Planes(Planes),
}

fn full_clean(
    input: &[u8],
    header: &DecompressHeader,
    width: u32,
    height: u32,
    grey: bool,
    orientation: Orientation,
    colour: &icc::Colour,
) -> Result<Full, ImageError> {
    let (mcu_w, mcu_h) = (
        header.subsamp.mcu_width() as u32,
        header.subsamp.mcu_height() as u32,
    );
    let (full_w, full_h) = orientation.upright(width, height);
    // Already upright: the coded data is kept as it is, only the markers that matter to a
    // decoder are copied (no Huffman decode or re-encode: most of the lossless path's cost).
    if !colour.converts() && orientation == Orientation::Normal {
        if let Some(out) = coded_data_only(input) {
            return Ok(Full::Coded(coded_rendition(out, colour, (full_w, full_h))?));
        }
    }
    // Pixels that need a colour conversion cannot stay DCT coefficients.
    if !colour.converts() && orientation.is_perfect_for(width, height, mcu_w, mcu_h) {
        let mut transform = Transform::op(orientation.transform_op());
        transform.perfect = true;
        transform.copy_none = true;
        let mut transformer = Transformer::new().map_err(internal)?;
        // A transform that only warns (e.g. stray bytes before EOI) falls
        // through to the re-encode below, which tolerates benign warnings.
        if let Ok(out) = transformer.transform_to_vec(&transform, input) {
            return Ok(Full::Coded(coded_rendition(out, colour, (full_w, full_h))?));
        }
    }
    // A YCbCr picture is turned and coded again on its own planes (`planes`), not through RGB.
    if from_planes(header, grey, colour) {
        return Ok(Full::Planes(decode_planes(input, header)?));
    }
    let mut dec = Decompressor::new().map_err(internal)?;
    dec.set_scan_limit(MAX_SCANS).map_err(internal)?;
    let mut img = decompress(&mut dec, input, header.width, header.height, grey)?;
    colour.apply(&mut img)?;
    // Keep the source's chroma subsampling (turned with the picture): the
    // chroma was already subsampled, so 4:4:4 would only make the file larger.
    let subsamp = match orientation.upright_subsamp(header.subsamp) {
        Subsamp::Unknown => Subsamp::None,
        s => s,
    };
    Ok(Full::Pixels(img, subsamp))
}

/// Whether a re-encoded full size is coded from the picture's own planes: YCbCr pixels kept
/// as they are, in a subsampling [`planes::takes`].
fn from_planes(header: &DecompressHeader, grey: bool, colour: &icc::Colour) -> bool {
    !grey
        && !colour.converts()
        && header.colorspace == Colorspace::YCbCr
        && planes::takes(header.subsamp)
}

fn decode_planes(input: &[u8], header: &DecompressHeader) -> Result<Planes, ImageError> {
    let mut dec = Decompressor::new().map_err(internal)?;
    dec.set_scan_limit(MAX_SCANS).map_err(internal)?;
    let mut planes = Planes::new(header.width, header.height, header.subsamp)?;
    decoded(input, dec.decompress_to_yuv(input, planes.image()))?;
    Ok(planes)
}

/// A full-size JPEG kept as coded data, with our copy of its colour profile.
fn coded_rendition(
    bytes: Vec<u8>,
    colour: &icc::Colour,
    (width, height): (u32, u32),
) -> Result<Rendition, ImageError> {
    let bytes = match colour.profile() {
        Some(p) => icc::embed_in_jpeg(bytes, p)?,
        None => bytes,
    };
    Ok(Rendition::new(bytes, width, height, CONTENT_TYPE))
}

/// The JPEG again with only what a decoder needs: SOI, the quantisation and Huffman tables,
/// the restart interval, the frame header, each scan header with its entropy-coded data, and
/// EOI. Every APPn (EXIF, XMP, ICC, MPF, maker notes, thumbnails), COM and byte after EOI is
/// dropped. `None` for anything this plain copy does not know to be safe (arithmetic coding,
/// lossless or hierarchical frames, DNL, stray bytes between markers, a truncated stream): the
/// lossless transform handles those. Written here because libjpeg-turbo has no "copy the
/// scans as they are" call and `img-parts` keeps entropy data only as opaque segments.
pub(super) fn coded_data_only(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    if input.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    out.extend_from_slice(&[0xFF, 0xD8]);
    let mut i = 2;
    let (mut frames, mut scans) = (0, 0);
    loop {
        if *input.get(i)? != 0xFF {
            return None;
        }
        // Fill bytes: any number of 0xFF before a marker.
        while *input.get(i + 1)? == 0xFF {
            i += 1;
        }
        let marker = *input.get(i + 1)?;
        if marker == 0xD9 {
            if frames != 1 || scans == 0 {
                return None;
            }
            out.extend_from_slice(&[0xFF, 0xD9]);
            return Some(out);
        }
        let len = usize::from(u16::from_be_bytes([*input.get(i + 2)?, *input.get(i + 3)?]));
        if len < 2 {
            return None;
        }
        let segment = input.get(i..i + 2 + len)?;
        i += 2 + len;
        match marker {
            // Baseline, extended and progressive Huffman frames.
            0xC0..=0xC2 => {
                frames += 1;
                out.extend_from_slice(segment);
            }
            0xC4 | 0xDB | 0xDD => out.extend_from_slice(segment),
            0xE0..=0xEF | 0xFE => {}
            0xDA => {
                if frames != 1 {
                    return None;
                }
                scans += 1;
                out.extend_from_slice(segment);
                // Entropy-coded data runs to the next marker that is not a stuffed 0xFF00
                // or a restart marker.
                let start = i;
                loop {
                    if *input.get(i)? == 0xFF {
                        let next = *input.get(i + 1)?;
                        if next != 0x00 && !(0xD0..=0xD7).contains(&next) && next != 0xFF {
                            break;
                        }
                    }
                    i += 1;
                }
                out.extend_from_slice(&input[start..i]);
            }
            _ => return None,
        }
    }
}

/// Smallest n/8 scale whose result still has `long_edge ≥ target` (or 1/1).
fn pick_scale(long_edge: u32, target: u32) -> ScalingFactor {
    (1..=8)
        .map(|n| ScalingFactor::new(n, 8))
        .find(|f| f.scale(long_edge as usize) >= target as usize)
        .unwrap_or(ScalingFactor::ONE)
}

fn decompress(
    dec: &mut Decompressor,
    input: &[u8],
    w: usize,
    h: usize,
    grey: bool,
) -> Result<DynamicImage, ImageError> {
    let (format, channels) = if grey {
        (PixelFormat::GRAY, 1)
    } else {
        (PixelFormat::RGB, 3)
    };
    let len = w
        .checked_mul(h)
        .and_then(|n| n.checked_mul(channels))
        .ok_or_else(|| ImageError::Internal("size overflow".into()))?;
    let mut pixels = super::pixel_buffer(len);
    let image = turbojpeg::Image {
        pixels: pixels.as_mut_slice(),
        width: w,
        pitch: w * channels,
        height: h,
        format,
    };
    decoded(input, dec.decompress(input, image))?;
    as_image(pixels, (w, h), grey)
}

/// Decoded pixels, `width` × `height`, grey or RGB, as an image.
fn as_image(
    pixels: Vec<u8>,
    (w, h): (usize, usize),
    grey: bool,
) -> Result<DynamicImage, ImageError> {
    let (w, h) = (dim(w)?, dim(h)?);
    let img = if grey {
        GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8)
    } else {
        RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8)
    };
    img.ok_or_else(|| ImageError::Internal("decoded buffer size mismatch".into()))
}

/// A decode's outcome: libjpeg-turbo reports warnings as errors too, with the image decoded.
fn decoded(input: &[u8], outcome: Result<(), turbojpeg::Error>) -> Result<(), ImageError> {
    match outcome {
        Err(e) if !is_benign_warning(&e) => Err(decode_error(input, e)),
        _ => Ok(()),
    }
}

/// Warnings libjpeg-turbo emits on files phones and editors really produce,
/// with the image fully decoded.
fn is_benign_warning(e: &turbojpeg::Error) -> bool {
    let msg = e.to_string();
    msg.contains("extraneous bytes before marker")
        || msg.contains("unknown JFIF revision")
        || msg.contains("Invalid SOS parameters for sequential JPEG")
}
