//! Upload-time quality feedback. These are warnings the GP may override,
//! never reasons to refuse a photo, so the thresholds err on the side of
//! staying quiet on acceptable photos.
//!
//! All measures are taken on the upright display copy reduced to a grey
//! image of at most [`ANALYSIS_LONG_EDGE`] px, so that they do not depend on
//! the phone's resolution.

use image::DynamicImage;

use super::resize;

/// Long edge of the grey image the blur and exposure checks look at.
pub(super) const ANALYSIS_LONG_EDGE: u32 = 800;

/// Side of the square tiles the sharpness is measured in (analysis px).
const BLUR_TILE: u32 = 50;
/// Share of tiles, the sharpest ones, whose mean sharpness is scored. A
/// close-up is sharp where the lesion is, and the background (plain skin, a
/// sheet) may be smooth: scoring only the sharpest tenth avoids calling a
/// well-focused photo of a small lesion on plain skin blurred.
const BLUR_TOP_SHARE: f64 = 0.10;
/// Variance of the 4-neighbour Laplacian (grey levels²) below which the
/// sharpest tenth of the photo is called blurred. Calibrated on the synthetic
/// skin photos in the tests (at 800 px): in focus ≈ 150, a slight softness
/// (Gaussian σ = 1 px at 1600 px) ≈ 25 and still accepted, a real defocus
/// (σ ≥ 3 px at 1600 px, i.e. ≥ 1.5 px here) ≤ 5. Set low on purpose: a false
/// "blurred" on a good photo costs the GP a retake. Re-calibrate on real
/// de-identified photos when we have them.
pub(super) const BLUR_LAPLACIAN_VARIANCE: f64 = 12.0;

/// Mean luma (Rec. 601, 0–255) below which the photo is too dark to judge
/// skin colour; ~20 % of full scale (a well-lit close-up of skin is 120–200).
pub(super) const DARK_MEAN_LUMA: f64 = 55.0;
/// …or when this share of pixels is near-black (luma ≤ [`DARK_PIXEL_LUMA`]).
pub(super) const DARK_CLIPPED_SHARE: f64 = 0.40;
const DARK_PIXEL_LUMA: u8 = 20;

/// Mean luma above which the photo is washed out (over-exposed / flash).
pub(super) const BRIGHT_MEAN_LUMA: f64 = 225.0;
/// …or when this share of pixels is blown out (a channel ≥
/// [`BRIGHT_PIXEL_LUMA`]): lesion borders and colour are lost in clipped
/// highlights.
pub(super) const BRIGHT_CLIPPED_SHARE: f64 = 0.20;
const BRIGHT_PIXEL_LUMA: u8 = 250;

/// Shorter side (upright, full size) below which the photo is too small for
/// a specialist to see surface detail; every phone camera since ~2012 gives
/// ≥ 2000 px, so this catches screenshots, messaging-app copies and crops.
pub(super) const MIN_SHORT_EDGE: u32 = 1000;

/// Something the GP may want to fix before sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QualityWarning {
    Blurred,
    TooDark,
    TooBright,
    LowResolution,
}

impl QualityWarning {
    pub const ALL: [QualityWarning; 4] = [
        QualityWarning::Blurred,
        QualityWarning::TooDark,
        QualityWarning::TooBright,
        QualityWarning::LowResolution,
    ];

    /// The warning a stored code names (`None` for a code this version does not know).
    pub fn from_code(code: &str) -> Option<QualityWarning> {
        Self::ALL.into_iter().find(|w| w.code() == code)
    }

    pub fn code(&self) -> &'static str {
        match self {
            QualityWarning::Blurred => "blurred",
            QualityWarning::TooDark => "too_dark",
            QualityWarning::TooBright => "too_bright",
            QualityWarning::LowResolution => "low_resolution",
        }
    }

    pub fn message(&self) -> &'static str {
        match self {
            QualityWarning::Blurred => {
                "This photo looks blurred: hold the phone steady about 20 cm away, tap the lesion to \
                 focus, and retake it if you can."
            }
            QualityWarning::TooDark => {
                "This photo looks too dark to judge colour: use daylight or turn the room lights on \
                 (avoid the flash close up) and retake it if you can."
            }
            QualityWarning::TooBright => {
                "This photo looks over-exposed, so colour and borders may be lost: avoid direct \
                 flash or strong light on the skin and retake it if you can."
            }
            QualityWarning::LowResolution => {
                "This photo is small (low resolution), so fine detail may not be visible: send the \
                 original from the phone's camera rather than a copy from a messaging app or a \
                 screenshot."
            }
        }
    }
}

/// Raw measures, exposed to the tests.
#[derive(Debug, Clone, Copy)]
pub(super) struct Measures {
    pub sharpness: f64,
    pub mean_luma: f64,
    pub dark_share: f64,
    pub bright_share: f64,
}

