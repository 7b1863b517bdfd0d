//! The native `capture` command, as acceptance tests run it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::fixtures::workspace_root;

/// The passphrase the tests use, typed into the page's `#secret` and written to `--secret-file`.
pub const PASSPHRASE: &str = "correct horse battery staple 2026";

/// The `capture` binary: `CAPTURE_BIN` when set (make test builds it and sets it), else built
/// once per test process into `target/test-cli` (a separate target folder: a nested cargo
/// would wait for the outer one's lock on `target/`).
pub fn binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("CAPTURE_BIN").filter(|b| !b.is_empty()) {
            let bin = PathBuf::from(bin);
            assert!(bin.is_file(), "CAPTURE_BIN={} does not exist", bin.display());
            return bin;
        }
        let target = workspace_root().join("target/test-cli");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(workspace_root())
            .args(["build", "--release", "-q", "-p", "capture-cli", "--bin", "capture", "--target-dir"])
            .arg(&target)
            .status()
            .expect("run cargo build for the capture CLI");
        assert!(status.success(), "building the capture CLI failed ({status}); or set CAPTURE_BIN");
        target.join("release/capture")
    })
    .clone()
}

/// What one `capture export` produced.
pub struct Export {
    pub zip: Vec<u8>,
    pub report: String,
    pub stderr: String,
}

/// Runs `capture export` with the test passphrase, the given date and extra arguments.
pub fn export(inputs: &[PathBuf], date: &str, extra: &[&str]) -> Export {
    export_with_secret(inputs, date, extra, PASSPHRASE)
}

pub fn export_with_secret(inputs: &[PathBuf], date: &str, extra: &[&str], passphrase: &str) -> Export {
    let work = tempfile_dir();
    let secret = work.join("secret.txt");
    std::fs::write(&secret, format!("{passphrase}\n")).unwrap();
    let out = work.join("out.zip");
    let report = work.join("report.json");
    let bin = binary();
    let output = Command::new(&bin)
        .arg("export")
        .arg("--out")
        .arg(&out)
        .args(["--export-date", date, "--secret-file"])
        .arg(&secret)
        .arg("--report")
        .arg(&report)
        .args(extra)
        .args(inputs)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{} export failed ({}):\n{stderr}", bin.display(), output.status);
    let zip = std::fs::read(&out).unwrap_or_else(|e| panic!("the CLI wrote no zip at {}: {e}", out.display()));
    let report = std::fs::read_to_string(&report).expect("the CLI wrote its report");
    let _ = std::fs::remove_dir_all(&work);
    Export { zip, report, stderr }
}

/// A fresh folder under the system's temp dir (no extra crate for one folder).
fn tempfile_dir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("capture-cli-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Copies the named pydicom test files into `dir` and adds a non-DICOM `notes.txt`;
/// returns absolute paths, DICOM files first.
pub fn stage_inputs(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for name in names {
        let src = crate::fixtures::pydicom_file(name).unwrap_or_else(|e| panic!("test inputs: {e}"));
        let dst = dir.join(name);
        std::fs::copy(&src, &dst).expect("copy fixture");
        out.push(dst);
    }
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "Not a DICOM file.\nPatient John Doe called on Monday.\n").unwrap();
    out.push(notes);
    out.iter().map(|p| p.canonicalize().expect("absolute path")).collect()
}

/// Runs `capture export` like [`export`] and keeps its zip and report as `out.zip` and
/// `report.json` in `dir`, for tools that read files (the leak scanner).
pub fn export_into(dir: &Path, inputs: &[PathBuf], date: &str, extra: &[&str]) -> (PathBuf, PathBuf, String) {
    let export = export(inputs, date, extra);
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let (zip, report) = (dir.join("out.zip"), dir.join("report.json"));
    std::fs::write(&zip, &export.zip).unwrap();
    std::fs::write(&report, &export.report).unwrap();
    (zip, report, export.stderr)
}
