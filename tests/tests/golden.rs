//! Golden exports: a small generated corpus exported as DICOM, NIfTI, both, with tables, and
//! with ultrasound cleaned of its burned-in text (Clean Pixel Data), and with a head scan's face
//! removed (Clean Recognizable Visual Features).
//! The zip's SHA-256, its sorted listing (each entry's SHA-256 and size) and the report are
//! compared with `tests/golden/`; a refactoring must leave every byte as it was.
//! `GOLDEN_UPDATE=1 cargo test -p capture-tests --test golden` rewrites them (review the diff).

use std::path::{Path, PathBuf};
use std::process::Command;

use capture_tests::{cli, fixtures, head, series, ultrasound};
use sha2::{Digest, Sha256};

const DATE: &str = "20261124";

/// A table of the generated patient: an ID that links, a birth date, a visit date and a note.
const TABLE: &str = "PatientID;Birth date;Visit date;EDSS;Comment\r\n\
PIDNIFTI0042;04.07.1961;17.03.2019;3,5;seen by Dr Planted\r\n\
PX-000777;01.01.1980;02.02.2020;2;\r\n";

/// What the corpus holds besides the generated series.
#[derive(Clone, Copy, PartialEq)]
enum Extra {
    None,
    /// A table of the generated patient.
    Table,
    /// Two ultrasound cines with burned-in text (RGB and grey, 3 frames each).
    Ultrasound,
    /// A generated 2 mm 3D T1 head scan (`head::Head::t1_2mm`).
    Head,
}

/// The corpus under `dir`, as relative paths: every generated NIfTI series, one file twice,
/// a text file that is not DICOM, and the extra.
fn stage(dir: &Path, extra: Extra) -> Vec<PathBuf> {
    let _ = std::fs::remove_dir_all(dir);
    let mut inputs = Vec::new();
    for (i, spec) in series::specs().iter().enumerate() {
        let folder = PathBuf::from(format!("series{i:02}"));
        series::write(spec, i, &dir.join(&folder));
        inputs.push(folder);
    }
    let first = std::fs::read_dir(dir.join("series00")).unwrap().map(|e| e.unwrap().path()).min().unwrap();
    std::fs::copy(&first, dir.join("copy.dcm")).unwrap();
    std::fs::write(dir.join("notes.txt"), "Not a DICOM file.\n").unwrap();
    inputs.extend(["copy.dcm", "notes.txt"].map(PathBuf::from));
    if extra == Extra::Table {
        std::fs::write(dir.join("visits.csv"), TABLE).unwrap();
        inputs.push("visits.csv".into());
    }
    if extra == Extra::Ultrasound {
        for (k, rgb) in [(1, true), (2, false)] {
            let name = format!("us{k}.dcm");
            ultrasound::Cine { series: k, ..ultrasound::Cine::typical(3, rgb) }.write(&dir.join(&name));
            inputs.push(name.into());
        }
    }
    if extra == Extra::Head {
        head::Head::t1_2mm().write(&dir.join("head"), 90);
        inputs.push("head".into());
    }
    inputs
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The zip's digest, then one line per entry in name order: digest, size, name.
fn listing(zip: &[u8]) -> String {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("the export is a zip");
    let mut lines = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        lines.push(format!("{}  {:>9}  {}", hex(&bytes), bytes.len(), entry.name().expect("UTF-8 entry name")));
    }
    lines.sort_by(|a, b| a[77..].cmp(&b[77..]));
    format!("zip {}  {} bytes\n{}\n", hex(zip), zip.len(), lines.join("\n"))
}

/// Runs the CLI in the corpus folder so that the report names inputs by relative paths.
fn export(case: &str, args: &[&str], extra: Extra) -> (String, String) {
    let dir = fixtures::workspace_root().join("target/golden").join(case);
    let inputs = stage(&dir.join("in"), extra);
    std::fs::write(dir.join("secret.txt"), format!("{}\n", cli::PASSPHRASE)).unwrap();
    let output = Command::new(cli::binary())
        .current_dir(dir.join("in"))
        .args(["export", "--out", "../out.zip", "--report", "../report.json", "--secret-file", "../secret.txt"])
        .args(["--export-date", DATE])
        .args(args)
        .args(&inputs)
        .output()
        .expect("run capture");
    assert!(output.status.success(), "capture failed: {}", String::from_utf8_lossy(&output.stderr));
    let zip = std::fs::read(dir.join("out.zip")).unwrap();
    let report = std::fs::read_to_string(dir.join("report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&report).expect("report is JSON");
    (listing(&zip), serde_json::to_string_pretty(&report).unwrap() + "\n")
}

fn check(case: &str, args: &[&str], extra: Extra) {
    let (listing, report) = export(case, args, extra);
    let golden = fixtures::workspace_root().join("tests/golden");
    let files = [(format!("{case}.listing.txt"), listing), (format!("{case}.report.json"), report)];
    if std::env::var_os("GOLDEN_UPDATE").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(&golden).unwrap();
        for (name, text) in &files {
            std::fs::write(golden.join(name), text).unwrap();
        }
        return;
    }
    for (name, text) in &files {
        let want = std::fs::read_to_string(golden.join(name))
            .unwrap_or_else(|e| panic!("tests/golden/{name}: {e} (GOLDEN_UPDATE=1 writes it)"));
        if &want != text {
            let got = golden.join(format!("{name}.got"));
            std::fs::write(&got, text).unwrap();
            panic!("{case}: the export differs from tests/golden/{name}; see diff tests/golden/{name} {}", got.display());
        }
    }
}

#[test]
fn dicom_export_is_unchanged() {
    check("dicom", &["--format", "dicom"], Extra::None);
}

#[test]
fn nifti_export_is_unchanged() {
    check("nifti", &["--format", "nifti"], Extra::None);
}

#[test]
fn both_formats_export_is_unchanged() {
    check("both", &["--format", "both", "--nifti-gz"], Extra::None);
}

#[test]
fn export_with_tables_is_unchanged() {
    check("tables", &["--format", "both", "--ready-marker", "--year-folder", "--dates", "shift"], Extra::Table);
}

#[test]
fn clean_pixel_data_export_is_unchanged() {
    check("pixels", &["--format", "dicom", "--option", "clean-pixel-data"], Extra::Ultrasound);
}

#[test]
fn clean_visual_features_export_is_unchanged() {
    check("faces", &["--format", "both", "--option", "clean-visual-features"], Extra::Head);
}
