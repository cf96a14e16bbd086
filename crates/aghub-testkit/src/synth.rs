//! Synthetic "phone photo of a skin lesion" images, for the tests, the
//! benchmark and the demo sample images. Not part of aghub: never used on uploads.
//!
//! Procedural: skin tone with low-frequency mottling, micro-texture and
//! pores, a pigmented lesion with an irregular border, darker globules and an
//! erythematous halo, a few hairs, lens vignetting and sensor noise, so that
//! JPEG sizes and decode costs are close to a real 12 MP phone photo
//! (~3–4 MB at quality 92). Also a tiny EXIF writer to plant camera-style
//! metadata (orientation, make/model/serial, GPS, DateTimeOriginal, a maker
//! note) without external tools.

use image::metadata::Orientation;
use image::{DynamicImage, RgbImage};

/// xorshift64*: hand-written so the images are bit-identical across
/// platforms and `rand` versions, and fast enough for 12 MP per-pixel noise.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Roughly normal (Irwin–Hall of 4), mean 0, sd 1.
    fn gauss(&mut self) -> f32 {
        let v = self.next_u64();
        let s: u32 = (0..4).map(|i| ((v >> (16 * i)) & 0xFFFF) as u32).sum();
        (s as f32 / 65535.0 - 2.0) * 1.732
    }
}

/// Smooth value noise in [-1, 1] with a given cell size in pixels.
struct Noise {
    grid: Vec<f32>,
    gw: usize,
    inv_cell: f32,
}

impl Noise {
    fn new(rng: &mut Rng, width: u32, height: u32, cell: f32) -> Noise {
        let cell = cell.max(1.0);
        let gw = (width as f32 / cell) as usize + 3;
        let gh = (height as f32 / cell) as usize + 3;
        let grid = (0..gw * gh).map(|_| rng.f32() * 2.0 - 1.0).collect();
        Noise {
            grid,
            gw,
            inv_cell: 1.0 / cell,
        }
    }
    fn at(&self, x: f32, y: f32) -> f32 {
        let (gx, gy) = (x * self.inv_cell, y * self.inv_cell);
        let (ix, iy) = (gx as usize, gy as usize);
        let (fx, fy) = (gx - ix as f32, gy - iy as f32);
        let (sx, sy) = (fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy));
        let i = iy * self.gw + ix;
        let (a, b, c, d) = (
            self.grid[i],
            self.grid[i + 1],
            self.grid[i + self.gw],
            self.grid[i + self.gw + 1],
        );
        let top = a + (b - a) * sx;
        let bottom = c + (d - c) * sx;
        top + (bottom - top) * sy
    }
}

/// Skin tones (sRGB) from light to dark, so samples are not all one type.
const TONES: [[f32; 3]; 4] = [
    [226.0, 180.0, 158.0],
    [205.0, 150.0, 118.0],
    [168.0, 116.0, 84.0],
    [112.0, 76.0, 56.0],
];

