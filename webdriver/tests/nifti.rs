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
    let PageNifti { zip: page, page_time, scanned, .. } = convert_in_page(&inputs);
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
    let page = convert_in_page(&inputs).zip;
    let cli = cli::export(&inputs, &date, &["--format", "nifti"]);
    let nii = zip::ZipArchive::new(std::io::Cursor::new(&page))
        .unwrap()
        .file_names()
        .filter(|n| n.as_ref().is_ok_and(|n| n.ends_with(".nii")))
        .count();
    assert_eq!(nii, 2, "one NIfTI volume per file expected; CLI report: {}", cli.report);
    assert_same_zip(&page, &cli.zip, "NIfTI export of JPEG 2000 files");
}

/// Real scanner series from `../shared/dcm_qa`: GE and Philips diffusion (classic files),
/// Siemens XA30 enhanced diffusion and BOLD (a file per volume), Siemens mosaic EPI. The page's zip equals the
/// CLI's byte for byte, with `.bval`/`.bvec` beside the diffusion volumes and SliceTiming in
/// the BOLD sidecar; the review lists each volume with its dimensions, gradients or slice timing.
#[test]
fn page_converts_scanner_diffusion_and_fmri_like_the_cli() {
    let qa = capture_tests::fixtures::workspace_root().join("../shared/dcm_qa");
    assert!(qa.is_dir(), "{} is missing: ../shared/dcm_qa must be beside the repository", qa.display());
    let inputs: Vec<_> = ["ge/In/01_Ax_DWI_TENSOR_R2", "philips_dwi/In/cl", "xa30/In/10_DWI_dir80_PA", "xa30/In/7_func-bold_task-fa_run-1", "nih/In/20180918Si"]
        .iter()
        .flat_map(|dir| files_under(&qa.join(dir)))
        .collect();
    let date = today();
    let page = convert_in_page(&inputs);
    let cli = cli::export(&inputs, &date, &["--format", "nifti"]);
    assert_same_zip(&page.zip, &cli.zip, "NIfTI export of scanner diffusion and fMRI series");
    let names: Vec<String> = zip::ZipArchive::new(std::io::Cursor::new(&page.zip))
        .unwrap()
        .file_names()
        .map(|n| n.expect("entry name").into_owned())
        .collect();
    let count = |ext: &str| names.iter().filter(|n| n.ends_with(ext)).count();
    assert!(count(".bval") == 3 && count(".bvec") == 3, "a .bval and .bvec per diffusion series expected: {names:?}");
    assert!(page.volumes.iter().any(|v| v.contains("64 × 64 × 33") && v.contains("20 volumes")), "the review lists the BOLD volume: {:?}", page.volumes);
    assert_eq!(page.volumes.iter().filter(|v| v.contains("diffusion: ")).count(), 3, "the review says which volumes are diffusion: {:?}", page.volumes);
    assert!(page.volumes.iter().any(|v| v.contains("20 volumes") && v.contains("slice timing: known")), "{:?}", page.volumes);
    let bold = names.iter().find(|n| n.ends_with("_func-bold_task-fa_run-1.json") || (n.contains("/7_") && n.ends_with(".json")));
    let bold = bold.unwrap_or_else(|| panic!("no BOLD sidecar in {names:?}"));
    let sidecar = capture_tests::scan::entries(&page.zip).into_iter().find(|(n, _)| n == bold).expect("listed").1;
    let sidecar: serde_json::Value = serde_json::from_slice(&sidecar).expect("JSON sidecar");
    assert_eq!(sidecar["SliceTiming"].as_array().map(Vec::len), Some(33), "{sidecar}");
}

/// The files under `dir`, in name order (not the text notes beside the DICOM files).
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = walkdir(dir).into_iter().filter(|p| p.extension().is_none_or(|e| e != "txt")).collect();
    out.sort();
    out
}

fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walkdir(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// What the page gave for one NIfTI export.
struct PageNifti {
    zip: Vec<u8>,
    /// From Run to the download link.
    page_time: Duration,
    /// From Run to the review.
    scanned: Duration,
    /// The review's NIfTI lines, one per planned volume.
    volumes: Vec<String>,
}

/// Exports `inputs` as NIfTI through the page.
fn convert_in_page(inputs: &[std::path::PathBuf]) -> PageNifti {
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

    let limit = Duration::from_secs(300);
    let t0 = Instant::now();
    browser.run_to_review(limit);
    let volumes = s
        .execute("return [...document.querySelectorAll('td.nifti')].flatMap((td) => td.textContent.split('\\n'));", vec![])
        .unwrap();
    let volumes = volumes.as_array().map(|v| v.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default();
    let review = browser.confirm_review(limit);
    let scanned = t0.elapsed();
    let n = |k: &str| review[k].as_u64().unwrap_or(0);
    assert_eq!(n("images") + n("skipped") + n("quarantined"), inputs.len() as u64, "review counts: {review}");
    browser.wait_download_link(limit);
    let page_time = t0.elapsed();
    let zip = browser.download_zip(Duration::from_secs(120));
    server.stop();
    PageNifti { zip, page_time, scanned, volumes }
}
