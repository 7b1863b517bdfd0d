//! Shared set-up for the end-to-end tests: the built page, a browser, downloads, the native CLI,
//! and checks on the exported zip.
//!
//! Environment:
//! - `CAPTURE_DIST`: the built page (default `<workspace>/dist`), must hold index.html;
//! - `CHROMEDRIVER` (default /usr/bin/chromedriver), `CHROME` (default /usr/bin/chromium);
//! - `CAPTURE_BIN`: the native `capture` CLI (default: the newer of `target/release/capture` and
//!   `target/debug/capture`; if neither exists it is built into `target/e2e-cli`);
//! - `CAPTURE_FIXTURES`: cache of pydicom's test files (default `<workspace>/target/fixtures/pydicom`).
#![allow(dead_code)]

use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};
use webdriver::driver::{chrome_path, chromedriver_path, ChromeDriver, Session};
use webdriver::fixtures::{pydicom_file, workspace_root};

/// The passphrase typed into `#secret` and written to the CLI's `--secret-file`.
pub const PASSPHRASE: &str = "correct horse battery staple 2026";

/// The built page folder; panics with a clear message if it is missing.
pub fn dist_dir() -> PathBuf {
    let dir = match std::env::var_os("CAPTURE_DIST") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => workspace_root().join("dist"),
    };
    assert!(
        dir.join("index.html").is_file(),
        "the built page is missing: {} has no index.html. Build it first (`make build`), \
         or point CAPTURE_DIST at the folder to serve.",
        dir.display()
    );
    dir
}

/// Today's local date as YYYYMMDD (the page's export date).
pub fn today() -> String {
    chrono::Local::now().format("%Y%m%d").to_string()
}

/// A headless Chromium driven through a chromedriver started for it; everything is torn down on
/// drop (session first, then chromedriver, then the temporary folders).
pub struct Browser {
    pub session: Session,
    pub driver: ChromeDriver,
    pub downloads: tempfile::TempDir,
    pub profile: tempfile::TempDir,
}

impl Browser {
    pub fn start() -> Browser {
        let driver = ChromeDriver::start(&chromedriver_path()).unwrap_or_else(|e| panic!("{e}"));
        let profile = tempfile::tempdir().expect("temp profile dir");
        let downloads = tempfile::tempdir().expect("temp download dir");
        let session = Session::new(&driver, &chrome_path(), profile.path(), downloads.path())
            .unwrap_or_else(|e| panic!("cannot start headless Chromium: {e}"));
        Browser { session, driver, downloads, profile }
    }

