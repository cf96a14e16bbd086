//! EXIF orientation (TIFF tag 0x0112), applied to the pixels.

use image::metadata::Orientation as ImgOrientation;
use image::{DynamicImage, GrayImage, RgbImage};
use turbojpeg::{Subsamp, TransformOp};

/// A picture's samples as stored: `w` × `h` samples of `channels` bytes (1 or 3), rows `stride`
/// bytes apart.
#[derive(Debug, Clone, Copy)]
pub(super) struct Samples<'a> {
    pub samples: &'a [u8],
    pub w: usize,
    pub h: usize,
    pub stride: usize,
    pub channels: usize,
}

impl<'a> Samples<'a> {
    /// Rows one after the other, with nothing between them.
    pub fn packed(samples: &'a [u8], (w, h): (usize, usize), channels: usize) -> Samples<'a> {
        Samples {
            samples,
            w,
            h,
            stride: w * channels,
            channels,
        }
    }
}

/// The 8 EXIF orientations, named by what must be done to the stored pixels
/// to show them upright.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Orientation {
    /// 1: stored upright.
    #[default]
    Normal,
    /// 2: mirror left-right.
    FlipH,
    /// 3: rotate 180°.
    Rotate180,
    /// 4: mirror top-bottom.
    FlipV,
    /// 5: mirror along the top-left/bottom-right diagonal.
    Transpose,
    /// 6: rotate 90° clockwise (phone held upright, the most common case).
    Rotate90,
    /// 7: mirror along the top-right/bottom-left diagonal.
    Transverse,
    /// 8: rotate 270° clockwise.
    Rotate270,
}

impl Orientation {
    /// Unknown values (0, 9+) are treated as upright, as browsers do.
    pub fn from_exif(value: u32) -> Orientation {
        match value {
            2 => Orientation::FlipH,
            3 => Orientation::Rotate180,
            4 => Orientation::FlipV,
            5 => Orientation::Transpose,
            6 => Orientation::Rotate90,
            7 => Orientation::Transverse,
            8 => Orientation::Rotate270,
            _ => Orientation::Normal,
        }
    }

    /// True when the upright image is the stored one turned on its side.
    pub fn swaps_dimensions(self) -> bool {
        matches!(
            self,
            Orientation::Transpose
                | Orientation::Rotate90
                | Orientation::Transverse
                | Orientation::Rotate270
        )
    }

    /// Whether the upright picture's x and y axes run backwards along the stored axes they
    /// follow (the stored x axis, or for a turn on its side the stored y axis).
    pub fn mirrors(self) -> (bool, bool) {
        match self {
            Orientation::Normal | Orientation::Transpose => (false, false),
            Orientation::FlipH | Orientation::Rotate90 => (true, false),
            Orientation::FlipV | Orientation::Rotate270 => (false, true),
            Orientation::Rotate180 | Orientation::Transverse => (true, true),
        }
    }

    /// Upright dimensions from stored ones.
    pub fn upright(self, width: u32, height: u32) -> (u32, u32) {
        if self.swaps_dimensions() {
            (height, width)
        } else {
            (width, height)
        }
    }

    /// The chroma subsampling of a picture of `subsamp` turned upright.
    pub fn upright_subsamp(self, subsamp: Subsamp) -> Subsamp {
        match (subsamp, self.swaps_dimensions()) {
            (Subsamp::Sub2x1, true) => Subsamp::Sub1x2,
            (Subsamp::Sub1x2, true) => Subsamp::Sub2x1,
            (Subsamp::Sub4x1, true) => Subsamp::Sub1x4,
            (Subsamp::Sub1x4, true) => Subsamp::Sub4x1,
            (s, _) => s,
        }
    }

    /// The lossless libjpeg-turbo transform with the same effect.
    pub fn transform_op(self) -> TransformOp {
        match self {
            Orientation::Normal => TransformOp::None,
            Orientation::FlipH => TransformOp::Hflip,
            Orientation::Rotate180 => TransformOp::Rot180,
            Orientation::FlipV => TransformOp::Vflip,
            Orientation::Transpose => TransformOp::Transpose,
            Orientation::Rotate90 => TransformOp::Rot90,
            Orientation::Transverse => TransformOp::Transverse,
            Orientation::Rotate270 => TransformOp::Rot270,
        }
    }

    /// Whether the lossless transform can keep every pixel: partial MCU blocks
    /// on the right/bottom edge cannot be moved to the left/top (same rule as
    /// libjpeg's `jtransform_perfect_transform`).
    pub fn is_perfect_for(self, width: u32, height: u32, mcu_w: u32, mcu_h: u32) -> bool {
        // A stored axis that is walked backwards must be whole MCUs.
        let (mirrors_x, mirrors_y) = self.mirrors();
        let (stored_x, stored_y) = if self.swaps_dimensions() {
            (mirrors_y, mirrors_x)
        } else {
            (mirrors_x, mirrors_y)
        };
        (!stored_x || width.is_multiple_of(mcu_w)) && (!stored_y || height.is_multiple_of(mcu_h))
    }

