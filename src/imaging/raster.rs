//! PNG and WebP (and CMYK JPEG) path, on the `image` crate's decoders (pure
//! Rust: png, image-webp, zune-jpeg) with `image::Limits`.
//!
//! Every output is re-encoded from the decoded pixels, so no chunk of the
//! upload (tEXt/zTXt/iTXt, eXIf, tIME, XMP, WebP EXIF/XMP, trailing bytes) can
//! survive. Full-size format: PNG when the source is lossless (PNG, lossless
//! WebP, or anything with transparency), so a lossless upload (screenshots of
//! dermatoscope software, exports) is not degraded; JPEG at quality 95, 4:4:4,
//! when the source was lossy anyway (lossy WebP, CMYK JPEG), where PNG would
//! be 5–10× larger for no gain. WebP is not used as an output: e-RS and many
//! clinical systems do not accept it.

use std::io::Cursor;
use std::time::Instant;

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageFormat, ImageReader};
use turbojpeg::Subsamp;

use super::orient::Orientation;
use super::probe::Header;
use super::turbo::encode_rendition;
use super::{icc, resize};
use super::{ImageError, Limits, Outputs, PhotoFormat, Rendition, StageTimings};
use super::{DISPLAY_LONG_EDGE, FULL_REENCODE_JPEG_QUALITY};

/// Decodes with the `image` crate and renders, from the probe's `header` (its dimensions
/// already checked against `limits`); `lossless_source`: PNG or lossless WebP.
pub(super) fn render(
    input: &[u8],
    header: &Header,
    lossless_source: bool,
    limits: &Limits,
    t: &mut StageTimings,
) -> Result<Outputs, ImageError> {
    let clock = Instant::now();
    let (format, header_dims) = (header.format, (header.width, header.height));
    let image_format = match format {
        PhotoFormat::Png => ImageFormat::Png,
        PhotoFormat::WebP => ImageFormat::WebP,
        PhotoFormat::Jpeg => ImageFormat::Jpeg,
        PhotoFormat::Heic | PhotoFormat::Avif => {
            return Err(ImageError::Internal(format!(
                "{format:?} sent to the image crate"
            )))
        }
    };
    let mut reader = ImageReader::with_format(Cursor::new(input), image_format);
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_dimension);
    image_limits.max_image_height = Some(limits.max_dimension);
    image_limits.max_alloc = Some(limits.max_decoder_alloc());
    reader.limits(image_limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| decode_error(input, format, header_dims, e))?;
    let (w, h) = decoder.dimensions();
    limits.check_dimensions(w, h)?;
    let raw_profile = decoder.icc_profile().ok().flatten();
    t.sniff_header += clock.elapsed();

    let clock = Instant::now();
    let decoded = DynamicImage::from_decoder(decoder)
        .map_err(|e| decode_error(input, format, header_dims, e))?;
    // 8 bits per channel, grey / RGB / RGBA. 16-bit precision is not needed
    // to look at skin and no display shows it.
    let (img, has_alpha) = to_8_bit(decoded);
    render_pixels(
        img,
        has_alpha,
        raw_profile.as_deref(),
        header.meta.orientation,
        lossless_source,
        clock,
        t,
    )
}

/// Narrows decoded pixels to 8 bits a sample, grey, RGB or RGBA; an alpha channel that is
/// fully opaque is dropped. Returns the pixels and whether they keep an alpha channel.
fn to_8_bit(decoded: DynamicImage) -> (DynamicImage, bool) {
    let has_alpha = decoded.color().has_alpha() && !fully_opaque(&decoded);
    let img = match (decoded.color().has_color(), has_alpha) {
        (false, false) => DynamicImage::ImageLuma8(decoded.to_luma8()),
        (true, false) => DynamicImage::ImageRgb8(decoded.to_rgb8()),
        (_, true) => DynamicImage::ImageRgba8(decoded.to_rgba8()),
    };
    (img, has_alpha)
}

/// Renders pixels another decoder made, upright already (HEIF: libheif applied its
/// transforms, and EXIF orientation inside a HEIF is not applied on top).
pub(super) fn render_decoded(
    img: DynamicImage,
    raw_profile: Option<&[u8]>,
    orientation: Orientation,
    decode_started: Instant,
    t: &mut StageTimings,
) -> Result<Outputs, ImageError> {
    let (img, has_alpha) = to_8_bit(img);
    render_pixels(
        img,
        has_alpha,
        raw_profile,
        orientation,
        false,
        decode_started,
        t,
    )
}

