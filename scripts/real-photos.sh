#!/usr/bin/env bash
# Real camera photographs for the imaging benchmark, beside the generated ones:
#
#   scripts/real-photos.sh OUT_DIR
#
# No phone photo library is reachable from this machine, so these come from Debian's
# lomiri-wallpapers-16.04 and -20.04 packages (photographs from Ubuntu's wallpaper contests, CC BY-SA), fetched with
# `apt-get download` (nothing is installed). Each is re-encoded as a phone does it (baseline
# JPEG, quality 92, 4:2:0 chroma as iPhone, Samsung and Pixel cameras write it) at its own size
# (8 to 20 MP), given a phone's EXIF (make, model, GPS, a serial number) and one of the
# orientations phones write most (1, 6, 8, 3, 6).
#
# Until 2 December this kept vips's default chroma, which at quality 90 and above is 4:4:4
# (twice a phone's coefficients); REAL_PHOTOS_SUBSAMPLE=off makes that set again, to compare.
set -euo pipefail
out="${1:?usage: scripts/real-photos.sh OUT_DIR}"
for tool in vips exiftool dpkg-deb apt-get; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
packages="lomiri-wallpapers-16.04 lomiri-wallpapers-20.04"
(cd "$work" && apt-get download $packages >/dev/null 2>&1) \
  || { apt-get update >/dev/null && (cd "$work" && apt-get download $packages >/dev/null); }
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
src="$work/x/usr/share/backgrounds"
# name:orientation, in the order of the generated set's orientations.
for pair in Dragonfly_by_Bolly:1 sunset_by_Aitzol_Berasategi:6 seeding_by_Clements_Engelhardt:8 \
            picosdeeuropa_by_Aitzol_Berasategi:3 Kleiber_by_Lukas_Baubkus:6; do
  name="${pair%%:*}"; orientation="${pair##*:}"
  dest="$out/real-$name-o$orientation.jpg"
  vips jpegsave "$src/$name.jpg" "$dest" --Q 92 --strip --subsample-mode "${REAL_PHOTOS_SUBSAMPLE:-on}"
  exiftool -q -overwrite_original -n -Orientation="$orientation" -Make=Apple -Model="iPhone 13" \
    -SerialNumber=F2LXK0TESTQ1 -GPSLatitude=51.8787 -GPSLatitudeRef=N -GPSLongitude=0.4200 \
    -GPSLongitudeRef=W -DateTimeOriginal="2026:11:30 10:15:00" "$dest"
  echo "$dest $(vipsheader "$dest" | cut -d: -f2 | cut -d' ' -f2) $(stat -c %s "$dest") bytes"
done
