//! The page converts a CT series of 600 slices of 512×512 (about 315 MB, `series::bench_specs`'s
//! `ct600`) to NIfTI in headless Chromium, and its zip equals the CLI's byte for byte (same
//! passphrase, same export date). Prints the page's time (Run → download link) beside the CLI's.
//!
//! `CAPTURE_NIFTI_SLICES=N` converts N slices instead of 600 (quicker, for developing).

mod common;

use common::*;
use std::time::{Duration, Instant};
use webdriver::server::Server;

use capture_tests::series;

#[test]
fn page_converts_600_slice_ct_like_the_cli() {
    let mut spec = series::bench_specs(false).remove(0);
    assert_eq!((spec.name, spec.rows, spec.columns), ("ct600", 512, 512));
    if let Some(n) = std::env::var("CAPTURE_NIFTI_SLICES").ok().and_then(|v| v.parse().ok()) {
        spec.slices = n;
    }
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let inputs = series::write(&spec, 0, &work.path().join("ct600"));
    let bytes: u64 = inputs.iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
    eprintln!(
        "generated {} slices, {:.1} MB in {:.1} s",
        inputs.len(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    let date = today();
    let (page, page_time, scanned) = convert_in_page(&inputs);
    let t1 = Instant::now();
    let cli = cli::export(&inputs, &date, &["--format", "nifti"]);
    let cli_time = t1.elapsed();
    eprintln!(
        "{} slices: page {:.1} s (review after {:.1} s), CLI {:.1} s; zip {:.1} MB",
        inputs.len(),
        page_time.as_secs_f64(),
        scanned.as_secs_f64(),
        cli_time.as_secs_f64(),
        page.len() as f64 / 1e6
    );
    let entries: Vec<String> = zip::ZipArchive::new(std::io::Cursor::new(&page))
        .unwrap()
        .file_names()
        .map(|n| n.expect("entry name").into_owned())
        .collect();
    let nii: Vec<&String> = entries.iter().filter(|n| n.ends_with(".nii")).collect();
    assert_eq!(nii.len(), 1, "one NIfTI volume expected; entries: {entries:?}\nCLI report: {}", cli.report);
    assert!(nii[0].starts_with("NIFTI/"), "{}", nii[0]);
    assert_same_zip(&page, &cli.zip, "NIfTI export of the CT series");
}

/// JPEG 2000 (reversible and irreversible, from pydicom's files) decodes in the page as in
/// the CLI: openjp2 runs on wasm32 with our C functions (crate/core/src/codec/libc_shim.rs).
#[test]
fn page_converts_jpeg2000_like_the_cli() {
    let inputs: Vec<_> = ["J2K_pixelrep_mismatch.dcm", "693_J2KI.dcm"]
        .iter()
        .map(|name| capture_tests::fixtures::pydicom_file(name).expect("pydicom's test files"))
        .collect();
    let date = today();
    let (page, _, _) = convert_in_page(&inputs);
    let cli = cli::export(&inputs, &date, &["--format", "nifti"]);
    let nii = zip::ZipArchive::new(std::io::Cursor::new(&page))
        .unwrap()
        .file_names()
        .filter(|n| n.as_ref().is_ok_and(|n| n.ends_with(".nii")))
        .count();
    assert_eq!(nii, 2, "one NIfTI volume per file expected; CLI report: {}", cli.report);
    assert_same_zip(&page, &cli.zip, "NIfTI export of JPEG 2000 files");
}

/// Exports `inputs` as NIfTI through the page; returns its zip, the time from Run to the
/// download link and the time to the review.
fn convert_in_page(inputs: &[std::path::PathBuf]) -> (Vec<u8>, Duration, Duration) {
    let dist = dist_dir();
    let mut server = Server::start(&dist, 0).expect("start the static server");
    let browser = Browser::start();
    let s = &browser.session;
    s.goto(&page_url(&server.url())).unwrap();
    browser.wait_enabled("#run", Duration::from_secs(60));
    s.find("#secret").unwrap().send_keys(PASSPHRASE).unwrap();
    s.find("#format-nifti").unwrap().click().unwrap();
    let checked = s
        .execute("return document.getElementById('format-nifti').checked;", vec![])
        .unwrap();
    assert_eq!(checked, serde_json::json!(true), "the NIfTI format radio is not selected");
    browser.select_files(inputs);

    let limit = Duration::from_secs(600);
    let t0 = Instant::now();
    s.find("#run").unwrap().click().unwrap();
    let review = browser.confirm_review(limit);
    let scanned = t0.elapsed();
    assert_eq!(review["images"].as_u64(), Some(inputs.len() as u64), "review counts: {review}");
    browser.wait_download_link(limit);
    let page_time = t0.elapsed();
    s.find("#download").unwrap().click().unwrap();
    let zip = browser.wait_downloaded_zip(Duration::from_secs(120));
    let page = std::fs::read(&zip).unwrap();
    server.stop();
    (page, page_time, scanned)
}
