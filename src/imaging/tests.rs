//! Tests of the photo pipeline.
//!
//! exiftool is the independent oracle for "no metadata left": every rendition
//! of every test input is read back with `exiftool -j -a -G1 -u` and only
//! file-structure groups may carry tags. exiftool (Debian:
//! libimage-exiftool-perl) is REQUIRED: without it these tests fail, they are
//! never skipped. The lossless-rotation test also needs jpegtran (Debian:
//! libjpeg-turbo-progs), and the ICC colour test vips (libvips-tools), whose
//! lcms2 is the independent colour engine. scripts/test installs all three.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ExtendedColorType, ImageFormat, Rgb, RgbImage};
use rand::{Rng as _, SeedableRng};

use sha2::Digest as _;

use super::icc::{self, Space};
use super::orient::{Orientation, Samples};
use super::*;
use aghub_testkit::synth::{self, ExifSpec};

// ───────────────────────────── helpers ─────────────────────────────

const EXIFTOOL_MISSING: &str =
    "exiftool is required by the imaging tests and was not found on PATH. \
     Install it (Debian/Ubuntu: apt-get install libimage-exiftool-perl). These tests never skip.";

/// Every planted text value contains this token; it must never reach an output.
const PLANTED: &str = "PLANTED";

fn tmp_file(bytes: &[u8], ext: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(format!("img.{ext}"));
    std::fs::write(&path, bytes).expect("write temp file");
    (dir, path)
}

fn ext_for(content_type: &str) -> &'static str {
    match content_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "image/heic" => "heic",
        "image/avif" => "avif",
        other => panic!("unexpected content type {other}"),
    }
}