/// Renders decoded 8-bit pixels (grey, RGB, or RGBA when `has_alpha`), as stored: applies
/// `orientation`, the colour meaning of `raw_profile` (the upload's ICC profile, see
/// [`icc`]), and makes the three renditions and the quality checks. Shared by the `image`
/// crate's formats and libheif's ([`heif`](super::heif)); `decode_started` is when decoding
/// began, for [`StageTimings::decode`].
pub(super) fn render_pixels(
    mut img: DynamicImage,
    has_alpha: bool,
    raw_profile: Option<&[u8]>,
    orientation: Orientation,
    lossless_source: bool,
    decode_started: Instant,
    t: &mut StageTimings,
) -> Result<Outputs, ImageError> {
    orientation.apply(&mut img);
    let channels = img.color().channel_count();
    let colour = icc::Colour::for_profile(raw_profile, channels);
    // Every rendition is made from these pixels: convert once, at full size.
    colour.apply(&mut img)?;
    let profile = colour.profile();
    t.decode = decode_started.elapsed();

    let clock = Instant::now();
    let full = if lossless_source || has_alpha {
        encode_png(&img, profile)?
    } else {
        encode_rendition(&img, FULL_REENCODE_JPEG_QUALITY, Subsamp::None, profile)?
    };
    t.full = clock.elapsed();

    let clock = Instant::now();
    // JPEG renditions: transparent areas become white.
    let opaque = if has_alpha {
        flatten_on_white(&img)
    } else {
        img
    };
    let (full_w, full_h) = (opaque.width(), opaque.height());
    let (dw, dh) = resize::fit_long_edge(full_w, full_h, DISPLAY_LONG_EDGE);
    let display = resize::resize(&opaque, dw, dh)?;
    drop(opaque);
    t.display = clock.elapsed();
    let (display_r, thumb_r, warnings) =
        super::from_display(&display, (full_w, full_h), profile, false, t)?;

    Ok(Outputs {
        full,
        display: display_r,
        thumb: thumb_r,
        warnings,
    })
}

fn encode_png(img: &DynamicImage, profile: Option<&[u8]>) -> Result<Rendition, ImageError> {
    let mut out = Vec::new();
    // Fast (fdeflate) compression: ~10× quicker than the default on photos for
    // files ~10 % larger.
    let mut encoder =
        PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive);
    if let Some(p) = profile {
        // Cannot fail for a PNG encoder that has not written anything yet.
        let _ = encoder.set_icc_profile(p.to_vec());
    }
    encoder
        .write_image(
            img.as_bytes(),
            img.width(),
            img.height(),
            img.color().into(),
        )
        .map_err(|e| ImageError::Internal(format!("PNG encoder: {e}")))?;
    Ok(Rendition::new(out, img.width(), img.height(), "image/png"))
}

fn fully_opaque(img: &DynamicImage) -> bool {
    match img {
        DynamicImage::ImageRgba8(i) => i.pixels().all(|p| p.0[3] == 255),
        DynamicImage::ImageLumaA8(i) => i.pixels().all(|p| p.0[1] == 255),
        DynamicImage::ImageRgba16(i) => i.pixels().all(|p| p.0[3] == u16::MAX),
        DynamicImage::ImageLumaA16(i) => i.pixels().all(|p| p.0[1] == u16::MAX),
        DynamicImage::ImageRgba32F(i) => i.pixels().all(|p| p.0[3] >= 1.0),
        _ => true,
    }
}

fn flatten_on_white(img: &DynamicImage) -> DynamicImage {
    let mut rgb = image::RgbImage::new(img.width(), img.height());
    let rgba = img.to_rgba8();
    for (dst, src) in rgb.pixels_mut().zip(rgba.pixels()) {
        let a = u32::from(src.0[3]);
        for c in 0..3 {
            dst.0[c] = ((u32::from(src.0[c]) * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    DynamicImage::ImageRgb8(rgb)
}

fn decode_error(
    input: &[u8],
    format: PhotoFormat,
    (width, height): (u32, u32),
    e: image::ImageError,
) -> ImageError {
    use image::error::ImageError as E;
    match e {
        // The header dimensions passed our checks, so the decoder found the
        // image needs more than it said (or more memory than allowed).
        E::Limits(_) => ImageError::TooManyPixels { width, height },
        E::Unsupported(u) => ImageError::Corrupt(format!("{format:?} feature not supported: {u}")),
        other => {
            let msg = other.to_string();
            let eof = matches!(&other, E::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof)
                || msg.to_ascii_lowercase().contains("eof")
                || msg.to_ascii_lowercase().contains("end of file")
                || !has_end_marker(input, format);
            if eof {
                ImageError::Truncated(msg)
            } else {
                ImageError::Corrupt(msg)
            }
        }
    }
}

fn has_end_marker(input: &[u8], format: PhotoFormat) -> bool {
    match format {
        PhotoFormat::Png => input.windows(4).rev().any(|w| w == b"IEND"),
        PhotoFormat::Jpeg => input.windows(2).rev().any(|w| w == [0xFF, 0xD9]),
        PhotoFormat::WebP | PhotoFormat::Heic | PhotoFormat::Avif => true,
    }
}
