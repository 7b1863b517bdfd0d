//! Shared set-up for the end-to-end tests: the built page, a browser, downloads, the native CLI,
//! and checks on the exported zip.
//!
//! Environment:
//! - `CAPTURE_DIST`: the built page (default `<workspace>/dist`), must hold index.html;
//! - `CHROMEDRIVER` (default /usr/bin/chromedriver), `CHROME` (default /usr/bin/chromium);
//! - `CAPTURE_BIN`: the native `capture` CLI (default: built into `target/test-cli`);
//! - `CAPTURE_FIXTURES`: cache of pydicom's test files (default `<workspace>/target/fixtures/pydicom`).
#![allow(dead_code)]

use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use webdriver::driver::{chrome_path, chromedriver_path, ChromeDriver, Session};
use capture_tests::fixtures::workspace_root;

#[allow(unused_imports)] // each test binary uses a different part
pub use capture_tests::cli::{self, stage_inputs, PASSPHRASE};
#[allow(unused_imports)]
pub use capture_tests::scan::{assert_no_identifiers, check_dicom_layout as check_zip_layout};

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

/// The page's URL (`Server::url()`) in download-link mode: a save dialog cannot be driven by a test.
pub fn page_url(server_url: &str) -> String {
    format!("{server_url}?save=link")
}