/// Runs exiftool with `args` on a copy of `input` and returns the rewritten file.
fn exiftool_write(input: &[u8], ext: &str, args: &[&str]) -> Vec<u8> {
    let (_dir, path) = tmp_file(input, ext);
    let out = Command::new("exiftool")
        .args(["-q", "-q", "-m", "-overwrite_original"])
        .args(args)
        .arg(&path)
        .output()
        .expect(EXIFTOOL_MISSING);
    assert!(
        out.status.success(),
        "exiftool {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&path).expect("read back")
}

/// exiftool's view of a file: "Group:Tag" → value.
fn exiftool_read(bytes: &[u8], ext: &str) -> serde_json::Map<String, serde_json::Value> {
    let (_dir, path) = tmp_file(bytes, ext);
    let out = Command::new("exiftool")
        .args(["-j", "-a", "-G1", "-u"])
        .arg(&path)
        .output()
        .expect(EXIFTOOL_MISSING);
    assert!(
        out.status.success(),
        "exiftool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("exiftool JSON");
    parsed[0].as_object().expect("one object").clone()
}

/// Groups (exiftool -G1) and the tags allowed in them: file structure only.
fn allowed(group: &str, tag: &str) -> bool {
    match group {
        "System" => true, // file name, size, dates of our temp file
        "ExifTool" => tag == "ExifToolVersion",
        "File" => matches!(
            tag,
            "FileType"
                | "FileTypeExtension"
                | "MIMEType"
                | "ImageWidth"
                | "ImageHeight"
                | "EncodingProcess"
                | "BitsPerSample"
                | "ColorComponents"
                | "YCbCrSubSampling"
        ),
        "JFIF" => matches!(
            tag,
            "JFIFVersion" | "ResolutionUnit" | "XResolution" | "YResolution"
        ),
        "PNG" => matches!(
            tag,
            "ImageWidth"
                | "ImageHeight"
                | "BitDepth"
                | "ColorType"
                | "Compression"
                | "Filter"
                | "Interlace"
                | "ProfileName"
        ),
        "Composite" => matches!(tag, "ImageSize" | "Megapixels"),
        // Only our own ICC profiles (see icc.rs), checked value by value in
        // `icc_tag_allowed`.
        g if g == "ICC_Profile" || g.starts_with("ICC-") => true,
        _ => false,
    }
}

/// The tags (exiftool names) and values our own ICC profiles have: the
/// header's fixed fields, the colorants, curves and adaptation, and as text
/// only the colour space's name and "CC0".
fn icc_tag_allowed(tag: &str, value: &serde_json::Value) -> bool {
    match tag {
        "ProfileDescription" => Space::ALL.iter().any(|s| value == s.name()),
        "ProfileCopyright" => value == "CC0",
        "ProfileCMMType"
        | "ProfileVersion"
        | "ProfileClass"
        | "ColorSpaceData"
        | "ProfileConnectionSpace"
        | "ProfileDateTime"
        | "ProfileFileSignature"
        | "PrimaryPlatform"
        | "CMMFlags"
        | "DeviceManufacturer"
        | "DeviceModel"
        | "DeviceAttributes"
        | "RenderingIntent"
        | "ConnectionSpaceIlluminant"
        | "ProfileCreator"
        | "ProfileID"
        | "MediaWhitePoint"
        | "ChromaticAdaptation"
        | "RedMatrixColumn"
        | "GreenMatrixColumn"
        | "BlueMatrixColumn"
        | "RedTRC"
        | "GreenTRC"
        | "BlueTRC" => true,
        _ => false,
    }
}

/// Asserts exiftool finds nothing but file structure in a rendition, and that
/// no planted token survived anywhere in its bytes.
fn assert_clean(r: &Rendition, label: &str) {
    let tags = exiftool_read(&r.bytes, ext_for(r.content_type));
    let offending: Vec<String> = tags
        .iter()
        .filter(|(k, _)| k.as_str() != "SourceFile")
        .filter(|(k, v)| {
            let (group, tag) = k.split_once(':').unwrap_or(("?", k));
            let icc = group == "ICC_Profile" || group.starts_with("ICC-");
            !allowed(group, tag) || (icc && !icc_tag_allowed(tag, v))
        })
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    assert!(
        offending.is_empty(),
        "{label}: metadata left in output:\n  {}",
        offending.join("\n  ")
    );
    let seen = serde_json::Value::Object(tags)
        .to_string()
        .to_ascii_uppercase();
    assert!(
        !seen.contains(PLANTED) && !seen.contains("9434765919"),
        "{label}: exiftool finds a planted value"
    );
    // A profile, if any, is one of ours byte for byte (PNG's iCCP is
    // compressed, so the byte search below cannot see into it).
    our_space(r, label);
    let hay = String::from_utf8_lossy(&r.bytes).to_ascii_uppercase();
    assert!(
        !hay.contains(PLANTED),
        "{label}: a planted value survived in the bytes"
    );
    for needle in [
        "9434765919",
        "F17XK2QHPLJN",
        "IPHONE",
        "EXIF\0",
        "HTTP://NS.ADOBE.COM",
        "TRAILER",
    ] {
        assert!(
            !hay.contains(needle),
            "{label}: found {needle:?} in the output bytes"
        );
    }
    // Basic consistency of the record.
    assert_eq!(
        r.sha256,
        hex::encode(sha2::Sha256::digest(&r.bytes)),
        "{label}: sha256"
    );
    assert_eq!(r.sha256.len(), 64);
    assert!(r
        .sha256
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    let decoded = image::load_from_memory(&r.bytes)
        .unwrap_or_else(|e| panic!("{label}: output does not decode: {e}"));
    assert_eq!(
        (decoded.width(), decoded.height()),
        (r.width, r.height),
        "{label}: recorded size"
    );
}

fn assert_all_clean(p: &Processed, label: &str) {
    assert_clean(&p.full, &format!("{label}/full"));
    assert_clean(&p.display, &format!("{label}/display"));
    assert_clean(&p.thumb, &format!("{label}/thumb"));
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut buf = Cursor::new(Vec::new());
    img.write_to(&mut buf, format).expect("encode");
    buf.into_inner()
}

fn webp_lossless(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    WebPEncoder::new_lossless(&mut out)
        .encode(
            img.as_raw(),
            img.width(),
            img.height(),
            ExtendedColorType::Rgb8,
        )
        .expect("webp encode");
    out
}

/// A shared synthetic skin photo (generation is slow in debug builds).
fn skin(width: u32, height: u32, seed: u64) -> RgbImage {
    type Cache = std::sync::Mutex<Vec<((u32, u32, u64), RgbImage)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some((_, img)) = cache
        .lock()
        .unwrap()
        .iter()
        .find(|(k, _)| *k == (width, height, seed))
    {
        return img.clone();
    }
    let img = synth::skin_photo(width, height, seed);
    cache
        .lock()
        .unwrap()
        .push(((width, height, seed), img.clone()));
    img
}

fn ok(input: &[u8]) -> Processed {
    match process(input, &Limits::default()) {
        Ok(p) => p,
        Err(e) => panic!("expected success, got {e:?}"),
    }
}

fn err(input: &[u8]) -> ImageError {
    err_with(input, &Limits::default())
}

fn err_with(input: &[u8], limits: &Limits) -> ImageError {
    match process(input, limits) {
        Ok(p) => panic!("expected an error, got {:?} {:?}", p.full, p.warnings),
        Err(e) => e,
    }
}

fn crc32(data: &[u8]) -> u32 {
    // Bitwise CRC-32 (PNG): only used to fabricate test PNG chunks.
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    c.extend_from_slice(kind);
    c.extend_from_slice(data);
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    c.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    c
}

/// Rewrites the IHDR of a PNG with other dimensions (valid CRC), keeping the
/// (small) compressed data: a decompression bomb / lying header.
fn png_with_dims(png: &[u8], w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = png[16..29].to_vec();
    ihdr[0..4].copy_from_slice(&w.to_be_bytes());
    ihdr[4..8].copy_from_slice(&h.to_be_bytes());
    let mut out = png[..8].to_vec();
    out.extend_from_slice(&png_chunk(b"IHDR", &ihdr));
    out.extend_from_slice(&png[33..]);
    out
}

/// Rewrites the SOF0 dimensions of a baseline JPEG.
fn jpeg_with_dims(jpeg: &[u8], w: u16, h: u16) -> Vec<u8> {
    let mut out = jpeg.to_vec();
    let sof = out
        .windows(2)
        .position(|m| m == [0xFF, 0xC0])
        .expect("SOF0");
    out[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    out[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    out
}

/// Small images keep the committed corpus small.
fn small_img() -> RgbImage {
    skin(160, 120, 9)
}

fn small_jpeg() -> Vec<u8> {
    synth::encode_jpeg(&small_img(), 85)
}

// ───────────────────────────── metadata ─────────────────────────────

/// A JPEG carrying every kind of metadata a phone or editor writes.
fn jpeg_with_everything() -> Vec<u8> {
    jpeg_with_everything_at(6)
}

fn jpeg_with_everything_at(orientation: u16) -> Vec<u8> {
    let upright = skin(1200, 900, 1);
    let spec = ExifSpec {
        orientation,
        body_serial: "F17XK2QHPLJN".into(),
        maker_note: format!("Apple iOS maker note {PLANTED}").into_bytes(),
        ..Default::default()
    };
    let jpeg = synth::camera_jpeg(&upright, 90, &spec);
    // An embedded EXIF thumbnail showing something else entirely.
    let (_dir, thumb_path) = tmp_file(
        &synth::encode_jpeg(&RgbImage::from_pixel(160, 120, Rgb([0, 0, 255])), 80),
        "jpg",
    );
    let thumb_arg = format!("-ThumbnailImage<={}", thumb_path.display());
    let mut jpeg = exiftool_write(
        &jpeg,
        "jpg",
        &[
            &format!("-Comment=JPEG COM comment {PLANTED}"),
            &format!("-IFD0:Artist=Dr {PLANTED} Artist"),
            &format!("-ExifIFD:LensSerialNumber=LENS-{PLANTED}"),
            &format!("-ExifIFD:UserComment=user comment {PLANTED}"),
            "-GPSAltitude=42",
            "-GPSAltitudeRef=0",
            &format!("-XMP-dc:Creator=XMP creator {PLANTED}"),
            &format!("-XMP-dc:Description=XMP description {PLANTED}"),
            &format!("-IPTC:Keywords=IPTC keyword {PLANTED}"),
            &format!("-IPTC:City=IPTC city {PLANTED}"),
            &thumb_arg,
        ],
    );
    // Bytes after EOI: a text trailer and a second image (like an MPF
    // depth/gain map appended by a phone).
    jpeg.extend_from_slice(format!("TRAILER {PLANTED} after EOI").as_bytes());
    jpeg.extend_from_slice(&synth::encode_jpeg(
        &RgbImage::from_pixel(64, 64, Rgb([255, 0, 0])),
        80,
    ));
    jpeg
}

/// An upright JPEG's full-size copy is its own coded data with every other marker dropped:
/// the same pixels, bit for bit, and nothing of the metadata (exiftool as the oracle).
#[test]
fn upright_jpeg_full_copy_is_its_coded_data_and_nothing_else() {
    let input = jpeg_with_everything_at(1);
    assert!(
        exiftool_read(&input, "jpg").contains_key("GPS:GPSLatitude"),
        "planted"
    );
    let p = ok(&input);
    assert_all_clean(&p, "upright jpeg");
    assert_eq!((p.full.width, p.full.height), (1200, 900));
    assert_eq!(
        decode_rgb(&p.full.bytes),
        decode_rgb(&input),
        "the coefficients were copied, not re-encoded"
    );
    let copied = super::jpeg::coded_data_only(&input).expect("a plain Huffman JPEG");
    assert_eq!(
        copied,
        p.full.bytes.to_vec(),
        "the fast path made the full copy"
    );
    assert!(!copied
        .windows(PLANTED.len())
        .any(|w| w == PLANTED.as_bytes()));
    // Every marker left is one a decoder needs.
    let markers = exiftool_read(&p.full.bytes, "jpg");
    assert!(!markers
        .keys()
        .any(|k| k.starts_with("APP") || k.contains("JFIF") || k.contains("Comment")));
    // A progressive JPEG takes the same path.
    let progressive = {
        let base = synth::encode_jpeg(&skin(800, 600, 5), 88);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("base.jpg");
        std::fs::write(&path, &base).unwrap();
        let out = std::process::Command::new("jpegtran")
            .args(["-progressive", "-copy", "none"])
            .arg(&path)
            .output()
            .expect("jpegtran (libjpeg-turbo-progs, scripts/deps.sh ensure_test_tools)");
        assert!(out.status.success());
        out.stdout
    };
    let copied = super::jpeg::coded_data_only(&progressive).expect("progressive Huffman");
    assert_eq!(decode_rgb(&copied), decode_rgb(&progressive));
    // Truncated or damaged streams are left to the lossless transform.
    assert!(super::jpeg::coded_data_only(&input[..input.len() / 2]).is_none());
    assert!(super::jpeg::coded_data_only(b"not a jpeg").is_none());
}

#[test]
fn jpeg_metadata_is_planted_then_removed() {
    let input = jpeg_with_everything();
    // The oracle sees what we planted (so the test is not vacuous).
    let before = exiftool_read(&input, "jpg");
    for key in [
        "GPS:GPSLatitude",
        "IFD0:Make",
        "ExifIFD:SerialNumber",
        "File:Comment",
        "XMP-dc:Creator",
        "IPTC:Keywords",
        "IFD1:ThumbnailImage",
        "IFD0:Orientation",
    ] {
        assert!(
            before.contains_key(key),
            "planting failed: {key} missing from {before:?}"
        );
    }
    assert!(
        before.keys().any(|k| k.starts_with("ExifIFD:MakerNote")),
        "maker note planted"
    );

    let p = ok(&input);
    assert_eq!(p.source_format, PhotoFormat::Jpeg);
    assert_all_clean(&p, "jpeg");
    // Orientation 6 applied: stored 900×1200, shown 1200×900.
    assert_eq!((p.full.width, p.full.height), (1200, 900));
    assert_eq!(p.full.content_type, "image/jpeg");
    assert_eq!(
        p.captured_at,
        Some(time::macros::datetime!(2024-03-14 09:26:53))
    );
}

#[test]
fn png_metadata_is_planted_then_removed() {
    let upright = skin(1200, 900, 2);
    let stored = synth::as_stored_by_camera(&upright, 6);
    let png = encode(&DynamicImage::ImageRgb8(stored), ImageFormat::Png);
    let png = exiftool_write(
        &png,
        "png",
        &[
            &format!("-PNG:Comment=tEXt comment {PLANTED}"),
            &format!("-PNG:Author=tEXt author {PLANTED}"),
            "-PNG:ModifyDate=2023:01:02 03:04:05", // tIME
            &format!("-PNG:Title-fr=iTXt title {PLANTED}"),
            &format!("-XMP-dc:Creator=XMP creator {PLANTED}"),
            "-EXIF:Orientation#=6", // eXIf chunk
            "-EXIF:DateTimeOriginal=2023:01:02 03:04:05",
            &format!("-EXIF:SerialNumber=SN-{PLANTED}"),
            "-EXIF:GPSLatitude=51.5",
            "-EXIF:GPSLatitudeRef=N",
        ],
    );
    // zTXt (exiftool compresses only when it pays off).
    let long = format!("zTXt description {PLANTED} ").repeat(20);
    let mut png = exiftool_write(&png, "png", &["-z", &format!("-PNG:Description={long}")]);
    png.extend_from_slice(format!("TRAILER {PLANTED} after IEND").as_bytes());
    let chunks = png_chunk_types(&png);
    for kind in ["tEXt", "zTXt", "iTXt", "eXIf", "tIME"] {
        assert!(
            chunks.iter().any(|c| c == kind),
            "planting failed: no {kind} in {chunks:?}"
        );
    }

    let p = ok(&png);
    assert_eq!(p.source_format, PhotoFormat::Png);
    assert_eq!(
        p.full.content_type, "image/png",
        "lossless source keeps a lossless full size"
    );
    assert_all_clean(&p, "png");
    assert_eq!(
        png_chunk_types(&p.full.bytes),
        ["IHDR", "IDAT", "IEND"],
        "only critical chunks in the PNG"
    );
    assert_eq!((p.full.width, p.full.height), (1200, 900));
    assert_eq!(
        p.captured_at,
        Some(time::macros::datetime!(2023-01-02 03:04:05))
    );
}

fn png_chunk_types(png: &[u8]) -> Vec<String> {
    let mut at = 8;
    let mut out = Vec::new();
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind = String::from_utf8_lossy(&png[at + 4..at + 8]).into_owned();
        let end = kind == "IEND";
        out.push(kind);
        if end {
            break;
        }
        at += 12 + len;
    }
    out.dedup();
    out
}

fn plant_webp(webp: &[u8]) -> Vec<u8> {
    let mut webp = exiftool_write(
        webp,
        "webp",
        &[
            "-EXIF:Orientation#=6",
            "-EXIF:DateTimeOriginal=2022:02:03 04:05:06",
            &format!("-EXIF:SerialNumber=SN-{PLANTED}"),
            "-EXIF:Make=Apple",
            "-EXIF:Model=iPhone 12",
            "-EXIF:GPSLatitude=51.5",
            "-EXIF:GPSLatitudeRef=N",
            &format!("-XMP-dc:Creator=XMP creator {PLANTED}"),
        ],
    );
    let before = exiftool_read(&webp, "webp");
    assert!(
        before.contains_key("GPS:GPSLatitude") && before.contains_key("XMP-dc:Creator"),
        "planting failed: {before:?}"
    );
    // Bytes after the RIFF chunk.
    webp.extend_from_slice(format!("TRAILER {PLANTED} after RIFF").as_bytes());
    webp
}

#[test]
fn webp_lossless_metadata_is_planted_then_removed() {
    let upright = skin(1200, 900, 3);
    let webp = plant_webp(&webp_lossless(&synth::as_stored_by_camera(&upright, 6)));
    let p = ok(&webp);
    assert_eq!(p.source_format, PhotoFormat::WebP);
    assert_eq!(
        p.full.content_type, "image/png",
        "lossless WebP → PNG full size"
    );
    assert_all_clean(&p, "webp-lossless");
    assert_eq!((p.full.width, p.full.height), (1200, 900));
    assert_eq!(
        p.captured_at,
        Some(time::macros::datetime!(2022-02-03 04:05:06))
    );
}

#[test]
fn webp_lossy_metadata_is_planted_then_removed() {
    // Lossy WebP from the corpus (the `image` crate cannot encode lossy WebP).
    let webp = std::fs::read(corpus_dir().join("ok-lossy.webp")).expect("corpus ok-lossy.webp");
    let webp = plant_webp(&webp);
    let p = ok(&webp);
    assert_eq!(
        p.full.content_type, "image/jpeg",
        "lossy WebP → JPEG full size"
    );
    assert_all_clean(&p, "webp-lossy");
    assert_eq!(
        p.captured_at,
        Some(time::macros::datetime!(2022-02-03 04:05:06))
    );
}

#[test]
fn exif_writer_used_by_tests_is_read_correctly_by_exiftool() {
    // Cross-check of synth::exif_app1 against the oracle.
    let spec = ExifSpec {
        orientation: 8,
        ..Default::default()
    };
    let jpeg = synth::camera_jpeg(&skin(320, 240, 9), 85, &spec);
    let tags = exiftool_read(&jpeg, "jpg");
    assert_eq!(tags["IFD0:Orientation"], "Rotate 270 CW");
    assert_eq!(tags["ExifIFD:DateTimeOriginal"], "2024:03:14 09:26:53");
    assert_eq!(tags["ExifIFD:SerialNumber"], "F17XK2QHPLJN");
    assert!(tags["GPS:GPSLatitude"]
        .as_str()
        .unwrap()
        .starts_with("51 deg 30'"));
}

// ───────────────────────────── ICC ─────────────────────────────

/// Planted in uploaded ICC profiles, as in the black-box finding.
const NHS_TEXT: &str = "NHS 9434765919 PLANTED";

/// The ICC profile a rendition carries, if any.
fn embedded_icc(r: &Rendition) -> Option<Vec<u8>> {
    match r.content_type {
        "image/jpeg" => icc::from_jpeg(&r.bytes),
        "image/png" => {
            let mut d = image::codecs::png::PngDecoder::new(Cursor::new(&r.bytes)).unwrap();
            image::ImageDecoder::icc_profile(&mut d).unwrap()
        }
        other => panic!("unexpected content type {other}"),
    }
}

/// Which of our own profiles a rendition carries; any other profile fails.
fn our_space(r: &Rendition, label: &str) -> Option<Space> {
    let icc = embedded_icc(r)?;
    let space = Space::ALL
        .into_iter()
        .find(|s| s.profile() == icc.as_slice());
    assert!(
        space.is_some(),
        "{label}: carries an ICC profile that is not one of ours ({} bytes)",
        icc.len()
    );
    space
}

/// sRGB primaries with a pure 2.2 power curve: a common "sRGB" look-alike
/// that is not sRGB (darker shadows).
fn srgb_primaries_gamma_22() -> moxcms::ColorProfile {
    let mut p = moxcms::ColorProfile::new_srgb();
    let curve = moxcms::curve_from_gamma(2.2);
    p.red_trc = Some(curve.clone());
    p.green_trc = Some(curve.clone());
    p.blue_trc = Some(curve);
    p.cicp = None;
    p
}

/// Upload profiles with planted text: (name, profile, the profile of ours the
/// renditions must carry, the source's power curve when the pixels must be
/// converted).
fn planted_profiles() -> Vec<(&'static str, Vec<u8>, Space, Option<f64>)> {
    use moxcms::ColorProfile as P;
    let planted = |p: P| synth::icc_profile_with_text(p, NHS_TEXT);
    vec![
        (
            "Display P3",
            planted(P::new_display_p3()),
            Space::DisplayP3,
            None,
        ),
        ("sRGB", planted(P::new_srgb()), Space::Srgb, None),
        (
            "Adobe RGB",
            planted(P::new_adobe_rgb()),
            Space::AdobeRgb,
            None,
        ),
        (
            "ProPhoto (unrecognised, wider than sRGB)",
            planted(P::new_pro_photo_rgb()),
            Space::DisplayP3,
            Some(1.8),
        ),
        (
            "sRGB primaries with gamma 2.2 (unrecognised)",
            planted(srgb_primaries_gamma_22()),
            Space::Srgb,
            Some(2.2),
        ),
    ]
}

/// Flat colour patches: a saturated red, skin, a deep shadow, a green.
const PATCHES: [[u8; 3]; 4] = [[230, 40, 40], [205, 150, 118], [24, 20, 18], [60, 170, 70]];

/// Four flat quadrants of [`PATCHES`] (top-left, top-right, bottom-left,
/// bottom-right).
fn patches(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb(PATCHES[usize::from(x >= w / 2) + 2 * usize::from(y >= h / 2)])
    })
}

fn srgb_encode(linear: f64) -> f64 {
    let l = linear.clamp(0.0, 1.0);
    if l <= 0.0031308 {
        l * 12.92
    } else {
        1.055 * l.powf(1.0 / 2.4) - 0.055
    }
}

fn colorant_matrix(p: &moxcms::ColorProfile) -> [[f64; 3]; 3] {
    let (r, g, b) = (p.red_colorant, p.green_colorant, p.blue_colorant);
    [[r.x, g.x, b.x], [r.y, g.y, b.y], [r.z, g.z, b.z]]
}

fn solve3(m: [[f64; 3]; 3], v: [f64; 3]) -> [f64; 3] {
    // Cramer's rule.
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(m);
    [0, 1, 2].map(|c| {
        let mut mc = m;
        for (row, value) in mc.iter_mut().zip(v) {
            row[c] = value;
        }
        det(mc) / d
    })
}

/// What a patch must become: unchanged for a recognised profile; for a
/// pure-gamma source, worked out here with its colorants and our target's
/// (relative colorimetric, clipped), independently of moxcms' transform.
fn expected_patch(source_icc: &[u8], gamma: Option<f64>, target: Space, rgb: [u8; 3]) -> [f64; 3] {
    let Some(gamma) = gamma else {
        return rgb.map(f64::from);
    };
    let src = moxcms::ColorProfile::new_from_slice(source_icc).unwrap();
    let dst = moxcms::ColorProfile::new_from_slice(target.profile()).unwrap();
    let m = colorant_matrix(&src);
    let linear = rgb.map(|c| (f64::from(c) / 255.0).powf(gamma));
    let xyz = [0, 1, 2].map(|i| (0..3).map(|k| m[i][k] * linear[k]).sum::<f64>());
    solve3(colorant_matrix(&dst), xyz).map(|l| srgb_encode(l) * 255.0)
}

fn assert_patches(r: &Rendition, want: &[[f64; 3]; 4], tolerance: f64, label: &str) {
    let img = image::load_from_memory(&r.bytes).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    for (i, want) in want.iter().enumerate() {
        let (fx, fy) = (0.25 + 0.5 * (i % 2) as f64, 0.25 + 0.5 * (i / 2) as f64);
        let got = img
            .get_pixel((w as f64 * fx) as u32, (h as f64 * fy) as u32)
            .0;
        let off = got
            .iter()
            .zip(want)
            .map(|(g, w)| (f64::from(*g) - w).abs())
            .fold(0.0, f64::max);
        assert!(
            off <= tolerance,
            "{label}: patch {i} is {got:?}, expected {want:.1?}"
        );
    }
}

/// The black-box finding: text planted in the ICC profile (description,
/// copyright, maker, model, viewing conditions, a private tag) came back in
/// all three sizes. Now every rendition carries one of our own profiles,
/// byte for byte, and the colours are what the upload's profile meant.
#[test]
fn icc_profiles_with_planted_text_never_reach_a_rendition() {
    let (w, h) = (1024, 768);
    let upright = patches(w, h);
    for (name, icc, space, gamma) in planted_profiles() {
        let want = PATCHES.map(|c| expected_patch(&icc, gamma, space, c));
        if gamma.is_some() {
            let moved = want
                .iter()
                .zip(PATCHES)
                .flat_map(|(w, c)| w.iter().zip(c).map(|(a, b)| (a - f64::from(b)).abs()))
                .fold(0.0, f64::max);
            assert!(moved >= 6.0, "{name}: the conversion must be visible");
        }
        let (_dir, icc_path) = tmp_file(&icc, "icc");
        let arg = format!("-ICC_Profile<={}", icc_path.display());
        let inputs = [
            (
                "jpg",
                synth::insert_icc(&synth::encode_jpeg(&upright, 92), &icc),
            ),
            (
                "jpg",
                synth::insert_icc(
                    &jpeg_as_camera(&synth::as_stored_by_camera(&upright, 6), 6),
                    &icc,
                ),
            ),
            (
                "png",
                exiftool_write(
                    &encode(&DynamicImage::ImageRgb8(upright.clone()), ImageFormat::Png),
                    "png",
                    &[&arg],
                ),
            ),
            (
                "webp",
                exiftool_write(&webp_lossless(&upright), "webp", &[&arg]),
            ),
        ];
        for (k, (ext, input)) in inputs.into_iter().enumerate() {
            let label = format!("{name} in {ext} #{k}");
            // The oracle sees the planted text in the upload.
            let before = exiftool_read(&input, ext);
            let desc = before["ICC_Profile:ProfileDescription"]
                .as_str()
                .unwrap_or("");
            assert!(
                desc.contains("9434765919"),
                "{label}: planting failed: {desc:?}"
            );

            let p = ok(&input);
            for (size, r) in [
                ("full", &p.full),
                ("display", &p.display),
                ("thumb", &p.thumb),
            ] {
                let l = format!("{label} {size}");
                assert_clean(r, &l);
                assert_eq!(our_space(r, &l), Some(space), "{l}: profile carried");
                let tags = exiftool_read(&r.bytes, ext_for(r.content_type));
                assert_eq!(
                    tags["ICC_Profile:ProfileDescription"],
                    space.name(),
                    "{l}: exiftool's profile description"
                );
                assert_patches(r, &want, 4.0, &l);
            }
            if ext == "jpg" && k == 0 {
                let lossless = decode_rgb(&p.full.bytes) == decode_rgb(&input);
                assert_eq!(
                    lossless,
                    gamma.is_none(),
                    "{label}: full size is a lossless transform exactly when no conversion is needed"
                );
            }
        }
    }
}

/// An independent colour engine (lcms2, through vips) renders each
/// rendition to sRGB as it renders the upload with the upload's profile:
/// the colours a consultant sees are the ones the photo had.
#[test]
fn renditions_look_the_same_as_the_upload_to_lcms() {
    let upright = patches(1024, 768);
    let to_srgb = |bytes: &[u8]| -> RgbImage {
        let (dir, path) = tmp_file(bytes, "jpg");
        let out = dir.path().join("srgb.png");
        let st = Command::new("vips")
            .arg("icc_transform")
            .arg(&path)
            .arg(&out)
            .args(["srgb", "--intent", "relative", "--embedded"])
            .status()
            .expect("vips is required by this test (apt-get install libvips-tools)");
        assert!(st.success());
        image::open(&out).unwrap().to_rgb8()
    };
    for (name, icc, _, _) in planted_profiles() {
        let input = synth::insert_icc(&synth::encode_jpeg(&upright, 92), &icc);
        let reference = to_srgb(&input);
        let p = ok(&input);
        for (size, r) in [
            ("full", &p.full),
            ("display", &p.display),
            ("thumb", &p.thumb),
        ] {
            let got = to_srgb(&r.bytes);
            let (w, h) = got.dimensions();
            for i in 0..4 {
                let (fx, fy) = (0.25 + 0.5 * (i % 2) as f64, 0.25 + 0.5 * (i / 2) as f64);
                let at = |img: &RgbImage, w: u32, h: u32| {
                    img.get_pixel((w as f64 * fx) as u32, (h as f64 * fy) as u32)
                        .0
                };
                let (a, b) = (at(&reference, 1024, 768), at(&got, w, h));
                let off = a.iter().zip(b).map(|(x, y)| x.abs_diff(y)).max().unwrap();
                assert!(
                    off <= 3,
                    "{name} {size}: patch {i} upload {a:?}, rendition {b:?}"
                );
            }
        }
    }
}

#[test]
fn grey_icc_profile_is_applied_to_the_pixels_and_not_stored() {
    let icc =
        synth::icc_profile_with_text(moxcms::ColorProfile::new_gray_with_gamma(2.2), NHS_TEXT);
    let levels = [20u8, 60, 128, 200];
    let (w, h) = (1024u32, 768u32);
    let grey = image::GrayImage::from_fn(w, h, |x, y| {
        image::Luma([levels[usize::from(x >= w / 2) + 2 * usize::from(y >= h / 2)]])
    });
    let mut c = turbojpeg::Compressor::new().unwrap();
    c.set_subsamp(turbojpeg::Subsamp::Gray).unwrap();
    c.set_quality(92).unwrap();
    let jpeg = c
        .compress_to_vec(turbojpeg::Image {
            pixels: grey.as_raw().as_slice(),
            width: w as usize,
            pitch: w as usize,
            height: h as usize,
            format: turbojpeg::PixelFormat::GRAY,
        })
        .unwrap();
    let (_dir, icc_path) = tmp_file(&icc, "icc");
    let arg = format!("-ICC_Profile<={}", icc_path.display());
    let png = encode(&DynamicImage::ImageLuma8(grey), ImageFormat::Png);
    // Gamma 2.2 codes re-expressed on the sRGB curve: shadows get darker.
    let want = levels.map(|v| {
        let s = srgb_encode((f64::from(v) / 255.0).powf(2.2)) * 255.0;
        [s; 3]
    });
    assert!((want[0][0] - 20.0).abs() > 6.0, "not vacuous");
    for (ext, input) in [
        ("jpg", synth::insert_icc(&jpeg, &icc)),
        ("png", exiftool_write(&png, "png", &[&arg])),
    ] {
        let before = exiftool_read(&input, ext);
        assert!(
            before["ICC_Profile:ProfileDescription"]
                .as_str()
                .is_some_and(|d| d.contains("9434765919")),
            "{ext}: planting failed"
        );
        let p = ok(&input);
        for (size, r) in [
            ("full", &p.full),
            ("display", &p.display),
            ("thumb", &p.thumb),
        ] {
            let l = format!("grey {ext} {size}");
            assert_clean(r, &l);
            assert_eq!(embedded_icc(r), None, "{l}: no profile stored for grey");
            assert_patches(r, &want, 3.0, &l);
        }
    }
}

#[test]
fn unusable_icc_profiles_are_dropped() {
    let untagged = |icc: &[u8], channels: u8| {
        let c = icc::Colour::for_profile(Some(icc), channels);
        c.profile().is_none() && !c.converts()
    };
    let p3 = synth::icc_profile_with_text(moxcms::ColorProfile::new_display_p3(), NHS_TEXT);
    assert_eq!(
        icc::Colour::for_profile(Some(&p3), 3).space(),
        Some(Space::DisplayP3)
    );
    assert_eq!(
        icc::Colour::for_profile(Some(&p3), 4).space(),
        Some(Space::DisplayP3),
        "RGBA pixels"
    );
    assert!(untagged(&p3, 1), "RGB profile on grey pixels");
    let grey = moxcms::ColorProfile::new_gray_with_gamma(2.2)
        .encode()
        .unwrap();
    assert!(untagged(&grey, 3), "grey profile on RGB pixels");
    let mut cmyk = p3.clone();
    cmyk[16..20].copy_from_slice(b"CMYK");
    assert!(untagged(&cmyk, 3));
    let mut printer = p3.clone();
    printer[12..16].copy_from_slice(b"prtr");
    assert!(untagged(&printer, 3), "output (printer) class");
    let mut bad_sig = p3.clone();
    bad_sig[36..40].copy_from_slice(b"xxxx");
    assert!(untagged(&bad_sig, 3));
    assert!(untagged(&p3[..p3.len() - 1], 3), "size mismatch");
    assert!(untagged(&[0u8; 100], 3));
    // Header fine, tag table pointing outside the profile.
    let mut bad_table = p3.clone();
    bad_table[132 + 4..132 + 8].copy_from_slice(&0x00FF_FFFFu32.to_be_bytes());
    assert!(untagged(&bad_table, 3), "tag outside the profile");
    // Colorants but no tone curves: no colour meaning we can use.
    let mut no_trc = moxcms::ColorProfile::new_display_p3();
    no_trc.red_trc = None;
    no_trc.green_trc = None;
    no_trc.blue_trc = None;
    assert!(untagged(&no_trc.encode().unwrap(), 3), "no tone curves");
    assert!(icc::Colour::for_profile(None, 3).profile().is_none());
}

#[test]
fn our_icc_profiles_are_compact_standard_and_recognise_themselves() {
    // Colorants of the vendors' own profiles (HP/Microsoft sRGB, Apple
    // Display P3, Adobe RGB (1998)), as exiftool prints them.
    let published = [
        (
            Space::Srgb,
            [
                [0.4361, 0.2225, 0.0139],
                [0.3851, 0.7169, 0.0971],
                [0.1431, 0.0606, 0.7141],
            ],
        ),
        (
            Space::DisplayP3,
            [
                [0.5151, 0.2412, -0.0011],
                [0.2919, 0.6922, 0.0419],
                [0.1572, 0.0666, 0.7841],
            ],
        ),
        (
            Space::AdobeRgb,
            [
                [0.6097, 0.3111, 0.0195],
                [0.2053, 0.6257, 0.0609],
                [0.1492, 0.0632, 0.7446],
            ],
        ),
    ];
    for (space, colorants) in published {
        let icc = space.profile();
        assert!(icc.len() <= 512, "{space:?}: {} bytes", icc.len());
        assert_eq!(
            icc,
            icc::build_profile(space),
            "{space:?}: same bytes every time"
        );
        let c = icc::Colour::for_profile(Some(icc), 3);
        assert_eq!(c.space(), Some(space), "{space:?} recognises itself");
        assert!(!c.converts());
        let parsed = moxcms::ColorProfile::new_from_slice(icc).unwrap();
        for (got, want) in [
            parsed.red_colorant,
            parsed.green_colorant,
            parsed.blue_colorant,
        ]
        .into_iter()
        .zip(colorants)
        {
            for (g, w) in [got.x, got.y, got.z].into_iter().zip(want) {
                assert!(
                    (g - w).abs() < 0.0006,
                    "{space:?}: colorant {got:?} vs {want:?}"
                );
            }
        }
        // The oracle reads it, and finds no tag but the standard ones, and
        // no text but the name and "CC0".
        let tags = exiftool_read(icc, "icc");
        assert_eq!(tags["ICC_Profile:ProfileDescription"], space.name());
        assert_eq!(tags["ICC_Profile:ProfileCopyright"], "CC0");
        for (k, v) in &tags {
            let (group, tag) = k.split_once(':').unwrap_or(("?", k));
            if group.starts_with("ICC") {
                assert!(icc_tag_allowed(tag, v), "{space:?}: {k} = {v}");
            }
        }
    }
}

// ───────────────────────────── orientation ─────────────────────────────

const RED: [u8; 3] = [230, 30, 30];
const GREEN: [u8; 3] = [30, 200, 40];
const BLUE: [u8; 3] = [30, 40, 220];
const YELLOW: [u8; 3] = [240, 230, 40];

/// Upright reference: red top-left, green top-right, blue bottom-left,
/// yellow bottom-right.
fn quadrants(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb(match (x < w / 2, y < h / 2) {
            (true, true) => RED,
            (false, true) => GREEN,
            (true, false) => BLUE,
            (false, false) => YELLOW,
        })
    })
}

