//! Layout settings (issue 7, point 3): the optional `.ready` marker, written last in each
//! daily folder, and the optional yearly level `<YYYY>/<YYYYMMDD>`, through the CLI.

use std::path::PathBuf;

use capture_tests::cli;

const DATE: &str = "20261124";
const DICOM: &[&str] = &["CT_small.dcm", "MR_small.dcm", "liver_1frame.dcm"];

/// pydicom files and one EHR table, staged in a fresh folder.
fn inputs(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files = cli::stage_inputs(dir, DICOM);
    let table = dir.join("visits.csv");
    std::fs::write(&table, "PatientID,score\n1CT1,3\nABC,4\n").unwrap();
    files.push(table.canonicalize().unwrap());
    files
}

fn names(zip: &[u8]) -> Vec<String> {
    capture_tests::scan::entries(zip).into_iter().map(|(name, _)| name).collect()
}

/// The daily folder of an entry: its root and the date levels.
fn daily(name: &str, levels: usize) -> String {
    name.split('/').take(1 + levels).collect::<Vec<_>>().join("/")
}

#[test]
fn ready_marker_comes_last_in_each_daily_folder_and_year_folder_adds_a_level() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path());
    let extra = ["--format", "both", "--ready-marker", "--year-folder"];
    let zip = cli::export(&files, DATE, &extra).zip;
    let entries = names(&zip);

    // Every entry sits under <root>/2026/20261124/.
    for name in &entries {
        let parts: Vec<&str> = name.split('/').collect();
        assert!(["DICOM", "NIFTI", "EHR"].contains(&parts[0]), "{name}");
        assert_eq!((parts[1], parts[2]), ("2026", DATE), "{name} is not under <root>/2026/{DATE}/");
    }
    // Each daily folder: one contiguous run of entries, ending with its .ready (empty).
    let mut folders: Vec<String> = Vec::new();
    for name in &entries {
        let folder = daily(name, 2);
        if folders.last() != Some(&folder) {
            assert!(!folders.contains(&folder), "{folder} is split in the zip: {entries:#?}");
            folders.push(folder);
        }
    }
    assert_eq!(folders, ["DICOM/2026/20261124", "EHR/2026/20261124", "NIFTI/2026/20261124"], "{entries:#?}");
    for folder in &folders {
        let run: Vec<&String> = entries.iter().filter(|n| n.starts_with(&format!("{folder}/"))).collect();
        assert!(run.len() >= 2, "{folder} has no entry besides its marker");
        assert_eq!(run.last().unwrap().as_str(), format!("{folder}/.ready"), "{folder}: marker not last");
        assert_eq!(run.iter().filter(|n| n.ends_with("/.ready")).count(), 1);
    }
    let markers: Vec<_> =
        capture_tests::scan::entries(&zip).into_iter().filter(|(n, _)| n.ends_with(".ready")).collect();
    assert!(markers.iter().all(|(_, data)| data.is_empty()));

    // Deterministic: the same zip with the inputs in another order.
    let mut reversed = files.clone();
    reversed.reverse();
    assert!(cli::export(&reversed, DATE, &extra).zip == zip, "the zip depends on the order of inputs");

    // Without the settings: no marker, no yearly level, the same files.
    let plain = names(&cli::export(&files, DATE, &["--format", "both"]).zip);
    let expected: Vec<String> = entries
        .iter()
        .filter(|n| !n.ends_with("/.ready"))
        .map(|n| n.replacen("/2026/", "/", 1))
        .collect();
    assert_eq!(plain, expected);

    // Each setting alone.
    let ready_only = names(&cli::export(&files, DATE, &["--ready-marker"]).zip);
    assert_eq!(ready_only.last().map(String::as_str), Some("EHR/20261124/.ready"), "{ready_only:#?}");
    assert!(ready_only.contains(&"DICOM/20261124/.ready".to_string()));
    let year_only = names(&cli::export(&files, DATE, &["--year-folder"]).zip);
    assert!(year_only.iter().all(|n| n.split('/').nth(1) == Some("2026") && !n.ends_with(".ready")), "{year_only:#?}");
}
