//! Colour: what the renditions' pixels mean, and the ICC profile that says so.
//!
//! Decision: **no byte of the uploaded profile is ever stored.** An ICC
//! profile is a container of tagged data: besides the colour description it
//! carries free text (description, copyright, device maker/model, viewing
//! conditions), dates, and any number of private tags that no viewer reads.
//! Keeping a "valid" profile verbatim let text such as an NHS number ride
//! inside every stored photo. So we read the profile for its *colour
//! meaning* only, and write our own:
//!
//! - **Recognised** RGB profile: sRGB, Display P3 (iPhones, many Androids) or
//!   Adobe RGB (1998) (cameras, editors). The profile is parsed with `moxcms`
//!   (already compiled in: the `image` crate depends on it) and recognised by
//!   what it does, not by its bytes or name: a pure matrix/TRC profile (no
//!   LUT tags, XYZ connection space) whose three colorants (the primaries,
//!   chromatically adapted to D50, which also fixes the white point as their
//!   sum) are within 0.002 of the reference, and whose three tone curves map
//!   every 8-bit code to within one code of the reference curve. The pixels
//!   are kept as they are (the full-size JPEG stays a lossless transform) and
//!   the renditions carry **our own copy** of that profile (see
//!   [`Space::profile`]: ~0.5 KB, built from the published primaries, with
//!   the colour space's name as the only text, a fixed date and no private
//!   tag). Replacing it changes no pixel's colour by more than one code.
//!   The media white point tag is not compared: it only serves absolute
//!   colorimetric rendering, which viewers do not use for photos.
//!   An sRGB-tagged photo keeps an sRGB tag (rather than none) because a
//!   viewer that only manages tagged images (Firefox by default) would show
//!   an untagged one over-saturated on a wide-gamut screen.
//! - **Unrecognised** but usable RGB profile (a camera's or editor's own,
//!   ProPhoto, a pure gamma 2.2 "sRGB", a LUT-based profile): the pixels are
//!   converted with `moxcms` (perceptual intent, which for a matrix profile
//!   is the same as relative colorimetric, and is what browsers use for an
//!   image's LUT profile) to **sRGB** when the profile's primaries lie inside
//!   sRGB, else to **Display P3**, so that saturated reds (inflamed skin,
//!   vascular lesions) beyond sRGB are not clipped; the renditions carry our
//!   profile of the target. The full-size JPEG cannot then be a lossless
//!   transform: it is decoded, converted and re-encoded at quality 95 (rare:
//!   phones write sRGB or Display P3).
//! - **Grey** profile on a grey image: its tone curve is applied to the grey
//!   codes (a 256-entry table) so that they follow the sRGB curve, which is
//!   what every viewer assumes for an untagged grey image, and no profile is
//!   stored. A grey profile whose curve already is sRGB's (within one code)
//!   changes nothing; otherwise the full-size JPEG is re-encoded.
//! - Anything else (a profile failing the structural checks, CMYK/Lab, a
//!   colour space that does not match the pixels, a profile `moxcms` cannot
//!   parse or build a transform from, more than 256 KB) is dropped and the
//!   pixels are taken as sRGB, as every viewer does with an untagged image.
//!
//! Why not convert everything to sRGB? It would clip exactly the saturated
//! reds that lie outside sRGB, and the full-size JPEG of every iPhone photo
//! could no longer be made losslessly from its DCT coefficients. Why not keep
//! the upload's profile after stripping its text tags? Whatever we keep of
//! it (curve tables, LUTs, private tags we don't know) can carry arbitrary
//! bytes; our own copies carry none. Why our own writer rather than
//! `moxcms`'s `encode`? That one stamps the current time into the header and
//! writes the Bradford cone matrix as the `chad` tag; ours is a fixed ~100
//! lines whose output exiftool, moxcms and lcms2 all read as the published
//! colorants (tests: `our_icc_profiles_…`, and
//! `renditions_look_the_same_as_the_upload_to_lcms`, where lcms2 renders
//! every rendition to sRGB as it renders the upload).
//!
//! Cost: no profile, nothing new (an `Option` check). A recognised profile:
//! parse + compare, ~55 µs per photo measured in a debug build, where this
//! comparison runs unoptimised (`tests.rs`, `icc_check_cost`), against
//! 50–150 ms for the whole photo. An unrecognised one: ~0.5 ms (debug) to
//! build the transform, then the conversion of every pixel and, for a JPEG, the
//! full-size re-encode.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use image::DynamicImage;
use img_parts::jpeg::Jpeg;
use img_parts::ImageICC;
use moxcms::{
    ColorProfile, DataColorSpace, Layout, ParsingOptions, ProfileClass, RenderingIntent,
    ToneReprCurve, Transform8BitExecutor, TransformOptions,
};