fn assert_upright(r: &Rendition, w: u32, h: u32, label: &str) {
    assert_eq!((r.width, r.height), (w, h), "{label}: size");
    let img = image::load_from_memory(&r.bytes).expect("decode").to_rgb8();
    assert_eq!(img.dimensions(), (w, h), "{label}: decoded size");
    for (fx, fy, want, name) in [
        (0.25, 0.25, RED, "red"),
        (0.75, 0.25, GREEN, "green"),
        (0.25, 0.75, BLUE, "blue"),
        (0.75, 0.75, YELLOW, "yellow"),
    ] {
        let px = img
            .get_pixel((w as f64 * fx) as u32, (h as f64 * fy) as u32)
            .0;
        let dist: i32 = px
            .iter()
            .zip(want)
            .map(|(a, b)| (i32::from(*a) - i32::from(b)).abs())
            .sum();
        assert!(
            dist < 60,
            "{label}: expected {name} at ({fx},{fy}), got {px:?}"
        );
    }
}

fn check_orientations(label: &str, w: u32, h: u32, make: impl Fn(&RgbImage, u16) -> Vec<u8>) {
    let upright = quadrants(w, h);
    let (dw, dh) = resize::fit_long_edge(w, h, DISPLAY_LONG_EDGE);
    let (tw, th) = resize::fit_long_edge(dw, dh, THUMB_LONG_EDGE);
    for o in 1..=8u16 {
        let stored = synth::as_stored_by_camera(&upright, o);
        if Orientation::from_exif(u32::from(o)).swaps_dimensions() {
            assert_eq!(stored.dimensions(), (h, w));
        }
        let p = ok(&make(&stored, o));
        let l = format!("{label} orientation {o}");
        assert_upright(&p.full, w, h, &format!("{l} full"));
        assert_upright(&p.display, dw, dh, &format!("{l} display"));
        assert_upright(&p.thumb, tw, th, &format!("{l} thumb"));
    }
}

fn jpeg_as_camera(stored: &RgbImage, o: u16) -> Vec<u8> {
    let spec = ExifSpec {
        orientation: o,
        ..Default::default()
    };
    synth::insert_app1(&synth::encode_jpeg(stored, 92), &synth::exif_app1(&spec))
}

#[test]
fn jpeg_all_eight_orientations_lossless_path() {
    // 1024×768: multiples of the 16×16 MCU, so every transform is perfect.
    // (Kept small: debug builds are slow. The DCT-scaled decode with a
    // rotation is covered by jpeg_full_size_is_a_lossless_transform.)
    check_orientations("jpeg aligned", 1024, 768, jpeg_as_camera);
}

#[test]
fn jpeg_all_eight_orientations_reencode_path() {
    // 1030×770: partial MCUs on both edges, most rotations must re-encode.
    check_orientations("jpeg unaligned", 1030, 770, jpeg_as_camera);
}

/// The re-encode from the planes, with even sides (not whole MCUs) and odd ones (where a mirrored
/// partial chroma sample is put back by a mean), gives the decoded upload, turned: not a pixel
/// shifted at any edge.
#[test]
fn jpeg_reencoded_full_size_is_the_upload_turned_to_the_pixel() {
    for (w, h) in [(1030, 770), (1031, 771)] {
        let upright = skin(w, h, 9);
        for o in 2..=8u16 {
            let input = jpeg_as_camera(&synth::as_stored_by_camera(&upright, o), o);
            let mut want = DynamicImage::ImageRgb8(decode_rgb(&input));
            // `image`'s own turn as the oracle (aghub turns with `Orientation::turn_rows`).
            want.apply_orientation(image::metadata::Orientation::from_exif(o as u8).unwrap());
            let want = want.to_rgb8();
            let got = decode_rgb(&ok(&input).full.bytes);
            assert_eq!(got.dimensions(), (w, h), "{w}×{h} orientation {o}");
            let diff = |xs: &mut dyn Iterator<Item = (u32, u32)>| {
                let (mut sum, mut n) = (0u64, 0u64);
                for (x, y) in xs {
                    for c in 0..3 {
                        let d =
                            i32::from(got.get_pixel(x, y)[c]) - i32::from(want.get_pixel(x, y)[c]);
                        sum += u64::from(d.unsigned_abs());
                        n += 1;
                    }
                }
                sum as f64 / n as f64
            };
            let all = diff(&mut (0..h).flat_map(|y| (0..w).map(move |x| (x, y))));
            let edges = diff(
                &mut (0..w)
                    .flat_map(|x| [(x, 0), (x, h - 1)])
                    .chain((0..h).flat_map(|y| [(0, y), (w - 1, y)])),
            );
            // A one-pixel shift of this texture costs about 10 per sample.
            assert!(
                all < 2.0 && edges < 3.0,
                "{w}×{h} orientation {o}: mean difference {all:.2}, at the edges {edges:.2}"
            );
        }
    }
}

