#!/usr/bin/env bash
# The board's browser assets (services/board/static/vendor/), taken from npm at pinned versions.
#
#   tools/vendor_assets.sh               download each package with `npm pack`, check the tarball's
#                                        sha512 (npm's "integrity") and every file's sha256 against
#                                        the pins below, then copy the files into vendor/
#   tools/vendor_assets.sh --check       offline: the files in vendor/ are exactly the pinned ones,
#                                        byte for byte, and VENDOR.md names each version and sha256
#   tools/vendor_assets.sh --print-sums  download and print the tarballs' integrity and the files'
#                                        sha256 without checking or copying: for bumping a version
#
# To update a package: change its version in PACKAGES and FILES, run --print-sums, read the new
# release's changes and licence, paste the new sums here, run without options, update VENDOR.md,
# then run --check. Nothing is fetched at run time: the board serves these files itself.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/services/board/static/vendor"

# package@version  sha512 integrity of the npm tarball
PACKAGES=(
  "htmx.org@2.0.11 sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA=="
  "htmx-ext-sse@2.2.4 sha512-LJmxVhykyflBWgh5PvbRidcyuqMHlgfajmmzumvKctv9puvsufeH6OaejSMZTNTnEI8O2wXXn4ZZtBdpEMqmEQ=="
  "@utrecht/component-library-css@9.0.4 sha512-gVA7D6GfP9/+fzehkYLSBR+0UPUTA97PZmgvTYQE88lPQhHGMlUk8FjmCpLKRsRC9hAYd32JuF/KzG6fmBfjJA=="
  "@nl-design-system-unstable/voorbeeld-design-tokens@7.4.1 sha512-GNnapAn2mTIzXRcCvs0JMr4Bf9+ivUJ3zFBJLRT1SYpAYm2xPwptVxIM3k4WLJ0c59E9FfxsEBPJluGuAHUVvg=="
)

# package@version  file in the tarball  path under vendor/  sha256
FILES=(
  "htmx.org@2.0.11 package/dist/htmx.min.js htmx.org/htmx.min.js d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
  "htmx.org@2.0.11 package/LICENSE htmx.org/LICENSE d3d2456f76414f2456104660ebd65aff1c04cd7966b942bdabd63f3cdb316a38"
  "htmx-ext-sse@2.2.4 package/dist/sse.min.js htmx-ext-sse/sse.min.js 98a46496de0c3605fbffdce9167ba427bdd9553184f83f149c261891a92c0136"
  "htmx-ext-sse@2.2.4 package/LICENSE htmx-ext-sse/LICENSE a17d224ce9afdc21ec9491b76a2f5d036d19aa641ac4f85ca29c21f9f7e54fdf"
  "@utrecht/component-library-css@9.0.4 package/dist/index.css utrecht/component-library-css/index.css 3a7ecff64aed181c8bc779bb7006380f8937b192c87687f479f1e67b78f68c3d"
  "@utrecht/component-library-css@9.0.4 package/LICENSE.md utrecht/component-library-css/LICENSE.md 61989d1869678ff0c047d0835fdbe5284bed0cb139b87f2187e137da27126ba8"
  "@nl-design-system-unstable/voorbeeld-design-tokens@7.4.1 package/dist/theme.css nl-design-system-unstable/voorbeeld-design-tokens/theme.css bcadf878b3aad35131d6e092558c9d5c1b7a8d0c85c8765a5e0abd55e50c665f"
  "@nl-design-system-unstable/voorbeeld-design-tokens@7.4.1 package/LICENSE.md nl-design-system-unstable/voorbeeld-design-tokens/LICENSE.md 61989d1869678ff0c047d0835fdbe5284bed0cb139b87f2187e137da27126ba8"
)

die() {
  echo "vendor_assets: $*" >&2
  exit 1
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }
integrity() { echo "sha512-$(openssl dgst -sha512 -binary "$1" | base64 -w0)"; }

check() {
  local failed=0 line spec src rel sum listed vendored
  [ -d "$DEST" ] || die "$DEST is missing: run tools/vendor_assets.sh"
  for line in "${FILES[@]}"; do
    read -r spec src rel sum <<<"$line"
    if [ ! -f "$DEST/$rel" ]; then
      echo "missing: $rel ($spec)" >&2
      failed=1
    elif [ "$(sha256 "$DEST/$rel")" != "$sum" ]; then
      echo "changed: $rel is not $spec's $src (sha256 $sum)" >&2
      failed=1
    fi
    grep -q "$sum" "$DEST/VENDOR.md" 2>/dev/null || { echo "VENDOR.md lacks the sha256 of $rel" >&2; failed=1; }
    grep -qF "$spec" "$DEST/VENDOR.md" 2>/dev/null || { echo "VENDOR.md lacks $spec" >&2; failed=1; }
  done
  listed="$(for line in "${FILES[@]}"; do read -r _ _ rel _ <<<"$line"; echo "$rel"; done | sort)"
  vendored="$(cd "$DEST" && find . -type f ! -path ./VENDOR.md | sed 's|^\./||' | sort)"
  if [ "$listed" != "$vendored" ]; then
    echo "vendor/ holds files that are not pinned here (or lacks some):" >&2
    diff <(echo "$listed") <(echo "$vendored") >&2 || true
    failed=1
  fi
  [ "$failed" = 0 ] || die "vendor/ does not match the pins in tools/vendor_assets.sh"
  echo "vendor_assets: ${#FILES[@]} files match their pinned sha256"
}

fetch() {
  local mode="$1" line spec pinned tarball got src rel sum file
  command -v npm >/dev/null || die "npm is missing: apt-get install npm (it only runs \`npm pack\`)"
  command -v openssl >/dev/null || die "openssl is missing: apt-get install openssl"
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  for line in "${PACKAGES[@]}"; do
    read -r spec pinned <<<"$line"
    mkdir -p "$WORK/$spec"
    tarball="$(cd "$WORK/$spec" && npm pack --silent --ignore-scripts "$spec" | tail -n1)"
    got="$(integrity "$WORK/$spec/$tarball")"
    if [ "$mode" = print ]; then
      echo "\"$spec $got\""
    elif [ "$got" != "$pinned" ]; then
      die "$spec: tarball integrity $got, pinned $pinned"
    fi
    tar -xzf "$WORK/$spec/$tarball" -C "$WORK/$spec"
  done
  for line in "${FILES[@]}"; do
    read -r spec src rel sum <<<"$line"
    file="$WORK/$spec/$src"
    [ -f "$file" ] || die "$spec has no $src"
    if [ "$mode" = print ]; then
      echo "\"$spec $src $rel $(sha256 "$file")\""
    elif [ "$(sha256 "$file")" != "$sum" ]; then
      die "$spec: $src has sha256 $(sha256 "$file"), pinned $sum"
    fi
  done
  [ "$mode" = print ] && return
  for line in "${FILES[@]}"; do
    read -r spec src rel sum <<<"$line"
    mkdir -p "$(dirname "$DEST/$rel")"
    install -m 0644 "$WORK/$spec/$src" "$DEST/$rel"
  done
  echo "vendor_assets: copied ${#FILES[@]} files into ${DEST#"$ROOT"/}"
}

case "${1:-}" in
  "") fetch copy && check ;;
  --check) check ;;
  --print-sums) fetch print ;;
  *) sed -n '2,15p' "$0" >&2; exit 2 ;;
esac
