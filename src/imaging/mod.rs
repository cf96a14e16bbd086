//! Clinical photo pipeline: make an uploaded photo safe and produce the three
//! stored renditions.
//!
//! [`process`] is pure and synchronous (CPU-bound, ~50–150 ms for a 12 MP phone
//! JPEG): call it from `tokio::task::spawn_blocking`. It never writes anything
//! and never keeps the uploaded bytes.
//!
//! Two steps, and the bytes go through each once:
//! 1. the probe ([`probe()`], `probe.rs`), cheapest first so that hostile input
//!    is refused before any large allocation: byte-count limit, format from the
//!    magic bytes ([`sniff`]), dimensions from the header checked against
//!    [`Limits`] (a 65000×65000 header or a decompression bomb is refused here),
//!    EXIF orientation and capture time ([`meta`]). It also tells the caller
//!    what the render will cost (memory, threads) before it starts;
//! 2. decode and render ([`process_probed`]), on libjpeg-turbo ([`jpeg`]), on
//!    the `image` crate ([`raster`]: PNG, WebP, CMYK JPEG) or on libheif
//!    ([`heif`]: HEIC, AVIF, which then shares `raster`'s rendering): decode (for
//!    JPEG at a reduced DCT scale), apply the orientation to the pixels, resize
//!    ([`resize`]) and encode the display copy and the thumbnail ([`turbo`]);
//!    quality checks on the display pixels ([`quality`]); the full-size image:
//!    for JPEG a lossless libjpeg-turbo transform that rotates the DCT blocks
//!    and copies no marker at all, for PNG/WebP/HEIC/AVIF a re-encode from the
//!    pixels.
//!
//! Nothing of the original container survives: every output is written by an
//! encoder (or by libjpeg-turbo's transformer with "copy no markers") from
//! pixels / DCT coefficients only. Not even the ICC colour profile is carried
//! over: it is read for its colour meaning, and the renditions carry our own
//! copy of a recognised one (sRGB, Display P3, Adobe RGB) or pixels converted
//! from an unrecognised one, see [`icc`].

mod heif;
mod icc;
mod jpeg;
mod meta;
mod orient;
mod planes;
mod probe;
mod quality;
mod raster;
mod resize;
mod sniff;
mod turbo;
mod turn;

#[cfg(test)]
mod tests;

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub use self::quality::QualityWarning;

/// Long edge of the display copy, in pixels (never upscaled).
pub const DISPLAY_LONG_EDGE: u32 = 1600;
/// Long edge of the thumbnail, in pixels (never upscaled).
pub const THUMB_LONG_EDGE: u32 = 320;

/// JPEG quality of the display copy: visually lossless on skin at 1600 px.
const DISPLAY_JPEG_QUALITY: i32 = 85;
/// JPEG quality of the thumbnail.
const THUMB_JPEG_QUALITY: i32 = 80;
/// JPEG quality when the full-size image has to be re-encoded (lossy WebP
/// source, CMYK JPEG, or a JPEG rotation that is not MCU-aligned). High, with
/// no chroma subsampling, so that the second generation loses next to nothing.
const FULL_REENCODE_JPEG_QUALITY: i32 = 95;

/// A pixel buffer of `len` bytes for a decoder or a turn to overwrite. Filled rather than
/// zeroed: jemalloc (`src/allocator.rs`) zeroes a large block by handing its pages back to the
/// kernel, so a zeroed 36 MB buffer faulted in 9,000 fresh pages on every photo, where a filled
/// one reuses the pages the last photo freed (`perf stat`: 21,000 page faults a 12 MP re-encode
/// before, under 1,000 after).
fn pixel_buffer(len: usize) -> Vec<u8> {
    vec![u8::MAX; len]
}

/// Bounds applied before and during decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted upload, in bytes.
    pub max_bytes: usize,
    /// Largest accepted width × height.
    pub max_pixels: u64,
    /// Largest accepted width or height.
    pub max_dimension: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 40 * 1024 * 1024,
            // 48 MP phone sensors (8064×6048 = 48.8 MP) fit.
            max_pixels: 50_000_000,
            max_dimension: 12_000,
        }
    }
}

impl Limits {
    /// Upper bound on what a decoder may allocate for one image: 8 bytes per
    /// pixel (RGBA, 16 bits) plus some working space.
    fn max_decoder_alloc(&self) -> u64 {
        self.max_pixels
            .saturating_mul(8)
            .saturating_add(64 * 1024 * 1024)
    }