pub(super) fn measure(display: &DynamicImage) -> Measures {
    let (w, h) = resize::fit_long_edge(display.width(), display.height(), ANALYSIS_LONG_EDGE);
    // Reduce first (SIMD), then look at the few remaining pixels.
    let small = resize::resize(display, w, h).unwrap_or_else(|_| display.clone());
    let (w, h) = (small.width(), small.height());
    let (grey, brightest) = luma_and_brightest(&small);

    let mut sum = 0u64;
    let (mut dark, mut bright) = (0u64, 0u64);
    for (&v, &max) in grey.iter().zip(&brightest) {
        sum += u64::from(v);
        dark += u64::from(v <= DARK_PIXEL_LUMA);
        bright += u64::from(max >= BRIGHT_PIXEL_LUMA);
    }
    let n = grey.len().max(1) as f64;
    Measures {
        sharpness: sharpness(&grey, w as usize, h as usize),
        mean_luma: sum as f64 / n,
        dark_share: dark as f64 / n,
        bright_share: bright as f64 / n,
    }
}

/// Rec. 601 luma (integer arithmetic) and the brightest channel of each
/// pixel: a clipped red channel already loses the redness of skin, even when
/// the luma is not at full scale.
fn luma_and_brightest(img: &DynamicImage) -> (Vec<u8>, Vec<u8>) {
    match img {
        DynamicImage::ImageLuma8(g) => (g.as_raw().clone(), g.as_raw().clone()),
        DynamicImage::ImageRgb8(c) => c
            .as_raw()
            .chunks_exact(3)
            .map(|p| {
                let (r, g, b) = (u32::from(p[0]), u32::from(p[1]), u32::from(p[2]));
                (
                    ((77 * r + 150 * g + 29 * b + 128) >> 8) as u8,
                    p[0].max(p[1]).max(p[2]),
                )
            })
            .unzip(),
        other => luma_and_brightest(&DynamicImage::ImageRgb8(other.to_rgb8())),
    }
}

/// Mean, over the sharpest [`BLUR_TOP_SHARE`] of tiles, of the per-tile
/// variance of the Laplacian.
fn sharpness(px: &[u8], w: usize, h: usize) -> f64 {
    if w < 3 || h < 3 {
        return 0.0;
    }
    let tile = BLUR_TILE as usize;
    let (tiles_x, tiles_y) = (w.div_ceil(tile), h.div_ceil(tile));
    // Per tile: count, sum, sum of squares of the Laplacian.
    let mut acc = vec![(0u32, 0i64, 0i64); tiles_x * tiles_y];
    for y in 1..h - 1 {
        let (up, row, down) = (
            &px[(y - 1) * w..y * w],
            &px[y * w..(y + 1) * w],
            &px[(y + 1) * w..(y + 2) * w],
        );
        let ty = (y / tile) * tiles_x;
        for x in 1..w - 1 {
            let lap = i64::from(up[x])
                + i64::from(down[x])
                + i64::from(row[x - 1])
                + i64::from(row[x + 1])
                - 4 * i64::from(row[x]);
            let a = &mut acc[ty + x / tile];
            a.0 += 1;
            a.1 += lap;
            a.2 += lap * lap;
        }
    }
    let mut variances: Vec<f64> = acc
        .iter()
        .filter(|a| a.0 >= 64)
        .map(|&(n, s, s2)| {
            let n = f64::from(n);
            let mean = s as f64 / n;
            (s2 as f64 / n - mean * mean).max(0.0)
        })
        .collect();
    if variances.is_empty() {
        return 0.0;
    }
    variances.sort_by(|a, b| b.total_cmp(a));
    let top = ((variances.len() as f64 * BLUR_TOP_SHARE).ceil() as usize).max(1);
    variances[..top].iter().sum::<f64>() / top as f64
}

/// The warnings for a photo whose upright full size is `full_w`×`full_h`.
pub(super) fn assess(display: &DynamicImage, full_w: u32, full_h: u32) -> Vec<QualityWarning> {
    let m = measure(display);
    let mut warnings = Vec::new();
    let too_dark = m.mean_luma < DARK_MEAN_LUMA || m.dark_share > DARK_CLIPPED_SHARE;
    let too_bright = m.mean_luma > BRIGHT_MEAN_LUMA || m.bright_share > BRIGHT_CLIPPED_SHARE;
    // Sharpness is meaningless on a badly exposed photo (no contrast left),
    // and the exposure advice comes first anyway.
    if !too_dark && !too_bright && m.sharpness < BLUR_LAPLACIAN_VARIANCE {
        warnings.push(QualityWarning::Blurred);
    }
    if too_dark {
        warnings.push(QualityWarning::TooDark);
    }
    if too_bright {
        warnings.push(QualityWarning::TooBright);
    }
    if full_w.min(full_h) < MIN_SHORT_EDGE {
        warnings.push(QualityWarning::LowResolution);
    }
    warnings
}