/// Mean absolute difference of two RGB pictures' samples, and of their chroma alone (Cb, Cr).
fn mean_differences(a: &RgbImage, b: &RgbImage) -> (f64, f64) {
    assert_eq!(a.dimensions(), b.dimensions());
    let chroma = |p: &Rgb<u8>| {
        let [r, g, b] = p.0.map(f64::from);
        [
            -0.1687 * r - 0.3313 * g + 0.5 * b,
            0.5 * r - 0.4187 * g - 0.0813 * b,
        ]
    };
    let (mut all, mut cbcr) = (0.0, 0.0);
    for (p, q) in a.pixels().zip(b.pixels()) {
        all +=
            p.0.iter()
                .zip(q.0)
                .map(|(x, y)| f64::from(x.abs_diff(y)))
                .sum::<f64>();
        let (c, d) = (chroma(p), chroma(q));
        cbcr += (c[0] - d[0]).abs() + (c[1] - d[1]).abs();
    }
    let n = f64::from(a.width() * a.height());
    (all / n / 3.0, cbcr / n / 2.0)
}

/// The re-encode from the planes (`planes.rs`) keeps every chroma sample where the upload had
/// it, at every turn and subsampling, odd sides included: there a turn that mirrors a partial
/// chroma sample to the near edge moves every sample by one luma sample, and the mean of two
/// neighbours puts it back. And `process` takes that path.
#[test]
fn a_reencode_from_planes_keeps_the_chroma_where_it_was() {
    use turbojpeg::Subsamp;
    // Flat luma, chroma waves ~20 samples long: a shift of one sample moves the chroma by ~15.
    let ycc = |y: f64, cb: f64, cr: f64| {
        let px = [y + 1.402 * cr, y - 0.344 * cb - 0.714 * cr, y + 1.772 * cb];
        Rgb(px.map(|v| v.round().clamp(0.0, 255.0) as u8))
    };
    let picture = |w, h| {
        RgbImage::from_fn(w, h, |x, y| {
            let (x, y) = (f64::from(x), f64::from(y));
            ycc(
                128.0,
                60.0 * (x * 0.31 + y * 0.17).sin(),
                60.0 * (x * 0.13 - y * 0.29).cos(),
            )
        })
    };
    let decode = |b: &[u8]| {
        let img = turbojpeg::decompress(b, turbojpeg::PixelFormat::RGB).unwrap();
        RgbImage::from_raw(img.width as u32, img.height as u32, img.pixels).unwrap()
    };
    let mut worst = (0.0f64, String::new());
    for (w, h) in [(203u32, 131u32), (202, 130)] {
        let upright = picture(w, h);
        for subsamp in [
            Subsamp::Sub2x2,
            Subsamp::Sub2x1,
            Subsamp::Sub1x2,
            Subsamp::None,
        ] {
            for o in 1..=8u16 {
                let orientation = Orientation::from_exif(u32::from(o));
                let stored = synth::as_stored_by_camera(&upright, o);
                let (sw, sh) = (stored.width() as usize, stored.height() as usize);
                let source = turbo_jpeg(&DynamicImage::ImageRgb8(stored), subsamp, 100, false);
                let mut want = DynamicImage::ImageRgb8(decode(&source));
                want.apply_orientation(image::metadata::Orientation::from_exif(o as u8).unwrap());
                let want = want.to_rgb8();

                let mut planes = planes::Planes::new(sw, sh, subsamp).unwrap();
                let mut dec = turbojpeg::Decompressor::new().unwrap();
                dec.decompress_to_yuv(&source, planes.image()).unwrap();
                let coded = planes.encode_in_bands(orientation, 95, 2).unwrap();
                let label = format!("{w}×{h} {subsamp:?} orientation {o}");
                let got = decode(&coded);
                assert_eq!(got.dimensions(), (w, h), "{label}");
                let (all, chroma) = mean_differences(&got, &want);
                // Measured: chroma 1.0 where the samples only move, 1.5–2.2 where the mean of
                // two puts them back (one axis or two), 8–11 with them one luma sample off.
                assert!(
                    all < 4.0 && chroma < 3.0,
                    "{label}: mean difference {all:.2}, chroma {chroma:.2}"
                );
                if chroma > worst.0 {
                    worst = (chroma, label);
                }
            }
        }
    }
    eprintln!("worst chroma difference {:.2} ({})", worst.0, worst.1);

    // A phone's photo whose turn cannot be lossless is re-encoded from its planes by `process`.
    let input = jpeg_as_camera(&synth::as_stored_by_camera(&picture(203, 131), 6), 6);
    let mut planes = planes::Planes::new(131, 203, Subsamp::Sub2x2).unwrap();
    let mut dec = turbojpeg::Decompressor::new().unwrap();
    dec.decompress_to_yuv(&input, planes.image()).unwrap();
    let from_planes = planes
        .encode_in_bands(Orientation::Rotate90, FULL_REENCODE_JPEG_QUALITY, 1)
        .unwrap();
    assert!(
        decode(&ok(&input).full.bytes) == decode(&from_planes),
        "process re-encodes from the planes"
    );
    // Cut short: the bands are not taken, and the photo is refused as truncated.
    let cut = &input[..input.len() * 2 / 3];
    assert!(
        matches!(err(cut), ImageError::Truncated(_)),
        "{:?}",
        err(cut)
    );
}

/// Every turn, in bands, as `image` turns; for 150 × 131 samples a byte each, by whole tiles of
/// 16 × 16 blocks transposed in registers as well as by single samples at the edges.
#[test]
fn turning_rows_in_bands_matches_image_for_every_orientation() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for (w, h) in [(37u32, 23u32), (16, 8), (1, 5), (9, 1), (150, 131)] {
        for channels in [1usize, 3] {
            let raw: Vec<u8> = (0..w as usize * h as usize * channels)
                .map(|_| rng.gen())
                .collect();
            let img = match channels {
                1 => DynamicImage::from(image::GrayImage::from_raw(w, h, raw.clone()).unwrap()),
                _ => DynamicImage::from(RgbImage::from_raw(w, h, raw.clone()).unwrap()),
            };
            for o in 1..=8u8 {
                let mut want = img.clone();
                want.apply_orientation(image::metadata::Orientation::from_exif(o).unwrap());
                let ours = Orientation::from_exif(u32::from(o));
                let label = format!("{w}×{h}, {channels} bytes a pixel, orientation {o}");

                // The rows, turned in three bands of uneven heights.
                let (out_w, out_h) = ours.upright(w, h);
                let row = out_w as usize * channels;
                let cut = [
                    0,
                    out_h as usize / 3,
                    out_h as usize * 3 / 4,
                    out_h as usize,
                ];
                let mut banded = Vec::new();
                for pair in cut.windows(2) {
                    let mut band = vec![0u8; (pair[1] - pair[0]) * row];
                    let stored = Samples::packed(&raw, (w as usize, h as usize), channels);
                    ours.turn_rows(stored, pair[0]..pair[1], &mut band, row);
                    banded.extend(band);
                }
                assert_eq!(banded, want.as_bytes(), "bands, {label}");
                let mut applied = img.clone();
                ours.apply(&mut applied);
                assert_eq!(applied.as_bytes(), want.as_bytes(), "apply, {label}");
                assert_eq!(
                    (applied.width(), applied.height()),
                    (out_w, out_h),
                    "{label}"
                );

                // Rows further apart than a row's samples, in and out (planes padded to whole
                // chroma samples): the padding is neither read nor written.
                let (pad_in, pad_out) = (3 * channels, 5 * channels);
                let stride = w as usize * channels + pad_in;
                let mut padded = vec![0xA5u8; stride * h as usize];
                for (to, from) in padded
                    .chunks_mut(stride)
                    .zip(raw.chunks(w as usize * channels))
                {
                    to[..from.len()].copy_from_slice(from);
                }
                let stored = Samples {
                    samples: &padded,
                    w: w as usize,
                    h: h as usize,
                    stride,
                    channels,
                };
                let out_stride = row + pad_out;
                let mut out = vec![0x5Au8; out_stride * out_h as usize];
                ours.turn_rows(stored, 0..out_h as usize, &mut out, out_stride);
                for (y, got) in out.chunks(out_stride).enumerate() {
                    assert_eq!(
                        &got[..row],
                        &want.as_bytes()[y * row..(y + 1) * row],
                        "padded, row {y}, {label}"
                    );
                    assert!(
                        got[row..].iter().all(|&b| b == 0x5A),
                        "padding written, row {y}, {label}"
                    );
                }
            }
        }
    }
}

#[test]
fn a_photo_encoded_in_bands_decodes_to_the_pixels_of_one_pass() {
    let upright = DynamicImage::ImageRgb8(skin(1000, 700, 3));
    let grey = DynamicImage::ImageLuma8(upright.to_luma8());
    let cases = [
        (&upright, turbojpeg::Subsamp::Sub2x2, Orientation::Rotate90),
        (&upright, turbojpeg::Subsamp::None, Orientation::Transverse),
        (&upright, turbojpeg::Subsamp::Sub2x1, Orientation::FlipV),
        (&grey, turbojpeg::Subsamp::Gray, Orientation::Rotate270),
    ];
    for (img, subsamp, o) in cases {
        let mut turned = img.clone();
        o.apply(&mut turned);
        let one = turbo::encode_rendition(&turned, 95, subsamp, None).unwrap();
        // Twelve threads: more than nine bands, so the restart markers wrap round from RST7.
        for threads in [2, 12] {
            let label = format!("{subsamp:?}, {o:?}, {threads} threads");
            let banded = turbo::encode_in_bands(img, o, 95, subsamp, None, threads).unwrap();
            assert_eq!(
                (banded.width, banded.height),
                (one.width, one.height),
                "{label}"
            );
            let (w, h) = (banded.width as usize, banded.height as usize);
            let bands = h.div_ceil(
                turbo::Bands::for_image(w, h, subsamp, threads)
                    .unwrap()
                    .rows,
            );
            assert!(bands >= threads.min(10) as usize, "{label}: {bands} bands");
            let restarts = banded
                .bytes
                .windows(2)
                .filter(|m| m[0] == 0xFF && (0xD0..=0xD7).contains(&m[1]))
                .count();
            assert_eq!(restarts, bands - 1, "{label}: restart markers");
            assert!(
                banded.bytes.windows(2).any(|m| m == [0xFF, 0xDD]),
                "{label}: DRI"
            );
            assert!(
                !one.bytes.windows(2).any(|m| m == [0xFF, 0xDD]),
                "{label}: one pass"
            );
            // Two decoders: `image`'s (zune-jpeg, not libjpeg) and libjpeg-turbo.
            let zune = |b: &[u8]| image::load_from_memory(b).unwrap().into_bytes();
            assert_eq!(
                zune(&banded.bytes),
                zune(&one.bytes),
                "{label}: image decodes"
            );
            let turbo = |b: &[u8]| turbojpeg::decompress(b, turbojpeg::PixelFormat::RGB).unwrap();
            assert_eq!(
                turbo(&banded.bytes).pixels,
                turbo(&one.bytes).pixels,
                "{label}: libjpeg"
            );
        }
    }
}

/// A full size larger than one band (`turbo::BAND_PIXELS`) is cut into bands on one thread too,
/// so that no whole turned copy is held; it decodes to the pixels of one pass over the picture
/// turned by `image`.
#[test]
fn a_full_size_larger_than_a_band_is_encoded_in_bands_on_one_thread() {
    use turbojpeg::Subsamp;
    let stored = DynamicImage::ImageRgb8(skin(1800, 1200, 6));
    const { assert!(1800 * 1200 > turbo::BAND_PIXELS) };
    let banded =
        turbo::encode_in_bands(&stored, Orientation::Rotate90, 95, Subsamp::Sub2x2, None, 1)
            .unwrap();
    let restarts = banded
        .bytes
        .windows(2)
        .filter(|m| m[0] == 0xFF && (0xD0..=0xD7).contains(&m[1]))
        .count();
    assert!(restarts >= 1, "{restarts} restart markers");
    let turned = DynamicImage::ImageRgb8(image::imageops::rotate90(&stored.to_rgb8()));
    let one = turbo_jpeg(&turned, Subsamp::Sub2x2, 95, false);
    assert!(!one.windows(2).any(|m| m == [0xFF, 0xDD]), "one pass");
    let turbo = |b: &[u8]| turbojpeg::decompress(b, turbojpeg::PixelFormat::RGB).unwrap();
    let (ours, theirs) = (turbo(&banded.bytes), turbo(&one));
    assert_eq!((ours.width, ours.height), (1200, 1800));
    assert!(
        ours.pixels == theirs.pixels,
        "banded and one pass decode alike"
    );
}