    fn check_dimensions(&self, width: u32, height: u32) -> Result<(), ImageError> {
        if width == 0 || height == 0 {
            return Err(ImageError::Corrupt(format!(
                "image header says {width}×{height}"
            )));
        }
        if width > self.max_dimension
            || height > self.max_dimension
            || u64::from(width) * u64::from(height) > self.max_pixels
        {
            return Err(ImageError::TooManyPixels { width, height });
        }
        Ok(())
    }
}

/// Formats accepted from uploads (detected from the bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhotoFormat {
    Jpeg,
    Png,
    WebP,
    /// HEIF with HEVC (the iPhone's default "High Efficiency" format), or any HEIF still.
    Heic,
    /// HEIF with AV1.
    Avif,
}

impl PhotoFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            PhotoFormat::Jpeg => "image/jpeg",
            PhotoFormat::Png => "image/png",
            PhotoFormat::WebP => "image/webp",
            PhotoFormat::Heic => "image/heic",
            PhotoFormat::Avif => "image/avif",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PhotoFormat::Jpeg => "JPEG",
            PhotoFormat::Png => "PNG",
            PhotoFormat::WebP => "WebP",
            PhotoFormat::Heic => "HEIC",
            PhotoFormat::Avif => "AVIF",
        }
    }
}

/// One stored object.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendition {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub content_type: &'static str,
    /// SHA-256 of `bytes`, lowercase hex.
    pub sha256: String,
}

impl Rendition {
    fn new(bytes: Vec<u8>, width: u32, height: u32, content_type: &'static str) -> Rendition {
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Rendition {
            bytes,
            width,
            height,
            content_type,
            sha256,
        }
    }
}

impl fmt::Debug for Rendition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rendition")
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("width", &self.width)
            .field("height", &self.height)
            .field("content_type", &self.content_type)
            .field("sha256", &self.sha256)
            .finish()
    }
}

/// Result of [`process`].
#[derive(Debug, Clone)]
pub struct Processed {
    pub source_format: PhotoFormat,
    /// Full resolution, upright, no metadata. JPEG for JPEG, lossy-WebP, HEIC and
    /// AVIF sources (a re-encode at quality 95, 4:4:4, for all but JPEG), PNG for
    /// lossless sources (PNG, lossless WebP, anything with alpha), so that a
    /// lossless upload is not degraded.
    pub full: Rendition,
    /// Long edge ≤ [`DISPLAY_LONG_EDGE`], JPEG.
    pub display: Rendition,
    /// Long edge ≤ [`THUMB_LONG_EDGE`], JPEG.
    pub thumb: Rendition,
    pub warnings: Vec<QualityWarning>,
    /// EXIF DateTimeOriginal (camera local time, no zone). Nothing else of the
    /// metadata is kept: no location, no device identity.
    pub captured_at: Option<time::PrimitiveDateTime>,
}

/// Why a photo was refused. `Display` is a sentence a GP can act on.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("The file is empty. Please choose the photo again.")]
    Empty,

    #[error(
        "This file is {} and the largest photo we accept is {}. Please send a smaller photo \
         (your phone's normal camera setting is fine).",
        human_size(*size), human_size(*max)
    )]
    TooLarge { size: usize, max: usize },

    #[error("{}", unsupported_message(detected))]
    UnsupportedFormat {
        /// What the bytes look like, e.g. "HEIC", "GIF", "PDF", "unknown".
        detected: &'static str,
    },

    #[error(
        "This image is {width}×{height} pixels, which is more than we can accept. \
         Please send the photo at your phone's normal camera size (up to 48 megapixels)."
    )]
    TooManyPixels { width: u32, height: u32 },

    #[error(
        "This photo is incomplete: the file ends before the picture does, probably because the \
         upload or copy was interrupted. Please upload it again."
    )]
    Truncated(String),

    #[error(
        "This photo file is damaged and can't be opened. Please export it again from your \
         phone or camera and re-upload it."
    )]
    Corrupt(String),

    #[error("Something went wrong while preparing this photo. Please try again.")]
    Internal(String),
}