/// An upright synthetic close-up of a pigmented skin lesion.
pub fn skin_photo(width: u32, height: u32, seed: u64) -> RgbImage {
    let mut rng = Rng::new(seed);
    let scale = width.min(height) as f32 / 1500.0;
    let tone = TONES[(seed % TONES.len() as u64) as usize];
    let low = Noise::new(&mut rng, width, height, 380.0 * scale);
    let low2 = Noise::new(&mut rng, width, height, 170.0 * scale);
    let mid = Noise::new(&mut rng, width, height, 28.0 * scale);
    let fine = Noise::new(&mut rng, width, height, 5.0 * scale);
    let pores = Noise::new(&mut rng, width, height, 3.0 * scale);
    let mottle = Noise::new(&mut rng, width, height, 26.0 * scale);
    let mottle2 = Noise::new(&mut rng, width, height, 9.0 * scale);

    // Lesion: irregular outline r(θ) = R·(1 + Σ a_k·sin(kθ + φ_k)).
    let (cx, cy) = (
        width as f32 * (0.42 + 0.16 * rng.f32()),
        height as f32 * (0.40 + 0.2 * rng.f32()),
    );
    let radius = width.min(height) as f32 * (0.09 + 0.06 * rng.f32());
    let harmonics: Vec<(f32, f32, f32)> = (2..7)
        .map(|k| {
            (
                k as f32,
                0.16 / k as f32 * (0.5 + rng.f32()),
                rng.f32() * std::f32::consts::TAU,
            )
        })
        .collect();
    let dark = [78.0 + 20.0 * rng.f32(), 48.0, 34.0];
    let light = [150.0, 100.0, 72.0];

    let mut img = RgbImage::new(width, height);
    let rmax2 = (width as f32 / 2.0).powi(2) + (height as f32 / 2.0).powi(2);
    for (y, row) in img.rows_mut().enumerate() {
        let yf = y as f32;
        for (x, px) in row.enumerate() {
            let xf = x as f32;
            let (lo, lo2, m, f) = (
                low.at(xf, yf),
                low2.at(xf, yf),
                mid.at(xf, yf),
                fine.at(xf, yf),
            );
            let lum = 1.0 + 0.07 * lo + 0.035 * m + 0.06 * f;
            let mut c = [
                tone[0] * lum * (1.0 + 0.03 * lo2),
                tone[1] * lum,
                tone[2] * lum * (1.0 - 0.02 * lo2),
            ];
            // Pores: sparse dark specks where the pore noise peaks.
            let p = pores.at(xf, yf);
            if p > 0.55 {
                let k = 1.0 - (p - 0.55) * 0.45;
                c.iter_mut().for_each(|v| *v *= k);
            }
            // Lesion and halo.
            let (dx, dy) = (xf - cx, yf - cy);
            let theta = dy.atan2(dx);
            let wobble: f32 = harmonics
                .iter()
                .map(|&(k, a, ph)| a * (k * theta + ph).sin())
                .sum();
            let d = (dx * dx + dy * dy).sqrt() / (radius * (1.0 + wobble + 0.06 * m));
            if d < 2.2 {
                let erythema = (-((d - 1.05) / 0.45).powi(2)).exp() * (1.0 + 0.3 * lo2);
                c[0] += 16.0 * erythema;
                c[1] -= 12.0 * erythema;
                c[2] -= 6.0 * erythema;
                let inside = ((1.08 - d) / 0.16).clamp(0.0, 1.0);
                if inside > 0.0 {
                    let mt = 0.65 * mottle.at(xf, yf) + 0.35 * mottle2.at(xf, yf);
                    let t = (0.45 + 0.7 * mt + 0.35 * (1.0 - d)).clamp(0.0, 1.0);
                    let mut lc = [0.0; 3];
                    for i in 0..3 {
                        lc[i] = light[i] + (dark[i] - light[i]) * t;
                    }
                    // Darker globules, with soft edges.
                    let globule =
                        ((mt - 0.3) / 0.15).clamp(0.0, 1.0) * ((0.85 - d) / 0.2).clamp(0.0, 1.0);
                    lc.iter_mut().for_each(|v| *v *= 1.0 - 0.3 * globule);
                    let tex = 1.0 + 0.08 * f;
                    for i in 0..3 {
                        c[i] = c[i] * (1.0 - inside) + lc[i] * tex * inside;
                    }
                }
            }
            let vignette = 1.0
                - 0.22
                    * ((dx + cx - width as f32 / 2.0).powi(2) + (yf - height as f32 / 2.0).powi(2))
                    / rmax2;
            for (i, v) in c.iter().enumerate() {
                px.0[i] = (v * vignette + 3.2 * rng.gauss()).clamp(0.0, 255.0) as u8;
            }
        }
    }
    draw_hairs(&mut img, &mut rng, scale);
    img
}