    /// Waits until the element is enabled (e.g. `#run` once the worker is ready).
    pub fn wait_enabled(&self, css: &str, timeout: Duration) {
        let s = &self.session;
        s.wait_for(&format!("{css} to be enabled"), timeout, || {
            Ok(s.find(css)?.is_enabled()?.then_some(()))
        })
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Waits until `#download` has a `blob:` href; returns it.
    pub fn wait_download_link(&self, timeout: Duration) -> String {
        let s = &self.session;
        s.wait_for("#download to get a blob: href", timeout, || {
            let href = s.find("#download")?.property("href")?;
            Ok(href.as_str().filter(|h| h.starts_with("blob:")).map(String::from))
        })
        .unwrap_or_else(|e| {
            let report = s.find("#report").and_then(|r| r.text()).unwrap_or_default();
            let logs = s.log("browser").unwrap_or_default();
            let requests = s.log("performance").map(|l| network_requests(&l)).unwrap_or_default();
            panic!("{e}\n#report: {report}\nnetwork requests: {requests:?}\nbrowser console: {logs:#?}")
        })
    }

    /// Waits for a finished `.zip` in the download folder (no `.crdownload` left, size stable).
    pub fn wait_downloaded_zip(&self, timeout: Duration) -> PathBuf {
        let dir = self.downloads.path();
        let deadline = Instant::now() + timeout;
        let mut last: Option<(PathBuf, u64)> = None;
        loop {
            let entries: Vec<PathBuf> = std::fs::read_dir(dir)
                .map(|rd| rd.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            let partial = entries.iter().any(|p| {
                p.extension().is_some_and(|e| e == "crdownload" || e == "tmp")
                    || p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(".com.google"))
            });
            let zip = entries.iter().find(|p| p.extension().is_some_and(|e| e == "zip"));
            match (partial, zip) {
                (false, Some(zip)) => {
                    let size = std::fs::metadata(zip).map(|m| m.len()).unwrap_or(0);
                    if size > 0 && last.as_ref() == Some(&(zip.clone(), size)) {
                        return zip.clone();
                    }
                    last = Some((zip.clone(), size));
                }
                _ => last = None,
            }
            assert!(
                Instant::now() < deadline,
                "no finished .zip download in {} after {timeout:?}; folder holds {entries:?}",
                dir.display()
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Network requests in the performance log since it was last read, except `blob:`/`data:`
    /// URLs: one line per request ("METHOD URL").
    pub fn network_requests(&self) -> Vec<String> {
        let entries = self
            .session
            .log("performance")
            .unwrap_or_else(|e| panic!("cannot read chromedriver's performance log: {e}"));
        network_requests(&entries)
    }
}

/// The requests (`Network.requestWillBeSent`, and WebSocket creations) in performance-log
/// entries, leaving out `blob:` and `data:` URLs.
pub fn network_requests(entries: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for entry in entries {
        let Some(text) = entry["message"].as_str() else { continue };
        let Ok(msg) = serde_json::from_str::<Value>(text) else { continue };
        let msg = &msg["message"];
        let (method, url) = match msg["method"].as_str() {
            Some("Network.requestWillBeSent") => (
                msg["params"]["request"]["method"].as_str().unwrap_or("?"),
                msg["params"]["request"]["url"].as_str().unwrap_or(""),
            ),
            Some("Network.webSocketCreated") => ("WEBSOCKET", msg["params"]["url"].as_str().unwrap_or("")),
            _ => continue,
        };
        if url.starts_with("blob:") || url.starts_with("data:") {
            continue;
        }
        out.push(format!("{method} {url}"));
    }
    out
}

/// Copies pydicom test files into `dir` (same names) and adds a non-DICOM `notes.txt`;
/// returns the absolute paths, DICOM files first.
pub fn stage_inputs(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for name in names {
        let src = pydicom_file(name).unwrap_or_else(|e| panic!("test inputs: {e}"));
        let dst = dir.join(name);
        std::fs::copy(&src, &dst).expect("copy fixture");
        out.push(dst);
    }
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "Not a DICOM file.\nPatient John Doe called on Monday.\n").unwrap();
    out.push(notes);
    out.iter().map(|p| p.canonicalize().expect("absolute path")).collect()
}

/// The native `capture` CLI (see module docs for how it is found).
pub fn capture_cli() -> PathBuf {
    if let Some(bin) = std::env::var_os("CAPTURE_BIN").filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        assert!(bin.is_file(), "CAPTURE_BIN={} does not exist", bin.display());
        return bin;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let newest = ["release", "debug"]
        .iter()
        .map(|p| target.join(p).join("capture"))
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max_by_key(|(t, _): &(SystemTime, PathBuf)| *t);
    if let Some((_, bin)) = newest {
        return bin;
    }
    // Nested cargo would wait for the outer one's lock on `target/`: build in a separate folder.
    let e2e_target = workspace_root().join("target/e2e-cli");
    let status = Command::new(env!("CARGO"))
        .current_dir(workspace_root())
        .args(["build", "--release", "-p", "capture", "--bin", "capture", "--target-dir"])
        .arg(&e2e_target)
        .status()
        .expect("run cargo build for the capture CLI");
    assert!(status.success(), "building the capture CLI failed ({status}); or set CAPTURE_BIN");
    e2e_target.join("release/capture")
}

/// Runs `capture export` on `inputs` with the test passphrase; returns the zip's bytes.
pub fn run_cli(inputs: &[PathBuf], date: &str) -> Vec<u8> {
    let work = tempfile::tempdir().unwrap();
    let secret = work.path().join("secret.txt");
    std::fs::write(&secret, format!("{PASSPHRASE}\n")).unwrap();
    let out = work.path().join("cli.zip");
    let report = work.path().join("cli-report.json");
    let bin = capture_cli();
    let output = Command::new(&bin)
        .arg("export")
        .arg("--out")
        .arg(&out)
        .args(["--format", "dicom", "--export-date", date, "--secret-file"])
        .arg(&secret)
        .arg("--report")
        .arg(&report)
        .args(inputs)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    assert!(
        output.status.success(),
        "{} export failed ({}):\n{}",
        bin.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read(&out).unwrap_or_else(|e| panic!("CLI wrote no zip at {}: {e}", out.display()))
}

/// Asserts every entry is `DICOM/<date>/<[0-9A-Z]+>/<NNNN>.dcm`; returns (name, bytes) of all
/// entries.
pub fn check_zip_layout(zip_bytes: &[u8], date: &str) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).expect("a valid zip");
    assert!(!archive.is_empty(), "the zip has no entries");
    let mut entries = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).expect("zip entry");
        let name = entry.name().expect("zip entry name is UTF-8").to_string();
        let parts: Vec<&str> = name.split('/').collect();
        let ok = parts.len() == 4
            && parts[0] == "DICOM"
            && parts[1].len() == 8
            && parts[1].bytes().all(|b| b.is_ascii_digit())
            && !parts[2].is_empty()
            && parts[2].bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            && parts[3].len() == 8
            && parts[3].ends_with(".dcm")
            && parts[3][..4].bytes().all(|b| b.is_ascii_digit());
        assert!(ok, "zip entry {name:?} does not match DICOM/YYYYMMDD/<ID>/NNNN.dcm");
        assert_eq!(parts[1], date, "zip entry {name:?} is not dated today ({date})");
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read zip entry");
        entries.push((name, data));
    }
    entries
}

