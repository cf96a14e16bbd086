//! The one look at an upload's bytes before any pixel is decoded, cheapest first so that
//! hostile input is refused before any large allocation: byte count, format from the magic
//! bytes ([`sniff`]), dimensions from the header (read by hand for PNG and WebP, by
//! libjpeg-turbo for JPEG, by libheif for HEIC/AVIF: it parses the boxes and decodes nothing)
//! checked against [`Limits`] (a 65000×65000 header or a decompression
//! bomb is refused here), what the decoder needs to know (which decoder, lossless or not), and
//! the EXIF orientation and capture time ([`meta`]). The decode-and-render step
//! ([`jpeg`](super::jpeg), [`raster`](super::raster) or [`heif`](super::heif)) starts from this [`Header`] and reads
//! no header again.

use std::sync::OnceLock;

use turbojpeg::{Colorspace, DecompressHeader, Decompressor};

use super::heif;
use super::meta::{self, Meta};
use super::orient::Orientation;
use super::sniff::{self, Sniffed};
use super::turbo::{decode_error, dim, internal};
use super::{ImageError, Limits, PhotoFormat};

/// What the header says, checked against the limits.
#[derive(Debug, Clone, Copy)]
pub(super) struct Header {
    pub format: PhotoFormat,
    /// As stored (before the orientation is applied).
    pub width: u32,
    pub height: u32,
    pub decoder: Decoder,
    pub meta: Meta,
    /// Bytes a pixel as decoded, for [`Header::decode_estimate`].
    source_bpp: u64,
    /// Bytes a pixel of the 8-bit image the renditions are made from.
    output_bpp: u64,
}

/// Which decoder turns the upload into pixels.
#[derive(Debug, Clone, Copy)]
pub(super) enum Decoder {
    /// libjpeg-turbo: grey, YCbCr or RGB JPEG.
    Turbo {
        header: DecompressHeader,
        grey: bool,
    },
    /// The `image` crate: PNG, WebP, and the JPEGs libjpeg-turbo cannot turn into RGB (CMYK,
    /// YCCK). `lossless`: PNG or lossless WebP.
    Image { lossless: bool },
    /// libheif: HEIC and AVIF (HEVC or AV1 in HEIF). `alpha`: the primary image has an alpha
    /// plane.
    Heif { alpha: bool },
}