/// A few dark, slightly curved hairs (quadratic Bézier curves).
fn draw_hairs(img: &mut RgbImage, rng: &mut Rng, scale: f32) {
    let (w, h) = (img.width() as f32, img.height() as f32);
    for _ in 0..5 {
        let p0 = (rng.f32() * w, rng.f32() * h);
        let angle = rng.f32() * std::f32::consts::TAU;
        let len = (250.0 + 400.0 * rng.f32()) * scale;
        let p2 = (p0.0 + len * angle.cos(), p0.1 + len * angle.sin());
        let bend = (rng.f32() - 0.5) * len * 0.2;
        let p1 = (
            (p0.0 + p2.0) / 2.0 - bend * angle.sin(),
            (p0.1 + p2.1) / 2.0 + bend * angle.cos(),
        );
        let thick = (1.2 + rng.f32()) * scale.max(0.5);
        let steps = (len * 2.0) as usize;
        for s in 0..=steps {
            let t = s as f32 / steps as f32;
            let u = 1.0 - t;
            let x = u * u * p0.0 + 2.0 * u * t * p1.0 + t * t * p2.0;
            let y = u * u * p0.1 + 2.0 * u * t * p1.1 + t * t * p2.1;
            let r = thick.ceil() as i32 + 1;
            for oy in -r..=r {
                for ox in -r..=r {
                    let (px, py) = (x as i32 + ox, y as i32 + oy);
                    if px < 0 || py < 0 || px >= w as i32 || py >= h as i32 {
                        continue;
                    }
                    let dist = ((px as f32 - x).powi(2) + (py as f32 - y).powi(2)).sqrt();
                    let cover = (thick - dist).clamp(0.0, 1.0) * 0.5;
                    if cover > 0.0 {
                        let p = img.get_pixel_mut(px as u32, py as u32);
                        let hair = [52.0, 36.0, 28.0];
                        for (v, hv) in p.0.iter_mut().zip(hair) {
                            *v = (f32::from(*v) * (1.0 - cover) + hv * cover) as u8;
                        }
                    }
                }
            }
        }
    }
}

/// Stores an upright image the way a camera would for EXIF orientation
/// `exif_orientation`: the returned pixels, displayed with that tag applied,
/// show `upright`.
pub fn as_stored_by_camera(upright: &RgbImage, exif_orientation: u16) -> RgbImage {
    // The inverse of what the tag asks a viewer to do (the flips and transposes undo
    // themselves); unknown values mean upright, as for aghub and browsers.
    let undo = match u8::try_from(exif_orientation)
        .ok()
        .and_then(Orientation::from_exif)
    {
        Some(Orientation::Rotate90) => Orientation::Rotate270,
        Some(Orientation::Rotate270) => Orientation::Rotate90,
        Some(other) => other,
        None => Orientation::NoTransforms,
    };
    let mut img = DynamicImage::ImageRgb8(upright.clone());
    img.apply_orientation(undo);
    img.to_rgb8()
}

/// Baseline JPEG, 4:2:0, like a phone camera (libjpeg-turbo).
pub fn encode_jpeg(img: &RgbImage, quality: i32) -> Vec<u8> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let image = turbojpeg::Image {
        pixels: img.as_raw().as_slice(),
        width: w,
        pitch: w * 3,
        height: h,
        format: turbojpeg::PixelFormat::RGB,
    };
    turbojpeg::compress(image, quality, turbojpeg::Subsamp::Sub2x2)
        .map(|b| b.to_vec())
        .expect("encoding a synthetic image")
}

/// Camera-style metadata to plant in a synthetic JPEG.
#[derive(Debug, Clone)]
pub struct ExifSpec {
    pub orientation: u16,
    pub make: String,
    pub model: String,
    pub body_serial: String,
    /// "YYYY:MM:DD HH:MM:SS"
    pub datetime_original: String,
    /// (latitude, longitude) in degrees, signed.
    pub gps: Option<(f64, f64)>,
    /// Opaque bytes, like an Apple/Samsung maker note.
    pub maker_note: Vec<u8>,
}

impl Default for ExifSpec {
    fn default() -> Self {
        ExifSpec {
            orientation: 1,
            make: "Apple".into(),
            model: "iPhone 13".into(),
            body_serial: "F17XK2QHPLJN".into(),
            datetime_original: "2024:03:14 09:26:53".into(),
            gps: Some((51.507_222, -0.1275)),
            maker_note: b"Apple iOS\0\0\x01MMsynthetic-maker-note".to_vec(),
        }
    }
}