impl ImageError {
    pub fn code(&self) -> &'static str {
        match self {
            ImageError::Empty => "image_empty",
            ImageError::TooLarge { .. } => "image_too_large",
            ImageError::UnsupportedFormat { .. } => "unsupported_image_format",
            ImageError::TooManyPixels { .. } => "image_too_many_pixels",
            ImageError::Truncated(_) => "image_truncated",
            ImageError::Corrupt(_) => "image_corrupt",
            ImageError::Internal(_) => "image_processing_failed",
        }
    }

    pub fn http_status(&self) -> u16 {
        match self {
            ImageError::UnsupportedFormat { .. } => 415,
            ImageError::TooLarge { .. } => 413,
            ImageError::Empty
            | ImageError::TooManyPixels { .. }
            | ImageError::Truncated(_)
            | ImageError::Corrupt(_) => 422,
            ImageError::Internal(_) => 500,
        }
    }
}

fn human_size(bytes: usize) -> String {
    format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
}

/// The formats [`sniff`] accepts, as the GP reads them (also in the page's hint and the API
/// description).
pub const ACCEPTED_FORMATS: &str = "JPEG, HEIC, PNG, WebP or AVIF";

fn unsupported_message(detected: &str) -> String {
    let accepted = format!("We accept photos in {ACCEPTED_FORMATS} format.");
    match detected {
        "unknown" => format!("This file is not a photo we can open. {accepted}"),
        other => format!("This file is a {other} file, not a photo we can open. {accepted}"),
    }
}

/// An upload's header, read once by [`probe()`]: format, dimensions and orientation, checked
/// against the limits, or why the photo is refused. [`process_probed`] renders from it.
#[derive(Debug)]
pub struct Probe {
    header: Result<probe::Header, ImageError>,
    limits: Limits,
    input_len: usize,
}

/// The probe step alone: reads the header (nothing is decoded), so a caller can reserve what
/// the render will need ([`Probe::decode_estimate`], [`Probe::threads`]) before it starts.
pub fn probe(input: &[u8], limits: &Limits) -> Probe {
    let header = catch_unwind(AssertUnwindSafe(|| probe::read(input, limits)))
        .unwrap_or_else(|_| Err(panicked()));
    Probe {
        header,
        limits: *limits,
        input_len: input.len(),
    }
}

impl Probe {
    /// Estimated peak memory, in bytes, of the render, from the header alone (see
    /// `state::DecodeBudget`). Per pixel: the decoded source at its own depth (16-bit PNGs
    /// take 2 bytes a sample) plus three 8-bit copies (working image, flattened or resized
    /// copy, encoder output). Deliberately generous: it bounds the peak, it does not predict
    /// it. Input that the probe refuses (unknown format, bad header, too many pixels) costs
    /// its own size.
    pub fn decode_estimate(&self) -> u64 {
        match &self.header {
            Ok(h) => h.decode_estimate(),
            Err(_) => self.input_len as u64,
        }
    }
}

/// [`Probe::decode_estimate`] of `input`.
pub fn decode_estimate(input: &[u8], limits: &Limits) -> u64 {
    probe(input, limits).decode_estimate()
}

/// Wall time of each stage of one [`process_timed`] call.
#[derive(Debug, Default, Clone, Copy)]
pub struct StageTimings {
    /// Size check, magic bytes, header dimensions, EXIF orientation/date.
    pub sniff_header: Duration,
    /// Decoding the pixels the display copy is made from (JPEG: at DCT scale).
    pub decode: Duration,
    /// Full-size clean image (lossless transform or re-encode), with hashing.
    pub full: Duration,
    /// Resize + orientation + encode + hash of the display copy.
    pub display: Duration,
    /// Resize + encode + hash of the thumbnail.
    pub thumb: Duration,
    /// Blur / exposure / resolution checks.
    pub quality: Duration,
    /// The whole call.
    pub total: Duration,
}

/// Make an uploaded photo safe and produce its three renditions.
pub fn process(input: &[u8], limits: &Limits) -> Result<Processed, ImageError> {
    process_timed(input, limits).0
}

/// [`process`] from a [`probe()`] of the same `input`.
pub fn process_probed(input: &[u8], probe: Probe) -> Result<Processed, ImageError> {
    render(input, probe, &mut StageTimings::default())
}