/// `Turn` (turn.c) on both threads, every orientation and chroma subsampling, against
/// libjpeg-turbo's own lossless transform (`jpegtran -perfect`) as the oracle: the same pixels,
/// through two decoders. The display path's picture, made on the other thread from the
/// coefficients as they are read, at every DCT scale: the pixels of libjpeg-turbo's own decode.
#[test]
fn a_lossless_turn_in_bands_decodes_to_the_pixels_of_libjpeg_turbos_transform() {
    use turbojpeg::Subsamp;
    use Orientation::*;
    let rgb = DynamicImage::ImageRgb8(skin(403, 331, 4));
    let grey = DynamicImage::ImageLuma8(rgb.to_luma8());
    let turn_in_bands = |jpeg: &[u8], o: Orientation, subsamp, scale: usize, label: &str| {
        let header = turbojpeg::read_header(jpeg).unwrap();
        let (w, h) = o.upright(header.width as u32, header.height as u32);
        let turn = turn::Turn::plan(o, (w as usize, h as usize), o.upright_subsamp(subsamp), 20)
            .expect("bands to share");
        let factor = turbojpeg::ScalingFactor::new(scale, 8);
        let size = (factor.scale(header.width), factor.scale(header.height));
        let grey = subsamp == Subsamp::Gray;
        let pixels = std::thread::scope(|scope| {
            let other = scope.spawn(|| {
                assert!(turn.read(jpeg), "{label}: coefficients read");
                turn.work();
            });
            let pixels = turn.pixels(jpeg, (scale as u32, 8), grey, size);
            turn.work();
            other.join().unwrap();
            pixels.expect("pixels from the coefficients")
        });
        let mut dec = turbojpeg::Decompressor::new().unwrap();
        dec.set_scaling_factor(factor).unwrap();
        let format = if grey {
            turbojpeg::PixelFormat::GRAY
        } else {
            turbojpeg::PixelFormat::RGB
        };
        let mut theirs = vec![0u8; size.0 * size.1 * format.size()];
        let image = turbojpeg::Image {
            pixels: theirs.as_mut_slice(),
            width: size.0,
            pitch: size.0 * format.size(),
            height: size.1,
            format,
        };
        dec.decompress(jpeg, image).unwrap();
        assert!(
            theirs == pixels,
            "{label}: the display path's pixels at {scale}/8 are libjpeg-turbo's"
        );
        turn.finish().expect("bands joined")
    };
    // Every scale from 1/8 to 8/8 in turn.
    let mut scale = 0;
    // The last: a grey JPEG whose one component declares 2×2 sampling (some encoders write
    // it; its MCU is still one block).
    for (img, subsamp, grey_2x2) in [
        (&rgb, Subsamp::Sub2x2, false),
        (&rgb, Subsamp::None, false),
        (&rgb, Subsamp::Sub2x1, false),
        (&rgb, Subsamp::Sub1x2, false),
        (&grey, Subsamp::Gray, false),
        (&grey, Subsamp::Gray, true),
    ] {
        for o in [
            FlipH, Rotate180, FlipV, Transpose, Rotate90, Transverse, Rotate270,
        ] {
            // The largest crop of the picture the turn can keep whole: partial MCUs stay only
            // where they end up on the right or bottom edge.
            let (mw, mh) = (subsamp.mcu_width() as u32, subsamp.mcu_height() as u32);
            let (w, h) = [(403, 331), (400, 331), (403, 320), (400, 320)]
                .into_iter()
                .find(|&(w, h)| o.is_perfect_for(w, h, mw, mh))
                .unwrap();
            let mut jpeg = turbo_jpeg(&img.crop_imm(0, 0, w, h), subsamp, 90, false);
            if grey_2x2 {
                // SOF0: marker, length, precision, height, width, count, then id and HV.
                let sof = jpeg.windows(2).position(|m| m == [0xFF, 0xC0]).unwrap();
                assert_eq!(jpeg[sof + 9], 1, "one component");
                jpeg[sof + 11] = 0x22;
            }
            let mut transform = turbojpeg::Transform::op(o.transform_op());
            transform.perfect = true;
            transform.copy_none = true;
            let oracle = turbojpeg::Transformer::new()
                .unwrap()
                .transform_to_vec(&transform, &jpeg)
                .unwrap();
            let (uw, uh) = o.upright(w, h);
            // Ten bands or more on two threads: the restart markers wrap round from RST7.
            let label = format!("{subsamp:?} (2×2: {grey_2x2}) {o:?} {w}x{h}");
            scale = scale % 8 + 1;
            let banded = turn_in_bands(&jpeg, o, subsamp, scale, &label);
            let restarts = banded
                .windows(2)
                .filter(|m| m[0] == 0xFF && (0xD0..=0xD7).contains(&m[1]))
                .count();
            assert!(restarts >= 9, "{label}: {restarts} restart markers");
            let format = if subsamp == Subsamp::Gray {
                turbojpeg::PixelFormat::GRAY
            } else {
                turbojpeg::PixelFormat::RGB
            };
            let turbo = |b: &[u8]| turbojpeg::decompress(b, format).unwrap();
            let (ours, theirs) = (turbo(&banded), turbo(&oracle));
            assert_eq!(
                (ours.width, ours.height),
                (uw as usize, uh as usize),
                "{label}"
            );
            assert!(
                ours.pixels == theirs.pixels,
                "{label}: libjpeg-turbo decodes"
            );
            let zune = |b: &[u8]| image::load_from_memory(b).unwrap().into_bytes();
            assert!(zune(&banded) == zune(&oracle), "{label}: image decodes");
        }
    }
}

/// `img` (grey or RGB) as libjpeg-turbo codes it.
fn turbo_jpeg(
    img: &DynamicImage,
    subsamp: turbojpeg::Subsamp,
    quality: i32,
    progressive: bool,
) -> Vec<u8> {
    let (pixels, format) = match img {
        DynamicImage::ImageLuma8(g) => (g.as_raw().clone(), turbojpeg::PixelFormat::GRAY),
        other => (other.to_rgb8().into_raw(), turbojpeg::PixelFormat::RGB),
    };
    let mut c = turbojpeg::Compressor::new().unwrap();
    c.set_quality(quality).unwrap();
    c.set_subsamp(subsamp).unwrap();
    c.set_progressive(progressive).unwrap();
    let width = img.width() as usize;
    c.compress_to_vec(turbojpeg::Image {
        pixels: pixels.as_slice(),
        width,
        pitch: width * format.size(),
        height: img.height() as usize,
        format,
    })
    .unwrap()
}

/// What the banded turn does not take falls back (to libjpeg-turbo's one-pass transform), and
/// a band's refusal is not a crash.
#[test]
fn a_lossless_turn_in_bands_refuses_what_it_does_not_take() {
    use turbojpeg::Subsamp;
    let img = DynamicImage::ImageRgb8(skin(320, 240, 5));
    let baseline = encode(&img, ImageFormat::Jpeg);
    let plan =
        || turn::Turn::plan(Orientation::Rotate90, (240, 320), Subsamp::Sub2x2, 2).expect("bands");
    // Both threads, as a render runs them: what the reader says, and the display path's pixels.
    let both = |turn: &turn::Turn, jpeg: &[u8], size| {
        std::thread::scope(|scope| {
            let reader = scope.spawn(|| turn.read(jpeg));
            let pixels = turn.pixels(jpeg, (1, 2), false, size);
            (reader.join().unwrap(), pixels)
        })
    };
    let (read, pixels) = both(&plan(), &baseline, (160, 120));
    assert!(read && pixels.is_some(), "a baseline JPEG taken");
    // A size that is not the scale's: no pixels, but the bands still have their source.
    let turn = plan();
    assert!(matches!(both(&turn, &baseline, (161, 120)), (true, None)));
    turn.work();
    assert!(turn.finish().is_some(), "bands without the pixels");
    // Progressive: `Turn::read` says no, and neither `pixels` nor `work` waits for ever.
    let progressive = turbo_jpeg(&img, Subsamp::Sub2x2, 90, true);
    let turn = plan();
    assert!(matches!(
        both(&turn, &progressive, (160, 120)),
        (false, None)
    ));
    turn.work();
    assert_eq!(turn.finish(), None);
    // Truncated, not a JPEG at all, bytes libjpeg warns of before EOI (libjpeg-turbo's own
    // decode takes that one).
    let mut stray = baseline[..baseline.len() - 2].to_vec();
    stray.extend_from_slice(b"\x00\x00\xFF\xD9");
    for bad in [b"not a jpeg".as_slice(), &stray] {
        assert!(
            matches!(both(&plan(), bad, (160, 120)), (false, None)),
            "bad input taken"
        );
    }
    // Cut at rows the display path may be copying when the read fails (it lets go first: the
    // arrays it reads are freed only then), again and again.
    for _ in 0..10 {
        for cut in [5, 4, 3, 2] {
            let cut = &baseline[..baseline.len() * (cut - 1) / cut];
            assert!(
                matches!(both(&plan(), cut, (160, 120)), (false, None)),
                "a cut JPEG"
            );
        }
    }
    // The render decodes the picture itself then, and turns with libjpeg-turbo's transform.
    let tagged = exiftool_write(&stray, "jpg", &["-Orientation#=6"]);
    let p = process(&tagged, &Limits::default()).expect("stray bytes are benign");
    assert_eq!(
        (p.full.width, p.full.height, p.display.width),
        (240, 320, 240)
    );
    // Upright, or one thread: nothing to share.
    assert!(turn::Turn::plan(Orientation::Normal, (320, 240), Subsamp::Sub2x2, 2).is_none());
    assert!(turn::Turn::plan(Orientation::Rotate90, (240, 320), Subsamp::Sub2x2, 1).is_none());
}

/// Faulting memory in ahead of a decoder never changes what is in it (the decoder may have
/// written it already).
#[test]
fn prefaulting_memory_leaves_its_contents_alone() {
    let mut memory = vec![0u8; 3 << 20];
    for (i, b) in memory.iter_mut().enumerate() {
        *b = (i * 7 % 251) as u8;
    }
    let before = memory.clone();
    // A run that starts and ends inside pages, and one of a single byte.
    let start = memory.as_ptr() as usize;
    turn::Reading::prefault(&[(start + 100, memory.len() - 200), (start + 5000, 1)]);
    assert!(memory == before, "contents changed");
    memory.fill(1);
    assert!(memory.iter().all(|&b| b == 1));
}

#[test]
fn bands_are_whole_mcu_rows_and_restart_intervals_fit_sixteen_bits() {
    use turbojpeg::Subsamp;
    // 20 MP turned, 4:4:4: 424 MCUs a row, 754 rows, too many for two intervals.
    let b = turbo::Bands::for_image(3391, 6028, Subsamp::None, 2).unwrap();
    assert_eq!((b.rows % 8, usize::from(b.interval)), (0, b.rows / 8 * 424));
    assert_eq!(6028usize.div_ceil(b.rows), 5);
    // 48 MP, 4:2:0: 504 MCUs a row.
    let b = turbo::Bands::for_image(8064, 6048, Subsamp::Sub2x2, 2).unwrap();
    assert_eq!(b.rows % 16, 0);
    assert!(6048usize.div_ceil(b.rows) >= 2);
    // Nothing to share: one thread, or a single MCU row.
    assert_eq!(
        turbo::Bands::for_image(4000, 3000, Subsamp::Sub2x2, 1),
        None
    );
    assert_eq!(turbo::Bands::for_image(4000, 16, Subsamp::Sub2x2, 2), None);
}

#[test]
fn png_all_eight_orientations() {
    check_orientations("png", 480, 360, |stored, o| {
        let png = encode(&DynamicImage::ImageRgb8(stored.clone()), ImageFormat::Png);
        exiftool_write(&png, "png", &[&format!("-EXIF:Orientation#={o}")])
    });
}

#[test]
fn webp_all_eight_orientations() {
    check_orientations("webp", 480, 360, |stored, o| {
        exiftool_write(
            &webp_lossless(stored),
            "webp",
            &[&format!("-EXIF:Orientation#={o}")],
        )
    });
}

fn decode_rgb(jpeg: &[u8]) -> RgbImage {
    image::load_from_memory(jpeg).expect("decode").to_rgb8()
}

#[test]
fn jpeg_full_size_is_a_lossless_transform() {
    let upright = skin(2048, 1536, 5);
    // Orientation 1: the coefficients are copied, pixels are identical.
    let input = jpeg_as_camera(&upright, 1);
    let p = ok(&input);
    assert!(
        decode_rgb(&p.full.bytes) == decode_rgb(&input),
        "orientation 1 must not re-encode"
    );

    // Orientation 6: identical to jpegtran's lossless rotation.
    let input = jpeg_as_camera(&synth::as_stored_by_camera(&upright, 6), 6);
    let p = ok(&input);
    let (dir, path) = tmp_file(&input, "jpg");
    let out_path = dir.path().join("jpegtran.jpg");
    let status = Command::new("jpegtran")
        .args(["-copy", "none", "-perfect", "-rotate", "90", "-outfile"])
        .arg(&out_path)
        .arg(&path)
        .status()
        .expect("jpegtran is required by this test (apt-get install libjpeg-turbo-progs)");
    assert!(status.success());
    let reference = std::fs::read(&out_path).unwrap();
    assert!(
        decode_rgb(&p.full.bytes) == decode_rgb(&reference),
        "rotation must be lossless (same as jpegtran)"
    );

    // DCT-scaled decode (1/2) + rotation: all three sizes upright.
    let q = quadrants(2048, 1536);
    let p = ok(&jpeg_as_camera(&synth::as_stored_by_camera(&q, 6), 6));
    assert_upright(&p.full, 2048, 1536, "scaled o6 full");
    assert_upright(&p.display, 1600, 1200, "scaled o6 display");
    assert_upright(&p.thumb, 320, 240, "scaled o6 thumb");
}

#[test]
fn mcu_perfect_rule() {
    use Orientation::*;
    assert!(Normal.is_perfect_for(4000, 3000, 16, 16));
    assert!(Transpose.is_perfect_for(4001, 3001, 16, 16));
    assert!(Rotate90.is_perfect_for(4001, 3024, 16, 16));
    assert!(!Rotate90.is_perfect_for(4032, 3000, 16, 16));
    assert!(Rotate270.is_perfect_for(4032, 3000, 16, 16));
    assert!(!Rotate180.is_perfect_for(4032, 3000, 16, 16));
    assert!(!FlipH.is_perfect_for(4001, 3024, 16, 16));
    assert!(FlipV.is_perfect_for(4001, 3024, 16, 16));
}

// ───────────────────────────── renditions ─────────────────────────────

#[test]
fn sizes_and_no_upscaling() {
    let p = ok(&synth::encode_jpeg(&skin(2400, 1600, 6), 90));
    assert_eq!((p.full.width, p.full.height), (2400, 1600));
    assert_eq!((p.display.width, p.display.height), (1600, 1067));
    assert_eq!((p.thumb.width, p.thumb.height), (320, 213));
    for r in [&p.full, &p.display, &p.thumb] {
        assert_eq!(r.content_type, "image/jpeg");
    }
    assert_eq!(p.captured_at, None, "no EXIF, no date");

    // Smaller than the display size: never upscaled.
    let p = ok(&synth::encode_jpeg(&skin(1200, 900, 6), 90));
    assert_eq!((p.display.width, p.display.height), (1200, 900));
    assert_eq!((p.thumb.width, p.thumb.height), (320, 240));
    let p = ok(&synth::encode_jpeg(
        &RgbImage::from_pixel(200, 100, Rgb([120, 90, 80])),
        90,
    ));
    assert_eq!((p.display.width, p.display.height), (200, 100));
    assert_eq!((p.thumb.width, p.thumb.height), (200, 100));
}

