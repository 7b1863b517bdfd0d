# Build and test entry points. Scripts live in .ci/ ; logs and tool state in target/ci/.
# Env: NATIVE_CARGO (native cargo, default cargo), PORT (for serve, default 8080),
#      CAPTURE_WASM_ROUTE=rustup|debian (force the wasm32 toolchain route),
#      CHROMEDRIVER / CHROME (browser binaries; found on PATH or installed with apt otherwise),
#      WASM_OPT=/path/to/wasm-opt (opt-in; must be a recent binaryen), WASM_RUSTFLAGS (wasm build only).
SHELL := /usr/bin/env bash
NATIVE_CARGO ?= cargo
export NATIVE_CARGO

.PHONY: all toolchain wasm dist build serve test test-native test-wasm test-e2e test-big bench fuzz clean

# all: same as dist.
all: dist

# toolchain: install/check the wasm32 toolchain, wasm-bindgen-cli (Cargo.lock's version), Chromium + chromedriver.
toolchain:
	@.ci/toolchain.sh wasm browser

# wasm: build crate/web (`capture-web`) for wasm32 and generate www/pkg/ (capture.js, capture_bg.wasm, capture_wasm.js).
wasm:
	@.ci/build-wasm.sh

# dist: the deployable static folder dist/ = www/ + generated pkg/ (minus capture_bg.wasm: the page loads capture_wasm.js).
dist: wasm
	@rm -rf dist.tmp && mkdir dist.tmp && cp -R www/. dist.tmp/ && rm -f dist.tmp/pkg/capture_bg.wasm \
	  && rm -rf dist && mv dist.tmp dist

# build: same as dist.
build: dist

# serve: build dist/ and serve it with the CSP headers on 127.0.0.1:$${PORT:-8080} (prints the URL; Ctrl-C stops).
serve: dist
	@$(NATIVE_CARGO) run --release -q -p webdriver --bin serve -- --dir dist --port $${PORT:-8080}

# test: all tiers (native, wasm in headless Chromium, end-to-end webdriver) with a count per tier.
test:
	@.ci/test.sh native wasm e2e

# test-native: `cargo test` on the default workspace members (crate + tests).
test-native:
	@.ci/test.sh native

# test-wasm: the wasm binding's (crate/web) wasm_bindgen_test tests in headless Chromium.
test-wasm:
	@.ci/test.sh wasm

# test-e2e: build dist/ and run the webdriver crate's end-to-end tests against it.
test-e2e:
	@.ci/test.sh e2e

# test-big: the big-study acceptance test (≥ 6,000 files, ≥ 5 GiB through the page in headless Chromium,
#           unzip -t, peak memory of the browser's processes from /proc); ~N min, ~20 GB of free disk.
test-big:
	@.ci/test.sh big

# bench: this project (CLI and page) against its peers on two generated studies; prints the table
# and writes target/bench/results.md (BENCH_QUICK=1: small studies, one run). See webdriver/bench/.
bench:
	@webdriver/bench/run.sh

# fuzz: each cargo-fuzz target of crate/core/fuzz for FUZZ_SECONDS (default 60) on seeds from pydicom's
#       files (crate/core/fuzz/seed.sh); needs rustup's nightly and cargo-fuzz (installed when missing).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= dicom_export table_export nifti_export zip_input pixel_clean
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	@[[ -f target/fixtures/pydicom/test_files/CT_small.dcm ]] || $(NATIVE_CARGO) test -q -p capture-tests --test hostile truncated_at_every_tag_boundary
	@crate/core/fuzz/seed.sh
	@cd crate/core/fuzz && for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
	  cargo +nightly fuzz run $$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 || exit 1; \
	done

# clean: remove build outputs (target/, dist/, www/pkg/).
clean:
	rm -rf target dist dist.tmp www/pkg
