#!/usr/bin/env bash
# Ensure the tools the build and test tiers need, installing what is missing.
#
#   .ci/toolchain.sh [wasm] [browser]      (no argument = both)
#
#   wasm     a Rust toolchain able to build for wasm32-unknown-unknown, and
#            wasm-bindgen-cli at exactly the version of `wasm-bindgen` in Cargo.lock
#   browser  Chromium + chromedriver (for wasm-bindgen-test and the webdriver tier)
#
# Writes the results to target/ci/wasm.env and target/ci/browser.env (sourceable shell
# assignments) and prints nothing when everything is already present.
#
# Route choice for wasm32 (override with CAPTURE_WASM_ROUTE=rustup|debian):
#   1. rustup already has the wasm32-unknown-unknown target        -> rustup
#   2. Debian's rustc-web/cargo-web/rust-web-src/lld-19 installed  -> debian (-Zbuild-std)
#   3. static.rust-lang.org reachable: rustup target add (timeout) -> rustup
#   4. otherwise apt-get install rustc-web cargo-web rust-web-src lld-19 -> debian
# The rustup download hangs on machines that only reach package registries, hence the
# short reachability probe before trying it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT_DIR="$ROOT/target/ci"
mkdir -p "$OUT_DIR"

want_wasm=0 want_browser=0 want_peers=0
[ $# -eq 0 ] && set -- wasm browser
for a in "$@"; do
  case "$a" in
    wasm) want_wasm=1 ;;
    browser) want_browser=1 ;;
    peers) want_peers=1 ;;
    *) echo "toolchain.sh: unknown argument '$a' (expected: wasm, browser, peers)" >&2; exit 2 ;;
  esac
done

say() { echo "toolchain: $*" >&2; }
die() { echo "toolchain: ERROR: $*" >&2; exit 1; }