/// Identifying values of a DICOM file: PatientName, PatientID and the instance UIDs
/// (study, series, SOP instance, frame of reference, media storage SOP instance), as (keyword, value).
pub fn identifying_values(path: &Path) -> Vec<(String, String)> {
    use dicom_dictionary_std::tags;
    let obj = dicom_object::open_file(path)
        .unwrap_or_else(|e| panic!("dicom-object cannot read {}: {e}", path.display()));
    let mut out = Vec::new();
    let wanted = [
        ("PatientName", tags::PATIENT_NAME),
        ("PatientID", tags::PATIENT_ID),
        ("StudyInstanceUID", tags::STUDY_INSTANCE_UID),
        ("SeriesInstanceUID", tags::SERIES_INSTANCE_UID),
        ("SOPInstanceUID", tags::SOP_INSTANCE_UID),
        ("FrameOfReferenceUID", tags::FRAME_OF_REFERENCE_UID),
    ];
    for (keyword, tag) in wanted {
        if let Ok(e) = obj.element(tag) {
            if let Ok(v) = e.to_str() {
                let v = v.trim_end_matches(['\0', ' ']).to_string();
                if !v.is_empty() {
                    out.push((keyword.to_string(), v));
                }
            }
        }
    }
    let media = obj.meta().media_storage_sop_instance_uid().trim_end_matches(['\0', ' ']);
    if !media.is_empty() {
        out.push(("MediaStorageSOPInstanceUID".into(), media.to_string()));
    }
    out
}

/// Asserts none of the identifying values of `inputs` occurs in the zip's bytes, nor in any
/// (decompressed) entry, nor in an entry name.
pub fn assert_no_identifiers(zip_bytes: &[u8], entries: &[(String, Vec<u8>)], inputs: &[PathBuf]) {
    let mut leaks = Vec::new();
    for input in inputs.iter().filter(|p| p.extension().is_some_and(|e| e == "dcm")) {
        let values = identifying_values(input);
        assert!(
            values.iter().any(|(k, _)| k == "PatientName") && values.iter().any(|(k, _)| k == "PatientID"),
            "fixture {} lacks PatientName/PatientID: pick another",
            input.display()
        );
        for (keyword, value) in values {
            let needle = value.as_bytes();
            if contains(zip_bytes, needle) {
                leaks.push(format!("{keyword} {value:?} of {} in the zip bytes", input.display()));
            }
            for (name, data) in entries {
                if contains(data, needle) || contains(name.as_bytes(), needle) {
                    leaks.push(format!("{keyword} {value:?} of {} in entry {name}", input.display()));
                }
            }
        }
    }
    assert!(leaks.is_empty(), "identifying values leaked into the export:\n  {}", leaks.join("\n  "));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Asserts two zips are byte-identical, with a helpful message when they are not.
pub fn assert_same_zip(page: &[u8], cli: &[u8], what: &str) {
    if page == cli {
        return;
    }
    let names = |b: &[u8]| -> Vec<String> {
        zip::ZipArchive::new(std::io::Cursor::new(b))
            .map(|a| a.file_names().map(|n| n.map(String::from).unwrap_or_else(|e| format!("<{e}>"))).collect())
            .unwrap_or_else(|e| vec![format!("<not a zip: {e}>")])
    };
    let first_diff = page.iter().zip(cli).position(|(a, b)| a != b);
    panic!(
        "{what}: the page's zip ({} bytes) and the CLI's ({} bytes) differ (first differing byte: \
         {first_diff:?}).\npage entries: {:?}\nCLI entries:  {:?}",
        page.len(),
        cli.len(),
        names(page),
        names(cli)
    );
}