use super::ImageError;

/// Stock camera and display profiles are 0.5–4 KB; LUT-based RGB profiles can
/// reach ~100 KB. Anything larger is not a camera profile.
const MAX_ICC_BYTES: usize = 256 * 1024;

/// Largest difference, per XYZ component, between a profile's colorant and
/// the reference one for it to count as that colour space. Vendors' copies of
/// sRGB / Display P3 / Adobe RGB differ from each other by < 0.0005 (rounding
/// of D65 and of the adaptation); the nearest other space is > 0.05 away.
const COLORANT_TOLERANCE: f64 = 0.002;

/// Largest difference, in 8-bit codes, between what a profile's tone curve
/// and the reference curve make of any code.
const CURVE_TOLERANCE_CODES: f64 = 1.0;

// ───────────────────────────── our profiles ─────────────────────────────

/// The RGB colour spaces whose profile we carry (as our own copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Space {
    Srgb,
    DisplayP3,
    AdobeRgb,
}

/// How a colour space's 8-bit codes map to linear light.
#[derive(Debug, Clone, Copy)]
enum Curve {
    /// IEC 61966-2-1 (also Display P3's).
    Srgb,
    /// A pure power law.
    Gamma(f64),
}

impl Curve {
    /// Linear light → code (0–1).
    fn encode(self, linear: f64) -> f64 {
        let l = linear.clamp(0.0, 1.0);
        match self {
            Curve::Srgb if l <= 0.04045 / 12.92 => l * 12.92,
            Curve::Srgb => 1.055 * l.powf(1.0 / 2.4) - 0.055,
            Curve::Gamma(g) => l.powf(1.0 / g),
        }
    }
}

/// D65 white, as chromaticity (x, y).
const D65: [f64; 2] = [0.3127, 0.3290];
/// The ICC connection space's white (D50), exactly as the ICC spec encodes
/// it (0x0000F6D6, 0x00010000, 0x0000D32D).
const D50_XYZ: [f64; 3] = [63190.0 / 65536.0, 1.0, 54061.0 / 65536.0];

impl Space {
    pub(super) const ALL: [Space; 3] = [Space::Srgb, Space::DisplayP3, Space::AdobeRgb];

