#!/usr/bin/env bash
# Vendors the NHS.UK design system's built CSS and JavaScript (nhsuk-frontend, npm registry) into
# static/vendor/nhsuk-frontend/, pinned to one version. The service embeds these files at build
# time (src/web/assets.rs), so a deployment needs no network and no Node.
#   scripts/refresh-nhsuk-frontend.sh [VERSION]    (default: the version in VERSION)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=static/vendor/nhsuk-frontend
version="${1:-$(cat "$dest/VERSION" 2>/dev/null || echo 10.6.1)}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "nhsuk-frontend@$version" >/dev/null && tar xzf "nhsuk-frontend-$version.tgz")
pkg="$work/package"
rm -rf "$dest"
mkdir -p "$dest/assets/images"
cp "$pkg/dist/nhsuk/nhsuk-frontend.min.css" "$pkg/dist/nhsuk/nhsuk-frontend.min.js" "$dest/"
# Only the icons the stylesheet draws (src/web/assets.rs serves each by name; its test checks
# every url() of the stylesheet is served).
for icon in $(grep -o 'url(/assets/images/[^)]*)' "$pkg/dist/nhsuk/nhsuk-frontend.min.css" | sed 's#url(/assets/images/##; s#)##' | sort -u); do
  cp "$pkg/dist/nhsuk/assets/images/$icon" "$dest/assets/images/"
done
echo "$version" > "$dest/VERSION"
sed -n '/^## Licence/,$p' "$pkg/README.md" > "$dest/LICENCE.md"
# Source maps point at files we do not ship.
sed -i 's#/\*\# sourceMappingURL=[^*]*\*/##; s#//\# sourceMappingURL=.*$##' "$dest/nhsuk-frontend.min.css" "$dest/nhsuk-frontend.min.js"
echo "nhsuk-frontend $version vendored in $dest ($(ls "$dest/assets/images" | wc -l) icons)"