    /// Writes rows `rows` of the upright picture into `out`, rows `out_stride` bytes apart, from
    /// `stored`. A turn goes by tiles (below), 2–3× faster than `image`'s, which goes a pixel at
    /// a time, and each band of the full-size re-encode turns its own rows on its own thread.
    pub fn turn_rows(
        self,
        stored: Samples<'_>,
        rows: std::ops::Range<usize>,
        out: &mut [u8],
        out_stride: usize,
    ) {
        match stored.channels {
            1 => self.turn_rows_of::<1>(stored, rows, out, out_stride),
            3 => self.turn_rows_of::<3>(stored, rows, out, out_stride),
            other => unreachable!("{other} bytes a pixel"),
        }
    }

    fn turn_rows_of<const CH: usize>(
        self,
        stored: Samples<'_>,
        rows: std::ops::Range<usize>,
        out: &mut [u8],
        out_stride: usize,
    ) {
        let Samples {
            samples,
            w,
            h,
            stride,
            ..
        } = stored;
        let out_w = if self.swaps_dimensions() { h } else { w };
        // The stored sample of upright (x, y) starts at byte `base + x * along_x + y * along_y`:
        // each upright axis runs along a stored one, forwards or backwards from its far end.
        let across = (CH as isize, w as isize);
        let down = (stride as isize, h as isize);
        let (x_axis, y_axis) = if self.swaps_dimensions() {
            (down, across)
        } else {
            (across, down)
        };
        let (mirrors_x, mirrors_y) = self.mirrors();
        let mut base = 0;
        let mut along = |(step, len): (isize, isize), mirrored: bool| {
            if mirrored {
                base += (len - 1) * step;
                -step
            } else {
                step
            }
        };
        let (along_x, along_y) = (along(x_axis, mirrors_x), along(y_axis, mirrors_y));
        let at = |x: usize, y: usize| (base + x as isize * along_x + y as isize * along_y) as usize;
        let first_row = rows.start;
        let row_of = |y: usize| {
            let start = (y - first_row) * out_stride;
            start..start + out_w * CH
        };
        if !self.swaps_dimensions() {
            // Each upright row is one stored row, forwards or backwards.
            for y in rows {
                let (from, row) = (at(0, y), &mut out[row_of(y)]);
                if along_x > 0 {
                    row.copy_from_slice(&samples[from..from + out_w * CH]);
                } else {
                    let run = &samples[from + CH - out_w * CH..from + CH];
                    for (to, sample) in row.chunks_exact_mut(CH).zip(run.chunks_exact(CH).rev()) {
                        to.copy_from_slice(sample);
                    }
                }
            }
            return;
        }
        // A turn reads down the stored columns: by tiles of TILE × TILE samples, so that both the
        // reads and the writes touch few cache lines and pages at once (walking every column for
        // eight rows at a time took 29 % of a 20 MP re-encode's CPU, `perf`). An upright column
        // of a tile is a run of one stored row, read forwards (or backwards) in one slice. A tile
        // walks along the same stored rows, so they stay in the TLB.
        const TILE: usize = 64;
        let mut tile = [0u8; TILE * TILE * 3];
        for x0 in (0..out_w).step_by(TILE) {
            let t = TILE.min(out_w - x0);
            for y0 in rows.clone().step_by(TILE) {
                let g = TILE.min(rows.end - y0);
                // Planes (a byte a sample): by 16 × 16 blocks transposed in registers
                // (`bytes16`). A sample at a time, a 20 MP re-encode from its planes spent 15 % of
                // its CPU turning them; 7 % this way with the prefetch below (`perf`).
                if CH == 1 {
                    // The next tile's runs (the same stored rows, further along), asked for
                    // ahead: each of this tile's 64 rows is a cache miss of its own, which the
                    // hardware does not see coming (loads took most of the turn, `perf annotate`).
                    if y0 + 2 * TILE <= rows.end {
                        for dx in 0..t {
                            let next = at(x0 + dx, y0 + TILE);
                            let (first, last) = if along_y > 0 {
                                (next, next + TILE - 1)
                            } else {
                                (next + 1 - TILE, next)
                            };
                            prefetch(samples, first);
                            prefetch(samples, last);
                        }
                    }
                    for by in (0..g).step_by(16) {
                        for bx in (0..t).step_by(16) {
                            let (x, y) = (x0 + bx, y0 + by);
                            if bx + 16 > t || by + 16 > g {
                                // A part block at the picture's or the band's edge.
                                for dy in 0..16.min(g - by) {
                                    let row = &mut out[row_of(y + dy)];
                                    for dx in 0..16.min(t - bx) {
                                        row[x + dx] = samples[at(x + dx, y + dy)];
                                    }
                                }
                                continue;
                            }
                            let runs = std::array::from_fn(|dx| {
                                let from = at(x + dx, y);
                                let start = if along_y > 0 { from } else { from - 15 };
                                bytes16::load(&samples[start..start + 16])
                            });
                            for (k, column) in bytes16::transpose(runs).iter().enumerate() {
                                let dy = if along_y > 0 { k } else { 15 - k };
                                out[row_of(y + dy)][x..x + 16].copy_from_slice(column);
                            }
                        }
                    }
                    continue;
                }
                // Pixels: gathered into a small buffer (in L1), written out a row at a time.
                for dx in 0..t {
                    let from = at(x0 + dx, y0);
                    let column = tile[dx * CH..].chunks_mut(TILE * CH);
                    if along_y > 0 {
                        let run = samples[from..from + g * CH].chunks_exact(CH);
                        for (to, sample) in column.zip(run) {
                            to[..CH].copy_from_slice(sample);
                        }
                    } else {
                        let run = samples[from + CH - g * CH..from + CH].chunks_exact(CH);
                        for (to, sample) in column.zip(run.rev()) {
                            to[..CH].copy_from_slice(sample);
                        }
                    }
                }
                for dy in 0..g {
                    let row = &mut out[row_of(y0 + dy)];
                    row[x0 * CH..(x0 + t) * CH]
                        .copy_from_slice(&tile[dy * TILE * CH..(dy * TILE + t) * CH]);
                }
            }
        }
    }