    /// The only text in our profile.
    pub(super) fn name(self) -> &'static str {
        match self {
            Space::Srgb => "sRGB",
            Space::DisplayP3 => "Display P3",
            Space::AdobeRgb => "Adobe RGB (1998)",
        }
    }

    /// Red, green, blue chromaticities (x, y); all three have a D65 white.
    fn primaries(self) -> [[f64; 2]; 3] {
        match self {
            Space::Srgb => [[0.64, 0.33], [0.30, 0.60], [0.15, 0.06]],
            Space::DisplayP3 => [[0.680, 0.320], [0.265, 0.690], [0.150, 0.060]],
            Space::AdobeRgb => [[0.64, 0.33], [0.21, 0.71], [0.15, 0.06]],
        }
    }

    fn curve(self) -> Curve {
        match self {
            Space::Srgb | Space::DisplayP3 => Curve::Srgb,
            // 563/256: the u8.8 value Adobe's own profile stores.
            Space::AdobeRgb => Curve::Gamma(563.0 / 256.0),
        }
    }

    /// Red, green and blue colorants (XYZ, adapted to D50 with Bradford), as
    /// the rXYZ/gXYZ/bXYZ tags hold them.
    fn colorants(self) -> [[f64; 3]; 3] {
        let xyz = |[x, y]: [f64; 2]| [x / y, 1.0, (1.0 - x - y) / y];
        let [r, g, b] = self.primaries().map(xyz);
        let white = xyz(D65);
        // Columns are the primaries; scale them so that R+G+B = white.
        let p = [[r[0], g[0], b[0]], [r[1], g[1], b[1]], [r[2], g[2], b[2]]];
        let s = mat_vec(&inverse(&p), white);
        let rgb_to_xyz = mat_mul(&p, &diag(s));
        let d50 = mat_mul(&bradford(white, D50_XYZ), &rgb_to_xyz);
        [0, 1, 2].map(|c| [d50[0][c], d50[1][c], d50[2][c]])
    }

    /// Our ICC profile for this colour space (built once per process, the
    /// same bytes every time).
    pub(super) fn profile(self) -> &'static [u8] {
        static CACHE: [OnceLock<Vec<u8>>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        CACHE[self as usize].get_or_init(|| build_profile(self))
    }

    /// Our profile as `moxcms` reads it (the target of conversions), so that
    /// the pixels are converted to exactly what the embedded profile says.
    fn parsed(self) -> Option<&'static ColorProfile> {
        static CACHE: [OnceLock<Option<ColorProfile>>; 3] =
            [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        CACHE[self as usize]
            .get_or_init(|| ColorProfile::new_from_slice(self.profile()).ok())
            .as_ref()
    }

    /// Whether a parsed matrix/TRC profile describes this colour space.
    fn matches(self, p: &ColorProfile) -> bool {
        let reference = self.colorants();
        let theirs = [p.red_colorant, p.green_colorant, p.blue_colorant];
        let colorants_match = reference.iter().zip(theirs).all(|(r, t)| {
            (r[0] - t.x).abs() <= COLORANT_TOLERANCE
                && (r[1] - t.y).abs() <= COLORANT_TOLERANCE
                && (r[2] - t.z).abs() <= COLORANT_TOLERANCE
        });
        colorants_match
            && [&p.red_trc, &p.green_trc, &p.blue_trc]
                .into_iter()
                .all(|trc| trc.as_ref().is_some_and(|t| same_curve(t, self.curve())))
    }
}

/// Whether `trc` maps every 8-bit code to within [`CURVE_TOLERANCE_CODES`]
/// of what `reference` makes of it.
fn same_curve(trc: &ToneReprCurve, reference: Curve) -> bool {
    let Ok(eval) = trc.make_linear_evaluator() else {
        return false;
    };
    (0..=255u32).all(|code| {
        let v = f64::from(code) / 255.0;
        let linear = f64::from(eval.evaluate_value(v as f32));
        linear.is_finite()
            && (reference.encode(linear) * 255.0 - f64::from(code)).abs() <= CURVE_TOLERANCE_CODES
    })
}

