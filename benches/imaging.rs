//! Photo pipeline benchmark on a realistic 12 MP phone JPEG (4032×3024,
//! quality 95, ~3.2 MB, EXIF with GPS/serial), generated at start-up (nothing
//! large is committed).
//!
//!     cargo bench --bench imaging
//!
//! Two inputs: orientation 6 (phone held upright: the lossless full-size
//! transform has to rotate) and orientation 1 (no rotation). For each, one
//! benchmark per stage (the stage's own time inside a real `process` call,
//! from `process_timed`) and one for the whole job.

use std::hint::black_box;
use std::time::Duration;

use aghub::imaging::{process_timed, Limits, StageTimings};
use aghub_testkit::synth::{camera_jpeg, skin_photo, ExifSpec};
use criterion::{criterion_group, criterion_main, Criterion};

type Stage = (&'static str, fn(&StageTimings) -> Duration);

const STAGES: [Stage; 7] = [
    ("sniff_header", |t| t.sniff_header),
    ("decode_scaled", |t| t.decode),
    ("display", |t| t.display),
    ("thumb", |t| t.thumb),
    ("quality", |t| t.quality),
    ("full_clean", |t| t.full),
    ("whole_job", |t| t.total),
];

fn bench(c: &mut Criterion) {
    let upright = skin_photo(4032, 3024, 7);
    let limits = Limits::default();
    for orientation in [6u16, 1] {
        let spec = ExifSpec {
            orientation,
            ..Default::default()
        };
        let input = camera_jpeg(&upright, 95, &spec);
        eprintln!(
            "input: 12 MP JPEG, orientation {orientation}, {} bytes",
            input.len()
        );
        let mut group = c.benchmark_group(format!("imaging_12mp_orientation{orientation}"));
        group
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));
        for (name, stage) in STAGES {
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let mut sum = Duration::ZERO;
                    for _ in 0..iters {
                        let (result, timings) = process_timed(black_box(&input), &limits);
                        black_box(result.expect("the benchmark photo is valid"));
                        sum += stage(&timings);
                    }
                    sum
                })
            });
        }
        group.finish();
    }
}

/// How fast bad input is refused: a header claiming 65 000 × 65 000 pixels (refused from the
/// header, before any decoding) and a JPEG cut in half.
fn refusals(c: &mut Criterion) {
    let limits = Limits::default();
    let small = camera_jpeg(&skin_photo(640, 480, 3), 90, &ExifSpec::default());
    let mut bomb = small.clone();
    // Rewrite the SOF0/SOF2 frame's height and width.
    let sof = bomb
        .windows(2)
        .position(|w| w[0] == 0xFF && (w[1] == 0xC0 || w[1] == 0xC2))
        .expect("a frame header");
    bomb[sof + 5..sof + 9].copy_from_slice(&[0xFD, 0xE8, 0xFD, 0xE8]);
    let truncated = small[..small.len() / 2].to_vec();
    let mut group = c.benchmark_group("refusals");
    group.sample_size(20);
    for (name, input) in [
        ("header_bomb_65000x65000", &bomb),
        ("jpeg_truncated_half", &truncated),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let refused = aghub::imaging::process(black_box(input), &limits);
                assert!(refused.is_err(), "{name} must be refused");
            })
        });
    }
    group.finish();
}

/// What a colour profile costs per photo: the whole job for a 12 MP phone JPEG without a profile,
/// with Display P3 and with sRGB (each recognised and replaced by our own copy; the profiles carry
/// planted text, as the privacy tests' do).
fn colour_profiles(c: &mut Criterion) {
    use aghub_testkit::synth::{icc_profile_with_text, insert_icc};
    use moxcms::ColorProfile;
    let limits = Limits::default();
    let plain = camera_jpeg(
        &skin_photo(4032, 3024, 7),
        92,
        &ExifSpec {
            orientation: 6,
            ..Default::default()
        },
    );
    let text = "NHS 9434765919 PLANTED";
    let p3 = insert_icc(
        &plain,
        &icc_profile_with_text(ColorProfile::new_display_p3(), text),
    );
    let srgb = insert_icc(
        &plain,
        &icc_profile_with_text(ColorProfile::new_srgb(), text),
    );
    let mut group = c.benchmark_group("colour_profile_12mp");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for (name, input) in [("none", &plain), ("display_p3", &p3), ("srgb", &srgb)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let processed = aghub::imaging::process(black_box(input), &limits);
                black_box(processed.expect("the benchmark photo is valid"));
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, refusals, colour_profiles);
criterion_main!(benches);
