#!/usr/bin/env bash
# Build the `capture-web` package (crate/web) for the browser:
#   target .../wasm32-unknown-unknown/release/capture_web.wasm
#   -> www/pkg/capture.js + capture_bg.wasm   (wasm-bindgen --target web)
#   -> www/pkg/capture_wasm.js                (export default "<base64 of capture_bg.wasm>";
#                                              the page's CSP forbids fetching the .wasm)
# Runs wasm-opt -O only when asked (WASM_OPT=/path/to/wasm-opt, a recent binaryen: Debian 12's
# binaryen 108 produces a module that fails at init); the unoptimised file is kept if it fails.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
.ci/toolchain.sh wasm
# shellcheck disable=SC1091
. target/ci/wasm.env

OUT=www/pkg
log=target/ci/build-wasm.log
if ! .ci/wasm-cargo build --release -p capture-web --lib >"$log" 2>&1; then
  cat "$log" >&2
  echo "build-wasm: cargo build for wasm32 failed (route: $WASM_ROUTE)" >&2
  exit 1
fi
wasm="$WASM_TARGET_DIR/wasm32-unknown-unknown/release/capture_web.wasm"
[ -f "$wasm" ] || { echo "build-wasm: $wasm not produced (is crate-type cdylib set?)" >&2; exit 1; }

stamp=target/ci/pkg.stamp
if [ -f "$stamp" ] && [ -f "$OUT/capture_wasm.js" ] && [ "$OUT/capture_wasm.js" -nt "$wasm" ] &&
   [ "$(cat "$stamp")" = "$WASM_BINDGEN_VERSION ${WASM_OPT:-}" ]; then
  exit 0   # up to date
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/build-wasm.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$WASM_BINDGEN" --target web --no-typescript --out-dir "$tmp/pkg" --out-name capture "$wasm"
# A C function left undefined (see .ci/wasm-c-imports.txt) would become an import from a
# module the page cannot load ('env'): the glue may import nothing at all.
if grep -nE "^import |from ['\"]env['\"]" "$tmp/pkg/capture.js" >&2; then
  echo "build-wasm: the module imports the above; define it in crate/core/src/codec/libc_shim.rs" >&2
  exit 1
fi
bg="$tmp/pkg/capture_bg.wasm"
if [ -n "${WASM_OPT:-}" ]; then
  if "$WASM_OPT" -O --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
       --enable-mutable-globals --enable-reference-types --enable-multivalue "$bg" -o "$tmp/opt.wasm" >"$tmp/opt.log" 2>&1; then
    mv "$tmp/opt.wasm" "$bg"
  else
    echo "build-wasm: note: wasm-opt failed, keeping the unoptimised wasm:" >&2
    tail -n 5 "$tmp/opt.log" >&2
  fi
fi
{ printf 'export default "'; base64 <"$bg" | tr -d '\n'; printf '";\n'; } >"$tmp/pkg/capture_wasm.js"
printf '%s\n' "$WASM_BINDGEN_VERSION ${WASM_OPT:-}" >"$stamp.new"
rm -rf "$OUT"
mkdir -p "$(dirname "$OUT")"
mv "$tmp/pkg" "$OUT"
mv "$stamp.new" "$stamp"
