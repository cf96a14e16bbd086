//! Writes the synthetic demo photos (run by scripts/make-sample-images.sh;
//! registered as `[[example]] name = "make_sample_images"`).
//!
//!     cargo run --release --example make_sample_images -- OUT_DIR [WIDTH HEIGHT [QUALITY]]
//!
//! Each is a procedurally generated close-up of a skin lesion, written the way
//! a phone would: pixels stored in sensor orientation with an EXIF
//! Orientation tag, camera make/model/serial number, GPS position,
//! DateTimeOriginal, a maker note, plus an XMP packet and a JPEG comment, so
//! the demo can show all of it being removed. All names and places are
//! invented.

use std::path::PathBuf;

use aghub_testkit::synth::{camera_jpeg, insert_app1, skin_photo, ExifSpec};

struct Sample {
    name: &'static str,
    seed: u64,
    orientation: u16,
    make: &'static str,
    model: &'static str,
    serial: &'static str,
    when: &'static str,
    gps: (f64, f64),
}

const SAMPLES: [Sample; 4] = [
    Sample {
        name: "forearm-naevus",
        seed: 1,
        orientation: 1,
        make: "Apple",
        model: "iPhone 13",
        serial: "F17XK2QHPLJN",
        when: "2024:03:14 09:26:53",
        gps: (51.5072, -0.1276),
    },
    Sample {
        name: "back-lesion-portrait",
        seed: 2,
        orientation: 6,
        make: "samsung",
        model: "SM-S911B",
        serial: "R5CW30ABCDE",
        when: "2024:05:02 14:03:11",
        gps: (53.4808, -2.2426),
    },
    Sample {
        name: "shin-plaque",
        seed: 3,
        orientation: 8,
        make: "Google",
        model: "Pixel 7",
        serial: "2A111FDH200XYZ",
        when: "2024:06:21 11:45:00",
        gps: (52.4862, -1.8904),
    },
    Sample {
        name: "cheek-lesion",
        seed: 4,
        orientation: 3,
        make: "Apple",
        model: "iPhone 15 Pro",
        serial: "G6TZ93LMN0PQ",
        when: "2024:09:09 16:30:27",
        gps: (55.9533, -3.1883),
    },
];

fn main() {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(
        args.next()
            .expect("usage: make_sample_images OUT_DIR [WIDTH HEIGHT [QUALITY]]"),
    );
    let width: u32 = args
        .next()
        .map(|v| v.parse().expect("WIDTH"))
        .unwrap_or(2000);
    let height: u32 = args
        .next()
        .map(|v| v.parse().expect("HEIGHT"))
        .unwrap_or(1500);
    // 82 keeps the committed samples small; phones use ~92-97 (the benchmark
    // script asks for 95 to get realistic 3-4 MB files at 12 MP).
    let quality: i32 = args
        .next()
        .map(|v| v.parse().expect("QUALITY"))
        .unwrap_or(82);
    std::fs::create_dir_all(&out).expect("creating the output directory");
    for s in &SAMPLES {
        let upright = skin_photo(width, height, s.seed);
        let exif = ExifSpec {
            orientation: s.orientation,
            make: s.make.into(),
            model: s.model.into(),
            body_serial: s.serial.into(),
            datetime_original: s.when.into(),
            gps: Some(s.gps),
            maker_note: format!("{} maker note (synthetic) serial {}", s.make, s.serial)
                .into_bytes(),
        };
        let jpeg = camera_jpeg(&upright, quality, &exif);
        let xmp = format!(
            "http://ns.adobe.com/xap/1.0/\0<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF \
             xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description \
             xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:exif=\"http://ns.adobe.com/exif/1.0/\" \
             exif:GPSLatitude=\"{lat}\" exif:GPSLongitude=\"{lon}\"><dc:creator><rdf:Seq><rdf:li>Dr A. Example (synthetic)</rdf:li>\
             </rdf:Seq></dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>",
            lat = s.gps.0, lon = s.gps.1
        );
        let jpeg = insert_segment(&jpeg, 0xE1, xmp.as_bytes());
        let jpeg = insert_segment(
            &jpeg,
            0xFE,
            b"Synthetic sample - patient: Jane Example, NHS 999 000 0000",
        );
        let path = out.join(format!("{}.jpg", s.name));
        std::fs::write(&path, &jpeg).expect("writing a sample");
        println!(
            "{} ({} bytes, orientation {})",
            path.display(),
            jpeg.len(),
            s.orientation
        );
    }
}

fn insert_segment(jpeg: &[u8], marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut seg = vec![0xFF, marker];
    seg.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    seg.extend_from_slice(payload);
    insert_app1(jpeg, &seg)
}