/// [`process`], also reporting how long each stage took (for tracing and the
/// benchmark).
pub fn process_timed(
    input: &[u8],
    limits: &Limits,
) -> (Result<Processed, ImageError>, StageTimings) {
    let mut timings = StageTimings::default();
    let start = Instant::now();
    let probe = probe(input, limits);
    timings.sniff_header = start.elapsed();
    let result = render(input, probe, &mut timings);
    timings.total = start.elapsed();
    (result, timings)
}

fn render(input: &[u8], probe: Probe, t: &mut StageTimings) -> Result<Processed, ImageError> {
    debug_assert_eq!(
        input.len(),
        probe.input_len,
        "rendering other bytes than probed"
    );
    // The decoders are C (libjpeg-turbo) and safe Rust; a panic from the Rust
    // side would be a bug in a dependency, and must not take the worker down
    // or surface as anything but a refused photo.
    let result = probe.header.and_then(|header| {
        catch_unwind(AssertUnwindSafe(|| run(input, &header, &probe.limits, t)))
            .unwrap_or_else(|_| Err(panicked()))
    });
    if let Err(e) = &result {
        tracing::debug!(code = e.code(), error = ?e, "photo refused");
    }
    result
}

fn panicked() -> ImageError {
    ImageError::Corrupt("a decoder panicked on this input".into())
}

/// What a format-specific path hands back.
struct Outputs {
    full: Rendition,
    display: Rendition,
    thumb: Rendition,
    warnings: Vec<QualityWarning>,
}

/// The display copy's JPEG, the thumbnail made from the display pixels and the quality checks
/// on them, for a picture `full` (width, height) upright. With `share`, the display copy is
/// encoded beside the thumbnail and the checks, on a second thread (the render's second, when
/// the full size needs no work of its own).
fn from_display(
    display: &image::DynamicImage,
    full: (u32, u32),
    profile: Option<&[u8]>,
    share: bool,
    t: &mut StageTimings,
) -> Result<(Rendition, Rendition, Vec<QualityWarning>), ImageError> {
    use turbojpeg::Subsamp;
    let encode_display = || {
        let clock = Instant::now();
        let r = turbo::encode_rendition(display, DISPLAY_JPEG_QUALITY, Subsamp::Sub2x2, profile);
        (r, clock.elapsed())
    };
    let thumb_and_checks = || {
        let clock = Instant::now();
        let (tw, th) = resize::fit_long_edge(display.width(), display.height(), THUMB_LONG_EDGE);
        let thumb = resize::resize(display, tw, th).and_then(|thumb| {
            turbo::encode_rendition(&thumb, THUMB_JPEG_QUALITY, Subsamp::Sub2x2, profile)
        });
        let thumb_time = clock.elapsed();
        let clock = Instant::now();
        let warnings = quality::assess(display, full.0, full.1);
        (thumb, thumb_time, warnings, clock.elapsed())
    };
    let ((display_r, display_time), (thumb_r, thumb_time, warnings, quality_time)) = if share {
        std::thread::scope(|scope| {
            let other = scope.spawn(thumb_and_checks);
            let display = encode_display();
            let rest = other.join().unwrap_or_else(|_| {
                let e = ImageError::Internal("the thumbnail panicked".into());
                (Err(e), Duration::ZERO, Vec::new(), Duration::ZERO)
            });
            (display, rest)
        })
    } else {
        (encode_display(), thumb_and_checks())
    };
    t.display += display_time;
    t.thumb = thumb_time;
    t.quality = quality_time;
    Ok((display_r?, thumb_r?, warnings))
}

fn run(
    input: &[u8],
    header: &probe::Header,
    limits: &Limits,
    t: &mut StageTimings,
) -> Result<Processed, ImageError> {
    let out = match &header.decoder {
        probe::Decoder::Turbo { header: jpeg, grey } => {
            jpeg::render(input, header, jpeg, *grey, t)?
        }
        probe::Decoder::Image { lossless } => raster::render(input, header, *lossless, limits, t)?,
        probe::Decoder::Heif { alpha } => {
            let (img, profile, started) =
                heif::decode(input, header.width, header.height, *alpha, t)?;
            raster::render_decoded(img, profile.as_deref(), header.meta.orientation, started, t)?
        }
    };
    Ok(Processed {
        source_format: header.format,
        full: out.full,
        display: out.display,
        thumb: out.thumb,
        warnings: out.warnings,
        captured_at: header.meta.captured_at,
    })
}
