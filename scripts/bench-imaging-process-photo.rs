//! Runs the photo pipeline on files and writes the three renditions.
//!
//!     cargo run --release --example process_photo -- [--repeat N] [--out DIR] [--quiet] FILE...
//!
//! (Lives in scripts/ rather than examples/ and is registered with an explicit
//! `[[example]] path`, so it is not auto-discovered.)
//!
//! Writes DIR/<stem>.full.{jpg,png}, DIR/<stem>.display.jpg, DIR/<stem>.thumb.jpg
//! (DIR defaults to the current directory) and prints sizes, warnings and
//! per-stage timings. `--repeat N` processes each file N times in-process and
//! prints the mean (used by scripts/bench-imaging-vs-vips.sh).

use std::path::{Path, PathBuf};
use std::time::Duration;

use aghub::imaging::{process_timed, Limits, StageTimings};

fn main() {
    let mut repeat = 1u32;
    let mut out_dir = PathBuf::from(".");
    let mut quiet = false;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--repeat" => {
                repeat = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--repeat N")
            }
            "--out" => out_dir = PathBuf::from(args.next().expect("--out DIR")),
            "--quiet" => quiet = true,
            _ => files.push(PathBuf::from(a)),
        }
    }
    if files.is_empty() {
        eprintln!("usage: process_photo [--repeat N] [--out DIR] [--quiet] FILE...");
        std::process::exit(2);
    }
    let limits = Limits::default();
    let mut failed = false;
    for file in &files {
        let input = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let mut sum = StageTimings::default();
        let mut last = None;
        for _ in 0..repeat.max(1) {
            let (result, t) = process_timed(&input, &limits);
            add(&mut sum, &t);
            last = Some(result);
        }
        let n = repeat.max(1);
        match last.expect("at least one run") {
            Ok(p) => {
                let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("photo");
                let ext = if p.full.content_type == "image/png" {
                    "png"
                } else {
                    "jpg"
                };
                write(&out_dir.join(format!("{stem}.full.{ext}")), &p.full.bytes);
                write(
                    &out_dir.join(format!("{stem}.display.jpg")),
                    &p.display.bytes,
                );
                write(&out_dir.join(format!("{stem}.thumb.jpg")), &p.thumb.bytes);
                if !quiet {
                    println!("{}: {:?} -> full {}x{} {} ({} B), display {}x{} ({} B), thumb {}x{} ({} B)",
                        file.display(), p.source_format, p.full.width, p.full.height, p.full.content_type,
                        p.full.bytes.len(), p.display.width, p.display.height, p.display.bytes.len(),
                        p.thumb.width, p.thumb.height, p.thumb.bytes.len());
                    let codes: Vec<_> = p.warnings.iter().map(|w| w.code()).collect();
                    println!("  warnings: {codes:?}, captured_at: {:?}", p.captured_at);
                }
            }
            Err(e) => {
                failed = true;
                println!(
                    "{}: refused ({}, HTTP {}): {e}",
                    file.display(),
                    e.code(),
                    e.http_status()
                );
            }
        }
        if !quiet {
            let ms = |d: Duration| d.as_secs_f64() * 1000.0 / f64::from(n);
            println!(
                "  mean of {n}: total {:.1} ms = sniff+header {:.2} | decode {:.1} | display {:.1} | thumb {:.1} | quality {:.1} | full {:.1}",
                ms(sum.total), ms(sum.sniff_header), ms(sum.decode), ms(sum.display), ms(sum.thumb), ms(sum.quality), ms(sum.full)
            );
        }
    }
    if failed {
        std::process::exit(1);
    }
}

fn add(sum: &mut StageTimings, t: &StageTimings) {
    sum.sniff_header += t.sniff_header;
    sum.decode += t.decode;
    sum.full += t.full;
    sum.display += t.display;
    sum.thumb += t.thumb;
    sum.quality += t.quality;
    sum.total += t.total;
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