/// A compact ICC v4.3 display profile: header, then desc, cprt, wtpt, chad,
/// rXYZ, gXYZ, bXYZ and one tone curve shared by rTRC/gTRC/bTRC. Only fixed
/// values: the colour space's name, "CC0" as copyright (the ICC requires the
/// tag), a fixed creation date, no device, creator or profile ID.
pub(super) fn build_profile(space: Space) -> Vec<u8> {
    fn s15f16(v: f64) -> [u8; 4] {
        ((v * 65536.0).round() as i32).to_be_bytes()
    }
    fn xyz_type(v: [f64; 3]) -> Vec<u8> {
        let mut t = b"XYZ \0\0\0\0".to_vec();
        v.iter().for_each(|c| t.extend_from_slice(&s15f16(*c)));
        t
    }
    fn mluc(text: &str) -> Vec<u8> {
        let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let mut t = b"mluc\0\0\0\0".to_vec();
        t.extend_from_slice(&1u32.to_be_bytes()); // one record
        t.extend_from_slice(&12u32.to_be_bytes()); // record size
        t.extend_from_slice(b"enUS");
        t.extend_from_slice(&(utf16.len() as u32).to_be_bytes());
        t.extend_from_slice(&28u32.to_be_bytes()); // offset of the string
        t.extend_from_slice(&utf16);
        t
    }
    let mut chad = b"sf32\0\0\0\0".to_vec();
    let white = {
        let [x, y] = D65;
        [x / y, 1.0, (1.0 - x - y) / y]
    };
    for row in bradford(white, D50_XYZ) {
        row.iter().for_each(|v| chad.extend_from_slice(&s15f16(*v)));
    }
    let trc = match space.curve() {
        Curve::Srgb => {
            // Parametric function type 3: Y = (aX+b)^g for X ≥ d, else cX.
            let mut t = b"para\0\0\0\0\0\x03\0\0".to_vec();
            for v in [2.4, 1.0 / 1.055, 0.055 / 1.055, 1.0 / 12.92, 0.04045] {
                t.extend_from_slice(&s15f16(v));
            }
            t
        }
        Curve::Gamma(g) => {
            let mut t = b"curv\0\0\0\0".to_vec();
            t.extend_from_slice(&1u32.to_be_bytes());
            t.extend_from_slice(&((g * 256.0).round() as u16).to_be_bytes());
            t
        }
    };
    let [r, g, b] = space.colorants();
    let data = [
        mluc(space.name()),
        mluc("CC0"),
        xyz_type(D50_XYZ),
        chad,
        xyz_type(r),
        xyz_type(g),
        xyz_type(b),
        trc,
    ];
    let table: [(&[u8; 4], usize); 10] = [
        (b"desc", 0),
        (b"cprt", 1),
        (b"wtpt", 2),
        (b"chad", 3),
        (b"rXYZ", 4),
        (b"gXYZ", 5),
        (b"bXYZ", 6),
        (b"rTRC", 7),
        (b"gTRC", 7),
        (b"bTRC", 7),
    ];
    let mut offsets = Vec::with_capacity(data.len());
    let mut body = Vec::new();
    let start = 128 + 4 + 12 * table.len();
    for d in &data {
        offsets.push(start + body.len());
        body.extend_from_slice(d);
        body.resize(body.len().next_multiple_of(4), 0);
    }
    let size = start + body.len();

    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&(size as u32).to_be_bytes());
    out.extend_from_slice(&[0; 4]); // preferred CMM: none
    out.extend_from_slice(&0x0430_0000u32.to_be_bytes()); // version 4.3
    out.extend_from_slice(b"mntrRGB XYZ ");
    for v in [2025u16, 1, 1, 0, 0, 0] {
        out.extend_from_slice(&v.to_be_bytes()); // fixed creation date
    }
    out.extend_from_slice(b"acsp");
    out.extend_from_slice(&[0; 4 + 4 + 4 + 4 + 8]); // platform, flags, maker, model, attributes
    out.extend_from_slice(&0u32.to_be_bytes()); // perceptual
    for v in D50_XYZ {
        out.extend_from_slice(&s15f16(v));
    }
    out.extend_from_slice(&[0; 4 + 16 + 28]); // creator, profile ID (not computed), reserved
    debug_assert_eq!(out.len(), 128);
    out.extend_from_slice(&(table.len() as u32).to_be_bytes());
    for (sig, i) in table {
        out.extend_from_slice(sig);
        out.extend_from_slice(&(offsets[i] as u32).to_be_bytes());
        out.extend_from_slice(&(data[i].len() as u32).to_be_bytes());
    }
    out.extend_from_slice(&body);
    out
}

// ───────────────────────────── what to do with a photo ─────────────────────────────

/// What the pipeline does with a photo's colours: convert the pixels or not,
/// and which of our profiles (if any) the renditions carry.
pub(super) struct Colour {
    convert: Option<Convert>,
    embed: Option<Space>,
}

enum Convert {
    Rgb(Arc<Transform8BitExecutor>),
    Rgba(Arc<Transform8BitExecutor>),
    /// Grey code → grey code on the sRGB curve.
    Grey(Box<[u8; 256]>),
}

impl Colour {
    /// No profile: sRGB pixels, nothing embedded.
    pub(super) const UNTAGGED: Colour = Colour {
        convert: None,
        embed: None,
    };

    /// What to do with pixels of `channels` channels (1 grey, 3 RGB, 4 RGBA)
    /// that came with `profile`.
    pub(super) fn for_profile(profile: Option<&[u8]>, channels: u8) -> Colour {
        let Some(profile) = profile.filter(|p| plausible(p, channels)) else {
            return Colour::UNTAGGED;
        };
        // moxcms is safe Rust; a panic on a hostile profile would be a bug in
        // it, and must only cost the profile, not the photo.
        catch_unwind(AssertUnwindSafe(|| classify(profile, channels))).unwrap_or(Colour::UNTAGGED)
    }

