#!/usr/bin/env bash
# Regenerates sample-images/*.jpg: synthetic close-ups of skin lesions
# (procedural, no real patient) written the way a phone writes them, with
# camera metadata planted on purpose (make/model, serial number, GPS,
# DateTimeOriginal, a maker note, XMP, a JPEG comment; orientations 1, 6, 8
# and 3), so the demo and README can show the pipeline removing all of it.
#
#   scripts/make-sample-images.sh [OUT_DIR]      (default: sample-images)
#
# Deterministic: the same bytes every run. Generator: scripts/make-sample-images.rs
# (cargo example "make_sample_images"), using aghub_testkit::synth (crates/aghub-testkit).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-sample-images}"
cargo run --release --quiet --example make_sample_images -- "$out" 2000 1500
if command -v exiftool >/dev/null; then
  echo "Planted metadata (exiftool):"
  exiftool -q -G1 -a -s -Make -Model -SerialNumber -Orientation -DateTimeOriginal \
    -GPSPosition -Comment -XMP-dc:Creator "$out"/*.jpg
fi