#[test]
fn grey_alpha_and_16_bit_inputs() {
    let grey = DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(skin(1200, 900, 7)).to_luma8());
    let p = ok(&synth::encode_jpeg(&grey.to_rgb8(), 90));
    assert_eq!(p.full.width, 1200);
    // Grey JPEG.
    let mut c = turbojpeg::Compressor::new().unwrap();
    c.set_subsamp(turbojpeg::Subsamp::Gray).unwrap();
    let g = grey.as_luma8().unwrap();
    let gj = c
        .compress_to_vec(turbojpeg::Image {
            pixels: g.as_raw().as_slice(),
            width: 1200,
            pitch: 1200,
            height: 900,
            format: turbojpeg::PixelFormat::GRAY,
        })
        .unwrap();
    let p = ok(&gj);
    assert_all_clean(&p, "grey jpeg");
    // RGBA PNG with transparency: full keeps alpha (PNG), JPEGs are flattened.
    let mut rgba = DynamicImage::ImageRgb8(skin(800, 600, 7)).to_rgba8();
    for px in rgba.pixels_mut().take(800 * 100) {
        px.0[3] = 0;
    }
    let p = ok(&encode(&DynamicImage::ImageRgba8(rgba), ImageFormat::Png));
    assert_eq!(p.full.content_type, "image/png");
    let top = decode_rgb(&p.display.bytes).get_pixel(400, 10).0;
    assert!(
        top.iter().all(|&v| v > 240),
        "transparent area flattened on white, got {top:?}"
    );
    // 16-bit PNG.
    let p16 = DynamicImage::ImageRgb16(DynamicImage::ImageRgb8(skin(800, 600, 7)).to_rgb16());
    let p = ok(&encode(&p16, ImageFormat::Png));
    assert_all_clean(&p, "16-bit png");
}

/// The decode estimate reads the header only: it grows with the pixels and the depth (a 16-bit
/// PNG costs more than an 8-bit one of the same size), and a header the pipeline refuses
/// before decoding costs no more than its bytes.
#[test]
fn decode_estimate_follows_size_and_depth_from_the_header() {
    let rgb8 = encode(
        &DynamicImage::ImageRgb8(skin(800, 600, 7)),
        ImageFormat::Png,
    );
    let rgb16 = encode(
        &DynamicImage::ImageRgb16(DynamicImage::ImageRgb8(skin(800, 600, 7)).to_rgb16()),
        ImageFormat::Png,
    );
    let limits = Limits::default();
    let px = 800 * 600;
    assert_eq!(decode_estimate(&rgb8, &limits), px * (3 + 3 * 3));
    assert_eq!(decode_estimate(&rgb16, &limits), px * (6 + 3 * 3));
    let jpeg = synth::encode_jpeg(&skin(800, 600, 7), 90);
    assert_eq!(decode_estimate(&jpeg, &limits), px * (6 + 3 * 3));
    // 7070² at 16 bits (the black-box test's photo checks): ~715 MiB reserved.
    let big = png_with_dims(&rgb16, 7070, 7070);
    assert_eq!(decode_estimate(&big, &limits), 7070 * 7070 * 15);
    let bomb = png_with_dims(&rgb16, 65_000, 65_000);
    assert_eq!(decode_estimate(&bomb, &limits), bomb.len() as u64);
    assert_eq!(decode_estimate(b"GIF89a....", &limits), 10);
}

// ───────────────────────────── quality ─────────────────────────────

fn warnings_of(img: &RgbImage) -> (Vec<QualityWarning>, quality::Measures) {
    let p = ok(&synth::encode_jpeg(img, 92));
    let display = image::load_from_memory(&p.display.bytes).unwrap();
    (p.warnings, quality::measure(&display))
}

fn scaled(img: &RgbImage, f: impl Fn(u8) -> u8) -> RgbImage {
    let mut out = img.clone();
    out.pixels_mut()
        .for_each(|p| p.0.iter_mut().for_each(|v| *v = f(*v)));
    out
}

#[test]
fn quality_warnings_on_fine_blurred_dark_bright_small() {
    let fine = skin(1600, 1200, 11);
    let (w, m) = warnings_of(&fine);
    eprintln!("fine: {m:?}");
    assert!(w.is_empty(), "a good photo gets no warning: {w:?} {m:?}");

    for sigma in [3.0f32, 5.0] {
        let blurred = image::imageops::fast_blur(&fine, sigma);
        let (w, m) = warnings_of(&blurred);
        eprintln!("blur σ={sigma}: {m:?}");
        assert_eq!(w, [QualityWarning::Blurred], "σ={sigma} {m:?}");
    }
    // Mild softness (σ=1 px at 1600 px) is still acceptable.
    let (w, m) = warnings_of(&image::imageops::fast_blur(&fine, 1.0));
    eprintln!("blur σ=1: {m:?}");
    assert!(w.is_empty(), "{w:?} {m:?}");

    let (w, m) = warnings_of(&scaled(&fine, |v| (f32::from(v) * 0.25) as u8));
    eprintln!("dark: {m:?}");
    assert_eq!(w, [QualityWarning::TooDark], "{m:?}");

    let (w, m) = warnings_of(&scaled(&fine, |v| v.saturating_add(150)));
    eprintln!("bright: {m:?}");
    assert_eq!(w, [QualityWarning::TooBright], "{m:?}");
    let (w, m) = warnings_of(&scaled(&fine, |v| v.saturating_mul(3)));
    eprintln!("blown out: {m:?}");
    assert!(w.contains(&QualityWarning::TooBright), "{m:?}");

    let (w, m) = warnings_of(&skin(960, 720, 12));
    eprintln!("small: {m:?}");
    assert_eq!(w, [QualityWarning::LowResolution], "{m:?}");

    // No skin tone, light to dark, is "too dark" / "too bright" by itself.
    for seed in 0..4 {
        let (w, m) = warnings_of(&skin(1600, 1200, 20 + seed));
        assert!(w.is_empty(), "tone {seed}: {w:?} {m:?}");
    }
}

#[test]
fn warning_codes_and_messages() {
    let all = [
        QualityWarning::Blurred,
        QualityWarning::TooDark,
        QualityWarning::TooBright,
        QualityWarning::LowResolution,
    ];
    let codes: Vec<_> = all.iter().map(|w| w.code()).collect();
    assert_eq!(
        codes,
        ["blurred", "too_dark", "too_bright", "low_resolution"]
    );
    for w in all {
        assert!(
            w.message().ends_with('.') && w.message().len() > 40,
            "{}",
            w.message()
        );
    }
    assert!(QualityWarning::Blurred.message().contains("20 cm"));
}

// ───────────────────────────── bad input ─────────────────────────────

/// Cases built in code: (name, bytes, expected code).
fn generated_bad_inputs() -> Vec<(String, Vec<u8>, &'static str)> {
    let jpeg = small_jpeg();
    let png = encode(&DynamicImage::ImageRgb8(small_img()), ImageFormat::Png);
    let webp = webp_lossless(&small_img());
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let random: Vec<u8> = (0..4096).map(|_| rng.gen()).collect();
    let mut jpeg_garbage = vec![0xFF, 0xD8, 0xFF];
    jpeg_garbage.extend_from_slice(&random);
    let mut corrupt_jpeg = jpeg.clone();
    let mid = corrupt_jpeg.len() / 2;
    corrupt_jpeg[mid..mid + 400].copy_from_slice(&random[..400]);
    let zeros_png = encode(
        &DynamicImage::ImageLuma8(image::GrayImage::new(1000, 1000)),
        ImageFormat::Png,
    );
    let mut v = vec![
        ("empty".to_string(), Vec::new(), "image_empty"),
        ("random".into(), random.clone(), "unsupported_image_format"),
        (
            "jpeg magic then garbage".into(),
            jpeg_garbage,
            "image_truncated",
        ),
        (
            "jpeg truncated in header".into(),
            jpeg[..100].to_vec(),
            "image_truncated",
        ),
        (
            "jpeg corrupt entropy data".into(),
            corrupt_jpeg,
            "image_corrupt",
        ),
        (
            "png truncated in header".into(),
            png[..20].to_vec(),
            "image_truncated",
        ),
        (
            "webp truncated in header".into(),
            webp[..20].to_vec(),
            "image_truncated",
        ),
        (
            "png 65000x65000 header".into(),
            png_with_dims(&zeros_png, 65_000, 65_000),
            "image_too_many_pixels",
        ),
        (
            "png bomb 20000x20000".into(),
            png_with_dims(&zeros_png, 20_000, 20_000),
            "image_too_many_pixels",
        ),
        (
            "png 10000x6000 (60 MP)".into(),
            png_with_dims(&zeros_png, 10_000, 6_000),
            "image_too_many_pixels",
        ),
        (
            "jpeg 65000x65000 header".into(),
            jpeg_with_dims(&jpeg, 65_000, 65_000),
            "image_too_many_pixels",
        ),
    ];
    for (cut, label) in [(2, "half"), (4, "three quarters")] {
        let keep = |b: &[u8]| b[..b.len() * (cut - 1) / cut].to_vec();
        v.push((
            format!("jpeg truncated {label}"),
            keep(&jpeg),
            "image_truncated",
        ));
        v.push((
            format!("png truncated {label}"),
            keep(&png),
            "image_truncated",
        ));
        v.push((
            format!("webp truncated {label}"),
            keep(&webp),
            "image_truncated",
        ));
    }
    v
}

/// How fast refusals are is measured in `benches/imaging.rs` (refusals group), not asserted here.
#[test]
fn bad_inputs_get_the_right_error() {
    for (name, bytes, code) in generated_bad_inputs() {
        let e = err(&bytes);
        assert_eq!(e.code(), code, "{name}: {e:?}");
        assert_eq!(e.http_status(), expected_status(code), "{name}");
    }
}

fn expected_status(code: &str) -> u16 {
    match code {
        "unsupported_image_format" => 415,
        "image_too_large" => 413,
        _ => 422,
    }
}

#[test]
fn header_bombs_are_refused_before_decoding() {
    let zeros_png = encode(
        &DynamicImage::ImageLuma8(image::GrayImage::new(1000, 1000)),
        ImageFormat::Png,
    );
    for input in [
        png_with_dims(&zeros_png, 65_000, 65_000),
        jpeg_with_dims(&small_jpeg(), 65_000, 65_000),
    ] {
        // Refused with the header's own dimensions: decoding 65 000² pixels would have failed
        // on the allocation limit instead (its speed is in the refusals benchmark).
        let e = err(&input);
        assert!(
            matches!(
                e,
                ImageError::TooManyPixels {
                    width: 65_000,
                    height: 65_000
                }
            ),
            "{e:?}"
        );
    }
    // Within the dimension limit but above the pixel budget.
    let limits = Limits {
        max_pixels: 1_000_000,
        ..Limits::default()
    };
    let e = err_with(
        &encode(
            &DynamicImage::ImageRgb8(skin(1200, 900, 9)),
            ImageFormat::Png,
        ),
        &limits,
    );
    assert_eq!(e.code(), "image_too_many_pixels");
    let e = err_with(
        &small_jpeg(),
        &Limits {
            max_dimension: 100,
            ..Limits::default()
        },
    );
    assert_eq!(e.code(), "image_too_many_pixels");
}

#[test]
fn too_large_and_messages() {
    let e = err_with(
        &small_jpeg(),
        &Limits {
            max_bytes: 1000,
            ..Limits::default()
        },
    );
    assert_eq!((e.code(), e.http_status()), ("image_too_large", 413));
    assert!(e.to_string().contains("MB"), "{e}");

    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
    let e = err(&gif);
    assert_eq!(
        (e.code(), e.http_status()),
        ("unsupported_image_format", 415)
    );
    let msg = e.to_string();
    assert!(msg.contains("GIF"), "{msg}");
    for name in ["JPEG", "HEIC", "PNG", "WebP", "AVIF"] {
        assert!(msg.contains(name), "{msg}");
    }
    assert_eq!(ImageError::Empty.http_status(), 422);
    assert_eq!(ImageError::Corrupt("x".into()).code(), "image_corrupt");
    assert!(
        !ImageError::Corrupt("Huffman table 0x03 was not defined".into())
            .to_string()
            .contains("Huffman"),
        "no jargon for GPs"
    );
}

#[test]
fn unsupported_formats_are_named() {
    let cases: [(&[u8], &str); 13] = [
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "GIF"),
        (b"II*\x00\x08\x00\x00\x00\x00\x00", "TIFF"),
        (b"MM\x00*\x00\x00\x00\x08\x00\x00", "TIFF"),
        (
            b"BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00",
            "BMP",
        ),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "PDF"),
        (
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
            "SVG",
        ),
        (
            b"\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            "SVG",
        ),
        (
            b"  <!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>",
            "HTML",
        ),
        (b"\0\0\0\x18ftypavis\0\0\0\0avismsf1", "AVIF animation"),
        (b"\0\0\0\x18ftyphevc\0\0\0\0msf1hevc", "HEIF image sequence"),
        (b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2", "video"),
        (b"PK\x03\x04\x14\x00\x00\x00", "ZIP or Office document"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "RIFF (audio/video)"),
    ];
    for (bytes, want) in cases {
        match err(bytes) {
            ImageError::UnsupportedFormat { detected } => {
                assert_eq!(detected, want, "{:?}", String::from_utf8_lossy(bytes))
            }
            other => panic!("{want}: {other:?}"),
        }
    }
}

// ───────────────────────────── corpus ─────────────────────────────

fn corpus_dir() -> PathBuf {
    // file!() is relative to the package root in the main crate and absolute
    // in the scratch crate; tests run with the package root as cwd.
    let here = Path::new(file!());
    let here = if here.is_absolute() {
        here.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(here)
    };
    here.parent().unwrap().join("../../tests/corpus/imaging")
}

fn manifest(dir: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv"))
        .unwrap_or_else(|e| panic!("{}/MANIFEST.tsv: {e}", dir.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut parts = l.split('\t');
            (
                parts.next().unwrap().to_string(),
                parts.next().expect("file<TAB>expected").trim().to_string(),
            )
        })
        .collect()
}

#[test]
fn corpus_files_get_their_expected_outcome() {
    check_corpus(&corpus_dir());
}

/// Every file in `dir` is listed in its MANIFEST.tsv and gets the outcome listed there.
fn check_corpus(dir: &Path) {
    let expected = manifest(dir);
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("corpus dir") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "MANIFEST.tsv" || name == "README.md" {
            continue;
        }
        let want = &expected
            .iter()
            .find(|(f, _)| *f == name)
            .unwrap_or_else(|| panic!("{name} is not listed in MANIFEST.tsv"))
            .1;
        let bytes = std::fs::read(&path).unwrap();
        let result = process(&bytes, &Limits::default());
        match (want.as_str(), result) {
            ("ok", Ok(p)) => assert_all_clean(&p, &name),
            ("ok", Err(e)) => panic!("{name}: expected ok, got {e:?}"),
            (code, Ok(_)) => panic!("{name}: expected {code}, got ok"),
            (code, Err(e)) => assert_eq!(e.code(), code, "{name}: {e:?}"),
        }
        seen += 1;
    }
    assert_eq!(
        seen,
        expected.len(),
        "MANIFEST.tsv lists files that are missing"
    );
    let total: u64 = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        total < 1024 * 1024,
        "keep the corpus under 1 MB (is {total} bytes)"
    );
}