/// A JPEG as a phone would write it: upright content stored rotated for
/// `exif.orientation`, with an EXIF APP1 segment right after SOI.
pub fn camera_jpeg(upright: &RgbImage, quality: i32, exif: &ExifSpec) -> Vec<u8> {
    let stored = as_stored_by_camera(upright, exif.orientation);
    insert_app1(&encode_jpeg(&stored, quality), &exif_app1(exif))
}

/// Inserts a complete APPn segment right after SOI.
pub fn insert_app1(jpeg: &[u8], segment: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(jpeg.len() + segment.len());
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(segment);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A complete APP1 "Exif" segment (marker included), big-endian TIFF with
/// IFD0 (Make, Model, Orientation), an Exif IFD (DateTimeOriginal, MakerNote,
/// BodySerialNumber) and a GPS IFD.
pub fn exif_app1(spec: &ExifSpec) -> Vec<u8> {
    let tiff = exif_tiff(spec);
    let mut seg = vec![0xFF, 0xE1];
    seg.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
    seg.extend_from_slice(b"Exif\0\0");
    seg.extend_from_slice(&tiff);
    seg
}

/// The bare TIFF structure of [`exif_app1`] (what PNG eXIf / WebP EXIF hold).
pub fn exif_tiff(spec: &ExifSpec) -> Vec<u8> {
    const ASCII: u16 = 2;
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    const RATIONAL: u16 = 5;
    const BYTE: u16 = 1;
    const UNDEFINED: u16 = 7;
    fn ascii(s: &str) -> (u16, u32, Vec<u8>) {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        (ASCII, v.len() as u32, v)
    }
    fn rationals(vals: &[(u32, u32)]) -> (u16, u32, Vec<u8>) {
        let mut v = Vec::new();
        for (n, d) in vals {
            v.extend_from_slice(&n.to_be_bytes());
            v.extend_from_slice(&d.to_be_bytes());
        }
        (RATIONAL, vals.len() as u32, v)
    }
    fn dms(deg: f64) -> Vec<(u32, u32)> {
        let deg = deg.abs();
        let d = deg.floor();
        let m = ((deg - d) * 60.0).floor();
        let s = ((deg - d) * 60.0 - m) * 60.0;
        vec![
            (d as u32, 1),
            (m as u32, 1),
            ((s * 100.0).round() as u32, 100),
        ]
    }
    type Entry = (u16, (u16, u32, Vec<u8>));
    // Size of an IFD with its out-of-line data.
    fn ifd_len(entries: &[Entry]) -> usize {
        2 + 12 * entries.len()
            + 4
            + entries
                .iter()
                .map(|(_, (_, _, d))| {
                    if d.len() > 4 {
                        d.len() + (d.len() & 1)
                    } else {
                        0
                    }
                })
                .sum::<usize>()
    }
    fn write_ifd(out: &mut Vec<u8>, entries: &[Entry]) {
        let start = out.len();
        let mut data_at = start + 2 + 12 * entries.len() + 4;
        let mut data = Vec::new();
        out.extend_from_slice(&(entries.len() as u16).to_be_bytes());
        for (tag, (ty, count, bytes)) in entries {
            out.extend_from_slice(&tag.to_be_bytes());
            out.extend_from_slice(&ty.to_be_bytes());
            out.extend_from_slice(&count.to_be_bytes());
            if bytes.len() <= 4 {
                let mut inline = bytes.clone();
                inline.resize(4, 0);
                out.extend_from_slice(&inline);
            } else {
                out.extend_from_slice(&(data_at as u32).to_be_bytes());
                data.extend_from_slice(bytes);
                if bytes.len() & 1 == 1 {
                    data.push(0);
                }
                data_at += bytes.len() + (bytes.len() & 1);
            }
        }
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&data);
    }

    let exif_ifd: Vec<Entry> = vec![
        (0x9003, ascii(&spec.datetime_original)),
        (
            0x927C,
            (
                UNDEFINED,
                spec.maker_note.len() as u32,
                spec.maker_note.clone(),
            ),
        ),
        (0xA431, ascii(&spec.body_serial)),
    ];
    let gps_ifd: Vec<Entry> = match spec.gps {
        Some((lat, lon)) => vec![
            (0x0000, (BYTE, 4, vec![2, 3, 0, 0])),
            (0x0001, ascii(if lat >= 0.0 { "N" } else { "S" })),
            (0x0002, rationals(&dms(lat))),
            (0x0003, ascii(if lon >= 0.0 { "E" } else { "W" })),
            (0x0004, rationals(&dms(lon))),
        ],
        None => Vec::new(),
    };
    let mut ifd0: Vec<Entry> = vec![
        (0x010F, ascii(&spec.make)),
        (0x0110, ascii(&spec.model)),
        (0x0112, (SHORT, 1, spec.orientation.to_be_bytes().to_vec())),
        (0x8769, (LONG, 1, vec![0; 4])),
    ];
    if !gps_ifd.is_empty() {
        ifd0.push((0x8825, (LONG, 1, vec![0; 4])));
    }
    let exif_at = 8 + ifd_len(&ifd0);
    let gps_at = exif_at + ifd_len(&exif_ifd);
    ifd0[3].1 .2 = (exif_at as u32).to_be_bytes().to_vec();
    if !gps_ifd.is_empty() {
        ifd0[4].1 .2 = (gps_at as u32).to_be_bytes().to_vec();
    }
    let mut out = b"MM\0\x2A\0\0\0\x08".to_vec();
    write_ifd(&mut out, &ifd0);
    write_ifd(&mut out, &exif_ifd);
    if !gps_ifd.is_empty() {
        write_ifd(&mut out, &gps_ifd);
    }
    out
}

