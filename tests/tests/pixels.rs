//! Issue 18's acceptance (the Clean Pixel Data Option), checked by an oracle that shares
//! nothing with the engine: `tests/pixels/make_set.py` writes ultrasound (grey, RGB, a 12-frame
//! cine, YBR JPEG, RLE), a secondary capture and CR/DX images with names, IDs, dates and places
//! burned into their pixels; `tests/pixels/check.py` exports them with
//! `capture export --option clean-pixel-data` and reads the result with pydicom, numpy and
//! Tesseract OCR: every file exported, no planted identifier readable, every pixel outside the
//! report's boxes unchanged, the header marked (BurnedInAnnotation NO, 113101).
//!
//! `the_pixel_oracle_bites` runs the same check on a stand-in CLI (blacking out the truth's boxes
//! itself): OCR must read the originals, the stand-in must pass, and each break must fail.
//! Python with numpy and Pillow: `PIXELS_PYTHON` (make test sets it from target/ci/peers.env),
//! else target/ci/venv/bin/python as `.ci/toolchain.sh peers` makes it.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use capture_tests::oracle::{self, run};
use capture_tests::{cli, fixtures};

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("PIXELS_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = fixtures::workspace_root().join("target/ci/venv/bin/python");
    assert!(venv.is_file(), "no Python with numpy and Pillow: run .ci/toolchain.sh peers (or set PIXELS_PYTHON)");
    venv
}

fn script(name: &str) -> Command {
    let mut cmd = Command::new(python());
    cmd.arg(fixtures::workspace_root().join("tests/pixels").join(name));
    cmd.env("PYTHONPATH", fixtures::pydicom_path());
    cmd
}

fn work(name: &str) -> PathBuf {
    oracle::fresh_dir("pixels", name)
}

/// The generated test set, written once per test process.
fn set() -> PathBuf {
    static SET: OnceLock<PathBuf> = OnceLock::new();
    SET.get_or_init(|| {
        let dir = work("set");
        let mut cmd = script("make_set.py");
        cmd.arg(&dir);
        let (ok, text) = run(cmd);
        assert!(ok, "make_set.py failed:\n{text}");
        dir
    })
    .clone()
}

#[test]
fn clean_pixel_data_passes_the_ocr_oracle() {
    let mut cmd = script("check.py");
    cmd.arg(cli::binary()).arg(set()).arg(work("export"));
    let (ok, text) = run(cmd);
    eprintln!("{text}");
    assert!(ok, "the cleaned export fails the pixel oracle (see the FAIL lines above)");
}

#[test]
fn the_pixel_oracle_bites() {
    let mut cmd = script("check.py");
    cmd.arg("--self-test").arg(set()).arg(work("self-test"));
    let (ok, text) = run(cmd);
    eprintln!("{text}");
    assert!(ok, "the pixel oracle does not catch a broken export, or OCR cannot read the originals (see above)");
}

#[test]
fn without_the_option_images_stay_held_back() {
    let mut cmd = script("check.py");
    cmd.arg("--without-option").arg(cli::binary()).arg(set()).arg(work("without"));
    let (ok, text) = run(cmd);
    eprintln!("{text}");
    assert!(ok, "without --option clean-pixel-data an image was exported (see above)");
}