/// Generates the corpus (needs vips for the lossy WebP and CMYK JPEG) into a temporary folder
/// and checks it: the same files and outcomes as the committed MANIFEST.tsv, and each file
/// gets its outcome. With `AGHUB_WRITE_CORPUS=1` it writes into tests/corpus/imaging instead,
/// to regenerate the committed files.
#[test]
fn write_corpus() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let dir = match std::env::var_os("AGHUB_WRITE_CORPUS") {
        Some(_) => corpus_dir(),
        None => scratch.path().to_path_buf(),
    };
    std::fs::create_dir_all(&dir).unwrap();
    let mut listing = String::from("# file\texpected outcome (\"ok\" or ImageError::code())\n");
    let mut put = |name: &str, bytes: &[u8], want: &str| {
        std::fs::write(dir.join(name), bytes).unwrap();
        listing.push_str(&format!("{name}\t{want}\n"));
    };
    for (i, (name, bytes, code)) in generated_bad_inputs().into_iter().enumerate() {
        let slug: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        put(&format!("bad-{i:02}-{slug}.bin"), &bytes, code);
    }
    let small = small_img();
    let (w, h) = (small.width() as usize, small.height() as usize);
    let spec = ExifSpec {
        orientation: 6,
        ..Default::default()
    };
    put(
        "ok-orientation6-gps.jpg",
        &synth::camera_jpeg(&small, 85, &spec),
        "ok",
    );
    let mut c = turbojpeg::Compressor::new().unwrap();
    c.set_progressive(true).unwrap();
    c.set_quality(85).unwrap();
    let prog = c
        .compress_to_vec(turbojpeg::Image {
            pixels: small.as_raw().as_slice(),
            width: w,
            pitch: w * 3,
            height: h,
            format: turbojpeg::PixelFormat::RGB,
        })
        .unwrap();
    put(
        "ok-progressive.jpg",
        &synth::insert_app1(&prog, &synth::exif_app1(&spec)),
        "ok",
    );
    let png = encode(&DynamicImage::ImageRgb8(small.clone()), ImageFormat::Png);
    put(
        "ok-text-chunks.png",
        &exiftool_write(
            &png,
            "png",
            &[&format!("-PNG:Comment={PLANTED}"), "-EXIF:Orientation#=3"],
        ),
        "ok",
    );
    put(
        "ok-exif.webp",
        &exiftool_write(
            &webp_lossless(&small),
            "webp",
            &[
                "-EXIF:Orientation#=8",
                &format!("-XMP-dc:Creator={PLANTED}"),
            ],
        ),
        "ok",
    );
    let (tmp, png_path) = tmp_file(&png, "png");
    let run = |args: &[&str]| {
        let st = Command::new("vips")
            .args(args)
            .status()
            .expect("vips is needed to write the corpus");
        assert!(st.success());
    };
    let lossy = tmp.path().join("lossy.webp");
    run(&[
        "copy",
        png_path.to_str().unwrap(),
        &format!("{}[Q=75]", lossy.display()),
    ]);
    put("ok-lossy.webp", &std::fs::read(&lossy).unwrap(), "ok");
    let cmyk = tmp.path().join("cmyk.jpg");
    run(&[
        "colourspace",
        png_path.to_str().unwrap(),
        &format!("{}[Q=85,strip]", cmyk.display()),
        "cmyk",
    ]);
    put("ok-cmyk.jpg", &std::fs::read(&cmyk).unwrap(), "ok");
    let mut trailer = synth::encode_jpeg(&small, 85);
    trailer.extend_from_slice(b"TRAILER after EOI");
    put("ok-trailing-bytes.jpg", &trailer, "ok");
    std::fs::write(dir.join("MANIFEST.tsv"), listing).unwrap();
    assert_eq!(
        manifest(&dir),
        manifest(&corpus_dir()),
        "the generator and the committed MANIFEST.tsv disagree"
    );
    check_corpus(&dir);
}

// ───────────────────────────── HEIC / AVIF ─────────────────────────────

const HEIF_ENC_MISSING: &str = "heif-enc is required by the HEIC tests and was not found on PATH. \
     Install it (Debian/Ubuntu: apt-get install libheif-examples; scripts/deps.sh \
     ensure_test_tools does). These tests never skip.";

/// Runs `heif-enc args… input -o out.<ext>` (libheif's own encoder tool, the way a test
/// HEIC is made from a JPEG or PNG with its metadata) and returns the file it wrote.
fn heif_enc(input: &[u8], input_ext: &str, out_ext: &str, args: &[&str]) -> Vec<u8> {
    let (dir, path) = tmp_file(input, input_ext);
    let out_path = dir.path().join(format!("out.{out_ext}"));
    let out = Command::new("heif-enc")
        .args(args)
        .arg(&path)
        .arg("-o")
        .arg(&out_path)
        .output()
        .expect(HEIF_ENC_MISSING);
    assert!(
        out.status.success(),
        "heif-enc {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&out_path).expect("heif-enc output")
}

/// An 8-bit HEIC (quality 90) of `img`, with no metadata.
fn heic_of(img: &RgbImage) -> Vec<u8> {
    heif_enc(&synth::encode_jpeg(img, 95), "jpg", "heic", &["-q", "90"])
}

/// A HEIC whose pixels are `stored` and whose HEIF transform properties (`irot`, `imir`) say
/// to show them turned for EXIF orientation `o`: what an iPhone writes. heif-enc 1.15 has no
/// option for it, so it is written with libheif's encoding API (`image_orientation`), called
/// directly: libheif-rs 0.20's `encode_image` frees its options before libheif reads them.
/// exiftool confirms the transform is in the file (see `heic_transforms_are_applied_once`).
fn heic_with_transform(stored: &RgbImage, o: u16) -> Vec<u8> {
    use libheif_sys as lh;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("t.heic");
    let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let (w, h) = stored.dimensions();
    let check = |e: lh::heif_error, what: &str| {
        assert_eq!(e.code, 0, "libheif {what} failed (code {})", e.code);
    };
    // SAFETY: every pointer comes from libheif and is checked or used as libheif documents;
    // the plane is written within `stride × h` bytes; everything is freed once, at the end.
    unsafe {
        lh::heif_init(std::ptr::null_mut());
        let ctx = lh::heif_context_alloc();
        assert!(!ctx.is_null());
        let mut enc = std::ptr::null_mut();
        check(
            lh::heif_context_get_encoder_for_format(
                ctx,
                lh::heif_compression_format_heif_compression_HEVC,
                &mut enc,
            ),
            "get HEVC encoder",
        );
        check(lh::heif_encoder_set_lossy_quality(enc, 90), "set quality");
        let mut img = std::ptr::null_mut();
        check(
            lh::heif_image_create(
                w as libc::c_int,
                h as libc::c_int,
                lh::heif_colorspace_heif_colorspace_RGB,
                lh::heif_chroma_heif_chroma_interleaved_RGB,
                &mut img,
            ),
            "create image",
        );
        check(
            lh::heif_image_add_plane(
                img,
                lh::heif_channel_heif_channel_interleaved,
                w as libc::c_int,
                h as libc::c_int,
                8,
            ),
            "add plane",
        );
        let mut stride: libc::c_int = 0;
        let plane =
            lh::heif_image_get_plane(img, lh::heif_channel_heif_channel_interleaved, &mut stride);
        assert!(!plane.is_null());
        for (y, row) in stored.as_raw().chunks_exact(w as usize * 3).enumerate() {
            std::ptr::copy_nonoverlapping(row.as_ptr(), plane.add(y * stride as usize), row.len());
        }
        let opts = lh::heif_encoding_options_alloc();
        assert!(!opts.is_null());
        (*opts).image_orientation = lh::heif_orientation::from(o);
        check(
            lh::heif_context_encode_image(ctx, img, enc, opts, std::ptr::null_mut()),
            "encode",
        );
        check(
            lh::heif_context_write_to_file(ctx, c_path.as_ptr()),
            "write",
        );
        lh::heif_encoding_options_free(opts);
        lh::heif_image_release(img);
        lh::heif_encoder_release(enc);
        lh::heif_context_free(ctx);
        lh::heif_deinit();
    }
    std::fs::read(&path).expect("read HEIC")
}

/// A phone-like JPEG (EXIF with GPS, serial, maker note, capture time; XMP; an EXIF
/// thumbnail) of `upright`, stored upright (EXIF orientation 1).
fn jpeg_with_planted_metadata(upright: &RgbImage) -> Vec<u8> {
    let spec = ExifSpec {
        orientation: 1,
        maker_note: format!("Apple iOS maker note {PLANTED}").into_bytes(),
        ..Default::default()
    };
    let jpeg = synth::camera_jpeg(upright, 95, &spec);
    exiftool_write(
        &jpeg,
        "jpg",
        &[
            &format!("-IFD0:Artist=Dr {PLANTED} Artist"),
            &format!("-ExifIFD:LensSerialNumber=LENS-{PLANTED}"),
            "-GPSAltitude=42",
            "-GPSAltitudeRef=0",
            &format!("-XMP-dc:Creator=XMP creator {PLANTED}"),
            &format!("-XMP-dc:Description=XMP description {PLANTED}"),
        ],
    )
}

fn assert_planted_in(before: &serde_json::Map<String, serde_json::Value>, label: &str) {
    for key in [
        "GPS:GPSLatitude",
        "IFD0:Make",
        "ExifIFD:SerialNumber",
        "IFD0:Artist",
        "XMP-dc:Creator",
    ] {
        assert!(
            before.contains_key(key),
            "{label}: planting failed, {key} missing from {before:?}"
        );
    }
    assert!(
        before.keys().any(|k| k.starts_with("ExifIFD:MakerNote")),
        "{label}: maker note planted"
    );
}

#[test]
fn heic_metadata_is_planted_then_removed() {
    let upright = skin(1200, 900, 21);
    let heic = heif_enc(
        &jpeg_with_planted_metadata(&upright),
        "jpg",
        "heic",
        // An embedded HEIF thumbnail item too.
        &["-q", "90", "-t", "160"],
    );
    let before = exiftool_read(&heic, "heic");
    assert_eq!(before["File:FileType"], "HEIC", "{before:?}");
    assert_planted_in(&before, "heic");
    let p = ok(&heic);
    assert_eq!(p.source_format, PhotoFormat::Heic);
    assert_all_clean(&p, "heic");
    assert_eq!(
        (p.full.width, p.full.height, p.full.content_type),
        (1200, 900, "image/jpeg")
    );
    assert_eq!(
        p.captured_at,
        Some(time::macros::datetime!(2024-03-14 09:26:53)),
        "the capture time is read from the HEIC's EXIF"
    );
    // The full size is a high-quality re-encode: close to the upload's pixels.
    let full = decode_rgb(&p.full.bytes);
    let mean_abs: f64 = full
        .as_raw()
        .iter()
        .zip(upright.as_raw())
        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs())
        .sum::<f64>()
        / full.as_raw().len() as f64;
    assert!(
        mean_abs < 6.0,
        "full size differs by {mean_abs:.1} on average"
    );
}

#[test]
fn avif_metadata_is_planted_then_removed() {
    let upright = skin(800, 600, 22);
    let avif = heif_enc(
        &jpeg_with_planted_metadata(&upright),
        "jpg",
        "avif",
        &["-A", "-q", "80"],
    );
    let before = exiftool_read(&avif, "avif");
    assert_eq!(before["File:FileType"], "AVIF", "{before:?}");
    assert_planted_in(&before, "avif");
    let p = ok(&avif);
    assert_eq!(p.source_format, PhotoFormat::Avif);
    assert_all_clean(&p, "avif");
    assert_eq!((p.full.width, p.full.height), (800, 600));
    assert_eq!(p.full.content_type, "image/jpeg");
}

/// libheif applies the HEIF transforms (`irot`, `imir`) of all 8 orientations, and an EXIF
/// orientation in a HEIC is not applied on top of them.
#[test]
fn heic_transforms_are_applied_once() {
    check_orientations("heic irot/imir", 480, 360, heic_with_transform);
    // exiftool sees the transform in the file we made (so the check above is not vacuous).
    let rotated = heic_with_transform(&synth::as_stored_by_camera(&quadrants(480, 360), 6), 6);
    let tags = exiftool_read(&rotated, "heic");
    assert!(
        tags.iter().any(
            |(k, v)| k.ends_with(":Rotation") && v.to_string().contains("90")
                || k.ends_with(":Rotation") && v.to_string().contains("270")
        ),
        "an irot box: {tags:?}"
    );
    // An iPhone writes both: pixels as the sensor saw them, an irot, and the same turn as EXIF
    // orientation 6. Applied once: upright.
    let both = exiftool_write(&rotated, "heic", &["-IFD0:Orientation#=6"]);
    let before = exiftool_read(&both, "heic");
    assert_eq!(before["IFD0:Orientation"], "Rotate 90 CW", "{before:?}");
    let p = ok(&both);
    assert_upright(&p.full, 480, 360, "irot + EXIF 6");
    assert_all_clean(&p, "irot + EXIF 6");
}

/// heif-enc copies a JPEG's EXIF (orientation included) into the HEIC but writes no
/// transform: the HEIC shows its pixels as stored (HEIF readers ignore EXIF orientation, as
/// Apple's and libheif's do), and so do we, for every EXIF orientation.
#[test]
fn heic_exif_orientation_is_not_applied() {
    let upright = quadrants(480, 360);
    for o in [3u16, 6, 8] {
        let jpeg = synth::insert_app1(
            &synth::encode_jpeg(&upright, 95),
            &synth::exif_app1(&ExifSpec {
                orientation: o,
                ..Default::default()
            }),
        );
        let heic = heif_enc(&jpeg, "jpg", "heic", &["-q", "90"]);
        let tags = exiftool_read(&heic, "heic");
        assert!(
            tags.contains_key("IFD0:Orientation") && !tags.keys().any(|k| k.ends_with(":Rotation")),
            "EXIF orientation {o}, no irot: {tags:?}"
        );
        let p = ok(&heic);
        let (dw, dh) = resize::fit_long_edge(480, 360, DISPLAY_LONG_EDGE);
        assert_upright(&p.full, 480, 360, &format!("EXIF {o} full"));
        assert_upright(&p.display, dw, dh, &format!("EXIF {o} display"));
        assert_all_clean(&p, &format!("EXIF {o}"));
    }
}

