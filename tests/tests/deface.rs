//! Issue 19's acceptance (the Clean Recognizable Visual Features Option: defacing), checked by an
//! oracle that shares nothing with the engine: `tests/deface/check.py` takes dcm2niix's volume of
//! each original series, pydeface 2.1.0's face region carried by an ANTsPy Affine registration,
//! nilearn's MNI 2009c brain mask put on that template once and carried by the same fit (on the
//! generated heads both are carried by the known affine instead), and OpenCV's Haar face detector
//! on renderings of the skin; our export must have the face region's core zeroed, no brain voxel
//! changed, nothing else changed, its DICOM equal to its NIfTI, and no face found where the
//! original had one. Heads: the two real 3D T1s of ../shared/dcm_qa/xa30 and
//! `tests/deface/make_heads.py`'s tilted, cropped 1 mm T1 and head CT with its table.
//!
//! `the_deface_oracle_bites` runs the check on a stand-in defacer (zeroing the oracle's own region)
//! and on each break of it, on the first real head. Registrations are single-threaded and seeded
//! (reproducible) and cached for the process: the two tests pay for each head once. Python with
//! ANTsPy, nibabel and OpenCV: `DEFACE_PYTHON` (make test sets it from target/ci/peers.env), else
//! target/ci/deface-venv/bin/python as `.ci/toolchain.sh peers` makes it; dcm2niix: `DCM2NIIX`,
//! else target/ci/venv/bin/dcm2niix.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use capture_tests::oracle::{self, run};
use capture_tests::{cli, fixtures};

fn tool(var: &str, venv_path: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let path = fixtures::workspace_root().join(venv_path);
    assert!(path.is_file(), "no {}: run .ci/toolchain.sh peers (or set {var})", path.display());
    path
}

fn script(name: &str) -> Command {
    let mut cmd = Command::new(tool("DEFACE_PYTHON", "target/ci/deface-venv/bin/python"));
    cmd.arg(fixtures::workspace_root().join("tests/deface").join(name));
    cmd.env("PYTHONPATH", fixtures::pydicom_path());
    cmd.env("DCM2NIIX", tool("DCM2NIIX", "target/ci/venv/bin/dcm2niix"));
    cmd
}

/// The oracle's working folder, shared by the tests of one process: its cache holds each head's
/// registrations, computed once.
fn work() -> PathBuf {
    static WORK: OnceLock<PathBuf> = OnceLock::new();
    WORK.get_or_init(|| oracle::fresh_dir("deface", "work")).clone()
}

/// The heads: the two real 3D T1s, then the generated ones (written once per test process).
fn heads() -> Vec<PathBuf> {
    static HEADS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    HEADS
        .get_or_init(|| {
            let qa = fixtures::workspace_root().join("../shared/dcm_qa/xa30/In");
            let generated = oracle::fresh_dir("deface", "heads");
            let mut cmd = script("make_heads.py");
            cmd.arg(&generated);
            let (ok, text) = run(cmd);
            assert!(ok, "make_heads.py failed:\n{text}");
            vec![
                qa.join("5_anat-T1w_acq-tfl"),
                qa.join("6_anat-T1w_acq-tfl"),
                generated.join("t1_sag_tilted"),
                generated.join("ct_head_axial"),
            ]
        })
        .clone()
}

/// `capture export --option clean-visual-features --format both` of one series, unzipped.
fn export(series: &std::path::Path) -> PathBuf {
    let name = series.file_name().unwrap().to_string_lossy().to_string();
    let dir = oracle::fresh_dir("deface", &format!("export-{name}"));
    let secret = dir.join("secret.txt");
    std::fs::write(&secret, "deface oracle\n").unwrap();
    let zip = dir.join("out.zip");
    let mut cmd = Command::new(cli::binary());
    cmd.args(["export", "--option", "clean-visual-features", "--format", "both", "--export-date", "20260101"])
        .arg("--secret-file")
        .arg(&secret)
        .arg("--out")
        .arg(&zip)
        .arg(series);
    let (ok, text) = run(cmd);
    assert!(ok, "capture export --option clean-visual-features failed on {name}:\n{text}");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).expect("the export is a zip");
    let unzipped = dir.join("unzipped");
    archive.extract(&unzipped).unwrap();
    unzipped
}

#[test]
fn clean_visual_features_passes_the_deface_oracle() {
    let mut cmd = script("check.py");
    cmd.arg(work());
    for series in heads() {
        let unzipped = export(&series);
        cmd.arg(&series).arg(unzipped);
    }
    let (ok, text) = run(cmd);
    eprintln!("{text}");
    assert!(ok, "the defaced export fails the deface oracle (see the FAIL lines above)");
}

#[test]
fn the_deface_oracle_bites() {
    // One real head with every break: the checks are the same on the others (they are all run by
    // the test above), and each stand-in costs a full check.
    let mut cmd = script("check.py");
    cmd.arg("--self-test").arg(work()).arg(&heads()[0]);
    let (ok, text) = run(cmd);
    eprintln!("{text}");
    assert!(ok, "the deface oracle does not catch a broken defacing, or finds no face on an original (see above)");
}
