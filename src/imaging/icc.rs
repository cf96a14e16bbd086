//! The ICC colour profile: the only thing carried over from the upload.
//!
//! Decision: **keep** a well-formed RGB (or grey) display/input profile
//! unchanged in all three renditions, rather than dropping it or converting
//! to sRGB.
//! - It is colour data, not capture metadata: phones embed a stock profile
//!   (iPhone: Apple's "Display P3", Android: sRGB or Display P3), identical on
//!   millions of devices, with no serial, date or place.
//! - Dropping it would make a Display P3 photo render as if it were sRGB:
//!   skin and erythema look duller and shifted, which matters clinically.
//! - Converting to sRGB would clip exactly the saturated reds that lie outside
//!   sRGB (inflamed skin, vascular lesions), and the full-size JPEG could no
//!   longer be produced losslessly from the DCT coefficients.
//! - Browsers and OS viewers are colour-managed, so a tagged image shows
//!   correctly everywhere the consultant will look at it.
//!
//! A profile that fails the structural checks below (wrong signature, size
//! mismatch, CMYK/Lab, oversized) is dropped and the image is treated as
//! sRGB, which is what every viewer does with an untagged image.

use bytes::Bytes;
use img_parts::jpeg::Jpeg;
use img_parts::ImageICC;

use super::ImageError;

/// Stock camera and display profiles are 0.5–4 KB; LUT-based RGB profiles can
/// reach ~100 KB. Anything larger is not a camera profile.
const MAX_ICC_BYTES: usize = 256 * 1024;

/// Returns the profile if it is a structurally valid ICC profile whose data
/// colour space matches the pixels (`channels` = 1 for grey, 3/4 for RGB).
/// This only checks the fixed 128-byte header; the profile is never
/// interpreted by us (colour-managed viewers, which parse it, are fuzzed
/// against hostile profiles).
pub(super) fn sanitize(profile: &[u8], channels: u8) -> Option<Vec<u8>> {
    if profile.len() < 132 || profile.len() > MAX_ICC_BYTES {
        return None;
    }
    let be32 = |at: usize| {
        u32::from_be_bytes([
            profile[at],
            profile[at + 1],
            profile[at + 2],
            profile[at + 3],
        ])
    };
    if be32(0) as usize != profile.len() || &profile[36..40] != b"acsp" {
        return None;
    }
    let class = &profile[12..16];
    if !matches!(class, b"mntr" | b"scnr" | b"spac") {
        return None;
    }
    let space_ok = match channels {
        1 => &profile[16..20] == b"GRAY",
        3 | 4 => &profile[16..20] == b"RGB ",
        _ => false,
    };
    // The tag table must fit inside the profile.
    let tag_count = be32(128) as usize;
    if !space_ok
        || tag_count == 0
        || tag_count.saturating_mul(12).saturating_add(132) > profile.len()
    {
        return None;
    }
    Some(profile.to_vec())
}

/// Reassembles the ICC profile from a JPEG's APP2 "ICC_PROFILE" segments.
pub(super) fn from_jpeg(input: &[u8]) -> Option<Vec<u8>> {
    let jpeg = Jpeg::from_bytes(Bytes::copy_from_slice(input)).ok()?;
    jpeg.icc_profile().map(|b| b.to_vec())
}

/// Inserts the profile as APP2 segments into a JPEG we have just written
/// (which has no other APPn segment than JFIF).
pub(super) fn embed_in_jpeg(jpeg: Vec<u8>, profile: &[u8]) -> Result<Vec<u8>, ImageError> {
    let mut parsed = Jpeg::from_bytes(Bytes::from(jpeg))
        .map_err(|e| ImageError::Internal(format!("re-reading our own JPEG: {e}")))?;
    parsed.set_icc_profile(Some(Bytes::copy_from_slice(profile)));
    Ok(parsed.encoder().bytes().to_vec())
}