/// heif-enc -b 10 from a 16-bit PNG: libheif maps the 10-bit samples to 8 bits (colours
/// right, not darkened or wrapped).
#[test]
fn heic_10_bit_is_mapped_to_8_bit() {
    let upright = quadrants(480, 360);
    let png16 = encode(
        &DynamicImage::ImageRgb16(DynamicImage::ImageRgb8(upright).to_rgb16()),
        ImageFormat::Png,
    );
    let heic = heif_enc(&png16, "png", "heic", &["-b", "10", "-q", "90"]);
    let tags = exiftool_read(&heic, "heic");
    assert_eq!(tags["QuickTime:BitDepthLuma"], 10, "{tags:?}");
    let p = ok(&heic);
    assert_upright(&p.full, 480, 360, "10-bit full");
    assert_all_clean(&p, "10-bit");
    // 10-bit AVIF too, 4:2:2: Debian bookworm's heif-enc 1.15 with aom 3.6 aborts on an
    // assertion in aom for 10-bit 4:2:0 and 4:4:4.
    let avif = heif_enc(
        &png16,
        "png",
        "avif",
        &["-A", "-b", "10", "-q", "90", "-p", "chroma=422"],
    );
    let tags = exiftool_read(&avif, "avif");
    assert_eq!(tags["QuickTime:ImagePixelDepth"], "10 10 10", "{tags:?}");
    let p = ok(&avif);
    assert_upright(&p.full, 480, 360, "10-bit AVIF full");
    // The estimate counts the deeper planes.
    let heic8 = heic_of(&quadrants(480, 360));
    let limits = Limits::default();
    assert!(decode_estimate(&heic, &limits) > decode_estimate(&heic8, &limits));
}

/// The probe reads the size from the boxes: the pixel limits apply before decoding, and the
/// estimate is the header's (8-bit 4:2:0 HEIC: planes at 3 bytes a pixel, two RGB copies, three
/// 8-bit working copies).
#[test]
fn heic_limits_and_estimate_from_the_header() {
    let heic = heic_of(&skin(1200, 900, 23));
    let limits = Limits::default();
    assert_eq!(decode_estimate(&heic, &limits), 1200 * 900 * (9 + 3 * 3));
    let e = err_with(
        &heic,
        &Limits {
            max_pixels: 1_000_000,
            ..Limits::default()
        },
    );
    assert!(
        matches!(
            e,
            ImageError::TooManyPixels {
                width: 1200,
                height: 900
            }
        ),
        "{e:?}"
    );
    let e = err_with(
        &heic,
        &Limits {
            max_dimension: 1000,
            ..Limits::default()
        },
    );
    assert_eq!(e.code(), "image_too_many_pixels");
}

/// The quality checks run on HEIC as on JPEG.
#[test]
fn heic_quality_warnings() {
    let fine = ok(&heic_of(&skin(1600, 1200, 24)));
    assert!(fine.warnings.is_empty(), "{:?}", fine.warnings);
    let dark = ok(&heic_of(&scaled(&skin(1600, 1200, 24), |v| v / 6)));
    assert!(
        dark.warnings.contains(&QualityWarning::TooDark),
        "{:?}",
        dark.warnings
    );
    let small = ok(&heic_of(&skin(640, 480, 24)));
    assert!(
        small.warnings.contains(&QualityWarning::LowResolution),
        "{:?}",
        small.warnings
    );
    let blurred = {
        let b = image::imageops::blur(&skin(1600, 1200, 24), 6.0);
        ok(&heic_of(&b))
    };
    assert!(
        blurred.warnings.contains(&QualityWarning::Blurred),
        "{:?}",
        blurred.warnings
    );
}

/// A HEIC cut anywhere is refused as truncated, a damaged one as corrupt: 422 both, before or
/// while decoding.
#[test]
fn heic_truncated_and_corrupt_are_refused() {
    let heic = heic_of(&skin(640, 480, 25));
    let avif = heif_enc(
        &synth::encode_jpeg(&skin(640, 480, 25), 95),
        "jpg",
        "avif",
        &["-A"],
    );
    for (label, file) in [("heic", &heic), ("avif", &avif)] {
        for cut in [
            20,
            100,
            file.len() / 4,
            file.len() / 2,
            file.len() * 3 / 4,
            file.len() - 1,
        ] {
            let e = err(&file[..cut]);
            assert_eq!(e.code(), "image_truncated", "{label} cut at {cut}: {e:?}");
            assert_eq!(e.http_status(), 422);
            assert!(e.to_string().contains("incomplete"), "{e}");
        }
    }
    // No meta box (renamed): libheif refuses the file.
    let mut no_meta = heic.clone();
    let at = no_meta.windows(4).position(|w| w == b"meta").unwrap();
    no_meta[at..at + 4].copy_from_slice(b"free");
    let e = err(&no_meta);
    assert_eq!((e.code(), e.http_status()), ("image_corrupt", 422), "{e:?}");
    // A box that says it is shorter than its own header.
    let mut bad_len = heic.clone();
    let at = bad_len.windows(4).position(|w| w == b"meta").unwrap() - 4;
    bad_len[at..at + 4].copy_from_slice(&4u32.to_be_bytes());
    assert_eq!(err(&bad_len).code(), "image_corrupt");
    // The ftyp alone.
    assert_eq!(
        err(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic").code(),
        "image_corrupt"
    );
}

// ───────────────────────────── fuzz ─────────────────────────────

thread_local! {
    static PANICS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

type PanicHook = dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync + 'static;

/// While any guard lives, every panic on a thread is counted in that thread's [`PANICS`]
/// (including ones `process` catches); when the last guard goes, also when its test panicked,
/// the hook that was there before is put back. Counted guards, so the fuzz tests can run at
/// once without unhooking each other.
struct CountingPanicHook;

static HOOK_USERS: std::sync::Mutex<(usize, Option<std::sync::Arc<PanicHook>>)> =
    std::sync::Mutex::new((0, None));

impl CountingPanicHook {
    fn install() -> Self {
        let mut users = HOOK_USERS.lock().unwrap_or_else(|e| e.into_inner());
        if users.0 == 0 {
            let previous: std::sync::Arc<PanicHook> = std::panic::take_hook().into();
            let chained = previous.clone();
            std::panic::set_hook(Box::new(move |info| {
                PANICS.with(|p| p.set(p.get() + 1));
                chained(info);
            }));
            users.1 = Some(previous);
        }
        users.0 += 1;
        Self
    }
}

impl Drop for CountingPanicHook {
    fn drop(&mut self) {
        let mut users = HOOK_USERS.lock().unwrap_or_else(|e| e.into_inner());
        users.0 -= 1;
        if users.0 == 0 {
            if let Some(previous) = users.1.take() {
                std::panic::set_hook(Box::new(move |info| previous(info)));
            }
        }
    }
}

/// Stable-Rust fuzzing: fixed seed, fixed iteration count, structured
/// mutations (bit flips, interesting values in headers, truncation, splices,
/// duplicated and deleted ranges) of valid inputs of every format. Fails on
/// any panic, including one `process` would have caught.
#[test]
fn fuzz_mutated_inputs_never_panic() {
    let _hook = CountingPanicHook::install();
    let tiny = skin(96, 64, 13);
    let spec = ExifSpec {
        orientation: 6,
        ..Default::default()
    };
    let planted = planted_profiles();
    let mut seeds: Vec<Vec<u8>> = vec![
        synth::camera_jpeg(&tiny, 80, &spec),
        // ICC profiles right after SOI: recognised (P3) and converted (ProPhoto).
        synth::insert_icc(&synth::encode_jpeg(&tiny, 80), &planted[0].1),
        synth::insert_icc(&synth::encode_jpeg(&tiny, 80), &planted[3].1),
        encode(&DynamicImage::ImageRgb8(tiny.clone()), ImageFormat::Png),
        encode(
            &DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(tiny.clone()).to_rgba8()),
            ImageFormat::Png,
        ),
        webp_lossless(&tiny),
        heic_of(&tiny),
        heif_enc(&synth::encode_jpeg(&tiny, 90), "jpg", "avif", &["-A"]),
    ];
    for (name, want) in manifest(&corpus_dir()) {
        if want == "ok" {
            seeds.push(std::fs::read(corpus_dir().join(name)).unwrap());
        }
    }
    // Keep mutated headers from asking for huge (slow but legal) decodes.
    let limits = Limits {
        max_bytes: 1 << 20,
        max_pixels: 2_000_000,
        max_dimension: 2000,
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5EED_1A6E);
    const ITERATIONS: usize = 8000;
    let start = Instant::now();
    let (mut oks, mut errs) = (0, 0);
    for i in 0..ITERATIONS {
        let mut input = seeds[i % seeds.len()].clone();
        for _ in 0..rng.gen_range(1..=4) {
            mutate(&mut input, &seeds, &mut rng);
        }
        let before = PANICS.with(|p| p.get());
        let result = std::panic::catch_unwind(|| process(&input, &limits));
        let after = PANICS.with(|p| p.get());
        if after != before || result.is_err() {
            let path = std::env::temp_dir().join(format!("imaging-fuzz-panic-{i}.bin"));
            std::fs::write(&path, &input).unwrap();
            panic!(
                "iteration {i}: process panicked; input saved to {}",
                path.display()
            );
        }
        match result.unwrap() {
            Ok(_) => oks += 1,
            Err(_) => errs += 1,
        }
    }
    eprintln!(
        "fuzz: {ITERATIONS} inputs, {oks} ok, {errs} refused, {:?}",
        start.elapsed()
    );
    assert!(
        errs > 0 && oks > 0,
        "mutations should produce both outcomes"
    );
}

/// Mutated ICC profiles (header, tag table, curves, colorants, text) go
/// straight to the profile reader, the recogniser and the conversion: none
/// may panic (a panic would only cost the profile, but is a bug), and
/// whatever they decide must be one of our profiles or none.
#[test]
fn fuzz_mutated_icc_profiles_never_panic() {
    let _hook = CountingPanicHook::install();
    let mut seeds: Vec<Vec<u8>> = planted_profiles().into_iter().map(|p| p.1).collect();
    seeds.extend(Space::ALL.map(|s| s.profile().to_vec()));
    seeds.push(synth::icc_profile_with_text(
        moxcms::ColorProfile::new_gray_with_gamma(2.2),
        NHS_TEXT,
    ));
    let rgb = DynamicImage::ImageRgb8(patches(8, 8));
    let images = [
        (1u8, DynamicImage::ImageLuma8(rgb.to_luma8())),
        (3, rgb.clone()),
        (4, DynamicImage::ImageRgba8(rgb.to_rgba8())),
    ];
    // Longer runs: AGHUB_ICC_FUZZ_ITERATIONS=1000000 AGHUB_ICC_FUZZ_SEED=n.
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(env("AGHUB_ICC_FUZZ_SEED", 0x1CC_F022));
    let iterations = env("AGHUB_ICC_FUZZ_ITERATIONS", 30_000) as usize;
    let start = Instant::now();
    let (mut recognised, mut converted) = (0, 0);
    for i in 0..iterations {
        let mut icc = seeds[i % seeds.len()].clone();
        for _ in 0..rng.gen_range(1..=4) {
            mutate(&mut icc, &seeds, &mut rng);
        }
        for (channels, img) in &images {
            let before = PANICS.with(|p| p.get());
            let outcome = std::panic::catch_unwind(|| {
                let colour = icc::Colour::for_profile(Some(&icc), *channels);
                let mut img = img.clone();
                let applied = colour.apply(&mut img).is_ok();
                (
                    colour.profile().map(<[u8]>::to_vec),
                    colour.converts(),
                    applied,
                )
            });
            let after = PANICS.with(|p| p.get());
            if after != before || outcome.is_err() {
                let path = std::env::temp_dir().join(format!("icc-fuzz-panic-{i}.icc"));
                std::fs::write(&path, &icc).unwrap();
                panic!(
                    "iteration {i}: panicked; profile saved to {}",
                    path.display()
                );
            }
            let (profile, converts, applied) = outcome.unwrap();
            assert!(
                applied,
                "iteration {i}: conversion failed on its own layout"
            );
            if let Some(p) = profile {
                assert!(Space::ALL.iter().any(|s| s.profile() == p.as_slice()));
                if converts {
                    converted += 1;
                } else {
                    recognised += 1;
                }
            }
        }
    }
    eprintln!(
        "icc fuzz: {iterations} profiles × 3 layouts, {recognised} recognised, \
         {converted} converted, {:?}",
        start.elapsed()
    );
    assert!(
        recognised > 0 && converted > 0,
        "mutations should keep some profiles usable"
    );
}

fn mutate(input: &mut Vec<u8>, seeds: &[Vec<u8>], rng: &mut rand::rngs::StdRng) {
    if input.is_empty() {
        input.push(rng.gen());
        return;
    }
    let len = input.len();
    // Headers hold the interesting structure: bias positions to the start.
    let pos = if rng.gen_bool(0.6) {
        rng.gen_range(0..len.min(512))
    } else {
        rng.gen_range(0..len)
    };
    match rng.gen_range(0..8) {
        0 => input[pos] ^= 1 << rng.gen_range(0..8),
        1 => input[pos] = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE][rng.gen_range(0..6)],
        2 => {
            let v: u32 =
                [0, 1, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF, 65_000, 16_384][rng.gen_range(0..7)];
            let bytes = if rng.gen_bool(0.5) {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            let n = rng.gen_range(2..=4);
            for (k, b) in bytes[4 - n..].iter().enumerate() {
                if pos + k < len {
                    input[pos + k] = *b;
                }
            }
        }
        3 => input.truncate(rng.gen_range(0..len)),
        4 => {
            let other = &seeds[rng.gen_range(0..seeds.len())];
            let from = rng.gen_range(0..other.len());
            let n = rng.gen_range(1..=(other.len() - from).min(256));
            input.splice(pos..pos, other[from..from + n].iter().copied());
        }
        5 => {
            let end = (pos + rng.gen_range(1..64)).min(len);
            input.drain(pos..end);
        }
        6 => {
            let end = (pos + rng.gen_range(1..64)).min(len);
            let chunk = input[pos..end].to_vec();
            input.splice(pos..pos, chunk);
        }
        _ => {
            for _ in 0..rng.gen_range(1..16) {
                let p = rng.gen_range(0..input.len());
                input[p] = rng.gen();
            }
        }
    }
}

// ───────────────────────────── sample images ─────────────────────────────

#[test]
fn sample_images_process_cleanly() {
    let dir = corpus_dir().join("../../../sample-images");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("sample-images/ (scripts/make-sample-images.sh)") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("jpg") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let before = exiftool_read(&bytes, "jpg");
        assert!(
            before.contains_key("GPS:GPSLatitude") && before.contains_key("ExifIFD:SerialNumber"),
            "{name}: sample lost its planted EXIF"
        );
        let p = ok(&bytes);
        assert!(p.warnings.is_empty(), "{name}: {:?}", p.warnings);
        assert!(p.captured_at.is_some(), "{name}");
        assert!(
            p.full.width > p.full.height,
            "{name}: samples are landscape once upright"
        );
        assert_all_clean(&p, &name);
        n += 1;
    }
    assert!(
        n >= 3,
        "expected at least 3 sample images in {}",
        dir.display()
    );
}