    /// Applies the orientation to decoded pixels: by [`Orientation::turn_rows`] for 8-bit grey
    /// and RGB (the display copy of every JPEG), else by `image`'s implementation of the same 8
    /// cases, which goes a pixel at a time (2 % of a turned photo's CPU, `perf`).
    pub fn apply(self, img: &mut DynamicImage) {
        if self == Orientation::Normal {
            return;
        }
        let (w, h) = (img.width(), img.height());
        let (uw, uh) = self.upright(w, h);
        let turn = |samples: &[u8], channels: usize| {
            let stored = Samples::packed(samples, (w as usize, h as usize), channels);
            let row = uw as usize * channels;
            let mut out = super::pixel_buffer(row * uh as usize);
            self.turn_rows(stored, 0..uh as usize, &mut out, row);
            out
        };
        let turned = match img {
            DynamicImage::ImageRgb8(rgb) => {
                RgbImage::from_raw(uw, uh, turn(rgb.as_raw(), 3)).map(DynamicImage::ImageRgb8)
            }
            DynamicImage::ImageLuma8(grey) => {
                GrayImage::from_raw(uw, uh, turn(grey.as_raw(), 1)).map(DynamicImage::ImageLuma8)
            }
            _ => None,
        };
        if let Some(turned) = turned {
            *img = turned;
            return;
        }
        let o = match self {
            Orientation::Normal => return,
            Orientation::FlipH => ImgOrientation::FlipHorizontal,
            Orientation::Rotate180 => ImgOrientation::Rotate180,
            Orientation::FlipV => ImgOrientation::FlipVertical,
            Orientation::Transpose => ImgOrientation::Rotate90FlipH,
            Orientation::Rotate90 => ImgOrientation::Rotate90,
            Orientation::Transverse => ImgOrientation::Rotate270FlipH,
            Orientation::Rotate270 => ImgOrientation::Rotate270,
        };
        img.apply_orientation(o);
    }
}

/// Asks for the cache line that holds `samples[i]`, ahead of its use, where the target has an
/// instruction for it (x86-64's `prefetcht0`; elsewhere nothing).
#[inline]
fn prefetch(samples: &[u8], i: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(sample) = samples.get(i) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch is only a hint: it never faults and changes no memory, and the
        // address is inside `samples` anyway.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(sample).cast()) }
    }
}

/// A 16 × 16 byte transpose, written so that the compiler keeps the rows in SIMD registers and
/// interleaves them with byte unpacks (SSE2's `punpcklbw`/`punpckhbw`, NEON's `zip1`/`zip2`):
/// no `unsafe` intrinsics needed.
mod bytes16 {
    pub type Row = [u8; 16];

    pub fn load(bytes: &[u8]) -> Row {
        bytes.try_into().expect("16 bytes")
    }

    /// Row `i`'s byte `j` becomes row `j`'s byte `i`. Each round interleaves row `k` with row
    /// `k + 8` into rows `2k` and `2k + 1`: the byte at row (r3 r2 r1 r0), position (p3 p2 p1 p0)
    /// (in bits) moves to row (r2 r1 r0 p3), position (p2 p1 p0 r3), so that four rounds swap the
    /// row and position bits.
    #[inline]
    pub fn transpose(mut a: [Row; 16]) -> [Row; 16] {
        for _ in 0..4 {
            let mut b = a;
            for k in 0..8 {
                let (x, y) = (a[k], a[k + 8]);
                b[2 * k] = std::array::from_fn(|i| if i % 2 == 0 { x[i / 2] } else { y[i / 2] });
                b[2 * k + 1] = std::array::from_fn(|i| {
                    if i % 2 == 0 {
                        x[8 + i / 2]
                    } else {
                        y[8 + i / 2]
                    }
                });
            }
            a = b;
        }
        a
    }
}