/// An ICC profile with the colour meaning of `base` that also carries `text`
/// in every text tag a profile can hold (description, copyright, device
/// maker and model, viewing conditions) and in a private tag: what a
/// hostile or careless upload could hide in its colour profile.
pub fn icc_profile_with_text(mut base: moxcms::ColorProfile, text: &str) -> Vec<u8> {
    use moxcms::{LocalizableString, ProfileText};
    let planted = |what: &str| {
        Some(ProfileText::Localizable(vec![LocalizableString::new(
            "en".into(),
            "US".into(),
            format!("{what} {text}"),
        )]))
    };
    base.description = planted("description");
    base.copyright = planted("copyright");
    base.device_manufacturer = planted("maker");
    base.device_model = planted("model");
    base.viewing_conditions_description = planted("viewing conditions");
    let icc = base.encode().expect("moxcms encodes the profile");
    with_private_icc_tag(&icc, *b"priv", format!("private tag {text}").as_bytes())
}

/// Adds a tag of an unregistered signature (which every viewer ignores) to an
/// ICC profile, holding `data`.
pub fn with_private_icc_tag(icc: &[u8], signature: [u8; 4], data: &[u8]) -> Vec<u8> {
    let be32 = |at: usize| u32::from_be_bytes(icc[at..at + 4].try_into().unwrap());
    let count = be32(128) as usize;
    let table_end = 132 + 12 * count;
    let mut out = icc[..128].to_vec();
    out.extend_from_slice(&(count as u32 + 1).to_be_bytes());
    // The table grows by one entry: every tag's data moves 12 bytes on.
    for entry in icc[132..table_end].chunks_exact(12) {
        out.extend_from_slice(&entry[..4]);
        out.extend_from_slice(
            &(u32::from_be_bytes(entry[4..8].try_into().unwrap()) + 12).to_be_bytes(),
        );
        out.extend_from_slice(&entry[8..12]);
    }
    let data_at = (icc.len() + 12).next_multiple_of(4);
    out.extend_from_slice(&signature);
    out.extend_from_slice(&(data_at as u32).to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(&icc[table_end..]);
    out.resize(data_at, 0);
    out.extend_from_slice(data);
    let size = out.len() as u32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    out
}

/// Inserts an ICC profile into a JPEG as APP2 "ICC_PROFILE" segments, as a
/// phone does.
pub fn insert_icc(jpeg: &[u8], icc: &[u8]) -> Vec<u8> {
    use img_parts::ImageICC;
    let mut parsed = img_parts::jpeg::Jpeg::from_bytes(bytes::Bytes::copy_from_slice(jpeg))
        .expect("a JPEG we wrote");
    parsed.set_icc_profile(Some(bytes::Bytes::copy_from_slice(icc)));
    parsed.encoder().bytes().to_vec()
}