    /// Our profile to embed in every rendition, if any.
    pub(super) fn profile(&self) -> Option<&'static [u8]> {
        self.embed.map(Space::profile)
    }

    /// Which of our profiles the renditions carry.
    #[cfg(test)]
    pub(super) fn space(&self) -> Option<Space> {
        self.embed
    }

    /// Whether the pixels must be converted (so the full-size JPEG cannot be
    /// a lossless transform).
    pub(super) fn converts(&self) -> bool {
        self.convert.is_some()
    }

    /// Converts the pixels in place (nothing to do when [`Self::converts`] is
    /// false). The image has the layout given to [`Self::for_profile`].
    pub(super) fn apply(&self, img: &mut DynamicImage) -> Result<(), ImageError> {
        let transform = |t: &Transform8BitExecutor, px: &mut [u8]| {
            let src = px.to_vec();
            t.transform(&src, px)
                .map_err(|e| ImageError::Internal(format!("colour conversion: {e}")))
        };
        match (&self.convert, img) {
            (None, _) => Ok(()),
            (Some(Convert::Rgb(t)), DynamicImage::ImageRgb8(i)) => transform(t.as_ref(), i),
            (Some(Convert::Rgba(t)), DynamicImage::ImageRgba8(i)) => transform(t.as_ref(), i),
            (Some(Convert::Grey(lut)), DynamicImage::ImageLuma8(i)) => {
                i.iter_mut().for_each(|v| *v = lut[usize::from(*v)]);
                Ok(())
            }
            (Some(_), other) => Err(ImageError::Internal(format!(
                "colour conversion: unexpected pixel layout {:?}",
                other.color()
            ))),
        }
    }
}

/// The fixed 128-byte header and the tag table: an ICC profile at all, of a
/// device class and colour space that fit the pixels (`channels` = 1 for
/// grey, 3/4 for RGB).
fn plausible(profile: &[u8], channels: u8) -> bool {
    if profile.len() < 132 || profile.len() > MAX_ICC_BYTES {
        return false;
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
        return false;
    }
    if !matches!(&profile[12..16], b"mntr" | b"scnr" | b"spac") {
        return false;
    }
    let space_ok = match channels {
        1 => &profile[16..20] == b"GRAY",
        3 | 4 => &profile[16..20] == b"RGB ",
        _ => false,
    };
    let tag_count = be32(128) as usize;
    space_ok && tag_count != 0 && tag_count.saturating_mul(12).saturating_add(132) <= profile.len()
}

fn classify(profile: &[u8], channels: u8) -> Colour {
    let options = ParsingOptions {
        max_profile_size: MAX_ICC_BYTES + 1,
        max_allowed_clut_size: MAX_ICC_BYTES,
        max_allowed_trc_size: 65_536,
    };
    let Ok(parsed) = ColorProfile::new_from_slice_with_options(profile, options) else {
        return Colour::UNTAGGED;
    };
    if !matches!(
        parsed.profile_class,
        ProfileClass::DisplayDevice | ProfileClass::InputDevice | ProfileClass::ColorSpace
    ) {
        return Colour::UNTAGGED;
    }
    match (channels, parsed.color_space) {
        (1, DataColorSpace::Gray) => grey(&parsed),
        (3 | 4, DataColorSpace::Rgb) => rgb(&parsed, channels),
        _ => Colour::UNTAGGED,
    }
}

fn rgb(parsed: &ColorProfile, channels: u8) -> Colour {
    let has_luts = parsed.lut_a_to_b_perceptual.is_some()
        || parsed.lut_a_to_b_colorimetric.is_some()
        || parsed.lut_a_to_b_saturation.is_some()
        || parsed.lut_b_to_a_perceptual.is_some()
        || parsed.lut_b_to_a_colorimetric.is_some()
        || parsed.lut_b_to_a_saturation.is_some();
    // What viewers use: the matrix/TRC tags only when there is no LUT.
    let matrix_shaper = parsed.is_matrix_shaper() && !has_luts && parsed.pcs == DataColorSpace::Xyz;
    if matrix_shaper {
        if let Some(space) = Space::ALL.into_iter().find(|s| s.matches(parsed)) {
            return Colour {
                convert: None,
                embed: Some(space),
            };
        }
    }
    let target = if matrix_shaper && inside_srgb(parsed) {
        Space::Srgb
    } else {
        Space::DisplayP3
    };
    let Some(destination) = target.parsed() else {
        return Colour::UNTAGGED;
    };
    let layout = if channels == 4 {
        Layout::Rgba
    } else {
        Layout::Rgb
    };
    let options = TransformOptions {
        rendering_intent: RenderingIntent::Perceptual,
        // The tone curves say what the pixels mean; a CICP tag (which could
        // disagree) is not used.
        allow_use_cicp_transfer: false,
        ..TransformOptions::default()
    };
    match parsed.create_transform_8bit(layout, destination, layout, options) {
        Ok(t) => Colour {
            convert: Some(if channels == 4 {
                Convert::Rgba(t)
            } else {
                Convert::Rgb(t)
            }),
            embed: Some(target),
        },
        Err(_) => Colour::UNTAGGED,
    }
}

