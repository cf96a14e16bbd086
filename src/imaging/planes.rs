//! The full-size re-encode of a colour JPEG whose turn cannot be lossless, done on the picture's
//! own YCbCr planes rather than on RGB pixels: libjpeg-turbo decodes the planes as they are coded
//! (no chroma upsampling, no colour conversion), they are turned upright band by band and coded
//! again from planes (no colour conversion, no chroma downsampling). Half the bytes to decode
//! into, turn and code of the RGB way at 4:2:0, and the chroma samples are kept rather than
//! blurred by an upsampling and a downsampling.

use std::ops::Range;

use turbojpeg::{Compressor, Subsamp, YuvImage, YuvPlanesImage};

use super::orient::{Orientation, Samples};
use super::turbo::{code_in_bands, internal, Bands};
use super::turn::BandSource;
use super::ImageError;

/// A picture's three planes as libjpeg-turbo lays them out (alignment 1): Y, then Cb, then Cr.
/// A plane's sides are padded to whole chroma samples: a 4:2:0 picture 3391 rows high has a Y
/// plane 3392 rows high and chroma planes 1696 rows high.
pub(super) struct Planes {
    bytes: Vec<u8>,
    width: usize,
    height: usize,
    subsamp: Subsamp,
}

/// Luma samples to a chroma sample, across and down: 1 or 2 for the subsamplings taken here.
fn factors(subsamp: Subsamp) -> (usize, usize) {
    (subsamp.mcu_width() / 8, subsamp.mcu_height() / 8)
}

/// Whether a JPEG of this subsampling can be re-encoded from its planes: a subsampling of at most
/// 2 across and down (a turn that moves a partial chroma sample to the other edge shifts the
/// chroma by one luma sample, which is undone below by averaging neighbours; a 4:1:1 shift of up
/// to three is not).
pub(super) fn takes(subsamp: Subsamp) -> bool {
    matches!(
        subsamp,
        Subsamp::None | Subsamp::Sub2x1 | Subsamp::Sub1x2 | Subsamp::Sub2x2
    )
}

impl Planes {
    /// Room for the planes of a `width` × `height` picture of a subsampling [`takes`]
    /// accepts, for [`Planes::image`] to be decoded into.
    pub(super) fn new(width: usize, height: usize, subsamp: Subsamp) -> Result<Planes, ImageError> {
        if !takes(subsamp) {
            return Err(ImageError::Internal(format!("no planes for {subsamp:?}")));
        }
        let len = turbojpeg::yuv_pixels_len(width, 1, height, subsamp).map_err(internal)?;
        Ok(Planes {
            bytes: super::pixel_buffer(len),
            width,
            height,
            subsamp,
        })
    }

    /// The planes as libjpeg-turbo's decoder writes them.
    pub(super) fn image(&mut self) -> YuvImage<&mut [u8]> {
        YuvImage {
            pixels: self.bytes.as_mut_slice(),
            width: self.width,
            align: 1,
            height: self.height,
            subsamp: self.subsamp,
        }
    }

    /// The Y plane's samples, then Cb's and Cr's.
    fn samples(&self) -> [Samples<'_>; 3] {
        let (fx, fy) = factors(self.subsamp);
        let (pw, ph) = (
            self.width.next_multiple_of(fx),
            self.height.next_multiple_of(fy),
        );
        let (cw, ch) = (pw / fx, ph / fy);
        let (y, chroma) = self.bytes.split_at(pw * ph);
        let (cb, cr) = chroma.split_at(cw * ch);
        let plane = |samples, w, h, stride| Samples {
            samples,
            w,
            h,
            stride,
            channels: 1,
        };
        [
            plane(y, self.width, self.height, pw),
            plane(cb, cw, ch, cw),
            plane(&cr[..cw * ch], cw, ch, cw),
        ]
    }

    /// The planes turned upright by `orientation` and coded as one baseline JPEG with the same
    /// subsampling (turned), in bands of whole MCU rows on up to `threads` threads, joined with
    /// restart markers as [`turbo::encode_in_bands`](super::turbo::encode_in_bands) joins its.
    /// (On two threads, the render shares the bands through a [`Turn`](super::turn::Turn).)
    pub(super) fn encode_in_bands(
        self,
        orientation: Orientation,
        quality: i32,
        threads: u32,
    ) -> Result<Vec<u8>, ImageError> {
        let encoder = Encoder::new(self, orientation, quality);
        let (w, h) = encoder.upright;
        let bands = Bands::for_full_size(w, h, encoder.subsamp, threads);
        code_in_bands(bands, h, threads, &|rows| encoder.band(rows))
    }
}

