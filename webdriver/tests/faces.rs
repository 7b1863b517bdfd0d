//! The Clean Recognizable Visual Features option on the page (issue 19): two real 3D T1 head
//! scans (Siemens XA30, `../shared/dcm_qa/xa30/In/5_*` and `6_*`) exported as DICOM and NIfTI
//! with the option. The review lists both head scans, each with a mid-sagittal and an axial
//! picture drawn and "Remove the face" ticked; with both ticked the page's zip equals the CLI's
//! (`--option clean-visual-features`) byte for byte, and every DICOM file records 113102. Run
//! again with one unticked: that scan's DICOM file is exported without 113102 (with its face),
//! the other's entries are the same as before.
//!
//! Needs the built page, chromedriver and Chromium like the acceptance test.

mod common;

use common::*;
use dicom_dictionary_std::tags;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

const SERIES: [&str; 2] = ["5_anat-T1w_acq-tfl", "6_anat-T1w_acq-tfl"];
const OPTION: &str = "clean-visual-features";
/// The Deidentification Method Code of the option (PS3.16 CID 7050).
const CODE: &str = "113102";

#[test]
fn page_removes_faces_from_head_scans_like_the_cli() {
    let inputs = head_scans();
    let (_server, browser, _url) = open_page();
    let s = &browser.session;
    browser.enter(&inputs);
    s.find("#format-both").unwrap().click().unwrap();
    s.find("#opt-clean-visual-features").unwrap().click().unwrap();

    // Both ticked: the CLI's zip.
    browser.run_to_review(Duration::from_secs(300));
    let shown = check_review(s);
    browser.confirm_review(Duration::from_secs(60));
    let both = browser.download_zip(Duration::from_secs(300));
    let cli = cli::export(&inputs, &today(), &["--format", "both", "--option", OPTION]);
    assert_same_zip(&both, &cli.zip, "head scans with their faces removed");
    let removed = dicom_by_series(&both);
    assert_eq!(removed.len(), 2, "one DICOM file per head scan: {:?}", removed.keys());
    for (number, (name, bytes)) in &removed {
        assert!(records_code(bytes), "series {number} ({name}): 113102 not recorded although its face was removed");
    }

    // The second head scan unticked: exported with its face, the first as before.
    browser.run_to_review(Duration::from_secs(300));
    assert_eq!(check_review(s), shown, "the second run's review lists other head scans");
    let unticked = s.find(".face-series:nth-child(2) .face-remove").unwrap();
    unticked.click().unwrap();
    assert_eq!(unticked.property("checked").unwrap(), serde_json::json!(false));
    let note = s.find(".face-series:nth-child(2) .face-note").unwrap().text().unwrap();
    assert!(note.contains("WITH its face"), "the unticked scan's note: {note:?}");
    browser.confirm_review(Duration::from_secs(60));
    let one = browser.download_zip(Duration::from_secs(300));
    let kept_number = series_number(&shown[1]);
    let kept = dicom_by_series(&one);
    assert_eq!(kept.keys().collect::<Vec<_>>(), removed.keys().collect::<Vec<_>>(), "the same head scans are exported");
    for (number, (name, bytes)) in &kept {
        let face_kept = *number == kept_number;
        assert_eq!(records_code(bytes), !face_kept, "series {number} ({name}): 113102 recorded or not as chosen");
        assert_eq!(bytes == &removed[number].1, !face_kept, "series {number} ({name}): changed only where unticked");
    }
    same_entries_but(&both, &one, &kept[&kept_number].0);
}

