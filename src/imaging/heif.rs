//! HEIC and AVIF path, on libheif (the system library, Debian's `libheif1`, through the
//! `libheif-rs` binding): HEVC or AV1 stills in HEIF, the iPhone's default format.
//!
//! - The probe ([`read_header`]) parses the file's boxes and reads the primary image's size,
//!   depth and alpha from them: nothing is decoded, so the limits and the decode budget are
//!   applied before any pixel memory is taken.
//! - [`render`] decodes the primary image only, asking libheif for interleaved 8-bit RGB (or
//!   RGBA): libheif converts YCbCr to RGB, maps 10- and 12-bit images to 8 bits, and applies
//!   the HEIF transforms (clean aperture, `irot` rotation, `imir` mirror) so the pixels come
//!   out upright. The EXIF orientation some files also carry is not applied on top (see the
//!   probe). Then the pixels go through the same rendering as PNG and WebP
//!   (`raster::render_decoded`): the full size is re-encoded as JPEG at quality 95, 4:4:4
//!   (a HEIC cannot be kept losslessly in a format clinical systems accept), PNG if it has
//!   transparency.
//!
//! Nothing of the container reaches an output: EXIF, XMP, the depth map, auxiliary images
//! (HDR gain maps, mattes) and the embedded thumbnails are never decoded or read; only the
//! ICC profile is read, for its colour meaning (see [`icc`](super::icc)).

use std::sync::OnceLock;
use std::time::Instant;

use image::{DynamicImage, RgbImage, RgbaImage};
use libheif_rs::{
    color_profile_types, ColorProfile as _, ColorSpace, HeifContext, HeifError, HeifErrorCode,
    HeifErrorSubCode, ImageHandle, LibHeif, RgbChroma,
};

use super::{ImageError, StageTimings};

/// libheif, initialised once for the process (`heif_init` loads its codecs).
fn lib() -> &'static LibHeif {
    static LIB: OnceLock<LibHeif> = OnceLock::new();
    LIB.get_or_init(LibHeif::new)
}

/// What the probe reads of the primary image, from the boxes alone.
#[derive(Debug, Clone, Copy)]
pub(super) struct HeifHeader {
    /// As shown: after the clean-aperture crop and the rotation.
    pub width: u32,
    pub height: u32,
    /// As coded (`ispe`): what the decoder allocates before cropping and rotating. The shown
    /// size when the file has no `ispe` (never in a valid file).
    pub coded_width: u32,
    pub coded_height: u32,
    /// Bits per luma sample (8, 10 or 12).
    pub bit_depth: u8,
    pub alpha: bool,
}

/// The primary image's header; nothing is decoded.
pub(super) fn read_header(input: &[u8]) -> Result<HeifHeader, ImageError> {
    let _ = lib();
    let ctx = HeifContext::read_from_bytes(input).map_err(heif_error)?;
    let handle = ctx.primary_image_handle().map_err(heif_error)?;
    let (width, height) = (handle.width(), handle.height());
    let positive = |v: i32| u32::try_from(v).ok().filter(|v| *v > 0);
    let (coded_width, coded_height) = match (
        positive(handle.ispe_width()),
        positive(handle.ispe_height()),
    ) {
        (Some(w), Some(h)) => (w, h),
        _ => (width, height),
    };
    Ok(HeifHeader {
        width,
        height,
        coded_width,
        coded_height,
        bit_depth: handle.luma_bits_per_pixel(),
        alpha: handle.has_alpha_channel(),
    })
}