/// Whether each of the profile's primaries has no negative sRGB component,
/// i.e. lies inside the sRGB gamut.
fn inside_srgb(parsed: &ColorProfile) -> bool {
    let srgb = Space::Srgb.colorants();
    let to_srgb = inverse(&[0, 1, 2].map(|row| [srgb[0][row], srgb[1][row], srgb[2][row]]));
    [
        parsed.red_colorant,
        parsed.green_colorant,
        parsed.blue_colorant,
    ]
    .into_iter()
    .all(|c| {
        mat_vec(&to_srgb, [c.x, c.y, c.z])
            .iter()
            .all(|v| v.is_finite() && *v >= -0.01)
    })
}

fn grey(parsed: &ColorProfile) -> Colour {
    let Some(eval) = parsed
        .gray_trc
        .as_ref()
        .and_then(|t| t.make_linear_evaluator().ok())
    else {
        return Colour::UNTAGGED;
    };
    let mut lut = Box::new([0u8; 256]);
    let mut identity = true;
    for (code, out) in lut.iter_mut().enumerate() {
        let linear = f64::from(eval.evaluate_value(code as f32 / 255.0));
        if !linear.is_finite() {
            return Colour::UNTAGGED;
        }
        let srgb = Curve::Srgb.encode(linear) * 255.0;
        identity &= (srgb - code as f64).abs() <= CURVE_TOLERANCE_CODES;
        *out = srgb.round().clamp(0.0, 255.0) as u8;
    }
    Colour {
        convert: (!identity).then_some(Convert::Grey(lut)),
        embed: None,
    }
}

// ───────────────────────────── JPEG segments ─────────────────────────────

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

// ───────────────────────────── 3×3 matrices ─────────────────────────────

type M3 = [[f64; 3]; 3];

fn mat_mul(a: &M3, b: &M3) -> M3 {
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    m
}

fn mat_vec(a: &M3, v: [f64; 3]) -> [f64; 3] {
    a.map(|row| row[0] * v[0] + row[1] * v[1] + row[2] * v[2])
}

fn diag(v: [f64; 3]) -> M3 {
    [[v[0], 0.0, 0.0], [0.0, v[1], 0.0], [0.0, 0.0, v[2]]]
}

fn inverse(m: &M3) -> M3 {
    let c = |r: usize, col: usize| {
        let (r1, r2) = ((r + 1) % 3, (r + 2) % 3);
        let (c1, c2) = ((col + 1) % 3, (col + 2) % 3);
        m[r1][c1] * m[r2][c2] - m[r1][c2] * m[r2][c1]
    };
    let det = m[0][0] * c(0, 0) + m[0][1] * c(0, 1) + m[0][2] * c(0, 2);
    let mut inv = [[0.0; 3]; 3];
    for (i, row) in inv.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = c(j, i) / det;
        }
    }
    inv
}

/// Bradford chromatic adaptation from white `from` to white `to` (XYZ).
fn bradford(from: [f64; 3], to: [f64; 3]) -> M3 {
    const MA: M3 = [
        [0.8951, 0.2664, -0.1614],
        [-0.7502, 1.7135, 0.0367],
        [0.0389, -0.0685, 1.0296],
    ];
    let (s, d) = (mat_vec(&MA, from), mat_vec(&MA, to));
    let scale = diag([d[0] / s[0], d[1] / s[1], d[2] / s[2]]);
    mat_mul(&inverse(&MA), &mat_mul(&scale, &MA))
}
