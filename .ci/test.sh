#!/usr/bin/env bash
# Run the test tiers and print a count per tier.
#
#   .ci/test.sh [native] [wasm] [e2e]        (no argument = all three, in that order)
#
#   native  `cargo test` on the workspace's default members (crate + tests)
#   wasm    the capture crate's #[wasm_bindgen_test] tests, in headless Chromium through
#           wasm-bindgen-test-runner + chromedriver (each crate/web/tests/*.rs that uses
#           wasm_bindgen_test)
#   e2e     builds dist/ (make dist), then `cargo test --no-fail-fast -p webdriver -- --test-threads=1`
#           with CAPTURE_DIST, CHROMEDRIVER and CHROME set (every test file runs even after a failure)
#   big     (not in the default list: `make test-big`) the ignored big-study test
#           (webdriver/tests/big.rs: ≥ 6,000 files, ≥ 5 GiB through the page, memory sampled),
#           in release mode; needs unzip and ~20 GB of free disk
#
# Every tier runs even if an earlier one failed; the exit status is non-zero if any failed.
# Full logs: target/ci/test-<tier>.log. NATIVE_CARGO (default cargo) is the native cargo.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
native_cargo=${NATIVE_CARGO:-cargo}
mkdir -p target/ci
[ $# -eq 0 ] && set -- native wasm e2e

summary=() failed=0

# count LOG -> "P passed, F failed, I ignored" summed over libtest / wasm-bindgen-test result lines
count() {
  awk '/test result:/ {
         for (i = 1; i <= NF; i++) {
           if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1); if ($(i) ~ /^ignored/) g += $(i-1)
         }
       }
       END { printf "%d passed, %d failed, %d ignored", p, f, g }' "$1"
}

# tier NAME CMD... : run, log, report
tier() {
  local name=$1; shift
  local log="target/ci/test-$name.log" start=$SECONDS rc=0
  echo "== tier $name: $*" >&2
  "$@" >"$log" 2>&1 || rc=$?
  local counts; counts=$(count "$log")
  local line; line=$(printf '%-7s %s (%ds)' "$name" "$counts" $((SECONDS - start)))
  local skip; skip=$(sed -n 's/^SKIP: //p' "$log" | head -n 1)
  [ -n "$skip" ] && line="$line  skipped: $skip"
  if [ "$rc" != 0 ]; then
    failed=1
    grep -Ev '^\s+(Compiling|Downloaded|Downloading|Checking|Fresh) ' "$log" | tail -n 150 >&2
    # The machine's room when it failed: a full disk or memory shows here, not in the test.
    { echo "== disk and memory after the failure"; df -h "$ROOT" /tmp 2>&1; free -m 2>&1; } >&2 || true
    line="$line  FAILED (exit $rc; log: $log)"
  fi
  echo "$line" >&2
  summary+=("$line")
}

native_tier() {
  # The native tests compare with real peers: dciodvfy, dcmdump, dcm2niix, Tesseract.
  .ci/toolchain.sh peers
  # shellcheck disable=SC1091
  . target/ci/peers.env
  DCM2NIIX="$DCM2NIIX" PIXELS_PYTHON="$PIXELS_PYTHON" DEFACE_PYTHON="$DEFACE_PYTHON" "$native_cargo" test
}

wasm_tier() {
  local args=() f
  for f in crate/web/tests/*.rs; do
    [ -f "$f" ] && grep -qs 'wasm_bindgen_test' "$f" && args+=(--test "$(basename "$f" .rs)")
  done
  if [ ${#args[@]} -eq 0 ]; then
    echo "SKIP: no #[wasm_bindgen_test] under crate/web/tests"
    return 0
  fi
  .ci/toolchain.sh wasm browser
  .ci/wasm-cargo test -p capture-web "${args[@]}"
}

e2e_tier() {
  [ -f webdriver/Cargo.toml ] || { echo "SKIP: no webdriver/ crate"; return 0; }
  make --no-print-directory dist
  .ci/toolchain.sh browser
  # shellcheck disable=SC1091
  . target/ci/browser.env
  CAPTURE_DIST="$ROOT/dist" CHROMEDRIVER="$CHROMEDRIVER" CHROME="$CHROME" \
    "$native_cargo" test --no-fail-fast -p webdriver -- --test-threads=1
}

big_tier() {
  command -v unzip >/dev/null || { echo "the big-study test needs unzip (Debian: apt-get install -y unzip)"; return 1; }
  make --no-print-directory dist
  .ci/toolchain.sh browser
  # shellcheck disable=SC1091
  . target/ci/browser.env
  # Release: the test writes and checks 5 GiB; its figures are printed (--nocapture).
  CAPTURE_DIST="$ROOT/dist" CHROMEDRIVER="$CHROMEDRIVER" CHROME="$CHROME" \
    "$native_cargo" test --release -p webdriver --test big -- --ignored --nocapture
}

for t in "$@"; do
  case "$t" in
    native) tier native native_tier ;;
    wasm) tier wasm wasm_tier ;;
    e2e) tier e2e e2e_tier ;;
    big) tier big big_tier; grep '^big: ' target/ci/test-big.log >&2 || true ;;
    *) echo "test.sh: unknown tier '$t' (native, wasm, e2e, big)" >&2; exit 2 ;;
  esac
done

echo "== test summary" >&2
printf '%s\n' "${summary[@]}" >&2
# One closing line over all tiers, in the form CI logs are read for.
printf '%s\n' "${summary[@]}" | awk '{ for (i = 2; i <= NF; i++) {
    if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1); if ($(i) ~ /^ignored/) g += $(i-1) } }
  END { printf "total: %d passed, %d failed, %d skipped\n", p, f, g }'
exit "$failed"