/// Decodes the primary image with libheif, upright, 8 bits a sample: its pixels, its ICC
/// profile, and when decoding began. `width`×`height` is what the probe read (already checked
/// against the limits); `raster::render_decoded` makes the renditions.
pub(super) fn decode(
    input: &[u8],
    width: u32,
    height: u32,
    alpha: bool,
    t: &mut StageTimings,
) -> Result<(DynamicImage, Option<Vec<u8>>, Instant), ImageError> {
    let clock = Instant::now();
    let mut ctx = HeifContext::read_from_bytes(input).map_err(heif_error)?;
    // One thread, as the probe counted (`Header::threads`): grid images would otherwise decode
    // their tiles on several.
    ctx.set_max_decoding_threads(1);
    let handle = ctx.primary_image_handle().map_err(heif_error)?;
    if (handle.width(), handle.height()) != (width, height) {
        return Err(ImageError::Corrupt(format!(
            "HEIF header read {width}×{height}, then {}×{}",
            handle.width(),
            handle.height()
        )));
    }
    let raw_profile = icc_profile(&handle);
    t.sniff_header += clock.elapsed();

    let clock = Instant::now();
    // libheif's default decoding options: the transforms (clean aperture, irot, imir) are
    // applied, which is what makes the image upright. No options are passed: libheif-rs 0.20
    // frees a `DecodingOptions` before libheif reads it (a use-after-free fixed in 1.0.1,
    // which needs libheif 1.17), and the defaults are what we want. Interleaved RGB is 8 bits
    // a sample whatever the source depth: libheif maps 10/12-bit images to 8 bits.
    let chroma = if alpha {
        RgbChroma::Rgba
    } else {
        RgbChroma::Rgb
    };
    let decoded = lib()
        .decode(&handle, ColorSpace::Rgb(chroma), None)
        .map_err(heif_error)?;
    let (w, h) = (decoded.width(), decoded.height());
    if (w, h) != (width, height) {
        return Err(ImageError::Corrupt(format!(
            "HEIF decoded to {w}×{h}, its header says {width}×{height}"
        )));
    }
    let plane = decoded
        .planes()
        .interleaved
        .ok_or_else(|| ImageError::Internal("libheif gave no interleaved plane".into()))?;
    // 8 bits a sample (`bits_per_pixel` is per sample for an interleaved plane), 3 or 4
    // samples a pixel.
    let storage = if alpha { 32 } else { 24 };
    if plane.bits_per_pixel != 8 || plane.storage_bits_per_pixel != storage {
        return Err(ImageError::Internal(format!(
            "libheif gave {}-bit samples, {} bits a pixel",
            plane.bits_per_pixel, plane.storage_bits_per_pixel
        )));
    }
    let channels = if alpha { 4 } else { 3 };
    let row = w as usize * channels;
    let mut pixels = Vec::with_capacity(row * h as usize);
    for y in 0..h as usize {
        let start = y * plane.stride;
        let line = plane
            .data
            .get(start..start + row)
            .ok_or_else(|| ImageError::Internal("libheif plane shorter than its size".into()))?;
        pixels.extend_from_slice(line);
    }
    drop(decoded);
    drop(handle);
    drop(ctx);
    let img = if alpha {
        DynamicImage::ImageRgba8(
            RgbaImage::from_raw(w, h, pixels)
                .ok_or_else(|| ImageError::Internal("RGBA buffer size".into()))?,
        )
    } else {
        DynamicImage::ImageRgb8(
            RgbImage::from_raw(w, h, pixels)
                .ok_or_else(|| ImageError::Internal("RGB buffer size".into()))?,
        )
    };
    Ok((img, raw_profile, clock))
}

/// The ICC profile of the primary image (`colr` box of type `prof` or `rICC`), if any. An
/// `nclx` colour box (code points, no profile) is taken as sRGB, as the JPEG path takes a
/// JPEG without a profile.
fn icc_profile(handle: &ImageHandle) -> Option<Vec<u8>> {
    let profile = handle.color_profile_raw()?;
    let kind = profile.profile_type();
    (kind == color_profile_types::PROF || kind == color_profile_types::R_ICC)
        .then_some(profile.data)
}

/// libheif's error as one of ours. A box or item whose data runs past the end of the file is
/// an interrupted upload; any other refusal of the file is damage.
fn heif_error(e: HeifError) -> ImageError {
    let msg = e.to_string();
    match (e.code, e.sub_code) {
        (_, HeifErrorSubCode::EndOfData) => ImageError::Truncated(msg),
        (HeifErrorCode::MemoryAllocationError, _)
        | (_, HeifErrorSubCode::SecurityLimitExceeded) => {
            ImageError::Corrupt(format!("beyond libheif's limits: {msg}"))
        }
        (HeifErrorCode::UsageError | HeifErrorCode::ContextCreateFailed, _) => {
            ImageError::Internal(msg)
        }
        _ => ImageError::Corrupt(msg),
    }
}