pub(super) fn read(input: &[u8], limits: &Limits) -> Result<Header, ImageError> {
    if input.is_empty() {
        return Err(ImageError::Empty);
    }
    if input.len() > limits.max_bytes {
        return Err(ImageError::TooLarge {
            size: input.len(),
            max: limits.max_bytes,
        });
    }
    let format = match sniff::sniff(input) {
        Sniffed::Supported(f) => f,
        Sniffed::Unsupported(detected) => return Err(ImageError::UnsupportedFormat { detected }),
    };
    let mut webp_exif = None;
    let mut heif_orientation = false;
    let (width, height, decoder, source_bpp, output_bpp) = match format {
        PhotoFormat::Jpeg => {
            let header = Decompressor::new()
                .map_err(internal)?
                .read_header(input)
                .map_err(|e| decode_error(input, e))?;
            let (width, height) = (dim(header.width)?, dim(header.height)?);
            limits.check_dimensions(width, height)?;
            if header.is_lossless {
                // SOF3 lossless JPEG (medical imaging archives, never a phone).
                return Err(ImageError::UnsupportedFormat {
                    detected: "lossless JPEG",
                });
            }
            // The full-size path holds the DCT coefficients (2 bytes a sample, up to 3
            // samples a pixel at 4:4:4) or, when it re-encodes, the decoded pixels: counted
            // as 6 bytes a pixel of source.
            let (decoder, source_bpp, output_bpp) = match header.colorspace {
                Colorspace::Gray => (Decoder::Turbo { header, grey: true }, 2, 1),
                Colorspace::YCbCr | Colorspace::RGB => (
                    Decoder::Turbo {
                        header,
                        grey: false,
                    },
                    6,
                    3,
                ),
                // CMYK/YCCK (print workflows): libjpeg-turbo cannot convert them to
                // RGB, `image` (zune-jpeg) can. Full size is re-encoded.
                _ => (Decoder::Image { lossless: false }, 4, 3),
            };
            (width, height, decoder, source_bpp, output_bpp)
        }
        PhotoFormat::Png => {
            let (width, height) = png_ihdr_dimensions(input)?;
            limits.check_dimensions(width, height)?;
            // Bit depth at byte 24, colour type at 25. Palette and sub-byte images expand to
            // 8 bits a sample; alpha keeps 4 channels for the full-size PNG.
            let bytes_per_sample = if input[24] == 16 { 2 } else { 1 };
            let (channels, output_bpp) = match input[25] {
                0 => (1, 1),
                2 => (3, 3),
                3 => (4, 4),
                4 => (2, 4),
                _ => (4, 4),
            };
            let decoder = Decoder::Image { lossless: true };
            (
                width,
                height,
                decoder,
                channels * bytes_per_sample,
                output_bpp,
            )
        }
        PhotoFormat::WebP => {
            check_riff_length(input)?;
            let (width, height) = webp_dimensions(input)?;
            limits.check_dimensions(width, height)?;
            // The image data is VP8L (lossless) or VP8 (lossy): the first of the two chunk
            // types in the RIFF chunk list. The EXIF chunk is for `meta`.
            let mut lossless = None;
            for (fourcc, payload) in sniff::riff_chunks(input) {
                match &fourcc {
                    b"VP8L" | b"VP8 " => {
                        lossless.get_or_insert(&fourcc == b"VP8L");
                    }
                    b"EXIF" => {
                        webp_exif.get_or_insert(payload);
                    }
                    _ => {}
                }
            }
            // Decodes to 8-bit RGB or RGBA; counted as RGBA.
            let decoder = Decoder::Image {
                lossless: lossless.unwrap_or(false),
            };
            (width, height, decoder, 4, 4)
        }
        PhotoFormat::Heic | PhotoFormat::Avif => {
            // Box lengths first (no library involved): one that runs past the end is an
            // interrupted upload, named as such rather than whatever libheif says about it.
            check_bmff_lengths(input)?;
            let h = heif::read_header(input)?;
            // The stored (coded) size bounds what is decoded, the shown size (after the
            // clean-aperture crop and the rotation) is what the renditions get: both are
            // checked.
            limits.check_dimensions(h.coded_width, h.coded_height)?;
            limits.check_dimensions(h.width, h.height)?;
            heif_orientation = true;
            // libheif holds the decoded planes at their own depth (2 bytes a sample above 8
            // bits, up to 4:4:4 plus alpha), then the interleaved 8-bit RGB(A) it converts them
            // to and a second copy when it rotates or mirrors; counted from the coded size.
            let bytes_per_sample = if h.bit_depth > 8 { 2 } else { 1 };
            let channels = if h.alpha { 4 } else { 3 };
            let coded_px = u64::from(h.coded_width) * u64::from(h.coded_height);
            let shown_px = u64::from(h.width) * u64::from(h.height);
            let source = coded_px * (channels * bytes_per_sample + 2 * channels);
            let source_bpp = source.div_ceil(shown_px.max(1));
            let decoder = Decoder::Heif { alpha: h.alpha };
            (h.width, h.height, decoder, source_bpp, channels)
        }
    };
    let mut meta = meta::read(input, webp_exif);
    if heif_orientation {
        // HEIF says how to show the image in its own transform properties (irot, imir),
        // which libheif applies when it decodes; an EXIF orientation inside the file is
        // informative only (HEIF, ISO/IEC 23008-12, 6.5.1) and applying it as well would turn
        // an iPhone photo twice. The dimensions above are already the upright ones.
        meta.orientation = Orientation::Normal;
    }
    Ok(Header {
        format,
        width,
        height,
        decoder,
        meta,
        source_bpp,
        output_bpp,
    })
}

impl Header {
    /// Per pixel: the decoded source at its own depth (16-bit PNGs take 2 bytes a sample)
    /// plus three 8-bit copies (working image, flattened or resized copy, encoder output).
    pub fn decode_estimate(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height) * (self.source_bpp + 3 * self.output_bpp)
    }

    /// Threads the render runs at once: a baseline JPEG's lossless full-size transform runs
    /// beside its display path, given two cores. A progressive JPEG is decoded first, under
    /// the scan limit, so a "many scans" CPU bomb is refused before the transform (which has
    /// no scan limit) ever runs.
    pub fn threads(&self) -> u32 {
        match self.decoder {
            Decoder::Turbo { header, .. } if !header.is_progressive && cores() >= 2 => 2,
            _ => 1,
        }
    }
}

fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The top-level boxes of an ISO base media file (HEIF): a box whose length runs past the end
/// of the file is a truncated upload; a length below its own header is a damaged file.
fn check_bmff_lengths(input: &[u8]) -> Result<(), ImageError> {
    let mut at = 0usize;
    while at < input.len() {
        let Some(head) = input.get(at..at + 8) else {
            return Err(ImageError::Truncated(format!(
                "HEIF box header at {at} cut off at {}",
                input.len()
            )));
        };
        let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let (size, header_len) = match size32 {
            // To the end of the file (only the last box may say so).
            0 => return Ok(()),
            1 => {
                let Some(large) = input.get(at + 8..at + 16) else {
                    return Err(ImageError::Truncated(format!(
                        "HEIF box size at {at} cut off"
                    )));
                };
                let mut b = [0u8; 8];
                b.copy_from_slice(large);
                (u64::from_be_bytes(b), 16u64)
            }
            n => (u64::from(n), 8u64),
        };
        if size < header_len {
            return Err(ImageError::Corrupt(format!(
                "HEIF box at {at} says it is {size} bytes long"
            )));
        }
        let end = (at as u64).saturating_add(size);
        if end > input.len() as u64 {
            let kind = String::from_utf8_lossy(&head[4..8]).into_owned();
            return Err(ImageError::Truncated(format!(
                "HEIF box {kind:?} at {at} says {size} bytes, the file ends at {}",
                input.len()
            )));
        }
        at = end as usize;
    }
    Ok(())
}

/// Width and height from the IHDR chunk, which the PNG spec requires to come
/// first. Read by hand (8 bytes at a fixed offset) so a header claiming
/// 65000×65000 is refused before a decoder is even created.
fn png_ihdr_dimensions(input: &[u8]) -> Result<(u32, u32), ImageError> {
    if input.len() < 33 {
        return Err(ImageError::Truncated("PNG shorter than its header".into()));
    }
    if &input[12..16] != b"IHDR" {
        return Err(ImageError::Corrupt("PNG does not start with IHDR".into()));
    }
    let be32 =
        |at: usize| u32::from_be_bytes([input[at], input[at + 1], input[at + 2], input[at + 3]]);
    Ok((be32(16), be32(20)))
}

/// A RIFF header whose length field runs past the end of the file is a
/// truncated upload.
fn check_riff_length(input: &[u8]) -> Result<(), ImageError> {
    let declared = u32::from_le_bytes([input[4], input[5], input[6], input[7]]) as usize;
    if declared.saturating_add(8) > input.len() {
        return Err(ImageError::Truncated(format!(
            "RIFF says {} bytes, file has {}",
            declared + 8,
            input.len()
        )));
    }
    Ok(())
}

/// Canvas size from a WebP header (VP8X extended, VP8L lossless or VP8
/// lossy bitstream header), read by hand for the same reason as the PNG one.
fn webp_dimensions(input: &[u8]) -> Result<(u32, u32), ImageError> {
    if input.len() < 30 {
        return Err(ImageError::Truncated("WebP shorter than its header".into()));
    }
    let b = input;
    let le24 =
        |at: usize| u32::from(b[at]) | u32::from(b[at + 1]) << 8 | u32::from(b[at + 2]) << 16;
    match &b[12..16] {
        b"VP8X" => Ok((le24(24) + 1, le24(27) + 1)),
        b"VP8L" if b[20] == 0x2F => {
            let bits = u32::from_le_bytes([b[21], b[22], b[23], b[24]]);
            Ok(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        b"VP8 " if b[23..26] == [0x9D, 0x01, 0x2A] => {
            let w = u32::from(u16::from_le_bytes([b[26], b[27]]) & 0x3FFF);
            let h = u32::from(u16::from_le_bytes([b[28], b[29]]) & 0x3FFF);
            Ok((w, h))
        }
        _ => Err(ImageError::Corrupt("unrecognised WebP header".into())),
    }
}