# ---------------------------------------------------------------- apt helpers
APT_UPDATED=0
have_deb() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
can_apt() {
  command -v apt-get >/dev/null 2>&1 || return 1
  [ "$(id -u)" = 0 ] && return 0
  command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
# apt_ensure PKG... : install the missing ones; returns 1 when they cannot be installed.
apt_ensure() {
  local missing=() p
  command -v dpkg-query >/dev/null 2>&1 || return 1
  for p in "$@"; do have_deb "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  can_apt || return 1
  say "installing Debian packages: ${missing[*]}"
  local log="$OUT_DIR/apt.log"
  if [ "$APT_UPDATED" = 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$log" 2>&1 \
      || { cat "$log" >&2; die "apt-get update failed"; }
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >>"$log" 2>&1 \
    || { tail -n 40 "$log" >&2; die "apt-get install ${missing[*]} failed"; }
}

env_lines=()
emit() { env_lines+=("$1=$(printf '%q' "$2")"); }

# ---------------------------------------------------------------- peer tools (tests compare with them)
# `toolchain.sh peers` (alone): dciodvfy (dicom3tools) and dcmdump (dcmtk) from Debian, and
# dcm2niix from its PyPI wheel (Debian's 2022 build gives wrong voxels on some inputs) in a
# venv under target/ci; Tesseract OCR (Debian's tesseract-ocr, English data), DejaVu Sans and numpy + Pillow
# in the same venv for the pixel-cleaning oracle (tests/pixels); writes target/ci/peers.env
# (DCM2NIIX, PIXELS_PYTHON, DEFACE_PYTHON: see below).
DCM2NIIX_VERSION=1.0.20260724
NUMPY_VERSION=2.2.6
PILLOW_VERSION=11.3.0
ANTSPYX_VERSION=0.6.3
NIBABEL_VERSION=5.4.2
OPENCV_VERSION=4.14.0.94   # 5.x ships no Haar cascades
DEFACE_NUMPY_VERSION=2.3.5
SCIPY_VERSION=1.15.3
PYDEFACE_VERSION=2.1.0
NILEARN_VERSION=0.14.1
if [ "$want_peers" = 1 ]; then
  command -v dciodvfy >/dev/null 2>&1 && command -v dcmdump >/dev/null 2>&1 \
    || apt_ensure dicom3tools dcmtk \
    || die "dciodvfy and dcmdump are missing: install Debian's dicom3tools and dcmtk"
  { command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx eng \
      && [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; } \
    || apt_ensure tesseract-ocr tesseract-ocr-eng fonts-dejavu-core \
    || die "Tesseract with English or DejaVu Sans is missing: install Debian's tesseract-ocr, tesseract-ocr-eng and fonts-dejavu-core"
  venv="$OUT_DIR/venv"
  # dcm2niix --version exits non-zero: read its text first (pipefail would see a failure).
  have_version=$("$venv/bin/dcm2niix" --version 2>&1 || true)
  if ! grep -q "$DCM2NIIX_VERSION" <<<"$have_version"; then
    say "installing dcm2niix $DCM2NIIX_VERSION (PyPI) into $venv"
    python3 -m venv "$venv" >/dev/null 2>&1 || { apt_ensure python3-venv && python3 -m venv "$venv"; } \
      || die "cannot create a Python venv in $venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "dcm2niix==$DCM2NIIX_VERSION" \
      >"$OUT_DIR/pip.log" 2>&1 || { cat "$OUT_DIR/pip.log" >&2; die "pip install dcm2niix failed"; }
  fi
  if ! "$venv/bin/python" -c "import numpy, PIL, sys
sys.exit(numpy.__version__ != '$NUMPY_VERSION' or PIL.__version__ != '$PILLOW_VERSION')" >/dev/null 2>&1; then
    say "installing numpy $NUMPY_VERSION and Pillow $PILLOW_VERSION (PyPI) into $venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: \
      "numpy==$NUMPY_VERSION" "pillow==$PILLOW_VERSION" >"$OUT_DIR/pip.log" 2>&1 \
      || { cat "$OUT_DIR/pip.log" >&2; die "pip install numpy pillow failed"; }
  fi
  # The defacing oracle (tests/deface) in a venv of its own (antspyx brings its own numpy):
  # ANTsPy registers pydeface's head template (MIT; its wheel's data files) and nilearn's MNI
  # ICBM 2009 grey + white matter (BSD-3 + MNI terms; data files only, never imported) to each
  # head, OpenCV's Haar cascade looks for faces on renderings.
  dvenv="$OUT_DIR/deface-venv"
  if ! "$dvenv/bin/python" -c "import ants, nibabel, cv2, scipy, importlib.metadata as m, sys
sys.exit([m.version(p) for p in ('antspyx', 'nibabel', 'opencv-python-headless', 'pydeface', 'nilearn')]
         != ['$ANTSPYX_VERSION', '$NIBABEL_VERSION', '$OPENCV_VERSION', '$PYDEFACE_VERSION', '$NILEARN_VERSION'])" >/dev/null 2>&1; then
    say "installing antspyx $ANTSPYX_VERSION, nibabel, OpenCV, pydeface's and nilearn's data (PyPI) into $dvenv"
    python3 -m venv "$dvenv" >/dev/null 2>&1 || { apt_ensure python3-venv && python3 -m venv "$dvenv"; } \
      || die "cannot create a Python venv in $dvenv"
    "$dvenv/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: \
      "antspyx==$ANTSPYX_VERSION" "nibabel==$NIBABEL_VERSION" "opencv-python-headless==$OPENCV_VERSION" \
      "numpy==$DEFACE_NUMPY_VERSION" "scipy==$SCIPY_VERSION" >"$OUT_DIR/pip-deface.log" 2>&1 \
      || { cat "$OUT_DIR/pip-deface.log" >&2; die "pip install antspyx nibabel opencv failed"; }
    # Only their data files are read: without their dependencies (nipype, scikit-learn, ...).
    "$dvenv/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: --no-deps \
      "pydeface==$PYDEFACE_VERSION" "nilearn==$NILEARN_VERSION" >>"$OUT_DIR/pip-deface.log" 2>&1 \
      || { cat "$OUT_DIR/pip-deface.log" >&2; die "pip install pydeface nilearn failed"; }
  fi
  { printf 'DCM2NIIX=%q\n' "$venv/bin/dcm2niix"; printf 'PIXELS_PYTHON=%q\n' "$venv/bin/python"
    printf 'DEFACE_PYTHON=%q\n' "$dvenv/bin/python"; } >"$OUT_DIR/peers.env"
  exit 0
fi

# ---------------------------------------------------------------- wasm toolchain
DEBIAN_PKGS=(rustc-web cargo-web rust-web-src lld-19)
DEB_RUSTC=/usr/bin/rustc DEB_RUSTDOC=/usr/bin/rustdoc DEB_CARGO=/usr/bin/cargo
DEB_WASM_LD=/usr/lib/llvm-19/bin/wasm-ld
DEB_STD_SRC=/usr/lib/rustlib/src/rust/library

rustup_has_target() {
  command -v rustup >/dev/null 2>&1 &&
    rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown
}
debian_route_ready() {
  [ -x "$DEB_RUSTC" ] && [ -x "$DEB_CARGO" ] && [ -x "$DEB_WASM_LD" ] && [ -d "$DEB_STD_SRC/std" ] &&
    "$DEB_RUSTC" --version >/dev/null 2>&1
}
rust_dist_reachable() {
  command -v curl >/dev/null 2>&1 || return 1
  curl -sfI --max-time 5 https://static.rust-lang.org/dist/channel-rust-stable.toml.sha256 >/dev/null 2>&1
}
try_rustup_add() {
  command -v rustup >/dev/null 2>&1 || return 1
  say "rustup target add wasm32-unknown-unknown"
  timeout 90 rustup target add wasm32-unknown-unknown >"$OUT_DIR/rustup.log" 2>&1 && rustup_has_target
}
use_debian() {
  if ! debian_route_ready; then
    apt_ensure "${DEBIAN_PKGS[@]}" ||
      die "no wasm32 toolchain. Either run 'rustup target add wasm32-unknown-unknown' or install the Debian packages: apt-get install -y ${DEBIAN_PKGS[*]}"
    debian_route_ready || die "Debian packages ${DEBIAN_PKGS[*]} installed but $DEB_RUSTC/$DEB_WASM_LD/$DEB_STD_SRC missing"
  fi
  ROUTE=debian
}

# The cargo used for native work and `cargo install` (rustup's when present).
host_cargo() {
  if [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then echo "${CARGO_HOME:-$HOME/.cargo}/bin/cargo"
  elif command -v cargo >/dev/null 2>&1; then command -v cargo
  elif [ -x "$DEB_CARGO" ]; then echo "$DEB_CARGO"
  else return 1; fi
}

lock_version() { # lock_version CRATE -> version of that package in Cargo.lock
  awk -v n="$1" '
    /^\[\[package\]\]/ { name = "" }
    $1 == "name" { gsub(/"/, "", $3); name = $3 }
    $1 == "version" && name == n { gsub(/"/, "", $3); print $3; exit }
  ' "$ROOT/Cargo.lock"
}

ensure_wasm_bindgen() {
  [ -f "$ROOT/Cargo.lock" ] || die "Cargo.lock missing: run 'cargo generate-lockfile' first"
  local v; v=$(lock_version wasm-bindgen)
  [ -n "$v" ] || die "no wasm-bindgen package in Cargo.lock (is it a dependency of crate/ for wasm32?)"
  local bindir="${CARGO_HOME:-$HOME/.cargo}/bin"
  local wb="$bindir/wasm-bindgen" runner="$bindir/wasm-bindgen-test-runner"
  if ! { [ -x "$wb" ] && [ -x "$runner" ] && [ "$("$wb" --version 2>/dev/null)" = "wasm-bindgen $v" ]; }; then
    local cargo; cargo=$(host_cargo) || die "no cargo found to install wasm-bindgen-cli"
    local log="$OUT_DIR/wasm-bindgen-install.log"
    say "installing wasm-bindgen-cli $v (takes a few minutes)"
    # --locked first; its lock file can name a crate version the registry no longer offers
    # (seen: webpki-roots 1.0.11), so fall back to a fresh resolution.
    "$cargo" install wasm-bindgen-cli --version "=$v" --locked --force --root "${CARGO_HOME:-$HOME/.cargo}" >"$log" 2>&1 ||
      "$cargo" install wasm-bindgen-cli --version "=$v" --force --root "${CARGO_HOME:-$HOME/.cargo}" >>"$log" 2>&1 ||
      { tail -n 40 "$log" >&2; die "cargo install wasm-bindgen-cli $v failed (log: $log)"; }
    [ "$("$wb" --version 2>/dev/null)" = "wasm-bindgen $v" ] || die "wasm-bindgen $v not found at $wb after install"
  fi
  emit WASM_BINDGEN "$wb"
  emit WASM_BINDGEN_TEST_RUNNER "$runner"
  emit WASM_BINDGEN_VERSION "$v"
}

if [ "$want_wasm" = 1 ]; then
  ROUTE=
  case "${CAPTURE_WASM_ROUTE:-}" in
    rustup) rustup_has_target || try_rustup_add || die "CAPTURE_WASM_ROUTE=rustup but rustup has no wasm32-unknown-unknown target"; ROUTE=rustup ;;
    debian) use_debian ;;
    '')
      if rustup_has_target; then ROUTE=rustup
      elif debian_route_ready; then ROUTE=debian
      elif rust_dist_reachable && try_rustup_add; then ROUTE=rustup
      else use_debian
      fi ;;
    *) die "CAPTURE_WASM_ROUTE must be rustup or debian, not '$CAPTURE_WASM_ROUTE'" ;;
  esac
  emit WASM_ROUTE "$ROUTE"
  if [ "$ROUTE" = rustup ]; then
    emit WASM_CARGO "$(host_cargo)"
    emit WASM_TARGET_DIR "${CARGO_TARGET_DIR:-$ROOT/target}"
  else
    emit WASM_CARGO "$DEB_CARGO"
    emit WASM_RUSTC "$DEB_RUSTC"
    emit WASM_RUSTDOC "$DEB_RUSTDOC"
    emit WASM_LINKER "$DEB_WASM_LD"
    emit WASM_TARGET_DIR "$ROOT/target/wasm-debian"
  fi
  ensure_wasm_bindgen
  # Optional size optimiser, opt-in only: WASM_OPT=/path/to/wasm-opt. Not taken from PATH:
  # Debian 12's binaryen 108 breaks wasm-bindgen 0.2.130's externref table
  # ("WebAssembly.Table.set(): Argument 1 is invalid for table" at init).
  case "${WASM_OPT:-}" in
    ''|0|no|off) emit WASM_OPT "" ;;
    *) [ -x "$WASM_OPT" ] || die "WASM_OPT=$WASM_OPT is not an executable"; emit WASM_OPT "$WASM_OPT" ;;
  esac
fi

# ---------------------------------------------------------------- browser
find_first() { local c; for c in "$@"; do command -v "$c" 2>/dev/null && return 0; done; return 1; }
if [ "$want_browser" = 1 ]; then
  driver=${CHROMEDRIVER:-} chrome=${CHROME:-${CHROME_BIN:-}}
  [ -n "$driver" ] || driver=$(find_first chromedriver) || true
  [ -n "$chrome" ] || chrome=$(find_first chromium chromium-browser google-chrome google-chrome-stable) || true
  if [ -z "$driver" ] || [ -z "$chrome" ]; then
    apt_ensure chromium chromium-driver ||
      die "Chromium and chromedriver are needed for the browser test tiers. Install them (Debian: apt-get install -y chromium chromium-driver), or set CHROMEDRIVER=/path/to/chromedriver and CHROME=/path/to/chrome"
    [ -n "$driver" ] || driver=$(find_first chromedriver) || die "chromedriver not found after install"
    [ -n "$chrome" ] || chrome=$(find_first chromium chromium-browser) || die "chromium not found after install"
  fi
  emit CHROMEDRIVER "$driver"
  emit CHROME "$chrome"
  # Capabilities for wasm-bindgen-test-runner (read through WASM_BINDGEN_TEST_WEBDRIVER_JSON).
  # The runner adds headless, no-sandbox, disable-dev-shm-usage itself; chromedriver gives
  # every session a fresh temporary profile. The rest stops Chromium calling outside hosts.
  wdjson="$OUT_DIR/webdriver.json"
  cat >"$wdjson.tmp" <<JSON
{
  "goog:chromeOptions": {
    "binary": "$chrome",
    "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-default-apps", "--disable-extensions", "--disable-dev-shm-usage"]
  }
}
JSON
  mv "$wdjson.tmp" "$wdjson"
  emit WASM_BINDGEN_TEST_WEBDRIVER_JSON "$wdjson"
fi

# ---------------------------------------------------------------- result
# One file per half, so that `toolchain.sh wasm` never leaves stale browser entries and vice versa.
write_env() { # write_env FILE
  printf '%s\n' "${env_lines[@]}" >"$1.tmp.$$" && mv "$1.tmp.$$" "$1"
}
if [ "$want_wasm" = 1 ] && [ "$want_browser" = 1 ]; then
  split=$(printf '%s\n' "${env_lines[@]}")
  env_lines=(); while IFS= read -r l; do case "$l" in CHROME*|WASM_BINDGEN_TEST_WEBDRIVER_JSON=*) ;; *) env_lines+=("$l") ;; esac; done <<<"$split"
  write_env "$OUT_DIR/wasm.env"
  env_lines=(); while IFS= read -r l; do case "$l" in CHROME*|WASM_BINDGEN_TEST_WEBDRIVER_JSON=*) env_lines+=("$l") ;; esac; done <<<"$split"
  write_env "$OUT_DIR/browser.env"
elif [ "$want_wasm" = 1 ]; then write_env "$OUT_DIR/wasm.env"
else write_env "$OUT_DIR/browser.env"
fi