/// The two head scans' files, sorted.
fn head_scans() -> Vec<PathBuf> {
    let qa = capture_tests::fixtures::workspace_root().join("../shared/dcm_qa/xa30/In");
    assert!(qa.is_dir(), "{} is missing: ../shared/dcm_qa must be beside the repository", qa.display());
    let mut files: Vec<PathBuf> = SERIES
        .iter()
        .flat_map(|dir| std::fs::read_dir(qa.join(dir)).unwrap().map(|e| e.unwrap().path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 2, "the head scans' files: {files:?}");
    files
}

/// The review's head scans: two, each with its two pictures drawn, "Remove the face" ticked,
/// the voxels removed said; gives their titles (series number and description).
fn check_review(s: &webdriver::driver::Session) -> Vec<String> {
    let script = "const text = (e, css) => e.querySelector(css)?.textContent ?? null; \
        return [...document.querySelectorAll('#review-faces .face-series')].map((e) => ({ \
          title: text(e, 'h4'), error: text(e, '.face-error'), voxels: text(e, '.face-voxels'), \
          remove: e.querySelector('.face-remove')?.checked ?? null, \
          label: e.querySelector('.face-remove')?.labels[0]?.textContent ?? null, \
          pictures: [...e.querySelectorAll('.face-picture canvas')].map((c) => ({ \
            width: c.width, height: c.height, alt: c.getAttribute('aria-label'), role: c.getAttribute('role'), \
            greys: c.width && c.height ? new Set(Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)).size : 0 })) }));";
    let series = s.execute(script, vec![]).unwrap();
    let series = series.as_array().unwrap();
    let block_hidden = s.find("#review-faces-block").unwrap().property("hidden").unwrap();
    assert_eq!(block_hidden, serde_json::json!(false), "the head scans' section is hidden");
    assert_eq!(series.len(), 2, "two head scans on the review: {series:?}");
    for se in series {
        assert!(se["error"].is_null(), "the face of a head scan was not placed: {se}");
        assert_eq!(se["remove"], serde_json::json!(true), "\"Remove the face\" is ticked by default: {se}");
        assert_eq!(se["label"], serde_json::json!("Remove the face"), "{se}");
        assert!(se["voxels"].as_str().is_some_and(|v| v.contains("removed")), "the voxels removed: {se}");
        let pictures = se["pictures"].as_array().unwrap();
        assert_eq!(pictures.len(), 2, "a sagittal and an axial picture: {se}");
        for p in pictures {
            assert_eq!(p["role"], serde_json::json!("img"), "{p}");
            assert!(p["alt"].as_str().is_some_and(|a| a.contains("face region")), "a picture's text alternative: {p}");
            assert!(p["width"].as_u64() > Some(16) && p["height"].as_u64() > Some(16), "a picture is empty: {p} ({se})");
            assert!(p["greys"].as_u64() > Some(8), "a picture is not drawn (one flat colour): {p} ({se})");
        }
    }
    series.iter().map(|se| se["title"].as_str().unwrap_or_default().to_string()).collect()
}

/// The series number a review title starts with.
fn series_number(title: &str) -> u32 {
    title.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no series number in {title:?}"))
}

/// The zip's DICOM files by their SeriesNumber: (entry name, bytes).
fn dicom_by_series(zip: &[u8]) -> BTreeMap<u32, (String, Vec<u8>)> {
    let mut out = BTreeMap::new();
    for (name, bytes) in capture_tests::scan::entries(zip).into_iter().filter(|(n, _)| n.ends_with(".dcm")) {
        let obj = dicom_object::from_reader(std::io::Cursor::new(&bytes[128..])).unwrap_or_else(|e| panic!("{name}: {e}"));
        let number = obj.element(tags::SERIES_NUMBER).ok().and_then(|e| e.to_int::<u32>().ok());
        let number = number.unwrap_or_else(|| panic!("{name} has no SeriesNumber"));
        assert!(out.insert(number, (name.clone(), bytes)).is_none(), "two DICOM files of series {number}");
    }
    out
}

/// Whether a DICOM file's Deidentification Method Code Sequence holds 113102.
fn records_code(bytes: &[u8]) -> bool {
    let obj = dicom_object::from_reader(std::io::Cursor::new(&bytes[128..])).unwrap();
    let Ok(seq) = obj.element(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE) else { return false };
    seq.items().unwrap_or_default().iter().any(|item| {
        item.element(tags::CODE_VALUE).ok().and_then(|e| e.to_str().ok()).is_some_and(|v| v.trim() == CODE)
    })
}

/// The two zips hold the same entries, with the same bytes except the unticked scan's: its
/// DICOM file `dicom` and its NIfTI sidecar (whose DeidentificationMethod no longer names the
/// option); its NIfTI volume may differ too (its face is kept).
fn same_entries_but(both: &[u8], one: &[u8], dicom: &str) {
    let (a, b): (BTreeMap<_, _>, BTreeMap<_, _>) =
        (capture_tests::scan::entries(both).into_iter().collect(), capture_tests::scan::entries(one).into_iter().collect());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "the same entries");
    let changed: Vec<&String> = a.keys().filter(|k| a[*k] != b[*k]).collect();
    assert!(changed.iter().any(|k| *k == dicom), "the unticked scan's DICOM file did not change: {changed:?}");
    let count = |end: &str| changed.iter().filter(|k| k.ends_with(end)).count();
    assert_eq!((count(".dcm"), count(".json"), changed.len() - count(".nii")), (1, 1, 2), "only the unticked scan's files change: {changed:?}");
    assert!(count(".nii") <= 1, "only the unticked scan's volume may change: {changed:?}");
}
