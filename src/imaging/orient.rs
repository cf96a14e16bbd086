//! EXIF orientation (TIFF tag 0x0112), applied to the pixels.

use image::metadata::Orientation as ImgOrientation;
use image::DynamicImage;
use turbojpeg::TransformOp;

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

    /// Upright dimensions from stored ones.
    pub fn upright(self, width: u32, height: u32) -> (u32, u32) {
        if self.swaps_dimensions() {
            (height, width)
        } else {
            (width, height)
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
        let w_ok = width.is_multiple_of(mcu_w);
        let h_ok = height.is_multiple_of(mcu_h);
        match self {
            Orientation::Normal | Orientation::Transpose => true,
            Orientation::FlipH | Orientation::Rotate270 => w_ok,
            Orientation::FlipV | Orientation::Rotate90 => h_ok,
            Orientation::Rotate180 | Orientation::Transverse => w_ok && h_ok,
        }
    }

    /// Writes rows `rows` of the upright picture into `out`, from `stored`: `w` × `h` pixels of
    /// `channels` bytes (1 or 3), row by row, as stored. A turn goes by tiles (below), 2–3× faster
    /// than `image`'s, which goes a pixel at a time, and each band of the full-size re-encode
    /// turns its own rows on its own thread.
    pub fn turn_rows(
        self,
        stored: &[u8],
        (w, h): (usize, usize),
        channels: usize,
        rows: std::ops::Range<usize>,
        out: &mut [u8],
    ) {
        match channels {
            1 => self.turn_rows_of::<1>(stored, (w, h), rows, out),
            3 => self.turn_rows_of::<3>(stored, (w, h), rows, out),
            other => unreachable!("{other} bytes a pixel"),
        }
    }

    fn turn_rows_of<const CH: usize>(
        self,
        stored: &[u8],
        (w, h): (usize, usize),
        rows: std::ops::Range<usize>,
        out: &mut [u8],
    ) {
        let out_w = if self.swaps_dimensions() { h } else { w };
        // The stored pixel at upright (x, y) is `start(y) + x * step`, counted in pixels.
        let (w_i, h_i) = (w as isize, h as isize);
        let start = |y: isize| match self {
            Orientation::Normal => y * w_i,
            Orientation::FlipH => y * w_i + w_i - 1,
            Orientation::FlipV => (h_i - 1 - y) * w_i,
            Orientation::Rotate180 => (h_i - 1 - y) * w_i + w_i - 1,
            Orientation::Transpose => y,
            Orientation::Rotate90 => (h_i - 1) * w_i + y,
            Orientation::Rotate270 => w_i - 1 - y,
            Orientation::Transverse => (h_i - 1) * w_i + w_i - 1 - y,
        };
        let step = match self {
            Orientation::Normal | Orientation::FlipV => 1,
            Orientation::FlipH | Orientation::Rotate180 => -1,
            Orientation::Transpose | Orientation::Rotate270 => w_i,
            Orientation::Rotate90 | Orientation::Transverse => -w_i,
        };
        let mut out_rows = out.chunks_exact_mut(out_w * CH).collect::<Vec<_>>();
        if !self.swaps_dimensions() {
            // Each upright row is one stored row, forwards or backwards.
            for (y, row) in rows.zip(&mut out_rows) {
                let s = start(y as isize);
                for (x, pixel) in row.chunks_exact_mut(CH).enumerate() {
                    let from = (s + x as isize * step) as usize * CH;
                    pixel.copy_from_slice(&stored[from..from + CH]);
                }
            }
            return;
        }
        // A turn reads down the stored columns: by tiles of TILE × TILE pixels, gathered into a
        // small buffer (in L1) and written out a row at a time, so that both the reads and the
        // writes touch few cache lines and pages at once. Walking every column for eight rows at
        // a time took 29 % of a 20 MP re-encode's CPU (`perf`), a third of that now.
        const TILE: usize = 64;
        let along = start(1) - start(0);
        let mut tile = [0u8; TILE * TILE * 3];
        let first_row = rows.start;
        for y0 in rows.clone().step_by(TILE) {
            let g = TILE.min(rows.end - y0);
            let s0 = start(y0 as isize);
            for x0 in (0..out_w).step_by(TILE) {
                let t = TILE.min(out_w - x0);
                for dx in 0..t {
                    let first = s0 + (x0 + dx) as isize * step;
                    for dy in 0..g {
                        let from = (first + dy as isize * along) as usize * CH;
                        let to = (dy * TILE + dx) * CH;
                        tile[to..to + CH].copy_from_slice(&stored[from..from + CH]);
                    }
                }
                for dy in 0..g {
                    let row = &mut out_rows[y0 - first_row + dy];
                    row[x0 * CH..(x0 + t) * CH]
                        .copy_from_slice(&tile[dy * TILE * CH..(dy * TILE + t) * CH]);
                }
            }
        }
    }

    /// Applies the orientation to decoded pixels (uses `image`'s
    /// implementation of the same 8 cases; the full-size re-encode turns its
    /// bands with [`Orientation::turn_rows`] instead).
    pub fn apply(self, img: &mut DynamicImage) {
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
