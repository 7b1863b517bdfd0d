//! Issue 17's acceptance on real scanner data: every folder of `../shared/dcm_qa` (public
//! dcm2niix validation sets: GE, Siemens incl. XA30 enhanced, Philips classic and enhanced) is
//! converted by dcm2niix 1.0.20260724 and by `capture export --format nifti`, and
//! `tests/nifti_qa/check.py` compares them: every dcm2niix volume matched (voxels, affine,
//! file-name suffix), every listed BIDS field equal where dcm2niix writes it, every .bval/.bvec
//! equal, and no identifying key or value (read from the inputs with pydicom) in any sidecar.
//! `tests/nifti_qa/accepted.txt` names the differences kept on purpose, each with its reason.
//!
//! `the_dcm_qa_check_bites` runs the same check on a stand-in CLI that exports dcm2niix's own
//! outputs, clean (it must pass) and broken one way at a time (each must fail).

use std::path::PathBuf;
use std::process::Command;

use capture_tests::oracle::{self, run};
use capture_tests::{cli, fixtures};

fn dcm2niix() -> String {
    std::env::var("DCM2NIIX").expect("DCM2NIIX must name the dcm2niix binary (make test sets it from target/ci/peers.env)")
}

/// The validation data beside the repository, as CI has it.
fn dcm_qa() -> PathBuf {
    let path = fixtures::workspace_root().join("../shared/dcm_qa");
    assert!(path.join("nih/In").is_dir(), "{} is missing: ../shared/dcm_qa must be beside the repository", path.display());
    path
}

fn check() -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg(fixtures::workspace_root().join("tests/nifti_qa/check.py"));
    cmd.env("PYTHONPATH", fixtures::pydicom_path());
    cmd
}

fn work(name: &str) -> PathBuf {
    oracle::fresh_dir("nifti-qa", name)
}

#[test]
fn dcm_qa_converts_as_dcm2niix_does() {
    let mut cmd = check();
    cmd.arg(dcm2niix()).arg(cli::binary()).arg(dcm_qa()).arg(work("acceptance"));
    cmd.arg("--accepted").arg(fixtures::workspace_root().join("tests/nifti_qa/accepted.txt"));
    let (ok, text) = run(cmd);
    eprintln!("{text}");
    assert!(ok, "our NIfTI export differs from dcm2niix on dcm_qa (see the FAIL lines above)");
}

#[test]
fn the_dcm_qa_check_bites() {
    let mut cmd = check();
    cmd.arg("--self-test").arg(dcm2niix()).arg(dcm_qa()).arg(work("self-test"));
    let (ok, text) = run(cmd);
    eprintln!("{text}");
    assert!(ok, "the dcm_qa check does not catch a broken export (see above)");
}