/// Planes to be turned upright and coded, a band of rows at a time.
pub(super) struct Encoder {
    planes: Planes,
    orientation: Orientation,
    quality: i32,
    /// The upright picture's width and height, and its subsampling.
    upright: (usize, usize),
    subsamp: Subsamp,
    /// Where a turn mirrors an odd side of a subsampled axis, the partial chroma sample at the
    /// far edge comes to the near one, and every chroma sample then covers the second luma
    /// sample of one stored sample and the first of the next: the mean of the two, across
    /// (`mean_x`) or down (`mean_y`).
    mean_x: bool,
    mean_y: bool,
}

impl Encoder {
    pub(super) fn new(planes: Planes, orientation: Orientation, quality: i32) -> Encoder {
        let (w, h) = orientation.upright(planes.width as u32, planes.height as u32);
        let (w, h) = (w as usize, h as usize);
        let subsamp = orientation.upright_subsamp(planes.subsamp);
        let (fx, fy) = factors(subsamp);
        let (mirrors_x, mirrors_y) = orientation.mirrors();
        Encoder {
            planes,
            orientation,
            quality,
            upright: (w, h),
            subsamp,
            mean_x: mirrors_x && fx == 2 && w % 2 == 1,
            mean_y: mirrors_y && fy == 2 && h % 2 == 1,
        }
    }
}

impl BandSource for Encoder {
    /// Rows `rows` of the upright picture (whole MCU rows but for the last band) as a JPEG of
    /// their own.
    fn band(&self, rows: Range<usize>) -> Result<Vec<u8>, ImageError> {
        let [y, cb, cr] = self.planes.samples();
        let ((w, h), orientation) = (self.upright, self.orientation);
        let (fx, fy) = factors(self.subsamp);
        let (pw, cw) = (w.next_multiple_of(fx), w.div_ceil(fx));
        let chroma_rows = h.div_ceil(fy);
        let band_h = rows.len();
        let padded_h = band_h.next_multiple_of(fy);
        let mut luma = super::pixel_buffer(pw * padded_h);
        orientation.turn_rows(y, rows.clone(), &mut luma, pw);
        pad(&mut luma, pw, w, band_h);

        let c = rows.start / fy..rows.start / fy + padded_h / fy;
        // One chroma row more than the band's, for the mean down.
        let read = c.start..(c.end + usize::from(self.mean_y)).min(chroma_rows);
        let turn_chroma = |plane: Samples<'_>| {
            let mut out = super::pixel_buffer(cw * read.len());
            orientation.turn_rows(plane, read.clone(), &mut out, cw);
            if self.mean_x {
                for row in out.chunks_exact_mut(cw) {
                    for x in 0..cw - 1 {
                        row[x] = mean(row[x], row[x + 1]);
                    }
                }
            }
            if self.mean_y {
                for r in 0..c.len() {
                    let next = (r + 1).min(read.len() - 1) * cw;
                    for x in 0..cw {
                        out[r * cw + x] = mean(out[r * cw + x], out[next + x]);
                    }
                }
            }
            out.truncate(cw * c.len());
            out
        };
        let (u, v) = (turn_chroma(cb), turn_chroma(cr));
        let mut compressor = Compressor::new().map_err(internal)?;
        compressor.set_quality(self.quality).map_err(internal)?;
        let image = YuvPlanesImage {
            y_plane: luma.as_slice(),
            u_plane: u.as_slice(),
            v_plane: v.as_slice(),
            width: w,
            height: band_h,
            y_stride: pw,
            u_stride: cw,
            v_stride: cw,
            subsamp: self.subsamp,
        };
        compressor
            .compress_yuv_planes_to_vec(&image)
            .map_err(internal)
    }
}

/// The padding libjpeg-turbo reads past a plane's last sample and row: copies of them.
fn pad(plane: &mut [u8], stride: usize, w: usize, rows: usize) {
    if stride > w {
        for row in plane.chunks_exact_mut(stride) {
            let last = row[w - 1];
            row[w..].fill(last);
        }
    }
    let (filled, padding) = plane.split_at_mut(rows * stride);
    let last = &filled[(rows - 1) * stride..];
    for row in padding.chunks_exact_mut(stride) {
        row.copy_from_slice(last);
    }
}

fn mean(a: u8, b: u8) -> u8 {
    ((u16::from(a) + u16::from(b)).div_ceil(2)) as u8
}
