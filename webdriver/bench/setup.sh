#!/usr/bin/env bash
# Installs the peers `make bench` compares with, from their registries, under target/bench/:
#   PyPI (venv target/bench/venv): dicognito, dicom-anonymizer
#   npm  (target/bench/node):      dcmjs, @niivue/dcm2niix  -> copied into target/bench/www/vendor/
#   dcm2niix (PyPI wheel) through `.ci/toolchain.sh peers` (target/ci/venv)
#   Debian: GNU time (/usr/bin/time -v), zip
# Quick when everything is present. Versions are pinned for comparable runs.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
B=target/bench
mkdir -p "$B"
DICOGNITO_VERSION=0.19.0
DICOM_ANONYMIZER_VERSION=2.1.0
DCMJS_VERSION=0.52.2
NIIVUE_DCM2NIIX_VERSION=1.2.0
say() { echo "bench setup: $*" >&2; }

need_deb=()
[ -x /usr/bin/time ] || need_deb+=(time)
command -v zip >/dev/null || need_deb+=(zip)
command -v npm >/dev/null || need_deb+=(npm)
if [ ${#need_deb[@]} -gt 0 ]; then
  say "installing Debian packages: ${need_deb[*]}"
  sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$B/apt.log" 2>&1
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_deb[@]}" >>"$B/apt.log" 2>&1 \
    || { tail -n 30 "$B/apt.log" >&2; exit 1; }
fi

.ci/toolchain.sh peers          # dcm2niix (PyPI) -> target/ci/peers.env
.ci/toolchain.sh browser        # chromium + chromedriver -> target/ci/browser.env

venv="$B/venv"
stamp="$venv/.bench-$DICOGNITO_VERSION-$DICOM_ANONYMIZER_VERSION"
if [ ! -f "$stamp" ]; then
  say "installing dicognito $DICOGNITO_VERSION and dicom-anonymizer $DICOM_ANONYMIZER_VERSION (PyPI) into $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    "dicognito==$DICOGNITO_VERSION" "dicom-anonymizer==$DICOM_ANONYMIZER_VERSION" >"$B/pip.log" 2>&1 \
    || { cat "$B/pip.log" >&2; exit 1; }
  touch "$stamp"
fi

node="$B/node"
nstamp="$node/.bench-$DCMJS_VERSION-$NIIVUE_DCM2NIIX_VERSION"
if [ ! -f "$nstamp" ]; then
  say "installing dcmjs $DCMJS_VERSION and @niivue/dcm2niix $NIIVUE_DCM2NIIX_VERSION (npm) into $node"
  mkdir -p "$node"
  [ -f "$node/package.json" ] || echo '{"name":"capture-bench-peers","private":true}' >"$node/package.json"
  (cd "$node" && npm install --no-audit --no-fund --loglevel=error \
     "dcmjs@$DCMJS_VERSION" "@niivue/dcm2niix@$NIIVUE_DCM2NIIX_VERSION") >"$B/npm.log" 2>&1 \
    || { cat "$B/npm.log" >&2; exit 1; }
  touch "$nstamp"
fi

# The browser peers' bench page, with the libraries copied next to it (served from target/bench/www).
www="$B/www"
mkdir -p "$www/vendor/dcm2niix"
cp webdriver/bench/peers.html webdriver/bench/peers.js "$www/"
cp "$node/node_modules/dcmjs/build/dcmjs.min.js" "$www/vendor/"
cp "$node"/node_modules/@niivue/dcm2niix/dist/{index.js,worker.js,dcm2niix.js,dcm2niix.wasm} "$www/vendor/dcm2niix/"
