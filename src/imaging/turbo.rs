//! libjpeg-turbo as both paths use it: the JPEG encoder of every JPEG rendition, and how its
//! errors read as [`ImageError`]s (from the header in [`probe`](super::probe) to the decode in
//! [`jpeg`](super::jpeg)).

use image::DynamicImage;
use turbojpeg::{Compressor, PixelFormat, Subsamp};

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
    let rgb;
    let (pixels, format, channels, subsamp) = match img {
        DynamicImage::ImageLuma8(g) => (g.as_raw().as_slice(), PixelFormat::GRAY, 1, Subsamp::Gray),
        DynamicImage::ImageRgb8(c) => (c.as_raw().as_slice(), PixelFormat::RGB, 3, subsamp),
        other => {
            rgb = other.to_rgb8();
            (rgb.as_raw().as_slice(), PixelFormat::RGB, 3, subsamp)
        }
    };
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut c = Compressor::new().map_err(internal)?;
    c.set_quality(quality).map_err(internal)?;
    c.set_subsamp(subsamp).map_err(internal)?;
    // Optimised Huffman tables: ~8 % smaller, but twice the encode time at
    // display size, so only for the thumbnail (served most often).
    c.set_optimize(img.width().max(img.height()) <= THUMB_LONG_EDGE)
        .map_err(internal)?;
    let image = turbojpeg::Image {
        pixels,
        width: w,
        pitch: w * channels,
        height: h,
        format,
    };
    let out = c.compress_to_vec(image).map_err(internal)?;
    let bytes = match profile {
        Some(p) => icc::embed_in_jpeg(out, p)?,
        None => out,
    };
    Ok(Rendition::new(
        bytes,
        img.width(),
        img.height(),
        CONTENT_TYPE,
    ))
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
