#!/usr/bin/env bash
# `make bench`: install the peers, build the page (dist/) and the release CLI, generate the two
# synthetic studies and measure everything side by side (webdriver/src/bin/bench.rs).
# Env: BENCH_QUICK=1 (small studies, one run), BENCH_REPS=N, BENCH_ONLY=tool,tool (names as in the table).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
NATIVE_CARGO=${NATIVE_CARGO:-cargo}
webdriver/bench/setup.sh
make --no-print-directory dist
# shellcheck disable=SC1091
. target/ci/browser.env
# shellcheck disable=SC1091
. target/ci/peers.env
"$NATIVE_CARGO" build --release -q -p capture-cli --bin capture
"$NATIVE_CARGO" build --release -q -p webdriver --features bench --bin bench
CHROMEDRIVER="$CHROMEDRIVER" CHROME="$CHROME" DCM2NIIX="$DCM2NIIX" \
  CAPTURE_BIN="$ROOT/target/release/capture" CAPTURE_DIST="$ROOT/dist" \
  target/release/bench