/// Serves the built page, opens it in a new headless Chromium (download-link mode) and waits
/// until the worker is ready; returns the server (keep it alive), the browser and the URL.
pub fn open_page() -> (webdriver::server::Server, Browser, String) {
    let server = webdriver::server::Server::start(&dist_dir(), 0).expect("start the static server");
    let browser = Browser::start();
    let url = page_url(&server.url());
    browser.session.goto(&url).unwrap_or_else(|e| panic!("open {url}: {e}"));
    browser.wait_enabled("#run", Duration::from_secs(60));
    (server, browser, url)
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
        Browser::start_with_args(&[])
    }

    /// A browser with more Chromium switches.
    pub fn start_with_args(extra_args: &[&str]) -> Browser {
        let driver = ChromeDriver::start(&chromedriver_path()).unwrap_or_else(|e| panic!("{e}"));
        let profile = tempfile::tempdir().expect("temp profile dir");
        let downloads = tempfile::tempdir().expect("temp download dir");
        let session = Session::with_args(&driver, &chrome_path(), profile.path(), downloads.path(), extra_args)
            .unwrap_or_else(|e| panic!("cannot start headless Chromium: {e}"));
        Browser { session, driver, downloads, profile }
    }

    /// Chooses exactly these files in `#files` (absolute paths; an earlier choice is replaced)
    /// and checks that the picker took them all.
    pub fn select_files(&self, inputs: &[PathBuf]) {
        let paths: Vec<String> =
            inputs.iter().map(|p| p.canonicalize().expect("absolute path").display().to_string()).collect();
        // chromedriver adds to a multiple file input's list: empty it first.
        self.session.execute("document.getElementById('files').value = '';", vec![]).unwrap();
        self.session.find("#files").unwrap().send_keys(&paths.join("\n")).unwrap();
        let selected = self.session.execute("return document.getElementById('files').files.length;", vec![]).unwrap();
        assert_eq!(selected.as_u64(), Some(inputs.len() as u64), "#files did not take all inputs");
    }

    /// Types the test passphrase into `#secret` and chooses `inputs`: the page is ready to Run.
    pub fn enter(&self, inputs: &[PathBuf]) {
        self.session.find("#secret").unwrap().send_keys(PASSPHRASE).unwrap();
        self.select_files(inputs);
    }

    /// Clicks `#run` and waits for the review (`#confirm` enabled), showing the page's
    /// messages if it does not come.
    pub fn run_to_review(&self, timeout: Duration) {
        self.session.find("#run").unwrap().click().unwrap();
        self.wait_enabled_or_report("#confirm", timeout);
    }

    /// After the review is confirmed: waits for the download link, clicks it and returns the
    /// zip's bytes (earlier downloads are removed first, so that the new one is found).
    pub fn download_zip(&self, timeout: Duration) -> Vec<u8> {
        self.wait_download_link(timeout);
        for entry in std::fs::read_dir(self.downloads.path()).unwrap().flatten() {
            std::fs::remove_file(entry.path()).unwrap();
        }
        self.session.find("#download").unwrap().click().unwrap();
        std::fs::read(self.wait_downloaded_zip(timeout)).unwrap()
    }

    /// Waits until the element is enabled (e.g. `#run` once the worker is ready).
    pub fn wait_enabled(&self, css: &str, timeout: Duration) {
        let s = &self.session;
        s.wait_for(&format!("{css} to be enabled"), timeout, || {
            Ok(s.find(css)?.is_enabled()?.then_some(()))
        })
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// After `#run`: waits for the review (`#confirm` enabled), returns its counts (the data
    /// attributes of `#review-counts`: patients, visits, series, images, tables, skipped,
    /// quarantined), then clicks `#confirm` to write the zip.
    pub fn confirm_review(&self, timeout: Duration) -> Value {
        self.wait_enabled_or_report("#confirm", timeout);
        let counts = self
            .session
            .execute(
                "const d = document.getElementById('review-counts').dataset; const o = {};                  for (const k of Object.keys(d)) o[k] = Number(d[k]); return o;",
                vec![],
            )
            .unwrap();
        self.session.find("#confirm").unwrap().click().unwrap();
        counts
    }

    /// Like `wait_enabled`, but stops as soon as the page shows an error, and shows the page's
    /// status, messages and browser console when it fails.
    pub fn wait_enabled_or_report(&self, css: &str, timeout: Duration) {
        let s = &self.session;
        self.wait_unless_error(&format!("{css} to be enabled"), timeout, || Ok(s.find(css)?.is_enabled()?.then_some(())));
    }

    /// Waits until `#download` has a `blob:` href; returns it. Stops as soon as the page shows an
    /// error (a failed export would otherwise be seen only when the timeout ends).
    pub fn wait_download_link(&self, timeout: Duration) -> String {
        let s = &self.session;
        self.wait_unless_error("#download to get a blob: href", timeout, || {
            let href = s.find("#download")?.property("href")?;
            Ok(href.as_str().filter(|h| h.starts_with("blob:")).map(String::from))
        })
    }

    /// Polls `probe` until it gives a value; panics with the page's state when the page shows an
    /// error message (`.msg-error`) or the timeout ends.
    fn wait_unless_error<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut() -> webdriver::driver::Result<Option<T>>,
    ) -> T {
        let s = &self.session;
        let outcome = s.wait_for(what, timeout, || {
            if let Some(error) = self.page_error()? {
                return Ok(Some(Err(format!("the page shows an error while waiting for {what}: {error}"))));
            }
            Ok(probe()?.map(Ok))
        });
        match outcome {
            Ok(Ok(v)) => v,
            Ok(Err(e)) | Err(e) => panic!("{e}\n{}", self.page_state()),
        }
    }

    /// The text of the page's error messages, if it shows any.
    fn page_error(&self) -> webdriver::driver::Result<Option<String>> {
        let text = self.session.execute(
            "return [...document.querySelectorAll('#messages .msg-error')].map((p) => p.textContent).join('\\n');",
            vec![],
        )?;
        Ok(text.as_str().filter(|t| !t.is_empty()).map(String::from))
    }

    /// What a failed wait shows: status, messages, report, network requests and the console.
    fn page_state(&self) -> String {
        let s = &self.session;
        let text = |css: &str| s.find(css).and_then(|r| r.text()).unwrap_or_default();
        let logs = s.log("browser").unwrap_or_default();
        let requests = s.log("performance").map(|l| network_requests(&l)).unwrap_or_default();
        let requests: Vec<&String> = requests.iter().filter(|r| !r.starts_with("GET chrome://")).collect();
        format!(
            "#status: {}\n#messages: {}\n#report: {}\nnetwork requests: {requests:?}\nbrowser console: {logs:#?}",
            text("#status"),
            text("#messages"),
            text("#report")
        )
    }

    /// Waits for a finished `.zip` in the download folder (no `.crdownload` left, size stable).
    pub fn wait_downloaded_zip(&self, timeout: Duration) -> PathBuf {
        self.wait_downloaded("zip", timeout)
    }

    /// The finished download whose name ends with `.{extension}` (its size stable between two looks).
    pub fn wait_downloaded(&self, extension: &str, timeout: Duration) -> PathBuf {
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
            let zip = entries.iter().find(|p| p.extension().is_some_and(|e| e == extension));
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
                "no finished .{extension} download in {} after {timeout:?}; folder holds {entries:?}",
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

/// Runs `capture export` on `inputs` with the test passphrase; returns the zip's bytes.
pub fn run_cli(inputs: &[PathBuf], date: &str) -> Vec<u8> {
    cli::export(inputs, date, &["--format", "dicom"]).zip
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

/// Writes `src` to `dst` as a distinct instance number `n`: the last component of its SOP
/// Instance UID (in the file meta and the data set) becomes `9` followed by `n`, same length,
/// so that copies are not dropped as duplicates of one another. Panics if the UID's last
/// component is too short for `n`.
pub fn distinct_copy(src: &std::path::Path, dst: &std::path::Path, n: usize) {
    let object = dicom_object::open_file(src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let uid = capture_tests::scan::element_text(&object, dicom_dictionary_std::tags::SOP_INSTANCE_UID)
        .unwrap_or_else(|| panic!("{} has no SOP Instance UID", src.display()));
    let (stem, last) = uid.rsplit_once('.').expect("a UID has components");
    let digits = last.len() - 1;
    assert!(digits >= 1 && n < 10usize.pow(digits as u32), "UID {uid}: too short for copy {n}");
    let new = format!("{stem}.9{n:0digits$}");
    assert_eq!(new.len(), uid.len());
    let mut bytes = std::fs::read(src).unwrap();
    let (old, new) = (uid.as_bytes(), new.as_bytes());
    let mut i = 0;
    let mut replaced = 0;
    while i + old.len() <= bytes.len() {
        if &bytes[i..i + old.len()] == old {
            bytes[i..i + old.len()].copy_from_slice(new);
            replaced += 1;
            i += old.len();
        } else {
            i += 1;
        }
    }
    assert!(replaced >= 1, "UID {uid} not found in the bytes of {}", src.display());
    std::fs::write(dst, bytes).unwrap();
}
